//! The chat room without a web framework: its topics and limits, the page,
//! the stream options of `GET /events`, the answer of `GET /presence`, and a
//! message's checks. `axum-chat` has it as a module; `actix-chat` and
//! `salvo-chat` include this very file (`#[path]`), as they do the page, so
//! that the three chats cannot drift apart.

use ssehub::{Hub, HubBuilder, Present, SubscribeOptions};

/// The topic of the chat room.
pub const TOPIC: &str = "chat";

/// The topic of the room's `join` and `leave` events.
pub const PRESENCE_TOPIC: &str = "$presence/chat";

/// The longest message text accepted, in characters (the page's input
/// allows as many).
pub const MAX_TEXT_CHARS: usize = 1000;

/// The longest user name accepted, in characters.
const MAX_USER_CHARS: usize = 64;

/// The page, with `{{user}}` for the name the server gives each visitor.
const PAGE: &str = include_str!("page.html");

/// The page for visitor number `n` (`User#n`).
pub(crate) fn page(n: usize) -> String {
    PAGE.replace("{{user}}", &format!("User#{n}"))
}

/// A hub as the chat needs it: one that announces the streams of [`TOPIC`]
/// as `join` and `leave` events (on a hub that does not, pages list who was
/// online when they opened, and no change after).
pub(crate) fn hub_builder() -> HubBuilder {
    Hub::builder().presence_events([TOPIC])
}

/// Who is online, as `GET /presence` answers.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Online {
    /// How many streams are open.
    count: usize,
    /// Their users' names, sorted, each once.
    users: Vec<String>,
    /// Each stream, by connection id (what `join` and `leave` events name).
    streams: Vec<Present>,
}

impl Online {
    pub(crate) fn of(streams: Vec<Present>) -> Online {
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
pub(crate) fn options(
    user: Option<String>,
    last: Option<String>,
) -> Result<SubscribeOptions, String> {
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

/// A chat message, as posted and as published.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub(crate) struct Message {
    user: String,
    text: String,
}

impl Message {
    /// Why the message cannot be published, if it cannot.
    pub(crate) fn refusal(&self) -> Option<&'static str> {
        if self.text.trim().is_empty() {
            return Some("the message is empty");
        }
        if self.text.chars().count() > MAX_TEXT_CHARS || self.user.chars().count() > MAX_USER_CHARS
        {
            return Some("the message is too long");
        }
        None
    }
}
