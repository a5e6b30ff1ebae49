//! The leptos-ssr example's server: a Leptos app rendered on the server
//! with the live value of an ssehub signal, then hydrated in the browser,
//! which stays live over one `EventSource`.
//!
//! Build the page's wasm, then run (from the repository root):
//!
//! ```text
//! examples/leptos-ssr/build.sh
//! cargo run -p leptos-ssr -- --listen 127.0.0.1:3003
//! ```
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page, rendered by Leptos with the counter's current value in `#count` |
//! | `GET /pkg/{file}` | the wasm bundle that hydrates it (what `wasm-bindgen` wrote) |
//! | `GET /events?topic=counter` | the signal's event stream ([`ssehub_leptos::axum::events_route`]) |
//! | `POST /api/{fn}` | the app's server functions: `POST /api/increment` (the page's `+1`) answers the new count |
//! | `GET`, `PUT`, `PATCH /signals/{name}` | the signal over HTTP ([`ssehub_leptos::axum::signal_routes`]): `curl -X PUT -H 'content-type: application/json' -d '{"count": 5}' http://ADDR/signals/counter` |
//!
//! The hub travels in the Leptos context: the render reads the signal from
//! it (in process, no request), the server function changes it. The routes
//! are in [`app`], so that tests can serve them; `main.rs` only parses
//! flags and serves.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::*;
pub use leptos_ssr_app::{App, Count, SIGNAL};
use ssehub::{Hub, Signal, SignalError};

/// The wasm bundle's name: the app crate's, as `wasm-bindgen` names its
/// files (`leptos_ssr_app.js`, `leptos_ssr_app_bg.wasm`).
const OUTPUT_NAME: &str = "leptos_ssr_app";

/// The files of the wasm bundle, with their content types.
const BUNDLE: [(&str, &str); 2] = [
    ("leptos_ssr_app.js", "text/javascript"),
    ("leptos_ssr_app_bg.wasm", "application/wasm"),
];

/// Where `build.sh` puts the bundle: the default assets directory.
pub fn default_assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pkg")
}

/// The hub's counter signal, created at `{"count": 0}` if it is not there
/// yet.
///
/// # Errors
///
/// If the hub holds a signal of that name that is not a [`Count`].
pub async fn counter(hub: &Hub) -> Result<Signal<Count>, SignalError> {
    hub.signal(SIGNAL, Count::default()).await
}

/// The whole HTML document around [`App`]: the head loads the wasm bundle,
/// which hydrates the body.
fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <title>"Leptos SSR counter over ssehub"</title>
                <link rel="icon" href="data:," />
                <HydrationScripts options />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The app's routes over `hub` (whose [`SIGNAL`] the page shows), serving
/// the wasm bundle from `assets` (the directory `wasm-bindgen` wrote, see
/// [`default_assets_dir`]).
///
/// # Errors
///
/// If the bundle is not in `assets`, with how to build it.
pub fn app(hub: Hub, assets: &Path) -> anyhow::Result<Router> {
    for (file, _) in BUNDLE {
        let path = assets.join(file);
        if !path.is_file() {
            bail!(
                "the page's wasm bundle is missing ({} not found): build it with \
                 examples/leptos-ssr/build.sh (from the repository root), or give \
                 the directory wasm-bindgen wrote with --assets",
                path.display()
            );
        }
    }
    let assets = assets
        .canonicalize()
        .with_context(|| format!("the assets directory {}", assets.display()))?;
    // Leptos spawns its rendering tasks on the global executor: tokio's (an
    // error when it was set already, by an earlier call).
    let _ = any_spawner::Executor::init_tokio();
    let options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_pkg_dir("pkg")
        .build();
    // The hub in the Leptos context, for the render and the server
    // functions alike.
    let context = {
        let hub = hub.clone();
        move || provide_context(hub.clone())
    };
    let render = leptos_axum::render_app_to_stream_with_context(context.clone(), move || {
        shell(options.clone())
    });
    let server_fns = move |request: Request<Body>| {
        leptos_axum::handle_server_fns_with_context(context.clone(), request)
    };
    Ok(Router::new()
        .route("/", get(render))
        .route("/api/{*name}", post(server_fns))
        .route("/pkg/{file}", get(bundle).with_state(assets))
        .merge(ssehub_leptos::axum::events_route(hub.clone()))
        .merge(ssehub_leptos::axum::signal_routes(hub)))
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
            format!("reading {name}: {e}; rebuild with examples/leptos-ssr/build.sh"),
        )
            .into_response(),
    }
}
