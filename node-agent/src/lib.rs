//! The node agent: runs on every hypervisor and programs its kernel.
//!
//! Today it owns the eBPF loader ([`loader`]) and namespace entry ([`netns`]); the sync client,
//! netlink driver and security-group driver come with their issues.

pub mod netns;
