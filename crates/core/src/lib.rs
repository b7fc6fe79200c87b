//! heaplab-core: the two interfaces of heaplab and what they share.
//!
//! - [`Allocator`] (where bytes come from) and [`Heap`] (the collector over an
//!   allocator that object workloads see);
//! - [`object`]: Python's object kinds with CPython's 64-bit sizes;
//! - [`dict_layout`]: CPython's sizing rules for dicts, sets and `__dict__` instances, by version;
//! - [`probe`]: the RSS sampler, phases and pause events;
//! - [`record`]: the columns of `runs.csv` and the JSON record of one run;
//! - [`trace`]: the allocation-trace file format (reader and writer);
//! - [`version`]: the CPython releases the model follows, 3.8 to 3.14.
//!
//! This crate stays light: no plotting, no command line.

pub mod alloc;
pub mod dict_layout;
pub mod fault;
pub mod heap;
pub mod object;
pub mod probe;
pub mod program;
pub mod record;
pub mod trace;
pub mod version;
pub mod workload;

pub use alloc::{
    ALIGN, AllocStats, Allocator, ArenaStats, ArenaUse, Block, BlockAllocator, ClassStats, Counters,
    OutOfMemory, SharedAllocator, SharedBlockAllocator,
};
pub use heap::{Capabilities, Heap, HeapStats, Obj};
pub use object::Kind;
pub use probe::{PhaseLog, PhaseRecord, Probe, ProbeHandle, Snapshot};
pub use record::{Record, RunReport, Status};
pub use workload::{Checksum, Outcome, Params, Rng};
