//! The machine-readable shape of every object `sdnctl` prints with `-o json` / `-o yaml`.
//!
//! **API Boundary:** these structs are the documented, stable schema (docs/sdnctl.md, pinned by the
//! golden files in `tests/golden/`). They are built from the wire types here and nowhere else;
//! fields are only ever added, never renamed or removed. Conventions: enums are lower-case words,
//! timestamps RFC 3339 strings, optional values `null` (never an empty string), durations in
//! milliseconds.

use serde::Serialize;

use sdn_proto::v1 as pb;
use sdn_proto::v1::security_rule::Remote;

use crate::spec;

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.map(ToString::to_string)
}

/// Milliseconds of a wire duration, rounded to the microsecond.
pub fn millis(d: &prost_types::Duration) -> f64 {
    let us = d.seconds as f64 * 1e6 + (d.nanos as f64 / 1e3).round();
    us / 1e3
}

/// The fields every object carries.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Meta {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// etcd mod revision of the last change (send it back with `update --revision`).
    pub revision: i64,
    /// Creation time.
    pub created_at: Option<String>,
    /// Last change time.
    pub updated_at: Option<String>,
}

impl Meta {
    fn of(m: Option<&pb::ObjectMeta>) -> Meta {
        let m = m.cloned().unwrap_or_default();
        Meta {
            id: m.id,
            name: m.name,
            revision: m.revision,
            created_at: time(m.created_at.as_ref()),
            updated_at: time(m.updated_at.as_ref()),
        }
    }
}

/// A hypervisor node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeView {
    /// Id, name, revision, timestamps.
    #[serde(flatten)]
    pub meta: Meta,
    /// `pending`, `ready`, `unreachable`, `cordoned`.
    pub state: &'static str,
    /// Underlay (VTEP) address.
    pub underlay_ip: String,
    /// `compute`, `lb`.
    pub roles: Vec<&'static str>,
    /// The agent's version, from its last hello.
    pub agent_version: Option<String>,
    /// Dataplane features the agent reported.
    pub capabilities: Vec<String>,
    /// Last time the controller heard from the agent.
    pub last_seen: Option<String>,
    /// Last store revision the agent acknowledged.
    pub applied_revision: i64,
}

/// Name of a node state.
pub fn node_state(s: i32) -> &'static str {
    match pb::NodeState::try_from(s) {
        Ok(pb::NodeState::Pending) => "pending",
        Ok(pb::NodeState::Ready) => "ready",
        Ok(pb::NodeState::Unreachable) => "unreachable",
        Ok(pb::NodeState::Cordoned) => "cordoned",
        _ => "unspecified",
    }
}

/// Name of a node role.
pub fn node_role(r: i32) -> &'static str {
    match pb::NodeRole::try_from(r) {
        Ok(pb::NodeRole::Compute) => "compute",
        Ok(pb::NodeRole::Lb) => "lb",
        _ => "unspecified",
    }
}

impl From<&pb::Node> for NodeView {
    fn from(n: &pb::Node) -> NodeView {
        NodeView {
            meta: Meta::of(n.meta.as_ref()),
            state: node_state(n.state),
            underlay_ip: n.underlay_ip.clone(),
            roles: n.roles.iter().map(|r| node_role(*r)).collect(),
            agent_version: opt(&n.agent_version),
            capabilities: n.capabilities.clone(),
            last_seen: time(n.last_seen.as_ref()),
            applied_revision: n.applied_revision,
        }
    }
}

/// A fixed address reservation of a managed network.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StaticLeaseView {
    /// MAC the reservation is for.
    pub mac: String,
    /// Reserved IPv4 address.
    pub ipv4: String,
    /// Reserved IPv6 address.
    pub ipv6: Option<String>,
}

/// A private network.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NetworkView {
    /// Id, name, revision, timestamps.
    #[serde(flatten)]
    pub meta: Meta,
    /// `active`, `deleting`.
    pub state: &'static str,
    /// Free-form description.
    pub description: String,
    /// IPv4 prefix.
    pub ipv4_cidr: String,
    /// IPv6 prefix.
    pub ipv6_prefix: Option<String>,
    /// VXLAN network identifier.
    pub vni: u32,
    /// `managed`, `unmanaged`.
    pub mode: &'static str,
    /// First IPv4 address of the IPAM range.
    pub start_ipv4: Option<String>,
    /// Last IPv4 address of the IPAM range.
    pub end_ipv4: Option<String>,
    /// First IPv6 address of the IPAM range.
    pub start_ipv6: Option<String>,
    /// Last IPv6 address of the IPAM range.
    pub end_ipv6: Option<String>,
    /// Reservations.
    pub static_leases: Vec<StaticLeaseView>,
}

/// Name of a network mode.
pub fn network_mode(m: i32) -> &'static str {
    match pb::NetworkMode::try_from(m) {
        Ok(pb::NetworkMode::Unmanaged) => "unmanaged",
        Ok(pb::NetworkMode::Managed) => "managed",
        _ => "unspecified",
    }
}

/// Name of a network state.
pub fn network_state(s: i32) -> &'static str {
    match pb::NetworkState::try_from(s) {
        Ok(pb::NetworkState::Active) => "active",
        Ok(pb::NetworkState::Deleting) => "deleting",
        _ => "unspecified",
    }
}

impl From<&pb::PrivateNetwork> for NetworkView {
    fn from(n: &pb::PrivateNetwork) -> NetworkView {
        NetworkView {
            meta: Meta::of(n.meta.as_ref()),
            state: network_state(n.state),
            description: n.description.clone(),
            ipv4_cidr: n.ipv4_cidr.clone(),
            ipv6_prefix: opt(&n.ipv6_prefix),
            vni: n.vni,
            mode: network_mode(n.mode),
            start_ipv4: opt(&n.start_ipv4),
            end_ipv4: opt(&n.end_ipv4),
            start_ipv6: opt(&n.start_ipv6),
            end_ipv6: opt(&n.end_ipv6),
            static_leases: n
                .static_leases
                .iter()
                .map(|l| StaticLeaseView {
                    mac: l.mac.clone(),
                    ipv4: l.ipv4.clone(),
                    ipv6: opt(&l.ipv6),
                })
                .collect(),
        }
    }
}

/// A port (an instance's NIC).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortView {
    /// Id, name, revision, timestamps.
    #[serde(flatten)]
    pub meta: Meta,
    /// `pending`, `programmed`, `deleting`.
    pub state: &'static str,
    /// The orchestrator's instance id.
    pub instance_id: String,
    /// Hosting node.
    pub node_id: String,
    /// Attached network.
    pub network_id: String,
    /// MAC address.
    pub mac: String,
    /// IPv4 address.
    pub ipv4: Option<String>,
    /// IPv6 address.
    pub ipv6: Option<String>,
    /// Security groups, in order.
    pub security_group_ids: Vec<String>,
}

/// Name of a port state.
pub fn port_state(s: i32) -> &'static str {
    match pb::PortState::try_from(s) {
        Ok(pb::PortState::Pending) => "pending",
        Ok(pb::PortState::Programmed) => "programmed",
        Ok(pb::PortState::Deleting) => "deleting",
        _ => "unspecified",
    }
}

impl From<&pb::Port> for PortView {
    fn from(p: &pb::Port) -> PortView {
        PortView {
            meta: Meta::of(p.meta.as_ref()),
            state: port_state(p.state),
            instance_id: p.instance_id.clone(),
            node_id: p.node_id.clone(),
            network_id: p.network_id.clone(),
            mac: p.mac.clone(),
            ipv4: opt(&p.ipv4),
            ipv6: opt(&p.ipv6),
            security_group_ids: p.security_group_ids.clone(),
        }
    }
}

/// An allow-rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleView {
    /// Stable rule id (verdicts and counters are attributed to it).
    pub id: String,
    /// The rule in the form `groups add-rule` takes (`ingress tcp 22 from 0.0.0.0/0`).
    pub spec: String,
    /// `ingress`, `egress`.
    pub direction: &'static str,
    /// `all`, `tcp`, `udp`, `icmp`, `icmpv6`, `sctp`, or the IP protocol number as text.
    pub protocol: String,
    /// IP protocol number; `null` for `all`.
    pub protocol_number: Option<u32>,
    /// First port; `null` when the rule matches every port (or its protocol has none).
    pub port_from: Option<u32>,
    /// Last port (equal to `port_from` for a single port).
    pub port_to: Option<u32>,
    /// ICMP type; `null` for every type.
    pub icmp_type: Option<u32>,
    /// ICMP code; `null` for every code.
    pub icmp_code: Option<u32>,
    /// Remote prefix; `null` when the remote is a group or any address.
    pub remote_cidr: Option<String>,
    /// Remote security group; `null` when the remote is a prefix or any address.
    pub remote_group_id: Option<String>,
    /// Free-form description.
    pub description: String,
}

impl From<&pb::SecurityRule> for RuleView {
    fn from(r: &pb::SecurityRule) -> RuleView {
        let ports = (r.port_from != 0).then(|| {
            let to = if r.port_to == 0 {
                r.port_from
            } else {
                r.port_to
            };
            (r.port_from, to)
        });
        RuleView {
            id: r.id.clone(),
            spec: spec::format_rule(r),
            direction: match pb::Direction::try_from(r.direction) {
                Ok(pb::Direction::Egress) => "egress",
                Ok(pb::Direction::Ingress) => "ingress",
                _ => "unspecified",
            },
            protocol: spec::protocol_name(r.protocol.as_ref()),
            protocol_number: spec::protocol_number(r.protocol.as_ref()),
            port_from: ports.map(|p| p.0),
            port_to: ports.map(|p| p.1),
            icmp_type: r.icmp_type,
            icmp_code: r.icmp_code,
            remote_cidr: match &r.remote {
                Some(Remote::RemoteCidr(c)) => Some(c.clone()),
                _ => None,
            },
            remote_group_id: match &r.remote {
                Some(Remote::RemoteGroupId(g)) => Some(g.clone()),
                _ => None,
            },
            description: r.description.clone(),
        }
    }
}

/// A security group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupView {
    /// Id, name, revision, timestamps.
    #[serde(flatten)]
    pub meta: Meta,
    /// `active`, `deleting`.
    pub state: &'static str,
    /// Free-form description.
    pub description: String,
    /// The allow-rules.
    pub rules: Vec<RuleView>,
    /// Rules removed by the last change with `--existing-flows revoke`.
    pub revoked_rule_ids: Vec<String>,
}

impl From<&pb::SecurityGroup> for GroupView {
    fn from(g: &pb::SecurityGroup) -> GroupView {
        GroupView {
            meta: Meta::of(g.meta.as_ref()),
            state: match pb::SecurityGroupState::try_from(g.state) {
                Ok(pb::SecurityGroupState::Active) => "active",
                Ok(pb::SecurityGroupState::Deleting) => "deleting",
                _ => "unspecified",
            },
            description: g.description.clone(),
            rules: g.rules.iter().map(RuleView::from).collect(),
            revoked_rule_ids: g.revoked_rule_ids.clone(),
        }
    }
}

/// A health check with every default filled in.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthCheckView {
    /// `tcp`, `http`.
    pub mode: &'static str,
    /// Port probed on the backend.
    pub port: u32,
    /// Milliseconds between probes.
    pub interval_ms: u32,
    /// Milliseconds a probe may take.
    pub timeout_ms: u32,
    /// Failures that mark a backend unhealthy.
    pub retries_down: u32,
    /// Successes that mark it healthy again.
    pub retries_up: u32,
    /// HTTP path (`null` for tcp).
    pub http_path: Option<String>,
    /// Expected HTTP status (`null` for tcp).
    pub http_expected_status: Option<u32>,
}

fn or(v: u32, default: u32) -> u32 {
    if v == 0 { default } else { v }
}

impl HealthCheckView {
    fn of(h: Option<&pb::HealthCheck>, target_port: u32) -> HealthCheckView {
        let h = h.cloned().unwrap_or_default();
        let http = h.mode == pb::HealthCheckMode::Http as i32;
        HealthCheckView {
            mode: if http { "http" } else { "tcp" },
            port: or(h.port, target_port),
            interval_ms: or(h.interval_ms, 10_000),
            timeout_ms: or(h.timeout_ms, 2_000),
            retries_down: or(h.retries_down, 3),
            retries_up: or(h.retries_up, 2),
            http_path: http.then(|| {
                if h.http_path.is_empty() {
                    "/".to_string()
                } else {
                    h.http_path.clone()
                }
            }),
            http_expected_status: http.then(|| or(h.http_expected_status, 200)),
        }
    }
}

/// One backend and its health.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackendView {
    /// The backend's port.
    pub port_id: String,
    /// Relative weight; 0 drains.
    pub weight: u32,
    /// `healthy`, `unhealthy`, `draining`, `unknown`.
    pub health: &'static str,
    /// Why the health last changed.
    pub health_reason: Option<String>,
    /// When it last changed.
    pub health_changed_at: Option<String>,
}

/// Name of a backend health.
pub fn backend_health(h: i32) -> &'static str {
    match pb::BackendHealth::try_from(h) {
        Ok(pb::BackendHealth::Healthy) => "healthy",
        Ok(pb::BackendHealth::Unhealthy) => "unhealthy",
        Ok(pb::BackendHealth::Draining) => "draining",
        _ => "unknown",
    }
}

/// A load-balancer service (listener).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceView {
    /// Stable service id.
    pub id: String,
    /// Name, unique in its load balancer.
    pub name: String,
    /// The service in the form `lbs create --service` takes.
    pub spec: String,
    /// `tcp`, `udp`.
    pub protocol: &'static str,
    /// Port on the VIP.
    pub port: u32,
    /// Port on the backends.
    pub target_port: u32,
    /// `maglev`, `source-ip`.
    pub strategy: &'static str,
    /// Health check, defaults filled in.
    pub health_check: HealthCheckView,
    /// Backends.
    pub backends: Vec<BackendView>,
}

impl From<&pb::LbService> for ServiceView {
    fn from(s: &pb::LbService) -> ServiceView {
        ServiceView {
            id: s.id.clone(),
            name: s.name.clone(),
            spec: spec::format_service(s),
            protocol: if s.protocol == pb::LbProtocol::Udp as i32 {
                "udp"
            } else {
                "tcp"
            },
            port: s.port,
            target_port: s.target_port,
            strategy: if s.strategy == pb::LbStrategy::SourceIp as i32 {
                "source-ip"
            } else {
                "maglev"
            },
            health_check: HealthCheckView::of(s.health_check.as_ref(), s.target_port),
            backends: s
                .backends
                .iter()
                .map(|b| BackendView {
                    port_id: b.port_id.clone(),
                    weight: b.weight,
                    health: backend_health(b.health),
                    health_reason: opt(&b.health_reason),
                    health_changed_at: time(b.health_changed_at.as_ref()),
                })
                .collect(),
        }
    }
}

/// A network load balancer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoadBalancerView {
    /// Id, name, revision, timestamps.
    #[serde(flatten)]
    pub meta: Meta,
    /// `creating`, `running`, `updating`, `deleting`, `error`.
    pub state: &'static str,
    /// Why it is in `error`.
    pub error_reason: Option<String>,
    /// Free-form description.
    pub description: String,
    /// Virtual IP.
    pub vip: String,
    /// Services (listeners).
    pub services: Vec<ServiceView>,
}

/// Name of a load-balancer state.
pub fn lb_state(s: i32) -> &'static str {
    match pb::LoadBalancerState::try_from(s) {
        Ok(pb::LoadBalancerState::Creating) => "creating",
        Ok(pb::LoadBalancerState::Running) => "running",
        Ok(pb::LoadBalancerState::Updating) => "updating",
        Ok(pb::LoadBalancerState::Deleting) => "deleting",
        Ok(pb::LoadBalancerState::Error) => "error",
        _ => "unspecified",
    }
}

impl From<&pb::LoadBalancer> for LoadBalancerView {
    fn from(l: &pb::LoadBalancer) -> LoadBalancerView {
        LoadBalancerView {
            meta: Meta::of(l.meta.as_ref()),
            state: lb_state(l.state),
            error_reason: opt(&l.error_reason),
            description: l.description.clone(),
            vip: l.vip.clone(),
            services: l.services.iter().map(ServiceView::from).collect(),
        }
    }
}

/// A page-complete list of one kind.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ListView<T> {
    /// `networks`, `ports`, `groups`, `lbs`, `nodes`.
    pub kind: &'static str,
    /// Store revision the last page was read at.
    pub revision: i64,
    /// The objects, in id order.
    pub items: Vec<T>,
}

/// The result of a delete.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeletedView {
    /// `network`, `port`, `group`, `lb`, `node`.
    pub kind: &'static str,
    /// Id of the object.
    pub id: String,
    /// Store revision of the delete.
    pub revision: i64,
}

/// Where one node stands for an object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeProgressView {
    /// Node id.
    pub node_id: String,
    /// Node name.
    pub node_name: String,
    /// Last revision the node acknowledged.
    pub applied_revision: i64,
    /// Commit-to-ack time in milliseconds; `null` while the node lags.
    pub apply_latency_ms: Option<f64>,
}

impl From<&pb::NodeProgress> for NodeProgressView {
    fn from(p: &pb::NodeProgress) -> NodeProgressView {
        NodeProgressView {
            node_id: p.node_id.clone(),
            node_name: p.node_name.clone(),
            applied_revision: p.applied_revision,
            apply_latency_ms: p.apply_latency.as_ref().map(millis),
        }
    }
}

/// A convergence receipt (`sdnctl status`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReceiptView {
    /// `network`, `port`, `group`, `lb`, `node`.
    pub kind: &'static str,
    /// Object id.
    pub id: String,
    /// Object name.
    pub name: String,
    /// The object's revision the receipt is about.
    pub revision: i64,
    /// True when no node lags.
    pub converged: bool,
    /// Nodes that must apply the revision (applied + lagging).
    pub nodes: usize,
    /// Nodes that applied it.
    pub applied: Vec<NodeProgressView>,
    /// Nodes that have not, named.
    pub lagging: Vec<NodeProgressView>,
}

impl ReceiptView {
    /// The receipt of `kind` object `name`.
    pub fn of(kind: &'static str, name: &str, r: &pb::ConvergenceReceipt) -> ReceiptView {
        ReceiptView {
            kind,
            id: r.object_id.clone(),
            name: name.to_string(),
            revision: r.revision,
            converged: r.converged && r.lagging.is_empty(),
            nodes: r.applied.len() + r.lagging.len(),
            applied: r.applied.iter().map(NodeProgressView::from).collect(),
            lagging: r.lagging.iter().map(NodeProgressView::from).collect(),
        }
    }
}
