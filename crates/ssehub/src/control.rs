//! The hub's own events, which tell a client what happened to its stream:
//! `ssehub-reset`, `ssehub-gap` and `ssehub-connected`. Their types and data are defined once,
//! in [`ssehub_core::protocol::control`] (which documents them), and
//! re-exported here.

use bytes::Bytes;

pub use ssehub_core::protocol::control::{
    Connected, Gap, Reset, ResetReason, CONNECTED_EVENT, GAP_EVENT, RESET_EVENT,
};

pub(crate) fn connected_frame(id: &str) -> Bytes {
    Connected { id: id.to_owned() }
        .event()
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"event: ssehub-connected\ndata: {}\n\n"))
}

pub(crate) fn reset_frame(reason: ResetReason, last_event_id: &str, head_id: &str) -> Bytes {
    let reset = Reset {
        reason,
        last_event_id: last_event_id.to_owned(),
    };
    reset
        .event(head_id)
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"event: ssehub-reset\ndata: {}\n\n"))
}

pub(crate) fn gap_frame(skipped: u64, last_skipped_id: Option<&str>) -> Bytes {
    Gap { skipped }
        .event(last_skipped_id)
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"event: ssehub-gap\ndata: {}\n\n"))
}

/// The id of a hub frame: hub frames start with their `id:` line.
pub(crate) fn frame_id(frame: &[u8]) -> Option<&str> {
    let rest = frame.strip_prefix(b"id: ")?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    std::str::from_utf8(&rest[..end]).ok()
}
