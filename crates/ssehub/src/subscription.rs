//! The stream a subscriber reads: encoded frames, ready to write.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::control::ResetReason;
use crate::hub::HubInner;
use crate::subscriber::{Next, Subscriber};

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
    /// stream is a `retry:` hint and a comment, then ends, so that the client
    /// reconnects soon with the same `Last-Event-ID`.
    Unavailable,
}

/// A subscription: a `Stream` of encoded frames (`Bytes`) to write to the
/// client as they come, in the hub's publish order, none twice.
///
/// It starts with a `retry:` hint, then a reset or the replayed events when
/// it resumed, then live events and keep-alive comments. It ends when the
/// subscriber falls behind under [`LagPolicy::Disconnect`](crate::LagPolicy)
/// or the hub shuts down. Dropping it unregisters it at once.
#[derive(Debug)]
#[must_use = "a subscription receives nothing unless polled"]
pub struct Subscription {
    hub: Arc<HubInner>,
    sub: Arc<Subscriber>,
    preface: VecDeque<Bytes>,
    resume: Resume,
}

impl Subscription {
    pub(crate) fn new(
        hub: Arc<HubInner>,
        sub: Arc<Subscriber>,
        preface: VecDeque<Bytes>,
        resume: Resume,
    ) -> Subscription {
        Subscription {
            hub,
            sub,
            preface,
            resume,
        }
    }

    /// How the subscription started.
    pub fn resume(&self) -> Resume {
        self.resume
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
                state.set_waker(cx.waker());
                Poll::Pending
            }
        })
        .await
    }

    /// The topics and patterns it subscribed to.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.sub.topics.iter().map(|topic| topic.as_str())
    }

    /// Moves the frames ready now, up to `max` (at least one, waiting for it),
    /// into `out`, so that a writer can send them in one vectored write.
    /// Returns `false` once the stream has ended.
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
        let max = max.max(1);
        let start = out.len();
        while out.len() - start < max {
            match self.preface.pop_front() {
                Some(frame) => out.push(frame),
                None => break,
            }
        }
        if self.preface.is_empty() && self.preface.capacity() > 0 {
            self.preface = VecDeque::new(); // idle streams keep nothing
        }
        let room = max - (out.len() - start);
        if room == 0 {
            return Poll::Ready(true);
        }
        match self.sub.lock().pop_batch(cx.waker(), out, room) {
            Poll::Pending | Poll::Ready(false) if out.len() > start => Poll::Ready(true),
            other => other,
        }
    }

    /// The connection id, as in [`Hub::connections`](crate::Hub::connections).
    pub fn id(&self) -> u64 {
        self.sub.id
    }
}

impl Stream for Subscription {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(frame) = self.preface.pop_front() {
            if self.preface.is_empty() {
                self.preface = VecDeque::new(); // idle streams keep nothing
            }
            return Poll::Ready(Some(frame));
        }
        let next = self.sub.lock().pop(cx.waker());
        match next {
            Next::Frame(frame) => Poll::Ready(Some(frame)),
            Next::End => Poll::Ready(None),
            Next::Pending => Poll::Pending,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.registry.unregister(&self.sub);
    }
}
