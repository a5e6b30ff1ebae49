//! File descriptors: every connection holds one, so the hub raises its soft
//! limit at start and keeps a reserve for everything else (the listener,
//! Redis, logs, certificate files), refusing connections beyond the rest
//! with 503 instead of failing to accept them.

use std::io;

/// The soft and hard `RLIMIT_NOFILE` before and after
/// [`raise_file_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimit {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now (the hard limit, when raising it worked).
    pub now: u64,
    /// The hard limit, which only a privileged process may raise.
    pub hard: u64,
}

/// Raises the soft limit on open files to the hard limit (the common soft
/// limit of 1,024 would cap a hub at about a thousand streams).
pub fn raise_file_limit() -> io::Result<FileLimit> {
    let (before, hard) = rlimit::Resource::NOFILE.get()?;
    let now = rlimit::increase_nofile_limit(hard)?;
    Ok(FileLimit { before, now, hard })
}

/// The current soft limit on open files.
pub fn file_limit() -> io::Result<u64> {
    Ok(rlimit::Resource::NOFILE.get()?.0)
}

/// Descriptors kept for other uses than connections, out of `limit`:
/// a tenth, at least 32 and at most 1,024.
pub(crate) fn reserve(limit: u64) -> u64 {
    (limit / 10).clamp(32, 1024).min(limit / 2)
}

/// The default `--max-connections` for a soft limit of `limit` open files:
/// all but a reserve of a tenth (at least 32, at most 1,024).
pub fn connection_budget(limit: u64) -> usize {
    usize::try_from(limit - reserve(limit)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_leave_a_reserve() {
        assert_eq!(connection_budget(1024), 1024 - 102);
        assert_eq!(connection_budget(20_000), 20_000 - 1024);
        assert_eq!(connection_budget(256), 256 - 32);
        assert_eq!(connection_budget(40), 20);
        assert_eq!(connection_budget(1 << 20), (1 << 20) - 1024);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let limit = raise_file_limit().unwrap();
        assert!(limit.now >= limit.before, "{limit:?}");
        if limit.hard < 1 << 20 {
            assert_eq!(limit.now, limit.hard, "{limit:?}");
        }
        assert_eq!(file_limit().unwrap(), limit.now);
    }
}
