//! A counter that the server increments every second, shown live in every
//! open page: the counter of leptos_sse's README, served with an ssehub
//! [`Hub`] and read with a plain `EventSource`.
//!
//! Run with: cargo run -p axum-counter -- --listen 127.0.0.1:3001
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page: `Count: N`, live, and a button to add one |
//! | `GET /events` | the event stream of the counter (resumes with `Last-Event-ID` or `?lastEventId=`) |
//! | `POST /increment` | adds one; answers `{"count": N}` |
//!
//! Each change is one event on the topic [`TOPIC`], its data `{"count": N}`.
//! The page comes with the current count and the id of the event that set
//! it, and subscribes from that id: whatever changed in between is replayed,
//! so the page never shows a stale count.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ssehub::axum::LastEventId;
use ssehub::{Event, EventId, Hub, PublishError};
use tokio::sync::Mutex;

/// The topic the counter is published on.
pub const TOPIC: &str = "counter";

/// The page, with `{{count}}` and `{{last_event_id}}` (a JSON string or `null`).
const PAGE: &str = include_str!("page.html");

/// The count, published on a [`Hub`] at each change. Cheap to clone; every
/// clone is the same counter.
#[derive(Clone, Debug)]
pub struct Counter {
    hub: Hub,
    state: Arc<Mutex<Current>>,
}

#[derive(Debug, Default)]
struct Current {
    count: u64,
    /// The id of the event that published `count`.
    id: Option<EventId>,
}

impl Counter {
    /// A counter at 0, published on `hub`.
    pub fn new(hub: Hub) -> Counter {
        Counter {
            hub,
            state: Arc::default(),
        }
    }

    /// Adds one and publishes `{"count": N}`; returns N.
    ///
    /// # Errors
    ///
    /// If the hub has shut down.
    pub async fn increment(&self) -> Result<u64, PublishError> {
        // Held while publishing, so that counts are published in order and
        // `id` is always the event of `count`.
        let mut current = self.state.lock().await;
        let count = current.count + 1;
        let event = Event::json(&serde_json::json!({ "count": count }))?;
        current.id = Some(self.hub.publish(TOPIC, event).await?);
        current.count = count;
        Ok(count)
    }

    /// Increments every `period`, until the hub shuts down.
    pub async fn tick(self, period: Duration) {
        let start = tokio::time::Instant::now() + period;
        let mut ticks = tokio::time::interval_at(start, period);
        loop {
            ticks.tick().await;
            if self.increment().await.is_err() {
                return;
            }
        }
    }
}

/// The counter's routes. Something else makes it count: [`Counter::tick`],
/// or `POST /increment`.
pub fn app(counter: Counter) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/increment", post(increment))
        .with_state(counter)
}

/// The page, with the current count and where to resume from.
async fn page(State(counter): State<Counter>) -> Html<String> {
    let current = counter.state.lock().await;
    let last_event_id = serde_json::to_string(&current.id.as_ref().map(EventId::as_str))
        .unwrap_or_else(|_| "null".to_owned())
        .replace('<', "\\u003c");
    Html(
        PAGE.replace("{{count}}", &current.count.to_string())
            .replace("{{last_event_id}}", &last_event_id),
    )
}

/// The counter's event stream, resuming after the id the client gives.
async fn events(State(counter): State<Counter>, LastEventId(last): LastEventId) -> Response {
    match counter.hub.subscribe(TOPIC, last.as_deref()).await {
        Ok(subscription) => subscription.into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Adds one.
async fn increment(
    State(counter): State<Counter>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let count = counter
        .increment()
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(serde_json::json!({ "count": count })))
}
