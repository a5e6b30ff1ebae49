//! The htmx example (`examples/htmx-tasks`) in headless Chromium, driven as
//! users would, with htmx 2 (`/`) and htmx 4 (`/htmx4`):
//!
//! - a task typed in one page (Enter) appears in the other, and marking it
//!   completed updates the completed count in both (an out-of-band swap);
//! - resume: the server cuts a page's stream and refuses its reconnection,
//!   so that htmx 2's extension opens a new `EventSource` (which sends no
//!   `Last-Event-ID`); tasks added meanwhile show exactly once after it
//!   reconnects, thanks to `js/ssehub-htmx.js`, and are lost without it.
//!   htmx 4 resumes by itself;
//! - reset: when the tasks added meanwhile have left the hub's history, the
//!   hub says so (`ssehub-reset`), and the page reloads with every task.
//! - the helpers of `ssehub::htmx` (`swap`, `fragment`, `oob`, `trigger`,
//!   `close`, `escape`) do what the module docs say of them in htmx 2 and
//!   htmx 4.
//!
//! Set `SSEHUB_SCREENSHOT_HTMX` to a path to also save a screenshot (how
//! docs/img/htmx-tasks.png is made).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_browser_tests::cut::cut_after_events;
use ssehub_browser_tests::{serve, Browser, PageOptions, Script};

/// True once the page's stream is open (the page's own status line).
const CONNECTED: &str = "document.querySelector('#status').textContent === 'connected'";

/// The titles of the tasks the page lists, in order.
const TITLES: &str = "[...document.querySelectorAll('#tasks li .title')].map((e) => e.textContent)";

/// What the page's counts read.
const COUNTS: &str = "document.querySelector('.counts').textContent";

fn has_tasks(n: usize) -> String {
    format!("document.querySelectorAll('#tasks li').length === {n}")
}

fn completed_is(n: usize) -> String {
    format!("document.querySelector('#completed').textContent === '{n}'")
}

/// Two pages (`first` and `second`, paths of the same server): a task
/// typed in one appears in the other; completed in the other, both pages
/// count it.
async fn two_pages_share_the_list(first: &str, second: &str) -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let server = serve(htmx_tasks::app(Hub::new())).await?;
    // Markup in a title is text: it must show as typed.
    let title = "Buy <b>milk</b> & \"eggs\" 😀";
    let mut script = Script::new()
        .open(&server.url(first))
        .open(&server.url(second))
        .wait_for(0, CONNECTED)
        .wait_for(1, CONNECTED)
        .type_text(0, "#title", title)
        .press(0, "#title", "Enter")
        .wait_for(1, &has_tasks(1))
        .wait_for(0, &has_tasks(1))
        .type_text(1, "#title", "Walk the dog")
        .press(1, "#title", "Enter")
        .wait_for(0, &has_tasks(2))
        .wait_for(1, &has_tasks(2))
        .click(1, "#task-1 button.complete")
        .wait_for(0, &completed_is(1))
        .wait_for(1, &completed_is(1))
        // htmx 2 gives swapped elements classes of its own until they settle.
        .wait_for(0, "document.querySelector('#task-1.completed .check') !== null")
        .wait_for(1, "document.querySelector('#task-1.completed .check') !== null")
        .eval(0, TITLES)
        .eval(1, TITLES)
        .eval(0, COUNTS)
        .eval(1, COUNTS)
        .eval(
            0,
            "[...document.querySelectorAll('#tasks li')].map((li) => li.classList.contains('completed'))",
        )
        .eval(1, "document.querySelectorAll('#tasks b').length")
        .eval(0, "document.querySelector('#title').value")
        .errors(0)
        .errors(1);
    if let Ok(path) = std::env::var("SSEHUB_SCREENSHOT_HTMX") {
        script = script
            .type_text(0, "#title", "Water the plants")
            .press(0, "#title", "Enter")
            .wait_for(0, &has_tasks(3))
            .screenshot(0, &path, 900, 330);
    }
    let values = browser.run_script(&script, &PageOptions::default()).await?;

    let titles = json!([title, "Walk the dog"]);
    assert_eq!(values[0], titles, "what page 0 lists");
    assert_eq!(values[1], titles, "what page 1 lists");
    assert_eq!(values[2], json!("Completed: 1 of 2"), "page 0's counts");
    assert_eq!(values[3], json!("Completed: 1 of 2"), "page 1's counts");
    assert_eq!(
        values[4],
        json!([true, false]),
        "which tasks show as completed"
    );
    assert_eq!(values[5], json!(0), "title markup became elements");
    assert_eq!(values[6], json!(""), "the input is cleared once added");
    assert_eq!(values[7], json!([]), "page 0's errors");
    assert_eq!(values[8], json!([]), "page 1's errors");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx2_pages_share_tasks_and_the_completed_count() -> anyhow::Result<()> {
    two_pages_share_the_list("/", "/").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx4_pages_share_tasks_and_the_completed_count() -> anyhow::Result<()> {
    two_pages_share_the_list("/htmx4", "/htmx4").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_htmx2_page_and_an_htmx4_page_share_one_stream() -> anyhow::Result<()> {
    two_pages_share_the_list("/", "/htmx4").await
}

// ---------------------------------------------------------------------------
// Resume

/// The server side of the resume test.
#[derive(Debug)]
struct Cut {
    /// Per `/events` request, in order: its `Last-Event-ID` header and query.
    requests: Mutex<Vec<(Option<String>, String)>>,
    /// Lets the third `/events` request through.
    release: tokio::sync::watch::Sender<bool>,
    /// Whether `GET /` serves its page without `ssehub-htmx.js`.
    without_companion: bool,
}

/// The companion's script tag in the htmx 2 page.
const COMPANION_TAG: &str = r#"<script src="/static/ssehub-htmx.js"></script>"#;

/// Middleware: the first `/events` stream is cut after its first event; the
/// second request (the browser's own reconnection) is refused with 503,
/// which closes an `EventSource` for good; the third waits for
/// `/test/release`.
async fn cut_refuse_hold(State(cut): State<Arc<Cut>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/" && cut.without_companion {
        let response = next.run(request).await;
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let html = String::from_utf8_lossy(&bytes).replace(COMPANION_TAG, "");
        let mut parts = parts;
        parts.headers.remove("content-length");
        return Response::from_parts(parts, Body::from(html));
    }
    if path != "/events" {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query = request.uri().query().unwrap_or("").to_owned();
    let n = {
        let mut requests = cut.requests.lock().unwrap();
        requests.push((header, query));
        requests.len()
    };
    match n {
        1 => {
            let response = next.run(request).await;
            response.map(|body| cut_after_events(body, 1))
        }
        2 => (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response(),
        3 => {
            let mut release = cut.release.subscribe();
            let _ = release.wait_for(|released| *released).await;
            next.run(request).await
        }
        _ => next.run(request).await,
    }
}

/// Adds a task from the page with `fetch`, as the form would.
fn add_task(title: &str) -> String {
    format!(
        "fetch('/tasks', {{ method: 'POST', body: new URLSearchParams({{ title: {} }}) }}).then((r) => r.status)",
        json!(title)
    )
}

/// True once the page is connected again after the cut: its second
/// connection.
const RECONNECTED: &str = "Number(document.querySelector('#status').dataset.opens) === 2 && \
     document.querySelector('#status').textContent === 'connected'";

/// True once the page has reloaded and connected.
const RELOADED: &str = "performance.getEntriesByType('navigation')[0].type === 'reload' && \
     document.querySelector('#status').textContent === 'connected'";

/// Opens `path`, adds a1 (which the server delivers, then cuts the
/// stream), adds `missed` while the page is disconnected, lets it
/// reconnect, waits for `reconnected`, adds c1; returns what the page
/// lists and the `/events` requests the server saw. The hub keeps
/// `history` events.
async fn resume_after_a_cut(
    path: &str,
    without_companion: bool,
    history: usize,
    missed: &[&str],
    reconnected: &str,
) -> anyhow::Result<(Value, Vec<(Option<String>, String)>)> {
    let browser = Browser::ensure()?;
    // A short `retry`, so that the browser's own reconnection comes at once;
    // no keep-alive comments among the frames that the middleware counts.
    let hub = Hub::builder()
        .retry(Some(Duration::from_millis(100)))
        .keepalive(None)
        .history_events(history)
        .build();
    let cut = Arc::new(Cut {
        requests: Mutex::new(Vec::new()),
        release: tokio::sync::watch::Sender::new(false),
        without_companion,
    });
    let release = Router::new()
        .route(
            "/test/release",
            post(|State(cut): State<Arc<Cut>>| async move {
                cut.release.send_replace(true);
                "released"
            }),
        )
        .with_state(Arc::clone(&cut));
    let app = htmx_tasks::app(hub)
        .merge(release)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&cut),
            cut_refuse_hold,
        ));
    let server = serve(app).await?;
    let mut script = Script::new()
        .open(&server.url(path))
        .wait_for(0, CONNECTED)
        .type_text(0, "#title", "a1")
        .press(0, "#title", "Enter")
        .wait_for(0, &has_tasks(1))
        // The stream ended after a1: the page has no stream until the
        // server lets its third request through.
        .wait_for(
            0,
            "document.querySelector('#status').textContent === 'reconnecting'",
        );
    for title in missed {
        script = script.eval(0, &add_task(title));
    }
    let script = script
        .eval(
            0,
            "fetch('/test/release', { method: 'POST' }).then((r) => r.status)",
        )
        .wait_for(0, reconnected)
        .type_text(0, "#title", "c1")
        .press(0, "#title", "Enter")
        // c1 comes after b1 and b2 on the stream: once it shows, anything
        // replayed has shown too.
        .wait_for(
            0,
            "[...document.querySelectorAll('#tasks li .title')].some((e) => e.textContent === 'c1')",
        )
        .eval(0, TITLES)
        .eval(0, COUNTS);
    let values = browser.run_script(&script, &PageOptions::default()).await?;
    let n = missed.len();
    let mut statuses = vec![json!(204); n];
    statuses.push(json!(200));
    assert_eq!(values[..=n], statuses, "adding {missed:?}, releasing");
    assert_eq!(
        values[n + 2],
        json!(format!("Completed: 0 of {}", n + 2)),
        "the counts"
    );
    let requests = cut.requests.lock().unwrap().clone();
    Ok((values[n + 1].clone(), requests))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx2_resumes_after_a_cut_with_the_companion() -> anyhow::Result<()> {
    let (titles, requests) =
        resume_after_a_cut("/", false, 100, &["b1", "b2"], RECONNECTED).await?;
    assert_eq!(
        titles,
        json!(["a1", "b1", "b2", "c1"]),
        "the page lists each task once, in order ({requests:?})"
    );
    assert_eq!(requests.len(), 3, "{requests:?}");
    // The browser's own reconnection sends the id of a1; the new
    // EventSource that htmx-ext-sse opens sends none, but the companion
    // puts it in the query.
    let a1 = requests[1]
        .0
        .clone()
        .expect("the browser sends Last-Event-ID");
    assert_eq!(requests[2].0, None, "{requests:?}");
    assert_eq!(requests[2].1, format!("lastEventId={a1}"), "{requests:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx2_misses_events_after_a_cut_without_the_companion() -> anyhow::Result<()> {
    let (titles, requests) = resume_after_a_cut("/", true, 100, &["b1", "b2"], RECONNECTED).await?;
    // The failure the companion fixes: b1 and b2 never show.
    assert_eq!(titles, json!(["a1", "c1"]), "{requests:?}");
    assert_eq!(requests[2], (None, String::new()), "{requests:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx4_resumes_after_a_cut_by_itself() -> anyhow::Result<()> {
    let (titles, requests) =
        resume_after_a_cut("/htmx4", false, 100, &["b1", "b2"], RECONNECTED).await?;
    assert_eq!(titles, json!(["a1", "b1", "b2", "c1"]), "{requests:?}");
    let a1 = requests[1].0.clone().expect("htmx 4 sends Last-Event-ID");
    assert_eq!(requests[2].0.as_deref(), Some(a1.as_str()), "{requests:?}");
    Ok(())
}

/// Three tasks added while the page is away, with a history of two
/// events: the hub cannot resume the page, says so with `ssehub-reset`, and
/// the page reloads; it lists every task once.
async fn reloads_when_the_hub_cannot_resume(path: &str) -> anyhow::Result<()> {
    let (titles, requests) =
        resume_after_a_cut(path, false, 2, &["b1", "b2", "b3"], RELOADED).await?;
    assert_eq!(
        titles,
        json!(["a1", "b1", "b2", "b3", "c1"]),
        "{requests:?}"
    );
    // After the reset, the reloaded page subscribes from what it shows.
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(requests[3].1.starts_with("lastEventId="), "{requests:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx2_reloads_when_the_hub_cannot_resume() -> anyhow::Result<()> {
    reloads_when_the_hub_cannot_resume("/").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx4_reloads_when_the_hub_cannot_resume() -> anyhow::Result<()> {
    reloads_when_the_hub_cannot_resume("/htmx4").await
}

// ---------------------------------------------------------------------------
// The helpers of `ssehub::htmx`, as the module documents them

/// The htmx 2 page of the helper test: each helper's matching attribute.
const HELPERS_HTMX2: &str = r##"<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script src="/static/htmx-2.min.js"></script>
<script src="/static/htmx-ext-sse.min.js"></script>
</head><body>
<div id="stream" hx-ext="sse" sse-connect="/events" sse-close="bye">
  <ul id="notes" sse-swap="note" hx-swap="beforeend"></ul>
  <p id="plain" sse-swap="message"></p>
  <div id="refreshed" hx-get="/test/refreshed" hx-trigger="sse:refresh"></div>
</div>
<p id="count">0</p>
<script>
window.__log = [];
document.body.addEventListener('htmx:sseOpen', () => window.__log.push('open'));
document.body.addEventListener('htmx:sseClose', (e) => window.__log.push('close:' + e.detail.type));
</script>
</body></html>"##;

/// The htmx 4 page of the helper test.
const HELPERS_HTMX4: &str = r##"<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script src="/static/htmx-4.min.js"></script>
<script src="/static/htmx-4-sse.min.js"></script>
</head><body>
<div id="stream" hx-sse:connect="/events" hx-sse:close="bye" hx-target="#plain" hx-swap="innerHTML"></div>
<ul id="notes"></ul>
<p id="plain"></p>
<div id="refreshed" hx-get="/test/refreshed" hx-trigger="refresh from:#stream"></div>
<p id="count">0</p>
<script>
window.__log = [];
const stream = document.querySelector('#stream');
stream.addEventListener('note', (e) => window.__log.push('note:' + e.detail.data));
document.body.addEventListener('htmx:sse:after:connection', () => window.__log.push('open'));
document.body.addEventListener('htmx:sse:close', (e) => window.__log.push('close:' + e.detail.reason));
</script>
</body></html>"##;

/// Serves `page` at `/test/page` next to the example's `/events` and
/// `/static/`; `POST /test/publish` publishes one event of each helper on
/// the example's topic, then one more after the close event.
async fn helpers_in(page: &'static str) -> anyhow::Result<Vec<Value>> {
    use ssehub::htmx;
    let browser = Browser::ensure()?;
    let hub = Hub::new();
    let publish = {
        let hub = hub.clone();
        move || async move {
            let note = format!(
                "<li>one\r\nline two</li>{}",
                htmx::oob("innerHTML", "#count", "1")
            );
            let escaped = format!("<li>{}</li>", htmx::escape("<i>x</i> & 'y'"));
            for event in [
                htmx::swap("note", &note),
                htmx::fragment("<b>plain</b>"),
                htmx::trigger("refresh", ""),
                htmx::swap("note", &escaped),
                htmx::close("bye"),
                htmx::swap("note", "<li>after the close</li>"),
            ] {
                if hub.publish(htmx_tasks::TOPIC, event).await.is_err() {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
            }
            StatusCode::NO_CONTENT
        }
    };
    let app = htmx_tasks::app(hub.clone()).merge(
        Router::new()
            .route(
                "/test/page",
                axum::routing::get(move || async move { axum::response::Html(page) }),
            )
            .route("/test/publish", post(publish))
            .route(
                "/test/refreshed",
                axum::routing::get(|| async { "refreshed" }),
            ),
    );
    let server = serve(app).await?;
    let script = Script::new()
        .open(&server.url("/test/page"))
        .wait_for(0, "window.__log.includes('open')")
        .eval(
            0,
            "fetch('/test/publish', { method: 'POST' }).then((r) => r.status)",
        )
        .wait_for(0, "window.__log.some((l) => l.startsWith('close:'))")
        .wait_for(
            0,
            "document.querySelector('#refreshed').textContent === 'refreshed'",
        )
        .eval(
            0,
            "[...document.querySelectorAll('#notes li')].map((li) => li.textContent)",
        )
        .eval(0, "document.querySelector('#plain').innerHTML")
        .eval(0, "document.querySelector('#count').textContent")
        .eval(0, "window.__log")
        .errors(0);
    let values = browser.run_script(&script, &PageOptions::default()).await?;
    assert_eq!(values[0], json!(204), "publishing");
    assert_eq!(values[5], json!([]), "the page's errors");
    Ok(values[1..5].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helpers_do_what_their_htmx2_attributes_say() -> anyhow::Result<()> {
    let values = helpers_in(HELPERS_HTMX2).await?;
    // `sse-swap="note"` appended both notes (line breaks arrive as LF; the
    // escaped text is text), and nothing after the close event.
    assert_eq!(values[0], json!(["one\nline two", "<i>x</i> & 'y'"]));
    // `sse-swap="message"` swapped the fragment.
    assert_eq!(values[1], json!("<b>plain</b>"));
    // The out-of-band part of the first note.
    assert_eq!(values[2], json!("1"));
    assert_eq!(values[3], json!(["open", "close:message"]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helpers_do_what_htmx4_does_with_them() -> anyhow::Result<()> {
    let values = helpers_in(HELPERS_HTMX4).await?;
    // Typed events are DOM events, not swaps: no list items, no
    // out-of-band swap; the untyped fragment is swapped into the target.
    assert_eq!(values[0], json!([]));
    assert_eq!(values[1], json!("<b>plain</b>"));
    assert_eq!(values[2], json!("0"));
    let note = format!(
        "note:<li>one\nline two</li>{}",
        ssehub::htmx::oob("innerHTML", "#count", "1")
    );
    assert_eq!(
        values[3],
        json!([
            "open",
            note,
            "note:<li>&lt;i&gt;x&lt;/i&gt; &amp; &#39;y&#39;</li>",
            "close:message"
        ])
    );
    Ok(())
}
