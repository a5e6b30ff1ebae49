//! HTTP/2 (over TLS, when the client offers `h2`): every request is a
//! stream of one connection, served by hyper and the axum router.
//!
//! Flow control: hyper polls a response body only while the stream's send
//! window has room (and buffers at most `max_send_buf_size` beyond it), so a
//! client that stops reading one stream leaves its events in the hub's
//! bounded queue, never in memory of its own. When that queue overflows, the
//! hub's lag policy cuts the subscriber; here that ends the stream alone
//! (`RST_STREAM`), not the connection the client's other streams share. A
//! stream's task cannot be reached from its response body (hyper does not
//! poll the body of a stalled stream), so the executor gives each stream's
//! task a [`StreamCut`] that ends it, and handlers find theirs with
//! [`stream_cut`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use crate::client::SocketPeer;
use crate::conn;

tokio::task_local! {
    static STREAM_CUT: Arc<Notify>;
}

/// Ends the HTTP/2 stream whose handler took it (see [`stream_cut`]).
#[derive(Clone, Debug)]
pub(crate) struct StreamCut(Arc<Notify>);

impl StreamCut {
    /// Resets the stream: its task is dropped, and hyper with it sends
    /// `RST_STREAM` (the connection and its other streams go on).
    pub(crate) fn cut(&self) {
        self.0.notify_one();
    }
}

/// The cut of the HTTP/2 stream whose request is being handled; `None` on
/// HTTP/1.1.
pub(crate) fn stream_cut() -> Option<StreamCut> {
    STREAM_CUT.try_with(|cut| StreamCut(cut.clone())).ok()
}

/// Runs each stream of a connection in a task of its own that its
/// [`StreamCut`] can end.
#[derive(Clone, Copy, Debug)]
struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, stream: F) {
        let cut = Arc::new(Notify::new());
        tokio::spawn(STREAM_CUT.scope(cut.clone(), async move {
            tokio::select! {
                _ = stream => {}
                _ = cut.notified() => {}
            }
        }));
    }
}

/// Serves an HTTP/2 connection until the client leaves, or `stop` says the
/// hub shuts down (then a GOAWAY lets open streams end).
pub(crate) async fn serve<S>(io: S, addr: SocketAddr, app: Router, stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(SocketPeer(addr));
        app.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http2::Builder::new(StreamExecutor)
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service);
    conn::until_stopped(conn, stop).await;
}
