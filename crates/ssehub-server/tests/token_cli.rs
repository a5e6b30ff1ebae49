//! Secrets as processes see them: `ssehub token` mints tokens that a real
//! `ssehub serve --jwt-secret-file` accepts, bad secrets and bad flags exit
//! non-zero with a message, `--help` never shows a secret from the
//! environment, and a token in the query string never reaches the logs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{data, next_events, serve, Items};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use ssehub_core::EventStream;

/// The secret of these tests, as the hub's file holds it less its newline.
const SECRET: &str = "a secret for the CLI tests, long enough for HS256";

/// Variables that would change what the commands under test do.
const OURS: [&str; 6] = [
    "SSEHUB_JWT_SECRET",
    "SSEHUB_JWT_SECRET_FILE",
    "SSEHUB_TOKEN",
    "SSEHUB_REDIS",
    "SSEHUB_URL",
    "SSEHUB_CONFIG",
];

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssehub-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `ssehub ARGS` to its exit (at most 20 s) with only `env` of our
/// variables set.
fn ssehub(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub"));
    for var in OURS {
        command.env_remove(var);
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("`ssehub {}` did not exit within 20 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `ssehub ARGS` fails with a message on stderr containing each of `words`.
fn fails_saying(args: &[&str], env: &[(&str, &str)], words: &[&str]) {
    let out = ssehub(args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "`ssehub {}` succeeded: {stderr}",
        args.join(" ")
    );
    for word in words {
        assert!(
            stderr.contains(word),
            "`ssehub {}`: {word:?} not in {stderr:?}",
            args.join(" ")
        );
    }
}

/// `ssehub token ARGS`: the token, which is all of stdout but its newline.
fn mint(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = ssehub(&[&["token"][..], args].concat(), env);
    assert!(
        out.status.success(),
        "ssehub token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(!token.is_empty() && !token.contains(char::is_whitespace));
    token.to_owned()
}

/// The claims of `token`, its HS256 signature with [`SECRET`] checked.
fn claims(token: &str) -> Value {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Status and body of `GET /events?QUERY` with `token` as a bearer.
async fn subscribe(base: &str, query: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/events?{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn publish(base: &str, topic: &str, data: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/publish"))
        .bearer_auth(token)
        .json(&json!({"topic": topic, "data": data}))
        .send()
        .await
        .unwrap()
}

/// A 403's error code.
async fn forbidden(response: reqwest::Response) -> bool {
    response.status() == 403 && response.json::<Value>().await.unwrap()["error"] == "forbidden"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_are_accepted_by_serve_with_a_secret_file() {
    let dir = temp_dir("token-accepted");
    // A CRLF after the secret, as an editor on Windows leaves it.
    let file = write(&dir, "secret", &format!("{SECRET}\r\n"));
    let (child, addr) = serve(
        &[
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--jwt-secret-file",
            &file,
        ],
        &[],
    );
    let base = format!("http://{addr}");

    let alice = mint(
        &[
            "--secret-file",
            &file,
            "--subscribe",
            "chat/*",
            "--subscribe",
            "news/**",
            "--publish",
            "chat/*",
            "--sub",
            "alice",
        ],
        &[],
    );
    let c = claims(&alice);
    assert_eq!(
        c["ssehub"],
        json!({"publish": ["chat/*"], "subscribe": ["chat/*", "news/**"]})
    );
    assert_eq!(c["sub"], "alice");
    let iat = c["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now()) <= 60, "iat {iat} is now");
    assert_eq!(c["exp"].as_u64().unwrap() - iat, 3600, "the default ttl");

    // A granted topic: a stream, which a granted publish reaches.
    let stream = subscribe(&base, "topic=chat/1", &alice).await;
    assert_eq!(stream.status(), 200);
    let mut items: Items = Box::pin(EventStream::new(stream.bytes_stream()));
    let published = publish(&base, "chat/1", "hello from alice", &alice).await;
    assert_eq!(published.status(), 200);
    assert_eq!(
        data(&next_events(&mut items, 1).await),
        ["hello from alice"]
    );
    // The token also works in the query string, as EventSource sends it.
    let by_query = reqwest::get(format!("{base}/events?topic=news/a/b&token={alice}"))
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
    drop(by_query);
    // Outside the grants: 403.
    assert!(forbidden(publish(&base, "news/1", "x", &alice).await).await);
    assert!(forbidden(publish(&base, "chat/1/x", "x", &alice).await).await);
    assert!(forbidden(subscribe(&base, "topic=other", &alice).await).await);

    // The secret given as SSEHUB_JWT_SECRET (no newline) signs the same
    // tokens: the server stripped exactly the CRLF from its file.
    let by_env = mint(
        &["--subscribe", "chat/*", "--sub", "bob", "--ttl", "15m"],
        &[("SSEHUB_JWT_SECRET", SECRET)],
    );
    let c = claims(&by_env);
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 900);
    assert_eq!(
        subscribe(&base, "topic=chat/2", &by_env).await.status(),
        200
    );
    // No publish grant: 403.
    assert!(forbidden(publish(&base, "chat/2", "x", &by_env).await).await);

    // Only a subject and the admin claim.
    let admin = mint(
        &[
            "--secret-file",
            &file,
            "--sub",
            "root",
            "--admin",
            "--ttl",
            "7d",
        ],
        &[],
    );
    let c = claims(&admin);
    assert_eq!(
        c["ssehub"],
        json!({"publish": [], "subscribe": [], "admin": true})
    );
    assert_eq!(c["sub"], "root");
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        7 * 86400
    );
    assert!(claims(&alice)["ssehub"].get("admin").is_none());
    // A subject alone is a valid token: refused for lack of a grant (403),
    // not as invalid (401).
    let carol = mint(&["--secret-file", &file, "--sub", "carol"], &[]);
    let c = claims(&carol);
    assert_eq!(c["ssehub"], json!({"publish": [], "subscribe": []}));
    assert_eq!(c["sub"], "carol");
    assert!(forbidden(subscribe(&base, "topic=chat/5", &carol).await).await);

    // A token of one second: refused with 401 once it has expired.
    let brief = mint(
        &[
            "--secret-file",
            &file,
            "--subscribe",
            "chat/*",
            "--ttl",
            "1s",
        ],
        &[],
    );
    let c = claims(&brief);
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refusal = loop {
        let response = subscribe(&base, "topic=chat/3", &brief).await;
        match response.status().as_u16() {
            200 => {
                drop(response);
                assert!(Instant::now() < deadline, "still valid after 10 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            401 => break response.json::<Value>().await.unwrap(),
            other => panic!("expected 200, then 401; got {other}"),
        }
    };
    assert_eq!(refusal["error"], "invalid_token");
    assert!(
        refusal["message"].as_str().unwrap().contains("expired"),
        "{refusal}"
    );

    // A token signed with another secret: 401.
    let other = write(&dir, "other", "another secret\n");
    let forged = mint(&["--secret-file", &other, "--subscribe", "chat/*"], &[]);
    assert_eq!(
        subscribe(&base, "topic=chat/4", &forged).await.status(),
        401
    );

    drop(items);
    common::terminate(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_file_is_also_a_config_key() {
    let dir = temp_dir("token-config");
    let file = write(&dir, "secret", &format!("{SECRET}\n"));
    let config = write(
        &dir,
        "ssehub.toml",
        &format!("listen = \"127.0.0.1:0\"\njwt-secret-file = {file:?}\n"),
    );
    let (child, addr) = serve(&["--config", &config, "--log-format", "json"], &[]);
    let base = format!("http://{addr}");
    let token = mint(&["--secret-file", &file, "--subscribe", "a"], &[]);
    let anonymous = reqwest::get(format!("{base}/events?topic=a"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "the hub has a key");
    assert_eq!(subscribe(&base, "topic=a", &token).await.status(), 200);
    common::terminate(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_secrets_and_flags_exit_non_zero_with_a_message() {
    let dir = temp_dir("token-bad");
    let good = write(&dir, "good", SECRET);
    let missing = dir.join("missing").to_str().unwrap().to_owned();
    let empty = write(&dir, "empty", "\n");
    fn serve_with<'a>(more: &[&'a str]) -> Vec<&'a str> {
        [&["serve", "--listen", "127.0.0.1:0"][..], more].concat()
    }
    fails_saying(
        &serve_with(&["--jwt-secret-file", &missing]),
        &[],
        &["--jwt-secret-file", &missing, "No such file"],
    );
    fails_saying(
        &serve_with(&["--jwt-secret-file", &empty]),
        &[],
        &["--jwt-secret-file", &empty, "empty"],
    );
    fails_saying(
        &serve_with(&["--jwt-secret", "s", "--jwt-secret-file", &good]),
        &[],
        &["--jwt-secret", "--jwt-secret-file", "both"],
    );
    // The same from the environment.
    fails_saying(
        &serve_with(&[]),
        &[
            ("SSEHUB_JWT_SECRET", "s"),
            ("SSEHUB_JWT_SECRET_FILE", good.as_str()),
        ],
        &["SSEHUB_JWT_SECRET", "--jwt-secret-file", "both"],
    );
    fails_saying(
        &serve_with(&[]),
        &[("SSEHUB_JWT_SECRET_FILE", empty.as_str())],
        &["--jwt-secret-file", &empty, "empty"],
    );
    fails_saying(
        &serve_with(&["--jwt-secret", ""]),
        &[],
        &["--jwt-secret", "empty"],
    );
    // An empty variable is an empty secret, not an open hub.
    fails_saying(
        &serve_with(&[]),
        &[("SSEHUB_JWT_SECRET", "")],
        &["SSEHUB_JWT_SECRET", "empty"],
    );

    fails_saying(&["token", "--sub", "alice"], &[], &["no secret"]);
    fails_saying(
        &["token", "--secret-file", &missing],
        &[],
        &["--secret-file", &missing, "No such file"],
    );
    fails_saying(
        &["token", "--secret-file", &empty],
        &[],
        &["--secret-file", &empty, "empty"],
    );
    fails_saying(
        &["token", "--secret-file", &good],
        &[("SSEHUB_JWT_SECRET", "s")],
        &["SSEHUB_JWT_SECRET", "--secret-file", "both"],
    );
    for ttl in ["1x", "1.5h", "h", "0s", "-1h", "1h30m"] {
        fails_saying(
            &["token", "--secret-file", &good, &format!("--ttl={ttl}")],
            &[],
            &["--ttl", ttl],
        );
    }
    fails_saying(
        &["token", "--secret-file", &good, "--ttl", "90x"],
        &[],
        &["a whole number and a unit, s, m, h or d"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_never_shows_a_secret_from_the_environment() {
    // Each value, and the distinctive part that must not show either.
    let secrets = [
        ("SSEHUB_JWT_SECRET", "jwt-secret-d41d8cd9", "d41d8cd9"),
        ("SSEHUB_TOKEN", "token-8f00b204e98", "8f00b204e98"),
        ("SSEHUB_REDIS", "redis://:pw-e9800998@db:6379", "e9800998"),
        ("SSEHUB_URL", "http://user:pw-ecf8427e@hub", "ecf8427e"),
    ];
    let env: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(var, value, _)| (*var, *value))
        .collect();
    for command in [
        &[][..],
        &["serve"],
        &["publish"],
        &["tail"],
        &["token"],
        &["parse"],
    ] {
        for help in ["--help", "-h"] {
            let args = [command, &[help]].concat();
            let out = ssehub(&args, &env);
            assert!(out.status.success(), "ssehub {args:?}");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("Usage"), "ssehub {args:?}: {text}");
            for (var, _, secret) in secrets {
                assert!(
                    !text.contains(secret),
                    "ssehub {args:?} shows {var}: {text}"
                );
            }
        }
    }
}

/// `ssehub serve` logging everything (`RUST_LOG=trace`, JSON); the log so far
/// is in the `Arc`, complete once the reader thread has ended.
fn serve_logging(args: &[&str]) -> (Child, String, Arc<Mutex<String>>, JoinHandle<()>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub"));
    for var in OURS {
        command.env_remove(var);
    }
    let mut child = command
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("RUST_LOG", "trace")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(Mutex::new(String::new()));
    let addr = loop {
        let line = lines.next().expect("a log line").unwrap();
        log.lock().unwrap().push_str(&line);
        let entry: Value = serde_json::from_str(&line).expect("JSON logs");
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_owned();
        }
    };
    let all = log.clone();
    let reader = std::thread::spawn(move || {
        for line in lines {
            all.lock().unwrap().push_str(&line.unwrap());
        }
    });
    (child, addr, log, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_the_query_string_are_never_logged() {
    let dir = temp_dir("token-logs");
    let file = write(&dir, "secret", SECRET);
    let (child, addr, log, reader) = serve_logging(&["--jwt-secret-file", &file]);
    let base = format!("http://{addr}");
    let token = mint(
        &["--secret-file", &file, "--subscribe", "t", "--publish", "t"],
        &[],
    );
    let other = write(&dir, "other", "another secret");
    let forged = mint(&["--secret-file", &other, "--subscribe", "t"], &[]);
    let http = reqwest::Client::new();
    let get = |query: String| reqwest::get(format!("{base}/events?{query}"));
    // Accepted, refused (403) and invalid (401), in the query and in a header.
    let stream = get(format!("topic=t&token={token}")).await.unwrap();
    assert_eq!(stream.status(), 200);
    let refused = get(format!("topic=u&token={token}")).await.unwrap();
    assert_eq!(refused.status(), 403);
    let invalid = get(format!("topic=t&token={forged}")).await.unwrap();
    assert_eq!(invalid.status(), 401);
    let posted = http
        .post(format!("{base}/publish?token={token}"))
        .json(&json!({"topic": "t", "data": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let posted = http
        .post(format!("{base}/publish"))
        .bearer_auth(&forged)
        .json(&json!({"topic": "t", "data": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 401);
    drop(stream);
    common::terminate(child);
    reader.join().unwrap();

    let log = log.lock().unwrap();
    assert!(log.contains("refused"), "the refusals are logged: {log}");
    for secret in [&token, &forged] {
        // The signature alone is enough to forge nothing, but it is the
        // token's secret part: none of it may show.
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token in the log: {log}");
    }
    assert!(!log.contains(SECRET));
    std::fs::remove_dir_all(&dir).unwrap();
}
