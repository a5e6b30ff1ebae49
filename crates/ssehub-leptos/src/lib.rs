//! A [Leptos](https://leptos.dev) 0.8 client for ssehub's server signals:
//! typed Rust state that the server changes (`ssehub::Signal<T>`) and every
//! page sees live, as a Leptos [`ReadSignal`].
//!
//! Call [`provide_sse`] once, near the root of the app, with the URL of the
//! hub's event stream; then [`use_sse_signal`] in any component, once per
//! server signal. All the signals of a page share ONE `EventSource`, on
//! `URL?topic=A&topic=B`.
//!
//! ```no_run
//! use leptos::prelude::*;
//! use serde::Deserialize;
//! use ssehub_leptos::{provide_sse, use_sse_signal};
//!
//! /// The server's `hub.signal("counter", Count { value: 0 })`.
//! #[derive(Clone, Default, Deserialize)]
//! struct Count {
//!     value: i64,
//! }
//!
//! #[component]
//! fn App() -> impl IntoView {
//!     provide_sse("/events");
//!     let count = use_sse_signal::<Count>("counter");
//!     view! { <p>"Count: " {move || count.get().value}</p> }
//! }
//!
//! fn main() {
//!     leptos::mount::mount_to_body(App);
//! }
//! ```
//!
//! The server side, with the `axum` feature: [`axum::events_route`] serves
//! that `/events` over an `ssehub::Hub` (with the `actix` feature,
//! [`actix::events_route`] on actix-web). Any ssehub `/events` will do (the
//! `ssehub serve` binary's, say).
//!
//! # The client rule
//!
//! The wire format is ssehub's (see `docs/protocol.md`): a signal named N is
//! the topic N; its events have the type N and JSON data, first `{"v": V,
//! "snapshot": VALUE}`, then `{"v": V, "patch": [RFC 6902 operations]}` with
//! V one more each time. A snapshot replaces the value (a snapshot of the
//! value already held changes nothing on the page); a patch is applied only
//! when its V is exactly one more than the version held. Anything else (a
//! version gap or repeat, a patch before any snapshot, a patch that does not
//! apply, data that is not a signal message) makes the client resync: it closes the `EventSource` and opens a new
//! one, without `Last-Event-ID`, which the hub answers with snapshots
//! (resyncs are limited to one a second). When the connection drops, the
//! browser reconnects by itself with `Last-Event-ID`: the hub replays the
//! patches missed, or sends `ssehub-reset` and snapshots. Only when the
//! browser gives up (an HTTP error) does the client open a new `EventSource`
//! itself, 5 seconds later.
//!
//! The rule is not this crate's own: it is
//! [`ssehub_core::protocol::signal`]'s `SignalState`, which the native
//! client (`ssehub-client`) runs too, and `js/ssehub.js` follows the same
//! test vectors (`crates/ssehub-core/vectors/signal.json`).
//!
//! Signals asked for in the same task join the first open; a signal asked
//! for after the `EventSource` opened reopens it once, with all the topics
//! and without `Last-Event-ID` (so each signal gets a fresh snapshot). Two
//! [`use_sse_signal`] of the same name share their state. A signal's
//! listener goes away with its reactive owner (the component); the
//! `EventSource` closes when no signal of its URL is left.
//!
//! A value that does not deserialize into `T` leaves the Leptos signal as it
//! was and is reported on the browser console; the client stays in step with
//! the server's JSON, so the next change that fits shows.
//!
//! # Server-side rendering and hydration
//!
//! In a full-stack Leptos app (the `ssr` build renders the HTML, the
//! `hydrate` build takes it over in the browser), the same components work:
//!
//! - **On the server** (`ssr` feature), [`use_sse_signal`] reads the
//!   signal's current value and version from the `ssehub::Hub` in the
//!   Leptos context, in process (this node's copy, no request: see
//!   `Hub::signal_value_now`), so the HTML already shows the value. Provide
//!   the hub where the app is rendered and where its server functions run,
//!   e.g. `leptos_axum::render_app_to_stream_with_context(move ||
//!   provide_context(hub.clone()), ...)` and the same closure to
//!   `handle_server_fns_with_context` (or `leptos_routes_with_context`); a
//!   server function changes the signal through `use_context::<Hub>()`.
//!   Without a hub in the context, or a signal of that name, it renders the
//!   initial value.
//! - **The version hand-over.** The rendered version and value travel with
//!   the page as Leptos shared data (a small script beside the HTML, as for
//!   resources).
//! - **In the browser** (`hydrate` feature), the signal starts at the
//!   rendered value, so hydration changes nothing on the page, and the
//!   client holds the rendered version. Its `EventSource` opens at once; the
//!   hub answers it with a snapshot, at the current version: equal to the
//!   rendered value, nothing changes (no flash); newer (a change made
//!   between the render and the connection), it shows. Patches follow from
//!   there, so no change is lost. A snapshot always wins, even an older one:
//!   a hub that restarted has its signals back at version 0.
//!
//! The example `examples/leptos-ssr` is such an app, on axum.
//!
//! Coming from leptos_sse? [`compat`] has its names over ssehub, and
//! `docs/leptos.md` sets the two side by side.
//!
//! # Off the browser
//!
//! The client needs a browser: it runs on `wasm32`. On other targets (tests,
//! server-side code sharing the components) the crate compiles and
//! [`use_sse_signal`] returns a signal that keeps its initial value (under
//! `ssr`, the rendered one).
//!
//! # Features
//!
//! The crate enables no Leptos rendering mode itself: the app's build
//! chooses one and passes it on (`csr`, `hydrate` or `ssr`, each enabling
//! Leptos's own). Both Leptos and this crate also compile with all three on
//! at once, as `cargo --all-features` does for a workspace: a build for
//! checks and tests, not one to ship.
//!
//! | feature | default | what |
//! |---|---|---|
//! | `csr` | no | Leptos `csr`: a page rendered in the browser (`mount_to_body`); signals start at their initial value |
//! | `hydrate` | no | Leptos `hydrate`: a page rendered by the server, hydrated in the browser; signals start at the rendered value and version |
//! | `ssr` | no | Leptos `ssr`: [`use_sse_signal`] renders the value of the `ssehub::Hub` in the Leptos context, and hands its version to the page |
//! | `axum` | no | [`axum::events_route`]: the `/events` route, over an `ssehub::Hub`; [`axum::signal_routes`]: `GET`, `PUT`, `PATCH /signals/{name}` (server side, not for wasm) |
//! | `actix` | no | [`actix::events_route`]: the same `/events`, as an actix-web resource (server side, not for wasm) |

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::sync::Arc;

use leptos::prelude::*;
use serde::de::DeserializeOwned;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(target_arch = "wasm32")]
mod client;
pub mod compat;
mod handover;

/// The event stream's URL, as [`provide_sse`] put it in the context.
#[derive(Clone, Debug)]
struct SseUrl(Arc<str>);

/// Makes the server signals of the hub at `url` (an event stream such as
/// `"/events"`, or `"https://hub.example/events?token=..."`) available to
/// [`use_sse_signal`] in this component and its children. Opens nothing by
/// itself: the `EventSource` opens with the first signal.
pub fn provide_sse(url: impl Into<String>) {
    provide_context(SseUrl(url.into().into()));
}

/// The server signal `name`, kept in sync with the server: its value starts
/// at `T::default()` (or at the value the server rendered, see the crate
/// docs on hydration) and follows each snapshot and patch the hub sends.
/// Read-only: the server changes it.
///
/// # Panics
///
/// If no [`provide_sse`] was called in this component or an ancestor.
#[track_caller]
pub fn use_sse_signal<T>(name: &str) -> ReadSignal<T>
where
    T: DeserializeOwned + Default + Send + Sync + 'static,
{
    use_sse_signal_or(name, T::default())
}

/// Like [`use_sse_signal`], starting at `initial` until the first snapshot
/// (unless the server rendered a value).
///
/// # Panics
///
/// If no [`provide_sse`] was called in this component or an ancestor.
#[track_caller]
pub fn use_sse_signal_or<T>(name: &str, initial: T) -> ReadSignal<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let Some(SseUrl(url)) = use_context::<SseUrl>() else {
        panic!(
            "ssehub-leptos: use_sse_signal({name:?}) without provide_sse: \
             call provide_sse(\"/events\") in a component above"
        );
    };
    // What the server rendered, if it did: the value to start at, and the
    // version the client continues from.
    let rendered = handover::hand_over(name).and_then(|r| match T::deserialize(&r.value) {
        Ok(value) => Some((value, r)),
        Err(e) => {
            leptos::logging::error!(
                "ssehub-leptos: the value of signal {name:?} does not fit its type: {e}"
            );
            None
        }
    });
    let (initial, rendered) = match rendered {
        Some((value, r)) => (value, Some(r.into_state())),
        None => (initial, None),
    };
    let (read, write) = signal(initial);
    #[cfg(target_arch = "wasm32")]
    client::track(&url, name, write, rendered);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (url, write, rendered);
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
    struct Count {
        value: i64,
    }

    #[test]
    fn off_wasm_a_signal_keeps_its_initial_value() {
        let owner = Owner::new();
        owner.with(|| {
            provide_sse("/events");
            let count = use_sse_signal::<Count>("counter");
            assert_eq!(count.get_untracked(), Count::default());
            let named = use_sse_signal_or("name", "initial".to_owned());
            assert_eq!(named.get_untracked(), "initial");
        });
    }

    /// The version hand-over, server side: rendering reads the signal from
    /// the hub in context (no request) and writes its version and value
    /// into the page's shared data.
    #[cfg(feature = "ssr")]
    #[test]
    fn under_ssr_a_signal_renders_the_hubs_value_and_hands_over_its_version() {
        use hydration_context::{SharedContext, SsrSharedContext};

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hub = rt.block_on(async {
            let hub = ssehub::Hub::new();
            let counter = hub.signal("counter", Count { value: 1 }).await.unwrap();
            counter.update(|c| c.value = 7).await.unwrap();
            hub
        });
        let sc = Arc::new(SsrSharedContext::new());
        let owner = Owner::new_root(Some(Arc::clone(&sc) as Arc<dyn SharedContext + Send + Sync>));
        owner.with(|| {
            provide_context(hub.clone());
            provide_sse("/events");
            let count = use_sse_signal::<Count>("counter");
            assert_eq!(count.get_untracked(), Count { value: 7 });
            // A signal the hub does not have: the initial value, nothing
            // to continue from.
            let other = use_sse_signal_or::<i64>("other", 3);
            assert_eq!(other.get_untracked(), 3);
        });
        let data = rt.block_on(sc.consume_buffers());
        let data: Vec<(usize, serde_json::Value)> = data
            .into_iter()
            .map(|(id, json)| (id.into_inner(), serde_json::from_str(&json).unwrap()))
            .collect();
        assert_eq!(
            data,
            [
                (0, serde_json::json!({ "v": 1, "value": { "value": 7 } })),
                (1, serde_json::Value::Null),
            ]
        );
    }

    /// The version hand-over, browser side: while hydrating, a signal
    /// starts at what the server wrote (here, with no hub at all).
    #[cfg(feature = "hydrate")]
    #[test]
    fn while_hydrating_a_signal_starts_at_the_rendered_value() {
        let sc = Arc::new(hydrating::Hydrating::new([
            r#"{"v": 4, "value": {"value": 9}}"#,
            "null",
        ]));
        let owner = Owner::new_root(Some(sc));
        owner.with(|| {
            provide_sse("/events");
            let count = use_sse_signal::<Count>("counter");
            assert_eq!(count.get_untracked(), Count { value: 9 });
            let other = use_sse_signal_or::<i64>("other", 3);
            assert_eq!(other.get_untracked(), 3);
        });
    }

    /// A hydrating browser's shared context (Leptos's reads `window`), with
    /// the data a server wrote.
    #[cfg(feature = "hydrate")]
    mod hydrating {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use hydration_context::{PinnedFuture, PinnedStream, SerializedDataId, SharedContext};
        use leptos::error::{Error, ErrorId};

        #[derive(Debug)]
        pub(super) struct Hydrating {
            data: Vec<String>,
            next: AtomicUsize,
        }

        impl Hydrating {
            pub(super) fn new<const N: usize>(data: [&str; N]) -> Hydrating {
                Hydrating {
                    data: data.iter().map(|d| (*d).to_owned()).collect(),
                    next: AtomicUsize::new(0),
                }
            }
        }

        impl SharedContext for Hydrating {
            fn is_browser(&self) -> bool {
                true
            }
            fn next_id(&self) -> SerializedDataId {
                SerializedDataId::new(self.next.fetch_add(1, Ordering::Relaxed))
            }
            fn write_async(&self, _id: SerializedDataId, _fut: PinnedFuture<String>) {}
            fn read_data(&self, id: &SerializedDataId) -> Option<String> {
                self.data.get(id.clone().into_inner()).cloned()
            }
            fn await_data(&self, id: &SerializedDataId) -> Option<String> {
                self.read_data(id)
            }
            fn pending_data(&self) -> Option<PinnedStream<String>> {
                None
            }
            fn during_hydration(&self) -> bool {
                true
            }
            fn hydration_complete(&self) {}
            fn get_is_hydrating(&self) -> bool {
                true
            }
            fn set_is_hydrating(&self, _: bool) {}
            fn take_errors(&self) -> Vec<(SerializedDataId, ErrorId, Error)> {
                Vec::new()
            }
            fn errors(&self, _: &SerializedDataId) -> Vec<(ErrorId, Error)> {
                Vec::new()
            }
            fn seal_errors(&self, _: &SerializedDataId) {}
            fn register_error(&self, _: SerializedDataId, _: ErrorId, _: Error) {}
            fn defer_stream(&self, _: PinnedFuture<()>) {}
            fn await_deferred(&self) -> Option<PinnedFuture<()>> {
                None
            }
            fn set_incomplete_chunk(&self, _: SerializedDataId) {}
            fn get_incomplete_chunk(&self, _: &SerializedDataId) -> bool {
                false
            }
        }
    }

    #[test]
    #[should_panic(expected = "without provide_sse")]
    fn a_signal_needs_provide_sse() {
        Owner::new().with(|| {
            let _ = use_sse_signal::<Count>("counter");
        });
    }
}
