//! `ssehub serve` as a process: a TOML config under environment variables,
//! JSON logs, and a clean exit on SIGTERM.

use std::process::Command;

mod common;
use common::serve;

#[tokio::test]
async fn config_file_under_environment_and_a_clean_exit() {
    let dir = std::env::temp_dir().join(format!("ssehub-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ssehub.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\nmax-topics = 1\nmax_event_bytes = 4\n",
    )
    .unwrap();
    // The environment wins over the file: two topics are allowed.
    let (child, addr) = serve(
        &["--config", file.to_str().unwrap(), "--log-format", "json"],
        &[("SSEHUB_MAX_TOPICS", "2")],
    );
    let http = reqwest::Client::new();
    let two = http
        .get(format!("http://{addr}/events?topic=a&topic=b"))
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 200);
    drop(two);
    let three = http
        .get(format!("http://{addr}/events?topic=a&topic=b&topic=c"))
        .send()
        .await
        .unwrap();
    assert_eq!(three.status(), 400);
    // From the file: data of 5 bytes is too large.
    let big = http
        .post(format!("http://{addr}/publish"))
        .json(&serde_json::json!({"topic": "a", "data": "12345"}))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    common::terminate(child);

    std::fs::write(&file, "lisen = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key \"lisen\""));
    std::fs::remove_dir_all(&dir).unwrap();
}
