//! When a connector on the shared schedules is due next. Each connector's slot offset comes
//! from a hash of its tenant and name, so two thousand connectors on a 40-minute interval are
//! spread over the 40 minutes instead of all starting at :00, and the spread is the same on
//! every worker without any of them keeping state.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Schedule;
use crate::supervise::quarantine::Health;

/// FNV-1a, 64 bits: stable across processes and releases (unlike `std`'s hasher), which is
/// all an offset needs. <http://www.isthe.com/chongo/tech/comp/fnv/index.html>
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The connector's offset within `span`: the same for the same `(tenant, name)` everywhere.
pub fn offset(tenant: &str, name: &str, span: Duration) -> Duration {
    let millis = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(fnv1a(&format!("{tenant}/{name}")) % millis)
}

/// What decides a connector's next due time.
#[derive(Debug, Clone, Copy)]
pub struct Slots<'a> {
    pub schedule: &'a Schedule,
    pub tenant: &'a str,
    pub name: &'a str,
    /// `[daemon] jitter_secs`: the bound of a crontab schedule's offset.
    pub max_jitter: Duration,
}

impl Slots<'_> {
    /// The next due time after a run that started at `started` and ended at `now` with
    /// `health`: the end of a quarantine, else the connector's next slot. A run that outlasted
    /// its interval skips the slots it missed. `None`: the schedule has no future slot.
    pub fn next_due(
        &self,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
        health: &Health,
    ) -> Option<DateTime<Utc>> {
        if let Some(until) = health.quarantined_until {
            return Some(until.and_utc());
        }
        match self.schedule {
            Schedule::Every(every) => Some(self.every(*every, started, now)),
            Schedule::Cron(_) => self.cron(started, now),
        }
    }

    /// An interval's slots are `offset + k * every` since the Unix epoch. The next is at
    /// least half an interval after the start (so the first run after start-up, which may
    /// fall anywhere, is not followed at once by a slot), and after `now`.
    fn every(&self, every: Duration, started: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        let period = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
        let offset = i64::try_from(offset(self.tenant, self.name, every).as_millis()).unwrap_or(0);
        let earliest = (started.timestamp_millis() + period / 2).max(now.timestamp_millis());
        let slots = (earliest - offset).div_euclid(period) + 1;
        let slot = slots.saturating_mul(period).saturating_add(offset);
        DateTime::from_timestamp_millis(slot).unwrap_or(now)
    }

    /// A crontab's slot after the start (or after `now`, when the run outlasted it), late by
    /// the connector's offset: at most `max_jitter` and a tenth of the gap to the slot after.
    fn cron(&self, started: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut next = self.schedule.next_after(started)?;
        if next <= now {
            next = self.schedule.next_after(now)?;
        }
        let gap = self
            .schedule
            .next_after(next)
            .and_then(|after| (after - next).to_std().ok())
            .unwrap_or_default();
        let late = offset(self.tenant, self.name, self.max_jitter.min(gap / 10));
        Some(next + chrono::Duration::from_std(late).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn slots<'a>(schedule: &'a Schedule, name: &'a str) -> Slots<'a> {
        Slots {
            schedule,
            tenant: "acme",
            name,
            max_jitter: Duration::from_secs(30),
        }
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
    }

    #[test]
    fn offsets_are_stable_and_spread_over_the_interval() {
        let span = Duration::from_secs(2400);
        assert_eq!(offset("acme", "entra", span), offset("acme", "entra", span));
        let mut minutes = std::collections::BTreeSet::new();
        for i in 0..2000 {
            let o = offset(&format!("tenant-{i}"), "entra", span);
            assert!(o < span);
            minutes.insert(o.as_secs() / 60);
        }
        // 2,000 connectors land in every one of the 40 minutes, not all at :00.
        assert_eq!(minutes.len(), 40);
    }

    #[test]
    fn an_interval_keeps_its_slot_and_skips_the_missed_ones() {
        let every = Schedule::Every(Duration::from_secs(600));
        let s = slots(&every, "entra");
        let health = Health::default();
        let first = s.next_due(at(10, 0, 0), at(10, 0, 5), &health).unwrap();
        let second = s
            .next_due(first, first + chrono::Duration::seconds(5), &health)
            .unwrap();
        assert_eq!(second - first, chrono::Duration::seconds(600));
        assert!(first - at(10, 0, 0) >= chrono::Duration::seconds(300));
        // A run that lasted 25 minutes: the next slot is after its end, on the same grid.
        let late = s
            .next_due(first, first + chrono::Duration::minutes(25), &health)
            .unwrap();
        assert_eq!(late - first, chrono::Duration::seconds(1800));
    }

    #[test]
    fn a_quarantine_decides_the_next_attempt() {
        let every = Schedule::Every(Duration::from_secs(600));
        let until = at(12, 0, 0).naive_utc();
        let health = Health {
            consecutive_failures: 3,
            level: 0,
            quarantined_until: Some(until),
        };
        let next = slots(&every, "entra").next_due(at(10, 0, 0), at(10, 0, 1), &health);
        assert_eq!(next, Some(at(12, 0, 0)));
    }

    #[test]
    fn a_crontab_slot_is_late_by_at_most_a_tenth_of_its_gap() {
        let hourly = Schedule::parse_cron("0 * * * *").unwrap();
        let s = Slots {
            max_jitter: Duration::from_secs(3600),
            ..slots(&hourly, "okta")
        };
        let next = s
            .next_due(at(10, 0, 0), at(10, 0, 30), &Health::default())
            .unwrap();
        assert!(next >= at(11, 0, 0) && next <= at(11, 6, 0), "{next}");
    }
}
