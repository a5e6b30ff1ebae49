//! Property tests: what the encoder writes, the parser reads back as built;
//! and parsing does not depend on how the input is split.

use proptest::prelude::*;
use ssehub_core::{Event, Item, ItemRef, Limits, MessageEvent, Parser};
use std::time::Duration;

/// Line breaks reach a client as LF, whatever was built.
fn normalise(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

fn parse_pieces(pieces: &[&[u8]], limits: Limits) -> (Vec<Item>, bool, String) {
    let mut parser = Parser::with_limits(limits);
    let mut failed = false;
    for piece in pieces {
        if parser.feed(piece).is_err() {
            failed = true;
            break;
        }
    }
    let id = parser.last_event_id().to_owned();
    parser.finish();
    (parser.drain().collect(), failed, id)
}

/// Any Unicode text, with line breaks of every kind mixed in often.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>().prop_map(String::from),
            1 => Just("\n".to_owned()),
            1 => Just("\r".to_owned()),
            1 => Just("\r\n".to_owned()),
            1 => Just(" ".to_owned()),
            1 => Just(":".to_owned()),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

fn one_line() -> impl Strategy<Value = String> {
    text().prop_map(|s| s.replace(['\r', '\n'], ""))
}

#[derive(Debug, Clone)]
struct Built {
    data: String,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    comment: Option<String>,
}

fn built() -> impl Strategy<Value = Built> {
    (
        text(),
        prop::option::of(one_line()),
        prop::option::of(one_line().prop_map(|s| s.replace('\0', ""))),
        prop::option::of(0u64..10_000_000),
        prop::option::of(text()),
    )
        .prop_map(|(data, event, id, retry, comment)| Built {
            data,
            event,
            id,
            retry,
            comment,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_parse_returns_the_built_events(events in prop::collection::vec(built(), 1..6)) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        let mut last_id = String::new();
        for b in &events {
            let mut builder = Event::builder().data(b.data.clone());
            if let Some(event) = &b.event {
                builder = builder.event(event.clone());
            }
            if let Some(id) = &b.id {
                builder = builder.id(id.clone());
                last_id = id.clone();
            }
            if let Some(retry) = b.retry {
                builder = builder.retry(Duration::from_millis(retry));
                expected.push(Item::Retry(retry));
            }
            if let Some(comment) = &b.comment {
                builder = builder.comment(comment.clone());
            }
            let event = builder.build().expect("valid by construction");
            prop_assert_eq!(event.encoded_len(), event.encode().len());
            wire.extend_from_slice(&event.encode());
            expected.push(Item::Event(MessageEvent {
                event: match b.event.as_deref() {
                    None | Some("") => "message".to_owned(),
                    Some(t) => t.to_owned(),
                },
                data: normalise(&b.data),
                last_event_id: last_id.clone(),
            }));
        }
        let (items, failed, _) = parse_pieces(&[&wire], Limits::default());
        prop_assert!(!failed);
        prop_assert_eq!(items, expected);
    }

    #[test]
    fn event_type_and_id_with_line_breaks_are_refused(s in text()) {
        let has_break = s.contains(['\r', '\n']);
        prop_assert_eq!(Event::builder().event(s.clone()).build().is_err(), has_break);
        prop_assert_eq!(
            Event::builder().id(s.clone()).build().is_err(),
            has_break || s.contains('\0')
        );
    }

    #[test]
    fn any_split_parses_like_the_whole(
        input in sse_like_bytes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        small_limits in any::<bool>(),
    ) {
        let limits = limits(small_limits);
        let pieces = split(&input, &cuts);
        prop_assert_eq!(parse_pieces(&pieces, limits), parse_pieces(&[&input], limits));
    }

    /// `feed_with` lends exactly the items `feed` queues, in the same order,
    /// and stops at the same error, for any split of the input.
    #[test]
    fn lent_items_are_the_queued_items(
        input in sse_like_bytes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        small_limits in any::<bool>(),
    ) {
        let limits = limits(small_limits);
        let (mut queued, mut lent) = (Parser::with_limits(limits), Parser::with_limits(limits));
        let (mut queued_items, mut lent_items) = (Vec::new(), Vec::new());
        for piece in split(&input, &cuts) {
            let a = queued.feed(piece);
            queued_items.extend(queued.drain());
            let b = lent.feed_with(piece, |item: ItemRef<'_>| lent_items.push(Item::from(item)));
            prop_assert_eq!(&a, &b);
            if a.is_err() {
                break;
            }
        }
        prop_assert_eq!(queued_items, lent_items);
        prop_assert_eq!(queued.last_event_id(), lent.last_event_id());
    }
}

/// Small limits (so that proptest reaches the limit errors) or the defaults.
fn limits(small: bool) -> Limits {
    if small {
        Limits {
            max_line_bytes: 24,
            max_event_bytes: 48,
        }
    } else {
        Limits::default()
    }
}

/// `input` cut at the given points (in any order, repeats allowed).
fn split<'a>(input: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for p in points {
        pieces.push(&input[start..p]);
        start = p;
    }
    pieces.push(&input[start..]);
    pieces
}

/// Bytes shaped like event streams (fields, separators, line endings, BOMs,
/// NULs, invalid and split UTF-8), so that splits land in interesting places.
fn sse_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"data".to_vec()),
        Just(b"event".to_vec()),
        Just(b"id".to_vec()),
        Just(b"retry".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xE2\x82\xAC".to_vec()),
        Just(b"\xE2\x82".to_vec()),
        Just(b"\xFF".to_vec()),
        Just(b"123".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}
