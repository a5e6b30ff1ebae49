//! A scripted HTTP server: each test accepts connections one by one and
//! writes exactly the bytes it wants, so every step is exact.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A failure guard: no step of a test should take this long.
pub const GUARD: Duration = Duration::from_secs(30);

/// The head of the `200` answer of an event stream, ended by the server
/// closing the connection.
pub const SSE_CLOSE: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
/// The head of a chunked `200` event stream.
pub const SSE_CHUNKED: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n";

pub struct Script {
    listener: TcpListener,
}

/// One request as the server read it.
#[derive(Debug)]
pub struct Request {
    /// `GET /events?topic=a`'s `/events?topic=a`.
    pub target: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

pub struct Conn {
    pub stream: TcpStream,
    pub request: Request,
    /// When the request was read.
    pub at: Instant,
}

impl Script {
    pub async fn bind() -> Script {
        Script {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener.local_addr().unwrap())
    }

    /// The next connection and its request.
    pub async fn accept(&self) -> Conn {
        tokio::time::timeout(GUARD, async {
            let (mut stream, _) = self.listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut byte).await.unwrap();
                assert_eq!(n, 1, "the client closed before its request ended");
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            let mut lines = head.split("\r\n");
            let start = lines.next().unwrap();
            let target = start.split(' ').nth(1).unwrap().to_owned();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            Conn {
                stream,
                request: Request { target, headers },
                at: Instant::now(),
            }
        })
        .await
        .expect("no connection came")
    }
}

impl Conn {
    pub async fn write(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Writes `data` as one chunk of a chunked body.
    pub async fn chunk(&mut self, data: &str) {
        self.write(format!("{:x}\r\n{data}\r\n", data.len())).await;
    }

    /// Answers with a status and a body (Content-Length, then close).
    pub async fn respond(mut self, status: &str, content_type: &str, body: &str) {
        self.write(format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
        .await;
    }

    /// Answers `204 No Content`.
    pub async fn no_content(mut self) {
        self.write("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            .await;
    }
}
