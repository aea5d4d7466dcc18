//! The node agent: runs on every hypervisor and programs its kernel.
//!
//! Today it owns the eBPF loader ([`loader`]), typed counters ([`metering`]) and namespace entry
//! ([`netns`]); the sync client, netlink driver and security-group driver come with their issues.

pub mod attribution;
pub mod dhcp;
pub mod loader;
pub mod metering;
pub mod netns;
pub mod network;
pub mod policy;
pub mod port_dataplane;
pub mod desired;
pub mod rule_ids;
pub mod agent_metrics;
pub mod reconcile;
pub mod sync_client;
