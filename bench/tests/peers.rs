//! The Node peers of `bench/peers.sh` answer the protocol `ssehub-load`
//! speaks: better-sse's server (`bench/peers/node/server.js`) delivers every
//! event once to every stream, and Pushpin's origin holds a stream with GRIP.
//! Pushpin, nginx and the Python peer are not started here: they are
//! installed by `bench/peers.sh` only, never by the test suite.
//!
//! Needs `node` and better-sse in `bench/peers/node/node_modules` (`npm ci`
//! there); without them the test is skipped, unless
//! `SSEHUB_REQUIRE_PEER_PACKAGES` is set (as `scripts/test` does).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/node")
}

/// Whether the Node peers can run here; `Err` when they must and cannot.
fn node_ready() -> anyhow::Result<bool> {
    let modules = node_dir().join("node_modules/better-sse");
    let node = Command::new("node").arg("--version").output().is_ok();
    if node && modules.is_dir() {
        return Ok(true);
    }
    if std::env::var_os("SSEHUB_REQUIRE_PEER_PACKAGES").is_some() {
        anyhow::bail!(
            "node or {} is missing: run `npm ci` in bench/peers/node",
            modules.display()
        );
    }
    eprintln!(
        "skipped: no node or no {} (run `npm ci` there)",
        modules.display()
    );
    Ok(false)
}

/// A Node script of `bench/peers/node` listening on a free port; ends with
/// the test.
struct NodeServer {
    child: Child,
    port: u16,
}

impl NodeServer {
    fn start(script: &str) -> anyhow::Result<NodeServer> {
        let mut child = Command::new("node")
            .arg(node_dir().join(script))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                anyhow::anyhow!("{script} printed {line:?}, not \"listening on ADDR\"")
            })?;
        Ok(NodeServer { child, port })
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn better_sse_peer_delivers_every_event_once() -> anyhow::Result<()> {
    if !node_ready()? {
        return Ok(());
    }
    let server = NodeServer::start("server.js")?;
    let output = Command::new(env!("CARGO_BIN_EXE_ssehub-load"))
        .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
        .args(["--connections", "20", "--events", "50", "--publishers", "2"])
        .args(["--drain-seconds", "10", "--threads", "2"])
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ssehub-load failed: {stderr}");
    let stdout = String::from_utf8(output.stdout)?;
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    assert_eq!(report["connected"], 20, "{report}");
    assert_eq!(report["events_published"], 50, "{report}");
    assert_eq!(report["events_delivered"], 20 * 50, "{report}");
    for key in ["gaps", "duplicates", "reconnects", "lost_streams"] {
        assert_eq!(report[key], 0, "{key}: {report}");
    }
    Ok(())
}

#[test]
fn pushpin_origin_holds_streams_with_grip() -> anyhow::Result<()> {
    if !node_ready()? {
        return Ok(());
    }
    let server = NodeServer::start("pushpin-origin.js")?;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(
        b"GET /events?topic=bench HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n",
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let head = answer.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{answer}");
    for header in [
        "grip-hold: stream",
        "grip-channel: bench",
        "content-type: text/event-stream",
    ] {
        assert!(head.contains(header), "{header} missing: {answer}");
    }
    Ok(())
}
