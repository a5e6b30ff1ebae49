//! Server signals: a JSON value on the hub that clients see live.
//!
//! A signal named `N` is the topic `N`. Its events have the type `N` and JSON
//! data: `{"v": V, "snapshot": VALUE}` first (to a new subscriber, after a
//! reset, and when the signal is created), then `{"v": V, "patch": [ops]}`
//! (RFC 6902) with `V` one more each time. Each change is diffed once and
//! published once, whatever the number of subscribers; no change, no event.
//! A client applies a patch only when its `v` is one more than the version it
//! holds; on any other `v` it resubscribes without `Last-Event-ID` and gets a
//! snapshot. The messages and that rule are defined once, in
//! [`ssehub_core::protocol::signal`], which every client calls.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use ssehub_core::Event;

use ssehub_core::protocol::signal as protocol;

use crate::backend::{Expect, SignalChange, SignalState, Stored};
use crate::error::PublishError;
use crate::hub::Hub;
use crate::topic::Topic;

/// Why a signal operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// No signal has this name.
    #[error("no signal named {0:?}")]
    NotFound(String),
    /// The name cannot be a topic and an event type (empty, or CR/LF in it).
    #[error("invalid signal name {0:?}: it must be non-empty, without CR or LF")]
    InvalidName(String),
    /// The value does not (de)serialize as JSON.
    #[error("the signal's value is not valid for its type: {0}")]
    Json(#[from] serde_json::Error),
    /// A patch could not be applied (a failed `test` among them: see
    /// [`SignalError::is_test_failed`]).
    #[error("the patch does not apply: {0}")]
    Patch(#[from] json_patch::PatchError),
    /// Publishing the change failed (the hub shut down).
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl SignalError {
    /// Whether a JSON Patch `test` operation failed (HTTP 409).
    pub fn is_test_failed(&self) -> bool {
        matches!(self, SignalError::Patch(e) if matches!(e.kind, json_patch::PatchErrorKind::TestFailed))
    }
}

/// A signal's event without an id: type `name`, data `data`.
pub(crate) fn body(name: &Topic, data: &str) -> Result<Bytes, SignalError> {
    Ok(Event::builder()
        .event(name.as_str())
        .data(data)
        .build()
        .map_err(PublishError::Event)?
        .encode())
}

/// A signal's snapshot event without an id.
pub(crate) fn snapshot_body(name: &Topic, v: u64, value: &Value) -> Result<Bytes, SignalError> {
    body(name, &protocol::snapshot_data(v, value))
}

fn change_of(name: &Topic, version: u64, data: String, value: Value) -> SignalChange {
    SignalChange {
        name: name.clone(),
        version,
        data,
        value: Arc::new(value),
    }
}

pub(crate) fn check_name(name: &str) -> Result<Topic, SignalError> {
    if name.contains(['\r', '\n']) {
        return Err(SignalError::InvalidName(name.to_owned()));
    }
    Topic::new(name).map_err(|_| SignalError::InvalidName(name.to_owned()))
}

/// How long a change waits to be seen by this node's own subscribers (and
/// `get`) before it returns anyway; the change is stored either way.
const SEEN_WITHIN: Duration = Duration::from_secs(5);

/// A signal's version and value: this node's copy, else the backend's.
pub(crate) async fn current(hub: &Hub, name: &Topic) -> Result<SignalState, SignalError> {
    if let Some(current) = hub.feed().signal(name.as_str()) {
        return Ok(current);
    }
    hub.backend()
        .signal(name)
        .await
        .map_err(PublishError::from)?
        .ok_or_else(|| SignalError::NotFound(name.to_string()))
}

/// Creates a signal at version 0 with `value` unless it exists; returns
/// whether it created it.
pub(crate) async fn create(hub: &Hub, name: &Topic, value: Value) -> Result<bool, SignalError> {
    let data = protocol::snapshot_data(0, &value);
    let change = change_of(name, 0, data, value);
    let (version, created) = match hub
        .bounded(hub.backend().store_signal(Expect::Absent, change))
        .await
        .map_err(PublishError::from)?
    {
        Stored::Stored(_) => (0, true),
        Stored::Conflict(version, _) => (version, false),
        // Not an answer to `Absent`; nothing was created.
        Stored::NotFound => (0, false),
    };
    hub.feed().wait_for_signal(name, version, SEEN_WITHIN).await;
    Ok(created)
}

/// Changes a signal to what `f` makes of its value: diffs once, appends the
/// patch if the signal is still at the version `f` saw (else `f` runs again
/// on the newer value), and waits until this node has seen it.
pub(crate) async fn change(
    hub: &Hub,
    name: &Topic,
    mut f: impl FnMut(&Value) -> Result<Value, SignalError>,
) -> Result<u64, SignalError> {
    let lock = hub.signal_lock(name);
    let _serialized = lock.lock().await;
    let (mut version, mut value) = current(hub, name).await?;
    loop {
        let new = f(&value)?;
        let patch = json_patch::diff(&value, &new);
        if patch.0.is_empty() {
            return Ok(version);
        }
        let v = version + 1;
        let data = protocol::patch_data(v, &patch);
        let change = change_of(name, v, data, new);
        match hub
            .bounded(hub.backend().store_signal(Expect::Version(version), change))
            .await
            .map_err(PublishError::from)?
        {
            Stored::Stored(_) => {
                hub.feed().wait_for_signal(name, v, SEEN_WITHIN).await;
                return Ok(v);
            }
            Stored::Conflict(v, now) => (version, value) = (v, now),
            Stored::NotFound => return Err(SignalError::NotFound(name.to_string())),
        }
    }
}

/// A typed handle on a hub's signal; see [`Hub::signal`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssehub::SignalError> {
/// let hub = ssehub::Hub::new();
/// let count = hub.signal("count", 0u32).await?;
/// count.update(|n| *n += 1).await?;      // publishes {"v":1,"patch":[{"op":"replace","path":"","value":1}]}
/// assert_eq!(count.get().await?, 1);
/// count.set(1).await?;                  // no change, no event
/// assert_eq!(count.version().await?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Signal<T> {
    hub: Hub,
    name: Topic,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        Signal {
            hub: self.hub.clone(),
            name: self.name.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Signal<T> {
    pub(crate) fn new(hub: Hub, name: Topic) -> Self {
        Signal {
            hub,
            name,
            _type: PhantomData,
        }
    }

    /// The signal's name (its topic and event type).
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Sets the value; subscribers get the difference as one patch. Returns
    /// the version (unchanged when the value is).
    pub async fn set(&self, value: T) -> Result<u64, SignalError> {
        let value = serde_json::to_value(value)?;
        change(&self.hub, &self.name, |_| Ok(value.clone())).await
    }

    /// Changes the value in place. With a shared backend another node may
    /// change the signal at the same moment: then `f` runs again on the
    /// newer value, hence `FnMut`.
    pub async fn update(&self, mut f: impl FnMut(&mut T)) -> Result<u64, SignalError> {
        change(&self.hub, &self.name, |value| {
            let mut typed = T::deserialize(value)?;
            f(&mut typed);
            Ok(serde_json::to_value(typed)?)
        })
        .await
    }

    /// The current value, as this node last saw it.
    pub async fn get(&self) -> Result<T, SignalError> {
        let (_, value) = self.current().await?;
        Ok(T::deserialize(&*value)?)
    }

    /// The current version: 0 at creation, one more per change.
    pub async fn version(&self) -> Result<u64, SignalError> {
        Ok(self.current().await?.0)
    }

    async fn current(&self) -> Result<SignalState, SignalError> {
        current(&self.hub, &self.name).await
    }
}
