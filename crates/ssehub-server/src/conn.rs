//! Connections. The first request of each is read here: a `GET /events` is
//! answered by writing the subscription straight to the socket; anything
//! else (and every later request on the connection) goes to the axum router
//! through hyper.
//!
//! Why not hyper for the streams too: an idle hyper connection keeps its 8 KiB
//! read buffer and 8 KiB write buffer for as long as the stream is open, so
//! 10,000 idle subscribers would cost about 19 KiB each. Written directly, an
//! idle plain-HTTP stream is parked ([`crate::park`]): it holds its socket
//! and subscription and no task; the frames queued for it go out in one
//! vectored write per wake-up. A TLS stream is written by a task of its own.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use bytes::{Bytes, BytesMut};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use ssehub::axum::Connection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use crate::client::{self, SocketPeer};
use crate::cors;
use crate::error::ApiError;
use crate::events;
use crate::head::{self, Head, MAX_HEAD, MAX_HEADERS};
use crate::http2;
use crate::log::{self, Ended};
use crate::metrics::ServerCounters;
use crate::park::Park;
use crate::AppState;

/// Most frames written in one vectored write.
pub(crate) const BATCH: usize = 64;

/// The last chunk of a chunked body: the stream ends cleanly.
pub(crate) const END_CHUNK: &[u8] = b"0\r\n\r\n";

/// What a stream holds besides its socket, whoever writes it.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) opened: events::Opened,
    /// Bytes written so far.
    pub(crate) bytes: u64,
    /// Counts it open until it ends.
    pub(crate) _guard: Guard,
}

impl Stream {
    pub(crate) fn new(opened: events::Opened, guard: Guard) -> Stream {
        Stream {
            opened,
            bytes: 0,
            _guard: guard,
        }
    }

    /// What a batch taken from its subscription (`more`: what
    /// `poll_batch` or `next_batch` answered) means: `None` while the stream
    /// goes on; else why it ended, and whether its last chunk goes out (not
    /// after a lag cut: that client gets nothing more).
    pub(crate) fn ended(&self, more: bool) -> Option<(Ended, bool)> {
        let sub = &self.opened.subscription;
        if sub.lagged() {
            Some((Ended::Lagged, false))
        } else if !more {
            Some((Ended::by_hub(sub), true))
        } else {
            None
        }
    }

    /// Logs its end; dropping it frees its subscription, slot and guard.
    pub(crate) fn end(self, why: Ended) {
        let opened = &self.opened;
        crate::log::closed(&opened.subscription, opened.slot.ip(), self.bytes, why);
    }
}

/// Serves one accepted connection: over TLS when configured (HTTP/2 when the
/// client offers it), else plain HTTP/1.1.
///
/// What an idle stream holds is what an idle subscriber costs; so the
/// one-off steps (the TLS handshake, reading the request, subscribing,
/// serving through hyper) run in a first task, and a stream continues
/// parked without a task ([`crate::park`]; over TLS, in a task of its own
/// that holds only [`pump`]'s few fields).
pub(crate) async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    state: AppState,
    app: Router,
    stop: watch::Receiver<bool>,
    guard: Guard,
    park: Park,
) {
    let Some(tls) = state.config.tls.clone() else {
        if let Some((mut stream, opened, head)) = request(stream, addr, state, app, stop).await {
            // The head goes out at once; then the stream waits parked.
            let stream_state = Stream::new(opened, guard);
            match stream.write_all(&head).await {
                Ok(()) => park.adopt(stream, stream_state),
                Err(_) => stream_state.end(Ended::WriteFailed),
            }
        }
        return;
    };
    Box::pin(serve_tls(tls, stream, addr, state, app, stop, guard)).await;
}

/// Serves a TLS connection: HTTP/2 if the client offers it, else HTTP/1.1.
async fn serve_tls(
    tls: crate::Tls,
    stream: TcpStream,
    addr: SocketAddr,
    state: AppState,
    app: Router,
    stop: watch::Receiver<bool>,
    guard: Guard,
) {
    match handshake(&tls, stream, state.config.head_timeout).await {
        Some((stream, true)) => http2::serve(stream, addr, app, stop).await,
        Some((stream, false)) => serve_http1(stream, addr, state, app, stop, guard).await,
        None => {}
    }
}

/// The TLS handshake, and whether the client chose HTTP/2; `None` for a
/// client that does not speak TLS, refuses the certificate, or is too slow.
async fn handshake(
    tls: &crate::Tls,
    stream: TcpStream,
    limit: std::time::Duration,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, bool)> {
    let stream = tokio::time::timeout(limit, tls.acceptor().accept(stream))
        .await
        .ok()?
        .ok()?;
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    Some((stream, h2))
}

/// Answers every request of a connection beyond `--max-connections` with
/// 503 and `Retry-After`, then closes it.
pub(crate) async fn refuse(stream: TcpStream, addr: SocketAddr, state: AppState, max: usize) {
    let refusal = Router::new().fallback(move || async move {
        let mut response = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            format!("the hub holds its most connections ({max}); retry later"),
        )
        .retry_after(1)
        .into_response();
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        response
    });
    // Never told to stop: these connections end by themselves.
    let (_never, stop) = watch::channel(false);
    let head_timeout = state.config.head_timeout;
    let Some(tls) = state.config.tls.clone() else {
        return serve_http(stream, Bytes::new(), addr, refusal, stop, head_timeout).await;
    };
    match handshake(&tls, stream, head_timeout).await {
        Some((stream, true)) => http2::serve(stream, addr, refusal, stop).await,
        Some((stream, false)) => {
            serve_http(stream, Bytes::new(), addr, refusal, stop, head_timeout).await
        }
        None => {}
    }
}

/// Serves an HTTP/1.1 connection over TLS: its first request, if it is a
/// `GET /events`, by [`pump`] in a task of its own; else by hyper.
async fn serve_http1<S: Io>(
    stream: S,
    addr: SocketAddr,
    state: AppState,
    app: Router,
    stop: watch::Receiver<bool>,
    guard: Guard,
) {
    let counters = state.counters.clone();
    if let Some((stream, opened, head)) = request(stream, addr, state, app, stop).await {
        tokio::spawn(write_stream(stream, opened, head, counters, guard));
    }
}

/// A stream's own task: the response head, then [`pump`] until the stream
/// ends. All it holds while idle is what an idle TLS subscriber costs.
async fn write_stream<S: Io>(
    mut socket: S,
    opened: events::Opened,
    head: Bytes,
    counters: Arc<ServerCounters>,
    guard: Guard,
) {
    let mut stream = Stream::new(opened, guard);
    // Subscribed before the head goes out: every later publish reaches it.
    // The head goes out at once, then the body's opening comment line (a
    // first byte for proxies that wait for one); the retry hint comes in the
    // first event's block (see `ssehub::Subscription`).
    let written = socket.write_all(&head).await;
    drop(head);
    let why = match written {
        // Boxed, so that streams without a deadline carry no timer.
        Ok(()) => {
            let expiry = stream
                .opened
                .expires
                .map(|at| Box::pin(tokio::time::sleep_until(at.instant())));
            pump(&mut socket, &mut stream, expiry, &counters).await
        }
        Err(_) => Ended::WriteFailed,
    };
    stream.end(why);
}

/// A parked stream whose client's socket took only part of a write: writes
/// `rest`, then what is queued, as the client reads it; parks the stream
/// again once its queue is empty.
pub(crate) async fn write_busy(mut socket: TcpStream, mut stream: Stream, rest: Bytes, park: Park) {
    let counters = park.counters().clone();
    if let Err(why) = write_or_lag(&mut socket, &mut stream, Out::Framed(&rest), &counters).await {
        return stream.end(why);
    }
    loop {
        if stream.opened.expires.is_some_and(|at| at.passed()) {
            let _ = socket.write_all(END_CHUNK).await;
            return stream.end(Ended::TokenExpired);
        }
        let mut batch = Vec::new();
        let sub = &mut stream.opened.subscription;
        let polled =
            std::future::poll_fn(|cx| Poll::Ready(sub.poll_batch(cx, &mut batch, BATCH))).await;
        let Poll::Ready(more) = polled else {
            return park.adopt(socket, stream);
        };
        if let Some((why, tail)) = stream.ended(more) {
            if tail {
                let _ = socket.write_all(END_CHUNK).await;
            }
            return stream.end(why);
        }
        if let Err(why) =
            write_or_lag(&mut socket, &mut stream, Out::Chunk(&batch), &counters).await
        {
            return stream.end(why);
        }
    }
}

/// A connection's byte stream: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for S {}

/// Reads the first request. A `GET /events` is subscribed and handed back
/// for [`pump`]; anything else is served here (through hyper) to the end.
async fn request<S: Io>(
    mut stream: S,
    addr: SocketAddr,
    state: AppState,
    app: Router,
    stop: watch::Receiver<bool>,
) -> Option<(S, events::Opened, Bytes)> {
    let mut buf = BytesMut::with_capacity(1024);
    let head_timeout = state.config.head_timeout;
    let deadline = tokio::time::Instant::now() + head_timeout;
    let parts = loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(_)) => {}
            Err(_) => {
                if !buf.is_empty() {
                    let e = ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        format!(
                            "send the request head within {} ms",
                            head_timeout.as_millis()
                        ),
                    );
                    write_error(&mut stream, e).await;
                }
                return None;
            }
        }
        match head::classify(&buf) {
            Head::Events(parts) => break parts,
            Head::Partial => continue,
            Head::TooLarge => {
                let e = ApiError::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "request_header_too_large",
                    format!("the request head exceeds {MAX_HEAD} bytes"),
                );
                write_error(&mut stream, e).await;
                return None;
            }
            Head::TooManyHeaders => {
                let e = ApiError::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "too_many_headers",
                    format!("at most {MAX_HEADERS} header fields"),
                );
                write_error(&mut stream, e).await;
                return None;
            }
            Head::Other => {
                // Boxed: a connection's first task stays small for streams
                // (what it allocates while streams open at once is kept by
                // the allocator for later ones).
                Box::pin(serve_http(
                    stream,
                    buf.freeze(),
                    addr,
                    app,
                    stop,
                    head_timeout,
                ))
                .await;
                return None;
            }
        }
    };
    drop((buf, app, stop));
    let mut parts = parts;
    let cors = cors::stream_headers(
        &state.config.cors_origins,
        parts.headers.get(axum::http::header::ORIGIN),
    );
    parts.extensions.insert(SocketPeer(addr));
    // A client that stops reading is cut off by `pump` itself.
    match events::open(&state, &mut parts, None).await {
        Ok(opened) => {
            // The fixed head, then the stream's id and any CORS headers.
            let id = opened.subscription.id();
            let mut head = Vec::with_capacity(STREAM_HEAD.len() + 64 + cors.len());
            head.extend_from_slice(&STREAM_HEAD[..STREAM_HEAD.len() - 2]);
            head.extend_from_slice(b"ssehub-connection: ");
            head.extend_from_slice(id.as_str().as_bytes());
            head.extend_from_slice(b"\r\n");
            head.extend_from_slice(cors.as_bytes());
            head.extend_from_slice(b"\r\n");
            Some((stream, opened, Bytes::from(head)))
        }
        Err(e) => {
            let client = client::ip(&parts, &state.config.trusted_proxies);
            let status = e.parts().0;
            log::refused(client, &Method::GET, parts.uri.path(), status, e.code());
            write_error(&mut stream, e).await;
            None
        }
    }
}

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
content-type: text/event-stream\r\n\
cache-control: no-cache\r\n\
x-accel-buffering: no\r\n\
transfer-encoding: chunked\r\n\r\n";

/// Writes a subscription to the socket until either ends, or its token
/// expires; says why it ended.
async fn pump<S: Io>(
    socket: &mut S,
    stream: &mut Stream,
    mut expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    counters: &ServerCounters,
) -> Ended {
    let mut probe = [0u8; 8];
    loop {
        let mut batch = Vec::new();
        let sub = &mut stream.opened.subscription;
        tokio::select! {
            biased;
            _ = async {
                match &mut expiry {
                    Some(expiry) => expiry.as_mut().await,
                    None => std::future::pending().await,
                }
            } => {
                let _ = socket.write_all(END_CHUNK).await;
                return Ended::TokenExpired;
            }
            more = sub.next_batch(&mut batch, BATCH) => {
                if let Some((why, tail)) = stream.ended(more) {
                    if tail {
                        let _ = socket.write_all(END_CHUNK).await;
                    }
                    return why;
                }
            }
            // A client sends nothing more; a read ends when it goes away.
            read = socket.read(&mut probe) => match read {
                Ok(0) | Err(_) => return Ended::ClientGone,
                Ok(_) => continue,
            },
        }
        if let Err(why) = write_or_lag(socket, stream, Out::Chunk(&batch), counters).await {
            return why;
        }
    }
}

/// What [`write_or_lag`] writes.
enum Out<'a> {
    /// Frames, as one chunk.
    Chunk(&'a [Bytes]),
    /// Bytes already framed: the rest of a chunk the park began.
    Framed(&'a [u8]),
}

/// Writes to the client. A client that stops reading leaves the write
/// pending: the hub's lag policy ends the wait.
async fn write_or_lag<S: Io>(
    socket: &mut S,
    stream: &mut Stream,
    out: Out<'_>,
    counters: &ServerCounters,
) -> Result<(), Ended> {
    let sub = &stream.opened.subscription;
    let write = async {
        match out {
            Out::Chunk(frames) => write_chunk(socket, frames).await,
            Out::Framed(bytes) => socket.write_all(bytes).await.map(|()| bytes.len()),
        }
    };
    tokio::select! {
        biased;
        _ = sub.until_lagged() => Err(Ended::Lagged),
        written = write => match written {
            Ok(n) => {
                stream.bytes += n as u64;
                counters.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => Err(Ended::WriteFailed),
        },
    }
}

/// One HTTP chunk of frames: its size line, the frames, and the line end
/// that closes it. Both writers (a task's [`write_chunk`] and the park's)
/// lay chunks out through it.
pub(crate) struct Chunk {
    head: [u8; 18],
    head_len: usize,
    body: usize,
}

impl Chunk {
    pub(crate) fn of(frames: &[Bytes]) -> Chunk {
        let body: usize = frames.iter().map(Bytes::len).sum();
        let (head, head_len) = chunk_head(body);
        Chunk {
            head,
            head_len,
            body,
        }
    }

    /// The bytes on the wire, framing included.
    pub(crate) fn len(&self) -> usize {
        self.head_len + self.body + 2
    }

    /// What to write, in order: `frames.len() + 2` slices.
    pub(crate) fn slices<'a>(&'a self, frames: &'a [Bytes]) -> impl Iterator<Item = IoSlice<'a>> {
        std::iter::once(IoSlice::new(&self.head[..self.head_len]))
            .chain(frames.iter().map(|f| IoSlice::new(f)))
            .chain(std::iter::once(IoSlice::new(b"\r\n")))
    }
}

/// An HTTP chunk's size line for `len` bytes: the buffer and how much of it
/// is used.
fn chunk_head(len: usize) -> ([u8; 18], usize) {
    let mut head = [0u8; 18];
    let digits = (usize::BITS as usize / 4 - len.leading_zeros() as usize / 4).max(1);
    for (i, byte) in head[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *byte = b"0123456789abcdef"[(len >> shift) & 0xf];
    }
    head[digits..digits + 2].copy_from_slice(b"\r\n");
    (head, digits + 2)
}

/// Writes frames as one HTTP chunk, in as few system calls as the kernel
/// allows; returns the bytes written.
async fn write_chunk<S: Io>(stream: &mut S, frames: &[Bytes]) -> io::Result<usize> {
    let chunk = Chunk::of(frames);
    let mut slices: Vec<IoSlice<'_>> = chunk.slices(frames).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = stream.write_vectored(rest).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(chunk.len())
}

async fn write_error<S: Io>(stream: &mut S, e: ApiError) {
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
async fn serve_http<S: Io>(
    stream: S,
    read: Bytes,
    addr: SocketAddr,
    app: Router,
    stop: watch::Receiver<bool>,
    head_timeout: std::time::Duration,
) {
    let conn = Connection::with_prefix(stream, read);
    let peer = conn.peer(addr);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer.clone()));
        req.extensions_mut().insert(SocketPeer(addr));
        app.clone().oneshot(req)
    });
    // The same bounds for every later request of the connection.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .max_buf_size(MAX_HEAD.max(8192))
        .max_headers(MAX_HEADERS)
        .header_read_timeout(head_timeout)
        .serve_connection(TokioIo::new(conn), service);
    until_stopped(conn, stop).await;
}

/// Drives a hyper connection (HTTP/1.1 or HTTP/2) until it ends, or until
/// `stop` says the hub shuts down: then it finishes the requests in flight
/// (streams end with the hub) and closes.
pub(crate) async fn until_stopped<C>(conn: C, mut stop: watch::Receiver<bool>)
where
    C: hyper_util::server::graceful::GracefulConnection,
{
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
    /// Connections ever entered.
    entered: AtomicU64,
    idle: Notify,
}

/// Held by each connection's task.
#[derive(Debug)]
pub(crate) struct Guard(Arc<Tracker>);

impl Tracker {
    pub(crate) fn enter(self: &Arc<Self>) -> Guard {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.entered.fetch_add(1, Ordering::Relaxed);
        Guard(self.clone())
    }

    /// How many have ever entered.
    pub(crate) fn entered(&self) -> u64 {
        self.entered.load(Ordering::Relaxed)
    }

    /// How many are open.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
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
    #[test]
    fn a_chunk_head_is_the_length_in_hex() {
        for len in [0, 1, 9, 10, 15, 16, 255, 256, 4095, 65_536, usize::MAX] {
            let (head, n) = super::chunk_head(len);
            assert_eq!(&head[..n], format!("{len:x}\r\n").as_bytes());
        }
        let frames = [bytes::Bytes::from("data: a\n\n"), bytes::Bytes::from(":\n")];
        let chunk = super::Chunk::of(&frames);
        let wire: Vec<u8> = chunk.slices(&frames).flat_map(|s| s.to_vec()).collect();
        assert_eq!(wire, b"b\r\ndata: a\n\n:\n\r\n");
        assert_eq!(chunk.len(), wire.len());
    }

    /// An idle TLS stream's task holds `write_stream`'s future: keep it
    /// small (it is most of what an idle TLS subscriber costs; plain-HTTP
    /// streams are parked without a task, see `park.rs`). Measured in this
    /// (debug) build: 896 bytes since the writes moved into `write_or_lag`
    /// (808 before; 1,296 before the log and TLS were added).
    #[tokio::test]
    async fn an_idle_stream_holds_a_small_future() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let subscription = ssehub::Hub::new().subscribe("a", None).await.unwrap();
        let per_ip = std::sync::Arc::new(crate::limits::PerIp::new(0));
        let opened = crate::events::Opened {
            subscription,
            expires: None,
            slot: per_ip.enter(None).unwrap(),
        };
        let tracker = std::sync::Arc::new(super::Tracker::default());
        let task = super::write_stream(
            stream,
            opened,
            bytes::Bytes::from_static(super::STREAM_HEAD),
            std::sync::Arc::default(),
            tracker.enter(),
        );
        let size = std::mem::size_of_val(&task);
        assert!(size <= 912, "a stream's task future is {size} bytes");
    }
}
