//! The change feed's half of an apply: one `changes` row per change the plan made, written in
//! the apply's transaction (a transactional outbox), so the feed holds exactly what committed.
//!
//! The list of changes comes from the [`Plan`](crate::planner::Plan) and the ids of the rows
//! the apply created; each change's `data` is the object as it is at the end of the apply, read
//! back in bulk in the same transaction and rendered once per object. Users and groups the
//! plan removes are read before the apply removes them ([`before`]).
//!
//! # Rows that hold more than one change
//!
//! A first sync of 100,000 users in 5,000 groups makes 500,000 membership changes, each of
//! which carries its group and its user. One row and one copy of the group per change made
//! the change feed cost more than the rest of the apply. So a run of one group's membership
//! changes of one kind shares a row (`seq` to `last_seq`, at most [`RUN`]), and an object
//! that an earlier row of the same transaction already holds is named by that row's `seq`
//! instead of copied: `object_seq` for the row's `object`, a number in its `members` for a
//! membership's user (else the user's ids and name). Every change still has its own `seq`;
//! the reader (`store/changes.rs`) expands the rows back into whole changes.
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

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::super::any_of::any_of;
use super::super::models::NewChange;
use super::super::schema::{change_counter, changes, group_members, groups, users};
use super::super::{with_conn, Db, StoreError, CHUNK};
use super::{bulk, Step};
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

/// Objects by id, each rendered once however many changes carry it.
type Objects = HashMap<i64, Rendered>;

/// The objects an apply is about to remove, as they were, and the memberships that go with
/// a removed user (the database drops them with it).
#[derive(Debug, Default)]
pub(super) struct Doomed {
    users: Objects,
    groups: Objects,
    /// (group id, user id) of each membership of a purged user.
    memberships: Vec<(i64, i64)>,
}

/// An object's JSON as the feed shows it, rendered once for every change that carries it:
/// a group is the `object` of each of its membership changes, thousands on a first sync.
#[derive(Debug)]
struct Rendered {
    /// The whole object.
    json: String,
    /// Its ids and its name, as a membership change's `group` or `user`.
    brief: String,
    scim_id: Option<String>,
    external_id: Option<String>,
}

impl Rendered {
    /// `object`, whose name is its field `name` (`upn` for a user, `display_name` for a group).
    fn new(object: &Value, name: &str) -> Self {
        Self {
            json: object.to_string(),
            brief: brief(object, name).to_string(),
            scim_id: object["scim_id"].as_str().map(str::to_owned),
            external_id: object["external_id"].as_str().map(str::to_owned),
        }
    }
}

/// The objects the changes carry: as the apply left them, or as they were for removed ones.
#[derive(Debug, Default)]
struct Known {
    users: Objects,
    groups: Objects,
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
    fields: Fields,
}

/// The names of the fields a change changed (most lists are the same for every change).
type Fields = Cow<'static, [&'static str]>;

/// Where the changes of one transaction come from.
#[derive(Debug, Clone, Copy)]
struct Origin<'a> {
    tenant: &'a str,
    source: &'a str,
    run_id: Option<i64>,
    now: NaiveDateTime,
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
    let mut known = Known {
        users: read_users(db, step.tenant, &user_ids)?,
        groups: read_groups(db, step.tenant, &group_ids)?,
    };
    known.users.extend(doomed.users);
    known.groups.extend(doomed.groups);
    let origin = Origin {
        tenant: step.tenant,
        source: step.source,
        run_id,
        now: step.now,
    };
    insert(db, origin, &known, pending)
}

/// Records that a SCIM write changed a group's attributes (which it writes without a plan).
pub(crate) fn group_attributes_changed(
    db: &mut Db,
    tenant: &str,
    group_id: i64,
    source: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let known = Known {
        users: HashMap::new(),
        groups: read_groups(db, tenant, &[group_id])?,
    };
    let change = Pending {
        kind: kind::GROUP_UPDATED,
        subject: Subject::Group(group_id),
        fields: Cow::Borrowed(&["attributes"]),
    };
    let origin = Origin {
        tenant,
        source,
        run_id: None,
        now,
    };
    insert(db, origin, &known, vec![change])
}

/// The plan's changes in the order the apply makes them.
fn list(step: &Step<'_>, new_users: &[i64], new_groups: &[i64], doomed: &Doomed) -> Vec<Pending> {
    let plan = step.plan;
    let mut out = Vec::new();
    let mut push = |kind, subject, fields: Fields| {
        out.push(Pending {
            kind,
            subject,
            fields,
        })
    };
    for d in &plan.deactivations {
        push(
            kind::USER_DEACTIVATED,
            Subject::User(d.user_id),
            Cow::Borrowed(&["active"]),
        );
    }
    for &(group, user) in &doomed.memberships {
        push(
            kind::MEMBER_REMOVED,
            Subject::Member { group, user },
            Cow::Borrowed(&["members"]),
        );
    }
    for p in &plan.purges {
        push(kind::USER_DELETED, Subject::User(p.user_id), Cow::Borrowed(&[]));
    }
    for u in &plan.user_updates {
        let fields = Cow::Owned(u.changes.iter().map(|c| c.field.column()).collect());
        push(kind::USER_UPDATED, Subject::User(u.user_id), fields);
    }
    for l in plan.user_links.iter().filter(|l| l.owner) {
        push(
            kind::USER_UPDATED,
            Subject::User(l.user_id),
            Cow::Borrowed(&["source", "external_id"]),
        );
    }
    for r in &plan.reactivations {
        push(
            kind::USER_REACTIVATED,
            Subject::User(r.user_id),
            Cow::Borrowed(&["active"]),
        );
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
        push(kind::USER_CREATED, Subject::User(id), Cow::Owned(fields));
    }
    for &id in new_groups {
        push(
            kind::GROUP_CREATED,
            Subject::Group(id),
            Cow::Borrowed(&["external_id", "source", "display_name"]),
        );
    }
    for g in &plan.group_links {
        push(
            kind::GROUP_UPDATED,
            Subject::Group(g.group_id),
            Cow::Borrowed(&["source", "external_id"]),
        );
    }
    for g in &plan.group_renames {
        push(
            kind::GROUP_UPDATED,
            Subject::Group(g.group_id),
            Cow::Borrowed(&["display_name"]),
        );
    }
    for g in &plan.group_deletes {
        push(
            kind::GROUP_DELETED,
            Subject::Group(g.group_id),
            Cow::Borrowed(&[]),
        );
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
                Cow::Borrowed(&["members"]),
            );
        }
        for &user in &m.removed {
            push(
                kind::MEMBER_REMOVED,
                Subject::Member { group, user },
                Cow::Borrowed(&["members"]),
            );
        }
    }
    out
}

impl Known {
    /// Whether `subject` is the tenant's. A change whose object is not was no change: a plan
    /// changes only its own tenant's rows (every statement filters by tenant).
    fn has(&self, subject: Subject) -> bool {
        match subject {
            Subject::User(id) => self.users.contains_key(&id),
            Subject::Group(id) => self.groups.contains_key(&id),
            Subject::Member { group, user } => {
                self.groups.contains_key(&group) && self.users.contains_key(&user)
            }
        }
    }

    /// The feed's row for `unit`, the changes `seq` on: its `data` assembled from the
    /// objects' rendered text. An object that an earlier row of this transaction already
    /// holds (`carried`) is named by that row's `seq` instead: as `object_seq` for the
    /// `object`, as a number in `members` for a membership's user.
    fn row<'a>(
        &'a self,
        unit: &[Pending],
        seq: i64,
        origin: Origin<'a>,
        carried: &mut Carried,
    ) -> Result<NewChange<'a>, StoreError> {
        let missing = || StoreError::BadData(format!("change {seq} names an object not read"));
        let first = unit.first().ok_or_else(missing)?;
        let (key, object) = match first.subject {
            Subject::User(id) => (Key::User(id), self.users.get(&id)),
            Subject::Group(id) | Subject::Member { group: id, .. } => (Key::Group(id), self.groups.get(&id)),
        };
        let object = object.ok_or_else(missing)?;
        let mut data = String::from("{");
        let object_seq = carried.get(&key).copied();
        if object_seq.is_none() {
            carried.insert(key, seq);
            data.push_str(r#""object":"#);
            data.push_str(&object.json);
        }
        if let Subject::Member { .. } = first.subject {
            if object_seq.is_none() {
                data.push(',');
            }
            data.push_str(r#""members":["#);
            for (i, change) in unit.iter().enumerate() {
                let Subject::Member { user, .. } = change.subject else {
                    return Err(missing());
                };
                if i > 0 {
                    data.push(',');
                }
                match carried.get(&Key::User(user)) {
                    Some(held) => data.push_str(&held.to_string()),
                    None => data.push_str(&self.users.get(&user).ok_or_else(missing)?.brief),
                }
            }
            data.push(']');
        }
        data.push('}');
        let len = i64::try_from(unit.len()).map_err(|_| missing())?;
        Ok(NewChange {
            seq,
            tenant_id: origin.tenant,
            change_type: first.kind,
            object_id: key.id(),
            scim_id: object.scim_id.as_deref(),
            external_id: object.external_id.as_deref(),
            source: origin.source,
            run_id: origin.run_id,
            occurred_at: origin.now,
            changed_fields: serde_json::to_string(&first.fields)?,
            data,
            last_seq: seq + len - 1,
            object_seq,
        })
    }
}

/// An object a change row holds in its `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    User(i64),
    Group(i64),
}

impl Key {
    fn id(self) -> i64 {
        match self {
            Key::User(id) | Key::Group(id) => id,
        }
    }
}

/// The `seq` of the first row of the transaction that holds each object.
type Carried = HashMap<Key, i64>;

/// The ids and the name of an object, for the `group` and `user` of a membership change.
pub(crate) fn brief(object: &Value, name: &str) -> Value {
    let mut out = Map::new();
    for key in ["type", "id", "scim_id", "external_id", name] {
        out.insert(key.to_owned(), object[key].clone());
    }
    Value::Object(out)
}

/// The most membership changes one row holds: a reader expands a row to read any of them.
const RUN: usize = 1000;

/// The changes as the rows that hold them: a run of one group's membership changes of one
/// kind shares a row (at most [`RUN`]); any other change has its own.
fn units(pending: &[Pending]) -> Vec<&[Pending]> {
    let group_of = |p: &Pending| match p.subject {
        Subject::Member { group, .. } => Some(group),
        _ => None,
    };
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=pending.len() {
        let joins = pending.get(i).is_some_and(|p| {
            let head = &pending[start];
            group_of(p).is_some() && group_of(p) == group_of(head) && p.kind == head.kind && i - start < RUN
        });
        if !joins {
            out.push(&pending[start..i]);
            start = i;
        }
    }
    out
}

/// Takes a block of `seq` for the changes whose objects are the tenant's (the lock that
/// orders commits; see the module's docs) and inserts their rows, one statement's worth at a
/// time: the rows of a first sync are never all in memory at once.
fn insert(
    db: &mut Db,
    origin: Origin<'_>,
    known: &Known,
    mut pending: Vec<Pending>,
) -> Result<(), StoreError> {
    pending.retain(|p| known.has(p.subject));
    if pending.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(pending.len()).map_err(|_| StoreError::BadData("too many changes".into()))?;
    let counter = change_counter::table.find(1);
    let last: i64 = with_conn!(db, |c| diesel::update(counter)
        .set(change_counter::last.eq(change_counter::last + n))
        .returning(change_counter::last)
        .get_result(c))?;
    let per_statement = match db {
        Db::Postgres(_) => bulk::ROWS,
        Db::Sqlite(_) => CHUNK,
    };
    let mut seq = last - n + 1;
    let mut carried = Carried::new();
    for chunk in units(&pending).chunks(per_statement) {
        let mut rows = Vec::with_capacity(chunk.len());
        for unit in chunk {
            let row = known.row(unit, seq, origin, &mut carried)?;
            seq = row.last_seq + 1;
            rows.push(row);
        }
        match db {
            Db::Postgres(c) if rows.len() >= bulk::COPY_FROM => {
                bulk::changes(c, &rows)?;
            }
            _ => insert_rows!(db, changes::table, rows.as_slice()),
        }
    }
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

/// The tenant's users `ids` rendered as JSON objects (README, "The change feed"), by id.
fn read_users(db: &mut Db, tenant: &str, ids: &[i64]) -> Result<Objects, StoreError> {
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
            let user = UserObject {
                kind: "user",
                id,
                scim_id: &scim_id,
                external_id: external_id.as_deref(),
                source: source.as_deref(),
                upn: &upn,
                email: email.as_deref(),
                display_name: dn.as_deref(),
                given_name: gn.as_deref(),
                family_name: fam.as_deref(),
                job_title: job.as_deref(),
                department: dep.as_deref(),
                preferred_language: lang.as_deref(),
                active,
                archived_at: archived_at.map(time),
                attributes: parsed(attributes.as_deref()),
                created_at: time(created_at),
                updated_at: time(updated_at),
            };
            let brief = UserBrief {
                kind: "user",
                id,
                scim_id: &scim_id,
                external_id: external_id.as_deref(),
                upn: &upn,
            };
            let rendered = Rendered {
                json: serde_json::to_string(&user)?,
                brief: serde_json::to_string(&brief)?,
                scim_id: Some(scim_id),
                external_id,
            };
            out.insert(id, rendered);
        }
    }
    Ok(out)
}

/// A user as the feed shows it (README, "The change feed"), serialized straight from its row:
/// a first sync renders 100,000 of them.
#[derive(Serialize)]
struct UserObject<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: i64,
    scim_id: &'a str,
    external_id: Option<&'a str>,
    source: Option<&'a str>,
    upn: &'a str,
    email: Option<&'a str>,
    display_name: Option<&'a str>,
    given_name: Option<&'a str>,
    family_name: Option<&'a str>,
    job_title: Option<&'a str>,
    department: Option<&'a str>,
    preferred_language: Option<&'a str>,
    active: bool,
    archived_at: Option<String>,
    attributes: Value,
    created_at: String,
    updated_at: String,
}

/// A user's ids and name, as a membership change's `user` ([`brief`] of its object).
#[derive(Serialize)]
struct UserBrief<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: i64,
    scim_id: &'a str,
    external_id: Option<&'a str>,
    upn: &'a str,
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

/// The tenant's groups `ids` rendered as JSON objects, by id.
fn read_groups(db: &mut Db, tenant: &str, ids: &[i64]) -> Result<Objects, StoreError> {
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
            out.insert(id, Rendered::new(&group, "display_name"));
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
