//! The memory probe: RSS sampled by a thread, live bytes published by the
//! heap, phases marked by the workload, collector pauses as events.
//!
//! The sampler reads `/proc/self/statm` about once a millisecond. The heap
//! publishes its live bytes with a relaxed store, which costs the mutator a
//! plain store and no synchronisation.

use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::alloc::AllocStats;

/// The state the sampler thread and the mutator share.
#[derive(Debug)]
struct Shared {
    start: Instant,
    live_bytes: AtomicU64,
    phase: AtomicU32,
    stop: AtomicBool,
    events: Mutex<Vec<Event>>,
}

/// A cheap, clonable handle through which a heap or a workload reports to the probe.
#[derive(Clone, Debug)]
pub struct ProbeHandle {
    shared: Arc<Shared>,
}

impl ProbeHandle {
    /// Nanoseconds since the probe started.
    pub fn now_ns(&self) -> u64 {
        self.shared.start.elapsed().as_nanos() as u64
    }

    /// Publishes the heap's live bytes for the sampler.
    #[inline]
    pub fn set_live_bytes(&self, bytes: u64) {
        self.shared.live_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Tells the sampler which phase (by index) is running.
    pub fn set_phase(&self, index: u32) {
        self.shared.phase.store(index, Ordering::Relaxed);
    }

    /// Records an event, such as a collection pause that started at `t_ns`.
    pub fn event(&self, t_ns: u64, label: String, duration_ns: u64) {
        let mut events = self.shared.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push(Event { t_ns, label, duration_ns });
    }
}

/// One sample of the time series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Nanoseconds since the probe started.
    pub t_ns: u64,
    /// Resident set size.
    pub rss_bytes: u64,
    /// The heap's live bytes, as last published.
    pub live_bytes: u64,
    /// Index of the phase running.
    pub phase: u32,
}

/// A point event, such as a collection pause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When it started, in nanoseconds since the probe started.
    pub t_ns: u64,
    /// What it was, e.g. `gc0`.
    pub label: String,
    /// How long it lasted.
    pub duration_ns: u64,
}

/// The RSS sampler thread.
#[derive(Debug)]
pub struct Probe {
    handle: ProbeHandle,
    thread: Option<JoinHandle<Vec<Sample>>>,
}

impl Probe {
    /// Starts sampling every `period`.
    pub fn start(period: Duration) -> Probe {
        let shared = Arc::new(Shared {
            start: Instant::now(),
            live_bytes: AtomicU64::new(0),
            phase: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            events: Mutex::new(Vec::new()),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("heaplab-probe".into())
            .spawn(move || sample_until_stopped(&for_thread, period))
            .expect("spawning the probe thread");
        Probe { handle: ProbeHandle { shared }, thread: Some(thread) }
    }

    /// A handle to report through.
    pub fn handle(&self) -> ProbeHandle {
        self.handle.clone()
    }

    /// Stops the sampler and returns the series.
    pub fn finish(mut self) -> Series {
        self.handle.shared.stop.store(true, Ordering::Relaxed);
        let samples = self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        let events =
            std::mem::take(&mut *self.handle.shared.events.lock().unwrap_or_else(|e| e.into_inner()));
        Series { samples, events }
    }
}

fn sample_until_stopped(shared: &Shared, period: Duration) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(4096);
    loop {
        samples.push(Sample {
            t_ns: shared.start.elapsed().as_nanos() as u64,
            rss_bytes: current_rss_bytes(),
            live_bytes: shared.live_bytes.load(Ordering::Relaxed),
            phase: shared.phase.load(Ordering::Relaxed),
        });
        if shared.stop.load(Ordering::Relaxed) {
            return samples;
        }
        std::thread::sleep(period);
    }
}

/// The time series of one run.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Samples, in time order.
    pub samples: Vec<Sample>,
    /// Events, in time order.
    pub events: Vec<Event>,
}

impl Series {
    /// Writes the series as CSV: `t_ns,rss_bytes,live_bytes,phase,event`,
    /// samples and events merged in time order; an event row carries
    /// `label:duration_ns` and the figures of the sample before it.
    pub fn write_csv(&self, out: &mut dyn Write, phase_names: &[String]) -> std::io::Result<()> {
        writeln!(out, "t_ns,rss_bytes,live_bytes,phase,event")?;
        let name = |i: u32| phase_names.get(i as usize).map(String::as_str).unwrap_or("");
        let mut events = self.events.iter().peekable();
        let mut last = Sample { t_ns: 0, rss_bytes: 0, live_bytes: 0, phase: 0 };
        for sample in &self.samples {
            while let Some(e) = events.next_if(|e| e.t_ns <= sample.t_ns) {
                let phase = name(last.phase);
                writeln!(
                    out,
                    "{},{},{},{phase},{}:{}",
                    e.t_ns, last.rss_bytes, last.live_bytes, e.label, e.duration_ns
                )?;
            }
            let phase = name(sample.phase);
            writeln!(out, "{},{},{},{phase},", sample.t_ns, sample.rss_bytes, sample.live_bytes)?;
            last = *sample;
        }
        for e in events {
            let phase = name(last.phase);
            writeln!(
                out,
                "{},{},{},{phase},{}:{}",
                e.t_ns, last.rss_bytes, last.live_bytes, e.label, e.duration_ns
            )?;
        }
        Ok(())
    }
}

/// The phase a run begins with, before the workload's first, when its allocator starts with
/// an interpreter's pools (`--set pymalloc.start=…`): it ends at once, so its record is the
/// heap the workload found.
pub const START_PHASE: &str = "start";

/// The end of one phase of a workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// The phase's name.
    pub name: String,
    /// How long it ran.
    pub duration_ns: u64,
    /// Live bytes at its end.
    pub live_bytes: u64,
    /// RSS at its end.
    pub rss_bytes: u64,
    /// Collections of every generation so far.
    pub collections: u64,
    /// The allocator's figures at its end.
    pub alloc: AllocStats,
}

/// What a heap or allocator looks like at a phase boundary.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Live bytes now.
    pub live_bytes: u64,
    /// Collections so far.
    pub collections: u64,
    /// The allocator's figures now.
    pub alloc: AllocStats,
}

/// The phases a workload marks, with a snapshot at the end of each.
#[derive(Debug, Default)]
pub struct PhaseLog {
    probe: Option<ProbeHandle>,
    current: Option<(String, Instant)>,
    records: Vec<PhaseRecord>,
    names: Vec<String>,
}

impl PhaseLog {
    /// A log that tells `probe` (if any) which phase is running.
    pub fn new(probe: Option<ProbeHandle>) -> PhaseLog {
        PhaseLog { probe, ..PhaseLog::default() }
    }

    /// Ends the running phase with `at_end`, if one runs, and starts `name`.
    pub fn start(&mut self, name: &str, at_end: impl FnOnce() -> Snapshot) {
        self.end(at_end);
        self.names.push(name.to_owned());
        if let Some(probe) = &self.probe {
            probe.set_phase((self.names.len() - 1) as u32);
        }
        self.current = Some((name.to_owned(), Instant::now()));
    }

    /// Ends the running phase, if one runs.
    pub fn end(&mut self, at_end: impl FnOnce() -> Snapshot) {
        if let Some((name, started)) = self.current.take() {
            let snapshot = at_end();
            self.records.push(PhaseRecord {
                name,
                duration_ns: started.elapsed().as_nanos() as u64,
                live_bytes: snapshot.live_bytes,
                rss_bytes: current_rss_bytes(),
                collections: snapshot.collections,
                alloc: snapshot.alloc,
            });
        }
    }

    /// Phase names in the order they started; a sample's `phase` indexes this.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The phases ended so far.
    pub fn records(&self) -> &[PhaseRecord] {
        &self.records
    }

    /// Takes the ended phases out.
    pub fn take_records(&mut self) -> Vec<PhaseRecord> {
        std::mem::take(&mut self.records)
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

/// This process's resident set size, from `/proc/self/statm` (0 where unreadable).
pub fn current_rss_bytes() -> u64 {
    rss_from("/proc/self/statm").unwrap_or(0)
}

/// The resident set size of process `pid` (a child being measured), from
/// `/proc/<pid>/statm`; `None` once it has gone.
pub fn rss_bytes_of(pid: u32) -> Option<u64> {
    rss_from(&format!("/proc/{pid}/statm"))
}

fn rss_from(statm: &str) -> Option<u64> {
    let statm = fs::read_to_string(statm).ok()?;
    let resident = statm.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    Some(resident * page_size())
}

/// Turns transparent huge pages off for this process and the programs it
/// executes: `prctl(PR_SET_THP_DISABLE, 1)`, which needs no privilege. The
/// kernel checks the flag at every fault, so memory mapped before the call is
/// covered too; it is inherited across `fork` and kept across `execve`.
pub fn disable_transparent_huge_pages() -> std::io::Result<()> {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_THP_DISABLE,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Whether transparent huge pages are off for this process (`PR_GET_THP_DISABLE`); `None` where the kernel cannot say.
pub fn transparent_huge_pages_disabled() -> Option<bool> {
    // SAFETY: PR_GET_THP_DISABLE takes plain integers and touches no memory of ours.
    let rc = unsafe {
        libc::prctl(
            libc::PR_GET_THP_DISABLE,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    (rc >= 0).then_some(rc == 1)
}

/// Anonymous memory of this process backed by transparent huge pages now
/// (`AnonHugePages` of `/proc/self/smaps_rollup`); `None` where unreadable.
pub fn anon_huge_page_bytes() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = text.lines().find(|line| line.starts_with("AnonHugePages:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU times, faults and peak RSS of this process so far, from `getrusage`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// User CPU time.
    pub user_ns: u64,
    /// System CPU time.
    pub sys_ns: u64,
    /// Minor page faults.
    pub minor_faults: u64,
    /// Peak resident set size.
    pub max_rss_bytes: u64,
}

/// Reads `getrusage(RUSAGE_SELF)`, with the peak RSS of this process image: `VmHWM` of
/// `/proc/self/status`, the high-water mark of this address space, which starts afresh at
/// `exec`. `ru_maxrss` (the fallback where `/proc` is unreadable) is the larger of that and
/// the peak of the process before its `exec` (Linux's `exec_mmap` keeps it in
/// `signal->maxrss`): for a child that a sweep forked, the sweep's own RSS, tens of MiB
/// that would floor every small cell's peak.
pub fn usage() -> Usage {
    let mut usage = usage_of(libc::RUSAGE_SELF);
    if let Some(peak) = high_water_rss("/proc/self/status") {
        usage.max_rss_bytes = peak;
    }
    usage
}

/// `VmHWM` of a `/proc/<pid>/status` file, in bytes.
fn high_water_rss(status: &str) -> Option<u64> {
    let text = fs::read_to_string(status).ok()?;
    let line = text.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Reads `getrusage(RUSAGE_CHILDREN)`: the children this process has waited for, their
/// times and faults summed, `max_rss_bytes` the largest child's peak. With one child, the
/// figures of that child (how `heaplab run` measures a real interpreter).
pub fn children_usage() -> Usage {
    usage_of(libc::RUSAGE_CHILDREN)
}

fn usage_of(who: libc::c_int) -> Usage {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF and RUSAGE_CHILDREN are always accepted.
    let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    if rc != 0 {
        return Usage::default();
    }
    // SAFETY: getrusage succeeded, so it filled the struct (and it was zeroed before).
    let ru = unsafe { ru.assume_init() };
    let tv_ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
    Usage {
        user_ns: tv_ns(ru.ru_utime),
        sys_ns: tv_ns(ru.ru_stime),
        minor_faults: ru.ru_minflt as u64,
        max_rss_bytes: ru.ru_maxrss as u64 * 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_huge_pages_turn_off_for_this_process() {
        // Test threads share the process; turning THP off for it changes no other test's outcome.
        if disable_transparent_huge_pages().is_ok() {
            assert_eq!(transparent_huge_pages_disabled(), Some(true));
        }
    }

    #[test]
    fn series_merges_events_in_time_order() {
        let series = Series {
            samples: vec![
                Sample { t_ns: 10, rss_bytes: 100, live_bytes: 1, phase: 0 },
                Sample { t_ns: 30, rss_bytes: 300, live_bytes: 3, phase: 1 },
            ],
            events: vec![Event { t_ns: 20, label: "gc0".into(), duration_ns: 5 }],
        };
        let mut out = Vec::new();
        series.write_csv(&mut out, &["build".into(), "free".into()]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "t_ns,rss_bytes,live_bytes,phase,event\n10,100,1,build,\n20,100,1,build,gc0:5\n30,300,3,free,\n"
        );
    }

    #[test]
    fn phase_log_closes_each_phase_with_its_snapshot() {
        let mut log = PhaseLog::new(None);
        log.start("build", || unreachable!("no phase runs yet"));
        log.start("free", || Snapshot { live_bytes: 7, collections: 1, ..Snapshot::default() });
        log.end(|| Snapshot { live_bytes: 2, collections: 3, ..Snapshot::default() });
        let records = log.records();
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].name.as_str(), records[0].live_bytes), ("build", 7));
        assert_eq!((records[1].name.as_str(), records[1].collections), ("free", 3));
        assert_eq!(log.names(), ["build", "free"]);
    }

    #[test]
    fn rss_and_usage_are_readable() {
        assert!(current_rss_bytes() > 0);
        assert!(usage().max_rss_bytes > 0);
    }
}
