//! Presence across `ssehub serve --redis` processes on one real
//! `redis-server`, on the default heartbeat: exact lists from any hub, join
//! and leave events, `DELETE /connections/{id}` on another hub, and a hub
//! killed with `kill -9` whose streams' leaves come within the stated bound
//! (8 s: docs/presence.md).

use std::time::{Duration, Instant};

use serde_json::Value;
use ssehub_redis::testing::RedisServer;

mod common;
use common::{next_events, Items, Remote};

/// `ssehub serve --redis` announcing joins and leaves of `room`.
fn hub_process(redis: &RedisServer) -> (std::process::Child, Remote) {
    let url = redis.url();
    let (child, addr) = common::serve(
        &[
            "--redis",
            &url,
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--presence-events",
            "room",
        ],
        &[],
    );
    (child, Remote::new(format!("http://{addr}")))
}

/// The stream's connection id, from its `ssehub-connected` event.
async fn connected(items: &mut Items) -> String {
    let first = next_events(items, 1).await.remove(0);
    assert_eq!(first.event, "ssehub-connected");
    let data: Value = serde_json::from_str(&first.data).unwrap();
    data["id"].as_str().unwrap().to_owned()
}

/// The next `n` presence events as (type, connection id).
async fn changes(watch: &mut Items, n: usize) -> Vec<(String, String)> {
    next_events(watch, n)
        .await
        .into_iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).unwrap();
            (e.event, data["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The ids `GET /presence/room` lists on `hub`, sorted.
async fn listed(hub: &Remote) -> Vec<String> {
    let (status, body) = hub.get_json("/presence/room").await;
    assert_eq!(status, 200, "{body}");
    let subscribers = body["subscribers"].as_array().unwrap();
    assert_eq!(body["count"].as_u64(), Some(subscribers.len() as u64));
    let mut ids: Vec<String> = subscribers
        .iter()
        .map(|s| {
            let id = s["id"].as_str().unwrap();
            // The node that holds it is the first part of its id.
            assert!(id.starts_with(&format!("{}-", s["node"].as_str().unwrap())));
            id.to_owned()
        })
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_across_hubs_close_anywhere_and_a_killed_hubs_leaves_within_8_s() {
    let redis = RedisServer::start().unwrap();
    let (mut a, on_a) = hub_process(&redis);
    let (mut b, on_b) = hub_process(&redis);
    let (mut c, on_c) = hub_process(&redis);
    let mut watch = on_c.subscribe("topic=%24presence/room", None).await;

    let mut one = on_a.subscribe("topic=room&connected=1", None).await;
    let mut two = on_b.subscribe("topic=room&connected=1", None).await;
    let mut three = on_b.subscribe("topic=room&connected=1", None).await;
    let one_id = connected(&mut one).await;
    let two_id = connected(&mut two).await;
    let three_id = connected(&mut three).await;
    let joins = changes(&mut watch, 3).await;
    assert!(joins.iter().all(|(kind, _)| kind == "join"), "{joins:?}");
    let all = sorted(vec![one_id.clone(), two_id.clone(), three_id.clone()]);
    assert_eq!(sorted(joins.into_iter().map(|(_, id)| id).collect()), all);
    // Every hub lists every stream, wherever it is held.
    for hub in [&on_a, &on_b, &on_c] {
        assert_eq!(listed(hub).await, all);
    }

    // Closed from hub C, held by hub A.
    let res = on_c
        .http
        .delete(format!("{}/connections/{one_id}", on_c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    common::within("the closed stream's end", async {
        use futures_util::StreamExt;
        while one.next().await.is_some() {}
    })
    .await;
    assert_eq!(changes(&mut watch, 1).await, [("leave".into(), one_id)]);
    assert_eq!(
        listed(&on_a).await,
        sorted(vec![two_id.clone(), three_id.clone()])
    );

    // Hub B dies without a word: another publishes its streams' leaves.
    b.kill().unwrap();
    let killed = Instant::now();
    b.wait().unwrap();
    let leaves = changes(&mut watch, 2).await;
    let took = killed.elapsed();
    assert!(leaves.iter().all(|(kind, _)| kind == "leave"), "{leaves:?}");
    assert_eq!(
        sorted(leaves.into_iter().map(|(_, id)| id).collect()),
        sorted(vec![two_id, three_id])
    );
    assert!(
        took <= Duration::from_secs(9),
        "the leaves took {took:?}, past the stated 8 s (and a second of margin)"
    );
    assert!(listed(&on_c).await.is_empty());
    drop((two, three));

    for child in [&mut a, &mut c] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
