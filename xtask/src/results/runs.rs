//! Where finished runs go: `runs.csv` (the columns of
//! [`heaplab_core::record::COLUMNS`]) and `runs.jsonl` (the full records, with
//! phases), each run appended as one whole line and synced at once, so that an
//! interrupted sweep loses nothing and never leaves half a row.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use heaplab_core::record::COLUMNS;
use heaplab_core::{Record, RunReport};

/// The header line of `runs.csv`, with its newline.
pub fn header_line() -> String {
    let mut line = COLUMNS.join(",");
    line.push('\n');
    line
}

/// One row of `runs.csv`, with its newline: empty fields for absent figures.
pub fn record_line(record: &Record) -> anyhow::Result<String> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.serialize(record).context("writing a runs.csv row")?;
    let bytes = writer.into_inner().context("writing a runs.csv row")?;
    String::from_utf8(bytes).context("a runs.csv row is not UTF-8")
}

/// An append-only file of whole lines, each synced to disk when written.
struct LineFile {
    path: PathBuf,
    file: File,
}

impl LineFile {
    fn open(path: &Path, header: Option<&str>) -> anyhow::Result<LineFile> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut line_file = LineFile { path: path.to_owned(), file };
        let empty = !existed || line_file.file.metadata().map(|meta| meta.len() == 0).unwrap_or(false);
        if let (true, Some(header)) = (empty, header) {
            line_file.append(header)?;
        }
        Ok(line_file)
    }

    /// Appends `line` (which ends in a newline) in one write, then flushes and syncs.
    fn append(&mut self, line: &str) -> anyhow::Result<()> {
        debug_assert!(line.ends_with('\n'));
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("appending to {}", self.path.display()))
    }
}

/// The two result files of a sweep directory, open for appending.
pub struct Sink {
    runs_csv: LineFile,
    runs_jsonl: LineFile,
}

impl Sink {
    /// Opens (creating where needed) `dir/runs.csv` and `dir/runs.jsonl`.
    ///
    /// The header is written only when `runs.csv` is created; an existing
    /// file must have the contract's header.
    pub fn open(dir: &Path) -> anyhow::Result<Sink> {
        let csv_path = dir.join(super::RUNS_CSV);
        if csv_path.exists() {
            check_header(&csv_path)?;
            upgrade_header(&csv_path)?;
        }
        Ok(Sink {
            runs_csv: LineFile::open(&csv_path, Some(&header_line()))?,
            runs_jsonl: LineFile::open(&dir.join(super::RUNS_JSONL), None)?,
        })
    }

    /// Appends one finished run to both files.
    pub fn append(&mut self, report: &RunReport) -> anyhow::Result<()> {
        let mut json = serde_json::to_string(report).context("serialising a run report")?;
        json.push('\n');
        self.runs_csv.append(&record_line(&report.record)?)?;
        self.runs_jsonl.append(&json)
    }
}

fn check_header(path: &Path) -> anyhow::Result<()> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers().with_context(|| format!("{}:1: unreadable header", path.display()))?;
    if headers.is_empty() {
        return Ok(());
    }
    if !heaplab_core::record::is_runs_header(headers.iter()) {
        bail!(
            "{}:1: the header is not the runs.csv columns (expected {})",
            path.display(),
            COLUMNS.join(",")
        );
    }
    Ok(())
}

/// Rewrites a `runs.csv` written before the `params` column with it (empty), so that new rows can be appended.
fn upgrade_header(path: &Path) -> anyhow::Result<()> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    if reader.headers().map(|headers| headers.len() == COLUMNS.len()).unwrap_or(true) {
        return Ok(());
    }
    let records = read_runs_csv(path)?;
    let mut text = header_line();
    for record in &records {
        text.push_str(&record_line(record)?);
    }
    std::fs::write(path, text).with_context(|| format!("rewriting {} with the params column", path.display()))
}

/// Reads `runs.csv`: the header must be [`COLUMNS`]; a bad row is an error naming the file and its line.
pub fn read_runs_csv(path: &Path) -> Result<Vec<Record>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(file);
    let headers =
        reader.headers().with_context(|| format!("{}:1: unreadable header", path.display()))?.clone();
    if !heaplab_core::record::is_runs_header(headers.iter()) {
        bail!(
            "{}:1: the header is not the runs.csv columns (expected {})",
            path.display(),
            COLUMNS.join(",")
        );
    }
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|err| {
            let line = err.position().map(|p| p.line()).unwrap_or(0);
            anyhow::anyhow!("{}:{line}: {err}", path.display())
        })?;
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        let record: Record = row
            .deserialize(Some(&headers))
            .map_err(|err| anyhow::anyhow!("{}:{line}: {}", path.display(), describe_csv_error(&err)))?;
        records.push(record);
    }
    Ok(records)
}

/// The part of a csv deserialization error that says what was wrong, without its own position.
fn describe_csv_error(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(index) => {
                let column = COLUMNS.get(index as usize).copied().unwrap_or("?");
                format!("column {column}: {}", err.kind())
            }
            None => err.kind().to_string(),
        },
        _ => err.to_string(),
    }
}

/// Reads `runs.jsonl`, one [`RunReport`] per line (gzipped where the name ends in `.gz`);
/// blank lines are skipped.
pub fn read_runs_jsonl(path: &Path) -> Result<Vec<RunReport>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|extension| extension == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut reports = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line_number = index + 1;
        let line = line.with_context(|| format!("{}:{line_number}: unreadable", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let report: RunReport = serde_json::from_str(&line)
            .map_err(|err| anyhow::anyhow!("{}:{line_number}: {err}", path.display()))?;
        reports.push(report);
    }
    Ok(reports)
}

/// Writes `source` gzipped (best compression) to `target`.
pub fn gzip_file(source: &Path, target: &Path) -> Result<()> {
    let mut input = fs::File::open(source).with_context(|| format!("opening {}", source.display()))?;
    let output = fs::File::create(target).with_context(|| format!("creating {}", target.display()))?;
    let mut encoder =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(output), flate2::Compression::best());
    std::io::copy(&mut input, &mut encoder).with_context(|| format!("compressing {}", source.display()))?;
    let mut output = encoder.finish().with_context(|| format!("writing {}", target.display()))?;
    std::io::Write::flush(&mut output).with_context(|| format!("writing {}", target.display()))?;
    Ok(())
}

/// Writes records as `runs.csv`, header included.
pub fn write_runs_csv(path: &Path, records: &[Record]) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    for record in records {
        writer.serialize(record).with_context(|| format!("writing {}", path.display()))?;
    }
    if records.is_empty() {
        writer.write_record(COLUMNS)?;
    }
    writer.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes reports as `runs.jsonl`, one per line.
pub fn write_runs_jsonl(path: &Path, reports: &[RunReport]) -> Result<()> {
    let mut text = String::new();
    for report in reports {
        text.push_str(&serde_json::to_string(report)?);
        text.push('\n');
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use heaplab_core::Status;

    use super::*;

    fn record(strategy: &str, workload: &str, size: u64, rep: u32, status: Status) -> Record {
        let ok = status == Status::Ok;
        let figure = |value: u64| ok.then_some(value);
        Record {
            strategy: strategy.to_owned(),
            collector: strategy
                .split_once('+')
                .map(|(collector, _)| collector.to_owned())
                .unwrap_or_default(),
            allocator: strategy.rsplit('+').next().unwrap().to_owned(),
            workload: workload.to_owned(),
            size,
            threads: 1,
            seed: 42,
            rep,
            status,
            checksum: ok.then(|| "00000000deadbeef".to_owned()),
            wall_ns: figure(1_000_000),
            user_ns: figure(900_000),
            sys_ns: figure(100_000),
            ops: figure(5000),
            ops_per_s: ok.then_some(5_000_000.5),
            peak_rss_bytes: figure(10 << 20),
            end_rss_bytes: figure(9 << 20),
            peak_live_bytes: figure(1 << 20),
            end_live_bytes: figure(0),
            allocated_bytes: figure(3 << 20),
            leaked_bytes: figure(0),
            collections: figure(7),
            pause_total_ns: figure(5000),
            pause_max_ns: figure(2000),
            pause_p99_ns: figure(2000),
            minor_faults: figure(300),
            params: String::new(),
        }
    }

    fn report(record: Record) -> RunReport {
        RunReport { record, collections_by_gen: vec![], phases: vec![], anon_huge_bytes: None }
    }

    fn fields(line: &str) -> Vec<String> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
        reader.records().next().unwrap().unwrap().iter().map(str::to_owned).collect()
    }

    #[test]
    fn the_header_is_the_contract() {
        assert_eq!(fields(&header_line()), COLUMNS);
        // The header serde would write for a Record names the same columns in the same order.
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(record("cycle+pymalloc", "churn", 1, 0, Status::Ok)).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
    }

    #[test]
    fn an_ok_row_has_every_column() {
        let line = record_line(&record("cycle+pymalloc", "churn", 1000, 2, Status::Ok)).unwrap();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let row = fields(&line);
        assert_eq!(row.len(), COLUMNS.len());
        let column = |name: &str| row[COLUMNS.iter().position(|c| *c == name).unwrap()].clone();
        assert_eq!(column("strategy"), "cycle+pymalloc");
        assert_eq!(column("collector"), "cycle");
        assert_eq!(column("size"), "1000");
        assert_eq!(column("rep"), "2");
        assert_eq!(column("status"), "ok");
        assert_eq!(column("checksum"), "00000000deadbeef");
        assert_eq!(column("ops_per_s"), "5000000.5");
        assert_eq!(column("minor_faults"), "300");
    }

    #[test]
    fn a_failed_row_has_empty_figures() {
        let row = fields(&record_line(&record("mimalloc", "larson", 10, 0, Status::Timeout)).unwrap());
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(row[8], "timeout");
        assert!(row[9..].iter().all(String::is_empty), "{row:?}");
    }

    #[test]
    fn rows_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let written = vec![
            record("cycle+pymalloc", "churn", 1000, 0, Status::Ok),
            record("mimalloc", "larson", 10, 0, Status::Crashed),
        ];
        let mut sink = Sink::open(dir.path()).unwrap();
        for row in &written {
            sink.append(&report(row.clone())).unwrap();
        }
        drop(sink);
        assert_eq!(read_runs_csv(&dir.path().join("runs.csv")).unwrap(), written);
        let jsonl = std::fs::read_to_string(dir.path().join("runs.jsonl")).unwrap();
        let reports: Vec<RunReport> = jsonl.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[1].record, written[1]);
    }

    #[test]
    fn reopening_appends_without_a_second_header() {
        let dir = tempfile::tempdir().unwrap();
        Sink::open(dir.path()).unwrap().append(&report(record("a+b", "w", 1, 0, Status::Ok))).unwrap();
        Sink::open(dir.path()).unwrap().append(&report(record("a+b", "w", 1, 1, Status::Ok))).unwrap();
        let text = std::fs::read_to_string(dir.path().join("runs.csv")).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(text.matches("strategy,").count(), 1);
    }

    #[test]
    fn every_row_is_read_back_whatever_its_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::open(dir.path()).unwrap();
        sink.append(&report(record("cycle+pymalloc", "churn", 1000, 0, Status::Ok))).unwrap();
        sink.append(&report(record("cycle+pymalloc", "churn", 1000, 1, Status::Oom))).unwrap();
        sink.append(&report(record("refcount+pymalloc", "churn", 1000, 0, Status::Ok))).unwrap();
        let read: Vec<(String, u32, Status)> = read_runs_csv(&dir.path().join(super::super::RUNS_CSV))
            .unwrap()
            .into_iter()
            .map(|r| (r.strategy, r.rep, r.status))
            .collect();
        assert_eq!(
            read,
            [
                ("cycle+pymalloc".to_owned(), 0, Status::Ok),
                ("cycle+pymalloc".to_owned(), 1, Status::Oom),
                ("refcount+pymalloc".to_owned(), 0, Status::Ok)
            ]
        );
    }

    fn check_corrupt(bad_line: &str, expected_line: u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        let good = record_line(&record("cycle+pymalloc", "churn", 1000, 0, Status::Ok)).unwrap();
        std::fs::write(&path, format!("{}{good}{good}{bad_line}\n{good}", header_line())).unwrap();
        let error = format!("{:#}", read_runs_csv(&path).unwrap_err());
        let expected = format!("{}:{expected_line}:", path.display());
        assert!(error.contains(&expected), "{error} should name {expected}");
    }

    #[test]
    fn a_corrupt_row_names_the_file_and_the_line() {
        check_corrupt("cycle+pymalloc,cycle,pymalloc,churn,not-a-size,1,42,0,ok,,,,,,,,,,,,,,,,,", 4);
        check_corrupt("cycle+pymalloc,cycle,pymalloc,churn,10,1,42,0,exploded,,,,,,,,,,,,,,,,,", 4);
        check_corrupt("cycle+pymalloc,cycle,pymalloc,chu", 4);
    }

    #[test]
    fn a_foreign_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("runs.csv"), "name,time\nx,1\n").unwrap();
        let error = Sink::open(dir.path()).err().unwrap().to_string();
        assert!(error.contains("runs.csv:1:"), "{error}");
        assert!(read_runs_csv(&dir.path().join("runs.csv")).is_err());
    }
}
