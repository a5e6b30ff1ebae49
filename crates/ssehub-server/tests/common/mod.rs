//! Helpers shared by the HTTP tests: a real `ssehub serve` on loopback and
//! a client that reads its streams.
#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};

use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use ssehub::Hub;
use ssehub_core::{EventStream, Item, MessageEvent, StreamError};
use ssehub_server::Config;

pub type Items = Pin<Box<dyn Stream<Item = Result<Item, StreamError<reqwest::Error>>> + Send>>;

/// A hub in this process, served on loopback; its HTTP client side is
/// [`Remote`] (`s.base`, `s.publish_ok(..)`, ...).
pub struct Server {
    pub remote: Remote,
    pub hub: Hub,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::ops::Deref for Server {
    type Target = Remote;

    fn deref(&self) -> &Remote {
        &self.remote
    }
}

/// A hub's HTTP API at `base` (in this process or another).
pub struct Remote {
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn start(hub: Hub, config: Config) -> Server {
    let listener = ssehub_server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(ssehub_server::run(listener, hub.clone(), config, async {
        let _ = stopped.await;
    }));
    Server {
        remote: Remote::new(format!("http://{addr}")),
        hub,
        stop: Some(stop),
        done,
    }
}

impl Remote {
    pub fn new(base: String) -> Remote {
        Remote {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// `GET path` as JSON, with its status.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    pub async fn publish(&self, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/publish", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    pub async fn publish_ok(&self, topic: &str, data: &str) -> String {
        let (status, body) = self.publish(json!({"topic": topic, "data": data})).await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn publish_ok_with(&self, topic: &str, data: &str, token: &str) -> String {
        let res = self
            .http
            .post(format!("{}/publish", self.base))
            .bearer_auth(token)
            .json(&json!({"topic": topic, "data": data}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn subscribe(&self, query: &str, last_event_id: Option<&str>) -> Items {
        let mut req = self.http.get(format!("{}/events?{query}", self.base));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        Box::pin(EventStream::new(res.bytes_stream()))
    }
}

/// The next `n` dispatched events (retry hints skipped).
pub async fn next_events(items: &mut Items, n: usize) -> Vec<MessageEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        match items.next().await.expect("stream ended early").unwrap() {
            Item::Event(e) => out.push(e),
            Item::Retry(_) => {}
        }
    }
    out
}

pub fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

/// Starts `ssehub serve` and returns it with its address, read from its log.
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("a log line").unwrap();
        let log: serde_json::Value = serde_json::from_str(&line).expect("JSON logs");
        if let Some(addr) = log["fields"]["addr"].as_str() {
            break addr.to_owned();
        }
    };
    // Keep reading, so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}
