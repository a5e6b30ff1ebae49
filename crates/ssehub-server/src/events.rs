//! `GET /events`: subscribe.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use ssehub::axum::{LastEventId, MaybePeer};
use ssehub::{SubscribeError, SubscribeOptions};

use crate::error::ApiError;
use crate::AppState;

pub(crate) async fn subscribe(
    State(state): State<AppState>,
    LastEventId(last_event_id): LastEventId,
    MaybePeer(peer): MaybePeer,
    uri: Uri,
) -> Result<Response, ApiError> {
    let topics: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "topic")
        .map(|(_, v)| v.into_owned())
        .collect();
    if topics.is_empty() {
        return Err(ApiError::bad_request(
            "missing_topic",
            "give at least one topic: /events?topic=NAME",
        ));
    }
    let mut options = SubscribeOptions::new(topics).last_event_id(last_event_id);
    if let Some(peer) = peer {
        // A client that stops reading is cut off, not left stuck in a write.
        options = options
            .meta(serde_json::json!({ "addr": peer.addr().to_string() }))
            .on_lag(move || peer.cut());
    }
    let subscription = state
        .hub
        .subscribe_with(options)
        .await
        .map_err(|e| match e {
            SubscribeError::ShutDown => ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            other => ApiError::bad_request("invalid_topic", other.to_string()),
        })?;
    Ok(subscription.into_response())
}
