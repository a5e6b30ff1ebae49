//! Keys, stream entries, and the reads that are not scripts.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use redis::aio::ConnectionLike;
use redis::streams::StreamId;
use redis::Value as RedisValue;
use serde_json::Value;
use ssehub::backend::{self, BackendError, EventId, Feed, Position, Replay, SignalState};
use ssehub::control::ResetReason;
use ssehub::Topic;

use crate::unavailable;

/// The keys of one hub's data.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) stream: String,
    pub(crate) values: String,
    pub(crate) versions: String,
    /// The prefix of publish idempotency keys (`{prefix}:publish-key:{key}`).
    pub(crate) publish_key: String,
    /// The prefix itself, for the presence keys a script names
    /// (`{prefix}:node:{node}`, `{prefix}:presence:{topic}`, ...).
    pub(crate) prefix: String,
    /// Every node's heartbeat deadline (a sorted set, ms since the epoch).
    pub(crate) nodes: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys {
            stream: format!("{prefix}:events"),
            values: format!("{prefix}:signal-values"),
            versions: format!("{prefix}:signal-versions"),
            publish_key: format!("{prefix}:publish-key:"),
            prefix: prefix.to_owned(),
            nodes: format!("{prefix}:nodes"),
        }
    }

    /// A node's streams: connection id -> the stream as JSON.
    pub(crate) fn node(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    /// The streams listed under a topic: connection id -> `Present` JSON.
    pub(crate) fn presence(&self, topic: &str) -> String {
        format!("{}:presence:{topic}", self.prefix)
    }

    /// Set when a node was taken for dead, until it hears so.
    pub(crate) fn reaped(&self, node: &str) -> String {
        format!("{}:reaped:{node}", self.prefix)
    }
}

/// Where the stream and the signals stood, read in one atomic step.
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) position: Position,
    pub(crate) head_id: EventId,
    /// The stream id to read after (`0-0` for an empty stream).
    pub(crate) last: String,
    pub(crate) signals: Vec<(Topic, u64, Value)>,
}

/// A stream id (`ms-seq`) as a position.
pub(crate) fn parse_id(id: &str) -> Option<Position> {
    let (ms, seq) = id.split_once('-')?;
    Some(Position::new(ms.parse().ok()?, seq.parse().ok()?))
}

fn id_text(p: Position) -> String {
    format!("{}-{}", p.high, p.low)
}

/// Topics as stored in an entry's `t` field: a JSON array.
pub(crate) fn topics_json(topics: &[Topic]) -> String {
    let names: Vec<&str> = topics.iter().map(Topic::as_str).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
}

fn text(fields: &HashMap<String, RedisValue>, key: &str) -> Option<String> {
    match fields.get(key)? {
        RedisValue::BulkString(b) => String::from_utf8(b.clone()).ok(),
        RedisValue::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bytes(fields: &HashMap<String, RedisValue>, key: &str) -> Option<Bytes> {
    match fields.get(key)? {
        RedisValue::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        _ => None,
    }
}

/// One stream entry, decoded.
pub(crate) enum Entry {
    Event { topics: Vec<Topic>, body: Bytes },
    Signal { name: Topic, data: String },
}

impl Entry {
    pub(crate) fn decode(entry: &StreamId) -> Option<Entry> {
        if let (Some(name), Some(data)) = (text(&entry.map, "s"), text(&entry.map, "j")) {
            return Some(Entry::Signal {
                name: Topic::new(&name).ok()?,
                data,
            });
        }
        let names: Vec<String> = serde_json::from_str(&text(&entry.map, "t")?).ok()?;
        let topics = names
            .iter()
            .map(|n| Topic::new(n))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Some(Entry::Event {
            topics,
            body: bytes(&entry.map, "b")?,
        })
    }

    fn topics(&self) -> &[Topic] {
        match self {
            Entry::Event { topics, .. } => topics,
            Entry::Signal { name, .. } => std::slice::from_ref(name),
        }
    }

    fn frame(&self, id: &EventId) -> Option<Bytes> {
        match self {
            Entry::Event { body, .. } => Some(backend::frame(id, body)),
            Entry::Signal { name, data } => backend::signal_frame(id, name, data).ok(),
        }
    }

    /// Hands the entry to this node's feed; returns the signal the node
    /// could not follow (it missed earlier changes), if any.
    pub(crate) fn deliver(&self, feed: &Feed, position: Position, id: &EventId) -> Option<&Topic> {
        match self {
            Entry::Event { topics, body } => {
                feed.deliver(position, id, topics, body);
                None
            }
            Entry::Signal { name, data } => {
                (!feed.deliver_signal(position, id, name, data)).then_some(name)
            }
        }
    }
}

/// Reads the newest entry's id and every signal, atomically.
pub(crate) async fn load_start(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
) -> redis::RedisResult<Start> {
    let (newest, versions, values): (
        redis::streams::StreamRangeReply,
        HashMap<String, String>,
        HashMap<String, String>,
    ) = redis::pipe()
        .atomic()
        .cmd("XREVRANGE")
        .arg(&keys.stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .cmd("HGETALL")
        .arg(&keys.versions)
        .cmd("HGETALL")
        .arg(&keys.values)
        .query_async(conn)
        .await?;
    let last = newest
        .ids
        .first()
        .map_or_else(|| "0-0".to_owned(), |e| e.id.clone());
    let position = parse_id(&last).unwrap_or(Position::ZERO);
    let head_id = EventId::new(if position == Position::ZERO {
        ""
    } else {
        last.as_str()
    })
    .unwrap_or_else(|_| EventId::new("").expect("an empty id is valid"));
    let mut signals = Vec::new();
    for (name, version) in versions {
        let (Ok(topic), Some(Ok((version, value)))) = (
            Topic::new(&name),
            values.get(&name).map(|value| parse_signal(&version, value)),
        ) else {
            tracing::warn!(signal = %name, "skipping a signal Redis holds in a form not understood");
            continue;
        };
        signals.push((topic, version, Arc::unwrap_or_clone(value)));
    }
    Ok(Start {
        position,
        head_id,
        last,
        signals,
    })
}

/// What a client that saw `after` missed, up to `until`.
pub(crate) async fn replay(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    after: Position,
    until: Position,
    wants: &(dyn Fn(&[Topic]) -> bool + Send + Sync),
) -> Result<Replay, BackendError> {
    // The range first, then the stream's bounds: trimming in between can
    // only turn a complete replay into a needless reset, never hide a loss.
    let answer: redis::RedisResult<(redis::streams::StreamRangeReply, RedisValue)> = redis::pipe()
        .cmd("XRANGE")
        .arg(&keys.stream)
        .arg(format!("({}", id_text(after)))
        .arg(id_text(until))
        .cmd("XINFO")
        .arg("STREAM")
        .arg(&keys.stream)
        .query_async(conn)
        .await;
    let (range, info) = match answer {
        Ok(answer) => answer,
        // XINFO on a missing stream is an error: nothing was ever kept.
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) => {
            return Ok(Replay::Reset(ResetReason::HistoryGone));
        }
        Err(e) => return Err(unavailable(e)),
    };
    let Some(info) = stream_info(&info) else {
        return Ok(Replay::Reset(ResetReason::HistoryGone));
    };
    if after > info.last_generated {
        return Ok(Replay::Reset(ResetReason::UnknownId));
    }
    // Trimming takes the oldest entries: if the client's own last event is
    // still there, so is everything after it. (If only it is gone, this
    // resets needlessly; it never skips silently.)
    if after < info.last_generated && (info.length == 0 || info.first > after) {
        return Ok(Replay::Reset(ResetReason::HistoryGone));
    }
    let mut frames = Vec::new();
    for entry in &range.ids {
        let (Some(decoded), Ok(id)) = (Entry::decode(entry), EventId::new(entry.id.clone())) else {
            continue;
        };
        if wants(decoded.topics()) {
            frames.extend(decoded.frame(&id));
        }
    }
    Ok(Replay::Resumed(frames))
}

/// What `XINFO STREAM` tells of the stream's bounds.
struct Info {
    last_generated: Position,
    first: Position,
    length: u64,
}

fn stream_info(info: &RedisValue) -> Option<Info> {
    let pairs: Vec<(&RedisValue, &RedisValue)> = match info {
        RedisValue::Array(items) => items
            .chunks(2)
            .filter_map(|c| Some((c.first()?, c.get(1)?)))
            .collect(),
        RedisValue::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        _ => return None,
    };
    let field = |name: &str| {
        pairs.iter().find_map(|(k, v)| {
            let key: String = redis::from_redis_value_ref(k).ok()?;
            if key != name {
                return None;
            }
            redis::from_redis_value_ref::<String>(v).ok()
        })
    };
    Some(Info {
        last_generated: parse_id(&field("last-generated-id")?)?,
        first: field("recorded-first-entry-id")
            .and_then(|id| parse_id(&id))
            .unwrap_or(Position::ZERO),
        length: field("length")?.parse().ok()?,
    })
}

/// A signal's version and value from their stored text.
pub(crate) fn parse_signal(version: &str, value: &str) -> Result<SignalState, BackendError> {
    let bad = |e: &dyn std::fmt::Display| BackendError::other(format!("a stored signal: {e}"));
    let version = version.parse().map_err(|e| bad(&e))?;
    let value = serde_json::from_str(value).map_err(|e| bad(&e))?;
    Ok((version, Arc::new(value)))
}

/// A signal as stored.
pub(crate) async fn signal(
    conn: &mut impl ConnectionLike,
    keys: &Keys,
    name: &Topic,
) -> Result<Option<SignalState>, BackendError> {
    let (version, value): (Option<String>, Option<String>) = redis::pipe()
        .atomic()
        .cmd("HGET")
        .arg(&keys.versions)
        .arg(name.as_str())
        .cmd("HGET")
        .arg(&keys.values)
        .arg(name.as_str())
        .query_async(conn)
        .await
        .map_err(unavailable)?;
    match (version, value) {
        (Some(version), Some(value)) => parse_signal(&version, &value).map(Some),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions() {
        assert_eq!(
            parse_id("1764150000000-3"),
            Some(Position::new(1764150000000, 3))
        );
        assert_eq!(parse_id("0-0"), Some(Position::ZERO));
        assert_eq!(parse_id("x-1"), None);
        assert_eq!(parse_id("12"), None);
        assert_eq!(id_text(Position::new(5, 6)), "5-6");
    }
}
