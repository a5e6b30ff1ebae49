//! The shared test vectors (`vectors/signal.json`) against the signal rule.
//! `js/ssehub.test.mjs` runs the same file against `js/ssehub.js`.

use serde::Deserialize;
use serde_json::Value;
use ssehub_core::protocol::signal::{Outcome, SignalState};

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    start: Option<Held>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    data: String,
    outcome: String,
    held: Option<Held>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Held {
    v: u64,
    value: Value,
}

#[test]
fn the_signal_rule_follows_the_shared_vectors() {
    let vectors: Vectors =
        serde_json::from_str(include_str!("../vectors/signal.json")).expect("vectors/signal.json");
    assert!(vectors.cases.len() >= 10, "the vectors are all there");
    for case in vectors.cases {
        let mut state = match case.start {
            Some(Held { v, value }) => SignalState::rendered(v, value),
            None => SignalState::new(),
        };
        for (i, step) in case.steps.iter().enumerate() {
            let outcome = match state.receive(&step.data) {
                Outcome::Changed => "changed",
                Outcome::Unchanged => "unchanged",
                Outcome::Resync => "resync",
            };
            let at = format!("{}, step {i} ({})", case.name, step.data);
            assert_eq!(outcome, step.outcome, "{at}");
            let held = state.get().map(|(v, value)| Held {
                v,
                value: value.clone(),
            });
            assert_eq!(held, step.held, "{at}");
        }
    }
}
