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

/// The names of `runs.csv`'s columns, in order.
pub const COLUMNS: [&str; 26] = [
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
];

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
    fn status_names_match_serde() {
        for status in [Status::Ok, Status::Crashed, Status::Oom, Status::Timeout, Status::Error] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
