//! `ssehub publish` as a process against a real hub.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::{data, next_events, start};
use ssehub::Hub;
use ssehub_server::{Auth, Config};

/// Runs `ssehub publish ARGS` with `stdin`, off the async runtime.
async fn publish(args: Vec<String>, stdin: &'static str) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .arg("publish")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_from_flags_and_stdin_and_prints_the_id() {
    let s = start(Hub::new(), Config::default()).await;
    let mut items = s.subscribe("topic=cli", None).await;
    let out = publish(
        args(&[
            "--url", &s.base, "--topic", "cli", "--data", "one", "--event", "note",
        ]),
        "",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = publish(
        args(&["--url", &s.base, "--topic", "cli", "--data", "-"]),
        "two\nlines\n",
    )
    .await;
    assert!(out.status.success());
    let got = next_events(&mut items, 2).await;
    assert_eq!(data(&got), ["one", "two\nlines\n"]);
    assert_eq!(
        (got[0].event.as_str(), got[0].last_event_id.as_str()),
        ("note", id.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_exit_non_zero_with_the_hubs_message() {
    let auth = Auth::new(Some(b"secret"), None, vec![]).unwrap();
    let config = Config {
        auth: Some(Arc::new(auth)),
        ..Config::default()
    };
    let s = start(Hub::new(), config).await;
    let out = publish(args(&["--url", &s.base, "--topic", "t", "--data", "x"]), "").await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("needs a token"),
        "{err}"
    );
    assert_eq!(s.hub.stats().events_published, 0);

    let out = publish(
        args(&["--url", "http://127.0.0.1:9", "--topic", "t", "--data", "x"]),
        "",
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("POST http://127.0.0.1:9/publish"));
}
