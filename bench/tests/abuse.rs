//! `ssehub-abuse` against an in-process `ssehub_server::run`, each mode for
//! a moment: it does what it says and reports it. (What the abuse costs
//! healthy clients is measured by `bench/abuse.sh`, never here.)

use std::process::Command;

mod common;

use serde_json::Value;
use ssehub_server::Config;

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
