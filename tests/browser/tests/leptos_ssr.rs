//! The leptos-ssr example in headless Chromium: a Leptos app rendered on
//! the server with the live value of the signal `counter`, hydrated by its
//! wasm (built by `examples/leptos-ssr/build.sh`, which `./scripts/test`
//! runs first), live over one `EventSource`.
//!
//! The tests serve the example's own routes (`leptos_ssr::app`), with a
//! middleware that records the `/events` requests and can hold the wasm
//! bundle (so that a test acts between the HTML and the hydration). An
//! init script, run in each page before its own scripts, records every text
//! `#count` shows and when the page's `EventSource` brings its first event.
//!
//! 1. The HTML as served shows the count; after hydration a `PUT
//!    /signals/counter` shows in two pages, and so does `#inc` (a server
//!    function) clicked in one; no page ever shows anything else (no
//!    flash), and no console error or warning (hydration mismatches are
//!    reported there). Prints each page's time to its first live event.
//! 2. A change made after the HTML was served and before the page hydrates
//!    shows once it does; with JavaScript disabled the page shows the
//!    server-rendered value.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use leptos_ssr::{Count, SIGNAL};
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_browser_tests::{serve, Browser, OpenOptions, PageOptions, Script};
use tokio::sync::watch;

/// The wasm bundle's module, which the gate can hold.
const WASM: &str = "/pkg/leptos_ssr_app_bg.wasm";

/// Run in each page before its own scripts: records in `window.__texts`
/// every text `#count` shows (from the first parsed HTML on); in
/// `window.__touched` how many DOM changes touched `#count` or its text
/// since the document was parsed (hydration, updates; even a write of the
/// same text counts); and in `window.__live` when the page's `EventSource`
/// delivered its first event of the signal (ms since the navigation
/// started).
const RECORD: &str = "(() => {
  window.__texts = [];
  let parsed = false;
  window.__touched = 0;
  document.addEventListener('DOMContentLoaded', () => { parsed = true; });
  const note = (records) => {
    const el = document.getElementById('count');
    if (!el) return;
    if (parsed) {
      for (const r of records) {
        if (el.contains(r.target) || [...r.removedNodes].some((n) => n.contains(el))) {
          window.__touched += 1;
        }
      }
    }
    const t = el.textContent;
    if (window.__texts[window.__texts.length - 1] !== t) window.__texts.push(t);
  };
  new MutationObserver(note).observe(document, { subtree: true, childList: true, characterData: true });
  const Native = window.EventSource;
  window.__eventSources = 0;
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      window.__eventSources += 1;
      this.addEventListener('counter', () => {
        if (window.__live === undefined) window.__live = performance.now();
      });
    }
  };
})()";

/// The server side of a test: the example's routes over a hub whose counter
/// is at 3 (not the default, so that showing it means it was rendered), the
/// `/events` requests recorded, the wasm bundle held while `hold` says so.
struct Harness {
    hub: Hub,
    events: Mutex<Vec<String>>,
    hold: watch::Sender<bool>,
}

impl Harness {
    async fn start(hold: bool) -> anyhow::Result<(Arc<Harness>, ssehub_browser_tests::TestServer)> {
        let hub = Hub::builder().keepalive(None).build();
        let counter = leptos_ssr::counter(&hub).await?;
        counter.set(Count { count: 3 }).await?;
        // Fails, saying how to build it, when the wasm bundle is missing.
        let app = leptos_ssr::app(hub.clone(), &leptos_ssr::default_assets_dir())?;
        let h = Arc::new(Harness {
            hub,
            events: Mutex::new(Vec::new()),
            hold: watch::channel(hold).0,
        });
        async fn release(State(h): State<Arc<Harness>>) -> &'static str {
            h.hold.send_replace(false);
            "ok"
        }
        async fn gate(State(h): State<Arc<Harness>>, request: Request, next: Next) -> Response {
            match request.uri().path() {
                "/events" => {
                    let query = request.uri().query().unwrap_or("").to_owned();
                    h.events.lock().unwrap().push(query);
                }
                WASM => {
                    let mut hold = h.hold.subscribe();
                    // Released, or the harness gone: serve it.
                    let _ = hold.wait_for(|held| !held).await;
                }
                _ => {}
            }
            next.run(request).await
        }
        let app = app
            .merge(
                Router::new()
                    .route("/test/release", post(release))
                    .with_state(Arc::clone(&h)),
            )
            .layer(middleware::from_fn_with_state(Arc::clone(&h), gate));
        Ok((h, serve(app).await?))
    }
}

/// The JavaScript expression: page shows count `n`.
fn shows(n: u64) -> String {
    format!("document.getElementById('count')?.textContent === '{n}'")
}

/// The JavaScript expression: `PUT /signals/counter` with `{"count": n}`,
/// to the HTTP status.
fn put(n: u64) -> String {
    format!(
        "fetch('/signals/counter', {{ method: 'PUT', headers: {{ 'content-type': \
         'application/json' }}, body: JSON.stringify({{ count: {n} }}) }}).then((r) => r.status)"
    )
}

/// The page as served, before any script: its `#count` and the version it
/// hands over.
async fn served(url: &str) -> anyhow::Result<String> {
    let response = reqwest::get(url).await?.error_for_status()?;
    Ok(response.text().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_page_goes_live_in_two_pages_without_a_flash() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let (h, server) = Harness::start(false).await?;
    let url = server.url("/");

    // The HTML as served: the count, and the version it was rendered at (1:
    // created at 0, set to 3 once) handed over with it.
    let html = served(&url).await?;
    assert!(
        html.contains(r#"<span id="count">3</span>"#),
        "the served HTML: {html}"
    );
    assert!(
        html.contains(r#"{\"v\":1,\"value\":{\"count\":3}}"#),
        "the served HTML hands over the version: {html}"
    );

    let open = OpenOptions::new().init_script(RECORD);
    let script = Script::new()
        .open_with(&url, &open)
        .open_with(&url, &open)
        // Live: each page's EventSource brought the signal's first event.
        .wait_for(0, "window.__live !== undefined")
        .wait_for(1, "window.__live !== undefined")
        // Hydrating and going live left `#count` alone: not even its text
        // was written again.
        .eval(0, "window.__touched")
        .eval(1, "window.__touched")
        // Another process changes the signal over HTTP.
        .eval(0, &put(10))
        .wait_for(0, &shows(10))
        .wait_for(1, &shows(10))
        // The button: a server function, in page 1; both pages follow.
        .click(1, "#inc")
        .wait_for(0, &shows(11))
        .wait_for(1, &shows(11))
        .eval(0, "window.__texts")
        .eval(1, "window.__texts")
        .eval(0, "[window.__live, window.__eventSources]")
        .eval(1, "[window.__live, window.__eventSources]")
        .errors(0)
        .errors(1)
        .warnings(0)
        .warnings(1);
    let results = browser
        .run_script(
            &script,
            &PageOptions::default().timeout(Duration::from_secs(90)),
        )
        .await?;
    let [touched0, touched1, status, texts0, texts1, live0, live1, errors0, errors1, warnings0, warnings1] =
        <[Value; 11]>::try_from(results).map_err(|r| anyhow::anyhow!("results: {r:?}"))?;
    assert_eq!(
        (touched0, touched1),
        (json!(0), json!(0)),
        "DOM changes to #count by hydrating and going live, pages 0 and 1"
    );
    assert_eq!(status, json!(200));
    // From the first parsed HTML on, each page showed these and nothing
    // else: the rendered 3 (no flash of a default while hydrating), then
    // the changes.
    assert_eq!(texts0, json!(["3", "10", "11"]), "page 0's texts");
    assert_eq!(texts1, json!(["3", "10", "11"]), "page 1's texts");
    for (page, live) in [(0, &live0), (1, &live1)] {
        assert_eq!(live[1], json!(1), "page {page} opened one EventSource");
        let ms = live[0].as_f64().unwrap_or(f64::NAN);
        println!("page {page}: time to first live event {ms:.0} ms (from navigation start)");
    }
    for (what, list) in [
        ("page 0's console errors", errors0),
        ("page 1's console errors", errors1),
        ("page 0's console warnings", warnings0),
        ("page 1's console warnings", warnings1),
    ] {
        assert_eq!(list, json!([]), "{what}");
    }
    assert_eq!(
        *h.events.lock().unwrap(),
        [format!("topic={SIGNAL}"), format!("topic={SIGNAL}")],
        "the /events requests: one per page"
    );
    assert_eq!(
        h.hub.signal_value(SIGNAL).await.unwrap(),
        Some((3, json!({ "count": 11 })))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_before_hydration_shows_and_without_javascript_the_render_does(
) -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    // The wasm bundle is held: the page has its HTML, and does not hydrate
    // until the test releases it.
    let (h, server) = Harness::start(true).await?;
    let url = server.url("/");
    let open = OpenOptions::new()
        .init_script(RECORD)
        .until_dom_content_loaded();
    let script = Script::new()
        .open_with(&url, &open)
        // Not hydrated yet: the server's 3.
        .eval(0, "document.getElementById('count').textContent")
        // Changed after the HTML was served, before the page hydrates.
        .eval(0, &put(4))
        .eval(
            0,
            "[document.getElementById('count').textContent, window.__eventSources]",
        )
        .eval(
            0,
            "fetch('/test/release', { method: 'POST' }).then((r) => r.status)",
        )
        .wait_for(0, &shows(4))
        // And live after that.
        .eval(0, &put(5))
        .wait_for(0, &shows(5))
        .eval(0, "window.__texts")
        .errors(0)
        .warnings(0)
        // A page with JavaScript disabled: the server-rendered value.
        .open_with(&url, &OpenOptions::new().no_javascript())
        .text(1, "#count");
    let results = browser
        .run_script(
            &script,
            &PageOptions::default().timeout(Duration::from_secs(90)),
        )
        .await?;
    assert_eq!(
        results,
        [
            json!("3"),
            json!(200),
            json!(["3", 0]),
            json!(200),
            json!(200),
            json!(["3", "4", "5"]),
            json!([]),
            json!([]),
            json!("5"),
        ],
        "(rendered, put 4, before hydration, release, put 5, texts, errors, warnings, \
         the page without JavaScript)"
    );
    assert_eq!(
        *h.events.lock().unwrap(),
        [format!("topic={SIGNAL}")],
        "the /events requests"
    );
    Ok(())
}
