//! The chat's routes over real HTTP (the browser tests in `tests/browser`
//! drive its page).

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::json;
use ssehub::Hub;

/// Serves the chat on `127.0.0.1:0`; returns its base URL.
async fn start() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    tokio::spawn(actix_chat::serve(listener, Hub::new())?);
    Ok(format!("http://{addr}"))
}

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

#[tokio::test]
async fn a_message_reaches_every_open_stream() -> anyhow::Result<()> {
    let base = start().await?;
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

#[tokio::test]
async fn empty_and_long_messages_are_refused() -> anyhow::Result<()> {
    let base = start().await?;
    let client = reqwest::Client::new();
    let too_long = "x".repeat(actix_chat::MAX_TEXT_CHARS + 1);
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

#[tokio::test]
async fn each_visitor_gets_a_name() -> anyhow::Result<()> {
    let base = start().await?;
    for n in 1..=2 {
        let page = reqwest::get(format!("{base}/")).await?.text().await?;
        assert!(page.contains(&format!(r#"data-user="User#{n}""#)), "{page}");
    }
    Ok(())
}
