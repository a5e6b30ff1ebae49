//! `ssehub serve` over HTTPS in headless Chromium: one page opens 10
//! EventSources to one origin; over HTTP/2 they are streams of one
//! connection and all 10 receive live events, while over HTTP/1.1 (the
//! control) Chromium opens at most 6 connections per origin, so 4 of them
//! never connect.

use std::time::Duration;

use serde_json::{json, Value};
use ssehub::{Event, Hub};
use ssehub_browser_tests::{Browser, PageOptions, Script};

/// Opens 10 EventSources (topics t0..t9) and records what each gets.
const OPEN_TEN: &str = r#"
window.__got = Array(10).fill(0);
window.__sources = [...Array(10).keys()].map((i) => {
  const source = new EventSource(`/events?topic=t${i}`);
  source.onmessage = () => { window.__got[i] += 1; };
  return source;
});
true
"#;

const REPORT: &str = r#"({
  protocol: performance.getEntriesByType('navigation')[0].nextHopProtocol,
  open: window.__sources.filter((s) => s.readyState === EventSource.OPEN).length,
  connecting: window.__sources.filter((s) => s.readyState === EventSource.CONNECTING).length,
  got: window.__got,
})"#;

/// Serves `hub` with `ssehub_server::run` on loopback, over TLS when `tls`.
async fn serve(hub: &Hub, tls: Option<ssehub_server::Tls>) -> anyhow::Result<String> {
    let listener = ssehub_server::bind("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = ssehub_server::Config {
        tls,
        ..ssehub_server::Config::default()
    };
    tokio::spawn(ssehub_server::run(
        listener,
        hub.clone(),
        config,
        std::future::pending(),
    ));
    Ok(format!("{scheme}://localhost:{}", addr.port()))
}

/// Runs the page against `base`; once `expect_open` streams are subscribed,
/// publishes one event to each of the 10 topics and waits until the page
/// has `expect_open` of them. Returns the page's report and the streams the
/// hub had once the page had its events.
async fn ten_sources(base: &str, hub: &Hub, expect_open: usize) -> anyhow::Result<(Value, usize)> {
    let browser = Browser::ensure()?;
    let script = Script::new()
        .open(&format!("{base}/healthz"))
        .eval(0, OPEN_TEN)
        .wait_for(
            0,
            &format!("window.__got.filter((n) => n > 0).length >= {expect_open}"),
        )
        .eval(0, REPORT)
        .errors(0);
    let options = PageOptions::default().timeout(Duration::from_secs(60));
    let run = browser.run_script(&script, &options);
    let publish = async {
        // Subscribed means the response head is out: publish then.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
        while hub.stats().connections < expect_open {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "never {expect_open} streams"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for i in 0..10 {
            hub.publish(format!("t{i}").as_str(), Event::data(&format!("to t{i}")))
                .await?;
        }
        // The page is still open: it waits for these events.
        anyhow::Ok(hub.stats().connections)
    };
    let (results, streams) = tokio::join!(run, publish);
    let (results, streams) = (results?, streams?);
    assert_eq!(results[2], json!([]), "console errors: {}", results[2]);
    Ok((results[1].clone(), streams))
}

fn certificate(dir: &std::path::Path) -> anyhow::Result<ssehub_server::Tls> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("cert.key"));
    std::fs::write(&cert, certified.cert.pem())?;
    std::fs::write(&key, certified.signing_key.serialize_pem())?;
    Ok(ssehub_server::Tls::from_pem_files(cert, key)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_event_sources_on_one_page_all_receive_over_http2() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ssehub-h2-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let hub = Hub::new();
    let base = serve(&hub, Some(certificate(&dir)?)).await?;
    let (report, streams) = ten_sources(&base, &hub, 10).await?;
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(streams, 10);
    assert_eq!(report["protocol"], "h2", "{report}");
    assert_eq!(report["open"], 10, "{report}");
    assert_eq!(
        report["got"],
        json!([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        "{report}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http1_the_same_page_hits_the_six_connection_cap() -> anyhow::Result<()> {
    let hub = Hub::new();
    let base = serve(&hub, None).await?;
    let (report, streams) = ten_sources(&base, &hub, 6).await?;
    assert_eq!(report["protocol"], "http/1.1", "{report}");
    assert_eq!(report["open"], 6, "{report}");
    assert_eq!(report["connecting"], 4, "{report}");
    let got: Vec<u64> = serde_json::from_value(report["got"].clone())?;
    assert_eq!(got.iter().sum::<u64>(), 6, "{report}");
    assert_eq!(streams, 6, "the hub has only 6 streams");
    Ok(())
}
