//! Wire-format benchmarks, each against a peer in the same run:
//! - parsing: `ssehub_core` against the `eventsource-stream` crate, both as
//!   `Stream` adapters over the same chunks (plus our bare `Parser`, queueing
//!   owned events and lending them);
//! - encoding: `ssehub_core::Event` against `axum::response::sse::Event`, both
//!   turned into the `Bytes` a response body yields.
//!
//! Run: `cargo bench -p ssehub-bench --bench wire`; results in docs/benchmarks.md.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures_executor::block_on;
use futures_util::{stream, StreamExt};

/// Many small events, as a hub sends them: type, id, a short JSON payload.
fn small_events(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!("event: tick\nid: {i}\ndata: {{\"n\":{i},\"t\":1700000000123}}\n\n").as_bytes(),
        );
    }
    out
}

/// Large multi-line events: 200 lines of 100 characters each.
fn large_events(n: usize) -> Vec<u8> {
    let line = "x".repeat(92);
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(format!("event: doc\nid: {i}\n").as_bytes());
        for _ in 0..200 {
            out.extend_from_slice(format!("data: {line}\n").as_bytes());
        }
        out.push(b'\n');
    }
    out
}

/// The input as a network would deliver it: 16 KiB reads.
fn chunks(input: &[u8]) -> Vec<Bytes> {
    input
        .chunks(16 * 1024)
        .map(Bytes::copy_from_slice)
        .collect()
}

fn ours_stream(chunks: Vec<Bytes>) -> usize {
    let s = stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    block_on(
        ssehub_core::EventStream::new(s).fold(0, |n, item| async move {
            match item.expect("valid input") {
                ssehub_core::Item::Event(e) => n + e.data.len(),
                ssehub_core::Item::Retry(_) => n,
            }
        }),
    )
}

fn ours_parser(chunks: &[Bytes]) -> usize {
    let mut parser = ssehub_core::Parser::new();
    let mut n = 0;
    for chunk in chunks {
        parser.feed(chunk).expect("valid input");
        while let Some(item) = parser.next_item() {
            if let ssehub_core::Item::Event(e) = item {
                n += e.data.len();
            }
        }
    }
    n
}

/// The parser lending each event (`feed_with`): nothing allocated per event.
fn ours_lent(chunks: &[Bytes]) -> usize {
    let mut parser = ssehub_core::Parser::new();
    let mut n = 0;
    for chunk in chunks {
        parser
            .feed_with(chunk, |item| {
                if let ssehub_core::ItemRef::Event(e) = item {
                    n += e.data.len();
                }
            })
            .expect("valid input");
    }
    n
}

fn theirs(chunks: Vec<Bytes>) -> usize {
    use eventsource_stream::Eventsource;
    let s = stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    block_on(s.eventsource().fold(
        0,
        |n, e| async move { n + e.expect("valid input").data.len() },
    ))
}

fn parse(c: &mut Criterion) {
    for (name, input) in [
        ("small events", small_events(20_000)),
        ("large multi-line events", large_events(100)),
    ] {
        let chunks = chunks(&input);
        let expected = ours_parser(&chunks);
        assert_eq!(expected, theirs(chunks.clone()), "both parsers agree");
        assert_eq!(expected, ours_lent(&chunks), "lent events are the same");
        let mut group = c.benchmark_group(format!("parse {name}"));
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("ssehub-core EventStream", |b| {
            b.iter_batched(
                || chunks.clone(),
                |c| black_box(ours_stream(c)),
                BatchSize::LargeInput,
            )
        });
        group.bench_function("ssehub-core Parser", |b| {
            b.iter(|| black_box(ours_parser(&chunks)))
        });
        group.bench_function("ssehub-core Parser::feed_with", |b| {
            b.iter(|| black_box(ours_lent(&chunks)))
        });
        group.bench_function("eventsource-stream", |b| {
            b.iter_batched(
                || chunks.clone(),
                |c| black_box(theirs(c)),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

const EVENTS: usize = 1_000;

fn payloads() -> Vec<(String, String)> {
    (0..EVENTS)
        .map(|i| (i.to_string(), format!("{{\"n\":{i},\"t\":1700000000123}}")))
        .collect()
}

/// Drains a response body, as a server writing it to a socket would.
fn drain(body: axum::body::Body) -> usize {
    let mut s = body.into_data_stream();
    block_on(async {
        let mut n = 0;
        while let Some(frame) = s.next().await {
            n += frame.expect("infallible").len();
        }
        n
    })
}

fn encode(c: &mut Criterion) {
    let payloads: &'static [(String, String)] = Box::leak(payloads().into_boxed_slice());
    let ours = || {
        let events: Vec<Bytes> = payloads
            .iter()
            .map(|(id, data)| {
                Bytes::from(
                    ssehub_core::Event::builder()
                        .event("tick")
                        .id(id.as_str())
                        .data(data.as_str())
                        .build()
                        .expect("valid"),
                )
            })
            .collect();
        events
    };
    let axum_events = || {
        payloads.iter().map(|(id, data)| {
            Ok::<_, Infallible>(
                axum::response::sse::Event::default()
                    .event("tick")
                    .id(id.as_str())
                    .data(data.as_str()),
            )
        })
    };
    let ours_len: usize = ours().iter().map(Bytes::len).sum();
    let axum_body = || {
        use axum::response::IntoResponse;
        axum::response::Sse::new(stream::iter(axum_events()))
            .into_response()
            .into_body()
    };
    assert_eq!(ours_len, drain(axum_body()), "same bytes on the wire");

    let mut group = c.benchmark_group("encode small events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("ssehub-core Event, through a body", |b| {
        b.iter(|| {
            let s = stream::iter(ours().into_iter().map(Ok::<_, Infallible>));
            black_box(drain(axum::body::Body::from_stream(s)))
        })
    });
    group.bench_function("axum sse::Event, through Sse", |b| {
        b.iter(|| black_box(drain(axum_body())))
    });
    group.bench_function("ssehub-core Event, build and encode", |b| {
        b.iter(|| black_box(ours()))
    });
    // axum's `Event::finalize` is private; building without it is a lower
    // bound of axum's cost (it only appends one byte and freezes the buffer).
    group.bench_function("axum sse::Event, build only", |b| {
        b.iter(|| black_box(axum_events().collect::<Vec<_>>()))
    });
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
