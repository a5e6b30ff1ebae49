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
    read_more(body, &mut text, |text| text.contains(needle))
        .await
        .map_err(|e| anyhow::anyhow!("{needle:?} not received: {e}"))?;
    Ok(text)
}

/// Reads `body` onto `text` until `done(text)`; fails after 10 s.
async fn read_more(
    body: &mut (impl Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    text: &mut String,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !done(text) {
            let chunk = body
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("the stream ended"))??;
            text.push_str(std::str::from_utf8(&chunk)?);
        }
        anyhow::Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("timed out; got {text:?}"))??;
    Ok(())
}

/// Opens `/events?user={user}` and reads its `ssehub-connected` event;
/// returns the stream and its connection id.
async fn open_as(
    client: &reqwest::Client,
    base: &str,
    user: &str,
) -> anyhow::Result<(
    impl Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    String,
)> {
    let response = client
        .get(format!("{base}/events"))
        .query(&[("user", user)])
        .send()
        .await?;
    assert_eq!(response.status(), 200, "{user}");
    let mut stream = response.bytes_stream();
    // The data line of the first event, `ssehub-connected`, once whole.
    let data = |text: &str| -> Option<String> {
        let rest = text.split_once("event: ssehub-connected\ndata: ")?.1;
        Some(rest.split_once('\n')?.0.to_owned())
    };
    let mut text = String::new();
    read_more(&mut stream, &mut text, |text| data(text).is_some()).await?;
    let data = data(&text).unwrap_or_default();
    let id = serde_json::from_str::<serde_json::Value>(&data)?["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id in {data:?}"))?
        .to_owned();
    Ok((stream, id))
}

/// `GET /presence`, as JSON.
async fn presence(client: &reqwest::Client, base: &str) -> anyhow::Result<serde_json::Value> {
    let response = client.get(format!("{base}/presence")).send().await?;
    assert_eq!(response.status(), 200);
    Ok(response.json().await?)
}

/// Two open streams with users are listed by `GET /presence`; when one
/// closes, the other gets its `leave` event, and the list has one left.
pub(crate) async fn presence_lists_open_streams_and_a_leave_reaches_the_others(
    base: String,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let (mut ann, ann_id) = open_as(&client, &base, "ann").await?;
    let (bob, bob_id) = open_as(&client, &base, "bob").await?;
    assert_ne!(ann_id, bob_id);

    let online = presence(&client, &base).await?;
    assert_eq!(online["count"], 2, "{online}");
    assert_eq!(online["users"], json!(["ann", "bob"]), "{online}");
    let streams = online["streams"].as_array().cloned().unwrap_or_default();
    let listed: Vec<_> = streams.iter().map(|s| (&s["id"], &s["user"])).collect();
    assert_eq!(
        listed,
        [
            (&json!(ann_id), &json!("ann")),
            (&json!(bob_id), &json!("bob"))
        ],
        "{online}"
    );

    // Bob's join reaches Ann, then, once Bob's stream is closed, his leave.
    let join = format!(r#"event: join{}data: {{"id":"{bob_id}","user":"bob""#, "\n");
    read_until(&mut ann, &join).await?;
    drop(bob);
    let leave = format!(
        r#"event: leave{}data: {{"id":"{bob_id}","user":"bob""#,
        "\n"
    );
    read_until(&mut ann, &leave).await?;

    let online = presence(&client, &base).await?;
    assert_eq!(online["count"], 1, "{online}");
    assert_eq!(online["users"], json!(["ann"]), "{online}");
    assert_eq!(online["streams"][0]["id"], json!(ann_id), "{online}");
    Ok(())
}

/// A stream's user has 1 to 64 characters: else `/events` answers 400.
pub(crate) async fn stream_users_are_checked(base: String) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let longest = "é".repeat(64);
    let too_long = "x".repeat(65);
    for (user, status) in [("", 400), (too_long.as_str(), 400), (longest.as_str(), 200)] {
        let response = client
            .get(format!("{base}/events"))
            .query(&[("user", user)])
            .send()
            .await?;
        assert_eq!(response.status(), status, "{user:?}");
    }
    Ok(())
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
