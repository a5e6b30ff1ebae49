//! [`RemoteSignal`]: a server signal mirrored over its event stream.

use std::fmt;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use crate::{Error, Event, EventSource, EventSourceBuilder};

/// A signal's value at one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The signal's version: one more per change on the server.
    pub version: u64,
    /// The value at that version.
    pub value: T,
}

/// The data of a signal event: `{"v", "snapshot"}` or `{"v", "patch"}`.
#[derive(Deserialize)]
struct SignalData {
    v: u64,
    #[serde(default)]
    snapshot: Option<Value>,
    #[serde(default)]
    patch: Option<json_patch::Patch>,
}

/// A server signal (`Signal<T>` on an ssehub hub) mirrored in this process.
///
/// It subscribes to the signal's topic, takes the snapshot, then applies each
/// versioned JSON Patch. On a version gap (or a patch that does not apply) it
/// reconnects without `Last-Event-ID` and starts again from a fresh snapshot;
/// across an ordinary disconnect it resumes with `Last-Event-ID` and applies
/// the patches it missed. After every change on the server, its value equals
/// the server's.
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
    /// `/events?topic=NAME`), and waits for the first snapshot.
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
    // The version and JSON value held, or `None` while waiting for a snapshot.
    let mut state: Option<(u64, Value)> = None;
    let end = loop {
        let message = match source.next().await {
            Some(Ok(Event::Message(m))) if m.event == name => m,
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => break Error::Ended,
        };
        let data: SignalData = match serde_json::from_str(&message.data) {
            Ok(data) => data,
            Err(e) => break Error::Signal(format!("{name}: {e}")),
        };
        let next = match (data.snapshot, data.patch, state.take()) {
            (Some(snapshot), _, _) => Some((data.v, snapshot)),
            (None, Some(patch), Some((version, mut value))) if data.v == version + 1 => {
                json_patch::patch(&mut value, &patch)
                    .ok()
                    .map(|()| (data.v, value))
            }
            (None, Some(_), _) => None,
            (None, None, _) => break Error::Signal(format!("{name}: neither snapshot nor patch")),
        };
        let Some((version, value)) = next else {
            // A gap, or a patch that does not apply: start again.
            source.restart_fresh();
            continue;
        };
        let typed: T = match serde_json::from_value(value.clone()) {
            Ok(typed) => typed,
            Err(e) => break Error::Json(e),
        };
        state = Some((version, value));
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
