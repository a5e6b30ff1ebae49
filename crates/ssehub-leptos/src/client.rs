//! The browser side (wasm32 only): one `EventSource` per URL, shared by the
//! signals of that URL, and the client rule of
//! [`ssehub_core::protocol::signal`] ([`SignalState`]) applied to each
//! event.
//!
//! State lives in a thread-local map (a page's wasm runs on one thread), so
//! the Leptos context only carries the URL. Two rules keep the `EventSource`
//! callbacks sound: nothing is borrowed while listeners run (they may ask for
//! more signals), and a callback's `Closure` is never dropped while it runs:
//! closed sources are retired and dropped on the next open, which always runs
//! from a microtask or a timer.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

use ssehub_core::protocol::signal::{Outcome, SignalState};

/// How long after an HTTP error (the browser gave up) a new `EventSource`
/// opens, in ms.
const REOPEN_AFTER_ERROR_MS: i32 = 5_000;
/// The least time between two resyncs, in ms.
const RESYNC_EVERY_MS: f64 = 1_000.0;

type Listener = Rc<dyn Fn(&Value)>;

/// One signal of a connection: its state and who shows it.
struct Entry {
    name: String,
    state: SignalState,
    listeners: Vec<(u64, Listener)>,
}

/// An open `EventSource` with the callbacks it calls.
struct Source {
    es: EventSource,
    _on_message: Vec<Closure<dyn FnMut(MessageEvent)>>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

/// The signals of one URL and their shared `EventSource`.
#[derive(Default)]
struct Connection {
    /// In the order asked for: the order of the `topic` parameters.
    signals: Vec<Entry>,
    source: Option<Source>,
    /// Bumped at each open: events of an older source are ignored.
    generation: u64,
    /// Closed sources, dropped at the next open (see the module docs).
    retired: Vec<Source>,
    /// An open is scheduled for the next microtask.
    open_pending: bool,
    /// A timer that will open (after an error, or a rate-limited resync).
    timer: Option<i32>,
    /// When the last resync opened (`Date.now()`).
    last_resync: f64,
}

impl Connection {
    fn entry(&mut self, name: &str) -> Option<&mut Entry> {
        self.signals.iter_mut().find(|e| e.name == name)
    }

    /// Closes the source, if any (its callbacks stay alive until the next open).
    fn close(&mut self) {
        if let Some(source) = self.source.take() {
            source.es.close();
            self.retired.push(source);
        }
    }

    fn clear_timer(&mut self) {
        if let (Some(timer), Some(window)) = (self.timer.take(), web_sys::window()) {
            window.clear_timeout_with_handle(timer);
        }
    }
}

thread_local! {
    static CONNECTIONS: RefCell<HashMap<String, Connection>> = RefCell::default();
    static NEXT_LISTENER: Cell<u64> = const { Cell::new(0) };
}

fn with<R>(url: &str, f: impl FnOnce(&mut Connection) -> R) -> Option<R> {
    CONNECTIONS.with(|c| c.borrow_mut().get_mut(url).map(f))
}

/// Keeps `write` in sync with the server signal `name` of `url`, until the
/// current reactive owner is cleaned up. `rendered`: the state of what the
/// server rendered (hydration), which the client continues from.
pub(crate) fn track<T>(url: &str, name: &str, write: WriteSignal<T>, rendered: Option<SignalState>)
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let label = name.to_owned();
    let listener: Listener = Rc::new(move |value: &Value| match T::deserialize(value) {
        Ok(value) => {
            // `None` when set; the value back when the signal is disposed.
            let _ = write.try_set(value);
        }
        Err(e) => web_sys::console::error_1(
            &format!("ssehub-leptos: the value of signal {label:?} does not fit its type: {e}")
                .into(),
        ),
    });
    let id = NEXT_LISTENER.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let current = CONNECTIONS.with(|c| {
        let mut connections = c.borrow_mut();
        let conn = connections.entry(url.to_owned()).or_default();
        if let Some(entry) = conn.entry(name) {
            entry.listeners.push((id, Rc::clone(&listener)));
            return entry.state.get().map(|(_, value)| value.clone());
        }
        conn.signals.push(Entry {
            name: name.to_owned(),
            state: rendered.unwrap_or_default(),
            listeners: vec![(id, Rc::clone(&listener))],
        });
        // Every signal asked for in this task joins one (re)open.
        if !conn.open_pending {
            conn.open_pending = true;
            let url = url.to_owned();
            wasm_bindgen_futures::spawn_local(async move { open(&url) });
        }
        None
    });
    // A second signal of a name shows what the first holds.
    if let Some(current) = current {
        listener(&current);
    }
    let (url, name) = (url.to_owned(), name.to_owned());
    on_cleanup(move || untrack(url, name, id));
}

/// Removes a listener; the signal goes when it has none, the connection when
/// it has no signal.
fn untrack(url: String, name: String, id: u64) {
    let gone = CONNECTIONS.with(|c| {
        let mut connections = c.borrow_mut();
        let conn = connections.get_mut(&url)?;
        let entry = conn.entry(&name)?;
        entry.listeners.retain(|(i, _)| *i != id);
        if entry.listeners.is_empty() {
            // Its topic stays in the open source until the next reopen.
            conn.signals.retain(|e| e.name != name);
        }
        if !conn.signals.is_empty() {
            return None;
        }
        let mut conn = connections.remove(&url)?;
        conn.clear_timer();
        conn.close();
        Some(conn)
    });
    // Dropped later, in case this runs within one of its callbacks.
    if let Some(conn) = gone {
        wasm_bindgen_futures::spawn_local(async move { drop(conn) });
    }
}

/// Opens a new `EventSource` with the topics of all the signals of `url`,
/// closing the old one. Runs from a microtask or a timer only.
fn open(url: &str) {
    let target = with(url, |conn| {
        conn.open_pending = false;
        conn.clear_timer();
        conn.close();
        conn.retired.clear();
        conn.generation += 1;
        let names: Vec<String> = conn.signals.iter().map(|e| e.name.clone()).collect();
        (names, conn.generation)
    });
    let Some((names, generation)) = target else {
        return;
    };
    if names.is_empty() {
        return;
    }
    let mut full = url.to_owned();
    for (i, name) in names.iter().enumerate() {
        let sep = if i > 0 || url.contains('?') { '&' } else { '?' };
        full.push(sep);
        full.push_str("topic=");
        full.push_str(&String::from(js_sys::encode_uri_component(name)));
    }
    let es = match EventSource::new(&full) {
        Ok(es) => es,
        Err(e) => {
            web_sys::console::error_2(&"ssehub-leptos: cannot open EventSource:".into(), &e);
            return;
        }
    };
    let mut on_message = Vec::with_capacity(names.len());
    for name in names {
        let (url, event) = (url.to_owned(), name.clone());
        let callback = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data().as_string().unwrap_or_default();
            receive(&url, &name, generation, &data);
        });
        let _ = es.add_event_listener_with_callback(&event, callback.as_ref().unchecked_ref());
        on_message.push(callback);
    }
    let on_error = {
        let (url, es) = (url.to_owned(), es.clone());
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            // The browser reconnects by itself, unless it gave up (closed).
            if es.ready_state() == EventSource::CLOSED {
                reopen_later(&url, generation, REOPEN_AFTER_ERROR_MS);
            }
        })
    };
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    with(url, |conn| {
        conn.source = Some(Source {
            es,
            _on_message: on_message,
            _on_error: on_error,
        });
    });
}

/// Opens again in `ms`, unless an open is already on its way.
fn reopen_later(url: &str, generation: u64, ms: i32) {
    let Some(window) = web_sys::window() else {
        return;
    };
    with(url, |conn| {
        if conn.generation != generation || conn.timer.is_some() || conn.open_pending {
            return;
        }
        let url = url.to_owned();
        let callback = Closure::once_into_js(move || {
            with(&url, |conn| {
                conn.timer = None;
                conn.last_resync = js_sys::Date::now();
            });
            open(&url);
        });
        conn.timer = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(callback.unchecked_ref(), ms)
            .ok();
    });
}

/// One event of signal `name` from the source of `generation`.
fn receive(url: &str, name: &str, generation: u64, data: &str) {
    let outcome = with(url, |conn| {
        if conn.generation != generation {
            return None;
        }
        let entry = conn.entry(name)?;
        match entry.state.receive(data) {
            Outcome::Changed => {
                let value = entry.state.get().map(|(_, value)| value.clone())?;
                let listeners: Vec<Listener> =
                    entry.listeners.iter().map(|(_, l)| Rc::clone(l)).collect();
                Some(Ok((value, listeners)))
            }
            Outcome::Unchanged => None,
            Outcome::Resync => Some(Err(())),
        }
    });
    match outcome.flatten() {
        Some(Ok((value, listeners))) => {
            for listener in listeners {
                listener(&value);
            }
        }
        Some(Err(())) => resync(url, generation),
        None => {}
    }
}

/// Closes the source and opens a new one (without `Last-Event-ID`, so the
/// hub sends snapshots): in a microtask, or a second after the last resync.
fn resync(url: &str, generation: u64) {
    let wait = with(url, |conn| {
        conn.close();
        let wait = conn.last_resync + RESYNC_EVERY_MS - js_sys::Date::now();
        if wait <= 0.0 {
            conn.last_resync = js_sys::Date::now();
            conn.open_pending = true;
        }
        wait
    });
    match wait {
        Some(wait) if wait <= 0.0 => {
            let url = url.to_owned();
            wasm_bindgen_futures::spawn_local(async move { open(&url) });
        }
        Some(wait) => reopen_later(url, generation, wait.ceil() as i32),
        None => {}
    }
}
