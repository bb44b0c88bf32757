//! Reading what one source's run needs to see.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use super::models::{GroupRow, LinkRow, UserRow};
use super::schema::{conflicts, group_members, groups, sync_state, user_links, users};
use super::{with_conn, Db, StoreError};
use crate::local::LocalState;

/// Loads the local state for `source`.
pub fn load_local(db: &mut Db, source: &str) -> Result<LocalState, StoreError> {
    with_conn!(db, c => {
        let users = users::table.select(UserRow::as_select()).load(c)?;
        let links = user_links::table.select(LinkRow::as_select()).load(c)?;
        let groups = groups::table
            .filter(groups::source.eq(source).or(groups::source.is_null()))
            .select(GroupRow::as_select())
            .load(c)?;
        let pairs: Vec<(i64, i64)> = group_members::table
            .inner_join(groups::table)
            .filter(groups::source.eq(source))
            .select((group_members::group_id, group_members::user_id))
            .load(c)?;
        let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
        for (g, u) in pairs {
            members.entry(g).or_default().insert(u);
        }
        let open_conflicts: HashSet<String> = conflicts::table
            .filter(conflicts::connector.eq(source).and(conflicts::status.eq("open")))
            .select(conflicts::external_id)
            .load::<String>(c)?
            .into_iter()
            .collect();
        let last_success: Option<Option<chrono::NaiveDateTime>> = sync_state::table
            .find(source)
            .select(sync_state::last_success_at)
            .first(c)
            .optional()?;
        Ok(LocalState {
            users: users.into_iter().map(Into::into).collect(),
            links: links.into_iter().map(Into::into).collect(),
            groups: groups.into_iter().map(Into::into).collect(),
            members,
            open_conflicts,
            first_sync: last_success.flatten().is_none(),
        })
    })
}
