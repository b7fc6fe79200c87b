//! heaplab-alloc: where bytes come from. Six allocators behind [`heaplab_core::Allocator`]
//! (single-threaded, no synchronisation) and [`heaplab_core::SharedAllocator`] (thread-safe):
//!
//! | name | file | what it is |
//! |---|---|---|
//! | `pymalloc` | [`pymalloc`] | CPython's small-object allocator rebuilt (pools, arenas, size classes) |
//! | `system` | [`system`] | libc `malloc` |
//! | `mimalloc` | [`mimalloc`] | Microsoft's mimalloc (`libmimalloc-sys`, under the `mimalloc` crate) |
//! | `jemalloc` | [`jemalloc`] | the `tikv-jemallocator` crate |
//! | `bump` | [`bump`] | a region: free is a no-op |
//! | `cpython` | [`cpython`] | `PyObject_Malloc` of the real libpython, loaded at run time |
//!
//! The registry in this file names them. Adding an allocator is one new file, with a type that
//! implements [`RegisteredAllocator`]; its `mod` line; and one line in the `registry!` list.
//!
//! [`with_allocator`] hands a visitor the allocator by value, so that collectors generic over
//! `A: Allocator` are compiled for each one (static dispatch, no virtual call on the fast
//! path); [`boxed`] and [`shared`] give trait objects where that does not matter.

pub mod bump;
pub mod cpython;
pub mod jemalloc;
pub mod mimalloc;
mod os;
pub mod pymalloc;
pub mod system;
pub mod wrappers;

#[cfg(test)]
mod harness;

use heaplab_core::{Allocator, SharedAllocator};

pub use pymalloc::{Geometry, Pymalloc, StartClass, StartState};
pub use wrappers::{Counted, Locked, RawAllocator, Uncounted};

/// A registered allocator's name and what it is, in one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocatorInfo {
    /// The name strategies and the command line use, e.g. `pymalloc`.
    pub name: &'static str,
    /// What it is, in one line.
    pub summary: &'static str,
}

/// Settings of the allocators that have any.
#[derive(Clone, Debug, Default)]
pub struct AllocConfig {
    /// The pool and arena sizes of `pymalloc`.
    pub pymalloc_geometry: Geometry,
    /// The pools `pymalloc` begins with (an interpreter's, measured by calibrate); `None`
    /// begins empty.
    pub pymalloc_start: Option<StartState>,
    /// The Python release whose libpython `cpython` loads, as `major.minor` (`"3.9"`,
    /// `"3.11"`); the strategy syntax `cycle+cpython@3.9` sets it. `None` loads the default
    /// libpython (`HEAPLAB_LIBPYTHON`, then `python3`'s sysconfig, then `ldconfig -p`). With
    /// a version the library is looked for as `$(pyenv root)/versions/<ver>.*/lib/
    /// libpython<ver>.so*` (pyenv's root from `PYENV_ROOT`, else `~/.pyenv`), then as the
    /// default libpython when that one is of this version; see [`cpython::resolve_version`].
    /// A process loads at most one libpython: asking for another version than the one loaded
    /// is an "unavailable" error.
    pub cpython_version: Option<String>,
}

/// Why an allocator could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No allocator has this name.
    #[error("unknown allocator `{name}` (valid: {valid})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        valid: String,
    },
    /// The allocator exists but cannot run here.
    #[error("allocator `{name}` is unavailable: {reason}")]
    Unavailable {
        /// The allocator's name.
        name: String,
        /// Why, in one line.
        reason: String,
    },
}

/// What each allocator file provides to the registry.
pub trait RegisteredAllocator: Allocator + Sized + 'static {
    /// Its name and summary.
    const INFO: AllocatorInfo;

    /// Whether it can run here with `config`; `Err` carries the reason, in one line.
    fn availability(_config: &AllocConfig) -> Result<(), String> {
        Ok(())
    }

    /// A fresh single-threaded allocator.
    fn create(config: &AllocConfig) -> Result<Self, String>;

    /// A fresh thread-safe view of the same kind of allocator.
    fn create_shared(config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, String>;
}

/// Receives an allocator by value, with its concrete type, from [`with_allocator`].
pub trait AllocVisitor {
    /// What the visit produces.
    type Output;
    /// Does the work with `alloc`.
    fn visit<A: Allocator + 'static>(self, alloc: A) -> Self::Output;
}

/// Makes the allocator `name` and hands it to `visitor`, monomorphically.
pub fn with_allocator<V: AllocVisitor>(
    name: &str,
    config: &AllocConfig,
    visitor: V,
) -> Result<V::Output, AllocError> {
    struct Create<'a, V> {
        config: &'a AllocConfig,
        visitor: V,
    }
    impl<V: AllocVisitor> EntryVisitor for Create<'_, V> {
        type Output = Result<V::Output, String>;
        fn visit<E: RegisteredAllocator>(self) -> Self::Output {
            Ok(self.visitor.visit(E::create(self.config)?))
        }
    }
    resolve(name, Create { config, visitor })
}

/// Makes the allocator `name` behind dynamic dispatch.
pub fn boxed(name: &str, config: &AllocConfig) -> Result<Box<dyn Allocator>, AllocError> {
    struct Boxed<'a>(&'a AllocConfig);
    impl EntryVisitor for Boxed<'_> {
        type Output = Result<Box<dyn Allocator>, String>;
        fn visit<E: RegisteredAllocator>(self) -> Self::Output {
            Ok(Box::new(E::create(self.0)?))
        }
    }
    resolve(name, Boxed(config))
}

/// Makes the thread-safe view of the allocator `name`.
///
/// `pymalloc` and `cpython` run behind one lock each, as CPython runs under the GIL;
/// `system`, `mimalloc` and `jemalloc` are called as they are and keep no counts, so as to
/// add no synchronisation; `bump` takes an atomic add per request.
pub fn shared(name: &str, config: &AllocConfig) -> Result<Box<dyn SharedAllocator>, AllocError> {
    struct Shared<'a>(&'a AllocConfig);
    impl EntryVisitor for Shared<'_> {
        type Output = Result<Box<dyn SharedAllocator>, String>;
        fn visit<E: RegisteredAllocator>(self) -> Self::Output {
            E::create_shared(self.0)
        }
    }
    resolve(name, Shared(config))
}

/// Whether the allocator `name` can run here with the default config: `Err` with the reason,
/// or listing the valid names for an unknown one.
pub fn availability(name: &str) -> Result<(), String> {
    availability_with(name, &AllocConfig::default())
}

/// Whether the allocator `name` can run here with `config` (for `cpython`, with its
/// `cpython_version`): `Err` says what is missing, in one line.
pub fn availability_with(name: &str, config: &AllocConfig) -> Result<(), String> {
    struct Availability<'a>(&'a AllocConfig);
    impl EntryVisitor for Availability<'_> {
        type Output = Result<(), String>;
        fn visit<E: RegisteredAllocator>(self) -> Self::Output {
            E::availability(self.0)
        }
    }
    resolve(name, Availability(config)).map_err(|e| match e {
        AllocError::Unknown { .. } => e.to_string(),
        AllocError::Unavailable { reason, .. } => reason,
    })
}

/// The registered names, comma-separated.
fn valid_names() -> String {
    ALLOCATORS.iter().map(|info| info.name).collect::<Vec<_>>().join(", ")
}

/// Looks `name` up and runs `visitor` with its type, turning a failure into an [`AllocError`].
fn resolve<T, V: EntryVisitor<Output = Result<T, String>>>(name: &str, visitor: V) -> Result<T, AllocError> {
    match dispatch(name, visitor) {
        None => Err(AllocError::Unknown { name: name.to_owned(), valid: valid_names() }),
        Some(Err(reason)) => Err(AllocError::Unavailable { name: name.to_owned(), reason }),
        Some(Ok(value)) => Ok(value),
    }
}

/// Something done with a registered allocator type, chosen by name at run time.
trait EntryVisitor {
    type Output;
    fn visit<E: RegisteredAllocator>(self) -> Self::Output;
}

/// Declares the registry: [`ALLOCATORS`] and the lookup by name, from one list of types.
macro_rules! registry {
    ($($entry:ty),+ $(,)?) => {
        /// Every allocator, in the order reports list them.
        pub const ALLOCATORS: &[AllocatorInfo] = &[$(<$entry as RegisteredAllocator>::INFO),+];

        fn dispatch<V: EntryVisitor>(name: &str, visitor: V) -> Option<V::Output> {
            $(
                if name == <$entry as RegisteredAllocator>::INFO.name {
                    return Some(visitor.visit::<$entry>());
                }
            )+
            None
        }
    };
}

registry! {
    Pymalloc,
    system::System,
    mimalloc::Mimalloc,
    jemalloc::Jemalloc,
    bump::Bump,
    cpython::CPython,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lists_the_six_allocators_in_order() {
        let names: Vec<&str> = ALLOCATORS.iter().map(|info| info.name).collect();
        assert_eq!(names, ["pymalloc", "system", "mimalloc", "jemalloc", "bump", "cpython"]);
        assert!(ALLOCATORS.iter().all(|info| !info.summary.is_empty() && !info.summary.contains('\n')));
    }

    #[test]
    fn every_allocator_but_cpython_is_available_everywhere() {
        for info in ALLOCATORS.iter().filter(|info| info.name != "cpython") {
            assert_eq!(availability(info.name), Ok(()), "{}", info.name);
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_listing_the_valid_ones() {
        let check = |message: String| {
            assert!(message.contains("`tcmalloc`"), "{message}");
            assert!(message.contains("pymalloc, system, mimalloc, jemalloc, bump, cpython"), "{message}");
            assert!(!message.contains('\n'));
        };
        check(availability("tcmalloc").unwrap_err());
        check(boxed("tcmalloc", &AllocConfig::default()).err().unwrap().to_string());
        check(shared("tcmalloc", &AllocConfig::default()).err().unwrap().to_string());
        struct Unreachable;
        impl AllocVisitor for Unreachable {
            type Output = ();
            fn visit<A: Allocator + 'static>(self, _alloc: A) {
                unreachable!("no allocator is called tcmalloc")
            }
        }
        let error = with_allocator("tcmalloc", &AllocConfig::default(), Unreachable).unwrap_err();
        assert!(matches!(&error, AllocError::Unknown { name, .. } if name == "tcmalloc"));
        check(error.to_string());
    }

    #[test]
    fn an_unavailable_allocator_says_why_in_one_line() {
        let error = AllocError::Unavailable { name: "cpython".into(), reason: "no libpython found".into() };
        assert_eq!(error.to_string(), "allocator `cpython` is unavailable: no libpython found");
    }

    #[test]
    fn the_visitor_gets_the_concrete_allocator() {
        struct TypeName;
        impl AllocVisitor for TypeName {
            type Output = &'static str;
            fn visit<A: Allocator + 'static>(self, _alloc: A) -> &'static str {
                std::any::type_name::<A>()
            }
        }
        let config = AllocConfig::default();
        assert!(with_allocator("pymalloc", &config, TypeName).unwrap().ends_with("Pymalloc"));
        assert!(with_allocator("bump", &config, TypeName).unwrap().ends_with("Bump"));
        assert!(with_allocator("system", &config, TypeName).unwrap().contains("SystemMalloc"));
    }

    #[test]
    fn the_pymalloc_geometry_comes_from_the_config() {
        let config = AllocConfig { pymalloc_geometry: Geometry::Py39, ..AllocConfig::default() };
        let mut alloc = boxed("pymalloc", &config).unwrap();
        let block = alloc.allocate(32).unwrap();
        let arenas = alloc.stats().arenas.unwrap();
        assert_eq!((arenas.pool_size, arenas.arena_size), (4096, 256 << 10));
        // SAFETY: allocated just above with 32 bytes.
        unsafe { alloc.free(block, 32) };
    }
}
