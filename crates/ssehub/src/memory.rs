//! The embedded backend: history in memory, delivery in process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use serde_json::Value;

use bytes::Bytes;

use crate::backend::{
    Appended, Backend, BackendError, BoxFuture, Expect, Health, Idempotency, Record, Replay,
    SignalChange, SignalState, Stored,
};
use crate::control::ResetReason;
use crate::feed::{self, Feed};
use crate::history::{After, Entry, History};
use crate::id::{Epoch, EventId, Parsed, Position};
use crate::topic::Topic;

/// History and signals in memory, for a hub on one node (the default).
///
/// Ids are `{epoch}-{sequence}`, where the epoch is chosen at random when the
/// backend is made: ids from before a restart are recognised and answered
/// with a reset. Appending delivers at once, under one lock that orders ids,
/// history and every subscriber's queue alike.
#[derive(Debug)]
pub struct Memory {
    epoch: Epoch,
    log: Mutex<Log>,
    feed: OnceLock<Feed>,
}

#[derive(Debug)]
struct Log {
    history: History,
    signals: HashMap<Topic, (u64, Arc<Value>)>,
    keys: Keys,
}

/// The idempotency keys seen within their window, oldest first.
#[derive(Debug, Default)]
struct Keys {
    ids: HashMap<String, EventId>,
    order: VecDeque<(Instant, String)>,
}

/// The most keys remembered at once, whatever their window: at a steady
/// 1,000 keyed publishes a second, 100 s' worth. Beyond it the oldest keys
/// are forgotten first.
const MAX_KEYS: usize = 100_000;

impl Keys {
    /// The id first published with `key`, if within its window.
    fn get(&mut self, key: &Idempotency, now: Instant) -> Option<EventId> {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < key.window && self.order.len() <= MAX_KEYS {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        self.ids.get(&key.key).cloned()
    }

    fn insert(&mut self, key: &Idempotency, id: EventId, now: Instant) {
        self.ids.insert(key.key.clone(), id);
        self.order.push_back((now, key.key.clone()));
    }
}

impl Memory {
    /// A backend keeping at most `max_events` events and `max_bytes` bytes
    /// (frames plus topic names) of history.
    pub fn new(max_events: usize, max_bytes: usize) -> Memory {
        Memory {
            epoch: Epoch::random(),
            log: Mutex::new(Log {
                history: History::new(max_events, max_bytes),
                signals: HashMap::new(),
                keys: Keys::default(),
            }),
            feed: OnceLock::new(),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores and delivers an event under the log lock `log`; `deliver`
    /// hands its frame to the feed.
    fn push(
        &self,
        log: &mut Log,
        topics: Vec<Topic>,
        body: &[u8],
        deliver: impl FnOnce(&Feed, Position, &EventId, &Bytes),
    ) -> EventId {
        let seq = log.history.head() + 1;
        let id = self.epoch.id(seq);
        // One frame, shared by history and every subscriber's queue.
        let frame = feed::with_id(&id, body);
        if let Some(feed) = self.feed.get() {
            deliver(feed, Position::new(0, seq), &id, &frame);
        }
        log.history.push(Entry {
            seq,
            topics: topics.into_boxed_slice(),
            frame,
        });
        id
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Backend for Memory {
    fn start(&self, feed: Feed) {
        feed.start_at(Position::ZERO, self.epoch.id(0), []);
        let _ = self.feed.set(feed);
    }

    fn append(&self, record: Record) -> BoxFuture<'_, Result<Appended, BackendError>> {
        let mut log = self.log();
        let now = Instant::now();
        if let Some(key) = &record.idempotency {
            if let Some(first) = log.keys.get(key, now) {
                return ready(Ok(Appended::Repeated(first)));
            }
        }
        let topics = record.topics.clone();
        let id = self.push(&mut log, topics, &record.body, |feed, at, id, frame| {
            feed.deliver_frame(at, id, &record.topics, frame)
        });
        if let Some(key) = &record.idempotency {
            log.keys.insert(key, id.clone(), now);
        }
        ready(Ok(Appended::New(id)))
    }

    fn position_of(&self, id: &str) -> Option<Position> {
        match self.epoch.parse(id) {
            Parsed::Ours(seq) => Some(Position::new(0, seq)),
            Parsed::OtherEpoch | Parsed::Unknown => None,
        }
    }

    fn replay<'a>(
        &'a self,
        last_event_id: &'a str,
        until: Position,
        wants: &'a (dyn Fn(&[Topic]) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<Replay, BackendError>> {
        let replay = match self.epoch.parse(last_event_id) {
            Parsed::Ours(seq) => match self.log().history.after(seq, until.low, wants) {
                After::Complete(frames) => Replay::Resumed(frames),
                After::Gone => Replay::Reset(ResetReason::HistoryGone),
                After::Future => Replay::Reset(ResetReason::UnknownId),
            },
            Parsed::OtherEpoch => Replay::Reset(ResetReason::UnknownEpoch),
            Parsed::Unknown => Replay::Reset(ResetReason::UnknownId),
        };
        ready(Ok(replay))
    }

    fn store_signal(
        &self,
        expect: Expect,
        change: SignalChange,
    ) -> BoxFuture<'_, Result<Stored, BackendError>> {
        let mut log = self.log();
        match (expect, log.signals.get(&change.name)) {
            (Expect::Absent, None) => {}
            (Expect::Version(expected), Some((version, _))) if *version == expected => {}
            (Expect::Version(_), None) => return ready(Ok(Stored::NotFound)),
            (_, Some((version, value))) => {
                return ready(Ok(Stored::Conflict(*version, value.clone())))
            }
        }
        let body = change.body();
        let topics = vec![change.name.clone()];
        let id = self.push(&mut log, topics, &body, |feed, at, id, frame| {
            feed.deliver_change(at, id, &change, frame)
        });
        log.signals
            .insert(change.name, (change.version, change.value));
        ready(Ok(Stored::Stored(id)))
    }

    fn signal<'a>(
        &'a self,
        name: &'a Topic,
    ) -> BoxFuture<'a, Result<Option<SignalState>, BackendError>> {
        ready(Ok(self.log().signals.get(name).cloned()))
    }

    fn history(&self) -> (usize, usize) {
        let log = self.log();
        (log.history.len(), log.history.bytes())
    }

    fn health(&self) -> Health {
        Health {
            kind: "memory",
            ok: true,
            state: "ok".into(),
        }
    }
}
