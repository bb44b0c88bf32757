//! A running SCIM endpoint on 127.0.0.1:0 over a fresh database, with a token, for the
//! `tests/scim_*.rs` tests.

use std::net::SocketAddr;

use idsync::config::{ScimConfig, ScimDelete};
use idsync::scim::{self, ScimState};
use idsync::store::{self, DatabaseUrl};

use super::tables::Tables;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    pub url: DatabaseUrl,
    pub token: String,
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    _stop: oneshot::Sender<()>,
}

pub fn config(delete: ScimDelete) -> ScimConfig {
    ScimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_body_bytes: 64 * 1024,
        delete,
        max_results: 1000,
        pool_size: 4,
        concurrent_writes: 2,
        delete_archived_after_days: None,
        public_url: None,
        trusted_proxies: Vec::new(),
        max_connections: 64,
        header_timeout_secs: 10,
        idle_timeout_secs: 60,
        body_timeout_secs: 30,
        allow_access_token_query: false,
        tls_cert_path: None,
        tls_key_path: None,
        extensions: Vec::new(),
    }
}

impl Server {
    /// A server over a new SQLite file.
    pub async fn sqlite() -> Server {
        Self::sqlite_with(ScimDelete::Archive).await
    }

    pub async fn sqlite_with(delete: ScimDelete) -> Server {
        Self::sqlite_config(config(delete)).await
    }

    /// A server over a new SQLite file with `config`.
    pub async fn sqlite_config(config: ScimConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("idsync.db"));
        Self::start(url, Some(dir), config).await
    }

    pub async fn start(url: DatabaseUrl, dir: Option<tempfile::TempDir>, config: ScimConfig) -> Server {
        let token = scim::tokens::new_secret();
        let digest = scim::tokens::digest(&token);
        let setup = store::Store::open(&url);
        setup.migrate().await.unwrap();
        setup.replace_scim_token(&digest, store::now()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let options = store::StoreOptions {
            pool_size: u32::try_from(config.pool_size).unwrap(),
            manual_checkpoints: true,
        };
        let state = ScimState::new(store::Store::with_options(&url, options), &config);
        let (tx, rx) = oneshot::channel::<()>();
        let limits = config.listener_limits();
        tokio::spawn(scim::serve(
            listener,
            (state, None),
            axum::Router::new(),
            limits,
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            base: format!("http://{addr}/scim/v2"),
            url,
            token,
            client: reqwest::Client::new(),
            _dir: dir,
            _stop: tx,
        }
    }

    /// A request with the token and, when there is a body, `application/scim+json`.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// The application's store over the same database, for what its API can say.
    pub fn store(&self) -> store::Store {
        store::Store::open(&self.url)
    }

    /// Runs SQL on the database (for setting up local users and reading the tables).
    pub async fn db<T: Send + 'static>(&self, f: impl FnOnce(&mut Tables) -> T + Send + 'static) -> T {
        let u = self.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut tables = Tables::connect(&u);
            f(&mut tables)
        })
        .await
        .unwrap()
    }
}

/// A filter as a query string.
pub fn filter(f: &str) -> String {
    format!(
        "filter={}",
        url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
    )
}
