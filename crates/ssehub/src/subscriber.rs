//! One subscriber's bounded queue, shared between the publishing side and the
//! subscription stream that drains it.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
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
    /// Bytes in `queue` (at most the subscriber's `max_bytes`, a `u32`).
    bytes: u32,
    /// Nothing was queued since the last keep-alive tick.
    pub(crate) idle: bool,
    /// A keep-alive comment line goes out before anything queued: a flag,
    /// not a frame in the queue, so that an idle stream holds no queue.
    keepalive: bool,
    pub(crate) end: Option<End>,
    /// The newest event queued: an event on two of our topics comes once.
    last: Position,
    waker: Option<Waker>,
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

/// One of a subscriber's topics, and its key in that topic's list in the
/// registry (kept here, in the same allocation as the topic: the registry
/// writes it under its lock when it lists the subscriber).
#[derive(Debug)]
pub(crate) struct Listed {
    pub(crate) topic: Topic,
    pub(crate) key: AtomicUsize,
}

/// The publishing side's handle on one subscription.
///
/// Every idle stream has one, so it is kept small: what most streams lack
/// (a user, metadata, patterns, a lag callback) is in one optional box.
/// `a_subscriber_is_small` pins its size.
pub(crate) struct Subscriber {
    pub(crate) id: u64,
    /// When it opened, in milliseconds since the Unix epoch.
    pub(crate) since: u64,
    topics: Box<[Listed]>,
    rare: Option<Box<Rare>>,
    /// The most bytes queued before the lag policy applies.
    max_bytes: u32,
    policy: LagPolicy,
    state: Mutex<State>,
}

/// What few subscribers have.
#[derive(Default)]
struct Rare {
    /// Who it is ([`SubscribeOptions::user`](crate::SubscribeOptions::user)).
    user: Option<Box<str>>,
    meta: Option<serde_json::Value>,
    /// The topics that are patterns (`chat/*`), to match event topics against.
    patterns: Box<[TopicPattern]>,
    /// Called once when the subscriber is cut off for lagging (to close its
    /// connection even if the client never reads again).
    on_lag: Option<OnLag>,
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
        let patterns: Box<[TopicPattern]> = topics
            .iter()
            .map(|t| TopicPattern::new(t.as_str()))
            .filter(TopicPattern::is_wildcard)
            .collect();
        let rare = (user.is_some() || meta.is_some() || !patterns.is_empty() || on_lag.is_some())
            .then(|| {
                Box::new(Rare {
                    user,
                    meta,
                    patterns,
                    on_lag,
                })
            });
        let topics = topics
            .into_vec()
            .into_iter()
            .map(|topic| Listed {
                topic,
                key: AtomicUsize::new(0),
            })
            .collect();
        Subscriber {
            id,
            since: crate::presence::now_ms(),
            topics,
            rare,
            max_bytes: u32::try_from(max_bytes).unwrap_or(u32::MAX),
            policy,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                idle: true,
                keepalive: false,
                end: None,
                last,
                waker: None,
                skipped: None,
            }),
        }
    }

    /// Its topics.
    pub(crate) fn topics(&self) -> impl ExactSizeIterator<Item = &Topic> {
        self.topics.iter().map(|listed| &listed.topic)
    }

    /// Its topics with their keys in the registry's lists.
    pub(crate) fn listed(&self) -> &[Listed] {
        &self.topics
    }

    /// Who it is ([`SubscribeOptions::user`](crate::SubscribeOptions::user)).
    pub(crate) fn user(&self) -> Option<&str> {
        self.rare.as_ref()?.user.as_deref()
    }

    /// What [`SubscribeOptions::meta`](crate::SubscribeOptions::meta) attached.
    pub(crate) fn meta(&self) -> Option<&serde_json::Value> {
        self.rare.as_ref()?.meta.as_ref()
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
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        if s.bytes.saturating_add(len) > self.max_bytes && !s.queue.is_empty() {
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
                    if let Some(on_lag) = self.rare.as_ref().and_then(|r| r.on_lag.as_ref()) {
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
        s.bytes = s.bytes.saturating_add(len);
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
            let bytes: usize = s.queue.iter().map(Bytes::len).sum();
            s.bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        }
    }

    /// Whether an event on `topic` is for this subscriber.
    pub(crate) fn wants(&self, topic: &Topic) -> bool {
        self.topics().any(|t| t == topic)
            || self
                .rare
                .as_ref()
                .is_some_and(|rare| rare.patterns.iter().any(|p| p.matches(topic.as_str())))
    }

    /// Bytes queued and not yet taken by the stream.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().bytes as usize
    }

    /// Sends a keep-alive comment line if nothing was queued since the last
    /// tick. Such a stream has been idle a whole tick: it gives back its
    /// queue's buffer (a burst's buffer is given back as soon as the queue
    /// drains; a smaller one is kept while events come).
    pub(crate) fn keepalive(&self) {
        let mut s = self.lock();
        if s.end.is_some() {
            return;
        }
        if s.idle && s.queue.is_empty() {
            s.queue = VecDeque::new();
            s.keepalive = true;
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
        if std::mem::take(&mut self.keepalive) {
            return Next::Frame(Bytes::from_static(crate::hub::COMMENT_LINE));
        }
        if let Some(frame) = self.queue.pop_front() {
            let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
            self.bytes = self.bytes.saturating_sub(len);
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

#[cfg(test)]
mod tests {
    /// Every idle stream has a subscriber (in an `Arc`, 16 bytes more): keep
    /// it small (see docs/benchmarks.md#parked). 232 bytes at first, 136
    /// since the rare parts share one box, the registry's keys sit beside
    /// the topics and a keep-alive is a flag.
    #[test]
    fn a_subscriber_is_small() {
        let size = std::mem::size_of::<super::Subscriber>();
        println!("a subscriber is {size} bytes");
        assert!(size <= 136, "a subscriber is {size} bytes");
    }

    /// An idle stream holds no queue: a keep-alive tick gives back the
    /// buffer of a stream idle since the tick before, and the comment line
    /// it sends is not queued.
    #[test]
    fn a_stream_idle_for_a_tick_gives_back_its_queue() {
        use super::*;
        let sub = Subscriber::new(
            Who {
                id: 1,
                user: None,
                meta: None,
            },
            Box::new([Topic::new("t").unwrap()]),
            LagPolicy::Disconnect,
            1 << 20,
            Position::default(),
            None,
        );
        let waker = Waker::noop();
        let event = Bytes::from_static(b"data: x\n\n");
        assert_eq!(
            sub.push(Position { high: 0, low: 1 }, &event),
            Pushed::Queued
        );
        let mut s = sub.lock();
        assert!(matches!(s.pop(waker), Next::Frame(f) if f == event));
        assert!(matches!(s.pop(waker), Next::Pending));
        assert!(
            s.queue.capacity() > 0,
            "a queue that drained keeps its buffer"
        );
        drop(s);
        // The first tick after the event: not idle for a whole tick yet.
        sub.keepalive();
        assert!(sub.lock().queue.capacity() > 0);
        assert!(matches!(sub.lock().pop(waker), Next::Pending));
        // The second: idle since the first.
        sub.keepalive();
        let mut s = sub.lock();
        assert_eq!(s.queue.capacity(), 0);
        assert!(matches!(s.pop(waker), Next::Frame(f) if f == crate::hub::COMMENT_LINE));
        assert!(matches!(s.pop(waker), Next::Pending));
        assert_eq!(s.queue.capacity(), 0);
    }
}
