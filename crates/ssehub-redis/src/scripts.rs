//! Signal changes as Lua scripts: check the version, store the value, append
//! the event, in one atomic step.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::Script;
use ssehub::backend::{BackendError, Changed, Created, EventId, Record, SignalState};

use crate::entry::{parse_signal, Keys};
use crate::unavailable;

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

fn other(e: impl std::fmt::Display) -> BackendError {
    BackendError::Other(e.to_string())
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

/// Runs `script` for `record` (a signal's change), with `versions` (expected,
/// new) for CHANGE.
async fn run(
    script: &Script,
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    record: &Record,
    versions: Option<(u64, u64)>,
) -> Result<Outcome, BackendError> {
    let sig = record
        .signal
        .as_ref()
        .ok_or_else(|| other("not a signal record"))?;
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
    let answer: Vec<Option<String>> = call.invoke_async(conn).await.map_err(unavailable)?;
    let mut parts = answer.into_iter().map(Option::unwrap_or_default);
    let mut next = || parts.next().unwrap_or_default();
    match next().as_str() {
        "1" => Ok(Outcome::Appended(EventId::new(next()).map_err(other)?)),
        "0" => Ok(Outcome::Elsewhere(parse_signal(&next(), &next())?)),
        "2" => Ok(Outcome::Missing),
        done => Err(other(format!("unexpected answer from a script: {done:?}"))),
    }
}

pub(crate) async fn create(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    record: &Record,
) -> Result<Created, BackendError> {
    match run(&CREATE, conn, keys, max_len, record, None).await? {
        Outcome::Appended(id) => Ok(Created::Created(id)),
        Outcome::Elsewhere((version, value)) => Ok(Created::Exists(version, value)),
        Outcome::Missing => Err(other("the create script answered 'no such signal'")),
    }
}

pub(crate) async fn change(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    expected: u64,
    record: &Record,
) -> Result<Changed, BackendError> {
    let new = record.signal.as_ref().map_or(expected + 1, |s| s.version);
    match run(&CHANGE, conn, keys, max_len, record, Some((expected, new))).await? {
        Outcome::Appended(id) => Ok(Changed::Changed(id)),
        Outcome::Elsewhere((version, value)) => Ok(Changed::Conflict(version, value)),
        Outcome::Missing => Ok(Changed::NotFound),
    }
}
