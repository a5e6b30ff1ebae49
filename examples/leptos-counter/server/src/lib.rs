//! The leptos-counter example's server: the counter of leptos_sse's README,
//! a Leptos page whose `Count: N` the server drives through an ssehub
//! signal (`hub.signal("counter", Count { value })`).
//!
//! Build the page, then run (from the repository root):
//!
//! ```text
//! examples/leptos-counter/build.sh
//! cargo run -p leptos-counter -- --listen 127.0.0.1:3002
//! ```
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page (`index.html`), which loads the wasm bundle |
//! | `GET /pkg/{file}` | the wasm bundle: what `wasm-bindgen` wrote to the assets directory |
//! | `GET /events?topic=counter` | the signal's event stream ([`ssehub_leptos::axum::events_route`]) |
//! | `POST /increment` | adds one; answers `{"value": N}` |
//!
//! The routes are in [`app`], so that tests can serve them; `main.rs` only
//! parses flags, starts the ticking and serves.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use axum::extract::{Path as UrlPath, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
pub use leptos_counter_client::{Count, SIGNAL};
use ssehub::{Hub, Signal, SignalError};

/// The page: loads `/pkg/leptos_counter_client.js`, which mounts the app.
const INDEX: &str = include_str!("../../index.html");

/// The files of the wasm bundle, as `wasm-bindgen --target web` names them,
/// with their content types.
const BUNDLE: [(&str, &str); 2] = [
    ("leptos_counter_client.js", "text/javascript"),
    ("leptos_counter_client_bg.wasm", "application/wasm"),
];

/// Where `build.sh` puts the bundle: the default assets directory.
pub fn default_assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pkg")
}

/// The counter: the server signal [`SIGNAL`]. Cheap to clone.
#[derive(Clone)]
pub struct Counter {
    signal: Signal<Count>,
}

impl Counter {
    /// The hub's counter signal, created at 0 if it is not there yet.
    ///
    /// # Errors
    ///
    /// If the hub holds a signal of that name that is not a [`Count`].
    pub async fn new(hub: &Hub) -> Result<Counter, SignalError> {
        Ok(Counter {
            signal: hub.signal(SIGNAL, Count::default()).await?,
        })
    }

    /// The signal, to change it directly (`set`, `update`).
    pub fn signal(&self) -> &Signal<Count> {
        &self.signal
    }

    /// Adds one; returns the new count.
    ///
    /// # Errors
    ///
    /// If the hub has shut down.
    pub async fn increment(&self) -> Result<u64, SignalError> {
        let mut value = 0;
        self.signal
            .update(|count| {
                count.value += 1;
                value = count.value;
            })
            .await?;
        Ok(value)
    }

    /// Increments every `period`, until the hub shuts down.
    pub async fn tick(self, period: Duration) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            ticks.tick().await;
            if self.increment().await.is_err() {
                return;
            }
        }
    }
}

/// The app's routes, over `hub` and its `counter`, serving the wasm bundle
/// from `assets` (the directory `wasm-bindgen` wrote, see
/// [`default_assets_dir`]).
///
/// # Errors
///
/// If the bundle is not in `assets`, with how to build it.
pub fn app(hub: Hub, counter: Counter, assets: &Path) -> anyhow::Result<Router> {
    for (file, _) in BUNDLE {
        let path = assets.join(file);
        if !path.is_file() {
            bail!(
                "the page's wasm bundle is missing ({} not found): build it with \
                 examples/leptos-counter/build.sh (from the repository root), or give \
                 the directory wasm-bindgen wrote with --assets",
                path.display()
            );
        }
    }
    let assets = assets
        .canonicalize()
        .with_context(|| format!("the assets directory {}", assets.display()))?;
    Ok(Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/pkg/{file}", get(bundle).with_state(assets))
        .route("/increment", post(increment).with_state(counter))
        .merge(ssehub_leptos::axum::events_route(hub)))
}

/// A file of the bundle (only those: nothing else of the directory is served).
async fn bundle(State(assets): State<PathBuf>, UrlPath(file): UrlPath<String>) -> Response {
    let Some((name, content_type)) = BUNDLE.into_iter().find(|(name, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(assets.join(name)).await {
        Ok(bytes) => (
            [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
            bytes,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading {name}: {e}; rebuild with examples/leptos-counter/build.sh"),
        )
            .into_response(),
    }
}

/// Adds one.
async fn increment(State(counter): State<Counter>) -> Response {
    match counter.increment().await {
        Ok(value) => Json(serde_json::json!({ "value": value })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}
