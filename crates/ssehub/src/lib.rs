//! A Server-Sent Events hub: topics, fan-out, lossless resume after
//! reconnect, keep-alive and backpressure, with adapters for web frameworks.
//!
//! ```
//! use futures_util::StreamExt;
//! use ssehub::{Event, Hub};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! let mut sub = hub.subscribe(["chat/1", "alerts"], None).await?;
//! let id = hub.publish("chat/1", Event::builder().event("msg").data("hi").build()?).await?;
//!
//! // A client that saw nothing after `id` resumes with exactly what it missed.
//! hub.publish("alerts", Event::data("disk full")).await?;
//! let resumed = hub.subscribe(["chat/1", "alerts"], Some(id.as_str())).await?;
//! assert_eq!(resumed.resume(), ssehub::Resume::Resumed { replayed: 1 });
//! # drop(sub.next().await);
//! # Ok(()) }
//! ```
//!
//! What it guarantees (see [`Hub`], [`Subscription`], [`LagPolicy`] and
//! [`control`]): a subscriber sees its topics' events in publish order, none
//! twice; a resume replays exactly what was missed or starts with a reset
//! event; a slow subscriber never delays anyone else and its memory is
//! bounded; an event is encoded once whatever the number of subscribers.
//!
//! # Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `axum` | no | [`axum`] adapter: `Subscription` as a response, a `LastEventId` extractor |
//! | `actix` | no | [`actix`] adapter (actix-web 4): `Subscription` as a `Responder`, a `LastEventId` extractor |
//! | `salvo` | no | [`salvo`] adapter (salvo 1): `Subscription` as a `Scribe`, a `LastEventId` extractor |
//!
//! Every adapter answers with the same headers (`Content-Type:
//! text/event-stream`, `Cache-Control: no-cache`, `X-Accel-Buffering: no`,
//! never compressed) and reads `Last-Event-ID` the same way (the header,
//! else the `lastEventId` query parameter); one conformance suite
//! (`tests/conformance`) runs against all three. Guides: `docs/adapters.md`.
//! The frameworks set their own minimum Rust: 1.89 for actix-web 4.18,
//! 1.95 for salvo 1.1 (the crate itself needs 1.85).
//!
//! Without a feature: [`htmx`] builds events for htmx pages (fragments to
//! swap, out-of-band swaps, triggers).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
pub mod control;
mod error;
mod feed;
mod history;
pub mod htmx;
mod hub;
mod id;
mod memory;
pub mod presence;
mod registry;
pub mod signal;
pub mod signal_api;
mod subscriber;
mod subscription;
mod topic;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;

#[cfg(feature = "salvo")]
#[cfg_attr(docsrs, doc(cfg(feature = "salvo")))]
pub mod salvo;

pub use error::{PublishError, SubscribeError};
pub use hub::{ConnectionInfo, Hub, HubBuilder, Stats, SubscribeOptions};
pub use id::{EventId, Position};
pub use json_patch;
pub use presence::{ConnectionId, Present};
pub use signal::{Signal, SignalError};
pub use ssehub_core::protocol::Refusal;
pub use ssehub_core::{Event, EventBuilder, EventError};
pub use subscriber::{LagPolicy, TagWake};
pub use subscription::{Resume, Subscription};
pub use topic::{publishable_by_clients, IntoTopics, Topic, TopicError, TopicPattern};

/// The README's example, compiled as a doc test.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The htmx guide's example, compiled as a doc test.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../../docs/htmx.md")]
struct HtmxGuideDoctests;
/// The adapter guide's examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "axum", feature = "actix", feature = "salvo"))]
#[doc = include_str!("../../../docs/adapters.md")]
struct AdapterGuideDoctests;
