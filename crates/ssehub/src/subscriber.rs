//! One subscriber's bounded queue, shared between the publishing side and the
//! subscription stream that drains it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use bytes::Bytes;

use crate::control;
use crate::id::Position;
use crate::topic::{Topic, TopicPattern};

/// What a subscriber that falls behind gets.
///
/// Whatever the policy, a slow subscriber never blocks the publisher or other
/// subscribers, and its queue never holds more than its buffer bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LagPolicy {
    /// Drop the connection (the default). Its client reconnects with
    /// `Last-Event-ID` and resumes from history, so nothing is lost while the
    /// missed events are still in history (and a reset says so when not).
    #[default]
    Disconnect,
    /// Drop what is queued, send an [`ssehub-gap`](crate::control) event
    /// saying how many events were skipped, and carry on with the newest.
    Skip,
}

/// Why a subscription stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// It fell behind under [`LagPolicy::Disconnect`]: end now, drop the queue.
    Lagged,
    /// The hub shuts down: send what is queued, then end.
    Shutdown,
    /// Closed by [`Hub::close`](crate::Hub::close): send what is queued,
    /// then end.
    Closed,
}

#[derive(Debug)]
pub(crate) struct State {
    queue: VecDeque<Bytes>,
    bytes: usize,
    /// The newest event queued: an event on two of our topics comes once.
    last: Position,
    waker: Option<Waker>,
    pub(crate) end: Option<End>,
    /// Nothing was queued since the last keep-alive tick.
    pub(crate) idle: bool,
    /// Events skipped under [`LagPolicy::Skip`] and not yet reported; the
    /// gap event is written when the stream next takes a frame, before the
    /// frames still queued. Boxed: rare, and every idle stream has a state.
    skipped: Option<Box<Skipped>>,
}

/// Events skipped and not yet reported.
#[derive(Debug, Default)]
struct Skipped {
    count: u64,
    last_id: Option<Box<str>>,
}

/// The publishing side's handle on one subscription.
pub(crate) struct Subscriber {
    pub(crate) id: u64,
    pub(crate) topics: Box<[Topic]>,
    /// The topics that are patterns (`chat/*`), to match event topics against.
    patterns: Box<[TopicPattern]>,
    /// Boxed: most streams have none, and every idle stream has a subscriber.
    pub(crate) meta: Option<Box<serde_json::Value>>,
    /// Who it is ([`SubscribeOptions::user`](crate::SubscribeOptions::user)).
    pub(crate) user: Option<Box<str>>,
    /// When it opened, in milliseconds since the Unix epoch.
    pub(crate) since: u64,
    /// Called once when the subscriber is cut off for lagging (to close its
    /// connection even if the client never reads again).
    on_lag: Option<OnLag>,
    policy: LagPolicy,
    max_bytes: usize,
    state: Mutex<State>,
}

/// A callback run when a subscriber is disconnected for lagging.
pub(crate) type OnLag = Box<dyn Fn() + Send + Sync>;

/// What happened to a pushed frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Already queued (an event on two topics), or the stream has ended.
    Ignored,
    /// The subscriber fell behind and is being disconnected.
    Lagged,
    /// The subscriber fell behind; older frames were skipped.
    Skipped,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .field("topics", &self.topics)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Who a subscriber is: its number, user and metadata.
pub(crate) struct Who {
    pub(crate) id: u64,
    pub(crate) user: Option<Box<str>>,
    pub(crate) meta: Option<serde_json::Value>,
}

impl Subscriber {
    pub(crate) fn new(
        who: Who,
        topics: Box<[Topic]>,
        policy: LagPolicy,
        max_bytes: usize,
        last: Position,
        on_lag: Option<OnLag>,
    ) -> Subscriber {
        let Who { id, user, meta } = who;
        let patterns = topics
            .iter()
            .map(|t| TopicPattern::new(t.as_str()))
            .filter(TopicPattern::is_wildcard)
            .collect();
        Subscriber {
            id,
            topics,
            patterns,
            meta: meta.map(Box::new),
            user,
            since: crate::presence::now_ms(),
            on_lag,
            policy,
            max_bytes,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                last,
                waker: None,
                end: None,
                idle: true,
                skipped: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the frame of event `cursor`, applying the lag policy.
    pub(crate) fn push(&self, cursor: Position, frame: &Bytes) -> Pushed {
        let mut s = self.lock();
        if s.end.is_some() || cursor <= s.last {
            return Pushed::Ignored;
        }
        s.last = cursor;
        let mut outcome = Pushed::Queued;
        if s.bytes + frame.len() > self.max_bytes && !s.queue.is_empty() {
            match self.policy {
                LagPolicy::Disconnect => {
                    s.end = Some(End::Lagged);
                    s.queue = VecDeque::new();
                    s.bytes = 0;
                    let waker = s.waker.take();
                    drop(s);
                    if let Some(w) = waker {
                        w.wake();
                    }
                    if let Some(on_lag) = &self.on_lag {
                        on_lag();
                    }
                    return Pushed::Lagged;
                }
                LagPolicy::Skip => {
                    // Only event frames count (not keep-alive comments).
                    let dropped = std::mem::take(&mut s.queue);
                    let skipped = s.skipped.get_or_insert_default();
                    for frame in &dropped {
                        if let Some(id) = control::frame_id(frame) {
                            skipped.count += 1;
                            skipped.last_id = Some(id.into());
                        }
                    }
                    s.bytes = 0;
                    outcome = Pushed::Skipped;
                }
            }
        }
        s.bytes += frame.len();
        s.queue.push_back(frame.clone());
        s.idle = false;
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        outcome
    }

    /// Skips every event at or before `floor`, including those already
    /// queued (`position_of` reads a queued frame's position): for a client
    /// that resumed with an id this node had not delivered yet (it came from
    /// a node further ahead), so that it gets none of them twice.
    pub(crate) fn raise_floor(
        &self,
        floor: Position,
        position_of: impl Fn(&[u8]) -> Option<Position>,
    ) {
        let mut s = self.lock();
        if floor <= s.last {
            return;
        }
        s.last = floor;
        let before = s.queue.len();
        s.queue
            .retain(|frame| position_of(frame).is_none_or(|p| p > floor));
        if s.queue.len() != before {
            s.bytes = s.queue.iter().map(Bytes::len).sum();
        }
    }

    /// Whether an event on `topic` is for this subscriber.
    pub(crate) fn wants(&self, topic: &Topic) -> bool {
        self.topics.contains(topic) || self.patterns.iter().any(|p| p.matches(topic.as_str()))
    }

    /// Bytes queued and not yet taken by the stream.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Queues a keep-alive comment if nothing was queued since the last tick.
    pub(crate) fn keepalive(&self, frame: &Bytes) {
        let mut s = self.lock();
        if s.end.is_some() {
            return;
        }
        if s.idle && s.queue.is_empty() {
            s.queue.push_back(frame.clone());
            s.bytes += frame.len();
            if let Some(w) = s.waker.take() {
                drop(s);
                w.wake();
                return;
            }
        }
        s.idle = true;
    }

    /// Whether it was ended by [`Hub::close`](crate::Hub::close).
    pub(crate) fn closed(&self) -> bool {
        self.lock().end == Some(End::Closed)
    }

    /// Ends the stream.
    pub(crate) fn end(&self, end: End) {
        let mut s = self.lock();
        if s.end.is_none() {
            s.end = Some(end);
        }
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// What the stream side takes out of the queue.
#[derive(Debug)]
pub(crate) enum Next {
    Frame(Bytes),
    End,
    Pending,
}

impl State {
    pub(crate) fn pop(&mut self, waker: &Waker) -> Next {
        if self.lagged() {
            return Next::End;
        }
        if let Some(skipped) = self.skipped.take() {
            if skipped.count > 0 {
                let gap = control::gap_frame(skipped.count, skipped.last_id.as_deref());
                return Next::Frame(gap);
            }
        }
        if let Some(frame) = self.queue.pop_front() {
            self.bytes -= frame.len();
            return Next::Frame(frame);
        }
        if self.end.is_some() {
            return Next::End;
        }
        // Drained: give back what a burst made the queue grow to.
        if self.queue.capacity() > 64 {
            self.queue = VecDeque::new();
        }
        self.set_waker(waker);
        Next::Pending
    }

    /// Stores the waker to wake on the next frame or the end.
    pub(crate) fn set_waker(&mut self, waker: &Waker) {
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }

    /// Whether it was cut off for lagging.
    pub(crate) fn lagged(&self) -> bool {
        self.end == Some(End::Lagged)
    }

    /// Moves up to `max` frames into `out`, under one lock. `Ready(true)`:
    /// frames were moved; `Ready(false)`: the stream ended; `Pending`: none
    /// queued, the waker is stored.
    pub(crate) fn pop_batch(
        &mut self,
        waker: &Waker,
        out: &mut Vec<Bytes>,
        max: usize,
    ) -> std::task::Poll<bool> {
        let start = out.len();
        while out.len() - start < max {
            match self.pop(waker) {
                Next::Frame(frame) => out.push(frame),
                Next::End if out.len() == start => return std::task::Poll::Ready(false),
                Next::End | Next::Pending => break,
            }
        }
        if out.len() > start {
            std::task::Poll::Ready(true)
        } else {
            std::task::Poll::Pending
        }
    }
}
