//! `ssehub serve`: flags, then `ssehub_server::run`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use std::sync::Arc;

use ssehub::{Hub, TopicPattern};
use ssehub_server::{Auth, Config};

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
    // Defaults. The hub's settings (history, keep-alive) and the Redis
    // backend's (prefix) are `Option`s: unset, the CLI does not call the
    // setter, so `ssehub serve` runs on `ssehub::HubBuilder`'s and
    // `ssehub_redis::RedisBackendBuilder`'s own defaults (their help below
    // quotes them). The server's settings show `ssehub_server::Config::default()`
    // as their default: that value, and no copy of it, is what `serve` runs
    // with, so that an app embedding `ssehub_server::router` gets what the
    // binary has (`no_flags_run_on_config_default` below checks every field).
    /// Prefix of the Redis keys; hubs that act as one use the same. Default:
    /// the backend's, `ssehub`.
    #[arg(long, env = "SSEHUB_REDIS_PREFIX")]
    redis_prefix: Option<String>,
    /// Most events kept in history for resuming clients (with --redis: the
    /// stream's MAXLEN, approximate). Default: the hub's, 10,000.
    #[arg(long, env = "SSEHUB_HISTORY_EVENTS")]
    history_events: Option<usize>,
    /// Most bytes kept in history (frames plus topic names; in memory only).
    /// Default: the hub's, 16 MiB.
    #[arg(long, env = "SSEHUB_HISTORY_BYTES")]
    history_bytes: Option<usize>,
    /// Seconds between keep-alive comments on idle streams (0: none).
    /// Default: the hub's, 15.
    #[arg(long, env = "SSEHUB_KEEPALIVE", value_name = "SECS")]
    keepalive: Option<u64>,
    /// Milliseconds a publish (or signal change) waits for the backend;
    /// past it, 504 `outcome_unknown` (it may still be applied: retry with
    /// the same Idempotency-Key). Default: the hub's, 3000.
    #[arg(long, env = "SSEHUB_WRITE_TIMEOUT", value_name = "MS")]
    write_timeout: Option<u64>,
    /// Seconds an Idempotency-Key is remembered: a publish retried with it
    /// within this window is answered with the first id and delivered once.
    /// Default: the hub's, 300.
    #[arg(long, env = "SSEHUB_IDEMPOTENCY_WINDOW", value_name = "SECS")]
    idempotency_window: Option<u64>,
    /// Topics (patterns) whose streams' openings and ends are published as
    /// `join` and `leave` events to `$presence/{topic}` (see
    /// docs/presence.md). Repeatable; comma-separated in the environment.
    /// Default: none (each such event is an event in history).
    #[arg(
        long,
        env = "SSEHUB_PRESENCE_EVENTS",
        value_name = "PATTERN",
        value_delimiter = ','
    )]
    presence_events: Vec<String>,
    /// Most bytes of a request body (more: 413).
    #[arg(long, env = "SSEHUB_MAX_BODY_BYTES", default_value_t = Config::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Most bytes of a published event's data (more: 413).
    #[arg(long, env = "SSEHUB_MAX_EVENT_BYTES", default_value_t = Config::default().max_event_bytes)]
    max_event_bytes: usize,
    /// Most topics in one subscription (more: 400).
    #[arg(long, env = "SSEHUB_MAX_TOPICS", default_value_t = Config::default().max_topics)]
    max_topics: usize,
    /// Streams a client IP address may open per second, bursts of twice that
    /// (more: 429 with Retry-After); 0 (default): no limit. For the open
    /// internet, e.g. 20 (see docs/deploy.md).
    #[arg(long, env = "SSEHUB_CONNECT_RATE", default_value_t = Config::default().connect_rate)]
    connect_rate: u32,
    /// Publishes and signal changes per second per client IP address, bursts
    /// of twice that (more: 429 with Retry-After); 0 (default): no limit.
    #[arg(long, env = "SSEHUB_PUBLISH_RATE", default_value_t = Config::default().publish_rate)]
    publish_rate: u32,
    /// Most open streams per client IP address (more: 429); 0 (default): no
    /// limit. For the open internet, e.g. 100 (see docs/deploy.md).
    #[arg(
        long,
        env = "SSEHUB_MAX_CONNECTIONS_PER_IP",
        default_value_t = Config::default().max_connections_per_ip
    )]
    max_connections_per_ip: usize,
    /// Most open connections (more: 503 with Retry-After), so that the hub
    /// never runs out of file descriptors. Default: the open-file limit
    /// (raised to its hard limit at start) less a reserve of a tenth, as
    /// `ssehub_server::Config::default()` computes it.
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
    // goes up to the hard limit, before `Config::default()` reads it for
    // the default --max-connections.
    match ssehub_server::raise_file_limit() {
        Ok(limit) => tracing::info!(
            before = limit.before,
            hard = limit.hard,
            "open-file limit: {}",
            limit.now
        ),
        Err(e) => match ssehub_server::file_limit() {
            Ok(now) => tracing::warn!("cannot raise the open-file limit ({e}); it stays {now}"),
            Err(_) => tracing::warn!("cannot raise the open-file limit ({e})"),
        },
    }
    let config = args.config()?;
    // One limit of topics per subscription, checked by the server's
    // routes (`Config::max_topics`) and by the hub: the same value for both.
    let mut hub = Hub::builder().max_topics(config.max_topics);
    if let Some(n) = args.history_events {
        hub = hub.history_events(n);
    }
    if let Some(n) = args.history_bytes {
        hub = hub.history_bytes(n);
    }
    if let Some(secs) = args.keepalive {
        hub = hub.keepalive(Some(Duration::from_secs(secs)));
    }
    if let Some(ms) = args.write_timeout {
        hub = hub.write_timeout(Duration::from_millis(ms.max(1)));
    }
    if let Some(secs) = args.idempotency_window {
        hub = hub.idempotency_window(Duration::from_secs(secs));
    }
    if !args.presence_events.is_empty() {
        hub = hub.presence_events(&args.presence_events);
    }
    if let Some(url) = &args.redis {
        hub = hub.backend(redis_backend(url, &args).await?);
    }
    let hub = hub.build();
    let listener = ssehub_server::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if config.auth.is_none() {
        if addr.ip().is_loopback() {
            tracing::warn!("no authorization key: the hub is open (to this machine only)");
        } else {
            tracing::warn!(%addr, "no authorization key and not on loopback: anyone who can reach the hub may publish and subscribe");
        }
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%addr, node = hub.node(), auth = config.auth.is_some(), max_connections = config.max_connections, "listening on {scheme}://{addr}");
    if let Some(tls) = &config.tls {
        tokio::spawn(reload_on_hangup(tls.clone()));
    }
    ssehub_server::run(listener, hub, config, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

impl Args {
    /// The server's settings from the flags; [`Config::default()`] for each
    /// one not given (read after the open-file limit is raised, for
    /// `max_connections`). Every field is named, without `..`, so that a new
    /// field of `Config` gets a flag or a deliberate default here.
    fn config(&self) -> anyhow::Result<Config> {
        let defaults = Config::default();
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(
                ssehub_server::Tls::from_pem_files(cert, key).context("--tls-cert/--tls-key")?,
            ),
            _ => None,
        };
        let jwt_secret = super::secret::hs256(
            self.jwt_secret.as_deref(),
            "--jwt-secret (SSEHUB_JWT_SECRET)",
            self.jwt_secret_file.as_deref(),
            "--jwt-secret-file",
        )?;
        let public_key = match &self.jwt_public_key {
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
            None => None,
        };
        let auth = if jwt_secret.is_some() || public_key.is_some() {
            let public = self
                .public_topics
                .iter()
                .map(|p| TopicPattern::new(p))
                .collect();
            let auth = Auth::new(jwt_secret.as_deref(), public_key.as_deref(), public)
                .context("--jwt-public-key")?;
            Some(Arc::new(auth))
        } else {
            if !self.public_topics.is_empty() {
                anyhow::bail!("--public-topics needs --jwt-secret or --jwt-public-key: without a key every topic is public");
            }
            None
        };
        let cors_origins = self
            .cors_origin
            .iter()
            .map(|o| {
                axum::http::HeaderValue::from_str(o.trim_end_matches('/'))
                    .with_context(|| format!("--cors-origin {o:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Config {
            max_body_bytes: self.max_body_bytes,
            // No flag: shutdown waits as long as an embedding app's would.
            shutdown_grace: defaults.shutdown_grace,
            auth,
            max_topics: self.max_topics,
            max_event_bytes: self.max_event_bytes,
            max_connections_per_ip: self.max_connections_per_ip,
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            trusted_proxies: self.trusted_proxy.clone(),
            tls,
            cors_origins,
            connect_rate: self.connect_rate,
            publish_rate: self.publish_rate,
            // No flag: the default (30 s) serves slow clients and proxies.
            head_timeout: defaults.head_timeout,
        })
    }
}

#[cfg(feature = "redis")]
async fn redis_backend(url: &str, args: &Args) -> anyhow::Result<ssehub_redis::RedisBackend> {
    let mut backend = ssehub_redis::RedisBackend::builder(url);
    if let Some(prefix) = &args.redis_prefix {
        backend = backend.prefix(prefix);
    }
    if let Some(n) = args.history_events {
        backend = backend.max_len(n);
    }
    let backend = backend.connect().await.context("--redis")?;
    tracing::info!(
        prefix = args.redis_prefix.as_deref(),
        "events and signals in Redis"
    );
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    /// `ssehub serve` parsed with the given flags, never from `SSEHUB_*`
    /// variables (the environment of the test run must not change it).
    fn serve_args(flags: &[&str]) -> Box<Args> {
        let command = crate::Cli::command()
            .mut_subcommand("serve", |serve| serve.mut_args(|arg| arg.env(None::<&str>)));
        let matches = command
            .try_get_matches_from(["ssehub", "serve"].iter().chain(flags))
            .unwrap();
        match crate::Cli::from_arg_matches(&matches).unwrap().command {
            crate::Command::Serve(args) => args,
            other => panic!("{other:?}"),
        }
    }

    /// The binary and an app that embeds `router(hub, Config::default())`
    /// run on the same defaults: every field of `Config` compared (the
    /// destructuring has no `..`, so a new field must be added here).
    #[test]
    fn no_flags_run_on_config_default() {
        let args = serve_args(&[]);
        let Config {
            max_body_bytes,
            shutdown_grace,
            auth,
            max_topics,
            max_event_bytes,
            max_connections_per_ip,
            max_connections,
            trusted_proxies,
            tls,
            cors_origins,
            connect_rate,
            publish_rate,
            head_timeout,
        } = args.config().unwrap();
        let default = Config::default();
        assert_eq!(max_body_bytes, default.max_body_bytes);
        assert_eq!(shutdown_grace, default.shutdown_grace);
        assert_eq!(auth.is_some(), default.auth.is_some());
        assert_eq!(max_topics, default.max_topics);
        assert_eq!(max_event_bytes, default.max_event_bytes);
        assert_eq!(max_connections_per_ip, default.max_connections_per_ip);
        assert_eq!(max_connections, default.max_connections);
        assert_eq!(trusted_proxies, default.trusted_proxies);
        assert_eq!(tls.is_some(), default.tls.is_some());
        assert_eq!(cors_origins, default.cors_origins);
        assert_eq!(connect_rate, default.connect_rate);
        assert_eq!(publish_rate, default.publish_rate);
        assert_eq!(head_timeout, default.head_timeout);
        // The hub checks a subscription's topics too (`HubBuilder::max_topics`,
        // which `serve` sets from the config): an app that embeds
        // `router(Hub::new(), Config::default())` must get the same limit
        // from both. `HubBuilder` has no getter; its `Debug` output is the
        // reference.
        let hub = format!("{:?}", Hub::builder());
        assert!(
            hub.contains(&format!("max_topics: {},", default.max_topics)),
            "Config::default().max_topics is {}, the hub's default differs: {hub}",
            default.max_topics
        );
        // The hub's and the Redis backend's settings are left to their own
        // builders' defaults.
        assert_eq!(args.history_events, None);
        assert_eq!(args.history_bytes, None);
        assert_eq!(args.keepalive, None);
        assert_eq!(args.write_timeout, None);
        assert_eq!(args.idempotency_window, None);
        assert_eq!(args.redis_prefix, None);
    }

    /// The help of the flags left to the hub's and the Redis backend's own
    /// defaults quotes those defaults; the builders have no getters, so
    /// their `Debug` output is the reference (a change of its format fails
    /// here, never passes silently).
    #[test]
    fn the_help_quotes_the_builders_defaults() {
        let command = crate::Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        let quoted = |flag: &str| {
            let arg = serve
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap();
            let help = arg.get_help().unwrap().to_string();
            let (_, rest) = help
                .split_once("Default: the ")
                .unwrap_or_else(|| panic!("--{flag}: {help}"));
            let (_, value) = rest.split_once(", ").unwrap();
            value.trim_end_matches('.').to_owned()
        };
        let hub = format!("{:?}", Hub::builder());
        let events: usize = quoted("history-events").replace(',', "").parse().unwrap();
        assert!(hub.contains(&format!("history_events: {events},")), "{hub}");
        let mib: usize = quoted("history-bytes")
            .strip_suffix(" MiB")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            hub.contains(&format!("history_bytes: {},", mib << 20)),
            "{hub}"
        );
        let secs: u64 = quoted("keepalive").parse().unwrap();
        assert!(hub.contains(&format!("keepalive: Some({secs}s),")), "{hub}");
        let ms: u64 = quoted("write-timeout").parse().unwrap();
        assert!(
            hub.contains(&format!("write_timeout: {:?},", Duration::from_millis(ms))),
            "{hub}"
        );
        let secs: u64 = quoted("idempotency-window").parse().unwrap();
        assert!(
            hub.contains(&format!("idempotency_window: {secs}s,")),
            "{hub}"
        );
        #[cfg(feature = "redis")]
        {
            let redis = format!("{:?}", ssehub_redis::RedisBackend::builder("redis://h"));
            let prefix = quoted("redis-prefix");
            let prefix = prefix.trim_matches('`');
            assert!(redis.contains(&format!("prefix: {prefix:?},")), "{redis}");
        }
    }

    /// The flags do reach the config (the test above is not passing because
    /// they are ignored).
    #[test]
    fn flags_override_the_defaults() {
        let args = serve_args(&[
            "--max-body-bytes=1",
            "--max-event-bytes=2",
            "--max-topics=3",
            "--max-connections-per-ip=4",
            "--max-connections=5",
            "--connect-rate=6",
            "--publish-rate=7",
            "--trusted-proxy=10.0.0.0/8",
            "--cors-origin=https://app.example/",
            "--history-events=8",
            "--keepalive=0",
        ]);
        let config = args.config().unwrap();
        assert_eq!(
            (
                config.max_body_bytes,
                config.max_event_bytes,
                config.max_topics,
                config.max_connections_per_ip,
                config.max_connections,
                config.connect_rate,
                config.publish_rate,
            ),
            (1, 2, 3, 4, 5, 6, 7)
        );
        assert_eq!(config.trusted_proxies, ["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(config.cors_origins, ["https://app.example"]);
        assert_eq!((args.history_events, args.keepalive), (Some(8), Some(0)));
    }
}
