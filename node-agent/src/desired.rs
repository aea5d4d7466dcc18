//! The agent's pure core: the node's desired state as the controller sent it, and what the kernel
//! must hold for it. No kernel, no gRPC, no I/O.
//!
//! - [`DesiredStore`] keeps the objects of the sync stream by kind and id and applies
//!   `Snapshot`s (replace everything) and `Delta`s (upserts and removals on top of the revision
//!   they start from; a delta that does not start where the store stands is refused, and the
//!   agent reconnects for a snapshot).
//! - [`node_intent`] maps the store to a [`NodeIntent`]: per local port its [`PortSpec`] (device
//!   name from [`port_device`], MAC, addresses and the EUI-64 link-local) and its
//!   [`PortPolicy`] (the rules of its groups, with [`RuleIds`] numbering them and the member
//!   addresses of remote groups from address sets); the [`NodeNetworks`] the network driver
//!   plans from; and the DHCP leases of every managed network. What cannot be mapped (a port
//!   without MAC, a rule the dataplane cannot express) is listed in [`NodeIntent::problems`] and
//!   reported in the ack; the rest still applies.
//!
//! **Device names** (documented convention, `docs/agent.md`): a port's device in the node's
//! namespace is `sdn` + the first 12 hex digits of its UUID without dashes (15 characters, the
//! kernel's limit), e.g. port `6f1c2b8e-4a5d-4e6f-...` is `sdn6f1c2b8e4a5d`. These never collide
//! with the network devices (`sdnbr<vni>`, `sdnvx<vni>`: `r`, `v`, `x` are not hex digits).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use ipnetwork::{IpNetwork, Ipv4Network};
use sdn_proto::v1 as pb;
use sdn_proto::v1::desired_object::Object;

use crate::dhcp::{DhcpConfig, Leases, server_address};
use crate::network::{DeviceNames, MacAddr, NetworkIntent, NodeNetworks, RemotePort};
use crate::policy::{Direction, GroupId, PortPolicy, Protocol, Remote, Rule};
use crate::port_dataplane::PortSpec;
use crate::rule_ids::{RuleIds, RuleKey};

/// A sync message the store cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A delta that does not start at the store's revision.
    #[error(
        "delta to revision {revision} starts at {base} but the agent holds {held}; reconnect for a snapshot"
    )]
    BaseMismatch {
        /// The revision the store holds.
        held: i64,
        /// The delta's base.
        base: i64,
        /// The delta's revision.
        revision: i64,
    },
}

/// The node's desired state: every object of the sync stream, by kind and id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredStore {
    revision: i64,
    objects: BTreeMap<(pb::ObjectKind, String), Object>,
}

/// What one applied message changed beyond the objects themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The revision the store is now at.
    pub revision: i64,
    /// Groups upserted with `revoked_rule_ids`: their ports cut the flows of removed rules.
    pub revoking_groups: BTreeSet<String>,
    /// Whether the message changed nothing (a repeated delta).
    pub unchanged: bool,
}

/// The kind and id of an object (address sets by their group's id).
pub fn object_key(object: &Object) -> (pb::ObjectKind, String) {
    let id = |m: &Option<pb::ObjectMeta>| m.as_ref().map(|m| m.id.clone()).unwrap_or_default();
    match object {
        Object::Port(p) => (pb::ObjectKind::Port, id(&p.meta)),
        Object::Network(n) => (
            pb::ObjectKind::Network,
            n.network.as_ref().map(|n| id(&n.meta)).unwrap_or_default(),
        ),
        Object::SecurityGroup(g) => (pb::ObjectKind::SecurityGroup, id(&g.meta)),
        Object::AddressSet(a) => (pb::ObjectKind::AddressSet, a.group_id.clone()),
        Object::LoadBalancer(l) => (
            pb::ObjectKind::LoadBalancer,
            l.load_balancer
                .as_ref()
                .map(|l| id(&l.meta))
                .unwrap_or_default(),
        ),
        Object::Node(n) => (pb::ObjectKind::Node, id(&n.meta)),
    }
}

fn revoking(objects: &[pb::DesiredObject]) -> BTreeSet<String> {
    objects
        .iter()
        .filter_map(|o| match &o.object {
            Some(Object::SecurityGroup(g)) if !g.revoked_rule_ids.is_empty() => {
                g.meta.as_ref().map(|m| m.id.clone())
            }
            _ => None,
        })
        .collect()
}

impl DesiredStore {
    /// Empty, at revision 0.
    pub fn new() -> DesiredStore {
        DesiredStore::default()
    }

    /// The revision of the last message applied (0: nothing yet).
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Replaces everything with a snapshot.
    pub fn apply_snapshot(&mut self, snapshot: &pb::Snapshot) -> Applied {
        let before = std::mem::take(&mut self.objects);
        for o in &snapshot.objects {
            if let Some(object) = &o.object {
                self.objects.insert(object_key(object), object.clone());
            }
        }
        let unchanged = before == self.objects && self.revision == snapshot.revision;
        self.revision = snapshot.revision;
        Applied {
            revision: snapshot.revision,
            revoking_groups: revoking(&snapshot.objects),
            unchanged,
        }
    }

    /// Applies a delta on top of the revision it starts from. A delta the store already holds
    /// (its revision is the store's, its base earlier) changes nothing.
    pub fn apply_delta(&mut self, delta: &pb::Delta) -> Result<Applied, StoreError> {
        if delta.revision == self.revision && delta.base_revision <= self.revision {
            return Ok(Applied {
                revision: self.revision,
                revoking_groups: BTreeSet::new(),
                unchanged: true,
            });
        }
        if delta.base_revision != self.revision {
            return Err(StoreError::BaseMismatch {
                held: self.revision,
                base: delta.base_revision,
                revision: delta.revision,
            });
        }
        for r in &delta.removals {
            let kind = pb::ObjectKind::try_from(r.kind).unwrap_or(pb::ObjectKind::Unspecified);
            self.objects.remove(&(kind, r.id.clone()));
        }
        for o in &delta.upserts {
            if let Some(object) = &o.object {
                self.objects.insert(object_key(object), object.clone());
            }
        }
        self.revision = delta.revision;
        Ok(Applied {
            revision: delta.revision,
            revoking_groups: revoking(&delta.upserts),
            unchanged: false,
        })
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn of_kind(&self, kind: pb::ObjectKind) -> impl Iterator<Item = &Object> {
        self.objects
            .range((kind, String::new())..)
            .take_while(move |((k, _), _)| *k == kind)
            .map(|(_, o)| o)
    }

    /// The local ports.
    pub fn ports(&self) -> impl Iterator<Item = &pb::Port> {
        self.of_kind(pb::ObjectKind::Port).filter_map(|o| match o {
            Object::Port(p) => Some(p),
            _ => None,
        })
    }

    /// The networks of the local ports.
    pub fn networks(&self) -> impl Iterator<Item = &pb::NetworkConfig> {
        self.of_kind(pb::ObjectKind::Network)
            .filter_map(|o| match o {
                Object::Network(n) => Some(n),
                _ => None,
            })
    }

    /// A security group, by id.
    pub fn group(&self, id: &str) -> Option<&pb::SecurityGroup> {
        match self
            .objects
            .get(&(pb::ObjectKind::SecurityGroup, id.to_owned()))
        {
            Some(Object::SecurityGroup(g)) => Some(g),
            _ => None,
        }
    }

    /// A remote group's member addresses, by group id.
    pub fn address_set(&self, group: &str) -> Option<&pb::AddressSet> {
        match self
            .objects
            .get(&(pb::ObjectKind::AddressSet, group.to_owned()))
        {
            Some(Object::AddressSet(a)) => Some(a),
            _ => None,
        }
    }
}

/// The device of a port in the node's namespace: `sdn` + the first 12 hex digits of its UUID
/// without dashes. `None` when the id is not a UUID.
pub fn port_device(port_id: &str) -> Option<String> {
    let hex: String = port_id.chars().filter(|c| *c != '-').collect();
    let ok = hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && port_id.len() == 36
        && [8, 13, 18, 23]
            .iter()
            .all(|i| port_id.as_bytes().get(*i) == Some(&b'-'));
    ok.then(|| format!("sdn{}", hex[..12].to_ascii_lowercase()))
}

/// The EUI-64 IPv6 link-local address Linux gives a NIC with `mac` (the instance's own, which
/// anti-spoofing must allow for ND and router solicitations).
pub fn link_local(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// What the agent needs besides the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// This node's underlay (VTEP) address.
    pub underlay: IpAddr,
    /// Names of the network devices.
    pub devices: DeviceNames,
    /// MTU handed out by DHCP (the underlay's minus the 50 bytes of VXLAN).
    pub dhcp_mtu: Option<u16>,
    /// Lease time handed out by DHCP.
    pub lease_time: Duration,
}

impl NodeSettings {
    /// Defaults for an underlay address: devices `sdn*`, MTU 1450, leases of one hour.
    pub fn new(underlay: IpAddr) -> NodeSettings {
        NodeSettings {
            underlay,
            devices: DeviceNames::default(),
            dhcp_mtu: Some(1450),
            lease_time: Duration::from_secs(3600),
        }
    }
}

/// A port on this node, as the dataplane needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPort {
    /// The port's id.
    pub id: String,
    /// Its network's id.
    pub network_id: String,
    /// Device, MAC, addresses.
    pub spec: PortSpec,
    /// Rules of its groups.
    pub policy: PortPolicy,
    /// Its groups, in order.
    pub groups: Vec<String>,
}

/// The DHCP server of one managed network on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpIntent {
    /// The network's bridge.
    pub bridge: String,
    /// Options.
    pub config: DhcpConfig,
    /// The local ports' leases.
    pub leases: Leases,
}

/// An object the agent cannot apply (reported in the ack).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Kind of the object.
    pub kind: pb::ObjectKind,
    /// Its id.
    pub id: String,
    /// Why, lower-case.
    pub reason: String,
}

/// Everything the kernel of this node must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIntent {
    /// Local ports by device name.
    pub ports: BTreeMap<String, LocalPort>,
    /// Private networks.
    pub networks: NodeNetworks,
    /// DHCP servers by network id (managed networks).
    pub dhcp: BTreeMap<String, DhcpIntent>,
    /// What could not be mapped.
    pub problems: Vec<Problem>,
}

fn meta_id(meta: &Option<pb::ObjectMeta>) -> String {
    meta.as_ref().map(|m| m.id.clone()).unwrap_or_default()
}

/// A rule in the compiler's terms, before numbering: `None` remote = both families.
fn rule_parts(rule: &pb::SecurityRule) -> Result<Vec<(RuleKey, Rule)>, String> {
    let direction = match pb::Direction::try_from(rule.direction) {
        Ok(pb::Direction::Ingress) => Direction::Ingress,
        Ok(pb::Direction::Egress) => Direction::Egress,
        _ => return Err(format!("rule {}: no direction", rule.id)),
    };
    use pb::security_rule::Protocol as P;
    let protocol = match &rule.protocol {
        Some(P::ProtocolName(n)) => match pb::ProtocolName::try_from(*n) {
            Ok(pb::ProtocolName::All) => Protocol::All,
            Ok(pb::ProtocolName::Tcp) => Protocol::Tcp,
            Ok(pb::ProtocolName::Udp) => Protocol::Udp,
            Ok(pb::ProtocolName::Icmp) => Protocol::Icmp,
            Ok(pb::ProtocolName::Icmpv6) => Protocol::Icmpv6,
            Ok(pb::ProtocolName::Sctp) => Protocol::Sctp,
            _ => return Err(format!("rule {}: unknown protocol {n}", rule.id)),
        },
        Some(P::ProtocolNumber(n)) => match u8::try_from(*n) {
            Ok(1) => Protocol::Icmp,
            Ok(58) => Protocol::Icmpv6,
            Ok(n) => Protocol::Number(n),
            Err(_) => return Err(format!("rule {}: protocol {n} is not 0 to 255", rule.id)),
        },
        None => return Err(format!("rule {}: no protocol", rule.id)),
    };
    let port = |p: u32| {
        u16::try_from(p).map_err(|_| format!("rule {}: port {p} is not 1 to 65535", rule.id))
    };
    let ports = match (rule.port_from, rule.port_to) {
        (0, 0) => None,
        (from, 0) => Some(port(from)?..=port(from)?),
        (from, to) => Some(port(from)?..=port(to)?),
    };
    let byte = |v: u32, what: &str| {
        u8::try_from(v).map_err(|_| format!("rule {}: icmp {what} {v} is not 0 to 255", rule.id))
    };
    let icmp = match rule.icmp_type {
        None => None,
        Some(t) => Some((
            byte(t, "type")?,
            rule.icmp_code.map(|c| byte(c, "code")).transpose()?,
        )),
    };
    let make = |remote| Rule {
        id: 0,
        direction,
        protocol,
        ports: ports.clone(),
        icmp,
        remote,
    };
    use pb::security_rule::Remote as R;
    Ok(match &rule.remote {
        Some(R::RemoteCidr(c)) => {
            let net =
                IpNetwork::from_str(c).map_err(|e| format!("rule {}: remote {c}: {e}", rule.id))?;
            vec![(RuleKey::whole(&rule.id), make(Remote::Cidr(net)))]
        }
        Some(R::RemoteGroupId(g)) => vec![(
            RuleKey::whole(&rule.id),
            make(Remote::Group(GroupId(g.clone()))),
        )],
        None => {
            let any4 = IpNetwork::V4(Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0"));
            let any6 =
                IpNetwork::V6(ipnetwork::Ipv6Network::new(Ipv6Addr::UNSPECIFIED, 0).expect("/0"));
            let mut out = Vec::new();
            if protocol != Protocol::Icmpv6 {
                out.push((RuleKey::v4(&rule.id), make(Remote::Cidr(any4))));
            }
            if protocol != Protocol::Icmp {
                out.push((RuleKey::v6(&rule.id), make(Remote::Cidr(any6))));
            }
            out
        }
    })
}

/// What the kernel of this node must hold for `store`. `ids` numbers the rules (kept across
/// calls so a rule keeps its id while it exists).
pub fn node_intent(store: &DesiredStore, settings: &NodeSettings, ids: &mut RuleIds) -> NodeIntent {
    let mut problems = Vec::new();
    let mut problem = |kind, id: &str, reason: String| {
        problems.push(Problem {
            kind,
            id: id.to_owned(),
            reason,
        })
    };

    // Rules of the groups local ports use, split and keyed.
    let used_groups: BTreeSet<&str> = store
        .ports()
        .flat_map(|p| p.security_group_ids.iter().map(String::as_str))
        .collect();
    let mut group_rules: BTreeMap<&str, Vec<(RuleKey, Rule)>> = BTreeMap::new();
    for g in &used_groups {
        let Some(group) = store.group(g) else {
            problem(
                pb::ObjectKind::SecurityGroup,
                g,
                "security group used by a local port was not sent".into(),
            );
            continue;
        };
        let mut rules = Vec::new();
        for r in &group.rules {
            match rule_parts(r) {
                Ok(parts) => rules.extend(parts),
                Err(reason) => problem(pb::ObjectKind::SecurityGroup, g, reason),
            }
        }
        group_rules.insert(g, rules);
    }
    let keys: BTreeSet<RuleKey> = group_rules
        .values()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    ids.assign(&keys);

    let mut ports = BTreeMap::new();
    for p in store.ports() {
        let id = meta_id(&p.meta);
        let Some(device) = port_device(&id) else {
            problem(pb::ObjectKind::Port, &id, "port id is not a uuid".into());
            continue;
        };
        let mac = match MacAddr::from_str(&p.mac) {
            Ok(m) if m.is_unicast() => m,
            _ => {
                problem(
                    pb::ObjectKind::Port,
                    &id,
                    format!("mac {:?} is not a unicast mac", p.mac),
                );
                continue;
            }
        };
        let mut addrs = vec![IpAddr::V6(link_local(mac))];
        for a in [&p.ipv4, &p.ipv6] {
            if a.is_empty() {
                continue;
            }
            match IpAddr::from_str(a) {
                Ok(ip) => addrs.push(ip),
                Err(e) => problem(pb::ObjectKind::Port, &id, format!("address {a}: {e}")),
            }
        }
        let mut policy = PortPolicy::default();
        for g in &p.security_group_ids {
            for (key, rule) in group_rules.get(g.as_str()).into_iter().flatten() {
                let Some(rule_id) = ids.id(key) else {
                    continue;
                };
                if let Remote::Group(remote) = &rule.remote {
                    let members = store
                        .address_set(&remote.0)
                        .map(|a| {
                            a.addresses
                                .iter()
                                .filter_map(|s| IpAddr::from_str(s).ok())
                                .collect()
                        })
                        .unwrap_or_default();
                    policy.group_members.insert(remote.clone(), members);
                }
                policy.rules.push(Rule {
                    id: rule_id,
                    ..rule.clone()
                });
            }
        }
        ports.insert(
            device.clone(),
            LocalPort {
                id,
                network_id: p.network_id.clone(),
                spec: PortSpec {
                    name: device,
                    mac: mac.0,
                    addrs,
                },
                policy,
                groups: p.security_group_ids.clone(),
            },
        );
    }

    let mut networks = NodeNetworks::new(settings.underlay);
    let mut dhcp = BTreeMap::new();
    for cfg in store.networks() {
        let Some(net) = &cfg.network else { continue };
        let id = meta_id(&net.meta);
        let local: Vec<&LocalPort> = ports.values().filter(|p| p.network_id == id).collect();
        if local.is_empty() {
            continue;
        }
        let mut intent = NetworkIntent::new(id.clone(), net.vni);
        intent.local_ports = local.iter().map(|p| p.spec.name.clone()).collect();
        for n in &cfg.neighbors {
            let parsed = (|| -> Result<RemotePort, String> {
                let ip4 = (!n.ipv4.is_empty())
                    .then(|| Ipv4Addr::from_str(&n.ipv4))
                    .transpose()
                    .map_err(|e| format!("ipv4 {}: {e}", n.ipv4))?;
                let ip6 = (!n.ipv6.is_empty())
                    .then(|| Ipv6Addr::from_str(&n.ipv6))
                    .transpose()
                    .map_err(|e| format!("ipv6 {}: {e}", n.ipv6))?;
                Ok(RemotePort {
                    mac: MacAddr::from_str(&n.mac).map_err(|e| e.to_string())?,
                    ipv4: ip4,
                    ipv6: ip6,
                    vtep: IpAddr::from_str(&n.vtep).map_err(|e| format!("vtep {}: {e}", n.vtep))?,
                })
            })();
            match parsed {
                Ok(r) => intent.remote_ports.push(r),
                Err(e) => problem(
                    pb::ObjectKind::Network,
                    &id,
                    format!("neighbour port {}: {e}", n.port_id),
                ),
            }
        }
        for v in &cfg.flood_vteps {
            match IpAddr::from_str(v) {
                Ok(ip) => {
                    intent.flood.insert(ip);
                }
                Err(e) => problem(pb::ObjectKind::Network, &id, format!("flood vtep {v}: {e}")),
            }
        }
        intent.remote_ports.sort();
        networks.networks.push(intent);

        let managed = !matches!(
            pb::NetworkMode::try_from(net.mode),
            Ok(pb::NetworkMode::Unmanaged)
        );
        if managed && let Ok(subnet) = Ipv4Network::from_str(&net.ipv4_cidr) {
            let leases: Leases = local
                .iter()
                .filter_map(|p| {
                    let v4 = p.spec.addrs.iter().find_map(|a| match a {
                        IpAddr::V4(v4) => Some(*v4),
                        IpAddr::V6(_) => None,
                    })?;
                    Some((MacAddr(p.spec.mac), v4))
                })
                .collect();
            dhcp.insert(
                id.clone(),
                DhcpIntent {
                    bridge: settings.devices.bridge(net.vni),
                    config: DhcpConfig {
                        server_id: server_address(subnet, None),
                        subnet,
                        router: None,
                        dns: Vec::new(),
                        lease_time: settings.lease_time,
                        mtu: settings.dhcp_mtu,
                    },
                    leases,
                },
            );
        }
    }
    for p in ports.values() {
        if !networks.networks.iter().any(|n| n.id == p.network_id) {
            problem(
                pb::ObjectKind::Port,
                &p.id,
                format!("network {} of the port was not sent", p.network_id),
            );
        }
    }
    networks.networks.sort_by_key(|n| n.vni);
    if let Err(e) = networks.validate() {
        problem(pb::ObjectKind::Network, "", e.to_string());
    }
    problems.sort();
    problems.dedup();
    NodeIntent {
        ports,
        networks,
        dhcp,
        problems,
    }
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
