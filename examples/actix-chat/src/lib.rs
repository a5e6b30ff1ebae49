//! The chat room of `axum-chat`, on actix-web: an ssehub [`Hub`] does the
//! fan-out, and the resume after a reconnect.
//!
//! Run with: cargo run -p actix-chat -- --listen 127.0.0.1:3000
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
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::error::{ErrorBadRequest, ErrorServiceUnavailable};
use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpResponse, HttpServer};
use ssehub::actix::LastEventId;
use ssehub::{Event, Hub, Subscription};

/// The room without the framework, shared with `axum-chat` (as is its page).
#[path = "../../axum-chat/src/room.rs"]
mod room;

use room::{Message, Online};
pub use room::{MAX_TEXT_CHARS, PRESENCE_TOPIC, TOPIC};

/// How often a stream gets a keep-alive comment. actix-web notices that a
/// client went away (a closed tab) only when writing to it fails, the
/// second write after it left: so a page that closes leaves the others'
/// lists within two of these, instead of the hub's default 15 s. (axum and
/// salvo notice at once.)
pub const KEEPALIVE: Duration = Duration::from_secs(2);

/// The hub the chat needs: one that announces the streams of [`TOPIC`] as
/// `join` and `leave` events (on a hub that does not, pages list who was
/// online when they opened, and no change after), with keep-alive comments
/// every [`KEEPALIVE`].
pub fn hub() -> Hub {
    room::hub_builder().keepalive(Some(KEEPALIVE)).build()
}

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
            .route("/presence", web::get().to(presence))
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
        .body(room::page(n))
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
    chat: web::Data<Chat>,
    query: web::Query<EventsQuery>,
    LastEventId(last): LastEventId,
) -> actix_web::Result<Subscription> {
    let options = room::options(query.into_inner().user, last).map_err(ErrorBadRequest)?;
    chat.hub
        .subscribe_with(options)
        .await
        .map_err(ErrorServiceUnavailable)
}

/// Who is online: the streams of the room.
async fn presence(chat: web::Data<Chat>) -> actix_web::Result<HttpResponse> {
    let streams = chat
        .hub
        .presence(TOPIC)
        .await
        .map_err(ErrorServiceUnavailable)?;
    Ok(HttpResponse::Ok().json(Online::of(streams)))
}

/// Publishes a message to every open page.
async fn send(chat: web::Data<Chat>, message: web::Json<Message>) -> HttpResponse {
    if let Some(why) = message.refusal() {
        return HttpResponse::BadRequest().body(why);
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
