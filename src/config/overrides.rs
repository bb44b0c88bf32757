//! Environment overrides: `IDSYNC__DATABASE__URL=...` replaces `[database] url`, and
//! `IDSYNC__CONNECTORS__<NAME>__<KEY>=...` a key of the connector with that name (compared
//! case-insensitively, `-` written as `_`). Values are read as TOML when they parse as a
//! value (`500`, `true`, `"x"`), as plain strings otherwise.

use thiserror::Error;

const PREFIX: &str = "IDSYNC__";

/// An `IDSYNC__...` variable that names nothing in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct OverrideError(String);

pub fn apply(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), OverrideError> {
    let mut vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with(PREFIX)).collect();
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let value = parse_value(&raw);
        match path.as_slice() {
            [connectors, connector, key] if connectors == "connectors" => {
                let entries = table
                    .get_mut("connectors")
                    .and_then(toml::Value::as_array_mut)
                    .ok_or_else(|| {
                        OverrideError(format!("{name}: the configuration has no [[connectors]]"))
                    })?;
                let entry = entries
                    .iter_mut()
                    .filter_map(toml::Value::as_table_mut)
                    .find(|t| {
                        t.get("name")
                            .and_then(toml::Value::as_str)
                            .is_some_and(|n| n.to_ascii_lowercase().replace('-', "_") == *connector)
                    })
                    .ok_or_else(|| OverrideError(format!("{name}: no connector is named {connector}")))?;
                entry.insert(key.clone(), value);
            }
            [section, key] => {
                let section = table
                    .entry(section.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| OverrideError(format!("{name}: {section} is not a section")))?;
                section.insert(key.clone(), value);
            }
            _ => {
                return Err(OverrideError(format!(
                    "{name}: expected IDSYNC__SECTION__KEY or IDSYNC__CONNECTORS__NAME__KEY"
                )))
            }
        }
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}
