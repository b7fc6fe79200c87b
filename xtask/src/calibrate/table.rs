//! The calibration table, three ways: on the terminal, as `calibration.csv`, and as
//! data, `calibration.json`, which the report draws as its "Fidelity to CPython"
//! section (`report/calibration.rs`).

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::compare::Row;

/// The calibration's data file in a results directory.
pub const JSON_FILE: &str = "calibration.json";

/// The CSV header.
pub const CSV_COLUMNS: [&str; 7] =
    ["python", "workload", "size", "metric", "cpython", "heaplab", "difference_pct"];

/// One interpreter's runs: the interpreter, the strategy, the parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// `calibration.json`: the whole calibration, as the report reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFile {
    /// Each interpreter run, oldest release first.
    pub contexts: Vec<Context>,
    /// The interpreters asked for and not found, in words.
    pub missing: Vec<String>,
    /// The command as typed.
    pub command: String,
    /// Every row, interpreter by interpreter.
    pub rows: Vec<Row>,
}

/// `calibration.json`.
pub fn json(calibration: &CalibrationFile) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(calibration)? + "\n")
}

/// `dir/calibration.json`, where there is one.
pub fn read(dir: &Path) -> Option<anyhow::Result<CalibrationFile>> {
    let path = dir.join(JSON_FILE);
    if !path.is_file() {
        return None;
    }
    let read = || -> anyhow::Result<CalibrationFile> {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a calibration", path.display()))
    };
    Some(read())
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
    fn the_json_survives_a_write_and_a_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_none());
        let calibration = CalibrationFile {
            contexts: vec![Context {
                python: "CPython 3.11.7".into(),
                release: "3.11".into(),
                strategy: "cycle@3.11+pymalloc".into(),
                seed: 42,
                thresholds: vec![700, 10, 10],
                arena_size: Some(1 << 20),
            }],
            missing: vec![],
            command: "cargo xtask calibrate".into(),
            rows: rows(),
        };
        std::fs::write(dir.path().join(JSON_FILE), json(&calibration).unwrap()).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap(), calibration);
        std::fs::write(dir.path().join(JSON_FILE), "{}").unwrap();
        let error = format!("{:#}", read(dir.path()).unwrap().unwrap_err());
        assert!(error.contains("calibration.json: not a calibration"), "{error}");
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
