//! The `/events` rules (`ssehub_core::protocol::events`), one table, every
//! server: `ssehub serve` (its direct stream writer, which serves a
//! connection's first `GET /events`), the axum adapter's ready-made handler
//! (`ssehub::axum::events`, also `ssehub-leptos`'s axum route) and the
//! actix-web one (`ssehub::actix::events`, also `ssehub-leptos`'s actix
//! route). The same request gets the same status and error code from each,
//! and the same `Last-Event-ID` rule (the header wins over the query).

mod common;

use std::net::SocketAddr;

use serde_json::Value;
use ssehub::Hub;
use ssehub_server::Config;

/// One request and what every server must answer: a status, and for a
/// refusal its code.
struct Case {
    query: String,
    last_event_id: Option<&'static str>,
    status: u16,
    code: Option<&'static str>,
}

fn case(query: impl Into<String>, status: u16, code: Option<&'static str>) -> Case {
    Case {
        query: query.into(),
        last_event_id: None,
        status,
        code,
    }
}

fn table() -> Vec<Case> {
    let many: Vec<String> = (0..65).map(|i| format!("topic=t{i}")).collect();
    let max: Vec<String> = (0..64).map(|i| format!("topic=t{i}")).collect();
    vec![
        case("", 400, Some("missing_topic")),
        case("x=1&lastEventId=a", 400, Some("missing_topic")),
        case("Topic=a", 400, Some("missing_topic")),
        case("topic=", 400, Some("invalid_topic")),
        case("topic=ok&topic=", 400, Some("invalid_topic")),
        case(many.join("&"), 400, Some("too_many_topics")),
        case(max.join("&"), 200, None),
        case("topic=a%2Fb&topic=c%2F*", 200, None),
    ]
}

/// Every server of the table, on a hub of its own.
enum Kind {
    Serve,
    Axum,
    Actix,
}

async fn start(kind: &Kind, hub: Hub) -> (SocketAddr, Box<dyn std::any::Any>) {
    match kind {
        Kind::Serve => {
            let server = common::start(hub, Config::default()).await;
            let addr = server.base.trim_start_matches("http://").parse().unwrap();
            (addr, Box::new(server))
        }
        Kind::Axum => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = axum::Router::new()
                .route("/events", axum::routing::get(ssehub::axum::events))
                .with_state(hub);
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            (addr, Box::new(Abort(task)))
        }
        Kind::Actix => {
            use actix_web::{web, App, HttpServer};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(hub.clone()))
                    .route("/events", web::get().to(ssehub::actix::events))
            })
            .workers(1)
            .disable_signals()
            .shutdown_timeout(0)
            .listen(listener)
            .unwrap()
            .run();
            let handle = server.handle();
            tokio::spawn(server);
            (addr, Box::new(Stop(handle)))
        }
    }
}

struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Stop(actix_web::dev::ServerHandle);

impl Drop for Stop {
    fn drop(&mut self) {
        drop(self.0.stop(false));
    }
}

/// Sends one request on a connection of its own and reads the status, the
/// error code of a refusal, and for a stream (if `read_first`) its first
/// event's data.
async fn ask(
    addr: SocketAddr,
    query: &str,
    last_event_id: Option<&str>,
    read_first: bool,
) -> (u16, Option<String>, Option<String>) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut request = http.get(format!("http://{addr}/events?{query}"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let mut response = tokio::time::timeout(std::time::Duration::from_secs(10), request.send())
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        let body: Value = response.json().await.unwrap();
        let code = body["error"].as_str().map(str::to_owned);
        assert!(body["message"].is_string(), "{body}");
        return (status, code, None);
    }
    if !read_first {
        return (status, None, None);
    }
    // The first event (a reset comes at once).
    let mut text = String::new();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(event) = ssehub_core::parse_all(text.as_bytes())
                .unwrap()
                .into_iter()
                .find_map(|item| match item {
                    ssehub_core::Item::Event(e) => Some(e.data),
                    _ => None,
                })
            {
                return Some(event);
            }
        }
        None
    })
    .await
    .unwrap_or(None);
    (status, None, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_answers_events_requests_alike() {
    for kind in [Kind::Serve, Kind::Axum, Kind::Actix] {
        let name = match kind {
            Kind::Serve => "ssehub serve",
            Kind::Axum => "ssehub::axum::events",
            Kind::Actix => "ssehub::actix::events",
        };
        let hub = Hub::new();
        let (addr, server) = start(&kind, hub.clone()).await;
        for case in table() {
            let (status, code, _) = ask(addr, &case.query, case.last_event_id, false).await;
            assert_eq!(
                (status, code.as_deref()),
                (case.status, case.code),
                "{name}: /events?{}",
                case.query
            );
        }

        // The id to resume after: the header wins over the query; the
        // query serves a first connection. An id this hub never gave gets
        // a reset that names it.
        for (query, header, named) in [
            (
                "topic=a&lastEventId=from-query",
                Some("from-header"),
                "from-header",
            ),
            ("topic=a&lastEventId=from-query", None, "from-query"),
        ] {
            let (status, _, first) = ask(addr, query, header, true).await;
            assert_eq!(status, 200, "{name}");
            let reset: Value = serde_json::from_str(&first.expect("a reset event")).unwrap();
            assert_eq!(reset["lastEventId"], named, "{name}: {query} {header:?}");
        }

        hub.shutdown();
        let (status, code, _) = ask(addr, "topic=a", None, false).await;
        assert_eq!(
            (status, code.as_deref()),
            (503, Some("shutting_down")),
            "{name}: after shutdown"
        );
        drop(server);
    }
}
