//! The report's sections, assembled into a [`Document`]: environment,
//! method, findings, ratio tables, plots per workload, failures, files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use heaplab_core::Status;

use super::analysis::Figure;
use super::analysis::{
    ALLOCATOR_BASELINE, CPYTHON_BASELINE, Cell, CellKey, DRIFT_PEERS, FALLBACK_BASELINE, GeometricMeanRow,
    RatioRow, baseline_for, geometric_means, is_allocator_workload, ratio_rows, single_runs, strategy_order,
    workloads,
};
use super::answers::{self, Answer, Support};
use super::document::Document;
use super::figures::{BYTES_PER_ELEMENT_STEM, OVERVIEW_STEM, PlotSpec};
use super::findings::FindingGroup;
use super::format;
use super::large_data::{
    BANDWIDTH_PHASE, BANDWIDTH_WORKLOAD, ELEMENT_PAIRS, REDUCTION_PHASE, REDUCTION_WORKLOAD,
    bandwidth_by_size, element_table, pair_by_size,
};
use super::plots::LOG_SPAN;
use super::series::match_series_file;
use super::stats::{
    ALPHA, BOOTSTRAP_RESAMPLES, EXACT_LIMIT, UNSTABLE_THRESHOLD, format_p_value, smallest_possible_p_value,
};
use crate::results::ResultsDir;

/// The title of the report.
pub const TITLE: &str = "heaplab report";

/// Builds the whole report.
pub fn build_document(
    results: &ResultsDir,
    cells: &BTreeMap<CellKey, Cell<'_>>,
    plots: &[PlotSpec],
    findings: &[FindingGroup],
) -> Document {
    let mut document = Document::default();
    document.heading(1, TITLE);
    overview(&mut document, results, cells);
    let answers = answers::answers(cells);
    answers_section(&mut document, &answers);
    overview_figure(&mut document, plots);
    document.heading(2, "Findings");
    if findings.is_empty() {
        document.paragraph("The data holds no comparison to draw a finding from (a finding needs at least two strategies, or two variants of a workload, that ran successfully).");
    } else {
        if single_runs(cells) {
            document.paragraph("Every cell ran once (`--quick` or `--repeat 1`), so no difference below is tested against the noise; repeat the sweep with `--repeat 3` or more for that.");
        }
        for group in findings {
            document.heading(3, group.topic);
            document.list(group.sentences.clone());
            for detail in &group.details {
                document.paragraph(detail.caption.clone());
                document.table(detail.header.clone(), detail.rows.clone());
            }
        }
    }
    evidence_section(&mut document, &answers, plots);
    large_data(&mut document, results, cells, plots);
    super::traced::section(&mut document, results);
    super::rows::section(&mut document, cells);
    super::reality::section(&mut document, cells);
    ratio_tables(&mut document, cells);
    super::versions::section(&mut document, cells);
    super::settings::section(&mut document, cells, plots);
    plots_section(&mut document, cells, plots);
    failures(&mut document, results);
    super::calibration::section(&mut document, results.calibration.as_ref(), plots);
    measurement_quality(&mut document, results, cells);
    method(&mut document, cells);
    environment(&mut document, results);
    files(&mut document, &results.dir);
    document
}

fn overview(document: &mut Document, results: &ResultsDir, cells: &BTreeMap<CellKey, Cell<'_>>) {
    let n_failed = results.records.iter().filter(|r| r.status != Status::Ok).count();
    let strategies: BTreeSet<&str> = cells.keys().map(|k| k.strategy.as_str()).collect();
    document.paragraph(format!(
        "Drawn from `runs.csv` in this directory: {} runs of {} cells ({} workloads, {} strategies), {} of them failed. Every figure and sentence below is computed from those runs; `cargo xtask report DIR` redraws it all without running anything.",
        results.records.len(),
        cells.len(),
        workloads(cells).len(),
        strategies.len(),
        n_failed
    ));
    let check = super::checksums::check(&results.records);
    if !check.disagreements.is_empty() {
        document.paragraph(format!(
            "**Warning: strategies disagree on the checksum in {} of {} groups**, so some figures below compare different work; \"Measurement quality\" names them.",
            check.disagreements.len(),
            check.groups
        ));
    }
}

/// The "Answers" section: the supported answers, one sentence each, then those the data does not support.
fn answers_section(document: &mut Document, answers: &[Answer]) {
    document.heading(2, "Answers");
    let missing = answers::rules_without_data(answers);
    let omitted = if missing.is_empty() {
        String::new()
    } else {
        format!(" Omitted because their workloads did not run here: {}.", missing.join(", "))
    };
    let spread = format::percent(UNSTABLE_THRESHOLD);
    document.paragraph(format!(
        "What this run's data says to do with memory when crunching large data in Python. Each answer compares two cells of this run on one figure — the workload that follows a Python idiom against its counterpart, or allocators, or CPython versions — as the ratio of medians (below 1x: the idiom needs less) with its 95% bootstrap interval ({BOOTSTRAP_RESAMPLES} resamples) and the test's verdict. An answer is given only where the interval excludes 1, the test finds the difference significant and neither cell's runs spread more than {spread} in that figure; the others are listed after it as not supported by this run.{omitted}"
    ));
    let (supported, unsupported): (Vec<&Answer>, Vec<&Answer>) =
        answers.iter().partition(|a| a.support == Support::Supported);
    if supported.is_empty() {
        document.paragraph("No answer is supported by this run's data.");
    } else {
        document.list(supported.iter().map(|a| a.sentence()).collect());
    }
    if !unsupported.is_empty() {
        document.paragraph(format!("Not supported by this run ({}):", unsupported.len()));
        document.list(unsupported.iter().map(|a| a.unsupported_line()).collect());
    }
}

/// The overview heatmap, right after the answers.
fn overview_figure(document: &mut Document, plots: &[PlotSpec]) {
    if let Some(plot) = plots.iter().find(|p| p.stem == OVERVIEW_STEM) {
        document.heading(2, "Overview");
        document.figure(&plot.stem, plot.caption.clone());
    }
}

/// The median of a figure as the report writes it.
fn show_figure(figure: Figure, value: f64) -> String {
    match figure {
        Figure::WallNs => format::duration_ns(value),
        Figure::PeakRssBytes | Figure::EndRssBytes | Figure::PeakLiveBytes => format::bytes(value),
        _ => format::count(value),
    }
}

/// The evidence behind each answer: both cells, their repetitions, medians and spread, the ratio, and links to their plots.
fn evidence_section(document: &mut Document, answers: &[Answer], plots: &[PlotSpec]) {
    if answers.is_empty() {
        return;
    }
    document.folded_heading("Evidence for the answers");
    document.paragraph(format!(
        "For each answer (supported or not): the two cells compared, their successful runs, the median of the figure and the spread of wall time (MAD / median; over {} is **unstable**), then the ratio of medians with its 95% bootstrap interval and the test's verdict.",
        format::percent(UNSTABLE_THRESHOLD)
    ));
    for answer in answers {
        document.heading(3, answer.heading.clone());
        let figure = answer.rule.figure;
        let header = ["", "strategy", "workload", "size", "threads", "n", "median", "wall MAD / median"]
            .map(String::from)
            .to_vec();
        let mut rows = Vec::new();
        let mut push = |role: &str, key: &CellKey, n: usize, median: f64, spread: Option<f64>| {
            rows.push(vec![
                role.to_owned(),
                format!("`{}`", key.strategy),
                format!("`{}`", key.workload),
                key.size.to_string(),
                key.threads.to_string(),
                n.to_string(),
                show_figure(figure, median),
                spread.map(format::percent).unwrap_or_else(|| "–".into()),
            ]);
        };
        let e = &answer.evidence;
        push("idiom / challenger", &e.first, e.n.0, e.compared.first, e.spread.0);
        push("against", &e.second, e.n.1, e.compared.second, e.spread.1);
        if let Some((_, real, _)) = &answer.real {
            push("real CPython", &real.first, real.n.0, real.compared.first, real.spread.0);
            push("real CPython, against", &real.second, real.n.1, real.compared.second, real.spread.1);
        }
        document.table(header, rows);
        let mut links = Vec::new();
        for workload in [&e.first.workload, &e.second.workload] {
            for plot in plots.iter().filter(|p| {
                &p.workload == workload && (p.stem.ends_with("-throughput") || p.stem.ends_with("-memory"))
            }) {
                let link = format!("[{}](plots/{}.svg)", plot.stem, plot.stem);
                if !links.contains(&link) {
                    links.push(link);
                }
            }
        }
        let plots_note =
            if links.is_empty() { String::new() } else { format!(" Plots: {}.", links.join(", ")) };
        document.paragraph(format!(
            "{} of {}: {}{}; {}.{plots_note}",
            format::ratio(e.compared.ratio),
            answers::figure_phrase(figure),
            e.compared.verdict,
            e.compared.ci.map(|ci| format!(", 95% CI {}", format::interval(ci))).unwrap_or_default(),
            answer.support.reason()
        ));
    }
}

/// `env.json` flattened to `key: value` lines.
fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten_json(&name, value, out);
            }
        }
        serde_json::Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (index, item) in items.iter().enumerate() {
                flatten_json(&format!("{prefix}[{index}]"), item, out);
            }
        }
        serde_json::Value::String(text) => out.push(format!("{prefix}: `{}`", text.replace('`', "'"))),
        other => out.push(format!("{prefix}: `{other}`")),
    }
}

/// A string field of a JSON value at `path` (`a.b.c`), or `–`.
fn json_text(value: &serde_json::Value, path: &str) -> String {
    let found = path.split('.').try_fold(value, |v, key| v.get(key));
    match found {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(serde_json::Value::Null) | None => "–".into(),
        Some(other) => other.to_string(),
    }
}

/// The runs of each invocation id, from the `invocation` parameter of every row.
fn runs_by_invocation(results: &ResultsDir) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in &results.records {
        let id = heaplab_core::record::param(&record.params, "invocation").unwrap_or("").to_owned();
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

fn environment(document: &mut Document, results: &ResultsDir) {
    document.folded_heading("Environment");
    let counts = runs_by_invocation(results);
    if !results.envs.is_empty() {
        document.paragraph(format!(
            "Every `cargo xtask bench` invocation (each shard, each `--resume`) keeps its environment in `envs/<invocation>.json`, and every run carries its invocation's id in the `params` column of `runs.csv`. {} invocations:",
            results.envs.len()
        ));
        let machines: BTreeSet<String> =
            results.envs.iter().map(|(_, env)| crate::results::machine(env)).collect();
        if machines.len() > 1 {
            document.paragraph(format!(
                "These runs were measured on {} machines ({}). A shard of `cargo xtask bench --shard` holds whole groups — every strategy of one workload at one size — so every ratio, verdict and answer here compares runs of one machine; a curve over sizes may join points from several.",
                machines.len(),
                machines.iter().cloned().collect::<Vec<_>>().join("; ")
            ));
        }
        let header = [
            "invocation",
            "machine",
            "start",
            "took",
            "runs here",
            "command",
            "THP of the children",
            "kernel THP (enabled / defrag)",
            "overcommit",
            "CPU governor",
            "git commit",
        ]
        .map(String::from)
        .to_vec();
        let rows = results
            .envs
            .iter()
            .map(|(id, env)| {
                let commit = json_text(env, "git.commit");
                let short: String = commit.chars().take(10).collect();
                let dirty =
                    if env["git"]["dirty"] == serde_json::Value::Bool(true) { " (dirty)" } else { "" };
                let took = crate::results::invocation_duration(env).map_or_else(
                    || "(no end recorded)".to_owned(),
                    |took| {
                        humantime::format_duration(std::time::Duration::from_secs(took.as_secs())).to_string()
                    },
                );
                vec![
                    format!("`{id}`"),
                    crate::results::machine(env),
                    json_text(env, "start"),
                    took,
                    counts.get(id).copied().unwrap_or(0).to_string(),
                    format!("`{}`", json_text(env, "sweep.command_line").replace('`', "'")),
                    json_text(env, "sweep.thp"),
                    format!(
                        "{} / {}",
                        json_text(env, "kernel_memory.transparent_hugepage_enabled"),
                        json_text(env, "kernel_memory.transparent_hugepage_defrag")
                    ),
                    json_text(env, "kernel_memory.overcommit_memory"),
                    json_text(env, "kernel_memory.cpu_governor"),
                    format!("`{short}`{dirty}"),
                ]
            })
            .collect();
        document.table(header, rows);
    }
    let untied = counts.get("").copied().unwrap_or(0);
    if untied > 0 {
        document.paragraph(format!(
            "{untied} of the {} runs carry no invocation id (written before invocations were recorded), so which environment they ran in is not known beyond `env.json` below.",
            results.records.len()
        ));
    }
    match results.env.as_ref() {
        Some(env) => {
            let mut lines = Vec::new();
            flatten_json("", env, &mut lines);
            document.paragraph("As recorded in `env.json` by the latest invocation:");
            document.list(lines);
        }
        None => document
            .paragraph("No `env.json` was recorded with these runs, so the machine is not described here."),
    }
}

/// Why an unstable cell spread, from its own runs: where the slowest run's extra time went.
fn instability_cause(cell: &Cell<'_>, huge: &BTreeMap<CellKey, Vec<u64>>) -> String {
    let slowest = cell.ok.iter().max_by_key(|r| r.wall_ns.unwrap_or(0));
    let fastest = cell.ok.iter().min_by_key(|r| r.wall_ns.unwrap_or(u64::MAX));
    let (Some(slow), Some(fast)) = (slowest, fastest) else { return "–".into() };
    let get = |v: Option<u64>| v.unwrap_or(0) as f64;
    let extra_wall = get(slow.wall_ns) - get(fast.wall_ns);
    let extra_sys = get(slow.sys_ns) - get(fast.sys_ns);
    let extra_user = get(slow.user_ns) - get(fast.user_ns);
    let mut cause = if extra_wall <= 0.0 {
        "no run is slower than another".to_owned()
    } else if extra_sys >= 0.5 * extra_wall {
        format!(
            "kernel time: the slowest run spent {} more in the kernel, {} of its {} extra",
            format::duration_ns(extra_sys),
            format::percent(extra_sys / extra_wall),
            format::duration_ns(extra_wall)
        )
    } else if extra_user >= 0.5 * extra_wall {
        format!(
            "user time: the slowest run spent {} more in user code (CPU contention, frequency or cache), of {} extra",
            format::duration_ns(extra_user),
            format::duration_ns(extra_wall)
        )
    } else {
        format!(
            "waiting: neither user ({}) nor kernel time ({}) accounts for the slowest run's {} extra, so the process was off the CPU (a shared or busy machine)",
            format::duration_ns(extra_user),
            format::duration_ns(extra_sys),
            format::duration_ns(extra_wall)
        )
    };
    let (slow_faults, fast_faults) = (get(slow.minor_faults), get(fast.minor_faults));
    if fast_faults > 0.0 && (slow_faults / fast_faults > 1.5 || fast_faults / slow_faults.max(1.0) > 1.5) {
        cause.push_str(&format!(
            "; minor faults {} against {}",
            format::count(slow_faults),
            format::count(fast_faults)
        ));
    }
    if let Some(bytes) = huge.get(&cell.key).filter(|b| b.iter().any(|v| *v > 0)) {
        let most = bytes.iter().copied().max().unwrap_or(0) as f64;
        cause.push_str(&format!("; up to {} in transparent huge pages", format::bytes(most)));
    }
    cause
}

/// The "Measurement quality" section: the threshold, the share of stable cells, and each unstable cell with its likely cause.
fn measurement_quality(document: &mut Document, results: &ResultsDir, cells: &BTreeMap<CellKey, Cell<'_>>) {
    document.folded_heading("Measurement quality");
    let judged: Vec<&Cell<'_>> =
        super::analysis::ordered_cells(cells).into_iter().filter(|c| c.ok.len() >= 2).collect();
    let single = cells.values().filter(|c| c.ok.len() == 1).count();
    let unstable: Vec<&Cell<'_>> = judged.iter().copied().filter(|c| c.unstable()).collect();
    document.paragraph(format!(
        "A cell is **unstable** when the median absolute deviation of its wall times is more than {} of their median (MAD / median, pyperf's spirit); the min–max range over the median is shown beside it, and `summary.csv` has both for every cell. Wherever an unstable cell's wall times appear (ratio tables, findings, `cargo xtask compare`) they carry the mark **unstable**; a ratio of another figure (peak RSS, pauses) carries it where that figure spreads the same way over the cell's runs, whatever its wall time did.",
        format::percent(UNSTABLE_THRESHOLD)
    ));
    let check = super::checksums::check(&results.records);
    let mut sentences = check.sentences().into_iter();
    if let Some(first) = sentences.next() {
        document.paragraph(first);
    }
    if !check.disagreements.is_empty() {
        document.list(check.disagreements.iter().map(|d| format!("`{}`", d.line())).collect());
    }
    for sentence in sentences {
        document.paragraph(sentence);
    }
    if judged.is_empty() {
        document.paragraph("No cell has two successful runs, so no spread is measured; repeat the sweep with `--repeat 3` or `--precision 3%`.");
        return;
    }
    let stable = judged.len() - unstable.len();
    let single_note =
        if single > 0 { format!(" ({single} cells ran once and are not judged)") } else { String::new() };
    let runs: usize = cells.values().map(|c| c.ok.len()).sum();
    let steadied: usize = cells.values().map(|c| c.drift.iter().filter(|d| d.is_some()).count()).sum();
    let which = if steadied == runs {
        format!("All {runs} successful runs were steadied.")
    } else {
        format!(
            "{steadied} of the {runs} successful runs were steadied; the others (too few peers, or runs that name no invocation, whose round is unknown) stand as measured."
        )
    };
    let stable_as_measured = judged.iter().filter(|c| !c.unstable_as_measured()).count();
    document.paragraph(format!(
        "Wall times and throughputs are first steadied by their round's drift. A sweep runs every cell once a round, the strategies of a group (one workload at one size) one after another; a run's drift is the median, over at least {DRIFT_PEERS} other strategies of its group in the same round, of their wall time over their own median wall time, and the run's wall time is divided by it (its throughput multiplied). What the machine did to a whole group in one round (a busy neighbour, a clock that moved) thus counts in no cell's spread, while what it did to one strategy alone still does. {which} `runs.csv` keeps every run as measured. The figures that are not speeds (memory, collections, pauses) are never steadied."
    ));
    document.paragraph(format!(
        "{stable} of the {} cells with at least two successful runs are stable ({}){single_note}; by their wall times as measured, before steadying, {stable_as_measured} were ({}).",
        judged.len(),
        format::percent(stable as f64 / judged.len() as f64),
        format::percent(stable_as_measured as f64 / judged.len() as f64)
    ));
    if unstable.is_empty() {
        return;
    }
    let mut huge: BTreeMap<CellKey, Vec<u64>> = BTreeMap::new();
    for report in &results.reports {
        if let Some(bytes) = report.anon_huge_bytes {
            huge.entry(CellKey::of(&report.record)).or_default().push(bytes);
        }
    }
    document.paragraph("The unstable cells, each with where its slowest run's extra time went (its user and system time against the fastest run's), its median share of CPU time in the kernel, and its THP setting:");
    let header = [
        "cell",
        "n",
        "median wall",
        "MAD / median",
        "range / median",
        "sys share",
        "THP",
        "what the data says",
    ]
    .map(String::from)
    .to_vec();
    let rows = unstable
        .iter()
        .map(|cell| {
            let shares: Vec<f64> = cell
                .ok
                .iter()
                .filter_map(|r| {
                    let (user, sys) = (r.user_ns? as f64, r.sys_ns? as f64);
                    (user + sys > 0.0).then(|| sys / (user + sys))
                })
                .collect();
            let thp: BTreeSet<&str> =
                cell.ok.iter().filter_map(|r| heaplab_core::record::param(&r.params, "thp")).collect();
            vec![
                format!(
                    "`{}` `{}` size {}{}",
                    cell.key.strategy,
                    cell.key.workload,
                    cell.key.size,
                    if cell.key.threads > 1 {
                        format!(" ({} threads)", cell.key.threads)
                    } else {
                        String::new()
                    }
                ),
                cell.ok.len().to_string(),
                cell.median(Figure::WallNs).map(format::duration_ns).unwrap_or_else(|| "–".into()),
                cell.wall_relative_mad().map(format::percent).unwrap_or_else(|| "–".into()),
                cell.wall_relative_range().map(format::percent).unwrap_or_else(|| "–".into()),
                super::stats::median(&shares).map(format::percent).unwrap_or_else(|| "–".into()),
                if thp.is_empty() { "–".into() } else { thp.into_iter().collect::<Vec<_>>().join(", ") },
                instability_cause(cell, &huge),
            ]
        })
        .collect();
    document.table(header, rows);
}

fn method(document: &mut Document, cells: &BTreeMap<CellKey, Cell<'_>>) {
    document.heading(2, "Method");
    let repetitions: Vec<usize> = cells.values().map(|c| c.ok.len()).filter(|n| *n > 0).collect();
    let (fewest, most) =
        (repetitions.iter().min().copied().unwrap_or(0), repetitions.iter().max().copied().unwrap_or(0));
    let repeated = match (fewest, most) {
        (0, _) => "no successful repetition".to_owned(),
        (1, 1) => "one successful run".to_owned(),
        _ if fewest == most => format!("{fewest} successful repetitions"),
        _ => format!("{fewest} to {most} successful repetitions"),
    };
    document.paragraph(format!(
        "Each run is a fresh `heaplab run` process, so its peak RSS is its own. Each cell (strategy, workload, size, threads) has {repeated}; the sweep interleaves repetitions across strategies so that drift hits all alike, and a run's wall time and throughput are steadied by the drift its group's other strategies met in the same round (\"Measurement quality\" says how, and how many cells were stable before and after). Figures are medians over repetitions; `summary.csv` gives n, median, MAD, min and max of every figure per cell, wall time and throughput steadied."
    ));
    document.paragraph(format!(
        "Ratios are of medians against a baseline at the same workload, size and threads: `{CPYTHON_BASELINE}` (CPython's own configuration) for heap workloads, or `{FALLBACK_BASELINE}` where `{CPYTHON_BASELINE}` did not run (the table says so), and `{ALLOCATOR_BASELINE}` alone for allocator workloads. Geometric means summarise a strategy's ratios over every workload and size."
    ));
    let enough = (2..).find(|&n| smallest_possible_p_value(n, n) <= ALPHA).unwrap_or(2);
    let fewer = enough - 1;
    document.paragraph(format!(
        "A difference is called significant by the two-sided Mann–Whitney U test at α = {ALPHA} (exact up to {EXACT_LIMIT} runs in all, the normal approximation with tie correction beyond) where the two cells have enough repetitions for the test to reach α at all ({enough} against {enough}, or more). With fewer ({fewer} against {fewer}: the smallest possible p is {}), it is called significant only when the min–max ranges of the repetitions do not overlap. With a single run on either side nothing is tested and the table says \"untested\". \"not significant\" marks a ratio the noise covers.",
        format_p_value(smallest_possible_p_value(enough - 1, enough - 1))
    ));
    document.paragraph(format!(
        "The range test is a test at its own level: two samples of n and m runs from one distribution fail to overlap with probability 2 / C(n + m, n), so with {fewer} against {fewer} repetitions it is a test at α = {} (not {ALPHA}), and each verdict names its method and level, e.g. \"significant (ranges, α=0.10)\" or \"significant (U test, p=0.029)\". Where a sentence counts significant differences over many cells it gives the uncorrected count and the count after Holm's step-down correction at family-wise α = {ALPHA} over the Mann–Whitney p-values of the tested cells.",
        format_p_value(smallest_possible_p_value(fewer, fewer))
    ));
    document.paragraph(format!(
        "Each ratio carries a 95% confidence interval, `[low–high]`: the percentile bootstrap of the ratio of medians, {BOOTSTRAP_RESAMPLES} resamples drawn with replacement from each cell's repetitions independently, by a XorShift generator seeded from the two cells' names, so a redrawn report gives the same intervals. With 3 repetitions a side the bootstrap can only recombine those few values, so its interval is narrower than the truth; it is shown so that a wide one warns, not to prove a narrow one."
    ));
    document.paragraph("`cargo xtask bench --precision P` repeats each cell (still interleaved across strategies, round by round) until the distribution-free 95% confidence interval of its median wall time as measured (not steadied) lies within ±P of the median, or `--max-repeat` is reached. That interval is the pair of order statistics X(k), X(n+1−k) with the largest k for which 1 − 2·P(Binomial(n, ½) < k) ≥ 0.95; it needs at least 6 runs, so no cell stops before 6. `--thp never` (the default) turns transparent huge pages off in every child with `prctl(PR_SET_THP_DISABLE)`; each run's setting is the `thp` entry of its `params`.");
}

/// Bytes and time per element of the numeric workloads, boxed against
/// contiguous size by size, and the reduction against the memory bandwidth.
fn large_data(
    document: &mut Document,
    results: &ResultsDir,
    cells: &BTreeMap<CellKey, Cell<'_>>,
    plots: &[PlotSpec],
) {
    let rows = element_table(cells);
    let pairs: Vec<_> =
        ELEMENT_PAIRS.iter().flat_map(|(first, second)| pair_by_size(cells, first, second)).collect();
    let bandwidth = bandwidth_by_size(&results.reports);
    if rows.is_empty() && bandwidth.is_empty() {
        return;
    }
    document.folded_heading("Large data: bytes and time per element");
    let single = single_runs(cells);
    let per_element =
        |value: Option<f64>, show: fn(f64) -> String| value.map(show).unwrap_or_else(|| "–".into());
    if !rows.is_empty() {
        document.paragraph(format!(
            "Each numeric workload under the baseline strategy (`{CPYTHON_BASELINE}`, or `{FALLBACK_BASELINE}` where it did not run), per element: peak live bytes (the bytes the heap holds from its allocator), peak RSS (the whole process's, whose fixed part weighs on small sizes) and wall time, each a median over repetitions divided by the elements: N for the sums, `temporaries`, `chunked` and `groupby` (records), N² (the entries of the result) for `matmul-*`."
        ));
        let header = [
            "workload",
            "size",
            "elements",
            "under",
            "peak live bytes / element",
            "peak RSS / element",
            "wall time / element",
        ]
        .map(String::from)
        .to_vec();
        let table_rows = rows
            .iter()
            .map(|row| {
                vec![
                    format!("`{}`", row.workload),
                    row.size.to_string(),
                    format::count(row.elements),
                    format!("`{}`", row.strategy),
                    per_element(row.live_bytes, format::bytes_fine),
                    per_element(row.rss_bytes, format::bytes_fine),
                    per_element(row.wall_ns, format::duration_ns),
                ]
            })
            .collect();
        document.table(header, table_rows);
    }
    if !pairs.is_empty() {
        document.paragraph("Boxed against contiguous (and unfused against fused, chunked against whole), size by size under one strategy: per element, the first workload's figure, the second's, and their ratio (of medians; the verdict is the test's across repetitions).");
        let header = [
            "first / second",
            "size",
            "under",
            "peak live bytes / element",
            "ratio",
            "wall time / element",
            "ratio",
        ]
        .map(String::from)
        .to_vec();
        let ratio = |c: Option<crate::report::analysis::Compared>| match c {
            Some(c) if single => format::ratio(c.ratio),
            Some(c) => c.cell(),
            None => "–".into(),
        };
        let both =
            |c: Option<crate::report::analysis::Compared>, elements: f64, show: fn(f64) -> String| match c {
                Some(c) => format!("{} / {}", show(c.first / elements), show(c.second / elements)),
                None => "–".into(),
            };
        let table_rows = pairs
            .iter()
            .map(|pair| {
                vec![
                    format!("`{}` / `{}`", pair.first, pair.second),
                    pair.size.to_string(),
                    format!("`{}`", pair.strategy),
                    both(pair.live_bytes, pair.elements, format::bytes_fine),
                    ratio(pair.live_bytes),
                    both(pair.wall_ns, pair.elements, format::duration_ns),
                    ratio(pair.wall_ns),
                ]
            })
            .collect();
        document.table(header, table_rows);
    }
    if !bandwidth.is_empty() {
        document.paragraph(format!(
            "Read bandwidth: 8 x size bytes over the duration of the `{REDUCTION_PHASE}` phase of `{REDUCTION_WORKLOAD}` (under the baseline strategy; median over repetitions) and of the `{BANDWIDTH_PHASE}` phase of `{BANDWIDTH_WORKLOAD}` (one pass over one block, which every allocator here maps fresh; median over every repetition on every allocator), from the phases in `runs.jsonl`."
        ));
        let header = ["size", "bytes read", "`array-sum` reduce", "`bandwidth` read", "reduce / read"]
            .map(String::from)
            .to_vec();
        let rate = |value: Option<f64>| {
            value.map(|v| format!("{}/s", format::bytes(v))).unwrap_or_else(|| "–".into())
        };
        let table_rows = bandwidth
            .iter()
            .map(|b| {
                vec![
                    b.size.to_string(),
                    format::bytes(8.0 * b.size as f64),
                    rate(b.reduce.map(|r| r.0)),
                    rate(b.read.map(|r| r.0)),
                    b.fraction().map(format::percent).unwrap_or_else(|| "–".into()),
                ]
            })
            .collect();
        document.table(header, table_rows);
    }
    if let Some(plot) = plots.iter().find(|p| p.stem == BYTES_PER_ELEMENT_STEM) {
        document.figure(&plot.stem, plot.caption.clone());
    }
}

fn ratio_cell(ratio: Option<super::analysis::Ratio>, single: bool) -> String {
    match ratio {
        Some(r) if single => format::ratio(r.value),
        Some(r) => r.cell(),
        None => "–".into(),
    }
}

fn ratio_tables(document: &mut Document, cells: &BTreeMap<CellKey, Cell<'_>>) {
    document.folded_heading("Ratios against the baseline");
    let rows = ratio_rows(cells);
    if rows.is_empty() {
        document.paragraph("No workload ran both its baseline and another strategy successfully, so there is no ratio to show.");
        return;
    }
    let untested = if single_runs(cells) {
        " Every cell ran once, so no ratio is tested against the noise."
    } else {
        ""
    };
    document.paragraph(format!("Throughput (ops/s) and peak RSS of each strategy over the baseline's, medians over repetitions: above 1x is faster, or more memory.{untested} Geometric means over every workload and size first:"));
    let means = geometric_means(&rows);
    geometric_mean_table(document, &means);
    for workload in workloads(cells) {
        let Some(baseline) = baseline_for(cells, &workload) else { continue };
        let workload_rows: Vec<&RatioRow> = rows.iter().filter(|r| r.key.workload == workload).collect();
        if workload_rows.is_empty() {
            continue;
        }
        let heading = if baseline == FALLBACK_BASELINE && !is_allocator_workload(cells, &workload) {
            format!("`{workload}` against `{baseline}` (`{CPYTHON_BASELINE}` did not run)")
        } else {
            format!("`{workload}` against `{baseline}`")
        };
        document.heading(3, heading);
        workload_ratio_table(document, &workload_rows, single_runs(cells));
    }
}

fn geometric_mean_table(document: &mut Document, means: &[GeometricMeanRow]) {
    let header =
        ["strategy", "baseline", "throughput (geometric mean)", "peak RSS (geometric mean)", "cells"]
            .map(String::from)
            .to_vec();
    let rows = means
        .iter()
        .map(|m| {
            vec![
                format!("`{}`", m.strategy),
                format!("`{}`", m.baseline),
                m.throughput.map(format::ratio).unwrap_or_else(|| "–".into()),
                m.peak_rss.map(format::ratio).unwrap_or_else(|| "–".into()),
                m.n_cells.to_string(),
            ]
        })
        .collect();
    document.table(header, rows);
}

fn workload_ratio_table(document: &mut Document, rows: &[&RatioRow], single: bool) {
    let several_threads = rows.iter().map(|r| r.key.threads).collect::<BTreeSet<_>>().len() > 1;
    let columns: BTreeSet<(u64, u32)> = rows.iter().map(|r| (r.key.size, r.key.threads)).collect();
    let column_name = |(size, threads): (u64, u32)| {
        if several_threads { format!("size {size}, {threads} threads") } else { format!("size {size}") }
    };
    let mut header = vec!["strategy".to_owned()];
    for column in &columns {
        header.push(format!("ops/s, {}", column_name(*column)));
        header.push(format!("peak RSS, {}", column_name(*column)));
    }
    let mut strategies: Vec<&str> = rows.iter().map(|r| r.key.strategy.as_str()).collect();
    strategies.sort_by_key(|s| strategy_order(s));
    strategies.dedup();
    let table_rows = strategies
        .into_iter()
        .map(|strategy| {
            let mut row = vec![format!("`{strategy}`")];
            for &(size, threads) in &columns {
                let found = rows
                    .iter()
                    .find(|r| r.key.strategy == strategy && r.key.size == size && r.key.threads == threads);
                row.push(found.map(|r| ratio_cell(r.throughput, single)).unwrap_or_else(|| "–".into()));
                row.push(found.map(|r| ratio_cell(r.peak_rss, single)).unwrap_or_else(|| "–".into()));
            }
            row
        })
        .collect();
    document.table(header, table_rows);
}

fn plots_section(document: &mut Document, cells: &BTreeMap<CellKey, Cell<'_>>, plots: &[PlotSpec]) {
    document.folded_heading("Plots");
    if plots.is_empty() {
        document.paragraph("No successful run recorded a figure to plot.");
        return;
    }
    document.paragraph(format!("Colour marks the allocator, the marker and dash the collector (circles and long dashes: `refcount`; triangles and solid lines: `cycle`; squares and short dashes: `marksweep`). An axis is logarithmic (and says so) where its values span {LOG_SPAN}x or more. Each plot is also in `plots/` as SVG."));
    for workload in workloads(cells) {
        let mine: Vec<&PlotSpec> = plots.iter().filter(|p| p.workload == workload).collect();
        if mine.is_empty() {
            continue;
        }
        document.heading(3, format!("`{workload}`"));
        for plot in mine {
            document.figure(&plot.stem, plot.caption.clone());
        }
    }
}

/// The stderr file of a failed run: the sweep's `<cell_id>-rep<k>.stderr`, else a file whose name matches the cell.
fn stderr_file<'f>(results: &'f ResultsDir, record: &heaplab_core::Record) -> Option<&'f Path> {
    let key = CellKey::of(record);
    let cell_id = crate::layout::cell_id(&key.strategy, &key.workload, key.size, key.threads);
    let exact = crate::layout::failure_stderr(&cell_id, record.rep);
    let named = |path: &&Path| path.file_name().is_some_and(|n| n.to_str() == Some(exact.as_str()));
    if let Some(path) = results.failure_files.iter().map(|p| p.as_path()).find(named) {
        return Some(path);
    }
    results.failure_files.iter().map(|p| p.as_path()).find(|path| {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
        let stem = name.strip_suffix(".stderr").unwrap_or(name);
        match_series_file(stem, &key).is_some_and(|rep| rep.is_none_or(|rep| rep == record.rep))
    })
}

fn failures(document: &mut Document, results: &ResultsDir) {
    let failed: Vec<&heaplab_core::Record> =
        results.records.iter().filter(|r| r.status != Status::Ok).collect();
    if failed.is_empty() {
        return;
    }
    document.heading(2, "Failures");
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &failed {
        *by_status.entry(record.status.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_status.iter().map(|(status, n)| format!("{n} {status}")).collect();
    document.paragraph(format!(
        "{} of {} runs failed ({}). A failed run has no figures; the rest of its cell, if any, is summarised as usual.",
        failed.len(),
        results.records.len(),
        counts.join(", ")
    ));
    let header = ["strategy", "workload", "size", "threads", "rep", "status", "stderr (last line)"]
        .map(String::from)
        .to_vec();
    let rows = failed
        .iter()
        .map(|record| {
            let stderr = match stderr_file(results, record) {
                Some(path) => {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    let last = std::fs::read_to_string(path)
                        .ok()
                        .and_then(|text| text.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_owned))
                        .unwrap_or_default();
                    let last: String = last.chars().take(120).collect();
                    let last = last.replace('`', "'");
                    if last.is_empty() {
                        format!("[{name}](failures/{name})")
                    } else {
                        format!("`{last}` ([{name}](failures/{name}))")
                    }
                }
                None => "–".into(),
            };
            vec![
                format!("`{}`", record.strategy),
                format!("`{}`", record.workload),
                record.size.to_string(),
                record.threads.to_string(),
                record.rep.to_string(),
                record.status.as_str().to_owned(),
                stderr,
            ]
        })
        .collect();
    document.table(header, rows);
}

fn files(document: &mut Document, dir: &Path) {
    document.heading(2, "Files");
    let described = [
        ("runs.csv", "one row per run"),
        ("summary.csv", "per cell: n, failed, and median, MAD, min, max of every figure"),
        ("runs.jsonl", "one JSON record per run, with its phases and the allocator's own figures"),
        (
            "runs.jsonl.gz",
            "one JSON record per run, with its phases and the allocator's own figures (gzipped)",
        ),
        ("env.json", "the machine and the software"),
    ];
    let items = described
        .iter()
        .filter(|(name, _)| *name == "summary.csv" || dir.join(name).is_file())
        .map(|(name, what)| format!("[`{name}`]({name}): {what}"))
        .collect();
    document.list(items);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_json_flattens_to_key_value_lines() {
        let env = serde_json::json!({"cpu": {"model": "Xeon", "cores": 2}, "rustc": "1.95", "python": null});
        let mut lines = Vec::new();
        flatten_json("", &env, &mut lines);
        assert_eq!(lines, ["cpu.cores: `2`", "cpu.model: `Xeon`", "python: `null`", "rustc: `1.95`"]);
    }

    #[test]
    fn the_environment_names_each_invocations_machine_and_time_and_says_when_there_are_several() {
        let env = |model: &str, start: &str, end: serde_json::Value| {
            serde_json::json!({"cpu": {"model": model, "logical_cpus": 2}, "memory_bytes": 25_275_990_016u64,
                "start": start, "end": end})
        };
        let one = env("AMD EPYC", "2026-12-02T15:44:27Z", "2026-12-02T17:11:30Z".into());
        let other = env("Intel Xeon", "2026-12-03T09:00:00Z", serde_json::Value::Null);
        let draw = |envs: Vec<(String, serde_json::Value)>| {
            let results = ResultsDir { envs, ..ResultsDir::default() };
            let mut document = Document::default();
            environment(&mut document, &results);
            document.to_markdown()
        };
        let text = draw(vec![("a".into(), one.clone()), ("b".into(), other)]);
        assert!(text.contains("| AMD EPYC, 2 CPUs, 23.5 GiB |"), "{text}");
        assert!(text.contains("| 1h 27m 3s |"), "{text}");
        assert!(text.contains("| (no end recorded) |"), "{text}");
        assert!(
            text.contains(
                "measured on 2 machines (AMD EPYC, 2 CPUs, 23.5 GiB; Intel Xeon, 2 CPUs, 23.5 GiB)"
            ),
            "{text}"
        );
        let text = draw(vec![("a".into(), one.clone()), ("c".into(), one)]);
        assert!(!text.contains("machines ("), "one machine: nothing to say: {text}");
    }

    #[test]
    fn a_checksum_disagreement_is_warned_of_at_the_top_and_named_in_measurement_quality() {
        let run = crate::report::analysis::tests::run;
        let draw = |records: Vec<heaplab_core::Record>| {
            let results = ResultsDir { records, ..ResultsDir::default() };
            let cells = crate::report::analysis::cells(&results.records);
            let mut document = Document::default();
            overview(&mut document, &results, &cells);
            measurement_quality(&mut document, &results, &cells);
            document.to_markdown()
        };
        let agreeing = vec![run("cycle+pymalloc", "churn", 1, 1, 1), run("cycle+system", "churn", 1, 1, 1)];
        let text = draw(agreeing.clone());
        assert!(!text.contains("Warning"), "{text}");
        assert!(
            text.contains("every strategy gave its group's checksum — 2 successful runs in 1 groups"),
            "{text}"
        );
        let mut disagreeing = agreeing;
        disagreeing[1].checksum = Some("ffffffffffffffff".into());
        let text = draw(disagreeing);
        assert!(text.contains("**Warning: strategies disagree on the checksum in 1 of 1 groups**"), "{text}");
        assert!(
            text.contains("churn size=1 threads=1 seed=42: 0123456789abcdef from cycle+pymalloc; ffffffffffffffff from cycle+system"),
            "{text}"
        );
    }

    #[test]
    fn the_method_names_the_test_and_its_limits() {
        let records = vec![crate::report::analysis::tests::run("cycle+pymalloc", "churn", 1, 1, 1)];
        let cells = crate::report::analysis::cells(&records);
        let mut document = Document::default();
        method(&mut document, &cells);
        let text = document.to_markdown();
        assert!(text.contains("Mann–Whitney U test at α = 0.05"), "{text}");
        assert!(
            text.contains(
                "(4 against 4, or more). With fewer (3 against 3: the smallest possible p is 0.10)"
            ),
            "{text}"
        );
        assert!(text.contains("has one successful run;"), "{text}");
    }
}
