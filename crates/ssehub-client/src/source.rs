//! [`EventSource`]: one event stream over HTTP, reconnected and resumed.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CACHE_CONTROL};
use reqwest::{IntoUrl, StatusCode};
use serde::de::DeserializeOwned;
use ssehub_core::{Item, Limits, MessageEvent, Parser};
use tokio::sync::Notify;

use crate::Error;

/// The reconnection time before the server sets one with `retry`.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);
/// The default cap of the exponential backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The smallest base of the exponential backoff, so that `retry: 0` never
/// turns a dead server into a busy loop.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// How much of an error response's body [`Error::Status`] keeps.
const MAX_ERROR_BODY: usize = 1024;

/// What an [`EventSource`] yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A dispatched event; its `last_event_id` is the standard's last event id.
    Message(MessageEvent),
    /// A valid `retry` field (milliseconds): the new reconnection time.
    Retry(u64),
    /// The connection ended or could not be made; the client reconnects after
    /// `delay`, with `Last-Event-ID` set to the last dispatched event's id.
    Reconnecting {
        /// Reconnection attempts since the last successful connection, from 1.
        attempt: u32,
        /// How long the client waits before it reconnects.
        delay: Duration,
        /// Why it reconnects.
        reason: ReconnectReason,
    },
}

impl Event {
    /// The data of a [`Event::Message`] as JSON of type `T`; `None` for the
    /// other variants.
    ///
    /// ```
    /// use ssehub_client::Event;
    /// use ssehub_core::MessageEvent;
    ///
    /// let event = Event::Message(MessageEvent {
    ///     event: "message".into(),
    ///     data: r#"{"n": 1}"#.into(),
    ///     last_event_id: String::new(),
    /// });
    /// let value: serde_json::Value = event.json().unwrap()?;
    /// assert_eq!(value["n"], 1);
    /// # Ok::<(), ssehub_client::Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Option<Result<T, Error>> {
        match self {
            Event::Message(m) => Some(serde_json::from_str(&m.data).map_err(Error::from)),
            _ => None,
        }
    }

    /// The dispatched event, for a [`Event::Message`].
    pub fn message(&self) -> Option<&MessageEvent> {
        match self {
            Event::Message(m) => Some(m),
            _ => None,
        }
    }
}

/// Why an [`EventSource`] reconnects.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReconnectReason {
    /// The server ended the response (the event in progress is discarded).
    Ended,
    /// The connection failed or broke.
    Network(reqwest::Error),
    /// The server answered with a `5xx` status.
    Status(StatusCode),
    /// [`EventSource::restart_fresh`] asked for a new stream.
    Restart,
}

impl fmt::Display for ReconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconnectReason::Ended => f.write_str("the server ended the stream"),
            ReconnectReason::Network(e) => {
                write!(f, "network error: {e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
            ReconnectReason::Status(s) => write!(f, "the server answered {s}"),
            ReconnectReason::Restart => f.write_str("restart without Last-Event-ID"),
        }
    }
}

/// Configures an [`EventSource`]; made by [`EventSource::builder`].
#[derive(Debug)]
#[must_use]
pub struct EventSourceBuilder {
    url: Result<reqwest::Url, Error>,
    headers: Vec<(String, String)>,
    last_event_id: Option<String>,
    retry: Duration,
    max_backoff: Duration,
    limits: Limits,
    client: Option<reqwest::Client>,
}

impl EventSourceBuilder {
    /// Adds a request header (sent on every connection).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `Authorization: Bearer TOKEN`.
    pub fn bearer_token(self, token: impl fmt::Display) -> Self {
        self.header(AUTHORIZATION.as_str(), format!("Bearer {token}"))
    }

    /// Resumes from a stored id: the first request sends it as
    /// `Last-Event-ID`, as later ones send the last dispatched event's id.
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    /// The reconnection time until the server sets one with `retry`
    /// (default [`DEFAULT_RETRY`]). The client never reconnects sooner.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// The cap of the exponential backoff after network errors and `5xx`
    /// answers (default [`DEFAULT_MAX_BACKOFF`]). A server's `retry` above it
    /// still wins: the client never reconnects sooner than `retry`.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// The parser's memory limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Uses this HTTP client (for proxies, TLS roots or timeouts of your own).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Makes the event source. It connects when first polled.
    pub fn build(self) -> Result<EventSource, Error> {
        let url = self.url?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .ok()
                .zip(HeaderValue::from_str(value).ok());
            let (name, value) = header.ok_or_else(|| Error::InvalidHeader(name.clone()))?;
            headers.append(name, value);
        }
        let http = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .build()
                .map_err(Error::Request)?,
        };
        let request = http
            .get(url)
            .headers(headers)
            .build()
            .map_err(Error::Request)?;
        let mut parser = Parser::with_limits(self.limits);
        if let Some(id) = &self.last_event_id {
            parser.set_last_event_id(id.as_str());
        }
        let shared = Arc::new(Shared {
            last_event_id: Mutex::new(parser.last_event_id().to_owned()),
            restart: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let conn = Conn {
            http,
            request,
            parser,
            retry: self.retry,
            max_backoff: self.max_backoff,
            attempt: 0,
            body: None,
            pending: VecDeque::new(),
            error: None,
            reconnect: None,
            wait: None,
            done: false,
            shared: Arc::clone(&shared),
        };
        let inner = futures_util::stream::unfold(conn, |mut conn| async move {
            let next = conn.next().await?;
            Some((next, conn))
        });
        Ok(EventSource {
            inner: Box::pin(inner.fuse()),
            shared,
        })
    }
}

/// A Server-Sent Events stream from a URL, as a `Stream` of [`Event`]s.
///
/// It follows the HTML standard's `EventSource`: it reconnects when the
/// connection ends or fails, waiting at least the server's `retry` (with a
/// capped exponential backoff with jitter after network errors and `5xx`
/// answers), and sends the last dispatched event's id as `Last-Event-ID`. An
/// event cut off by a disconnect is never dispatched, and its id never sent.
///
/// It ends cleanly (`None`) when the server answers `204 No Content`, and with
/// an [`Error`] on any other `4xx`, a `200` that is not `text/event-stream`,
/// or a stream that breaks the parser's limits.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use ssehub_client::{Event, EventSource};
///
/// # async fn run() -> Result<(), ssehub_client::Error> {
/// let mut events = EventSource::builder("http://127.0.0.1:8080/events?topic=chat")
///     .bearer_token("eyJ...")
///     .build()?;
/// while let Some(event) = events.next().await {
///     match event? {
///         Event::Message(m) => println!("{}: {}", m.event, m.data),
///         Event::Reconnecting { delay, reason, .. } => eprintln!("reconnecting in {delay:?}: {reason}"),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct EventSource {
    inner: Pin<Box<dyn Stream<Item = Result<Event, Error>> + Send>>,
    shared: Arc<Shared>,
}

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSource")
            .field("last_event_id", &self.last_event_id())
            .finish_non_exhaustive()
    }
}

/// What the stream's state shares with the handle.
#[derive(Debug)]
struct Shared {
    last_event_id: Mutex<String>,
    restart: AtomicBool,
    wake: Notify,
}

impl EventSource {
    /// An event source with the default settings.
    pub fn new(url: impl IntoUrl) -> Result<EventSource, Error> {
        EventSource::builder(url).build()
    }

    /// Configures an event source.
    pub fn builder(url: impl IntoUrl) -> EventSourceBuilder {
        EventSourceBuilder {
            url: url.into_url().map_err(Error::Request),
            headers: Vec::new(),
            last_event_id: None,
            retry: DEFAULT_RETRY,
            max_backoff: DEFAULT_MAX_BACKOFF,
            limits: Limits::default(),
            client: None,
        }
    }

    /// The last event id: the id of the last dispatched event (or the
    /// builder's), which the next reconnection sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> String {
        lock(&self.shared.last_event_id).clone()
    }

    /// Drops the current connection and reconnects at once without
    /// `Last-Event-ID` (the last event id becomes empty): for a client that
    /// knows it missed something and wants a fresh start (a signal's resync).
    pub fn restart_fresh(&self) {
        self.shared.restart.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// The next dispatched event's data as JSON of type `T`, skipping
    /// [`Event::Retry`] and [`Event::Reconnecting`].
    pub async fn next_json<T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        loop {
            match self.next().await? {
                Ok(event) => {
                    if let Some(value) = event.json() {
                        return Some(value);
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Stream for EventSource {
    type Item = Result<Event, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// How a connection attempt went.
enum Connect {
    Open(Body),
    Retry(ReconnectReason),
    End,
    Fail(Error),
}

/// The state of one event source across its connections.
struct Conn {
    http: reqwest::Client,
    request: reqwest::Request,
    parser: Parser,
    /// The reconnection time: the builder's, then the server's `retry`.
    retry: Duration,
    max_backoff: Duration,
    /// Reconnection attempts since the last successful connection.
    attempt: u32,
    body: Option<Body>,
    pending: VecDeque<Event>,
    /// An error to report once `pending` is empty; the stream then ends.
    error: Option<Error>,
    /// The connection ended: report it, then wait and reconnect.
    reconnect: Option<ReconnectReason>,
    /// Wait this long before connecting.
    wait: Option<Duration>,
    done: bool,
    shared: Arc<Shared>,
}

impl Conn {
    async fn next(&mut self) -> Option<Result<Event, Error>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if let Some(error) = self.error.take() {
                self.done = true;
                return Some(Err(error));
            }
            if self.done {
                return None;
            }
            if self.shared.restart.swap(false, Ordering::SeqCst) {
                self.body = None;
                self.parser.reconnect();
                self.parser.set_last_event_id("");
                *lock(&self.shared.last_event_id) = String::new();
                self.reconnect = None;
                self.wait = None;
                return Some(Ok(Event::Reconnecting {
                    attempt: self.attempt + 1,
                    delay: Duration::ZERO,
                    reason: ReconnectReason::Restart,
                }));
            }
            if let Some(body) = &mut self.body {
                let chunk = tokio::select! {
                    biased;
                    () = self.shared.wake.notified() => continue,
                    chunk = body.next() => chunk,
                };
                match chunk {
                    Some(Ok(bytes)) => self.feed(&bytes),
                    Some(Err(e)) => self.ended(ReconnectReason::Network(e)),
                    None => self.ended(ReconnectReason::Ended),
                }
                continue;
            }
            if let Some(reason) = self.reconnect.take() {
                self.attempt = self.attempt.saturating_add(1);
                let delay = self.delay(&reason);
                self.wait = Some(delay);
                return Some(Ok(Event::Reconnecting {
                    attempt: self.attempt,
                    delay,
                    reason,
                }));
            }
            if let Some(delay) = self.wait.take() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.shared.wake.notified() => continue,
                }
            }
            match self.connect().await {
                Connect::Open(body) => {
                    self.attempt = 0;
                    self.body = Some(body);
                }
                Connect::Retry(reason) => self.reconnect = Some(reason),
                Connect::End => self.done = true,
                Connect::Fail(e) => self.error = Some(e),
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let fed = self.parser.feed(bytes);
        for item in self.parser.drain() {
            self.pending.push_back(match item {
                Item::Event(m) => Event::Message(m),
                Item::Retry(ms) => {
                    self.retry = Duration::from_millis(ms);
                    Event::Retry(ms)
                }
            });
        }
        let id = self.parser.last_event_id();
        let mut shared = lock(&self.shared.last_event_id);
        if *shared != id {
            id.clone_into(&mut shared);
        }
        drop(shared);
        if let Err(e) = fed {
            self.body = None;
            self.error = Some(e.into());
        }
    }

    fn ended(&mut self, reason: ReconnectReason) {
        self.body = None;
        // Discards the event in progress; the last event id stays.
        self.parser.finish();
        self.reconnect = Some(reason);
    }

    /// The wait before reconnection attempt `self.attempt`: `retry` after a
    /// stream that ended normally, as a browser does; otherwise the
    /// exponential backoff, capped and jittered, but never less than `retry`.
    fn delay(&self, reason: &ReconnectReason) -> Duration {
        if self.attempt <= 1 && matches!(reason, ReconnectReason::Ended) {
            return self.retry;
        }
        let base = self.retry.max(MIN_BACKOFF);
        let exp = self.attempt.saturating_sub(1).min(20);
        let backoff = base.saturating_mul(1 << exp).min(self.max_backoff);
        // "Equal jitter": somewhere in the upper half.
        let half = backoff / 2;
        let jitter = half.mul_f64(fastrand::f64());
        (half + jitter).max(self.retry)
    }

    async fn connect(&mut self) -> Connect {
        let Some(mut request) = self.request.try_clone() else {
            unreachable!("a GET request without a body can be cloned")
        };
        let id = self.parser.last_event_id();
        if !id.is_empty() {
            if let Ok(value) = HeaderValue::from_bytes(id.as_bytes()) {
                request.headers_mut().insert("last-event-id", value);
            }
        }
        let response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(e) => return Connect::Retry(ReconnectReason::Network(e)),
        };
        let status = response.status();
        if status == StatusCode::OK {
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let essence = content_type.split(';').next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("text/event-stream") {
                return Connect::Fail(Error::ContentType(content_type));
            }
            Connect::Open(Box::pin(response.bytes_stream()))
        } else if status == StatusCode::NO_CONTENT {
            Connect::End
        } else if status.is_server_error() {
            Connect::Retry(ReconnectReason::Status(status))
        } else {
            Connect::Fail(Error::Status {
                status,
                body: error_body(response).await,
            })
        }
    }
}

/// The start of an error response's body, as text on one line (what came
/// within a few seconds: a server that never ends its body cannot hang us).
async fn error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
    })
    .await;
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
