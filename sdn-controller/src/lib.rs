//! The SDN controller (issue "Controller").
//!
//! Pure core, thin shell:
//! - [`model`]: validated domain objects; [`validation`]: wire requests in, domain objects out, every
//!   refusal naming its field; [`ipam`]: address and VNI allocation; [`lifecycle`]: state machines;
//!   [`codec`]: domain <-> wire (also the etcd value format). All pure, tested without I/O.
//! - [`store`]: the `Store` trait (get, list by prefix, compare-and-swap transactions on revisions,
//!   watch from a revision) with an in-memory and an etcd implementation, and the key layout.
//! - [`registry`]: the resource operations (create/update/delete) as single guarded transactions over a
//!   `Store`, retrying on conflicts, refusing stale revisions.
//! - [`desired`]: what one node needs from a store snapshot, and the diff between two such states;
//!   [`fanout`]: the world mirror with the index from objects to the nodes they concern, so a change
//!   costs what it affects.
//! - [`sync`]: the agent sync service (per-node sessions, bounded outboxes that overflow into a
//!   snapshot, acks, convergence receipts and waits).
//! - [`api`]: the `sdn.v1.Controller` gRPC service, a thin shell over the registry and the sync hub.
//! - [`identity`]: who calls (from the mTLS client certificate) and what they may do.
//! - [`config`], [`server`], [`metrics`]: the `sdn-controller` binary's settings, listeners and
//!   Prometheus metrics.
//! - [`error`]: the error enum and its one mapping to gRPC codes.
//! - [`etcd_server`]: a throwaway etcd for tests and benchmarks.
//!
//! API reference, error codes, limits, identities and the etcd key layout: `docs/api.md`.
//!
//! Still to come (issue 3): leader election for background duties and the failover test, publishing
//! acks across replicas. The control-plane benchmark driver is `examples/control_plane.rs`.

pub mod api;
pub mod codec;
pub mod config;
pub mod desired;
pub mod error;
pub mod etcd_server;
pub mod fanout;
pub mod identity;
pub mod ipam;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod server;
pub mod store;
pub mod sync;
pub mod validation;

pub use error::{Error, Result};
