//! `GET /`: a small live page to try the hub from a browser.

use axum::response::Html;

pub(crate) async fn index() -> Html<&'static str> {
    Html(include_str!("page.html"))
}
