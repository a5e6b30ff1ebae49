//! The version hand-over from a server-rendered page to the hydrating one:
//! what the server rendered of a signal (its version and value) travels with
//! the page, so that the browser starts from it.
//!
//! It travels as Leptos's shared data ([`SharedValue`]): the server writes it
//! into the page (a small script next to the HTML, as Leptos does for its
//! resources), and the hydrating page reads it back in the same order, with
//! no request. Without a server render (CSR, or a component created after
//! hydration) there is nothing to hand over.

use leptos::prelude::SharedValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ssehub_core::protocol::signal::SignalState;

/// What the server rendered of a signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rendered {
    /// The signal's version.
    pub(crate) v: u64,
    /// Its JSON value at that version.
    pub(crate) value: Value,
}

impl Rendered {
    /// What the hydrating page's client holds: the rendered value at the
    /// rendered version. A snapshot of that value changes nothing (no
    /// flash), a newer one or a patch to `v + 1` applies.
    pub(crate) fn into_state(self) -> SignalState {
        SignalState::rendered(self.v, self.value)
    }
}

/// On the server (`ssr`): the signal's version and value, read in process
/// from the [`ssehub::Hub`] in the Leptos context, written into the page.
/// On the hydrating page: what the server wrote, read back. `None` when
/// there is no hub in the context or no such signal, and off those two.
pub(crate) fn hand_over(name: &str) -> Option<Rendered> {
    SharedValue::new(|| read(name)).into_inner()
}

/// The signal's current version and value on the server, from the hub in
/// context: this node's copy, with no request to the backend.
#[cfg(feature = "ssr")]
fn read(name: &str) -> Option<Rendered> {
    let hub = leptos::prelude::use_context::<ssehub::Hub>()?;
    let (v, value) = hub.signal_value_now(name)?;
    Some(Rendered { v, value })
}

/// Off the server there is nothing to read.
#[cfg(not(feature = "ssr"))]
fn read(_name: &str) -> Option<Rendered> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use ssehub_core::protocol::signal::Outcome;

    /// The version hand-over, in the client: it holds what the server
    /// rendered at version 5, then its `EventSource` brings a snapshot (the
    /// hub answers a new subscription with one) and patches.
    #[test]
    fn a_rendered_state_continues_from_the_rendered_version() {
        let rendered = || {
            Rendered {
                v: 5,
                value: json!({ "count": 5 }),
            }
            .into_state()
        };
        let patch = |v: u64, n: i64| {
            json!({ "v": v, "patch": [{ "op": "replace", "path": "/count", "value": n }] })
                .to_string()
        };

        // Nothing changed between render and connect: the snapshot is the
        // rendered value, nothing to show (no flash).
        let mut s = rendered();
        assert_eq!(
            s.receive(r#"{"v": 5, "snapshot": {"count": 5}}"#),
            Outcome::Unchanged
        );
        assert_eq!(s.receive(&patch(6, 6)), Outcome::Changed);
        assert_eq!(s.get(), Some((6, &json!({ "count": 6 }))));

        // A change made between render and connect: the snapshot carries
        // it, and it shows (not lost).
        let mut s = rendered();
        assert_eq!(
            s.receive(r#"{"v": 7, "snapshot": {"count": 7}}"#),
            Outcome::Changed
        );
        assert_eq!(s.get(), Some((7, &json!({ "count": 7 }))));
        assert_eq!(s.receive(&patch(8, 8)), Outcome::Changed);

        // Patches straight from the rendered version (a resumed stream)
        // apply; one that skips a version resyncs, the rendered value kept.
        let mut s = rendered();
        assert_eq!(s.receive(&patch(6, 6)), Outcome::Changed);
        let mut s = rendered();
        assert_eq!(s.receive(&patch(7, 7)), Outcome::Resync);
        assert_eq!(s.get(), Some((5, &json!({ "count": 5 }))));

        // A hub that restarted (its signal back at version 0) sends an older
        // snapshot: it wins, as after any reset.
        let mut s = rendered();
        assert_eq!(
            s.receive(r#"{"v": 0, "snapshot": {"count": 0}}"#),
            Outcome::Changed
        );
        assert_eq!(s.get(), Some((0, &json!({ "count": 0 }))));
    }
}
