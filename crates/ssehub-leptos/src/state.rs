//! The client rule for one signal, with no browser in it (so it is tested on
//! the host): what an event's data does to the value held.

use serde_json::Value;

/// One signal's JSON value and version, as the client holds them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SignalState {
    /// `None` until the first snapshot.
    held: Option<(u64, Value)>,
}

/// What an event did.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The value changed (a snapshot, or a patch applied in order).
    Changed,
    /// A snapshot of the value already held (the version may differ): there
    /// is nothing to show, so a hydrated page that takes its first snapshot
    /// at the rendered value does not change at all.
    Unchanged,
    /// The client is out of step (a version gap or repeat, a patch before any
    /// snapshot, a patch that does not apply, data that is not the signal
    /// format): it must resync, i.e. reopen its `EventSource` without
    /// `Last-Event-ID`, which the hub answers with snapshots. The value held
    /// is unchanged.
    Resync,
}

impl SignalState {
    /// The state of a page the server rendered at version `v` with `value`
    /// (the version hand-over): a snapshot of that value changes nothing, a
    /// newer one or a patch to `v + 1` applies.
    pub(crate) fn rendered(v: u64, value: Value) -> SignalState {
        SignalState {
            held: Some((v, value)),
        }
    }

    /// The value and version held, once a snapshot came.
    pub(crate) fn get(&self) -> Option<(u64, &Value)> {
        self.held.as_ref().map(|(v, value)| (*v, value))
    }

    /// Applies the data of one event of the signal: `{"v": V, "snapshot":
    /// VALUE}` replaces the value; `{"v": V, "patch": [RFC 6902 ops]}` is
    /// applied (to a copy) only when V is one more than the version held.
    pub(crate) fn receive(&mut self, data: &str) -> Outcome {
        let Ok(Value::Object(mut data)) = serde_json::from_str::<Value>(data) else {
            return Outcome::Resync;
        };
        let Some(v) = data.get("v").and_then(Value::as_u64) else {
            return Outcome::Resync;
        };
        if let Some(snapshot) = data.remove("snapshot") {
            let same = self.get().is_some_and(|(_, held)| *held == snapshot);
            self.held = Some((v, snapshot));
            return if same {
                Outcome::Unchanged
            } else {
                Outcome::Changed
            };
        }
        let Some((held, value)) = &self.held else {
            return Outcome::Resync;
        };
        if held.checked_add(1) != Some(v) {
            return Outcome::Resync;
        }
        let Some(Ok(patch)) = data
            .remove("patch")
            .map(serde_json::from_value::<json_patch::Patch>)
        else {
            return Outcome::Resync;
        };
        let mut next = value.clone();
        if json_patch::patch(&mut next, &patch).is_err() {
            return Outcome::Resync;
        }
        self.held = Some((v, next));
        Outcome::Changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state_at(v: u64, value: Value) -> SignalState {
        let mut s = SignalState::default();
        let data = json!({ "v": v, "snapshot": value }).to_string();
        assert_eq!(s.receive(&data), Outcome::Changed);
        s
    }

    #[test]
    fn a_snapshot_replaces_the_value_whatever_the_version() {
        let mut s = state_at(7, json!({ "value": 1 }));
        assert_eq!(s.get(), Some((7, &json!({ "value": 1 }))));
        // Older or newer: a snapshot always wins (it follows a reset).
        assert_eq!(
            s.receive(r#"{"v": 2, "snapshot": {"value": 9}}"#),
            Outcome::Changed
        );
        assert_eq!(s.get(), Some((2, &json!({ "value": 9 }))));
    }

    #[test]
    fn a_snapshot_of_the_value_held_changes_nothing_but_the_version() {
        let mut s = state_at(4, json!({ "value": 1 }));
        assert_eq!(
            s.receive(r#"{"v": 6, "snapshot": {"value": 1}}"#),
            Outcome::Unchanged
        );
        assert_eq!(s.get(), Some((6, &json!({ "value": 1 }))));
        // The next patch is at the snapshot's version.
        let patch = json!({ "v": 7, "patch": [{ "op": "replace", "path": "/value", "value": 2 }] });
        assert_eq!(s.receive(&patch.to_string()), Outcome::Changed);
        assert_eq!(s.get(), Some((7, &json!({ "value": 2 }))));
    }

    /// The version hand-over from a server-rendered page: the client holds
    /// what the server rendered at version 5, then its `EventSource` brings
    /// a snapshot (the hub answers a new subscription with one) and patches.
    #[test]
    fn a_rendered_state_continues_from_the_rendered_version() {
        let rendered = || SignalState::rendered(5, json!({ "count": 5 }));
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

    #[test]
    fn a_patch_applies_only_at_the_next_version() {
        let mut s = state_at(3, json!({ "value": 1, "name": "a" }));
        let patch = |v: u64, n: i64| {
            json!({ "v": v, "patch": [{ "op": "replace", "path": "/value", "value": n }] })
                .to_string()
        };
        assert_eq!(s.receive(&patch(4, 2)), Outcome::Changed);
        assert_eq!(s.get(), Some((4, &json!({ "value": 2, "name": "a" }))));
        // A repeat, a gap: resync, value unchanged.
        for v in [4, 6, 3, 0] {
            assert_eq!(s.receive(&patch(v, -1)), Outcome::Resync, "v = {v}");
            assert_eq!(s.get(), Some((4, &json!({ "value": 2, "name": "a" }))));
        }
        assert_eq!(s.receive(&patch(5, 3)), Outcome::Changed);
        assert_eq!(s.get(), Some((5, &json!({ "value": 3, "name": "a" }))));
    }

    #[test]
    fn a_patch_that_does_not_apply_changes_nothing() {
        let mut s = state_at(0, json!({ "list": [1] }));
        // The first op applies, the second fails: all or nothing.
        let data = json!({ "v": 1, "patch": [
            { "op": "add", "path": "/list/-", "value": 2 },
            { "op": "test", "path": "/list/0", "value": 5 },
        ] });
        assert_eq!(s.receive(&data.to_string()), Outcome::Resync);
        assert_eq!(s.get(), Some((0, &json!({ "list": [1] }))));
        let data = json!({ "v": 1, "patch": [{ "op": "remove", "path": "/nope" }] });
        assert_eq!(s.receive(&data.to_string()), Outcome::Resync);
        let data = json!({ "v": 1, "patch": [
            { "op": "add", "path": "/list/-", "value": 2 },
            { "op": "replace", "path": "", "value": { "list": [0, 1, 2] } },
        ] });
        assert_eq!(s.receive(&data.to_string()), Outcome::Changed);
        assert_eq!(s.get(), Some((1, &json!({ "list": [0, 1, 2] }))));
    }

    #[test]
    fn anything_else_resyncs() {
        let mut s = SignalState::default();
        // A patch before any snapshot.
        let patch = r#"{"v": 1, "patch": [{"op": "replace", "path": "", "value": 1}]}"#;
        assert_eq!(s.receive(patch), Outcome::Resync);
        assert_eq!(s.get(), None);
        let mut s = state_at(0, json!(0));
        for data in [
            "",
            "not json",
            "[1]",
            r#"{"snapshot": 1}"#,
            r#"{"v": -1, "snapshot": 1}"#,
            r#"{"v": 1}"#,
            r#"{"v": 1, "patch": {"op": "replace"}}"#,
            r#"{"v": 1, "patch": [{"op": "frobnicate", "path": ""}]}"#,
        ] {
            assert_eq!(s.receive(data), Outcome::Resync, "{data:?}");
            assert_eq!(s.get(), Some((0, &json!(0))), "{data:?}");
        }
    }
}
