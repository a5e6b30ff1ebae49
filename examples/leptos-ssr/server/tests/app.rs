//! The leptos-ssr server over real HTTP, without a browser: the page as
//! served, the server function, the signal routes. (The browser half is
//! tested in tests/browser/tests/leptos_ssr.rs.)

use std::path::PathBuf;

use leptos_ssr::{Count, SIGNAL};
use reqwest::{Client, StatusCode};
use serde_json::json;
use ssehub::Hub;

/// A directory with stand-ins for the wasm bundle: the page only links to
/// it, and nothing here runs it.
fn assets() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("leptos-ssr-assets");
    std::fs::create_dir_all(&dir)?;
    for file in ["leptos_ssr_app.js", "leptos_ssr_app_bg.wasm"] {
        std::fs::write(dir.join(file), "")?;
    }
    Ok(dir)
}

/// Serves the app over `hub` on `127.0.0.1:0`; the base URL.
async fn start(hub: Hub) -> anyhow::Result<String> {
    let app = leptos_ssr::app(hub, &assets()?)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

#[tokio::test]
async fn the_page_renders_the_live_count_which_the_button_and_http_change() -> anyhow::Result<()> {
    let hub = Hub::builder().keepalive(None).build();
    let counter = leptos_ssr::counter(&hub).await?;
    counter.set(Count { count: 41 }).await?;
    let base = start(hub.clone()).await?;
    let client = Client::new();
    let page = || async { client.get(format!("{base}/")).send().await?.text().await };

    // Rendered with the value and its version (1), handed over to the page.
    let html = page().await?;
    assert!(html.contains(r#"<span id="count">41</span>"#), "{html}");
    assert!(
        html.contains(r#"{\"v\":1,\"value\":{\"count\":41}}"#),
        "{html}"
    );
    assert!(html.contains("/pkg/leptos_ssr_app.js"), "{html}");

    // The page's button: the server function.
    let response = client.post(format!("{base}/api/increment")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<u64>().await?, 42);
    assert_eq!(counter.get().await?, Count { count: 42 });

    // Another process, over HTTP.
    let response = client
        .put(format!("{base}/signals/{SIGNAL}"))
        .header("content-type", "application/json")
        .body(json!({ "count": 7 }).to_string())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await?,
        json!({ "version": 3 })
    );
    let html = page().await?;
    assert!(html.contains(r#"<span id="count">7</span>"#), "{html}");
    assert!(
        html.contains(r#"{\"v\":3,\"value\":{\"count\":7}}"#),
        "{html}"
    );
    Ok(())
}
