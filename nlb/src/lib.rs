//! Network load balancer logic shared by the controller and the agent (issue 5, "Network load
//! balancer").
//!
//! What exists:
//! - [`maglev`]: weighted Maglev lookup-table generation (pure and deterministic, so every LB node
//!   and the controller compute the same table), table-size selection and validation, the fraction
//!   of slots a backend change remaps, and share statistics.
//! - [`siphash`]: the fixed, portable hash (SipHash-2-4) behind the Maglev preference lists.
//! - [`error`]: this crate's error type.
//!
//! Not yet here (issue 5): the health checker (tcp, http) and the service model shared by the
//! controller and the agent.

pub mod error;
pub mod maglev;
pub mod siphash;

pub use error::{Error, Result};
