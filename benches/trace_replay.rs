//! What `trace-replay` adds to each replayed call beyond the allocator's own cost.
//!
//! - `trace_replay/workload/<allocator>`: the `trace-replay` workload as `heaplab run` runs it,
//!   on a fresh allocator per iteration; the time is its `replay` phase (the program's calls).
//! - `trace_replay/bare/<allocator>`: the same calls made straight on the same
//!   `Box<dyn Allocator>`, with only what any replay needs — a table of (pointer, size) by id —
//!   timed over the same calls (the table made before, the blocks left at exit freed after).
//!
//! Criterion reports time per call (throughput in elements = calls). The workload's time less
//! the bare loop's, on `bump` (whose own cost is a pointer bump), is what the replay adds per
//! call. The trace is `HEAPLAB_BENCH_TRACE` when set (e.g. one that `cargo xtask pyperf` wrote,
//! `target/pyperf/traces/json_loads.trace`), else a synthetic trace made here with the
//! format's `Writer` (so the bench runs without Python or PyPI).
//!
//! `cargo bench --bench trace_replay`; `HEAPLAB_BENCH_ALLOCATORS=bump,pymalloc` picks the
//! allocators (default: bump). `HEAPLAB_BENCH_PAIRED=N` runs N (workload, bare) pairs in turn
//! instead of criterion and prints the medians and quartiles of the time per call and of the
//! difference: the figure to quote on a shared, drifting machine.

use std::hint::black_box;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use heaplab_alloc::{AllocConfig, availability, boxed};
use heaplab_core::trace::{self, Op, Trace, Writer};
use heaplab_core::{Allocator, Params, PhaseLog};
use heaplab_workloads::Body;

/// The body of an allocator workload.
type AllocBody = fn(&mut dyn Allocator, &mut PhaseLog, &Params) -> heaplab_core::Outcome;

/// A trace shaped like an interpreter's: mostly small blocks, short lives, some resizes.
fn synthetic() -> Trace {
    let mut writer = Writer::new(1, 0);
    let mut live: Vec<u32> = Vec::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let choice = x % 100;
        if choice < 48 || live.len() < 64 {
            let size = [16, 24, 32, 48, 56, 64, 80, 120, 200, 512, 1000, 4096][(x >> 8) as usize % 12];
            live.push(writer.alloc(Op::Malloc, 0, size, 0));
        } else if choice < 95 {
            let index = (x >> 16) as usize % live.len().min(256);
            let at = live.len() - 1 - index;
            writer.free(0, live.swap_remove(at));
        } else {
            let id = live[(x >> 16) as usize % live.len()];
            writer.realloc(0, id, 16 + (x >> 24) % 2000);
        }
    }
    trace::parse(&writer.finish(), Path::new("synthetic")).expect("a valid trace")
}

/// The calls of `trace` made straight on `alloc`, keeping (pointer, size) per id.
fn bare(alloc: &mut dyn Allocator, trace: &Trace, table: &mut [Option<(NonNull<u8>, usize)>]) {
    for event in &trace.events {
        let slot = &mut table[event.id as usize];
        match event.op {
            Op::Malloc | Op::Calloc | Op::Aligned => {
                let size = (event.size.max(1) + event.alignment().saturating_sub(16)) as usize;
                *slot = Some((alloc.allocate(size).expect("memory"), size));
            }
            Op::Realloc => {
                let (ptr, old) = slot.take().expect("live");
                let size = event.size.max(1) as usize;
                // SAFETY: ptr is a live block of `alloc` of `old` bytes, taken out of the table.
                let new = unsafe { alloc.reallocate(ptr, old, size) }.expect("memory");
                *slot = Some((new, size));
            }
            Op::Free => {
                let (ptr, size) = slot.take().expect("live");
                // SAFETY: ptr is a live block of `alloc` of `size` bytes, taken out of the table.
                unsafe { alloc.free(ptr, size) };
            }
        }
    }
}

/// Frees what the program held at its exit.
fn release(alloc: &mut dyn Allocator, table: &mut [Option<(NonNull<u8>, usize)>]) {
    for (ptr, size) in table.iter_mut().filter_map(Option::take) {
        // SAFETY: every block left in the table is a live block of `alloc` of that size, freed once.
        unsafe { alloc.free(ptr, size) };
    }
}

/// The `replay` phase of one run of the workload on a fresh `name`, in nanoseconds.
fn workload_replay_ns(name: &str, body: AllocBody, params: &Params) -> u64 {
    let mut alloc = boxed(name, &AllocConfig::default()).expect("available");
    let mut log = PhaseLog::new(None);
    black_box(body(alloc.as_mut(), &mut log, params));
    log.end(Default::default);
    log.records().iter().find(|phase| phase.name == "replay").expect("a replay phase").duration_ns
}

/// The bare loop over the same calls on a fresh `name`, in nanoseconds.
fn bare_ns(name: &str, trace: &Trace) -> u64 {
    let mut alloc = boxed(name, &AllocConfig::default()).expect("available");
    let mut table = vec![None; trace.n_ids as usize];
    let started = Instant::now();
    bare(alloc.as_mut(), trace, &mut table);
    let elapsed = started.elapsed().as_nanos() as u64;
    release(alloc.as_mut(), &mut table);
    elapsed
}

/// `HEAPLAB_BENCH_PAIRED=N`: N pairs (workload, bare) in turn on each allocator, and the median
/// and quartiles of the per-call difference, so that drift of a shared machine hits both alike.
fn paired(pairs: usize, allocators: &str, body: AllocBody, params: &Params, trace: &Trace) {
    let calls = trace.events.len() as f64;
    for name in allocators.split(',').map(str::trim) {
        if availability(name).is_err() {
            continue;
        }
        let mut workload = Vec::new();
        let mut plain = Vec::new();
        let mut differences = Vec::new();
        for _ in 0..pairs {
            let w = workload_replay_ns(name, body, params) as f64 / calls;
            let b = bare_ns(name, trace) as f64 / calls;
            workload.push(w);
            plain.push(b);
            differences.push(w - b);
        }
        let quartiles = |values: &mut Vec<f64>| {
            values.sort_by(f64::total_cmp);
            let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
            (at(0.25), at(0.5), at(0.75))
        };
        let (w25, w50, w75) = quartiles(&mut workload);
        let (b25, b50, b75) = quartiles(&mut plain);
        let (d25, d50, d75) = quartiles(&mut differences);
        println!(
            "{name}: {pairs} pairs, ns per call: replay phase {w50:.2} [{w25:.2}, {w75:.2}], bare {b50:.2} [{b25:.2}, {b75:.2}], added {d50:.2} [{d25:.2}, {d75:.2}] (median [quartiles])"
        );
    }
}

fn bench(c: &mut Criterion) {
    let trace = match std::env::var_os("HEAPLAB_BENCH_TRACE") {
        Some(path) => trace::read_file(Path::new(&path)).unwrap_or_else(|error| panic!("{error}")),
        None => synthetic(),
    };
    let allocators = std::env::var("HEAPLAB_BENCH_ALLOCATORS").unwrap_or_else(|_| "bump".to_owned());
    let calls = trace.events.len() as u64;
    eprintln!("trace {}: {calls} calls", trace.path.display());
    let trace = Arc::new(trace);
    let workload = heaplab_workloads::find("trace-replay").expect("the trace-replay workload");
    let Body::Alloc(body) = workload.body else { panic!("trace-replay is an allocator workload") };
    let params = Params { size: 1, threads: 1, seed: 1, trace: Some(Arc::clone(&trace)) };
    if let Some(pairs) = std::env::var("HEAPLAB_BENCH_PAIRED").ok().and_then(|n| n.parse().ok()) {
        paired(pairs, &allocators, body, &params, &trace);
        return;
    }

    let mut group = c.benchmark_group("trace_replay");
    group.throughput(Throughput::Elements(calls));
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(
        std::env::var("HEAPLAB_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8),
    ));
    for name in allocators.split(',').map(str::trim) {
        if let Err(why) = availability(name) {
            eprintln!("skipping {name}: {why}");
            continue;
        }
        group.bench_function(BenchmarkId::new("workload", name), |b| {
            b.iter_custom(|iters| {
                (0..iters).map(|_| Duration::from_nanos(workload_replay_ns(name, body, &params))).sum()
            })
        });
        group.bench_function(BenchmarkId::new("bare", name), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| Duration::from_nanos(bare_ns(name, &trace))).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
