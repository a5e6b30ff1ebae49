//! Event ids: assigned by the hub, opaque to clients, carrying an epoch.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// The id the hub gave an event; clients send it back as `Last-Event-ID`.
///
/// Its text is opaque: `{epoch}-{sequence}` today, where the epoch changes
/// each time a hub with in-memory history starts, so that ids from before a
/// restart are recognised (and answered with a reset) instead of misread.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    /// Wraps an id a [`Backend`](crate::backend::Backend) assigned. It must
    /// fit an `id:` line: no CR, LF or NUL.
    pub fn new(id: impl Into<String>) -> Result<EventId, ssehub_core::EventError> {
        let id = id.into();
        ssehub_core::check_id(&id)?;
        Ok(EventId(id))
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> String {
        id.0
    }
}

/// Where an event stands in a backend's one order: events are delivered in
/// increasing positions. The in-memory backend counts in `low`; Redis
/// Streams put a stream id's milliseconds in `high` and its sequence in `low`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The more significant part.
    pub high: u64,
    /// The less significant part.
    pub low: u64,
}

impl Position {
    /// Before every event.
    pub const ZERO: Position = Position { high: 0, low: 0 };

    /// A position from its two parts.
    pub const fn new(high: u64, low: u64) -> Position {
        Position { high, low }
    }
}

/// Turns sequence numbers into ids of one epoch, and back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epoch(u32);

/// How an id given by a client relates to this hub.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// One of ours: the sequence number of the event.
    Ours(u64),
    /// Well formed, but from another epoch (a restart, or another hub).
    OtherEpoch,
    /// Not an id this hub could have given.
    Unknown,
}

impl Epoch {
    /// A fresh random epoch (randomness from the standard library's hasher keys).
    pub(crate) fn random() -> Epoch {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        Epoch(h.finish() as u32)
    }

    pub(crate) fn id(self, seq: u64) -> EventId {
        EventId(format!("{:08x}-{seq}", self.0))
    }

    pub(crate) fn parse(self, id: &str) -> Parsed {
        let Some((epoch, seq)) = id.split_once('-') else {
            return Parsed::Unknown;
        };
        let (Ok(epoch), Ok(seq)) = (u32::from_str_radix(epoch, 16), seq.parse::<u64>()) else {
            return Parsed::Unknown;
        };
        if epoch != self.0 {
            Parsed::OtherEpoch
        } else {
            Parsed::Ours(seq)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_ids_must_fit_an_id_line() {
        assert_eq!(
            EventId::new("1764150000000-0").unwrap().as_str(),
            "1764150000000-0"
        );
        assert!(EventId::new("a\nb").is_err());
        assert!(EventId::new("a\rb").is_err());
        assert!(EventId::new("a\0b").is_err());
    }

    #[test]
    fn ids_round_trip_and_epochs_differ() {
        let a = Epoch(0xabc);
        assert_eq!(a.id(42).as_str(), "00000abc-42");
        assert_eq!(a.parse("00000abc-42"), Parsed::Ours(42));
        assert_eq!(a.parse("00000abd-42"), Parsed::OtherEpoch);
        assert_eq!(a.parse("garbage"), Parsed::Unknown);
        assert_eq!(a.parse("00000abc-x"), Parsed::Unknown);
        assert_eq!(a.parse(""), Parsed::Unknown);
    }
}
