//! `ssehub serve` as a library: [`router`] builds the HTTP API on a [`Hub`],
//! [`run`] serves it until a shutdown signal. The binary only parses flags.
//!
//! Routes (the design contract's HTTP API):
//!
//! | route | what |
//! |---|---|
//! | `GET /events?topic=T&topic=T2` | the event stream; resume with `Last-Event-ID` or `lastEventId` |
//! | `POST /publish` | JSON or form: `topic`/`topics`, `data`, optional `event`, `retry`; answers `{"id"}` |
//! | `GET /healthz` | status and counts |
//! | `GET /metrics` | Prometheus (OpenMetrics text) |
//! | `GET`, `PUT`, `PATCH /signals/{name}` | a signal's `{"version", "value"}`; set it; RFC 6902 patch it |
//! | `GET /presence/{topic}` | `{"topic", "count", "subscribers": [{"id", "user", "since", "node"}]}` on every hub sharing the backend |
//! | `DELETE /connections/{id}` | ends that stream on whichever hub holds it (`ssehub.admin` claim); 204 or 404 |
//! | `GET /` | a demo page |
//! | `GET /ssehub.js` | the signals client for plain pages |
//! | `GET /ssehub-htmx.js` | resume for htmx 2 pages (`js/ssehub-htmx.js`, see `docs/htmx.md`) |
//!
//! Every rejected request gets a 4xx with `{"error": CODE, "message": TEXT}`.
#![deny(missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::{delete, get, post};
use axum::Router;
use ssehub::Hub;
use tokio::net::{TcpListener, TcpSocket};

mod auth;
mod client;
mod conn;
mod cors;
mod error;
mod events;
mod files;
mod head;
mod health;
mod http2;
mod limits;
mod log;
mod metrics;
mod page;
mod park;
mod presence;
mod publish;
mod signals;
mod tls;
mod trim;

pub use auth::{Auth, KeyError};
pub use error::ApiError;
pub use files::{connection_budget, file_limit, raise_file_limit, FileLimit};
pub use ipnet::IpNet;
pub use tls::{Tls, TlsError};

// The READMEs' examples, compiled as doc tests. This crate depends on every
// published crate but `ssehub-leptos` (whose README is compiled by
// `examples/leptos-counter/client`), so their READMEs are compiled here
// too. Only `cargo test --doc` in the workspace reads these files.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../ssehub-core/README.md")]
struct CoreReadmeDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../ssehub/README.md")]
struct HubReadmeDoctests;
#[cfg(doctest)]
#[doc = include_str!("../../ssehub-client/README.md")]
struct ClientReadmeDoctests;
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../../ssehub-redis/README.md")]
struct RedisReadmeDoctests;

/// What `ssehub serve` is configured with.
///
/// `Config::default()` is exactly what `ssehub serve` runs with when given no
/// flags: the binary's flags take their defaults from it instead of
/// restating them (`src/cmd/serve.rs`, whose test compares every field), so
/// an app that embeds [`router`] or [`run`] gets the same limits as the
/// binary. The hub's own settings (history, keep-alive) are not here: they
/// are [`ssehub::HubBuilder`]'s, for the binary too.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most bytes of a request body (`POST /publish`).
    pub max_body_bytes: usize,
    /// How long shutdown waits for streams to close.
    pub shutdown_grace: Duration,
    /// JWT authorization; `None`: the hub is open.
    pub auth: Option<std::sync::Arc<Auth>>,
    /// Most topics in one subscription (more: 400). The hub has the same
    /// limit ([`ssehub::HubBuilder::max_topics`]), with the same default;
    /// `ssehub serve` sets both from `--max-topics`.
    pub max_topics: usize,
    /// Most bytes of a published event's data (more: 413).
    pub max_event_bytes: usize,
    /// Most open streams per client address (more: 429); 0: no limit (the
    /// default: one backend or load test from one address is not throttled;
    /// set it for the open internet, with `trusted_proxies` behind a proxy).
    pub max_connections_per_ip: usize,
    /// Most open connections of [`run`] (more: 503 with `Retry-After`);
    /// default: what the file limit allows ([`connection_budget`]).
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers name the client
    /// (reverse proxies); for anyone else the socket's peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// HTTPS (HTTP/2 and HTTP/1.1) for [`run`]; `None`: plain HTTP/1.1.
    pub tls: Option<Tls>,
    /// Origins allowed to call the hub from a browser (CORS, credentials
    /// allowed); none by default.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// Streams a client address may open per second (bursts of twice that;
    /// more: 429 with `Retry-After`); 0: no limit. Needs the client's address
    /// (served by [`run`]).
    pub connect_rate: u32,
    /// Publishes (and signal changes) per second per client address, as
    /// `connect_rate`.
    pub publish_rate: u32,
    /// How long a client may take to send a whole request head (not each
    /// read of it: a client trickling a byte at a time gets no longer), and
    /// to complete a TLS handshake. Past it: 408 `request_timeout` if it sent
    /// anything, else the connection is closed. Default: 30 s.
    pub head_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_bytes: 2 << 20,
            shutdown_grace: Duration::from_secs(5),
            auth: None,
            max_topics: 64,
            max_event_bytes: 1 << 20,
            max_connections_per_ip: 0,
            // Computed from the machine each time: `ssehub serve` raises
            // the open-file limit first, then takes this same value. Where
            // the limit cannot be read, there is none to protect.
            max_connections: files::file_limit()
                .map(files::connection_budget)
                .unwrap_or(usize::MAX),
            trusted_proxies: Vec::new(),
            tls: None,
            cors_origins: Vec::new(),
            connect_rate: 0,
            publish_rate: 0,
            head_timeout: Duration::from_secs(30),
        }
    }
}

/// Shared by every handler.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) hub: Hub,
    pub(crate) config: Config,
    pub(crate) per_ip: std::sync::Arc<limits::PerIp>,
    pub(crate) metrics: std::sync::Arc<prometheus_client::registry::Registry>,
    pub(crate) counters: std::sync::Arc<metrics::ServerCounters>,
    pub(crate) connect_rate: std::sync::Arc<limits::Rate>,
    pub(crate) publish_rate: std::sync::Arc<limits::Rate>,
}

impl AppState {
    fn new(hub: Hub, config: Config) -> AppState {
        let per_ip = std::sync::Arc::new(limits::PerIp::new(config.max_connections_per_ip));
        let counters = std::sync::Arc::new(metrics::ServerCounters::default());
        let metrics = std::sync::Arc::new(metrics::registry(
            hub.clone(),
            counters.clone(),
            config.auth.clone(),
        ));
        let connect_rate =
            std::sync::Arc::new(limits::Rate::new(config.connect_rate, "new streams"));
        let publish_rate = std::sync::Arc::new(limits::Rate::new(config.publish_rate, "publishes"));
        AppState {
            hub,
            config,
            per_ip,
            metrics,
            counters,
            connect_rate,
            publish_rate,
        }
    }
}

/// The HTTP API on `hub`, for embedding in another axum app (its streams go
/// through axum; [`run`] writes them directly).
pub fn router(hub: Hub, config: Config) -> Router {
    app(AppState::new(hub, config))
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/favicon.ico", get(page::favicon))
        .route("/ssehub.js", get(page::script))
        .route("/ssehub-htmx.js", get(page::htmx_script))
        .route("/events", get(events::subscribe))
        .route("/publish", post(publish::publish))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/presence/{*topic}", get(presence::get))
        .route("/connections/{id}", delete(presence::delete))
        .route(
            "/signals/{*name}",
            get(signals::get).put(signals::put).patch(signals::patch),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::<[IpNet]>::from(state.config.trusted_proxies.as_slice()),
            log::refusals,
        ))
        .layer(cors::layer(&state.config.cors_origins))
        .with_state(state)
}

/// Binds `addr` with a listen backlog of 4,096 (the default of 1,024
/// overflows while thousands of clients connect at once).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Serves `hub` on `listener` until `shutdown` completes; then ends every
/// stream (clients come back after their `retry` time) and returns once the
/// connections are closed, or after [`Config::shutdown_grace`].
pub async fn run(
    listener: TcpListener,
    hub: Hub,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = config.shutdown_grace;
    let max = config.max_connections;
    let state = AppState::new(hub.clone(), config);
    let app = app(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tracker = std::sync::Arc::new(conn::Tracker::default());
    // Idle plain-HTTP streams wait here, without a task each.
    let (park, _stopper) = park::Park::start(state.counters.clone())?;
    // What connections leave behind in the allocator goes back to the system.
    let trimmer = tokio::spawn(trim::run(tracker.clone(), state.counters.clone()));
    // Connections being refused hold a descriptor too: at most half the
    // reserve at once, beyond that they are closed unanswered.
    let refusing = std::sync::Arc::new(conn::Tracker::default());
    let most_refusing = (max / 20).clamp(1, 512);
    let mut refused =
        log::Throttled::new("connections refused: the hub holds its --max-connections");
    let mut failed = log::Throttled::new("cannot accept connections");
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tidy = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tidy.tick() => {
                state.connect_rate.forget_quiet();
                state.publish_rate.forget_quiet();
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    // Events are small and latency matters: no Nagle delay.
                    let _ = stream.set_nodelay(true);
                    if tracker.open() >= max {
                        refused.warn(&format!("{max} open"));
                        if refusing.open() < most_refusing {
                            let guard = refusing.enter();
                            let state = state.clone();
                            tokio::spawn(async move {
                                conn::refuse(stream, addr, state, max).await;
                                drop(guard);
                            });
                        }
                        continue;
                    }
                    let guard = tracker.enter();
                    let (state, app, stop) = (state.clone(), app.clone(), stop_rx.clone());
                    tokio::spawn(conn::serve(stream, addr, state, app, stop, guard, park.clone()));
                }
                // Reset before accept: try the next one.
                Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) => {}
                // Out of file descriptors and the like: open streams go on;
                // back off briefly, and accept again once some are closed.
                Err(e) => {
                    failed.warn(&e.to_string());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: ending streams");
    hub.shutdown();
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(grace, tracker.wait_idle()).await;
    trimmer.abort();
    Ok(())
}
