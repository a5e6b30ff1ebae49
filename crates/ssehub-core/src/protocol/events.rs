//! The rules of a `GET /events` request, for every route that serves one
//! (`ssehub serve`, the framework adapters, `ssehub-leptos`'s routes).
//!
//! - Topics: every `topic` query parameter, in order (`?topic=a&topic=b`); at
//!   least one, else [`EventsError::MissingTopic`].
//! - The id to resume after: the `Last-Event-ID` header when it is UTF-8 text,
//!   else the first `lastEventId` query parameter. The header wins: a
//!   browser sends it on each reconnection with the newest id it saw, while
//!   a `lastEventId` in the URL (how a page gives an id to its first
//!   connection; `EventSource` cannot set headers) keeps the first one.
//! - `connected=1` (or `true`): the stream starts with an `ssehub-connected`
//!   event that tells its connection id ([`control`](super::control)).
//!
//! ```
//! use ssehub_core::protocol::events::{EventsError, EventsRequest};
//!
//! let request = EventsRequest::parse(Some("topic=chat%2F1&topic=alerts&lastEventId=a-1"), None)?;
//! assert_eq!(request.topics, ["chat/1", "alerts"]);
//! assert_eq!(request.last_event_id.as_deref(), Some("a-1"));
//! assert!(!request.connected);
//! assert!(EventsRequest::parse(Some("topic=t&connected=1"), None)?.connected);
//!
//! let header = EventsRequest::parse(Some("topic=t&lastEventId=a-1"), Some(b"a-7"))?;
//! assert_eq!(header.last_event_id.as_deref(), Some("a-7"));
//!
//! assert_eq!(EventsRequest::parse(Some("x=1"), None), Err(EventsError::MissingTopic));
//! # Ok::<(), EventsError>(())
//! ```

use super::Refusal;

/// The query parameter that names a topic (repeatable).
pub const TOPIC_PARAM: &str = "topic";
/// The query parameter a first connection resumes with.
pub const LAST_EVENT_ID_PARAM: &str = "lastEventId";
/// The header a reconnecting `EventSource` resumes with (lower case, as
/// HTTP/2 writes it).
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";
/// The response header that carries a stream's connection id.
pub const CONNECTION_HEADER: &str = "ssehub-connection";
/// The query parameter that asks for an `ssehub-connected` event first
/// (`connected=1`).
pub const CONNECTED_PARAM: &str = "connected";

/// What a `GET /events` request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsRequest {
    /// The topics (or patterns), in the order given; never empty.
    pub topics: Vec<String>,
    /// The id to resume after, if any.
    pub last_event_id: Option<String>,
    /// Whether it asked for an `ssehub-connected` event first
    /// (`connected=1`, or `connected=true`).
    pub connected: bool,
}

impl EventsRequest {
    /// Reads a request from its query string (without the `?`) and its
    /// `Last-Event-ID` header's bytes, if it has one.
    pub fn parse(
        query: Option<&str>,
        last_event_id_header: Option<&[u8]>,
    ) -> Result<EventsRequest, EventsError> {
        let topics = topics(query);
        if topics.is_empty() {
            return Err(EventsError::MissingTopic);
        }
        Ok(EventsRequest {
            topics,
            last_event_id: last_event_id(last_event_id_header, query),
            connected: form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .any(|(key, value)| key == CONNECTED_PARAM && (value == "1" || value == "true")),
        })
    }
}

/// Every `topic` query parameter of `query`, decoded, in order.
pub fn topics(query: Option<&str>) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == TOPIC_PARAM)
        .map(|(_, value)| value.into_owned())
        .collect()
}

/// The id a client asks to resume after: the `Last-Event-ID` header when
/// it is UTF-8 text, else the first `lastEventId` query parameter.
pub fn last_event_id(header: Option<&[u8]>, query: Option<&str>) -> Option<String> {
    if let Some(id) = header.and_then(|h| std::str::from_utf8(h).ok()) {
        return Some(id.to_owned());
    }
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == LAST_EVENT_ID_PARAM)
        .map(|(_, value)| value.into_owned())
}

/// Why a `GET /events` request is refused. Every route answers each with the
/// same status and code ([`EventsError::refusal`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// No `topic` parameter: 400 `missing_topic`.
    #[error("give at least one topic: /events?topic=NAME")]
    MissingTopic,
    /// More topics than the hub takes in one subscription: 400
    /// `too_many_topics`.
    #[error("{count} topics; at most {max} in one subscription")]
    TooManyTopics {
        /// How many were asked for.
        count: usize,
        /// The most the hub takes.
        max: usize,
    },
    /// A topic or pattern the hub refuses (the reason): 400 `invalid_topic`.
    #[error("{0}")]
    InvalidTopic(String),
    /// The hub is shutting down: 503 `shutting_down`.
    #[error("the hub has shut down")]
    ShuttingDown,
}

impl EventsError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            EventsError::MissingTopic => "missing_topic",
            EventsError::TooManyTopics { .. } => "too_many_topics",
            EventsError::InvalidTopic(_) => "invalid_topic",
            EventsError::ShuttingDown => "shutting_down",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            EventsError::ShuttingDown => 503,
            _ => 400,
        }
    }

    /// The answer: status, code and message.
    pub fn refusal(&self) -> Refusal {
        Refusal::new(self.status(), self.code(), self.to_string())
    }
}

impl From<EventsError> for Refusal {
    fn from(e: EventsError) -> Refusal {
        e.refusal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_query() {
        assert_eq!(
            last_event_id(Some(b"a-2"), Some("lastEventId=a-1")),
            Some("a-2".to_owned())
        );
    }

    #[test]
    fn a_header_that_is_not_utf8_falls_back_to_the_query() {
        assert_eq!(
            last_event_id(Some(b"\xff"), Some("lastEventId=a-1")),
            Some("a-1".to_owned())
        );
        assert_eq!(last_event_id(Some(b"\xff"), None), None);
    }

    #[test]
    fn the_query_parameter_is_decoded_and_the_first_wins() {
        assert_eq!(
            last_event_id(None, Some("topic=t&lastEventId=a%2D1+x&lastEventId=z")),
            Some("a-1 x".to_owned())
        );
        assert_eq!(last_event_id(None, Some("topic=t")), None);
        assert_eq!(last_event_id(None, None), None);
    }

    #[test]
    fn an_empty_header_is_an_id() {
        // An EventSource whose last event had `id:` with nothing sends an
        // empty header: resume from the start of nothing, not from the URL.
        assert_eq!(
            last_event_id(Some(b""), Some("lastEventId=a-1")),
            Some(String::new())
        );
    }

    #[test]
    fn topics_keep_their_order_and_repeats() {
        assert_eq!(
            topics(Some("topic=b&x=1&topic=a%2F1&topic=b")),
            ["b", "a/1", "b"]
        );
        assert!(topics(None).is_empty());
    }

    #[test]
    fn each_error_has_its_status_and_code() {
        let cases = [
            (EventsError::MissingTopic, 400, "missing_topic"),
            (
                EventsError::TooManyTopics { count: 3, max: 2 },
                400,
                "too_many_topics",
            ),
            (EventsError::InvalidTopic("x".into()), 400, "invalid_topic"),
            (EventsError::ShuttingDown, 503, "shutting_down"),
        ];
        for (e, status, code) in cases {
            let r = e.refusal();
            assert_eq!((r.status, r.code), (status, code), "{e:?}");
        }
    }
}
