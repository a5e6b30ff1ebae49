//! What Linux's `/proc` says about a process: its memory, CPU time and write
//! calls. The load tools read the server's (by PID) and their own.

/// The `VmRSS` of a process, in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The write system calls a process has made (`syscw` in `/proc/PID/io`,
/// which only its user, or root, may read).
pub fn write_calls(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("syscw:"))?
        .trim()
        .parse()
        .ok()
}

/// User plus system CPU time of a process, in seconds (assumes the usual
/// 100 clock ticks per second).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(rss_kb(me).is_some_and(|kb| kb > 0));
        assert!(write_calls(me).is_some());
        // Spin until a clock tick has been charged, so a wrong field
        // (always 0, say) fails.
        let start = std::time::Instant::now();
        while cpu_seconds(me) == Some(0.0) && start.elapsed().as_secs() < 5 {}
        assert!(cpu_seconds(me).is_some_and(|s| s > 0.0));
    }

    #[test]
    fn a_missing_process_is_none() {
        // PIDs never reach u32::MAX on Linux (at most 2^22).
        assert_eq!(rss_kb(u32::MAX), None);
        assert_eq!(cpu_seconds(u32::MAX), None);
        assert_eq!(write_calls(u32::MAX), None);
    }
}
