//! Where today's encoders go wrong, ours is right, each as a test:
//! - axum's `sse::Event` panics on `\r` in data;
//! - actix-web-lab and salvo split data only on `\n`, so a lone `\r` ends
//!   the line early on the client (and `\r\n` leaves a stray line break);
//! - salvo lets a newline into `id` and `event` (injecting fields) and drops
//!   a value's leading space.

use ssehub_core::{parse_all, Event, EventError, Item, MessageEvent};

fn round_trip(event: &Event) -> MessageEvent {
    match parse_all(event.as_bytes()).unwrap().as_slice() {
        [Item::Event(e)] => e.clone(),
        other => panic!("expected one event, got {other:?}"),
    }
}

#[test]
fn carriage_return_in_data_is_carried_not_a_panic() {
    let e = Event::builder().data("a\rb").build().unwrap();
    assert_eq!(round_trip(&e).data, "a\nb");
}

#[test]
fn lone_cr_and_crlf_both_split_lines() {
    let e = Event::builder().data("one\rtwo\r\nthree").build().unwrap();
    assert_eq!(&e.encode()[..], b"data: one\ndata: two\ndata: three\n\n");
    assert_eq!(round_trip(&e).data, "one\ntwo\nthree");
}

#[test]
fn newline_in_id_or_event_cannot_inject_fields() {
    // Without the check this id would end its line and add a `data:` field.
    assert!(matches!(
        Event::builder().id("1\ndata: injected").data("x").build(),
        Err(EventError::LineBreakInId)
    ));
    assert!(matches!(
        Event::builder().event("a\r\nretry: 1").data("x").build(),
        Err(EventError::LineBreakInType)
    ));
}

#[test]
fn leading_spaces_survive_in_data_type_and_id() {
    let e = Event::builder()
        .event(" t")
        .id("  7")
        .data(" lead\n  two")
        .build()
        .unwrap();
    let got = round_trip(&e);
    assert_eq!(got.event, " t");
    assert_eq!(got.last_event_id, "  7");
    assert_eq!(got.data, " lead\n  two");
}

#[test]
fn empty_data_and_trailing_newlines_survive() {
    assert_eq!(round_trip(&Event::data("")).data, "");
    assert_eq!(round_trip(&Event::data("x\n\n")).data, "x\n\n");
    assert_eq!(round_trip(&Event::data("\n")).data, "\n");
}
