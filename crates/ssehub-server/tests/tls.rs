//! `ssehub serve --tls-cert --tls-key`: HTTPS with HTTP/2 and HTTP/1.1, real
//! processes on loopback with certificates made here. HTTP/2 streams share a
//! connection, a stalled one is cut alone, and certificates rotate on SIGHUP
//! without dropping open streams.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Logged, TempDir};
use futures_util::StreamExt;
use serde_json::json;
use ssehub_core::Item;
use tokio::net::TcpStream;
use tokio::time::timeout;

const GUARD: Duration = Duration::from_secs(30);

/// A hub on HTTPS with the certificate `cert` made in `dir`; returns it and
/// the CA's DER.
fn https_hub(dir: &TempDir, extra: &[&str]) -> (Logged, Vec<u8>) {
    let (ca, _) = common::certificate(&dir.0, "cert");
    let (cert, key) = (dir.path("cert.pem"), dir.path("cert.key"));
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    args.extend_from_slice(extra);
    (Logged::serve(&args), ca)
}

fn port(hub: &Logged) -> u16 {
    hub.addr.rsplit(':').next().unwrap().parse().unwrap()
}

fn client(ca: &[u8], http1: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(ca).unwrap());
    let builder = if http1 { builder.http1_only() } else { builder };
    builder.build().unwrap()
}

/// A TLS connection to the hub that trusts `ca`, offering `alpn`.
async fn tls(port: u16, ca: &[u8], alpn: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.to_vec().into()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// A raw HTTP/2 connection (its connection-level window large, each
/// stream's the default 64 KiB), driven in the background.
async fn h2_connection(port: u16, ca: &[u8]) -> h2::client::SendRequest<Bytes> {
    let io = tls(port, ca, b"h2").await;
    let (send, conn) = h2::client::Builder::new()
        .initial_connection_window_size(16 << 20)
        .handshake(io)
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn open_stream(
    send: &mut h2::client::SendRequest<Bytes>,
    port: u16,
    topic: &str,
) -> h2::RecvStream {
    let mut ready = send.clone().ready().await.unwrap();
    let request =
        axum::http::Request::get(format!("https://localhost:{port}/events?topic={topic}"))
            .body(())
            .unwrap();
    let (response, _) = ready.send_request(request, true).unwrap();
    let response = timeout(GUARD, response).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    *send = ready;
    response.into_body()
}

/// Reads `body` (releasing what it reads) until its text contains `want`.
async fn read_until(body: &mut h2::RecvStream, want: &str) -> String {
    let mut text = String::new();
    while !text.contains(want) {
        let chunk = timeout(GUARD, body.data())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} within 30 s; got {text:?}"))
            .expect("stream ended")
            .unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    text
}

#[tokio::test]
async fn https_serves_events_over_http2_and_http1() {
    let dir = TempDir::new("tls");
    let (hub, ca) = https_hub(&dir, &[]);
    let base = format!("https://localhost:{}", port(&hub));
    let listening = hub
        .wait_log("listening", |l| {
            Logged::message(l).starts_with("listening on")
        })
        .await;
    assert!(
        Logged::message(&listening).starts_with("listening on https://"),
        "{listening}"
    );

    for http1 in [false, true] {
        let http = client(&ca, http1);
        // The headers come at once, though no event and no keep-alive (every
        // 15 s) has been written yet: the client is subscribed from then on.
        let res = timeout(
            Duration::from_secs(10),
            http.get(format!("{base}/events?topic=news")).send(),
        )
        .await
        .expect("the response headers before any body")
        .unwrap();
        assert_eq!(res.status(), 200);
        let want = if http1 {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(res.version(), want);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let mut events = common::items(res);
        let published = http
            .post(format!("{base}/publish"))
            .json(&json!({"topic": "news", "data": format!("over {want:?}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(published.status(), 200);
        assert_eq!(published.version(), want);
        // The retry hint comes in the first event's block.
        let item = timeout(GUARD, events.next()).await.unwrap();
        assert!(matches!(item, Some(Ok(Item::Retry(2000)))), "{item:?}");
        assert_eq!(
            common::next_data(&mut events).await,
            format!("over {want:?}")
        );
    }

    // Not TLS at all: the connection is closed, the hub serves on.
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", port(&hub))).await;
    assert!(plain.is_err(), "{plain:?}");
    let healthy = client(&ca, false)
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
}

#[tokio::test]
async fn ten_streams_share_one_http2_connection() {
    let dir = TempDir::new("tls-many");
    let (hub, ca) = https_hub(&dir, &[]);
    let port = port(&hub);
    let mut send = h2_connection(port, &ca).await;
    let mut bodies = Vec::new();
    for i in 0..10 {
        bodies.push(open_stream(&mut send, port, &format!("t{i}")).await);
    }
    let http = client(&ca, false);
    for i in 0..10 {
        let res = http
            .post(format!("https://localhost:{port}/publish"))
            .json(&json!({"topic": format!("t{i}"), "data": format!("to t{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    for (i, body) in bodies.iter_mut().enumerate() {
        let text = read_until(body, &format!("data: to t{i}\n")).await;
        assert!(!text.contains(&format!("to t{}", (i + 1) % 10)), "{text}");
    }
}

#[tokio::test]
async fn a_stalled_http2_stream_is_cut_while_another_on_its_connection_keeps_receiving() {
    let dir = TempDir::new("tls-stall");
    let (hub, ca) = https_hub(&dir, &[]);
    let port = port(&hub);
    let mut send = h2_connection(port, &ca).await;
    let mut stalled = open_stream(&mut send, port, "slow").await;
    let mut reading = open_stream(&mut send, port, "fast").await;
    let http = client(&ca, false);
    let publish = |topic: &'static str, data: String| {
        let http = http.clone();
        async move {
            let res = http
                .post(format!("https://localhost:{port}/publish"))
                .json(&json!({"topic": topic, "data": data}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
    };
    // Far more than the stream's window, hyper's send buffer and the hub's
    // 256 KiB queue: the lag policy must cut the stalled stream.
    let big = "x".repeat(8 << 10);
    for i in 0..300 {
        publish("slow", format!("{i} {big}")).await;
        if i % 100 == 0 {
            publish("fast", format!("fast {i}")).await;
            read_until(&mut reading, &format!("data: fast {i}\n")).await;
        }
    }
    // The stalled stream: what its window let through, then a reset.
    let reset = timeout(GUARD, async {
        let mut received = 0;
        loop {
            match stalled.data().await {
                Some(Ok(chunk)) => received += chunk.len(),
                Some(Err(e)) => break (e, received),
                None => panic!("the stalled stream ended cleanly instead of being reset"),
            }
        }
    })
    .await
    .expect("the stalled stream was never cut");
    assert_eq!(reset.0.reason(), Some(h2::Reason::CANCEL), "{:?}", reset.0);
    assert!(
        reset.1 <= 64 << 10,
        "{} bytes passed a 64 KiB window",
        reset.1
    );
    // The other stream on the same connection goes on.
    publish("fast", "after the cut".into()).await;
    read_until(&mut reading, "data: after the cut\n").await;
    let lagged = hub
        .wait_log("the stalled stream closed for lagging", |l| {
            Logged::message(l) == "stream closed" && l["fields"]["reason"] == "lagged"
        })
        .await;
    assert!(lagged["fields"]["bytes"].as_u64() > Some(0), "{lagged}");
}

#[tokio::test]
async fn certificates_rotate_on_sighup_without_dropping_streams() {
    let dir = TempDir::new("tls-rotate");
    let (hub, ca1) = https_hub(&dir, &[]);
    let port = port(&hub);
    // A stream over HTTP/1.1 (the direct writer) and one over HTTP/2, both
    // on the first certificate.
    let (mut h1_events, mut h2_body) = {
        let res = client(&ca1, true)
            .get(format!("https://localhost:{port}/events?topic=news"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut send = h2_connection(port, &ca1).await;
        (
            common::items(res),
            open_stream(&mut send, port, "news").await,
        )
    };

    // The renewal: new files, then SIGHUP.
    let (ca2, cert2) = {
        let renewed = TempDir::new("tls-renewed");
        let made = common::certificate(&renewed.0, "cert");
        for file in ["cert.pem", "cert.key"] {
            std::fs::copy(renewed.0.join(file), dir.0.join(file)).unwrap();
        }
        made
    };
    common::signal(&hub.child, "HUP");
    hub.wait_log("reloaded", |l| {
        Logged::message(l) == "SIGHUP: certificates reloaded"
    })
    .await;
    let fresh = tls(port, &ca2, b"h2").await;
    let served = fresh.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    assert_eq!(served, cert2, "a new connection gets the new certificate");

    // A broken renewal keeps the certificate that works.
    std::fs::write(dir.0.join("cert.key"), "not a key").unwrap();
    common::signal(&hub.child, "HUP");
    hub.wait_log("not reloaded", |l| {
        Logged::message(l).starts_with("SIGHUP: certificates not reloaded")
    })
    .await;
    let again = tls(port, &ca2, b"http/1.1").await;
    assert_eq!(
        again.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        cert2
    );

    // The streams opened before are still live.
    let res = client(&ca2, false)
        .post(format!("https://localhost:{port}/publish"))
        .json(&json!({"topic": "news", "data": "after the renewal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    read_until(&mut h2_body, "data: after the renewal\n").await;
    assert_eq!(common::next_data(&mut h1_events).await, "after the renewal");
}

#[tokio::test]
async fn bad_certificate_files_exit_with_a_message() {
    let dir = TempDir::new("tls-bad");
    common::certificate(&dir.0, "cert");
    std::fs::write(dir.0.join("empty.pem"), "").unwrap();
    let (cert, key) = (dir.path("cert.pem"), dir.path("cert.key"));
    let other = TempDir::new("tls-other");
    common::certificate(&other.0, "cert");
    let other_key = other.path("cert.key");
    let missing = dir.path("missing.pem");
    let empty = dir.path("empty.pem");
    let cases: [(&[&str], &str); 4] = [
        (&["--tls-cert", &missing, "--tls-key", &key], "missing.pem"),
        (&["--tls-cert", &empty, "--tls-key", &key], "empty.pem"),
        (&["--tls-cert", &cert, "--tls-key", &other_key], "cert.key"),
        (&["--tls-cert", &cert], "--tls-key"),
    ];
    for (args, names) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ssehub"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
}
