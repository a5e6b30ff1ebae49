//! The `Last-Event-ID` rule every adapter follows, in one place.

/// The id a client asks to resume after: the `Last-Event-ID` header when it
/// is readable text, else the first `lastEventId` query parameter.
///
/// The header wins: a browser sends it on each reconnection with the newest
/// id it saw, while a `lastEventId` in the URL (how a page passes an id to
/// its first connection, which `EventSource` cannot give headers) keeps the
/// first one.
pub(crate) fn last_event_id(header: Option<&str>, query: Option<&str>) -> Option<String> {
    if let Some(id) = header {
        return Some(id.to_owned());
    }
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == "lastEventId")
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::last_event_id;

    #[test]
    fn the_header_wins_over_the_query() {
        assert_eq!(
            last_event_id(Some("a-2"), Some("lastEventId=a-1")),
            Some("a-2".to_owned())
        );
    }

    #[test]
    fn the_query_parameter_is_decoded() {
        assert_eq!(
            last_event_id(None, Some("topic=t&lastEventId=a%2D1+x&lastEventId=z")),
            Some("a-1 x".to_owned())
        );
        assert_eq!(last_event_id(None, Some("topic=t")), None);
        assert_eq!(last_event_id(None, None), None);
    }
}
