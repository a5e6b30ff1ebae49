//! What the load generator puts in each event's data, and the sequence checks
//! a receiver makes.
//!
//! The data is `P SEQ T` then padding: the publisher's index, its sequence
//! number (0, 1, 2, ... per publisher) and the publish time in nanoseconds
//! since the Unix epoch (read once, then advanced by the monotonic clock, so
//! load processes on one machine share the time base: one may publish and
//! others receive, `bench/scale-out.sh`). Each publisher waits for the
//! answer to one publish before the next, so a server that keeps publish
//! order delivers each publisher's sequence in order; per-publisher numbers
//! make the check independent of how publishers interleave.

use std::fmt::Write as _;

/// One event's data: `"{publisher} {seq} {t_ns} "`, then `x` up to `size`
/// bytes in all (the numbers alone may make it longer).
pub fn encode(publisher: usize, seq: u64, t_ns: u64, size: usize) -> String {
    let mut data = String::with_capacity(size.max(48));
    let _ = write!(data, "{publisher} {seq} {t_ns} ");
    while data.len() < size {
        data.push('x');
    }
    data
}

/// What [`encode`] wrote: publisher, sequence number, publish time (ns).
/// `None` for data the load generator did not write (a server's own events).
/// Digits are read by hand: this runs for every event a load generator
/// receives, millions a second.
pub fn decode(data: &str) -> Option<(usize, u64, u64)> {
    let mut fields = data.as_bytes().splitn(4, |&b| b == b' ');
    let publisher = number(fields.next()?)?;
    let seq = number(fields.next()?)?;
    let t_ns = number(fields.next()?)?;
    Some((usize::try_from(publisher).ok()?, seq, t_ns))
}

/// A decimal number of at most 19 digits (no sign, no spaces).
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// What one received event was, for the sequence checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A new event; `skipped` events of its publisher were never seen
    /// before it (a gap).
    New {
        /// Events of the same publisher skipped over.
        skipped: u64,
    },
    /// An event seen already (or older than one seen).
    Duplicate,
    /// A publisher index out of range.
    Foreign,
}

/// Per-connection sequence checks: one expected next number per publisher.
#[derive(Clone, Debug)]
pub struct SeqTracker {
    next: Vec<u64>,
}

impl SeqTracker {
    /// A tracker for `publishers` publishers, expecting each to start at 0.
    pub fn new(publishers: usize) -> SeqTracker {
        SeqTracker {
            next: vec![0; publishers],
        }
    }

    /// Checks one event of `publisher` with number `seq`.
    pub fn observe(&mut self, publisher: usize, seq: u64) -> Seen {
        let Some(next) = self.next.get_mut(publisher) else {
            return Seen::Foreign;
        };
        if seq < *next {
            return Seen::Duplicate;
        }
        let skipped = seq - *next;
        *next = seq + 1;
        Seen::New { skipped }
    }

    /// Events never received at the end: those after the last one seen of
    /// each publisher, given how many each published.
    pub fn missing_tail(&self, published: &[u64]) -> u64 {
        self.next
            .iter()
            .zip(published)
            .map(|(next, published)| published.saturating_sub(*next))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let data = encode(3, 17, 123_456_789, 64);
        assert_eq!(data.len(), 64);
        assert_eq!(decode(&data), Some((3, 17, 123_456_789)));
        assert_eq!(decode(&encode(0, 0, 0, 0)), Some((0, 0, 0)));
        assert_eq!(decode("{\"reason\":\"history-gone\"}"), None);
        assert_eq!(decode("1 2"), None, "too few fields");
        assert_eq!(decode("1 x 3 "), None, "not a number");
        assert_eq!(decode("1  3 "), None, "an empty field");
        assert_eq!(decode("1 2 99999999999999999999 "), None, "past u64");
        assert_eq!(decode("1 2 3"), Some((1, 2, 3)), "no padding");
    }

    #[test]
    fn counts_gaps_and_duplicates() {
        let mut t = SeqTracker::new(2);
        assert_eq!(t.observe(0, 0), Seen::New { skipped: 0 });
        assert_eq!(t.observe(1, 0), Seen::New { skipped: 0 });
        assert_eq!(t.observe(0, 3), Seen::New { skipped: 2 });
        assert_eq!(t.observe(0, 3), Seen::Duplicate);
        assert_eq!(t.observe(0, 1), Seen::Duplicate);
        assert_eq!(t.observe(5, 0), Seen::Foreign);
        assert_eq!(t.missing_tail(&[4, 3]), 2);
    }
}
