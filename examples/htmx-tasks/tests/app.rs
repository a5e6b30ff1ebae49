//! The task list's routes over real HTTP (the browser tests in
//! `tests/browser/tests/htmx.rs` drive its pages).

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use ssehub::Hub;
use ssehub_core::{Item, MessageEvent, Parser};

/// Serves the task list on `127.0.0.1:0`; returns its base URL.
async fn start() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, htmx_tasks::app(Hub::new())).await });
    Ok(format!("http://{addr}"))
}

/// An open `/events` stream, read event by event.
struct Events<S> {
    body: S,
    parser: Parser,
    ready: std::collections::VecDeque<MessageEvent>,
}

async fn events(
    base: &str,
    query: &str,
) -> anyhow::Result<Events<impl Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin>> {
    let response = reqwest::get(format!("{base}/events{query}")).await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Ok(Events {
        body: response.bytes_stream(),
        parser: Parser::new(),
        ready: Default::default(),
    })
}

impl<S: Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin> Events<S> {
    /// The next event (retry hints are skipped).
    async fn next(&mut self) -> anyhow::Result<MessageEvent> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(event) = self.ready.pop_front() {
                    return Ok(event);
                }
                let chunk = self
                    .body
                    .next()
                    .await
                    .ok_or_else(|| anyhow::anyhow!("the stream ended"))??;
                self.parser.feed(&chunk)?;
                for item in self.parser.drain() {
                    if let Item::Event(event) = item {
                        self.ready.push_back(event);
                    }
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no event within 10 s"))?
    }
}

async fn post(url: &str, form: &[(&str, &str)]) -> anyhow::Result<u16> {
    let response = reqwest::Client::new().post(url).form(form).send().await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn adding_and_completing_publish_fragments_to_swap() -> anyhow::Result<()> {
    let base = start().await?;
    let mut stream = events(&base, "").await?;

    assert_eq!(
        post(
            &format!("{base}/tasks"),
            &[("title", " Buy <milk> & \"eggs\" ")]
        )
        .await?,
        204
    );
    let added = stream.next().await?;
    // No event type: htmx 2 swaps it with `sse-swap="message"`, htmx 4 as is.
    assert_eq!(added.event, "message");
    assert_eq!(
        added.data,
        "<li id=\"task-1\"><span class=\"title\">Buy &lt;milk&gt; &amp; &quot;eggs&quot;</span> \
         <button class=\"complete\" hx-post=\"/tasks/1/complete\" hx-swap=\"none\">Complete</button></li>\
         <div hx-swap-oob=\"innerHTML:#total\">1</div>"
    );

    assert_eq!(post(&format!("{base}/tasks/1/complete"), &[]).await?, 204);
    let completed = stream.next().await?;
    assert_eq!(
        completed.data,
        "<li id=\"task-1\" class=\"completed\" hx-swap-oob=\"true\">\
         <span class=\"title\">Buy &lt;milk&gt; &amp; &quot;eggs&quot;</span> \
         <span class=\"check\">✓ completed</span></li>\
         <div hx-swap-oob=\"innerHTML:#completed\">1</div>"
    );

    // Completing again changes nothing and publishes nothing: the next
    // event is the next task.
    assert_eq!(post(&format!("{base}/tasks/1/complete"), &[]).await?, 204);
    assert_eq!(
        post(&format!("{base}/tasks"), &[("title", "two")]).await?,
        204
    );
    let next = stream.next().await?;
    assert!(next.data.starts_with("<li id=\"task-2\">"), "{next:?}");
    assert_ne!(next.last_event_id, completed.last_event_id);
    Ok(())
}

#[tokio::test]
async fn bad_requests_are_refused() -> anyhow::Result<()> {
    let base = start().await?;
    let too_long = "x".repeat(htmx_tasks::MAX_TITLE_CHARS + 1);
    for title in ["", "  \n", too_long.as_str()] {
        assert_eq!(
            post(&format!("{base}/tasks"), &[("title", title)]).await?,
            400,
            "{title:?}"
        );
    }
    assert_eq!(post(&format!("{base}/tasks/7/complete"), &[]).await?, 404);
    assert_eq!(post(&format!("{base}/tasks/x/complete"), &[]).await?, 400);
    Ok(())
}

/// The `sse-connect` (or `hx-sse:connect`) URL of a page.
fn connect_url(page: &str, attribute: &str) -> String {
    let start = page
        .find(&format!("{attribute}=\""))
        .unwrap_or_else(|| panic!("no {attribute} in {page}"))
        + attribute.len()
        + 2;
    let end = start + page[start..].find('"').expect("a closing quote");
    page[start..end].to_owned()
}

#[tokio::test]
async fn a_page_shows_the_list_and_subscribes_from_what_it_shows() -> anyhow::Result<()> {
    let base = start().await?;
    let page = reqwest::get(format!("{base}/")).await?.text().await?;
    // Nothing published yet: nothing to resume from.
    assert_eq!(connect_url(&page, "sse-connect"), "/events");

    post(&format!("{base}/tasks"), &[("title", "<one>")]).await?;
    post(&format!("{base}/tasks"), &[("title", "two")]).await?;
    post(&format!("{base}/tasks/1/complete"), &[]).await?;
    let page = reqwest::get(format!("{base}/")).await?.text().await?;
    assert!(
        page.contains("<span class=\"title\">&lt;one&gt;</span>"),
        "{page}"
    );
    assert!(
        page.contains("Completed: <span id=\"completed\">1</span> of <span id=\"total\">2</span>"),
        "{page}"
    );
    assert!(
        page.contains("sse-swap=\"message\" hx-swap=\"beforeend\""),
        "{page}"
    );
    assert!(
        page.contains("<script src=\"/static/ssehub-htmx.js\">"),
        "{page}"
    );
    let url = connect_url(&page, "sse-connect");
    assert!(url.starts_with("/events?lastEventId="), "{url}");

    // A change after the page was rendered reaches it, though it is
    // published before the page subscribes; nothing before it does.
    post(&format!("{base}/tasks"), &[("title", "three")]).await?;
    let mut stream = events(&base, url.trim_start_matches("/events")).await?;
    let first = stream.next().await?;
    assert!(first.data.starts_with("<li id=\"task-3\">"), "{first:?}");

    let page4 = reqwest::get(format!("{base}/htmx4")).await?.text().await?;
    let url4 = connect_url(&page4, "hx-sse:connect");
    assert!(url4.starts_with("/events?lastEventId="), "{url4}");
    assert_ne!(url4, url, "the htmx 4 page was rendered after task 3");
    assert!(
        page4.contains("hx-target=\"#tasks\" hx-swap=\"beforeend\""),
        "{page4}"
    );
    assert!(!page4.contains("sse-swap"), "{page4}");
    Ok(())
}

#[tokio::test]
async fn the_scripts_are_served_locally() -> anyhow::Result<()> {
    let base = start().await?;
    for file in [
        "htmx-2.min.js",
        "htmx-ext-sse.min.js",
        "htmx-4.min.js",
        "htmx-4-sse.min.js",
        "ssehub-htmx.js",
    ] {
        let response = reqwest::get(format!("{base}/static/{file}")).await?;
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(
            response.headers()["content-type"],
            "text/javascript; charset=utf-8",
            "{file}"
        );
        assert!(!response.text().await?.is_empty(), "{file}");
    }
    let response = reqwest::get(format!("{base}/static/nope.js")).await?;
    assert_eq!(response.status(), 404);
    Ok(())
}

/// The copies in `static/` are the files of the npm packages that
/// `package-lock.json` pins (installed by `npm ci` in this directory, which
/// `scripts/test` runs). Without them installed the check is skipped,
/// unless `SSEHUB_REQUIRE_HTMX_PACKAGES` is set (as `scripts/test` does).
#[test]
fn the_static_files_are_the_pinned_npm_packages() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = dir.join("node_modules");
    if !modules.is_dir() {
        if std::env::var_os("SSEHUB_REQUIRE_HTMX_PACKAGES").is_some() {
            anyhow::bail!("{} is missing: run `npm ci` there", modules.display());
        }
        eprintln!("skipped: no {} (run `npm ci` there)", modules.display());
        return Ok(());
    }
    for (copy, original) in [
        ("htmx-2.min.js", "htmx.org/dist/htmx.min.js"),
        ("htmx-ext-sse.min.js", "htmx-ext-sse/dist/sse.min.js"),
        ("htmx-4.min.js", "htmx4/dist/htmx.min.js"),
        ("htmx-4-sse.min.js", "htmx4/dist/ext/hx-sse.min.js"),
    ] {
        let copy_bytes = std::fs::read(dir.join("static").join(copy))?;
        let original_bytes = std::fs::read(modules.join(original))?;
        assert!(
            copy_bytes == original_bytes,
            "static/{copy} differs from node_modules/{original}: copy it again"
        );
    }
    Ok(())
}
