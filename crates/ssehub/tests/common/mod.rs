//! What the hub's tests share.

use futures_util::StreamExt;
use ssehub::Subscription;
use ssehub_core::{Item, MessageEvent, Parser};

/// Reads frames until `n` events were dispatched (retry hints are skipped);
/// fails after 10 s.
pub(crate) async fn events(sub: &mut Subscription, n: usize) -> Vec<MessageEvent> {
    let read = async {
        let mut parser = Parser::new();
        let mut out = Vec::new();
        while out.len() < n {
            let frame = sub.next().await.expect("stream ended early");
            parser.feed(&frame).unwrap();
            out.extend(parser.drain().filter_map(|i| match i {
                Item::Event(e) => Some(e),
                Item::Retry(_) => None,
            }));
        }
        out
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("{n} events did not come within 10 s"))
}
