//! Per-client limits: open streams, and rates of new streams and of
//! publishes, per IP address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;

use crate::error::ApiError;

/// Counts the open streams of each client address.
#[derive(Debug, Default)]
pub(crate) struct PerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A stream's client: its address, and its place among that address's
/// open streams when they are limited (dropping it frees the place). The
/// address is kept here only, for the limit and the stream's log: every
/// idle stream has one.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The client's address, an IPv4 one mapped, `::` when unknown: 16
    /// bytes where an `Option<IpAddr>` is 24 with its padding.
    ip: Ipv6Addr,
    /// Set when the place is counted.
    per_ip: Option<Arc<PerIp>>,
}

impl Slot {
    fn new(ip: Option<IpAddr>, per_ip: Option<Arc<PerIp>>) -> Slot {
        let ip = match ip {
            Some(IpAddr::V4(ip)) => ip.to_ipv6_mapped(),
            Some(IpAddr::V6(ip)) => ip,
            None => Ipv6Addr::UNSPECIFIED,
        };
        Slot { ip, per_ip }
    }

    /// The client's address, if known (an IPv4-mapped IPv6 address is
    /// given as the IPv4 one, as [`PerIp::enter`] counts it).
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        (!self.ip.is_unspecified()).then(|| self.ip.to_canonical())
    }
}

impl PerIp {
    /// At most `max` streams per address; 0: no limit.
    pub(crate) fn new(max: usize) -> PerIp {
        PerIp {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a place for a stream from `ip` (none is counted without a
    /// limit or an address), or answers 429.
    pub(crate) fn enter(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Slot, ApiError> {
        // One client, one count, whether it came over IPv4 or IPv6-mapped.
        let ip = ip.map(|ip| ip.to_canonical());
        let Some(addr) = ip.filter(|_| self.max > 0) else {
            return Ok(Slot::new(ip, None));
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(addr).or_default();
        if *count >= self.max {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_connections",
                format!("at most {} open streams per client address", self.max),
            ));
        }
        *count += 1;
        Ok(Slot::new(ip, Some(self.clone())))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (Some(per_ip), Some(ip)) = (&self.per_ip, self.ip()) else {
            return;
        };
        let mut open = per_ip.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// A rate per client address (`governor`'s GCRA: `per_second`, with bursts of
/// twice that); `None` when off.
#[derive(Debug)]
pub(crate) struct Rate {
    limiter: Option<governor::DefaultKeyedRateLimiter<IpAddr>>,
    what: &'static str,
}

impl Rate {
    /// At most `per_second` a second from each address (0: no limit);
    /// `what` names it in the error.
    pub(crate) fn new(per_second: u32, what: &'static str) -> Rate {
        let limiter = std::num::NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(std::num::NonZeroU32::MIN.saturating_add(1));
            governor::RateLimiter::keyed(governor::Quota::per_second(rate).allow_burst(burst))
        });
        Rate { limiter, what }
    }

    /// Counts one from `ip`, or answers 429 with `Retry-After`.
    pub(crate) fn check(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(limiter), Some(ip)) = (&self.limiter, ip) else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            use governor::clock::Clock;
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {} from this address; retry later", self.what),
            )
            .retry_after(wait.as_secs() + 1)
        })
    }

    /// Forgets addresses that have been quiet (bounds the limiter's memory).
    pub(crate) fn forget_quiet(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}
