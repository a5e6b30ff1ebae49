//! A task list shared live between htmx pages, over Server-Sent Events. The
//! routes are in the library (`htmx_tasks::app`); this only parses flags and
//! serves.
//!
//! Run with: cargo run -p htmx-tasks -- --listen 127.0.0.1:3000

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use ssehub::Hub;

/// A task list shared live between htmx pages, on an ssehub hub.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let hub = Hub::new();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("tasks on http://{addr}/ (htmx 2) and http://{addr}/htmx4 (htmx 4)");
    axum::serve(listener, htmx_tasks::app(hub.clone()))
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Ends the event streams, which would otherwise keep the server
            // waiting for them forever.
            hub.shutdown();
        })
        .await
        .context("serving")
}
