//! The Server-Sent Events wire format, as ssehub writes and reads it.
//!
//! - [`Event`]: a validated event; [`Event::encode`] turns it into one shared
//!   buffer, whatever the number of connections it is written to.
//! - [`Parser`]: the HTML standard's "interpreting an event stream", incremental
//!   and independent of how the input is chunked, with memory [`Limits`].
//! - [`EventStream`] and [`FrameStream`]: the same over `Stream`s of bytes and of
//!   events, for any async runtime (this crate depends on none).
//!
//! ```
//! use ssehub_core::{parse_all, Event, Item};
//!
//! let frame = Event::builder().event("note").data(" two\r\nlines\n").build()?.encode();
//! let items = parse_all(&frame)?;
//! let Item::Event(event) = &items[0] else { unreachable!() };
//! assert_eq!(event.event, "note");
//! assert_eq!(event.data, " two\nlines\n"); // line breaks arrive as LF
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`protocol`]: the ssehub protocol above the wire format (signal messages
//! and their apply-or-resync rule, the hub's control events, the rules of a
//! `GET /events` request), one home for the hub, the server and every client.
//!
//! This crate has no optional features.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod event;
mod parse;
pub mod protocol;
mod stream;

pub use event::{check_id, comment, Event, EventBuilder, EventError};
pub use parse::{parse_all, EventRef, Item, ItemRef, Limits, MessageEvent, ParseError, Parser};
pub use stream::{EventStream, FrameStream, StreamError};
