//! A Redis Streams backend for [`ssehub`]: hubs on several nodes that share
//! one Redis act as one hub.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = ssehub_redis::RedisBackend::builder("redis://127.0.0.1:6379/")
//!     .prefix("myapp")
//!     .max_len(10_000)
//!     .connect()
//!     .await?; // Redis unreachable: an error here
//! let hub = ssehub::Hub::builder().backend(backend).build();
//! hub.publish("news", ssehub::Event::data("on every node")).await?;
//! # Ok(()) }
//! ```
//!
//! # How
//!
//! - **Publishing** appends to one stream (`XADD {prefix}:events MAXLEN ~ N`):
//!   one command per event, whatever the number of nodes and subscribers.
//!   Event ids are the stream ids (`1764150000000-0`), so they agree on every
//!   node, and a client may resume on any node.
//! - **Delivery**: each node runs one reader (`XREAD BLOCK` on its own
//!   connection) that hands each entry, in stream order, to the hub's local
//!   fan-out (encoded once per node, shared by its subscribers).
//! - **Resume** reads what a client missed from the stream (`XRANGE`), up to
//!   where the node's live delivery starts; a client that saw events this
//!   node has not read yet gets none of them twice.
//! - **Signals**: values and versions live in two hashes
//!   (`{prefix}:signal-values`, `{prefix}:signal-versions`); a change is one
//!   Lua script that checks the version, stores the value and appends the
//!   patch event atomically. Two nodes changing a signal at once: one wins,
//!   the other recomputes its change on the new value. Values survive
//!   restarts of every hub.
//! - **Presence** ([`Hub::presence`](ssehub::Hub::presence), join and leave
//!   events, [`Hub::close`](ssehub::Hub::close) and `$conn/ID` across
//!   nodes) lives in these keys:
//!   - `{prefix}:nodes`, a sorted set: each node's heartbeat deadline (ms,
//!     by Redis's clock, so the hubs' clocks do not matter);
//!   - `{prefix}:node:{node}`, a hash: connection id -> the stream (who it
//!     is, its topics, and its leave events, so that another hub can
//!     publish them if this one dies);
//!   - `{prefix}:presence:{topic}`, a hash: connection id -> who it is;
//!   - `{prefix}:reaped:{node}`: set for a day when a node was taken for
//!     dead, until its next heartbeat tells it to join again.
//!
//!   A stream's opening and end are one Lua script each (list or unlist it
//!   under its node and its topics, and append its join or leave events,
//!   atomically); `Hub::presence` is one `HVALS`, finding a stream by id
//!   one `HGET`. Each hub sends one heartbeat per period (a script, whatever
//!   its number of streams): it moves the hub's deadline to 3 periods ahead
//!   and reaps every node whose deadline passed (unlists its streams and
//!   appends their leaves, in one step).
//!
//! Built on the [`redis`] crate (tokio, `ConnectionManager`, scripts): the
//! most used Rust Redis client, with reconnection, Lua scripts and pipelines
//! built in, and a small dependency tree with its default features off.
//! (`fred` would serve as well; one client was enough.)
//!
//! # Guarantees and their limits
//!
//! - Every node delivers every event once, in stream order.
//! - History is bounded by `MAXLEN ~` (Redis trims whole macro nodes, so a
//!   few more than `max_len` entries may stay). A client whose last id was
//!   trimmed gets an `ssehub-reset` (`history-gone`); an id this stream never
//!   gave (say from before Redis lost its data) gets `unknown-id`.
//! - A node whose reader falls further behind than `max_len` (a long Redis
//!   outage with heavy publishing elsewhere) misses the trimmed entries; its
//!   subscribers are not told. Signals recover: the reader sees the version
//!   gap and reads the signal's value afresh. Keep `max_len` above what is published during
//!   the longest outage you plan for.
//! - Redis lost while running: publishes and signal changes fail with
//!   [`BackendError::Unavailable`](ssehub::backend::BackendError) (`ssehub
//!   serve` answers 503), resuming subscriptions fail the same way (`ssehub
//!   serve` tells the client to retry), open streams stay open; the reader
//!   reconnects with backoff and continues after the last entry it read, so
//!   its subscribers catch up on everything published meanwhile.
//! - Presence: a hub that dies (or loses Redis) has its streams' leaves
//!   published by another hub within 4 heartbeat periods of its last
//!   heartbeat: 8 s on the default 2 s period
//!   ([`HubBuilder::presence_heartbeat`](ssehub::HubBuilder::presence_heartbeat)).
//!   Until then its streams are listed. At least one hub must be running
//!   for that: the first heartbeat after a restart reaps what the last hubs
//!   left. A hub that was only cut off (a partition, a stalled Redis) hears
//!   so at its next heartbeat and its streams join again, each with a new
//!   join event. A join, a leave or a heartbeat that fails (Redis out) is
//!   made good by the hub at its next heartbeats (leaves sent again, every
//!   stream joined again); join and leave are idempotent, so a retried one
//!   publishes no event twice. Reaping a node
//!   is one script whose work grows with its number of streams and their
//!   topics (Redis runs nothing else meanwhile).
//! - The heartbeat script names the keys of dead nodes itself (it cannot
//!   know them beforehand): the backend needs one Redis, not a cluster, as
//!   the rest of it does.
//! - What Redis keeps across its own restart is Redis's persistence
//!   (`appendonly yes` keeps everything acknowledged).
#![deny(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ssehub::backend::{
    Appended, Backend, BackendError, BoxFuture, EventId, Expect, Feed, Health, Heartbeat, Position,
    Presence, Present, Record, Replay, SignalChange, SignalState, Stored,
};
use ssehub::control::ResetReason;
use ssehub::Topic;

mod entry;
mod presence;
mod reader;
mod scripts;
#[cfg(feature = "testing")]
pub mod testing;

use entry::{parse_id, Keys};

/// Why the backend could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(redis::RedisError),
    /// Redis could not be reached or refused a command.
    #[error("cannot reach Redis at {url}: {reason}")]
    Connect {
        /// The URL (without password).
        url: String,
        /// What went wrong (in the message, not as a source, so that an
        /// error chain does not print it twice).
        reason: redis::RedisError,
    },
    /// Redis answered something unexpected.
    #[error("unexpected answer from Redis: {0}")]
    Protocol(String),
}

/// Configures a [`RedisBackend`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct RedisBackendBuilder {
    url: String,
    prefix: String,
    max_len: usize,
    block: Duration,
}

impl RedisBackendBuilder {
    /// Prefix of the keys the backend uses (`{prefix}:events`, ...).
    /// Default: `ssehub`. Hubs that should act as one use the same.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// History bound: most entries kept in the stream (approximately, as
    /// `MAXLEN ~`). Default: 10,000.
    pub fn max_len(mut self, n: usize) -> Self {
        self.max_len = n.max(1);
        self
    }

    /// Connects, and reads where the stream and the signals stand. Fails
    /// when Redis cannot be reached.
    pub async fn connect(self) -> Result<RedisBackend, Error> {
        let client = redis::Client::open(self.url.as_str()).map_err(Error::Url)?;
        let shown = redacted(&self.url);
        let connect_error = |reason| Error::Connect {
            url: shown.clone(),
            reason,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let mut conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(connect_error)?;
        let keys = Keys::new(&self.prefix);
        let start = entry::load_start(&mut conn, &keys)
            .await
            .map_err(connect_error)?;
        Ok(RedisBackend {
            shared: Arc::new(Shared {
                client,
                conn,
                keys,
                max_len: self.max_len,
                block: self.block,
                health: Mutex::new((true, "ok".into())),
                expiry_ms: AtomicU64::new(DEFAULT_EXPIRY_MS),
            }),
            start: Mutex::new(Some(start)),
            reader: Mutex::new(None),
        })
    }
}

/// The Redis Streams backend; see the [crate docs](crate).
#[derive(Debug)]
pub struct RedisBackend {
    shared: Arc<Shared>,
    /// Where the stream and the signals stood at connect, for `start`.
    start: Mutex<Option<entry::Start>>,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    client: redis::Client,
    conn: ConnectionManager,
    keys: Keys,
    max_len: usize,
    block: Duration,
    /// Whether the reader is connected, and what it is doing.
    health: Mutex<(bool, String)>,
    /// The expiry of this node's last heartbeat (ms), for the deadline a
    /// join sets when the node has none yet.
    expiry_ms: AtomicU64,
}

/// A join's deadline for a node that has sent no heartbeat yet: three of
/// the hub's default 2 s periods.
const DEFAULT_EXPIRY_MS: u64 = 6_000;

impl Shared {
    fn set_health(&self, ok: bool, state: impl Into<String>) {
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = (ok, state.into());
    }

    /// Refuses a write before sending it while the reader knows Redis is
    /// out: then it is surely not applied (503), where a write sent into a
    /// lost connection could only be "outcome unknown" (504).
    fn check_writable(&self) -> Result<(), BackendError> {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if health.0 {
            Ok(())
        } else {
            Err(BackendError::unavailable(format!(
                "Redis is unreachable ({})",
                health.1
            )))
        }
    }
}

/// A URL with any password replaced by `***`.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A write's error: refused before it was sent (no connection) is
/// "unavailable", nothing applied; lost after it was sent (a timeout, the
/// connection dropped mid-command) is "outcome unknown": Redis may still run
/// it (a paused Redis does, once it wakes).
fn write_error(e: redis::RedisError) -> BackendError {
    if e.is_connection_refusal() {
        BackendError::unavailable(e)
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
        BackendError::outcome_unknown(e)
    } else {
        BackendError::other(e)
    }
}

/// A read's error (reads have no outcome to be unsure of).
fn unavailable(e: redis::RedisError) -> BackendError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        BackendError::unavailable(e)
    } else {
        BackendError::other(e)
    }
}

impl RedisBackend {
    /// Configures a backend on the Redis at `url`
    /// (`redis://[:password@]host[:port][/db]`).
    pub fn builder(url: impl Into<String>) -> RedisBackendBuilder {
        RedisBackendBuilder {
            url: url.into(),
            prefix: "ssehub".into(),
            max_len: 10_000,
            block: Duration::from_secs(5),
        }
    }

    /// Connects with the defaults of [`RedisBackend::builder`].
    pub async fn connect(url: impl Into<String>) -> Result<RedisBackend, Error> {
        RedisBackend::builder(url).connect().await
    }

    fn conn(&self) -> ConnectionManager {
        self.shared.conn.clone()
    }
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take() {
            reader.abort();
        }
    }
}

impl Backend for RedisBackend {
    fn start(&self, feed: Feed) {
        let Some(start) = self.start.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            tracing::error!("a RedisBackend serves one hub; this one was started already");
            return;
        };
        feed.start_at(start.position, start.head_id.clone(), start.signals);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = runtime.spawn(reader::run(self.shared.clone(), feed, start.last));
                *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
            }
            Err(_) => {
                self.shared
                    .set_health(false, "not started: build the hub inside a tokio runtime");
            }
        }
    }

    fn append(&self, record: Record) -> BoxFuture<'_, Result<Appended, BackendError>> {
        Box::pin(async move {
            self.shared.check_writable()?;
            let topics = entry::topics_json(&record.topics);
            let mut conn = self.conn();
            if let Some(key) = &record.idempotency {
                let keys = &self.shared.keys;
                let max_len = self.shared.max_len;
                return scripts::append_once(&mut conn, keys, max_len, &topics, &record.body, key)
                    .await;
            }
            let id: String = redis::cmd("XADD")
                .arg(&self.shared.keys.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.shared.max_len)
                .arg("*")
                .arg("t")
                .arg(topics)
                .arg("b")
                .arg(&record.body[..])
                .query_async(&mut conn)
                .await
                .map_err(write_error)?;
            EventId::new(id)
                .map(Appended::New)
                .map_err(BackendError::other)
        })
    }

    fn position_of(&self, id: &str) -> Option<Position> {
        parse_id(id)
    }

    fn replay<'a>(
        &'a self,
        last_event_id: &'a str,
        until: Position,
        wants: &'a (dyn Fn(&[Topic]) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<Replay, BackendError>> {
        Box::pin(async move {
            let Some(after) = parse_id(last_event_id) else {
                return Ok(Replay::Reset(ResetReason::UnknownId));
            };
            let mut conn = self.conn();
            entry::replay(&mut conn, &self.shared.keys, after, until, wants).await
        })
    }

    fn store_signal(
        &self,
        expect: Expect,
        change: SignalChange,
    ) -> BoxFuture<'_, Result<Stored, BackendError>> {
        Box::pin(async move {
            self.shared.check_writable()?;
            let mut conn = self.conn();
            let keys = &self.shared.keys;
            scripts::store(&mut conn, keys, self.shared.max_len, expect, &change).await
        })
    }

    fn signal<'a>(
        &'a self,
        name: &'a Topic,
    ) -> BoxFuture<'a, Result<Option<SignalState>, BackendError>> {
        Box::pin(async move {
            let mut conn = self.conn();
            entry::signal(&mut conn, &self.shared.keys, name).await
        })
    }

    fn keeps_presence(&self) -> bool {
        true
    }

    fn join<'a>(&'a self, presence: &'a Presence) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.shared.check_writable()?;
            let expiry = Duration::from_millis(self.shared.expiry_ms.load(Ordering::Relaxed));
            let mut conn = self.conn();
            presence::join(
                &mut conn,
                &self.shared.keys,
                self.shared.max_len,
                expiry,
                presence,
            )
            .await
        })
    }

    fn leave<'a>(&'a self, presence: &'a Presence) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.shared.check_writable()?;
            let mut conn = self.conn();
            presence::leave(&mut conn, &self.shared.keys, self.shared.max_len, presence).await
        })
    }

    fn presence<'a>(
        &'a self,
        topic: &'a Topic,
    ) -> BoxFuture<'a, Result<Vec<Present>, BackendError>> {
        Box::pin(async move {
            let mut conn = self.conn();
            presence::list(&mut conn, &self.shared.keys, topic.as_str()).await
        })
    }

    fn connection<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Present>, BackendError>> {
        Box::pin(async move {
            let mut conn = self.conn();
            presence::connection(&mut conn, &self.shared.keys, id).await
        })
    }

    fn heartbeat<'a>(
        &'a self,
        node: &'a str,
        expiry: Duration,
    ) -> BoxFuture<'a, Result<Heartbeat, BackendError>> {
        Box::pin(async move {
            let shared = &self.shared;
            shared.check_writable()?;
            let ms = u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX);
            shared.expiry_ms.store(ms, Ordering::Relaxed);
            let mut conn = self.conn();
            let reaped =
                presence::heartbeat(&mut conn, &shared.keys, shared.max_len, node, expiry).await?;
            // An answer lost on the way (a stalled Redis answers late) is
            // the hub's to make good: it makes every stream join again
            // after a heartbeat that failed.
            Ok(if reaped {
                Heartbeat::Rejoin
            } else {
                Heartbeat::Alive
            })
        })
    }

    fn history(&self) -> (usize, usize) {
        // Counting would cost a round trip; `/healthz` must stay cheap.
        (0, 0)
    }

    fn health(&self) -> Health {
        let (ok, state) = self
            .shared
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Health {
            kind: "redis",
            ok,
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redacted("redis://:s3cret@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redacted("redis://u:s3cret@h:1"), "redis://u:***@h:1");
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
    }
}

/// The scale-out guide's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/scale-out.md")]
struct ScaleOutGuideDoctests;
