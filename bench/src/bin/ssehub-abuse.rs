//! `ssehub-abuse`: an abusive client of an SSE hub, run as its own process
//! next to `ssehub-load`'s healthy clients (`bench/abuse.sh`).
//!
//! One `--mode` at a time, for `--duration` seconds (0: until SIGINT or
//! SIGTERM), over plain HTTP/1.1 (`stall` also over HTTP/2 and TLS):
//!
//! - `churn`: `--connections` workers open `GET /events` streams, read the
//!   response head and close at once, at `--rate` streams/s in all (0: as
//!   fast as the server answers);
//! - `slowloris`: `--connections` connections each send the start of a
//!   request head, then one more byte every `--interval-ms`, never ending
//!   it; a connection the server answers or closes is opened again;
//! - `oversized`: `--connections` workers send, in turn, a publish whose data
//!   is exactly `--max-event-bytes` (accepted), one a byte over (413), a
//!   `PUT /signals/{name}` with a string value of `--signal-bytes` (a new
//!   value each time, so each is a whole-value patch), and a `PUT` whose body
//!   is a byte over `--max-body-bytes` (413); at `--rate` requests/s in all
//!   (0: as fast as answered), a connection per request;
//! - `stall`: `--connections` streams subscribe to `--stream-topic` and to
//!   `--filler-topic`, read their response head, then stop reading for
//!   `--stall-seconds` (with a small receive buffer), while a publisher sends
//!   `--filler-rate` events/s of `--filler-bytes` to the filler topic (only
//!   the stalled streams take it) so that their queues fill; then each reads
//!   what is there for up to 5 s to learn whether the hub cut it (end of stream)
//!   and opens a new stalled stream. With an `https://` URL (and
//!   `--insecure`), the same over HTTP/2: `--streams-per-connection` stalled
//!   streams share each connection, which offers flow-control windows of
//!   `--recv-buffer` bytes per stream and per connection; a stream the hub
//!   resets or ends counts as cut.
//!
//! At the end it prints one JSON line: what it did (streams opened and
//! closed per second, connections held, bytes sent, answers by status).
//! See `docs/load.md`.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser as _;
use ssehub_bench::http::{self, Target};
use ssehub_bench::https::{self, SharedConnection, Tls, Verify};
use ssehub_bench::Poster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// An abusive client of an SSE hub: churn, slowloris, oversized, stall.
#[derive(Debug, clap::Parser)]
#[command(name = "ssehub-abuse", version)]
struct Args {
    /// What to do: churn, slowloris, oversized or stall.
    #[arg(long, value_parser = ["churn", "slowloris", "oversized", "stall"])]
    mode: String,
    /// Base URL of the hub: `http://`; `https://` for `stall` over HTTP/2.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Seconds to run; 0: until SIGINT or SIGTERM.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Workers (churn, oversized) or connections held (slowloris, stall).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// churn: streams/s; oversized: requests/s; in all (0: as fast as
    /// answered).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// The topic of the streams (churn, slowloris, stall).
    #[arg(long, default_value = "bench")]
    stream_topic: String,
    /// slowloris: milliseconds between the bytes of a head.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// oversized: the hub's `--max-event-bytes` (1 MiB by default).
    #[arg(long, default_value_t = 1 << 20)]
    max_event_bytes: usize,
    /// oversized: the hub's `--max-body-bytes` (2 MiB by default).
    #[arg(long, default_value_t = 2 << 20)]
    max_body_bytes: usize,
    /// oversized: bytes of each signal value PUT (a JSON string).
    #[arg(long, default_value_t = 1 << 20)]
    signal_bytes: usize,
    /// oversized: the topic of the publishes and the signal's name.
    #[arg(long, default_value = "abuse")]
    topic: String,
    /// stall: seconds a stream goes unread before it is checked and
    /// replaced.
    #[arg(long, default_value_t = 5.0)]
    stall_seconds: f64,
    /// stall: the second topic of the stalled streams, which only they take.
    #[arg(long, default_value = "stall-filler")]
    filler_topic: String,
    /// stall: events/s published to the filler topic.
    #[arg(long, default_value_t = 20.0)]
    filler_rate: f64,
    /// stall: bytes of each filler event's data.
    #[arg(long, default_value_t = 16 << 10)]
    filler_bytes: usize,
    /// stall: the receive buffer of a stalled stream's socket (the kernel
    /// may round it up); over HTTP/2, the flow-control window a connection
    /// offers, per stream and for all its streams.
    #[arg(long, default_value_t = 4096)]
    recv_buffer: u32,
    /// stall over HTTP/2: stalled streams per connection.
    #[arg(long, default_value_t = 10)]
    streams_per_connection: usize,
    /// `https://`: do not check the hub's certificate (one made for the run).
    #[arg(long)]
    insecure: bool,
    /// HTTP/1.1: addresses of this machine to connect from, in turn
    /// (comma-separated): the abuse then comes from other clients than the
    /// healthy load, as a hub's per-address limits see it. Default: the
    /// system picks.
    #[arg(long, value_delimiter = ',')]
    source_ip: Vec<std::net::IpAddr>,
    /// Worker threads (0: one per CPU it may run on).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args.threads;
    ssehub_bench::main_of("ssehub-abuse", threads, run(args))
}

/// What every worker counts.
#[derive(Default)]
struct Counters {
    /// Connections made, and connects that failed.
    connects: AtomicU64,
    connect_errors: AtomicU64,
    /// Answers by status (a response head read), and exchanges that ended
    /// without one (reset, closed).
    statuses: Mutex<BTreeMap<u16, u64>>,
    no_answer: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Bytes written and read.
    bytes_sent: AtomicU64,
    bytes_read: AtomicU64,
    /// Connections open now (slowloris, stall), and the most at once.
    held: AtomicI64,
    held_peak: AtomicI64,
    /// slowloris and stall: connections the server ended (closed, or
    /// answered and closed) / that were still open when checked.
    closed_by_server: AtomicU64,
    still_open: AtomicU64,
    /// stall: filler events published (200).
    filler_published: AtomicU64,
}

impl Counters {
    fn status(&self, status: u16) {
        *self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    fn count(&self, status: u16) -> u64 {
        self.statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    fn error(&self, e: &anyhow::Error) {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| format!("{e:#}"));
    }

    fn hold(&self) {
        let now = self.held.fetch_add(1, Ordering::AcqRel) + 1;
        self.held_peak.fetch_max(now, Ordering::AcqRel);
    }

    fn release(&self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a worker needs.
struct Ctx {
    args: Args,
    target: Target,
    /// `https://`: the TLS client and the connections the stalled streams
    /// share.
    h2: Option<H2>,
    counters: Counters,
    start: Instant,
    /// The next slot of the schedule (churn, oversized with a rate).
    ticket: AtomicU64,
    /// The next of the `--source-ip`s.
    next_source: AtomicU64,
}

impl Ctx {
    /// Waits for this worker's next slot when a rate is set.
    async fn pace(&self) {
        if self.args.rate > 0.0 {
            let k = self.ticket.fetch_add(1, Ordering::Relaxed);
            let due = self.start + Duration::from_secs_f64(k as f64 / self.args.rate);
            tokio::time::sleep_until(due.into()).await;
        }
    }

    /// The next source address (`--source-ip`), if any.
    fn source(&self) -> Option<std::net::IpAddr> {
        let sources = &self.args.source_ip;
        (!sources.is_empty()).then(|| {
            let k = self.next_source.fetch_add(1, Ordering::Relaxed) as usize;
            sources[k % sources.len()]
        })
    }

    /// Connects, counting it.
    async fn connect(&self) -> anyhow::Result<TcpStream> {
        match self.target.connect_from(self.source()).await {
            Ok(s) => {
                self.counters.connects.fetch_add(1, Ordering::Relaxed);
                Ok(s)
            }
            Err(e) => {
                self.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                let e = anyhow::Error::from(e).context("connecting");
                self.counters.error(&e);
                // A refused connect (full backlog, no ports) must not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err(e)
            }
        }
    }

    /// Sends `request` on `stream` and reads the response head, counting
    /// the bytes and the status.
    async fn request_head(
        &self,
        stream: &mut TcpStream,
        request: &[u8],
    ) -> anyhow::Result<http::ResponseHead> {
        stream.write_all(request).await?;
        self.counters
            .bytes_sent
            .fetch_add(request.len() as u64, Ordering::Relaxed);
        let mut buf = Vec::new();
        let head = http::read_head(stream, &mut buf).await?;
        self.counters.status(head.status);
        Ok(head)
    }

    fn stream_request(&self, topics: &[&str]) -> Vec<u8> {
        let query: Vec<String> = topics.iter().map(|t| format!("topic={t}")).collect();
        format!(
            "GET /events?{} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            query.join("&"),
            self.target.host
        )
        .into_bytes()
    }
}

/// Stalled HTTP/2 streams: stream `i` is on connection
/// `i / --streams-per-connection`.
struct H2 {
    tls: Tls,
    connections: Vec<SharedConnection>,
}

async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(args.rate >= 0.0, "--rate must not be negative");
    ensure!(
        args.streams_per_connection > 0,
        "--streams-per-connection must be at least 1"
    );
    let target = Target::resolve(&args.url).await?;
    let h2 = if target.https {
        ensure!(
            args.mode == "stall",
            "--url: https:// only with --mode stall"
        );
        ensure!(
            args.insecure,
            "https:// needs --insecure (the hub's certificate is not checked)"
        );
        ensure!(args.source_ip.is_empty(), "--source-ip: http:// only");
        let window = args.recv_buffer;
        Some(H2 {
            tls: Tls::new(&Verify::Insecure)?.with_windows(window, window),
            connections: (0..args.connections.div_ceil(args.streams_per_connection))
                .map(|_| SharedConnection::default())
                .collect(),
        })
    } else {
        None
    };
    let ctx = Arc::new(Ctx {
        args,
        target,
        h2,
        counters: Counters::default(),
        start: Instant::now(),
        ticket: AtomicU64::new(0),
        next_source: AtomicU64::new(0),
    });
    let (stop_tx, stop) = watch::channel(false);
    let mut workers = JoinSet::new();
    for i in 0..ctx.args.connections {
        let (ctx, stop) = (ctx.clone(), stop.clone());
        match ctx.args.mode.as_str() {
            "churn" => workers.spawn(churn(ctx, stop)),
            "slowloris" => workers.spawn(slowloris(i, ctx, stop)),
            "oversized" => workers.spawn(oversized(i, ctx, stop)),
            "stall" if ctx.h2.is_some() => workers.spawn(stall_h2(i, ctx, stop)),
            "stall" => workers.spawn(stall(ctx, stop)),
            other => bail!("unknown --mode {other}"),
        };
    }
    if ctx.args.mode == "stall" && ctx.args.filler_rate > 0.0 {
        workers.spawn(filler(ctx.clone(), stop.clone()));
    }
    wait_for_end(ctx.args.duration).await?;
    let elapsed = ctx.start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    // Workers stop at their next wait; one stuck in a connect or a write
    // is not waited for long.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    workers.abort_all();
    println!("{}", serde_json::to_string(&report(&ctx, elapsed))?);
    Ok(())
}

/// Completes after `duration` seconds (0: never), or on SIGINT or SIGTERM.
async fn wait_for_end(duration: f64) -> anyhow::Result<()> {
    let timer = async {
        if duration > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(duration)).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT")?;
        tokio::select! {
            _ = timer => {}
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = timer => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

fn report(ctx: &Ctx, seconds: f64) -> serde_json::Value {
    let c = &ctx.counters;
    let per_sec = |n: u64| (n as f64 / seconds.max(1e-9) * 10.0).round() / 10.0;
    let statuses: BTreeMap<String, u64> = c
        .statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    let connects = c.connects.load(Ordering::Acquire);
    let mut out = serde_json::json!({
        "mode": ctx.args.mode,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "workers": ctx.args.connections,
        "connects": connects,
        "connects_per_sec": per_sec(connects),
        "connect_errors": c.connect_errors.load(Ordering::Acquire),
        "statuses": statuses,
        "no_answer": c.no_answer.load(Ordering::Acquire),
        "bytes_sent": c.bytes_sent.load(Ordering::Acquire),
        "bytes_read": c.bytes_read.load(Ordering::Acquire),
        "first_error": *c.first_error.lock().unwrap_or_else(|e| e.into_inner()),
    });
    let extra = match ctx.args.mode.as_str() {
        // A stream counts as opened once its 200 head is read; it is closed
        // right after.
        "churn" => serde_json::json!({
            "streams_opened": c.count(200),
            "streams_per_sec": per_sec(c.count(200)),
        }),
        "slowloris" | "stall" => serde_json::json!({
            "held_peak": c.held_peak.load(Ordering::Acquire),
            "held_at_end": c.held.load(Ordering::Acquire),
            "closed_by_server": c.closed_by_server.load(Ordering::Acquire),
            "still_open_when_checked": c.still_open.load(Ordering::Acquire),
            "filler_published": c.filler_published.load(Ordering::Acquire),
        }),
        _ => serde_json::json!({
            "requests_per_sec": per_sec(c.statuses.lock().unwrap_or_else(|e| e.into_inner()).values().sum()),
            "mb_sent_per_sec": (c.bytes_sent.load(Ordering::Acquire) as f64 / seconds.max(1e-9) / 1e4).round() / 100.0,
        }),
    };
    if let (Some(out), serde_json::Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

/// churn: open a stream, read its head, close; again.
async fn churn(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let request = ctx.stream_request(&[&ctx.args.stream_topic]);
    while !*stop.borrow() {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            () = ctx.pace() => {}
        }
        let once = async {
            let mut stream = ctx.connect().await?;
            ctx.request_head(&mut stream, &request).await?;
            anyhow::Ok(())
            // Dropped here: closed as soon as the head is in.
        };
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            result = once => if let Err(e) = result {
                ctx.counters.no_answer.fetch_add(1, Ordering::Relaxed);
                ctx.counters.error(&e);
            },
        }
    }
}

/// slowloris: a head that never ends, a byte at a time.
async fn slowloris(index: usize, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let start = format!(
        "GET /events?topic={} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
        ctx.args.stream_topic, ctx.target.host
    );
    let drip = format!("X-Slow-{index}: 1\r\n").into_bytes();
    let interval = Duration::from_millis(ctx.args.interval_ms.max(1));
    // Spread the first bytes over one interval.
    let offset = interval.mul_f64((index % 1000) as f64 / 1000.0);
    tokio::select! {
        _ = stop.changed() => return,
        () = tokio::time::sleep(offset) => {}
    }
    while !*stop.borrow() {
        let Ok(mut stream) = ctx.connect().await else {
            continue;
        };
        ctx.counters.hold();
        let held = async {
            stream.write_all(start.as_bytes()).await?;
            ctx.counters
                .bytes_sent
                .fetch_add(start.len() as u64, Ordering::Relaxed);
            let mut buf = Vec::new();
            let mut next = 0;
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        stream.write_all(&drip[next..next + 1]).await?;
                        ctx.counters.bytes_sent.fetch_add(1, Ordering::Relaxed);
                        next = (next + 1) % drip.len();
                    }
                    // The server answers (408, 431) or closes.
                    read = stream.read_buf(&mut buf) => {
                        let n = read?;
                        if n == 0 {
                            if let Ok(Some((head, _))) = http::parse_head(&buf) {
                                ctx.counters.status(head.status);
                            }
                            return anyhow::Ok(());
                        }
                        ctx.counters.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        };
        let ended = tokio::select! {
            _ = stop.changed() => None,
            ended = held => Some(ended),
        };
        ctx.counters.release();
        match ended {
            None => return,
            Some(result) => {
                ctx.counters
                    .closed_by_server
                    .fetch_add(1, Ordering::Relaxed);
                if let Err(e) = result {
                    ctx.counters.error(&e);
                }
            }
        }
    }
}

/// oversized: publishes at and over the event limit, big signal values, a
/// body over the body limit; in turn.
async fn oversized(index: usize, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let a = &ctx.args;
    let mut round = index;
    while !*stop.borrow() {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            () = ctx.pace() => {}
        }
        // A different letter each time, so that each signal value differs
        // from the last one in every byte.
        let letter = char::from(b'a' + (round % 26) as u8);
        let (method, path, body) = match round % 4 {
            0 | 1 => {
                let size = a.max_event_bytes + round % 2;
                let data: String = std::iter::repeat_n(letter, size).collect();
                let body = serde_json::json!({ "topic": a.topic, "data": data });
                ("POST", "/publish".to_owned(), body.to_string())
            }
            2 => {
                let value: String = std::iter::repeat_n(letter, a.signal_bytes).collect();
                let body = serde_json::Value::String(value).to_string();
                ("PUT", format!("/signals/{}", a.topic), body)
            }
            _ => {
                let value: String = std::iter::repeat_n(letter, a.max_body_bytes + 1).collect();
                // The quotes make it two bytes over the limit.
                let body = serde_json::Value::String(value).to_string();
                ("PUT", format!("/signals/{}", a.topic), body)
            }
        };
        round += 1;
        let once = async {
            let mut stream = ctx.connect().await?;
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                ctx.target.host,
                body.len()
            );
            let (mut reader, mut writer) = stream.split();
            // Written and read at once: the hub may answer 413 and close
            // before the body is all in.
            let write = async {
                writer.write_all(head.as_bytes()).await?;
                writer.write_all(body.as_bytes()).await?;
                ctx.counters
                    .bytes_sent
                    .fetch_add((head.len() + body.len()) as u64, Ordering::Relaxed);
                anyhow::Ok(())
            };
            let read = async {
                let mut buf = Vec::with_capacity(1024);
                loop {
                    if let Some((head, _)) = http::parse_head(&buf)? {
                        return anyhow::Ok(head.status);
                    }
                    let n = reader.read_buf(&mut buf).await?;
                    ensure!(n > 0, "closed before an answer");
                }
            };
            let (written, status) = tokio::join!(write, read);
            match (written, status) {
                (_, Ok(status)) => ctx.counters.status(status),
                (_, Err(e)) => return Err(e),
            }
            anyhow::Ok(())
        };
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            result = once => if let Err(e) = result {
                ctx.counters.no_answer.fetch_add(1, Ordering::Relaxed);
                ctx.counters.error(&e);
            },
        }
    }
}

/// stall, over either protocol: `open` a stream (up to its response head),
/// leave it unread for `--stall-seconds`, then let `cut` read it for up to
/// 5 s to learn whether the hub cut it; and again, until stopped.
async fn stalling<S, Open, Opened, Cut, Checked>(
    ctx: &Ctx,
    stop: &mut watch::Receiver<bool>,
    open: Open,
    cut: Cut,
) where
    Open: Fn() -> Opened,
    Opened: Future<Output = anyhow::Result<S>>,
    Cut: Fn(S, tokio::time::Instant) -> Checked,
    Checked: Future<Output = bool>,
{
    let stall_for = Duration::from_secs_f64(ctx.args.stall_seconds);
    while !*stop.borrow() {
        let stream = tokio::select! {
            biased;
            _ = stop.changed() => return,
            opened = open() => match opened {
                Ok(stream) => stream,
                Err(e) => {
                    ctx.counters.no_answer.fetch_add(1, Ordering::Relaxed);
                    ctx.counters.error(&e);
                    continue;
                }
            },
        };
        ctx.counters.hold();
        let stopped = tokio::select! {
            _ = stop.changed() => true,
            () = tokio::time::sleep(stall_for) => false,
        };
        ctx.counters.release();
        if stopped {
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let counter = if cut(stream, deadline).await {
            &ctx.counters.closed_by_server
        } else {
            &ctx.counters.still_open
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// stall over HTTP/1.1: a stream with a small receive buffer.
async fn stall(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let request = ctx.stream_request(&[&ctx.args.stream_topic, &ctx.args.filler_topic]);
    let open = || async {
        let socket = TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(ctx.args.recv_buffer)?;
        if let Some(ip) = ctx.source() {
            socket.bind(std::net::SocketAddr::new(ip, 0))?;
        }
        let mut stream = match socket.connect(ctx.target.addr).await {
            Ok(s) => s,
            Err(e) => {
                ctx.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Err(anyhow::Error::from(e).context("connecting"));
            }
        };
        ctx.counters.connects.fetch_add(1, Ordering::Relaxed);
        let head = ctx.request_head(&mut stream, &request).await?;
        ensure!(head.status == 200, "GET /events answered {}", head.status);
        anyhow::Ok(stream)
    };
    // An end of stream means the hub cut it (the kernel may still hold
    // megabytes for it, sent before the cut); no end, that it still held it.
    let cut = |mut stream: TcpStream, deadline| {
        let ctx = &ctx;
        async move {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break true,
                    Ok(Ok(n)) => {
                        ctx.counters
                            .bytes_read
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(_) => break false,
                }
            }
        }
    };
    stalling(&ctx, &mut stop, open, cut).await;
}

/// stall over HTTP/2: a stream that reads its response head, then nothing
/// (no flow-control capacity released) for `--stall-seconds`; a stream the
/// hub reset or ended counts as cut. `connects` counts the streams opened.
async fn stall_h2(index: usize, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let Some(h2) = &ctx.h2 else { return };
    let connection = &h2.connections[index / ctx.args.streams_per_connection];
    let uri = format!(
        "https://{}/events?topic={}&topic={}",
        ctx.target.host, ctx.args.stream_topic, ctx.args.filler_topic
    );
    let open = || async {
        let send = match connection.sender(&h2.tls, &ctx.target).await {
            Ok(send) => send,
            Err(e) => {
                ctx.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Err(e);
            }
        };
        let request = ::http::Request::get(&uri)
            .header("accept", "text/event-stream")
            .body(())?;
        let response = https::request(send, request, None).await?;
        ctx.counters.connects.fetch_add(1, Ordering::Relaxed);
        let status = response.status().as_u16();
        ctx.counters.status(status);
        ensure!(status == 200, "GET /events answered {status}");
        anyhow::Ok(response.into_body())
    };
    let cut = |mut body: h2::RecvStream, deadline| {
        let ctx = &ctx;
        async move {
            loop {
                match tokio::time::timeout_at(deadline, body.data()).await {
                    Ok(None) | Ok(Some(Err(_))) => break true,
                    Ok(Some(Ok(chunk))) => {
                        let _ = body.flow_control().release_capacity(chunk.len());
                        ctx.counters
                            .bytes_read
                            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                    Err(_) => break false,
                }
            }
        }
    };
    stalling(&ctx, &mut stop, open, cut).await;
}

/// stall: events to the filler topic, which only the stalled streams take.
async fn filler(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut client = match &ctx.h2 {
        // Its own connection, with the default (large) windows.
        Some(h2) => Poster::H2(https::Client::new(
            h2.tls
                .clone()
                .with_windows(https::STREAM_WINDOW, https::CONNECTION_WINDOW),
            ctx.target.clone(),
            None,
        )),
        None => Poster::Http1(http::Client::new(ctx.target.clone())),
    };
    let data = "f".repeat(ctx.args.filler_bytes);
    let body = serde_json::json!({ "topic": ctx.args.filler_topic, "data": data }).to_string();
    let start = Instant::now();
    let mut k = 0u64;
    while !*stop.borrow() {
        let due = start + Duration::from_secs_f64(k as f64 / ctx.args.filler_rate);
        k += 1;
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep_until(due.into()) => {}
        }
        match client
            .post("/publish", "application/json", body.as_bytes())
            .await
        {
            Ok((200, _)) => {
                ctx.counters
                    .filler_published
                    .fetch_add(1, Ordering::Relaxed);
                ctx.counters
                    .bytes_sent
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
            }
            Ok((status, _)) => ctx
                .counters
                .error(&anyhow::anyhow!("filler publish answered {status}")),
            Err(e) => ctx.counters.error(&e),
        }
    }
}
