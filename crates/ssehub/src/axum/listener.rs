//! A listener whose connections can be cut from outside.
//!
//! A client that stops reading leaves its connection stuck in a write: the
//! server never polls its stream again, so the stream cannot end itself when
//! the hub disconnects it for lagging. Serving through [`Listener`] gives each
//! request a [`Peer`] whose [`Peer::cut`] aborts the connection's I/O at once.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener for `axum::serve` whose connections the hub can cut, with
/// `TCP_NODELAY` set on each (events are small and latency matters).
///
/// Serve with `into_make_service_with_connect_info::<Peer>()` so handlers can
/// extract [`Peer`].
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let app = app.into_make_service_with_connect_info::<ssehub::axum::Peer>();
/// axum::serve(ssehub::axum::Listener::new(listener), app).await
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
}

impl Listener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener) -> Self {
        Listener { inner }
    }
}

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (Connection::new(stream), addr);
                }
                // Per-connection errors (reset before accept): try the next one.
                Err(e) if is_connection_error(&e) => continue,
                // Out of file descriptors and the like: back off briefly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[derive(Debug, Default)]
struct Cut {
    done: AtomicBool,
    waker: AtomicWaker,
}

impl Cut {
    /// Registers the connection's task and says whether it was cut.
    fn check(&self, cx: &Context<'_>) -> io::Result<()> {
        self.waker.register(cx.waker());
        if self.done.load(Ordering::Acquire) {
            Err(io::ErrorKind::ConnectionAborted.into())
        } else {
            Ok(())
        }
    }
}

/// An accepted connection that can be cut (what [`Listener`] yields): a
/// TCP stream, or any other byte stream (`S`), such as a TLS session over
/// one.
#[derive(Debug)]
pub struct Connection<S = TcpStream> {
    stream: S,
    cut: Arc<Cut>,
    /// Bytes already read from `stream` by someone else, to be read first.
    prefix: bytes::Bytes,
}

impl Connection {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream) -> Connection {
        Connection::with_prefix(stream, bytes::Bytes::new())
    }
}

impl<S> Connection<S> {
    /// Wraps a stream from which `prefix` was already read (a server that
    /// looked at the request before handing the connection on): reads
    /// return `prefix` first.
    pub fn with_prefix(stream: S, prefix: bytes::Bytes) -> Connection<S> {
        Connection {
            stream,
            cut: Arc::new(Cut::default()),
            prefix,
        }
    }

    /// The [`Peer`] of this connection, for handlers (as request extension
    /// `axum::extract::ConnectInfo<Peer>`).
    pub fn peer(&self, addr: SocketAddr) -> Peer {
        Peer {
            addr,
            cut: self.cut.clone(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Connection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.cut.check(cx)?;
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Connection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.cut.check(cx)?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.cut.check(cx)?;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.cut.check(cx)?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The client side of a connection served through [`Listener`]: its address,
/// and a handle to cut it.
#[derive(Clone, Debug)]
pub struct Peer {
    addr: SocketAddr,
    cut: Arc<Cut>,
}

impl Peer {
    /// The client's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Aborts the connection: its pending and future reads and writes fail,
    /// so the server drops it (and the subscription with it) at once.
    pub fn cut(&self) {
        self.cut.done.store(true, Ordering::Release);
        self.cut.waker.wake();
    }
}

impl Connected<IncomingStream<'_, Listener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        stream.io().peer(*stream.remote_addr())
    }
}
