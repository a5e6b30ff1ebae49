//! Client benchmark: events per second that one client connection reads and
//! parses, `ssehub-client` against launchdarkly's `eventsource-client` (on its
//! hyper transport), both reading the same stream served over loopback by a
//! tiny server in this file (a pre-encoded response written as fast as the
//! socket takes it, on its own thread and runtime).
//!
//! Run: `cargo bench -p ssehub-bench --bench client`; results in
//! docs/benchmarks.md.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Events per connection.
const EVENTS: usize = 20_000;

/// Small events as a hub sends them: type, id, a short JSON payload.
fn stream_body() -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\nretry: 60000\n\n".to_vec();
    for i in 0..EVENTS {
        out.extend_from_slice(
            format!("event: tick\nid: {i}\ndata: {{\"n\":{i},\"t\":1700000000123}}\n\n").as_bytes(),
        );
    }
    out
}

/// Serves `body` to every connection, then closes it.
fn serve() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let body: Arc<[u8]> = stream_body().into();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let body = Arc::clone(&body);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read_u8().await {
                            Ok(b) => head.push(b),
                            Err(_) => return,
                        }
                    }
                    let _ = s.write_all(&body).await;
                });
            }
        });
    });
    addr
}

async fn read_ssehub(url: &str) -> usize {
    let mut events = ssehub_client::EventSource::builder(url)
        .retry(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut n = 0;
    while let Some(event) = events.next().await {
        if let ssehub_client::Event::Message(_) = event.unwrap() {
            n += 1;
            if n == EVENTS {
                break;
            }
        }
    }
    n
}

async fn read_launchdarkly(url: &str) -> usize {
    use eventsource_client::Client;
    let transport = launchdarkly_sdk_transport::HyperTransport::new().unwrap();
    let client = eventsource_client::ClientBuilder::for_url(url)
        .unwrap()
        .build_with_transport(transport);
    let mut stream = client.stream();
    let mut n = 0;
    while let Some(event) = stream.next().await {
        if let eventsource_client::SSE::Event(_) = event.unwrap() {
            n += 1;
            if n == EVENTS {
                break;
            }
        }
    }
    n
}

fn client(c: &mut Criterion) {
    let addr = serve();
    let url = format!("http://{addr}/events");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("client/one connection, small events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("ssehub-client", |b| {
        b.iter(|| assert_eq!(rt.block_on(read_ssehub(&url)), EVENTS));
    });
    group.bench_function("eventsource-client 0.18", |b| {
        b.iter(|| assert_eq!(rt.block_on(read_launchdarkly(&url)), EVENTS));
    });
    group.finish();
}

criterion_group!(benches, client);
criterion_main!(benches);
