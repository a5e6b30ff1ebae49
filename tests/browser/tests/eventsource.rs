//! Headless Chromium's `EventSource` receives the frames that
//! `ssehub_core::Event` encodes exactly as they were built: type, data (with
//! its line breaks as LF, the one change the format imposes) and id, whatever
//! the content and however the bytes are cut into chunks on the wire. The
//! `retry` field and the `Last-Event-ID` sent on reconnection are checked too.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use ssehub_browser_tests::{serve, Browser, PageOptions};
use ssehub_core::Event;

/// The pause between two chunks of a streamed body, so that the browser reads
/// them apart (correctness does not depend on it: coalesced chunks only make
/// the test weaker).
const PACE: Duration = Duration::from_millis(10);

/// The id of the last event of the first connection: what the browser must
/// send back as `Last-Event-ID` when it reconnects. (No leading or trailing
/// space: HTTP strips those from header values.)
const RESUME_ID: &str = "résumé 42 ✓ 😀 漢字";

/// The `retry` of the last event of the first connection; browsers default to
/// about 3 seconds.
const RETRY: Duration = Duration::from_millis(100);

/// One event as built, and (through [`Case::expect`]) what an `EventSource`
/// must dispatch for it.
#[derive(Clone, Debug, Default)]
struct Case {
    comment: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
    /// An id set after building, with `Event::with_id` (as a hub stamps ids).
    stamp: Option<String>,
}

impl Case {
    fn data(data: impl Into<String>) -> Case {
        Case {
            data: Some(data.into()),
            ..Case::default()
        }
    }

    /// A frame without data: the browser dispatches nothing for it.
    fn no_data() -> Case {
        Case::default()
    }

    fn event(mut self, event: impl Into<String>) -> Case {
        self.event = Some(event.into());
        self
    }

    fn id(mut self, id: impl Into<String>) -> Case {
        self.id = Some(id.into());
        self
    }

    fn retry(mut self, retry: Duration) -> Case {
        self.retry = Some(retry);
        self
    }

    fn comment(mut self, comment: impl Into<String>) -> Case {
        self.comment = Some(comment.into());
        self
    }

    fn stamp(mut self, id: impl Into<String>) -> Case {
        self.stamp = Some(id.into());
        self
    }

    fn frame(&self) -> Bytes {
        let mut builder = Event::builder();
        if let Some(comment) = &self.comment {
            builder = builder.comment(comment.as_str());
        }
        if let Some(event) = &self.event {
            builder = builder.event(event.as_str());
        }
        if let Some(id) = &self.id {
            builder = builder.id(id.as_str());
        }
        if let Some(retry) = self.retry {
            builder = builder.retry(retry);
        }
        if let Some(data) = &self.data {
            builder = builder.data(data.as_str());
        }
        let event = builder.build().expect("every case is a valid event");
        match &self.stamp {
            Some(id) => event.with_id(id).expect("every stamp is a valid id"),
            None => event,
        }
        .encode()
    }

    /// What the browser dispatches for this frame, per the HTML standard:
    /// nothing without data; otherwise the type (`message` if none), the data
    /// with CRLF and CR as LF, and the last id seen on the stream (`last_id`,
    /// which this frame's id, if any, replaces, even without data).
    fn expect(&self, last_id: &mut String) -> Option<Value> {
        if let Some(id) = self.stamp.as_ref().or(self.id.as_ref()) {
            last_id.clone_from(id);
        }
        let data = self.data.as_ref()?;
        let event = match self.event.as_deref() {
            None | Some("") => "message",
            Some(event) => event,
        };
        Some(json!({
            "type": event,
            "data": data.replace("\r\n", "\n").replace('\r', "\n"),
            "lastEventId": last_id,
        }))
    }
}

/// How a group of frames is cut into chunks of the response body.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// All in one chunk.
    Whole,
    /// One byte a chunk.
    Bytewise,
    /// Before every UTF-8 continuation byte (inside each multibyte
    /// character), before every `:`, after every LF (so also between the two
    /// LFs that end a frame, the next frame starting in the same chunk as that
    /// second LF).
    Awkward,
}

fn chunks(group: &[Case], cut: Cut) -> Vec<Bytes> {
    let bytes: Bytes = group
        .iter()
        .flat_map(|case| case.frame().to_vec())
        .collect::<Vec<u8>>()
        .into();
    let cuts: Vec<usize> = match cut {
        Cut::Whole => vec![],
        Cut::Bytewise => (1..bytes.len()).collect(),
        Cut::Awkward => (1..bytes.len())
            .filter(|&i| (bytes[i] & 0xC0 == 0x80) || bytes[i] == b':' || bytes[i - 1] == b'\n')
            .collect(),
    };
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for end in cuts.into_iter().chain([bytes.len()]) {
        out.push(bytes.slice(start..end));
        start = end;
    }
    out
}

/// 100 KiB and more of one line, with multibyte characters throughout.
fn long_line() -> String {
    let unit = "0123456789 abcdef 😀 é 漢字 \u{2028} ";
    unit.repeat(100 * 1024 / unit.len() + 1)
}

/// The frames of the first connection, each group with how it is cut. The
/// connection ends after them; the browser reconnects.
fn first_connection() -> Vec<(Cut, Vec<Case>)> {
    let whole = vec![
        Case::data("hello"),
        // Line breaks of every kind.
        Case::data("line 1\nline 2\nline 3"),
        Case::data("cr 1\rcr 2\rcr 3"),
        Case::data("crlf 1\r\ncrlf 2\r\ncrlf 3"),
        Case::data("mixed\r\n\n\r\r\n\rend"),
        Case::data("\n\nleading newlines"),
        // Spaces, which a client strips one of after the colon.
        Case::data(" leading space"),
        Case::data("  two leading spaces"),
        Case::data("\ttab first"),
        Case::data("trailing spaces  "),
        Case::data(" "),
        // Trailing line breaks, and nothing at all.
        Case::data("trailing newline\n"),
        Case::data("trailing newlines\n\n\n"),
        Case::data("trailing crlf\r\n"),
        Case::data("trailing cr\r"),
        Case::data(""),
        Case::data("\n"),
        Case::data("\r\n"),
        Case::data("\r"),
        Case::data("\n\n"),
        // What looks like syntax.
        Case::data(": colon first"),
        Case::data(":"),
        Case::data("::double"),
        Case::data(
            "data: not a field\nid: not an id\nevent: not a type\nretry: 1\n: nor a comment",
        ),
        // Unicode.
        Case::data("emoji 😀👍🏽👨‍👩‍👧 🇫🇷"),
        Case::data("CJK 漢字 かな 한국어"),
        Case::data("combining e\u{301} a\u{308}\u{323}"),
        Case::data("\u{301} combining mark first"),
        Case::data("feff in\u{FEFF}the middle"),
        Case::data("\u{FEFF}feff first"),
        Case::data("not line breaks: ls\u{2028}ps\u{2029}nel\u{85}vt\u{B}ff\u{C}"),
        Case::data("nul\0inside"),
        Case::data("max \u{10FFFF} \u{FFFD}"),
        // Long data.
        Case::data(long_line()),
        Case::data(
            (0..2000)
                .map(|i| format!("line {i}\r\n"))
                .collect::<String>(),
        ),
        // Event types.
        Case::data("typed").event("custom"),
        Case::data("spaced type").event(" spaced"),
        Case::data("unicode type").event("ünïcödé 事件 😀"),
        Case::data("empty type is message").event(""),
        Case::data("explicit message").event("message"),
        // Ids, which persist until the next one.
        Case::data("id 1").id("1"),
        Case::data("no id: keeps the last"),
        Case::data("id with spaces").id("with spaces inside"),
        Case::data("id with edge spaces").id(" leading and trailing "),
        Case::data("unicode id").id("ünï 😀 漢字"),
        Case::data("custom type and id")
            .event("custom")
            .id("custom-1"),
        Case::data("empty id resets").id(""),
        Case::no_data().id("set without data"),
        Case::data("after an id-only frame"),
        Case::data("stamped").stamp("stamped 😀"),
        Case::data("restamped").id("old").stamp("new"),
        // Comments and retry are not dispatched and leave the rest alone.
        Case::no_data().comment("keep-alive"),
        Case::data("with comments").comment("one\ntwo"),
        Case::data("with retry").retry(Duration::from_secs(5)),
    ];
    let awkward = vec![
        Case::data("ab😀cd\n漢字\r\nmore\rend")
            .event("split")
            .id("é😀 id"),
        Case::data(" 😀 after a space"),
        Case::data("\u{301}e\u{301}"),
        Case::data("a\u{FEFF}b"),
        Case::data("x").event("ünïcödé 事件 😀"),
        Case::data(""),
        Case::data("\n"),
        Case::no_data().comment("keep-alive 😀"),
        Case::data("after").comment("c: 😀"),
    ];
    let bytewise = vec![Case::data("é😀\r\nx\n")
        .event("bytes")
        .id("ïd 😀")
        .comment("ç")];
    let last = vec![Case::data("reconnect soon")
        .event("bye")
        .id(RESUME_ID)
        .retry(RETRY)];
    vec![
        (Cut::Whole, whole),
        (Cut::Awkward, awkward),
        (Cut::Bytewise, bytewise),
        (Cut::Whole, last),
    ]
}

/// The frames of the second connection, after one that echoes the
/// `Last-Event-ID` the browser sent.
fn second_connection() -> Vec<(Cut, Vec<Case>)> {
    vec![
        (
            Cut::Awkward,
            vec![Case::data("after reconnecting 😀\r\n").event("custom")],
        ),
        (Cut::Whole, vec![Case::data("").event("end")]),
    ]
}

/// What the server saw of the reconnection.
#[derive(Debug)]
struct Reconnection {
    /// From the end of the first response to the second request (`None` if
    /// the second request came before the first response ended).
    gap: Option<Duration>,
    last_event_id: Option<Vec<u8>>,
}

struct App {
    page: String,
    connections: AtomicUsize,
    first_ended: Mutex<Option<Instant>>,
    reconnection: Mutex<Option<Reconnection>>,
}

/// `text/event-stream` of `chunks`, one body chunk each, [`PACE`] apart;
/// `on_sent(i)` runs as chunk `i` is handed over.
fn event_stream(chunks: Vec<Bytes>, on_sent: impl Fn(usize) + Send + 'static) -> Response {
    let body = stream::iter(chunks.into_iter().enumerate())
        .then(|(i, chunk)| async move {
            if i > 0 {
                tokio::time::sleep(PACE).await;
            }
            (i, chunk)
        })
        .map(move |(i, chunk)| {
            on_sent(i);
            Ok::<_, Infallible>(chunk)
        });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn all_chunks(groups: &[(Cut, Vec<Case>)]) -> Vec<Bytes> {
    groups
        .iter()
        .flat_map(|(cut, group)| chunks(group, *cut))
        .collect()
}

async fn stream(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match app.connections.fetch_add(1, Ordering::SeqCst) {
        0 => {
            let chunks = all_chunks(&first_connection());
            let last = chunks.len() - 1;
            let app = Arc::clone(&app);
            event_stream(chunks, move |i| {
                if i == last {
                    *app.first_ended.lock().unwrap() = Some(Instant::now());
                }
            })
        }
        1 => {
            let last_event_id = headers
                .get("last-event-id")
                .map(|value| value.as_bytes().to_vec());
            let echo = match &last_event_id {
                None => "<no Last-Event-ID header>".to_owned(),
                Some(bytes) => String::from_utf8(bytes.clone())
                    .unwrap_or_else(|_| format!("<not UTF-8: {bytes:?}>")),
            };
            *app.reconnection.lock().unwrap() = Some(Reconnection {
                gap: app.first_ended.lock().unwrap().map(|ended| ended.elapsed()),
                last_event_id,
            });
            let mut chunks = vec![Case::data(echo).event("resumed").frame()];
            chunks.extend(all_chunks(&second_connection()));
            event_stream(chunks, |_| {})
        }
        // 204 makes the browser stop reconnecting (and the page report it).
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The page: records every event it is dispatched (and every `error`) in
/// `window.__result`, and is done at the `end` event or when the browser gives
/// up on the stream.
const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>ssehub EventSource conformance</title></head>
<body>
<script>
"use strict";
const types = __TYPES__;
window.__result = [];
const source = new EventSource('/stream');
let finished = false;
function finish() {
  finished = true;
  source.close();
  window.__done = true;
}
function record(event) {
  if (finished) return;
  window.__result.push({ type: event.type, data: event.data, lastEventId: event.lastEventId });
  if (event.type === 'end') finish();
}
for (const type of types) source.addEventListener(type, record);
source.addEventListener('error', () => {
  if (finished) return;
  window.__result.push({ type: 'error', readyState: source.readyState });
  const errors = window.__result.filter((r) => r.type === 'error').length;
  if (source.readyState === EventSource.CLOSED || errors > 3) finish();
});
</script>
</body>
</html>
"#;

fn page() -> String {
    let mut types = vec!["message".to_owned(), "resumed".to_owned()];
    for (_, group) in first_connection().iter().chain(&second_connection()) {
        for case in group {
            if let Some(event) = case.event.as_ref().filter(|e| !e.is_empty()) {
                if !types.contains(event) {
                    types.push(event.clone());
                }
            }
        }
    }
    let types = serde_json::to_string(&types)
        .expect("strings serialize")
        .replace('<', "\\u003c");
    PAGE.replace("__TYPES__", &types)
}

/// What the page must record: every event of the first connection, the
/// `error` that announces the reconnection, the echo of `Last-Event-ID`, and
/// the events of the second connection.
fn expected() -> Vec<Value> {
    let mut last_id = String::new();
    let mut expected = Vec::new();
    let mut expect = |groups: &[(Cut, Vec<Case>)], last_id: &mut String| {
        for (_, group) in groups {
            expected.extend(group.iter().filter_map(|case| case.expect(last_id)));
        }
    };
    expect(&first_connection(), &mut last_id);
    let mut rest = vec![(Cut::Whole, vec![Case::data(RESUME_ID).event("resumed")])];
    rest.extend(second_connection());
    expect(&rest, &mut last_id);
    let reconnect = expected
        .iter()
        .position(|e| e["type"] == "resumed")
        .expect("the resumed event is expected");
    // EventSource.CONNECTING
    expected.insert(reconnect, json!({"type": "error", "readyState": 0}));
    expected
}

/// A value for a message, cut short if long.
fn show(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "(nothing)".to_owned();
    };
    let text = value.to_string();
    if text.chars().count() <= 300 {
        return text;
    }
    let head: String = text.chars().take(300).collect();
    format!("{head}... ({} bytes)", text.len())
}

/// Asserts that the browser recorded exactly `expected`, listing every
/// difference.
fn assert_received(actual: &Value, expected: &[Value]) {
    let Some(actual) = actual.as_array() else {
        panic!("the page's result is not a list: {}", show(Some(actual)));
    };
    let mut differences = Vec::new();
    for i in 0..actual.len().max(expected.len()) {
        let (got, want) = (actual.get(i), expected.get(i));
        if got != want {
            differences.push(format!(
                "event #{i}:\n  expected {}\n  received {}",
                show(want),
                show(got)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "the browser received {} events, {} expected; {} differ:\n{}",
        actual.len(),
        expected.len(),
        differences.len(),
        differences.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventsource_receives_frames_exactly_as_built() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let app = Arc::new(App {
        page: page(),
        connections: AtomicUsize::new(0),
        first_ended: Mutex::new(None),
        reconnection: Mutex::new(None),
    });
    let router = Router::new()
        .route(
            "/",
            get(|State(app): State<Arc<App>>| async move { Html(app.page.clone()) }),
        )
        .route("/stream", get(stream))
        .with_state(Arc::clone(&app));
    let server = serve(router).await?;

    let received = browser
        .run_page(&server.url("/"), &PageOptions::default())
        .await?;

    let expected = expected();
    assert_received(&received, &expected);

    let reconnection = app
        .reconnection
        .lock()
        .unwrap()
        .take()
        .expect("the browser reconnected");
    assert_eq!(
        reconnection.last_event_id.as_deref(),
        Some(RESUME_ID.as_bytes()),
        "the Last-Event-ID header of the reconnection"
    );
    // The browser waits `retry` (100 ms) rather than its default (3 s).
    let gap = reconnection
        .gap
        .expect("the browser reconnected after the first response ended");
    assert!(
        gap < Duration::from_secs(2),
        "the browser reconnected after {gap:?}, not after the {RETRY:?} that `retry` set"
    );
    assert_eq!(app.connections.load(Ordering::SeqCst), 2, "connections");
    println!(
        "Chromium received {} events exactly as built; reconnected after {gap:?}",
        expected.len()
    );
    Ok(())
}

/// The harness reports a page that never finishes, with what the page said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_never_finishes_is_an_error_with_diagnostics() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let router = Router::new().route(
        "/",
        get(|| async {
            Html(
                "<script>console.log('hello from the page'); \
                 window.__result = ['partial'];</script>",
            )
        }),
    );
    let server = serve(router).await?;
    let error = browser
        .run_page(
            &server.url("/"),
            &PageOptions::default().timeout(Duration::from_secs(10)),
        )
        .await
        .expect_err("the page never sets window.__done");
    let message = format!("{error:#}");
    for needle in ["window.__done", "hello from the page", r#"["partial"]"#] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    Ok(())
}
