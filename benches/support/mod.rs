//! The harness of the connector benchmarks: sizes from the environment, a configuration with
//! one connector on a fresh SQLite file or PostgreSQL database, the connector's fetches in
//! this process, and the release binary's runs with their peak RSS, each printed as one line.

pub mod floor;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use idsync::connectors::Connector;
use idsync_source::{Batch, FetchRequest, NoProgress};

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The directory's size as `[users, groups, memberships, changes]`: `IDSYNC_BENCH_USERS`,
/// `_GROUPS`, `_MEMBERSHIPS`, `_CHANGES`, or the defaults given. Without `--bench`
/// (`cargo test --benches`) a hundredth of them.
pub fn sizes(defaults: [usize; 4]) -> [usize; 4] {
    let testing = !std::env::args().any(|a| a == "--bench");
    let scale = if testing { 100 } else { 1 };
    let names = ["USERS", "GROUPS", "MEMBERSHIPS", "CHANGES"];
    std::array::from_fn(|i| env_or(&format!("IDSYNC_BENCH_{}", names[i]), defaults[i]) / scale)
}

/// `groups` groups of `memberships / groups` user members each, spread over the `users`
/// users: (id, name, member ids), as the fakes' `bulk_load` takes them.
pub fn group_rows(
    [users, groups, memberships]: [usize; 3],
    group_id: impl Fn(usize) -> String,
    user_id: impl Fn(usize) -> String,
) -> Vec<(String, String, Vec<String>)> {
    let per_group = memberships / groups.max(1);
    (0..groups)
        .map(|g| {
            let members = (0..per_group)
                .map(|k| user_id((g * 7919 + k * 13) % users))
                .collect();
            (group_id(g), format!("Group {g}"), members)
        })
        .collect()
}

/// A fresh PostgreSQL database on the server at `IDSYNC_BENCH_POSTGRES` (an admin URL
/// without a database; default the local server), dropped with the value.
pub struct PgDatabase {
    pub url: String,
    name: String,
    base: String,
}

static NEXT_DATABASE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl PgDatabase {
    /// None when no server answers.
    pub fn create() -> Option<PgDatabase> {
        use diesel::{Connection, RunQueryDsl};
        let base = std::env::var("IDSYNC_BENCH_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let mut admin = diesel::PgConnection::establish(&format!("{base}/postgres")).ok()?;
        let n = NEXT_DATABASE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("idsync_bench_{}_{n}", std::process::id());
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        Some(PgDatabase {
            url: format!("{base}/{name}"),
            name,
            base,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut admin) = diesel::PgConnection::establish(&format!("{}/postgres", self.base)) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut admin);
        }
    }
}

/// One connector, named after its kind, configured on a fresh database; the connector
/// built in this process from the same configuration; the cursor of its last fetch.
pub struct Bench {
    dir: tempfile::TempDir,
    config: PathBuf,
    kind: String,
    connector: Connector,
    cursor: Option<String>,
    database: String,
    binary: PathBuf,
    _postgres: Option<PgDatabase>,
}

impl Bench {
    /// Writes the configuration: `kind`'s connector with `keys` (TOML), on a SQLite file.
    pub fn new(kind: &str, keys: &str) -> Bench {
        Bench::on(kind, keys, None, binary())
    }

    /// As [`Bench::new`], on `postgres` when given (else a SQLite file), running `binary`.
    pub fn on(kind: &str, keys: &str, postgres: Option<PgDatabase>, binary: PathBuf) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("idsync.toml");
        let database = match &postgres {
            Some(pg) => pg.url.clone(),
            None => format!("sqlite://{}", dir.path().join("bench.db").display()),
        };
        let text = format!(
            "[database]\nurl = \"{database}\"\n\n\
             [[connectors]]\nname = \"{kind}\"\nkind = \"{kind}\"\n{keys}\n"
        );
        std::fs::write(&config, &text).unwrap();
        let parsed = idsync::config::Config::parse(&text, &config, Vec::<(String, String)>::new()).unwrap();
        let connector = idsync::connectors::build(&parsed.connectors[0]);
        Bench {
            dir,
            config,
            kind: kind.to_owned(),
            connector,
            cursor: None,
            database,
            binary,
            _postgres: postgres,
        }
    }

    /// The database URL.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Runs the binary's `migrate`.
    pub async fn migrate(&self) {
        let out = tokio::process::Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .arg("migrate")
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "idsync migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The configuration file.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The temporary directory that holds the configuration and the database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The connector's fetch alone, in this process (no store): a full one first, then
    /// from the last cursor. Prints the time under `label`; returns what was fetched.
    pub async fn fetch(&mut self, label: &str) -> Batch {
        let started = Instant::now();
        let request = FetchRequest {
            cursor: self.cursor.clone(),
            full: false,
        };
        let batch = self.connector.source.fetch(&request, &NoProgress).await.unwrap();
        let (u, g) = batch.counts();
        let took = started.elapsed().as_secs_f64();
        let cursor_mb = batch.cursor.as_ref().map_or(0, String::len) as f64 / 1e6;
        let cursor = if self.cursor.is_none() {
            format!(", cursor {cursor_mb:.1} MB")
        } else {
            String::new()
        };
        println!("{label:<22} {took:>7.2} s  ({u} users, {g} groups{cursor})");
        self.cursor = batch.cursor.clone();
        batch
    }

    /// Runs the release binary's `resync`; prints the time and, with `rss`, the peak RSS.
    pub async fn resync(&self, label: &str, rss: bool) {
        self.resync_timed(label, rss, "").await;
    }

    /// As [`Bench::resync`], with `note` after the figures; returns the time and peak RSS.
    pub async fn resync_timed(&self, label: &str, rss: bool, note: &str) -> (f64, f64) {
        let (took, peak, out) = resync_with(&self.binary, &self.config, &self.kind).await;
        let took = took.as_secs_f64();
        if rss {
            println!("{label:<22} {took:>7.2} s  peak RSS {peak:.0} MB{note}  [{out}]");
        } else {
            println!("{label:<22} {took:>7.2} s{note}  [{out}]");
        }
        (took, peak)
    }
}

/// Prints what the fake alone needs to serve the pages a full sync reads.
pub fn print_floor(serving: Duration, pages: usize) {
    println!(
        "serving floor          {:>7.2} s  ({pages} pages, bare client)",
        serving.as_secs_f64()
    );
}

/// The binary to measure: `IDSYNC_BENCH_BIN` (for example an earlier release's build, to
/// compare before and after in one run), else the one this benchmark was built with.
pub fn binary() -> PathBuf {
    std::env::var_os("IDSYNC_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_idsync")))
}

/// Runs the binary; returns the wall time and the peak RSS (VmHWM, polled) in MB.
pub async fn resync(config: &Path, connector: &str) -> (Duration, f64, String) {
    resync_with(&binary(), config, connector).await
}

/// [`resync`] with the binary `bin`.
pub async fn resync_with(bin: &Path, config: &Path, connector: &str) -> (Duration, f64, String) {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(["resync", "--connector", connector])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut peak_kb = 0.0f64;
    let status_path = format!("/proc/{pid}/status");
    let out = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            use tokio::io::AsyncReadExt;
            if let Some(mut s) = child.stdout.take() {
                s.read_to_string(&mut out).await.unwrap();
            }
            if let Some(mut s) = child.stderr.take() {
                s.read_to_string(&mut out).await.unwrap();
            }
            assert!(status.success(), "idsync failed: {out}");
            break out;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    (started.elapsed(), peak_kb / 1024.0, out.trim().to_owned())
}
