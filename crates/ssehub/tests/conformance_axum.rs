//! The conformance suite (`conformance/mod.rs`) against the axum adapter.
#![cfg(feature = "axum")]

#[macro_use]
mod conformance;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use conformance::Server;
use ssehub::axum::LastEventId;
use ssehub::Hub;

async fn events(State(hub): State<Hub>, LastEventId(last): LastEventId, uri: Uri) -> Response {
    let topics = conformance::topics(uri.query());
    match hub.subscribe(topics.as_slice(), last.as_deref()).await {
        Ok(subscription) => subscription.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

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
    let app = Router::new().route("/events", get(events)).with_state(hub);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Server::new(addr, Abort(task)))
}

conformance_suite!(start);
