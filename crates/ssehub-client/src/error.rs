//! The client's errors.

use reqwest::StatusCode;
use ssehub_core::ParseError;

/// Why an [`EventSource`](crate::EventSource) (or a
/// [`RemoteSignal`](crate::RemoteSignal)) ended with an error.
///
/// Network errors and `5xx` answers are not errors: the client reconnects and
/// reports a [`Event::Reconnecting`](crate::Event::Reconnecting) instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be built (a malformed URL, for one).
    #[error("invalid request: {0}")]
    Request(#[source] reqwest::Error),
    /// A header name or value given to the builder is not valid HTTP.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// The server answered with a status that ends the stream: a `4xx` (other
    /// than none), or anything but `200`, `204` and `5xx`.
    #[error("the server answered {status}{}", body_suffix(.body))]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the response body (often a JSON error), for messages.
        body: String,
    },
    /// The server answered `200` but not with `text/event-stream`.
    #[error("expected content type text/event-stream, got {0:?}")]
    ContentType(String),
    /// The stream broke a parser limit.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An event's data is not valid JSON for the requested type (for a
    /// [`RemoteSignal`](crate::RemoteSignal): the signal's value does not
    /// deserialize into its type).
    #[error("invalid JSON in event data: {0}")]
    Json(#[from] serde_json::Error),
    /// A remote signal could not be set up (its base URL is not valid). Data
    /// that does not follow the signal protocol is not an error: the remote
    /// signal resyncs.
    #[error("remote signal: {0}")]
    Signal(String),
    /// The remote signal's connection ended (its server answered `204`, or
    /// its task stopped).
    #[error("the remote signal's stream ended")]
    Ended,
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl Error {
    /// The HTTP status, when the server's answer ended the stream.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
