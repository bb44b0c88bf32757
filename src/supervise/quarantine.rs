//! Quarantine: a connector that keeps failing is retried less and less often, and one whose
//! credentials are refused stops at once, because retrying cannot fix either.

use chrono::{Duration, NaiveDateTime};

pub use crate::store::supervision::Health;

use crate::reconcile::Outcome;

/// When to quarantine, and how long each stay lasts.
#[derive(Debug, Clone)]
pub struct QuarantineSettings {
    /// Consecutive failures that put a connector in quarantine (3).
    pub after_failures: u32,
    /// Waits before the next attempt while quarantined, growing with each failed retry; the
    /// last one repeats (1 h, 6 h, 12 h, then daily).
    pub intervals: Vec<Duration>,
}

impl Default for QuarantineSettings {
    fn default() -> Self {
        QuarantineSettings {
            after_failures: 3,
            intervals: vec![
                Duration::hours(1),
                Duration::hours(6),
                Duration::hours(12),
                Duration::hours(24),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Entered,
    /// Another failure while quarantined: the next wait is longer.
    Extended,
    Left,
}

/// The health after a run.
pub fn after_run(
    health: &Health,
    outcome: &Outcome,
    settings: &QuarantineSettings,
    now: NaiveDateTime,
) -> (Health, Transition) {
    match outcome {
        // A held run and a dry run fetched fine: the connector works.
        Outcome::Succeeded | Outcome::Held { .. } | Outcome::DryRun => {
            let transition = if health.is_quarantined() {
                Transition::Left
            } else {
                Transition::None
            };
            (Health::default(), transition)
        }
        Outcome::Failed { needs_operator, .. } => {
            let failures = health.consecutive_failures + 1;
            let wait = |level: u32| {
                let i = (level as usize).min(settings.intervals.len().saturating_sub(1));
                settings
                    .intervals
                    .get(i)
                    .copied()
                    .unwrap_or_else(|| Duration::hours(24))
            };
            if health.is_quarantined() {
                let level = health.level + 1;
                let next = Health {
                    consecutive_failures: failures,
                    level,
                    quarantined_until: Some(now + wait(level)),
                };
                (next, Transition::Extended)
            } else if *needs_operator || failures >= settings.after_failures {
                let next = Health {
                    consecutive_failures: failures,
                    level: 0,
                    quarantined_until: Some(now + wait(0)),
                };
                (next, Transition::Entered)
            } else {
                (
                    Health {
                        consecutive_failures: failures,
                        ..Health::default()
                    },
                    Transition::None,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn failed(needs_operator: bool) -> Outcome {
        Outcome::Failed {
            error: "boom".into(),
            needs_operator,
        }
    }

    fn at(hours: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + Duration::hours(hours)
    }

    #[test]
    fn three_failures_quarantine_then_waits_grow_and_success_leaves() {
        let settings = QuarantineSettings::default();
        let fail = failed(false);
        let mut health = Health::default();
        let mut seen = Vec::new();
        for hour in 0..7 {
            let (next, transition) = after_run(&health, &fail, &settings, at(hour));
            let wait = next.quarantined_until.map(|t| (t - at(hour)).num_hours());
            seen.push((transition, wait));
            health = next;
        }
        assert_eq!(
            seen,
            vec![
                (Transition::None, None),
                (Transition::None, None),
                (Transition::Entered, Some(1)),
                (Transition::Extended, Some(6)),
                (Transition::Extended, Some(12)),
                (Transition::Extended, Some(24)),
                (Transition::Extended, Some(24)),
            ]
        );
        let (health, transition) = after_run(&health, &Outcome::Succeeded, &settings, at(8));
        assert_eq!((health, transition), (Health::default(), Transition::Left));
    }

    #[test]
    fn refused_credentials_quarantine_at_once_and_a_success_clears_the_streak() {
        let settings = QuarantineSettings::default();
        let (health, transition) = after_run(&Health::default(), &failed(true), &settings, at(0));
        assert_eq!(transition, Transition::Entered);
        assert_eq!(health.quarantined_until, Some(at(1)));

        let (one, _) = after_run(&Health::default(), &failed(false), &settings, at(0));
        let (cleared, transition) = after_run(&one, &Outcome::Succeeded, &settings, at(1));
        assert_eq!((cleared.consecutive_failures, transition), (0, Transition::None));
    }
}
