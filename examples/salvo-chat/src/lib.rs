//! The chat room of `axum-chat`, on salvo: an ssehub [`Hub`] does the
//! fan-out, and the resume after a reconnect.
//!
//! Run with: cargo run -p salvo-chat -- --listen 127.0.0.1:3000
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
//! which a reconnecting page resumes from. Who is online works as in
//! `axum-chat` (see its docs), on a hub made by [`hub`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use salvo::prelude::*;
use ssehub::salvo::LastEventId;
use ssehub::{Event, Hub};

/// The room without the framework, shared with `axum-chat` (as is its page).
#[path = "../../axum-chat/src/room.rs"]
mod room;

use room::{Message, Online};
pub use room::{MAX_TEXT_CHARS, PRESENCE_TOPIC, TOPIC};

/// The room: its hub and its visitor count, put in each request's
/// [`Depot`] for the handlers.
#[derive(Clone, Debug)]
struct Chat {
    hub: Hub,
    /// Visitors so far, to name them `User#1`, `User#2`, ...
    visitors: Arc<AtomicUsize>,
}

/// Puts the room in the depot (what `salvo::affix_state::inject` does,
/// without the extra feature).
struct Inject(Chat);

#[handler]
impl Inject {
    async fn handle(&self, depot: &mut Depot) {
        depot.insert_typed(self.0.clone());
    }
}

/// The hub the chat needs: one that announces the streams of [`TOPIC`] as
/// `join` and `leave` events (on a hub that does not, pages list who was
/// online when they opened, and no change after).
pub fn hub() -> Hub {
    room::hub_builder().build()
}

/// The chat's routes, on `hub` (made by [`hub`]).
pub fn router(hub: Hub) -> Router {
    let chat = Chat {
        hub,
        visitors: Arc::default(),
    };
    Router::new()
        .hoop(Inject(chat))
        .get(page)
        .push(Router::with_path("events").get(events))
        .push(Router::with_path("presence").get(presence))
        .push(Router::with_path("messages").post(send))
}

fn chat(depot: &Depot) -> Result<&Chat, StatusError> {
    depot
        .get_typed::<Chat>()
        .map_err(|_| StatusError::internal_server_error().brief("no chat in the depot"))
}

/// The page, for a new visitor.
#[handler]
async fn page(depot: &mut Depot) -> Result<Text<String>, StatusError> {
    let n = chat(depot)?.visitors.fetch_add(1, Ordering::Relaxed) + 1;
    Ok(Text::Html(room::page(n)))
}

/// The room's event stream: its messages, and who joins and leaves, after
/// an `ssehub-connected` event. A browser that reconnects sends the last id
/// it saw as `Last-Event-ID`, and the hub replays what it missed.
#[handler]
async fn events(last: LastEventId, req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let hub = match chat(depot) {
        Ok(chat) => chat.hub.clone(),
        Err(e) => return res.render(e),
    };
    let options = match room::options(req.query::<String>("user"), last.0) {
        Ok(options) => options,
        Err(why) => {
            res.status_code(StatusCode::BAD_REQUEST);
            return res.render(why);
        }
    };
    match hub.subscribe_with(options).await {
        Ok(subscription) => res.render(subscription),
        Err(e) => res.render(StatusError::service_unavailable().brief(e.to_string())),
    }
}

/// Who is online: the streams of the room.
#[handler]
async fn presence(depot: &mut Depot, res: &mut Response) {
    let hub = match chat(depot) {
        Ok(chat) => chat.hub.clone(),
        Err(e) => return res.render(e),
    };
    match hub.presence(TOPIC).await {
        Ok(streams) => res.render(Json(Online::of(streams))),
        Err(e) => res.render(StatusError::service_unavailable().brief(e.to_string())),
    }
}

/// Publishes a message to every open page.
#[handler]
async fn send(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let bad_request = |res: &mut Response, why: &'static str| {
        res.status_code(StatusCode::BAD_REQUEST);
        res.render(why);
    };
    let message: Message = match req.parse_json().await {
        Ok(message) => message,
        Err(_) => return bad_request(res, "not a JSON message {\"user\", \"text\"}"),
    };
    if let Some(why) = message.refusal() {
        return bad_request(res, why);
    }
    let hub = match chat(depot) {
        Ok(chat) => chat.hub.clone(),
        Err(e) => return res.render(e),
    };
    let published = match Event::json(&message) {
        Ok(event) => hub.publish(TOPIC, event).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match published {
        Ok(_) => {
            res.status_code(StatusCode::NO_CONTENT);
        }
        Err(e) => {
            res.status_code(StatusCode::SERVICE_UNAVAILABLE);
            res.render(e);
        }
    }
}
