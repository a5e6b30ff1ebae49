//! The chat's HTTP behaviour, shared by the axum, actix-web and salvo chat
//! examples (each `tests/app.rs` only starts its own server), so that the
//! three cannot drift.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::json;

/// Reads `body` until it contains `needle`; returns all read.
async fn read_until(
    body: &mut (impl Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    needle: &str,
) -> anyhow::Result<String> {
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !text.contains(needle) {
            let chunk = body
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("the stream ended"))??;
            text.push_str(std::str::from_utf8(&chunk)?);
        }
        anyhow::Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("{needle:?} not received; got {text:?}"))??;
    Ok(text)
}

/// Two open streams both get a posted message, as JSON, unescaped.
pub(crate) async fn a_message_reaches_every_open_stream(base: String) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let response = client.get(format!("{base}/events")).send().await?;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        streams.push(response.bytes_stream());
    }
    let response = client
        .post(format!("{base}/messages"))
        .json(&json!({"user": "User#1", "text": "<b>hi</b> 😀"}))
        .send()
        .await?;
    assert_eq!(response.status(), 204);
    for stream in &mut streams {
        let text = read_until(stream, "😀\"}\n\n").await?;
        assert!(
            text.contains(r#"data: {"user":"User#1","text":"<b>hi</b> 😀"}"#),
            "{text:?}"
        );
    }
    Ok(())
}

/// Blank messages and messages over `max_chars` answer 400.
pub(crate) async fn empty_and_long_messages_are_refused(
    base: String,
    max_chars: usize,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let too_long = "x".repeat(max_chars + 1);
    for text in ["", "  \n", too_long.as_str()] {
        let response = client
            .post(format!("{base}/messages"))
            .json(&json!({"user": "User#1", "text": text}))
            .send()
            .await?;
        assert_eq!(response.status(), 400, "{text:?}");
    }
    Ok(())
}

/// Each page load gets the next `User#N`.
pub(crate) async fn each_visitor_gets_a_name(base: String) -> anyhow::Result<()> {
    for n in 1..=2 {
        let page = reqwest::get(format!("{base}/")).await?.text().await?;
        assert!(page.contains(&format!(r#"data-user="User#{n}""#)), "{page}");
    }
    Ok(())
}
