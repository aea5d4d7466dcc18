//! The compiler's output: the exact `sdn_remote` and `sdn_rule_match` entries of one port.

use std::net::Ipv6Addr;

use super::model::Direction;

/// One `sdn_remote` entry: addresses under `addr/prefix_len` belong to remote class `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteEntry {
    /// The direction's policy id (the first 32 key bits).
    pub policy: u32,
    /// The network; IPv4 is v4-mapped (`::ffff:a.b.c.d`).
    pub addr: Ipv6Addr,
    /// Prefix length of the address part, 0..=128 (IPv4 /n is 96 + n).
    pub prefix_len: u8,
    /// Remote class id, > 0.
    pub class: u32,
}

impl RemoteEntry {
    /// The LPM key's `prefixlen`: the 32 policy bits plus the address prefix.
    pub fn key_prefix_len(&self) -> u32 {
        32 + u32::from(self.prefix_len)
    }

    /// Whether the entry's prefix contains `addr` (v4-mapped for IPv4).
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        let mask = super::address_space::mask(self.prefix_len);
        u128::from(addr) & mask == u128::from(self.addr)
    }
}

/// One `sdn_rule_match` entry: packets of remote class `class` with this protocol and port prefix
/// are allowed by `rule_id`.
///
/// Invariants: `proto == None` implies `port_prefix == None` (every protocol, key prefix 64);
/// `port_prefix == None` with a protocol is "every port" (key prefix 80); `Some((port, bits))`
/// has `bits` in 1..=16 and the low `16 - bits` bits of `port` zero (key prefix 80 + bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleEntry {
    /// The direction's policy id.
    pub policy: u32,
    /// Remote class id.
    pub class: u32,
    /// IP protocol number; `None` = every protocol.
    pub proto: Option<u8>,
    /// Destination port prefix `(first port, bits)`; for ICMP the port is `type << 8 | code`.
    pub port_prefix: Option<(u16, u8)>,
    /// The rule that allows the packets, `>=` [`FIRST_RULE_ID`](super::FIRST_RULE_ID).
    pub rule_id: u32,
}

impl RuleEntry {
    /// The LPM key's `prefixlen`: 64, 80, or 80 + port bits.
    pub fn key_prefix_len(&self) -> u32 {
        match (self.proto, self.port_prefix) {
            (None, _) => 64,
            (Some(_), None) => 80,
            (Some(_), Some((_, bits))) => 80 + u32::from(bits),
        }
    }

    /// The key's port field (host order; the map stores it big-endian).
    pub fn port(&self) -> u16 {
        self.port_prefix.map_or(0, |(port, _)| port)
    }

    /// Whether a packet with this protocol and port falls under the entry (class aside).
    pub fn matches(&self, proto: u8, port: u16) -> bool {
        match (self.proto, self.port_prefix) {
            (None, _) => true,
            (Some(p), None) => p == proto,
            (Some(p), Some((first, bits))) => p == proto && (port ^ first) >> (16 - bits) == 0,
        }
    }

    /// The key without the value: what a delete names.
    pub fn key(&self) -> (u32, u32, Option<u8>, Option<(u16, u8)>) {
        (self.policy, self.class, self.proto, self.port_prefix)
    }
}

/// The entries of one direction under its policy id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionTables {
    /// Which direction these are.
    pub direction: Direction,
    /// The policy id every entry is keyed by.
    pub policy_id: u32,
    /// `sdn_remote` entries, sorted.
    pub remote_entries: Vec<RemoteEntry>,
    /// `sdn_rule_match` entries, sorted.
    pub rule_entries: Vec<RuleEntry>,
}

impl DirectionTables {
    /// The id to write in `sdn_port`: the policy id, or 0 when nothing can match (no entries).
    pub fn port_policy_id(&self) -> u32 {
        if self.rule_entries.is_empty() {
            0
        } else {
            self.policy_id
        }
    }

    /// Sizes of these tables.
    pub fn stats(&self) -> PolicyStats {
        let mut classes: Vec<u32> = (self.remote_entries.iter().map(|e| e.class))
            .chain(self.rule_entries.iter().map(|e| e.class))
            .collect();
        classes.sort_unstable();
        classes.dedup();
        PolicyStats {
            remote_entries: self.remote_entries.len(),
            rule_entries: self.rule_entries.len(),
            classes: classes.len(),
        }
    }
}

/// A port's compiled policy: both directions and the egress flag of `sdn_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// Traffic to the instance.
    pub ingress: DirectionTables,
    /// Traffic from the instance.
    pub egress: DirectionTables,
    /// `SDN_PORT_EGRESS_DEFAULT_DENY`: the port's groups hold at least one egress rule. When false,
    /// egress is open (`egress-open`) whatever the tables say.
    pub egress_default_deny: bool,
}

impl CompiledPolicy {
    /// The tables of one direction.
    pub fn tables(&self, direction: Direction) -> &DirectionTables {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// Every `sdn_remote` entry, both directions.
    pub fn remote_entries(&self) -> impl Iterator<Item = &RemoteEntry> {
        self.ingress
            .remote_entries
            .iter()
            .chain(&self.egress.remote_entries)
    }

    /// Every `sdn_rule_match` entry, both directions.
    pub fn rule_entries(&self) -> impl Iterator<Item = &RuleEntry> {
        self.ingress
            .rule_entries
            .iter()
            .chain(&self.egress.rule_entries)
    }

    /// Sizes, both directions together.
    pub fn stats(&self) -> PolicyStats {
        let (i, e) = (self.ingress.stats(), self.egress.stats());
        PolicyStats {
            remote_entries: i.remote_entries + e.remote_entries,
            rule_entries: i.rule_entries + e.rule_entries,
            classes: i.classes + e.classes,
        }
    }
}

/// How big a compiled policy is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyStats {
    /// `sdn_remote` entries.
    pub remote_entries: usize,
    /// `sdn_rule_match` entries.
    pub rule_entries: usize,
    /// Distinct remote classes.
    pub classes: usize,
}
