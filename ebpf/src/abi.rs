//! The Rust mirror of `include/sdn_abi.h`, the one definition of the kernel/user ABI.
//!
//! Constants are generated from the header by `build.rs`, so they cannot drift. Structs are mirrored
//! here by hand, each naming the C struct it mirrors, and [`mirrors`] lists them with their layout:
//! a test compares every entry with the BTF of the compiled objects (sizes, field offsets and field
//! sizes) and fails on any difference, and on any struct of the header without a mirror.
//!
//! **API Boundary:** this is the only module that touches raw ABI types; the rest of the workspace
//! sees typed domain values built from them.

include!(concat!(env!("OUT_DIR"), "/abi_consts.rs"));

/// Mirrors `struct sdn_meter_key`: a port and a direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterKey {
    /// The port's ifindex in the node's namespace.
    pub ifindex: u32,
    /// [`SDN_DIR_EGRESS`] or [`SDN_DIR_INGRESS`] (from the instance's point of view).
    pub direction: u32,
}

/// Mirrors `struct sdn_counter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted (whole frames, Ethernet header included).
    pub bytes: u64,
}

/// Mirrors `struct sdn_meter_value`: one counter per frame class.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeterValue {
    /// Indexed by `SDN_CLASS_*`.
    pub by_class: [Counter; SDN_CLASS_COUNT as usize],
}

// SAFETY: plain `#[repr(C)]` structs of integers with no padding, valid for any bit pattern.
unsafe impl aya::Pod for MeterKey {}
// SAFETY: as above.
unsafe impl aya::Pod for Counter {}
// SAFETY: as above.
unsafe impl aya::Pod for MeterValue {}

/// The layout of one mirrored struct, as the Rust compiler lays it out.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// The C struct's name without `struct `.
    pub c_name: &'static str,
    /// `size_of` the Rust type.
    pub size: usize,
    /// `(field, offset, size)` for every field, in declaration order.
    pub fields: Vec<(&'static str, usize, usize)>,
}

fn field_size<T, F>(_: impl Fn(&T) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! mirror {
    ($ty:ty, $c:literal, $($field:ident),+ $(,)?) => {
        Mirror {
            c_name: $c,
            size: size_of::<$ty>(),
            fields: vec![$((
                stringify!($field),
                std::mem::offset_of!($ty, $field),
                field_size(|s: &$ty| &s.$field),
            )),+],
        }
    };
}

/// Every mirrored struct with its Rust layout, for the drift check.
pub fn mirrors() -> Vec<Mirror> {
    vec![
        mirror!(MeterKey, "sdn_meter_key", ifindex, direction),
        mirror!(Counter, "sdn_counter", packets, bytes),
        mirror!(MeterValue, "sdn_meter_value", by_class),
    ]
}
