//! `ssehub parse`: an event stream on stdin, JSON lines on stdout.

use std::io::{self, BufWriter, Read, Write};

use anyhow::Context;
use serde::Serialize;
use ssehub_core::{Item, Limits, Parser};

/// Flags of `ssehub parse`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Longest accepted line, in bytes.
    #[arg(long, default_value_t = Limits::default().max_line_bytes)]
    max_line_bytes: usize,
    /// Largest accepted event (data plus type), in bytes.
    #[arg(long, default_value_t = Limits::default().max_event_bytes)]
    max_event_bytes: usize,
}

/// One output line; field order is the contract's.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Line<'a> {
    Event {
        event: &'a str,
        data: &'a str,
        id: &'a str,
    },
    Retry {
        retry: u64,
    },
}

impl<'a> From<&'a Item> for Line<'a> {
    fn from(item: &'a Item) -> Self {
        match item {
            Item::Event(e) => Line::Event {
                event: &e.event,
                data: &e.data,
                id: &e.last_event_id,
            },
            Item::Retry(ms) => Line::Retry { retry: *ms },
        }
    }
}

/// Writes `item` as one JSON line.
pub(crate) fn write_item(out: &mut impl Write, item: &Item) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Line::from(item))?;
    out.write_all(b"\n")
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut parser = Parser::with_limits(Limits {
        max_line_bytes: args.max_line_bytes,
        max_event_bytes: args.max_event_bytes,
    });
    let mut stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading stdin"),
        };
        let fed = if n == 0 {
            parser.finish();
            Ok(())
        } else {
            parser.feed(&buf[..n])
        };
        // Print what was found before any error, then report the error.
        for item in parser.drain() {
            write_item(&mut out, &item).context("writing stdout")?;
        }
        out.flush().context("writing stdout")?;
        fed.context("parsing stdin")?;
        if n == 0 {
            return Ok(());
        }
    }
}
