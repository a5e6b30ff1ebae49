//! Who listens to what: the subscribers of each topic, and local fan-out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use slab::Slab;

use crate::id::Position;
use crate::presence::{ConnectionId, CLOSE_PREFIX, CONN_PREFIX};
use crate::subscriber::{End, Listed, Pushed, SharedFrame, Subscriber};
use crate::topic::{Topic, TopicPattern};

#[derive(Debug, Default)]
struct Maps {
    topics: HashMap<Topic, Slab<Arc<Subscriber>>>,
    /// The keys of `topics` that are patterns (`chat/*`), matched against
    /// every published event's topics.
    patterns: HashMap<Topic, TopicPattern>,
    /// Every subscriber by id. Where it is in each of its topics' lists is
    /// kept by the subscriber ([`Listed::key`]), so that an entry here is
    /// two words: every idle stream has one.
    all: HashMap<u64, Arc<Subscriber>>,
}

/// Counters the registry keeps (see [`Stats`](crate::Stats)).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) delivered: AtomicU64,
    pub(crate) lag_disconnects: AtomicU64,
    pub(crate) lag_skips: AtomicU64,
    /// Streams ended by a close command.
    pub(crate) closed: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Registry {
    /// This node's id: `$conn/{node}-{n}` and `$close/{node}-{n}` reach
    /// subscriber `n` here.
    node: Box<str>,
    maps: RwLock<Maps>,
    next_id: AtomicU64,
    pub(crate) counters: Counters,
    /// Woken whenever the last subscription goes.
    pub(crate) idle: tokio::sync::Notify,
}

impl Registry {
    pub(crate) fn new(node: &str) -> Registry {
        Registry {
            node: node.into(),
            maps: RwLock::default(),
            next_id: AtomicU64::default(),
            counters: Counters::default(),
            idle: tokio::sync::Notify::new(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The registry's own copy of each topic that has subscribers (`topics`
    /// unchanged otherwise): subscribers of one topic share its name.
    pub(crate) fn intern(&self, topics: &mut [Topic]) {
        let maps = self.read();
        for topic in topics {
            if let Some((known, _)) = maps.topics.get_key_value(topic) {
                *topic = known.clone();
            }
        }
    }

    /// Adds a subscriber to its topics: from now on it receives every delivery.
    pub(crate) fn register(&self, sub: Arc<Subscriber>) {
        let mut maps = self.write();
        for Listed { topic, key } in sub.listed() {
            let slab = maps.topics.entry(topic.clone()).or_default();
            // Read and written under the registry's lock only.
            key.store(slab.insert(sub.clone()), Ordering::Relaxed);
            let pattern = TopicPattern::new(topic.as_str());
            if pattern.is_wildcard() {
                maps.patterns.insert(topic.clone(), pattern);
            }
        }
        maps.all.insert(sub.id, sub);
    }

    /// Removes a subscriber; a topic without subscribers is forgotten.
    pub(crate) fn unregister(&self, sub: &Subscriber) {
        let mut maps = self.write();
        if maps.all.remove(&sub.id).is_none() {
            return;
        }
        for Listed { topic, key } in sub.listed() {
            if let Some(slab) = maps.topics.get_mut(topic) {
                slab.try_remove(key.load(Ordering::Relaxed));
                if slab.is_empty() {
                    maps.topics.remove(topic);
                    maps.patterns.remove(topic);
                }
            }
        }
        if maps.all.is_empty() {
            self.idle.notify_waiters();
        }
    }

    /// Queues one event's frame for every subscriber of any of its topics.
    /// Callers deliver in publish order, one event at a time.
    pub(crate) fn deliver(&self, cursor: Position, topics: &[Topic], frame: &Bytes) {
        let frame = &SharedFrame::new(frame.clone());
        let maps = self.read();
        let mut delivered = 0;
        let mut lagged = Vec::new();
        let matching = maps
            .patterns
            .iter()
            .filter(|(_, p)| topics.iter().any(|t| p.matches(t.as_str())))
            .map(|(key, _)| key);
        let mut closing = Vec::new();
        for topic in topics.iter().chain(matching) {
            if topic.as_str().starts_with('$') {
                // The hub's own topics that reach one stream by its id.
                if let Some(sub) = self.by_id(&maps, topic.as_str(), CONN_PREFIX) {
                    delivered += self.push(sub, cursor, frame, &mut lagged);
                } else if let Some(sub) = self.by_id(&maps, topic.as_str(), CLOSE_PREFIX) {
                    closing.push(sub.clone());
                }
            }
            let Some(subs) = maps.topics.get(topic) else {
                continue;
            };
            for (_, sub) in subs.iter() {
                delivered += self.push(sub, cursor, frame, &mut lagged);
            }
        }
        self.counters
            .delivered
            .fetch_add(delivered, Ordering::Relaxed);
        drop(maps);
        // Cut off at once: it no longer counts, even if its connection lingers
        // until the stream is next polled.
        for sub in lagged {
            self.unregister(&sub);
        }
        for sub in closing {
            self.close(&sub);
        }
    }

    /// Pushes a frame to one subscriber and counts what happened: 1 if it
    /// was queued. A subscriber that lagged goes into `lagged`.
    fn push(
        &self,
        sub: &Arc<Subscriber>,
        cursor: Position,
        frame: &SharedFrame,
        lagged: &mut Vec<Arc<Subscriber>>,
    ) -> u64 {
        match sub.push(cursor, frame) {
            Pushed::Queued => 1,
            Pushed::Ignored => 0,
            Pushed::Lagged => {
                self.counters
                    .lag_disconnects
                    .fetch_add(1, Ordering::Relaxed);
                lagged.push(sub.clone());
                0
            }
            Pushed::Skipped => {
                self.counters.lag_skips.fetch_add(1, Ordering::Relaxed);
                1
            }
        }
    }

    /// The subscriber `{prefix}{node}-{n}` names, if `node` is this one.
    fn by_id<'m>(&self, maps: &'m Maps, topic: &str, prefix: &str) -> Option<&'m Arc<Subscriber>> {
        let (node, n) = ConnectionId::parse(topic.strip_prefix(prefix)?)?;
        if node != &*self.node {
            return None;
        }
        maps.all.get(&n)
    }

    /// Ends a subscriber's stream (after what is queued) and unregisters it.
    pub(crate) fn close(&self, sub: &Subscriber) {
        sub.end(End::Closed);
        self.counters.closed.fetch_add(1, Ordering::Relaxed);
        self.unregister(sub);
    }

    /// Subscriber `n` of this node, if it is open.
    pub(crate) fn get(&self, n: u64) -> Option<Arc<Subscriber>> {
        self.read().all.get(&n).cloned()
    }

    /// Calls `f` on every subscriber of `topic` by that name.
    pub(crate) fn for_each_of(&self, topic: &str, mut f: impl FnMut(&Arc<Subscriber>)) {
        if let Some(subs) = self.read().topics.get(topic) {
            for (_, sub) in subs.iter() {
                f(sub);
            }
        }
    }

    /// Calls `f` on every subscriber.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<Subscriber>)) {
        for sub in self.read().all.values() {
            f(sub);
        }
    }

    pub(crate) fn connections(&self) -> usize {
        self.read().all.len()
    }

    pub(crate) fn topics(&self) -> usize {
        self.read().topics.len()
    }
}
