//! A raw HTTP/1.1 client, just enough for load generation: one request line
//! and a few headers out, a response head and a (chunked or sized) body in.
//!
//! Why not hyper or reqwest: the load process holds 10,000 streams, and what
//! each costs in the load process must stay small next to what it costs in the
//! server under test. A stream here is one `TcpStream`, one read buffer and a
//! [`Dechunker`] of a few words.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, ensure, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Most bytes of a response head the client accepts.
const MAX_HEAD_BYTES: usize = 16 << 10;

/// Where requests go: a socket address and the `Host` header.
#[derive(Clone, Debug)]
pub struct Target {
    /// The resolved address.
    pub addr: SocketAddr,
    /// The authority (`host:port`), sent as `Host` (`:authority` over
    /// HTTP/2).
    pub host: String,
    /// Whether the URL was `https://` (then the load generator speaks HTTP/2
    /// over TLS, [`crate::https`]).
    pub https: bool,
}

impl Target {
    /// Resolves an `http://host:port` or `https://host:port` URL (any path
    /// is ignored).
    pub async fn resolve(url: &str) -> anyhow::Result<Target> {
        let (https, rest, default_port) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest, 80)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (true, rest, 443)
        } else {
            bail!("{url}: only http:// and https:// URLs are supported");
        };
        let host = rest.split('/').next().unwrap_or_default();
        ensure!(!host.is_empty(), "{url}: no host");
        let with_port = if host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']')) {
            host.to_owned()
        } else {
            format!("{host}:{default_port}")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .with_context(|| format!("resolving {with_port}"))?
            .next()
            .with_context(|| format!("{with_port}: no address"))?;
        Ok(Target {
            addr,
            host: host.to_owned(),
            https,
        })
    }

    /// Connects, with `TCP_NODELAY` (requests are small and latency counts).
    pub async fn connect(&self) -> std::io::Result<TcpStream> {
        self.connect_from(None).await
    }

    /// Connects from `source` (an address of this machine, any port), or
    /// from where the system picks; with `TCP_NODELAY`. Several loopback
    /// sources (127.0.0.x) look like several clients to a hub's per-address
    /// limits, and each has its own ports.
    pub async fn connect_from(&self, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
        let stream = match source {
            None => TcpStream::connect(self.addr).await?,
            Some(ip) => {
                let socket = match ip {
                    IpAddr::V4(_) => TcpSocket::new_v4()?,
                    IpAddr::V6(_) => TcpSocket::new_v6()?,
                };
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(self.addr).await?
            }
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// How the body of a response is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: N`.
    Length(u64),
    /// Neither: the body runs until the server closes the connection.
    UntilClose,
}

/// The parts of a response head the client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// How the body is framed.
    pub framing: Framing,
}

/// Parses a response head at the start of `buf`: `Ok(None)` while it is
/// incomplete, else the head and its length in bytes (body bytes follow).
pub fn parse_head(buf: &[u8]) -> anyhow::Result<Option<(ResponseHead, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        ensure!(
            buf.len() <= MAX_HEAD_BYTES,
            "response head over {MAX_HEAD_BYTES} bytes"
        );
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    ensure!(
        version.starts_with("HTTP/1."),
        "not an HTTP/1 response: {status_line:?}"
    );
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut framing = Framing::UntilClose;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            bail!("bad header line {line:?}");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            framing = Framing::Length(value.parse().context("bad Content-Length")?);
        }
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::Length(0);
    }
    Ok(Some((ResponseHead { status, framing }, end + 4)))
}

/// Reads from `stream` until `buf` holds a whole response head, then removes
/// the head from `buf`, leaving what body bytes came with it.
///
/// Reads straight into `buf`: a buffer on the stack here would sit in every
/// stream's task for as long as the stream lives (a task is as large as the
/// largest state of its future).
pub async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<ResponseHead> {
    loop {
        if let Some((head, len)) = parse_head(buf)? {
            buf.drain(..len);
            return Ok(head);
        }
        buf.reserve(2048);
        let n = stream.read_buf(buf).await?;
        ensure!(n > 0, "connection closed before the response head");
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// In the hex size of a chunk.
    Size,
    /// In chunk extensions, after `;`.
    Ext,
    /// After the CR that ends a size line.
    SizeLf,
    /// In chunk data, with this many bytes left.
    Data(u64),
    /// After chunk data, expecting CR LF.
    DataCr,
    DataLf,
    /// In the trailer section after the last chunk.
    Trailer {
        line_start: bool,
    },
    /// After the last chunk and its trailers.
    Done,
}

/// Decodes `Transfer-Encoding: chunked` incrementally: feed it bytes as they
/// come, it hands out the payload slices (borrowed from the input, no copy).
#[derive(Clone, Debug)]
pub struct Dechunker {
    state: ChunkState,
    size: u64,
    digits: bool,
}

impl Default for Dechunker {
    fn default() -> Self {
        Dechunker::new()
    }
}

impl Dechunker {
    /// A decoder at the start of a body.
    pub fn new() -> Dechunker {
        Dechunker {
            state: ChunkState::Size,
            size: 0,
            digits: false,
        }
    }

    /// Whether the last chunk (and its trailers) has been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, calling `out` with each run of payload bytes. Returns
    /// whether the body ended (bytes after its end are ignored).
    pub fn feed(&mut self, input: &[u8], mut out: impl FnMut(&[u8])) -> anyhow::Result<bool> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                ChunkState::Data(left) => {
                    let take = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    out(&input[i..i + take]);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataCr
                    } else {
                        ChunkState::Data(left)
                    };
                    continue;
                }
                ChunkState::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(digit))
                            .context("chunk size overflows")?;
                        self.digits = true;
                    }
                    b';' | b' ' | b'\t' => self.state = ChunkState::Ext,
                    b'\r' => self.state = ChunkState::SizeLf,
                    b'\n' => self.end_size_line()?,
                    _ => bail!("bad byte {b:#04x} in a chunk size"),
                },
                ChunkState::Ext => match b {
                    b'\r' => self.state = ChunkState::SizeLf,
                    b'\n' => self.end_size_line()?,
                    _ => {}
                },
                ChunkState::SizeLf => {
                    ensure!(b == b'\n', "CR without LF after a chunk size");
                    self.end_size_line()?;
                }
                ChunkState::DataCr => match b {
                    b'\r' => self.state = ChunkState::DataLf,
                    b'\n' => self.state = ChunkState::Size,
                    _ => bail!("chunk data longer than its size"),
                },
                ChunkState::DataLf => {
                    ensure!(b == b'\n', "CR without LF after chunk data");
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer { line_start } => match b {
                    b'\r' => {}
                    b'\n' if line_start => self.state = ChunkState::Done,
                    b'\n' => self.state = ChunkState::Trailer { line_start: true },
                    _ => self.state = ChunkState::Trailer { line_start: false },
                },
                ChunkState::Done => return Ok(true),
            }
            i += 1;
        }
        Ok(self.is_done())
    }

    fn end_size_line(&mut self) -> anyhow::Result<()> {
        ensure!(self.digits, "empty chunk size");
        self.state = if self.size == 0 {
            ChunkState::Trailer { line_start: true }
        } else {
            ChunkState::Data(self.size)
        };
        self.size = 0;
        self.digits = false;
        Ok(())
    }
}

/// A body decoder for any [`Framing`].
#[derive(Clone, Debug)]
pub enum BodyDecoder {
    /// Chunked.
    Chunked(Dechunker),
    /// This many bytes left.
    Length(u64),
    /// Until the connection closes.
    UntilClose,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> BodyDecoder {
        match framing {
            Framing::Chunked => BodyDecoder::Chunked(Dechunker::new()),
            Framing::Length(n) => BodyDecoder::Length(n),
            Framing::UntilClose => BodyDecoder::UntilClose,
        }
    }

    /// Decodes `input` as [`Dechunker::feed`] does; returns whether the body
    /// ended.
    pub fn feed(&mut self, input: &[u8], mut out: impl FnMut(&[u8])) -> anyhow::Result<bool> {
        match self {
            BodyDecoder::Chunked(d) => d.feed(input, out),
            BodyDecoder::Length(left) => {
                let take = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                if take > 0 {
                    out(&input[..take]);
                }
                *left -= take as u64;
                Ok(*left == 0)
            }
            BodyDecoder::UntilClose => {
                if !input.is_empty() {
                    out(input);
                }
                Ok(false)
            }
        }
    }

    /// Whether the body has ended.
    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Chunked(d) => d.is_done(),
            BodyDecoder::Length(left) => *left == 0,
            BodyDecoder::UntilClose => false,
        }
    }
}

/// A keep-alive connection for request/response exchanges (publishing).
#[derive(Debug)]
pub struct Client {
    target: Target,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    headers: String,
}

impl Client {
    /// A client for `target`; it connects on first use.
    pub fn new(target: Target) -> Client {
        Client {
            target,
            stream: None,
            buf: Vec::with_capacity(4096),
            headers: String::new(),
        }
    }

    /// Adds header lines (each ending in CRLF) to every request.
    pub fn with_headers(mut self, headers: String) -> Client {
        self.headers = headers;
        self
    }

    /// `POST path` with a JSON body; returns the status and the body. Reuses
    /// the connection; on a connection that turns out closed before any
    /// answer, it reconnects once and tries again.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        self.post(path, "application/json", body).await
    }

    /// `POST path` with a body of `content_type`, as [`Client::post_json`]
    /// does.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut request = Vec::with_capacity(body.len() + 128);
        request.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
                self.target.host,
                body.len(),
                self.headers
            )
            .as_bytes(),
        );
        request.extend_from_slice(body);
        let reused = self.stream.is_some();
        match self.exchange(&request).await {
            Ok(answer) => Ok(answer),
            Err(_) if reused => {
                self.stream = None;
                self.exchange(&request).await
            }
            Err(e) => Err(e),
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        let result = self.exchange_inner(request).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange_inner(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            self.stream = Some(
                self.target
                    .connect()
                    .await
                    .with_context(|| format!("connecting to {}", self.target.addr))?,
            );
            self.buf.clear();
        }
        let stream = self.stream.as_mut().context("not connected")?;
        stream.write_all(request).await?;
        let head = read_head(stream, &mut self.buf).await?;
        let mut decoder = BodyDecoder::new(head.framing);
        let mut body = Vec::new();
        let mut done =
            decoder.is_done() || decoder.feed(&self.buf, |b| body.extend_from_slice(b))?;
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        while !done {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                ensure!(
                    matches!(decoder, BodyDecoder::UntilClose),
                    "connection closed inside a response body"
                );
                self.stream = None;
                break;
            }
            done = decoder.feed(&chunk[..n], |b| body.extend_from_slice(b))?;
        }
        if matches!(decoder, BodyDecoder::UntilClose) {
            self.stream = None;
        }
        Ok((head.status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dechunk_split(input: &[u8], at: usize) -> (Vec<u8>, bool) {
        let mut d = Dechunker::new();
        let mut out = Vec::new();
        let mut done = d.feed(&input[..at], |b| out.extend_from_slice(b)).unwrap();
        done |= d.feed(&input[at..], |b| out.extend_from_slice(b)).unwrap();
        (out, done)
    }

    #[test]
    fn dechunks_at_every_split() {
        let input = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
        for at in 0..=input.len() {
            assert_eq!(
                dechunk_split(input, at),
                (b"hello 0123456789".to_vec(), true),
                "split at {at}"
            );
        }
    }

    #[test]
    fn unfinished_body_is_not_done() {
        assert_eq!(dechunk_split(b"3\r\nabc\r\n", 4), (b"abc".to_vec(), false));
    }

    #[test]
    fn rejects_bad_chunks() {
        assert!(Dechunker::new().feed(b"zz\r\n", |_| {}).is_err());
        assert!(Dechunker::new().feed(b"\r\n", |_| {}).is_err());
        assert!(Dechunker::new().feed(b"1\r\nab\r\n", |_| {}).is_err());
    }

    #[test]
    fn parses_heads() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nrest";
        let (head, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(
            head,
            ResponseHead {
                status: 200,
                framing: Framing::Chunked
            }
        );
        assert_eq!(&raw[len..], b"rest");
        let (head, _) = parse_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::Length(12));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn length_bodies() {
        let mut d = BodyDecoder::new(Framing::Length(3));
        let mut out = Vec::new();
        assert!(!d.feed(b"ab", |b| out.extend_from_slice(b)).unwrap());
        assert!(d.feed(b"cdef", |b| out.extend_from_slice(b)).unwrap());
        assert_eq!(out, b"abc");
    }
}
