//! What the hub logs about its clients, at `info`: a line when a stream opens
//! and when it closes (client address, topics, duration, bytes, why it
//! ended), and one per refused request (`warn` for limits, which say the hub
//! is busy or a client too eager), and warnings that come in floods at most
//! once a second ([`Throttled`]). Paths are logged without their query, so
//! a `?token=` never reaches a log.

use std::net::IpAddr;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use ssehub::Subscription;
use std::time::Duration;

use crate::client;

/// Why a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The client closed its connection (or stream).
    ClientGone,
    /// It fell behind and the lag policy cut it off.
    Lagged,
    /// Its token expired.
    TokenExpired,
    /// The hub ended it (shutting down, or a backend that could not replay).
    ByHub,
    /// A close command ended it (`DELETE /connections/{id}`, on any hub).
    Closed,
    /// Writing to the client failed.
    WriteFailed,
}

impl Ended {
    /// How a stream the hub ended ended: by a close command, or otherwise.
    pub(crate) fn by_hub(sub: &ssehub::Subscription) -> Ended {
        if sub.closed() {
            Ended::Closed
        } else {
            Ended::ByHub
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Ended::ClientGone => "client closed",
            Ended::Lagged => "lagged",
            Ended::TokenExpired => "token expired",
            Ended::ByHub => "ended by the hub",
            Ended::Closed => "closed by a close command",
            Ended::WriteFailed => "write failed",
        }
    }
}

/// Logs that `sub` opened for `client`.
pub(crate) fn opened(sub: &Subscription, client: Option<IpAddr>) {
    tracing::info!(
        stream = %sub.id(),
        client = %Client(client),
        topics = %sub.topics().collect::<Vec<_>>().join(","),
        resume = ?sub.resume(),
        "stream opened"
    );
}

/// Logs that `sub`, opened for `client`, closed after `bytes` were written,
/// and why. Its duration is reckoned from [`Subscription::since`] (kept
/// once, by the hub).
pub(crate) fn closed(sub: &Subscription, client: Option<IpAddr>, bytes: u64, why: Ended) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    tracing::info!(
        stream = %sub.id(),
        client = %Client(client),
        duration_ms = now.saturating_sub(sub.since()),
        bytes,
        reason = why.as_str(),
        "stream closed"
    );
}

/// Logs a refused request: its client, method, path (never the query) and
/// the error code answered.
pub(crate) fn refused(
    client: Option<IpAddr>,
    method: &Method,
    path: &str,
    status: StatusCode,
    code: &str,
) {
    let client = Client(client);
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(%client, %method, path, status = status.as_u16(), code, "refused");
    } else {
        tracing::info!(%client, %method, path, status = status.as_u16(), code, "refused");
    }
}

/// The error code an [`ApiError`](crate::ApiError) answered with, for
/// [`refusals`] to log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

/// Middleware: logs every request the router refused with an `ApiError`.
pub(crate) async fn refusals(
    axum::extract::State(trusted): axum::extract::State<std::sync::Arc<[ipnet::IpNet]>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let client = client::ip(&parts, &trusted);
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        refused(client, &method, uri.path(), response.status(), code);
    }
    response
}

/// A client address, or `-` when the server did not say.
struct Client(Option<IpAddr>);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// A warning logged at most once a second, saying how many were left out
/// (accept errors and refused connections come in floods).
pub(crate) struct Throttled {
    what: &'static str,
    last: Option<tokio::time::Instant>,
    left_out: u64,
}

impl Throttled {
    pub(crate) fn new(what: &'static str) -> Throttled {
        Throttled {
            what,
            last: None,
            left_out: 0,
        }
    }

    pub(crate) fn warn(&mut self, detail: &str) {
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.left_out += 1;
            return;
        }
        tracing::warn!(more_since_last = self.left_out, "{}: {detail}", self.what);
        self.last = Some(now);
        self.left_out = 0;
    }
}
