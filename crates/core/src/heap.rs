//! The `Heap` trait: the one interface object workloads see.
//!
//! A Heap is a collector over an allocator. It models Python's object world
//! with CPython's layouts ([`crate::object`]) and CPython's C-API ownership:
//! every constructor returns a new strong reference that the caller owns;
//! [`Heap::release`] gives one back (`Py_DECREF`), [`Heap::retain`] copies one
//! (`Py_INCREF`); a container takes its own reference to what is stored in it
//! and drops it when the item is replaced or the container dies. Accessors
//! that return an [`Obj`] return a *borrowed* reference, valid while its
//! container holds it.
//!
//! For tracing collectors the caller's owned references are the root set.

use std::ptr::NonNull;

use serde::{Deserialize, Serialize};

use crate::alloc::AllocStats;
use crate::object::Kind;
use crate::probe::PhaseRecord;

/// A reference to an object on a Heap. Copying it copies the pointer, not
/// the reference count: ownership is the workload's bookkeeping, as in C.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Obj(NonNull<u8>);

impl Obj {
    /// Wraps an object address. Only collectors make these.
    ///
    /// # Safety
    /// `ptr` is the address of a live object of the heap it will be passed to (its `PyObject`
    /// header, after any collector header), made by that heap. Every [`Heap`] method reads and
    /// writes through an `Obj` it is given, so a forged one is an arbitrary memory access.
    pub unsafe fn from_ptr(ptr: NonNull<u8>) -> Obj {
        Obj(ptr)
    }

    /// The object's address (its `PyObject` header, after any GC header).
    pub fn ptr(self) -> NonNull<u8> {
        self.0
    }

    /// The address as an integer, for hashing and debugging.
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }
}

impl std::fmt::Debug for Obj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Obj({:#x})", self.addr())
    }
}

/// What a collector can do, declared as data so that callers ask rather than guess.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Frees most objects the moment their last reference goes.
    pub refcounting: bool,
    /// Reclaims unreachable cycles.
    pub reclaims_cycles: bool,
    /// `set_automatic(false)` stops collections (`gc.disable()`).
    pub can_disable: bool,
    /// `freeze()` moves what is live out of reach of later collections (`gc.freeze()`).
    pub can_freeze: bool,
    /// Number of generations (0 for collectors that never trace).
    pub generations: u8,
}

/// Figures every Heap keeps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeapStats {
    /// Objects alive now.
    pub live_objects: u64,
    /// The highest `live_objects` has been.
    pub peak_live_objects: u64,
    /// Bytes requested from the allocator and not yet freed (headers and buffers included).
    pub live_bytes: u64,
    /// The highest `live_bytes` has been.
    pub peak_live_bytes: u64,
    /// Bytes requested from the allocator in total.
    pub allocated_bytes: u64,
    /// Objects created in total.
    pub allocated_objects: u64,
    /// Collections per generation (index 0 is the youngest; one entry for a single-generation collector).
    pub collections_by_gen: Vec<u64>,
    /// Every pause, in nanoseconds, in order.
    pub pauses_ns: Vec<u64>,
    /// Time spent collecting, in nanoseconds (the sum of the pauses).
    pub collector_ns: u64,
    /// Set by teardown: bytes unreachable from the workload but still held (pure refcount's cycles).
    pub leaked_bytes: u64,
    /// Set by teardown: objects counted in `leaked_bytes`.
    pub leaked_objects: u64,
}

impl HeapStats {
    /// Every collection of every generation.
    pub fn collections(&self) -> u64 {
        self.collections_by_gen.iter().sum()
    }

    /// Records an allocation of one object of `bytes` bytes.
    #[inline]
    pub fn on_new_object(&mut self, bytes: usize) {
        self.live_objects += 1;
        self.peak_live_objects = self.peak_live_objects.max(self.live_objects);
        self.allocated_objects += 1;
        self.on_alloc_bytes(bytes);
    }

    /// Records a free of one object of `bytes` bytes.
    #[inline]
    pub fn on_free_object(&mut self, bytes: usize) {
        self.live_objects -= 1;
        self.live_bytes -= bytes as u64;
    }

    /// Records bytes allocated that are not a new object (a buffer, a growth).
    #[inline]
    pub fn on_alloc_bytes(&mut self, bytes: usize) {
        self.allocated_bytes += bytes as u64;
        self.live_bytes += bytes as u64;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
    }

    /// Records bytes freed that are not an object.
    #[inline]
    pub fn on_free_bytes(&mut self, bytes: usize) {
        self.live_bytes -= bytes as u64;
    }
}

/// A memory-managed world of Python objects.
///
/// # The contract
///
/// An [`Obj`] can only come from the heap itself (a constructor, an accessor;
/// [`Obj::from_ptr`] is `unsafe`). Safe code can still keep a copy of one after
/// the object died, or pass one heap's object to another heap, as a C
/// extension can keep a pointer after `Py_DECREF`. What happens then:
///
/// - **Always checked, in every build** (a panic with the operation's name):
///   the wrong kind for an operation, an index out of range, a list popped when
///   empty, `floats_zip` with `out` among the inputs.
/// - **Checked in debug builds and with heaplab-gc's `checked` feature** (a
///   panic): every `Obj` passed in is looked up in the set of live objects of
///   this heap, so a dead, foreign or forged reference, and releasing one more
///   reference than was owned, fail loudly; freed memory is poisoned. The
///   test suites of the workloads and collectors run this way.
/// - **Undefined in release builds without `checked`**: using an `Obj` whose
///   object is dead (released below zero, freed by a collection) or that belongs
///   to another heap. Release builds are what `cargo xtask bench` measures, and
///   the check would be on every access; a workload is trusted code there, as
///   the interpreter is in CPython. Run a new workload's tests (debug) first.
pub trait Heap {
    /// The collector's name (`refcount`, `cycle`, `marksweep`).
    fn collector(&self) -> &'static str;
    /// What this collector can do.
    fn capabilities(&self) -> Capabilities;

    /// A new int.
    fn int(&mut self, value: i64) -> Obj;
    /// A new float.
    fn float(&mut self, value: f64) -> Obj;
    /// A new str of ASCII bytes.
    fn str(&mut self, text: &str) -> Obj;
    /// A new tuple; it takes its own reference to each item (the caller keeps theirs).
    fn tuple(&mut self, items: &[Obj]) -> Obj;
    /// A new, empty list with room for `capacity` items, which appends fill
    /// before the list grows (CPython's preallocated lists; `list(0)` is `[]`).
    fn list(&mut self, capacity: usize) -> Obj;
    /// A new instance with `n_slots` empty slots.
    fn instance(&mut self, n_slots: usize) -> Obj;
    /// A new array of `len` zeros.
    fn array(&mut self, len: usize) -> Obj;

    /// Takes a new strong reference (`Py_INCREF`).
    fn retain(&mut self, obj: Obj);
    /// Gives a strong reference back (`Py_DECREF`).
    fn release(&mut self, obj: Obj);

    /// The object's kind.
    fn kind(&self, obj: Obj) -> Kind;
    /// An int's value.
    fn int_value(&self, obj: Obj) -> i64;
    /// A float's value.
    fn float_value(&self, obj: Obj) -> f64;
    /// A str's bytes.
    fn str_bytes(&self, obj: Obj) -> &[u8];
    /// Items of a tuple or list, slots of an instance, elements of an array,
    /// bytes of a str, items of a dict or a set, attributes of an object.
    fn len(&self, obj: Obj) -> usize;
    /// Item `index` of a tuple or list, or slot `index` of an instance: a borrowed reference.
    fn get(&self, obj: Obj, index: usize) -> Option<Obj>;

    /// Stores `item` at `index` of a list or an instance (`None` empties an
    /// instance slot); the container takes its own reference and drops the one
    /// it held before.
    fn set(&mut self, obj: Obj, index: usize, item: Option<Obj>);
    /// Appends to a list, which takes its own reference.
    fn append(&mut self, list: Obj, item: Obj);
    /// Removes a list's last item and hands its reference to the caller.
    fn pop(&mut self, list: Obj) -> Option<Obj>;

    /// An array's elements.
    fn floats(&self, array: Obj) -> &[f64];
    /// An array's elements, writable.
    fn floats_mut(&mut self, array: Obj) -> &mut [f64];
    /// Several arrays read and one written at once (`out` must not be among `inputs`).
    fn floats_zip(&mut self, inputs: &[Obj], out: Obj) -> (Vec<&[f64]>, &mut [f64]);

    /// Whether the cycle collector tracks `obj` (`gc.is_tracked`): false for atoms, for
    /// containers it has untracked (a tuple of atoms after a collection), and for every object
    /// of a collector that tracks nothing.
    fn is_tracked(&self, obj: Obj) -> bool;

    /// A full collection (`gc.collect()`); does nothing for collectors that never trace.
    fn collect(&mut self);
    /// Turns automatic collection on or off (`gc.enable()` / `gc.disable()`).
    fn set_automatic(&mut self, enabled: bool);
    /// Moves everything live out of reach of later collections (`gc.freeze()`).
    fn freeze(&mut self);

    /// Marks the start of a phase of the workload (`build`, `compute`, …);
    /// the previous phase ends here.
    fn phase(&mut self, name: &str);
    /// The figures so far.
    fn stats(&self) -> HeapStats;
    /// The allocator's own figures.
    fn alloc_stats(&self) -> AllocStats;
    // --- dicts, sets, `__dict__` instances (CPython's `dictobject.c`, `setobject.c`) ---
    //
    // Keys compare as CPython compares them for the kinds heaplab has: a str
    // by its bytes, an int by its value, anything else by identity.

    /// A new, empty dict (`{}` or `dict()`): untracked, with CPython's shared empty keys.
    fn dict(&mut self) -> Obj;
    /// `d[key] = value`: the dict takes its own references to a new key and to
    /// the value, and drops the value it replaces (a key already there stays).
    fn dict_set(&mut self, dict: Obj, key: Obj, value: Obj);
    /// `d.get(key)`: a borrowed reference to the value, if the key is there.
    fn dict_get(&self, dict: Obj, key: Obj) -> Option<Obj>;
    /// `del d[key]`: drops the dict's references to the key and its value;
    /// returns whether the key was there. The entry becomes a dummy.
    fn dict_del(&mut self, dict: Obj, key: Obj) -> bool;
    /// Entries of the dict's entry table so far, deleted ones included
    /// (`dk_nentries`): the bound of [`Heap::dict_entry`].
    fn dict_entries(&self, dict: Obj) -> usize;
    /// Entry `index` of the entry table, in insertion order: borrowed
    /// references to its key and value, `None` for a deleted entry.
    fn dict_entry(&self, dict: Obj, index: usize) -> Option<(Obj, Obj)>;
    /// Every item, in insertion order (borrowed references).
    fn dict_items(&self, dict: Obj) -> Vec<(Obj, Obj)> {
        (0..self.dict_entries(dict)).filter_map(|index| self.dict_entry(dict, index)).collect()
    }

    /// A new, empty set (`set()`), its table the 8 slots inside the object.
    fn new_set(&mut self) -> Obj;
    /// `s.add(key)`: the set takes its own reference to a new key; returns whether it was new.
    fn set_add(&mut self, set: Obj, key: Obj) -> bool;
    /// `key in s`.
    fn set_contains(&self, set: Obj, key: Obj) -> bool;
    /// `s.discard(key)`: returns whether it was there; its slot becomes a dummy.
    fn set_discard(&mut self, set: Obj, key: Obj) -> bool;
    /// Every key, in table order, as iterating a set gives them (borrowed references).
    /// The order depends on the hash; heaplab's hash is not CPython's.
    fn set_items(&self, set: Obj) -> Vec<Obj>;

    /// A new instance of a class without `__slots__` whose `__init__` sets
    /// `n_attrs` attributes, all empty: [`Heap::get`] and [`Heap::set`] read
    /// and write attribute `index` as they do an instance's slots, and
    /// [`Heap::len`] is `n_attrs`.
    fn object(&mut self, n_attrs: usize) -> Obj;

    /// Ends the run: finds what the workload can no longer reach but the heap
    /// still holds, sets `leaked_bytes`, closes the last phase and returns the
    /// figures and the phases.
    fn finish(&mut self) -> (HeapStats, Vec<PhaseRecord>);
}
