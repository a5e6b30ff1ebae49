//! Interoperability with nginx and its Nchan module: the test starts its own
//! nginx (never the system service) on a free loopback port, with a config,
//! pid file, logs and temp paths in a temporary directory; it publishes with
//! HTTP POSTs and reads the EventSource location with `EventSource`.
//!
//! Needs `/usr/sbin/nginx` and the Nchan module (Debian `nginx-light` and
//! `libnginx-mod-nchan`; `scripts/test` installs them). Without them the test
//! is skipped with a message, unless `SSEHUB_REQUIRE_NCHAN=1` (as
//! `scripts/test` sets), when it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use ssehub_client::{Event, EventSource, MessageEvent};
use tokio::time::timeout;

const NGINX: &str = "/usr/sbin/nginx";
const NCHAN: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";
const GUARD: Duration = Duration::from_secs(30);

struct Nginx {
    dir: PathBuf,
    child: tokio::process::Child,
    base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"load_module {NCHAN};
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /pub {{
            nchan_publisher;
            nchan_channel_id test;
            nchan_message_buffer_length 100;
            nchan_message_timeout 5m;
        }}
        location = /sub {{
            nchan_subscriber eventsource;
            nchan_channel_id test;
            # A subscriber without Last-Event-ID gets the whole buffer, so a
            # reconnection that forgot it would show duplicates.
            nchan_subscriber_first_message oldest;
            # Nchan ends each subscriber's response after a second: the
            # server-side cut the client must resume across.
            nchan_subscriber_timeout 1;
        }}
    }}
}}
"#
    )
}

async fn start() -> Option<Nginx> {
    if !Path::new(NGINX).exists() || !Path::new(NCHAN).exists() {
        let required = std::env::var("SSEHUB_REQUIRE_NCHAN").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{NGINX} or {NCHAN} is missing: install nginx-light and libnginx-mod-nchan"
        );
        eprintln!(
            "skipped: {NGINX} or {NCHAN} is missing (install nginx-light and libnginx-mod-nchan)"
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("ssehub-nchan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A free port: the kernel picks one, nginx takes it over.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config(&dir, port)).unwrap();
    let child = tokio::process::Command::new(NGINX)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf)
        // One process in the foreground: killing it leaves nothing behind.
        .args(["-g", "daemon off; master_process off;"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut nginx = Nginx {
        dir,
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    // Ready when it accepts connections (polled, with a guard).
    timeout(GUARD, async {
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited with {status}: {log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("nginx did not start");
    Some(nginx)
}

async fn publish(http: &ssehub_client::reqwest::Client, base: &str, data: &str) {
    let res = http
        .post(format!("{base}/pub"))
        .header("content-type", "text/plain")
        .body(data.to_owned())
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "publish: {}", res.status());
}

async fn next_message(events: &mut EventSource, reconnects: &mut u32) -> MessageEvent {
    loop {
        match timeout(GUARD, events.next()).await.expect("no event came") {
            Some(Ok(Event::Message(m))) => return m,
            Some(Ok(Event::Reconnecting { .. })) => *reconnects += 1,
            Some(Ok(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_resumes_an_nchan_eventsource() {
    let Some(nginx) = start().await else { return };
    let http = ssehub_client::reqwest::Client::new();
    let base = nginx.base.clone();
    for n in 1..=3 {
        publish(&http, &base, &format!("m{n}")).await;
    }

    let mut events = EventSource::builder(format!("{base}/sub"))
        .retry(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut reconnects = 0;
    let mut got = Vec::new();
    for _ in 1..=3 {
        got.push(next_message(&mut events, &mut reconnects).await);
    }
    // Wait for Nchan's cut, then publish while the client reconnects.
    while reconnects == 0 {
        match timeout(GUARD, events.next()).await.expect("no cut came") {
            Some(Ok(Event::Reconnecting { .. })) => reconnects += 1,
            Some(Ok(Event::Message(m))) => panic!("unexpected {m:?}"),
            Some(Ok(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    for n in 4..=6 {
        publish(&http, &base, &format!("m{n}")).await;
    }
    for _ in 4..=6 {
        got.push(next_message(&mut events, &mut reconnects).await);
    }
    let data: Vec<&str> = got.iter().map(|m| m.data.as_str()).collect();
    assert_eq!(
        data,
        ["m1", "m2", "m3", "m4", "m5", "m6"],
        "each once, in order"
    );
    assert!(got.iter().all(|m| !m.last_event_id.is_empty()));
    drop(events);

    // The premise of the duplicate check above: without Last-Event-ID, Nchan
    // replays its whole buffer.
    let mut fresh = EventSource::new(format!("{base}/sub")).unwrap();
    assert_eq!(next_message(&mut fresh, &mut reconnects).await.data, "m1");
    drop(fresh);

    // A new client resuming from a stored id gets exactly what came after it.
    let mut resumed = EventSource::builder(format!("{base}/sub"))
        .retry(Duration::from_millis(50))
        .last_event_id(got[3].last_event_id.clone())
        .build()
        .unwrap();
    let mut rest = Vec::new();
    for _ in 5..=6 {
        rest.push(next_message(&mut resumed, &mut reconnects).await.data);
    }
    assert_eq!(rest, ["m5", "m6"]);
    publish(&http, &base, "m7").await;
    assert_eq!(next_message(&mut resumed, &mut reconnects).await.data, "m7");
}
