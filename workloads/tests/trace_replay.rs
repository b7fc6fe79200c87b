//! trace-replay: a trace replays to the same checksum on every allocator; a
//! trace of a real Python script, captured with the preload library, too.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{available_allocators, run_on, workload};
use heaplab_core::Params;
use heaplab_core::trace::{self, Op, Writer};

fn params_with(trace: trace::Trace, size: u64) -> Params {
    Params { size, threads: 1, seed: 1, trace: Some(Arc::new(trace)) }
}

/// The bytes trace-replay asks of the allocator for `trace`, by its documented rounding
/// (0 bytes as 1, alignments over 16 over-allocated), computed from the trace alone.
fn expected_allocated_bytes(trace: &trace::Trace) -> u64 {
    let mut sizes = vec![0u64; trace.n_ids as usize];
    let mut total = 0;
    for event in &trace.events {
        let slot = &mut sizes[event.id as usize];
        match event.op {
            Op::Malloc | Op::Calloc | Op::Aligned => {
                *slot = event.size.max(1) + event.alignment().saturating_sub(16);
                total += *slot;
            }
            Op::Realloc => {
                let new = event.size.max(1);
                total += new.saturating_sub(*slot);
                *slot = new;
            }
            Op::Free => *slot = 0,
        }
    }
    total
}

/// Replays on every available allocator; asserts they agree with each other and with the
/// trace (calls, and bytes by the documented rounding), and returns the outcome's checksum and ops.
fn replay_everywhere(params: &Params) -> (u64, u64) {
    let trace = params.trace.as_deref().expect("a trace");
    let summary = trace.summary();
    let runs: Vec<_> = available_allocators()
        .into_iter()
        .map(|alloc| run_on(workload("trace-replay"), "", alloc, params))
        .collect();
    assert!(runs.len() >= 2);
    for run in &runs {
        assert_eq!(run.outcome, runs[0].outcome, "{} and {} disagree", run.strategy, runs[0].strategy);
        let counters = run.alloc_counters.expect("counters");
        assert_eq!(counters.live_bytes, 0, "{}: every block freed at the end", run.strategy);
        assert_eq!(counters.n_allocs, params.size * (summary.mallocs + summary.callocs + summary.aligned));
        assert_eq!(counters.n_reallocs, params.size * summary.reallocs, "{}", run.strategy);
        assert_eq!(
            counters.n_frees,
            params.size * (summary.frees + summary.end_live_blocks),
            "{}",
            run.strategy
        );
        assert_eq!(
            counters.allocated_bytes,
            params.size * expected_allocated_bytes(trace),
            "{}",
            run.strategy
        );
        let mut phases = vec!["prepare".to_owned()];
        for round in 1..=params.size {
            let suffix = if round == 1 { String::new() } else { format!("-{round}") };
            phases.push(format!("replay{suffix}"));
            phases.push(format!("release{suffix}"));
        }
        assert_eq!(run.phase_names(), phases, "{}", run.strategy);
        // At the end of a replay the allocator holds what the program held at its exit.
        let at_exit = &run.phases[1];
        let held = at_exit.alloc.counters.expect("counters").live_bytes;
        assert_eq!(held > 0, summary.end_live_blocks > 0, "{}", run.strategy);
        if run.strategy == "pymalloc" && held > 0 {
            let arenas = at_exit.alloc.arenas.as_ref().expect("pymalloc's arena figures");
            assert!(arenas.arenas_highwater >= arenas.arenas_current, "{arenas:?}");
        }
    }
    (runs[0].outcome.checksum, runs[0].outcome.ops)
}

#[test]
fn a_written_trace_replays_alike_everywhere() {
    let mut w = Writer::new(1, 0);
    let mut live = Vec::new();
    for i in 0..5_000u64 {
        let op = [Op::Malloc, Op::Calloc, Op::Aligned][(i % 3) as usize];
        let align = if op == Op::Aligned { 4 + (i % 9) as u8 } else { 0 };
        live.push(w.alloc(op, (i % 3) as u32, i % 700, align));
        if i % 4 == 0 {
            let id = live.swap_remove((i as usize * 7) % live.len());
            w.free(0, id);
        }
        if i % 5 == 0 && !live.is_empty() {
            let id = live[(i as usize * 3) % live.len()];
            w.realloc(1, id, i * 3 % 5000);
        }
    }
    let bytes = w.finish();
    let parsed = trace::parse(&bytes, Path::new("written")).unwrap();
    let n = parsed.events.len() as u64;
    let (once, ops) = replay_everywhere(&params_with(parsed.clone(), 1));
    assert_eq!(ops, n);
    let (twice, ops) = replay_everywhere(&params_with(parsed, 2));
    assert_eq!(ops, 2 * n);
    assert_ne!(once, twice);
}

/// The preload library, built beside this test binary or by cargo.
fn preload_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().and_then(Path::parent).unwrap().join("libheaplab_preload.so");
    if !so.exists() {
        let status = Command::new(env!("CARGO")).args(["build", "-p", "heaplab-preload"]).status().unwrap();
        assert!(status.success(), "cargo build -p heaplab-preload failed");
    }
    so
}

fn python3() -> Option<PathBuf> {
    let root = Command::new("pyenv").arg("root").output().ok().filter(|out| out.status.success())?;
    let path =
        PathBuf::from(String::from_utf8_lossy(&root.stdout).trim()).join("versions/3.11.7/bin/python3");
    path.exists().then_some(path)
}

/// A small script whose allocations include one of a size nothing else asks for.
const SCRIPT: &str = "import json\nd=[{'k': str(i), 'v': [i] * (i % 9)} for i in range(3000)]\nassert json.loads(json.dumps(d)) == d\nmarker = bytearray(1234567)\nmarker[-1] = 1\nkept = [str(i) * 3 for i in range(500)]\n";

#[test]
fn a_python_trace_round_trips_and_bad_files_are_refused() {
    let Some(python) = python3().or_else(|| {
        Command::new("python3")
            .arg("-c")
            .arg("pass")
            .status()
            .ok()?
            .success()
            .then(|| PathBuf::from("python3"))
    }) else {
        eprintln!("skipped: no python3");
        return;
    };
    let dir = std::env::temp_dir().join(format!("heaplab-trace-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("py");
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .env("LD_PRELOAD", preload_library())
        .env("HEAPLAB_TRACE", &base)
        .env("PYTHONMALLOC", "malloc")
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let file = dir.join(format!("py.{pid}"));
    let captured = trace::read_file(&file).expect("the captured trace reads back");
    let summary = captured.summary();
    assert!(summary.mallocs > 3_000 && summary.frees > 1_000, "{summary}");
    // bytearray(n) asks for n + 1 bytes (its trailing NUL), through calloc or malloc.
    assert!(
        captured.events.iter().any(|event| event.op.allocates() && event.size == 1_234_568),
        "the script's 1234567-byte bytearray is in the trace"
    );
    let (once, ops) = replay_everywhere(&params_with(captured.clone(), 1));
    assert_eq!(ops, summary.calls);
    let (twice, ops) = replay_everywhere(&params_with(captured, 2));
    assert_eq!(ops, 2 * summary.calls);
    assert_ne!(once, twice);

    // Truncated: cut inside the first events chunk.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let message = trace::read_file(&cut).unwrap_err().to_string();
    assert!(message.contains(&cut.display().to_string()), "{message}");
    assert!(message.contains(&format!("at byte {}", bytes.len() / 2)), "{message}");

    // A newer format version.
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(trace::VERSION + 1).to_le_bytes());
    let future = dir.join("future");
    std::fs::write(&future, &newer).unwrap();
    let message = trace::read_file(&future).unwrap_err().to_string();
    assert!(
        message.contains("future") && message.contains("newer") && message.contains("at byte 8"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
