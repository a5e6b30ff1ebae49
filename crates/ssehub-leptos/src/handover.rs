//! The version hand-over from a server-rendered page to the hydrating one:
//! what the server rendered of a signal (its version and value) travels with
//! the page, so that the browser starts from it.
//!
//! It travels as Leptos's shared data ([`SharedValue`]): the server writes it
//! into the page (a small script next to the HTML, as Leptos does for its
//! resources), and the hydrating page reads it back in the same order, with
//! no request. Without a server render (CSR, or a component created after
//! hydration) there is nothing to hand over.

use leptos::prelude::SharedValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the server rendered of a signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rendered {
    /// The signal's version.
    pub(crate) v: u64,
    /// Its JSON value at that version.
    pub(crate) value: Value,
}

/// On the server (`ssr`): the signal's version and value, read in process
/// from the [`ssehub::Hub`] in the Leptos context, written into the page.
/// On the hydrating page: what the server wrote, read back. `None` when
/// there is no hub in the context or no such signal, and off those two.
pub(crate) fn hand_over(name: &str) -> Option<Rendered> {
    SharedValue::new(|| read(name)).into_inner()
}

/// The signal's current version and value on the server, from the hub in
/// context: this node's copy, with no request to the backend.
#[cfg(feature = "ssr")]
fn read(name: &str) -> Option<Rendered> {
    let hub = leptos::prelude::use_context::<ssehub::Hub>()?;
    let (v, value) = hub.signal_value_now(name)?;
    Some(Rendered { v, value })
}

/// Off the server there is nothing to read.
#[cfg(not(feature = "ssr"))]
fn read(_name: &str) -> Option<Rendered> {
    None
}
