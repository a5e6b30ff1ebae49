//! `ssehub-load` end to end against an in-process `ssehub_server::run`: over
//! plain HTTP/1.1, and over HTTP/2 + TLS with several streams sharing each
//! connection and the certificate checked against a CA made here. A few
//! streams and events, so that it stays fast.

use std::process::Command;

mod common;

use serde_json::Value;
use ssehub_server::{Config, Tls};

/// Serves a fresh hub (over TLS if `tls`) and runs `ssehub-load` with `args`
/// against it; returns its JSON line.
async fn load(tls: Option<Tls>, args: &[&str]) -> Value {
    let https = tls.is_some();
    let config = Config {
        tls,
        ..Config::default()
    };
    common::run_against(config, |port| {
        let url = if https {
            format!("https://localhost:{port}")
        } else {
            format!("http://127.0.0.1:{port}")
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub-load"));
        command
            .args(["--url", &url, "--drain-seconds", "10", "--threads", "2"])
            .args(args);
        command
    })
    .await
}

fn assert_all_delivered(report: &Value, streams: u64, events: u64) {
    assert_eq!(report["connected"], streams, "{report}");
    assert_eq!(report["events_published"], events, "{report}");
    assert_eq!(report["events_delivered"], streams * events, "{report}");
    for key in ["gaps", "duplicates", "reconnects", "lost_streams"] {
        assert_eq!(report[key], 0, "{key}: {report}");
    }
    // The time until the last stream had an event is its slowest delivery:
    // the slowest of all is both, and the median event's slowest delivery
    // comes no sooner than the median delivery.
    assert_eq!(
        report["to_all_max_us"], report["latency_max_us"],
        "{report}"
    );
    let us = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {report}"))
    };
    assert!(us("to_all_p50_us") >= us("latency_p50_us"), "{report}");
    assert!(us("to_all_p50_us") > 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_streams_receive_every_event() {
    // The hub runs in this process: its CPU time and writes are ours.
    let pid = std::process::id().to_string();
    let report = load(
        None,
        &[
            "--connections",
            "20",
            "--events",
            "50",
            "--server-pid",
            &pid,
        ],
    )
    .await;
    assert_eq!(report["transport"], "http/1.1");
    assert_eq!(report["tcp_connections"], 20);
    assert_all_delivered(&report, 20, 50);
    // Every stream was written at least once while events were delivered.
    let writes = report["server_writes"].as_u64();
    assert!(writes.is_some_and(|w| w >= 20), "{report}");
    assert!(report["server_cpu_seconds"].as_f64().is_some(), "{report}");
}

/// The flags that address other hubs (`bench/peers.sh`): stream path and
/// publish URL, path and format given explicitly, with a topic that needs
/// percent-encoding, reach the same hub and lose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_routes_and_publish_url_reach_the_hub() {
    let report = common::run_against(Config::default(), |port| {
        let base = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub-load"));
        command.args([
            "--url",
            &base,
            "--publish-url",
            &base,
            "--events-path",
            "/events?topic={topic}",
            "--publish-path",
            "/publish",
            "--publish-format",
            "ssehub",
            "--topic",
            "peers/a b",
            "--connections",
            "10",
            "--events",
            "20",
            "--drain-seconds",
            "10",
            "--threads",
            "2",
        ]);
        command
    })
    .await;
    assert_all_delivered(&report, 10, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_streams_share_tls_connections_and_receive_every_event() {
    let dir = std::env::temp_dir().join(format!("ssehub-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    common::certificate(&dir);
    let tls = Tls::from_pem_files(dir.join("cert.pem"), dir.join("cert.key")).unwrap();
    let ca = dir.join("ca.pem").display().to_string();
    let report = load(
        Some(tls.clone()),
        &[
            "--connections",
            "20",
            "--streams-per-connection",
            "8",
            "--events",
            "50",
            "--ca",
            &ca,
        ],
    )
    .await;
    assert_eq!(report["transport"], "h2");
    assert_eq!(report["tcp_connections"], 3, "20 streams, 8 per connection");
    assert_all_delivered(&report, 20, 50);

    // The idle scenario over HTTP/2; and without --ca or --insecure, https
    // is refused rather than unchecked.
    let idle = load(
        Some(tls),
        &["--connections", "5", "--idle-seconds", "0.1", "--insecure"],
    )
    .await;
    assert_eq!(idle["mode"], "idle");
    assert_eq!(idle["connected"], 5);
    assert_eq!(idle["tcp_connections"], 1);
    let output = Command::new(env!("CARGO_BIN_EXE_ssehub-load"))
        .args(["--url", "https://127.0.0.1:1", "--connections", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--ca FILE or --insecure"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--source-ip`: streams connect from the given addresses in turn, which a
/// hub's per-address limits count apart: 20 streams from 10 addresses fit a
/// connect rate of 1 a second per address (bursts of 2), and all connect at
/// once and get every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_from_several_source_addresses_count_apart() {
    let config = Config {
        connect_rate: 1,
        ..Config::default()
    };
    let sources: Vec<String> = (1..=10).map(|i| format!("127.0.2.{i}")).collect();
    let report = common::run_against(config, |port| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub-load"));
        command
            .args(["--url", &format!("http://127.0.0.1:{port}")])
            .args(["--source-ip", &sources.join(",")])
            .args(["--connections", "20", "--events", "5"])
            .args(["--drain-seconds", "10", "--threads", "2"]);
        command
    })
    .await;
    assert_all_delivered(&report, 20, 5);
    assert_eq!(report["connect_failures"], 0, "{report}");
}

/// `--receive-only` and `--connections 0` (`bench/scale-out.sh`): one
/// process holds the streams, another publishes; the receiver gets every
/// event and says, per event, when its last stream had it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_receives_what_another_publishes() {
    let dir = std::env::temp_dir().join(format!("ssehub-bench-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready");
    let report = common::run_against(Config::default(), |port| {
        let load = env!("CARGO_BIN_EXE_ssehub-load");
        let url = format!("http://127.0.0.1:{port}");
        // The receiver in the background; the publisher once the receiver's
        // streams are open (its file exists); then the receiver's line.
        let script = format!(
            "{load} --url {url} --receive-only --connections 10 --events 20 --publishers 2 \
               --ready-file {ready} --drain-seconds 10 --threads 1 & receiver=$!; \
             for _ in $(seq 600); do [ -e {ready} ] && break; sleep 0.05; done; \
             {load} --url {url} --connections 0 --events 20 --publishers 2 --threads 1 >/dev/null || exit 1; \
             wait $receiver",
            ready = ready.display()
        );
        let mut command = Command::new("sh");
        command.args(["-c", &script]);
        command
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_all_delivered(&report, 10, 20);
    let each = report["to_all_each_us"]
        .as_array()
        .unwrap_or_else(|| panic!("to_all_each_us: {report}"));
    assert_eq!(each.len(), 20, "{report}");
    assert!(
        each.iter().all(|us| us.as_u64().unwrap() > 0),
        "every event reached every stream: {report}"
    );
}
