//! `ssehub parse` as a process: the contract's JSON lines, flushed as events
//! arrive on a live pipe, and a clear failure past a limit.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The longest a test waits for the process: a wait fails with a message
/// instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

fn ssehub() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssehub"))
}

/// Runs `f` on a thread of its own and returns what it returns, or kills
/// the process `pid` and fails if that takes longer than [`WAIT`].
fn within<T: Send + 'static>(what: &str, pid: u32, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result.recv_timeout(WAIT).unwrap_or_else(|_| {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("{what}: not within {WAIT:?}")
    })
}

/// Runs `ssehub ARGS` with all of `input` on stdin, then end of input.
fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = ssehub()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = |mut from: Box<dyn std::io::Read + Send>| {
        move || {
            let mut out = Vec::new();
            from.read_to_end(&mut out).unwrap();
            out
        }
    };
    let stderr = std::thread::spawn(read(Box::new(stderr)));
    let pid = child.id();
    let stdout = within("the output", pid, read(Box::new(stdout)));
    let stderr = stderr.join().unwrap();
    let status = within("the exit", pid, move || child.wait().unwrap());
    Output {
        status,
        stdout,
        stderr,
    }
}

#[test]
fn prints_events_and_retries_in_stream_order() {
    let out = run(
        &["parse"],
        b"\xEF\xBB\xBFretry: 10\nid: 1\ndata: a\r\ndata:  b\n\nevent: e\ndata\nretry: x\n\n: c\ndata: dropped",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        concat!(
            "{\"retry\":10}\n",
            "{\"event\":\"message\",\"data\":\"a\\n b\",\"id\":\"1\"}\n",
            "{\"event\":\"e\",\"data\":\"\",\"id\":\"1\"}\n",
        )
    );
}

#[test]
fn flushes_each_event_on_a_live_pipe() {
    let mut child = ssehub()
        .arg("parse")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Lines are read on a thread of their own, so that a line that never
    // comes fails the test (after WAIT) instead of hanging it.
    let (lines, line) = mpsc::channel();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || loop {
        let mut text = String::new();
        let n = stdout.read_line(&mut text).unwrap();
        if n == 0 || lines.send(text).is_err() {
            break;
        }
    });
    for i in 0..3 {
        // stdin stays open: the line must come out before end of input.
        writeln!(stdin, "data: {i}\n").unwrap();
        stdin.flush().unwrap();
        let Ok(got) = line.recv_timeout(WAIT) else {
            let _ = child.kill();
            panic!("no line for event {i} within {WAIT:?} while stdin stays open");
        };
        assert_eq!(
            got,
            format!("{{\"event\":\"message\",\"data\":\"{i}\",\"id\":\"\"}}\n")
        );
    }
    drop(stdin);
    let pid = child.id();
    let status = within("the exit after end of input", pid, move || {
        child.wait().unwrap()
    });
    assert!(status.success());
}

#[test]
fn a_line_over_the_limit_fails_after_printing_what_came_before() {
    let out = run(
        &["parse", "--max-line-bytes", "16"],
        b"data: ok\n\ndata: this line is far too long\n\n",
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"event\":\"message\",\"data\":\"ok\",\"id\":\"\"}\n"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("longer than the limit of 16 bytes"), "{err}");
}

#[test]
fn bad_flags_exit_non_zero_with_a_message() {
    let out = ssehub()
        .args(["parse", "--max-line-bytes", "lots"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"));
}
