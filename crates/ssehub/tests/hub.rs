//! The hub in process: order, resume, reset, lag, keep-alive, shutdown, counts.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use ssehub::{control, Event, Hub, LagPolicy, Resume, SubscribeOptions, Subscription};
use ssehub_core::{Item, MessageEvent, Parser};
use tokio::time::Instant;

mod common;
use common::events;

fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

#[tokio::test]
async fn multi_topic_subscribers_see_publish_order_once() {
    let hub = Hub::new();
    let mut ab = hub.subscribe(["a", "b"], None).await.unwrap();
    let mut b = hub.subscribe("b", None).await.unwrap();
    hub.publish("a", Event::data("1")).await.unwrap();
    hub.publish("c", Event::data("not ours")).await.unwrap();
    hub.publish(["a", "b"], Event::data("2")).await.unwrap(); // once, not twice
    hub.publish("b", Event::data("3")).await.unwrap();
    hub.publish("a", Event::data("4")).await.unwrap();
    assert_eq!(data(&events(&mut ab, 4).await), ["1", "2", "3", "4"]);
    assert_eq!(data(&events(&mut b, 2).await), ["2", "3"]);
    let stats = hub.stats();
    assert_eq!((stats.connections, stats.topics), (2, 2));
    assert_eq!(stats.events_published, 5);
    assert_eq!(stats.events_delivered, 6);
}

#[tokio::test]
async fn resume_replays_exactly_the_missed_events_then_continues_live() {
    let hub = Hub::new();
    let mut ids = Vec::new();
    for i in 0..10 {
        let topic = if i % 2 == 0 { "even" } else { "odd" };
        ids.push(
            hub.publish(topic, Event::data(&i.to_string()))
                .await
                .unwrap(),
        );
    }
    // Saw up to event 3 (odd); missed 4..9 of which "even" has 4, 6, 8.
    let mut sub = hub.subscribe("even", Some(ids[3].as_str())).await.unwrap();
    assert_eq!(sub.resume(), Resume::Resumed { replayed: 3 });
    hub.publish("even", Event::data("10")).await.unwrap();
    let got = events(&mut sub, 4).await;
    assert_eq!(data(&got), ["4", "6", "8", "10"]);
    assert_eq!(got[0].last_event_id, ids[4].as_str());

    // From the newest id: nothing replayed, nothing lost at the seam.
    let newest = hub.publish("even", Event::data("11")).await.unwrap();
    let mut sub = hub.subscribe("even", Some(newest.as_str())).await.unwrap();
    assert_eq!(sub.resume(), Resume::Resumed { replayed: 0 });
    hub.publish("even", Event::data("12")).await.unwrap();
    assert_eq!(data(&events(&mut sub, 1).await), ["12"]);
    assert_eq!(hub.stats().resumes, 2);
}

async fn first_event(sub: &mut Subscription) -> MessageEvent {
    events(sub, 1).await.remove(0)
}

#[tokio::test]
async fn unknown_old_and_foreign_ids_get_a_reset_first() {
    let hub = Hub::builder().history_events(2).build();
    let first = hub.publish("t", Event::data("1")).await.unwrap();
    hub.publish("t", Event::data("2")).await.unwrap();
    hub.publish("t", Event::data("3")).await.unwrap();
    // History holds 3 and 4: 2, which a client that saw 1 needs, is gone.
    let mut newest = hub.publish("t", Event::data("4")).await.unwrap();
    let other_hub = Hub::new();
    let foreign = other_hub.publish("t", Event::data("x")).await.unwrap();

    // One of this hub's ids, from the future: never given.
    let (epoch, _) = newest.as_str().split_once('-').unwrap();
    let future = format!("{epoch}-1000");
    for (id, reason) in [
        (first.as_str(), "history-gone"),
        ("not-an-id", "unknown-id"),
        (foreign.as_str(), "unknown-epoch"),
        (future.as_str(), "unknown-id"),
    ] {
        let mut sub = hub.subscribe("t", Some(id)).await.unwrap();
        assert!(matches!(sub.resume(), Resume::Reset(_)), "{id}");
        let reset = first_event(&mut sub).await;
        assert_eq!(reset.event, control::RESET_EVENT);
        let body: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
        assert_eq!(body["reason"], reason);
        assert_eq!(body["lastEventId"], id);
        // The reset carries the newest id, so the next resume starts there.
        assert_eq!(reset.last_event_id, newest.as_str());
        newest = hub.publish("t", Event::data("live")).await.unwrap();
        assert_eq!(first_event(&mut sub).await.data, "live");
    }
    assert_eq!(hub.stats().resets, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_disconnected_and_others_get_everything() {
    let hub = Hub::builder().buffer_bytes(64 << 10).build();
    let stalled = hub.subscribe("t", None).await.unwrap();
    let mut reader = hub.subscribe("t", None).await.unwrap();
    let payload = "x".repeat(1000);
    // The reader reports its progress, so the publisher can stay within its
    // bound (the stalled one reports nothing and falls behind).
    let (progress, mut seen) = tokio::sync::watch::channel(0usize);
    let reading = tokio::spawn(async move {
        let mut parser = Parser::new();
        let mut got = 0;
        while got < 1000 {
            let frame = reader.next().await.expect("reader kept up");
            parser.feed(&frame).unwrap();
            for item in parser.drain() {
                if let Item::Event(e) = item {
                    assert_eq!(e.data.len(), 1000);
                    got += 1;
                }
            }
            let _ = progress.send(got);
        }
        (got, reader) // still subscribed
    });
    let mut max_queued = 0;
    for i in 0..1000 {
        tokio::time::timeout(Duration::from_secs(10), seen.wait_for(|&n| n + 32 >= i))
            .await
            .expect("the reader kept up within 10 s")
            .unwrap();
        hub.publish("t", Event::data(&payload)).await.unwrap();
        max_queued = max_queued.max(hub.stats().queued_bytes);
    }
    let (got, _reader) = tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .expect("the reader got everything within 10 s")
        .unwrap();
    assert_eq!(got, 1000);
    let stats = hub.stats();
    assert_eq!(stats.lag_disconnects, 1);
    assert_eq!(stats.connections, 1, "unregistered at once");
    // Bounded: the stalled queue never exceeded its bound (plus the reader's).
    assert!(max_queued <= 2 * (64 << 10) + 2048, "{max_queued}");
    // Its stream ends at once; its client would resume from history.
    let mut stalled = stalled;
    let mut frames = 0;
    while stalled.next().await.is_some() {
        frames += 1;
    }
    assert_eq!(frames, 0, "a stream cut off for lagging sends nothing more");
}

#[tokio::test]
async fn skip_policy_sends_a_gap_event_and_carries_on() {
    let hub = Hub::builder().buffer_bytes(1000).retry(None).build();
    let mut sub = hub
        .subscribe_with(SubscribeOptions::new("t").lag_policy(LagPolicy::Skip))
        .await
        .unwrap();
    let payload = "y".repeat(300);
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(hub.publish("t", Event::data(&payload)).await.unwrap());
    }
    let got = events(&mut sub, 2).await;
    assert_eq!(got[0].event, control::GAP_EVENT);
    let gap: serde_json::Value = serde_json::from_str(&got[0].data).unwrap();
    let skipped = gap["skipped"].as_u64().unwrap();
    assert!(skipped >= 1);
    // Nothing silently lost: skipped + delivered after the gap = published.
    let rest = 10 - skipped as usize;
    let mut after = vec![got[1].clone()];
    after.extend(events(&mut sub, rest - 1).await);
    assert_eq!(after.last().unwrap().last_event_id, ids[9].as_str());
    assert_eq!(after.len(), rest);
    assert!(hub.stats().lag_skips >= 1);
}

/// The next frame, and how long after `since` it came (on paused time, the
/// clock only moves when every task waits on a timer).
async fn next_frame_after(sub: &mut Subscription, since: Instant) -> (Bytes, Duration) {
    let frame = tokio::time::timeout(Duration::from_secs(3600), sub.next())
        .await
        .expect("no frame within an hour")
        .expect("the stream ended");
    (frame, since.elapsed())
}

#[tokio::test(start_paused = true)]
async fn keepalive_comments_only_on_idle_streams() {
    const EVERY: Duration = Duration::from_secs(15);
    let hub = Hub::builder().keepalive(Some(EVERY)).retry(None).build();
    let start = Instant::now();
    let mut sub = hub.subscribe("t", None).await.unwrap();
    // The stream opens with a comment line (no blank line, which some
    // clients would dispatch as an empty event), at once.
    let (frame, after) = next_frame_after(&mut sub, start).await;
    assert_eq!((&frame[..], after), (&b":\n"[..], Duration::ZERO));
    // Nothing for a period: one keep-alive, the same line, after one period.
    let (frame, after) = next_frame_after(&mut sub, start).await;
    assert_eq!(&frame[..], b":\n");
    assert_eq!(after, EVERY, "the first keep-alive of an idle stream");
    // An event 10 s into the next period: that period's tick finds the stream
    // busy and sends nothing; the next comes only after a whole period with
    // nothing sent, one tick later (so between one and two periods after
    // the event, never sooner).
    tokio::time::advance(Duration::from_secs(10)).await;
    hub.publish("t", Event::data("busy")).await.unwrap();
    let busy_at = Instant::now();
    let (frame, _) = next_frame_after(&mut sub, busy_at).await;
    assert!(frame.ends_with(b"data: busy\n\n"));
    let (next, after) = next_frame_after(&mut sub, busy_at).await;
    assert_eq!(&next[..], b":\n");
    assert_eq!(
        after,
        Duration::from_secs(20),
        "the keep-alive after an event came {after:?} after it (ticks at 15 s, 30 s, 45 s; the event at 25 s)"
    );
    // Idle from then on: one every period.
    let since = Instant::now();
    let (next, after) = next_frame_after(&mut sub, since).await;
    assert_eq!((&next[..], after), (&b":\n"[..], EVERY));
}

/// The next item, failing (not hanging) when none comes within a minute
/// (of paused time, where the clock jumps to the next timer).
async fn next(sub: &mut Subscription) -> Option<Bytes> {
    tokio::time::timeout(Duration::from_secs(60), sub.next())
        .await
        .expect("nothing within a minute")
}

#[tokio::test(start_paused = true)]
async fn the_retry_hint_goes_in_the_first_events_block_never_alone() {
    let hub = Hub::builder()
        .retry(Some(Duration::from_millis(1500)))
        .keepalive(Some(Duration::from_secs(15)))
        .build();
    // A fresh stream: comment lines only (the opening one, keep-alives),
    // then the first live event with the hint in its block, then events as
    // they are.
    let mut sub = hub.subscribe("t", None).await.unwrap();
    assert_eq!(&next(&mut sub).await.unwrap()[..], b":\n");
    assert_eq!(&next(&mut sub).await.unwrap()[..], b":\n");
    let id = hub.publish("t", Event::data("first")).await.unwrap();
    assert_eq!(
        next(&mut sub).await.unwrap(),
        format!("retry: 1500\nid: {id}\ndata: first\n\n")
    );
    let id = hub.publish("t", Event::data("second")).await.unwrap();
    assert_eq!(
        next(&mut sub).await.unwrap(),
        format!("id: {id}\ndata: second\n\n")
    );

    // A reset, and a replay: the hint is in the first block.
    let mut reset = hub.subscribe("t", Some("not-an-id")).await.unwrap();
    assert_eq!(&next(&mut reset).await.unwrap()[..], b":\n");
    let frame = next(&mut reset).await.unwrap();
    let reset_block = format!("retry: 1500\nevent: {}\nid: ", control::RESET_EVENT);
    assert!(frame.starts_with(reset_block.as_bytes()), "{frame:?}");
    let mut replay = hub.subscribe("t", Some(id.as_str())).await.unwrap();
    let live = hub.publish("t", Event::data("live")).await.unwrap();
    assert_eq!(&next(&mut replay).await.unwrap()[..], b":\n");
    assert_eq!(
        next(&mut replay).await.unwrap(),
        format!("retry: 1500\nid: {live}\ndata: live\n\n")
    );

    // Through `next_batch` as through the `Stream`.
    let mut batched = hub.subscribe("t", None).await.unwrap();
    let id = hub.publish("t", Event::data("batched")).await.unwrap();
    let mut batch = Vec::new();
    assert!(batched.next_batch(&mut batch, 64).await);
    assert_eq!(
        batch,
        [
            ":\n".to_owned(),
            format!("retry: 1500\nid: {id}\ndata: batched\n\n")
        ]
    );

    // A stream that ends before any event ends with the line alone and no
    // blank line: a client takes the time, and no event is dispatched.
    let mut quiet = hub.subscribe("t", None).await.unwrap();
    let mut quiet_batched = hub.subscribe("t", None).await.unwrap();
    hub.shutdown();
    assert_eq!(&next(&mut quiet).await.unwrap()[..], b":\n");
    assert_eq!(&next(&mut quiet).await.unwrap()[..], b"retry: 1500\n");
    assert_eq!(next(&mut quiet).await, None);
    let mut batch = Vec::new();
    assert!(quiet_batched.next_batch(&mut batch, 64).await);
    assert_eq!(batch, [&b":\n"[..], &b"retry: 1500\n"[..]]);
    assert!(!quiet_batched.next_batch(&mut batch, 64).await);
    // What the stream sent parses as no event, and the time.
    let items = ssehub_core::parse_all(b":\nretry: 1500\n").unwrap();
    assert_eq!(items, [Item::Retry(1500)]);
}

#[tokio::test]
async fn dropping_subscriptions_leaves_counts_at_zero() {
    let hub = Hub::new();
    let subs: Vec<_> = futures_util::future::join_all(
        (0..1000).map(|i| hub.subscribe(format!("t{}", i % 7), None)),
    )
    .await;
    assert_eq!(hub.stats().connections, 1000);
    assert_eq!(hub.stats().topics, 7);
    drop(subs);
    hub.wait_until_idle().await;
    let stats = hub.stats();
    assert_eq!((stats.connections, stats.topics), (0, 0));
}

#[tokio::test]
async fn shutdown_ends_streams_after_what_is_queued_and_refuses_new_work() {
    let hub = Hub::builder().retry(None).build();
    let mut sub = hub.subscribe("t", None).await.unwrap();
    hub.publish("t", Event::data("last")).await.unwrap();
    hub.shutdown();
    assert_eq!(first_event(&mut sub).await.data, "last");
    assert!(sub.next().await.is_none());
    assert!(hub.publish("t", Event::data("x")).await.is_err());
    assert!(hub.subscribe("t", None).await.is_err());
}

#[tokio::test]
async fn publish_replaces_a_user_id_and_rejects_bad_topics() {
    let hub = Hub::new();
    let mut sub = hub.subscribe("t", None).await.unwrap();
    let event = Event::builder().id("mine").data("d").build().unwrap();
    let id = hub.publish("t", event).await.unwrap();
    assert_eq!(first_event(&mut sub).await.last_event_id, id.as_str());
    assert!(hub.publish("", Event::data("x")).await.is_err());
    assert!(hub
        .publish(Vec::<String>::new(), Event::data("x"))
        .await
        .is_err());
}

#[tokio::test]
async fn connections_show_metadata() {
    let hub = Hub::new();
    let _sub = hub
        .subscribe_with(SubscribeOptions::new(["a", "b"]).meta(serde_json::json!({"user": 7})))
        .await
        .unwrap();
    let list = hub.connections();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].topics, ["a", "b"]);
    assert_eq!(list[0].meta, Some(serde_json::json!({"user": 7})));
}

#[tokio::test]
async fn pattern_subscriptions_match_by_segment_and_resume() {
    let hub = Hub::builder().retry(None).build();
    let mut one = hub.subscribe("chat/*", None).await.unwrap();
    let mut all = hub.subscribe("chat/**", None).await.unwrap();
    let mut both = hub.subscribe(["chat/*", "chat/1"], None).await.unwrap();
    let first = hub.publish("chat/1", Event::data("a")).await.unwrap();
    hub.publish("chat/1/x", Event::data("b")).await.unwrap();
    hub.publish("news", Event::data("c")).await.unwrap();
    hub.publish("chat", Event::data("d")).await.unwrap();
    hub.publish(["news", "chat/2"], Event::data("e"))
        .await
        .unwrap();
    assert_eq!(data(&events(&mut one, 2).await), ["a", "e"]);
    assert_eq!(data(&events(&mut all, 4).await), ["a", "b", "d", "e"]);
    assert_eq!(data(&events(&mut both, 2).await), ["a", "e"], "once each");
    // Resume replays what the pattern matches.
    let mut resumed = hub.subscribe("chat/*", Some(first.as_str())).await.unwrap();
    assert_eq!(resumed.resume(), Resume::Resumed { replayed: 1 });
    assert_eq!(data(&events(&mut resumed, 1).await), ["e"]);
    drop((one, all, both, resumed));
    hub.wait_until_idle().await;
    assert_eq!(hub.stats().topics, 0);
}

#[tokio::test]
async fn until_lagged_wakes_a_writer_stuck_elsewhere() {
    let hub = Hub::builder().buffer_bytes(4 << 10).build();
    let mut sub = hub.subscribe("t", None).await.unwrap();
    hub.publish("t", Event::data("first")).await.unwrap();
    // The writer took a first batch and is now "stuck in a write": it waits
    // only on until_lagged, not on the stream.
    let mut batch = Vec::new();
    assert!(sub.next_batch(&mut batch, 64).await);
    assert!(!sub.lagged());
    let waiting = tokio::spawn(async move {
        sub.until_lagged().await;
        sub
    });
    let payload = "x".repeat(1000);
    for _ in 0..10 {
        hub.publish("t", Event::data(&payload)).await.unwrap();
    }
    let sub = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("until_lagged completed once the queue overflowed")
        .unwrap();
    assert!(sub.lagged());
    assert_eq!(hub.stats().lag_disconnects, 1);
}

#[tokio::test]
async fn a_keyed_publish_is_applied_once_within_the_window() {
    let hub = Hub::builder()
        .idempotency_window(Duration::from_secs(60))
        .build();
    let mut sub = hub.subscribe("t", None).await.unwrap();
    let first = hub
        .publish_with_key("t", Event::data("a"), "k")
        .await
        .unwrap();
    let retry = hub
        .publish_with_key("t", Event::data("a, again"), "k")
        .await
        .unwrap();
    assert_eq!(retry, first, "the first publish's id");
    hub.publish_with_key("t", Event::data("b"), "other")
        .await
        .unwrap();
    let got = events(&mut sub, 2).await;
    assert_eq!(data(&got), ["a", "b"]);
    assert_eq!(got[0].last_event_id, first.as_str());
    // The retry is counted as a repeat, not as an event published.
    let stats = hub.stats();
    assert_eq!((stats.events_published, stats.publishes_repeated), (2, 1));
}

#[tokio::test]
async fn a_key_is_forgotten_after_its_window() {
    let hub = Hub::builder()
        .idempotency_window(Duration::from_millis(50))
        .build();
    let first = hub
        .publish_with_key("t", Event::data("a"), "k")
        .await
        .unwrap();
    // The window is kept on the clock (not tokio's): let it pass.
    std::thread::sleep(Duration::from_millis(60));
    let later = hub
        .publish_with_key("t", Event::data("a"), "k")
        .await
        .unwrap();
    assert_ne!(later, first, "a new publish once the window has passed");
}
