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

#[tokio::test(start_paused = true)]
async fn after_a_failure_a_two_second_schedule_reruns_within_a_tenth_of_its_gap() {
    let clock = Clock::starting_at(at(10, 5));
    let (_stop_tx, stop_rx) = watch::channel(false);
    let starts: Arc<Mutex<Vec<DateTime<Utc>>>> = Arc::default();
    let log = starts.clone();
    let runner = move || {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(clock.now());
            // A failed run, not (yet) quarantined.
            Health {
                consecutive_failures: 1,
                level: 0,
                quarantined_until: None,
            }
        }
    };
    let schedule = Schedule::parse_cron("*/2 * * * * *").unwrap();
    // The default jitter_secs (30) is the cap; the schedule's own gap bounds it far lower.
    let looped = schedule_loop(
        "t".into(),
        schedule,
        Duration::from_secs(30),
        clock,
        runner,
        stop_rx,
    );
    let _ = tokio::time::timeout(Duration::from_secs(20), looped).await;
    let starts = starts.lock().unwrap().clone();
    assert!(starts.len() >= 9, "{starts:?}");
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap <= chrono::Duration::milliseconds(2200), "{pair:?}");
    }
    for start in &starts[1..] {
        let into_slot = (*start - at(10, 5)).num_milliseconds() % 2000;
        assert!(into_slot <= 200, "{start} is {into_slot} ms after its slot");
    }
}

#[test]
fn jitter_is_capped_by_the_setting_and_a_tenth_of_the_gap() {
    let slot = at(10, 0);
    let every_40m = Schedule::parse_interval("40m").unwrap();
    let two_seconds = Schedule::parse_cron("*/2 * * * * *").unwrap();
    for _ in 0..200 {
        assert!(jitter(&every_40m, slot, Duration::from_secs(30)) <= chrono::Duration::seconds(30));
        assert!(jitter(&two_seconds, slot, Duration::from_secs(30)) <= chrono::Duration::milliseconds(200));
        assert!(jitter(&every_40m, slot, Duration::ZERO).is_zero());
    }
}

/// Per fetch: the stored failure streak, and how the run before it ended.
type Seen = Arc<Mutex<Vec<(u32, Option<String>)>>>;

/// A source whose first `panics` fetches panic, and which returns no one afterwards; it
/// also notes what the store says between runs.
struct Panicky {
    calls: std::sync::atomic::AtomicUsize,
    panics: usize,
    store: Store,
    seen: Seen,
}

#[async_trait::async_trait]
impl idsync_source::Source for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }

    async fn fetch(
        &self,
        _request: &idsync_source::FetchRequest,
        _progress: &dyn idsync_source::Progress,
    ) -> Result<idsync_source::Batch, idsync_source::SourceError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let health = self.store.health("hr").await.unwrap();
        let status = self.store.status(&["hr".to_owned()]).await.unwrap();
        // The newest run is this one; the one before tells how the previous run ended.
        let previous = status.connectors[0].recent.get(1).map(|r| r.status.clone());
        self.seen
            .lock()
            .unwrap()
            .push((health.consecutive_failures, previous));
        if n < self.panics {
            panic!("boom {n}");
        }
        Ok(idsync_source::Batch {
            data: idsync_source::Fetched::Snapshot(idsync_source::Snapshot::default()),
            cursor: None,
        })
    }
}

/// A daemon configuration with one connector `hr` on `interval`, whose first two runs panic
/// (`extra` is added to `[daemon]`), its store, and what its source saw.
fn panicky_daemon(dir: &std::path::Path, interval: &str, extra: &str) -> (Config, Store, Connector, Seen) {
    let db = dir.join("app.db");
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[daemon]\njitter_secs = 0\nquarantine_after_failures = 5\n\
         {extra}\n[[connectors]]\nname = \"hr\"\nkind = \"file\"\npath = \"unused.json\"\n\
         interval = \"{interval}\"\n",
        db.display()
    );
    let config = Config::parse(&text, &dir.join("idsync.toml"), Vec::new()).unwrap();
    let store = Store::open(&config.database);
    let seen: Seen = Arc::default();
    let source = Panicky {
        calls: Default::default(),
        panics: 2,
        store: store.clone(),
        seen: seen.clone(),
    };
    let connector = Connector {
        config: config.connectors[0].clone(),
        source: Box::new(source),
    };
    (config, store, connector, seen)
}

#[tokio::test(start_paused = true)]
async fn a_run_that_panics_is_marked_failed_counted_and_the_connector_rescheduled() {
    let dir = tempfile::tempdir().unwrap();
    let (config, store, connector, seen) = panicky_daemon(dir.path(), "1m", "");
    let stopped = tokio::time::sleep(Duration::from_secs(150));
    run_with(config, store.clone(), vec![connector], stopped)
        .await
        .unwrap();
    // Three runs (0 s, 60 s, 120 s): two panicked and were counted, the third ran.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (0, None),
            (1, Some("failed".to_owned())),
            (2, Some("failed".to_owned()))
        ]
    );
    let status = store.status(&["hr".to_owned()]).await.unwrap();
    let runs = &status.connectors[0].recent;
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, vec!["succeeded", "failed", "failed"]);
    assert_eq!(runs[2].error.as_deref(), Some("the run panicked: boom 0"));
    assert_eq!(runs[1].error.as_deref(), Some("the run panicked: boom 1"));
    assert_eq!(store.health("hr").await.unwrap().consecutive_failures, 0);
    assert_eq!(store.lease_holder("hr").await.unwrap(), None);
}

/// `GET path` on 127.0.0.1:`port`: the status and the body, or `None` while nothing answers.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_a_run_died_until_the_connectors_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ops = format!("\n[ops]\nlisten = \"127.0.0.1:{port}\"\n");
    let (config, store, connector, _) = panicky_daemon(dir.path(), "1s", &ops);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run_with(config, store, vec![connector], async {
        let _ = stop_rx.await;
    }));
    let mut answers = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if let Some(answer) = get(port, "/healthz").await {
            let done = answer.0 == 200 && answers.iter().any(|(s, _)| *s == 503);
            answers.push(answer);
            if done {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(());
    daemon.await.unwrap().unwrap();
    let died = answers.iter().find(|(status, _)| *status == 503);
    let (_, body) = died.unwrap_or_else(|| panic!("no 503: {answers:?}"));
    assert!(
        body.contains("\"died\":[{\"connector\":\"hr\",\"error\":\"the run panicked: boom"),
        "{body}"
    );
    assert_eq!(answers.last().map(|a| a.0), Some(200), "{answers:?}");
}

#[tokio::test(start_paused = true)]
async fn a_loop_that_panics_is_counted_and_restarted_at_its_next_slot() {
    let dir = tempfile::tempdir().unwrap();
    let (config, store, connector, seen) = panicky_daemon(dir.path(), "1m", "");
    store.migrate().await.unwrap();
    let supervisor = Arc::new(Supervisor::new(&config, store.clone()).unwrap());
    let (_stop_tx, stop_rx) = watch::channel(false);
    let clock = Clock::starting_at(Utc::now());
    let mut loops = watchdog::Loops::new(supervisor, clock, Duration::ZERO, stop_rx);
    // A loop that dies outside any run (no run of this source has panicked yet).
    loops.spawn(Arc::new(connector), async { panic!("a bug in the loop") });
    loops
        .watch_until(
            tokio::time::sleep(Duration::from_secs(90)),
            &mut super::stored::StoredLoops::none(),
        )
        .await;

    // Restarted at its next slot (60 s), not at once: one run by 90 s, which saw the
    // loop's death counted as a failure.
    assert_eq!(*seen.lock().unwrap(), vec![(1, None)]);
    drop(loops);
    assert_eq!(store.lease_holder("hr").await.unwrap(), None);
}
