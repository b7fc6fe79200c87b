//! Allocation traces: the file format the preload library writes
//! (`crates/preload`, `HEAPLAB_TRACE=FILE`) and `trace-replay` reads.
//!
//! A trace is every allocation call one process made, in the order the
//! calls took effect, with a compact id in place of each address.
//!
//! # Format, version 1
//!
//! All fixed-width integers are little-endian; a *varint* is unsigned
//! LEB128 (7 bits per byte, low bits first, high bit set on every byte but
//! the last; at most 10 bytes for a u64).
//!
//! **Header**, 24 bytes:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `HEAPLABT` |
//! | 8 | 4 | format version (u32), 1 |
//! | 12 | 4 | header length in bytes (u32), 24; a reader skips what it does not know |
//! | 16 | 4 | pid of the traced process (u32) |
//! | 20 | 4 | pid of its parent when the process is a `fork` child whose trace started at the fork, else 0 |
//!
//! **Chunks** follow, each a 9-byte chunk header — a tag (u8), the payload's
//! length in bytes (u32) and a count of events (u32) — then the payload:
//!
//! - tag 1, *events*: `count` records, exactly filling the payload;
//! - tag 2, *end*: count 0; the payload is four varints: the events in the
//!   whole trace, the number of ids used (every id is below it), the number
//!   of threads seen, and the frees of blocks the trace never saw allocated
//!   (left out of the trace: see below). The end chunk is the last thing in a
//!   complete file; a file without one is refused as truncated.
//!
//! **Records** start with one byte: the operation in bits 0–3, the thread in
//! bits 4–7 (threads 0–14; 15 means a varint with the thread follows). Then,
//! by operation:
//!
//! | op | name | fields | the call |
//! |---|---|---|---|
//! | 1 | malloc | id, size | `malloc(size)` |
//! | 2 | calloc | id, size | `calloc(n, m)` with `size = n * m` |
//! | 3 | realloc | id, size | `realloc` of live block `id` to `size`; the block keeps its id |
//! | 4 | free | id | `free` of live block `id` |
//! | 5 | aligned | id, size, log2 of the alignment (u8) | `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc` |
//!
//! Ids, sizes and threads are varints. An id names one live block: it is
//! given at allocation and may be given again once that block is freed, so
//! ids stay below the peak number of live blocks. Threads are small
//! indexes in the order the process's threads first allocated (0 is the
//! first).
//!
//! What is not recorded: failed calls (a null result), `free(NULL)`, and
//! calls on blocks the trace never saw allocated — in a `fork` child, whose
//! trace starts empty at the fork, the blocks inherited from the parent; a
//! `realloc` of one is recorded as a `malloc` of the new size. `realloc(p, 0)`
//! frees `p` (as glibc does) and is recorded as a free; `realloc(NULL, n)` is
//! a malloc.
//!
//! The reader checks every record: an id freed or resized must be live, an
//! id allocated must not be; a file that is truncated, foreign, of a newer
//! version or inconsistent is refused with an error naming the file and the
//! byte offset.
//!
//! The encoding functions ([`encode_header`], [`encode_event`],
//! [`encode_chunk_header`], [`encode_end`]) write into caller-provided
//! buffers and never allocate, so that the preload library can call them
//! from inside `malloc`.

use std::fmt;
use std::path::{Path, PathBuf};

/// The first eight bytes of every trace.
pub const MAGIC: [u8; 8] = *b"HEAPLABT";
/// The format version this module writes and the newest it reads.
pub const VERSION: u32 = 1;
/// Bytes in the header of version 1.
pub const HEADER_LEN: usize = 24;
/// Bytes in a chunk header: tag, payload length, event count.
pub const CHUNK_HEADER_LEN: usize = 9;
/// The tag of an events chunk.
pub const TAG_EVENTS: u8 = 1;
/// The tag of the end chunk.
pub const TAG_END: u8 = 2;
/// The most bytes one record takes: op byte, thread, id, size, alignment.
pub const MAX_RECORD_LEN: usize = 1 + 5 + 5 + 10 + 1;
/// The most bytes the end chunk's payload takes.
pub const MAX_END_LEN: usize = 4 * 10;
/// The most threads a trace may name (thread indexes are kept as u16).
pub const MAX_THREADS: u32 = 1 << 16;

/// An allocation call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// `malloc(size)`.
    Malloc = 1,
    /// `calloc(n, m)`, `size = n * m`.
    Calloc = 2,
    /// `realloc` of a live block to `size`.
    Realloc = 3,
    /// `free` of a live block.
    Free = 4,
    /// An aligned allocation: `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`.
    Aligned = 5,
}

impl Op {
    fn from_code(code: u8) -> Option<Op> {
        Some(match code {
            1 => Op::Malloc,
            2 => Op::Calloc,
            3 => Op::Realloc,
            4 => Op::Free,
            5 => Op::Aligned,
            _ => return None,
        })
    }

    /// The operation's name, as the format's table has it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Malloc => "malloc",
            Op::Calloc => "calloc",
            Op::Realloc => "realloc",
            Op::Free => "free",
            Op::Aligned => "aligned",
        }
    }

    /// Whether the call makes a new block.
    pub fn allocates(self) -> bool {
        matches!(self, Op::Malloc | Op::Calloc | Op::Aligned)
    }
}

/// One recorded call (16 bytes in memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// Bytes requested (0 for a free).
    pub size: u64,
    /// The block's compact id.
    pub id: u32,
    /// The calling thread's index.
    pub thread: u16,
    /// What was called.
    pub op: Op,
    /// log2 of the alignment asked for, for [`Op::Aligned`]; 0 otherwise.
    pub align_log2: u8,
}

impl Event {
    /// The alignment asked for: `1 << align_log2` for aligned calls, 0 for the others.
    pub fn alignment(&self) -> u64 {
        if self.op == Op::Aligned { 1u64 << self.align_log2 } else { 0 }
    }
}

/// A trace read from a file, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Trace {
    /// The file it was read from.
    pub path: PathBuf,
    /// The format version of the file.
    pub version: u32,
    /// The traced process.
    pub pid: u32,
    /// The parent, for a fork child whose trace began at the fork; else 0.
    pub parent_pid: u32,
    /// Every call, in order.
    pub events: Vec<Event>,
    /// Every id is below this.
    pub n_ids: u32,
    /// Threads that made calls.
    pub n_threads: u32,
    /// Frees of blocks allocated before the trace began (left out of `events`).
    pub foreign_frees: u64,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("path", &self.path)
            .field("pid", &self.pid)
            .field("events", &self.events.len())
            .field("n_ids", &self.n_ids)
            .field("n_threads", &self.n_threads)
            .finish_non_exhaustive()
    }
}

/// What a trace holds, in a few numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Calls recorded.
    pub calls: u64,
    /// `malloc` calls.
    pub mallocs: u64,
    /// `calloc` calls.
    pub callocs: u64,
    /// `realloc` calls.
    pub reallocs: u64,
    /// `free` calls.
    pub frees: u64,
    /// Aligned allocations.
    pub aligned: u64,
    /// Bytes requested by allocating calls and by reallocs (their new sizes).
    pub requested_bytes: u64,
    /// The most bytes live at once.
    pub peak_live_bytes: u64,
    /// The most blocks live at once.
    pub peak_live_blocks: u64,
    /// Blocks still live at the end.
    pub end_live_blocks: u64,
    /// Threads that made calls.
    pub threads: u32,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calls ({} malloc, {} calloc, {} realloc, {} free, {} aligned), {} bytes requested, \
             peak {} bytes in {} blocks, {} blocks live at exit, {} threads",
            self.calls,
            self.mallocs,
            self.callocs,
            self.reallocs,
            self.frees,
            self.aligned,
            self.requested_bytes,
            self.peak_live_bytes,
            self.peak_live_blocks,
            self.end_live_blocks,
            self.threads
        )
    }
}

impl Trace {
    /// Counts the calls and bytes.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary { threads: self.n_threads, ..Summary::default() };
        let mut live = vec![0u64; self.n_ids as usize];
        let mut live_bytes = 0u64;
        let mut live_blocks = 0u64;
        for event in &self.events {
            summary.calls += 1;
            let slot = &mut live[event.id as usize];
            match event.op {
                Op::Malloc | Op::Calloc | Op::Aligned => {
                    match event.op {
                        Op::Malloc => summary.mallocs += 1,
                        Op::Calloc => summary.callocs += 1,
                        _ => summary.aligned += 1,
                    }
                    summary.requested_bytes += event.size;
                    *slot = event.size;
                    live_bytes += event.size;
                    live_blocks += 1;
                }
                Op::Realloc => {
                    summary.reallocs += 1;
                    summary.requested_bytes += event.size;
                    live_bytes = live_bytes - *slot + event.size;
                    *slot = event.size;
                }
                Op::Free => {
                    summary.frees += 1;
                    live_bytes -= *slot;
                    *slot = 0;
                    live_blocks -= 1;
                }
            }
            summary.peak_live_bytes = summary.peak_live_bytes.max(live_bytes);
            summary.peak_live_blocks = summary.peak_live_blocks.max(live_blocks);
        }
        summary.end_live_blocks = live_blocks;
        summary
    }
}

/// Why a trace file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a valid trace.
    #[error("trace {path}: {what} at byte {offset}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

impl TraceError {
    /// The byte offset of the problem, for an invalid file.
    pub fn offset(&self) -> Option<u64> {
        match self {
            TraceError::Io { .. } => None,
            TraceError::Invalid { offset, .. } => Some(*offset),
        }
    }
}

/// Reads and checks the trace in `path`.
pub fn read_file(path: &Path) -> Result<Trace, TraceError> {
    let bytes = std::fs::read(path).map_err(|source| TraceError::Io { path: path.to_owned(), source })?;
    parse(&bytes, path)
}

/// Parses and checks a trace held in memory; `path` names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Trace, TraceError> {
    Parser { bytes, pos: 0, path }.trace()
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Parser<'_> {
    fn error(&self, offset: usize, what: impl Into<String>) -> TraceError {
        TraceError::Invalid { path: self.path.to_owned(), offset: offset as u64, what: what.into() }
    }

    fn truncated(&self, what: &str) -> TraceError {
        self.error(self.bytes.len(), format!("truncated: the file ends inside {what}"))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], TraceError> {
        if self.bytes.len() - self.pos < n {
            return Err(self.truncated(what));
        }
        let taken = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    fn u32(&mut self, what: &str) -> Result<u32, TraceError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("four bytes")))
    }

    /// A varint that must end before `limit`.
    fn varint(&mut self, limit: usize, what: &str) -> Result<u64, TraceError> {
        let start = self.pos;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            if self.pos >= limit {
                return Err(if limit == self.bytes.len() {
                    self.truncated(what)
                } else {
                    self.error(start, format!("{what} runs past the end of its chunk"))
                });
            }
            let byte = self.bytes[self.pos];
            self.pos += 1;
            if shift == 63 && byte > 1 {
                break;
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(start, format!("{what} is not a valid varint (over 64 bits)")))
    }

    fn trace(mut self) -> Result<Trace, TraceError> {
        if self.bytes.len() < MAGIC.len() || self.bytes[..MAGIC.len()] != MAGIC {
            if self.bytes.len() < MAGIC.len() && MAGIC.starts_with(self.bytes) {
                return Err(self.truncated("the header"));
            }
            return Err(self.error(0, "not a heaplab trace (no HEAPLABT magic)"));
        }
        self.pos = MAGIC.len();
        let version_at = self.pos;
        let version = self.u32("the header")?;
        if version == 0 {
            return Err(self.error(version_at, "format version 0 is not a version"));
        }
        if version > VERSION {
            return Err(self.error(
                version_at,
                format!("format version {version} is newer than this heaplab reads (version {VERSION})"),
            ));
        }
        let header_len_at = self.pos;
        let header_len = self.u32("the header")? as usize;
        if header_len < HEADER_LEN {
            return Err(
                self.error(header_len_at, format!("header length {header_len} is below {HEADER_LEN}"))
            );
        }
        let pid = self.u32("the header")?;
        let parent_pid = self.u32("the header")?;
        self.take(header_len - HEADER_LEN, "the header")?;

        let mut events = Vec::new();
        let mut live: Vec<bool> = Vec::new();
        let mut n_threads = 0u32;
        loop {
            if self.pos == self.bytes.len() {
                return Err(self.error(
                    self.pos,
                    "truncated: no end chunk (the traced process did not exit normally, or the file was cut)",
                ));
            }
            let chunk_at = self.pos;
            let header = self.take(CHUNK_HEADER_LEN, "a chunk header")?;
            let tag = header[0];
            let len = u32::from_le_bytes(header[1..5].try_into().expect("four bytes")) as usize;
            let count = u32::from_le_bytes(header[5..9].try_into().expect("four bytes"));
            let payload_at = self.pos;
            let end = payload_at.checked_add(len).filter(|&end| end <= self.bytes.len());
            let Some(end) = end else {
                return Err(self.error(
                    self.bytes.len(),
                    format!(
                        "truncated: the chunk at byte {chunk_at} declares {len} bytes, the file ends first"
                    ),
                ));
            };
            match tag {
                TAG_EVENTS => {
                    for _ in 0..count {
                        let event = self.record(end)?;
                        let id = event.id as usize;
                        if id >= live.len() {
                            live.resize(id + 1, false);
                        }
                        let was_live = live[id];
                        let now_live = event.op != Op::Free;
                        if event.op.allocates() == was_live {
                            let state = if was_live { "live" } else { "not live" };
                            return Err(self.error(
                                self.pos,
                                format!(
                                    "inconsistent record: {} of id {} which is {state}",
                                    event.op.name(),
                                    event.id
                                ),
                            ));
                        }
                        live[id] = now_live;
                        n_threads = n_threads.max(u32::from(event.thread) + 1);
                        events.push(event);
                    }
                    if self.pos != end {
                        return Err(self.error(
                            self.pos,
                            format!("the chunk at byte {chunk_at} has bytes after its {count} records"),
                        ));
                    }
                }
                TAG_END => {
                    let total = self.varint(end, "the end chunk")?;
                    let n_ids = self.varint(end, "the end chunk")?;
                    let threads = self.varint(end, "the end chunk")?;
                    let foreign_frees = self.varint(end, "the end chunk")?;
                    if total != events.len() as u64 {
                        return Err(self.error(
                            payload_at,
                            format!("the end chunk counts {total} events, the file holds {}", events.len()),
                        ));
                    }
                    if n_ids < live.len() as u64 || n_ids > u64::from(u32::MAX) {
                        return Err(
                            self.error(payload_at, format!("the end chunk's id count {n_ids} is wrong"))
                        );
                    }
                    if threads < u64::from(n_threads) || threads > u64::from(MAX_THREADS) {
                        return Err(self
                            .error(payload_at, format!("the end chunk's thread count {threads} is wrong")));
                    }
                    self.pos = end;
                    if self.pos != self.bytes.len() {
                        return Err(self.error(self.pos, "bytes after the end chunk"));
                    }
                    return Ok(Trace {
                        path: self.path.to_owned(),
                        version,
                        pid,
                        parent_pid,
                        events,
                        n_ids: n_ids as u32,
                        n_threads: threads as u32,
                        foreign_frees,
                    });
                }
                other => return Err(self.error(chunk_at, format!("unknown chunk tag {other}"))),
            }
        }
    }

    fn record(&mut self, end: usize) -> Result<Event, TraceError> {
        let at = self.pos;
        if at >= end {
            return Err(self.error(at, "the chunk ends before its last record"));
        }
        let first = self.bytes[at];
        self.pos += 1;
        let op = Op::from_code(first & 0x0f)
            .ok_or_else(|| self.error(at, format!("unknown operation {} in a record", first & 0x0f)))?;
        let thread = match first >> 4 {
            15 => self.varint(end, "a record")?,
            inline => u64::from(inline),
        };
        if thread >= u64::from(MAX_THREADS) {
            return Err(
                self.error(at, format!("thread {thread} is beyond the {MAX_THREADS} a trace may name"))
            );
        }
        let id = self.varint(end, "a record")?;
        let id = u32::try_from(id).map_err(|_| self.error(at, format!("id {id} is over 32 bits")))?;
        let size = if op == Op::Free { 0 } else { self.varint(end, "a record")? };
        let align_log2 = if op == Op::Aligned {
            if self.pos >= end {
                return Err(self.error(self.pos, "a record runs past the end of its chunk"));
            }
            let log2 = self.bytes[self.pos];
            self.pos += 1;
            if log2 > 63 {
                return Err(self.error(at, format!("alignment 2^{log2} is not a valid alignment")));
            }
            log2
        } else {
            0
        };
        Ok(Event { size, id, thread: thread as u16, op, align_log2 })
    }
}

/// Writes `value` as a varint at the start of `out`; returns the bytes written (at most 10).
#[inline]
pub fn encode_varint(mut value: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    while value >= 0x80 {
        out[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    out[n] = value as u8;
    n + 1
}

/// The header of a trace of process `pid` (`parent_pid` 0 unless a fork child).
pub fn encode_header(pid: u32, parent_pid: u32) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    header[16..20].copy_from_slice(&pid.to_le_bytes());
    header[20..24].copy_from_slice(&parent_pid.to_le_bytes());
    header
}

/// A chunk header: `tag`, the payload's length, the events in it.
pub fn encode_chunk_header(tag: u8, payload_len: u32, count: u32) -> [u8; CHUNK_HEADER_LEN] {
    let mut header = [0u8; CHUNK_HEADER_LEN];
    header[0] = tag;
    header[1..5].copy_from_slice(&payload_len.to_le_bytes());
    header[5..9].copy_from_slice(&count.to_le_bytes());
    header
}

/// Encodes one record at the start of `out`; returns its length.
///
/// `thread` is the full thread index (the record's byte escapes it above 14).
#[inline]
pub fn encode_event(
    op: Op,
    thread: u32,
    id: u32,
    size: u64,
    align_log2: u8,
    out: &mut [u8; MAX_RECORD_LEN],
) -> usize {
    let mut n = 1;
    if thread < 15 {
        out[0] = op as u8 | (thread as u8) << 4;
    } else {
        out[0] = op as u8 | 0xf0;
        n += encode_varint(u64::from(thread), &mut out[n..]);
    }
    n += encode_varint(u64::from(id), &mut out[n..]);
    if op != Op::Free {
        n += encode_varint(size, &mut out[n..]);
    }
    if op == Op::Aligned {
        out[n] = align_log2;
        n += 1;
    }
    n
}

/// The end chunk's payload; returns its length.
pub fn encode_end(
    total_events: u64,
    n_ids: u32,
    n_threads: u32,
    foreign_frees: u64,
    out: &mut [u8; MAX_END_LEN],
) -> usize {
    let mut n = 0;
    for value in [total_events, u64::from(n_ids), u64::from(n_threads), foreign_frees] {
        n += encode_varint(value, &mut out[n..]);
    }
    n
}

/// Builds a trace in memory, for tests and tools: ids are given as the
/// preload library gives them (freed ids reused, newest first).
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
    chunk: Vec<u8>,
    chunk_events: u32,
    total: u64,
    free_ids: Vec<u32>,
    n_ids: u32,
    n_threads: u32,
}

impl Writer {
    /// Events per chunk the writer makes.
    const CHUNK_EVENTS: u32 = 4096;

    /// A trace of process `pid`.
    pub fn new(pid: u32, parent_pid: u32) -> Writer {
        Writer { out: encode_header(pid, parent_pid).to_vec(), ..Writer::default() }
    }

    fn push(&mut self, op: Op, thread: u32, id: u32, size: u64, align_log2: u8) {
        let mut record = [0u8; MAX_RECORD_LEN];
        let n = encode_event(op, thread, id, size, align_log2, &mut record);
        self.chunk.extend_from_slice(&record[..n]);
        self.chunk_events += 1;
        self.total += 1;
        self.n_threads = self.n_threads.max(thread + 1);
        if self.chunk_events == Self::CHUNK_EVENTS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.chunk_events > 0 {
            let header = encode_chunk_header(TAG_EVENTS, self.chunk.len() as u32, self.chunk_events);
            self.out.extend_from_slice(&header);
            self.out.append(&mut self.chunk);
            self.chunk_events = 0;
        }
    }

    fn new_id(&mut self) -> u32 {
        self.free_ids.pop().unwrap_or_else(|| {
            self.n_ids += 1;
            self.n_ids - 1
        })
    }

    /// Records an allocation (`op` one of malloc, calloc, aligned); returns the block's id.
    pub fn alloc(&mut self, op: Op, thread: u32, size: u64, align_log2: u8) -> u32 {
        assert!(op.allocates(), "{} does not allocate", op.name());
        let id = self.new_id();
        self.push(op, thread, id, size, align_log2);
        id
    }

    /// Records a resize of live block `id`.
    pub fn realloc(&mut self, thread: u32, id: u32, size: u64) {
        self.push(Op::Realloc, thread, id, size, 0);
    }

    /// Records a free of live block `id`.
    pub fn free(&mut self, thread: u32, id: u32) {
        self.push(Op::Free, thread, id, 0, 0);
        self.free_ids.push(id);
    }

    /// The whole file, with its end chunk.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        let mut end = [0u8; MAX_END_LEN];
        let n = encode_end(self.total, self.n_ids, self.n_threads, 0, &mut end);
        self.out.extend_from_slice(&encode_chunk_header(TAG_END, n as u32, 0));
        self.out.extend_from_slice(&end[..n]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(1234, 0);
        let a = w.alloc(Op::Malloc, 0, 24, 0);
        let b = w.alloc(Op::Calloc, 20, 1 << 40, 0);
        w.realloc(0, a, 100);
        w.free(20, b);
        let c = w.alloc(Op::Aligned, 3, 4096, 12);
        assert_eq!(c, b, "a freed id is given again");
        w.free(0, a);
        w.finish()
    }

    fn path() -> &'static Path {
        Path::new("sample.trace")
    }

    #[test]
    fn round_trip() {
        let trace = parse(&sample(), path()).unwrap();
        assert_eq!(trace.pid, 1234);
        assert_eq!(trace.n_ids, 2);
        assert_eq!(trace.n_threads, 21);
        let ops: Vec<(Op, u32, u16, u64)> =
            trace.events.iter().map(|e| (e.op, e.id, e.thread, e.size)).collect();
        assert_eq!(
            ops,
            [
                (Op::Malloc, 0, 0, 24),
                (Op::Calloc, 1, 20, 1 << 40),
                (Op::Realloc, 0, 0, 100),
                (Op::Free, 1, 20, 0),
                (Op::Aligned, 1, 3, 4096),
                (Op::Free, 0, 0, 0),
            ]
        );
        assert_eq!(trace.events[4].alignment(), 4096);
        let summary = trace.summary();
        assert_eq!(summary.calls, 6);
        assert_eq!(summary.requested_bytes, 24 + (1 << 40) + 100 + 4096);
        assert_eq!(summary.peak_live_bytes, 100 + (1 << 40));
        assert_eq!(summary.end_live_blocks, 1);
    }

    #[test]
    fn every_truncation_is_refused_with_the_offset() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let error = parse(&bytes[..cut], path()).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("sample.trace"), "{message}");
            assert!(message.contains("truncated"), "cut at {cut}: {message}");
            assert_eq!(error.offset(), Some(cut as u64), "{message}");
        }
    }

    #[test]
    fn foreign_and_newer_files_are_refused() {
        let error = parse(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", path()).unwrap_err();
        assert!(error.to_string().contains("not a heaplab trace"), "{error}");
        assert_eq!(error.offset(), Some(0));

        let mut newer = sample();
        newer[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
        let error = parse(&newer, path()).unwrap_err();
        assert!(error.to_string().contains("format version 2 is newer"), "{error}");
        assert_eq!(error.offset(), Some(8));
    }

    #[test]
    fn inconsistent_records_are_refused() {
        let mut w = Writer::new(1, 0);
        w.free(0, 7);
        let error = parse(&w.finish(), path()).unwrap_err();
        assert!(error.to_string().contains("free of id 7 which is not live"), "{error}");

        let mut bytes = sample();
        let threads_at = bytes.len() - 2; // the end chunk's thread count, before its foreign-free count
        bytes[threads_at] = 0;
        let error = parse(&bytes, path()).unwrap_err();
        assert!(error.to_string().contains("thread count"), "{error}");
    }

    #[test]
    fn varints() {
        let mut out = [0u8; 10];
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let n = encode_varint(value, &mut out);
            let mut parser = Parser { bytes: &out[..n], pos: 0, path: path() };
            assert_eq!(parser.varint(n, "v").unwrap(), value);
            assert_eq!(parser.pos, n);
        }
        assert_eq!(encode_varint(u64::MAX, &mut out), 10);
    }
}
