//! `ssehub serve --redis`: hubs as processes on one real `redis-server`.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_redis::testing::RedisServer;

mod common;
use common::{data, next_events, serve, Items, Remote};

const WAIT: Duration = Duration::from_secs(10);

/// Starts `ssehub serve --redis` and returns it with its API.
fn hub_process(redis: &RedisServer) -> (std::process::Child, Remote) {
    let (child, addr) = serve(
        &[
            "--redis",
            &redis.url(),
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        &[],
    );
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
    let first = s.publish_ok("t", "before").await;
    let mut live = s.subscribe("topic=t", None).await;

    redis.kill();
    let (status, body) = s.publish(json!({"topic": "t", "data": "x"})).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "backend_unavailable");
    let res = s
        .http
        .put(format!("{}/signals/s", s.base))
        .json(&json!(1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
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
