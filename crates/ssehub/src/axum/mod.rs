//! The axum adapter: a [`Subscription`] is a response, [`LastEventId`] is an
//! extractor, and [`Listener`] serves connections the hub can cut when their
//! client stops reading (see [`SubscribeOptions::on_lag`](crate::SubscribeOptions::on_lag)).
//!
//! ```
//! use axum::{extract::{Query, State}, response::{IntoResponse, Response}, routing::get, Router};
//! use ssehub::{axum::LastEventId, Hub};
//!
//! #[derive(serde::Deserialize)]
//! struct Params { topic: String }
//!
//! async fn events(State(hub): State<Hub>, LastEventId(last): LastEventId, Query(p): Query<Params>) -> Response {
//!     match hub.subscribe(p.topic, last.as_deref()).await {
//!         Ok(subscription) => subscription.into_response(),
//!         Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
//!     }
//! }
//!
//! let app: Router = Router::new().route("/events", get(events)).with_state(Hub::new());
//! ```

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use ssehub_core::protocol::{events, Refusal};
use ssehub_core::{Item, Parser};

use crate::{Hub, Subscription};

mod listener;

pub use listener::{Connection, Listener, Peer};

/// The [`Peer`] of the request, when the app is served through [`Listener`]
/// with connect info; `None` otherwise (so handlers work either way).
#[derive(Clone, Debug)]
pub struct MaybePeer(pub Option<Peer>);

impl<S: Send + Sync> FromRequestParts<S> for MaybePeer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(MaybePeer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<Peer>>()
                .map(|info| info.0.clone()),
        ))
    }
}

/// The `Last-Event-ID` a client sent: the header, or else the `lastEventId`
/// query parameter (for a first connection, which `EventSource` cannot give
/// headers). The header wins: a browser sends it on each reconnection with
/// the newest id, while the query parameter keeps the first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(LastEventId(events::last_event_id(
            parts
                .headers
                .get(events::LAST_EVENT_ID_HEADER)
                .map(HeaderValue::as_bytes),
            parts.uri.query(),
        )))
    }
}

/// A [`Refusal`] as a response: its status, the JSON body `{"error": CODE,
/// "message": TEXT}` and `Retry-After` when it has one. The hub's errors
/// convert into it (`Refused::from(e)`, or `?` in a handler that returns
/// `Result<_, Refused>`), the same way on every route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub Refusal);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, self.0.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.0.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Refused {
        Refused(refusal)
    }
}

impl From<crate::SubscribeError> for Refused {
    fn from(e: crate::SubscribeError) -> Refused {
        Refused(e.into())
    }
}

impl From<crate::PublishError> for Refused {
    fn from(e: crate::PublishError) -> Refused {
        Refused(e.into())
    }
}

impl From<crate::SignalError> for Refused {
    fn from(e: crate::SignalError) -> Refused {
        Refused(e.into())
    }
}

/// A ready-made `GET /events` handler over the [`Hub`] in the router's
/// state, following the [`/events` rules](ssehub_core::protocol::events):
/// the `topic` query parameters (at least one), resuming from
/// [`LastEventId`]. Refusals (400 `missing_topic`, `invalid_topic`,
/// `too_many_topics`; 503 `shutting_down`) are [`Refused`] answers.
///
/// ```
/// use axum::{routing::get, Router};
/// use ssehub::Hub;
///
/// let app: Router = Router::new().route("/events", get(ssehub::axum::events)).with_state(Hub::new());
/// ```
pub async fn events(
    State(hub): State<Hub>,
    LastEventId(last): LastEventId,
    uri: Uri,
) -> Result<Subscription, Refused> {
    let request =
        events::EventsRequest::parse(uri.query(), None).map_err(|e| Refused(e.refusal()))?;
    let options = crate::SubscribeOptions::from(request).last_event_id(last);
    Ok(hub.subscribe_with(options).await?)
}

/// Adds the headers of every event-stream response: the content type, no
/// caching, and no buffering by proxies (nginx honours `X-Accel-Buffering`).
/// (A [`Subscription`]'s response also carries its id in `ssehub-connection`.)
/// Event streams are never compressed: a compressing proxy or layer would
/// hold events back (tower-http's compression skips `text/event-stream`).
pub fn event_stream_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

impl IntoResponse for Subscription {
    fn into_response(self) -> Response {
        let id = HeaderValue::from_str(self.id().as_str()).ok();
        let mut response = Response::new(Body::from_stream(Frames(self)));
        event_stream_headers(&mut response);
        if let Some(id) = id {
            response.headers_mut().insert(events::CONNECTION_HEADER, id);
        }
        response
    }
}

/// A subscription's frames as the `Result`s a body stream yields.
struct Frames(Subscription);

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|f| f.map(Ok))
    }
}

/// The subscription as `axum::response::sse::Event`s, for handlers that
/// already return `axum::response::Sse` (to merge hub events with their own,
/// say). Each frame is parsed back into an axum event, so this path does not
/// share one encoding between subscribers; prefer returning the
/// [`Subscription`] itself. Comments (keep-alives) are dropped: use axum's
/// `Sse::keep_alive` with it. The hub's retry hint stays in the first
/// event's block (a block of its own would reach some clients as an empty
/// event); a stream that ends before any event drops it.
pub fn sse_events(
    subscription: Subscription,
) -> impl Stream<Item = Result<axum::response::sse::Event, Infallible>> + Send {
    SseEvents {
        subscription,
        parser: Parser::new(),
        pending: std::collections::VecDeque::new(),
        retry: None,
    }
}

struct SseEvents {
    subscription: Subscription,
    parser: Parser,
    pending: std::collections::VecDeque<axum::response::sse::Event>,
    /// A `retry` field read, for the next event's block.
    retry: Option<u64>,
}

impl Stream for SseEvents {
    type Item = Result<axum::response::sse::Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use axum::response::sse::Event as AxumEvent;
        let this = &mut *self;
        loop {
            if let Some(event) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            let Some(frame) = std::task::ready!(Pin::new(&mut this.subscription).poll_next(cx))
            else {
                return Poll::Ready(None);
            };
            // Hub frames are well formed and far below the parser's limits.
            if this.parser.feed(&frame).is_err() {
                this.parser.reconnect();
                continue;
            }
            for item in this.parser.drain() {
                match item {
                    Item::Retry(ms) => this.retry = Some(ms),
                    Item::Event(e) => {
                        let mut event = AxumEvent::default().data(e.data);
                        if let Some(ms) = this.retry.take() {
                            event = event.retry(std::time::Duration::from_millis(ms));
                        }
                        if e.event != "message" {
                            event = event.event(e.event);
                        }
                        if !e.last_event_id.is_empty() {
                            event = event.id(e.last_event_id);
                        }
                        this.pending.push_back(event);
                    }
                }
            }
        }
    }
}
