//! Signal changes as Lua scripts: check the version, store the value, append
//! the event, in one atomic step.

use std::sync::{Arc, LazyLock};

use redis::aio::ConnectionLike;
use redis::Script;
use ssehub::backend::{BackendError, Changed, Created, EventId, Record, SignalRecord};

use crate::entry::{topics_json, Keys};
use crate::unavailable;

// KEYS: versions, values, stream. ARGV: name, value, max_len, topics, data.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then return {0, v, redis.call('HGET', KEYS[2], ARGV[1])} end
redis.call('HSET', KEYS[1], ARGV[1], '0')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 't', ARGV[4], 's', ARGV[1], 'j', ARGV[5])}
",
    )
});

// KEYS: versions, values, stream. ARGV: name, expected, new version, value,
// max_len, topics, data.
static CHANGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {2} end
if v ~= ARGV[2] then return {0, v, redis.call('HGET', KEYS[2], ARGV[1])} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
return {1, redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 't', ARGV[6], 's', ARGV[1], 'j', ARGV[7])}
",
    )
});

fn signal(record: &Record) -> Result<&SignalRecord, BackendError> {
    record
        .signal
        .as_ref()
        .ok_or_else(|| BackendError::Other("not a signal record".into()))
}

fn other(e: impl std::fmt::Display) -> BackendError {
    BackendError::Other(e.to_string())
}

/// A script's answer: `{1, id}` done, `{0, version, value}` the signal is
/// elsewhere, `{2}` no such signal.
type Answer = Vec<Option<String>>;

fn split(answer: Answer) -> (u8, Option<String>, Option<String>) {
    let mut parts = answer.into_iter();
    let done = parts
        .next()
        .flatten()
        .and_then(|d| d.parse().ok())
        .unwrap_or(u8::MAX);
    (done, parts.next().flatten(), parts.next().flatten())
}

fn state(
    version: Option<String>,
    value: Option<String>,
) -> Result<(u64, Arc<serde_json::Value>), BackendError> {
    let version = version
        .ok_or_else(|| other("no version"))?
        .parse()
        .map_err(other)?;
    let value = serde_json::from_str(&value.ok_or_else(|| other("no value"))?).map_err(other)?;
    Ok((version, Arc::new(value)))
}

pub(crate) async fn create(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    record: &Record,
) -> Result<Created, BackendError> {
    let sig = signal(record)?;
    let value = serde_json::to_string(&*sig.value).map_err(other)?;
    let answer: Answer = CREATE
        .key(&keys.versions)
        .key(&keys.values)
        .key(&keys.stream)
        .arg(sig.name.as_str())
        .arg(value)
        .arg(max_len)
        .arg(topics_json(&record.topics))
        .arg(&sig.data)
        .invoke_async(conn)
        .await
        .map_err(unavailable)?;
    let (done, a, b) = split(answer);
    if done == 1 {
        let id = a.ok_or_else(|| other("no id"))?;
        return Ok(Created::Created(EventId::new(id).map_err(other)?));
    }
    let (version, value) = state(a, b)?;
    Ok(Created::Exists(version, value))
}

pub(crate) async fn change(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    expected: u64,
    record: &Record,
) -> Result<Changed, BackendError> {
    let sig = signal(record)?;
    let value = serde_json::to_string(&*sig.value).map_err(other)?;
    let answer: Answer = CHANGE
        .key(&keys.versions)
        .key(&keys.values)
        .key(&keys.stream)
        .arg(sig.name.as_str())
        .arg(expected.to_string())
        .arg(sig.version.to_string())
        .arg(value)
        .arg(max_len)
        .arg(topics_json(&record.topics))
        .arg(&sig.data)
        .invoke_async(conn)
        .await
        .map_err(unavailable)?;
    let (done, a, b) = split(answer);
    match done {
        1 => {
            let id = a.ok_or_else(|| other("no id"))?;
            Ok(Changed::Changed(EventId::new(id).map_err(other)?))
        }
        2 => Ok(Changed::NotFound),
        _ => {
            let (version, value) = state(a, b)?;
            Ok(Changed::Conflict(version, value))
        }
    }
}
