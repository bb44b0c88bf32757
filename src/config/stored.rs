//! Connector settings given as JSON (the admin API's `PUT .../connectors/{name}` body, and
//! what the store keeps): converted to TOML and read by the very parser of a `[[connectors]]`
//! entry, so a stored connector is validated exactly like one in the file.

use std::path::Path;

use serde_json::Value as Json;

use super::{connector, Config, ConfigError, ConnectorConfig};
use crate::tenant::TenantId;

/// What a secret is shown as when settings are rendered.
pub const REDACTED: &str = "***";

/// Keys of the settings that name the connector; they come from the request's path.
const FROM_THE_PATH: [&str; 2] = ["name", "tenant"];

/// The keys of each kind whose value is a secret (inline, `{ env }` or `{ file }`).
pub fn secret_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "entra" => &["client_secret"],
        "okta" => &["api_token"],
        "google" => &["service_account_key"],
        _ => &[],
    }
}

/// The `kind` a settings object names, if it names one.
pub fn settings_kind(settings: &Json) -> Option<&str> {
    settings.get("kind").and_then(Json::as_str)
}

impl Config {
    /// Reads `tenant`'s connector `name` from its settings (the keys of a `[[connectors]]`
    /// entry without `name` and `tenant`) as the file's parser does: relative paths are taken
    /// from the configuration file's folder, unknown keys and bad values are errors naming
    /// their key.
    pub fn connector_from_json(
        &self,
        tenant: &TenantId,
        name: &str,
        settings: &Json,
    ) -> Result<ConnectorConfig, ConfigError> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        connector_from_json(base, tenant, name, settings)
    }
}

/// [`Config::connector_from_json`] with the folder relative paths are resolved against.
pub fn connector_from_json(
    base: &Path,
    tenant: &TenantId,
    name: &str,
    settings: &Json,
) -> Result<ConnectorConfig, ConfigError> {
    let invalid = |key: String, message: String| ConfigError::Settings { key, message };
    let Json::Object(object) = settings else {
        return Err(invalid(
            String::new(),
            "the settings must be a JSON object".into(),
        ));
    };
    let mut table = toml::Table::new();
    for (key, value) in object {
        if FROM_THE_PATH.contains(&key.as_str()) {
            return Err(invalid(
                key.clone(),
                "is given by the path of the request, not in the settings".into(),
            ));
        }
        table.insert(
            key.clone(),
            to_toml(value).map_err(|(at, m)| invalid(join(key, &at), m))?,
        );
    }
    table.insert("name".into(), toml::Value::String(name.to_owned()));
    table.insert("tenant".into(), toml::Value::String(tenant.to_string()));
    connector(table, base).map_err(|(key, message)| invalid(key, message))
}

/// `settings` with every secret shown as [`REDACTED`] (references included: where a secret
/// lives is the operator's business, not the API's).
pub fn redacted(settings: &Json) -> Json {
    let mut shown = settings.clone();
    let keys = settings_kind(settings).map(secret_keys).unwrap_or_default();
    if let Json::Object(object) = &mut shown {
        for key in keys {
            if let Some(value) = object.get_mut(*key) {
                *value = Json::String(REDACTED.into());
            }
        }
    }
    shown
}

fn join(key: &str, rest: &str) -> String {
    if rest.is_empty() {
        key.to_owned()
    } else if rest.starts_with('[') {
        format!("{key}{rest}")
    } else {
        format!("{key}.{rest}")
    }
}

/// JSON to TOML: the same shapes, except that TOML has no null (an error naming where).
fn to_toml(value: &Json) -> Result<toml::Value, (String, String)> {
    Ok(match value {
        Json::Null => {
            return Err((
                String::new(),
                "null is not a value here; leave the key out".into(),
            ))
        }
        Json::Bool(b) => toml::Value::Boolean(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => toml::Value::Integer(i),
            (None, Some(f)) if n.is_f64() => toml::Value::Float(f),
            _ => return Err((String::new(), format!("{n} is out of range"))),
        },
        Json::String(s) => toml::Value::String(s.clone()),
        Json::Array(items) => toml::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| to_toml(v).map_err(|(at, m)| (join(&format!("[{i}]"), &at), m)))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(object) => toml::Value::Table(
            object
                .iter()
                .map(|(k, v)| Ok((k.clone(), to_toml(v).map_err(|(at, m)| (join(k, &at), m))?)))
                .collect::<Result<_, (String, String)>>()?,
        ),
    })
}

#[cfg(test)]
mod tests;
