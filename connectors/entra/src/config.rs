//! Keys of a `kind = "entra"` connector, checked while the configuration loads.

use std::path::{Path, PathBuf};

use idsync_source::config::{check_url, problem};
pub use idsync_source::config::{ConfigProblem, MappingOverrides, MappingRule};
use idsync_source::mapping::{Mapping, Scope};
use idsync_source::retry::RetryPolicy;
use idsync_source::{NestedGroups, Secret};
use serde::Deserialize;

use crate::credential::Credential;

pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// Keys of a `kind = "entra"` connector.
///
/// ```toml
/// [[connectors]]
/// name = "entra"
/// kind = "entra"
/// tenant_id = "contoso.onmicrosoft.com"
/// client_id = "00000000-0000-0000-0000-000000000000"
/// client_secret = { env = "ENTRA_CLIENT_SECRET" }
/// groups = ["App users"]
/// mapping.email = { expression = "Coalesce([mail], [userPrincipalName])", only_on_create = true }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// The directory: its GUID or a verified domain such as `contoso.onmicrosoft.com`.
    pub tenant_id: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// The client secret. Give this, or `certificate_path` (and `private_key_path`).
    pub client_secret: Option<Secret>,
    /// A PEM file with the certificate registered on the app; it may also hold the key.
    pub certificate_path: Option<PathBuf>,
    /// A PEM file with the certificate's RSA private key (PKCS#8 or PKCS#1, unencrypted);
    /// defaults to `certificate_path`.
    pub private_key_path: Option<PathBuf>,
    /// Where tokens come from (`https://login.microsoftonline.us` for US Government,
    /// `https://login.chinacloudapi.cn` for 21Vianet). Plain http is allowed on loopback only.
    #[serde(default = "default_authority_url")]
    pub authority_url: String,
    /// The Graph root including the version (`https://graph.microsoft.us/v1.0`, ...).
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// `flatten` (default): each group gets the transitive set of its user members;
    /// `direct`: only the users directly in it, as Entra's own provisioning does.
    #[serde(default)]
    pub nested_groups: NestedGroups,
    /// Only members of these groups (ids or display names) are synced, and only these groups;
    /// empty means every user and every group.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Entra-style scoping filters on user attributes: clauses AND-ed, filters OR-ed.
    #[serde(default)]
    pub scoping_filters: Scope,
    /// Overrides of the attribute mapping, per target field.
    #[serde(default)]
    pub mapping: MappingOverrides,
    /// Requests in flight at once (1, the default, is what Graph's guidance asks of a daemon).
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Retries of throttled (429) and unavailable (503, 504) requests.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Time limit of one HTTP request, in seconds.
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn default_authority_url() -> String {
    DEFAULT_AUTHORITY_URL.to_owned()
}

fn default_graph_url() -> String {
    DEFAULT_GRAPH_URL.to_owned()
}

fn default_concurrency() -> usize {
    1
}

fn default_timeout() -> u64 {
    120
}

/// The default mapping, in the syntax of Entra's attribute mappings.
pub const DEFAULT_MAPPING: [(&str, &str); 8] = [
    ("upn", "[userPrincipalName]"),
    ("email", "[mail]"),
    (
        "display_name",
        r#"Coalesce([displayName], Join(" ", [givenName], [surname]))"#,
    ),
    ("given_name", "[givenName]"),
    ("family_name", "[surname]"),
    ("job_title", "[jobTitle]"),
    ("department", "[department]"),
    ("preferred_language", "[preferredLanguage]"),
];

impl EntraConfig {
    /// The mapping in effect: the defaults with the overrides applied.
    pub fn mapping(&self) -> Result<Mapping, ConfigProblem> {
        self.mapping.mapping(&DEFAULT_MAPPING)
    }

    /// Target fields the planner must not update on existing users.
    pub fn create_only_fields(&self) -> Vec<&'static str> {
        self.mapping.create_only_fields(&DEFAULT_MAPPING)
    }
    /// The secret, or the certificate and key read from their PEM files.
    pub(crate) fn credential(&self) -> Result<Credential, String> {
        if let Some(secret) = &self.client_secret {
            return Ok(Credential::Secret(secret.clone()));
        }
        let Some(cert_path) = &self.certificate_path else {
            return Err("no client_secret and no certificate_path".into());
        };
        Credential::from_pem_files(cert_path, self.private_key_path.as_ref().unwrap_or(cert_path))
    }

    /// Checks what serde cannot, resolves relative paths against `base` (the configuration
    /// file's folder), and loads the certificate once so that a bad file is reported at
    /// start-up.
    pub fn check(&mut self, base: &Path) -> Result<(), ConfigProblem> {
        for (key, value) in [("tenant_id", &self.tenant_id), ("client_id", &self.client_id)] {
            if value.trim().is_empty() || value.contains(['/', '?', '#', ' ']) {
                return Err(problem(
                    key,
                    format!("{value:?} is not a tenant or application id"),
                ));
            }
        }
        check_url("authority_url", &self.authority_url)?;
        check_url("graph_url", &self.graph_url)?;
        for path in [&mut self.certificate_path, &mut self.private_key_path]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        match (
            &self.client_secret,
            &self.certificate_path,
            &self.private_key_path,
        ) {
            (Some(_), None, None) => {}
            (None, Some(_), _) => {
                self.credential().map_err(|e| problem("certificate_path", e))?;
            }
            (Some(_), _, _) => {
                return Err(problem(
                    "client_secret",
                    "give client_secret or certificate_path, not both",
                ))
            }
            (None, None, Some(_)) => {
                return Err(problem(
                    "certificate_path",
                    "private_key_path needs certificate_path",
                ))
            }
            (None, None, None) => {
                return Err(problem(
                    "client_secret",
                    "give client_secret, or certificate_path (and private_key_path)",
                ))
            }
        }
        if self.max_concurrency == 0 {
            return Err(problem("max_concurrency", "must be at least 1"));
        }
        if self.request_timeout_secs == 0 {
            return Err(problem("request_timeout_secs", "must be at least 1"));
        }
        self.retry.validate().map_err(|m| problem("retry", m))?;
        if self.groups.iter().any(|g| g.trim().is_empty()) {
            return Err(problem("groups", "a group id or display name is empty"));
        }
        self.mapping()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EntraConfig, String> {
        idsync_source::test_support::parse_toml(text)
    }

    const BASE: &str = r#"
        tenant_id = "contoso.onmicrosoft.com"
        client_id = "11111111-2222-3333-4444-555555555555"
        client_secret = "s3cret"
    "#;

    #[test]
    fn defaults_and_overrides() {
        let mut config = parse(&format!(
            "{BASE}\nmapping.email = {{ expression = \"Coalesce([mail], [userPrincipalName])\", \
             only_on_create = true }}\nmapping.department = \"[companyName]\""
        ))
        .unwrap();
        config.check(Path::new("/")).unwrap();
        assert_eq!(config.graph_url, DEFAULT_GRAPH_URL);
        assert_eq!(config.nested_groups, NestedGroups::Flatten);
        assert_eq!(config.max_concurrency, 1);
        let mapping = config.mapping().unwrap();
        assert_eq!(
            mapping.get("email").unwrap().expression.source(),
            "Coalesce([mail], [userPrincipalName])"
        );
        assert!(mapping.get("email").unwrap().only_on_create);
        assert_eq!(
            mapping.get("department").unwrap().expression.source(),
            "[companyName]"
        );
        assert_eq!(config.create_only_fields(), vec!["email"]);
        let attributes: Vec<String> = mapping.attributes().into_iter().collect();
        assert_eq!(
            attributes,
            [
                "companyName",
                "displayName",
                "givenName",
                "jobTitle",
                "mail",
                "preferredLanguage",
                "surname",
                "userPrincipalName"
            ]
        );
    }

    #[test]
    fn bad_expressions_name_the_key_and_position() {
        let err = parse(&format!("{BASE}\nmapping.email = \"Coalesce([mail], \"")).unwrap_err();
        assert!(err.starts_with("mapping.email: expression"), "{err}");
        assert!(err.contains("at position"), "{err}");
        let err = parse(&format!("{BASE}\nmapping.mail = \"[mail]\"")).unwrap_err();
        assert!(err.contains("unknown field `mail`"), "{err}");
    }

    #[test]
    fn credentials_and_urls_are_checked() {
        let mut config = parse(&format!("{BASE}\ncertificate_path = \"cert.pem\"")).unwrap();
        assert_eq!(config.check(Path::new("/")).unwrap_err().key, "client_secret");
        let mut config = parse(&format!("{BASE}\ngraph_url = \"http://graph.example/v1.0\"")).unwrap();
        let err = config.check(Path::new("/")).unwrap_err();
        assert_eq!(err.key, "graph_url");
        let mut config = parse(&format!("{BASE}\ngraph_url = \"http://127.0.0.1:9/v1.0\"")).unwrap();
        config.check(Path::new("/")).unwrap();
        let mut config = parse(&format!("{BASE}\nmax_concurrency = 0")).unwrap();
        assert_eq!(config.check(Path::new("/")).unwrap_err().key, "max_concurrency");
        let err = parse(&format!("{BASE}\nsurprise = 1")).unwrap_err();
        assert!(err.contains("unknown field `surprise`"), "{err}");
    }
}
