//! Several hubs on one real `redis-server` act as one.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use ssehub::backend::BackendError;
use ssehub::{Event, Hub, PublishError, Resume, Subscription};
use ssehub_core::{Item, Parser};
use ssehub_redis::testing::RedisServer;
use ssehub_redis::RedisBackend;

const WAIT: Duration = Duration::from_secs(10);

async fn hub(redis: &RedisServer) -> Hub {
    let backend = RedisBackend::builder(redis.url())
        .connect()
        .await
        .expect("Redis is up");
    Hub::builder()
        .backend(backend)
        .keepalive(None)
        .retry(None)
        .build()
}

/// One received event: (id, type, data).
type Got = (String, String, String);

/// Reads events (not comments) from `sub` until `n` have come.
async fn take(sub: &mut Subscription, n: usize) -> Vec<Got> {
    let read = async {
        let mut parser = Parser::new();
        let mut got = Vec::new();
        while got.len() < n {
            let frame = sub.next().await.expect("the stream ended");
            parser.feed(&frame).unwrap();
            for item in parser.drain() {
                if let Item::Event(e) = item {
                    got.push((e.last_event_id, e.event, e.data));
                }
            }
        }
        got
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("{n} events never came"))
}

fn datas(got: &[Got]) -> Vec<&str> {
    got.iter().map(|(_, _, d)| d.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hubs_deliver_every_event_once_in_one_order() {
    let redis = RedisServer::start().unwrap();
    let hubs = [hub(&redis).await, hub(&redis).await, hub(&redis).await];
    let mut subs = Vec::new();
    for h in &hubs {
        subs.push(h.subscribe(["a", "b"], None).await.unwrap());
    }
    // Each node publishes, interleaved, to either topic.
    let mut published = Vec::new();
    for i in 0..60 {
        let h = &hubs[i % 3];
        let topic = if i % 2 == 0 { "a" } else { "b" };
        let id = h
            .publish(topic, Event::data(&format!("e{i}")))
            .await
            .unwrap();
        published.push((id.to_string(), format!("e{i}")));
    }
    let first = take(&mut subs[0], 60).await;
    for sub in &mut subs[1..] {
        assert_eq!(take(sub, 60).await, first, "every node, one order");
    }
    // The order is the publish order (each publish returned before the next),
    // and ids are the ones publishing returned, on every node.
    let got: Vec<(String, String)> = first.into_iter().map(|(id, _, d)| (id, d)).collect();
    assert_eq!(got, published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_node() {
    let redis = RedisServer::start().unwrap();
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    let mut on_a = a.subscribe("chat", None).await.unwrap();
    for i in 0..3 {
        a.publish("chat", Event::data(&format!("m{i}")))
            .await
            .unwrap();
    }
    let seen = take(&mut on_a, 3).await;
    drop(on_a); // the client's connection to node A breaks
    for i in 3..6 {
        b.publish("chat", Event::data(&format!("m{i}")))
            .await
            .unwrap();
        a.publish("other", Event::data("not for chat"))
            .await
            .unwrap();
    }
    let last = &seen[2].0;
    let mut on_b = b.subscribe("chat", Some(last)).await.unwrap();
    // Replayed from Redis, or (what B's reader had not delivered yet when
    // the client came) live: either way each missed event once, in order.
    assert!(matches!(on_b.resume(), Resume::Resumed { .. }));
    a.publish("chat", Event::data("m6")).await.unwrap();
    assert_eq!(datas(&take(&mut on_b, 4).await), ["m3", "m4", "m5", "m6"]);

    // Ids that this stream never gave, or that are not stream ids at all:
    // a reset, then live events as for anyone.
    let mut future = b.subscribe("chat", Some("99999999999999-0")).await.unwrap();
    assert!(matches!(future.resume(), Resume::Reset(_)));
    let mut garbage = b.subscribe("chat", Some("garbage")).await.unwrap();
    assert!(matches!(garbage.resume(), Resume::Reset(_)));
    a.publish("chat", Event::data("after the reset"))
        .await
        .unwrap();
    for sub in [&mut future, &mut garbage] {
        let got = take(sub, 2).await;
        assert_eq!(got[0].1, "ssehub-reset");
        assert_eq!(got[1].2, "after the reset");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimmed_history_answers_with_a_reset() {
    let redis = RedisServer::start().unwrap();
    let backend = RedisBackend::builder(redis.url())
        .max_len(1)
        .connect()
        .await
        .unwrap();
    let h = Hub::builder().backend(backend).retry(None).build();
    let first = h.publish("t", Event::data("0")).await.unwrap();
    // MAXLEN ~ trims whole nodes (100 entries by default): publish past one.
    for i in 1..300 {
        h.publish("t", Event::data(&i.to_string())).await.unwrap();
    }
    let sub = h.subscribe("t", Some(first.as_str())).await.unwrap();
    assert_eq!(
        sub.resume(),
        Resume::Reset(ssehub::control::ResetReason::HistoryGone)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_hubs_resume_from_redis() {
    let redis = RedisServer::start().unwrap();
    let last = {
        let h = hub(&redis).await;
        let mut sub = h.subscribe("t", None).await.unwrap();
        h.publish("t", Event::data("before")).await.unwrap();
        take(&mut sub, 1).await[0].0.clone()
    }; // every hub gone
    let h = hub(&redis).await;
    h.publish("t", Event::data("after-1")).await.unwrap();
    h.publish("t", Event::data("after-2")).await.unwrap();
    let mut sub = h.subscribe("t", Some(&last)).await.unwrap();
    assert!(matches!(sub.resume(), Resume::Resumed { .. }));
    assert_eq!(datas(&take(&mut sub, 2).await), ["after-1", "after-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_survives_a_redis_restart_and_its_subscribers_catch_up() {
    let mut redis = RedisServer::start().unwrap();
    let a = hub(&redis).await;
    let mut sub = a.subscribe("t", None).await.unwrap();
    a.publish("t", Event::data("1")).await.unwrap();
    assert_eq!(datas(&take(&mut sub, 1).await), ["1"]);
    assert!(a.health().ok);

    redis.kill();
    // Once the node knows Redis is out, a publish is refused before it is
    // sent: unavailable, surely not applied.
    tokio::time::timeout(Duration::from_secs(10), async {
        while a.health().ok {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the node notices Redis is gone");
    let err = a.publish("t", Event::data("lost?")).await.unwrap_err();
    assert!(
        matches!(err, PublishError::Backend(BackendError::Unavailable(_))),
        "{err:?}"
    );
    // A read that fails keeps Redis's own error as its cause, not a string.
    let err = a.signal_value("never-seen").await.unwrap_err();
    let ssehub::SignalError::Publish(PublishError::Backend(backend)) = &err else {
        panic!("{err:?}")
    };
    let cause = std::error::Error::source(backend).expect("a cause");
    assert!(
        cause.downcast_ref::<redis::RedisError>().is_some(),
        "{cause:?}"
    );
    // A resume needs Redis: the client is told to retry soon.
    let mut retry = a.subscribe("t", Some("1-0")).await.unwrap();
    assert_eq!(retry.resume(), Resume::Unavailable);
    // A `retry:` line and a comment line, no blank line: no event.
    let notice = retry.next().await.unwrap();
    assert!(
        notice.starts_with(b"retry: 1000\n: cannot resume now") && !notice.ends_with(b"\n\n"),
        "{notice:?}"
    );
    assert_eq!(retry.next().await, None);

    redis.restart().unwrap();
    // Another node publishes as soon as Redis is back, before this node's
    // reader has reconnected: its subscribers still get everything, in order.
    let b = hub(&redis).await;
    for i in 2..=4 {
        b.publish("t", Event::data(&i.to_string())).await.unwrap();
    }
    assert_eq!(datas(&take(&mut sub, 3).await), ["2", "3", "4"]);
    assert!(a.health().ok);
    // And it publishes again.
    a.publish("t", Event::data("5")).await.unwrap();
    assert_eq!(datas(&take(&mut sub, 1).await), ["5"]);
}

/// The signal as Redis holds it, read by a node that starts now.
async fn c_value(redis: &RedisServer) -> (u64, Value) {
    hub(redis)
        .await
        .signal_value("score")
        .await
        .expect("the backend answers")
        .expect("the signal exists")
}

/// A client's copy of a signal: snapshot, then patches in version order.
#[derive(Default)]
struct Mirror {
    version: Option<u64>,
    value: Value,
}

impl Mirror {
    fn apply(&mut self, data: &str) {
        let data: Value = serde_json::from_str(data).unwrap();
        let v = data["v"].as_u64().unwrap();
        if let Some(snapshot) = data.get("snapshot") {
            self.value = snapshot.clone();
        } else {
            assert_eq!(self.version.map(|h| h + 1), Some(v), "version gap");
            let ops: ssehub::json_patch::Patch =
                serde_json::from_value(data["patch"].clone()).unwrap();
            ssehub::json_patch::patch(&mut self.value, &ops).unwrap();
        }
        self.version = Some(v);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_changed_on_two_nodes_converges_everywhere() {
    let redis = RedisServer::start().unwrap();
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    let on_a = a.signal("score", json!({"n": 0, "by": {}})).await.unwrap();
    // Node B finds the signal Redis holds (created on A).
    let on_b = b.signal("score", json!("ignored")).await.unwrap();
    let mut sub_a = a.subscribe("score", None).await.unwrap();
    let mut sub_b = b.subscribe("score", None).await.unwrap();

    // Both nodes change it at once: compare-and-set makes every change count.
    let bump = |s: ssehub::Signal<Value>, who: &'static str| async move {
        for i in 0..25 {
            s.update(|v| {
                v["n"] = json!(v["n"].as_u64().unwrap() + 1);
                v["by"][format!("{who}{i}")] = json!(true);
            })
            .await
            .unwrap();
        }
    };
    tokio::join!(bump(on_a.clone(), "a"), bump(on_b.clone(), "b"));
    // Every change counted: 50 versions, each name once.
    let (version, value) = c_value(&redis).await;
    assert_eq!((version, &value["n"]), (50, &json!(50)));
    assert_eq!(value["by"].as_object().unwrap().len(), 50);

    // Each node's subscribers follow every patch to that value (a node sees
    // the other's last changes a moment later: it converges, in order).
    for sub in [&mut sub_a, &mut sub_b] {
        let mut mirror = Mirror::default();
        for (_, _, data) in take(sub, 51).await {
            mirror.apply(&data);
        }
        assert_eq!(mirror.version, Some(50));
        assert_eq!(mirror.value, value);
    }
    // Once delivered there, each node's own copy is the same.
    assert_eq!(on_a.get().await.unwrap(), value);
    assert_eq!(on_b.get().await.unwrap(), value);
    let va = value;

    // Values survive every hub: a new node starts with them.
    drop((a, b, on_a, on_b));
    let c = hub(&redis).await;
    assert_eq!(
        c.signal_value("score").await.unwrap(),
        Some((50, va.clone()))
    );
    let mut sub = c.subscribe("score", None).await.unwrap();
    let mut mirror = Mirror::default();
    mirror.apply(&take(&mut sub, 1).await[0].2);
    assert_eq!(mirror.value, va);
}

#[tokio::test]
async fn redis_unreachable_at_start_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisBackend::connect(format!("redis://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cannot reach Redis at redis://127.0.0.1:"),
        "{text}"
    );
    assert!(RedisBackend::connect("http://nope").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_redis_answers_a_resume_with_a_reset() {
    let redis = RedisServer::start().unwrap();
    let h = hub(&redis).await;
    // Say Redis lost its data: the stream does not exist at all.
    let mut sub = h.subscribe("t", Some("1764150000000-0")).await.unwrap();
    assert_eq!(
        sub.resume(),
        Resume::Reset(ssehub::control::ResetReason::HistoryGone)
    );
    h.publish("t", Event::data("live")).await.unwrap();
    let got = take(&mut sub, 2).await;
    assert_eq!(
        (got[0].1.as_str(), got[1].2.as_str()),
        ("ssehub-reset", "live")
    );
}
