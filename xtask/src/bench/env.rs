//! `env.json`: the machine and the software a sweep ran on, so that a report
//! can say where its numbers come from.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::limits::parse_mem_total;

/// The crates whose versions `env.json` records: the allocators heaplab links.
const ALLOCATOR_CRATES: [&str; 4] = ["mimalloc", "libmimalloc-sys", "tikv-jemallocator", "tikv-jemalloc-sys"];

/// What a sweep records about itself besides the machine.
#[derive(Clone, Debug)]
pub struct SweepSettings {
    /// The command line, as typed.
    pub command_line: String,
    /// `--quick`.
    pub quick: bool,
    /// Repetitions per cell.
    pub repeat: u32,
    /// The seed.
    pub seed: u64,
    /// `I/N`, where sharded.
    pub shard: Option<String>,
    /// Per-run time limit in seconds.
    pub timeout_s: f64,
    /// Per-run memory cap.
    pub mem_limit_bytes: u64,
    /// Whether this directory was resumed.
    pub resumed: bool,
    /// Cells in this sweep (this shard).
    pub cells: usize,
    /// Runs left to do when the sweep started.
    pub runs_planned: usize,
    /// The heaplab binary run.
    pub heaplab: String,
    /// Strategies selected but unavailable here, with the reason.
    pub unavailable: Vec<(String, String)>,
    /// Environment variables the sweep set for its children.
    pub child_env: Vec<(String, String)>,
    /// `--thp`: the children's transparent huge pages.
    pub thp: String,
    /// `--precision`, as a share.
    pub precision: Option<f64>,
    /// `--max-repeat`, under `--precision`.
    pub max_repeat: Option<u32>,
}

/// The id of one `bench` invocation: its start in UTC, the process id, and the shard:
/// `20240501T123456Z-p4242` or `20240501T123456Z-p4242-s2of4`.
pub fn invocation_id(started: SystemTime, shard: Option<(usize, usize)>) -> String {
    let stamp: String = rfc3339_utc(started).chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let shard = shard.map(|(index, count)| format!("-s{index}of{count}")).unwrap_or_default();
    format!("{stamp}-p{}{shard}", std::process::id())
}

/// The selected value of a kernel setting file such as `always [madvise] never`, or its whole text.
pub fn selected_setting(text: &str) -> String {
    match (text.find('['), text.find(']')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close].to_owned(),
        _ => text.trim().to_owned(),
    }
}

/// The kernel's memory settings that move benchmark figures: transparent huge pages, overcommit, the CPU governor.
pub fn memory_settings() -> Value {
    let setting = |path: &str| read_trimmed(path).map(|text| selected_setting(&text));
    json!({
        "transparent_hugepage_enabled": setting("/sys/kernel/mm/transparent_hugepage/enabled"),
        "transparent_hugepage_defrag": setting("/sys/kernel/mm/transparent_hugepage/defrag"),
        "overcommit_memory": read_trimmed("/proc/sys/vm/overcommit_memory"),
        "cpu_governor": read_trimmed("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
    })
}

/// Everything `env.json` holds, with `end` still null.
pub fn describe(root: &Path, settings: &SweepSettings, python: &PythonFound, started: SystemTime) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let cargo_lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let git_commit = command_output("git", &["-C", &root.display().to_string(), "rev-parse", "HEAD"]);
    let git_dirty = command_output(
        "git",
        &["-C", &root.display().to_string(), "status", "--porcelain", "--untracked-files=no"],
    )
    .map(|changes| !changes.is_empty());
    let allocator_versions: serde_json::Map<String, Value> = ALLOCATOR_CRATES
        .iter()
        .map(|name| (name.to_string(), lock_version(&cargo_lock, name).map_or(Value::Null, Value::from)))
        .collect();
    let unavailable: Vec<Value> = settings
        .unavailable
        .iter()
        .map(|(name, reason)| json!({"strategy": name, "reason": reason}))
        .collect();
    json!({
        "cpu": {
            "model": cpu_model(&cpuinfo),
            "logical_cpus": cpuinfo.lines().filter(|line| line.starts_with("processor")).count(),
            "available_parallelism": std::thread::available_parallelism().map(|n| n.get()).ok(),
            "arch": std::env::consts::ARCH,
        },
        "memory_bytes": parse_mem_total(&meminfo),
        "kernel_memory": memory_settings(),
        "os": {
            "name": os_pretty_name(&os_release),
            "uname": command_output("uname", &["-srvmo"]),
            "kernel": read_trimmed("/proc/sys/kernel/osrelease"),
        },
        "rustc": command_output("rustc", &["--version"]),
        "cargo": command_output("cargo", &["--version"]),
        "git": { "commit": git_commit, "dirty": git_dirty },
        "allocator_versions": allocator_versions,
        "python": { "version": python.version, "libpython": python.libpython },
        "sweep": {
            "command_line": settings.command_line,
            "quick": settings.quick,
            "repeat": settings.repeat,
            "seed": settings.seed,
            "shard": settings.shard,
            "timeout_s": settings.timeout_s,
            "mem_limit_bytes": settings.mem_limit_bytes,
            "resumed": settings.resumed,
            "cells": settings.cells,
            "runs_planned": settings.runs_planned,
            "heaplab": settings.heaplab,
            "thp": settings.thp,
            "precision": settings.precision,
            "max_repeat": settings.max_repeat,
            "unavailable_strategies": unavailable,
            "child_env": settings
                .child_env
                .iter()
                .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
                .collect::<serde_json::Map<String, Value>>(),
        },
        "start": rfc3339_utc(started),
        "end": Value::Null,
    })
}

/// Sets `end` (and the counts of what ran) and rewrites `dir/env.json`.
pub fn finish(
    dir: &Path,
    invocation: &str,
    env: &mut Value,
    ended: SystemTime,
    runs_done: usize,
    interrupted: bool,
) -> anyhow::Result<()> {
    env["end"] = Value::from(rfc3339_utc(ended));
    env["sweep"]["runs_done"] = Value::from(runs_done);
    env["sweep"]["interrupted"] = Value::from(interrupted);
    crate::results::write_env(dir, invocation, env)
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

fn os_pretty_name(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|value| value.trim_matches('"').to_owned())
}

/// The version of the package `name` in a `Cargo.lock` text.
pub fn lock_version(cargo_lock: &str, name: &str) -> Option<String> {
    let name_line = format!("name = \"{name}\"");
    let mut lines = cargo_lock.lines();
    lines.find(|line| line.trim() == name_line)?;
    lines
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| line.trim().strip_prefix("version = \""))
        .map(|rest| rest.trim_end_matches('"').to_owned())
}

/// The `python3` on the PATH, as far as heaplab cares.
#[derive(Clone, Debug, Default)]
pub struct PythonFound {
    /// `Python 3.11.7`.
    pub version: Option<String>,
    /// The shared libpython that sysconfig names (`LIBDIR/INSTSONAME`), where it exists.
    pub libpython: Option<String>,
}

/// Asks `python3` for its version and its shared library.
pub fn find_python() -> PythonFound {
    let version = command_output("python3", &["--version"]);
    let libpython = version.as_ref().and_then(|_| {
        command_output(
            "python3",
            &[
                "-c",
                "import os, sysconfig; d = sysconfig.get_config_var('LIBDIR') or ''; \
                 n = sysconfig.get_config_var('INSTSONAME') or ''; p = os.path.join(d, n); \
                 print(p if n and os.path.exists(p) else '')",
            ],
        )
        .filter(|path| !path.is_empty())
    });
    PythonFound { version, libpython }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|text| text.trim().to_owned())
}

/// The trimmed stdout of a command that succeeded; `None` where it is missing or failed.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    // `python3 --version` wrote to stderr before Python 3.4.
    let text =
        if stdout.is_empty() { String::from_utf8_lossy(&output.stderr).trim().to_owned() } else { stdout };
    output.status.success().then_some(text)
}

/// `time` as `2024-05-01T12:34:56Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or(0);
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01, counting in 400-year eras.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // Days from 0000-03-01 to 1970-01-01.
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn check_time(seconds: u64, expected: &str) {
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(seconds)), expected);
    }

    #[test]
    fn utc_timestamps() {
        check_time(0, "1970-01-01T00:00:00Z");
        check_time(86_399, "1970-01-01T23:59:59Z");
        check_time(951_782_400, "2000-02-29T00:00:00Z");
        check_time(1_709_208_000, "2024-02-29T12:00:00Z");
        check_time(1_735_689_599, "2024-12-31T23:59:59Z");
        check_time(4_107_542_400, "2100-03-01T00:00:00Z");
    }

    #[test]
    fn versions_from_cargo_lock() {
        let lock = "[[package]]\nname = \"mimalloc\"\nversion = \"0.1.52\"\nsource = \"registry\"\n\n\
                    [[package]]\nname = \"libmimalloc-sys\"\nversion = \"0.1.49\"\n\n\
                    [[package]]\nname = \"other\"\n\n[[package]]\nname = \"tikv-jemallocator\"\nversion = \"0.6.1\"\n";
        assert_eq!(lock_version(lock, "mimalloc").as_deref(), Some("0.1.52"));
        assert_eq!(lock_version(lock, "libmimalloc-sys").as_deref(), Some("0.1.49"));
        assert_eq!(lock_version(lock, "tikv-jemallocator").as_deref(), Some("0.6.1"));
        assert_eq!(lock_version(lock, "other"), None);
        assert_eq!(lock_version(lock, "absent"), None);
    }

    #[test]
    fn the_description_names_the_machine_and_the_sweep() {
        let settings = SweepSettings {
            command_line: "cargo xtask bench --quick".into(),
            quick: true,
            repeat: 1,
            seed: 42,
            shard: None,
            timeout_s: 60.0,
            mem_limit_bytes: 1 << 30,
            resumed: false,
            cells: 3,
            runs_planned: 3,
            heaplab: "/tmp/heaplab".into(),
            unavailable: vec![("cpython".into(), "no libpython".into())],
            child_env: vec![("HEAPLAB_LIBPYTHON".into(), "/usr/lib/libpython3.so".into())],
            thp: "never".into(),
            precision: Some(0.03),
            max_repeat: Some(20),
        };
        let python = PythonFound { version: Some("Python 3.11.7".into()), libpython: None };
        let env = describe(&crate::project_root(), &settings, &python, UNIX_EPOCH);
        assert!(env["memory_bytes"].as_u64().unwrap() > 0);
        assert!(env["rustc"].as_str().unwrap().starts_with("rustc "));
        assert_eq!(env["sweep"]["unavailable_strategies"][0]["strategy"], "cpython");
        assert_eq!(env["start"], "1970-01-01T00:00:00Z");
        assert!(env["end"].is_null());
        // The workspace links at least one of the allocator crates; absent ones are null.
        let versions = env["allocator_versions"].as_object().unwrap();
        assert_eq!(versions.len(), ALLOCATOR_CRATES.len());
        assert!(versions.values().any(Value::is_string), "{versions:?}");
        assert_eq!(env["python"]["version"], "Python 3.11.7");
        assert_eq!(env["sweep"]["child_env"]["HEAPLAB_LIBPYTHON"], "/usr/lib/libpython3.so");
        assert_eq!(env["sweep"]["thp"], "never");
        assert!(env["kernel_memory"].get("transparent_hugepage_enabled").is_some());
    }

    #[test]
    fn kernel_settings_and_invocation_ids() {
        assert_eq!(selected_setting("always [madvise] never\n"), "madvise");
        assert_eq!(selected_setting("0\n"), "0");
        let id = invocation_id(UNIX_EPOCH, Some((2, 4)));
        assert!(id.starts_with("19700101T000000Z-p") && id.ends_with("-s2of4"), "{id}");
    }
}
