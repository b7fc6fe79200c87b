//! Trace mode (`HEAPLAB_TRACE=FILE`): every allocation call, recorded in the
//! format of `heaplab_core::trace`.
//!
//! - **Files.** Every process writes `FILE.<pid>`: the traced command, each
//!   `fork` child (whose trace starts empty at the fork, with its parent's pid
//!   in the header), and each program it `exec`s (which keeps the pid, and so
//!   replaces the pre-`exec` trace, which has no end chunk since `exec` runs no
//!   destructor). `cargo xtask trace -o FILE` renames the command's own file to
//!   `FILE` and lists the others.
//! - **Ids.** A dense id is given at allocation — a freed id first, newest
//!   first, so ids stay below the peak number of live blocks — and found again
//!   on free through an open-addressing hash table (linear probing, backward
//!   shift deletion) in memory from `mmap`, never from `malloc`.
//! - **Threads.** Each thread gets a small index on its first call (a
//!   thread-local without destructor, in the static TLS block of a preloaded
//!   library, so reading it never allocates).
//! - **Order and locking.** One spinlock guards the buffer, the table and the
//!   ids; the order of records is the order in which calls took effect: a
//!   free is recorded before the block goes back to the allocator, an
//!   allocation after it is made, so an address is never live twice in the
//!   table.
//! - **Writes.** Records are buffered in a static 64 KiB buffer and written
//!   with `write(2)` one chunk at a time. The end chunk is written at exit (a
//!   `.fini_array` destructor) and by `_exit`; calls made after it (the last
//!   destructors of other libraries) are not recorded. A process killed by a
//!   signal leaves a file without an end chunk, which the reader refuses as
//!   truncated.
//! - **Fork.** The child's handler drops what the parent had buffered (the
//!   parent writes it), empties the table and the ids, closes the parent's file
//!   and opens the child's own. The lock is reset rather than taken across
//!   the fork, so no handler ever waits for it.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use heaplab_core::trace::{
    CHUNK_HEADER_LEN, HEADER_LEN, MAX_END_LEN, MAX_RECORD_LEN, Op, TAG_END, TAG_EVENTS, encode_chunk_header,
    encode_end, encode_event, encode_header,
};

/// Bytes of the record buffer, chunk header included.
const BUF_LEN: usize = 64 * 1024;
/// The longest `FILE` accepted, with room for `.<pid>` and the NUL.
const PATH_MAX: usize = 4096;
/// Slots of the table at start (it doubles at half full).
const INITIAL_SLOTS: usize = 1 << 16;
/// log2 of the slots of one page's window (see `Table::home`); the table has more.
const WINDOW_BITS: u32 = 8;
/// Free ids the stack holds at start (it doubles when full).
const INITIAL_FREE_IDS: usize = 1 << 14;

/// Everything the lock guards.
struct Tracer {
    /// The open trace file, or -1.
    fd: c_int,
    /// `FILE` from the environment, NUL-terminated.
    path: [u8; PATH_MAX],
    path_len: usize,
    /// The chunk being filled: its header's room, then records.
    buf: [u8; BUF_LEN],
    len: usize,
    count: u32,
    /// Events in the whole trace.
    total: u64,
    table: Table,
    free_ids: IdStack,
    /// Ids given so far (every id is below it).
    n_ids: u32,
    foreign_frees: u64,
}

/// The tracer behind its spinlock.
struct Locked {
    lock: AtomicBool,
    tracer: UnsafeCell<Tracer>,
}

// SAFETY: the tracer is only reached through `with`, which holds the spinlock.
unsafe impl Sync for Locked {}

static TRACER: Locked = Locked {
    lock: AtomicBool::new(false),
    tracer: UnsafeCell::new(Tracer {
        fd: -1,
        path: [0; PATH_MAX],
        path_len: 0,
        buf: [0; BUF_LEN],
        len: CHUNK_HEADER_LEN,
        count: 0,
        total: 0,
        table: Table::EMPTY,
        free_ids: IdStack::EMPTY,
        n_ids: 0,
        foreign_frees: 0,
    }),
};

/// Trace mode is on and the end chunk is not written yet.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Thread indexes given so far.
static THREADS: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// This thread's index plus one; 0 until its first traced call.
    static THREAD: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` on the tracer under the spinlock.
fn with<R>(f: impl FnOnce(&mut Tracer) -> R) -> R {
    let mut spins = 0u32;
    while TRACER.lock.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
    }
    // SAFETY: holding the lock makes this the only reference to the tracer.
    let result = f(unsafe { &mut *TRACER.tracer.get() });
    TRACER.lock.store(false, Ordering::Release);
    result
}

/// Writes `message` to stderr (no allocation, no formatting).
pub fn say(message: &[u8]) {
    // SAFETY: the buffer is valid for its length; a failed write to stderr is ignored.
    unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
}

/// This thread's index.
fn thread() -> u32 {
    THREAD.with(|cell| {
        let index = cell.get();
        if index != 0 {
            return index - 1;
        }
        let index = THREADS.fetch_add(1, Ordering::Relaxed);
        cell.set(index + 1);
        index
    })
}

/// Called once, during initialisation: reads `HEAPLAB_TRACE` and opens the
/// file. Whether trace mode is on.
pub fn start() -> bool {
    // SAFETY: a NUL-terminated literal; getenv does not allocate.
    let value = unsafe { libc::getenv(c"HEAPLAB_TRACE".as_ptr()) };
    if value.is_null() {
        return false;
    }
    // SAFETY: getenv returned a NUL-terminated string that lives as long as the environment.
    let value = unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes();
    if value.is_empty() {
        return false;
    }
    if value.len() + 24 > PATH_MAX {
        say(b"heaplab-preload: HEAPLAB_TRACE is too long a path; not tracing\n");
        return false;
    }
    let opened = with(|tracer| {
        tracer.path[..value.len()].copy_from_slice(value);
        tracer.path_len = value.len();
        if !tracer.table.init(INITIAL_SLOTS) || !tracer.free_ids.init(INITIAL_FREE_IDS) {
            say(b"heaplab-preload: cannot map the trace tables; not tracing\n");
            return false;
        }
        tracer.open(0)
    });
    ACTIVE.store(opened, Ordering::Release);
    opened
}

/// Registers the fork handler; called once trace mode is on.
pub fn register_fork_handler() {
    // SAFETY: the handler is a plain function that stays mapped for the life of the process.
    let status = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    if status != 0 {
        say(b"heaplab-preload: pthread_atfork failed; fork children will not be traced\n");
    }
}

/// In a fork child: a trace of its own.
extern "C" fn after_fork_in_child() {
    if !ACTIVE.load(Ordering::Acquire) {
        return;
    }
    // The lock may have been held by a thread that does not exist here.
    TRACER.lock.store(false, Ordering::Release);
    let opened = with(|tracer| {
        if tracer.fd >= 0 {
            // SAFETY: the parent's descriptor, inherited; the child must not write to it.
            unsafe { libc::close(tracer.fd) };
            tracer.fd = -1;
        }
        tracer.len = CHUNK_HEADER_LEN;
        tracer.count = 0;
        tracer.total = 0;
        tracer.table.clear();
        tracer.free_ids.len = 0;
        tracer.n_ids = 0;
        tracer.foreign_frees = 0;
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        tracer.open(parent as u32)
    });
    ACTIVE.store(opened, Ordering::Release);
}

/// Records an allocation of `size` bytes at `ptr`.
pub fn on_alloc(op: Op, ptr: *mut c_void, size: u64, align_log2: u8) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let thread = thread();
    with(|tracer| {
        let id = tracer.new_id();
        tracer.table.insert(ptr as usize, id);
        tracer.emit(op, thread, id, size, align_log2);
    });
}

/// Records the free of `ptr` (before the block goes back).
pub fn on_free(ptr: *mut c_void) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let thread = thread();
    with(|tracer| match tracer.table.remove(ptr as usize) {
        Some(id) => {
            tracer.free_ids.push(id);
            tracer.emit(Op::Free, thread, id, 0, 0);
        }
        None => tracer.foreign_frees += 1,
    });
}

/// Before a realloc: removes `ptr` from the table; its id, if it was there.
pub fn take(ptr: *mut c_void) -> Option<u32> {
    if !ACTIVE.load(Ordering::Relaxed) {
        return None;
    }
    with(|tracer| tracer.table.remove(ptr as usize))
}

/// After a realloc of `old` (id `id`, from [`take`]) to `size` bytes, which gave `new`.
pub fn on_realloc(id: Option<u32>, old: *mut c_void, new: *mut c_void, size: u64) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let thread = thread();
    with(|tracer| match (id, new.is_null()) {
        // Failed: the old block is still live, under its id.
        (Some(id), true) => tracer.table.insert(old as usize, id),
        (None, true) => {}
        (Some(id), false) => {
            tracer.table.insert(new as usize, id);
            tracer.emit(Op::Realloc, thread, id, size, 0);
        }
        // A block the trace never saw made: it appears as a new one.
        (None, false) => {
            let id = tracer.new_id();
            tracer.table.insert(new as usize, id);
            tracer.emit(Op::Malloc, thread, id, size, 0);
        }
    });
}

/// Writes what is buffered and the end chunk, once; later calls are not recorded.
pub fn finish() {
    if ACTIVE.swap(false, Ordering::AcqRel) {
        with(|tracer| {
            tracer.flush();
            let mut end = [0u8; MAX_END_LEN];
            let n_threads = THREADS.load(Ordering::Relaxed).max(1);
            let n = encode_end(tracer.total, tracer.n_ids, n_threads, tracer.foreign_frees, &mut end);
            let header = encode_chunk_header(TAG_END, n as u32, 0);
            tracer.write_all(&header);
            tracer.write_all(&end[..n]);
            // SAFETY: the trace's descriptor, closed once (ACTIVE was true only once).
            unsafe { libc::close(tracer.fd) };
            tracer.fd = -1;
        });
    }
}

extern "C" fn finish_at_exit() {
    finish();
}

/// Runs at `exit`, after the program's own destructors and `atexit` handlers.
#[used]
#[unsafe(link_section = ".fini_array")]
static FINISH_AT_EXIT: extern "C" fn() = finish_at_exit;

impl Tracer {
    /// Opens `FILE.<pid>` and writes the header; whether it worked.
    fn open(&mut self, parent_pid: u32) -> bool {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() } as u32;
        let mut n = self.path_len;
        self.path[n] = b'.';
        n += 1;
        n += write_decimal(pid, &mut self.path[n..]);
        self.path[n] = 0;
        // SAFETY: the path is NUL-terminated (just written); open does not allocate.
        let fd = unsafe {
            libc::open(
                self.path.as_ptr().cast(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                0o644,
            )
        };
        if fd < 0 {
            say(b"heaplab-preload: cannot create the trace file (HEAPLAB_TRACE.<pid>); not tracing\n");
            return false;
        }
        self.fd = fd;
        let header = encode_header(pid, parent_pid);
        self.write_all(&header[..HEADER_LEN]);
        self.fd >= 0
    }

    fn new_id(&mut self) -> u32 {
        match self.free_ids.pop() {
            Some(id) => id,
            None => {
                self.n_ids += 1;
                self.n_ids - 1
            }
        }
    }

    #[inline]
    fn emit(&mut self, op: Op, thread: u32, id: u32, size: u64, align_log2: u8) {
        if self.len + MAX_RECORD_LEN > BUF_LEN {
            self.flush();
        }
        let record: &mut [u8; MAX_RECORD_LEN] =
            (&mut self.buf[self.len..self.len + MAX_RECORD_LEN]).try_into().expect("the record's room");
        self.len += encode_event(op, thread, id, size, align_log2, record);
        self.count += 1;
        self.total += 1;
    }

    /// Writes the chunk being filled, if it holds any record.
    fn flush(&mut self) {
        if self.count == 0 {
            return;
        }
        let header = encode_chunk_header(TAG_EVENTS, (self.len - CHUNK_HEADER_LEN) as u32, self.count);
        self.buf[..CHUNK_HEADER_LEN].copy_from_slice(&header);
        let len = self.len;
        self.len = CHUNK_HEADER_LEN;
        self.count = 0;
        write_all(&mut self.fd, &self.buf[..len]);
    }

    fn write_all(&mut self, bytes: &[u8]) {
        write_all(&mut self.fd, bytes);
    }
}

/// Writes all of `bytes` to `*fd`; on an error, says so, closes it and stops tracing.
fn write_all(fd: &mut c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() && *fd >= 0 {
        // SAFETY: the buffer is valid for its length.
        let written = unsafe { libc::write(*fd, bytes.as_ptr().cast(), bytes.len()) };
        if written > 0 {
            bytes = &bytes[written as usize..];
        } else if written < 0 && errno() == libc::EINTR {
            continue;
        } else {
            say(b"heaplab-preload: writing the trace failed; tracing stops\n");
            // SAFETY: our descriptor, closed once.
            unsafe { libc::close(*fd) };
            *fd = -1;
            ACTIVE.store(false, Ordering::Release);
        }
    }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

/// Writes `value` in decimal at the start of `out`; the digits written.
fn write_decimal(value: u32, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut rest = value;
    loop {
        digits[n] = b'0' + (rest % 10) as u8;
        n += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for (i, digit) in digits[..n].iter().rev().enumerate() {
        out[i] = *digit;
    }
    n
}

/// Anonymous memory for `bytes`, or null.
fn map(bytes: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED { std::ptr::null_mut() } else { ptr.cast() }
}

/// Gives back a mapping made by [`map`].
///
/// # Safety
/// `ptr` and `bytes` are those of one mapping from [`map`], no longer used.
unsafe fn unmap(ptr: *mut u8, bytes: usize) {
    // SAFETY: the caller's contract.
    unsafe { libc::munmap(ptr.cast(), bytes) };
}

/// One slot of the table: an address (0 for empty) and its id.
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    addr: usize,
    id: u32,
}

/// Address -> id, open addressing with linear probing, in mapped memory.
struct Table {
    slots: *mut Slot,
    /// A power of two.
    capacity: usize,
    len: usize,
}

impl Table {
    const EMPTY: Table = Table { slots: std::ptr::null_mut(), capacity: 0, len: 0 };

    fn init(&mut self, capacity: usize) -> bool {
        let slots = map(capacity * size_of::<Slot>()).cast::<Slot>();
        if slots.is_null() {
            return false;
        }
        *self = Table { slots, capacity, len: 0 };
        true
    }

    /// Where `addr` is looked for first. Blocks of one 4 KiB page stay within
    /// one 256-slot window (a slot per 16 bytes of the page, in address
    /// order), so that a program's locality is the table's: neighbouring
    /// blocks share cache lines of the table. The page picks the window
    /// through a multiplicative hash.
    #[inline]
    fn home(&self, addr: usize) -> usize {
        let window_bits = self.capacity.trailing_zeros() - WINDOW_BITS;
        let page = (addr >> 12) as u64;
        let window = (page.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - window_bits)) as usize;
        (window << WINDOW_BITS) | ((addr >> 4) & 0xff)
    }

    #[inline]
    fn slot(&mut self, index: usize) -> &mut Slot {
        debug_assert!(index < self.capacity);
        // SAFETY: index < capacity, and the mapping holds capacity slots (zeroed: empty).
        unsafe { &mut *self.slots.add(index) }
    }

    fn insert(&mut self, addr: usize, id: u32) {
        if (self.len + 1) * 2 > self.capacity && !self.grow() {
            say(b"heaplab-preload: cannot grow the trace table; tracing stops\n");
            ACTIVE.store(false, Ordering::Release);
            return;
        }
        let mask = self.capacity - 1;
        let mut index = self.home(addr);
        loop {
            let slot = self.slot(index);
            if slot.addr == 0 || slot.addr == addr {
                if slot.addr == 0 {
                    self.len += 1;
                }
                *self.slot(index) = Slot { addr, id };
                return;
            }
            index = (index + 1) & mask;
        }
    }

    fn remove(&mut self, addr: usize) -> Option<u32> {
        if self.capacity == 0 {
            return None;
        }
        let mask = self.capacity - 1;
        let mut index = self.home(addr);
        loop {
            let slot = *self.slot(index);
            if slot.addr == 0 {
                return None;
            }
            if slot.addr == addr {
                break;
            }
            index = (index + 1) & mask;
        }
        let id = self.slot(index).id;
        // Backward shift: move up every later entry of the run that may fill the hole.
        let mut hole = index;
        let mut next = index;
        loop {
            next = (next + 1) & mask;
            let entry = *self.slot(next);
            if entry.addr == 0 {
                break;
            }
            let home = self.home(entry.addr);
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                *self.slot(hole) = entry;
                hole = next;
            }
        }
        self.slot(hole).addr = 0;
        self.len -= 1;
        Some(id)
    }

    /// Doubles the table; false when no memory could be mapped.
    fn grow(&mut self) -> bool {
        let mut bigger = Table::EMPTY;
        if !bigger.init(self.capacity * 2) {
            return false;
        }
        for index in 0..self.capacity {
            let slot = *self.slot(index);
            if slot.addr != 0 {
                bigger.insert(slot.addr, slot.id);
            }
        }
        // SAFETY: the old mapping, made by `init` with this capacity, is no longer used.
        unsafe { unmap(self.slots.cast(), self.capacity * size_of::<Slot>()) };
        *self = bigger;
        true
    }

    fn clear(&mut self) {
        if self.capacity > 0 {
            // SAFETY: the mapping holds capacity slots; zero is an empty slot.
            unsafe { std::ptr::write_bytes(self.slots, 0, self.capacity) };
        }
        self.len = 0;
    }
}

/// The ids of freed blocks, in mapped memory.
struct IdStack {
    ids: *mut u32,
    capacity: usize,
    len: usize,
}

impl IdStack {
    const EMPTY: IdStack = IdStack { ids: std::ptr::null_mut(), capacity: 0, len: 0 };

    fn init(&mut self, capacity: usize) -> bool {
        let ids = map(capacity * size_of::<u32>()).cast::<u32>();
        if ids.is_null() {
            return false;
        }
        *self = IdStack { ids, capacity, len: 0 };
        true
    }

    fn push(&mut self, id: u32) {
        if self.len == self.capacity {
            let mut bigger = IdStack::EMPTY;
            if !bigger.init(self.capacity * 2) {
                // The id is not reused: ids grow, the trace stays right.
                return;
            }
            // SAFETY: both mappings hold at least len ids and do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(self.ids, bigger.ids, self.len) };
            // SAFETY: the old mapping, made by `init` with this capacity, is no longer used.
            unsafe { unmap(self.ids.cast(), self.capacity * size_of::<u32>()) };
            bigger.len = self.len;
            *self = bigger;
        }
        // SAFETY: len < capacity, within the mapping.
        unsafe { *self.ids.add(self.len) = id };
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: len < capacity, and the slot was written by push.
        Some(unsafe { *self.ids.add(self.len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_finds_what_it_holds_after_removals_and_growth() {
        let mut table = Table::EMPTY;
        assert!(table.init(1 << 10));
        let mut model = std::collections::HashMap::new();
        let mut x = 12345u64;
        for step in 0..20_000u32 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let addr = ((x >> 20) as usize % 3000 + 1) * 16;
            if x & 1 == 0 {
                if let std::collections::hash_map::Entry::Vacant(e) = model.entry(addr) {
                    e.insert(step);
                    table.insert(addr, step);
                }
            } else {
                assert_eq!(table.remove(addr), model.remove(&addr), "step {step}");
            }
            assert_eq!(table.len, model.len());
        }
        for (&addr, &id) in &model {
            assert_eq!(table.remove(addr), Some(id));
        }
        assert_eq!(table.len, 0);
    }

    #[test]
    fn ids_are_reused_newest_first() {
        let mut ids = IdStack::EMPTY;
        assert!(ids.init(2));
        for id in 0..10 {
            ids.push(id);
        }
        assert_eq!(ids.pop(), Some(9));
        assert_eq!(ids.pop(), Some(8));
        assert_eq!(ids.len, 8);
    }

    #[test]
    fn decimal() {
        let mut out = [0u8; 10];
        let n = write_decimal(4_294_967_295, &mut out);
        assert_eq!(&out[..n], b"4294967295");
        let n = write_decimal(0, &mut out);
        assert_eq!(&out[..n], b"0");
    }
}
