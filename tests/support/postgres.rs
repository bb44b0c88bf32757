//! A PostgreSQL server for tests: `IDSYNC_TEST_POSTGRES` (an admin URL) when set, else the
//! server on 127.0.0.1:5432 when one answers, else a private one started with Debian's
//! `initdb` in a temporary folder (stopped when the test process exits).
//! `IDSYNC_TEST_POSTGRES=private` forces the private server.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

struct Server {
    /// `postgres://user@host:port` without a database.
    base: String,
    _process: Option<Child>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database; dropped with the value.
pub struct TestDatabase {
    pub url: String,
    name: String,
    base: String,
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let server = SERVER
            .get_or_init(start)
            .as_ref()
            .unwrap_or_else(|e| panic!("no PostgreSQL server: {e}"));
        let name = format!(
            "idsync_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = PgConnection::establish(&format!("{}/postgres", server.base)).unwrap();
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        TestDatabase {
            url: format!("{}/{name}", server.base),
            name,
            base: server.base.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres", self.base)) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut admin);
        }
    }
}

fn start() -> Result<Server, String> {
    let configured = std::env::var("IDSYNC_TEST_POSTGRES").ok();
    if configured.as_deref() == Some("private") {
        return start_private();
    }
    if let Some(url) = configured {
        return Ok(Server {
            base: url.trim_end_matches('/').to_owned(),
            _process: None,
        });
    }
    let local = "postgres://postgres@127.0.0.1:5432";
    if PgConnection::establish(&format!("{local}/postgres")).is_ok() {
        return Ok(Server {
            base: local.to_owned(),
            _process: None,
        });
    }
    start_private()
}

/// initdb + postgres in a temporary folder, as the `postgres` system user when running as
/// root (PostgreSQL refuses to run as root). The server runs under a shell that stops it
/// when this process's end of its stdin pipe closes, i.e. when the tests exit.
fn start_private() -> Result<Server, String> {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("PostgreSQL is not installed (apt-get install postgresql): {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .find(|p| p.join("initdb").exists())
        .ok_or("no initdb under /usr/lib/postgresql/*/bin")?;
    let dir = std::env::temp_dir().join(format!("idsync-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let user = if as_root { "postgres" } else { "" };
    if as_root {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
    }
    let data = dir.join("data");
    let script = format!(
        "{initdb} -D {data} -U postgres -A trust >/dev/null || exit 1; \
         {postgres} -D {data} -p {port} -c listen_addresses=127.0.0.1 -k {dir} -c fsync=off & pid=$!; \
         echo started; read _; kill -INT $pid; wait $pid; rm -rf {dir}",
        initdb = bin.join("initdb").display(),
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
    );
    let mut command = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start PostgreSQL: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let base = format!("postgres://postgres@127.0.0.1:{port}");
    for _ in 0..100 {
        if PgConnection::establish(&format!("{base}/postgres")).is_ok() {
            return Ok(Server {
                base,
                _process: Some(child),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the private PostgreSQL server on port {port} did not come up"
    ))
}
