//! `ssehub_leptos::axum::signal_routes` over real HTTP: `GET`, `PUT` and
//! `PATCH /signals/{name}`, their answers and errors.
#![cfg(feature = "axum")]

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use ssehub::Hub;

/// Serves `signal_routes(hub)` on `127.0.0.1:0`; the base URL.
async fn start(hub: Hub) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app: axum::Router = ssehub_leptos::axum::signal_routes(hub);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/signals"))
}

/// The status and JSON body of a response.
async fn answer(response: reqwest::Response) -> anyhow::Result<(StatusCode, Value)> {
    let status = response.status();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn a_signal_is_read_set_and_patched_over_http() -> anyhow::Result<()> {
    let hub = Hub::builder().keepalive(None).build();
    let base = start(hub.clone()).await?;
    let client = Client::new();

    let (status, body) = answer(client.get(format!("{base}/counter")).send().await?).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "signal_not_found");

    // PUT creates it (version 0), then changes it.
    for (count, version) in [(1, 0), (2, 1)] {
        let response = client
            .put(format!("{base}/counter"))
            .header("content-type", "application/json")
            .body(json!({ "count": count }).to_string())
            .send()
            .await?;
        assert_eq!(
            answer(response).await?,
            (StatusCode::OK, json!({ "version": version }))
        );
    }
    let (status, body) = answer(client.get(format!("{base}/counter")).send().await?).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "version": 1, "value": { "count": 2 } }));

    let patch = |ops: Value| {
        client
            .patch(format!("{base}/counter"))
            .header("content-type", "application/json-patch+json")
            .body(ops.to_string())
            .send()
    };
    let ops = json!([{ "op": "replace", "path": "/count", "value": 3 }]);
    assert_eq!(
        answer(patch(ops).await?).await?,
        (StatusCode::OK, json!({ "version": 2 }))
    );
    let ops = json!([{ "op": "test", "path": "/count", "value": 0 }]);
    let (status, body) = answer(patch(ops).await?).await?;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::CONFLICT, &json!("test_failed"))
    );
    let (status, body) = answer(patch(json!({ "op": "nope" })).await?).await?;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_patch"))
    );
    assert_eq!(
        hub.signal_value("counter").await.unwrap(),
        Some((2, json!({ "count": 3 })))
    );

    // Not JSON, or not said to be.
    let response = client
        .put(format!("{base}/counter"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await?;
    let (status, body) = answer(response).await?;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_json"))
    );
    let response = client
        .put(format!("{base}/counter"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await?;
    let (status, body) = answer(response).await?;
    assert_eq!(
        (status, &body["error"]),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &json!("unsupported_media_type")
        )
    );
    assert_eq!(
        hub.signal_value("counter").await.unwrap(),
        Some((2, json!({ "count": 3 })))
    );
    Ok(())
}
