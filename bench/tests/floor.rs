//! `loopback-floor`: the bare writer under `bench/run.sh`'s CPU floor,
//! paced at a rate, reports its CPU per write.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn the_paced_writer_keeps_its_rate_and_reports_cpu_per_write() {
    let bin = env!("CARGO_BIN_EXE_loopback-floor");
    let mut writer = Command::new(bin)
        .args(["write", "--connections", "20", "--rounds", "6"])
        .args(["--rate", "20", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(writer.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_else(|| panic!("no port in {line:?}"))
        .to_owned();
    let mut reader = Command::new(bin)
        .args(["read", "--connections", "20", "--port", &port])
        .spawn()
        .unwrap();
    let output = writer.wait_with_output().unwrap();
    // The reader ends when the writer's sockets close.
    assert!(reader.wait().unwrap().success());
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["writes"], 120.0, "{report}");
    assert_eq!(report["rate"], 20.0, "{report}");
    // Six rounds at 20 a second start 0.25 s apart from first to last
    // (rounds 10 ms apart, without the rate, would take 0.06 s).
    let elapsed = report["elapsed_seconds"].as_f64().unwrap();
    assert!(elapsed >= 0.25, "{report}");
    let cpu = report["cpu_seconds"].as_f64().unwrap();
    let per_write = report["cpu_us_per_write"].as_f64().unwrap();
    assert!(cpu >= 0.0 && cpu < elapsed + 1.0, "{report}");
    assert!((per_write - cpu * 1e6 / 120.0).abs() < 0.01, "{report}");
}

#[test]
fn a_rate_that_is_no_number_of_rounds_is_refused() {
    let bin = env!("CARGO_BIN_EXE_loopback-floor");
    for rate in ["-1", "NaN", "inf"] {
        let output = Command::new(bin)
            .args(["write", "--connections", "1", "--port", "0"])
            .arg(format!("--rate={rate}"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "--rate {rate}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--rate must be"), "--rate {rate}: {stderr}");
    }
}
