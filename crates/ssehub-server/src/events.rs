//! `GET /events`: subscribe. One function opens a subscription from a
//! request's head, for both the axum route and the direct stream writer
//! (`conn.rs`), so they cannot drift.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ssehub::axum::{LastEventId, MaybePeer};
use ssehub::{SubscribeError, SubscribeOptions, Subscription};

use crate::error::ApiError;
use crate::AppState;

/// The axum route (used for requests that arrive on a connection already
/// serving other requests; a connection's first `GET /events` is streamed
/// by `conn.rs`).
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    MaybePeer(peer): MaybePeer,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let on_lag: Option<OnLag> = match peer {
        Some(peer) => Some(Box::new(move || peer.cut())),
        None => None,
    };
    Ok(open(&state, &mut parts, on_lag).await?.into_response())
}

/// Run when the hub cuts a lagging subscriber off: closes its connection.
pub(crate) type OnLag = Box<dyn Fn() + Send + Sync>;

/// Opens the subscription a request asks for: its `topic` parameters, and
/// `Last-Event-ID` (header, else the `lastEventId` parameter).
pub(crate) async fn open(
    state: &AppState,
    parts: &mut Parts,
    on_lag: Option<OnLag>,
) -> Result<Subscription, ApiError> {
    let topics: Vec<String> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "topic")
        .map(|(_, v)| v.into_owned())
        .collect();
    if topics.is_empty() {
        return Err(ApiError::bad_request(
            "missing_topic",
            "give at least one topic: /events?topic=NAME",
        ));
    }
    let Ok(LastEventId(last_event_id)) = LastEventId::from_request_parts(parts, state).await;
    let mut options = SubscribeOptions::new(topics).last_event_id(last_event_id);
    if let Some(on_lag) = on_lag {
        // A client that stops reading is cut off, not left stuck in a write.
        options = options.on_lag(on_lag);
    }
    state
        .hub
        .subscribe_with(options)
        .await
        .map_err(|e| match e {
            SubscribeError::ShutDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            other => ApiError::bad_request("invalid_topic", other.to_string()),
        })
}
