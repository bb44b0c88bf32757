//! Fake upstream servers for idsync's tests and benchmarks: Microsoft Graph ([`graph`]) and
//! Okta ([`okta`]), both built on one generic fake HTTP server ([`server`]), plus the
//! [`mirror`] that folds a connector's batches the way the planner does.
//!
//! A dev-only crate: the root package's tests and benches use it as `idsync_fakes`.
//!
//! # The generic server, for the next fake
//!
//! A fake is a state type that implements [`Handler`]; [`FakeServer::start`] serves it:
//!
//! ```no_run
//! use idsync_fakes::server::{FakeServer, Fault, Handler, Reply, Request, When};
//! use axum::http::StatusCode;
//! use axum::response::{IntoResponse, Response};
//!
//! #[derive(Default)]
//! struct Directory { users: Vec<String> }
//!
//! impl Handler for Directory {
//!     fn handle(&mut self, request: &Request) -> Response {
//!         match request.path.as_str() {
//!             "/users" => Reply::json(StatusCode::OK, &serde_json::json!(self.users)),
//!             _ => Reply::new(StatusCode::NOT_FOUND),
//!         }
//!         .into_response()
//!     }
//! }
//!
//! # async fn example() {
//! let fake = FakeServer::start(Directory::default()).await;
//! fake.state().users.push("ann".into());
//! // The next two requests to /users answer 503 with Retry-After; the third is normal.
//! let busy = Reply::new(StatusCode::SERVICE_UNAVAILABLE).header("retry-after", "1");
//! fake.inject_n(When::path("/users"), Fault::reply(busy), 2);
//! // ... point the client at fake.url() ...
//! assert!(fake.requests().iter().any(|r| r.fault.is_some()));
//! # }
//! ```
//!
//! - **Start and stop**: [`FakeServer::start`] binds `127.0.0.1:0` (a free port; read it with
//!   [`FakeServer::addr`] or [`FakeServer::url`]) and serves an axum router on the current tokio
//!   runtime. Dropping the `FakeServer` stops it.
//! - **State**: [`FakeServer::state`] locks the fake's state, so a test changes the directory
//!   between requests. [`Handler::handle`] runs under the same lock, one request at a time;
//!   [`Handler::finish`] runs on every answer (faults' too) for headers every response carries.
//! - **Requests**: [`Request`] holds the method, the URI, the path, the decoded query pairs
//!   ([`Request::param`]), the headers ([`Request::header`]), the body, and the fake's own
//!   address ([`Request::origin`], the base of absolute links such as next-page links).
//! - **Faults**: [`FakeServer::inject`] / [`FakeServer::inject_n`] queue a [`Fault`] for the
//!   next request(s) a [`When`] accepts ([`When::any`], [`When::path`], [`When::path_prefix`],
//!   [`When::matching`]). A request takes the first queued fault that applies, in queue
//!   order. A fault answers a canned [`Reply`] (any status, headers and body; a body that
//!   stops half way is a truncated answer) ([`Fault::reply`]), sends a reply's start and then
//!   drops the connection ([`Fault::drop_after`]), delays the normal answer
//!   ([`Fault::delay`], or [`Fault::delayed`] on any fault), or builds an answer from the
//!   request and the state ([`Fault::build`]). [`FakeServer::pending_faults`] counts what is
//!   left.
//! - **Log**: [`FakeServer::requests`] returns every request as a [`Recorded`] (method, path,
//!   query, headers, body, status answered, when, and the label of the fault served, if
//!   any); [`FakeServer::clear_log`] empties it. [`FakeServer::max_in_flight`] tells how many
//!   requests were handled at once, to test a client's concurrency limit.
//!
//! The Graph and Okta fakes wrap a `FakeServer` in their own type (`FakeGraph`, `FakeOkta`)
//! with methods that change the directory, their own `Route` and `Fault` vocabulary that
//! converts into [`When`] and [`Fault`], and a `support` module with connector configuration
//! and the ground truth a test compares a [`mirror::Mirror`] with.
// Test code: a broken fixture should fail the test loudly, right where it broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

pub mod google;
pub mod graph;
pub mod keys;
pub mod mirror;
pub mod okta;
pub mod server;

pub use server::{FakeServer, Fault, Handler, Recorded, Reply, Request, When};
