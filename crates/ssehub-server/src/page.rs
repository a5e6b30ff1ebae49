//! `GET /`: a small live page to try the hub from a browser.

use axum::response::Html;

pub(crate) async fn index() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

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
