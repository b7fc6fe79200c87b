//! Every collector against a reachability oracle.
//!
//! Random programs build object graphs — cycles included — mutate them and
//! drop references, while a model keeps the same graph. After each step the
//! heap must still hold every object the model can reach, with the same
//! contents and edges; after a collection, and at teardown, it must hold
//! nothing else — except what pure reference counting cannot free (objects
//! kept alive by garbage cycles), which must show up exactly in `leaked_bytes`.

use heaplab_core::object::list_resize;
use heaplab_core::{Heap, Kind, Obj};
use proptest::prelude::*;

mod common;
use common::{Frees, for_each_heap, for_each_heap_with};
use heaplab_gc::GcConfig;

/// One step of a random program. Indices pick among the model's owned references, modulo their number.
#[derive(Clone, Debug)]
enum Op {
    Int(i64),
    Float(f64),
    Str(u8),
    Tuple(Vec<usize>),
    List(usize),
    Instance(u8),
    Append(usize, usize),
    SetSlot(usize, u8, Option<usize>),
    SetItem(usize, usize, usize),
    Pop(usize),
    Borrow(usize, usize),
    Retain(usize),
    Release(usize),
    Collect,
    Dict,
    DictSet(usize, usize, usize),
    DictDel(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => any::<i64>().prop_map(Op::Int),
        1 => (-1e9f64..1e9).prop_map(Op::Float),
        1 => (0u8..40).prop_map(Op::Str),
        1 => prop::collection::vec(any::<usize>(), 0..4).prop_map(Op::Tuple),
        1 => (0usize..6).prop_map(Op::List),
        1 => (0u8..4).prop_map(Op::Instance),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Append(a, b)),
        1 => (any::<usize>(), any::<u8>(), prop::option::of(any::<usize>())).prop_map(|(a, s, b)| Op::SetSlot(a, s, b)),
        1 => (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(a, i, b)| Op::SetItem(a, i, b)),
        1 => any::<usize>().prop_map(Op::Pop),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, i)| Op::Borrow(a, i)),
        1 => any::<usize>().prop_map(Op::Retain),
        4 => any::<usize>().prop_map(Op::Release),
        1 => Just(Op::Collect),
        1 => Just(Op::Dict),
        2 => (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(d, k, v)| Op::DictSet(d, k, v)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(d, k)| Op::DictDel(d, k)),
    ]
}

/// What the model knows of one object.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Int(i64),
    Float(u64),
    Str(String),
    Refs(Kind, Vec<Option<usize>>),
    /// A dict's (key, value) entries in insertion order.
    Dict(Vec<(usize, usize)>),
}

/// The model: objects by id, the heap's handle for each, and the workload's owned references.
#[derive(Default)]
struct Model {
    values: Vec<Value>,
    handles: Vec<Obj>,
    owned: Vec<usize>,
}

impl Model {
    fn add(&mut self, obj: Obj, value: Value) {
        self.values.push(value);
        self.handles.push(obj);
        self.owned.push(self.values.len() - 1);
    }

    fn pick(&self, index: usize) -> Option<usize> {
        (!self.owned.is_empty()).then(|| self.owned[index % self.owned.len()])
    }

    fn children(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        let (refs, entries) = match &self.values[id] {
            Value::Refs(_, refs) => (refs.as_slice(), &[][..]),
            Value::Dict(entries) => (&[][..], entries.as_slice()),
            _ => (&[][..], &[][..]),
        };
        refs.iter().flatten().copied().chain(entries.iter().flat_map(|&(k, v)| [k, v]))
    }

    /// Ids reachable from the owned references.
    fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.values.len()];
        let mut stack: Vec<usize> = self.owned.clone();
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut seen[id], true) {
                stack.extend(self.children(id));
            }
        }
        seen
    }

    /// Ids that pure reference counting keeps: repeatedly drop what nothing counts.
    fn refcount_survivors(&self, freed: &[bool]) -> Vec<bool> {
        let n = self.values.len();
        let mut alive: Vec<bool> = freed.iter().map(|f| !f).collect();
        let mut counts = vec![0usize; n];
        for &id in &self.owned {
            counts[id] += 1;
        }
        for id in (0..n).filter(|&id| alive[id]) {
            for child in self.children(id) {
                counts[child] += 1;
            }
        }
        let mut stack: Vec<usize> = (0..n).filter(|&id| alive[id] && counts[id] == 0).collect();
        while let Some(id) = stack.pop() {
            alive[id] = false;
            for child in self.children(id) {
                counts[child] -= 1;
                if counts[child] == 0 && alive[child] {
                    stack.push(child);
                }
            }
        }
        alive
    }

    /// Whether two objects are the same dict key: identity, or equal ints or strs.
    fn same_key(&self, a: usize, b: usize) -> bool {
        match (&self.values[a], &self.values[b]) {
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x == y,
            _ => a == b,
        }
    }
}

/// Checks that every reachable object is intact in the heap.
fn check_reachable(heap: &dyn Heap, model: &Model, reachable: &[bool]) {
    for (id, _) in reachable.iter().enumerate().filter(|(_, r)| **r) {
        let obj = model.handles[id];
        match &model.values[id] {
            Value::Int(v) => assert_eq!(heap.int_value(obj), *v),
            Value::Float(bits) => assert_eq!(heap.float_value(obj).to_bits(), *bits),
            Value::Str(s) => assert_eq!(heap.str_bytes(obj), s.as_bytes()),
            Value::Dict(entries) => {
                let expected: Vec<(Obj, Obj)> =
                    entries.iter().map(|&(k, v)| (model.handles[k], model.handles[v])).collect();
                assert_eq!(heap.dict_items(obj), expected, "dict items");
            }
            Value::Refs(kind, refs) => {
                assert_eq!(heap.kind(obj), *kind);
                assert_eq!(heap.len(obj), refs.len());
                for (index, child) in refs.iter().enumerate() {
                    assert_eq!(
                        heap.get(obj, index),
                        child.map(|c| model.handles[c]),
                        "edge {index} of {kind:?}"
                    );
                }
            }
        }
    }
}

fn step(heap: &mut dyn Heap, model: &mut Model, op: &Op) {
    match op {
        Op::Int(v) => {
            let obj = heap.int(*v);
            model.add(obj, Value::Int(*v));
        }
        Op::Float(f) => {
            let obj = heap.float(*f);
            model.add(obj, Value::Float(f.to_bits()));
        }
        Op::Str(n) => {
            let text: String = (0..*n).map(|i| char::from(b'a' + i % 26)).collect();
            let obj = heap.str(&text);
            model.add(obj, Value::Str(text));
        }
        Op::Tuple(picks) => {
            let ids: Vec<usize> = picks.iter().filter_map(|&p| model.pick(p)).collect();
            let items: Vec<Obj> = ids.iter().map(|&id| model.handles[id]).collect();
            let obj = heap.tuple(&items);
            model.add(obj, Value::Refs(Kind::Tuple, ids.into_iter().map(Some).collect()));
        }
        Op::List(capacity) => {
            let obj = heap.list(*capacity);
            model.add(obj, Value::Refs(Kind::List, Vec::new()));
        }
        Op::Instance(slots) => {
            let obj = heap.instance(usize::from(*slots));
            model.add(obj, Value::Refs(Kind::Instance, vec![None; usize::from(*slots)]));
        }
        Op::Append(a, b) => {
            let (Some(list), Some(item)) = (model.pick(*a), model.pick(*b)) else { return };
            if let Value::Refs(Kind::List, refs) = &mut model.values[list] {
                refs.push(Some(item));
                heap.append(model.handles[list], model.handles[item]);
            }
        }
        Op::SetSlot(a, slot, b) => {
            let Some(target) = model.pick(*a) else { return };
            let item = b.and_then(|b| model.pick(b));
            if let Value::Refs(Kind::Instance, refs) = &mut model.values[target]
                && !refs.is_empty()
            {
                let index = usize::from(*slot) % refs.len();
                refs[index] = item;
                heap.set(model.handles[target], index, item.map(|i| model.handles[i]));
            }
        }
        Op::SetItem(a, i, b) => {
            let (Some(target), Some(item)) = (model.pick(*a), model.pick(*b)) else { return };
            if let Value::Refs(Kind::List, refs) = &mut model.values[target]
                && !refs.is_empty()
            {
                let index = i % refs.len();
                refs[index] = Some(item);
                heap.set(model.handles[target], index, Some(model.handles[item]));
            }
        }
        Op::Pop(a) => {
            let Some(list) = model.pick(*a) else { return };
            if let Value::Refs(Kind::List, refs) = &mut model.values[list] {
                let expected = refs.pop().flatten();
                let got = heap.pop(model.handles[list]);
                assert_eq!(got, expected.map(|id| model.handles[id]));
                if let Some(id) = expected {
                    model.owned.push(id);
                }
            }
        }
        Op::Borrow(a, i) => {
            let Some(container) = model.pick(*a) else { return };
            if let Value::Refs(_, refs) = &model.values[container]
                && !refs.is_empty()
                && let Some(child) = refs[i % refs.len()]
            {
                heap.retain(model.handles[child]);
                model.owned.push(child);
            }
        }
        Op::Retain(a) => {
            let Some(id) = model.pick(*a) else { return };
            heap.retain(model.handles[id]);
            model.owned.push(id);
        }
        Op::Release(a) => {
            if model.owned.is_empty() {
                return;
            }
            let id = model.owned.swap_remove(a % model.owned.len());
            heap.release(model.handles[id]);
        }
        Op::Collect => heap.collect(),
        Op::Dict => {
            let obj = heap.dict();
            model.add(obj, Value::Dict(Vec::new()));
        }
        Op::DictSet(d, k, v) => {
            let (Some(dict), Some(key), Some(value)) = (model.pick(*d), model.pick(*k), model.pick(*v))
            else {
                return;
            };
            let Value::Dict(entries) = &model.values[dict] else { return };
            let at = entries.iter().position(|&(old, _)| model.same_key(old, key));
            let Value::Dict(entries) = &mut model.values[dict] else { return };
            match at {
                Some(at) => entries[at].1 = value,
                None => entries.push((key, value)),
            }
            heap.dict_set(model.handles[dict], model.handles[key], model.handles[value]);
        }
        Op::DictDel(d, k) => {
            let (Some(dict), Some(key)) = (model.pick(*d), model.pick(*k)) else { return };
            let Value::Dict(entries) = &model.values[dict] else { return };
            let at = entries.iter().position(|&(old, _)| model.same_key(old, key));
            let Value::Dict(entries) = &mut model.values[dict] else { return };
            if let Some(at) = at {
                entries.remove(at);
            }
            assert_eq!(heap.dict_del(model.handles[dict], model.handles[key]), at.is_some());
        }
    }
}

/// Runs a program on one heap and checks it against the model.
///
/// With `automatic` collections possible between explicit ones (tiny thresholds or budgets),
/// the objects held after a step lie between what the model can reach and what reference
/// counting alone would keep; with the defaults and short programs no automatic collection
/// runs, so the count is exact after every step.
fn run_program(heap: &mut dyn Heap, ops: &[Op], expect: Frees, automatic: bool) -> heaplab_core::HeapStats {
    let mut model = Model::default();
    let mut freed: Vec<bool> = Vec::new();
    for op in ops {
        step(heap, &mut model, op);
        freed.resize(model.values.len(), false);
        let reachable = model.reachable();
        check_reachable(heap, &model, &reachable);
        let collected = matches!(op, Op::Collect);
        let live = heap.stats().live_objects;
        let count = |set: &[bool]| set.iter().filter(|s| **s).count() as u64;
        if collected && expect != Frees::AtZero {
            assert_eq!(live, count(&reachable), "live objects after a full collection");
            for (id, alive) in reachable.iter().enumerate() {
                freed[id] = !alive;
            }
            continue;
        }
        let upper = match expect {
            Frees::AtZero | Frees::AtZeroAndCycles => model.refcount_survivors(&freed),
            Frees::Unreachable => freed.iter().map(|f| !f).collect(),
        };
        if automatic && expect != Frees::AtZero {
            // An automatic collection may have freed some of the garbage (and `freed` does not
            // know which), never anything reachable: `upper` is still an upper bound, as
            // freeing more only lowers counts.
            assert!(
                (count(&reachable)..=count(&upper)).contains(&live),
                "{live} live objects after {op:?}: outside {}..={}",
                count(&reachable),
                count(&upper)
            );
        } else if expect != Frees::Unreachable {
            assert_eq!(live, count(&upper), "live objects after {op:?}");
            for (id, alive) in upper.iter().enumerate() {
                freed[id] = !alive;
            }
        }
    }
    // Teardown: the workload gives back everything it owns.
    for id in std::mem::take(&mut model.owned) {
        heap.release(model.handles[id]);
    }
    let leaked_objects = match expect {
        Frees::AtZero => model.refcount_survivors(&freed).iter().filter(|s| **s).count() as u64,
        Frees::Unreachable | Frees::AtZeroAndCycles => 0,
    };
    let live_bytes_before_finish = heap.stats().live_bytes;
    let (stats, _) = heap.finish();
    assert_eq!(stats.leaked_objects, leaked_objects, "leaked objects");
    assert_eq!(stats.live_objects, leaked_objects, "objects still held at teardown");
    if expect == Frees::AtZero {
        // Pure refcount frees nothing at teardown: what the workload left is what leaked.
        assert_eq!(stats.leaked_bytes, live_bytes_before_finish, "leaked bytes");
    }
    if leaked_objects == 0 {
        assert_eq!(stats.leaked_bytes, 0, "leaked bytes with nothing leaked");
    } else {
        assert!(stats.leaked_bytes >= 16 * leaked_objects, "at least a header per leaked object");
    }
    stats
}

/// Configurations that make automatic collections happen in short programs: every
/// generation's threshold tiny (so young collections, promotions, references from older
/// generations into younger ones and the 25% rule all come into play), no interpreter objects
/// (so the 25% rule lets full collections through), and a mark-sweep budget of a few bytes.
fn tiny_configs() -> Vec<GcConfig> {
    [[1, 1, 1], [2, 1, 1], [1, 2, 1], [3, 2, 2], [5, 1, 3], [1, 1, 100]]
        .into_iter()
        .enumerate()
        .map(|(i, thresholds)| GcConfig {
            thresholds: thresholds.to_vec(),
            interpreter_objects: if i % 2 == 0 { 0 } else { 20 },
            min_budget_bytes: 16 << i,
            growth: 1.1 + 0.25 * i as f64,
            // Releases that collect in the allocation and at the eval breaker, and both str sizes.
            version: heaplab_core::version::find(["3.8", "3.12", "3.11", "3.13", "3.9", "3.12"][i]).unwrap(),
            // CPython's free lists, and none (`--set COLLECTOR.free-lists=off`).
            free_lists: i % 3 != 2,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn collectors_agree_with_the_reachability_oracle(ops in prop::collection::vec(op(), 1..160)) {
        for_each_heap(|heap, expect| { run_program(heap, &ops, expect, false); });
    }

    #[test]
    fn collectors_with_tiny_thresholds_agree_with_the_oracle(
        ops in prop::collection::vec(op(), 1..600),
        config in 0usize..6,
    ) {
        let config = &tiny_configs()[config];
        // Fewer explicit collections, so that automatic ones have room to run.
        let ops: Vec<Op> = ops.iter().enumerate()
            .filter(|(i, op)| !matches!(op, Op::Collect) || i % 8 == 0)
            .map(|(_, op)| op.clone())
            .collect();
        for_each_heap_with(config, |heap, expect| { run_program(heap, &ops, expect, true); });
    }
}

/// The tiny configurations do what the oracle test relies on: with every threshold at 1, a
/// program that keeps some containers and drops cycles runs collections of every generation,
/// frees the garbage cycles in young collections, and keeps what is held.
#[test]
fn tiny_thresholds_run_young_collections_of_every_generation() {
    let config = &tiny_configs()[0];
    common::with_heap("cycle", config.clone(), |heap| {
        let holder = heap.list(0);
        for _ in 0..200 {
            let kept = heap.list(0);
            heap.append(holder, kept);
            heap.release(kept);
            let (a, b) = (heap.instance(1), heap.instance(1));
            heap.set(a, 0, Some(b));
            heap.set(b, 0, Some(a));
            heap.release(a);
            heap.release(b);
        }
        let by_gen = heap.stats().collections_by_gen;
        assert!(by_gen.iter().all(|&n| n > 0), "collections per generation: {by_gen:?}");
        assert!(heap.stats().live_objects < 201 + 2 * 200, "young collections freed garbage cycles");
        assert_eq!(heap.len(holder), 200);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 201, "the holder and its lists");
        heap.release(holder);
        assert_eq!(heap.stats().live_objects, 0);
    });
}

#[test]
fn a_ring_leaks_under_refcount_only() {
    for_each_heap(|heap, expect| {
        let ring: Vec<Obj> = (0..10).map(|_| heap.instance(1)).collect();
        for (i, &node) in ring.iter().enumerate() {
            heap.set(node, 0, Some(ring[(i + 1) % ring.len()]));
        }
        for node in ring {
            heap.release(node);
        }
        let (stats, _) = heap.finish();
        let expected = if expect == Frees::AtZero { 10 } else { 0 };
        assert_eq!(stats.leaked_objects, expected, "{}", heap.collector());
        assert_eq!(stats.leaked_bytes, expected * 24, "{}", heap.collector());
    });
}

#[test]
fn a_list_nested_a_million_deep_frees_without_recursion() {
    common::for_each_collector(|heap| {
        let mut outer = heap.list(0);
        for _ in 0..1_000_000 {
            let wrapper = heap.list(1);
            heap.append(wrapper, outer);
            heap.release(outer);
            outer = wrapper;
        }
        heap.release(outer);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0, "{}", heap.collector());
        assert_eq!(heap.stats().live_bytes, 0, "{}", heap.collector());
    });
}

#[test]
fn list_buffers_grow_as_cpython_s_and_count_bytes() {
    for_each_heap(|heap, _| {
        let list = heap.list(0);
        let item = heap.int(7);
        let base = heap.stats().live_bytes;
        for _ in 0..5 {
            heap.append(list, item);
        }
        // Five appends from empty: capacity 8 (4, then 8), 64 bytes of items.
        assert_eq!(heap.stats().live_bytes - base, 64);
        for _ in 0..5 {
            let popped = heap.pop(list).expect("five items");
            heap.release(popped);
        }
        assert_eq!(heap.pop(list), None);
        assert_eq!(heap.len(list), 0);
        heap.release(item);
        heap.release(list);

        // A preallocated list is filled in place.
        let list = heap.list(100);
        let item = heap.int(7);
        let base = heap.stats().live_bytes;
        for _ in 0..100 {
            heap.append(list, item);
        }
        assert_eq!(heap.stats().live_bytes, base);
        heap.append(list, item);
        assert_eq!(heap.stats().live_bytes - base, (list_resize(100, 100, 101).unwrap() - 100) as u64 * 8);
        heap.release(item);
        heap.release(list);
    });
}

#[test]
#[should_panic(expected = "use of a freed float")]
#[cfg(debug_assertions)]
fn a_double_release_fails_loudly_in_debug_builds() {
    common::refcount_heap(|heap| {
        let f = heap.float(1.0);
        heap.release(f);
        heap.release(f);
    });
}
