//! Presence and targeted delivery over real HTTP on one hub (the design's
//! "Presence and targeted delivery"): connection ids, `connected=1`, users
//! from the token's `sub`, `$user/U` and `$conn/ID`, `GET /presence/{topic}`
//! and `DELETE /connections/{id}` with their grants. Across hubs on Redis:
//! `tests/redis_presence.rs`.

mod common;

use std::sync::Arc;

use common::{next_events, start, Server};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_server::{Auth, Config};

const SECRET: &[u8] = b"test secret, long enough for HS256";

fn token(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// A token for `user` that may read `subscribe` and publish `publish`.
fn user_token(user: &str, subscribe: &[&str], publish: &[&str]) -> String {
    token(json!({"sub": user, "ssehub": {"subscribe": subscribe, "publish": publish}}))
}

async fn secret_hub() -> Server {
    let public = vec![ssehub::TopicPattern::new("lobby")];
    let config = Config {
        auth: Some(Arc::new(Auth::new(Some(SECRET), None, public).unwrap())),
        ..Config::default()
    };
    let hub = Hub::builder()
        .keepalive(None)
        .presence_events(["room", "lobby"])
        .build();
    start(hub, config).await
}

/// `GET /events?{query}` with a bearer token: status, connection id header,
/// and the events when it is 200.
async fn open(s: &Server, query: &str, token: &str) -> (u16, Option<String>, common::Items) {
    let res = s
        .http
        .get(format!("{}/events?{query}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let id = res
        .headers()
        .get("ssehub-connection")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), id, common::items(res))
}

async fn status_of(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_knows_its_id_and_presence_shows_its_user() {
    let s = secret_hub().await;
    let ann = user_token("ann", &["room"], &[]);
    let (status, header, mut items) = open(&s, "topic=room&connected=1", &ann).await;
    assert_eq!(status, 200);
    let header = header.expect("an ssehub-connection header");
    let first = next_events(&mut items, 1).await.remove(0);
    assert_eq!(first.event, "ssehub-connected");
    assert_eq!(first.data, json!({"id": header}).to_string());

    let (status, body) = status_of(
        s.http
            .get(format!("{}/presence/room", s.base))
            .bearer_auth(&ann),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["topic"], "room");
    assert_eq!(body["count"], 1);
    let entry = &body["subscribers"][0];
    assert_eq!(
        (&entry["id"], &entry["user"], &entry["node"]),
        (&json!(header), &json!("ann"), &json!(s.hub.node()))
    );
    assert!(entry["since"].as_u64().unwrap() > 1_700_000_000_000);

    // Reading presence needs a read grant for the topic.
    let other = user_token("bob", &["elsewhere"], &[]);
    let (status, body) = status_of(
        s.http
            .get(format!("{}/presence/room", s.base))
            .bearer_auth(&other),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, _) = status_of(s.http.get(format!("{}/presence/room", s.base))).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_reads_their_own_topic_and_no_one_elses() {
    let s = secret_hub().await;
    // No grant names `$user/...`: the `sub` claim is enough, for that user.
    let ann = user_token("ann", &["room"], &[]);
    let (status, _, mut mine) = open(&s, "topic=%24user/ann", &ann).await;
    assert_eq!(status, 200);
    let (status, _, _) = open(&s, "topic=%24user/bob", &ann).await;
    assert_eq!(status, 403, "ann may not read bob's topic");
    let no_sub = token(json!({"ssehub": {"subscribe": ["room"]}}));
    let (status, _, _) = open(&s, "topic=%24user/ann", &no_sub).await;
    assert_eq!(status, 403, "a token without sub names no user");

    // Publishing to a user needs a grant that covers it.
    let sender = user_token("svc", &[], &["$user/*"]);
    s.publish_ok_with("$user/ann", "for ann", &sender).await;
    assert_eq!(common::next_data(&mut mine).await, "for ann");
    let (status, _) = status_of(
        s.http
            .post(format!("{}/publish", s.base))
            .bearer_auth(&ann)
            .json(&json!({"topic": "$user/ann", "data": "self"})),
    )
    .await;
    assert_eq!(status, 403, "no publish grant for $user/ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_topics_reach_one_stream_and_delete_closes_it_for_admins_only() {
    let s = secret_hub().await;
    let reader = user_token("ann", &["room"], &[]);
    let (_, a_id, mut a) = open(&s, "topic=room", &reader).await;
    let (_, b_id, mut b) = open(&s, "topic=room", &reader).await;
    let (a_id, b_id) = (a_id.unwrap(), b_id.unwrap());
    assert_ne!(a_id, b_id);

    let sender = user_token("svc", &[], &["room", "$conn/*"]);
    s.publish_ok_with(&format!("$conn/{b_id}"), "only b", &sender)
        .await;
    s.publish_ok_with("room", "all", &sender).await;
    assert_eq!(
        common::data(&next_events(&mut b, 2).await),
        ["only b", "all"]
    );
    assert_eq!(common::next_data(&mut a).await, "all");

    let delete = |id: &str, token: Option<&str>| {
        let req = s.http.delete(format!("{}/connections/{id}", s.base));
        match token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    };
    let (status, _) = status_of(delete(&a_id, None)).await;
    assert_eq!(status, 401);
    let (status, body) = status_of(delete(&a_id, Some(&sender))).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let admin = token(json!({"sub": "ops", "ssehub": {"admin": true}}));
    let (status, _) = status_of(delete(&a_id, Some(&admin))).await;
    assert_eq!(status, 204);
    // Its stream ends; the other stays.
    common::within("the closed stream's end", async {
        use futures_util::StreamExt;
        while a.next().await.is_some() {}
    })
    .await;
    let (status, body) = status_of(delete(&a_id, Some(&admin))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("connection_not_found"))
    );
    s.publish_ok_with("room", "still", &sender).await;
    assert_eq!(common::next_data(&mut b).await, "still");
    assert_eq!(s.hub.stats().closed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_presence_and_close_are_open() {
    let s = start(Hub::new(), Config::default()).await;
    let mut items = s.subscribe("topic=room&connected=1", None).await;
    let id: Value = serde_json::from_str(&next_events(&mut items, 1).await[0].data).unwrap();
    let (status, body) = s.get_json("/presence/room").await;
    assert_eq!((status, &body["count"]), (200, &json!(1)));
    assert_eq!(body["subscribers"][0]["user"], Value::Null);
    let (status, _) = status_of(s.http.delete(format!(
        "{}/connections/{}",
        s.base,
        id["id"].as_str().unwrap()
    )))
    .await;
    assert_eq!(status, 204);
    let (_, metrics) = (
        0,
        s.http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        metrics.contains("ssehub_close_commands_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ssehub_connections_closed_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ssehub_presence_entries "), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_read_a_topic_may_read_its_joins_and_leaves() {
    let s = secret_hub().await;
    let reader = user_token("ann", &["room"], &[]);
    let (status, _, mut watch) = open(&s, "topic=%24presence/room", &reader).await;
    assert_eq!(status, 200, "a read grant for room reads $presence/room");
    let (status, _, _) = open(&s, "topic=%24presence/other", &reader).await;
    assert_eq!(status, 403, "no grant for other");
    let stranger = user_token("eve", &["elsewhere"], &[]);
    let (status, _, _) = open(&s, "topic=%24presence/room", &stranger).await;
    assert_eq!(status, 403);
    // A public topic's joins and leaves are public too.
    let res = s
        .http
        .get(format!("{}/events?topic=%24presence/lobby", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let (_, id, _room) = open(&s, "topic=room", &reader).await;
    let join = next_events(&mut watch, 1).await.remove(0);
    assert_eq!(join.event, "join");
    let data: Value = serde_json::from_str(&join.data).unwrap();
    assert_eq!(
        (&data["id"], &data["user"]),
        (&json!(id.unwrap()), &json!("ann"))
    );
}
