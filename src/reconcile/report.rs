//! What a run reports: its one outcome type and the figures the CLI, the supervisor, the
//! metrics and the alert mails read.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::planner::{Plan, PlanCounts, Verdict};

/// How a run ended: for the CLI, the daemon, quarantine, metrics and alerts alike.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Held {
        reason: String,
    },
    Failed {
        error: String,
        /// True when retrying cannot help (credentials, configuration).
        needs_operator: bool,
    },
    DryRun,
}

impl Outcome {
    /// The name used in metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Held { .. } => "held",
            Outcome::Failed { .. } => "failed",
            Outcome::DryRun => "dry_run",
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    /// For a failed run: true when retrying cannot help (credentials, configuration).
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Outcome::Failed {
                needs_operator: true,
                ..
            }
        )
    }

    /// The error of a failed run, else "".
    pub fn error(&self) -> &str {
        match self {
            Outcome::Failed { error, .. } => error,
            _ => "",
        }
    }
}

#[derive(Debug)]
pub struct RunReport {
    pub connector: String,
    pub run_id: Option<i64>,
    pub outcome: Outcome,
    pub fetched_users: u64,
    pub fetched_groups: u64,
    pub counts: PlanCounts,
    /// The plan, for a dry run to print.
    pub plan: Option<Plan>,
    pub verdict: Option<Verdict>,
    pub elapsed: Duration,
    /// The run ended in a panic (caught; its outcome is `Failed` with the panic's message).
    pub panicked: bool,
}

impl RunReport {
    /// A report for a run of `connector` that has not got anywhere yet.
    pub(super) fn new(connector: &str) -> RunReport {
        RunReport {
            connector: connector.to_owned(),
            run_id: None,
            outcome: Outcome::DryRun,
            fetched_users: 0,
            fetched_groups: 0,
            counts: PlanCounts::default(),
            plan: None,
            verdict: None,
            elapsed: Duration::ZERO,
            panicked: false,
        }
    }

    /// The one-line summary printed at the end of `resync`.
    pub fn summary(&self) -> String {
        let what = match &self.outcome {
            Outcome::Succeeded => "succeeded".to_owned(),
            Outcome::DryRun => "dry run, nothing written".to_owned(),
            Outcome::Held { reason } => format!("HELD by the deletion guard ({reason})"),
            Outcome::Failed { error, .. } => format!("FAILED: {error}"),
        };
        format!(
            "{}: {what}; fetched {} users, {} groups; {} in {:.1}s",
            self.connector,
            self.fetched_users,
            self.fetched_groups,
            self.counts,
            self.elapsed.as_secs_f64()
        )
    }

    pub(super) fn fail(mut self, error: String, needs_operator: bool, started: Instant) -> RunReport {
        self.outcome = Outcome::Failed {
            error,
            needs_operator,
        };
        self.elapsed = started.elapsed();
        self
    }
}
