//! Server signals on the wire, and the one rule that applies them.
//!
//! A signal named `N` is the topic `N`. Its events have the type `N` and JSON
//! data, a [`SignalMessage`]:
//!
//! - `{"v": V, "snapshot": VALUE}`: the value at version `V` (first, to a new
//!   subscriber, after a reset, and when the signal is created);
//! - `{"v": V, "patch": [RFC 6902 operations]}`: the change from `V - 1` to
//!   `V`.
//!
//! The rule ([`apply`]): a snapshot always replaces the value held; a patch
//! applies only at version `held + 1`, and only if it applies. Anything else
//! (a gap, a repeat, a patch before any snapshot, a patch that does not
//! apply, data that is not a signal message) is a [`Resync`]: the client
//! holds on to its value and reopens its stream without `Last-Event-ID`,
//! which the hub answers with a snapshot.
//!
//! ```
//! use ssehub_core::protocol::signal::{Outcome, SignalState};
//!
//! let mut state = SignalState::new();
//! assert_eq!(state.receive(r#"{"v":3,"snapshot":{"n":1}}"#), Outcome::Changed);
//! assert_eq!(state.receive(r#"{"v":4,"patch":[{"op":"replace","path":"/n","value":2}]}"#), Outcome::Changed);
//! assert_eq!(state.get(), Some((4, &serde_json::json!({"n": 2}))));
//! // Version 5 never came: resync, keeping the value held.
//! assert_eq!(state.receive(r#"{"v":6,"patch":[]}"#), Outcome::Resync);
//! assert_eq!(state.version(), Some(4));
//! ```

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// RFC 6902 operations, as the `json-patch` crate reads and applies them.
pub use json_patch::Patch;

/// The data of one signal event.
#[derive(Clone, Debug, PartialEq)]
pub enum SignalMessage {
    /// `{"v": V, "snapshot": VALUE}`.
    Snapshot {
        /// The version of `value`.
        v: u64,
        /// The whole value.
        value: Value,
    },
    /// `{"v": V, "patch": [ops]}`.
    Patch {
        /// The version after the operations.
        v: u64,
        /// The operations from version `v - 1`.
        ops: Patch,
    },
}

#[derive(Serialize)]
struct SnapshotData<'a> {
    v: u64,
    snapshot: &'a Value,
}

#[derive(Serialize)]
struct PatchData<'a> {
    v: u64,
    patch: &'a Patch,
}

/// The data of a snapshot message: `{"v": V, "snapshot": VALUE}`.
pub fn snapshot_data(v: u64, value: &Value) -> String {
    serde_json::to_string(&SnapshotData { v, snapshot: value })
        .unwrap_or_else(|_| unreachable_json())
}

/// The data of a patch message: `{"v": V, "patch": [ops]}`.
pub fn patch_data(v: u64, ops: &Patch) -> String {
    serde_json::to_string(&PatchData { v, patch: ops }).unwrap_or_else(|_| unreachable_json())
}

/// A `serde_json::Value` and a `Patch` always serialize; this is never
/// reached (and would make every client resync, not crash, if it were).
fn unreachable_json() -> String {
    String::from("{}")
}

impl SignalMessage {
    /// The version the message brings the signal to.
    pub fn version(&self) -> u64 {
        match self {
            SignalMessage::Snapshot { v, .. } | SignalMessage::Patch { v, .. } => *v,
        }
    }

    /// Reads an event's data. A `snapshot` member (even `null`) makes it a
    /// snapshot, whatever else is there; otherwise it must have a `patch`.
    /// Other members are ignored.
    pub fn parse(data: &str) -> Result<SignalMessage, MessageError> {
        let Value::Object(mut data) = serde_json::from_str::<Value>(data)
            .map_err(|e| MessageError::NotJson(e.to_string()))?
        else {
            return Err(MessageError::NotAnObject);
        };
        let v = data
            .get("v")
            .and_then(Value::as_u64)
            .ok_or(MessageError::NoVersion)?;
        if let Some(value) = data.remove("snapshot") {
            return Ok(SignalMessage::Snapshot { v, value });
        }
        let ops = data.remove("patch").ok_or(MessageError::Neither)?;
        let ops =
            serde_json::from_value(ops).map_err(|e| MessageError::InvalidPatch(e.to_string()))?;
        Ok(SignalMessage::Patch { v, ops })
    }

    /// The message as event data.
    pub fn to_data(&self) -> String {
        match self {
            SignalMessage::Snapshot { v, value } => snapshot_data(*v, value),
            SignalMessage::Patch { v, ops } => patch_data(*v, ops),
        }
    }
}

/// Why event data is not a signal message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// No `v`, or one that is not a whole number from 0 to 2^64 - 1.
    #[error("no version: \"v\" must be a whole number >= 0")]
    NoVersion,
    /// Neither `snapshot` nor `patch`.
    #[error("neither \"snapshot\" nor \"patch\"")]
    Neither,
    /// A `patch` that is not a list of RFC 6902 operations.
    #[error("\"patch\" is not a list of RFC 6902 operations: {0}")]
    InvalidPatch(String),
}

/// Why a message could not be applied: the client must resync.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Resync {
    /// The data is not a signal message.
    Malformed(MessageError),
    /// A patch to version `got` while holding `held` (`None`: no snapshot
    /// yet): a gap or a repeat.
    OutOfStep {
        /// The version held.
        held: Option<u64>,
        /// The patch's version.
        got: u64,
    },
    /// A patch at the right version that does not apply (a failed `test`,
    /// a missing path).
    DoesNotApply(String),
}

impl fmt::Display for Resync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resync::Malformed(e) => write!(f, "not a signal message: {e}"),
            Resync::OutOfStep { held: None, got } => {
                write!(f, "a patch to version {got} before any snapshot")
            }
            Resync::OutOfStep {
                held: Some(held),
                got,
            } => write!(f, "a patch to version {got} while at version {held}"),
            Resync::DoesNotApply(e) => write!(f, "the patch does not apply: {e}"),
        }
    }
}

impl std::error::Error for Resync {}

/// The rule: what `message` makes of the version and value `held`. A
/// snapshot is taken whatever its version; a patch applies only at `held +
/// 1` and only if it applies; else [`Resync`] (and `held` stays as it was).
pub fn apply(held: Option<(u64, &Value)>, message: SignalMessage) -> Result<(u64, Value), Resync> {
    match message {
        SignalMessage::Snapshot { v, value } => Ok((v, value)),
        SignalMessage::Patch { v, ops } => {
            let Some((_, value)) = held.filter(|(version, _)| version.checked_add(1) == Some(v))
            else {
                return Err(Resync::OutOfStep {
                    held: held.map(|(version, _)| version),
                    got: v,
                });
            };
            let mut next = value.clone();
            json_patch::patch(&mut next, &ops).map_err(|e| Resync::DoesNotApply(e.to_string()))?;
            Ok((v, next))
        }
    }
}

/// What one event did to a [`SignalState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The value changed: a snapshot of another value, or a patch applied.
    Changed,
    /// A snapshot of the value already held (its version may differ):
    /// nothing to show. A page hydrated at a rendered value does not flash.
    Unchanged,
    /// Out of step: reopen the stream without `Last-Event-ID` (see the
    /// [module docs](self)). The value held is unchanged.
    Resync,
}

/// One signal's value and version as a client holds them, following the
/// rule ([`apply`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignalState {
    held: Option<(u64, Value)>,
}

impl SignalState {
    /// Nothing held yet: the first message must be a snapshot.
    pub fn new() -> SignalState {
        SignalState::default()
    }

    /// Holding `value` at version `v` (a page the server rendered then).
    pub fn rendered(v: u64, value: Value) -> SignalState {
        SignalState {
            held: Some((v, value)),
        }
    }

    /// The version and value held, once a snapshot came.
    pub fn get(&self) -> Option<(u64, &Value)> {
        self.held.as_ref().map(|(v, value)| (*v, value))
    }

    /// The version held.
    pub fn version(&self) -> Option<u64> {
        self.held.as_ref().map(|(v, _)| *v)
    }

    /// Takes one event's data.
    pub fn receive(&mut self, data: &str) -> Outcome {
        self.try_receive(data).unwrap_or(Outcome::Resync)
    }

    /// Takes one event's data, saying why when it asks for a resync.
    pub fn try_receive(&mut self, data: &str) -> Result<Outcome, Resync> {
        let message = SignalMessage::parse(data).map_err(Resync::Malformed)?;
        self.try_apply(message)
    }

    /// Takes one message.
    pub fn try_apply(&mut self, message: SignalMessage) -> Result<Outcome, Resync> {
        let snapshot = matches!(message, SignalMessage::Snapshot { .. });
        let (v, value) = apply(self.get(), message)?;
        let same = snapshot && self.get().is_some_and(|(_, held)| *held == value);
        self.held = Some((v, value));
        Ok(if same {
            Outcome::Unchanged
        } else {
            Outcome::Changed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_read_back_as_written() {
        let ops: Patch =
            serde_json::from_value(json!([{"op": "replace", "path": "/n", "value": 2}])).unwrap();
        for message in [
            SignalMessage::Snapshot {
                v: 0,
                value: json!({"n": [1, "x"]}),
            },
            SignalMessage::Snapshot {
                v: 9,
                value: Value::Null,
            },
            SignalMessage::Patch { v: 7, ops },
        ] {
            assert_eq!(SignalMessage::parse(&message.to_data()), Ok(message));
        }
    }

    #[test]
    fn a_resync_says_why() {
        let mut state = SignalState::new();
        assert_eq!(
            state.try_receive(r#"{"v":1,"patch":[]}"#),
            Err(Resync::OutOfStep { held: None, got: 1 })
        );
        assert_eq!(
            state.try_receive(r#"{"v":1}"#),
            Err(Resync::Malformed(MessageError::Neither))
        );
        assert_eq!(state.receive(r#"{"v":1,"snapshot":{}}"#), Outcome::Changed);
        let Err(Resync::DoesNotApply(_)) =
            state.try_receive(r#"{"v":2,"patch":[{"op":"remove","path":"/x"}]}"#)
        else {
            panic!("a patch that does not apply")
        };
        assert_eq!(state.get(), Some((1, &json!({}))));
    }
}
