//! `js/ssehub.js` in headless Chromium against the real hub: server signals
//! changed from Rust (`Signal::set`, `Signal::update`) show up in a plain
//! page that does `import { signal } from '/ssehub.js'`, through every way a
//! client can fall behind.
//!
//! The page keeps two signals, `count` (a number) and `todo` (an object whose
//! list grows), on one `EventSource`, and shows them. The script then:
//!
//! 1. changes them and waits until the page shows each value;
//! 2. cuts the stream (the test's middleware ends it and holds the browser's
//!    reconnection), changes both while the page is disconnected, lets it
//!    reconnect: the browser resumes with `Last-Event-ID` and the missed
//!    patches bring it up to date;
//! 3. cuts again and makes more changes than the hub's history holds: the
//!    resume gets `ssehub-reset` and fresh snapshots;
//! 4. publishes a bogus patch with a version gap on `count`: the module
//!    resyncs (a new `EventSource` without `Last-Event-ID`, so snapshots,
//!    which change nothing on the page) and never shows the bogus value;
//! 5. adds a third signal to the page: the module reopens its one
//!    `EventSource` with all three topics.
//!
//! After each step the page shows the hub's values; the test also checks every
//! value and version the page's `onChange` saw (a snapshot of the value held
//! calls none), and each `/events` request (its topics, whether it carried
//! `Last-Event-ID`).
//!
//! The page loads the module from the hub's own `GET /ssehub.js`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ssehub::{Event, Hub, Signal};
use ssehub_browser_tests::cut::Cutter;
use ssehub_browser_tests::{outcome, serve, Browser, PageOptions, Script};

/// The page: shows each signal (as JSON) in the element of its name,
/// records every `onChange(value, version)` in `window.__seen`, and counts
/// the `EventSource`s the module opens in `window.__opened`.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>ssehub.js signals</title></head>
<body>
<p>count: <output id="count"></output></p>
<p>todo: <output id="todo"></output></p>
<p>late: <output id="late"></output></p>
<script type="module">
import { signal } from '/ssehub.js';
window.__seen = [];
const show = (name) => (value, version) => {
  document.getElementById(name).textContent = JSON.stringify(value);
  window.__seen.push([name, value, version]);
};
window.__opened = 0;
class Counted extends EventSource {
  constructor(...args) {
    super(...args);
    window.__opened++;
  }
}
window.signals = {};
window.track = (name) => {
  window.signals[name] = signal('/events', name, show(name), { EventSource: Counted });
  return true;
};
track('count');
track('todo');
window.post = async (path) => (await fetch(path, { method: 'POST' })).status;
</script>
</body></html>
"#;

/// How many events the hub keeps for resuming: enough for step 2's gap, too
/// few for step 3's.
const HISTORY: usize = 8;

/// The test's server side.
struct Harness {
    hub: Hub,
    count: Signal<i64>,
    todo: Signal<Value>,
    /// Cuts and holds `/events` streams; records their requests.
    cutter: Cutter,
}

/// The routes the script drives the server with (all `POST`, answering 200).
fn test_routes(h: Arc<Harness>) -> Router {
    async fn set(State(h): State<Arc<Harness>>, Path(n): Path<i64>) -> Response {
        outcome(h.count.set(n).await)
    }
    async fn add(State(h): State<Arc<Harness>>, Path(text): Path<String>) -> Response {
        outcome(
            h.todo
                .update(|todo| {
                    if let Some(items) = todo["items"].as_array_mut() {
                        items.push(json!({ "text": text, "done": false }));
                    }
                })
                .await,
        )
    }
    // A patch two versions ahead with a value the page must never show: the
    // client has to see the gap and resync.
    async fn gap(State(h): State<Arc<Harness>>) -> Response {
        let v = h.count.version().await.unwrap() + 2;
        let data = json!({ "v": v, "patch": [{ "op": "replace", "path": "", "value": -1 }] });
        let event = Event::builder().event("count").json_data(&data).build();
        match event {
            Ok(event) => outcome(h.hub.publish("count", event).await),
            Err(e) => outcome::<()>(Err(e)),
        }
    }
    Router::new()
        .route("/test/set/{n}", post(set))
        .route("/test/add/{text}", post(add))
        .route("/test/gap", post(gap))
        .with_state(h)
}

/// The JavaScript expression: element `name` shows `value` (as JSON).
fn shows(name: &str, value: &Value) -> String {
    format!(
        "document.getElementById({}).textContent === {}",
        json!(name),
        json!(value.to_string())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssehub_js_keeps_a_page_in_sync_through_cuts_resets_and_gaps() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    // A short `retry`, so that the browser reconnects at once; no keep-alive
    // comments needed.
    let hub = Hub::builder()
        .retry(Some(Duration::from_millis(100)))
        .keepalive(None)
        .history_events(HISTORY)
        .build();
    let count = hub.signal("count", 0i64).await?;
    let todo = hub.signal("todo", json!({ "items": [] })).await?;
    let late = hub.signal("late", "hello".to_owned()).await?;
    let h = Arc::new(Harness {
        hub: hub.clone(),
        count,
        todo,
        cutter: Cutter::default(),
    });
    let app = Router::new()
        .route("/test/page", get(|| async { Html(PAGE) }))
        .merge(test_routes(Arc::clone(&h)))
        .merge(ssehub_server::router(
            hub.clone(),
            ssehub_server::Config::default(),
        ));
    // Wrapped last, so that the cutter wraps the hub's `/events`.
    let app = h.cutter.wrap(app);
    let server = serve(app).await?;

    let todo_with = |texts: &[&str]| json!({ "items": texts.iter().map(|t| json!({ "text": t, "done": false })).collect::<Vec<_>>() });
    let mut posts = 0;
    let mut script = Script::new().open(&server.url("/test/page"));
    let mut post = |script: Script, path: &str| {
        posts += 1;
        script.eval(0, &format!("post({})", json!(path)))
    };

    // 1. Live changes.
    script = script
        .wait_for(0, &shows("count", &json!(0)))
        .wait_for(0, &shows("todo", &todo_with(&[])));
    for n in 1..=2 {
        script = post(script, &format!("/test/set/{n}"));
        script = script.wait_for(0, &shows("count", &json!(n)));
    }
    script = post(script, "/test/add/milk");
    script = script.wait_for(0, &shows("todo", &todo_with(&["milk"])));
    script = post(script, "/test/set/3");
    script = script.wait_for(0, &shows("count", &json!(3)));

    // 2. Changes while disconnected, within history: resumed.
    script = post(script, "/test/cut");
    script = post(script, "/test/set/4");
    script = post(script, "/test/add/eggs");
    script = post(script, "/test/set/5");
    script = post(script, "/test/release");
    script = script
        .wait_for(0, &shows("count", &json!(5)))
        .wait_for(0, &shows("todo", &todo_with(&["milk", "eggs"])));

    // 3. More changes while disconnected than history holds: reset, snapshots.
    script = post(script, "/test/cut");
    for n in 6..=(6 + HISTORY as i64 + 3) {
        script = post(script, &format!("/test/set/{n}"));
    }
    let after_reset = 6 + HISTORY as i64 + 3;
    script = post(script, "/test/release");
    script = script.wait_for(0, &shows("count", &json!(after_reset)));

    // 4. A version gap: resync, a new EventSource, so snapshots of both
    // signals again (of the values held: nothing to show).
    script = script.eval(0, "(window.mark = window.__opened, true)");
    script = post(script, "/test/gap");
    script = script.wait_for(0, "window.__opened >= window.mark + 1");
    script = post(script, &format!("/test/set/{}", after_reset + 1));
    script = script.wait_for(0, &shows("count", &json!(after_reset + 1)));

    // 5. A signal added later: the one EventSource reopens with three topics.
    script = script
        .eval(0, "track('late')")
        .wait_for(0, &shows("late", &json!("hello")))
        .wait_for(0, "window.__opened >= window.mark + 2");
    script = post(script, &format!("/test/set/{}", after_reset + 2));
    script = script
        .wait_for(0, &shows("count", &json!(after_reset + 2)))
        .eval(0, "window.__seen")
        .eval(
            0,
            "Object.fromEntries(Object.entries(window.signals).map(([n, s]) => [n, [s.value, s.version]]))",
        );

    let results = browser
        .run_script(
            &script,
            &PageOptions::default().timeout(Duration::from_secs(90)),
        )
        .await?;
    let (statuses, rest) = results.split_at(results.len() - 2);
    let (seen, held) = (&rest[0], &rest[1]);
    // Every POST answered 200 ("mark" and "track" evaluate to true).
    let statuses: Vec<&Value> = statuses.iter().filter(|s| **s != json!(true)).collect();
    assert_eq!(statuses.len(), posts, "{statuses:?}");
    assert!(statuses.iter().all(|s| **s == json!(200)), "{statuses:?}");

    // The page holds the hub's values and versions.
    for name in ["count", "todo", "late"] {
        let (version, value) = hub
            .signal_value(name)
            .await
            .unwrap()
            .expect("the signal exists");
        assert_eq!(
            held[name],
            json!([value, version]),
            "{name}: the page's [value, version]"
        );
    }
    assert_eq!(late.version().await.unwrap(), 0);

    // What each onChange saw, in order.
    let seen_of = |name: &str| -> Vec<Value> {
        seen.as_array()
            .expect("a list")
            .iter()
            .filter(|entry| entry[0] == name)
            .map(|entry| json!([entry[1], entry[2]]))
            .collect()
    };
    let mut expected_count: Vec<Value> = (0..=5).map(|n| json!([n, n])).collect();
    let r = after_reset;
    // The snapshots after the resync (4) and on reopening (5) are of the
    // value held: no onChange (and never -1).
    expected_count.extend([
        json!([r, r]),         // 3. the snapshot after the reset
        json!([r + 1, r + 1]), // 4. live (or the resync's snapshot, if it came later)
        json!([r + 2, r + 2]), // 5. live (or the reopening's snapshot)
    ]);
    assert_eq!(
        seen_of("count"),
        expected_count,
        "count: [value, version] seen"
    );
    // The snapshots of 3. (reset), 4. (resync) and 5. (reopening) are of the
    // value held: no onChange.
    let both = todo_with(&["milk", "eggs"]);
    assert_eq!(
        seen_of("todo"),
        [
            json!([todo_with(&[]), 0]),
            json!([todo_with(&["milk"]), 1]),
            json!([both, 2]), // 2. the resumed patch
        ],
        "todo: [value, version] seen"
    );
    assert_eq!(seen_of("late"), [json!(["hello", 0])]);

    // One EventSource at a time; new ones only to resync or add a topic.
    let requests = h.cutter.requests();
    let two = "topic=count&topic=todo";
    let three = "topic=count&topic=todo&topic=late";
    let shape: Vec<(&str, bool)> = requests
        .iter()
        .map(|r| (r.query.as_str(), r.last_event_id.is_some()))
        .collect();
    assert_eq!(
        shape,
        [
            (two, false),   // 1. the page opens
            (two, true),    // 2. the browser reconnects with Last-Event-ID
            (two, true),    // 3. likewise
            (two, false),   // 4. the module resyncs: a new EventSource
            (three, false)  // 5. reopened with the new topic
        ],
        "the /events requests (query, has Last-Event-ID): {requests:?}"
    );
    let stats = hub.stats();
    assert_eq!((stats.resumes, stats.resets), (1, 1), "{stats:?}");
    Ok(())
}
