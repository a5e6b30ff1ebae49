//! `GET /`: a small live page to try the hub from a browser.

use axum::extract::State;
use axum::response::Html;

use crate::AppState;

/// The demo page; on first visit it also creates the signal it shows
/// (`demo/counter`, at 0).
pub(crate) async fn index(State(state): State<AppState>) -> Html<&'static str> {
    if state.hub.signal_value(DEMO_SIGNAL).await.is_none() {
        // Only fails if the hub is shutting down; the page then shows "–".
        let _ = state.hub.put_signal(DEMO_SIGNAL, 0.into()).await;
    }
    Html(include_str!("page.html"))
}

const DEMO_SIGNAL: &str = "demo/counter";

/// `GET /ssehub.js`: the signals client for plain pages (`js/ssehub.js`).
pub(crate) async fn script() -> impl axum::response::IntoResponse {
    (
        [
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "no-cache"),
        ],
        include_str!("../../../js/ssehub.js"),
    )
}

/// `GET /ssehub-htmx.js`: resume for htmx 2 pages whose SSE extension
/// connects to this hub (`js/ssehub-htmx.js`).
pub(crate) async fn htmx_script() -> impl axum::response::IntoResponse {
    (
        [
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "no-cache"),
        ],
        include_str!("../../../js/ssehub-htmx.js"),
    )
}

/// `GET /favicon.ico`: browsers ask every origin for one; the hub has none,
/// and says so without a 404 in the page's console.
pub(crate) async fn favicon() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}
