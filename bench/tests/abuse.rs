//! `ssehub-abuse` against an in-process `ssehub_server::run`, each mode for
//! a moment: it does what it says and reports it. (What the abuse costs
//! healthy clients is measured by `bench/abuse.sh`, never here.)

use std::process::Command;

mod common;

use serde_json::Value;
use ssehub_server::{Config, Tls};

/// Serves a fresh hub on `config` and runs `ssehub-abuse` with `args`
/// against it for `seconds`; returns its JSON line.
async fn abuse(config: Config, seconds: &str, args: &[&str]) -> Value {
    common::run_against(config, |port| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub-abuse"));
        command
            .args(["--url", &format!("http://127.0.0.1:{port}")])
            .args(["--duration", seconds, "--threads", "1"])
            .args(args);
        command
    })
    .await
}

fn status(report: &Value, code: &str) -> u64 {
    report["statuses"][code].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_opens_and_closes_streams() {
    let report = abuse(
        Config::default(),
        "0.5",
        &["--mode", "churn", "--connections", "4"],
    )
    .await;
    assert_eq!(report["mode"], "churn");
    assert!(report["streams_opened"].as_u64().unwrap() > 10, "{report}");
    assert_eq!(
        report["streams_opened"].as_u64(),
        Some(status(&report, "200"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_accepted_up_to_the_limits_and_refused_past_them() {
    // Small limits, so that a debug build answers many in a second; the
    // four kinds of request in turn are answered 200, 413, 200, 413.
    let config = Config {
        max_event_bytes: 1000,
        max_body_bytes: 4000,
        ..Config::default()
    };
    let report = abuse(
        config,
        "1",
        &[
            "--mode",
            "oversized",
            "--connections",
            "1",
            "--max-event-bytes",
            "1000",
            "--max-body-bytes",
            "4000",
            "--signal-bytes",
            "3000",
        ],
    )
    .await;
    assert!(status(&report, "200") >= 10, "{report}");
    assert!(status(&report, "413") >= 10, "{report}");
    assert_eq!(
        report["statuses"].as_object().unwrap().len(),
        2,
        "200 and 413 only: {report}"
    );
    assert_eq!(report["no_answer"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_stall_hold_connections() {
    let slow = abuse(
        Config::default(),
        "0.5",
        &[
            "--mode",
            "slowloris",
            "--connections",
            "20",
            "--interval-ms",
            "50",
        ],
    )
    .await;
    assert_eq!(slow["held_peak"], 20, "{slow}");
    assert_eq!(slow["closed_by_server"], 0, "{slow}");
    let stall = abuse(
        Config::default(),
        "1.5",
        &[
            "--mode",
            "stall",
            "--connections",
            "5",
            "--stall-seconds",
            "0.2",
            "--filler-rate",
            "50",
        ],
    )
    .await;
    assert_eq!(stall["held_peak"], 5, "{stall}");
    assert!(stall["filler_published"].as_u64().unwrap() > 0, "{stall}");
    assert!(status(&stall, "200") >= 5, "{stall}");
}

/// Stall over HTTP/2: stalled streams share connections that offer 4 KiB
/// windows; the hub cuts each once its queue fills with filler events, and
/// the abuser sees the cut (a reset or an end of stream) when it reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_over_http2_holds_streams_that_the_hub_cuts() {
    let dir = std::env::temp_dir().join(format!("ssehub-bench-abuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    common::certificate(&dir);
    let config = Config {
        tls: Some(Tls::from_pem_files(dir.join("cert.pem"), dir.join("cert.key")).unwrap()),
        ..Config::default()
    };
    let report = common::run_against(config, |port| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub-abuse"));
        command
            .args(["--url", &format!("https://127.0.0.1:{port}"), "--insecure"])
            .args(["--duration", "3", "--threads", "1", "--mode", "stall"])
            .args(["--connections", "4", "--streams-per-connection", "2"])
            .args(["--stall-seconds", "1", "--filler-rate", "50"]);
        command
    })
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report["held_peak"], 4, "{report}");
    assert!(status(&report, "200") >= 4, "{report}");
    assert!(report["filler_published"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["closed_by_server"].as_u64().unwrap() >= 1,
        "the hub cut stalled streams: {report}"
    );
}
