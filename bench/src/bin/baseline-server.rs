//! `baseline-server`: the HTTP API that `ssehub-load` drives, written the way
//! most users write SSE fan-out in axum: a `tokio::sync::broadcast` channel
//! per topic and axum's own `Sse` response, one `sse::Event` built per
//! subscriber per event. A receiver that lags skips what it missed (what a
//! `broadcast` user gets; it shows up as gaps in the load report).
//!
//! - `GET /events?topic=T`: the stream, with axum's default keep-alive (15 s).
//! - `POST /publish` with JSON `{"topic", "data"}`: answers `{"id": "<n>"}`.
//!
//! Like `ssehub serve`: `TCP_NODELAY` on every connection, a listen backlog
//! of 4,096, a multi-threaded tokio runtime. See `docs/load.md`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use futures_util::Stream;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::broadcast;

/// The baseline SSE server: axum `Sse` over `tokio::sync::broadcast`.
#[derive(Debug, Parser)]
#[command(name = "baseline-server", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Capacity of each topic's broadcast channel.
    #[arg(long, default_value_t = 1024)]
    capacity: usize,
}

/// One published event, shared by every receiver of its topic.
#[derive(Debug)]
struct Message {
    id: u64,
    data: String,
}

#[derive(Debug)]
struct AppState {
    topics: Mutex<HashMap<String, broadcast::Sender<Arc<Message>>>>,
    next_id: AtomicU64,
    capacity: usize,
}

impl AppState {
    fn sender(&self, topic: &str) -> broadcast::Sender<Arc<Message>> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .clone()
    }
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    topic: String,
}

#[derive(serde::Deserialize)]
struct PublishBody {
    topic: String,
    data: String,
}

async fn events(
    State(state): State<Arc<AppState>>,
    Query(query): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.sender(&query.topic).subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(message) => {
                    let event = Event::default()
                        .id(message.id.to_string())
                        .data(&message.data);
                    return Some((Ok(event), rx));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn publish(
    State(state): State<Arc<AppState>>,
    Json(body): Json<PublishBody>,
) -> (StatusCode, Json<serde_json::Value>) {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    // No subscriber is not an error for a publisher.
    let _ = state.sender(&body.topic).send(Arc::new(Message {
        id,
        data: body.data,
    }));
    (
        StatusCode::OK,
        Json(serde_json::json!({ "id": id.to_string() })),
    )
}

/// Binds with a listen backlog of 4,096, as `ssehub serve` does.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let state = Arc::new(AppState {
        topics: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
        capacity: args.capacity,
    });
    let app = Router::new()
        .route("/events", get(events))
        .route("/publish", post(publish))
        .with_state(state);
    let listener = bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    eprintln!(
        "baseline-server: listening on http://{}",
        listener.local_addr()?
    );
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.context("serving")
}
