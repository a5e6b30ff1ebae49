//! Writes that check before they append, as Lua scripts (one atomic step
//! each, whichever hub runs them): signal changes (check the version, store
//! the value, append the event) and publishes with an idempotency key
//! (append unless the key was seen).

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::Script;
use ssehub::backend::{
    Appended, BackendError, EventId, Expect, Idempotency, SignalChange, SignalState, Stored,
};

use crate::entry::{parse_signal, Keys};
use crate::write_error;

// KEYS: versions, values, stream. ARGV: name, value, max_len, data. The
// entry carries the name and the event's data (`s`, `j`); its topic is the
// name.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then return {0, v, redis.call('HGET', KEYS[2], ARGV[1])} end
redis.call('HSET', KEYS[1], ARGV[1], '0')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 's', ARGV[1], 'j', ARGV[4])}
",
    )
});

// As CREATE, and ARGV[5], ARGV[6]: the expected version, the new version.
static CHANGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {2} end
if v ~= ARGV[5] then return {0, v, redis.call('HGET', KEYS[2], ARGV[1])} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[6])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 's', ARGV[1], 'j', ARGV[4])}
",
    )
});

fn other(e: impl Into<ssehub::backend::Cause>) -> BackendError {
    BackendError::other(e)
}

// KEYS: stream, the publish key. ARGV: max_len, topics, body, window (ms).
// Appends only if there was no append with this key within the window:
// `{1, id}` when it appended, `{0, id of the first}` when not.
static APPEND_ONCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local first = redis.call('GET', KEYS[2])
if first then return {0, first} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[2], 'b', ARGV[3])
redis.call('SET', KEYS[2], id, 'PX', ARGV[4])
return {1, id}
",
    )
});

/// Appends an event unless its idempotency key was seen within its window;
/// the id of the first append with the key.
pub(crate) async fn append_once(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    topics: &str,
    body: &[u8],
    key: &Idempotency,
) -> Result<Appended, BackendError> {
    let window_ms = key.window.as_millis().max(1);
    let (appended, id): (u8, String) = APPEND_ONCE
        .key(&keys.stream)
        .key(format!("{}{}", keys.publish_key, key.key))
        .arg(max_len)
        .arg(topics)
        .arg(body)
        .arg(u64::try_from(window_ms).unwrap_or(u64::MAX))
        .invoke_async(conn)
        .await
        .map_err(write_error)?;
    let id = EventId::new(id).map_err(other)?;
    Ok(if appended == 1 {
        Appended::New(id)
    } else {
        Appended::Repeated(id)
    })
}

/// What a script did.
enum Outcome {
    /// Stored the value and appended the event (`{1, id}`).
    Appended(EventId),
    /// Did nothing: the signal is at another version (`{0, version, value}`).
    Elsewhere(SignalState),
    /// Did nothing: there is no such signal (`{2}`).
    Missing,
}

/// Runs `script` for a signal's change, with `versions` (expected, new)
/// for CHANGE.
async fn run(
    script: &Script,
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    sig: &SignalChange,
    versions: Option<(u64, u64)>,
) -> Result<Outcome, BackendError> {
    let value = serde_json::to_string(&*sig.value).map_err(other)?;
    let mut call = script.key(&keys.versions);
    call.key(&keys.values)
        .key(&keys.stream)
        .arg(sig.name.as_str())
        .arg(value)
        .arg(max_len)
        .arg(&sig.data);
    if let Some((expected, new)) = versions {
        call.arg(expected).arg(new);
    }
    let answer: Vec<Option<String>> = call.invoke_async(conn).await.map_err(write_error)?;
    let mut parts = answer.into_iter().map(Option::unwrap_or_default);
    let mut next = || parts.next().unwrap_or_default();
    match next().as_str() {
        "1" => Ok(Outcome::Appended(EventId::new(next()).map_err(other)?)),
        "0" => Ok(Outcome::Elsewhere(parse_signal(&next(), &next())?)),
        "2" => Ok(Outcome::Missing),
        done => Err(other(format!("unexpected answer from a script: {done:?}"))),
    }
}

/// Stores a signal's change if the signal is as `expect`ed (CREATE or
/// CHANGE, each one atomic script).
pub(crate) async fn store(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    expect: Expect,
    change: &SignalChange,
) -> Result<Stored, BackendError> {
    let outcome = match expect {
        Expect::Absent => run(&CREATE, conn, keys, max_len, change, None).await?,
        Expect::Version(expected) => {
            let versions = Some((expected, change.version));
            run(&CHANGE, conn, keys, max_len, change, versions).await?
        }
    };
    Ok(match outcome {
        Outcome::Appended(id) => Stored::Stored(id),
        Outcome::Elsewhere((version, value)) => Stored::Conflict(version, value),
        Outcome::Missing => Stored::NotFound,
    })
}
