//! Building and encoding events.
//!
//! An [`Event`] is validated when it is built ([`EventBuilder::build`]), so that
//! encoding can never fail and never alters a value: what a conforming client
//! reads is exactly what was built. The only normalisation is the one the format
//! itself imposes: line breaks in data (CRLF, CR or LF) reach the client as LF.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

/// Why an event could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event type contains CR or LF, which would end the `event:` line early.
    #[error("event type contains a line break (CR or LF), which the format cannot carry")]
    LineBreakInType,
    /// The id contains CR or LF, which would end the `id:` line early.
    #[error("event id contains a line break (CR or LF), which the format cannot carry")]
    LineBreakInId,
    /// The id contains NUL: clients ignore such an `id:` field entirely.
    #[error("event id contains NUL, which clients ignore")]
    NulInId,
    /// Serializing the JSON data failed.
    #[error("serializing event data as JSON failed: {0}")]
    Json(#[from] serde_json::Error),
}

/// A validated Server-Sent Event, encoded once.
///
/// Build one with [`Event::builder`] (or the shortcuts [`Event::data`] and
/// [`Event::json`]). Building writes the wire bytes into one exactly sized
/// buffer; [`Event::encode`] then hands out that buffer (a reference-counted
/// [`Bytes`]) as often as needed, without copying.
///
/// ```
/// use ssehub_core::Event;
///
/// let event = Event::builder()
///     .event("greeting")
///     .id("7")
///     .data("hello\nworld")
///     .build()?;
/// assert_eq!(&event.encode()[..], b"event: greeting\nid: 7\ndata: hello\ndata: world\n\n");
/// # Ok::<(), ssehub_core::EventError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The whole frame, ending with the blank line.
    frame: Bytes,
    /// Where the value of the `id` line is in `frame`, if there is one.
    id: Option<(usize, usize)>,
}

impl Event {
    /// Starts building an event.
    #[inline]
    pub fn builder<'a>() -> EventBuilder<'a> {
        EventBuilder::default()
    }

    /// An event of type `message` carrying `data` (any string can be carried).
    pub fn data(data: &str) -> Event {
        Event::builder()
            .data(data)
            .build()
            .expect("data alone is always valid")
    }

    /// An event of type `message` carrying `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Event, EventError> {
        Ok(Event::data(&serde_json::to_string(value)?))
    }

    /// The id, if the event has one.
    pub fn id(&self) -> Option<&str> {
        let (start, end) = self.id?;
        // The frame was written from `&str`s, and the id sits between ASCII bytes.
        std::str::from_utf8(&self.frame[start..end]).ok()
    }

    /// Returns this event with its id set to `id` (replacing any other).
    ///
    /// A hub uses this to stamp the ids it assigns: the `id` line comes first,
    /// the rest of the frame is copied once.
    pub fn with_id(self, id: &str) -> Result<Event, EventError> {
        check_id(id)?;
        let rest: [&[u8]; 2] = match self.id {
            // Drop the old line: "id: " before the value, "\n" after it.
            Some((start, end)) => [&self.frame[..start - 4], &self.frame[end + 1..]],
            None => [&self.frame[..], &[]],
        };
        let mut buf =
            BytesMut::with_capacity(FIELD_OVERHEAD + 2 + id.len() + rest[0].len() + rest[1].len());
        put_field(&mut buf, b"id", id.as_bytes());
        buf.put_slice(rest[0]);
        buf.put_slice(rest[1]);
        Ok(Event {
            frame: buf.freeze(),
            id: Some((4, 4 + id.len())),
        })
    }

    /// Returns this event without its `id` line, if it had one.
    ///
    /// A hub stores events this way and writes the id it assigned in front
    /// of the frame when it delivers it.
    pub fn without_id(self) -> Event {
        match self.id {
            None => self,
            Some((start, end)) => {
                let mut buf = BytesMut::with_capacity(self.frame.len() - (end + 1 - (start - 4)));
                buf.put_slice(&self.frame[..start - 4]);
                buf.put_slice(&self.frame[end + 1..]);
                Event {
                    frame: buf.freeze(),
                    id: None,
                }
            }
        }
    }

    /// The number of bytes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.frame.len()
    }

    /// The encoded frame, ready to share between any number of connections
    /// (a reference count, not a copy).
    pub fn encode(&self) -> Bytes {
        self.frame.clone()
    }

    /// The encoded frame, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.frame
    }
}

impl From<&Event> for Bytes {
    fn from(event: &Event) -> Bytes {
        event.encode()
    }
}

impl From<Event> for Bytes {
    fn from(event: Event) -> Bytes {
        event.frame
    }
}

impl fmt::Display for Event {
    /// Shows the event as it goes on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.frame))
    }
}

/// Builds an [`Event`]; see [`Event::builder`].
///
/// Setters borrow or take their values and never fail; [`EventBuilder::build`]
/// reports the first value the format cannot carry, and writes the frame.
/// Fields are written as `name: value`: the space after the colon is what
/// makes a value's own leading space survive (a client strips exactly one).
#[derive(Debug, Default)]
#[must_use = "an EventBuilder does nothing until `build` is called"]
pub struct EventBuilder<'a> {
    data: Option<Cow<'a, str>>,
    event: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    retry: Option<u64>,
    comments: Vec<Cow<'a, str>>,
    error: Option<EventError>,
}

impl<'a> EventBuilder<'a> {
    /// Sets the data. Line breaks (CRLF, CR, LF) become separate `data:`
    /// lines; clients join them with LF.
    #[inline]
    pub fn data(mut self, data: impl Into<Cow<'a, str>>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the data to `value` serialized as JSON.
    pub fn json_data<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(json) => self.data = Some(Cow::Owned(json)),
            Err(e) => self.fail(EventError::Json(e)),
        }
        self
    }

    /// Sets the event type (what `addEventListener` listens for).
    #[inline]
    pub fn event(mut self, event: impl Into<Cow<'a, str>>) -> Self {
        let event = event.into();
        if has_line_break(event.as_bytes()) {
            self.fail(EventError::LineBreakInType);
        }
        self.event = Some(event);
        self
    }

    /// Sets the id (what the client sends back as `Last-Event-ID`).
    #[inline]
    pub fn id(mut self, id: impl Into<Cow<'a, str>>) -> Self {
        let id = id.into();
        if let Err(e) = check_id(&id) {
            self.fail(e);
        }
        self.id = Some(id);
        self
    }

    /// Sets the client's reconnection time (sent in whole milliseconds).
    #[inline]
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(u64::try_from(retry.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Adds a comment line (clients ignore it; useful as a keep-alive).
    #[inline]
    pub fn comment(mut self, comment: impl Into<Cow<'a, str>>) -> Self {
        self.comments.push(comment.into());
        self
    }

    /// Writes the event, or reports the first value it cannot carry.
    pub fn build(self) -> Result<Event, EventError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut digits = itoa::Buffer::new();
        let retry = self.retry.map(|r| digits.format(r));
        let mut len = 1; // the blank line that ends the event
        for comment in &self.comments {
            len += lines(comment)
                .map(|l| FIELD_OVERHEAD + l.len())
                .sum::<usize>();
        }
        len += self
            .event
            .as_ref()
            .map_or(0, |e| FIELD_OVERHEAD + 5 + e.len());
        len += self.id.as_ref().map_or(0, |i| FIELD_OVERHEAD + 2 + i.len());
        len += retry.map_or(0, |r| FIELD_OVERHEAD + 5 + r.len());
        // Most data is one line: one scan finds that, and it is written whole.
        let data = self.data.as_deref();
        let multi_line =
            data.is_some_and(|d| memchr::memchr2(b'\r', b'\n', d.as_bytes()).is_some());
        match data {
            Some(data) if multi_line => {
                len += lines(data)
                    .map(|l| FIELD_OVERHEAD + 4 + l.len())
                    .sum::<usize>();
            }
            Some(data) => len += FIELD_OVERHEAD + 4 + data.len(),
            None => {}
        }

        let mut buf = BytesMut::with_capacity(len);
        for comment in &self.comments {
            for line in lines(comment) {
                put_field(&mut buf, b"", line.as_bytes());
            }
        }
        if let Some(event) = &self.event {
            put_field(&mut buf, b"event", event.as_bytes());
        }
        let mut id_span = None;
        if let Some(id) = &self.id {
            let start = buf.len() + 4;
            put_field(&mut buf, b"id", id.as_bytes());
            id_span = Some((start, start + id.len()));
        }
        if let Some(retry) = retry {
            put_field(&mut buf, b"retry", retry.as_bytes());
        }
        match data {
            Some(data) if multi_line => {
                for line in lines(data) {
                    put_field(&mut buf, b"data", line.as_bytes());
                }
            }
            Some(data) => put_field(&mut buf, b"data", data.as_bytes()),
            None => {}
        }
        buf.put_u8(b'\n');
        debug_assert_eq!(buf.len(), len);
        Ok(Event {
            frame: buf.freeze(),
            id: id_span,
        })
    }

    fn fail(&mut self, error: EventError) {
        self.error.get_or_insert(error);
    }
}

/// Bytes a field line adds besides its name and value: ": " and "\n".
const FIELD_OVERHEAD: usize = 3;

/// Encodes a comment frame (`: text\n\n`).
///
/// Line breaks in `text` start new comment lines. The blank line that ends
/// it makes some clients dispatch an empty event when a field such as
/// `retry` or `id` came before it in the same block (Python's `httpx-sse`
/// does, once it has seen an id); the hub's keep-alives are a lone `:\n`
/// instead, which ends no block.
pub fn comment(text: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(text.len() + 4);
    for line in lines(text) {
        put_field(&mut buf, b"", line.as_bytes());
    }
    buf.put_u8(b'\n');
    buf.freeze()
}

/// Short values are scanned byte by byte: cheaper than a SIMD search's set-up.
#[inline]
fn find_line_break(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 32 {
        bytes.iter().position(|&b| b == b'\r' || b == b'\n')
    } else {
        memchr::memchr2(b'\r', b'\n', bytes)
    }
}

#[inline]
fn has_line_break(bytes: &[u8]) -> bool {
    find_line_break(bytes).is_some()
}

/// Whether `id` can be an event's id: no CR or LF (they would end the `id:`
/// line early), no NUL (clients ignore such an id).
///
/// ```
/// assert!(ssehub_core::check_id("1764150000000-0").is_ok());
/// assert!(ssehub_core::check_id("a\nb").is_err());
/// ```
pub fn check_id(id: &str) -> Result<(), EventError> {
    if has_line_break(id.as_bytes()) {
        Err(EventError::LineBreakInId)
    } else if id.as_bytes().contains(&0) {
        Err(EventError::NulInId)
    } else {
        Ok(())
    }
}

fn put_field(buf: &mut BytesMut, name: &[u8], value: &[u8]) {
    buf.put_slice(name);
    buf.put_slice(b": ");
    buf.put_slice(value);
    buf.put_u8(b'\n');
}

/// Splits on CRLF, CR and LF; a trailing line break yields a final empty line,
/// and the empty string is one empty line.
fn lines(s: &str) -> Lines<'_> {
    Lines { rest: Some(s) }
}

struct Lines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match memchr::memchr2(b'\r', b'\n', rest.as_bytes()) {
            None => {
                self.rest = None;
                Some(rest)
            }
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                self.rest = Some(&rest[i + skip..]);
                Some(&rest[..i])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(e: &Event) -> String {
        String::from_utf8(e.encode().to_vec()).unwrap()
    }

    #[test]
    fn data_splits_on_every_line_break() {
        let e = Event::data("a\r\nb\rc\nd");
        assert_eq!(enc(&e), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    }

    #[test]
    fn empty_and_trailing_newline_data() {
        assert_eq!(enc(&Event::data("")), "data: \n\n");
        assert_eq!(enc(&Event::data("x\n")), "data: x\ndata: \n\n");
        assert_eq!(enc(&Event::data("\r\n")), "data: \ndata: \n\n");
    }

    #[test]
    fn leading_space_is_kept_by_the_separator_space() {
        assert_eq!(enc(&Event::data(" x")), "data:  x\n\n");
    }

    #[test]
    fn invalid_type_and_id_are_errors() {
        assert!(matches!(
            Event::builder().event("a\nb").build(),
            Err(EventError::LineBreakInType)
        ));
        assert!(matches!(
            Event::builder().event("a\rb").build(),
            Err(EventError::LineBreakInType)
        ));
        assert!(matches!(
            Event::builder().id("a\r").build(),
            Err(EventError::LineBreakInId)
        ));
        assert!(matches!(
            Event::builder().id("a\0").build(),
            Err(EventError::NulInId)
        ));
        assert!(Event::data("x").with_id("1\n").is_err());
    }

    #[test]
    fn with_id_replaces_or_adds_the_id_line() {
        let e = Event::builder()
            .event("t")
            .id("old")
            .data("d")
            .build()
            .unwrap();
        assert_eq!(e.id(), Some("old"));
        let e = e.with_id("new").unwrap();
        assert_eq!(enc(&e), "id: new\nevent: t\ndata: d\n\n");
        assert_eq!(e.id(), Some("new"));
        let e = Event::data("d").with_id("1").unwrap();
        assert_eq!(enc(&e), "id: 1\ndata: d\n\n");
        assert_eq!(e.clone().with_id("2").unwrap().id(), Some("2"));
    }

    #[test]
    fn without_id_drops_the_id_line() {
        let e = Event::builder()
            .event("t")
            .id("7")
            .data("d")
            .build()
            .unwrap();
        let e = e.without_id();
        assert_eq!(enc(&e), "event: t\ndata: d\n\n");
        assert_eq!(e.id(), None);
        assert_eq!(enc(&Event::data("x").without_id()), "data: x\n\n");
    }

    #[test]
    fn encoded_len_is_exact() {
        let e = Event::builder()
            .comment("c1\nc2")
            .event("t")
            .id("")
            .retry(Duration::from_millis(12345))
            .data("a\r\n\n b")
            .build()
            .unwrap();
        assert_eq!(e.encoded_len(), e.encode().len());
        assert_eq!(e.id(), Some(""));
        assert_eq!(
            enc(&e),
            ": c1\n: c2\nevent: t\nid: \nretry: 12345\ndata: a\ndata: \ndata:  b\n\n"
        );
    }

    #[test]
    fn json_data() {
        let e = Event::json(&serde_json::json!({"a": [1, 2]})).unwrap();
        assert_eq!(enc(&e), "data: {\"a\":[1,2]}\n\n");
    }

    #[test]
    fn comment_frame() {
        assert_eq!(&comment("")[..], b": \n\n");
        assert_eq!(&comment("a\nb")[..], b": a\n: b\n\n");
    }
}
