//! DHCPv4 for managed networks, served by the agent from the controller's leases.
//!
//! The controller's IPAM gives every port its address; the agent serves, on each network bridge
//! of its node, exactly the leases of that network's local ports (MAC -> IPv4) with the network's
//! options (mask, router, DNS, MTU, lease time). Nothing is allocated here, so the server holds
//! no state of its own, restarts without losing anything and answers the same on every node.
//!
//! - [`responder`] is the pure core: [`respond`] maps a request to an OFFER, ACK or NAK (or to
//!   no reply, with the reason: an unknown MAC is never answered, so a port without a lease
//!   gets nothing).
//! - [`frame`] takes requests out of Ethernet frames and builds the reply frames.
//! - [`server`] is the thin shell: a packet socket on the bridge inside the node's namespace
//!   (why a packet socket and not a UDP socket: see its docs) and a thread that answers,
//!   counting everything in [`DhcpStats`].
//!
//! Packets are encoded and decoded with `dhcproto`. Design notes: `docs/networks.md`.

pub mod error;
pub mod frame;
pub mod responder;
pub mod server;

pub use error::DhcpError;
pub use responder::{Destination, DhcpConfig, Dropped, Leases, NoReply, Outcome, Reply, respond};
pub use server::{DhcpServer, DhcpStats, server_address};
