//! `GET /healthz`.

use axum::extract::State;
use axum::Json;

use crate::AppState;

pub(crate) async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let stats = state.hub.stats();
    let status = if state.hub.is_shut_down() {
        "shutting_down"
    } else {
        "ok"
    };
    Json(serde_json::json!({
        "status": status,
        "connections": stats.connections,
        "topics": stats.topics,
        "events_published": stats.events_published,
        "events_delivered": stats.events_delivered,
        "history_events": stats.history_events,
        "history_bytes": stats.history_bytes,
        "backend": "memory",
    }))
}
