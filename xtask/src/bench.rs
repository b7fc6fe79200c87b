//! `cargo xtask bench`: the sweep. It builds `heaplab` in release, plans the
//! matrix of strategies x workloads x sizes (x threads), runs every run in a
//! fresh child process under a time limit and a memory cap, appends each
//! finished run to `runs.csv` and `runs.jsonl` at once, and writes the report.
//!
//! - [`catalog`]: what `heaplab list --json` offers;
//! - [`plan`]: selection by globs, the cell order, shards, repetitions, resume;
//! - [`child`]: one child run, its limits, and how it ended;
//! - [`sink`]: the result files, written a whole line at a time;
//! - [`env`]: `env.json`, the machine and the software;
//! - [`limits`]: byte sizes, seconds, the machine's memory;
//! - [`progress`]: the bar, or a line per run.

mod catalog;
mod child;
mod env;
mod estimate;
mod limits;
mod plan;
mod progress;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use anyhow::{Context, bail};
use heaplab_core::{Record, RunReport, Status};

use crate::results::{self, Sink};
use catalog::Catalog;
use child::{Ending, Finished, Limits};
use limits::{ByteSize, Seconds, human_bytes};
pub use plan::cell_id;
use plan::{Cell, Run, Selection, Shard};
use progress::Progress;

/// The exit code of a sweep stopped by Ctrl-C, as a shell reports SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

/// `cargo xtask bench`: runs the matrix, each run in a fresh `heaplab run` process.
#[derive(clap::Args, Debug)]
pub struct BenchCmd {
    /// The smoke sweep: every available strategy and workload at quick sizes, one repetition.
    #[arg(long)]
    quick: bool,
    /// Strategies to run: shell-style globs, comma-separated or repeated (default: all).
    #[arg(long = "strategy", value_name = "GLOBS", value_delimiter = ',')]
    strategy_globs: Vec<String>,
    /// Workloads to run: shell-style globs, comma-separated or repeated (default: all).
    #[arg(long = "workload", value_name = "GLOBS", value_delimiter = ',')]
    workload_globs: Vec<String>,
    /// Sizes for every selected workload, instead of each workload's own.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_size)]
    sizes: Option<Vec<u64>>,
    /// Thread counts for threaded workloads (default: 1 and 2 with --quick, else 1 to the core count).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_threads)]
    threads: Option<Vec<u32>>,
    /// Repetitions of every cell, interleaved (default: 3; 1 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    repeat: Option<u32>,
    /// The results directory (default: results/latest in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Keeps DIR's runs and runs only those not yet in DIR/runs.csv.
    #[arg(long)]
    resume: bool,
    /// Runs the I-th of N slices of the planned cells, e.g. 2/4.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Time limit of one run in seconds (default: 600; 60 with --quick).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<Seconds>,
    /// Resident-memory cap of one run: 512M, 4G, or bytes (default: half the machine's memory).
    #[arg(long, value_name = "BYTES")]
    mem_limit: Option<ByteSize>,
    /// The workloads' seed.
    #[arg(long, value_name = "K", default_value_t = 42)]
    seed: u64,
    /// Runs this heaplab binary instead of building one in release.
    #[arg(long, value_name = "PATH")]
    heaplab: Option<PathBuf>,
    /// Writes no report at the end (`cargo xtask report DIR` draws it later, e.g. after merging shards).
    #[arg(long)]
    no_report: bool,
    /// Transparent huge pages in every child: `system` (the kernel's setting), `never`
    /// (`prctl(PR_SET_THP_DISABLE)` in the child) or `always` (refused: it needs root) (default: never).
    #[arg(long, value_name = "SETTING")]
    thp: Option<String>,
    /// Repeats each cell, still interleaved, until the 95% confidence interval of its median wall
    /// time is within ±P (e.g. 3%), or --max-repeat; --repeat is then the fewest repetitions.
    #[arg(long, value_name = "P")]
    precision: Option<String>,
    /// The most repetitions of a cell under --precision (default: 20).
    #[arg(long, value_name = "N")]
    max_repeat: Option<String>,
    /// Prints what the sweep would run (cells and runs by kind of strategy) and runs nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: estimates the sweep's time from the wall times of the runs in DIR/runs.csv
    /// (repeatable or comma-separated: the runs of every DIR together, e.g. an earlier sweep and
    /// the one under way)
    #[arg(long, value_name = "DIR", requires = "dry_run", value_delimiter = ',')]
    estimate_from: Vec<PathBuf>,
    /// Replays traces: each `*.trace` in DIR (or a trace file named) becomes a workload
    /// `trace-replay-<file stem>` on every allocator strategy (`cargo xtask pyperf` captures
    /// pyperformance's into target/pyperf/traces).
    #[arg(long = "traces", value_name = "DIR|FILE", value_delimiter = ',')]
    traces: Vec<PathBuf>,
    /// Sweeps a strategy parameter: each VALUE adds a cell `NAME[KEY=VALUE]` beside every cell of
    /// the strategies KEY's first part names (`--set marksweep.growth=1.25,1.5,2,3,4`: mark-sweep's
    /// heap size). The keys are `heaplab run --set`'s. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE[,VALUE...]")]
    settings: Vec<plan::SettingSweep>,
}

/// A program's name from its trace file's stem, safe in workload names and the report's file
/// names: characters other than ASCII letters, digits, `_`, `.` and `-` become `_`.
fn program_name(stem: &str) -> String {
    stem.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' })
        .collect()
}

/// The traces of `--traces`: each `*.trace` of a directory, sorted, or a file named; absolute.
fn trace_inputs(base: &Path, given: &[PathBuf]) -> anyhow::Result<Vec<plan::TraceInput>> {
    let mut inputs: Vec<plan::TraceInput> = Vec::new();
    for path in given {
        let path = base.join(path);
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .with_context(|| format!("listing {}", path.display()))?
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.path())
                .filter(|file| file.is_file() && file.extension().is_some_and(|ext| ext == "trace"))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!(
                    "--traces {}: no *.trace file there (cargo xtask pyperf or cargo xtask trace -o FILE.trace captures some)",
                    path.display()
                );
            }
            files
        } else if path.is_file() {
            vec![path.clone()]
        } else {
            bail!("--traces {}: no such file or directory", path.display());
        };
        for file in files {
            let Some(program) = file.file_stem().and_then(|stem| stem.to_str()).map(program_name) else {
                bail!("--traces {}: the file name is not UTF-8", file.display());
            };
            if let Some(other) = inputs.iter().find(|input| input.program == program) {
                bail!(
                    "--traces: two traces of the program {program:?}: {} and {}",
                    other.path.display(),
                    file.display()
                );
            }
            let spec = program_spec(&file)?;
            inputs.push(plan::TraceInput { program, path: file, spec });
        }
    }
    Ok(inputs)
}

/// The program spec beside a trace (`<stem>.program.json`, which `cargo xtask pyperf` writes),
/// where there is one, with the release it names.
fn program_spec(trace: &Path) -> anyhow::Result<Option<plan::ProgramInput>> {
    let Some(program) = trace.file_stem().and_then(|stem| stem.to_str()) else { return Ok(None) };
    let path = trace.with_file_name(heaplab_core::program::file_name(program));
    if !path.is_file() {
        return Ok(None);
    }
    let spec = heaplab_core::program::read(&path).map_err(anyhow::Error::msg)?;
    let release = spec.release;
    Ok(Some(plan::ProgramInput { path, release: release.to_owned() }))
}

/// What the sweep adds to a trace cell's params: the program, and, where the trace's directory
/// has the manifest of `cargo xtask pyperf`, the versions that ran it.
fn trace_params(params: &str, cell: &Cell) -> String {
    let Some((program, _)) = plan::traced_program(&cell.workload) else { return params.to_owned() };
    let mut params = heaplab_core::record::with_param(params, "program", program);
    let manifest = cell
        .trace
        .as_deref()
        .or(cell.program.as_deref())
        .and_then(Path::parent)
        .and_then(|dir| crate::pyperf::read_manifest(dir).ok().flatten());
    if let Some(manifest) = manifest
        && let Some(traced) = manifest.benchmarks.iter().find(|traced| traced.benchmark == program)
    {
        params = heaplab_core::record::with_param(&params, "pyperformance", &manifest.pyperformance);
        params = heaplab_core::record::with_param(&params, "python", &manifest.python);
        params = heaplab_core::record::with_param(&params, "loops", &traced.loops.to_string());
    }
    params
}

/// The THP setting of the children when `--thp` is not given: `never` keeps mimalloc's
/// `madvise(MADV_HUGEPAGE)` arenas from waiting on direct compaction (see the report's method).
pub const DEFAULT_THP: &str = "never";

/// The most repetitions under `--precision` when `--max-repeat` is not given.
pub const DEFAULT_MAX_REPEAT: u32 = 20;

/// The variable through which each child gets its THP setting (`heaplab run` reads it).
pub const THP_VAR: &str = "HEAPLAB_THP";

/// `--thp`: `system` or `never`; `always` is refused with the reason.
fn parse_thp(text: &str) -> anyhow::Result<&'static str> {
    match text.trim() {
        "system" => Ok("system"),
        "never" => Ok("never"),
        "always" => bail!(
            "--thp always is refused: an unprivileged process can only turn huge pages off (prctl) or ask for them region by region (madvise) on memory the allocators map themselves, so \"always\" could not be made honest without root writing /sys/kernel/mm/transparent_hugepage/enabled; use --thp system or --thp never"
        ),
        other => bail!("--thp {other:?} is not a setting: write system, never or always"),
    }
}

/// `--precision`: a share above 0% and below 100%, as `3%` or `0.03`.
fn parse_precision(text: &str) -> anyhow::Result<f64> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok().map(|p| p / 100.0),
        None => trimmed.parse::<f64>().ok(),
    };
    match value {
        Some(share) if share > 0.0 && share < 1.0 => Ok(share),
        _ => bail!(
            "--precision {text:?} is not a precision: write a share above 0% and below 100%, e.g. 3% or 0.03"
        ),
    }
}

/// `--max-repeat`: a positive count.
fn parse_max_repeat(text: &str) -> anyhow::Result<u32> {
    match text.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("--max-repeat {text:?} is not a repetition count: write a positive integer, e.g. 20"),
    }
}

/// What the measurement options ask for, checked.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    thp: &'static str,
    /// The fewest repetitions of a cell (all of them without --precision).
    repeat: u32,
    precision: Option<f64>,
    /// The most repetitions of a cell.
    cap: u32,
}

impl Measurement {
    /// The fewest runs a cell gets: under --precision no cell stops before its median has a
    /// confidence interval, so at least `MEDIAN_CI_MIN_RUNS` (unless the cap is lower).
    fn fewest(&self) -> u32 {
        match self.precision {
            Some(_) => self.repeat.max(crate::report::stats::MEDIAN_CI_MIN_RUNS as u32).min(self.cap),
            None => self.repeat,
        }
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(size) if size > 0 => Ok(size),
        _ => Err(format!("{text:?} is not a size: sizes are positive integers")),
    }
}

fn parse_threads(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(threads) if threads > 0 => Ok(threads),
        _ => Err(format!("{text:?} is not a thread count: thread counts are positive integers")),
    }
}

/// A failed run, as listed at the end of a sweep.
struct FailedRun {
    status: Status,
    description: String,
    stderr_file: Option<PathBuf>,
}

impl BenchCmd {
    /// Runs the sweep; the exit code is 0 when every run succeeded.
    /// Checks the measurement options: each bad one is a one-line error.
    fn measurement(&self) -> anyhow::Result<Measurement> {
        let thp = parse_thp(self.thp.as_deref().unwrap_or(DEFAULT_THP))?;
        let precision = self.precision.as_deref().map(parse_precision).transpose()?;
        let max_repeat = self.max_repeat.as_deref().map(parse_max_repeat).transpose()?;
        let repeat = self.repeat.unwrap_or(if self.quick { 1 } else { 3 });
        if precision.is_some() && self.quick {
            bail!("--precision is not for --quick: the smoke sweep runs each cell once");
        }
        let cap = match (precision, max_repeat) {
            (None, Some(_)) => bail!("--max-repeat caps --precision's repetitions; give --precision too"),
            (None, None) => repeat,
            (Some(_), Some(cap)) if cap < repeat => {
                bail!("--max-repeat {cap} is below --repeat {repeat}, the fewest repetitions")
            }
            (Some(_), cap) => cap.unwrap_or(DEFAULT_MAX_REPEAT.max(repeat)),
        };
        Ok(Measurement { thp, repeat, precision, cap })
    }

    pub fn run(self) -> anyhow::Result<i32> {
        let measurement = self.measurement()?;
        let invocation_dir = std::env::current_dir().context("reading the current directory")?;
        let root = crate::project_root();
        let out_dir = match &self.out {
            Some(out) => invocation_dir.join(out),
            None => root.join("results").join("latest"),
        };
        let repeat = measurement.repeat;
        let limits = Limits {
            timeout: self.timeout.map_or_else(|| limits::default_timeout(self.quick), |seconds| seconds.0),
            mem_limit_bytes: match self.mem_limit {
                Some(bytes) => bytes.0,
                None => limits::default_mem_limit()?,
            },
        };

        let heaplab = match &self.heaplab {
            Some(path) => invocation_dir.join(path),
            None => build_heaplab(&root)?,
        };
        let python = env::find_python();
        let mut child_env = child_env(&python);
        child_env.push((THP_VAR.to_owned(), measurement.thp.to_owned()));
        let catalog = Catalog::load(&heaplab, &child_env)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let selection = Selection {
            strategy_globs: self.strategy_globs.clone(),
            workload_globs: self.workload_globs.clone(),
            sizes: self.sizes.clone(),
            threads: self.threads.clone(),
            quick: self.quick,
            cores,
            traces: trace_inputs(&invocation_dir, &self.traces)?,
            settings: self.settings.clone(),
        };
        let plan = plan::plan(&catalog, &selection)?;
        for (name, reason) in &plan.unavailable {
            eprintln!("skipping {name}: not available here: {reason}");
        }
        let cells = match self.shard {
            Some(shard) => plan::shard_cells(&plan.cells, shard),
            None => plan.cells.clone(),
        };
        let cap = measurement.cap;
        if self.dry_run {
            let mut history: Option<Vec<heaplab_core::Record>> = None;
            for dir in &self.estimate_from {
                let records = results::read_runs_csv(&invocation_dir.join(dir).join(results::RUNS_CSV))?;
                history.get_or_insert_with(Vec::new).extend(records);
            }
            let fewest = measurement.fewest();
            let repetitions = estimate::Repetitions {
                fewest,
                most: if measurement.precision.is_some() { cap } else { fewest },
                precision: measurement.precision,
            };
            print_dry_run(&cells, repetitions, &catalog, history.as_deref());
            return Ok(0);
        }
        let all_runs = plan::interleave(&cells, cap);
        let planned_count = all_runs.len();

        results::prepare(&out_dir, self.resume)?;
        let earlier = if self.resume && out_dir.join(results::RUNS_CSV).exists() {
            results::read_runs_csv(&out_dir.join(results::RUNS_CSV))?
        } else {
            Vec::new()
        };
        let done: std::collections::HashSet<plan::RunKey> =
            earlier.iter().map(plan::RunKey::of_record).collect();
        let runs = plan::without_done(all_runs, &done);
        let repetitions = match measurement.precision {
            Some(precision) => format!(
                "{} to {cap} repetitions (until the 95% CI of the median wall time is within ±{})",
                measurement.fewest(),
                crate::report::format::percent(precision)
            ),
            None => format!("{repeat} repetition{}", if repeat == 1 { "" } else { "s" }),
        };
        eprintln!(
            "sweep: {} cells x {repetitions} = {}{planned_count} runs{}{}; THP {}; limits {:.0} s and {} per run; into {}",
            cells.len(),
            if measurement.precision.is_some() { "at most " } else { "" },
            self.shard.map(|shard| format!(" (shard {shard})")).unwrap_or_default(),
            if self.resume { format!(", {} left to run", runs.len()) } else { String::new() },
            measurement.thp,
            limits.timeout.as_secs_f64(),
            human_bytes(limits.mem_limit_bytes),
            out_dir.display(),
        );

        let started = SystemTime::now();
        let settings = env::SweepSettings {
            command_line: command_line(),
            quick: self.quick,
            repeat,
            seed: self.seed,
            shard: self.shard.map(|shard| shard.to_string()),
            timeout_s: limits.timeout.as_secs_f64(),
            mem_limit_bytes: limits.mem_limit_bytes,
            resumed: self.resume,
            cells: cells.len(),
            runs_planned: runs.len(),
            heaplab: heaplab.display().to_string(),
            unavailable: plan.unavailable.clone(),
            child_env: child_env.clone(),
            thp: measurement.thp.to_owned(),
            precision: measurement.precision,
            max_repeat: measurement.precision.map(|_| cap),
        };
        let invocation = env::invocation_id(started, self.shard.map(|shard| (shard.index, shard.count)));
        let mut environment = env::describe(&root, &settings, &python, started);
        environment["invocation"] = serde_json::Value::from(invocation.clone());
        if self.resume {
            refuse_another_machine(&out_dir, &environment)?;
        }
        results::write_env(&out_dir, &invocation, &environment)?;

        let interrupted = Arc::new(AtomicBool::new(false));
        let handler_flag = Arc::clone(&interrupted);
        ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;

        let mut sink = Sink::open(&out_dir)?;
        let mut progress = Progress::new(runs.len());
        let mut runs_done = 0;
        // Under --precision: each cell's successful wall times so far, and the cells that failed once.
        let mut walls: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut failed_cells: BTreeSet<String> = BTreeSet::new();
        for record in &earlier {
            let id = cell_id(&record.strategy, &record.workload, record.size, record.threads);
            match (record.status, record.wall_ns) {
                (Status::Ok, Some(wall)) => walls.entry(id).or_default().push(wall as f64),
                _ => {
                    failed_cells.insert(id);
                }
            }
        }
        let mut skipped = 0;
        for run in &runs {
            if interrupted.load(Ordering::SeqCst) {
                break;
            }
            let id = run.cell.id();
            if let Some(precision) = measurement.precision
                && run.rep >= repeat
                && (failed_cells.contains(&id)
                    || precise_enough(walls.get(&id).map_or(&[], Vec::as_slice), precision))
            {
                skipped += 1;
                progress.skip();
                continue;
            }
            progress.start(&format!("{} rep {}", run.cell.describe(), run.rep));
            let Some((mut report, summary, failed)) =
                self.run_one(&heaplab, &child_env, &out_dir, run, limits, &interrupted)?
            else {
                break;
            };
            report.record.params =
                heaplab_core::record::with_param(&report.record.params, "invocation", &invocation);
            match (failed, report.record.wall_ns) {
                (false, Some(wall)) => walls.entry(id).or_default().push(wall as f64),
                _ => {
                    failed_cells.insert(id);
                }
            }
            sink.append(&report)?;
            runs_done += 1;
            progress.finish_run(&summary, failed);
        }
        if measurement.precision.is_some() && !interrupted.load(Ordering::SeqCst) {
            let capped = cells
                .iter()
                .filter(|cell| {
                    let id = cell.id();
                    !failed_cells.contains(&id)
                        && !precise_enough(
                            walls.get(&id).map_or(&[], Vec::as_slice),
                            measurement.precision.unwrap_or(0.0),
                        )
                })
                .count();
            eprintln!(
                "precision: {} of {} cells reached ±{} before {cap} repetitions ({skipped} runs saved); {capped} stopped at the cap",
                cells.len() - capped,
                cells.len(),
                crate::report::format::percent(measurement.precision.unwrap_or(0.0)),
            );
        }
        progress.close();
        let was_interrupted = interrupted.load(Ordering::SeqCst);
        env::finish(&out_dir, &invocation, &mut environment, SystemTime::now(), runs_done, was_interrupted)?;
        if was_interrupted {
            eprintln!(
                "interrupted: {runs_done} runs written to {}; the same command with --resume goes on from there",
                out_dir.join(results::RUNS_CSV).display()
            );
            return Ok(EXIT_INTERRUPTED);
        }

        let records = results::read_runs_csv(&out_dir.join(results::RUNS_CSV))?;
        let checksums = crate::report::checksums::check(&records);
        let mut report_failed = false;
        if self.no_report {
            eprintln!("no report written (--no-report): `cargo xtask report {}` draws it", out_dir.display());
        } else {
            match crate::report::write_report(&out_dir) {
                Ok(()) => println!("report: {}", out_dir.join("REPORT.md").display()),
                Err(error) => {
                    eprintln!("error: writing the report failed: {error:#}");
                    report_failed = true;
                }
            }
        }
        for disagreement in &checksums.disagreements {
            eprintln!("checksum disagreement: {}", disagreement.line());
        }
        for (group, n) in &checksums.input_changes {
            eprintln!(
                "note: {group} has {n} checksums, one per invocation, every strategy alike: its input changed between invocations"
            );
        }
        let failures = failed_runs(&out_dir, &records);
        if !failures.is_empty() {
            eprintln!("{} of {} runs failed:", failures.len(), records.len());
            for failure in &failures {
                let stderr = failure.stderr_file.as_ref().map(|path| format!("  stderr: {}", path.display()));
                eprintln!(
                    "  {:<8} {}{}",
                    failure.status.as_str(),
                    failure.description,
                    stderr.unwrap_or_default()
                );
            }
        }
        let clean = failures.is_empty() && checksums.disagreements.is_empty() && !report_failed;
        Ok(if clean { 0 } else { 1 })
    }

    /// Runs one child and builds its record; `None` when the sweep was interrupted meanwhile.
    fn run_one(
        &self,
        heaplab: &Path,
        child_env: &[(String, String)],
        out_dir: &Path,
        run: &Run,
        limits: Limits,
        interrupted: &AtomicBool,
    ) -> anyhow::Result<Option<(RunReport, String, bool)>> {
        let cell_id = run.cell.id();
        let partial_series = results::partial_series(out_dir, &cell_id, run.rep);
        let mut command = heaplab_command(heaplab, &run.cell, self.seed, &partial_series);
        command.envs(child_env.iter().map(|(name, value)| (name, value)));
        let command_text = format!("{command:?}");
        let finished = match child::run(command, limits, interrupted)? {
            Ending::Interrupted => {
                let _ = std::fs::remove_file(&partial_series);
                return Ok(None);
            }
            Ending::Finished(finished) => finished,
        };
        let (report, detail) =
            record_of(run, self.seed, finished.status, finished.report.clone(), &finished.detail);
        let status = report.record.status;
        let failed = status != Status::Ok;
        results::keep_series(out_dir, &cell_id, run.rep, failed)?;
        if failed {
            write_failure(out_dir, run, &command_text, &detail, &finished)?;
        }
        let summary = summarise(run, &report.record, &detail, finished.elapsed.as_secs_f64());
        Ok(Some((report, summary, failed)))
    }
}

/// Whether the 95% confidence interval of the median of `walls` is within ±`precision` of it: the
/// sweep's stopping rule, which `estimate::Repetitions::replay` also applies to an earlier run's walls.
fn precise_enough(walls: &[f64], precision: f64) -> bool {
    crate::report::stats::median_ci_relative_half_width(walls)
        .is_some_and(|half_width| half_width <= precision)
}

/// The environment variable through which heaplab takes libpython's path.
const LIBPYTHON_ENV: &str = "HEAPLAB_LIBPYTHON";

/// Variables the sweep sets for every child, on top of its own environment.
///
/// Each heaplab process would otherwise ask `python3` where libpython is, which
/// costs about a third of a second through pyenv's shims; the sweep asks once
/// and hands the answer to heaplab's own override. A value the user set wins.
fn child_env(python: &env::PythonFound) -> Vec<(String, String)> {
    match (&python.libpython, std::env::var_os(LIBPYTHON_ENV)) {
        (Some(path), None) => vec![(LIBPYTHON_ENV.to_owned(), path.clone())],
        _ => Vec::new(),
    }
}

/// A resumed sweep goes on only on the machine its runs so far were measured on: a cell whose
/// repetitions came from two machines would have their CPUs' difference in its spread, and its
/// ratios to other cells would compare machines. (A sweep over several machines runs a shard on
/// each, `--shard I/N`, which keeps every compared group on one machine.)
fn refuse_another_machine(out_dir: &Path, environment: &serde_json::Value) -> anyhow::Result<()> {
    let here = results::machine(environment);
    for (invocation, earlier) in results::read_envs(out_dir)? {
        let there = results::machine(&earlier);
        if there != here {
            bail!(
                "{} was measured on another machine ({there}, invocation {invocation}); this one is {here}: \
                 resuming would mix the two in its cells. Resume it there, or start a new directory here \
                 (one shard per machine: --shard I/N, merged by cargo xtask report)",
                out_dir.display()
            );
        }
    }
    Ok(())
}

/// `--dry-run`: the cells and runs by kind of strategy, and with an earlier run their estimated time.
fn print_dry_run(
    cells: &[plan::Cell],
    repetitions: estimate::Repetitions,
    catalog: &Catalog,
    history: Option<&[heaplab_core::Record]>,
) {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for cell in cells {
        *counts.entry(estimate::group(cell)).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let fewest = repetitions.fewest;
    println!(
        "{total} cells, {} runs at {fewest} repetition{}:",
        total * fewest as usize,
        if fewest == 1 { "" } else { "s" }
    );
    let estimated = history.map(|records| {
        let depth = |workload: &str| {
            catalog.workloads.iter().any(|w| w.name == workload && w.size_meaning.starts_with("depth"))
        };
        estimate::estimate(cells, repetitions, &estimate::History::of(records), depth)
    });
    let hours = |seconds: f64| seconds / 3600.0;
    for (group, count) in &counts {
        match estimated.as_ref().and_then(|groups| groups.get(group)) {
            Some(e) => println!(
                "  {group:<17} {count:>6} cells  ~{:.2} h ({} timed from the same cell, {} scaled from a neighbour, {} unknown)",
                hours(e.seconds),
                e.exact,
                e.scaled,
                e.unknown
            ),
            None => println!("  {group:<17} {count:>6} cells"),
        }
    }
    if let Some(groups) = estimated {
        let sum = |f: fn(&estimate::Estimate) -> f64| groups.values().map(f).sum::<f64>();
        println!(
            "  total             ~{:.2} h of the runs' own wall time on a machine like the earlier run's (one run at a time)",
            hours(sum(|e| e.seconds))
        );
        if repetitions.precision.is_some() {
            let unreplayed: usize = groups.values().map(|e| e.repetitions_unknown).sum();
            println!(
                "  (--precision: each cell at the repetitions its earlier runs stopped at by the same rule; \
                 {unreplayed} with too few earlier runs to tell, counted at the fewest, {fewest}; \
                 ~{:.2} h if every cell stopped at {fewest}, ~{:.2} h if every cell ran {})",
                hours(sum(|e| e.seconds_once) * f64::from(fewest)),
                hours(sum(|e| e.seconds_once) * f64::from(repetitions.most)),
                repetitions.most
            );
        }
        println!("  (unknown cells count as 0 h; starting each run adds to the wall time the runs report)");
    } else if repetitions.precision.is_some() {
        println!(
            "  (--precision: {fewest} repetitions are the fewest a cell can stop at, {} the most)",
            repetitions.most
        );
    }
}

/// Builds `heaplab` in release in the target directory cargo uses, with the preload library
/// beside it (the real interpreter's `python@…+jemalloc` strategies load it), and returns
/// the binary's path.
pub(crate) fn build_heaplab(root: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building heaplab and its preload library (release)...");
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "heaplab", "-p", "heaplab-preload"])
        .status()
        .context("running cargo build --release -p heaplab -p heaplab-preload")?;
    if !status.success() {
        bail!("cargo build --release -p heaplab -p heaplab-preload failed ({status})");
    }
    let binary = target_dir(root).join("release").join("heaplab");
    if !binary.is_file() {
        bail!("cargo built heaplab but {} is not there", binary.display());
    }
    Ok(binary)
}

/// The target directory: `CARGO_TARGET_DIR` (relative to the root) or `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The `heaplab run` command of one run. `HEAPLAB_FAULT` reaches the child with the rest of the environment.
fn heaplab_command(heaplab: &Path, cell: &Cell, seed: u64, series: &Path) -> Command {
    let mut command = Command::new(heaplab);
    command.args(["run", "--strategy", cell.heaplab_strategy(), "--workload", cell.heaplab_workload()]);
    for setting in &cell.settings {
        command.args(["--set", setting]);
    }
    if let Some(trace) = &cell.trace {
        command.arg("--trace").arg(trace);
    }
    if let Some(program) = &cell.program {
        command.arg("--program").arg(program);
    }
    command.args(["--size", &cell.size.to_string(), "--seed", &seed.to_string()]);
    if cell.threaded {
        command.args(["--threads", &cell.threads.to_string()]);
    }
    command.arg("--series").arg(series);
    command
}

/// The record of a run from how its child ended, and the phrase that says how.
///
/// A child that printed a record for another cell is an error: its row would
/// be filed under the wrong key.
fn record_of(
    run: &Run,
    seed: u64,
    status: Status,
    report: Option<RunReport>,
    detail: &str,
) -> (RunReport, String) {
    if let (Status::Ok, Some(mut report)) = (status, report) {
        let record = &report.record;
        let cell = &run.cell;
        if record.strategy == cell.heaplab_strategy()
            && record.workload == cell.heaplab_workload()
            && record.size == cell.size
            && record.threads == cell.threads
        {
            report.record.rep = run.rep;
            // A trace cell's row is filed under its program: `trace-replay-<program>`; a
            // swept cell's under `NAME[KEY=VALUE]` (the value is in its params too).
            report.record.workload = cell.workload.clone();
            report.record.strategy = cell.strategy.clone();
            report.record.params = trace_params(&report.record.params, cell);
            return (report, detail.to_owned());
        }
        let mismatch = format!(
            "the child reported another cell: {} {} size={} threads={}",
            record.strategy, record.workload, record.size, record.threads
        );
        return (failed_report(run, seed, Status::Error), mismatch);
    }
    let status = if status == Status::Ok { Status::Error } else { status };
    (failed_report(run, seed, status), detail.to_owned())
}

/// A record with the cell's identity, `status`, and no figures.
fn failed_report(run: &Run, seed: u64, status: Status) -> RunReport {
    let cell = &run.cell;
    let record = Record {
        strategy: cell.strategy.clone(),
        collector: cell.collector.clone(),
        allocator: cell.allocator.clone(),
        workload: cell.workload.clone(),
        size: cell.size,
        threads: cell.threads,
        seed,
        rep: run.rep,
        params: trace_params("", cell),
        ..Record::unmeasured(status)
    };
    RunReport { record, collections_by_gen: Vec::new(), phases: Vec::new(), anon_huge_bytes: None }
}

/// Where a failed run's stderr tail is kept.
fn failure_file(
    out_dir: &Path,
    strategy: &str,
    workload: &str,
    size: u64,
    threads: u32,
    rep: u32,
) -> PathBuf {
    out_dir
        .join(results::FAILURES_DIR)
        .join(crate::layout::failure_stderr(&cell_id(strategy, workload, size, threads), rep))
}

fn write_failure(
    out_dir: &Path,
    run: &Run,
    command_text: &str,
    detail: &str,
    finished: &Finished,
) -> anyhow::Result<()> {
    let cell = &run.cell;
    let path = failure_file(out_dir, &cell.strategy, &cell.workload, cell.size, cell.threads, run.rep);
    let mut text = format!("# command: {command_text}\n# {detail}\n# the last bytes of its stderr follow\n")
        .into_bytes();
    text.extend_from_slice(&finished.stderr_tail);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// One line that says how a run went.
fn summarise(run: &Run, record: &Record, detail: &str, elapsed_s: f64) -> String {
    let what = format!("{} rep {}", run.cell.describe(), run.rep);
    if record.status != Status::Ok {
        return format!("{:<7} {what}: {detail}", record.status.as_str());
    }
    let throughput = record.ops_per_s.map(|ops| format!(", {ops:.3e} ops/s")).unwrap_or_default();
    let peak =
        record.peak_rss_bytes.map(|bytes| format!(", peak RSS {}", human_bytes(bytes))).unwrap_or_default();
    format!("ok      {what}: {elapsed_s:.2} s{throughput}{peak}")
}

/// Every failed row of `records`, with its stderr file where there is one.
fn failed_runs(out_dir: &Path, records: &[Record]) -> Vec<FailedRun> {
    records
        .iter()
        .filter(|record| record.status != Status::Ok)
        .map(|record| {
            let file = failure_file(
                out_dir,
                &record.strategy,
                &record.workload,
                record.size,
                record.threads,
                record.rep,
            );
            FailedRun {
                status: record.status,
                description: format!(
                    "{} {} size={} threads={} rep {}",
                    record.strategy, record.workload, record.size, record.threads, record.rep
                ),
                stderr_file: file.exists().then_some(file),
            }
        })
        .collect()
}

/// The command line as typed, with `cargo xtask` for the binary's path.
fn command_line() -> String {
    let words: Vec<String> = std::env::args()
        .skip(1)
        .map(|word| {
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_=./+,:@%".contains(c))
            {
                word
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect();
    format!("cargo xtask {}", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewest_runs_under_precision_reach_a_median_interval_within_the_cap() {
        let m = |repeat, precision, cap| Measurement { thp: "never", repeat, precision, cap };
        // The banner and the estimate both said "3 to 10" where the sweep runs at least 6.
        assert_eq!(m(3, Some(0.05), 10).fewest(), 6);
        assert_eq!(m(8, Some(0.05), 10).fewest(), 8);
        assert_eq!(m(3, Some(0.05), 4).fewest(), 4, "a cap below 6 is the fewest too");
        assert_eq!(m(3, None, 3).fewest(), 3, "without --precision every cell runs --repeat times");
    }

    fn cell(strategy: &str, workload: &str) -> Cell {
        Cell {
            strategy: strategy.to_owned(),
            collector: strategy
                .split_once('+')
                .map(|(collector, _)| collector.to_owned())
                .unwrap_or_default(),
            allocator: strategy.rsplit('+').next().unwrap().to_owned(),
            workload: workload.to_owned(),
            size: 100,
            threads: 1,
            threaded: false,
            trace: None,
            program: None,
            settings: Vec::new(),
        }
    }

    #[test]
    fn a_failed_record_keeps_the_cell_and_drops_the_figures() {
        let run = Run { cell: cell("cycle+pymalloc", "churn"), rep: 2 };
        let (report, detail) = record_of(&run, 7, Status::Crashed, None, "killed by signal 11 (SIGSEGV)");
        let record = report.record;
        assert_eq!(
            (record.strategy.as_str(), record.collector.as_str(), record.allocator.as_str()),
            ("cycle+pymalloc", "cycle", "pymalloc")
        );
        assert_eq!((record.size, record.threads, record.seed, record.rep), (100, 1, 7, 2));
        assert_eq!(record.status, Status::Crashed);
        assert_eq!(record.wall_ns, None);
        assert!(detail.contains("SIGSEGV"));
    }

    #[test]
    fn an_ok_record_gets_the_sweeps_repetition() {
        let run = Run { cell: cell("cycle+pymalloc", "churn"), rep: 2 };
        let mut printed = failed_report(&Run { rep: 0, ..run.clone() }, 42, Status::Ok);
        printed.record.wall_ns = Some(5);
        let (report, _) = record_of(&run, 42, Status::Ok, Some(printed), "ok");
        assert_eq!(report.record.rep, 2);
        assert_eq!(report.record.status, Status::Ok);
        assert_eq!(report.record.wall_ns, Some(5));
    }

    #[test]
    fn a_record_for_another_cell_is_an_error() {
        let run = Run { cell: cell("cycle+pymalloc", "churn"), rep: 0 };
        let printed = failed_report(&Run { cell: cell("cycle+mimalloc", "churn"), rep: 0 }, 42, Status::Ok);
        let (report, detail) = record_of(&run, 42, Status::Ok, Some(printed), "ok");
        assert_eq!(report.record.status, Status::Error);
        assert_eq!(report.record.strategy, "cycle+pymalloc");
        assert!(detail.contains("cycle+mimalloc"), "{detail}");
    }

    #[test]
    fn the_child_command_carries_the_cell() {
        let mut threaded = cell("mimalloc", "larson");
        threaded.threaded = true;
        threaded.threads = 2;
        let command = heaplab_command(Path::new("/bin/heaplab"), &threaded, 9, Path::new("/tmp/s.csv"));
        let args: Vec<String> = command.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "run",
                "--strategy",
                "mimalloc",
                "--workload",
                "larson",
                "--size",
                "100",
                "--seed",
                "9",
                "--threads",
                "2",
                "--series",
                "/tmp/s.csv"
            ]
        );
        let command =
            heaplab_command(Path::new("/bin/heaplab"), &cell("a+b", "churn"), 9, Path::new("/tmp/s.csv"));
        assert!(!command.get_args().any(|arg| arg == "--threads"));
    }

    #[test]
    fn a_trace_cell_runs_trace_replay_and_files_its_row_under_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("json_loads.trace");
        std::fs::write(&trace, b"").unwrap();
        std::fs::write(
            dir.path().join(crate::pyperf::MANIFEST),
            r#"{"pyperformance":"1.14.0","pyperf":"2.10.0","python":"3.11.7","python_executable":"python3",
               "preload_alloc":"jemalloc","pythonmalloc":"malloc","not_traced":[],
               "benchmarks":[{"benchmark":"json_loads","file":"json_loads.trace","args":[],"loops":128,
               "calibrated":true,"calls":1,"requested_bytes":1,"peak_live_bytes":1,"file_bytes":1,
               "capture_s":0.1,"other_processes":2}]}"#,
        )
        .unwrap();
        let mut traced = cell("pymalloc", &plan::trace_workload("json_loads"));
        traced.size = 1;
        traced.trace = Some(trace.clone());
        let command = heaplab_command(Path::new("/bin/heaplab"), &traced, 9, Path::new("/tmp/s.csv"));
        let args: Vec<String> = command.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
        assert_eq!(args[..6], ["run", "--strategy", "pymalloc", "--workload", "trace-replay", "--trace"]);
        assert_eq!(args[6], trace.display().to_string());

        let run = Run { cell: traced.clone(), rep: 1 };
        let mut printed =
            failed_report(&Run { cell: cell("pymalloc", "trace-replay"), rep: 0 }, 42, Status::Ok);
        printed.record.size = 1;
        printed.record.params = format!("trace={}", trace.display());
        let (report, _) = record_of(&run, 42, Status::Ok, Some(printed), "ok");
        assert_eq!(report.record.status, Status::Ok);
        assert_eq!(report.record.workload, "trace-replay-json_loads");
        let params = &report.record.params;
        assert_eq!(heaplab_core::record::param(params, "program"), Some("json_loads"));
        assert_eq!(heaplab_core::record::param(params, "pyperformance"), Some("1.14.0"));
        assert_eq!(heaplab_core::record::param(params, "loops"), Some("128"));
        assert!(heaplab_core::record::param(params, "trace").is_some());

        // A failed run of the cell is filed under the program too.
        let (failed, _) = record_of(&run, 42, Status::Crashed, None, "killed");
        assert_eq!(failed.record.workload, "trace-replay-json_loads");
        assert_eq!(heaplab_core::record::param(&failed.record.params, "program"), Some("json_loads"));
    }

    #[test]
    fn traces_are_found_in_directories_and_named_by_their_stem() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["raytrace.trace", "json_loads.trace", "manifest.json", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let inputs = trace_inputs(Path::new("/"), &[dir.path().to_owned()]).unwrap();
        let programs: Vec<&str> = inputs.iter().map(|input| input.program.as_str()).collect();
        assert_eq!(programs, ["json_loads", "raytrace"]);
        let error = trace_inputs(Path::new("/"), &[dir.path().to_owned(), dir.path().join("raytrace.trace")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("two traces of the program \"raytrace\""), "{error}");
        let empty = tempfile::tempdir().unwrap();
        let error = trace_inputs(Path::new("/"), &[empty.path().to_owned()]).unwrap_err().to_string();
        assert!(error.contains("no *.trace file"), "{error}");
        assert!(trace_inputs(Path::new("/"), &[dir.path().join("missing")]).is_err());
        std::fs::write(dir.path().join("my script: v2.trace"), b"").unwrap();
        let named = trace_inputs(Path::new("/"), &[dir.path().join("my script: v2.trace")]).unwrap();
        assert_eq!(named[0].program, "my_script__v2");
    }
}
