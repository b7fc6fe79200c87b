//! The results model: the one module that reads and writes a results directory's run
//! files. `runs` appends finished runs to `runs.csv` and `runs.jsonl` (each line whole and
//! synced), reads them back and writes them anew; `dir` loads a directory whole for the
//! report, the comparison and the merge of shards. The sweep (`bench`) writes through it, the
//! report reads through it, and neither knows the other. The names of a cell's other files
//! are in [`crate::layout`].

mod dir;
mod runs;

pub use dir::{ResultsDir, load_results};
pub use runs::{Sink, read_runs_csv, write_runs_csv, write_runs_jsonl};

/// The file of every run's contract columns, one row per run.
pub const RUNS_CSV: &str = "runs.csv";
/// The file of every run's whole record (phases, collections per generation), one JSON line per run.
pub const RUNS_JSONL: &str = "runs.jsonl";
