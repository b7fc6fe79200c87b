//! The object world every collector shares: one `Heap` implementation,
//! generic over a collector [`Policy`] and an [`Allocator`].
//!
//! The runtime builds objects, grows lists, counts bytes and keeps the debug
//! checks; the policy decides what a reference costs and when memory comes
//! back. A policy holds only what differs between collectors.

use std::ptr::NonNull;
use std::time::Instant;

use heaplab_core::object::{self, Kind};
use heaplab_core::probe::{PhaseLog, PhaseRecord, ProbeHandle, Snapshot};
use heaplab_core::version::{FreeLists as FreeListLimits, Version};
use heaplab_core::{AllocStats, Allocator, Capabilities, Heap, HeapStats, Obj};

use crate::freelist::{FreeLists, Slot};
use crate::object as layout;

/// What a collector decides. The runtime calls these hooks; everything else is shared.
pub(crate) trait Policy<A: Allocator> {
    /// The collector's name.
    const NAME: &'static str;

    /// What the collector can do.
    fn capabilities(&self) -> Capabilities;

    /// Bytes the collector keeps in front of an object of this kind.
    fn prefix(&self, kind: Kind) -> usize;

    /// The value of header word 0 for a new object.
    fn initial_word0(&self) -> u64;

    /// Called when the memory of a new object of this kind has been allocated, before its
    /// header is written and before the collector knows it: the moment a collection may run.
    /// CPython's `gc_alloc` (Modules/gcmodule.c, 3.11) calls `PyObject_Malloc` first and then
    /// `_PyObject_GC_Link`, which counts the object and may collect; the object is tracked
    /// only later, by `_PyObject_GC_TRACK` once it is filled in (here `on_create`).
    /// `recycled`: the memory came from a free list, not the allocator: `gc_alloc` never
    /// saw it, so CPython's collectors do not count it.
    fn after_alloc(&mut self, core: &mut Core<A>, kind: Kind, recycled: bool);

    /// An eval-breaker check: a moment between two bytecodes where a collection scheduled
    /// by an earlier allocation runs (CPython 3.12 and later, `_Py_HandlePending` calling
    /// `_Py_RunGC`; see [`heaplab_core::version::GcTrigger`]). The runtime calls it before
    /// an object is created (the loop's next iteration, or the call that makes it), and at
    /// a phase boundary and at the end, before their figures are read (the twin's
    /// `recorder.phase()` and `recorder.finish()` are Python calls, whose `RESUME` checks
    /// the eval breaker before `gc.get_stats()` is read).
    #[inline]
    fn eval_breaker(&mut self, _core: &mut Core<A>) {}

    /// A new object, payload filled in, with one owned reference.
    fn on_create(&mut self, core: &mut Core<A>, obj: Obj);

    /// The workload takes a new reference (`Py_INCREF`).
    fn own(&mut self, core: &mut Core<A>, obj: Obj);

    /// A dict that is not tracked now takes a key or value that may be
    /// (`MAINTAIN_TRACKING` in `Objects/dictobject.c`): a collector that
    /// tracks containers starts tracking it. Nothing to do for the others.
    fn track(&mut self, _core: &mut Core<A>, _obj: Obj) {}

    /// The workload gives a reference back (`Py_DECREF`).
    fn disown(&mut self, core: &mut Core<A>, obj: Obj);

    /// A container takes a reference to `obj`.
    fn hold(&mut self, core: &mut Core<A>, obj: Obj);

    /// A container drops its reference to `obj`.
    fn unhold(&mut self, core: &mut Core<A>, obj: Obj);

    /// A full collection.
    fn collect(&mut self, core: &mut Core<A>);

    /// Turns automatic collection on or off.
    fn set_automatic(&mut self, enabled: bool);

    /// Moves everything live out of reach of collections.
    fn freeze(&mut self, core: &mut Core<A>);

    /// The workload has released everything it owned: reclaim what the
    /// collector can. Whatever is still live afterwards is reported as leaked.
    fn finish(&mut self, core: &mut Core<A>);

    /// Frees every object still held, when the heap is dropped, where the
    /// collector can find them (a tracing collector can; pure refcount cannot).
    fn free_all(&mut self, core: &mut Core<A>);
}

/// What every collector uses: the allocator, the figures, the probe, the phases.
pub(crate) struct Core<A: Allocator> {
    pub(crate) alloc: A,
    pub(crate) stats: HeapStats,
    probe: Option<ProbeHandle>,
    phases: PhaseLog,
    /// The release's free lists, between the objects and the allocator.
    pub(crate) free_lists: FreeLists,
    #[cfg(any(debug_assertions, feature = "checked"))]
    debug: crate::debug::LiveSet,
}

impl<A: Allocator> Core<A> {
    fn new(alloc: A, probe: Option<ProbeHandle>, generations: usize, free_lists: &FreeListLimits) -> Core<A> {
        Core {
            alloc,
            stats: HeapStats { collections_by_gen: vec![0; generations.max(1)], ..HeapStats::default() },
            phases: PhaseLog::new(probe.clone()),
            probe,
            free_lists: FreeLists::new(free_lists),
            #[cfg(any(debug_assertions, feature = "checked"))]
            debug: crate::debug::LiveSet::default(),
        }
    }

    #[inline]
    fn publish(&self) {
        if let Some(probe) = &self.probe {
            probe.set_live_bytes(self.stats.live_bytes);
        }
    }

    #[cold]
    fn out_of_memory(bytes: usize) -> ! {
        eprintln!("heaplab: out of memory allocating {bytes} bytes");
        std::process::abort()
    }

    /// Allocates a buffer (a list's items, an array's data), counted in live bytes.
    pub(crate) fn alloc_buffer(&mut self, bytes: usize) -> Option<NonNull<u8>> {
        if bytes == 0 {
            return None;
        }
        let ptr = self.alloc.allocate(bytes).unwrap_or_else(|| Self::out_of_memory(bytes));
        self.stats.on_alloc_bytes(bytes);
        self.publish();
        Some(ptr)
    }

    /// Frees a buffer.
    pub(crate) fn free_buffer(&mut self, buffer: Option<NonNull<u8>>, bytes: usize) {
        if let Some(ptr) = buffer {
            #[cfg(any(debug_assertions, feature = "checked"))]
            crate::debug::poison(ptr, bytes);
            // SAFETY: the buffer was allocated by `alloc_buffer`/`resize_buffer` with `bytes` bytes
            // and its owner drops its only pointer to it now.
            unsafe { self.alloc.free(ptr, bytes) };
            self.stats.on_free_bytes(bytes);
            self.publish();
        }
    }

    /// Resizes a buffer from `old_bytes` to `new_bytes`.
    fn resize_buffer(
        &mut self,
        buffer: Option<NonNull<u8>>,
        old_bytes: usize,
        new_bytes: usize,
    ) -> Option<NonNull<u8>> {
        match buffer {
            None => self.alloc_buffer(new_bytes),
            Some(_) if new_bytes == 0 => {
                self.free_buffer(buffer, old_bytes);
                None
            }
            Some(ptr) => {
                // SAFETY: the buffer came from this allocator with `old_bytes` bytes; its
                // owner replaces its pointer with the result.
                let new = unsafe { self.alloc.reallocate(ptr, old_bytes, new_bytes) }
                    .unwrap_or_else(|| Self::out_of_memory(new_bytes));
                self.stats.on_free_bytes(old_bytes);
                self.stats.on_alloc_bytes(new_bytes);
                self.publish();
                Some(new)
            }
        }
    }

    /// Allocates an object of `size` bytes behind a collector header of `prefix` bytes, from
    /// its type's free list where it has one that holds a block (`slot`); the `bool` says
    /// whether it came from there (and so never reached the allocator or `gc_alloc`).
    fn alloc_object(&mut self, prefix: usize, size: usize, slot: Option<Slot>) -> (Obj, bool) {
        let bytes = prefix + size;
        let kept = slot.and_then(|slot| self.free_lists.take(slot, bytes));
        let recycled = kept.is_some();
        let base = kept.or_else(|| self.alloc.allocate(bytes)).unwrap_or_else(|| Self::out_of_memory(bytes));
        self.stats.on_new_object(bytes);
        self.publish();
        // SAFETY: the block has `prefix + size` bytes, so the object header lies inside it,
        // and the object is registered as live (debug builds) before anyone sees it.
        let obj = unsafe { Obj::from_ptr(base.add(prefix)) };
        #[cfg(any(debug_assertions, feature = "checked"))]
        self.debug.born(obj);
        (obj, recycled)
    }

    /// A buffer of `bytes` bytes from the free list `slot` where it holds one, else from the
    /// allocator; the `bool` says whether it came from the free list.
    fn take_buffer(&mut self, slot: Option<Slot>, bytes: usize) -> (NonNull<u8>, bool) {
        match slot.and_then(|slot| self.free_lists.take(slot, bytes)) {
            Some(block) => {
                self.stats.on_alloc_bytes(bytes);
                self.publish();
                (block, true)
            }
            None => (self.alloc_buffer(bytes).expect("a buffer of a free-listed type is never empty"), false),
        }
    }

    /// Frees a buffer of `bytes` bytes onto the free list `slot` while it has room, else back
    /// to the allocator.
    fn release_buffer(&mut self, slot: Option<Slot>, buffer: NonNull<u8>, bytes: usize) {
        // Poisoned before a kept block gets its link (and again by `free_buffer` if not kept).
        #[cfg(any(debug_assertions, feature = "checked"))]
        crate::debug::poison(buffer, bytes);
        if slot.is_some_and(|slot| self.free_lists.keep(slot, buffer, bytes)) {
            self.stats.on_free_bytes(bytes);
            self.publish();
        } else {
            self.free_buffer(Some(buffer), bytes);
        }
    }

    /// Allocates a keys object of `2^log2_size` slots and `bytes` bytes, from the keys free
    /// list where the release keeps such keys (`new_keys_object`).
    pub(crate) fn alloc_keys(&mut self, bytes: usize, log2_size: u8, unicode: bool) -> NonNull<u8> {
        self.take_buffer(self.free_lists.keys_slot(log2_size, unicode), bytes).0
    }

    /// Frees a keys object, onto the keys free list where the release keeps it
    /// (`free_keys_object`).
    pub(crate) fn free_keys(&mut self, keys: NonNull<u8>, bytes: usize, log2_size: u8, unicode: bool) {
        self.release_buffer(self.free_lists.keys_slot(log2_size, unicode), keys, bytes);
    }

    /// The GC allocations that freeing `obj` now gives back to the allocator, as generation
    /// 0's count sees them (`PyObject_GC_Del` takes one off each): one for a container, two
    /// for a 3.8-3.10 `__dict__` instance (the object and its dict), none for what goes onto
    /// a free list or is not a container.
    pub(crate) fn gc_frees(&self, obj: Obj) -> u64 {
        let kind = layout::kind(obj);
        if !kind.is_container() {
            return 0;
        }
        let itself = match free_list_slot(obj, layout::object_size(obj)) {
            Some(slot) if self.free_lists.keeps(slot) => 0,
            _ => 1,
        };
        let dict = match layout::second_buffer(obj) {
            Some(_) if self.free_lists.keeps(Slot::Dict) => 0,
            Some(_) => 1,
            None => 0,
        };
        itself + dict
    }

    /// Frees an object and its buffers, onto its type's free list where it has room. The
    /// collector has already dropped its references.
    pub(crate) fn free_object(&mut self, obj: Obj, prefix: usize) {
        if layout::kind(obj) == Kind::Dict {
            if let Some((keys, bytes, log2_size, unicode)) = crate::dict::keys_block(obj) {
                self.free_keys(keys, bytes, log2_size, unicode);
            }
        } else if let Some((buffer, bytes)) = layout::buffer(obj) {
            self.free_buffer(Some(buffer), bytes);
        }
        if let Some((dict, bytes)) = layout::second_buffer(obj) {
            // A 3.8-3.10 `__dict__`'s dict object: a dict, kept as dicts are (`dict_dealloc`).
            self.release_buffer(Some(Slot::Dict), dict, bytes);
        }
        let size = layout::object_size(obj);
        let bytes = prefix + size;
        let slot = free_list_slot(obj, size);
        #[cfg(any(debug_assertions, feature = "checked"))]
        self.debug.died(obj);
        // SAFETY: the object lies `prefix` bytes into its block.
        let base = unsafe { obj.ptr().sub(prefix) };
        #[cfg(any(debug_assertions, feature = "checked"))]
        crate::debug::poison(base, bytes);
        let kept = slot.is_some_and(|slot| self.free_lists.keep(slot, base, bytes));
        if !kept {
            // SAFETY: the block was allocated by `alloc_object` with `prefix + size` bytes, its
            // size recomputed from the unchanged layout; the collector frees each object once.
            unsafe { self.alloc.free(base, bytes) };
        }
        self.stats.on_free_object(bytes);
        self.publish();
    }

    /// A 3.8-3.10 `__dict__`'s dict object of `bytes` bytes, from the dict free list where it
    /// holds one (`new_dict`); the `bool` says whether it came from there.
    pub(crate) fn alloc_instance_dict(&mut self, bytes: usize) -> (NonNull<u8>, bool) {
        self.take_buffer(Some(Slot::Dict), bytes)
    }

    /// Records a pause of generation `generation` that started at `started`.
    pub(crate) fn record_pause(&mut self, generation: usize, started: Instant) {
        let ns = started.elapsed().as_nanos() as u64;
        self.stats.pauses_ns.push(ns);
        self.stats.collector_ns += ns;
        self.stats.collections_by_gen[generation] += 1;
        if let Some(probe) = &self.probe {
            let start_ns = probe.now_ns().saturating_sub(ns);
            probe.event(start_ns, format!("gc{generation}"), ns);
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            live_bytes: self.stats.live_bytes,
            collections: self.stats.collections(),
            alloc: self.alloc.stats(),
        }
    }

    /// Checks that `obj` is live (debug builds and the `checked` feature), naming the operation if not.
    #[inline]
    pub(crate) fn check(&self, obj: Obj, operation: &str) {
        #[cfg(any(debug_assertions, feature = "checked"))]
        self.debug.check(obj, operation);
        #[cfg(not(any(debug_assertions, feature = "checked")))]
        let _ = (obj, operation);
    }
}

/// The free list a live object of `size` bytes (`layout::object_size`) would go onto when it
/// dies, if its type has one.
fn free_list_slot(obj: Obj, size: usize) -> Option<Slot> {
    let kind = layout::kind(obj);
    let slots = if kind == Kind::Int { layout::slots(obj) as u16 } else { 0 };
    Slot::of_object(kind, size, slots)
}

/// A Heap: collector `P` over allocator `A`.
pub(crate) struct Runtime<P: Policy<A>, A: Allocator> {
    pub(crate) core: Core<A>,
    pub(crate) policy: P,
    /// The CPython release whose object sizes apply.
    pub(crate) version: &'static Version,
}

impl<P: Policy<A>, A: Allocator> Runtime<P, A> {
    pub(crate) fn new(
        policy: P,
        alloc: A,
        probe: Option<ProbeHandle>,
        version: &'static Version,
        free_lists: FreeListLimits,
    ) -> Self {
        let generations = usize::from(policy.capabilities().generations);
        Runtime { core: Core::new(alloc, probe, generations, &free_lists), policy, version }
    }

    /// The policy, for a collector's unit tests to inspect.
    #[cfg(test)]
    pub(crate) fn policy(&self) -> &P {
        &self.policy
    }

    /// Allocates and registers an object; `fill` writes its payload before the collector sees it.
    #[inline]
    pub(crate) fn create(&mut self, kind: Kind, size: usize, slots: u16, fill: impl FnOnce(Obj)) -> Obj {
        let prefix = self.policy.prefix(kind);
        self.policy.eval_breaker(&mut self.core);
        let (obj, recycled) = self.core.alloc_object(prefix, size, Slot::of_object(kind, size, slots));
        // A collection here does not see the new object: it is not tracked yet, and nothing
        // refers to it.
        self.policy.after_alloc(&mut self.core, kind, recycled);
        layout::init_header(obj, self.policy.initial_word0(), kind, slots, u32::MAX);
        fill(obj);
        self.policy.on_create(&mut self.core, obj);
        obj
    }

    pub(crate) fn expect_kind(&self, obj: Obj, expected: Kind, operation: &str) {
        self.core.check(obj, operation);
        let kind = layout::kind(obj);
        assert!(kind == expected, "{operation}: expected a {}, got a {}", expected.name(), kind.name());
    }

    /// Resizes a list's buffer as CPython's `list_resize` does, for a new length.
    fn list_resize(&mut self, list: Obj, new_len: usize) {
        let (len, cap) = layout::list_shape(list);
        if let Some(new_cap) = self.version.list_resize(cap, len, new_len) {
            let buffer = layout::buffer(list).map(|(ptr, _)| ptr);
            let new = self.core.resize_buffer(buffer, cap * object::WORD, new_cap * object::WORD);
            layout::set_list_buffer(list, new, new_cap);
        }
    }
}

impl<P: Policy<A>, A: Allocator> Drop for Runtime<P, A> {
    fn drop(&mut self) {
        self.policy.free_all(&mut self.core);
        self.core.free_lists.drain(&mut self.core.alloc);
    }
}

impl<P: Policy<A>, A: Allocator> Heap for Runtime<P, A> {
    fn collector(&self) -> &'static str {
        P::NAME
    }

    fn capabilities(&self) -> Capabilities {
        self.policy.capabilities()
    }

    fn int(&mut self, value: i64) -> Obj {
        let digits = self.version.int_digits(value);
        let size = Kind::Int.object_size(digits);
        let digits = u16::try_from(digits).expect("an i64 has at most 3 digits");
        self.create(Kind::Int, size, digits, |obj| layout::init_int(obj, value))
    }

    fn float(&mut self, value: f64) -> Obj {
        self.create(Kind::Float, object::FLOAT_SIZE, 0, |obj| layout::init_float(obj, value))
    }

    fn str(&mut self, text: &str) -> Obj {
        assert!(text.is_ascii(), "heaplab models compact ASCII strs only");
        // The str's header size lies in the tag's slot field, so that its size and its data
        // can be found again from the object.
        let size = self.version.str_size(text.len());
        let header = u16::try_from(self.version.str_header).expect("a small header");
        self.create(Kind::Str, size, header, |obj| layout::init_str(obj, text.as_bytes()))
    }

    fn tuple(&mut self, items: &[Obj]) -> Obj {
        for &item in items {
            self.core.check(item, "tuple item");
        }
        let size = Kind::Tuple.object_size(items.len());
        let tuple = self.create(Kind::Tuple, size, 0, |obj| layout::init_tuple(obj, items));
        for &item in items {
            self.policy.hold(&mut self.core, item);
        }
        tuple
    }

    fn list(&mut self, capacity: usize) -> Obj {
        let list = self.create(Kind::List, object::LIST_SIZE, 0, |obj| layout::init_list(obj, None, 0));
        if capacity > 0 {
            let buffer = self.core.alloc_buffer(capacity * object::WORD);
            layout::set_list_buffer(list, buffer, capacity);
        }
        list
    }

    fn instance(&mut self, n_slots: usize) -> Obj {
        let slots = u16::try_from(n_slots).expect("an instance has at most 65535 slots");
        let size = Kind::Instance.object_size(n_slots);
        self.create(Kind::Instance, size, slots, |obj| layout::init_instance(obj, n_slots))
    }

    fn array(&mut self, len: usize) -> Obj {
        let data = self.core.alloc_buffer(len * object::WORD);
        if let Some(ptr) = data {
            // SAFETY: the fresh buffer holds `len` f64s; zero bits are 0.0.
            unsafe { ptr.as_ptr().write_bytes(0, len * object::WORD) };
        }
        self.create(Kind::Array, object::ARRAY_HEADER, 0, |obj| layout::init_array(obj, data, len))
    }

    fn retain(&mut self, obj: Obj) {
        self.core.check(obj, "retain");
        self.policy.own(&mut self.core, obj);
    }

    fn release(&mut self, obj: Obj) {
        self.core.check(obj, "release");
        self.policy.disown(&mut self.core, obj);
    }

    fn kind(&self, obj: Obj) -> Kind {
        self.core.check(obj, "kind");
        layout::kind(obj)
    }

    fn int_value(&self, obj: Obj) -> i64 {
        self.expect_kind(obj, Kind::Int, "int_value");
        layout::int_value(obj)
    }

    fn float_value(&self, obj: Obj) -> f64 {
        self.expect_kind(obj, Kind::Float, "float_value");
        layout::float_value(obj)
    }

    fn str_bytes(&self, obj: Obj) -> &[u8] {
        self.expect_kind(obj, Kind::Str, "str_bytes");
        layout::str_bytes(obj)
    }

    fn len(&self, obj: Obj) -> usize {
        self.core.check(obj, "len");
        match layout::kind(obj) {
            Kind::Str => layout::str_bytes(obj).len(),
            Kind::Array => layout::floats(obj).len(),
            Kind::Tuple | Kind::List | Kind::Instance | Kind::Object => layout::ref_count_of(obj),
            Kind::Dict => crate::dict::len(obj),
            Kind::Set => crate::set::len(obj),
            kind => panic!("len: a {} has no length", kind.name()),
        }
    }

    fn get(&self, obj: Obj, index: usize) -> Option<Obj> {
        self.core.check(obj, "get");
        layout::get_ref(obj, index)
    }

    fn set(&mut self, obj: Obj, index: usize, item: Option<Obj>) {
        self.core.check(obj, "set");
        let kind = layout::kind(obj);
        assert!(
            kind == Kind::Instance || kind == Kind::Object || (kind == Kind::List && item.is_some()),
            "set: a {} cannot take {}",
            kind.name(),
            if item.is_some() { "items" } else { "None" }
        );
        if let Some(item) = item {
            self.core.check(item, "set item");
            self.policy.hold(&mut self.core, item);
        }
        if let Some(old) = layout::put_ref(obj, index, item) {
            self.policy.unhold(&mut self.core, old);
        }
    }

    fn append(&mut self, list: Obj, item: Obj) {
        self.expect_kind(list, Kind::List, "append");
        self.core.check(item, "append item");
        let (len, cap) = layout::list_shape(list);
        // A list grown by appends always has room or needs `list_resize`; one made with a
        // capacity is filled in place, as CPython fills a preallocated list (`list_extend`).
        if len == cap {
            self.list_resize(list, len + 1);
        }
        layout::set_list_len(list, len + 1);
        // The new slot's memory is uninitialised: written, not swapped (`put_ref` reads the old word).
        layout::init_ref(list, len, item);
        self.policy.hold(&mut self.core, item);
    }

    fn pop(&mut self, list: Obj) -> Option<Obj> {
        self.expect_kind(list, Kind::List, "pop");
        let (len, _) = layout::list_shape(list);
        if len == 0 {
            return None;
        }
        let item = layout::put_ref(list, len - 1, None).expect("lists hold no empty slots");
        self.list_resize(list, len - 1);
        layout::set_list_len(list, len - 1);
        self.policy.own(&mut self.core, item);
        self.policy.unhold(&mut self.core, item);
        Some(item)
    }

    fn floats(&self, array: Obj) -> &[f64] {
        self.core.check(array, "floats");
        layout::floats(array)
    }

    fn floats_mut(&mut self, array: Obj) -> &mut [f64] {
        self.core.check(array, "floats_mut");
        layout::floats_mut(array)
    }

    fn floats_zip(&mut self, inputs: &[Obj], out: Obj) -> (Vec<&[f64]>, &mut [f64]) {
        self.core.check(out, "floats_zip");
        for &input in inputs {
            self.core.check(input, "floats_zip input");
            assert!(input != out, "floats_zip: the output array is also an input");
        }
        (inputs.iter().map(|&a| layout::floats(a)).collect(), layout::floats_mut(out))
    }

    fn dict(&mut self) -> Obj {
        self.dict_new()
    }

    fn dict_set(&mut self, dict: Obj, key: Obj, value: Obj) {
        self.dict_set_item(dict, key, value);
    }

    fn dict_get(&self, dict: Obj, key: Obj) -> Option<Obj> {
        self.dict_get_item(dict, key)
    }

    fn dict_del(&mut self, dict: Obj, key: Obj) -> bool {
        self.dict_del_item(dict, key)
    }

    fn dict_entries(&self, dict: Obj) -> usize {
        self.dict_entry_count(dict)
    }

    fn dict_entry(&self, dict: Obj, index: usize) -> Option<(Obj, Obj)> {
        self.dict_entry_at(dict, index)
    }

    fn new_set(&mut self) -> Obj {
        self.set_new()
    }

    fn set_add(&mut self, set: Obj, key: Obj) -> bool {
        self.set_add_key(set, key)
    }

    fn set_contains(&self, set: Obj, key: Obj) -> bool {
        self.set_has_key(set, key)
    }

    fn set_discard(&mut self, set: Obj, key: Obj) -> bool {
        self.set_discard_key(set, key)
    }

    fn set_items(&self, set: Obj) -> Vec<Obj> {
        self.set_keys(set)
    }

    fn object(&mut self, n_attrs: usize) -> Obj {
        self.object_new(n_attrs)
    }

    fn is_tracked(&self, obj: Obj) -> bool {
        self.core.check(obj, "is_tracked");
        layout::flags(obj) & layout::FLAG_TRACKED != 0
    }

    fn collect(&mut self) {
        self.policy.collect(&mut self.core);
    }

    fn set_automatic(&mut self, enabled: bool) {
        self.policy.set_automatic(enabled);
    }

    fn freeze(&mut self) {
        self.policy.freeze(&mut self.core);
    }

    fn phase(&mut self, name: &str) {
        self.policy.eval_breaker(&mut self.core);
        let snapshot = self.core.snapshot();
        self.core.phases.start(name, || snapshot);
    }

    fn stats(&self) -> HeapStats {
        self.core.stats.clone()
    }

    fn alloc_stats(&self) -> AllocStats {
        self.core.alloc.stats()
    }

    fn finish(&mut self) -> (HeapStats, Vec<PhaseRecord>) {
        self.policy.eval_breaker(&mut self.core);
        let snapshot = self.core.snapshot();
        self.core.phases.end(|| snapshot);
        self.policy.finish(&mut self.core);
        self.core.stats.leaked_bytes = self.core.stats.live_bytes;
        self.core.stats.leaked_objects = self.core.stats.live_objects;
        (self.core.stats.clone(), self.core.phases.take_records())
    }
}
