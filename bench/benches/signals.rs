//! Server signals with a 1 MB value and 1,000 subscribers: one small change
//! per update, sent as a JSON Patch (ssehub) against resending the whole value
//! (what leptos_sse does), both through the same hub so that only the update
//! strategy differs. Each iteration makes one update and drains every
//! subscriber's queue, as the connections' tasks would.
//!
//! Run: `cargo bench -p ssehub-bench --bench signals`; results in docs/benchmarks.md.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use ssehub::{Event, Hub, Subscription};

#[derive(Clone, Serialize, Deserialize)]
struct Doc {
    items: Vec<Row>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Row {
    id: u32,
    name: String,
    tags: Vec<String>,
    score: u64,
}

/// About 1 MB of JSON: 10,000 rows of about 100 bytes.
fn doc() -> Doc {
    Doc {
        items: (0..10_000)
            .map(|id| Row {
                id,
                name: format!("row number {id:05} with some text"),
                tags: vec!["alpha".into(), "beta".into()],
                score: 0,
            })
            .collect(),
    }
}

const SUBSCRIBERS: usize = 1000;

/// Takes every queued frame of every subscriber; returns the bytes taken.
fn drain(subs: &mut [Subscription]) -> usize {
    let mut bytes = 0;
    let mut batch: Vec<Bytes> = Vec::new();
    for sub in subs.iter_mut() {
        while let Some(true) = sub.next_batch(&mut batch, 64).now_or_never() {
            bytes += batch.iter().map(Bytes::len).sum::<usize>();
            batch.clear();
        }
    }
    bytes
}

fn signals(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let hub = Hub::builder()
        .history_events(16)
        .buffer_bytes(64 << 20)
        .retry(None)
        .keepalive(None)
        .build();
    let mut doc = doc();
    let initial_len = serde_json::to_vec(&doc).expect("json").len();
    let (signal, mut subs) = rt.block_on(async {
        let signal = hub.signal("doc", doc.clone()).await.expect("signal");
        let mut subs = Vec::new();
        for _ in 0..SUBSCRIBERS {
            subs.push(
                hub.subscribe(["doc", "whole"], None)
                    .await
                    .expect("subscribe"),
            );
        }
        (signal, subs)
    });
    drain(&mut subs);

    // Bytes each strategy sends per update, to every subscriber together.
    let mut n = 0u64;
    let patch_bytes = rt.block_on(async {
        signal
            .update(|d| d.items[7].score += 1)
            .await
            .expect("update");
        drain(&mut subs)
    });
    doc.items[7].score += 1;
    hub_publish_whole(&rt, &hub, &doc);
    let whole_bytes = drain(&mut subs);
    eprintln!(
        "value {initial_len} bytes; per update to {SUBSCRIBERS} subscribers: patch {patch_bytes} bytes ({} each), whole value {whole_bytes} bytes ({} each): {:.0}x fewer",
        patch_bytes / SUBSCRIBERS,
        whole_bytes / SUBSCRIBERS,
        whole_bytes as f64 / patch_bytes as f64
    );

    let mut group = c.benchmark_group("signal update, 1 MB value, 1000 subscribers");
    group.sample_size(20);
    group.bench_function("ssehub Signal::update (diff, one patch)", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(async {
                signal
                    .update(|d| d.items[(n % 10_000) as usize].score += 1)
                    .await
                    .expect("update")
            });
            black_box(drain(&mut subs))
        })
    });
    group.bench_function("resend the whole value (serialize, one event)", |b| {
        b.iter(|| {
            n += 1;
            doc.items[(n % 10_000) as usize].score += 1;
            hub_publish_whole(&rt, &hub, &doc);
            black_box(drain(&mut subs))
        })
    });
    group.finish();
}

fn hub_publish_whole(rt: &tokio::runtime::Runtime, hub: &Hub, doc: &Doc) {
    rt.block_on(async {
        let event = Event::builder()
            .event("whole")
            .json_data(doc)
            .build()
            .expect("event");
        hub.publish("whole", event).await.expect("publish");
    });
}

criterion_group!(benches, signals);
criterion_main!(benches);
