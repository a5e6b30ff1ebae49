//! Headless Chromium against the real hub over real HTTP: `ssehub serve`'s
//! API (`ssehub_server::router`), with the browser both publishing (`fetch`
//! to `POST /publish`) and subscribing (`EventSource` on `/events`).
//!
//! - Awkward data (line breaks of every kind, spaces, Unicode, event types)
//!   arrives exactly as published, with the id that `/publish` answered.
//! - Resume: a browser whose stream the server cuts reconnects with
//!   `Last-Event-ID` and gets exactly the events it missed, in order; so does
//!   a new `EventSource` given `?lastEventId=`.
//! - Reset: an id the hub cannot resume from (unknown, gone from history, from
//!   another hub) gets an `ssehub-reset` event first.
//!
//! Each test page is a module script: a shared prelude (below) with
//! `publish` and a queue-backed `subscribe`, then the test's `main`, which
//! fetches its configuration from `/test/config`. The page publishes only
//! after its `EventSource` reports `open` (the hub has subscribed it by then),
//! so there is no sleep anywhere: every wait is for an event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_browser_tests::cut::cut_after_events;
use ssehub_browser_tests::{serve, Browser, PageOptions};

/// What every test page starts with: the helpers its `main` uses, and the
/// code that runs `main` and reports the outcome to the harness.
///
/// `subscribe(url, types)` opens an `EventSource` and queues, in order, its
/// `open` and `error` events and every event of `types`; `await
/// stream.next()` takes the next one. `readUntil(stream, pred)` takes events
/// up to and including the first that `pred` accepts. `publish(body)` posts
/// to `/publish` and returns the id the hub answered.
const PRELUDE: &str = r#"
window.__result = {};
async function publish(body) {
  const response = await fetch('/publish', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (response.status !== 200 || typeof answer.id !== 'string') {
    throw new Error(`POST /publish ${JSON.stringify(body)}: ${response.status} ${JSON.stringify(answer)}`);
  }
  return answer.id;
}
function subscribe(url, types) {
  const source = new EventSource(url);
  const queue = [];
  let wake = null;
  const push = (item) => {
    queue.push(item);
    if (wake) { const w = wake; wake = null; w(); }
  };
  source.addEventListener('open', () => push({ type: 'open' }));
  source.addEventListener('error', () => push({ type: 'error', readyState: source.readyState }));
  for (const type of types) {
    source.addEventListener(type, (e) => push({ type: e.type, data: e.data, lastEventId: e.lastEventId }));
  }
  return {
    source,
    async next() {
      while (queue.length === 0) await new Promise((resolve) => { wake = resolve; });
      return queue.shift();
    },
  };
}
async function readUntil(stream, pred, into) {
  for (;;) {
    const item = await stream.next();
    into.push(item);
    if (pred(item)) return item;
    if (item.type === 'error' && stream.source.readyState === EventSource.CLOSED) {
      throw new Error('the stream closed');
    }
  }
}
"#;

/// What every test page ends with.
const EPILOGUE: &str = r#"
try {
  const config = await (await fetch('/test/config')).json();
  await main(config);
} catch (e) {
  window.__result.error = String(e && e.stack || e);
}
window.__done = true;
"#;

fn page(main: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>ssehub hub test</title></head>\n\
         <body><script type=\"module\">\n\"use strict\";\n{PRELUDE}\n{main}\n{EPILOGUE}</script></body></html>\n"
    )
}

/// The hub's HTTP API on `hub`, plus the test's page at `/test/page` and its
/// configuration at `/test/config` (same origin, as `EventSource` needs).
fn app(hub: Hub, main: &str, config: Value) -> Router {
    let page = page(main);
    Router::new()
        .route("/test/page", get(move || async move { Html(page) }))
        .route("/test/config", get(move || async move { Json(config) }))
        .merge(ssehub_server::router(hub, ssehub_server::Config::default()))
}

/// The page's result, with its error (if any) turned into a test failure.
fn result(value: Value) -> Value {
    if let Some(error) = value.get("error") {
        panic!(
            "the page failed: {}\nits result so far: {value:#}",
            error.as_str().unwrap_or_default()
        );
    }
    value
}

/// Asserts that `actual` (a JSON list) is `expected`, listing each difference.
#[track_caller]
fn assert_list(what: &str, actual: &Value, expected: &[Value]) {
    let actual = actual
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not a list: {actual}"));
    let differences: Vec<String> = (0..actual.len().max(expected.len()))
        .filter(|&i| actual.get(i) != expected.get(i))
        .map(|i| {
            format!(
                "#{i}:\n  expected {}\n  received {}",
                expected.get(i).map_or("(nothing)".into(), Value::to_string),
                actual.get(i).map_or("(nothing)".into(), Value::to_string)
            )
        })
        .collect();
    assert!(
        differences.is_empty(),
        "{what}: {} items received, {} expected; {} differ:\n{}",
        actual.len(),
        expected.len(),
        differences.len(),
        differences.join("\n")
    );
}

fn event(event_type: &str, data: &str, id: &Value) -> Value {
    json!({"type": event_type, "data": data, "lastEventId": id})
}

// ---------------------------------------------------------------------------
// Awkward data

/// The test of awkward data: publish each case, then an `end` event, after
/// the stream is open; record what arrives until `end`.
const AWKWARD_MAIN: &str = r#"
async function main({ topic, cases, types }) {
  const received = [];
  window.__result = { received };
  const stream = subscribe('/events?topic=' + encodeURIComponent(topic), types);
  await readUntil(stream, (e) => e.type === 'open', received);
  const ids = [];
  window.__result.ids = ids;
  for (const c of cases) ids.push(await publish({ topic, ...c }));
  ids.push(await publish({ topic, data: '', event: 'end' }));
  await readUntil(stream, (e) => e.type === 'end', received);
  stream.source.close();
}
"#;

/// Data (and an optional event type) that a naive encoder or client would
/// alter.
fn awkward_cases() -> Vec<(String, Option<&'static str>)> {
    let plain = [
        "hello",
        "line 1\nline 2\nline 3",
        "cr 1\rcr 2\rcr 3",
        "crlf 1\r\ncrlf 2\r\ncrlf 3",
        "mixed\r\n\n\r\r\n\rend",
        "\n\nleading newlines",
        " leading space",
        "  two leading spaces",
        "\ttab first",
        "trailing spaces  ",
        " ",
        "trailing newline\n",
        "trailing newlines\n\n\n",
        "trailing crlf\r\n",
        "trailing cr\r",
        "",
        "\n",
        "\r\n",
        "\r",
        ": colon first",
        "data: not a field\nid: not an id\nevent: not a type\nretry: 1\n: nor a comment",
        "emoji 😀👍🏽👨‍👩‍👧 🇫🇷",
        "CJK 漢字 かな 한국어",
        "not line breaks: ls\u{2028}ps\u{2029}nel\u{85}",
        "combining e\u{301}, bom \u{FEFF}, max \u{10FFFF}",
    ];
    let mut cases: Vec<(String, Option<&str>)> =
        plain.iter().map(|data| (data.to_string(), None)).collect();
    cases.push(("😀 ".repeat(20_000), None));
    cases.push(("typed".into(), Some("custom")));
    cases.push((" typed, multi-line\r\nand CRLF\n".into(), Some("custom")));
    cases.push(("unicode type".into(), Some("ünïcödé 事件 😀")));
    cases.push(("explicit message type".into(), Some("message")));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_data_arrives_intact_in_eventsource() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let hub = Hub::new();
    let cases = awkward_cases();
    let mut types = vec!["message", "end"];
    for (_, event) in &cases {
        if let Some(event) = event.filter(|event| !types.contains(event)) {
            types.push(event);
        }
    }
    let config = json!({
        "topic": "awkward/😀 topic",
        "cases": cases
            .iter()
            .map(|(data, event)| match event {
                Some(event) => json!({"data": data, "event": event}),
                None => json!({"data": data}),
            })
            .collect::<Vec<_>>(),
        "types": types,
    });
    let server = serve(app(hub.clone(), AWKWARD_MAIN, config)).await?;

    let result = result(
        browser
            .run_page(&server.url("/test/page"), &PageOptions::default())
            .await?,
    );

    let ids = result["ids"].as_array().expect("the page published");
    assert_eq!(ids.len(), cases.len() + 1, "ids: {ids:?}");
    let mut expected = vec![json!({"type": "open"})];
    for ((data, event_type), id) in cases.iter().zip(ids) {
        // The one change the format imposes: CRLF and CR arrive as LF.
        let data = data.replace("\r\n", "\n").replace('\r', "\n");
        expected.push(event(event_type.unwrap_or("message"), &data, id));
    }
    expected.push(event("end", "", &ids[cases.len()]));
    assert_list("events received", &result["received"], &expected);
    assert_eq!(hub.stats().events_published, cases.len() as u64 + 1);
    Ok(())
}

// ---------------------------------------------------------------------------
// Resume

/// The test of resuming. The first `EventSource` gets a1-a3, then the server
/// cuts its stream; b1-b3 are published while it reconnects (the server holds
/// the reconnection until `/test/release`); it resumes with `Last-Event-ID`
/// and gets b1-b3, then c1 live. Closed, it misses d1-d2; a new `EventSource`
/// with `?lastEventId=` (the last id the first saw) gets d1-d2, then e1 live. Each stream ends
/// with an `end` event published last, so anything extra or repeated shows.
const RESUME_MAIN: &str = r#"
async function main({ topic }) {
  const types = ['message', 'end'];
  const ids = {};
  const first = [];
  const second = [];
  window.__result = { ids, first, second };
  const pub = async (...names) => {
    for (const name of names) ids[name] = await publish({ topic, data: name });
  };
  const end = async (name) => { ids[name] = await publish({ topic, data: name, event: 'end' }); };
  const url = '/events?topic=' + encodeURIComponent(topic);

  const one = subscribe(url, types);
  await readUntil(one, (e) => e.type === 'open', first);
  await pub('a1', 'a2', 'a3');
  // The server ends the stream after a3: the browser announces that it
  // reconnects with an `error` event.
  await readUntil(one, (e) => e.type === 'error', first);
  await pub('b1', 'b2', 'b3');
  const release = await fetch('/test/release', { method: 'POST' });
  if (release.status !== 200) throw new Error(`release: ${release.status}`);
  await readUntil(one, (e) => e.data === 'b3', first);
  await pub('c1');
  await end('end1');
  await readUntil(one, (e) => e.type === 'end', first);
  one.source.close();

  await pub('d1', 'd2');
  // The id of the last event the first EventSource saw.
  const two = subscribe(url + '&lastEventId=' + encodeURIComponent(ids.end1), types);
  await readUntil(two, (e) => e.data === 'd2', second);
  await pub('e1');
  await end('end2');
  await readUntil(two, (e) => e.type === 'end', second);
  two.source.close();
}
"#;

/// The server side of the resume test: what each `/events` request carried,
/// and the switch that lets the reconnection through.
#[derive(Debug)]
struct Resumes {
    /// Per `/events` request, in order: its `Last-Event-ID` header and query.
    requests: Mutex<Vec<(Option<String>, String)>>,
    release: tokio::sync::watch::Sender<bool>,
}

/// Middleware on `/events`: the first stream is cut after three events; the
/// second request (the browser's reconnection) waits for `/test/release`.
async fn cut_and_hold(State(state): State<Arc<Resumes>>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/events" {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query = request.uri().query().unwrap_or("").to_owned();
    let n = {
        let mut requests = state.requests.lock().unwrap();
        requests.push((header, query));
        requests.len()
    };
    match n {
        1 => next
            .run(request)
            .await
            .map(|body| cut_after_events(body, 3)),
        2 => {
            let mut release = state.release.subscribe();
            let _ = release.wait_for(|released| *released).await;
            next.run(request).await
        }
        _ => next.run(request).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventsource_resumes_with_exactly_the_missed_events() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    // A short `retry` so that the browser reconnects at once; no keep-alive
    // comments among the frames that the middleware counts.
    let hub = Hub::builder()
        .retry(Some(Duration::from_millis(100)))
        .keepalive(None)
        .build();
    let topic = "resume";
    let state = Arc::new(Resumes {
        requests: Mutex::new(Vec::new()),
        release: tokio::sync::watch::Sender::new(false),
    });
    let release = Router::new()
        .route(
            "/test/release",
            post(|State(state): State<Arc<Resumes>>| async move {
                state.release.send_replace(true);
                "released"
            }),
        )
        .with_state(Arc::clone(&state));
    let app = app(hub.clone(), RESUME_MAIN, json!({ "topic": topic }))
        .merge(release)
        // Layered last, so that it wraps the hub's `/events`.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            cut_and_hold,
        ));
    let server = serve(app).await?;

    let result = result(
        browser
            .run_page(&server.url("/test/page"), &PageOptions::default())
            .await?,
    );

    let ids = &result["ids"];
    let message = |name: &str| event("message", name, &ids[name]);
    let open = json!({"type": "open"});
    // EventSource.CONNECTING: the browser will reconnect.
    let reconnecting = json!({"type": "error", "readyState": 0});
    assert_list(
        "the first EventSource (cut, then reconnected with Last-Event-ID)",
        &result["first"],
        &[
            open.clone(),
            message("a1"),
            message("a2"),
            message("a3"),
            reconnecting,
            open.clone(),
            message("b1"),
            message("b2"),
            message("b3"),
            message("c1"),
            event("end", "end1", &ids["end1"]),
        ],
    );
    assert_list(
        "the second EventSource (?lastEventId=)",
        &result["second"],
        &[
            open,
            message("d1"),
            message("d2"),
            message("e1"),
            event("end", "end2", &ids["end2"]),
        ],
    );

    let requests = state.requests.lock().unwrap().clone();
    let last_event_ids: Vec<Option<&str>> = requests.iter().map(|(h, _)| h.as_deref()).collect();
    assert_eq!(
        last_event_ids,
        [None, ids["a3"].as_str(), None],
        "the Last-Event-ID header of each /events request ({requests:?})"
    );
    let end1 = ids["end1"].as_str().expect("an id");
    assert!(
        requests[2].1.ends_with(&format!("&lastEventId={end1}")),
        "the query of the second EventSource ({requests:?})"
    );
    let stats = hub.stats();
    assert_eq!((stats.resumes, stats.resets), (2, 0), "{stats:?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Reset

/// The test of resets: h1-h4 fill the short history (two events); then, for
/// each id that cannot be resumed from, an `EventSource` with
/// `?lastEventId=ID` must get `ssehub-reset` first, then live events.
const RESET_MAIN: &str = r#"
async function main({ topic, cases }) {
  const types = ['message', 'end', 'ssehub-reset'];
  const ids = {};
  const received = {};
  const heads = {};
  window.__result = { ids, received, heads };
  let head = null;
  const pub = async (name, event) => {
    ids[name] = head = await publish(event ? { topic, data: name, event } : { topic, data: name });
  };
  for (const name of ['h1', 'h2', 'h3', 'h4']) await pub(name);
  for (const [name, lastEventId] of Object.entries(cases)) {
    const given = lastEventId ?? ids.h1;
    heads[name] = head;
    received[name] = [];
    const stream = subscribe(
      '/events?topic=' + encodeURIComponent(topic) + '&lastEventId=' + encodeURIComponent(given),
      types,
    );
    await readUntil(stream, (e) => e.type === 'open', received[name]);
    await pub('live ' + name);
    await pub('end ' + name, 'end');
    await readUntil(stream, (e) => e.type === 'end', received[name]);
    stream.source.close();
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventsource_gets_a_reset_when_it_cannot_resume() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let hub = Hub::builder().history_events(2).build();
    // An id of another hub: another epoch.
    let other = Hub::new();
    let foreign = other.publish("elsewhere", ssehub::Event::data("x")).await?;
    let topic = "reset";
    // `null`: the id of h1, which has left the two-event history by then.
    let cases = json!({
        "unknown-id": "bogus",
        "history-gone": null,
        "unknown-epoch": foreign.as_str(),
    });
    let server = serve(app(
        hub.clone(),
        RESET_MAIN,
        json!({ "topic": topic, "cases": cases }),
    ))
    .await?;

    let result = result(
        browser
            .run_page(&server.url("/test/page"), &PageOptions::default())
            .await?,
    );

    let ids = &result["ids"];
    for (reason, given) in cases.as_object().expect("an object") {
        let given = given.as_str().or(ids["h1"].as_str()).expect("an id");
        let received = &result["received"][reason];
        // The reset carries the newest id: the client continues from there.
        let head = &result["heads"][reason];
        let reset = received.get(1).cloned().unwrap_or(Value::Null);
        let data: Value = reset["data"]
            .as_str()
            .and_then(|data| serde_json::from_str(data).ok())
            .unwrap_or(Value::Null);
        assert_eq!(
            data,
            json!({"reason": reason, "lastEventId": given}),
            "{reason}: the reset's data ({received})"
        );
        let live = format!("live {reason}");
        let end = format!("end {reason}");
        assert_list(
            reason,
            received,
            &[
                json!({"type": "open"}),
                event("ssehub-reset", reset["data"].as_str().unwrap_or(""), head),
                event("message", &live, &ids[&live]),
                event("end", &end, &ids[&end]),
            ],
        );
    }
    let stats = hub.stats();
    assert_eq!((stats.resumes, stats.resets), (0, 3), "{stats:?}");
    Ok(())
}
