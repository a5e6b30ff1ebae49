//! JWT authorization: which topics a request may publish to or read.
//!
//! The token (HS256, RS256 or ES256) comes in `Authorization: Bearer`, the
//! `ssehub_token` cookie, or the `token` query parameter (EventSource cannot
//! set headers). Its claim `{"ssehub": {"publish": [PATTERNS], "subscribe":
//! [PATTERNS]}}` grants topics ([`TopicPattern`]); `exp`, when present, is
//! honoured, also during a subscription. Topics matching a public pattern
//! may be read without a token. Missing or invalid token: 401; valid but not
//! granted: 403. `alg: none` is never accepted.
//!
//! The token's `sub` claim is the stream's user: a stream whose user is U
//! may read `$user/U` without a grant for it. A read grant for `T` (or `T`
//! being public) also allows reading `$presence/T`. `{"ssehub": {"admin": true}}`
//! allows closing any stream (`DELETE /connections/{id}`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ssehub::TopicPattern;

use crate::error::ApiError;

/// The keys tokens are checked with, and the topics anyone may read.
pub struct Auth {
    keys: Vec<(DecodingKey, Validation)>,
    public: Vec<TopicPattern>,
    failures: AtomicU64,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithms: Vec<_> = self.keys.iter().map(|(_, v)| v.algorithms[0]).collect();
        f.debug_struct("Auth")
            .field("algorithms", &algorithms)
            .field("public", &self.public)
            .finish()
    }
}

/// Why an authorization key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("the JWT public key is neither an RSA nor an EC (P-256) public key in PEM form")]
pub struct KeyError;

/// What a request wants to do with its topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Publish,
    Subscribe,
}

#[derive(serde::Deserialize)]
struct Claims {
    #[serde(default)]
    ssehub: Grants,
    exp: Option<u64>,
    sub: Option<String>,
}

#[derive(Default, serde::Deserialize)]
struct Grants {
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    admin: bool,
}

/// What an authorized request's token says beyond its grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Granted {
    /// When the token expires, if it does (a subscription ends then).
    pub(crate) expires: Option<SystemTime>,
    /// Its `sub` claim: the stream's user.
    pub(crate) user: Option<String>,
}

impl Claims {
    fn granted(&self) -> Granted {
        Granted {
            expires: self.exp.map(|exp| UNIX_EPOCH + Duration::from_secs(exp)),
            user: self.sub.clone(),
        }
    }
}

impl Auth {
    /// Checks tokens signed with `secret` (HS256) and/or the PEM public key
    /// `public_key` (RS256 or ES256); `public` topics need no token to read.
    pub fn new(
        secret: Option<&[u8]>,
        public_key: Option<&[u8]>,
        public: Vec<TopicPattern>,
    ) -> Result<Auth, KeyError> {
        let mut keys = Vec::new();
        if let Some(secret) = secret {
            keys.push((
                DecodingKey::from_secret(secret),
                validation(Algorithm::HS256),
            ));
        }
        if let Some(pem) = public_key {
            if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                keys.push((key, validation(Algorithm::RS256)));
            } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                keys.push((key, validation(Algorithm::ES256)));
            } else {
                return Err(KeyError);
            }
        }
        Ok(Auth {
            keys,
            public,
            failures: AtomicU64::new(0),
        })
    }

    /// Requests refused (401 or 403) so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Checks that the request may `access` every one of `topics`. Returns
    /// when the token expires and who it names.
    pub(crate) fn authorize(
        &self,
        parts: &Parts,
        access: Access,
        topics: &[String],
    ) -> Result<Granted, ApiError> {
        let result = self.check(parts, access, topics);
        if let Err(e) = &result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(?access, ?topics, error = ?e, "refused");
        }
        result
    }

    /// Checks that the request's token has the `ssehub.admin` claim: 401
    /// without a valid token, 403 without the claim.
    pub(crate) fn authorize_admin(&self, parts: &Parts) -> Result<(), ApiError> {
        let result = self.claims(parts).and_then(|claims| {
            if claims.ssehub.admin {
                Ok(())
            } else {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "closing a stream needs the token's ssehub.admin claim",
                ))
            }
        });
        if let Err(e) = &result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = ?e, "refused an admin request");
        }
        result
    }

    /// The request's token's claims: 401 without a valid one.
    fn claims(&self, parts: &Parts) -> Result<Claims, ApiError> {
        let token = token(parts).ok_or_else(|| {
            unauthorized(
                "missing_token",
                "this needs a token (Authorization: Bearer, the ssehub_token cookie, or ?token=)",
            )
        })?;
        self.decode(&token)
    }

    fn check(&self, parts: &Parts, access: Access, topics: &[String]) -> Result<Granted, ApiError> {
        let public = |topic: &str| self.public.iter().any(|p| p.covers(topic));
        if access == Access::Subscribe && topics.iter().all(|t| read_as(t).any(public)) {
            // Public topics need no token; one that is valid still names
            // the user.
            let claims = token(parts).and_then(|token| self.decode(&token).ok());
            return Ok(claims.map(|c| c.granted()).unwrap_or_default());
        }
        let claims = self.claims(parts)?;
        let granted = |grants: &[String], topic: &str| {
            grants.iter().any(|g| TopicPattern::new(g).covers(topic))
        };
        for topic in topics {
            let allowed = match access {
                Access::Publish => granted(&claims.ssehub.publish, topic),
                Access::Subscribe => {
                    // A user's own topic is theirs to read.
                    let own = claims.sub.as_deref().is_some_and(|user| {
                        topic.strip_prefix(ssehub::presence::USER_PREFIX) == Some(user)
                    });
                    own || read_as(topic).any(|t| public(t) || granted(&claims.ssehub.subscribe, t))
                }
            };
            if !allowed {
                let verb = match access {
                    Access::Publish => "publish to",
                    Access::Subscribe => "subscribe to",
                };
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("the token does not grant {verb} {topic:?}"),
                ));
            }
        }
        Ok(claims.granted())
    }

    fn decode(&self, token: &str) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| unauthorized("invalid_token", format!("the token is malformed: {e}")))?;
        let Some((key, validation)) = self
            .keys
            .iter()
            .find(|(_, v)| v.algorithms.contains(&header.alg))
        else {
            return Err(unauthorized(
                "invalid_token",
                format!("tokens signed with {:?} are not accepted here", header.alg),
            ));
        };
        jsonwebtoken::decode::<Claims>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| {
                let why = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "the token has expired".to_owned()
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the token's signature is invalid".to_owned()
                    }
                    other => format!("the token is invalid: {other:?}"),
                };
                unauthorized("invalid_token", why)
            })
    }
}

/// The topics whose read grant (or publicity) lets a client read `topic`:
/// itself, and for `$presence/T` also `T`: who comes and goes on a topic is
/// for those who may read it.
fn read_as(topic: &str) -> impl Iterator<Item = &str> {
    std::iter::once(topic).chain(topic.strip_prefix(ssehub::presence::PRESENCE_PREFIX))
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.required_spec_claims.clear(); // `exp` is optional, checked when present
    v.leeway = 0;
    v.validate_aud = false;
    v
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The token of a request: header, then cookie, then query parameter.
fn token(parts: &Parts) -> Option<String> {
    if let Some(bearer) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    for cookies in parts.headers.get_all(COOKIE) {
        let Ok(cookies) = cookies.to_str() else {
            continue;
        };
        for cookie in cookies.split(';') {
            if let Some(value) = cookie.trim().strip_prefix("ssehub_token=") {
                return Some(value.to_owned());
            }
        }
    }
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}
