//! Why a port's policy cannot be compiled.

use super::model::{Direction, GroupId};

/// Why a port's policy cannot be compiled. The port keeps its previous policy (fail-static).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A rule is not well formed.
    #[error("rule {rule_id} is invalid: {problem}")]
    InvalidRule {
        /// The offending rule.
        rule_id: u32,
        /// What is wrong with it.
        #[source]
        problem: RuleProblem,
    },
    /// Two rules share an id, so verdicts could not be attributed.
    #[error("rule id {rule_id} appears twice in the port's groups; rule ids must be unique")]
    DuplicateRuleId {
        /// The repeated id.
        rule_id: u32,
    },
    /// A rule names a group whose members were not supplied.
    #[error(
        "rule {rule_id} names group {group:?} but its members were not given; pass an empty set for a group without members"
    )]
    UnknownGroup {
        /// The rule naming the group.
        rule_id: u32,
        /// The group.
        group: GroupId,
    },
    /// More rules than [`Limits::max_rules_per_port`](super::Limits::max_rules_per_port).
    #[error(
        "port has {rules} rules, more than the limit of {limit}; split the instance's groups or raise the limit"
    )]
    TooManyRules {
        /// Rules on the port.
        rules: usize,
        /// The limit.
        limit: usize,
    },
    /// The compiled tables would exceed [`Limits::max_entries_per_map`](super::Limits::max_entries_per_map).
    #[error(
        "{direction:?} policy needs more than {limit} {map} entries; use fewer overlapping remotes or raise the limit"
    )]
    TooManyEntries {
        /// The direction whose tables overflowed.
        direction: Direction,
        /// The map: `sdn_remote` or `sdn_rule_match`.
        map: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A policy id is 0 (reserved for "no rules"), or both directions got the same id.
    #[error(
        "policy ids must be non-zero and differ per direction (got ingress {ingress}, egress {egress})"
    )]
    BadPolicyIds {
        /// The ingress id given.
        ingress: u32,
        /// The egress id given.
        egress: u32,
    },
}

/// What is wrong with one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    /// Rule ids below [`FIRST_RULE_ID`](super::FIRST_RULE_ID) name built-in verdicts.
    #[error("ids below {first} are reserved for built-in verdicts")]
    ReservedId {
        /// The first id a rule may use.
        first: u32,
    },
    /// A port range on a protocol without ports.
    #[error("protocol {proto:?} has no ports; only tcp, udp and sctp rules take a port range")]
    PortsWithoutPortProtocol {
        /// The rule's protocol number (`None` = all).
        proto: Option<u8>,
    },
    /// An ICMP type on a protocol other than ICMP/ICMPv6.
    #[error("protocol {proto:?} has no ICMP type; only icmp and icmpv6 rules take a type and code")]
    IcmpTypeWithoutIcmp {
        /// The rule's protocol number (`None` = all).
        proto: Option<u8>,
    },
    /// A port range whose start is after its end.
    #[error("port range {start}-{end} is empty")]
    EmptyPortRange {
        /// First port.
        start: u16,
        /// Last port.
        end: u16,
    },
    /// `icmp` with an IPv6 CIDR, or `icmpv6` with an IPv4 CIDR: the rule could never match.
    #[error("protocol {proto} is for the other address family than the remote CIDR")]
    FamilyMismatch {
        /// The rule's protocol number.
        proto: u8,
    },
    /// An IPv6 CIDR inside `::ffff:0:0/96`, where the dataplane keeps IPv4 addresses.
    #[error("IPv6 CIDRs inside ::ffff:0:0/96 (IPv4-mapped) are not allowed; write the IPv4 CIDR")]
    MappedIpv6Cidr,
}
