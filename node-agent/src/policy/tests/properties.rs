//! Properties over thousands of random policies and packets, from a fixed-seed generator:
//! the compiled lookups allow exactly what some rule allows and name the rule the attribution
//! order picks; recompiling and diffing is exact; an in-place diff said atomic is atomic.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

use crate::policy::{
    CompileOptions, CompiledPolicy, Direction, DirectionTables, GroupId, PortPolicy, Protocol,
    Remote, Rule, compile, compile_with, diff, evaluate, naive_match,
};

/// SplitMix64: small, fast, and the same sequence everywhere.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Addresses that nest into each other's prefixes, on both sides of the IPv4-mapped boundary.
const V4_POOL: [[u8; 4]; 7] = [
    [10, 1, 2, 3],
    [10, 1, 2, 200],
    [10, 1, 9, 9],
    [10, 200, 0, 1],
    [192, 168, 1, 1],
    [8, 8, 8, 8],
    [0, 0, 0, 1],
];
const V6_POOL: [u128; 7] = [
    0x2001_0db8_0000_0000_0000_0000_0000_0001,
    0x2001_0db8_0000_0000_0000_0000_0000_ff01,
    0x2001_0db8_0001_0000_0000_0000_0000_0001,
    0xfe80_0000_0000_0000_0000_0000_0000_0001,
    0x0000_0000_0000_0000_0000_fffe_0001_0002, // just below ::ffff:0:0/96
    0x0000_0000_0000_0000_0001_0000_0000_0001, // just above it
    0x0000_0000_0000_0000_0000_0000_0000_0001,
];
const V4_LENS: [u8; 9] = [0, 1, 8, 16, 23, 24, 30, 31, 32];
const V6_LENS: [u8; 11] = [0, 1, 16, 32, 64, 79, 80, 95, 112, 127, 128];
const PORT_EDGES: [u16; 13] = [
    0, 1, 2, 22, 79, 80, 81, 1023, 1024, 1025, 8080, 65534, 65535,
];
const ICMP_TYPES: [u8; 5] = [0, 3, 8, 128, 135];
const ICMP_CODES: [u8; 3] = [0, 1, 4];
const PACKET_PROTOS: [u8; 9] = [6, 17, 132, 1, 58, 47, 50, 0, 99];

fn random_v4(r: &mut Random) -> Ipv4Addr {
    let mut a = r.pick(&V4_POOL);
    if r.chance(30) {
        a[3] ^= 1 << r.below(8);
    }
    Ipv4Addr::from(a)
}

fn random_v6(r: &mut Random) -> Ipv6Addr {
    let mut a = r.pick(&V6_POOL);
    if r.chance(30) {
        a ^= 1 << r.below(128);
    }
    // Keep generated IPv6 addresses out of the IPv4-mapped range.
    if a >> 32 == 0xffff {
        a ^= 1 << 40;
    }
    Ipv6Addr::from(a)
}

fn random_address(r: &mut Random) -> IpAddr {
    if r.chance(50) {
        IpAddr::V4(random_v4(r))
    } else {
        IpAddr::V6(random_v6(r))
    }
}

fn random_cidr(r: &mut Random, v4: bool) -> IpNetwork {
    if v4 {
        IpNetwork::new(IpAddr::V4(random_v4(r)), r.pick(&V4_LENS)).unwrap()
    } else {
        IpNetwork::new(IpAddr::V6(random_v6(r)), r.pick(&V6_LENS)).unwrap()
    }
}

fn random_rule(r: &mut Random, id: u32, groups: &[GroupId]) -> Rule {
    let protocol = r.pick(&[
        Protocol::Tcp,
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Sctp,
        Protocol::Icmp,
        Protocol::Icmpv6,
        Protocol::All,
        Protocol::Number(47),
        Protocol::Number(50),
        Protocol::Number(6),
    ]);
    let proto = protocol.number();
    let ports = match proto {
        Some(6 | 17 | 132) if r.chance(70) => {
            let (a, b) = (r.pick(&PORT_EDGES), r.pick(&PORT_EDGES));
            Some(a.min(b)..=a.max(b))
        }
        _ => None,
    };
    let icmp = match proto {
        Some(1 | 58) if r.chance(70) => Some((
            r.pick(&ICMP_TYPES),
            r.chance(50).then(|| r.pick(&ICMP_CODES)),
        )),
        _ => None,
    };
    let remote = if r.chance(25) {
        Remote::Group(groups[r.below(groups.len())].clone())
    } else {
        let v4 = match proto {
            Some(1) => true,
            Some(58) => false,
            _ => r.chance(50),
        };
        Remote::Cidr(random_cidr(r, v4))
    };
    Rule {
        id,
        direction: if r.chance(60) {
            Direction::Ingress
        } else {
            Direction::Egress
        },
        protocol,
        ports,
        icmp,
        remote,
    }
}

fn random_policy(r: &mut Random) -> PortPolicy {
    let groups: Vec<GroupId> = ["web", "db", "empty"].map(GroupId::from).to_vec();
    let mut group_members = BTreeMap::new();
    for group in &groups {
        let members = if group.0 == "empty" { 0 } else { r.below(5) };
        let set: BTreeSet<IpAddr> = (0..members).map(|_| random_address(r)).collect();
        group_members.insert(group.clone(), set);
    }
    let count = if r.chance(10) {
        20 + r.below(40)
    } else {
        1 + r.below(10)
    };
    // Ids in random order, so the lowest id is not always the first rule written.
    let mut ids: Vec<u32> = (0..count as u32).map(|i| 1024 + i * 7).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, r.below(i + 1));
    }
    PortPolicy {
        rules: ids
            .into_iter()
            .map(|id| random_rule(r, id, &groups))
            .collect(),
        group_members,
    }
}

/// A packet's (remote, proto, port), biased toward what the policy's rules mention.
fn random_packet(r: &mut Random, policy: &PortPolicy) -> (IpAddr, u8, u16) {
    let remote = match policy.rules.get(r.below(policy.rules.len() + 1)) {
        Some(Rule {
            remote: Remote::Cidr(net),
            ..
        }) if r.chance(60) => net.ip(),
        _ => random_address(r),
    };
    let proto = r.pick(&PACKET_PROTOS);
    let port = match r.below(3) {
        0 => r.pick(&PORT_EDGES),
        1 => u16::from(r.pick(&ICMP_TYPES)) << 8 | u16::from(r.pick(&ICMP_CODES)),
        _ => r.next() as u16,
    };
    (remote, proto, port)
}

fn check_packets(r: &mut Random, policy: &PortPolicy, compiled: &CompiledPolicy, packets: usize) {
    for _ in 0..packets {
        let (remote, proto, port) = random_packet(r, policy);
        for direction in [Direction::Ingress, Direction::Egress] {
            let expected = naive_match(policy, direction, remote, proto, port);
            let got = evaluate(compiled, direction, remote, proto, port);
            assert_eq!(
                got,
                expected.first().copied(),
                "{direction:?} {remote} proto {proto} port {port}: rules {expected:?}\npolicy {policy:#?}\ncompiled {compiled:#?}"
            );
        }
    }
}

#[test]
fn lookups_allow_exactly_what_the_rules_allow_and_attribute_like_the_order() {
    let mut r = Random(7);
    for _ in 0..3000 {
        let policy = random_policy(&mut r);
        let compiled = compile(&policy, 11, 12).expect("random policies are valid");
        assert_eq!(
            compiled.egress_default_deny,
            policy
                .rules
                .iter()
                .any(|rule| rule.direction == Direction::Egress)
        );
        check_packets(&mut r, &policy, &compiled, 50);
        let wide = CompileOptions {
            wide_fallback: true,
            ..Default::default()
        };
        let compiled = compile_with(&policy, 11, 12, &wide).unwrap();
        check_packets(&mut r, &policy, &compiled, 50);
    }
}

/// The map contents after applying `diff` to `old`, as a compiled policy the port points at.
fn apply_steps(old: &CompiledPolicy, new: &CompiledPolicy, steps: usize) -> CompiledPolicy {
    let d = diff(old, new);
    let mut remotes: BTreeSet<_> = old.remote_entries().copied().collect();
    let mut rules: BTreeMap<_, _> = old.rule_entries().map(|e| (e.key(), *e)).collect();
    let mut port = old;
    let mut done = 0;
    let step = |done: &mut usize| {
        *done += 1;
        *done <= steps
    };
    for e in &d.rule_upserts {
        if step(&mut done) {
            rules.insert(e.key(), *e);
        }
    }
    for e in &d.remote_upserts {
        if step(&mut done) {
            remotes
                .retain(|o| (o.policy, o.addr, o.prefix_len) != (e.policy, e.addr, e.prefix_len));
            remotes.insert(*e);
        }
    }
    if d.port_changed && step(&mut done) {
        port = new;
    }
    for e in &d.remote_deletes {
        if step(&mut done) {
            remotes.remove(e);
        }
    }
    for e in &d.rule_deletes {
        if step(&mut done) {
            rules.remove(&e.key());
        }
    }
    let tables = |t: &DirectionTables| {
        let id = t.port_policy_id();
        DirectionTables {
            direction: t.direction,
            policy_id: id,
            remote_entries: remotes.iter().filter(|e| e.policy == id).copied().collect(),
            rule_entries: rules.values().filter(|e| e.policy == id).copied().collect(),
        }
    };
    CompiledPolicy {
        ingress: tables(&port.ingress),
        egress: tables(&port.egress),
        egress_default_deny: port.egress_default_deny,
    }
}

/// A small change: a member joins or leaves a group, or a rule comes or goes.
fn mutate(r: &mut Random, policy: &PortPolicy) -> PortPolicy {
    let mut next = policy.clone();
    match r.below(4) {
        0 => {
            let group = next.group_members.keys().nth(r.below(2)).unwrap().clone();
            next.group_members
                .get_mut(&group)
                .unwrap()
                .insert(random_address(r));
        }
        1 => {
            let group = next.group_members.keys().nth(r.below(2)).unwrap().clone();
            let members = next.group_members.get_mut(&group).unwrap();
            if let Some(m) = members.iter().next().copied() {
                members.remove(&m);
            }
        }
        2 => {
            let groups: Vec<GroupId> = next.group_members.keys().cloned().collect();
            let id = 100_000 + r.below(1000) as u32;
            next.rules.push(random_rule(r, id, &groups));
        }
        _ => {
            let i = r.below(next.rules.len());
            next.rules.remove(i);
        }
    }
    next
}

#[test]
fn recompiling_in_place_diffs_exactly_and_atomic_diffs_never_mix_policies() {
    let mut r = Random(99);
    let mut atomic = 0;
    for round in 0..600 {
        let old_policy = random_policy(&mut r);
        let fresh = CompileOptions {
            wide_fallback: round % 2 == 1,
            ..Default::default()
        };
        let old = compile_with(&old_policy, 1, 2, &fresh).unwrap();
        // Same policy, same ids, classes reused: nothing to do.
        let again = compile_with(
            &old_policy,
            1,
            2,
            &CompileOptions {
                previous: Some(&old),
                ..fresh
            },
        )
        .unwrap();
        assert!(diff(&old, &again).is_empty());

        let new_policy = mutate(&mut r, &old_policy);
        if new_policy.rules.is_empty() {
            continue;
        }
        for (ingress, egress) in [(1, 2), (3, 4)] {
            let options = CompileOptions {
                previous: Some(&old),
                ..fresh
            };
            let new = compile_with(&new_policy, ingress, egress, &options).unwrap();
            let d = diff(&old, &new);
            // Applying everything gives exactly the new policy.
            let applied = apply_steps(&old, &new, usize::MAX);
            for direction in [Direction::Ingress, Direction::Egress] {
                let (a, n) = (applied.tables(direction), new.tables(direction));
                assert_eq!(
                    a.remote_entries,
                    if n.port_policy_id() == 0 {
                        vec![]
                    } else {
                        n.remote_entries.clone()
                    }
                );
                assert_eq!(a.rule_entries, n.rule_entries);
            }
            if ingress == 3 {
                assert!(d.is_atomic(), "a swap to fresh ids is always atomic");
            }
            if !d.is_atomic() {
                continue;
            }
            atomic += 1;
            // Every intermediate state gives each packet the old verdict or the new one
            // (a sample of states for long diffs).
            let states: BTreeSet<usize> = if d.operations() <= 12 {
                (0..=d.operations()).collect()
            } else {
                (0..12).map(|_| r.below(d.operations() + 1)).collect()
            };
            for steps in states {
                let state = apply_steps(&old, &new, steps);
                for _ in 0..20 {
                    let (remote, proto, port) = random_packet(&mut r, &new_policy);
                    for direction in [Direction::Ingress, Direction::Egress] {
                        let v = |c: &CompiledPolicy| {
                            crate::policy::verdict(c, direction, remote, proto, port)
                        };
                        let now = v(&state);
                        assert!(
                            now == v(&old) || now == v(&new),
                            "step {steps} of {d:#?}: {direction:?} {remote} {proto} {port} gives {now:?}"
                        );
                    }
                }
            }
        }
    }
    assert!(atomic > 600, "only {atomic} atomic diffs exercised");
}
