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
use axum::extract::{FromRequestParts, Query};
use axum::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use ssehub_core::{Item, Parser};

use crate::Subscription;

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

#[derive(serde::Deserialize)]
struct LastEventIdQuery {
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        if let Some(value) = parts.headers.get("last-event-id") {
            if let Ok(id) = value.to_str() {
                return Ok(LastEventId(Some(id.to_owned())));
            }
        }
        let query = Query::<LastEventIdQuery>::try_from_uri(&parts.uri).ok();
        Ok(LastEventId(query.and_then(|q| q.0.last_event_id)))
    }
}

/// Adds the headers of every event-stream response: the content type, no
/// caching, and no buffering by proxies (nginx honours `X-Accel-Buffering`).
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
        let mut response = Response::new(Body::from_stream(Frames(self)));
        event_stream_headers(&mut response);
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
