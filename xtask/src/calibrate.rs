//! `cargo xtask calibrate`: heaplab checked against the real CPython, version by version.
//!
//! For each interpreter (every pyenv build of a release the model knows, and `python3` where
//! it is another release; or those `--python` names, by release or by path) and each object
//! workload that has a Python twin in `workloads/python/`, it runs the twin under that
//! interpreter (once plainly, once under tracemalloc) and `heaplab run --strategy
//! cycle@X.Y+pymalloc` — the model at the interpreter's release — on the same workload, size
//! and seed, passing the model the parameters the twin measured in CPython (its generation
//! thresholds, the tracked objects the interpreter holds, pymalloc's geometry, and the pools
//! it held before the workload: `pymalloc.start`, which the model's pymalloc begins with, so
//! that the workload's first requests fill the interpreter's free blocks and unused pools
//! before they map an arena, as in CPython). Then it compares, row by row: collections per
//! generation, the arenas the interpreter's heap took, and arenas and pools per size class
//! after each phase (each side counted from the heap the workload found), bytes per object (`sys.getsizeof`, dicts and sets at several sizes
//! included), traced bytes per unit of size (tracemalloc), and for gc-traverse the time of
//! one full collection. The table, by version, is printed, and written as
//! `DIR/calibration.csv` and `DIR/calibration.json` (the data the report draws as its "Fidelity to
//! CPython" section).
//!
//! - [`cpython`]: which script runs which workload, and the JSON it prints;
//! - [`compare`]: the rows;
//! - [`table`]: the terminal table, the CSV and the markdown.
//!
//! Where no interpreter is found it says so and exits 0: there is nothing to compare
//! against. Interpreters asked for and not found are named and skipped.

pub(crate) mod compare;
mod cpython;
mod interpreters;
pub(crate) mod table;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use globset::Glob;
use heaplab_core::RunReport;

use compare::{Measured, Row};
use cpython::{PythonRun, TWINS, Twin};

/// CPython 3.9's pymalloc arenas (256 KiB): heaplab's `pymalloc.geometry=3.9`.
const PY39_ARENA_SIZE: u64 = 256 * 1024;

/// `cargo xtask calibrate`: runs the Python twins and the model, and compares them.
#[derive(clap::Args, Debug)]
pub struct CalibrateCmd {
    /// The results directory (default: results/latest in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Sizes for every selected workload, instead of each one's calibration size.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_size)]
    sizes: Option<Vec<u64>>,
    /// Workloads to calibrate: shell-style globs, comma-separated or repeated (default: every one with a twin).
    #[arg(long = "workload", value_name = "GLOBS", value_delimiter = ',')]
    workload_globs: Vec<String>,
    /// The seed of the workloads' random choices.
    #[arg(long, value_name = "K", default_value_t = 42)]
    seed: u64,
    /// The interpreters to check against: releases (`3.12,3.13`: pyenv's build of each) or
    /// paths, comma-separated (default: every interpreter found, see `interpreters::find`).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    python: Vec<String>,
    /// Skips the tracemalloc runs (which take about twice as long).
    #[arg(long)]
    no_tracemalloc: bool,
    /// Interpreters calibrated at the same time (each runs its twins one after another; on a
    /// busy machine the "one full collection" times suffer).
    #[arg(long, value_name = "N", default_value_t = 1)]
    jobs: usize,
    /// Runs this heaplab binary instead of building one in release.
    #[arg(long, value_name = "PATH")]
    heaplab: Option<PathBuf>,
}

fn parse_size(text: &str) -> Result<u64, String> {
    match text.trim().replace('_', "").parse::<u64>() {
        Ok(size) if size > 0 => Ok(size),
        _ => Err(format!("{text:?} is not a size: sizes are positive integers")),
    }
}

impl CalibrateCmd {
    /// Runs the calibration; 0 when every workload ran on both sides, 1 when some did not.
    pub fn run(self) -> anyhow::Result<i32> {
        let (found, missing) = interpreters::find(&self.python);
        for name in &missing {
            println!("calibrate: {name}: no such interpreter here; skipped.");
        }
        if found.is_empty() {
            println!(
                "calibrate: no CPython interpreter was found here (pyenv's builds, `python3`), so there \
                 is nothing to compare against; skipped."
            );
            return Ok(0);
        }
        let invocation_dir = std::env::current_dir().context("reading the current directory")?;
        let root = crate::project_root();
        let out_dir = match &self.out {
            Some(out) => invocation_dir.join(out),
            None => root.join("results").join("latest"),
        };
        let twins = select(&self.workload_globs)?;
        let heaplab = match &self.heaplab {
            Some(path) => invocation_dir.join(path),
            None => crate::bench::build_heaplab(&root)?,
        };
        let scripts = root.join("workloads").join("python");

        // Interpreters run `--jobs` at a time; their rows come back in release order.
        let jobs = self.jobs.max(1);
        let mut per_interpreter: Vec<(Vec<Row>, Vec<String>, table::Context)> = Vec::new();
        for chunk in found.chunks(jobs) {
            let done: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|interpreter| {
                        scope.spawn(|| self.calibrate_interpreter(interpreter, &twins, &scripts, &heaplab))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().expect("a calibration thread panicked"))
                    .collect()
            });
            per_interpreter.extend(done);
        }
        let mut rows: Vec<Row> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        let mut contexts: Vec<table::Context> = Vec::new();
        for (interpreter_rows, interpreter_failures, context) in per_interpreter {
            rows.extend(interpreter_rows);
            failures.extend(interpreter_failures);
            contexts.push(context);
        }

        print!("{}", table::terminal(&rows));
        std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        let csv_path = out_dir.join("calibration.csv");
        std::fs::write(&csv_path, table::csv(&rows)?)
            .with_context(|| format!("writing {}", csv_path.display()))?;
        let calibration = table::CalibrationFile { contexts, missing, command: typed_command(), rows };
        let json_path = out_dir.join(table::JSON_FILE);
        std::fs::write(&json_path, table::json(&calibration)?)
            .with_context(|| format!("writing {}", json_path.display()))?;
        eprintln!("calibrate: wrote {} and {}", csv_path.display(), json_path.display());
        if failures.is_empty() {
            Ok(0)
        } else {
            eprintln!("calibrate: {} failed: {}", failures.len(), failures.join(", "));
            Ok(1)
        }
    }

    /// Every twin under one interpreter: its rows, what failed, and what the section says of it.
    fn calibrate_interpreter(
        &self,
        interpreter: &interpreters::Interpreter,
        twins: &[Twin],
        scripts: &Path,
        heaplab: &Path,
    ) -> (Vec<Row>, Vec<String>, table::Context) {
        let strategy = interpreter.strategy();
        eprintln!("calibrate: {} ({}) against {strategy}", interpreter.label, interpreter.command);
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        let mut version_seen: Option<String> = None;
        let mut parameters_seen: Option<(Vec<u64>, Option<u64>)> = None;
        for twin in twins {
            let sizes = self.sizes.clone().unwrap_or_else(|| vec![twin.size]);
            for size in sizes {
                eprintln!("calibrate: {} at size {size} under {}", twin.workload, interpreter.label);
                match self.calibrate_one(interpreter, twin, size, scripts, heaplab) {
                    Ok((python, workload_rows)) => {
                        version_seen.get_or_insert(format!(
                            "{} {}",
                            display_implementation(&python.python.implementation),
                            python.python.version
                        ));
                        let arena_size = python.baseline.pymalloc.as_ref().and_then(|p| p.arena_size);
                        parameters_seen.get_or_insert((python.thresholds.clone(), arena_size));
                        rows.extend(workload_rows);
                    }
                    Err(err) => {
                        eprintln!(
                            "calibrate: {} at size {size} under {} failed: {err:#}",
                            twin.workload, interpreter.label
                        );
                        failures
                            .push(format!("{} at size {size} under {}", twin.workload, interpreter.label));
                    }
                }
            }
        }
        let (thresholds, arena_size) = parameters_seen.unwrap_or_default();
        let context = table::Context {
            python: version_seen.unwrap_or_else(|| interpreter.label.clone()),
            release: interpreter.version.name.to_owned(),
            strategy,
            seed: self.seed,
            thresholds,
            arena_size,
        };
        (rows, failures, context)
    }

    /// Runs one workload at one size on both sides and returns the plain Python run and the rows.
    fn calibrate_one(
        &self,
        interpreter: &interpreters::Interpreter,
        twin: &Twin,
        size: u64,
        scripts: &Path,
        heaplab: &Path,
    ) -> anyhow::Result<(PythonRun, Vec<Row>)> {
        let python_cmd = interpreter.command.as_str();
        let python = cpython::run(python_cmd, scripts, twin, size, self.seed, false)?;
        if python.workload != twin.workload || python.size != size || python.seed != self.seed {
            bail!(
                "the script ran {} at size {} with seed {}, not what was asked",
                python.workload,
                python.size,
                python.seed
            );
        }
        let traced = if self.no_tracemalloc {
            None
        } else {
            let traced = cpython::run(python_cmd, scripts, twin, size, self.seed, true)?;
            if !traced.tracemalloc {
                bail!("the script did not trace its run under --tracemalloc");
            }
            Some(traced)
        };
        let model = run_model(heaplab, &interpreter.strategy(), twin, size, self.seed, &python)?;
        let rows = compare::rows(&Measured {
            twin,
            size,
            release: interpreter.version,
            python: &python,
            traced: traced.as_ref(),
            model: &model,
        });
        Ok((python, rows))
    }
}

/// The twins whose workload any of `globs` matches (every twin for none);
/// a glob that matches none is an error that names them.
fn select(globs: &[String]) -> anyhow::Result<Vec<Twin>> {
    if globs.is_empty() {
        return Ok(TWINS.to_vec());
    }
    let mut selected = [false; TWINS.len()];
    for glob in globs {
        let matcher = Glob::new(glob)
            .with_context(|| format!("--workload {glob:?} is not a valid glob"))?
            .compile_matcher();
        let mut matched_any = false;
        for (index, twin) in TWINS.iter().enumerate() {
            if matcher.is_match(twin.workload) {
                selected[index] = true;
                matched_any = true;
            }
        }
        if !matched_any {
            let names: Vec<&str> = TWINS.iter().map(|twin| twin.workload).collect();
            bail!("--workload {glob:?} matches no calibrated workload; they are: {}", names.join(", "));
        }
    }
    Ok(TWINS.iter().zip(selected).filter(|(_, keep)| *keep).map(|(twin, _)| *twin).collect())
}

/// The `--set` arguments that give the model what the twin measured in CPython.
fn model_settings(python: &PythonRun) -> Vec<String> {
    let thresholds: Vec<String> = python.thresholds.iter().map(u64::to_string).collect();
    let mut settings = vec![
        format!("cycle.thresholds={}", thresholds.join(",")),
        format!("cycle.interpreter-objects={}", python.interpreter_objects),
    ];
    let arena_size = python.baseline.pymalloc.as_ref().and_then(|pymalloc| pymalloc.arena_size);
    if arena_size == Some(PY39_ARENA_SIZE) {
        settings.push("pymalloc.geometry=3.9".to_owned());
    }
    // The pools the interpreter held before the workload: the model's pymalloc begins with them.
    if let Some(baseline) = &python.baseline.pymalloc
        && !baseline.classes.is_empty()
    {
        let classes: Vec<String> = baseline
            .classes
            .iter()
            .map(|class| format!("{}:{}:{}", class.size, class.pools, class.blocks_free))
            .collect();
        settings.push(format!("pymalloc.start={}", classes.join(",")));
    }
    settings
}

/// `heaplab run --strategy STRATEGY` on the twin's workload, with the measured parameters.
fn run_model(
    heaplab: &Path,
    strategy: &str,
    twin: &Twin,
    size: u64,
    seed: u64,
    python: &PythonRun,
) -> anyhow::Result<RunReport> {
    let mut command = Command::new(heaplab);
    command.args([
        "run",
        "--strategy",
        strategy,
        "--workload",
        twin.workload,
        "--size",
        &size.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    for setting in model_settings(python) {
        command.args(["--set", &setting]);
    }
    let output = command.output().with_context(|| format!("running {}", heaplab.display()))?;
    if !output.status.success() {
        bail!("heaplab run failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).context("reading the record heaplab printed")
}

/// "CPython" for "cpython", as the implementation is usually written.
fn display_implementation(name: &str) -> String {
    match name {
        "cpython" => "CPython".to_owned(),
        "pypy" => "PyPy".to_owned(),
        other => other.to_owned(),
    }
}

/// The command line as typed, with `cargo xtask` for the binary's path.
fn typed_command() -> String {
    let words: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python_run(arena_size: u64) -> PythonRun {
        python_run_with(arena_size, "")
    }

    fn python_run_with(arena_size: u64, classes: &str) -> PythonRun {
        let json = format!(
            r#"{{"workload": "bulk-load", "size": 10, "seed": 42,
            "python": {{"implementation": "cpython", "version": "3.9.18"}},
            "thresholds": [2000, 10, 10], "interpreter_objects": 9000, "tracemalloc": false,
            "baseline": {{"traced_bytes": null, "pymalloc": {{"arena_size": {arena_size},
                "arenas_allocated_total": 1, "arenas_reclaimed": 0, "arenas_highwater": 1,
                "arenas_current": 1, "classes": [{classes}]}}}},
            "phases": [], "sizeof": [], "checksum": null, "ops": 10}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn the_model_gets_the_measured_parameters() {
        assert_eq!(
            model_settings(&python_run(1 << 20)),
            ["cycle.thresholds=2000,10,10", "cycle.interpreter-objects=9000"]
        );
        assert_eq!(
            model_settings(&python_run(256 * 1024)),
            ["cycle.thresholds=2000,10,10", "cycle.interpreter-objects=9000", "pymalloc.geometry=3.9"]
        );
        let classes = r#"{"class": 0, "size": 16, "pools": 3, "blocks_in_use": 700, "blocks_free": 52},
            {"class": 3, "size": 64, "pools": 40, "blocks_in_use": 2400, "blocks_free": 120}"#;
        assert_eq!(
            model_settings(&python_run_with(1 << 20, classes)).last().map(String::as_str),
            Some("pymalloc.start=16:3:52,64:40:120"),
            "the model's pymalloc begins with the interpreter's pools"
        );
    }

    #[test]
    fn workloads_are_selected_by_glob() {
        let names = |globs: &[&str]| -> Vec<&str> {
            let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
            select(&globs).unwrap().iter().map(|twin| twin.workload).collect()
        };
        assert_eq!(names(&[]).len(), TWINS.len());
        assert_eq!(
            names(&["bulk-load", "bulk-load-*-*"]),
            ["bulk-load", "bulk-load-gc-off", "bulk-load-dicts-gc-off", "bulk-load-dicts-frozen"]
        );
        assert_eq!(names(&["bulk-load-g*", "bulk-load-f*"]), ["bulk-load-gc-off", "bulk-load-frozen"]);
        assert_eq!(names(&["gc-traverse", "churn"]), ["gc-traverse", "churn"]);
        let error = select(&["matmul*".to_owned()]).unwrap_err().to_string();
        assert!(error.contains("matches no calibrated workload"), "{error}");
    }

    #[test]
    fn sizes_are_positive_integers() {
        assert_eq!(parse_size("2_000_000"), Ok(2_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("big").is_err());
    }
}
