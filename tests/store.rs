//! The whole pipeline (file source -> matcher -> planner -> store) against a real SQLite file
//! and a real PostgreSQL server: the same scenario on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use diesel::prelude::*;
use idsync::config::Config;
use idsync::connectors;
use idsync::reconcile::{self, Outcome, RunOptions, RunProgress};
use idsync::store::schema::{
    alert_state, conflicts, events, group_members, groups, leases, runs, scim_tokens, sync_state, tenants,
    users,
};
use idsync::store::{self, DatabaseUrl};
use serde_json::{json, Value};
use support::tables::Tables;
use support::{export_user, file_config, write_export};

/// (upn, email, active, archived, source) for every user, sorted.
type UserRow = (String, Option<String>, bool, bool, Option<String>);
/// The same with the archive time as stored.
type StoredUser = (
    String,
    Option<String>,
    bool,
    Option<chrono::NaiveDateTime>,
    Option<String>,
);

/// Runs `work` to completion on a runtime of its own (these tests are synchronous).
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

struct Harness {
    dir: tempfile::TempDir,
    url: DatabaseUrl,
    config: Config,
}

impl Harness {
    fn new(database_url: &str, extra: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("export.json");
        write_export(&export, &[], &[]);
        let path = file_config(dir.path(), database_url, &export, extra);
        let config = Config::load(&path).unwrap();
        let url = config.database.clone();
        block_on(store::Store::open(&url).migrate()).unwrap();
        Harness { dir, url, config }
    }

    fn export(&self, users: &[Value], groups: &[Value]) {
        write_export(&self.dir.path().join("export.json"), users, groups);
    }

    fn sync(&self) -> reconcile::RunReport {
        self.sync_with(RunOptions::default())
    }

    fn sync_with(&self, options: RunOptions) -> reconcile::RunReport {
        let connector = connectors::build(&self.config.connectors[0]);
        block_on(reconcile::run_once(
            &store::Store::open(&self.url),
            &connector,
            options,
            &RunProgress::hidden(),
        ))
    }

    fn store(&self) -> store::Store {
        store::Store::open(&self.url)
    }

    fn db(&self) -> Tables {
        Tables::connect(&self.url)
    }

    fn users(&self) -> Vec<UserRow> {
        let rows: Vec<StoredUser> = with_tables!(&mut self.db(), c =>
            users::table.select((users::upn, users::email, users::active, users::archived_at, users::source)).order(users::upn).load(c)).unwrap();
        rows.into_iter()
            .map(|(u, e, a, arch, s)| (u, e, a, arch.is_some(), s))
            .collect()
    }

    /// group name -> member upns.
    fn memberships(&self) -> BTreeSet<(String, String, bool)> {
        let rows: Vec<(String, String, bool)> = with_tables!(&mut self.db(), c =>
            group_members::table.inner_join(groups::table).inner_join(users::table)
                .select((groups::display_name, users::upn, groups::read_only)).load(c))
        .unwrap();
        rows.into_iter().collect()
    }

    fn count_events(&self) -> i64 {
        with_tables!(&mut self.db(), c => events::table.count().get_result(c)).unwrap()
    }

    fn last_updated(&self) -> Option<chrono::NaiveDateTime> {
        with_tables!(&mut self.db(), c => users::table.select(diesel::dsl::max(users::updated_at)).first(c))
            .unwrap()
    }

    fn run_statuses(&self) -> Vec<String> {
        with_tables!(&mut self.db(), c => runs::table.order(runs::id).select(runs::status).load(c)).unwrap()
    }
}

fn row(upn: &str, email: Option<&str>, active: bool, archived: bool, source: Option<&str>) -> UserRow {
    (
        upn.into(),
        email.map(Into::into),
        active,
        archived,
        source.map(Into::into),
    )
}

fn team(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            export_user(
                &format!("e{i}"),
                &format!("u{i}@example.com"),
                Some(&format!("u{i}@example.com")),
                true,
            )
        })
        .collect()
}

fn scenario(database_url: &str) {
    let h = Harness::new(database_url, "max_deactivation_percent = 30");

    // A user the application created itself (SAML sign-in) before the first sync.
    with_tables!(&mut h.db(), c => diesel::insert_into(users::table).values((
        users::upn.eq("U3@Example.com"), users::email.eq("u3@example.com"), users::active.eq(true),
        users::created_at.eq(store::now()), users::updated_at.eq(store::now()),
    )).execute(c))
    .unwrap();

    // 1. First sync: creates, adopts the local user by UPN, flattens groups.
    let users = team(10);
    let groups = vec![
        json!({"id": "g-all", "display_name": "All", "members": ["g-eng", "e10"]}),
        json!({"id": "g-eng", "display_name": "Engineering", "members": ["e1", "e2", "e3"]}),
    ];
    h.export(&users, &groups);
    let report = h.sync();
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
    assert_eq!((report.counts.created, report.counts.updated), (9, 1));
    let after_first = h.users();
    assert_eq!(after_first.len(), 10, "the local user is adopted, not duplicated");
    assert!(after_first
        .iter()
        .all(|u| u.2 && !u.3 && u.4.as_deref() == Some("hr")));
    assert!(after_first.contains(&row(
        "u3@example.com",
        Some("u3@example.com"),
        true,
        false,
        Some("hr")
    )));
    let members = h.memberships();
    assert_eq!(members.len(), 7, "{members:?}");
    assert!(members.contains(&("All".into(), "u1@example.com".into(), true)));
    assert!(members.iter().all(|m| m.2), "groups from a source are read-only");

    // 2. Nothing changed: nothing written.
    let (events_before, updated_before) = (h.count_events(), h.last_updated());
    let report = h.sync();
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.counts, Default::default());
    assert_eq!(h.count_events(), events_before);
    assert_eq!(h.last_updated(), updated_before);

    // 3. Rename, email change, disable, removal, a member leaves a group, a new hire.
    let mut users = team(10);
    users[0] = export_user("e1", "u1.renamed@example.com", Some("u1@example.com"), true);
    users[1] = export_user("e2", "u2@example.com", Some("u2.new@example.com"), true);
    users[3] = export_user("e4", "u4@example.com", Some("u4@example.com"), false);
    users.remove(4); // e5 leaves
    users.push(export_user("e11", "u11@example.com", None, true));
    let groups = vec![
        json!({"id": "g-all", "display_name": "All", "members": ["g-eng", "e10", "e11"]}),
        json!({"id": "g-eng", "display_name": "Engineering", "members": ["e1", "e3"]}),
    ];
    h.export(&users, &groups);
    let report = h.sync();
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
    let now = h.users();
    assert!(now.contains(&row(
        "u1.renamed@example.com",
        Some("u1@example.com"),
        true,
        false,
        Some("hr")
    )));
    assert!(
        !now.iter().any(|u| u.0 == "u1@example.com"),
        "a rename updates in place"
    );
    assert!(now.contains(&row(
        "u2@example.com",
        Some("u2.new@example.com"),
        true,
        false,
        Some("hr")
    )));
    assert!(now.contains(&row(
        "u4@example.com",
        Some("u4@example.com"),
        false,
        true,
        Some("hr")
    )));
    assert!(now.contains(&row(
        "u5@example.com",
        Some("u5@example.com"),
        false,
        true,
        Some("hr")
    )));
    assert!(now.contains(&row("u11@example.com", None, true, false, Some("hr"))));
    let members = h.memberships();
    assert!(!members.contains(&("Engineering".into(), "u2@example.com".into(), true)));
    assert!(members.contains(&("All".into(), "u11@example.com".into(), true)));

    // 4. An outage that loses most people is held: nothing is deactivated, the cursor stays.
    let shrunk = vec![
        json!({"id": "g-all", "display_name": "All", "members": ["g-eng"]}),
        json!({"id": "g-eng", "display_name": "Engineering", "members": ["e1", "e2"]}),
    ];
    h.export(&team(10)[..2], &shrunk);
    let report = h.sync();
    assert!(
        matches!(report.outcome, Outcome::Held { .. }),
        "{}",
        report.summary()
    );
    assert_eq!(
        h.users().iter().filter(|u| u.2).count(),
        9,
        "nothing deactivated while held"
    );
    assert_eq!(h.run_statuses().last().map(String::as_str), Some("held"));
    let held: Option<String> =
        with_tables!(&mut h.db(), c => runs::table.order(runs::id.desc()).select(runs::held_changes).first(c))
            .unwrap();
    assert!(held.unwrap().contains("deactivate user u3@example.com"));

    // ... until someone approves; then it goes through once.
    block_on(h.store().approve("hr", store::now())).unwrap();
    let report = h.sync();
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
    assert_eq!(h.users().iter().filter(|u| u.2).count(), 2);
    let approved: bool = with_tables!(&mut h.db(), c => sync_state::table.find(("default", "hr")).select(sync_state::guard_approved).first(c)).unwrap();
    assert!(!approved, "an approval is used once");
    assert!(
        h.memberships()
            .contains(&("Engineering".into(), "u3@example.com".into(), true)),
        "memberships are kept while a user is archived"
    );

    // 5. Everyone comes back: reactivated, their kept memberships with them.
    let mut users = team(10);
    users.push(export_user("e11", "u11@example.com", None, true));
    h.export(&users, &groups);
    let report = h.sync();
    assert_eq!(report.counts.reactivated, 9, "{}", report.summary());
    assert!(h
        .memberships()
        .contains(&("Engineering".into(), "u3@example.com".into(), true)));

    // 6. A record claiming two people who are already linked to live identities of this source
    //    is a conflict, stored
    //    once however many runs see it; the rest of the run proceeds.
    users.push(export_user("e12", "u6@example.com", Some("u7@example.com"), true));
    users.push(export_user("e13", "u13@example.com", None, true));
    h.export(&users, &groups);
    for _ in 0..2 {
        let report = h.sync();
        assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
    }
    let open: Vec<(String, String)> =
        with_tables!(&mut h.db(), c => conflicts::table.filter(conflicts::status.eq("open"))
        .select((conflicts::external_id, conflicts::reason)).load(c))
        .unwrap();
    assert_eq!(open, vec![("e12".to_owned(), "linked_to_other".to_owned())]);
    assert!(h.users().iter().any(|u| u.0 == "u13@example.com"));

    // 7. A broken export fails the run and changes nothing.
    let before = (h.users(), h.memberships(), h.count_events());
    std::fs::write(h.dir.path().join("export.json"), b"{\"users\": [").unwrap();
    let report = h.sync();
    assert!(
        matches!(&report.outcome, Outcome::Failed { error, .. } if error.contains("export.json line 1")),
        "{report:?}"
    );
    assert_eq!((h.users(), h.memberships(), h.count_events()), before);
    assert_eq!(h.run_statuses().last().map(String::as_str), Some("failed"));

    // 8. A dry run writes nothing, not even a run row.
    h.export(&team(3), &[]);
    let runs_before = h.run_statuses().len();
    let report = h.sync_with(RunOptions {
        dry_run: true,
        ..RunOptions::default()
    });
    assert_eq!(report.outcome, Outcome::DryRun);
    assert!(report
        .plan
        .unwrap()
        .render()
        .contains("deactivate user u4@example.com"));
    assert_eq!((h.users(), h.memberships(), h.count_events()), before);
    assert_eq!(h.run_statuses().len(), runs_before);
}

#[test]
fn sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    scenario(&format!("sqlite://{}", dir.path().join("app.db").display()));
}

#[test]
fn postgresql_server() {
    let db = support::postgres::TestDatabase::create();
    scenario(&db.url);
}

#[test]
fn migrations_match_the_schema_and_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = support::postgres::TestDatabase::create();
    for url in [
        format!("sqlite://{}", dir.path().join("m.db").display()),
        pg.url.clone(),
    ] {
        let url = DatabaseUrl::parse(&url).unwrap();
        let backend = if matches!(url, DatabaseUrl::Postgres(_)) {
            "postgres"
        } else {
            "sqlite"
        };
        let folders = std::fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend),
        )
        .unwrap()
        .count();
        let migrated = store::Store::open(&url);
        assert_eq!(
            block_on(migrated.migrate()).unwrap().len(),
            folders,
            "every migration folder of {backend} applies"
        );
        assert!(block_on(migrated.migrate()).unwrap().is_empty());
        // Every column diesel knows, read back from the migrated tables.
        let mut db = Tables::connect(&url);
        with_tables!(&mut db, c => {
            users::table.select(users::all_columns).load::<(i64, String, Option<String>, Option<String>, String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, bool, Option<chrono::NaiveDateTime>, chrono::NaiveDateTime, chrono::NaiveDateTime, Option<String>, Option<String>, String, Option<String>)>(c).unwrap();
            groups::table.select(groups::all_columns).load::<(i64, String, Option<String>, Option<String>, String, bool, chrono::NaiveDateTime, chrono::NaiveDateTime, Option<String>, String, Option<String>)>(c).unwrap();
            runs::table.select(runs::all_columns).execute(c).unwrap();
            events::table.select(events::all_columns).execute(c).unwrap();
            conflicts::table.select(conflicts::all_columns).execute(c).unwrap();
            sync_state::table.select(sync_state::all_columns).execute(c).unwrap();
            leases::table.select(leases::all_columns).execute(c).unwrap();
            alert_state::table.select(alert_state::all_columns).execute(c).unwrap();
            scim_tokens::table.select(scim_tokens::all_columns).load::<(i64, String, chrono::NaiveDateTime, String)>(c).unwrap();
            tenants::table.select(tenants::all_columns).execute(c).unwrap();
        });
    }
}

#[test]
fn migrating_fills_the_keys_of_rows_written_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let pg = support::postgres::TestDatabase::create();
    for url in [
        format!("sqlite://{}", dir.path().join("k.db").display()),
        pg.url.clone(),
    ] {
        let store = store::Store::open(&DatabaseUrl::parse(&url).unwrap());
        block_on(store.migrate()).unwrap();
        let mut db = Tables::open(&url);
        // As the application writes rows: no keys.
        with_tables!(&mut db, c => {
            diesel::sql_query(
                "INSERT INTO users (scim_id, upn, email, active, created_at, updated_at) VALUES \
                 ('a', ' A\u{30a}SA@X.com', '\u{ff22}ob@x.com', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            )
            .execute(c)
            .unwrap();
            diesel::sql_query(
                "INSERT INTO groups (scim_id, display_name, read_only, created_at, updated_at) VALUES \
                 ('g', '\u{ff25}ng Team', FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            )
            .execute(c)
            .unwrap();
        });
        let keys = |db: &mut Tables| -> (Option<String>, Option<String>, Option<String>) {
            with_tables!(db, c => {
                let (u, e) = users::table
                    .select((users::upn_key, users::email_key))
                    .first::<(Option<String>, Option<String>)>(c)
                    .unwrap();
                let g = groups::table.select(groups::name_key).first::<Option<String>>(c).unwrap();
                (u, e, g)
            })
        };
        assert_eq!(keys(&mut db), (None, None, None), "{url}");
        for _ in 0..2 {
            assert!(block_on(store.migrate()).unwrap().is_empty());
            assert_eq!(
                keys(&mut db),
                (
                    Some("\u{e5}sa@x.com".to_owned()),
                    Some("bob@x.com".to_owned()),
                    Some("eng team".to_owned())
                ),
                "{url}"
            );
        }
    }
}

#[test]
fn housekeeping_prunes_old_runs_and_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(&format!("sqlite://{}", dir.path().join("h.db").display()), "");
    h.export(&team(3), &[]);
    assert_eq!(h.sync().outcome, Outcome::Succeeded);
    let events = h.count_events();
    assert!(events >= 3);
    // Nothing is older than a day: nothing goes.
    let day_ago = store::now() - chrono::Duration::days(1);
    assert_eq!(block_on(h.store().prune_history(day_ago)).unwrap(), (0, 0));
    // Everything is older than tomorrow: the history goes, the users stay.
    let tomorrow = store::now() + chrono::Duration::days(1);
    assert_eq!(
        block_on(h.store().prune_history(tomorrow)).unwrap(),
        (1, events as usize)
    );
    assert_eq!(
        (h.count_events(), h.run_statuses().len(), h.users().len()),
        (0, 0, 3)
    );
}

/// An incremental run loads only what its changes can touch; it must plan exactly as if it
/// had loaded everything.
#[test]
fn a_change_set_plans_the_same_on_the_targeted_load_as_on_the_full_one() {
    use idsync::planner::{self, GuardSettings, PlanSettings};
    use idsync_source::{ChangeSet, Fetched, GroupChange, MembersChange, UserRecord};

    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        "max_deactivation_percent = 100",
    );
    let groups = vec![
        json!({"id": "g-all", "display_name": "All", "members": ["g-eng", "e7", "e8", "e9", "e10"]}),
        json!({"id": "g-eng", "display_name": "Engineering", "members": ["e1", "e2", "e3"]}),
    ];
    h.export(&team(10), &groups);
    assert_eq!(h.sync().outcome, Outcome::Succeeded);
    // e8 disabled, e9 and e10 gone: archived, their memberships kept.
    let mut users = team(10);
    users[7] = export_user("e8", "u8@example.com", Some("u8@example.com"), false);
    users.truncate(8);
    h.export(
        &users,
        &[groups[0].clone(), groups[1].clone()].map(|mut g| {
            let kept: Vec<Value> = g["members"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| *m != "e9" && *m != "e10")
                .cloned()
                .collect();
            g["members"] = json!(kept);
            g
        }),
    );
    assert_eq!(h.sync().outcome, Outcome::Succeeded, "{:?}", h.run_statuses());

    let record = |ext: &str, upn: &str, email: Option<&str>| UserRecord {
        attributes: None,
        external_id: ext.into(),
        upn: upn.into(),
        email: email.map(Into::into),
        enabled: true,
        ..UserRecord::default()
    };
    let mut renamed = record("e2", "u2.new@example.com", Some("u2@example.com"));
    renamed.job_title = Some("Lead".into());
    let cases: Vec<(&str, ChangeSet)> = vec![
        (
            "updates, a rename, a new user",
            ChangeSet {
                users: vec![
                    renamed,
                    record("e3", "u3@example.com", Some("u3.mail@example.com")),
                    record("e20", "u20@example.com", None),
                ],
                ..ChangeSet::default()
            },
        ),
        (
            "names that differ from known users' only by case, width and Unicode form",
            ChangeSet {
                users: vec![
                    record("e24", "\u{ff35}2@EXAMPLE.COM", None),
                    record("e25", "u25@example.com", Some("U\u{ff13}@Example.com")),
                    record("e26", "\u{e9}mile@example.com", None),
                ],
                ..ChangeSet::default()
            },
        ),
        (
            "a reused UPN, a taken UPN, an email pointing elsewhere",
            ChangeSet {
                users: vec![
                    record("e21", "u9@example.com", None),
                    record("e22", "u4@example.com", None),
                    record("e23", "u23@example.com", Some("u5@example.com")),
                ],
                ..ChangeSet::default()
            },
        ),
        (
            "removals and member deltas",
            ChangeSet {
                removed_users: vec!["e5".into(), "e-unknown".into()],
                groups: vec![GroupChange {
                    external_id: "g-eng".into(),
                    display_name: Some("Eng".into()),
                    members: MembersChange::Delta {
                        added: vec!["e7".into(), "e20".into()],
                        removed: vec!["e1".into()],
                    },
                }],
                ..ChangeSet::default()
            },
        ),
        (
            "a member list replaced, archived members kept",
            ChangeSet {
                groups: vec![GroupChange {
                    external_id: "g-all".into(),
                    display_name: None,
                    members: MembersChange::Replace(vec!["e1".into(), "e8".into()]),
                }],
                ..ChangeSet::default()
            },
        ),
        (
            "a group removed, a user back",
            ChangeSet {
                users: vec![record("e9", "u9@example.com", Some("u9@example.com"))],
                removed_groups: vec!["g-eng".into()],
                ..ChangeSet::default()
            },
        ),
    ];
    let now = store::now();
    for settings in [
        PlanSettings::default(),
        PlanSettings {
            delete_archived_after_days: Some(0),
            ..PlanSettings::default()
        },
    ] {
        for (name, changes) in &cases {
            let store = h.store();
            let full = block_on(store.load_local("hr")).unwrap();
            let part = block_on(store.load_for_changes("hr", changes, &settings, now)).unwrap();
            assert!(
                part.users.len() < full.users.len(),
                "{name}: the targeted load should be smaller"
            );
            let plan_full = planner::plan("hr", Fetched::Changes(changes.clone()), &full, &settings, now);
            let plan_part = planner::plan("hr", Fetched::Changes(changes.clone()), &part, &settings, now);
            assert_eq!(plan_part.render(), plan_full.render(), "{name} ({settings:?})");
            assert!(
                !plan_full.render().is_empty(),
                "{name}: a case that plans nothing proves nothing"
            );
            let guard = GuardSettings {
                max_deactivations: 1,
                max_deactivation_percent: 10.0,
            };
            assert_eq!(
                planner::judge(&plan_part, &part, &guard, false),
                planner::judge(&plan_full, &full, &guard, false),
                "{name}"
            );
        }
    }
    // A record differing from a known user only by case and width finds that user through
    // the key columns: it is matched (here: refused, as u2 is linked to e2), not created.
    let wide = ChangeSet {
        users: vec![record("e27", "\u{ff35}2@EXAMPLE.COM", None)],
        ..ChangeSet::default()
    };
    let part = block_on(
        h.store()
            .load_for_changes("hr", &wide, &PlanSettings::default(), now),
    )
    .unwrap();
    assert!(part.users.iter().any(|u| u.upn == "u2@example.com"));
    let plan = planner::plan("hr", Fetched::Changes(wide), &part, &PlanSettings::default(), now);
    assert!(plan.user_creates.is_empty(), "{}", plan.render());
}

/// libpq and OpenSSL are built from source (`pq-sys`'s `bundled` feature): `sslmode=require`
/// must still reach the server over TLS. A private test server started without TLS refuses
/// the request, which is the server's answer; a libpq built without TLS support would fail
/// before asking, and that fails this test.
#[test]
fn postgresql_over_tls_with_the_bundled_libpq() {
    let db = support::postgres::TestDatabase::create();
    let url = format!("{}?sslmode=require", db.url);
    let mut conn = match diesel::PgConnection::establish(&url) {
        Ok(conn) => conn,
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("server does not support SSL"),
                "sslmode=require failed on the client side: {message}"
            );
            eprintln!("the test server does not offer TLS; only the client side was checked");
            return;
        }
    };
    #[derive(QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut conn)
        .unwrap();
    assert!(row.ssl, "the connection is not encrypted");
    let store = store::Store::open(&DatabaseUrl::parse(&url).unwrap());
    block_on(async {
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
    });
}
