//! The questions asked of every workload — what the cycle detector and
//! tracing cost, which strategy is fastest, which allocator is fastest — as
//! data, one answer per workload, and how the answers read: a sentence each
//! where there are few; past [`FULL_LIST_LIMIT`], a summary, the telling
//! cases in full, and every workload in a table, so that a sweep of twenty
//! workloads keeps its findings short without losing a figure.

use std::collections::BTreeMap;

use super::analysis::{
    Cell, CellKey, Compared, Figure, base_threads, baseline_for, is_allocator_workload, largest_common_size,
    ok_cell, split_strategy, strategy_order,
};
use super::format;
use super::stats::{self, Verdict, geometric_mean};

/// A question's sentences are all listed up to this many; past it, the
/// question is summarised and its per-workload detail goes into a table.
pub const FULL_LIST_LIMIT: usize = 8;

/// Per-workload detail that a summarised question gives as a table.
#[derive(Clone, Debug, PartialEq)]
pub struct DetailTable {
    /// What the table shows, as a sentence.
    pub caption: String,
    /// The column names.
    pub header: Vec<String>,
    /// The rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

/// How a question is answered in the report: sentences, and tables where it was summarised.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// The sentences, each with its numbers.
    pub sentences: Vec<String>,
    /// The per-workload detail behind a summary.
    pub details: Vec<DetailTable>,
}

/// A verdict as a remark inside parentheses: nothing when significant; `unstable` where a cell is.
fn inline_note(compared: Compared, single: bool) -> String {
    let verdict = match compared.verdict {
        Verdict::Significant { .. } => "",
        Verdict::NotSignificant { .. } => ", not significant",
        Verdict::Untested if single => "",
        Verdict::Untested => ", untested",
    };
    let unstable = if compared.unstable { format!(", {}", format::UNSTABLE) } else { String::new() };
    format!("{verdict}{unstable}")
}

/// A verdict after a figure in a table: nothing when significant or when every cell ran once; `unstable` where a cell is.
fn verdict_suffix(compared: Compared, single: bool) -> String {
    let verdict = match compared.verdict {
        Verdict::Significant { .. } => "",
        Verdict::NotSignificant { .. } => " (not significant)",
        Verdict::Untested if single => "",
        Verdict::Untested => " (untested)",
    };
    let unstable = if compared.unstable { format!(" {}", format::UNSTABLE) } else { String::new() };
    format!("{verdict}{unstable}")
}

/// A ratio for a table cell, with its verdict unless every cell ran once.
fn ratio_cell(compared: Option<Compared>, single: bool) -> String {
    match compared {
        Some(c) if single => format::ratio(c.ratio),
        Some(c) => c.cell(),
        None => "–".into(),
    }
}

/// `size`, with the thread count where it is more than one.
fn size_and_threads(size: u64, threads: u32) -> String {
    if threads > 1 { format!("{size} ({threads} threads)") } else { size.to_string() }
}

/// `` `a`, `b` and `c` ``.
fn names_in_prose(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What `second` costs against `first` on one workload, at the largest size both ran.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    /// The workload.
    pub workload: String,
    /// The largest size both ran successfully, at the workload's fewest threads.
    pub size: u64,
    /// The strategy measured against.
    pub first: &'static str,
    /// The strategy whose cost this is.
    pub second: &'static str,
    /// `second`'s wall time against `first`'s.
    pub wall: Compared,
    /// `second`'s peak RSS against `first`'s.
    pub rss: Option<Compared>,
    /// `second`'s collections (median).
    pub collections: Option<f64>,
}

impl Cost {
    /// The cost on `workload`, where both strategies ran it at a common size.
    pub fn of(
        cells: &BTreeMap<CellKey, Cell<'_>>,
        workload: &str,
        first: &'static str,
        second: &'static str,
    ) -> Option<Cost> {
        let threads = base_threads(cells, workload)?;
        let size = largest_common_size(cells, workload, &[first, second], threads)?;
        let (a, b) = (
            ok_cell(cells, workload, second, size, threads)?,
            ok_cell(cells, workload, first, size, threads)?,
        );
        Some(Cost {
            workload: workload.to_owned(),
            size,
            first,
            second,
            wall: Compared::of(a, b, Figure::WallNs)?,
            rss: Compared::of(a, b, Figure::PeakRssBytes),
            collections: a.median(Figure::Collections),
        })
    }

    fn collector(&self) -> &str {
        split_strategy(self.second).0
    }

    /// The finding in full: wall time, peak RSS and collections.
    pub fn sentence(&self) -> String {
        let (workload, first, second) = (&self.workload, self.first, self.second);
        let mut sentence = format!(
            "On `{workload}` at size {}, `{second}` takes {} the wall time of `{first}` ({} against {}){}",
            self.size,
            format::ratio(self.wall.ratio),
            format::duration_ns(self.wall.first),
            format::duration_ns(self.wall.second),
            self.wall.note(),
        );
        if let Some(rss) = self.rss {
            sentence.push_str(&format!(
                " and peaks at {} its RSS ({} against {}){}",
                format::ratio(rss.ratio),
                format::bytes(rss.first),
                format::bytes(rss.second),
                rss.note()
            ));
        }
        if let Some(collections) = self.collections {
            sentence.push_str(&format!(
                ", with {} collections by `{}`",
                format::count(collections),
                self.collector()
            ));
        }
        sentence.push('.');
        sentence
    }
}

/// How one ratio spreads over workloads.
enum Spread {
    /// Every workload's ratio reads the same.
    Same(String),
    /// From the lowest (with its workload) to the highest, and the geometric mean.
    Range { low: String, high: String, mean: String },
}

/// How `pick`'s ratio spreads over `costs`; `None` where no cost has it.
fn spread_of(costs: &[&Cost], pick: impl Fn(&Cost) -> Option<Compared>) -> Option<Spread> {
    let picked: Vec<(&Cost, Compared)> = costs.iter().filter_map(|c| Some((*c, pick(c)?))).collect();
    let lowest = picked.iter().min_by(|a, b| a.1.ratio.total_cmp(&b.1.ratio))?;
    let highest = picked.iter().max_by(|a, b| a.1.ratio.total_cmp(&b.1.ratio))?;
    if format::ratio(lowest.1.ratio) == format::ratio(highest.1.ratio) {
        return Some(Spread::Same(format::ratio(lowest.1.ratio)));
    }
    let ratios: Vec<f64> = picked.iter().map(|(_, c)| c.ratio).collect();
    Some(Spread::Range {
        low: format!("{} (`{}`)", format::ratio(lowest.1.ratio), lowest.0.workload),
        high: format!("{} (`{}`)", format::ratio(highest.1.ratio), highest.0.workload),
        mean: format::ratio(geometric_mean(&ratios)?),
    })
}

/// A summary of one comparison over every workload, the workloads where it
/// costs most and least in full, and the table of every workload.
fn summarise_costs(costs: &[&Cost], single: bool) -> Answer {
    let Some(first_cost) = costs.first() else { return Answer::default() };
    let (first, second) = (first_cost.first, first_cost.second);
    let mut sentences = Vec::new();
    if let Some(wall) = spread_of(costs, |c| Some(c.wall)) {
        let n = costs.len();
        let verdicts: Vec<Verdict> = costs.iter().map(|c| c.wall.verdict).collect();
        let unstable = costs.iter().filter(|c| c.wall.unstable).count();
        let tested = if single {
            String::new()
        } else {
            let unstable =
                if unstable > 0 { format!("; {unstable} rest on an unstable cell") } else { String::new() };
            format!(" ({}{unstable})", stats::significance_count(&verdicts))
        };
        let mut sentence = match wall {
            Spread::Same(ratio) => format!(
                "Over {n} workloads, each at the largest size both ran, `{second}` takes {ratio} the wall time of `{first}` on each{tested}"
            ),
            Spread::Range { low, high, mean } => format!(
                "Over {n} workloads, each at the largest size both ran, `{second}` takes from {low} to {high} the wall time of `{first}`, {mean} in geometric mean{tested}"
            ),
        };
        match spread_of(costs, |c| c.rss) {
            Some(Spread::Same(ratio)) => {
                sentence.push_str(&format!("; its peak RSS is {ratio} of `{first}`'s on each"));
            }
            Some(Spread::Range { low, high, mean }) => sentence.push_str(&format!(
                "; its peak RSS is {low} to {high} of `{first}`'s, {mean} in geometric mean"
            )),
            None => {}
        }
        sentence.push('.');
        sentences.push(sentence);
    }
    let most = costs.iter().max_by(|a, b| a.wall.ratio.total_cmp(&b.wall.ratio));
    let least = costs.iter().min_by(|a, b| a.wall.ratio.total_cmp(&b.wall.ratio));
    if let (Some(most), Some(least)) = (most, least) {
        sentences.push(most.sentence());
        if least.workload != most.workload {
            sentences.push(least.sentence());
        }
    }
    let collector = first_cost.collector().to_owned();
    let header = [
        "workload".to_owned(),
        "size".to_owned(),
        "wall time".to_owned(),
        format!("`{second}`"),
        format!("`{first}`"),
        "peak RSS".to_owned(),
        format!("collections by `{collector}`"),
    ]
    .to_vec();
    let rows = costs
        .iter()
        .map(|c| {
            vec![
                format!("`{}`", c.workload),
                c.size.to_string(),
                ratio_cell(Some(c.wall), single),
                format::duration_ns(c.wall.first),
                format::duration_ns(c.wall.second),
                ratio_cell(c.rss, single),
                c.collections.map(format::count).unwrap_or_else(|| "–".into()),
            ]
        })
        .collect();
    Answer {
        sentences,
        details: vec![DetailTable {
            caption: format!(
                "`{second}` against `{first}` on every workload, at the largest size both ran: ratios of medians (wall time, peak RSS) and the medians of wall time."
            ),
            header,
            rows,
        }],
    }
}

/// What each comparison (`first`, `second`) costs on every workload: in full
/// where there are few findings, summarised with a table per comparison otherwise.
pub fn cost_answer(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workloads: &[&String],
    comparisons: &[(&'static str, &'static str)],
    single: bool,
) -> Answer {
    let costs: Vec<Cost> = workloads
        .iter()
        .flat_map(|w| comparisons.iter().filter_map(|(first, second)| Cost::of(cells, w, first, second)))
        .collect();
    if costs.len() <= FULL_LIST_LIMIT {
        return Answer { sentences: costs.iter().map(Cost::sentence).collect(), details: Vec::new() };
    }
    let mut answer = Answer::default();
    for (first, second) in comparisons {
        let mine: Vec<&Cost> = costs.iter().filter(|c| c.first == *first && c.second == *second).collect();
        let part = summarise_costs(&mine, single);
        answer.sentences.extend(part.sentences);
        answer.details.extend(part.details);
    }
    answer
}

/// The fastest strategy on one workload at its largest size, against the baseline and the runner-up.
#[derive(Clone, Debug, PartialEq)]
pub struct Fastest {
    /// The workload.
    pub workload: String,
    /// The largest size the baseline ran.
    pub size: u64,
    /// The workload's fewest threads.
    pub threads: u32,
    /// The workload's baseline.
    pub baseline: &'static str,
    /// The strategy with the highest median throughput.
    pub best: String,
    /// Its median throughput, ops/s.
    pub best_ops: f64,
    /// The strategy with the second highest.
    pub runner_up: String,
    /// The best's throughput against the baseline's; `None` where the best is the baseline.
    pub against_baseline: Option<Compared>,
    /// The best's throughput against the runner-up's.
    pub against_runner_up: Compared,
}

impl Fastest {
    /// The fastest strategy on `workload`, where at least two strategies ran at the baseline's largest size.
    pub fn of(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<Fastest> {
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
        let (best, runner_up) = (ranked[0].0, ranked[1].0);
        let baseline_cell = ok_cell(cells, workload, baseline, size, threads)?;
        let against_baseline = if best.key.strategy == baseline {
            None
        } else {
            Some(Compared::of(best, baseline_cell, Figure::OpsPerS)?)
        };
        Some(Fastest {
            workload: workload.to_owned(),
            size,
            threads,
            baseline,
            best: best.key.strategy.clone(),
            best_ops: ranked[0].1,
            runner_up: runner_up.key.strategy.clone(),
            against_baseline,
            against_runner_up: Compared::of(best, runner_up, Figure::OpsPerS)?,
        })
    }

    /// The finding in full.
    pub fn sentence(&self) -> String {
        let (workload, size, baseline) = (&self.workload, self.size, self.baseline);
        let threads_note =
            if self.threads > 1 { format!(" with {} threads", self.threads) } else { String::new() };
        let Some(against_baseline) = self.against_baseline else {
            return format!(
                "On `{workload}` at size {size}{threads_note}, the baseline `{baseline}` has the highest throughput ({} ops/s); the runner-up `{}` reaches {} of it{}.",
                format::rate(self.best_ops),
                self.runner_up,
                format::ratio(1.0 / self.against_runner_up.ratio),
                self.against_runner_up.note()
            );
        };
        let mut sentence = format!(
            "On `{workload}` at size {size}{threads_note}, `{}` has the highest throughput: {} that of `{baseline}` ({} against {} ops/s){}",
            self.best,
            format::ratio(against_baseline.ratio),
            format::rate(against_baseline.first),
            format::rate(against_baseline.second),
            against_baseline.note()
        );
        if self.runner_up != baseline {
            sentence.push_str(&format!(
                " and {} that of the runner-up `{}`{}",
                format::ratio(self.against_runner_up.ratio),
                self.runner_up,
                self.against_runner_up.note()
            ));
        }
        sentence.push('.');
        sentence
    }

    /// This workload as an item of a summary: how far ahead the best is.
    fn summary_item(&self, single: bool) -> String {
        match self.against_baseline {
            Some(c) => format!(
                "`{}` ({} `{}`{})",
                self.workload,
                format::ratio(c.ratio),
                self.baseline,
                inline_note(c, single)
            ),
            None => format!(
                "`{}` (the baseline; {} the runner-up `{}`{})",
                self.workload,
                format::ratio(self.against_runner_up.ratio),
                self.runner_up,
                inline_note(self.against_runner_up, single)
            ),
        }
    }
}

/// Groups answers by their winner: most wins first, then in presentation order.
fn by_winner<T>(items: &[T], winner: impl Fn(&T) -> &str) -> Vec<(String, Vec<&T>)> {
    let mut groups: Vec<(String, Vec<&T>)> = Vec::new();
    for item in items {
        let name = winner(item);
        match groups.iter_mut().find(|(w, _)| w == name) {
            Some((_, members)) => members.push(item),
            None => groups.push((name.to_owned(), vec![item])),
        }
    }
    groups.sort_by(|a, b| {
        b.1.len().cmp(&a.1.len()).then_with(|| strategy_order(&a.0).cmp(&strategy_order(&b.0)))
    });
    groups
}

/// The fastest strategy on every workload: a sentence each where there are
/// few; otherwise a sentence per winning strategy and a table.
pub fn fastest_answer(cells: &BTreeMap<CellKey, Cell<'_>>, workloads: &[String], single: bool) -> Answer {
    let answers: Vec<Fastest> = workloads.iter().filter_map(|w| Fastest::of(cells, w)).collect();
    if answers.len() <= FULL_LIST_LIMIT {
        return Answer { sentences: answers.iter().map(Fastest::sentence).collect(), details: Vec::new() };
    }
    let n = answers.len();
    let sentences = by_winner(&answers, |a| &a.best)
        .into_iter()
        .map(|(winner, wins)| {
            let items: Vec<String> = wins.iter().map(|a| a.summary_item(single)).collect();
            format!(
                "`{winner}` has the highest throughput on {} of the {n} workloads, each at its largest size: {}.",
                wins.len(),
                names_in_prose(&items)
            )
        })
        .collect();
    let header = [
        "workload",
        "size",
        "fastest",
        "ops/s",
        "against the baseline",
        "runner-up",
        "against the runner-up",
    ]
    .map(String::from)
    .to_vec();
    let rows = answers
        .iter()
        .map(|a| {
            vec![
                format!("`{}`", a.workload),
                size_and_threads(a.size, a.threads),
                format!("`{}`", a.best),
                format::rate(a.best_ops),
                match a.against_baseline {
                    Some(c) => {
                        format!("{} `{}`{}", format::ratio(c.ratio), a.baseline, verdict_suffix(c, single))
                    }
                    None => "(the baseline)".into(),
                },
                format!("`{}`", a.runner_up),
                ratio_cell(Some(a.against_runner_up), single),
            ]
        })
        .collect();
    Answer {
        sentences,
        details: vec![DetailTable {
            caption: "The fastest strategy on every workload at the baseline's largest size: throughput (median ops/s) and its ratio to the baseline's and to the runner-up's.".into(),
            header,
            rows,
        }],
    }
}

/// The fastest allocator on one workload: under the baseline's collector for
/// heap workloads, at the most threads for allocator workloads.
#[derive(Clone, Debug, PartialEq)]
pub struct FastestAllocator {
    /// The workload.
    pub workload: String,
    /// The largest size at which two allocators or more ran.
    pub size: u64,
    /// The thread count compared at.
    pub threads: u32,
    /// The collector over the allocators (empty for allocator workloads).
    pub collector: String,
    /// The allocator with the highest median throughput.
    pub best: String,
    /// The allocator with the second highest.
    pub runner_up: String,
    /// The best's throughput against the runner-up's.
    pub against_runner_up: Compared,
    /// The best's throughput against `pymalloc`'s, where `pymalloc` is neither the best nor the runner-up.
    pub against_pymalloc: Option<Compared>,
}

impl FastestAllocator {
    /// The fastest allocator on `workload`, where two or more ran at one size.
    pub fn of(cells: &BTreeMap<CellKey, Cell<'_>>, workload: &str) -> Option<FastestAllocator> {
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
        let pymalloc = ranked.iter().find(|(c, _)| c.allocator == "pymalloc").map(|(c, _)| *c);
        let against_pymalloc = match pymalloc.filter(|p| p.key != best.key && p.key != second.key) {
            Some(pymalloc) => Some(Compared::of(best, pymalloc, Figure::OpsPerS)?),
            None => None,
        };
        Some(FastestAllocator {
            workload: workload.to_owned(),
            size,
            threads,
            collector: collector.to_owned(),
            best: best.allocator.clone(),
            runner_up: second.allocator.clone(),
            against_runner_up: Compared::of(best, second, Figure::OpsPerS)?,
            against_pymalloc,
        })
    }

    /// Where the allocators were compared, as the start of a sentence.
    fn setting(&self) -> String {
        let (workload, size, threads) = (&self.workload, self.size, self.threads);
        if self.collector.is_empty() {
            format!(
                "On `{workload}` at size {size} with {threads} thread{}",
                if threads == 1 { "" } else { "s" }
            )
        } else {
            format!("With the `{}` collector on `{workload}` at size {size}", self.collector)
        }
    }

    /// The finding in full.
    pub fn sentence(&self) -> String {
        let mut sentence = format!(
            "{}, `{}` is the fastest allocator: {} the throughput of the runner-up `{}`{}",
            self.setting(),
            self.best,
            format::ratio(self.against_runner_up.ratio),
            self.runner_up,
            self.against_runner_up.note()
        );
        if let Some(pymalloc) = self.against_pymalloc {
            sentence.push_str(&format!(
                " and {} that of `pymalloc`{}",
                format::ratio(pymalloc.ratio),
                pymalloc.note()
            ));
        }
        sentence.push('.');
        sentence
    }
}

/// The fastest allocator on every workload: a sentence each where there are
/// few; otherwise a sentence per winning allocator and a table.
pub fn fastest_allocator_answer(
    cells: &BTreeMap<CellKey, Cell<'_>>,
    workloads: &[String],
    single: bool,
) -> Answer {
    let answers: Vec<FastestAllocator> =
        workloads.iter().filter_map(|w| FastestAllocator::of(cells, w)).collect();
    if answers.len() <= FULL_LIST_LIMIT {
        return Answer {
            sentences: answers.iter().map(FastestAllocator::sentence).collect(),
            details: Vec::new(),
        };
    }
    let n = answers.len();
    let sentences = by_winner(&answers, |a| &a.best)
        .into_iter()
        .map(|(winner, wins)| {
            let items: Vec<String> = wins
                .iter()
                .map(|a| {
                    format!(
                        "`{}` ({} the runner-up `{}`{})",
                        a.workload,
                        format::ratio(a.against_runner_up.ratio),
                        a.runner_up,
                        inline_note(a.against_runner_up, single)
                    )
                })
                .collect();
            format!(
                "`{winner}` is the fastest allocator on {} of the {n} workloads (under the baseline's collector, or alone at the most threads): {}.",
                wins.len(),
                names_in_prose(&items)
            )
        })
        .collect();
    let header =
        ["workload", "under", "size", "fastest", "runner-up", "against the runner-up", "against `pymalloc`"]
            .map(String::from)
            .to_vec();
    let rows = answers
        .iter()
        .map(|a| {
            vec![
                format!("`{}`", a.workload),
                if a.collector.is_empty() {
                    format!("{} thread{}", a.threads, if a.threads == 1 { "" } else { "s" })
                } else {
                    format!("`{}`", a.collector)
                },
                a.size.to_string(),
                format!("`{}`", a.best),
                format!("`{}`", a.runner_up),
                ratio_cell(Some(a.against_runner_up), single),
                ratio_cell(a.against_pymalloc, single),
            ]
        })
        .collect();
    Answer {
        sentences,
        details: vec![DetailTable {
            caption: "The fastest allocator on every workload: under the baseline's collector for heap workloads, alone at the most threads for allocator workloads; ratios of median throughput. `pymalloc`'s column is empty where it is the fastest or the runner-up.".into(),
            header,
            rows,
        }],
    }
}
