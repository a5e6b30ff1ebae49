//! Per-client limits: open streams per IP address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;

use crate::error::ApiError;

/// Counts the open streams of each client address.
#[derive(Debug, Default)]
pub(crate) struct PerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open stream; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Slot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// At most `max` streams per address; 0: no limit.
    pub(crate) fn new(max: usize) -> PerIp {
        PerIp {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a place for a stream from `ip`, or answers 429.
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> Result<Option<Slot>, ApiError> {
        if self.max == 0 {
            return Ok(None);
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= self.max {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_connections",
                format!("at most {} open streams per client address", self.max),
            ));
        }
        *count += 1;
        Ok(Some(Slot {
            per_ip: self.clone(),
            ip,
        }))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.per_ip.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}
