//! The domain model: validated, plain-data forms of the API objects.
//!
//! **Architecture Invariant**: a value of these types has passed [`crate::validation`]; illegal states
//! (an ICMP code without a type, a port range on ICMP, an inverted range) are not representable or are
//! refused on the way in. The wire forms live in `sdn-proto`; [`crate::codec`] converts between them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use uuid::Uuid;

/// An etcd mod revision; 0 means "never written".
pub type Revision = i64;

/// Kinds of stored objects, used in errors, keys and convergence receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A hypervisor.
    Node,
    /// A private network.
    Network,
    /// An instance NIC.
    Port,
    /// A security group.
    SecurityGroup,
    /// A rule of a security group.
    SecurityRule,
    /// A network load balancer.
    LoadBalancer,
}

impl Kind {
    /// Lower-case name used in messages and keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Network => "network",
            Kind::Port => "port",
            Kind::SecurityGroup => "security group",
            Kind::SecurityRule => "security rule",
            Kind::LoadBalancer => "load balancer",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fields every object carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Unique id.
    pub id: Uuid,
    /// Human-readable name (see [`crate::validation::parse_name`]).
    pub name: String,
    /// etcd mod revision of the last change (0 before the first write).
    pub revision: Revision,
    /// Creation time.
    pub created_at: SystemTime,
    /// Time of the last change.
    pub updated_at: SystemTime,
}

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// true for a multicast (or broadcast) address.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// true for the all-zero address.
    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }

    /// A locally administered unicast MAC derived from a port id (`02:` + 5 bytes of the id).
    pub fn from_port_id(id: Uuid) -> Mac {
        let b = id.as_bytes();
        Mac([0x02, b[11], b[12], b[13], b[14], b[15]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Lifecycle of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Registered, not yet applied a snapshot.
    Pending,
    /// Agent connected and applying.
    Ready,
    /// Agent stopped answering (fail-static).
    Unreachable,
    /// Taken out of placement by an operator.
    Cordoned,
}

/// Role of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeRole {
    /// Hosts instances.
    Compute,
    /// Runs the load-balancer dataplane.
    Lb,
}

/// A hypervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Id, name, revision, timestamps.
    pub meta: Meta,
    /// VTEP address.
    pub underlay_ip: IpAddr,
    /// Roles, sorted, no duplicates, at least one.
    pub roles: Vec<NodeRole>,
    /// Agent version from its last hello.
    pub agent_version: String,
    /// Capabilities from its last hello.
    pub capabilities: Vec<String>,
    /// Last time the agent was heard from.
    pub last_seen: Option<SystemTime>,
    /// Last revision the agent acknowledged.
    pub applied_revision: Revision,
    /// Lifecycle state.
    pub state: NodeState,
}

impl Node {
    /// true when the node has the role.
    pub fn has_role(&self, role: NodeRole) -> bool {
        self.roles.contains(&role)
    }
}

/// Managed (controller IPAM) or unmanaged network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkMode {
    /// Controller IPAM and DHCP.
    Managed,
    /// Customer-configured addresses.
    Unmanaged,
}

/// Lifecycle of a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkState {
    /// Usable.
    Active,
    /// Being removed.
    Deleting,
}

/// An inclusive address range of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrRange<A> {
    /// First address.
    pub start: A,
    /// Last address (>= start).
    pub end: A,
}

/// A fixed reservation on a managed network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StaticLease {
    /// The MAC the addresses are reserved for.
    pub mac: Mac,
    /// Reserved IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// Reserved IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
}

/// A VXLAN network identifier (1 to 2^24 - 1).
pub type Vni = u32;

/// A customer-defined private network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Id, name, revision, timestamps.
    pub meta: Meta,
    /// Free-form description.
    pub description: String,
    /// IPv4 prefix.
    pub ipv4: Ipv4Network,
    /// Optional IPv6 prefix.
    pub ipv6: Option<Ipv6Network>,
    /// VXLAN id (0 only in a create request that asks for allocation).
    pub vni: Vni,
    /// Managed or unmanaged.
    pub mode: NetworkMode,
    /// IPAM range for IPv4 (managed only).
    pub range_v4: Option<AddrRange<Ipv4Addr>>,
    /// IPAM range for IPv6 (managed with a prefix only).
    pub range_v6: Option<AddrRange<Ipv6Addr>>,
    /// Fixed reservations (managed only).
    pub static_leases: Vec<StaticLease>,
    /// Lifecycle state.
    pub state: NetworkState,
}

/// Lifecycle of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    /// Stored, not yet acknowledged by its node.
    Pending,
    /// Acknowledged by its node.
    Programmed,
    /// Being removed from its node.
    Deleting,
}

/// An instance NIC on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Id, name, revision, timestamps.
    pub meta: Meta,
    /// The orchestrator's instance id.
    pub instance_id: String,
    /// Hosting node.
    pub node_id: Uuid,
    /// Attached network.
    pub network_id: Uuid,
    /// MAC (allocated on create when not given).
    pub mac: Option<Mac>,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Ordered set of security groups.
    pub security_group_ids: Vec<Uuid>,
    /// Lifecycle state.
    pub state: PortState,
}

impl Port {
    /// The port's addresses, IPv4 first.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(self.ipv6.map(IpAddr::V6))
    }
}

/// Direction of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Into the port.
    Ingress,
    /// Out of the port.
    Egress,
}

/// The IP protocol a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Any protocol.
    All,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    Icmpv6,
    /// SCTP (132).
    Sctp,
    /// Any other IP protocol by number (never one of the named ones).
    Number(u8),
}

impl Protocol {
    /// The protocol for an IP protocol number, named when it has a name.
    pub fn from_number(n: u8) -> Protocol {
        match n {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            58 => Protocol::Icmpv6,
            132 => Protocol::Sctp,
            n => Protocol::Number(n),
        }
    }

    /// true for protocols with ports (tcp, udp, sctp).
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
    }

    /// true for icmp and icmpv6.
    pub fn is_icmp(self) -> bool {
        matches!(self, Protocol::Icmp | Protocol::Icmpv6)
    }
}

/// An inclusive port range, 1 <= from <= to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub from: u16,
    /// Last port.
    pub to: u16,
}

/// An ICMP type with an optional code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code; None matches every code.
    pub code: Option<u8>,
}

/// What a rule's remote end must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remote {
    /// Any address of either family.
    Any,
    /// A prefix (host bits zero).
    Cidr(IpNetwork),
    /// The member addresses of a security group.
    Group(Uuid),
}

/// An allow-rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable id (nil in a request that asks for one).
    pub id: Uuid,
    /// Free-form description.
    pub description: String,
    /// Direction.
    pub direction: Direction,
    /// Protocol.
    pub protocol: Protocol,
    /// Port range (tcp/udp/sctp only); None = every port.
    pub ports: Option<PortRange>,
    /// ICMP type/code (icmp/icmpv6 only); None = every type.
    pub icmp: Option<IcmpMatch>,
    /// Remote end.
    pub remote: Remote,
}

/// Lifecycle of a security group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityGroupState {
    /// Usable.
    Active,
    /// Being removed.
    Deleting,
}

/// A stateful set of allow-rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// Id, name, revision, timestamps.
    pub meta: Meta,
    /// Free-form description.
    pub description: String,
    /// The rules.
    pub rules: Vec<Rule>,
    /// Lifecycle state.
    pub state: SecurityGroupState,
    /// Rules removed by the last change with `revoke`.
    pub revoked_rule_ids: Vec<Uuid>,
}

impl SecurityGroup {
    /// Ids of the groups this group's rules name as remote, sorted, without duplicates.
    pub fn remote_groups(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .rules
            .iter()
            .filter_map(|r| match r.remote {
                Remote::Group(g) => Some(g),
                _ => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// What happens to flows admitted by removed rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExistingFlows {
    /// They keep going (default).
    #[default]
    Keep,
    /// Every node cuts them.
    Revoke,
}

/// Lifecycle of a load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadBalancerState {
    /// Being programmed for the first time.
    Creating,
    /// Every LB node applied it.
    Running,
    /// A change is being applied.
    Updating,
    /// Being removed.
    Deleting,
    /// A step failed.
    Error,
}

/// Transport of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LbProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Backend selection of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LbStrategy {
    /// Weighted Maglev over the 5-tuple.
    Maglev,
    /// Weighted Maglev over the source address.
    SourceIp,
}

/// Probe kind of a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthCheckMode {
    /// TCP connect.
    Tcp,
    /// HTTP GET.
    Http,
}

/// A health check with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Probe kind.
    pub mode: HealthCheckMode,
    /// Probed port (the service's target port when not given).
    pub port: u16,
    /// Milliseconds between probes.
    pub interval_ms: u32,
    /// Milliseconds a probe may take.
    pub timeout_ms: u32,
    /// Failures before unhealthy.
    pub retries_down: u32,
    /// Successes before healthy.
    pub retries_up: u32,
    /// HTTP path (HTTP only).
    pub http_path: String,
    /// Expected HTTP status (HTTP only).
    pub http_expected_status: u16,
}

/// Health of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendHealth {
    /// No verdict yet.
    Unknown,
    /// Receives new flows.
    Healthy,
    /// Failed its check.
    Unhealthy,
    /// Weight 0.
    Draining,
}

/// A backend of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The backend's port.
    pub port_id: Uuid,
    /// Weight (0 = drain).
    pub weight: u16,
    /// Last reported health.
    pub health: BackendHealth,
    /// Why it last changed.
    pub health_reason: String,
    /// When it last changed.
    pub health_changed_at: Option<SystemTime>,
}

/// A listener of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbService {
    /// Stable id.
    pub id: Uuid,
    /// Name, unique in the load balancer.
    pub name: String,
    /// Transport.
    pub protocol: LbProtocol,
    /// VIP port.
    pub port: u16,
    /// Backend port.
    pub target_port: u16,
    /// Backend selection.
    pub strategy: LbStrategy,
    /// Backends.
    pub backends: Vec<Backend>,
    /// Health check.
    pub health_check: HealthCheck,
}

/// A network load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancer {
    /// Id, name, revision, timestamps.
    pub meta: Meta,
    /// Free-form description.
    pub description: String,
    /// Virtual IP.
    pub vip: Ipv4Addr,
    /// Lifecycle state.
    pub state: LoadBalancerState,
    /// Why it is in `Error`.
    pub error_reason: String,
    /// Listeners.
    pub services: Vec<LbService>,
}

impl LoadBalancer {
    /// Ids of every backend port, sorted, without duplicates.
    pub fn backend_ports(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .services
            .iter()
            .flat_map(|s| s.backends.iter().map(|b| b.port_id))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}
