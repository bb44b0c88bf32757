//! The listeners' limits against a real server on 127.0.0.1: sockets that never send a header
//! are closed, a legitimate request gets through while idle sockets fill the connection cap, a
//! body that trickles in gets 408, idle kept-alive connections are closed, and shutdown lets
//! requests in flight finish. Then the same through `idsync run` with the limits from its
//! configuration, on the SCIM and the ops listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;
use idsync::listener::{self, ListenerLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

fn limits(max_connections: usize, header: u64, idle: u64, body: u64) -> ListenerLimits {
    ListenerLimits {
        max_connections,
        header_timeout: Duration::from_secs(header),
        idle_timeout: Duration::from_secs(idle),
        body_timeout: Duration::from_secs(body),
    }
}

fn app() -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        )
        .route(
            "/echo",
            post(|body: axum::body::Body| async move {
                match axum::body::to_bytes(body, 1 << 20).await {
                    Ok(b) => (axum::http::StatusCode::OK, b.len().to_string()),
                    Err(_) => (axum::http::StatusCode::BAD_REQUEST, "unreadable".to_string()),
                }
            }),
        )
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(limits: ListenerLimits) -> Running {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let served = tokio::spawn(listener::serve(l, app(), limits, async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        served,
    }
}

/// Sends `request` on a new connection and reads until the server closes it.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits (at most `within`) for the server to close `s`; true when it did.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(within, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => {
            // An error answer before the close is fine; wait for the close itself.
            tokio::time::timeout(within, s.read_to_end(&mut Vec::new()))
                .await
                .is_ok()
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn sockets_that_never_send_a_header_are_closed_after_the_header_timeout() {
    let server = start(limits(16, 1, 30, 30)).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let started = Instant::now();
    for s in &mut idle {
        assert!(
            closed_within(s, Duration::from_secs(5)).await,
            "an idle socket stayed open"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_gets_through_while_idle_sockets_fill_the_cap() {
    let server = start(limits(4, 1, 30, 30)).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Let the server accept all four before the legitimate client arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        exchange(
            server.addr,
            "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ),
    )
    .await
    .expect("the request waited for ever behind idle sockets");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("pong"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_a_slot_is_free() {
    let server = start(limits(1, 2, 30, 30)).await;
    let _holder = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = exchange(
        server.addr,
        "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Served only once the header timeout closed the one socket holding the only slot.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408() {
    let server = start(limits(16, 10, 30, 1)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_body_within_the_timeout_is_read() {
    let server = start(limits(16, 10, 30, 5)).await;
    let answer = exchange(
        server.addr,
        "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n5"), "{answer}");
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = start(limits(16, 30, 1, 30)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "the idle connection stayed open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn requests_carry_the_peer_address() {
    let server = start(limits(16, 10, 30, 30)).await;
    let answer = exchange(
        server.addr,
        "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.ends_with("127.0.0.1"), "{answer}");
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let mut server = start(limits(16, 10, 30, 30)).await;
    let addr = server.addr;
    let request = tokio::spawn(async move {
        exchange(addr, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().unwrap().send(()).unwrap();
    let answer = request.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    let served = tokio::time::timeout(Duration::from_secs(5), server.served).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to `port` until the server answers, for at most ten seconds.
async fn wait_for(port: u16) {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {port}");
}

#[tokio::test]
async fn idsync_run_applies_the_configured_limits_to_the_scim_and_ops_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let (scim, ops) = (free_port(), free_port());
    let config = dir.path().join("idsync.toml");
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[scim]\nlisten = \"127.0.0.1:{scim}\"\n\
         max_connections = 3\nheader_timeout_secs = 1\n\n[ops]\nlisten = \"127.0.0.1:{ops}\"\n\
         max_connections = 2\nheader_timeout_secs = 1\n",
        dir.path().join("idsync.db").display()
    );
    std::fs::write(&config, text).unwrap();
    let _daemon = support::Daemon(
        std::process::Command::new(env!("CARGO_BIN_EXE_idsync"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(scim).await;
    wait_for(ops).await;
    for (port, cap, path) in [(scim, 3, "/scim/v2/health"), (ops, 2, "/healthz")] {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut idle = Vec::new();
        for _ in 0..cap {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = tokio::time::timeout(Duration::from_secs(5), exchange(addr, &request))
            .await
            .expect("the request waited for ever behind idle sockets");
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        for s in &mut idle {
            assert!(
                closed_within(s, Duration::from_secs(3)).await,
                "{path}: an idle socket stayed open"
            );
        }
    }
}
