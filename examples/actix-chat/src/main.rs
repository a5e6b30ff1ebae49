//! A chat room over Server-Sent Events: every open page sees every message,
//! live. The routes are in the library (`actix_chat::serve`); this only
//! parses flags and serves.
//!
//! Run with: cargo run -p actix-chat -- --listen 127.0.0.1:3000

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;

/// A chat room over Server-Sent Events, on an ssehub hub and actix-web.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let hub = actix_chat::hub();
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("chat on http://{}", listener.local_addr()?);
    let server = actix_chat::serve(listener, hub.clone()).context("serving")?;
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        // Ends the event streams, which would otherwise keep the server
        // waiting for them until its shutdown timeout.
        hub.shutdown();
        handle.stop(true).await;
    });
    server.await.context("serving")
}
