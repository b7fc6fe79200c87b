//! Sets, laid out and resized as CPython's `Objects/setobject.c` does (the
//! same in 3.8–3.13, measured), with the sizes of
//! [`heaplab_core::dict_layout`].
//!
//! The set object (200 bytes, plus the cycle collector's GC header):
//!
//! | offset | field |
//! |--------|-------|
//! | 16     | `fill` (active and dummy entries) |
//! | 24     | `used` (active entries) |
//! | 32     | `mask` (table slots - 1) |
//! | 40     | `table` (the small table below, or a buffer of `16 x slots`) |
//! | 48     | `hash` (-1), `finger` at 56 |
//! | 64     | `smalltable`: 8 entries of (key, hash) |
//! | 192    | `weakreflist` |
//!
//! A discarded key leaves a dummy (CPython's `dummy` object; here the
//! address [`DUMMY`], never an object) with hash -1. Keys hash and compare as
//! dict keys do ([`crate::dict::hash_of`], [`crate::dict::keys_equal`]); the
//! table order, and so the iteration order, follows heaplab's hash, not CPython's.
//!
//! A set is tracked from birth, as CPython's (`make_new_set` ends with
//! `PyObject_GC_Track`), and stays tracked.

use std::ptr::NonNull;

use heaplab_core::dict_layout::{self as dl, PERTURB_SHIFT, SET_ENTRY, SET_LINEAR_PROBES, SET_MINSIZE};
use heaplab_core::object::WORD;
use heaplab_core::{Allocator, Kind, Obj};

use crate::dict::{hash_of, keys_equal};
use crate::runtime::{Core, Policy, Runtime};

const FILL: usize = 16;
const USED: usize = 24;
const MASK: usize = 32;
const TABLE: usize = 40;
const HASH: usize = 48;
const FINGER: usize = 56;
const SMALLTABLE: usize = 64;
const WEAKREFLIST: usize = 192;

/// The key word of a dummy entry: not an object (objects are 16-aligned, never at 16).
const DUMMY: u64 = 16;
const DUMMY_HASH: u64 = u64::MAX;

fn field(set: Obj, offset: usize) -> u64 {
    // SAFETY: `set` is a live 200-byte set of this heap; `offset` is a word inside it, 8-aligned.
    unsafe { set.ptr().as_ptr().add(offset).cast::<u64>().read() }
}

fn set_field(set: Obj, offset: usize, value: u64) {
    // SAFETY: as in `field`; the heap owns the set's memory exclusively.
    unsafe { set.ptr().as_ptr().add(offset).cast::<u64>().write(value) }
}

fn table(set: Obj) -> *mut u64 {
    field(set, TABLE) as *mut u64
}

fn small_table(set: Obj) -> *mut u64 {
    // SAFETY: the small table lies inside the set object.
    unsafe { set.ptr().as_ptr().add(SMALLTABLE).cast::<u64>() }
}

/// Entry `i` of a table: (key word, hash).
fn entry(table: *mut u64, i: usize) -> (u64, u64) {
    // SAFETY: `i` <= the table's mask; each entry is two words.
    unsafe { (table.add(2 * i).read(), table.add(2 * i + 1).read()) }
}

fn put_entry(table: *mut u64, i: usize, key: u64, hash: u64) {
    // SAFETY: as in `entry`.
    unsafe {
        table.add(2 * i).write(key);
        table.add(2 * i + 1).write(hash);
    }
}

fn obj_of(word: u64) -> Option<Obj> {
    if word == DUMMY {
        return None;
    }
    // SAFETY: a table's key words are 0, `DUMMY` (handled above) or live keys the set holds
    // references to, written by `put_entry` from `Obj`s of this heap.
    unsafe { crate::object::obj_at(word) }
}

/// Where a key is, or where it would go: `set_lookkey`'s and
/// `set_add_entry`'s probe: 9 linear probes from each perturbed position
/// (where the table has room), remembering the first dummy passed.
enum Probe {
    Found(usize),
    Absent { unused: usize, dummy: Option<usize> },
}

fn probe(set: Obj, key: Obj, hash: u64) -> Probe {
    let table = table(set);
    let mask = field(set, MASK) as usize;
    let mut i = hash as usize & mask;
    let mut perturb = hash as usize;
    let mut freeslot = None;
    loop {
        let probes = if i + SET_LINEAR_PROBES <= mask { SET_LINEAR_PROBES } else { 0 };
        for j in i..=i + probes {
            let (word, entry_hash) = entry(table, j);
            if word == 0 {
                return Probe::Absent { unused: j, dummy: freeslot };
            }
            if word == DUMMY {
                freeslot = freeslot.or(Some(j));
            } else if entry_hash == hash {
                let found = obj_of(word).expect("a live key");
                if found == key || keys_equal(found, key) {
                    return Probe::Found(j);
                }
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + 1 + perturb) & mask;
    }
}

/// `set_insert_clean`: the first unused slot of `hash`'s probe in a table without dummies.
fn insert_clean(table: *mut u64, mask: usize, key: u64, hash: u64) {
    let mut i = hash as usize & mask;
    let mut perturb = hash as usize;
    loop {
        let probes = if i + SET_LINEAR_PROBES <= mask { SET_LINEAR_PROBES } else { 0 };
        for j in i..=i + probes {
            if entry(table, j).0 == 0 {
                put_entry(table, j, key, hash);
                return;
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + 1 + perturb) & mask;
    }
}

/// `set_table_resize`: a table of the smallest power of two above `minused`
/// (the small table for 8), the active entries reinserted, the dummies gone.
fn resize<A: Allocator>(core: &mut Core<A>, set: Obj, minused: usize) {
    let new_size = dl::set_table_size(minused);
    let old_table = table(set);
    let old_size = field(set, MASK) as usize + 1;
    let mut active = Vec::with_capacity(field(set, USED) as usize);
    for i in 0..old_size {
        let (word, hash) = entry(old_table, i);
        if word != 0 && word != DUMMY {
            active.push((word, hash));
        }
    }
    let new_table = if new_size == SET_MINSIZE {
        small_table(set)
    } else {
        core.alloc_buffer(new_size * SET_ENTRY).expect("a table is never empty").as_ptr().cast::<u64>()
    };
    // SAFETY: the new table has `new_size` entries of two words.
    unsafe { new_table.write_bytes(0, 2 * new_size) };
    if old_table != small_table(set) {
        core.free_buffer(NonNull::new(old_table.cast::<u8>()), old_size * SET_ENTRY);
    }
    set_field(set, TABLE, new_table as u64);
    set_field(set, MASK, (new_size - 1) as u64);
    set_field(set, FILL, active.len() as u64);
    for (word, hash) in active {
        insert_clean(new_table, new_size - 1, word, hash);
    }
}

impl<P: Policy<A>, A: Allocator> Runtime<P, A> {
    /// `make_new_set`: the small table, tracked.
    pub(crate) fn set_new(&mut self) -> Obj {
        self.create(Kind::Set, dl::SET_OBJECT, 0, |set| {
            for offset in (FILL..dl::SET_OBJECT).step_by(WORD) {
                set_field(set, offset, 0);
            }
            set_field(set, MASK, (SET_MINSIZE - 1) as u64);
            set_field(set, TABLE, small_table(set) as u64);
            set_field(set, HASH, u64::MAX);
            set_field(set, FINGER, 0);
            set_field(set, WEAKREFLIST, 0);
        })
    }

    /// `set_add_entry`.
    pub(crate) fn set_add_key(&mut self, set: Obj, key: Obj) -> bool {
        self.expect_kind(set, Kind::Set, "set_add");
        self.core.check(key, "set_add key");
        let hash = hash_of(key);
        let (slot, fresh) = match probe(set, key, hash) {
            Probe::Found(_) => return false,
            Probe::Absent { dummy: Some(slot), .. } => (slot, false),
            Probe::Absent { unused, dummy: None } => (unused, true),
        };
        self.policy.hold(&mut self.core, key);
        put_entry(table(set), slot, key.addr() as u64, hash);
        set_field(set, USED, field(set, USED) + 1);
        if fresh {
            let fill = field(set, FILL) as usize + 1;
            set_field(set, FILL, fill as u64);
            if dl::set_needs_resize(fill, field(set, MASK) as usize) {
                resize(&mut self.core, set, dl::set_growth(field(set, USED) as usize));
            }
        }
        true
    }

    /// `set_contains_key`.
    pub(crate) fn set_has_key(&self, set: Obj, key: Obj) -> bool {
        self.expect_kind(set, Kind::Set, "set_contains");
        self.core.check(key, "set_contains key");
        matches!(probe(set, key, hash_of(key)), Probe::Found(_))
    }

    /// `set_discard_entry`: the entry becomes a dummy.
    pub(crate) fn set_discard_key(&mut self, set: Obj, key: Obj) -> bool {
        self.expect_kind(set, Kind::Set, "set_discard");
        self.core.check(key, "set_discard key");
        let Probe::Found(slot) = probe(set, key, hash_of(key)) else { return false };
        let old = obj_of(entry(table(set), slot).0).expect("a live key");
        put_entry(table(set), slot, DUMMY, DUMMY_HASH);
        set_field(set, USED, field(set, USED) - 1);
        self.policy.unhold(&mut self.core, old);
        true
    }

    /// The keys in table order.
    pub(crate) fn set_keys(&self, set: Obj) -> Vec<Obj> {
        self.expect_kind(set, Kind::Set, "set_items");
        let mut keys = Vec::with_capacity(len(set));
        for_each_ref(set, |key| keys.push(key));
        keys
    }
}

/// The number of keys of a set (`used`).
pub(crate) fn len(set: Obj) -> usize {
    field(set, USED) as usize
}

/// A set's table allocated apart and its size in bytes (none for the small table).
pub(crate) fn buffer(set: Obj) -> Option<(NonNull<u8>, usize)> {
    let table = table(set);
    if table == small_table(set) {
        return None;
    }
    NonNull::new(table.cast::<u8>()).map(|t| (t, (field(set, MASK) as usize + 1) * SET_ENTRY))
}

/// The references of a set as `layout::ref_count_of` counts them: one a table slot.
pub(crate) fn ref_slots(set: Obj) -> usize {
    field(set, MASK) as usize + 1
}

/// The key in table slot `position` (`set_dealloc` releases them in table order); `None`
/// for an empty slot or a dummy.
pub(crate) fn ref_at(set: Obj, position: usize) -> Option<Obj> {
    obj_of(entry(table(set), position).0)
}

/// Calls `f` on every key, in table order (`set_traverse`).
pub(crate) fn for_each_ref(set: Obj, mut f: impl FnMut(Obj)) {
    let table = table(set);
    for i in 0..=field(set, MASK) as usize {
        if let Some(key) = obj_of(entry(table, i).0) {
            f(key);
        }
    }
}

/// `set_clear_internal`: takes every key out into `taken`, frees the table, leaves the small table empty.
pub(crate) fn clear<A: Allocator>(core: &mut Core<A>, set: Obj, taken: &mut Vec<Obj>) {
    for_each_ref(set, |key| taken.push(key));
    if let Some((table, bytes)) = buffer(set) {
        core.free_buffer(Some(table), bytes);
    }
    let small = small_table(set);
    // SAFETY: the small table is 8 entries of two words inside the set.
    unsafe { small.write_bytes(0, 2 * SET_MINSIZE) };
    set_field(set, TABLE, small as u64);
    set_field(set, MASK, (SET_MINSIZE - 1) as u64);
    set_field(set, FILL, 0);
    set_field(set, USED, 0);
}
