//! A running `idsync run` with the admin API on a loopback port, and a small JSON client for
//! it. The daemon is killed when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{free_port, Daemon};

pub const TOKEN: &str = "admin-test-token-0123456789";

/// An environment variable the daemon has, for connector secrets given by reference.
pub const SECRET_ENV: (&str, &str) = ("IDSYNC_TEST_ADMIN_SECRET", "ref-secret-value-42");

pub struct AdminDaemon {
    pub daemon: Daemon,
    pub base: String,
    pub scim: String,
    pub config: PathBuf,
    pub log: PathBuf,
    client: reqwest::Client,
}

/// The `[admin]` and `[scim]` sections for the ports given.
pub fn sections(admin: u16, scim: u16, extra: &str) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = {TOKEN:?}\nmax_body_bytes = 4096\n{extra}\n\n\
         [scim]\nlisten = \"127.0.0.1:{scim}\"\n"
    )
}

/// The `idsync` binary to start: `IDSYNC_TEST_BINARY` when set (to run these tests against a
/// release build), else the one cargo built for the tests.
fn binary() -> std::ffi::OsString {
    std::env::var_os("IDSYNC_TEST_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_idsync").into())
}

impl AdminDaemon {
    /// Starts `idsync run` on `config`, whose admin API listens on `admin` and SCIM on `scim`;
    /// waits until the API answers.
    pub async fn start(config: &Path, admin: u16, scim: u16) -> AdminDaemon {
        Self::start_logged(config, admin, scim, "info").await
    }

    /// As [`AdminDaemon::start`], logging at `level` (`RUST_LOG`).
    pub async fn start_logged(config: &Path, admin: u16, scim: u16, level: &str) -> AdminDaemon {
        let log = config.with_file_name("daemon.log");
        let daemon = Daemon(
            Command::new(binary())
                .arg("--config")
                .arg(config)
                .arg("run")
                .env("RUST_LOG", level)
                .env(SECRET_ENV.0, SECRET_ENV.1)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let this = AdminDaemon {
            daemon,
            base: format!("http://127.0.0.1:{admin}/admin/v1"),
            scim: format!("http://127.0.0.1:{scim}/scim/v2"),
            config: config.to_owned(),
            log,
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while this
            .client
            .get(format!("{}/openapi.json", this.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the admin API did not come up: {}",
                this.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        this
    }

    pub fn ports() -> (u16, u16) {
        (free_port(), free_port())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A request with the admin token; the answer's status and JSON body (Null when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        self.call_as(Some(TOKEN), method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Polls `GET path` until `done` holds for its answer (at most 30 s).
    pub async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(path).await;
            if status == StatusCode::OK && done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until a SCIM request with `token` answers `expected` (a rotation takes effect
    /// within the endpoint's one-second token cache).
    pub async fn wait_scim(&self, token: &str, expected: StatusCode) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = self.scim_status(token, "/Users").await;
            if status == expected {
                return;
            }
            assert!(Instant::now() < deadline, "SCIM answers {status}, not {expected}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A SCIM request with `token`: its status.
    pub async fn scim_status(&self, token: &str, path: &str) -> StatusCode {
        self.client
            .get(format!("{}{path}", self.scim))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }
}
