//! The agent sync service: one bidirectional stream per node agent.
//!
//! - [`hub`]: the engine of one replica (world mirror driven by the store's watch, per-node sessions,
//!   acks, receipts, waits);
//! - [`outbox`]: each node's bounded queue, which overflows into a fresh snapshot;
//! - [`progress`]: acks, commit times, apply latencies and receipts, as pure data;
//! - [`service`]: the `sdn.v1.AgentSync` gRPC shell.
//!
//! Protocol: the agent sends a hello (node id, last applied revision); the controller answers with a
//! snapshot (new node, unknown or too old revision, or a replica that never served it) or with a delta
//! from the revision it acknowledged here; then one delta per revision that changes the node's state.
//! The agent acks each revision once applied.

pub mod hub;
pub mod outbox;
pub mod progress;
pub mod service;

pub use hub::{Hub, HubConfig, SessionHandle};
pub use service::SyncService;
