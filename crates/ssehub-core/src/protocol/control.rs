//! The hub's own events, which tell a client what happened to its stream.
//!
//! | type | when | data | id |
//! |---|---|---|---|
//! | `ssehub-reset` | first, when a resume could not be honoured | `{"reason": R, "lastEventId": ID}` | the newest event's id: the client continues from there |
//! | `ssehub-gap` | where a subscriber that skips when it lags skipped events | `{"skipped": N}` | the last skipped event's id |
//! | `ssehub-connected` | first, when the subscription asked (`connected=1`) | `{"id": CONNECTION_ID}` | none (the client's last event id stays) |
//!
//! Reasons (`R`): `unknown-epoch` (the id is from before a restart or from
//! another hub), `history-gone` (events after the id have left history),
//! `unknown-id` (not an id this hub gives).
//!
//! A client that sees either event knows it missed events and should
//! re-read whatever state it keeps (signals send a fresh snapshot).

use serde::{Deserialize, Serialize};

use crate::{Event, EventError};

/// The event type of a reset.
pub const RESET_EVENT: &str = "ssehub-reset";
/// The event type of a gap.
pub const GAP_EVENT: &str = "ssehub-gap";
/// The event type that tells a stream its connection id.
pub const CONNECTED_EVENT: &str = "ssehub-connected";

/// Why a resume could not be honoured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ResetReason {
    /// The id is from another epoch: a restart, or another hub.
    UnknownEpoch,
    /// Events after the id have left history.
    HistoryGone,
    /// Not an id this hub gives.
    UnknownId,
}

impl ResetReason {
    /// The reason as written in the reset event.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::UnknownEpoch => "unknown-epoch",
            ResetReason::HistoryGone => "history-gone",
            ResetReason::UnknownId => "unknown-id",
        }
    }
}

/// The data of an `ssehub-reset` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    /// Why the resume was not honoured.
    pub reason: ResetReason,
    /// The id the client asked to resume after.
    #[serde(rename = "lastEventId")]
    pub last_event_id: String,
}

impl Reset {
    /// The reset event, with the id of the newest event (where the client
    /// continues from).
    pub fn event(&self, head_id: &str) -> Result<Event, EventError> {
        Event::builder()
            .event(RESET_EVENT)
            .json_data(self)
            .id(head_id)
            .build()
    }
}

/// The data of an `ssehub-gap` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// How many events were skipped.
    pub skipped: u64,
}

impl Gap {
    /// The gap event, with the id of the last skipped event when known.
    pub fn event(&self, last_skipped_id: Option<&str>) -> Result<Event, EventError> {
        let mut builder = Event::builder().event(GAP_EVENT).json_data(self);
        if let Some(id) = last_skipped_id {
            builder = builder.id(id);
        }
        builder.build()
    }
}

/// The data of an `ssehub-connected` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// The stream's connection id (what `$conn/ID` and
    /// `DELETE /connections/ID` take).
    pub id: String,
}

impl Connected {
    /// The event, without an id: it is no stored event, and leaves the
    /// client's last event id as it was.
    pub fn event(&self) -> Result<Event, EventError> {
        Event::builder()
            .event(CONNECTED_EVENT)
            .json_data(self)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_all, Item};

    #[test]
    fn a_reset_reads_back_as_written() {
        let reset = Reset {
            reason: ResetReason::HistoryGone,
            last_event_id: "e1-4".into(),
        };
        let frame = reset.event("e1-9").unwrap().encode();
        let Item::Event(got) = &parse_all(&frame).unwrap()[0] else {
            panic!("not an event")
        };
        assert_eq!(got.event, RESET_EVENT);
        assert_eq!(got.last_event_id, "e1-9");
        assert_eq!(
            got.data,
            r#"{"reason":"history-gone","lastEventId":"e1-4"}"#
        );
        assert_eq!(serde_json::from_str::<Reset>(&got.data).unwrap(), reset);
    }

    #[test]
    fn reasons_are_written_as_documented() {
        for reason in [
            ResetReason::UnknownEpoch,
            ResetReason::HistoryGone,
            ResetReason::UnknownId,
        ] {
            assert_eq!(
                serde_json::to_string(&reason).unwrap(),
                format!("\"{}\"", reason.as_str())
            );
        }
    }
}
