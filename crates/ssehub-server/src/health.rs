//! `GET /healthz`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::AppState;

/// 200 when the hub works; 503 while shutting down or while its backend is
/// unreachable (so that a load balancer sends clients elsewhere).
pub(crate) async fn healthz(
    State(state): State<AppState>,
) -> (StatusCode, Json<serde_json::Value>) {
    let stats = state.hub.stats();
    let backend = state.hub.health();
    let status = if state.hub.is_shut_down() {
        "shutting_down"
    } else if !backend.ok {
        "backend_unavailable"
    } else {
        "ok"
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({
            "status": status,
            "connections": stats.connections,
            "topics": stats.topics,
            "events_published": stats.events_published,
            "events_delivered": stats.events_delivered,
            "history_events": stats.history_events,
            "history_bytes": stats.history_bytes,
            "backend": backend,
        })),
    )
}
