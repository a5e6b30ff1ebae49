//! Who listens to what: the subscribers of each topic, and local fan-out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use slab::Slab;

use crate::id::Position;
use crate::subscriber::{Pushed, Subscriber};
use crate::topic::{Topic, TopicPattern};

#[derive(Debug, Default)]
struct Maps {
    topics: HashMap<Topic, Slab<Arc<Subscriber>>>,
    /// The keys of `topics` that are patterns (`chat/*`), matched against
    /// every published event's topics.
    patterns: HashMap<Topic, TopicPattern>,
    all: HashMap<u64, Arc<Subscriber>>,
}

/// Counters the registry keeps (see [`Stats`](crate::Stats)).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) delivered: AtomicU64,
    pub(crate) lag_disconnects: AtomicU64,
    pub(crate) lag_skips: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    maps: RwLock<Maps>,
    next_id: AtomicU64,
    pub(crate) counters: Counters,
    /// Woken whenever the last subscription goes.
    pub(crate) idle: tokio::sync::Notify,
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a subscriber to its topics: from now on it receives every delivery.
    pub(crate) fn register(&self, sub: Arc<Subscriber>) {
        let mut maps = self.write();
        let mut keys = Vec::with_capacity(sub.topics.len());
        for topic in sub.topics.iter() {
            let slab = maps.topics.entry(topic.clone()).or_default();
            keys.push(slab.insert(sub.clone()));
            let pattern = TopicPattern::new(topic.as_str());
            if pattern.is_wildcard() {
                maps.patterns.insert(topic.clone(), pattern);
            }
        }
        *sub.keys.lock().unwrap_or_else(|e| e.into_inner()) = keys;
        maps.all.insert(sub.id, sub);
    }

    /// Removes a subscriber; a topic without subscribers is forgotten.
    pub(crate) fn unregister(&self, sub: &Subscriber) {
        let keys = std::mem::take(&mut *sub.keys.lock().unwrap_or_else(|e| e.into_inner()));
        let mut maps = self.write();
        if maps.all.remove(&sub.id).is_none() {
            return;
        }
        for (topic, key) in sub.topics.iter().zip(keys) {
            if let Some(slab) = maps.topics.get_mut(topic) {
                slab.try_remove(key);
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
        let maps = self.read();
        let mut delivered = 0;
        let mut lagged = Vec::new();
        let matching = maps
            .patterns
            .iter()
            .filter(|(_, p)| topics.iter().any(|t| p.matches(t.as_str())))
            .map(|(key, _)| key);
        for topic in topics.iter().chain(matching) {
            let Some(subs) = maps.topics.get(topic) else {
                continue;
            };
            for (_, sub) in subs.iter() {
                match sub.push(cursor, frame) {
                    Pushed::Queued => delivered += 1,
                    Pushed::Ignored => {}
                    Pushed::Lagged => {
                        self.counters
                            .lag_disconnects
                            .fetch_add(1, Ordering::Relaxed);
                        lagged.push(sub.clone());
                    }
                    Pushed::Skipped => {
                        delivered += 1;
                        self.counters.lag_skips.fetch_add(1, Ordering::Relaxed);
                    }
                }
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
