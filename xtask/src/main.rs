//! `cargo xtask`: heaplab's sweep, report, comparison and calibration, and real programs' traces.
//!
//! One module per subcommand. Paths start from [`project_root`].

mod bench;
mod calibrate;
mod compare;
mod layout;
mod publish;
mod pyperf;
mod report;
mod results;
mod trace;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "heaplab's sweep, report and comparison")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the matrix of strategies x workloads x sizes, each run in a fresh process, and writes the report.
    Bench(Box<bench::BenchCmd>),
    /// Redraws the report of a results directory (or merges shard directories) from its CSVs.
    Report(report::ReportCmd),
    /// Compares two results directories cell by cell.
    Compare(compare::CompareCmd),
    /// Runs workloads/python/*.py under python3 and compares CPython's figures with cycle+pymalloc's.
    Calibrate(calibrate::CalibrateCmd),
    /// Copies a results directory for committing (series thinned) and draws its report there.
    Publish(publish::PublishCmd),
    /// Records every allocation call of a command through the preload library: `trace -o FILE -- COMMAND ARGS...`.
    Trace(trace::TraceCmd),
    /// Traces pyperformance's stdlib-only benchmarks (a pinned virtual environment of its own) for `bench --traces`.
    Pyperf(pyperf::PyperfCmd),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Bench(cmd) => cmd.run(),
        Cmd::Report(cmd) => cmd.run(),
        Cmd::Compare(cmd) => cmd.run(),
        Cmd::Calibrate(cmd) => cmd.run(),
        Cmd::Publish(cmd) => cmd.run(),
        Cmd::Trace(cmd) => cmd.run(),
        Cmd::Pyperf(cmd) => cmd.run(),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(2);
        }
    }
}

/// The workspace root.
pub fn project_root() -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    PathBuf::from(dir).parent().expect("xtask sits one level below the root").to_path_buf()
}
