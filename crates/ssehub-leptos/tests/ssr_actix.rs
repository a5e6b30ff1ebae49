//! Server-side rendering on actix-web: a page rendered by `leptos_actix`
//! with the `Hub` in the Leptos context shows the signal's value and hands
//! its version to the page, over real HTTP. (On axum, the `leptos-ssr`
//! example's tests do the same through `leptos_axum`.)
#![cfg(all(feature = "actix", feature = "ssr"))]

use actix_web::{App, HttpServer};
use leptos::prelude::*;
use leptos_router::Method;
use serde::{Deserialize, Serialize};
use ssehub::Hub;
use ssehub_leptos::{provide_sse, use_sse_signal};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Count {
    value: u64,
}

#[component]
fn Page() -> impl IntoView {
    provide_sse("/events");
    let count = use_sse_signal::<Count>("counter");
    view! { <p>"Count: " <span id="count">{move || count.get().value}</span></p> }
}

#[tokio::test]
async fn a_page_rendered_by_leptos_actix_shows_the_hubs_value_and_version() -> anyhow::Result<()> {
    let _ = any_spawner::Executor::init_tokio();
    let hub = Hub::builder().keepalive(None).build();
    let counter = hub.signal("counter", Count::default()).await?;
    for _ in 0..3 {
        counter.update(|c| c.value += 7).await?;
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = {
        let hub = hub.clone();
        HttpServer::new(move || {
            let context = {
                let hub = hub.clone();
                move || provide_context(hub.clone())
            };
            App::new()
                .route(
                    "/",
                    leptos_actix::render_app_to_stream_with_context(context, Page, Method::Get),
                )
                .service(ssehub_leptos::actix::events_route(hub.clone()))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)?
        .run()
    };
    let handle = server.handle();
    tokio::spawn(server);

    let html = reqwest::get(format!("http://{addr}/"))
        .await?
        .error_for_status()?
        .text()
        .await;
    handle.stop(false).await;
    let html = html?;
    assert!(html.contains(r#"<span id="count">21</span>"#), "{html}");
    assert!(
        html.contains(r#"{\"v\":3,\"value\":{\"value\":21}}"#),
        "{html}"
    );
    Ok(())
}
