//! The node agent: runs on every hypervisor and programs its kernel.
//!
//! The binary (`src/main.rs`) holds the controller's stream ([`sync_client`]), folds snapshots and
//! deltas into a local store ([`desired`]), derives the node's intent from it, and applies it
//! ([`reconcile`]) through the drivers: security groups ([`port_dataplane`], compiled by
//! [`policy`]), metering ([`metering`]), private networks ([`network`]), DHCP ([`dhcp`]). The
//! eBPF programs are loaded and pinned by [`loader`]; [`netns`] runs kernel calls inside the
//! node's namespace. See docs/agent.md.

pub mod agent_metrics;
pub mod attribution;
pub mod desired;
pub mod dhcp;
pub mod loader;
pub mod metering;
pub mod netns;
pub mod network;
pub mod policy;
pub mod port_dataplane;
pub mod reconcile;
pub mod rule_ids;
pub mod sync_client;
