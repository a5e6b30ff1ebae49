//! What the bench tests share: a fresh hub served in process, a bench tool
//! run against it, its JSON line.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use ssehub::Hub;
use ssehub_server::Config;

/// Serves a fresh hub on `config`, runs the command `tool` makes for the
/// hub's port to its end, stops the hub; returns the tool's last line of
/// output as JSON. The tool must succeed.
pub(crate) async fn run_against(config: Config, tool: impl FnOnce(u16) -> Command) -> Value {
    let listener = ssehub_server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ssehub_server::run(listener, Hub::new(), config, async {
        let _ = stopped.await;
    }));
    let mut command = tool(port);
    let name = command.get_program().to_string_lossy().into_owned();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed: {stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout:?}; {stderr}"))
}

/// A CA and a certificate for `localhost` and `127.0.0.1` signed by it,
/// written to `dir` as `ca.pem`, `cert.pem` and `cert.key`.
pub(crate) fn certificate(dir: &Path) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("cert.key"), key.serialize_pem()).unwrap();
}
