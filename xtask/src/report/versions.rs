//! "What changed between CPython versions": for each object workload that ran under strategies
//! naming a CPython release (`cycle@3.12+pymalloc`, `incremental@3.14+pymalloc`: their records
//! carry `version=X.Y` in `params`), its collections, pause total and maximum, peak memory and
//! time at each release present, and what moved from one release to the next. Computed from
//! the records only; a run without versioned strategies has no such section.

use std::collections::BTreeMap;

use super::analysis::{Cell, CellKey, Figure, is_allocator_workload, workloads};
use super::document::Document;
use super::format;

/// The title of the section.
pub const TITLE: &str = "What changed between CPython versions";

/// A change between two releases is told when the ratio of medians leaves `[1 / MOVED, MOVED]`.
pub const MOVED: f64 = 1.1;

/// The figures the section shows, with their column titles and how they read.
const FIGURES: [(Figure, &str); 6] = [
    (Figure::Collections, "collections"),
    (Figure::PauseTotalNs, "pause total"),
    (Figure::PauseMaxNs, "pause max"),
    (Figure::PeakLiveBytes, "peak live"),
    (Figure::PeakRssBytes, "peak RSS"),
    (Figure::WallNs, "time"),
];

/// The CPython release a record ran at, from its `params` (`version=3.13`), if it names one.
pub fn version_of(params: &str) -> Option<&str> {
    params.split(';').find_map(|pair| pair.strip_prefix("version="))
}

/// The release of a cell: the one its records name, or for `cycle` without one (`cycle+pymalloc`)
/// the release a strategy without `@` means ([`heaplab_core::version::DEFAULT`]).
fn release_of(cell: &Cell<'_>) -> Option<String> {
    if let Some(version) = cell.ok.iter().find_map(|record| version_of(&record.params)) {
        return Some(version.to_owned());
    }
    (cell.collector == "cycle").then(|| heaplab_core::version::DEFAULT.name.to_owned())
}

/// `(3, 13)` from `3.13`, for ordering; releases that do not parse sort last.
fn release_order(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap_or(u32::MAX));
    (parts.next().unwrap_or(u32::MAX), parts.next().unwrap_or(u32::MAX))
}

/// One line of a workload's table: a versioned strategy's cell.
#[derive(Clone, Debug)]
pub struct VersionLine<'c, 'a> {
    /// The release.
    pub version: String,
    /// The cell.
    pub cell: &'c Cell<'a>,
}

/// For each object workload with versioned cells on pymalloc: the size compared (the largest
/// at which most releases ran) and a line per release at that size, oldest first. A release
/// that ran under two collectors (3.14: incremental, refcount) is shown for each.
pub fn version_lines<'c, 'a>(
    cells: &'c BTreeMap<CellKey, Cell<'a>>,
) -> Vec<(String, u64, Vec<VersionLine<'c, 'a>>)> {
    let mut out = Vec::new();
    for workload in workloads(cells) {
        // Allocator workloads have no collector; a traced program's real runs (`program-…`)
        // have no model beside them.
        if is_allocator_workload(cells, &workload) || super::traced::traced_program(&workload).is_some() {
            continue;
        }
        let of_workload = |cell: &&Cell<'a>| {
            cell.key.workload == workload && cell.allocator == "pymalloc" && !cell.ok.is_empty()
        };
        let named = cells
            .values()
            .filter(of_workload)
            .any(|cell| cell.ok.iter().any(|record| version_of(&record.params).is_some()));
        if !named {
            continue;
        }
        let versioned: Vec<(String, &Cell<'a>)> =
            cells.values().filter(of_workload).filter_map(|cell| Some((release_of(cell)?, cell))).collect();
        let mut by_size: BTreeMap<u64, usize> = BTreeMap::new();
        for (_, cell) in &versioned {
            *by_size.entry(cell.key.size).or_default() += 1;
        }
        let most = by_size.values().copied().max().unwrap_or(0);
        let size = by_size.iter().rev().find(|(_, n)| **n == most).map(|(size, _)| *size).unwrap_or(0);
        let mut lines: Vec<VersionLine<'c, 'a>> = versioned
            .into_iter()
            .filter(|(_, cell)| cell.key.size == size && cell.key.threads == 1)
            .map(|(version, cell)| VersionLine { version, cell })
            .collect();
        lines.sort_by(|a, b| {
            release_order(&a.version)
                .cmp(&release_order(&b.version))
                .then_with(|| a.cell.collector.cmp(&b.cell.collector))
        });
        out.push((workload, size, lines));
    }
    out
}

/// The figure as the table shows it.
fn shown(figure: Figure, value: Option<f64>) -> String {
    match value {
        None => "—".to_owned(),
        Some(value) => match figure {
            Figure::Collections => format::count(value),
            Figure::PauseTotalNs | Figure::PauseMaxNs | Figure::WallNs => format::duration_ns(value),
            _ => format::bytes(value),
        },
    }
}

/// What moved between consecutive releases of the model (and from the last generational
/// release to the incremental collector), and between consecutive real interpreters: figures
/// whose median changed by more than [`MOVED`] either way, as sentences. The model and the
/// real interpreter are never compared here ("Model against real CPython" does that).
pub fn moves(workload: &str, size: u64, lines: &[VersionLine<'_, '_>]) -> Vec<String> {
    let (real, model): (Vec<&VersionLine<'_, '_>>, Vec<&VersionLine<'_, '_>>) =
        lines.iter().partition(|line| line.cell.collector == crate::report::reality::REAL);
    let mut sentences = Vec::new();
    for pair in model.windows(2).chain(real.windows(2)) {
        let (before, after) = (pair[0], pair[1]);
        if before.version == after.version {
            continue;
        }
        let mut changes = Vec::new();
        for (figure, title) in FIGURES {
            let (Some(old), Some(new)) = (before.cell.median(figure), after.cell.median(figure)) else {
                continue;
            };
            if old == 0.0 && new == 0.0 {
                continue;
            }
            if old == 0.0 || new == 0.0 {
                changes.push(format!("{title} {} → {}", shown(figure, Some(old)), shown(figure, Some(new))));
                continue;
            }
            let ratio = new / old;
            if !(1.0 / MOVED..=MOVED).contains(&ratio) {
                changes.push(format!(
                    "{title} {} → {} ({})",
                    shown(figure, Some(old)),
                    shown(figure, Some(new)),
                    format::ratio(ratio)
                ));
            }
        }
        if !changes.is_empty() {
            sentences.push(format!(
                "`{workload}` ({size}), `{}` → `{}`: {}.",
                before.cell.key.strategy,
                after.cell.key.strategy,
                changes.join("; ")
            ));
        }
    }
    sentences
}

/// Adds the section to `document`; nothing when no versioned strategy ran.
pub fn section(document: &mut Document, cells: &BTreeMap<CellKey, Cell<'_>>) {
    let workloads = version_lines(cells);
    if workloads.is_empty() {
        return;
    }
    document.heading(2, TITLE);
    document.paragraph(format!(
        "Each object workload under the strategies that name a CPython release (`cycle@3.X+pymalloc`: \
         that release's collector rules, thresholds, object sizes and pymalloc geometry; \
         `incremental@3.14+pymalloc`: 3.14.0–3.14.4's incremental collector) and `cycle+pymalloc` \
         (no release named, which means {}), at the largest size most \
         releases ran, medians of the runs. \"What moved\" lists, for each release against the one \
         before it, the figures whose median changed by more than {:.0}% either way.",
        heaplab_core::version::DEFAULT.name,
        (MOVED - 1.0) * 100.0
    ));
    for (workload, size, lines) in &workloads {
        document.heading(3, format!("`{workload}` ({size})"));
        let mut header = vec!["release".to_owned(), "strategy".to_owned(), "runs".to_owned()];
        header.extend(FIGURES.iter().map(|(_, title)| (*title).to_owned()));
        let rows = lines
            .iter()
            .map(|line| {
                let mut row = vec![
                    line.version.clone(),
                    format!("`{}`", line.cell.key.strategy),
                    line.cell.ok.len().to_string(),
                ];
                row.extend(FIGURES.iter().map(|(figure, _)| shown(*figure, line.cell.median(*figure))));
                row
            })
            .collect();
        document.table(header, rows);
        let moved = moves(workload, *size, lines);
        if moved.is_empty() {
            document.paragraph(format!(
                "What moved: nothing by more than {:.0}% between consecutive releases.",
                (MOVED - 1.0) * 100.0
            ));
        } else {
            document.paragraph("What moved:");
            document.list(moved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::{cells as group, tests::run};
    use heaplab_core::Record;

    fn versioned(strategy: &str, version: &str, workload: &str, collections: u64, pause_max: u64) -> Record {
        let mut record = run(strategy, workload, 1000, 5_000_000, 64 << 20);
        record.params = format!("version={version};thp=never");
        record.collections = Some(collections);
        record.pause_total_ns = Some(collections * pause_max / 2);
        record.pause_max_ns = Some(pause_max);
        record
    }

    /// A real interpreter's bulk-load at `version`, ten times the model's wall time.
    fn real(strategy: &str, version: &str, collections: u64) -> Record {
        let mut record = versioned(strategy, version, "bulk-load", collections, 1_000_000);
        record.collector = crate::report::reality::REAL.into();
        record.wall_ns = Some(50_000_000);
        record
    }

    /// A small synthetic runs.csv: bulk-load at four releases, an unversioned strategy, an
    /// allocator workload; read back through the CSV as `cargo xtask report` reads it.
    fn synthetic() -> Vec<Record> {
        let records = vec![
            {
                let mut record = versioned("cycle+pymalloc", "", "bulk-load", 2616, 1_000_000);
                record.params = "thp=never".into();
                record
            },
            versioned("cycle@3.12+pymalloc", "3.12", "bulk-load", 2616, 1_000_000),
            versioned("cycle@3.13+pymalloc", "3.13", "bulk-load", 915, 1_050_000),
            versioned("incremental@3.14+pymalloc", "3.14", "bulk-load", 1000, 9_000_000),
            versioned("cycle@3.9+pymalloc", "3.9", "bulk-load", 2616, 1_000_000),
            real("python@3.12+pymalloc", "3.12", 2616),
            real("python@3.13+pymalloc", "3.13", 900),
            run("marksweep+pymalloc", "bulk-load", 1000, 5_000_000, 64 << 20),
            run("pymalloc", "alloc-sizes", 1000, 1_000, 1 << 20),
        ];
        let dir = std::env::temp_dir().join(format!("heaplab-versions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runs.csv");
        crate::results::write_runs_csv(&path, &records).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let read: Vec<Record> = reader.deserialize().map(Result::unwrap).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        read
    }

    #[test]
    fn releases_are_read_from_params() {
        assert_eq!(version_of("version=3.13;thp=never"), Some("3.13"));
        assert_eq!(version_of("thp=never;version=3.9"), Some("3.9"));
        assert_eq!(version_of("thp=never"), None);
        assert!(release_order("3.9") < release_order("3.10"));
    }

    #[test]
    fn each_release_is_a_line_in_order_and_what_moved_is_computed() {
        let records = synthetic();
        let cells = group(&records);
        let workloads = version_lines(&cells);
        assert_eq!(
            workloads.len(),
            1,
            "only bulk-load ran versioned, and alloc-sizes is an allocator workload"
        );
        let (workload, size, lines) = &workloads[0];
        assert_eq!((workload.as_str(), *size), ("bulk-load", 1000));
        let versions: Vec<&str> = lines.iter().map(|l| l.version.as_str()).collect();
        assert_eq!(
            versions,
            ["3.9", "3.11", "3.12", "3.12", "3.13", "3.13", "3.14"],
            "the model and the interpreter"
        );
        let moved = moves(workload, *size, lines);
        assert_eq!(moved.len(), 3, "{moved:?}");
        assert!(moved[0].starts_with("`bulk-load` (1000), `cycle@3.12+pymalloc` → `cycle@3.13+pymalloc`: collections 2,616 → 915 (0.35x)"), "{moved:?}");
        assert!(!moved[0].contains("pause max"), "5% is not a move: {moved:?}");
        assert!(moved[1].contains("`cycle@3.13+pymalloc` → `incremental@3.14+pymalloc`"), "{moved:?}");
        assert!(moved[1].contains("pause max 1.05 ms → 9 ms (8.57x)"), "{moved:?}");
        assert!(
            moved[2].starts_with(
                "`bulk-load` (1000), `python@3.12+pymalloc` → `python@3.13+pymalloc`: collections 2,616 → 900"
            ),
            "the real interpreters against each other, never against the model: {moved:?}"
        );

        let mut document = Document::default();
        section(&mut document, &cells);
        let text = document.to_markdown();
        assert!(text.contains(&format!("## {TITLE}")), "{text}");
        assert!(text.contains("| 3.13 | `cycle@3.13+pymalloc` | 1 | 915 |"), "{text}");
        assert!(
            text.contains("| 3.11 | `cycle+pymalloc` | 1 | 2,616 |"),
            "cycle without a release is 3.11's: {text}"
        );
        assert!(
            !text.contains("`marksweep+pymalloc` |"),
            "marksweep without a release is no release's: {text}"
        );
    }

    #[test]
    fn a_run_without_versioned_strategies_has_no_section() {
        let records = vec![
            run("cycle+pymalloc", "bulk-load", 1000, 5, 64),
            run("marksweep+pymalloc", "bulk-load", 1000, 5, 64),
        ];
        let cells = group(&records);
        let mut document = Document::default();
        section(&mut document, &cells);
        assert!(!document.to_markdown().contains(TITLE));
    }
}
