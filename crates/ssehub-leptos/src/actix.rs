//! The server side on actix-web: the `/events` resource a Leptos page's
//! [`provide_sse`] connects to, over an [`ssehub::Hub`] whose signals
//! (`hub.signal(name, initial)`) the page reads with [`use_sse_signal`].
//!
//! The same route as the `axum` feature's: `GET /events?topic=A&topic=B`
//! subscribes to those topics, resuming from `Last-Event-ID` (the header,
//! or the `lastEventId` query parameter), and answers with the
//! subscription ([`ssehub::actix`]'s `Responder`).
//!
//! ```
//! use actix_web::{App, HttpServer};
//! use ssehub::Hub;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! let counter = hub.signal("counter", 0u64).await?;
//! let server = HttpServer::new(move || {
//!     App::new().service(ssehub_leptos::actix::events_route(hub.clone()))
//! });
//! counter.update(|n| *n += 1).await?;
//! # drop(server);
//! # Ok(())
//! # }
//! ```
//!
//! [`provide_sse`]: crate::provide_sse
//! [`use_sse_signal`]: crate::use_sse_signal

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Resource, Responder};
use ssehub::actix::LastEventId;
use ssehub::{Hub, SubscribeError};

/// The resource `GET /events` over `hub` ([`events`]), to register with
/// `App::service` in each worker's app.
pub fn events_route(hub: Hub) -> Resource {
    web::resource("/events")
        .app_data(web::Data::new(hub))
        .route(web::get().to(events))
}

/// The handler: subscribes to the request's `topic` query parameters (at
/// least one), resuming from its `Last-Event-ID`. A request without topics
/// or with an invalid one gets 400, and 503 once the hub has shut down, each
/// with a JSON body `{"error": CODE, "message": TEXT}`. The hub is the
/// request's `web::Data<Hub>`.
pub async fn events(
    req: HttpRequest,
    hub: web::Data<Hub>,
    LastEventId(last): LastEventId,
) -> HttpResponse {
    let topics: Vec<String> = form_urlencoded::parse(req.query_string().as_bytes())
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
        Ok(subscription) => subscription.respond_to(&req).map_into_boxed_body(),
        Err(e @ SubscribeError::ShutDown) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            e.to_string(),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, "invalid_topic", e.to_string()),
    }
}

fn error(status: StatusCode, code: &str, message: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(serde_json::json!({ "error": code, "message": message }).to_string())
}
