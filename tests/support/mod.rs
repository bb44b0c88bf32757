//! Shared helpers for the integration tests: databases to run against, and export files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod binary;
pub mod postgres;
pub mod receiver;
pub mod scim;
pub mod smtp;
pub mod tables;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// Runs `idsync --config <config> <args>`, its log at warnings only.
pub fn idsync(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// A command's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A user of a generated export: `(id, upn, email, enabled)`.
pub fn export_user(id: &str, upn: &str, email: Option<&str>, enabled: bool) -> Value {
    let mut user = json!({ "id": id, "upn": upn, "display_name": format!("User {id}"), "enabled": enabled });
    if let Some(email) = email {
        user["email"] = json!(email);
    }
    user
}

pub fn write_export(path: &Path, users: &[Value], groups: &[Value]) {
    std::fs::write(
        path,
        serde_json::to_vec_pretty(&json!({ "users": users, "groups": groups })).unwrap(),
    )
    .unwrap();
}

/// A configuration with one `file` connector named `hr` reading `export`.
pub fn file_config(dir: &Path, database_url: &str, export: &Path, extra: &str) -> PathBuf {
    let path = dir.join("idsync.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = {database_url:?}\n\n\
             [[connectors]]\nname = \"hr\"\nkind = \"file\"\npath = {:?}\n{extra}\n",
            export.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// A configuration that serves SCIM only (no connectors) on 127.0.0.1:`port`, with its
/// SQLite file at `db`.
pub fn scim_only_config(dir: &Path, db: &Path, port: u16) -> PathBuf {
    let config = dir.join("idsync.toml");
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[scim]\nlisten = \"127.0.0.1:{port}\"\n",
        db.display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// `idsync scim-token create`: the new token (the last line it prints).
pub fn create_scim_token(config: &Path) -> String {
    let out = idsync(config, &["scim-token", "create"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().last().unwrap_or_default().to_owned()
}

/// `idsync run` on `config` with its output discarded.
pub fn spawn_run(config: &Path) -> Daemon {
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A daemon process that is killed when the test ends, passed or failed, so a failing test
/// never leaves an `idsync run` behind.
pub struct Daemon(pub std::process::Child);

impl std::ops::Deref for Daemon {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
