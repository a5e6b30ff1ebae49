//! `GET /presence/{topic}`: who is subscribed to a topic, on every hub
//! sharing the backend. `DELETE /connections/{id}`: end one stream, on
//! whichever hub holds it.

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use ssehub::Present;

use crate::auth::Access;
use crate::error::ApiError;
use crate::AppState;

/// The answer of `GET /presence/{topic}`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Listing {
    topic: String,
    count: usize,
    subscribers: Vec<Present>,
}

/// The streams subscribed to `topic` by that name; with a key configured,
/// the token must grant reading `topic`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    parts: Parts,
) -> Result<Json<Listing>, ApiError> {
    if let Some(auth) = &state.config.auth {
        auth.authorize(&parts, Access::Subscribe, std::slice::from_ref(&topic))?;
    }
    let subscribers = state.hub.presence(&topic).await?;
    Ok(Json(Listing {
        count: subscribers.len(),
        topic,
        subscribers,
    }))
}

/// Ends the stream `id` after what is queued for it: 204, or 404
/// `connection_not_found`. With a key configured, the token needs the
/// `ssehub.admin` claim (401 without a token, 403 without the claim).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<StatusCode, ApiError> {
    if let Some(auth) = &state.config.auth {
        auth.authorize_admin(&parts)?;
    }
    if state.hub.close(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "connection_not_found",
            format!("no open stream has the id {id:?}"),
        ))
    }
}
