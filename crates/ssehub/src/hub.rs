//! The hub: publish to topics, subscribe to topics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use ssehub_core::Event;

use crate::backend::{
    Appended, Backend, BackendError, Health, Idempotency, Memory, Record, Replay,
};
use crate::control;
use crate::error::{PublishError, SubscribeError};
use crate::feed::Feed;
use crate::id::EventId;
use crate::presence::{self, ConnectionId, Present, CLOSE_PREFIX};
use crate::registry::Registry;
use crate::signal::{self, Signal, SignalError};
use crate::subscriber::{End, LagPolicy, OnLag, Subscriber, Who};
use crate::subscription::{Resume, Subscription};
use crate::topic::{IntoTopics, Topic, TopicError, TopicPattern};

/// How soon a client that could not resume (the backend was unavailable)
/// is told to come back.
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(1);

/// The `retry:` line of the reconnection hint, without the blank line that
/// would end a block: a [`Subscription`] puts it in front of its first event
/// (see "The retry hint" there).
fn retry_line(retry: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n", retry.as_millis()))
}

/// The keep-alive, and the first bytes of every stream: one comment line
/// and no blank line. A blank line would end a block, and some clients
/// dispatch an empty event for a block that ends after any field was set,
/// or (Python's `httpx-sse`) whenever an event id was ever seen; a comment
/// line alone ends nothing, so no client sees an event nobody published.
/// Browsers ignore it as any comment.
pub(crate) const COMMENT_LINE: &[u8] = b":\n";

/// A Server-Sent Events hub: topics, fan-out, resume, backpressure.
///
/// Cheap to clone (a reference count); every clone is the same hub.
///
/// ```
/// use futures_util::StreamExt;
/// use ssehub::{Event, Hub};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = Hub::new();
/// let mut sub = hub.subscribe("news", None).await?; // subscribed from here on
/// let id = hub.publish("news", Event::data("hello")).await?;
///
/// // A stream opens with a comment line; the hub's reconnection hint comes
/// // with the first event.
/// assert_eq!(sub.next().await.unwrap(), ":\n");
/// let frame = sub.next().await.unwrap();
/// assert_eq!(frame, format!("retry: 2000\nid: {id}\ndata: hello\n\n"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
pub(crate) struct HubInner {
    pub(crate) registry: Arc<Registry>,
    pub(crate) backend: Arc<dyn Backend>,
    feed: Feed,
    pub(crate) config: HubBuilder,
    /// This node's id, and which topics announce joins and leaves.
    pub(crate) presence: presence::Config,
    /// `retry: N\n`, for [`Subscription`] to send with its first event.
    pub(crate) retry_line: Option<Bytes>,
    keepalive_started: AtomicBool,
    heartbeat_started: AtomicBool,
    /// A join or a heartbeat failed (the backend was out): at the next
    /// heartbeat that reaches it, every stream joins again.
    pub(crate) rejoin_pending: AtomicBool,
    /// Leaves that could not be sent, for the heartbeats to send again.
    pub(crate) lost_leaves: Mutex<Vec<presence::Presence>>,
    pub(crate) closed: AtomicBool,
    published: AtomicU64,
    repeated: AtomicU64,
    resumes: AtomicU64,
    resets: AtomicU64,
    close_commands: AtomicU64,
    /// One lock per signal, so that this node's changes of a signal go one
    /// at a time (other nodes' changes are caught by the backend).
    signal_locks: Mutex<HashMap<Topic, Arc<tokio::sync::Mutex<()>>>>,
}

/// Configures a [`Hub`]; see each setter for its default.
#[derive(Clone, Debug)]
#[must_use = "a HubBuilder does nothing until `build` is called"]
pub struct HubBuilder {
    history_events: usize,
    history_bytes: usize,
    keepalive: Option<Duration>,
    retry: Option<Duration>,
    buffer_bytes: usize,
    lag_policy: LagPolicy,
    max_topics: usize,
    pub(crate) write_timeout: Duration,
    idempotency_window: Duration,
    presence_events: Vec<TopicPattern>,
    presence_heartbeat: Duration,
    backend: Option<Arc<dyn Backend>>,
}

impl Default for HubBuilder {
    fn default() -> Self {
        HubBuilder {
            history_events: 10_000,
            history_bytes: 16 << 20,
            keepalive: Some(Duration::from_secs(15)),
            retry: Some(Duration::from_secs(2)),
            buffer_bytes: 256 << 10,
            lag_policy: LagPolicy::Disconnect,
            max_topics: 64,
            write_timeout: Duration::from_secs(3),
            idempotency_window: Duration::from_secs(300),
            presence_events: Vec::new(),
            presence_heartbeat: Duration::from_secs(2),
            backend: None,
        }
    }
}

impl HubBuilder {
    /// Most events kept in history for resuming clients. Default: 10,000.
    pub fn history_events(mut self, n: usize) -> Self {
        self.history_events = n;
        self
    }

    /// Most bytes (encoded frames plus topic names) kept in history.
    /// Default: 16 MiB.
    pub fn history_bytes(mut self, n: usize) -> Self {
        self.history_bytes = n;
        self
    }

    /// Interval of keep-alive comments on otherwise idle streams, or `None`
    /// for none. Default: 15 s. Needs a tokio runtime. A keep-alive is one
    /// comment line, `:\n`, with no blank line after it (which some clients
    /// would dispatch as an empty event).
    pub fn keepalive(mut self, every: Option<Duration>) -> Self {
        self.keepalive = every.filter(|d| !d.is_zero());
        self
    }

    /// Reconnection time sent to each client (`retry:`), or `None` to send
    /// none. Default: 2 s. It goes out with the stream's first event, in
    /// that event's block (see [`Subscription`]'s "The retry hint").
    pub fn retry(mut self, retry: Option<Duration>) -> Self {
        self.retry = retry;
        self
    }

    /// Most bytes queued for one subscriber before its lag policy applies.
    /// Default: 256 KiB. One event is always accepted into an empty queue.
    /// A bound above 4 GiB (`u32::MAX` bytes) is taken as 4 GiB: each idle
    /// subscriber keeps its count in 4 bytes.
    pub fn buffer_bytes(mut self, n: usize) -> Self {
        self.buffer_bytes = n;
        self
    }

    /// What happens to subscribers that fall behind, unless a subscription
    /// says otherwise. Default: [`LagPolicy::Disconnect`].
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = policy;
        self
    }

    /// Most topics (or patterns) in one subscription; more is
    /// [`SubscribeError::TooManyTopics`] (400 `too_many_topics` over HTTP).
    /// Default: 64.
    pub fn max_topics(mut self, n: usize) -> Self {
        self.max_topics = n;
        self
    }

    /// How long a publish (or a signal change) waits for the backend to
    /// store it. Past it the publish fails with
    /// [`BackendError::OutcomeUnknown`](crate::backend::BackendError::OutcomeUnknown)
    /// (504 `outcome_unknown` over HTTP): the backend may still apply it, so
    /// a client retries with the same idempotency key. Default: 3 s (the
    /// in-memory backend never waits).
    pub fn write_timeout(mut self, limit: Duration) -> Self {
        self.write_timeout = limit;
        self
    }

    /// How long an idempotency key is remembered
    /// ([`Hub::publish_with_key`]): a retry within it is answered with the
    /// first publish's id and delivered once. Default: 5 minutes.
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.idempotency_window = window;
        self
    }

    /// Topics (patterns) whose streams' openings and ends are published as
    /// `join` and `leave` events to `$presence/{topic}`, data `{"id",
    /// "user", "node", "topic"}`, for each topic a stream subscribed to by
    /// a name these match. Default: none. Every such event is an event in
    /// history: a hub that announces busy topics keeps a larger history (see
    /// [`presence`](crate::presence)).
    pub fn presence_events<S: AsRef<str>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.presence_events = patterns
            .into_iter()
            .map(|p| TopicPattern::new(p.as_ref()))
            .collect();
        self
    }

    /// How often this hub tells a shared backend it is alive. A hub that
    /// misses three heartbeats is taken for dead, and another publishes its
    /// streams' leaves within one more period: within 4 periods of its
    /// death. Default: 2 s (leaves within 8 s).
    pub fn presence_heartbeat(mut self, every: Duration) -> Self {
        self.presence_heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// Stores and orders events in `backend` instead of the embedded
    /// in-memory [`Memory`] (then the history bounds above are the backend's
    /// business). A backend serves one hub.
    pub fn backend(mut self, backend: impl Backend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// Builds the hub, on the embedded in-memory backend unless
    /// [`HubBuilder::backend`] gave another.
    pub fn build(mut self) -> Hub {
        let backend: Arc<dyn Backend> = match self.backend.take() {
            Some(backend) => backend,
            None => Arc::new(Memory::new(self.history_events, self.history_bytes)),
        };
        let node = presence::random_node();
        let registry = Arc::new(Registry::new(&node));
        let feed = Feed::new(
            registry.clone(),
            EventId::new("").expect("an empty id is valid"),
        );
        backend.start(feed.clone());
        let retry_line = self.retry.map(retry_line);
        let presence = presence::Config {
            node,
            events: std::mem::take(&mut self.presence_events),
            heartbeat: self.presence_heartbeat,
        };
        let hub = Hub {
            inner: Arc::new(HubInner {
                registry,
                backend,
                feed,
                config: self,
                presence,
                retry_line,
                keepalive_started: AtomicBool::new(false),
                heartbeat_started: AtomicBool::new(false),
                rejoin_pending: AtomicBool::new(false),
                lost_leaves: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
                published: AtomicU64::new(0),
                repeated: AtomicU64::new(0),
                resumes: AtomicU64::new(0),
                resets: AtomicU64::new(0),
                close_commands: AtomicU64::new(0),
                signal_locks: Mutex::new(HashMap::new()),
            }),
        };
        hub.start_heartbeats();
        hub
    }
}

/// A subscription request: topics, and optionally where to resume from,
/// a lag policy, and metadata to find the connection by.
#[must_use = "SubscribeOptions do nothing until passed to `Hub::subscribe_with`"]
pub struct SubscribeOptions {
    topics: Result<Vec<Topic>, TopicError>,
    last_event_id: Option<String>,
    lag_policy: Option<LagPolicy>,
    meta: Option<serde_json::Value>,
    user: Option<String>,
    connected: bool,
    on_lag: Option<OnLag>,
}

impl std::fmt::Debug for SubscribeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeOptions")
            .field("topics", &self.topics)
            .field("last_event_id", &self.last_event_id)
            .field("lag_policy", &self.lag_policy)
            .field("meta", &self.meta)
            .field("user", &self.user)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl SubscribeOptions {
    /// Subscribes to `topics`.
    pub fn new(topics: impl IntoTopics) -> Self {
        SubscribeOptions {
            topics: topics.into_topics(),
            last_event_id: None,
            lag_policy: None,
            meta: None,
            user: None,
            connected: false,
            on_lag: None,
        }
    }

    /// Who the subscriber is (`ssehub serve`: the token's `sub` claim):
    /// presence lists it and join and leave events carry it.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Starts the stream with an `ssehub-connected` event whose data is
    /// `{"id": CONNECTION_ID}` (what `connected=1` asks for over HTTP), for
    /// clients that cannot read response headers (`EventSource`).
    pub fn connected_event(mut self, yes: bool) -> Self {
        self.connected = yes;
        self
    }

    /// Resumes after the event with this id (what the client sent as
    /// `Last-Event-ID`).
    pub fn last_event_id(mut self, id: Option<impl Into<String>>) -> Self {
        self.last_event_id = id.map(Into::into);
        self
    }

    /// Overrides the hub's lag policy for this subscription.
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = Some(policy);
        self
    }

    /// Runs `f` once if the subscriber is disconnected for lagging, to close
    /// its connection even when the client never reads again (a stream that
    /// is never polled cannot end itself). `ssehub serve` uses this with
    /// [`axum::Peer`](crate::axum::Peer) to abort the TCP connection.
    pub fn on_lag(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_lag = Some(Box::new(f));
        self
    }

    /// Attaches metadata (a user id, an address), shown by
    /// [`Hub::connections`].
    pub fn meta(mut self, meta: serde_json::Value) -> Self {
        self.meta = Some(meta);
        self
    }
}

/// What a `GET /events` request asks for, by the
/// [`/events` rules](ssehub_core::protocol::events): its topics, the id to
/// resume after, and whether it wants an `ssehub-connected` event first.
/// Every route that serves `/events` subscribes with this.
impl From<ssehub_core::protocol::events::EventsRequest> for SubscribeOptions {
    fn from(request: ssehub_core::protocol::events::EventsRequest) -> SubscribeOptions {
        SubscribeOptions::new(request.topics)
            .last_event_id(request.last_event_id)
            .connected_event(request.connected)
    }
}

/// Counts and totals of a hub.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Open subscriptions.
    pub connections: usize,
    /// Topics with at least one subscription.
    pub topics: usize,
    /// Events published (a publish repeated with its idempotency key
    /// counts once).
    pub events_published: u64,
    /// Publishes answered with an earlier publish's id, their idempotency
    /// key seen within its window: retries, not appended again.
    pub publishes_repeated: u64,
    /// Events queued for subscribers (one per subscriber per event).
    pub events_delivered: u64,
    /// Subscribers disconnected for falling behind.
    pub lag_disconnects: u64,
    /// Times a subscriber skipped events for falling behind.
    pub lag_skips: u64,
    /// Subscriptions that resumed from history.
    pub resumes: u64,
    /// Subscriptions that asked to resume and got a reset.
    pub resets: u64,
    /// Events in history.
    pub history_events: usize,
    /// Bytes in history.
    pub history_bytes: usize,
    /// Bytes queued for subscribers and not yet taken by their streams.
    pub queued_bytes: usize,
    /// This node's presence entries: one per open stream and topic it
    /// subscribed to.
    pub presence_entries: usize,
    /// This hub's streams ended by [`Hub::close`] (whichever hub was asked).
    pub closed: u64,
    /// Calls of [`Hub::close`] on this hub that found the stream.
    pub close_commands: u64,
}

/// One open subscription, as listed by [`Hub::connections`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The subscription's id ([`Subscription::id`]).
    pub id: ConnectionId,
    /// Its user ([`SubscribeOptions::user`]).
    pub user: Option<String>,
    /// Its topics.
    pub topics: Vec<String>,
    /// What [`SubscribeOptions::meta`] attached.
    pub meta: Option<serde_json::Value>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// A hub with the default configuration ([`HubBuilder`]).
    pub fn new() -> Hub {
        HubBuilder::default().build()
    }

    /// Configures a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// Publishes `event` to `topics`; the hub assigns and returns its id
    /// (any id set on the event is replaced). The event is encoded once,
    /// whatever the number of subscribers, and this never waits for them
    /// (only, with a networked backend, for the backend to store it).
    pub async fn publish(
        &self,
        topics: impl IntoTopics,
        event: Event,
    ) -> Result<EventId, PublishError> {
        self.append(topics, event, None).await
    }

    /// Publishes like [`Hub::publish`], at most once per idempotency `key`
    /// within [`HubBuilder::idempotency_window`]: a publish with a key seen
    /// in the window (on any hub sharing the backend) is answered with the
    /// first publish's id and delivers nothing. A publisher whose publish
    /// timed out ([`BackendError::OutcomeUnknown`], 504 over HTTP) or failed
    /// retries with the same key and gets each event delivered exactly once.
    /// The first publish with a key wins: a retry's event is not compared
    /// with it.
    pub async fn publish_with_key(
        &self,
        topics: impl IntoTopics,
        event: Event,
        key: impl Into<String>,
    ) -> Result<EventId, PublishError> {
        let idempotency = Idempotency {
            key: key.into(),
            window: self.inner.config.idempotency_window,
        };
        self.append(topics, event, Some(idempotency)).await
    }

    async fn append(
        &self,
        topics: impl IntoTopics,
        event: Event,
        idempotency: Option<Idempotency>,
    ) -> Result<EventId, PublishError> {
        let topics = topics.into_topics()?;
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(PublishError::ShutDown);
        }
        let record = Record {
            topics,
            body: event.without_id().encode(),
            idempotency,
        };
        let appended = self.bounded(self.inner.backend.append(record)).await?;
        let counter = match appended {
            Appended::New(_) => &self.inner.published,
            Appended::Repeated(_) => &self.inner.repeated,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(appended.into_id())
    }

    /// Waits for a backend write at most [`HubBuilder::write_timeout`].
    pub(crate) async fn bounded<T>(
        &self,
        write: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let limit = self.inner.config.write_timeout;
        match tokio::time::timeout(limit, write).await {
            Ok(done) => done,
            Err(_) => Err(BackendError::outcome_unknown(format!(
                "no answer within {} ms",
                limit.as_millis()
            ))),
        }
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.inner.backend
    }

    pub(crate) fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    pub(crate) fn signal_lock(&self, name: &Topic) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .signal_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        locks.entry(name.clone()).or_default().clone()
    }

    /// The signal named `name`, created with `initial` if there is none (an
    /// existing signal keeps its value). Creating publishes its first
    /// snapshot; see [`Signal`] and the [`signal`](crate::signal) wire format.
    pub async fn signal<T>(&self, name: &str, initial: T) -> Result<Signal<T>, SignalError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let topic = signal::check_name(name)?;
        if self.inner.feed.signal(name).is_none() {
            // Unless a signal of that name exists elsewhere (the backend
            // tells, atomically).
            self.check_open()?;
            signal::create(self, &topic, serde_json::to_value(initial)?).await?;
        }
        Ok(Signal::new(self.clone(), topic))
    }

    fn check_open(&self) -> Result<(), PublishError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(PublishError::ShutDown);
        }
        Ok(())
    }

    /// A signal's version and value, if it exists (whatever its Rust type):
    /// this node's copy, else the backend's. Fails only when this node holds
    /// no copy and the backend cannot be asked (then the signal may well
    /// exist: this is not a "no").
    pub async fn signal_value(
        &self,
        name: &str,
    ) -> Result<Option<(u64, serde_json::Value)>, SignalError> {
        let Ok(topic) = Topic::new(name) else {
            return Ok(None);
        };
        match signal::current(self, &topic).await {
            Ok((v, value)) => Ok(Some((v, serde_json::Value::clone(&value)))),
            Err(SignalError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A signal's version and value as this node holds them, read in process
    /// without asking the backend, so without waiting: for code that cannot
    /// wait, such as a server-side render (`ssehub-leptos`'s `ssr`).
    ///
    /// `None` when this node has not seen the signal: on the in-memory
    /// backend, when it does not exist; with a shared backend, also when
    /// only other nodes have created or changed it so far
    /// ([`Hub::signal_value`] asks the backend then).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssehub::SignalError> {
    /// let hub = ssehub::Hub::new();
    /// let count = hub.signal("count", 1u32).await?;
    /// count.set(2).await?;
    /// assert_eq!(hub.signal_value_now("count"), Some((1, serde_json::json!(2))));
    /// assert_eq!(hub.signal_value_now("nope"), None);
    /// # Ok(()) }
    /// ```
    pub fn signal_value_now(&self, name: &str) -> Option<(u64, serde_json::Value)> {
        let (v, value) = self.inner.feed.signal(name)?;
        Some((v, serde_json::Value::clone(&value)))
    }

    /// Sets a signal to a JSON value, creating it (at version 0) if needed;
    /// returns its version. This is `PUT /signals/{name}`.
    pub async fn put_signal(
        &self,
        name: &str,
        value: serde_json::Value,
    ) -> Result<u64, SignalError> {
        let topic = signal::check_name(name)?;
        self.check_open()?;
        if self.inner.feed.signal(name).is_none()
            && signal::create(self, &topic, value.clone()).await?
        {
            return Ok(0);
        }
        signal::change(self, &topic, |_| Ok(value.clone())).await
    }

    /// Applies RFC 6902 operations to a signal; returns its new version.
    /// This is `PATCH /signals/{name}`: a failed `test` is an error for which
    /// [`SignalError::is_test_failed`] holds, and nothing changes.
    pub async fn patch_signal(
        &self,
        name: &str,
        ops: &[json_patch::PatchOperation],
    ) -> Result<u64, SignalError> {
        let topic = Topic::new(name).map_err(|_| SignalError::NotFound(name.to_owned()))?;
        self.check_open()?;
        signal::change(self, &topic, |value| {
            let mut new = value.clone();
            json_patch::patch(&mut new, ops)?;
            Ok(new)
        })
        .await
    }

    /// The names of the signals, sorted.
    pub fn signal_names(&self) -> Vec<String> {
        let mut names = self.inner.feed.signal_names();
        names.sort();
        names
    }

    /// The backend's state (for a health check).
    pub fn health(&self) -> Health {
        self.inner.backend.health()
    }

    /// Subscribes to `topics`, resuming after `last_event_id` if given.
    /// Every event published after this returns is delivered.
    pub async fn subscribe(
        &self,
        topics: impl IntoTopics,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_with(SubscribeOptions::new(topics).last_event_id(last_event_id))
            .await
    }

    /// Subscribes with all options.
    pub async fn subscribe_with(
        &self,
        options: SubscribeOptions,
    ) -> Result<Subscription, SubscribeError> {
        let inner = &self.inner;
        let mut topics: Box<[Topic]> = options.topics?.into();
        if topics.len() > inner.config.max_topics {
            return Err(SubscribeError::TooManyTopics {
                count: topics.len(),
                max: inner.config.max_topics,
            });
        }
        if inner.closed.load(Ordering::Acquire) {
            return Err(SubscribeError::ShutDown);
        }
        self.start_keepalive();
        self.start_heartbeats();
        inner.registry.intern(&mut topics);
        let policy = options.lag_policy.unwrap_or(inner.config.lag_policy);
        let id = inner.registry.next_id();
        let last_event_id = options.last_event_id.as_deref();
        let who = Who {
            id,
            user: options.user.map(String::into_boxed_str),
            meta: options.meta,
        };
        let make = |last| {
            Arc::new(Subscriber::new(
                who,
                topics,
                policy,
                inner.config.buffer_bytes,
                last,
                options.on_lag,
            ))
        };
        let attached = inner.feed.attach(make);

        let mut preface = VecDeque::new();
        if options.connected {
            let id = inner.presence.id(id);
            preface.push_back(control::connected_frame(id.as_str()));
        }
        let resume = match last_event_id {
            None => Resume::Fresh,
            Some(last) => {
                let sub = attached.sub.clone();
                let wants = move |topics: &[Topic]| topics.iter().any(|t| sub.wants(t));
                match inner.backend.replay(last, attached.position, &wants).await {
                    Ok(Replay::Resumed(frames)) => {
                        // A client that saw events this node has not
                        // delivered yet (it was on a node ahead of this one)
                        // must not get them twice.
                        if let Some(seen) = inner.backend.position_of(last) {
                            attached.sub.raise_floor(seen, |frame| {
                                control::frame_id(frame)
                                    .and_then(|id| inner.backend.position_of(id))
                            });
                        }
                        inner.resumes.fetch_add(1, Ordering::Relaxed);
                        let replayed = frames.len();
                        preface.extend(frames);
                        Resume::Resumed { replayed }
                    }
                    Ok(Replay::Reset(reason)) => {
                        inner.resets.fetch_add(1, Ordering::Relaxed);
                        preface.push_back(control::reset_frame(
                            reason,
                            last,
                            attached.head_id.as_str(),
                        ));
                        Resume::Reset(reason)
                    }
                    Err(e) => {
                        // The client is told to come back: a short stream
                        // with a retry hint, which `EventSource` follows
                        // (an error status would make it give up). A `retry:`
                        // line and a comment, with no blank line: no block
                        // ends, so no client dispatches an event.
                        inner.registry.unregister(&attached.sub);
                        attached.sub.end(End::Shutdown);
                        let comment = ssehub_core::comment(&format!("cannot resume now: {e}"));
                        let comment = comment.strip_suffix(b"\n").unwrap_or(&comment);
                        let mut notice = retry_line(RETRY_UNAVAILABLE).to_vec();
                        notice.extend_from_slice(comment);
                        let preface = VecDeque::from([Bytes::from(notice)]);
                        return Ok(Subscription::new(
                            inner.clone(),
                            attached.sub,
                            preface,
                            Resume::Unavailable,
                        ));
                    }
                }
            }
        };
        if !matches!(resume, Resume::Resumed { .. }) {
            preface.extend(attached.snapshots);
        }
        self.join(&attached.sub).await;
        Ok(Subscription::new(
            inner.clone(),
            attached.sub,
            preface,
            resume,
        ))
    }

    /// Tells the backend a stream opened (when it keeps presence or the
    /// stream announces), waiting at most the write timeout. A failure
    /// leaves the stream open, unlisted: presence is no reason to refuse it.
    async fn join(&self, sub: &Subscriber) {
        let inner = &self.inner;
        if !inner.backend.keeps_presence() && !inner.presence.announces(sub) {
            return;
        }
        let presence = inner.presence.of(sub);
        if let Err(e) = self.bounded(inner.backend.join(&presence)).await {
            tracing::warn!(id = %presence.present.id, error = %e, "could not record a stream's join; it joins again at the next heartbeat");
            inner.rejoin_pending.store(true, Ordering::Release);
        }
    }

    /// This hub's node id: the first part of its connection ids.
    pub fn node(&self) -> &str {
        &self.inner.presence.node
    }

    /// The streams subscribed to `topic` by that name, on every hub sharing
    /// the backend (this hub's alone on the in-memory backend), ordered by
    /// id. A stream subscribed to a pattern is listed under the pattern.
    pub async fn presence(&self, topic: &str) -> Result<Vec<Present>, BackendError> {
        let inner = &self.inner;
        let mut list = if inner.backend.keeps_presence() {
            let Ok(topic) = Topic::new(topic) else {
                return Ok(Vec::new());
            };
            inner.backend.presence(&topic).await?
        } else {
            let mut list = Vec::new();
            inner
                .registry
                .for_each_of(topic, |sub| list.push(inner.presence.of_present(sub)));
            list
        };
        list.sort_by(|a, b| (a.since, &a.id).cmp(&(b.since, &b.id)));
        Ok(list)
    }

    /// Ends the stream with this connection id, on whichever hub sharing the
    /// backend holds it, after what is queued for it. Returns whether there
    /// was such a stream. On another hub the stream ends once that hub reads
    /// the command (as fast as an event reaches it).
    pub async fn close(&self, id: &str) -> Result<bool, PublishError> {
        let inner = &self.inner;
        let Some((node, n)) = ConnectionId::parse(id) else {
            return Ok(false);
        };
        if node == inner.presence.node {
            let Some(sub) = inner.registry.get(n) else {
                return Ok(false);
            };
            inner.registry.close(&sub);
            inner.close_commands.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        if !inner.backend.keeps_presence() || inner.backend.connection(id).await?.is_none() {
            return Ok(false);
        }
        self.check_open()?;
        let topic = Topic::new(&format!("{CLOSE_PREFIX}{id}"))?;
        let record = Record {
            topics: vec![topic],
            body: Bytes::from_static(b"event: close\ndata: \n\n"),
            idempotency: None,
        };
        self.bounded(inner.backend.append(record)).await?;
        inner.close_commands.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Counts and totals.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let counters = &inner.registry.counters;
        let (history_events, history_bytes) = inner.backend.history();
        let mut queued_bytes = 0;
        let mut presence_entries = 0;
        inner.registry.for_each(|sub| {
            queued_bytes += sub.queued_bytes();
            presence_entries += sub.topics().len();
        });
        Stats {
            connections: inner.registry.connections(),
            topics: inner.registry.topics(),
            events_published: inner.published.load(Ordering::Relaxed),
            publishes_repeated: inner.repeated.load(Ordering::Relaxed),
            events_delivered: counters.delivered.load(Ordering::Relaxed),
            lag_disconnects: counters.lag_disconnects.load(Ordering::Relaxed),
            lag_skips: counters.lag_skips.load(Ordering::Relaxed),
            resumes: inner.resumes.load(Ordering::Relaxed),
            resets: inner.resets.load(Ordering::Relaxed),
            history_events,
            history_bytes,
            queued_bytes,
            presence_entries,
            closed: counters.closed.load(Ordering::Relaxed),
            close_commands: inner.close_commands.load(Ordering::Relaxed),
        }
    }

    /// Waits until no subscription is open (at once if none is).
    pub async fn wait_until_idle(&self) {
        loop {
            let notified = self.inner.registry.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.registry.connections() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The open subscriptions.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut subs = Vec::new();
        self.inner.registry.for_each(|sub| subs.push(sub.clone()));
        subs.sort_by_key(|sub| sub.id);
        subs.iter()
            .map(|sub| ConnectionInfo {
                id: self.inner.presence.id(sub.id),
                user: sub.user().map(str::to_owned),
                topics: sub.topics().map(|t| t.to_string()).collect(),
                meta: sub.meta().cloned(),
            })
            .collect()
    }

    /// Shuts down: refuses new publishes and subscriptions, and ends every
    /// subscription once it has sent what is queued. Clients reconnect (after
    /// the `retry` time they were given) and resume where they were.
    pub fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.registry.for_each(|sub| sub.end(End::Shutdown));
    }

    /// Whether [`Hub::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Starts the presence heartbeat task, once, inside a tokio runtime, when
    /// the backend keeps presence (a shared one).
    fn start_heartbeats(&self) {
        if !self.inner.backend.keeps_presence() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.heartbeat_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let every = self.inner.presence.heartbeat;
        runtime.spawn(presence::heartbeats(Arc::downgrade(&self.inner), every));
    }

    /// Starts the keep-alive task, once, if configured and inside a tokio
    /// runtime. One task serves every subscription: each tick queues one
    /// shared comment frame for the streams that were idle since the last.
    fn start_keepalive(&self) {
        let Some(every) = self.inner.config.keepalive else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.keepalive_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let hub: Weak<HubInner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(hub) = hub.upgrade() else { break };
                if hub.closed.load(Ordering::Acquire) {
                    break;
                }
                hub.registry.for_each(|sub| sub.keepalive());
            }
        });
    }
}
