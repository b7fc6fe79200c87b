//! What is compared, row by row: CPython's figures against the model's for
//! the same workload, size and seed.

use heaplab_core::dict_layout as dl;
use heaplab_core::object::{GC_HEADER, INT_BASE, WORD};
use heaplab_core::version::Version;
use heaplab_core::{ArenaStats, Kind, RunReport};

use super::cpython::{PythonRun, SizeOf, Twin};

/// Pool counts below this, on both sides, are left out of the table: a
/// class the workload hardly uses says nothing about the model.
pub const MIN_POOLS_SHOWN: u64 = 10;

/// One row of the table.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// The release compared (`3.12`): the interpreter's and the model's.
    pub python: String,
    /// The workload.
    pub workload: String,
    /// Its size.
    pub size: u64,
    /// What is compared, in words.
    pub metric: String,
    /// CPython's figure.
    pub cpython: f64,
    /// The model's figure.
    pub heaplab: f64,
}

impl Row {
    /// `(heaplab - cpython) / cpython` in percent; 0 when both are 0, None when only CPython's is.
    pub fn difference_pct(&self) -> Option<f64> {
        if self.cpython == 0.0 {
            return (self.heaplab == 0.0).then_some(0.0);
        }
        Some((self.heaplab - self.cpython) / self.cpython.abs() * 100.0)
    }
}

/// What one workload gave on both sides.
pub struct Measured<'a> {
    /// The workload and its unit.
    pub twin: &'a Twin,
    /// The size run.
    pub size: u64,
    /// The release of the interpreter and of the model.
    pub release: &'static Version,
    /// The plain Python run.
    pub python: &'a PythonRun,
    /// The tracemalloc run, if one was made.
    pub traced: Option<&'a PythonRun>,
    /// `heaplab run --strategy cycle@X.Y+pymalloc`.
    pub model: &'a RunReport,
}

/// Every row for one workload: parameters, collections, arenas and pools
/// after each phase, object sizes, traced bytes, and for gc-traverse the
/// time of one full collection.
pub fn rows(measured: &Measured) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |metric: String, cpython: f64, heaplab: f64| {
        rows.push(Row {
            python: measured.release.name.to_owned(),
            workload: measured.twin.workload.to_owned(),
            size: measured.size,
            metric,
            cpython,
            heaplab,
        });
    };
    let python = measured.python;
    let model = measured.model;

    // The model's parameters are CPython's, measured: stated as rows of their own.
    let interpreter_objects = python.interpreter_objects as f64;
    push("parameter: interpreter's tracked objects".into(), interpreter_objects, interpreter_objects);

    let cpython_collections = python.phases.last().map(|phase| phase.collections.clone()).unwrap_or_default();
    for generation in 0..3 {
        let cpython = cpython_collections.get(generation).copied().unwrap_or(0);
        let heaplab = model.collections_by_gen.get(generation).copied().unwrap_or(0);
        push(format!("collections of generation {generation}"), cpython as f64, heaplab as f64);
    }

    // Both sides count from the heap the workload found: CPython from its baseline, the model
    // from its start phase (its pymalloc begun with the baseline's pools; none where it began
    // empty).
    let baseline = python.baseline.pymalloc.as_ref();
    let model_start = model
        .phases
        .iter()
        .find(|phase| phase.name == heaplab_core::probe::START_PHASE)
        .and_then(|phase| phase.alloc.arenas.as_ref());
    let model_base_arenas = model_start.map_or(0, |start| start.arenas_current);
    if let (Some(base), Some(start)) = (baseline.and_then(|b| b.arenas_current), model_start) {
        push("arenas before the workload".into(), base as f64, start.arenas_current as f64);
    }
    for (python_phase, model_phase) in matched_phases(python, model) {
        let (Some(cpython), Some(arenas)) =
            (python_phase.pymalloc.as_ref(), model_phase.alloc.arenas.as_ref())
        else {
            continue;
        };
        let base_arenas = baseline.and_then(|b| b.arenas_current).unwrap_or(0);
        let cpython_arenas = cpython.arenas_current.unwrap_or(0).saturating_sub(base_arenas);
        push(
            format!("arenas in use after {}", python_phase.name),
            cpython_arenas as f64,
            arenas.arenas_current.saturating_sub(model_base_arenas) as f64,
        );
        for (size, cpython_pools, model_pools) in pools_by_class(cpython, baseline, arenas, model_start) {
            if cpython_pools.unsigned_abs().max(model_pools.unsigned_abs()) >= MIN_POOLS_SHOWN {
                push(
                    format!("pools of {size} B blocks after {}", python_phase.name),
                    cpython_pools as f64,
                    model_pools as f64,
                );
            }
        }
    }
    // Where an arena's address is not pool-aligned it holds one pool fewer (`new_arena`), so
    // an arena count can differ by one on the luck of where the kernel put the arenas; the
    // arenas that lost a pool, at the phase with the most, say whether it did.
    let fullest = matched_phases(python, model)
        .filter_map(|(python_phase, model_phase)| {
            Some((python_phase, python_phase.pymalloc.as_ref()?, model_phase.alloc.arenas.as_ref()?))
        })
        .max_by_key(|(_, cpython, _)| cpython.arenas_current.unwrap_or(0));
    if let Some((phase, cpython, arenas)) = fullest
        && let Some(lost_bytes) = cpython.arena_alignment_bytes
        && arenas.pool_size > 0
    {
        let pools_per_arena = arenas.arena_size / arenas.pool_size;
        let model_unaligned = arenas
            .arena_map
            .iter()
            .filter(|arena| u64::from(arena.used + arena.full + arena.empty) < pools_per_arena)
            .count();
        push(
            format!("arenas not pool-aligned after {}", phase.name),
            (lost_bytes / arenas.pool_size) as f64,
            model_unaligned as f64,
        );
    }
    if let (Some(last), Some(model_last)) = (python.phases.last(), model.phases.last()) {
        let highwater = last.pymalloc.as_ref().and_then(|p| p.arenas_highwater);
        let base = baseline.and_then(|b| b.arenas_current);
        if let (Some(highwater), Some(base), Some(arenas)) =
            (highwater, base, model_last.alloc.arenas.as_ref())
        {
            push(
                "arenas at the peak".into(),
                highwater.saturating_sub(base) as f64,
                arenas.arenas_highwater.saturating_sub(model_base_arenas) as f64,
            );
        }
    }

    let mut seen: Vec<&SizeOf> = Vec::new();
    for entry in &python.sizeof {
        let same = |other: &&SizeOf| {
            other.kind == entry.kind && other.len == entry.len && other.growth == entry.growth
        };
        if seen.iter().any(same) {
            continue;
        }
        seen.push(entry);
        if let Some(model_bytes) = model_sizeof(entry, measured.release) {
            push(format!("sys.getsizeof {}", describe(entry)), entry.bytes as f64, model_bytes as f64);
        }
    }

    if let Some(traced) = measured.traced {
        let unit = measured.twin.unit;
        let (per, what) = if unit.is_empty() {
            (1.0, String::new())
        } else {
            (measured.size as f64, format!(" per {unit}"))
        };
        let base = traced.baseline.traced_bytes.unwrap_or(0) as f64;
        for (python_phase, model_phase) in matched_phases(traced, model) {
            let Some(bytes) = python_phase.traced_bytes else { continue };
            let cpython = (bytes as f64 - base) / per;
            let heaplab = model_phase.live_bytes as f64 / per;
            // What is left after teardown is the interpreter's, not the workload's.
            if (cpython.abs() >= 1.0 || heaplab >= 1.0) && python_phase.name != "teardown" {
                push(format!("traced bytes{what} after {}", python_phase.name), cpython, heaplab);
            }
        }
    }

    if !python.collect_seconds.is_empty()
        && let Some(collect) = model.phases.iter().find(|phase| phase.name == "collect")
    {
        let cpython_ms = median(&python.collect_seconds) * 1e3;
        let heaplab_ms = collect.duration_ns as f64 / python.collect_seconds.len() as f64 / 1e6;
        push("one full collection (ms)".into(), cpython_ms, heaplab_ms);
    }
    rows
}

/// The phases both sides marked, by name, in the Python run's order.
fn matched_phases<'a>(
    python: &'a PythonRun,
    model: &'a RunReport,
) -> impl Iterator<Item = (&'a super::cpython::PythonPhase, &'a heaplab_core::PhaseRecord)> {
    python.phases.iter().filter_map(|phase| {
        model.phases.iter().find(|record| record.name == phase.name).map(|record| (phase, record))
    })
}

/// For every block size either side uses: CPython's pools less the
/// baseline's, and the model's.
fn pools_by_class(
    cpython: &super::cpython::Pymalloc,
    baseline: Option<&super::cpython::Pymalloc>,
    model: &ArenaStats,
    model_start: Option<&ArenaStats>,
) -> Vec<(u64, i64, i64)> {
    let mut sizes: Vec<u64> = cpython.classes.iter().map(|class| class.size).collect();
    sizes.extend(model.classes.iter().map(|class| u64::from(class.size)));
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .map(|size| {
            let base = baseline.map_or(0, |b| b.pools(size));
            let pools_of = |stats: &ArenaStats| {
                stats.classes.iter().find(|class| u64::from(class.size) == size).map_or(0, |c| c.pools as i64)
            };
            let model_pools = pools_of(model) - model_start.map_or(0, pools_of);
            (size, cpython.pools(size) as i64 - base as i64, model_pools)
        })
        .collect()
}

/// The model's size of the object `entry` describes at `release`, as `sys.getsizeof` counts
/// it under `cycle`: the object, its GC header if it is a container, and what it holds apart
/// (a list's item buffer; a dict's keys object, after `len` one-at-a-time inserts of str or
/// int keys as `growth` says; a set's table after `len` adds). `None` for a `__dict__`
/// instance, whose `sys.getsizeof` leaves out what the model counts in it.
pub fn model_sizeof(entry: &SizeOf, release: &Version) -> Option<u64> {
    let kind = Kind::ALL.into_iter().find(|kind| kind.name() == entry.kind)?;
    let len = usize::try_from(entry.len).ok()?;
    let bytes = match kind {
        Kind::Object => return None,
        Kind::Dict => {
            let unicode = match entry.growth.as_deref() {
                Some("str") => true,
                Some("int") => false,
                _ => return None,
            };
            dl::dict_getsizeof_after_inserts(release.minor, len, unicode)
        }
        Kind::Set => dl::set_getsizeof_after_adds(len),
        Kind::Int => INT_BASE + 4 * if release.zero_has_digit { len.max(1) } else { len },
        Kind::Str => release.str_size(len),
        _ => {
            let mut bytes = kind.object_size(len);
            if kind.is_container() {
                bytes += GC_HEADER;
            }
            if kind == Kind::List {
                let capacity = match entry.growth.as_deref() {
                    Some("exact") => len,
                    _ => capacity_after_appends(release, len),
                };
                bytes += WORD * capacity;
            }
            bytes
        }
    };
    Some(bytes as u64)
}

/// A list's capacity after `len` appends from empty, by `release`'s growth rule.
pub fn capacity_after_appends(release: &Version, len: usize) -> usize {
    let mut capacity = 0;
    for new_len in 1..=len {
        if let Some(grown) = release.list_resize(capacity, new_len - 1, new_len) {
            capacity = grown;
        }
    }
    capacity
}

/// "int of 1 digit", "str of 7 bytes", "list of 1,000 items, appended", …
fn describe(entry: &SizeOf) -> String {
    let len = entry.len;
    match entry.kind.as_str() {
        "int" => format!("int of {len} digit{}", if len == 1 { "" } else { "s" }),
        "float" => "float".to_owned(),
        "str" => format!("str of {len} chars"),
        "tuple" => format!("tuple of {len}"),
        "instance" => format!("instance of {len} slots"),
        "list" => {
            let how = if entry.growth.as_deref() == Some("exact") { "made whole" } else { "appended" };
            format!("list of {len} items, {how}")
        }
        "dict" => format!("dict of {len} {} keys", entry.growth.as_deref().unwrap_or("?")),
        "set" => format!("set of {len} ints"),
        other => format!("{other} of {len}"),
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heaplab_core::PhaseRecord;

    fn entry(kind: &str, len: u64, growth: Option<&str>) -> SizeOf {
        SizeOf { kind: kind.into(), len, bytes: 0, growth: growth.map(str::to_owned) }
    }

    #[test]
    fn the_model_sizes_objects_as_sys_getsizeof_does() {
        // Figures sys.getsizeof gives in CPython 3.11.
        let v311 = heaplab_core::version::find("3.11").unwrap();
        let check = |kind: &str, len: u64, growth: Option<&str>, expected: u64| {
            assert_eq!(
                model_sizeof(&entry(kind, len, growth), v311),
                Some(expected),
                "{kind} of {len} ({growth:?})"
            );
        };
        check("int", 1, None, 28);
        check("int", 2, None, 32);
        check("float", 0, None, 24);
        check("str", 7, None, 56);
        check("tuple", 3, None, 64);
        check("instance", 2, None, 48);
        check("list", 0, Some("append"), 56);
        check("list", 1, Some("exact"), 64);
        check("list", 7, Some("append"), 120);
        check("list", 1, Some("append"), 88);
        check("dict", 5, Some("str"), 184);
        check("dict", 5, Some("int"), 224);
        check("dict", 0, Some("str"), 64);
        check("set", 5, None, 728);
        assert_eq!(model_sizeof(&entry("dict", 1, None), v311), None);
        assert_eq!(model_sizeof(&entry("object", 2, None), v311), None);
        // Other releases: CPython 3.9.18 and 3.12.1 measured these.
        let v39 = heaplab_core::version::find("3.9").unwrap();
        let v312 = heaplab_core::version::find("3.12").unwrap();
        assert_eq!(model_sizeof(&entry("dict", 5, Some("str")), v39), Some(232));
        assert_eq!(model_sizeof(&entry("int", 0, None), v39), Some(24));
        assert_eq!(model_sizeof(&entry("int", 0, None), v311), Some(28));
        assert_eq!(model_sizeof(&entry("str", 7, None), v312), Some(48));
    }

    #[test]
    fn list_capacity_follows_cpython_appends() {
        let v311 = heaplab_core::version::DEFAULT;
        let check =
            |len: usize, expected: usize| assert_eq!(capacity_after_appends(v311, len), expected, "{len}");
        check(0, 0);
        check(1, 4);
        check(5, 8);
        check(9, 16);
        check(17, 24);
    }

    /// The model's pymalloc begun with the interpreter's pools: both sides count arenas and
    /// pools from the heap the workload found, and the arenas that heap took are a row.
    #[test]
    fn arenas_and_pools_count_from_the_heap_the_workload_found() {
        let pymalloc = |arenas: u64, highwater: u64, pools_32: u64| {
            format!(
                r#"{{"arena_size": 262144, "arenas_highwater": {highwater}, "arenas_current": {arenas},
                "arena_alignment_bytes": 8192,
                "classes": [{{"size": 32, "pools": {pools_32}, "blocks_free": 7}}]}}"#
            )
        };
        let python: PythonRun = serde_json::from_str(&format!(
            r#"{{"workload": "fragmentation", "size": 10, "seed": 42,
            "python": {{"implementation": "cpython", "version": "3.9.18"}},
            "thresholds": [700, 10, 10], "interpreter_objects": 9000, "tracemalloc": false,
            "baseline": {{"traced_bytes": null, "pymalloc": {}}},
            "phases": [{{"name": "build", "collections": [0, 0, 0], "traced_bytes": null,
                "pymalloc": {}}}],
            "sizeof": []}}"#,
            pymalloc(6, 6, 40),
            pymalloc(254, 254, 15_913),
        ))
        .unwrap();
        let model_phase = |name: &str, arenas: u64, pools_32: u64| PhaseRecord {
            name: name.into(),
            alloc: heaplab_core::AllocStats {
                arenas: Some(ArenaStats {
                    pool_size: 4096,
                    arena_size: 262_144,
                    // One arena that lost a pool to its address.
                    arena_map: (0..arenas)
                        .map(|i| heaplab_core::alloc::ArenaUse {
                            used: 1,
                            full: 0,
                            empty: if i == 0 { 62 } else { 63 },
                        })
                        .collect(),
                    arenas_current: arenas,
                    arenas_highwater: arenas,
                    classes: vec![heaplab_core::alloc::ClassStats {
                        size: 32,
                        pools: pools_32,
                        ..Default::default()
                    }],
                    ..ArenaStats::default()
                }),
                ..Default::default()
            },
            ..PhaseRecord::default()
        };
        let model = RunReport {
            record: heaplab_core::Record::unmeasured(heaplab_core::Status::Ok),
            collections_by_gen: vec![0, 0, 0],
            phases: vec![model_phase("start", 6, 40), model_phase("build", 255, 15_913)],
            anon_huge_bytes: None,
        };
        let twin = super::super::cpython::TWINS.iter().find(|twin| twin.workload == "fragmentation").unwrap();
        let release = heaplab_core::version::find("3.9").unwrap();
        let measured = Measured { twin, size: 10, release, python: &python, traced: None, model: &model };
        let table: Vec<(String, f64, f64)> = rows(&measured)
            .into_iter()
            .filter(|row| row.metric.contains("arenas") || row.metric.contains("pools"))
            .map(|row| (row.metric, row.cpython, row.heaplab))
            .collect();
        assert_eq!(
            table,
            [
                ("arenas before the workload".to_owned(), 6.0, 6.0),
                ("arenas in use after build".to_owned(), 248.0, 249.0),
                ("pools of 32 B blocks after build".to_owned(), 15_873.0, 15_873.0),
                ("arenas not pool-aligned after build".to_owned(), 2.0, 1.0),
                ("arenas at the peak".to_owned(), 248.0, 249.0),
            ]
        );
    }

    #[test]
    fn differences_are_relative_to_cpython() {
        let row = |cpython: f64, heaplab: f64| Row {
            python: "3.11".into(),
            workload: "w".into(),
            size: 1,
            metric: "m".into(),
            cpython,
            heaplab,
        };
        assert_eq!(row(200.0, 202.0).difference_pct(), Some(1.0));
        assert_eq!(row(200.0, 100.0).difference_pct(), Some(-50.0));
        assert_eq!(row(0.0, 0.0).difference_pct(), Some(0.0));
        assert_eq!(row(0.0, 3.0).difference_pct(), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
