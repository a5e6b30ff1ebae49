//! One reader per node: tails the stream and hands each entry to the feed.

use std::sync::Arc;
use std::time::Duration;

use redis::streams::StreamReadReply;
use redis::AsyncConnectionConfig;
use ssehub::backend::{EventId, Feed};

use crate::entry::{parse_id, Entry};
use crate::Shared;

/// Entries read per `XREAD`.
const BATCH: usize = 1000;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Reads forever after `last` (a stream id), reconnecting with backoff; on
/// reconnection it continues after the last entry it delivered, so nothing
/// appended meanwhile is skipped.
pub(crate) async fn run(shared: Arc<Shared>, feed: Feed, mut last: String) {
    let mut backoff = BACKOFF_MIN;
    loop {
        // The block time plus a margin: a blocked read is not a dead server.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(shared.block + Duration::from_secs(5)));
        let mut conn = match shared
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                shared.set_health(false, "reconnecting");
                tracing::warn!(error = %e, retry_in = ?backoff, "Redis reader cannot connect");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        shared.set_health(true, "ok");
        backoff = BACKOFF_MIN;
        loop {
            let read: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(shared.block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&shared.keys.stream)
                .arg(&last)
                .query_async(&mut conn)
                .await;
            let reply = match read {
                Ok(reply) => reply,
                Err(e) => {
                    shared.set_health(false, "reconnecting");
                    tracing::warn!(error = %e, "Redis reader lost its connection");
                    break;
                }
            };
            for key in reply.into_iter().flat_map(|r| r.keys) {
                for entry in &key.ids {
                    last.clone_from(&entry.id);
                    let (Some(position), Ok(id)) =
                        (parse_id(&entry.id), EventId::new(entry.id.clone()))
                    else {
                        continue;
                    };
                    let Some(decoded) = Entry::decode(entry) else {
                        tracing::warn!(id = %entry.id, "skipping a stream entry not written by ssehub");
                        continue;
                    };
                    if let Some(name) = decoded.deliver(&feed, position, &id) {
                        // History was trimmed past this reader: take the
                        // signal's value as Redis holds it now.
                        tracing::warn!(signal = %name, "missed changes of a signal; reading it afresh");
                        let mut conn = shared.conn.clone();
                        if let Ok(Some((version, value))) =
                            crate::entry::signal(&mut conn, &shared.keys, name).await
                        {
                            feed.refresh_signal(name, version, value);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}
