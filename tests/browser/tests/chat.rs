//! The chat example on each framework in headless Chromium, driven as users
//! would: two pages, a message typed in one (Enter) appears in the other;
//! each page lists both users online, and once one page is closed the other
//! lists only its own user. `actix-chat` and `salvo-chat` serve the page of
//! `axum-chat`; one script checks that each framework's adapter carries it.
//! Neither page logs an error in its console (a missing favicon would be
//! one).
//!
//! Set `SSEHUB_SCREENSHOT_CHAT` to a path to also save a screenshot (how
//! docs/img/chat-presence.png is made).

use std::future::Future;

use serde_json::json;
use ssehub_browser_tests::{Browser, OpenOptions, PageOptions, Script};

/// True once the chat page's `EventSource` is open: the page is subscribed.
const CHAT_CONNECTED: &str = "document.querySelector('#status').textContent === 'connected'";

/// The chat page's messages, as the user reads them.
const CHAT_MESSAGES: &str =
    "[...document.querySelectorAll('#messages li')].map((li) => li.textContent)";

/// Who the chat page lists as online, as the user reads it.
const CHAT_ONLINE: &str =
    "[...document.querySelectorAll('#online li')].map((li) => li.textContent)";

/// True once the chat page lists exactly `names` online, in this order.
fn online_is(names: &[&str]) -> String {
    format!("JSON.stringify({CHAT_ONLINE}) === '{}'", json!(names))
}

fn chat_has(n: usize) -> String {
    format!("document.querySelectorAll('#messages li').length >= {n}")
}

/// Two users of the chat at `url` talk: each sees both messages, as text,
/// in order.
async fn two_pages_talk(url: &str) -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    // HTML in a message is text: it must show as typed, not become markup.
    let hello = "hello <b>not bold</b> & <img src=x onerror=alert(1)> 😀 漢字";
    let reply = "hi!  ✓";
    let script = Script::new()
        .open(url) // User#1
        .open(url) // User#2
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
        .eval(0, "document.querySelector('#message').value")
        .errors(0)
        .errors(1);
    let values = browser.run_script(&script, &PageOptions::default()).await?;

    let expected = json!([format!("User#1: {hello}"), format!("User#2: {reply}")]);
    assert_eq!(values[0], expected, "what page 0 shows");
    assert_eq!(values[1], expected, "what page 1 shows");
    assert_eq!(values[2], json!(0), "message HTML became elements");
    assert_eq!(values[3], json!(""), "the input is cleared once sent");
    assert_eq!(values[4], json!([]), "console errors of page 0");
    assert_eq!(values[5], json!([]), "console errors of page 1");
    Ok(())
}

/// Two users of the chat at `url` see each other online; when the second
/// closes their page, the first sees only themselves. With `screenshot`,
/// saves what the first page shows while both are online, a message sent.
async fn two_pages_see_each_other_online(
    url: &str,
    screenshot: Option<&str>,
) -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let both = online_is(&["User#1", "User#2"]);
    let mut script = Script::new()
        .open(url) // User#1
        .open(url) // User#2
        .wait_for(0, CHAT_CONNECTED)
        .wait_for(1, CHAT_CONNECTED)
        .wait_for(0, &both)
        .wait_for(1, &both)
        .eval(0, CHAT_ONLINE)
        .eval(1, CHAT_ONLINE);
    if let Some(path) = screenshot {
        script = script
            .type_text(1, "#message", "Who else is here?")
            .press(1, "#message", "Enter")
            .wait_for(0, &chat_has(1))
            .screenshot(0, path, 900, 400);
    }
    let script = script
        .close(1)
        .wait_for(0, &online_is(&["User#1"]))
        .eval(0, CHAT_ONLINE)
        .eval(0, "document.querySelector('#online li.me')?.textContent")
        .errors(0);
    let values = browser.run_script(&script, &PageOptions::default()).await?;

    let both = json!(["User#1", "User#2"]);
    assert_eq!(values[0], both, "who page 0 lists online");
    assert_eq!(values[1], both, "who page 1 lists online");
    assert_eq!(
        values[2],
        json!(["User#1"]),
        "page 0, once page 1 is closed"
    );
    assert_eq!(values[3], json!("User#1"), "page 0 marks its own user");
    assert_eq!(values[4], json!([]), "console errors of page 0");
    Ok(())
}

/// Run in a chat page before its own script: holds the answers to
/// `/presence` until `window.__release()` (setting `window.__asked` once
/// the answer is in), and records in `window.__seen` each `join` and
/// `leave` the page's `EventSource` gets (before the page's own listeners
/// run).
const HOLD_PRESENCE: &str = r#"
const realFetch = window.fetch;
let release;
const released = new Promise((resolve) => { release = resolve; });
window.__release = () => { release(); return true; };
window.fetch = async (...args) => {
  const response = await realFetch(...args);
  if (String(args[0]).startsWith('/presence')) {
    window.__asked = true;
    await released;
  }
  return response;
};
window.__seen = [];
const RealEventSource = window.EventSource;
window.EventSource = class extends RealEventSource {
  constructor(...args) {
    super(...args);
    for (const kind of ['join', 'leave']) {
      this.addEventListener(kind, (event) => {
        window.__seen.push(`${kind} ${JSON.parse(event.data).user}`);
      });
    }
  }
};
"#;

/// A join and a leave that come while the page waits for `/presence`'s
/// answer, which was made before them, are applied after it: neither is
/// lost (the answer alone would list User#1 and not User#3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_chat_changes_during_the_presence_request_are_kept() -> anyhow::Result<()> {
    let server = axum_chat().await?;
    let url = server.url("/");
    let held = OpenOptions::new().init_script(HOLD_PRESENCE);
    let script = Script::new()
        .open(&url) // User#1
        .wait_for(0, CHAT_CONNECTED)
        .open_with(&url, &held) // User#2: its answer lists User#1 and User#2
        .wait_for(1, "window.__asked === true")
        .open(&url) // User#3
        .wait_for(2, &online_is(&["User#1", "User#2", "User#3"]))
        .close(0)
        .wait_for(1, "window.__seen.includes('leave User#1')")
        .eval(1, "window.__seen")
        .eval(1, CHAT_ONLINE)
        .eval(1, "window.__release()")
        .wait_for(1, &online_is(&["User#2", "User#3"]))
        .eval(1, CHAT_ONLINE)
        .errors(1);
    let browser = Browser::ensure()?;
    let values = browser.run_script(&script, &PageOptions::default()).await?;

    assert_eq!(
        values[0],
        json!(["join User#2", "join User#3", "leave User#1"]),
        "what page 1's stream got while its request was held"
    );
    assert_eq!(values[1], json!([]), "nothing is shown before the answer");
    assert_eq!(values[3], json!(["User#2", "User#3"]), "page 1, after");
    assert_eq!(values[4], json!([]), "console errors of page 1");
    Ok(())
}

/// Serves `axum-chat` for a test.
async fn axum_chat() -> anyhow::Result<ssehub_browser_tests::TestServer> {
    ssehub_browser_tests::serve(axum_chat::app(axum_chat::hub())).await
}

/// Runs `test` on the URL of `actix-chat`, served on `127.0.0.1:0`, then
/// stops it.
async fn on_actix_chat<F: Future<Output = anyhow::Result<()>>>(
    test: impl FnOnce(String) -> F,
) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = actix_chat::serve(listener, actix_chat::hub())?;
    let handle = server.handle();
    tokio::spawn(server);
    let result = test(format!("http://{addr}/")).await;
    handle.stop(false).await;
    result
}

/// Runs `test` on the URL of `salvo-chat`, served on `127.0.0.1:0`, then
/// stops it.
async fn on_salvo_chat<F: Future<Output = anyhow::Result<()>>>(
    test: impl FnOnce(String) -> F,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = salvo::Server::new(salvo::conn::tcp::TcpAcceptor::try_from(listener)?);
    let serving = tokio::spawn(server.serve(salvo_chat::router(salvo_chat::hub())));
    let result = test(format!("http://{addr}/")).await;
    serving.abort();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_chat_two_pages_talk() -> anyhow::Result<()> {
    two_pages_talk(&axum_chat().await?.url("/")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_chat_two_pages_talk() -> anyhow::Result<()> {
    on_actix_chat(|url| async move { two_pages_talk(&url).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salvo_chat_two_pages_talk() -> anyhow::Result<()> {
    on_salvo_chat(|url| async move { two_pages_talk(&url).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_chat_two_pages_see_each_other_online() -> anyhow::Result<()> {
    let server = axum_chat().await?;
    let screenshot = std::env::var("SSEHUB_SCREENSHOT_CHAT").ok();
    two_pages_see_each_other_online(&server.url("/"), screenshot.as_deref()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_chat_two_pages_see_each_other_online() -> anyhow::Result<()> {
    on_actix_chat(|url| async move { two_pages_see_each_other_online(&url, None).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salvo_chat_two_pages_see_each_other_online() -> anyhow::Result<()> {
    on_salvo_chat(|url| async move { two_pages_see_each_other_online(&url, None).await }).await
}
