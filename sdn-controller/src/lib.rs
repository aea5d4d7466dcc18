//! The SDN controller (issue "Controller").
//!
//! It will own: the orchestrator gRPC API (`sdn.v1`), validation of every request, IPAM per private
//! network, the etcd store (the only state), the pure desired-state computation per node, the agent
//! sync service with convergence receipts, resource lifecycles as state machines, and mTLS identity.
//! Nothing is implemented yet; see ARCHITECTURE.md for the plan.
