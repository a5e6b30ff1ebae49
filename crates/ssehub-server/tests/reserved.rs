//! Topics starting with `$` are the hub's own (design: "Presence and
//! targeted delivery"): clients publish to none of them but `$user/U` and
//! `$conn/ID`, and a pattern reaches them only if it starts with `$`.

mod common;

use serde_json::json;
use ssehub::Hub;
use ssehub_server::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dollar_topics_are_the_hubs_own() {
    let s = common::start(Hub::new(), Config::default()).await;
    for topic in ["$presence/chat", "$anything"] {
        let (status, body) = s.publish(json!({"topic": topic, "data": "x"})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("reserved_topic")),
            "{topic}"
        );
    }
    let res = s
        .http
        .put(format!("{}/signals/%24presence", s.base))
        .json(&json!(1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let mut everything = s.subscribe("topic=**", None).await;
    let mut users = s.subscribe("topic=%24user/*", None).await;
    s.publish_ok("$user/alice", "to alice").await;
    s.publish_ok("news", "to all").await;
    // `**` does not reach the hub's own topics: its first event is "to all".
    assert_eq!(common::next_data(&mut everything).await, "to all");
    assert_eq!(common::next_data(&mut users).await, "to alice");
}
