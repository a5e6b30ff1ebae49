//! A native Server-Sent Events client: reconnect, resume, typed events and
//! remote signals, on `reqwest` and the [`ssehub_core`] parser.
//!
//! - [`EventSource`]: a `Stream` of [`Event`]s from a URL that behaves like the
//!   browser's `EventSource`: it reconnects (never sooner than the server's
//!   `retry`, with capped exponential backoff and jitter after errors), resumes
//!   with `Last-Event-ID`, stops on `204`, fails on other `4xx`. Each reconnect
//!   is an [`Event::Reconnecting`], so a program can report it.
//! - [`RemoteSignal`]: an ssehub server signal mirrored locally (snapshot, then
//!   JSON Patches; resync on a version gap or anything else it cannot apply,
//!   by the rule of [`ssehub_core::protocol::signal`]), with a
//!   `tokio::sync::watch` to await changes.
//! - [`Publisher`]: publishes over HTTP (`POST /publish`), retrying a 503, a
//!   504 `outcome_unknown` or a lost connection with one idempotency key, so
//!   each event is delivered once.
//!
//! ```
//! use futures_util::StreamExt;
//! use ssehub_client::{Event, EventSource};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A one-shot server: two events, then `204` ("stop reconnecting").
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/events", listener.local_addr()?);
//! tokio::spawn(async move {
//!     for answer in [
//!         &b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
//!            retry: 10\n\nid: 1\ndata: {\"n\": 1}\n\nid: 2\ndata: {\"n\": 2}\n\n"[..],
//!         b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
//!     ] {
//!         let (mut s, _) = listener.accept().await.unwrap();
//!         let mut request = Vec::new();
//!         while !request.ends_with(b"\r\n\r\n") {
//!             request.push(s.read_u8().await.unwrap());
//!         }
//!         s.write_all(answer).await.unwrap();
//!     }
//! });
//!
//! #[derive(serde::Deserialize)]
//! struct N { n: u32 }
//!
//! let mut events = EventSource::new(url)?;
//! assert_eq!(events.next_json::<N>().await.unwrap()?.n, 1);
//! assert_eq!(events.next_json::<N>().await.unwrap()?.n, 2);
//! assert_eq!(events.last_event_id(), "2");
//! // The server ends the response: the client reconnects, and gets 204.
//! let Some(Ok(Event::Reconnecting { attempt: 1, .. })) = events.next().await else { panic!() };
//! assert!(events.next().await.is_none());
//! # Ok(())
//! # }
//! ```
//!
//! This crate has no optional features; TLS is rustls with the webpki roots.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod publish;
mod signal;
mod source;

pub use error::Error;
pub use publish::{Publish, Publisher};
/// The HTTP client this crate is built on, for [`EventSourceBuilder::http_client`].
pub use reqwest;
pub use signal::{RemoteSignal, Versioned};
pub use source::{
    Event, EventSource, EventSourceBuilder, ReconnectReason, DEFAULT_MAX_BACKOFF, DEFAULT_RETRY,
};
pub use ssehub_core::{Limits, MessageEvent};
