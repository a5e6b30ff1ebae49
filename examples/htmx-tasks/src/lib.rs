//! A task list shared live between htmx pages, over an ssehub [`Hub`]: the
//! task manager of the acton-service SSE guide, with htmx 2 (and its SSE
//! extension) at `/` and htmx 4 at `/htmx4`.
//!
//! Run with: cargo run -p htmx-tasks -- --listen 127.0.0.1:3000
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page, with htmx 2 and htmx-ext-sse (and `ssehub-htmx.js`, for resume) |
//! | `GET /htmx4` | the same page with htmx 4 and its `hx-sse` extension |
//! | `GET /events` | the event stream of the list (resumes with `Last-Event-ID` or `?lastEventId=`) |
//! | `POST /tasks` | form `title=...`: adds a task to every open page |
//! | `POST /tasks/{id}/complete` | marks a task completed in every open page |
//! | `GET /static/{file}` | htmx, its SSE extensions, `ssehub-htmx.js` |
//!
//! Every change is one event on the topic [`TOPIC`]: an event without a
//! type whose data is HTML, which both htmx 2 (`sse-swap="message"`) and
//! htmx 4 (`hx-sse:connect`) swap, so pages of either version share one
//! stream. A new task is an `<li>` appended to the list (`hx-swap=
//! "beforeend"`) with the total count out of band; a completed task
//! replaces its `<li>` and the completed count out of band. The page is
//! rendered with the id of the last event it reflects, and subscribes
//! from there: nothing published in between is lost. When the hub cannot
//! resume a page (`ssehub-reset`), the page reloads.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use ssehub::axum::LastEventId;
use ssehub::{htmx, EventId, Hub};
use tokio::sync::Mutex;

/// The topic of the task list.
pub const TOPIC: &str = "tasks";

/// The longest task title accepted, in characters (the page's input allows
/// as many).
pub const MAX_TITLE_CHARS: usize = 200;

/// The htmx version a page is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    /// htmx 2 with htmx-ext-sse: `sse-connect`, `sse-swap`.
    Htmx2,
    /// htmx 4 with its `hx-sse` extension: `hx-sse:connect`.
    Htmx4,
}

#[derive(Clone, Debug)]
struct AppState {
    hub: Hub,
    board: Arc<Mutex<Board>>,
}

/// The tasks, and the id of the last event published about them. Changes
/// are published while the lock is held, so the events come in the order
/// of the changes, and a page rendered from the board subscribes right
/// after the event it reflects.
#[derive(Debug, Default)]
struct Board {
    tasks: Vec<Task>,
    last_event_id: Option<EventId>,
}

#[derive(Clone, Debug)]
struct Task {
    id: u64,
    title: String,
    completed: bool,
}

impl Board {
    fn completed(&self) -> usize {
        self.tasks.iter().filter(|t| t.completed).count()
    }
}

/// The routes of the task list, on `hub`.
pub fn app(hub: Hub) -> Router {
    Router::new()
        .route("/", get(|state| page(state, Version::Htmx2)))
        .route("/htmx4", get(|state| page(state, Version::Htmx4)))
        .route("/events", get(events))
        .route("/tasks", post(add))
        .route("/tasks/{id}/complete", post(complete))
        .route("/static/{file}", get(asset))
        .with_state(AppState {
            hub,
            board: Arc::default(),
        })
}

/// The event stream of the list. A page that reconnects gets what it
/// missed, from the id it sends.
async fn events(State(state): State<AppState>, LastEventId(last): LastEventId) -> Response {
    match state.hub.subscribe(TOPIC, last.as_deref()).await {
        Ok(subscription) => subscription.into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// The form of `POST /tasks`.
#[derive(Debug, serde::Deserialize)]
struct NewTask {
    title: String,
}

/// Adds a task and shows it in every page.
async fn add(State(state): State<AppState>, Form(new): Form<NewTask>) -> Response {
    let title = new.title.trim();
    if title.is_empty() {
        return (StatusCode::BAD_REQUEST, "the title is empty").into_response();
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return (StatusCode::BAD_REQUEST, "the title is too long").into_response();
    }
    let mut board = state.board.lock().await;
    let task = Task {
        id: board.tasks.len() as u64 + 1,
        title: title.to_owned(),
        completed: false,
    };
    board.tasks.push(task.clone());
    let total = board.tasks.len().to_string();
    let html = html! {
        (task_item(&task, false))
        (PreEscaped(htmx::oob("innerHTML", "#total", &total)))
    };
    publish(&state.hub, &mut board, &html).await
}

/// Marks a task completed in every page.
async fn complete(State(state): State<AppState>, Path(id): Path<u64>) -> Response {
    let mut board = state.board.lock().await;
    let Some(task) = board.tasks.iter_mut().find(|t| t.id == id) else {
        return (StatusCode::NOT_FOUND, "no such task").into_response();
    };
    if task.completed {
        return StatusCode::NO_CONTENT.into_response();
    }
    task.completed = true;
    let task = task.clone();
    let completed = board.completed().to_string();
    let html = html! {
        (task_item(&task, true))
        (PreEscaped(htmx::oob("innerHTML", "#completed", &completed)))
    };
    publish(&state.hub, &mut board, &html).await
}

/// Publishes `html` as a fragment to swap, and notes its id on the board.
async fn publish(hub: &Hub, board: &mut Board, html: &Markup) -> Response {
    match hub.publish(TOPIC, htmx::fragment(&html.0)).await {
        Ok(id) => {
            board.last_event_id = Some(id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// A task in the list. With `oob`, it replaces the task of the same id
/// wherever it is (an out-of-band swap), instead of being appended.
fn task_item(task: &Task, oob: bool) -> Markup {
    let id = format!("task-{}", task.id);
    html! {
        li id=(id) class=[task.completed.then_some("completed")]
            hx-swap-oob=[oob.then_some("true")] {
            span.title { (task.title) }
            @if task.completed {
                " " span.check { "✓ completed" }
            } @else {
                " " button.complete hx-post={ "/tasks/" (task.id) "/complete" } hx-swap="none" {
                    "Complete"
                }
            }
        }
    }
}

/// The page, showing the board as it is, subscribed from the last event
/// that the board reflects.
async fn page(State(state): State<AppState>, version: Version) -> Html<String> {
    let board = state.board.lock().await;
    let events = match &board.last_event_id {
        Some(id) => format!(
            "/events?lastEventId={}",
            form_urlencoded::byte_serialize(id.as_str().as_bytes()).collect::<String>()
        ),
        None => "/events".to_owned(),
    };
    let list = html! {
        ul #tasks sse-swap=[(version == Version::Htmx2).then_some("message")]
            hx-swap=[(version == Version::Htmx2).then_some("beforeend")] {
            @for task in &board.tasks { (task_item(task, false)) }
        }
    };
    let (title, scripts, reset_form) = match version {
        Version::Htmx2 => (
            "Tasks (htmx 2)",
            &[
                "/static/htmx-2.min.js",
                "/static/htmx-ext-sse.min.js",
                "/static/ssehub-htmx.js",
            ][..],
            "if (event.detail.successful) this.reset()",
        ),
        Version::Htmx4 => (
            "Tasks (htmx 4)",
            &["/static/htmx-4.min.js", "/static/htmx-4-sse.min.js"][..],
            "if (event.detail.ctx.response && event.detail.ctx.response.status < 300) this.reset()",
        ),
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                // No favicon request (a 404 in the console).
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
                @for src in scripts { script src=(src) {} }
            }
            body {
                h1 { (title) }
                @if version == Version::Htmx2 {
                    form #add hx-post="/tasks" hx-swap="none" "hx-on::after-request"=(reset_form) {
                        (title_input())
                    }
                } @else {
                    form #add hx-post="/tasks" hx-swap="none" "hx-on:htmx:after:request"=(reset_form) {
                        (title_input())
                    }
                }
                p.counts {
                    "Completed: " span #completed { (board.completed()) }
                    " of " span #total { (board.tasks.len()) }
                }
                @if version == Version::Htmx2 {
                    div #stream hx-ext="sse" sse-connect=(events) {
                        (list)
                        // A trigger: the hub's reset becomes a DOM event here.
                        div #reset hx-trigger="sse:ssehub-reset" hidden {}
                    }
                } @else {
                    div #stream "hx-sse:connect"=(events) hx-target="#tasks" hx-swap="beforeend" {
                        (list)
                    }
                }
                p #status data-opens="0" { "connecting" }
                script { (PreEscaped(match version {
                    Version::Htmx2 => STATUS_HTMX2,
                    Version::Htmx4 => STATUS_HTMX4,
                })) }
            }
        }
    };
    Html(markup.0)
}

fn title_input() -> Markup {
    html! {
        input #title name="title" type="text" required autocomplete="off" autofocus
            maxlength=(MAX_TITLE_CHARS) placeholder="What needs doing? Enter adds it";
    }
}

/// Keeps `#status` up to date: `connected` (with `data-opens` counting the
/// connections so far) or `reconnecting`; reloads the page when the hub
/// says it cannot resume (`ssehub-reset`: the events missed have left its
/// history, or the server restarted), as the page would be stale.
const STATUS_HTMX2: &str = r#"{
document.querySelector('#reset').addEventListener('sse:ssehub-reset', () => location.reload());
const status = document.querySelector('#status');
document.body.addEventListener('htmx:sseOpen', () => {
  status.dataset.opens = Number(status.dataset.opens) + 1;
  status.textContent = 'connected';
});
document.body.addEventListener('htmx:sseError', () => { status.textContent = 'reconnecting'; });
}"#;

/// [`STATUS_HTMX2`] for htmx 4's events (a typed event is a DOM event on the
/// `hx-sse:connect` element).
const STATUS_HTMX4: &str = r#"{
document.querySelector('#stream').addEventListener('ssehub-reset', () => location.reload());
const status = document.querySelector('#status');
document.body.addEventListener('htmx:sse:after:connection', () => {
  status.dataset.opens = Number(status.dataset.opens) + 1;
  status.textContent = 'connected';
});
document.body.addEventListener('htmx:sse:close', () => { status.textContent = 'closed'; });
document.body.addEventListener('htmx:sse:error', () => { status.textContent = 'reconnecting'; });
}"#;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; }
#title { width: 100%; font-size: 1.1rem; padding: .4rem; box-sizing: border-box; }
#tasks { padding-left: 1.2rem; }
#tasks li { margin: .3rem 0; }
#tasks li.completed .title { text-decoration: line-through; color: #777; }
.check { color: #2a7; }
#status { color: #777; font-size: .85rem; }
";

/// The files the pages load, from `static/` (see the README for where they
/// come from) and the repository's `js/`.
async fn asset(Path(file): Path<String>) -> Response {
    let body = match file.as_str() {
        "htmx-2.min.js" => include_str!("../static/htmx-2.min.js"),
        "htmx-ext-sse.min.js" => include_str!("../static/htmx-ext-sse.min.js"),
        "htmx-4.min.js" => include_str!("../static/htmx-4.min.js"),
        "htmx-4-sse.min.js" => include_str!("../static/htmx-4-sse.min.js"),
        "ssehub-htmx.js" => include_str!("../../../js/ssehub-htmx.js"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
