//! Reading the change feed (written by `apply/changes.rs`): a tenant's changes after a `seq`,
//! every tenant's for a consumer of one feed, the feed's end, and pruning.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::any_of::any_of;
use super::apply::changes::brief;
use super::schema::{change_counter, changes};
use super::{with_conn, Db, Store, StoreError, CHUNK};

pub use super::apply::changes::kind;

/// One row of the feed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    pub seq: i64,
    pub tenant_id: String,
    pub change_type: String,
    pub object_id: i64,
    pub scim_id: Option<String>,
    pub external_id: Option<String>,
    pub source: String,
    pub run_id: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub changed_fields: String,
    /// The change's JSON (`object`, and `group` and `user` for a membership), whole: the
    /// objects held by reference are filled in as the row is read ([`after`]).
    pub data: String,
}

impl ChangeRow {
    /// The change as the events API answers it and a webhook's `data` carries it:
    /// `{"seq", "tenant_id", "type", "occurred_at", "source", "run_id", "changed_fields",
    /// "object"}`, and `"group"` and `"user"` for a membership change.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("seq".into(), self.seq.into());
        out.insert("tenant_id".into(), self.tenant_id.clone().into());
        out.insert("type".into(), self.change_type.clone().into());
        let occurred_at = super::apply::changes::time(self.occurred_at);
        out.insert("occurred_at".into(), occurred_at.into());
        out.insert("source".into(), self.source.clone().into());
        out.insert("run_id".into(), self.run_id.map_or(Value::Null, Value::from));
        let fields = serde_json::from_str(&self.changed_fields).unwrap_or(Value::Array(Vec::new()));
        out.insert("changed_fields".into(), fields);
        if let Ok(Value::Object(data)) = serde_json::from_str(&self.data) {
            out.extend(data);
        }
        Value::Object(out)
    }
}

/// A stored time as the feed writes it (RFC 3339, UTC, microseconds).
pub fn time_text(t: NaiveDateTime) -> String {
    super::apply::changes::time(t)
}

/// A row as stored: it may hold a run of membership changes (`seq` to `last_seq`), and its
/// `data` may name objects that earlier rows hold (`object_seq`, and numbers in `members`;
/// see `apply/changes.rs`).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = changes)]
struct StoredChange {
    #[diesel(embed)]
    row: ChangeRow,
    object_seq: Option<i64>,
}

/// Changes after `after`, in `seq` order, at most `limit`: the tenant's, or every tenant's
/// when `tenant` is `None` (the whole-database feed of `GET /admin/v1/changes`). A row's run
/// ends past `after` when any of its changes is wanted.
pub(crate) fn after(
    db: &mut Db,
    tenant: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    let base = changes::table
        .filter(changes::last_seq.gt(after))
        .order(changes::last_seq)
        .limit(limit);
    let stored = match tenant {
        Some(tenant) => {
            let query = base.filter(changes::tenant_id.eq(tenant));
            with_conn!(db, |c| query.select(StoredChange::as_select()).load(c))?
        }
        None => with_conn!(db, |c| base.select(StoredChange::as_select()).load(c))?,
    };
    let loaded: Vec<_> = stored
        .into_iter()
        .map(|s| {
            let filling = s.needs_filling().then(|| parsed(&s.row.data));
            (s, filling)
        })
        .collect();
    let objects = held_objects(db, &loaded)?;
    let mut out = Vec::new();
    for (s, filling) in loaded {
        s.expand(filling, &objects, after, &mut out);
    }
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(out)
}

/// A row's `data`, parsed (an unreadable one as empty: the feed never fails on it).
fn parsed(data: &str) -> Map<String, Value> {
    match serde_json::from_str(data) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A stored row, with its `data` parsed when the row needs filling in.
type Loaded = (StoredChange, Option<Map<String, Value>>);

/// The objects that the rows name by `seq`, read from the rows that hold them (on this page,
/// or earlier rows of the same transactions).
fn held_objects(db: &mut Db, loaded: &[Loaded]) -> Result<HashMap<i64, Value>, StoreError> {
    let mut wanted: Vec<i64> = Vec::new();
    for (s, filling) in loaded {
        wanted.extend(s.object_seq);
        if let Some(Value::Array(members)) = filling.as_ref().and_then(|d| d.get("members")) {
            wanted.extend(members.iter().filter_map(Value::as_i64));
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut objects = HashMap::new();
    for (s, filling) in loaded {
        if wanted.binary_search(&s.row.seq).is_ok() {
            let object = match filling {
                Some(data) => data.get("object").cloned(),
                None => parsed(&s.row.data).remove("object"),
            };
            objects.insert(s.row.seq, object.unwrap_or_default());
        }
    }
    wanted.retain(|seq| !objects.contains_key(seq));
    for chunk in wanted.chunks(CHUNK) {
        let held: Vec<(i64, String)> = with_conn!(db, |c| changes::table
            .filter(any_of(changes::seq, chunk))
            .select((changes::seq, changes::data))
            .load(c))?;
        for (seq, data) in held {
            objects.insert(seq, parsed(&data).remove("object").unwrap_or_default());
        }
    }
    Ok(objects)
}

impl StoredChange {
    /// Whether the stored `data` is not the whole change: it names its object, or it is a
    /// membership (whose `group`, and for a run whose changes, are filled in on reading).
    fn needs_filling(&self) -> bool {
        self.object_seq.is_some() || self.row.change_type.starts_with("group.member_")
    }

    /// Pushes the row's changes after `after` onto `out`, each whole: its `object` (read
    /// from the row that holds it when named by `object_seq`) and, for a membership, its
    /// `group` and `user` as the ids and the name of each. `filling` is the parsed `data` of
    /// a row that [needs filling](Self::needs_filling).
    fn expand(
        self,
        filling: Option<Map<String, Value>>,
        objects: &HashMap<i64, Value>,
        after: i64,
        out: &mut Vec<ChangeRow>,
    ) {
        let row = self.row;
        let Some(mut data) = filling else {
            out.push(row);
            return;
        };
        if let Some(o) = self.object_seq.and_then(|s| objects.get(&s)) {
            data.insert("object".into(), o.clone());
        }
        let Some(Value::Array(members)) = data.remove("members") else {
            // One change: a user's or group's, or a membership stored before runs (whose
            // `group` and `user` are in its `data`).
            out.push(ChangeRow {
                data: Value::Object(data).to_string(),
                ..row
            });
            return;
        };
        let object = data.remove("object").unwrap_or_default();
        let group = brief(&object, "display_name");
        for (seq, member) in (row.seq..).zip(members) {
            if seq <= after {
                continue;
            }
            let user = match member.as_i64() {
                Some(held) => brief(objects.get(&held).unwrap_or(&Value::Null), "upn"),
                None => member,
            };
            let data = serde_json::json!({ "object": object, "group": group, "user": user });
            out.push(ChangeRow {
                seq,
                data: data.to_string(),
                ..row.clone()
            });
        }
    }
}

/// The last `seq` handed out (committed). Whole database: `seq` is one sequence for all.
pub(crate) fn last_seq(db: &mut Db) -> Result<i64, StoreError> {
    Ok(with_conn!(db, |c| change_counter::table
        .find(1)
        .select(change_counter::last)
        .first(c))?)
}

/// Deletes the tenant's changes older than `before`; returns how many.
pub(crate) fn prune(db: &mut Db, tenant: &str, before: NaiveDateTime) -> Result<usize, StoreError> {
    let old = changes::tenant_id.eq(tenant).and(changes::occurred_at.lt(before));
    Ok(with_conn!(db, |c| diesel::delete(changes::table.filter(old)).execute(c))?)
}

impl Store {
    /// The tenant's changes after `seq`, oldest first.
    pub async fn changes_after(&self, seq: i64, limit: i64) -> Result<Vec<ChangeRow>, StoreError> {
        self.scoped(move |db, t| after(db, Some(t), seq, limit)).await
    }

    /// Every tenant's changes after `seq`, oldest first. Whole database: for a consumer of
    /// the one feed (`GET /admin/v1/changes`).
    pub async fn all_changes_after(&self, seq: i64, limit: i64) -> Result<Vec<ChangeRow>, StoreError> {
        self.unit(move |db| after(db, None, seq, limit)).await
    }

    /// Changes after `seq` (the tenant's, or all with `all`), waiting up to `wait` for one
    /// when there are none yet. No connection is held while waiting: a change applied by this
    /// process wakes the wait at once, one of another process is seen on the next look
    /// (every [`POLL`]).
    pub async fn wait_for_changes(
        &self,
        seq: i64,
        limit: i64,
        wait: Duration,
        all: bool,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut applied = self.subscribe_changes();
        loop {
            let rows = if all {
                self.all_changes_after(seq, limit).await?
            } else {
                self.changes_after(seq, limit).await?
            };
            let now = tokio::time::Instant::now();
            if !rows.is_empty() || now >= deadline {
                return Ok(rows);
            }
            let nap = POLL.min(deadline - now);
            let _ = tokio::time::timeout(nap, applied.changed()).await;
        }
    }

    /// The feed's end: the last `seq` handed out. Whole database.
    pub async fn last_change_seq(&self) -> Result<i64, StoreError> {
        self.unit(last_seq).await
    }

    /// Prunes the tenant's changes older than `before`; returns how many.
    pub async fn prune_changes(&self, before: NaiveDateTime) -> Result<usize, StoreError> {
        self.scoped(move |db, t| prune(db, t, before)).await
    }
}

/// How often a wait for changes looks at the database (for changes of other processes).
pub const POLL: Duration = Duration::from_millis(250);
