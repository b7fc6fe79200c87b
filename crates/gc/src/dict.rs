//! Dicts and `__dict__` instances, laid out and resized as CPython's
//! `Objects/dictobject.c` does in the heap's version (3.8 to 3.14); the
//! sizes come from [`heaplab_core::dict_layout`], by version.
//!
//! The dict object (48 bytes in every version, plus the cycle collector's GC header):
//!
//! | offset | field            |
//! |--------|------------------|
//! | 16     | `ma_used`        |
//! | 24     | `ma_version_tag` (3.12 and later call it `_ma_watcher_tag`; 8 bytes all the same) |
//! | 32     | `ma_keys` (0: CPython's shared `Py_EMPTY_KEYS`, nothing allocated) |
//! | 40     | `ma_values` (always 0: heaplab's dicts are combined tables) |
//!
//! The keys object, allocated apart as a buffer of
//! `dict_layout::keys_bytes` bytes (`new_keys_object`). From 3.11
//! (`Include/internal/pycore_dict.h`, `struct _dictkeysobject`):
//!
//! | offset | field |
//! |--------|-------|
//! | 0      | `dk_refcnt` (1) |
//! | 8      | `dk_log2_size`, `dk_log2_index_bytes`, `dk_kind` (1 unicode, 0 general), a pad byte (heaplab keeps the minor version there), `dk_version` |
//! | 16     | `dk_usable` |
//! | 24     | `dk_nentries` |
//! | 32     | `dk_indices`: `2^log2_size` signed indices of 1, 2, 4 or 8 bytes (-1 empty, -2 dummy) |
//! | then   | `USABLE_FRACTION(size)` entries: (key, value) for the unicode kind, (hash, key, value) for the general |
//!
//! 3.8–3.10 (`Objects/dict-common.h`): `dk_refcnt`, `dk_size`, `dk_lookup`,
//! `dk_usable`, `dk_nentries`, 40 bytes, then the indices, then entries of
//! (hash, key, value) whatever the keys: there is no unicode kind. heaplab
//! keeps the same first four words as from 3.11 (the log2 sizes and the
//! version byte in the `dk_size` word) and the indices at 40, so that every
//! size is the version's. A keys object carries its version, so a dict keeps
//! the layout it was made with.
//!
//! Keys hash and compare as CPython's do for heaplab's kinds: a str by its
//! bytes, an int by its value (CPython's `long_hash`, modulo 2^61 - 1), other
//! kinds by identity. The str hash is FNV-1a, not CPython's SipHash: probe
//! sequences follow `_Py_dict_lookup` and `find_empty_slot`, but land on
//! other slots than CPython's; no size depends on where.
//!
//! Tracking (`MAINTAIN_TRACKING`, `_PyDict_MaybeUntrack`, the same 3.8–3.13):
//! a new dict is untracked; storing a key or value that may be tracked
//! (`_PyObject_GC_MAY_BE_TRACKED`: a container, except a tuple that is
//! untracked) tracks it through [`Policy::track`]; the cycle collector
//! untracks dicts of atomic values in full collections (`untrack_dicts` in
//! `gc_collect_main`, Modules/gcmodule.c to 3.12, Python/gc.c in 3.13).
//!
//! An instance of a class without `__slots__` (`Kind::Object`), whose
//! `__dict__` is never materialised as a dict a workload sees; its tag keeps
//! the attribute count and the version. The bytes are the version's
//! ([`dl::instance_layout`]); where the words lie is heaplab's: the address
//! of the first value at 16, then
//! - 3.8–3.10 (`_PyObjectDict_SetItem` → `new_dict_with_shared_keys`): a
//!   32-byte object (header, `__dict__`, `__weakref__`), the split dict's
//!   values array allocated apart (`new_values`, one word per usable slot of
//!   the class's shared keys), then its 48-byte dict object with a GC header,
//!   allocated apart (its address at 24) and counted as a GC allocation
//!   (`PyObject_GC_New` in `new_dict`), as the interpreter counts it. Not
//!   modelled: the dict is not a container of its own in the model (the
//!   instance holds the references; the dict is neither tracked nor
//!   traversed), and dicts' free list (`PyDict_MAXFREELIST`, 80) is not kept;
//! - 3.11 (`init_inline_values`): 40 bytes (header, `__weakref__`, and the
//!   two pre-header words), the values array apart (`new_values`);
//! - 3.12: 32 bytes (`__weakref__` moved into the pre-header), values apart;
//! - 3.13 and 3.14: the values inline (at 32), nothing apart.

use std::ptr::NonNull;

use heaplab_core::dict_layout::{self as dl, PERTURB_SHIFT};
use heaplab_core::object::WORD;
use heaplab_core::{Allocator, Kind, Obj};

use crate::object::{self as layout, FLAG_TRACKED};
use crate::runtime::{Policy, Runtime};

const USED: usize = 16;
const VERSION_TAG: usize = 24;
const KEYS: usize = 32;
const VALUES: usize = 40;

const DKIX_EMPTY: i64 = -1;
const DKIX_DUMMY: i64 = -2;

/// Reads the word at `offset` of a live dict or object.
fn field(obj: Obj, offset: usize) -> u64 {
    // SAFETY: `obj` is a live dict (48 bytes) or object (40 bytes) of this heap and every
    // offset used is a word inside it, 8-aligned since objects are 16-aligned.
    unsafe { obj.ptr().as_ptr().add(offset).cast::<u64>().read() }
}

/// Writes the word at `offset` of a live dict or object.
fn set_field(obj: Obj, offset: usize, value: u64) {
    // SAFETY: as in `field`; the heap owns the object's memory exclusively.
    unsafe { obj.ptr().as_ptr().add(offset).cast::<u64>().write(value) }
}

// --- keys ------------------------------------------------------------------

/// Hash of a key as `PyObject_Hash` would use it: equal for keys that compare equal.
pub(crate) fn hash_of(key: Obj) -> u64 {
    match layout::kind(key) {
        Kind::Str => {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for &byte in layout::str_bytes(key) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            if hash == u64::MAX { hash - 1 } else { hash }
        }
        Kind::Int => {
            // `long_hash`: the value modulo 2^61 - 1, with its sign; -1 becomes -2.
            const MODULUS: i128 = (1 << 61) - 1;
            let value = i128::from(layout::int_value(key));
            let mut hash = (value.abs() % MODULUS) as i64;
            if value < 0 {
                hash = -hash;
            }
            if hash == -1 { -2_i64 as u64 } else { hash as u64 }
        }
        _ => {
            let hash = key.addr() as u64 >> 4;
            if hash == u64::MAX { hash - 1 } else { hash }
        }
    }
}

/// Whether two keys compare equal: identity, then a str's bytes or an int's value.
pub(crate) fn keys_equal(a: Obj, b: Obj) -> bool {
    if a == b {
        return true;
    }
    match (layout::kind(a), layout::kind(b)) {
        (Kind::Str, Kind::Str) => layout::str_bytes(a) == layout::str_bytes(b),
        (Kind::Int, Kind::Int) => layout::int_value(a) == layout::int_value(b),
        _ => false,
    }
}

/// `_PyObject_GC_MAY_BE_TRACKED`: a container, except a tuple not tracked now.
pub(crate) fn may_be_tracked(obj: Obj) -> bool {
    let kind = layout::kind(obj);
    kind.is_container() && (kind != Kind::Tuple || layout::flags(obj) & FLAG_TRACKED != 0)
}

/// A keys object: a pointer to its first byte. Every method requires it to
/// be the live keys object of a live dict, laid out as the module says.
#[derive(Clone, Copy)]
struct Keys(NonNull<u8>);

impl Keys {
    fn of(dict: Obj) -> Option<Keys> {
        NonNull::new(field(dict, KEYS) as *mut u8).map(Keys)
    }

    fn at(self, offset: usize) -> *mut u8 {
        // SAFETY: every offset used is inside the keys object (header, indices, entries).
        unsafe { self.0.as_ptr().add(offset) }
    }

    fn word(self, offset: usize) -> u64 {
        // SAFETY: an 8-aligned word inside the keys object (the buffer is 16-aligned).
        unsafe { self.at(offset).cast::<u64>().read() }
    }

    fn set_word(self, offset: usize, value: u64) {
        // SAFETY: as in `word`.
        unsafe { self.at(offset).cast::<u64>().write(value) }
    }

    fn byte(self, offset: usize) -> u8 {
        // SAFETY: a byte of the header.
        unsafe { self.at(offset).read() }
    }

    fn log2_size(self) -> u8 {
        self.byte(8)
    }

    fn unicode(self) -> bool {
        self.byte(10) == 1
    }

    /// The CPython minor version whose layout this keys object has (kept in the pad byte).
    fn minor(self) -> u8 {
        self.byte(11)
    }

    /// Offset of the index table: `sizeof(PyDictKeysObject)` of the version.
    fn header(self) -> usize {
        dl::keys_header(self.minor())
    }

    fn usable(self) -> usize {
        self.word(16) as usize
    }

    fn set_usable(self, usable: usize) {
        self.set_word(16, usable as u64)
    }

    fn nentries(self) -> usize {
        self.word(24) as usize
    }

    fn set_nentries(self, n: usize) {
        self.set_word(24, n as u64)
    }

    fn mask(self) -> usize {
        (1 << self.log2_size()) - 1
    }

    fn bytes(self) -> usize {
        dl::keys_bytes(self.minor(), self.log2_size(), self.unicode())
    }

    /// `dictkeys_get_index`.
    fn index(self, slot: usize) -> i64 {
        let width = dl::index_width(self.log2_size());
        let at = self.at(self.header() + slot * width);
        // SAFETY: slot <= mask, so the index lies in the table; each width is aligned there.
        unsafe {
            match width {
                1 => i64::from(at.cast::<i8>().read()),
                2 => i64::from(at.cast::<i16>().read()),
                4 => i64::from(at.cast::<i32>().read()),
                _ => at.cast::<i64>().read(),
            }
        }
    }

    /// `dictkeys_set_index`.
    fn set_index(self, slot: usize, ix: i64) {
        let width = dl::index_width(self.log2_size());
        let at = self.at(self.header() + slot * width);
        // SAFETY: as in `index`; entry indices fit the width `new_keys_object` chose.
        unsafe {
            match width {
                1 => at.cast::<i8>().write(ix as i8),
                2 => at.cast::<i16>().write(ix as i16),
                4 => at.cast::<i32>().write(ix as i32),
                _ => at.cast::<i64>().write(ix),
            }
        }
    }

    /// Offset of entry `ix`'s first word.
    fn entry(self, ix: usize) -> usize {
        self.header()
            + (1 << dl::log2_index_bytes(self.log2_size()))
            + ix * dl::entry_size(self.minor(), self.unicode())
    }

    /// Entry `ix`: its key and value; `None` if deleted. Reads neither object, so a
    /// dying dict can hand out its value after its key has been freed.
    fn pair(self, ix: usize) -> Option<(Obj, Obj)> {
        let key_at = self.entry(ix) + if self.unicode() { 0 } else { WORD };
        // SAFETY: an entry's key and value words are 0 (deleted) or objects the dict holds
        // references to, written by `put` and `set_value` from `Obj`s of this heap.
        let key = unsafe { layout::obj_at(self.word(key_at)) }?;
        // SAFETY: as for the key.
        let value = unsafe { layout::obj_at(self.word(key_at + WORD)) }?;
        Some((key, value))
    }

    /// Entry `ix`: its hash (recomputed from the key for the unicode kind), key and value;
    /// `None` if deleted. The key must be live.
    fn get(self, ix: usize) -> Option<(u64, Obj, Obj)> {
        let (key, value) = self.pair(ix)?;
        let hash = if self.unicode() { hash_of(key) } else { self.word(self.entry(ix)) };
        Some((hash, key, value))
    }

    /// Writes entry `ix` (`None`: a deleted entry, all zero).
    fn put(self, ix: usize, entry: Option<(u64, Obj, Obj)>) {
        let at = self.entry(ix);
        let (hash, key, value) = entry.map_or((0, 0, 0), |(h, k, v)| (h, k.addr() as u64, v.addr() as u64));
        if self.unicode() {
            self.set_word(at, key);
            self.set_word(at + WORD, value);
        } else {
            self.set_word(at, hash);
            self.set_word(at + WORD, key);
            self.set_word(at + 2 * WORD, value);
        }
    }

    /// Replaces entry `ix`'s value.
    fn set_value(self, ix: usize, value: Obj) {
        let at = self.entry(ix) + if self.unicode() { WORD } else { 2 * WORD };
        self.set_word(at, value.addr() as u64);
    }

    /// `_Py_dict_lookup`: the slot and entry of `key`, or `None`.
    fn lookup(self, key: Obj, hash: u64) -> Option<(usize, usize)> {
        let mask = self.mask();
        let mut slot = hash as usize & mask;
        let mut perturb = hash as usize;
        loop {
            let ix = self.index(slot);
            if ix >= 0 {
                let (entry_key, _) = self.pair(ix as usize).expect("an index to a deleted entry");
                let entry_hash =
                    || if self.unicode() { hash_of(entry_key) } else { self.word(self.entry(ix as usize)) };
                if entry_key == key || (entry_hash() == hash && keys_equal(entry_key, key)) {
                    return Some((slot, ix as usize));
                }
            } else if ix == DKIX_EMPTY {
                return None;
            }
            perturb >>= PERTURB_SHIFT;
            slot = (slot * 5 + perturb + 1) & mask;
        }
    }

    /// `find_empty_slot`: the first slot on `hash`'s probe sequence that holds no entry.
    fn find_empty_slot(self, hash: u64) -> usize {
        let mask = self.mask();
        let mut slot = hash as usize & mask;
        let mut perturb = hash as usize;
        while self.index(slot) >= 0 {
            perturb >>= PERTURB_SHIFT;
            slot = (slot * 5 + perturb + 1) & mask;
        }
        slot
    }
}

/// `new_keys_object`: a keys object of `2^log2_size` slots in the layout of CPython 3.`minor`,
/// every index empty, every entry zero.
fn new_keys<P: Policy<A>, A: Allocator>(
    rt: &mut Runtime<P, A>,
    minor: u8,
    log2_size: u8,
    unicode: bool,
) -> Keys {
    let unicode = unicode && dl::has_unicode_keys(minor);
    let bytes = dl::keys_bytes(minor, log2_size, unicode);
    let keys = Keys(rt.core.alloc_keys(bytes, log2_size, unicode));
    let index_bytes = 1 << dl::log2_index_bytes(log2_size);
    // SAFETY: the fresh buffer has `bytes` bytes: the header, then the indices, then the entries.
    unsafe {
        keys.0.as_ptr().write_bytes(0, bytes);
        keys.at(dl::keys_header(minor)).write_bytes(0xff, index_bytes);
    }
    keys.set_word(0, 1);
    keys.set_word(
        8,
        u64::from(log2_size)
            | u64::from(dl::log2_index_bytes(log2_size)) << 8
            | u64::from(unicode) << 16
            | u64::from(minor) << 24,
    );
    keys.set_usable(dl::usable_fraction(1 << log2_size));
    keys
}

/// `dictresize`: moves the live entries, in order, into a new table of
/// `2^log2_size` slots (general if the old one was, or `unicode` is false)
/// and frees the old one.
fn resize<P: Policy<A>, A: Allocator>(rt: &mut Runtime<P, A>, dict: Obj, log2_size: u8, unicode: bool) {
    let old = Keys::of(dict).expect("resize of a dict with the empty keys");
    let new = new_keys(rt, old.minor(), log2_size, unicode && old.unicode());
    let mut n = 0;
    for ix in 0..old.nentries() {
        if let Some(entry) = old.get(ix) {
            new.put(n, Some(entry));
            let slot = new.find_empty_slot(entry.0);
            new.set_index(slot, n as i64);
            n += 1;
        }
    }
    debug_assert_eq!(n, field(dict, USED) as usize);
    new.set_usable(new.usable() - n);
    new.set_nentries(n);
    set_field(dict, KEYS, new.0.as_ptr() as u64);
    rt.core.free_keys(old.0, old.bytes(), old.log2_size(), old.unicode());
}

/// `MAINTAIN_TRACKING`.
fn maintain_tracking<P: Policy<A>, A: Allocator>(rt: &mut Runtime<P, A>, dict: Obj, key: Obj, value: Obj) {
    if layout::flags(dict) & FLAG_TRACKED == 0 && (may_be_tracked(key) || may_be_tracked(value)) {
        rt.policy.track(&mut rt.core, dict);
    }
}

impl<P: Policy<A>, A: Allocator> Runtime<P, A> {
    /// `PyDict_New`: a dict of the empty keys, untracked.
    pub(crate) fn dict_new(&mut self) -> Obj {
        self.create(Kind::Dict, dl::DICT_OBJECT, 0, |obj| {
            for offset in [USED, VERSION_TAG, KEYS, VALUES] {
                set_field(obj, offset, 0);
            }
        })
    }

    /// `insertdict` / `insert_to_emptydict`.
    pub(crate) fn dict_set_item(&mut self, dict: Obj, key: Obj, value: Obj) {
        self.expect_kind(dict, Kind::Dict, "dict_set");
        self.core.check(key, "dict_set key");
        self.core.check(value, "dict_set value");
        let hash = hash_of(key);
        let is_str = layout::kind(key) == Kind::Str;
        let keys = match Keys::of(dict) {
            None => {
                // `insert_to_emptydict`.
                let keys = new_keys(self, self.version.minor, dl::DICT_LOG_MINSIZE, is_str);
                set_field(dict, KEYS, keys.0.as_ptr() as u64);
                keys
            }
            Some(keys) if keys.unicode() && !is_str => {
                let used = field(dict, USED) as usize;
                resize(self, dict, dl::calculate_log2_keysize(dl::growth_rate(used)), false);
                Keys::of(dict).expect("resized")
            }
            Some(keys) => keys,
        };
        maintain_tracking(self, dict, key, value);
        if let Some((_, ix)) = keys.lookup(key, hash) {
            let (_, old) = keys.pair(ix).expect("a live entry");
            if old != value {
                self.policy.hold(&mut self.core, value);
                keys.set_value(ix, value);
                self.policy.unhold(&mut self.core, old);
            }
            set_field(dict, VERSION_TAG, field(dict, VERSION_TAG) + 1);
            return;
        }
        let keys = if keys.usable() == 0 {
            // `insertion_resize`.
            let used = field(dict, USED) as usize;
            resize(self, dict, dl::calculate_log2_keysize(dl::growth_rate(used)), true);
            Keys::of(dict).expect("resized")
        } else {
            keys
        };
        let ix = keys.nentries();
        let slot = keys.find_empty_slot(hash);
        keys.set_index(slot, ix as i64);
        keys.put(ix, Some((hash, key, value)));
        self.policy.hold(&mut self.core, key);
        self.policy.hold(&mut self.core, value);
        set_field(dict, USED, field(dict, USED) + 1);
        set_field(dict, VERSION_TAG, field(dict, VERSION_TAG) + 1);
        keys.set_usable(keys.usable() - 1);
        keys.set_nentries(ix + 1);
    }

    /// `PyDict_GetItem`: a borrowed reference.
    pub(crate) fn dict_get_item(&self, dict: Obj, key: Obj) -> Option<Obj> {
        self.expect_kind(dict, Kind::Dict, "dict_get");
        self.core.check(key, "dict_get key");
        let keys = Keys::of(dict)?;
        let (_, ix) = keys.lookup(key, hash_of(key))?;
        keys.pair(ix).map(|(_, value)| value)
    }

    /// `delitem_common`: the index becomes a dummy, the entry empty; nothing shrinks.
    pub(crate) fn dict_del_item(&mut self, dict: Obj, key: Obj) -> bool {
        self.expect_kind(dict, Kind::Dict, "dict_del");
        self.core.check(key, "dict_del key");
        let Some(keys) = Keys::of(dict) else { return false };
        let Some((slot, ix)) = keys.lookup(key, hash_of(key)) else { return false };
        let (old_key, old_value) = keys.pair(ix).expect("a live entry");
        set_field(dict, USED, field(dict, USED) - 1);
        set_field(dict, VERSION_TAG, field(dict, VERSION_TAG) + 1);
        keys.set_index(slot, DKIX_DUMMY);
        keys.put(ix, None);
        self.policy.unhold(&mut self.core, old_key);
        self.policy.unhold(&mut self.core, old_value);
        true
    }

    /// `dk_nentries`.
    pub(crate) fn dict_entry_count(&self, dict: Obj) -> usize {
        self.expect_kind(dict, Kind::Dict, "dict_entries");
        Keys::of(dict).map_or(0, Keys::nentries)
    }

    /// Entry `index` of the entry table.
    pub(crate) fn dict_entry_at(&self, dict: Obj, index: usize) -> Option<(Obj, Obj)> {
        self.expect_kind(dict, Kind::Dict, "dict_entry");
        let keys = Keys::of(dict)?;
        assert!(index < keys.nentries(), "dict_entry: index {index} out of range of {}", keys.nentries());
        keys.pair(index)
    }

    /// A new `__dict__` instance of `n_attrs` empty attributes, in the layout of the heap's
    /// version (see the module documentation): the object first, as `object_new` calls
    /// `tp_alloc` before `_PyObject_InitializeDict`, then what holds its values.
    pub(crate) fn object_new(&mut self, n_attrs: usize) -> Obj {
        assert!(n_attrs <= MAX_ATTRS, "an object has at most {MAX_ATTRS} attributes, not {n_attrs}");
        let minor = self.version.minor;
        let shape = dl::instance_layout(minor, n_attrs);
        let slots = n_attrs as u16 | u16::from(minor) << MINOR_SHIFT;
        let obj = self.create(Kind::Object, shape.object, slots, |obj| {
            for offset in (16..shape.object).step_by(WORD) {
                set_field(obj, offset, 0);
            }
        });
        let values = match object_values(minor, n_attrs) {
            Values::Inline => {
                // SAFETY: 3.13's object holds its values at `INLINE_VALUES`, inside its `shape.object` bytes.
                unsafe { obj.ptr().as_ptr().add(INLINE_VALUES) as u64 }
            }
            Values::Apart { prefix, bytes } => {
                debug_assert_eq!(bytes, shape.values);
                let base = self.core.alloc_buffer(bytes).expect("a values array is never empty");
                // SAFETY: the fresh buffer has `bytes` bytes; zero is "no value" and an empty order.
                unsafe { base.as_ptr().write_bytes(0, bytes) };
                // SAFETY: `prefix < bytes`: the values start inside the buffer.
                unsafe { base.as_ptr().add(prefix) as u64 }
            }
        };
        set_field(obj, VALUES_AT, values);
        if shape.dict > 0 {
            // 3.8-3.10: `new_dict_with_shared_keys` has made the values; `new_dict` now makes
            // the dict object, a GC allocation of its own (`PyObject_GC_New`): counted, and a
            // moment a collection may run.
            // One taken from the dict free list is not (`new_dict` pops it before `PyObject_GC_New`).
            let (dict, recycled) = self.core.alloc_instance_dict(shape.dict);
            // SAFETY: the block has `shape.dict` bytes.
            unsafe { dict.as_ptr().write_bytes(0, shape.dict) };
            set_field(obj, DICT_AT, dict.as_ptr() as u64);
            self.policy.after_alloc(&mut self.core, Kind::Dict, recycled);
        }
        obj
    }
}

/// The most attributes a `__dict__` object may have: the tag's slot field keeps the count
/// below [`MINOR_SHIFT`] and the version's minor number above it.
pub(crate) const MAX_ATTRS: usize = (1 << MINOR_SHIFT) - 1;
const MINOR_SHIFT: u32 = 11;
/// Where an object keeps the address of its first attribute value.
const VALUES_AT: usize = 16;
/// Where an object of 3.8-3.10 keeps its dict object (allocated apart; 0 from 3.11).
const DICT_AT: usize = 24;
/// Where 3.13's object keeps its values, inline.
const INLINE_VALUES: usize = 32;

/// An object's attribute count and its version's minor number, from the tag's slot field.
pub(crate) fn object_shape(slots: usize) -> (usize, u8) {
    (slots & MAX_ATTRS, (slots >> MINOR_SHIFT) as u8)
}

/// Where an object's values live in a version.
enum Values {
    /// 3.13: inside the object.
    Inline,
    /// Allocated apart, `bytes` bytes, the values `prefix` bytes in.
    Apart { prefix: usize, bytes: usize },
}

/// 3.11 and 3.12: `new_values(size)` for `n_attrs + 1` slots (`init_inline_values`): the
/// insertion order, rounded up to a word, in front of the values. 3.8-3.10: the split
/// dict's values array, `PyMem_NEW(PyObject *, USABLE_FRACTION(DK_SIZE(keys)))`, nothing in front.
fn object_values(minor: u8, n_attrs: usize) -> Values {
    match minor {
        ..=10 => Values::Apart { prefix: 0, bytes: dl::instance_layout(minor, n_attrs).values },
        11 | 12 => {
            let slots = n_attrs + 1;
            let prefix = (slots + 2).next_multiple_of(WORD);
            Values::Apart { prefix, bytes: prefix + WORD * slots }
        }
        _ => Values::Inline,
    }
}

/// Where an object's attribute references lie: its values and their number.
pub(crate) fn object_refs(obj: Obj, slots: usize) -> (*mut u64, usize) {
    (field(obj, VALUES_AT) as *mut u64, object_shape(slots).0)
}

/// An object's values array, as allocated, and its size in bytes (none for 3.13's inline values).
pub(crate) fn object_buffer(obj: Obj, slots: usize) -> Option<(NonNull<u8>, usize)> {
    let (n_attrs, minor) = object_shape(slots);
    let Values::Apart { prefix, bytes } = object_values(minor, n_attrs) else { return None };
    let values = field(obj, VALUES_AT) as usize;
    NonNull::new(values.checked_sub(prefix)? as *mut u8).map(|base| (base, bytes))
}

/// 3.8-3.10: an object's dict object, allocated apart, and its size in bytes.
pub(crate) fn object_dict(obj: Obj, slots: usize) -> Option<(NonNull<u8>, usize)> {
    let (n_attrs, minor) = object_shape(slots);
    let bytes = dl::instance_layout(minor, n_attrs).dict;
    if bytes == 0 {
        return None;
    }
    NonNull::new(field(obj, DICT_AT) as *mut u8).map(|dict| (dict, bytes))
}

/// The number of items of a dict (`ma_used`).
pub(crate) fn len(dict: Obj) -> usize {
    field(dict, USED) as usize
}

/// A dict's keys object and its size in bytes (none for the empty keys).
pub(crate) fn buffer(dict: Obj) -> Option<(NonNull<u8>, usize)> {
    Keys::of(dict).map(|keys| (keys.0, keys.bytes()))
}

/// A dict's keys object, its size in bytes, its `log2` size and whether it is unicode
/// (what decides whether the keys free list keeps it).
pub(crate) fn keys_block(dict: Obj) -> Option<(NonNull<u8>, usize, u8, bool)> {
    Keys::of(dict).map(|keys| (keys.0, keys.bytes(), keys.log2_size(), keys.unicode()))
}

/// Calls `f` on every key and value a dict holds, in entry order (`free_keys_object`, `dict_traverse`).
pub(crate) fn for_each_ref(dict: Obj, mut f: impl FnMut(Obj)) {
    if let Some(keys) = Keys::of(dict) {
        for ix in 0..keys.nentries() {
            if let Some((key, value)) = keys.pair(ix) {
                f(key);
                f(value);
            }
        }
    }
}

/// The references of a dict as `layout::ref_count_of` counts them: key and
/// value of each entry of the entry table (`dk_nentries`), deleted ones included.
pub(crate) fn ref_slots(dict: Obj) -> usize {
    Keys::of(dict).map_or(0, |keys| 2 * keys.nentries())
}

/// Reference `position` in the order of [`for_each_ref`] (`free_keys_object`: each
/// entry's key, then its value); `None` for a deleted entry.
pub(crate) fn ref_at(dict: Obj, position: usize) -> Option<Obj> {
    let (key, value) = Keys::of(dict)?.pair(position / 2)?;
    Some(if position.is_multiple_of(2) { key } else { value })
}

/// `_PyDict_MaybeUntrack`'s test: whether no key or value may be tracked.
/// (CPython looks at the keys of general tables only: a str key is never tracked.)
pub(crate) fn holds_only_atomic(dict: Obj) -> bool {
    let mut atomic = true;
    for_each_ref(dict, |item| atomic &= !may_be_tracked(item));
    atomic
}

/// `dict_tp_clear` (`PyDict_Clear`): takes every key and value out into
/// `taken`, frees the keys object and leaves the dict empty, with the empty keys.
pub(crate) fn clear<A: Allocator>(core: &mut crate::runtime::Core<A>, dict: Obj, taken: &mut Vec<Obj>) {
    for_each_ref(dict, |item| taken.push(item));
    if let Some((keys, bytes, log2_size, unicode)) = keys_block(dict) {
        set_field(dict, KEYS, 0);
        set_field(dict, USED, 0);
        core.free_keys(keys, bytes, log2_size, unicode);
    }
}
