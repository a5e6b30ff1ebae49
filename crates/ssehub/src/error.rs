//! Errors of the hub's operations.

use ssehub_core::EventError;

use crate::backend::BackendError;
use crate::topic::TopicError;

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The topics were refused.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The hub has shut down.
    #[error("the hub has shut down")]
    ShutDown,
    /// The event could not carry the id the hub assigned.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The backend could not store it (see [`BackendError::Unavailable`]).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a subscription was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The topics were refused.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The hub has shut down.
    #[error("the hub has shut down")]
    ShutDown,
}
