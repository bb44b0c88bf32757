//! A webhook receiver on 127.0.0.1: a small HTTP/1.1 server over raw TCP (so it can drop a
//! connection without answering) that checks every Standard Webhooks signature with its own
//! HMAC (ring), records every request, and answers as told: 200, another status, a stall, or
//! a dropped connection, for the next requests or from now on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How to answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Status(u16),
    /// Wait this long, then answer 200 (too late for a client with a shorter timeout).
    Stall(Duration),
    /// Close the connection without a word.
    Drop,
    /// Wait this long, then answer 200 (in time: an acknowledgement, just a slow one).
    Slow(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub body: Value,
    /// The signature checked out (and the timestamp is within five minutes).
    pub verified: bool,
    /// How it was answered.
    pub answer: Answer,
    /// The body and the `webhook-signature` header as sent, for a third-party verifier.
    pub raw_body: String,
    pub signature: String,
}

impl Received {
    /// Answered 200 in time (a stall counts as not acknowledged).
    pub fn acknowledged(&self) -> bool {
        matches!(self.answer, Answer::Ok | Answer::Slow(_))
    }
}

#[derive(Debug)]
struct State {
    key: Vec<u8>,
    next: VecDeque<Answer>,
    default: Answer,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    /// Listens on a free port; verifies with `secret` (`whsec_...`).
    pub async fn start(secret: &str) -> Receiver {
        let key = STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            key,
            next: VecDeque::new(),
            default: Answer::Ok,
            received: Vec::new(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Receiver { url, state }
    }

    /// Answers the next requests so, in order; then as the default.
    pub fn then(&self, answers: &[Answer]) {
        self.state.lock().unwrap().next.extend(answers.iter().copied());
    }

    /// Answers every request so from now on (after the queued ones).
    pub fn always(&self, answer: Answer) {
        self.state.lock().unwrap().default = answer;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The acknowledged messages, each id once, in the order first acknowledged.
    pub fn acknowledged(&self) -> Vec<Received> {
        let mut seen = std::collections::HashSet::new();
        self.received()
            .into_iter()
            .filter(|r| r.acknowledged() && seen.insert(r.id.clone()))
            .collect()
    }

    /// Waits until `done` holds for the requests received (at most `secs`).
    pub async fn wait_until(&self, secs: u64, what: &str, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if done(&self.received()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {} requests",
                self.received().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One connection: requests until the peer closes it (or a `Drop` answer).
async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    loop {
        let Some((headers, body)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let answer = {
            let mut s = state.lock().unwrap();
            let answer = s.next.pop_front().unwrap_or(s.default);
            let received = check(&s.key, &headers, &body, answer);
            s.received.push(received);
            answer
        };
        let status = match answer {
            Answer::Ok => 200,
            Answer::Status(code) => code,
            Answer::Stall(d) | Answer::Slow(d) => {
                tokio::time::sleep(d).await;
                200
            }
            Answer::Drop => return,
        };
        let reply = format!("HTTP/1.1 {status} Answer\r\ncontent-length: 2\r\n\r\nok");
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one request: its headers (lowercased names) and body.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Vec<(String, String)>, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    buf.drain(..end + 4);
    while buf.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Vec<u8> = buf.drain(..length).collect();
    Some((headers, body))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Checks the signature as the specification says: HMAC-SHA256 of `id.timestamp.body`, any
/// of the space-separated `v1,` signatures, the timestamp within five minutes.
fn check(key: &[u8], headers: &[(String, String)], body: &[u8], answer: Answer) -> Received {
    let id = header(headers, "webhook-id").unwrap_or_default().to_owned();
    let timestamp: i64 = header(headers, "webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let signatures = header(headers, "webhook-signature").unwrap_or_default();
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let good = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| {
            STANDARD
                .decode(s)
                .is_ok_and(|sig| ring::hmac::verify(&key, &signed, &sig).is_ok())
        });
    let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() <= 300;
    Received {
        id,
        timestamp,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        verified: good && fresh && !headers.is_empty(),
        answer,
        raw_body: String::from_utf8_lossy(body).into_owned(),
        signature: signatures.to_owned(),
    }
}
