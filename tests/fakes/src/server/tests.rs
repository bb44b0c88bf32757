//! The generic server's own promises: fault order and counts, canned, dropped, delayed and
//! built answers, the request log, and the in-flight count.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{FakeServer, Fault, Handler, Reply, Request, When};

/// Answers 200 with the path; counts the requests it handled; stamps every answer.
#[derive(Default)]
struct Echo {
    handled: usize,
}

impl Handler for Echo {
    fn handle(&mut self, request: &Request) -> Response {
        self.handled += 1;
        Reply::json(StatusCode::OK, &json!({"path": request.path})).into_response()
    }

    fn finish(&mut self, _request: &Request, response: &mut Response) {
        response.headers_mut().insert("x-fake", "yes".parse().unwrap());
    }
}

async fn get(url: &str) -> (u16, Option<String>, Result<String, reqwest::Error>) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let stamp = response
        .headers()
        .get("x-fake")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, stamp, response.text().await)
}

#[tokio::test]
async fn faults_are_served_in_queue_order_to_the_requests_they_match_then_the_handler_answers() {
    let fake = FakeServer::start(Echo::default()).await;
    let busy = Reply::new(StatusCode::SERVICE_UNAVAILABLE).header("retry-after", "1");
    fake.inject_n(When::path("/a"), Fault::reply(busy).labelled("busy"), 2);
    fake.inject(When::any(), Fault::reply(Reply::new(StatusCode::IM_A_TEAPOT)));
    assert_eq!(fake.pending_faults(), 3);

    let base = fake.url();
    let (status, stamp, _) = get(&format!("{base}/b")).await;
    assert_eq!(status, 418, "/b skips the /a faults");
    assert_eq!(stamp.as_deref(), Some("yes"), "finish runs on faults too");
    assert_eq!(get(&format!("{base}/a")).await.0, 503);
    assert_eq!(get(&format!("{base}/a?x=1")).await.0, 503);
    let (status, stamp, body) = get(&format!("{base}/a")).await;
    assert_eq!((status, stamp.as_deref()), (200, Some("yes")));
    assert_eq!(body.unwrap(), r#"{"path":"/a"}"#);
    assert_eq!(fake.pending_faults(), 0);
    assert_eq!(fake.state().handled, 1);

    let log = fake.requests();
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r.path.as_str(), r.status, r.fault.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("/b", 418, Some("reply 418")),
            ("/a", 503, Some("busy")),
            ("/a", 503, Some("busy")),
            ("/a", 200, None),
        ]
    );
    assert_eq!(log[2].param("x"), Some("1"));
    fake.clear_log();
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_dropped_connection_never_delivers_a_whole_answer() {
    let fake = FakeServer::start(Echo::default()).await;
    let partial = Reply::new(StatusCode::OK).body(r#"{"value":["#);
    fake.inject(When::path_prefix("/v1"), Fault::drop_after(partial));
    // hyper may drop the connection before or after the status line: either way the client
    // sees an error, never a complete body.
    let outcome = match reqwest::get(format!("{}/v1/users", fake.url())).await {
        Ok(response) => response.text().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the answer arrived whole");
    assert_eq!(fake.state().handled, 0);
    let log = fake.requests();
    assert_eq!(log[0].fault.as_deref(), Some("dropped connection"));
}

#[tokio::test]
async fn a_delay_fault_answers_normally_but_late_and_a_built_fault_sees_state_and_request() {
    let fake = FakeServer::start(Echo::default()).await;
    fake.inject(When::any(), Fault::delay(Duration::from_millis(200)));
    let started = Instant::now();
    assert_eq!(get(&fake.url()).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(fake.state().handled, 1, "the handler answered");

    fake.inject(
        When::matching(|r| r.header("x-who") == Some("me")),
        Fault::build(|s: &mut Echo, r: &Request| {
            s.handled += 10;
            Reply::new(StatusCode::ACCEPTED)
                .body(r.body.clone())
                .into_response()
        }),
    );
    let response = reqwest::Client::new()
        .post(fake.url())
        .header("x-who", "me")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(response.text().await.unwrap(), "hello");
    assert_eq!(fake.state().handled, 11);
    let last = fake.requests().pop().unwrap();
    assert_eq!((last.method.as_str(), &last.body[..]), ("POST", &b"hello"[..]));
    assert_eq!(last.header("x-who"), Some("me"));
}

#[tokio::test]
async fn concurrent_requests_are_counted_in_flight() {
    let fake = FakeServer::start(Echo::default()).await;
    fake.inject_n(When::any(), Fault::delay(Duration::from_millis(100)), 3);
    let url = fake.url();
    let calls = (0..3).map(|_| get(&url));
    for (status, _, _) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200);
    }
    assert_eq!(fake.max_in_flight(), 3);
    fake.clear_log();
    assert_eq!(fake.max_in_flight(), 0);
}
