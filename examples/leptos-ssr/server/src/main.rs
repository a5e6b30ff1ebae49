//! The leptos-ssr server: a Leptos app rendered on the server with the live
//! value of the ssehub signal `counter`, hydrated in the browser. The routes
//! are in the library (`leptos_ssr::app`); this only parses flags and
//! serves.
//!
//! Run with (from the repository root):
//!
//! ```text
//! examples/leptos-ssr/build.sh
//! cargo run -p leptos-ssr -- --listen 127.0.0.1:3003
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use ssehub::Hub;

/// A Leptos app, rendered on the server and hydrated, whose counter is an
/// ssehub signal.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3003")]
    listen: SocketAddr,
    /// The directory wasm-bindgen wrote the page's bundle to (default:
    /// examples/leptos-ssr/pkg, where build.sh puts it).
    #[arg(long, env = "LEPTOS_SSR_ASSETS")]
    assets: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let assets = args.assets.unwrap_or_else(leptos_ssr::default_assets_dir);
    let hub = Hub::new();
    leptos_ssr::counter(&hub).await?;
    let app = leptos_ssr::app(hub.clone(), &assets)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("leptos ssr on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Ends the event streams, which would otherwise keep the server
            // waiting for them forever.
            hub.shutdown();
        })
        .await
        .context("serving")
}
