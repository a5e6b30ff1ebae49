//! `GET`, `PUT`, `PATCH /signals/{name}`: drive a signal over HTTP.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use ssehub::json_patch::Patch;
use ssehub::SignalError;

use crate::auth::Access;
use crate::client;
use crate::error::{media_type, read_body, ApiError};
use crate::AppState;

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &parts, Access::Subscribe, &name)?;
    let (version, value) = state
        .hub
        .signal_value(&name)
        .await
        .ok_or_else(|| not_found(&name))?;
    Ok(Json(json!({ "version": version, "value": value })))
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    parts: Parts,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = change_body(&state, &parts, &name, body, &["application/json"]).await?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    let version = state
        .hub
        .put_signal(&name, value)
        .await
        .map_err(|e| signal_error(&name, e))?;
    Ok(Json(json!({ "version": version })))
}

pub(crate) async fn patch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    parts: Parts,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let json = ["application/json-patch+json", "application/json"];
    let body = change_body(&state, &parts, &name, body, &json).await?;
    let ops: Patch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_patch", e.to_string()))?;
    let version = state
        .hub
        .patch_signal(&name, &ops)
        .await
        .map_err(|e| signal_error(&name, e))?;
    Ok(Json(json!({ "version": version })))
}

/// Admits a request that changes a signal (within the publish rate, granted,
/// a JSON body of an `accepted` type) and reads its body.
async fn change_body(
    state: &AppState,
    parts: &Parts,
    name: &str,
    body: Body,
    accepted: &[&str],
) -> Result<axum::body::Bytes, ApiError> {
    state
        .publish_rate
        .check(client::ip(parts, &state.config.trusted_proxies))?;
    authorize(state, parts, Access::Publish, name)?;
    expect_json(&parts.headers, accepted)?;
    read_body(body, state.config.max_body_bytes).await
}

/// Reading a signal is subscribing to its topic; changing it is publishing.
fn authorize(state: &AppState, parts: &Parts, access: Access, name: &str) -> Result<(), ApiError> {
    if let Some(auth) = &state.config.auth {
        auth.authorize(parts, access, &[name.to_owned()])?;
    }
    Ok(())
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "signal_not_found",
        format!("no signal named {name:?}"),
    )
}

fn signal_error(name: &str, e: SignalError) -> ApiError {
    match e {
        SignalError::NotFound(_) => not_found(name),
        e if e.is_test_failed() => {
            ApiError::new(StatusCode::CONFLICT, "test_failed", e.to_string())
        }
        SignalError::Patch(_) => ApiError::new(StatusCode::CONFLICT, "patch_failed", e.to_string()),
        SignalError::InvalidName(_) => ApiError::bad_request("invalid_signal_name", e.to_string()),
        SignalError::Publish(ssehub::PublishError::Backend(e)) => crate::error::backend_error(&e),
        SignalError::Publish(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            e.to_string(),
        ),
        e => ApiError::bad_request("invalid_value", e.to_string()),
    }
}

/// A body must be JSON; a request without a content type is taken as JSON.
fn expect_json(headers: &HeaderMap, accepted: &[&str]) -> Result<(), ApiError> {
    let Some(essence) = media_type(headers) else {
        return Ok(());
    };
    if accepted.contains(&essence.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send {}", accepted.join(" or ")),
        ))
    }
}
