//! Signals: snapshot then versioned patches; every client converges.

use futures_util::StreamExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use ssehub::{Hub, Subscription};
use ssehub_core::protocol::signal::{SignalMessage, SignalState};
use ssehub_core::{Item, Parser};

/// A client's copy of one signal, kept as the contract says.
#[derive(Debug, Default)]
struct Mirror {
    /// The client rule, as every client follows it.
    state: SignalState,
    version: Option<u64>,
    value: Value,
    snapshots: usize,
    patches: usize,
}

impl Mirror {
    /// Applies one event's data; false when the client would resync.
    fn apply(&mut self, data: &str) -> bool {
        let Ok(message) = SignalMessage::parse(data) else {
            return false;
        };
        let snapshot = matches!(message, SignalMessage::Snapshot { .. });
        if self.state.try_apply(message).is_err() {
            return false;
        }
        let (version, value) = self.state.get().unwrap();
        (self.version, self.value) = (Some(version), value.clone());
        if snapshot {
            self.snapshots += 1;
        } else {
            self.patches += 1;
        }
        true
    }
}

/// Reads `sub` until the mirror reaches `version` (failing after 10 s).
async fn follow(sub: &mut Subscription, name: &str, mirror: &mut Mirror, version: u64) {
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        follow_forever(sub, name, mirror, version),
    )
    .await
    .unwrap_or_else(|_| panic!("version {version} never came"));
}

async fn follow_forever(sub: &mut Subscription, name: &str, mirror: &mut Mirror, version: u64) {
    let mut parser = Parser::new();
    while mirror.version != Some(version) {
        let frame = sub.next().await.expect("stream ended");
        parser.feed(&frame).unwrap();
        for item in parser.drain() {
            if let Item::Event(e) = item {
                if e.event == name {
                    assert!(mirror.apply(&e.data), "version gap at {}", e.data);
                }
            }
        }
    }
}

#[tokio::test]
async fn a_subscriber_gets_a_snapshot_then_patches() {
    let hub = Hub::new();
    let todo = hub.signal("todo", json!({"items": ["a"]})).await.unwrap();
    todo.update(|v| v["items"].as_array_mut().unwrap().push(json!("b")))
        .await
        .unwrap();
    let mut sub = hub.subscribe("todo", None).await.unwrap();
    let mut mirror = Mirror::default();
    follow(&mut sub, "todo", &mut mirror, 1).await;
    assert_eq!((mirror.snapshots, mirror.patches), (1, 0));
    todo.set(json!({"items": ["b"], "done": 1})).await.unwrap();
    follow(&mut sub, "todo", &mut mirror, 2).await;
    assert_eq!(mirror.value, json!({"items": ["b"], "done": 1}));
    assert_eq!(mirror.patches, 1);
}

#[tokio::test]
async fn a_pattern_subscriber_gets_a_snapshot_of_every_signal_it_covers() {
    let hub = Hub::new();
    let cpu = hub.signal("dash/cpu", 10).await.unwrap();
    let _mem = hub.signal("dash/mem", 20).await.unwrap();
    let _other = hub.signal("other", 30).await.unwrap();
    cpu.set(11).await.unwrap();
    let mut sub = hub.subscribe("dash/*", None).await.unwrap();
    let (mut cpu_mirror, mut mem_mirror) = (Mirror::default(), Mirror::default());
    follow(&mut sub, "dash/cpu", &mut cpu_mirror, 1).await;
    assert_eq!(
        (cpu_mirror.value.clone(), cpu_mirror.snapshots),
        (json!(11), 1)
    );
    follow(&mut sub, "dash/mem", &mut mem_mirror, 0).await;
    assert_eq!(
        (mem_mirror.value.clone(), mem_mirror.snapshots),
        (json!(20), 1)
    );
    // Then patches, through the pattern.
    cpu.set(12).await.unwrap();
    follow(&mut sub, "dash/cpu", &mut cpu_mirror, 2).await;
    assert_eq!(
        (cpu_mirror.value.clone(), cpu_mirror.patches),
        (json!(12), 1)
    );
}

#[tokio::test]
async fn no_change_no_event() {
    let hub = Hub::builder().retry(None).build();
    let n = hub.signal("n", 5).await.unwrap();
    let published = hub.stats().events_published;
    assert_eq!(n.set(5).await.unwrap(), 0);
    assert_eq!(n.update(|_| {}).await.unwrap(), 0);
    assert_eq!(hub.stats().events_published, published);
}

#[tokio::test]
async fn resume_gets_the_missed_patches_or_a_reset_and_a_snapshot() {
    let hub = Hub::builder().history_events(5).build();
    let n = hub.signal("n", 0).await.unwrap();
    let mut sub = hub.subscribe("n", None).await.unwrap();
    let mut mirror = Mirror::default();
    follow(&mut sub, "n", &mut mirror, 0).await;
    n.set(1).await.unwrap();
    follow(&mut sub, "n", &mut mirror, 1).await;
    drop(sub);

    // Resume from a snapshot's id: only the missed patches come.
    let seen = {
        let mut sub = hub.subscribe("n", None).await.unwrap();
        let mut parser = Parser::new();
        let mut id = String::new();
        while id.is_empty() {
            parser.feed(&sub.next().await.unwrap()).unwrap();
            for item in parser.drain() {
                if let Item::Event(e) = item {
                    id = e.last_event_id;
                }
            }
        }
        id
    };
    n.set(2).await.unwrap();
    n.set(3).await.unwrap();
    let mut sub = hub.subscribe("n", Some(&seen)).await.unwrap();
    let mut resumed = Mirror {
        state: SignalState::rendered(1, json!(1)),
        version: Some(1),
        value: json!(1),
        ..Mirror::default()
    };
    follow(&mut sub, "n", &mut resumed, 3).await;
    assert_eq!((resumed.snapshots, resumed.patches), (0, 2));

    // History holds 5 events: after 6 more changes the id is gone: reset, snapshot.
    for v in 4..10 {
        n.set(v).await.unwrap();
    }
    let mut sub = hub.subscribe("n", Some(&seen)).await.unwrap();
    let mut fresh = Mirror::default();
    follow(&mut sub, "n", &mut fresh, 9).await;
    assert_eq!(fresh.value, json!(9));
    assert_eq!(fresh.snapshots, 1);
    assert!(matches!(sub.resume(), ssehub::Resume::Reset(_)));
}

#[tokio::test]
async fn put_creates_and_patch_applies_or_refuses() {
    let hub = Hub::new();
    assert_eq!(hub.put_signal("cfg", json!({"a": 1})).await.unwrap(), 0);
    assert_eq!(hub.put_signal("cfg", json!({"a": 2})).await.unwrap(), 1);
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/a", "value": 2},
        {"op": "add", "path": "/b~1c", "value": [1]}
    ]))
    .unwrap();
    assert_eq!(hub.patch_signal("cfg", &ops).await.unwrap(), 2);
    assert_eq!(
        hub.signal_value("cfg").await.unwrap(),
        Some((2, json!({"a": 2, "b/c": [1]})))
    );
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/a", "value": 99}])).unwrap();
    let err = hub.patch_signal("cfg", &failing).await.unwrap_err();
    assert!(err.is_test_failed());
    assert_eq!(
        hub.signal_value("cfg").await.unwrap().unwrap().0,
        2,
        "nothing changed"
    );
    assert!(matches!(
        hub.patch_signal("none", &ops).await,
        Err(ssehub::SignalError::NotFound(_))
    ));
    assert!(hub.put_signal("bad\nname", json!(1)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_converge_after_a_hundred_updates() {
    let hub = Hub::new();
    let board = hub.signal("board", json!({"scores": {}})).await.unwrap();
    let subs =
        futures_util::future::join_all((0..1000).map(|_| hub.subscribe("board", None))).await;
    for i in 0..100u64 {
        board
            .update(|v| v["scores"][format!("p{}", i % 13)] = json!(i))
            .await
            .unwrap();
    }
    let expected = board.get().await.unwrap();
    let version = board.version().await.unwrap();
    let followers = subs.into_iter().map(|sub| {
        tokio::spawn(async move {
            let mut sub = sub.unwrap();
            let mut mirror = Mirror::default();
            follow(&mut sub, "board", &mut mirror, version).await;
            mirror.value
        })
    });
    for value in futures_util::future::join_all(followers).await {
        assert_eq!(value.unwrap(), expected);
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("a".to_owned()),
        Just("a/b".to_owned()),
        Just("~0".to_owned()),
        Just("~".to_owned()),
        Just("".to_owned()),
        Just("é🌍".to_owned()),
        "[a-c]{1,2}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        "[a-z🌍]{0,3}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn published_patches_reproduce_every_value(values in prop::collection::vec(json_value(), 1..8)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let hub = Hub::new();
            let signal = hub.signal("s", values[0].clone()).await.unwrap();
            let mut sub = hub.subscribe("s", None).await.unwrap();
            let mut mirror = Mirror::default();
            follow(&mut sub, "s", &mut mirror, 0).await;
            for value in &values[1..] {
                let version = signal.set(value.clone()).await.unwrap();
                follow(&mut sub, "s", &mut mirror, version).await;
                assert_eq!(&mirror.value, value);
            }
        });
    }
}
