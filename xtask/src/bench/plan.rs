//! The matrix of a sweep: which cells (strategy x workload x size x threads)
//! run, in which order, in which shard, and which a resumed sweep skips.
//!
//! The order is fixed by the catalog's order: for each workload, each size,
//! each thread count, each strategy. Repetitions are rep-major over that list,
//! so the same cell never runs twice in a row and slow drift of the machine
//! touches every strategy alike.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, bail};
use globset::Glob;
use heaplab_core::Record;

use super::catalog::{Catalog, StrategyInfo, StrategyKind, WorkloadInfo};

/// One cell of the matrix: what one `heaplab run` runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    /// The strategy name.
    pub strategy: String,
    /// The strategy's collector; empty for allocator strategies.
    pub collector: String,
    /// The strategy's allocator.
    pub allocator: String,
    /// The workload name.
    pub workload: String,
    /// The workload's size parameter.
    pub size: u64,
    /// Thread count.
    pub threads: u32,
    /// Whether the workload takes a thread count at all.
    pub threaded: bool,
    /// The trace a `trace-replay-<program>` cell replays.
    pub trace: Option<PathBuf>,
    /// The program spec a `program-<program>` cell runs under a real interpreter.
    pub program: Option<PathBuf>,
    /// `heaplab run --set` values of a parameter sweep's cell (its strategy is then named
    /// `NAME[KEY=VALUE]`, see [`swept_strategy`]).
    pub settings: Vec<String>,
}

/// A strategy parameter swept over values (`cargo xtask bench --set marksweep.growth=1.5,2,3`).
#[derive(Clone, Debug, PartialEq)]
pub struct SettingSweep {
    /// `marksweep.growth`: its first part names the collector or allocator it applies to.
    pub key: String,
    /// The values, as given.
    pub values: Vec<String>,
}

impl FromStr for SettingSweep {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<SettingSweep> {
        let Some((key, values)) = text.split_once('=') else {
            bail!("--set takes KEY=VALUE[,VALUE...] (got {text:?})");
        };
        let (key, values): (&str, Vec<String>) =
            (key.trim(), values.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect());
        if !key.contains('.') || values.is_empty() {
            bail!("--set takes KEY=VALUE[,VALUE...], KEY as collector.name or allocator.name (got {text:?})");
        }
        Ok(SettingSweep { key: key.to_owned(), values })
    }
}

impl SettingSweep {
    /// Whether it applies to a strategy of this collector and allocator: the key's first part
    /// names one of them (`marksweep.growth` applies to `marksweep+…`).
    pub fn applies_to(&self, collector: &str, allocator: &str) -> bool {
        let owner = self.key.split('.').next().unwrap_or_default();
        owner == collector || owner == allocator
    }
}

pub use crate::layout::{
    PROGRAM, TRACE_REPLAY, program_workload, split_swept, swept_strategy, trace_workload, traced_program,
};

/// A traced program the sweep replays: its name (the trace file's stem) and the file, and
/// where `cargo xtask pyperf` wrote one beside it, the spec that runs the program itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceInput {
    /// The program's name.
    pub program: String,
    /// The trace file.
    pub path: PathBuf,
    /// `<stem>.program.json`, where there is one.
    pub spec: Option<ProgramInput>,
}

/// A program spec: the file, and the CPython release its interpreter is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramInput {
    /// The spec file.
    pub path: PathBuf,
    /// `3.11`: only `python@3.11+…` strategies run it.
    pub release: String,
}

/// The release of a real strategy's name: `python@3.13+mimalloc` is 3.13, `python+pymalloc`
/// the default release.
fn real_release<'a>(strategy: &'a str, default_release: &'a str) -> &'a str {
    let collector = strategy.split_once('+').map_or(strategy, |(collector, _)| collector);
    collector.split_once('@').map_or(default_release, |(_, release)| release)
}

/// What a planned workload runs from: a trace, a program, or nothing but itself.
#[derive(Clone, Copy)]
enum Input<'a> {
    Own,
    Trace(&'a TraceInput),
    Program(&'a ProgramInput),
}

impl Cell {
    /// The workload `heaplab run` is given: `trace-replay` for a trace cell, `program` for a
    /// program cell, else the cell's own.
    pub fn heaplab_workload(&self) -> &str {
        if self.trace.is_some() {
            TRACE_REPLAY
        } else if self.program.is_some() {
            PROGRAM
        } else {
            &self.workload
        }
    }

    /// The strategy `heaplab run` is given: a swept cell's without its `[KEY=VALUE]`.
    pub fn heaplab_strategy(&self) -> &str {
        split_swept(&self.strategy).map_or(&self.strategy, |(base, _, _)| base)
    }

    /// The name of this cell's files: `series/<id>.csv`, `failures/<id>-rep<k>.stderr`.
    pub fn id(&self) -> String {
        cell_id(&self.strategy, &self.workload, self.size, self.threads)
    }

    /// A short description for progress lines.
    pub fn describe(&self) -> String {
        if self.threaded {
            format!("{} {} size={} threads={}", self.strategy, self.workload, self.size, self.threads)
        } else {
            format!("{} {} size={}", self.strategy, self.workload, self.size)
        }
    }
}

pub use crate::layout::cell_id;

/// What the command line selects.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Shell-style globs over strategy names; none means every strategy.
    pub strategy_globs: Vec<String>,
    /// Shell-style globs over workload names; none means every workload.
    pub workload_globs: Vec<String>,
    /// Sizes for every selected workload, instead of the workloads' own.
    pub sizes: Option<Vec<u64>>,
    /// Thread counts for threaded workloads, instead of the default.
    pub threads: Option<Vec<u32>>,
    /// Quick sizes and quick thread counts.
    pub quick: bool,
    /// Cores of this machine: default threads are `1..=cores`.
    pub cores: u32,
    /// Traced programs: each adds a `trace-replay-<program>` workload on every allocator strategy
    /// (size 1 unless `sizes` is given).
    pub traces: Vec<TraceInput>,
    /// Parameter sweeps: each value adds a cell beside every cell of a strategy it applies to.
    pub settings: Vec<SettingSweep>,
}

/// The cells of a sweep, and the selected strategies that cannot run here.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Every cell, in the planned order.
    pub cells: Vec<Cell>,
    /// Selected strategies that are unavailable here, with the reason.
    pub unavailable: Vec<(String, String)>,
}

/// The names among `names` that any of `globs` matches, in `names`' order.
///
/// No globs selects every name. A glob that matches nothing is an error that
/// lists the valid names, so a typo never silently shrinks a sweep.
pub fn select<'a>(names: &[&'a str], globs: &[String], what: &str) -> anyhow::Result<Vec<&'a str>> {
    if globs.is_empty() {
        return Ok(names.to_vec());
    }
    let mut selected = vec![false; names.len()];
    for glob in globs {
        let matcher = Glob::new(glob)
            .with_context(|| format!("--{what} {glob:?} is not a valid glob"))?
            .compile_matcher();
        let mut matched_any = false;
        for (index, name) in names.iter().enumerate() {
            if matcher.is_match(name) {
                selected[index] = true;
                matched_any = true;
            }
        }
        if !matched_any {
            bail!("--{what} {glob:?} matches no {what}; the {what}s are: {}", names.join(", "));
        }
    }
    Ok(names.iter().zip(selected).filter(|(_, keep)| *keep).map(|(name, _)| *name).collect())
}

/// Plans the cells of a sweep over `catalog`.
///
/// With traces, `trace-replay` stands in the workload list as one
/// `trace-replay-<program>` workload per trace, in the traces' order (a
/// `--workload trace-replay` glob selects them all); without, it plans
/// nothing unless sizes are given, as its size lists are empty.
pub fn plan(catalog: &Catalog, selection: &Selection) -> anyhow::Result<Plan> {
    let strategy_names: Vec<&str> = catalog.strategies.iter().map(|s| s.name.as_str()).collect();
    let mut chosen_strategies = select(&strategy_names, &selection.strategy_globs, "strategy")?;
    if selection.quick && selection.strategy_globs.is_empty() {
        // The smoke sweep runs today's default release; the other CPython versions
        // (`cycle@3.13+pymalloc`, `incremental`, …) join a full sweep, or a quick one that
        // names them.
        chosen_strategies.retain(|name| catalog.strategy(name).is_none_or(|s| s.default_release));
    } else if selection.strategy_globs.is_empty() {
        // A full sweep runs the default matrix (`heaplab list --json`'s `default_sweep`); a
        // glob names any other strategy.
        chosen_strategies.retain(|name| catalog.strategy(name).is_none_or(|s| s.default_sweep));
    }

    // The workloads as the sweep names them: each trace replaces the plain trace-replay.
    let trace_info = catalog.workloads.iter().find(|w| w.name == TRACE_REPLAY);
    if !selection.traces.is_empty() && trace_info.is_none() {
        bail!("this heaplab has no {TRACE_REPLAY} workload to replay traces with");
    }
    let programs: Vec<&TraceInput> = selection.traces.iter().filter(|trace| trace.spec.is_some()).collect();
    let mut planned: Vec<(String, &WorkloadInfo, Input)> = Vec::new();
    for workload in &catalog.workloads {
        if workload.name == TRACE_REPLAY && !selection.traces.is_empty() {
            for trace in &selection.traces {
                planned.push((trace_workload(&trace.program), workload, Input::Trace(trace)));
            }
        } else if workload.name == PROGRAM {
            // Nothing to run without a program: planned only from the traces' specs.
            for trace in &programs {
                let spec = trace.spec.as_ref().expect("filtered");
                planned.push((program_workload(&trace.program), workload, Input::Program(spec)));
            }
        } else {
            planned.push((workload.name.clone(), workload, Input::Own));
        }
    }
    let workload_names: Vec<&str> = planned.iter().map(|(name, _, _)| name.as_str()).collect();
    let workload_globs: Vec<String> = selection
        .workload_globs
        .iter()
        .map(|glob| {
            if glob == TRACE_REPLAY && !selection.traces.is_empty() {
                format!("{TRACE_REPLAY}-*")
            } else if glob == PROGRAM && !programs.is_empty() {
                format!("{PROGRAM}-*")
            } else {
                glob.clone()
            }
        })
        .collect();
    let chosen_workloads = select(&workload_names, &workload_globs, "workload")?;

    let strategies: Vec<&StrategyInfo> =
        chosen_strategies.iter().filter_map(|name| catalog.strategy(name)).collect();
    let unavailable = strategies
        .iter()
        .filter(|strategy| !strategy.available)
        .map(|strategy| {
            let reason = strategy.reason.clone().unwrap_or_else(|| "no reason given".to_owned());
            (strategy.name.clone(), reason)
        })
        .collect();

    let mut cells = Vec::new();
    for (name, workload, input) in
        planned.iter().filter(|(name, _, _)| chosen_workloads.contains(&name.as_str()))
    {
        let runnable: Vec<&&StrategyInfo> = strategies
            .iter()
            .filter(|s| s.available && workload.runs_on_kind(s.kind))
            .filter(|s| match input {
                // A program's interpreter is one release's (its virtual environment's).
                Input::Program(spec) => real_release(&s.name, &catalog.default_version) == spec.release,
                _ => true,
            })
            .collect();
        let sizes = match (&selection.sizes, input) {
            (_, Input::Program(_)) => vec![1],
            (None, Input::Trace(_)) => vec![1],
            _ => sizes_of(workload, selection),
        };
        for (size_index, size) in sizes.into_iter().enumerate() {
            for threads in threads_of(workload, selection) {
                for strategy in &runnable {
                    if strategy.kind == StrategyKind::Real
                        && matches!(input, Input::Own)
                        && selection.sizes.is_none()
                        && !selection.quick
                        && size_index >= REAL_DEFAULT_SIZES
                    {
                        continue;
                    }
                    let first = cells.len();
                    cells.push(Cell {
                        strategy: strategy.name.clone(),
                        collector: strategy.collector.clone(),
                        allocator: strategy.allocator.clone(),
                        workload: name.clone(),
                        size,
                        threads,
                        threaded: workload.threaded,
                        trace: match input {
                            Input::Trace(trace) => Some(trace.path.clone()),
                            _ => None,
                        },
                        program: match input {
                            Input::Program(spec) => Some(spec.path.clone()),
                            _ => None,
                        },
                        settings: Vec::new(),
                    });
                    // The parameter sweeps' cells beside the strategy's own.
                    for sweep in &selection.settings {
                        if !sweep.applies_to(&strategy.collector, &strategy.allocator) {
                            continue;
                        }
                        for value in &sweep.values {
                            let setting = format!("{}={value}", sweep.key);
                            let mut swept = cells[first].clone();
                            swept.strategy = swept_strategy(&strategy.name, &setting);
                            swept.settings = vec![setting];
                            cells.push(swept);
                        }
                    }
                }
            }
        }
    }
    if cells.is_empty() {
        bail!(
            "the selection plans no run: heap workloads run on collector+allocator strategies and \
             allocator workloads on allocators alone, and only available strategies run \
             (strategies selected: {}; workloads selected: {})",
            chosen_strategies.join(", "),
            chosen_workloads.join(", ")
        );
    }
    Ok(Plan { cells, unavailable })
}

/// How many of a workload's default sizes its Python twin runs in a full sweep: the first
/// two. A twin confirms the model rather than extending its curves, and it is 5 to 25 times
/// slower than the model (binary-trees at depth 18: `python@3.9+pymalloc` 65 s,
/// `cycle@3.13+pymalloc` 14.5 s; churn at 1.25 million, the third size, where the twin draws
/// heaplab's random numbers in Python: `python@3.8+pymalloc` 122 s, `cycle+pymalloc` 5.5 s),
/// so from the third size on, which doubles the second, nine real strategies at six runs each
/// would take most of the sweep. `--sizes` runs it at any size.
pub const REAL_DEFAULT_SIZES: usize = 2;

fn sizes_of(workload: &WorkloadInfo, selection: &Selection) -> Vec<u64> {
    match &selection.sizes {
        Some(sizes) => sizes.clone(),
        None if selection.quick => workload.quick_sizes.clone(),
        None => workload.default_sizes.clone(),
    }
}

fn threads_of(workload: &WorkloadInfo, selection: &Selection) -> Vec<u32> {
    if !workload.threaded {
        return vec![1];
    }
    match &selection.threads {
        Some(threads) => threads.clone(),
        None if selection.quick => vec![1, 2],
        None => (1..=selection.cores.max(1)).collect(),
    }
}

/// The `I`-th of `N` slices of a sweep (`I` counted from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, from 1.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Shard> {
        let usage = || format!("--shard {text:?} is not a shard: write I/N with 1 <= I <= N, e.g. 2/4");
        let (index, count) = text.split_once('/').with_context(usage)?;
        let index: usize = index.trim().parse().with_context(usage)?;
        let count: usize = count.trim().parse().with_context(usage)?;
        if index == 0 || count == 0 || index > count {
            bail!(usage());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.index, self.count)
    }
}

/// The cells of `shard`. A shard takes whole *groups*: every cell of one workload at one size
/// (each strategy and thread count), because the report compares strategies within a group
/// (ratios to `cycle+pymalloc`, verdicts) and shards may run on different machines; a group
/// split over two machines would compare their CPUs, not the strategies. The groups, in the
/// planned order, are dealt out as cards: the `k`-th (from 0) to shard `k mod N + 1`, so that
/// each workload's sizes, small to large, spread over the shards. The deal depends on the plan
/// alone, so every shard of one sweep, on whatever machine, agrees on it.
pub fn shard_cells(cells: &[Cell], shard: Shard) -> Vec<Cell> {
    let mut seen = HashSet::new();
    let groups: Vec<(&str, u64)> = cells
        .iter()
        .map(|cell| (cell.workload.as_str(), cell.size))
        .filter(|group| seen.insert(*group))
        .collect();
    let mine: HashSet<(&str, u64)> =
        groups.iter().skip(shard.index - 1).step_by(shard.count).copied().collect();
    cells.iter().filter(|cell| mine.contains(&(cell.workload.as_str(), cell.size))).cloned().collect()
}

/// One run of a sweep: a cell and a repetition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The cell.
    pub cell: Cell,
    /// Repetition index, from 0.
    pub rep: u32,
}

impl Run {
    /// The key that identifies this run in `runs.csv`.
    pub fn key(&self) -> RunKey {
        RunKey {
            strategy: self.cell.strategy.clone(),
            workload: self.cell.workload.clone(),
            size: self.cell.size,
            threads: self.cell.threads,
            rep: self.rep,
        }
    }
}

/// Every run of `cells` repeated `repeat` times, rep-major: all cells once, then all again.
pub fn interleave(cells: &[Cell], repeat: u32) -> Vec<Run> {
    (0..repeat).flat_map(|rep| cells.iter().map(move |cell| Run { cell: cell.clone(), rep })).collect()
}

/// What identifies a run across an interrupted and a resumed sweep.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunKey {
    /// The strategy name.
    pub strategy: String,
    /// The workload name.
    pub workload: String,
    /// The size.
    pub size: u64,
    /// The thread count.
    pub threads: u32,
    /// The repetition.
    pub rep: u32,
}

impl RunKey {
    /// The key of a row of `runs.csv`.
    pub fn of_record(record: &Record) -> RunKey {
        RunKey {
            strategy: record.strategy.clone(),
            workload: record.workload.clone(),
            size: record.size,
            threads: record.threads,
            rep: record.rep,
        }
    }
}

/// `runs` less those whose key is in `done`, in the same order.
pub fn without_done(runs: Vec<Run>, done: &HashSet<RunKey>) -> Vec<Run> {
    runs.into_iter().filter(|run| !done.contains(&run.key())).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::bench::catalog::tests::sample;

    fn names(cells: &[Cell]) -> Vec<String> {
        cells
            .iter()
            .map(|cell| format!("{}/{}/{}/{}", cell.strategy, cell.workload, cell.size, cell.threads))
            .collect()
    }

    fn globs(list: &[&str]) -> Vec<String> {
        list.iter().map(|glob| glob.to_string()).collect()
    }

    fn check_select(globs_given: &[&str], expected: &[&str]) {
        let all = ["binary-trees", "churn", "boxed-sum", "array-sum", "larson"];
        let selected = select(&all, &globs(globs_given), "workload").unwrap();
        assert_eq!(selected, expected, "globs {globs_given:?}");
    }

    #[test]
    fn globs_select_names_in_catalog_order() {
        check_select(&[], &["binary-trees", "churn", "boxed-sum", "array-sum", "larson"]);
        check_select(&["churn"], &["churn"]);
        check_select(&["*-sum"], &["boxed-sum", "array-sum"]);
        check_select(&["larson", "*-sum"], &["boxed-sum", "array-sum", "larson"]);
        check_select(&["churn", "ch*"], &["churn"]);
        check_select(&["b*"], &["binary-trees", "boxed-sum"]);
        check_select(&["?????"], &["churn"]);
        check_select(&["*"], &["binary-trees", "churn", "boxed-sum", "array-sum", "larson"]);
    }

    #[test]
    fn a_glob_matching_nothing_names_the_valid_names() {
        let error = select(&["churn", "larson"], &globs(&["churm"]), "workload").unwrap_err().to_string();
        assert!(error.contains("\"churm\""), "{error}");
        assert!(error.contains("churn, larson"), "{error}");
        let error = select(&["churn"], &globs(&["churn", "x*"]), "strategy").unwrap_err().to_string();
        assert!(error.contains("matches no strategy"), "{error}");
    }

    #[test]
    fn an_invalid_glob_is_an_error() {
        assert!(select(&["churn"], &globs(&["[churn"]), "workload").is_err());
    }

    #[test]
    fn quick_plan_runs_each_workload_on_its_kind_of_strategy() {
        let selection = Selection { quick: true, cores: 4, ..Selection::default() };
        let plan = plan(&sample(), &selection).unwrap();
        assert_eq!(
            names(&plan.cells),
            [
                "refcount+pymalloc/binary-trees/4/1",
                "cycle+pymalloc/binary-trees/4/1",
                "cycle+mimalloc/binary-trees/4/1",
                "refcount+pymalloc/binary-trees/6/1",
                "cycle+pymalloc/binary-trees/6/1",
                "cycle+mimalloc/binary-trees/6/1",
                "refcount+pymalloc/boxed-sum/1000/1",
                "cycle+pymalloc/boxed-sum/1000/1",
                "cycle+mimalloc/boxed-sum/1000/1",
                "refcount+pymalloc/array-sum/1000/1",
                "cycle+pymalloc/array-sum/1000/1",
                "cycle+mimalloc/array-sum/1000/1",
                "pymalloc/larson/100/1",
                "mimalloc/larson/100/1",
                "pymalloc/larson/100/2",
                "mimalloc/larson/100/2",
            ]
        );
        let unavailable: Vec<&str> = plan.unavailable.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(unavailable, ["cycle+cpython", "cpython"]);
    }

    #[test]
    fn real_interpreters_run_only_the_workloads_with_a_twin_and_only_when_named_in_quick() {
        let mut catalog = sample();
        let real = |name: &str, allocator: &str| StrategyInfo {
            name: name.to_owned(),
            kind: crate::bench::catalog::StrategyKind::Real,
            collector: "python".to_owned(),
            allocator: allocator.to_owned(),
            available: true,
            reason: None,
            default_release: false,
            default_sweep: name.contains("@3.11+"),
        };
        catalog.strategies.push(real("python@3.11+pymalloc", "pymalloc"));
        catalog.strategies.push(real("python@3.11+jemalloc", "jemalloc"));
        catalog.strategies.push(real("python@3.9+jemalloc", "jemalloc"));
        catalog.workloads[0].twin = Some("binary_trees.py".to_owned());
        let selection = Selection { cores: 2, strategy_globs: globs(&["python@*"]), ..Selection::default() };
        assert_eq!(
            names(&plan(&catalog, &selection).unwrap().cells),
            [
                "python@3.11+pymalloc/binary-trees/14/1",
                "python@3.11+jemalloc/binary-trees/14/1",
                "python@3.9+jemalloc/binary-trees/14/1",
                "python@3.11+pymalloc/binary-trees/16/1",
                "python@3.11+jemalloc/binary-trees/16/1",
                "python@3.9+jemalloc/binary-trees/16/1",
            ]
        );
        let full = Selection { cores: 2, workload_globs: globs(&["binary-trees"]), ..Selection::default() };
        let full_strategies: Vec<String> =
            plan(&catalog, &full).unwrap().cells.into_iter().map(|cell| cell.strategy).collect();
        assert!(full_strategies.contains(&"python@3.11+jemalloc".to_owned()), "{full_strategies:?}");
        assert!(!full_strategies.contains(&"python@3.9+jemalloc".to_owned()), "outside the default matrix");
        // A full sweep runs the twins at the first REAL_DEFAULT_SIZES default sizes, the model at all.
        catalog.workloads[0].default_sizes = vec![8, 10, 12, 14, 16];
        let sizes_of = |selection: &Selection, strategy: &str| -> Vec<u64> {
            let cells = plan(&catalog, selection).unwrap().cells;
            cells.into_iter().filter(|cell| cell.strategy == strategy).map(|cell| cell.size).collect()
        };
        assert_eq!(sizes_of(&full, "python@3.11+pymalloc"), [8, 10]);
        assert_eq!(sizes_of(&full, "cycle+pymalloc"), [8, 10, 12, 14, 16]);
        let named_sizes = Selection { sizes: Some(vec![12, 16]), ..full.clone() };
        assert_eq!(
            sizes_of(&named_sizes, "python@3.11+pymalloc"),
            [12, 16],
            "--sizes runs a twin at any size"
        );
        let quick = Selection { quick: true, cores: 2, ..Selection::default() };
        assert!(
            plan(&catalog, &quick).unwrap().cells.iter().all(|cell| cell.collector != "python"),
            "--quick leaves the real interpreters out unless a glob names them"
        );
    }

    #[test]
    fn default_plan_uses_default_sizes_and_threads_up_to_the_cores() {
        let selection = Selection { cores: 3, workload_globs: globs(&["larson"]), ..Selection::default() };
        let plan = plan(&sample(), &selection).unwrap();
        assert_eq!(
            names(&plan.cells),
            [
                "pymalloc/larson/10000/1",
                "mimalloc/larson/10000/1",
                "pymalloc/larson/10000/2",
                "mimalloc/larson/10000/2",
                "pymalloc/larson/10000/3",
                "mimalloc/larson/10000/3",
            ]
        );
    }

    #[test]
    fn sizes_and_threads_override_every_selected_workload() {
        let selection = Selection {
            strategy_globs: globs(&["cycle+pymalloc", "pymalloc"]),
            workload_globs: globs(&["binary-trees", "larson"]),
            sizes: Some(vec![3, 5]),
            threads: Some(vec![4]),
            cores: 2,
            ..Selection::default()
        };
        let plan = plan(&sample(), &selection).unwrap();
        assert_eq!(
            names(&plan.cells),
            [
                "cycle+pymalloc/binary-trees/3/1",
                "cycle+pymalloc/binary-trees/5/1",
                "pymalloc/larson/3/4",
                "pymalloc/larson/5/4",
            ]
        );
    }

    #[test]
    fn an_unavailable_strategy_is_reported_and_not_run() {
        let selection = Selection {
            strategy_globs: globs(&["*cpython", "cycle+pymalloc"]),
            quick: true,
            ..Selection::default()
        };
        let plan = plan(&sample(), &selection).unwrap();
        assert!(plan.cells.iter().all(|cell| cell.strategy == "cycle+pymalloc"));
        assert_eq!(
            plan.unavailable,
            [
                ("cycle+cpython".to_owned(), "no libpython found".to_owned()),
                ("cpython".to_owned(), "no libpython found".to_owned())
            ]
        );
    }

    #[test]
    fn a_selection_that_plans_nothing_is_an_error() {
        let selection = Selection {
            strategy_globs: globs(&["pymalloc"]),
            workload_globs: globs(&["binary-trees"]),
            quick: true,
            ..Selection::default()
        };
        assert!(plan(&sample(), &selection).is_err());
        let selection =
            Selection { strategy_globs: globs(&["cpython"]), quick: true, ..Selection::default() };
        assert!(plan(&sample(), &selection).is_err());
    }

    fn traces(programs: &[&str]) -> Vec<TraceInput> {
        programs
            .iter()
            .map(|program| TraceInput {
                program: (*program).to_owned(),
                path: PathBuf::from(format!("/t/{program}.trace")),
                spec: None,
            })
            .collect()
    }

    #[test]
    fn traces_add_a_replay_of_each_program_on_every_allocator() {
        let selection = Selection {
            quick: true,
            cores: 2,
            traces: traces(&["json_loads", "raytrace"]),
            ..Selection::default()
        };
        let planned = plan(&sample(), &selection).unwrap();
        let trace_cells: Vec<&Cell> = planned.cells.iter().filter(|cell| cell.trace.is_some()).collect();
        assert_eq!(
            names(&trace_cells.iter().map(|cell| (*cell).clone()).collect::<Vec<_>>()),
            [
                "pymalloc/trace-replay-json_loads/1/1",
                "mimalloc/trace-replay-json_loads/1/1",
                "pymalloc/trace-replay-raytrace/1/1",
                "mimalloc/trace-replay-raytrace/1/1",
            ]
        );
        assert_eq!(trace_cells[2].trace.as_deref(), Some(std::path::Path::new("/t/raytrace.trace")));
        assert_eq!(trace_cells[0].heaplab_workload(), "trace-replay");
        assert_eq!(trace_cells[0].id(), "trace-replay-json_loads__pymalloc__1__t1");
        // The rest of the quick sweep is what it was without traces.
        let without = plan(&sample(), &Selection { quick: true, cores: 2, ..Selection::default() }).unwrap();
        assert_eq!(planned.cells.len(), without.cells.len() + 4);
        assert!(without.cells.iter().all(|cell| cell.trace.is_none() && cell.workload != "trace-replay"));
    }

    #[test]
    fn trace_cells_are_selected_by_program_and_take_the_sizes_given() {
        let selection = Selection {
            workload_globs: globs(&["trace-replay-ray*"]),
            strategy_globs: globs(&["pymalloc"]),
            sizes: Some(vec![2]),
            traces: traces(&["json_loads", "raytrace"]),
            ..Selection::default()
        };
        assert_eq!(
            names(&plan(&sample(), &selection).unwrap().cells),
            ["pymalloc/trace-replay-raytrace/2/1"]
        );
        let selection = Selection {
            workload_globs: globs(&["trace-replay"]),
            strategy_globs: globs(&["mimalloc"]),
            traces: traces(&["json_loads", "raytrace"]),
            ..Selection::default()
        };
        assert_eq!(
            names(&plan(&sample(), &selection).unwrap().cells),
            ["mimalloc/trace-replay-json_loads/1/1", "mimalloc/trace-replay-raytrace/1/1"]
        );
        assert_eq!(traced_program("trace-replay-json_loads"), Some(("json_loads", false)));
        assert_eq!(traced_program("trace-replay"), None);
        assert_eq!(traced_program("churn"), None);
    }

    #[test]
    fn a_trace_with_a_program_spec_also_runs_the_program_on_the_real_strategies_of_its_release() {
        let mut catalog = sample();
        let real = |name: &str, allocator: &str| StrategyInfo {
            name: name.to_owned(),
            kind: crate::bench::catalog::StrategyKind::Real,
            collector: "python".to_owned(),
            allocator: allocator.to_owned(),
            available: true,
            reason: None,
            default_release: false,
            default_sweep: true,
        };
        for (name, allocator) in [
            ("python@3.11+pymalloc", "pymalloc"),
            ("python+jemalloc", "jemalloc"),
            ("python@3.13+pymalloc", "pymalloc"),
        ] {
            catalog.strategies.push(real(name, allocator));
        }
        catalog.default_version = "3.11".to_owned();
        let mut program = catalog.workloads[0].clone();
        (program.name, program.runs_on, program.twin) =
            (PROGRAM.to_owned(), crate::bench::catalog::StrategyKind::Real, None);
        (program.quick_sizes, program.default_sizes) = (vec![], vec![]);
        catalog.workloads.push(program);
        let mut inputs = traces(&["json_loads", "raytrace"]);
        inputs[0].spec = Some(ProgramInput {
            path: PathBuf::from("/t/json_loads.program.json"),
            release: "3.11".to_owned(),
        });
        let selection = Selection {
            cores: 2,
            workload_globs: globs(&["program", "trace-replay"]),
            strategy_globs: globs(&["python*", "pymalloc"]),
            sizes: Some(vec![3]),
            traces: inputs.clone(),
            ..Selection::default()
        };
        let planned = plan(&catalog, &selection).unwrap();
        assert_eq!(
            names(&planned.cells),
            [
                "pymalloc/trace-replay-json_loads/3/1",
                "pymalloc/trace-replay-raytrace/3/1",
                // Only 3.11's (`python+…` is 3.11), size 1 whatever --sizes says; raytrace has no spec.
                "python@3.11+pymalloc/program-json_loads/1/1",
                "python+jemalloc/program-json_loads/1/1",
            ]
        );
        let cell = &planned.cells[2];
        assert_eq!(cell.heaplab_workload(), PROGRAM);
        assert_eq!(cell.program.as_deref(), Some(std::path::Path::new("/t/json_loads.program.json")));
        assert!(cell.trace.is_none() && planned.cells[0].program.is_none());
        assert_eq!(traced_program(&cell.workload), Some(("json_loads", true)));
        assert_eq!(traced_program(&planned.cells[1].workload), Some(("raytrace", false)));
        assert_eq!(traced_program("program-"), None);
        // Without a spec, the program workload plans nothing, even with sizes given.
        let without =
            Selection { traces: traces(&["json_loads"]), workload_globs: globs(&["*"]), ..selection };
        assert!(plan(&catalog, &without).unwrap().cells.iter().all(|cell| cell.program.is_none()));
    }

    #[test]
    fn a_setting_sweep_adds_a_named_cell_per_value_beside_each_cell_it_applies_to() {
        let sweep: SettingSweep = "marksweep.growth=1.5, 3".parse().unwrap();
        assert_eq!(sweep.values, ["1.5", "3"]);
        for bad in ["marksweep.growth", "growth=2", "marksweep.growth="] {
            assert!(bad.parse::<SettingSweep>().is_err(), "{bad}");
        }
        let mut catalog = sample();
        let mut marksweep = catalog.strategies[0].clone();
        (marksweep.name, marksweep.collector) = ("marksweep+pymalloc".to_owned(), "marksweep".to_owned());
        catalog.strategies.push(marksweep);
        let selection = Selection {
            strategy_globs: globs(&["*+pymalloc"]),
            workload_globs: globs(&["binary-trees"]),
            sizes: Some(vec![10]),
            settings: vec![sweep],
            ..Selection::default()
        };
        let cells = plan(&catalog, &selection).unwrap().cells;
        let names: Vec<&str> = cells.iter().map(|cell| cell.strategy.as_str()).collect();
        let collectors: Vec<&str> = cells.iter().map(|cell| cell.collector.as_str()).collect();
        assert_eq!(names.len(), collectors.len());
        let swept: Vec<&Cell> = cells.iter().filter(|cell| !cell.settings.is_empty()).collect();
        assert_eq!(
            swept.iter().map(|cell| cell.strategy.as_str()).collect::<Vec<_>>(),
            ["marksweep+pymalloc[marksweep.growth=1.5]", "marksweep+pymalloc[marksweep.growth=3]"],
            "only mark-sweep's cells: {names:?}"
        );
        assert_eq!(swept[1].settings, ["marksweep.growth=3"]);
        assert_eq!(swept[1].heaplab_strategy(), "marksweep+pymalloc");
        assert_ne!(swept[0].id(), swept[1].id(), "each value has its own files");
        let plain = cells.iter().position(|cell| cell.strategy == "marksweep+pymalloc").unwrap();
        assert_eq!(cells[plain + 1].strategy, swept[0].strategy, "beside the plain cell");
    }

    fn check_shard(text: &str, expected: Option<(usize, usize)>) {
        let parsed = text.parse::<Shard>().ok().map(|shard| (shard.index, shard.count));
        assert_eq!(parsed, expected, "parsing {text:?}");
    }

    #[test]
    fn shard_parsing() {
        check_shard("1/1", Some((1, 1)));
        check_shard("2/4", Some((2, 4)));
        check_shard("4/4", Some((4, 4)));
        check_shard("0/4", None);
        check_shard("5/4", None);
        check_shard("1/0", None);
        check_shard("1", None);
        check_shard("a/b", None);
        check_shard("-1/2", None);
        check_shard("", None);
    }

    fn many_cells(count: usize) -> Vec<Cell> {
        (0..count)
            .map(|index| Cell {
                strategy: format!("s{}", index % 3),
                collector: String::new(),
                allocator: String::new(),
                workload: format!("w{}", index / 3),
                size: index as u64,
                threads: 1,
                threaded: false,
                trace: None,
                program: None,
                settings: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn every_cell_falls_in_exactly_one_shard() {
        for cell_count in [0, 1, 5, 12, 17] {
            let cells = many_cells(cell_count);
            for shard_count in 1..=6 {
                let mut seen: HashMap<Cell, usize> = HashMap::new();
                for index in 1..=shard_count {
                    for cell in shard_cells(&cells, Shard { index, count: shard_count }) {
                        *seen.entry(cell).or_default() += 1;
                    }
                }
                assert_eq!(seen.len(), cells.len(), "{cell_count} cells in {shard_count} shards");
                assert!(seen.values().all(|&times| times == 1));
            }
        }
    }

    /// `groups` (workload, size) groups of `strategies` cells each, in plan order.
    fn grouped_cells(groups: usize, strategies: usize) -> Vec<Cell> {
        (0..groups * strategies)
            .map(|index| Cell {
                strategy: format!("s{}", index % strategies),
                workload: format!("w{}", index / strategies / 2),
                size: (index / strategies % 2) as u64,
                ..many_cells(1).remove(0)
            })
            .collect()
    }

    #[test]
    fn a_shard_takes_whole_groups_dealt_from_its_index() {
        let cells = grouped_cells(7, 3);
        let groups = |shard| {
            let mut seen: Vec<(String, u64)> = Vec::new();
            for cell in shard_cells(&cells, shard) {
                if !seen.contains(&(cell.workload.clone(), cell.size)) {
                    seen.push((cell.workload.clone(), cell.size));
                }
            }
            seen.iter().map(|(workload, size)| format!("{workload}/{size}")).collect::<Vec<_>>()
        };
        assert_eq!(groups(Shard { index: 1, count: 3 }), ["w0/0", "w1/1", "w3/0"]);
        assert_eq!(groups(Shard { index: 2, count: 3 }), ["w0/1", "w2/0"]);
        assert_eq!(groups(Shard { index: 3, count: 3 }), ["w1/0", "w2/1"]);
        assert_eq!(groups(Shard { index: 1, count: 1 }).len(), 7);
        for index in 1..=3 {
            let shard = shard_cells(&cells, Shard { index, count: 3 });
            assert_eq!(shard.len() % 3, 0, "every strategy of a group is in its shard");
            let in_plan_order = cells.iter().filter(|cell| shard.contains(cell)).cloned().collect::<Vec<_>>();
            assert_eq!(shard, in_plan_order, "a shard keeps the planned order");
        }
    }

    #[test]
    fn shard_i_of_n_is_shards_i_and_i_plus_n_of_twice_n() {
        // results/sweep-full.sh merges twelfths with twenty-fourths on this.
        let cells = grouped_cells(53, 2);
        for count in [1, 3, 12] {
            for index in 1..=count {
                let whole = shard_cells(&cells, Shard { index, count });
                let low = shard_cells(&cells, Shard { index, count: 2 * count });
                let high = shard_cells(&cells, Shard { index: index + count, count: 2 * count });
                let mut halves: Vec<Cell> = low.into_iter().chain(high).collect();
                halves.sort_by_key(|cell| cells.iter().position(|c| c == cell));
                assert_eq!(whole, halves, "shard {index}/{count}");
            }
        }
    }

    #[test]
    fn repetitions_are_rep_major() {
        let cells = many_cells(3);
        let order: Vec<(u64, u32)> =
            interleave(&cells, 2).iter().map(|run| (run.cell.size, run.rep)).collect();
        assert_eq!(order, [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn the_same_cell_never_runs_twice_in_a_row() {
        for cell_count in 2..6 {
            let runs = interleave(&many_cells(cell_count), 4);
            assert_eq!(runs.len(), cell_count * 4);
            assert!(runs.windows(2).all(|pair| pair[0].cell != pair[1].cell));
        }
    }

    #[test]
    fn resume_skips_exactly_the_done_runs() {
        let runs = interleave(&many_cells(3), 2);
        let done: HashSet<RunKey> = [runs[0].key(), runs[4].key()].into_iter().collect();
        let left: Vec<(u64, u32)> =
            without_done(runs, &done).iter().map(|run| (run.cell.size, run.rep)).collect();
        assert_eq!(left, [(1, 0), (2, 0), (0, 1), (2, 1)]);
    }
}
