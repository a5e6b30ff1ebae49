//! The hub: publish to topics, subscribe to topics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use ssehub_core::Event;

use crate::backend::{Backend, Replay};
use crate::control;
use crate::error::{PublishError, SubscribeError};
use crate::id::EventId;
use crate::memory::Memory;
use crate::registry::Registry;
use crate::signal::{self, Signal, SignalError, Slot};
use crate::subscriber::{End, LagPolicy, OnLag, Subscriber};
use crate::subscription::{Resume, Subscription};
use crate::topic::{IntoTopics, Topic, TopicError};

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
/// let _retry_hint = sub.next().await;
/// let frame = sub.next().await.unwrap();
/// assert_eq!(frame, format!("id: {id}\ndata: hello\n\n"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
pub(crate) struct HubInner {
    pub(crate) registry: Registry,
    backend: Box<dyn Backend>,
    config: HubBuilder,
    retry_frame: Option<Bytes>,
    keepalive_started: AtomicBool,
    closed: AtomicBool,
    published: AtomicU64,
    resumes: AtomicU64,
    resets: AtomicU64,
    signals: Mutex<HashMap<Topic, Arc<Slot>>>,
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
    /// for none. Default: 15 s. Needs a tokio runtime.
    pub fn keepalive(mut self, every: Option<Duration>) -> Self {
        self.keepalive = every.filter(|d| !d.is_zero());
        self
    }

    /// Reconnection time sent to each client on connect (`retry:`), or `None`
    /// to send none. Default: 2 s.
    pub fn retry(mut self, retry: Option<Duration>) -> Self {
        self.retry = retry;
        self
    }

    /// Most bytes queued for one subscriber before its lag policy applies.
    /// Default: 256 KiB. One event is always accepted into an empty queue.
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

    /// Builds the hub, on the embedded in-memory backend.
    pub fn build(self) -> Hub {
        let backend = Box::new(Memory::new(self.history_events, self.history_bytes));
        let retry_frame = self.retry.map(|retry| {
            Bytes::from(
                Event::builder()
                    .retry(retry)
                    .build()
                    .expect("a retry field is always valid"),
            )
        });
        Hub {
            inner: Arc::new(HubInner {
                registry: Registry::default(),
                backend,
                config: self,
                retry_frame,
                keepalive_started: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                published: AtomicU64::new(0),
                resumes: AtomicU64::new(0),
                resets: AtomicU64::new(0),
                signals: Mutex::new(HashMap::new()),
            }),
        }
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
    on_lag: Option<OnLag>,
}

impl std::fmt::Debug for SubscribeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeOptions")
            .field("topics", &self.topics)
            .field("last_event_id", &self.last_event_id)
            .field("lag_policy", &self.lag_policy)
            .field("meta", &self.meta)
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
            on_lag: None,
        }
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

/// Counts and totals of a hub.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Open subscriptions.
    pub connections: usize,
    /// Topics with at least one subscription.
    pub topics: usize,
    /// Events published.
    pub events_published: u64,
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
}

/// One open subscription, as listed by [`Hub::connections`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The subscription's id ([`Subscription::id`]).
    pub id: u64,
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
    /// whatever the number of subscribers, and this never waits for them.
    pub async fn publish(
        &self,
        topics: impl IntoTopics,
        event: Event,
    ) -> Result<EventId, PublishError> {
        self.publish_now(topics.into_topics()?, event)
    }

    /// Publishes without waiting (the in-memory backend never waits).
    pub(crate) fn publish_now(
        &self,
        topics: Vec<Topic>,
        event: Event,
    ) -> Result<EventId, PublishError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(PublishError::ShutDown);
        }
        let id = self
            .inner
            .backend
            .publish(&self.inner.registry, topics, event)?;
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// The signal named `name`, created with `initial` if there is none (an
    /// existing signal keeps its value). Creating publishes its first
    /// snapshot; see [`Signal`] and the [`signal`](crate::signal) wire format.
    pub async fn signal<T>(&self, name: &str, initial: T) -> Result<Signal<T>, SignalError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let slot = self.slot_or_create(name, || serde_json::to_value(initial))?;
        Ok(Signal::new(self.clone(), slot))
    }

    fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        let signals = self.inner.signals.lock().unwrap_or_else(|e| e.into_inner());
        signals.get(name).cloned()
    }

    fn slot_or_create(
        &self,
        name: &str,
        initial: impl FnOnce() -> Result<serde_json::Value, serde_json::Error>,
    ) -> Result<Arc<Slot>, SignalError> {
        let topic = signal::check_name(name)?;
        let mut signals = self.inner.signals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = signals.get(&topic) {
            return Ok(slot.clone());
        }
        let slot = Arc::new(Slot::create(self, topic.clone(), initial()?)?);
        signals.insert(topic, slot.clone());
        Ok(slot)
    }

    /// A signal's version and value, if it exists (whatever its Rust type).
    pub async fn signal_value(&self, name: &str) -> Option<(u64, serde_json::Value)> {
        Some(self.slot(name)?.get().await)
    }

    /// Sets a signal to a JSON value, creating it (at version 0) if needed;
    /// returns its version. This is `PUT /signals/{name}`.
    pub async fn put_signal(
        &self,
        name: &str,
        value: serde_json::Value,
    ) -> Result<u64, SignalError> {
        let mut created = false;
        let slot = self.slot_or_create(name, || {
            created = true;
            Ok(value.clone())
        })?;
        if created {
            return Ok(0);
        }
        slot.replace(self, value).await
    }

    /// Applies RFC 6902 operations to a signal; returns its new version.
    /// This is `PATCH /signals/{name}`: a failed `test` is an error for which
    /// [`SignalError::is_test_failed`] holds, and nothing changes.
    pub async fn patch_signal(
        &self,
        name: &str,
        ops: &[json_patch::PatchOperation],
    ) -> Result<u64, SignalError> {
        let slot = self
            .slot(name)
            .ok_or_else(|| SignalError::NotFound(name.to_owned()))?;
        slot.apply(self, ops).await
    }

    /// The names of the signals, sorted.
    pub fn signal_names(&self) -> Vec<String> {
        let signals = self.inner.signals.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = signals.keys().map(|t| t.to_string()).collect();
        names.sort();
        names
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
        let topics: Box<[Topic]> = options.topics?.into();
        if inner.closed.load(Ordering::Acquire) {
            return Err(SubscribeError::ShutDown);
        }
        self.start_keepalive();
        // Signals among the topics are held still while attaching, so that a
        // snapshot and the first live patch agree on the version.
        let mut slots: Vec<Arc<Slot>> = {
            let signals = inner.signals.lock().unwrap_or_else(|e| e.into_inner());
            topics
                .iter()
                .filter_map(|t| signals.get(t).cloned())
                .collect()
        };
        slots.sort_by(|a, b| a.topic.cmp(&b.topic)); // one lock order
        let mut held = Vec::with_capacity(slots.len());
        for slot in &slots {
            held.push(slot.state.lock().await);
        }
        let policy = options.lag_policy.unwrap_or(inner.config.lag_policy);
        let id = inner.registry.next_id();
        let mut topics = Some(topics);
        let mut meta = options.meta;
        let mut on_lag = options.on_lag;
        let mut make = |head| {
            Arc::new(Subscriber::new(
                id,
                topics.take().unwrap_or_default(),
                policy,
                inner.config.buffer_bytes,
                head,
                meta.take(),
                on_lag.take(),
            ))
        };
        let last_event_id = options.last_event_id.as_deref();
        let attached = inner
            .backend
            .attach(&inner.registry, &mut make, last_event_id);

        let mut preface = VecDeque::new();
        preface.extend(inner.retry_frame.clone());
        let resume = match attached.replay {
            Replay::Fresh => Resume::Fresh,
            Replay::Resumed(frames) => {
                inner.resumes.fetch_add(1, Ordering::Relaxed);
                let replayed = frames.len();
                preface.extend(frames);
                Resume::Resumed { replayed }
            }
            Replay::Reset(reason) => {
                inner.resets.fetch_add(1, Ordering::Relaxed);
                preface.push_back(control::reset_frame(
                    reason,
                    last_event_id.unwrap_or_default(),
                    attached.head_id.as_str(),
                ));
                Resume::Reset(reason)
            }
        };
        if !matches!(resume, Resume::Resumed { .. }) {
            for (slot, state) in slots.iter().zip(held.iter_mut()) {
                preface.extend(state.snapshot_frame(&slot.topic, attached.head_id.as_str()));
            }
        }
        drop(held);
        Ok(Subscription::new(
            inner.clone(),
            attached.sub,
            preface,
            resume,
        ))
    }

    /// Counts and totals.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let counters = &inner.registry.counters;
        let (history_events, history_bytes) = inner.backend.history();
        let mut queued_bytes = 0;
        inner
            .registry
            .for_each(|sub| queued_bytes += sub.queued_bytes());
        Stats {
            connections: inner.registry.connections(),
            topics: inner.registry.topics(),
            events_published: inner.published.load(Ordering::Relaxed),
            events_delivered: counters.delivered.load(Ordering::Relaxed),
            lag_disconnects: counters.lag_disconnects.load(Ordering::Relaxed),
            lag_skips: counters.lag_skips.load(Ordering::Relaxed),
            resumes: inner.resumes.load(Ordering::Relaxed),
            resets: inner.resets.load(Ordering::Relaxed),
            history_events,
            history_bytes,
            queued_bytes,
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
        let mut list = Vec::new();
        self.inner.registry.for_each(|sub| {
            list.push(ConnectionInfo {
                id: sub.id,
                topics: sub.topics.iter().map(|t| t.to_string()).collect(),
                meta: sub.meta.clone(),
            })
        });
        list.sort_by_key(|c| c.id);
        list
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
        let frame = ssehub_core::comment("");
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(hub) = hub.upgrade() else { break };
                if hub.closed.load(Ordering::Acquire) {
                    break;
                }
                hub.registry.for_each(|sub| sub.keepalive(&frame));
            }
        });
    }
}
