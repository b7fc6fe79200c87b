//! `cargo xtask report` and `cargo xtask compare` on synthetic results with
//! known figures: the files written are the contract.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HEADER: &str = "strategy,collector,allocator,workload,size,threads,seed,rep,status,checksum,wall_ns,user_ns,sys_ns,ops,ops_per_s,peak_rss_bytes,end_rss_bytes,peak_live_bytes,end_live_bytes,allocated_bytes,leaked_bytes,collections,pause_total_ns,pause_max_ns,pause_p99_ns,minor_faults";
const MIB: u64 = 1 << 20;

/// One successful run with the figures the report reads.
#[derive(Clone)]
struct Run {
    strategy: &'static str,
    workload: &'static str,
    size: u64,
    threads: u32,
    rep: u32,
    wall_ns: u64,
    peak_rss: u64,
    leaked: u64,
    collections: u64,
    pause_max_ns: u64,
}

impl Run {
    fn new(
        strategy: &'static str,
        workload: &'static str,
        size: u64,
        rep: u32,
        wall_ns: u64,
        peak_rss: u64,
    ) -> Run {
        Run {
            strategy,
            workload,
            size,
            threads: 1,
            rep,
            wall_ns,
            peak_rss,
            leaked: 0,
            collections: 0,
            pause_max_ns: 0,
        }
    }

    fn csv_row(&self) -> String {
        let (collector, allocator) = self.strategy.split_once('+').unwrap_or(("", self.strategy));
        let ops = 1_000_000u64;
        let ops_per_s = ops as f64 * 1e9 / self.wall_ns as f64;
        format!(
            "{},{collector},{allocator},{},{},{},42,{},ok,00000000000000ff,{},{},0,{ops},{ops_per_s},{},{},{},0,{},{},{},{},{},{},100",
            self.strategy,
            self.workload,
            self.size,
            self.threads,
            self.rep,
            self.wall_ns,
            self.wall_ns,
            self.peak_rss,
            self.peak_rss / 2,
            self.peak_rss / 4,
            self.peak_rss * 2,
            self.leaked,
            self.collections,
            self.pause_max_ns * self.collections,
            self.pause_max_ns,
            self.pause_max_ns / 2,
        )
    }

    fn jsonl_line(&self, arena_map: &str) -> String {
        let row = self.csv_row();
        let values: Vec<&str> = row.split(',').collect();
        let mut object = String::from("{");
        for (name, value) in HEADER.split(',').zip(&values) {
            let json_value = if value.is_empty() {
                "null".to_owned()
            } else if value.parse::<f64>().is_ok() && !matches!(name, "checksum" | "strategy" | "workload") {
                value.to_string()
            } else {
                format!("\"{value}\"")
            };
            let _ = write!(object, "\"{name}\":{json_value},");
        }
        let arenas = format!(
            "{{\"pool_size\":16384,\"arena_size\":1048576,\"arenas_allocated_total\":3,\"arenas_reclaimed\":0,\"arenas_highwater\":3,\"arenas_current\":3,\"classes\":[],\"arena_map\":{arena_map},\"large_blocks\":0}}"
        );
        let phase = |name: &str, arenas: &str| {
            format!(
                "{{\"name\":\"{name}\",\"duration_ns\":1000,\"live_bytes\":10,\"rss_bytes\":100,\"collections\":0,\"alloc\":{{\"counters\":null,\"mapped_bytes\":null,\"arenas\":{arenas}}}}}"
            )
        };
        let _ = write!(
            object,
            "\"collections_by_gen\":[0,0,0],\"phases\":[{},{},{}]}}",
            phase("build", "null"),
            phase("free", &arenas),
            phase("reuse", "null")
        );
        object
    }
}

fn failed_row(strategy: &str, workload: &str, size: u64, rep: u32, status: &str) -> String {
    let (collector, allocator) = strategy.split_once('+').unwrap_or(("", strategy));
    format!("{strategy},{collector},{allocator},{workload},{size},1,42,{rep},{status},,,,,,,,,,,,,,,,,")
}

/// The synthetic sweep: three strategies on binary-trees at two sizes, three repetitions each;
/// cyclic-garbage where refcount leaks; two allocators on larson at one and two threads;
/// fragmentation with an arena map; one crashed run.
fn synthetic_runs(wall_scale: u64) -> Vec<Run> {
    let mut runs = Vec::new();
    for (rep, jitter) in [0i64, 2, -2].into_iter().enumerate() {
        let rep = rep as u32;
        let ms = |base: i64| ((base + jitter) * 1_000_000) as u64 * wall_scale;
        for size in [10, 12] {
            let grow = if size == 12 { 4 } else { 1 };
            let mut cycle =
                Run::new("cycle+pymalloc", "binary-trees", size, rep, ms(100) * grow, 40 * MIB * grow);
            cycle.collections = 37;
            cycle.pause_max_ns = 2_500_000;
            runs.push(cycle);
            runs.push(Run::new(
                "refcount+pymalloc",
                "binary-trees",
                size,
                rep,
                ms(80) * grow,
                36 * MIB * grow,
            ));
            let mut marksweep =
                Run::new("marksweep+pymalloc", "binary-trees", size, rep, ms(50) * grow, 80 * MIB * grow);
            marksweep.collections = 5;
            marksweep.pause_max_ns = 9_000_000;
            runs.push(marksweep);
        }
        let mut leaky = Run::new("refcount+pymalloc", "cyclic-garbage", 1000, rep, ms(30), 64 * MIB);
        leaky.leaked = 12 * MIB;
        runs.push(leaky);
        runs.push(Run::new("cycle+pymalloc", "cyclic-garbage", 1000, rep, ms(45), 20 * MIB));
        for (allocator, one, two) in [("pymalloc", 100, 110), ("mimalloc", 100, 50)] {
            runs.push(Run::new(allocator, "larson", 1000, rep, ms(one), 8 * MIB));
            let mut threaded = Run::new(allocator, "larson", 1000, rep, ms(two), 9 * MIB);
            threaded.threads = 2;
            runs.push(threaded);
        }
        runs.push(Run::new("cycle+pymalloc", "fragmentation", 500, rep, ms(20), 30 * MIB));
    }
    runs
}

const SERIES: &str = "t_ns,rss_bytes,live_bytes,phase,event\n\
0,1000000,0,,\n\
1000000,20000000,10000000,build,\n\
2000000,40000000,30000000,build,\n\
2100000,40000000,30000000,build,gc0:250000\n\
3000000,42000000,20000000,compute,\n\
4000000,30000000,1000000,teardown,\n";

/// Which part of the synthetic sweep to write.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// Every workload, the failure, `runs.jsonl` and `env.json`.
    Everything,
    /// `binary-trees` and its series alone: fewer plots, for tests that redraw the report.
    BinaryTrees,
}

fn write_results(dir: &Path, wall_scale: u64, scope: Scope) {
    fs::create_dir_all(dir.join("series")).unwrap();
    fs::create_dir_all(dir.join("failures")).unwrap();
    let mut runs = synthetic_runs(wall_scale);
    if scope == Scope::BinaryTrees {
        runs.retain(|r| r.workload == "binary-trees");
    }
    let mut csv = format!("{HEADER}\n");
    for run in &runs {
        csv.push_str(&run.csv_row());
        csv.push('\n');
    }
    if scope == Scope::BinaryTrees {
        fs::write(dir.join("runs.csv"), csv).unwrap();
        for strategy in ["cycle+pymalloc", "marksweep+pymalloc"] {
            fs::write(dir.join("series").join(format!("binary-trees__{strategy}__12__t1.csv")), SERIES)
                .unwrap();
        }
        return;
    }
    csv.push_str(&failed_row("marksweep+pymalloc", "cyclic-garbage", 1000, 0, "crashed"));
    csv.push('\n');
    fs::write(dir.join("runs.csv"), csv).unwrap();
    let arena_map = "[{\"used\":1,\"full\":0,\"empty\":63},{\"used\":0,\"full\":64,\"empty\":0},{\"used\":2,\"full\":1,\"empty\":61}]";
    let jsonl: String = runs
        .iter()
        .filter(|r| r.workload == "fragmentation")
        .map(|r| r.jsonl_line(arena_map) + "\n")
        .collect();
    fs::write(dir.join("runs.jsonl"), jsonl).unwrap();
    for strategy in ["cycle+pymalloc", "marksweep+pymalloc"] {
        fs::write(dir.join("series").join(format!("binary-trees__{strategy}__12__t1.csv")), SERIES).unwrap();
    }
    fs::write(
        dir.join("failures/cyclic-garbage__marksweep+pymalloc__1000__t1-rep0.stderr"),
        "thread 'main' panicked\nSegmentation fault (core dumped)\n",
    )
    .unwrap();
    fs::write(dir.join("calibration.json"), "{\"contexts\":[{\"python\":\"CPython 3.11.7\",\"release\":\"3.11\",\"strategy\":\"cycle@3.11+pymalloc\",\"seed\":42,\"thresholds\":[700,10,10],\"arena_size\":1048576}],\"missing\":[],\"command\":\"cargo xtask calibrate\",\"rows\":[{\"python\":\"3.11\",\"workload\":\"bulk-load\",\"size\":2,\"metric\":\"collections of generation 0\",\"cpython\":2616.0,\"heaplab\":2616.0}]}").unwrap();
    fs::write(
        dir.join("env.json"),
        "{\"cpu\":{\"model\":\"Test CPU\",\"cores\":2},\"rustc\":\"rustc 1.95.0\"}",
    )
    .unwrap();
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().expect("running xtask")
}

fn report(dir: &Path) -> Output {
    let output = xtask(&["report", dir.to_str().unwrap()]);
    assert!(output.status.success(), "report failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One report of the synthetic sweep, shared by the tests that only read it.
fn reported() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path(), 1, Scope::Everything);
        report(dir.path());
        dir
    })
    .path()
}

#[test]
fn summary_has_the_columns_and_the_medians() {
    let summary = read(reported(), "summary.csv");
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..8],
        ["strategy", "collector", "allocator", "workload", "size", "threads", "n", "failed"]
    );
    for figure in [
        "wall_ns",
        "ops_per_s",
        "peak_rss_bytes",
        "peak_live_bytes",
        "allocated_bytes",
        "leaked_bytes",
        "collections",
        "pause_total_ns",
        "pause_max_ns",
        "pause_p99_ns",
        "user_ns",
        "sys_ns",
        "minor_faults",
        "end_rss_bytes",
        "end_live_bytes",
    ] {
        for statistic in ["median", "mad", "min", "max"] {
            let column = format!("{figure}_{statistic}");
            assert!(header.contains(&column.as_str()), "summary.csv lacks {column}");
        }
    }
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row = |strategy: &str, workload: &str, size: &str| -> Vec<String> {
        summary
            .lines()
            .map(|l| l.split(',').map(String::from).collect::<Vec<_>>())
            .find(|f| f[0] == strategy && f[3] == workload && f[4] == size)
            .unwrap_or_else(|| panic!("no summary row for {strategy} {workload} {size}"))
    };
    let cycle = row("cycle+pymalloc", "binary-trees", "10");
    assert_eq!(cycle[column("n")], "3");
    assert_eq!(cycle[column("wall_ns_median")], "100000000");
    assert_eq!(cycle[column("wall_ns_mad")], "2000000");
    assert_eq!(cycle[column("wall_ns_min")], "98000000");
    assert_eq!(cycle[column("wall_ns_max")], "102000000");
    assert_eq!(cycle[column("peak_rss_bytes_median")], (40 * MIB).to_string());
    let crashed = row("marksweep+pymalloc", "cyclic-garbage", "1000");
    assert_eq!((crashed[column("n")].as_str(), crashed[column("failed")].as_str()), ("0", "1"));
    assert_eq!(crashed[column("wall_ns_median")], "");
}

#[test]
fn every_plot_exists_as_svg_and_png() {
    let plots = reported().join("plots");
    let mut stems = Vec::new();
    for entry in fs::read_dir(&plots).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let other = if path.extension().unwrap() == "svg" { "png" } else { "svg" };
        assert!(plots.join(format!("{stem}.{other}")).is_file(), "{} has no .{other} twin", path.display());
        assert!(fs::metadata(&path).unwrap().len() > 1000, "{} is nearly empty", path.display());
        stems.push(stem);
    }
    for expected in [
        "binary-trees-throughput",
        "binary-trees-memory",
        "binary-trees-timeline",
        "binary-trees-pauses",
        "cyclic-garbage-throughput",
        "larson-threads",
        "fragmentation-arenas",
    ] {
        assert!(stems.iter().any(|s| s == expected), "no plot {expected}; have {stems:?}");
    }
    let svg = fs::read_to_string(plots.join("binary-trees-throughput.svg")).unwrap();
    assert!(svg.contains("marksweep+pymalloc"), "the legend names the strategies");
}

#[test]
fn the_report_links_only_to_files_that_exist() {
    let dir = reported();
    let markdown = read(dir, "REPORT.md");
    let mut links = Vec::new();
    let mut rest = markdown.as_str();
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let end = after.find(')').expect("a closed link");
        links.push(after[..end].to_owned());
        rest = &after[end..];
    }
    assert!(links.iter().any(|l| l == "plots/binary-trees-throughput.png"), "{links:?}");
    assert!(links.iter().any(|l| l.starts_with("failures/")), "the crash links its stderr: {links:?}");
    let anchors: Vec<String> = markdown
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => c.to_lowercase().next(),
                    _ => None,
                })
                .collect()
        })
        .collect();
    for link in &links {
        if let Some(anchor) = link.strip_prefix('#') {
            assert!(
                anchors.iter().any(|a| a == anchor),
                "REPORT.md links to #{anchor}, which no heading has"
            );
            continue;
        }
        assert!(!link.starts_with("http") && !link.starts_with('/'), "not relative: {link}");
        assert!(dir.join(link).is_file(), "REPORT.md links to {link}, which does not exist");
    }
    for section in [
        "## Environment",
        "## Method",
        "## Findings",
        "## Ratios against the baseline",
        "## Plots",
        "## Failures",
    ] {
        assert!(markdown.contains(section), "REPORT.md lacks {section}");
    }
    assert!(markdown.contains("cpu.model: `Test CPU`"), "the environment comes from env.json");
    assert!(
        markdown.contains("## Fidelity to CPython")
            && markdown.contains("| collections of generation 0 | bulk-load | 2 | 2616 | 2616 | +0.0% |")
            && markdown.contains("plots/calibration-by-release.png"),
        "calibration.json is drawn"
    );
    assert!(
        markdown.contains("Segmentation fault (core dumped)"),
        "the failure shows its stderr's last line"
    );
}

#[test]
fn index_html_is_self_contained() {
    let dir = reported();
    let html = read(dir, "index.html");
    assert!(!html.contains("http://") && !html.contains("https://"), "index.html refers to the network");
    let n_images = html.matches("src=\"data:image/png;base64,").count();
    let n_pngs = fs::read_dir(dir.join("plots"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "png")
        .count();
    assert_eq!(n_images, n_pngs, "every plot is inlined");
    assert!(!html.contains("<img src=\"plots/"));
    assert!(html.contains("<h2>Fidelity to CPython</h2>"), "calibration.json is drawn");
}

#[test]
fn findings_carry_the_numbers_of_the_data() {
    let markdown = read(reported(), "REPORT.md");
    let findings = markdown.split("## Findings").nth(1).unwrap().split("\n## ").next().unwrap();
    let expect = |needle: &str| assert!(findings.contains(needle), "findings lack {needle:?}:\n{findings}");
    expect(
        "On `binary-trees` at size 12, `cycle+pymalloc` takes 1.25x the wall time of `refcount+pymalloc` (400 ms against 320 ms) (95% CI [1.20x–1.31x]; significant (ranges, α=0.10)) and peaks at 1.11x its RSS (160 MiB against 144 MiB) (95% CI [1.11x–1.11x]; significant (ranges, α=0.10)), with 37 collections by `cycle`.",
    );
    expect("`marksweep+pymalloc` has the highest throughput: 2.00x that of `cycle+pymalloc`");
    expect("`refcount+pymalloc` leaks 12 MiB (9.4% of the 128 MiB allocated)");
    expect("The longest single pause of the `marksweep` collector lasted 9 ms");
    expect("`cycle+pymalloc` still holds 3 arenas of its highwater 3, with 35% of their pools in use");
    expect(
        "going from 1 to 2 threads multiplies the throughput of `pymalloc` by 0.91x (95% CI [0.88x–0.94x]; significant (ranges, α=0.10)), `mimalloc` by 2.00x (95% CI [1.88x–2.12x]; significant (ranges, α=0.10)).",
    );
}

#[test]
fn findings_follow_the_data() {
    let dir = tempfile::tempdir().unwrap();
    write_results(dir.path(), 1, Scope::BinaryTrees);
    let runs_csv = read(dir.path(), "runs.csv");
    // Make marksweep three times, not twice, as fast as cycle on binary-trees.
    let changed: String = runs_csv
        .lines()
        .map(|line| {
            if line.starts_with("marksweep+pymalloc,marksweep,pymalloc,binary-trees") {
                let mut fields: Vec<String> = line.split(',').map(String::from).collect();
                let ops_per_s: f64 = fields[14].parse().unwrap();
                fields[14] = (ops_per_s * 1.5).to_string();
                fields.join(",")
            } else {
                line.to_owned()
            }
        })
        .fold(String::new(), |acc, line| acc + &line + "\n");
    fs::write(dir.path().join("runs.csv"), changed).unwrap();
    report(dir.path());
    let markdown = read(dir.path(), "REPORT.md");
    assert!(
        markdown.contains("`marksweep+pymalloc` has the highest throughput: 3.00x that of `cycle+pymalloc`")
    );
    assert!(!markdown.contains("2.00x that of `cycle+pymalloc`"));
}

#[test]
fn the_ratio_table_is_against_cycle_pymalloc_with_verdicts() {
    let markdown = read(reported(), "REPORT.md");
    assert!(markdown.contains("### `binary-trees` against `cycle+pymalloc`"), "{markdown}");
    // marksweep: twice the throughput, twice the peak RSS, ranges apart.
    assert!(markdown.contains("| `marksweep+pymalloc` | 2.00x [1.88x–2.12x] | 2.00x [2.00x–2.00x] | 2.00x [1.88x–2.12x] | 2.00x [2.00x–2.00x] |"), "{markdown}");
    assert!(markdown.contains("### `larson` against `pymalloc`"));
    // larson at one thread: equal throughput, the same repetitions: the noise covers it.
    assert!(markdown.contains("| `mimalloc` | 1.00x [0.96x–1.04x] (not significant) |"), "{markdown}");
}

#[test]
fn without_cycle_pymalloc_the_baseline_falls_back_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write_results(dir.path(), 1, Scope::BinaryTrees);
    let runs_csv = read(dir.path(), "runs.csv");
    let kept: String =
        runs_csv.lines().filter(|l| !l.starts_with("cycle+pymalloc")).map(|l| format!("{l}\n")).collect();
    fs::write(dir.path().join("runs.csv"), kept).unwrap();
    report(dir.path());
    let markdown = read(dir.path(), "REPORT.md");
    assert!(
        markdown.contains("### `binary-trees` against `refcount+pymalloc` (`cycle+pymalloc` did not run)"),
        "{markdown}"
    );
}

#[test]
fn a_corrupt_line_is_an_error_naming_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_results(dir.path(), 1, Scope::BinaryTrees);
    let mut runs_csv = read(dir.path(), "runs.csv");
    runs_csv.push_str("cycle+pymalloc,cycle,pymalloc,churn,ten,1,42,0,ok,,,,,,,,,,,,,,,,,\n");
    let n_lines = runs_csv.lines().count();
    fs::write(dir.path().join("runs.csv"), runs_csv).unwrap();
    let output = xtask(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("runs.csv:{n_lines}:")), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, no backtrace: {stderr}");
}

#[test]
fn compare_with_itself_is_not_significant_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    write_results(dir.path(), 1, Scope::Everything);
    let path = dir.path().to_str().unwrap();
    let output = xtask(&["compare", path, path]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Mann-Whitney U"), "the output names its test: {stdout}");
    let rows: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("binary-trees") || l.starts_with("larson")).collect();
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(row.split_whitespace().filter(|w| *w == "1.00x").count(), 2, "{row}");
        assert_eq!(row.matches("not significant").count(), 2, "wall time and peak RSS: {row}");
    }
    assert!(stdout.contains("wall time B/A: geometric mean 1.00x"), "{stdout}");
}

#[test]
fn compare_flags_every_cell_with_doubled_times() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_results(a.path(), 1, Scope::Everything);
    write_results(b.path(), 2, Scope::Everything);
    let output = xtask(&["compare", a.path().to_str().unwrap(), b.path().to_str().unwrap()]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("workload"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    // binary-trees 3 x 2 sizes, cyclic-garbage 2 (one crashed), larson 2 x 2 threads, fragmentation 1.
    assert_eq!(rows.len(), 13, "{stdout}");
    for row in rows {
        assert!(row.split_whitespace().any(|w| w == "2.00x"), "wall time doubled: {row}");
        assert_eq!(row.matches("significant (ranges, α=0.10)").count(), 2, "{row}");
        assert_eq!(row.matches("not significant").count(), 1, "only peak RSS is unchanged: {row}");
    }
    assert!(stdout.contains("wall time B/A: geometric mean 2.00x over 13 cells; 13 significant"), "{stdout}");
}

#[test]
fn shards_merge_into_one_report() {
    let (first, second, out) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_results(first.path(), 1, Scope::BinaryTrees);
    write_results(second.path(), 1, Scope::BinaryTrees);
    // Split the rows between the two shards: header plus odd rows, header plus even rows.
    let all = read(first.path(), "runs.csv");
    let lines: Vec<&str> = all.lines().collect();
    let shard = |parity: usize| -> String {
        std::iter::once(lines[0])
            .chain(lines[1..].iter().enumerate().filter(|(i, _)| i % 2 == parity).map(|(_, l)| *l))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    fs::write(first.path().join("runs.csv"), shard(0)).unwrap();
    fs::write(second.path().join("runs.csv"), shard(1)).unwrap();
    fs::remove_dir_all(second.path().join("series")).unwrap();
    let out_dir: PathBuf = out.path().join("merged");
    let output = xtask(&[
        "report",
        first.path().to_str().unwrap(),
        second.path().to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let merged = read(&out_dir, "runs.csv");
    assert_eq!(merged.lines().count(), lines.len(), "every row once");
    assert!(out_dir.join("series/binary-trees__cycle+pymalloc__12__t1.csv").is_file());
    assert!(out_dir.join("REPORT.md").is_file() && out_dir.join("index.html").is_file());
    // Merging again adds nothing.
    let again = xtask(&["report", out_dir.to_str().unwrap(), second.path().to_str().unwrap()]);
    assert!(again.status.success());
    assert_eq!(read(&out_dir, "runs.csv").lines().count(), lines.len());
}

/// `array-sum` against `boxed-sum` under `cycle+pymalloc`, four repetitions each: clear when the
/// spreads (percent, wall time and peak RSS) are 0, noisy in that figure when large.
fn write_numeric(dir: &Path, wall_spread: i64, rss_spread: i64) {
    let mut csv = format!("{HEADER}\n");
    for rep in 0..4u32 {
        let jitter = [0i64, 1, -1, 2][rep as usize];
        let odd = rep as i64 % 2;
        let ms = |base: i64| ((base + jitter + wall_spread * odd * base / 100) * 1_000_000) as u64;
        let rss = |base: u64| base + (rss_spread * odd) as u64 * base / 100;
        for (workload, wall, peak) in [("array-sum", 100, 10 * MIB), ("boxed-sum", 400, 40 * MIB)] {
            csv.push_str(&Run::new("cycle+pymalloc", workload, 1000, rep, ms(wall), rss(peak)).csv_row());
            csv.push('\n');
        }
    }
    fs::write(dir.join("runs.csv"), csv).unwrap();
}

fn answers_of(markdown: &str) -> String {
    markdown.split("## Answers").nth(1).unwrap().split("\n## ").next().unwrap().to_owned()
}

#[test]
fn answers_come_first_and_follow_the_data() {
    let dir = tempfile::tempdir().unwrap();
    write_numeric(dir.path(), 0, 0);
    report(dir.path());
    let markdown = read(dir.path(), "REPORT.md");
    let first_section = markdown.split("\n## ").nth(1).unwrap();
    assert!(first_section.starts_with("Answers"), "the report opens with its answers");
    assert!(markdown.find("## Overview").unwrap() < markdown.find("## Findings").unwrap());
    assert!(markdown.find("## Method").unwrap() > markdown.find("## Plots").unwrap(), "method at the end");
    let answers = answers_of(&markdown);
    assert!(
        answers.contains("- **Keep numbers in contiguous arrays")
            && answers.contains("`array-sum` needs 0.25x the wall time (95% CI"),
        "{answers}"
    );
    assert!(answers.contains("[evidence](#evidence-1-contiguous-arrays-against-lists-of-floats-wall-time)"));
    assert!(answers.contains("Omitted because their workloads did not run here"), "{answers}");
    let html = read(dir.path(), "index.html");
    assert!(
        html.contains("<nav class=\"toc\">") && html.contains("<details id=\"plots\">"),
        "contents and folds"
    );
    assert!(html.contains("id=\"evidence-1-contiguous-arrays-against-lists-of-floats-wall-time\""));

    // Make every other repetition 60% slower: the wall-time intervals widen past 1 and the cells
    // turn unstable in wall time; their peak RSS is as steady as before, and so is its answer.
    write_numeric(dir.path(), 60, 0);
    report(dir.path());
    let answers = answers_of(&read(dir.path(), "REPORT.md"));
    assert!(
        !answers.contains("`array-sum` needs 0.25x the wall time"),
        "no wall-time answer from noise: {answers}"
    );
    assert!(answers.contains("`array-sum` needs 0.25x the peak RSS"), "the memory answer stands: {answers}");
    assert!(answers.contains("Not supported by this run (1)"), "{answers}");
    assert!(
        answers.contains("a cell is unstable") || answers.contains("the interval includes 1"),
        "{answers}"
    );

    // Noisy in both figures: no answer is supported.
    write_numeric(dir.path(), 60, 60);
    report(dir.path());
    let answers = answers_of(&read(dir.path(), "REPORT.md"));
    assert!(!answers.contains("- **Keep numbers"), "no supported answer from noise: {answers}");
    assert!(answers.contains("Not supported by this run (2)"), "{answers}");
}
