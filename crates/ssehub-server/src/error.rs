//! Errors as the API answers them: a status and `{"error", "message"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ssehub::Refusal;

/// A rejected request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a stable code and a human message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The stable error code (`"rate_limited"`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The `Retry-After` seconds, if any.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after
    }

    /// The status and the JSON body.
    pub fn parts(&self) -> (StatusCode, Vec<u8>) {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        (self.status, body.to_string().into_bytes())
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

/// The hub's errors and the protocol's refusals answer the way the hub's one
/// map says (`impl From<...> for Refusal` in `ssehub`): a backend outage is
/// 503 `backend_unavailable` with `Retry-After` on every route.
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError {
            status,
            code: r.code,
            message: r.message,
            retry_after: r.retry_after.map(u64::from),
        }
    }
}

impl From<ssehub::SubscribeError> for ApiError {
    fn from(e: ssehub::SubscribeError) -> ApiError {
        Refusal::from(e).into()
    }
}

impl From<ssehub::backend::BackendError> for ApiError {
    fn from(e: ssehub::backend::BackendError) -> Self {
        Refusal::from(e).into()
    }
}

impl From<ssehub::PublishError> for ApiError {
    fn from(e: ssehub::PublishError) -> ApiError {
        Refusal::from(e).into()
    }
}

impl From<ssehub::SignalError> for ApiError {
    fn from(e: ssehub::SignalError) -> ApiError {
        Refusal::from(e).into()
    }
}

impl From<ssehub_core::protocol::events::EventsError> for ApiError {
    fn from(e: ssehub_core::protocol::events::EventsError) -> ApiError {
        e.refusal().into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        let mut response = (self.status, Json(body)).into_response();
        response
            .extensions_mut()
            .insert(crate::log::ErrorCode(self.code));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Reads a request body of at most `limit` bytes; past it, 413 as JSON.
pub(crate) async fn read_body(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    })
}

/// A request's media type without parameters, lower-cased; `None` without a
/// `Content-Type`.
pub(crate) fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    ssehub::signal_api::media_type(content_type(headers))
}

/// A request's `Content-Type` bytes, if it has one.
pub(crate) fn content_type(headers: &axum::http::HeaderMap) -> Option<&[u8]> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
}
