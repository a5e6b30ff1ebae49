//! A chat room on an ssehub [`Hub`]: the chat of salvo's SSE example, with
//! the hub doing the fan-out, and the resume after a reconnect.
//!
//! Run with: cargo run -p axum-chat -- --listen 127.0.0.1:3000
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page: messages, and an input that sends on Enter |
//! | `GET /events` | the event stream of the room (resumes with `Last-Event-ID`) |
//! | `POST /messages` | JSON `{"user", "text"}`: publishes it to every open page |
//!
//! Each message is one event of type `message` on the topic [`TOPIC`], its
//! data the JSON `{"user", "text"}`. Nothing is stored but the hub's history,
//! which a reconnecting page resumes from.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ssehub::axum::LastEventId;
use ssehub::{Event, Hub};

/// The topic of the chat room.
pub const TOPIC: &str = "chat";

/// The longest message text accepted, in characters (the page's input
/// allows as many).
pub const MAX_TEXT_CHARS: usize = 1000;

/// The longest user name accepted, in characters.
const MAX_USER_CHARS: usize = 64;

/// The page, with `{{user}}` for the name the server gives each visitor.
const PAGE: &str = include_str!("page.html");

#[derive(Clone, Debug)]
struct AppState {
    hub: Hub,
    /// Visitors so far, to name them `User#1`, `User#2`, ...
    visitors: Arc<AtomicUsize>,
}

/// The chat's routes, on `hub`.
pub fn app(hub: Hub) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/messages", post(send))
        .with_state(AppState {
            hub,
            visitors: Arc::default(),
        })
}

/// The page, for a new visitor.
async fn page(State(state): State<AppState>) -> Html<String> {
    let n = state.visitors.fetch_add(1, Ordering::Relaxed) + 1;
    Html(PAGE.replace("{{user}}", &format!("User#{n}")))
}

/// The room's event stream. A browser that reconnects sends the last id it
/// saw as `Last-Event-ID`, and the hub replays what it missed.
async fn events(State(state): State<AppState>, LastEventId(last): LastEventId) -> Response {
    match state.hub.subscribe(TOPIC, last.as_deref()).await {
        Ok(subscription) => subscription.into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// A chat message, as posted and as published.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Message {
    user: String,
    text: String,
}

/// Publishes a message to every open page.
async fn send(
    State(state): State<AppState>,
    Json(message): Json<Message>,
) -> Result<StatusCode, (StatusCode, String)> {
    let bad_request = |why: &str| (StatusCode::BAD_REQUEST, why.to_owned());
    if message.text.trim().is_empty() {
        return Err(bad_request("the message is empty"));
    }
    if message.text.chars().count() > MAX_TEXT_CHARS
        || message.user.chars().count() > MAX_USER_CHARS
    {
        return Err(bad_request("the message is too long"));
    }
    let event =
        Event::json(&message).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    state
        .hub
        .publish(TOPIC, event)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}
