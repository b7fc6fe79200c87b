//! `cpython`: `PyObject_Malloc`, `PyObject_Realloc` and `PyObject_Free` of the real libpython,
//! loaded at run time.
//!
//! The default library is found, once per process, through (in order) the environment
//! variable `HEAPLAB_LIBPYTHON` (a path), `python3`'s sysconfig (`LIBDIR` joined with
//! `INSTSONAME`), and `ldconfig -p` (a `libpython3.*.so*`). A specific release is selected
//! with [`crate::AllocConfig::cpython_version`] (`"3.9"`; the strategy `cycle+cpython@3.9`):
//! it is looked for as `$(pyenv root)/versions/3.9.*/lib/libpython3.9.so*` (the newest patch
//! release first), then as the default library when that one is 3.9 ([`resolve_version`]).
//! Each library is loaded at most once per process, `RTLD_LOCAL`, so that two releases, which
//! export the same symbols, can be loaded side by side (each keeps its own pymalloc state). Where none is found, or it fails to load, the
//! allocator is unavailable with a one-line reason: libpython is never a build-time dependency
//! and its absence never a crash. Python 3.8 or later is required (before 3.8 pymalloc
//! aligned blocks to 8 bytes only).
//!
//! CPython 3.8 to 3.11 keep pymalloc's state in static variables that are initialised at
//! load time, so `PyObject_Malloc` works without `Py_Initialize` (a test checks it on the
//! Python found here), and nothing else of the interpreter is set up. From 3.12 that state
//! belongs to the interpreter and is reached through the calling thread's thread state, so
//! for those versions the interpreter is initialised once (`Py_InitializeEx(0)`: no signal
//! handlers) and each thread attaches a thread state of its own while it holds the GIL.
//!
//! libpython's allocator is one per process and unsynchronised, as CPython runs it under the
//! GIL. This module models the GIL with a lock of its own (on 3.12 and later, taking it also
//! takes the real GIL): a single-threaded [`CPython`] holds it for its whole life (it is
//! `!Send`, and one thread may hold several), while [`SharedCPython`] takes it around every
//! call, as threads contend for the GIL.

use std::cell::Cell;
use std::ffi::{CStr, OsStr, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::NonNull;
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::ThreadId;

use heaplab_core::{ALIGN, AllocStats, Allocator, ArenaStats, ClassStats, Counters, SharedAllocator};

use crate::{AllocConfig, AllocatorInfo, RegisteredAllocator};

/// The environment variable that names the libpython to load.
pub const LIBPYTHON_ENV: &str = "HEAPLAB_LIBPYTHON";

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type DebugMallocStatsFn = unsafe extern "C" fn(*mut libc::FILE) -> c_int;

/// The functions that attach a thread to an initialised interpreter (3.12 and later).
#[derive(Debug)]
struct Interpreter {
    /// `PyGILState_Ensure`: makes a thread state for this thread, takes the GIL.
    gilstate_ensure: unsafe extern "C" fn() -> c_int,
    /// `PyEval_SaveThread`: releases the GIL, detaching this thread's thread state.
    save_thread: unsafe extern "C" fn() -> *mut c_void,
    /// `PyEval_RestoreThread`: takes the GIL, attaching a thread state of this thread.
    restore_thread: unsafe extern "C" fn(*mut c_void),
}

thread_local! {
    /// This thread's thread state in the interpreter, made on first use and kept.
    static THREAD_STATE: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

impl Interpreter {
    /// Attaches this thread's thread state and takes the real GIL.
    ///
    /// # Safety
    /// The interpreter is initialised and this thread is not attached.
    unsafe fn attach(&self) {
        let thread_state = THREAD_STATE.get();
        if thread_state.is_null() {
            // SAFETY: the interpreter is initialised; the first Ensure of a thread makes its
            // thread state, and since it is never matched by a Release, the state is kept.
            unsafe { (self.gilstate_ensure)() };
        } else {
            // SAFETY: the thread state is this thread's, detached by `detach`.
            unsafe { (self.restore_thread)(thread_state) };
        }
    }

    /// Releases the real GIL, keeping this thread's thread state for the next attach.
    ///
    /// # Safety
    /// This thread is attached.
    unsafe fn detach(&self) {
        // SAFETY: the caller's contract.
        THREAD_STATE.set(unsafe { (self.save_thread)() });
    }
}

/// A loaded libpython and its allocator functions.
#[derive(Debug)]
pub struct LibPython {
    path: PathBuf,
    version: String,
    malloc: MallocFn,
    realloc: ReallocFn,
    free: FreeFn,
    /// `_PyObject_DebugMallocStats(FILE *)`, which prints what `sys._debugmallocstats()`
    /// shows of pymalloc; not part of the stable ABI, so it may be missing.
    debug_malloc_stats: Option<DebugMallocStatsFn>,
    /// Set for 3.12 and later, whose allocator needs an attached thread state.
    interpreter: Option<Interpreter>,
    /// Kept loaded for the life of the process, so that the functions stay valid.
    _library: libloading::Library,
}

impl LibPython {
    /// Where the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The version line of the library (`Py_GetVersion`), e.g. `3.11.7 (main, …)`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The text `_PyObject_DebugMallocStats` prints, written to a temporary file and read back.
    ///
    /// Called only with the model GIL held (so by a [`CPython`]), since it walks the arenas
    /// that allocations on other threads would change.
    fn debug_malloc_stats_text(&self) -> Result<String, String> {
        let print = self
            .debug_malloc_stats
            .ok_or_else(|| format!("{} exports no _PyObject_DebugMallocStats", self.path.display()))?;
        // SAFETY: tmpfile has no preconditions; it returns NULL on failure.
        let file = unsafe { libc::tmpfile() };
        if file.is_null() {
            return Err("tmpfile() failed".into());
        }
        let mut text = Vec::new();
        // SAFETY: `file` is an open stream of ours until fclose below; the function writes to
        // it and reads pymalloc's state, which the caller's GIL keeps still; fread writes at
        // most `chunk.len()` bytes into `chunk`.
        let printed = unsafe {
            let printed = print(file);
            libc::fflush(file);
            libc::rewind(file);
            let mut chunk = [0u8; 4096];
            loop {
                let n = libc::fread(chunk.as_mut_ptr().cast(), 1, chunk.len(), file);
                text.extend_from_slice(&chunk[..n]);
                if n < chunk.len() {
                    break;
                }
            }
            libc::fclose(file);
            printed
        };
        if printed == 0 {
            return Err(format!("{}: pymalloc is not in use (PYTHONMALLOC?)", self.path.display()));
        }
        String::from_utf8(text).map_err(|e| format!("_PyObject_DebugMallocStats printed no text: {e}"))
    }
}

/// pymalloc's figures as libpython prints them (`_PyObject_DebugMallocStats` in
/// `Objects/obmalloc.c`, the text of `sys._debugmallocstats()`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MallocStats {
    /// Arenas and the per-class table; `arena_map` stays empty and `large_blocks` 0 (the
    /// text has neither). `pool_size` comes from the "unused pools" line, `arena_size` from
    /// the "arenas * bytes/arena" line.
    pub arenas: ArenaStats,
    /// "# bytes lost to arena alignment": a pool for each arena whose mmap address is not
    /// pool-aligned (the pool `new_arena` gives up).
    pub bytes_lost_to_arena_alignment: u64,
    /// "N unused pools": empty pools in held arenas, carved or not.
    pub unused_pools: u64,
}

/// Parses the text of `_PyObject_DebugMallocStats` / `sys._debugmallocstats()` (3.8 to 3.13).
pub fn parse_debug_malloc_stats(text: &str) -> Result<MallocStats, String> {
    let number = |s: &str| -> Option<u64> { s.trim().replace(',', "").parse().ok() };
    let mut stats = MallocStats::default();
    let mut seen = 0;
    let mut in_table = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("-----") {
            in_table = true;
            continue;
        }
        if in_table {
            let fields: Vec<u64> = trimmed.split_whitespace().filter_map(number).collect();
            if fields.len() == 5 && trimmed.split_whitespace().count() == 5 {
                stats.arenas.classes.push(ClassStats {
                    class: fields[0] as u32,
                    size: fields[1] as u32,
                    pools: fields[2],
                    blocks_in_use: fields[3],
                    blocks_free: fields[4],
                });
                continue;
            }
            in_table = false;
        }
        let Some((label, value)) = line.split_once('=') else { continue };
        let label = label.trim();
        let Some(value) = number(value) else { continue };
        match label {
            "# arenas allocated total" => stats.arenas.arenas_allocated_total = value,
            "# arenas reclaimed" => stats.arenas.arenas_reclaimed = value,
            "# arenas highwater mark" => stats.arenas.arenas_highwater = value,
            "# arenas allocated current" => stats.arenas.arenas_current = value,
            "# bytes lost to arena alignment" => stats.bytes_lost_to_arena_alignment = value,
            _ => {
                let words: Vec<&str> = label.split_whitespace().collect();
                match words.as_slice() {
                    [_, "arenas", "*", bytes, "bytes/arena"] => {
                        stats.arenas.arena_size = number(bytes).unwrap_or(0);
                    }
                    [n, "unused", "pools", "*", bytes, "bytes"] => {
                        stats.unused_pools = number(n).unwrap_or(0);
                        stats.arenas.pool_size = number(bytes).unwrap_or(0);
                    }
                    _ => continue,
                }
            }
        }
        seen += 1;
    }
    if seen < 7 {
        return Err(format!("not the text of _PyObject_DebugMallocStats ({seen} of 7 figures found)"));
    }
    Ok(stats)
}

/// The default libpython of this process, resolved and loaded on first use.
pub fn libpython() -> Result<&'static LibPython, String> {
    static LIBPYTHON: OnceLock<Result<&'static LibPython, String>> = OnceLock::new();
    LIBPYTHON
        .get_or_init(|| {
            let override_path = std::env::var_os(LIBPYTHON_ENV);
            let path = resolve_libpython(override_path.as_deref())?;
            load_once(&path)
        })
        .clone()
}

/// The libpython of release `version` (`"3.9"`), or the default one for `None`, loaded on
/// first use; `Err` says what is missing.
pub fn libpython_for(version: Option<&str>) -> Result<&'static LibPython, String> {
    let Some(version) = version else { return libpython() };
    let path = resolve_version(version)?;
    let lib = load_once(&path)?;
    let wanted = parse_release(version)?;
    match parse_version(lib.version()) {
        Some(found) if found == wanted => Ok(lib),
        _ => Err(format!(
            "{} is Python {}, not {version}",
            path.display(),
            lib.version().split_whitespace().next().unwrap_or("?")
        )),
    }
}

/// Loads the library at `path` unless it is loaded already (under any name of the same
/// file), and keeps it for the life of the process.
fn load_once(path: &Path) -> Result<&'static LibPython, String> {
    static LOADED: Mutex<Vec<(PathBuf, &'static LibPython)>> = Mutex::new(Vec::new());
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    // A panic while this lock is held leaves at most a library loaded and not listed.
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, lib)) = loaded.iter().find(|(known, _)| *known == canonical) {
        return Ok(lib);
    }
    let lib: &'static LibPython = Box::leak(Box::new(load(path)?));
    loaded.push((canonical, lib));
    Ok(lib)
}

/// `(3, minor)` of a release named `3.N`, or why it is not one.
fn parse_release(version: &str) -> Result<(u32, u32), String> {
    let invalid = || format!("`{version}` is not a CPython release of the form 3.N (3.8 or later)");
    let (major, minor) = version.split_once('.').ok_or_else(invalid)?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if major != "3" || !all_digits(minor) {
        return Err(invalid());
    }
    let minor: u32 = minor.parse().map_err(|_| invalid())?;
    if minor < 8 {
        return Err(invalid());
    }
    Ok((3, minor))
}

/// pyenv's root: `PYENV_ROOT`, else `~/.pyenv`.
pub fn pyenv_root() -> PathBuf {
    match std::env::var_os("PYENV_ROOT").filter(|root| !root.is_empty()) {
        Some(root) => PathBuf::from(root),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".pyenv"),
    }
}

/// The directories of pyenv's `versions_dir` that hold a patch release of `version`
/// (`3.9.18` for `"3.9"`), newest first, as (patch, name); and the names of the others.
pub fn pyenv_installs(versions_dir: &Path, version: &str) -> (Vec<(u32, String)>, Vec<String>) {
    let mut installed: Vec<(u32, String)> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(versions_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.strip_prefix(version).and_then(|rest| rest.strip_prefix('.')).map(str::parse::<u32>) {
                Some(Ok(patch)) => installed.push((patch, name)),
                _ => others.push(name),
            }
        }
    }
    installed.sort_unstable_by(|a, b| b.cmp(a));
    (installed, others)
}

/// Finds the libpython of release `version` (`"3.9"`): the newest
/// `$(pyenv root)/versions/<version>.<patch>/lib/libpython<version>.so*`, else the default
/// libpython ([`resolve_libpython`]) when its file is `libpython<version>.so*`. `Err` says
/// what is missing, in one line.
pub fn resolve_version(version: &str) -> Result<PathBuf, String> {
    let override_path = std::env::var_os(LIBPYTHON_ENV);
    let default = || resolve_libpython(override_path.as_deref()).ok();
    resolve_version_in(&pyenv_root().join("versions"), version, default)
}

/// [`resolve_version`] with pyenv's `versions` directory and the default library given.
fn resolve_version_in(
    versions_dir: &Path,
    version: &str,
    default: impl FnOnce() -> Option<PathBuf>,
) -> Result<PathBuf, String> {
    parse_release(version)?;
    let soname = format!("libpython{version}.so");
    let (installed, mut others) = pyenv_installs(versions_dir, version);
    for (_, name) in &installed {
        let libdir = versions_dir.join(name).join("lib");
        // `libpython3.9.so.1.0` and its link `libpython3.9.so` are the same file.
        for candidate in [format!("{soname}.1.0"), soname.clone()] {
            let path = libdir.join(candidate);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    if let Some(path) = default()
        && path.file_name().is_some_and(|file| file.to_string_lossy().starts_with(&soname))
    {
        return Ok(path);
    }
    if let Some((_, name)) = installed.first() {
        return Err(format!(
            "Python {name} in {} has no shared library lib/{soname}* (reinstall it with \
             PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {name})",
            versions_dir.display()
        ));
    }
    others.sort_unstable();
    let found = if others.is_empty() { "none".to_owned() } else { others.join(", ") };
    Err(format!(
        "no Python {version} with a shared libpython: none under {} (found: {found}), and the \
         default libpython is not {soname}* (install one with PYTHON_CONFIGURE_OPTS=--enable-shared \
         pyenv install {version})",
        versions_dir.display()
    ))
}

/// Finds the libpython to load: `override_path` (the value of `HEAPLAB_LIBPYTHON`) when
/// given, else `python3`'s sysconfig, else `ldconfig -p`.
pub fn resolve_libpython(override_path: Option<&OsStr>) -> Result<PathBuf, String> {
    if let Some(path) = override_path.filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{LIBPYTHON_ENV}={} names no file", path.display()))
        };
    }
    if let Some(path) = from_sysconfig() {
        return Ok(path);
    }
    if let Some(path) = from_ldconfig() {
        return Ok(path);
    }
    Err(format!("no libpython found (set {LIBPYTHON_ENV}, or install a python3 built with --enable-shared)"))
}

/// `LIBDIR/INSTSONAME` as `python3` reports them, where that is an existing shared library.
fn from_sysconfig() -> Option<PathBuf> {
    let script =
        "import sysconfig as s; print(s.get_config_var('LIBDIR')); print(s.get_config_var('INSTSONAME'))";
    let output = Command::new("python3").args(["-c", script]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let stdout = String::from_utf8(output.stdout).ok()?;
    let mut lines = stdout.lines();
    let (libdir, soname) = (lines.next()?.trim(), lines.next()?.trim());
    if libdir == "None" || !soname.contains(".so") {
        return None;
    }
    let path = Path::new(libdir).join(soname);
    path.is_file().then_some(path)
}

/// The first `libpython3.*.so*` that `ldconfig -p` lists.
fn from_ldconfig() -> Option<PathBuf> {
    let output = Command::new("ldconfig").arg("-p").output().ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().find_map(|line| {
        let (name, path) = line.trim().split_once(" => ")?;
        let name = name.split_whitespace().next()?;
        let path = Path::new(path.trim());
        (name.starts_with("libpython3.") && name.contains(".so") && path.is_file())
            .then(|| path.to_path_buf())
    })
}

/// The (major, minor) version at the start of a `Py_GetVersion` line.
fn parse_version(line: &str) -> Option<(u32, u32)> {
    let number = line.split_whitespace().next()?;
    let mut parts = number.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

/// Loads libpython from `path` and checks that its allocator can be driven as it is.
pub fn load(path: &Path) -> Result<LibPython, String> {
    let shown = path.display();
    // RTLD_NODELETE keeps the library mapped even when it is refused below: a libpython may
    // register thread-exit destructors as it loads (3.13 bundles mimalloc, which does), and
    // those must not point into unmapped code.
    let flags = libloading::os::unix::RTLD_LAZY | libloading::os::unix::RTLD_LOCAL | libc::RTLD_NODELETE;
    // SAFETY: loading a library runs its initialisers; libpython's only set up static data
    // and thread-local keys.
    let library: libloading::Library = unsafe { libloading::os::unix::Library::open(Some(path), flags) }
        .map_err(|e| format!("cannot load {shown}: {e}"))?
        .into();
    // SAFETY: these are the C signatures of CPython's stable ABI functions of these names.
    let (get_version, malloc, realloc, free) = unsafe {
        let symbol_error = |e: libloading::Error| format!("{shown} is not a usable libpython: {e}");
        (
            *library
                .get::<unsafe extern "C" fn() -> *const c_char>(b"Py_GetVersion\0")
                .map_err(symbol_error)?,
            *library.get::<MallocFn>(b"PyObject_Malloc\0").map_err(symbol_error)?,
            *library.get::<ReallocFn>(b"PyObject_Realloc\0").map_err(symbol_error)?,
            *library.get::<FreeFn>(b"PyObject_Free\0").map_err(symbol_error)?,
        )
    };
    // SAFETY: this is the C signature of `_PyObject_DebugMallocStats` in 3.8 and later.
    let debug_malloc_stats =
        unsafe { library.get::<DebugMallocStatsFn>(b"_PyObject_DebugMallocStats\0") }.ok().map(|f| *f);
    // SAFETY: Py_GetVersion returns a static NUL-terminated string and needs no interpreter.
    let version = unsafe { CStr::from_ptr(get_version()) }.to_string_lossy().into_owned();
    let version_line = version.split_whitespace().next().unwrap_or("").to_owned();
    let minor = match parse_version(&version) {
        Some((3, minor)) if minor >= 8 => minor,
        _ => return Err(format!("{shown} is Python {version_line}; heaplab needs 3.8 or later")),
    };
    let interpreter = if minor >= 12 { Some(initialize(&library, path, minor)?) } else { None };
    let lib = LibPython {
        path: path.to_path_buf(),
        version,
        malloc,
        realloc,
        free,
        debug_malloc_stats,
        interpreter,
        _library: library,
    };
    // No one else can call into this library before it is published, so the probe needs
    // only the thread attached (3.12 and later), not the model GIL.
    if let Some(interpreter) = &lib.interpreter {
        // SAFETY: `initialize` left this thread detached.
        unsafe { interpreter.attach() };
    }
    // SAFETY: the allocator is usable: its state is static (3.8 to 3.11) or this thread is
    // attached to the initialised interpreter.
    let probe = unsafe { malloc(32) };
    if !probe.is_null() {
        // SAFETY: `probe` came from this PyObject_Malloc just above.
        unsafe { free(probe) };
    }
    if let Some(interpreter) = &lib.interpreter {
        // SAFETY: attached above.
        unsafe { interpreter.detach() };
    }
    if probe.is_null() || !(probe as usize).is_multiple_of(ALIGN) {
        return Err(format!("PyObject_Malloc of {shown} returned {probe:p} for 32 bytes"));
    }
    Ok(lib)
}

/// Initialises the interpreter of a 3.12-or-later libpython, leaving this thread detached.
fn initialize(library: &libloading::Library, path: &Path, minor: u32) -> Result<Interpreter, String> {
    let shown = path.display();
    // The interpreter aborts the process when it cannot find its standard library, so look
    // for it first where an installation keeps it: `<prefix>/lib/python3.X` beside
    // `<prefix>/lib/libpython3.X.so`, or `/usr/lib/python3.X` for a Debian multiarch library.
    let stdlib = format!("python3.{minor}");
    let libdir = path.parent().unwrap_or(Path::new("/"));
    let candidates = [libdir.join(&stdlib), libdir.parent().unwrap_or(libdir).join(&stdlib)];
    if !candidates.iter().any(|dir| dir.join("os.py").is_file()) {
        return Err(format!("no standard library (os.py) for {shown} in {}", candidates[0].display()));
    }
    let symbol_error = |e: libloading::Error| format!("{shown} is not a usable libpython: {e}");
    // SAFETY: these are the C signatures of CPython's stable ABI functions of these names.
    let (is_initialized, initialize_ex, interpreter) = unsafe {
        (
            *library.get::<unsafe extern "C" fn() -> c_int>(b"Py_IsInitialized\0").map_err(symbol_error)?,
            *library.get::<unsafe extern "C" fn(c_int)>(b"Py_InitializeEx\0").map_err(symbol_error)?,
            Interpreter {
                gilstate_ensure: *library.get(b"PyGILState_Ensure\0").map_err(symbol_error)?,
                save_thread: *library.get(b"PyEval_SaveThread\0").map_err(symbol_error)?,
                restore_thread: *library.get(b"PyEval_RestoreThread\0").map_err(symbol_error)?,
            },
        )
    };
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { is_initialized() } != 0 {
        return Err(format!("{shown} already runs an interpreter in this process"));
    }
    // SAFETY: the library is loaded and not initialised; 0 installs no signal handlers.
    // Initialisation leaves this thread attached, holding the GIL.
    unsafe { initialize_ex(0) };
    // SAFETY: this thread is attached after initialisation.
    unsafe { interpreter.detach() };
    Ok(interpreter)
}

/// Whether the allocator can be used here with the default libpython, and if not, why.
pub fn availability() -> Result<(), String> {
    libpython().map(|_| ())
}

/// Whether the allocator can be used here with release `version` (`None`: the default
/// libpython), and if not, what is missing.
pub fn availability_of(version: Option<&str>) -> Result<(), String> {
    libpython_for(version).map(|_| ())
}

/// The model of the GIL: which thread holds it, and how many times.
struct GilState {
    owner: Option<ThreadId>,
    depth: usize,
}

static GIL_STATE: Mutex<GilState> = Mutex::new(GilState { owner: None, depth: 0 });
static GIL_RELEASED: Condvar = Condvar::new();

/// A hold on the model GIL; released on drop. Not `Send`: it belongs to the thread that took it.
struct Gil {
    /// Whose real GIL to take as well, on 3.12 and later.
    interpreter: Option<&'static Interpreter>,
    _not_send: PhantomData<*const ()>,
}

impl Gil {
    /// Waits until no other thread holds the GIL, then holds it (again, if this thread does).
    fn acquire(lib: Option<&'static LibPython>) -> Gil {
        let interpreter = lib.and_then(|lib| lib.interpreter.as_ref());
        let me = std::thread::current().id();
        let mut state = GIL_STATE.lock().unwrap_or_else(|e| e.into_inner());
        while state.owner.is_some_and(|owner| owner != me) {
            state = GIL_RELEASED.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.depth == 0
            && let Some(interpreter) = interpreter
        {
            // SAFETY: the interpreter was initialised by `load`, and this thread, taking the
            // model GIL afresh, is not attached.
            unsafe { interpreter.attach() };
        }
        state.owner = Some(me);
        state.depth += 1;
        Gil { interpreter, _not_send: PhantomData }
    }
}

impl Drop for Gil {
    fn drop(&mut self) {
        let mut state = GIL_STATE.lock().unwrap_or_else(|e| e.into_inner());
        state.depth -= 1;
        if state.depth == 0 {
            if let Some(interpreter) = self.interpreter {
                // SAFETY: this thread attached when it took the model GIL afresh.
                unsafe { interpreter.detach() };
            }
            state.owner = None;
            GIL_RELEASED.notify_one();
        }
    }
}

/// libpython's object allocator for one thread, holding the model GIL while it lives.
///
/// Creating one waits while another thread holds a `CPython`.
pub struct CPython {
    lib: &'static LibPython,
    counters: Counters,
    _gil: Gil,
}

impl CPython {
    /// The allocator of the default libpython, or why it cannot be used.
    pub fn new() -> Result<CPython, String> {
        CPython::with_version(None)
    }

    /// The allocator of release `version` (`"3.9"`; `None`: the default libpython), or what
    /// is missing.
    pub fn with_version(version: Option<&str>) -> Result<CPython, String> {
        let lib = libpython_for(version)?;
        Ok(CPython { lib, counters: Counters::default(), _gil: Gil::acquire(Some(lib)) })
    }

    /// libpython's own figures of its pymalloc, from `_PyObject_DebugMallocStats`: what
    /// `sys._debugmallocstats()` prints, parsed. They cover the whole process's use of this
    /// libpython, not this allocator's alone.
    pub fn malloc_stats(&self) -> Result<MallocStats, String> {
        // The model GIL (and on 3.12 and later the real one) is held while `self` lives.
        parse_debug_malloc_stats(&self.lib.debug_malloc_stats_text()?)
    }

    /// The library in use.
    pub fn library(&self) -> &'static LibPython {
        self.lib
    }
}

impl Allocator for CPython {
    #[inline]
    fn allocate(&mut self, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: this thread holds the model GIL while `self` lives; PyObject_Malloc accepts
        // any size.
        let block = NonNull::new(unsafe { (self.lib.malloc)(size) }.cast::<u8>())?;
        debug_assert_eq!(block.as_ptr() as usize % ALIGN, 0);
        self.counters.on_alloc(size);
        Some(block)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        // SAFETY: the caller passes a live block of this allocator; the GIL is held.
        unsafe { (self.lib.free)(ptr.as_ptr().cast()) };
        self.counters.on_free(size);
    }

    unsafe fn reallocate(
        &mut self,
        ptr: NonNull<u8>,
        old_size: usize,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller passes a live block of this allocator; on failure
        // PyObject_Realloc leaves it untouched.
        let moved = NonNull::new(unsafe { (self.lib.realloc)(ptr.as_ptr().cast(), new_size) }.cast::<u8>())?;
        debug_assert_eq!(moved.as_ptr() as usize % ALIGN, 0);
        self.counters.on_realloc(old_size, new_size);
        Some(moved)
    }

    fn stats(&self) -> AllocStats {
        AllocStats { counters: Some(self.counters), mapped_bytes: None, arenas: None, poisoned: false }
    }
}

/// libpython's object allocator for any thread: every call takes the model GIL.
pub struct SharedCPython {
    lib: &'static LibPython,
    counters: Mutex<Counters>,
}

impl SharedCPython {
    /// The shared allocator of the default libpython, or why it cannot be used.
    pub fn new() -> Result<SharedCPython, String> {
        SharedCPython::with_version(None)
    }

    /// The shared allocator of release `version` (`None`: the default libpython).
    pub fn with_version(version: Option<&str>) -> Result<SharedCPython, String> {
        Ok(SharedCPython { lib: libpython_for(version)?, counters: Mutex::new(Counters::default()) })
    }
}

impl SharedAllocator for SharedCPython {
    fn allocate(&self, size: usize) -> Option<NonNull<u8>> {
        let _gil = Gil::acquire(Some(self.lib));
        // SAFETY: the model GIL is held; PyObject_Malloc accepts any size.
        let block = NonNull::new(unsafe { (self.lib.malloc)(size) }.cast::<u8>())?;
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).on_alloc(size);
        Some(block)
    }

    unsafe fn free(&self, ptr: NonNull<u8>, size: usize) {
        let _gil = Gil::acquire(Some(self.lib));
        // SAFETY: the caller passes a live block of this allocator; the GIL is held.
        unsafe { (self.lib.free)(ptr.as_ptr().cast()) };
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).on_free(size);
    }

    fn stats(&self) -> AllocStats {
        let counters = *self.counters.lock().unwrap_or_else(|e| e.into_inner());
        AllocStats { counters: Some(counters), mapped_bytes: None, arenas: None, poisoned: false }
    }
}

impl RegisteredAllocator for CPython {
    const INFO: AllocatorInfo = AllocatorInfo {
        name: "cpython",
        summary: "PyObject_Malloc of the real libpython, loaded at run time",
    };

    fn availability(config: &AllocConfig) -> Result<(), String> {
        availability_of(config.cpython_version.as_deref())
    }

    fn create(config: &AllocConfig) -> Result<Self, String> {
        CPython::with_version(config.cpython_version.as_deref())
    }

    fn create_shared(config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String> {
        Ok(Box::new(SharedCPython::with_version(config.cpython_version.as_deref())?))
    }
}

// Not under Miri: these load libraries and run `python3`, which Miri cannot.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn an_override_naming_no_file_is_unavailable_with_a_reason() {
        let reason = resolve_libpython(Some(OsStr::new("/nonexistent/libpython3.11.so.1.0"))).unwrap_err();
        assert!(
            reason.contains(LIBPYTHON_ENV) && reason.contains("/nonexistent/libpython3.11.so.1.0"),
            "{reason}"
        );
        assert!(!reason.contains('\n'));
    }

    #[test]
    fn an_override_naming_a_file_that_is_no_library_fails_to_load_with_a_reason() {
        let not_a_library = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(resolve_libpython(Some(not_a_library.as_os_str())), Ok(not_a_library.clone()));
        let reason = load(&not_a_library).unwrap_err();
        assert!(reason.starts_with("cannot load") && !reason.contains('\n'), "{reason}");
    }

    #[test]
    fn a_release_is_named_3_n() {
        assert_eq!(parse_release("3.9"), Ok((3, 9)));
        assert_eq!(parse_release("3.11"), Ok((3, 11)));
        for bad in ["3", "3.", "3.x", "2.7", "3.7", "3.11.7", "", " 3.9"] {
            let reason = parse_release(bad).unwrap_err();
            assert!(reason.contains("3.N") && !reason.contains('\n'), "{bad}: {reason}");
        }
    }

    /// A pyenv tree in a temporary directory: `versions/<name>/lib/<files>`.
    fn fake_pyenv(tag: &str, installs: &[(&str, &[&str])]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("heaplab-pyenv-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (name, files) in installs {
            let lib = root.join("versions").join(name).join("lib");
            std::fs::create_dir_all(&lib).unwrap();
            for file in *files {
                std::fs::write(lib.join(file), b"").unwrap();
            }
        }
        root.join("versions")
    }

    #[test]
    fn a_version_resolves_to_the_newest_pyenv_install_with_a_shared_library() {
        let versions = fake_pyenv(
            "newest",
            &[
                ("3.9.2", &["libpython3.9.so.1.0", "libpython3.9.so"]),
                ("3.9.18", &["libpython3.9.so.1.0", "libpython3.9.so"]),
                ("3.90.1", &["libpython3.90.so"]),
                ("3.11.7", &["libpython3.11.so"]),
            ],
        );
        let found = resolve_version_in(&versions, "3.9", || None).unwrap();
        assert_eq!(found, versions.join("3.9.18/lib/libpython3.9.so.1.0"));
        let found = resolve_version_in(&versions, "3.11", || None).unwrap();
        assert_eq!(found, versions.join("3.11.7/lib/libpython3.11.so"));
        let _ = std::fs::remove_dir_all(versions.parent().unwrap());
    }

    #[test]
    fn a_missing_version_says_what_is_missing() {
        let versions =
            fake_pyenv("missing", &[("3.9.18", &["libpython3.a"]), ("3.11.7", &["libpython3.11.so"])]);
        let reason = resolve_version_in(&versions, "3.9", || None).unwrap_err();
        assert!(reason.contains("3.9.18") && reason.contains("--enable-shared"), "{reason}");
        let reason = resolve_version_in(&versions, "3.12", || None).unwrap_err();
        assert!(reason.contains("no Python 3.12") && reason.contains("3.11.7"), "{reason}");
        assert!(!reason.contains('\n'));
        // The default library serves when it is of the version asked for.
        let default = versions.join("3.11.7/lib/libpython3.11.so");
        let found =
            resolve_version_in(&versions, "3.11", || Some(PathBuf::from("/elsewhere/libpython3.11.so.1.0")));
        assert_eq!(found, Ok(default));
        let found =
            resolve_version_in(&versions, "3.13", || Some(PathBuf::from("/usr/lib/libpython3.13.so.1.0")));
        assert_eq!(found, Ok(PathBuf::from("/usr/lib/libpython3.13.so.1.0")));
        let _ = std::fs::remove_dir_all(versions.parent().unwrap());
    }

    #[test]
    fn an_unavailable_version_is_explained_by_availability() {
        let config = AllocConfig { cpython_version: Some("3.7".into()), ..AllocConfig::default() };
        let reason = crate::availability_with("cpython", &config).unwrap_err();
        assert!(reason.contains("3.N"), "{reason}");
        let config = AllocConfig { cpython_version: Some("3.99".into()), ..AllocConfig::default() };
        let reason = crate::availability_with("cpython", &config).unwrap_err();
        assert!(reason.contains("3.99") && !reason.contains('\n'), "{reason}");
        assert!(CPython::with_version(Some("3.99")).is_err());
    }

    #[test]
    fn the_debug_malloc_stats_text_parses() {
        let text = "Small block threshold = 512, in 32 size classes.\n\n\
            class   size   num pools   blocks in use  avail blocks\n\
            -----   ----   ---------   -------------  ------------\n\
            \x20   0     16           1             106           915\n\
            \x20  31    512           2              50            12\n\n\
            # arenas allocated total           =                    4\n\
            # arenas reclaimed                 =                    1\n\
            # arenas highwater mark            =                    4\n\
            # arenas allocated current         =                    3\n\
            3 arenas * 1048576 bytes/arena     =            3,145,728\n\n\
            # bytes in allocated blocks        =            3,491,952\n\
            17 unused pools * 16384 bytes      =              278,528\n\
            # bytes lost to arena alignment    =               49,152\n";
        let stats = parse_debug_malloc_stats(text).unwrap();
        let a = &stats.arenas;
        assert_eq!(
            (a.arenas_allocated_total, a.arenas_reclaimed, a.arenas_highwater, a.arenas_current),
            (4, 1, 4, 3)
        );
        assert_eq!((a.pool_size, a.arena_size), (16384, 1 << 20));
        assert_eq!((stats.unused_pools, stats.bytes_lost_to_arena_alignment), (17, 49_152));
        assert_eq!(a.classes.len(), 2);
        assert_eq!(
            a.classes[1],
            ClassStats { class: 31, size: 512, pools: 2, blocks_in_use: 50, blocks_free: 12 }
        );
        assert!(parse_debug_malloc_stats("hello").is_err());
    }

    #[test]
    fn versions_parse_from_the_version_line() {
        let check = |line, expected| assert_eq!(parse_version(line), expected, "{line}");
        check("3.11.7 (main, Jan  1 2024, 00:00:00) [GCC 12.2.0]", Some((3, 11)));
        check("3.9.18", Some((3, 9)));
        check("3.13.0rc1 (main)", Some((3, 13)));
        check("3.12a (x)", Some((3, 12)));
        check("", None);
    }

    /// Whether `python3` reports a shared libpython that exists: then it must load.
    fn python3_has_a_shared_library() -> bool {
        from_sysconfig().is_some()
    }

    #[test]
    fn the_python3_found_here_gives_a_working_allocator() {
        let Ok(lib) = libpython() else {
            assert!(
                !python3_has_a_shared_library(),
                "python3 has a libpython, which failed: {:?}",
                libpython().err()
            );
            return;
        };
        assert!(parse_version(lib.version()).is_some_and(|(major, minor)| major == 3 && minor >= 8));
        let mut alloc = CPython::new().expect("available");
        let mut blocks = Vec::new();
        for size in [1, 16, 24, 32, 100, 512, 513, 4096, 1 << 20] {
            let block = alloc.allocate(size).expect("memory");
            assert_eq!(block.as_ptr() as usize % ALIGN, 0);
            // SAFETY: the block is live with `size` bytes.
            unsafe { block.as_ptr().write_bytes(0xab, size) };
            blocks.push((block, size));
        }
        for (block, size) in blocks {
            // SAFETY: each block is live with its size, freed once.
            unsafe {
                assert_eq!(*block.as_ptr().add(size - 1), 0xab);
                alloc.free(block, size);
            }
        }
        let counters = alloc.stats().counters.unwrap();
        assert_eq!((counters.n_allocs, counters.n_frees, counters.live_bytes), (9, 9, 0));
    }

    #[test]
    fn the_model_gil_is_reentrant_on_one_thread_and_exclusive_across_threads() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let outer = Gil::acquire(None);
        let inner = Gil::acquire(None);
        let released = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let _gil = Gil::acquire(None);
                released.load(Ordering::SeqCst)
            });
            drop(inner);
            released.store(true, Ordering::SeqCst);
            drop(outer);
            assert!(waiter.join().unwrap(), "another thread took the GIL while it was held");
        });
    }
}
