//! A chat room over Server-Sent Events: every open page sees every message,
//! live. The routes are in the library (`salvo_chat::router`); this only
//! parses flags and serves.
//!
//! Run with: cargo run -p salvo-chat -- --listen 127.0.0.1:3000

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use salvo::conn::tcp::TcpAcceptor;
use salvo::Server;

/// A chat room over Server-Sent Events, on an ssehub hub and salvo.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let hub = salvo_chat::hub();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("chat on http://{}", listener.local_addr()?);
    let server = Server::new(TcpAcceptor::try_from(listener)?);
    let handle = server.handle();
    let router = salvo_chat::router(hub.clone());
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        // Ends the event streams, which would otherwise keep the server
        // waiting for them.
        hub.shutdown();
        handle.stop_graceful(None);
    });
    server.try_serve(router).await.context("serving")
}
