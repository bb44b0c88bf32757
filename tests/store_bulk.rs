//! The store's bulk paths (PostgreSQL's `COPY` and one-statement-per-batch updates, SQLite's
//! batched inserts) against a real SQLite file and a real PostgreSQL server: batches larger
//! than a chunk, renames that swap sign-in names, memberships added and removed in one plan,
//! and a plan that names another tenant's rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use diesel::prelude::*;
use idsync::config::Config;
use idsync::connectors;
use idsync::planner::{
    FieldChange, GroupRef, MembershipChange, Plan, Purge, StatusChange, UserField, UserUpdate,
};
use idsync::reconcile::{self, Outcome, RunOptions, RunProgress};
use idsync::store::schema::{events, group_members, groups, user_links, users};
use idsync::store::{self, ApplyContext, CursorUpdate, DatabaseUrl};
use idsync::tenant::TenantId;
use serde_json::{json, Value};
use support::tables::Tables;
use support::{export_user, file_config, write_export};

/// (upn, email, email_key, active, archived).
type User = (String, Option<String>, Option<String>, bool, bool);

/// More users than one chunk of rows (1,000) holds, twice over.
const USERS: usize = 2_500;

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
    fn new(database_url: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("export.json");
        write_export(&export, &[], &[]);
        let path = file_config(
            dir.path(),
            database_url,
            &export,
            "max_deactivation_percent = 100",
        );
        let config = Config::load(&path).unwrap();
        let url = config.database.clone();
        block_on(store::Store::open(&url).migrate()).unwrap();
        Harness { dir, url, config }
    }

    fn sync(&self, users: &[Value], groups: &[Value]) -> reconcile::RunReport {
        write_export(&self.dir.path().join("export.json"), users, groups);
        let connector = connectors::build(&self.config.connectors[0]);
        let report = block_on(reconcile::run_once(
            &store::Store::open(&self.url),
            &connector,
            RunOptions::default(),
            &RunProgress::hidden(),
        ));
        assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
        report
    }

    fn db(&self) -> Tables {
        Tables::connect(&self.url)
    }

    /// (upn, email, email_key, active, archived) of every user, by UPN.
    fn users(&self) -> BTreeSet<User> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            bool,
            Option<chrono::NaiveDateTime>,
        );
        let rows: Vec<Row> = with_tables!(&mut self.db(), c => users::table
            .select((users::upn, users::email, users::email_key, users::active, users::archived_at))
            .load(c))
        .unwrap();
        rows.into_iter()
            .map(|(u, e, k, a, arch)| (u, e, k, a, arch.is_some()))
            .collect()
    }

    /// (group name, member UPN).
    fn memberships(&self) -> BTreeSet<(String, String)> {
        let rows: Vec<(String, String)> = with_tables!(&mut self.db(), c =>
            group_members::table.inner_join(groups::table).inner_join(users::table)
                .select((groups::display_name, users::upn)).load(c))
        .unwrap();
        rows.into_iter().collect()
    }

    fn count(&self, table: &str) -> i64 {
        match table {
            "events" => with_tables!(&mut self.db(), c => events::table.count().get_result(c)),
            "links" => with_tables!(&mut self.db(), c => user_links::table.count().get_result(c)),
            _ => with_tables!(&mut self.db(), c => group_members::table.count().get_result(c)),
        }
        .unwrap()
    }
}

fn upn(i: usize) -> String {
    format!("u{i}@example.com")
}

/// Users `range`, each `e{i}` named `u{i}@example.com`.
fn people(range: std::ops::RangeInclusive<usize>) -> Vec<Value> {
    range
        .map(|i| export_user(&format!("e{i}"), &upn(i), Some(&upn(i)), true))
        .collect()
}

fn group(id: &str, name: &str, members: impl Iterator<Item = usize>) -> Value {
    let members: Vec<String> = members.map(|i| format!("e{i}")).collect();
    json!({"id": id, "display_name": name, "members": members})
}

fn large_batches(database_url: &str) {
    let h = Harness::new(database_url);

    // 1. A first sync larger than a chunk: every row, link and membership arrives once.
    let groups = [group("g-big", "Big", 1..=1500), group("g-small", "Small", 1..=3)];
    let report = h.sync(&people(1..=USERS), &groups);
    assert_eq!(report.counts.created, USERS as u64);
    let all = h.users();
    assert_eq!(all.len(), USERS);
    assert!(all.iter().all(|u| u.3 && !u.4));
    assert!(all.contains(&(upn(1234), Some(upn(1234)), Some(upn(1234)), true, false)));
    assert_eq!(h.count("links"), USERS as i64);
    assert_eq!(h.count("members"), 1503);
    // One event per user, per group created and per group's members.
    assert_eq!(h.count("events"), USERS as i64 + 4);
    let ids: BTreeSet<i64> = with_tables!(&mut h.db(), c => users::table.select(users::id).load::<i64>(c))
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(ids.len(), USERS, "every new user has an id of its own");

    // 2. 100 pairs swap their UPNs; 1,200 emails change; users 2001.. leave; the big group
    //    loses 1..=700 and gains 1501..=2000 in the same plan.
    let mut next = people(1..=2000);
    for pair in 0..100 {
        let (a, b) = (2 * pair + 1, 2 * pair + 2);
        next[a - 1]["upn"] = json!(upn(b));
        next[b - 1]["upn"] = json!(upn(a));
    }
    for i in 501..=1700 {
        next[i - 1]["email"] = json!(format!("New.{i}@Example.com"));
    }
    let groups = [
        group("g-big", "Big", 701..=2000),
        group("g-small", "Small", 1..=3),
    ];
    let report = h.sync(&next, &groups);
    assert_eq!(report.counts.deactivated, 500, "{}", report.summary());
    assert_eq!(report.counts.memberships_added, 500);
    assert_eq!(report.counts.memberships_removed, 700);
    let all = h.users();
    let of = |i: usize| all.iter().find(|u| u.0 == upn(i)).unwrap().clone();
    // e1 now holds u2's name and keeps its own email.
    assert_eq!(of(2), (upn(2), Some(upn(1)), Some(upn(1)), true, false));
    assert_eq!(of(199), (upn(199), Some(upn(200)), Some(upn(200)), true, false));
    let email = format!("New.{}@Example.com", 1700);
    assert_eq!(
        of(1700),
        (
            upn(1700),
            Some(email),
            Some("new.1700@example.com".into()),
            true,
            false
        )
    );
    assert_eq!(
        of(2001),
        (upn(2001), Some(upn(2001)), Some(upn(2001)), false, true)
    );
    assert_eq!(all.iter().filter(|u| !u.3).count(), 500);
    let big: BTreeSet<String> = h
        .memberships()
        .into_iter()
        .filter(|(g, _)| g == "Big")
        .map(|(_, u)| u)
        .collect();
    // Members are held by the user row: a swapped pair keeps its memberships under new names.
    let expected: BTreeSet<String> = (701..=2000).map(upn).collect();
    assert_eq!(big, expected);

    // 3. They come back: reactivated in one batch.
    let mut back = next.clone();
    back.extend(people(2001..=USERS));
    let report = h.sync(&back, &groups);
    assert_eq!(report.counts.reactivated, 500, "{}", report.summary());
    assert!(h.users().iter().all(|u| u.3 && !u.4));
}

#[test]
fn large_batches_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    large_batches(&format!("sqlite://{}", dir.path().join("bulk.db").display()));
}

#[test]
fn large_batches_on_postgresql() {
    let db = support::postgres::TestDatabase::create();
    large_batches(&db.url);
}

/// A plan applied by another tenant's store that names the default tenant's rows changes
/// none of them: every bulk statement filters by the tenant it runs for.
fn other_tenants_rows(database_url: &str) {
    let h = Harness::new(database_url);
    h.sync(&people(1..=100), &[group("g-all", "All", 1..=100)]);
    let (before_users, before_members) = (h.users(), h.memberships());
    let theirs: Vec<(i64, String)> = with_tables!(&mut h.db(), c => users::table
        .select((users::id, users::upn)).order(users::id).load(c))
    .unwrap();
    let group_id: i64 = with_tables!(&mut h.db(), c => groups::table.select(groups::id).first(c)).unwrap();

    let other = TenantId::parse("other").unwrap();
    let base = store::Store::open(&h.url);
    block_on(base.ensure_tenant(&other, "Other", store::now())).unwrap();
    let status = |(id, upn): &(i64, String)| StatusChange {
        user_id: *id,
        upn: upn.clone(),
        reason: None,
    };
    let plan = Plan {
        source: "hr".into(),
        user_updates: theirs[..80]
            .iter()
            .map(|(id, upn)| UserUpdate {
                user_id: *id,
                upn: upn.clone(),
                changes: vec![
                    FieldChange {
                        field: UserField::Upn,
                        before: Some(upn.clone()),
                        after: Some(format!("taken.{id}@example.com")),
                    },
                    FieldChange {
                        field: UserField::JobTitle,
                        before: None,
                        after: Some("Taken".into()),
                    },
                ],
            })
            .collect(),
        deactivations: theirs[..90].iter().map(status).collect(),
        reactivations: theirs[90..95].iter().map(status).collect(),
        purges: theirs[95..]
            .iter()
            .map(|(id, upn)| Purge {
                user_id: *id,
                upn: upn.clone(),
                archived_at: None,
            })
            .collect(),
        memberships: vec![MembershipChange {
            group: GroupRef::Existing(group_id),
            group_name: "All".into(),
            added: Vec::new(),
            removed: theirs.iter().map(|(id, _)| *id).collect(),
        }],
        ..Plan::default()
    };
    let ctx = ApplyContext {
        run_id: None,
        run_end: None,
        now: store::now(),
        cursor: CursorUpdate::Keep,
    };
    block_on(base.for_tenant(other).apply(plan, ctx)).unwrap();
    assert_eq!(h.users(), before_users);
    assert_eq!(h.memberships(), before_members);
}

#[test]
fn other_tenants_rows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    other_tenants_rows(&format!("sqlite://{}", dir.path().join("bulk.db").display()));
}

#[test]
fn other_tenants_rows_on_postgresql() {
    let db = support::postgres::TestDatabase::create();
    other_tenants_rows(&db.url);
}
