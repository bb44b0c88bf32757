//! Configuration pieces the pull connectors share: per-field mapping overrides over a
//! connector's default mapping, the "key: problem" error, and the upstream URL check.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::mapping::{Expression, Mapping};

/// One target field's mapping: an expression, or `{ expression = "...", only_on_create = true }`
/// (the expression may be left out to keep the default one).
#[derive(Debug, Clone, Default)]
pub struct MappingRule {
    pub expression: Option<Expression>,
    /// Entra's "apply this mapping only during object creation": later runs leave the field
    /// alone, so the application may change it.
    pub only_on_create: bool,
}

impl<'de> Deserialize<'de> for MappingRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Table(RawTable),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawTable {
            expression: Option<String>,
            #[serde(default)]
            only_on_create: bool,
        }
        // The text is parsed here rather than by the untagged enum, so a syntax error keeps
        // its message and position instead of becoming "did not match any variant".
        let (text, only_on_create) = match Raw::deserialize(deserializer).map_err(|_| {
            de::Error::custom(
                "expected an expression string or { expression = \"...\", only_on_create = true }",
            )
        })? {
            Raw::Text(text) => (Some(text), false),
            Raw::Table(t) => (t.expression, t.only_on_create),
        };
        let expression = text
            .map(|t| Expression::parse(&t).map_err(|e| de::Error::custom(format!("expression {t:?}: {e}"))))
            .transpose()?;
        Ok(MappingRule {
            expression,
            only_on_create,
        })
    }
}

/// `mapping.<field>` for each field of a user record, and `mapping."urn:...:User:location"`
/// for an extension attribute by its full SCIM path: the value lands in the record's
/// attributes under the names a SCIM client's push uses, so pulled and pushed users carry
/// the same names in the same column.
#[derive(Debug, Clone, Default)]
pub struct MappingOverrides {
    pub upn: Option<MappingRule>,
    pub email: Option<MappingRule>,
    pub display_name: Option<MappingRule>,
    pub given_name: Option<MappingRule>,
    pub family_name: Option<MappingRule>,
    pub job_title: Option<MappingRule>,
    pub department: Option<MappingRule>,
    pub preferred_language: Option<MappingRule>,
    /// Extension attributes by full path, in the configuration's order.
    pub extensions: Vec<(String, MappingRule)>,
}

/// The record fields a mapping may target by name.
const FIELDS: [&str; 8] = [
    "upn",
    "email",
    "display_name",
    "given_name",
    "family_name",
    "job_title",
    "department",
    "preferred_language",
];

impl<'de> Deserialize<'de> for MappingOverrides {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let rules = std::collections::BTreeMap::<String, MappingRule>::deserialize(deserializer)?;
        let mut out = MappingOverrides::default();
        for (target, rule) in rules {
            let slot = match target.as_str() {
                "upn" => &mut out.upn,
                "email" => &mut out.email,
                "display_name" => &mut out.display_name,
                "given_name" => &mut out.given_name,
                "family_name" => &mut out.family_name,
                "job_title" => &mut out.job_title,
                "department" => &mut out.department,
                "preferred_language" => &mut out.preferred_language,
                path if crate::record::split_extension_path(path).is_some() => {
                    if rule.expression.is_none() {
                        return Err(de::Error::custom(format!(
                            "{path}: an extension attribute needs an expression"
                        )));
                    }
                    if rule.only_on_create {
                        return Err(de::Error::custom(format!(
                            "{path}: only_on_create is not supported for extension attributes"
                        )));
                    }
                    out.extensions.push((target, rule));
                    continue;
                }
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown field `{other}`, expected one of {}, or an extension attribute's full path \
                         (urn:...:User:name)",
                        FIELDS.map(|f| format!("`{f}`")).join(", ")
                    )))
                }
            };
            *slot = Some(rule);
        }
        Ok(out)
    }
}

impl MappingOverrides {
    fn rule(&self, target: &str) -> Option<&MappingRule> {
        match target {
            "upn" => self.upn.as_ref(),
            "email" => self.email.as_ref(),
            "display_name" => self.display_name.as_ref(),
            "given_name" => self.given_name.as_ref(),
            "family_name" => self.family_name.as_ref(),
            "job_title" => self.job_title.as_ref(),
            "department" => self.department.as_ref(),
            "preferred_language" => self.preferred_language.as_ref(),
            _ => None,
        }
    }

    /// The mapping in effect: a connector's `defaults` (target, expression) with the
    /// overrides applied.
    pub fn mapping(&self, defaults: &[(&str, &str)]) -> Result<Mapping, ConfigProblem> {
        let mut rows: Vec<(&str, String, bool)> = defaults
            .iter()
            .map(|(target, default)| {
                let rule = self.rule(target);
                let text = rule
                    .and_then(|r| r.expression.as_ref())
                    .map_or_else(|| (*default).to_owned(), |e| e.source().to_owned());
                (*target, text, rule.is_some_and(|r| r.only_on_create))
            })
            .collect();
        rows.extend(self.extensions.iter().filter_map(|(path, rule)| {
            let text = rule.expression.as_ref()?.source().to_owned();
            Some((path.as_str(), text, false))
        }));
        Mapping::new(rows).map_err(|e| problem("mapping", e.to_string()))
    }

    /// Target fields (among `defaults`) the planner must not update on existing users.
    pub fn create_only_fields(&self, defaults: &[(&'static str, &str)]) -> Vec<&'static str> {
        defaults
            .iter()
            .filter(|(target, _)| self.rule(target).is_some_and(|r| r.only_on_create))
            .map(|(target, _)| *target)
            .collect()
    }
}

/// Why a configuration is refused: the key and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A [`ConfigProblem`] for `key`.
pub fn problem(key: &str, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// An upstream base URL: https, or plain http to a loopback address (tests and local fakes);
/// no query or fragment.
pub fn check_url(key: &str, text: &str) -> Result<(), ConfigProblem> {
    let url = url::Url::parse(text).map_err(|e| problem(key, format!("{text:?} is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(problem(key, "must not have a query or fragment"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(problem(
            key,
            "plain http is only allowed to a loopback address; use https",
        )),
        other => Err(problem(key, format!("unsupported scheme {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(text: &str) -> Result<MappingOverrides, String> {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        MappingOverrides::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn extension_paths_are_targets_and_other_unknown_names_are_refused() {
        let o = overrides(r#"{"email": "[upn]", "urn:x:ext:2.0:User:location": {"expression": "[city]"}}"#)
            .unwrap();
        assert!(o.email.is_some());
        let mapping = o.mapping(&[("upn", "[userPrincipalName]")]).unwrap();
        assert!(mapping.get("urn:x:ext:2.0:User:location").is_some());
        assert!(mapping.attributes().contains("city"));
        let e = overrides(r#"{"emial": "[upn]"}"#).unwrap_err();
        assert!(
            e.starts_with("unknown field `emial`, expected one of `upn`"),
            "{e}"
        );
        let e =
            overrides(r#"{"urn:x:ext:2.0:User:location": {"expression": "[city]", "only_on_create": true}}"#)
                .unwrap_err();
        assert!(e.contains("only_on_create is not supported"), "{e}");
    }
}
