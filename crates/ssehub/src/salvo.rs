//! The salvo 1 adapter: a [`Subscription`] is a [`Scribe`] (render it, or
//! return it from a handler) and [`LastEventId`] is an extractor.
//!
//! ```
//! use salvo::prelude::*;
//! use ssehub::{salvo::LastEventId, Hub};
//!
//! /// `GET /events?topic=T` over a hub.
//! struct Events {
//!     hub: Hub,
//! }
//!
//! #[handler]
//! impl Events {
//!     async fn handle(&self, req: &mut Request, res: &mut Response) {
//!         let LastEventId(last) = LastEventId::from_request(req);
//!         let topic: String = req.query("topic").unwrap_or_default();
//!         match self.hub.subscribe(topic.as_str(), last.as_deref()).await {
//!             Ok(subscription) => res.render(subscription),
//!             Err(e) => res.render(StatusError::bad_request().brief(e.to_string())),
//!         }
//!     }
//! }
//!
//! let router = Router::with_path("events").get(Events { hub: Hub::new() });
//! ```
//!
//! In a function handler, `last: LastEventId` is extracted like any other
//! argument.
//!
//! The response streams the subscription's frames as they come: events,
//! and the keep-alive comments the hub queues (see
//! [`HubBuilder::keepalive`](crate::HubBuilder::keepalive)), which also let
//! the server notice a client that went away. It carries
//! `Content-Type: text/event-stream`, `Cache-Control: no-cache` and
//! `X-Accel-Buffering: no`, and `Content-Encoding: identity`, which keeps
//! salvo's `Compression` middleware (which compresses every `text/*`)
//! away from it: compressing would hold events back in the encoder.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use salvo::extract::{Extractible, Metadata};
use salvo::http::header::{self, HeaderValue};
use salvo::http::StatusError;
use salvo::{Depot, Request, Response, Scribe};

use ssehub_core::protocol::events;

use crate::Subscription;

/// The `Last-Event-ID` a client sent: the header, or else the `lastEventId`
/// query parameter (for a first connection, which `EventSource` cannot give
/// headers). The header wins: a browser sends it on each reconnection with
/// the newest id, while the query parameter keeps the first.
///
/// Extracting it never fails.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl LastEventId {
    /// The `Last-Event-ID` of `req`.
    pub fn from_request(req: &Request) -> LastEventId {
        let header = req
            .headers()
            .get(events::LAST_EVENT_ID_HEADER)
            .map(|value| value.as_bytes());
        LastEventId(events::last_event_id(header, req.uri().query()))
    }
}

impl<'ex> Extractible<'ex> for LastEventId {
    fn metadata() -> &'static Metadata {
        static METADATA: Metadata = Metadata::new("LastEventId");
        &METADATA
    }

    #[allow(refining_impl_trait)]
    async fn extract(req: &'ex mut Request, _depot: &'ex mut Depot) -> Result<Self, StatusError> {
        Ok(LastEventId::from_request(req))
    }
}

impl Scribe for Subscription {
    fn render(self, res: &mut Response) {
        let id = HeaderValue::from_str(self.id().as_str()).ok();
        let headers = res.headers_mut();
        if let Some(id) = id {
            headers.insert(ssehub_core::protocol::events::CONNECTION_HEADER, id);
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        res.stream(Frames(self));
    }
}

/// A subscription's frames as the `Result`s a response body streams.
struct Frames(Subscription);

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|f| f.map(Ok))
    }
}
