//! Private networks on a node: per network a Linux bridge and a VXLAN device, programmed through
//! rtnetlink from the controller's intent.
//!
//! ```text
//!   instance ports (veth/tap) --+
//!                               +-- <prefix>br<vni> (bridge) -- <prefix>vx<vni> (VXLAN, VNI, learning off,
//!   instance ports (veth/tap) --+                                  local = underlay, dstport 4789,
//!                                                                  bridge port: learning off, neigh_suppress on)
//! ```
//!
//! - **No flood-and-learn.** The VXLAN device does not learn; its FDB holds one `self permanent`
//!   entry per remote port (MAC -> VTEP of its node) and one all-zero entry per node of the flood
//!   list, which the controller computes as the other nodes hosting the network and no other: so
//!   broadcast, unknown unicast and multicast reach only those nodes. The bridge holds a `master
//!   static` entry per remote MAC (on the VXLAN port) and does not learn on that port either.
//! - **ARP/ND answered locally.** Each remote port's IPv4/IPv6 address is a permanent neighbour
//!   entry on the bridge; with `neigh_suppress` on the VXLAN port the bridge answers ARP requests
//!   and neighbour solicitations for them itself and does not send them over the underlay.
//! - **Isolation.** A network's devices carry only its VNI; two networks may use the same
//!   address range. The agent's devices generate no IPv6 address, so the node itself sends
//!   nothing into a tenant network.
//!
//! Pure core, thin shell: [`intent`] is the plain data the controller's desired state maps to
//! ([`NodeNetworks`]), [`state`] is what the kernel holds ([`KernelState`]), [`plan()`] computes
//! the [`NetlinkOp`]s between them (idempotent: after applying, planning again yields nothing,
//! which is also how drift is found), and [`netlink`] reads and applies inside the node's
//! namespace ([`NetworkDriver`]). Design notes: `docs/networks.md`.

pub mod error;
pub mod intent;
pub mod netlink;
pub mod plan;
pub mod state;

pub use error::{IntentError, NetworkError, OpFailure, OpFailureReason};
pub use intent::{DeviceNames, MacAddr, NetworkIntent, NodeNetworks, RemotePort};
pub use netlink::NetworkDriver;
pub use plan::{NetlinkOp, plan};
pub use state::{FdbEntry, FdbTarget, KernelState, NeighbourEntry, VXLAN_PORT};
