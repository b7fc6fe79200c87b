//! A sweep across machines: the GitHub Actions workflow that runs it as a
//! matrix of `--shard I/N` jobs, and the promise it rests on — a sweep split
//! into shards and merged by `cargo xtask report` gives the unsplit sweep's
//! report, cell for cell and figure for figure.
//!
//! The sweeps run a fake `heaplab` (`common::fake_heaplab`)
//! whose figures depend only on the strategy and the size, never on timing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

mod common;

/// The fake child's figures: wall time and RSS from the strategy and the size.
const FIGURES: &str = r#"
wall=$((1000000 + N * 1000))
rss=$((4096 * N))
if [ "$S" = cycle+pymalloc ]; then wall=$((wall + 500000)); rss=$((rss * 2)); fi
"#;

fn fake_heaplab(dir: &Path) -> PathBuf {
    common::fake_heaplab(dir, FIGURES)
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().expect("running xtask")
}

fn bench(heaplab: &Path, out: &Path, shard: Option<&str>) {
    let mut args = vec![
        "bench",
        "--heaplab",
        heaplab.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
        "--sizes",
        "10,20,40",
        "--repeat",
        "3",
    ];
    if let Some(shard) = shard {
        args.extend(["--shard", shard]);
    }
    let output = xtask(&args);
    assert!(output.status.success(), "{shard:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The report's sections that depend on the cells alone (not on the invocations' environments).
fn cell_sections(markdown: &str) -> String {
    let start = markdown.find("## Answers").expect("an Answers section");
    let end = markdown.find("## Measurement quality").expect("a Measurement quality section");
    markdown[start..end].to_owned()
}

/// Every plot's file name and content.
fn plots(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn three_shards_merged_give_the_unsplit_sweeps_report() {
    let dir = tempfile::tempdir().unwrap();
    let heaplab = fake_heaplab(dir.path());
    let whole = dir.path().join("whole");
    bench(&heaplab, &whole, None);
    let report = xtask(&["report", whole.to_str().unwrap()]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));

    let mut shards = Vec::new();
    for i in 1..=3 {
        let shard = dir.path().join(format!("shard-{i}"));
        bench(&heaplab, &shard, Some(&format!("{i}/3")));
        shards.push(shard.to_str().unwrap().to_owned());
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["report".to_owned()];
    args.extend(shards.iter().cloned());
    args.extend(["--out".to_owned(), merged.to_str().unwrap().to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = xtask(&args);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));

    let read = |d: &Path, name: &str| fs::read_to_string(d.join(name)).unwrap();
    assert_eq!(read(&merged, "summary.csv"), read(&whole, "summary.csv"), "the same cells");
    assert_eq!(read(&merged, "summary.csv").lines().count(), 1 + 6);
    assert_eq!(plots(&merged), plots(&whole), "the same figures");
    assert!(plots(&whole).contains_key("overview.svg"));
    assert_eq!(cell_sections(&read(&merged, "REPORT.md")), cell_sections(&read(&whole, "REPORT.md")));
    let envs = fs::read_dir(merged.join("envs")).unwrap().count();
    assert_eq!(envs, 3, "the merge keeps each shard's environment");
}

/// Every string in a YAML document, depth first.
fn strings(yaml: &Yaml, out: &mut Vec<String>) {
    match yaml {
        Yaml::String(text) => out.push(text.clone()),
        Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Hash(map) => map.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

#[test]
fn the_sweep_workflow_parses_and_shards_then_merges() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows/sweep.yml");
    let text = fs::read_to_string(&path).unwrap();
    let docs = YamlLoader::load_from_str(&text).expect("sweep.yml is YAML");
    let workflow = &docs[0];
    let jobs = &workflow["jobs"];
    let shard = &jobs["shard"];
    let matrix = shard["strategy"]["matrix"]["shard"].as_vec().expect("a matrix of shards");
    assert!(matrix.len() >= 2, "several shards");
    let mut shard_strings = Vec::new();
    strings(shard, &mut shard_strings);
    let sweep = shard_strings
        .iter()
        .find(|s| s.contains("cargo xtask bench") && s.contains("--shard"))
        .expect("a step runs cargo xtask bench --shard");
    assert!(sweep.contains(&format!("/{}", matrix.len())), "shards of the matrix's size: {sweep}");
    assert!(shard_strings.iter().any(|s| s.starts_with("actions/upload-artifact")), "each shard is uploaded");
    let report = &jobs["report"];
    assert_eq!(report["needs"].as_str(), Some("shard"));
    let mut report_strings = Vec::new();
    strings(report, &mut report_strings);
    assert!(report_strings.iter().any(|s| s.starts_with("actions/download-artifact")));
    assert!(report_strings.iter().any(|s| s.contains("cargo xtask report") && s.contains("shard-*")));
}
