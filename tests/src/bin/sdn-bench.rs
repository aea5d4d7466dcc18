//! `sdn-bench`: benchmarks that need the eBPF objects and the agent's code; `cargo xtask bench
//! <suite>` runs it in release mode. Each suite writes `target/bench/<suite>.json` and prints a
//! table.
//!
//! `sdn-bench dataplane`: per-packet cost of the security-group program through
//! BPF_PROG_TEST_RUN (repeat >= 10^6, JIT on), side by side with an empty XDP program, for
//! policies of 10, 10k and 100k rules.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use aya::programs::{Program, TestRun, TestRunOptions};
use aya::{Ebpf, EbpfLoader};
use ipnetwork::IpNetwork;
use node_agent::policy::{
    self, CompileOptions, Direction, GroupId, Limits, PortPolicy, Protocol, Remote, Rule,
};
use node_agent::port_dataplane::{PortSpec, install_policy, program_port};
use sdn_ebpf::object::{self, names};
use sdn_ebpf::packet::{Frame, Mac, TcpFlags};
use serde_json::json;

const REPEAT: u32 = 1_000_000;
const ROUNDS: usize = 7;
const IFINDEX: u32 = 1; // the loopback of this namespace, as BPF_PROG_TEST_RUN reports it
const VM_MAC: Mac = Mac::local(1);
const PEER_MAC: Mac = Mac::local(2);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["dataplane"] => dataplane(),
        _ => bail!("usage: sdn-bench dataplane"),
    }
}

fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench")
}

/// A small deterministic generator (xorshift64*), so every run measures the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const RULE_MIX: &str = "egress rules: 55% IPv4 CIDRs, 25% IPv6 CIDRs, 20% remote groups (8 member \
addresses each, IPv4 and IPv6); IPv4 prefix lengths: every length /8../32 present, 5% in /8../15, \
15% /16../23, 30% /24../31, 50% /32; IPv6: 5% /32../47, 20% /48../63, 25% /64../127, 50% /128; \
protocols: 50% tcp, 30% udp, 10% icmp/icmpv6 (type, some with code), 5% all, 5% esp/gre/sctp; \
ports: 60% single ports, 40% ranges of 2..4096 ports; the measured packet matches a /32 tcp \
single-port rule written at 3/4 of the list";

/// The target rule: what the measured packet matches.
const TARGET_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 77, 7);
const TARGET_PORT: u16 = 4443;

fn rule_mix(n: usize, seed: u64) -> PortPolicy {
    let mut rng = Rng(seed);
    let mut rules = Vec::with_capacity(n);
    let mut group_members: BTreeMap<GroupId, BTreeSet<IpAddr>> = BTreeMap::new();
    let target_at = n * 3 / 4;
    for i in 0..n {
        let id = policy::FIRST_RULE_ID + i as u32;
        if i == target_at {
            rules.push(Rule {
                id,
                direction: Direction::Egress,
                protocol: Protocol::Tcp,
                ports: Some(TARGET_PORT..=TARGET_PORT),
                icmp: None,
                remote: Remote::Cidr(IpNetwork::from_str(&format!("{TARGET_ADDR}/32")).unwrap()),
            });
            continue;
        }
        let kind = rng.below(100);
        let v6 = (55..80).contains(&kind);
        let remote = if kind >= 80 {
            let group = GroupId(format!("g{}", rng.below(64)));
            let members = group_members.entry(group.clone()).or_default();
            while members.len() < 8 {
                let a = rng.next();
                members.insert(if rng.chance(70) {
                    IpAddr::V4(Ipv4Addr::from(a as u32))
                } else {
                    IpAddr::V6(Ipv6Addr::from(((a as u128) << 64) | rng.next() as u128))
                });
            }
            Remote::Group(group)
        } else if v6 {
            let len = match rng.below(100) {
                0..5 => 32 + rng.below(16),
                5..25 => 48 + rng.below(16),
                25..50 => 64 + rng.below(64),
                _ => 128,
            } as u8;
            let addr = Ipv6Addr::from(((rng.next() as u128) << 64) | rng.next() as u128);
            Remote::Cidr(IpNetwork::new(IpAddr::V6(addr), len).unwrap())
        } else {
            let len = match rng.below(100) {
                0..5 => 8 + rng.below(8),
                5..20 => 16 + rng.below(8),
                20..50 => 24 + rng.below(8),
                _ => 32,
            } as u8;
            let addr = Ipv4Addr::from(rng.next() as u32);
            Remote::Cidr(IpNetwork::new(IpAddr::V4(addr), len).unwrap())
        };
        let family_v6 = match &remote {
            Remote::Cidr(c) => c.is_ipv6(),
            Remote::Group(_) => false,
        };
        let (protocol, ports, icmp) = match rng.below(100) {
            0..50 => (Protocol::Tcp, Some(ports(&mut rng)), None),
            50..80 => (Protocol::Udp, Some(ports(&mut rng)), None),
            80..90 => {
                let code = rng.chance(30).then(|| rng.below(4) as u8);
                let p = if family_v6 {
                    Protocol::Icmpv6
                } else {
                    Protocol::Icmp
                };
                (p, None, Some((rng.below(20) as u8, code)))
            }
            90..95 => (Protocol::All, None, None),
            _ => {
                let p = [Protocol::Number(50), Protocol::Number(47), Protocol::Sctp]
                    [rng.below(3) as usize];
                let ports = (p == Protocol::Sctp).then(|| ports(&mut rng));
                (p, ports, None)
            }
        };
        rules.push(Rule {
            id,
            direction: Direction::Egress,
            protocol,
            ports,
            icmp,
            remote,
        });
    }
    PortPolicy {
        rules,
        group_members,
    }
}

fn ports(rng: &mut Rng) -> std::ops::RangeInclusive<u16> {
    let start = 1 + rng.below(60000) as u16;
    if rng.chance(60) {
        start..=start
    } else {
        let len = 1 + rng.below(4095) as u16;
        start..=start.saturating_add(len)
    }
}

fn load(object: object::Object, program: &str) -> Result<Ebpf> {
    let mut ebpf = EbpfLoader::new()
        .load(object.bytes)
        .with_context(|| format!("load {}", object.name))?;
    match ebpf.program_mut(program).context("program")? {
        Program::Xdp(p) => p.load()?,
        Program::SchedClassifier(p) => p.load()?,
        _ => bail!("{program} is neither XDP nor TC"),
    }
    Ok(ebpf)
}

/// Median ns per run over ROUNDS rounds of REPEAT runs.
fn measure(ebpf: &Ebpf, program: &str, frame: &[u8]) -> Result<(f64, Vec<f64>)> {
    let Some(Program::Xdp(xdp)) = ebpf.program(program) else {
        bail!("{program} is not XDP");
    };
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        let mut out = vec![0u8; 2048];
        let r = xdp.test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat: REPEAT,
            ..TestRunOptions::default()
        })?;
        samples.push(r.duration.as_nanos() as f64);
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    Ok((sorted[sorted.len() / 2], samples))
}

fn run_once(ebpf: &Ebpf, program: &str, frame: &[u8]) -> Result<u32> {
    let Some(Program::Xdp(xdp)) = ebpf.program(program) else {
        bail!("{program} is not XDP");
    };
    let mut out = vec![0u8; 2048];
    let r = xdp.test_run(TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ..TestRunOptions::default()
    })?;
    Ok(r.return_value)
}

fn map_memlock(ebpf: &Ebpf, name: &str) -> Result<u64> {
    use std::os::fd::{AsFd, AsRawFd};
    let map = ebpf.map(name).context("map")?;
    let data = match map {
        aya::maps::Map::LpmTrie(d) | aya::maps::Map::HashMap(d) => d,
        _ => bail!("{name} is neither an LPM trie nor a hash map"),
    };
    let fd = data.fd().as_fd().as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .context("no memlock in fdinfo")?
        .trim()
        .parse()
        .context("memlock")
}

struct PolicyFigures {
    ns: f64,
    samples: Vec<f64>,
    map_bytes: u64,
    stats: policy::PolicyStats,
}

fn vm_spec() -> PortSpec {
    PortSpec {
        name: "bench".into(),
        mac: VM_MAC.0,
        addrs: vec![IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1))],
    }
}

fn syn_and_ack() -> (Vec<u8>, Vec<u8>) {
    let f = || Frame::eth(VM_MAC, PEER_MAC).ipv4(Ipv4Addr::new(198, 18, 1, 1), TARGET_ADDR);
    (
        f().tcp(40000, TARGET_PORT).flags(TcpFlags::SYN).build(),
        f().tcp(40000, TARGET_PORT)
            .flags(TcpFlags::ACK)
            .payload([0u8; 10])
            .build(),
    )
}

fn policy_case(rules: usize) -> Result<PolicyFigures> {
    let policy = rule_mix(rules, 0x5eed_0000 + rules as u64);
    let options = CompileOptions {
        limits: Limits {
            max_rules_per_port: rules.max(policy::MAX_RULES_PER_PORT),
            max_entries_per_map: 1 << 22,
        },
        ..CompileOptions::default()
    };
    let compiled = policy::compile_with(&policy, 100, 101, &options)
        .with_context(|| format!("compile {rules} rules"))?;
    let stats = compiled.stats();
    let mut ebpf = EbpfLoader::new()
        .map_max_entries(
            names::REMOTE_MAP,
            (stats.remote_entries as u32 + 16).max(1024),
        )
        .map_max_entries(
            names::RULE_MATCH_MAP,
            (stats.rule_entries as u32 + 16).max(1024),
        )
        .map_max_entries(
            names::REMOTE_HOST_MAP,
            (stats.remote_entries as u32 + 16).max(1024),
        )
        .map_max_entries(
            names::RULE_EXACT_MAP,
            (stats.rule_entries as u32 + 16).max(1024),
        )
        .load(object::PORT.bytes)?;
    if let Program::Xdp(p) = ebpf.program_mut(names::PORT_EGRESS).context("program")? {
        p.load()?;
    }
    program_port(&mut ebpf, IFINDEX, 0, &vm_spec())?;
    install_policy(&mut ebpf, IFINDEX, 0, VM_MAC.0, &compiled)?;
    let (_, ack) = syn_and_ack();
    // Check the packet really runs the classifier to the target rule: it is refused only because
    // an ACK cannot open a flow (XDP_DROP), after the rule was found.
    let verdict = run_once(&ebpf, names::PORT_EGRESS, &ack)?;
    anyhow::ensure!(
        verdict == 1,
        "the measured packet should be dropped as tcp-flags, got {verdict}"
    );
    let (ns, samples) = measure(&ebpf, names::PORT_EGRESS, &ack)?;
    let map_bytes = [
        names::REMOTE_MAP,
        names::RULE_MATCH_MAP,
        names::REMOTE_HOST_MAP,
        names::RULE_EXACT_MAP,
    ]
    .iter()
    .map(|m| map_memlock(&ebpf, m))
    .sum::<Result<u64>>()?;
    Ok(PolicyFigures {
        ns,
        samples,
        map_bytes,
        stats,
    })
}

fn dataplane() -> Result<()> {
    let jit = std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable").unwrap_or_default();
    anyhow::ensure!(
        jit.trim() != "0",
        "the BPF JIT is off (/proc/sys/net/core/bpf_jit_enable)"
    );
    let (syn, ack) = syn_and_ack();

    let empty = load(object::EMPTY, names::EMPTY)?;
    let (empty_ns, empty_samples) = measure(&empty, names::EMPTY, &ack)?;

    // Established: one SYN opens the flow (egress-open), then every repeat is a tracked ACK.
    let mut est = EbpfLoader::new().load(object::PORT.bytes)?;
    if let Program::Xdp(p) = est.program_mut(names::PORT_EGRESS).context("program")? {
        p.load()?;
    }
    program_port(&mut est, IFINDEX, 0, &vm_spec())?;
    anyhow::ensure!(
        run_once(&est, names::PORT_EGRESS, &syn)? == 2,
        "the SYN must pass"
    );
    let (established_ns, established_samples) = measure(&est, names::PORT_EGRESS, &ack)?;
    anyhow::ensure!(
        run_once(&est, names::PORT_EGRESS, &ack)? == 2,
        "the ACK must pass as established"
    );

    let mut cases = BTreeMap::new();
    for rules in [10usize, 10_000, 100_000] {
        eprintln!("compiling and loading {rules} rules ...");
        cases.insert(rules, policy_case(rules)?);
    }
    let p10 = &cases[&10];
    let p10k = &cases[&10_000];
    let p100k = &cases[&100_000];
    let report = json!({
        "suite": "dataplane",
        "packet": "IPv4 TCP, 64-byte frame: instance 198.18.1.1:40000 -> 198.18.77.7:4443 (egress, XDP)",
        "repeat": REPEAT,
        "rounds": ROUNDS,
        "statistic": "median over rounds of the kernel's mean ns per run",
        "empty_ns": empty_ns,
        "sg_established_ns": established_ns,
        "sg_policy_10_rules_ns": p10.ns,
        "sg_policy_10k_rules_ns": p10k.ns,
        "sg_policy_100k_rules_ns": p100k.ns,
        "sg_map_bytes_10k_rules": p10k.map_bytes,
        "map_bytes_method": "memlock of sdn_remote, sdn_rule_match, sdn_remote_host and sdn_rule_exact \
    (/proc/self/fdinfo): the memory the kernel charges for the entries",
        "sg_map_bytes_100k_rules": p100k.map_bytes,
        "established_minus_empty_ns": established_ns - empty_ns,
        "policy_10k_over_10": p10k.ns / p10.ns,
        "policy_100k_over_10": p100k.ns / p10.ns,
        "targets": {
            "established_minus_empty_ns <= 60": established_ns - empty_ns <= 60.0,
            "policy_10k_over_10 <= 1.2": p10k.ns / p10.ns <= 1.2,
            "policy_100k_over_10 <= 1.5": p100k.ns / p10.ns <= 1.5,
        },
        "method": "policy packets are TCP ACKs without a tracked flow: the program parses, finds \
    no conntrack entry, runs both LPM lookups to the target rule, then refuses to open a flow \
    without a SYN (XDP_DROP, counted as invalid/tcp-flags), so no conntrack entry is ever inserted \
    and every repeat does the same work; the established packet is the same ACK after one SYN \
    opened the flow",
        "rule_mix": RULE_MIX,
        "entries": {
            "10": {"remote": p10.stats.remote_entries, "rule": p10.stats.rule_entries, "classes": p10.stats.classes},
            "10k": {"remote": p10k.stats.remote_entries, "rule": p10k.stats.rule_entries, "classes": p10k.stats.classes},
            "100k": {"remote": p100k.stats.remote_entries, "rule": p100k.stats.rule_entries, "classes": p100k.stats.classes},
        },
        "raw_ns": {
            "empty": empty_samples,
            "established": established_samples,
            "policy_10": p10.samples,
            "policy_10k": p10k.samples,
            "policy_100k": p100k.samples,
        },
    });
    let dir = bench_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("dataplane.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("dataplane (BPF_PROG_TEST_RUN, repeat {REPEAT}, median of {ROUNDS})");
    println!("  empty XDP                 {empty_ns:>8.1} ns");
    println!(
        "  established (ct hit)      {established_ns:>8.1} ns   (+{:.1} over empty; target <= 60)",
        established_ns - empty_ns
    );
    for (rules, c) in &cases {
        println!(
            "  policy, {rules:>6} rules      {:>8.1} ns   x{:.2} of 10 rules; {} remote + {} rule entries, {} KiB",
            c.ns,
            c.ns / p10.ns,
            c.stats.remote_entries,
            c.stats.rule_entries,
            c.map_bytes / 1024
        );
    }
    println!("wrote {}", path.display());
    Ok(())
}
