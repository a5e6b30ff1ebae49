//! The chat example on each framework in headless Chromium, driven as users
//! would: two pages, a message typed in one (Enter) appears in the other.
//! `actix-chat` and `salvo-chat` serve the page of `axum-chat`; one script
//! checks that each framework's adapter carries it. Neither page logs an
//! error in its console (a missing favicon would be one).

use serde_json::json;
use ssehub::Hub;
use ssehub_browser_tests::{Browser, PageOptions, Script};

/// True once the chat page's `EventSource` is open: the page is subscribed.
const CHAT_CONNECTED: &str = "document.querySelector('#status').textContent === 'connected'";

/// The chat page's messages, as the user reads them.
const CHAT_MESSAGES: &str =
    "[...document.querySelectorAll('#messages li')].map((li) => li.textContent)";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_chat_two_pages_talk() -> anyhow::Result<()> {
    let server = ssehub_browser_tests::serve(axum_chat::app(Hub::new())).await?;
    two_pages_talk(&server.url("/")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_chat_two_pages_talk() -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = actix_chat::serve(listener, Hub::new())?;
    let handle = server.handle();
    tokio::spawn(server);
    let result = two_pages_talk(&format!("http://{addr}/")).await;
    handle.stop(false).await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salvo_chat_two_pages_talk() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = salvo::Server::new(salvo::conn::tcp::TcpAcceptor::try_from(listener)?);
    let serving = tokio::spawn(server.serve(salvo_chat::router(Hub::new())));
    let result = two_pages_talk(&format!("http://{addr}/")).await;
    serving.abort();
    result
}
