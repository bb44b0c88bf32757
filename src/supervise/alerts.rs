//! Failure alerts by email: which condition is raised for which connector, and when a mail
//! is due. One mail when a condition is raised, a reminder after a while, one when it clears:
//! never a flood. The decision is pure; delivery (SMTP, via lettre) is in `mail.rs`.

use chrono::{Duration, NaiveDateTime};

pub use crate::store::supervision::{AlertRow, Condition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mail {
    Raised,
    Reminder,
    Recovered,
}

/// Which mail, if any, the current state of a condition calls for. `escalated` says the
/// condition got worse in a way worth a new mail (new conflicts appeared).
pub fn due(
    previous: Option<&AlertRow>,
    active: bool,
    escalated: bool,
    now: NaiveDateTime,
    reminder: Duration,
) -> Option<Mail> {
    match (previous, active) {
        (None, true) => Some(Mail::Raised),
        (Some(row), true) if !row.active => Some(Mail::Raised),
        (Some(row), true) => match row.last_sent_at {
            None => Some(Mail::Raised),
            Some(_) if escalated => Some(Mail::Raised),
            Some(sent) if now - sent >= reminder => Some(Mail::Reminder),
            Some(_) => None,
        },
        (Some(row), false) if row.active => Some(Mail::Recovered),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(hours: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + Duration::hours(hours)
    }

    fn row(active: bool, sent: Option<i64>) -> AlertRow {
        AlertRow {
            active,
            detail: String::new(),
            raised_at: at(0),
            last_sent_at: sent.map(at),
        }
    }

    #[test]
    fn one_mail_per_condition_then_a_reminder_then_recovery() {
        let day = Duration::hours(24);
        let cases = [
            (None, true, false, 0, Some(Mail::Raised)),
            (None, false, false, 0, None),
            (Some(row(true, Some(0))), true, false, 1, None),
            (Some(row(true, Some(0))), true, false, 23, None),
            (Some(row(true, Some(0))), true, false, 24, Some(Mail::Reminder)),
            (Some(row(true, Some(0))), true, true, 1, Some(Mail::Raised)),
            (Some(row(true, None)), true, false, 1, Some(Mail::Raised)),
            (Some(row(true, Some(0))), false, false, 2, Some(Mail::Recovered)),
            (Some(row(false, Some(2))), false, false, 3, None),
            (Some(row(false, Some(2))), true, false, 4, Some(Mail::Raised)),
        ];
        for (previous, active, escalated, hour, expected) in cases {
            assert_eq!(
                due(previous.as_ref(), active, escalated, at(hour), day),
                expected,
                "{previous:?} {active} {hour}"
            );
        }
    }
}
