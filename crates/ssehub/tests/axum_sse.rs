//! `ssehub::axum::sse_events`: a subscription inside a handler that already
//! returns `axum::response::Sse` arrives as the same events.
#![cfg(feature = "axum")]

use axum::response::{IntoResponse, Sse};
use futures_util::StreamExt;
use ssehub::{Event, Hub};
use ssehub_core::{EventStream, Item};

#[tokio::test]
async fn hub_events_through_axum_sse() {
    let hub = Hub::new();
    let sub = hub.subscribe("t", None).await.unwrap();
    let body = Sse::new(ssehub::axum::sse_events(sub))
        .into_response()
        .into_body()
        .into_data_stream();
    let mut items = EventStream::new(body);
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
    assert_eq!(items.next().await.unwrap().unwrap(), Item::Retry(2000));
    let Item::Event(e) = items.next().await.unwrap().unwrap() else {
        panic!("an event")
    };
    assert_eq!((e.event.as_str(), e.data.as_str()), ("note", " two\nlines"));
    assert_eq!(e.last_event_id, id.as_str());
}
