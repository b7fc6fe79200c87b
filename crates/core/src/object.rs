//! Python's object kinds and CPython's 64-bit sizes for them.
//!
//! Every collector lays objects out so that these byte counts hold: a
//! workload's bytes mean what they would mean in CPython 3.11. The sizes are
//! those `sys.getsizeof` reports, without the 16-byte GC header that CPython
//! puts in front of containers; a collector that keeps such a header adds it.

use serde::{Deserialize, Serialize};

/// Bytes of the object header every collector keeps (refcount and type, or their equivalent).
pub const OBJECT_HEADER: usize = 16;
/// Bytes of CPython's `PyGC_Head`, in front of every container under the `cycle` collector.
pub const GC_HEADER: usize = 16;

/// An int's header and `ob_size`; each 30-bit digit adds 4 bytes, and even 0
/// has one (`_PyLong_New`): `sys.getsizeof(0)` and `sys.getsizeof(1)` are 28,
/// `sys.getsizeof(2**30)` 32.
pub const INT_BASE: usize = 24;
/// `sys.getsizeof(1.0)`.
pub const FLOAT_SIZE: usize = 24;
/// `sys.getsizeof("")`: a compact ASCII string's header and its NUL.
pub const STR_BASE: usize = 49;
/// `sys.getsizeof(())` without the GC header: header and `ob_size`.
pub const TUPLE_BASE: usize = 24;
/// `sys.getsizeof([])` without the GC header: header, `ob_size`, `ob_item`, `allocated`.
pub const LIST_SIZE: usize = 40;
/// A `__slots__` instance without the GC header: the header alone, then 8 bytes a slot.
pub const INSTANCE_BASE: usize = 16;
/// `sys.getsizeof(array('d'))`: the array object, its buffer allocated apart.
pub const ARRAY_HEADER: usize = 64;
/// Bytes of one reference or one f64.
pub const WORD: usize = 8;

/// The kinds of object a Heap knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Kind {
    /// A Python int holding an i64.
    Int = 1,
    /// A Python float.
    Float = 2,
    /// A compact ASCII str.
    Str = 3,
    /// A tuple: a fixed number of references.
    Tuple = 4,
    /// A list: a header and a separate, growing buffer of references.
    List = 5,
    /// An instance of a class with `__slots__`: a fixed number of nullable references.
    Instance = 6,
    /// A NumPy-like array of f64: a header and a separate data buffer.
    Array = 7,
    /// A dict: the dict object and a separate keys object ([`crate::dict_layout`]).
    Dict = 8,
    /// A set: the set object with its small table, a separate table beyond 8 slots.
    Set = 9,
    /// An instance of a class without `__slots__`: attributes in a separate
    /// values array (3.11's layout, [`crate::dict_layout::instance_layout`]).
    Object = 10,
}

impl Kind {
    /// Every kind, in tag order.
    pub const ALL: [Kind; 10] = [
        Kind::Int,
        Kind::Float,
        Kind::Str,
        Kind::Tuple,
        Kind::List,
        Kind::Instance,
        Kind::Array,
        Kind::Dict,
        Kind::Set,
        Kind::Object,
    ];

    /// The kind with this tag, if any.
    pub fn from_tag(tag: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(tag).wrapping_sub(1)).copied()
    }

    /// Whether objects of this kind hold references to other objects,
    /// and so are tracked by CPython's cycle detector.
    pub fn is_container(self) -> bool {
        matches!(self, Kind::Tuple | Kind::List | Kind::Instance | Kind::Dict | Kind::Set | Kind::Object)
    }

    /// The Python name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Str => "str",
            Kind::Tuple => "tuple",
            Kind::List => "list",
            Kind::Instance => "instance",
            Kind::Array => "array",
            Kind::Dict => "dict",
            Kind::Set => "set",
            Kind::Object => "object",
        }
    }

    /// The object's own size in bytes, as `sys.getsizeof` counts it without
    /// the GC header and without separately allocated buffers. `len` is the
    /// string's byte length, the tuple's length, the instance's slot count or
    /// the int's number of 30-bit digits ([`int_digits`]), and is ignored for
    /// the other kinds.
    pub fn object_size(self, len: usize) -> usize {
        match self {
            Kind::Int => INT_BASE + 4 * len,
            Kind::Float => FLOAT_SIZE,
            Kind::Str => STR_BASE + len,
            Kind::Tuple => TUPLE_BASE + WORD * len,
            Kind::List => LIST_SIZE,
            Kind::Instance => INSTANCE_BASE + WORD * len,
            Kind::Array => ARRAY_HEADER,
            Kind::Dict => crate::dict_layout::DICT_OBJECT,
            Kind::Set => crate::dict_layout::SET_OBJECT,
            Kind::Object => {
                crate::dict_layout::instance_layout(crate::dict_layout::DEFAULT_VERSION, len).object
            }
        }
    }
}

/// How many 30-bit digits an int of this value needs (0 for 0, which CPython 3.11 and later
/// still give one: [`crate::version::Version::int_digits`]).
pub fn int_digits(value: i64) -> usize {
    let bits = 64 - value.unsigned_abs().leading_zeros() as usize;
    bits.div_ceil(30)
}

/// CPython's `list_resize`: the capacity a list of capacity `cap` gets when its
/// length becomes `new_len`, or `None` when its buffer stays as it is (it
/// still fits and is at least half used).
pub fn list_resize(cap: usize, old_len: usize, new_len: usize) -> Option<usize> {
    if cap >= new_len && new_len >= (cap >> 1) {
        return None;
    }
    if new_len == 0 {
        return Some(0);
    }
    let mut grown = (new_len + (new_len >> 3) + 6) & !3;
    if new_len.saturating_sub(old_len) > grown - new_len {
        grown = (new_len + 3) & !3;
    }
    Some(grown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_growth_follows_cpython() {
        // Capacities CPython 3.11 reaches appending one item at a time from empty.
        let mut caps = Vec::new();
        let mut cap = 0;
        for n in 1..=100 {
            if let Some(new_cap) = list_resize(cap, n - 1, n) {
                cap = new_cap;
                caps.push(cap);
            }
        }
        assert_eq!(caps, [4, 8, 16, 24, 32, 40, 52, 64, 76, 92, 108]);
    }

    #[test]
    fn list_shrinks_below_half_and_jumps_for_big_extends() {
        assert_eq!(list_resize(16, 9, 8), None);
        assert_eq!(list_resize(16, 8, 7), Some(12));
        assert_eq!(list_resize(0, 0, 100), Some(100));
        assert_eq!(list_resize(8, 1, 0), Some(0));
    }

    #[test]
    fn sizes_match_sys_getsizeof() {
        // 3.11's sizes (the default release; the others: crate::version).
        let int_size = |v: i64| Kind::Int.object_size(crate::version::DEFAULT.int_digits(v));
        assert_eq!(int_size(0), 28);
        assert_eq!(Kind::Int.object_size(int_digits(0)), 24, "no digit, as up to 3.10");
        assert_eq!(int_size(1), 28);
        assert_eq!(int_size(-(1 << 29)), 28);
        assert_eq!(int_size(1 << 30), 32);
        assert_eq!(int_size(i64::MAX), 36);
        assert_eq!(int_size(i64::MIN), 36);
        assert_eq!(Kind::Str.object_size(3), 52);
        assert_eq!(Kind::Tuple.object_size(3) + GC_HEADER, 64);
        assert_eq!(Kind::List.object_size(0) + GC_HEADER, 56);
        assert_eq!(Kind::Instance.object_size(2) + GC_HEADER, 48);
    }

    #[test]
    fn tags_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_tag(kind as u8), Some(kind));
        }
        assert_eq!(Kind::from_tag(0), None);
        assert_eq!(Kind::from_tag(11), None);
    }
}
