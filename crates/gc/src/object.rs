//! How objects lie in memory: one layout shared by every collector.
//!
//! Every object starts with a 16-byte header of two words:
//!
//! | offset | refcount, cycle            | marksweep                       |
//! |--------|----------------------------|---------------------------------|
//! | 0      | `ob_refcnt`                | next object in the all-objects list |
//! | 8      | tag: kind, flags, slots, aux | tag: kind, flags, slots, root index |
//!
//! The tag word packs the kind (bits 0..8), collector flags (8..16), the
//! instance's slot count or the int's digit count (16..32) and a 32-bit field
//! of the collector's own (32..64). The payload starts at offset 16 and is
//! the same for every collector, so that sizes are CPython's:
//!
//! | kind     | payload                                                  |
//! |----------|----------------------------------------------------------|
//! | int      | i64 at 16 (24 + 4 x digits, at least one: CPython's) |
//! | float    | f64 at 16                                                |
//! | str      | length at 16, bytes after the header (48 B to 3.11, 40 B from 3.12, kept in the slot field), then a NUL |
//! | tuple    | length at 16, items at 24                                |
//! | list     | length at 16, item buffer at 24, capacity at 32          |
//! | instance | slots at 16                                              |
//! | array    | length at 16, data buffer at 24 (64 bytes in all)        |
//! | dict     | see `dict.rs` (48 bytes and a keys object)               |
//! | set      | see `set.rs` (200 bytes, a table beyond 8 slots)         |
//! | object   | see `dict.rs` (40 bytes and a values array)              |
//!
//! A collector may put a header in front of the object (the cycle
//! collector's `PyGC_Head`); an [`Obj`] always points at the object header.
//!
//! Memory safety: every function here takes an [`Obj`] that must be a live
//! object of the calling heap, laid out as above. The heap upholds that: it
//! makes every Obj itself, checks every Obj a workload passes against its
//! live set in debug builds, and never frees an object that is still
//! referenced (refcounting) or reachable (tracing). A workload that passes a
//! freed object breaks the contract as a C extension would; debug builds
//! catch it.

use std::ptr::{self, NonNull};

use heaplab_core::Obj;
use heaplab_core::object::{self, Kind, OBJECT_HEADER, WORD};

const TAG: usize = 8;
const PAYLOAD: usize = OBJECT_HEADER;

/// Tag flag: marked by the tracing collector.
pub(crate) const FLAG_MARKED: u8 = 1;
/// Tag flag: tracked by the cycle collector.
pub(crate) const FLAG_TRACKED: u8 = 4;

/// The object at address `raw`, or `None` for 0: how a word that holds a reference (an item,
/// a list link of the collectors) becomes an [`Obj`] again.
///
/// # Safety
/// `raw` is 0 or the address of a live object of the calling heap: a word this heap wrote from
/// an `Obj` it made and that is still live.
#[inline]
pub(crate) unsafe fn obj_at(raw: u64) -> Option<Obj> {
    // SAFETY: the caller's contract.
    NonNull::new(raw as *mut u8).map(|ptr| unsafe { Obj::from_ptr(ptr) })
}

#[inline]
fn word(obj: Obj, offset: usize) -> *mut u64 {
    // SAFETY: `obj` is live (module contract) and every offset used is inside its header or payload.
    unsafe { obj.ptr().as_ptr().add(offset).cast::<u64>() }
}

#[inline]
fn read(obj: Obj, offset: usize) -> u64 {
    // SAFETY: the word is inside the live object, 8-aligned since objects are 16-aligned.
    unsafe { word(obj, offset).read() }
}

#[inline]
fn write(obj: Obj, offset: usize, value: u64) {
    // SAFETY: as in `read`; the heap owns the object's memory exclusively.
    unsafe { word(obj, offset).write(value) }
}

/// Header word 0: the reference count, or the tracing collector's list link.
#[inline]
pub(crate) fn word0(obj: Obj) -> u64 {
    read(obj, 0)
}

/// Sets header word 0.
#[inline]
pub(crate) fn set_word0(obj: Obj, value: u64) {
    write(obj, 0, value)
}

/// Writes a fresh header: word 0, the kind, no flags, `slots` and `aux`.
#[inline]
pub(crate) fn init_header(obj: Obj, word0: u64, kind: Kind, slots: u16, aux: u32) {
    write(obj, 0, word0);
    write(obj, TAG, kind as u64 | (u64::from(slots) << 16) | (u64::from(aux) << 32));
}

/// The object's kind.
#[inline]
pub(crate) fn kind(obj: Obj) -> Kind {
    let tag = read(obj, TAG) as u8;
    Kind::from_tag(tag).unwrap_or_else(|| panic!("{obj:?} has no valid kind (tag {tag}): not a live object"))
}

#[inline]
fn tag_byte(obj: Obj, index: usize) -> *mut u8 {
    // SAFETY: the tag word's bytes lie inside the live object's header.
    unsafe { obj.ptr().as_ptr().add(TAG + index) }
}

/// The collector flags.
#[inline]
pub(crate) fn flags(obj: Obj) -> u8 {
    // SAFETY: see `tag_byte`.
    unsafe { tag_byte(obj, 1).read() }
}

/// Sets the collector flags.
#[inline]
pub(crate) fn set_flags(obj: Obj, flags: u8) {
    // SAFETY: see `tag_byte`.
    unsafe { tag_byte(obj, 1).write(flags) }
}

/// The slot or digit count kept in the tag.
#[inline]
pub(crate) fn slots(obj: Obj) -> usize {
    (read(obj, TAG) >> 16) as u16 as usize
}

/// The collector's 32-bit field in the tag.
#[inline]
pub(crate) fn aux(obj: Obj) -> u32 {
    (read(obj, TAG) >> 32) as u32
}

/// Sets the collector's 32-bit field in the tag.
#[inline]
pub(crate) fn set_aux(obj: Obj, value: u32) {
    let tag = read(obj, TAG);
    write(obj, TAG, (tag & 0xffff_ffff) | (u64::from(value) << 32));
}

/// Bytes of the object itself (not its buffers, not a collector header).
pub(crate) fn object_size(obj: Obj) -> usize {
    let kind = kind(obj);
    let len = match kind {
        Kind::Object => {
            let (n_attrs, minor) = crate::dict::object_shape(slots(obj));
            return heaplab_core::dict_layout::instance_layout(minor, n_attrs).object;
        }
        Kind::Int | Kind::Instance => slots(obj),
        // A str's header size is in its slot field (it depends on the CPython version).
        Kind::Str => return slots(obj) + read(obj, PAYLOAD) as usize + 1,
        Kind::Tuple => read(obj, PAYLOAD) as usize,
        Kind::Float | Kind::List | Kind::Array | Kind::Dict | Kind::Set => 0,
    };
    kind.object_size(len)
}

/// A second buffer: the dict object of a 3.8–3.10 `__dict__` instance.
pub(crate) fn second_buffer(obj: Obj) -> Option<(NonNull<u8>, usize)> {
    match kind(obj) {
        Kind::Object => crate::dict::object_dict(obj, slots(obj)),
        _ => None,
    }
}

/// A separately allocated buffer (a list's items, an array's data) and its size in bytes.
pub(crate) fn buffer(obj: Obj) -> Option<(NonNull<u8>, usize)> {
    let (ptr, bytes) = match kind(obj) {
        Kind::List => (read(obj, PAYLOAD + WORD), read(obj, PAYLOAD + 2 * WORD) as usize * WORD),
        Kind::Array => (read(obj, PAYLOAD + WORD), read(obj, PAYLOAD) as usize * WORD),
        Kind::Dict => return crate::dict::buffer(obj),
        Kind::Set => return crate::set::buffer(obj),
        Kind::Object => return crate::dict::object_buffer(obj, slots(obj)),
        _ => return None,
    };
    NonNull::new(ptr as *mut u8).map(|p| (p, bytes))
}

// --- Scalars -------------------------------------------------------------

/// Fills an int's payload.
pub(crate) fn init_int(obj: Obj, value: i64) {
    write(obj, PAYLOAD, value as u64)
}

/// An int's value.
pub(crate) fn int_value(obj: Obj) -> i64 {
    read(obj, PAYLOAD) as i64
}

/// Fills a float's payload.
pub(crate) fn init_float(obj: Obj, value: f64) {
    write(obj, PAYLOAD, value.to_bits())
}

/// A float's value.
pub(crate) fn float_value(obj: Obj) -> f64 {
    f64::from_bits(read(obj, PAYLOAD))
}

/// Fills a str's length, the three CPython words after it, its bytes and the NUL.
pub(crate) fn init_str(obj: Obj, text: &[u8]) {
    let header = slots(obj);
    write(obj, PAYLOAD, text.len() as u64);
    for offset in (PAYLOAD + WORD..header).step_by(WORD) {
        write(obj, offset, 0);
    }
    // SAFETY: the object was allocated with header + len + 1 bytes (the header size is in its
    // slot field): data at `header`, NUL after it.
    unsafe {
        let data = obj.ptr().as_ptr().add(header);
        ptr::copy_nonoverlapping(text.as_ptr(), data, text.len());
        data.add(text.len()).write(0);
    }
}

/// A str's bytes.
pub(crate) fn str_bytes<'a>(obj: Obj) -> &'a [u8] {
    let len = read(obj, PAYLOAD) as usize;
    // SAFETY: a live str holds `len` initialised bytes after its header; the slice
    // is tied by the caller to a borrow of the heap, which frees nothing while borrowed.
    unsafe { std::slice::from_raw_parts(obj.ptr().as_ptr().add(slots(obj)), len) }
}

// --- References ----------------------------------------------------------

/// Where a container's references lie: a pointer to the first and their number.
#[inline]
fn refs(obj: Obj) -> (*mut u64, usize) {
    match kind(obj) {
        Kind::Tuple => (word(obj, PAYLOAD + WORD), read(obj, PAYLOAD) as usize),
        Kind::List => (read(obj, PAYLOAD + WORD) as *mut u64, read(obj, PAYLOAD) as usize),
        Kind::Instance => (word(obj, PAYLOAD), slots(obj)),
        Kind::Object => crate::dict::object_refs(obj, slots(obj)),
        kind => panic!("a {} holds no references", kind.name()),
    }
}

/// The number of references a container holds (list length, tuple length, slot count);
/// for a dict, two a slot of its entry table (key and value, `None` where deleted), and
/// for a set, one a slot of its table (`None` where empty or a dummy).
pub(crate) fn ref_count_of(obj: Obj) -> usize {
    match kind(obj) {
        Kind::Dict => crate::dict::ref_slots(obj),
        Kind::Set => crate::set::ref_slots(obj),
        _ => refs(obj).1,
    }
}

/// Reference `index` of a container (None for an empty slot).
#[inline]
pub(crate) fn get_ref(obj: Obj, index: usize) -> Option<Obj> {
    let (base, len) = refs(obj);
    assert!(index < len, "index {index} out of range for a {} of {len}", kind(obj).name());
    // SAFETY: index < len, and a container's reference array holds `len` initialised words,
    // each 0 or a live object the container holds a reference to.
    unsafe { obj_at(base.add(index).read()) }
}

/// Overwrites reference `index` of a container, returning what was there.
/// The caller does the reference bookkeeping.
#[inline]
pub(crate) fn put_ref(obj: Obj, index: usize, item: Option<Obj>) -> Option<Obj> {
    let (base, len) = refs(obj);
    assert!(index < len, "index {index} out of range for a {} of {len}", kind(obj).name());
    let raw = item.map_or(0, |o| o.addr() as u64);
    // SAFETY: as in `get_ref`; the old item is live until the caller drops the reference.
    unsafe { obj_at(base.add(index).replace(raw)) }
}

/// Writes reference `index` of a list that has just grown to include it (`append`): the
/// word is new, its memory uninitialised, so it is written and never read.
#[inline]
pub(crate) fn init_ref(obj: Obj, index: usize, item: Obj) {
    let (base, len) = refs(obj);
    assert!(index < len, "index {index} out of range for a {} of {len}", kind(obj).name());
    // SAFETY: index < len, so the word lies inside the container's reference array (allocated
    // for at least `len` words); writing needs no initialised old value.
    unsafe { base.add(index).write(item.addr() as u64) }
}

/// Calls `f` on every reference a container holds, in the order CPython's
/// `tp_traverse` visits them and its deallocator releases them: a tuple's or a
/// list's items last first (`tupletraverse`, `tupledealloc`, `list_traverse`,
/// `list_dealloc` in Objects/tupleobject.c and listobject.c of 3.11 count `i`
/// down from `Py_SIZE`), an instance's slots first to last (`traverse_slots`
/// and `clear_slots` in Objects/typeobject.c walk the members up), and so an
/// object's attributes; a dict's keys and values and a set's keys in table
/// order (`dict_traverse`, `set_traverse`). Does nothing for objects that hold none.
#[inline]
pub(crate) fn for_each_ref(obj: Obj, mut f: impl FnMut(Obj)) {
    match kind(obj) {
        Kind::Dict => return crate::dict::for_each_ref(obj, f),
        Kind::Set => return crate::set::for_each_ref(obj, f),
        kind if !kind.is_container() => return,
        _ => {}
    }
    let (base, len) = refs(obj);
    let mut visit = |index: usize| {
        // SAFETY: index < len, as in `get_ref`.
        if let Some(item) = unsafe { obj_at(base.add(index).read()) } {
            f(item);
        }
    };
    if matches!(kind(obj), Kind::Instance | Kind::Object) {
        (0..len).for_each(&mut visit);
    } else {
        (0..len).rev().for_each(&mut visit);
    }
}

/// The `position`-th reference of a container of `len` references, in the order of
/// [`for_each_ref`]; `None` for an empty slot.
#[inline]
pub(crate) fn ref_in_order(obj: Obj, position: usize, len: usize) -> Option<Obj> {
    match kind(obj) {
        Kind::Dict => return crate::dict::ref_at(obj, position),
        Kind::Set => return crate::set::ref_at(obj, position),
        _ => {}
    }
    let (base, actual) = refs(obj);
    debug_assert!(position < len && len <= actual);
    let index =
        if matches!(kind(obj), Kind::Instance | Kind::Object) { position } else { len - 1 - position };
    assert!(index < actual, "reference {index} out of range for a {} of {actual}", kind(obj).name());
    // SAFETY: index < the container's length (checked), as in `get_ref`.
    unsafe { obj_at(base.add(index).read()) }
}

/// Fills a tuple's length and items (the caller takes the references).
pub(crate) fn init_tuple(obj: Obj, items: &[Obj]) {
    write(obj, PAYLOAD, items.len() as u64);
    for (index, item) in items.iter().enumerate() {
        write(obj, PAYLOAD + WORD * (1 + index), item.addr() as u64);
    }
}

/// Fills an instance's slots with nothing.
pub(crate) fn init_instance(obj: Obj, n_slots: usize) {
    for index in 0..n_slots {
        write(obj, PAYLOAD + WORD * index, 0);
    }
}

/// Fills a list's header: length 0, the given buffer and capacity.
pub(crate) fn init_list(obj: Obj, buffer: Option<NonNull<u8>>, capacity: usize) {
    write(obj, PAYLOAD, 0);
    write(obj, PAYLOAD + WORD, buffer.map_or(0, |b| b.as_ptr() as u64));
    write(obj, PAYLOAD + 2 * WORD, capacity as u64);
}

/// A list's length and capacity.
pub(crate) fn list_shape(obj: Obj) -> (usize, usize) {
    (read(obj, PAYLOAD) as usize, read(obj, PAYLOAD + 2 * WORD) as usize)
}

/// Sets a list's length.
pub(crate) fn set_list_len(obj: Obj, len: usize) {
    write(obj, PAYLOAD, len as u64)
}

/// Replaces a list's buffer and capacity.
pub(crate) fn set_list_buffer(obj: Obj, buffer: Option<NonNull<u8>>, capacity: usize) {
    write(obj, PAYLOAD + WORD, buffer.map_or(0, |b| b.as_ptr() as u64));
    write(obj, PAYLOAD + 2 * WORD, capacity as u64);
}

// --- Arrays --------------------------------------------------------------

/// Fills an array's header: its length and data buffer (already zeroed), and
/// clears the rest of CPython's 64-byte array object.
pub(crate) fn init_array(obj: Obj, data: Option<NonNull<u8>>, len: usize) {
    write(obj, PAYLOAD, len as u64);
    write(obj, PAYLOAD + WORD, data.map_or(0, |d| d.as_ptr() as u64));
    for offset in (PAYLOAD + 2 * WORD..object::ARRAY_HEADER).step_by(WORD) {
        write(obj, offset, 0);
    }
}

/// An array's elements.
pub(crate) fn floats<'a>(obj: Obj) -> &'a [f64] {
    assert_eq!(kind(obj), Kind::Array, "floats() of a non-array");
    let len = read(obj, PAYLOAD) as usize;
    let data = read(obj, PAYLOAD + WORD) as *const f64;
    if len == 0 {
        return &[];
    }
    // SAFETY: a live array's buffer holds `len` initialised f64s, 16-aligned;
    // the caller ties the slice to a borrow of the heap.
    unsafe { std::slice::from_raw_parts(data, len) }
}

/// An array's elements, writable.
pub(crate) fn floats_mut<'a>(obj: Obj) -> &'a mut [f64] {
    assert_eq!(kind(obj), Kind::Array, "floats_mut() of a non-array");
    let len = read(obj, PAYLOAD) as usize;
    let data = read(obj, PAYLOAD + WORD) as *mut f64;
    if len == 0 {
        return &mut [];
    }
    // SAFETY: as in `floats`; the caller ties the slice to a unique borrow of
    // the heap and never hands out two slices of one array at once.
    unsafe { std::slice::from_raw_parts_mut(data, len) }
}
