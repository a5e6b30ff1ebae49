//! `ssehub`: the standalone hub and its tools. This file only parses flags.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Real-time server-to-client push over Server-Sent Events.
#[derive(Debug, Parser)]
#[command(name = "ssehub", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub: publish over HTTP, subscribe with EventSource.
    Serve(Box<cmd::serve::Args>),
    /// Publish one event to a hub; prints its id.
    Publish(cmd::publish::Args),
    /// Read an event stream on stdin and print one JSON object a line:
    /// {"event", "data", "id"} for each dispatched event, {"retry"} for each
    /// valid retry field, in stream order.
    Parse(cmd::parse::Args),
    /// Follow an event stream and print it as `parse` does: one JSON object a
    /// line. Reconnects with backoff (a line on stderr each time), honours
    /// `retry`, resumes with Last-Event-ID; exits 0 when the server answers
    /// 204, non-zero on any other 4xx.
    Tail(cmd::tail::Args),
    /// Mint an HS256 token for development and scripts; prints it alone on
    /// stdout (`TOKEN=$(ssehub token --secret-file F --subscribe 'chat/*')`).
    Token(cmd::token::Args),
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Command::Serve(args) = &cli.command {
        if let Some(path) = args.config_file() {
            if let Err(e) = cmd::config::apply(&path) {
                eprintln!("ssehub: {e:#}");
                return ExitCode::FAILURE;
            }
            cli = Cli::parse();
        }
    }
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(*args),
        Command::Publish(args) => cmd::publish::run(args),
        Command::Parse(args) => cmd::parse::run(args),
        Command::Tail(args) => cmd::tail::run(args),
        Command::Token(args) => cmd::token::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssehub: {e:#}");
            ExitCode::FAILURE
        }
    }
}
