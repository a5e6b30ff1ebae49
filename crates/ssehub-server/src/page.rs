//! `GET /`: a small live page to try the hub from a browser.

use axum::extract::State;
use axum::response::Html;

use crate::AppState;

/// The demo page; on first visit it also creates the signal it shows
/// (`demo/counter`, at 0).
pub(crate) async fn index(State(state): State<AppState>) -> Html<&'static str> {
    // Created at 0 unless it exists (an existing one keeps its value). Fails
    // only when the hub shuts down or the backend is out; the page then
    // shows "–".
    let _ = state.hub.signal(DEMO_SIGNAL, 0u64).await;
    Html(include_str!("page.html"))
}

const DEMO_SIGNAL: &str = "demo/counter";

/// `GET /ssehub.js`: the signals client for plain pages (`js/ssehub.js`,
/// copied into `assets/` so that the published crate holds it).
pub(crate) async fn script() -> impl axum::response::IntoResponse {
    (
        [
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "no-cache"),
        ],
        include_str!("../assets/ssehub.js"),
    )
}

/// `GET /ssehub-htmx.js`: resume for htmx 2 pages whose SSE extension
/// connects to this hub (`js/ssehub-htmx.js`, copied into `assets/`).
pub(crate) async fn htmx_script() -> impl axum::response::IntoResponse {
    (
        [
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "no-cache"),
        ],
        include_str!("../assets/ssehub-htmx.js"),
    )
}

/// `GET /favicon.ico`: browsers ask every origin for one; the hub has none,
/// and says so without a 404 in the page's console.
pub(crate) async fn favicon() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}
