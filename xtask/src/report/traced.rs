//! Traced programs: for each program whose allocation trace the sweep
//! replayed (`cargo xtask bench --traces DIR`, workloads
//! `trace-replay-<program>`), each allocator's replay time and peak memory
//! against pymalloc's, and the pymalloc arenas the program held when it
//! exited. Pure functions of `runs.jsonl` (the phases) and `runs.csv`.
//!
//! - **Replay time** is the `replay` phase (the program's calls, in order;
//!   not the reading of the trace, the id table or the release of what the
//!   program held at exit), else the run's wall time where `runs.jsonl` is
//!   missing.
//! - **Peak RSS** is the whole process's, the parsed trace included (the same
//!   on every allocator); **the replay's own peak** is peak RSS less the RSS
//!   at the end of the `prepare` phase (trace read, table made, nothing
//!   allocated yet).
//! - **Arenas at exit** are pymalloc's arenas allocated at the end of the
//!   `replay` phase, when the allocator holds what the program held at its
//!   exit, with the highwater mark of the run.

use std::collections::BTreeMap;

use heaplab_core::record::param;
use heaplab_core::{Record, Status};

use super::analysis::{ALLOCATOR_BASELINE, strategy_order};
use super::document::Document;
use super::format;
use super::stats::{Verdict, bootstrap_ratio_ci, compare_samples, is_unstable, median, seed_of};
use crate::results::ResultsDir;

pub use crate::layout::traced_program;

/// One successful run's figures.
#[derive(Clone, Debug, Default, PartialEq)]
struct RunFigures {
    replay_ns: f64,
    calls: Option<f64>,
    peak_rss: Option<f64>,
    own_peak: Option<f64>,
    arenas_at_exit: Option<u64>,
    arenas_highwater: Option<u64>,
    arena_size: Option<u64>,
}

/// One allocator's runs on one program.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AllocatorRuns {
    /// The strategy (an allocator).
    pub strategy: String,
    runs: Vec<RunFigures>,
    /// Runs that did not finish.
    pub failed: usize,
}

impl AllocatorRuns {
    fn values(&self, figure: impl Fn(&RunFigures) -> Option<f64>) -> Vec<f64> {
        self.runs.iter().filter_map(figure).collect()
    }

    fn replay(&self) -> Vec<f64> {
        self.values(|run| Some(run.replay_ns))
    }

    fn peak_rss(&self) -> Vec<f64> {
        self.values(|run| run.peak_rss)
    }

    fn own_peak(&self) -> Vec<f64> {
        self.values(|run| run.own_peak)
    }
}

/// One traced program at one size (times replayed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// The program (the trace file's stem).
    pub program: String,
    /// Times the trace was replayed.
    pub size: u64,
    /// `params` facts of its runs: pyperformance's and Python's versions, the loops.
    pub facts: Vec<(String, String)>,
    /// One entry per allocator, pymalloc first.
    pub allocators: Vec<AllocatorRuns>,
    /// The program itself under each real strategy (`program-<program>`), pymalloc first;
    /// `replay_ns` holds the run's wall time.
    pub real: Vec<AllocatorRuns>,
}

/// The figures of one finished run: from its phases where present, else from its record.
fn figures(record: &Record, phases: Option<&[heaplab_core::PhaseRecord]>) -> Option<RunFigures> {
    let phase = |name: &str| phases.and_then(|phases| phases.iter().find(|phase| phase.name == name));
    let replay = phase("replay");
    let replay_ns = replay.map(|phase| phase.duration_ns as f64).or(record.wall_ns.map(|ns| ns as f64))?;
    let peak_rss = record.peak_rss_bytes.map(|bytes| bytes as f64);
    let own_peak = match (record.peak_rss_bytes, phase("prepare")) {
        (Some(peak), Some(prepare)) => Some(peak.saturating_sub(prepare.rss_bytes) as f64),
        _ => None,
    };
    let arenas = replay.and_then(|phase| phase.alloc.arenas.as_ref());
    let highwater = phases.and_then(|phases| {
        phases.iter().filter_map(|phase| phase.alloc.arenas.as_ref()).map(|a| a.arenas_highwater).max()
    });
    Some(RunFigures {
        replay_ns,
        calls: record.ops.map(|ops| ops as f64 / record.size.max(1) as f64),
        peak_rss,
        own_peak,
        arenas_at_exit: arenas.map(|a| a.arenas_current),
        arenas_highwater: highwater,
        arena_size: arenas.map(|a| a.arena_size),
    })
}

/// Every traced program in `results`, sorted by program and size.
pub fn programs(results: &ResultsDir) -> Vec<Program> {
    // The phases of each run, by its identity; runs.jsonl may be absent (then the records alone).
    type RunId = (String, String, u64, u32, u32);
    let id = |r: &Record| (r.strategy.clone(), r.workload.clone(), r.size, r.threads, r.rep);
    let phases: BTreeMap<RunId, &[heaplab_core::PhaseRecord]> =
        results.reports.iter().map(|report| (id(&report.record), report.phases.as_slice())).collect();
    let mut by_program: BTreeMap<(String, u64), Program> = BTreeMap::new();
    for record in &results.records {
        let Some((program, is_real)) = traced_program(&record.workload) else { continue };
        let entry = by_program.entry((program.to_owned(), record.size)).or_insert_with(|| Program {
            program: program.to_owned(),
            size: record.size,
            ..Program::default()
        });
        for key in ["pyperformance", "python", "loops"] {
            if let Some(value) = param(&record.params, key)
                && !entry.facts.iter().any(|(k, _)| k == key)
            {
                entry.facts.push((key.to_owned(), value.to_owned()));
            }
        }
        let list = if is_real { &mut entry.real } else { &mut entry.allocators };
        let runs = match list.iter().position(|a| a.strategy == record.strategy) {
            Some(index) => &mut list[index],
            None => {
                list.push(AllocatorRuns { strategy: record.strategy.clone(), ..AllocatorRuns::default() });
                list.last_mut().expect("just pushed")
            }
        };
        let found = match record.status {
            Status::Ok if is_real => record.wall_ns.map(|wall| RunFigures {
                replay_ns: wall as f64,
                peak_rss: record.peak_rss_bytes.map(|bytes| bytes as f64),
                ..RunFigures::default()
            }),
            Status::Ok => figures(record, phases.get(&id(record)).copied()),
            _ => None,
        };
        match found {
            Some(run) => runs.runs.push(run),
            None => runs.failed += 1,
        }
    }
    let mut programs: Vec<Program> = by_program.into_values().collect();
    for program in &mut programs {
        program.allocators.sort_by_key(|a| (a.strategy != ALLOCATOR_BASELINE, strategy_order(&a.strategy)));
        program.real.sort_by_key(|a| {
            (real_allocator(&a.strategy) != ALLOCATOR_BASELINE, strategy_order(&a.strategy))
        });
    }
    programs
}

/// `first` against `second`: the ratio of medians, with the interval and verdict where both have repetitions.
fn ratio_text(first: &[f64], second: &[f64], label: &str) -> String {
    let (Some(a), Some(b)) = (median(first), median(second)) else { return "–".into() };
    if b <= 0.0 {
        return "–".into();
    }
    let verdict = compare_samples(first, second);
    if verdict == Verdict::Untested {
        return format::ratio(a / b);
    }
    let ci = bootstrap_ratio_ci(first, second, seed_of(label));
    format::ratio_cell(a / b, ci, verdict, is_unstable(first) || is_unstable(second))
}

fn median_text(values: &[f64], show: fn(f64) -> String) -> String {
    median(values).map(show).unwrap_or_else(|| "–".into())
}

/// The "Traced programs" section; nothing when no trace was replayed.
pub fn section(document: &mut Document, results: &ResultsDir) {
    let programs = programs(results);
    if programs.is_empty() {
        return;
    }
    document.folded_heading("Traced programs");
    document.paragraph(format!(
        "Each program's allocation calls, recorded through the preload library (`cargo xtask pyperf` for pyperformance's benchmarks, `cargo xtask trace` for any command) and replayed in order on each allocator (`trace-replay-<program>`). Replay time is the `replay` phase — the program's calls and nothing else — and per call is that over the calls replayed; peak RSS is the whole process's, the parsed trace included; the replay's own peak is peak RSS less the RSS before the first call (the end of the `prepare` phase). Ratios are against `{ALLOCATOR_BASELINE}` within this run (medians; with repetitions, the 95% bootstrap interval and the test's verdict). pymalloc's arenas are those it held at the end of the replay, when it holds what the program held at its exit, and the highest count during the run."
    ));
    for program in &programs {
        let times =
            if program.size == 1 { String::new() } else { format!(", replayed {} times", program.size) };
        let facts: Vec<String> = program.facts.iter().map(|(key, value)| format!("{key} {value}")).collect();
        let calls = program
            .allocators
            .iter()
            .flat_map(|a| a.runs.iter().filter_map(|run| run.calls))
            .next()
            .map(|calls| format!("{} calls", format::count(calls)))
            .unwrap_or_default();
        let about =
            [calls].into_iter().chain(facts).filter(|text| !text.is_empty()).collect::<Vec<_>>().join(", ");
        document.heading(3, format!("`{}`{times}", program.program));
        if !about.is_empty() {
            document.paragraph(format!("{about}."));
        }
        let baseline = program.allocators.iter().find(|a| a.strategy == ALLOCATOR_BASELINE);
        let header = [
            "allocator",
            "runs",
            "replay time",
            "per call",
            "time / pymalloc",
            "peak RSS",
            "RSS / pymalloc",
            "replay's own peak",
            "own peak / pymalloc",
        ]
        .map(String::from)
        .to_vec();
        let mut rows = Vec::new();
        for allocator in &program.allocators {
            let replay = allocator.replay();
            let per_call: Vec<f64> = allocator
                .runs
                .iter()
                .filter_map(|run| {
                    run.calls.filter(|&c| c > 0.0).map(|c| run.replay_ns / (c * program.size as f64))
                })
                .collect();
            let against = |values: Vec<f64>, base: Option<Vec<f64>>, what: &str| match base {
                Some(base) if allocator.strategy != ALLOCATOR_BASELINE => {
                    ratio_text(&values, &base, &format!("{}/{}/{what}", program.program, allocator.strategy))
                }
                Some(_) => "1".into(),
                None => "–".into(),
            };
            let runs = if allocator.failed > 0 {
                format!("{} ({} failed)", allocator.runs.len(), allocator.failed)
            } else {
                allocator.runs.len().to_string()
            };
            rows.push(vec![
                format!("`{}`", allocator.strategy),
                runs,
                median_text(&replay, format::duration_ns),
                median_text(&per_call, format::duration_ns),
                against(replay.clone(), baseline.map(AllocatorRuns::replay), "replay"),
                median_text(&allocator.peak_rss(), format::bytes),
                against(allocator.peak_rss(), baseline.map(AllocatorRuns::peak_rss), "rss"),
                median_text(&allocator.own_peak(), format::bytes),
                against(allocator.own_peak(), baseline.map(AllocatorRuns::own_peak), "own"),
            ]);
        }
        document.table(header, rows);
        if let Some(line) = baseline.and_then(arenas_sentence) {
            document.paragraph(line);
        }
        real_table(document, program, baseline);
    }
}

/// The allocator of a real strategy's name: `python@3.11+jemalloc` is jemalloc.
fn real_allocator(strategy: &str) -> &str {
    strategy.rsplit_once('+').map_or(strategy, |(_, allocator)| allocator)
}

/// The program itself under each real strategy, beside what its replay said of the same
/// allocator: how much of an allocator's effect on the calls reaches the whole program.
fn real_table(document: &mut Document, program: &Program, baseline: Option<&AllocatorRuns>) {
    if program.real.is_empty() {
        return;
    }
    document.paragraph(format!(
        "The program itself, run once per repetition in one process under the real interpreter on each allocator (`{}`: pyperf's worker, the traced run's loops; `PYTHONMALLOC=malloc` and the preload library for jemalloc and mimalloc). Its wall time holds the interpreter's start-up and everything the program does besides allocating; \"the replay said\" is the same allocator's replay time against pymalloc's, from the table above.",
        crate::layout::program_workload(&program.program)
    ));
    let real_baseline = program.real.iter().find(|a| real_allocator(&a.strategy) == ALLOCATOR_BASELINE);
    let header =
        ["strategy", "runs", "wall time", "time / pymalloc", "the replay said", "peak RSS", "RSS / pymalloc"]
            .map(String::from)
            .to_vec();
    let mut rows = Vec::new();
    for real in &program.real {
        let allocator = real_allocator(&real.strategy);
        let label = |what: &str| format!("{}/{}/{what}", program.program, real.strategy);
        let against = |values: Vec<f64>, base: Option<Vec<f64>>, what: &str| match base {
            Some(_) if allocator == ALLOCATOR_BASELINE => "1".to_owned(),
            Some(base) => ratio_text(&values, &base, &label(what)),
            None => "–".to_owned(),
        };
        let replayed = program.allocators.iter().find(|a| a.strategy == allocator);
        let replay_said = match (replayed, baseline) {
            (Some(_), Some(_)) if allocator == ALLOCATOR_BASELINE => "1".to_owned(),
            (Some(replayed), Some(base)) => {
                ratio_text(&replayed.replay(), &base.replay(), &label("replay-said"))
            }
            _ => "–".to_owned(),
        };
        let runs = if real.failed > 0 {
            format!("{} ({} failed)", real.runs.len(), real.failed)
        } else {
            real.runs.len().to_string()
        };
        rows.push(vec![
            format!("`{}`", real.strategy),
            runs,
            median_text(&real.replay(), format::duration_ns),
            against(real.replay(), real_baseline.map(AllocatorRuns::replay), "wall"),
            replay_said,
            median_text(&real.peak_rss(), format::bytes),
            against(real.peak_rss(), real_baseline.map(AllocatorRuns::peak_rss), "rss"),
        ]);
    }
    document.table(header, rows);
}

/// pymalloc's arenas at the program's exit and their highwater mark, as a sentence.
fn arenas_sentence(pymalloc: &AllocatorRuns) -> Option<String> {
    let at_exit: Vec<f64> =
        pymalloc.runs.iter().filter_map(|run| run.arenas_at_exit.map(|n| n as f64)).collect();
    let highwater: Vec<f64> =
        pymalloc.runs.iter().filter_map(|run| run.arenas_highwater.map(|n| n as f64)).collect();
    let arena_size = pymalloc.runs.iter().find_map(|run| run.arena_size)?;
    let (at_exit, highwater) = (median(&at_exit)?, median(&highwater)?);
    let kept = if highwater > 0.0 {
        format!(" ({} of its highwater mark)", format::percent(at_exit / highwater))
    } else {
        String::new()
    };
    Some(format!(
        "`{ALLOCATOR_BASELINE}` held {} arenas of {} ({}) when the program exited{kept}; at most {} at once ({}).",
        format::count(at_exit),
        format::bytes(arena_size as f64),
        format::bytes(at_exit * arena_size as f64),
        format::count(highwater),
        format::bytes(highwater * arena_size as f64),
    ))
}

#[cfg(test)]
mod tests {
    use heaplab_core::{AllocStats, ArenaStats, PhaseRecord, RunReport};

    use super::*;

    fn phase(name: &str, duration_ns: u64, rss_bytes: u64, arenas: Option<(u64, u64)>) -> PhaseRecord {
        PhaseRecord {
            name: name.to_owned(),
            duration_ns,
            live_bytes: 0,
            rss_bytes,
            collections: 0,
            alloc: AllocStats {
                arenas: arenas.map(|(current, highwater)| ArenaStats {
                    arena_size: 1 << 20,
                    arenas_current: current,
                    arenas_highwater: highwater,
                    ..ArenaStats::default()
                }),
                ..AllocStats::default()
            },
        }
    }

    fn report(
        strategy: &str,
        workload: &str,
        rep: u32,
        replay_ns: u64,
        peak: u64,
        status: Status,
    ) -> RunReport {
        let arenas = (strategy == "pymalloc").then_some((3, 8));
        RunReport {
            record: Record {
                rep,
                status,
                checksum: Some("ab".into()),
                ops: Some(1000),
                params: "trace=/t/json_loads.trace;program=json_loads;pyperformance=1.14.0;python=3.11.7;loops=128".into(),
                ..crate::report::analysis::tests::run(strategy, workload, 1, replay_ns * 2, peak)
            },
            collections_by_gen: Vec::new(),
            phases: vec![
                phase("prepare", 10, 40 << 20, arenas.map(|_| (0, 0))),
                phase("replay", replay_ns, 60 << 20, arenas),
                phase("release", 10, 60 << 20, arenas.map(|(_, h)| (1, h))),
            ],
            anon_huge_bytes: None,
        }
    }

    fn results(reports: Vec<RunReport>) -> ResultsDir {
        ResultsDir {
            records: reports.iter().map(|report| report.record.clone()).collect(),
            reports,
            ..ResultsDir::default()
        }
    }

    #[test]
    fn programs_group_runs_by_program_with_pymalloc_first() {
        let dir = results(vec![
            report("system", "trace-replay-json_loads", 0, 2000, 80 << 20, Status::Ok),
            report("pymalloc", "trace-replay-json_loads", 0, 1000, 60 << 20, Status::Ok),
            report("pymalloc", "trace-replay-raytrace", 0, 1000, 60 << 20, Status::Ok),
            report("system", "trace-replay-json_loads", 1, 2000, 80 << 20, Status::Crashed),
            report("pymalloc", "churn", 0, 1000, 60 << 20, Status::Ok),
        ]);
        let programs = programs(&dir);
        let names: Vec<&str> = programs.iter().map(|p| p.program.as_str()).collect();
        assert_eq!(names, ["json_loads", "raytrace"]);
        let json = &programs[0];
        let strategies: Vec<&str> = json.allocators.iter().map(|a| a.strategy.as_str()).collect();
        assert_eq!(strategies, ["pymalloc", "system"]);
        assert_eq!(json.allocators[1].failed, 1);
        assert_eq!(json.allocators[1].replay(), [2000.0], "the replay phase, not the wall time");
        assert_eq!(
            json.allocators[0].own_peak(),
            [20.0 * (1 << 20) as f64],
            "peak less the RSS after prepare"
        );
        assert_eq!(json.allocators[0].runs[0].arenas_at_exit, Some(3));
        assert_eq!(json.allocators[0].runs[0].arenas_highwater, Some(8));
        assert!(json.facts.contains(&("pyperformance".into(), "1.14.0".into())));
    }

    #[test]
    fn the_section_shows_ratios_to_pymalloc_and_its_arenas_and_is_absent_without_traces() {
        let dir = results(vec![
            report("pymalloc", "trace-replay-json_loads", 0, 1000, 60 << 20, Status::Ok),
            report("mimalloc", "trace-replay-json_loads", 0, 500, 90 << 20, Status::Ok),
        ]);
        let mut document = Document::default();
        section(&mut document, &dir);
        let text = document.to_markdown();
        assert!(text.contains("Traced programs"), "{text}");
        assert!(text.contains("`json_loads`"), "{text}");
        assert!(text.contains("1,000 calls") || text.contains("1000 calls"), "{text}");
        let mimalloc_row =
            text.lines().find(|line| line.starts_with("| `mimalloc`")).expect("a mimalloc row");
        assert!(mimalloc_row.contains(&format::ratio(0.5)), "{mimalloc_row}");
        assert!(mimalloc_row.contains(&format::ratio(1.5)), "{mimalloc_row}");
        assert!(text.contains("held 3 arenas"), "{text}");

        let mut empty = Document::default();
        section(&mut empty, &results(vec![report("pymalloc", "churn", 0, 1000, 60 << 20, Status::Ok)]));
        assert!(empty.blocks.is_empty());
    }

    #[test]
    fn the_program_s_real_runs_stand_beside_what_its_replay_said_of_each_allocator() {
        let dir = results(vec![
            report("pymalloc", "trace-replay-json_loads", 0, 1000, 60 << 20, Status::Ok),
            report("jemalloc", "trace-replay-json_loads", 0, 1500, 60 << 20, Status::Ok),
            // Wall times 2x the replay_ns given: 4,000 and 4,400 ns.
            report("python@3.11+jemalloc", "program-json_loads", 0, 2200, 30 << 20, Status::Ok),
            report("python@3.11+pymalloc", "program-json_loads", 0, 2000, 20 << 20, Status::Ok),
            report("python@3.11+mimalloc", "program-json_loads", 0, 2000, 20 << 20, Status::Error),
        ]);
        let program = &programs(&dir)[0];
        let order: Vec<&str> = program.real.iter().map(|a| a.strategy.as_str()).collect();
        assert_eq!(order[0], "python@3.11+pymalloc", "pymalloc first: {order:?}");
        assert_eq!(program.allocators.len(), 2, "the real runs are not replays");
        let mut document = Document::default();
        section(&mut document, &dir);
        let text = document.to_markdown();
        assert!(text.contains("`program-json_loads`"), "{text}");
        let row = text.lines().find(|line| line.starts_with("| `python@3.11+jemalloc`")).expect("a real row");
        // Its wall time 1.1x pymalloc's, its replay 1.5x, its peak RSS 1.5x.
        assert!(row.contains(&format::ratio(1.1)), "{row}");
        assert_eq!(row.matches(&format::ratio(1.5)).count(), 2, "{row}");
        let failed = text.lines().find(|line| line.starts_with("| `python@3.11+mimalloc`")).expect("a row");
        assert!(failed.contains("0 (1 failed)"), "{failed}");
        // Replays alone: no table of real runs.
        let mut replays_only = Document::default();
        section(
            &mut replays_only,
            &results(vec![report("pymalloc", "trace-replay-json_loads", 0, 1000, 60 << 20, Status::Ok)]),
        );
        assert!(!replays_only.to_markdown().contains("The program itself"));
    }
}
