//! `POST /publish`: JSON or form-encoded.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use ssehub::Event;

use crate::auth::Access;
use crate::client;
use crate::error::{media_type, read_body, ApiError};
use crate::AppState;

/// The fields of a publish request, in either encoding.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    topic: Option<String>,
    topics: Option<Vec<String>>,
    data: Option<String>,
    event: Option<String>,
    retry: Option<u64>,
    /// The idempotency key (else the `Idempotency-Key` header).
    key: Option<String>,
}

pub(crate) async fn publish(
    State(state): State<AppState>,
    parts: Parts,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .publish_rate
        .check(client::ip(&parts, &state.config.trusted_proxies))?;
    let headers = &parts.headers;
    let body = read_body(body, state.config.max_body_bytes).await?;
    let content_type = media_type(headers).unwrap_or_default();
    let request = match content_type.as_str() {
        "application/json" => serde_json::from_slice::<PublishRequest>(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?,
        "application/x-www-form-urlencoded" => from_form(&body)?,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/json or application/x-www-form-urlencoded",
            ))
        }
    };

    let mut topics = request.topics.unwrap_or_default();
    topics.extend(request.topic);
    if topics.is_empty() {
        return Err(ApiError::bad_request(
            "missing_topic",
            "give \"topic\" or \"topics\"",
        ));
    }
    if let Some(topic) = topics.iter().find(|t| !ssehub::publishable_by_clients(t)) {
        return Err(ApiError::bad_request(
            "reserved_topic",
            format!("{topic:?} is the hub's own: clients publish to no $ topic but $user/U and $conn/ID"),
        ));
    }
    if let Some(auth) = &state.config.auth {
        auth.authorize(&parts, Access::Publish, &topics)?;
    }
    let Some(data) = request.data else {
        return Err(ApiError::bad_request(
            "missing_data",
            "give \"data\" (a string)",
        ));
    };
    if data.len() > state.config.max_event_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
            format!(
                "the event's data is {} bytes; at most {}",
                data.len(),
                state.config.max_event_bytes
            ),
        ));
    }
    let mut event = Event::builder().data(data);
    if let Some(event_type) = request.event {
        event = event.event(event_type);
    }
    if let Some(retry) = request.retry {
        event = event.retry(Duration::from_millis(retry));
    }
    let event = event
        .build()
        .map_err(|e| ApiError::bad_request("invalid_event", e.to_string()))?;
    // The header wins over the field (as `Last-Event-ID` does over its
    // query parameter): a client library sets it on each retry.
    let key = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| {
                    ApiError::bad_request("invalid_key", "Idempotency-Key must be visible ASCII")
                })?
                .to_owned(),
        ),
        None => request.key,
    };
    let id = match key {
        Some(key) if key.is_empty() || key.len() > MAX_KEY_BYTES => {
            return Err(ApiError::bad_request(
                "invalid_key",
                format!("an idempotency key has 1 to {MAX_KEY_BYTES} bytes"),
            ))
        }
        Some(key) => state.hub.publish_with_key(topics, event, key).await?,
        None => state.hub.publish(topics, event).await?,
    };
    Ok(Json(serde_json::json!({ "id": id.as_str() })))
}

/// The longest idempotency key taken.
const MAX_KEY_BYTES: usize = 256;

/// Form fields: `topic` (repeatable), `data`, `event`, `retry`, `key`.
fn from_form(body: &[u8]) -> Result<PublishRequest, ApiError> {
    let mut request = PublishRequest::default();
    let mut topics = Vec::new();
    for (key, value) in form_urlencoded::parse(body) {
        match &*key {
            "topic" | "topics" => topics.push(value.into_owned()),
            "data" => request.data = Some(value.into_owned()),
            "event" => request.event = Some(value.into_owned()),
            "key" => request.key = Some(value.into_owned()),
            "retry" => {
                request.retry = Some(value.parse().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_retry",
                        "\"retry\" must be a whole number of milliseconds",
                    )
                })?)
            }
            other => {
                return Err(ApiError::bad_request(
                    "unknown_field",
                    format!("unknown field \"{other}\" (expected topic, data, event, retry, key)"),
                ))
            }
        }
    }
    request.topics = Some(topics);
    Ok(request)
}
