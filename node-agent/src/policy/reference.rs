//! Reference matchers: what the dataplane's lookups return on a compiled policy, and what the
//! rules say by brute force. Tests compare the two; fixtures can use [`verdict`] as their oracle.

use std::cmp::Reverse;
use std::net::{IpAddr, Ipv6Addr};

use super::compiled::CompiledPolicy;
use super::compiler::{WIDE_CLASS_IPV4, WIDE_CLASS_IPV6, mapped_address};
use super::model::{Direction, PortPolicy, Remote, ip_proto};

/// Emulates the dataplane's longest-prefix lookups on the compiled entries of `direction`: the
/// rule that allows the packet, or `None`. First `sdn_remote`, then `sdn_rule_match` with the
/// remote's class; when that finds nothing (or the address has no class), `sdn_rule_match` with
/// the wide class of the packet's family ([`CompileOptions::wide_fallback`](super::CompileOptions::wide_fallback);
/// without it there are no such entries and the third lookup always misses).
///
/// `remote` is the packet's source for ingress, its destination for egress; `port` its
/// destination port, or `type << 8 | code` for ICMP/ICMPv6, or 0 for protocols without ports.
pub fn evaluate(
    compiled: &CompiledPolicy,
    direction: Direction,
    remote: IpAddr,
    proto: u8,
    port: u16,
) -> Option<u32> {
    let tables = compiled.tables(direction);
    let addr = Ipv6Addr::from(mapped_address(remote));
    let class = tables
        .remote_entries
        .iter()
        .filter(|e| e.contains(addr))
        .max_by_key(|e| e.prefix_len)
        .map(|e| e.class);
    let rule_lookup = |class: u32| {
        tables
            .rule_entries
            .iter()
            .filter(|e| e.class == class && e.matches(proto, port))
            .max_by_key(|e| e.key_prefix_len())
            .map(|e| e.rule_id)
    };
    let wide = match remote {
        IpAddr::V4(_) => WIDE_CLASS_IPV4,
        IpAddr::V6(_) => WIDE_CLASS_IPV6,
    };
    class.and_then(rule_lookup).or_else(|| rule_lookup(wide))
}

/// A packet's policy verdict as the dataplane attributes it (before conntrack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed by this rule.
    Allow(u32),
    /// No ingress rule matches (`default-deny-ingress`).
    DefaultDenyIngress,
    /// The port has egress rules and none matches (`default-deny-egress`).
    DefaultDenyEgress,
    /// The port has no egress rule (`egress-open`).
    EgressOpen,
}

/// [`evaluate`] with the port's egress flag applied: the complete verdict of a first packet.
pub fn verdict(
    compiled: &CompiledPolicy,
    direction: Direction,
    remote: IpAddr,
    proto: u8,
    port: u16,
) -> Verdict {
    if direction == Direction::Egress && !compiled.egress_default_deny {
        return Verdict::EgressOpen;
    }
    match (
        evaluate(compiled, direction, remote, proto, port),
        direction,
    ) {
        (Some(rule), _) => Verdict::Allow(rule),
        (None, Direction::Ingress) => Verdict::DefaultDenyIngress,
        (None, Direction::Egress) => Verdict::DefaultDenyEgress,
    }
}

/// Every rule of `policy` that allows the packet, by brute force, in attribution order (the
/// first is the one a verdict is attributed to). Arguments as in [`evaluate`]; the policy is
/// assumed valid (it compiles).
pub fn naive_match(
    policy: &PortPolicy,
    direction: Direction,
    remote: IpAddr,
    proto: u8,
    port: u16,
) -> Vec<u32> {
    let remote = remote.to_canonical();
    let host_len = if remote.is_ipv4() { 32 } else { 128 };
    let mut matches: Vec<(Reverse<u8>, u32, u32)> = policy
        .rules
        .iter()
        .filter(|rule| rule.direction == direction)
        .filter_map(|rule| {
            let remote_len = match &rule.remote {
                Remote::Cidr(net) => {
                    let same_family = net.is_ipv4() == remote.is_ipv4();
                    (same_family && net.contains(remote)).then_some(net.prefix())?
                }
                Remote::Group(group) => policy.group_members[group]
                    .iter()
                    .any(|m| m.to_canonical() == remote)
                    .then_some(host_len)?,
            };
            let width = match rule.protocol.number() {
                None => 1 << 24,
                Some(p) if p != proto => return None,
                Some(ip_proto::ICMP) if !remote.is_ipv4() => return None,
                Some(ip_proto::ICMPV6) if !remote.is_ipv6() => return None,
                Some(_) => match (&rule.ports, rule.icmp) {
                    (Some(ports), _) => {
                        if !ports.contains(&port) {
                            return None;
                        }
                        u32::from(ports.end() - ports.start()) + 1
                    }
                    (None, Some((icmp_type, code))) => {
                        if port >> 8 != u16::from(icmp_type) {
                            return None;
                        }
                        match code {
                            Some(code) if port & 0xff != u16::from(code) => return None,
                            Some(_) => 1,
                            None => 256,
                        }
                    }
                    (None, None) => 65536,
                },
            };
            Some((Reverse(remote_len), width, rule.id))
        })
        .collect();
    matches.sort_unstable();
    matches.into_iter().map(|(_, _, id)| id).collect()
}
