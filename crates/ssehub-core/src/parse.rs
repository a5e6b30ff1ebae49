//! The incremental parser.

use std::collections::VecDeque;
use std::mem;

/// Bounds on the memory a parser may use.
///
/// ```
/// use ssehub_core::{Limits, Parser};
///
/// let mut parser = Parser::with_limits(Limits { max_line_bytes: 8, ..Limits::default() });
/// assert!(parser.feed(b"data: far too long\n").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest line, in bytes, without its line ending. Default: 16 MiB.
    pub max_line_bytes: usize,
    /// Largest event, in bytes of data plus event type. Default: 16 MiB.
    pub max_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 16 << 20,
            max_event_bytes: 16 << 20,
        }
    }
}

/// Why parsing stopped. After an error the parser refuses more input until
/// [`Parser::reconnect`] (a client drops the connection and reconnects).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A line exceeded [`Limits::max_line_bytes`].
    #[error("a line is longer than the limit of {limit} bytes")]
    LineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// An event exceeded [`Limits::max_event_bytes`].
    #[error("an event is larger than the limit of {limit} bytes")]
    EventTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// An event as a client dispatches it (the fields of the DOM's `MessageEvent`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageEvent {
    /// The event type: `message` when the stream set none.
    pub event: String,
    /// The data, lines joined with LF.
    pub data: String,
    /// The last event id at dispatch (`""` when none was ever set).
    pub last_event_id: String,
}

/// What the parser reports, in stream order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// A dispatched event.
    Event(MessageEvent),
    /// A valid `retry` field: the new reconnection time in milliseconds.
    Retry(u64),
}

/// An event as [`Parser::feed_with`] lends it: borrowed from the parser,
/// valid for the one call it is passed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventRef<'a> {
    /// The event type: `message` when the stream set none.
    pub event: &'a str,
    /// The data, lines joined with LF.
    pub data: &'a str,
    /// The last event id at dispatch (`""` when none was ever set).
    pub last_event_id: &'a str,
}

/// An owned copy.
impl From<EventRef<'_>> for MessageEvent {
    fn from(event: EventRef<'_>) -> MessageEvent {
        MessageEvent {
            event: event.event.to_owned(),
            data: event.data.to_owned(),
            last_event_id: event.last_event_id.to_owned(),
        }
    }
}

/// What [`Parser::feed_with`] reports, in stream order: an [`Item`] whose
/// event is borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemRef<'a> {
    /// A dispatched event.
    Event(EventRef<'a>),
    /// A valid `retry` field: the new reconnection time in milliseconds.
    Retry(u64),
}

/// An owned copy.
impl From<ItemRef<'_>> for Item {
    fn from(item: ItemRef<'_>) -> Item {
        match item {
            ItemRef::Event(event) => Item::Event(event.into()),
            ItemRef::Retry(millis) => Item::Retry(millis),
        }
    }
}

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// An incremental parser: the HTML standard's "interpreting an event stream".
///
/// Feed it bytes in chunks of any size with [`Parser::feed`], take out what it
/// found with [`Parser::next_item`], and call [`Parser::finish`] at the end of the
/// stream. The result does not depend on how the input was split: a CRLF split
/// across two chunks is one line ending, a UTF-8 sequence split across two chunks
/// is one character.
///
/// Where the standard leaves a choice to the implementation:
/// - A `retry` value too large for `u64` milliseconds saturates at `u64::MAX`.
/// - [`Parser::reconnect`] starts a new stream whose last-event-id buffer holds
///   the last event id of the previous one, as browsers do (the standard's text
///   would reset it to the empty string).
/// - Memory is bounded by [`Limits`]; exceeding them is a [`ParseError`].
///
/// ```
/// use ssehub_core::{Item, Parser};
///
/// let mut parser = Parser::new();
/// parser.feed(b"event: greeting\r\nid: 1\r")?;
/// parser.feed(b"\ndata: hello\n\n")?;
/// let Some(Item::Event(event)) = parser.next_item() else { panic!() };
/// assert_eq!((event.event.as_str(), event.data.as_str(), event.last_event_id.as_str()),
///            ("greeting", "hello", "1"));
/// # Ok::<(), ssehub_core::ParseError>(())
/// ```
#[derive(Debug)]
pub struct Parser {
    limits: Limits,
    /// Bytes of a line not yet ended, carried between chunks.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF starting the next one belongs to it.
    after_cr: bool,
    /// Still at the start of the stream, where one BOM is skipped.
    at_start: bool,
    /// Leading bytes that may yet turn out to be a BOM.
    prefix: Vec<u8>,
    data: String,
    event_type: String,
    id_buffer: String,
    last_event_id: String,
    items: VecDeque<Item>,
    failed: Option<ParseError>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    /// A parser with the default [`Limits`].
    pub fn new() -> Parser {
        Parser::with_limits(Limits::default())
    }

    /// A parser with the given limits.
    pub fn with_limits(limits: Limits) -> Parser {
        Parser {
            limits,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            prefix: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            id_buffer: String::new(),
            last_event_id: String::new(),
            items: VecDeque::new(),
            failed: None,
        }
    }

    /// Parses one chunk. Events and retry values found are queued for
    /// [`Parser::next_item`], including those found before an error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        let mut items = mem::take(&mut self.items);
        let result = self.feed_with(chunk, |item| items.push_back(item.into()));
        self.items = items;
        result
    }

    /// Parses one chunk, handing each event and retry value to `found` as
    /// it is found (those found before an error too), borrowed from the
    /// parser: nothing is allocated per event. Items queued by
    /// [`Parser::feed`] stay queued.
    ///
    /// ```
    /// use ssehub_core::{ItemRef, Parser};
    ///
    /// let mut parser = Parser::new();
    /// let mut seen = Vec::new();
    /// parser.feed_with(b"data: a\n\nid: 7\nevent: b\ndata: c\n\n", |item| {
    ///     if let ItemRef::Event(event) = item {
    ///         seen.push(format!("{} {} {}", event.event, event.data, event.last_event_id));
    ///     }
    /// })?;
    /// assert_eq!(seen, ["message a ", "b c 7"]);
    /// # Ok::<(), ssehub_core::ParseError>(())
    /// ```
    pub fn feed_with(
        &mut self,
        mut chunk: &[u8],
        mut found: impl FnMut(ItemRef<'_>),
    ) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.at_start {
            let take = (BOM.len() - self.prefix.len()).min(chunk.len());
            self.prefix.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if !BOM.starts_with(&self.prefix) {
                self.at_start = false;
                let prefix = mem::take(&mut self.prefix);
                self.lines(&prefix, &mut found)
                    .inspect_err(|e| self.fail(e))?;
            } else if self.prefix.len() == BOM.len() {
                self.at_start = false;
                self.prefix.clear();
            } else {
                return Ok(());
            }
        }
        self.lines(chunk, &mut found).inspect_err(|e| self.fail(e))
    }

    /// The next event or retry value found, in stream order.
    pub fn next_item(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    /// Takes out every item found so far.
    pub fn drain(&mut self) -> impl Iterator<Item = Item> + '_ {
        self.items.drain(..)
    }

    /// Ends the stream: an event or line not yet terminated is discarded, as
    /// the standard requires. Items already found stay queued. The parser is
    /// then ready for a new stream, as after [`Parser::reconnect`].
    pub fn finish(&mut self) {
        self.reconnect();
    }

    /// Prepares for a new stream (a reconnection): discards any partial line
    /// and event and clears an error, but keeps the last event id, which the
    /// client sends as `Last-Event-ID` and which the next stream's events
    /// inherit until it sets another.
    pub fn reconnect(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.at_start = true;
        self.prefix.clear();
        self.data.clear();
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
        self.failed = None;
    }

    /// The last event id as the standard defines it: set when an event is
    /// dispatched (an `id` of an event never completed does not count).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Sets the last event id, as a client resuming from a stored id does.
    pub fn set_last_event_id(&mut self, id: impl Into<String>) {
        self.last_event_id = id.into();
        self.id_buffer.clone_from(&self.last_event_id);
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn fail(&mut self, error: &ParseError) {
        self.failed = Some(error.clone());
        self.line = Vec::new();
        self.data = String::new();
        self.event_type.clear();
    }

    /// Splits `chunk` into lines, joining with the partial line carried over.
    fn lines<F: FnMut(ItemRef<'_>)>(
        &mut self,
        mut rest: &[u8],
        found: &mut F,
    ) -> Result<(), ParseError> {
        if rest.is_empty() {
            return Ok(());
        }
        if mem::take(&mut self.after_cr) && rest[0] == b'\n' {
            rest = &rest[1..];
        }
        while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
            if self.line.is_empty() {
                self.check_line(i)?;
                self.line_complete(&rest[..i], found)?;
            } else {
                self.check_line(self.line.len() + i)?;
                let mut line = mem::take(&mut self.line);
                line.extend_from_slice(&rest[..i]);
                let result = self.line_complete(&line, found);
                line.clear();
                self.line = line;
                result?;
            }
            if rest[i] == b'\r' {
                match rest.get(i + 1) {
                    Some(b'\n') => rest = &rest[i + 2..],
                    Some(_) => rest = &rest[i + 1..],
                    None => {
                        self.after_cr = true;
                        rest = &[];
                    }
                }
            } else {
                rest = &rest[i + 1..];
            }
        }
        if !rest.is_empty() {
            self.check_line(self.line.len() + rest.len())?;
            self.line.extend_from_slice(rest);
        }
        Ok(())
    }

    fn check_line(&self, len: usize) -> Result<(), ParseError> {
        if len > self.limits.max_line_bytes {
            Err(ParseError::LineTooLong {
                limit: self.limits.max_line_bytes,
            })
        } else {
            Ok(())
        }
    }

    /// Processes one line, without its line ending.
    fn line_complete<F: FnMut(ItemRef<'_>)>(
        &mut self,
        line: &[u8],
        found: &mut F,
    ) -> Result<(), ParseError> {
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return Ok(()), // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None if line.is_empty() => {
                self.dispatch(found);
                return Ok(());
            }
            None => (line, &b""[..]),
        };
        // Field names are compared as bytes: a name with invalid UTF-8 would
        // decode to one with U+FFFD, which matches none of these either.
        match field {
            b"data" => {
                push_utf8(&mut self.data, value);
                self.data.push('\n');
                self.check_event()?;
            }
            b"event" => {
                self.event_type.clear();
                push_utf8(&mut self.event_type, value);
                self.check_event()?;
            }
            b"id" if !value.contains(&0) => {
                self.id_buffer.clear();
                push_utf8(&mut self.id_buffer, value);
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let millis = value.iter().fold(0u64, |n, d| {
                    n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                found(ItemRef::Retry(millis));
            }
            _ => {}
        }
        Ok(())
    }

    fn check_event(&self) -> Result<(), ParseError> {
        if self.data.len() + self.event_type.len() > self.limits.max_event_bytes {
            Err(ParseError::EventTooLarge {
                limit: self.limits.max_event_bytes,
            })
        } else {
            Ok(())
        }
    }

    /// Hands the event to `found`, then clears the buffers (keeping their
    /// memory for the next event).
    fn dispatch<F: FnMut(ItemRef<'_>)>(&mut self, found: &mut F) {
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let data = self.data.strip_suffix('\n').unwrap_or(&self.data);
        let event = if self.event_type.is_empty() {
            "message"
        } else {
            &self.event_type
        };
        found(ItemRef::Event(EventRef {
            event,
            data,
            last_event_id: &self.last_event_id,
        }));
        self.data.clear();
        self.event_type.clear();
        // A large event's buffer is given back, not kept for small ones.
        if self.data.capacity() > KEEP_BYTES {
            self.data = String::new();
        }
    }
}

/// The most buffer memory the parser keeps for the next event's data.
const KEEP_BYTES: usize = 64 << 10;

/// Appends `bytes` decoded as UTF-8, invalid sequences replaced by U+FFFD.
///
/// Decoding each value on its own equals decoding the whole stream: values
/// start after an ASCII byte and end before one, and no ASCII byte is ever
/// part of a multi-byte sequence.
fn push_utf8(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Parses a complete stream at once (a convenience for tests and tools).
///
/// ```
/// use ssehub_core::{parse_all, Item};
///
/// let items = parse_all(b"retry: 10\ndata: a\n\ndata: unterminated")?;
/// assert_eq!(items.len(), 2);
/// assert_eq!(items[0], Item::Retry(10));
/// # Ok::<(), ssehub_core::ParseError>(())
/// ```
pub fn parse_all(input: &[u8]) -> Result<Vec<Item>, ParseError> {
    let mut parser = Parser::new();
    parser.feed(input)?;
    parser.finish();
    Ok(parser.drain().collect())
}
