//! The report's answers: the recommendations for large-data Python that this
//! run's data supports, each drawn from a rule of [`RULES`] — which workloads
//! (or strategies) to compare, on which figure, and the Python idiom the
//! comparison stands for. The rule's idiom is the only text typed by hand;
//! the effect, its interval, the workload and whether the data supports it
//! come from the cells. Adding an answer is adding a line to [`RULES`].

use std::collections::BTreeMap;

use super::analysis::{
    ALLOCATOR_BASELINE, CPYTHON_BASELINE, Cell, CellKey, Compared, FALLBACK_BASELINE, Figure, split_strategy,
    strategy_order,
};
use super::format;

/// What a rule compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The idiom's workload against its counterpart under one strategy (`cycle+pymalloc`, else
    /// `refcount+pymalloc`, else `pymalloc`), at the largest size both ran, at one thread.
    Workloads {
        /// The workload that does what the idiom says.
        idiom: &'static str,
        /// The workload that does not.
        counterpart: &'static str,
    },
    /// On one workload at its most threads and largest size: the fastest other allocator
    /// under the baseline's collector against the baseline.
    Allocators {
        /// The workload.
        workload: &'static str,
    },
    /// On one workload: every strategy `S@V` (a CPython version) against `S`, at the largest size both ran.
    Versions {
        /// The workload.
        workload: &'static str,
    },
}

/// One answer the report may give.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// A short name for the evidence heading.
    pub topic: &'static str,
    /// What is compared.
    pub compare: Compare,
    /// On which figure (lower is better for every figure used here).
    pub figure: Figure,
    /// The Python idiom the comparison stands for.
    pub idiom: &'static str,
}

const fn pair(
    topic: &'static str,
    idiom_workload: &'static str,
    counterpart: &'static str,
    figure: Figure,
    idiom: &'static str,
) -> Rule {
    Rule { topic, compare: Compare::Workloads { idiom: idiom_workload, counterpart }, figure, idiom }
}

const ARRAYS: &str =
    "Keep numbers in contiguous arrays (`array.array`, NumPy) rather than in lists of Python floats";
const FUSED: &str = "Fuse operations or compute in place (`a += b`, `np.multiply(a, b, out=a)`, `numexpr`) rather than making a temporary per operation";
const CHUNKS: &str = "Process large data in chunks (`pd.read_csv(chunksize=…)`, generators) rather than materialising it whole";
const FREEZE: &str = "Call `gc.freeze()` before bulk-loading long-lived objects";
const GC_OFF: &str = "Call `gc.disable()` around a bulk load (and `gc.enable()` after)";
const TOGETHER: &str = "Free objects together (drop whole containers or batches) rather than keeping scattered survivors of a big allocation";
const THREADS: &str = "For threaded allocation-heavy work, choose the allocator (`LD_PRELOAD` of mimalloc or jemalloc under `PYTHONMALLOC=malloc`)";
const MATMUL: &str =
    "Multiply matrices held as contiguous arrays (NumPy) rather than as lists of lists of floats";
const COLUMNS: &str =
    "Load tabular data as columns (a list or array per field) rather than a dict per row (`csv.DictReader`)";
const VERSION: &str = "Run a newer CPython: its memory manager changes the cost of the same code";

/// The answers, in the order the report gives them.
pub const RULES: &[Rule] = &[
    pair("contiguous arrays against lists of floats", "array-sum", "boxed-sum", Figure::WallNs, ARRAYS),
    pair("contiguous arrays against lists of floats", "array-sum", "boxed-sum", Figure::PeakRssBytes, ARRAYS),
    pair("fused against temporaries", "temporaries-fused", "temporaries", Figure::WallNs, FUSED),
    pair("fused against temporaries", "temporaries-fused", "temporaries", Figure::PeakRssBytes, FUSED),
    pair("chunking", "chunked", "array-sum", Figure::PeakRssBytes, CHUNKS),
    pair("gc.freeze() before a bulk load", "bulk-load-frozen", "bulk-load", Figure::WallNs, FREEZE),
    pair("gc.disable() during a bulk load", "bulk-load-gc-off", "bulk-load", Figure::WallNs, GC_OFF),
    pair(
        "gc.freeze() before a load of dict rows",
        "bulk-load-dicts-frozen",
        "bulk-load-dicts",
        Figure::WallNs,
        FREEZE,
    ),
    pair(
        "gc.disable() during a load of dict rows",
        "bulk-load-dicts-gc-off",
        "bulk-load-dicts",
        Figure::WallNs,
        GC_OFF,
    ),
    pair("freeing together", "fragmentation-contiguous", "fragmentation", Figure::EndRssBytes, TOGETHER),
    Rule {
        topic: "allocator for threads",
        compare: Compare::Allocators { workload: "xmalloc" },
        figure: Figure::WallNs,
        idiom: THREADS,
    },
    Rule {
        topic: "allocator for threads",
        compare: Compare::Allocators { workload: "larson" },
        figure: Figure::WallNs,
        idiom: THREADS,
    },
    Rule {
        topic: "allocator for threads",
        compare: Compare::Allocators { workload: "par-map-reduce" },
        figure: Figure::WallNs,
        idiom: THREADS,
    },
    pair("contiguous matrices", "matmul-array", "matmul-boxed", Figure::WallNs, MATMUL),
    pair("columns against rows of dicts", "bulk-load-columns", "bulk-load-dicts", Figure::WallNs, COLUMNS),
    pair(
        "columns against rows of dicts",
        "bulk-load-columns",
        "bulk-load-dicts",
        Figure::PeakRssBytes,
        COLUMNS,
    ),
    Rule {
        topic: "CPython version",
        compare: Compare::Versions { workload: "bulk-load" },
        figure: Figure::WallNs,
        idiom: VERSION,
    },
    Rule {
        topic: "CPython version",
        compare: Compare::Versions { workload: "binary-trees" },
        figure: Figure::WallNs,
        idiom: VERSION,
    },
];

/// The prefix of the strategies that run the real interpreter.
pub const REAL_PYTHON_PREFIX: &str = "python@";

/// Whether the data supports an answer, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The 95% interval excludes 1, the test finds the difference significant, both cells are stable.
    Supported,
    /// A side has a single run: there is no interval.
    NoInterval,
    /// The interval includes 1, or the test does not find the difference.
    NotSignificant,
    /// A cell's wall times spread beyond the stability threshold.
    Unstable,
}

impl Support {
    fn of(compared: &Compared) -> Support {
        let Some((low, high)) = compared.ci else { return Support::NoInterval };
        if compared.unstable {
            Support::Unstable
        } else if (low <= 1.0 && 1.0 <= high) || !compared.verdict.is_significant() {
            Support::NotSignificant
        } else {
            Support::Supported
        }
    }

    /// Why an answer is not given, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::NoInterval => "one run per cell, so no interval",
            Support::NotSignificant => "the interval includes 1 or the test finds no difference",
            Support::Unstable => "a cell is unstable",
        }
    }
}

/// One comparison behind an answer: `first` (the idiom) against `second`.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// The cell that follows the idiom (or the challenger).
    pub first: CellKey,
    /// The cell it is compared against.
    pub second: CellKey,
    /// The figure compared.
    pub compared: Compared,
    /// Repetitions on each side.
    pub n: (usize, usize),
    /// MAD / median of wall time on each side.
    pub spread: (Option<f64>, Option<f64>),
}

/// An answer drawn from a rule.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The rule.
    pub rule: Rule,
    /// The heading of its evidence (its anchor is that heading's slug).
    pub heading: String,
    /// The comparison.
    pub evidence: Evidence,
    /// Whether the data supports it.
    pub support: Support,
    /// The same comparison under the real interpreter, where it ran both cells.
    pub real: Option<(String, Evidence, Support)>,
    /// How many candidates an allocator rule chose among (0 for the others).
    pub candidates: usize,
}

/// The phrase of a figure in a sentence: "the wall time".
pub fn figure_phrase(figure: Figure) -> &'static str {
    match figure {
        Figure::WallNs => "the wall time",
        Figure::PeakRssBytes => "the peak RSS",
        Figure::EndRssBytes => "the RSS kept at the end",
        Figure::PeakLiveBytes => "the peak live bytes",
        _ => "the figure",
    }
}

fn evidence(first: &Cell<'_>, second: &Cell<'_>, figure: Figure) -> Option<Evidence> {
    Some(Evidence {
        first: first.key.clone(),
        second: second.key.clone(),
        compared: Compared::of(first, second, figure)?,
        n: (first.ok.len(), second.ok.len()),
        spread: (first.wall_relative_mad(), second.wall_relative_mad()),
    })
}

fn ok_cells<'c, 'a>(cells: &'c BTreeMap<CellKey, Cell<'a>>) -> impl Iterator<Item = &'c Cell<'a>> {
    cells.values().filter(|c| !c.ok.is_empty())
}

/// The two cells of `strategy` on workloads `a` and `b` at the largest size both ran, at one thread count (the smallest).
fn workload_pair<'c, 'a>(
    cells: &'c BTreeMap<CellKey, Cell<'a>>,
    strategy: &str,
    a: &str,
    b: &str,
) -> Option<(&'c Cell<'a>, &'c Cell<'a>)> {
    let find = |workload: &str, size: u64, threads: u32| {
        cells
            .get(&CellKey { workload: workload.into(), strategy: strategy.into(), size, threads })
            .filter(|c| !c.ok.is_empty())
    };
    ok_cells(cells)
        .filter(|c| c.key.workload == a && c.key.strategy == strategy)
        .filter_map(|c| Some((c, find(b, c.key.size, c.key.threads)?)))
        .min_by_key(|(c, _)| (c.key.threads, std::cmp::Reverse(c.key.size)))
}

fn answer_of(
    rule: Rule,
    evidence: Evidence,
    real: Option<(String, Evidence, Support)>,
    candidates: usize,
) -> Answer {
    let heading = String::new();
    let support = Support::of(&evidence.compared);
    Answer { rule, heading, evidence, support, real, candidates }
}

fn workloads_answer(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    rule: Rule,
    idiom: &str,
    counterpart: &str,
) -> Option<Answer> {
    let (first, second) = [CPYTHON_BASELINE, FALLBACK_BASELINE, ALLOCATOR_BASELINE]
        .into_iter()
        .find_map(|strategy| workload_pair(cells, strategy, idiom, counterpart))?;
    let main = evidence(first, second, rule.figure)?;
    let mut real_strategies: Vec<&str> = ok_cells(cells)
        .map(|c| c.key.strategy.as_str())
        .filter(|s| s.starts_with(REAL_PYTHON_PREFIX))
        .collect();
    real_strategies.sort_unstable();
    real_strategies.dedup();
    let real = real_strategies.into_iter().rev().find_map(|strategy| {
        let (a, b) = workload_pair(cells, strategy, idiom, counterpart)?;
        let found = evidence(a, b, rule.figure)?;
        let support = Support::of(&found.compared);
        Some((strategy.to_owned(), found, support))
    });
    Some(answer_of(rule, main, real, 0))
}

fn allocators_answer(cells: &BTreeMap<CellKey, Cell<'_>>, rule: Rule, workload: &str) -> Option<Answer> {
    let mine: Vec<&Cell<'_>> = ok_cells(cells).filter(|c| c.key.workload == workload).collect();
    let baseline = [ALLOCATOR_BASELINE, CPYTHON_BASELINE, FALLBACK_BASELINE]
        .into_iter()
        .find(|s| mine.iter().any(|c| c.key.strategy == *s))?;
    let (collector, _) = split_strategy(baseline);
    // The baseline's cell at its most threads, then largest size.
    let base =
        mine.iter().filter(|c| c.key.strategy == baseline).max_by_key(|c| (c.key.threads, c.key.size))?;
    let rivals: Vec<&Cell<'_>> = mine
        .iter()
        .copied()
        .filter(|c| {
            c.key.size == base.key.size
                && c.key.threads == base.key.threads
                && c.key.strategy != baseline
                && !c.key.strategy.contains('@')
                && split_strategy(&c.key.strategy).0 == collector
        })
        .collect();
    let best = rivals
        .iter()
        .filter_map(|c| Some((*c, c.median(rule.figure)?)))
        .min_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then_with(|| strategy_order(&a.0.key.strategy).cmp(&strategy_order(&b.0.key.strategy)))
        })?
        .0;
    let found = evidence(best, base, rule.figure)?;
    Some(answer_of(rule, found, None, rivals.len() + 1))
}

fn versions_answers(cells: &BTreeMap<CellKey, Cell<'_>>, rule: Rule, workload: &str) -> Vec<Answer> {
    let mut versioned: Vec<&str> = ok_cells(cells)
        .filter(|c| c.key.workload == workload && c.key.strategy.contains('@'))
        .map(|c| c.key.strategy.as_str())
        .filter(|s| !s.starts_with(REAL_PYTHON_PREFIX))
        .collect();
    versioned.sort_unstable();
    versioned.dedup();
    versioned
        .into_iter()
        .filter_map(|strategy| {
            let base = strategy.split_once('@')?.0;
            let find = |s: &str, size: u64, threads: u32| {
                cells
                    .get(&CellKey { workload: workload.into(), strategy: s.into(), size, threads })
                    .filter(|c| !c.ok.is_empty())
            };
            let (first, second) = ok_cells(cells)
                .filter(|c| c.key.workload == workload && c.key.strategy == strategy)
                .filter_map(|c| Some((c, find(base, c.key.size, c.key.threads)?)))
                .min_by_key(|(c, _)| (c.key.threads, std::cmp::Reverse(c.key.size)))?;
            Some(answer_of(rule, evidence(first, second, rule.figure)?, None, 0))
        })
        .collect()
}

/// Every answer the rules find data for, supported or not, in the order of [`RULES`], each with its evidence heading.
pub fn answers(cells: &BTreeMap<CellKey, Cell<'_>>) -> Vec<Answer> {
    let mut found = Vec::new();
    for rule in RULES {
        match rule.compare {
            Compare::Workloads { idiom, counterpart } => {
                found.extend(workloads_answer(cells, *rule, idiom, counterpart))
            }
            Compare::Allocators { workload } => found.extend(allocators_answer(cells, *rule, workload)),
            Compare::Versions { workload } => found.extend(versions_answers(cells, *rule, workload)),
        }
    }
    for (index, answer) in found.iter_mut().enumerate() {
        answer.heading = format!(
            "Evidence {}: {} ({})",
            index + 1,
            answer.rule.topic,
            figure_phrase(answer.rule.figure).trim_start_matches("the ")
        );
    }
    found
}

/// The rules that found no data in this run, as `topic (figure)` phrases.
pub fn rules_without_data(answers: &[Answer]) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    for rule in RULES {
        let has = answers.iter().any(|a| a.rule.compare == rule.compare && a.rule.figure == rule.figure);
        let phrase = match rule.compare {
            Compare::Workloads { idiom, counterpart } => format!("`{idiom}` against `{counterpart}`"),
            Compare::Allocators { workload } => format!("allocators on `{workload}`"),
            Compare::Versions { workload } => format!("CPython versions on `{workload}`"),
        };
        let phrase = format!("{phrase} ({})", figure_phrase(rule.figure).trim_start_matches("the "));
        if !has && !missing.contains(&phrase) {
            missing.push(phrase);
        }
    }
    missing
}

impl CellKey {
    /// `workload` or `strategy` — whichever differs in a comparison is what the sentence names.
    pub fn label(&self) -> String {
        format!("{} {}", self.strategy, self.workload)
    }

    fn where_phrase(&self) -> String {
        let threads = if self.threads > 1 { format!(", {} threads", self.threads) } else { String::new() };
        format!("size {}{threads}", self.size)
    }
}

/// The anchor of a heading, as GitHub makes it: lower case, punctuation
/// other than `-` and `_` dropped, spaces to `-`.
pub fn slug(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().next().unwrap_or(c))
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

fn interval_text(compared: &Compared) -> String {
    match compared.ci {
        Some(ci) => format!("95% CI {}", format::interval(ci)),
        None => "no interval".into(),
    }
}

impl Answer {
    /// The link to its evidence.
    pub fn link(&self) -> String {
        format!("[evidence](#{})", slug(&self.heading))
    }

    /// The one sentence of a supported answer.
    pub fn sentence(&self) -> String {
        let e = &self.evidence;
        let c = &e.compared;
        let figure = figure_phrase(self.rule.figure);
        let effect = format!("{} {figure} ({}; {})", format::ratio(c.ratio), interval_text(c), c.verdict);
        let measured = match self.rule.compare {
            Compare::Workloads { .. } => format!(
                "under `{}` at {}, `{}` needs {effect} of `{}`",
                e.first.strategy,
                e.first.where_phrase(),
                e.first.workload,
                e.second.workload
            ),
            Compare::Allocators { .. } if c.ratio < 1.0 => format!(
                "on `{}` at {}, `{}` is the fastest of {} strategies and needs {effect} of `{}`",
                e.first.workload,
                e.first.where_phrase(),
                e.first.strategy,
                self.candidates,
                e.second.strategy
            ),
            Compare::Allocators { .. } => format!(
                "on `{}` at {}, no other allocator beats `{}`: the fastest, `{}`, needs {effect} of it",
                e.first.workload,
                e.first.where_phrase(),
                e.second.strategy,
                e.first.strategy
            ),
            Compare::Versions { .. } => format!(
                "on `{}` at {}, `{}` needs {effect} of `{}`",
                e.first.workload,
                e.first.where_phrase(),
                e.first.strategy,
                e.second.strategy
            ),
        };
        let verdict = if c.ratio < 1.0 || matches!(self.rule.compare, Compare::Allocators { .. }) {
            format!("**{}**", self.rule.idiom)
        } else {
            format!("**{}** — does not pay in this run", self.rule.idiom)
        };
        let real = match &self.real {
            Some((strategy, real, support)) => {
                let agrees = (real.compared.ratio < 1.0) == (c.ratio < 1.0);
                let word = match (support, agrees) {
                    (Support::Supported, true) => "confirms it",
                    (Support::Supported, false) => "contradicts it",
                    _ => "neither confirms nor contradicts it",
                };
                format!(
                    " Real CPython (`{strategy}`) {word}: {} ({}; {}).",
                    format::ratio(real.compared.ratio),
                    interval_text(&real.compared),
                    support.reason()
                )
            }
            None => String::new(),
        };
        format!("{verdict}: {measured} ({}).{real}", self.link())
    }

    /// The line of an answer the data does not support.
    pub fn unsupported_line(&self) -> String {
        let e = &self.evidence;
        format!(
            "{} ({}): `{}` against `{}` at {}: {} ({}) — {} ({}).",
            self.rule.idiom,
            figure_phrase(self.rule.figure).trim_start_matches("the "),
            e.first.label(),
            e.second.label(),
            e.first.where_phrase(),
            format::ratio(e.compared.ratio),
            interval_text(&e.compared),
            self.support.reason(),
            self.link()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::{cells as group, tests::run};

    fn runs(strategy: &str, workload: &str, size: u64, walls: &[u64], rss: u64) -> Vec<heaplab_core::Record> {
        walls
            .iter()
            .enumerate()
            .map(|(rep, wall)| {
                let mut record = run(strategy, workload, size, *wall, rss);
                record.rep = rep as u32;
                record
            })
            .collect()
    }

    #[test]
    fn slugs_are_githubs() {
        assert_eq!(
            slug("Evidence 1: chunking (peak RSS, `a` against `b+c`)"),
            "evidence-1-chunking-peak-rss-a-against-bc"
        );
    }

    #[test]
    fn a_clear_difference_is_supported_and_noise_is_not() {
        let mut records = runs("cycle+pymalloc", "array-sum", 1000, &[100, 101, 99, 100, 102], 10);
        records.extend(runs("cycle+pymalloc", "boxed-sum", 1000, &[400, 402, 398, 401, 399], 40));
        let cells = group(&records);
        let found = answers(&cells);
        let wall = found.iter().find(|a| a.rule.figure == Figure::WallNs).unwrap();
        assert_eq!(wall.support, Support::Supported);
        assert!(wall.sentence().contains("0.25x the wall time"), "{}", wall.sentence());

        let mut records = runs("cycle+pymalloc", "array-sum", 1000, &[100, 300, 180, 90, 250], 10);
        records.extend(runs("cycle+pymalloc", "boxed-sum", 1000, &[120, 310, 170, 95, 240], 40));
        let cells = group(&records);
        let found = answers(&cells);
        let wall = found.iter().find(|a| a.rule.figure == Figure::WallNs).unwrap();
        assert_ne!(wall.support, Support::Supported);
    }

    #[test]
    fn the_fastest_allocator_at_the_most_threads() {
        let mut records = Vec::new();
        for (allocator, wall) in [("pymalloc", 200), ("mimalloc", 100), ("system", 150)] {
            for mut record in runs(allocator, "larson", 100, &[wall, wall + 1, wall - 1, wall + 2], 10) {
                record.collector = String::new();
                record.threads = 4;
                records.push(record);
            }
        }
        let cells = group(&records);
        let found = answers(&cells);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].evidence.first.strategy, "mimalloc");
        assert!(found[0].sentence().contains("fastest of 3 strategies"), "{}", found[0].sentence());
    }

    #[test]
    fn versions_compare_with_their_default() {
        let mut records = runs("cycle+pymalloc", "bulk-load", 10, &[100, 101, 99, 100], 10);
        records.extend(runs("cycle+pymalloc@3.14", "bulk-load", 10, &[80, 81, 79, 80], 10));
        let cells = group(&records);
        let found = answers(&cells);
        assert_eq!(found.len(), 1);
        assert!(found[0].sentence().contains("`cycle+pymalloc@3.14` needs 0.80x"), "{}", found[0].sentence());
    }
}
