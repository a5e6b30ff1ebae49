//! In-memory history, bounded by event count and by bytes.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::topic::Topic;

/// One published event as kept for resuming subscribers.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) topics: Box<[Topic]>,
    pub(crate) frame: Bytes,
}

impl Entry {
    /// Bytes charged against the history bound.
    fn size(&self) -> usize {
        self.frame.len() + self.topics.iter().map(|t| t.len()).sum::<usize>()
    }
}

/// What history holds after a given sequence number.
#[derive(Debug)]
pub(crate) enum After {
    /// Every later event is still here (possibly none).
    Complete(Vec<Bytes>),
    /// Some later events were dropped from history.
    Gone,
    /// The sequence number is beyond the newest event: not one we gave.
    Future,
}

#[derive(Debug)]
pub(crate) struct History {
    entries: VecDeque<Entry>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    /// Sequence number of the newest event ever published (0: none yet).
    head: u64,
}

impl History {
    pub(crate) fn new(max_events: usize, max_bytes: usize) -> History {
        History {
            entries: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
            head: 0,
        }
    }

    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    /// Appends an event; `seq` must be `head() + 1`.
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.seq, self.head + 1);
        self.head = entry.seq;
        self.bytes += entry.size();
        self.entries.push_back(entry);
        while self.entries.len() > self.max_events || self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.size(),
                None => break,
            }
        }
    }

    /// The frames of events after `seq` up to `until` whose topics `wants`
    /// accepts, in order.
    pub(crate) fn after(&self, seq: u64, until: u64, wants: impl Fn(&[Topic]) -> bool) -> After {
        if seq > self.head {
            return After::Future;
        }
        // The oldest event still held; with none held, everything up to head is gone.
        let first = self.entries.front().map_or(self.head + 1, |e| e.seq);
        if seq + 1 < first {
            return After::Gone;
        }
        let skip = usize::try_from(seq + 1 - first).unwrap_or(usize::MAX);
        let frames = self
            .entries
            .iter()
            .skip(skip)
            .take_while(|e| e.seq <= until)
            .filter(|e| wants(&e.topics))
            .map(|e| e.frame.clone())
            .collect();
        After::Complete(frames)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, topic: &str, len: usize) -> Entry {
        Entry {
            seq,
            topics: vec![Topic::new(topic).unwrap()].into(),
            frame: Bytes::from(vec![b'x'; len]),
        }
    }

    fn count(a: After) -> Option<usize> {
        match a {
            After::Complete(f) => Some(f.len()),
            _ => None,
        }
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let a = |t: &[Topic]| t[0].as_str() == "a";
        let mut h = History::new(3, 1000);
        for seq in 1..=5 {
            h.push(entry(seq, "a", 10));
        }
        assert_eq!(h.len(), 3);
        assert_eq!(count(h.after(2, 5, a)), Some(3));
        assert!(matches!(h.after(1, 5, a), After::Gone));
        assert!(matches!(h.after(6, 5, a), After::Future));
        assert_eq!(count(h.after(5, 5, a)), Some(0));

        let mut h = History::new(100, 25);
        for seq in 1..=5 {
            h.push(entry(seq, "a", 10)); // 11 bytes each with the topic
        }
        assert_eq!(h.len(), 2);
        assert!(h.bytes() <= 25);
    }

    #[test]
    fn filters_by_topic() {
        let mut h = History::new(10, 1000);
        h.push(entry(1, "a", 1));
        h.push(entry(2, "b", 1));
        h.push(entry(3, "a", 1));
        assert_eq!(count(h.after(0, 3, |t| t[0].as_str() == "a")), Some(2));
        assert_eq!(count(h.after(0, 2, |t| t[0].as_str() == "c")), Some(0));
    }

    #[test]
    fn empty_history_after_eviction_of_everything() {
        let mut h = History::new(0, 1000);
        h.push(entry(1, "a", 1));
        assert_eq!(h.len(), 0);
        assert_eq!(count(h.after(1, 1, |_| true)), Some(0));
        assert!(matches!(h.after(0, 1, |_| true), After::Gone));
    }
}
