//! Stored connector settings: read by the file's parser, errors naming their key.

use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::config::ConnectorKind;

fn read(settings: Json) -> Result<ConnectorConfig, String> {
    connector_from_json(Path::new("/etc/idsync"), &acme(), "hr", &settings).map_err(|e| e.to_string())
}

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

#[test]
fn a_file_connector_reads_like_the_file() {
    let hr = read(
        json!({"kind": "file", "path": "hr/export.json", "interval": "90s",
        "max_deactivations": 7, "max_deactivation_percent": 12.5}),
    )
    .unwrap();
    assert_eq!(hr.name, "hr");
    assert_eq!(hr.tenant, acme());
    assert_eq!(hr.guard.max_deactivations, 7);
    assert_eq!(hr.guard.max_deactivation_percent, 12.5);
    let ConnectorKind::File(file) = &hr.kind else {
        panic!("a file connector")
    };
    assert_eq!(file.path, PathBuf::from("/etc/idsync/hr/export.json"));

    let config = Config::parse(
        "[database]\nurl = \"sqlite://x.db\"\n",
        Path::new("conf/idsync.toml"),
        Vec::new(),
    )
    .unwrap();
    let hr = config
        .connector_from_json(&acme(), "hr", &json!({"kind": "file", "path": "export.json"}))
        .unwrap();
    let ConnectorKind::File(file) = &hr.kind else {
        panic!("a file connector")
    };
    assert_eq!(
        file.path,
        PathBuf::from("conf/export.json"),
        "relative to the file's folder"
    );
}

#[test]
fn errors_name_the_key() {
    let cases = [
        (
            json!({"kind": "file", "path": "x", "pathh": 1}),
            "pathh: unknown field `pathh`",
        ),
        (
            json!({"kind": "file", "path": "x", "name": "hr"}),
            "name: is given by the path",
        ),
        (
            json!({"kind": "file", "path": "x", "tenant": "acme"}),
            "tenant: is given by the path",
        ),
        (
            json!({"kind": "file", "path": null}),
            "path: null is not a value here",
        ),
        (
            json!({"kind": "file", "path": "x", "interval": "soon"}),
            "interval: invalid interval",
        ),
        (json!({"kind": "ldap"}), "kind: unknown connector kind \"ldap\""),
        (json!({"kind": "file"}), "missing field `path`"),
        (json!(["kind", "file"]), "the settings must be a JSON object"),
        (
            json!({"kind": "entra", "tenant_id": "t", "client_id": "c", "client_secret": "s",
                "groups": ["a", null]}),
            "groups[1]: null is not a value here",
        ),
        (
            json!({"kind": "entra", "tenant_id": "t", "client_id": "c",
                "client_secret": {"env": "A", "file": "B"}}),
            "client_secret: give exactly one of `env` or `file`",
        ),
        (
            json!({"kind": "file", "path": "x", "max_deactivations": 18446744073709551615u64}),
            "max_deactivations: 18446744073709551615 is out of range",
        ),
    ];
    for (settings, wanted) in cases {
        let err = read(settings.clone()).unwrap_err();
        assert!(
            err.contains(wanted),
            "{settings}\n wanted {wanted:?}\n    got {err:?}"
        );
    }
}

#[test]
fn secrets_read_inline_or_by_reference() {
    let entra = |secret: Json| {
        json!({"kind": "entra", "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "00000000-0000-0000-0000-000000000000", "client_secret": secret})
    };
    let inline = read(entra(json!("s3cret-value"))).unwrap();
    let ConnectorKind::Entra(config) = &inline.kind else {
        panic!("an entra connector")
    };
    assert_eq!(config.client_secret.as_ref().unwrap().expose(), "s3cret-value");

    let err = read(entra(json!({"env": "IDSYNC_TEST_SURELY_UNSET_STORED"}))).unwrap_err();
    assert!(
        err.contains("IDSYNC_TEST_SURELY_UNSET_STORED is not set"),
        "{err}"
    );
}

#[test]
fn rendering_hides_every_secret() {
    let settings = json!({"kind": "entra", "tenant_id": "t", "client_id": "c",
        "client_secret": "s3cret-value"});
    let shown = redacted(&settings);
    assert_eq!(shown["client_secret"], REDACTED);
    assert_eq!(shown["client_id"], "c");
    assert!(!shown.to_string().contains("s3cret"));
    let okta = redacted(&json!({"kind": "okta", "api_token": {"env": "OKTA"}}));
    assert_eq!(okta["api_token"], REDACTED);
    let file = json!({"kind": "file", "path": "x"});
    assert_eq!(redacted(&file), file);
}

/// Every key [`secret_keys`] names for a kind is one its parser reads as a secret: given an
/// unset environment variable, parsing fails on exactly that key.
#[test]
fn the_secret_keys_are_the_parsers_secrets() {
    let bases = [
        (
            "entra",
            json!({"kind": "entra", "tenant_id": "t", "client_id": "c"}),
        ),
        (
            "okta",
            json!({"kind": "okta", "org_url": "https://example.okta.com"}),
        ),
        ("google", json!({"kind": "google", "customer_id": "my_customer"})),
    ];
    for (kind, mut base) in bases {
        assert!(!secret_keys(kind).is_empty(), "{kind}");
        for key in secret_keys(kind) {
            base[*key] = json!({"env": "IDSYNC_TEST_SURELY_UNSET_SECRET"});
            let err = read(base.clone()).unwrap_err();
            assert!(err.starts_with(&format!("{key}: ")), "{kind}.{key}: {err}");
            assert!(
                err.contains("IDSYNC_TEST_SURELY_UNSET_SECRET is not set"),
                "{err}"
            );
        }
    }
}
