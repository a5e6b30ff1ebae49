//! The HTTP signal API, without a web framework: what `GET`, `PUT` and
//! `PATCH /signals/{name}` answer, in one place for every server that
//! offers it (`ssehub serve`, `ssehub-leptos`'s `signal_routes`). A route
//! only extracts the name, the `Content-Type` and the body, applies its own
//! admission (authorization, rates, a body limit) and turns the answer into
//! its framework's response.
//!
//! | route | answer |
//! |---|---|
//! | `GET /signals/{name}` | `{"version": V, "value": VALUE}`; 404 `signal_not_found`; 503 `backend_unavailable` when this node holds no copy and the backend cannot be asked |
//! | `PUT /signals/{name}` | body: the new JSON value (the signal is created if needed); `{"version": V}` |
//! | `PATCH /signals/{name}` | body: RFC 6902 operations; `{"version": V}`; a failed `test` 409 `test_failed`, a malformed patch 400 `invalid_patch` |
//!
//! Bodies must be JSON (`application/json`, for `PATCH` also
//! `application/json-patch+json`; a request without `Content-Type` is taken
//! as JSON), else 415 `unsupported_media_type`. Errors are [`Refusal`]s,
//! converted from the hub's errors by the one map (see
//! [`SignalError`](crate::SignalError)).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use ssehub::{signal_api, Hub};
//!
//! let hub = Hub::new();
//! let put = signal_api::put(&hub, "count", Some(b"application/json"), b"1").await;
//! assert_eq!(put, Ok(serde_json::json!({"version": 0})));
//! let got = signal_api::get(&hub, "count").await.unwrap();
//! assert_eq!(got, serde_json::json!({"version": 0, "value": 1}));
//! assert_eq!(signal_api::get(&hub, "nope").await.unwrap_err().status, 404);
//! # }
//! ```

use serde_json::{json, Value};
use ssehub_core::protocol::Refusal;

use crate::Hub;

/// The media types a `PUT` body may have.
pub const PUT_TYPES: &[&str] = &["application/json"];
/// The media types a `PATCH` body may have.
pub const PATCH_TYPES: &[&str] = &["application/json-patch+json", "application/json"];

/// `GET /signals/{name}`: `{"version": V, "value": VALUE}`.
pub async fn get(hub: &Hub, name: &str) -> Result<Value, Refusal> {
    match hub.signal_value(name).await? {
        Some((version, value)) => Ok(json!({ "version": version, "value": value })),
        None => Err(Refusal::new(
            404,
            "signal_not_found",
            format!("no signal named {name:?}"),
        )),
    }
}

/// `PUT /signals/{name}`: sets the value (creating the signal if needed);
/// `{"version": V}`.
pub async fn put(
    hub: &Hub,
    name: &str,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<Value, Refusal> {
    expect_media_type(content_type, PUT_TYPES)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::new(400, "invalid_json", e.to_string()))?;
    let version = hub.put_signal(name, value).await?;
    Ok(json!({ "version": version }))
}

/// `PATCH /signals/{name}`: applies RFC 6902 operations; `{"version": V}`.
pub async fn patch(
    hub: &Hub,
    name: &str,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Result<Value, Refusal> {
    expect_media_type(content_type, PATCH_TYPES)?;
    let ops: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| Refusal::new(400, "invalid_patch", e.to_string()))?;
    let version = hub.patch_signal(name, &ops).await?;
    Ok(json!({ "version": version }))
}

/// A `Content-Type` without parameters, lower-cased (`None` without one).
pub fn media_type(content_type: Option<&[u8]>) -> Option<String> {
    let value = std::str::from_utf8(content_type?).unwrap_or("");
    let essence = value.split(';').next().unwrap_or("");
    Some(essence.trim().to_ascii_lowercase())
}

/// Checks that a body is of one of the `accepted` media types (a request
/// without `Content-Type` is taken as JSON); else 415
/// `unsupported_media_type`.
pub fn expect_media_type(content_type: Option<&[u8]>, accepted: &[&str]) -> Result<(), Refusal> {
    match media_type(content_type) {
        None => Ok(()),
        Some(essence) if accepted.contains(&essence.as_str()) => Ok(()),
        Some(_) => Err(Refusal::new(
            415,
            "unsupported_media_type",
            format!("send {}", accepted.join(" or ")),
        )),
    }
}
