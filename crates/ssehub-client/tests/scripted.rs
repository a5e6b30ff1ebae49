//! `EventSource` and `RemoteSignal` against a scripted server: each test's
//! server writes exact bytes, drops connections where it wants, and checks
//! what the client sent.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use ssehub_client::{Error, Event, EventSource, ReconnectReason, RemoteSignal};
use support::{Script, GUARD, SSE_CHUNKED, SSE_CLOSE};
use tokio::time::Instant;

async fn next(events: &mut EventSource) -> Option<Result<Event, Error>> {
    tokio::time::timeout(GUARD, events.next())
        .await
        .expect("no event came")
}

async fn message(events: &mut EventSource) -> ssehub_client::MessageEvent {
    match next(events).await {
        Some(Ok(Event::Message(m))) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn reconnecting(events: &mut EventSource) -> (u32, Duration, ReconnectReason) {
    match next(events).await {
        Some(Ok(Event::Reconnecting {
            attempt,
            delay,
            reason,
        })) => (attempt, delay, reason),
        other => panic!("expected a reconnect, got {other:?}"),
    }
}

#[tokio::test]
async fn a_half_event_is_not_dispatched_and_its_id_is_not_sent() {
    let script = Script::bind().await;
    let mut events = EventSource::builder(script.url("/events"))
        .retry(Duration::from_millis(1))
        .build()
        .unwrap();
    let server = tokio::spawn(async move {
        let mut conn = script.accept().await;
        assert_eq!(conn.request.header("last-event-id"), None);
        assert_eq!(conn.request.header("accept"), Some("text/event-stream"));
        conn.write(SSE_CHUNKED).await;
        conn.chunk("id: 1\ndata: one\n\nid: 2\ndata: tw").await;
        // Dropped mid-event and mid-chunk: a network error for the client.
        drop(conn);
        let mut conn = script.accept().await;
        assert_eq!(conn.request.header("last-event-id"), Some("1"));
        conn.write(SSE_CLOSE).await;
        conn.write("data: three\n\nid: 3\ndata: fou").await;
        // Ended mid-event, cleanly this time.
        drop(conn);
        let conn = script.accept().await;
        assert_eq!(conn.request.header("last-event-id"), Some("1"));
        conn.no_content().await;
    });
    let one = message(&mut events).await;
    assert_eq!(
        (one.data.as_str(), one.last_event_id.as_str()),
        ("one", "1")
    );
    let (attempt, _, reason) = reconnecting(&mut events).await;
    assert_eq!(attempt, 1);
    assert!(matches!(reason, ReconnectReason::Network(_)), "{reason}");
    assert_eq!(events.last_event_id(), "1");
    let three = message(&mut events).await;
    // The new stream inherits the last event id.
    assert_eq!(
        (three.data.as_str(), three.last_event_id.as_str()),
        ("three", "1")
    );
    let (attempt, delay, reason) = reconnecting(&mut events).await;
    assert!(matches!(reason, ReconnectReason::Ended), "{reason}");
    assert_eq!((attempt, delay), (1, Duration::from_millis(1)));
    assert!(next(&mut events).await.is_none(), "204 ends the stream");
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn server_errors_back_off_exponentially_up_to_the_cap() {
    let script = Script::bind().await;
    let mut events = EventSource::builder(script.url("/events"))
        .retry(Duration::from_millis(200))
        .max_backoff(Duration::from_millis(500))
        .build()
        .unwrap();
    let server = tokio::spawn(async move {
        let mut times = Vec::new();
        for _ in 0..3 {
            let conn = script.accept().await;
            times.push(conn.at);
            conn.respond("503 Service Unavailable", "text/plain", "busy")
                .await;
        }
        let mut conn = script.accept().await;
        times.push(conn.at);
        conn.write(SSE_CLOSE).await;
        conn.write("data: at last\n\n").await;
        drop(conn);
        script.accept().await.no_content().await;
        times
    });
    let mut delays = Vec::new();
    for expected in 1..=3 {
        let (attempt, delay, reason) = reconnecting(&mut events).await;
        assert_eq!(attempt, expected);
        assert!(
            matches!(reason, ReconnectReason::Status(s) if s.as_u16() == 503),
            "{reason}"
        );
        delays.push(delay);
    }
    assert_eq!(message(&mut events).await.data, "at last");
    // After a successful connection the count starts again.
    let (attempt, delay, _) = reconnecting(&mut events).await;
    assert_eq!((attempt, delay), (1, Duration::from_millis(200)));
    assert!(next(&mut events).await.is_none());
    let times = server.await.unwrap();

    let ms = |d: Duration| d.as_millis();
    // Base 200 ms doubling, jittered into the upper half, never under retry,
    // capped at 500 ms.
    assert_eq!(ms(delays[0]), 200, "{delays:?}");
    assert!((200..=400).contains(&ms(delays[1])), "{delays:?}");
    assert!((250..=500).contains(&ms(delays[2])), "{delays:?}");
    for (i, delay) in delays.iter().enumerate() {
        assert!(times[i + 1] - times[i] >= *delay, "{times:?} {delays:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_is_honoured_even_above_the_backoff_cap() {
    let script = Script::bind().await;
    let mut events = EventSource::builder(script.url("/events"))
        .max_backoff(Duration::from_millis(100))
        .build()
        .unwrap();
    let server = tokio::spawn(async move {
        let mut conn = script.accept().await;
        conn.write(SSE_CLOSE).await;
        conn.write("retry: 5000\nid: a\ndata: x\n\n").await;
        drop(conn);
        let closed = Instant::now();
        let conn = script.accept().await;
        let first = conn.at - closed;
        assert_eq!(conn.request.header("last-event-id"), Some("a"));
        conn.respond("502 Bad Gateway", "text/plain", "").await;
        let closed = Instant::now();
        let conn = script.accept().await;
        let second = conn.at - closed;
        assert_eq!(conn.request.header("last-event-id"), Some("a"));
        conn.no_content().await;
        (first, second)
    });
    assert!(matches!(
        next(&mut events).await,
        Some(Ok(Event::Retry(5000)))
    ));
    assert_eq!(message(&mut events).await.data, "x");
    let (_, delay, _) = reconnecting(&mut events).await;
    assert_eq!(delay, Duration::from_millis(5000));
    let (_, delay, _) = reconnecting(&mut events).await;
    assert_eq!(delay, Duration::from_millis(5000));
    assert!(next(&mut events).await.is_none());
    let (first, second) = server.await.unwrap();
    assert!(first >= Duration::from_millis(5000), "{first:?}");
    assert!(second >= Duration::from_millis(5000), "{second:?}");
    // Paused time advances only to the next timer: not much later either.
    assert!(first < Duration::from_millis(5100), "{first:?}");
}

#[tokio::test]
async fn no_content_ends_the_stream_cleanly() {
    let script = Script::bind().await;
    let mut events = EventSource::new(script.url("/events")).unwrap();
    let server = tokio::spawn(async move { script.accept().await.no_content().await });
    assert!(next(&mut events).await.is_none());
    assert!(next(&mut events).await.is_none());
    server.await.unwrap();
}

#[tokio::test]
async fn unauthorized_ends_the_stream_with_an_error() {
    let script = Script::bind().await;
    let mut events = EventSource::builder(script.url("/events?topic=private"))
        .bearer_token("not-a-jwt")
        .header("X-Trace", "42")
        .last_event_id("7")
        .build()
        .unwrap();
    let server = tokio::spawn(async move {
        let conn = script.accept().await;
        assert_eq!(conn.request.target, "/events?topic=private");
        assert_eq!(
            conn.request.header("authorization"),
            Some("Bearer not-a-jwt")
        );
        assert_eq!(conn.request.header("x-trace"), Some("42"));
        assert_eq!(conn.request.header("last-event-id"), Some("7"));
        conn.respond(
            "401 Unauthorized",
            "application/json",
            r#"{"error": "unauthorized", "message": "a token is required"}"#,
        )
        .await;
    });
    let error = next(&mut events).await.unwrap().unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    assert!(error.to_string().contains("a token is required"), "{error}");
    assert!(next(&mut events).await.is_none());
    server.await.unwrap();
}

#[tokio::test]
async fn a_wrong_content_type_is_an_error() {
    let script = Script::bind().await;
    let mut events = EventSource::new(script.url("/")).unwrap();
    let server = tokio::spawn(async move {
        script
            .accept()
            .await
            .respond("200 OK", "text/html", "<p>data: no</p>\n\n")
            .await;
    });
    let error = next(&mut events).await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::ContentType(t) if t == "text/html"),
        "{error}"
    );
    assert!(next(&mut events).await.is_none());
    server.await.unwrap();
}

#[tokio::test]
async fn typed_events() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Point {
        x: i32,
        y: i32,
    }
    let script = Script::bind().await;
    let mut events = EventSource::new(script.url("/")).unwrap();
    let server = tokio::spawn(async move {
        let mut conn = script.accept().await;
        conn.write(SSE_CLOSE).await;
        conn.write("retry: 1\ndata: {\"x\": 1,\ndata: \"y\": 2}\n\ndata: nope\n\n")
            .await;
        drop(conn);
        script.accept().await.no_content().await;
    });
    let point: Point = events.next_json().await.unwrap().unwrap();
    assert_eq!(point, Point { x: 1, y: 2 });
    let error = events.next_json::<Point>().await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Json(_)), "{error}");
    assert!(events.next_json::<Point>().await.is_none());
    server.await.unwrap();
}

#[tokio::test]
async fn a_remote_signal_resyncs_on_a_version_gap() {
    let script = Script::bind().await;
    let base = script.url("");
    let server = tokio::spawn(async move {
        let mut conn = script.accept().await;
        assert_eq!(conn.request.target, "/events?topic=count");
        conn.write(SSE_CHUNKED).await;
        conn.chunk("id: 1\nevent: count\ndata: {\"v\": 0, \"snapshot\": 10}\n\n")
            .await;
        conn.chunk("id: 2\nevent: count\ndata: {\"v\": 1, \"patch\": [{\"op\": \"replace\", \"path\": \"\", \"value\": 11}]}\n\n")
            .await;
        // Version 2 went missing: the client must not show -1, and must
        // start again without Last-Event-ID.
        conn.chunk("id: 4\nevent: count\ndata: {\"v\": 3, \"patch\": [{\"op\": \"replace\", \"path\": \"\", \"value\": -1}]}\n\n")
            .await;
        let mut again = script.accept().await;
        assert_eq!(again.request.header("last-event-id"), None);
        drop(conn);
        again.write(SSE_CHUNKED).await;
        again
            .chunk("id: 5\nevent: count\ndata: {\"v\": 4, \"snapshot\": 13}\n\n")
            .await;
        again
    });
    let mut count = RemoteSignal::<i64>::connect(&base, "count").await.unwrap();
    let mut seen = vec![(count.version(), count.get())];
    while count.version() < 4 {
        tokio::time::timeout(GUARD, count.changed())
            .await
            .unwrap()
            .unwrap();
        seen.push((count.version(), count.get()));
    }
    // `changed` may skip intermediate values, never show a wrong one.
    assert!(
        seen.iter()
            .all(|&(v, n)| matches!((v, n), (0, 10) | (1, 11) | (4, 13))),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&(4, 13)));
    drop(server.await.unwrap());
}

/// Data that is not a signal message resyncs, like a gap (the rule of
/// `ssehub_core::protocol::signal`): a new stream without Last-Event-ID,
/// what is left of the old one ignored, and the value follows the new
/// snapshot. Before the first snapshot too; resyncs at most one a second.
#[tokio::test]
async fn a_remote_signal_resyncs_on_a_malformed_message() {
    let script = Script::bind().await;
    let base = script.url("");
    let server = tokio::spawn(async move {
        let mut first = script.accept().await;
        let started = first.at;
        first.write(SSE_CHUNKED).await;
        first.chunk("id: 1\nevent: count\ndata: not json\n\n").await;
        let mut second = script.accept().await;
        assert_eq!(second.request.target, "/events?topic=count");
        assert_eq!(second.request.header("last-event-id"), None);
        drop(first);
        second.write(SSE_CHUNKED).await;
        second
            .chunk("id: 2\nevent: count\ndata: {\"v\": 0, \"snapshot\": 10}\n\n")
            .await;
        second.chunk("id: 3\nevent: count\ndata: {\"v\": 1, \"patch\": [{\"op\": \"replace\", \"path\": \"\", \"value\": 11}]}\n\n")
            .await;
        // Neither snapshot nor patch, then a patch that would apply: the
        // client resyncs at the first and ignores the second.
        second.chunk("id: 4\nevent: count\ndata: {\"v\": 2}\n\nid: 5\nevent: count\ndata: {\"v\": 2, \"patch\": [{\"op\": \"replace\", \"path\": \"\", \"value\": 99}]}\n\n")
            .await;
        let mut third = script.accept().await;
        assert_eq!(third.request.target, "/events?topic=count");
        assert_eq!(third.request.header("last-event-id"), None);
        assert!(
            third.at - started >= Duration::from_secs(1),
            "two resyncs at least a second apart"
        );
        drop(second);
        third.write(SSE_CHUNKED).await;
        third
            .chunk("id: 9\nevent: count\ndata: {\"v\": 5, \"snapshot\": 15}\n\n")
            .await;
        third
            .chunk("id: 10\nevent: count\ndata: {\"v\": 6, \"patch\": [{\"op\": \"replace\", \"path\": \"\", \"value\": 16}]}\n\n")
            .await;
        third
    });
    let mut count = tokio::time::timeout(GUARD, RemoteSignal::<i64>::connect(&base, "count"))
        .await
        .unwrap()
        .unwrap();
    let mut seen = vec![(count.version(), count.get())];
    while count.version() < 6 {
        tokio::time::timeout(GUARD, count.changed())
            .await
            .unwrap()
            .unwrap();
        seen.push((count.version(), count.get()));
    }
    // `changed` may skip intermediate values, never show a wrong one (99).
    assert!(
        seen.iter()
            .all(|&(v, n)| matches!((v, n), (0, 10) | (1, 11) | (5, 15) | (6, 16))),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&(6, 16)));
    drop(server.await.unwrap());
}

/// A value that does not fit the type is not mended by a resync (the hub
/// would send it again): it is an error.
#[tokio::test]
async fn a_remote_signal_whose_value_does_not_fit_its_type_fails() {
    let script = Script::bind().await;
    let base = script.url("");
    let server = tokio::spawn(async move {
        let mut conn = script.accept().await;
        conn.write(SSE_CHUNKED).await;
        conn.chunk("id: 1\nevent: count\ndata: {\"v\": 0, \"snapshot\": \"ten\"}\n\n")
            .await;
        conn
    });
    let error = tokio::time::timeout(GUARD, RemoteSignal::<i64>::connect(&base, "count"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, Error::Json(_)), "{error}");
    drop(server.await.unwrap());
}
