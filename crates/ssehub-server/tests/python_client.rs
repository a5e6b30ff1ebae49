//! A real non-browser client besides ours: Python's `httpx-sse` (with
//! `httpx`), pinned in `tests/python/requirements.txt`, reads `ssehub serve`'s
//! streams and must see exactly the events that were published, the first
//! carrying the hub's retry hint. `httpx-sse` dispatches an event on every
//! blank line once any field was set (an id included, and an id is never
//! cleared): a lone `retry:` block, or a keep-alive comment followed by a
//! blank line after an event with an id, would reach it as an empty
//! `message` event that nobody published.
//!
//! The interpreter is `$SSEHUB_PYTHON` (`scripts/test` makes a venv at
//! `$HOME/.cache/ssehub/venv` and sets it). Without it the test is skipped
//! with a note, unless `SSEHUB_REQUIRE_PYTHON=1` (as `scripts/test` sets).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{start, within};
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_server::Config;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/python/httpx_sse_client.py"
);

/// The interpreter with httpx-sse, or `None` (after a note) to skip.
fn python() -> Option<String> {
    match std::env::var("SSEHUB_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => {
            let required = std::env::var("SSEHUB_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "SSEHUB_PYTHON is not set: point it at a Python with the packages of \
                 tests/python/requirements.txt (scripts/test makes a venv at \
                 $HOME/.cache/ssehub/venv), or unset SSEHUB_REQUIRE_PYTHON to skip"
            );
            eprintln!(
                "note: skipping the httpx-sse test: SSEHUB_PYTHON is not set \
                 (scripts/test sets it; SSEHUB_REQUIRE_PYTHON=1 makes this a failure)"
            );
            None
        }
    }
}

/// The script reading `url` until it has `count` events; its stdout's lines.
struct Reader {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Reader {
    async fn open(python: &str, url: &str, count: usize, last_event_id: Option<&str>) -> Reader {
        let mut command = tokio::process::Command::new(python);
        command.arg(SCRIPT).arg(url).arg(count.to_string());
        command.args(last_event_id);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut reader = Reader { child, lines };
        // Subscribed once the response headers are in.
        assert_eq!(reader.next().await, Some(json!({"open": true})));
        reader
    }

    /// The next line as JSON; `None` once the script ended.
    async fn next(&mut self) -> Option<Value> {
        match within("a line from the httpx-sse script", self.lines.next_line()).await {
            Ok(Some(line)) => Some(serde_json::from_str(&line).expect("a JSON line")),
            Ok(None) => None,
            Err(e) => panic!("reading the script's output: {e}"),
        }
    }

    /// Every line up to the script's exit, which must be a success.
    async fn rest(mut self) -> Vec<Value> {
        let mut lines = Vec::new();
        while let Some(line) = self.next().await {
            lines.push(line);
        }
        let status = within("the httpx-sse script's exit", self.child.wait())
            .await
            .unwrap();
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr).await;
        }
        assert!(status.success(), "the httpx-sse script failed: {stderr}");
        lines
    }
}

fn event(event: &str, data: &str, id: &str, retry: Option<u64>) -> Value {
    json!({"event": event, "data": data, "id": id, "retry": retry})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpx_sse_sees_exactly_the_published_events_and_the_retry_hint() {
    let Some(python) = python() else { return };
    let keepalive = Duration::from_millis(100);
    let hub = Hub::builder()
        .retry(Some(Duration::from_millis(1500)))
        .keepalive(Some(keepalive))
        .build();
    let s = start(hub, Config::default()).await;
    let url = format!("{}/events?topic=t", s.base);

    // Live: keep-alives before the first event and between events.
    let live = Reader::open(&python, &url, 3, None).await;
    tokio::time::sleep(keepalive * 3).await;
    let one = s.publish_ok("t", "one").await;
    // Keep-alives after an event with an id: httpx-sse keeps the id, so a
    // blank line after a comment would make an empty event.
    tokio::time::sleep(keepalive * 3).await;
    let two = s.publish_ok("t", "two").await;
    let (status, body) = s
        .publish(json!({"topic": "t", "event": "note", "data": "a\nb"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let three = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        live.rest().await,
        [
            event("message", "one", &one, Some(1500)),
            event("message", "two", &two, None),
            event("note", "a\nb", &three, None),
        ],
        "exactly the published events, the first with the retry hint"
    );

    // Resumed: the replay's first event carries the hint.
    let resumed = Reader::open(&python, &url, 2, Some(&one)).await;
    assert_eq!(
        resumed.rest().await,
        [
            event("message", "two", &two, Some(1500)),
            event("note", "a\nb", &three, None),
        ]
    );

    // An id the hub cannot resume from: the reset event first, with the hint.
    let reset = Reader::open(&python, &url, 2, Some("not-an-id")).await;
    let four = s.publish_ok("t", "four").await;
    let got = reset.rest().await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (&got[0]["event"], &got[0]["id"], &got[0]["retry"]),
        (&json!("ssehub-reset"), &json!(three), &json!(1500)),
        "{got:?}"
    );
    assert_eq!(got[1], event("message", "four", &four, None));
}
