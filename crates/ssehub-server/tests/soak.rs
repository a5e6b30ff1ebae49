//! A short soak: one `ssehub serve` (on defaults) under rounds of the same
//! churn (streams opened, resumed, read and dropped, events published,
//! signals set, bad requests), sampled after each round once its streams
//! are closed: open file descriptors and runtime tasks must come back to
//! the same level every round, and memory must level off, not grow.
//! `SSEHUB_SOAK_ROUNDS=N` runs more rounds (`reliability/soak.sh`).

mod common;

use std::time::Duration;

use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const STREAMS: usize = 200;

/// What the process holds: resident memory (KiB), open descriptors, tasks.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rss_kib: u64,
    fds: usize,
    tasks: u64,
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Waits until the hub holds no stream (the round's clients are gone).
async fn settled(hub: &common::Remote) {
    tokio::time::timeout(WAIT, async {
        while hub.metric("ssehub_connections").await != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every stream closed");
}

/// One round of churn.
async fn round(hub: &common::Remote, n: usize) {
    let mut streams = Vec::new();
    let mut last = None;
    for i in 0..STREAMS {
        // A fresh client now and then: new connections, not only new
        // requests on kept-alive ones.
        let client = if i % 10 == 0 {
            reqwest::Client::new()
        } else {
            hub.http.clone()
        };
        let mut request = client.get(format!("{}/events?topic=soak&topic=s{}", hub.base, i % 7));
        if let (true, Some(id)) = (i % 3 == 0, &last) {
            request = request.header("last-event-id", id);
        }
        streams.push(common::items(request.send().await.unwrap()));
        if i % 20 == 0 {
            last = Some(
                hub.publish_ok("soak", &format!("round {n} event {i}"))
                    .await,
            );
        }
    }
    let (status, _) = hub
        .publish(json!({"topic": "soak", "data": "x".repeat(4096)}))
        .await;
    assert_eq!(status, 200);
    let res = hub
        .http
        .put(format!("{}/signals/soak-{}", hub.base, n % 5))
        .json(&json!({"round": n}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, _) = hub.get_json("/events").await;
    assert_eq!(status, 400);
    let (status, _) = hub.get_json("/nowhere").await;
    assert_eq!(status, 404);
    // Read from half of the streams; drop all of them.
    for items in streams.iter_mut().step_by(2) {
        tokio::time::timeout(WAIT, common::next_events(items, 1))
            .await
            .expect("an event");
    }
    drop(streams);
    settled(hub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_load_levels_off() {
    let rounds: usize = std::env::var("SSEHUB_SOAK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(8);
    // `reliability/soak.sh` may bound history lower, so that a long run
    // fills it and shows memory level off with history full.
    let history = std::env::var("SSEHUB_SOAK_HISTORY_EVENTS").ok();
    let mut args = vec!["--listen", "127.0.0.1:0", "--log-format", "json"];
    if let Some(events) = &history {
        args.extend(["--history-events", events]);
    }
    let (child, addr) = common::serve(&args, &[]);
    let pid = child.id();
    let hub = common::Remote::new(format!("http://{addr}"));
    let mut samples = Vec::new();
    for n in 0..rounds {
        round(&hub, n).await;
        let sample = Sample {
            rss_kib: rss_kib(pid),
            fds: fds(pid),
            tasks: hub.metric("ssehub_tasks").await,
        };
        eprintln!("soak round {n}: {sample:?}");
        samples.push(sample);
    }
    // The first round warms up (buffers, pools, the signals made); from the
    // second on, the same work must hold the same.
    let base = samples[1];
    for (n, s) in samples.iter().enumerate().skip(2) {
        assert!(
            s.fds <= base.fds + 2,
            "round {n}: descriptors grew: {s:?} after {base:?}"
        );
        assert!(
            s.tasks <= base.tasks + 2,
            "round {n}: tasks grew: {s:?} after {base:?}"
        );
    }
    let last = samples[rounds - 1];
    // Memory: the allocator keeps some, history fills; a leak of a stream
    // (~2 KiB each, 200 a round) would add over 2 MiB in 6 rounds.
    assert!(
        last.rss_kib <= base.rss_kib + base.rss_kib / 5 + 1024,
        "memory grew: {last:?} after {base:?}"
    );
    common::terminate(child);
}
