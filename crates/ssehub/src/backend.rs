//! The seam between a hub and where its events are ordered and kept.
//!
//! A [`Backend`] orders events, assigns their ids, keeps history and the
//! signals' values. It hands every event, in its one order, to this node's
//! [`Feed`], which fans it out to the local subscribers: the in-memory
//! backend does so while appending; a networked one (`ssehub-redis`) from
//! one reader task per node. The hub attaches subscribers to the feed at a
//! [`Position`] and asks the backend only for what came before it (the
//! replay), so that replay and live events meet without a gap or a duplicate.
//!
//! The embedded default is [`Memory`]; give another
//! to [`HubBuilder::backend`](crate::HubBuilder::backend).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::control::ResetReason;
use crate::topic::Topic;

pub use crate::feed::Feed;
pub use crate::id::{EventId, Position};
pub use crate::memory::Memory;
pub use crate::presence::{Presence, Present};

/// The frame of a stored event: `id: {id}` in front of its frame without an
/// id (a [`Record::body`] or a [`SignalChange::body`]).
pub fn frame(id: &EventId, body: &[u8]) -> Bytes {
    crate::feed::with_id(id, body)
}

/// The frame of a stored signal change, from its name and its
/// [`SignalChange::data`] (for a backend that stores only those).
pub fn signal_frame(id: &EventId, name: &Topic, data: &str) -> Result<Bytes, crate::SignalError> {
    Ok(crate::feed::with_id(id, &crate::signal::body(name, data)?))
}

/// A signal's version and value.
pub type SignalState = (u64, Arc<Value>);

/// A boxed future, as the backend's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The cause of a [`BackendError`]: whatever the backend's client reported.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a backend could not do what was asked. The backend's own error is
/// kept as the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend cannot be reached now (a lost connection, a timeout);
    /// retrying later may succeed. Nothing was stored.
    #[error("the backend is unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A write was sent but its answer did not come (a timeout, a
    /// connection lost mid-command): it may or may not have been applied,
    /// and may still be. Retry with the same idempotency key to be sure it is
    /// applied once.
    #[error("the backend's answer is unknown: {0}")]
    OutcomeUnknown(#[source] Cause),
    /// The backend answered something it should not have.
    #[error("backend error: {0}")]
    Other(#[source] Cause),
}

impl BackendError {
    /// [`BackendError::Unavailable`] caused by `cause` (an error, or a
    /// message).
    pub fn unavailable(cause: impl Into<Cause>) -> BackendError {
        BackendError::Unavailable(cause.into())
    }

    /// [`BackendError::OutcomeUnknown`] caused by `cause` (an error, or a
    /// message).
    pub fn outcome_unknown(cause: impl Into<Cause>) -> BackendError {
        BackendError::OutcomeUnknown(cause.into())
    }

    /// [`BackendError::Other`] caused by `cause` (an error, or a message).
    pub fn other(cause: impl Into<Cause>) -> BackendError {
        BackendError::Other(cause.into())
    }

    /// Whether the backend could not be reached (retrying later may work).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_))
    }
}

/// An event for a backend to append: its topics and its frame without an id
/// (the backend assigns the id; the feed writes it in front of the frame).
/// Made by the hub only.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Record {
    /// The topics it is published to.
    pub topics: Vec<Topic>,
    /// The encoded event, without an `id:` line.
    pub body: Bytes,
    /// Set when the publisher gave an idempotency key: see [`Idempotency`].
    pub idempotency: Option<Idempotency>,
}

/// What [`Backend::append`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// The record was appended as the event with this id.
    New(EventId),
    /// A record with the same [`Idempotency`] key was appended within its
    /// window, as the event with this id: nothing was appended now.
    Repeated(EventId),
}

impl Appended {
    /// The event's id, whether appended now or before.
    pub fn into_id(self) -> EventId {
        match self {
            Appended::New(id) | Appended::Repeated(id) => id,
        }
    }
}

/// A publish's idempotency key. A backend appends a record with a key at
/// most once within `window`: a record whose key it has seen within the
/// window is not appended again; [`Backend::append`] answers the first
/// record's id. Backends shared by several hubs must make this hold across
/// all of them (one atomic check-and-append), since a client may retry on
/// any hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    /// The key, as the publisher gave it.
    pub key: String,
    /// How long the key is remembered.
    pub window: Duration,
}

/// A change of a signal, for [`Backend::store_signal`]: stored as the
/// signal's new version and value, and appended as the signal's event, in
/// one step. Made by the hub only.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignalChange {
    /// The signal's name (its topic and event type).
    pub name: Topic,
    /// Its version after this change.
    pub version: u64,
    /// The event's data: `{"v": V, "snapshot": VALUE}` at creation, else
    /// `{"v": V, "patch": [...]}` (the [protocol](ssehub_core::protocol::signal)).
    /// A backend that stores this delivers it with [`Feed::deliver_signal`].
    pub data: String,
    /// The value after this change.
    pub value: Arc<Value>,
}

impl SignalChange {
    /// The signal's event without an id: type [`name`](Self::name), data
    /// [`data`](Self::data).
    pub fn body(&self) -> Bytes {
        crate::signal::body(&self.name, &self.data).unwrap_or_default()
    }
}

/// What [`Backend::store_signal`] requires of the signal stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// That there is none of this name (creating it at version 0).
    Absent,
    /// That it is at this version (changing it to the next).
    Version(u64),
}

/// The outcome of [`Backend::store_signal`].
#[derive(Debug)]
pub enum Stored {
    /// The change is stored; its event has this id.
    Stored(EventId),
    /// The signal is not as expected: it exists, at this version and value
    /// (to compute the change again from, or to take as it is).
    Conflict(u64, Arc<Value>),
    /// [`Expect::Version`], but there is no such signal.
    NotFound,
}

/// What a resuming subscriber gets before its live events.
#[derive(Debug)]
pub enum Replay {
    /// The frames it missed, in order (possibly none).
    Resumed(Vec<Bytes>),
    /// The resume cannot be honoured; the subscriber gets a reset event.
    Reset(ResetReason),
}

/// A backend's state, as `/healthz` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// The backend's kind: `memory`, `redis`.
    pub kind: &'static str,
    /// Whether it works now.
    pub ok: bool,
    /// What it is doing: `ok`, or for example `reconnecting`.
    pub state: String,
}

/// What a node's [`Backend::heartbeat`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Heartbeat {
    /// The node is known alive.
    Alive,
    /// The node had been taken for dead (it missed its heartbeats, say in a
    /// partition) and its streams' leaves published: they must join again.
    Rejoin,
}

/// Where events are ordered and kept; see the [module docs](self).
///
/// Every method that talks to the outside world returns a [`BoxFuture`], so
/// that the trait stays object-safe (`Arc<dyn Backend>`).
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Called once, when the hub is built: from now on the backend hands
    /// every event, in its one order, to `feed` (first calling
    /// [`Feed::start_at`] if it starts after earlier events).
    fn start(&self, feed: Feed);

    /// Appends an event: [`Appended::New`] with its id. It reaches this
    /// node's subscribers through the feed (before or after this returns).
    /// With an [`Idempotency`] key seen within its window: appends nothing
    /// and answers [`Appended::Repeated`] with the id of the first record
    /// with that key.
    fn append(&self, record: Record) -> BoxFuture<'_, Result<Appended, BackendError>>;

    /// Where `id` stands in the order, if it is an id this backend gives
    /// (whether or not it is still in history).
    fn position_of(&self, id: &str) -> Option<Position>;

    /// What a subscriber that saw `last_event_id` missed up to `until` (its
    /// live events start after `until`): the frames, with ids, of the events
    /// in between for which `wants` holds, or the reason it cannot be told.
    fn replay<'a>(
        &'a self,
        last_event_id: &'a str,
        until: Position,
        wants: &'a (dyn Fn(&[Topic]) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<Replay, BackendError>>;

    /// Stores a signal's change and appends its event, in one atomic step,
    /// if and only if the signal stored is as `expect`ed; else says how it
    /// is.
    fn store_signal(
        &self,
        expect: Expect,
        change: SignalChange,
    ) -> BoxFuture<'_, Result<Stored, BackendError>>;

    /// A signal's version and value as stored, if it exists.
    fn signal<'a>(
        &'a self,
        name: &'a Topic,
    ) -> BoxFuture<'a, Result<Option<SignalState>, BackendError>>;

    /// Events and bytes held in history, when the backend knows cheaply.
    fn history(&self) -> (usize, usize);

    /// Whether the backend works now.
    fn health(&self) -> Health;

    /// Whether the backend keeps the presence of every node sharing it
    /// (then [`Backend::presence`] and [`Backend::connection`] answer for
    /// all of them). Default: `false`, the hub answers from its own streams
    /// (right for a backend that serves one hub).
    fn keeps_presence(&self) -> bool {
        false
    }

    /// A stream opened: list it under its topics and append its `join`
    /// events, in one step. Default: append the events.
    fn join<'a>(&'a self, presence: &'a Presence) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            for record in &presence.joins {
                self.append(record.clone()).await?;
            }
            Ok(())
        })
    }

    /// A stream ended: unlist it and append its `leave` events, in one step.
    /// Default: append the events.
    fn leave<'a>(&'a self, presence: &'a Presence) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            for record in &presence.leaves {
                self.append(record.clone()).await?;
            }
            Ok(())
        })
    }

    /// The streams listed under `topic` on every node, when
    /// [`Backend::keeps_presence`]. Default: none.
    fn presence<'a>(
        &'a self,
        topic: &'a Topic,
    ) -> BoxFuture<'a, Result<Vec<Present>, BackendError>> {
        let _ = topic;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The stream with this id on any node, when [`Backend::keeps_presence`].
    /// Default: none.
    fn connection<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Present>, BackendError>> {
        let _ = id;
        Box::pin(async { Ok(None) })
    }

    /// Keeps `node` alive for `expiry`, and publishes the leaves of the
    /// streams of nodes whose expiry passed (one call per node per period,
    /// whatever its number of streams). Default: nothing to do.
    fn heartbeat<'a>(
        &'a self,
        node: &'a str,
        expiry: Duration,
    ) -> BoxFuture<'a, Result<Heartbeat, BackendError>> {
        let _ = (node, expiry);
        Box::pin(async { Ok(Heartbeat::Alive) })
    }
}
