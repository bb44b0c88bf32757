//! When a connector runs: crontab expressions (5 fields as in crontab(5), or 6/7 with
//! seconds), `@hourly`-style shortcuts, or a plain interval such as `40m`.
//!
//! The `cron` crate wants a seconds field and numbers Sunday 1; crontab numbers it 0 or 7.
//! [`Schedule::parse_cron`] converts, so an operator's crontab line means what it says.

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// A schedule or interval that cannot be read; the message says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ScheduleError(String);

/// The default, as the identity providers' own provisioning cycles: every 40 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(40 * 60);

/// The longest interval: a year (leap years included). Longer ones cannot be added to a date.
pub const MAX_INTERVAL: Duration = Duration::from_secs(366 * 86400);

#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<cron::Schedule>),
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Every(DEFAULT_INTERVAL)
    }
}

impl Schedule {
    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(d) => chrono::Duration::from_std(*d).ok().map(|d| after + d),
            Schedule::Cron(s) => s.after(&after).next(),
        }
    }

    /// Parses a crontab expression or shortcut that fires at least once after now.
    pub fn parse_cron(expr: &str) -> Result<Schedule, ScheduleError> {
        let schedule = Schedule::parse_cron_expression(expr)?;
        if schedule.next_after(Utc::now()).is_none() {
            return Err(ScheduleError(format!(
                "the cron expression {:?} never fires (no date matches it)",
                expr.trim()
            )));
        }
        Ok(schedule)
    }

    fn parse_cron_expression(expr: &str) -> Result<Schedule, ScheduleError> {
        let expr = expr.trim();
        let expanded = match expr.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_owned(),
            "@monthly" => "0 0 1 * *".to_owned(),
            "@weekly" => "0 0 * * 0".to_owned(),
            "@daily" | "@midnight" => "0 0 * * *".to_owned(),
            "@hourly" => "0 * * * *".to_owned(),
            other if other.starts_with('@') => return Err(ScheduleError(format!("unknown shortcut {expr}"))),
            _ => expr.to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 | 7 => (fields[0], &fields[1..]),
            n => {
                return Err(ScheduleError(format!(
                    "expected 5 fields (minute hour day month weekday), or 6-7 with seconds; got {n}"
                )))
            }
        };
        let weekday = convert_weekday(rest[4])?;
        let mut parts = vec![seconds, rest[0], rest[1], rest[2], rest[3], weekday.as_str()];
        parts.extend(rest.get(5).copied());
        let converted = parts.join(" ");
        converted
            .parse::<cron::Schedule>()
            .map(|s| Schedule::Cron(Box::new(s)))
            .map_err(|e| ScheduleError(format!("invalid cron expression {expr:?}: {e}")))
    }

    /// Parses an interval: `90s`, `40m`, `1h30m`, `1d`.
    pub fn parse_interval(text: &str) -> Result<Schedule, ScheduleError> {
        let mut total = 0u64;
        let mut number = String::new();
        for ch in text.trim().chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let unit = match ch {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => {
                    return Err(ScheduleError(format!(
                        "invalid interval {text:?}: unknown unit {ch:?} (use s, m, h or d)"
                    )))
                }
            };
            if number.is_empty() {
                return Err(ScheduleError(format!(
                    "invalid interval {text:?}: a number must precede {ch:?}"
                )));
            }
            // Digits only: a number that does not parse is too large for u64.
            total = number
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(unit))
                .and_then(|secs| total.checked_add(secs))
                .filter(|secs| *secs <= MAX_INTERVAL.as_secs())
                .ok_or_else(|| {
                    ScheduleError(format!(
                        "invalid interval {text:?}: longer than the maximum, 366d"
                    ))
                })?;
            number.clear();
        }
        if !number.is_empty() || total == 0 {
            return Err(ScheduleError(format!(
                "invalid interval {text:?}: expected e.g. 40m, 1h30m or 90s"
            )));
        }
        Ok(Schedule::Every(Duration::from_secs(total)))
    }
}

/// Crontab weekdays 0-7 (0 and 7 = Sunday) to the cron crate's 1-7 (1 = Sunday).
fn convert_weekday(field: &str) -> Result<String, ScheduleError> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }
    let convert = |n: &str| -> Result<u8, ScheduleError> {
        let v: u8 = n
            .parse()
            .map_err(|_| ScheduleError(format!("invalid weekday {n:?}")))?;
        if v > 7 {
            return Err(ScheduleError(format!("weekday {v} is out of range 0-7")));
        }
        Ok(v % 7 + 1)
    };
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let with_step = |r: String| match step {
            Some(s) => format!("{r}/{s}"),
            None => r,
        };
        if range.chars().any(|c| c.is_ascii_alphabetic()) || range == "*" {
            out.push(with_step(range.to_owned()));
            continue;
        }
        match range.split_once('-') {
            None => out.push(with_step(convert(range)?.to_string())),
            Some((a, b)) => {
                let (a, b) = (convert(a)?, convert(b)?);
                if b >= a {
                    out.push(with_step(format!("{a}-{b}")));
                } else if step.is_none() && b == 1 {
                    // "5-7" (Friday to Sunday) becomes 6-7 plus 1.
                    out.push(format!("{a}-7"));
                    out.push("1".to_owned());
                } else {
                    return Err(ScheduleError(format!(
                        "weekday range {range} wraps past Sunday; split it"
                    )));
                }
            }
        }
    }
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    fn next(expr: &str, from: DateTime<Utc>) -> DateTime<Utc> {
        Schedule::parse_cron(expr).unwrap().next_after(from).unwrap()
    }

    #[test]
    fn crontab_weekdays_mean_what_crontab_says() {
        // From Monday 2026-11-23 12:00, the next 09:00 on each crontab weekday.
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let cases = [
            ("0 9 * * 0", Weekday::Sun, 29),
            ("0 9 * * 7", Weekday::Sun, 29),
            ("0 9 * * 1", Weekday::Mon, 30),
            ("0 9 * * 2", Weekday::Tue, 24),
            ("0 9 * * 6", Weekday::Sat, 28),
            ("0 9 * * 5-7", Weekday::Fri, 27),
            ("0 9 * * 3,5", Weekday::Wed, 25),
            ("0 9 * * */2", Weekday::Tue, 24),
        ];
        for (expr, weekday, day) in cases {
            let at = next(expr, monday);
            assert_eq!((at.weekday(), at.day()), (weekday, day), "{expr} -> {at}");
            assert_eq!((at.hour(), at.minute(), at.second()), (9, 0, 0), "{expr}");
        }
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(next("0 9 * * 5-7", saturday).weekday(), Weekday::Sun);
        assert_eq!(next("0 9 * * 1-5", saturday).weekday(), Weekday::Mon);
    }

    #[test]
    fn minutes_seconds_and_shortcuts() {
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 12, 1, 0).unwrap();
        assert_eq!(
            next("*/40 * * * *", t),
            Utc.with_ymd_and_hms(2026, 11, 23, 12, 40, 0).unwrap()
        );
        assert_eq!(
            next("30 */5 * * * *", t),
            Utc.with_ymd_and_hms(2026, 11, 23, 12, 5, 30).unwrap()
        );
        assert_eq!(
            next("@hourly", t),
            Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0).unwrap()
        );
        assert_eq!(
            next("@daily", t),
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
        );
        assert_eq!(next("@weekly", t).weekday(), Weekday::Sun);
    }

    #[test]
    fn bad_expressions_say_why() {
        for (expr, wanted) in [
            ("* * *", "expected 5 fields"),
            ("0 9 * * 8", "out of range"),
            ("@fortnightly", "unknown shortcut"),
            ("61 * * * *", "invalid cron expression"),
        ] {
            let err = Schedule::parse_cron(expr).unwrap_err().to_string();
            assert!(err.contains(wanted), "{expr}: {err}");
        }
    }

    #[test]
    fn intervals() {
        let every = |s: &str| match Schedule::parse_interval(s) {
            Ok(Schedule::Every(d)) => Ok(d.as_secs()),
            Ok(_) => Err("not an interval".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(every("40m"), Ok(2400));
        assert_eq!(every("1h30m"), Ok(5400));
        assert_eq!(every("90s"), Ok(90));
        assert!(every("40").is_err());
        assert!(every("5x").is_err());
        assert!(every("0m").is_err());
        assert_eq!(every("366d"), Ok(366 * 86400));
        for long in ["367d", "300000000000d", "99999999999999999999s", "366d1s"] {
            let err = every(long).unwrap_err();
            assert!(err.contains("longer than the maximum, 366d"), "{long}: {err}");
        }
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        let err = Schedule::parse_cron("0 0 30 2 *").unwrap_err().to_string();
        assert!(err.contains("\"0 0 30 2 *\" never fires"), "{err}");
        assert!(
            Schedule::parse_cron("0 0 29 2 *").is_ok(),
            "29 February comes in leap years"
        );
    }
}
