//! The conformance suite (`conformance/mod.rs`) against the axum adapter's
//! ready-made `GET /events` handler (`ssehub::axum::events`).
#![cfg(feature = "axum")]

#[macro_use]
mod conformance;

use axum::routing::get;
use axum::Router;
use conformance::Server;
use ssehub::Hub;

/// Aborts the server's task when dropped.
struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn start(hub: Hub) -> anyhow::Result<Server> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // The ready-made handler, as users mount it.
    let app = Router::new()
        .route("/events", get(ssehub::axum::events))
        .with_state(hub);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Server::new(addr, Abort(task)))
}

conformance_suite!(start);
