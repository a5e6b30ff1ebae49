//! `ssehub_leptos::actix::events_route` over real HTTP: what a Leptos
//! page's `provide_sse` gets from an actix-web server.
#![cfg(feature = "actix")]

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer};
use anyhow::{anyhow, Context as _};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_core::{Item, MessageEvent, Parser};

const WAIT: Duration = Duration::from_secs(10);

/// Serves `events_route(hub)` on `127.0.0.1:0`; stops when dropped.
struct Server {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn start(hub: Hub) -> anyhow::Result<Server> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new().service(ssehub_leptos::actix::events_route(hub.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Server { addr, handle })
}

/// The events of a response body, parsed.
struct Events {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    parser: Parser,
    pending: std::collections::VecDeque<MessageEvent>,
}

impl Events {
    fn new(response: reqwest::Response) -> Events {
        Events {
            body: Box::pin(response.bytes_stream()),
            parser: Parser::new(),
            pending: Default::default(),
        }
    }

    async fn next(&mut self) -> anyhow::Result<MessageEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let chunk = tokio::time::timeout(WAIT, self.body.next())
                .await
                .context("no event in time")?
                .ok_or_else(|| anyhow!("the stream ended"))??;
            self.parser.feed(&chunk)?;
            for item in self.parser.drain() {
                if let Item::Event(event) = item {
                    self.pending.push_back(event);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_arrives_as_snapshot_then_patches_and_resumes() -> anyhow::Result<()> {
    let hub = Hub::new();
    let counter = hub.signal("counter", json!({"n": 0})).await?;
    let server = start(hub.clone())?;
    let url = format!("http://{}/events?topic=counter", server.addr);
    let client = reqwest::Client::new();

    let response = client.get(&url).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events::new(response);
    let snapshot = events.next().await?;
    assert_eq!(snapshot.event, "counter");
    let first: Value = serde_json::from_str(&snapshot.data)?;
    assert_eq!(first["snapshot"], json!({"n": 0}), "{first}");
    let v = first["v"].as_u64().context("a version")?;

    counter.update(|value| value["n"] = json!(1)).await?;
    let patch = events.next().await?;
    let second: Value = serde_json::from_str(&patch.data)?;
    assert_eq!(second["v"], json!(v + 1), "{second}");
    let mut value = json!({"n": 0});
    let ops: ssehub::json_patch::Patch = serde_json::from_value(second["patch"].clone())?;
    ssehub::json_patch::patch(&mut value, &ops)?;
    assert_eq!(value, json!({"n": 1}));
    drop(events);

    // A reconnection with the last id gets only what it missed: no snapshot.
    counter.update(|value| value["n"] = json!(2)).await?;
    let response = client
        .get(&url)
        .header("last-event-id", &patch.last_event_id)
        .send()
        .await?;
    let mut events = Events::new(response);
    let missed: Value = serde_json::from_str(&events.next().await?.data)?;
    assert_eq!(missed["v"], json!(v + 2), "{missed}");
    assert!(missed.get("snapshot").is_none(), "{missed}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors() -> anyhow::Result<()> {
    let hub = Hub::new();
    let server = start(hub.clone())?;
    let base = format!("http://{}/events", server.addr);
    for (query, status, code) in [
        ("", 400, "missing_topic"),
        ("?other=x", 400, "missing_topic"),
        ("?topic=", 400, "invalid_topic"),
    ] {
        let response = reqwest::get(format!("{base}{query}")).await?;
        assert_eq!(response.status(), status, "{query:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await?;
        assert_eq!(body["error"], code, "{query:?}: {body}");
        assert!(body["message"].is_string(), "{body}");
    }
    hub.shutdown();
    let response = reqwest::get(format!("{base}?topic=t")).await?;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await?;
    assert_eq!(body["error"], "shutting_down", "{body}");
    Ok(())
}
