//! `GET /events`: subscribe. One function opens a subscription from a
//! request's head, for both the axum route and the direct stream writer
//! (`conn.rs`), so they cannot drift.

use std::convert::Infallible;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::Response;
use futures_core::Stream;
use ssehub::axum::MaybePeer;
use ssehub::{SubscribeOptions, Subscription};
use ssehub_core::protocol::events::{
    EventsError, EventsRequest, CONNECTION_HEADER, LAST_EVENT_ID_HEADER,
};

use crate::auth::{Access, Granted};
use crate::client;
use crate::error::ApiError;
use crate::http2;
use crate::limits::Slot;
use crate::log::{self, Ended};
use crate::AppState;

/// The axum route (used for requests that arrive on a connection already
/// serving other requests; a connection's first `GET /events` is streamed
/// by `conn.rs`).
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    MaybePeer(peer): MaybePeer,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    // A lagging subscriber's stream ends: on HTTP/2 the stream alone, on
    // HTTP/1.1 its connection.
    let on_lag: Option<OnLag> = match (http2::stream_cut(), peer) {
        (Some(stream), _) => Some(Box::new(move || stream.cut())),
        (None, Some(peer)) => Some(Box::new(move || peer.cut())),
        (None, None) => None,
    };
    let opened = open(&state, &mut parts, on_lag).await?;
    let expiry = opened
        .expires
        .map(|at| Box::pin(tokio::time::sleep_until(at.instant())));
    let id = HeaderValue::from_str(opened.subscription.id().as_str()).ok();
    let mut response = Response::new(Body::from_stream(Expiring {
        subscription: opened.subscription,
        expiry,
        slot: opened.slot,
        bytes: 0,
        ended: None,
    }));
    ssehub::axum::event_stream_headers(&mut response);
    if let Some(id) = id {
        response.headers_mut().insert(CONNECTION_HEADER, id);
    }
    Ok(response)
}

/// A subscription that ends when its token expires, and logs its end.
struct Expiring {
    subscription: Subscription,
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Its client (for the log), and its place among the address's streams.
    slot: Slot,
    bytes: u64,
    /// Why it ended, once it has; dropped before that, the client left or
    /// (over HTTP/2) its stream was cut for lagging.
    ended: Option<Ended>,
}

impl Stream for Expiring {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(expiry) = &mut self.expiry {
            if expiry.as_mut().poll(cx).is_ready() {
                self.ended = Some(Ended::TokenExpired);
                return Poll::Ready(None);
            }
        }
        let frame = ready!(Pin::new(&mut self.subscription).poll_next(cx));
        match frame {
            Some(frame) => {
                self.bytes += frame.len() as u64;
                Poll::Ready(Some(Ok(frame)))
            }
            None => {
                self.ended = Some(self.cut_off_or(Ended::by_hub(&self.subscription)));
                Poll::Ready(None)
            }
        }
    }
}

impl Expiring {
    /// `Lagged` if the hub cut it off for lagging, else `otherwise`.
    fn cut_off_or(&self, otherwise: Ended) -> Ended {
        if self.subscription.lagged() {
            Ended::Lagged
        } else {
            otherwise
        }
    }
}

impl Drop for Expiring {
    fn drop(&mut self) {
        let why = self
            .ended
            .unwrap_or_else(|| self.cut_off_or(Ended::ClientGone));
        log::closed(&self.subscription, self.slot.ip(), self.bytes, why);
    }
}

/// Run when the hub cuts a lagging subscriber off: closes its connection.
pub(crate) type OnLag = Box<dyn Fn() + Send + Sync>;

/// An open stream and what must live and end with it.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) subscription: Subscription,
    /// When the token expires: the stream must end then.
    pub(crate) expires: Option<Expiry>,
    /// Its client's address (for the log), and its place among that
    /// address's open streams.
    pub(crate) slot: Slot,
}

/// When a stream's token expires, in whole seconds since the Unix epoch (a
/// JWT's `exp` is whole seconds): 4 bytes where an `Instant` is 16, and
/// every idle stream has one (`Option<Expiry>` is 4 bytes too). Read
/// against the system clock, as the token's `exp` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Expiry(NonZeroU32);

impl Expiry {
    /// `at`, rounded up to a whole second; beyond 2106 (a `u32` of seconds)
    /// taken as then.
    pub(crate) fn at(at: SystemTime) -> Expiry {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
        let secs = u32::try_from(secs).unwrap_or(u32::MAX);
        Expiry(NonZeroU32::new(secs).unwrap_or(NonZeroU32::MIN))
    }

    /// Time left until it, from now (zero once it has passed).
    pub(crate) fn left(self) -> Duration {
        let at = UNIX_EPOCH + Duration::from_secs(self.0.get().into());
        at.duration_since(SystemTime::now()).unwrap_or_default()
    }

    /// Whether it has passed.
    pub(crate) fn passed(self) -> bool {
        self.left().is_zero()
    }

    /// When it is on the runtime's clock, for a timer.
    pub(crate) fn instant(self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.left()
    }
}

/// Opens the subscription a request asks for (by the `/events` rules of
/// `ssehub_core::protocol::events`: its `topic` parameters, and
/// `Last-Event-ID`, the header else the `lastEventId` parameter), if its
/// token grants them and the client is within its limits. The most topics in
/// one subscription is the hub's `max_topics`.
pub(crate) async fn open(
    state: &AppState,
    parts: &mut Parts,
    on_lag: Option<OnLag>,
) -> Result<Opened, ApiError> {
    let request = EventsRequest::parse(
        parts.uri.query(),
        parts
            .headers
            .get(LAST_EVENT_ID_HEADER)
            .map(|v| v.as_bytes()),
    )?;
    // Before the token is checked: the same answer as the hub's own limit.
    if request.topics.len() > state.config.max_topics {
        return Err(EventsError::TooManyTopics {
            count: request.topics.len(),
            max: state.config.max_topics,
        }
        .into());
    }
    let granted = match &state.config.auth {
        Some(auth) => auth.authorize(parts, Access::Subscribe, &request.topics)?,
        None => Granted::default(),
    };
    let ip = client::ip(parts, &state.config.trusted_proxies);
    state.connect_rate.check(ip)?;
    let slot = state.per_ip.enter(ip)?;
    let mut options = SubscribeOptions::from(request);
    if let Some(user) = granted.user {
        options = options.user(user);
    }
    if let Some(on_lag) = on_lag {
        // A client that stops reading is cut off, not left stuck in a write.
        options = options.on_lag(on_lag);
    }
    let subscription = state.hub.subscribe_with(options).await?;
    let expires = granted.expires.map(Expiry::at);
    log::opened(&subscription, ip);
    Ok(Opened {
        subscription,
        expires,
        slot,
    })
}
