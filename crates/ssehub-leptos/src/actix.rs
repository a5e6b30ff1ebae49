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

use actix_web::{web, Resource};
use ssehub::Hub;

/// The handler: `ssehub::actix::events`, the `GET /events` every adapter
/// serves by the same rules (`ssehub_core::protocol::events`): the `topic`
/// query parameters (at least one), resuming from `Last-Event-ID`. Refusals
/// answer 400 (`missing_topic`, `invalid_topic`, `too_many_topics`) or 503
/// (`shutting_down`), each with a JSON body `{"error": CODE, "message":
/// TEXT}`. The hub is the request's `web::Data<Hub>`.
pub use ssehub::actix::events;

/// The resource `GET /events` over `hub` ([`events`]), to register with
/// `App::service` in each worker's app.
pub fn events_route(hub: Hub) -> Resource {
    web::resource("/events")
        .app_data(web::Data::new(hub))
        .route(web::get().to(events))
}
