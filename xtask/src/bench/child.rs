//! Runs one `heaplab run` child under a time limit and a memory cap, and says
//! how it ended.
//!
//! The memory cap is enforced by reading the child's `VmRSS` from
//! `/proc/PID/status` about every 20 ms and killing it when it is over, not by
//! `RLIMIT_AS`: mimalloc and jemalloc reserve far more address space than they
//! touch, so an address-space limit would fail them for memory they never use.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use heaplab_core::{RunReport, Status};

use super::limits::{human_bytes, parse_vm_rss};

/// How much of a failed child's stderr is kept.
pub const STDERR_TAIL_BYTES: usize = 4096;

/// How often the child's RSS and state are polled once it has run a while.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The first poll interval: it doubles up to [`POLL_INTERVAL`], so that the
/// many runs of a few milliseconds are not each held up by a whole interval.
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The limits of one run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Resident-memory cap in bytes.
    pub mem_limit_bytes: u64,
}

/// Why the sweep killed a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// It ran past its time limit.
    Timeout,
    /// Its RSS went over the memory cap.
    MemoryCap,
}

/// How a child that ran to its end (or was killed by its limits) ended.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The status for `runs.csv`.
    pub status: Status,
    /// The record it printed, when it is `ok`.
    pub report: Option<RunReport>,
    /// What happened, in a phrase (`killed by signal 11 (SIGSEGV)`).
    pub detail: String,
    /// The last [`STDERR_TAIL_BYTES`] of its stderr.
    pub stderr_tail: Vec<u8>,
    /// Wall time from spawn to exit, as the sweep saw it.
    pub elapsed: Duration,
}

/// The end of a child run.
#[derive(Clone, Debug)]
pub enum Ending {
    /// It ended on its own or by its limits.
    Finished(Box<Finished>),
    /// The sweep was interrupted and killed it; nothing is recorded.
    Interrupted,
}

/// Spawns `command` and watches it until it ends, is killed by its limits, or
/// `interrupted` is set.
pub fn run(mut command: Command, limits: Limits, interrupted: &AtomicBool) -> anyhow::Result<Ending> {
    // Its own process group: a Ctrl-C at the terminal reaches the sweep, which
    // then kills the child itself, instead of both at once.
    command.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().with_context(|| format!("starting {command:?}"))?;
    let stdout_reader = read_all(child.stdout.take().expect("stdout is piped"));
    let stderr_reader = read_tail(child.stderr.take().expect("stderr is piped"));
    let proc_status_path = format!("/proc/{}/status", child.id());

    let mut kill_reason = None;
    let mut poll_interval = FIRST_POLL_INTERVAL;
    let exit_status = loop {
        if let Some(exit_status) = child.try_wait().context("waiting for a heaplab child")? {
            break exit_status;
        }
        if interrupted.load(Ordering::SeqCst) {
            kill_and_reap(&mut child);
            return Ok(Ending::Interrupted);
        }
        if started.elapsed() > limits.timeout {
            kill_reason = Some(KillReason::Timeout);
            break kill_and_reap(&mut child);
        }
        let rss = std::fs::read_to_string(&proc_status_path).ok().as_deref().and_then(parse_vm_rss);
        if rss.is_some_and(|rss| rss > limits.mem_limit_bytes) {
            kill_reason = Some(KillReason::MemoryCap);
            break kill_and_reap(&mut child);
        }
        thread::sleep(poll_interval);
        poll_interval = (poll_interval * 2).min(POLL_INTERVAL);
    };
    let elapsed = started.elapsed();
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr_tail = stderr_reader.join().unwrap_or_default();
    let (status, report, detail) = classify(exit_status, kill_reason, &stdout, &stderr_tail, limits);
    Ok(Ending::Finished(Box::new(Finished { status, report, detail, stderr_tail, elapsed })))
}

fn kill_and_reap(child: &mut Child) -> ExitStatus {
    // The child may have exited between the last poll and the kill; either way, wait reaps it.
    let _ = child.kill();
    child.wait().unwrap_or_else(|_| ExitStatus::from_raw(libc::SIGKILL))
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn read_tail(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut tail = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(count) = pipe.read(&mut chunk) {
            if count == 0 {
                break;
            }
            tail.extend_from_slice(&chunk[..count]);
            if tail.len() > 4 * STDERR_TAIL_BYTES {
                tail.drain(..tail.len() - STDERR_TAIL_BYTES);
            }
        }
        if tail.len() > STDERR_TAIL_BYTES {
            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        }
        tail
    })
}

/// The status of a child from how it exited, why the sweep killed it (if it
/// did), and what it printed.
pub fn classify(
    exit_status: ExitStatus,
    kill_reason: Option<KillReason>,
    stdout: &[u8],
    stderr_tail: &[u8],
    limits: Limits,
) -> (Status, Option<RunReport>, String) {
    let stderr = String::from_utf8_lossy(stderr_tail);
    match kill_reason {
        Some(KillReason::Timeout) => {
            return (
                Status::Timeout,
                None,
                format!("killed after the time limit of {:.1} s", limits.timeout.as_secs_f64()),
            );
        }
        Some(KillReason::MemoryCap) => {
            return (
                Status::Oom,
                None,
                format!("killed over the memory cap of {}", human_bytes(limits.mem_limit_bytes)),
            );
        }
        None => {}
    }
    if let Some(signal) = exit_status.signal() {
        let name = signal_name(signal);
        if signal == libc::SIGKILL {
            // Nobody here sent it: the kernel's OOM killer is the usual sender.
            return (
                Status::Oom,
                None,
                format!("killed by signal {signal} ({name}), likely the kernel's OOM killer"),
            );
        }
        if stderr.contains("memory allocation of") && stderr.contains("failed") {
            return (
                Status::Oom,
                None,
                format!("aborted by signal {signal} ({name}) after an allocation failed"),
            );
        }
        let dumped = if exit_status.core_dumped() { ", core dumped" } else { "" };
        return (Status::Crashed, None, format!("killed by signal {signal} ({name}){dumped}"));
    }
    let code = exit_status.code().unwrap_or(-1);
    if code == 0 {
        let stdout = String::from_utf8_lossy(stdout);
        let last_line = stdout.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("");
        return match serde_json::from_str::<RunReport>(last_line) {
            Ok(report) => (Status::Ok, Some(report), "ok".to_owned()),
            Err(error) => (Status::Error, None, format!("exited 0 but printed no run record ({error})")),
        };
    }
    if code == 101 || stderr.contains("panicked at") {
        return (Status::Crashed, None, format!("panicked (exit code {code})"));
    }
    let message = stderr.lines().rev().find(|line| line.starts_with("error:")).unwrap_or("").trim();
    if message.is_empty() {
        (Status::Error, None, format!("exited with code {code}"))
    } else {
        (Status::Error, None, format!("exited with code {code}: {message}"))
    }
}

/// The conventional name of a signal.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGTRAP => "SIGTRAP",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use heaplab_core::Record;

    use super::*;

    const LIMITS: Limits = Limits { timeout: Duration::from_secs(60), mem_limit_bytes: 512 << 20 };

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn signalled(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    fn ok_report_line() -> String {
        let record = Record {
            strategy: "cycle+pymalloc".into(),
            collector: "cycle".into(),
            allocator: "pymalloc".into(),
            workload: "churn".into(),
            size: 100,
            threads: 1,
            seed: 42,
            rep: 0,
            checksum: Some("0123456789abcdef".into()),
            wall_ns: Some(1),
            ops: Some(1),
            ops_per_s: Some(1e9),
            ..Record::unmeasured(Status::Ok)
        };
        let report =
            RunReport { record, collections_by_gen: vec![3, 1, 0], phases: vec![], anon_huge_bytes: None };
        serde_json::to_string(&report).unwrap()
    }

    fn check(
        exit_status: ExitStatus,
        kill: Option<KillReason>,
        stdout: &str,
        stderr: &str,
        expected: Status,
    ) {
        let (status, report, detail) =
            classify(exit_status, kill, stdout.as_bytes(), stderr.as_bytes(), LIMITS);
        assert_eq!(status, expected, "{exit_status:?} {kill:?} {stderr:?}: {detail}");
        assert_eq!(report.is_some(), expected == Status::Ok);
    }

    #[test]
    fn a_record_on_stdout_and_exit_zero_is_ok() {
        check(exited(0), None, &format!("{}\n", ok_report_line()), "", Status::Ok);
        check(exited(0), None, &format!("warming up\n{}\n\n", ok_report_line()), "", Status::Ok);
    }

    #[test]
    fn exit_zero_without_a_record_is_an_error() {
        check(exited(0), None, "", "", Status::Error);
        check(exited(0), None, "{\"strategy\":", "", Status::Error);
    }

    #[test]
    fn an_orderly_refusal_is_an_error() {
        check(exited(2), None, "", "error: unknown workload 'x'; the workloads are: churn\n", Status::Error);
        check(exited(1), None, "", "", Status::Error);
    }

    #[test]
    fn signals_aborts_and_panics_are_crashes() {
        check(signalled(libc::SIGSEGV), None, "", "", Status::Crashed);
        check(signalled(libc::SIGABRT), None, "", "fatal runtime error\n", Status::Crashed);
        check(signalled(libc::SIGBUS), None, "", "", Status::Crashed);
        check(exited(101), None, "", "thread 'main' panicked at src/main.rs:3:5:\nboom\n", Status::Crashed);
    }

    #[test]
    fn the_sweeps_own_kills_say_why() {
        check(signalled(libc::SIGKILL), Some(KillReason::Timeout), "", "", Status::Timeout);
        check(signalled(libc::SIGKILL), Some(KillReason::MemoryCap), "", "", Status::Oom);
        // A child that finished just as its limit struck is still over its limit.
        check(exited(0), Some(KillReason::Timeout), &ok_report_line(), "", Status::Timeout);
    }

    #[test]
    fn a_kill_nobody_here_sent_is_the_oom_killer() {
        check(signalled(libc::SIGKILL), None, "", "", Status::Oom);
    }

    #[test]
    fn an_abort_after_a_failed_allocation_is_out_of_memory() {
        check(
            signalled(libc::SIGABRT),
            None,
            "",
            "memory allocation of 1073741824 bytes failed\n",
            Status::Oom,
        );
    }

    #[test]
    fn details_name_the_signal_and_the_message() {
        let (_, _, detail) = classify(signalled(libc::SIGSEGV), None, b"", b"", LIMITS);
        assert!(detail.contains("SIGSEGV"), "{detail}");
        let (_, _, detail) = classify(exited(2), None, b"", b"error: size 0 is not a size\n", LIMITS);
        assert!(detail.contains("error: size 0 is not a size"), "{detail}");
        let (_, _, detail) =
            classify(signalled(libc::SIGKILL), Some(KillReason::MemoryCap), b"", b"", LIMITS);
        assert!(detail.contains("512.0 MiB"), "{detail}");
    }

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    fn finished(ending: Ending) -> Finished {
        match ending {
            Ending::Finished(finished) => *finished,
            Ending::Interrupted => panic!("not interrupted"),
        }
    }

    #[test]
    fn a_real_child_that_prints_a_record_is_ok() {
        let line = ok_report_line().replace('\'', "'\\''");
        let ending =
            run(shell(&format!("printf '%s\\n' '{line}'")), LIMITS, &AtomicBool::new(false)).unwrap();
        let finished = finished(ending);
        assert_eq!(finished.status, Status::Ok, "{}", finished.detail);
        assert_eq!(finished.report.unwrap().collections_by_gen, [3, 1, 0]);
    }

    #[test]
    fn a_real_child_past_its_time_limit_is_killed() {
        let limits = Limits { timeout: Duration::from_millis(200), ..LIMITS };
        let finished =
            finished(run(shell("exec tail -f /dev/null"), limits, &AtomicBool::new(false)).unwrap());
        assert_eq!(finished.status, Status::Timeout);
        assert!(finished.elapsed < Duration::from_secs(30));
    }

    #[test]
    fn a_real_child_over_its_memory_cap_is_killed() {
        // A shell that grows a string until the cap of 8 MiB stops it.
        let limits = Limits { mem_limit_bytes: 8 << 20, ..LIMITS };
        let script = "x=0123456789abcdef; while true; do x=\"$x$x\"; done";
        let finished = finished(run(shell(script), limits, &AtomicBool::new(false)).unwrap());
        assert_eq!(finished.status, Status::Oom, "{}", finished.detail);
    }

    #[test]
    fn a_real_crash_keeps_the_tail_of_stderr() {
        let script = "i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; kill -SEGV $$";
        let finished = finished(run(shell(script), LIMITS, &AtomicBool::new(false)).unwrap());
        assert_eq!(finished.status, Status::Crashed, "{}", finished.detail);
        assert!(finished.stderr_tail.len() <= STDERR_TAIL_BYTES);
        let tail = String::from_utf8(finished.stderr_tail).unwrap();
        assert!(tail.ends_with("line 1999\n"), "{tail}");
        assert!(!tail.contains("line 1000\n"));
    }

    #[test]
    fn an_interrupted_sweep_kills_the_child_and_records_nothing() {
        let ending = run(shell("exec tail -f /dev/null"), LIMITS, &AtomicBool::new(true)).unwrap();
        assert!(matches!(ending, Ending::Interrupted));
    }
}
