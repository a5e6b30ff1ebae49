//! Parses arbitrary bytes whole and in pieces (split points taken from the
//! input's first bytes) under small limits: no panic, and the same items and
//! outcome whatever the split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssehub_core::{Item, Limits, ParseError, Parser};

fn run(pieces: &[&[u8]]) -> (Vec<Item>, Option<ParseError>, String) {
    let mut parser = Parser::with_limits(Limits { max_line_bytes: 64, max_event_bytes: 256 });
    let mut error = None;
    for piece in pieces {
        if let Err(e) = parser.feed(piece) {
            error = Some(e);
            break;
        }
    }
    let id = parser.last_event_id().to_owned();
    parser.finish();
    (parser.drain().collect(), error, id)
}

fuzz_target!(|input: &[u8]| {
    let Some((&splits, data)) = input.split_first() else { return };
    let whole = run(&[data]);
    let mut pieces = Vec::new();
    let mut rest = data;
    let mut step = usize::from(splits % 7) + 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        pieces.push(&rest[..n]);
        rest = &rest[n..];
        step = step % 5 + 1;
    }
    assert_eq!(whole, run(&pieces));
});
