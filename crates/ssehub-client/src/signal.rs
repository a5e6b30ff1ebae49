//! [`RemoteSignal`]: a server signal mirrored over its event stream.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use ssehub_core::protocol::signal::{Outcome, SignalState};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::{Error, Event, EventSource, EventSourceBuilder, ReconnectReason};

/// The least time between two resyncs, as in the browser clients
/// (`ssehub-leptos`, `js/ssehub.js`): a server that keeps sending what
/// cannot be applied is not asked for a new stream in a tight loop.
const RESYNC_EVERY: Duration = Duration::from_secs(1);

/// A signal's value at one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The signal's version: one more per change on the server.
    pub version: u64,
    /// The value at that version.
    pub value: T,
}

/// A server signal (`Signal<T>` on an ssehub hub) mirrored in this process.
///
/// It subscribes to the signal's topic, takes the snapshot, then applies each
/// versioned JSON Patch, following the client rule of
/// [`ssehub_core::protocol::signal`] (the same code as the Leptos client, and
/// the same test vectors, `crates/ssehub-core/vectors/signal.json`, as
/// `js/ssehub.js`): a snapshot always replaces the value; a patch applies
/// only at the version held plus one. Anything else (a version gap or
/// repeat, a patch before any snapshot, a patch that does not apply, data
/// that is not a signal message) is a resync: it keeps its value, ignores
/// what is left of that stream, and reconnects without `Last-Event-ID`,
/// which the hub answers with a fresh snapshot (at most one resync a
/// second). Across an ordinary disconnect it resumes with `Last-Event-ID`
/// and applies the patches it missed. After every change on the server, its
/// value equals the server's.
///
/// A snapshot of the value already held (after a resync, say) moves the
/// version, and [`changed`](RemoteSignal::changed) reports it.
///
/// A value that does not deserialize into `T` is not something a resync
/// would mend (the hub would send the same value again): it ends the
/// connection with [`Error::Json`], returned by [`connect`](RemoteSignal::connect)
/// if it is the first snapshot, else by [`changed`](RemoteSignal::changed).
///
/// The connection runs on a tokio task, stopped when the `RemoteSignal` is
/// dropped.
///
/// ```no_run
/// # async fn run() -> Result<(), ssehub_client::Error> {
/// use ssehub_client::RemoteSignal;
///
/// let mut count = RemoteSignal::<i64>::connect("http://127.0.0.1:8080", "count").await?;
/// println!("count = {}", count.get());
/// loop {
///     count.changed().await?;
///     println!("count = {} (version {})", count.get(), count.version());
/// }
/// # }
/// ```
pub struct RemoteSignal<T> {
    rx: watch::Receiver<Versioned<T>>,
    error: Arc<Mutex<Option<Error>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T: fmt::Debug> fmt::Debug for RemoteSignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSignal")
            .field("current", &*self.rx.borrow())
            .finish_non_exhaustive()
    }
}

impl<T> Drop for RemoteSignal<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> RemoteSignal<T> {
    /// Mirrors the signal `name` of the hub at `base_url` (its
    /// `/events?topic=NAME`), and waits for the first snapshot (however many
    /// resyncs it takes to get one).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn connect(base_url: &str, name: &str) -> Result<RemoteSignal<T>, Error> {
        RemoteSignal::from_builder(EventSource::builder(events_url(base_url, name)?), name).await
    }

    /// Mirrors the signal `name` from the event source `builder` makes (for
    /// headers, a token, or another URL), and waits for the first snapshot.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn from_builder(
        builder: EventSourceBuilder,
        name: &str,
    ) -> Result<RemoteSignal<T>, Error> {
        let source = builder.build()?;
        let error = Arc::new(Mutex::new(None));
        let (first_tx, first_rx) = oneshot::channel();
        let task = tokio::spawn(run::<T>(
            source,
            name.to_owned(),
            first_tx,
            Arc::clone(&error),
        ));
        match first_rx.await {
            Ok(Ok(rx)) => Ok(RemoteSignal { rx, error, task }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Ended),
        }
    }
}

impl<T> RemoteSignal<T> {
    /// The current value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.rx.borrow().value.clone()
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.rx.borrow().version
    }

    /// The current value and version, borrowed (hold it briefly: updates wait).
    pub fn borrow(&self) -> watch::Ref<'_, Versioned<T>> {
        self.rx.borrow()
    }

    /// Waits for the next change not seen yet through this handle. Fails when
    /// the connection ended for good (the error that ended it, or
    /// [`Error::Ended`]).
    pub async fn changed(&mut self) -> Result<(), Error> {
        match self.rx.changed().await {
            Ok(()) => Ok(()),
            Err(_) => Err(self
                .error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or(Error::Ended)),
        }
    }

    /// A receiver of every change, for `tokio::sync::watch` users (several
    /// tasks, `wait_for`).
    pub fn subscribe(&self) -> watch::Receiver<Versioned<T>> {
        self.rx.clone()
    }
}

fn events_url(base_url: &str, name: &str) -> Result<reqwest::Url, Error> {
    let mut url = reqwest::Url::parse(&format!("{}/events", base_url.trim_end_matches('/')))
        .map_err(|e| Error::Signal(format!("invalid base URL {base_url:?}: {e}")))?;
    url.query_pairs_mut().append_pair("topic", name);
    Ok(url)
}

type First<T> = oneshot::Sender<Result<watch::Receiver<Versioned<T>>, Error>>;

async fn run<T: DeserializeOwned + Send + Sync + 'static>(
    mut source: EventSource,
    name: String,
    first: First<T>,
    error: Arc<Mutex<Option<Error>>>,
) {
    let mut first = Some(first);
    let mut tx: Option<watch::Sender<Versioned<T>>> = None;
    // The JSON value and version held, by the protocol's rule.
    let mut state = SignalState::new();
    // A resync was asked for: what the old stream still delivers is ignored
    // until the source reconnects.
    let mut resyncing = false;
    let mut last_resync: Option<Instant> = None;
    let end = loop {
        let message = match source.next().await {
            Some(Ok(Event::Reconnecting {
                reason: ReconnectReason::Restart,
                ..
            })) => {
                resyncing = false;
                continue;
            }
            Some(Ok(Event::Message(m))) if m.event == name && !resyncing => m,
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => break Error::Ended,
        };
        let (version, value) = match state.receive(&message.data) {
            Outcome::Changed => match state.get() {
                Some((version, value)) => (version, value),
                None => continue, // never: a change leaves a value held
            },
            Outcome::Unchanged => {
                // The same value at another version: only the version moves.
                if let (Some(tx), Some(version)) = (&tx, state.version()) {
                    tx.send_modify(|current| current.version = version);
                }
                continue;
            }
            Outcome::Resync => {
                if let Some(at) = last_resync {
                    tokio::time::sleep_until(at + RESYNC_EVERY).await;
                }
                last_resync = Some(Instant::now());
                resyncing = true;
                source.restart_fresh();
                continue;
            }
        };
        let typed: T = match T::deserialize(value) {
            Ok(typed) => typed,
            Err(e) => break Error::Json(e),
        };
        let current = Versioned {
            version,
            value: typed,
        };
        match &tx {
            Some(tx) => {
                if tx.send(current).is_err() {
                    return; // every handle is gone
                }
            }
            None => {
                let (sender, rx) = watch::channel(current);
                tx = Some(sender);
                if let Some(first) = first.take() {
                    if first.send(Ok(rx)).is_err() {
                        return;
                    }
                }
            }
        }
    };
    match first.take() {
        Some(first) => {
            let _ = first.send(Err(end));
        }
        None => *error.lock().unwrap_or_else(|e| e.into_inner()) = Some(end),
    }
}
