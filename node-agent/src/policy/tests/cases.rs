//! The concrete cases of issue 7, each on a small policy written out in full.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use crate::policy::{
    CompileOptions, CompiledPolicy, Direction, GroupId, Limits, PolicyError, PortPolicy, Protocol,
    Remote, Rule, RuleEntry, RuleProblem, Verdict, WIDE_CLASS_IPV4, WIDE_CLASS_IPV6, compile,
    compile_with, diff, evaluate, ip_proto, verdict,
};

use Direction::{Egress, Ingress};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Remote {
    Remote::Cidr(s.parse().unwrap())
}

fn group(name: &str) -> Remote {
    Remote::Group(GroupId::from(name))
}

fn rule(
    id: u32,
    direction: Direction,
    protocol: Protocol,
    ports: Option<RangeInclusive<u16>>,
    remote: Remote,
) -> Rule {
    Rule {
        id,
        direction,
        protocol,
        ports,
        icmp: None,
        remote,
    }
}

fn icmp_rule(id: u32, protocol: Protocol, icmp: Option<(u8, Option<u8>)>, remote: Remote) -> Rule {
    Rule {
        id,
        direction: Ingress,
        protocol,
        ports: None,
        icmp,
        remote,
    }
}

fn policy(rules: Vec<Rule>) -> PortPolicy {
    PortPolicy {
        rules,
        group_members: BTreeMap::new(),
    }
}

fn members(addresses: &[&str]) -> BTreeSet<IpAddr> {
    addresses.iter().map(|a| ip(a)).collect()
}

fn in_place(policy: &PortPolicy, previous: &CompiledPolicy) -> CompiledPolicy {
    let options = CompileOptions {
        previous: Some(previous),
        ..Default::default()
    };
    compile_with(policy, 1, 2, &options).unwrap()
}

const TCP: u8 = ip_proto::TCP;
const UDP: u8 = ip_proto::UDP;

#[test]
fn port_range_edges() {
    let p = policy(vec![
        rule(
            2000,
            Ingress,
            Protocol::Tcp,
            Some(1024..=65535),
            cidr("0.0.0.0/0"),
        ),
        rule(2001, Ingress, Protocol::Udp, Some(0..=1), cidr("0.0.0.0/0")),
        rule(
            2002,
            Ingress,
            Protocol::Tcp,
            Some(1..=1023),
            cidr("10.0.0.0/8"),
        ),
        rule(
            2003,
            Ingress,
            Protocol::Tcp,
            Some(22..=22),
            cidr("10.0.0.0/8"),
        ),
    ]);
    let c = compile(&p, 1, 2).unwrap();
    let at = |addr: &str, proto, port| evaluate(&c, Ingress, ip(addr), proto, port);
    assert_eq!(at("8.8.8.8", TCP, 0), None);
    assert_eq!(at("8.8.8.8", TCP, 1023), None);
    assert_eq!(at("8.8.8.8", TCP, 1024), Some(2000));
    assert_eq!(at("8.8.8.8", TCP, 65535), Some(2000));
    assert_eq!(at("8.8.8.8", UDP, 0), Some(2001));
    assert_eq!(at("8.8.8.8", UDP, 1), Some(2001));
    assert_eq!(at("8.8.8.8", UDP, 2), None);
    assert_eq!(at("10.0.0.1", TCP, 0), None);
    assert_eq!(at("10.0.0.1", TCP, 1), Some(2002));
    assert_eq!(at("10.0.0.1", TCP, 21), Some(2002));
    assert_eq!(at("10.0.0.1", TCP, 22), Some(2003));
    assert_eq!(at("10.0.0.1", TCP, 1023), Some(2002));
    assert_eq!(at("10.0.0.1", TCP, 1024), Some(2000));
    assert_eq!(at("10.0.0.1", TCP, 65535), Some(2000));
    // 1024-65535 is 6 prefixes, 0-1 one.
    let outside: Vec<&RuleEntry> = c
        .ingress
        .rule_entries
        .iter()
        .filter(|e| e.rule_id != 2002 && e.rule_id != 2003)
        .collect();
    assert_eq!(
        outside.len(),
        2 * (6 + 1),
        "both classes hold the /0 rules: {outside:#?}"
    );
}

#[test]
fn a_high_port_range_from_fifty_cidrs_stays_small() {
    let rules = (0..50)
        .map(|i| {
            let remote = cidr(&format!("10.{i}.0.0/16"));
            rule(3000 + i, Ingress, Protocol::Tcp, Some(1024..=65535), remote)
        })
        .collect();
    let c = compile(&policy(rules), 1, 2).unwrap();
    let stats = c.stats();
    // One class per CIDR, 6 port prefixes each: 350 entries, not 3 million.
    assert_eq!(
        (stats.remote_entries, stats.rule_entries, stats.classes),
        (50, 300, 50)
    );
    assert_eq!(evaluate(&c, Ingress, ip("10.7.1.1"), TCP, 1024), Some(3007));
    assert_eq!(evaluate(&c, Ingress, ip("10.7.1.1"), TCP, 1023), None);

    // The same 50 rules nested under one /8 rule for the same ports: the /16 rules win where they
    // apply (longer remote), the /8 rule elsewhere; still 6 prefixes per class.
    let mut rules: Vec<Rule> = (0..50)
        .map(|i| {
            let remote = cidr(&format!("10.{i}.0.0/16"));
            rule(3000 + i, Ingress, Protocol::Tcp, Some(1024..=65535), remote)
        })
        .collect();
    rules.push(rule(
        2999,
        Ingress,
        Protocol::Tcp,
        Some(1024..=65535),
        cidr("10.0.0.0/8"),
    ));
    let c = compile(&policy(rules), 1, 2).unwrap();
    assert_eq!(c.stats().rule_entries, 51 * 6);
    assert_eq!(evaluate(&c, Ingress, ip("10.7.1.1"), TCP, 2000), Some(3007));
    assert_eq!(
        evaluate(&c, Ingress, ip("10.99.1.1"), TCP, 2000),
        Some(2999)
    );
}

#[test]
fn remote_group_membership_change_touches_only_that_groups_entries() {
    let mut p = policy(vec![
        rule(
            4000,
            Ingress,
            Protocol::Tcp,
            Some(5432..=5432),
            group("app"),
        ),
        rule(
            4001,
            Ingress,
            Protocol::Tcp,
            Some(80..=80),
            cidr("10.0.0.0/24"),
        ),
        rule(
            4002,
            Ingress,
            Protocol::Tcp,
            Some(22..=22),
            cidr("0.0.0.0/0"),
        ),
    ]);
    p.group_members.insert(
        GroupId::from("app"),
        members(&["10.0.0.5", "10.0.0.6", "2001:db8::5"]),
    );
    let old = compile(&p, 1, 2).unwrap();
    assert_eq!(evaluate(&old, Ingress, ip("10.0.0.7"), TCP, 5432), None);

    // A member joins, inside the /24 like the others: its class exists, one entry is written.
    p.group_members
        .get_mut(&GroupId::from("app"))
        .unwrap()
        .insert(ip("10.0.0.7"));
    let new = in_place(&p, &old);
    let d = diff(&old, &new);
    assert_eq!(d.remote_upserts.len(), 1, "{d:#?}");
    assert_eq!(
        d.remote_upserts[0].addr,
        "::ffff:10.0.0.7".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(d.remote_upserts[0].prefix_len, 128);
    assert!(d.rule_upserts.is_empty() && d.remote_deletes.is_empty() && d.rule_deletes.is_empty());
    assert!(!d.port_changed && d.is_atomic());
    assert_eq!(
        evaluate(&new, Ingress, ip("10.0.0.7"), TCP, 5432),
        Some(4000)
    );

    // A member leaves: one delete.
    p.group_members
        .get_mut(&GroupId::from("app"))
        .unwrap()
        .remove(&ip("10.0.0.5"));
    let newer = in_place(&p, &new);
    let d = diff(&new, &newer);
    assert_eq!((d.remote_deletes.len(), d.operations()), (1, 1), "{d:#?}");
    assert!(d.is_atomic());
    assert_eq!(evaluate(&newer, Ingress, ip("10.0.0.5"), TCP, 5432), None);
    assert_eq!(
        evaluate(&newer, Ingress, ip("10.0.0.5"), TCP, 80),
        Some(4001)
    );

    // A member outside every CIDR but /0 needs a new class: its rule entries come first,
    // invisible until the one remote entry names them.
    p.group_members
        .get_mut(&GroupId::from("app"))
        .unwrap()
        .insert(ip("192.0.2.1"));
    let newest = in_place(&p, &newer);
    let d = diff(&newer, &newest);
    assert_eq!(d.remote_upserts.len(), 1);
    assert!(!d.rule_upserts.is_empty() && d.rule_deletes.is_empty());
    assert_eq!(d.visible_steps, 1);
    assert_eq!(
        evaluate(&newest, Ingress, ip("192.0.2.1"), TCP, 5432),
        Some(4000)
    );
    assert_eq!(
        evaluate(&newest, Ingress, ip("192.0.2.1"), TCP, 22),
        Some(4002)
    );
}

#[test]
fn egress_switches_from_open_to_default_deny_when_the_first_egress_rule_appears() {
    let mut p = policy(vec![rule(
        5000,
        Ingress,
        Protocol::Tcp,
        Some(22..=22),
        cidr("0.0.0.0/0"),
    )]);
    let open = compile(&p, 1, 2).unwrap();
    assert!(!open.egress_default_deny);
    assert_eq!(open.egress.port_policy_id(), 0);
    assert_eq!(
        verdict(&open, Egress, ip("1.1.1.1"), TCP, 80),
        Verdict::EgressOpen
    );
    assert_eq!(
        verdict(&open, Ingress, ip("1.1.1.1"), TCP, 80),
        Verdict::DefaultDenyIngress
    );

    p.rules.push(rule(
        5001,
        Egress,
        Protocol::Tcp,
        Some(443..=443),
        cidr("0.0.0.0/0"),
    ));
    let closed = in_place(&p, &open);
    assert!(closed.egress_default_deny);
    assert_eq!(closed.egress.port_policy_id(), 2);
    assert_eq!(
        verdict(&closed, Egress, ip("1.1.1.1"), TCP, 443),
        Verdict::Allow(5001)
    );
    assert_eq!(
        verdict(&closed, Egress, ip("1.1.1.1"), TCP, 80),
        Verdict::DefaultDenyEgress
    );
    let d = diff(&open, &closed);
    // The egress entries are invisible until the port flips its egress id and flag at once.
    assert!(d.port_changed && d.is_atomic(), "{d:#?}");
    assert!(d.rule_upserts.iter().all(|e| e.policy == 2));

    // An egress rule that can match nothing still closes egress.
    let mut p = policy(vec![rule(
        5002,
        Egress,
        Protocol::Tcp,
        None,
        group("nobody"),
    )]);
    p.group_members
        .insert(GroupId::from("nobody"), BTreeSet::new());
    let c = compile(&p, 1, 2).unwrap();
    assert!(c.egress_default_deny);
    assert_eq!(
        verdict(&c, Egress, ip("1.1.1.1"), TCP, 80),
        Verdict::DefaultDenyEgress
    );
}

#[test]
fn icmp_type_and_code() {
    let p = policy(vec![
        icmp_rule(6000, Protocol::Icmp, Some((8, None)), cidr("0.0.0.0/0")),
        icmp_rule(6001, Protocol::Icmp, Some((3, Some(4))), cidr("0.0.0.0/0")),
        icmp_rule(6002, Protocol::Icmpv6, Some((128, Some(0))), cidr("::/0")),
        icmp_rule(6003, Protocol::Icmp, None, cidr("10.0.0.0/8")),
    ]);
    let c = compile(&p, 1, 2).unwrap();
    let icmp = |addr: &str, proto, t: u8, code: u8| {
        evaluate(
            &c,
            Ingress,
            ip(addr),
            proto,
            u16::from(t) << 8 | u16::from(code),
        )
    };
    assert_eq!(icmp("8.8.8.8", ip_proto::ICMP, 8, 0), Some(6000));
    assert_eq!(icmp("8.8.8.8", ip_proto::ICMP, 8, 255), Some(6000));
    assert_eq!(icmp("8.8.8.8", ip_proto::ICMP, 3, 4), Some(6001));
    assert_eq!(icmp("8.8.8.8", ip_proto::ICMP, 3, 3), None);
    assert_eq!(icmp("8.8.8.8", ip_proto::ICMP, 0, 0), None);
    assert_eq!(icmp("10.1.1.1", ip_proto::ICMP, 3, 3), Some(6003));
    assert_eq!(
        icmp("10.1.1.1", ip_proto::ICMP, 8, 0),
        Some(6003),
        "the longer remote comes first"
    );
    assert_eq!(icmp("2001:db8::1", ip_proto::ICMPV6, 128, 0), Some(6002));
    assert_eq!(icmp("2001:db8::1", ip_proto::ICMPV6, 128, 1), None);
    // ICMP rules are IPv4 only, ICMPv6 rules IPv6 only, whatever the protocol field says.
    assert_eq!(icmp("8.8.8.8", ip_proto::ICMPV6, 128, 0), None);
    assert_eq!(icmp("2001:db8::1", ip_proto::ICMP, 8, 0), None);
    // A type is an 8-bit prefix, a type and code 16 bits.
    let bits = |id| {
        c.ingress
            .rule_entries
            .iter()
            .find(|e| e.rule_id == id)
            .map(|e| e.key_prefix_len())
    };
    assert_eq!(
        (bits(6000), bits(6001), bits(6002)),
        (Some(88), Some(96), Some(96))
    );
}

#[test]
fn protocol_numbers() {
    let p = policy(vec![
        rule(
            7000,
            Ingress,
            Protocol::Number(ip_proto::ESP),
            None,
            cidr("198.51.100.0/24"),
        ),
        rule(
            7001,
            Ingress,
            Protocol::Number(ip_proto::GRE),
            None,
            cidr("0.0.0.0/0"),
        ),
        rule(
            7002,
            Ingress,
            Protocol::Sctp,
            Some(3868..=3868),
            cidr("0.0.0.0/0"),
        ),
        rule(
            7003,
            Ingress,
            Protocol::Number(6),
            Some(443..=443),
            cidr("::/0"),
        ),
        rule(
            7004,
            Ingress,
            Protocol::Number(ip_proto::ESP),
            None,
            cidr("2001:db8::/32"),
        ),
    ]);
    let c = compile(&p, 1, 2).unwrap();
    let at = |addr: &str, proto, port| evaluate(&c, Ingress, ip(addr), proto, port);
    assert_eq!(at("198.51.100.9", ip_proto::ESP, 0), Some(7000));
    assert_eq!(at("203.0.113.1", ip_proto::ESP, 0), None);
    assert_eq!(at("203.0.113.1", ip_proto::GRE, 0), Some(7001));
    assert_eq!(at("198.51.100.9", ip_proto::AH, 0), None);
    assert_eq!(at("203.0.113.1", ip_proto::SCTP, 3868), Some(7002));
    assert_eq!(at("203.0.113.1", ip_proto::SCTP, 3869), None);
    assert_eq!(at("2001:db8::1", TCP, 443), Some(7003));
    assert_eq!(at("2001:db8::1", ip_proto::ESP, 0), Some(7004));
    assert_eq!(at("2001:db9::1", ip_proto::ESP, 0), None);
    // A protocol without ports is one 80-bit entry.
    let esp = c
        .ingress
        .rule_entries
        .iter()
        .find(|e| e.rule_id == 7000)
        .unwrap();
    assert_eq!((esp.key_prefix_len(), esp.port_prefix), (80, None));
}

#[test]
fn ipv4_rules_never_match_ipv6_and_back() {
    let p = policy(vec![
        rule(8000, Ingress, Protocol::Tcp, None, cidr("0.0.0.0/0")),
        rule(8001, Ingress, Protocol::Udp, None, cidr("::/0")),
        rule(8002, Ingress, Protocol::All, None, cidr("::/0")),
    ]);
    let c = compile(&p, 1, 2).unwrap();
    let at = |addr: &str, proto| evaluate(&c, Ingress, ip(addr), proto, 53);
    assert_eq!(at("192.0.2.1", TCP), Some(8000));
    assert_eq!(
        at("192.0.2.1", UDP),
        None,
        "::/0 covers ::ffff:0:0/96 but not IPv4"
    );
    assert_eq!(at("192.0.2.1", ip_proto::GRE), None);
    assert_eq!(at("2001:db8::1", UDP), Some(8001));
    assert_eq!(at("2001:db8::1", TCP), Some(8002));

    // With no IPv4 rule at all, the boundary entry is written with a class that allows nothing.
    let p = policy(vec![rule(8003, Ingress, Protocol::All, None, cidr("::/0"))]);
    let c = compile(&p, 1, 2).unwrap();
    assert_eq!(c.ingress.remote_entries.len(), 2);
    let boundary = c
        .ingress
        .remote_entries
        .iter()
        .find(|e| e.prefix_len == 96)
        .unwrap();
    assert!(
        c.ingress
            .rule_entries
            .iter()
            .all(|e| e.class != boundary.class)
    );
    assert_eq!(evaluate(&c, Ingress, ip("192.0.2.1"), TCP, 80), None);
    assert_eq!(evaluate(&c, Ingress, ip("::1"), TCP, 80), Some(8003));

    // Group members of both families only reach their own family's packets.
    let mut p = policy(vec![icmp_rule(8004, Protocol::Icmp, None, group("g"))]);
    p.group_members.insert(
        GroupId::from("g"),
        members(&["192.0.2.7", "2001:db8::7", "::ffff:192.0.2.8"]),
    );
    let c = compile(&p, 1, 2).unwrap();
    assert_eq!(
        evaluate(&c, Ingress, ip("192.0.2.7"), ip_proto::ICMP, 0x0800),
        Some(8004)
    );
    assert_eq!(
        evaluate(&c, Ingress, ip("192.0.2.8"), ip_proto::ICMP, 0x0800),
        Some(8004),
        "mapped member counts as IPv4"
    );
    assert_eq!(
        evaluate(&c, Ingress, ip("2001:db8::7"), ip_proto::ICMP, 0x0800),
        None
    );
}

#[test]
fn attribution_prefers_the_longest_remote_then_the_narrowest_match_then_the_lowest_id() {
    let p = policy(vec![
        rule(
            9000,
            Ingress,
            Protocol::Tcp,
            Some(80..=80),
            cidr("10.0.0.0/8"),
        ),
        rule(
            9001,
            Ingress,
            Protocol::Tcp,
            Some(1..=65535),
            cidr("10.1.0.0/16"),
        ),
        rule(
            9002,
            Ingress,
            Protocol::Tcp,
            Some(80..=80),
            cidr("10.1.0.0/16"),
        ),
        rule(9003, Ingress, Protocol::All, None, cidr("10.1.0.0/16")),
        rule(
            9004,
            Ingress,
            Protocol::Tcp,
            Some(80..=80),
            cidr("10.1.0.0/16"),
        ),
    ]);
    let c = compile(&p, 1, 2).unwrap();
    let at = |addr: &str, proto, port| evaluate(&c, Ingress, ip(addr), proto, port);
    assert_eq!(
        at("10.1.1.1", TCP, 80),
        Some(9002),
        "narrowest, then lowest id"
    );
    assert_eq!(at("10.1.1.1", TCP, 81), Some(9001));
    assert_eq!(at("10.1.1.1", TCP, 0), Some(9003));
    assert_eq!(at("10.1.1.1", UDP, 80), Some(9003));
    assert_eq!(at("10.2.1.1", TCP, 80), Some(9000));
    assert_eq!(at("10.2.1.1", TCP, 81), None);
}

#[test]
fn invalid_rules_are_named() {
    let bad = |rule: Rule| compile(&policy(vec![rule]), 1, 2).unwrap_err();
    let problem = |rule: Rule| match bad(rule) {
        PolicyError::InvalidRule { problem, .. } => problem,
        other => panic!("{other:?}"),
    };
    let any = cidr("0.0.0.0/0");
    assert_eq!(
        problem(rule(1023, Ingress, Protocol::Tcp, None, any.clone())),
        RuleProblem::ReservedId { first: 1024 }
    );
    assert_eq!(
        problem(rule(
            1024,
            Ingress,
            Protocol::Icmp,
            Some(1..=2),
            any.clone()
        )),
        RuleProblem::PortsWithoutPortProtocol { proto: Some(1) }
    );
    assert_eq!(
        problem(rule(1024, Ingress, Protocol::All, Some(1..=2), any.clone())),
        RuleProblem::PortsWithoutPortProtocol { proto: None }
    );
    assert_eq!(
        problem(Rule {
            icmp: Some((8, None)),
            ..rule(1024, Ingress, Protocol::Tcp, None, any.clone())
        }),
        RuleProblem::IcmpTypeWithoutIcmp { proto: Some(6) }
    );
    #[allow(clippy::reversed_empty_ranges)]
    let empty = 9..=8;
    assert_eq!(
        problem(rule(1024, Ingress, Protocol::Tcp, Some(empty), any.clone())),
        RuleProblem::EmptyPortRange { start: 9, end: 8 }
    );
    assert_eq!(
        problem(icmp_rule(1024, Protocol::Icmpv6, None, any.clone())),
        RuleProblem::FamilyMismatch { proto: 58 }
    );
    assert_eq!(
        problem(rule(
            1024,
            Ingress,
            Protocol::Tcp,
            None,
            cidr("::ffff:10.0.0.0/104")
        )),
        RuleProblem::MappedIpv6Cidr
    );
    assert_eq!(
        bad(rule(1024, Ingress, Protocol::Tcp, None, group("missing"))),
        PolicyError::UnknownGroup {
            rule_id: 1024,
            group: GroupId::from("missing")
        }
    );
    let twice = policy(vec![
        rule(1024, Ingress, Protocol::Tcp, None, any.clone()),
        rule(1024, Egress, Protocol::Udp, None, any.clone()),
    ]);
    assert_eq!(
        compile(&twice, 1, 2).unwrap_err(),
        PolicyError::DuplicateRuleId { rule_id: 1024 }
    );
    let one = policy(vec![rule(1024, Ingress, Protocol::Tcp, None, any.clone())]);
    assert!(matches!(
        compile(&one, 0, 2),
        Err(PolicyError::BadPolicyIds { .. })
    ));
    assert!(matches!(
        compile(&one, 3, 3),
        Err(PolicyError::BadPolicyIds { .. })
    ));
    // The error says what to do.
    assert_eq!(
        bad(rule(1024, Ingress, Protocol::Tcp, None, group("missing"))).to_string(),
        "rule 1024 names group GroupId(\"missing\") but its members were not given; pass an empty set for a group without members"
    );
}

#[test]
fn limits_are_enforced() {
    let rules: Vec<Rule> = (0..20)
        .map(|i| {
            rule(
                1024 + i,
                Ingress,
                Protocol::Tcp,
                Some(1..=65534),
                cidr(&format!("10.{i}.0.0/16")),
            )
        })
        .collect();
    let p = policy(rules);
    let limits = |max_rules_per_port, max_entries_per_map| CompileOptions {
        limits: Limits {
            max_rules_per_port,
            max_entries_per_map,
        },
        ..Default::default()
    };
    assert_eq!(
        compile_with(&p, 1, 2, &limits(19, 1000)).unwrap_err(),
        PolicyError::TooManyRules {
            rules: 20,
            limit: 19
        }
    );
    // 20 classes x 30 prefixes = 600 rule entries.
    assert_eq!(
        compile_with(&p, 1, 2, &limits(20, 600))
            .unwrap()
            .stats()
            .rule_entries,
        600
    );
    assert_eq!(
        compile_with(&p, 1, 2, &limits(20, 599)).unwrap_err(),
        PolicyError::TooManyEntries {
            direction: Ingress,
            map: "sdn_rule_match",
            limit: 599
        }
    );
    assert!(matches!(
        compile_with(&p, 1, 2, &limits(20, 19)).unwrap_err(),
        PolicyError::TooManyEntries {
            map: "sdn_remote",
            ..
        }
    ));
}

#[test]
fn wide_fallback_writes_rules_from_anywhere_once() {
    let mut rules: Vec<Rule> = (0..20)
        .map(|i| {
            let remote = cidr(&format!("10.{i}.0.0/16"));
            rule(1100 + i, Ingress, Protocol::Tcp, Some(80..=80), remote)
        })
        .collect();
    rules.push(rule(
        1024,
        Ingress,
        Protocol::Tcp,
        Some(1024..=65535),
        cidr("0.0.0.0/0"),
    ));
    rules.push(rule(
        1025,
        Ingress,
        Protocol::Tcp,
        Some(80..=80),
        cidr("::/0"),
    ));
    let p = policy(rules);
    let copied = compile(&p, 1, 2).unwrap();
    let wide = CompileOptions {
        wide_fallback: true,
        ..Default::default()
    };
    let once = compile_with(&p, 1, 2, &wide).unwrap();
    // 20 classes x (1 + 6) copied plus the /0 classes themselves, against 20 + 6 + 1.
    assert_eq!(copied.stats().rule_entries, 20 * 7 + 6 + 1);
    assert_eq!(once.stats().rule_entries, 20 + 6 + 1);
    for c in [&copied, &once] {
        assert_eq!(evaluate(c, Ingress, ip("10.3.0.1"), TCP, 80), Some(1103));
        assert_eq!(evaluate(c, Ingress, ip("10.3.0.1"), TCP, 2000), Some(1024));
        assert_eq!(evaluate(c, Ingress, ip("192.0.2.1"), TCP, 2000), Some(1024));
        assert_eq!(evaluate(c, Ingress, ip("192.0.2.1"), TCP, 80), None);
        assert_eq!(evaluate(c, Ingress, ip("2001:db8::1"), TCP, 80), Some(1025));
        assert_eq!(evaluate(c, Ingress, ip("2001:db8::1"), TCP, 2000), None);
    }
    let wide_entries: Vec<&RuleEntry> = once
        .ingress
        .rule_entries
        .iter()
        .filter(|e| e.class == WIDE_CLASS_IPV4 || e.class == WIDE_CLASS_IPV6)
        .collect();
    assert_eq!(wide_entries.len(), 7);

    // Changing a wide rule in place is visible at once to every address: not atomic.
    let mut changed = p.clone();
    changed.rules.retain(|r| r.id != 1024);
    changed.rules.push(rule(
        1026,
        Ingress,
        Protocol::Tcp,
        Some(1..=1023),
        cidr("0.0.0.0/0"),
    ));
    let options = CompileOptions {
        previous: Some(&once),
        ..wide
    };
    let d = diff(&once, &compile_with(&changed, 1, 2, &options).unwrap());
    assert!(!d.is_atomic(), "{d:#?}");
}
