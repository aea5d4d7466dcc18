//! eBPF programs written in C, the shared kernel/user ABI, and the tools to run them on crafted packets.

pub mod privilege;
