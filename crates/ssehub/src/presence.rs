//! Presence and targeted delivery: who each stream is, which streams are
//! subscribed to a topic on every node, `join` and `leave` events, and the
//! hub's own topics that reach one stream (`$conn/ID`) or close it.
//!
//! - Every stream has a [`ConnectionId`], `{node}-{n}`: the hub's node id (8
//!   hex digits, random at each start) and a counter. A reconnect gets a new
//!   one.
//! - A stream's user is what [`SubscribeOptions::user`](crate::SubscribeOptions::user)
//!   gave (`ssehub serve`: the token's `sub` claim).
//! - [`Hub::presence`](crate::Hub::presence) lists the streams subscribed to
//!   a topic *by that name* (a stream subscribed to the pattern `chat/*` is
//!   listed under `chat/*`, not under each topic it matches).
//! - With [`HubBuilder::presence_events`](crate::HubBuilder::presence_events),
//!   a stream's opening and end publish `join` and `leave` events to
//!   `$presence/T` for each of its topics that match. Off by default: every
//!   such event is an event in history (Centrifugo's `join_leave` is off by
//!   default for the same reason), and a burst of reconnects would push the
//!   events clients resume from out of a bounded history.
//! - `$conn/ID` reaches the one stream with that id, on whichever node holds
//!   it, without being subscribed to; `$close/ID` (the hub's own, sent by
//!   [`Hub::close`](crate::Hub::close)) ends it.
//!
//! A backend shared by several hubs keeps the presence of every node
//! ([`Backend::keeps_presence`](crate::backend::Backend::keeps_presence)):
//! each hub sends one heartbeat per period, and a hub that misses three has
//! its streams' leaves published by another (see
//! [`HubBuilder::presence_heartbeat`](crate::HubBuilder::presence_heartbeat)).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::backend::{Heartbeat, Record};
use crate::hub::HubInner;
use crate::subscriber::Subscriber;
use crate::topic::{Topic, TopicPattern};

/// The prefix of the topics carrying join and leave events.
pub const PRESENCE_PREFIX: &str = "$presence/";
/// The prefix of the topic that reaches one stream.
pub const CONN_PREFIX: &str = "$conn/";
/// The prefix of the topic that reaches one user's streams.
pub const USER_PREFIX: &str = "$user/";
/// The prefix of the hub's own topic that closes one stream.
pub(crate) const CLOSE_PREFIX: &str = "$close/";

/// A stream's id: `{node}-{n}`, unique across the hubs sharing a backend.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(Arc<str>);

impl serde::Serialize for ConnectionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl ConnectionId {
    pub(crate) fn new(node: &str, n: u64) -> ConnectionId {
        ConnectionId(Arc::from(format!("{node}-{n}")))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Splits an id into its node and its number, if it is one.
    pub(crate) fn parse(id: &str) -> Option<(&str, u64)> {
        let (node, n) = id.rsplit_once('-')?;
        Some((node, n.parse().ok()?))
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ConnectionId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

/// One stream, as presence lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Present {
    /// Its [`ConnectionId`].
    pub id: String,
    /// Its user, if it has one.
    pub user: Option<String>,
    /// When it opened, in milliseconds since the Unix epoch.
    pub since: u64,
    /// The node (hub) that holds it.
    pub node: String,
}

/// A stream joining or leaving, as [`Backend::join`](crate::backend::Backend::join)
/// and [`Backend::leave`](crate::backend::Backend::leave) get it. Made by
/// the hub only.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Presence {
    /// The stream.
    pub present: Present,
    /// The topics it is listed under (those it subscribed to, by name).
    pub topics: Vec<Topic>,
    /// Its `join` events, one per `$presence/T` topic, to append when it
    /// joins.
    pub joins: Vec<Record>,
    /// Its `leave` events, to append when it leaves (by itself, or, for a
    /// dead node, by another).
    pub leaves: Vec<Record>,
}

/// A fresh random node id: 8 hex digits (randomness from the standard
/// library's hasher keys).
pub(crate) fn random_node() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The data of a join or leave event.
#[derive(serde::Serialize)]
struct Change<'a> {
    id: &'a str,
    user: Option<&'a str>,
    node: &'a str,
    topic: &'a str,
}

/// A join or leave event's body (no id): `event: {kind}`, data `{"id",
/// "user", "node", "topic"}`.
fn body(kind: &str, present: &Present, topic: &Topic) -> Bytes {
    let data = serde_json::to_string(&Change {
        id: &present.id,
        user: present.user.as_deref(),
        node: &present.node,
        topic: topic.as_str(),
    })
    .unwrap_or_default();
    let mut out = String::with_capacity(data.len() + 24);
    out.push_str("event: ");
    out.push_str(kind);
    out.push_str("\ndata: ");
    out.push_str(&data);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// What the hub knows of presence: its node and which topics announce.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) node: String,
    pub(crate) events: Vec<TopicPattern>,
    pub(crate) heartbeat: Duration,
}

impl Config {
    /// The connection id of this node's subscriber `n`.
    pub(crate) fn id(&self, n: u64) -> ConnectionId {
        ConnectionId::new(&self.node, n)
    }

    /// The stream `sub` as presence lists it.
    pub(crate) fn of_present(&self, sub: &Subscriber) -> Present {
        Present {
            id: self.id(sub.id).to_string(),
            user: sub.user().map(str::to_owned),
            since: sub.since,
            node: self.node.clone(),
        }
    }

    /// The stream `sub` as presence lists it, with its join and leave events.
    pub(crate) fn of(&self, sub: &Subscriber) -> Presence {
        let present = self.of_present(sub);
        let topics: Vec<Topic> = sub.topics().cloned().collect();
        let mut joins = Vec::new();
        let mut leaves = Vec::new();
        for topic in topics
            .iter()
            .filter(|t| self.events.iter().any(|p| p.matches(t.as_str())))
        {
            let Ok(to) = Topic::new(&format!("{PRESENCE_PREFIX}{topic}")) else {
                continue;
            };
            let record = |body| Record {
                topics: vec![to.clone()],
                body,
                idempotency: None,
            };
            joins.push(record(self::body("join", &present, topic)));
            leaves.push(record(self::body("leave", &present, topic)));
        }
        Presence {
            present,
            topics,
            joins,
            leaves,
        }
    }

    /// Whether a stream's end must be told to the backend.
    pub(crate) fn announces(&self, sub: &Subscriber) -> bool {
        sub.topics()
            .any(|t| self.events.iter().any(|p| p.matches(t.as_str())))
    }
}

/// Tells the backend that a stream ended, in the background (a stream ends
/// in a `Drop`). Nothing to tell when the backend keeps no presence and
/// the stream announces nothing.
pub(crate) fn leave(hub: &Arc<HubInner>, sub: &Subscriber) {
    if !hub.backend.keeps_presence() && !hub.presence.announces(sub) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let presence = hub.presence.of(sub);
    let hub = hub.clone();
    runtime.spawn(async move {
        if let Err(why) = send_leave(&hub, &presence).await {
            tracing::warn!(id = %presence.present.id, error = %why, "could not record a stream's leave; it is sent again at the next heartbeat");
            keep_lost_leave(&hub, presence);
        }
    });
}

/// The most leaves kept to send again (the backend out for long under
/// heavy churn).
const MAX_LOST_LEAVES: usize = 100_000;

/// Sends a leave, waiting at most the write timeout.
async fn send_leave(hub: &HubInner, presence: &Presence) -> Result<(), String> {
    let limit = hub.config.write_timeout;
    match tokio::time::timeout(limit, hub.backend.leave(presence)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Keeps a leave that could not be sent, for the heartbeats to send again
/// (one that was applied after all publishes nothing the second time: a
/// backend that keeps presence announces a leave only of a listed stream).
fn keep_lost_leave(hub: &HubInner, presence: Presence) {
    let mut lost = hub.lost_leaves.lock().unwrap_or_else(|e| e.into_inner());
    if lost.len() < MAX_LOST_LEAVES {
        lost.push(presence);
    }
}

/// One heartbeat per period while the hub lives: the backend keeps this
/// node alive and publishes dead nodes' leaves. Presence is made good here,
/// in one place, whatever went wrong since the last heartbeat:
/// - leaves that could not be sent are sent again first;
/// - when the backend says this node was taken for dead (a long
///   partition), or a join or a heartbeat failed or went unanswered (the
///   backend was out: its answer, "join again" included, may be lost),
///   every local stream joins again at the next heartbeat that succeeds (a
///   stream listed already is not announced twice by a backend that keeps
///   presence).
pub(crate) async fn heartbeats(hub: Weak<HubInner>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(hub) = hub.upgrade() else { break };
        if hub.closed.load(Ordering::Acquire) {
            break;
        }
        let lost = std::mem::take(&mut *hub.lost_leaves.lock().unwrap_or_else(|e| e.into_inner()));
        for presence in lost {
            if send_leave(&hub, &presence).await.is_err() {
                keep_lost_leave(&hub, presence);
            }
        }
        let beat = hub.backend.heartbeat(&hub.presence.node, every * 3);
        match tokio::time::timeout(every, beat).await {
            Ok(Ok(Heartbeat::Alive)) if !hub.rejoin_pending.load(Ordering::Acquire) => {}
            Ok(Ok(beat)) => {
                hub.rejoin_pending.store(false, Ordering::Release);
                if beat == Heartbeat::Rejoin {
                    tracing::warn!(node = %hub.presence.node, "this node was taken for dead; its streams join again");
                }
                let mut all = Vec::new();
                hub.registry.for_each(|sub| all.push(hub.presence.of(sub)));
                let mut failed = 0;
                for presence in &all {
                    if hub.backend.join(presence).await.is_err() {
                        failed += 1;
                    }
                }
                if failed > 0 {
                    tracing::warn!(failed, of = all.len(), "some streams could not join again");
                    hub.rejoin_pending.store(true, Ordering::Release);
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "presence heartbeat failed");
                hub.rejoin_pending.store(true, Ordering::Release);
            }
            Err(_) => {
                tracing::debug!("presence heartbeat got no answer in time");
                hub.rejoin_pending.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_split_into_node_and_number() {
        let id = ConnectionId::new("0a1b2c3d", 17);
        assert_eq!(id.as_str(), "0a1b2c3d-17");
        assert_eq!(ConnectionId::parse(id.as_str()), Some(("0a1b2c3d", 17)));
        assert_eq!(ConnectionId::parse("x"), None);
        assert_eq!(ConnectionId::parse("a-b"), None);
    }

    #[test]
    fn join_and_leave_events_carry_who_and_where() {
        let present = Present {
            id: "n-1".into(),
            user: Some("ann".into()),
            since: 5,
            node: "n".into(),
        };
        let topic = Topic::new("room").unwrap();
        assert_eq!(
            body("join", &present, &topic),
            "event: join\ndata: {\"id\":\"n-1\",\"user\":\"ann\",\"node\":\"n\",\"topic\":\"room\"}\n\n"
        );
    }
}
