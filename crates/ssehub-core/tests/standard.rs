//! The HTML standard's "interpreting an event stream", case by case: bytes in,
//! items out. Every case is also fed split at every position and byte by byte,
//! which must not change the result.

use ssehub_core::{Item, MessageEvent, Parser};

fn ev(event: &str, data: &str, id: &str) -> Item {
    Item::Event(MessageEvent {
        event: event.into(),
        data: data.into(),
        last_event_id: id.into(),
    })
}

fn msg(data: &str) -> Item {
    ev("message", data, "")
}

fn parse_pieces(pieces: &[&[u8]]) -> Vec<Item> {
    let mut parser = Parser::new();
    for piece in pieces {
        parser.feed(piece).expect("within limits");
    }
    parser.finish();
    parser.drain().collect()
}

type Case = (&'static str, &'static [u8], Vec<Item>);

fn cases() -> Vec<Case> {
    vec![
        // The standard's own examples.
        (
            "spec: three messages",
            b"data: This is the first message.\n\ndata: This is the second message, it\ndata: has two lines.\n\ndata: This is the third message.\n\n",
            vec![
                msg("This is the first message."),
                msg("This is the second message, it\nhas two lines."),
                msg("This is the third message."),
            ],
        ),
        (
            "spec: event types",
            b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
            vec![
                ev("add", "73857293", ""),
                ev("remove", "2153", ""),
                ev("add", "113411", ""),
            ],
        ),
        (
            "spec: ids, comment, id without value resets",
            b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
            vec![
                ev("message", "first event", "1"),
                ev("message", "second event", ""),
                ev("message", " third event", ""),
            ],
        ),
        (
            "spec: data without colon, unterminated last event",
            b"data\n\ndata\ndata\n\ndata:",
            vec![msg(""), msg("\n")],
        ),
        (
            "spec: one space after the colon is removed",
            b"data:test\n\ndata: test\n\n",
            vec![msg("test"), msg("test")],
        ),
        // Line endings.
        ("LF", b"data: a\ndata: b\n\n", vec![msg("a\nb")]),
        ("CRLF", b"data: a\r\ndata: b\r\n\r\n", vec![msg("a\nb")]),
        ("CR", b"data: a\rdata: b\r\r", vec![msg("a\nb")]),
        ("mixed endings", b"data: a\r\ndata: b\rdata: c\n\n", vec![msg("a\nb\nc")]),
        ("LF then CR is two line endings", b"data: a\n\rdata: b\n\n", vec![msg("a"), msg("b")]),
        ("CR CR LF: a line and an empty line", b"data: a\r\r\n", vec![msg("a")]),
        ("CR at the very end ends the event", b"data: a\n\r", vec![msg("a")]),
        ("blank lines between events", b"\n\n\ndata: a\n\n\n\n", vec![msg("a")]),
        // Field parsing.
        ("two spaces keep one", b"data:  x\n\n", vec![msg(" x")]),
        ("tab is not stripped", b"data:\ta\n\n", vec![msg("\ta")]),
        ("colon inside the value", b"data: a: b\n\n", vec![msg("a: b")]),
        ("value that is a colon", b"data::\n\n", vec![msg(":")]),
        ("empty value after colon", b"data:\n\n", vec![msg("")]),
        ("trailing empty data line", b"data: a\ndata\n\n", vec![msg("a\n")]),
        ("field names are case-sensitive", b"Data: a\n\n", vec![]),
        ("space before the colon makes another field", b"data : a\n\n", vec![]),
        ("unknown fields are ignored", b"foo: bar\ndata: a\nfoo\n\n", vec![msg("a")]),
        ("comment only", b": keep-alive\n\n", vec![]),
        ("comment between data lines", b"data: a\n: c\ndata: b\n\n", vec![msg("a\nb")]),
        ("NUL in data is kept", b"data: a\0b\n\n", vec![msg("a\0b")]),
        // Event type.
        ("event type", b"event: custom\ndata: x\n\n", vec![ev("custom", "x", "")]),
        (
            "event type resets after dispatch",
            b"event: custom\ndata: x\n\ndata: y\n\n",
            vec![ev("custom", "x", ""), msg("y")],
        ),
        ("last event type wins", b"event: a\nevent: b\ndata: x\n\n", vec![ev("b", "x", "")]),
        ("empty event type is message", b"event:\ndata: x\n\n", vec![msg("x")]),
        ("event without colon is empty", b"event\ndata: x\n\n", vec![msg("x")]),
        (
            "event type without data resets too",
            b"event: x\n\ndata: y\n\n",
            vec![msg("y")],
        ),
        (
            "event type keeps its spaces",
            b"event:  a b \ndata: x\n\n",
            vec![ev(" a b ", "x", "")],
        ),
        // Last event id.
        ("id persists across events", b"id: 1\ndata: a\n\ndata: b\n\n", vec![ev("message", "a", "1"), ev("message", "b", "1")]),
        (
            "id with NUL is ignored",
            b"id: 1\n\nid: 2\x003\ndata: a\n\n",
            vec![ev("message", "a", "1")],
        ),
        (
            "id on an event without data still counts",
            b"id: 5\n\ndata: a\n\n",
            vec![ev("message", "a", "5")],
        ),
        (
            "empty id resets",
            b"id: 1\ndata: a\n\nid:\ndata: b\n\n",
            vec![ev("message", "a", "1"), ev("message", "b", "")],
        ),
        ("id keeps inner and trailing spaces", b"id:  x \ndata: a\n\n", vec![ev("message", "a", " x ")]),
        ("id after data in the same event", b"data: a\nid: 7\n\n", vec![ev("message", "a", "7")]),
        // Retry.
        ("retry", b"retry: 1000\n\n", vec![Item::Retry(1000)]),
        ("retry with letters is ignored", b"retry: 10a\n", vec![]),
        ("retry with two spaces is ignored", b"retry:  100\n", vec![]),
        ("empty retry is ignored", b"retry:\nretry\n", vec![]),
        ("negative retry is ignored", b"retry: -1\n", vec![]),
        ("fractional retry is ignored", b"retry: 1.5\n", vec![]),
        ("retry zero", b"retry: 0\n", vec![Item::Retry(0)]),
        (
            "retry reported in stream order",
            b"data: a\nretry: 5\n\n",
            vec![Item::Retry(5), msg("a")],
        ),
        ("huge retry saturates", b"retry: 99999999999999999999999\n", vec![Item::Retry(u64::MAX)]),
        ("unterminated retry line is discarded", b"retry: 5", vec![]),
        // Encoding.
        ("BOM at the start is skipped", b"\xEF\xBB\xBFdata: a\n\n", vec![msg("a")]),
        (
            "only one BOM is skipped",
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n",
            vec![msg("b")],
        ),
        (
            "BOM later is part of the field name",
            b"data: a\n\n\xEF\xBB\xBFdata: b\n\n",
            vec![msg("a")],
        ),
        ("partial BOM at the start is data", b"\xEF\xBBdata: a\n\ndata: b\n\n", vec![msg("b")]),
        ("invalid UTF-8 is replaced", b"data: a\xFFb\n\n", vec![msg("a\u{FFFD}b")]),
        ("truncated sequence before LF", b"data: \xE2\x82\n\n", vec![msg("\u{FFFD}")]),
        ("Unicode data", "data: héllo 🌍 ∑\n\n".as_bytes(), vec![msg("héllo 🌍 ∑")]),
        // End of stream.
        ("unterminated event is discarded", b"data: a\n\ndata: b\n", vec![msg("a")]),
        ("unterminated line is discarded", b"data: a", vec![]),
        ("empty stream", b"", vec![]),
    ]
}

#[test]
fn at_least_forty_cases() {
    assert!(cases().len() >= 40, "{} cases", cases().len());
}

#[test]
fn whole_input() {
    for (name, input, expected) in cases() {
        assert_eq!(parse_pieces(&[input]), expected, "case: {name}");
    }
}

#[test]
fn split_at_every_position() {
    for (name, input, expected) in cases() {
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(
                parse_pieces(&[a, b]),
                expected,
                "case: {name}, split at {at}"
            );
        }
    }
}

#[test]
fn byte_by_byte() {
    for (name, input, expected) in cases() {
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_pieces(&pieces), expected, "case: {name}");
    }
}

#[test]
fn last_event_id_counts_only_dispatched_events() {
    let mut parser = Parser::new();
    parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n").unwrap();
    assert_eq!(parser.last_event_id(), "1");
    parser.finish();
    assert_eq!(parser.last_event_id(), "1");
    // The next stream inherits it until it sets another.
    parser.feed(b"data: c\n\n").unwrap();
    assert_eq!(parser.next_item(), Some(ev("message", "a", "1")));
    assert_eq!(parser.next_item(), Some(ev("message", "c", "1")));
}

#[test]
fn limits_are_errors_and_keep_earlier_items() {
    use ssehub_core::{Limits, ParseError};
    let limits = Limits {
        max_line_bytes: 10,
        max_event_bytes: 12,
    };
    let mut parser = Parser::with_limits(limits);
    let err = parser
        .feed(b"data: ok\n\ndata: 0123456789\n\n")
        .unwrap_err();
    assert_eq!(err, ParseError::LineTooLong { limit: 10 });
    assert_eq!(parser.drain().collect::<Vec<_>>(), vec![msg("ok")]);
    // Refused until the connection is replaced.
    assert!(parser.feed(b"data: x\n\n").is_err());
    parser.reconnect();
    parser.feed(b"data: x\n\n").unwrap();
    assert_eq!(parser.next_item(), Some(msg("x")));

    // A partial line is bounded too, before its end arrives.
    let mut parser = Parser::with_limits(limits);
    parser.feed(b"data: 1234").unwrap();
    assert!(parser.feed(b"5").is_err());

    // Many short lines cannot grow one event beyond the bound.
    let mut parser = Parser::with_limits(limits);
    let err = parser
        .feed(b"data: 1234\ndata: 1234\ndata: 1234\n\n")
        .unwrap_err();
    assert_eq!(err, ParseError::EventTooLarge { limit: 12 });
}
