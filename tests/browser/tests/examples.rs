//! The counter example in headless Chromium, driven as users would (the chat
//! examples are in `chat.rs`).

use std::time::Duration;

use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_browser_tests::{serve, Browser, PageOptions, Script};

/// The number the counter page shows, or `NaN` if it does not read
/// `Count: N`.
const COUNT: &str =
    "Number(/^Count: (\\d+)$/.exec(document.querySelector('#count').textContent)?.[1] ?? NaN)";

/// Every `Count: N` the counter page shows from now on, in
/// `window.__seen`.
const WATCH_COUNT: &str = "window.__seen = []; \
     const count = document.querySelector('#count'); \
     new MutationObserver(() => window.__seen.push(count.textContent)) \
       .observe(count, { childList: true, characterData: true, subtree: true }); \
     count.textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_page_counts_live() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let counter = axum_counter::Counter::new(Hub::new());
    let ticking = tokio::spawn(counter.clone().tick(Duration::from_millis(100)));
    let server = serve(axum_counter::app(counter)).await?;
    let script = Script::new()
        .open(&server.url("/"))
        .eval(0, WATCH_COUNT)
        .wait_for(0, "window.__seen.length >= 3")
        .eval(0, "window.__seen.slice(0, 3)");
    let values = browser.run_script(&script, &PageOptions::default()).await?;
    ticking.abort();

    let first = count_in(&values[0]);
    let seen: Vec<u64> = values[1]
        .as_array()
        .expect("a list")
        .iter()
        .map(count_in)
        .collect();
    // Every tick shows, in order: none skipped, none repeated.
    assert_eq!(
        seen,
        [first + 1, first + 2, first + 3],
        "the page showed Count: {first}, then {:?}",
        values[1]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_button_increments_every_page() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    // No ticking: only the button counts.
    let counter = axum_counter::Counter::new(Hub::new());
    counter.increment().await?;
    let server = serve(axum_counter::app(counter.clone())).await?;
    let url = server.url("/");
    let script = Script::new()
        .open(&url)
        .open(&url)
        .eval(0, COUNT)
        .click(0, "#increment")
        .wait_for(0, &format!("{COUNT} === 2"))
        .wait_for(1, &format!("{COUNT} === 2"))
        .click(1, "#increment")
        .wait_for(0, &format!("{COUNT} === 3"))
        .wait_for(1, &format!("{COUNT} === 3"))
        .eval(1, "document.querySelector('#count').textContent")
        .errors(0)
        .errors(1);
    let values = browser.run_script(&script, &PageOptions::default()).await?;

    assert_eq!(values, [json!(1), json!("Count: 3"), json!([]), json!([])]);
    assert_eq!(counter.increment().await?, 4, "the server's count");
    Ok(())
}

/// N in `Count: N`.
#[track_caller]
fn count_in(text: &Value) -> u64 {
    text.as_str()
        .and_then(|text| text.strip_prefix("Count: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not `Count: N`: {text}"))
}
