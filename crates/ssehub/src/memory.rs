//! The embedded backend: history in memory, delivery in process.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ssehub_core::Event;

use crate::backend::Replay;
use crate::backend::{Attached, Backend};
use crate::control::ResetReason;
use crate::error::PublishError;
use crate::history::{After, Entry, History};
use crate::id::{Cursor, Epoch, EventId, Parsed};
use crate::registry::Registry;
use crate::subscriber::Subscriber;
use crate::topic::Topic;

/// History in memory; ids carry an epoch chosen at start.
#[derive(Debug)]
pub(crate) struct Memory {
    epoch: Epoch,
    log: Mutex<History>,
}

impl Memory {
    pub(crate) fn new(max_events: usize, max_bytes: usize) -> Memory {
        Memory {
            epoch: Epoch::random(),
            log: Mutex::new(History::new(max_events, max_bytes)),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, History> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for Memory {
    fn publish(
        &self,
        registry: &Registry,
        topics: Vec<Topic>,
        event: Event,
    ) -> Result<EventId, PublishError> {
        // The log lock orders publishes: ids, history and every subscriber's
        // queue all see the same order.
        let mut log = self.log();
        let seq = log.head() + 1;
        let id = self.epoch.id(seq);
        let frame = Bytes::from(event.with_id(id.as_str())?);
        registry.deliver(Cursor(seq), &topics, &frame);
        log.push(Entry {
            seq,
            topics: topics.into_boxed_slice(),
            frame,
        });
        Ok(id)
    }

    fn attach(
        &self,
        registry: &Registry,
        make: &mut dyn FnMut(Cursor) -> Arc<Subscriber>,
        last_event_id: Option<&str>,
    ) -> Attached {
        // Registering under the log lock: no publish falls between the replay
        // and the first live event, so there is no gap and no duplicate.
        let log = self.log();
        let head = log.head();
        let sub = make(Cursor(head));
        let replay = match last_event_id {
            None => Replay::Fresh,
            Some(id) => match self.epoch.parse(id) {
                Parsed::Ours(seq) => match log.after(seq, |t| sub.wants(t)) {
                    After::Complete(frames) => Replay::Resumed(frames),
                    After::Gone => Replay::Reset(ResetReason::HistoryGone),
                    After::Future => Replay::Reset(ResetReason::UnknownId),
                },
                Parsed::OtherEpoch => Replay::Reset(ResetReason::UnknownEpoch),
                Parsed::Unknown => Replay::Reset(ResetReason::UnknownId),
            },
        };
        registry.register(sub.clone());
        Attached {
            sub,
            replay,
            head_id: self.epoch.id(head),
        }
    }

    fn history(&self) -> (usize, usize) {
        let log = self.log();
        (log.len(), log.bytes())
    }
}
