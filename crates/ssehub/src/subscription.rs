//! The stream a subscriber reads: encoded frames, ready to write.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::control::ResetReason;
use crate::hub::HubInner;
use crate::presence::ConnectionId;
use crate::subscriber::{Next, Subscriber, TagWake, WakeRef};

/// How a subscription started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resume {
    /// It did not ask to resume: live events only.
    Fresh,
    /// It resumed: the events it missed come first.
    Resumed {
        /// How many events are replayed.
        replayed: usize,
    },
    /// Its id could not be honoured: an [`ssehub-reset`](crate::control)
    /// event comes first.
    Reset(ResetReason),
    /// The backend could not tell what was missed (Redis unreachable): the
    /// stream is a `retry:` line and a comment line, with no blank line (so
    /// no event), then ends, so that the client reconnects soon with the same
    /// `Last-Event-ID`.
    Unavailable,
}

/// A subscription: a `Stream` of encoded frames (`Bytes`) to write to the
/// client as they come, in the hub's publish order, none twice.
///
/// It starts with a comment line (`:\n`), then a reset or the replayed events
/// when it resumed (and signal snapshots), then live events and keep-alive
/// comment lines. It ends when the subscriber falls behind under
/// [`LagPolicy::Disconnect`](crate::LagPolicy) or the hub shuts down.
/// Dropping it unregisters it at once.
///
/// The opening comment line gives the response a first body byte at once:
/// some proxies (nginx serving HTTP/2 to the client) hold the response
/// headers back until the body starts, and a client is subscribed once it
/// has them. It ends no block, so no client dispatches anything for it.
///
/// # The retry hint
///
/// The hub's reconnection time ([`HubBuilder::retry`](crate::HubBuilder::retry))
/// goes out as a `retry: N` line at the start of the first event's block
/// (`retry: 2000\nid: …\ndata: …\n\n`), whichever event comes first: a
/// reset, a replayed event, a snapshot or a live event. Never in a block of
/// its own: a block that sets `retry` and then ends is dispatched as an
/// empty `message` event by some clients (Python's `httpx-sse`, among
/// others, dispatches on every blank line once any field was set), an event
/// nobody published. Before the first event a client sees only the response
/// headers (it is subscribed from then on) and comment lines (`:\n`, the
/// opening one and keep-alives, which end no block). A stream that ends before any event (the hub
/// shuts down) ends with the `retry:` line alone and no blank line after it:
/// a client takes the reconnection time as it reads the field, and no block
/// ends, so no event is dispatched. A subscriber cut off for lagging gets
/// nothing more.
///
/// The line is copied in front of the first event's frame (once per
/// subscription), so that every item of the stream is whole blocks.
#[derive(Debug)]
#[must_use = "a subscription receives nothing unless polled"]
pub struct Subscription {
    hub: Arc<HubInner>,
    sub: Arc<Subscriber>,
    /// Frames that go first (a reset, replayed events, snapshots); `None`
    /// once they are out: boxed, since every idle stream has a subscription.
    #[allow(clippy::box_collection)] // 8 bytes, not a `VecDeque`'s 32
    preface: Option<Box<VecDeque<Bytes>>>,
    resume: Start,
    /// The opening comment line has not gone out yet.
    opening_pending: bool,
    /// The hub's `retry:` line has not gone out yet.
    hint_pending: bool,
}

/// How a subscription started, as [`Resume`] says it, in 8 bytes where a
/// `Resume` is 16: every idle stream has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Fresh,
    /// How many events were replayed (history holds fewer than `u32::MAX`;
    /// more would read as `u32::MAX`).
    Resumed(u32),
    Reset(ResetReason),
    Unavailable,
}

impl From<Resume> for Start {
    fn from(resume: Resume) -> Start {
        match resume {
            Resume::Fresh => Start::Fresh,
            Resume::Resumed { replayed } => {
                Start::Resumed(u32::try_from(replayed).unwrap_or(u32::MAX))
            }
            Resume::Reset(reason) => Start::Reset(reason),
            Resume::Unavailable => Start::Unavailable,
        }
    }
}

impl Subscription {
    pub(crate) fn new(
        hub: Arc<HubInner>,
        sub: Arc<Subscriber>,
        preface: VecDeque<Bytes>,
        resume: Resume,
    ) -> Subscription {
        // A stream that cannot resume carries its own `retry:` line, and
        // starts its body with it.
        let hint_pending = hub.retry_line.is_some() && resume != Resume::Unavailable;
        Subscription {
            hub,
            sub,
            preface: (!preface.is_empty()).then(|| Box::new(preface)),
            resume: Start::from(resume),
            opening_pending: resume != Resume::Unavailable,
            hint_pending,
        }
    }

    /// The next frame of the preface; the preface goes once it is out
    /// (idle streams keep nothing).
    fn next_in_preface(&mut self) -> Option<Bytes> {
        let preface = self.preface.as_mut()?;
        let frame = preface.pop_front();
        if preface.is_empty() {
            self.preface = None;
        }
        frame
    }

    /// The opening comment line, once, unless the stream was cut off for
    /// lagging before it went out.
    fn opening(&mut self) -> Option<Bytes> {
        if !std::mem::take(&mut self.opening_pending) || self.sub.lock().lagged() {
            return None;
        }
        Some(Bytes::from_static(crate::hub::COMMENT_LINE))
    }

    /// `frame`, with the hub's `retry:` line in front if it is the first
    /// event's block.
    fn hinted(&mut self, frame: Bytes) -> Bytes {
        if !self.hint_pending || !is_event_block(&frame) {
            return frame;
        }
        self.hint_pending = false;
        let Some(line) = &self.hub.retry_line else {
            return frame;
        };
        let mut block = BytesMut::with_capacity(line.len() + frame.len());
        block.extend_from_slice(line);
        block.extend_from_slice(&frame);
        block.freeze()
    }

    /// At the end of a stream that sent no event: the `retry:` line alone
    /// (no blank line follows, so nothing is dispatched).
    /// Nothing for a stream cut off for lagging.
    fn hint_at_end(&mut self) -> Option<Bytes> {
        if !std::mem::take(&mut self.hint_pending) || self.sub.lock().lagged() {
            return None;
        }
        self.hub.retry_line.clone()
    }

    /// How the subscription started.
    pub fn resume(&self) -> Resume {
        match self.resume {
            Start::Fresh => Resume::Fresh,
            Start::Resumed(replayed) => Resume::Resumed {
                replayed: replayed as usize,
            },
            Start::Reset(reason) => Resume::Reset(reason),
            Start::Unavailable => Resume::Unavailable,
        }
    }

    /// Whether the hub cut it off for falling behind (under
    /// [`LagPolicy::Disconnect`](crate::LagPolicy)); its stream has ended.
    pub fn lagged(&self) -> bool {
        self.sub.lock().lagged()
    }

    /// Completes when the hub cuts it off for falling behind: a writer
    /// stuck in a write to a client that stopped reading waits on this
    /// beside the write, and gives up the connection when it completes.
    pub async fn until_lagged(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.sub.lock();
            if state.lagged() {
                Poll::Ready(())
            } else {
                state.set_waker(cx.waker().into());
                Poll::Pending
            }
        })
        .await
    }

    /// The topics and patterns it subscribed to.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.sub.topics().map(|topic| topic.as_str())
    }

    /// Moves the frames ready now, up to `max` (at least one, waiting for it),
    /// into `out`, so that a writer can send them in one vectored write.
    /// Returns `false` once the stream has ended. The frames are those the
    /// [`Stream`] yields, retry hint included.
    pub async fn next_batch(&mut self, out: &mut Vec<Bytes>, max: usize) -> bool {
        std::future::poll_fn(|cx| self.poll_batch(cx, out, max)).await
    }

    /// The polling form of [`Subscription::next_batch`].
    pub fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Bytes>,
        max: usize,
    ) -> Poll<bool> {
        self.poll_batch_by(cx.waker().into(), out, max)
    }

    /// [`Subscription::poll_batch`] for a writer that drives many
    /// subscriptions from one loop (an event loop over sockets, say): on
    /// `Pending`, `wake.wake_tag(tag)` is called once it has something
    /// again or has ended, where `poll_batch` would wake the context's
    /// waker. The subscriber keeps `wake` and `tag` (a pointer and a
    /// number), so the writer needs no waker, and no allocation, per
    /// subscription. Polling it again with another `tag`, or later with a
    /// task's `Context`, replaces whom it wakes.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::task::Poll;
    /// use ssehub::{Hub, TagWake};
    ///
    /// /// Notes which subscriptions have something to write.
    /// #[derive(Default)]
    /// struct Ready(Mutex<Vec<u32>>);
    ///
    /// impl TagWake for Ready {
    ///     fn wake_tag(&self, tag: u32) {
    ///         self.0.lock().unwrap().push(tag);
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let hub = Hub::new();
    /// let mut sub = hub.subscribe("news", None).await.unwrap();
    /// let ready = Arc::new(Ready::default());
    /// let wake: Arc<dyn TagWake> = ready.clone();
    /// let mut frames = Vec::new();
    /// // The opening comment line, then nothing yet.
    /// assert_eq!(sub.poll_batch_tagged(&wake, 7, &mut frames, 16), Poll::Ready(true));
    /// frames.clear();
    /// assert_eq!(sub.poll_batch_tagged(&wake, 7, &mut frames, 16), Poll::Pending);
    ///
    /// hub.publish("news", ssehub::Event::data("hello")).await.unwrap();
    /// assert_eq!(*ready.0.lock().unwrap(), [7]);
    /// assert_eq!(sub.poll_batch_tagged(&wake, 7, &mut frames, 16), Poll::Ready(true));
    /// assert!(frames[0].ends_with(b"data: hello\n\n"));
    /// # }
    /// ```
    pub fn poll_batch_tagged(
        &mut self,
        wake: &Arc<dyn TagWake>,
        tag: u32,
        out: &mut Vec<Bytes>,
        max: usize,
    ) -> Poll<bool> {
        self.poll_batch_by(WakeRef::Tagged(wake, tag), out, max)
    }

    fn poll_batch_by(
        &mut self,
        waker: WakeRef<'_>,
        out: &mut Vec<Bytes>,
        max: usize,
    ) -> Poll<bool> {
        let max = max.max(1);
        let start = out.len();
        out.extend(self.opening());
        while out.len() - start < max {
            match self.next_in_preface() {
                Some(frame) => out.push(frame),
                None => break,
            }
        }
        let room = max - (out.len() - start);
        let polled = if room == 0 {
            Poll::Ready(true)
        } else {
            self.sub.lock().pop_batch(waker, out, room)
        };
        if self.hint_pending {
            if let Some(at) = (start..out.len()).find(|&i| is_event_block(&out[i])) {
                let frame = std::mem::take(&mut out[at]);
                out[at] = self.hinted(frame);
            } else if polled == Poll::Ready(false) {
                if let Some(line) = self.hint_at_end() {
                    out.push(line);
                    return Poll::Ready(true);
                }
            }
        }
        match polled {
            Poll::Pending | Poll::Ready(false) if out.len() > start => Poll::Ready(true),
            other => other,
        }
    }

    /// The connection id, as in [`Hub::connections`](crate::Hub::connections):
    /// what `$conn/ID` and [`Hub::close`](crate::Hub::close) take.
    pub fn id(&self) -> ConnectionId {
        self.hub.presence.id(self.sub.id)
    }

    /// Whether it was ended by [`Hub::close`](crate::Hub::close).
    pub fn closed(&self) -> bool {
        self.sub.closed()
    }

    /// When it opened, in milliseconds since the Unix epoch (as presence
    /// lists it).
    pub fn since(&self) -> u64 {
        self.sub.since
    }
}

/// Whether `frame` is an event's block: it ends with a blank line and has a
/// field (a line that is not a comment). Keep-alives are comments, and a
/// comment-only block (`: x\n\n`) would dispatch an empty event in some
/// clients if it carried the hint.
fn is_event_block(frame: &[u8]) -> bool {
    frame.ends_with(b"\n\n")
        && frame
            .split(|&b| b == b'\n')
            .any(|line| line.first().is_some_and(|&b| b != b':'))
}

impl Stream for Subscription {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(opening) = self.opening() {
            return Poll::Ready(Some(opening));
        }
        if let Some(frame) = self.next_in_preface() {
            return Poll::Ready(Some(self.hinted(frame)));
        }
        let next = self.sub.lock().pop(cx.waker().into());
        match next {
            Next::Frame(frame) => Poll::Ready(Some(self.hinted(frame))),
            Next::End => Poll::Ready(self.hint_at_end()),
            Next::Pending => Poll::Pending,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.registry.unregister(&self.sub);
        if self.resume != Start::Unavailable {
            crate::presence::leave(&self.hub, &self.sub);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_event_block;

    #[test]
    fn the_hint_goes_only_in_front_of_an_events_block() {
        for (frame, event) in [
            (&b"id: 1\ndata: x\n\n"[..], true),
            (b"event: ssehub-reset\nid: 1\ndata: {}\n\n", true),
            (b": note\ndata: x\n\n", true),
            (b"retry: 10\n\n", true), // published so; not the hub's doing
            (b":\n", false),
            (b": \n\n", false),
            (b": a\n: b\n\n", false),
            (b"data: x\n", false),
        ] {
            assert_eq!(is_event_block(frame), event, "{frame:?}");
        }
    }
}
