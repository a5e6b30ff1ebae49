//! The `/events` rules (`ssehub_core::protocol::events`) on arbitrary query
//! strings and `Last-Event-ID` header bytes: no panic; the topics are
//! exactly the `topic` parameters; a UTF-8 header always wins.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssehub_core::protocol::events::{self, EventsError, EventsRequest};

fuzz_target!(|input: &[u8]| {
    // The first byte says where the header ends and the query begins.
    let Some((&cut, rest)) = input.split_first() else { return };
    let cut = usize::from(cut).min(rest.len());
    let (header, query) = rest.split_at(cut);
    let Ok(query) = std::str::from_utf8(query) else { return };
    let header = (cut > 0).then_some(header);
    let topics = events::topics(Some(query));
    match EventsRequest::parse(Some(query), header) {
        Ok(request) => {
            assert_eq!(request.topics, topics);
            assert!(!request.topics.is_empty());
            if let Some(Ok(id)) = header.map(std::str::from_utf8) {
                assert_eq!(request.last_event_id.as_deref(), Some(id));
            }
        }
        Err(e) => {
            assert_eq!(e, EventsError::MissingTopic);
            assert!(topics.is_empty());
        }
    }
});
