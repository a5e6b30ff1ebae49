//! Adapters between the wire format and `Stream`s, for any async runtime.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::{Event, Item, ParseError, Parser};

/// An error from [`EventStream`]: from the byte stream, or from parsing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError<E> {
    /// The underlying byte stream failed. The event in progress is discarded,
    /// as a client does when a connection drops.
    #[error("the byte stream failed: {0}")]
    Transport(#[source] E),
    /// The input broke a [`Limits`](crate::Limits) bound; the stream ends.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

pin_project! {
    /// Parses a `Stream` of byte chunks into a `Stream` of [`Item`]s.
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use ssehub_core::{EventStream, Item};
    ///
    /// let chunks = stream::iter([Ok::<_, std::io::Error>(&b"data: he"[..]), Ok(&b"llo\n\n"[..])]);
    /// let items: Vec<_> = futures_executor::block_on(EventStream::new(chunks).collect());
    /// let Ok(Item::Event(event)) = &items[0] else { panic!() };
    /// assert_eq!(event.data, "hello");
    /// ```
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct EventStream<S> {
        #[pin]
        inner: S,
        parser: Parser,
        error: Option<ParseError>,
        done: bool,
    }
}

impl<S> EventStream<S> {
    /// Parses `inner` with a default [`Parser`].
    pub fn new(inner: S) -> Self {
        EventStream::with_parser(inner, Parser::new())
    }

    /// Parses `inner` with `parser` (for other limits, or a known last event id).
    pub fn with_parser(inner: S, parser: Parser) -> Self {
        EventStream {
            inner,
            parser,
            error: None,
            done: false,
        }
    }

    /// The parser, for its [`Parser::last_event_id`].
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// Takes the parser back, to continue on a new connection.
    pub fn into_parser(self) -> Parser {
        self.parser
    }
}

impl<S, B, E> Stream for EventStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    type Item = Result<Item, StreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(item) = this.parser.next_item() {
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(error) = this.error.take() {
                *this.done = true;
                return Poll::Ready(Some(Err(StreamError::Parse(error))));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => {
                    if let Err(error) = this.parser.feed(chunk.as_ref()) {
                        *this.error = Some(error);
                    }
                }
                Some(Err(error)) => {
                    this.parser.finish();
                    return Poll::Ready(Some(Err(StreamError::Transport(error))));
                }
                None => {
                    this.parser.finish();
                    *this.done = true;
                }
            }
        }
    }
}

pin_project! {
    /// Encodes a `Stream` of [`Event`]s into a `Stream` of wire frames.
    #[derive(Debug)]
    #[must_use = "streams do nothing unless polled"]
    pub struct FrameStream<S> {
        #[pin]
        inner: S,
    }
}

impl<S> FrameStream<S> {
    /// Encodes the events of `inner`.
    pub fn new(inner: S) -> Self {
        FrameStream { inner }
    }
}

impl<S: Stream<Item = Event>> Stream for FrameStream<S> {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let event = ready!(self.project().inner.poll_next(cx));
        Poll::Ready(event.map(|e| e.encode()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}
