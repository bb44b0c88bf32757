//! Applying a plan: every change, its events, the run's counts and the source's cursor in one
//! transaction, so a crash leaves either the old state or the new one.
//!
//! The steps run in a fixed order, each an ordinary function over the connection: users
//! (`users.rs`), then groups and memberships (`groups.rs`), then conflicts, the cursor and the
//! run's end (`finish.rs`). Events are buffered in an [`EventLog`] and written in chunks.
//! Last, `changes.rs` writes the change feed's rows (it reads the rows the plan removes
//! before the other steps run), taking their `seq` at the very end so commits follow `seq`.

/// Inserts the slice `rows` into `table`, as SQLite (and PostgreSQL below `COPY`'s size)
/// takes them: one row as a single-row insert, whose statement is prepared once and reused
/// (a multi-row insert's text depends on its row count, so it is prepared anew each time);
/// more as multi-row inserts of at most [`CHUNK`] rows (SQLite's limit on bound values).
macro_rules! insert_rows {
    ($db:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        if let [one] = rows {
            with_conn!($db, |c| diesel::insert_into($table).values(one).execute(c))?;
        } else {
            for chunk in rows.chunks($crate::store::CHUNK) {
                with_conn!($db, |c| diesel::insert_into($table).values(chunk).execute(c))?;
            }
        }
    }};
}

mod bulk;
pub(crate) mod changes;
mod events;
mod finish;
mod groups;
mod users;

use chrono::NaiveDateTime;

use self::events::EventLog;
use super::runs::RunEnd;
use super::{Db, StoreError, CHUNK};
use crate::planner::{Plan, PlanCounts};

/// What happens to the source's cursor when the plan is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorUpdate {
    /// Store this cursor and count the run as a success (`full` also stamps the full sync).
    Advance { cursor: Option<String>, full: bool },
    /// Leave the cursor where it was (a held run must see its withheld changes again).
    Keep,
}

/// The run a plan belongs to.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    pub run_id: Option<i64>,
    /// The run's end, written in the same transaction (its counts are filled in here).
    pub run_end: Option<RunEnd>,
    pub now: NaiveDateTime,
    pub cursor: CursorUpdate,
}

/// One apply under way: the plan, its source and time, and the events not yet written.
struct Step<'a> {
    plan: &'a Plan,
    /// The tenant of the store applying it: every row written is its, every row changed
    /// must be its.
    tenant: &'a str,
    source: &'a str,
    now: NaiveDateTime,
    events: EventLog<'a>,
}

/// Whether `plan` is large enough to want the large page cache: a sync's, not a SCIM write's.
fn is_large(plan: &Plan) -> bool {
    let rows = plan.user_creates.len()
        + plan.user_updates.len()
        + plan.deactivations.len()
        + plan.group_creates.len()
        + plan
            .memberships
            .iter()
            .map(|m| m.added.len() + m.removed.len())
            .sum::<usize>();
    rows >= CHUNK
}

/// Applies `plan` to `tenant` in one transaction. Returns what it changed.
pub(crate) fn apply(
    db: &mut Db,
    tenant: &str,
    plan: &Plan,
    ctx: &ApplyContext,
) -> Result<PlanCounts, StoreError> {
    // A 64 MiB page cache (filled only as needed) keeps a large first sync's index pages in
    // memory instead of spilling them to the WAL again and again. Reads before the apply
    // keep the small default, and so does a small plan (a SCIM write), for which the pragma
    // would cost more than it saves.
    if is_large(plan) {
        db.sqlite_pragma("PRAGMA cache_size = -65536;")?;
    }
    db.transaction(|db| {
        let source = plan.source.as_str();
        let mut step = Step {
            plan,
            tenant,
            source,
            now: ctx.now,
            events: EventLog::new(ctx.run_id, tenant, source, ctx.now),
        };
        let doomed = changes::before(db, &step)?;
        // Deactivations first: they free sign-in names that updates and creates may take.
        users::deactivate(db, &mut step)?;
        users::mark_links(db, &step)?;
        users::purge(db, &mut step)?;
        users::update(db, &mut step)?;
        users::link(db, &mut step)?;
        users::reactivate(db, &mut step)?;
        let new_users = users::create(db, &mut step)?;
        let new_groups = groups::create(db, &mut step)?;
        groups::link_rename_delete(db, &mut step)?;
        groups::memberships(db, &mut step, &new_users, &new_groups)?;
        let new_conflicts = finish::conflicts(db, &step, ctx.run_id)?;
        step.events.flush(db)?;
        finish::cursor(db, &step, &ctx.cursor)?;
        let mut counts = plan.counts();
        counts.conflicts = new_conflicts;
        finish::run_end(db, tenant, ctx.run_end.as_ref(), counts, ctx.now)?;
        changes::write(db, &step, ctx.run_id, &new_users, &new_groups, doomed)?;
        Ok(counts)
    })
}
