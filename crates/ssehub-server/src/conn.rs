//! Connections. The first request of each is read here: a `GET /events` is
//! answered by writing the subscription straight to the socket; anything
//! else (and every later request on the connection) goes to the axum router
//! through hyper.
//!
//! Why not hyper for the streams too: an idle hyper connection keeps its 8 KiB
//! read buffer and 8 KiB write buffer for as long as the stream is open, so
//! 10,000 idle subscribers would cost about 19 KiB each. Written directly, an
//! idle stream holds only its socket, its subscription and a small task; and
//! the frames queued for it go out in one vectored write per wake-up.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{Method, Request};
use axum::Router;
use bytes::{Bytes, BytesMut};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use ssehub::axum::Connection;
use ssehub::Subscription;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::cors;
use crate::error::ApiError;
use crate::events;
use crate::metrics::ServerCounters;
use crate::AppState;

/// Longest request head read here; longer ones go to hyper, which refuses them.
const MAX_HEAD: usize = 16 << 10;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Most frames written in one vectored write.
const BATCH: usize = 64;

/// Serves one accepted connection.
///
/// What a stream's task holds while it is idle is what an idle subscriber
/// costs; so the one-off steps (reading the request, subscribing, serving
/// through hyper) run in a first task, and a stream continues in a task of
/// its own that holds only [`pump`]'s few fields.
pub(crate) async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    state: AppState,
    app: Router,
    stop: watch::Receiver<bool>,
    guard: Guard,
) {
    let counters = state.counters.clone();
    if let Some((stream, opened, cut, head)) = request(stream, addr, state, app, stop).await {
        tokio::spawn(async move {
            pump(
                stream,
                opened.subscription,
                cut,
                opened.expires,
                head,
                counters,
            )
            .await;
            drop((guard, opened.slot));
        });
    }
}

/// Reads the first request. A `GET /events` is subscribed and handed back
/// for [`pump`]; anything else is served here (through hyper) to the end.
async fn request(
    mut stream: TcpStream,
    addr: SocketAddr,
    state: AppState,
    app: Router,
    stop: watch::Receiver<bool>,
) -> Option<(TcpStream, events::Opened, Arc<Notify>, Bytes)> {
    let mut buf = BytesMut::with_capacity(1024);
    let parts = loop {
        // A client that is slow to send its request head is dropped.
        match tokio::time::timeout(HEAD_TIMEOUT, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(_)) => {}
        }
        match parse_head(&buf) {
            Head::Events(parts) => break parts,
            Head::Partial if buf.len() < MAX_HEAD => continue,
            Head::Partial | Head::Other => {
                serve_http(stream, buf.freeze(), addr, app, stop).await;
                return None;
            }
        }
    };
    drop((buf, app, stop));
    let cut = Arc::new(Notify::new());
    let on_lag: events::OnLag = {
        let cut = cut.clone();
        Box::new(move || cut.notify_one())
    };
    let mut parts = parts;
    let cors = cors::stream_headers(
        &state.config.cors_origins,
        parts.headers.get(axum::http::header::ORIGIN),
    );
    let head = if cors.is_empty() {
        Bytes::from_static(STREAM_HEAD)
    } else {
        let mut head = STREAM_HEAD[..STREAM_HEAD.len() - 2].to_vec();
        head.extend_from_slice(cors.as_bytes());
        head.extend_from_slice(b"\r\n");
        Bytes::from(head)
    };
    match events::open(&state, &mut parts, Some(addr.ip()), Some(on_lag)).await {
        Ok(opened) => Some((stream, opened, cut, head)),
        Err(e) => {
            write_error(&mut stream, e).await;
            None
        }
    }
}

enum Head {
    /// A complete `GET /events` head, without a body.
    Events(Box<Parts>),
    /// Not complete yet.
    Partial,
    /// Anything else, malformed included: hyper deals with it.
    Other,
}

fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    }
    let (Some("GET"), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Head::Other;
    };
    if path.split('?').next() != Some("/events") {
        return Head::Other;
    }
    let mut builder = Request::builder().method(Method::GET).uri(path);
    for h in req.headers.iter() {
        let has_body = (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
            || h.name.eq_ignore_ascii_case("transfer-encoding");
        if has_body {
            return Head::Other;
        }
        builder = builder.header(h.name, h.value);
    }
    match builder.body(()) {
        Ok(req) => Head::Events(Box::new(req.into_parts().0)),
        Err(_) => Head::Other,
    }
}

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
content-type: text/event-stream\r\n\
cache-control: no-cache\r\n\
x-accel-buffering: no\r\n\
transfer-encoding: chunked\r\n\r\n";

/// Writes a subscription to the socket until either ends, or its token
/// expires.
async fn pump(
    mut stream: TcpStream,
    mut sub: Subscription,
    cut: Arc<Notify>,
    expires: Option<Instant>,
    head: Bytes,
    counters: Arc<ServerCounters>,
) {
    // Subscribed before the head goes out: every later publish reaches it.
    if stream.write_all(&head).await.is_err() {
        return;
    }
    let mut probe = [0u8; 8];
    // Boxed, so that streams without a deadline carry no timer.
    let mut expiry = expires.map(|at| Box::pin(tokio::time::sleep_until(at)));
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            biased;
            _ = cut.notified() => return,
            _ = async {
                match &mut expiry {
                    Some(expiry) => expiry.as_mut().await,
                    None => std::future::pending().await,
                }
            } => {
                let _ = stream.write_all(b"0\r\n\r\n").await;
                return;
            }
            more = sub.next_batch(&mut batch, BATCH) => {
                if !more {
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                    return;
                }
            }
            // A client sends nothing more; a read ends when it goes away.
            read = stream.read(&mut probe) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
        }
        tokio::select! {
            biased;
            _ = cut.notified() => return,
            written = write_chunk(&mut stream, &batch) => match written {
                Ok(n) => {
                    counters.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => return,
            },
        }
    }
}

/// Writes frames as one HTTP chunk, in as few system calls as the kernel
/// allows; returns the bytes written.
async fn write_chunk(stream: &mut TcpStream, frames: &[Bytes]) -> io::Result<usize> {
    let len: usize = frames.iter().map(Bytes::len).sum();
    let head = format!("{len:x}\r\n");
    let mut slices = Vec::with_capacity(frames.len() + 2);
    slices.push(IoSlice::new(head.as_bytes()));
    slices.extend(frames.iter().map(|f| IoSlice::new(f)));
    slices.push(IoSlice::new(b"\r\n"));
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = stream.write_vectored(rest).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(head.len() + len + 2)
}

async fn write_error(stream: &mut TcpStream, e: ApiError) {
    let (status, body) = e.parts();
    let retry_after = e
        .retry_after_seconds()
        .map(|s| format!("retry-after: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry_after}connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// Hands the connection to hyper, with the bytes already read.
async fn serve_http(
    stream: TcpStream,
    read: Bytes,
    addr: SocketAddr,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let conn = Connection::with_prefix(stream, read);
    let peer = conn.peer(addr);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer.clone()));
        app.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(conn), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { drop(stop.wait_for(|stop| *stop).await) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Counts open connections, to wait for them at shutdown.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    open: AtomicUsize,
    idle: Notify,
}

/// Held by each connection's task.
#[derive(Debug)]
pub(crate) struct Guard(Arc<Tracker>);

impl Tracker {
    pub(crate) fn enter(self: &Arc<Self>) -> Guard {
        self.open.fetch_add(1, Ordering::AcqRel);
        Guard(self.clone())
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    /// An idle stream's task holds `pump`'s future: keep it small (it is
    /// most of what an idle subscriber costs; see docs/benchmarks.md).
    #[tokio::test]
    async fn an_idle_stream_holds_a_small_future() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let sub = ssehub::Hub::new().subscribe("a", None).await.unwrap();
        let pump = super::pump(
            stream,
            sub,
            std::sync::Arc::new(tokio::sync::Notify::new()),
            None,
            bytes::Bytes::from_static(super::STREAM_HEAD),
            std::sync::Arc::default(),
        );
        let size = std::mem::size_of_val(&pump);
        assert!(size <= 640, "pump future is {size} bytes");
    }
}
