//! `ssehub serve` over real HTTP on loopback: the contract's routes, resume,
//! reset, bad input, many clients, a stalled client, shutdown.

mod common;

use std::time::Duration;

use common::{data, next_events, start, within, Items};
use futures_util::StreamExt;
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_core::{EventStream, Item};
use ssehub_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn event_stream_headers_and_retry_hint_with_the_first_event() {
    let s = start(Hub::new(), Config::default()).await;
    let res = within("the response headers", async {
        s.http
            .get(format!("{}/events?topic=t", s.base))
            .send()
            .await
            .unwrap()
    })
    .await;
    let h = res.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.get("content-encoding").is_none());
    let mut items = EventStream::new(res.bytes_stream());
    let id = s.publish_ok("t", "first").await;
    let item = within("the first event", items.next()).await;
    assert_eq!(item.unwrap().unwrap(), Item::Retry(2000));
    let item = within("the first event", items.next()).await;
    let Item::Event(event) = item.unwrap().unwrap() else {
        panic!("the first event")
    };
    assert_eq!((event.data.as_str(), event.last_event_id), ("first", id));
}

/// A raw HTTP/1.1 connection: `requests` written at once, then the bytes
/// read until `until` holds of them (within [`common::WAIT`]).
async fn raw_read(
    stream: &mut tokio::net::TcpStream,
    text: &mut String,
    until: impl Fn(&str) -> bool,
) {
    let mut buf = [0u8; 4096];
    while !until(text) {
        let n = within(&format!("more bytes after {text:?}"), stream.read(&mut buf))
            .await
            .unwrap();
        assert!(n > 0, "the connection closed after {text:?}");
        text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
}

/// Both ways a stream is served over HTTP/1.1, the direct writer (a
/// connection's first request) and the axum route (a later request on the
/// same connection): the response headers come at once (the stream's id in
/// `ssehub-connection`), with the body's
/// opening comment line (a first byte, so that no proxy holds the headers
/// back) and nothing else before the first event (no keep-alive here); the
/// client is subscribed from the headers on; the retry hint then comes in the
/// first event's block, never in a block of its own (some clients dispatch
/// that as an empty event).
#[tokio::test]
async fn headers_and_a_comment_line_at_once_then_the_hint_in_the_first_events_block_on_both_paths()
{
    let hub = Hub::builder().keepalive(None).build();
    let s = start(hub, Config::default()).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    for (path, requests) in [
        ("direct", "GET /events?topic=t HTTP/1.1\r\nhost: x\r\n\r\n"),
        (
            "axum route",
            "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\nGET /events?topic=t HTTP/1.1\r\nhost: x\r\n\r\n",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(requests.as_bytes()).await.unwrap();
        let mut text = String::new();
        raw_read(&mut stream, &mut text, |t| {
            t.contains("text/event-stream") && t.ends_with("\r\n\r\n2\r\n:\n\r\n")
        })
        .await;
        let head_len = text.len();
        // The stream's connection id, in `ssehub-connection`.
        let connection = text
            .lines()
            .find_map(|line| line.strip_prefix("ssehub-connection: "))
            .unwrap_or_else(|| panic!("{path}: no ssehub-connection header in {text:?}"));
        let open: Vec<String> = s.hub.connections().iter().map(|c| c.id.to_string()).collect();
        assert!(open.iter().any(|id| id == connection), "{path}: {connection} not in {open:?}");
        let id = s.publish_ok("t", path).await;
        raw_read(&mut stream, &mut text, |t| t.contains("\n\n")).await;
        let body = &text[head_len..];
        // One chunk: its size line, then the first block.
        let block = format!("retry: 2000\nid: {id}\ndata: {path}\n\n");
        let (size, chunk) = body.split_once("\r\n").unwrap();
        assert_eq!(
            (usize::from_str_radix(size, 16), chunk),
            (Ok(block.len()), format!("{block}\r\n").as_str()),
            "{path}: the first bytes of the body"
        );
    }
}

#[tokio::test]
async fn multi_topic_order_with_json_and_form_publishes() {
    let s = start(Hub::new(), Config::default()).await;
    let mut items = s.subscribe("topic=a&topic=b", None).await;
    s.publish_ok("a", "1").await;
    s.publish_ok("c", "other").await;
    let form = s
        .http
        .post(format!("{}/publish", s.base))
        .form(&[("topic", "b"), ("data", "2"), ("event", "note")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let (status, _) = s.publish(json!({"topics": ["a", "b"], "data": "3"})).await;
    assert_eq!(status, 200);
    let got = next_events(&mut items, 3).await;
    assert_eq!(data(&got), ["1", "2", "3"]);
    assert_eq!(got[1].event, "note");
}

#[tokio::test]
async fn resume_by_header_and_by_query_parameter() {
    let s = start(Hub::new(), Config::default()).await;
    let mut ids = Vec::new();
    for i in 1..=5 {
        ids.push(s.publish_ok("t", &i.to_string()).await);
    }
    let mut by_header = s.subscribe("topic=t", Some(&ids[1])).await;
    let query = format!("topic=t&lastEventId={}", ids[2]);
    let mut by_query = s.subscribe(&query, None).await;
    // Header wins over the query parameter (a browser's reconnection).
    let mut both = s.subscribe(&query, Some(&ids[3])).await;
    s.publish_ok("t", "6").await;
    assert_eq!(
        data(&next_events(&mut by_header, 4).await),
        ["3", "4", "5", "6"]
    );
    assert_eq!(data(&next_events(&mut by_query, 3).await), ["4", "5", "6"]);
    assert_eq!(data(&next_events(&mut both, 2).await), ["5", "6"]);
}

#[tokio::test]
async fn unknown_id_gets_a_reset_first() {
    let s = start(Hub::new(), Config::default()).await;
    let head = s.publish_ok("t", "1").await;
    let mut items = s.subscribe("topic=t", Some("nope")).await;
    let reset = next_events(&mut items, 1).await.remove(0);
    assert_eq!(reset.event, "ssehub-reset");
    assert_eq!(reset.last_event_id, head);
    let body: Value = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(body, json!({"reason": "unknown-id", "lastEventId": "nope"}));
}

#[tokio::test]
async fn bad_input_gets_json_4xx_and_loses_nothing() {
    let config = Config {
        max_body_bytes: 1000,
        ..Config::default()
    };
    let s = start(Hub::new(), config).await;
    let first = s.publish_ok("t", "kept 1").await;
    s.publish_ok("t", "kept 2").await;

    let post = || s.http.post(format!("{}/publish", s.base));
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (post().json(&json!({"data": "x"})), 400, "missing_topic"),
        (post().json(&json!({"topic": "t"})), 400, "missing_data"),
        (
            post().json(&json!({"topic": "t", "data": 5})),
            400,
            "invalid_json",
        ),
        (
            post().json(&json!({"topic": "t", "data": "x", "id": "7"})),
            400,
            "invalid_json",
        ),
        (
            post().json(&json!({"topic": "", "data": "x"})),
            400,
            "invalid_topic",
        ),
        (
            post().json(&json!({"topic": "t", "data": "x", "event": "a\nb"})),
            400,
            "invalid_event",
        ),
        (
            post()
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "invalid_json",
        ),
        (
            post().header("content-type", "text/plain").body("x"),
            415,
            "unsupported_media_type",
        ),
        (
            s.http.post(format!("{}/publish", s.base)).form(&[
                ("topic", "t"),
                ("data", "x"),
                ("retry", "soon"),
            ]),
            400,
            "invalid_retry",
        ),
        (
            post().form(&[("topic", "t"), ("dta", "x")]),
            400,
            "unknown_field",
        ),
        (
            post().json(&json!({"topic": "t", "data": "x".repeat(2000)})),
            413,
            "body_too_large",
        ),
        (
            s.http.get(format!("{}/events", s.base)),
            400,
            "missing_topic",
        ),
        (
            s.http.get(format!("{}/publish", s.base)),
            405,
            "method_not_allowed",
        ),
        (s.http.get(format!("{}/nowhere", s.base)), 404, "not_found"),
    ];
    for (request, status, code) in cases {
        let res = request.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{code}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    // Everything accepted before is still there.
    let mut items = s.subscribe("topic=t", Some(&first)).await;
    assert_eq!(data(&next_events(&mut items, 1).await), ["kept 2"]);
    assert_eq!(s.hub.stats().events_published, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connects_and_disconnects_leave_counts_at_zero() {
    let s = start(Hub::new(), Config::default()).await;
    for batch in 0..10 {
        let streams = futures_util::future::join_all((0..100).map(|i| {
            s.subscribe(
                if i % 2 == 0 {
                    "topic=x"
                } else {
                    "topic=y&topic=z"
                },
                None,
            )
        }))
        .await;
        assert_eq!(s.hub.stats().connections, 100, "batch {batch}");
        drop(streams);
        tokio::time::timeout(Duration::from_secs(10), s.hub.wait_until_idle())
            .await
            .expect("every closed connection is unregistered");
    }
    let stats = s.hub.stats();
    assert_eq!((stats.connections, stats.topics), (0, 0));
}

/// What connects leave in the allocator goes back to the system once they
/// are over (`trim.rs`): the trims are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allocator_is_trimmed_once_connections_have_come_and_gone() {
    let s = start(Hub::new(), Config::default()).await;
    let remote = &s.remote;
    // Waits until the trims counted reach `least` (one connection, the
    // scrapes' own, kept open by the client: scraping changes nothing).
    let trims_reach = |least: u64| {
        within("a trim", async move {
            loop {
                let trims = remote.metric("ssehub_allocator_trims_total").await;
                if trims >= least {
                    return trims;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // The scrapes' connection came: a trim once it has settled.
    let before = trims_reach(1).await;
    let streams =
        futures_util::future::join_all((0..200).map(|_| s.subscribe("topic=x", None))).await;
    assert_eq!(s.hub.stats().connections, 200);
    drop(streams);
    within("every stream gone", s.hub.wait_until_idle()).await;
    trims_reach(before + 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_each_receive_every_event_of_a_burst() {
    let s = start(Hub::new(), Config::default()).await;
    let streams: Vec<Items> =
        futures_util::future::join_all((0..1000).map(|_| s.subscribe("topic=burst", None))).await;
    assert_eq!(s.hub.stats().connections, 1000);
    for i in 0..50 {
        s.publish_ok("burst", &i.to_string()).await;
    }
    let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let readers = streams.into_iter().map(|mut items| {
        let expected = expected.clone();
        tokio::spawn(async move { data(&next_events(&mut items, 50).await) == expected })
    });
    let ok = futures_util::future::join_all(readers).await;
    assert!(ok.into_iter().all(|r| r.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_never_holds_up_others_and_its_memory_is_bounded() {
    let buffer = 256 << 10;
    let hub = Hub::builder().buffer_bytes(buffer).build();
    let s = start(hub, Config::default()).await;
    // A client that sends its request and never reads a byte.
    let mut stalled = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stalled
        .write_all(b"GET /events?topic=big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reader = s.subscribe("topic=big", None).await;
    // Both registered (the reader's headers are out; wait for the stalled one).
    within("the stalled client's subscription", async {
        while s.hub.stats().connections < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let payload = "p".repeat(64 << 10);
    let events = 1280; // 80 MiB
    let (progress, mut seen) = tokio::sync::watch::channel(0usize);
    let reading = tokio::spawn(async move {
        let mut got = 0;
        while got < events {
            let e = next_events(&mut reader, 1).await.remove(0);
            assert_eq!(e.data.len(), 64 << 10);
            got += 1;
            let _ = progress.send(got);
        }
        (got, reader) // still connected
    });
    let mut max_queued = 0;
    for i in 0..events {
        // Keep within the reader's bound; the stalled client gets no say.
        seen.wait_for(|&n| n + 2 >= i).await.unwrap();
        s.hub
            .publish("big", ssehub::Event::data(&payload))
            .await
            .unwrap();
        max_queued = max_queued.max(s.hub.stats().queued_bytes);
    }
    let (got, _reader) = reading.await.unwrap();
    assert_eq!(got, events);
    let stats = s.hub.stats();
    assert_eq!(stats.lag_disconnects, 1, "the stalled client was cut off");
    assert!(
        max_queued <= 2 * buffer + 2 * (66 << 10),
        "queued at most two bounds: {max_queued}"
    );
    assert_eq!(stats.connections, 1, "and no longer counts");
    // Its connection was closed by the server: reading it now drains what the
    // kernel buffered, then ends, far short of the 80 MiB published.
    let mut drained = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => drained += n,
            Err(_) => panic!("the stalled connection is still open after {drained} bytes"),
        }
    }
    assert!(
        drained < 40 << 20,
        "{drained} bytes reached the stalled client"
    );
}

/// An idle stream waits without a task of its own; a client that stops
/// reading for a while (its socket fills) gets the backlog in order once it
/// reads again, then live events as before, and its leaving is noticed. Twice,
/// on a runtime of one thread: one shard parks the stream each time.
#[tokio::test]
async fn a_client_that_pauses_gets_the_backlog_then_live_events() {
    let hub = Hub::builder().buffer_bytes(64 << 20).build();
    let s = start(hub, Config::default()).await;
    let mut items = s.subscribe("topic=t", None).await;
    let first = s.publish_ok("t", "first").await;
    assert_eq!(next_events(&mut items, 1).await[0].last_event_id, first);
    let payload = "p".repeat(32 << 10);
    for pause in 1..=2 {
        // Not read from now on: publish until the hub holds a backlog for
        // it (the kernel's buffers are full, so writes wait).
        let mut published = 0;
        within("a backlog for the paused client", async {
            while s.hub.stats().queued_bytes < 4 << 20 {
                s.hub
                    .publish("t", ssehub::Event::data(&payload))
                    .await
                    .unwrap();
                published += 1;
            }
        })
        .await;
        for e in next_events(&mut items, published).await {
            assert_eq!(e.data.len(), payload.len());
        }
        assert_eq!(s.hub.stats().queued_bytes, 0, "all of it written");
        // The stream is idle again; a live event still reaches it.
        let after = s.publish_ok("t", "after").await;
        let e = next_events(&mut items, 1).await.remove(0);
        assert_eq!((e.data.as_str(), e.last_event_id), ("after", after));
        let stats = s.hub.stats();
        assert_eq!((stats.connections, stats.lag_disconnects), (1, 0));
        // It went through a task of its own while its client did not read.
        let unparks = s.metric("ssehub_stream_unparks_total").await;
        assert!(unparks >= pause, "pause {pause}: {unparks} unparks");
    }
    drop(items);
    within("the stream's end", s.hub.wait_until_idle()).await;
}

#[tokio::test]
async fn shutdown_ends_streams_and_returns() {
    let mut s = start(Hub::new(), Config::default()).await;
    let mut items = s.subscribe("topic=t", None).await;
    s.stop.take().unwrap().send(()).unwrap();
    // No event came: the stream ends with the retry hint alone (no blank
    // line, so no event), then ends.
    let item = within("the end of the stream", items.next()).await;
    assert_eq!(item.unwrap().unwrap(), Item::Retry(2000));
    let end = within("the end of the stream", items.next()).await;
    assert!(end.is_none(), "the stream ends");
    tokio::time::timeout(Duration::from_secs(10), s.done)
        .await
        .expect("run returns within the grace period")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn healthz_reports_counts() {
    let s = start(Hub::new(), Config::default()).await;
    let _items = s.subscribe("topic=a&topic=b", None).await;
    s.publish_ok("a", "x").await;
    let body: Value = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["connections"], 1);
    assert_eq!(body["topics"], 2);
    assert_eq!(body["events_published"], 1);
}

#[tokio::test]
async fn signals_over_http() {
    let s = start(Hub::new(), Config::default()).await;
    let url = format!("{}/signals/room/1", s.base);
    let send = |method: reqwest::Method, content_type: &'static str, body: &'static str| {
        s.http
            .request(method, &url)
            .header("content-type", content_type)
            .body(body)
    };
    let status_and_body = |res: reqwest::Response| async move {
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    };

    let (status, body) = status_and_body(s.http.get(&url).send().await.unwrap()).await;
    assert_eq!((status, &body["error"]), (404, &json!("signal_not_found")));

    let mut items = s.subscribe("topic=room/1", None).await;
    let put = send(
        reqwest::Method::PUT,
        "application/json",
        r#"{"users": ["ann"]}"#,
    );
    assert_eq!(
        status_and_body(put.send().await.unwrap()).await,
        (200, json!({"version": 0}))
    );
    let patch = send(
        reqwest::Method::PATCH,
        "application/json-patch+json",
        r#"[{"op": "add", "path": "/users/-", "value": "bob"}]"#,
    );
    assert_eq!(
        status_and_body(patch.send().await.unwrap()).await,
        (200, json!({"version": 1}))
    );
    let (status, body) = status_and_body(s.http.get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"version": 1, "value": {"users": ["ann", "bob"]}})
        )
    );

    // The subscriber saw the creation's snapshot, then the patch.
    let got = next_events(&mut items, 2).await;
    assert_eq!(got[0].event, "room/1");
    let snapshot: Value = serde_json::from_str(&got[0].data).unwrap();
    assert_eq!(snapshot, json!({"v": 0, "snapshot": {"users": ["ann"]}}));
    let patch: Value = serde_json::from_str(&got[1].data).unwrap();
    assert_eq!(
        patch,
        json!({"v": 1, "patch": [{"op": "add", "path": "/users/1", "value": "bob"}]}),
        "the change as one diff of the value"
    );

    for (method, content_type, body, status, code) in [
        (
            reqwest::Method::PATCH,
            "application/json-patch+json",
            r#"[{"op": "test", "path": "/users/0", "value": "zed"}]"#,
            409,
            "test_failed",
        ),
        (
            reqwest::Method::PATCH,
            "application/json-patch+json",
            r#"[{"op": "remove", "path": "/nothing"}]"#,
            409,
            "patch_failed",
        ),
        (
            reqwest::Method::PATCH,
            "application/json-patch+json",
            r#"[{"op": "jump", "path": "/"}]"#,
            400,
            "invalid_patch",
        ),
        (
            reqwest::Method::PATCH,
            "application/json-patch+json",
            r#"{"not": "a list"}"#,
            400,
            "invalid_patch",
        ),
        (
            reqwest::Method::PUT,
            "application/json",
            r#"{"broken"#,
            400,
            "invalid_json",
        ),
        (
            reqwest::Method::PUT,
            "text/plain",
            r#"1"#,
            415,
            "unsupported_media_type",
        ),
    ] {
        let (got_status, got_body) =
            status_and_body(send(method, content_type, body).send().await.unwrap()).await;
        assert_eq!(
            (got_status, &got_body["error"]),
            (status, &json!(code)),
            "{body}"
        );
        assert!(got_body["message"].is_string());
    }
    // Nothing changed by the refused requests.
    assert_eq!(s.hub.signal_value("room/1").await.unwrap().unwrap().0, 1);
    let res = s
        .http
        .patch(format!("{}/signals/nobody", s.base))
        .header("content-type", "application/json-patch+json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn serves_the_page_scripts() {
    let s = start(Hub::new(), Config::default()).await;
    for (path, needle) in [
        ("/ssehub.js", "export function signal"),
        ("/ssehub-htmx.js", "htmx.createEventSource = function"),
    ] {
        let res = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"),
            "{path}"
        );
        assert!(res.text().await.unwrap().contains(needle), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_400_413_429_and_free_up() {
    let config = Config {
        max_topics: 2,
        max_event_bytes: 10,
        max_connections_per_ip: 3,
        ..Config::default()
    };
    let s = start(Hub::new(), config).await;
    let code = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        (status, body["error"].as_str().unwrap().to_owned())
    };
    let res = s
        .http
        .get(format!("{}/events?topic=a&topic=b&topic=c", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(code(res).await, (400, "too_many_topics".to_owned()));
    let (status, body) = s
        .publish(json!({"topic": "a", "data": "01234567890"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("event_too_large"))
    );
    s.publish_ok("a", "0123456789").await;

    let open: Vec<_> =
        futures_util::future::join_all((0..3).map(|_| s.subscribe("topic=a", None))).await;
    let res = s
        .http
        .get(format!("{}/events?topic=a", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(code(res).await, (429, "too_many_connections".to_owned()));
    drop(open);
    // The places free up once the server has seen the connections close.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let res = s
                .http
                .get(format!("{}/events?topic=a", s.base))
                .send()
                .await
                .unwrap();
            if res.status() == 200 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a place frees up");
}

#[tokio::test]
async fn metrics_in_prometheus_text() {
    let s = start(Hub::new(), Config::default()).await;
    let mut items = s.subscribe("topic=m", None).await;
    s.publish_ok("m", "x").await;
    next_events(&mut items, 1).await;
    let res = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    for line in [
        "# TYPE ssehub_connections gauge",
        "ssehub_connections 1",
        "ssehub_events_published_total 1",
        "ssehub_events_delivered_total 1",
        "ssehub_lag_disconnects_total 0",
        "ssehub_auth_failures_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    let sent: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ssehub_bytes_sent_total "))
        .expect("bytes sent")
        .parse()
        .unwrap();
    assert!(sent > 0, "the stream's bytes are counted");
}

#[tokio::test]
async fn cors_for_configured_origins_only() {
    let config = Config {
        cors_origins: vec!["http://app.example".parse().unwrap()],
        ..Config::default()
    };
    let s = start(Hub::new(), config).await;
    let events = |origin: &'static str| {
        s.http
            .get(format!("{}/events?topic=c", s.base))
            .header("origin", origin)
            .send()
    };
    let ok = events("http://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let other = events("http://evil.example").await.unwrap();
    assert_eq!(other.status(), 200, "served, but the browser gets no grant");
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let preflight = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/publish", s.base))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.example");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let publish = s
        .http
        .post(format!("{}/publish", s.base))
        .header("origin", "http://app.example")
        .json(&json!({"topic": "c", "data": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        publish.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let evil = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/publish", s.base))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_others_go_on() {
    let config = Config {
        connect_rate: 2, // bursts of 4
        publish_rate: 1, // bursts of 2
        ..Config::default()
    };
    let s = start(Hub::new(), config).await;
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.push(s.subscribe("topic=r", None).await);
    }
    let refused = s
        .http
        .get(format!("{}/events?topic=r", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "retry after {wait} s");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    s.publish_ok("r", "1").await;
    s.publish_ok("r", "2").await;
    let (status, body) = s.publish(json!({"topic": "r", "data": "3"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited"))
    );
    // What was accepted reaches every open stream.
    for items in &mut streams {
        assert_eq!(data(&next_events(items, 2).await), ["1", "2"]);
    }
}
