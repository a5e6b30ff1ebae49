//! A chat room on an ssehub [`Hub`]: the chat of salvo's SSE example, with
//! the hub doing the fan-out, and the resume after a reconnect.
//!
//! Run with: cargo run -p axum-chat -- --listen 127.0.0.1:3000
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page: who is online, messages, and an input that sends on Enter |
//! | `GET /events?user=NAME` | the event stream of the room and of who comes and goes (resumes with `Last-Event-ID`); `NAME` (optional) is who is listening: 1 to 64 characters, else 400 |
//! | `GET /presence` | JSON `{"count", "users", "streams"}`: how many streams are open, their users' names (sorted, each once), and each stream `{"id", "user", "since", "node"}` |
//! | `POST /messages` | JSON `{"user", "text"}`: publishes it to every open page |
//!
//! Each message is one event of type `message` on the topic [`TOPIC`], its
//! data the JSON `{"user", "text"}`. Nothing is stored but the hub's history,
//! which a reconnecting page resumes from.
//!
//! # Who is online
//!
//! The hub of [`hub`] announces the streams of [`TOPIC`]: each stream's
//! opening and end publish a `join` and a `leave` event, data `{"id", "user",
//! "node", "topic"}`, to [`PRESENCE_TOPIC`], to which every page's stream is
//! subscribed too. A stream begins with an `ssehub-connected` event (data
//! `{"id"}`); then the page fetches `GET /presence`, which lists itself, and
//! applies the `join` and `leave` events that came meanwhile and after, by
//! connection id, so that none is lost or counted twice (a reconnect gets a
//! new id, and asks again). It lists each user once, however many pages
//! (tabs) they have open: `#online li`, one per name, sorted with numbers by
//! value (`User#2` before `User#10`), its own in bold. Streams without a
//! user are counted, not listed.
//!
//! The `join` and `leave` events are events in the hub's history, like the
//! messages: a burst of reconnects makes the messages a page can resume
//! from fewer.
//!
//! `docs/img/chat-presence.png` shows the page (made by the browser test
//! `axum_chat_two_pages_see_each_other_online` in `tests/browser/tests/chat.rs`,
//! with `SSEHUB_SCREENSHOT_CHAT` set to its path).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ssehub::axum::LastEventId;
use ssehub::{Event, Hub};

mod room;

use room::{Message, Online};
pub use room::{MAX_TEXT_CHARS, PRESENCE_TOPIC, TOPIC};

#[derive(Clone, Debug)]
struct AppState {
    hub: Hub,
    /// Visitors so far, to name them `User#1`, `User#2`, ...
    visitors: Arc<AtomicUsize>,
}

/// The hub the chat needs: one that announces the streams of [`TOPIC`] as
/// `join` and `leave` events (on a hub that does not, pages list who was
/// online when they opened, and no change after).
pub fn hub() -> Hub {
    room::hub_builder().build()
}

/// The chat's routes, on `hub` (made by [`hub`]).
pub fn app(hub: Hub) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/presence", get(presence))
        .route("/messages", post(send))
        .with_state(AppState {
            hub,
            visitors: Arc::default(),
        })
}

/// The page, for a new visitor.
async fn page(State(state): State<AppState>) -> Html<String> {
    let n = state.visitors.fetch_add(1, Ordering::Relaxed) + 1;
    Html(room::page(n))
}

/// The query of `GET /events`.
#[derive(Debug, serde::Deserialize)]
struct EventsQuery {
    /// Who is listening, for presence.
    user: Option<String>,
}

/// The room's event stream: its messages, and who joins and leaves, after
/// an `ssehub-connected` event. A browser that reconnects sends the last id
/// it saw as `Last-Event-ID`, and the hub replays what it missed.
async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    LastEventId(last): LastEventId,
) -> Response {
    let options = match room::options(query.user, last) {
        Ok(options) => options,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    match state.hub.subscribe_with(options).await {
        Ok(subscription) => subscription.into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Who is online: the streams of the room.
async fn presence(State(state): State<AppState>) -> Result<Json<Online>, (StatusCode, String)> {
    let streams = state
        .hub
        .presence(TOPIC)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(Online::of(streams)))
}

/// Publishes a message to every open page.
async fn send(
    State(state): State<AppState>,
    Json(message): Json<Message>,
) -> Result<StatusCode, (StatusCode, String)> {
    if let Some(why) = message.refusal() {
        return Err((StatusCode::BAD_REQUEST, why.to_owned()));
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
