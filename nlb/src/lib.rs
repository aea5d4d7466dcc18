//! Network load balancer logic shared by the controller and the agent (issue 5, "Network load
//! balancer").
//!
//! What exists:
//! - [`maglev`]: weighted Maglev lookup-table generation (pure and deterministic, so every LB node
//!   and the controller compute the same table), table-size selection and validation, the fraction
//!   of slots a backend change remaps, and share statistics.
//! - [`siphash`]: the fixed, portable hash (SipHash-2-4) behind the Maglev preference lists.
//! - [`flow_hash`]: the hash the LB dataplane picks a Maglev slot with (the same function as
//!   `ebpf/include/lb_hash.h`), so user space can say which backend a flow gets.
//! - [`health`]: backend health as a pure state machine (interval, timeout, retries down and up;
//!   unknown, healthy, unhealthy, draining; every change an event with a reason).
//! - [`probe`]: the tokio shell: tcp and http probes, and a monitor that drives a tracker.
//! - [`error`]: this crate's error type.
//!
//! Not yet here (issue 5): the service model shared by the controller and the agent, and the
//! agent's writing of the LB maps (docs/nlb.md).

pub mod error;
pub mod flow_hash;
pub mod health;
pub mod maglev;
pub mod probe;
pub mod siphash;

pub use error::{Error, Result};
