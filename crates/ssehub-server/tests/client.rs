//! `ssehub-client` against the real hub (`ssehub_server::router`), with a
//! middleware that cuts streams server-side, and `ssehub tail` as a process
//! against a scripted server.

#[path = "../../ssehub-client/tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{json, Value};
use ssehub::{Event as HubEvent, Hub};
use ssehub_client::{Event, EventSource, RemoteSignal};
use support::{Script, GUARD, SSE_CLOSE};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

/// Cuts and holds `/events` streams on the test's command.
#[derive(Default)]
struct Cutter {
    /// `Last-Event-ID` of each `/events` request, in order.
    requests: Mutex<Vec<Option<String>>>,
    /// Bumped to end every `/events` stream open at that time.
    cut: watch::Sender<u64>,
    /// While true, new `/events` requests wait.
    hold: watch::Sender<bool>,
}

impl Cutter {
    /// Ends every open stream; new ones wait until [`Cutter::release`].
    fn cut(&self) {
        self.hold.send_replace(true);
        self.cut.send_modify(|generation| *generation += 1);
    }

    fn release(&self) {
        self.hold.send_replace(false);
    }

    fn requests(&self) -> Vec<Option<String>> {
        self.requests.lock().unwrap().clone()
    }
}

async fn cut_and_hold(State(c): State<Arc<Cutter>>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/events" {
        return next.run(request).await;
    }
    let last_event_id = request
        .headers()
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    c.requests.lock().unwrap().push(last_event_id);
    let _ = c.hold.subscribe().wait_for(|hold| !*hold).await;
    let mut cut = c.cut.subscribe();
    let response = next.run(request).await;
    response.map(|body| {
        let chunks = futures_util::stream::unfold(
            (body.into_data_stream(), cut.clone()),
            |(mut chunks, mut cut)| async move {
                let chunk = tokio::select! {
                    biased;
                    _ = cut.changed() => return None,
                    chunk = chunks.next() => chunk?,
                };
                Some((chunk, (chunks, cut)))
            },
        );
        let _ = cut.borrow_and_update();
        Body::from_stream(chunks)
    })
}

/// The hub's router behind the cutter, on `127.0.0.1:0`; returns its base URL.
async fn serve(hub: &Hub, cutter: &Arc<Cutter>) -> String {
    let app = ssehub_server::router(hub.clone(), ssehub_server::Config::default()).layer(
        middleware::from_fn_with_state(Arc::clone(cutter), cut_and_hold),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn hub() -> Hub {
    Hub::builder()
        .retry(Some(Duration::from_millis(10)))
        .keepalive(None)
        .build()
}

async fn publish(hub: &Hub, data: &str) -> String {
    let event = HubEvent::builder().data(data).build().unwrap();
    hub.publish("t", event).await.unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_across_a_server_side_cut_with_nothing_lost_or_repeated() {
    let hub = hub();
    let cutter = Arc::new(Cutter::default());
    let base = serve(&hub, &cutter).await;
    let mut events = EventSource::new(format!("{base}/events?topic=t")).unwrap();

    // A reader task: every message and reconnect, in order.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if tx.send(event.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut recv = async || {
        tokio::time::timeout(GUARD, rx.recv())
            .await
            .expect("nothing came")
            .expect("the reader ended")
    };
    let mut received = Vec::new();
    let mut ids = Vec::new();

    // Subscribed once the hub counts the stream (before its response
    // headers go out): every later publish reaches it.
    tokio::time::timeout(GUARD, async {
        while hub.stats().connections == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the client did not connect");
    for n in 1..=5 {
        ids.push(publish(&hub, &n.to_string()).await);
    }
    // The hub's retry hint comes in the first event's block.
    assert!(matches!(recv().await, Event::Retry(10)));
    while received.len() < 5 {
        match recv().await {
            Event::Message(m) => received.push(m),
            other => panic!("unexpected {other:?}"),
        }
    }
    cutter.cut();
    // The client sees the end of its stream and reconnects; the hub gets
    // five more events while the reconnection is held.
    loop {
        if let Event::Reconnecting { .. } = recv().await {
            break;
        }
    }
    for n in 6..=10 {
        ids.push(publish(&hub, &n.to_string()).await);
    }
    cutter.release();
    for n in 11..=12 {
        ids.push(publish(&hub, &n.to_string()).await);
    }
    while received.len() < 12 {
        match recv().await {
            Event::Message(m) => received.push(m),
            Event::Retry(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let data: Vec<String> = received.iter().map(|m| m.data.clone()).collect();
    let expected: Vec<String> = (1..=12).map(|n| n.to_string()).collect();
    assert_eq!(data, expected, "every event once, in order");
    let seen_ids: Vec<String> = received.iter().map(|m| m.last_event_id.clone()).collect();
    assert_eq!(seen_ids, ids);
    assert_eq!(cutter.requests(), vec![None, Some(ids[4].clone())]);
    // The hub counts a resume, not a reset.
    let stats = hub.stats();
    assert_eq!((stats.resumes, stats.resets), (1, 0), "resumed, not reset");
    reader.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_signal_converges_after_updates_cuts_and_resets() {
    let hub = Hub::builder()
        .retry(Some(Duration::from_millis(10)))
        .keepalive(None)
        .history_events(4)
        .build();
    let cutter = Arc::new(Cutter::default());
    let base = serve(&hub, &cutter).await;
    let todo = hub.signal("todo", json!({ "items": [] })).await.unwrap();

    let remote = RemoteSignal::<Value>::connect(&base, "todo").await.unwrap();
    let mut rx = remote.subscribe();
    let converged = async |rx: &mut watch::Receiver<_>, version: u64, value: Value| {
        let current = tokio::time::timeout(
            GUARD,
            rx.wait_for(|v: &ssehub_client::Versioned<Value>| v.version == version),
        )
        .await
        .expect("the remote signal did not converge")
        .expect("the remote signal ended")
        .clone();
        assert_eq!(current.value, value);
    };
    let add = async |text: &str| {
        todo.update(|t| {
            t["items"]
                .as_array_mut()
                .unwrap()
                .push(json!({ "text": text }))
        })
        .await
        .unwrap()
    };

    // Updates.
    let mut version = 0;
    for text in ["a", "b", "c"] {
        version = add(text).await;
    }
    converged(&mut rx, version, todo.get().await.unwrap()).await;

    // A cut within history: the client resumes and applies the patches it missed.
    cutter.cut();
    for text in ["d", "e"] {
        version = add(text).await;
    }
    cutter.release();
    converged(&mut rx, version, todo.get().await.unwrap()).await;
    let requests = cutter.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[1].is_some(), "resumed with Last-Event-ID");
    // A reset and a fresh snapshot would converge too: the hub's counts say
    // it was a resume.
    let stats = hub.stats();
    assert_eq!((stats.resumes, stats.resets), (1, 0), "resumed, not reset");

    // A cut past history: the hub resets, the client takes a new snapshot.
    cutter.cut();
    for text in ["f", "g", "h", "i", "j", "k"] {
        version = add(text).await;
    }
    cutter.release();
    converged(&mut rx, version, todo.get().await.unwrap()).await;
    let stats = hub.stats();
    assert_eq!((stats.resumes, stats.resets), (1, 1), "this time a reset");
    assert_eq!(remote.version(), version);
    assert_eq!(remote.get()["items"].as_array().unwrap().len(), 11);
}

/// Runs `ssehub tail ARGS` and returns (exit success, stdout, stderr).
async fn tail(args: &[&str]) -> (bool, String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .arg("tail")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let status = tokio::time::timeout(GUARD, async {
        let (a, b) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        a.unwrap();
        b.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("ssehub tail did not exit");
    (status.success(), out, err)
}

#[tokio::test]
async fn tail_prints_json_lines_reconnects_and_exits_0_on_204() {
    let script = Script::bind().await;
    let url = script.url("/events");
    let server = tokio::spawn(async move {
        let mut conn = script.accept().await;
        assert_eq!(conn.request.target, "/events?topic=a&topic=b%2Fc");
        assert_eq!(conn.request.header("authorization"), Some("Bearer tok"));
        assert_eq!(conn.request.header("x-one"), Some("1"));
        assert_eq!(conn.request.header("x-two"), Some("a:b"));
        assert_eq!(conn.request.header("last-event-id"), Some("0"));
        conn.write(SSE_CLOSE).await;
        conn.write(
            "retry: 10\n\nid: 1\nevent: note\ndata: hi\ndata: \"there\"\n\nid: 2\ndata: half",
        )
        .await;
        drop(conn);
        let conn = script.accept().await;
        assert_eq!(conn.request.header("last-event-id"), Some("1"));
        conn.no_content().await;
    });
    let (ok, out, err) = tail(&[
        &url,
        "--topic",
        "a",
        "--topic",
        "b/c",
        "--token",
        "tok",
        "--header",
        "X-One: 1",
        "--header",
        "x-two:a:b",
        "--last-event-id",
        "0",
    ])
    .await;
    server.await.unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "{\"retry\":10}\n{\"event\":\"note\",\"data\":\"hi\\n\\\"there\\\"\",\"id\":\"1\"}\n"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("reconnecting in 10 ms"), "{err}");
}

#[tokio::test]
async fn tail_exits_non_zero_with_a_message_on_401() {
    let script = Script::bind().await;
    let url = script.url("/events");
    let server = tokio::spawn(async move {
        script
            .accept()
            .await
            .respond(
                "401 Unauthorized",
                "application/json",
                r#"{"error":"unauthorized","message":"missing token"}"#,
            )
            .await;
    });
    let (ok, out, err) = tail(&[&url]).await;
    server.await.unwrap();
    assert!(!ok);
    assert_eq!(out, "");
    assert!(
        err.contains("401") && err.contains("missing token"),
        "{err}"
    );
}
