//! One subscriber's bounded queue, shared between the publishing side and the
//! subscription stream that drains it.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// What is queued; `None` while nothing is (most streams, most of the
    /// time: 8 bytes where a `VecDeque` is 32).
    queue: Option<Box<Queue>>,
    /// Nothing was queued since the last keep-alive tick.
    pub(crate) idle: bool,
    /// A keep-alive comment line goes out before anything queued: a flag,
    /// not a frame in the queue, so that an idle stream holds no queue.
    keepalive: bool,
    pub(crate) end: Option<End>,
    /// The newest event queued: an event on two of our topics comes once.
    last: Position,
    waker: Wakeup,
    /// The most bytes queued before the lag policy applies. Here, not
    /// beside the state, where it would cost the subscriber 8 bytes more
    /// (it is read under the lock anyway).
    max_bytes: u32,
    policy: LagPolicy,
}

/// A subscriber's queued frames.
#[derive(Debug, Default)]
struct Queue {
    /// Each frame as the fan-out shares it ([`SharedFrame`]): 8 bytes a
    /// slot where a `Bytes` is 32.
    frames: VecDeque<SharedFrame>,
    /// Bytes in `frames` (at most the subscriber's `max_bytes`, a `u32`).
    bytes: u32,
    /// Events skipped under [`LagPolicy::Skip`] and not yet reported; the
    /// gap event is written when the stream next takes a frame, before the
    /// frames still queued (so the queue is not empty while some are).
    skipped: Skipped,
}

/// One event's frame as every subscriber's queue holds it: one `Arc` made
/// per delivery, so that a queue slot is a pointer (8 bytes where a `Bytes`
/// is 32). Why: a fan-out writes a slot in each subscriber's queue, and
/// with thousands of subscribers those writes miss the CPU's caches; four
/// times smaller queues are four times less memory for them to miss in.
pub(crate) type SharedFrame = Arc<Bytes>;

/// The most queue slots a drained queue keeps while events come: 2 KiB of
/// [`SharedFrame`]s. A subscriber that a fast publisher keeps busy takes
/// tens of frames a write; a smaller bound had its queue freed and grown
/// again, by doubling, after every write.
const KEEP_SLOTS: usize = 256;

/// Told, by the number it was given, that a subscription has something to
/// take again (or has ended): for a writer that drives many subscriptions
/// from one loop, through [`Subscription::poll_batch_tagged`](crate::Subscription::poll_batch_tagged).
///
/// A subscriber holds it as a pointer and a number, where a waker for each
/// subscription would be an allocation of its own. It is called with the
/// subscriber's lock released; it should only note the number and return
/// (push it on a list, wake a thread), not poll the subscription.
pub trait TagWake: Send + Sync + 'static {
    /// Subscription `tag` has something to take, or has ended.
    fn wake_tag(&self, tag: u32);
}

/// Whom a subscriber wakes.
#[derive(Default)]
enum Wakeup {
    #[default]
    None,
    /// A task (polled through a `Context`).
    Task(Waker),
    /// A loop that drives many subscriptions, by number.
    Tagged(Arc<dyn TagWake>, u32),
}

impl std::fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wakeup::None => f.write_str("None"),
            Wakeup::Task(w) => f.debug_tuple("Task").field(w).finish(),
            Wakeup::Tagged(_, tag) => f.debug_tuple("Tagged").field(tag).finish(),
        }
    }
}

impl Wakeup {
    fn wake(self) {
        match self {
            Wakeup::None => {}
            Wakeup::Task(w) => w.wake(),
            Wakeup::Tagged(to, tag) => to.wake_tag(tag),
        }
    }
}

/// Whom to wake, as the stream side passes it when it polls.
#[derive(Clone, Copy)]
pub(crate) enum WakeRef<'a> {
    Task(&'a Waker),
    Tagged(&'a Arc<dyn TagWake>, u32),
}

impl<'a> From<&'a Waker> for WakeRef<'a> {
    fn from(waker: &'a Waker) -> WakeRef<'a> {
        WakeRef::Task(waker)
    }
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
            state: Mutex::new(State {
                max_bytes: u32::try_from(max_bytes).unwrap_or(u32::MAX),
                policy,
                queue: None,
                idle: true,
                keepalive: false,
                end: None,
                last,
                waker: Wakeup::None,
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
    pub(crate) fn push(&self, cursor: Position, frame: &SharedFrame) -> Pushed {
        let mut s = self.lock();
        if s.end.is_some() || cursor <= s.last {
            return Pushed::Ignored;
        }
        s.last = cursor;
        let mut outcome = Pushed::Queued;
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let held = s.queue.as_ref().map_or(0, |q| q.bytes);
        if held.saturating_add(len) > s.max_bytes && s.queued() {
            match s.policy {
                LagPolicy::Disconnect => {
                    s.end = Some(End::Lagged);
                    s.queue = None;
                    let waker = std::mem::take(&mut s.waker);
                    drop(s);
                    waker.wake();
                    if let Some(on_lag) = self.rare.as_ref().and_then(|r| r.on_lag.as_ref()) {
                        on_lag();
                    }
                    return Pushed::Lagged;
                }
                LagPolicy::Skip => {
                    // Only event frames count (not keep-alive comments).
                    let queue = s.queue.get_or_insert_default();
                    let dropped = std::mem::take(&mut queue.frames);
                    queue.bytes = 0;
                    for frame in &dropped {
                        if let Some(id) = control::frame_id(frame) {
                            queue.skipped.count += 1;
                            queue.skipped.last_id = Some(id.into());
                        }
                    }
                    outcome = Pushed::Skipped;
                }
            }
        }
        let queue = s.queue.get_or_insert_default();
        queue.bytes = queue.bytes.saturating_add(len);
        queue.frames.push_back(frame.clone());
        s.idle = false;
        let waker = std::mem::take(&mut s.waker);
        drop(s);
        waker.wake();
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
        let Some(queue) = s.queue.as_mut() else {
            return;
        };
        let before = queue.frames.len();
        queue
            .frames
            .retain(|frame| position_of(frame).is_none_or(|p| p > floor));
        if queue.frames.len() != before {
            let bytes: usize = queue.frames.iter().map(|frame| frame.len()).sum();
            queue.bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
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
        self.lock().queue.as_ref().map_or(0, |q| q.bytes as usize)
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
        if s.idle && !s.queued() {
            s.queue = None;
            s.keepalive = true;
            let waker = std::mem::take(&mut s.waker);
            drop(s);
            return waker.wake();
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
        let waker = std::mem::take(&mut s.waker);
        drop(s);
        waker.wake();
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
    pub(crate) fn pop(&mut self, waker: WakeRef<'_>) -> Next {
        if self.lagged() {
            return Next::End;
        }
        if let Some(queue) = self.queue.as_mut() {
            if queue.skipped.count > 0 {
                let skipped = std::mem::take(&mut queue.skipped);
                let gap = control::gap_frame(skipped.count, skipped.last_id.as_deref());
                return Next::Frame(gap);
            }
        }
        if std::mem::take(&mut self.keepalive) {
            return Next::Frame(Bytes::from_static(crate::hub::COMMENT_LINE));
        }
        if let Some(queue) = self.queue.as_mut() {
            if let Some(frame) = queue.frames.pop_front() {
                let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
                queue.bytes = queue.bytes.saturating_sub(len);
                return Next::Frame(Bytes::clone(&frame));
            }
            // Drained: give back what a burst made the queue grow to (a
            // smaller one is kept while events come, until a keep-alive
            // tick finds the stream idle).
            if queue.frames.capacity() > KEEP_SLOTS {
                self.queue = None;
            }
        }
        if self.end.is_some() {
            return Next::End;
        }
        self.set_waker(waker);
        Next::Pending
    }

    /// Whether any frame is queued.
    fn queued(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| !q.frames.is_empty())
    }

    /// Stores whom to wake on the next frame or the end.
    pub(crate) fn set_waker(&mut self, waker: WakeRef<'_>) {
        match (&self.waker, waker) {
            (Wakeup::Task(w), WakeRef::Task(new)) if w.will_wake(new) => {}
            (Wakeup::Tagged(to, tag), WakeRef::Tagged(new, new_tag))
                if *tag == new_tag && Arc::ptr_eq(to, new) => {}
            (_, WakeRef::Task(new)) => self.waker = Wakeup::Task(new.clone()),
            (_, WakeRef::Tagged(new, tag)) => self.waker = Wakeup::Tagged(new.clone(), tag),
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
        waker: WakeRef<'_>,
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
    /// the topics and a keep-alive is a flag; 104 since the queue (and what
    /// a skip leaves to report) is boxed while it holds something and the
    /// lag bound sits in the state's padding, even with a tagged wakeup in
    /// place of a waker: an `Arc` of 120 bytes is a 128-byte block in
    /// glibc's malloc, against 160 before.
    #[test]
    fn a_subscriber_is_small() {
        let size = std::mem::size_of::<super::Subscriber>();
        println!("a subscriber is {size} bytes");
        assert!(size <= 104, "a subscriber is {size} bytes");
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
        let waker = WakeRef::from(Waker::noop());
        let event = Bytes::from_static(b"data: x\n\n");
        assert_eq!(
            sub.push(Position { high: 0, low: 1 }, &Arc::new(event.clone())),
            Pushed::Queued
        );
        let mut s = sub.lock();
        assert!(matches!(s.pop(waker), Next::Frame(f) if f == event));
        assert!(matches!(s.pop(waker), Next::Pending));
        assert!(
            s.queue.as_ref().is_some_and(|q| q.frames.capacity() > 0),
            "a queue that drained keeps its buffer"
        );
        drop(s);
        // The first tick after the event: not idle for a whole tick yet.
        sub.keepalive();
        assert!(sub.lock().queue.is_some());
        assert!(matches!(sub.lock().pop(waker), Next::Pending));
        // The second: idle since the first.
        sub.keepalive();
        let mut s = sub.lock();
        assert!(s.queue.is_none());
        assert!(matches!(s.pop(waker), Next::Frame(f) if f == crate::hub::COMMENT_LINE));
        assert!(matches!(s.pop(waker), Next::Pending));
        assert!(s.queue.is_none());
    }
}
