//! `cpython`: `PyObject_Malloc`, `PyObject_Realloc` and `PyObject_Free` of the real libpython,
//! loaded at run time.
//!
//! The library is found, once per process, through (in order) the environment variable
//! `HEAPLAB_LIBPYTHON` (a path), `python3`'s sysconfig (`LIBDIR` joined with `INSTSONAME`),
//! and `ldconfig -p` (a `libpython3.*.so*`). Where none is found, or it fails to load, the
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

use heaplab_core::{ALIGN, AllocStats, Allocator, Counters, SharedAllocator};

use crate::{AllocConfig, AllocatorInfo, RegisteredAllocator};

/// The environment variable that names the libpython to load.
pub const LIBPYTHON_ENV: &str = "HEAPLAB_LIBPYTHON";

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

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
}

/// The libpython of this process, resolved and loaded on first use.
pub fn libpython() -> Result<&'static LibPython, String> {
    static LIBPYTHON: OnceLock<Result<LibPython, String>> = OnceLock::new();
    LIBPYTHON
        .get_or_init(|| {
            let override_path = std::env::var_os(LIBPYTHON_ENV);
            let path = resolve_libpython(override_path.as_deref())?;
            load(&path)
        })
        .as_ref()
        .map_err(Clone::clone)
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

/// Whether the allocator can be used here, and if not, why.
pub fn availability() -> Result<(), String> {
    libpython().map(|_| ())
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
    /// The allocator, or why libpython cannot be used.
    pub fn new() -> Result<CPython, String> {
        let lib = libpython()?;
        Ok(CPython { lib, counters: Counters::default(), _gil: Gil::acquire(Some(lib)) })
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
    /// The shared allocator, or why libpython cannot be used.
    pub fn new() -> Result<SharedCPython, String> {
        Ok(SharedCPython { lib: libpython()?, counters: Mutex::new(Counters::default()) })
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

    fn availability() -> Result<(), String> {
        availability()
    }

    fn create(_config: &AllocConfig) -> Result<Self, String> {
        CPython::new()
    }

    fn create_shared(_config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String> {
        Ok(Box::new(SharedCPython::new()?))
    }
}

#[cfg(test)]
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
