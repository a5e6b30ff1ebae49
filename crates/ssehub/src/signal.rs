//! Server signals: a JSON value on the hub that clients see live.
//!
//! A signal named `N` is the topic `N`. Its events have the type `N` and JSON
//! data: `{"v": V, "snapshot": VALUE}` first (to a new subscriber, after a
//! reset, and when the signal is created), then `{"v": V, "patch": [ops]}`
//! (RFC 6902) with `V` one more each time. Each change is diffed once and
//! published once, whatever the number of subscribers; no change, no event.
//! A client applies a patch only when its `v` is one more than the version it
//! holds; on any other `v` it resubscribes without `Last-Event-ID` and gets a
//! snapshot.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use ssehub_core::Event;

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

#[derive(Serialize)]
struct SnapshotData<'a> {
    v: u64,
    snapshot: &'a Value,
}

#[derive(Serialize)]
struct PatchData<'a> {
    v: u64,
    patch: &'a json_patch::Patch,
}

/// A signal's state on the hub, whatever its Rust type.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) topic: Topic,
    /// Held while a change is published, so versions and events agree in
    /// order; subscribers hold it while they attach (see `Hub::subscribe_with`).
    pub(crate) state: tokio::sync::Mutex<SlotState>,
}

#[derive(Debug)]
pub(crate) struct SlotState {
    version: u64,
    value: Value,
    /// The snapshot event of `version`, encoded once, without an id.
    snapshot: Option<Event>,
}

impl SlotState {
    /// The snapshot frame, stamped with `id`.
    pub(crate) fn snapshot_frame(&mut self, topic: &Topic, id: &str) -> Option<Bytes> {
        if self.snapshot.is_none() {
            self.snapshot = snapshot_event(topic, self.version, &self.value).ok();
        }
        let event = self.snapshot.clone()?;
        event.with_id(id).ok().map(Bytes::from)
    }
}

fn snapshot_event(topic: &Topic, v: u64, value: &Value) -> Result<Event, SignalError> {
    Ok(Event::builder()
        .event(topic.as_str())
        .json_data(&SnapshotData { v, snapshot: value })
        .build()
        .map_err(PublishError::Event)?)
}

pub(crate) fn check_name(name: &str) -> Result<Topic, SignalError> {
    if name.contains(['\r', '\n']) {
        return Err(SignalError::InvalidName(name.to_owned()));
    }
    Topic::new(name).map_err(|_| SignalError::InvalidName(name.to_owned()))
}

impl Slot {
    /// Creates a signal and publishes its first snapshot (version 0).
    pub(crate) fn create(hub: &Hub, topic: Topic, value: Value) -> Result<Slot, SignalError> {
        let event = snapshot_event(&topic, 0, &value)?;
        hub.publish_now(vec![topic.clone()], event.clone())?;
        Ok(Slot {
            topic,
            state: tokio::sync::Mutex::new(SlotState {
                version: 0,
                value,
                snapshot: Some(event),
            }),
        })
    }

    /// Replaces the value: diffs once, publishes the patch, bumps the version.
    pub(crate) async fn replace(&self, hub: &Hub, new: Value) -> Result<u64, SignalError> {
        let mut state = self.state.lock().await;
        self.replace_locked(hub, &mut state, new)
    }

    /// Applies RFC 6902 operations to the value, then as [`Slot::replace`].
    pub(crate) async fn apply(
        &self,
        hub: &Hub,
        ops: &[json_patch::PatchOperation],
    ) -> Result<u64, SignalError> {
        let mut state = self.state.lock().await;
        let mut new = state.value.clone();
        json_patch::patch(&mut new, ops)?;
        self.replace_locked(hub, &mut state, new)
    }

    fn replace_locked(
        &self,
        hub: &Hub,
        state: &mut SlotState,
        new: Value,
    ) -> Result<u64, SignalError> {
        let patch = json_patch::diff(&state.value, &new);
        if patch.0.is_empty() {
            return Ok(state.version);
        }
        let v = state.version + 1;
        let event = Event::builder()
            .event(self.topic.as_str())
            .json_data(&PatchData { v, patch: &patch })
            .build()
            .map_err(PublishError::Event)?;
        hub.publish_now(vec![self.topic.clone()], event)?;
        state.version = v;
        state.value = new;
        state.snapshot = None;
        Ok(v)
    }

    pub(crate) async fn get(&self) -> (u64, Value) {
        let state = self.state.lock().await;
        (state.version, state.value.clone())
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
/// assert_eq!(count.version().await, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Signal<T> {
    hub: Hub,
    slot: Arc<Slot>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        Signal {
            hub: self.hub.clone(),
            slot: self.slot.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Signal<T> {
    pub(crate) fn new(hub: Hub, slot: Arc<Slot>) -> Self {
        Signal {
            hub,
            slot,
            _type: PhantomData,
        }
    }

    /// The signal's name (its topic and event type).
    pub fn name(&self) -> &str {
        self.slot.topic.as_str()
    }

    /// Sets the value; subscribers get the difference as one patch. Returns
    /// the version (unchanged when the value is).
    pub async fn set(&self, value: T) -> Result<u64, SignalError> {
        let value = serde_json::to_value(value)?;
        self.slot.replace(&self.hub, value).await
    }

    /// Changes the value in place.
    pub async fn update(&self, f: impl FnOnce(&mut T)) -> Result<u64, SignalError> {
        let mut state = self.slot.state.lock().await;
        let mut value = T::deserialize(&state.value)?;
        f(&mut value);
        let new = serde_json::to_value(value)?;
        self.slot.replace_locked(&self.hub, &mut state, new)
    }

    /// The current value.
    pub async fn get(&self) -> Result<T, SignalError> {
        let state = self.slot.state.lock().await;
        Ok(T::deserialize(&state.value)?)
    }

    /// The current version: 0 at creation, one more per change.
    pub async fn version(&self) -> u64 {
        self.slot.state.lock().await.version
    }
}
