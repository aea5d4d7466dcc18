//! [`compile`]: a port's rules and group members to the exact entries of both policy maps.
//!
//! Per direction:
//! 1. every rule is checked and reduced to a protocol number (or all), an interval of the 16-bit
//!    port space (ports, or `type << 8 | code` for ICMP), and a remote;
//! 2. [`address_space`](super::address_space) gives every distinct remote prefix the set of
//!    remotes containing it, with the IPv4 boundary;
//! 3. each (family, remote set) gets its *content*: the rule entries its packets need. Rules of
//!    the set are sorted in [attribution order](super#attribution); for every protocol a rule
//!    names, [`paint`](super::port_space::paint) gives each port to the first rule covering it,
//!    and [`encode`](super::port_space::encode) writes that as the fewest port prefixes under the
//!    class-wide entry of the best `all` rule;
//! 4. prefixes with equal content share one class id; a prefix whose content equals its parent's
//!    is not written (the parent answers). Class ids are reused from the previous compilation for
//!    equal content, so a recompilation diffs only what changed.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};

use super::address_space::{self, AddressPrefix, Family, MAPPED_NETWORK};
use super::compiled::{CompiledPolicy, DirectionTables, RemoteEntry, RuleEntry};
use super::error::{PolicyError, RuleProblem};
use super::model::{self, Direction, GroupId, PortPolicy, Remote, Rule, ip_proto};
use super::port_space;

/// The first id a user rule may have; lower ids name built-in verdicts (`SDN_RULE_ID_FIRST`).
pub const FIRST_RULE_ID: u32 = 1024;

/// Default of [`Limits::max_rules_per_port`].
///
/// 100,000: the product promises that a port with 10,000 rules costs what one with 10 costs and
/// benchmarks 100,000; the per-packet cost does not depend on the rule count, and compiling
/// 10,000 rules of a realistic mix takes well under a second (a debug build: 0.4 s). What truly
/// bounds a port is its entry count, [`MAX_ENTRIES_PER_MAP`], which depends on how the remotes
/// overlap (`docs/policy.md`, "Limits").
pub const MAX_RULES_PER_PORT: usize = 100_000;

/// Default of [`Limits::max_entries_per_map`].
///
/// 262,144 per map and direction: a quarter of a node's `sdn_remote` / `sdn_rule_match` capacity
/// (`SDN_MAX_POLICY_ENTRIES` = 1,048,576), so even the largest port can hold its old and new
/// generation during a swap and leave half of the node's capacity to its other ports.
pub const MAX_ENTRIES_PER_MAP: usize = 262_144;

/// Size limits of one port's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rules over all the port's groups, both directions.
    pub max_rules_per_port: usize,
    /// Entries one direction may write in each of `sdn_remote` and `sdn_rule_match`.
    pub max_entries_per_map: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rules_per_port: MAX_RULES_PER_PORT,
            max_entries_per_map: MAX_ENTRIES_PER_MAP,
        }
    }
}

/// The class of `sdn_rule_match` entries for IPv4 rules whose remote is `0.0.0.0/0`, when
/// compiled with [`CompileOptions::wide_fallback`].
pub const WIDE_CLASS_IPV4: u32 = 0xffff_fff4;
/// The class of `sdn_rule_match` entries for IPv6 rules whose remote is `::/0`, when compiled
/// with [`CompileOptions::wide_fallback`].
pub const WIDE_CLASS_IPV6: u32 = 0xffff_fff6;

/// How to compile.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions<'a> {
    /// Size limits.
    pub limits: Limits,
    /// Write the rules whose remote is a whole family (`0.0.0.0/0`, `::/0`) once, under
    /// [`WIDE_CLASS_IPV4`] / [`WIDE_CLASS_IPV6`], instead of into every remote class.
    ///
    /// Requires a dataplane that, when the class lookup finds no rule (or the address has no
    /// class), looks `sdn_rule_match` up once more with the wide class of the packet's family.
    /// Attribution is unchanged: every other rule has a longer remote, so it comes first in the
    /// order whenever it matches. Without this, each such rule is copied into every class, which
    /// dominates the size of large policies (`docs/policy.md`, "Limits").
    pub wide_fallback: bool,
    /// The port's current compiled policy: classes with the same content keep their ids, so
    /// [`diff`](super::diff) against it touches only what changed.
    pub previous: Option<&'a CompiledPolicy>,
}

/// Compiles a port's policy with the default [`Limits`] and fresh class ids.
///
/// The two policy ids must be non-zero and different; see [`diff`](super::diff) for how the
/// driver moves a port from one compiled policy to the next.
pub fn compile(
    policy: &PortPolicy,
    ingress_policy_id: u32,
    egress_policy_id: u32,
) -> Result<CompiledPolicy, PolicyError> {
    compile_with(
        policy,
        ingress_policy_id,
        egress_policy_id,
        &CompileOptions::default(),
    )
}

/// Compiles a port's policy with explicit limits and, optionally, the previous compilation.
pub fn compile_with(
    policy: &PortPolicy,
    ingress_policy_id: u32,
    egress_policy_id: u32,
    options: &CompileOptions<'_>,
) -> Result<CompiledPolicy, PolicyError> {
    if ingress_policy_id == 0 || egress_policy_id == 0 || ingress_policy_id == egress_policy_id {
        return Err(PolicyError::BadPolicyIds {
            ingress: ingress_policy_id,
            egress: egress_policy_id,
        });
    }
    if policy.rules.len() > options.limits.max_rules_per_port {
        return Err(PolicyError::TooManyRules {
            rules: policy.rules.len(),
            limit: options.limits.max_rules_per_port,
        });
    }
    let mut ids = HashSet::with_capacity(policy.rules.len());
    let mut rules = Vec::with_capacity(policy.rules.len());
    for rule in &policy.rules {
        if !ids.insert(rule.id) {
            return Err(PolicyError::DuplicateRuleId { rule_id: rule.id });
        }
        rules.push(check_rule(rule, policy)?);
    }
    let tables = |direction, policy_id| {
        let previous = options.previous.map(|p| p.tables(direction));
        compile_direction(direction, policy_id, &rules, policy, options, previous)
    };
    Ok(CompiledPolicy {
        ingress: tables(Direction::Ingress, ingress_policy_id)?,
        egress: tables(Direction::Egress, egress_policy_id)?,
        egress_default_deny: rules.iter().any(|r| r.direction == Direction::Egress),
    })
}

/// A remote after checking: a masked CIDR of one family, or a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CheckedRemote {
    /// A prefix of the v4-mapped space, and its family.
    Cidr(AddressPrefix),
    /// A group's members.
    Group(GroupId),
}

/// A rule reduced to what classification needs.
#[derive(Debug, Clone)]
struct CheckedRule {
    id: u32,
    direction: Direction,
    /// `None` = every protocol.
    proto: Option<u8>,
    /// The interval of the port space the rule allows (ports, or ICMP `type << 8 | code`).
    span: (u32, u32),
    /// ICMP is IPv4 only, ICMPv6 IPv6 only.
    family_only: Option<Family>,
    remote: CheckedRemote,
}

impl CheckedRule {
    /// How many (protocol, port) values the rule admits: the second attribution criterion.
    fn width(&self) -> u32 {
        match self.proto {
            None => 1 << 24,
            Some(_) => self.span.1 - self.span.0 + 1,
        }
    }

    /// The family whose every address the remote contains (`0.0.0.0/0` or `::/0`), if any.
    fn wide_family(&self) -> Option<Family> {
        match &self.remote {
            CheckedRemote::Cidr(prefix) if *prefix == AddressPrefix::boundary() => Some(Family::V4),
            CheckedRemote::Cidr(prefix) if prefix.len == 0 => Some(Family::V6),
            _ => None,
        }
    }

    /// The remote's prefix length in the family's own bits; a group counts as hosts.
    fn remote_len(&self, family: Family) -> u8 {
        match &self.remote {
            CheckedRemote::Cidr(prefix) => match family {
                Family::V4 => prefix.len - address_space::MAPPED_PREFIX_LEN,
                Family::V6 => prefix.len,
            },
            CheckedRemote::Group(_) => family.host_len(),
        }
    }

    /// The attribution order: longest remote prefix, then fewest (protocol, port) values, then
    /// lowest id. Smaller sorts first.
    fn attribution_key(&self, family: Family) -> (Reverse<u8>, u32, u32) {
        (Reverse(self.remote_len(family)), self.width(), self.id)
    }
}

fn check_rule(rule: &Rule, policy: &PortPolicy) -> Result<CheckedRule, PolicyError> {
    let invalid = |problem| PolicyError::InvalidRule {
        rule_id: rule.id,
        problem,
    };
    if rule.id < FIRST_RULE_ID {
        return Err(invalid(RuleProblem::ReservedId {
            first: FIRST_RULE_ID,
        }));
    }
    let proto = rule.protocol.number();
    let span = match (&rule.ports, rule.icmp) {
        (Some(_), _) if !proto.is_some_and(model::has_ports) => {
            return Err(invalid(RuleProblem::PortsWithoutPortProtocol { proto }));
        }
        (_, Some(_)) if !proto.is_some_and(model::has_icmp_type) => {
            return Err(invalid(RuleProblem::IcmpTypeWithoutIcmp { proto }));
        }
        (Some(ports), _) => {
            if ports.start() > ports.end() {
                return Err(invalid(RuleProblem::EmptyPortRange {
                    start: *ports.start(),
                    end: *ports.end(),
                }));
            }
            (u32::from(*ports.start()), u32::from(*ports.end()))
        }
        (None, Some((icmp_type, code))) => {
            let base = u32::from(icmp_type) << 8;
            match code {
                Some(code) => (base | u32::from(code), base | u32::from(code)),
                None => (base, base | 0xff),
            }
        }
        (None, None) => (0, 0xffff),
    };
    let family_only = match proto {
        Some(ip_proto::ICMP) => Some(Family::V4),
        Some(ip_proto::ICMPV6) => Some(Family::V6),
        _ => None,
    };
    let remote = match &rule.remote {
        Remote::Cidr(net) => {
            let prefix = match net.ip() {
                IpAddr::V4(a) => AddressPrefix::new(
                    MAPPED_NETWORK | u128::from(u32::from(a)),
                    address_space::MAPPED_PREFIX_LEN + net.prefix(),
                ),
                IpAddr::V6(a) => {
                    let prefix = AddressPrefix::new(u128::from(a), net.prefix());
                    if prefix.len >= address_space::MAPPED_PREFIX_LEN
                        && prefix.family() == Family::V4
                    {
                        return Err(invalid(RuleProblem::MappedIpv6Cidr));
                    }
                    prefix
                }
            };
            if let (Some(only), Some(proto)) = (family_only, proto)
                && only != prefix.family()
            {
                return Err(invalid(RuleProblem::FamilyMismatch { proto }));
            }
            CheckedRemote::Cidr(prefix)
        }
        Remote::Group(group) => {
            if !policy.group_members.contains_key(group) {
                return Err(PolicyError::UnknownGroup {
                    rule_id: rule.id,
                    group: group.clone(),
                });
            }
            CheckedRemote::Group(group.clone())
        }
    };
    Ok(CheckedRule {
        id: rule.id,
        direction: rule.direction,
        proto,
        span,
        family_only,
        remote,
    })
}

/// An address as the dataplane keys it: IPv4 v4-mapped, IPv4-mapped IPv6 taken as IPv4.
pub(super) fn mapped_address(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => MAPPED_NETWORK | u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// One rule entry of a class, before the class has an id.
type ContentEntry = (Option<u8>, Option<(u16, u8)>, u32);

/// The rule entries of a class, sorted; the identity of a class.
type Content = Vec<ContentEntry>;

fn compile_direction(
    direction: Direction,
    policy_id: u32,
    all_rules: &[CheckedRule],
    policy: &PortPolicy,
    options: &CompileOptions<'_>,
    previous: Option<&DirectionTables>,
) -> Result<DirectionTables, PolicyError> {
    let limits = &options.limits;
    let too_many = |map| PolicyError::TooManyEntries {
        direction,
        map,
        limit: limits.max_entries_per_map,
    };
    let (wide, rules): (Vec<&CheckedRule>, Vec<&CheckedRule>) = all_rules
        .iter()
        .filter(|r| r.direction == direction)
        .partition(|r| options.wide_fallback && r.wide_family().is_some());

    // Distinct remotes, the rules of each, and the prefixes of each.
    let mut remote_ids: HashMap<&CheckedRemote, u32> = HashMap::new();
    let mut rules_by_remote: Vec<Vec<usize>> = Vec::new();
    let mut prefixes: Vec<(AddressPrefix, u32)> = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let next = remote_ids.len() as u32;
        let remote = *remote_ids.entry(&rule.remote).or_insert_with(|| {
            rules_by_remote.push(Vec::new());
            match &rule.remote {
                CheckedRemote::Cidr(prefix) => prefixes.push((*prefix, next)),
                CheckedRemote::Group(group) => {
                    let members = &policy.group_members[group];
                    prefixes.extend(members.iter().map(|m| (host_prefix(*m), next)));
                }
            }
            next
        });
        rules_by_remote[remote as usize].push(index);
        if prefixes.len() > limits.max_entries_per_map {
            return Err(too_many("sdn_remote"));
        }
    }

    let classification = address_space::classify(prefixes);

    // Content of every (family, remote set), interned; content 0 is "nothing allowed".
    let mut contents: Vec<Content> = vec![Vec::new()];
    let mut content_ids: HashMap<Content, usize> = HashMap::from([(Vec::new(), 0)]);
    let mut content_of_set: HashMap<(Family, usize), usize> = HashMap::new();
    let mut total_rule_entries = 0usize;
    let mut node_content: Vec<usize> = Vec::with_capacity(classification.prefixes.len());
    for node in &classification.prefixes {
        let key = (node.family, node.set);
        let content = match content_of_set.get(&key) {
            Some(c) => *c,
            None => {
                let remotes = &classification.sets[node.set];
                let content = class_content(node.family, remotes, &rules_by_remote, &rules);
                let next = contents.len();
                let id = *content_ids.entry(content).or_insert_with_key(|content| {
                    total_rule_entries += content.len();
                    contents.push(content.clone());
                    next
                });
                if total_rule_entries > limits.max_entries_per_map {
                    return Err(too_many("sdn_rule_match"));
                }
                content_of_set.insert(key, id);
                id
            }
        };
        node_content.push(content);
    }

    // Class ids: reuse the previous compilation's id for equal content, else the lowest free id.
    let reusable = previous.map(previous_classes).unwrap_or_default();
    let taken: BTreeSet<u32> = reusable.values().copied().collect();
    let mut next_free = 1u32;
    let mut class_ids: HashMap<usize, u32> = HashMap::new();
    let mut class_order: Vec<usize> = Vec::new();
    let mut remote_entries = Vec::new();
    for (node, &content) in classification.prefixes.iter().zip(&node_content) {
        let inherited = node.parent.map_or(0, |p| node_content[p]);
        if content == inherited {
            continue;
        }
        let class = *class_ids.entry(content).or_insert_with(|| {
            class_order.push(content);
            if let Some(id) = reusable.get(&contents[content]) {
                return *id;
            }
            while taken.contains(&next_free) {
                next_free += 1;
            }
            next_free += 1;
            next_free - 1
        });
        remote_entries.push(RemoteEntry {
            policy: policy_id,
            addr: Ipv6Addr::from(node.prefix.network),
            prefix_len: node.prefix.len,
            class,
        });
    }
    if remote_entries.len() > limits.max_entries_per_map {
        return Err(too_many("sdn_remote"));
    }
    for (family, class) in [(Family::V4, WIDE_CLASS_IPV4), (Family::V6, WIDE_CLASS_IPV6)] {
        let of_family: Vec<usize> = (0..wide.len())
            .filter(|i| wide[*i].wide_family() == Some(family))
            .collect();
        if of_family.is_empty() {
            continue;
        }
        let content = class_content(family, &[0], &[of_family], &wide);
        total_rule_entries += content.len();
        if total_rule_entries > limits.max_entries_per_map {
            return Err(too_many("sdn_rule_match"));
        }
        class_ids.insert(contents.len(), class);
        class_order.push(contents.len());
        contents.push(content);
    }
    let mut rule_entries: Vec<RuleEntry> = class_order
        .iter()
        .flat_map(|content| {
            let class = class_ids[content];
            contents[*content]
                .iter()
                .map(move |&(proto, port_prefix, rule_id)| RuleEntry {
                    policy: policy_id,
                    class,
                    proto,
                    port_prefix,
                    rule_id,
                })
        })
        .collect();
    remote_entries.sort_unstable();
    rule_entries.sort_unstable();
    Ok(DirectionTables {
        direction,
        policy_id,
        remote_entries,
        rule_entries,
    })
}

/// A group member as a host prefix of the v4-mapped space.
fn host_prefix(member: IpAddr) -> AddressPrefix {
    AddressPrefix::new(mapped_address(member.to_canonical()), 128)
}

/// The content of every class of a previous compilation, for reusing its ids.
fn previous_classes(tables: &DirectionTables) -> HashMap<Content, u32> {
    let mut by_class: HashMap<u32, Content> = tables
        .remote_entries
        .iter()
        .map(|e| (e.class, Vec::new()))
        .collect();
    let wide = |class| class == WIDE_CLASS_IPV4 || class == WIDE_CLASS_IPV6;
    for entry in tables.rule_entries.iter().filter(|e| !wide(e.class)) {
        by_class.entry(entry.class).or_default().push((
            entry.proto,
            entry.port_prefix,
            entry.rule_id,
        ));
    }
    by_class
        .into_iter()
        .map(|(class, mut content)| {
            content.sort_unstable();
            (content, class)
        })
        .collect()
}

/// The rule entries a class needs: see the module docs, step 3.
fn class_content(
    family: Family,
    remotes: &[u32],
    rules_by_remote: &[Vec<usize>],
    rules: &[&CheckedRule],
) -> Content {
    let mut candidates: Vec<&CheckedRule> = remotes
        .iter()
        .flat_map(|r| &rules_by_remote[*r as usize])
        .map(|i| rules[*i])
        .filter(|r| r.family_only.is_none_or(|f| f == family))
        .collect();
    candidates.sort_unstable_by_key(|r| r.attribution_key(family));

    let best_all = candidates.iter().position(|r| r.proto.is_none());
    let inherited = best_all.map(|i| candidates[i].id);
    let mut content: Content = inherited.map(|id| (None, None, id)).into_iter().collect();

    // Per protocol: the rules naming it, in order, with the best `all` rule at its place.
    let mut by_proto: HashMap<u8, Vec<(u32, u32, u32)>> = HashMap::new();
    // Rules after the best `all` rule are shadowed by it: it matches whatever they match.
    for rule in &candidates[..best_all.unwrap_or(candidates.len())] {
        let Some(proto) = rule.proto else { continue };
        by_proto
            .entry(proto)
            .or_default()
            .push((rule.span.0, rule.span.1, rule.id));
    }
    let mut protos: Vec<u8> = by_proto.keys().copied().collect();
    protos.sort_unstable();
    for proto in protos {
        let mut ranges = by_proto.remove(&proto).unwrap_or_default();
        if let Some(id) = inherited {
            ranges.push((0, 0xffff, id));
        }
        let segments = port_space::paint(ranges);
        for (port, bits, rule_id) in port_space::encode(&segments, inherited) {
            let port_prefix = (bits > 0).then_some((port, bits));
            content.push((Some(proto), port_prefix, rule_id));
        }
    }
    content.sort_unstable();
    content
}
