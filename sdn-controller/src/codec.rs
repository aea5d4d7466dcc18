//! Conversion between domain objects ([`crate::model`]) and their wire forms (`sdn_proto::v1`).
//!
//! The wire form is also the storage form: etcd values are the protobuf encoding of the resource
//! messages. Decoding re-validates ([`crate::validation`]) so a corrupt or foreign value surfaces as
//! `DATA_LOSS` instead of spreading.

use std::time::SystemTime;

use prost::Message;
use sdn_proto::v1 as pb;
use uuid::Uuid;

use crate::desired::{DesiredKind, DesiredState, LoadBalancerConfig, NetworkConfig, StateDiff};
use crate::error::{Error, Result};
use crate::fanout::Stored;
use crate::model::*;
use crate::validation;

/// A stored object kind: its wire message and how to convert.
pub trait Object: Sized + Clone + Send + Sync + 'static {
    /// The kind, for errors and keys.
    const KIND: Kind;
    /// The wire message.
    type Wire: Message + Default;
    /// Domain -> wire (infallible).
    fn to_wire(&self) -> Self::Wire;
    /// Wire -> domain, validated, with output-only fields restored.
    fn from_wire(wire: &Self::Wire) -> Result<Self>;
    /// The object's meta.
    fn meta(&self) -> &Meta;
    /// The object's meta, mutable.
    fn meta_mut(&mut self) -> &mut Meta;
}

/// Encodes an object for storage.
pub fn encode<T: Object>(obj: &T) -> Vec<u8> {
    obj.to_wire().encode_to_vec()
}

/// Decodes a stored object; `revision` is the key's mod revision.
pub fn decode<T: Object>(key: &str, value: &[u8], revision: Revision) -> Result<T> {
    let wire = T::Wire::decode(value).map_err(|source| Error::CorruptValue {
        key: key.into(),
        source,
    })?;
    let mut obj = T::from_wire(&wire).map_err(|e| Error::CorruptObject {
        key: key.into(),
        source: Box::new(e),
    })?;
    obj.meta_mut().revision = revision;
    Ok(obj)
}

/// SystemTime -> protobuf Timestamp.
pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    t.into()
}

fn time_of(t: Option<&prost_types::Timestamp>) -> SystemTime {
    t.and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn meta_to_wire(m: &Meta) -> pb::ObjectMeta {
    pb::ObjectMeta {
        id: m.id.to_string(),
        name: m.name.clone(),
        revision: m.revision,
        created_at: Some(timestamp(m.created_at)),
        updated_at: Some(timestamp(m.updated_at)),
    }
}

fn restore_meta(meta: &mut Meta, wire: Option<&pb::ObjectMeta>) -> Result<()> {
    let wire = wire.ok_or_else(|| Error::Missing {
        field: "meta".into(),
    })?;
    meta.id = validation::parse_id("meta.id", &wire.id)?;
    meta.revision = wire.revision;
    meta.created_at = time_of(wire.created_at.as_ref());
    meta.updated_at = time_of(wire.updated_at.as_ref());
    Ok(())
}

fn opt_string<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Object for Node {
    const KIND: Kind = Kind::Node;
    type Wire = pb::Node;

    fn to_wire(&self) -> pb::Node {
        pb::Node {
            meta: Some(meta_to_wire(&self.meta)),
            underlay_ip: self.underlay_ip.to_string(),
            roles: self
                .roles
                .iter()
                .map(|r| match r {
                    NodeRole::Compute => pb::NodeRole::Compute as i32,
                    NodeRole::Lb => pb::NodeRole::Lb as i32,
                })
                .collect(),
            agent_version: self.agent_version.clone(),
            capabilities: self.capabilities.clone(),
            last_seen: self.last_seen.map(timestamp),
            applied_revision: self.applied_revision,
            state: match self.state {
                NodeState::Pending => pb::NodeState::Pending,
                NodeState::Ready => pb::NodeState::Ready,
                NodeState::Unreachable => pb::NodeState::Unreachable,
                NodeState::Cordoned => pb::NodeState::Cordoned,
            } as i32,
        }
    }

    fn from_wire(w: &pb::Node) -> Result<Node> {
        let mut node = validation::parse_node(w, SystemTime::UNIX_EPOCH)?;
        restore_meta(&mut node.meta, w.meta.as_ref())?;
        node.last_seen = w.last_seen.as_ref().map(|t| time_of(Some(t)));
        node.applied_revision = w.applied_revision;
        node.state = match pb::NodeState::try_from(w.state) {
            Ok(pb::NodeState::Ready) => NodeState::Ready,
            Ok(pb::NodeState::Unreachable) => NodeState::Unreachable,
            Ok(pb::NodeState::Cordoned) => NodeState::Cordoned,
            _ => NodeState::Pending,
        };
        Ok(node)
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
}

impl Object for Network {
    const KIND: Kind = Kind::Network;
    type Wire = pb::PrivateNetwork;

    fn to_wire(&self) -> pb::PrivateNetwork {
        pb::PrivateNetwork {
            meta: Some(meta_to_wire(&self.meta)),
            description: self.description.clone(),
            ipv4_cidr: self.ipv4.to_string(),
            ipv6_prefix: opt_string(self.ipv6),
            vni: self.vni,
            mode: match self.mode {
                NetworkMode::Managed => pb::NetworkMode::Managed,
                NetworkMode::Unmanaged => pb::NetworkMode::Unmanaged,
            } as i32,
            start_ipv4: opt_string(self.range_v4.map(|r| r.start)),
            end_ipv4: opt_string(self.range_v4.map(|r| r.end)),
            start_ipv6: opt_string(self.range_v6.map(|r| r.start)),
            end_ipv6: opt_string(self.range_v6.map(|r| r.end)),
            static_leases: self
                .static_leases
                .iter()
                .map(|l| pb::StaticLease {
                    mac: l.mac.to_string(),
                    ipv4: opt_string(l.ipv4),
                    ipv6: opt_string(l.ipv6),
                })
                .collect(),
            state: match self.state {
                NetworkState::Active => pb::NetworkState::Active,
                NetworkState::Deleting => pb::NetworkState::Deleting,
            } as i32,
        }
    }

    fn from_wire(w: &pb::PrivateNetwork) -> Result<Network> {
        let mut net = validation::parse_network(w, SystemTime::UNIX_EPOCH)?;
        restore_meta(&mut net.meta, w.meta.as_ref())?;
        if net.vni == 0 {
            return Err(Error::Missing {
                field: "network.vni".into(),
            });
        }
        net.state = match pb::NetworkState::try_from(w.state) {
            Ok(pb::NetworkState::Deleting) => NetworkState::Deleting,
            _ => NetworkState::Active,
        };
        Ok(net)
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
}

impl Object for Port {
    const KIND: Kind = Kind::Port;
    type Wire = pb::Port;

    fn to_wire(&self) -> pb::Port {
        pb::Port {
            meta: Some(meta_to_wire(&self.meta)),
            instance_id: self.instance_id.clone(),
            node_id: self.node_id.to_string(),
            network_id: self.network_id.to_string(),
            mac: opt_string(self.mac),
            ipv4: opt_string(self.ipv4),
            ipv6: opt_string(self.ipv6),
            security_group_ids: self
                .security_group_ids
                .iter()
                .map(Uuid::to_string)
                .collect(),
            state: match self.state {
                PortState::Pending => pb::PortState::Pending,
                PortState::Programmed => pb::PortState::Programmed,
                PortState::Deleting => pb::PortState::Deleting,
            } as i32,
        }
    }

    fn from_wire(w: &pb::Port) -> Result<Port> {
        let mut port = validation::parse_port(w, SystemTime::UNIX_EPOCH)?;
        restore_meta(&mut port.meta, w.meta.as_ref())?;
        port.state = match pb::PortState::try_from(w.state) {
            Ok(pb::PortState::Programmed) => PortState::Programmed,
            Ok(pb::PortState::Deleting) => PortState::Deleting,
            _ => PortState::Pending,
        };
        Ok(port)
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
}

/// A rule in wire form.
pub fn rule_to_wire(r: &Rule) -> pb::SecurityRule {
    use pb::security_rule::{Protocol as P, Remote as R};
    let protocol = match r.protocol {
        Protocol::All => P::ProtocolName(pb::ProtocolName::All as i32),
        Protocol::Tcp => P::ProtocolName(pb::ProtocolName::Tcp as i32),
        Protocol::Udp => P::ProtocolName(pb::ProtocolName::Udp as i32),
        Protocol::Icmp => P::ProtocolName(pb::ProtocolName::Icmp as i32),
        Protocol::Icmpv6 => P::ProtocolName(pb::ProtocolName::Icmpv6 as i32),
        Protocol::Sctp => P::ProtocolName(pb::ProtocolName::Sctp as i32),
        Protocol::Number(n) => P::ProtocolNumber(n.into()),
    };
    pb::SecurityRule {
        id: r.id.to_string(),
        description: r.description.clone(),
        direction: match r.direction {
            Direction::Ingress => pb::Direction::Ingress,
            Direction::Egress => pb::Direction::Egress,
        } as i32,
        protocol: Some(protocol),
        port_from: r.ports.map_or(0, |p| p.from.into()),
        port_to: r.ports.map_or(0, |p| p.to.into()),
        icmp_type: r.icmp.map(|i| i.icmp_type.into()),
        icmp_code: r.icmp.and_then(|i| i.code).map(Into::into),
        remote: match r.remote {
            Remote::Any => None,
            Remote::Cidr(c) => Some(R::RemoteCidr(c.to_string())),
            Remote::Group(g) => Some(R::RemoteGroupId(g.to_string())),
        },
    }
}

impl Object for SecurityGroup {
    const KIND: Kind = Kind::SecurityGroup;
    type Wire = pb::SecurityGroup;

    fn to_wire(&self) -> pb::SecurityGroup {
        pb::SecurityGroup {
            meta: Some(meta_to_wire(&self.meta)),
            description: self.description.clone(),
            rules: self.rules.iter().map(rule_to_wire).collect(),
            state: match self.state {
                SecurityGroupState::Active => pb::SecurityGroupState::Active,
                SecurityGroupState::Deleting => pb::SecurityGroupState::Deleting,
            } as i32,
            revoked_rule_ids: self.revoked_rule_ids.iter().map(Uuid::to_string).collect(),
        }
    }

    fn from_wire(w: &pb::SecurityGroup) -> Result<SecurityGroup> {
        let mut g = validation::parse_security_group(w, SystemTime::UNIX_EPOCH)?;
        restore_meta(&mut g.meta, w.meta.as_ref())?;
        g.state = match pb::SecurityGroupState::try_from(w.state) {
            Ok(pb::SecurityGroupState::Deleting) => SecurityGroupState::Deleting,
            _ => SecurityGroupState::Active,
        };
        g.revoked_rule_ids = w
            .revoked_rule_ids
            .iter()
            .map(|id| validation::parse_id("revoked_rule_ids", id))
            .collect::<Result<_>>()?;
        Ok(g)
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
}

fn health_to_wire(h: BackendHealth) -> pb::BackendHealth {
    match h {
        BackendHealth::Unknown => pb::BackendHealth::Unknown,
        BackendHealth::Healthy => pb::BackendHealth::Healthy,
        BackendHealth::Unhealthy => pb::BackendHealth::Unhealthy,
        BackendHealth::Draining => pb::BackendHealth::Draining,
    }
}

/// A service in wire form.
pub fn service_to_wire(s: &LbService) -> pb::LbService {
    let hc = &s.health_check;
    pb::LbService {
        id: s.id.to_string(),
        name: s.name.clone(),
        protocol: match s.protocol {
            LbProtocol::Tcp => pb::LbProtocol::Tcp,
            LbProtocol::Udp => pb::LbProtocol::Udp,
        } as i32,
        port: s.port.into(),
        target_port: s.target_port.into(),
        strategy: match s.strategy {
            LbStrategy::Maglev => pb::LbStrategy::Maglev,
            LbStrategy::SourceIp => pb::LbStrategy::SourceIp,
        } as i32,
        backends: s
            .backends
            .iter()
            .map(|b| pb::LbBackend {
                port_id: b.port_id.to_string(),
                weight: b.weight.into(),
                health: health_to_wire(b.health) as i32,
                health_reason: b.health_reason.clone(),
                health_changed_at: b.health_changed_at.map(timestamp),
            })
            .collect(),
        health_check: Some(pb::HealthCheck {
            mode: match hc.mode {
                HealthCheckMode::Tcp => pb::HealthCheckMode::Tcp,
                HealthCheckMode::Http => pb::HealthCheckMode::Http,
            } as i32,
            port: hc.port.into(),
            interval_ms: hc.interval_ms,
            timeout_ms: hc.timeout_ms,
            retries_down: hc.retries_down,
            retries_up: hc.retries_up,
            http_path: hc.http_path.clone(),
            http_expected_status: hc.http_expected_status.into(),
        }),
    }
}

impl Object for LoadBalancer {
    const KIND: Kind = Kind::LoadBalancer;
    type Wire = pb::LoadBalancer;

    fn to_wire(&self) -> pb::LoadBalancer {
        pb::LoadBalancer {
            meta: Some(meta_to_wire(&self.meta)),
            description: self.description.clone(),
            vip: self.vip.to_string(),
            state: match self.state {
                LoadBalancerState::Creating => pb::LoadBalancerState::Creating,
                LoadBalancerState::Running => pb::LoadBalancerState::Running,
                LoadBalancerState::Updating => pb::LoadBalancerState::Updating,
                LoadBalancerState::Deleting => pb::LoadBalancerState::Deleting,
                LoadBalancerState::Error => pb::LoadBalancerState::Error,
            } as i32,
            error_reason: self.error_reason.clone(),
            services: self.services.iter().map(service_to_wire).collect(),
        }
    }

    fn from_wire(w: &pb::LoadBalancer) -> Result<LoadBalancer> {
        let mut lb = validation::parse_load_balancer(w, SystemTime::UNIX_EPOCH)?;
        restore_meta(&mut lb.meta, w.meta.as_ref())?;
        lb.state = match pb::LoadBalancerState::try_from(w.state) {
            Ok(pb::LoadBalancerState::Running) => LoadBalancerState::Running,
            Ok(pb::LoadBalancerState::Updating) => LoadBalancerState::Updating,
            Ok(pb::LoadBalancerState::Deleting) => LoadBalancerState::Deleting,
            Ok(pb::LoadBalancerState::Error) => LoadBalancerState::Error,
            _ => LoadBalancerState::Creating,
        };
        lb.error_reason = w.error_reason.clone();
        for (svc, wsvc) in lb.services.iter_mut().zip(&w.services) {
            for (b, wb) in svc.backends.iter_mut().zip(&wsvc.backends) {
                b.health = match pb::BackendHealth::try_from(wb.health) {
                    Ok(pb::BackendHealth::Healthy) => BackendHealth::Healthy,
                    Ok(pb::BackendHealth::Unhealthy) => BackendHealth::Unhealthy,
                    Ok(pb::BackendHealth::Draining) => BackendHealth::Draining,
                    _ => BackendHealth::Unknown,
                };
                b.health_reason = wb.health_reason.clone();
                b.health_changed_at = wb.health_changed_at.as_ref().map(|t| time_of(Some(t)));
            }
        }
        Ok(lb)
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
}

// ---------------------------------------------------------------------------------------------------
// Stored objects by key, and desired state as sync messages.

/// Decodes the value of an object key (`/sdn/v1/<kind>/<id>`) into a [`Stored`] object.
pub fn decode_stored(kind: Kind, key: &str, value: &[u8], revision: Revision) -> Result<Stored> {
    Ok(match kind {
        Kind::Node => Stored::Node(decode(key, value, revision)?),
        Kind::Network => Stored::Network(decode(key, value, revision)?),
        Kind::Port => Stored::Port(decode(key, value, revision)?),
        Kind::SecurityGroup => Stored::SecurityGroup(decode(key, value, revision)?),
        Kind::LoadBalancer | Kind::SecurityRule => {
            Stored::LoadBalancer(decode(key, value, revision)?)
        }
    })
}

/// The wire kind of a desired-state object.
pub fn desired_kind_to_wire(kind: DesiredKind) -> pb::ObjectKind {
    match kind {
        DesiredKind::Port => pb::ObjectKind::Port,
        DesiredKind::Network => pb::ObjectKind::Network,
        DesiredKind::SecurityGroup => pb::ObjectKind::SecurityGroup,
        DesiredKind::AddressSet => pb::ObjectKind::AddressSet,
        DesiredKind::LoadBalancer => pb::ObjectKind::LoadBalancer,
    }
}

fn network_config_to_wire(c: &NetworkConfig) -> pb::NetworkConfig {
    pb::NetworkConfig {
        network: Some(c.network.to_wire()),
        neighbors: c
            .neighbors
            .iter()
            .map(|n| pb::Neighbor {
                port_id: n.port_id.to_string(),
                mac: opt_string(n.mac),
                ipv4: opt_string(n.ipv4),
                ipv6: opt_string(n.ipv6),
                vtep: n.vtep.to_string(),
            })
            .collect(),
        flood_vteps: c.flood_vteps.iter().map(ToString::to_string).collect(),
    }
}

fn load_balancer_config_to_wire(c: &LoadBalancerConfig) -> pb::LoadBalancerConfig {
    pb::LoadBalancerConfig {
        load_balancer: Some(c.load_balancer.to_wire()),
        backends: c
            .backends
            .iter()
            .map(|b| pb::BackendLocation {
                port_id: b.port_id.to_string(),
                ipv4: opt_string(b.ipv4),
                ipv6: opt_string(b.ipv6),
                vtep: b.vtep.to_string(),
                vni: b.vni,
            })
            .collect(),
    }
}

/// One object of a node's desired state in wire form; None when the state does not hold it.
pub fn desired_object(
    state: &DesiredState,
    kind: DesiredKind,
    id: Uuid,
) -> Option<pb::DesiredObject> {
    use pb::desired_object::Object as O;
    let object = match kind {
        DesiredKind::Port => O::Port(state.ports.get(&id)?.to_wire()),
        DesiredKind::Network => O::Network(network_config_to_wire(state.networks.get(&id)?)),
        DesiredKind::SecurityGroup => O::SecurityGroup(state.groups.get(&id)?.to_wire()),
        DesiredKind::AddressSet => O::AddressSet(pb::AddressSet {
            group_id: id.to_string(),
            addresses: state
                .address_sets
                .get(&id)?
                .iter()
                .map(ToString::to_string)
                .collect(),
        }),
        DesiredKind::LoadBalancer => {
            O::LoadBalancer(load_balancer_config_to_wire(state.load_balancers.get(&id)?))
        }
    };
    Some(pb::DesiredObject {
        object: Some(object),
    })
}

/// Every object of a desired state, in kind then id order.
pub fn desired_objects(state: &DesiredState) -> Vec<pb::DesiredObject> {
    let keys = state
        .ports
        .keys()
        .map(|id| (DesiredKind::Port, *id))
        .chain(state.networks.keys().map(|id| (DesiredKind::Network, *id)))
        .chain(
            state
                .groups
                .keys()
                .map(|id| (DesiredKind::SecurityGroup, *id)),
        )
        .chain(
            state
                .address_sets
                .keys()
                .map(|id| (DesiredKind::AddressSet, *id)),
        )
        .chain(
            state
                .load_balancers
                .keys()
                .map(|id| (DesiredKind::LoadBalancer, *id)),
        );
    keys.filter_map(|(k, id)| desired_object(state, k, id))
        .collect()
}

/// A snapshot message: everything `state` holds, at `revision`.
pub fn snapshot_message(revision: Revision, state: &DesiredState) -> pb::ControllerMessage {
    pb::ControllerMessage {
        message: Some(pb::controller_message::Message::Snapshot(pb::Snapshot {
            revision,
            objects: desired_objects(state),
        })),
    }
}

/// A delta message bringing a node from `base` to `revision`; upserts carry their content in `state`.
pub fn delta_message(
    base: Revision,
    revision: Revision,
    state: &DesiredState,
    change: &StateDiff,
) -> pb::ControllerMessage {
    pb::ControllerMessage {
        message: Some(pb::controller_message::Message::Delta(pb::Delta {
            revision,
            base_revision: base,
            upserts: change
                .upserts
                .iter()
                .filter_map(|(k, id)| desired_object(state, *k, *id))
                .collect(),
            removals: change
                .removals
                .iter()
                .map(|(k, id)| pb::ObjectRef {
                    kind: desired_kind_to_wire(*k) as i32,
                    id: id.to_string(),
                })
                .collect(),
        })),
    }
}

/// A convergence receipt in wire form.
pub fn receipt_to_wire(r: &crate::sync::progress::Receipt) -> pb::ConvergenceReceipt {
    let mark = |m: &crate::sync::progress::Mark| pb::NodeProgress {
        node_id: m.node_id.to_string(),
        node_name: m.name.clone(),
        applied_revision: m.applied_revision,
        apply_latency: m
            .latency
            .and_then(|d| prost_types::Duration::try_from(d).ok()),
    };
    pb::ConvergenceReceipt {
        object_id: r.object_id.to_string(),
        revision: r.revision,
        applied: r.applied.iter().map(mark).collect(),
        lagging: r.lagging.iter().map(mark).collect(),
        converged: r.converged(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: u128, name: &str) -> Meta {
        Meta {
            id: Uuid::from_u128(id),
            name: name.into(),
            revision: 0,
            created_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10),
            updated_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(20),
        }
    }

    fn roundtrip<T: Object + PartialEq + std::fmt::Debug>(obj: T) {
        let bytes = encode(&obj);
        let back: T = decode("k", &bytes, 42).unwrap();
        let mut want = obj;
        want.meta_mut().revision = 42;
        assert_eq!(back, want);
    }

    #[test]
    fn objects_survive_storage() {
        roundtrip(Node {
            meta: meta(1, "hv-1"),
            underlay_ip: "198.18.0.1".parse().unwrap(),
            roles: vec![NodeRole::Compute, NodeRole::Lb],
            agent_version: "0.1.0".into(),
            capabilities: vec!["tcx".into()],
            last_seen: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(30)),
            applied_revision: 7,
            state: NodeState::Ready,
        });
        let net = validation::parse_network(
            &pb::PrivateNetwork {
                meta: Some(pb::ObjectMeta {
                    name: "n".into(),
                    ..Default::default()
                }),
                ipv4_cidr: "198.18.10.0/24".into(),
                ipv6_prefix: "2001:db8:10::/64".into(),
                vni: 5,
                start_ipv4: "198.18.10.10".into(),
                static_leases: vec![pb::StaticLease {
                    mac: "02:00:00:00:00:01".into(),
                    ipv4: "198.18.10.20".into(),
                    ipv6: "2001:db8:10::20".into(),
                }],
                ..Default::default()
            },
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        roundtrip(Network {
            meta: meta(2, "n"),
            state: NetworkState::Deleting,
            ..net
        });
        roundtrip(Port {
            meta: meta(3, "p"),
            instance_id: "vm".into(),
            node_id: Uuid::from_u128(1),
            network_id: Uuid::from_u128(2),
            mac: Some(Mac([2, 0, 0, 0, 0, 9])),
            ipv4: Some("198.18.10.9".parse().unwrap()),
            ipv6: None,
            security_group_ids: vec![Uuid::from_u128(4), Uuid::from_u128(3)],
            state: PortState::Programmed,
        });
        roundtrip(SecurityGroup {
            meta: meta(4, "g"),
            description: "web".into(),
            rules: vec![
                Rule {
                    id: Uuid::from_u128(40),
                    description: String::new(),
                    direction: Direction::Ingress,
                    protocol: Protocol::Icmp,
                    ports: None,
                    icmp: Some(IcmpMatch {
                        icmp_type: 8,
                        code: Some(0),
                    }),
                    remote: Remote::Cidr("198.18.0.0/15".parse().unwrap()),
                },
                Rule {
                    id: Uuid::from_u128(41),
                    description: "esp".into(),
                    direction: Direction::Egress,
                    protocol: Protocol::Number(50),
                    ports: None,
                    icmp: None,
                    remote: Remote::Group(Uuid::from_u128(4)),
                },
                Rule {
                    id: Uuid::from_u128(42),
                    description: String::new(),
                    direction: Direction::Ingress,
                    protocol: Protocol::Tcp,
                    ports: Some(PortRange { from: 80, to: 443 }),
                    icmp: None,
                    remote: Remote::Any,
                },
            ],
            state: SecurityGroupState::Active,
            revoked_rule_ids: vec![Uuid::from_u128(43)],
        });
        roundtrip(LoadBalancer {
            meta: meta(5, "lb"),
            description: String::new(),
            vip: "198.19.0.1".parse().unwrap(),
            state: LoadBalancerState::Error,
            error_reason: "vip taken".into(),
            services: vec![LbService {
                id: Uuid::from_u128(50),
                name: "http".into(),
                protocol: LbProtocol::Tcp,
                port: 80,
                target_port: 8080,
                strategy: LbStrategy::SourceIp,
                backends: vec![Backend {
                    port_id: Uuid::from_u128(3),
                    weight: 5,
                    health: BackendHealth::Unhealthy,
                    health_reason: "tcp connect refused".into(),
                    health_changed_at: Some(SystemTime::UNIX_EPOCH),
                }],
                health_check: HealthCheck {
                    mode: HealthCheckMode::Http,
                    port: 8081,
                    interval_ms: 5000,
                    timeout_ms: 1000,
                    retries_down: 3,
                    retries_up: 2,
                    http_path: "/health".into(),
                    http_expected_status: 204,
                },
            }],
        });
    }

    #[test]
    fn garbage_is_data_loss() {
        let err = decode::<Port>("/sdn/v1/ports/x", b"\xff\xff\xff", 1).unwrap_err();
        assert_eq!(err.code(), tonic::Code::DataLoss);
        let err =
            decode::<Port>("/sdn/v1/ports/x", &pb::Port::default().encode_to_vec(), 1).unwrap_err();
        assert_eq!(err.code(), tonic::Code::DataLoss);
    }
}
