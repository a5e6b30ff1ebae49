//! Presence and targeted delivery in process, on the in-memory backend:
//! connection ids, `ssehub-connected`, `$conn/ID`, presence lists, join and
//! leave events, closing a stream.

use std::time::Duration;

use futures_util::StreamExt;
use ssehub::{Event, Hub, SubscribeOptions};
use ssehub_core::MessageEvent;

mod common;
use common::events;

fn json(event: &MessageEvent) -> serde_json::Value {
    serde_json::from_str(&event.data).unwrap()
}

#[tokio::test]
async fn a_stream_is_told_its_id_first_when_it_asks() {
    let hub = Hub::new();
    let mut sub = hub
        .subscribe_with(SubscribeOptions::new("t").connected_event(true))
        .await
        .unwrap();
    let id = sub.id();
    assert!(id.as_str().starts_with(&format!("{}-", hub.node())), "{id}");
    hub.publish("t", Event::data("x")).await.unwrap();
    let got = events(&mut sub, 2).await;
    assert_eq!(got[0].event, "ssehub-connected");
    assert_eq!(got[0].last_event_id, "", "it is no stored event");
    assert_eq!(json(&got[0]), serde_json::json!({"id": id.as_str()}));
    assert_eq!(got[1].data, "x");

    let other = hub.subscribe("t", None).await.unwrap();
    assert_ne!(other.id(), id, "every stream has its own id");
}

#[tokio::test]
async fn conn_topics_reach_exactly_one_stream_without_a_subscription() {
    let hub = Hub::new();
    let mut a = hub.subscribe("room", None).await.unwrap();
    let mut b = hub.subscribe("room", None).await.unwrap();
    let to_b = format!("$conn/{}", b.id());
    hub.publish(to_b.as_str(), Event::data("for b"))
        .await
        .unwrap();
    hub.publish("room", Event::data("for all")).await.unwrap();
    let got_b = events(&mut b, 2).await;
    assert_eq!(got_b[0].data, "for b");
    assert_eq!(got_b[1].data, "for all");
    let got_a = events(&mut a, 1).await;
    assert_eq!(got_a[0].data, "for all", "a never saw b's event");
    // Not resumable: a resume does not replay another stream's `$conn`.
    let resumed = hub
        .subscribe("room", Some(got_b[0].last_event_id.as_str()))
        .await
        .unwrap();
    assert_eq!(resumed.resume(), ssehub::Resume::Resumed { replayed: 1 });
}

#[tokio::test]
async fn presence_lists_the_streams_of_a_topic_by_name_as_they_open_and_close() {
    let hub = Hub::new();
    assert!(hub.presence("room").await.unwrap().is_empty());
    let ann = hub
        .subscribe_with(SubscribeOptions::new(["room", "other"]).user("ann"))
        .await
        .unwrap();
    let anon = hub.subscribe("room", None).await.unwrap();
    let pattern = hub.subscribe("ro*", None).await.unwrap();
    let list = hub.presence("room").await.unwrap();
    let ids: Vec<_> = list.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [ann.id().as_str(), anon.id().as_str()]);
    assert_eq!(list[0].user.as_deref(), Some("ann"));
    assert_eq!(list[1].user, None);
    assert!(list.iter().all(|p| p.node == hub.node()));
    assert_eq!(hub.presence("ro*").await.unwrap().len(), 1);
    assert_eq!(hub.stats().presence_entries, 4);
    drop(ann);
    let list = hub.presence("room").await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, anon.id().as_str());
    drop(pattern);
}

#[tokio::test]
async fn join_and_leave_events_come_in_order_and_resume() {
    let hub = Hub::builder().presence_events(["room/*"]).build();
    let mut watch = hub.subscribe("$presence/room/1", None).await.unwrap();
    let ann = hub
        .subscribe_with(SubscribeOptions::new(["room/1", "quiet"]).user("ann"))
        .await
        .unwrap();
    let ann_id = ann.id();
    let quiet = hub.subscribe("quiet", None).await.unwrap(); // announces nothing
    drop(ann);
    let got = events(&mut watch, 1).await;
    assert_eq!(got[0].event, "join");
    let expected = |id: &str| serde_json::json!({"id": id, "user": "ann", "node": hub.node(), "topic": "room/1"});
    assert_eq!(json(&got[0]), expected(ann_id.as_str()));
    // The leave is published in the background: wait for it.
    let left = events(&mut watch, 1).await;
    assert_eq!(left[0].event, "leave");
    assert_eq!(json(&left[0]), expected(ann_id.as_str()));
    // A watcher that saw the join resumes with the leave.
    let mut again = hub
        .subscribe("$presence/room/1", Some(got[0].last_event_id.as_str()))
        .await
        .unwrap();
    let replayed = events(&mut again, 1).await;
    assert_eq!(replayed[0].event, "leave");
    assert_eq!(replayed[0].last_event_id, left[0].last_event_id);
    drop(quiet);
}

#[tokio::test]
async fn presence_topics_reach_no_pattern_without_a_dollar() {
    let hub = Hub::builder().presence_events(["**"]).build();
    let mut all = hub.subscribe("**", None).await.unwrap();
    let _ann = hub.subscribe("room", None).await.unwrap();
    hub.publish("room", Event::data("x")).await.unwrap();
    let got = events(&mut all, 1).await;
    assert_eq!(got[0].data, "x", "the join went to $presence/room only");
}

#[tokio::test]
async fn close_ends_a_stream_after_what_is_queued() {
    let hub = Hub::new();
    let mut sub = hub.subscribe("t", None).await.unwrap();
    hub.publish("t", Event::data("before")).await.unwrap();
    assert!(hub.close(sub.id().as_str()).await.unwrap());
    assert_eq!(events(&mut sub, 1).await[0].data, "before");
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while sub.next().await.is_some() {}
    });
    end.await.expect("the closed stream ends");
    assert!(sub.closed());
    assert_eq!(hub.stats().connections, 0);
    assert_eq!(hub.stats().closed, 1);
    assert!(!hub.close(sub.id().as_str()).await.unwrap(), "gone");
    assert!(!hub.close("nonsense").await.unwrap());
    assert!(!hub.close("00000000-1").await.unwrap(), "another node");
}
