//! A counter that the server increments every second, shown live in every
//! open page. The routes are in the library (`axum_counter::app`); this only
//! parses flags, starts the ticking and serves.
//!
//! Run with: cargo run -p axum-counter -- --listen 127.0.0.1:3001

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum_counter::Counter;
use clap::Parser;
use ssehub::Hub;

/// A live counter over Server-Sent Events, on an ssehub hub.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let hub = Hub::new();
    let counter = Counter::new(hub.clone());
    tokio::spawn(counter.clone().tick(Duration::from_secs(1)));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("counter on http://{}", listener.local_addr()?);
    axum::serve(listener, axum_counter::app(counter))
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Ends the event streams (and the ticking), which would otherwise
            // keep the server waiting for them forever.
            hub.shutdown();
        })
        .await
        .context("serving")
}
