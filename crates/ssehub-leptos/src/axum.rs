//! The server side: the `/events` route a Leptos page's [`provide_sse`]
//! connects to, over an [`ssehub::Hub`] whose signals
//! (`hub.signal(name, initial)`) the page reads with [`use_sse_signal`].
//!
//! A thin wrapper: `GET /events?topic=A&topic=B` subscribes to those topics,
//! resuming from `Last-Event-ID` (the header, or the `lastEventId` query
//! parameter) with [`ssehub::Hub::subscribe`], and answers with the
//! subscription ([`ssehub::axum`]'s `IntoResponse`).
//!
//! ```
//! use axum::Router;
//! use ssehub::Hub;
//!
//! # async fn example() -> Result<(), ssehub::SignalError> {
//! let hub = Hub::new();
//! let counter = hub.signal("counter", 0u64).await?;
//! let app: Router = Router::new().merge(ssehub_leptos::axum::events_route(hub));
//! counter.update(|n| *n += 1).await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`provide_sse`]: crate::provide_sse
//! [`use_sse_signal`]: crate::use_sse_signal

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ssehub::axum::LastEventId;
use ssehub::{Hub, SubscribeError};

/// A router with `GET /events` over `hub` ([`events`]), to merge into an
/// app's router (of any state).
pub fn events_route<S>(hub: Hub) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/events", get(events)).with_state(hub)
}

/// The handler: subscribes to the request's `topic` query parameters (at
/// least one), resuming from its `Last-Event-ID`. A request without topics
/// or with an invalid one gets 400, and 503 once the hub has shut down, each
/// with a JSON body `{"error": CODE, "message": TEXT}`.
pub async fn events(State(hub): State<Hub>, LastEventId(last): LastEventId, uri: Uri) -> Response {
    let topics: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "topic")
        .map(|(_, value)| value.into_owned())
        .collect();
    if topics.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "missing_topic",
            "give at least one topic: /events?topic=NAME".to_owned(),
        );
    }
    match hub.subscribe(topics.as_slice(), last.as_deref()).await {
        Ok(subscription) => subscription.into_response(),
        Err(e @ SubscribeError::ShutDown) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            e.to_string(),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, "invalid_topic", e.to_string()),
    }
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
