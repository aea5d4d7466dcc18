//! Which nodes a change concerns: the [`World`] (a [`Snapshot`] of every object) plus an index from
//! objects to the nodes they concern, kept current change by change.
//!
//! A port concerns its node, the nodes hosting its network (neighbour and flood entries), the nodes
//! using a group whose rules name one of its groups as remote (address sets), and the LB nodes when it
//! is a backend. A group concerns the nodes whose ports use it; a network the nodes hosting it; a load
//! balancer the LB nodes; a node itself (and, when its VTEP moves, its peers).
//!
//! **Architecture Invariant**: [`World::apply`] costs in proportion to what the change affects: the
//! index counts live ports per (network, node) and (group, node), so finding the nodes of a group used
//! by a million ports on a hundred nodes walks a hundred entries, not a million.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use crate::desired::Snapshot;
use crate::model::*;

/// A stored object of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A node.
    Node(Node),
    /// A network.
    Network(Network),
    /// A port.
    Port(Port),
    /// A security group.
    SecurityGroup(SecurityGroup),
    /// A load balancer.
    LoadBalancer(LoadBalancer),
}

/// One change of the store, as the watch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An object was created or changed.
    Put(Stored),
    /// An object was removed.
    Delete(Kind, Uuid),
}

/// Live ports per node, per network or group.
type Counts = BTreeMap<Uuid, usize>;

fn count_up(map: &mut HashMap<Uuid, Counts>, key: Uuid, node: Uuid) {
    *map.entry(key).or_default().entry(node).or_default() += 1;
}

fn count_down(map: &mut HashMap<Uuid, Counts>, key: Uuid, node: Uuid) {
    if let Some(counts) = map.get_mut(&key) {
        if let Some(c) = counts.get_mut(&node) {
            *c -= 1;
            if *c == 0 {
                counts.remove(&node);
            }
        }
        if counts.is_empty() {
            map.remove(&key);
        }
    }
}

/// Every object, with the index from objects to the nodes they concern.
#[derive(Debug, Clone, Default)]
pub struct World {
    snap: Snapshot,
    /// network -> node -> live ports of the network on the node.
    nodes_by_network: HashMap<Uuid, Counts>,
    /// node -> network -> live ports of the network on the node.
    networks_by_node: HashMap<Uuid, Counts>,
    /// group -> node -> live ports using the group on the node.
    nodes_by_group: HashMap<Uuid, Counts>,
    /// group -> groups whose rules name it as remote.
    referrers: HashMap<Uuid, BTreeSet<Uuid>>,
    /// port -> load balancers using it as a backend.
    lbs_by_backend: HashMap<Uuid, BTreeSet<Uuid>>,
    /// Nodes with the `lb` role.
    lb_nodes: BTreeSet<Uuid>,
}

fn live(p: &Port) -> bool {
    p.state != PortState::Deleting
}

impl World {
    /// An empty world at `revision`.
    pub fn new(revision: Revision) -> World {
        World {
            snap: Snapshot::new(revision),
            ..World::default()
        }
    }

    /// The objects, for [`crate::desired::desired_for`].
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// The store revision the world reflects.
    pub fn revision(&self) -> Revision {
        self.snap.revision
    }

    /// Records that the world now reflects `revision`.
    pub fn set_revision(&mut self, revision: Revision) {
        self.snap.revision = revision;
    }

    /// Nodes with the `lb` role.
    pub fn lb_nodes(&self) -> &BTreeSet<Uuid> {
        &self.lb_nodes
    }

    fn port_concern(&self, p: &Port, out: &mut BTreeSet<Uuid>) {
        if live(p) {
            out.insert(p.node_id);
            if let Some(nodes) = self.nodes_by_network.get(&p.network_id) {
                out.extend(nodes.keys());
            }
            for g in &p.security_group_ids {
                for r in self.referrers.get(g).into_iter().flatten() {
                    if let Some(nodes) = self.nodes_by_group.get(r) {
                        out.extend(nodes.keys());
                    }
                }
            }
        }
        if self.lbs_by_backend.contains_key(&p.meta.id) {
            out.extend(&self.lb_nodes);
        }
    }

    fn index_port(&mut self, p: &Port, up: bool) {
        if !live(p) {
            return;
        }
        let step = if up { count_up } else { count_down };
        step(&mut self.nodes_by_network, p.network_id, p.node_id);
        step(&mut self.networks_by_node, p.node_id, p.network_id);
        for g in &p.security_group_ids {
            step(&mut self.nodes_by_group, *g, p.node_id);
        }
    }

    fn index_group(&mut self, g: &SecurityGroup, up: bool) {
        for r in g.remote_groups() {
            if up {
                self.referrers.entry(r).or_default().insert(g.meta.id);
            } else if let Some(set) = self.referrers.get_mut(&r) {
                set.remove(&g.meta.id);
                if set.is_empty() {
                    self.referrers.remove(&r);
                }
            }
        }
    }

    fn index_load_balancer(&mut self, lb: &LoadBalancer, up: bool) {
        for p in lb.backend_ports() {
            if up {
                self.lbs_by_backend.entry(p).or_default().insert(lb.meta.id);
            } else if let Some(set) = self.lbs_by_backend.get_mut(&p) {
                set.remove(&lb.meta.id);
                if set.is_empty() {
                    self.lbs_by_backend.remove(&p);
                }
            }
        }
    }

    /// The nodes whose desired state includes the object (empty for an unknown object).
    pub fn concerned(&self, kind: Kind, id: Uuid) -> BTreeSet<Uuid> {
        let mut out = BTreeSet::new();
        match kind {
            Kind::Node => {
                if self.snap.node(id).is_some() {
                    out.insert(id);
                }
            }
            Kind::Network => {
                if let Some(nodes) = self.nodes_by_network.get(&id) {
                    out.extend(nodes.keys());
                }
            }
            Kind::Port => {
                if let Some(p) = self.snap.port(id) {
                    self.port_concern(p, &mut out);
                }
            }
            Kind::SecurityGroup => {
                if let Some(nodes) = self.nodes_by_group.get(&id) {
                    out.extend(nodes.keys());
                }
            }
            Kind::LoadBalancer => {
                if self.snap.load_balancer(id).is_some() {
                    out.extend(&self.lb_nodes);
                }
            }
            Kind::SecurityRule => {}
        }
        out
    }

    /// Applies one change; returns the nodes whose desired state it may change.
    pub fn apply(&mut self, change: Change) -> BTreeSet<Uuid> {
        let mut out = BTreeSet::new();
        match change {
            Change::Put(Stored::Port(p)) => self.put_port(Some(p.meta.id), Some(p), &mut out),
            Change::Delete(Kind::Port, id) => self.put_port(Some(id), None, &mut out),
            Change::Put(Stored::SecurityGroup(g)) => {
                let id = g.meta.id;
                if let Some(old) = self.snap.remove_group(id) {
                    self.index_group(&old, false);
                }
                self.index_group(&g, true);
                self.snap.put_group(g);
                out.extend(self.concerned(Kind::SecurityGroup, id));
            }
            Change::Delete(Kind::SecurityGroup, id) => {
                if let Some(old) = self.snap.remove_group(id) {
                    self.index_group(&old, false);
                }
                out.extend(self.concerned(Kind::SecurityGroup, id));
            }
            Change::Put(Stored::Network(n)) => {
                let id = n.meta.id;
                self.snap.put_network(n);
                out.extend(self.concerned(Kind::Network, id));
            }
            Change::Delete(Kind::Network, id) => {
                self.snap.remove_network(id);
                out.extend(self.concerned(Kind::Network, id));
            }
            Change::Put(Stored::LoadBalancer(lb)) => {
                if let Some(old) = self.snap.remove_load_balancer(lb.meta.id) {
                    self.index_load_balancer(&old, false);
                }
                self.index_load_balancer(&lb, true);
                self.snap.put_load_balancer(lb);
                out.extend(&self.lb_nodes);
            }
            Change::Delete(Kind::LoadBalancer, id) => {
                if let Some(old) = self.snap.remove_load_balancer(id) {
                    self.index_load_balancer(&old, false);
                    out.extend(&self.lb_nodes);
                }
            }
            Change::Put(Stored::Node(n)) => {
                let id = n.meta.id;
                let old = self.snap.node(id).cloned();
                self.put_node(id, old.as_ref(), Some(&n), &mut out);
                self.snap.put_node(n);
            }
            Change::Delete(Kind::Node, id) => {
                let old = self.snap.remove_node(id);
                self.put_node(id, old.as_ref(), None, &mut out);
            }
            Change::Delete(Kind::SecurityRule, _) => {}
        }
        out
    }

    fn put_port(&mut self, id: Option<Uuid>, new: Option<Port>, out: &mut BTreeSet<Uuid>) {
        let Some(id) = id else { return };
        if let Some(old) = self.snap.remove_port(id) {
            self.port_concern(&old, out);
            self.index_port(&old, false);
        }
        if let Some(p) = new {
            self.index_port(&p, true);
            self.snap.put_port(p.clone());
            self.port_concern(&p, out);
        }
    }

    fn put_node(
        &mut self,
        id: Uuid,
        old: Option<&Node>,
        new: Option<&Node>,
        out: &mut BTreeSet<Uuid>,
    ) {
        match new {
            Some(n) if n.has_role(NodeRole::Lb) => {
                self.lb_nodes.insert(id);
            }
            _ => {
                self.lb_nodes.remove(&id);
            }
        }
        let (old_vtep, new_vtep) = (old.map(|n| n.underlay_ip), new.map(|n| n.underlay_ip));
        let roles_changed = old.map(|n| &n.roles) != new.map(|n| &n.roles);
        if roles_changed || old_vtep != new_vtep {
            out.insert(id);
        }
        if old.is_some() && new.is_some() && old_vtep != new_vtep {
            // Peers hold this node's VTEP in their neighbour and flood lists, LB nodes in backends.
            for net in self.networks_by_node.get(&id).into_iter().flatten() {
                if let Some(nodes) = self.nodes_by_network.get(net.0) {
                    out.extend(nodes.keys());
                }
            }
            if self
                .snap
                .ports_of_node(id)
                .any(|p| self.lbs_by_backend.contains_key(&p.meta.id))
            {
                out.extend(&self.lb_nodes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::desired::{desired_for, diff};

    fn meta(id: u128) -> Meta {
        Meta {
            id: Uuid::from_u128(id),
            name: format!("o{id}"),
            revision: 1,
            created_at: SystemTime::UNIX_EPOCH,
            updated_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn node(id: u128, ip: &str, roles: Vec<NodeRole>) -> Stored {
        Stored::Node(Node {
            meta: meta(id),
            underlay_ip: ip.parse().unwrap(),
            roles,
            agent_version: String::new(),
            capabilities: vec![],
            last_seen: None,
            applied_revision: 0,
            state: NodeState::Ready,
        })
    }

    fn network(id: u128, cidr: &str, vni: Vni) -> Stored {
        Stored::Network(Network {
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
        })
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
                ports: Some(PortRange { from: 22, to: 22 }),
                icmp: None,
                remote: remote.map_or(Remote::Any, |g| Remote::Group(Uuid::from_u128(g))),
            }],
            state: SecurityGroupState::Active,
            revoked_rule_ids: vec![],
        }
    }

    fn ids(v: &[u128]) -> BTreeSet<Uuid> {
        v.iter().map(|i| Uuid::from_u128(*i)).collect()
    }

    /// Nodes 1..=4 compute, 5 LB. Network 10 on nodes 1 and 2; network 11 on node 3 only; node 4 has
    /// a port of network 12 using group 22 only. Group 20 admits members of group 21.
    fn world() -> World {
        let mut w = World::new(1);
        for (i, ip) in [
            (1, "198.18.0.1"),
            (2, "198.18.0.2"),
            (3, "198.18.0.3"),
            (4, "198.18.0.4"),
        ] {
            w.apply(Change::Put(node(i, ip, vec![NodeRole::Compute])));
        }
        w.apply(Change::Put(node(5, "198.18.0.5", vec![NodeRole::Lb])));
        for (i, cidr, vni) in [
            (10, "198.18.10.0/24", 100),
            (11, "198.18.11.0/24", 101),
            (12, "198.18.12.0/24", 102),
        ] {
            w.apply(Change::Put(network(i, cidr, vni)));
        }
        w.apply(Change::Put(Stored::SecurityGroup(group(20, Some(21)))));
        w.apply(Change::Put(Stored::SecurityGroup(group(21, None))));
        w.apply(Change::Put(Stored::SecurityGroup(group(22, None))));
        w.apply(Change::Put(Stored::Port(port(
            30,
            1,
            10,
            "198.18.10.1",
            &[20],
        ))));
        w.apply(Change::Put(Stored::Port(port(
            31,
            2,
            10,
            "198.18.10.2",
            &[21],
        ))));
        w.apply(Change::Put(Stored::Port(port(
            32,
            3,
            11,
            "198.18.11.1",
            &[21],
        ))));
        w.apply(Change::Put(Stored::Port(port(
            33,
            4,
            12,
            "198.18.12.1",
            &[22],
        ))));
        w
    }

    /// The property the index must hold: every node whose desired state changes is reported.
    fn check(w: &mut World, change: Change, want: &[u128]) {
        let all: Vec<Uuid> = (1..=5).map(Uuid::from_u128).collect();
        let before: Vec<_> = all.iter().map(|n| desired_for(w.snapshot(), *n)).collect();
        let affected = w.apply(change.clone());
        for (n, b) in all.iter().zip(&before) {
            let changed = !diff(b, &desired_for(w.snapshot(), *n)).is_empty();
            assert!(
                !changed || affected.contains(n),
                "{change:?}: node {n} changed but was not reported"
            );
        }
        assert_eq!(affected, ids(want), "{change:?}");
    }

    #[test]
    fn a_change_reaches_exactly_the_nodes_it_concerns() {
        let mut w = world();
        // A new member of group 21 on node 3: node 3 itself, and node 1 (uses 20, which names 21).
        check(
            &mut w,
            Change::Put(Stored::Port(port(34, 3, 11, "198.18.11.2", &[21]))),
            &[1, 3],
        );
        // A port on network 10 on node 2: nodes 1 and 2 (neighbours), node 1 (address set).
        check(
            &mut w,
            Change::Put(Stored::Port(port(35, 2, 10, "198.18.10.3", &[]))),
            &[1, 2],
        );
        // Group 21's rules: the nodes whose ports use it (2, 3), not node 1 which only names it.
        check(
            &mut w,
            Change::Put(Stored::SecurityGroup(group(21, Some(22)))),
            &[2, 3],
        );
        // Now group 21 names 22: node 4's port (in 22) concerns nodes 2 and 3 through address sets.
        assert_eq!(
            w.concerned(Kind::Port, Uuid::from_u128(33)),
            ids(&[2, 3, 4])
        );
        // Network 11: only node 3 hosts it.
        check(
            &mut w,
            Change::Put(network(11, "198.18.11.0/24", 101)),
            &[3],
        );
        // A load balancer: LB nodes only; its backend port then concerns them too.
        let lb = LoadBalancer {
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
                    port_id: Uuid::from_u128(33),
                    weight: 1,
                    health: BackendHealth::Unknown,
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
        };
        check(&mut w, Change::Put(Stored::LoadBalancer(lb)), &[5]);
        assert_eq!(
            w.concerned(Kind::Port, Uuid::from_u128(33)),
            ids(&[2, 3, 4, 5])
        );
        // Node 4's VTEP moves: itself and the LB node (its port is a backend); no network peers.
        check(
            &mut w,
            Change::Put(node(4, "198.18.0.44", vec![NodeRole::Compute])),
            &[4, 5],
        );
        // Node 2's VTEP moves: network 10's nodes.
        check(
            &mut w,
            Change::Put(node(2, "198.18.0.22", vec![NodeRole::Compute])),
            &[1, 2],
        );
        // Only a node's state changing (an ack) concerns nobody.
        let Stored::Node(mut n1) = node(1, "198.18.0.1", vec![NodeRole::Compute]) else {
            unreachable!()
        };
        n1.state = NodeState::Unreachable;
        check(&mut w, Change::Put(Stored::Node(n1)), &[]);
        // A port going to deleting leaves its node and neighbours; its final removal concerns nobody.
        let mut p = port(35, 2, 10, "198.18.10.3", &[]);
        p.state = PortState::Deleting;
        check(&mut w, Change::Put(Stored::Port(p)), &[1, 2]);
        check(&mut w, Change::Delete(Kind::Port, Uuid::from_u128(35)), &[]);
        // A port moving between groups: old and new group's interested nodes.
        check(
            &mut w,
            Change::Put(Stored::Port(port(32, 3, 11, "198.18.11.1", &[22]))),
            &[1, 2, 3],
        );
    }

    #[test]
    fn counts_forget_nodes_whose_last_port_left() {
        let mut w = world();
        w.apply(Change::Delete(Kind::Port, Uuid::from_u128(30)));
        assert_eq!(w.concerned(Kind::Network, Uuid::from_u128(10)), ids(&[2]));
        assert_eq!(
            w.concerned(Kind::SecurityGroup, Uuid::from_u128(20)),
            ids(&[])
        );
        assert!(!w.nodes_by_group.contains_key(&Uuid::from_u128(20)));
        assert!(!w.networks_by_node.contains_key(&Uuid::from_u128(1)));
    }
}
