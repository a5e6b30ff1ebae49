//! The chat room of `axum-chat`, on salvo: an ssehub [`Hub`] does the
//! fan-out, and the resume after a reconnect.
//!
//! Run with: cargo run -p salvo-chat -- --listen 127.0.0.1:3000
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

use salvo::prelude::*;
use ssehub::salvo::LastEventId;
use ssehub::{Event, Hub};

/// The topic of the chat room.
pub const TOPIC: &str = "chat";

/// The longest message text accepted, in characters (the page's input
/// allows as many).
pub const MAX_TEXT_CHARS: usize = 1000;

/// The longest user name accepted, in characters.
const MAX_USER_CHARS: usize = 64;

/// The page, with `{{user}}` for the name the server gives each visitor:
/// the very page of `axum-chat`, so the chat examples cannot drift apart.
const PAGE: &str = include_str!("../../axum-chat/src/page.html");

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

/// The chat's routes, on `hub`.
pub fn router(hub: Hub) -> Router {
    let chat = Chat {
        hub,
        visitors: Arc::default(),
    };
    Router::new()
        .hoop(Inject(chat))
        .get(page)
        .push(Router::with_path("events").get(events))
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
    Ok(Text::Html(PAGE.replace("{{user}}", &format!("User#{n}"))))
}

/// The room's event stream. A browser that reconnects sends the last id it
/// saw as `Last-Event-ID`, and the hub replays what it missed.
#[handler]
async fn events(last: LastEventId, depot: &mut Depot, res: &mut Response) {
    let hub = match chat(depot) {
        Ok(chat) => chat.hub.clone(),
        Err(e) => return res.render(e),
    };
    match hub.subscribe(TOPIC, last.0.as_deref()).await {
        Ok(subscription) => res.render(subscription),
        Err(e) => res.render(StatusError::service_unavailable().brief(e.to_string())),
    }
}

/// A chat message, as posted and as published.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Message {
    user: String,
    text: String,
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
    if message.text.trim().is_empty() {
        return bad_request(res, "the message is empty");
    }
    if message.text.chars().count() > MAX_TEXT_CHARS
        || message.user.chars().count() > MAX_USER_CHARS
    {
        return bad_request(res, "the message is too long");
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
