//! End-to-end specifications of `cargo xtask bench`: small sweeps of the real
//! `heaplab` binary into temporary directories, checked through the files they
//! leave (the output is the contract).
//!
//! `heaplab` belongs to another package, so it is built here with
//! `cargo build -p heaplab` into the target directory this test runs from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use heaplab_core::record::COLUMNS;
use heaplab_core::{Record, RunReport, Status};

/// The workload and strategies the sweeps below run: small and quick in a debug build.
const WORKLOAD: &str = "binary-trees";
const STRATEGIES: &str = "refcount+pymalloc,marksweep+pymalloc";
const SIZES: &str = "4,5";

/// The `heaplab` binary of this target directory, built once per test process.
fn heaplab() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let xtask = PathBuf::from(env!("CARGO_BIN_EXE_xtask"));
        let profile_dir = xtask.parent().expect("the xtask binary sits in a profile folder");
        let target_dir = profile_dir.parent().expect("the profile folder sits in the target folder");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        build
            .current_dir(root)
            .env("CARGO_TARGET_DIR", target_dir)
            .args(["build", "--quiet", "-p", "heaplab"]);
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build -p heaplab");
        assert!(status.success(), "cargo build -p heaplab failed");
        profile_dir.join("heaplab")
    })
}

/// Runs `cargo xtask bench` on the real heaplab with `args`, into `out`, without drawing the report.
fn bench(out: &Path, args: &[&str], fault: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.arg("bench").arg("--heaplab").arg(heaplab()).arg("--out").arg(out).arg("--no-report");
    command.args(args);
    match fault {
        Some(fault) => command.env("HEAPLAB_FAULT", fault),
        None => command.env_remove("HEAPLAB_FAULT"),
    };
    command.output().expect("running xtask bench")
}

fn small_sweep(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--workload", WORKLOAD, "--strategy", STRATEGIES, "--sizes", SIZES, "--repeat", "2"];
    args.extend_from_slice(extra);
    bench(out, &args, None)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn records(dir: &Path) -> Vec<Record> {
    let mut reader = csv::Reader::from_path(dir.join("runs.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, COLUMNS);
    reader.deserialize().map(Result::unwrap).collect()
}

/// Who ran what, and what it computed: what must match between two sweeps of the same cells.
type Identity = (String, String, u64, u32, u32, &'static str, Option<String>);

fn identities(records: &[Record]) -> BTreeSet<Identity> {
    records
        .iter()
        .map(|r| {
            let status = r.status.as_str();
            (r.strategy.clone(), r.workload.clone(), r.size, r.threads, r.rep, status, r.checksum.clone())
        })
        .collect()
}

#[test]
fn a_small_sweep_writes_every_run_in_interleaved_order() {
    let out = tempfile::tempdir().unwrap();
    let output = small_sweep(out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    let rows = records(out.path());
    let order: Vec<(u32, u64, &str)> = rows.iter().map(|r| (r.rep, r.size, r.strategy.as_str())).collect();
    assert_eq!(
        order,
        [
            (0, 4, "refcount+pymalloc"),
            (0, 4, "marksweep+pymalloc"),
            (0, 5, "refcount+pymalloc"),
            (0, 5, "marksweep+pymalloc"),
            (1, 4, "refcount+pymalloc"),
            (1, 4, "marksweep+pymalloc"),
            (1, 5, "refcount+pymalloc"),
            (1, 5, "marksweep+pymalloc"),
        ]
    );
    for row in &rows {
        assert_eq!(row.status, Status::Ok);
        assert!(row.wall_ns.is_some() && row.peak_rss_bytes.is_some() && row.checksum.is_some(), "{row:?}");
        assert_eq!((row.workload.as_str(), row.threads, row.seed), (WORKLOAD, 1, 42));
    }

    let jsonl = std::fs::read_to_string(out.path().join("runs.jsonl")).unwrap();
    let reports: Vec<RunReport> = jsonl.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(reports.iter().map(|report| report.record.clone()).collect::<Vec<_>>(), rows);
    assert!(reports.iter().all(|report| !report.phases.is_empty()));

    for strategy in ["refcount+pymalloc", "marksweep+pymalloc"] {
        for size in [4, 5] {
            let series = out.path().join("series").join(format!("{WORKLOAD}__{strategy}__{size}__t1.csv"));
            let text = std::fs::read_to_string(&series)
                .unwrap_or_else(|_| panic!("{} is missing", series.display()));
            assert!(text.starts_with("t_ns,rss_bytes,live_bytes,phase,event"), "{text}");
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(out.path().join("series"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("env.json")).unwrap()).unwrap();
    assert!(env["start"].is_string() && env["end"].is_string(), "{env}");
    assert!(env["cpu"]["logical_cpus"].as_u64().unwrap() > 0);
    assert!(env["sweep"]["command_line"].as_str().unwrap().contains("--workload binary-trees"));
    assert_eq!(env["sweep"]["runs_done"], 8);
}

/// Runs one cell with `fault` injected and checks the status it gets, its stderr file and the exit code.
fn check_fault(fault_kind: &str, extra: &[&str], expected: Status) {
    let out = tempfile::tempdir().unwrap();
    let mut args =
        vec!["--workload", WORKLOAD, "--strategy", "refcount+pymalloc", "--sizes", "4", "--repeat", "1"];
    args.extend_from_slice(extra);
    let output = bench(out.path(), &args, Some(&format!("{fault_kind}@{WORKLOAD}")));
    assert_eq!(output.status.code(), Some(1), "{fault_kind}: {}", stderr(&output));

    let rows = records(out.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, expected, "{fault_kind}");
    assert_eq!(rows[0].wall_ns, None);
    let stderr_file =
        out.path().join("failures").join(format!("{WORKLOAD}__refcount+pymalloc__4__t1-rep0.stderr"));
    assert!(stderr_file.is_file(), "{} is missing", stderr_file.display());
    let listing = stderr(&output);
    assert!(listing.contains("1 of 1 runs failed"), "{listing}");
    assert!(listing.contains(&stderr_file.display().to_string()), "{listing}");
}

#[test]
fn a_segfault_is_a_crash() {
    check_fault("segv", &[], Status::Crashed);
}

#[test]
fn an_abort_is_a_crash() {
    check_fault("abort", &[], Status::Crashed);
}

#[test]
fn a_hang_is_a_timeout() {
    check_fault("hang", &["--timeout", "1"], Status::Timeout);
}

#[test]
fn runaway_allocation_is_out_of_memory() {
    check_fault("oom", &["--mem-limit", "64M"], Status::Oom);
}

#[test]
fn a_resumed_sweep_gives_the_rows_of_an_uninterrupted_one() {
    let whole = tempfile::tempdir().unwrap();
    assert!(small_sweep(whole.path(), &[]).status.success());

    // An interrupted sweep: the header and the first three rows survive.
    let resumed = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(whole.path().join("runs.csv")).unwrap();
    let kept: String = text.lines().take(4).map(|line| format!("{line}\n")).collect();
    std::fs::write(resumed.path().join("runs.csv"), kept).unwrap();

    let output = small_sweep(resumed.path(), &["--resume"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = records(resumed.path());
    assert_eq!(rows.len(), 8);
    assert_eq!(identities(&rows), identities(&records(whole.path())));
    assert!(stderr(&output).contains("5 left to run"), "{}", stderr(&output));
}

#[test]
fn shards_together_give_the_rows_of_the_whole_sweep() {
    let whole = tempfile::tempdir().unwrap();
    assert!(small_sweep(whole.path(), &[]).status.success());
    let mut from_shards = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let out = tempfile::tempdir().unwrap();
        let output = small_sweep(out.path(), &["--shard", shard]);
        assert!(output.status.success(), "{shard}: {}", stderr(&output));
        from_shards.extend(records(out.path()));
    }
    assert_eq!(from_shards.len(), 8);
    assert_eq!(identities(&from_shards), identities(&records(whole.path())));
}

fn check_refused(args: &[&str], expected_message: &str) {
    let out = tempfile::tempdir().unwrap();
    let output = bench(out.path(), args, None);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
    assert!(stderr(&output).contains(expected_message), "{args:?}: {}", stderr(&output));
    assert!(!out.path().join("runs.csv").exists());
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    check_refused(&["--workload", "no-such-*"], "matches no workload; the workloads are: ");
    check_refused(&["--workload", "binary-trees", "--strategy", "nope"], "matches no strategy");
    check_refused(&["--shard", "3/2"], "1 <= I <= N");
    check_refused(&["--mem-limit", "lots"], "512M");
    check_refused(&["--sizes", "0"], "positive");
    check_refused(&["--repeat", "0"], "repeat");
    check_refused(&["--timeout", "never"], "seconds");
}

#[test]
fn a_corrupt_runs_csv_stops_a_resume_and_names_the_line() {
    let out = tempfile::tempdir().unwrap();
    assert!(small_sweep(out.path(), &[]).status.success());
    let path = out.path().join("runs.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("refcount+pymalloc,refcount,pymalloc,binary-trees,four\n");
    std::fs::write(&path, text).unwrap();

    let output = small_sweep(out.path(), &["--resume"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(&format!("{}:10:", path.display())), "{}", stderr(&output));
}

#[test]
fn a_sweep_measured_on_another_machine_is_not_resumed_here() {
    let out = tempfile::tempdir().unwrap();
    assert!(small_sweep(out.path(), &[]).status.success());
    let envs: Vec<PathBuf> =
        std::fs::read_dir(out.path().join("envs")).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(envs.len(), 1);
    // The same machine: the resumed sweep goes on (and has nothing left to run).
    let output = small_sweep(out.path(), &["--resume"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("0 left to run"), "{}", stderr(&output));

    let mut env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&envs[0]).unwrap()).unwrap();
    env["cpu"]["model"] = "Another CPU".into();
    std::fs::write(&envs[0], env.to_string()).unwrap();
    let rows_before = records(out.path()).len();
    let output = small_sweep(out.path(), &["--resume"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("measured on another machine (Another CPU, "), "{}", stderr(&output));
    assert_eq!(records(out.path()).len(), rows_before, "nothing ran");
}

/// Writes a small trace of `n` allocations, every other one freed, into `path`.
fn write_trace(path: &Path, n: u64, size_step: u64) {
    use heaplab_core::trace::{Op, Writer};
    let mut writer = Writer::new(1, 0);
    let mut live = Vec::new();
    for i in 0..n {
        live.push(writer.alloc(Op::Malloc, 0, 16 + (i * size_step) % 600, 0));
        if i % 2 == 1 {
            let id = live.swap_remove(live.len() / 2);
            writer.free(0, id);
        }
    }
    std::fs::write(path, writer.finish()).unwrap();
}

#[test]
fn traces_join_the_sweep_as_one_workload_per_program_on_every_allocator() {
    let traces = tempfile::tempdir().unwrap();
    write_trace(&traces.path().join("small.trace"), 2_000, 8);
    write_trace(&traces.path().join("other.trace"), 3_000, 24);
    let out = tempfile::tempdir().unwrap();
    let output = bench(
        out.path(),
        &[
            "--traces",
            traces.path().to_str().unwrap(),
            "--workload",
            "trace-replay-*",
            "--strategy",
            "pymalloc,system",
            "--repeat",
            "2",
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let records = records(out.path());
    let cells: BTreeSet<(String, String)> =
        records.iter().map(|r| (r.workload.clone(), r.strategy.clone())).collect();
    let expected: BTreeSet<(String, String)> = ["trace-replay-other", "trace-replay-small"]
        .iter()
        .flat_map(|w| ["pymalloc", "system"].map(|s| (w.to_string(), s.to_string())))
        .collect();
    assert_eq!(cells, expected);
    assert_eq!(records.len(), 8, "2 programs x 2 allocators x 2 repetitions");
    for record in &records {
        assert_eq!(record.status, Status::Ok);
        let program = record.workload.strip_prefix("trace-replay-").unwrap();
        assert_eq!(heaplab_core::record::param(&record.params, "program"), Some(program));
        assert!(heaplab_core::record::param(&record.params, "trace").is_some_and(|t| t.ends_with(".trace")));
    }
    let checksums = |workload: &str| -> BTreeSet<Option<String>> {
        records.iter().filter(|r| r.workload == workload).map(|r| r.checksum.clone()).collect()
    };
    assert_eq!(checksums("trace-replay-small").len(), 1, "every allocator replays the same calls");
    assert_ne!(checksums("trace-replay-small"), checksums("trace-replay-other"));

    let report = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("report")
        .arg(out.path())
        .output()
        .expect("running xtask report");
    assert!(report.status.success(), "{}", stderr(&report));
    let text = std::fs::read_to_string(out.path().join("REPORT.md")).unwrap();
    assert!(text.contains("## Traced programs"), "the report has the section");
    assert!(text.contains("### `small`") && text.contains("### `other`"), "one table per program");
    assert!(text.contains("arenas of"), "pymalloc's arenas at exit");
}

#[test]
fn without_traces_the_sweep_plans_no_replay() {
    let out = tempfile::tempdir().unwrap();
    let output = bench(out.path(), &["--workload", "trace-replay", "--strategy", "pymalloc"], None);
    assert!(!output.status.success(), "trace-replay without a trace plans nothing");
    assert!(stderr(&output).contains("plans no run"), "{}", stderr(&output));
}
