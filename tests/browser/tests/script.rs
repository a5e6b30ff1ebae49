//! The harness's [`Script`] mode: steps run in order across pages, and a step
//! that cannot complete is an error that names it, with what the pages said.

use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use ssehub_browser_tests::{serve, Browser, PageOptions, Script};

/// A page whose input echoes what is typed into it, on Enter, into `#out`.
const ECHO: &str = r#"<!doctype html><meta charset="utf-8">
<input id="in"><button id="b" onclick="document.querySelector('#out').textContent += '!'">b</button>
<p id="out"></p>
<script>
document.querySelector('#in').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') document.querySelector('#out').textContent = e.target.value;
});
console.log('echo page loaded');
</script>"#;

async fn echo_server() -> anyhow::Result<ssehub_browser_tests::TestServer> {
    serve(Router::new().route("/", get(|| async { Html(ECHO) }))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_types_presses_clicks_and_reads_back() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let server = echo_server().await?;
    let url = server.url("/");
    let script = Script::new()
        .open(&url)
        .open(&url)
        .type_text(1, "#in", "typed ✓")
        .press(1, "#in", "Enter")
        .click(1, "#b")
        .wait_for(
            1,
            "document.querySelector('#out').textContent.endsWith('!')",
        )
        .eval(0, "document.querySelector('#out').textContent")
        .eval(1, "document.querySelector('#out').textContent")
        .eval(1, "Promise.resolve(6 * 7)");
    let values = browser.run_script(&script, &PageOptions::default()).await?;
    assert_eq!(values, [json!(""), json!("typed ✓!"), json!(42)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_never_completes_is_an_error_naming_it() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let server = echo_server().await?;
    let script = Script::new()
        .open(&server.url("/"))
        .type_text(0, "#in", "some text")
        .press(0, "#in", "Enter")
        .wait_for(0, "window.neverSet === true");
    let error = browser
        .run_script(
            &script,
            &PageOptions::default().timeout(Duration::from_secs(10)),
        )
        .await
        .expect_err("the page never sets window.neverSet");
    let message = format!("{error:#}");
    for needle in [
        "step 3",
        "window.neverSet === true",
        "echo page loaded",
        "some text",
    ] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_page_takes_no_more_steps() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let server = echo_server().await?;
    let url = server.url("/");
    let script = Script::new()
        .open(&url)
        .open(&url)
        .close(0)
        .eval(1, "6 * 7")
        .eval(0, "1");
    let error = browser
        .run_script(&script, &PageOptions::default())
        .await
        .expect_err("page 0 is closed");
    let message = format!("{error:#}");
    for needle in ["step 4", "page 0 was closed by an earlier step"] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    Ok(())
}
