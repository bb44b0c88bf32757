//! Whether the configured SQLite database can be written where it is: checked by
//! `config check` and by `run` at start-up, before anything opens (and so creates) it.

use std::path::Path;

use super::{Config, ConfigError};
use crate::store::DatabaseUrl;

/// Refuses a SQLite file whose directory is missing or not writable, or a read-only file.
/// PostgreSQL and in-memory databases pass (the connection itself tells about those).
pub fn check_writable(config: &Config) -> Result<(), ConfigError> {
    let DatabaseUrl::Sqlite(path) = &config.database else {
        return Ok(());
    };
    sqlite_problem(path).map_or(Ok(()), |problem| {
        Err(ConfigError::Invalid {
            path: config.path.display().to_string(),
            message: format!("database.url: {}: {problem}", config.database.redacted()),
        })
    })
}

fn sqlite_problem(file: &Path) -> Option<String> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Some(format!("the directory {} does not exist", dir.display()));
    }
    // SQLite writes its journal (-wal, -shm) beside the file, so the directory must be writable
    // even when the file exists.
    if let Some(why) = dir_not_writable(dir) {
        return Some(format!("the directory {} is not writable ({why})", dir.display()));
    }
    let Ok(meta) = std::fs::metadata(file) else {
        return None;
    };
    if meta.permissions().readonly() {
        return Some(format!("the database file {} is read-only", file.display()));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .err()
        .map(|e| {
            format!(
                "the database file {} cannot be opened for writing: {e}",
                file.display()
            )
        })
}

/// Why files cannot be created in `dir`, if they cannot.
fn dir_not_writable(dir: &Path) -> Option<String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.permissions().readonly() => return Some("read-only".to_owned()),
        Ok(_) => {}
        Err(e) => return Some(e.to_string()),
    }
    // The permission bits may still refuse this user: try, and leave nothing behind.
    let probe = dir.join(format!(".idsync-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(e.to_string()),
    }
}
