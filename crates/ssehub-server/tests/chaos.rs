//! A short chaos run (about 20 s, loopback, a real Redis, real `kill -9`):
//! two `ssehub serve --redis` processes on one Redis, a steady publisher
//! that retries with idempotency keys, and subscribers that drop their
//! connection at random and resume on either hub, while the run in turn
//! kills a hub with SIGKILL and restarts it, stalls Redis (SIGSTOP) past
//! the hub's write timeout, restarts Redis, and kills the other hub. Half
//! the subscribers cut their connection inside a frame: they have read part
//! of an event when it breaks.
//!
//! The checker proves from what each subscriber received: every publish the
//! hub accepted (200) is delivered once, in the hub's order; none twice; a
//! publish answered only 503 is never delivered; every answer came within
//! the bounded time. `reliability/chaos.sh ROUNDS` runs the same for longer
//! (`SSEHUB_CHAOS_ROUNDS` rounds of faults).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ssehub_core::{EventStream, Item};
use ssehub_redis::testing::RedisServer;

/// Longest any answer may take (the hub's write timeout is 3 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
const SUBSCRIBERS: usize = 4;

/// A hub process on a fixed address, so it can be restarted there.
struct HubProcess {
    addr: String,
    child: Option<Child>,
    redis: String,
}

impl HubProcess {
    fn start(redis: &RedisServer) -> HubProcess {
        let (child, addr) = common::serve_redis(&redis.url(), "127.0.0.1:0");
        HubProcess {
            addr,
            child: Some(child),
            redis: redis.url(),
        }
    }

    fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            common::signal(&child, "KILL");
            let _ = child.wait();
        }
        let (child, _) = common::serve_redis(&self.redis, &self.addr);
        self.child = Some(child);
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the publisher learnt of each publish (its data is its sequence
/// number; its idempotency key `p-{seq}`).
#[derive(Debug, Default)]
struct Outcomes {
    /// Answered 200: the id.
    accepted: BTreeMap<u64, String>,
    /// Answered only 503 (never 200, never 504, never a lost connection):
    /// must never be delivered.
    refused: BTreeSet<u64>,
    /// Gave up without knowing: may be delivered, at most once.
    unknown: BTreeSet<u64>,
    /// Requests not answered within [`ANSWER_WITHIN`].
    hung: usize,
}

/// A tiny deterministic generator (no dependency needed for jitter).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

async fn publisher(addrs: Vec<String>, stop: Arc<AtomicBool>) -> Outcomes {
    let http = reqwest::Client::new();
    let mut outcomes = Outcomes::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut sure_not = true;
        let mut done = false;
        for attempt in 0..60u64 {
            let addr = &addrs[((seq + attempt) % addrs.len() as u64) as usize];
            let request = http
                .post(format!("http://{addr}/publish"))
                .header("idempotency-key", format!("p-{seq}"))
                .json(&serde_json::json!({"topic": "chaos", "data": seq.to_string()}))
                .send();
            match tokio::time::timeout(ANSWER_WITHIN, request).await {
                Err(_) => {
                    outcomes.hung += 1;
                    sure_not = false;
                }
                Ok(Ok(res)) if res.status() == 200 => {
                    let body: serde_json::Value = res.json().await.unwrap_or_default();
                    let id = body["id"].as_str().unwrap_or_default().to_owned();
                    outcomes.accepted.insert(seq, id);
                    done = true;
                    break;
                }
                Ok(Ok(res)) if res.status() == 503 => {}
                // 504 `outcome_unknown`, or the hub died mid-request.
                Ok(_) => sure_not = false,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !done {
            if sure_not {
                outcomes.refused.insert(seq);
            } else {
                outcomes.unknown.insert(seq);
            }
        }
        seq += 1;
        // A steady pace, about 50 publishes a second.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outcomes
}

/// One subscriber's record: the (sequence number, id) of each event, in
/// the order received, and the resets it was told of.
#[derive(Debug, Default)]
struct Received {
    events: Vec<(u64, String)>,
    resets: usize,
    connections: usize,
    /// Connections that broke with part of a frame read.
    cut_inside_a_frame: usize,
}

/// The body of a stream its client cuts inside a frame: once `cut` is set,
/// the next chunk of the body is passed on only in part (a strict prefix),
/// and the body ends there, as a connection that breaks mid-frame. The
/// parser then holds part of an event, which must not count: the resume
/// brings it whole. `cuts` counts the bodies cut so.
fn cut_inside_a_frame(
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    cut: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
    mut rng: Lcg,
) -> impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static {
    body.scan(false, move |ended, chunk| {
        let next = match chunk {
            _ if *ended => None,
            Ok(bytes) if bytes.len() > 1 && cut.load(Ordering::Relaxed) => {
                *ended = true;
                cuts.fetch_add(1, Ordering::Relaxed);
                let keep = 1 + rng.next(bytes.len() as u64 - 1) as usize;
                Some(Ok(bytes.slice(..keep)))
            }
            other => Some(other),
        };
        std::future::ready(next)
    })
}

async fn subscriber(
    n: usize,
    addrs: Vec<String>,
    connected: tokio::sync::mpsc::Sender<()>,
    until: Arc<Mutex<Option<String>>>,
) -> Received {
    let http = reqwest::Client::new();
    let mut rng = Lcg(n as u64 + 1);
    let mut got = Received::default();
    let mut last: Option<String> = None;
    // Once the run is over: at most this long to catch up.
    let mut drain_deadline = None;
    loop {
        let target = until.lock().unwrap().clone();
        if target.is_some() && last == target {
            return got;
        }
        if target.is_some() {
            let deadline = *drain_deadline
                .get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(30));
            if tokio::time::Instant::now() > deadline {
                return got;
            }
        }
        let addr = &addrs[(n + got.connections) % addrs.len()];
        let mut request = http.get(format!("http://{addr}/events?topic=chaos"));
        if let Some(id) = &last {
            request = request.header("last-event-id", id);
        }
        let response = match tokio::time::timeout(ANSWER_WITHIN, request.send()).await {
            Ok(Ok(res)) if res.status() == 200 => res,
            _ => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        got.connections += 1;
        if got.connections == 1 {
            let _ = connected.send(()).await;
        }
        // Odd subscribers cut inside a frame, even ones between reads.
        let inside = n % 2 == 1;
        let cutting = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let mut items: common::Items = if inside {
            let body = cut_inside_a_frame(
                response.bytes_stream(),
                cutting.clone(),
                cuts.clone(),
                Lcg(rng.next(u64::MAX)),
            );
            Box::pin(EventStream::new(body))
        } else {
            common::items(response)
        };
        // This connection lives 0.2 to 1.5 s, then the client drops it
        // (inside a frame: with the next bytes to come, within 2 s).
        let lifetime = Duration::from_millis(200 + rng.next(1300));
        let cut = tokio::time::sleep(lifetime);
        tokio::pin!(cut);
        let give_up = tokio::time::sleep(lifetime + Duration::from_secs(2));
        tokio::pin!(give_up);
        loop {
            tokio::select! {
                _ = &mut cut, if !cutting.load(Ordering::Relaxed) => {
                    if !inside {
                        break;
                    }
                    cutting.store(true, Ordering::Relaxed);
                }
                _ = &mut give_up => break,
                item = items.next() => match item {
                    Some(Ok(Item::Event(e))) => {
                        if !e.last_event_id.is_empty() {
                            last = Some(e.last_event_id.clone());
                        }
                        if e.event == "ssehub-reset" {
                            got.resets += 1;
                        } else if let Ok(seq) = e.data.parse() {
                            got.events.push((seq, e.last_event_id));
                        }
                        if until.lock().unwrap().is_some() && *until.lock().unwrap() == last {
                            break;
                        }
                    }
                    Some(Ok(Item::Retry(_))) => {}
                    // The hub died, or the stream broke: resume elsewhere.
                    Some(Err(_)) | None => break,
                },
            }
        }
        got.cut_inside_a_frame += cuts.load(Ordering::Relaxed);
    }
}

/// A Redis stream id, `ms-seq`, as a pair that orders like the stream.
fn order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("a stream id");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_loses_and_duplicates_nothing_accepted() {
    let mut redis = RedisServer::start().unwrap();
    let mut a = HubProcess::start(&redis);
    let mut b = HubProcess::start(&redis);
    let addrs = vec![a.addr.clone(), b.addr.clone()];

    let (connected, mut subscribed) = tokio::sync::mpsc::channel(SUBSCRIBERS);
    let until = Arc::new(Mutex::new(None));
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| {
            tokio::spawn(subscriber(
                n,
                addrs.clone(),
                connected.clone(),
                until.clone(),
            ))
        })
        .collect();
    // Everyone is subscribed before the first publish.
    drop(connected);
    tokio::time::timeout(ANSWER_WITHIN, async {
        for _ in 0..SUBSCRIBERS {
            subscribed.recv().await.expect("a subscriber connected");
        }
    })
    .await
    .expect("every subscriber connects");

    let stop = Arc::new(AtomicBool::new(false));
    let publishing = tokio::spawn(publisher(addrs.clone(), stop.clone()));
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));

    // One round by default; `reliability/chaos.sh` runs more.
    let rounds: usize = std::env::var("SSEHUB_CHAOS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    for _ in 0..rounds {
        pause(1500).await;
        a.kill_and_restart();
        pause(1500).await;
        // Longer than the hub's write timeout (3 s): publishes get 504.
        redis.pause().unwrap();
        pause(3500).await;
        redis.resume().unwrap();
        pause(1500).await;
        redis.restart().unwrap();
        pause(1500).await;
        b.kill_and_restart();
    }
    pause(1500).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = publishing.await.unwrap();

    // Drain: each subscriber reads until it has the newest event.
    let newest = outcomes
        .accepted
        .values()
        .max_by_key(|id| order(id))
        .cloned()
        .expect("publishes were accepted");
    *until.lock().unwrap() = Some(newest.clone());
    let mut received = Vec::new();
    for s in subscribers {
        received.push(s.await.unwrap());
    }

    assert_eq!(
        outcomes.hung, 0,
        "every publish answered within {ANSWER_WITHIN:?}"
    );
    assert!(outcomes.accepted.len() > 100 * rounds, "{outcomes:?}");
    for (n, got) in received.iter().enumerate() {
        let who = format!("subscriber {n} ({} connections)", got.connections);
        assert!(got.connections > 3, "{who}: it resumed");
        if n % 2 == 1 {
            assert!(
                got.cut_inside_a_frame > 0,
                "{who}: some connections were cut inside a frame"
            );
        }
        assert_eq!(got.resets, 0, "{who}: history covers the run");
        let mut seen = BTreeSet::new();
        for pair in got.events.windows(2) {
            assert!(
                order(&pair[0].1) < order(&pair[1].1),
                "{who}: in order: {pair:?}"
            );
        }
        for (seq, id) in &got.events {
            assert!(seen.insert(*seq), "{who}: {seq} twice");
            assert!(
                !outcomes.refused.contains(seq),
                "{who}: {seq} was answered 503"
            );
            if let Some(accepted) = outcomes.accepted.get(seq) {
                assert_eq!(accepted, id, "{who}: {seq} under the id it was answered");
            } else {
                assert!(
                    outcomes.unknown.contains(seq),
                    "{who}: {seq} never published"
                );
            }
        }
        let missing: Vec<_> = outcomes
            .accepted
            .keys()
            .filter(|seq| !seen.contains(seq))
            .collect();
        assert!(
            missing.is_empty(),
            "{who}: accepted but never delivered: {missing:?}"
        );
    }
    eprintln!(
        "chaos: {} accepted, {} refused (503), {} unknown; {:?} connections, of which {:?} cut inside a frame",
        outcomes.accepted.len(),
        outcomes.refused.len(),
        outcomes.unknown.len(),
        received.iter().map(|r| r.connections).collect::<Vec<_>>(),
        received.iter().map(|r| r.cut_inside_a_frame).collect::<Vec<_>>()
    );
}
