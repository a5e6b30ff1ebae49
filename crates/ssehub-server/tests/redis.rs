//! `ssehub serve --redis`: hubs as processes on one real `redis-server`.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_redis::testing::RedisServer;

mod common;
use common::{data, next_events, Items, Remote};

const WAIT: Duration = Duration::from_secs(10);

/// Starts `ssehub serve --redis` and returns it with its API.
fn hub_process(redis: &RedisServer) -> (std::process::Child, Remote) {
    let (child, addr) = common::serve_redis(&redis.url(), "127.0.0.1:0");
    (child, Remote::new(format!("http://{addr}")))
}

async fn events(items: &mut Items, n: usize) -> Vec<ssehub_core::MessageEvent> {
    tokio::time::timeout(WAIT, next_events(items, n))
        .await
        .unwrap_or_else(|_| panic!("{n} events never came"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_killed_and_restarted_lose_nothing() {
    let redis = RedisServer::start().unwrap();
    let (mut a, on_node_a) = hub_process(&redis);
    let (mut b, on_node_b) = hub_process(&redis);

    let mut on_a = on_node_a.subscribe("topic=t", None).await;
    let mut on_b = on_node_b.subscribe("topic=t", None).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 { &on_node_a } else { &on_node_b };
        ids.push(node.publish_ok("t", &format!("e{i}")).await);
    }
    let (got_a, got_b) = (events(&mut on_a, 10).await, events(&mut on_b, 10).await);
    assert_eq!(got_a, got_b, "both nodes, one order");
    let got_ids: Vec<&str> = got_a.iter().map(|e| e.last_event_id.as_str()).collect();
    assert_eq!(got_ids, ids);

    // kill -9 every hub.
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
    drop((on_a, on_b));

    let (mut a, on_node_a) = hub_process(&redis);
    let (mut b, on_node_b) = hub_process(&redis);
    for i in 10..13 {
        on_node_b.publish_ok("t", &format!("e{i}")).await;
    }
    // The client resumes on a node that never served it.
    let mut resumed = on_node_a.subscribe("topic=t", Some(&ids[9])).await;
    assert_eq!(data(&events(&mut resumed, 3).await), ["e10", "e11", "e12"]);

    let (status, health) = on_node_a.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(
        health["backend"],
        json!({"kind": "redis", "ok": true, "state": "ok"})
    );
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
}

/// Polls `/healthz` until it answers `status` (the reader notices a lost
/// or regained Redis on its own schedule).
async fn await_health(hub: &Remote, status: u16) -> Value {
    let poll = async {
        loop {
            let (got, body) = hub.get_json("/healthz").await;
            if got == status {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, poll)
        .await
        .unwrap_or_else(|_| panic!("/healthz never answered {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_while_running_answers_503_and_recovers() {
    let mut redis = RedisServer::start().unwrap();
    let backend = ssehub_redis::RedisBackend::connect(redis.url())
        .await
        .unwrap();
    let hub = Hub::builder().backend(backend).build();
    let s = common::start(hub, ssehub_server::Config::default()).await;
    // Subscribed before the first publish, so that its first event is that
    // publish whenever this hub's reader delivers it.
    let mut live = s.subscribe("topic=t", None).await;
    let first = s.publish_ok("t", "before").await;
    assert_eq!(data(&events(&mut live, 1).await), ["before"]);

    // A signal this hub holds a copy of, and one it has never seen.
    let res = s
        .http
        .put(format!("{}/signals/known", s.base))
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    redis.kill();
    // Once the hub knows Redis is out, a write is refused before it is
    // sent: 503, surely not applied (a write sent into the lost connection
    // could only be answered 504 `outcome_unknown`).
    await_health(&s, 503).await;
    // Every route that needs the backend answers the outage alike: 503
    // `backend_unavailable` with `Retry-After` (one error map), never a
    // "not found" for what may well exist.
    let http = &s.http;
    let base = &s.base;
    let requests = [
        (
            "POST /publish",
            http.post(format!("{base}/publish"))
                .json(&json!({"topic": "t", "data": "x"})),
        ),
        (
            "PUT /signals/s",
            http.put(format!("{base}/signals/s")).json(&json!(1)),
        ),
        (
            "PATCH /signals/known",
            http.patch(format!("{base}/signals/known"))
                .json(&json!([{"op": "replace", "path": "/n", "value": 2}])),
        ),
        (
            "GET /signals/unseen",
            http.get(format!("{base}/signals/unseen")),
        ),
    ];
    for (route, request) in requests {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 503, "{route}");
        assert_eq!(res.headers()["retry-after"], "1", "{route}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "backend_unavailable", "{route}: {body}");
    }
    // What the hub holds it still serves: the signal's last known value.
    let (status, body) = s.get_json("/signals/known").await;
    assert_eq!(
        (status, &body),
        (200, &json!({"version": 0, "value": {"n": 1}}))
    );
    let health = await_health(&s, 503).await;
    assert_eq!(health["status"], "backend_unavailable");
    assert_eq!(health["backend"]["state"], "reconnecting");
    // A client resuming now is told to retry in a second, with a 200 that
    // EventSource follows (an error status would make it give up): a
    // `retry:` line and a comment, no blank line, so no client sees an event.
    let res = s
        .http
        .get(format!("{}/events?topic=t", s.base))
        .header("Last-Event-ID", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        body.starts_with("retry: 1000\n: cannot resume now"),
        "{body}"
    );
    assert!(!body.contains("\n\n"), "no block ends: {body:?}");

    redis.restart().unwrap();
    await_health(&s, 200).await;
    s.publish_ok("t", "after").await;
    // The stream opened before the outage carries on.
    assert_eq!(data(&events(&mut live, 1).await), ["after"]);
}

#[test]
fn redis_unreachable_at_start_exits_with_a_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--redis"])
        .arg(format!("redis://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--redis"), "{stderr}");
    assert!(
        stderr.contains("cannot reach Redis at redis://127.0.0.1:"),
        "{stderr}"
    );
}

/// A publish to a Redis that stalls (paused with SIGSTOP, as a Redis busy
/// with a long command or a swapping machine) is answered within the hub's
/// write timeout, 504 `outcome_unknown`, never 503 (Redis runs it once it
/// wakes). A retry with the same idempotency key, on another hub, gets the
/// first publish's id, and the event is delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_during_a_redis_stall_is_unknown_and_a_keyed_retry_delivers_it_once() {
    let redis = RedisServer::start().unwrap();
    let (a, on_a) = hub_process(&redis);
    let (b, on_b) = hub_process(&redis);
    let mut live = on_b.subscribe("topic=t", None).await;
    // A keyed publish first: Redis then holds the keyed-append script, and
    // the stalled publish below runs as soon as Redis wakes (else Redis
    // would answer it NOSCRIPT and it would never run; delivered once all
    // the same, by the retry).
    let (status, _) = on_a
        .publish(json!({"topic": "t", "data": "before", "key": "order-41"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(data(&events(&mut live, 1).await), ["before"]);

    redis.pause().unwrap();
    let keyed = on_a
        .http
        .post(format!("{}/publish", on_a.base))
        .header("idempotency-key", "order-42")
        .json(&json!({"topic": "t", "data": "during"}));
    let res = tokio::time::timeout(WAIT, keyed.send())
        .await
        .expect("answered within the write timeout, not held")
        .unwrap();
    assert_eq!(res.status(), 504);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "outcome_unknown", "{body}");
    // The same without a key: also unknown (it will be delivered).
    let (status, body) =
        tokio::time::timeout(WAIT, on_a.publish(json!({"topic": "t", "data": "unkeyed"})))
            .await
            .expect("answered within the write timeout");
    assert_eq!(
        (status, body["error"].as_str()),
        (504, Some("outcome_unknown"))
    );

    redis.resume().unwrap();
    // Redis runs the stalled publishes once it wakes: both are delivered.
    let got = events(&mut live, 2).await;
    assert_eq!(data(&got), ["during", "unkeyed"], "in order");
    // The retry, on the other hub, with the key in the body this time.
    let (status, retried) = on_b
        .publish(json!({"topic": "t", "data": "during", "key": "order-42"}))
        .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(
        got[0].last_event_id,
        retried["id"].as_str().unwrap(),
        "the first publish's id"
    );
    on_a.publish_ok("t", "after").await;
    assert_eq!(
        data(&events(&mut live, 1).await),
        ["after"],
        "the retry delivered nothing"
    );
    // Again with the key: the same id, nothing delivered.
    let (status, again) = on_a
        .publish(json!({"topic": "t", "data": "during", "key": "order-42"}))
        .await;
    assert_eq!((status, &again["id"]), (200, &retried["id"]));
    on_a.publish_ok("t", "last").await;
    assert_eq!(data(&events(&mut live, 1).await), ["last"]);
    // A repeated publish is counted as such, not as an event published:
    // hub B's one publish was a repeat, hub A's last keyed one too; A
    // counts "before", "after" and "last" (not the two it answered 504).
    for (hub, published, repeated) in [(&on_a, 3, 1), (&on_b, 0, 1)] {
        assert_eq!(
            (
                hub.metric("ssehub_events_published_total").await,
                hub.metric("ssehub_publishes_repeated_total").await
            ),
            (published, repeated),
            "{}",
            hub.base
        );
    }
    common::terminate(a);
    common::terminate(b);
}

/// `ssehub_client::Publisher` rides out a Redis stall: its publish is
/// answered 504 while Redis sleeps, retried with the same key, and the
/// event is delivered once, under the id the publisher is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_publisher_retries_through_a_stall_and_delivers_once() {
    let redis = RedisServer::start().unwrap();
    let (a, on_a) = hub_process(&redis);
    let (b, on_b) = hub_process(&redis);
    let mut live = on_b.subscribe("topic=t", None).await;
    let publisher = ssehub_client::Publisher::new(&on_a.base).unwrap();
    // Its keyed publishes load Redis's script first (see above).
    publisher.publish("t", "before").await.unwrap();
    assert_eq!(data(&events(&mut live, 1).await), ["before"]);

    redis.pause().unwrap();
    let sending = tokio::spawn(async move { publisher.publish("t", "during").await });
    // Past the hub's 3 s write timeout: the first attempt gets 504.
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis.resume().unwrap();
    let id = tokio::time::timeout(WAIT, sending)
        .await
        .expect("the publisher finishes")
        .unwrap()
        .expect("published after retries");
    on_a.publish_ok("t", "after").await;
    let got = events(&mut live, 2).await;
    assert_eq!(data(&got), ["during", "after"], "once");
    assert_eq!(got[0].last_event_id, id);
    common::terminate(a);
    common::terminate(b);
}
