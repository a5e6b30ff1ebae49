//! The ssehub protocol above the wire format, in one place: what the hub
//! sends and what its clients do with it. The hub (`ssehub`), the server
//! (`ssehub serve`), the native client (`ssehub-client`) and the Leptos
//! client (`ssehub-leptos`) all call this module, so that they cannot drift;
//! `js/ssehub.js`, which cannot call Rust, runs the same test vectors
//! (`crates/ssehub-core/vectors/`).
//!
//! - [`signal`]: a server signal's messages (`{"v", "snapshot"}`, `{"v",
//!   "patch"}`) and the one rule that applies them or asks for a resync.
//! - [`control`]: the hub's own events, `ssehub-reset` and `ssehub-gap`.
//! - [`events`]: the rules of a `GET /events` request (its topics, the id to
//!   resume after) and the errors it is refused with.
//! - [`Refusal`]: how an HTTP route answers a request it refuses.
//!
//! Like the rest of this crate it has no async runtime and builds for wasm32.

pub mod control;
pub mod events;
mod refusal;
pub mod signal;

pub use refusal::Refusal;
