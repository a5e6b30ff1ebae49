//! `GET /metrics`: the hub's counts in the OpenMetrics text format, which
//! Prometheus reads.

use axum::extract::State;
use axum::response::IntoResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ssehub::Hub;

use crate::auth::Auth;

use crate::error::ApiError;
use crate::AppState;

/// Reads the hub's [`Stats`](ssehub::Stats) and the server's counters at
/// each scrape.
#[derive(Debug)]
struct HubCollector {
    hub: Hub,
    server: Arc<ServerCounters>,
    auth: Option<Arc<Auth>>,
}

/// Counters of the server itself.
#[derive(Debug, Default)]
pub(crate) struct ServerCounters {
    /// Bytes written on event streams (by `conn.rs` and `park.rs`).
    pub(crate) bytes_sent: AtomicU64,
    /// Times a parked stream's client could not take a write at once, so
    /// the stream got a task until its queue was empty (`park.rs`).
    pub(crate) unparks: AtomicU64,
    /// Times the allocator's free pages were given back to the system after
    /// connections came and went (`trim.rs`).
    pub(crate) trims: AtomicU64,
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.hub.stats();
        let gauges = [
            ("ssehub_connections", "Open event streams", s.connections),
            (
                "ssehub_topics",
                "Topics with at least one subscriber",
                s.topics,
            ),
            (
                "ssehub_history_events",
                "Events held for resuming clients",
                s.history_events,
            ),
            (
                "ssehub_history_bytes",
                "Bytes held for resuming clients",
                s.history_bytes,
            ),
            (
                "ssehub_queued_bytes",
                "Bytes queued for subscribers, not yet written",
                s.queued_bytes,
            ),
            (
                "ssehub_presence_entries",
                "This hub's presence entries: its open streams times their topics",
                s.presence_entries,
            ),
            (
                "ssehub_tasks",
                "Tasks alive in the server's runtime (a leak grows it)",
                tokio::runtime::Handle::try_current().map_or(0, |h| h.metrics().num_alive_tasks()),
            ),
        ];
        for (name, help, value) in gauges {
            let value = i64::try_from(value).unwrap_or(i64::MAX);
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }
        // OpenMetrics adds `_total` to counter names.
        let counters = [
            (
                "ssehub_events_published",
                "Events published (a publish repeated with its idempotency key counts once)",
                s.events_published,
            ),
            (
                "ssehub_publishes_repeated",
                "Publishes answered with an earlier publish's id (same idempotency key)",
                s.publishes_repeated,
            ),
            (
                "ssehub_events_delivered",
                "Events queued for subscribers, one per subscriber",
                s.events_delivered,
            ),
            (
                "ssehub_lag_disconnects",
                "Subscribers disconnected for falling behind",
                s.lag_disconnects,
            ),
            (
                "ssehub_lag_skips",
                "Times a subscriber skipped events for falling behind",
                s.lag_skips,
            ),
            (
                "ssehub_resumes",
                "Subscriptions resumed from history",
                s.resumes,
            ),
            ("ssehub_resets", "Resumes answered with a reset", s.resets),
            (
                "ssehub_close_commands",
                "Streams this hub was asked to close (DELETE /connections) that existed",
                s.close_commands,
            ),
            (
                "ssehub_connections_closed",
                "Streams of this hub ended by a close command (from any hub)",
                s.closed,
            ),
            (
                "ssehub_bytes_sent",
                "Bytes written on event streams",
                self.server.bytes_sent.load(Ordering::Relaxed),
            ),
            (
                "ssehub_stream_unparks",
                "Times an idle stream's client could not take a write at once and the stream got a task until its queue was empty",
                self.server.unparks.load(Ordering::Relaxed),
            ),
            (
                "ssehub_allocator_trims",
                "Times the allocator's free pages were given back to the system after connections came and went",
                self.server.trims.load(Ordering::Relaxed),
            ),
            (
                "ssehub_auth_failures",
                "Requests refused for a missing, invalid or insufficient token",
                self.auth.as_ref().map_or(0, |a| a.failures()),
            ),
        ];
        for (name, help, value) in counters {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        Ok(())
    }
}

/// The registry `GET /metrics` encodes.
pub(crate) fn registry(hub: Hub, server: Arc<ServerCounters>, auth: Option<Arc<Auth>>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HubCollector { hub, server, auth }));
    registry
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics).map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics",
            "encoding the metrics failed",
        )
    })?;
    Ok((
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}
