//! The seam between the hub and where events are stored and ordered.
//!
//! The in-memory backend ([`Memory`](crate::memory::Memory)) is the default.
//! A backend assigns ids, keeps history, and hands every event, in its one
//! order, to the local [`Registry`]; it attaches new subscribers so that their
//! replay and their live events meet without a gap or a duplicate. The hub's
//! public methods are `async` so that a networked backend (Redis Streams, a
//! later crate) fits behind this trait without changing them.

use std::sync::Arc;

use bytes::Bytes;
use ssehub_core::Event;

use crate::control::ResetReason;
use crate::error::PublishError;
use crate::id::{Cursor, EventId};
use crate::registry::Registry;
use crate::subscriber::Subscriber;
use crate::topic::Topic;

/// A subscriber registered by a backend, with what it must be sent first.
#[derive(Debug)]
pub(crate) struct Attached {
    pub(crate) sub: Arc<Subscriber>,
    pub(crate) replay: Replay,
    /// The id of the newest event when the subscriber was attached.
    pub(crate) head_id: EventId,
}

pub(crate) trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Stores the event, assigns its id, and delivers it to `registry`.
    fn publish(
        &self,
        registry: &Registry,
        topics: Vec<Topic>,
        event: Event,
    ) -> Result<EventId, PublishError>;

    /// Creates (with `make`, given the newest event's cursor) and registers a
    /// subscriber, and works out its replay from `last_event_id`.
    fn attach(
        &self,
        registry: &Registry,
        make: &mut dyn FnMut(Cursor) -> Arc<Subscriber>,
        last_event_id: Option<&str>,
    ) -> Attached;

    /// Events and bytes held in history.
    fn history(&self) -> (usize, usize);
}

/// What a new subscriber gets before live events.
#[derive(Debug)]
pub(crate) enum Replay {
    /// Nothing: it did not ask to resume.
    Fresh,
    /// The frames it missed, in order.
    Resumed(Vec<Bytes>),
    /// A reset: the resume could not be honoured.
    Reset(ResetReason),
}
