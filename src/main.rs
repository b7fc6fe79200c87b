//! `heaplab`: runs ONE cell (strategy x workload x size) in this process and
//! prints its record as one line of JSON; or lists what can be run.
//!
//! `cargo xtask bench` runs this binary once per cell, so that each run's
//! peak RSS is its own.

mod cell;
mod real;
mod strategy;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "heaplab", version, about = "Runs one heaplab cell, or lists the strategies and workloads")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lists the strategies (with availability) and the workloads.
    List {
        /// Prints JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Runs one cell and prints its record as one line of JSON.
    Run(Box<cell::RunArgs>),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            // One line, not clap's usage block: the message up to its first blank line.
            let text = err.to_string();
            let message: Vec<&str> =
                text.lines().map(str::trim).take_while(|line| !line.is_empty()).collect();
            let message = message.join(" ");
            eprintln!("error: {} (see heaplab --help)", message.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.cmd {
        Cmd::List { json } => strategy::list(json),
        Cmd::Run(args) => cell::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

/// Writes `text` and a newline to stdout. A reader that went away (`heaplab
/// list | head`) ends the output quietly instead of panicking as `println!` does.
pub fn print_line(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
