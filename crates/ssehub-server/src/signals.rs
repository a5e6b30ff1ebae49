//! `GET`, `PUT`, `PATCH /signals/{name}`: drive a signal over HTTP. The
//! answers are `ssehub::signal_api`'s (one home for them); this adds the
//! server's admission: grants, the publish rate and the body limit.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::Json;
use serde_json::Value;
use ssehub::signal_api;

use crate::auth::Access;
use crate::client;
use crate::error::{content_type, read_body, ApiError};
use crate::AppState;

pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &parts, Access::Subscribe, &name)?;
    Ok(Json(signal_api::get(&state.hub, &name).await?))
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    parts: Parts,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = change_body(&state, &parts, &name, body, signal_api::PUT_TYPES).await?;
    let answer = signal_api::put(&state.hub, &name, content_type(&parts.headers), &body).await?;
    Ok(Json(answer))
}

pub(crate) async fn patch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    parts: Parts,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = change_body(&state, &parts, &name, body, signal_api::PATCH_TYPES).await?;
    let answer = signal_api::patch(&state.hub, &name, content_type(&parts.headers), &body).await?;
    Ok(Json(answer))
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
    if !ssehub::publishable_by_clients(name) {
        return Err(ApiError::bad_request(
            "reserved_topic",
            format!("{name:?} is the hub's own: no signal may be named so"),
        ));
    }
    authorize(state, parts, Access::Publish, name)?;
    signal_api::expect_media_type(content_type(&parts.headers), accepted)?;
    read_body(body, state.config.max_body_bytes).await
}

/// Reading a signal is subscribing to its topic; changing it is publishing.
fn authorize(state: &AppState, parts: &Parts, access: Access, name: &str) -> Result<(), ApiError> {
    if let Some(auth) = &state.config.auth {
        auth.authorize(parts, access, &[name.to_owned()])?;
    }
    Ok(())
}
