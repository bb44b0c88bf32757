//! The change feed against a real SQLite file and a real PostgreSQL server: a scripted
//! directory history (creates, renames, disables, removals, restores, memberships, a group
//! deleted, SCIM writes and a hard delete) writes exactly the changes it made, in order, and
//! folding the feed gives back the application tables; a run without changes writes none;
//! concurrent writers on PostgreSQL never let a reader following `seq` skip a change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use idsync::config::{Config, ScimDelete};
use idsync::connectors;
use idsync::planner::Plan;
use idsync::reconcile::{self, Outcome, RunOptions, RunProgress};
use idsync::store::schema::{group_members, groups, runs, users};
use idsync::store::{self, ApplyContext, CursorUpdate, DatabaseUrl, Store};
use idsync_source::UserRecord;
use serde_json::{json, Value};
use support::tables::Tables;
use support::{export_user, file_config, write_export};

struct Harness {
    dir: tempfile::TempDir,
    url: DatabaseUrl,
    config: Config,
    store: Store,
}

impl Harness {
    async fn new(database_url: &str) -> Harness {
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
        let store = Store::open(&url);
        store.migrate().await.unwrap();
        Harness {
            dir,
            url,
            config,
            store,
        }
    }

    async fn sync(&self, users: &[Value], groups: &[Value]) -> Vec<Value> {
        let before = self.store.last_change_seq().await.unwrap();
        write_export(&self.dir.path().join("export.json"), users, groups);
        let connector = connectors::build(&self.config.connectors[0]);
        let report = reconcile::run_once(
            &self.store,
            &connector,
            RunOptions::default(),
            &RunProgress::hidden(),
        )
        .await;
        assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.summary());
        self.after(before).await
    }

    async fn after(&self, seq: i64) -> Vec<Value> {
        let rows = self.store.changes_after(seq, 1000).await.unwrap();
        rows.iter().map(|r| r.to_json()).collect()
    }

    fn last_run(&self) -> i64 {
        let mut db = Tables::connect(&self.url);
        with_tables!(&mut db, c => runs::table.select(diesel::dsl::max(runs::id)).first::<Option<i64>>(c))
            .unwrap()
            .unwrap()
    }

    /// (id, scim_id, upn, active) of every user, and (group id, scim id, name), and the
    /// memberships, as the tables hold them.
    fn tables(&self) -> Folded {
        let mut db = Tables::connect(&self.url);
        let us: Vec<(i64, String, String, bool)> = with_tables!(&mut db, c => users::table
            .select((users::id, users::scim_id, users::upn, users::active)).load(c))
        .unwrap();
        let gs: Vec<(i64, String, String)> = with_tables!(&mut db, c => groups::table
            .select((groups::id, groups::scim_id, groups::display_name)).load(c))
        .unwrap();
        let ms: Vec<(i64, i64)> = with_tables!(&mut db, c => group_members::table
            .select((group_members::group_id, group_members::user_id)).load(c))
        .unwrap();
        Folded {
            users: us.into_iter().map(|(id, s, u, a)| (id, (s, u, a))).collect(),
            groups: gs.into_iter().map(|(id, s, n)| (id, (s, n))).collect(),
            members: ms.into_iter().collect(),
        }
    }
}

/// What the feed says the tables hold.
#[derive(Debug, Default, PartialEq, Eq)]
struct Folded {
    users: BTreeMap<i64, (String, String, bool)>,
    groups: BTreeMap<i64, (String, String)>,
    members: BTreeSet<(i64, i64)>,
}

/// Folds a whole feed (from 0) into the tables' state; checks `seq` strictly increases.
fn fold(changes: &[Value]) -> Folded {
    let mut out = Folded::default();
    let mut last = 0;
    for c in changes {
        let seq = c["seq"].as_i64().unwrap();
        assert!(seq > last, "seq goes up: {seq} after {last}");
        last = seq;
        let o = &c["object"];
        let id = o["id"].as_i64().unwrap();
        match c["type"].as_str().unwrap() {
            "user.deleted" => {
                out.users.remove(&id);
            }
            t if t.starts_with("user.") => {
                let user = (s(&o["scim_id"]), s(&o["upn"]), o["active"].as_bool().unwrap());
                out.users.insert(id, user);
            }
            "group.deleted" => {
                out.groups.remove(&id);
                out.members.retain(|&(g, _)| g != id);
            }
            "group.member_added" => {
                out.members.insert((
                    c["group"]["id"].as_i64().unwrap(),
                    c["user"]["id"].as_i64().unwrap(),
                ));
            }
            "group.member_removed" => {
                out.members.remove(&(
                    c["group"]["id"].as_i64().unwrap(),
                    c["user"]["id"].as_i64().unwrap(),
                ));
            }
            _ => {
                out.groups.insert(id, (s(&o["scim_id"]), s(&o["display_name"])));
            }
        }
    }
    out
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

/// (type, the object's upn or name) of each change, in order.
fn summary(changes: &[Value]) -> Vec<(String, String)> {
    changes
        .iter()
        .map(|c| {
            let name = match c["type"].as_str().unwrap() {
                t if t.starts_with("group.member") => {
                    format!("{} {}", s(&c["group"]["display_name"]), s(&c["user"]["upn"]))
                }
                t if t.starts_with("group.") => s(&c["object"]["display_name"]),
                _ => s(&c["object"]["upn"]),
            };
            (c["type"].as_str().unwrap().to_owned(), name)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn scripted_history(database_url: &str) {
    let h = Harness::new(database_url).await;
    let u = |id: &str, upn: &str, enabled: bool| export_user(id, upn, Some(upn), enabled);
    let team = vec![
        u("e1", "ann@example.com", true),
        u("e2", "bob@example.com", true),
        u("e3", "cy@example.com", true),
    ];
    let group = |name: &str, members: &[&str]| json!({"id": "g1", "display_name": name, "members": members});

    // 1. First sync: three creates, a group, two members.
    let first = h.sync(&team, &[group("Staff", &["e1", "e2"])]).await;
    let expected = [
        ("user.created", "ann@example.com"),
        ("user.created", "bob@example.com"),
        ("user.created", "cy@example.com"),
        ("group.created", "Staff"),
        ("group.member_added", "Staff ann@example.com"),
        ("group.member_added", "Staff bob@example.com"),
    ];
    assert_eq!(summary(&first), pairs(&expected));
    let c = &first[0];
    assert_eq!(c["tenant_id"], "default");
    assert_eq!(c["source"], "hr");
    assert_eq!(c["run_id"], h.last_run());
    assert_eq!(c["object"]["type"], "user");
    assert_eq!(c["object"]["external_id"], "e1");
    assert_eq!(c["object"]["email"], "ann@example.com");
    assert!(c["changed_fields"].as_array().unwrap().contains(&json!("upn")));
    assert!(first[4]["user"]["scim_id"].is_string() && first[4]["group"]["scim_id"].is_string());
    // A membership change carries its group and user whole, though the feed stores them once
    // per transaction; a reader that starts in the middle of it gets the same changes.
    let added = &first[5];
    assert_eq!(added["object"], first[3]["object"]);
    assert_eq!(added["group"]["display_name"], "Staff");
    assert_eq!(added["group"]["id"], first[3]["object"]["id"]);
    assert_eq!(added["user"]["upn"], "bob@example.com");
    assert_eq!(added["user"]["scim_id"], first[1]["object"]["scim_id"]);
    let mut one_by_one = Vec::new();
    let mut seq = first[0]["seq"].as_i64().unwrap() - 1;
    while let Some(row) = h.store.changes_after(seq, 1).await.unwrap().pop() {
        seq = row.seq;
        one_by_one.push(row.to_json());
    }
    assert_eq!(one_by_one, first);

    // 2. Nothing changed upstream: nothing written.
    assert_eq!(
        h.sync(&team, &[group("Staff", &["e1", "e2"])]).await,
        Vec::<Value>::new()
    );

    // 3. A rename, a disable, a removal, a member leaves, the group is renamed.
    let changed = vec![
        u("e1", "ann.new@example.com", true),
        u("e2", "bob@example.com", false),
    ];
    let third = h.sync(&changed, &[group("People", &["e2"])]).await;
    let mut got = summary(&third);
    got.sort();
    let mut expected = pairs(&[
        ("user.deactivated", "bob@example.com"),
        ("user.deactivated", "cy@example.com"),
        ("user.updated", "ann.new@example.com"),
        ("group.updated", "People"),
        ("group.member_removed", "People ann.new@example.com"),
    ]);
    expected.sort();
    assert_eq!(got, expected, "{third:#?}");
    let rename = third.iter().find(|c| c["type"] == "user.updated").unwrap();
    let mut fields: Vec<String> = rename["changed_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    fields.sort();
    assert_eq!(fields, ["email", "upn"]);
    let disabled = third.iter().find(|c| c["type"] == "user.deactivated").unwrap();
    assert_eq!(disabled["object"]["active"], false);

    // 4. Restores: both come back.
    let restored = vec![
        u("e1", "ann.new@example.com", true),
        u("e2", "bob@example.com", true),
        u("e3", "cy@example.com", true),
    ];
    let fourth = h.sync(&restored, &[group("People", &["e2"])]).await;
    let mut got = summary(&fourth);
    got.sort();
    assert_eq!(
        got,
        pairs(&[
            ("user.reactivated", "bob@example.com"),
            ("user.reactivated", "cy@example.com")
        ])
    );
    assert_eq!(fourth[0]["object"]["active"], true);

    // 5. The group goes: one group.deleted, no member_removed for its member.
    let fifth = h.sync(&restored, &[]).await;
    assert_eq!(summary(&fifth), pairs(&[("group.deleted", "People")]));

    // 6. SCIM writes: a create, a deactivation, a hard delete (retention of zero days).
    let scim =
        support::scim::Server::start(h.url.clone(), None, support::scim::config(ScimDelete::Hard)).await;
    let before = h.store.last_change_seq().await.unwrap();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dee@example.com", "active": true});
    let (status, created) = scim.post("/Users", &body).await;
    assert!(status.is_success(), "{created}");
    let id = s(&created["id"]);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, answer) = scim.patch(&format!("/Users/{id}"), &patch).await;
    assert!(status.is_success(), "{answer}");
    let (status, answer) = scim.delete(&format!("/Users/{id}")).await;
    assert!(status.is_success(), "{answer}");
    let sixth = h.after(before).await;
    let kinds: Vec<&str> = sixth.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"user.created"), "{sixth:#?}");
    assert!(kinds.contains(&"user.deactivated"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"user.deleted"), "{kinds:?}");
    assert!(sixth
        .iter()
        .all(|c| c["source"] == "scim" && c["run_id"].is_null()));
    assert!(sixth.iter().all(|c| c["object"]["scim_id"] == id.as_str()));

    // The whole feed, folded, is the tables.
    let all = h.after(0).await;
    assert_eq!(fold(&all), h.tables());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("idsync.db").display());
    scripted_history(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_history_on_postgres() {
    let db = support::postgres::TestDatabase::create();
    scripted_history(&db.url).await;
}

/// A plan creating `n` users of `source`.
fn creates(source: &str, round: usize, n: usize) -> Plan {
    Plan {
        source: source.to_owned(),
        user_creates: (0..n)
            .map(|i| {
                let id = format!("{source}-{round}-{i}");
                UserRecord {
                    external_id: id.clone(),
                    upn: format!("{id}@example.com"),
                    enabled: true,
                    ..UserRecord::default()
                }
            })
            .collect(),
        ..Plan::default()
    }
}

/// Four writers commit at once while a reader follows `seq`: the reader sees every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_let_a_reader_skip_on_postgres() {
    let db = support::postgres::TestDatabase::create();
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let store = Store::open(&url);
    store.migrate().await.unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let (mut seen, mut after) = (Vec::new(), 0);
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let rows = store.all_changes_after(after, 1000).await.unwrap();
                if let Some(last) = rows.last() {
                    after = last.seq;
                }
                seen.extend(rows.iter().map(|r| r.seq));
                if finished && rows.is_empty() {
                    return seen;
                }
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..25 {
                let ctx = ApplyContext {
                    run_id: None,
                    run_end: None,
                    now: store::now(),
                    cursor: CursorUpdate::Keep,
                };
                store
                    .apply(creates(&format!("w{w}"), round, 1 + round % 7), ctx)
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let all: Vec<i64> = store
        .all_changes_after(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    let expected: usize = (0..4).map(|_| (0..25).map(|r| 1 + r % 7).sum::<usize>()).sum();
    assert_eq!(all.len(), expected);
    assert_eq!(
        all,
        (1..=i64::try_from(expected).unwrap()).collect::<Vec<_>>(),
        "no gaps"
    );
    assert_eq!(seen, all, "the reader following seq saw every change, in order");
}

/// A first sync of a group of 2,500 members: its changes read back whole, with each
/// member's own user, page after page and from any `seq` in between, on both backends.
async fn large_group_reads_back_whole(url: &DatabaseUrl) {
    use idsync::planner::{GroupCreate, GroupRef, MembershipChange, UserRef};
    let store = Store::open(url);
    store.migrate().await.unwrap();
    let n = 2_500;
    let mut plan = creates("hr", 0, n);
    plan.group_creates = vec![GroupCreate {
        external_id: "g-all".into(),
        display_name: "Everyone".into(),
    }];
    plan.memberships = vec![MembershipChange {
        group: GroupRef::New(0),
        group_name: "Everyone".into(),
        added: (0..n).map(UserRef::New).collect(),
        removed: Vec::new(),
    }];
    let ctx = ApplyContext {
        run_id: None,
        run_end: None,
        now: store::now(),
        cursor: CursorUpdate::Keep,
    };
    store.apply(plan, ctx).await.unwrap();
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let rows = store.changes_after(after, 1000).await.unwrap();
        let Some(last) = rows.last() else { break };
        after = last.seq;
        pages.extend(rows.iter().map(|r| r.to_json()));
    }
    assert_eq!(pages.len(), 2 * n + 1);
    let seqs: Vec<i64> = pages.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=i64::try_from(2 * n + 1).unwrap()).collect::<Vec<_>>());
    let group = &pages[n]["object"];
    assert_eq!(group["display_name"], "Everyone");
    for (i, added) in pages[n + 1..].iter().enumerate() {
        assert_eq!(added["type"], "group.member_added");
        assert_eq!(&added["object"], group);
        assert_eq!(added["group"]["id"], group["id"]);
        assert_eq!(added["user"]["upn"], format!("hr-0-{i}@example.com"));
        assert_eq!(added["user"]["id"], pages[i]["object"]["id"]);
        assert_eq!(added["user"]["scim_id"], pages[i]["object"]["scim_id"]);
    }
    // From a seq inside a run of memberships, and across the end of one.
    for from in [n + 5, n + 999, n + 1000, n + 1001, 2 * n - 1] {
        let rows = store
            .changes_after(i64::try_from(from).unwrap(), 3)
            .await
            .unwrap();
        let got: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
        assert_eq!(got, pages[from..(from + 3).min(2 * n + 1)], "after {from}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_group_reads_back_whole_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    large_group_reads_back_whole(&DatabaseUrl::Sqlite(dir.path().join("feed.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_group_reads_back_whole_on_postgres() {
    let db = support::postgres::TestDatabase::create();
    large_group_reads_back_whole(&DatabaseUrl::parse(&db.url).unwrap()).await;
}
