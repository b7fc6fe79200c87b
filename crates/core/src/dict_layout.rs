//! CPython's sizing rules for dicts, sets and `__dict__` instances, by
//! CPython minor version (`version` is the minor number: 8 for 3.8 … 14 for
//! 3.14).
//!
//! These functions say how big each piece is and when a table is resized;
//! `heaplab-gc` builds the tables (`crates/gc/src/dict.rs`, `set.rs`) and
//! asks here for every size, so that `sys.getsizeof` and tracemalloc's
//! byte counts come out as CPython's.
//!
//! Sources (CPython's tags v3.8.18 … v3.13.0, `Objects/dictobject.c`,
//! `Objects/setobject.c`, `Include/internal/pycore_dict.h`), and the table
//! measured with each interpreter (`sys.getsizeof` of dicts of `n` items
//! built by `d[k] = v` one at a time, by `dict(zip(keys, values))` and by a
//! display `{k: v, …}`: the three agree at every `n` but `n = 0`, where
//! `dict(zip())` of 3.8 and 3.9 is 232 because their `dict_new` gives the
//! dict a table of 8 at once):
//!
//! ```text
//!      n   3.8-3.10   3.11-3.13 str keys   3.11-3.13 int keys   set (3.8-3.13)
//!      0         64                   64                   64              216
//!      1        232                  184                  224              216
//!      5        232                  184                  224              728
//!      6        360                  272                  352              728
//!     11        640                  464                  632              728
//!     16        640                  464                  632             2264
//!     22       1176                  832                 1168             2264
//!     43       2272                 1584                 2264             2264
//!     87       4696                 3328                 4688             8408
//!    172       9312                 6576                 9304             8408
//!    342      18520                13056                18512            32984
//!    684      36960                26032                36952            32984
//!   1366      73816                51968                73808           131288
//!   2731     147552               103856               147544           131288
//!  10000     295000               207616               294992           524504
//! 100000    5242968              3844864              5242960          4194520
//! ```
//!
//! (The full table, at 38 sizes, is the test `sizes_match_cpython` of
//! `crates/gc/tests/dict_set.rs`.)

/// `PyDict_MINSIZE` (`Objects/dictobject.c`): the smallest table, 8 slots.
pub const DICT_MINSIZE: usize = 8;
/// `PyDict_LOG_MINSIZE`.
pub const DICT_LOG_MINSIZE: u8 = 3;
/// `PERTURB_SHIFT` of both `dictobject.c` and `setobject.c`.
pub const PERTURB_SHIFT: u32 = 5;
/// `sizeof(PyDictObject)`: header, `ma_used`, `ma_version_tag`, `ma_keys`, `ma_values` (every version 3.8–3.14).
pub const DICT_OBJECT: usize = 48;
/// `PySet_MINSIZE` (`Include/cpython/setobject.h`): the small table inside the set object.
pub const SET_MINSIZE: usize = 8;
/// `LINEAR_PROBES` (`setobject.c`): slots probed one after another before the next perturbed jump.
pub const SET_LINEAR_PROBES: usize = 9;
/// `sizeof(PySetObject)`: header, `fill`, `used`, `mask`, `table`, `hash`,
/// `finger`, `smalltable[8]` (16 B each) and `weakreflist`; `sys.getsizeof(set())` is this plus 16.
pub const SET_OBJECT: usize = 200;
/// `sizeof(setentry)`: key and hash.
pub const SET_ENTRY: usize = 16;
/// `SHARED_KEYS_MAX_SIZE` (`Include/internal/pycore_dict.h`, 3.11).
pub const SHARED_KEYS_MAX_SIZE: usize = 30;

/// The version used where none is given: 3.11.
pub const DEFAULT_VERSION: u8 = 11;

/// `USABLE_FRACTION(n)`: `(n << 1) / 3` entries fit in a table of `n` slots.
pub fn usable_fraction(n: usize) -> usize {
    (n << 1) / 3
}

/// `GROWTH_RATE(d)`: `ma_used * 3` (3.4.0–3.6.0 differed; 3.7–3.14 agree).
pub fn growth_rate(used: usize) -> usize {
    used * 3
}

/// `calculate_log2_keysize(minsize)`: the log2 of the smallest table of at least `minsize` slots, at least 8.
pub fn calculate_log2_keysize(minsize: usize) -> u8 {
    let minsize = (minsize | DICT_MINSIZE) - 1;
    (usize::BITS - (minsize | (DICT_MINSIZE - 1)).leading_zeros()) as u8
}

/// `estimate_log2_keysize(n)`: a table that takes `n` entries without a resize
/// (what `dict_new_presized` of a dict display, `BUILD_MAP`, asks for).
pub fn estimate_log2_keysize(n: usize) -> u8 {
    // `(n*3 + 1) / 2` in C: the same as rounding `n * 3 / 2` up.
    calculate_log2_keysize((n * 3).div_ceil(2))
}

/// `dict_new_presized(minused)`: the table a display of `minused` items
/// starts with, or `None` for the empty keys of `PyDict_New` (up to 5 items).
pub fn presized_log2(minused: usize) -> Option<u8> {
    const LOG2_MAX_PRESIZE: u8 = 17;
    if minused <= usable_fraction(DICT_MINSIZE) {
        None
    } else if minused > usable_fraction(1 << LOG2_MAX_PRESIZE) {
        Some(LOG2_MAX_PRESIZE)
    } else {
        Some(estimate_log2_keysize(minused))
    }
}

/// `dk_log2_index_bytes` (`new_keys_object`): the log2 of the index table's
/// bytes: 1-byte indices below 2^8 slots, 2 below 2^16, 4 below 2^32, then 8.
pub fn log2_index_bytes(log2_size: u8) -> u8 {
    match log2_size {
        0..8 => log2_size,
        8..16 => log2_size + 1,
        16..32 => log2_size + 2,
        _ => log2_size + 3,
    }
}

/// Bytes of one index in a table of `2^log2_size` slots.
pub fn index_width(log2_size: u8) -> usize {
    1 << (log2_index_bytes(log2_size) - log2_size)
}

/// `sizeof(PyDictKeysObject)` without its indices: 40 bytes in 3.8–3.10
/// (`dk_refcnt`, `dk_size`, `dk_lookup`, `dk_usable`, `dk_nentries`), 32
/// from 3.11 (`dk_refcnt`, three bytes of log2 sizes and kind, `dk_version`,
/// `dk_usable`, `dk_nentries`).
pub fn keys_header(version: u8) -> usize {
    if version <= 10 { 40 } else { 32 }
}

/// Whether this version has the str-keys-only ("unicode") keys kind, with
/// 16-byte entries (key, value) and the hash cached in the str: 3.11 on.
pub fn has_unicode_keys(version: u8) -> bool {
    version >= 11
}

/// Bytes of one entry: `PyDictKeyEntry` (hash, key, value) is 24,
/// `PyDictUnicodeEntry` (key, value) 16.
pub fn entry_size(version: u8, unicode: bool) -> usize {
    if unicode && has_unicode_keys(version) { 16 } else { 24 }
}

/// `_PyDict_KeysSize` (3.11) / `new_keys_object`'s allocation: the keys
/// object of a table of `2^log2_size` slots: header, indices, and
/// `USABLE_FRACTION(size)` entries.
pub fn keys_bytes(version: u8, log2_size: u8, unicode: bool) -> usize {
    keys_header(version)
        + (1 << log2_index_bytes(log2_size))
        + usable_fraction(1 << log2_size) * entry_size(version, unicode)
}

/// `sys.getsizeof` of a dict whose keys object has a table of `2^log2_size`
/// slots (`None`: the shared empty keys), as `_PyDict_SizeOf` counts it, plus
/// the 16-byte GC header `sys.getsizeof` adds.
pub fn dict_getsizeof(version: u8, log2_size: Option<u8>, unicode: bool) -> usize {
    16 + DICT_OBJECT + log2_size.map_or(0, |log2| keys_bytes(version, log2, unicode))
}

/// The table (log2 of its slots) of a dict that `n` distinct keys were inserted into one at
/// a time from empty (`d[k] = v`, `dict(zip(keys, values))`): `None` for the empty keys,
/// then `insert_to_emptydict`'s table of 8, and at each full table `insertion_resize` to
/// `calculate_log2_keysize(GROWTH_RATE)`. The same in every version 3.8–3.14.
pub fn log2_after_inserts(n: usize) -> Option<u8> {
    if n == 0 {
        return None;
    }
    let mut log2 = DICT_LOG_MINSIZE;
    for used in 1..n {
        if usable_fraction(1 << log2) == used {
            log2 = calculate_log2_keysize(growth_rate(used));
        }
    }
    Some(log2)
}

/// `sys.getsizeof` of a dict that `n` distinct keys were inserted into one at a time
/// (`unicode`: every key a str), in CPython 3.`version`.
pub fn dict_getsizeof_after_inserts(version: u8, n: usize, unicode: bool) -> usize {
    dict_getsizeof(version, log2_after_inserts(n), unicode)
}

/// The slots of a set's table after `n` distinct keys were added one at a time from empty
/// (`set_add_entry`: a fresh slot raises `fill`, then [`set_needs_resize`] decides and
/// [`set_growth`] sizes the new table).
pub fn set_slots_after_adds(n: usize) -> usize {
    let mut slots = SET_MINSIZE;
    for used in 1..=n {
        if set_needs_resize(used, slots - 1) {
            slots = set_table_size(set_growth(used));
        }
    }
    slots
}

/// `sys.getsizeof` of a set that `n` distinct keys were added to one at a time
/// (`set_sizeof`: the object, its table beyond the small one, and the GC header).
pub fn set_getsizeof_after_adds(n: usize) -> usize {
    16 + SET_OBJECT + set_table_bytes(set_slots_after_adds(n))
}

/// `set_add_entry`'s test: after an insertion into a fresh slot raises
/// `fill` to `fill`, the table of mask `mask` is resized when `fill * 5 >= mask * 3`.
pub fn set_needs_resize(fill: usize, mask: usize) -> bool {
    fill * 5 >= mask * 3
}

/// The `minused` `set_add_entry` passes to `set_table_resize`: `used * 4`, or `used * 2` past 50,000.
pub fn set_growth(used: usize) -> usize {
    if used > 50_000 { used * 2 } else { used * 4 }
}

/// `set_table_resize`: the smallest power of two above `minused`, at least 8.
pub fn set_table_size(minused: usize) -> usize {
    let mut size = SET_MINSIZE;
    while size <= minused {
        size <<= 1;
    }
    size
}

/// Bytes of a set's table allocated apart from the set object: none for the small table of 8.
pub fn set_table_bytes(slots: usize) -> usize {
    if slots == SET_MINSIZE { 0 } else { slots * SET_ENTRY }
}

/// How an instance of a class without `__slots__` lies in memory in a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceLayout {
    /// Bytes of the object itself, without the 16-byte GC header: header,
    /// `__weakref__` and `__dict__` words, or (3.11) the header, the
    /// `__weakref__` word and the two pre-header words (dict, values).
    pub object: usize,
    /// Bytes of the values array allocated apart (3.11, 3.12: `new_values`; 3.8–3.10: the
    /// split dict's values, `new_values(USABLE_FRACTION(DK_SIZE(keys)))`); 0 where the
    /// values live inside the object (3.13).
    pub values: usize,
    /// Bytes of the dict object made for each instance, with its GC header (3.8–3.10: the
    /// split dict of `new_dict_with_shared_keys`, a GC allocation of its own); 0 from 3.11.
    pub dict: usize,
}

/// The layout of an instance whose class's `__init__` sets `n_attrs`
/// attributes, in the steady state a program reaches once a class has made
/// about thirty instances.
///
/// 3.11 (`init_inline_values` in `Objects/dictobject.c`): each new instance
/// takes one off the class's shared keys' `dk_usable` (starting at
/// `SHARED_KEYS_MAX_SIZE`, never below 1) and gets a values array of
/// `dk_nentries + dk_usable` slots, so that once the keys know the class's
/// attributes every instance gets `n_attrs + 1`; `new_values(size)`
/// allocates `round_up(size + 2, 8)` bytes of insertion order in front of
/// `8 x size` bytes of values. The object is 24 bytes (header and
/// `__weakref__`) after 16 bytes of pre-header, plus the GC header: for two
/// attributes CPython 3.11 measures `sys.getsizeof(obj)` 56,
/// `sys.getsizeof(obj.__dict__)` 88 and tracemalloc 88 bytes an instance;
/// 3.12 moves `__weakref__` into the pre-header: 48 and 80.
///
/// 3.8–3.10 (`_PyObject_InitializeDict`/`PyObject_GenericSetAttr`): the
/// object is 32 bytes (header, `__dict__`, `__weakref__`) and each instance
/// has a split dict sharing the class's keys, its values array sized for
/// the keys' table (5 slots for up to 5 attributes): 48 + 104 = 152 bytes an
/// instance for two attributes, measured with 3.8.18, 3.9.18 and 3.10.13.
///
/// 3.13 puts the values inline in the object; with two attributes it
/// measures `sys.getsizeof(obj)` 48 and tracemalloc 88 bytes an instance,
/// modelled as one 72-byte object. 3.14 is taken to be 3.13 (not measured).
pub fn instance_layout(version: u8, n_attrs: usize) -> InstanceLayout {
    let values_of = |slots: usize| (slots + 2).next_multiple_of(8) + 8 * slots;
    match version {
        ..=10 => {
            // The class's shared keys start with a table of 8 and double as attributes come.
            let mut size = DICT_MINSIZE;
            while usable_fraction(size) < n_attrs {
                size <<= 1;
            }
            let slots = usable_fraction(size);
            InstanceLayout { object: 32, values: 8 * slots, dict: 16 + DICT_OBJECT }
        }
        11 => InstanceLayout { object: 40, values: values_of(n_attrs + 1), dict: 0 },
        12 => InstanceLayout { object: 32, values: values_of(n_attrs + 1), dict: 0 },
        _ => InstanceLayout { object: 32 + 8 + 8 * (n_attrs + 1) + 8, values: 0, dict: 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sizes() {
        assert_eq!(calculate_log2_keysize(0), 3);
        assert_eq!(calculate_log2_keysize(8), 3);
        assert_eq!(calculate_log2_keysize(9), 4);
        assert_eq!(calculate_log2_keysize(15), 4);
        // C's bit trick, `(minsize | 8) - 1`, rounds a power of two of 16 or more up once more.
        assert_eq!(calculate_log2_keysize(16), 5);
        assert_eq!(calculate_log2_keysize(17), 5);
        assert_eq!(calculate_log2_keysize(growth_rate(5)), 4);
        assert_eq!(calculate_log2_keysize(growth_rate(10)), 5);
        assert_eq!(presized_log2(5), None);
        assert_eq!(presized_log2(6), Some(4));
        assert_eq!(index_width(7), 1);
        assert_eq!(index_width(8), 2);
        assert_eq!(index_width(16), 4);
        assert_eq!(index_width(32), 8);
        assert_eq!(keys_bytes(11, 3, true), 120);
        assert_eq!(dict_getsizeof(11, Some(3), true), 184);
        assert_eq!(dict_getsizeof(11, Some(3), false), 224);
        assert_eq!(dict_getsizeof(8, Some(3), true), 232);
        assert_eq!(dict_getsizeof(11, None, true), 64);
        assert_eq!(set_table_size(set_growth(5)), 32);
    }

    /// `sys.getsizeof` of dicts built by `d[k] = v`, one at a time, by version, as measured
    /// (3.8.18, 3.9.18, 3.10.13: the same; 3.11.7, 3.12.1, 3.13.0: the same), at
    /// n = 1, 5, 6, 11, 22, 43, 87, 172, 342, 684, 1366, 2731, 10000, 100000.
    #[test]
    fn growth_gives_each_version_s_measured_sizes() {
        const N: [usize; 14] = [1, 5, 6, 11, 22, 43, 87, 172, 342, 684, 1366, 2731, 10000, 100000];
        const V38_ANY: [usize; 14] =
            [232, 232, 360, 640, 1176, 2272, 4696, 9312, 18520, 36960, 73816, 147552, 295000, 5242968];
        const V311_STR: [usize; 14] =
            [184, 184, 272, 464, 832, 1584, 3328, 6576, 13056, 26032, 51968, 103856, 207616, 3844864];
        const V311_INT: [usize; 14] =
            [224, 224, 352, 632, 1168, 2264, 4688, 9304, 18512, 36952, 73808, 147544, 294992, 5242960];
        for (index, &n) in N.iter().enumerate() {
            let log2 = log2_after_inserts(n);
            for version in 8..=10 {
                assert_eq!(dict_getsizeof(version, log2, true), V38_ANY[index], "3.{version}, {n} str keys");
                assert_eq!(dict_getsizeof(version, log2, false), V38_ANY[index], "3.{version}, {n} int keys");
            }
            for version in 11..=13 {
                assert_eq!(dict_getsizeof(version, log2, true), V311_STR[index], "3.{version}, {n} str keys");
                assert_eq!(
                    dict_getsizeof(version, log2, false),
                    V311_INT[index],
                    "3.{version}, {n} int keys"
                );
            }
        }
    }

    /// `sys.getsizeof` of sets of `n` ints added one at a time, measured the same with
    /// 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1 and 3.13.0.
    #[test]
    fn set_growth_gives_the_measured_sizes() {
        let measured = [
            (0, 216),
            (4, 216),
            (5, 728),
            (18, 728),
            (19, 2264),
            (76, 2264),
            (77, 8408),
            (1000, 32984),
            (10000, 524504),
            (100000, 4194520),
        ];
        for (n, bytes) in measured {
            assert_eq!(set_getsizeof_after_adds(n), bytes, "a set of {n}");
        }
        assert_eq!(dict_getsizeof_after_inserts(11, 0, true), 64);
        assert_eq!(dict_getsizeof_after_inserts(10, 5, true), 232);
        assert_eq!(dict_getsizeof_after_inserts(11, 5, true), 184);
    }

    #[test]
    fn instances_as_measured() {
        let total = |v: u8| {
            let l = instance_layout(v, 2);
            16 + l.object + l.values + l.dict
        };
        assert_eq!(total(8), 152);
        assert_eq!(total(10), 152);
        assert_eq!(total(11), 88);
        assert_eq!(total(12), 80);
        assert_eq!(total(13), 88);
        assert_eq!(16 + instance_layout(11, 2).object, 56);
    }
}
