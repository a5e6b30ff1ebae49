//! The feed: where a backend hands this node its events, in order, and where
//! the node keeps what it has seen (its position, the signals' values).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use ssehub_core::protocol::signal::{self as protocol, SignalMessage};

use crate::backend::SignalChange;
use crate::id::{EventId, Position};
use crate::registry::Registry;
use crate::signal;
use crate::subscriber::Subscriber;
use crate::topic::Topic;

/// A backend's handle on one node's fan-out (see [`Backend`](crate::backend::Backend)).
///
/// Events must be delivered in increasing [`Position`]s; one at or before
/// the newest delivered is ignored (so a reader may re-read after a
/// reconnection without sending anything twice).
#[derive(Clone, Debug)]
pub struct Feed {
    pub(crate) inner: Arc<FeedInner>,
}

#[derive(Debug)]
pub(crate) struct FeedInner {
    pub(crate) registry: Arc<Registry>,
    state: Mutex<State>,
    /// Woken after each signal change is delivered.
    signal_changed: tokio::sync::Notify,
}

#[derive(Debug)]
struct State {
    position: Position,
    head_id: EventId,
    signals: HashMap<Topic, Cached>,
}

impl State {
    /// Moves to the event at `position`, unless it is not newer than the
    /// newest delivered (then it was delivered already: false).
    fn advance(&mut self, position: Position, id: &EventId) -> bool {
        if position <= self.position {
            return false;
        }
        self.position = position;
        self.head_id = id.clone();
        true
    }
}

/// A signal's value as of the feed's position.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) version: u64,
    pub(crate) value: Arc<Value>,
    /// The snapshot event of `version`, without an id, encoded when first asked.
    snapshot: Option<Bytes>,
}

/// What attaching a subscriber to the feed gives.
#[derive(Debug)]
pub(crate) struct Attached {
    pub(crate) sub: Arc<Subscriber>,
    /// Live events start after this.
    pub(crate) position: Position,
    /// The id of the newest event delivered.
    pub(crate) head_id: EventId,
    /// Snapshot frames of the signals among the subscriber's topics.
    pub(crate) snapshots: Vec<Bytes>,
}

/// `id: {id}\n` in front of a frame without one.
pub(crate) fn with_id(id: &EventId, body: &[u8]) -> Bytes {
    let id = id.as_str().as_bytes();
    let mut buf = BytesMut::with_capacity(5 + id.len() + body.len());
    buf.put_slice(b"id: ");
    buf.put_slice(id);
    buf.put_u8(b'\n');
    buf.put_slice(body);
    buf.freeze()
}

impl Feed {
    pub(crate) fn new(registry: Arc<Registry>, head_id: EventId) -> Feed {
        Feed {
            inner: Arc::new(FeedInner {
                registry,
                state: Mutex::new(State {
                    position: Position::ZERO,
                    head_id,
                    signals: HashMap::new(),
                }),
                signal_changed: tokio::sync::Notify::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets where the feed starts, before any delivery: the position and id
    /// of the newest event stored, and the signals' versions and values as
    /// of that event.
    pub fn start_at(
        &self,
        position: Position,
        head_id: EventId,
        signals: impl IntoIterator<Item = (Topic, u64, Value)>,
    ) {
        let mut state = self.state();
        state.position = position;
        state.head_id = head_id;
        state.signals = signals
            .into_iter()
            .map(|(name, version, value)| {
                let cached = Cached {
                    version,
                    value: Arc::new(value),
                    snapshot: None,
                };
                (name, cached)
            })
            .collect();
    }

    /// The position of the newest event delivered.
    pub fn position(&self) -> Position {
        self.state().position
    }

    /// Delivers an event: `body` is its frame without an id.
    pub fn deliver(&self, position: Position, id: &EventId, topics: &[Topic], body: &[u8]) {
        let frame = with_id(id, body);
        let mut state = self.state();
        if !state.advance(position, id) {
            return;
        }
        self.inner.registry.deliver(position, topics, &frame);
    }

    /// Delivers a signal's event from its name and JSON data (what
    /// [`SignalChange::data`](crate::backend::SignalChange::data) holds),
    /// and keeps the signal's new value.
    ///
    /// Returns `false` when this node could not follow the change (it missed
    /// earlier ones: history was trimmed past its reader); the backend should
    /// then read the signal's value and give it to [`Feed::refresh_signal`].
    pub fn deliver_signal(
        &self,
        position: Position,
        id: &EventId,
        name: &Topic,
        data: &str,
    ) -> bool {
        let Ok(body) = signal::body(name, data) else {
            return true;
        };
        let frame = with_id(id, &body);
        let mut state = self.state();
        if !state.advance(position, id) {
            return true;
        }
        // The one rule (`ssehub_core::protocol::signal`), as a node follows
        // it: a change it holds already (a version read at start) is
        // skipped; one it cannot apply (history trimmed past it, or data
        // that is not a signal message) makes it forget the value rather
        // than serve a wrong one, and say so.
        let held = state.signals.get(name);
        let message = SignalMessage::parse(data);
        let seen = match (&message, held) {
            (Ok(SignalMessage::Patch { v, .. }), Some(old)) => old.version >= *v,
            _ => false,
        };
        let mut followed = true;
        if !seen {
            let next = message
                .map_err(protocol::Resync::Malformed)
                .and_then(|m| protocol::apply(held.map(|c| (c.version, &*c.value)), m));
            match next {
                Ok((version, value)) => {
                    let cached = Cached {
                        version,
                        value: Arc::new(value),
                        snapshot: None,
                    };
                    state.signals.insert(name.clone(), cached);
                }
                Err(_) => {
                    state.signals.remove(name);
                    followed = false;
                }
            }
        }
        self.inner
            .registry
            .deliver(position, std::slice::from_ref(name), &frame);
        drop(state);
        self.inner.signal_changed.notify_waiters();
        followed
    }

    /// Takes a signal's version and value as read from the backend, unless
    /// this node already holds that version or a newer one (after
    /// [`Feed::deliver_signal`] returned `false`). Later changes then apply
    /// again; subscribers that attached in between resync by the version
    /// rule.
    pub fn refresh_signal(&self, name: &Topic, version: u64, value: Arc<Value>) {
        let mut state = self.state();
        if state
            .signals
            .get(name)
            .is_some_and(|c| c.version >= version)
        {
            return;
        }
        state.signals.insert(
            name.clone(),
            Cached {
                version,
                value,
                snapshot: None,
            },
        );
        drop(state);
        self.inner.signal_changed.notify_waiters();
    }

    /// Delivers an event as it was appended, its `frame` already stamped
    /// with `id` (the in-memory path: the frame is shared with history).
    pub(crate) fn deliver_frame(
        &self,
        position: Position,
        id: &EventId,
        topics: &[Topic],
        frame: &Bytes,
    ) {
        let mut state = self.state();
        if !state.advance(position, id) {
            return;
        }
        self.inner.registry.deliver(position, topics, frame);
    }

    /// Delivers a signal's change as it was stored, its `frame` already
    /// stamped with `id` (the in-memory path: the new value is at hand,
    /// nothing is parsed).
    pub(crate) fn deliver_change(
        &self,
        position: Position,
        id: &EventId,
        change: &SignalChange,
        frame: &Bytes,
    ) {
        let mut state = self.state();
        if !state.advance(position, id) {
            return;
        }
        state.signals.insert(
            change.name.clone(),
            Cached {
                version: change.version,
                value: change.value.clone(),
                snapshot: None,
            },
        );
        self.inner
            .registry
            .deliver(position, std::slice::from_ref(&change.name), frame);
        drop(state);
        self.inner.signal_changed.notify_waiters();
    }

    /// Registers a subscriber at the feed's position; no delivery falls
    /// between its snapshots and its first live event.
    pub(crate) fn attach(&self, make: impl FnOnce(Position) -> Arc<Subscriber>) -> Attached {
        let mut state = self.state();
        let position = state.position;
        let sub = make(position);
        let head = state.head_id.clone();
        let mut snapshots = Vec::new();
        // Every signal the subscription covers, named or through a pattern
        // (`dash/*`), in name order.
        let mut names: Vec<&Topic> = state.signals.keys().filter(|n| sub.wants(n)).collect();
        names.sort();
        let names: Vec<Topic> = names.into_iter().cloned().collect();
        for name in &names {
            let Some(cached) = state.signals.get_mut(name) else {
                continue;
            };
            if cached.snapshot.is_none() {
                cached.snapshot = signal::snapshot_body(name, cached.version, &cached.value).ok();
            }
            if let Some(body) = &cached.snapshot {
                snapshots.push(with_id(&head, body));
            }
        }
        self.inner.registry.register(sub.clone());
        Attached {
            sub,
            position,
            head_id: head,
            snapshots,
        }
    }

    /// A signal's version and value as this node last saw them.
    pub(crate) fn signal(&self, name: &str) -> Option<(u64, Arc<Value>)> {
        let state = self.state();
        let cached = state.signals.get(name)?;
        Some((cached.version, cached.value.clone()))
    }

    /// The names of the signals this node knows.
    pub(crate) fn signal_names(&self) -> Vec<String> {
        self.state().signals.keys().map(|t| t.to_string()).collect()
    }

    /// Waits (at most `limit`) until this node has seen version `version` of
    /// signal `name`, so that a change is visible here once it returns.
    pub(crate) async fn wait_for_signal(&self, name: &Topic, version: u64, limit: Duration) {
        let wait = async {
            loop {
                let notified = self.inner.signal_changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self
                    .signal(name.as_str())
                    .is_some_and(|(v, _)| v >= version)
                {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> (Position, EventId) {
        (Position::new(0, n), EventId::new(format!("0-{n}")).unwrap())
    }

    #[test]
    fn a_node_that_missed_changes_says_so_and_takes_a_fresh_value() {
        let feed = Feed::new(Arc::new(Registry::new("n")), EventId::new("").unwrap());
        let name = Topic::new("s").unwrap();
        let (p, i) = id(1);
        assert!(feed.deliver_signal(p, &i, &name, r#"{"v":0,"snapshot":{"n":0}}"#));
        let (p, i) = id(2);
        let patch = |v: u64, n: u64| {
            format!(r#"{{"v":{v},"patch":[{{"op":"replace","path":"/n","value":{n}}}]}}"#)
        };
        assert!(feed.deliver_signal(p, &i, &name, &patch(1, 1)));
        assert_eq!(feed.signal("s").unwrap().0, 1);
        // Version 2 was trimmed before this node read it.
        let (p, i) = id(4);
        assert!(!feed.deliver_signal(p, &i, &name, &patch(3, 3)));
        assert!(feed.signal("s").is_none(), "no stale value is served");
        feed.refresh_signal(&name, 3, Arc::new(serde_json::json!({"n": 3})));
        let (p, i) = id(5);
        assert!(feed.deliver_signal(p, &i, &name, &patch(4, 4)));
        assert_eq!(*feed.signal("s").unwrap().1, serde_json::json!({"n": 4}));
        // An older value read late does not replace a newer one.
        feed.refresh_signal(&name, 2, Arc::new(serde_json::json!({"n": 2})));
        assert_eq!(feed.signal("s").unwrap().0, 4);
    }
}
