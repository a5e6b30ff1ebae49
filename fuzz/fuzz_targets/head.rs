//! A connection's first request head as `ssehub serve`'s direct path reads
//! it (`crates/ssehub-server/src/head.rs`, compiled here as is): arbitrary
//! bytes, read in pieces (sizes from the input's first byte). No panic;
//! what stops the reading is what the whole input says; and a whole
//! `GET /events` head gives a request the `/events` rules read without
//! panicking.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/ssehub-server/src/head.rs"]
mod head;

use head::{classify, Head};
use libfuzzer_sys::fuzz_target;
use ssehub_core::protocol::events::{EventsRequest, LAST_EVENT_ID_HEADER};

fn summary(head: &Head) -> String {
    match head {
        Head::Events(parts) => {
            let headers: Vec<_> = parts.headers.iter().collect();
            format!("events {} {headers:?}", parts.uri)
        }
        other => format!("{other:?}"),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else { return };
    let step = usize::from(step % 31) + 1;
    let mut read = 0;
    let mut stopped = None;
    while read < data.len() {
        read = (read + step).min(data.len());
        match classify(&data[..read]) {
            Head::Partial => {}
            done => {
                stopped = Some(done);
                break;
            }
        }
    }
    let Some(stopped) = stopped else { return };
    assert_eq!(summary(&stopped), summary(&classify(data)), "reading more changed the answer");
    if let Head::Events(parts) = &stopped {
        let header = parts.headers.get(LAST_EVENT_ID_HEADER).map(|v| v.as_bytes());
        if let Ok(request) = EventsRequest::parse(parts.uri.query(), header) {
            assert!(!request.topics.is_empty());
            if let Some(Ok(id)) = header.map(std::str::from_utf8) {
                assert_eq!(request.last_event_id.as_deref(), Some(id), "the header wins");
            }
        }
    }
});
