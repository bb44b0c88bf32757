//! `planner::plan`, the planning function: (what the source says, what the store has, settings, now) -> Plan.
//! Pure: no I/O, no clock, no randomness, so every case is a plain-data test.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use idsync_source::{Fetched, UserRecord};

use super::groups::{plan_groups, GroupContext};
use super::model::*;
use crate::local::{Link, LocalState, LocalUser};
use crate::matcher::{identity_key, Conflict, ConflictReason, Incoming, MatchOutcome, MatchedBy, Matcher};

/// What a source's configuration says about planning.
#[derive(Debug, Clone, Default)]
pub struct PlanSettings {
    /// Adopt an unowned local group with the same display name instead of creating one.
    pub match_groups_by_name: bool,
    /// Purge users archived and gone upstream for this many days; `None` keeps them forever.
    pub delete_archived_after_days: Option<u32>,
    /// Fields set when a user is created and never updated afterwards (a mapping's "only on
    /// create"), so the application may change them.
    pub create_only: Vec<UserField>,
}

/// How a matched record relates to its local user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The source owns the user: attributes and status follow the record.
    Owner,
    /// A local (or orphaned) user the source takes over.
    Adopt,
    /// Another source owns the person; this source only links and manages its memberships.
    Secondary,
}

#[derive(Debug)]
enum Decision<'r> {
    Existing {
        user: usize,
        by: MatchedBy,
        role: Role,
        record: &'r UserRecord,
    },
    /// `index` is the record's position in the fetched users, whence it moves into the plan.
    Create { record: &'r UserRecord, index: usize },
    Refused {
        record: &'r UserRecord,
        conflict: Conflict,
    },
}

/// Builds the plan for one source run. It takes the fetched data so that new users' records
/// move into the plan instead of being copied (a first sync can carry 100,000 of them).
pub fn plan(
    source: &str,
    fetched: Fetched,
    local: &LocalState,
    settings: &PlanSettings,
    now: NaiveDateTime,
) -> Plan {
    let matcher = Matcher::new(&local.users, &local.links).kept_apart(&local.kept_apart);
    let (records, removed, complete): (&[UserRecord], HashSet<&str>, bool) = match &fetched {
        Fetched::Snapshot(s) => (&s.users, HashSet::new(), true),
        Fetched::Changes(c) => (
            &c.users,
            c.removed_users.iter().map(String::as_str).collect(),
            false,
        ),
    };
    let present: HashSet<&str> = records.iter().map(|r| r.external_id.as_str()).collect();
    let is_live = |link: &Link| {
        present.contains(link.external_id.as_str())
            || (!complete && link.removed_at.is_none() && !removed.contains(link.external_id.as_str()))
    };

    let mut plan = Plan {
        source: source.to_owned(),
        ..Plan::default()
    };
    let mut decisions = decide_users(source, records, &matcher, &is_live);
    settle_upn_collisions(source, &mut decisions, &matcher, &removed, &present, complete);

    let Placed {
        slots,
        protected,
        mut archived_after,
        creates,
    } = place_users(&mut plan, &matcher, source, local, settings, &decisions);
    plan_departures(
        &mut plan,
        &matcher,
        source,
        &present,
        &removed,
        complete,
        &mut archived_after,
    );
    plan_purges(&mut plan, &matcher, source, settings, now);
    plan_groups(
        &mut plan,
        &GroupContext {
            matcher: &matcher,
            source,
            fetched: &fetched,
            local,
            match_by_name: settings.match_groups_by_name,
            slots: &slots,
            archived_after: &archived_after,
            protected: &protected,
        },
    );
    drop(slots);
    drop(decisions);
    let mut users = match fetched {
        Fetched::Snapshot(s) => s.users,
        Fetched::Changes(c) => c.users,
    };
    plan.user_creates = creates
        .into_iter()
        .map(|i| std::mem::take(&mut users[i]))
        .collect();
    plan
}

/// Where the users' decisions leave the run.
struct Placed<'r> {
    /// External id -> the user it now denotes.
    slots: HashMap<&'r str, UserRef>,
    /// Users the run must not touch on absence: their record is present but refused.
    protected: HashSet<i64>,
    /// Users that end the run archived (their memberships are kept, not removed).
    archived_after: HashSet<i64>,
    /// Positions of the records to create, in plan order.
    creates: Vec<usize>,
}

/// Plans each decided record: conflicts for the refused, updates for the existing, and the
/// slots of those to create; notes the open conflicts the run resolves.
fn place_users<'r>(
    plan: &mut Plan,
    matcher: &Matcher<'_>,
    source: &str,
    local: &LocalState,
    settings: &PlanSettings,
    decisions: &[Decision<'r>],
) -> Placed<'r> {
    let mut placed = Placed {
        slots: HashMap::with_capacity(decisions.len()),
        protected: HashSet::new(),
        archived_after: local
            .users
            .iter()
            .filter(|u| u.is_archived())
            .map(|u| u.id)
            .collect(),
        creates: Vec::new(),
    };
    for decision in decisions {
        match decision {
            Decision::Create { record, index } => {
                placed
                    .slots
                    .insert(record.external_id.as_str(), UserRef::New(placed.creates.len()));
                placed.creates.push(*index);
            }
            Decision::Refused { record, conflict } => {
                if let Some(user) = matcher.linked(source, &record.external_id) {
                    placed.protected.insert(local.users[user].id);
                }
                plan.conflicts.push(PlannedConflict {
                    record: (*record).clone(),
                    conflict: conflict.clone(),
                });
            }
            Decision::Existing {
                user,
                by,
                role,
                record,
            } => {
                let u = &local.users[*user];
                placed
                    .slots
                    .insert(record.external_id.as_str(), UserRef::Existing(u.id));
                plan_existing_user(
                    plan,
                    matcher,
                    source,
                    u,
                    *by,
                    *role,
                    record,
                    &settings.create_only,
                    &mut placed.archived_after,
                );
            }
        }
        let record = match decision {
            Decision::Create { record, .. } | Decision::Existing { record, .. } => Some(record),
            Decision::Refused { .. } => None,
        };
        if let Some(r) = record.filter(|r| local.open_conflicts.contains(&r.external_id)) {
            plan.conflicts_resolved.push(r.external_id.clone());
        }
    }
    placed
}

fn decide_users<'r>(
    source: &str,
    records: &'r [UserRecord],
    matcher: &Matcher<'_>,
    is_live: &dyn Fn(&Link) -> bool,
) -> Vec<Decision<'r>> {
    // The same external id twice: identical copies collapse, different ones are refused.
    let mut first: HashMap<&str, &UserRecord> = HashMap::with_capacity(records.len());
    let mut doubled: HashSet<&str> = HashSet::new();
    for r in records {
        if let Some(seen) = first.insert(r.external_id.as_str(), r) {
            if seen != r {
                doubled.insert(r.external_id.as_str());
            }
        }
    }
    let mut decided: HashSet<&str> = HashSet::with_capacity(records.len());
    let mut decisions = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if !decided.insert(record.external_id.as_str()) {
            continue;
        }
        if doubled.contains(record.external_id.as_str()) {
            decisions.push(Decision::Refused {
                record,
                conflict: Conflict {
                    reason: ConflictReason::DuplicateRecord,
                    local_user: matcher
                        .linked(source, &record.external_id)
                        .map(|i| matcher.users()[i].id),
                    other_user: None,
                    detail: format!(
                        "the source sent different records for external id {}",
                        record.external_id
                    ),
                },
            });
            continue;
        }
        let incoming = Incoming::from_record(source, record);
        decisions.push(match matcher.find(&incoming, is_live) {
            MatchOutcome::New => Decision::Create { record, index },
            MatchOutcome::Conflict(conflict) => Decision::Refused { record, conflict },
            MatchOutcome::Found { user, by } => {
                let u = &matcher.users()[user];
                let role = match u.source.as_deref() {
                    Some(s) if s == source && u.external_id.as_deref() == Some(&record.external_id) => {
                        Role::Owner
                    }
                    None => Role::Adopt,
                    Some(s) if s == source => Role::Adopt,
                    Some(_) => Role::Secondary,
                };
                Decision::Existing {
                    user,
                    by,
                    role,
                    record,
                }
            }
        });
    }
    decisions
}

/// A decision that makes a user hold a sign-in name it did not hold live before the run: a
/// create, a rename, a reactivation. Only these can collide; everyone else keeps what they had.
fn newcomer_key(decision: &Decision<'_>, users: &[LocalUser]) -> Option<String> {
    match decision {
        Decision::Create { record, .. } if record.enabled => Some(identity_key(&record.upn)),
        Decision::Existing {
            user,
            role: Role::Owner | Role::Adopt,
            record,
            ..
        } if record.enabled => {
            let u = &users[*user];
            let same_name = u.upn.trim() == record.upn || identity_key(&u.upn) == identity_key(&record.upn);
            (u.is_archived() || !same_name).then(|| identity_key(&record.upn))
        }
        _ => None,
    }
}

/// Refuses every change that would leave two live users with one sign-in name, keeping the
/// user who holds the name now. Repeats until stable: refusing a rename puts the old name back.
fn settle_upn_collisions(
    source: &str,
    decisions: &mut [Decision<'_>],
    matcher: &Matcher<'_>,
    removed: &HashSet<&str>,
    present: &HashSet<&str>,
    complete: bool,
) {
    let users = matcher.users();
    loop {
        let mut newcomers: HashMap<String, Vec<usize>> = HashMap::new();
        for (d, decision) in decisions.iter().enumerate() {
            if let Some(key) = newcomer_key(decision, users) {
                newcomers.entry(key).or_default().push(d);
            }
        }
        if newcomers.is_empty() {
            return;
        }
        // Where each touched user ends: its new name, or nowhere when it ends archived.
        let mut ends: HashMap<usize, Option<String>> = HashMap::new();
        for decision in decisions.iter() {
            if let Decision::Existing {
                user,
                role: Role::Owner | Role::Adopt,
                record,
                ..
            } = decision
            {
                ends.insert(*user, record.enabled.then(|| identity_key(&record.upn)));
            }
        }
        let leaving = |u: &LocalUser| {
            u.source.as_deref() == Some(source)
                && u.external_id.as_deref().is_some_and(|ext| {
                    if complete {
                        !present.contains(ext)
                    } else {
                        removed.contains(ext)
                    }
                })
        };
        let mut refuse: Vec<(usize, Option<i64>, String)> = Vec::new();
        for (key, claimants) in newcomers {
            // A live user that keeps this name through the run.
            let holder = matcher.users_with_key(&key).into_iter().find(|&i| {
                let u = &users[i];
                !u.is_archived()
                    && match ends.get(&i) {
                        Some(end) => end.as_deref() == Some(key.as_str()),
                        None => !leaving(u),
                    }
                    && !claimants
                        .iter()
                        .any(|&d| matches!(decisions[d], Decision::Existing { user, .. } if user == i))
            });
            if holder.is_none() && claimants.len() == 1 {
                continue;
            }
            let holder = holder.map(|i| users[i].id);
            for d in claimants {
                let detail = match holder {
                    Some(id) => format!("upn {key} is held by live local user #{id}"),
                    None => format!("upn {key} is claimed by several records of this run"),
                };
                refuse.push((d, holder, detail));
            }
        }
        if refuse.is_empty() {
            return;
        }
        for (d, holder, detail) in refuse {
            let (record, local_user) = match &decisions[d] {
                Decision::Existing { record, user, .. } => (*record, Some(users[*user].id)),
                Decision::Create { record, .. } => (*record, None),
                Decision::Refused { .. } => continue,
            };
            decisions[d] = Decision::Refused {
                record,
                conflict: Conflict {
                    reason: ConflictReason::UpnTaken,
                    local_user: local_user.or(holder),
                    other_user: if local_user.is_some() { holder } else { None },
                    detail,
                },
            };
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_existing_user(
    plan: &mut Plan,
    matcher: &Matcher<'_>,
    source: &str,
    u: &LocalUser,
    by: MatchedBy,
    role: Role,
    record: &UserRecord,
    create_only: &[UserField],
    archived_after: &mut HashSet<i64>,
) {
    let link = matcher
        .links_of(u.id)
        .iter()
        .find(|l| l.source == source && l.external_id == record.external_id);
    match link {
        None => plan.user_links.push(UserLink {
            user_id: u.id,
            upn: u.upn.clone(),
            external_id: record.external_id.clone(),
            by: by.as_str(),
            owner: role != Role::Secondary,
        }),
        Some(l) if l.removed_at.is_some() => plan.links_returned.push(record.external_id.clone()),
        Some(_) => {}
    }
    if role == Role::Secondary {
        return;
    }
    let changes: Vec<FieldChange> = UserField::ALL
        .iter()
        .filter(|field| !create_only.contains(field))
        .filter_map(|&field| {
            let before = local_field(u, field);
            let after = field.of_record(record);
            (before != after).then(|| FieldChange {
                field,
                before: before.map(str::to_owned),
                after: after.map(str::to_owned),
            })
        })
        .collect();
    if !changes.is_empty() {
        plan.user_updates.push(UserUpdate {
            user_id: u.id,
            upn: u.upn.clone(),
            changes,
        });
    }
    if record.enabled && (!u.active || u.is_archived()) {
        archived_after.remove(&u.id);
        plan.reactivations.push(StatusChange {
            user_id: u.id,
            upn: record.upn.clone(),
            reason: None,
        });
    } else if !record.enabled && (u.active || !u.is_archived()) {
        archived_after.insert(u.id);
        plan.deactivations.push(StatusChange {
            user_id: u.id,
            upn: record.upn.clone(),
            reason: Some(DeactivationReason::Disabled),
        });
    }
}

fn local_field(u: &LocalUser, field: UserField) -> Option<&str> {
    match field {
        UserField::Upn => Some(u.upn.as_str()),
        UserField::Email => u.email.as_deref(),
        UserField::DisplayName => u.display_name.as_deref(),
        UserField::GivenName => u.given_name.as_deref(),
        UserField::FamilyName => u.family_name.as_deref(),
        UserField::JobTitle => u.job_title.as_deref(),
        UserField::Department => u.department.as_deref(),
        UserField::PreferredLanguage => u.preferred_language.as_deref(),
        UserField::Attributes => u.attributes.as_deref(),
    }
}

/// Identities the source no longer lists: a complete snapshot's absences, or explicit removals.
fn plan_departures(
    plan: &mut Plan,
    matcher: &Matcher<'_>,
    source: &str,
    present: &HashSet<&str>,
    removed: &HashSet<&str>,
    complete: bool,
    archived_after: &mut HashSet<i64>,
) {
    let users = matcher.users();
    for user in users {
        for link in matcher.links_of(user.id).iter().filter(|l| l.source == source) {
            let gone = if complete {
                !present.contains(link.external_id.as_str())
            } else {
                removed.contains(link.external_id.as_str())
            };
            if !gone {
                continue;
            }
            if link.removed_at.is_none() {
                plan.links_removed.push(link.external_id.clone());
            }
            let owner = user.source.as_deref() == Some(source)
                && user.external_id.as_deref() == Some(link.external_id.as_str());
            if owner && (user.active || !user.is_archived()) {
                archived_after.insert(user.id);
                plan.deactivations.push(StatusChange {
                    user_id: user.id,
                    upn: user.upn.clone(),
                    reason: Some(DeactivationReason::Removed),
                });
            }
        }
    }
}

/// Owned users archived and gone upstream for longer than the retention.
fn plan_purges(
    plan: &mut Plan,
    matcher: &Matcher<'_>,
    source: &str,
    settings: &PlanSettings,
    now: NaiveDateTime,
) {
    let Some(days) = settings.delete_archived_after_days else {
        return;
    };
    let cutoff = now - Duration::days(i64::from(days));
    for user in matcher
        .users()
        .iter()
        .filter(|u| u.source.as_deref() == Some(source))
    {
        let Some(archived_at) = user.archived_at else {
            continue;
        };
        let owner_link = matcher
            .links_of(user.id)
            .iter()
            .find(|l| l.source == source && user.external_id.as_deref() == Some(l.external_id.as_str()));
        let Some(removed_at) = owner_link.and_then(|l| l.removed_at) else {
            continue;
        };
        if plan
            .links_returned
            .iter()
            .any(|e| user.external_id.as_deref() == Some(e.as_str()))
        {
            continue;
        }
        if archived_at.max(removed_at) <= cutoff {
            plan.purges.push(Purge {
                user_id: user.id,
                upn: user.upn.clone(),
                archived_at: Some(archived_at),
            });
        }
    }
}
