//! The example apps in headless Chromium, driven as users would: two chat
//! pages talking to each other, and the counter page counting.

use std::time::Duration;

use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_browser_tests::{serve, Browser, PageOptions, Script};

/// True once the chat page's `EventSource` is open: the page is subscribed.
const CHAT_CONNECTED: &str = "document.querySelector('#status').textContent === 'connected'";

/// The chat page's messages, as the user reads them.
const CHAT_MESSAGES: &str =
    "[...document.querySelectorAll('#messages li')].map((li) => li.textContent)";

fn chat_has(n: usize) -> String {
    format!("document.querySelectorAll('#messages li').length >= {n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_typed_in_one_page_appears_in_the_other() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let server = serve(axum_chat::app(Hub::new())).await?;
    let url = server.url("/");
    // HTML in a message is text: it must show as typed, not become markup.
    let hello = "hello <b>not bold</b> & <img src=x onerror=alert(1)> 😀 漢字";
    let reply = "hi!  ✓";
    let script = Script::new()
        .open(&url) // User#1
        .open(&url) // User#2
        .wait_for(0, CHAT_CONNECTED)
        .wait_for(1, CHAT_CONNECTED)
        .type_text(0, "#message", hello)
        .press(0, "#message", "Enter")
        .wait_for(1, &chat_has(1))
        .type_text(1, "#message", reply)
        .press(1, "#message", "Enter")
        .wait_for(0, &chat_has(2))
        .wait_for(1, &chat_has(2))
        .eval(0, CHAT_MESSAGES)
        .eval(1, CHAT_MESSAGES)
        .eval(
            0,
            "document.querySelectorAll('#messages b, #messages img').length",
        )
        .eval(0, "document.querySelector('#message').value");
    let values = browser.run_script(&script, &PageOptions::default()).await?;

    let expected = json!([format!("User#1: {hello}"), format!("User#2: {reply}")]);
    assert_eq!(values[0], expected, "what page 0 shows");
    assert_eq!(values[1], expected, "what page 1 shows");
    assert_eq!(values[2], json!(0), "message HTML became elements");
    assert_eq!(values[3], json!(""), "the input is cleared once sent");
    Ok(())
}

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
        .eval(1, "document.querySelector('#count').textContent");
    let values = browser.run_script(&script, &PageOptions::default()).await?;

    assert_eq!(values, [json!(1), json!("Count: 3")]);
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
