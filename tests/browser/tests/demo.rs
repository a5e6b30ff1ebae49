//! The demo page of `ssehub serve` (what a newcomer sees first) in headless
//! Chromium: two pages, a message published from one shows in both, the live
//! signal follows clicks in either, the counts move. Set `SSEHUB_SCREENSHOT`
//! to a path to also save a screenshot (how docs/img/demo.png is made).

use std::time::Duration;

use serde_json::Value;
use ssehub::Hub;
use ssehub_browser_tests::{serve, Browser, PageOptions, Script};

const LIVE: &str = "document.querySelector('#status').textContent === 'live'";

fn counter_is(n: i64) -> String {
    format!("document.querySelector('#counter').textContent === '{n}'")
}

fn log_has(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#log li')].some((li) => li.textContent.endsWith({}))",
        Value::from(text)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_publishes_shows_events_and_a_live_signal() -> anyhow::Result<()> {
    let browser = Browser::ensure()?;
    let hub = Hub::new();
    let server = serve(ssehub_server::router(
        hub.clone(),
        ssehub_server::Config::default(),
    ))
    .await?;
    let url = server.url("/");
    let mut script = Script::new()
        .open(&url)
        .wait_for(0, LIVE)
        .wait_for(0, &counter_is(0))
        .open(&url)
        .wait_for(1, LIVE)
        .wait_for(1, &counter_is(0))
        .type_text(0, "input[name=data]", "hello from page one")
        .press(0, "input[name=data]", "Enter")
        .wait_for(0, &log_has("hello from page one"))
        .wait_for(1, &log_has("hello from page one"))
        .click(1, "#plus")
        .wait_for(0, &counter_is(1))
        .click(0, "#plus")
        .wait_for(1, &counter_is(2))
        .click(1, "#minus")
        .wait_for(0, &counter_is(1))
        .wait_for(0, &counter_is(1))
        .wait_for(
            0,
            "Number(document.querySelector('#connections').textContent) >= 4",
        )
        .eval(0, "document.querySelector('input[name=data]').value");
    if let Ok(path) = std::env::var("SSEHUB_SCREENSHOT") {
        script = script
            .type_text(0, "input[name=data]", "a second message")
            .press(0, "input[name=data]", "Enter")
            .wait_for(0, &log_has("a second message"))
            .wait_for(0, "document.querySelectorAll('#chart rect').length >= 3")
            .screenshot(0, &path, 1200, 760);
    }
    let results = browser
        .run_script(
            &script,
            &PageOptions::default().timeout(Duration::from_secs(60)),
        )
        .await?;
    assert_eq!(results[0], "", "the input is cleared after publishing");
    assert_eq!(
        hub.signal_value("demo/counter").await.map(|(_, v)| v),
        Some(1.into())
    );
    Ok(())
}
