//! The deletion guard: a plan that would deactivate or purge too much of a source at once is
//! held for a person to approve, because an upstream outage looks exactly like a mass exodus.

use serde::Deserialize;

use super::model::{DeactivationReason, Plan};
use crate::local::LocalState;

/// Thresholds, per connector.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardSettings {
    /// Hold the run when it would deactivate or purge more users than this.
    pub max_deactivations: u64,
    /// ... or more than this percentage of the source's users.
    pub max_deactivation_percent: f64,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            max_deactivations: 500,
            max_deactivation_percent: 20.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing destructive beyond the thresholds.
    Pass,
    /// The source's first sync has nothing to protect.
    FirstSync,
    /// Over a threshold, but an operator approved this run.
    Approved { reason: String },
    /// Over a threshold: apply only what is not destructive.
    Hold { reason: String },
}

/// Judges a plan against the thresholds. Groups count like users: deleting a fifth of a
/// source's groups at once is as suspicious as deactivating a fifth of its people.
pub fn judge(plan: &Plan, local: &LocalState, settings: &GuardSettings, approved: bool) -> Verdict {
    if local.first_sync {
        return Verdict::FirstSync;
    }
    let source = plan.source.as_str();
    let (owned_users, owned_groups) = local.owned_counts.unwrap_or_else(|| {
        (
            local
                .users
                .iter()
                .filter(|u| u.source.as_deref() == Some(source))
                .count() as u64,
            local
                .groups
                .iter()
                .filter(|g| g.source.as_deref() == Some(source))
                .count() as u64,
        )
    });
    let users = (plan.deactivations.len() + plan.purges.len()) as u64;
    let groups = plan.group_deletes.len() as u64;
    let reason = empties_the_source(plan, local)
        .or_else(|| over(users, owned_users, "users", settings))
        .or_else(|| over(groups, owned_groups, "groups", settings));
    match (reason, approved) {
        (None, _) => Verdict::Pass,
        (Some(reason), true) => Verdict::Approved { reason },
        (Some(reason), false) => Verdict::Hold { reason },
    }
}

/// A complete answer that no longer lists a single one of the source's active users is far more
/// often an empty or broken listing (an expired admin role, a filter gone wrong, a proxy's
/// empty page) than a company that let everyone go. Such a run is held whatever the thresholds
/// say, so a permissive `max_deactivation_percent` cannot turn an empty answer into a mass
/// deactivation. Only a full load can tell: a targeted load sees part of the source.
fn empties_the_source(plan: &Plan, local: &LocalState) -> Option<String> {
    if local.owned_counts.is_some() {
        return None;
    }
    let source = plan.source.as_str();
    let active = local
        .users
        .iter()
        .filter(|u| u.source.as_deref() == Some(source) && u.active && u.archived_at.is_none())
        .count();
    let removed = plan
        .deactivations
        .iter()
        .filter(|d| d.reason == Some(DeactivationReason::Removed))
        .count();
    (active > 0 && removed >= active).then(|| {
        format!(
            "the source no longer lists any of its {active} active users: an empty or partial \
             answer is held whatever the thresholds"
        )
    })
}

fn over(count: u64, base: u64, what: &str, settings: &GuardSettings) -> Option<String> {
    if count == 0 {
        return None;
    }
    let percent = if base == 0 {
        100.0
    } else {
        count as f64 * 100.0 / base as f64
    };
    if count > settings.max_deactivations {
        Some(format!(
            "would deactivate or delete {count} {what}, more than max_deactivations = {}",
            settings.max_deactivations
        ))
    } else if percent > settings.max_deactivation_percent {
        Some(format!(
            "would deactivate or delete {count} of {base} {what} ({percent:.1}%), more than \
             max_deactivation_percent = {}",
            settings.max_deactivation_percent
        ))
    } else {
        None
    }
}

/// Splits a held plan: what may still be applied, and the destructive part kept back.
pub fn withhold_destructive(plan: &Plan) -> (Plan, Plan) {
    let mut safe = plan.clone();
    let mut held = Plan {
        source: plan.source.clone(),
        ..Plan::default()
    };
    held.deactivations = std::mem::take(&mut safe.deactivations);
    held.purges = std::mem::take(&mut safe.purges);
    held.group_deletes = std::mem::take(&mut safe.group_deletes);
    held.links_removed = std::mem::take(&mut safe.links_removed);
    let leaving: std::collections::HashSet<i64> = held.deactivations.iter().map(|d| d.user_id).collect();
    for change in &mut safe.memberships {
        let (keep, hold): (Vec<i64>, Vec<i64>) = change.removed.iter().partition(|id| !leaving.contains(id));
        change.removed = keep;
        if !hold.is_empty() {
            let mut held_change = change.clone();
            held_change.added.clear();
            held_change.removed = hold;
            held.memberships.push(held_change);
        }
    }
    safe.memberships
        .retain(|m| !m.added.is_empty() || !m.removed.is_empty());
    held.user_labels = plan.user_labels.clone();
    (safe, held)
}
