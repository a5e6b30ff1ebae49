//! `ssehub-load`: a load generator for SSE hubs, run as its own process.
//!
//! It opens `--connections` event streams to `GET /events?topic=T` (at most
//! `--connect-concurrency` connects in flight), waits until every one has its
//! response headers (from then on a hub must deliver every publish), then
//! publishes `--events` events through `POST /publish` from `--publishers`
//! keep-alive connections, at `--rate` events/s in all (0: each publisher as
//! fast as the server answers). Each event carries its publisher, a sequence
//! number and its publish time; receivers check the sequences (gaps,
//! duplicates) and record the publish-to-receive latency. At the end it
//! prints one JSON line.
//!
//! With `--idle-seconds S` it only opens the streams, holds them for S
//! seconds and prints one JSON line about the connections (with the server's
//! RSS if `--server-pid` is given): the memory scenario.
//!
//! A stream that the server closes is reopened with `Last-Event-ID` (as
//! `EventSource` does) and counted in `reconnects`; the sequence checks span
//! reconnections, so a lossless resume shows no gap and no duplicate.
//!
//! With `https://` URLs everything goes over HTTP/2 on TLS (ALPN `h2`):
//! `--streams-per-connection` streams share each connection, and each
//! publisher has a connection of its own. The server's certificate is checked
//! against `--ca FILE`, or not at all with `--insecure`. Only the transport
//! differs ([`Body`]): the event checks are the same code for both.
//!
//! Other hubs name their routes and publish bodies otherwise:
//! `--events-path`, `--publish-url`, `--publish-path` and `--publish-format`
//! address them (`bench/peers.sh` runs nginx + Nchan, Pushpin, better-sse
//! and sse-starlette through the same scenarios); the payload and its
//! checks stay the same.
//!
//! With `--receive-only` it publishes nothing and waits for the events
//! another `ssehub-load` (with `--connections 0`) publishes: several
//! receiving processes hold more streams than one process may
//! (`bench/scale-out.sh`). Publish times are wall-clock, so processes on one
//! machine share the time base.
//!
//! See `docs/load.md`; `bench/run.sh` drives it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser as _;
use hdrhistogram::Histogram;
use ssehub_bench::http::{self, BodyDecoder, Target};
use ssehub_bench::https::{self, SharedConnection, Tls, Verify};
use ssehub_bench::payload::{self, Seen, SeqTracker};
use ssehub_bench::procfs::{cpu_seconds, rss_kb, write_calls};
use ssehub_bench::Poster;
use ssehub_core::{ItemRef, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

/// Its receivers allocate a little for each event they parse; with glibc's
/// malloc that was a quarter of this process's CPU, the one CPU that
/// limits the throughput scenario. The servers under test keep their own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load generator for SSE hubs: many subscribers, a few publishers.
#[derive(Debug, clap::Parser)]
#[command(name = "ssehub-load", version)]
struct Args {
    /// Base URL of the server: `http://` (HTTP/1.1) or `https://` (HTTP/2
    /// over TLS); streams are `GET /events?topic=T`, publishes `POST
    /// /publish`. Several, comma-separated, all of one scheme (hubs sharing
    /// a Redis): streams and publishers are spread over them in turn.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    url: Vec<String>,
    /// Event streams to open.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Events to publish, in all.
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// Events per second, in all publishers together; 0: as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Publishing connections, each waiting for one answer before the next.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Bytes of each event's data (at least what the sequence fields need).
    #[arg(long, default_value_t = 64)]
    payload_bytes: usize,
    /// The topic every stream subscribes to and every event goes to.
    #[arg(long, default_value = "bench")]
    topic: String,
    /// Path (and query) of an event stream; `{topic}` stands for the topic,
    /// percent-encoded. Other servers than ssehub (bench/peers.sh) name
    /// their routes otherwise, e.g. Nchan's `/sub/{topic}`.
    #[arg(long, default_value = "/events?topic={topic}")]
    events_path: String,
    /// Base URL(s) of the publishes, when not the `--url`s (Pushpin takes
    /// publishes on a port of its own); same scheme as `--url`.
    #[arg(long, value_delimiter = ',')]
    publish_url: Vec<String>,
    /// Path (and query) of a publish; `{topic}` as in `--events-path`.
    #[arg(long, default_value = "/publish")]
    publish_path: String,
    /// What a publish's body is: `ssehub`: JSON `{"topic", "data"}`;
    /// `raw`: the data alone, `text/plain` (Nchan); `grip`: a GRIP publish,
    /// JSON `{"items": [{"channel", "formats": {"http-stream": {"content"}}}]}`
    /// whose content is the SSE frame (Pushpin). Any 2xx answer is success.
    #[arg(long, value_enum, default_value_t = PublishFormat::Ssehub)]
    publish_format: PublishFormat,
    /// Only hold the streams open for this many seconds, publish nothing,
    /// then print one line about the connections (the memory scenario).
    #[arg(long)]
    idle_seconds: Option<f64>,
    /// Most connects (TCP connect up to response headers) in flight at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Seconds to wait for all streams to connect before giving up on the
    /// rest (they count as `connect_failures`).
    #[arg(long, default_value_t = 120.0)]
    connect_timeout: f64,
    /// After the last publish, how long to wait without any new delivery
    /// before counting what has not arrived as lost.
    #[arg(long, default_value_t = 5.0)]
    drain_seconds: f64,
    /// Do not reopen a stream the server closed (it then counts as lost).
    #[arg(long)]
    no_reconnect: bool,
    /// PID of the server process (Linux): report its RSS (idle mode) and the
    /// CPU time it spent while publishing and delivering.
    /// (Several, comma-separated: their sums, e.g. hubs and their Redis.)
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// A JWT sent as `Authorization: Bearer` on every request (for a hub with
    /// authorization).
    #[arg(long)]
    token: Option<String>,
    /// Worker threads of the load process (0: one per CPU it may run on).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// HTTPS: event streams per HTTP/2 connection (hyper's server, and so
    /// `ssehub serve`, allows 200 at once by default).
    #[arg(long, default_value_t = 100)]
    streams_per_connection: usize,
    /// HTTPS: check the server's certificate against the CA certificates in
    /// this PEM file.
    #[arg(long, conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// HTTPS: do not check the server's certificate (a self-signed
    /// certificate made for a benchmark run).
    #[arg(long)]
    insecure: bool,
    /// Publish nothing: only receive the `--events` events of `--publishers`
    /// publishers that another `ssehub-load` sends (run with
    /// `--connections 0` and the same `--events` and `--publishers`). For
    /// more streams than one process may hold: several receiving processes,
    /// one publishing (`bench/scale-out.sh`). The report then lists, per
    /// event, when this process's last stream had it (`to_all_each_us`), to
    /// merge with the other processes'.
    #[arg(long)]
    receive_only: bool,
    /// Once every stream is open (or failed), create this file: a script
    /// waits for it before it starts publishing.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// HTTP/1.1: addresses of this machine to connect streams from, in turn
    /// (comma-separated; e.g. 127.0.0.2,127.0.0.3): each looks like another
    /// client to a hub's per-address limits. Default: the system picks.
    #[arg(long, value_delimiter = ',')]
    source_ip: Vec<std::net::IpAddr>,
}

/// The body of a publish (`--publish-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PublishFormat {
    /// `ssehub serve`'s JSON `{"topic": T, "data": D}`.
    Ssehub,
    /// The data alone as `text/plain` (Nchan's publisher location).
    Raw,
    /// A GRIP publish whose `http-stream` content is the SSE frame (Pushpin).
    Grip,
}

impl PublishFormat {
    /// The content type and body of a publish of `data` to `topic`.
    fn body(self, topic: &str, data: &str) -> anyhow::Result<(&'static str, Vec<u8>)> {
        Ok(match self {
            PublishFormat::Ssehub => (
                "application/json",
                serde_json::to_vec(&serde_json::json!({ "topic": topic, "data": data }))?,
            ),
            PublishFormat::Raw => ("text/plain", data.as_bytes().to_vec()),
            // The load generator's data is one line, so one `data:` field.
            PublishFormat::Grip => (
                "application/json",
                serde_json::to_vec(&serde_json::json!({ "items": [{
                    "channel": topic,
                    "formats": { "http-stream": { "content": format!("data: {data}\n\n") } },
                }] }))?,
            ),
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args.threads;
    ssehub_bench::main_of("ssehub-load", threads, run(args))
}

/// Latency histograms are sharded so that receivers on different threads
/// rarely share a lock; they are merged at the end.
const HISTOGRAM_SHARDS: usize = 16;
/// Highest latency recorded exactly, in microseconds (larger saturates).
const MAX_LATENCY_US: u64 = 60_000_000;

/// What every receiver shares.
struct Shared {
    /// `Authorization` header line for every request, or empty.
    auth_header: String,
    /// Times are nanoseconds since the Unix epoch, read as `base_wall_ns`
    /// plus the monotonic time since `base`: every load process on the
    /// machine shares the time base (a publish time written by one is read
    /// by another), and within a process time never goes back.
    base: Instant,
    base_wall_ns: u64,
    /// One per `--url`, with its stream request (HTTP/1.1 only).
    targets: Vec<(Target, Vec<u8>)>,
    /// Where publishers go: one per `--publish-url`, else the `targets`.
    publish_targets: Vec<Target>,
    /// `/events?topic=T` (`--events-path`).
    events_path: String,
    /// `--source-ip`: stream `i` connects from `sources[i % len]`.
    sources: Vec<std::net::IpAddr>,
    /// The `--token`, for HTTP/2 requests.
    token: Option<String>,
    /// HTTPS: the TLS client, the connections the streams share and how
    /// many streams share one; `None` for plain HTTP/1.1.
    h2: Option<H2Streams>,
    publishers: usize,
    reconnect: bool,
    connect_permits: Semaphore,
    /// Streams that have their response headers / that never got them.
    ready: AtomicUsize,
    failed: AtomicUsize,
    ready_changed: Notify,
    /// Events received in all, and those not seen before by their stream.
    received: AtomicU64,
    unique: AtomicU64,
    /// When the newest event arrived (see `base`).
    last_delivery_ns: AtomicU64,
    /// The earliest publish time among the events received.
    first_publish_ns: AtomicU64,
    histograms: Vec<Mutex<Histogram<u64>>>,
    /// For each published event (publisher `p`'s `seq`-th at `seq *
    /// publishers + p`), the latest latency among the streams that got it,
    /// in µs: when the last stream had it.
    to_all_us: Vec<AtomicU64>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        let elapsed = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.base_wall_ns.saturating_add(elapsed)
    }

    fn transport(&self) -> &'static str {
        if self.h2.is_some() {
            "h2"
        } else {
            "http/1.1"
        }
    }
}

/// How HTTPS streams share HTTP/2 connections.
struct H2Streams {
    tls: Tls,
    per_connection: usize,
    /// Stream `i` goes to target `i % T` on connection
    /// `(i / T / per_connection) * T + i % T` (`T` targets).
    connections: Vec<SharedConnection>,
}

impl H2Streams {
    fn connection(&self, index: usize, targets: usize) -> &SharedConnection {
        let slot = (index / targets / self.per_connection) * targets + index % targets;
        &self.connections[slot]
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// What one receiver found.
struct ConnStats {
    connected: bool,
    tracker: SeqTracker,
    skipped: u64,
    duplicates: u64,
    /// Events not from this load generator (a hub's reset or gap events).
    control: u64,
    reconnects: u64,
    /// Ended before the run did (closed and not reconnected).
    lost: bool,
    error: Option<String>,
}

async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.publishers > 0, "--publishers must be at least 1");
    ensure!(
        args.connect_concurrency > 0,
        "--connect-concurrency must be at least 1"
    );
    ensure!(args.rate >= 0.0, "--rate must not be negative");
    ensure!(!args.url.is_empty(), "--url is needed");
    ensure!(
        args.streams_per_connection > 0,
        "--streams-per-connection must be at least 1"
    );
    let topic_query: String = encode_query(&args.topic);
    let events_path = args.events_path.replace("{topic}", &topic_query);
    let auth_header = args
        .token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let mut targets = Vec::new();
    for url in &args.url {
        let target = Target::resolve(url).await?;
        let request = format!(
            "GET {events_path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n{auth_header}",
            target.host
        )
        .into_bytes();
        targets.push((target, request));
    }
    let mut publish_targets = Vec::new();
    for url in &args.publish_url {
        publish_targets.push(Target::resolve(url).await?);
    }
    if publish_targets.is_empty() {
        publish_targets = targets.iter().map(|(t, _)| t.clone()).collect();
    }
    let https = targets[0].0.https;
    ensure!(
        targets.iter().all(|(t, _)| t.https == https)
            && publish_targets.iter().all(|t| t.https == https),
        "--url, --publish-url: all http:// or all https://"
    );
    let h2 = if https {
        ensure!(args.source_ip.is_empty(), "--source-ip: http:// only");
        let verify = match (&args.ca, args.insecure) {
            (Some(ca), _) => Verify::Ca(ca.clone()),
            (None, true) => Verify::Insecure,
            (None, false) => bail!("https:// needs --ca FILE or --insecure"),
        };
        let per_target = args.connections.div_ceil(targets.len());
        let connections = per_target.div_ceil(args.streams_per_connection) * targets.len();
        Some(H2Streams {
            tls: Tls::new(&verify)?,
            per_connection: args.streams_per_connection,
            connections: (0..connections)
                .map(|_| SharedConnection::default())
                .collect(),
        })
    } else {
        ensure!(
            args.ca.is_none() && !args.insecure,
            "--ca and --insecure are for https:// URLs"
        );
        None
    };
    let shared = Arc::new(Shared {
        auth_header,
        base: Instant::now(),
        base_wall_ns: wall_clock_ns()?,
        targets,
        publish_targets,
        events_path,
        sources: args.source_ip.clone(),
        token: args.token.clone(),
        h2,
        publishers: args.publishers,
        reconnect: !args.no_reconnect,
        connect_permits: Semaphore::new(args.connect_concurrency),
        ready: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        ready_changed: Notify::new(),
        received: AtomicU64::new(0),
        unique: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
        first_publish_ns: AtomicU64::new(u64::MAX),
        histograms: (0..HISTOGRAM_SHARDS)
            .map(|_| Mutex::new(histogram()))
            .collect(),
        to_all_us: (0..args.events).map(|_| AtomicU64::new(0)).collect(),
    });
    let rss_before = sum_of(&args.server_pid, rss_kb);

    // Open every stream; the semaphore bounds connects in flight.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut receivers = JoinSet::new();
    for index in 0..args.connections {
        let shared = shared.clone();
        let stop = stop_rx.clone();
        receivers.spawn(receiver(index, shared, stop));
    }
    let connect_started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.connect_timeout);
    loop {
        let notified = shared.ready_changed.notified();
        tokio::pin!(notified);
        // Registered before the check, so no notification falls in between.
        notified.as_mut().enable();
        let done = shared.ready.load(Ordering::Acquire) + shared.failed.load(Ordering::Acquire);
        if done >= args.connections {
            break;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            eprintln!("ssehub-load: connect timeout; going on with the streams that are open");
            break;
        }
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    let connected = shared.ready.load(Ordering::Acquire);
    let connect_failures = args.connections - connected;
    let tcp_connections = match &shared.h2 {
        Some(h2) => h2.connections.iter().filter(|c| c.is_open()).count(),
        None => connected,
    };
    eprintln!(
        "ssehub-load: {connected} of {} streams open in {connect_seconds:.2} s over {tcp_connections} {} connections",
        args.connections,
        shared.transport()
    );

    if let Some(path) = &args.ready_file {
        std::fs::write(path, format!("{connected}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }

    if let Some(idle) = args.idle_seconds {
        tokio::time::sleep(Duration::from_secs_f64(idle)).await;
        let rss_after = sum_of(&args.server_pid, rss_kb);
        let per_connection = match (rss_before, rss_after) {
            (Some(before), Some(after)) if connected > 0 => {
                Some((after as f64 - before as f64) * 1024.0 / connected as f64)
            }
            _ => None,
        };
        let report = IdleReport {
            mode: "idle",
            transport: shared.transport(),
            tcp_connections,
            connections: args.connections,
            connected,
            connect_failures,
            connect_seconds: round(connect_seconds, 3),
            idle_seconds: idle,
            server_rss_before_kb: rss_before,
            server_rss_after_kb: rss_after,
            server_rss_per_connection_bytes: per_connection.map(|b| round(b, 0)),
        };
        println!("{}", serde_json::to_string(&report)?);
        // Exiting closes every stream at once; no need to end them one by one.
        return Ok(());
    }

    // Publish.
    let cpu_before = sum_of(&args.server_pid, cpu_seconds);
    let writes_before = sum_of(&args.server_pid, write_calls);
    let own_cpu_before = cpu_seconds(std::process::id());
    let publish_start = Instant::now();
    let publish_start_ns = shared.now_ns();
    let mut publishers = JoinSet::new();
    let publishing = if args.receive_only {
        0
    } else {
        args.publishers
    };
    for p in 0..publishing {
        publishers.spawn(publisher(
            p,
            shared.clone(),
            PublishPlan {
                events: args.events,
                publishers: args.publishers,
                rate: args.rate,
                payload_bytes: args.payload_bytes,
                topic: args.topic.clone(),
                path: args.publish_path.replace("{topic}", &topic_query),
                format: args.publish_format,
                start: publish_start,
            },
        ));
    }
    let mut published = vec![0u64; args.publishers];
    while let Some(result) = publishers.join_next().await {
        let (p, count) = result.context("a publisher panicked")??;
        published[p] = count;
    }
    if args.receive_only {
        // What the other process publishes: publisher `p` the events `p`,
        // `p + P`, ... below `--events` (as `publisher` does).
        for (p, count) in published.iter_mut().enumerate() {
            *count = args
                .events
                .saturating_sub(p as u64)
                .div_ceil(args.publishers as u64);
        }
        // The publisher starts once every receiving process is ready: wait
        // for its first event as long as a connect may take.
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.connect_timeout);
        while shared.unique.load(Ordering::Acquire) == 0 && connected > 0 {
            if tokio::time::Instant::now() >= deadline {
                eprintln!("ssehub-load: no event received before the connect timeout");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let publish_seconds = publish_start.elapsed().as_secs_f64();
    let events_published: u64 = published.iter().sum();

    // Wait for delivery: until every open stream has every event, or nothing
    // new has arrived for --drain-seconds.
    let expected = events_published * connected as u64;
    let mut last_unique = shared.unique.load(Ordering::Acquire);
    let mut last_change = Instant::now();
    let drain = Duration::from_secs_f64(args.drain_seconds);
    loop {
        let unique = shared.unique.load(Ordering::Acquire);
        if unique >= expected {
            break;
        }
        if unique != last_unique {
            last_unique = unique;
            last_change = Instant::now();
        } else if last_change.elapsed() >= drain {
            eprintln!(
                "ssehub-load: {} of {expected} deliveries after waiting {:.1} s without progress",
                unique, args.drain_seconds
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu_after = sum_of(&args.server_pid, cpu_seconds);
    let writes_after = sum_of(&args.server_pid, write_calls);
    let own_cpu_after = cpu_seconds(std::process::id());

    let _ = stop_tx.send(true);
    let mut gaps = 0;
    let mut duplicates = 0;
    let mut control_events = 0;
    let mut reconnects = 0;
    let mut lost_streams = 0;
    let mut first_error = None;
    while let Some(result) = receivers.join_next().await {
        let stats = result.context("a receiver panicked")?;
        if !stats.connected {
            continue;
        }
        gaps += stats.skipped + stats.tracker.missing_tail(&published);
        duplicates += stats.duplicates;
        control_events += stats.control;
        reconnects += stats.reconnects;
        lost_streams += u64::from(stats.lost);
        if first_error.is_none() {
            first_error = stats.error;
        }
    }
    if let Some(error) = first_error {
        eprintln!("ssehub-load: first stream error: {error}");
    }

    let mut latency = histogram();
    for shard in &shared.histograms {
        let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        latency.add(&*shard).context("merging histograms")?;
    }
    let mut to_all = histogram();
    for slowest in &shared.to_all_us {
        let us = slowest.load(Ordering::Relaxed);
        if us > 0 {
            to_all.saturating_record(us);
        }
    }
    let to_all_q = |quantile: f64| {
        if to_all.is_empty() {
            0
        } else {
            to_all.value_at_quantile(quantile)
        }
    };
    let delivered = shared.unique.load(Ordering::Acquire);
    let last_ns = shared.last_delivery_ns.load(Ordering::Acquire);
    // Receiving only, the run starts with the first publish this process saw.
    let publish_start_ns = if args.receive_only {
        shared.first_publish_ns.load(Ordering::Acquire).min(last_ns)
    } else {
        publish_start_ns
    };
    let delivery_seconds = last_ns.saturating_sub(publish_start_ns) as f64 / 1e9;
    let q = |quantile: f64| {
        if latency.is_empty() {
            0
        } else {
            latency.value_at_quantile(quantile)
        }
    };
    let report = LoadReport {
        mode: "load",
        transport: shared.transport(),
        tcp_connections,
        connections: args.connections,
        connected,
        connect_failures,
        connect_seconds: round(connect_seconds, 3),
        events_published,
        publish_seconds: round(publish_seconds, 3),
        published_per_sec: round(events_published as f64 / publish_seconds.max(1e-9), 1),
        events_expected: expected,
        events_delivered: delivered,
        events_received: shared.received.load(Ordering::Acquire),
        delivery_seconds: round(delivery_seconds, 3),
        delivered_per_sec: round(delivered as f64 / delivery_seconds.max(1e-9), 1),
        gaps,
        duplicates,
        control_events,
        reconnects,
        lost_streams,
        latency_p50_us: q(0.5),
        latency_p99_us: q(0.99),
        latency_p999_us: q(0.999),
        latency_max_us: latency.max(),
        to_all_p50_us: to_all_q(0.5),
        to_all_p99_us: to_all_q(0.99),
        to_all_max_us: to_all.max(),
        server_cpu_seconds: match (cpu_before, cpu_after) {
            (Some(before), Some(after)) => Some(round(after - before, 2)),
            _ => None,
        },
        load_cpu_seconds: match (own_cpu_before, own_cpu_after) {
            (Some(before), Some(after)) => Some(round(after - before, 2)),
            _ => None,
        },
        server_writes: match (writes_before, writes_after) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        },
        to_all_each_us: args.receive_only.then(|| {
            shared
                .to_all_us
                .iter()
                .map(|slowest| slowest.load(Ordering::Relaxed))
                .collect()
        }),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The idle scenario's line.
#[derive(serde::Serialize)]
struct IdleReport {
    mode: &'static str,
    /// `http/1.1` or `h2` (over TLS).
    transport: &'static str,
    /// Connections the open streams use (over HTTP/2, several streams share
    /// one).
    tcp_connections: usize,
    connections: usize,
    connected: usize,
    connect_failures: usize,
    connect_seconds: f64,
    idle_seconds: f64,
    server_rss_before_kb: Option<u64>,
    server_rss_after_kb: Option<u64>,
    server_rss_per_connection_bytes: Option<f64>,
}

/// The publishing scenarios' line.
#[derive(serde::Serialize)]
struct LoadReport {
    mode: &'static str,
    transport: &'static str,
    tcp_connections: usize,
    connections: usize,
    connected: usize,
    connect_failures: usize,
    connect_seconds: f64,
    events_published: u64,
    publish_seconds: f64,
    published_per_sec: f64,
    /// Published events times open streams.
    events_expected: u64,
    /// Events received by a stream that had not seen them before.
    events_delivered: u64,
    /// Events received, duplicates included.
    events_received: u64,
    /// From the first publish to the last delivery.
    delivery_seconds: f64,
    delivered_per_sec: f64,
    gaps: u64,
    duplicates: u64,
    control_events: u64,
    reconnects: u64,
    lost_streams: u64,
    latency_p50_us: u64,
    latency_p99_us: u64,
    latency_p999_us: u64,
    latency_max_us: u64,
    /// Per event, the time until the last stream had it (the slowest of
    /// its deliveries): quantiles over the events.
    to_all_p50_us: u64,
    to_all_p99_us: u64,
    to_all_max_us: u64,
    server_cpu_seconds: Option<f64>,
    /// This process's own CPU time over the same span: near
    /// `delivery_seconds`, the load generator (one CPU) is what limits the
    /// run, not the server.
    load_cpu_seconds: Option<f64>,
    /// The server's write system calls over the same span (`syscw` in
    /// `/proc/PID/io`): deliveries per write is how many events a write
    /// carries. Each write costs the server the kernel's TCP send and, on
    /// loopback, the receiving side's TCP work too.
    server_writes: Option<u64>,
    /// `--receive-only`: per event (publisher `p`'s `seq`-th at `seq * P +
    /// p`), when this process's last stream had it, in µs after its publish
    /// (0: no stream had it).
    #[serde(skip_serializing_if = "Option::is_none")]
    to_all_each_us: Option<Vec<u64>>,
}

/// Now, in nanoseconds since the Unix epoch.
fn wall_clock_ns() -> anyhow::Result<u64> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    Ok(u64::try_from(since.as_nanos())?)
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Percent-encodes a query value (topics are usually plain).
/// `f` summed over `pids`; `None` if there are none or one cannot be read.
fn sum_of<T: std::iter::Sum<T>>(pids: &[u32], f: impl Fn(u32) -> Option<T>) -> Option<T> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&pid| f(pid)).sum()
}

fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An open event stream: where its body comes from, the one part that
/// differs between the transports. Everything after (SSE parsing, sequence
/// checks, latency) is the same code for both ([`Received`]).
enum Body {
    /// HTTP/1.1: the socket, the body's framing and a read buffer.
    Http1 {
        stream: TcpStream,
        framing: BodyDecoder,
        buf: Box<[u8]>,
    },
    /// HTTP/2: one stream of a connection that others share.
    H2(h2::RecvStream),
}

impl Body {
    /// Feeds body bytes read along with the response head (HTTP/1.1) to
    /// `received`.
    fn feed(&mut self, bytes: &[u8], received: &mut Received<'_>) -> anyhow::Result<()> {
        if let Body::Http1 { framing, .. } = self {
            feed_framed(framing, bytes, received)?;
        }
        Ok(())
    }

    /// Whether more of the body may come.
    fn more(&self) -> bool {
        match self {
            Body::Http1 { framing, .. } => !framing.is_done(),
            Body::H2(_) => true,
        }
    }

    /// Waits for the next bytes of the body and feeds their payload to
    /// `received`; returns whether more may come. Cancel-safe: dropped
    /// while it waits, it has read nothing.
    async fn read(&mut self, received: &mut Received<'_>) -> anyhow::Result<bool> {
        match self {
            Body::Http1 {
                stream,
                framing,
                buf,
            } => {
                let n = stream.read(buf).await?;
                if n == 0 {
                    return Ok(false);
                }
                feed_framed(framing, &buf[..n], received)?;
                Ok(!framing.is_done())
            }
            Body::H2(body) => match body.data().await {
                None => Ok(false),
                Some(chunk) => {
                    let chunk = chunk?;
                    body.flow_control().release_capacity(chunk.len())?;
                    received.feed(&chunk)?;
                    Ok(true)
                }
            },
        }
    }
}

/// Decodes HTTP/1.1 body framing and feeds the payload to `received`.
fn feed_framed(
    framing: &mut BodyDecoder,
    bytes: &[u8],
    received: &mut Received<'_>,
) -> anyhow::Result<()> {
    let mut parse_error = None;
    framing.feed(bytes, |payload| {
        if parse_error.is_none() {
            parse_error = received.feed(payload).err();
        }
    })?;
    match parse_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Opens one stream (resuming after `last_event_id`) up to its response
/// head; returns its body and, over HTTP/1.1, the body bytes that came with
/// the head. Retries a few times with backoff (a full accept queue refuses
/// connects for a moment).
async fn open(
    shared: &Shared,
    index: usize,
    last_event_id: &str,
) -> anyhow::Result<(Body, Vec<u8>)> {
    let mut attempt = 0;
    loop {
        let result = match &shared.h2 {
            // Boxed: the TLS and HTTP/2 handshakes' futures are large, and
            // would otherwise make every HTTP/1.1 stream's task larger too.
            Some(h2) => Box::pin(open_h2(shared, h2, index, last_event_id))
                .await
                .map(|body| (Body::H2(body), Vec::new())),
            None => open_http1(shared, index, last_event_id).await,
        };
        match result {
            Ok(open) => return Ok(open),
            Err(e) if attempt >= 5 => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
    }
}

/// Over HTTP/1.1: connect, request, response head.
async fn open_http1(
    shared: &Shared,
    index: usize,
    last_event_id: &str,
) -> anyhow::Result<(Body, Vec<u8>)> {
    let (target, request) = &shared.targets[index % shared.targets.len()];
    let mut request = request.clone();
    if !last_event_id.is_empty() {
        request.extend_from_slice(format!("Last-Event-ID: {last_event_id}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let source = (!shared.sources.is_empty()).then(|| shared.sources[index % shared.sources.len()]);
    let mut stream = target.connect_from(source).await?;
    stream.write_all(&request).await?;
    let mut buf = Vec::new();
    let head = http::read_head(&mut stream, &mut buf).await?;
    ensure!(head.status == 200, "GET /events answered {}", head.status);
    let body = Body::Http1 {
        stream,
        framing: BodyDecoder::new(head.framing),
        buf: vec![0u8; 4096].into_boxed_slice(),
    };
    Ok((body, buf))
}

/// Over HTTP/2: a stream on this stream's shared connection (connecting it
/// if need be), up to the response head.
async fn open_h2(
    shared: &Shared,
    h2: &H2Streams,
    index: usize,
    last_event_id: &str,
) -> anyhow::Result<h2::RecvStream> {
    let target = &shared.targets[index % shared.targets.len()].0;
    let send = h2
        .connection(index, shared.targets.len())
        .sender(&h2.tls, target)
        .await?;
    let mut request =
        ::http::Request::get(format!("https://{}{}", target.host, shared.events_path))
            .header("accept", "text/event-stream");
    if let Some(token) = &shared.token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if !last_event_id.is_empty() {
        request = request.header("last-event-id", last_event_id);
    }
    let response = https::request(send, request.body(())?, None).await?;
    ensure!(
        response.status() == 200,
        "GET /events answered {}",
        response.status()
    );
    Ok(response.into_body())
}

/// One subscriber: opens its stream, checks and times every event until told
/// to stop; reopens the stream with `Last-Event-ID` if the server closes it.
async fn receiver(index: usize, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> ConnStats {
    let mut received = Received {
        parser: Parser::new(),
        shared: &shared,
        histogram: &shared.histograms[index % HISTOGRAM_SHARDS],
        stats: ConnStats {
            connected: false,
            tracker: SeqTracker::new(shared.publishers),
            skipped: 0,
            duplicates: 0,
            control: 0,
            reconnects: 0,
            lost: false,
            error: None,
        },
        latencies: Vec::new(),
        now: 0,
        events: 0,
        unique: 0,
    };
    loop {
        let opened = {
            let _permit = shared.connect_permits.acquire().await;
            tokio::select! {
                biased;
                _ = stop.changed() => return received.stats,
                opened = open(&shared, index, received.parser.last_event_id()) => opened,
            }
        };
        let stats = &mut received.stats;
        let (mut body, leftover) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                stats.error = Some(format!("{e:#}"));
                if stats.connected {
                    stats.lost = true;
                } else {
                    shared.failed.fetch_add(1, Ordering::AcqRel);
                    shared.ready_changed.notify_waiters();
                }
                return received.stats;
            }
        };
        if !stats.connected {
            stats.connected = true;
            shared.ready.fetch_add(1, Ordering::AcqRel);
            shared.ready_changed.notify_waiters();
        }
        received.parser.reconnect();
        let mut closed = body.feed(&leftover, &mut received).err();
        received.flush();
        drop(leftover);
        let mut more = body.more();
        while closed.is_none() && more {
            tokio::select! {
                biased;
                _ = stop.changed() => return received.stats,
                read = body.read(&mut received) => match read {
                    Ok(m) => {
                        more = m;
                        received.flush();
                    }
                    Err(e) => closed = Some(e),
                },
            }
        }
        let stats = &mut received.stats;
        if *stop.borrow() {
            return received.stats;
        }
        if let Some(e) = closed {
            stats.error = Some(format!("{e:#}"));
        }
        if !shared.reconnect {
            stats.lost = true;
            stats
                .error
                .get_or_insert_with(|| "closed by the server".into());
            return received.stats;
        }
        stats.reconnects += 1;
    }
}

/// One stream's receiving side: its parser, and the checks of each event as
/// the parser finds it (lent, not copied: the load generator must never be
/// what limits a run, see docs/benchmarks.md#harness-bound).
struct Received<'s> {
    parser: Parser,
    shared: &'s Shared,
    histogram: &'s Mutex<Histogram<u64>>,
    stats: ConnStats,
    /// Latencies (µs) of new events since the last [`Received::flush`].
    latencies: Vec<u64>,
    /// When the bytes being parsed were read (ns, the shared time base).
    now: u64,
    /// Load-generator events and new ones among them since the last flush.
    events: u64,
    unique: u64,
}

impl Received<'_> {
    /// Parses body bytes just read, checking and timing each event found.
    fn feed(&mut self, bytes: &[u8]) -> Result<(), ssehub_core::ParseError> {
        self.now = self.shared.now_ns();
        self.parser.feed_with(bytes, |item| {
            let ItemRef::Event(event) = item else { return };
            let Some((publisher, seq, t_ns)) = (event.event == "message")
                .then(|| payload::decode(event.data))
                .flatten()
            else {
                self.stats.control += 1;
                return;
            };
            self.events += 1;
            match self.stats.tracker.observe(publisher, seq) {
                Seen::New { skipped } => {
                    self.unique += 1;
                    self.stats.skipped += skipped;
                    let us = self.now.saturating_sub(t_ns) / 1000;
                    self.shared
                        .first_publish_ns
                        .fetch_min(t_ns, Ordering::Relaxed);
                    self.latencies.push(us);
                    let slot = seq as usize * self.shared.publishers + publisher;
                    if let Some(slowest) = self.shared.to_all_us.get(slot) {
                        slowest.fetch_max(us.max(1), Ordering::Relaxed);
                    }
                }
                Seen::Duplicate => self.stats.duplicates += 1,
                Seen::Foreign => self.stats.control += 1,
            }
        })
    }

    /// Adds what was checked since the last flush to the run's counts and
    /// latency histogram.
    fn flush(&mut self) {
        let shared = self.shared;
        if self.events > 0 {
            shared.received.fetch_add(self.events, Ordering::Relaxed);
            shared.unique.fetch_add(self.unique, Ordering::AcqRel);
            shared
                .last_delivery_ns
                .fetch_max(self.now, Ordering::Relaxed);
            (self.events, self.unique) = (0, 0);
        }
        if !self.latencies.is_empty() {
            let mut histogram = self.histogram.lock().unwrap_or_else(|e| e.into_inner());
            for us in self.latencies.drain(..) {
                histogram.saturating_record(us.max(1));
            }
        }
    }
}

/// How one publisher publishes.
struct PublishPlan {
    events: u64,
    publishers: usize,
    rate: f64,
    payload_bytes: usize,
    topic: String,
    /// `--publish-path`, the topic filled in.
    path: String,
    format: PublishFormat,
    start: Instant,
}

/// Publisher `p` publishes events `p`, `p + P`, `p + 2P`, ... of the run (its
/// own sequence 0, 1, 2, ...), each at its time in the schedule when a rate
/// is set. Returns `(p, events published)`.
async fn publisher(
    p: usize,
    shared: Arc<Shared>,
    plan: PublishPlan,
) -> anyhow::Result<(usize, u64)> {
    let target = shared.publish_targets[p % shared.publish_targets.len()].clone();
    let mut client = match &shared.h2 {
        Some(h2) => Poster::H2(https::Client::new(
            h2.tls.clone(),
            target,
            shared.token.as_ref().map(|t| format!("Bearer {t}")),
        )),
        None => Poster::Http1(http::Client::new(target).with_headers(shared.auth_header.clone())),
    };
    let mut seq = 0u64;
    let mut i = p as u64;
    while i < plan.events {
        if plan.rate > 0.0 {
            let due = plan.start + Duration::from_secs_f64(i as f64 / plan.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let data = payload::encode(p, seq, shared.now_ns(), plan.payload_bytes);
        let (content_type, body) = plan.format.body(&plan.topic, &data)?;
        let (status, answer) = client
            .post(&plan.path, content_type, &body)
            .await
            .with_context(|| format!("publisher {p}: POST {}", plan.path))?;
        // ssehub answers 200; Nchan 201 or 202.
        ensure!(
            (200..300).contains(&status),
            "publisher {p}: POST {} answered {status}: {}",
            plan.path,
            String::from_utf8_lossy(&answer)
        );
        seq += 1;
        i += plan.publishers as u64;
    }
    Ok((p, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_bodies() {
        let (kind, body) = PublishFormat::Ssehub.body("t/1", "0 1 2 x").unwrap();
        assert_eq!(kind, "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json, serde_json::json!({"topic": "t/1", "data": "0 1 2 x"}));

        let (kind, body) = PublishFormat::Raw.body("t/1", "0 1 2 x").unwrap();
        assert_eq!((kind, body.as_slice()), ("text/plain", &b"0 1 2 x"[..]));

        // A GRIP publish whose http-stream content is one SSE frame, which
        // the load generator's parser reads back as the same data.
        let (kind, body) = PublishFormat::Grip.body("t/1", "0 1 2 x").unwrap();
        assert_eq!(kind, "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let item = &json["items"][0];
        assert_eq!(item["channel"], "t/1");
        let content = item["formats"]["http-stream"]["content"].as_str().unwrap();
        let mut parser = Parser::new();
        parser.feed(content.as_bytes()).unwrap();
        let events: Vec<_> = parser
            .drain()
            .filter_map(|item| match item {
                ssehub_core::Item::Event(event) => {
                    Some((event.event.to_string(), event.data.to_string()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(events, [("message".to_string(), "0 1 2 x".to_string())]);
    }
}
