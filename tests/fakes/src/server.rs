//! The generic fake server: binds 127.0.0.1:0, hands each request to a [`Handler`] unless a
//! queued [`Fault`] takes it, logs every request, and stops when dropped.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

/// One request as a fake sees it (and as the log keeps it).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The request target as sent: path and query.
    pub uri: Uri,
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The fake's own address, for absolute links in answers.
    pub local: SocketAddr,
}

impl Request {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `http://127.0.0.1:port`, the base of absolute links.
    pub fn origin(&self) -> String {
        format!("http://{}", self.local)
    }
}

/// A logged request: the request, what was answered, and when.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the answer was ready.
    pub at: Instant,
    pub status: u16,
    /// The label of the fault served instead of the handler's answer, if any.
    pub fault: Option<String>,
}

impl Recorded {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer with its whole body at hand: cloneable, so a fault can serve it many times.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// An empty answer with this status.
    pub fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// `application/json` with `body` serialized.
    pub fn json(status: StatusCode, body: &Json) -> Reply {
        Reply::new(status)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
    }

    /// Sets a header (replacing one of the same name). Panics on an invalid name or value:
    /// fakes build them from constants.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        let name = HeaderName::try_from(name).unwrap();
        self.headers.insert(name, HeaderValue::from_str(value).unwrap());
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Reply {
        self.body = body.into();
        self
    }

    /// The answer, with the body cut off by a dropped connection after what `body` holds.
    fn dropped(self) -> Response {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(self.body),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset by fake",
            )),
        ];
        let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// What a fake does with requests no fault took: its upstream API, on its own state.
pub trait Handler: Send + 'static {
    /// The normal answer to `request`.
    fn handle(&mut self, request: &Request) -> Response;

    /// Runs on every answer, faults' included, before it is sent (headers every response
    /// carries, such as rate-limit headers).
    fn finish(&mut self, _request: &Request, _response: &mut Response) {}
}

/// Which requests a fault applies to.
#[derive(Clone)]
pub struct When(Arc<dyn Fn(&Request) -> bool + Send + Sync>);

impl When {
    /// Every request.
    pub fn any() -> When {
        When::matching(|_| true)
    }

    /// Requests to exactly this path (any query).
    pub fn path(path: &str) -> When {
        let path = path.to_owned();
        When::matching(move |r| r.path == path)
    }

    /// Requests whose path starts with `prefix`.
    pub fn path_prefix(prefix: &str) -> When {
        let prefix = prefix.to_owned();
        When::matching(move |r| r.path.starts_with(&prefix))
    }

    /// Requests the predicate accepts.
    pub fn matching(predicate: impl Fn(&Request) -> bool + Send + Sync + 'static) -> When {
        When(Arc::new(predicate))
    }
}

type Build<S> = Arc<dyn Fn(&mut S, &Request) -> Response + Send + Sync>;

enum Answer<S> {
    /// The handler's own answer (after the fault's delay).
    Handler,
    Reply(Reply),
    /// The reply's status and headers and its body as far as it goes, then a reset.
    Drop(Reply),
    Build(Build<S>),
}

impl<S> Clone for Answer<S> {
    fn clone(&self) -> Self {
        match self {
            Answer::Handler => Answer::Handler,
            Answer::Reply(r) => Answer::Reply(r.clone()),
            Answer::Drop(r) => Answer::Drop(r.clone()),
            Answer::Build(b) => Answer::Build(b.clone()),
        }
    }
}

/// A misbehaviour, served instead of (or before) the handler's answer.
pub struct Fault<S> {
    label: String,
    delay: Duration,
    answer: Answer<S>,
}

impl<S> Clone for Fault<S> {
    fn clone(&self) -> Self {
        Fault {
            label: self.label.clone(),
            delay: self.delay,
            answer: self.answer.clone(),
        }
    }
}

impl<S> Fault<S> {
    /// Answers `reply` (any status, headers and body; a body that stops half way is a
    /// truncated answer).
    pub fn reply(reply: Reply) -> Fault<S> {
        Fault {
            label: format!("reply {}", reply.status.as_u16()),
            delay: Duration::ZERO,
            answer: Answer::Reply(reply),
        }
    }

    /// Sends the reply's status, headers and body, then drops the connection.
    pub fn drop_after(reply: Reply) -> Fault<S> {
        Fault {
            label: "dropped connection".into(),
            delay: Duration::ZERO,
            answer: Answer::Drop(reply),
        }
    }

    /// The handler's normal answer, `delay` late.
    pub fn delay(delay: Duration) -> Fault<S> {
        Fault {
            label: format!("delay {delay:?}"),
            delay,
            answer: Answer::Handler,
        }
    }

    /// An answer built from the request and the fake's state, when it has to echo the
    /// request or change the state.
    pub fn build(build: impl Fn(&mut S, &Request) -> Response + Send + Sync + 'static) -> Fault<S> {
        Fault {
            label: "built".into(),
            delay: Duration::ZERO,
            answer: Answer::Build(Arc::new(build)),
        }
    }

    /// Waits `delay` before answering.
    pub fn delayed(mut self, delay: Duration) -> Fault<S> {
        self.delay = delay;
        self
    }

    /// The name the request log shows for this fault.
    pub fn labelled(mut self, label: impl Into<String>) -> Fault<S> {
        self.label = label.into();
        self
    }
}

struct Queued<S> {
    when: When,
    fault: Fault<S>,
    /// How many more requests it takes.
    left: usize,
}

/// How many requests are being handled now, and the most at once.
#[derive(Default)]
struct Flight {
    now: usize,
    most: usize,
}

struct Shared<S> {
    state: Mutex<S>,
    faults: Mutex<VecDeque<Queued<S>>>,
    log: Mutex<Vec<Recorded>>,
    flight: Mutex<Flight>,
}

/// Counts a request as in flight until dropped.
struct InFlight<'a>(&'a Mutex<Flight>);

impl<'a> InFlight<'a> {
    fn enter(flight: &'a Mutex<Flight>) -> InFlight<'a> {
        let mut f = flight.lock().unwrap();
        f.now += 1;
        f.most = f.most.max(f.now);
        InFlight(flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.0.lock() {
            f.now -= 1;
        }
    }
}

/// A running fake server around the state `S`. Dropping it stops the server.
pub struct FakeServer<S> {
    addr: SocketAddr,
    shared: Arc<Shared<S>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl<S: Handler> FakeServer<S> {
    /// Binds 127.0.0.1 on a free port and serves `state` on the current tokio runtime.
    pub async fn start(state: S) -> FakeServer<S> {
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            flight: Mutex::new(Flight::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = shared.clone();
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = serving.clone();
                async move {
                    let path = uri.path().to_owned();
                    let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect();
                    let request = Request {
                        method,
                        uri,
                        path,
                        query,
                        headers,
                        body,
                        local: addr,
                    };
                    serve(&shared, request).await
                }
            });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        FakeServer {
            addr,
            shared,
            _stop: stop,
        }
    }
}

impl<S> FakeServer<S> {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The fake's state, locked: requests wait while the guard lives.
    pub fn state(&self) -> MutexGuard<'_, S> {
        self.shared.state.lock().unwrap()
    }

    /// Queues `fault` for the next request `when` accepts.
    pub fn inject(&self, when: When, fault: Fault<S>) {
        self.inject_n(when, fault, 1);
    }

    /// Queues `fault` for the next `times` requests `when` accepts. Faults are served in the
    /// order they were queued: a request takes the first queued fault that applies to it.
    pub fn inject_n(&self, when: When, fault: Fault<S>, times: usize) {
        if times > 0 {
            let queued = Queued {
                when,
                fault,
                left: times,
            };
            self.shared.faults.lock().unwrap().push_back(queued);
        }
    }

    /// How many requests queued faults will still take.
    pub fn pending_faults(&self) -> usize {
        self.shared.faults.lock().unwrap().iter().map(|q| q.left).sum()
    }

    /// Every request so far, in the order answered.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Empties the log and resets [`FakeServer::max_in_flight`].
    pub fn clear_log(&self) {
        self.shared.log.lock().unwrap().clear();
        let mut flight = self.shared.flight.lock().unwrap();
        flight.most = flight.now;
    }

    /// The most requests handled at the same time since the start or the last `clear_log`.
    pub fn max_in_flight(&self) -> usize {
        self.shared.flight.lock().unwrap().most
    }
}

/// Takes the first queued fault that applies to `request`.
fn take_fault<S>(shared: &Shared<S>, request: &Request) -> Option<Fault<S>> {
    let mut faults = shared.faults.lock().unwrap();
    let i = faults.iter().position(|q| (q.when.0)(request))?;
    let queued = &mut faults[i];
    queued.left -= 1;
    let fault = queued.fault.clone();
    if queued.left == 0 {
        faults.remove(i);
    }
    Some(fault)
}

async fn serve<S: Handler>(shared: &Shared<S>, request: Request) -> Response {
    let _in_flight = InFlight::enter(&shared.flight);
    // Yield once so that concurrent requests overlap measurably.
    tokio::task::yield_now().await;
    let fault = take_fault(shared, &request);
    if let Some(f) = fault.as_ref().filter(|f| !f.delay.is_zero()) {
        tokio::time::sleep(f.delay).await;
    }
    let mut state = shared.state.lock().unwrap();
    let (mut response, label) = match fault {
        None => (state.handle(&request), None),
        Some(f) => {
            let response = match f.answer {
                Answer::Handler => state.handle(&request),
                Answer::Reply(reply) => reply.into_response(),
                Answer::Drop(reply) => reply.dropped(),
                Answer::Build(build) => build(&mut state, &request),
            };
            (response, Some(f.label))
        }
    };
    state.finish(&request, &mut response);
    // Logged under the state lock, so the log's order is the order of handling.
    shared.log.lock().unwrap().push(Recorded {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        body: request.body,
        at: Instant::now(),
        status: response.status().as_u16(),
        fault: label,
    });
    response
}

#[cfg(test)]
mod tests;
