//! [`Refusal`]: the answer to a refused HTTP request.

use std::fmt;

/// What an HTTP route answers when it refuses a request: a status, a stable
/// code and a message, sent as the JSON body `{"error": CODE, "message":
/// TEXT}`, and for a refusal that may pass (a backend outage, a limit) a
/// `Retry-After` in seconds.
///
/// Every route of `ssehub serve` and of the framework adapters builds its
/// error answers from one of these, converted from the hub's errors in one
/// place (`From` impls in `ssehub`), so that one failure gets one answer
/// whatever the route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status (4xx or 5xx).
    pub status: u16,
    /// The stable code, `"missing_topic"`, `"backend_unavailable"`...
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
}

impl Refusal {
    /// A refusal without `Retry-After`.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u32) -> Refusal {
        self.retry_after = Some(seconds);
        self
    }

    /// The JSON body: `{"error": CODE, "message": TEXT}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self.code, "message": self.message }).to_string()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for Refusal {}
