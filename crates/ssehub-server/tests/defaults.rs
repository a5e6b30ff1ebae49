//! `ssehub serve` as a user starts it: on defaults, one backend publishing
//! flat out and a load test opening 10,000 streams from one address are
//! never refused; beyond what its file descriptors allow, it answers 503
//! and serves again once connections close; it raises its soft open-file
//! limit, and logs what it cannot accept instead of going quiet.

mod common;

use std::time::Duration;

use common::Logged;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const GUARD: Duration = Duration::from_secs(60);

/// Opens `GET /events?topic=T` on a new connection and reads the status
/// line and headers.
async fn open_stream(addr: &str, topic: &str) -> (TcpStream, String) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /events?topic={topic} HTTP/1.1\r\nHost: hub\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = timeout(GUARD, conn.read(&mut byte))
            .await
            .unwrap_or_else(|_| {
                let head = String::from_utf8_lossy(&head);
                panic!("no response head within {GUARD:?}: {head:?}")
            })
            .unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&byte[..n]);
    }
    (conn, String::from_utf8_lossy(&head).into_owned())
}

fn max_connections(hub: &Logged) -> u64 {
    let listening = hub.logs(|l| Logged::message(l).starts_with("listening on"));
    listening[0]["fields"]["max_connections"].as_u64().unwrap()
}

#[tokio::test]
async fn on_defaults_one_address_publishes_flat_out_without_429() {
    let hub = Logged::serve(&["--listen", "127.0.0.1:0"]);
    let base = format!("http://{}", hub.addr);
    let http = reqwest::Client::new();
    let statuses: Vec<u16> = stream::iter(0..5_000)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                http.post(format!("{base}/publish"))
                    .json(&json!({"topic": "flat-out", "data": i.to_string()}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let refused = statuses.iter().filter(|s| **s != 200).count();
    assert_eq!(refused, 0, "{refused} of 5,000 publishes refused");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let published = metrics
        .lines()
        .find(|l| l.starts_with("ssehub_events_published_total"))
        .unwrap();
    assert_eq!(published, "ssehub_events_published_total 5000");
}

#[tokio::test]
async fn on_defaults_ten_thousand_streams_from_one_address_are_all_served() {
    // This test process holds the client side of every stream.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let hub = Logged::serve(&["--listen", "127.0.0.1:0"]);
    assert!(max_connections(&hub) > 10_000, "{}", max_connections(&hub));
    let addr = hub.addr.clone();
    let streams: Vec<(TcpStream, String)> = timeout(
        Duration::from_secs(120),
        stream::iter(0..10_000)
            .map(|_| open_stream(&addr, "load"))
            .buffer_unordered(500)
            .collect(),
    )
    .await
    .expect("10,000 streams opened within 2 minutes");
    let refused: Vec<_> = streams
        .iter()
        .filter(|(_, head)| !head.starts_with("HTTP/1.1 200"))
        .collect();
    assert!(
        refused.is_empty(),
        "{} refused: {}",
        refused.len(),
        refused[0].1
    );
    let (status, health) = common::Remote::new(format!("http://{addr}"))
        .get_json("/healthz")
        .await;
    assert_eq!(status, 200);
    assert_eq!(health["connections"], 10_000, "{health}");
}

#[tokio::test]
async fn beyond_its_file_descriptors_it_answers_503_and_serves_again() {
    // A hard limit of 256: the default --max-connections keeps a reserve.
    let hub = Logged::serve_after("ulimit -n 256", &["--listen", "127.0.0.1:0"]);
    let max = max_connections(&hub);
    assert!((200..256).contains(&max), "{max}");
    let addr = hub.addr.clone();
    let mut streams = Vec::new();
    for _ in 0..max {
        let (conn, head) = open_stream(&addr, "full").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        streams.push(conn);
    }
    // One more: a 503 with Retry-After and the JSON error, for a stream and
    // for any other request.
    for (path, method) in [
        ("/events?topic=full", "GET"),
        ("/healthz", "GET"),
        ("/publish", "POST"),
    ] {
        let res = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("http://{addr}{path}"))
            .json(&json!({"topic": "full", "data": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503, "{method} {path}");
        assert_eq!(res.headers()["retry-after"], "1");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "too_many_connections", "{body}");
    }
    hub.wait_log("refusing", |l| {
        Logged::message(l).starts_with("connections refused") && l["level"] == "WARN"
    })
    .await;
    // Connections close: it serves again.
    streams.truncate(streams.len() - 10);
    let remote = common::Remote::new(format!("http://{addr}"));
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let res = reqwest::Client::new()
            .get(format!("{}/healthz", remote.base))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still refused");
        tokio::task::yield_now().await;
    }
    let (_, head) = open_stream(&addr, "full").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_soft_file_limit_of_1024_is_raised_to_the_hard_limit() {
    let hub = Logged::serve_after("ulimit -Sn 1024", &["--listen", "127.0.0.1:0"]);
    let raised = hub
        .wait_log("open-file limit", |l| {
            Logged::message(l).starts_with("open-file limit")
        })
        .await;
    let hard = raised["fields"]["hard"].as_u64().unwrap();
    assert_eq!(raised["fields"]["before"], 1024, "{raised}");
    assert_eq!(Logged::message(&raised), format!("open-file limit: {hard}"));
    assert!(hard > 1024, "this machine's hard limit is {hard}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", hub.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(soft, hard, "{line}");
    assert_eq!(
        max_connections(&hub),
        ssehub_server::connection_budget(hard) as u64
    );
}

#[tokio::test]
async fn out_of_descriptors_it_logs_keeps_its_streams_and_recovers() {
    // --max-connections above what 64 descriptors allow: accepting fails.
    let hub = Logged::serve_after(
        "ulimit -n 64",
        &["--listen", "127.0.0.1:0", "--max-connections", "1000"],
    );
    let addr = hub.addr.clone();
    // A publisher's connection (kept alive) and a stream, opened first.
    let publisher = common::Remote::new(format!("http://{addr}"));
    publisher.publish_ok("kept", "before").await;
    let mut kept = common::Remote::new(format!("http://{addr}"))
        .subscribe("topic=kept", None)
        .await;
    let mut flood = Vec::new();
    for _ in 0..80 {
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        conn.write_all(b"GET /events?topic=flood HTTP/1.1\r\nHost: hub\r\n\r\n")
            .await
            .unwrap();
        flood.push(conn);
    }
    let failed = hub
        .wait_log("accept errors", |l| {
            Logged::message(l).starts_with("cannot accept connections")
        })
        .await;
    assert!(
        Logged::message(&failed).contains("Too many open files"),
        "{failed}"
    );
    // Open streams and kept-alive connections are served meanwhile.
    timeout(
        GUARD,
        publisher.publish_ok("kept", "while out of descriptors"),
    )
    .await
    .expect("the kept-alive connection is served");
    let events = timeout(GUARD, common::next_events(&mut kept, 1))
        .await
        .unwrap();
    assert_eq!(common::data(&events), ["while out of descriptors"]);
    // Once the flood leaves, new connections are accepted again.
    drop(flood);
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let fresh = reqwest::Client::new();
        match timeout(
            Duration::from_secs(2),
            fresh.get(format!("http://{addr}/healthz")).send(),
        )
        .await
        {
            Ok(Ok(res)) if res.status() == 200 => break,
            _ => assert!(tokio::time::Instant::now() < deadline, "never served again"),
        }
    }
}
