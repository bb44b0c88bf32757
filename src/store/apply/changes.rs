//! The change feed's half of an apply: one `changes` row per change the plan made, written in
//! the apply's transaction (a transactional outbox), so the feed holds exactly what committed.
//!
//! The list of changes comes from the [`Plan`](crate::planner::Plan) and the ids of the rows
//! the apply created; each change's `data` is the object as it is at the end of the apply, read
//! back in bulk in the same transaction. Users and groups the plan removes are read before the
//! apply removes them ([`before`]).
//!
//! # Why readers never skip a change
//!
//! `seq` is taken at the *end* of the transaction, from the one-row `change_counter`
//! (`UPDATE change_counter SET last = last + n RETURNING last`). The row lock that the update
//! takes is held until the transaction commits or rolls back, so a second writer's update waits
//! for the first writer's commit (under READ COMMITTED it then reads the committed value and
//! goes on; no serialization error). Seq blocks are therefore handed out in commit order: when
//! a reader sees a change with `seq = s`, every change with a lower `seq` has already
//! committed (or its block was never handed out, as a rolled-back writer's update is undone
//! with it). A reader that asks for `seq > s` can never later find a lower `seq` appear. A
//! plain sequence would not do: `nextval` is taken when the row is inserted, and a writer
//! that took 10 may commit after one that took 11. On SQLite the write lock already orders
//! every writer. The locked section is only the insert of the change rows and the commit.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Map, Value};

use super::super::any_of::any_of;
use super::super::schema::{change_counter, changes, group_members, groups, users};
use super::super::{with_conn, Db, StoreError, CHUNK};
use super::Step;
use crate::planner::{GroupRef, UserField, UserRef};

/// The change types, as the feed and the webhooks name them.
pub mod kind {
    pub const USER_CREATED: &str = "user.created";
    pub const USER_UPDATED: &str = "user.updated";
    pub const USER_DEACTIVATED: &str = "user.deactivated";
    pub const USER_REACTIVATED: &str = "user.reactivated";
    pub const USER_DELETED: &str = "user.deleted";
    pub const GROUP_CREATED: &str = "group.created";
    pub const GROUP_UPDATED: &str = "group.updated";
    pub const GROUP_DELETED: &str = "group.deleted";
    pub const MEMBER_ADDED: &str = "group.member_added";
    pub const MEMBER_REMOVED: &str = "group.member_removed";
    /// Every type, for checking a webhook's `types`.
    pub const ALL: [&str; 10] = [
        USER_CREATED,
        USER_UPDATED,
        USER_DEACTIVATED,
        USER_REACTIVATED,
        USER_DELETED,
        GROUP_CREATED,
        GROUP_UPDATED,
        GROUP_DELETED,
        MEMBER_ADDED,
        MEMBER_REMOVED,
    ];
}

/// The objects an apply is about to remove, as they were, and the memberships that go with
/// a removed user (the database drops them with it).
#[derive(Debug, Default)]
pub(super) struct Doomed {
    users: HashMap<i64, Value>,
    groups: HashMap<i64, Value>,
    /// (group id, user id) of each membership of a purged user.
    memberships: Vec<(i64, i64)>,
}

/// What a change is about.
#[derive(Debug, Clone, Copy)]
enum Subject {
    User(i64),
    Group(i64),
    Member { group: i64, user: i64 },
}

/// One change before it has its `seq`.
#[derive(Debug)]
struct Pending {
    kind: &'static str,
    subject: Subject,
    fields: Vec<&'static str>,
}

/// Reads the users and groups the plan removes, before the apply removes them.
pub(super) fn before(db: &mut Db, step: &Step<'_>) -> Result<Doomed, StoreError> {
    let plan = step.plan;
    let purged: Vec<i64> = plan.purges.iter().map(|p| p.user_id).collect();
    let deleted: Vec<i64> = plan.group_deletes.iter().map(|g| g.group_id).collect();
    if purged.is_empty() && deleted.is_empty() {
        return Ok(Doomed::default());
    }
    if let Db::Sqlite(c) = db {
        // SQLite: reads before the apply's first write would let a writer that commits in
        // between fail this transaction's first write (a stale WAL snapshot, `SQLITE_BUSY`);
        // a write first takes the lock, waiting for that writer instead. (PostgreSQL needs
        // nothing: its row locks wait, and the counter must stay unlocked until the end.)
        diesel::update(change_counter::table.find(1))
            .set(change_counter::last.eq(change_counter::last))
            .execute(c)?;
    }
    let mut memberships = Vec::new();
    for chunk in purged.chunks(CHUNK) {
        let rows: Vec<(i64, i64)> = with_conn!(db, |c| group_members::table
            .inner_join(groups::table)
            .filter(groups::tenant_id.eq(step.tenant))
            .filter(any_of(group_members::user_id, chunk))
            .select((group_members::group_id, group_members::user_id))
            .order((group_members::group_id, group_members::user_id))
            .load(c))?;
        memberships.extend(rows);
    }
    // A membership the plan removes explicitly, or whose group goes too, is not the user's.
    let removed: std::collections::HashSet<(i64, i64)> = plan
        .memberships
        .iter()
        .filter_map(|m| match m.group {
            GroupRef::Existing(g) => Some(m.removed.iter().map(move |&u| (g, u))),
            GroupRef::New(_) => None,
        })
        .flatten()
        .collect();
    memberships.retain(|&(g, u)| !removed.contains(&(g, u)) && !deleted.contains(&g));
    let mut groups_read = read_groups(db, step.tenant, &deleted)?;
    let member_groups: Vec<i64> = memberships.iter().map(|&(g, _)| g).collect();
    groups_read.extend(read_groups(db, step.tenant, &member_groups)?);
    Ok(Doomed {
        users: read_users(db, step.tenant, &purged)?,
        groups: groups_read,
        memberships,
    })
}

/// Writes the plan's changes (none for a plan that changes nothing).
pub(super) fn write(
    db: &mut Db,
    step: &Step<'_>,
    run_id: Option<i64>,
    new_users: &[i64],
    new_groups: &[i64],
    doomed: Doomed,
) -> Result<(), StoreError> {
    let pending = list(step, new_users, new_groups, &doomed);
    if pending.is_empty() {
        return Ok(());
    }
    let mut user_ids = Vec::new();
    let mut group_ids = Vec::new();
    for p in &pending {
        match p.subject {
            Subject::User(u) => user_ids.push(u),
            Subject::Group(g) => group_ids.push(g),
            Subject::Member { group, user } => {
                user_ids.push(user);
                group_ids.push(group);
            }
        }
    }
    let mut users_after = read_users(db, step.tenant, &user_ids)?;
    let mut groups_after = read_groups(db, step.tenant, &group_ids)?;
    users_after.extend(doomed.users);
    groups_after.extend(doomed.groups);
    let rows: Vec<Row> = pending
        .into_iter()
        .map(|p| row_of(p, &users_after, &groups_after))
        .filter_map(Result::transpose)
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    insert(db, step.tenant, step.source, run_id, step.now, rows)
}

/// Records that a SCIM write changed a group's attributes (which it writes without a plan).
pub(crate) fn group_attributes_changed(
    db: &mut Db,
    tenant: &str,
    group_id: i64,
    source: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let groups_after = read_groups(db, tenant, &[group_id])?;
    let p = Pending {
        kind: kind::GROUP_UPDATED,
        subject: Subject::Group(group_id),
        fields: vec!["attributes"],
    };
    match row_of(p, &HashMap::new(), &groups_after)? {
        Some(row) => insert(db, tenant, source, None, now, vec![row]),
        None => Ok(()),
    }
}

/// The plan's changes in the order the apply makes them.
fn list(step: &Step<'_>, new_users: &[i64], new_groups: &[i64], doomed: &Doomed) -> Vec<Pending> {
    let plan = step.plan;
    let mut out = Vec::new();
    let mut push = |kind, subject, fields: Vec<&'static str>| {
        out.push(Pending {
            kind,
            subject,
            fields,
        })
    };
    for d in &plan.deactivations {
        push(kind::USER_DEACTIVATED, Subject::User(d.user_id), vec!["active"]);
    }
    for &(group, user) in &doomed.memberships {
        push(
            kind::MEMBER_REMOVED,
            Subject::Member { group, user },
            vec!["members"],
        );
    }
    for p in &plan.purges {
        push(kind::USER_DELETED, Subject::User(p.user_id), vec![]);
    }
    for u in &plan.user_updates {
        let fields = u.changes.iter().map(|c| c.field.column()).collect();
        push(kind::USER_UPDATED, Subject::User(u.user_id), fields);
    }
    for l in plan.user_links.iter().filter(|l| l.owner) {
        push(
            kind::USER_UPDATED,
            Subject::User(l.user_id),
            vec!["source", "external_id"],
        );
    }
    for r in &plan.reactivations {
        push(kind::USER_REACTIVATED, Subject::User(r.user_id), vec!["active"]);
    }
    for (r, &id) in plan.user_creates.iter().zip(new_users) {
        let mut fields: Vec<&'static str> = vec!["external_id", "source"];
        fields.extend(
            UserField::ALL
                .iter()
                .filter(|f| f.of_record(r).is_some())
                .map(|f| f.column()),
        );
        fields.push("active");
        push(kind::USER_CREATED, Subject::User(id), fields);
    }
    for &id in new_groups {
        push(
            kind::GROUP_CREATED,
            Subject::Group(id),
            vec!["external_id", "source", "display_name"],
        );
    }
    for g in &plan.group_links {
        push(
            kind::GROUP_UPDATED,
            Subject::Group(g.group_id),
            vec!["source", "external_id"],
        );
    }
    for g in &plan.group_renames {
        push(
            kind::GROUP_UPDATED,
            Subject::Group(g.group_id),
            vec!["display_name"],
        );
    }
    for g in &plan.group_deletes {
        push(kind::GROUP_DELETED, Subject::Group(g.group_id), vec![]);
    }
    for m in &plan.memberships {
        let group = match m.group {
            GroupRef::Existing(id) => id,
            GroupRef::New(i) => new_groups[i],
        };
        for &u in &m.added {
            let user = match u {
                UserRef::Existing(id) => id,
                UserRef::New(i) => new_users[i],
            };
            push(
                kind::MEMBER_ADDED,
                Subject::Member { group, user },
                vec!["members"],
            );
        }
        for &user in &m.removed {
            push(
                kind::MEMBER_REMOVED,
                Subject::Member { group, user },
                vec!["members"],
            );
        }
    }
    out
}

/// A change row before its `seq`.
#[derive(Debug)]
struct Row {
    kind: &'static str,
    object_id: i64,
    scim_id: Option<String>,
    external_id: Option<String>,
    fields: String,
    data: String,
}

/// The feed's row for `p`; none when its object is not the tenant's (a plan changes only its
/// own tenant's rows, so such a change changed nothing: every statement filters by tenant).
fn row_of(
    p: Pending,
    users: &HashMap<i64, Value>,
    groups: &HashMap<i64, Value>,
) -> Result<Option<Row>, StoreError> {
    let data = match p.subject {
        Subject::User(id) => match users.get(&id) {
            Some(u) => json!({ "object": u }),
            None => return Ok(None),
        },
        Subject::Group(id) => match groups.get(&id) {
            Some(g) => json!({ "object": g }),
            None => return Ok(None),
        },
        Subject::Member { group, user } => match (groups.get(&group), users.get(&user)) {
            (Some(g), Some(u)) => {
                json!({ "object": g, "group": brief(g, "display_name"), "user": brief(u, "upn") })
            }
            _ => return Ok(None),
        },
    };
    let object = &data["object"];
    Ok(Some(Row {
        kind: p.kind,
        object_id: object["id"].as_i64().unwrap_or_default(),
        scim_id: object["scim_id"].as_str().map(str::to_owned),
        external_id: object["external_id"].as_str().map(str::to_owned),
        fields: serde_json::to_string(&p.fields)?,
        data: data.to_string(),
    }))
}

/// The ids and the name of an object, for the `group` and `user` of a membership change.
fn brief(object: &Value, name: &str) -> Value {
    let mut out = Map::new();
    for key in ["type", "id", "scim_id", "external_id", name] {
        out.insert(key.to_owned(), object[key].clone());
    }
    Value::Object(out)
}

/// Takes a block of `seq` (the lock that orders commits; see the module's docs) and inserts.
fn insert(
    db: &mut Db,
    tenant: &str,
    source: &str,
    run_id: Option<i64>,
    now: NaiveDateTime,
    rows: Vec<Row>,
) -> Result<(), StoreError> {
    let n = i64::try_from(rows.len()).map_err(|_| StoreError::BadData("too many changes".into()))?;
    let counter = change_counter::table.find(1);
    let last: i64 = with_conn!(db, |c| diesel::update(counter)
        .set(change_counter::last.eq(change_counter::last + n))
        .returning(change_counter::last)
        .get_result(c))?;
    let first = last - n + 1;
    let values: Vec<_> = rows
        .iter()
        .zip(first..)
        .map(|(r, seq)| {
            (
                changes::seq.eq(seq),
                changes::tenant_id.eq(tenant),
                changes::change_type.eq(r.kind),
                changes::object_id.eq(r.object_id),
                changes::scim_id.eq(r.scim_id.as_deref()),
                changes::external_id.eq(r.external_id.as_deref()),
                changes::source.eq(source),
                changes::run_id.eq(run_id),
                changes::occurred_at.eq(now),
                changes::changed_fields.eq(&r.fields),
                changes::data.eq(&r.data),
            )
        })
        .collect();
    insert_rows!(db, changes::table, values.as_slice());
    Ok(())
}

/// A user row as the feed shows it.
type UserCols = (
    (
        i64,
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
    ),
    (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
    (
        Option<String>,
        Option<String>,
        bool,
        Option<NaiveDateTime>,
        NaiveDateTime,
        NaiveDateTime,
    ),
);

/// The tenant's users `ids` as JSON objects (README, "The change feed"), by id.
fn read_users(db: &mut Db, tenant: &str, ids: &[i64]) -> Result<HashMap<i64, Value>, StoreError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<UserCols> = with_conn!(db, |c| users::table
            .filter(users::tenant_id.eq(tenant).and(any_of(users::id, chunk)))
            .select((
                (
                    users::id,
                    users::scim_id,
                    users::external_id,
                    users::source,
                    users::upn,
                    users::email
                ),
                (
                    users::display_name,
                    users::given_name,
                    users::family_name,
                    users::job_title,
                    users::department,
                ),
                (
                    users::preferred_language,
                    users::attributes,
                    users::active,
                    users::archived_at,
                    users::created_at,
                    users::updated_at,
                ),
            ))
            .load(c))?;
        for ((id, scim_id, external_id, source, upn, email), (dn, gn, fam, job, dep), rest) in rows {
            let (lang, attributes, active, archived_at, created_at, updated_at) = rest;
            let user = json!({
                "type": "user", "id": id, "scim_id": scim_id, "external_id": external_id,
                "source": source, "upn": upn, "email": email, "display_name": dn,
                "given_name": gn, "family_name": fam, "job_title": job, "department": dep,
                "preferred_language": lang, "active": active,
                "archived_at": archived_at.map(time), "attributes": parsed(attributes.as_deref()),
                "created_at": time(created_at), "updated_at": time(updated_at),
            });
            out.insert(id, user);
        }
    }
    Ok(out)
}

/// A group row as the feed shows it.
type GroupCols = (
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
);

/// The tenant's groups `ids` as JSON objects, by id.
fn read_groups(db: &mut Db, tenant: &str, ids: &[i64]) -> Result<HashMap<i64, Value>, StoreError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<GroupCols> = with_conn!(db, |c| groups::table
            .filter(groups::tenant_id.eq(tenant).and(any_of(groups::id, chunk)))
            .select((
                groups::id,
                groups::scim_id,
                groups::external_id,
                groups::source,
                groups::display_name,
                groups::attributes,
                groups::created_at,
                groups::updated_at,
            ))
            .load(c))?;
        for (id, scim_id, external_id, source, display_name, attributes, created_at, updated_at) in rows {
            let group = json!({
                "type": "group", "id": id, "scim_id": scim_id, "external_id": external_id,
                "source": source, "display_name": display_name,
                "attributes": parsed(attributes.as_deref()),
                "created_at": time(created_at), "updated_at": time(updated_at),
            });
            out.insert(id, group);
        }
    }
    Ok(out)
}

/// A stored time in RFC 3339, UTC, to the microsecond.
pub(crate) fn time(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The attributes column as JSON (NULL or unreadable text as null: the feed never fails on it).
fn parsed(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}
