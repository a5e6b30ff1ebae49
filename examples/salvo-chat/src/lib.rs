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
use ssehub::{Event, Hub, Present, SubscribeOptions};

/// The topic of the chat room.
pub const TOPIC: &str = "chat";

/// The topic of the room's `join` and `leave` events.
pub const PRESENCE_TOPIC: &str = "$presence/chat";

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

/// The hub the chat needs: one that announces the streams of [`TOPIC`] as
/// `join` and `leave` events (on a hub that does not, pages list who was
/// online when they opened, and no change after).
pub fn hub() -> Hub {
    Hub::builder().presence_events([TOPIC]).build()
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
    Ok(Text::Html(PAGE.replace("{{user}}", &format!("User#{n}"))))
}

/// Who is online, as `GET /presence` answers.
#[derive(Debug, serde::Serialize)]
struct Online {
    /// How many streams are open.
    count: usize,
    /// Their users' names, sorted, each once.
    users: Vec<String>,
    /// Each stream, by connection id (what `join` and `leave` events name).
    streams: Vec<Present>,
}

impl Online {
    fn of(streams: Vec<Present>) -> Online {
        let mut users: Vec<String> = streams.iter().filter_map(|s| s.user.clone()).collect();
        users.sort();
        users.dedup();
        Online {
            count: streams.len(),
            users,
            streams,
        }
    }
}

/// The stream options of `GET /events`: the room and its presence topic,
/// `ssehub-connected` first, resuming after `last`; `Err` with why a user
/// is refused.
fn options(user: Option<String>, last: Option<String>) -> Result<SubscribeOptions, String> {
    let options = SubscribeOptions::new([TOPIC, PRESENCE_TOPIC])
        .connected_event(true)
        .last_event_id(last);
    match user {
        None => Ok(options),
        Some(user) if user.is_empty() || user.chars().count() > MAX_USER_CHARS => Err(format!(
            "the user must have 1 to {MAX_USER_CHARS} characters"
        )),
        Some(user) => Ok(options.user(user)),
    }
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
    let options = match options(req.query::<String>("user"), last.0) {
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
