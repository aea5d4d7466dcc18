//! The planner: from what the kernel holds and what the node should hold, the netlink operations
//! that close the gap. Pure: no kernel, no I/O.
//!
//! The plan is minimal and idempotent: applying it and planning again yields nothing, and every
//! operation is one the adapter can repeat. It only touches what the agent owns (devices named by
//! [`DeviceNames`], FDB entries on its VXLAN devices, permanent neighbour entries on its bridges,
//! and the master of intended ports or of ports on its bridges).
//!
//! Order: devices of networks no longer intended are deleted first (VXLAN before bridge); then,
//! network by network in VNI order: bridge, VXLAN device (recreated when its VNI, local address,
//! port or learning differ), VXLAN port settings, ports, FDB removals then additions, neighbour
//! removals then additions. Ports that belong to no network any more leave the agent's bridges.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use super::error::IntentError;
use super::intent::{DeviceKind, DeviceNames, MacAddr, NetworkIntent, NodeNetworks};
use super::state::{
    BridgePortState, FdbEntry, FdbTarget, KernelState, LinkKind, NeighbourEntry, VXLAN_PORT,
    VxlanState,
};

/// The bridge-port settings of a network's VXLAN port: no learning (MACs come from the
/// controller), neighbour suppression (ARP/ND answered on the node).
pub const VXLAN_PORT_SETTINGS: BridgePortState = BridgePortState {
    learning: false,
    neigh_suppress: true,
};

/// One netlink operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetlinkOp {
    /// Deletes a link (its FDB and neighbour entries go with it; its ports are released).
    DeleteLink {
        /// The link.
        name: String,
    },
    /// Creates a bridge, down, with IPv6 address generation off (the bridge has no address and
    /// sends nothing of its own into the network).
    CreateBridge {
        /// Its name.
        name: String,
    },
    /// Creates a VXLAN device with learning off, down, with IPv6 address generation off.
    CreateVxlan {
        /// Its name.
        name: String,
        /// Its VNI.
        vni: u32,
        /// The node's underlay address.
        local: IpAddr,
        /// The UDP port, [`VXLAN_PORT`].
        dstport: u16,
    },
    /// Enslaves `dev` to the bridge `master`.
    SetMaster {
        /// The port.
        dev: String,
        /// The bridge.
        master: String,
    },
    /// Releases `dev` from its bridge.
    Release {
        /// The port.
        dev: String,
    },
    /// Sets the bridge-port settings of a VXLAN port ([`VXLAN_PORT_SETTINGS`]).
    ConfigureVxlanPort {
        /// The VXLAN device.
        dev: String,
    },
    /// Sets a link up.
    SetUp {
        /// The link.
        dev: String,
    },
    /// Adds an FDB entry: a `self` permanent one with its destination (appended when the MAC is
    /// zero, so that a flood list has several; replacing otherwise), or a `master` static one.
    AddFdb(FdbEntry),
    /// Deletes an FDB entry (for a flood entry, only the one destination).
    DelFdb(FdbEntry),
    /// Adds or replaces a permanent neighbour entry.
    SetNeighbour(NeighbourEntry),
    /// Deletes a neighbour entry.
    DelNeighbour(NeighbourEntry),
}

impl fmt::Display for NetlinkOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetlinkOp::DeleteLink { name } => write!(f, "delete link {name}"),
            NetlinkOp::CreateBridge { name } => write!(f, "create bridge {name}"),
            NetlinkOp::CreateVxlan {
                name,
                vni,
                local,
                dstport,
            } => write!(
                f,
                "create vxlan {name} id {vni} local {local} dstport {dstport} nolearning"
            ),
            NetlinkOp::SetMaster { dev, master } => write!(f, "set {dev} master {master}"),
            NetlinkOp::Release { dev } => write!(f, "set {dev} nomaster"),
            NetlinkOp::ConfigureVxlanPort { dev } => {
                write!(f, "set bridge port {dev} learning off neigh_suppress on")
            }
            NetlinkOp::SetUp { dev } => write!(f, "set {dev} up"),
            NetlinkOp::AddFdb(e) => write!(f, "fdb add {}", FdbDisplay(e)),
            NetlinkOp::DelFdb(e) => write!(f, "fdb del {}", FdbDisplay(e)),
            NetlinkOp::SetNeighbour(n) => {
                write!(
                    f,
                    "neigh replace {} lladdr {} dev {} permanent",
                    n.ip, n.mac, n.dev
                )
            }
            NetlinkOp::DelNeighbour(n) => write!(f, "neigh del {} dev {}", n.ip, n.dev),
        }
    }
}

struct FdbDisplay<'a>(&'a FdbEntry);

impl fmt::Display for FdbDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let FdbEntry { dev, mac, target } = self.0;
        match target {
            FdbTarget::Remote(dst) => write!(f, "{mac} dev {dev} dst {dst} self permanent"),
            FdbTarget::Port => write!(f, "{mac} dev {dev} master static"),
            FdbTarget::Learned => write!(f, "{mac} dev {dev} master (learned)"),
        }
    }
}

/// The operations that take `state` to `intent`, devices named by `names`.
pub fn plan(
    state: &KernelState,
    intent: &NodeNetworks,
    names: &DeviceNames,
) -> Result<Vec<NetlinkOp>, IntentError> {
    intent.validate()?;
    let mut ops = Vec::new();
    let intended: BTreeMap<u32, &NetworkIntent> =
        intent.networks.iter().map(|n| (n.vni, n)).collect();

    // Devices of networks this node no longer hosts: VXLAN devices first, then bridges.
    let mut stale: Vec<(DeviceKind, &str)> = state
        .links
        .keys()
        .filter_map(|name| {
            let owned = names.parse(name)?;
            (!intended.contains_key(&owned.vni)).then_some((owned.kind, name.as_str()))
        })
        .collect();
    stale.sort_by_key(|(kind, name)| (*kind == DeviceKind::Bridge, *name));
    for (_, name) in &stale {
        ops.push(NetlinkOp::DeleteLink {
            name: (*name).to_owned(),
        });
    }

    let all_local: BTreeSet<&str> = intent
        .networks
        .iter()
        .flat_map(|n| n.local_ports.iter().map(String::as_str))
        .collect();
    for net in intended.values() {
        plan_network(state, net, intent.underlay, names, &all_local, &mut ops);
    }
    Ok(ops)
}

fn plan_network(
    state: &KernelState,
    net: &NetworkIntent,
    underlay: IpAddr,
    names: &DeviceNames,
    all_local: &BTreeSet<&str>,
    ops: &mut Vec<NetlinkOp>,
) {
    let br = names.bridge(net.vni);
    let vx = names.vxlan(net.vni);

    // The bridge.
    let bridge = state.links.get(&br);
    let br_new = !matches!(bridge, Some(l) if l.kind == LinkKind::Bridge);
    if br_new {
        if bridge.is_some() {
            ops.push(NetlinkOp::DeleteLink { name: br.clone() });
        }
        ops.push(NetlinkOp::CreateBridge { name: br.clone() });
    }

    // The VXLAN device.
    let wanted = VxlanState {
        vni: net.vni,
        local: Some(underlay),
        dstport: VXLAN_PORT,
        learning: false,
    };
    let vxlan = state.links.get(&vx);
    let vx_new = !matches!(vxlan, Some(l) if l.kind == LinkKind::Vxlan(wanted.clone()));
    if vx_new {
        if vxlan.is_some() {
            ops.push(NetlinkOp::DeleteLink { name: vx.clone() });
        }
        ops.push(NetlinkOp::CreateVxlan {
            name: vx.clone(),
            vni: net.vni,
            local: underlay,
            dstport: VXLAN_PORT,
        });
    }
    let vx_enslaved = !vx_new && !br_new && vxlan.and_then(|l| l.master.as_deref()) == Some(&br);
    if !vx_enslaved {
        ops.push(NetlinkOp::SetMaster {
            dev: vx.clone(),
            master: br.clone(),
        });
    }
    if !vx_enslaved || vxlan.and_then(|l| l.bridge_port) != Some(VXLAN_PORT_SETTINGS) {
        ops.push(NetlinkOp::ConfigureVxlanPort { dev: vx.clone() });
    }
    if vx_new || !vxlan.is_some_and(|l| l.up) {
        ops.push(NetlinkOp::SetUp { dev: vx.clone() });
    }

    // Local ports: join the bridge; others leave it unless another network claims them.
    for port in &net.local_ports {
        let master = state.links.get(port).and_then(|l| l.master.as_deref());
        if br_new || master != Some(br.as_str()) {
            ops.push(NetlinkOp::SetMaster {
                dev: port.clone(),
                master: br.clone(),
            });
        }
    }
    if !br_new {
        for (name, link) in &state.links {
            if link.master.as_deref() == Some(br.as_str())
                && *name != vx
                && !all_local.contains(name.as_str())
            {
                ops.push(NetlinkOp::Release { dev: name.clone() });
            }
        }
    }
    if br_new || !bridge.is_some_and(|l| l.up) {
        ops.push(NetlinkOp::SetUp { dev: br.clone() });
    }

    // FDB: each remote MAC behind its VTEP (in the VXLAN device and, for ARP/ND suppression, in
    // the bridge), and one flood entry per node of the flood list.
    let mut fdb = BTreeSet::new();
    for port in net.remote_ports.iter().filter(|p| p.vtep != underlay) {
        for target in [FdbTarget::Remote(port.vtep), FdbTarget::Port] {
            fdb.insert(FdbEntry {
                dev: vx.clone(),
                mac: port.mac,
                target,
            });
        }
    }
    for &vtep in net.flood.iter().filter(|&&v| v != underlay) {
        fdb.insert(FdbEntry {
            dev: vx.clone(),
            mac: MacAddr::ZERO,
            target: FdbTarget::Remote(vtep),
        });
    }
    let current: BTreeSet<&FdbEntry> = if vx_new {
        BTreeSet::new()
    } else {
        state.fdb.iter().filter(|e| e.dev == vx).collect()
    };
    for gone in current.iter().filter(|e| !fdb.contains(*e)) {
        ops.push(NetlinkOp::DelFdb((*gone).clone()));
    }
    for entry in fdb.iter().filter(|e| !current.contains(e)) {
        ops.push(NetlinkOp::AddFdb(entry.clone()));
    }

    // Neighbours on the bridge, answered by ARP/ND suppression.
    let neighbours: BTreeMap<IpAddr, MacAddr> = net
        .remote_ports
        .iter()
        .flat_map(|p| {
            let ips = p
                .ipv4
                .map(IpAddr::V4)
                .into_iter()
                .chain(p.ipv6.map(IpAddr::V6));
            ips.map(move |ip| (ip, p.mac))
        })
        .collect();
    let current: BTreeMap<IpAddr, &NeighbourEntry> = if br_new {
        BTreeMap::new()
    } else {
        state
            .neighbours
            .iter()
            .filter(|n| n.dev == br)
            .map(|n| (n.ip, n))
            .collect()
    };
    for (ip, entry) in &current {
        if !neighbours.contains_key(ip) {
            ops.push(NetlinkOp::DelNeighbour((*entry).clone()));
        }
    }
    for (&ip, &mac) in &neighbours {
        if current.get(&ip).map(|n| n.mac) != Some(mac) {
            ops.push(NetlinkOp::SetNeighbour(NeighbourEntry {
                dev: br.clone(),
                ip,
                mac,
            }));
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
