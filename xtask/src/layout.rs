//! The layout of a results directory that both sides rely on: the names under which
//! `bench` writes a cell's files and `report` finds them. It lives apart from both so
//! that the report does not depend on the sweep (the sweep draws the report; the
//! report reads only files).

/// The file stem of a cell: `<workload>__<strategy>__<size>__t<threads>`.
///
/// A cell's time series is `series/<cell_id>.csv`, a failed run's output
/// `failures/<cell_id>-rep<k>.stderr`. Characters other than ASCII letters,
/// digits, `+`, `-` and `.` become `_`, so the stem is a safe file name.
pub fn cell_id(strategy: &str, workload: &str, size: u64, threads: u32) -> String {
    let clean = |name: &str| -> String {
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.') { c } else { '_' })
            .collect()
    };
    format!("{}__{}__{size}__t{threads}", clean(workload), clean(strategy))
}

/// The file under `failures/` that keeps a failed run's command, reason and stderr tail:
/// `<cell_id>-rep<k>.stderr`.
pub fn failure_stderr(cell_id: &str, rep: u32) -> String {
    format!("{cell_id}-rep{rep}.stderr")
}

/// The name a sweep gives a strategy run with one setting (`cargo xtask bench --set`):
/// `marksweep+pymalloc[marksweep.growth=1.5]`.
pub fn swept_strategy(strategy: &str, setting: &str) -> String {
    format!("{strategy}[{setting}]")
}

/// A swept strategy's name split into the strategy and its setting: `marksweep+pymalloc`,
/// `marksweep.growth`, `1.5`.
pub fn split_swept(strategy: &str) -> Option<(&str, &str, &str)> {
    let (base, rest) = strategy.split_once('[')?;
    let (key, value) = rest.strip_suffix(']')?.split_once('=')?;
    Some((base, key, value))
}

/// The workload that replays traces.
pub const TRACE_REPLAY: &str = "trace-replay";

/// The workload name a sweep gives the replay of one traced program: `trace-replay-<program>`.
///
/// Every row of `runs.csv` says what ran: the replays of two programs are two
/// workloads to the report, the checksum check and `--resume`, as
/// `bulk-load` and `bulk-load-gc-off` are. The child itself runs
/// `heaplab run --workload trace-replay --trace FILE`.
pub fn trace_workload(program: &str) -> String {
    format!("{TRACE_REPLAY}-{program}")
}

/// The real interpreter's own workload: a whole program, run once (`heaplab run --workload
/// program --program SPEC`).
pub const PROGRAM: &str = "program";

/// The workload name a sweep gives the real run of one traced program: `program-<program>`.
pub fn program_workload(program: &str) -> String {
    format!("{PROGRAM}-{program}")
}

/// The program of a traced program's workload, and whether it is the program's own run under a
/// real interpreter (`program-<program>`) rather than its trace's replay (`trace-replay-<program>`).
pub fn traced_program(workload: &str) -> Option<(&str, bool)> {
    let program_of =
        |prefix: &str| workload.strip_prefix(prefix)?.strip_prefix('-').filter(|p| !p.is_empty());
    match (program_of(TRACE_REPLAY), program_of(PROGRAM)) {
        (Some(program), _) => Some((program, false)),
        (None, Some(program)) => Some((program, true)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_ids_are_safe_file_names() {
        assert_eq!(cell_id("cycle+pymalloc", "binary-trees", 14, 1), "binary-trees__cycle+pymalloc__14__t1");
        assert_eq!(cell_id("mimalloc", "larson", 1000, 2), "larson__mimalloc__1000__t2");
        assert_eq!(cell_id("a/b c", "x", 1, 1), "x__a_b_c__1__t1");
        assert_eq!(
            cell_id("python@3.13+jemalloc", "bulk-load", 5, 1),
            "bulk-load__python_3.13+jemalloc__5__t1"
        );
    }
}
