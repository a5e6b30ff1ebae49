//! `ssehub::axum::Listener` with `SubscribeOptions::on_lag(Peer::cut)`, as
//! docs/adapters.md and docs/protocol.md promise: a real axum server on
//! loopback, a client that stops reading, and the hub cuts its connection
//! (a stream stuck in a write cannot end itself), while another subscriber
//! gets every event.
#![cfg(feature = "axum")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use ssehub::axum::{Listener, Peer};
use ssehub::{Event, Hub, SubscribeOptions};
use ssehub_core::{Item, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest any awaited thing may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct App {
    hub: Hub,
    /// How many times the lag callback ran.
    cuts: Arc<AtomicUsize>,
}

async fn events(State(app): State<App>, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    let cuts = app.cuts.clone();
    let options = SubscribeOptions::new("t").on_lag(move || {
        cuts.fetch_add(1, Ordering::SeqCst);
        peer.cut();
    });
    match app.hub.subscribe_with(options).await {
        Ok(subscription) => subscription.into_response(),
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_others_get_everything() {
    let buffer = 64 << 10;
    let hub = Hub::builder().buffer_bytes(buffer).keepalive(None).build();
    let cuts = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route("/events", get(events)).with_state(App {
        hub: hub.clone(),
        cuts: cuts.clone(),
    });
    // Small socket buffers on the server's side (accepted connections
    // inherit the listener's), so that a client that stops reading stalls
    // the server's writes soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(16 << 10).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(64).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<Peer>();
        axum::serve(Listener::new(listener), app).await
    });

    // A client that sends its request and never reads a byte (a small
    // receive window, so that the server's writes stall soon).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let response = tokio::time::timeout(WAIT, reqwest::get(format!("http://{addr}/events")))
        .await
        .expect("the reader's response headers")
        .unwrap();
    let mut body = response.bytes_stream();
    tokio::time::timeout(WAIT, async {
        while hub.stats().connections < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("both clients subscribed");

    // The reader reports its progress, so that the publisher stays within
    // its bound; the stalled client gets no say.
    let (progress, mut seen) = tokio::sync::watch::channel(0usize);
    let reading = tokio::spawn(async move {
        let mut parser = Parser::new();
        let mut got = Vec::new();
        loop {
            let chunk = tokio::time::timeout(WAIT, body.next())
                .await
                .expect("the reader was held up")
                .expect("the reader's stream ended")
                .unwrap();
            parser.feed(&chunk).unwrap();
            for item in parser.drain() {
                if let Item::Event(e) = item {
                    if e.data == "end" {
                        return got;
                    }
                    got.push(e.last_event_id);
                    let _ = progress.send(got.len());
                }
            }
        }
    });
    let payload = "p".repeat(16 << 10);
    let mut published = Vec::new();
    // At most 40 MiB: far more than the stalled client's socket buffers and
    // its queue hold.
    let mut after_cut = 0;
    for i in 0..2560 {
        // Once it was cut, more for the reader (none of which may reach the
        // stalled client), then enough.
        if hub.stats().lag_disconnects > 0 {
            after_cut += 1;
            if after_cut > 100 {
                break;
            }
        }
        tokio::time::timeout(WAIT, seen.wait_for(|&n| n + 2 >= i))
            .await
            .expect("the reader kept up")
            .unwrap();
        published.push(hub.publish("t", Event::data(&payload)).await.unwrap());
    }
    let stats = hub.stats();
    assert_eq!(stats.lag_disconnects, 1, "the stalled client was cut off");
    assert_eq!(cuts.load(Ordering::SeqCst), 1, "through Peer::cut, once");
    assert_eq!(stats.connections, 1, "and no longer counts");
    hub.publish("t", Event::data("end")).await.unwrap();
    let got = tokio::time::timeout(WAIT, reading)
        .await
        .expect("the reader got to the end")
        .unwrap();
    let published: Vec<String> = published.iter().map(|id| id.to_string()).collect();
    assert_eq!(got, published, "the reader got every event, in order");

    // The stalled connection was closed by the server: reading it now drains
    // what the kernel buffered, then ends, in the middle of the response.
    // (Without the cut, the server stays stuck in its write; once the client
    // reads, the stream ends, the response is finished and the connection
    // kept open for the next request: this read would wait for good.)
    let mut drained = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(WAIT, stalled.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => drained.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the stalled connection is still open after {} bytes",
                drained.len()
            ),
        }
    }
    assert!(
        !drained.ends_with(b"\r\n0\r\n\r\n"),
        "the response was finished, not cut"
    );
    let last = format!("id: {}\n", published.last().unwrap());
    let text = String::from_utf8_lossy(&drained);
    assert!(
        !text.contains(&last),
        "the stalled client got an event published after its cut"
    );
    server.abort();
}
