//! `cargo xtask publish DIR OUT` on a synthetic results directory: what is
//! copied, how the series shrink (every pause kept), the report drawn in OUT,
//! and one-line errors for bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HEADER: &str = "strategy,collector,allocator,workload,size,threads,seed,rep,status,checksum,wall_ns,user_ns,sys_ns,ops,ops_per_s,peak_rss_bytes,end_rss_bytes,peak_live_bytes,end_live_bytes,allocated_bytes,leaked_bytes,collections,pause_total_ns,pause_max_ns,pause_p99_ns,minor_faults";
const SERIES_HEADER: &str = "t_ns,rss_bytes,live_bytes,phase,event";

fn csv_row(strategy: &str, rep: u32, wall_ns: u64) -> String {
    let (collector, allocator) = strategy.split_once('+').unwrap();
    let ops_per_s = 1e6 * 1e9 / wall_ns as f64;
    format!(
        "{strategy},{collector},{allocator},binary-trees,12,1,42,{rep},ok,00000000000000ff,{wall_ns},{wall_ns},0,1000000,{ops_per_s},41943040,20971520,10485760,0,83886080,0,37,9000000,2500000,1250000,100"
    )
}

/// A series of `n_samples` samples through `build`, `compute` and `teardown`,
/// with a pause after every `pause_every`-th sample and a peak of live bytes at sample 7777.
fn long_series(n_samples: u64, pause_every: u64) -> String {
    let mut text = format!("{SERIES_HEADER}\n");
    for i in 0..n_samples {
        let phase = ["build", "compute", "teardown"][(3 * i / n_samples) as usize];
        let live = if i == 7777 { 900_000_000 } else { 1_000_000 + (i * 7919) % 100_000 };
        text.push_str(&format!("{},{},{live},{phase},\n", i * 1_000_000, 50_000_000 + i));
        if i % pause_every == pause_every - 1 {
            text.push_str(&format!(
                "{},{},{live},{phase},gc{}:{}\n",
                i * 1_000_000 + 1,
                50_000_000 + i,
                i % 3,
                1000 + i
            ));
        }
    }
    text
}

const SERIES_FILES: [&str; 2] =
    ["binary-trees__cycle+pymalloc__12__t1.csv", "binary-trees__refcount+pymalloc__12__t1.csv"];
const FAILURE_STDERR: &str = "binary-trees__marksweep+pymalloc__12__t1-rep0.stderr";

/// A results directory: two strategies on binary-trees, three repetitions each,
/// long series, a failure, an unfinished series, `env.json` and calibration files.
fn write_results(dir: &Path) {
    fs::create_dir_all(dir.join("series")).unwrap();
    fs::create_dir_all(dir.join("failures")).unwrap();
    let mut csv = format!("{HEADER}\n");
    let mut jsonl = String::new();
    for rep in 0..3 {
        for (strategy, wall_ns) in
            [("cycle+pymalloc", 100_000_000 + rep as u64), ("refcount+pymalloc", 80_000_000 + rep as u64)]
        {
            let row = csv_row(strategy, rep, wall_ns);
            csv.push_str(&row);
            csv.push('\n');
            let fields: Vec<String> = HEADER
                .split(',')
                .zip(row.split(','))
                .map(|(name, value)| match value.parse::<f64>() {
                    Ok(_) if !matches!(name, "checksum") => format!("\"{name}\":{value}"),
                    _ => format!("\"{name}\":\"{value}\""),
                })
                .collect();
            jsonl.push_str(&format!(
                "{{{},\"collections_by_gen\":[37,0,0],\"phases\":[]}}\n",
                fields.join(",")
            ));
        }
    }
    csv.push_str("marksweep+pymalloc,marksweep,pymalloc,binary-trees,12,1,42,0,crashed,,,,,,,,,,,,,,,,,\n");
    fs::write(dir.join("runs.csv"), csv).unwrap();
    fs::write(dir.join("runs.jsonl"), jsonl).unwrap();
    fs::write(dir.join("env.json"), "{\"cpu\":{\"model\":\"Test CPU\"}}").unwrap();
    fs::create_dir_all(dir.join("envs")).unwrap();
    for invocation in ["20261202T150000Z-p1", "20261202T160000Z-p2"] {
        fs::write(dir.join(format!("envs/{invocation}.json")), "{\"cpu\":{\"model\":\"Test CPU\"}}").unwrap();
    }
    fs::write(dir.join("calibration.csv"), "metric,value\npools,1964\n").unwrap();
    fs::write(dir.join("calibration.json"), "{\"contexts\":[{\"python\":\"CPython 3.11.7\",\"release\":\"3.11\",\"strategy\":\"cycle@3.11+pymalloc\",\"seed\":42,\"thresholds\":[700,10,10],\"arena_size\":1048576}],\"missing\":[],\"command\":\"cargo xtask calibrate --measured-by-a-test\",\"rows\":[{\"python\":\"3.11\",\"workload\":\"bulk-load\",\"size\":2,\"metric\":\"collections of generation 0\",\"cpython\":2616.0,\"heaplab\":2616.0}]}").unwrap();
    fs::write(dir.join("series").join(SERIES_FILES[0]), long_series(20_000, 80)).unwrap();
    fs::write(dir.join("series").join(SERIES_FILES[1]), long_series(12_000, 1_000_000)).unwrap();
    fs::write(dir.join("series/churn__cycle+pymalloc__1000__t1.rep0.partial.csv"), long_series(10, 2))
        .unwrap();
    fs::write(dir.join("failures").join(FAILURE_STDERR), "thread 'main' panicked\nSegmentation fault\n")
        .unwrap();
    // A killed run's series, its last row cut short.
    fs::write(
        dir.join("failures/binary-trees__marksweep+pymalloc__12__t1-rep0.series.csv"),
        format!("{SERIES_HEADER}\n0,1,2,build,\n5,1"),
    )
    .unwrap();
}

fn xtask(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().expect("running xtask")
}

fn publish(dir: &Path, out: &Path) -> Output {
    xtask(&[Path::new("publish"), dir, out])
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files
                .extend(files_under(&path).into_iter().map(|p| Path::new(path.file_name().unwrap()).join(p)));
        } else {
            files.push(PathBuf::from(path.file_name().unwrap()));
        }
    }
    files
}

/// One publication of the synthetic directory, shared by the tests that only read it.
fn published() -> &'static (tempfile::TempDir, PathBuf, Output) {
    static PUBLISHED: std::sync::OnceLock<(tempfile::TempDir, PathBuf, Output)> = std::sync::OnceLock::new();
    PUBLISHED.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let (dir, out) = (root.path().join("latest"), root.path().join("published"));
        write_results(&dir);
        let output = publish(&dir, &out);
        assert!(output.status.success(), "publish failed: {}", String::from_utf8_lossy(&output.stderr));
        (root, out, output)
    })
}

fn source_dir() -> PathBuf {
    published().0.path().join("latest")
}

#[test]
fn the_data_files_are_copied_as_they_are() {
    let out = &published().1;
    for name in [
        "runs.csv",
        "env.json",
        "calibration.csv",
        "calibration.json",
        "envs/20261202T150000Z-p1.json",
        "envs/20261202T160000Z-p2.json",
    ] {
        assert_eq!(fs::read(out.join(name)).unwrap(), fs::read(source_dir().join(name)).unwrap(), "{name}");
    }
    // runs.jsonl goes gzipped, and comes back whole.
    assert!(!out.join("runs.jsonl").exists());
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(fs::File::open(out.join("runs.jsonl.gz")).unwrap()),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, fs::read_to_string(source_dir().join("runs.jsonl")).unwrap());
    let failure = format!("failures/{FAILURE_STDERR}");
    assert_eq!(fs::read(out.join(&failure)).unwrap(), fs::read(source_dir().join(&failure)).unwrap());
    assert!(
        out.join("failures/binary-trees__marksweep+pymalloc__12__t1-rep0.series.csv").is_file(),
        "a cut-short series of a failed run is copied as it is"
    );
    assert!(
        !out.join("series/churn__cycle+pymalloc__1000__t1.rep0.partial.csv").exists(),
        "unfinished series stay behind"
    );
}

#[test]
fn series_shrink_and_keep_every_pause_and_phase_boundary() {
    let out = &published().1;
    for name in SERIES_FILES {
        let (original, thinned) = (
            fs::read_to_string(source_dir().join("series").join(name)).unwrap(),
            fs::read_to_string(out.join("series").join(name)).unwrap(),
        );
        assert!(thinned.len() * 10 < original.len(), "{name}: {} bytes of {}", thinned.len(), original.len());
        let rows: Vec<&str> = thinned.lines().collect();
        assert_eq!(rows[0], SERIES_HEADER);
        assert!(rows.len() - 1 <= 500, "{name}: {} rows", rows.len() - 1);
        let original_rows: Vec<&str> = original.lines().collect();
        for (index, row) in original_rows.iter().enumerate().skip(1) {
            let is_event = !row.ends_with(',');
            let is_end = index == 1 || index == original_rows.len() - 1;
            let phase = |r: &str| r.split(',').nth(3).unwrap().to_owned();
            let is_boundary = !is_event
                && [index.checked_sub(1), Some(index + 1)].into_iter().flatten().any(|other| {
                    original_rows
                        .get(other)
                        .is_some_and(|o| other >= 1 && o.ends_with(',') && phase(o) != phase(row))
                });
            if is_event || is_end || is_boundary {
                assert!(rows.contains(row), "{name}: row {index} ({row}) was dropped");
            }
        }
        let peak = original_rows.iter().find(|r| r.contains(",900000000,")).unwrap();
        assert!(rows.contains(peak), "{name}: the peak of live bytes survives");
    }
    let with_pauses = fs::read_to_string(out.join("series").join(SERIES_FILES[0])).unwrap();
    assert_eq!(with_pauses.lines().filter(|l| !l.ends_with(',')).count() - 1, 250, "all 250 pauses");
}

#[test]
fn the_report_is_drawn_in_out_and_links_only_what_is_there() {
    let out = &published().1;
    for name in [
        "summary.csv",
        "REPORT.md",
        "index.html",
        "plots/binary-trees-timeline.png",
        "plots/binary-trees-pauses.svg",
    ] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    let markdown = fs::read_to_string(out.join("REPORT.md")).unwrap();
    let mut rest = markdown.as_str();
    let mut n_links = 0;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let end = after.find(')').unwrap();
        let link = &after[..end];
        assert!(!link.starts_with('/') && !link.contains(".."), "not inside OUT: {link}");
        assert!(out.join(link).is_file(), "REPORT.md links to {link}, which OUT lacks");
        n_links += 1;
        rest = &after[end..];
    }
    assert!(n_links > 5, "{markdown}");
    assert!(markdown.contains("Segmentation fault"), "the failure's stderr is read from OUT");
    assert!(markdown.contains("--measured-by-a-test"), "calibration.json is in the report");
}

#[test]
fn the_report_is_the_one_report_would_draw_from_out() {
    let out = &published().1;
    let copy = published().0.path().join("redrawn");
    fs::create_dir_all(copy.join("series")).unwrap();
    fs::create_dir_all(copy.join("failures")).unwrap();
    fs::create_dir_all(copy.join("envs")).unwrap();
    for file in files_under(out).into_iter().filter(|f| !f.starts_with("plots")) {
        fs::copy(out.join(&file), copy.join(&file)).unwrap();
    }
    let output = xtask(&[Path::new("report"), &copy]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for name in ["REPORT.md", "summary.csv"] {
        assert_eq!(
            fs::read_to_string(copy.join(name)).unwrap(),
            fs::read_to_string(out.join(name)).unwrap(),
            "{name} differs from what `report` draws"
        );
    }
}

#[test]
fn publish_prints_the_total_size_of_out() {
    let (_, out, output) = published();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find(|l| l.starts_with("published ")).unwrap_or_else(|| panic!("{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let bytes_at = words.iter().position(|w| *w == "bytes").unwrap_or_else(|| panic!("{line}"));
    let files_at = words.iter().position(|w| w.starts_with("files")).unwrap();
    let total: u64 = files_under(out).iter().map(|f| fs::metadata(out.join(f)).unwrap().len()).sum();
    assert_eq!(words[bytes_at - 1].parse::<u64>().unwrap(), total, "{line}");
    assert_eq!(words[files_at - 1].parse::<usize>().unwrap(), files_under(out).len(), "{line}");
    assert!(line.contains("1 unfinished series"), "{line}");
}

#[test]
fn publishing_again_replaces_the_earlier_publication() {
    let root = tempfile::tempdir().unwrap();
    let (dir, out) = (root.path().join("latest"), root.path().join("published"));
    write_results(&dir);
    fs::create_dir_all(out.join("series")).unwrap();
    fs::write(out.join("runs.csv"), "an earlier publication").unwrap();
    fs::write(out.join("series/gone__cycle+pymalloc__1__t1.csv"), SERIES_HEADER).unwrap();
    fs::remove_file(dir.join("calibration.csv")).unwrap();
    fs::write(out.join("calibration.csv"), "stale").unwrap();
    let output = publish(&dir, &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        !out.join("series/gone__cycle+pymalloc__1__t1.csv").exists(),
        "a series DIR no longer has is removed"
    );
    assert!(!out.join("calibration.csv").exists(), "so is a file DIR no longer has");
    assert_eq!(fs::read(out.join("runs.csv")).unwrap(), fs::read(dir.join("runs.csv")).unwrap());
}

#[test]
fn bad_input_gets_a_one_line_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("latest");
    write_results(&dir);
    let empty = root.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let occupied = root.path().join("occupied");
    fs::create_dir_all(&occupied).unwrap();
    fs::write(occupied.join("notes.txt"), "mine").unwrap();
    let check = |dir: &Path, out: &Path, expected: &str| {
        let output = publish(dir, out);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "expected {expected:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line, no backtrace: {stderr}");
    };
    check(&root.path().join("missing"), &root.path().join("out"), "does not exist");
    check(&empty, &root.path().join("out"), "holds no runs.csv: not a results directory");
    check(&dir, &dir.join("published"), "is inside");
    check(&dir, &dir, "is inside");
    check(&dir, root.path(), "is inside");
    check(&dir, &occupied, "is not empty");
    assert_eq!(fs::read_to_string(occupied.join("notes.txt")).unwrap(), "mine", "nothing was touched");
    assert!(!dir.join("published").exists(), "nothing was written inside DIR");
    assert!(!root.path().join("out").exists());
}

#[test]
fn without_the_report_only_the_data_is_copied() {
    let root = tempfile::tempdir().unwrap();
    let (dir, out) = (root.path().join("shard"), root.path().join("copy"));
    write_results(&dir);
    let output = xtask(&[Path::new("publish"), Path::new("--no-report"), &dir, &out]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut files = files_under(&out);
    files.sort();
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    assert!(
        names.contains(&"runs.csv".to_owned()) && names.contains(&"runs.jsonl.gz".to_owned()),
        "{names:?}"
    );
    assert!(names.iter().any(|name| name.starts_with("series/")), "{names:?}");
    for drawn in ["REPORT.md", "index.html", "summary.csv"] {
        assert!(!out.join(drawn).exists(), "{drawn} is drawn only with the report");
    }
    assert!(!out.join("plots").exists());
    // The copy is a results directory: the report draws from it later.
    let output = xtask(&[Path::new("report"), &out]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.join("REPORT.md").is_file());
}
