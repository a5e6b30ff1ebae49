//! `ssehub`: the standalone hub and its tools. This file only parses flags.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Real-time server-to-client push over Server-Sent Events.
#[derive(Debug, Parser)]
#[command(name = "ssehub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub: publish over HTTP, subscribe with EventSource.
    Serve(cmd::serve::Args),
    /// Read an event stream on stdin and print one JSON object a line:
    /// {"event", "data", "id"} for each dispatched event, {"retry"} for each
    /// valid retry field, in stream order.
    Parse(cmd::parse::Args),
    /// Follow an event stream and print it as `parse` does: one JSON object a
    /// line. Reconnects with backoff (a line on stderr each time), honours
    /// `retry`, resumes with Last-Event-ID; exits 0 when the server answers
    /// 204, non-zero on any other 4xx.
    Tail(cmd::tail::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Parse(args) => cmd::parse::run(args),
        Command::Tail(args) => cmd::tail::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssehub: {e:#}");
            ExitCode::FAILURE
        }
    }
}
