//! What the kernel holds, as the planner needs it: the adapter reads it, tests write it by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::intent::MacAddr;

/// The UDP port of every VXLAN device the agent makes (IANA's VXLAN port).
pub const VXLAN_PORT: u16 = 4789;

/// The part of a namespace's network state the planner reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelState {
    /// Every link, by name.
    pub links: BTreeMap<String, LinkState>,
    /// FDB entries on the agent's VXLAN devices (others are left out by the adapter).
    pub fdb: BTreeSet<FdbEntry>,
    /// Permanent neighbour entries on the agent's bridges (others are left out by the adapter).
    pub neighbours: BTreeSet<NeighbourEntry>,
}

/// A link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// What kind of device it is.
    pub kind: LinkKind,
    /// Administratively up.
    pub up: bool,
    /// The name of its master (the bridge it is enslaved to), if any.
    pub master: Option<String>,
    /// Its bridge-port settings, when it is a bridge port.
    pub bridge_port: Option<BridgePortState>,
}

impl LinkState {
    /// A link of `kind`, down, with no master.
    pub fn new(kind: LinkKind) -> Self {
        LinkState {
            kind,
            up: false,
            master: None,
            bridge_port: None,
        }
    }
}

/// The kinds of link the planner tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge,
    /// A VXLAN device.
    Vxlan(VxlanState),
    /// Anything else (veth, tap, ...).
    Other,
}

/// A VXLAN device's settings that the planner checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanState {
    /// Its VNI.
    pub vni: u32,
    /// Its local (source) underlay address.
    pub local: Option<IpAddr>,
    /// Its destination UDP port.
    pub dstport: u16,
    /// Whether it learns remote MACs from received packets (the agent wants it off).
    pub learning: bool,
}

/// A bridge port's settings that the planner checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgePortState {
    /// The bridge learns source MACs arriving on this port.
    pub learning: bool,
    /// ARP/ND requests are answered by the bridge and not forwarded to this port.
    pub neigh_suppress: bool,
}

/// An FDB entry on one of the agent's VXLAN devices.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FdbEntry {
    /// The VXLAN device.
    pub dev: String,
    /// The MAC; [`MacAddr::ZERO`] for flood entries.
    pub mac: MacAddr,
    /// Which table and where to.
    pub target: FdbTarget,
}

/// Which FDB an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FdbTarget {
    /// The VXLAN device's own FDB (`self`, permanent): the MAC is behind this VTEP.
    Remote(IpAddr),
    /// The bridge's FDB (`master`, static): the MAC is behind the VXLAN port. Needed by ARP/ND
    /// suppression, which answers only for MACs the bridge knows on a suppressing port.
    Port,
    /// A MAC the bridge learned on the VXLAN port (learning is off, so only left-overs).
    Learned,
}

/// A permanent neighbour entry on one of the agent's bridges: what ARP/ND suppression answers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeighbourEntry {
    /// The bridge.
    pub dev: String,
    /// The address.
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: MacAddr,
}
