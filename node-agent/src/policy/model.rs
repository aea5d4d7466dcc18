//! The compiler's input: a port's allow-rules and the member addresses of the groups they name.
//!
//! These are plain values, not the API's protobuf types; the agent converts. Nothing here is
//! validated yet: [`compile`](super::compile) checks every rule and names the one it rejects.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ipnetwork::IpNetwork;

/// IP protocol numbers the policy treats specially.
pub mod ip_proto {
    /// ICMP (IPv4 only).
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE (no ports).
    pub const GRE: u8 = 47;
    /// ESP (no ports).
    pub const ESP: u8 = 50;
    /// AH (no ports).
    pub const AH: u8 = 51;
    /// ICMPv6 (IPv6 only).
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// A direction, from the instance's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Traffic to the instance; the remote is the packet's source.
    Ingress,
    /// Traffic from the instance; the remote is the packet's destination.
    Egress,
}

/// The protocol a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Every protocol of the remote's address family.
    All,
    /// TCP (6), with an optional port range.
    Tcp,
    /// UDP (17), with an optional port range.
    Udp,
    /// SCTP (132), with an optional port range.
    Sctp,
    /// ICMP (1): IPv4 only, with an optional type and code.
    Icmp,
    /// ICMPv6 (58): IPv6 only, with an optional type and code.
    Icmpv6,
    /// Any IP protocol by number; `Number(6)` is the same as [`Protocol::Tcp`], and so on.
    Number(u8),
}

impl Protocol {
    /// The IP protocol number, or `None` for [`Protocol::All`].
    pub fn number(self) -> Option<u8> {
        match self {
            Protocol::All => None,
            Protocol::Tcp => Some(ip_proto::TCP),
            Protocol::Udp => Some(ip_proto::UDP),
            Protocol::Sctp => Some(ip_proto::SCTP),
            Protocol::Icmp => Some(ip_proto::ICMP),
            Protocol::Icmpv6 => Some(ip_proto::ICMPV6),
            Protocol::Number(n) => Some(n),
        }
    }
}

/// Whether a protocol number carries ports a rule may restrict (TCP, UDP, SCTP).
pub fn has_ports(proto: u8) -> bool {
    matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP)
}

/// Whether a protocol number carries an ICMP type and code a rule may restrict.
pub fn has_icmp_type(proto: u8) -> bool {
    matches!(proto, ip_proto::ICMP | ip_proto::ICMPV6)
}

/// A security group's id, as the API spells it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub String);

impl From<&str> for GroupId {
    fn from(id: &str) -> Self {
        GroupId(id.to_owned())
    }
}

/// What a rule's remote is: the packet's source for ingress, its destination for egress.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Remote {
    /// An IPv4 or IPv6 CIDR; host bits, if any, are ignored.
    Cidr(IpNetwork),
    /// Every address of the group's members ([`PortPolicy::group_members`]).
    Group(GroupId),
}

/// One allow-rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's stable id, `>=` [`FIRST_RULE_ID`](super::FIRST_RULE_ID); verdicts are attributed to it.
    pub id: u32,
    /// Which traffic the rule admits.
    pub direction: Direction,
    /// The protocol it admits.
    pub protocol: Protocol,
    /// Destination ports (TCP, UDP, SCTP only); `None` = every port.
    pub ports: Option<RangeInclusive<u16>>,
    /// ICMP type and optional code (ICMP, ICMPv6 only); `None` = every type.
    pub icmp: Option<(u8, Option<u8>)>,
    /// Where the traffic comes from (ingress) or goes to (egress).
    pub remote: Remote,
}

/// Everything one port's policy depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortPolicy {
    /// The rules of all the port's security groups (order does not matter).
    pub rules: Vec<Rule>,
    /// The member addresses of every group a rule names as its remote (an empty set is fine; a
    /// missing group is an error). IPv4-mapped IPv6 addresses count as IPv4.
    pub group_members: BTreeMap<GroupId, BTreeSet<IpAddr>>,
}
