//! Parsing the configuration: the file, the environment overrides and the error messages.

use super::*;

fn parse(text: &str) -> Result<Config, String> {
    parse_env(text, &[])
}

fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::parse(text, Path::new("config/test.toml"), env).map_err(|e| e.to_string())
}

const BASE: &str = r#"
[database]
url = "sqlite://idsync.db"

[[connectors]]
name = "hr"
kind = "file"
path = "hr/export.json"
"#;

#[test]
fn a_minimal_file_connector_gets_the_defaults() {
    let config = parse(BASE).unwrap();
    assert_eq!(config.database, DatabaseUrl::Sqlite("idsync.db".into()));
    let hr = config.connector("hr").unwrap();
    assert!(matches!(hr.schedule, Schedule::Every(d) if d == schedule::DEFAULT_INTERVAL));
    assert_eq!(hr.guard.max_deactivations, 500);
    assert_eq!(hr.guard.max_deactivation_percent, 20.0);
    assert_eq!(hr.plan.delete_archived_after_days, None);
    let ConnectorKind::File(file) = &hr.kind else {
        panic!("hr is a file connector")
    };
    assert_eq!(file.path, Path::new("config/hr/export.json"));
}

#[test]
fn errors_name_the_key_path() {
    let cases = [
        (
            format!("{BASE}pathh = 1"),
            "config/test.toml: connectors[0].pathh: unknown field `pathh`",
        ),
        (
            format!("{BASE}max_deactivations = -3"),
            "connectors[0].max_deactivations: invalid value",
        ),
        (
            format!("{BASE}schedule = \"0 9 * * 9\""),
            "connectors[0].schedule: weekday 9 is out of range 0-7 (connector \"hr\")",
        ),
        (
            format!("{BASE}interval = \"soon\""),
            "connectors[0].interval: invalid interval",
        ),
        (
            format!("{BASE}nested_groups = \"deep\""),
            "connectors[0].nested_groups: unknown variant `deep`",
        ),
        (
            format!("{BASE}max_deactivation_percent = 120.0"),
            "120 is not a percentage",
        ),
        (
            BASE.replace("kind = \"file\"", "kind = \"ldap\""),
            "connectors[0].kind: unknown connector kind \"ldap\"",
        ),
        (BASE.replace("[database]", "[databse]"), "unknown field `databse`"),
        (
            BASE.replace("sqlite://", "mysql://"),
            "database.url: expected sqlite://PATH",
        ),
        (
            format!("{BASE}\n[[connectors]]\nname = \"hr\"\nkind = \"file\"\npath = \"x\""),
            "connectors[1].name: another connector is already named \"hr\"",
        ),
        (
            BASE.replace("name = \"hr\"", "name = \"scim\""),
            "connectors[0].name: \"scim\" is reserved",
        ),
        (
            format!("{BASE}schedule = \"@daily\"\ninterval = \"1h\""),
            "not both",
        ),
    ];
    for (text, wanted) in cases {
        let err = parse(&text).unwrap_err();
        assert!(err.contains(wanted), "wanted {wanted:?}\n   got {err:?}");
    }
}

#[test]
fn environment_overrides_win_and_are_checked() {
    let config = parse_env(
        BASE,
        &[
            ("IDSYNC__DATABASE__URL", "postgres://idsync@db/app"),
            ("IDSYNC__CONNECTORS__HR__MAX_DEACTIVATIONS", "7"),
            ("IDSYNC__CONNECTORS__HR__SCHEDULE", "@hourly"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(
        config.database,
        DatabaseUrl::Postgres("postgres://idsync@db/app".into())
    );
    let hr = config.connector("hr").unwrap();
    assert_eq!(hr.guard.max_deactivations, 7);
    assert!(matches!(hr.schedule, Schedule::Cron(_)));

    let err = parse_env(BASE, &[("IDSYNC__CONNECTORS__NOPE__PATH", "x")]).unwrap_err();
    assert!(
        err.contains("IDSYNC__CONNECTORS__NOPE__PATH: no connector is named nope"),
        "{err}"
    );
    let err = parse_env(BASE, &[("IDSYNC__CONNECTORS__HR__MAX_DEACTIVATIONS", "many")]).unwrap_err();
    assert!(
        err.contains("connectors[0].max_deactivations: invalid type: string \"many\""),
        "{err}"
    );
}

#[test]
fn scim_alone_is_a_valid_configuration() {
    let config =
        parse("[database]\nurl = \"sqlite://idsync.db\"\n\n[scim]\nlisten = \"127.0.0.1:8080\"\n").unwrap();
    assert!(config.connectors.is_empty());
    let scim = config.scim.unwrap();
    assert_eq!(scim.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(scim.max_body_bytes, 1024 * 1024);
    assert_eq!(scim.delete, ScimDelete::Archive);
    let e = parse(
        "[database]\nurl = \"sqlite://x\"\n\n[scim]\nlisten = \"127.0.0.1:8080\"\ndelete = \"shred\"\n",
    )
    .unwrap_err();
    assert!(e.contains("scim.delete"), "{e}");
    let e = parse("[database]\nurl = \"sqlite://x\"\n\n[scim]\nlisten = \"127.0.0.1:8080\"\nport = 1\n")
        .unwrap_err();
    assert!(e.contains("port"), "{e}");
}

#[test]
fn listener_limits_have_defaults_and_can_be_set() {
    use std::time::Duration;
    let scim_only = "[database]\nurl = \"sqlite://x\"\n\n[scim]\nlisten = \"127.0.0.1:8080\"\n";
    let config = parse(&format!("{scim_only}\n[ops]\nlisten = \"127.0.0.1:9090\"\n")).unwrap();
    let scim = config.scim.unwrap().listener_limits();
    assert_eq!(scim.max_connections, 1024);
    assert_eq!(scim.header_timeout, Duration::from_secs(10));
    assert_eq!(scim.idle_timeout, Duration::from_secs(60));
    assert_eq!(scim.body_timeout, Duration::from_secs(30));
    let ops = config.ops.unwrap().listener_limits();
    assert_eq!(ops.max_connections, 64);
    assert_eq!(
        (ops.header_timeout, ops.idle_timeout, ops.body_timeout),
        (
            Duration::from_secs(10),
            Duration::from_secs(10),
            Duration::from_secs(10)
        )
    );

    let set = "max_connections = 5\nheader_timeout_secs = 2\nidle_timeout_secs = 3\nbody_timeout_secs = 4\n";
    let config = parse(&format!(
        "{scim_only}{set}\n[ops]\nlisten = \"127.0.0.1:9090\"\n{set}"
    ))
    .unwrap();
    for limits in [
        config.scim.unwrap().listener_limits(),
        config.ops.unwrap().listener_limits(),
    ] {
        assert_eq!(limits.max_connections, 5);
        assert_eq!(limits.header_timeout, Duration::from_secs(2));
        assert_eq!(limits.idle_timeout, Duration::from_secs(3));
        assert_eq!(limits.body_timeout, Duration::from_secs(4));
    }
    let e = parse(&format!(
        "{scim_only}\n[ops]\nlisten = \"127.0.0.1:9090\"\nmax_conections = 1\n"
    ))
    .unwrap_err();
    assert!(e.contains("max_conections"), "{e}");
}

#[test]
fn the_admin_section_reads_keys_and_checks_them_without_echoing() {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
    let old = base64::engine::general_purpose::STANDARD.encode([2u8; 32]);
    let text = format!("{BASE}\n[admin]\nsecrets_key = \"{key}\"\nprevious_secrets_keys = [\"{old}\"]\n");
    let config = parse(&text).unwrap();
    assert!(
        config.admin.listen.is_none(),
        "no listen: no admin API, but the key is read"
    );
    let ring = config.admin.keyring().unwrap();
    assert_eq!(
        ring.current_id(),
        Some(crate::secrets::SecretsKey::from_bytes([1u8; 32]).id())
    );
    assert_eq!(config.daemon.poll_secs, 5);
    assert_eq!(config.daemon.max_concurrent_runs, 4);

    let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
    let err = parse(&format!("{BASE}\n[admin]\nsecrets_key = \"{short}\"\n")).unwrap_err();
    assert!(
        err.contains("admin.secrets_key: invalid secrets key: it decodes to 31 bytes"),
        "{err}"
    );
    assert!(!err.contains(&short), "{err}");
    let err = parse(&format!(
        "{BASE}\n[admin]\nprevious_secrets_keys = [\"{key}\", \"nope!\"]\n"
    ))
    .unwrap_err();
    assert!(
        err.contains("admin.previous_secrets_keys[1]: invalid secrets key: it is not base64"),
        "{err}"
    );

    let err = parse(&format!("{BASE}\n[admin]\nlisten = \"127.0.0.1:8081\"\n")).unwrap_err();
    assert!(
        err.contains("admin.token: required when `listen` is set"),
        "{err}"
    );
    let err = parse(&format!("{BASE}\n[admin]\nsecret_key = \"x\"\n")).unwrap_err();
    assert!(err.contains("unknown field `secret_key`"), "{err}");
    let err = parse(&format!("{BASE}\n[daemon]\npoll_secs = 0\n")).unwrap_err();
    assert!(err.contains("daemon.poll_secs: must be at least 1"), "{err}");
    let err = parse(&format!("{BASE}\n[daemon]\nmax_concurrent_runs = 0\n")).unwrap_err();
    assert!(
        err.contains("daemon.max_concurrent_runs: must be at least 1"),
        "{err}"
    );
}

const TENANTS: &str = r#"
[database]
url = "sqlite://idsync.db"

[[tenants]]
id = "acme"
display_name = "Acme Corp"
alerts_to = ["it@acme.example"]

[[tenants]]
id = "globex"

[[connectors]]
name = "entra"
kind = "file"
path = "acme.json"
tenant = "acme"

[[connectors]]
name = "entra"
kind = "file"
path = "globex.json"
tenant = "globex"

[[connectors]]
name = "entra"
kind = "file"
path = "own.json"
"#;

#[test]
fn tenants_are_declared_and_connector_names_are_unique_per_tenant() {
    let config = parse(TENANTS).unwrap();
    let ids: Vec<String> = config.tenant_ids().iter().map(ToString::to_string).collect();
    assert_eq!(ids, ["default", "acme", "globex"]);
    let acme = TenantId::parse("acme").unwrap();
    let globex = TenantId::parse("globex").unwrap();
    let declared = config.tenant(&acme).unwrap();
    assert_eq!(
        (declared.display_name(), declared.alerts_to.as_slice()),
        ("Acme Corp", &["it@acme.example".to_owned()][..])
    );
    assert_eq!(config.tenant(&globex).unwrap().display_name(), "globex");
    let path_of = |c: &ConnectorConfig| match &c.kind {
        ConnectorKind::File(f) => f.path.clone(),
        _ => unreachable!("file connectors"),
    };
    assert_eq!(
        path_of(config.connector_of(&acme, "entra").unwrap()),
        Path::new("config/acme.json")
    );
    assert_eq!(
        path_of(config.connector_of(&globex, "entra").unwrap()),
        Path::new("config/globex.json")
    );
    let own = config.connector("entra").unwrap();
    assert!(own.tenant.is_default());
    assert_eq!(path_of(own), Path::new("config/own.json"));
    // A file without tenants: every connector is the default tenant's.
    assert!(parse(BASE)
        .unwrap()
        .connectors
        .iter()
        .all(|c| c.tenant.is_default()));
}

#[test]
fn tenant_errors_name_the_key_path() {
    let cases = [
        (
            TENANTS.replace("tenant = \"globex\"", "tenant = \"initech\""),
            "connectors[1].tenant: tenant \"initech\" is not declared in [[tenants]] (connector \"entra\")",
        ),
        (
            TENANTS.replace("tenant = \"globex\"", "tenant = \"acme\""),
            "connectors[1].name: another connector of tenant \"acme\" is already named \"entra\"",
        ),
        (
            TENANTS.replace("tenant = \"globex\"", "tenant = \"Globex\""),
            "connectors[1].tenant: a tenant id may contain only a-z, 0-9 and '-', not 'G'",
        ),
        (
            TENANTS.replace("id = \"globex\"", "id = \"-globex\""),
            "tenants[1].id: a tenant id must not start with '-'",
        ),
        (
            TENANTS.replace("id = \"globex\"", "id = \"acme\""),
            "tenants[1].id: tenant acme is declared twice",
        ),
        (
            TENANTS.replace("alerts_to", "alert_to"),
            "tenants[0].alert_to: unknown field `alert_to`",
        ),
    ];
    for (text, expected) in cases {
        let err = parse(&text).unwrap_err();
        assert!(err.contains(expected), "{err}\n  expected: {expected}");
    }
}
