//! "Bytes per row": the same tabular load held three ways — a tuple per row
//! (`bulk-load`), a dict per row as `csv.DictReader` makes them (`bulk-load-dicts`)
//! and a column per field (`bulk-load-columns`) — as peak live bytes (and peak RSS)
//! over the rows loaded, under each strategy that ran all three at one size.
//!
//! `bulk-load`'s row is `(i, float(i), str(i))`, three fields; the dict and column
//! loads hold four (`id`, `name`, `price`, `qty`), so the tuple row holds less data:
//! the table says so rather than hide it.

use std::collections::BTreeMap;

use super::analysis::{Cell, CellKey, Figure, strategy_order};
use super::document::Document;
use super::format;

/// The three ways to hold the rows, and what each row is.
const LAYOUTS: [(&str, &str); 3] = [
    ("bulk-load-dicts", "a dict per row (4 str values)"),
    ("bulk-load", "a tuple per row (int, float, str: 3 fields)"),
    ("bulk-load-columns", "4 columns (2 arrays of numbers, a list of strs, an array of ints)"),
];

/// Adds the section where some strategy ran at least two of the layouts at one size.
pub fn section(document: &mut Document, cells: &BTreeMap<CellKey, Cell<'_>>) {
    // (strategy, size) -> layout -> cell
    let mut groups: BTreeMap<(String, u64), BTreeMap<&str, &Cell<'_>>> = BTreeMap::new();
    for cell in cells.values().filter(|c| !c.ok.is_empty() && c.key.threads == 1) {
        if let Some((layout, _)) = LAYOUTS.iter().find(|(w, _)| *w == cell.key.workload) {
            groups.entry((cell.key.strategy.clone(), cell.key.size)).or_default().insert(layout, cell);
        }
    }
    let mut keys: Vec<&(String, u64)> = groups.keys().filter(|k| groups[*k].len() >= 2).collect();
    if keys.is_empty() {
        return;
    }
    keys.sort_by_key(|(strategy, size)| (strategy_order(strategy), *size));
    document.folded_heading("Bytes per row: dicts, tuples, columns");
    document.paragraph(
        "The same kind of table loaded three ways, as bytes per row: the heap's peak live bytes (the objects \
         themselves, as requested from the allocator; empty for the real interpreter) and the process's peak \
         RSS, each over the rows loaded, and against the dict rows. Layouts:",
    );
    document.list(LAYOUTS.iter().map(|(workload, what)| format!("`{workload}`: {what}")).collect());
    let mut rows = Vec::new();
    for key in keys {
        let group = &groups[key];
        let per_row = |cell: &Cell<'_>, figure: Figure| cell.median(figure).map(|v| v / key.1 as f64);
        let dicts = group.get("bulk-load-dicts").copied();
        for (layout, _) in LAYOUTS {
            let Some(cell) = group.get(layout) else { continue };
            let against =
                |figure: Figure| match (dicts.and_then(|d| per_row(d, figure)), per_row(cell, figure)) {
                    (Some(d), Some(v)) if d > 0.0 && layout != "bulk-load-dicts" => format::ratio(v / d),
                    _ => "–".to_owned(),
                };
            let shown = |figure: Figure| {
                per_row(cell, figure).filter(|v| *v > 0.0).map_or("–".to_owned(), format::bytes_fine)
            };
            rows.push(vec![
                format!("`{}`", key.0),
                key.1.to_string(),
                format!("`{layout}`"),
                shown(Figure::PeakLiveBytes),
                against(Figure::PeakLiveBytes),
                shown(Figure::PeakRssBytes),
                against(Figure::PeakRssBytes),
            ]);
        }
    }
    document.table(
        ["strategy", "rows", "layout", "live B/row", "/ dicts", "RSS B/row", "/ dicts"]
            .map(str::to_owned)
            .to_vec(),
        rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::cells;
    use heaplab_core::Record;

    fn record(workload: &str, live: u64, rss: u64) -> Record {
        let mut record = crate::report::analysis::tests::run("cycle+pymalloc", workload, 1000, 1, rss);
        record.peak_live_bytes = Some(live);
        record
    }

    #[test]
    fn rows_are_given_in_bytes_each_and_against_the_dicts() {
        let records = [
            record("bulk-load-dicts", 410_000, 900_000),
            record("bulk-load", 205_000, 600_000),
            record("bulk-load-columns", 41_000, 300_000),
            record("churn", 1, 1),
        ];
        let mut document = Document::default();
        section(&mut document, &cells(&records));
        let markdown = document.to_markdown();
        assert!(markdown.contains("| `cycle+pymalloc` | 1000 | `bulk-load` | 205 B | 0.50x |"), "{markdown}");
        assert!(markdown.contains("| `bulk-load-columns` | 41 B | 0.10x |"), "{markdown}");
        assert!(markdown.contains("| `bulk-load-dicts` | 410 B | – |"), "{markdown}");

        let mut empty = Document::default();
        section(&mut empty, &cells(&records[3..]));
        assert!(empty.blocks.is_empty(), "no section without two layouts");
    }
}
