//! Fixtures for the security-group port programs (`programs/port.bpf.c`) through
//! BPF_PROG_TEST_RUN: every row asserts the verdict and the attribution (rule id or built-in), and
//! where it matters the drop reason, conntrack and flow events. Privileged: needs BPF (root).
//!
//! The port under test is ifindex 1 (the loopback of the namespace running the test, see
//! `sdn_ebpf::fixture`). Its policy is written by hand here (`standard_policy`), as the agent's
//! policy compiler would write it: remote classes in `sdn_remote`, rules in `sdn_rule_match`.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aya::Ebpf;
use aya::maps::lpm_trie::LpmTrie;
use aya::maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, PerCpuValues, RingBuf};
use sdn_ebpf::abi::*;
use sdn_ebpf::fixture::{Fixture, Output, Suite, TEST_IFINDEX, Verdict, run_all, run_once};
use sdn_ebpf::object::{self, Object, names};
use sdn_ebpf::packet::{Frame, Mac, TcpFlags, icmp, ip4, ip6};
use sdn_ebpf::privilege;

// ---- the port and its peers ----------------------------------------------------------------

const VM_MAC: Mac = Mac::local(1);
const PEER_MAC: Mac = Mac::local(2);
fn vm4() -> Ipv4Addr {
    ip4("198.18.1.1")
}
fn vm6() -> Ipv6Addr {
    ip6("2001:db8:1::1")
}
fn vm_ll() -> Ipv6Addr {
    ip6("fe80::1")
}

/// The port's index in the per-port arrays.
const TEST_SLOT: u32 = 0;
const INGRESS_POLICY: u32 = 10;
const EGRESS_POLICY: u32 = 11;

// Rule ids (>= SDN_RULE_ID_FIRST).
const R_SSH: u32 = 1100; // ingress tcp 22 from 198.18.2.0/24
const R_HTTP: u32 = 1101; // ingress tcp 80 from 0.0.0.0/0
const R_RANGE: u32 = 1102; // ingress tcp 8000-8063 from 0.0.0.0/0
const R_PING: u32 = 1103; // ingress icmp echo request from 0.0.0.0/0
const R_DNS6: u32 = 1104; // ingress udp 53 from 2001:db8:2::/48
const R_PING6: u32 = 1105; // ingress icmpv6 echo request from 2001:db8:2::/48
const R_ALL: u32 = 1106; // ingress all protocols from 198.18.3.0/24
const R_ESP: u32 = 1107; // ingress esp (50) from 198.18.4.0/24
const R_DB: u32 = 1108; // ingress tcp 3306 from the members of group "db-clients"
const R_SCTP: u32 = 1109; // ingress sctp 2905 from 0.0.0.0/0
const R_ECHO6: u32 = 1110; // ingress udp 7 from ::/0
const R_HTTPS: u32 = 1200; // egress tcp 443 to 0.0.0.0/0

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const ESP: u8 = 50;
const SCTP: u8 = 132;

fn mapped(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// A remote entry: (policy, network, prefix length of the address family, class).
type RemoteEntry = (u32, &'static str, u32);
/// A rule entry: (policy, class, protocol (None = all), port prefix (value, bits), rule id).
type RuleEntry = (u32, u32, Option<u8>, Option<(u16, u32)>, u32);

fn ingress_rules_for(class: u32) -> Vec<RuleEntry> {
    // Every class inside 0.0.0.0/0 carries the rules of 0.0.0.0/0 (the compiler's closure).
    let p = INGRESS_POLICY;
    vec![
        (p, class, Some(TCP), Some((80, 16)), R_HTTP),
        (p, class, Some(TCP), Some((8000, 10)), R_RANGE),
        (p, class, Some(ICMP), Some((8 << 8, 8)), R_PING),
        (p, class, Some(SCTP), Some((2905, 16)), R_SCTP),
    ]
}

/// The policy most rows run against (see the rule constants).
fn standard_policy(db_members: &[&'static str]) -> (Vec<RemoteEntry>, Vec<RuleEntry>) {
    let p = INGRESS_POLICY;
    let mut remotes = vec![
        (p, "198.18.2.0/24", 1),
        (p, "0.0.0.0/0", 2),
        (p, "2001:db8:2::/48", 3),
        (p, "198.18.3.0/24", 4),
        (p, "198.18.4.0/24", 5),
        (p, "::/0", 8),
        (EGRESS_POLICY, "0.0.0.0/0", 6),
    ];
    let mut rules = vec![(p, 1, Some(TCP), Some((22, 16)), R_SSH)];
    for class in [1, 2, 4, 5, 7] {
        rules.extend(ingress_rules_for(class));
    }
    rules.push((p, 3, Some(UDP), Some((53, 16)), R_DNS6));
    rules.push((p, 3, Some(ICMPV6), Some((128 << 8, 8)), R_PING6));
    rules.push((p, 3, Some(UDP), Some((7, 16)), R_ECHO6)); // 2001:db8:2::/48 is inside ::/0
    rules.push((p, 4, None, None, R_ALL));
    rules.push((p, 5, Some(ESP), None, R_ESP));
    rules.push((p, 8, Some(UDP), Some((7, 16)), R_ECHO6));
    for member in db_members {
        remotes.push((p, member, 7));
    }
    rules.push((p, 7, Some(TCP), Some((3306, 16)), R_DB));
    rules.push((EGRESS_POLICY, 6, Some(TCP), Some((443, 16)), R_HTTPS));
    (remotes, rules)
}

// ---- setup and effects -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Egress,
    Ingress,
}

impl Dir {
    fn program(self) -> &'static str {
        match self {
            Dir::Egress => names::PORT_EGRESS,
            Dir::Ingress => names::PORT_INGRESS,
        }
    }
    fn index(self) -> u32 {
        match self {
            Dir::Egress => SDN_DIR_EGRESS,
            Dir::Ingress => SDN_DIR_INGRESS,
        }
    }
}

#[derive(Debug)]
struct Setup {
    configured: bool,
    egress_default_deny: bool,
    db_members: Vec<&'static str>,
    before: Vec<(Dir, Vec<u8>)>,
    ct_count: Option<u64>,
    stale_ct: Option<(CtKey, CtValue)>,
    event_budget_empty: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            configured: true,
            egress_default_deny: false,
            db_members: vec!["198.18.5.5/32"],
            before: vec![],
            ct_count: None,
            stale_ct: None,
            event_budget_empty: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    Rule(u32),
    Builtin(u32),
}

#[derive(Debug, Default)]
struct Effects {
    attribution: Option<Attr>,
    drop_reason: Option<u32>,
    dir: Option<Dir>,
    ct_created: Option<bool>,
    event: Option<Option<u8>>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Snapshot {
    by_builtin: Vec<u64>,
    rules: std::collections::BTreeMap<u32, u64>,
    drops: Vec<u64>,
    ct_entries: usize,
}

struct PortSuite {
    baseline: RefCell<Snapshot>,
}

fn cpus() -> usize {
    aya::util::nr_cpus().expect("possible CPUs")
}

fn snapshot(ebpf: &Ebpf, dir: Dir) -> Snapshot {
    let stats: PerCpuArray<_, PortStats> =
        PerCpuArray::try_from(ebpf.map(names::PORT_STATS_MAP).unwrap()).unwrap();
    let index = TEST_SLOT * SDN_DIR_COUNT + dir.index();
    let mut by_builtin = vec![0u64; SDN_BUILTIN_COUNT as usize];
    if let Ok(values) = stats.get(&index, 0) {
        for v in values.iter() {
            for (i, c) in v.by_builtin.iter().enumerate() {
                by_builtin[i] += c.packets;
            }
        }
    }
    let rule_stats: PerCpuHashMap<_, u32, RuleStats> =
        PerCpuHashMap::try_from(ebpf.map(names::RULE_STATS_MAP).unwrap()).unwrap();
    let mut rules = std::collections::BTreeMap::new();
    for entry in rule_stats.iter() {
        let (rule, values) = entry.unwrap();
        rules.insert(rule, values.iter().map(|v| v.packets).sum());
    }
    let drops_map: PerCpuArray<_, Counter> =
        PerCpuArray::try_from(ebpf.map(names::DROPS_MAP).unwrap()).unwrap();
    let drops = (0..SDN_DROP_COUNT)
        .map(|r| {
            drops_map
                .get(&r, 0)
                .unwrap()
                .iter()
                .map(|c| c.packets)
                .sum()
        })
        .collect();
    let ct: HashMap<_, CtKey, CtValue> =
        HashMap::try_from(ebpf.map(names::CT_MAP).unwrap()).unwrap();
    Snapshot {
        by_builtin,
        rules,
        drops,
        ct_entries: ct.keys().count(),
    }
}

/// Writes the policy as the agent's driver does: host remotes and single-port rules into the
/// exact maps, everything else into the tries (`abi::remote_is_host`, `abi::rule_is_exact`).
fn write_policy(ebpf: &mut Ebpf, db_members: &[&'static str]) {
    let (remotes, rules) = standard_policy(db_members);
    for (policy, net, class) in remotes {
        let (addr, len) = net.split_once('/').unwrap();
        let addr: IpAddr = addr.parse().unwrap();
        let len: u8 = len.parse().unwrap();
        let bits = if addr.is_ipv4() { 96 + len } else { len };
        if remote_is_host(bits) {
            let mut hosts: HashMap<_, RemoteHostKey, RemoteValue> =
                HashMap::try_from(ebpf.map_mut(names::REMOTE_HOST_MAP).unwrap()).unwrap();
            hosts
                .insert(
                    remote_host_key(policy, mapped(addr)),
                    RemoteValue { class },
                    0,
                )
                .unwrap();
        } else {
            let mut trie: LpmTrie<_, [u8; 20], RemoteValue> =
                LpmTrie::try_from(ebpf.map_mut(names::REMOTE_MAP).unwrap()).unwrap();
            let key = remote_lpm_key(policy, mapped(addr), bits);
            trie.insert(&key, RemoteValue { class }, 0).unwrap();
        }
    }
    for (policy, class, proto, port, rule_id) in rules {
        let value = RuleValue { rule_id, pad: 0 };
        let port = port.map(|(p, bits)| (p, bits as u8));
        match (proto, port) {
            (Some(p), Some((value_port, _))) if rule_is_exact(proto, port) => {
                let mut exact: HashMap<_, RuleExactKey, RuleValue> =
                    HashMap::try_from(ebpf.map_mut(names::RULE_EXACT_MAP).unwrap()).unwrap();
                exact
                    .insert(rule_exact_key(policy, class, p, value_port), value, 0)
                    .unwrap();
            }
            _ => {
                let mut trie: LpmTrie<_, [u8; 12], RuleValue> =
                    LpmTrie::try_from(ebpf.map_mut(names::RULE_MATCH_MAP).unwrap()).unwrap();
                trie.insert(&rule_lpm_key(policy, class, proto, port), value, 0)
                    .unwrap();
            }
        }
    }
}

impl Suite for PortSuite {
    type Setup = Setup;
    type Effects = Effects;

    fn object(&self) -> Object {
        object::PORT
    }

    fn max_entries(&self) -> Vec<(&'static str, u32)> {
        vec![
            (names::CT_MAP, 1024),
            (names::FRAG_MAP, 256),
            (names::REMOTE_MAP, 1024),
            (names::RULE_MATCH_MAP, 1024),
            (names::REMOTE_HOST_MAP, 1024),
            (names::RULE_EXACT_MAP, 1024),
            (names::RULE_STATS_MAP, 1024),
            (names::EVENTS_MAP, 64 * 1024),
            (names::PORT_MAP, 16),
            (names::PORT_ADDR_MAP, 64),
            (names::PORT_STATS_MAP, 16),
        ]
    }

    fn programs_for(&self, row: &Fixture<Self>) -> Vec<&'static str> {
        let mut programs = vec![row.program];
        programs.extend(row.setup.before.iter().map(|(dir, _)| dir.program()));
        programs
    }

    fn setup(&self, ebpf: &mut Ebpf, s: &Setup) -> Result<(), String> {
        if s.configured {
            let mut port: HashMap<_, u32, PortConfig> =
                HashMap::try_from(ebpf.map_mut(names::PORT_MAP).unwrap()).unwrap();
            let cfg = PortConfig {
                policy: [EGRESS_POLICY, INGRESS_POLICY],
                flags: if s.egress_default_deny {
                    SDN_PORT_EGRESS_DEFAULT_DENY
                } else {
                    0
                },
                denied_events_per_sec: 0,
                mac: VM_MAC.0,
                pad: [0; 2],
                slot: TEST_SLOT,
                pad2: 0,
            };
            assert_eq!(SDN_DIR_EGRESS, 0, "policy array order");
            port.insert(TEST_IFINDEX, cfg, 0).unwrap();
            let mut addrs: HashMap<_, PortAddrKey, u32> =
                HashMap::try_from(ebpf.map_mut(names::PORT_ADDR_MAP).unwrap()).unwrap();
            for a in [IpAddr::V4(vm4()), IpAddr::V6(vm6()), IpAddr::V6(vm_ll())] {
                addrs
                    .insert(
                        PortAddrKey {
                            ifindex: TEST_IFINDEX,
                            addr: mapped(a),
                        },
                        1,
                        0,
                    )
                    .unwrap();
            }
            // (Per-port counters are array slots: zero until the first frame.)
        }
        write_policy(ebpf, &s.db_members);
        if let Some((k, v)) = s.stale_ct {
            let mut ct: HashMap<_, CtKey, CtValue> =
                HashMap::try_from(ebpf.map_mut(names::CT_MAP).unwrap()).unwrap();
            ct.insert(k, v, 0).unwrap();
        }
        for (dir, frame) in &s.before {
            run_once(ebpf, dir.program(), frame)?;
        }
        // After the packets before: they set up flows while the table still had room.
        if let Some(count) = s.ct_count {
            let mut c: Array<_, u64> =
                Array::try_from(ebpf.map_mut(names::CT_COUNT_MAP).unwrap()).unwrap();
            c.set(0, count, 0).unwrap();
        }
        if s.event_budget_empty {
            let mut b: PerCpuArray<_, EventBudget> =
                PerCpuArray::try_from(ebpf.map_mut(names::EVENT_BUDGET_MAP).unwrap()).unwrap();
            // Refilled just now (the programs' clock is CLOCK_MONOTONIC) and already spent.
            let empty = EventBudget {
                last_refill_ns: monotonic_ns(),
                tokens: 0,
                suppressed: 0,
            };
            b.set(
                TEST_SLOT,
                PerCpuValues::try_from(vec![empty; cpus()]).unwrap(),
                0,
            )
            .unwrap();
        }
        // Events of the packets before are not this row's.
        let mut ring = RingBuf::try_from(ebpf.map_mut(names::EVENTS_MAP).unwrap()).unwrap();
        while ring.next().is_some() {}
        drop(ring);
        *self.baseline.borrow_mut() = snapshot(ebpf, Dir::Egress);
        Ok(())
    }

    fn check(&self, ebpf: &mut Ebpf, e: &Effects) -> Result<(), String> {
        let dir = e.dir.ok_or("row has no direction")?;
        let mut problems = Vec::new();
        let before_egress = self.baseline.borrow().clone();
        let after = snapshot(ebpf, dir);
        // Attribution: exactly one packet counted, in the expected slot.
        if let Some(attr) = e.attribution {
            let base = if dir == Dir::Egress {
                before_egress.by_builtin.clone()
            } else {
                // The baseline was taken for egress; ingress stats before this row are what the
                // packets before left, so recompute them from the difference in totals.
                vec![]
            };
            let delta: Vec<i64> = after
                .by_builtin
                .iter()
                .enumerate()
                .map(|(i, v)| *v as i64 - base.get(i).copied().unwrap_or(0) as i64)
                .collect();
            let slot = match attr {
                Attr::Rule(_) => 0,
                Attr::Builtin(b) => b as usize,
            };
            if dir == Dir::Egress && (delta[slot] != 1 || delta.iter().sum::<i64>() != 1) {
                problems.push(format!(
                    "attribution slot deltas {delta:?}, expected +1 at {slot}"
                ));
            }
            let unconfigured =
                after.by_builtin.iter().all(|v| *v == 0) && slot == SDN_BUILTIN_NO_PORT as usize;
            if dir == Dir::Ingress && delta[slot] < 1 && !unconfigured {
                problems.push(format!(
                    "attribution slots {delta:?}, expected a packet at {slot}"
                ));
            }
            if let Attr::Rule(rule) = attr {
                let b = before_egress.rules.get(&rule).copied().unwrap_or(0);
                let a = after.rules.get(&rule).copied().unwrap_or(0);
                if a != b + 1 {
                    problems.push(format!("rule {rule} counted {b} -> {a}, expected one more"));
                }
            }
        }
        if let Some(reason) = e.drop_reason {
            let delta: Vec<i64> = after
                .drops
                .iter()
                .zip(&before_egress.drops)
                .map(|(a, b)| *a as i64 - *b as i64)
                .collect();
            if delta[reason as usize] != 1 || delta.iter().sum::<i64>() != 1 {
                problems.push(format!(
                    "drop reason deltas {delta:?}, expected +1 at {reason}"
                ));
            }
        } else if after.drops != before_egress.drops {
            problems.push(format!(
                "unexpected drop: {:?} -> {:?}",
                before_egress.drops, after.drops
            ));
        }
        if let Some(created) = e.ct_created {
            let grew = after.ct_entries > before_egress.ct_entries;
            if grew != created {
                problems.push(format!(
                    "conntrack entries {} -> {}, expected created={created}",
                    before_egress.ct_entries, after.ct_entries
                ));
            }
        }
        if let Some(kind) = e.event {
            let mut ring = RingBuf::try_from(ebpf.map_mut(names::EVENTS_MAP).unwrap())
                .map_err(|e| e.to_string())?;
            let got = ring.next().map(|item| {
                assert_eq!(item.len(), size_of::<FlowEvent>());
                // SAFETY: the record is a `struct sdn_flow_event` (size checked above).
                let ev: FlowEvent =
                    unsafe { std::ptr::read_unaligned(item.as_ptr() as *const FlowEvent) };
                ev.kind
            });
            if got != kind {
                problems.push(format!("event {got:?}, expected {kind:?}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

// ---- rows --------------------------------------------------------------------------------------

struct Row(Fixture<PortSuite>);

impl Row {
    fn new(name: &str, dir: Dir, frame: Vec<u8>) -> Row {
        let mut f: Fixture<PortSuite> = Fixture::new(name, dir.program(), frame);
        f.effects.dir = Some(dir);
        Row(f)
    }
    fn allow(mut self, attr: Attr) -> Row {
        self.0.verdict = match self.0.effects.dir.unwrap() {
            Dir::Egress => Verdict::XdpPass,
            Dir::Ingress => Verdict::TcNext,
        };
        self.0.output = Output::Unchanged;
        self.0.effects.attribution = Some(attr);
        self
    }
    fn deny(mut self, attr: Attr, reason: u32) -> Row {
        self.0.verdict = match self.0.effects.dir.unwrap() {
            Dir::Egress => Verdict::XdpDrop,
            Dir::Ingress => Verdict::TcShot,
        };
        self.0.output = Output::Any;
        self.0.effects.attribution = Some(attr);
        self.0.effects.drop_reason = Some(reason);
        self
    }
    fn ct(mut self, created: bool) -> Row {
        self.0.effects.ct_created = Some(created);
        self
    }
    fn event(mut self, kind: Option<u32>) -> Row {
        self.0.effects.event = Some(kind.map(|k| k as u8));
        self
    }
    fn after(mut self, packets: Vec<(Dir, Vec<u8>)>) -> Row {
        self.0.setup.before = packets;
        self
    }
    fn egress_default_deny(mut self) -> Row {
        self.0.setup.egress_default_deny = true;
        self
    }
    fn with(mut self, f: impl FnOnce(&mut Setup)) -> Row {
        f(&mut self.0.setup);
        self
    }
}

fn rule(id: u32) -> Attr {
    Attr::Rule(id)
}
fn builtin(id: u32) -> Attr {
    Attr::Builtin(id)
}

/// IPv4 from `src` to the instance (ingress).
fn v4_in(src: &str) -> sdn_ebpf::packet::Ipv4 {
    Frame::eth(PEER_MAC, VM_MAC).ipv4(ip4(src), vm4())
}
fn v4_out(dst: &str) -> sdn_ebpf::packet::Ipv4 {
    Frame::eth(VM_MAC, PEER_MAC).ipv4(vm4(), ip4(dst))
}
fn v6_in(src: &str) -> sdn_ebpf::packet::Ipv6 {
    Frame::eth(PEER_MAC, VM_MAC).ipv6(ip6(src), vm6())
}
fn v6_out(dst: &str) -> sdn_ebpf::packet::Ipv6 {
    Frame::eth(VM_MAC, PEER_MAC).ipv6(vm6(), ip6(dst))
}
fn syn_in(src: &str, port: u16) -> Vec<u8> {
    v4_in(src).tcp(40000, port).flags(TcpFlags::SYN).build()
}

use Dir::{Egress, Ingress};

const ADMITTED: Option<u32> = Some(SDN_EVENT_FLOW_ADMITTED);
const DENIED: Option<u32> = Some(SDN_EVENT_FLOW_DENIED);
const ENDED: Option<u32> = Some(SDN_EVENT_FLOW_ENDED);

fn rows() -> Vec<Row> {
    let deny_in = || builtin(SDN_BUILTIN_DEFAULT_DENY_INGRESS);
    let invalid = || builtin(SDN_BUILTIN_INVALID);
    let spoof = || builtin(SDN_BUILTIN_ANTI_SPOOF);
    let est = || builtin(SDN_BUILTIN_ESTABLISHED);
    let mut r = vec![
        // -- ingress policy: remotes, protocols, port-range edges
        Row::new(
            "tcp 22 from a remote inside the rule's /24",
            Ingress,
            syn_in("198.18.2.5", 22),
        )
        .allow(rule(R_SSH))
        .ct(true)
        .event(ADMITTED),
        Row::new(
            "tcp 22 from outside the /24",
            Ingress,
            syn_in("198.18.9.9", 22),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS)
        .ct(false)
        .event(DENIED),
        Row::new("tcp 80 from anywhere", Ingress, syn_in("198.18.9.9", 80)).allow(rule(R_HTTP)),
        Row::new(
            "tcp 80 from inside the /24 too (nested remotes)",
            Ingress,
            syn_in("198.18.2.5", 80),
        )
        .allow(rule(R_HTTP)),
        Row::new(
            "port range: first port 8000",
            Ingress,
            syn_in("198.18.9.9", 8000),
        )
        .allow(rule(R_RANGE)),
        Row::new(
            "port range: last port 8063",
            Ingress,
            syn_in("198.18.9.9", 8063),
        )
        .allow(rule(R_RANGE)),
        Row::new(
            "port range: 7999 is outside",
            Ingress,
            syn_in("198.18.9.9", 7999),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "port range: 8064 is outside",
            Ingress,
            syn_in("198.18.9.9", 8064),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "udp 53 over ipv4 matches no (ipv6) rule",
            Ingress,
            v4_in("198.18.2.5").udp(5353, 53).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "icmp echo request",
            Ingress,
            v4_in("198.18.9.9").icmp_echo_request(7, 1).build(),
        )
        .allow(rule(R_PING))
        .ct(true),
        Row::new(
            "icmp echo reply without a request",
            Ingress,
            v4_in("198.18.9.9").icmp_echo_reply(7, 1).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "icmp timestamp is not echo",
            Ingress,
            v4_in("198.18.9.9").icmp(13, 0, 0).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "ipv6 udp 53 from the rule's /48",
            Ingress,
            v6_in("2001:db8:2::7").udp(5353, 53).build(),
        )
        .allow(rule(R_DNS6)),
        Row::new(
            "ipv6 udp 53 from outside the /48",
            Ingress,
            v6_in("2001:db8:3::7").udp(5353, 53).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "icmpv6 echo request",
            Ingress,
            v6_in("2001:db8:2::1").icmpv6_echo_request(1, 1).build(),
        )
        .allow(rule(R_PING6)),
        Row::new(
            "protocol all: udp",
            Ingress,
            v4_in("198.18.3.3").udp(1, 9999).build(),
        )
        .allow(rule(R_ALL)),
        Row::new(
            "protocol all loses to the more specific tcp 80",
            Ingress,
            syn_in("198.18.3.3", 80),
        )
        .allow(rule(R_HTTP)),
        Row::new(
            "protocol all: tcp 9999",
            Ingress,
            syn_in("198.18.3.3", 9999),
        )
        .allow(rule(R_ALL)),
        Row::new(
            "protocol number: esp",
            Ingress,
            v4_in("198.18.4.4").raw(ESP).payload([0; 16]).build(),
        )
        .allow(rule(R_ESP))
        .ct(true),
        Row::new(
            "esp from elsewhere",
            Ingress,
            v4_in("198.18.9.9").raw(ESP).payload([0; 16]).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "gre where only esp is allowed",
            Ingress,
            v4_in("198.18.4.4").raw(47).payload([0; 8]).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "sctp 2905",
            Ingress,
            v4_in("198.18.9.9").sctp(1, 2905).build(),
        )
        .allow(rule(R_SCTP)),
        Row::new(
            "sctp 2906",
            Ingress,
            v4_in("198.18.9.9").sctp(1, 2906).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "ipv6 ::/0 rule over ipv6",
            Ingress,
            v6_in("2001:db8:9::9").udp(1, 7).build(),
        )
        .allow(rule(R_ECHO6)),
        Row::new(
            "ipv6 ::/0 rule never matches ipv4",
            Ingress,
            v4_in("198.18.9.9").udp(1, 7).build(),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "ipv4 options do not hide the ports",
            Ingress,
            v4_in("198.18.2.5")
                .options([1, 1, 1, 0])
                .tcp(40000, 22)
                .flags(TcpFlags::SYN)
                .build(),
        )
        .allow(rule(R_SSH)),
        Row::new(
            "ipv6 hop-by-hop and destination options before udp",
            Ingress,
            v6_in("2001:db8:2::7")
                .hop_by_hop()
                .dest_opts()
                .udp(5353, 53)
                .build(),
        )
        .allow(rule(R_DNS6)),
        Row::new(
            "ipv6 routing header before udp",
            Ingress,
            v6_in("2001:db8:2::7")
                .routing(0, 0, &[vm6()])
                .udp(5353, 53)
                .build(),
        )
        .allow(rule(R_DNS6)),
        // -- remote groups
        Row::new("remote group member", Ingress, syn_in("198.18.5.5", 3306)).allow(rule(R_DB)),
        Row::new(
            "not a remote group member",
            Ingress,
            syn_in("198.18.5.6", 3306),
        )
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "after a membership change: the new member",
            Ingress,
            syn_in("198.18.5.6", 3306),
        )
        .with(|s| s.db_members = vec!["198.18.5.6/32"])
        .allow(rule(R_DB)),
        Row::new(
            "after a membership change: the old member",
            Ingress,
            syn_in("198.18.5.5", 3306),
        )
        .with(|s| s.db_members = vec!["198.18.5.6/32"])
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        // -- TCP flags
        Row::new(
            "tcp ack without a flow",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::ACK)
                .build(),
        )
        .deny(invalid(), SDN_DROP_TCP_FLAGS)
        .ct(false),
        Row::new(
            "tcp syn+fin",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::SYN | TcpFlags::FIN)
                .build(),
        )
        .deny(invalid(), SDN_DROP_TCP_FLAGS),
        Row::new(
            "tcp syn+rst",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::SYN | TcpFlags::RST)
                .build(),
        )
        .deny(invalid(), SDN_DROP_TCP_FLAGS),
        Row::new(
            "tcp without flags",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::NONE)
                .build(),
        )
        .deny(invalid(), SDN_DROP_TCP_FLAGS),
        Row::new(
            "tcp fin without a flow",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::FIN)
                .build(),
        )
        .deny(invalid(), SDN_DROP_TCP_FLAGS),
        Row::new(
            "tcp xmas (fin psh urg)",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG)
                .build(),
        )
        .deny(invalid(), SDN_DROP_TCP_FLAGS),
        Row::new(
            "tcp syn+ack without a flow",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
        )
        .deny(invalid(), SDN_DROP_TCP_FLAGS),
        // -- egress: open, default deny, the switch
        Row::new(
            "egress open while the groups hold no egress rule",
            Egress,
            v4_out("198.18.9.9")
                .tcp(40000, 25)
                .flags(TcpFlags::SYN)
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_EGRESS_OPEN))
        .ct(true)
        .event(ADMITTED),
        Row::new(
            "egress default-deny once an egress rule exists",
            Egress,
            v4_out("198.18.9.9")
                .tcp(40000, 25)
                .flags(TcpFlags::SYN)
                .build(),
        )
        .egress_default_deny()
        .deny(
            builtin(SDN_BUILTIN_DEFAULT_DENY_EGRESS),
            SDN_DROP_DEFAULT_DENY_EGRESS,
        ),
        Row::new(
            "egress rule tcp 443",
            Egress,
            v4_out("198.18.9.9")
                .tcp(40000, 443)
                .flags(TcpFlags::SYN)
                .build(),
        )
        .egress_default_deny()
        .allow(rule(R_HTTPS)),
        Row::new(
            "egress udp under default-deny",
            Egress,
            v4_out("198.18.9.9").udp(1, 53).build(),
        )
        .egress_default_deny()
        .deny(
            builtin(SDN_BUILTIN_DEFAULT_DENY_EGRESS),
            SDN_DROP_DEFAULT_DENY_EGRESS,
        ),
        // -- conntrack: replies, state, related ICMP errors, table full
        Row::new(
            "reply to an egress flow",
            Ingress,
            v4_in("198.18.9.9")
                .tcp(443, 40000)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
        )
        .egress_default_deny()
        .after(vec![(
            Egress,
            v4_out("198.18.9.9")
                .tcp(40000, 443)
                .flags(TcpFlags::SYN)
                .build(),
        )])
        .allow(est())
        .ct(false),
        Row::new(
            "reply to an ingress flow passes egress default-deny",
            Egress,
            v4_out("198.18.2.5")
                .tcp(22, 40000)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
        )
        .egress_default_deny()
        .after(vec![(Ingress, syn_in("198.18.2.5", 22))])
        .allow(est()),
        Row::new(
            "rst ends the flow",
            Ingress,
            v4_in("198.18.2.5")
                .tcp(40000, 22)
                .flags(TcpFlags::RST)
                .build(),
        )
        .after(vec![(Ingress, syn_in("198.18.2.5", 22))])
        .allow(est())
        .event(ENDED),
        Row::new(
            "a new syn on a closed flow goes through policy again",
            Ingress,
            syn_in("198.18.2.5", 22),
        )
        .after(vec![
            (Ingress, syn_in("198.18.2.5", 22)),
            (
                Ingress,
                v4_in("198.18.2.5")
                    .tcp(40000, 22)
                    .flags(TcpFlags::RST)
                    .build(),
            ),
        ])
        .allow(rule(R_SSH)),
        Row::new(
            "fins from both sides end the flow",
            Egress,
            v4_out("198.18.2.5")
                .tcp(22, 40000)
                .flags(TcpFlags::FIN | TcpFlags::ACK)
                .build(),
        )
        .after(vec![
            (Ingress, syn_in("198.18.2.5", 22)),
            (
                Egress,
                v4_out("198.18.2.5")
                    .tcp(22, 40000)
                    .flags(TcpFlags::SYN | TcpFlags::ACK)
                    .build(),
            ),
            (
                Ingress,
                v4_in("198.18.2.5")
                    .tcp(40000, 22)
                    .flags(TcpFlags::FIN | TcpFlags::ACK)
                    .build(),
            ),
        ])
        .allow(est())
        .event(ENDED),
        Row::new(
            "udp reply to an egress datagram",
            Ingress,
            v4_in("198.18.9.9").udp(53, 5353).build(),
        )
        .after(vec![(Egress, v4_out("198.18.9.9").udp(5353, 53).build())])
        .allow(est()),
        Row::new(
            "udp from the right peer but another port is not a reply",
            Ingress,
            v4_in("198.18.9.9").udp(54, 5353).build(),
        )
        .after(vec![(Egress, v4_out("198.18.9.9").udp(5353, 53).build())])
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "icmp echo reply to an egress request",
            Ingress,
            v4_in("198.18.9.9").icmp_echo_reply(9, 1).build(),
        )
        .after(vec![(
            Egress,
            v4_out("198.18.9.9").icmp_echo_request(9, 1).build(),
        )])
        .allow(est()),
        Row::new(
            "icmp echo reply with another identifier",
            Ingress,
            v4_in("198.18.9.9").icmp_echo_reply(10, 1).build(),
        )
        .after(vec![(
            Egress,
            v4_out("198.18.9.9").icmp_echo_request(9, 1).build(),
        )])
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "icmpv6 echo reply to an egress request",
            Ingress,
            v6_in("2001:db8:9::9").icmpv6_echo_reply(9, 1).build(),
        )
        .after(vec![(
            Egress,
            v6_out("2001:db8:9::9").icmpv6_echo_request(9, 1).build(),
        )])
        .allow(est()),
    ];
    let probe = v4_out("198.18.9.9").udp(5353, 53).build_ip();
    let other = v4_out("198.18.9.8").udp(5353, 53).build_ip();
    let probe6 = v6_out("2001:db8:9::9").udp(5353, 53).build_ip();
    r.extend([
        Row::new(
            "icmp port unreachable related to an egress flow",
            Ingress,
            Frame::eth(PEER_MAC, VM_MAC)
                .ipv4(ip4("198.18.9.9"), vm4())
                .icmp_dest_unreachable(icmp::PORT_UNREACH, &probe)
                .build(),
        )
        .after(vec![(Egress, v4_out("198.18.9.9").udp(5353, 53).build())])
        .allow(est()),
        Row::new(
            "icmp error about a flow that does not exist",
            Ingress,
            Frame::eth(PEER_MAC, VM_MAC)
                .ipv4(ip4("198.18.9.9"), vm4())
                .icmp_dest_unreachable(icmp::PORT_UNREACH, &other)
                .build(),
        )
        .after(vec![(Egress, v4_out("198.18.9.9").udp(5353, 53).build())])
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "icmp time exceeded from a router, related",
            Ingress,
            Frame::eth(PEER_MAC, VM_MAC)
                .ipv4(ip4("198.18.7.1"), vm4())
                .icmp_time_exceeded(0, &probe)
                .build(),
        )
        .after(vec![(Egress, v4_out("198.18.9.9").udp(5353, 53).build())])
        .allow(est()),
        Row::new(
            "icmpv6 destination unreachable related to an egress flow",
            Ingress,
            Frame::eth(PEER_MAC, VM_MAC)
                .ipv6(ip6("2001:db8:9::9"), vm6())
                .icmpv6_dest_unreachable(4, &probe6)
                .build(),
        )
        .after(vec![(
            Egress,
            v6_out("2001:db8:9::9").udp(5353, 53).build(),
        )])
        .allow(est()),
        Row::new(
            "icmp error quoting too little is not related",
            Ingress,
            Frame::eth(PEER_MAC, VM_MAC)
                .ipv4(ip4("198.18.9.9"), vm4())
                .icmp_dest_unreachable(icmp::PORT_UNREACH, &probe[..20])
                .build(),
        )
        .after(vec![(Egress, v4_out("198.18.9.9").udp(5353, 53).build())])
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        Row::new(
            "conntrack full: a new flow is dropped",
            Ingress,
            syn_in("198.18.2.5", 22),
        )
        .with(|s| s.ct_count = Some(SDN_CT_MAX as u64))
        .deny(builtin(SDN_BUILTIN_CONNTRACK_FULL), SDN_DROP_CONNTRACK_FULL)
        .ct(false),
        Row::new(
            "conntrack full: an established flow keeps working",
            Ingress,
            v4_in("198.18.9.9").udp(53, 5353).build(),
        )
        .after(vec![(Egress, v4_out("198.18.9.9").udp(5353, 53).build())])
        .with(|s| s.ct_count = Some(SDN_CT_MAX as u64))
        .allow(est()),
        Row::new(
            "an expired entry is no flow",
            Ingress,
            v4_in("198.18.9.9").udp(53, 5353).build(),
        )
        .with(|s| s.stale_ct = Some(stale_udp_entry()))
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS),
        // -- anti-spoofing (egress)
        Row::new(
            "egress from another mac",
            Egress,
            Frame::eth(Mac::local(9), PEER_MAC)
                .ipv4(vm4(), ip4("198.18.9.9"))
                .udp(1, 2)
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_MAC),
        Row::new(
            "egress from another ipv4 address",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .ipv4(ip4("198.18.1.99"), ip4("198.18.9.9"))
                .udp(1, 2)
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_IP),
        Row::new(
            "egress from another ipv6 address",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .ipv6(ip6("2001:db8:1::99"), ip6("2001:db8:9::9"))
                .udp(1, 2)
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_IP),
        Row::new(
            "egress from the port's link-local address",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .ipv6(vm_ll(), ip6("fe80::2"))
                .udp(1, 2)
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_EGRESS_OPEN)),
        Row::new(
            "egress from another link-local address",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .ipv6(ip6("fe80::99"), ip6("fe80::2"))
                .udp(1, 2)
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_IP),
        Row::new(
            "arp request from the port's own mac and address",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .arp_request(VM_MAC, vm4(), ip4("198.18.1.2"))
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_ARP_ND)),
        Row::new(
            "arp claiming another address",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .arp_request(VM_MAC, ip4("198.18.1.2"), ip4("198.18.1.3"))
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_ARP),
        Row::new(
            "arp with another sender mac",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .arp_request(Mac::local(9), vm4(), ip4("198.18.1.2"))
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_ARP),
        Row::new(
            "arp probe from 0.0.0.0",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .arp_request(VM_MAC, ip4("0.0.0.0"), vm4())
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_ARP_ND)),
        Row::new(
            "gratuitous arp reply for another address",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .arp_reply(
                    VM_MAC,
                    ip4("198.18.1.50"),
                    Mac::BROADCAST,
                    ip4("198.18.1.50"),
                )
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_ARP),
        Row::new(
            "neighbour advertisement for another address",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .ipv6(vm6(), ip6("2001:db8:1::2"))
                .ndp_neighbor_advert(0x60, ip6("2001:db8:1::50"))
                .target_lla(VM_MAC)
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_ND),
        Row::new(
            "neighbour advertisement for its own address",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .ipv6(vm6(), ip6("2001:db8:1::2"))
                .ndp_neighbor_advert(0x60, vm6())
                .target_lla(VM_MAC)
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_ARP_ND)),
        Row::new(
            "duplicate address detection from ::",
            Egress,
            Frame::eth(VM_MAC, Mac::ipv6_multicast(ip6("ff02::1:ff00:1")))
                .ipv6(ip6("::"), ip6("ff02::1:ff00:1"))
                .ndp_neighbor_solicit(vm6())
                .build(),
        )
        .egress_default_deny()
        .allow(builtin(SDN_BUILTIN_ARP_ND)),
        Row::new(
            "router advertisement from an instance",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .ipv6(vm_ll(), ip6("ff02::1"))
                .ndp_router_advert(64, 0, 1800)
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_ROUTER_ADVERT),
        Row::new(
            "dhcp offer from an instance",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .ipv4(vm4(), ip4("255.255.255.255"))
                .udp(67, 68)
                .payload([0; 240])
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_DHCP_SERVER),
        Row::new(
            "dhcp discover from 0.0.0.0 under egress default-deny",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .ipv4(ip4("0.0.0.0"), ip4("255.255.255.255"))
                .udp(68, 67)
                .payload([0; 240])
                .build(),
        )
        .egress_default_deny()
        .allow(builtin(SDN_BUILTIN_DHCP)),
        Row::new(
            "other udp from 0.0.0.0",
            Egress,
            Frame::eth(VM_MAC, Mac::BROADCAST)
                .ipv4(ip4("0.0.0.0"), ip4("255.255.255.255"))
                .udp(68, 69)
                .build(),
        )
        .deny(spoof(), SDN_DROP_SPOOF_IP),
        Row::new(
            "dhcp renew from its own address under egress default-deny",
            Egress,
            v4_out("198.18.1.254").udp(68, 67).payload([0; 240]).build(),
        )
        .egress_default_deny()
        .allow(builtin(SDN_BUILTIN_DHCP)),
        // -- ingress built-ins
        Row::new(
            "arp to the instance",
            Ingress,
            Frame::eth(PEER_MAC, Mac::BROADCAST)
                .arp_request(PEER_MAC, ip4("198.18.1.2"), vm4())
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_ARP_ND)),
        Row::new(
            "neighbour solicitation to the instance",
            Ingress,
            v6_in("2001:db8:1::2")
                .ndp_neighbor_solicit(vm6())
                .source_lla(PEER_MAC)
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_ARP_ND)),
        Row::new(
            "dhcp offer to the instance",
            Ingress,
            Frame::eth(PEER_MAC, VM_MAC)
                .ipv4(ip4("198.18.1.254"), vm4())
                .udp(67, 68)
                .payload([0; 240])
                .build(),
        )
        .allow(builtin(SDN_BUILTIN_DHCP)),
        // -- odd frames never bypass policy
        Row::new(
            "vlan-tagged frame to the instance",
            Ingress,
            Frame::eth(PEER_MAC, VM_MAC)
                .vlan(100)
                .ipv4(ip4("198.18.9.9"), vm4())
                .tcp(1, 80)
                .flags(TcpFlags::SYN)
                .build(),
        )
        .deny(invalid(), SDN_DROP_VLAN_TAGGED),
        Row::new(
            "vlan-tagged frame from the instance",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .vlan(100)
                .ipv4(vm4(), ip4("198.18.9.9"))
                .udp(1, 2)
                .build(),
        )
        .deny(invalid(), SDN_DROP_VLAN_TAGGED),
        Row::new(
            "qinq frame from the instance",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .qinq(1, 2)
                .ipv4(vm4(), ip4("198.18.9.9"))
                .udp(1, 2)
                .build(),
        )
        .deny(invalid(), SDN_DROP_VLAN_TAGGED),
        Row::new(
            "three vlan tags",
            Egress,
            Frame::eth(VM_MAC, PEER_MAC)
                .qinq(1, 2)
                .vlan(3)
                .ipv4(vm4(), ip4("198.18.9.9"))
                .udp(1, 2)
                .build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new("lldp from the instance", Egress, {
            let mut f = v4_out("198.18.9.9").udp(1, 2).build();
            f[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
            f
        })
        .deny(invalid(), SDN_DROP_ETHERTYPE),
        Row::new(
            "ipv4 header cut short",
            Egress,
            v4_out("198.18.9.9").udp(1, 2).truncate_to(14 + 12).build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new(
            "tcp header cut short",
            Egress,
            v4_out("198.18.9.9").raw(TCP).payload([0; 10]).build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new(
            "udp header cut short",
            Egress,
            v4_out("198.18.9.9").raw(UDP).payload([0; 4]).build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new(
            "icmp header cut short",
            Egress,
            v4_out("198.18.9.9").raw(ICMP).payload([8, 0, 0]).build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new(
            "tcp data offset below 5",
            Egress,
            v4_out("198.18.9.9")
                .tcp(1, 2)
                .flags(TcpFlags::SYN)
                .data_offset(4)
                .build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new(
            "icmp inside ipv6",
            Egress,
            v6_out("2001:db8:9::9")
                .raw(ICMP)
                .payload([8, 0, 0, 0, 0, 0, 0, 0])
                .build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new(
            "ipv4 ihl below 5",
            Egress,
            v4_out("198.18.9.9").ihl(4).udp(1, 2).build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new("ipv6 chain of nine extension headers", Ingress, {
            let mut p = v6_in("2001:db8:2::7");
            for _ in 0..9 {
                p = p.dest_opts();
            }
            p.udp(5353, 53).build()
        })
        .deny(invalid(), SDN_DROP_MALFORMED),
        Row::new(
            "ipv6 extension header cut short",
            Egress,
            v6_out("2001:db8:9::9")
                .hop_by_hop()
                .udp(1, 2)
                .truncate_to(14 + 40 + 1)
                .build(),
        )
        .deny(invalid(), SDN_DROP_MALFORMED),
        // -- fragments
        Row::new(
            "first fragment goes through policy",
            Ingress,
            v4_in("198.18.3.3")
                .id(77)
                .fragment(0, true)
                .udp(1, 9999)
                .payload([0; 64])
                .build(),
        )
        .allow(rule(R_ALL)),
        Row::new(
            "later fragment of an admitted datagram",
            Ingress,
            v4_in("198.18.3.3")
                .id(77)
                .fragment(9, false)
                .raw(UDP)
                .payload([0; 32])
                .build(),
        )
        .after(vec![(
            Ingress,
            v4_in("198.18.3.3")
                .id(77)
                .fragment(0, true)
                .udp(1, 9999)
                .payload([0; 64])
                .build(),
        )])
        .allow(builtin(SDN_BUILTIN_FRAGMENT)),
        Row::new(
            "later fragment without its first fragment",
            Ingress,
            v4_in("198.18.3.3")
                .id(77)
                .fragment(9, false)
                .raw(UDP)
                .payload([0; 32])
                .build(),
        )
        .deny(builtin(SDN_BUILTIN_FRAGMENT), SDN_DROP_FRAGMENT_UNTRACKED),
        Row::new(
            "later fragment of a denied datagram",
            Ingress,
            v4_in("198.18.9.9")
                .id(78)
                .fragment(9, false)
                .raw(UDP)
                .payload([0; 32])
                .build(),
        )
        .after(vec![(
            Ingress,
            v4_in("198.18.9.9")
                .id(78)
                .fragment(0, true)
                .udp(1, 9999)
                .payload([0; 64])
                .build(),
        )])
        .deny(builtin(SDN_BUILTIN_FRAGMENT), SDN_DROP_FRAGMENT_UNTRACKED),
        Row::new(
            "later fragment with another id",
            Ingress,
            v4_in("198.18.3.3")
                .id(79)
                .fragment(9, false)
                .raw(UDP)
                .payload([0; 32])
                .build(),
        )
        .after(vec![(
            Ingress,
            v4_in("198.18.3.3")
                .id(77)
                .fragment(0, true)
                .udp(1, 9999)
                .payload([0; 64])
                .build(),
        )])
        .deny(builtin(SDN_BUILTIN_FRAGMENT), SDN_DROP_FRAGMENT_UNTRACKED),
        Row::new(
            "ipv6 first fragment",
            Ingress,
            v6_in("2001:db8:2::7")
                .fragment(0, true, 5)
                .udp(5353, 53)
                .payload([0; 64])
                .build(),
        )
        .allow(rule(R_DNS6)),
        Row::new(
            "ipv6 later fragment of an admitted datagram",
            Ingress,
            v6_in("2001:db8:2::7")
                .fragment(9, false, 5)
                .raw(UDP)
                .payload([0; 32])
                .build(),
        )
        .after(vec![(
            Ingress,
            v6_in("2001:db8:2::7")
                .fragment(0, true, 5)
                .udp(5353, 53)
                .payload([0; 64])
                .build(),
        )])
        .allow(builtin(SDN_BUILTIN_FRAGMENT)),
        Row::new(
            "ipv6 later fragment without its first",
            Ingress,
            v6_in("2001:db8:2::7")
                .fragment(9, false, 6)
                .raw(UDP)
                .payload([0; 32])
                .build(),
        )
        .deny(builtin(SDN_BUILTIN_FRAGMENT), SDN_DROP_FRAGMENT_UNTRACKED),
        // -- ports without config, rate-limited events
        Row::new(
            "a port without config drops",
            Ingress,
            syn_in("198.18.2.5", 22),
        )
        .with(|s| s.configured = false)
        .deny(builtin(SDN_BUILTIN_NO_PORT), SDN_DROP_NO_PORT)
        .event(DENIED),
        Row::new(
            "denied events are rate limited per port",
            Ingress,
            syn_in("198.18.9.9", 22),
        )
        .with(|s| s.event_budget_empty = true)
        .deny(deny_in(), SDN_DROP_DEFAULT_DENY_INGRESS)
        .event(None),
    ]);
    r
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into `ts`, which lives across the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A UDP flow entry last seen long ago (its idle timeout has passed).
fn stale_udp_entry() -> (CtKey, CtValue) {
    let key = CtKey {
        ifindex: TEST_IFINDEX,
        proto: UDP,
        family: SDN_FAMILY_IPV4 as u8,
        pad: 0,
        local: mapped(IpAddr::V4(vm4())),
        remote: mapped(IpAddr::V4(ip4("198.18.9.9"))),
        local_port: 5353u16.to_be(),
        remote_port: 53u16.to_be(),
    };
    let value = CtValue {
        created_ns: 1,
        last_seen_ns: 1,
        rule_id: SDN_BUILTIN_EGRESS_OPEN,
        state: SDN_CT_ESTABLISHED as u8,
        origin: SDN_DIR_EGRESS as u8,
        ..CtValue::default()
    };
    (key, value)
}

#[test]
fn port_fixtures() {
    if !privilege::gate("port_fixtures", privilege::bpf_available()) {
        return;
    }
    let rows: Vec<Fixture<PortSuite>> = rows().into_iter().map(|r| r.0).collect();
    let suite = PortSuite {
        baseline: RefCell::new(Snapshot::default()),
    };
    let ran = run_all(&suite, &rows);
    assert!(
        ran >= 80,
        "issue 7 asks for at least 80 fixtures, found {ran}"
    );
}
