//! The demo page of `ssehub serve` (what a newcomer sees first) in headless
//! Chromium: two pages, a message published from one shows in both, an event
//! published with the `ssehub publish` CLI shows too, the live signal follows
//! clicks in either, the counts move, and no page logs an error. Set
//! `SSEHUB_SCREENSHOT` to a path to also save a screenshot (how
//! docs/img/demo.png is made).

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
    let cli = ssehub_binary()?;
    let hub = Hub::new();
    // The test's own subscription: it sees when the pages have published.
    let mut watch = hub.subscribe("demo", None).await?;
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
        // Tell the test the pages are ready for the CLI's event.
        .type_text(1, "input[name=data]", "ready for the CLI")
        .press(1, "input[name=data]", "Enter")
        .wait_for(0, &log_has("published with ssehub publish"))
        .wait_for(1, &log_has("published with ssehub publish"))
        .wait_for(
            0,
            "Number(document.querySelector('#connections').textContent) >= 4",
        )
        .eval(0, "document.querySelector('input[name=data]').value")
        .errors(0)
        .errors(1);
    if let Ok(path) = std::env::var("SSEHUB_SCREENSHOT") {
        script = script
            .type_text(0, "input[name=data]", "a second message")
            .press(0, "input[name=data]", "Enter")
            .wait_for(0, &log_has("a second message"))
            .wait_for(0, "document.querySelectorAll('#chart rect').length >= 3")
            .screenshot(0, &path, 1200, 760);
    }
    let options = PageOptions::default().timeout(Duration::from_secs(60));
    let run = browser.run_script(&script, &options);
    let publish = async {
        wait_for_data(&mut watch, "ready for the CLI").await;
        let url = server.url("");
        let out = tokio::process::Command::new(&cli)
            .args([
                "publish",
                "--url",
                url.trim_end_matches('/'),
                "--topic",
                "demo",
            ])
            .args(["--data", "published with ssehub publish"])
            .output()
            .await?;
        anyhow::ensure!(out.status.success(), "ssehub publish: {out:?}");
        anyhow::Ok(())
    };
    let (results, published) = tokio::join!(run, publish);
    published?;
    let results = results?;
    assert_eq!(results[0], "", "the input is cleared after publishing");
    assert_eq!(results[1], serde_json::json!([]), "no errors in page 0");
    assert_eq!(results[2], serde_json::json!([]), "no errors in page 1");
    assert_eq!(
        hub.signal_value("demo/counter")
            .await
            .unwrap()
            .map(|(_, v)| v),
        Some(1.into())
    );
    Ok(())
}

/// Reads `sub` until an event with `data` arrives.
async fn wait_for_data(sub: &mut ssehub::Subscription, data: &str) {
    use futures_util::StreamExt;
    let mut parser = ssehub_core::Parser::new();
    loop {
        let frame = sub.next().await.expect("the hub is running");
        parser.feed(&frame).expect("hub frames parse");
        if parser
            .drain()
            .any(|i| matches!(i, ssehub_core::Item::Event(e) if e.data == data))
        {
            return;
        }
    }
}

/// The `ssehub` binary the workspace's tests are built with (next to this
/// test's own binary; `cargo nextest run --workspace` builds it).
fn ssehub_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("no target directory above {}", exe.display()))?;
    let bin = dir.join("ssehub");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p ssehub-server` (./scripts/test does)",
        bin.display()
    );
    Ok(bin)
}
