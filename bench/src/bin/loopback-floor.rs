//! The floor under a hub's fan-out latency: how long the kernel takes to
//! write one small frame to each of N loopback TCP sockets, one after the
//! other, as any server pinned to one CPU must.
//!
//! `loopback-floor write --connections N --rounds R --bytes B --port P`
//! accepts N connections, then R times writes B bytes to each socket in turn
//! and records when each write returned, relative to the round's start. A
//! subscriber written k-th in a round cannot receive its event sooner than
//! that offset: the offsets' percentiles are the floor of a publish-to-receive
//! percentile at that fan-out. `loopback-floor read --connections N --port P`
//! opens the N connections and drains them (run it on the other CPU, as
//! `bench/run.sh` runs the load generator). `bench/floor.sh` runs both.
//!
//! With `--rate E`, rounds start E times a second (at once when the previous
//! one ran late, as a publisher at a fixed rate does not wait), and the
//! process's CPU time per write is the floor under a server's CPU per
//! delivery at that rate: what writing each event to each subscriber once,
//! and nothing else, costs. `bench/run.sh` runs it beside its two
//! fixed-rate scenarios.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use ssehub_bench::procfs::cpu_seconds;
use tokio::io::AsyncReadExt;

#[derive(Debug, clap::Parser)]
#[command(name = "loopback-floor")]
struct Args {
    /// `write` (the server side) or `read` (the clients).
    #[arg(value_parser = ["write", "read"])]
    mode: String,
    /// Sockets.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Rounds of one write to every socket (write mode).
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Bytes of each write (a small event frame: about 100).
    #[arg(long, default_value_t = 100)]
    bytes: usize,
    /// Pause between rounds, in milliseconds (write mode, without `--rate`).
    #[arg(long, default_value_t = 10)]
    pause_ms: u64,
    /// Rounds a second (write mode; 0: rounds `--pause-ms` apart).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long, default_value_t = 18900)]
    port: u16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.mode == "read" {
        return read(&args);
    }
    anyhow::ensure!(
        args.rate.is_finite() && args.rate >= 0.0,
        "--rate must be a number of rounds a second, 0 or more (got {})",
        args.rate
    );
    let listener = TcpListener::bind(("127.0.0.1", args.port)).context("binding")?;
    // With `--port 0` the system picks the port; this line tells which.
    eprintln!("listening on {}", listener.local_addr()?);
    let mut sockets = Vec::with_capacity(args.connections);
    while sockets.len() < args.connections {
        let (socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        sockets.push(socket);
    }
    let frame = vec![b'x'; args.bytes];
    let mut offsets = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut total = Duration::ZERO;
    let me = std::process::id();
    let cpu_before = cpu_seconds(me).context("reading /proc/self/stat")?;
    let began = Instant::now();
    for round in 0..args.rounds {
        // When the round starts: on the rate's schedule (at once if late),
        // or a pause after the one before.
        if args.rate > 0.0 {
            let due = Duration::try_from_secs_f64(round as f64 / args.rate)
                .ok()
                .and_then(|offset| began.checked_add(offset))
                .context("--rate is too small: a round would start too far ahead")?;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        } else if round > 0 {
            std::thread::sleep(Duration::from_millis(args.pause_ms));
        }
        let start = Instant::now();
        for socket in &mut sockets {
            (&*socket).write_all(&frame)?;
            offsets.record(start.elapsed().as_micros().max(1) as u64)?;
        }
        total += start.elapsed();
    }
    let elapsed = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds(me).context("reading /proc/self/stat")? - cpu_before;
    let writes = (args.rounds * args.connections) as f64;
    println!(
        "{}",
        serde_json::json!({
            "connections": args.connections,
            "rounds": args.rounds,
            "bytes": args.bytes,
            "rate": args.rate,
            "write_us_mean": (total.as_secs_f64() * 1e6 / writes * 100.0).round() / 100.0,
            "writes": writes,
            "elapsed_seconds": (elapsed * 1000.0).round() / 1000.0,
            "cpu_seconds": cpu,
            "cpu_us_per_write": (cpu * 1e6 / writes * 100.0).round() / 100.0,
            "offset_p50_us": offsets.value_at_quantile(0.5),
            "offset_p99_us": offsets.value_at_quantile(0.99),
        })
    );
    Ok(())
}

fn read(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..args.connections {
            let socket = TcpStream::connect(("127.0.0.1", args.port))?;
            socket.set_nonblocking(true)?;
            let mut socket = tokio::net::TcpStream::from_std(socket)?;
            tasks.spawn(async move {
                let mut buf = vec![0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
        while tasks.join_next().await.is_some() {}
        anyhow::Ok(())
    })
}
