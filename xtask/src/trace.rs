//! `cargo xtask trace -o FILE -- COMMAND ARGS…`: records every allocation
//! call of COMMAND through the preload library and prints a summary.
//!
//! It builds the library (`cargo build --release -p heaplab-preload`), runs
//! COMMAND with `LD_PRELOAD`, `HEAPLAB_TRACE` and `PYTHONMALLOC=malloc` (so
//! that a Python program's every object goes through `malloc`; set
//! `PYTHONMALLOC` yourself to override), then renames the command's own
//! trace (`FILE.<pid>`) to FILE. Processes the command forked or started
//! leave their traces beside it as `FILE.<pid>`; they are listed.
//! `heaplab run --strategy S --workload trace-replay --trace FILE --size 1`
//! replays FILE.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use heaplab_core::trace;

/// Arguments of `cargo xtask trace`.
#[derive(clap::Args)]
pub struct TraceCmd {
    /// Where the trace goes.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: PathBuf,
    /// The allocator that serves the traced command: jemalloc or mimalloc.
    #[arg(long, default_value = "jemalloc")]
    alloc: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

impl TraceCmd {
    pub fn run(self) -> anyhow::Result<i32> {
        if !matches!(self.alloc.as_str(), "jemalloc" | "mimalloc") {
            bail!("--alloc must be jemalloc or mimalloc (got '{}')", self.alloc);
        }
        let root = crate::project_root();
        let library = build_library(&root)?;
        let out =
            std::path::absolute(&self.out).with_context(|| format!("resolving {}", self.out.display()))?;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut command = Command::new(&self.command[0]);
        command.args(&self.command[1..]);
        let captured = capture(&library, &self.alloc, &out, command)?;
        println!("{}: {}", out.display(), captured.summary);
        for other in &captured.others {
            println!("{other}");
        }
        let status = captured.status;
        if !status.success() {
            eprintln!("note: {} exited with {status}; its trace is kept", self.command[0]);
            return Ok(1);
        }
        Ok(0)
    }
}

/// What [`capture`] recorded.
pub struct Captured {
    /// How the command ended.
    pub status: std::process::ExitStatus,
    /// The command's own trace, read back and summarised.
    pub summary: trace::Summary,
    /// One line for each other process's trace left beside it (`FILE.<pid>`).
    pub others: Vec<String>,
    /// The other processes' traces, their paths.
    pub other_files: Vec<PathBuf>,
    /// Calls recorded in the other processes' traces that read back.
    pub other_calls: u64,
    /// Wall time of the command.
    pub elapsed: std::time::Duration,
}

/// Runs `command` under the preload `library` (allocator `alloc`) with its
/// trace going to `out`, which must be absolute: sets `LD_PRELOAD`,
/// `HEAPLAB_PRELOAD_ALLOC`, `HEAPLAB_TRACE` and, unless the environment sets
/// it, `PYTHONMALLOC=malloc`; renames the command's own `out.<pid>` to `out`
/// and reads it back (a trace that does not read back is an error).
pub fn capture(library: &Path, alloc: &str, out: &Path, mut command: Command) -> anyhow::Result<Captured> {
    let program = command.get_program().to_string_lossy().into_owned();
    for stale in std::iter::once(out.to_owned()).chain(pid_files(out)?) {
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("removing the old trace {}", stale.display()))?;
        }
    }
    command.env("LD_PRELOAD", library).env("HEAPLAB_PRELOAD_ALLOC", alloc).env("HEAPLAB_TRACE", out);
    if std::env::var_os("PYTHONMALLOC").is_none() {
        command.env("PYTHONMALLOC", "malloc");
    }
    let started = std::time::Instant::now();
    let mut child = command.spawn().with_context(|| format!("starting {program}"))?;
    let pid = child.id();
    let status = child.wait().with_context(|| format!("waiting for {program}"))?;
    let elapsed = started.elapsed();

    let own = pid_file(out, pid);
    if !own.exists() {
        bail!(
            "{program} left no trace ({}): is it dynamically linked, and did it allocate? ({status})",
            own.display()
        );
    }
    std::fs::rename(&own, out).with_context(|| format!("renaming {} to {}", own.display(), out.display()))?;
    let summary = trace::read_file(out)?.summary();
    let other_files = pid_files(out)?;
    let mut other_calls = 0;
    let others = other_files
        .iter()
        .map(|other| match trace::read_file(other) {
            Ok(child) => {
                let summary = child.summary();
                other_calls += summary.calls;
                format!("{} (pid {}, parent {}): {summary}", other.display(), child.pid, child.parent_pid)
            }
            Err(error) => format!("{}: unreadable: {error}", other.display()),
        })
        .collect();
    Ok(Captured { status, summary, others, other_files, other_calls, elapsed })
}

/// Builds the preload library in release; its path.
pub fn build_library(root: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building heaplab-preload (release)...");
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "heaplab-preload"])
        .status()
        .context("running cargo build --release -p heaplab-preload")?;
    if !status.success() {
        bail!("cargo build --release -p heaplab-preload failed ({status})");
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    };
    let library = target.join("release").join("libheaplab_preload.so");
    if !library.is_file() {
        bail!("cargo built heaplab-preload but {} is not there", library.display());
    }
    Ok(library)
}

/// `FILE.<pid>`.
fn pid_file(out: &Path, pid: u32) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(format!(".{pid}"));
    PathBuf::from(name)
}

/// The `FILE.<digits>` files beside FILE, sorted.
pub fn pid_files(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = out.parent().unwrap_or(Path::new("."));
    let Some(base) = out.file_name().and_then(|name| name.to_str()) else {
        bail!("{} is not a UTF-8 file name", out.display());
    };
    let prefix = format!("{base}.");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix(&prefix)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|entry| entry.path())
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_are_found_beside_the_trace() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run.trace");
        for name in ["run.trace.12", "run.trace.7", "run.trace.x1", "run.trace.", "other.trace.3"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let found: Vec<String> = pid_files(&out)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["run.trace.12", "run.trace.7"]);
        assert_eq!(pid_file(&out, 42), dir.path().join("run.trace.42"));
    }
}
