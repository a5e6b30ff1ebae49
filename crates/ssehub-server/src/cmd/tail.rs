//! `ssehub tail URL`: follow an event stream, printing JSON lines as `parse`.

use std::io::{self, Write};

use anyhow::Context;
use futures_util::StreamExt;
use ssehub_client::{Event, EventSource};
use ssehub_core::Item;

use super::parse::write_item;

/// Flags of `ssehub tail`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The event stream's URL (for a hub, `http://HOST:PORT/events`).
    url: String,
    /// A request header, `NAME:VALUE` (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// A JWT, sent as `Authorization: Bearer JWT`.
    #[arg(long, env = "SSEHUB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A topic to subscribe to, added to the URL as `topic=T` (repeatable).
    #[arg(long = "topic", value_name = "T")]
    topics: Vec<String>,
    /// Resume after this event id (sent as `Last-Event-ID` on the first request).
    #[arg(long)]
    last_event_id: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(tail(args))
}

async fn tail(args: Args) -> anyhow::Result<()> {
    let mut url = ssehub_client::reqwest::Url::parse(&args.url)
        .with_context(|| format!("invalid URL {:?}", args.url))?;
    if !args.topics.is_empty() {
        let mut query = url.query_pairs_mut();
        for topic in &args.topics {
            query.append_pair("topic", topic);
        }
    }
    let mut builder = EventSource::builder(url);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--header {header:?} is not NAME:VALUE"))?;
        builder = builder.header(name.trim(), value.trim());
    }
    if let Some(token) = &args.token {
        builder = builder.bearer_token(token);
    }
    if let Some(id) = args.last_event_id {
        builder = builder.last_event_id(id);
    }
    let mut events = builder.build()?;
    let mut out = io::stdout().lock();
    while let Some(event) = events.next().await {
        let item = match event? {
            Event::Message(m) => Item::Event(m),
            Event::Retry(ms) => Item::Retry(ms),
            Event::Reconnecting {
                attempt,
                delay,
                reason,
            } => {
                eprintln!(
                    "ssehub: reconnecting in {} ms (attempt {attempt}, Last-Event-ID {:?}): {reason}",
                    delay.as_millis(),
                    events.last_event_id()
                );
                continue;
            }
            other => {
                eprintln!("ssehub: {other:?}");
                continue;
            }
        };
        write_item(&mut out, &item).context("writing stdout")?;
        out.flush().context("writing stdout")?;
    }
    Ok(())
}
