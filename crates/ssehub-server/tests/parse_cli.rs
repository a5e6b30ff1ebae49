//! `ssehub parse` as a process: the contract's JSON lines, flushed as events
//! arrive on a live pipe, and a clear failure past a limit.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

fn ssehub() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssehub"))
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
    child.wait_with_output().unwrap()
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
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for i in 0..3 {
        // stdin stays open: the line must come out before end of input.
        writeln!(stdin, "data: {i}\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(
            line,
            format!("{{\"event\":\"message\",\"data\":\"{i}\",\"id\":\"\"}}\n")
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
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
