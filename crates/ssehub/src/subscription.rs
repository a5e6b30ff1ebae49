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

    /// The connection id, as in [`Hub::connections`](crate::Hub::connections).
    pub fn id(&self) -> u64 {
        self.sub.id
    }
}

impl Stream for Subscription {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(frame) = self.preface.pop_front() {
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
