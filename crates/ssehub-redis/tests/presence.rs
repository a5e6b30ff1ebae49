//! Presence across hubs sharing one real `redis-server`: lists, join and
//! leave events, a dead hub's leaves, closing and reaching a stream held by
//! another hub, rejoining after a stall.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ssehub::backend::Present;
use ssehub::{Event, Hub, Resume, SubscribeOptions, Subscription};
use ssehub_core::{Item, MessageEvent, Parser};
use ssehub_redis::testing::RedisServer;
use ssehub_redis::RedisBackend;

const WAIT: Duration = Duration::from_secs(10);

/// A hub on `url` announcing joins and leaves on `room`, with a heartbeat
/// every `period`.
async fn hub_on(url: &str, period: Duration) -> Hub {
    let backend = RedisBackend::builder(url)
        .connect()
        .await
        .expect("Redis is up");
    Hub::builder()
        .backend(backend)
        .keepalive(None)
        .retry(None)
        .presence_events(["room"])
        .presence_heartbeat(period)
        .build()
}

async fn hub(redis: &RedisServer) -> Hub {
    hub_on(&redis.url(), Duration::from_secs(2)).await
}

/// Reads frames until `n` events were dispatched; fails after [`WAIT`].
async fn events(sub: &mut Subscription, n: usize) -> Vec<MessageEvent> {
    let read = async {
        let mut parser = Parser::new();
        let mut out = Vec::new();
        while out.len() < n {
            let frame = sub.next().await.expect("stream ended early");
            parser.feed(&frame).unwrap();
            out.extend(parser.drain().filter_map(|i| match i {
                Item::Event(e) => Some(e),
                Item::Retry(_) => None,
            }));
        }
        out
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("{n} events did not come within {WAIT:?}"))
}

/// A join or leave event as (type, id, user, node).
fn change(e: &MessageEvent) -> (String, String, Option<String>, String) {
    let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
    assert_eq!(data["topic"], "room", "{data}");
    (
        e.event.clone(),
        data["id"].as_str().unwrap().to_owned(),
        data["user"].as_str().map(str::to_owned),
        data["node"].as_str().unwrap().to_owned(),
    )
}

/// Presence as (id, user, node), sorted by id.
fn who(list: Vec<Present>) -> Vec<(String, Option<String>, String)> {
    let mut out: Vec<_> = list.into_iter().map(|p| (p.id, p.user, p.node)).collect();
    out.sort();
    out
}

fn expect(list: &[(&Subscription, Option<&str>, &Hub)]) -> Vec<(String, Option<String>, String)> {
    let mut out: Vec<_> = list
        .iter()
        .map(|(s, user, h)| {
            (
                s.id().to_string(),
                user.map(str::to_owned),
                h.node().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Waits for the leave of `id` on `watch`, skipping other events.
async fn left(watch: &mut Subscription, id: &str) {
    loop {
        let e = &events(watch, 1).await[0];
        let (kind, of, ..) = change(e);
        if kind == "leave" && of == id {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_exact_on_every_hub_as_streams_open_and_close() {
    let redis = RedisServer::start().unwrap();
    let hubs = [hub(&redis).await, hub(&redis).await, hub(&redis).await];
    let [a, b, c] = &hubs;
    let mut watch = a.subscribe("$presence/room", None).await.unwrap();
    for h in &hubs {
        assert!(h.presence("room").await.unwrap().is_empty());
    }
    let ann = a
        .subscribe_with(SubscribeOptions::new(["room", "other"]).user("ann"))
        .await
        .unwrap();
    let bob = b
        .subscribe_with(SubscribeOptions::new("room").user("bob"))
        .await
        .unwrap();
    let anon = c.subscribe("room", None).await.unwrap();
    let pattern = c.subscribe("ro*", None).await.unwrap();
    // A stream's join is stored before `subscribe` returns.
    let all = expect(&[
        (&ann, Some("ann"), a),
        (&bob, Some("bob"), b),
        (&anon, None, c),
    ]);
    for h in &hubs {
        assert_eq!(who(h.presence("room").await.unwrap()), all);
        assert_eq!(
            who(h.presence("other").await.unwrap()),
            expect(&[(&ann, Some("ann"), a)])
        );
        assert_eq!(
            who(h.presence("ro*").await.unwrap()),
            expect(&[(&pattern, None, c)])
        );
    }
    // Ordered as the hub orders them: by opening time, then id.
    let listed = b.presence("room").await.unwrap();
    assert!(listed
        .windows(2)
        .all(|w| (w[0].since, &w[0].id) <= (w[1].since, &w[1].id)));
    assert_eq!(events(&mut watch, 3).await.len(), 3, "three joins");

    let bob_id = bob.id().to_string();
    drop(bob);
    left(&mut watch, &bob_id).await;
    let rest = expect(&[(&ann, Some("ann"), a), (&anon, None, c)]);
    for h in &hubs {
        assert_eq!(who(h.presence("room").await.unwrap()), rest);
    }
    let (ann_id, anon_id) = (ann.id().to_string(), anon.id().to_string());
    drop(ann);
    left(&mut watch, &ann_id).await;
    for h in &hubs {
        assert_eq!(
            who(h.presence("room").await.unwrap()),
            expect(&[(&anon, None, c)])
        );
        assert!(h.presence("other").await.unwrap().is_empty());
    }
    drop(anon);
    left(&mut watch, &anon_id).await;
    for h in &hubs {
        assert!(h.presence("room").await.unwrap().is_empty());
        assert_eq!(h.presence("ro*").await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_leave_events_come_in_order_on_every_hub_and_resume_on_another() {
    let redis = RedisServer::start().unwrap();
    let (a, b, c) = (hub(&redis).await, hub(&redis).await, hub(&redis).await);
    let mut on_a = a.subscribe("$presence/room", None).await.unwrap();
    let mut on_b = b.subscribe("$presence/room", None).await.unwrap();
    let x = b
        .subscribe_with(SubscribeOptions::new("room").user("xan"))
        .await
        .unwrap();
    let y = c.subscribe(["room", "quiet"], None).await.unwrap();
    let quiet = a.subscribe("quiet", None).await.unwrap(); // announces nothing
    let (x_id, y_id) = (x.id().to_string(), y.id().to_string());
    drop(x);
    left(&mut on_a, &x_id).await;
    drop(y);
    let expected = vec![
        (
            "join".into(),
            x_id.clone(),
            Some("xan".into()),
            b.node().to_owned(),
        ),
        ("join".into(), y_id.clone(), None, c.node().to_owned()),
        (
            "leave".into(),
            x_id.clone(),
            Some("xan".into()),
            b.node().to_owned(),
        ),
        ("leave".into(), y_id.clone(), None, c.node().to_owned()),
    ];
    let got_b = events(&mut on_b, 4).await;
    assert_eq!(got_b.iter().map(change).collect::<Vec<_>>(), expected);
    left(&mut on_a, &y_id).await;

    // A watcher that saw the first join resumes on another hub.
    let mut again = c
        .subscribe("$presence/room", Some(got_b[0].last_event_id.as_str()))
        .await
        .unwrap();
    assert!(matches!(again.resume(), Resume::Resumed { .. }));
    let replayed = events(&mut again, 3).await;
    assert_eq!(
        replayed.iter().map(change).collect::<Vec<_>>(),
        expected[1..]
    );
    let ids = |got: &[MessageEvent]| -> Vec<String> {
        got.iter().map(|e| e.last_event_id.clone()).collect()
    };
    assert_eq!(
        ids(&replayed),
        ids(&got_b[1..]),
        "the same events, same ids"
    );
    drop(quiet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_hubs_leaves_come_from_another_within_four_periods() {
    const PERIOD: Duration = Duration::from_millis(200);
    let redis = RedisServer::start().unwrap();
    let url = redis.url();
    let live = hub_on(&url, PERIOD).await;
    let mut watch = live.subscribe("$presence/room", None).await.unwrap();

    // The hub that dies runs in its own runtime on its own thread.
    let (opened, streams) = tokio::sync::oneshot::channel();
    let (kill, killed) = std::sync::mpsc::channel::<()>();
    let dying = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (hub, subs) = runtime.block_on(async {
            let hub = hub_on(&url, PERIOD).await;
            let ann = hub
                .subscribe_with(SubscribeOptions::new("room").user("ann"))
                .await
                .unwrap();
            let anon = hub.subscribe("room", None).await.unwrap();
            (hub, [ann, anon])
        });
        let ids: Vec<String> = subs.iter().map(|s| s.id().to_string()).collect();
        opened.send((hub.node().to_owned(), ids)).unwrap();
        killed.recv().unwrap();
        // No leave, no heartbeat, nothing more from this hub: its tasks
        // are dropped unpolled and what would tell its streams' end is
        // never dropped.
        std::mem::forget(subs);
        std::mem::forget(hub);
        runtime.shutdown_background();
    });
    let (node, ids) = streams.await.unwrap();
    let joins = events(&mut watch, 2).await;
    assert!(joins.iter().all(|e| e.event == "join"));
    let listed = who(live.presence("room").await.unwrap());
    let mut expected = vec![
        (ids[0].clone(), Some("ann".to_owned()), node.clone()),
        (ids[1].clone(), None, node.clone()),
    ];
    expected.sort();
    assert_eq!(listed, expected);

    kill.send(()).unwrap();
    tokio::task::spawn_blocking(move || dying.join().unwrap())
        .await
        .unwrap();
    let died = Instant::now();
    let leaves = events(&mut watch, 2).await;
    let took = died.elapsed();
    let mut got: Vec<_> = leaves.iter().map(change).collect();
    got.sort();
    let mut want: Vec<_> = expected
        .iter()
        .map(|(id, user, node)| ("leave".to_owned(), id.clone(), user.clone(), node.clone()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(live.presence("room").await.unwrap().is_empty());
    // Its last heartbeat kept it until 3 periods after it; the next
    // heartbeat of another hub reaps it: within 4 periods of its death.
    let bound = PERIOD * 4 + Duration::from_millis(400);
    eprintln!("a dead hub's leaves came {took:?} after its death (bound {bound:?})");
    assert!(took <= bound, "{took:?} > {bound:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_conn_reach_a_stream_held_by_another_hub() {
    let redis = RedisServer::start().unwrap();
    let (a, b) = (hub(&redis).await, hub(&redis).await);
    let mut one = a.subscribe("t", None).await.unwrap();
    let mut two = a.subscribe("t", None).await.unwrap();
    let mut three = b.subscribe("t", None).await.unwrap();

    let to_one = format!("$conn/{}", one.id());
    b.publish(to_one.as_str(), Event::data("for one"))
        .await
        .unwrap();
    b.publish("t", Event::data("for all")).await.unwrap();
    let datas = |got: Vec<MessageEvent>| got.into_iter().map(|e| e.data).collect::<Vec<_>>();
    assert_eq!(datas(events(&mut one, 2).await), ["for one", "for all"]);
    assert_eq!(datas(events(&mut two, 1).await), ["for all"]);
    assert_eq!(datas(events(&mut three, 1).await), ["for all"]);

    assert!(b.close(one.id().as_str()).await.unwrap());
    let end = tokio::time::timeout(WAIT, async { while one.next().await.is_some() {} });
    end.await.expect("the closed stream ends");
    assert!(one.closed());
    assert!(!two.closed());
    assert!(!b.close(&format!("{}-999999", a.node())).await.unwrap());
    assert!(!b.close("ffffffff-1").await.unwrap(), "no such node");
    assert!(!b.close("nonsense").await.unwrap());
    // The others are still open and served.
    a.publish("t", Event::data("still")).await.unwrap();
    assert_eq!(datas(events(&mut two, 1).await), ["still"]);
    assert_eq!(datas(events(&mut three, 1).await), ["still"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_join_again_after_their_hub_was_taken_for_dead() {
    const PERIOD: Duration = Duration::from_millis(200);
    let redis = RedisServer::start().unwrap();
    let (a, b) = (
        hub_on(&redis.url(), PERIOD).await,
        hub_on(&redis.url(), PERIOD).await,
    );
    let mut watch = a.subscribe("$presence/room", None).await.unwrap();
    let one = a
        .subscribe_with(SubscribeOptions::new("room").user("ann"))
        .await
        .unwrap();
    let two = b.subscribe("room", None).await.unwrap();
    assert_eq!(events(&mut watch, 2).await.len(), 2);
    let all = expect(&[(&one, Some("ann"), &a), (&two, None, &b)]);
    assert_eq!(who(a.presence("room").await.unwrap()), all);

    // Redis stalls for 5 periods: when it wakes, whichever hub's heartbeat
    // runs first takes the other for dead (its deadline passed) and
    // publishes its leaves; the other hears it must join again.
    redis.pause().unwrap();
    tokio::time::sleep(PERIOD * 5).await; // the stall under test
    redis.resume().unwrap();

    // The streams of the hub taken for dead leave, then join again: read
    // until at least one left and every stream that left joined again.
    let mut last = HashMap::new();
    let mut leaves = 0;
    let deadline = Instant::now() + WAIT;
    while leaves == 0 || last.values().any(|kind| kind != "join") {
        assert!(Instant::now() < deadline, "no rejoin: {last:?}");
        let e = &events(&mut watch, 1).await[0];
        let (kind, id, ..) = change(e);
        leaves += usize::from(kind == "leave");
        last.insert(id, kind);
    }
    for h in [&a, &b] {
        assert_eq!(who(h.presence("room").await.unwrap()), all);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_lost_while_redis_is_out_is_sent_when_it_is_back() {
    const PERIOD: Duration = Duration::from_millis(200);
    let mut redis = RedisServer::start().unwrap();
    // One hub: nobody else could publish the leave for it.
    let a = hub_on(&redis.url(), PERIOD).await;
    let mut watch = a.subscribe("$presence/room", None).await.unwrap();
    let ann = a
        .subscribe_with(SubscribeOptions::new("room").user("ann"))
        .await
        .unwrap();
    let ann_id = ann.id().to_string();
    assert_eq!(events(&mut watch, 1).await[0].event, "join");

    redis.kill();
    tokio::time::timeout(WAIT, async {
        while a.health().ok {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the hub notices Redis is gone");
    drop(ann); // its leave cannot be stored now
    redis.restart().unwrap();
    left(&mut watch, &ann_id).await;
    assert!(a.presence("room").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_lost_while_redis_is_out_is_made_when_it_is_back() {
    const PERIOD: Duration = Duration::from_millis(200);
    let mut redis = RedisServer::start().unwrap();
    let a = hub_on(&redis.url(), PERIOD).await;
    let mut watch = a.subscribe("$presence/room", None).await.unwrap();
    redis.kill();
    tokio::time::timeout(WAIT, async {
        while a.health().ok {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the hub notices Redis is gone");
    // The stream opens all the same; its join cannot be stored now.
    let ann = a
        .subscribe_with(SubscribeOptions::new("room").user("ann"))
        .await
        .unwrap();
    redis.restart().unwrap();
    // Once Redis is back (with none of its data), a heartbeat joins it again.
    let joined = change(&events(&mut watch, 1).await[0]);
    assert_eq!(
        (joined.0.as_str(), joined.1.as_str()),
        ("join", ann.id().as_str())
    );
    assert_eq!(
        who(a.presence("room").await.unwrap()),
        expect(&[(&ann, Some("ann"), &a)])
    );
}
