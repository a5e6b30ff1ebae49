//! Gives the allocator's free pages back to the system once connections
//! have come and gone.
//!
//! Why: each connection allocates far more while it opens (its first task,
//! hyper's buffers, the request) than it keeps once parked (see
//! `park.rs`). After a burst of connects those transient blocks are free,
//! but glibc's allocator returns memory to the system only from the top of
//! each arena; the free pages between the blocks that parked streams keep
//! stay resident. Measured at 10,000 idle streams that was about 80 bytes a
//! stream (docs/benchmarks.md#trim). `malloc_trim(0)` gives every whole
//! free page back (`madvise`), whatever its place.
//!
//! When: once the connection counts have held still for a whole tick after
//! they changed (a burst of connects, or of disconnects, is over), and
//! every 30 ticks while they keep changing, so a steady churn is trimmed
//! too. A trim walks the arenas' free lists, on a blocking thread, never
//! on the accept loop (`RUST_LOG=ssehub_server=debug` logs how long each
//! took; see docs/benchmarks.md#trim).
//!
//! The one `unsafe` block of the server crate is here: `malloc_trim` is a
//! glibc function without a safe binding. Elsewhere (musl, other systems)
//! this does nothing: their allocators return memory themselves, or have
//! no such call.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::conn::Tracker;
use crate::metrics::ServerCounters;

/// How often the connection counts are looked at.
const TICK: Duration = Duration::from_secs(1);

/// Most ticks between two trims while connections keep coming and going.
const MOST_TICKS: u32 = 30;

/// Decides, tick by tick, when to trim.
#[derive(Debug, Default)]
struct Trimmer {
    /// The counts (connections ever accepted, open now) at the last tick.
    seen: (u64, usize),
    /// Ticks since the counts first changed after the last trim; 0 while
    /// nothing has changed since.
    waited: u32,
}

impl Trimmer {
    /// Whether to trim now, given the counts at this tick.
    fn tick(&mut self, counts: (u64, usize)) -> bool {
        let changed = counts != self.seen;
        self.seen = counts;
        if !changed && self.waited == 0 {
            return false;
        }
        self.waited += 1;
        if changed && self.waited < MOST_TICKS {
            return false;
        }
        self.waited = 0;
        true
    }
}

/// Trims after connections came and went (see the module's docs), until
/// the runtime stops.
pub(crate) async fn run(tracker: Arc<Tracker>, counters: Arc<ServerCounters>) {
    let mut trimmer = Trimmer::default();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if trimmer.tick((tracker.entered(), tracker.open())) {
            let started = std::time::Instant::now();
            if tokio::task::spawn_blocking(release).await.is_err() {
                return;
            }
            counters.trims.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(took_us = started.elapsed().as_micros(), "allocator trimmed");
        }
    }
}

/// Gives every whole free page of the allocator back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release() {
    // SAFETY: `malloc_trim` takes no pointer and touches only the
    // allocator's own state, under the locks every allocation takes.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Nothing to do off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}

#[cfg(test)]
mod tests {
    use super::{Trimmer, MOST_TICKS};

    #[test]
    fn a_burst_is_trimmed_once_it_is_over() {
        let mut t = Trimmer::default();
        assert!(!t.tick((0, 0)), "nothing happened");
        assert!(!t.tick((5, 5)), "connects under way");
        assert!(!t.tick((9, 9)), "connects under way");
        assert!(t.tick((9, 9)), "the burst is over");
        assert!(!t.tick((9, 9)), "trimmed already");
        assert!(!t.tick((9, 4)), "disconnects under way");
        assert!(t.tick((9, 4)), "they are over");
    }

    #[test]
    fn a_steady_churn_is_trimmed_now_and_then() {
        let mut t = Trimmer::default();
        let trims = (1..=3 * u64::from(MOST_TICKS))
            .filter(|&n| t.tick((n, 1)))
            .count();
        assert_eq!(trims, 3);
    }
}
