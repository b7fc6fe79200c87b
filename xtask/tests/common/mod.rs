//! What the sweep tests share: a fake `heaplab`, a shell script that lists two strategies on
//! one workload and prints one record per run, its figures set by a fragment of the test's own,
//! so that the tests check the sweep's logic and never the machine's timing.

use std::path::{Path, PathBuf};

/// The script around the test's fragment: `list`, then the arguments of `run` parsed into
/// `S` (strategy), `W` (workload) and `N` (size), then the fragment, which may set `wall`
/// (ns, default 1 ms), `rss` (bytes, default 4 KiB) and `params`, then the record.
const SCRIPT: [&str; 2] = [
    r#"#!/bin/sh
if [ "$1" = list ]; then
  echo '{"strategies":[{"name":"cycle+pymalloc","kind":"heap","collector":"cycle","allocator":"pymalloc","available":true},{"name":"refcount+pymalloc","kind":"heap","collector":"refcount","allocator":"pymalloc","available":true}],"workloads":[{"name":"churn","quick_sizes":[10],"default_sizes":[100],"runs_on":"heap"}]}'
  exit 0
fi
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --strategy) S=$2; shift 2;;
    --workload) W=$2; shift 2;;
    --size) N=$2; shift 2;;
    *) shift;;
  esac
done
wall=1000000
rss=4096
params=
"#,
    r#"
echo "{\"strategy\":\"$S\",\"collector\":\"${S%%+*}\",\"allocator\":\"${S#*+}\",\"workload\":\"$W\",\"size\":$N,\"threads\":1,\"seed\":42,\"rep\":0,\"status\":\"ok\",\"checksum\":\"00000000000000aa\",\"wall_ns\":$wall,\"user_ns\":$wall,\"sys_ns\":0,\"ops\":1000,\"ops_per_s\":1000.0,\"peak_rss_bytes\":$rss,\"params\":\"$params\",\"collections_by_gen\":[],\"phases\":[]}"
"#,
];

/// Writes the fake `heaplab` with `figures` (a shell fragment) into `dir`; returns its path.
pub fn fake_heaplab(dir: &Path, figures: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("heaplab");
    std::fs::write(&path, format!("{}{figures}{}", SCRIPT[0], SCRIPT[1])).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
