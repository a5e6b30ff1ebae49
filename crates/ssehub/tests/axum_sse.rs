//! `ssehub::axum::sse_events`: a subscription inside a handler that already
//! returns `axum::response::Sse` arrives as the same events.
#![cfg(feature = "axum")]

use axum::response::{IntoResponse, Sse};
use futures_util::StreamExt;
use ssehub::{Event, Hub};
use ssehub_core::Item;

#[tokio::test]
async fn hub_events_through_axum_sse() {
    let hub = Hub::new();
    let sub = hub.subscribe("t", None).await.unwrap();
    let body = Sse::new(ssehub::axum::sse_events(sub))
        .into_response()
        .into_body()
        .into_data_stream();
    let mut body = Box::pin(body);
    let id = hub
        .publish(
            "t",
            Event::builder()
                .event("note")
                .data(" two\nlines")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    // The retry hint in the event's block, not in one of its own (which
    // some clients dispatch as an empty event).
    let frame = body.next().await.unwrap().unwrap();
    let items = ssehub_core::parse_all(&frame).unwrap();
    let [Item::Retry(2000), Item::Event(e)] = &items[..] else {
        panic!("the retry hint, then the event, from one block: {frame:?}")
    };
    assert_eq!((e.event.as_str(), e.data.as_str()), ("note", " two\nlines"));
    assert_eq!(e.last_event_id, id.as_str());
    let blocks = frame.windows(2).filter(|w| w == b"\n\n").count();
    assert_eq!(blocks, 1, "one block: {frame:?}");
}
