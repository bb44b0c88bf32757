//! Serves an axum router on a TCP listener with limits: a header-read timeout, an idle timeout,
//! a request-body timeout and a cap on concurrent connections. Every listener (SCIM, ops, admin)
//! goes through [`serve`], so none of them can be held open by clients that never finish.
//!
//! The cap is a semaphore taken *before* `accept`: a connection beyond it waits in the kernel's
//! accept queue instead of being accepted and closed. Waiting costs the process no file
//! descriptor (the queue belongs to the kernel), and a legitimate client that arrives while
//! idle sockets fill the cap is served as soon as the header timeout frees a slot, instead of
//! being turned away.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};
use tracing::{debug, warn};

use crate::tls::Tls;

/// The limits of one listener; each config section (`[scim]`, `[ops]`) builds its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long the server waits for a complete request header, on a new connection and on a
    /// kept-alive one between requests; slower connections are closed.
    pub header_timeout: Duration,
    /// A connection on which no byte moves in either direction for this long is closed (a
    /// client that stops reading its answer, or a request that stalls).
    pub idle_timeout: Duration,
    /// The whole request body must arrive within this long after the header; otherwise 408.
    pub body_timeout: Duration,
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting, lets the requests in flight finish and returns. Each request carries the peer's
/// address as axum's `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, limits, None, shutdown).await
}

/// [`serve`] with TLS: every connection starts with a handshake (within the header
/// timeout), with the certificate in effect when it arrives; anything else is closed.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    tls: Tls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = tokio::spawn(tls.clone().watch());
    let served = serve_with(listener, router, limits, Some(tls), shutdown).await;
    watcher.abort();
    served
}

async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (router, stop) = (router.clone(), stop_rx.clone());
                let acceptor = tls.as_ref().map(Tls::acceptor);
                tokio::spawn(async move {
                    match acceptor {
                        None => connection(stream, peer, router, limits, stop).await,
                        Some(acceptor) => {
                            let handshake =
                                tokio::time::timeout(limits.header_timeout, acceptor.accept(stream));
                            match handshake.await {
                                Ok(Ok(stream)) => connection(stream, peer, router, limits, stop).await,
                                Ok(Err(e)) => debug!(error = %e, peer = %peer, "TLS handshake failed"),
                                Err(_) => debug!(peer = %peer, "TLS handshake timed out"),
                            }
                        }
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a moment instead of spinning.
                warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit: when all are back, every connection has finished.
    let _ = slots.acquire_many(max as u32).await;
    Ok(())
}

/// Serves one connection until it ends, goes idle or the listener shuts down.
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: ListenerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        handle(router.clone(), peer, body_timeout, request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut idle = pin!(tokio::time::sleep(limits.idle_timeout));
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    debug!(error = %e, peer = %peer, "connection closed with an error");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = idle.as_mut() => {
                let quiet = activity.quiet_for();
                if quiet >= limits.idle_timeout {
                    debug!(peer = %peer, "closing an idle connection");
                    return;
                }
                idle.as_mut().reset(Instant::now() + (limits.idle_timeout - quiet));
            }
        }
    }
}

/// One request: the peer's address attached, the body under its deadline, and 408 when the
/// deadline passed before the body was in.
async fn handle(
    mut router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
    request: Request<Incoming>,
) -> Result<Response, std::convert::Infallible> {
    let timed_out = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(body_timeout)),
        timed_out: timed_out.clone(),
    };
    let response = tower_service::Service::call(&mut router, Request::from_parts(parts, body)).await?;
    if timed_out.load(Ordering::Relaxed) {
        let message = format!(
            "the request body did not arrive within {}s",
            body_timeout.as_secs()
        );
        return Ok((StatusCode::REQUEST_TIMEOUT, message).into_response());
    }
    Ok(response)
}

/// The time of the last byte moved on a connection.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A stream (TCP, or TLS over TCP) that records when bytes move.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request body that fails, and raises `timed_out`, once its deadline passes.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

/// The error a [`DeadlineBody`] yields once its deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

impl HttpBody for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
