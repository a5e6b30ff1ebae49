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
    /// The backend could not store it (see [`BackendError::Unavailable`]),
    /// or, for [`Hub::signal_value`](crate::Hub::signal_value), read it.
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
    /// More topics than [`HubBuilder::max_topics`](crate::HubBuilder::max_topics).
    #[error("{count} topics; at most {max} in one subscription")]
    TooManyTopics {
        /// How many were asked for.
        count: usize,
        /// The most the hub takes.
        max: usize,
    },
}

/// How every HTTP route answers the hub's errors: one conversion each, so
/// that one failure gets one answer whatever the route (`ssehub serve`, the
/// adapters, `ssehub-leptos`'s routes).
///
/// | error | status | code |
/// |---|---|---|
/// | a refused topic | 400 | `invalid_topic` |
/// | too many topics | 400 | `too_many_topics` |
/// | the hub has shut down | 503 | `shutting_down` |
/// | an event that cannot be built | 400 | `invalid_event` |
/// | the backend is unavailable | 503, `Retry-After: 1` | `backend_unavailable` |
/// | the backend answered wrongly | 503, `Retry-After: 1` | `backend_error` |
/// | a write's outcome is unknown (no answer in time) | 504 | `outcome_unknown` |
/// | no such signal | 404 | `signal_not_found` |
/// | a JSON Patch `test` failed | 409 | `test_failed` |
/// | a patch that does not apply | 409 | `patch_failed` |
/// | an invalid signal name | 400 | `invalid_signal_name` |
/// | a value that is not the signal's type | 400 | `invalid_value` |
mod answers {
    use ssehub_core::protocol::events::EventsError;
    use ssehub_core::protocol::Refusal;

    use super::{PublishError, SubscribeError};
    use crate::backend::BackendError;
    use crate::signal::SignalError;

    impl From<&SubscribeError> for EventsError {
        fn from(e: &SubscribeError) -> EventsError {
            match e {
                SubscribeError::Topic(e) => EventsError::InvalidTopic(e.to_string()),
                SubscribeError::ShutDown => EventsError::ShuttingDown,
                SubscribeError::TooManyTopics { count, max } => EventsError::TooManyTopics {
                    count: *count,
                    max: *max,
                },
            }
        }
    }

    impl From<&SubscribeError> for Refusal {
        fn from(e: &SubscribeError) -> Refusal {
            EventsError::from(e).refusal()
        }
    }

    impl From<SubscribeError> for Refusal {
        fn from(e: SubscribeError) -> Refusal {
            Refusal::from(&e)
        }
    }

    impl From<&BackendError> for Refusal {
        fn from(e: &BackendError) -> Refusal {
            let code = match e {
                // Not applied, and never will be: retry later.
                BackendError::Unavailable(_) => "backend_unavailable",
                // Sent, not answered: it may be applied yet. A retry with
                // the same idempotency key is applied at most once.
                BackendError::OutcomeUnknown(_) => {
                    return Refusal::new(504, "outcome_unknown", e.to_string())
                }
                BackendError::Other(_) => "backend_error",
            };
            Refusal::new(503, code, e.to_string()).retry_after(1)
        }
    }

    impl From<BackendError> for Refusal {
        fn from(e: BackendError) -> Refusal {
            Refusal::from(&e)
        }
    }

    impl From<&PublishError> for Refusal {
        fn from(e: &PublishError) -> Refusal {
            match e {
                PublishError::Topic(e) => Refusal::new(400, "invalid_topic", e.to_string()),
                PublishError::ShutDown => Refusal::new(503, "shutting_down", e.to_string()),
                PublishError::Event(e) => Refusal::new(400, "invalid_event", e.to_string()),
                PublishError::Backend(e) => Refusal::from(e),
            }
        }
    }

    impl From<PublishError> for Refusal {
        fn from(e: PublishError) -> Refusal {
            Refusal::from(&e)
        }
    }

    impl From<&SignalError> for Refusal {
        fn from(e: &SignalError) -> Refusal {
            match e {
                SignalError::NotFound(_) => Refusal::new(404, "signal_not_found", e.to_string()),
                e if e.is_test_failed() => Refusal::new(409, "test_failed", e.to_string()),
                SignalError::Patch(_) => Refusal::new(409, "patch_failed", e.to_string()),
                SignalError::InvalidName(_) => {
                    Refusal::new(400, "invalid_signal_name", e.to_string())
                }
                SignalError::Json(_) => Refusal::new(400, "invalid_value", e.to_string()),
                SignalError::Publish(e) => Refusal::from(e),
            }
        }
    }

    impl From<SignalError> for Refusal {
        fn from(e: SignalError) -> Refusal {
            Refusal::from(&e)
        }
    }
}
