//! `cargo xtask report` on synthetic numeric runs of known figures: bytes and
//! time per element, boxed against contiguous, and the reduction against the
//! memory bandwidth, in the findings, the tables and the plot.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

const HEADER: &str = "strategy,collector,allocator,workload,size,threads,seed,rep,status,checksum,wall_ns,user_ns,sys_ns,ops,ops_per_s,peak_rss_bytes,end_rss_bytes,peak_live_bytes,end_live_bytes,allocated_bytes,leaked_bytes,collections,pause_total_ns,pause_max_ns,pause_p99_ns,minor_faults";
/// What every run's RSS holds besides its live bytes.
const RSS_OVERHEAD: u64 = 8 << 20;

/// One successful run.
struct Run {
    strategy: &'static str,
    workload: &'static str,
    size: u64,
    rep: u32,
    wall_ns: u64,
    peak_live: u64,
    /// The phase whose duration the bandwidth is read from, if any.
    phase: Option<(&'static str, u64)>,
}

impl Run {
    fn csv_row(&self) -> String {
        let (collector, allocator) = self.strategy.split_once('+').unwrap_or(("", self.strategy));
        let ops = self.size;
        let ops_per_s = ops as f64 * 1e9 / self.wall_ns as f64;
        let peak_rss = self.peak_live + RSS_OVERHEAD;
        format!(
            "{},{collector},{allocator},{},{},1,42,{},ok,00000000000000ff,{},{},0,{ops},{ops_per_s},{peak_rss},{},{},0,{},0,0,0,0,0,100",
            self.strategy,
            self.workload,
            self.size,
            self.rep,
            self.wall_ns,
            self.wall_ns,
            peak_rss / 2,
            self.peak_live,
            self.peak_live * 2,
        )
    }

    /// The run as a `runs.jsonl` line, its phases `build` and the measured one.
    fn jsonl_line(&self) -> String {
        let row = self.csv_row();
        let mut object = String::from("{");
        for (name, value) in HEADER.split(',').zip(row.split(',')) {
            let numeric =
                value.parse::<f64>().is_ok() && !matches!(name, "checksum" | "strategy" | "workload");
            if numeric {
                let _ = write!(object, "\"{name}\":{value},");
            } else {
                let _ = write!(object, "\"{name}\":\"{value}\",");
            }
        }
        let phase = |name: &str, duration_ns: u64| {
            format!(
                "{{\"name\":\"{name}\",\"duration_ns\":{duration_ns},\"live_bytes\":0,\"rss_bytes\":0,\"collections\":0,\"alloc\":{{\"counters\":null,\"mapped_bytes\":null,\"arenas\":null}}}}"
            )
        };
        let (name, duration_ns) = self.phase.unwrap_or(("compute", 1));
        let _ = write!(
            object,
            "\"collections_by_gen\":[0,0,0],\"phases\":[{},{}]}}",
            phase("build", 1000),
            phase(name, duration_ns)
        );
        object
    }
}

/// Per workload: sizes, wall ns per element and live bytes per element (a whole number of bytes for `chunked`).
const NUMERIC: [(&str, [u64; 2], u64, u64); 7] = [
    ("boxed-sum", [1_000_000, 4_000_000], 40, 64),
    ("array-sum", [1_000_000, 4_000_000], 4, 16),
    ("chunked", [1_000_000, 4_000_000], 5, 0),
    ("temporaries", [1_000_000, 4_000_000], 6, 56),
    ("temporaries-fused", [1_000_000, 4_000_000], 3, 40),
    ("matmul-boxed", [100, 200], 2000, 96),
    ("matmul-array", [100, 200], 40, 24),
];

/// Three repetitions (walls 0 and ±1% apart) of each numeric workload under
/// `cycle+pymalloc`; `array-sum` reduces 8 bytes an element at 8 GB/s; `bandwidth`
/// reads at 10 GB/s on `system` and `mimalloc` at 1M and 10M.
fn synthetic_runs(workloads: &[&str]) -> Vec<Run> {
    let mut runs = Vec::new();
    for (rep, percent) in [0i64, 1, -1].into_iter().enumerate() {
        let rep = rep as u32;
        for (workload, sizes, ns, live) in NUMERIC.into_iter().filter(|w| workloads.contains(&w.0)) {
            for size in sizes {
                let elements = if workload.starts_with("matmul") { size * size } else { size };
                let wall = ns * elements;
                let wall_ns = (wall as i64 + wall as i64 * percent / 100) as u64;
                let peak_live = if workload == "chunked" { 1 << 20 } else { live * elements };
                let phase = (workload == "array-sum").then_some(("reduce", size));
                runs.push(Run { strategy: "cycle+pymalloc", workload, size, rep, wall_ns, peak_live, phase });
            }
        }
        if workloads.contains(&"bandwidth") {
            for allocator in ["system", "mimalloc"] {
                for size in [1_000_000, 10_000_000] {
                    runs.push(Run {
                        strategy: allocator,
                        workload: "bandwidth",
                        size,
                        rep,
                        wall_ns: size * 5,
                        peak_live: 8 * size,
                        phase: Some(("read", size * 8 / 10)),
                    });
                }
            }
        }
    }
    runs
}

fn write_results(dir: &Path, runs: &[Run]) {
    let mut csv = format!("{HEADER}\n");
    let mut jsonl = String::new();
    for run in runs {
        csv.push_str(&run.csv_row());
        csv.push('\n');
        if run.phase.is_some() {
            jsonl.push_str(&run.jsonl_line());
            jsonl.push('\n');
        }
    }
    fs::write(dir.join("runs.csv"), csv).unwrap();
    fs::write(dir.join("runs.jsonl"), jsonl).unwrap();
}

fn report(dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["report", dir.to_str().unwrap()])
        .output()
        .expect("running xtask");
    assert!(output.status.success(), "report failed: {}", String::from_utf8_lossy(&output.stderr));
    fs::read_to_string(dir.join("REPORT.md")).unwrap()
}

/// The text of one `## ` section of the report.
fn section<'m>(markdown: &'m str, heading: &str) -> &'m str {
    let start = markdown.find(heading).unwrap_or_else(|| panic!("no {heading:?} in:\n{markdown}"));
    let rest = &markdown[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The report of every numeric workload and the bandwidth, shared by the tests that only read it.
fn reported() -> &'static (tempfile::TempDir, String) {
    static REPORTED: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
    REPORTED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<&str> = NUMERIC.iter().map(|w| w.0).chain(["bandwidth"]).collect();
        write_results(dir.path(), &synthetic_runs(&all));
        let markdown = report(dir.path());
        (dir, markdown)
    })
}

#[test]
fn findings_compare_boxed_and_contiguous_per_element() {
    let findings = section(&reported().1, "## Findings");
    let expect = |needle: &str| assert!(findings.contains(needle), "findings lack {needle:?}:\n{findings}");
    expect("### Large data: boxed against contiguous");
    expect(
        "Under `cycle+pymalloc` at size 4000000 (4,000,000 elements), `boxed-sum` peaks at 64 B of live data per element against 16 B for `array-sum` (4.00x) (95% CI [4.00x–4.00x]; significant (ranges, α=0.10)), 252 MiB against 69 MiB of peak RSS (3.65x) (95% CI [3.65x–3.65x]; significant (ranges, α=0.10)), and takes 40 ns per element against 4 ns (10.0x) (95% CI [9.80x–10.2x]; significant (ranges, α=0.10)).",
    );
    expect(
        "Under `cycle+pymalloc` at size 200 (40,000 entries of the 200 x 200 result), `matmul-boxed` peaks at 96 B of live data per element against 24 B for `matmul-array` (4.00x)",
    );
    expect("and takes 2 µs per element against 40 ns (50.0x) (95% CI");
    expect(
        "`temporaries` peaks at 56 B of live data per element against 40 B for `temporaries-fused` (1.40x)",
    );
    expect("and takes 6 ns per element against 3 ns (2.00x) (95% CI");
    expect("`chunked` peaks at 0.26 B of live data per element against 16 B for `array-sum` (0.016x)");
}

#[test]
fn the_reduction_is_a_fraction_of_the_measured_bandwidth() {
    let markdown = &reported().1;
    assert!(
        section(markdown, "## Findings").contains(
            "At size 1000000 (each pass reads 7.63 MiB), the `reduce` phase of `array-sum` under `cycle+pymalloc` reads at 7.45 GiB/s (median of 3 runs): 80% of the 9.31 GiB/s that the `read` phase of `bandwidth` reaches at the same size (median of 6 runs on 2 allocators)."
        ),
        "{markdown}"
    );
    assert!(
        section(markdown, "## Findings").contains(
            "At its largest size, 4000000 (each pass reads 30.5 MiB), the `reduce` phase of `array-sum` under `cycle+pymalloc` reads at 7.45 GiB/s (median of 3 runs): 80% of the 9.31 GiB/s that the `read` phase of `bandwidth` reaches at 10000000 (76.3 MiB), the nearest size where it ran (median of 6 runs on 2 allocators)."
        ),
        "beyond the common size, the nearest reference: {markdown}"
    );
    let large_data = section(markdown, "## Large data: bytes and time per element");
    for row in [
        "| 1000000 | 7.63 MiB | 7.45 GiB/s | 9.31 GiB/s | 80% |",
        "| 4000000 | 30.5 MiB | 7.45 GiB/s | – | – |",
        "| 10000000 | 76.3 MiB | – | 9.31 GiB/s | – |",
    ] {
        assert!(large_data.contains(row), "no row {row:?} in:\n{large_data}");
    }
}

#[test]
fn the_table_gives_every_workload_and_size_per_element() {
    let large_data = section(&reported().1, "## Large data: bytes and time per element");
    for row in [
        "| `boxed-sum` | 1000000 | 1,000,000 | `cycle+pymalloc` | 64 B | 72.4 B | 40 ns |",
        "| `boxed-sum` | 4000000 | 4,000,000 | `cycle+pymalloc` | 64 B | 66.1 B | 40 ns |",
        "| `array-sum` | 4000000 | 4,000,000 | `cycle+pymalloc` | 16 B | 18.1 B | 4 ns |",
        "| `matmul-boxed` | 200 | 40,000 | `cycle+pymalloc` | 96 B | 306 B | 2 µs |",
        "| `matmul-array` | 100 | 10,000 | `cycle+pymalloc` | 24 B | 863 B | 40 ns |",
        "| `boxed-sum` / `array-sum` | 1000000 | `cycle+pymalloc` | 64 B / 16 B | 4.00x [4.00x–4.00x] | 40 ns / 4 ns | 10.0x [9.80x–10.2x] |",
        "| `chunked` / `array-sum` | 4000000 | `cycle+pymalloc` | 0.26 B / 16 B | 0.016x [0.016x–0.016x] | 5 ns / 4 ns | 1.25x [1.23x–1.28x] |",
    ] {
        assert!(large_data.contains(row), "no row {row:?} in:\n{large_data}");
    }
    assert!(large_data.contains("![Bytes per element of each numeric workload at its largest size"));
}

#[test]
fn the_bytes_per_element_plot_is_drawn_and_linked() {
    let (dir, markdown) = reported();
    for extension in ["svg", "png"] {
        let path = dir.path().join(format!("plots/numeric-bytes-per-element.{extension}"));
        assert!(fs::metadata(&path).is_ok_and(|m| m.len() > 1000), "{} missing or empty", path.display());
    }
    let svg = fs::read_to_string(dir.path().join("plots/numeric-bytes-per-element.svg")).unwrap();
    assert!(svg.contains("boxed-sum (4M)") && svg.contains("matmul-array (200)"), "bars are labelled");
    assert!(markdown.contains("](plots/numeric-bytes-per-element.png)"));
    let html = fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert_eq!(
        html.matches("data:image/png;base64,").count(),
        fs::read_dir(dir.path().join("plots"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "png")
            .count(),
        "every plot, this one included, is inlined once"
    );
}

#[test]
fn the_large_data_findings_follow_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = synthetic_runs(&["boxed-sum", "array-sum", "bandwidth"]);
    for run in runs.iter_mut() {
        if run.workload == "boxed-sum" {
            run.peak_live /= 2;
        }
        if run.workload == "array-sum" {
            run.phase = Some(("reduce", run.size * 2));
        }
    }
    write_results(dir.path(), &runs);
    let findings = section(&report(dir.path()), "## Findings").to_owned();
    assert!(
        findings.contains(
            "`boxed-sum` peaks at 32 B of live data per element against 16 B for `array-sum` (2.00x)"
        ),
        "{findings}"
    );
    assert!(findings.contains(": 40% of the 9.31 GiB/s"), "{findings}");
    assert!(!findings.contains("(4.00x)") && !findings.contains(": 80% of"), "{findings}");
}

#[test]
fn without_numeric_runs_there_is_no_large_data_section() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<Run> = (0..3)
        .flat_map(|rep| {
            ["cycle+pymalloc", "refcount+pymalloc"].map(|strategy| Run {
                strategy,
                workload: "churn",
                size: 1000,
                rep,
                wall_ns: 1_000_000,
                peak_live: 1 << 20,
                phase: None,
            })
        })
        .collect();
    write_results(dir.path(), &runs);
    let markdown = report(dir.path());
    assert!(!markdown.contains("## Large data"), "{markdown}");
    assert!(!dir.path().join("plots/numeric-bytes-per-element.svg").exists());
}
