//! The actix-web 4 adapter: a [`Subscription`] is a [`Responder`] and
//! [`LastEventId`] is an extractor.
//!
//! ```
//! use actix_web::{error::ErrorBadRequest, web, App};
//! use ssehub::{actix::LastEventId, Hub, Subscription};
//!
//! #[derive(serde::Deserialize)]
//! struct Params { topic: String }
//!
//! async fn events(
//!     hub: web::Data<Hub>,
//!     LastEventId(last): LastEventId,
//!     params: web::Query<Params>,
//! ) -> actix_web::Result<Subscription> {
//!     hub.subscribe(params.topic.as_str(), last.as_deref()).await.map_err(ErrorBadRequest)
//! }
//!
//! let app = App::new()
//!     .app_data(web::Data::new(Hub::new()))
//!     .route("/events", web::get().to(events));
//! ```
//!
//! The response streams the subscription's frames as they come: events,
//! and the keep-alive comments the hub queues (see
//! [`HubBuilder::keepalive`](crate::HubBuilder::keepalive)), which also let
//! the server notice a client that went away. It carries
//! `Content-Type: text/event-stream`, `Cache-Control: no-cache` and
//! `X-Accel-Buffering: no`, and `Content-Encoding: identity`, which is how
//! actix-web's `middleware::Compress` is told to leave a response alone:
//! compressing would hold events back in the encoder.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::BodyStream;
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder};
use bytes::Bytes;
use futures_core::Stream;

use ssehub_core::protocol::{events, Refusal};

use crate::{Hub, Subscription};

/// A [`Refusal`] as an actix-web error: its status, the JSON body
/// `{"error": CODE, "message": TEXT}` and `Retry-After` when it has one.
/// The hub's errors convert into it, the same way on every route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub Refusal);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl actix_web::ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/json");
        if let Some(seconds) = self.0.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.body(self.0.body())
    }
}

impl<E: Into<Refusal>> From<E> for Refused {
    fn from(e: E) -> Refused {
        Refused(e.into())
    }
}

/// A ready-made `GET /events` handler over the request's `web::Data<Hub>`,
/// following the [`/events` rules](ssehub_core::protocol::events): the
/// `topic` query parameters (at least one), resuming from [`LastEventId`].
/// Refusals (400 `missing_topic`, `invalid_topic`, `too_many_topics`; 503
/// `shutting_down`) are [`Refused`] answers.
///
/// ```
/// use actix_web::{web, App};
/// use ssehub::Hub;
///
/// let app = App::new()
///     .app_data(web::Data::new(Hub::new()))
///     .route("/events", web::get().to(ssehub::actix::events));
/// ```
pub async fn events(
    req: HttpRequest,
    hub: actix_web::web::Data<Hub>,
) -> Result<Subscription, Refused> {
    let request = events::EventsRequest::parse(Some(req.query_string()), None)?;
    let LastEventId(last) = LastEventId::from_request(&req);
    let options = crate::SubscribeOptions::from(request).last_event_id(last);
    Ok(hub.subscribe_with(options).await?)
}

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
    pub fn from_request(req: &HttpRequest) -> LastEventId {
        let header = req
            .headers()
            .get(events::LAST_EVENT_ID_HEADER)
            .map(HeaderValue::as_bytes);
        LastEventId(events::last_event_id(header, req.uri().query()))
    }
}

impl FromRequest for LastEventId {
    type Error = Infallible;
    type Future = Ready<Result<LastEventId, Infallible>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(LastEventId::from_request(req)))
    }
}

/// Sets the headers of an event-stream response (see the [module
/// docs](self)).
fn event_stream_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
}

impl Responder for Subscription {
    type Body = BodyStream<Frames>;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse<BodyStream<Frames>> {
        let id = HeaderValue::from_str(self.id().as_str()).ok();
        let mut response = HttpResponse::with_body(StatusCode::OK, BodyStream::new(Frames(self)));
        event_stream_headers(response.headers_mut());
        if let Some(id) = id {
            let name = header::HeaderName::from_static(events::CONNECTION_HEADER);
            response.headers_mut().insert(name, id);
        }
        response
    }
}

/// A subscription's frames as the `Result`s a response body streams: the
/// body of the [`Responder`] for [`Subscription`].
#[derive(Debug)]
pub struct Frames(Subscription);

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|f| f.map(Ok))
    }
}
