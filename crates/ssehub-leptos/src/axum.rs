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
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use ssehub::axum::LastEventId;
use ssehub::json_patch::Patch;
use ssehub::{Hub, PublishError, SignalError, SubscribeError};

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

/// A router with the hub's HTTP signal API over `hub`, to merge into an app's
/// router (of any state):
///
/// | route | what |
/// |---|---|
/// | `GET /signals/{name}` | `{"version": V, "value": VALUE}`; 404 if there is no such signal |
/// | `PUT /signals/{name}` | body: the new JSON value (the signal is created if needed); answers `{"version": V}` |
/// | `PATCH /signals/{name}` | body: RFC 6902 operations; a failed `test` answers 409, a malformed patch 400 |
///
/// The answers and error codes are those of `ssehub serve`; errors have a
/// JSON body `{"error": CODE, "message": TEXT}`. There is no authorization
/// here: mount it where only trusted callers reach it (loopback, or behind
/// the app's own authentication layer).
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

async fn get_signal(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    match hub.signal_value(&name).await {
        Some((version, value)) => ok(json!({ "version": version, "value": value })),
        None => not_found(&name),
    }
}

async fn put_signal(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = expect_json(&headers, &["application/json"]) {
        return response;
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
    };
    match hub.put_signal(&name, value).await {
        Ok(version) => ok(json!({ "version": version })),
        Err(e) => signal_error(&name, e),
    }
}

async fn patch_signal(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let accepted = ["application/json-patch+json", "application/json"];
    if let Err(response) = expect_json(&headers, &accepted) {
        return response;
    }
    let ops: Patch = match serde_json::from_slice(&body) {
        Ok(ops) => ops,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_patch", e.to_string()),
    };
    match hub.patch_signal(&name, &ops).await {
        Ok(version) => ok(json!({ "version": version })),
        Err(e) => signal_error(&name, e),
    }
}

/// A body must be JSON; a request without a content type is taken as JSON.
#[allow(clippy::result_large_err)]
fn expect_json(headers: &HeaderMap, accepted: &[&str]) -> Result<(), Response> {
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = content_type
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if accepted.contains(&essence.as_str()) {
        return Ok(());
    }
    Err(error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("send {}", accepted.join(" or ")),
    ))
}

fn not_found(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "signal_not_found",
        format!("no signal named {name:?}"),
    )
}

/// The one conversion of a [`SignalError`] to an answer.
fn signal_error(name: &str, e: SignalError) -> Response {
    match e {
        SignalError::NotFound(_) => not_found(name),
        e if e.is_test_failed() => error(StatusCode::CONFLICT, "test_failed", e.to_string()),
        SignalError::Patch(_) => error(StatusCode::CONFLICT, "patch_failed", e.to_string()),
        SignalError::InvalidName(_) => error(
            StatusCode::BAD_REQUEST,
            "invalid_signal_name",
            e.to_string(),
        ),
        SignalError::Publish(PublishError::ShutDown) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            e.to_string(),
        ),
        SignalError::Publish(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
        e => error(StatusCode::BAD_REQUEST, "invalid_value", e.to_string()),
    }
}

fn ok(body: Value) -> Response {
    let mut response = body.to_string().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
