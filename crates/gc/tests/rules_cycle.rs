//! The cycle detector against a model of CPython's collection rules (Modules/gcmodule.c of
//! 3.11, and 3.12's scheduling at the eval breaker), object by object.
//!
//! Random programs make containers of five sorts whose fate the rules decide exactly — kept
//! lists, garbage self-cycles, kept tuples of scalars, kept dicts that were tracked and hold
//! only scalars now, and lists dropped at once — with collection on and off, explicit full
//! collections and `gc.freeze()`, under any number of generations and thresholds. After every
//! step the collections per generation, the live objects and which objects are tracked must
//! be the model's: that pins down the counts, the triggers, promotion, the 25% rule,
//! `long_lived_total` (with the interpreter's objects and the untracked dicts), tuple and
//! dict untracking, what a collection frees, and the list free list (a list taken from it is
//! never counted, one put on it never counted off: `PyList_New` and `list_dealloc`).

use heaplab_core::version::{self, FreeLists, GcTrigger};
use heaplab_core::{Heap, Obj};
use heaplab_gc::GcConfig;
use proptest::prelude::*;

mod common;

/// What a tracked object is, for the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    /// A list the holder keeps: survives every collection.
    Kept,
    /// A list that holds only itself, released: freed by the first collection that covers it.
    Garbage,
    /// A tuple of an int that the holder keeps: untracked by the first collection that scans it.
    ScalarTuple,
    /// A dict the holder keeps, tracked when it took a list, holding only ints now: survives,
    /// and is untracked by the first full collection that scans it.
    AtomicDict,
}

/// CPython's collector state, with the tracked objects of each generation.
struct Model {
    thresholds: Vec<u32>,
    counts: Vec<u64>,
    generations: Vec<Vec<(Obj, Sort)>>,
    permanent: Vec<(Obj, Sort)>,
    /// Objects that were tracked and have been untracked.
    untracked: Vec<Obj>,
    enabled: bool,
    eval_breaker: bool,
    /// Whether a scheduled collection is dropped when collection was turned off meanwhile
    /// (not at 3.12: `_Py_RunGC` ignores `gc.disable()`, gh-116604).
    scheduled_checks_enabled: bool,
    scheduled: bool,
    interpreter_objects: u64,
    long_lived_total: u64,
    long_lived_pending: u64,
    collections: Vec<u64>,
    live_objects: u64,
    free_lists: FreeLists,
    /// Lists on the list free list.
    free_listed: usize,
}

impl Model {
    fn new(config: &GcConfig) -> Model {
        let n = config.thresholds.len();
        Model {
            thresholds: config.thresholds.clone(),
            counts: vec![0; n],
            generations: vec![Vec::new(); n],
            permanent: Vec::new(),
            untracked: Vec::new(),
            enabled: true,
            eval_breaker: config.version.trigger == GcTrigger::EvalBreaker,
            scheduled_checks_enabled: config.version.scheduled_gc_checks_enabled,
            scheduled: false,
            interpreter_objects: config.interpreter_objects,
            long_lived_total: config.interpreter_objects,
            long_lived_pending: 0,
            collections: vec![0; n],
            live_objects: 0,
            free_lists: config.version.free_lists,
            free_listed: 0,
        }
    }

    fn oldest(&self) -> usize {
        self.thresholds.len() - 1
    }

    /// An object is about to be made (`_Py_RunGC` at the eval breaker, from 3.12).
    fn before_create(&mut self) {
        if self.eval_breaker && self.scheduled {
            self.scheduled = false;
            if self.enabled || !self.scheduled_checks_enabled {
                self.collect_generations();
            }
        }
    }

    /// A scalar is made.
    fn scalar(&mut self) {
        self.before_create();
        self.live_objects += 1;
    }

    /// A container's memory is allocated (`gc_alloc` then `_PyObject_GC_Link`); it is
    /// tracked afterwards, by the caller.
    fn container(&mut self) {
        self.before_create();
        self.allocated();
    }

    /// A container's memory came from the allocator: `_PyObject_GC_Link`.
    fn allocated(&mut self) {
        self.live_objects += 1;
        self.counts[0] += 1;
        if self.counts[0] > u64::from(self.thresholds[0]) && self.enabled && self.thresholds[0] != 0 {
            if self.eval_breaker {
                self.scheduled = true;
            } else {
                self.collect_generations();
            }
        }
    }

    /// A list is made: from the free list if it holds one (not counted), else allocated.
    /// (A collection at the eval breaker runs first, and may put lists on the free list.)
    fn list(&mut self) {
        self.before_create();
        if self.free_listed > 0 {
            self.free_listed -= 1;
            self.live_objects += 1;
        } else {
            self.allocated();
        }
    }

    /// A list dies: onto the free list while it has room, else `PyObject_GC_Del`.
    fn list_freed(&mut self) {
        if self.free_listed < self.free_lists.lists {
            self.free_listed += 1;
            self.live_objects -= 1;
        } else {
            self.container_freed();
        }
    }

    fn track(&mut self, obj: Obj, sort: Sort) {
        self.generations[0].push((obj, sort));
    }

    /// A container dies by reference counting (`PyObject_GC_Del`).
    fn container_freed(&mut self) {
        self.live_objects -= 1;
        self.counts[0] = self.counts[0].saturating_sub(1);
    }

    /// `gc_collect_generations`.
    fn collect_generations(&mut self) {
        let oldest = self.oldest();
        for generation in (0..self.thresholds.len()).rev() {
            if self.counts[generation] > u64::from(self.thresholds[generation]) {
                if generation == oldest && oldest > 0 && self.long_lived_pending < self.long_lived_total / 4 {
                    continue;
                }
                self.collect(generation);
                break;
            }
        }
    }

    /// `gc_collect_main(generation)`.
    fn collect(&mut self, generation: usize) {
        let oldest = self.oldest();
        if generation < oldest {
            self.counts[generation + 1] += 1;
        }
        for count in &mut self.counts[..=generation] {
            *count = 0;
        }
        let young: Vec<(Obj, Sort)> =
            self.generations[..=generation].iter_mut().flat_map(std::mem::take).collect();
        let mut survivors = Vec::new();
        let mut garbage = 0;
        for (obj, sort) in young {
            match sort {
                Sort::Kept | Sort::AtomicDict => survivors.push((obj, sort)),
                Sort::ScalarTuple => self.untracked.push(obj),
                Sort::Garbage => garbage += 1,
            }
        }
        let n_survivors = survivors.len() as u64;
        if generation < oldest {
            if generation + 2 == self.thresholds.len() {
                self.long_lived_pending += n_survivors;
            }
            self.generations[generation + 1].extend(survivors);
        } else {
            let (dicts, rest): (Vec<_>, Vec<_>) =
                survivors.into_iter().partition(|&(_, s)| s == Sort::AtomicDict);
            self.untracked.extend(dicts.iter().map(|&(obj, _)| obj));
            self.long_lived_pending = 0;
            self.long_lived_total = n_survivors - dicts.len() as u64 + self.interpreter_objects;
            self.generations[oldest] = rest;
        }
        for _ in 0..garbage {
            self.list_freed();
        }
        self.collections[generation] += 1;
    }

    fn freeze(&mut self) {
        for generation in &mut self.generations {
            self.permanent.append(generation);
        }
        self.counts.fill(0);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Kept,
    Garbage,
    ScalarTuple,
    AtomicDict,
    Dropped,
    Collect,
    Enable(bool),
    Freeze,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Kept),
        4 => Just(Op::Garbage),
        2 => Just(Op::ScalarTuple),
        2 => Just(Op::AtomicDict),
        4 => Just(Op::Dropped),
        1 => Just(Op::Collect),
        1 => any::<bool>().prop_map(Op::Enable),
        1 => (0..10u8).prop_filter_map("rare", |n| (n == 0).then_some(Op::Freeze)),
    ]
}

/// Runs `ops` on a cycle heap of `config` and on the model, comparing the collections and
/// live objects after every step, and which objects are tracked every `tracking_every` steps.
fn run(config: &GcConfig, ops: &[Op], tracking_every: usize) {
    common::with_heap("cycle", config.clone(), |heap| {
        let mut model = Model::new(config);
        let holder = heap.list(0);
        model.list();
        model.track(holder, Sort::Kept);
        let mut n_kept = 0;
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Kept => {
                    let list = heap.list(0);
                    model.list();
                    model.track(list, Sort::Kept);
                    heap.append(holder, list);
                    heap.release(list);
                    n_kept += 1;
                }
                Op::Garbage => {
                    let list = heap.list(0);
                    model.list();
                    model.track(list, Sort::Garbage);
                    heap.append(list, list);
                    heap.release(list);
                }
                Op::Dropped => {
                    let list = heap.list(0);
                    model.list();
                    heap.release(list);
                    model.list_freed();
                }
                Op::ScalarTuple => {
                    let n = heap.int(step as i64);
                    model.scalar();
                    let tuple = heap.tuple(&[n]);
                    model.container();
                    model.track(tuple, Sort::ScalarTuple);
                    heap.release(n);
                    heap.append(holder, tuple);
                    heap.release(tuple);
                    n_kept += 1;
                }
                Op::AtomicDict => {
                    let dict = heap.dict();
                    model.container();
                    assert!(!heap.is_tracked(dict), "a new dict is untracked");
                    let key = heap.int(1);
                    model.scalar();
                    let list = heap.list(0);
                    model.list();
                    model.track(list, Sort::Kept);
                    heap.dict_set(dict, key, list);
                    // MAINTAIN_TRACKING: a dict that takes a list is tracked. While it holds
                    // the list, no collection untracks it.
                    model.track(dict, Sort::Kept);
                    heap.release(list);
                    let value = heap.int(2);
                    model.scalar();
                    // The list dies: the dict held its last reference. The dict stays tracked.
                    heap.dict_set(dict, key, value);
                    for (obj, sort) in model.generations.iter_mut().flatten().chain(&mut model.permanent) {
                        if *obj == dict {
                            *sort = Sort::AtomicDict;
                        }
                    }
                    model
                        .generations
                        .iter_mut()
                        .chain([&mut model.permanent])
                        .for_each(|g| g.retain(|&(obj, _)| obj != list));
                    model.list_freed();
                    heap.release(key);
                    heap.release(value);
                    heap.append(holder, dict);
                    heap.release(dict);
                    n_kept += 1;
                }
                Op::Collect => {
                    heap.collect();
                    let oldest = model.oldest();
                    model.collect(oldest);
                }
                Op::Enable(on) => {
                    heap.set_automatic(*on);
                    model.enabled = *on;
                }
                Op::Freeze => {
                    heap.freeze();
                    model.freeze();
                }
            }
            let stats = heap.stats();
            assert_eq!(
                stats.collections_by_gen, model.collections,
                "collections per generation after step {step} ({op:?})"
            );
            assert_eq!(stats.live_objects, model.live_objects, "live objects after step {step} ({op:?})");
            if step % tracking_every == 0 || step + 1 == ops.len() {
                check_tracking(heap, &model, step, op);
            }
        }
        assert_eq!(heap.len(holder), n_kept, "the holder holds every kept object");
        heap.release(holder);
    });
}

/// Every object the model has tracked is tracked, and every one it has untracked is not.
fn check_tracking(heap: &dyn Heap, model: &Model, step: usize, op: &Op) {
    for &(obj, sort) in model.generations.iter().flatten().chain(&model.permanent) {
        assert!(heap.is_tracked(obj), "a tracked {sort:?} after step {step} ({op:?})");
    }
    for &obj in &model.untracked {
        assert!(!heap.is_tracked(obj), "an untracked {:?} after step {step} ({op:?})", heap.kind(obj));
    }
}

fn config(thresholds: Vec<u32>, interpreter_objects: u64, release: &str) -> GcConfig {
    GcConfig {
        thresholds,
        interpreter_objects,
        version: version::find(release).expect("a modelled release"),
        ..GcConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn the_cycle_detector_follows_cpython_s_rules(
        thresholds in prop::collection::vec(0u32..6, 1..5),
        interpreter_objects in prop_oneof![Just(0u64), 1u64..40],
        release in prop::sample::select(vec!["3.11", "3.12", "3.13"]),
        ops in prop::collection::vec(op(), 1..400),
    ) {
        // A threshold 0 for generation 0 turns automatic collection off, as in CPython.
        // 3.12 and 3.13 both collect at the eval breaker; 3.12 also after gc.disable().
        run(&config(thresholds, interpreter_objects, release), &ops, 1);
    }
}

/// Long runs of each sort at CPython's own thresholds and at small ones, so that every
/// generation collects many times and the 25% rule decides both ways.
#[test]
fn long_programs_follow_cpython_s_rules() {
    let pattern =
        [Op::Kept, Op::Garbage, Op::Dropped, Op::Kept, Op::ScalarTuple, Op::Garbage, Op::AtomicDict];
    let ops: Vec<Op> = (0..4_000).map(|i| pattern[i * 7 % 11 % pattern.len()].clone()).collect();
    for (thresholds, interpreter_objects) in [
        (vec![700, 10, 10], 11_000),
        (vec![3, 2, 2], 0),
        (vec![5, 3, 2, 2], 100),
        (vec![2, 2], 7),
        (vec![9], 0),
    ] {
        for release in ["3.11", "3.12", "3.13"] {
            let config = config(thresholds.clone(), interpreter_objects, release);
            run(&config, &ops, 997);
        }
    }
}
