//! The behaviour every framework adapter shows, over real HTTP on loopback:
//! one set of test bodies, run by `conformance_axum.rs`,
//! `conformance_actix.rs` and `conformance_salvo.rs` through
//! [`conformance_suite!`].
//!
//! An adapter's test file only supplies `start`: serve
//! `GET /events?topic=A&topic=B` for a hub on `127.0.0.1:0`, as an app built
//! with that framework would (its compression middleware on, where it has
//! one), and return the address. The route reads `Last-Event-ID` with the
//! adapter's extractor and answers with the `Subscription`.
//!
//! Every wait is for something to arrive, bounded by [`WAIT`]; nothing
//! sleeps to let something happen.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context as _};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ssehub::{Event, EventId, Hub};
use ssehub_core::{Item, MessageEvent, Parser};

/// The longest any awaited thing may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A server an adapter started: its address, and whatever keeps it running
/// (it stops when this is dropped).
pub(crate) struct Server {
    addr: SocketAddr,
    _running: Box<dyn Send>,
}

impl Server {
    /// A server on `addr`, kept running by `running` until dropped.
    pub(crate) fn new(addr: SocketAddr, running: impl Send + 'static) -> Server {
        Server {
            addr,
            _running: Box::new(running),
        }
    }

    fn url(&self, query: &str) -> String {
        format!("http://{}/events?{query}", self.addr)
    }
}

/// Instantiates every conformance test for an adapter whose
/// `async fn start(Hub) -> anyhow::Result<Server>` is `$start`.
macro_rules! conformance_suite {
    ($start:path) => {
        conformance_suite!(@tests $start;
            order_across_topics,
            resume_by_header,
            resume_by_query_parameter,
            header_wins_over_query_parameter,
            reset_for_ids_the_hub_cannot_resume,
            response_headers,
            connected_event_when_asked,
            keepalive_comment_arrives,
            disconnect_unregisters,
            shutdown_ends_the_response,
        );
    };
    (@tests $start:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() -> anyhow::Result<()> {
                conformance::$name($start).await
            }
        )*
    };
}

/// An open event stream, read both as text (for comments) and as parsed
/// items.
struct Client {
    headers: reqwest::header::HeaderMap,
    status: reqwest::StatusCode,
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: Parser,
    items: VecDeque<Item>,
    text: String,
    /// Keeps the connection's client alive as long as the stream.
    _http: reqwest::Client,
}

impl Client {
    /// `GET url` with `headers`, on a connection of its own.
    async fn open(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()?;
        let mut request = http.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(WAIT, request.send())
            .await
            .context("no response headers")??;
        Ok(Client {
            headers: response.headers().clone(),
            status: response.status(),
            body: Box::pin(response.bytes_stream()),
            parser: Parser::new(),
            items: VecDeque::new(),
            text: String::new(),
            _http: http,
        })
    }

    /// Reads one more chunk; `false` at the end of the body.
    async fn read(&mut self) -> anyhow::Result<bool> {
        let chunk = tokio::time::timeout(WAIT, self.body.next())
            .await
            .map_err(|_| anyhow!("nothing arrived in {WAIT:?}; so far: {:?}", self.text))?;
        let Some(chunk) = chunk else {
            return Ok(false);
        };
        let chunk = chunk?;
        self.text.push_str(std::str::from_utf8(&chunk)?);
        self.parser.feed(&chunk)?;
        self.items.extend(self.parser.drain());
        Ok(true)
    }

    async fn next_item(&mut self) -> anyhow::Result<Item> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return Ok(item);
            }
            if !self.read().await? {
                bail!("the stream ended; it had sent {:?}", self.text);
            }
        }
    }

    /// Reads until `n` comment lines (`:`) have arrived.
    async fn until_comments(&mut self, n: usize) -> anyhow::Result<()> {
        while self
            .text
            .split_inclusive('\n')
            .filter(|l| *l == ":\n")
            .count()
            < n
        {
            ensure!(self.read().await?, "the stream ended: {:?}", self.text);
        }
        Ok(())
    }

    async fn next_event(&mut self) -> anyhow::Result<MessageEvent> {
        loop {
            if let Item::Event(event) = self.next_item().await? {
                return Ok(event);
            }
        }
    }

    /// The events up to and including the first whose data is `last`.
    async fn events_until(&mut self, last: &str) -> anyhow::Result<Vec<MessageEvent>> {
        let mut events = Vec::new();
        loop {
            let event = self.next_event().await?;
            let done = event.data == last;
            events.push(event);
            if done {
                return Ok(events);
            }
        }
    }
}

/// `(data, id)` of each event, to compare with what was published.
fn data_and_ids(events: &[MessageEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.data.clone(), e.last_event_id.clone()))
        .collect()
}

async fn publish(hub: &Hub, topic: &str, data: &str) -> anyhow::Result<EventId> {
    Ok(hub.publish(topic, Event::data(data)).await?)
}

/// Publishes `e1`..`e5` on `t`, with events on `other` in between; returns
/// the ids of `e1`..`e5`.
async fn history(hub: &Hub) -> anyhow::Result<Vec<EventId>> {
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(publish(hub, "t", &format!("e{n}")).await?);
        publish(hub, "other", &format!("o{n}")).await?;
    }
    Ok(ids)
}

/// Reads a resumed stream: it must hold exactly `e{from+1}`..`e5`, then the
/// live event published once it is open.
async fn expect_resumed(
    hub: &Hub,
    client: &mut Client,
    ids: &[EventId],
    from: usize,
) -> anyhow::Result<()> {
    let live = publish(hub, "t", "live").await?;
    let events = client.events_until("live").await?;
    let mut expected: Vec<(String, String)> = (from + 1..=5)
        .map(|n| (format!("e{n}"), ids[n - 1].to_string()))
        .collect();
    expected.push(("live".to_owned(), live.to_string()));
    assert_eq!(data_and_ids(&events), expected, "after e{from}");
    Ok(())
}

/// Events of several topics arrive in the hub's publish order, each once,
/// and none of a topic not asked for.
pub(crate) async fn order_across_topics<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::new();
    let server = start(hub.clone()).await?;
    let mut client = Client::open(&server.url("topic=a&topic=b"), &[]).await?;
    ensure!(client.status == 200, "status {}", client.status);
    // Subscribed once the headers are out: every publish from here arrives.
    let mut expected = Vec::new();
    for n in 0..30 {
        let topic = ["a", "b", "c"][n % 3];
        let data = format!("{topic}{n}");
        let id = publish(&hub, topic, &data).await?;
        if topic != "c" {
            expected.push((data, id.to_string()));
        }
    }
    let end = publish(&hub, "b", "end").await?;
    expected.push(("end".to_owned(), end.to_string()));
    let events = client.events_until("end").await?;
    assert_eq!(data_and_ids(&events), expected);
    Ok(())
}

/// `Last-Event-ID` resumes with exactly the events missed.
pub(crate) async fn resume_by_header<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::new();
    let ids = history(&hub).await?;
    let server = start(hub.clone()).await?;
    let mut client = Client::open(
        &server.url("topic=t"),
        &[("last-event-id", ids[1].as_str())],
    )
    .await?;
    expect_resumed(&hub, &mut client, &ids, 2).await?;
    assert_eq!(hub.stats().resumes, 1);
    Ok(())
}

/// The `lastEventId` query parameter resumes as the header does.
pub(crate) async fn resume_by_query_parameter<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::new();
    let ids = history(&hub).await?;
    let server = start(hub.clone()).await?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("lastEventId", ids[3].as_str())
        .append_pair("topic", "t")
        .finish();
    let mut client = Client::open(&server.url(&query), &[]).await?;
    expect_resumed(&hub, &mut client, &ids, 4).await?;
    assert_eq!(hub.stats().resumes, 1);
    Ok(())
}

/// With both, the header wins (a browser's reconnection sends the newest
/// id in it, while the URL keeps the first).
pub(crate) async fn header_wins_over_query_parameter<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::new();
    let ids = history(&hub).await?;
    let server = start(hub.clone()).await?;
    let url = server.url(&format!("topic=t&lastEventId={}", ids[0]));
    let mut client = Client::open(&url, &[("last-event-id", ids[2].as_str())]).await?;
    expect_resumed(&hub, &mut client, &ids, 3).await
}

/// An id the hub cannot resume from gets the documented `ssehub-reset`
/// event first, carrying the newest id, then live events.
pub(crate) async fn reset_for_ids_the_hub_cannot_resume<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::new();
    history(&hub).await?;
    let mut newest = publish(&hub, "other", "newest").await?;
    let server = start(hub.clone()).await?;
    let from_another_hub = Hub::new().publish("t", Event::data("x")).await?;
    for (id, reason) in [
        ("not-an-id", "unknown-id"),
        (from_another_hub.as_str(), "unknown-epoch"),
    ] {
        let mut client = Client::open(&server.url("topic=t"), &[("last-event-id", id)]).await?;
        let reset = client.next_event().await?;
        assert_eq!(reset.event, ssehub::control::RESET_EVENT, "for {id:?}");
        let data: serde_json::Value = serde_json::from_str(&reset.data)?;
        assert_eq!(
            data,
            serde_json::json!({"reason": reason, "lastEventId": id}),
            "for {id:?}"
        );
        // The newest event's id: the client continues from there.
        assert_eq!(reset.last_event_id, newest.as_str(), "for {id:?}");
        let live = publish(&hub, "t", &format!("after {reason}")).await?;
        newest = live.clone();
        let next = client.next_event().await?;
        assert_eq!(
            (next.data.as_str(), next.last_event_id.as_str()),
            (format!("after {reason}").as_str(), live.as_str())
        );
    }
    assert_eq!(hub.stats().resets, 2);
    Ok(())
}

/// `text/event-stream`, no caching, no proxy buffering, and not compressed
/// even for a client that accepts compression. The headers come at once,
/// and the body's opening comment line with them (no keep-alive here, no
/// event yet). The body is the plain event stream, the retry hint in the
/// first event's block (never a block of its own, which some clients
/// dispatch as an empty event).
pub(crate) async fn response_headers<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::builder().keepalive(None).build();
    let server = start(hub.clone()).await?;
    let mut client = Client::open(
        &server.url("topic=t"),
        &[("accept-encoding", "gzip, deflate, br, zstd")],
    )
    .await?;
    assert_eq!(client.status, 200);
    let header = |name: &str| {
        client
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap_or("(not text)").to_owned())
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(header("x-accel-buffering").as_deref(), Some("no"));
    let encoding = header("content-encoding");
    assert!(
        matches!(encoding.as_deref(), None | Some("identity")),
        "compressed: {encoding:?}"
    );
    assert!(header("content-length").is_none(), "a stream has no length");
    let open: Vec<String> = hub.connections().iter().map(|c| c.id.to_string()).collect();
    assert_eq!(
        header("ssehub-connection"),
        open.first().cloned(),
        "the stream's id"
    );
    // The opening comment line, before any event.
    client.until_comments(1).await?;
    assert_eq!(client.text, ":\n");
    // Subscribed once the headers are out.
    let id = publish(&hub, "t", "plain").await?;
    assert_eq!(client.next_item().await?, Item::Retry(2000));
    let event = client.next_event().await?;
    assert_eq!(
        (event.data.as_str(), event.last_event_id.as_str()),
        ("plain", id.as_str())
    );
    assert_eq!(
        client.text,
        format!(":\nretry: 2000\nid: {id}\ndata: plain\n\n")
    );
    let id = publish(&hub, "t", "second").await?;
    // Only the first block has it.
    assert_eq!(
        client.next_item().await?,
        Item::Event(MessageEvent {
            event: "message".into(),
            data: "second".into(),
            last_event_id: id.to_string(),
        })
    );
    Ok(())
}

/// `connected=1`: the stream starts with an `ssehub-connected` event whose
/// data is its id (as in `ssehub-connection`), without an event id.
pub(crate) async fn connected_event_when_asked<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::builder().keepalive(None).build();
    let server = start(hub.clone()).await?;
    let mut client = Client::open(&server.url("topic=t&connected=1"), &[]).await?;
    let id = client
        .headers
        .get("ssehub-connection")
        .context("no ssehub-connection header")?
        .to_str()?
        .to_owned();
    let first = client.next_event().await?;
    assert_eq!(first.event, "ssehub-connected");
    assert_eq!(first.data, serde_json::json!({ "id": id }).to_string());
    assert_eq!(first.last_event_id, "");
    publish(&hub, "t", "after").await?;
    assert_eq!(client.next_event().await?.data, "after");
    Ok(())
}

/// The hub's keep-alive comment reaches an idle stream.
pub(crate) async fn keepalive_comment_arrives<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::builder()
        .keepalive(Some(Duration::from_millis(200)))
        .build();
    let server = start(hub.clone()).await?;
    let mut client = Client::open(&server.url("topic=t"), &[]).await?;
    // The opening comment line, then a keep-alive.
    client.until_comments(2).await?;
    // Comment lines and no blank line (no block ends: no client sees an
    // event), and nothing else: the retry hint waits for the first event.
    ensure!(
        client.text.split_inclusive('\n').all(|line| line == ":\n"),
        "{:?}",
        client.text
    );
    // The stream goes on after it.
    let id = publish(&hub, "t", "after").await?;
    let event = client.next_event().await?;
    assert_eq!(event.last_event_id, id.as_str());
    Ok(())
}

/// A client that goes away is unregistered: the hub's count goes back to 0.
pub(crate) async fn disconnect_unregisters<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    // The keep-alive writes are how a server notices a peer that left
    // without a word.
    let hub = Hub::builder()
        .keepalive(Some(Duration::from_millis(200)))
        .build();
    let server = start(hub.clone()).await?;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = Client::open(&server.url("topic=t&topic=u"), &[]).await?;
        client.until_comments(1).await?; // the stream is flowing
        clients.push(client);
    }
    assert_eq!(hub.stats().connections, 3);
    drop(clients);
    tokio::time::timeout(WAIT, hub.wait_until_idle())
        .await
        .context("the subscriptions were not dropped")?;
    assert_eq!(hub.stats().connections, 0);
    assert_eq!(hub.stats().topics, 0);
    Ok(())
}

/// When the hub shuts down, the response ends (so the server can stop and
/// the client reconnects), after what was queued. A stream that had no
/// event yet gets the retry hint alone, with no blank line: the client has
/// its reconnection time, and no event.
pub(crate) async fn shutdown_ends_the_response<F, Fut>(start: F) -> anyhow::Result<()>
where
    F: FnOnce(Hub) -> Fut,
    Fut: Future<Output = anyhow::Result<Server>>,
{
    let hub = Hub::builder().keepalive(None).build();
    let server = start(hub.clone()).await?;
    let mut client = Client::open(&server.url("topic=t"), &[]).await?;
    let mut quiet = Client::open(&server.url("topic=quiet"), &[]).await?;
    let id = publish(&hub, "t", "last").await?;
    hub.shutdown();
    let event = client.next_event().await?;
    assert_eq!(event.last_event_id, id.as_str());
    while client.read().await? {}
    assert!(client.items.is_empty(), "{:?}", client.items);
    while quiet.read().await? {}
    assert_eq!(quiet.text, ":\nretry: 2000\n");
    assert_eq!(Vec::from(quiet.items), [Item::Retry(2000)]);
    Ok(())
}
