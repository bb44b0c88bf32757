//! Connectors stored in the database through the registry, on a real SQLite file and a real
//! PostgreSQL server: validated like the file, inline secrets encrypted (the plain secret in
//! no table), read back with secrets hidden, key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use base64::Engine;
use idsync::config::{Config, ConfigError, ConnectorKind};
use idsync::registry::{ConnectorRegistry, Put, RegistryError};
use idsync::secrets::{Keyring, SecretsKey};
use idsync::store::webhooks::WebhookSpec;
use idsync::store::Store;
use idsync::tenant::TenantId;
use idsync_source::Secret;
use serde_json::{json, Value};
use support::postgres::TestDatabase;
use support::tables::Tables;

const SECRET: &str = "entra-client-secret-5f1c9a";

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

struct Harness {
    dir: tempfile::TempDir,
    url: String,
    config_text: String,
}

impl Harness {
    fn new(url: Option<String>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("idsync.db").display()));
        let config_text = format!(
            "[database]\nurl = {url:?}\n\n[[connectors]]\nname = \"hr\"\nkind = \"file\"\npath = \"export.json\"\n"
        );
        Harness {
            dir,
            url,
            config_text,
        }
    }

    /// A registry whose `[admin]` section is `admin`.
    async fn registry(&self, admin: &str) -> ConnectorRegistry {
        self.registry_for(&self.config_text, admin).await
    }

    /// A registry of the configuration `config_text` with `admin` as its `[admin]` section.
    async fn registry_for(&self, config_text: &str, admin: &str) -> ConnectorRegistry {
        let text = format!("{config_text}\n[admin]\n{admin}\n");
        let config =
            Config::parse(&text, std::path::Path::new("/etc/idsync/idsync.toml"), Vec::new()).unwrap();
        let store = Store::open(&config.database);
        store.migrate().await.unwrap();
        store
            .ensure_tenant(&tenant("acme"), "Acme", idsync::store::now())
            .await
            .unwrap();
        ConnectorRegistry::new(store, Arc::new(config)).unwrap()
    }

    /// Runs `idsync <args>` with `admin` as its `[admin]` section.
    fn cli(&self, admin: &str, args: &[&str]) -> std::process::Output {
        let path = self.dir.path().join("idsync.toml");
        std::fs::write(&path, format!("{}\n[admin]\n{admin}\n", self.config_text)).unwrap();
        support::idsync(&path, args)
    }

    fn tables(&self) -> Tables {
        Tables::open(&self.url)
    }
}

fn entra(secret: Value) -> Value {
    json!({"kind": "entra", "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "00000000-0000-0000-0000-000000000000", "client_secret": secret,
        "interval": "1h"})
}

async fn scenario(h: Harness) {
    // References are resolved when validated, as in the file (both tests set the same values).
    std::env::set_var("OKTA_TOKEN", "okta-token-value");
    std::env::set_var("ENTRA_SECRET", "entra-secret-from-env");
    let registry = h.registry(&format!("secrets_key = {:?}", key(1))).await;
    assert_eq!(
        registry
            .put(&tenant("default"), "entra", entra(json!(SECRET)))
            .await
            .unwrap(),
        Put::Created
    );
    assert_eq!(
        registry
            .put(&tenant("default"), "entra", entra(json!(SECRET)))
            .await
            .unwrap(),
        Put::Updated
    );
    let okta =
        json!({"kind": "okta", "org_url": "https://example.okta.com", "api_token": {"env": "OKTA_TOKEN"}});
    assert_eq!(
        registry.put(&tenant("acme"), "okta", okta).await.unwrap(),
        Put::Created
    );

    // The plain secret is in no table; the reference is stored as given.
    let rows = h.tables().every_row();
    assert!(rows.iter().any(|r| r.starts_with("connectors: ")), "{rows:?}");
    assert!(!rows.iter().any(|r| r.contains(SECRET)), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains("OKTA_TOKEN")), "{rows:?}");

    // Read back: secrets hidden; listed per tenant.
    let shown = registry.get(&tenant("default"), "entra").await.unwrap().unwrap();
    assert_eq!(shown.settings["client_secret"], "***");
    assert_eq!(
        shown.settings["client_id"],
        "00000000-0000-0000-0000-000000000000"
    );
    assert!(shown.updated_at >= shown.created_at);
    let acme: Vec<String> = registry
        .list(&tenant("acme"))
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(acme, ["okta"]);
    assert_eq!(
        registry
            .get(&tenant("acme"), "okta")
            .await
            .unwrap()
            .unwrap()
            .settings["api_token"],
        "***"
    );
    assert!(registry.get(&tenant("acme"), "entra").await.unwrap().is_none());

    // Loaded for the daemon: the secret opened, the relative path resolved like the file's.
    let loaded = registry.load_all().await.unwrap();
    assert_eq!(loaded.len(), 2);
    let entra_config = loaded
        .iter()
        .find(|l| l.name == "entra")
        .unwrap()
        .config
        .as_ref()
        .unwrap();
    let ConnectorKind::Entra(e) = &entra_config.kind else {
        panic!("an entra connector")
    };
    assert_eq!(e.client_secret.as_ref().unwrap().expose(), SECRET);

    // Resolved for a run now: the file's, then the stored ones.
    let hr = registry
        .connector(&tenant("default"), "hr")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(hr.kind, ConnectorKind::File(_)));
    let okta = registry
        .connector(&tenant("acme"), "okta")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((okta.tenant.as_str(), okta.name.as_str()), ("acme", "okta"));
    assert!(registry.connector(&tenant("acme"), "hr").await.unwrap().is_none());

    // A name the file comes to define later does not run from the store: the file wins.
    let renamed = h.config_text.replace("name = \"hr\"", "name = \"entra\"");
    let file_wins = h
        .registry_for(&renamed, &format!("secrets_key = {:?}", key(1)))
        .await;
    let loaded = file_wins.load_all().await.unwrap();
    let entra = loaded
        .iter()
        .find(|l| l.name == "entra" && l.tenant.is_default())
        .unwrap();
    assert!(
        matches!(entra.config, Err(RegistryError::DefinedInFile { .. })),
        "{entra:?}"
    );

    refusals(&h, &registry).await;
    rotation(&h).await;

    assert!(registry.delete(&tenant("default"), "entra").await.unwrap());
    assert!(!registry.delete(&tenant("default"), "entra").await.unwrap());
    assert_eq!(registry.stop_tenant(&tenant("acme")).await.unwrap(), 1);
    assert_eq!(h.tables().count("SELECT count(*) AS n FROM connectors"), 0);

    // A tenant removed with its data takes its stored connectors along.
    let file = json!({"kind": "file", "path": "x"});
    registry.put(&tenant("acme"), "hr", file.clone()).await.unwrap();
    registry.put(&tenant("default"), "other", file).await.unwrap();
    let store = Store::open(&idsync::store::DatabaseUrl::parse(&h.url).unwrap());
    assert!(store.delete_tenant(&tenant("acme"), true).await.unwrap());
    let left = h
        .tables()
        .lines("SELECT tenant_id || '/' || name AS line FROM connectors");
    assert_eq!(left, ["default/other"]);
}

async fn refusals(h: &Harness, registry: &ConnectorRegistry) {
    let err = registry
        .put(
            &tenant("default"),
            "x",
            json!({"kind": "file", "path": "x", "pathh": 1}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Invalid(ConfigError::Settings { key, .. }) if key == "pathh"),
        "{err}"
    );
    let err = registry
        .put(&tenant("default"), "hr", json!({"kind": "file", "path": "x"}))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::DefinedInFile { .. }), "{err}");
    assert!(
        err.to_string().contains("defined in the configuration file"),
        "{err}"
    );
    let err = registry
        .put(&tenant("nobody"), "x", json!({"kind": "file", "path": "x"}))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::UnknownTenant(_)), "{err}");
    // Another tenant may have its own `hr`.
    registry
        .put(&tenant("acme"), "hr", json!({"kind": "file", "path": "x"}))
        .await
        .unwrap();
    registry.delete(&tenant("acme"), "hr").await.unwrap();

    let keyless = h.registry("").await;
    let err = keyless
        .put(&tenant("default"), "entra2", entra(json!("another-secret")))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NoSecretsKey { .. }), "{err}");
    assert!(
        err.to_string().contains("client_secret") && err.to_string().contains("secrets_key"),
        "{err}"
    );
    assert!(!err.to_string().contains("another-secret"), "{err}");
    // A reference needs no key.
    keyless
        .put(
            &tenant("default"),
            "entra2",
            entra(json!({"env": "ENTRA_SECRET"})),
        )
        .await
        .unwrap();
    keyless.delete(&tenant("default"), "entra2").await.unwrap();
    let rows = h.tables().every_row();
    assert!(!rows.iter().any(|r| r.contains("another-secret")), "{rows:?}");
}

const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn keyring(current: u8, previous: &[u8]) -> Keyring {
    let parse = |b: u8| SecretsKey::parse(&key(b)).unwrap();
    Keyring::new(Some(parse(current)), previous.iter().map(|&b| parse(b)).collect())
}

/// A webhook endpoint of tenant `acme` whose signing secret is sealed under key 1.
async fn sealed_webhook(h: &Harness) -> Store {
    let registry = h.registry(&format!("secrets_key = {:?}", key(1))).await;
    drop(registry);
    let text = format!("[database]\nurl = {:?}\n", h.url);
    let config = Config::parse(&text, std::path::Path::new("/etc/idsync/idsync.toml"), Vec::new()).unwrap();
    let store = Store::open(&config.database).for_tenant(tenant("acme"));
    let ring = keyring(1, &[]);
    let sealed = ring.seal(&Secret::new(SIGNING_SECRET)).unwrap();
    let spec = WebhookSpec {
        url: "http://127.0.0.1:9/hooks".into(),
        sealed_secret: Some((sealed, ring.current_id().map(str::to_owned))),
        types: Vec::new(),
        batch_size: 1,
        from_config: false,
    };
    store
        .put_webhook("hooks", spec, idsync::store::now())
        .await
        .unwrap();
    store
}

async fn rotation(h: &Harness) {
    let webhooks = sealed_webhook(h).await;
    // Only the new key: the old envelope cannot be opened, and says which key it needs.
    let new_only = h.registry(&format!("secrets_key = {:?}", key(2))).await;
    let loaded = new_only.load_all().await.unwrap();
    let err = loaded
        .iter()
        .find(|l| l.name == "entra")
        .unwrap()
        .config
        .as_ref()
        .unwrap_err();
    assert!(err.to_string().contains("previous_secrets_keys"), "{err}");

    // The new key with the old one as previous: opens, and rotation moves the envelope.
    let rotated = h
        .registry(&format!(
            "secrets_key = {:?}\nprevious_secrets_keys = [{:?}]",
            key(2),
            key(1)
        ))
        .await;
    assert!(rotated.load_all().await.unwrap().iter().all(|l| l.config.is_ok()));
    let out = h.cli(
        &format!(
            "secrets_key = {:?}\nprevious_secrets_keys = [{:?}]",
            key(2),
            key(1)
        ),
        &["secrets", "rotate-key"],
    );
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    let id = rotated.current_key_id().unwrap();
    assert_eq!(
        support::text(&out.stdout),
        format!(
            "re-encrypted the secrets of 1 stored connector(s) and 1 webhook endpoint(s) under key \
             {id}; 1 connector(s) carry no stored secret\n"
        )
    );
    // The endpoint's signing secret moved too: the new key alone opens it.
    let row = webhooks.webhook("hooks").await.unwrap().unwrap();
    assert_eq!(row.key_id.as_deref(), Some(id));
    let opened = keyring(2, &[]).open(row.secret.as_deref().unwrap()).unwrap();
    assert_eq!(opened.expose(), SIGNING_SECRET);
    // Nothing to rotate to without a key.
    let out = h.cli("", &["secrets", "rotate-key"]);
    assert!(!out.status.success());
    assert!(
        support::text(&out.stderr).contains("secrets_key"),
        "{}",
        support::text(&out.stderr)
    );
    let loaded = new_only.load_all().await.unwrap();
    assert!(loaded.iter().all(|l| l.config.is_ok()), "{loaded:?}");
    let rows = h.tables().every_row();
    assert!(!rows.iter().any(|r| r.contains(SECRET)), "{rows:?}");
}

#[tokio::test]
async fn stored_connectors_on_sqlite() {
    scenario(Harness::new(None)).await;
}

#[tokio::test]
async fn stored_connectors_on_postgres() {
    let db = TestDatabase::create();
    scenario(Harness::new(Some(db.url.clone()))).await;
}
