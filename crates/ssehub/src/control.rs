//! The hub's own events, which tell a client what happened to its stream.
//!
//! | type | when | data | id |
//! |---|---|---|---|
//! | `ssehub-reset` | first, when a resume could not be honoured | `{"reason": R, "lastEventId": ID}` | the newest event's id: the client continues from there |
//! | `ssehub-gap` | with [`LagPolicy::Skip`](crate::LagPolicy::Skip), where events were skipped | `{"skipped": N}` | the last skipped event's id |
//!
//! Reasons (`R`): `unknown-epoch` (the id is from before a restart or from
//! another hub), `history-gone` (events after the id have left history),
//! `unknown-id` (not an id this hub gives).
//!
//! A client that sees either event knows it missed events and should
//! re-read whatever state it keeps (signals send a fresh snapshot).

use bytes::Bytes;
use ssehub_core::Event;

/// The event type of a reset; see the [module docs](crate::control).
pub const RESET_EVENT: &str = "ssehub-reset";
/// The event type of a gap; see the [module docs](crate::control).
pub const GAP_EVENT: &str = "ssehub-gap";

/// Why a resume could not be honoured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

pub(crate) fn reset_frame(reason: ResetReason, last_event_id: &str, head_id: &str) -> Bytes {
    let data = serde_json::json!({"reason": reason.as_str(), "lastEventId": last_event_id});
    Event::builder()
        .event(RESET_EVENT)
        .json_data(&data)
        .id(head_id)
        .build()
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"event: ssehub-reset\ndata: {}\n\n"))
}

pub(crate) fn gap_frame(skipped: u64, last_skipped_id: Option<&str>) -> Bytes {
    let mut builder = Event::builder()
        .event(GAP_EVENT)
        .json_data(&serde_json::json!({ "skipped": skipped }));
    if let Some(id) = last_skipped_id {
        builder = builder.id(id);
    }
    builder
        .build()
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"event: ssehub-gap\ndata: {}\n\n"))
}

/// The id of a hub frame: hub frames start with their `id:` line.
pub(crate) fn frame_id(frame: &[u8]) -> Option<&str> {
    let rest = frame.strip_prefix(b"id: ")?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    std::str::from_utf8(&rest[..end]).ok()
}
