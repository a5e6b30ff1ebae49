//! The embedded backend: history in memory, delivery in process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::Value;

use crate::backend::{
    Backend, BackendError, BoxFuture, Changed, Created, Health, Record, Replay, SignalState,
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
            }),
            feed: OnceLock::new(),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores and delivers `record` under the log lock `log`.
    fn push(&self, log: &mut Log, record: Record) -> EventId {
        let seq = log.history.head() + 1;
        let id = self.epoch.id(seq);
        // One frame, shared by history and every subscriber's queue.
        let frame = feed::with_id(&id, &record.body);
        if let Some(feed) = self.feed.get() {
            feed.deliver_record(Position::new(0, seq), &id, &record, &frame);
        }
        if let Some(sig) = &record.signal {
            log.signals
                .insert(sig.name.clone(), (sig.version, sig.value.clone()));
        }
        log.history.push(Entry {
            seq,
            topics: record.topics.into_boxed_slice(),
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

    fn append(&self, record: Record) -> BoxFuture<'_, Result<EventId, BackendError>> {
        let mut log = self.log();
        let id = self.push(&mut log, record);
        ready(Ok(id))
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

    fn create_signal(&self, record: Record) -> BoxFuture<'_, Result<Created, BackendError>> {
        let mut log = self.log();
        let Some(sig) = &record.signal else {
            return ready(Err(BackendError::Other("not a signal record".into())));
        };
        if let Some((version, value)) = log.signals.get(&sig.name) {
            return ready(Ok(Created::Exists(*version, value.clone())));
        }
        let id = self.push(&mut log, record);
        ready(Ok(Created::Created(id)))
    }

    fn change_signal(
        &self,
        expected: u64,
        record: Record,
    ) -> BoxFuture<'_, Result<Changed, BackendError>> {
        let mut log = self.log();
        let Some(sig) = &record.signal else {
            return ready(Err(BackendError::Other("not a signal record".into())));
        };
        match log.signals.get(&sig.name) {
            None => ready(Ok(Changed::NotFound)),
            Some((version, value)) if *version != expected => {
                ready(Ok(Changed::Conflict(*version, value.clone())))
            }
            Some(_) => {
                let id = self.push(&mut log, record);
                ready(Ok(Changed::Changed(id)))
            }
        }
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
