//! Benchmarks and the load generator for ssehub.
//!
//! - `benches/wire.rs`: wire-format micro-benchmarks (`docs/benchmarks.md`).
//! - `ssehub-load`: a load generator, a separate process from the server: many
//!   SSE subscribers, a few publishers, sequence checks and latency.
//! - `baseline-server`: the same HTTP API written the way most users write it
//!   (axum `Sse` over `tokio::sync::broadcast`), to compare against.
//!
//! `bench/run.sh` runs both servers through the same scenarios; see
//! `docs/load.md`. This library holds what the load generator is made of: a
//! raw HTTP/1.1 client ([`http`]), HTTP/2 over TLS ([`https`]), the payload
//! format ([`payload`]) and what `/proc` says about a process ([`procfs`]),
//! kept here so that they are unit-tested.
#![deny(missing_docs)]

pub mod http;
pub mod https;
pub mod payload;
pub mod procfs;

use std::future::Future;
use std::process::ExitCode;

/// A connection for publishing: HTTP/1.1 keep-alive, or its own HTTP/2
/// connection over TLS; either way one request at a time.
#[derive(Debug)]
pub enum Poster {
    /// Plain HTTP/1.1.
    Http1(http::Client),
    /// HTTP/2 over TLS.
    H2(https::Client),
}

impl Poster {
    /// `POST path` with a body of `content_type`; returns the status and the
    /// body.
    ///
    /// # Errors
    ///
    /// When connecting fails, or the exchange breaks off.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        match self {
            Poster::Http1(client) => client.post(path, content_type, body).await,
            Poster::H2(client) => client.post(path, content_type, body).await,
        }
    }
}

/// A load tool's `main`: `run` on a multi-thread runtime with `threads`
/// workers (0: one per CPU it may run on); an error is printed as
/// `{name}: {error}` and exits 1.
pub fn main_of(
    name: &str,
    threads: usize,
    run: impl Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    use anyhow::Context as _;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        runtime.worker_threads(threads);
    }
    let result = runtime
        .enable_all()
        .build()
        .context("starting the runtime")
        .and_then(|rt| rt.block_on(run));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
