//! Tenants in the store, on a real SQLite file and a real PostgreSQL server: the upgrade from a
//! database without tenants, the tenant table, and one tenant's store never seeing another's
//! rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use idsync::store::{self, DatabaseUrl, Store};
use idsync::tenant::TenantId;
use support::tables::Tables;

fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// A fresh SQLite file and a fresh PostgreSQL database, as configuration URLs.
fn databases(dir: &Path) -> (support::postgres::TestDatabase, Vec<String>) {
    let pg = support::postgres::TestDatabase::create();
    let urls = vec![format!("sqlite://{}", dir.join("t.db").display()), pg.url.clone()];
    (pg, urls)
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// Applies the migrations of `folder` up to and including version `last`.
fn apply_until<DB: diesel::backend::Backend>(c: &mut impl MigrationHarness<DB>, folder: &Path, last: &str)
where
    FileBasedMigrations: MigrationSource<DB>,
{
    let source = FileBasedMigrations::from_path(folder).unwrap();
    let mut migrations = MigrationSource::<DB>::migrations(&source).unwrap();
    migrations.sort_by_key(|m| m.name().version().to_string());
    for m in migrations
        .iter()
        .filter(|m| m.name().version().to_string().as_str() <= last)
    {
        c.run_migration(&**m).unwrap();
    }
}

/// Rows in every table, as a database from before tenants holds them.
const OLD_ROWS: &str = "
    INSERT INTO users (scim_id, external_id, source, upn, email, active, created_at, updated_at, upn_key, email_key)
        VALUES ('s1', 'e1', 'hr', 'ann@x.com', 'ann@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'ann@x.com', 'ann@x.com');
    INSERT INTO groups (scim_id, external_id, source, display_name, read_only, created_at, updated_at, name_key)
        VALUES ('g1', 'ge1', 'hr', 'Staff', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'staff');
    INSERT INTO group_members (group_id, user_id) VALUES (1, 1);
    INSERT INTO user_links (source, external_id, user_id, linked_at) VALUES ('hr', 'e1', 1, CURRENT_TIMESTAMP);
    INSERT INTO sync_state (connector, cursor, guard_approved, updated_at, last_success_at)
        VALUES ('hr', 'c1', FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
    INSERT INTO leases (connector, holder, expires_at) VALUES ('hr', 'old', CURRENT_TIMESTAMP);
    INSERT INTO alert_state (connector, condition, active, detail, raised_at)
        VALUES ('hr', 'run_failed', TRUE, 'boom', CURRENT_TIMESTAMP);
    INSERT INTO runs (connector, mode, status, started_at) VALUES ('hr', 'full', 'succeeded', CURRENT_TIMESTAMP);
    INSERT INTO events (connector, object_type, object_id, object_key, action, detail, created_at)
        VALUES ('hr', 'user', 1, 'ann@x.com', 'created', '{}', CURRENT_TIMESTAMP);
    INSERT INTO conflicts (connector, external_id, reason, detail, record, status, first_seen_at, last_seen_at)
        VALUES ('hr', 'e9', 'ambiguous', 'd', '{}', 'open', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
    INSERT INTO scim_tokens (token_sha256, created_at) VALUES ('abc', CURRENT_TIMESTAMP);
";

const SCOPED_TABLES: [&str; 10] = [
    "users",
    "groups",
    "user_links",
    "sync_state",
    "leases",
    "alert_state",
    "runs",
    "events",
    "conflicts",
    "scim_tokens",
];

#[test]
fn upgrading_puts_every_old_row_into_the_default_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (_pg, urls) = databases(dir.path());
    for url in urls {
        let parsed = DatabaseUrl::parse(&url).unwrap();
        let backend = if matches!(parsed, DatabaseUrl::Postgres(_)) {
            "postgres"
        } else {
            "sqlite"
        };
        let mut tables = Tables::open(&url);
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        // The table diesel keeps its record in, as `run_pending_migrations` creates it.
        tables.execute(
            "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
             run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        );
        with_tables!(&mut tables, c => apply_until(c, &folder, "20261201000004"));
        with_tables!(&mut tables, c => c.batch_execute(OLD_ROWS)).unwrap();

        let store = Store::open(&parsed);
        let applied = block_on(store.migrate()).unwrap();
        assert_eq!(
            applied.len(),
            1,
            "{backend}: only the tenants migration is left: {applied:?}"
        );

        for table in SCOPED_TABLES {
            let all = tables.count(&format!("SELECT COUNT(*) AS n FROM {table}"));
            let default = tables.count(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = 'default'"
            ));
            assert_eq!((all, default), (1, 1), "{backend}: {table}");
        }
        assert_eq!(
            tables.count("SELECT COUNT(*) AS n FROM group_members"),
            1,
            "{backend}: memberships kept"
        );
        let tenants = block_on(store.tenants()).unwrap();
        assert_eq!(
            tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["default"]
        );

        // The upgraded database works: the old rows are the default tenant's, and no one else's.
        let local = block_on(store.load_local("hr")).unwrap();
        assert_eq!(local.users.len(), 1, "{backend}");
        assert_eq!(local.links.len(), 1, "{backend}");
        assert_eq!(local.groups.len(), 1, "{backend}");
        assert!(
            !local.first_sync,
            "{backend}: the old sync state is the default tenant's"
        );
        // The application's own inserts, which name no tenant, still land in `default`.
        tables.execute(
            "INSERT INTO users (scim_id, upn, active, created_at, updated_at) \
             VALUES ('s2', 'bob@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        );
        assert_eq!(
            tables.count("SELECT COUNT(*) AS n FROM users WHERE tenant_id = 'default'"),
            2,
            "{backend}"
        );
    }
}

#[test]
fn tenants_are_created_renamed_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (_pg, urls) = databases(dir.path());
    for url in urls {
        let store = Store::open(&DatabaseUrl::parse(&url).unwrap());
        block_on(store.migrate()).unwrap();
        let now = store::now();
        let acme = tenant("acme");
        assert!(
            block_on(store.put_tenant(&acme, "Acme", now)).unwrap(),
            "{url}: created"
        );
        assert!(
            !block_on(store.put_tenant(&acme, "Acme Corp", now)).unwrap(),
            "{url}: updated"
        );
        let row = block_on(store.tenant_row(&acme)).unwrap().unwrap();
        assert_eq!(
            (row.id.as_str(), row.display_name.as_str()),
            ("acme", "Acme Corp")
        );
        assert!(block_on(store.tenant_row(&tenant("nobody"))).unwrap().is_none());
        block_on(store.ensure_tenant(&acme, "ignored", now)).unwrap();
        let ids: Vec<String> = block_on(store.tenants())
            .unwrap()
            .into_iter()
            .map(|t| format!("{}={}", t.id, t.display_name))
            .collect();
        assert_eq!(ids, ["acme=Acme Corp", "default=default"], "{url}");
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["id"], "acme");

        let mut tables = Tables::open(&url);
        tables.execute(
            "INSERT INTO users (scim_id, upn, active, created_at, updated_at, tenant_id) \
             VALUES ('a1', 'ann@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'acme')",
        );
        tables.execute("INSERT INTO scim_tokens (token_sha256, created_at, tenant_id) VALUES ('d', CURRENT_TIMESTAMP, 'acme')");
        let acme_rows = |t: &mut Tables, table: &str| {
            t.count(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = 'acme'"
            ))
        };
        assert!(block_on(store.delete_tenant(&acme, false)).unwrap());
        assert_eq!(acme_rows(&mut tables, "scim_tokens"), 0, "{url}: token revoked");
        assert_eq!(
            acme_rows(&mut tables, "users"),
            1,
            "{url}: users stay without purge"
        );
        assert!(block_on(store.tenant_row(&acme)).unwrap().is_some());
        assert!(block_on(store.delete_tenant(&acme, true)).unwrap());
        assert_eq!(acme_rows(&mut tables, "users"), 0, "{url}: purged");
        assert!(block_on(store.tenant_row(&acme)).unwrap().is_none());
        assert!(
            !block_on(store.delete_tenant(&acme, true)).unwrap(),
            "{url}: gone"
        );
    }
}
