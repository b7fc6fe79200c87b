//! The record of one run: the columns of `runs.csv`, in the contract's order,
//! and the JSON line `heaplab run` prints.

use serde::{Deserialize, Serialize};

use crate::probe::PhaseRecord;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It finished and printed its record.
    Ok,
    /// It died by a signal, an abort or a panic.
    Crashed,
    /// It went over its memory cap.
    Oom,
    /// It went over its time limit.
    Timeout,
    /// It refused its input or failed in an orderly way.
    Error,
}

impl Status {
    /// The status as written in `runs.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Crashed => "crashed",
            Status::Oom => "oom",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }
}

/// The names of `runs.csv`'s columns, in order. `params` came last, so the
/// others keep their places; files written before it ([`COLUMNS_BEFORE_PARAMS`]) still read.
pub const COLUMNS: [&str; 27] = [
    "strategy",
    "collector",
    "allocator",
    "workload",
    "size",
    "threads",
    "seed",
    "rep",
    "status",
    "checksum",
    "wall_ns",
    "user_ns",
    "sys_ns",
    "ops",
    "ops_per_s",
    "peak_rss_bytes",
    "end_rss_bytes",
    "peak_live_bytes",
    "end_live_bytes",
    "allocated_bytes",
    "leaked_bytes",
    "collections",
    "pause_total_ns",
    "pause_max_ns",
    "pause_p99_ns",
    "minor_faults",
    "params",
];

/// The columns of `runs.csv` files written before `params` was added.
pub const COLUMNS_BEFORE_PARAMS: usize = 26;

/// Whether `header` is runs.csv's header, with or without the final `params` column.
pub fn is_runs_header<'a>(header: impl IntoIterator<Item = &'a str>) -> bool {
    let names: Vec<&str> = header.into_iter().collect();
    names == COLUMNS || names == COLUMNS[..COLUMNS_BEFORE_PARAMS]
}

/// The value of `key` in a `params` string (`key=value` pairs separated by `;`).
pub fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    params
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// `params` with `key` set to `value` (replacing an earlier value of `key`).
pub fn with_param(params: &str, key: &str, value: &str) -> String {
    let mut pairs: Vec<String> = params
        .split(';')
        .filter(|pair| !pair.trim().is_empty())
        .filter(|pair| pair.split_once('=').is_none_or(|(k, _)| k.trim() != key))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("{key}={value}"));
    pairs.join(";")
}

/// One row of `runs.csv`. Figures a failed run could not produce are empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `collector+allocator`, or the allocator alone for allocator workloads.
    pub strategy: String,
    /// The collector; empty for allocator workloads.
    pub collector: String,
    /// The allocator.
    pub allocator: String,
    /// The workload.
    pub workload: String,
    /// The workload's size parameter.
    pub size: u64,
    /// Threads used.
    pub threads: u32,
    /// The seed.
    pub seed: u64,
    /// Repetition index within a sweep.
    pub rep: u32,
    /// How the run ended.
    pub status: Status,
    /// The workload's checksum, as 16 hex digits.
    pub checksum: Option<String>,
    /// Wall-clock time of the workload.
    pub wall_ns: Option<u64>,
    /// User CPU time of the process.
    pub user_ns: Option<u64>,
    /// System CPU time of the process.
    pub sys_ns: Option<u64>,
    /// Operations the workload counts (its own unit, documented per workload).
    pub ops: Option<u64>,
    /// `ops` per second of wall time.
    pub ops_per_s: Option<f64>,
    /// Peak RSS of the process.
    pub peak_rss_bytes: Option<u64>,
    /// RSS at the end of the workload.
    pub end_rss_bytes: Option<u64>,
    /// Peak live bytes.
    pub peak_live_bytes: Option<u64>,
    /// Live bytes at the end of the workload, before teardown.
    pub end_live_bytes: Option<u64>,
    /// Bytes allocated in total.
    pub allocated_bytes: Option<u64>,
    /// Bytes unreachable but still held at teardown.
    pub leaked_bytes: Option<u64>,
    /// Collections of every generation.
    pub collections: Option<u64>,
    /// Sum of the pauses.
    pub pause_total_ns: Option<u64>,
    /// The longest pause.
    pub pause_max_ns: Option<u64>,
    /// The 99th percentile pause.
    pub pause_p99_ns: Option<u64>,
    /// Minor page faults of the process.
    pub minor_faults: Option<u64>,
    /// Every parameter the run used, as `key=value` pairs separated by `;`
    /// (`thp=never`, the sweep's `invocation=<id>`); empty in files written before it.
    #[serde(default)]
    pub params: String,
}

impl Record {
    /// A record that measured nothing: every figure empty, with `status`. Its names, size,
    /// threads, seed and repetition are blank, for the caller to fill in
    /// (`Record { strategy, .., ..Record::unmeasured(Status::Timeout) }`).
    pub fn unmeasured(status: Status) -> Record {
        Record {
            strategy: String::new(),
            collector: String::new(),
            allocator: String::new(),
            workload: String::new(),
            size: 0,
            threads: 0,
            seed: 0,
            rep: 0,
            status,
            checksum: None,
            wall_ns: None,
            user_ns: None,
            sys_ns: None,
            ops: None,
            ops_per_s: None,
            peak_rss_bytes: None,
            end_rss_bytes: None,
            peak_live_bytes: None,
            end_live_bytes: None,
            allocated_bytes: None,
            leaked_bytes: None,
            collections: None,
            pause_total_ns: None,
            pause_max_ns: None,
            pause_p99_ns: None,
            minor_faults: None,
            params: String::new(),
        }
    }
}

/// The JSON line of `heaplab run`: the record, then what does not fit a CSV row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The CSV columns.
    #[serde(flatten)]
    pub record: Record,
    /// Collections per generation, youngest first.
    pub collections_by_gen: Vec<u64>,
    /// Each phase the workload marked, in order.
    pub phases: Vec<PhaseRecord>,
    /// Anonymous memory backed by transparent huge pages at the end of the
    /// workload (`AnonHugePages`); absent where unreadable and in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anon_huge_bytes: Option<u64>,
}

/// The `q`-quantile (0..=1) of `values` by nearest rank; 0 for none.
pub fn quantile(values: &[u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_by_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.99), 99);
        assert_eq!(quantile(&values, 0.5), 50);
        assert_eq!(quantile(&values, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.99), 0);
    }

    #[test]
    fn params_are_key_value_pairs() {
        assert_eq!(param("thp=never;invocation=abc", "thp"), Some("never"));
        assert_eq!(param("thp=never;invocation=abc", "invocation"), Some("abc"));
        assert_eq!(param("", "thp"), None);
        assert_eq!(with_param("", "thp", "never"), "thp=never");
        assert_eq!(with_param("thp=system;x=1", "thp", "never"), "x=1;thp=never");
        assert!(is_runs_header(COLUMNS));
        assert!(is_runs_header(COLUMNS[..COLUMNS_BEFORE_PARAMS].iter().copied()));
        assert!(!is_runs_header(["strategy"]));
    }

    #[test]
    fn status_names_match_serde() {
        for status in [Status::Ok, Status::Crashed, Status::Oom, Status::Timeout, Status::Error] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
