//! Protocol buffers for the orchestrator API and the agent sync stream (package `sdn.v1`).
//!
//! The `.proto` files under `proto/sdn/v1/` are the contract; every field is documented there:
//! - `resources.proto`: the stored objects (Node, PrivateNetwork, Port, SecurityGroup, LoadBalancer);
//! - `api.proto`: the `Controller` service orchestrators and operators call, with convergence receipts;
//! - `sync.proto`: the `AgentSync` bidirectional stream between the controller and each node agent.
//!
//! The Rust code is generated at build time by tonic-prost-build (clients and servers for both
//! services); `protoc` must be installed (`cargo xtask deps`).

/// Everything in package `sdn.v1`: messages, enums, `controller_client`/`controller_server`,
/// `agent_sync_client`/`agent_sync_server`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("sdn.v1");

    /// The encoded `FileDescriptorSet` of package `sdn.v1`, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sdn_v1_descriptor");
}
