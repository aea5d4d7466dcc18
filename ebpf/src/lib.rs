//! eBPF programs written in C, the shared kernel/user ABI, and the tools to run them on crafted packets.
//!
//! - [`abi`]: the Rust mirror of `include/sdn_abi.h` (the only module that touches raw ABI types);
//! - [`object`]: the compiled programs, embedded in the binary;
//! - [`fixture`]: the table-driven BPF_PROG_TEST_RUN harness;
//! - [`privilege`]: the gate in front of privileged test tiers.

pub mod abi;
pub mod btf_layout;
pub mod fixture;
pub mod object;
pub mod packet;
pub mod privilege;
