//! The leptos-counter example in headless Chromium: its Leptos page (built
//! to wasm by `examples/leptos-counter/build.sh`, which `./scripts/test` runs
//! first) shows `Count: N` from the server signal `counter` through
//! `ssehub-leptos`, through every way the page can fall behind.
//!
//! The test serves the example's own routes (`leptos_counter::app`) with
//! test routes and a middleware around `/events`, and drives the signal
//! from Rust through the hub's API. The script:
//!
//! 1. waits for the page to show the server's count, changes it from the
//!    test and with the page's button, and waits for each value;
//! 2. cuts the stream (the middleware ends it and holds the browser's
//!    reconnection), changes the count while the page is disconnected, and
//!    lets it reconnect: the browser resumes with `Last-Event-ID` and the
//!    missed patches bring the page up to date;
//! 3. publishes a bogus patch with a version gap: the client resyncs (a new
//!    `EventSource` without `Last-Event-ID`, so a snapshot) and never shows
//!    the bogus value.
//!
//! Every text the count element ever showed is recorded in the page, and
//! every `/events` request (its topics, whether it carried
//! `Last-Event-ID`) on the server.
//!
//! A second test opens the fixture page of `tests/browser/leptos-fixture`
//! (built by its `build.sh`), served with `ssehub_leptos::axum::events_route`:
//! several signals share one `EventSource`; a signal asked for later
//! reopens it once with all the topics, and a second reader of a signal
//! shows its current value at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos_counter::{Count, Counter, SIGNAL};
use serde_json::{json, Value};
use ssehub::{Event, Hub};
use ssehub_browser_tests::cut::Cutter;
use ssehub_browser_tests::{outcome, serve, Browser, PageOptions, Script};

/// The test's server side.
struct Harness {
    hub: Hub,
    counter: Counter,
    /// Cuts and holds `/events` streams; records their requests.
    cutter: Cutter,
}

/// The routes the script drives the server with (all `POST`, answering 200).
fn test_routes(h: Arc<Harness>) -> Router {
    async fn set(State(h): State<Arc<Harness>>, Path(value): Path<u64>) -> Response {
        outcome(h.counter.signal().set(Count { value }).await)
    }
    // A patch two versions ahead with a value the page must never show.
    async fn gap(State(h): State<Arc<Harness>>) -> Response {
        let v = h.counter.signal().version().await.unwrap() + 2;
        let data =
            json!({ "v": v, "patch": [{ "op": "replace", "path": "/value", "value": 999 }] });
        match Event::builder().event(SIGNAL).json_data(&data).build() {
            Ok(event) => outcome(h.hub.publish(SIGNAL, event).await),
            Err(e) => outcome::<()>(Err(e)),
        }
    }
    Router::new()
        .route("/test/set/{n}", post(set))
        .route("/test/gap", post(gap))
        .with_state(h)
}

/// The JavaScript expression: the page shows `Count: n`.
fn shows(n: u64) -> String {
    format!(
        "document.getElementById('count')?.textContent === {}",
        json!(format!("Count: {n}"))
    )
}

/// Records every text the count element shows, in `window.__texts`.
const RECORD: &str = "(() => {
  const el = document.getElementById('count');
  window.__texts = [el.textContent];
  new MutationObserver(() => {
    const t = el.textContent;
    if (window.__texts[window.__texts.length - 1] !== t) window.__texts.push(t);
  }).observe(el, { subtree: true, childList: true, characterData: true });
  return true;
})()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leptos_counter_follows_the_server_through_cuts_and_gaps() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    // A short `retry`, so that the browser reconnects at once.
    let hub = Hub::builder()
        .retry(Some(Duration::from_millis(100)))
        .keepalive(None)
        .build();
    let counter = Counter::new(&hub).await?;
    // Not the default, so that the page showing it means it was received.
    counter.signal().set(Count { value: 3 }).await?;
    // Fails, saying how to build it, when the wasm bundle is missing.
    let app = leptos_counter::app(
        hub.clone(),
        counter.clone(),
        &leptos_counter::default_assets_dir(),
    )?;
    let h = Arc::new(Harness {
        hub: hub.clone(),
        counter,
        cutter: Cutter::default(),
    });
    // Wrapped last, so that the cutter wraps `/events`.
    let app = h.cutter.wrap(app.merge(test_routes(Arc::clone(&h))));
    let server = serve(app).await?;

    let mut posts = 0;
    let mut post = |script: Script, path: &str| {
        posts += 1;
        script.eval(
            0,
            &format!(
                "fetch({}, {{ method: 'POST' }}).then((r) => r.status)",
                json!(path)
            ),
        )
    };

    // 1. Live changes, from the server and from the page's button.
    let mut script = Script::new()
        .open(&server.url("/"))
        .wait_for(0, &shows(3))
        .eval(0, RECORD);
    script = post(script, "/test/set/5");
    script = script.wait_for(0, &shows(5));
    script = script.click(0, "#increment").wait_for(0, &shows(6));

    // 2. Changes while disconnected: resumed with Last-Event-ID.
    script = post(script, "/test/cut");
    script = post(script, "/test/set/41");
    script = post(script, "/test/set/42");
    script = post(script, "/test/release");
    script = script.wait_for(0, &shows(42));

    // 3. A version gap: resync, a snapshot, never the bogus value.
    script = post(script, "/test/gap");
    script = post(script, "/test/set/43");
    script = script.wait_for(0, &shows(43)).eval(0, "window.__texts");

    let results = browser
        .run_script(
            &script,
            &PageOptions::default().timeout(Duration::from_secs(90)),
        )
        .await?;
    let (statuses, texts) = results.split_at(results.len() - 1);
    let statuses: Vec<&Value> = statuses.iter().filter(|s| **s != json!(true)).collect();
    assert_eq!(statuses.len(), posts, "{statuses:?}");
    assert!(statuses.iter().all(|s| **s == json!(200)), "{statuses:?}");

    // What the page showed, in order. The resumed patches (41, 42) may show
    // one by one or only the last; the bogus 999 never.
    let texts: Vec<String> = serde_json::from_value(texts[0].clone())?;
    let mut expected: Vec<&str> = vec![
        "Count: 3",
        "Count: 5",
        "Count: 6",
        "Count: 41",
        "Count: 42",
        "Count: 43",
    ];
    if !texts.iter().any(|t| t == "Count: 41") {
        expected.retain(|t| *t != "Count: 41");
    }
    assert_eq!(texts, expected, "the texts the page showed");
    assert_eq!(h.counter.signal().get().await?, Count { value: 43 });

    // The requests: the first open, the browser's resume, the resync.
    let requests: Vec<(String, bool)> = h
        .cutter
        .requests()
        .into_iter()
        .map(|r| (r.query, r.last_event_id.is_some()))
        .collect();
    let topic = format!("topic={SIGNAL}");
    assert_eq!(
        requests,
        [
            (topic.clone(), false), // 1. the page opens
            (topic.clone(), true),  // 2. the browser reconnects with Last-Event-ID
            (topic.clone(), false), // 3. the client resyncs: a new EventSource
        ],
        "the /events requests (query, has Last-Event-ID)"
    );
    let stats = hub.stats();
    assert_eq!((stats.resumes, stats.resets), (1, 0), "{stats:?}");
    Ok(())
}

/// The fixture page's bundle, as `tests/browser/leptos-fixture/build.sh`
/// writes it.
const FIXTURE_BUNDLE: [(&str, &str); 2] = [
    ("ssehub_leptos_fixture.js", "text/javascript"),
    ("ssehub_leptos_fixture_bg.wasm", "application/wasm"),
];

/// The JavaScript expression: element `id` shows `text`.
fn element_shows(id: &str, text: &str) -> String {
    format!(
        "document.getElementById({})?.textContent === {}",
        json!(id),
        json!(text)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_share_one_event_source_and_a_late_one_reopens_it() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let pkg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("leptos-fixture/pkg");
    for (file, _) in FIXTURE_BUNDLE {
        anyhow::ensure!(
            pkg.join(file).is_file(),
            "the fixture page's wasm bundle is missing ({} not found): build it with \
             tests/browser/leptos-fixture/build.sh (./scripts/test does)",
            pkg.join(file).display()
        );
    }
    let hub = Hub::builder().keepalive(None).build();
    let a = hub.signal("a", 1i64).await?;
    hub.signal("b", "x".to_owned()).await?;
    let c = hub.signal("c", vec!["one".to_owned()]).await?;

    struct Fixture {
        pkg: std::path::PathBuf,
        a: ssehub::Signal<i64>,
        c: ssehub::Signal<Vec<String>>,
        requests: Mutex<Vec<(String, bool)>>,
    }
    let f = Arc::new(Fixture {
        pkg,
        a,
        c,
        requests: Mutex::new(Vec::new()),
    });
    async fn bundle(State(f): State<Arc<Fixture>>, Path(file): Path<String>) -> Response {
        let Some((name, content_type)) = FIXTURE_BUNDLE.into_iter().find(|(n, _)| *n == file)
        else {
            return StatusCode::NOT_FOUND.into_response();
        };
        match tokio::fs::read(f.pkg.join(name)).await {
            Ok(bytes) => {
                ([(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response()
            }
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
    async fn set_a(State(f): State<Arc<Fixture>>, Path(n): Path<i64>) -> Response {
        match f.a.set(n).await {
            Ok(_) => "ok".into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
    async fn push_c(State(f): State<Arc<Fixture>>, Path(text): Path<String>) -> Response {
        match f.c.update(|c| c.push(text.clone())).await {
            Ok(_) => "ok".into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
    async fn record(State(f): State<Arc<Fixture>>, request: Request, next: Next) -> Response {
        if request.uri().path() == "/events" {
            let resumed = request.headers().contains_key("last-event-id");
            let query = request.uri().query().unwrap_or("").to_owned();
            f.requests.lock().unwrap().push((query, resumed));
        }
        next.run(request).await
    }
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("../leptos-fixture/index.html")) }),
        )
        .route("/pkg/{file}", get(bundle))
        .route("/test/a/{n}", post(set_a))
        .route("/test/c/{text}", post(push_c))
        .with_state(Arc::clone(&f))
        .merge(ssehub_leptos::axum::events_route(hub.clone()))
        .layer(middleware::from_fn_with_state(Arc::clone(&f), record));
    let server = serve(app).await?;

    let post = |script: Script, path: &str| {
        script.eval(
            0,
            &format!(
                "fetch({}, {{ method: 'POST' }}).then((r) => r.status)",
                json!(path)
            ),
        )
    };
    let mut script = Script::new()
        .open(&server.url("/"))
        .wait_for(0, &element_shows("a", "1"))
        .wait_for(0, &element_shows("b", "\"x\""));
    script = post(script, "/test/a/2").wait_for(0, &element_shows("a", "2"));
    // The late component: `c` (a reopen with three topics), `a` once more
    // (its current value at once).
    script = script
        .click(0, "#more")
        .wait_for(0, &element_shows("c", "one"))
        .wait_for(0, &element_shows("a2", "2"));
    script = post(script, "/test/a/3")
        .wait_for(0, &element_shows("a", "3"))
        .wait_for(0, &element_shows("a2", "3"));
    script = post(script, "/test/c/two")
        .wait_for(0, &element_shows("c", "one,two"))
        .eval(
            0,
            "['a', 'b', 'c', 'a2'].map((id) => document.getElementById(id).textContent)",
        );
    let results = browser.run_script(&script, &PageOptions::default()).await?;
    assert_eq!(
        results[..3],
        [json!(200), json!(200), json!(200)],
        "{results:?}"
    );
    assert_eq!(results[3], json!(["3", "\"x\"", "one,two", "3"]));
    let requests = f.requests.lock().unwrap().clone();
    assert_eq!(
        requests,
        [
            ("topic=a&topic=b".to_owned(), false), // a and b share one open
            ("topic=a&topic=b&topic=c".to_owned(), false), // reopened once for c
        ],
        "the /events requests (query, has Last-Event-ID)"
    );
    Ok(())
}
