//! Protocol buffers for the orchestrator API and the agent sync stream (package `sdn.v1`).
//!
//! It will own the `.proto` files and the code generated from them by tonic-prost-build. Nothing is
//! defined yet; the controller issue adds the API.
