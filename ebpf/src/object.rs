//! The compiled eBPF objects, built from `ebpf/programs/*.bpf.c` by `build.rs` and embedded.

/// One compiled object: its name (the source file without `.bpf.c`) and its ELF bytes.
#[derive(Debug, Clone, Copy)]
pub struct Object {
    /// `metering` for `programs/metering.bpf.c`.
    pub name: &'static str,
    /// The ELF object, aligned as aya requires.
    pub bytes: &'static [u8],
}

/// Per-port metering: `sdn_meter_rx` (XDP) and `sdn_meter_tx` (TC).
pub const METERING: Object = Object {
    name: "metering",
    bytes: aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/metering.bpf.o")),
};

/// Every object this crate builds.
pub const ALL: &[Object] = &[METERING];

/// Program and map names, the same strings as in the C sources.
pub mod names {
    /// XDP metering on a port's receive side.
    pub const METER_RX: &str = "sdn_meter_rx";
    /// TC metering on a port's transmit side.
    pub const METER_TX: &str = "sdn_meter_tx";
    /// Per-port, per-direction, per-class counters.
    pub const METER_MAP: &str = "sdn_meter";
    /// Frames seen on ports without a `sdn_meter` entry.
    pub const METER_MISSED_MAP: &str = "sdn_meter_missed";
}
