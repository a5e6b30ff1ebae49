//! A chat room over Server-Sent Events: every open page sees every message,
//! live. The routes are in the library (`axum_chat::app`); this only parses
//! flags and serves.
//!
//! Run with: cargo run -p axum-chat -- --listen 127.0.0.1:3000

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;

/// A chat room over Server-Sent Events, on an ssehub hub.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let hub = axum_chat::hub();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("chat on http://{}", listener.local_addr()?);
    axum::serve(listener, axum_chat::app(hub.clone()))
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Ends the event streams, which would otherwise keep the server
            // waiting for them forever.
            hub.shutdown();
        })
        .await
        .context("serving")
}
