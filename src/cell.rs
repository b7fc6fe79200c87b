//! `heaplab run`: one cell, measured in this process.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use heaplab_alloc::{AllocConfig, AllocVisitor};
use heaplab_core::fault::{FAULT_VAR, Fault};
use heaplab_core::probe::{self, PhaseLog, PhaseRecord, Probe, ProbeHandle, Snapshot};
use heaplab_core::record::quantile;
use heaplab_core::trace::Trace;
use heaplab_core::version;
use heaplab_core::{AllocStats, Allocator, HeapStats, Outcome, Params, Record, RunReport, Status};
use heaplab_gc::GcConfig;
use heaplab_workloads::{Body, Workload, trace_replay};

use crate::real;
use crate::strategy::{self, Strategy};

/// How often the probe samples RSS.
const SAMPLE_PERIOD: Duration = Duration::from_millis(1);

/// Arguments of `heaplab run`. Numbers are parsed here, not by clap, so that
/// a bad one gets a one-line error.
#[derive(clap::Args)]
pub struct RunArgs {
    /// `collector+allocator` (e.g. cycle+pymalloc), or an allocator alone for allocator workloads.
    #[arg(long)]
    strategy: String,
    /// The workload (see `heaplab list`).
    #[arg(long)]
    workload: String,
    /// The workload's size (what it means: `heaplab list`).
    #[arg(long, allow_hyphen_values = true)]
    size: String,
    /// Threads, for threaded workloads.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    threads: String,
    /// Seed of every random choice.
    #[arg(long, default_value = "42", allow_hyphen_values = true)]
    seed: String,
    /// Writes the memory time series here as CSV.
    #[arg(long)]
    series: Option<PathBuf>,
    /// A strategy parameter: pymalloc.geometry=3.9|3.10, marksweep.growth=F, cycle.thresholds=A,B,C,
    /// cycle.interpreter-objects=K, COLLECTOR.free-lists=on|off (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// The allocation trace the trace-replay workload replays (record one with `cargo xtask trace`).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The program the real interpreter's `program` workload runs: a spec that `cargo xtask
    /// pyperf` writes beside each trace (`traces/<bench>.program.json`).
    #[arg(long, value_name = "SPEC")]
    program: Option<PathBuf>,
    /// Transparent huge pages for this process: `system` (the kernel's setting) or `never`
    /// (`prctl(PR_SET_THP_DISABLE)`); default: the `HEAPLAB_THP` variable, else `system`.
    #[arg(long, value_name = "SETTING")]
    thp: Option<String>,
}

/// The variable through which `cargo xtask bench` hands each child its THP setting.
pub const THP_VAR: &str = "HEAPLAB_THP";

/// The THP setting of a run: `system` or `never`. `always` is refused: without
/// privileges a process can only ask for huge pages with `madvise`, region by
/// region, and the allocators map their own memory, so it could not be honest.
fn thp_setting(flag: Option<&str>) -> Result<&'static str> {
    let from_env = std::env::var(THP_VAR).ok();
    let (text, source) = match (flag, from_env.as_deref()) {
        (Some(text), _) => (text, "--thp"),
        (None, Some(text)) => (text, THP_VAR),
        (None, None) => return Ok("system"),
    };
    match text.trim() {
        "system" | "" => Ok("system"),
        "never" => Ok("never"),
        "always" => bail!(
            "{source} always is not supported: forcing huge pages needs root (/sys/kernel/mm/transparent_hugepage/enabled); use system or never"
        ),
        other => bail!("{source} must be system or never (got '{other}')"),
    }
}

fn parse_positive(what: &str, text: &str) -> Result<u64> {
    match text.trim().replace('_', "").parse::<u64>() {
        Ok(0) => bail!("--{what} must be at least 1 (got 0)"),
        Ok(n) => Ok(n),
        Err(_) => bail!("--{what} must be a positive integer (got '{text}')"),
    }
}

/// Strategy parameters from `--set`.
#[derive(Default)]
struct Settings {
    alloc: AllocConfig,
    gc: GcConfig,
}

/// The settings of `strategy`: its CPython release's (thresholds, object sizes, pymalloc
/// geometry), then each `--set` over them.
fn parse_settings(strategy: &Strategy, items: &[String]) -> Result<Settings> {
    let version = strategy.effective_version();
    let mut settings = Settings::default();
    settings.gc.version = version;
    settings.gc.thresholds = version.thresholds.to_vec();
    settings.alloc.pymalloc_geometry = version.geometry.parse().map_err(anyhow::Error::msg)?;
    settings.alloc.cpython_version = strategy.allocator_version.map(|v| v.name.to_owned());
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            bail!("--set takes KEY=VALUE (got '{item}')");
        };
        match key {
            "pymalloc.geometry" => {
                settings.alloc.pymalloc_geometry = match value {
                    "3.9" => heaplab_alloc::Geometry::Py39,
                    "3.10" | "3.11" | "3.12" | "3.13" => heaplab_alloc::Geometry::Py310,
                    _ => bail!("pymalloc.geometry must be 3.9 or 3.10 (got '{value}')"),
                }
            }
            // Added by calibrate: the pools the interpreter held before the workload.
            "pymalloc.start" => {
                if strategy.allocator != "pymalloc" {
                    bail!(
                        "pymalloc.start is for the pymalloc allocator (the strategy's is {})",
                        strategy.allocator
                    );
                }
                settings.alloc.pymalloc_start = Some(value.parse().map_err(anyhow::Error::msg)?);
            }
            "marksweep.growth" => match value.parse::<f64>() {
                Ok(g) if g > 1.0 && g.is_finite() => settings.gc.growth = g,
                _ => bail!("marksweep.growth must be a number above 1 (got '{value}')"),
            },
            // Added by calibrate: CPython's measured thresholds (3.13: 2000,10,10) and the
            // tracked objects a CPython interpreter holds before a workload starts.
            "cycle.thresholds" => settings.gc.thresholds = parse_thresholds(value)?,
            "cycle.interpreter-objects" => match value.trim().replace('_', "").parse::<u64>() {
                Ok(n) => settings.gc.interpreter_objects = n,
                Err(_) => bail!("cycle.interpreter-objects must be a count of objects (got '{value}')"),
            },
            // CPython's free lists (on, the release's) or none: what they save.
            _ if key.ends_with(".free-lists") => {
                let owner = key.trim_end_matches(".free-lists");
                if strategy.collector != Some(owner) {
                    bail!(
                        "{key} is for the {owner} collector (the strategy's is {})",
                        strategy.collector.unwrap_or("none: an allocator alone")
                    );
                }
                settings.gc.free_lists = match value {
                    "on" => true,
                    "off" => false,
                    _ => bail!("{key} must be on or off (got '{value}')"),
                };
            }
            _ => bail!(
                "unknown setting '{key}' (valid: pymalloc.geometry, pymalloc.start, marksweep.growth, \
                 cycle.thresholds, cycle.interpreter-objects, COLLECTOR.free-lists)"
            ),
        }
    }
    Ok(settings)
}

/// `cycle.thresholds`: three generation thresholds, e.g. `700,10,10`.
fn parse_thresholds(value: &str) -> Result<Vec<u32>> {
    let parsed: Vec<Option<u32>> = value.split(',').map(|part| part.trim().parse::<u32>().ok()).collect();
    match parsed.as_slice() {
        [Some(young), Some(middle), Some(old)] => Ok(vec![*young, *middle, *old]),
        _ => bail!("cycle.thresholds must be three integers, e.g. 700,10,10 (got '{value}')"),
    }
}

/// What a workload run produced, whatever ran it.
struct Measured {
    outcome: Outcome,
    wall_ns: u64,
    end_rss_bytes: u64,
    /// `AnonHugePages` at the end of the workload.
    anon_huge_bytes: Option<u64>,
    /// Heap figures at the end of the workload (before teardown accounting).
    stats: HeapStats,
    /// Set by teardown.
    leaked_bytes: u64,
    phases: Vec<PhaseRecord>,
    has_collector: bool,
}

/// Runs a heap workload on `collector` over whichever allocator visits.
struct HeapRun<'a> {
    collector: &'static str,
    gc: &'a GcConfig,
    probe: ProbeHandle,
    body: fn(&mut dyn heaplab_core::Heap, &Params) -> Outcome,
    params: Params,
    /// Whether the allocator began with an interpreter's pools: the run then opens with
    /// [`heaplab_core::probe::START_PHASE`], the heap as the workload found it.
    starts_warm: bool,
}

impl AllocVisitor for HeapRun<'_> {
    type Output = Measured;

    fn visit<A: Allocator + 'static>(self, alloc: A) -> Measured {
        let mut heap = heaplab_gc::new_heap(self.collector, alloc, self.gc, Some(self.probe))
            .expect("the collector was resolved from the registry");
        let started = Instant::now();
        if self.starts_warm {
            heap.phase(heaplab_core::probe::START_PHASE);
        }
        let outcome = (self.body)(heap.as_mut(), &self.params);
        let wall_ns = started.elapsed().as_nanos() as u64;
        let end_rss_bytes = probe::current_rss_bytes();
        let anon_huge_bytes = probe::anon_huge_page_bytes();
        let stats = heap.stats();
        let (final_stats, phases) = heap.finish();
        Measured {
            outcome,
            wall_ns,
            end_rss_bytes,
            anon_huge_bytes,
            stats,
            leaked_bytes: final_stats.leaked_bytes,
            phases,
            has_collector: true,
        }
    }
}

/// Turns an allocator's counters into the figures a heap would report.
fn alloc_figures(stats: &AllocStats) -> HeapStats {
    let counters = stats.counters.unwrap_or_default();
    HeapStats {
        live_objects: counters.n_allocs - counters.n_frees,
        live_bytes: counters.live_bytes,
        peak_live_bytes: counters.peak_live_bytes,
        allocated_bytes: counters.allocated_bytes,
        allocated_objects: counters.n_allocs,
        ..HeapStats::default()
    }
}

fn run_allocator_workload(
    workload: &Workload,
    allocator: &str,
    settings: &Settings,
    probe: ProbeHandle,
    params: Params,
) -> Result<Measured> {
    let mut log = PhaseLog::new(Some(probe));
    let started = Instant::now();
    let (outcome, alloc_stats) = match workload.body {
        Body::Alloc(body) => {
            let mut alloc = heaplab_alloc::boxed(allocator, &settings.alloc)?;
            let outcome = body(alloc.as_mut(), &mut log, &params);
            (outcome, alloc.stats())
        }
        Body::Shared(body) => {
            let alloc = heaplab_alloc::shared(allocator, &settings.alloc)?;
            let outcome = body(alloc.as_ref(), &mut log, &params);
            (outcome, alloc.stats())
        }
        Body::Heap(_) => unreachable!("heap workloads run on a heap"),
    };
    let wall_ns = started.elapsed().as_nanos() as u64;
    let end_rss_bytes = probe::current_rss_bytes();
    let anon_huge_bytes = probe::anon_huge_page_bytes();
    let stats = alloc_figures(&alloc_stats);
    log.end(|| Snapshot { live_bytes: stats.live_bytes, collections: 0, alloc: alloc_stats.clone() });
    Ok(Measured {
        outcome,
        wall_ns,
        end_rss_bytes,
        anon_huge_bytes,
        leaked_bytes: stats.live_bytes,
        stats,
        phases: log.take_records(),
        has_collector: false,
    })
}

/// The trace of `--trace`, read and checked before the run: trace-replay needs
/// one, and no other workload takes one.
fn load_trace(workload: &Workload, path: Option<&std::path::Path>) -> Result<Option<Arc<Trace>>> {
    let replays = workload.name == trace_replay::WORKLOAD.name;
    match path {
        Some(path) if replays => Ok(Some(Arc::new(heaplab_core::trace::read_file(path)?))),
        None if replays => bail!(trace_replay::NEEDS_TRACE),
        Some(_) => bail!("--trace is for the trace-replay workload only (got --workload {})", workload.name),
        None => Ok(None),
    }
}

/// `heaplab run --workload program --program SPEC` on a real-interpreter strategy.
fn run_program(args: &RunArgs, thp: &str) -> Result<()> {
    if args.workload != real::PROGRAM {
        bail!("--program is for the {} workload only (got --workload {})", real::PROGRAM, args.workload);
    }
    let Some(spec) = &args.program else { bail!(real::NEEDS_PROGRAM) };
    let strategy = strategy::resolve_program(&args.strategy)?;
    if parse_positive("size", &args.size)? != 1 {
        bail!("workload {} runs its program once: --size must be 1 (got {})", real::PROGRAM, args.size);
    }
    if args.threads.trim() != "1" || !args.settings.is_empty() || args.trace.is_some() {
        bail!("workload {} takes --program only (no --threads, --set or --trace)", real::PROGRAM);
    }
    let seed: u64 = args
        .seed
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--seed must be an integer (got '{}')", args.seed))?;
    let mut params = heaplab_core::record::with_param("", "program_spec", &spec.display().to_string());
    params = heaplab_core::record::with_param(&params, "thp", thp);
    let mut series_out = match &args.series {
        Some(path) => {
            Some(BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?))
        }
        None => None,
    };
    let report = real::run_program(real::ProgramRun {
        strategy: strategy.name(),
        version: strategy.effective_version(),
        allocator: real::allocator(strategy.allocator).expect("resolved from real::ALLOCATORS"),
        spec,
        seed,
        params,
        series: series_out.as_mut().map(|out| out as &mut dyn std::io::Write),
    })?;
    if let Some(mut out) = series_out {
        std::io::Write::flush(&mut out).context("writing the series")?;
    }
    crate::print_line(&serde_json::to_string(&report)?)
}

/// `heaplab run`.
pub fn run(args: RunArgs) -> Result<()> {
    // First, before any allocator of the workload maps memory (the kernel checks the flag at each fault anyway).
    let thp = thp_setting(args.thp.as_deref())?;
    if thp == "never" {
        probe::disable_transparent_huge_pages()
            .context("turning transparent huge pages off (prctl PR_SET_THP_DISABLE)")?;
    }
    let thp_recorded = match (thp, probe::transparent_huge_pages_disabled()) {
        ("never", Some(false)) => bail!("prctl(PR_SET_THP_DISABLE) did not take effect"),
        (_, Some(true)) => "never",
        _ => thp,
    };

    if args.workload == real::PROGRAM || args.program.is_some() {
        return run_program(&args, thp_recorded);
    }
    let workload = strategy::find_workload(&args.workload)?;
    let strategy: Strategy = strategy::resolve(&args.strategy, workload)?;
    let size = parse_positive("size", &args.size)?;
    let threads = parse_positive("threads", &args.threads)?;
    let threads = u32::try_from(threads).context("--threads is too large")?;
    if threads > 1 && !workload.threaded {
        bail!("workload {} is single-threaded; --threads must be 1", workload.name);
    }
    let seed: u64 = args
        .seed
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--seed must be an integer (got '{}')", args.seed))?;
    if strategy.collector == Some(real::COLLECTOR) && !args.settings.is_empty() {
        bail!(
            "--set changes the model's parameters; the real interpreter ('{}') has none (got --set {})",
            strategy.name(),
            args.settings.join(" --set ")
        );
    }
    let settings = parse_settings(&strategy, &args.settings)?;
    let mut params_recorded = String::new();
    // The release the run used: the one named, or the one an unversioned name stands for
    // where that is not the default (`incremental+pymalloc` runs 3.14).
    let release = strategy.effective_version();
    if strategy.version.is_some() || (strategy.collector.is_some() && release.name != version::DEFAULT.name) {
        params_recorded = heaplab_core::record::with_param(&params_recorded, "version", release.name);
    }
    if let Some(v) = strategy.allocator_version {
        params_recorded = heaplab_core::record::with_param(&params_recorded, "allocator_version", v.name);
    }
    if let Some(trace) = &args.trace {
        params_recorded =
            heaplab_core::record::with_param(&params_recorded, "trace", &trace.display().to_string());
    }
    for item in &args.settings {
        let (key, value) = item.split_once('=').expect("checked by parse_settings");
        params_recorded = heaplab_core::record::with_param(&params_recorded, key.trim(), value.trim());
    }
    let series_file = match &args.series {
        Some(path) => Some(File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => None,
    };
    if let Ok(spec) = std::env::var(FAULT_VAR)
        && let Some(fault) = Fault::armed_for(&spec, workload.name).map_err(anyhow::Error::msg)?
    {
        eprintln!("heaplab: injecting fault '{fault}' into {}", workload.name);
        fault.trigger();
    }

    let trace = load_trace(workload, args.trace.as_deref())?;
    if strategy.collector == Some(real::COLLECTOR) {
        let mut series_out = series_file.map(BufWriter::new);
        let report = real::run(real::RealRun {
            strategy: strategy.name(),
            version: strategy.effective_version(),
            allocator: real::allocator(strategy.allocator).expect("resolved from real::ALLOCATORS"),
            workload: workload.name,
            size,
            seed,
            params: heaplab_core::record::with_param(&params_recorded, "thp", thp_recorded),
            series: series_out.as_mut().map(|out| out as &mut dyn std::io::Write),
        })?;
        if let Some(mut out) = series_out {
            std::io::Write::flush(&mut out).context("writing the series")?;
        }
        return crate::print_line(&serde_json::to_string(&report)?);
    }
    let params = Params { size, threads, seed, trace };
    let before = probe::usage();
    let probe = Probe::start(SAMPLE_PERIOD);
    let measured = match (strategy.collector, workload.body) {
        (Some(collector), Body::Heap(body)) => {
            let starts_warm = settings.alloc.pymalloc_start.is_some();
            let visitor =
                HeapRun { collector, gc: &settings.gc, probe: probe.handle(), body, params, starts_warm };
            heaplab_alloc::with_allocator(strategy.allocator, &settings.alloc, visitor)?
        }
        _ => run_allocator_workload(workload, strategy.allocator, &settings, probe.handle(), params)?,
    };
    let series = probe.finish();
    let after = probe::usage();

    if let Some(file) = series_file {
        let names: Vec<String> = measured.phases.iter().map(|p| p.name.clone()).collect();
        let mut out = BufWriter::new(file);
        series.write_csv(&mut out, &names).context("writing the series")?;
    }

    let stats = &measured.stats;
    let wall_s = measured.wall_ns as f64 / 1e9;
    let with_collector = |v: u64| measured.has_collector.then_some(v);
    let record = Record {
        strategy: strategy.name(),
        collector: strategy.collector.unwrap_or("").to_owned(),
        allocator: strategy.allocator.to_owned(),
        workload: workload.name.to_owned(),
        size,
        threads,
        seed,
        rep: 0,
        status: Status::Ok,
        checksum: Some(format!("{:016x}", measured.outcome.checksum)),
        wall_ns: Some(measured.wall_ns),
        user_ns: Some(after.user_ns - before.user_ns),
        sys_ns: Some(after.sys_ns - before.sys_ns),
        ops: Some(measured.outcome.ops),
        ops_per_s: Some(if wall_s > 0.0 { measured.outcome.ops as f64 / wall_s } else { 0.0 }),
        peak_rss_bytes: Some(after.max_rss_bytes),
        end_rss_bytes: Some(measured.end_rss_bytes),
        peak_live_bytes: Some(stats.peak_live_bytes),
        end_live_bytes: Some(stats.live_bytes),
        allocated_bytes: Some(stats.allocated_bytes),
        leaked_bytes: Some(measured.leaked_bytes),
        collections: with_collector(stats.collections()),
        pause_total_ns: with_collector(stats.collector_ns),
        pause_max_ns: with_collector(stats.pauses_ns.iter().copied().max().unwrap_or(0)),
        pause_p99_ns: with_collector(quantile(&stats.pauses_ns, 0.99)),
        minor_faults: Some(after.minor_faults - before.minor_faults),
        params: heaplab_core::record::with_param(&params_recorded, "thp", thp_recorded),
    };
    let report = RunReport {
        record,
        collections_by_gen: if measured.has_collector {
            stats.collections_by_gen.clone()
        } else {
            Vec::new()
        },
        phases: measured.phases,
        anon_huge_bytes: measured.anon_huge_bytes,
    };
    crate::print_line(&serde_json::to_string(&report)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_must_be_positive_integers() {
        assert_eq!(parse_positive("size", "1_000").unwrap(), 1000);
        for bad in ["0", "-3", "ten", "", "1.5"] {
            assert!(parse_positive("size", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thp_settings_are_checked() {
        assert_eq!(thp_setting(Some("never")).unwrap(), "never");
        assert_eq!(thp_setting(Some("system")).unwrap(), "system");
        assert!(thp_setting(Some("always")).unwrap_err().to_string().contains("root"));
        assert!(thp_setting(Some("sometimes")).is_err());
    }

    fn strategy(name: &str) -> Strategy {
        strategy::resolve(name, strategy::find_workload("binary-trees").unwrap()).unwrap()
    }

    #[test]
    fn a_version_sets_thresholds_sizes_and_geometry_and_sets_override_them() {
        let v313 = parse_settings(&strategy("cycle@3.13+pymalloc"), &[]).unwrap();
        assert_eq!(v313.gc.thresholds, [2000, 10, 10]);
        assert_eq!(v313.gc.version.name, "3.13");
        assert_eq!(v313.alloc.pymalloc_geometry, heaplab_alloc::Geometry::Py310);
        let v39 = parse_settings(&strategy("cycle@3.9+pymalloc"), &[]).unwrap();
        assert_eq!((v39.gc.thresholds.as_slice(), v39.gc.version.name), ([700, 10, 10].as_slice(), "3.9"));
        assert_eq!(v39.alloc.pymalloc_geometry, heaplab_alloc::Geometry::Py39);
        let plain = parse_settings(&strategy("cycle+pymalloc"), &[]).unwrap();
        assert_eq!(
            (plain.gc.version.name, plain.alloc.pymalloc_geometry),
            ("3.11", heaplab_alloc::Geometry::Py310)
        );
        let set =
            parse_settings(&strategy("cycle@3.13+pymalloc"), &["cycle.thresholds=5,4,3".into()]).unwrap();
        assert_eq!(set.gc.thresholds, [5, 4, 3], "--set wins over the version");
    }

    #[test]
    fn settings_are_checked() {
        let parse_settings = |items: &[String]| parse_settings(&strategy("cycle+pymalloc"), items);
        let ok = parse_settings(&["marksweep.growth=1.5".into(), "pymalloc.geometry=3.9".into()]).unwrap();
        assert_eq!(ok.gc.growth, 1.5);
        assert_eq!(ok.alloc.pymalloc_geometry, heaplab_alloc::Geometry::Py39);
        let cycle = parse_settings(&[
            "cycle.thresholds=2000,10,10".into(),
            "cycle.interpreter-objects=11_092".into(),
        ])
        .unwrap();
        assert_eq!(cycle.gc.thresholds, [2000, 10, 10]);
        assert_eq!(cycle.gc.interpreter_objects, 11_092);
        let start = parse_settings(&["pymalloc.start=32:2:10,64:1:0".into()]).unwrap();
        assert_eq!(start.alloc.pymalloc_start.unwrap().to_string(), "32:2:10,64:1:0");
        let elsewhere =
            super::parse_settings(&strategy("cycle+mimalloc"), &["pymalloc.start=32:2:10".into()]);
        assert!(elsewhere.err().expect("refused").to_string().contains("for the pymalloc allocator"));
        assert!(parse_settings(&[]).unwrap().gc.free_lists, "CPython's free lists by default");
        assert!(!parse_settings(&["cycle.free-lists=off".into()]).unwrap().gc.free_lists);
        let other = super::parse_settings(&strategy("marksweep+pymalloc"), &["cycle.free-lists=off".into()]);
        assert!(other.err().expect("refused").to_string().contains("for the cycle collector"));
        for bad in [
            "cycle.free-lists=no",
            "pymalloc.start=32:2",
            "pymalloc.start=33:1:0",
            "marksweep.growth=1",
            "marksweep.growth=x",
            "nope=1",
            "novalue",
            "pymalloc.geometry=2.7",
            "cycle.thresholds=700,10",
            "cycle.thresholds=700,10,x",
            "cycle.interpreter-objects=-1",
        ] {
            assert!(parse_settings(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
