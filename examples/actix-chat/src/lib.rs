//! The chat room of `axum-chat`, on actix-web: an ssehub [`Hub`] does the
//! fan-out, and the resume after a reconnect.
//!
//! Run with: cargo run -p actix-chat -- --listen 127.0.0.1:3000
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

use actix_web::dev::Server;
use actix_web::error::ErrorServiceUnavailable;
use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpResponse, HttpServer};
use ssehub::actix::LastEventId;
use ssehub::{Event, Hub, Subscription};

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

/// The room: its hub and its visitor count, shared by every worker.
#[derive(Clone, Debug)]
pub struct Chat {
    hub: Hub,
    /// Visitors so far, to name them `User#1`, `User#2`, ...
    visitors: Arc<AtomicUsize>,
}

impl Chat {
    /// A room on `hub`.
    pub fn new(hub: Hub) -> Chat {
        Chat {
            hub,
            visitors: Arc::default(),
        }
    }

    /// Adds the chat's routes to an app: call it in each worker's
    /// `App::new().configure(...)`.
    pub fn configure(&self, config: &mut web::ServiceConfig) {
        config
            .app_data(web::Data::new(self.clone()))
            .route("/", web::get().to(page))
            .route("/events", web::get().to(events))
            .route("/messages", web::post().to(send));
    }
}

/// Serves the chat on `listener` (already bound), with actix-web's own
/// signal handling off: stop it with the returned server's handle (after
/// [`Hub::shutdown`], which ends the event streams).
///
/// # Errors
///
/// If the listener cannot be used.
pub fn serve(listener: std::net::TcpListener, hub: Hub) -> std::io::Result<Server> {
    let chat = Chat::new(hub);
    Ok(
        HttpServer::new(move || App::new().configure(|config| chat.configure(config)))
            .disable_signals()
            .listen(listener)?
            .run(),
    )
}

/// The page, for a new visitor.
async fn page(chat: web::Data<Chat>) -> HttpResponse {
    let n = chat.visitors.fetch_add(1, Ordering::Relaxed) + 1;
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(PAGE.replace("{{user}}", &format!("User#{n}")))
}

/// The room's event stream. A browser that reconnects sends the last id it
/// saw as `Last-Event-ID`, and the hub replays what it missed.
async fn events(
    chat: web::Data<Chat>,
    LastEventId(last): LastEventId,
) -> actix_web::Result<Subscription> {
    chat.hub
        .subscribe(TOPIC, last.as_deref())
        .await
        .map_err(ErrorServiceUnavailable)
}

/// A chat message, as posted and as published.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Message {
    user: String,
    text: String,
}

/// Publishes a message to every open page.
async fn send(chat: web::Data<Chat>, message: web::Json<Message>) -> HttpResponse {
    if message.text.trim().is_empty() {
        return HttpResponse::BadRequest().body("the message is empty");
    }
    if message.text.chars().count() > MAX_TEXT_CHARS
        || message.user.chars().count() > MAX_USER_CHARS
    {
        return HttpResponse::BadRequest().body("the message is too long");
    }
    let event = match Event::json(&*message) {
        Ok(event) => event,
        Err(e) => return HttpResponse::InternalServerError().body(e.to_string()),
    };
    match chat.hub.publish(TOPIC, event).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}
