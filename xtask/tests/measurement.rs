//! Specifications of the measurement options of `cargo xtask bench` (`--thp`,
//! `--precision`, `--max-repeat`, one environment per invocation) and of how
//! the report shows spread and confidence.
//!
//! The sweeps run a fake `heaplab`: a shell script that lists one workload on
//! two strategies and prints a record for each run, its wall time constant or
//! scattered, so that they test the sweep's logic and never the machine's timing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use heaplab_core::record::param;
use heaplab_core::{Record, Status};

mod common;

/// The fake child's figures. `FAKE_MODE=noisy` scatters wall times by up to 96% (a counter
/// in `FAKE_COUNTER` makes them differ from run to run); otherwise they are constant.
const FIGURES: &str = r#"
n=$(cat "$FAKE_COUNTER" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$FAKE_COUNTER"
if [ "$FAKE_MODE" = noisy ]; then wall=$((1000000 + (n * 7919 % 13) * 80000)); fi
params="thp=$HEAPLAB_THP"
"#;

fn fake_heaplab(dir: &Path) -> PathBuf {
    common::fake_heaplab(dir, FIGURES)
}

/// `cargo xtask bench` on the fake child, into `dir/out`, without the report.
fn bench(dir: &Path, mode: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg("bench")
        .arg("--heaplab")
        .arg(fake_heaplab(dir))
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--no-report")
        .args(args)
        .env("FAKE_MODE", mode)
        .env("FAKE_COUNTER", dir.join("counter"))
        .env_remove("HEAPLAB_THP");
    command.output().expect("running xtask bench")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn records(dir: &Path) -> Vec<Record> {
    let mut reader = csv::Reader::from_path(dir.join("runs.csv")).unwrap();
    reader.deserialize().map(Result::unwrap).collect()
}

fn runs_of(records: &[Record], strategy: &str) -> usize {
    records.iter().filter(|r| r.strategy == strategy).count()
}

#[test]
fn precision_stops_early_on_a_constant_child() {
    let dir = tempfile::tempdir().unwrap();
    let output = bench(dir.path(), "constant", &["--precision", "3%", "--max-repeat", "10"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = records(&dir.path().join("out"));
    // The order-statistic interval of the median needs 6 runs; constant runs are then exact.
    assert_eq!(runs_of(&rows, "cycle+pymalloc"), 6, "{}", stderr(&output));
    assert_eq!(runs_of(&rows, "refcount+pymalloc"), 6);
    // Still interleaved: the strategies alternate.
    assert!(rows.windows(2).all(|pair| pair[0].strategy != pair[1].strategy));
    assert!(stderr(&output).contains("2 of 2 cells reached ±3.0%"), "{}", stderr(&output));
}

#[test]
fn a_dry_run_under_precision_replays_the_earlier_runs_repetitions_from_several_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    assert!(bench(dir.path(), "constant", &["--repeat", "2"]).status.success());
    let earlier = dir.path().join("out");
    let both = format!("{},{}", earlier.display(), earlier.display());
    let output = bench(dir.path(), "constant", &["--dry-run", "--precision", "5%", "--estimate-from", &both]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("2 cells, 12 runs at 6 repetitions"), "{stdout}");
    assert!(stdout.contains("2 timed from the same cell"), "{stdout}");
    // Four earlier runs a cell (two sweeps of two) cannot show where the rule would stop.
    assert!(stdout.contains("2 with too few earlier runs to tell, counted at the fewest, 6"), "{stdout}");
    assert!(stdout.contains("if every cell ran 20"), "{stdout}");

    // A sweep that stopped by the same rule replays it: constant cells stop at 6 runs.
    let precise = tempfile::tempdir().unwrap();
    assert!(bench(precise.path(), "constant", &["--precision", "3%", "--max-repeat", "10"]).status.success());
    let from = precise.path().join("out");
    let output = bench(
        dir.path(),
        "constant",
        &["--dry-run", "--precision", "3%", "--estimate-from", &from.display().to_string()],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("0 with too few earlier runs to tell"), "{stdout}");
}

#[test]
fn precision_hits_the_cap_on_a_noisy_child() {
    let dir = tempfile::tempdir().unwrap();
    let output = bench(dir.path(), "noisy", &["--precision", "3%", "--max-repeat", "8"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = records(&dir.path().join("out"));
    assert_eq!(runs_of(&rows, "cycle+pymalloc"), 8);
    assert_eq!(runs_of(&rows, "refcount+pymalloc"), 8);
    assert!(stderr(&output).contains("2 stopped at the cap"), "{}", stderr(&output));
}

#[test]
fn every_run_records_its_thp_setting_and_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let output = bench(dir.path(), "constant", &["--repeat", "1", "--thp", "system"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = records(&dir.path().join("out"));
    assert!(rows.iter().all(|r| param(&r.params, "thp") == Some("system")), "{rows:?}");
    let output = bench(dir.path(), "constant", &["--repeat", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = records(&dir.path().join("out"));
    assert!(rows.iter().all(|r| param(&r.params, "thp") == Some("never")), "the default is never: {rows:?}");
    assert!(rows.iter().all(|r| param(&r.params, "invocation").is_some()), "{rows:?}");
}

#[test]
fn a_resumed_sweep_keeps_both_invocations_environments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = bench(dir.path(), "constant", &["--repeat", "1"]);
    assert!(first.status.success(), "{}", stderr(&first));
    // Invocation ids carry the start second and the process id: two sweeps never share one.
    let second = bench(dir.path(), "constant", &["--repeat", "2", "--resume", "--thp", "system"]);
    assert!(second.status.success(), "{}", stderr(&second));

    let mut envs: Vec<String> = std::fs::read_dir(out.join("envs"))
        .unwrap()
        .map(|entry| entry.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    envs.sort();
    assert_eq!(envs.len(), 2, "{envs:?}");
    let rows = records(&out);
    assert_eq!(rows.len(), 4);
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| param(&r.params, "invocation")).collect();
    assert_eq!(ids.into_iter().map(str::to_owned).collect::<Vec<_>>(), envs);
    for id in &envs {
        let text = std::fs::read_to_string(out.join("envs").join(format!("{id}.json"))).unwrap();
        let env: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(env["invocation"], id.as_str());
        assert!(env["kernel_memory"].is_object(), "{env}");
    }
    let latest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("env.json")).unwrap()).unwrap();
    assert_eq!(latest["sweep"]["thp"], "system");
    assert_eq!(latest["sweep"]["resumed"], true);

    // The report names both environments and ties the runs to them.
    let report = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("report").arg(&out).output().unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    let markdown = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    for id in &envs {
        assert!(markdown.contains(&format!("`{id}`")), "{id} missing from the report");
    }
}

#[test]
fn a_merge_of_shards_keeps_every_shards_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut shards = Vec::new();
    for shard in ["1/2", "2/2"] {
        let shard_dir = dir.path().join(shard.replace('/', "of"));
        std::fs::create_dir_all(&shard_dir).unwrap();
        let output = bench(&shard_dir, "constant", &["--repeat", "1", "--shard", shard]);
        assert!(output.status.success(), "{}", stderr(&output));
        shards.push(shard_dir.join("out"));
    }
    let merged = dir.path().join("merged");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("report")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let names: Vec<String> = std::fs::read_dir(merged.join("envs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.contains("-s1of2")) && names.iter().any(|n| n.contains("-s2of2")),
        "{names:?}"
    );
}

#[test]
fn bad_measurement_options_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (&["--thp", "sometimes"][..], "--thp \"sometimes\""),
        (&["--thp", "always"][..], "--thp always is refused"),
        (&["--precision", "0"][..], "--precision \"0\""),
        (&["--precision", "200%"][..], "--precision \"200%\""),
        (&["--precision", "3%", "--max-repeat", "0"][..], "--max-repeat \"0\""),
        (&["--max-repeat", "5"][..], "give --precision too"),
        (&["--quick", "--precision", "3%"][..], "not for --quick"),
    ] {
        let output = bench(dir.path(), "constant", args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        let text = stderr(&output);
        let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {text}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(expected), "{args:?}: {text}");
        assert!(!dir.path().join("out").join("runs.csv").exists(), "{args:?} ran something");
    }
}

/// A successful run of the synthetic results below.
fn run(strategy: &str, rep: u32, wall_ms: u64) -> Record {
    let (collector, allocator) = strategy.split_once('+').unwrap();
    let wall_ns = wall_ms * 1_000_000;
    Record {
        strategy: strategy.into(),
        collector: collector.into(),
        allocator: allocator.into(),
        workload: "churn".into(),
        size: 1000,
        threads: 1,
        seed: 42,
        rep,
        status: Status::Ok,
        checksum: Some("00000000000000aa".into()),
        wall_ns: Some(wall_ns),
        user_ns: Some(wall_ns / 2),
        sys_ns: Some(wall_ns / 2),
        ops: Some(1_000_000),
        ops_per_s: Some(1e15 / wall_ns as f64),
        peak_rss_bytes: Some(64 << 20),
        end_rss_bytes: Some(32 << 20),
        peak_live_bytes: Some(16 << 20),
        end_live_bytes: Some(0),
        allocated_bytes: Some(64 << 20),
        leaked_bytes: Some(0),
        collections: Some(3),
        pause_total_ns: Some(1000),
        pause_max_ns: Some(500),
        pause_p99_ns: Some(500),
        minor_faults: Some(1000 + u64::from(rep)),
        params: "thp=never".into(),
    }
}

#[test]
fn a_widely_scattered_cell_is_unstable_with_a_wide_interval_and_no_significance() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    let steady = [100, 101, 99, 100, 102];
    let scattered = [60, 150, 95, 200, 80];
    for rep in 0..5 {
        rows.push(run("cycle+pymalloc", rep, steady[rep as usize]));
        rows.push(run("refcount+pymalloc", rep, scattered[rep as usize]));
    }
    let mut writer = csv::Writer::from_path(dir.path().join("runs.csv")).unwrap();
    for row in &rows {
        writer.serialize(row).unwrap();
    }
    writer.flush().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("report").arg(dir.path()).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let summary = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    let line = summary.lines().find(|l| l.starts_with("refcount+pymalloc,")).unwrap();
    assert!(line.ends_with(",true"), "{line}");
    let line = summary.lines().find(|l| l.starts_with("cycle+pymalloc,")).unwrap();
    assert!(line.ends_with(",false"), "{line}");

    let markdown = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
    assert!(markdown.contains("## Measurement quality"), "{markdown}");
    assert!(
        markdown.contains("1 of the 2 cells with at least two successful runs are stable (50%)"),
        "{markdown}"
    );
    // The ratio table row of the scattered cell: a wide interval, not significant, unstable.
    let row = markdown
        .lines()
        .find(|l| l.starts_with("| `refcount+pymalloc`") && l.contains('['))
        .unwrap_or_else(|| panic!("no ratio row: {markdown}"));
    assert!(row.contains("(not significant)") && row.contains("**unstable**"), "{row}");
    let interval = row.split('[').nth(1).unwrap().split(']').next().unwrap();
    let bounds: Vec<f64> =
        interval.split('–').map(|part| part.trim().trim_end_matches('x').parse().unwrap()).collect();
    assert!(bounds[1] / bounds[0] > 1.5, "a wide interval: {row}");
    // The findings say so too.
    let finding = markdown.lines().find(|l| l.contains("the wall time of `refcount+pymalloc`")).unwrap();
    assert!(finding.contains("not significant (U test") && finding.contains("**unstable**"), "{finding}");
}

#[test]
fn a_drift_the_whole_group_shares_in_a_round_is_steadied_out_and_said_so() {
    // Five strategies of one group over six rounds of one invocation; the machine runs every
    // strategy 50% slower in rounds 1, 3 and 5. Each cell spreads 20% as measured.
    let dir = tempfile::tempdir().unwrap();
    let strategies =
        ["cycle+pymalloc", "cycle+system", "cycle+mimalloc", "cycle+jemalloc", "refcount+pymalloc"];
    let mut rows = Vec::new();
    for rep in 0..6u32 {
        let machine = if rep % 2 == 1 { 150 } else { 100 };
        for (i, strategy) in strategies.iter().enumerate() {
            let mut record = run(strategy, rep, (100 + 10 * i as u64) * machine / 100 + u64::from(rep % 3));
            record.params = "thp=never;invocation=20261203T190000Z-p1".into();
            rows.push(record);
        }
    }
    let mut writer = csv::Writer::from_path(dir.path().join("runs.csv")).unwrap();
    for row in &rows {
        writer.serialize(row).unwrap();
    }
    writer.flush().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("report").arg(dir.path()).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let markdown = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
    assert!(markdown.contains("All 30 successful runs were steadied."), "{markdown}");
    assert!(
        markdown.contains(
            "5 of the 5 cells with at least two successful runs are stable (100%); by their wall times as measured, before steadying, 0 were (0%)"
        ),
        "{markdown}"
    );
    let summary = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    for strategy in strategies {
        let line = summary.lines().find(|l| l.starts_with(&format!("{strategy},"))).unwrap();
        assert!(line.ends_with(",false"), "{line}");
    }
    // The wall-time ratio of two steadied cells is tight and significant: 100 ms against 110 ms
    // (the second column, peak RSS, is the same on every run here).
    let row = markdown
        .lines()
        .find(|l| l.starts_with("| `cycle+system`") && l.contains('['))
        .unwrap_or_else(|| panic!("no ratio row: {markdown}"));
    let wall = row.split('|').nth(2).unwrap();
    assert!(
        wall.contains("0.91x") && !wall.contains("**unstable**") && !wall.contains("not significant"),
        "{row}"
    );
}
