//! Every config of docs/deploy.md, exercised: the hub with the production
//! profile (`docs/deploy/ssehub.toml`) behind a real nginx
//! (`docs/deploy/nginx.conf`: TLS and HTTP/2 to the client) and a real
//! Caddy (`docs/deploy/Caddyfile`), each run from this test on free
//! loopback ports, and the systemd unit's command line
//! (`docs/deploy/ssehub.service`).
//!
//! Behind the proxy, per-IP limits count the forwarded address: two clients
//! (source addresses 127.0.0.2 and 127.0.0.3) are limited separately, a
//! spoofed `X-Forwarded-For` changes nothing, and the same header from a
//! peer that is not a trusted proxy is ignored. The logs show the clients'
//! addresses.
//!
//! Needs nginx and Caddy (Debian `nginx-light`, `caddy`; `scripts/test`
//! installs them): without them the test fails, unless
//! `SSEHUB_SKIP_PROXIES=1`.

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Logged, TempDir};
use serde_json::json;
use tokio::time::timeout;

const GUARD: Duration = Duration::from_secs(30);
const NGINX: &str = "/usr/sbin/nginx";
const CADDY: &str = "/usr/bin/caddy";

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced by `to`, which must be there.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the config no longer has {from:?}");
    text.replace(from, to)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn proxies_required() -> bool {
    std::env::var("SSEHUB_SKIP_PROXIES").map_or(true, |v| v != "1")
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something listens on `port`.
async fn listening(port: u16, what: &str) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never listened on {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The hub on the production profile, with a key, on a free port; per-IP
/// streams limited to 2 for the test.
fn production_hub(dir: &TempDir) -> Logged {
    std::fs::write(dir.0.join("ssehub.toml"), deploy_file("ssehub.toml")).unwrap();
    std::fs::write(
        dir.0.join("jwt-secret"),
        "a secret only the hub and its backends know\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssehub"));
    command
        .args([
            "serve",
            "--log-format",
            "json",
            "--config",
            &dir.path("ssehub.toml"),
        ])
        .args(["--jwt-secret-file", &dir.path("jwt-secret")])
        .env("SSEHUB_LISTEN", "127.0.0.1:0")
        .env("SSEHUB_MAX_CONNECTIONS_PER_IP", "2");
    Logged::spawn(command)
}

/// A publish token from `ssehub token`.
fn publisher_token(dir: &TempDir) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ssehub"))
        .args([
            "token",
            "--secret-file",
            &dir.path("jwt-secret"),
            "--publish",
            "public/**",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// nginx with docs/deploy/nginx.conf (its server block as given, with this
/// test's port, certificate and hub), in `dir`.
async fn nginx(dir: &TempDir, hub: &str) -> Option<(Proc, u16)> {
    if !Path::new(NGINX).exists() {
        assert!(
            !proxies_required(),
            "{NGINX} is missing: install nginx-light"
        );
        return None;
    }
    let port = free_port();
    let site = deploy_file("nginx.conf");
    let site = replaced(&site, "server 127.0.0.1:8080;", &format!("server {hub};"));
    let site = replaced(
        &site,
        "listen 443 ssl http2;",
        &format!("listen 127.0.0.1:{port} ssl http2;"),
    );
    let site = replaced(
        &site,
        "/etc/letsencrypt/live/hub.example.com/fullchain.pem",
        &dir.path("cert.pem"),
    );
    let site = replaced(
        &site,
        "/etc/letsencrypt/live/hub.example.com/privkey.pem",
        &dir.path("cert.key"),
    );
    std::fs::write(dir.0.join("site.conf"), site).unwrap();
    let d = dir.0.display();
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.0.join("nginx.conf"), main).unwrap();
    let child = Command::new(NGINX)
        .args(["-e", &dir.path("error.log"), "-c", &dir.path("nginx.conf")])
        // One process, in the foreground: killing it leaves no worker behind.
        .args(["-g", "daemon off; master_process off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    listening(port, "nginx").await;
    Some((proc, port))
}

/// A client of the proxy at `port` from the source address `from`, trusting
/// the test CA.
fn client_from(from: &str, port: u16, ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .add_root_certificate(reqwest::Certificate::from_der(ca).unwrap())
        .build()
        .unwrap()
}

/// `GET url`: its response headers must come at once, well before the
/// hub's first keep-alive (15 s): a stream's body starts with a comment line
/// so that no proxy holds them back (nginx serving HTTP/2 does until the
/// body starts).
async fn open(http: &reqwest::Client, url: &str) -> reqwest::Response {
    timeout(Duration::from_secs(10), http.get(url).send())
        .await
        .unwrap_or_else(|_| panic!("no response headers within 10 s for {url}"))
        .unwrap()
}

#[tokio::test]
async fn behind_nginx_limits_and_logs_count_the_forwarded_address() {
    let dir = TempDir::new("deploy-nginx");
    let (ca, _) = common::certificate(&dir.0, "cert");
    let hub = production_hub(&dir);
    let Some((_nginx, port)) = nginx(&dir, &hub.addr).await else {
        return;
    };
    let url = format!("https://localhost:{port}");
    let (a, b) = (
        client_from("127.0.0.2", port, &ca),
        client_from("127.0.0.3", port, &ca),
    );

    // Through nginx, over HTTP/2, events arrive as they are published.
    let first = open(&a, &format!("{url}/events?topic=public/news")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.version(), reqwest::Version::HTTP_2);
    let mut events = common::items(first);
    let published = a
        .post(format!("{url}/publish"))
        .bearer_auth(publisher_token(&dir))
        .json(&json!({"topic": "public/news", "data": "through nginx"}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    assert_eq!(common::next_data(&mut events).await, "through nginx");

    // Two streams per address: a's second is fine, its third is refused,
    // spoofed header or not; b, another address behind the same proxy, has
    // its own two.
    let second = open(&a, &format!("{url}/events?topic=public/news")).await;
    assert_eq!(second.status(), 200);
    let third = open(&a, &format!("{url}/events?topic=public/news")).await;
    assert_eq!(third.status(), 429);
    let spoofed = timeout(
        GUARD,
        a.get(format!("{url}/events?topic=public/news"))
            .header("x-forwarded-for", "198.51.100.9")
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        spoofed.status(),
        429,
        "a made-up X-Forwarded-For escaped the limit"
    );
    let b1 = open(&b, &format!("{url}/events?topic=public/news")).await;
    let b2 = open(&b, &format!("{url}/events?topic=public/news")).await;
    assert_eq!((b1.status().as_u16(), b2.status().as_u16()), (200, 200));

    // A peer that is not a trusted proxy: its header is ignored.
    let direct = reqwest::Client::builder()
        .local_address("127.0.0.4".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    let mut held = Vec::new();
    for i in 0..3 {
        let res = timeout(
            GUARD,
            direct
                .get(format!("http://{}/events?topic=public/news", hub.addr))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .send(),
        )
        .await
        .unwrap()
        .unwrap();
        statuses.push(res.status().as_u16());
        held.push(res);
    }
    assert_eq!(statuses, [200, 200, 429]);

    // The logs name the clients, never the proxy.
    let opened = |ip: &str| {
        let ip = ip.to_owned();
        move |l: &serde_json::Value| {
            Logged::message(l) == "stream opened" && l["fields"]["client"] == ip.as_str()
        }
    };
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        hub.wait_log(&format!("stream opened for {ip}"), opened(ip))
            .await;
    }
    assert!(
        hub.logs(opened("127.0.0.1")).is_empty(),
        "a stream logged as the proxy's"
    );
    let refused = hub
        .wait_log("refused for 127.0.0.2", |l| {
            Logged::message(l) == "refused" && l["fields"]["client"] == "127.0.0.2"
        })
        .await;
    assert_eq!(
        refused["fields"]["code"], "too_many_connections",
        "{refused}"
    );
    assert_eq!(refused["level"], "WARN");
    drop((second, b1, b2, held));
}

#[tokio::test]
async fn behind_caddy_streams_flow_and_the_client_is_the_forwarded_address() {
    if !Path::new(CADDY).exists() {
        assert!(!proxies_required(), "{CADDY} is missing: install caddy");
        return;
    }
    let dir = TempDir::new("deploy-caddy");
    let hub = production_hub(&dir);
    let port = free_port();
    // The site as given, on a plain-HTTP test address (automatic HTTPS needs
    // a public name), with the admin API off and Caddy's files in `dir`.
    let site = deploy_file("Caddyfile");
    let site = replaced(
        &site,
        "hub.example.com {",
        &format!("http://127.0.0.1:{port} {{"),
    );
    let site = replaced(
        &site,
        "reverse_proxy 127.0.0.1:8080",
        &format!("reverse_proxy {}", hub.addr),
    );
    std::fs::write(
        dir.0.join("Caddyfile"),
        format!("{{\n\tadmin off\n}}\n{site}"),
    )
    .unwrap();
    let child = Command::new(CADDY)
        .args([
            "run",
            "--adapter",
            "caddyfile",
            "--config",
            &dir.path("Caddyfile"),
        ])
        .env("HOME", &dir.0)
        .env("XDG_DATA_HOME", dir.0.join("data"))
        .env("XDG_CONFIG_HOME", dir.0.join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _caddy = Proc(child);
    listening(port, "caddy").await;
    let http = reqwest::Client::builder()
        .local_address("127.0.0.5".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let res = open(
        &http,
        &format!("http://127.0.0.1:{port}/events?topic=public/caddy"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mut events = common::items(res);
    let published = http
        .post(format!("http://127.0.0.1:{port}/publish"))
        .bearer_auth(publisher_token(&dir))
        .json(&json!({"topic": "public/caddy", "data": "through caddy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    assert_eq!(common::next_data(&mut events).await, "through caddy");
    hub.wait_log("stream opened for 127.0.0.5", |l| {
        Logged::message(l) == "stream opened" && l["fields"]["client"] == "127.0.0.5"
    })
    .await;
}

#[tokio::test]
async fn the_systemd_units_command_line_starts_the_hub() {
    let dir = TempDir::new("deploy-systemd");
    let unit = deploy_file("ssehub.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    assert!(
        unit.contains("LimitNOFILE="),
        "the unit raises the file limit"
    );
    std::fs::write(dir.0.join("ssehub.toml"), deploy_file("ssehub.toml")).unwrap();
    std::fs::write(dir.0.join("jwt-secret"), "secret\n").unwrap();
    let exec = replaced(exec, "/usr/local/bin/ssehub", env!("CARGO_BIN_EXE_ssehub"));
    let exec = replaced(&exec, "/etc/ssehub/ssehub.toml", &dir.path("ssehub.toml"));
    let exec = replaced(&exec, "%d/", &format!("{}/", dir.0.display()));
    let mut words = exec.split_whitespace();
    let mut command = Command::new(words.next().unwrap());
    command.args(words).env("SSEHUB_LISTEN", "127.0.0.1:0");
    let hub = Logged::spawn(command);
    let listening = hub.logs(|l| Logged::message(l).starts_with("listening on"));
    assert_eq!(listening[0]["fields"]["auth"], true, "{listening:?}");
    // With a key, publishing needs a token.
    let res = reqwest::Client::new()
        .post(format!("http://{}/publish", hub.addr))
        .json(&json!({"topic": "public/x", "data": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[test]
fn the_guide_shows_the_tested_files() {
    let guide = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy.md"),
    )
    .unwrap();
    for file in ["nginx.conf", "Caddyfile", "ssehub.toml", "ssehub.service"] {
        let text = deploy_file(file);
        assert!(
            guide.contains(text.trim_end()),
            "docs/deploy.md does not show docs/deploy/{file} as it is"
        );
    }
}
