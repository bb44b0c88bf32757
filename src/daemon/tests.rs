//! The schedule loop on a paused tokio clock: slots, skipped slots, quarantine and stopping.

use std::sync::{Arc, Mutex};

use chrono::{NaiveDateTime, TimeZone};

use super::*;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
}

fn hm(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// Runs a connector loop for `span` of (paused) time; `run` gets the clock and the call number
/// and returns the run's duration and the health it reports. Returns (start, end) per run.
async fn drive(
    schedule: &str,
    span: Duration,
    run: impl Fn(DateTime<Utc>, usize) -> (Duration, Health) + Send + Sync + 'static,
) -> Vec<(String, String)> {
    let clock = Clock::starting_at(at(10, 5));
    let runs: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let (_stop_tx, stop_rx) = watch::channel(false);
    let log = runs.clone();
    let run = Arc::new(run);
    let runner = move || {
        let (log, run) = (log.clone(), run.clone());
        async move {
            let start = clock.now();
            let n = log.lock().unwrap().len();
            let (took, health) = run(start, n);
            tokio::time::sleep(took).await;
            log.lock().unwrap().push((hm(start), hm(clock.now())));
            health
        }
    };
    let schedule = Schedule::parse_cron(schedule).unwrap();
    let _ = tokio::time::timeout(
        span,
        schedule_loop("t".into(), schedule, Duration::ZERO, clock, runner, stop_rx),
    )
    .await;
    let out = runs.lock().unwrap().clone();
    out
}

fn pairs(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test(start_paused = true)]
async fn runs_at_start_up_then_on_each_slot() {
    let runs = drive("*/40 * * * *", Duration::from_secs(2 * 3600), |_, _| {
        (Duration::from_secs(60), Health::default())
    })
    .await;
    // Crontab's */40 in the minute field is minutes 0 and 40 of every hour.
    assert_eq!(
        runs,
        pairs(&[
            ("10:05", "10:06"),
            ("10:40", "10:41"),
            ("11:00", "11:01"),
            ("11:40", "11:41"),
            ("12:00", "12:01")
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_that_outlasts_its_interval_skips_the_missed_slots_and_never_overlaps() {
    let runs = drive("*/40 * * * *", Duration::from_secs(3 * 3600), |_, _| {
        (Duration::from_secs(50 * 60), Health::default())
    })
    .await;
    // 10:40 and 11:40 fall inside runs: skipped, not queued.
    assert_eq!(
        runs,
        pairs(&[("10:05", "10:55"), ("11:00", "11:50"), ("12:00", "12:50")])
    );
    for pair in runs.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "overlap: {pair:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_quarantined_connector_waits_for_the_end_of_its_quarantine() {
    let runs = drive("*/10 * * * *", Duration::from_secs(2 * 3600), |start, n| {
        let until: Option<NaiveDateTime> = (n < 2).then(|| (start + chrono::Duration::hours(1)).naive_utc());
        (
            Duration::ZERO,
            Health {
                consecutive_failures: 3,
                level: 0,
                quarantined_until: until,
            },
        )
    })
    .await;
    // Quarantined after the first two runs: each next attempt is an hour later; then the
    // ten-minute schedule resumes.
    let starts: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(starts, vec!["10:05", "11:05", "12:05"]);
}

#[tokio::test(start_paused = true)]
async fn stops_when_told() {
    let clock = Clock::starting_at(at(10, 5));
    let (stop_tx, stop_rx) = watch::channel(false);
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let runner = move || {
        let counter = counter.clone();
        async move {
            *counter.lock().unwrap() += 1;
            Health::default()
        }
    };
    let handle = tokio::spawn(schedule_loop(
        "t".into(),
        Schedule::parse_interval("1m").unwrap(),
        Duration::ZERO,
        clock,
        runner,
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_secs(150)).await;
    stop_tx.send(true).unwrap();
    handle.await.unwrap();
    assert_eq!(*calls.lock().unwrap(), 3);
}
