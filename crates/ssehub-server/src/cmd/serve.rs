//! `ssehub serve`: flags, then `ssehub_server::run`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use std::sync::Arc;

use ssehub::{Hub, TopicPattern};
use ssehub_server::Auth;

/// Flags of `ssehub serve`; each is also an `SSEHUB_*` environment variable.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A TOML file of settings: keys are these flags' long names
    /// (`listen = "0.0.0.0:8080"`). Flags and environment variables win.
    #[arg(long, env = "SSEHUB_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// How to log: `text`, or `json` (one object a line). Levels: RUST_LOG
    /// (default `info`).
    #[arg(long, env = "SSEHUB_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Address to listen on. Without an authorization key, keep it on loopback.
    #[arg(long, env = "SSEHUB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A Redis to share with other hubs (redis://[:PASSWORD@]HOST[:PORT][/DB]):
    /// events go to a Redis stream, every hub on it delivers every event, and
    /// clients resume on any of them. Without it, history is in memory.
    #[arg(long, env = "SSEHUB_REDIS", value_name = "URL", hide_env_values = true)]
    redis: Option<String>,
    /// Prefix of the Redis keys; hubs that act as one use the same.
    #[arg(long, env = "SSEHUB_REDIS_PREFIX", default_value = "ssehub")]
    redis_prefix: String,
    /// Most events kept in history for resuming clients (with --redis: the
    /// stream's MAXLEN, approximate).
    #[arg(long, env = "SSEHUB_HISTORY_EVENTS", default_value_t = 10_000)]
    history_events: usize,
    /// Most bytes kept in history (frames plus topic names; in memory only).
    #[arg(long, env = "SSEHUB_HISTORY_BYTES", default_value_t = 16 << 20)]
    history_bytes: usize,
    /// Seconds between keep-alive comments on idle streams (0: none).
    #[arg(long, env = "SSEHUB_KEEPALIVE", default_value_t = 15)]
    keepalive: u64,
    /// Most bytes of a request body (more: 413).
    #[arg(long, env = "SSEHUB_MAX_BODY_BYTES", default_value_t = 2 << 20)]
    max_body_bytes: usize,
    /// Most bytes of a published event's data (more: 413).
    #[arg(long, env = "SSEHUB_MAX_EVENT_BYTES", default_value_t = 1 << 20)]
    max_event_bytes: usize,
    /// Most topics in one subscription (more: 400).
    #[arg(long, env = "SSEHUB_MAX_TOPICS", default_value_t = 64)]
    max_topics: usize,
    /// Streams a client IP address may open per second, bursts of twice that
    /// (more: 429 with Retry-After); 0 (default): no limit. For the open
    /// internet, e.g. 20 (see docs/deploy.md).
    #[arg(long, env = "SSEHUB_CONNECT_RATE", default_value_t = 0)]
    connect_rate: u32,
    /// Publishes and signal changes per second per client IP address, bursts
    /// of twice that (more: 429 with Retry-After); 0 (default): no limit.
    #[arg(long, env = "SSEHUB_PUBLISH_RATE", default_value_t = 0)]
    publish_rate: u32,
    /// Most open streams per client IP address (more: 429); 0 (default): no
    /// limit. For the open internet, e.g. 100 (see docs/deploy.md).
    #[arg(long, env = "SSEHUB_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    max_connections_per_ip: usize,
    /// Most open connections (more: 503 with Retry-After), so that the hub
    /// never runs out of file descriptors. Default: the open-file limit
    /// (raised to its hard limit at start) less a reserve of a tenth.
    #[arg(long, env = "SSEHUB_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// A reverse proxy's address range (CIDR, e.g. 10.0.0.0/8 or
    /// 127.0.0.1/32): for peers in it, the client is the last untrusted hop
    /// of X-Forwarded-For (else Forwarded: for=); per-IP limits and logs use
    /// it. Repeatable; comma-separated in the environment.
    #[arg(
        long,
        env = "SSEHUB_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    trusted_proxy: Vec<ssehub_server::IpNet>,
    /// PEM certificate chain (end-entity first) for HTTPS, with --tls-key.
    /// Served with HTTP/2 and HTTP/1.1; re-read on SIGHUP without dropping
    /// streams.
    #[arg(
        long,
        env = "SSEHUB_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "SSEHUB_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
    /// Secret that HS256 tokens are signed with. With a key, nothing is
    /// published, and nothing outside --public-topics is read, without a token
    /// that grants it.
    #[arg(long, env = "SSEHUB_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// A file holding the HS256 secret, instead of --jwt-secret (whose value
    /// shows in `ps`); one trailing newline is not part of it.
    #[arg(long, env = "SSEHUB_JWT_SECRET_FILE", value_name = "FILE")]
    jwt_secret_file: Option<std::path::PathBuf>,
    /// PEM file of the public key RS256 or ES256 tokens are signed with.
    #[arg(long, env = "SSEHUB_JWT_PUBLIC_KEY", value_name = "FILE")]
    jwt_public_key: Option<std::path::PathBuf>,
    /// Topics anyone may read without a token (a pattern: `*` one segment,
    /// `**` any rest). Repeatable; comma-separated in the environment.
    #[arg(
        long,
        env = "SSEHUB_PUBLIC_TOPICS",
        value_name = "PATTERN",
        value_delimiter = ','
    )]
    public_topics: Vec<String>,
    /// An origin allowed to use the hub from a browser (CORS, with
    /// credentials), e.g. https://app.example. Repeatable; comma-separated in
    /// the environment. Other origins get no grant.
    #[arg(
        long,
        env = "SSEHUB_CORS_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    cors_origin: Vec<String>,
}

impl Args {
    /// The `--config` file, if any.
    pub(crate) fn config_file(&self) -> Option<std::path::PathBuf> {
        self.config.clone()
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if args.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    // Each connection holds a file descriptor: the soft limit (often 1,024)
    // goes up to the hard limit.
    let file_limit = match ssehub_server::raise_file_limit() {
        Ok(limit) => {
            tracing::info!(
                before = limit.before,
                hard = limit.hard,
                "open-file limit: {}",
                limit.now
            );
            limit.now
        }
        Err(e) => {
            let now = ssehub_server::file_limit().unwrap_or(1024);
            tracing::warn!("cannot raise the open-file limit ({e}); it stays {now}");
            now
        }
    };
    let max_connections = args
        .max_connections
        .unwrap_or_else(|| ssehub_server::connection_budget(file_limit));
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(ssehub_server::Tls::from_pem_files(cert, key).context("--tls-cert/--tls-key")?)
        }
        _ => None,
    };
    let mut hub = Hub::builder()
        .history_events(args.history_events)
        .history_bytes(args.history_bytes)
        .max_topics(args.max_topics)
        .keepalive(Some(Duration::from_secs(args.keepalive)));
    if let Some(url) = &args.redis {
        hub = hub.backend(redis_backend(url, &args).await?);
    }
    let hub = hub.build();
    let jwt_secret = super::secret::hs256(
        args.jwt_secret.as_deref(),
        "--jwt-secret (SSEHUB_JWT_SECRET)",
        args.jwt_secret_file.as_deref(),
        "--jwt-secret-file",
    )?;
    let public_key = match &args.jwt_public_key {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let auth = if jwt_secret.is_some() || public_key.is_some() {
        let public = args
            .public_topics
            .iter()
            .map(|p| TopicPattern::new(p))
            .collect();
        let auth = Auth::new(jwt_secret.as_deref(), public_key.as_deref(), public)
            .context("--jwt-public-key")?;
        Some(Arc::new(auth))
    } else {
        if !args.public_topics.is_empty() {
            anyhow::bail!("--public-topics needs --jwt-secret or --jwt-public-key: without a key every topic is public");
        }
        None
    };
    let cors_origins = args
        .cors_origin
        .iter()
        .map(|o| {
            axum::http::HeaderValue::from_str(o.trim_end_matches('/'))
                .with_context(|| format!("--cors-origin {o:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let listener = ssehub_server::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if auth.is_none() {
        if addr.ip().is_loopback() {
            tracing::warn!("no authorization key: the hub is open (to this machine only)");
        } else {
            tracing::warn!(%addr, "no authorization key and not on loopback: anyone who can reach the hub may publish and subscribe");
        }
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, auth = auth.is_some(), max_connections, "listening on {scheme}://{addr}");
    if let Some(tls) = &tls {
        tokio::spawn(reload_on_hangup(tls.clone()));
    }
    let config = ssehub_server::Config {
        max_body_bytes: args.max_body_bytes,
        max_event_bytes: args.max_event_bytes,
        max_topics: args.max_topics,
        max_connections_per_ip: args.max_connections_per_ip,
        max_connections,
        trusted_proxies: args.trusted_proxy.clone(),
        tls,
        cors_origins,
        connect_rate: args.connect_rate,
        publish_rate: args.publish_rate,
        auth,
        ..ssehub_server::Config::default()
    };
    ssehub_server::run(listener, hub, config, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(feature = "redis")]
async fn redis_backend(url: &str, args: &Args) -> anyhow::Result<ssehub_redis::RedisBackend> {
    let backend = ssehub_redis::RedisBackend::builder(url)
        .prefix(&args.redis_prefix)
        .max_len(args.history_events)
        .connect()
        .await
        .context("--redis")?;
    tracing::info!(prefix = %args.redis_prefix, "events and signals in Redis");
    Ok(backend)
}

#[cfg(not(feature = "redis"))]
async fn redis_backend(_url: &str, _args: &Args) -> anyhow::Result<ssehub::backend::Memory> {
    anyhow::bail!("--redis: this ssehub was built without the `redis` feature")
}

/// Reads the certificate files again on each SIGHUP (after a renewal):
/// new connections get the new certificate, open ones keep theirs.
async fn reload_on_hangup(tls: ssehub_server::Tls) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: certificates will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: certificates reloaded"),
                Err(e) => {
                    tracing::warn!("SIGHUP: certificates not reloaded, keeping the old ones: {e}")
                }
            }
        }
    }
    #[cfg(not(unix))]
    drop(tls);
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
