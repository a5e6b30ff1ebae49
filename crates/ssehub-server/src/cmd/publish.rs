//! `ssehub publish`: one event to a hub over HTTP.

use std::io::Read;

use anyhow::{bail, Context};

/// Flags of `ssehub publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The hub's base URL, e.g. http://127.0.0.1:8080.
    // Hidden in --help: a URL may carry a password.
    #[arg(long, env = "SSEHUB_URL", hide_env_values = true)]
    url: String,
    /// Topic to publish to (repeatable).
    #[arg(long, required = true)]
    topic: Vec<String>,
    /// The event's data; `-` reads it from standard input.
    #[arg(long)]
    data: String,
    /// The event type (`message` when not given).
    #[arg(long)]
    event: Option<String>,
    /// The client's reconnection time to set, in milliseconds.
    #[arg(long)]
    retry: Option<u64>,
    /// An idempotency key (sent as `Idempotency-Key`): running the command
    /// again with the same key, after a 503 or a 504 `outcome_unknown`,
    /// publishes the event at most once (within the hub's window, 5 minutes
    /// by default) and prints the first publish's id.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// A JWT granting the topics (sent as `Authorization: Bearer`).
    #[arg(long, env = "SSEHUB_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let data = if args.data == "-" {
        let mut data = String::new();
        std::io::stdin()
            .read_to_string(&mut data)
            .context("reading the data from stdin")?;
        data
    } else {
        args.data
    };
    let mut body = serde_json::json!({ "topics": args.topic, "data": data });
    if let Some(event) = args.event {
        body["event"] = event.into();
    }
    if let Some(retry) = args.retry {
        body["retry"] = retry.into();
    }
    let url = format!("{}/publish", args.url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let (status, answer) = runtime.block_on(async {
        let mut request = reqwest::Client::new().post(&url).json(&body);
        if let Some(token) = &args.token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = &args.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        anyhow::Ok((status, text))
    })?;
    let json: Option<serde_json::Value> = serde_json::from_str(&answer).ok();
    if !status.is_success() {
        let message = json
            .as_ref()
            .and_then(|j| j["message"].as_str())
            .unwrap_or(answer.trim());
        if status.as_u16() == 504 && args.idempotency_key.is_some() {
            bail!(
                "the hub answered {status}: {message} (it may still be published: \
                 run again with the same --idempotency-key)"
            );
        }
        bail!("the hub answered {status}: {message}");
    }
    match json.as_ref().and_then(|j| j["id"].as_str()) {
        Some(id) => println!("{id}"),
        None => bail!("the hub's answer has no id: {answer}"),
    }
    Ok(())
}
