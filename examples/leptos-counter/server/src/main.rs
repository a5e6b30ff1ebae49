//! The leptos-counter server: a Leptos page whose `Count: N` the server
//! increments every second through an ssehub signal. The routes are in the
//! library (`leptos_counter::app`); this only parses flags, starts the
//! ticking and serves.
//!
//! Run with (from the repository root):
//!
//! ```text
//! examples/leptos-counter/build.sh
//! cargo run -p leptos-counter -- --listen 127.0.0.1:3002
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use leptos_counter::Counter;
use ssehub::Hub;

/// A Leptos counter driven by the server over Server-Sent Events.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3002")]
    listen: SocketAddr,
    /// The directory wasm-bindgen wrote the page's bundle to (default:
    /// examples/leptos-counter/pkg, where build.sh puts it).
    #[arg(long, env = "LEPTOS_COUNTER_ASSETS")]
    assets: Option<PathBuf>,
    /// How often the server adds one, in milliseconds (0: never, only the
    /// button).
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let assets = args
        .assets
        .unwrap_or_else(leptos_counter::default_assets_dir);
    let hub = Hub::new();
    let counter = Counter::new(&hub).await?;
    let app = leptos_counter::app(hub.clone(), counter.clone(), &assets)?;
    if args.tick_ms > 0 {
        tokio::spawn(counter.tick(Duration::from_millis(args.tick_ms)));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("leptos counter on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Ends the event streams (and the ticking), which would otherwise
            // keep the server waiting for them forever.
            hub.shutdown();
        })
        .await
        .context("serving")
}
