//! The whole pipeline (file source -> matcher -> planner -> store) against a real SQLite file
//! and a real PostgreSQL server: the same scenario on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use diesel::prelude::*;
use idsync::config::Config;
use idsync::connectors;
use idsync::reconcile::{self, Outcome, RunOptions, RunProgress};
use idsync::store::schema::{conflicts, events, group_members, groups, runs, scim_tokens, sync_state, users};
use idsync::store::{self, runs as store_runs, DatabaseUrl, Db};
use idsync::with_conn;
use serde_json::{json, Value};
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
        Db::open(&url).unwrap().migrate().unwrap();
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(reconcile::run_once(
            &self.url,
            &connector,
            options,
            &RunProgress::hidden(),
        ))
    }

    fn db(&self) -> Db {
        Db::open(&self.url).unwrap()
    }

    fn users(&self) -> Vec<UserRow> {
        let rows: Vec<StoredUser> = with_conn!(&mut self.db(), c =>
            users::table.select((users::upn, users::email, users::active, users::archived_at, users::source)).order(users::upn).load(c)).unwrap();
        rows.into_iter()
            .map(|(u, e, a, arch, s)| (u, e, a, arch.is_some(), s))
            .collect()
    }

    /// group name -> member upns.
    fn memberships(&self) -> BTreeSet<(String, String, bool)> {
        let rows: Vec<(String, String, bool)> = with_conn!(&mut self.db(), c =>
            group_members::table.inner_join(groups::table).inner_join(users::table)
                .select((groups::display_name, users::upn, groups::read_only)).load(c))
        .unwrap();
        rows.into_iter().collect()
    }

    fn count_events(&self) -> i64 {
        with_conn!(&mut self.db(), c => events::table.count().get_result(c)).unwrap()
    }

    fn last_updated(&self) -> Option<chrono::NaiveDateTime> {
        with_conn!(&mut self.db(), c => users::table.select(diesel::dsl::max(users::updated_at)).first(c))
            .unwrap()
    }

    fn run_statuses(&self) -> Vec<String> {
        with_conn!(&mut self.db(), c => runs::table.order(runs::id).select(runs::status).load(c)).unwrap()
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
    with_conn!(&mut h.db(), c => diesel::insert_into(users::table).values((
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
        with_conn!(&mut h.db(), c => runs::table.order(runs::id.desc()).select(runs::held_changes).first(c))
            .unwrap();
    assert!(held.unwrap().contains("deactivate user u3@example.com"));

    // ... until someone approves; then it goes through once.
    store_runs::approve(&mut h.db(), "hr", store::now()).unwrap();
    let report = h.sync();
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
    assert_eq!(h.users().iter().filter(|u| u.2).count(), 2);
    let approved: bool = with_conn!(&mut h.db(), c => sync_state::table.find("hr").select(sync_state::guard_approved).first(c)).unwrap();
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
        with_conn!(&mut h.db(), c => conflicts::table.filter(conflicts::status.eq("open"))
        .select((conflicts::external_id, conflicts::reason)).load(c))
        .unwrap();
    assert_eq!(open, vec![("e12".to_owned(), "linked_to_other".to_owned())]);
    assert!(h.users().iter().any(|u| u.0 == "u13@example.com"));

    // 7. A broken export fails the run and changes nothing.
    let before = (h.users(), h.memberships(), h.count_events());
    std::fs::write(h.dir.path().join("export.json"), b"{\"users\": [").unwrap();
    let report = h.sync();
    assert!(
        matches!(&report.outcome, Outcome::Failed { error } if error.contains("export.json line 1")),
        "{report:?}"
    );
    assert_eq!((h.users(), h.memberships(), h.count_events()), before);
    assert_eq!(h.run_statuses().last().map(String::as_str), Some("failed"));

    // 8. A dry run writes nothing, not even a run row.
    h.export(&team(3), &[]);
    let runs_before = h.run_statuses().len();
    let report = h.sync_with(RunOptions {
        dry_run: true,
        full: false,
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
        let mut db = Db::open(&url).unwrap();
        assert_eq!(db.migrate().unwrap().len(), 2);
        assert!(db.migrate().unwrap().is_empty());
        // Every column diesel knows, read back from the migrated tables.
        with_conn!(&mut db, c => {
            users::table.select(users::all_columns).load::<(i64, String, Option<String>, Option<String>, String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, bool, Option<chrono::NaiveDateTime>, chrono::NaiveDateTime, chrono::NaiveDateTime)>(c).unwrap();
            groups::table.select(groups::all_columns).load::<(i64, String, Option<String>, Option<String>, String, bool, chrono::NaiveDateTime, chrono::NaiveDateTime)>(c).unwrap();
            runs::table.select(runs::all_columns).execute(c).unwrap();
            events::table.select(events::all_columns).execute(c).unwrap();
            conflicts::table.select(conflicts::all_columns).execute(c).unwrap();
            sync_state::table.select(sync_state::all_columns).execute(c).unwrap();
            scim_tokens::table.select(scim_tokens::all_columns).load::<(i64, String, chrono::NaiveDateTime)>(c).unwrap();
        });
    }
}
