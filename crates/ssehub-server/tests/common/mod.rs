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

/// The longest a test waits for anything over the network: a wait fails
/// with a message instead of hanging (under plain `cargo test` too).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `future`, or a panic saying `what` did not happen within [`WAIT`].
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {WAIT:?}"))
}

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
        within(&format!("GET {path}"), async {
            let res = self
                .http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json().await.unwrap())
        })
        .await
    }

    /// A metric's value from `/metrics` (a gauge, or a counter by its
    /// `_total` name).
    pub async fn metric(&self, name: &str) -> u64 {
        let text = within("GET /metrics", async {
            let res = self
                .http
                .get(format!("{}/metrics", self.base))
                .send()
                .await
                .unwrap();
            res.text().await.unwrap()
        })
        .await;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
    }

    pub async fn publish(&self, body: Value) -> (u16, Value) {
        within("POST /publish", async {
            let res = self
                .http
                .post(format!("{}/publish", self.base))
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json().await.unwrap())
        })
        .await
    }

    pub async fn publish_ok(&self, topic: &str, data: &str) -> String {
        let (status, body) = self.publish(json!({"topic": topic, "data": data})).await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn publish_ok_with(&self, topic: &str, data: &str, token: &str) -> String {
        within("POST /publish", async {
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
        })
        .await
    }

    pub async fn subscribe(&self, query: &str, last_event_id: Option<&str>) -> Items {
        let mut req = self.http.get(format!("{}/events?{query}", self.base));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = within("the response headers of GET /events", req.send())
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        Box::pin(EventStream::new(res.bytes_stream()))
    }
}

/// The next `n` dispatched events (retry hints skipped), within [`WAIT`].
pub async fn next_events(items: &mut Items, n: usize) -> Vec<MessageEvent> {
    let mut out = Vec::new();
    let read = async {
        while out.len() < n {
            match items.next().await.expect("stream ended early").unwrap() {
                Item::Event(e) => out.push(e),
                Item::Retry(_) => {}
            }
        }
    };
    if tokio::time::timeout(WAIT, read).await.is_err() {
        panic!("{n} events did not come within {WAIT:?}; got {out:?}");
    }
    out
}

/// The events of a response's body.
pub fn items(response: reqwest::Response) -> Items {
    Box::pin(EventStream::new(response.bytes_stream()))
}

/// The data of the next dispatched event, within [`WAIT`].
pub async fn next_data(items: &mut Items) -> String {
    next_events(items, 1).await.remove(0).data
}

pub fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

/// Sends signal `name` (`TERM`, `HUP`, ...) to `child`.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Stops `child` with SIGTERM and checks that it exits cleanly.
pub fn terminate(mut child: Child) {
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success(), "a clean exit on SIGTERM");
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

/// Starts `ssehub serve --redis URL --listen LISTEN` (JSON logs) and returns
/// it with its address.
pub fn serve_redis(redis_url: &str, listen: &str) -> (Child, String) {
    serve(
        &[
            "--redis",
            redis_url,
            "--listen",
            listen,
            "--log-format",
            "json",
        ],
        &[],
    )
}

/// A `ssehub serve` process (or a shell that execs one) whose JSON log lines
/// are kept, so a test can wait for one. Killed when dropped.
pub struct Logged {
    pub child: Child,
    pub addr: String,
    logs: std::sync::Arc<(std::sync::Mutex<Vec<Value>>, tokio::sync::Notify)>,
}

impl Logged {
    /// `ssehub serve --log-format json ARGS`.
    pub fn serve(args: &[&str]) -> Logged {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub"));
        command.args(["serve", "--log-format", "json"]).args(args);
        Logged::spawn(command)
    }

    /// `sh -c 'SETUP; exec ssehub serve --log-format json ARGS'`: for limits
    /// set with `ulimit` before the hub starts.
    pub fn serve_after(setup: &str, args: &[&str]) -> Logged {
        let script = format!("{setup} && exec \"$0\" serve --log-format json \"$@\"",);
        let mut command = Command::new("sh");
        command
            .args(["-c", &script, env!("CARGO_BIN_EXE_ssehub")])
            .args(args);
        Logged::spawn(command)
    }

    pub fn spawn(mut command: Command) -> Logged {
        let mut child = command
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = std::sync::Arc::new((
            std::sync::Mutex::new(Vec::new()),
            tokio::sync::Notify::new(),
        ));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("a log line").unwrap();
            let log: Value = serde_json::from_str(&line).expect("JSON logs");
            let addr = log["fields"]["addr"].as_str().map(str::to_owned);
            logs.0.lock().unwrap().push(log);
            if let Some(addr) = addr {
                break addr;
            }
        };
        let keep = logs.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(log) = serde_json::from_str::<Value>(&line) {
                    keep.0.lock().unwrap().push(log);
                    keep.1.notify_waiters();
                }
            }
        });
        Logged { child, addr, logs }
    }

    /// The first log line (so far or within 30 s) for which `matches` holds.
    pub async fn wait_log(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let notified = self.logs.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(log) = self.logs.0.lock().unwrap().iter().find(|l| matches(l)) {
                return log.clone();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "no log line {what} within 30 s: {:#?}",
                    self.logs.0.lock().unwrap()
                );
            }
        }
    }

    /// Every log line so far for which `matches` holds.
    pub fn logs(&self, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.logs
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| matches(l))
            .cloned()
            .collect()
    }

    pub fn message(log: &Value) -> &str {
        log["fields"]["message"].as_str().unwrap_or("")
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A certificate authority and a certificate it signed for `localhost` and
/// 127.0.0.1, as PEM files in `dir` (`NAME.pem`, `NAME.key`); returns the
/// CA's and the certificate's DER.
pub fn certificate(dir: &std::path::Path, name: &str) -> (Vec<u8>, Vec<u8>) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("ssehub test CA {name}"));
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    (ca.der().to_vec(), cert.der().to_vec())
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ssehub-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
