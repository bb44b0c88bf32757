//! The daemon end to end in one process, on SQLite: a run that panics is counted and the
//! connector rescheduled, and `/healthz` reports the death until the next run completes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_panics_is_marked_failed_counted_and_the_connector_rescheduled() {
    let dir = tempfile::tempdir().unwrap();
    let (config, store, connector, seen) = panicky_daemon(dir.path(), "1s", "");
    let watched = seen.clone();
    // Stops once the third run (the first that does not panic) has been recorded.
    let stopped = async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while watched.lock().unwrap().len() < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    run_with(config, store.clone(), vec![connector], stopped)
        .await
        .unwrap();
    // Three runs, each on a later slot: two panicked and were counted, the third ran.
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
    // The next run is on a slot of the one-second grid at least half a second later.
    let due = store.next_due("hr").await.unwrap().unwrap();
    let earliest = runs[0].started_at + chrono::Duration::milliseconds(500);
    assert!(due > earliest, "due {due}, started {}", runs[0].started_at);
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
