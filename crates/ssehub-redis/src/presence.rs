//! Presence in Redis: which streams every node holds, their join and leave
//! events, and the heartbeats that find dead nodes. Each write is one Lua
//! script (one atomic step, one round trip), each read one command.
//!
//! Keys (`{p}` is the prefix):
//! - `{p}:nodes`: sorted set, node -> the deadline of its heartbeat (ms
//!   since the epoch, from Redis's own clock, so the hubs' clocks do not
//!   matter);
//! - `{p}:node:{node}`: hash, connection id -> the stream as JSON: its
//!   `Present` fields, its `topics`, and its `leaves` as `[topics, body]`
//!   pairs, so that another hub can publish them if this node dies;
//! - `{p}:presence:{topic}`: hash, connection id -> the `Present` as JSON;
//! - `{p}:reaped:{node}`: set (for a day) when the node was taken for dead,
//!   until its next heartbeat tells it to join again.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::Script;
use ssehub::backend::{BackendError, Presence, Present, Record};
use ssehub::Topic;
use std::sync::LazyLock;

use crate::entry::{topics_json, Keys};
use crate::{unavailable, write_error};

/// How long a dead node's marker stays: a node partitioned away for longer
/// than this is not told to join again (its streams stay unlisted).
const REAPED_TTL: Duration = Duration::from_secs(24 * 60 * 60);

// KEYS: nodes, the node's hash, stream, then presence:{topic} for each
// topic. ARGV: node, id, the stream's JSON, the Present's JSON, max_len,
// expiry (ms), then (topics, body) of each join event. Lists the stream and
// appends its joins, unless it was listed already (a retried join publishes
// nothing twice). Adds the node to `nodes` if it is not there (a node that
// dies before its first heartbeat is reaped all the same). Answers 1 if it
// was not listed.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[6]), ARGV[1])
local new = redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
for i = 4, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[2], ARGV[4])
end
if new == 1 then
  for i = 7, #ARGV, 2 do
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 't', ARGV[i], 'b', ARGV[i + 1])
  end
end
return new
",
    )
});

// KEYS: the node's hash, stream, then presence:{topic} for each topic.
// ARGV: id, max_len, then (topics, body) of each leave event. Unlists the
// stream and appends its leaves, if it was listed (a stream whose node was
// reaped had its leaves published then).
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local listed = redis.call('HDEL', KEYS[1], ARGV[1])
for i = 3, #KEYS do
  redis.call('HDEL', KEYS[i], ARGV[1])
end
if listed == 1 then
  for i = 3, #ARGV, 2 do
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 't', ARGV[i], 'b', ARGV[i + 1])
  end
end
return listed
",
    )
});

// KEYS: nodes, this node's reaped marker, stream. ARGV: node, expiry (ms),
// prefix, max_len, marker ttl (ms). Keeps this node alive until now +
// expiry; then reaps every node whose deadline passed: unlists its
// streams, appends their leaves, drops its hash, and marks it reaped.
// Answers 1 when this node had been reaped (it must join again), else 0.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local rejoin = redis.call('DEL', KEYS[2])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
for _, node in ipairs(dead) do
  if node ~= ARGV[1] then
    local hash = ARGV[3] .. ':node:' .. node
    for _, json in ipairs(redis.call('HVALS', hash)) do
      local ok, stream = pcall(cjson.decode, json)
      if ok and type(stream) == 'table' then
        for _, topic in ipairs(stream.topics or {}) do
          redis.call('HDEL', ARGV[3] .. ':presence:' .. topic, stream.id)
        end
        for _, leave in ipairs(stream.leaves or {}) do
          redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 't', leave[1], 'b', leave[2])
        end
      end
    end
    redis.call('DEL', hash)
    redis.call('ZREM', KEYS[1], node)
    redis.call('SET', ARGV[3] .. ':reaped:' .. node, '1', 'PX', ARGV[5])
  end
end
return rejoin
",
    )
});

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The stream as its node's hash keeps it.
fn stream_json(p: &Present, topics: &[Topic], leaves: &[Record]) -> String {
    let leaves: Vec<(String, String)> = leaves
        .iter()
        .map(|r| {
            (
                topics_json(&r.topics),
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        })
        .collect();
    let topics: Vec<&str> = topics.iter().map(Topic::as_str).collect();
    serde_json::json!({
        "id": p.id,
        "user": p.user,
        "since": p.since,
        "node": p.node,
        "topics": topics,
        "leaves": leaves,
    })
    .to_string()
}

/// Lists a stream under its node and its topics and appends its joins.
pub(crate) async fn join(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    expiry: Duration,
    presence: &Presence,
) -> Result<(), BackendError> {
    let p = &presence.present;
    let present = serde_json::to_string(p).map_err(BackendError::other)?;
    let mut call = JOIN.key(&keys.nodes);
    call.key(keys.node(&p.node)).key(&keys.stream);
    for topic in &presence.topics {
        call.key(keys.presence(topic.as_str()));
    }
    call.arg(&p.node)
        .arg(&p.id)
        .arg(stream_json(p, &presence.topics, &presence.leaves))
        .arg(present)
        .arg(max_len)
        .arg(millis(expiry));
    for record in &presence.joins {
        call.arg(topics_json(&record.topics)).arg(&record.body[..]);
    }
    let _: i64 = call.invoke_async(conn).await.map_err(write_error)?;
    Ok(())
}

/// Unlists a stream and appends its leaves, if it was listed.
pub(crate) async fn leave(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    presence: &Presence,
) -> Result<(), BackendError> {
    let p = &presence.present;
    let mut call = LEAVE.key(keys.node(&p.node));
    call.key(&keys.stream);
    for topic in &presence.topics {
        call.key(keys.presence(topic.as_str()));
    }
    call.arg(&p.id).arg(max_len);
    for record in &presence.leaves {
        call.arg(topics_json(&record.topics)).arg(&record.body[..]);
    }
    let _: i64 = call.invoke_async(conn).await.map_err(write_error)?;
    Ok(())
}

fn parse_present(json: &str) -> Result<Present, BackendError> {
    serde_json::from_str(json)
        .map_err(|e| BackendError::other(format!("a stored presence entry: {e}")))
}

/// The streams listed under `topic` on every node (`HVALS`).
pub(crate) async fn list(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    topic: &str,
) -> Result<Vec<Present>, BackendError> {
    let all: Vec<String> = redis::cmd("HVALS")
        .arg(keys.presence(topic))
        .query_async(conn)
        .await
        .map_err(unavailable)?;
    all.iter().map(|json| parse_present(json)).collect()
}

/// The stream with this id, from its node's hash (`HGET`).
pub(crate) async fn connection(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    id: &str,
) -> Result<Option<Present>, BackendError> {
    let Some((node, n)) = id.rsplit_once('-') else {
        return Ok(None);
    };
    if node.is_empty() || n.parse::<u64>().is_err() {
        return Ok(None);
    }
    let json: Option<String> = redis::cmd("HGET")
        .arg(keys.node(node))
        .arg(id)
        .query_async(conn)
        .await
        .map_err(unavailable)?;
    json.as_deref().map(parse_present).transpose()
}

/// Keeps `node` alive for `expiry` and reaps the nodes whose deadline
/// passed; whether `node` itself had been reaped.
pub(crate) async fn heartbeat(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    max_len: usize,
    node: &str,
    expiry: Duration,
) -> Result<bool, BackendError> {
    let rejoin: i64 = HEARTBEAT
        .key(&keys.nodes)
        .key(keys.reaped(node))
        .key(&keys.stream)
        .arg(node)
        .arg(millis(expiry))
        .arg(&keys.prefix)
        .arg(max_len)
        .arg(millis(REAPED_TTL))
        .invoke_async(conn)
        .await
        .map_err(write_error)?;
    Ok(rejoin == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_keeps_what_another_hub_needs_to_publish_its_leaves() {
        let present = Present {
            id: "n-1".into(),
            user: Some("ann".into()),
            since: 5,
            node: "n".into(),
        };
        let topics = [Topic::new("room").unwrap()];
        let json: serde_json::Value =
            serde_json::from_str(&stream_json(&present, &topics, &[])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "n-1", "user": "ann", "since": 5, "node": "n",
                "topics": ["room"], "leaves": []})
        );
        let back: Present = serde_json::from_value(json).unwrap();
        assert_eq!(back, present);
    }
}
