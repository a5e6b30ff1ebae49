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
//! [`signal_routes`] adds the hub's HTTP signal API (`GET`, `PUT`, `PATCH
//! /signals/{name}`, as `ssehub serve` has it), so that other processes can
//! drive the signals a page shows.
//!
//! [`provide_sse`]: crate::provide_sse
//! [`use_sse_signal`]: crate::use_sse_signal

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use ssehub::axum::Refused;
use ssehub::{signal_api, Hub};

/// The handler: `ssehub::axum::events`, the `GET /events` every adapter
/// serves by the same rules (`ssehub_core::protocol::events`): the `topic`
/// query parameters (at least one), resuming from `Last-Event-ID`. Refusals
/// answer 400 (`missing_topic`, `invalid_topic`, `too_many_topics`) or 503
/// (`shutting_down`), each with a JSON body `{"error": CODE, "message":
/// TEXT}`.
pub use ssehub::axum::events;

/// A router with `GET /events` over `hub` ([`events`]), to merge into an
/// app's router (of any state).
pub fn events_route<S>(hub: Hub) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/events", get(events)).with_state(hub)
}

/// A router with the hub's HTTP signal API over `hub`, to merge into an app's
/// router (of any state):
///
/// | route | what |
/// |---|---|
/// | `GET /signals/{name}` | `{"version": V, "value": VALUE}`; 404 if there is no such signal |
/// | `PUT /signals/{name}` | body: the new JSON value (the signal is created if needed); answers `{"version": V}` |
/// | `PATCH /signals/{name}` | body: RFC 6902 operations; a failed `test` answers 409, a malformed patch 400 |
///
/// The answers and error codes are those of `ssehub serve`: both call
/// [`ssehub::signal_api`]; errors have a JSON body `{"error": CODE,
/// "message": TEXT}`. There is no authorization here: mount it where only
/// trusted callers reach it (loopback, or behind the app's own
/// authentication layer).
///
/// ```
/// use axum::Router;
/// use ssehub::Hub;
///
/// let hub = Hub::new();
/// let app: Router = Router::new()
///     .merge(ssehub_leptos::axum::events_route(hub.clone()))
///     .merge(ssehub_leptos::axum::signal_routes(hub));
/// ```
pub fn signal_routes<S>(hub: Hub) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/signals/{name}",
            get(get_signal).put(put_signal).patch(patch_signal),
        )
        .with_state(hub)
}

async fn get_signal(State(hub): State<Hub>, Path(name): Path<String>) -> Result<Response, Refused> {
    Ok(json(signal_api::get(&hub, &name).await?))
}

async fn put_signal(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    let content_type = headers.get(CONTENT_TYPE).map(|v| v.as_bytes());
    Ok(json(
        signal_api::put(&hub, &name, content_type, &body).await?,
    ))
}

async fn patch_signal(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    let content_type = headers.get(CONTENT_TYPE).map(|v| v.as_bytes());
    Ok(json(
        signal_api::patch(&hub, &name, content_type, &body).await?,
    ))
}

fn json(body: Value) -> Response {
    let mut response = body.to_string().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
