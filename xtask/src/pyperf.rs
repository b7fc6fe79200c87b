//! `cargo xtask pyperf`: real programs that no one here wrote —
//! pyperformance's benchmarks — traced through the preload library, so that
//! `cargo xtask bench --traces DIR` replays them on every allocator.
//!
//! 1. **A virtual environment of its own**, `target/pyperf/venv-<X.Y>`, made
//!    with `python3 -m venv` and filled by pip with the [`PINNED`] versions of
//!    `pyperformance`, `pyperf` and their two dependencies, on the first run
//!    only (a marker file in the venv records what was installed). Where
//!    python3 lacks `venv` or pip cannot reach PyPI, one line says so and the
//!    command skips (exit 0): nothing else needs PyPI.
//! 2. **The benchmarks** are pyperformance's data files:
//!    `pyperformance/data-files/benchmarks/bm_*/run_benchmark.py`, one
//!    benchmark per TOML file beside it (`pyproject.toml` and the variants'
//!    `bm_<name>.toml`, whose `[tool.pyperformance]` gives the name and the
//!    script's `extra_opts`). A directory with a `requirements.txt` needs
//!    packages from PyPI beyond pyperf and is never run. [`DEFAULT_BENCHMARKS`]
//!    is the set traced by default; `--bench all` takes every stdlib-only one
//!    found, less [`NOT_TRACED`].
//! 3. **Each benchmark runs once, in one process**: pyperf's `--worker` mode
//!    (which `--debug-single-value` is not: that still spawns a worker) with
//!    `--loops N --warmups 0 --values 1`. pyperf's metadata collection runs
//!    short helpers as children (`uname -p`, and `file -b` once per benchmark
//!    in the script, from Python's `platform` module); the preload library
//!    traces them as `FILE.<pid>`, which are counted in the manifest
//!    (`other_processes`, `other_calls`) and deleted. Should the children
//!    make more than [`CHILD_WORK_SHARE`] of the traced process's calls, a
//!    warning says the benchmark works in children its trace does not hold.
//! 4. **The loop count** N is pyperf's own: an untraced calibration run
//!    (`--worker --calibrate-loops`, also one process) finds the loops that
//!    make one value last pyperf's `min_time` (100 ms unless `--min-time`);
//!    a script that holds several benchmarks takes the smallest of their
//!    loop counts. So a trace covers one value of each benchmark — about
//!    `min_time` of its work, or one loop where one loop is longer — plus the
//!    interpreter's start-up and imports; `--loops N` fixes N instead.
//! 5. **The traces** go to `<out>/traces/<bench>.trace` (default `<out>` is
//!    `target/pyperf`), captured under `PYTHONMALLOC=malloc` (every object
//!    through `malloc`) with jemalloc serving the process, and
//!    `<out>/traces/manifest.json` says, for each: the benchmark, the
//!    versions of pyperformance, pyperf and Python, the loops, the calls and
//!    bytes recorded, the file's size and the capture's wall time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The packages the virtual environment gets, pinned: pyperformance, pyperf, and what they require.
pub const PINNED: [(&str, &str); 4] =
    [("pyperformance", "1.14.0"), ("pyperf", "2.10.0"), ("psutil", "7.2.2"), ("packaging", "26.4")];

/// The benchmarks traced when `--bench` is not given: stdlib-only benchmarks
/// of pyperformance whose one value runs in well under a few seconds here.
/// Each was run and traced with the pinned versions (see `--bench all` for
/// the rest).
pub const DEFAULT_BENCHMARKS: &[&str] = &[
    "json_loads",
    "json_dumps",
    "float",
    "nbody",
    "deltablue",
    "richards",
    "raytrace",
    "chaos",
    "go",
    "hexiom",
    "pickle",
    "pickle_dict",
    "pickle_list",
    "unpickle",
    "unpickle_list",
    "xml_etree",
    "regex_v8",
    "gc_collect",
    "gc_traversal",
    "deepcopy",
    "fannkuch",
    "generators",
    "coroutines",
    "logging",
    "nqueens",
    "pidigits",
    "spectral_norm",
    "unpack_sequence",
    "richards_super",
    "regex_compile",
    "regex_dna",
    "regex_effbot",
    "meteor_contest",
    "telco",
    "decimal_factorial",
    "decimal_pi",
    "comprehensions",
    "typing_runtime_protocols",
    "sqlite_synth",
    "pathlib",
    "pyflate",
    "scimark",
    "argparse_many_optionals",
];

/// Stdlib-only benchmarks that are never traced, and why.
pub const NOT_TRACED: &[(&str, &str)] = &[
    (
        "python_startup",
        "it times `python -c pass` in child processes (pyperf's bench_command): the work is not in the traced process",
    ),
    (
        "python_startup_no_site",
        "it times `python -S -c pass` in child processes (pyperf's bench_command): the work is not in the traced process",
    ),
    (
        "2to3",
        "it runs lib2to3 in a child process (pyperf's bench_command): the work is not in the traced process",
    ),
];

/// `cargo xtask pyperf`.
#[derive(clap::Args, Debug)]
pub struct PyperfCmd {
    /// Where the virtual environment's traces go: `<OUT>/traces/` (default: target/pyperf).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The interpreter the virtual environment is made from (3.10 or later, as pyperformance asks).
    #[arg(long, value_name = "PYTHON", default_value = "python3")]
    python: String,
    /// Benchmarks to trace, comma-separated: pyperformance's names, or `all` for every stdlib-only one
    /// (default: the DEFAULT_BENCHMARKS list of xtask/src/pyperf.rs).
    #[arg(long = "bench", value_name = "NAMES", value_delimiter = ',')]
    benches: Vec<String>,
    /// The loop count of every benchmark, instead of pyperf's calibration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    loops: Option<u64>,
    /// pyperf's minimum time of one value for the calibration, in seconds (pyperf's default: 0.1).
    #[arg(long, value_name = "SECONDS")]
    min_time: Option<f64>,
    /// Lists the benchmarks found, with what each needs, and traces nothing.
    #[arg(long)]
    list: bool,
}

/// One benchmark of pyperformance: a script and the options its TOML gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Benchmark {
    /// pyperformance's name (`pickle_dict`).
    pub name: String,
    /// Its `bm_*` directory.
    pub dir: PathBuf,
    /// `run_benchmark.py` in that directory.
    pub script: PathBuf,
    /// The script's arguments from `extra_opts`.
    pub extra_opts: Vec<String>,
    /// The packages of the directory's `requirements.txt`: empty for stdlib-only benchmarks.
    pub requirements: Vec<String>,
}

impl Benchmark {
    /// Whether it runs on the standard library (and pyperf) alone.
    pub fn stdlib_only(&self) -> bool {
        self.requirements.is_empty()
    }
}

#[derive(Deserialize)]
struct BenchToml {
    tool: Option<ToolTable>,
}

#[derive(Deserialize)]
struct ToolTable {
    pyperformance: Option<PyperformanceTable>,
}

#[derive(Deserialize)]
struct PyperformanceTable {
    name: Option<String>,
    #[serde(default)]
    extra_opts: Vec<String>,
}

/// Every benchmark under `benchmarks` (pyperformance's `data-files/benchmarks`), sorted by name.
///
/// A `bm_*` directory with a `run_benchmark.py` holds one benchmark per TOML
/// file: `pyproject.toml`, and `bm_<variant>.toml` for each variant. A TOML
/// without `[tool.pyperformance] name` is named after its file (`bm_` and the
/// extension taken off), its directory's for `pyproject.toml`.
pub fn discover(benchmarks: &Path) -> anyhow::Result<Vec<Benchmark>> {
    let mut found = Vec::new();
    let entries =
        std::fs::read_dir(benchmarks).with_context(|| format!("listing {}", benchmarks.display()))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|entry| entry.ok()).map(|entry| entry.path()).collect();
    dirs.sort();
    for dir in dirs {
        let Some(dir_name) = dir.file_name().and_then(|name| name.to_str()).map(str::to_owned) else {
            continue;
        };
        let script = dir.join("run_benchmark.py");
        if !dir_name.starts_with("bm_") || !script.is_file() {
            continue;
        }
        let requirements_file = dir.join("requirements.txt");
        let requirements: Vec<String> = if requirements_file.is_file() {
            std::fs::read_to_string(&requirements_file)
                .with_context(|| format!("reading {}", requirements_file.display()))?
                .lines()
                .map(|line| line.split('#').next().unwrap_or("").trim().to_owned())
                .filter(|line| !line.is_empty())
                .collect()
        } else {
            Vec::new()
        };
        let mut tomls: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
                name == "pyproject.toml" || (name.starts_with("bm_") && name.ends_with(".toml"))
            })
            .collect();
        tomls.sort();
        for toml_file in tomls {
            let text = std::fs::read_to_string(&toml_file)
                .with_context(|| format!("reading {}", toml_file.display()))?;
            let parsed: BenchToml = toml::from_str(&text)
                .with_context(|| format!("{}: not pyperformance's TOML", toml_file.display()))?;
            let table = parsed.tool.and_then(|tool| tool.pyperformance);
            let file_name = toml_file.file_name().and_then(|name| name.to_str()).unwrap_or("");
            let fallback = if file_name == "pyproject.toml" {
                dir_name.trim_start_matches("bm_").to_owned()
            } else {
                file_name.trim_start_matches("bm_").trim_end_matches(".toml").to_owned()
            };
            let (name, extra_opts) = match table {
                Some(table) => (table.name.unwrap_or(fallback), table.extra_opts),
                None => (fallback, Vec::new()),
            };
            found.push(Benchmark {
                name,
                dir: dir.clone(),
                script: script.clone(),
                extra_opts,
                requirements: requirements.clone(),
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Benchmarks asked for and not traced, each with the reason.
pub type Refused = Vec<(String, String)>;

/// Why a benchmark that was asked for is not traced, or `None` when it is.
fn refusal(benchmark: &Benchmark) -> Option<String> {
    if !benchmark.stdlib_only() {
        return Some(format!(
            "needs packages beyond the standard library ({}), which this virtual environment does not install",
            benchmark.requirements.join(", ")
        ));
    }
    NOT_TRACED.iter().find(|(name, _)| *name == benchmark.name).map(|(_, why)| (*why).to_owned())
}

/// The benchmarks to trace among `found`, and those asked for that are not, with the reason.
///
/// No names means [`DEFAULT_BENCHMARKS`] (a default missing from `found` is
/// listed as not found); `all` means every stdlib-only benchmark found less
/// [`NOT_TRACED`]. A name that is not a benchmark at all is an error that
/// lists the valid names.
pub fn select<'a>(found: &'a [Benchmark], names: &[String]) -> anyhow::Result<(Vec<&'a Benchmark>, Refused)> {
    let by_name: BTreeMap<&str, &Benchmark> = found.iter().map(|b| (b.name.as_str(), b)).collect();
    if names.iter().any(|name| name == "all") {
        let (chosen, refused): (Vec<&Benchmark>, Vec<&Benchmark>) =
            found.iter().partition(|benchmark| refusal(benchmark).is_none());
        let refused =
            refused.into_iter().map(|b| (b.name.clone(), refusal(b).expect("partitioned on it"))).collect();
        return Ok((chosen, refused));
    }
    let wanted: Vec<String> = if names.is_empty() {
        DEFAULT_BENCHMARKS.iter().map(|name| (*name).to_owned()).collect()
    } else {
        names.iter().map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()).collect()
    };
    let mut chosen = Vec::new();
    let mut refused = Vec::new();
    for name in wanted {
        match by_name.get(name.as_str()) {
            Some(benchmark) => match refusal(benchmark) {
                None => {
                    if !chosen.iter().any(|b: &&Benchmark| b.name == name) {
                        chosen.push(*benchmark);
                    }
                }
                Some(why) => refused.push((name, why)),
            },
            None if names.is_empty() => {
                refused.push((name, "not in this pyperformance".to_owned()));
            }
            None => bail!(
                "--bench {name:?} is not a benchmark of this pyperformance; the stdlib-only ones are: {}",
                found
                    .iter()
                    .filter(|b| refusal(b).is_none())
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok((chosen, refused))
}

/// The loop count pyperf calibrated, from the JSON of a `--calibrate-loops` run:
/// the smallest over the file's benchmarks (each benchmark's own `loops`, else the file's).
pub fn calibrated_loops(json: &serde_json::Value) -> Option<u64> {
    let common = json.pointer("/metadata/loops").and_then(serde_json::Value::as_u64);
    let benchmarks = json.get("benchmarks")?.as_array()?;
    benchmarks
        .iter()
        .filter_map(|benchmark| {
            benchmark.pointer("/metadata/loops").and_then(serde_json::Value::as_u64).or(common)
        })
        .min()
        .or(common)
}

/// One traced benchmark, as the manifest lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TracedBenchmark {
    /// pyperformance's name.
    pub benchmark: String,
    /// The trace file's name in the traces directory.
    pub file: String,
    /// The script's arguments beyond pyperf's.
    pub args: Vec<String>,
    /// The loop count of the traced run.
    pub loops: u64,
    /// Whether the loops came from pyperf's calibration (else from `--loops`).
    pub calibrated: bool,
    /// Calls recorded.
    pub calls: u64,
    /// Bytes requested by the recorded calls.
    pub requested_bytes: u64,
    /// The most bytes live at once.
    pub peak_live_bytes: u64,
    /// The trace file's size in bytes.
    pub file_bytes: u64,
    /// Wall time of the traced run, in seconds.
    pub capture_s: f64,
    /// Other processes the run started (pyperf's metadata helpers), whose traces were dropped.
    pub other_processes: usize,
    /// The calls those other processes made, all together.
    #[serde(default)]
    pub other_calls: u64,
}

/// The share of the traced process's calls above which the other processes' calls are
/// reported: then the benchmark did work in a child, which its trace does not hold.
pub const CHILD_WORK_SHARE: f64 = 0.05;

/// `traces/manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// pyperformance's version.
    pub pyperformance: String,
    /// pyperf's version.
    pub pyperf: String,
    /// The interpreter's version (`platform.python_version()`).
    pub python: String,
    /// The interpreter the virtual environment was made from.
    pub python_executable: String,
    /// The allocator that served the traced processes.
    pub preload_alloc: String,
    /// What every traced process had set.
    pub pythonmalloc: String,
    /// The traced benchmarks, in the order they ran.
    pub benchmarks: Vec<TracedBenchmark>,
    /// Benchmarks asked for and not traced, with the reason.
    pub not_traced: Vec<(String, String)>,
}

/// The file of the manifest in a traces directory.
pub const MANIFEST: &str = "manifest.json";

/// Reads `dir/manifest.json`, where there is one.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(
        serde_json::from_str(&text).with_context(|| format!("{}: not a traces manifest", path.display()))?,
    ))
}

/// How the virtual environment came out.
enum Venv {
    /// Ready: its interpreter.
    Ready(PathBuf),
    /// Not possible here, and why (one line).
    Skip(String),
}

/// The Python version `python` reports as `X.Y`, or the reason it cannot.
fn python_minor(python: &str) -> Result<String, String> {
    let output = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .map_err(|error| format!("cannot run {python}: {error}"))?;
    if !output.status.success() {
        return Err(format!("{python} failed to report its version"));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The marker that says what pip installed into a venv.
fn pin_line() -> String {
    PINNED.iter().map(|(name, version)| format!("{name}=={version}")).collect::<Vec<_>>().join(" ")
}

/// Makes (first run) or finds the virtual environment under `root` for `python`; `pip_env`
/// is added to pip's environment (tests point it at an index that is not there).
fn ensure_venv(root: &Path, python: &str, pip_env: &[(&str, &str)]) -> anyhow::Result<Venv> {
    let minor = match python_minor(python) {
        Ok(minor) => minor,
        Err(why) => return Ok(Venv::Skip(why)),
    };
    let numbers: Vec<u32> = minor.split('.').filter_map(|part| part.parse().ok()).collect();
    if numbers.len() != 2 || (numbers[0], numbers[1]) < (3, 10) {
        return Ok(Venv::Skip(format!(
            "{python} is Python {minor}; pyperformance {} needs 3.10 or later",
            PINNED[0].1
        )));
    }
    let venv = root.join(format!("venv-{minor}"));
    let venv_python = venv.join("bin").join("python");
    let marker = venv.join("heaplab-pinned.txt");
    if venv_python.is_file() && std::fs::read_to_string(&marker).is_ok_and(|text| text.trim() == pin_line()) {
        return Ok(Venv::Ready(venv_python));
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("removing the incomplete {}", venv.display()))?;
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    eprintln!("pyperf: making {} with {python} (first run only)...", venv.display());
    let made = Command::new(python)
        .args(["-m", "venv"])
        .arg(&venv)
        .stdout(Stdio::null())
        .output()
        .with_context(|| format!("running {python} -m venv"))?;
    if !made.status.success() || !venv_python.is_file() {
        let _ = std::fs::remove_dir_all(&venv);
        return Ok(Venv::Skip(format!(
            "{python} -m venv failed (is python3-venv installed?): {}",
            last_line(&made.stderr)
        )));
    }
    eprintln!("pyperf: pip install {} ...", pin_line());
    let pinned: Vec<String> = PINNED.iter().map(|(name, version)| format!("{name}=={version}")).collect();
    let installed = Command::new(&venv_python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet"])
        .args(["--timeout", "20", "--retries", "1"])
        .args(&pinned)
        .envs(pip_env.iter().copied())
        .stdout(Stdio::null())
        .output()
        .context("running pip")?;
    if !installed.status.success() {
        let _ = std::fs::remove_dir_all(&venv);
        return Ok(Venv::Skip(format!(
            "pip could not install {} (is PyPI reachable?): {}",
            pin_line(),
            last_line(&installed.stderr)
        )));
    }
    std::fs::write(&marker, pin_line()).with_context(|| format!("writing {}", marker.display()))?;
    Ok(Venv::Ready(venv_python))
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("(no message)").trim().to_owned()
}

/// Asks the venv's interpreter where pyperformance's benchmarks are, and the versions.
fn probe_venv(venv_python: &Path) -> anyhow::Result<(PathBuf, String, String, String)> {
    let script = "import os, platform, pyperformance, pyperf\n\
                  print(os.path.join(os.path.dirname(pyperformance.__file__), 'data-files', 'benchmarks'))\n\
                  print(pyperformance.__version__)\nprint(pyperf.__version__)\nprint(platform.python_version())";
    let output =
        Command::new(venv_python).args(["-c", script]).output().context("asking the venv's python")?;
    if !output.status.success() {
        bail!("{} cannot import pyperformance: {}", venv_python.display(), last_line(&output.stderr));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < 4 {
        bail!("{} said too little about pyperformance: {text}", venv_python.display());
    }
    Ok((PathBuf::from(lines[0]), lines[1].to_owned(), lines[2].to_owned(), lines[3].to_owned()))
}

/// pyperf's options that run a benchmark in this one process.
fn worker_args(loops: u64) -> Vec<String> {
    ["--worker", "--loops", &loops.to_string(), "--warmups", "0", "--values", "1"]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect()
}

/// The loop count pyperf calibrates for `benchmark` (an untraced run in one process).
fn calibrate(
    python: &Path,
    benchmark: &Benchmark,
    work: &Path,
    min_time: Option<f64>,
) -> anyhow::Result<u64> {
    let json = work.join(format!("{}.calibration.json", benchmark.name));
    if json.exists() {
        std::fs::remove_file(&json).with_context(|| format!("removing {}", json.display()))?;
    }
    let mut command = Command::new(python);
    command
        .current_dir(work)
        .arg(&benchmark.script)
        .args(["--worker", "--calibrate-loops", "--output"])
        .arg(&json);
    if let Some(min_time) = min_time {
        command.args(["--min-time", &min_time.to_string()]);
    }
    command.args(&benchmark.extra_opts);
    let output = command.output().with_context(|| format!("calibrating {}", benchmark.name))?;
    if !output.status.success() {
        bail!("calibrating {} failed: {}", benchmark.name, last_line(&output.stderr));
    }
    let text = std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not pyperf's JSON", json.display()))?;
    let _ = std::fs::remove_file(&json);
    calibrated_loops(&value).with_context(|| format!("{}: no loop count in pyperf's JSON", json.display()))
}

impl PyperfCmd {
    pub fn run(self) -> anyhow::Result<i32> {
        let root = crate::project_root();
        let invocation_dir = std::env::current_dir().context("reading the current directory")?;
        let out = match &self.out {
            Some(out) => invocation_dir.join(out),
            None => root.join("target").join("pyperf"),
        };
        let venv_root = root.join("target").join("pyperf");
        let venv_python = match ensure_venv(&venv_root, &self.python, &[])? {
            Venv::Ready(python) => python,
            Venv::Skip(why) => {
                println!("pyperf: skipped: {why}");
                return Ok(0);
            }
        };
        let (benchmarks_dir, pyperformance, pyperf, python_version) = probe_venv(&venv_python)?;
        // `3.11.7` is release 3.11; the venv's interpreter and the work directory, absolute,
        // for the program specs.
        let release: String = python_version.split('.').take(2).collect::<Vec<_>>().join(".");
        let venv_python = std::path::absolute(&venv_python).context("the venv's interpreter")?;
        let found = discover(&benchmarks_dir)?;
        if self.list {
            for benchmark in &found {
                let status = match refusal(benchmark) {
                    None if DEFAULT_BENCHMARKS.contains(&benchmark.name.as_str()) => "default".to_owned(),
                    None => "stdlib-only (--bench all)".to_owned(),
                    Some(why) => format!("not traced: {why}"),
                };
                println!("{:<32} {status}", benchmark.name);
            }
            return Ok(0);
        }
        let (chosen, refused) = select(&found, &self.benches)?;
        for (name, why) in &refused {
            eprintln!("pyperf: not tracing {name}: {why}");
        }
        let library = crate::trace::build_library(&root)?;
        let traces = out.join("traces");
        let work = out.join("work");
        for dir in [&traces, &work] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut manifest = Manifest {
            pyperformance,
            pyperf,
            python: python_version,
            python_executable: self.python.clone(),
            preload_alloc: "jemalloc".to_owned(),
            pythonmalloc: "malloc".to_owned(),
            benchmarks: Vec::new(),
            not_traced: refused,
        };
        let mut failed = 0;
        for benchmark in chosen {
            match self.trace_one(&venv_python, &release, &library, benchmark, &traces, &work) {
                Ok(traced) => {
                    println!(
                        "{:<24} {:>10} calls {:>12} bytes  file {:>6.1} MiB  loops {:<6} {:.2} s",
                        traced.benchmark,
                        traced.calls,
                        traced.requested_bytes,
                        traced.file_bytes as f64 / (1 << 20) as f64,
                        traced.loops,
                        traced.capture_s
                    );
                    manifest.benchmarks.push(traced);
                }
                Err(error) => {
                    failed += 1;
                    eprintln!("pyperf: {}: {error:#}", benchmark.name);
                    manifest.not_traced.push((benchmark.name.clone(), format!("{error:#}")));
                }
            }
        }
        let path = traces.join(MANIFEST);
        std::fs::write(&path, serde_json::to_string_pretty(&manifest)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "{} traces in {} (manifest: {})",
            manifest.benchmarks.len(),
            traces.display(),
            path.display()
        );
        println!("replay them: cargo xtask bench --traces {}", traces.display());
        Ok(if failed > 0 { 1 } else { 0 })
    }

    #[allow(clippy::too_many_arguments)]
    fn trace_one(
        &self,
        python: &Path,
        release: &str,
        library: &Path,
        benchmark: &Benchmark,
        traces: &Path,
        work: &Path,
    ) -> anyhow::Result<TracedBenchmark> {
        let (loops, calibrated) = match self.loops {
            Some(loops) => (loops, false),
            None => (calibrate(python, benchmark, work, self.min_time)?, true),
        };
        let file = format!("{}.trace", benchmark.name);
        let out = traces.join(&file);
        let mut command = Command::new(python);
        command
            .current_dir(work)
            .arg(&benchmark.script)
            .args(worker_args(loops))
            .args(&benchmark.extra_opts)
            .env("PYTHONMALLOC", "malloc")
            .stdout(Stdio::null());
        let captured = crate::trace::capture(library, "jemalloc", &out, command)?;
        if !captured.status.success() {
            bail!("the traced run exited with {}", captured.status);
        }
        for other in &captured.other_files {
            std::fs::remove_file(other).with_context(|| format!("removing {}", other.display()))?;
        }
        if captured.other_calls as f64 > CHILD_WORK_SHARE * captured.summary.calls as f64 {
            eprintln!(
                "pyperf: warning: {}'s child processes made {} calls against its own {}: it works in children, which its trace does not hold",
                benchmark.name, captured.other_calls, captured.summary.calls
            );
        }
        let file_bytes = std::fs::metadata(&out).with_context(|| format!("reading {}", out.display()))?.len();
        let mut args = worker_args(loops);
        args.extend(benchmark.extra_opts.iter().cloned());
        // The same run, for the real interpreter on every allocator (`heaplab run --workload
        // program --program SPEC`, which `cargo xtask bench --traces` plans beside the replays).
        let spec = heaplab_core::program::ProgramSpec {
            program: benchmark.name.clone(),
            release: release.to_owned(),
            python: python.to_owned(),
            argv: std::iter::once(benchmark.script.display().to_string())
                .chain(args.iter().cloned())
                .collect(),
            cwd: work.to_owned(),
        };
        let spec_path = traces.join(heaplab_core::program::file_name(&benchmark.name));
        std::fs::write(&spec_path, serde_json::to_string_pretty(&spec)? + "\n")
            .with_context(|| format!("writing {}", spec_path.display()))?;
        Ok(TracedBenchmark {
            benchmark: benchmark.name.clone(),
            file,
            args,
            loops,
            calibrated,
            calls: captured.summary.calls,
            requested_bytes: captured.summary.requested_bytes,
            peak_live_bytes: captured.summary.peak_live_bytes,
            file_bytes,
            capture_s: captured.elapsed.as_secs_f64(),
            other_processes: captured.other_files.len(),
            other_calls: captured.other_calls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const PYPROJECT: &str =
        "[project]\nname = \"pyperformance_bm_x\"\ndependencies = [\"pyperf\"]\n\n[tool.pyperformance]\n";

    /// A tree shaped like pyperformance's data files.
    fn sample_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("MANIFEST"), "[benchmarks]\n");
        write(&root.join("bm_json_loads/run_benchmark.py"), "");
        write(
            &root.join("bm_json_loads/pyproject.toml"),
            &format!("{PYPROJECT}name = \"json_loads\"\ntags = \"serialize\"\n"),
        );
        write(&root.join("bm_pickle/run_benchmark.py"), "");
        write(
            &root.join("bm_pickle/pyproject.toml"),
            &format!("{PYPROJECT}name = \"pickle\"\nextra_opts = [\"pickle\"]\n"),
        );
        write(
            &root.join("bm_pickle/bm_pickle_pure_python.toml"),
            &format!(
                "{PYPROJECT}name = \"pickle_pure_python\"\nextra_opts = [\"--pure-python\", \"pickle\"]\n"
            ),
        );
        write(&root.join("bm_yaml/run_benchmark.py"), "");
        write(&root.join("bm_yaml/pyproject.toml"), &format!("{PYPROJECT}name = \"yaml\"\n"));
        write(&root.join("bm_yaml/requirements.txt"), "pyyaml==6.0.1\n# a comment\n\n");
        write(&root.join("bm_python_startup/run_benchmark.py"), "");
        write(&root.join("bm_python_startup/pyproject.toml"), "[project]\nname = \"x\"\n");
        // No script: not a benchmark.
        write(&root.join("bm_empty/pyproject.toml"), &format!("{PYPROJECT}name = \"empty\"\n"));
        dir
    }

    #[test]
    fn discovery_reads_names_variants_and_requirements() {
        let tree = sample_tree();
        let found = discover(tree.path()).unwrap();
        let names: Vec<&str> = found.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["json_loads", "pickle", "pickle_pure_python", "python_startup", "yaml"]);
        let pure = &found[2];
        assert_eq!(pure.extra_opts, ["--pure-python", "pickle"]);
        assert_eq!(pure.script, tree.path().join("bm_pickle/run_benchmark.py"));
        assert!(pure.stdlib_only());
        assert_eq!(found[4].requirements, ["pyyaml==6.0.1"]);
        assert!(!found[4].stdlib_only());
        assert!(found[0].extra_opts.is_empty());
    }

    fn names<'a>(chosen: &[&'a Benchmark]) -> Vec<&'a str> {
        chosen.iter().map(|b| b.name.as_str()).collect()
    }

    #[test]
    fn selection_keeps_stdlib_only_benchmarks_and_says_why_not() {
        let tree = sample_tree();
        let found = discover(tree.path()).unwrap();

        let (chosen, refused) = select(&found, &[]).unwrap();
        assert_eq!(names(&chosen), ["json_loads", "pickle"], "the defaults that are present");
        assert!(refused.iter().any(|(name, why)| name == "raytrace" && why.contains("not in this")));

        let (chosen, refused) = select(&found, &["all".to_owned()]).unwrap();
        assert_eq!(names(&chosen), ["json_loads", "pickle", "pickle_pure_python"]);
        let refused: BTreeMap<String, String> = refused.into_iter().collect();
        assert!(refused["yaml"].contains("pyyaml==6.0.1"), "{refused:?}");
        assert!(refused["python_startup"].contains("child processes"), "{refused:?}");

        let asked = ["pickle_pure_python".to_owned(), "yaml".to_owned(), "pickle_pure_python".to_owned()];
        let (chosen, refused) = select(&found, &asked).unwrap();
        assert_eq!(names(&chosen), ["pickle_pure_python"]);
        assert_eq!(refused.len(), 1);

        let error = select(&found, &["jsonloads".to_owned()]).unwrap_err().to_string();
        assert!(error.contains("\"jsonloads\""), "{error}");
        assert!(error.contains("json_loads, pickle, pickle_pure_python"), "{error}");
    }

    #[test]
    fn the_default_list_names_no_benchmark_that_is_never_traced() {
        for (name, _) in NOT_TRACED {
            assert!(!DEFAULT_BENCHMARKS.contains(name), "{name}");
        }
        let mut sorted = DEFAULT_BENCHMARKS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), DEFAULT_BENCHMARKS.len(), "no duplicates");
    }

    /// The benchmarks directory of a venv that `cargo xtask pyperf` made here, if one exists.
    fn installed_benchmarks() -> Option<PathBuf> {
        let root = crate::project_root().join("target").join("pyperf");
        let venvs = std::fs::read_dir(&root).ok()?;
        for venv in venvs.filter_map(|entry| entry.ok()).map(|entry| entry.path()) {
            let marker = std::fs::read_to_string(venv.join("heaplab-pinned.txt")).unwrap_or_default();
            if marker.trim() != pin_line() {
                continue;
            }
            let lib = std::fs::read_dir(venv.join("lib")).ok()?;
            for python in lib.filter_map(|entry| entry.ok()).map(|entry| entry.path()) {
                let dir = python.join("site-packages/pyperformance/data-files/benchmarks");
                if dir.is_dir() {
                    return Some(dir);
                }
            }
        }
        None
    }

    #[test]
    fn every_default_benchmark_is_a_stdlib_only_one_of_the_pinned_pyperformance() {
        let Some(dir) = installed_benchmarks() else {
            eprintln!("skipped: no pinned pyperformance under target/pyperf (cargo xtask pyperf makes one)");
            return;
        };
        let found = discover(&dir).unwrap();
        let (chosen, refused) = select(&found, &[]).unwrap();
        assert!(refused.is_empty(), "defaults not traced: {refused:?}");
        assert_eq!(chosen.len(), DEFAULT_BENCHMARKS.len());
        for (name, _) in NOT_TRACED {
            assert!(found.iter().any(|b| b.name == *name), "{name} is not in pyperformance {}", PINNED[0].1);
        }
        // The named ones of the issue, and the variants that take their arguments from extra_opts.
        let pickle_dict = found.iter().find(|b| b.name == "pickle_dict").unwrap();
        assert_eq!(pickle_dict.extra_opts, ["pickle_dict"]);
        assert!(found.iter().any(|b| b.name == "yaml" && !b.stdlib_only()));
    }

    #[test]
    fn no_interpreter_or_no_registry_is_a_skip_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        match ensure_venv(dir.path(), "/nonexistent/python3", &[]).unwrap() {
            Venv::Skip(why) => assert!(why.contains("cannot run /nonexistent/python3"), "{why}"),
            Venv::Ready(_) => panic!("no interpreter, no venv"),
        }
        if python_minor("python3").is_err() {
            eprintln!("skipped the registry half: no python3");
            return;
        }
        // An index nobody serves (the discard port of this machine): pip fails, the command skips.
        let offline = [("PIP_INDEX_URL", "http://127.0.0.1:9/simple"), ("PIP_NO_CACHE_DIR", "1")];
        match ensure_venv(dir.path(), "python3", &offline).unwrap() {
            Venv::Skip(why) => {
                assert!(why.contains("is PyPI reachable?") || why.contains("venv"), "{why}");
                assert!(!why.contains('\n'), "one line: {why}");
            }
            Venv::Ready(_) => panic!("pip installed from an index that is not there"),
        }
        let venvs: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(venvs.is_empty(), "a failed install leaves no venv behind");
    }

    #[test]
    fn calibrated_loops_take_the_smallest_of_a_scripts_benchmarks() {
        let one: serde_json::Value = serde_json::from_str(
            r#"{"benchmarks":[{"runs":[]}],"metadata":{"loops":256,"name":"json_loads"}}"#,
        )
        .unwrap();
        assert_eq!(calibrated_loops(&one), Some(256));
        let several: serde_json::Value = serde_json::from_str(
            r#"{"benchmarks":[{"metadata":{"loops":64}},{"metadata":{"loops":2}},{"runs":[]}],"metadata":{"loops":8}}"#,
        )
        .unwrap();
        assert_eq!(calibrated_loops(&several), Some(2));
        let none: serde_json::Value = serde_json::from_str(r#"{"benchmarks":[{"runs":[]}]}"#).unwrap();
        assert_eq!(calibrated_loops(&none), None);
    }

    #[test]
    fn the_worker_runs_one_value_in_this_process() {
        assert_eq!(worker_args(3), ["--worker", "--loops", "3", "--warmups", "0", "--values", "1"]);
    }

    #[test]
    fn a_manifest_survives_a_write_and_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest {
            pyperformance: "1.14.0".into(),
            pyperf: "2.10.0".into(),
            python: "3.11.7".into(),
            python_executable: "python3".into(),
            preload_alloc: "jemalloc".into(),
            pythonmalloc: "malloc".into(),
            benchmarks: vec![TracedBenchmark {
                benchmark: "json_loads".into(),
                file: "json_loads.trace".into(),
                args: worker_args(128),
                loops: 128,
                calibrated: true,
                calls: 10,
                requested_bytes: 100,
                peak_live_bytes: 50,
                file_bytes: 80,
                capture_s: 0.5,
                other_processes: 2,
                other_calls: 300,
            }],
            not_traced: vec![("yaml".into(), "needs pyyaml".into())],
        };
        std::fs::write(dir.path().join(MANIFEST), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
        assert_eq!(read_manifest(dir.path()).unwrap(), Some(manifest));
        assert_eq!(read_manifest(&dir.path().join("nothing")).unwrap(), None);
    }
}
