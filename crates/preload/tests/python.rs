//! The preload library under real Python interpreters: the allocator named is
//! the one serving, threads and fork run clean, and trace mode writes traces
//! that read back. Interpreters that are missing are skipped with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use heaplab_core::trace;

/// The library `cargo test` built beside this test binary (`target/<profile>/`),
/// built here with cargo when it is not there.
fn library() -> PathBuf {
    static LIBRARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIBRARY.get_or_init(find_or_build_library).clone()
}

fn find_or_build_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let so = profile_dir.join("libheaplab_preload.so");
    if !so.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "heaplab-preload"])
            .status()
            .expect("running cargo build -p heaplab-preload");
        assert!(status.success(), "cargo build -p heaplab-preload failed");
    }
    assert!(so.exists(), "{} was not built", so.display());
    so
}

/// CPython 3.11.7 of pyenv, then every other pyenv CPython 3.8+, then `python3` on the PATH.
fn interpreters() -> Vec<PathBuf> {
    let root = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
    let mut found = Vec::new();
    if let Some(root) = root {
        let main = root.join("versions/3.11.7/bin/python3");
        if main.exists() {
            found.push(main);
        }
        if let Ok(entries) = std::fs::read_dir(root.join("versions")) {
            let mut others: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let minor =
                        name.strip_prefix("3.").and_then(|rest| rest.split('.').next()?.parse::<u32>().ok());
                    name != "3.11.7" && minor.is_some_and(|minor| minor >= 8)
                })
                .map(|entry| entry.path().join("bin/python3"))
                .filter(|path| path.exists())
                .collect();
            others.sort();
            found.extend(others);
        }
    }
    if found.is_empty() && Command::new("python3").arg("-c").arg("pass").status().is_ok_and(|s| s.success()) {
        found.push(PathBuf::from("python3"));
    }
    if found.is_empty() {
        eprintln!("skipped: no python3 found (pyenv or PATH)");
    }
    found
}

/// The first interpreter, or `None` (with a message) when there is none.
fn python() -> Option<PathBuf> {
    interpreters().into_iter().next()
}

/// Runs `script` under `python` with the library preloaded and `env` set.
fn run(python: &Path, alloc: &str, script: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(python);
    command
        .arg("-c")
        .arg(script)
        .env("LD_PRELOAD", library())
        .env("HEAPLAB_PRELOAD_ALLOC", alloc)
        .env("PYTHONMALLOC", "malloc")
        .env_remove("HEAPLAB_TRACE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("running python")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a clean exit, showing stderr otherwise.
fn assert_clean(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Prints which allocator serves, whether the library is mapped, the first
/// bytes of a fresh malloc(64), and works a little.
const IDENTIFY: &str = r#"
import ctypes, json
libc = ctypes.CDLL(None)
libc.heaplab_preload_allocator.restype = ctypes.c_char_p
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.malloc_usable_size.restype = ctypes.c_size_t
libc.malloc_usable_size.argtypes = [ctypes.c_void_p]
mapped = any("libheaplab_preload.so" in line for line in open("/proc/self/maps"))
p = libc.malloc(64)
first = ctypes.string_at(p, 8).hex()
usable = libc.malloc_usable_size(p)
libc.free(p)
data = [{"k": str(i), "v": [i, float(i)]} for i in range(20000)]
assert json.loads(json.dumps(data)) == data
print(libc.heaplab_preload_allocator().decode(), mapped, first, usable >= 64)
"#;

#[test]
fn jemalloc_serves_python_and_says_so_at_exit() {
    for python in interpreters() {
        // junk:true fills fresh blocks with 0xa5, which only jemalloc does;
        // stats_print:true makes jemalloc print its own report at exit.
        let out = run(&python, "jemalloc", IDENTIFY, &[("_RJEM_MALLOC_CONF", "stats_print:true,junk:true")]);
        assert_clean(&out, &format!("{} on jemalloc", python.display()));
        assert_eq!(text(&out.stdout).trim(), "jemalloc True a5a5a5a5a5a5a5a5 True", "{}", python.display());
        let stderr = text(&out.stderr);
        assert!(stderr.contains("___ Begin jemalloc statistics ___"), "{}: {stderr}", python.display());
        assert!(stderr.contains("opt.junk: \"true\""), "{}: {stderr}", python.display());
    }
}

#[test]
fn mimalloc_serves_python_and_says_so_at_exit() {
    for python in interpreters() {
        let out = run(&python, "mimalloc", IDENTIFY, &[("MIMALLOC_SHOW_STATS", "1")]);
        assert_clean(&out, &format!("{} on mimalloc", python.display()));
        let stdout = text(&out.stdout);
        let fields: Vec<&str> = stdout.split_whitespace().collect();
        assert_eq!(fields[..2], ["mimalloc", "True"], "{}: {stdout}", python.display());
        assert_eq!(fields[3], "True", "usable size below the request: {stdout}");
        // mimalloc's own statistics at exit: its arenas, with memory committed.
        let stderr = text(&out.stderr);
        assert!(stderr.contains("committed"), "{}: {stderr}", python.display());
        assert!(stderr.contains("arenas"), "{}: {stderr}", python.display());
    }
}

#[test]
fn an_unknown_allocator_is_refused_loudly() {
    let Some(python) = python() else { return };
    let out = run(&python, "tcmalloc", "pass", &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("HEAPLAB_PRELOAD_ALLOC must be jemalloc or mimalloc"),
        "{}",
        text(&out.stderr)
    );
}

const THREADS: &str = r#"
import threading, json
results = [None] * 8
def work(k):
    total = 0
    for round in range(8):
        rows = [{"id": i, "name": "row%d" % i, "vals": list(range(i % 17))} for i in range(2000)]
        total += len(json.dumps(rows))
        del rows
    results[k] = total
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(len(set(results)), results[0])
"#;

const FORK: &str = r#"
import os, sys
pids = []
for k in range(4):
    pid = os.fork()
    if pid == 0:
        data = [str(i) * 5 for i in range(50000)]
        blob = bytearray(1 << 20)
        code = 0 if len(data) == 50000 and len(blob) == 1 << 20 else 1
        if k % 2:
            os._exit(code)
        sys.exit(code)
    pids.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) if hasattr(os, "waitstatus_to_exitcode") else os.waitpid(pid, 0)[1] for pid in pids]
after = [dict(a=i) for i in range(10000)]
print(codes, len(after))
"#;

#[test]
fn threads_and_fork_run_clean_on_both_allocators() {
    for python in interpreters() {
        for alloc in ["jemalloc", "mimalloc"] {
            let out = run(&python, alloc, THREADS, &[]);
            assert_clean(&out, &format!("threads on {alloc} under {}", python.display()));
            let stdout = text(&out.stdout);
            assert!(stdout.starts_with("1 "), "threads disagree: {stdout}");

            let out = run(&python, alloc, FORK, &[]);
            assert_clean(&out, &format!("fork on {alloc} under {}", python.display()));
            assert_eq!(text(&out.stdout).trim(), "[0, 0, 0, 0] 10000");
        }
    }
}

/// The trace files a run left in `dir`, by pid.
fn traces_in(dir: &Path) -> Vec<trace::Trace> {
    let mut traces: Vec<trace::Trace> = std::fs::read_dir(dir)
        .expect("the trace directory")
        .map(|entry| trace::read_file(&entry.expect("an entry").path()).expect("a trace that reads back"))
        .collect();
    traces.sort_by_key(|trace| trace.pid);
    traces
}

#[test]
fn traces_of_threads_and_forks_read_back() {
    let Some(python) = python() else { return };
    for alloc in ["jemalloc", "mimalloc"] {
        let dir = tempdir();
        let base = dir.join("t");
        let base = base.to_str().expect("a UTF-8 path");

        let out = run(&python, alloc, THREADS, &[("HEAPLAB_TRACE", base)]);
        assert_clean(&out, "traced threads");
        let traces = traces_in(&dir);
        assert_eq!(traces.len(), 1, "one process, one trace");
        let threaded = &traces[0];
        assert_eq!(threaded.parent_pid, 0);
        assert!(threaded.n_threads >= 9, "8 workers and the main thread: {}", threaded.n_threads);
        let summary = threaded.summary();
        assert!(summary.mallocs > 100_000, "{summary}");
        assert!(summary.frees > 100_000, "{summary}");
        assert!(summary.requested_bytes > 10_000_000, "{summary}");
        std::fs::remove_dir_all(&dir).expect("cleaning up");

        let dir = tempdir();
        let base = dir.join("t");
        let out = run(&python, alloc, FORK, &[("HEAPLAB_TRACE", base.to_str().expect("UTF-8"))]);
        assert_clean(&out, "traced fork");
        let traces = traces_in(&dir);
        assert_eq!(traces.len(), 5, "the parent and its four children");
        let parent = traces.iter().find(|trace| trace.parent_pid == 0).expect("the parent's trace");
        for child in traces.iter().filter(|trace| trace.parent_pid != 0) {
            assert_eq!(child.parent_pid, parent.pid);
            let summary = child.summary();
            // 50,000 strings and a 1 MiB buffer, whether the child ended with sys.exit or os._exit.
            assert!(summary.mallocs + summary.callocs >= 50_000, "child {}: {summary}", child.pid);
            assert!(summary.peak_live_bytes >= 1 << 20, "child {}: {summary}", child.pid);
        }
        std::fs::remove_dir_all(&dir).expect("cleaning up");
    }
}

/// A fresh directory under the target directory's tmp (no tempfile dependency needed).
fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "heaplab-preload-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    dir
}
