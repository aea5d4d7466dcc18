//! Desired state per node: a pure function from a snapshot of the store to what one node needs, and
//! the diff between two such states (what a delta carries).
//!
//! A node needs: its own ports (not being deleted); the security groups they use; for every group those
//! name as a remote group, its members' addresses; the networks of its ports, each with the ports of
//! that network on other nodes (FDB/neighbour entries with their VTEP) and the flood list of those
//! VTEPs; and, on `lb` nodes, every load balancer with its backends located. Nothing else of the zone.
//!
//! **Architecture Invariant**: computing one node's state costs in proportion to what concerns that node
//! (its ports, their networks' ports, their groups' members), not to the zone: [`Snapshot`] keeps
//! indexes by node, network and group.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use uuid::Uuid;

use crate::model::*;

/// Every object of the store, with the indexes the per-node computation needs.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Store revision the snapshot was read at.
    pub revision: Revision,
    nodes: BTreeMap<Uuid, Node>,
    networks: BTreeMap<Uuid, Network>,
    ports: BTreeMap<Uuid, Port>,
    groups: BTreeMap<Uuid, SecurityGroup>,
    load_balancers: BTreeMap<Uuid, LoadBalancer>,
    ports_by_node: BTreeMap<Uuid, BTreeSet<Uuid>>,
    ports_by_network: BTreeMap<Uuid, BTreeSet<Uuid>>,
    ports_by_group: BTreeMap<Uuid, BTreeSet<Uuid>>,
}

impl Snapshot {
    /// An empty snapshot at `revision`.
    pub fn new(revision: Revision) -> Snapshot {
        Snapshot {
            revision,
            ..Snapshot::default()
        }
    }

    /// Adds or replaces a node.
    pub fn put_node(&mut self, node: Node) {
        self.nodes.insert(node.meta.id, node);
    }

    /// Adds or replaces a network.
    pub fn put_network(&mut self, net: Network) {
        self.networks.insert(net.meta.id, net);
    }

    /// Adds or replaces a security group.
    pub fn put_group(&mut self, group: SecurityGroup) {
        self.groups.insert(group.meta.id, group);
    }

    /// Adds or replaces a load balancer.
    pub fn put_load_balancer(&mut self, lb: LoadBalancer) {
        self.load_balancers.insert(lb.meta.id, lb);
    }

    /// Adds or replaces a port, keeping the indexes current.
    pub fn put_port(&mut self, port: Port) {
        self.remove_port(port.meta.id);
        let id = port.meta.id;
        self.ports_by_node
            .entry(port.node_id)
            .or_default()
            .insert(id);
        self.ports_by_network
            .entry(port.network_id)
            .or_default()
            .insert(id);
        for g in &port.security_group_ids {
            self.ports_by_group.entry(*g).or_default().insert(id);
        }
        self.ports.insert(id, port);
    }

    /// Removes a port, keeping the indexes current; returns it.
    pub fn remove_port(&mut self, id: Uuid) -> Option<Port> {
        let old = self.ports.remove(&id);
        if let Some(old) = &old {
            if let Some(s) = self.ports_by_node.get_mut(&old.node_id) {
                s.remove(&id);
            }
            if let Some(s) = self.ports_by_network.get_mut(&old.network_id) {
                s.remove(&id);
            }
            for g in &old.security_group_ids {
                if let Some(s) = self.ports_by_group.get_mut(g) {
                    s.remove(&id);
                }
            }
        }
        old
    }

    /// Removes a node.
    pub fn remove_node(&mut self, id: Uuid) -> Option<Node> {
        self.nodes.remove(&id)
    }

    /// Removes a network.
    pub fn remove_network(&mut self, id: Uuid) -> Option<Network> {
        self.networks.remove(&id)
    }

    /// Removes a security group.
    pub fn remove_group(&mut self, id: Uuid) -> Option<SecurityGroup> {
        self.groups.remove(&id)
    }

    /// Removes a load balancer.
    pub fn remove_load_balancer(&mut self, id: Uuid) -> Option<LoadBalancer> {
        self.load_balancers.remove(&id)
    }

    /// A node.
    pub fn node(&self, id: Uuid) -> Option<&Node> {
        self.nodes.get(&id)
    }

    /// A network.
    pub fn network(&self, id: Uuid) -> Option<&Network> {
        self.networks.get(&id)
    }

    /// A port.
    pub fn port(&self, id: Uuid) -> Option<&Port> {
        self.ports.get(&id)
    }

    /// A security group.
    pub fn group(&self, id: Uuid) -> Option<&SecurityGroup> {
        self.groups.get(&id)
    }

    /// A load balancer.
    pub fn load_balancer(&self, id: Uuid) -> Option<&LoadBalancer> {
        self.load_balancers.get(&id)
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// Every port of a node (live or being deleted).
    pub fn ports_of_node(&self, node: Uuid) -> impl Iterator<Item = &Port> {
        self.ports_by_node
            .get(&node)
            .into_iter()
            .flatten()
            .filter_map(|id| self.ports.get(id))
    }

    fn live_ports<'a>(&'a self, ids: Option<&'a BTreeSet<Uuid>>) -> impl Iterator<Item = &'a Port> {
        ids.into_iter()
            .flatten()
            .filter_map(|id| self.ports.get(id))
            .filter(|p| p.state != PortState::Deleting)
    }

    /// The addresses of every live port using `group`, sorted.
    pub fn members(&self, group: Uuid) -> BTreeSet<IpAddr> {
        self.live_ports(self.ports_by_group.get(&group))
            .flat_map(Port::addresses)
            .collect()
    }
}

/// A port of a network on another node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Neighbor {
    /// The remote port.
    pub port_id: Uuid,
    /// Its MAC.
    pub mac: Option<Mac>,
    /// Its IPv4 address.
    pub ipv4: Option<std::net::Ipv4Addr>,
    /// Its IPv6 address.
    pub ipv6: Option<std::net::Ipv6Addr>,
    /// The underlay address of its node.
    pub vtep: IpAddr,
}

/// A network as a node needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The network.
    pub network: Network,
    /// Its ports on other nodes.
    pub neighbors: Vec<Neighbor>,
    /// The other nodes hosting it (broadcast goes there).
    pub flood_vteps: BTreeSet<IpAddr>,
}

/// Where a backend lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendLocation {
    /// The backend port.
    pub port_id: Uuid,
    /// Its IPv4 address.
    pub ipv4: Option<std::net::Ipv4Addr>,
    /// Its IPv6 address.
    pub ipv6: Option<std::net::Ipv6Addr>,
    /// The underlay address of its node.
    pub vtep: IpAddr,
    /// The VNI of its network.
    pub vni: Vni,
}

/// A load balancer as an LB node needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerConfig {
    /// The load balancer.
    pub load_balancer: LoadBalancer,
    /// Its backends, located (unknown ports are left out).
    pub backends: Vec<BackendLocation>,
}

/// Everything one node needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Its ports.
    pub ports: BTreeMap<Uuid, Port>,
    /// The networks of its ports.
    pub networks: BTreeMap<Uuid, NetworkConfig>,
    /// The groups its ports use.
    pub groups: BTreeMap<Uuid, SecurityGroup>,
    /// Member addresses of the groups named as remote groups by those groups' rules.
    pub address_sets: BTreeMap<Uuid, BTreeSet<IpAddr>>,
    /// Load balancers (LB nodes only).
    pub load_balancers: BTreeMap<Uuid, LoadBalancerConfig>,
}

/// What node `node` needs from `snap` (empty for an unknown node).
pub fn desired_for(snap: &Snapshot, node: Uuid) -> DesiredState {
    let mut out = DesiredState::default();
    let Some(me) = snap.nodes.get(&node) else {
        return out;
    };
    for port in snap.live_ports(snap.ports_by_node.get(&node)) {
        out.ports.insert(port.meta.id, port.clone());
        for g in &port.security_group_ids {
            if let Some(group) = snap.groups.get(g) {
                out.groups.insert(*g, group.clone());
            }
        }
        if !out.networks.contains_key(&port.network_id)
            && let Some(net) = snap.networks.get(&port.network_id)
        {
            out.networks
                .insert(net.meta.id, network_config(snap, net, node));
        }
    }
    let remotes: BTreeSet<Uuid> = out
        .groups
        .values()
        .flat_map(|g| g.remote_groups())
        .collect();
    for g in remotes {
        out.address_sets.insert(g, snap.members(g));
    }
    if me.has_role(NodeRole::Lb) {
        for lb in snap.load_balancers.values() {
            if lb.state == LoadBalancerState::Deleting {
                continue;
            }
            let backends = lb
                .backend_ports()
                .into_iter()
                .filter_map(|p| {
                    let port = snap.ports.get(&p)?;
                    Some(BackendLocation {
                        port_id: p,
                        ipv4: port.ipv4,
                        ipv6: port.ipv6,
                        vtep: snap.nodes.get(&port.node_id)?.underlay_ip,
                        vni: snap.networks.get(&port.network_id)?.vni,
                    })
                })
                .collect();
            out.load_balancers.insert(
                lb.meta.id,
                LoadBalancerConfig {
                    load_balancer: lb.clone(),
                    backends,
                },
            );
        }
    }
    out
}

fn network_config(snap: &Snapshot, net: &Network, node: Uuid) -> NetworkConfig {
    let mut neighbors = Vec::new();
    let mut flood_vteps = BTreeSet::new();
    for p in snap.live_ports(snap.ports_by_network.get(&net.meta.id)) {
        if p.node_id == node {
            continue;
        }
        let Some(host) = snap.nodes.get(&p.node_id) else {
            continue;
        };
        flood_vteps.insert(host.underlay_ip);
        neighbors.push(Neighbor {
            port_id: p.meta.id,
            mac: p.mac,
            ipv4: p.ipv4,
            ipv6: p.ipv6,
            vtep: host.underlay_ip,
        });
    }
    neighbors.sort();
    NetworkConfig {
        network: net.clone(),
        neighbors,
        flood_vteps,
    }
}

/// Kinds of objects in a node's desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DesiredKind {
    /// A local port.
    Port,
    /// A network with its neighbours.
    Network,
    /// A security group.
    SecurityGroup,
    /// A remote group's member addresses.
    AddressSet,
    /// A load balancer.
    LoadBalancer,
}

/// What changed between two desired states of one node: the ids to (re)send and the ids to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// Objects added or changed.
    pub upserts: BTreeSet<(DesiredKind, Uuid)>,
    /// Objects no longer needed.
    pub removals: BTreeSet<(DesiredKind, Uuid)>,
}

impl StateDiff {
    /// true when nothing changed (the node needs no delta).
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }
}

fn diff_map<V: PartialEq>(
    kind: DesiredKind,
    old: &BTreeMap<Uuid, V>,
    new: &BTreeMap<Uuid, V>,
    out: &mut StateDiff,
) {
    for (id, v) in new {
        if old.get(id) != Some(v) {
            out.upserts.insert((kind, *id));
        }
    }
    for id in old.keys() {
        if !new.contains_key(id) {
            out.removals.insert((kind, *id));
        }
    }
}

/// The delta that brings a node from `old` to `new`.
pub fn diff(old: &DesiredState, new: &DesiredState) -> StateDiff {
    let mut out = StateDiff::default();
    diff_map(DesiredKind::Port, &old.ports, &new.ports, &mut out);
    diff_map(DesiredKind::Network, &old.networks, &new.networks, &mut out);
    diff_map(
        DesiredKind::SecurityGroup,
        &old.groups,
        &new.groups,
        &mut out,
    );
    diff_map(
        DesiredKind::AddressSet,
        &old.address_sets,
        &new.address_sets,
        &mut out,
    );
    diff_map(
        DesiredKind::LoadBalancer,
        &old.load_balancers,
        &new.load_balancers,
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn meta(id: u128) -> Meta {
        Meta {
            id: Uuid::from_u128(id),
            name: format!("o{id}"),
            revision: 1,
            created_at: SystemTime::UNIX_EPOCH,
            updated_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn node(id: u128, ip: &str, roles: Vec<NodeRole>) -> Node {
        Node {
            meta: meta(id),
            underlay_ip: ip.parse().unwrap(),
            roles,
            agent_version: String::new(),
            capabilities: vec![],
            last_seen: None,
            applied_revision: 0,
            state: NodeState::Ready,
        }
    }

    fn network(id: u128, cidr: &str, vni: Vni) -> Network {
        Network {
            meta: meta(id),
            description: String::new(),
            ipv4: cidr.parse().unwrap(),
            ipv6: None,
            vni,
            mode: NetworkMode::Managed,
            range_v4: None,
            range_v6: None,
            static_leases: vec![],
            state: NetworkState::Active,
        }
    }

    fn port(id: u128, node: u128, net: u128, ip: &str, groups: &[u128]) -> Port {
        Port {
            meta: meta(id),
            instance_id: "vm".into(),
            node_id: Uuid::from_u128(node),
            network_id: Uuid::from_u128(net),
            mac: Some(Mac([2, 0, 0, 0, 0, id as u8])),
            ipv4: Some(ip.parse().unwrap()),
            ipv6: None,
            security_group_ids: groups.iter().map(|g| Uuid::from_u128(*g)).collect(),
            state: PortState::Programmed,
        }
    }

    fn group(id: u128, remote: Option<u128>) -> SecurityGroup {
        SecurityGroup {
            meta: meta(id),
            description: String::new(),
            rules: vec![Rule {
                id: Uuid::from_u128(id * 100),
                description: String::new(),
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: Some(PortRange {
                    from: 5432,
                    to: 5432,
                }),
                icmp: None,
                remote: remote.map_or(Remote::Any, |g| Remote::Group(Uuid::from_u128(g))),
            }],
            state: SecurityGroupState::Active,
            revoked_rule_ids: vec![],
        }
    }

    /// Three nodes: hv1 and hv2 compute, lb1 an LB node. Network 10 spans hv1 and hv2; network 11 is
    /// only on hv2. Group 20 ("db") admits members of group 21 ("app").
    fn zone() -> Snapshot {
        let mut s = Snapshot::new(5);
        s.put_node(node(1, "198.18.0.1", vec![NodeRole::Compute]));
        s.put_node(node(2, "198.18.0.2", vec![NodeRole::Compute]));
        s.put_node(node(3, "198.18.0.3", vec![NodeRole::Lb]));
        s.put_network(network(10, "198.18.10.0/24", 100));
        s.put_network(network(11, "198.18.11.0/24", 101));
        s.put_group(group(20, Some(21)));
        s.put_group(group(21, None));
        s.put_port(port(30, 1, 10, "198.18.10.1", &[20]));
        s.put_port(port(31, 2, 10, "198.18.10.2", &[21]));
        s.put_port(port(32, 2, 11, "198.18.11.1", &[21]));
        s.put_load_balancer(LoadBalancer {
            meta: meta(40),
            description: String::new(),
            vip: "198.19.0.1".parse().unwrap(),
            state: LoadBalancerState::Running,
            error_reason: String::new(),
            services: vec![LbService {
                id: Uuid::from_u128(41),
                name: "http".into(),
                protocol: LbProtocol::Tcp,
                port: 80,
                target_port: 8080,
                strategy: LbStrategy::Maglev,
                backends: vec![Backend {
                    port_id: Uuid::from_u128(31),
                    weight: 1,
                    health: BackendHealth::Healthy,
                    health_reason: String::new(),
                    health_changed_at: None,
                }],
                health_check: HealthCheck {
                    mode: HealthCheckMode::Tcp,
                    port: 8080,
                    interval_ms: 10_000,
                    timeout_ms: 2000,
                    retries_down: 3,
                    retries_up: 2,
                    http_path: String::new(),
                    http_expected_status: 0,
                },
            }],
        });
        s
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_node_gets_only_what_concerns_it() {
        let s = zone();
        let hv1 = desired_for(&s, id(1));
        assert_eq!(hv1.ports.keys().copied().collect::<Vec<_>>(), [id(30)]);
        assert_eq!(hv1.groups.keys().copied().collect::<Vec<_>>(), [id(20)]);
        assert_eq!(
            hv1.networks.keys().copied().collect::<Vec<_>>(),
            [id(10)],
            "not network 11"
        );
        let net = &hv1.networks[&id(10)];
        assert_eq!(net.neighbors.len(), 1);
        assert_eq!(net.neighbors[0].port_id, id(31));
        assert_eq!(
            net.neighbors[0].vtep,
            "198.18.0.2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(net.flood_vteps.len(), 1);
        // Group 20 admits members of group 21: both of hv2's ports, on any network.
        let members: Vec<String> = hv1.address_sets[&id(21)]
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(members, ["198.18.10.2", "198.18.11.1"]);
        assert!(
            hv1.load_balancers.is_empty(),
            "compute nodes get no LB config"
        );

        let lb1 = desired_for(&s, id(3));
        assert!(lb1.ports.is_empty());
        let lb = &lb1.load_balancers[&id(40)];
        assert_eq!(lb.backends.len(), 1);
        assert_eq!(lb.backends[0].vni, 100);
        assert_eq!(lb.backends[0].vtep, "198.18.0.2".parse::<IpAddr>().unwrap());

        assert_eq!(desired_for(&s, id(99)), DesiredState::default());
    }

    #[test]
    fn a_new_member_changes_only_the_address_set_of_interested_nodes() {
        let before = zone();
        let mut after = before.clone();
        after.put_port(port(33, 2, 11, "198.18.11.2", &[21]));
        // hv1 uses group 20, which names 21: its address set for 21 changes, nothing else.
        let d1 = diff(&desired_for(&before, id(1)), &desired_for(&after, id(1)));
        assert_eq!(d1.upserts, [(DesiredKind::AddressSet, id(21))].into());
        assert!(d1.removals.is_empty());
        // hv2 hosts the new port.
        let d2 = diff(&desired_for(&before, id(2)), &desired_for(&after, id(2)));
        assert!(d2.upserts.contains(&(DesiredKind::Port, id(33))));
        // The LB node is untouched (port 33 is no backend).
        let d3 = diff(&desired_for(&before, id(3)), &desired_for(&after, id(3)));
        assert!(d3.is_empty());
    }

    #[test]
    fn deleting_ports_leave_their_node_and_the_neighbour_lists() {
        let before = zone();
        let mut after = before.clone();
        let mut p = port(31, 2, 10, "198.18.10.2", &[21]);
        p.state = PortState::Deleting;
        after.put_port(p);
        let d2 = diff(&desired_for(&before, id(2)), &desired_for(&after, id(2)));
        assert!(d2.removals.contains(&(DesiredKind::Port, id(31))));
        assert!(
            d2.removals.contains(&(DesiredKind::Network, id(10))),
            "hv2 no longer hosts net 10"
        );
        let hv1 = desired_for(&after, id(1));
        assert!(hv1.networks[&id(10)].neighbors.is_empty());
        assert!(hv1.networks[&id(10)].flood_vteps.is_empty());
        assert_eq!(hv1.address_sets[&id(21)].len(), 1);
    }
}
