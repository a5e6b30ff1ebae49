//! Signal changes as Lua scripts: check the version, store the value, append
//! the event, in one atomic step.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::Script;
use ssehub::backend::{BackendError, EventId, Expect, SignalChange, SignalState, Stored};

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

fn other(e: impl Into<ssehub::backend::Cause>) -> BackendError {
    BackendError::other(e)
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
