//! CORS for the configured origins (`--cors-origin`), credentials allowed so
//! that the `ssehub_token` cookie reaches the hub. Other origins get no grant.

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method};
use ssehub_core::protocol::events::CONNECTION_HEADER;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The layer for the axum routes: answers preflights, adds the headers.
pub(crate) fn layer(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([HeaderName::from_static(CONNECTION_HEADER)])
}

/// The CORS headers of an event stream written directly (`conn.rs`): an
/// EventSource request is a simple request, so there is no preflight.
pub(crate) fn stream_headers(origins: &[HeaderValue], origin: Option<&HeaderValue>) -> String {
    match origin {
        Some(origin) if origins.contains(origin) => match origin.to_str() {
            Ok(origin) => format!(
                "access-control-allow-origin: {origin}\r\naccess-control-allow-credentials: true\r\naccess-control-expose-headers: {CONNECTION_HEADER}\r\nvary: origin\r\n"
            ),
            Err(_) => String::new(),
        },
        _ => String::new(),
    }
}
