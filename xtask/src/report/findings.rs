//! Findings: short sentences whose every number is computed from this run's
//! data. Each kind of finding is written only where the data it needs exists;
//! none is written by hand.

use std::collections::BTreeMap;

use heaplab_core::Status;

use super::analysis::{
    CPYTHON_BASELINE, Cell, CellKey, FALLBACK_BASELINE, Figure, baseline_for, is_allocator_workload,
    single_runs, split_strategy, strategies_of, strategy_order, workloads,
};
use super::figures::{arena_runs, free_phase_arenas};
use super::format;
use super::load::ResultsDir;
use super::stats::{compare_samples, median};

/// Workload pairs that answer one question each: the first against its variant.
const VARIANT_PAIRS: [(&str, &str); 6] = [
    ("boxed-sum", "array-sum"),
    ("matmul-boxed", "matmul-array"),
    ("temporaries", "temporaries-fused"),
    ("bulk-load", "bulk-load-gc-off"),
    ("bulk-load", "bulk-load-frozen"),
    ("fragmentation", "fragmentation-contiguous"),
];

/// The findings on one question.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingGroup {
    /// The question, as a heading.
    pub topic: &'static str,
    /// The sentences, each with its numbers.
    pub sentences: Vec<String>,
}

/// Every finding the data supports, grouped by question; groups without a finding are left out.
pub fn findings(results: &ResultsDir, cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<FindingGroup> {
    let names = workloads(cells);
    let heap_workloads: Vec<&String> = names.iter().filter(|w| !is_allocator_workload(cells, w)).collect();
    let groups = [
        FindingGroup {
            topic: "What the cycle detector and tracing cost",
            sentences: heap_workloads
                .iter()
                .flat_map(|w| {
                    [
                        strategy_pair(cells, w, FALLBACK_BASELINE, CPYTHON_BASELINE),
                        strategy_pair(cells, w, CPYTHON_BASELINE, "marksweep+pymalloc"),
                    ]
                })
                .flatten()
                .collect(),
        },
        FindingGroup {
            topic: "The fastest strategy on each workload",
            sentences: names.iter().filter_map(|w| fastest_against_baseline(cells, w)).collect(),
        },
        FindingGroup {
            topic: "The fastest allocator on each workload",
            sentences: names.iter().filter_map(|w| fastest_allocator(cells, w)).collect(),
        },
        FindingGroup { topic: "Leaks", sentences: names.iter().filter_map(|w| leaks(cells, w)).collect() },
        FindingGroup { topic: "Pauses", sentences: longest_pauses(&results.records) },
        FindingGroup {
            topic: "What fragmentation keeps",
            sentences: names.iter().flat_map(|w| arenas_kept(results, cells, w)).collect(),
        },
        FindingGroup {
            topic: "Variants: boxed against contiguous, temporaries, collection off and frozen",
            sentences: VARIANT_PAIRS
                .iter()
                .filter_map(|(base, variant)| variant_pair(cells, base, variant))
                .collect(),
        },
        FindingGroup {
            topic: "Scaling with threads",
            sentences: names.iter().filter_map(|w| thread_scaling(cells, w)).collect(),
        },
    ];
    // Where every cell ran once, the report says so once instead of after every comparison.
    let single = single_runs(cells);
    groups
        .into_iter()
        .filter(|g| !g.sentences.is_empty())
        .map(|g| FindingGroup {
            sentences: if single {
                g.sentences.into_iter().map(|s| s.replace(format::UNTESTED_NOTE, "")).collect()
            } else {
                g.sentences
            },
            ..g
        })
        .collect()
}

/// The cell of a strategy on a workload, where it has successful runs.
fn ok_cell<'c, 'a>(
    cells: &'c BTreeMap<CellKey, Cell<'a>>,
    workload: &str,
    strategy: &str,
    size: u64,
    threads: u32,
) -> Option<&'c Cell<'a>> {
    let key = CellKey { workload: workload.to_owned(), strategy: strategy.to_owned(), size, threads };
    cells.get(&key).filter(|c| !c.ok.is_empty())
}

/// The smallest thread count `workload` ran with.
fn base_threads(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<u32> {
    cells.keys().filter(|k| k.workload == workload).map(|k| k.threads).min()
}

/// The largest size at `threads` where every one of `strategies` ran `workload` successfully.
fn largest_common_size(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workload: &str,
    strategies: &[&str],
    threads: u32,
) -> Option<u64> {
    cells
        .values()
        .filter(|c| c.key.workload == workload && c.key.threads == threads)
        .map(|c| c.key.size)
        .filter(|&size| strategies.iter().all(|s| ok_cell(cells, workload, s, size, threads).is_some()))
        .max()
}

/// `a` over `b` of one figure's medians, with the note the verdict adds.
fn ratio_of(a: &Cell<'_>, b: &Cell<'_>, figure: Figure) -> Option<(f64, f64, f64, &'static str)> {
    let (values_a, values_b) = (a.values(figure), b.values(figure));
    let (median_a, median_b) = (median(&values_a)?, median(&values_b)?);
    if median_b <= 0.0 {
        return None;
    }
    Some((
        median_a / median_b,
        median_a,
        median_b,
        format::verdict_note(compare_samples(&values_a, &values_b)),
    ))
}

/// What `second` costs against `first` on a workload: wall time, peak RSS, collections.
fn strategy_pair(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workload: &str,
    first: &str,
    second: &str,
) -> Option<String> {
    let threads = base_threads(cells, workload)?;
    let size = largest_common_size(cells, workload, &[first, second], threads)?;
    let (a, b) =
        (ok_cell(cells, workload, second, size, threads)?, ok_cell(cells, workload, first, size, threads)?);
    let (wall, wall_a, wall_b, wall_note) = ratio_of(a, b, Figure::WallNs)?;
    let mut sentence = format!(
        "On `{workload}` at size {size}, `{second}` takes {} the wall time of `{first}` ({} against {}){wall_note}",
        format::ratio(wall),
        format::duration_ns(wall_a),
        format::duration_ns(wall_b),
    );
    if let Some((rss, rss_a, rss_b, rss_note)) = ratio_of(a, b, Figure::PeakRssBytes) {
        sentence.push_str(&format!(
            " and peaks at {} its RSS ({} against {}){rss_note}",
            format::ratio(rss),
            format::bytes(rss_a),
            format::bytes(rss_b)
        ));
    }
    if let Some(collections) = a.median(Figure::Collections) {
        let collector = split_strategy(second).0;
        sentence.push_str(&format!(", with {} collections by `{collector}`", format::count(collections)));
    }
    sentence.push('.');
    Some(sentence)
}

/// The fastest strategy on a workload at its largest size, against the baseline and the runner-up.
fn fastest_against_baseline(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<String> {
    let baseline = baseline_for(cells, workload)?;
    let threads = base_threads(cells, workload)?;
    let size = largest_common_size(cells, workload, &[baseline], threads)?;
    let mut ranked: Vec<(&Cell<'_>, f64)> = cells
        .values()
        .filter(|c| c.key.workload == workload && c.key.size == size && c.key.threads == threads)
        .filter_map(|c| Some((c, c.median(Figure::OpsPerS)?)))
        .collect();
    if ranked.len() < 2 {
        return None;
    }
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| strategy_order(&a.0.key.strategy).cmp(&strategy_order(&b.0.key.strategy)))
    });
    let (best, second) = (ranked[0].0, ranked[1].0);
    let baseline_cell = ok_cell(cells, workload, baseline, size, threads)?;
    let threads_note = if threads > 1 { format!(" with {threads} threads") } else { String::new() };
    if best.key.strategy == baseline {
        let (ratio, _, _, note) = ratio_of(second, best, Figure::OpsPerS)?;
        return Some(format!(
            "On `{workload}` at size {size}{threads_note}, the baseline `{baseline}` has the highest throughput ({} ops/s); the runner-up `{}` reaches {} of it{note}.",
            format::rate(ranked[0].1),
            second.key.strategy,
            format::ratio(ratio)
        ));
    }
    let (ratio, best_ops, baseline_ops, note) = ratio_of(best, baseline_cell, Figure::OpsPerS)?;
    let mut sentence = format!(
        "On `{workload}` at size {size}{threads_note}, `{}` has the highest throughput: {} that of `{baseline}` ({} against {} ops/s){note}",
        best.key.strategy,
        format::ratio(ratio),
        format::rate(best_ops),
        format::rate(baseline_ops)
    );
    if second.key.strategy != baseline {
        let (runner_up, _, _, note) = ratio_of(best, second, Figure::OpsPerS)?;
        sentence.push_str(&format!(
            " and {} that of the runner-up `{}`{note}",
            format::ratio(runner_up),
            second.key.strategy
        ));
    }
    sentence.push('.');
    Some(sentence)
}

/// Which allocator wins a workload: with the baseline's collector for heap
/// workloads, at the most threads for allocator workloads.
fn fastest_allocator(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<String> {
    let allocator_workload = is_allocator_workload(cells, workload);
    let (collector, threads) = if allocator_workload {
        ("", cells.keys().filter(|k| k.workload == workload).map(|k| k.threads).max()?)
    } else {
        (split_strategy(baseline_for(cells, workload)?).0, base_threads(cells, workload)?)
    };
    let candidates: Vec<&Cell<'_>> = cells
        .values()
        .filter(|c| {
            c.key.workload == workload
                && c.key.threads == threads
                && c.collector == collector
                && !c.ok.is_empty()
        })
        .collect();
    let size = candidates
        .iter()
        .map(|c| c.key.size)
        .filter(|&size| candidates.iter().filter(|c| c.key.size == size).count() >= 2)
        .max()?;
    let mut ranked: Vec<(&Cell<'_>, f64)> = candidates
        .into_iter()
        .filter(|c| c.key.size == size)
        .filter_map(|c| Some((c, c.median(Figure::OpsPerS)?)))
        .collect();
    if ranked.len() < 2 {
        return None;
    }
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (best, second) = (ranked[0].0, ranked[1].0);
    let (ratio, _, _, note) = ratio_of(best, second, Figure::OpsPerS)?;
    let setting = if allocator_workload {
        format!("On `{workload}` at size {size} with {threads} thread{}", if threads == 1 { "" } else { "s" })
    } else {
        format!("With the `{collector}` collector on `{workload}` at size {size}")
    };
    let mut sentence = format!(
        "{setting}, `{}` is the fastest allocator: {} the throughput of the runner-up `{}`{note}",
        best.allocator,
        format::ratio(ratio),
        second.allocator
    );
    let pymalloc = ranked.iter().find(|(c, _)| c.allocator == "pymalloc").map(|(c, _)| *c);
    if let Some(pymalloc) = pymalloc.filter(|p| p.key != best.key && p.key != second.key) {
        let (ratio, _, _, note) = ratio_of(best, pymalloc, Figure::OpsPerS)?;
        sentence.push_str(&format!(" and {} that of `pymalloc`{note}", format::ratio(ratio)));
    }
    sentence.push('.');
    Some(sentence)
}

/// What each strategy leaks on a workload at the largest size where one leaks.
fn leaks(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<String> {
    let threads = base_threads(cells, workload)?;
    let leaking = |c: &&Cell<'_>| c.median(Figure::LeakedBytes).is_some_and(|v| v > 0.0);
    let at_threads = || cells.values().filter(|c| c.key.workload == workload && c.key.threads == threads);
    let size = at_threads().filter(leaking).map(|c| c.key.size).max()?;
    let mut leakers: Vec<&Cell<'_>> = at_threads().filter(|c| c.key.size == size).filter(leaking).collect();
    leakers.sort_by_key(|c| strategy_order(&c.key.strategy));
    // Strategies that leak the same (as printed) are named together.
    let mut amounts: Vec<(String, Vec<String>)> = Vec::new();
    for cell in &leakers {
        let leaked = cell.median(Figure::LeakedBytes).unwrap_or(0.0);
        let amount = match cell.median(Figure::AllocatedBytes).filter(|a| *a > 0.0) {
            Some(allocated) => format!(
                "{} ({} of the {} allocated)",
                format::bytes(leaked),
                format::percent(leaked / allocated),
                format::bytes(allocated)
            ),
            None => format::bytes(leaked),
        };
        let name = format!("`{}`", cell.key.strategy);
        match amounts.iter_mut().find(|(a, _)| *a == amount) {
            Some((_, names)) => names.push(name),
            None => amounts.push((amount, vec![name])),
        }
    }
    let parts: Vec<String> = amounts
        .into_iter()
        .map(|(amount, names)| match names.as_slice() {
            [one] => format!("{one} leaks {amount}"),
            _ => format!("{} each leak {amount}", names.join(", ")),
        })
        .collect();
    let clean =
        at_threads().filter(|c| c.key.size == size && c.median(Figure::LeakedBytes) == Some(0.0)).count();
    let mut sentence = format!("On `{workload}` at size {size}, {}", parts.join("; "));
    match clean {
        0 => {}
        1 => sentence.push_str("; the other strategy leaks nothing"),
        _ => sentence.push_str(&format!("; the other {clean} strategies leak nothing")),
    }
    sentence.push_str(" (`leaked_bytes`: unreachable but still held at teardown).");
    Some(sentence)
}

/// The longest single pause of each collector, over every successful run.
fn longest_pauses(records: &[heaplab_core::Record]) -> Vec<String> {
    let mut longest: BTreeMap<(usize, String), &heaplab_core::Record> = BTreeMap::new();
    for record in records.iter().filter(|r| r.status == Status::Ok && !r.collector.is_empty()) {
        let Some(pause) = record.pause_max_ns.filter(|p| *p > 0) else { continue };
        let key = (strategy_order(&record.strategy).0, record.collector.clone());
        let entry = longest.entry(key).or_insert(record);
        if pause > entry.pause_max_ns.unwrap_or(0) {
            *entry = record;
        }
    }
    longest
        .into_iter()
        .map(|((_, collector), record)| {
            format!(
                "The longest single pause of the `{collector}` collector lasted {}: `{}` on `{}` at size {} (repetition {}).",
                format::duration_ns(record.pause_max_ns.unwrap_or(0) as f64),
                record.strategy,
                record.workload,
                record.size,
                record.rep
            )
        })
        .collect()
}

/// What stays after a `free` phase: arenas held against the highwater, pools in use, RSS at the end against the peak.
fn arenas_kept(results: &ResultsDir, cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Vec<String> {
    arena_runs(&results.reports, workload)
        .into_iter()
        .filter_map(|run| {
            let arenas = free_phase_arenas(run)?;
            let held = arenas.arena_map.len() as u64;
            let (in_use, pools) = arenas.arena_map.iter().fold((0u64, 0u64), |t, a| {
                (t.0 + u64::from(a.full) + u64::from(a.used), t.1 + u64::from(a.full) + u64::from(a.used) + u64::from(a.empty))
            });
            let record = &run.record;
            let mut sentence = format!(
                "After the `free` phase of `{workload}` at size {}, `{}` still holds {held} arena{} of its highwater {}, with {} of their pools in use",
                record.size,
                record.strategy,
                if held == 1 { "" } else { "s" },
                arenas.arenas_highwater,
                format::percent(if pools > 0 { in_use as f64 / pools as f64 } else { 0.0 }),
            );
            let cell = ok_cell(cells, workload, &record.strategy, record.size, record.threads);
            let end_and_peak = cell
                .and_then(|c| Some((c.median(Figure::EndRssBytes)?, c.median(Figure::PeakRssBytes)?)))
                .filter(|(_, peak)| *peak > 0.0);
            if let Some((end, peak)) = end_and_peak {
                sentence.push_str(&format!(
                    "; at the end its RSS is {} of its peak ({} of {})",
                    format::percent(end / peak),
                    format::bytes(end),
                    format::bytes(peak)
                ));
            }
            sentence.push('.');
            Some(sentence)
        })
        .collect()
}

/// A workload against its variant under CPython's configuration (or the fallback): wall time and memory.
fn variant_pair(cells: &BTreeMap<CellKey, Cell<'_>>, base: &str, variant: &str) -> Option<String> {
    let strategy = [CPYTHON_BASELINE, FALLBACK_BASELINE].into_iter().find(|strategy| {
        cells.values().any(|c| c.key.workload == base && c.key.strategy == *strategy && !c.ok.is_empty())
            && cells
                .values()
                .any(|c| c.key.workload == variant && c.key.strategy == *strategy && !c.ok.is_empty())
    })?;
    let threads = base_threads(cells, base)?;
    let size = cells
        .values()
        .filter(|c| {
            c.key.workload == base
                && c.key.strategy == strategy
                && c.key.threads == threads
                && !c.ok.is_empty()
        })
        .map(|c| c.key.size)
        .filter(|&size| ok_cell(cells, variant, strategy, size, threads).is_some())
        .max()?;
    let (a, b) =
        (ok_cell(cells, variant, strategy, size, threads)?, ok_cell(cells, base, strategy, size, threads)?);
    let (wall, wall_a, wall_b, wall_note) = ratio_of(a, b, Figure::WallNs)?;
    let mut sentence = format!(
        "Under `{strategy}` at size {size}, `{variant}` takes {} the wall time of `{base}` ({} against {}){wall_note}",
        format::ratio(wall),
        format::duration_ns(wall_a),
        format::duration_ns(wall_b)
    );
    if let Some((rss, rss_a, rss_b, note)) = ratio_of(a, b, Figure::PeakRssBytes) {
        sentence.push_str(&format!(
            " and peaks at {} its RSS ({} against {}){note}",
            format::ratio(rss),
            format::bytes(rss_a),
            format::bytes(rss_b)
        ));
    }
    let end_rss = ratio_of(a, b, Figure::EndRssBytes).filter(|_| base.starts_with("fragmentation"));
    if let Some((end, end_a, end_b, note)) = end_rss {
        sentence.push_str(&format!(
            "; it ends holding {} its RSS ({} against {}){note}",
            format::ratio(end),
            format::bytes(end_a),
            format::bytes(end_b)
        ));
    }
    match (a.median(Figure::Collections), b.median(Figure::Collections)) {
        (Some(collections_a), Some(collections_b)) if collections_a != collections_b => {
            sentence.push_str(&format!(
                "; it runs {} collections against {}",
                format::count(collections_a),
                format::count(collections_b)
            ));
        }
        _ => {}
    }
    sentence.push('.');
    Some(sentence)
}

/// How throughput grows from the fewest to the most threads, per strategy.
fn thread_scaling(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<String> {
    let thread_counts: Vec<u32> =
        cells.keys().filter(|k| k.workload == workload).map(|k| k.threads).collect();
    let (low, high) = (*thread_counts.iter().min()?, *thread_counts.iter().max()?);
    if low == high {
        return None;
    }
    let size = cells
        .values()
        .filter(|c| c.key.workload == workload && c.key.threads == high && !c.ok.is_empty())
        .map(|c| c.key.size)
        .filter(|&size| {
            cells.values().any(|c| {
                c.key.workload == workload && c.key.size == size && c.key.threads == low && !c.ok.is_empty()
            })
        })
        .max()?;
    let parts: Vec<String> = strategies_of(cells, workload)
        .into_iter()
        .filter_map(|strategy| {
            let (few, many) = (
                ok_cell(cells, workload, &strategy, size, low)?,
                ok_cell(cells, workload, &strategy, size, high)?,
            );
            let (ratio, _, _, note) = ratio_of(many, few, Figure::OpsPerS)?;
            Some(format!("`{strategy}` by {}{note}", format::ratio(ratio)))
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "On `{workload}` at size {size}, going from {low} to {high} threads multiplies the throughput of {}.",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::cells;
    use crate::report::analysis::tests::run;
    use heaplab_core::{AllocStats, ArenaStats, ArenaUse, PhaseRecord, Record, RunReport};

    fn results(records: Vec<Record>) -> ResultsDir {
        ResultsDir { records, ..ResultsDir::default() }
    }

    fn all_findings(results: &ResultsDir) -> Vec<String> {
        findings(results, &cells(&results.records)).into_iter().flat_map(|g| g.sentences).collect()
    }

    fn containing<'f>(found: &'f [String], needle: &str) -> &'f str {
        found
            .iter()
            .find(|f| f.contains(needle))
            .unwrap_or_else(|| panic!("no finding contains {needle:?}: {found:#?}"))
    }

    /// Three repetitions per strategy: cycle at 100/102/98 ms, refcount at 80/81/79 ms, marksweep at 50 ms.
    fn three_collectors() -> Vec<Record> {
        let mut records = Vec::new();
        for (rep, jitter) in [0i64, 2, -2].into_iter().enumerate() {
            let ms = |base: i64| ((base + jitter) * 1_000_000) as u64;
            let mut cycle = run("cycle+pymalloc", "binary-trees", 18, ms(100), 40 << 20);
            cycle.collections = Some(37);
            cycle.pause_max_ns = Some(3_000_000 + rep as u64);
            cycle.rep = rep as u32;
            let refcount = run("refcount+pymalloc", "binary-trees", 18, ms(80), 36 << 20);
            let marksweep = run("marksweep+pymalloc", "binary-trees", 18, ms(50), 80 << 20);
            records.extend([cycle, refcount, marksweep]);
        }
        records
    }

    #[test]
    fn the_cost_of_the_cycle_detector_over_refcount() {
        let found = all_findings(&results(three_collectors()));
        let sentence = containing(&found, "`cycle+pymalloc` takes");
        assert_eq!(
            sentence,
            "On `binary-trees` at size 18, `cycle+pymalloc` takes 1.25x the wall time of `refcount+pymalloc` (100 ms against 80 ms) and peaks at 1.11x its RSS (40 MiB against 36 MiB), with 37 collections by `cycle`."
        );
    }

    #[test]
    fn the_fastest_strategy_against_the_baseline() {
        let found = all_findings(&results(three_collectors()));
        let sentence = containing(&found, "has the highest throughput");
        assert!(sentence.starts_with("On `binary-trees` at size 18, `marksweep+pymalloc` has the highest throughput: 2.00x that of `cycle+pymalloc` (20M against 10M ops/s) and 1.60x that of the runner-up `refcount+pymalloc`"), "{sentence}");
        assert!(!sentence.contains("significant"), "ranges 48–52 and 98–102 ms do not overlap: {sentence}");
    }

    #[test]
    fn findings_change_with_the_data() {
        let mut records = three_collectors();
        for record in records.iter_mut().filter(|r| r.strategy == "marksweep+pymalloc") {
            record.ops_per_s = Some(record.ops_per_s.unwrap() * 1.5);
        }
        let found = all_findings(&results(records));
        assert!(containing(&found, "has the highest throughput").contains("3.00x that of `cycle+pymalloc`"));
    }

    #[test]
    fn overlapping_repetitions_are_marked_not_significant() {
        let mut records = Vec::new();
        for wall in [100, 120, 80] {
            records.push(run("cycle+pymalloc", "churn", 10, wall, 1 << 20));
            records.push(run("refcount+pymalloc", "churn", 10, wall + 10, 1 << 20));
        }
        let found = all_findings(&results(records));
        let sentence = containing(&found, "`cycle+pymalloc` takes");
        assert!(
            sentence.contains(
                "0.91x the wall time of `refcount+pymalloc` (100 ns against 110 ns) (not significant)"
            ),
            "{sentence}"
        );
    }

    #[test]
    fn a_single_run_against_repetitions_is_marked_untested() {
        let mut records = vec![run("refcount+pymalloc", "churn", 10, 50, 1 << 20)];
        for wall in [100, 101, 99] {
            records.push(run("cycle+pymalloc", "churn", 10, wall, 1 << 20));
        }
        let found = all_findings(&results(records));
        assert!(containing(&found, "`cycle+pymalloc` takes").contains("(untested: a single run)"));
    }

    #[test]
    fn when_every_cell_ran_once_the_note_is_left_out() {
        let records = vec![
            run("cycle+pymalloc", "churn", 10, 100, 1 << 20),
            run("refcount+pymalloc", "churn", 10, 50, 1 << 20),
        ];
        let found = all_findings(&results(records));
        assert!(
            !containing(&found, "`cycle+pymalloc` takes").contains("untested"),
            "the report says it once instead"
        );
    }

    #[test]
    fn what_refcount_leaks_on_cycles() {
        let mut leaky = run("refcount+pymalloc", "cyclic-garbage", 1000, 100, 1 << 30);
        leaky.leaked_bytes = Some(12 << 20);
        leaky.allocated_bytes = Some(48 << 20);
        let clean = run("cycle+pymalloc", "cyclic-garbage", 1000, 100, 1 << 30);
        let found = all_findings(&results(vec![leaky, clean]));
        assert_eq!(
            containing(&found, "leaks"),
            "On `cyclic-garbage` at size 1000, `refcount+pymalloc` leaks 12 MiB (25% of the 48 MiB allocated); the other strategy leaks nothing (`leaked_bytes`: unreachable but still held at teardown)."
        );
    }

    #[test]
    fn strategies_that_leak_alike_are_named_together() {
        let mut records = Vec::new();
        for strategy in ["refcount+pymalloc", "refcount+system", "refcount+mimalloc"] {
            let mut leaky = run(strategy, "cyclic-garbage", 1000, 100, 1 << 30);
            leaky.leaked_bytes = Some(if strategy == "refcount+mimalloc" { 6 << 20 } else { 12 << 20 });
            leaky.allocated_bytes = Some(48 << 20);
            records.push(leaky);
        }
        let found = all_findings(&results(records));
        assert_eq!(
            containing(&found, "leak"),
            "On `cyclic-garbage` at size 1000, `refcount+pymalloc`, `refcount+system` each leak 12 MiB (25% of the 48 MiB allocated); `refcount+mimalloc` leaks 6 MiB (12% of the 48 MiB allocated) (`leaked_bytes`: unreachable but still held at teardown)."
        );
    }

    #[test]
    fn the_longest_pause_per_collector() {
        let mut records = three_collectors();
        let mut marksweep = run("marksweep+system", "churn", 5, 10, 10);
        marksweep.pause_max_ns = Some(45_200_000);
        marksweep.rep = 2;
        records.push(marksweep);
        let found = all_findings(&results(records));
        assert_eq!(
            containing(&found, "`cycle` collector"),
            "The longest single pause of the `cycle` collector lasted 3 ms: `cycle+pymalloc` on `binary-trees` at size 18 (repetition 2)."
        );
        assert!(
            containing(&found, "`marksweep` collector")
                .contains("45.2 ms: `marksweep+system` on `churn` at size 5 (repetition 2)")
        );
    }

    #[test]
    fn the_fastest_allocator_per_workload() {
        let mut records = Vec::new();
        for (allocator, wall) in [("pymalloc", 300), ("mimalloc", 100), ("jemalloc", 150)] {
            let mut record = run(allocator, "larson", 1000, wall, 1 << 20);
            record.threads = 2;
            records.push(record);
        }
        let found = all_findings(&results(records));
        assert_eq!(
            containing(&found, "fastest allocator"),
            "On `larson` at size 1000 with 2 threads, `mimalloc` is the fastest allocator: 1.50x the throughput of the runner-up `jemalloc` and 3.00x that of `pymalloc`."
        );
    }

    #[test]
    fn boxed_against_contiguous() {
        let records = vec![
            run("cycle+pymalloc", "boxed-sum", 1_000_000, 40_000_000, 80 << 20),
            run("cycle+pymalloc", "array-sum", 1_000_000, 5_000_000, 20 << 20),
        ];
        let found = all_findings(&results(records));
        assert_eq!(
            containing(&found, "`array-sum`"),
            "Under `cycle+pymalloc` at size 1000000, `array-sum` takes 0.12x the wall time of `boxed-sum` (5 ms against 40 ms) and peaks at 0.25x its RSS (20 MiB against 80 MiB)."
        );
    }

    #[test]
    fn gc_off_reports_its_collections() {
        let mut on = run("cycle+pymalloc", "bulk-load", 100, 200, 1 << 20);
        on.collections = Some(2616);
        let off = run("cycle+pymalloc", "bulk-load-gc-off", 100, 100, 1 << 20);
        let found = all_findings(&results(vec![on, off]));
        assert!(containing(&found, "`bulk-load-gc-off`").contains("it runs 0 collections against 2,616"));
    }

    #[test]
    fn thread_scaling_from_fewest_to_most_threads() {
        let mut records = Vec::new();
        for (allocator, one, two) in [("pymalloc", 100, 110), ("mimalloc", 100, 50)] {
            records.push(run(allocator, "larson", 10, one, 1));
            let mut many = run(allocator, "larson", 10, two, 1);
            many.threads = 2;
            records.push(many);
        }
        let found = all_findings(&results(records));
        let sentence = containing(&found, "going from 1 to 2 threads");
        assert!(sentence.contains("`pymalloc` by 0.91x"), "{sentence}");
        assert!(sentence.contains("`mimalloc` by 2.00x"), "{sentence}");
    }

    fn fragmentation_report(strategy: &str, arena_map: Vec<ArenaUse>) -> RunReport {
        let mut record = run(strategy, "fragmentation", 1000, 100, 40 << 20);
        record.end_rss_bytes = Some(39 << 20);
        let arenas = ArenaStats {
            pool_size: 16384,
            arena_size: 1 << 20,
            arenas_highwater: 4,
            arena_map,
            ..ArenaStats::default()
        };
        let free = PhaseRecord {
            name: "free".into(),
            alloc: AllocStats { arenas: Some(arenas), ..AllocStats::default() },
            ..PhaseRecord::default()
        };
        RunReport {
            record,
            collections_by_gen: vec![],
            phases: vec![PhaseRecord { name: "build".into(), ..PhaseRecord::default() }, free],
        }
    }

    #[test]
    fn what_fragmentation_keeps() {
        let scattered = vec![ArenaUse { used: 1, full: 0, empty: 63 }; 4];
        let report = fragmentation_report("cycle+pymalloc", scattered);
        let results = ResultsDir {
            records: vec![report.record.clone()],
            reports: vec![report],
            ..ResultsDir::default()
        };
        let found = all_findings(&results);
        assert_eq!(
            containing(&found, "After the `free` phase"),
            "After the `free` phase of `fragmentation` at size 1000, `cycle+pymalloc` still holds 4 arenas of its highwater 4, with 1.6% of their pools in use; at the end its RSS is 98% of its peak (39 MiB of 40 MiB)."
        );
    }

    #[test]
    fn no_data_no_findings() {
        assert!(all_findings(&results(vec![])).is_empty());
        let single = vec![run("cycle+pymalloc", "churn", 10, 100, 1000)];
        assert!(all_findings(&results(single)).is_empty(), "one strategy alone supports no comparison");
    }
}
