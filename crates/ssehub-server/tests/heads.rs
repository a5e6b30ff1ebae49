//! Request heads on the direct path (a connection's first request is read
//! by `conn.rs`, not hyper): bounded in size (16 KiB: 431
//! `request_header_too_large`), in header count (64: 431
//! `too_many_headers`) and in time (`Config::head_timeout`, for the whole
//! head: 408 `request_timeout`), and clients slow to send theirs never hold
//! up open streams or new clients.

mod common;

use std::time::Duration;

use serde_json::Value;
use ssehub::Hub;
use ssehub_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// Sends `head` on a new connection and reads the whole answer (the server
/// closes after a refusal): its status and JSON body.
async fn raw(base: &str, head: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head).await.unwrap();
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut TcpStream) -> (u16, Value) {
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn head_with(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_too_many_headers_get_431() {
    let s = common::start(Hub::new(), Config::default()).await;
    let big = format!("X-Big: {}\r\n", "a".repeat(17 << 10));
    for path in ["/events?topic=t", "/healthz"] {
        let (status, body) = raw(&s.base, &head_with(path, &big)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (431, Some("request_header_too_large")),
            "{path}"
        );
    }
    // Just under the limit is fine.
    let fits = format!("X-Big: {}\r\n", "a".repeat(15 << 10));
    let (status, _) = raw(&s.base, &head_with("/healthz", &fits)).await;
    assert_eq!(status, 200);

    let many: String = (0..70).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, body) = raw(&s.base, &head_with("/events?topic=t", &many)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (431, Some("too_many_headers"))
    );
    let some: String = (0..60).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _) = raw(&s.base, &head_with("/healthz", &some)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_must_arrive_whole_within_the_timeout() {
    let config = Config {
        head_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    let s = common::start(Hub::new(), config).await;
    let addr = s.base.trim_start_matches("http://").to_owned();

    // Half a head, then nothing: 408.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /events?topic=t HTTP/1.1\r\n")
        .await
        .unwrap();
    let (status, body) = read_answer(&mut stream).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (408, Some("request_timeout"))
    );

    // A byte every 100 ms never completes in time either: the deadline is
    // for the whole head, not each read.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let trickle = async {
        for byte in b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghij" {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, trickle)
        .await
        .expect("the server ends it");
    let (status, _) = read_answer(&mut stream).await;
    assert_eq!(status, 408);

    // Nothing at all: closed without an answer.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("closed")
        .unwrap();
    assert!(answer.is_empty(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_hold_up_no_one() {
    ssehub_server::raise_file_limit().unwrap();
    let s = common::start(Hub::new(), Config::default()).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut live = s.subscribe("topic=t", None).await;

    // A thousand clients each sent part of a head and wait.
    let mut half_open = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\nX-Pad: ")
            .await
            .unwrap();
        half_open.push(stream);
    }
    // The open stream gets its events, a new client subscribes and gets
    // them too, publishing works.
    let mut late = s.subscribe("topic=t", None).await;
    s.publish_ok("t", "through").await;
    for items in [&mut live, &mut late] {
        let got = tokio::time::timeout(WAIT, common::next_events(items, 1))
            .await
            .expect("delivered while a thousand heads are pending");
        assert_eq!(common::data(&got), ["through"]);
    }
    let (status, health) = s.get_json("/healthz").await;
    assert_eq!(status, 200, "{health}");
    drop(half_open);
}
