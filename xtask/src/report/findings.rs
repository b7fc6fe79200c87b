//! Findings: short sentences whose every number is computed from this run's
//! data. Each kind of finding is written only where the data it needs exists;
//! none is written by hand. Questions asked of every workload are summarised
//! past a few findings, with their detail in tables (see `comparisons`).

use std::collections::BTreeMap;

use heaplab_core::Status;

use super::analysis::{
    CPYTHON_BASELINE, Cell, CellKey, FALLBACK_BASELINE, Figure, base_threads, is_allocator_workload, ok_cell,
    single_runs, strategies_of, strategy_order, workloads,
};
use super::comparisons::{DetailTable, cost_answer, fastest_allocator_answer, fastest_answer};
use super::figures::{arena_runs, free_phase_arenas};
use super::format;
use super::large_data::large_data_findings;
use crate::results::ResultsDir;

/// Workload pairs that answer one question each: the first against its variant.
/// (The numeric pairs, boxed against contiguous, are the large-data findings'.)
const VARIANT_PAIRS: [(&str, &str); 3] = [
    ("bulk-load", "bulk-load-gc-off"),
    ("bulk-load", "bulk-load-frozen"),
    ("fragmentation", "fragmentation-contiguous"),
];

/// The strategy comparisons that say what a collector costs: the second against the first.
const COLLECTOR_COSTS: [(&str, &str); 2] =
    [(FALLBACK_BASELINE, CPYTHON_BASELINE), (CPYTHON_BASELINE, "marksweep+pymalloc")];

/// The findings on one question.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingGroup {
    /// The question, as a heading.
    pub topic: &'static str,
    /// The sentences, each with its numbers.
    pub sentences: Vec<String>,
    /// Per-workload detail, where the sentences summarise.
    pub details: Vec<DetailTable>,
}

impl FindingGroup {
    fn listed(topic: &'static str, sentences: Vec<String>) -> FindingGroup {
        FindingGroup { topic, sentences, details: Vec::new() }
    }
}

/// Every finding the data supports, grouped by question; groups without a finding are left out.
pub fn findings(results: &ResultsDir, cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<FindingGroup> {
    let names = workloads(cells);
    let heap_workloads: Vec<&String> = names.iter().filter(|w| !is_allocator_workload(cells, w)).collect();
    // Where every cell ran once, the report says so once instead of after every comparison.
    let single = single_runs(cells);
    let answered = |topic: &'static str, answer: super::comparisons::Answer| FindingGroup {
        topic,
        sentences: answer.sentences,
        details: answer.details,
    };
    let groups = [
        answered(
            "What the cycle detector and tracing cost",
            cost_answer(cells, &heap_workloads, &COLLECTOR_COSTS, single),
        ),
        answered("The fastest strategy on each workload", fastest_answer(cells, &names, single)),
        answered("The fastest allocator on each workload", fastest_allocator_answer(cells, &names, single)),
        FindingGroup::listed("Leaks", names.iter().filter_map(|w| leaks(cells, w)).collect()),
        FindingGroup::listed("Pauses", longest_pauses(&results.records)),
        FindingGroup::listed(
            "What fragmentation keeps",
            names.iter().flat_map(|w| arenas_kept(results, cells, w)).collect(),
        ),
        FindingGroup::listed(
            "Large data: boxed against contiguous",
            large_data_findings(cells, &results.reports),
        ),
        FindingGroup::listed(
            "Variants: collection off and frozen, contiguous free",
            VARIANT_PAIRS.iter().filter_map(|(base, variant)| variant_pair(cells, base, variant)).collect(),
        ),
        FindingGroup::listed(
            "Scaling with threads",
            names.iter().filter_map(|w| thread_scaling(cells, w)).collect(),
        ),
    ];
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

/// `a` over `b` of one figure's medians, with the note the verdict adds.
fn ratio_of(a: &Cell<'_>, b: &Cell<'_>, figure: Figure) -> Option<(f64, f64, f64, String)> {
    let compared = super::analysis::Compared::of(a, b, figure)?;
    Some((compared.ratio, compared.first, compared.second, compared.note()))
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
            "On `binary-trees` at size 18, `cycle+pymalloc` takes 1.25x the wall time of `refcount+pymalloc` (100 ms against 80 ms) (95% CI [1.20x–1.31x]; significant (ranges, α=0.10)) and peaks at 1.11x its RSS (40 MiB against 36 MiB) (95% CI [1.11x–1.11x]; significant (ranges, α=0.10)), with 37 collections by `cycle`."
        );
    }

    #[test]
    fn the_fastest_strategy_against_the_baseline() {
        let found = all_findings(&results(three_collectors()));
        let sentence = containing(&found, "has the highest throughput");
        assert!(sentence.starts_with("On `binary-trees` at size 18, `marksweep+pymalloc` has the highest throughput: 2.00x that of `cycle+pymalloc` (20M against 10M ops/s) (95% CI [1.88x–2.12x]; significant (ranges, α=0.10)) and 1.60x that of the runner-up `refcount+pymalloc`"), "{sentence}");
        assert!(
            !sentence.contains("not significant"),
            "ranges 48–52 and 98–102 ms do not overlap: {sentence}"
        );
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
                "0.91x the wall time of `refcount+pymalloc` (100 ns against 110 ns) (95% CI [0.62x–1.33x]; not significant (ranges, α=0.10); **unstable**)"
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
        let results = results(records);
        let groups = findings(&results, &cells(&results.records));
        let large_data = groups.iter().find(|g| g.topic == "Large data: boxed against contiguous").unwrap();
        assert_eq!(
            large_data.sentences,
            [
                "Under `cycle+pymalloc` at size 1000000 (1,000,000 elements), `boxed-sum` peaks at 21 B of live data per element against 5.24 B for `array-sum` (4.00x), 80 MiB against 20 MiB of peak RSS (4.00x), and takes 40 ns per element against 5 ns (8.00x)."
            ]
        );
        assert!(
            groups.iter().flat_map(|g| &g.sentences).filter(|s| s.contains("`array-sum`")).count() == 1,
            "said once, not again among the variants"
        );
    }

    /// `n` workloads, each run three times by refcount (80 ms), cycle (100 ms, or 150 ms on the
    /// last workload) and marksweep (50 ms) on pymalloc, and by cycle on mimalloc (60 ms).
    fn many_workloads(n: usize) -> Vec<Record> {
        let mut records = Vec::new();
        for index in 0..n {
            let workload = format!("workload-{index:02}");
            let cycle_ms = if index == n - 1 { 150 } else { 100 };
            for (rep, jitter) in [0i64, 1, -1].into_iter().enumerate() {
                let ms = |base: i64| ((base + jitter) * 1_000_000) as u64;
                for (strategy, wall) in [
                    ("refcount+pymalloc", ms(80)),
                    ("cycle+pymalloc", ms(cycle_ms)),
                    ("marksweep+pymalloc", ms(50)),
                    ("cycle+mimalloc", ms(60)),
                ] {
                    let mut record = run(strategy, &workload, 1000, wall, 40 << 20);
                    record.rep = rep as u32;
                    records.push(record);
                }
            }
        }
        records
    }

    fn group<'g>(groups: &'g [FindingGroup], topic: &str) -> &'g FindingGroup {
        groups.iter().find(|g| g.topic == topic).unwrap_or_else(|| panic!("no group {topic:?}: {groups:#?}"))
    }

    #[test]
    fn a_few_workloads_get_a_sentence_each() {
        let results = results(many_workloads(3));
        let groups = findings(&results, &cells(&results.records));
        let cost = group(&groups, "What the cycle detector and tracing cost");
        assert_eq!(cost.sentences.len(), 6, "two comparisons on three workloads");
        assert!(cost.details.is_empty());
        assert_eq!(group(&groups, "The fastest strategy on each workload").sentences.len(), 3);
    }

    #[test]
    fn many_workloads_are_summarised_with_a_table() {
        let results = results(many_workloads(10));
        let groups = findings(&results, &cells(&results.records));
        let cost = group(&groups, "What the cycle detector and tracing cost");
        assert_eq!(
            cost.sentences[0],
            "Over 10 workloads, each at the largest size both ran, `cycle+pymalloc` takes from 1.25x (`workload-00`) to 1.88x (`workload-09`) the wall time of `refcount+pymalloc`, 1.30x in geometric mean (10 of the 10 differences significant (uncorrected, each at its own test's α); 0 after Holm's correction at α = 0.05 over the 10 tested); its peak RSS is 1.00x of `refcount+pymalloc`'s on each."
        );
        assert!(
            cost.sentences[1].starts_with("On `workload-09` at size 1000, `cycle+pymalloc` takes 1.88x"),
            "the costliest in full: {:?}",
            cost.sentences
        );
        assert!(
            cost.sentences[2].starts_with("On `workload-00` at size 1000, `cycle+pymalloc` takes 1.25x"),
            "the cheapest in full: {:?}",
            cost.sentences
        );
        assert_eq!(cost.details.len(), 2, "a table per comparison");
        assert_eq!(cost.details[0].rows.len(), 10, "every workload");
        assert_eq!(
            cost.details[0].rows[9],
            [
                "`workload-09`",
                "1000",
                "1.88x [1.84x–1.91x]",
                "150 ms",
                "80 ms",
                "1.00x [1.00x–1.00x] (not significant)",
                "0"
            ]
        );
        let fastest = group(&groups, "The fastest strategy on each workload");
        assert_eq!(fastest.sentences.len(), 1, "one winner: {:?}", fastest.sentences);
        assert!(
            fastest.sentences[0].starts_with("`marksweep+pymalloc` has the highest throughput on 10 of the 10 workloads, each at its largest size: `workload-00` (2.00x `cycle+pymalloc`), `workload-01` (2.00x `cycle+pymalloc`),"),
            "{}",
            fastest.sentences[0]
        );
        assert!(
            fastest.sentences[0].ends_with(" and `workload-09` (3.00x `cycle+pymalloc`)."),
            "{}",
            fastest.sentences[0]
        );
        assert_eq!(fastest.details[0].rows.len(), 10);
        assert_eq!(
            fastest.details[0].rows[0],
            [
                "`workload-00`",
                "1000",
                "`marksweep+pymalloc`",
                "20M",
                "2.00x `cycle+pymalloc`",
                "`cycle+mimalloc`",
                "1.20x [1.16x–1.24x]"
            ]
        );
        let allocator = group(&groups, "The fastest allocator on each workload");
        assert!(
            allocator.sentences[0]
                .starts_with("`mimalloc` is the fastest allocator on 10 of the 10 workloads"),
            "{:?}",
            allocator.sentences
        );
        assert!(allocator.sentences[0].contains("`workload-09` (2.50x the runner-up `pymalloc`)"));
    }

    #[test]
    fn summaries_follow_the_data() {
        let mut records = many_workloads(10);
        for record in
            records.iter_mut().filter(|r| r.strategy == "cycle+mimalloc" && r.workload == "workload-03")
        {
            record.ops_per_s = Some(record.ops_per_s.unwrap() * 10.0);
        }
        let results = results(records);
        let groups = findings(&results, &cells(&results.records));
        let fastest = group(&groups, "The fastest strategy on each workload");
        assert_eq!(fastest.sentences.len(), 2, "{:?}", fastest.sentences);
        assert!(fastest.sentences[0].contains("on 9 of the 10 workloads"));
        assert_eq!(
            fastest.sentences[1],
            "`cycle+mimalloc` has the highest throughput on 1 of the 10 workloads, each at its largest size: `workload-03` (16.7x `cycle+pymalloc`)."
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
            anon_huge_bytes: None,
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
