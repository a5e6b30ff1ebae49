//! [`Publisher`]: publish to an ssehub hub over HTTP, retrying safely.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::Error;

/// Publishes events to an ssehub hub (`POST /publish`), retrying what may
/// be retried with one idempotency key, so that each event is delivered
/// once whatever the retries.
///
/// Each publish carries an `Idempotency-Key` (the one given, else a random
/// one made for it). An answer that leaves the outcome open (504
/// `outcome_unknown`, another 5xx, a lost connection) or says "not now"
/// (503, honouring `Retry-After`) is retried with the same key, after a
/// backoff, up to [`Publisher::attempts`] times; the hub applies a key at
/// most once within its window (5 minutes by default), on every hub that
/// shares its backend. A 4xx is not retried.
///
/// ```no_run
/// # async fn run() -> Result<(), ssehub_client::Error> {
/// use ssehub_client::Publisher;
///
/// let hub = Publisher::new("http://127.0.0.1:8080")?;
/// let id = hub.publish("orders", r#"{"id": 42}"#).await?;
/// // Or with a key of your own (an order number), an event type and topics.
/// let id = hub
///     .send(Publisher::event(["orders", "audit"], "paid").event_type("order").key("order-42"))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Publisher {
    http: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
    attempts: u32,
    backoff: Duration,
}

/// One event to publish; see [`Publisher::event`].
#[derive(Clone, Debug)]
pub struct Publish {
    topics: Vec<String>,
    data: String,
    event: Option<String>,
    key: Option<String>,
}

impl Publish {
    /// Sets the event type (`message` when not set).
    pub fn event_type(mut self, event: impl Into<String>) -> Publish {
        self.event = Some(event.into());
        self
    }

    /// Sets the idempotency key (1 to 256 bytes of visible ASCII); without
    /// one, a random key is made for this publish.
    pub fn key(mut self, key: impl Into<String>) -> Publish {
        self.key = Some(key.into());
        self
    }
}

impl Publisher {
    /// A publisher to the hub at `base_url` (its `/publish`).
    pub fn new(base_url: &str) -> Result<Publisher, Error> {
        let url = reqwest::Url::parse(&format!("{}/publish", base_url.trim_end_matches('/')))
            .map_err(|e| Error::InvalidHeader(format!("invalid base URL {base_url:?}: {e}")))?;
        Ok(Publisher {
            http: reqwest::Client::new(),
            url,
            token: None,
            attempts: 8,
            backoff: Duration::from_millis(100),
        })
    }

    /// Sends `token` as `Authorization: Bearer` (a JWT granting the topics).
    pub fn token(mut self, token: impl Into<String>) -> Publisher {
        self.token = Some(token.into());
        self
    }

    /// Most attempts of one publish (at least 1). Default: 8, which with the
    /// backoff (100 ms, doubling, at most 2 s) spans about 8 s.
    pub fn attempts(mut self, attempts: u32) -> Publisher {
        self.attempts = attempts.max(1);
        self
    }

    /// Uses `http` for the requests (proxies, TLS roots, timeouts).
    pub fn http_client(mut self, http: reqwest::Client) -> Publisher {
        self.http = http;
        self
    }

    /// An event of `data` to `topics` (one topic, or several).
    pub fn event<T: Into<String>>(
        topics: impl IntoIterator<Item = T>,
        data: impl Into<String>,
    ) -> Publish {
        Publish {
            topics: topics.into_iter().map(Into::into).collect(),
            data: data.into(),
            event: None,
            key: None,
        }
    }

    /// Publishes `data` to `topic`; the event's id.
    pub async fn publish(&self, topic: &str, data: &str) -> Result<String, Error> {
        self.send(Publisher::event([topic], data)).await
    }

    /// Publishes `event`, retrying as the [type docs](Publisher) say; the
    /// event's id (the first publish's, when a retry finds it applied).
    pub async fn send(&self, event: Publish) -> Result<String, Error> {
        let key = event.key.clone().unwrap_or_else(random_key);
        let mut body = json!({ "topics": event.topics, "data": event.data });
        if let Some(event) = &event.event {
            body["event"] = event.as_str().into();
        }
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.attempts;
            let mut request = self
                .http
                .post(self.url.clone())
                .header("idempotency-key", &key)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let retry_after = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let bytes = response.bytes().await.map_err(Error::Request)?;
                    let answer: Value = serde_json::from_slice(&bytes)?;
                    return match answer["id"].as_str() {
                        Some(id) => Ok(id.to_owned()),
                        None => Err(Error::Status {
                            status: StatusCode::OK,
                            body: format!("no id in {answer}"),
                        }),
                    };
                }
                Ok(response) if response.status().is_server_error() && !last => response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(5))),
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    return Err(Error::Status { status, body });
                }
                // No answer (refused, reset, lost): the outcome may be open.
                Err(_) if !last => None,
                Err(e) => return Err(Error::Request(e)),
            };
            tokio::time::sleep(retry_after.unwrap_or(wait).max(wait)).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }
}

/// 128 random bits, in hex.
fn random_key() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}
