//! `python@3.X+ALLOCATOR`: the real CPython interpreter running a workload's Python twin
//! (`heaplab_workloads::twins`), measured from outside as one child process.
//!
//! The allocators under a real interpreter:
//!
//! - `pymalloc`: the interpreter as it ships (`PYTHONMALLOC=pymalloc`: obmalloc for objects
//!   of up to 512 bytes, glibc's `malloc` above).
//! - `system`: `PYTHONMALLOC=malloc`, every allocation on glibc's `malloc`.
//! - `jemalloc`, `mimalloc`: `PYTHONMALLOC=malloc` with heaplab's preload library
//!   (`libheaplab_preload.so`, `crates/preload`) in `LD_PRELOAD`, so that the whole malloc
//!   family of the process is that allocator, built from the same crates as heaplab's own
//!   `jemalloc` and `mimalloc` strategies. 3.13 ships a mimalloc of its own
//!   (`PYTHONMALLOC=mimalloc`, its `Objects/mimalloc/`, a different release of mimalloc,
//!   used per thread state for objects only); the preload library is used at every version
//!   instead, so that `python@3.13+mimalloc` runs the same mimalloc as `python@3.11+mimalloc`
//!   and as the model's `cycle+mimalloc`, and a difference between versions is the
//!   interpreter's, not the allocator's.
//!
//! What the record holds: wall time from the spawn to the exit; user, system, minor faults
//! and peak RSS of the interpreter process from `getrusage(RUSAGE_CHILDREN)` (heaplab has
//! no other child; its peak is at least heaplab's own RSS when it spawned the child, which
//! Linux keeps across `exec`: a few MiB, below any interpreter's); its RSS every millisecond
//! from `/proc/<pid>/statm` for `--series`; the twin's phases and its collections per
//! generation (`gc.get_stats()`, counted from the workload's start); the twin's checksum (the twin writes the checksum's input to a file
//! and this module digests it with heaplab's [`Checksum`]); and, in `params`, the
//! interpreter's release and the libraries that can serve `malloc` which the process really
//! had mapped (`/proc/<pid>/maps`, read while it runs), so that every row shows what ran.
//! Live and allocated bytes and pauses are the model's figures only: they are empty here.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use heaplab_core::probe::{self, PhaseRecord, Sample, Series};
use heaplab_core::version::Version;
use heaplab_core::{Checksum, Record, RunReport, Status};
use heaplab_workloads::twins::{self, Twin};
use serde::Deserialize;

/// The collector part of a real strategy's name: the interpreter's own refcounting and
/// cycle detector.
pub const COLLECTOR: &str = "python";

/// An allocator under the real interpreter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealAllocator {
    /// The name after `+`.
    pub name: &'static str,
    /// `PYTHONMALLOC` for the interpreter.
    pub pythonmalloc: &'static str,
    /// The preload library's `HEAPLAB_PRELOAD_ALLOC`, where the preload library serves.
    pub preload: Option<&'static str>,
}

/// The allocators a real interpreter runs on.
pub const ALLOCATORS: &[RealAllocator] = &[
    RealAllocator { name: "pymalloc", pythonmalloc: "pymalloc", preload: None },
    RealAllocator { name: "system", pythonmalloc: "malloc", preload: None },
    RealAllocator { name: "jemalloc", pythonmalloc: "malloc", preload: Some("jemalloc") },
    RealAllocator { name: "mimalloc", pythonmalloc: "malloc", preload: Some("mimalloc") },
];

/// The allocator called `name`.
pub fn allocator(name: &str) -> Option<&'static RealAllocator> {
    ALLOCATORS.iter().find(|a| a.name == name)
}

/// The preload library's file name.
const PRELOAD_FILE: &str = "libheaplab_preload.so";

/// The variable that names the preload library, where it is not beside `heaplab`.
pub const PRELOAD_VAR: &str = "HEAPLAB_PRELOAD_LIB";

/// How often the sampler reads the child's RSS.
const SAMPLE_PERIOD: Duration = Duration::from_millis(1);

/// The interpreter of release `version`: the newest `$(pyenv root)/versions/X.Y.*/bin/python3`,
/// else `python3.Y` on the `PATH`; `Err` says where it looked, in one line.
pub fn interpreter(version: &Version) -> Result<PathBuf, String> {
    let versions = heaplab_alloc::cpython::pyenv_root().join("versions");
    let (installed, _) = heaplab_alloc::cpython::pyenv_installs(&versions, version.name);
    let newest =
        installed.iter().map(|(_, name)| versions.join(name).join("bin/python3")).find(|p| p.is_file());
    if let Some(python) = newest {
        return Ok(python);
    }
    let command = format!("python{}", version.name);
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join(&command)).find(|p| p.is_file()));
    on_path.flatten().ok_or_else(|| {
        format!(
            "no CPython {} interpreter (none under {}, no {command} on the PATH)",
            version.name,
            versions.display()
        )
    })
}

/// The preload library: `HEAPLAB_PRELOAD_LIB`, else `libheaplab_preload.so` beside this
/// executable (where `cargo build --release -p heaplab-preload` puts it).
pub fn preload_library() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(PRELOAD_VAR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{PRELOAD_VAR}={} is not a file", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding heaplab's own path: {e}"))?;
    let beside = exe.with_file_name(PRELOAD_FILE);
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!(
            "the preload library is not built ({} is missing: cargo build --release -p heaplab-preload, \
             or name it in {PRELOAD_VAR})",
            beside.display()
        ))
    }
}

/// Whether `python@version+allocator` can run here.
pub fn availability(version: &Version, allocator: &RealAllocator) -> Result<(), String> {
    interpreter(version)?;
    if allocator.preload.is_some() {
        preload_library()?;
    }
    Ok(())
}

/// The twin of `workload`, or the one-line error that names the workloads that have one.
pub fn twin_of(workload: &str, strategy: &str) -> Result<&'static Twin> {
    twins::find(workload).ok_or_else(|| {
        let with_twin: Vec<&str> = twins::TWINS.iter().map(|t| t.workload).collect();
        anyhow::anyhow!(
            "workload {workload} has no Python twin, so the real interpreter ('{strategy}') cannot run it \
             (workloads with one: {})",
            with_twin.join(", ")
        )
    })
}

/// One real run's inputs.
pub struct RealRun<'a> {
    /// The strategy's name, as written.
    pub strategy: String,
    /// Its release.
    pub version: &'static Version,
    /// Its allocator.
    pub allocator: &'static RealAllocator,
    /// The workload.
    pub workload: &'static str,
    /// Size and seed.
    pub size: u64,
    /// The seed.
    pub seed: u64,
    /// `params` so far (thp and the like).
    pub params: String,
    /// Where `--series` goes.
    pub series: Option<&'a mut dyn Write>,
}

/// What a twin prints (the fields read here).
#[derive(Deserialize)]
struct TwinOutput {
    python: TwinPython,
    phases: Vec<TwinPhase>,
    ops: u64,
}

#[derive(Deserialize)]
struct TwinPython {
    version: String,
}

#[derive(Deserialize)]
struct TwinPhase {
    name: String,
    seconds: f64,
    ended_at: f64,
    collections: Vec<u64>,
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("heaplab-python-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the sampler saw of the child.
#[derive(Default)]
struct Watched {
    samples: Vec<Sample>,
    /// The mapped files that can serve `malloc`, from the last read of its maps.
    mapped: Vec<String>,
}

/// The libraries in a `/proc/<pid>/maps` text that can serve `malloc` or `PyObject_Malloc`:
/// the C library, libpython, the preload library and any other allocator library.
pub fn allocator_libraries(maps: &str) -> Vec<String> {
    let mut found: Vec<String> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter_map(|path| Path::new(path).file_name()?.to_str().map(str::to_owned))
        .filter(|name| {
            name.starts_with("libc.so")
                || name.starts_with("libc-")
                || name.starts_with("libpython")
                || name.contains("malloc")
                || name.starts_with(PRELOAD_FILE)
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Samples `pid`'s RSS every millisecond, and its maps now and then, until `stop`.
fn watch(pid: u32, start: Instant, stop: &AtomicBool) -> Watched {
    let mut watched = Watched::default();
    let mut tick: u64 = 0;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        // A zombie's statm reads 0: the process has ended, keep what came before.
        if let Some(rss) = probe::rss_bytes_of(pid).filter(|&rss| rss > 0) {
            watched.samples.push(Sample {
                t_ns: start.elapsed().as_nanos() as u64,
                rss_bytes: rss,
                live_bytes: 0,
                phase: 0,
            });
            // Right after exec only the program and the dynamic loader are mapped; the loader
            // maps the libraries next, libc (everything's dependency) last. So the maps are read
            // at every sample until libc is in them, then now and then.
            let loaded = watched.mapped.iter().any(|name| name.starts_with("libc"));
            if (!loaded || tick.is_multiple_of(64))
                && let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            {
                let mapped = allocator_libraries(&maps);
                if !mapped.is_empty() {
                    watched.mapped = mapped;
                }
            }
        }
        if stopping {
            return watched;
        }
        tick += 1;
        std::thread::sleep(SAMPLE_PERIOD);
    }
}

/// Sets `key=value` in a record's `params`.
fn set(params: &mut String, key: &str, value: &str) {
    *params = heaplab_core::record::with_param(params, key, value);
}

/// The interpreter `python` under `allocator`, its output piped, with nothing of the
/// caller's Python set-up or allocator choices: `PYTHONMALLOC`, and the preload library
/// for jemalloc and mimalloc. What it sets goes into `params`.
fn interpreter_command(
    python: &Path,
    strategy: &str,
    version: &Version,
    allocator: &RealAllocator,
    params: &mut String,
) -> Result<Command> {
    let mut command = Command::new(python);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("PYTHONSTARTUP")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONTRACEMALLOC")
        .env_remove("PYTHONMALLOCSTATS")
        .env_remove("PYTHONDEVMODE")
        .env_remove("HEAPLAB_TRACE")
        .env_remove("LD_PRELOAD")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONMALLOC", allocator.pythonmalloc);
    set(params, "version", version.name);
    set(params, "pythonmalloc", allocator.pythonmalloc);
    if let Some(backend) = allocator.preload {
        let library = preload_library()
            .map_err(|reason| anyhow::anyhow!("strategy '{strategy}' is unavailable here: {reason}"))?;
        command.env("LD_PRELOAD", &library).env("HEAPLAB_PRELOAD_ALLOC", backend);
        set(params, "preload", backend);
    }
    Ok(command)
}

/// A child measured from outside: what it printed, what the sampler saw, its wall time and
/// the children's resource usage before and after it.
struct Measured {
    output: std::process::Output,
    watched: Watched,
    wall_ns: u64,
    before: probe::Usage,
    after: probe::Usage,
    /// The system clock at the spawn.
    started_at: SystemTime,
}

/// Spawns `command` (the interpreter `python`), samples it until it exits, and measures it.
fn measure(mut command: Command, python: &Path) -> Result<Measured> {
    let before = probe::children_usage();
    let started_at = SystemTime::now();
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("starting {}", python.display()))?;
    let pid = child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("heaplab-python-probe".into())
            .spawn(move || watch(pid, started, &stop))
            .context("starting the sampler")?
    };
    let output = child.wait_with_output().with_context(|| format!("waiting for {}", python.display()));
    let wall_ns = started.elapsed().as_nanos() as u64;
    stop.store(true, Ordering::Relaxed);
    let watched = watcher.join().unwrap_or_default();
    let output = output?;
    let after = probe::children_usage();
    Ok(Measured { output, watched, wall_ns, before, after, started_at })
}

/// The last line of a child's stderr that is not blank.
fn last_line(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    stderr.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no message").trim().to_owned()
}

/// The digest of a twin's `--checksum-file`.
fn digest(path: &Path) -> Result<String> {
    let file =
        File::open(path).with_context(|| format!("the twin wrote no checksum input ({})", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut checksum = Checksum::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(format!("{:016x}", checksum.finish()));
        }
        checksum.stream(&buffer[..n]);
    }
}

/// Runs the twin under the real interpreter and measures it.
pub fn run(run: RealRun<'_>) -> Result<RunReport> {
    let twin = twin_of(run.workload, &run.strategy)?;
    let python = interpreter(run.version)
        .map_err(|reason| anyhow::anyhow!("strategy '{}' is unavailable here: {reason}", run.strategy))?;
    let scratch = Scratch::new()?;
    let (harness, harness_source) = twins::HARNESS;
    std::fs::write(scratch.0.join(harness), harness_source).context("writing the twin's harness")?;
    let script = scratch.0.join(twin.script);
    std::fs::write(&script, twin.source).context("writing the twin")?;
    let checksum_file = scratch.0.join("checksum.bin");

    let mut params = run.params.clone();
    let mut command = interpreter_command(&python, &run.strategy, run.version, run.allocator, &mut params)?;
    command
        .arg(&script)
        .args(["--workload", run.workload, "--size", &run.size.to_string(), "--seed", &run.seed.to_string()])
        .arg("--checksum-file")
        .arg(&checksum_file)
        .current_dir(&scratch.0);
    let measured = measure(command, &python)?;
    let (output, watched, wall_ns) = (measured.output, measured.watched, measured.wall_ns);
    let (before, after, wall_clock_at_start) = (measured.before, measured.after, measured.started_at);
    if !output.status.success() {
        bail!(
            "{} ({}) failed on {} ({}): {}",
            python.display(),
            run.strategy,
            run.workload,
            output.status,
            last_line(&output.stderr)
        );
    }
    let printed = String::from_utf8_lossy(&output.stdout);
    let result: TwinOutput = serde_json::from_str(printed.trim())
        .with_context(|| format!("{} printed something that is not a twin's JSON", twin.script))?;
    let checksum = digest(&checksum_file)?;

    // Each phase's end on the series' clock.
    let start_epoch = wall_clock_at_start.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let phase_ends: Vec<u64> =
        result.phases.iter().map(|p| ((p.ended_at - start_epoch).max(0.0) * 1e9) as u64).collect();
    let mut samples = watched.samples;
    for sample in &mut samples {
        let index = phase_ends.iter().position(|&end| sample.t_ns <= end).unwrap_or(phase_ends.len());
        sample.phase = index.min(phase_ends.len().saturating_sub(1)) as u32;
    }
    let rss_at = |t_ns: u64| samples.iter().take_while(|s| s.t_ns <= t_ns).last().map_or(0, |s| s.rss_bytes);
    let phases: Vec<PhaseRecord> = result
        .phases
        .iter()
        .zip(&phase_ends)
        .map(|(phase, &end)| PhaseRecord {
            name: phase.name.clone(),
            duration_ns: (phase.seconds.max(0.0) * 1e9) as u64,
            live_bytes: 0,
            rss_bytes: rss_at(end),
            collections: phase.collections.iter().sum(),
            alloc: Default::default(),
        })
        .collect();
    let collections_by_gen = result.phases.last().map(|p| p.collections.clone()).unwrap_or_default();

    set(&mut params, "interpreter", &result.python.version);
    set(&mut params, "mapped", &watched.mapped.join("|"));
    let end_rss_bytes = samples.last().map(|s| s.rss_bytes);
    if let Some(out) = run.series {
        let names: Vec<String> = result.phases.iter().map(|p| p.name.clone()).collect();
        Series { samples, events: Vec::new() }.write_csv(out, &names).context("writing the series")?;
    }
    let wall_s = wall_ns as f64 / 1e9;
    let record = Record {
        strategy: run.strategy,
        collector: COLLECTOR.to_owned(),
        allocator: run.allocator.name.to_owned(),
        workload: run.workload.to_owned(),
        size: run.size,
        threads: 1,
        seed: run.seed,
        rep: 0,
        status: Status::Ok,
        checksum: Some(checksum),
        wall_ns: Some(wall_ns),
        user_ns: Some(after.user_ns.saturating_sub(before.user_ns)),
        sys_ns: Some(after.sys_ns.saturating_sub(before.sys_ns)),
        ops: Some(result.ops),
        ops_per_s: Some(if wall_s > 0.0 { result.ops as f64 / wall_s } else { 0.0 }),
        peak_rss_bytes: Some(after.max_rss_bytes),
        end_rss_bytes,
        peak_live_bytes: None,
        end_live_bytes: None,
        allocated_bytes: None,
        leaked_bytes: None,
        collections: Some(collections_by_gen.iter().sum()),
        pause_total_ns: None,
        pause_max_ns: None,
        pause_p99_ns: None,
        minor_faults: Some(after.minor_faults.saturating_sub(before.minor_faults)),
        params,
    };
    Ok(RunReport { record, collections_by_gen, phases, anon_huge_bytes: None })
}

/// The real interpreter's own workload: a whole program that no one here wrote, run once
/// under the strategy's allocator (`heaplab run --strategy python@3.11+jemalloc --workload
/// program --program SPEC`). It has no model counterpart: no checksum, no ops, no
/// collection counts; wall, CPU, faults, peak RSS, the RSS series and the mapped allocator
/// libraries, as for a twin.
pub const PROGRAM: &str = "program";

/// The message when no spec was given.
pub const NEEDS_PROGRAM: &str = "workload program needs --program SPEC (cargo xtask pyperf writes one beside each trace: traces/<bench>.program.json)";

/// One program run's inputs.
pub struct ProgramRun<'a> {
    /// The strategy's name, as written.
    pub strategy: String,
    /// Its release.
    pub version: &'static Version,
    /// Its allocator.
    pub allocator: &'static RealAllocator,
    /// The spec.
    pub spec: &'a Path,
    /// The seed (recorded; a program takes none).
    pub seed: u64,
    /// `params` so far.
    pub params: String,
    /// Where `--series` goes.
    pub series: Option<&'a mut dyn Write>,
}

/// Runs a program once under the real interpreter and measures it from outside.
pub fn run_program(run: ProgramRun<'_>) -> Result<RunReport> {
    let spec = heaplab_core::program::read(run.spec).map_err(anyhow::Error::msg)?;
    if spec.release != run.version.name {
        bail!(
            "{} is a program for CPython {} ({}); '{}' runs CPython {}",
            run.spec.display(),
            spec.release,
            spec.python.display(),
            run.strategy,
            run.version.name
        );
    }
    if !spec.python.is_file() {
        bail!(
            "{}: its interpreter {} is not there (cargo xtask pyperf makes it)",
            run.spec.display(),
            spec.python.display()
        );
    }
    let mut params = run.params.clone();
    set(&mut params, "program", &spec.program);
    let mut command =
        interpreter_command(&spec.python, &run.strategy, run.version, run.allocator, &mut params)?;
    command.args(&spec.argv).current_dir(&spec.cwd).stdout(Stdio::null());
    let measured = measure(command, &spec.python)?;
    if !measured.output.status.success() {
        bail!(
            "{} ({}) failed on the program {} ({}): {}",
            spec.python.display(),
            run.strategy,
            spec.program,
            measured.output.status,
            last_line(&measured.output.stderr)
        );
    }
    let interpreter = Command::new(&spec.python)
        .args(["-c", "import platform; print(platform.python_version())"])
        .env_remove("PYTHONPATH")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(interpreter) = &interpreter {
        set(&mut params, "interpreter", interpreter);
    }
    set(&mut params, "mapped", &measured.watched.mapped.join("|"));
    let samples = measured.watched.samples;
    let end_rss_bytes = samples.last().map(|s| s.rss_bytes);
    let phases = vec![PhaseRecord {
        name: "run".to_owned(),
        duration_ns: measured.wall_ns,
        live_bytes: 0,
        rss_bytes: end_rss_bytes.unwrap_or(0),
        collections: 0,
        alloc: Default::default(),
    }];
    if let Some(out) = run.series {
        Series { samples, events: Vec::new() }
            .write_csv(out, &["run".to_owned()])
            .context("writing the series")?;
    }
    let (before, after) = (measured.before, measured.after);
    let record = Record {
        strategy: run.strategy,
        collector: COLLECTOR.to_owned(),
        allocator: run.allocator.name.to_owned(),
        workload: PROGRAM.to_owned(),
        size: 1,
        threads: 1,
        seed: run.seed,
        rep: 0,
        wall_ns: Some(measured.wall_ns),
        user_ns: Some(after.user_ns.saturating_sub(before.user_ns)),
        sys_ns: Some(after.sys_ns.saturating_sub(before.sys_ns)),
        peak_rss_bytes: Some(after.max_rss_bytes),
        end_rss_bytes,
        minor_faults: Some(after.minor_faults.saturating_sub(before.minor_faults)),
        params,
        // No checksum, ops, live bytes or pauses: a program no one here wrote, seen from outside.
        ..Record::unmeasured(Status::Ok)
    };
    Ok(RunReport { record, collections_by_gen: Vec::new(), phases, anon_huge_bytes: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_libraries_are_picked_out_of_a_maps_text() {
        let maps = "\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 123 /root/.pyenv/versions/3.11.7/bin/python3.11
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
7f1000000000-7f1000100000 r-xp 00000000 fe:01 456 /root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0
7f1000100000-7f1000200000 r--p 00100000 fe:01 456 /root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0
7f2000000000-7f2000100000 r-xp 00000000 fe:01 789 /usr/lib/x86_64-linux-gnu/libc.so.6
7f3000000000-7f3000100000 r-xp 00000000 fe:01 790 /work/main/target/release/libheaplab_preload.so
7f4000000000-7f4000100000 r-xp 00000000 fe:01 791 /usr/lib/x86_64-linux-gnu/libm.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]";
        assert_eq!(allocator_libraries(maps), ["libc.so.6", "libheaplab_preload.so", "libpython3.11.so.1.0"]);
        assert!(allocator_libraries("").is_empty());
    }

    #[test]
    fn a_workload_without_a_twin_is_refused_with_the_ones_that_have_one() {
        let error = twin_of("larson", "python@3.11+pymalloc").unwrap_err().to_string();
        assert!(error.contains("larson has no Python twin"), "{error}");
        assert!(error.contains("bulk-load"), "{error}");
        assert!(twin_of("bulk-load", "python+pymalloc").is_ok());
    }

    #[test]
    fn a_missing_release_is_unavailable_with_where_it_looked() {
        let v314 = heaplab_core::version::find("3.14").unwrap();
        // No 3.14 interpreter on the machines this runs on; where one is installed, it must be found.
        match interpreter(v314) {
            Ok(path) => assert!(path.to_string_lossy().contains("3.14"), "{}", path.display()),
            Err(reason) => assert!(reason.contains("no CPython 3.14 interpreter"), "{reason}"),
        }
    }
}
