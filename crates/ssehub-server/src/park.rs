//! Idle plain-HTTP streams without a task of their own.
//!
//! Why: an idle stream is what a hub holds most of, so what it costs is what
//! a hub can hold. A stream in a task of its own costs that task (its future,
//! about 800 bytes) and the runtime's registration of its socket (256 bytes,
//! cache-line aligned); parked here it costs its [`Parked`] record and one
//! entry in a shard's own epoll set, which lives in the kernel.
//!
//! How: each shard is one thread that owns a `mio::Poll` (an epoll instance)
//! and the streams parked on it. It is told when one of its streams has
//! something to write (the stream's subscription calls the shard's
//! [`TagWake`] with the stream's key, which puts the key in the shard's
//! inbox: no waker, no allocation per stream) and when a client sends something
//! or goes away (its socket is readable in the shard's epoll set). The
//! shard writes queued frames with one non-blocking vectored write; a write
//! that does not finish (the client's socket buffer is full) hands the
//! stream to a task of its own ([`crate::conn::write_busy`]), which writes
//! the rest as the client reads it, and parks the stream again once its
//! queue is empty. So only busy streams have a task, and only while busy.
//! A token's expiry is a deadline the shard keeps.
//!
//! Threads and not tasks: the runtime can wait on an epoll instance only
//! through `AsyncFd`, whose constructors are `unsafe` now, and this crate
//! forbids `unsafe`. A shard thread runs in the runtime's context, so what
//! it starts (a busy stream's task, a presence leave) runs on the runtime.
//! TLS streams are written by a task each (their TLS state is per stream
//! anyway).

use std::collections::BTreeSet;
use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use slab::Slab;
use ssehub::TagWake;

use crate::conn::{Chunk, Stream, BATCH, END_CHUNK};
use crate::events::Expiry;
use crate::log::Ended;
use crate::metrics::ServerCounters;

/// Most batches written to one stream before the shard serves the others.
const BATCHES_PER_TURN: usize = 4;

/// The token of a shard's own waker in its epoll set (streams use their
/// slab keys).
const WAKE: mio::Token = mio::Token(usize::MAX);

/// Where idle plain-HTTP streams wait: one shard per runtime worker.
#[derive(Clone, Debug)]
pub(crate) struct Park {
    shards: Arc<[Arc<Shard>]>,
    next: Arc<AtomicUsize>,
    counters: Arc<ServerCounters>,
    runtime: tokio::runtime::Handle,
}

/// Stops the shards when dropped: streams still parked are closed.
#[derive(Debug)]
pub(crate) struct Stopper(Park);

impl Drop for Stopper {
    fn drop(&mut self) {
        for shard in self.0.shards.iter() {
            shard.lock().closed = true;
            let _ = shard.waker.wake();
        }
    }
}

/// What is handed to a shard from other threads.
#[derive(Debug, Default)]
struct Inbox {
    /// Streams to park.
    adopted: Vec<(mio::net::TcpStream, Stream)>,
    /// Keys of parked streams with something to write (or that ended).
    woken: Vec<u32>,
    /// The shard stops (or has): nothing more is parked on it.
    closed: bool,
}

#[derive(Debug)]
struct Shard {
    inbox: Mutex<Inbox>,
    /// Wakes the shard's thread.
    waker: mio::Waker,
}

impl Shard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the thread if the inbox was empty (else it is awake already,
    /// or will look at the inbox before it waits again).
    fn wake_if(&self, was_empty: bool) {
        if was_empty {
            let _ = self.waker.wake();
        }
    }
}

impl Inbox {
    fn is_empty(&self) -> bool {
        self.adopted.is_empty() && self.woken.is_empty()
    }
}

/// A parked stream: its socket and what it holds. Kept in place in its
/// shard's slab: a parked stream adds no allocation of its own.
#[derive(Debug)]
struct Parked {
    socket: mio::net::TcpStream,
    stream: Stream,
}

/// A parked stream's subscription tells its shard it has something to
/// write by its key in the shard's slab.
impl TagWake for Shard {
    fn wake_tag(&self, key: u32) {
        let mut inbox = self.lock();
        let was_empty = inbox.is_empty();
        inbox.woken.push(key);
        drop(inbox);
        self.wake_if(was_empty);
    }
}

impl Park {
    /// Starts one shard (a thread) per worker thread of the current runtime;
    /// they stop when the [`Stopper`] is dropped.
    pub(crate) fn start(counters: Arc<ServerCounters>) -> io::Result<(Park, Stopper)> {
        let runtime = tokio::runtime::Handle::current();
        let workers = runtime.metrics().num_workers().max(1);
        let mut shards = Vec::with_capacity(workers);
        let mut polls = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = mio::Poll::new()?;
            shards.push(Arc::new(Shard {
                inbox: Mutex::default(),
                waker: mio::Waker::new(poll.registry(), WAKE)?,
            }));
            polls.push(poll);
        }
        let park = Park {
            shards: shards.into(),
            next: Arc::default(),
            counters,
            runtime,
        };
        for (n, (shard, poll)) in park.shards.iter().zip(polls).enumerate() {
            let (shard, park) = (shard.clone(), park.clone());
            std::thread::Builder::new()
                .name(format!("ssehub-park-{n}"))
                .spawn(move || run(shard, poll, park))?;
        }
        Ok((park.clone(), Stopper(park)))
    }

    /// Where the bytes written on streams are counted.
    pub(crate) fn counters(&self) -> &Arc<ServerCounters> {
        &self.counters
    }

    /// Parks `socket`'s stream (its response head already written): from
    /// now on a shard writes its frames and notices its client leave.
    pub(crate) fn adopt(&self, socket: tokio::net::TcpStream, stream: Stream) {
        let socket = match socket.into_std() {
            Ok(socket) => mio::net::TcpStream::from_std(socket),
            Err(_) => return stream.end(Ended::WriteFailed),
        };
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let shard = &self.shards[n];
        let mut inbox = shard.lock();
        if inbox.closed {
            drop(inbox);
            return stream.end(Ended::ByHub);
        }
        let was_empty = inbox.is_empty();
        inbox.adopted.push((socket, stream));
        drop(inbox);
        shard.wake_if(was_empty);
    }
}

/// A shard's thread.
fn run(shard: Arc<Shard>, mut poll: mio::Poll, park: Park) {
    let _runtime = park.runtime.enter();
    let registry = match poll.registry().try_clone() {
        Ok(registry) => registry,
        Err(e) => {
            tracing::error!("cannot park streams: {e}");
            shard.lock().closed = true;
            return;
        }
    };
    let mut shelf = Shelf {
        wake: shard.clone(),
        registry,
        streams: Slab::new(),
        deadlines: BTreeSet::new(),
        batch: Vec::with_capacity(BATCH),
        park,
    };
    let mut events = mio::Events::with_capacity(1024);
    loop {
        let timeout = shelf.deadlines.first().map(|(at, _)| at.left());
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("parked streams: {e}");
            shard.lock().closed = true;
            return;
        }
        // Clients that sent something or left (edge-triggered: each is read
        // until it would block).
        for event in events.iter() {
            if event.token() != WAKE {
                shelf.probe(event.token().0);
            }
        }
        let inbox = {
            let mut inbox = shard.lock();
            if inbox.closed {
                return;
            }
            Inbox {
                adopted: std::mem::take(&mut inbox.adopted),
                woken: std::mem::take(&mut inbox.woken),
                closed: false,
            }
        };
        for (socket, stream) in inbox.adopted {
            shelf.insert(socket, stream);
        }
        for key in inbox.woken {
            shelf.serve(key as usize);
        }
        shelf.expire();
    }
}

/// What serving a parked stream came to.
enum Served {
    /// All it had queued is written.
    Idle,
    /// It ended; write the last chunk if `true`.
    Ended(Ended, bool),
    /// The socket took only part: the rest, for a task of its own.
    Busy(Bytes),
}

/// A shard's parked streams.
struct Shelf {
    /// Its shard, as its streams' subscriptions wake it.
    wake: Arc<dyn TagWake>,
    /// The shard's epoll set.
    registry: mio::Registry,
    streams: Slab<Parked>,
    /// Token expiries, earliest first.
    deadlines: BTreeSet<(Expiry, usize)>,
    batch: Vec<Bytes>,
    /// To park a stream again once a task has written what it could not;
    /// and its counters.
    park: Park,
}

impl Shelf {
    fn insert(&mut self, mut socket: mio::net::TcpStream, stream: Stream) {
        let entry = self.streams.vacant_entry();
        let key = entry.key();
        // A key is a `u32` in a wake (what `poll_batch_tagged` takes): more
        // streams than that on one shard cannot be (each is a descriptor).
        if u32::try_from(key).is_err()
            || self
                .registry
                .register(&mut socket, mio::Token(key), mio::Interest::READABLE)
                .is_err()
        {
            return stream.end(Ended::WriteFailed);
        }
        if let Some(at) = stream.opened.expires {
            self.deadlines.insert((at, key));
        }
        entry.insert(Parked { socket, stream });
        self.serve(key);
    }

    /// Takes a stream off the shelf (its socket stays open).
    fn remove(&mut self, key: usize) -> Parked {
        let parked = self.streams.remove(key);
        if let Some(at) = parked.stream.opened.expires {
            self.deadlines.remove(&(at, key));
        }
        parked
    }

    /// Ends a stream: `tail` (the last chunk) is written if it can be.
    fn end(&mut self, key: usize, why: Ended, tail: bool) {
        let parked = self.remove(key);
        if tail {
            let _ = (&parked.socket).write(END_CHUNK);
        }
        let Parked { socket, stream, .. } = parked;
        drop(socket);
        stream.end(why);
    }

    /// Writes what the stream `key` has queued, until none is.
    fn serve(&mut self, key: usize) {
        match self.write_queued(key) {
            Served::Idle => {}
            Served::Ended(why, tail) => self.end(key, why, tail),
            Served::Busy(rest) => self.unpark(key, rest),
        }
    }

    fn write_queued(&mut self, key: usize) -> Served {
        let Some(parked) = self.streams.get_mut(key) else {
            return Served::Idle; // woken after it left the shelf
        };
        // Within u32: checked when it was parked.
        let tag = key as u32;
        for _ in 0..BATCHES_PER_TURN {
            self.batch.clear();
            let sub = &mut parked.stream.opened.subscription;
            let Poll::Ready(more) = sub.poll_batch_tagged(&self.wake, tag, &mut self.batch, BATCH)
            else {
                return Served::Idle;
            };
            if let Some((why, tail)) = parked.stream.ended(more) {
                return Served::Ended(why, tail);
            }
            let written = write_now(&parked.socket, &self.batch);
            self.batch.clear();
            match written {
                Ok((n, rest)) => {
                    parked.stream.bytes += n as u64;
                    self.park
                        .counters
                        .bytes_sent
                        .fetch_add(n as u64, Ordering::Relaxed);
                    if let Some(rest) = rest {
                        return Served::Busy(rest);
                    }
                }
                Err(_) => return Served::Ended(Ended::WriteFailed, false),
            }
        }
        // Still more (a fast publisher and a fast client): the other
        // streams of the shard go first, this one comes round again.
        self.wake.wake_tag(tag);
        Served::Idle
    }

    /// Hands a stream whose write did not finish to a task of its own.
    fn unpark(&mut self, key: usize, rest: Bytes) {
        self.park.counters.unparks.fetch_add(1, Ordering::Relaxed);
        let Parked {
            mut socket, stream, ..
        } = self.remove(key);
        // Out of this shard's epoll set: parked again later (on any shard),
        // it is added anew.
        if self.registry.deregister(&mut socket).is_err() {
            return stream.end(Ended::WriteFailed);
        }
        let socket = std::net::TcpStream::from(socket);
        match tokio::net::TcpStream::from_std(socket) {
            Ok(socket) => {
                tokio::spawn(crate::conn::write_busy(
                    socket,
                    stream,
                    rest,
                    self.park.clone(),
                ));
            }
            Err(_) => stream.end(Ended::WriteFailed),
        }
    }

    /// The client of `key` sent something or left: read until the socket
    /// would block; a client that left ends its stream.
    fn probe(&mut self, key: usize) {
        let Some(parked) = self.streams.get_mut(key) else {
            return;
        };
        let mut buf = [0u8; 256];
        let gone = loop {
            match (&parked.socket).read(&mut buf) {
                Ok(0) => break true,
                // A client sends nothing more; whatever it sends is ignored.
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        if gone {
            self.end(key, Ended::ClientGone, false);
        }
    }

    /// Ends the streams whose token has expired.
    fn expire(&mut self) {
        while let Some(&(at, key)) = self.deadlines.first() {
            if !at.passed() {
                return;
            }
            self.end(key, Ended::TokenExpired, true);
        }
    }
}

/// Writes `frames` as one HTTP chunk without waiting: the bytes written, and
/// what is left if the socket would take no more.
fn write_now(socket: &mio::net::TcpStream, frames: &[Bytes]) -> io::Result<(usize, Option<Bytes>)> {
    let chunk = Chunk::of(frames);
    // On the stack: no allocation per write. A batch is at most `BATCH`
    // frames (what `poll_batch` is asked for); more is a bug, and panics.
    let mut slices = [IoSlice::new(&[]); BATCH + 2];
    let count = frames.len() + 2;
    for (slot, slice) in slices[..count].iter_mut().zip(chunk.slices(frames)) {
        *slot = slice;
    }
    let mut rest = &mut slices[..count];
    let mut written = 0;
    while !rest.is_empty() {
        let mut socket = socket;
        match socket.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                IoSlice::advance_slices(&mut rest, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut left = BytesMut::with_capacity(chunk.len() - written);
                for slice in rest.iter() {
                    left.extend_from_slice(slice);
                }
                return Ok((written, Some(left.freeze())));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((written, None))
}

#[cfg(test)]
mod tests {
    /// A parked stream's record is most of what an idle stream costs beside
    /// its subscriber (see docs/benchmarks.md#parked): keep it small. 208
    /// bytes at first, 184 since the subscription's preface is boxed, 128
    /// since the client address is kept once, the opening time is the
    /// subscriber's and the waker is made from its key when needed (in a
    /// release build); 120 since the subscription wakes the shard by the
    /// stream's key, with no waker of its own; 96 since the token's expiry
    /// is whole seconds, the client address an `Ipv6Addr` and the
    /// subscription's start 8 bytes.
    #[test]
    fn a_parked_stream_is_small() {
        let size = std::mem::size_of::<super::Parked>();
        // mio keeps a selector id beside each socket in debug builds only.
        let max = if cfg!(debug_assertions) { 104 } else { 96 };
        assert!(size <= max, "a parked stream is {size} bytes");
    }
}
