//! The security-group policy compiler: a port's rules to the entries of the dataplane's
//! classification maps. Pure: no kernel, no I/O.
//!
//! # Classification
//!
//! The eBPF programs classify the first packet of a flow with three lookups, never a loop over
//! rules (see `docs/policy.md`):
//!
//! 1. `sdn_port[ifindex]`: one policy id per direction and the egress default-deny flag;
//! 2. `sdn_remote` (LPM on policy id + address): the remote's **class**, the set of rule remotes
//!    (CIDRs, group members) that contain the address;
//! 3. `sdn_rule_match` (LPM on policy id + class + protocol + port prefix): the allowing rule.
//! 4. with [`CompileOptions::wide_fallback`] only, when 3 finds nothing: `sdn_rule_match` with
//!    the family's wide class, which holds the rules from anywhere (`0.0.0.0/0`, `::/0`).
//!
//! [`compile`] turns a [`PortPolicy`] into exactly those entries ([`CompiledPolicy`]), [`diff`]
//! into the map operations between two compilations, and [`evaluate`] / [`naive_match`] are the
//! reference matchers the tests hold them to.
//!
//! # Attribution
//!
//! When several rules allow a packet, the verdict is attributed to the first of them in this
//! order, the most specific first:
//!
//! 1. the longest remote prefix containing the remote address (a group remote counts as a host
//!    prefix, /32 or /128);
//! 2. then the fewest (protocol, port) values the rule admits: a port range of `n` ports admits
//!    `n`, a protocol without a port restriction 65,536, an ICMP type 256, a type and code 1,
//!    `all` 2^24;
//! 3. then the lowest rule id.
//!
//! The compiler resolves this order while it writes the entries, so the longest-prefix lookups
//! return exactly that rule (the property tests check it against [`naive_match`]).
//!
//! # Families
//!
//! IPv4 is keyed v4-mapped (`::ffff:a.b.c.d`). An IPv6 prefix that covers `::ffff:0:0/96` never
//! reaches IPv4 addresses: the compiler writes the `/96` boundary entry whenever it must. ICMP
//! rules apply to IPv4 only, ICMPv6 rules to IPv6 only. The dataplane must treat an IPv6 packet
//! whose remote address is itself IPv4-mapped as invalid, since it would be classified as IPv4.

mod address_space;
mod compiled;
mod compiler;
mod diff;
mod error;
mod model;
mod port_space;
mod reference;
#[cfg(test)]
mod tests;

pub use compiled::{CompiledPolicy, DirectionTables, PolicyStats, RemoteEntry, RuleEntry};
pub use compiler::{
    CompileOptions, FIRST_RULE_ID, Limits, MAX_ENTRIES_PER_MAP, MAX_RULES_PER_PORT,
    WIDE_CLASS_IPV4, WIDE_CLASS_IPV6, compile, compile_with,
};
pub use diff::{PolicyDiff, diff};
pub use error::{PolicyError, RuleProblem};
pub use model::{Direction, GroupId, PortPolicy, Protocol, Remote, Rule, ip_proto};
pub use reference::{Verdict, evaluate, naive_match, verdict};
