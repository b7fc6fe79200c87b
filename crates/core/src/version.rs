//! CPython releases: the facts of each that the model follows, in one registry.
//!
//! A strategy may name a release (`cycle@3.13+pymalloc`); everything that differs between
//! releases is read from its [`Version`] here — object sizes, the collector's thresholds and
//! the moment a collection may run, pymalloc's pool and arena sizes — and nowhere else.
//! Without a version a strategy means [`DEFAULT`], CPython 3.11.
//!
//! Where each fact comes from (sources: the release tarballs of 3.9.2, 3.11.2 and 3.13.5
//! unpacked beside the project, CPython's repository for the others; sizes measured with
//! `sys.getsizeof` and `gc.get_threshold()` of pyenv's 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1
//! and 3.13.0 on the machines heaplab is built on):
//!
//! | fact | 3.8–3.10 | 3.11 | 3.12 | 3.13 | 3.14 |
//! |---|---|---|---|---|---|
//! | `sys.getsizeof(0)` | 24 | 28 | 28 | 28 | 28 |
//! | `sys.getsizeof("abc")` | 52 | 52 | 44 | 44 | 44 |
//! | `gc.get_threshold()` | 700, 10, 10 | 700, 10, 10 | 700, 10, 10 | 2000, 10, 10 | 2000, 10, 0 (young; old scale) |
//! | pools / arenas | 4 KiB / 256 KiB (3.8, 3.9); 16 KiB / 1 MiB (3.10) | 16 KiB / 1 MiB | 16 KiB / 1 MiB | 16 KiB / 1 MiB | 16 KiB / 1 MiB |
//! | a collection runs | in the allocation | in the allocation | at the eval breaker | at the eval breaker | at the eval breaker |
//! | list growth (`list_resize`) | `n + n/8 + (3 or 6)` (3.8); `(n + n/8 + 6) & ~3` (3.9, 3.10) | `(n + n/8 + 6) & ~3` | the same | the same | the same |
//!
//! - The int of 0: up to 3.10 `_PyLong_New(0)` allocates no digit (`Objects/longobject.c`:
//!   `offsetof(PyLongObject, ob_digit) + sizeof(digit)*size`, size 0); 3.11 allocates at
//!   least one (`ndigits = size ? size : 1`).
//! - A compact ASCII str: 3.12 removed `wstr` and `wstr_length` from `PyASCIIObject` /
//!   `PyCompactUnicodeObject` (PEP 623), 8 bytes fewer before the data: 40 + n + 1.
//! - Thresholds: `_PyGC_InitState` (Modules/gcmodule.c up to 3.12, Python/gc.c in 3.13)
//!   sets generation 0's threshold to 700 up to 3.12 and to 2000 in 3.13.
//! - Geometry: `POOL_BITS` and `ARENA_BITS` under `WITH_PYMALLOC_RADIX_TREE` in
//!   Objects/obmalloc.c (3.10 and later, 64-bit: 16 KiB pools in 1 MiB arenas); 4 KiB pools
//!   (`SYSTEM_PAGE_SIZE`) in 256 KiB arenas before.
//! - When a collection runs: up to 3.11 `_PyObject_GC_Link` calls `gc_collect_generations`
//!   at once; from 3.12 it calls `_Py_ScheduleGC`, and the collection runs when the
//!   interpreter next checks its eval breaker (`_Py_RunGC` from `_Py_HandlePending`), after
//!   the current bytecode. heaplab has no bytecodes: it takes the next object creation as
//!   that moment, so the object that crossed the threshold is built and tracked first, or
//!   the next phase boundary or the end, whichever comes first (a twin's loop ends with a
//!   `JUMP_BACKWARD` and its `recorder.phase()` is a call whose `RESUME` checks the
//!   breaker: measured, bulk-load of exactly 2,000 records collects once in 3.13.0).
//!   3.12's `_Py_RunGC` (Modules/gcmodule.c) runs the scheduled collection even when
//!   `gc.disable()` came between the scheduling and the eval breaker (gh-116604, which also
//!   notes that `PyErr_CheckSignals` runs it from inside C code); 3.13's (Python/gc.c)
//!   returns first `if (!gcstate->enabled)`. Measured: after 25 lists built in one
//!   expression past `gc.set_threshold(10)`, then `gc.disable()`, 3.12.1 has collected once
//!   more and 3.13.0 has not.
//! - Free lists ([`FreeLists`]): freed floats, tuples, lists, dicts and a dict's smallest
//!   keys objects are kept for reuse instead of going back to the allocator, up to a limit
//!   each; an object taken from one never reaches `PyObject_GC_New`/`_PyObject_GC_Link` (it
//!   does not add to generation 0's count) and one put on it never reaches `PyObject_GC_Del`
//!   (it does not take one off). The limits: `PyFloat_MAXFREELIST` 100
//!   (Objects/floatobject.c up to 3.10, Include/internal/pycore_floatobject.h in 3.11 and
//!   3.12, pycore_freelist.h in 3.13), `PyTuple_MAXFREELIST` 2,000 of each length below
//!   `PyTuple_MAXSAVESIZE` 20, `PyList_MAXFREELIST` and `PyDict_MAXFREELIST` 80 (dicts and
//!   keys objects alike). The lengths differ: 3.9.2's `tupledealloc` keeps a tuple of
//!   `len < PyTuple_MAXSAVESIZE` (1 to 19; entry 0 is the empty tuple); 3.11.2's
//!   `maybe_freelist_push` keeps `index = len - 1 < PyTuple_NFREELISTS` (1 to 20) but its
//!   `maybe_freelist_pop` reuses only `size < PyTuple_MAXSAVESIZE` (1 to 19), so 20-tuples
//!   are kept and never reused; 3.13.5's pop takes `size <= PyTuple_MAXSAVESIZE`. Measured
//!   with `sys._debugmallocstats()` ("free 20-sized PyTupleObject") after 50 tuples of 19
//!   and of 20 items died and 30 of 20 were made again: 3.8.18–3.10.13 kept no 20-tuple;
//!   3.11.7 and 3.12.1 kept 50 and still held them after the 30 were made; 3.13.0 kept 50 and
//!   held 20 after. Keys objects: 3.9.2's `new_keys_object` and `free_keys_object` keep any
//!   keys object of `PyDict_MINSIZE` (8) slots; 3.11.2 and 3.13.5 keep only unicode ones
//!   (`log2_size == PyDict_LOG_MINSIZE && unicode`, `DK_IS_UNICODE`). 3.14 adds a free list
//!   of 100 compact ints (one 30-bit digit; `Py_ints_MAXFREELIST` in
//!   Include/internal/pycore_freelist_state.h of CPython's main branch, gh-126868), taken
//!   for 3.14 from the sources only. Not modelled: the free lists' contents when the
//!   workload starts (a bare interpreter holds a few: 3.11.7 printed 16 dicts, 4 floats and
//!   38 lists).
//! - 3.14.0 to 3.14.4 shipped an incremental collector (the `incremental` collector, modelled
//!   from `Python/gc.c` of 3.14 only: no 3.14 interpreter was measured); its sizes and
//!   geometry are taken as 3.13's.

/// When the cycle collector may run once generation 0's count passes its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcTrigger {
    /// Inside the allocation that crossed the threshold (3.11 and earlier).
    InAllocation,
    /// At the next eval-breaker check (3.12 and later): here, the next object creation, phase
    /// boundary or end.
    EvalBreaker,
}

/// How many freed objects of each kind a release keeps for reuse (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FreeLists {
    /// Floats kept (`PyFloat_MAXFREELIST`).
    pub floats: usize,
    /// Ints of one 30-bit digit kept (3.14's `Py_ints_MAXFREELIST`; 0 before).
    pub ints: usize,
    /// Tuples kept of each length (`PyTuple_MAXFREELIST`).
    pub tuples: usize,
    /// The longest tuple kept when it dies.
    pub tuple_kept_len: usize,
    /// The longest tuple taken from its free list when one is made.
    pub tuple_reused_len: usize,
    /// List objects kept (`PyList_MAXFREELIST`); their item buffers are freed.
    pub lists: usize,
    /// Dict objects kept (`PyDict_MAXFREELIST`).
    pub dicts: usize,
    /// Keys objects of the smallest size (8 slots) kept.
    pub dict_keys: usize,
    /// Whether only unicode keys objects are kept (3.11 and later).
    pub dict_keys_unicode_only: bool,
}

impl FreeLists {
    /// No free lists: every object goes back to the allocator when it dies.
    pub const NONE: FreeLists = FreeLists {
        floats: 0,
        ints: 0,
        tuples: 0,
        tuple_kept_len: 0,
        tuple_reused_len: 0,
        lists: 0,
        dicts: 0,
        dict_keys: 0,
        dict_keys_unicode_only: false,
    };

    /// One line on what differs between releases: the tuple lengths, the keys kept, ints.
    pub fn summary(&self) -> String {
        let tuples = if self.tuple_kept_len == self.tuple_reused_len {
            format!("tuples of 1-{} items", self.tuple_kept_len)
        } else {
            format!("tuples of 1-{} items (1-{} reused)", self.tuple_kept_len, self.tuple_reused_len)
        };
        let keys = if self.dict_keys_unicode_only { "unicode keys objects" } else { "keys objects" };
        let ints = if self.ints > 0 { ", one-digit ints" } else { "" };
        format!("{tuples}, floats, lists, dicts, 8-slot {keys}{ints}")
    }

    const fn of_release(minor: u8) -> FreeLists {
        FreeLists {
            floats: 100,
            ints: if minor >= 14 { 100 } else { 0 },
            tuples: 2000,
            tuple_kept_len: if minor >= 11 { 20 } else { 19 },
            tuple_reused_len: if minor >= 13 { 20 } else { 19 },
            lists: 80,
            dicts: 80,
            dict_keys: 80,
            dict_keys_unicode_only: minor >= 11,
        }
    }
}

/// One CPython release line, as the model follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// `3.11`: the name strategies use after `@`.
    pub name: &'static str,
    /// The minor version: 11 for 3.11.
    pub minor: u8,
    /// The interpreter the facts were measured with, e.g. `3.11.7` (pyenv's name).
    pub measured_with: Option<&'static str>,
    /// Bytes of a compact ASCII str before its data (48 up to 3.11, 40 from 3.12).
    pub str_header: usize,
    /// Whether the int 0 has a digit (from 3.11).
    pub zero_has_digit: bool,
    /// The cycle collector's thresholds, generation 0 first.
    pub thresholds: &'static [u32],
    /// When a collection may run.
    pub trigger: GcTrigger,
    /// Whether a collection scheduled for the eval breaker is skipped when automatic
    /// collection was turned off meanwhile (`if (!gcstate->enabled) return;` in `_Py_RunGC`):
    /// not in 3.12, where `_Py_RunGC` ignores `gc.disable()` (CPython issue gh-116604; fixed
    /// by PR #116628 in 3.13 and backported to later 3.12 patch releases: 3.12.1, measured
    /// here, runs it); yes from 3.13. Meaningless before 3.12, where nothing is scheduled.
    pub scheduled_gc_checks_enabled: bool,
    /// pymalloc's geometry: `py39` (4 KiB pools, 256 KiB arenas) or `py310`.
    pub geometry: &'static str,
    /// The collectors modelled at this version.
    pub collectors: &'static [&'static str],
    /// The free lists of its object types.
    pub free_lists: FreeLists,
}

impl Version {
    /// The 30-bit digits an int of `value` gets at this version (see the module table).
    pub fn int_digits(&self, value: i64) -> usize {
        let digits = crate::object::int_digits(value);
        if self.zero_has_digit { digits.max(1) } else { digits }
    }

    /// `sys.getsizeof` of an int of `value`.
    pub fn int_size(&self, value: i64) -> usize {
        crate::object::INT_BASE + 4 * self.int_digits(value)
    }

    /// `sys.getsizeof` of a compact ASCII str of `len` bytes: header, data, NUL.
    pub fn str_size(&self, len: usize) -> usize {
        self.str_header + len + 1
    }

    /// `list_resize` (Objects/listobject.c): the capacity a list of capacity `cap` and length
    /// `old_len` gets for a new length, or `None` when its buffer stays (see
    /// [`crate::object::list_resize`], 3.9 and later). 3.8 over-allocates
    /// `newsize + (newsize >> 3) + (newsize < 9 ? 3 : 6)` without rounding to 4 or the
    /// check against a large jump (3.9 changed it, bpo-38373); measured with 3.8.18: lists
    /// of 1,000, 20,000, 500,000 and 2,000,000 appends measure 9,016, 178,016, 4,290,008
    /// and 17,632,624 bytes (`sys.getsizeof`), 8,856, 173,016, 4,167,352 and 17,128,280
    /// from 3.9.
    pub fn list_resize(&self, cap: usize, old_len: usize, new_len: usize) -> Option<usize> {
        if self.minor >= 9 {
            return crate::object::list_resize(cap, old_len, new_len);
        }
        if cap >= new_len && new_len >= (cap >> 1) {
            return None;
        }
        if new_len == 0 {
            return Some(0);
        }
        Some(new_len + (new_len >> 3) + if new_len < 9 { 3 } else { 6 })
    }

    /// Whether `collector` is modelled at this version.
    pub fn has_collector(&self, collector: &str) -> bool {
        self.collectors.contains(&collector)
    }
}

const GENERATIONAL: &[&str] = &["refcount", "cycle", "marksweep"];

const fn version(
    name: &'static str,
    minor: u8,
    measured_with: Option<&'static str>,
    thresholds: &'static [u32],
    collectors: &'static [&'static str],
) -> Version {
    Version {
        name,
        minor,
        measured_with,
        str_header: if minor >= 12 { 40 } else { 48 },
        zero_has_digit: minor >= 11,
        thresholds,
        trigger: if minor >= 12 { GcTrigger::EvalBreaker } else { GcTrigger::InAllocation },
        scheduled_gc_checks_enabled: minor != 12,
        geometry: if minor >= 10 { "py310" } else { "py39" },
        collectors,
        free_lists: FreeLists::of_release(minor),
    }
}

/// Every release modelled, oldest first.
pub const VERSIONS: &[Version] = &[
    version("3.8", 8, Some("3.8.18"), &[700, 10, 10], GENERATIONAL),
    version("3.9", 9, Some("3.9.18"), &[700, 10, 10], GENERATIONAL),
    version("3.10", 10, Some("3.10.13"), &[700, 10, 10], GENERATIONAL),
    version("3.11", 11, Some("3.11.7"), &[700, 10, 10], GENERATIONAL),
    version("3.12", 12, Some("3.12.1"), &[700, 10, 10], GENERATIONAL),
    version("3.13", 13, Some("3.13.0"), &[2000, 10, 10], GENERATIONAL),
    version("3.14", 14, None, &[2000, 10, 0], &["refcount", "incremental", "marksweep"]),
];

/// The release a strategy without `@` means.
pub const DEFAULT: &Version = &VERSIONS[3];

/// The release called `name` (`3.13`), or an error naming the valid ones.
pub fn find(name: &str) -> Result<&'static Version, String> {
    VERSIONS
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| format!("unknown CPython version '{name}' (valid: {})", names().join(", ")))
}

/// The names of every release modelled.
pub fn names() -> Vec<&'static str> {
    VERSIONS.iter().map(|v| v.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_311() {
        assert_eq!(DEFAULT.name, "3.11");
        assert_eq!(find("3.11"), Ok(DEFAULT));
    }

    #[test]
    fn an_unknown_version_names_the_valid_ones() {
        let error = find("3.7").unwrap_err();
        assert!(
            error.contains("'3.7'") && error.contains("3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14"),
            "{error}"
        );
    }

    /// The sizes `sys.getsizeof` gave with each interpreter (the module table).
    #[test]
    fn sizes_follow_each_interpreter() {
        let measured: &[(&str, usize, usize, usize, usize)] = &[
            // version, getsizeof(0), getsizeof(1), getsizeof(2**30), getsizeof("abc")
            ("3.8", 24, 28, 32, 52),
            ("3.9", 24, 28, 32, 52),
            ("3.10", 24, 28, 32, 52),
            ("3.11", 28, 28, 32, 52),
            ("3.12", 28, 28, 32, 44),
            ("3.13", 28, 28, 32, 44),
        ];
        for &(name, zero, one, big, abc) in measured {
            let v = find(name).unwrap();
            assert_eq!(
                (v.int_size(0), v.int_size(1), v.int_size(1 << 30), v.str_size(3)),
                (zero, one, big, abc),
                "{name}"
            );
            assert_eq!(v.str_size(0), abc - 3, "{name}: the empty str");
        }
        // Lists grown by appends (`sys.getsizeof` less the 56-byte list object, in words).
        let capacity = |v: &Version, n: usize| {
            let mut cap = 0;
            for len in 1..=n {
                if let Some(grown) = v.list_resize(cap, len - 1, len) {
                    cap = grown;
                }
            }
            56 + 8 * cap
        };
        for (n, v38, v39) in
            [(1_000, 9_016, 8_856), (20_000, 178_016, 173_016), (500_000, 4_290_008, 4_167_352)]
        {
            assert_eq!(capacity(find("3.8").unwrap(), n), v38, "3.8: {n} appends");
            assert_eq!(capacity(find("3.9").unwrap(), n), v39, "3.9: {n} appends");
            assert_eq!(capacity(find("3.13").unwrap(), n), v39, "3.13: {n} appends");
        }
        assert_eq!(find("3.13").unwrap().thresholds, [2000, 10, 10]);
        // Which tuple lengths are kept and reused (`sys._debugmallocstats()`, module docs).
        for (name, kept, reused) in
            [("3.8", 19, 19), ("3.10", 19, 19), ("3.11", 20, 19), ("3.12", 20, 19), ("3.13", 20, 20)]
        {
            let lists = find(name).unwrap().free_lists;
            assert_eq!((lists.tuple_kept_len, lists.tuple_reused_len), (kept, reused), "{name}");
        }
        assert_eq!(find("3.12").unwrap().thresholds, [700, 10, 10]);
    }
}
