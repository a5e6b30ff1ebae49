//! The counter's routes over real HTTP (the browser tests in `tests/browser`
//! drive its page).

use std::time::Duration;

use axum_counter::Counter;
use futures_util::{Stream, StreamExt};
use ssehub::Hub;

/// Serves `counter` on `127.0.0.1:0`; returns its base URL.
async fn start(counter: Counter) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, axum_counter::app(counter)).await });
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
async fn increments_are_published_in_order() -> anyhow::Result<()> {
    let base = start(Counter::new(Hub::new())).await?;
    let client = reqwest::Client::new();
    let mut events = client
        .get(format!("{base}/events"))
        .send()
        .await?
        .bytes_stream();
    for n in 1..=2 {
        let answer: serde_json::Value = client
            .post(format!("{base}/increment"))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(answer, serde_json::json!({ "count": n }));
    }
    let text = read_until(&mut events, r#"{"count":2}"#).await?;
    let one = text
        .find(r#"data: {"count":1}"#)
        .expect("count 1 published");
    assert!(
        one < text
            .find(r#"data: {"count":2}"#)
            .expect("count 2 published")
    );
    Ok(())
}

/// The page carries the id of the event that set its count; subscribing from
/// it replays exactly the changes made since.
#[tokio::test]
async fn the_page_resumes_from_the_count_it_shows() -> anyhow::Result<()> {
    let counter = Counter::new(Hub::new());
    let base = start(counter.clone()).await?;
    for _ in 0..3 {
        counter.increment().await?;
    }
    let page = reqwest::get(format!("{base}/")).await?.text().await?;
    assert!(page.contains("Count: 3"), "{page}");
    let id = page
        .split("const lastEventId = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has the last event id");
    counter.increment().await?;
    let mut events = reqwest::get(format!("{base}/events?lastEventId={id}"))
        .await?
        .bytes_stream();
    let text = read_until(&mut events, "data:").await?;
    assert!(text.contains(r#"data: {"count":4}"#), "{text:?}");
    assert!(!text.contains(r#"{"count":3}"#), "{text:?}");
    Ok(())
}

#[tokio::test]
async fn the_counter_ticks() -> anyhow::Result<()> {
    let hub = Hub::new();
    let mut subscription = hub.subscribe(axum_counter::TOPIC, None).await?;
    tokio::spawn(Counter::new(hub.clone()).tick(Duration::from_millis(10)));
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !text.contains(r#"{"count":3}"#) {
            let frame = subscription.next().await.expect("the hub is running");
            text.push_str(std::str::from_utf8(&frame).expect("UTF-8"));
        }
    })
    .await?;
    let at = |n: u64| {
        text.find(&format!(r#"data: {{"count":{n}}}"#))
            .unwrap_or_else(|| panic!("count {n} not published: {text:?}"))
    };
    assert!(at(1) < at(2) && at(2) < at(3), "{text:?}");
    hub.shutdown();
    Ok(())
}
