//! The calibration table, three ways: on the terminal, as `calibration.csv`
//! and as the "Fidelity to CPython" section of the report (`calibration.md`).

use std::fmt::Write as _;

use super::compare::Row;

/// The CSV header.
pub const CSV_COLUMNS: [&str; 7] =
    ["python", "workload", "size", "metric", "cpython", "heaplab", "difference_pct"];

/// One interpreter's runs: the interpreter, the strategy, the parameters.
pub struct Context {
    /// E.g. "CPython 3.11.7".
    pub python: String,
    /// The release its rows carry: "3.11".
    pub release: String,
    /// The model it was compared with: `cycle@3.11+pymalloc`.
    pub strategy: String,
    /// The seed every run used.
    pub seed: u64,
    /// `gc.get_threshold()`, as measured and passed to the model.
    pub thresholds: Vec<u64>,
    /// pymalloc's arena size, as measured (the model's geometry follows it).
    pub arena_size: Option<u64>,
}

/// What the section says about the whole calibration.
pub struct Document {
    /// Each interpreter run, oldest release first.
    pub contexts: Vec<Context>,
    /// The interpreters asked for and not found, in words.
    pub missing: Vec<String>,
    /// The command as typed.
    pub command: String,
}

/// A row is "within 1%" when its difference is at most this, in percent.
pub const CLOSE_PCT: f64 = 1.0;

/// A figure as the tables show it: integers without decimals, others with two.
pub fn figure(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { format!("{value:.2}") }
}

/// A difference as the tables show it: signed, one decimal, or a dash where there is none.
pub fn difference(row: &Row) -> String {
    match row.difference_pct() {
        Some(pct) => format!("{pct:+.1}%"),
        None => "—".to_owned(),
    }
}

/// The table for the terminal, columns aligned.
pub fn terminal(rows: &[Row]) -> String {
    let header = ["metric", "workload", "CPython", "heaplab", "difference"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.metric.clone(),
                format!("{} ({}) at {}", row.workload, row.size, row.python),
                figure(row.cpython),
                figure(row.heaplab),
                difference(row),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        let text = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header);
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}

/// `calibration.csv`.
pub fn csv(rows: &[Row]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS)?;
    for row in rows {
        let difference = row.difference_pct().map(|pct| format!("{pct:.3}")).unwrap_or_default();
        writer.write_record([
            row.python.clone(),
            row.workload.clone(),
            row.size.to_string(),
            row.metric.clone(),
            row.cpython.to_string(),
            row.heaplab.to_string(),
            difference,
        ])?;
    }
    Ok(writer.into_inner()?)
}

/// Whether a row's difference is within [`CLOSE_PCT`].
fn close(row: &Row) -> bool {
    row.difference_pct().is_some_and(|pct| pct.abs() <= CLOSE_PCT)
}

/// `calibration.md`: the section the report includes: the overview by version, then each
/// interpreter's table.
pub fn markdown(rows: &[Row], document: &Document) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Fidelity to CPython\n");
    let pythons: Vec<&str> = document.contexts.iter().map(|c| c.python.as_str()).collect();
    let _ = writeln!(
        out,
        "Each object workload's Python twin (`workloads/python/`) ran under each interpreter found \
         ({}), and the same work ran on the model at the interpreter's release \
         (`cycle@X.Y+pymalloc`), and each reported what it saw. CPython's pymalloc figures are \
         deltas from the interpreter's own state before the workload (the model's heap starts empty); \
         its collections are counted from the start of the workload, after a `gc.collect()`.\n",
        if pythons.is_empty() { "none".to_owned() } else { pythons.join(", ") }
    );
    if !document.missing.is_empty() {
        let _ = writeln!(out, "Not found here, so not compared: {}.\n", document.missing.join("; "));
    }
    let _ = writeln!(
        out,
        "The model takes CPython's parameters as measured, and nothing else: the generation thresholds \
         (`gc.get_threshold()`), pymalloc's arena size, and the tracked objects the interpreter holds \
         (`len(gc.get_objects())` after `gc.collect()`, rows \"parameter: interpreter's tracked \
         objects\"), which count in the long-lived total of the 25% rule; its object sizes, \
         collection rules and geometry are the release's own.\n"
    );
    if !document.contexts.is_empty() {
        let _ = writeln!(out, "### By version\n");
        let _ = writeln!(
            out,
            "| release | interpreter | model | rows | within {CLOSE_PCT}% | collections rows within {CLOSE_PCT}% | pools and arenas rows within {CLOSE_PCT}% | sys.getsizeof rows exact |"
        );
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|");
        for context in &document.contexts {
            let mine: Vec<&Row> = rows.iter().filter(|row| row.python == context.release).collect();
            let share = |filter: &dyn Fn(&Row) -> bool, test: &dyn Fn(&Row) -> bool| {
                let of: Vec<&&Row> = mine.iter().filter(|row| filter(row)).collect();
                format!("{} of {}", of.iter().filter(|row| test(row)).count(), of.len())
            };
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {} | {} | {} |",
                context.release,
                context.python,
                context.strategy,
                mine.len(),
                share(&|_| true, &close),
                share(&|row| row.metric.starts_with("collections of"), &close),
                share(&|row| row.metric.starts_with("pools of") || row.metric.starts_with("arenas"), &close),
                share(&|row| row.metric.starts_with("sys.getsizeof"), &|row| row.cpython == row.heaplab),
            );
        }
        let _ = writeln!(out);
    }
    for context in &document.contexts {
        let thresholds: Vec<String> = context.thresholds.iter().map(u64::to_string).collect();
        let arena = context.arena_size.map_or("not reported".to_owned(), |bytes| format!("{bytes} bytes"));
        let _ = writeln!(out, "### {} against `{}`\n", context.python, context.strategy);
        let _ = writeln!(
            out,
            "Seed {}; `gc.get_threshold()`: {}; pymalloc's arena size: {arena}.\n",
            context.seed,
            thresholds.join(", ")
        );
        let _ = writeln!(out, "| metric | workload | size | CPython | heaplab | difference |");
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
        for row in rows.iter().filter(|row| row.python == context.release) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                row.metric,
                row.workload,
                row.size,
                figure(row.cpython),
                figure(row.heaplab),
                difference(row)
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "The difference is (heaplab − CPython) / CPython. \"sys.getsizeof\" rows compare the size \
         CPython reports for one object with the model's (object, GC header of a container, a list's \
         buffer, a dict's keys object, a set's table); \"traced bytes\" rows compare tracemalloc's bytes \
         (a separate run) with the model's live bytes; \"pools\" and \"arenas\" rows compare \
         `sys._debugmallocstats()` with the model's pymalloc; \"one full collection\" compares a \
         `gc.collect()` with the model's, on the same heap.\n"
    );
    let _ = writeln!(
        out,
        "Not modelled, so expected to differ a little: CPython's free lists (up to 2,000 tuples of each \
         length, 100 floats, 80 lists and 80 dicts, kept for reuse: after teardown they pin pools, and \
         arenas, that the model returns), cached small ints and one-character strs, the padding of \
         CPython's one-digit ints (32 bytes requested where `sys.getsizeof` says 28: tracemalloc sees \
         it, the pools do not), up to 3.10 the frame of a function's first call (a GC object, kept \
         on its code object afterwards: one in generation 0's count that never comes off), the \
         interpreter's own transient objects, and the cost of traversing the interpreter's objects in a full collection. At the end of a \
         phase of cyclic-garbage what is held is garbage not yet collected, a sawtooth that the figures \
         sample where the collections happen to leave it.\n"
    );
    let _ = writeln!(out, "Made by `{}`.", document.command);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row {
                python: "3.11".into(),
                workload: "bulk-load".into(),
                size: 2,
                metric: "collections of generation 0".into(),
                cpython: 2616.0,
                heaplab: 2616.0,
            },
            Row {
                python: "3.11".into(),
                workload: "gc-traverse".into(),
                size: 1,
                metric: "one full collection (ms)".into(),
                cpython: 40.0,
                heaplab: 10.5,
            },
            Row {
                python: "3.12".into(),
                workload: "bulk-load-gc-off".into(),
                size: 2,
                metric: "pools".into(),
                cpython: 0.0,
                heaplab: 3.0,
            },
        ]
    }

    #[test]
    fn figures_and_differences_read_plainly() {
        assert_eq!(figure(2616.0), "2616");
        assert_eq!(figure(10.456), "10.46");
        let rows = rows();
        assert_eq!(difference(&rows[0]), "+0.0%");
        assert_eq!(difference(&rows[1]), "-73.8%");
        assert_eq!(difference(&rows[2]), "—");
    }

    #[test]
    fn the_csv_has_the_columns_and_a_line_per_row() {
        let text = String::from_utf8(csv(&rows()).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "python,workload,size,metric,cpython,heaplab,difference_pct");
        assert_eq!(lines[1], "3.11,bulk-load,2,collections of generation 0,2616,2616,0.000");
        assert_eq!(lines[3], "3.12,bulk-load-gc-off,2,pools,0,3,");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn the_markdown_section_goes_by_version() {
        let context = |python: &str, release: &str| Context {
            python: python.into(),
            release: release.into(),
            strategy: format!("cycle@{release}+pymalloc"),
            seed: 42,
            thresholds: vec![700, 10, 10],
            arena_size: Some(1 << 20),
        };
        let document = Document {
            contexts: vec![context("CPython 3.11.7", "3.11"), context("CPython 3.12.1", "3.12")],
            missing: vec!["CPython 3.8 (no pyenv build)".into()],
            command: "cargo xtask calibrate".into(),
        };
        let text = markdown(&rows(), &document);
        assert!(text.starts_with("## Fidelity to CPython\n"));
        assert!(text.contains("Not found here, so not compared: CPython 3.8 (no pyenv build)."));
        // The overview: one line per release, counting its own rows.
        assert!(
            text.contains(
                "| 3.11 | CPython 3.11.7 | `cycle@3.11+pymalloc` | 2 | 1 of 2 | 1 of 1 | 0 of 0 | 0 of 0 |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| 3.12 | CPython 3.12.1 | `cycle@3.12+pymalloc` | 1 | 0 of 1 | 0 of 0 | 0 of 0 | 0 of 0 |"
            ),
            "{text}"
        );
        let section_311 = text.find("### CPython 3.11.7 against `cycle@3.11+pymalloc`").unwrap();
        let section_312 = text.find("### CPython 3.12.1 against `cycle@3.12+pymalloc`").unwrap();
        let one_full =
            text.find("| one full collection (ms) | gc-traverse | 1 | 40 | 10.50 | -73.8% |").unwrap();
        let pools = text.find("| pools | bulk-load-gc-off | 2 | 0 | 3 | — |").unwrap();
        assert!(section_311 < one_full && one_full < section_312 && section_312 < pools, "{text}");
        assert!(text.contains("`gc.get_threshold()`: 700, 10, 10; pymalloc's arena size: 1048576 bytes."));
    }

    #[test]
    fn the_terminal_table_aligns_its_columns() {
        let text = terminal(&rows());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        let column = lines[0].find("workload").unwrap();
        assert!(lines[1..].iter().all(|line| line[column..].starts_with(|c: char| c.is_alphanumeric())));
    }
}
