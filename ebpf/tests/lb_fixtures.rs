//! Fixtures for the load-balancer programs through BPF_PROG_TEST_RUN (docs/nlb.md): the LB node's
//! `sdn_lb_xdp` (`programs/lb.bpf.c`) and the hypervisor's `sdn_lbhv_decap` / `sdn_lbhv_rnat`
//! (`programs/lb_backend.bpf.c`). Every row asserts the verdict, the output bytes (built with the
//! packet builder, so its checksums are computed afresh, never copied from the program), and the
//! outcome and drop counters, plus conntrack, fragment and backend entries where they matter.
//! `checksums_of_outputs_verify_independently` recomputes the checksums of real outputs with
//! pnet_packet. Privileged: needs BPF (root).
//!
//! The flow hash is recomputed here from its documented definition (`murmur3`, `flow_hash`): a
//! row whose Maglev table alternates backends between slots only passes when the program's hash
//! is that function.

use std::cell::RefCell;
use std::net::Ipv4Addr;

use aya::Ebpf;
use aya::maps::{Array, HashMap, PerCpuArray};
use pnet_packet::Packet;
use pnet_packet::icmp::{self as picmp, IcmpPacket};
use pnet_packet::ipv4::{self as pipv4, Ipv4Packet};
use pnet_packet::tcp::{self as ptcp, TcpPacket};
use pnet_packet::udp::{self as pudp, UdpPacket};
use sdn_ebpf::abi::*;
use sdn_ebpf::fixture::{Fixture, Output, Suite, Verdict, run_all, run_once};
use sdn_ebpf::object::{self, Object, names};
use sdn_ebpf::packet::{Frame, Mac, TcpFlags, ip_proto, ip4, ip6};
use sdn_ebpf::privilege;

// ---- the topology ------------------------------------------------------------------------------

const ROUTER_MAC: Mac = Mac::local(0x11); // delivers client traffic to the LB node
const LB_MAC: Mac = Mac::local(0x10); // the LB node's uplink
const HV1_MAC: Mac = Mac::local(0x21);
const HV2_MAC: Mac = Mac::local(0x22);
const HV3_MAC: Mac = Mac::local(0x23);
const INST_MAC: Mac = Mac::local(0x31); // the backend instance's port
const HVPORT_MAC: Mac = Mac::local(0x32); // the instance's gateway on its hypervisor

fn lb_underlay() -> Ipv4Addr {
    ip4("198.18.0.10")
}
fn hv(n: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 20 + n as u8)
}
fn vip() -> Ipv4Addr {
    ip4("198.19.0.1")
}
fn other_ip() -> Ipv4Addr {
    ip4("198.19.0.2")
}
fn client() -> Ipv4Addr {
    ip4("198.18.100.5")
}
fn inst1() -> Ipv4Addr {
    ip4("198.18.10.11")
}

const TCP: u8 = 6;
const UDP: u8 = 17;
/// Every test service's Maglev table has this many slots (prime).
const M: u32 = 13;

// Services: (port, proto, id, table base, flags).
const SVC_HTTP: (u16, u8, u32, u32, u32) = (80, TCP, 1, 0, 0);
const SVC_DNS: (u16, u8, u32, u32, u32) = (53, UDP, 2, 16, 0);
const SVC_TLS: (u16, u8, u32, u32, u32) = (443, TCP, 3, 32, SDN_LB_SVC_SOURCE_IP);
/// A service without a Maglev table (every backend unhealthy).
const SVC_EMPTY: (u16, u8, u32, u32, u32) = (81, TCP, 4, 48, 0);

// Hypervisor side: the instance's target ports.
const HTTP_TARGET: u16 = 8080;
const DNS_TARGET: u16 = 5353;

// ---- the documented flow hash ------------------------------------------------------------------

/// MurmurHash3_x86_32 over a key of whole 4-byte blocks (little-endian), as `lb_hash.h`.
fn murmur3(key: &[u8], seed: u32) -> u32 {
    assert_eq!(key.len() % 4, 0, "keys here are whole blocks");
    let mut h = seed;
    for block in key.chunks_exact(4) {
        let k = u32::from_le_bytes(block.try_into().unwrap())
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    h ^= key.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn flow_hash(client: Ipv4Addr, vip: Ipv4Addr, cport: u16, vport: u16, proto: u8) -> u32 {
    let mut key = Vec::with_capacity(12);
    key.extend_from_slice(&client.octets());
    key.extend_from_slice(&vip.octets());
    key.extend_from_slice(&cport.to_be_bytes());
    key.extend_from_slice(&vport.to_be_bytes());
    murmur3(&key, u32::from(proto))
}

fn source_hash(client: Ipv4Addr) -> u32 {
    murmur3(&client.octets(), 0)
}

/// The backend the default tables give slot `hash % M`: 1 on even slots, 2 on odd ones.
fn table_backend(hash: u32) -> u32 {
    if (hash % M).is_multiple_of(2) { 1 } else { 2 }
}

#[test]
fn murmur3_matches_its_published_vector() {
    // MurmurHash3_x86_32("test", seed 0), the reference implementation's figure.
    assert_eq!(murmur3(b"test", 0), 0xba6b_d213);
    assert_eq!(murmur3(b"", 0), 0);
}

// ---- frames ------------------------------------------------------------------------------------

fn ipv4_part(frame: &[u8]) -> &[u8] {
    let tot = u16::from_be_bytes([frame[16], frame[17]]) as usize;
    &frame[14..14 + tot]
}

fn backend_addr(backend: u32) -> (Ipv4Addr, Mac) {
    match backend {
        1 => (hv(1), HV1_MAC),
        2 => (hv(2), HV2_MAC),
        3 => (hv(3), HV3_MAC),
        _ => panic!("no test backend {backend}"),
    }
}

/// The GENEVE header the LB node writes: version 0, no options, IPv4 inside, VNI = backend.
fn geneve_header(backend: u32) -> [u8; 8] {
    let b = backend.to_be_bytes();
    [0, 0, 0x08, 0x00, b[1], b[2], b[3], 0]
}

/// What the LB node sends for `inner` (a client frame) to `backend`, flow hash `hash`.
fn encap(inner: &[u8], backend: u32, hash: u32) -> Vec<u8> {
    let ip = ipv4_part(inner);
    let (vtep, mac) = backend_addr(backend);
    Frame::eth(LB_MAC, mac)
        .ipv4(lb_underlay(), vtep)
        .dont_fragment()
        .dscp(ip[1] >> 2)
        .ecn(ip[1] & 3)
        .udp(0xc000 | (hash & 0x3fff) as u16, 6081)
        .no_checksum()
        .payload(geneve_header(backend))
        .payload(ip)
        .build()
}

/// A GENEVE frame as it reaches a hypervisor: any header bytes, then the inner IP packet.
fn geneve_to(vtep: Ipv4Addr, dport: u16, header: &[u8], inner_ip: &[u8]) -> Vec<u8> {
    Frame::eth(LB_MAC, HV1_MAC)
        .ipv4(lb_underlay(), vtep)
        .dont_fragment()
        .udp(0xc123, dport)
        .no_checksum()
        .payload(header)
        .payload(inner_ip)
        .build()
}

fn to_hv1(backend: u32, inner_frame: &[u8]) -> Vec<u8> {
    geneve_to(hv(1), 6081, &geneve_header(backend), ipv4_part(inner_frame))
}

fn from_client() -> Frame {
    Frame::eth(ROUTER_MAC, LB_MAC)
}

fn syn(cport: u16, vport: u16) -> Vec<u8> {
    from_client()
        .ipv4(client(), vip())
        .tcp(cport, vport)
        .flags(TcpFlags::SYN)
        .build()
}

fn ack(cport: u16, vport: u16, payload: &[u8]) -> Vec<u8> {
    from_client()
        .ipv4(client(), vip())
        .tcp(cport, vport)
        .flags(TcpFlags::ACK)
        .payload(payload)
        .build()
}

fn dns(cport: u16) -> Vec<u8> {
    from_client()
        .ipv4(client(), vip())
        .udp(cport, 53)
        .payload(b"query")
        .build()
}

/// A client port whose flow to VIP:80 hashes to a slot of backend `want` in the default table.
fn port_to(want: u32, vport: u16, proto: u8) -> u16 {
    (40000..)
        .find(|&p| table_backend(flow_hash(client(), vip(), p, vport, proto)) == want)
        .unwrap()
}

// ---- setup and effects -------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Lb,
    Hv,
}

#[derive(Debug)]
struct Setup {
    /// The node's underlay config; `None` leaves it unset.
    config: Option<LbConfig>,
    /// Services as (port, proto, id, table base, flags) of the VIP; table size `M` (0 for
    /// `SVC_EMPTY`).
    services: Vec<(u16, u8, u32, u32, u32)>,
    /// VIPs and their flags.
    vips: Vec<(Ipv4Addr, u32)>,
    /// Backends: (index, up).
    backends: Vec<(u32, bool)>,
    /// Maglev slots written after the default alternating tables: (slot, backend).
    slots: Vec<(u32, u32)>,
    /// LB conntrack entries: (client port, VIP port, proto, backend, service id, state, age s).
    lb_ct: Vec<(u16, u16, u8, u32, u32, u8, u64)>,
    /// Fragment entries (either side): (src, dst, id, proto, backend, hash, addr).
    frags: Vec<(Ipv4Addr, Ipv4Addr, u32, u8, u32, u32, Ipv4Addr)>,
    /// Hypervisor DNAT entries: (VIP port, proto, backend, instance, target port).
    dnat: Vec<(u16, u8, u32, Ipv4Addr, u16)>,
    /// Hypervisor conntrack: (client port, target port, proto, VIP port, state).
    hv_ct: Vec<(u16, u16, u8, u16, u8)>,
    /// Frames run before the row (program, frame), then `retable` is written.
    before: Vec<(&'static str, Vec<u8>)>,
    /// Maglev slots rewritten after `before` ran: (slot, backend).
    retable: Vec<(u32, u32)>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            config: Some(LbConfig {
                underlay: lb_underlay().octets(),
                mtu: 0,
                pad: 0,
            }),
            services: vec![SVC_HTTP, SVC_DNS, SVC_TLS, SVC_EMPTY],
            vips: vec![(vip(), SDN_LB_VIP_ECHO)],
            backends: vec![(1, true), (2, true), (3, false)],
            slots: vec![],
            lb_ct: vec![],
            frags: vec![],
            dnat: vec![
                (80, TCP, 1, inst1(), HTTP_TARGET),
                (53, UDP, 1, inst1(), DNS_TARGET),
            ],
            hv_ct: vec![],
            before: vec![],
            retable: vec![],
        }
    }
}

fn hv_setup() -> Setup {
    Setup {
        config: Some(LbConfig {
            underlay: hv(1).octets(),
            mtu: 0,
            pad: 0,
        }),
        ..Setup::default()
    }
}

/// Every slot of the HTTP service's table to `backend`.
fn http_table_all(backend: u32) -> Vec<(u32, u32)> {
    (0..M).map(|s| (SVC_HTTP.3 + s, backend)).collect()
}

/// (client port, VIP port, proto) -> (backend, state).
type LbCtExpect = ((u16, u16, u8), (u32, u8));
/// (src, dst, id, proto) -> (backend, addr).
type FragExpect = ((Ipv4Addr, Ipv4Addr, u32, u8), (u32, Ipv4Addr));
/// (client port, target port, proto) -> (VIP port, state).
type HvCtExpect = ((u16, u16, u8), (u16, u8));

#[derive(Debug, Default)]
struct Effects {
    /// Outcome counters that must have grown, by `SDN_LB_STAT_*` (all others unchanged).
    stats: Vec<(u32, u64)>,
    /// Drop counters that must have grown, by `SDN_LB_DROP_*` (all others unchanged).
    drops: Vec<(u32, u64)>,
    /// LB conntrack entry: (client port, VIP port, proto) -> (backend, state).
    lb_ct: Option<LbCtExpect>,
    /// Backend index -> new flows it was picked for.
    new_flows: Vec<(u32, u64)>,
    /// Fragment entry: (src, dst, id, proto) -> (backend, addr).
    frag: Option<FragExpect>,
    /// Hypervisor conntrack entry: (client port, target port, proto) -> (VIP port, state).
    hv_ct: Option<HvCtExpect>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Snapshot {
    stats: Vec<u64>,
    drops: Vec<u64>,
}

struct LbSuite {
    side: Side,
    baseline: RefCell<Snapshot>,
}

fn now_coarse_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn sum_counters(ebpf: &Ebpf, map: &str, count: u32) -> Vec<u64> {
    let m: PerCpuArray<_, Counter> = PerCpuArray::try_from(ebpf.map(map).unwrap()).unwrap();
    (0..count)
        .map(|i| m.get(&i, 0).unwrap().iter().map(|c| c.packets).sum())
        .collect()
}

impl LbSuite {
    fn new(side: Side) -> Self {
        LbSuite {
            side,
            baseline: RefCell::default(),
        }
    }

    fn maps(&self) -> (&'static str, &'static str) {
        match self.side {
            Side::Lb => (names::LB_STATS_MAP, names::LB_DROPS_MAP),
            Side::Hv => (names::LBHV_STATS_MAP, names::LBHV_DROPS_MAP),
        }
    }

    fn snapshot(&self, ebpf: &Ebpf) -> Snapshot {
        let (stats, drops) = self.maps();
        Snapshot {
            stats: sum_counters(ebpf, stats, SDN_LB_STAT_COUNT),
            drops: sum_counters(ebpf, drops, SDN_LB_DROP_COUNT),
        }
    }

    fn setup_lb(&self, ebpf: &mut Ebpf, s: &Setup) {
        {
            let mut svc: HashMap<_, LbSvcKey, LbSvcValue> =
                HashMap::try_from(ebpf.map_mut(names::LB_SVC_MAP).unwrap()).unwrap();
            for &(port, proto, id, base, flags) in &s.services {
                let key = LbSvcKey {
                    vip: vip().octets(),
                    port: port.to_be(),
                    proto,
                    pad: 0,
                };
                let table_size = if id == SVC_EMPTY.2 { 0 } else { M };
                let value = LbSvcValue {
                    id,
                    table_base: base,
                    table_size,
                    flags,
                };
                svc.insert(key, value, 0).unwrap();
            }
        }
        {
            let mut vips: HashMap<_, u32, LbVipValue> =
                HashMap::try_from(ebpf.map_mut(names::LB_VIP_MAP).unwrap()).unwrap();
            for &(addr, flags) in &s.vips {
                let value = LbVipValue { flags, pad: 0 };
                vips.insert(u32::from_ne_bytes(addr.octets()), value, 0)
                    .unwrap();
            }
        }
        {
            let mut backends: Array<_, LbBackend> =
                Array::try_from(ebpf.map_mut(names::LB_BACKEND_MAP).unwrap()).unwrap();
            for &(index, up) in &s.backends {
                let (vtep, mac) = backend_addr(index);
                let value = LbBackend {
                    vtep: vtep.octets(),
                    flags: if up { SDN_LB_BACKEND_UP } else { 0 },
                    nexthop_mac: mac.0,
                    pad: [0; 2],
                };
                backends.set(index, value, 0).unwrap();
            }
        }
        let mut slots: Vec<(u32, u32)> = Vec::new();
        for &(_, _, _, base, _) in &s.services {
            slots.extend((0..M).map(|i| (base + i, if i % 2 == 0 { 1 } else { 2 })));
        }
        slots.extend(s.slots.iter().copied());
        write_slots(ebpf, &slots);
        {
            let mut ct: HashMap<_, LbCtKey, LbCtValue> =
                HashMap::try_from(ebpf.map_mut(names::LB_CT_MAP).unwrap()).unwrap();
            let now = now_coarse_ns();
            for &(cport, vport, proto, backend, svc_id, state, age) in &s.lb_ct {
                let value = LbCtValue {
                    created_ns: now - age * 1_000_000_000,
                    last_seen_ns: now - age * 1_000_000_000,
                    packets: 1,
                    bytes: 60,
                    backend,
                    svc_id,
                    state,
                    pad: [0; 7],
                };
                ct.insert(lb_ct_key(cport, vport, proto), value, 0).unwrap();
            }
        }
        write_frags(ebpf, names::LB_FRAG_MAP, &s.frags);
    }

    fn setup_hv(&self, ebpf: &mut Ebpf, s: &Setup) {
        {
            let mut dnat: HashMap<_, LbDnatKey, LbDnatValue> =
                HashMap::try_from(ebpf.map_mut(names::LBHV_DNAT_MAP).unwrap()).unwrap();
            for &(port, proto, backend, addr, target) in &s.dnat {
                let key = LbDnatKey {
                    vip: vip().octets(),
                    port: port.to_be(),
                    proto,
                    pad: 0,
                    backend,
                };
                let value = LbDnatValue {
                    addr: addr.octets(),
                    port: target.to_be(),
                    pad: 0,
                };
                dnat.insert(key, value, 0).unwrap();
            }
        }
        {
            let mut ct: HashMap<_, LbNatKey, LbNatValue> =
                HashMap::try_from(ebpf.map_mut(names::LBHV_CT_MAP).unwrap()).unwrap();
            let now = now_coarse_ns();
            for &(cport, tport, proto, vport, state) in &s.hv_ct {
                let value = LbNatValue {
                    created_ns: now,
                    last_seen_ns: now,
                    vip: vip().octets(),
                    vip_port: vport.to_be(),
                    state,
                    backend: 1,
                    ..LbNatValue::default()
                };
                ct.insert(hv_ct_key(cport, tport, proto), value, 0).unwrap();
            }
        }
        write_frags(ebpf, names::LBHV_FRAG_MAP, &s.frags);
    }
}

fn lb_ct_key(cport: u16, vport: u16, proto: u8) -> LbCtKey {
    LbCtKey {
        client: client().octets(),
        vip: vip().octets(),
        client_port: cport.to_be(),
        vip_port: vport.to_be(),
        proto,
        pad: [0; 3],
    }
}

fn hv_ct_key(cport: u16, tport: u16, proto: u8) -> LbNatKey {
    LbNatKey {
        client: client().octets(),
        instance: inst1().octets(),
        client_port: cport.to_be(),
        instance_port: tport.to_be(),
        proto,
        pad: [0; 3],
    }
}

fn frag_key(src: Ipv4Addr, dst: Ipv4Addr, id: u32, proto: u8) -> LbFragKey {
    LbFragKey {
        src: src.octets(),
        dst: dst.octets(),
        id,
        proto,
        pad: [0; 3],
    }
}

fn write_slots(ebpf: &mut Ebpf, slots: &[(u32, u32)]) {
    let mut maglev: Array<_, u32> =
        Array::try_from(ebpf.map_mut(names::LB_MAGLEV_MAP).unwrap()).unwrap();
    for &(slot, backend) in slots {
        maglev.set(slot, backend, 0).unwrap();
    }
}

type FragEntry = (Ipv4Addr, Ipv4Addr, u32, u8, u32, u32, Ipv4Addr);

fn write_frags(ebpf: &mut Ebpf, map: &str, frags: &[FragEntry]) {
    let mut m: HashMap<_, LbFragKey, LbFragValue> =
        HashMap::try_from(ebpf.map_mut(map).unwrap()).unwrap();
    let expires_ns = now_coarse_ns() + 30_000_000_000;
    for &(src, dst, id, proto, backend, hash, addr) in frags {
        let value = LbFragValue {
            expires_ns,
            backend,
            hash,
            addr: addr.octets(),
            pad: 0,
        };
        m.insert(frag_key(src, dst, id, proto), value, 0).unwrap();
    }
}

fn expect_diff(what: &str, before: &[u64], after: &[u64], want: &[(u32, u64)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        let expected = want
            .iter()
            .find(|(index, _)| *index as usize == i)
            .map_or(0, |(_, n)| *n);
        if a - b != expected {
            problems.push(format!("{what}[{i}] grew by {} expected {expected}", a - b));
        }
    }
    problems
}

impl Suite for LbSuite {
    type Setup = Setup;
    type Effects = Effects;

    fn object(&self) -> Object {
        match self.side {
            Side::Lb => object::LB,
            Side::Hv => object::LB_BACKEND,
        }
    }

    fn max_entries(&self) -> Vec<(&'static str, u32)> {
        match self.side {
            Side::Lb => vec![
                (names::LB_SVC_MAP, 64),
                (names::LB_VIP_MAP, 64),
                (names::LB_MAGLEV_MAP, 256),
                (names::LB_BACKEND_MAP, 16),
                (names::LB_BACKEND_STATS_MAP, 16),
                (names::LB_CT_MAP, 1024),
                (names::LB_FRAG_MAP, 256),
            ],
            Side::Hv => vec![
                (names::LBHV_DNAT_MAP, 64),
                (names::LBHV_CT_MAP, 1024),
                (names::LBHV_FRAG_MAP, 256),
            ],
        }
    }

    fn programs_for(&self, row: &Fixture<Self>) -> Vec<&'static str> {
        let mut programs = vec![row.program];
        programs.extend(row.setup.before.iter().map(|(p, _)| *p));
        programs
    }

    fn setup(&self, ebpf: &mut Ebpf, s: &Setup) -> Result<(), String> {
        if let Some(cfg) = s.config {
            let map = match self.side {
                Side::Lb => names::LB_CONFIG_MAP,
                Side::Hv => names::LBHV_CONFIG_MAP,
            };
            let mut config: Array<_, LbConfig> =
                Array::try_from(ebpf.map_mut(map).unwrap()).unwrap();
            config.set(0, cfg, 0).unwrap();
        }
        match self.side {
            Side::Lb => self.setup_lb(ebpf, s),
            Side::Hv => self.setup_hv(ebpf, s),
        }
        for (program, frame) in &s.before {
            run_once(ebpf, program, frame)?;
        }
        if !s.retable.is_empty() {
            write_slots(ebpf, &s.retable);
        }
        *self.baseline.borrow_mut() = self.snapshot(ebpf);
        Ok(())
    }

    fn check(&self, ebpf: &mut Ebpf, e: &Effects) -> Result<(), String> {
        let before = self.baseline.borrow().clone();
        let after = self.snapshot(ebpf);
        let mut problems = expect_diff("stats", &before.stats, &after.stats, &e.stats);
        problems.extend(expect_diff("drops", &before.drops, &after.drops, &e.drops));
        if let Some(((cport, vport, proto), (backend, state))) = e.lb_ct {
            let ct: HashMap<_, LbCtKey, LbCtValue> =
                HashMap::try_from(ebpf.map(names::LB_CT_MAP).unwrap()).unwrap();
            match ct.get(&lb_ct_key(cport, vport, proto), 0) {
                Ok(v) if (v.backend, v.state) == (backend, state) => {}
                Ok(v) => problems.push(format!(
                    "lb conntrack: backend {} state {} expected {backend} {state}",
                    v.backend, v.state
                )),
                Err(_) => problems.push("lb conntrack: no entry".into()),
            }
        }
        if !e.new_flows.is_empty() {
            let stats: PerCpuArray<_, LbBackendStats> =
                PerCpuArray::try_from(ebpf.map(names::LB_BACKEND_STATS_MAP).unwrap()).unwrap();
            for &(backend, want) in &e.new_flows {
                let got: u64 = stats
                    .get(&backend, 0)
                    .unwrap()
                    .iter()
                    .map(|s| s.new_flows)
                    .sum();
                if got != want {
                    problems.push(format!(
                        "backend {backend}: {got} new flows, expected {want}"
                    ));
                }
            }
        }
        if let Some(((src, dst, id, proto), (backend, addr))) = e.frag {
            let map = match self.side {
                Side::Lb => names::LB_FRAG_MAP,
                Side::Hv => names::LBHV_FRAG_MAP,
            };
            let frags: HashMap<_, LbFragKey, LbFragValue> =
                HashMap::try_from(ebpf.map(map).unwrap()).unwrap();
            match frags.get(&frag_key(src, dst, id, proto), 0) {
                Ok(v) if v.backend == backend && v.addr == addr.octets() => {}
                Ok(v) => problems.push(format!("fragment entry {v:?}")),
                Err(_) => problems.push("fragment entry missing".into()),
            }
        }
        if let Some(((cport, tport, proto), (vport, state))) = e.hv_ct {
            let ct: HashMap<_, LbNatKey, LbNatValue> =
                HashMap::try_from(ebpf.map(names::LBHV_CT_MAP).unwrap()).unwrap();
            match ct.get(&hv_ct_key(cport, tport, proto), 0) {
                Ok(v)
                    if v.vip == vip().octets()
                        && u16::from_be(v.vip_port) == vport
                        && v.state == state => {}
                Ok(v) => problems.push(format!("hypervisor conntrack {v:?}")),
                Err(_) => problems.push("hypervisor conntrack: no entry".into()),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

// ---- rows: the LB node -------------------------------------------------------------------------

type Row = Fixture<LbSuite>;

fn lb(name: &str, packet: Vec<u8>) -> Row {
    Fixture::new(name, names::LB_XDP, packet)
}

fn hvx(name: &str, packet: Vec<u8>) -> Row {
    Fixture::new(name, names::LBHV_DECAP, packet).setup(hv_setup())
}

fn rnat(name: &str, packet: Vec<u8>) -> Row {
    Fixture::new(name, names::LBHV_RNAT, packet)
        .setup(hv_setup())
        .verdict(Verdict::TcNext)
}

fn stat(index: u32) -> Effects {
    Effects {
        stats: vec![(index, 1)],
        ..Effects::default()
    }
}

fn dropped(reason: u32) -> Effects {
    Effects {
        drops: vec![(reason, 1)],
        ..Effects::default()
    }
}

fn lb_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let ct = SDN_CT_NEW as u8;
    let est = SDN_CT_ESTABLISHED as u8;
    let closed = SDN_CT_CLOSED as u8;

    // VIP hits: new flows through the Maglev table, exact encapsulated bytes.
    for want in [1, 2] {
        let p = port_to(want, 80, TCP);
        let frame = syn(p, 80);
        let h = flow_hash(client(), vip(), p, 80, TCP);
        rows.push(
            lb(
                &format!("tcp syn to the VIP: new flow to backend {want} by the 5-tuple hash"),
                frame.clone(),
            )
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, want, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_NEW_FLOW, 1)],
                lb_ct: Some(((p, 80, TCP), (want, ct))),
                new_flows: vec![(want, 1), (3 - want, 0)],
                ..Effects::default()
            }),
        );
    }
    let p = port_to(2, 53, UDP);
    let frame = dns(p);
    rows.push(
        lb(
            "udp to the VIP: new flow, exact GENEVE bytes",
            frame.clone(),
        )
        .verdict(Verdict::XdpTx)
        .output(Output::Bytes(encap(
            &frame,
            2,
            flow_hash(client(), vip(), p, 53, UDP),
        )))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_NEW_FLOW, 1)],
            lb_ct: Some(((p, 53, UDP), (2, ct))),
            ..Effects::default()
        }),
    );
    {
        let h = source_hash(client());
        let frame = syn(41234, 443);
        rows.push(
            lb(
                "source-ip service: the backend follows the client address only",
                frame.clone(),
            )
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, table_backend(h), h)))
            .effects(stat(SDN_LB_STAT_NEW_FLOW)),
        );
    }
    {
        // DSCP and ECN travel in the outer header; IP options stay in the inner packet.
        let frame = from_client()
            .ipv4(client(), vip())
            .dscp(46)
            .ecn(2)
            .options([0x94, 0x04, 0, 0]) // router alert
            .tcp(40001, 80)
            .flags(TcpFlags::SYN)
            .build();
        let h = flow_hash(client(), vip(), 40001, 80, TCP);
        rows.push(
            lb(
                "inner DSCP/ECN copied to the outer header, inner IP options untouched",
                frame.clone(),
            )
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, table_backend(h), h)))
            .effects(stat(SDN_LB_STAT_NEW_FLOW)),
        );
    }
    {
        // A 60-byte minimum frame: the Ethernet padding is not carried inside the tunnel.
        let p = 40002;
        let frame = from_client()
            .ipv4(client(), vip())
            .udp(p, 53)
            .payload(b"q")
            .pad_to(60)
            .build();
        let h = flow_hash(client(), vip(), p, 53, UDP);
        rows.push(
            lb(
                "ethernet padding is trimmed before encapsulation",
                frame.clone(),
            )
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, table_backend(h), h)))
            .effects(stat(SDN_LB_STAT_NEW_FLOW)),
        );
    }

    // Conntrack keeps flows on their backend.
    {
        let p = port_to(1, 80, TCP);
        let frame = ack(p, 80, b"GET /");
        let h = flow_hash(client(), vip(), p, 80, TCP);
        rows.push(
            lb(
                "tracked flow stays on its backend although the table now says another",
                frame.clone(),
            )
            .setup(Setup {
                lb_ct: vec![(p, 80, TCP, 2, SVC_HTTP.2, ct, 1)],
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, 2, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_TRACKED, 1)],
                lb_ct: Some(((p, 80, TCP), (2, est))),
                new_flows: vec![(1, 0), (2, 0)],
                ..Effects::default()
            }),
        );
        rows.push(
            lb(
                "syn, then the Maglev table changes, then the ack: same backend",
                frame.clone(),
            )
            .setup(Setup {
                before: vec![(names::LB_XDP, syn(p, 80))],
                retable: http_table_all(2),
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, 1, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_TRACKED, 1)],
                lb_ct: Some(((p, 80, TCP), (1, est))),
                new_flows: vec![(1, 1), (2, 0)],
                ..Effects::default()
            }),
        );
        rows.push(
            lb(
                "draining backend (weight 0, no slot) keeps its established flow",
                frame.clone(),
            )
            .setup(Setup {
                slots: http_table_all(2),
                lb_ct: vec![(p, 80, TCP, 1, SVC_HTTP.2, est, 5)],
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, 1, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_TRACKED, 1)],
                lb_ct: Some(((p, 80, TCP), (1, est))),
                ..Effects::default()
            }),
        );
        let new = syn(p, 80);
        rows.push(
            lb(
                "draining backend gets no new flow (its slots went to the others)",
                new.clone(),
            )
            .setup(Setup {
                slots: http_table_all(2),
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&new, 2, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_NEW_FLOW, 1)],
                new_flows: vec![(1, 0), (2, 1)],
                lb_ct: Some(((p, 80, TCP), (2, ct))),
                ..Effects::default()
            }),
        );
        rows.push(
            lb(
                "a tracked flow whose backend is down moves to the table's backend",
                frame.clone(),
            )
            .setup(Setup {
                lb_ct: vec![(p, 80, TCP, 3, SVC_HTTP.2, est, 1)],
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, 1, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_REPICKED, 1)],
                lb_ct: Some(((p, 80, TCP), (1, est))),
                new_flows: vec![(1, 1)],
                ..Effects::default()
            }),
        );
        rows.push(
            lb(
                "an expired conntrack entry counts as absent: the table decides",
                frame.clone(),
            )
            .setup(Setup {
                lb_ct: vec![(p, 80, TCP, 2, SVC_HTTP.2, ct, 3600)],
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, 1, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_NEW_FLOW, 1)],
                lb_ct: Some(((p, 80, TCP), (1, est))),
                ..Effects::default()
            }),
        );
        rows.push(
            lb(
                "an entry of a deleted and re-created service (other id) is stale",
                frame.clone(),
            )
            .setup(Setup {
                lb_ct: vec![(p, 80, TCP, 2, 99, est, 1)],
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&frame, 1, h)))
            .effects(stat(SDN_LB_STAT_NEW_FLOW)),
        );
        rows.push(
            lb(
                "a new syn on a closed flow's tuple takes a fresh pick",
                new.clone(),
            )
            .setup(Setup {
                lb_ct: vec![(p, 80, TCP, 2, SVC_HTTP.2, closed, 1)],
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&new, 1, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_NEW_FLOW, 1)],
                lb_ct: Some(((p, 80, TCP), (1, ct))),
                ..Effects::default()
            }),
        );
        let rst = from_client()
            .ipv4(client(), vip())
            .tcp(p, 80)
            .flags(TcpFlags::RST | TcpFlags::ACK)
            .build();
        rows.push(
            lb(
                "rst closes the tracked flow (it is still delivered)",
                rst.clone(),
            )
            .setup(Setup {
                lb_ct: vec![(p, 80, TCP, 2, SVC_HTTP.2, est, 1)],
                ..Setup::default()
            })
            .verdict(Verdict::XdpTx)
            .output(Output::Bytes(encap(&rst, 2, h)))
            .effects(Effects {
                stats: vec![(SDN_LB_STAT_TRACKED, 1)],
                lb_ct: Some(((p, 80, TCP), (2, closed))),
                ..Effects::default()
            }),
        );
    }

    // No backend to send to.
    let p = port_to(1, 80, TCP);
    rows.push(
        lb("a slot that points nowhere: dropped, counted", syn(p, 80))
            .setup(Setup {
                slots: http_table_all(SDN_LB_NO_BACKEND),
                ..Setup::default()
            })
            .verdict(Verdict::XdpDrop)
            .effects(dropped(SDN_LB_DROP_NO_BACKEND)),
    );
    rows.push(
        lb("a slot whose backend is down: dropped, counted", syn(p, 80))
            .setup(Setup {
                slots: http_table_all(3),
                ..Setup::default()
            })
            .verdict(Verdict::XdpDrop)
            .effects(dropped(SDN_LB_DROP_NO_BACKEND)),
    );
    rows.push(
        lb("a service without a table: dropped, counted", syn(p, 81))
            .verdict(Verdict::XdpDrop)
            .effects(dropped(SDN_LB_DROP_NO_BACKEND)),
    );
    rows.push(
        lb(
            "the node's underlay is not configured: dropped, counted",
            syn(p, 80),
        )
        .setup(Setup {
            config: None,
            ..Setup::default()
        })
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_NO_CONFIG)),
    );
    rows.push(
        lb(
            "1480-byte packet + 36 bytes of encapsulation > MTU 1500: dropped, counted",
            from_client()
                .ipv4(client(), vip())
                .udp(p, 53)
                .fill(1452)
                .build(),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_TOO_BIG)),
    );
    rows.push(
        lb(
            "a cut tcp header to a VIP: dropped as malformed",
            syn(p, 80).into_iter().take(14 + 20 + 10).collect(),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_MALFORMED)),
    );

    // Misses pass untouched.
    let pass = || stat(SDN_LB_STAT_PASS);
    rows.push(
        lb(
            "unknown VIP: passed byte-identical",
            from_client()
                .ipv4(client(), other_ip())
                .tcp(p, 80)
                .flags(TcpFlags::SYN)
                .build(),
        )
        .effects(pass()),
    );
    rows.push(
        lb(
            "VIP on an unknown port: passed byte-identical",
            syn(p, 8080),
        )
        .effects(pass()),
    );
    rows.push(
        lb(
            "VIP port of a tcp service over udp: passed byte-identical",
            from_client().ipv4(client(), vip()).udp(p, 80).build(),
        )
        .effects(pass()),
    );
    rows.push(
        lb(
            "ipv6: passed byte-identical",
            from_client()
                .ipv6(ip6("2001:db8::5"), ip6("2001:db8::1"))
                .tcp(p, 80)
                .build(),
        )
        .effects(pass()),
    );
    rows.push(
        lb(
            "arp for the VIP: passed byte-identical",
            Frame::eth(ROUTER_MAC, Mac::BROADCAST)
                .arp_request(ROUTER_MAC, client(), vip())
                .build(),
        )
        .effects(pass()),
    );
    rows.push(
        lb(
            "vlan-tagged traffic to the VIP is not the uplink's: passed byte-identical",
            from_client()
                .vlan(7)
                .ipv4(client(), vip())
                .tcp(p, 80)
                .flags(TcpFlags::SYN)
                .build(),
        )
        .effects(pass()),
    );

    // ICMP echo to the VIP.
    let echo = from_client()
        .ipv4(client(), vip())
        .ttl(50)
        .icmp_echo_request(77, 3)
        .payload(b"ping payload")
        .build();
    let reply = Frame::eth(LB_MAC, ROUTER_MAC)
        .ipv4(vip(), client())
        .icmp_echo_reply(77, 3)
        .payload(b"ping payload")
        .build();
    rows.push(
        lb(
            "echo request to the VIP: answered in place (XDP_TX)",
            echo.clone(),
        )
        .verdict(Verdict::XdpTx)
        .output(Output::Bytes(reply))
        .effects(stat(SDN_LB_STAT_ECHO_REPLY)),
    );
    rows.push(
        lb(
            "echo request to a VIP that does not answer echo: passed",
            echo.clone(),
        )
        .setup(Setup {
            vips: vec![(vip(), 0)],
            ..Setup::default()
        })
        .effects(pass()),
    );
    rows.push(
        lb(
            "echo request to an unknown address: passed",
            from_client()
                .ipv4(client(), other_ip())
                .icmp_echo_request(1, 1)
                .build(),
        )
        .effects(pass()),
    );
    rows.push(
        lb(
            "echo reply to the VIP: not a request, passed",
            from_client()
                .ipv4(client(), vip())
                .icmp_echo_reply(1, 1)
                .build(),
        )
        .effects(pass()),
    );
    rows.push(
        lb(
            "a fragmented echo request to the VIP: dropped, counted",
            from_client()
                .ipv4(client(), vip())
                .id(9)
                .fragment(0, true)
                .icmp_echo_request(1, 1)
                .fill(64)
                .build(),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_FRAG_ECHO)),
    );

    // Fragments: the first goes through the table and is remembered, later ones follow it.
    let p = port_to(2, 53, UDP);
    let h = flow_hash(client(), vip(), p, 53, UDP);
    let first = from_client()
        .ipv4(client(), vip())
        .id(0x4242)
        .fragment(0, true)
        .udp(p, 53)
        .len(1208)
        .fill(592)
        .build();
    rows.push(
        lb(
            "first fragment: picked by the table, remembered by IP id",
            first.clone(),
        )
        .verdict(Verdict::XdpTx)
        .output(Output::Bytes(encap(&first, 2, h)))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_NEW_FLOW, 1)],
            frag: Some(((client(), vip(), 0x4242, UDP), (2, Ipv4Addr::UNSPECIFIED))),
            ..Effects::default()
        }),
    );
    let later = from_client()
        .ipv4(client(), vip())
        .id(0x4242)
        .fragment(75, false)
        .raw(ip_proto::UDP)
        .fill(600)
        .build();
    rows.push(
        lb(
            "later fragment follows its first fragment's backend",
            later.clone(),
        )
        .setup(Setup {
            before: vec![(names::LB_XDP, first.clone())],
            ..Setup::default()
        })
        .verdict(Verdict::XdpTx)
        .output(Output::Bytes(encap(&later, 2, h)))
        .effects(stat(SDN_LB_STAT_FRAGMENT)),
    );
    rows.push(
        lb(
            "later fragment without its first: dropped, counted",
            later.clone(),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_FRAG_UNTRACKED)),
    );
    rows.push(
        lb(
            "later fragment to an unknown address: passed",
            from_client()
                .ipv4(client(), other_ip())
                .id(5)
                .fragment(75, false)
                .raw(ip_proto::UDP)
                .fill(100)
                .build(),
        )
        .effects(pass()),
    );
    rows
}

// ---- rows: the backend's hypervisor ------------------------------------------------------------

fn to_instance() -> Frame {
    Frame::eth(LB_MAC, HV1_MAC)
}

fn hv_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let new = SDN_CT_NEW as u8;
    let est = SDN_CT_ESTABLISHED as u8;
    let cp = 40100;

    let syn_in = syn(cp, 80);
    rows.push(
        hvx(
            "decap + DNAT: VIP:80 -> instance:8080, exact bytes",
            to_hv1(1, &syn_in),
        )
        .output(Output::Bytes(
            to_instance()
                .ipv4(client(), inst1())
                .tcp(cp, HTTP_TARGET)
                .flags(TcpFlags::SYN)
                .build(),
        ))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_DECAP, 1)],
            hv_ct: Some(((cp, HTTP_TARGET, TCP), (80, new))),
            ..Effects::default()
        }),
    );
    let data_in = ack(cp, 80, b"GET / HTTP/1.1\r\n\r\n");
    rows.push(
        hvx(
            "decap + DNAT of a data segment, tracked flow",
            to_hv1(1, &data_in),
        )
        .setup(Setup {
            hv_ct: vec![(cp, HTTP_TARGET, TCP, 80, est)],
            ..hv_setup()
        })
        .output(Output::Bytes(
            to_instance()
                .ipv4(client(), inst1())
                .tcp(cp, HTTP_TARGET)
                .flags(TcpFlags::ACK)
                .payload(b"GET / HTTP/1.1\r\n\r\n")
                .build(),
        ))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_DECAP, 1)],
            hv_ct: Some(((cp, HTTP_TARGET, TCP), (80, est))),
            ..Effects::default()
        }),
    );
    rows.push(
        hvx(
            "decap + DNAT of udp: VIP:53 -> instance:5353",
            to_hv1(1, &dns(cp)),
        )
        .output(Output::Bytes(
            to_instance()
                .ipv4(client(), inst1())
                .udp(cp, DNS_TARGET)
                .payload(b"query")
                .build(),
        ))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_DECAP, 1)],
            hv_ct: Some(((cp, DNS_TARGET, UDP), (53, new))),
            ..Effects::default()
        }),
    );
    let nocsum = from_client()
        .ipv4(client(), vip())
        .udp(cp, 53)
        .no_checksum()
        .payload(b"q")
        .build();
    rows.push(
        hvx("udp without checksum keeps checksum 0", to_hv1(1, &nocsum))
            .output(Output::Bytes(
                to_instance()
                    .ipv4(client(), inst1())
                    .udp(cp, DNS_TARGET)
                    .no_checksum()
                    .payload(b"q")
                    .build(),
            ))
            .effects(stat(SDN_LB_STAT_DECAP)),
    );
    {
        let mut header = vec![2, 0, 0x08, 0x00, 0, 0, 1, 0]; // 2 words of options
        header.extend_from_slice(&[0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd]);
        rows.push(
            hvx(
                "GENEVE options are skipped",
                geneve_to(hv(1), 6081, &header, ipv4_part(&syn_in)),
            )
            .output(Output::Bytes(
                to_instance()
                    .ipv4(client(), inst1())
                    .tcp(cp, HTTP_TARGET)
                    .flags(TcpFlags::SYN)
                    .build(),
            ))
            .effects(stat(SDN_LB_STAT_DECAP)),
        );
    }
    rows.push(
        hvx(
            "a backend this hypervisor has no DNAT for: dropped",
            to_hv1(7, &syn_in),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_NO_DNAT)),
    );
    rows.push(
        hvx(
            "GENEVE version 1: dropped",
            geneve_to(
                hv(1),
                6081,
                &[0x40, 0, 8, 0, 0, 0, 1, 0],
                ipv4_part(&syn_in),
            ),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_BAD_ENCAP)),
    );
    rows.push(
        hvx(
            "GENEVE carrying Ethernet (0x6558): dropped",
            geneve_to(
                hv(1),
                6081,
                &[0, 0, 0x65, 0x58, 0, 0, 1, 0],
                ipv4_part(&syn_in),
            ),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_BAD_ENCAP)),
    );
    rows.push(
        hvx(
            "a fragmented outer packet: dropped",
            Frame::eth(LB_MAC, HV1_MAC)
                .ipv4(lb_underlay(), hv(1))
                .fragment(0, true)
                .udp(0xc000, 6081)
                .no_checksum()
                .payload(geneve_header(1))
                .payload(ipv4_part(&syn_in))
                .build(),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_BAD_ENCAP)),
    );
    let pass = || stat(SDN_LB_STAT_PASS);
    rows.push(
        hvx(
            "GENEVE to another VTEP: passed byte-identical",
            geneve_to(hv(2), 6081, &geneve_header(1), ipv4_part(&syn_in)),
        )
        .effects(pass()),
    );
    rows.push(
        hvx(
            "VXLAN (4789): passed byte-identical",
            geneve_to(hv(1), 4789, &[8, 0, 0, 0, 0, 0, 100, 0], ipv4_part(&syn_in)),
        )
        .effects(pass()),
    );
    rows.push(
        hvx(
            "plain tcp to the hypervisor: passed byte-identical",
            Frame::eth(LB_MAC, HV1_MAC)
                .ipv4(lb_underlay(), hv(1))
                .tcp(1234, 22)
                .build(),
        )
        .effects(pass()),
    );

    // Fragments on the hypervisor.
    let first = from_client()
        .ipv4(client(), vip())
        .id(0x77)
        .fragment(0, true)
        .udp(cp, 53)
        .len(1008)
        .fill(392)
        .build();
    let first_out = to_instance()
        .ipv4(client(), inst1())
        .id(0x77)
        .fragment(0, true)
        .udp(cp, DNS_TARGET)
        .len(1008)
        .checksum(udp_checksum_after_dnat(&first))
        .fill(392)
        .build();
    rows.push(
        hvx(
            "first inner fragment: DNATed and remembered",
            to_hv1(1, &first),
        )
        .output(Output::Bytes(first_out))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_DECAP, 1)],
            frag: Some(((client(), vip(), 0x77, UDP), (1, inst1()))),
            ..Effects::default()
        }),
    );
    let later = from_client()
        .ipv4(client(), vip())
        .id(0x77)
        .fragment(50, false)
        .raw(ip_proto::UDP)
        .fill(600)
        .build();
    rows.push(
        hvx(
            "later inner fragment: destination address translated only",
            to_hv1(1, &later),
        )
        .setup(Setup {
            before: vec![(names::LBHV_DECAP, to_hv1(1, &first))],
            ..hv_setup()
        })
        .output(Output::Bytes(
            to_instance()
                .ipv4(client(), inst1())
                .id(0x77)
                .fragment(50, false)
                .raw(ip_proto::UDP)
                .fill(600)
                .build(),
        ))
        .effects(stat(SDN_LB_STAT_FRAGMENT)),
    );
    rows.push(
        hvx(
            "later inner fragment without its first: dropped",
            to_hv1(1, &later),
        )
        .verdict(Verdict::XdpDrop)
        .effects(dropped(SDN_LB_DROP_FRAG_UNTRACKED)),
    );

    // Reverse NAT of replies (TC on the instance port's receive side).
    let from_instance = || Frame::eth(INST_MAC, HVPORT_MAC).ipv4(inst1(), client());
    let to_client = || Frame::eth(INST_MAC, HVPORT_MAC).ipv4(vip(), client());
    rows.push(
        rnat(
            "reply of a tracked flow leaves as VIP:80, exact bytes",
            from_instance()
                .tcp(HTTP_TARGET, cp)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
        )
        .setup(Setup {
            hv_ct: vec![(cp, HTTP_TARGET, TCP, 80, new)],
            ..hv_setup()
        })
        .output(Output::Bytes(
            to_client()
                .tcp(80, cp)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
        ))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_RNAT, 1)],
            hv_ct: Some(((cp, HTTP_TARGET, TCP), (80, est))),
            ..Effects::default()
        }),
    );
    rows.push(
        rnat(
            "udp reply leaves as VIP:53",
            from_instance()
                .udp(DNS_TARGET, cp)
                .payload(b"answer")
                .build(),
        )
        .setup(Setup {
            hv_ct: vec![(cp, DNS_TARGET, UDP, 53, new)],
            ..hv_setup()
        })
        .output(Output::Bytes(
            to_client().udp(53, cp).payload(b"answer").build(),
        ))
        .effects(stat(SDN_LB_STAT_RNAT)),
    );
    rows.push(
        rnat(
            "decap of the syn, then the instance's syn-ack: reverse-NATed",
            from_instance()
                .tcp(HTTP_TARGET, cp)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
        )
        .setup(Setup {
            before: vec![(names::LBHV_DECAP, to_hv1(1, &syn_in))],
            ..hv_setup()
        })
        .output(Output::Bytes(
            to_client()
                .tcp(80, cp)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
        ))
        .effects(Effects {
            stats: vec![(SDN_LB_STAT_RNAT, 1)],
            hv_ct: Some(((cp, HTTP_TARGET, TCP), (80, est))),
            ..Effects::default()
        }),
    );
    rows.push(
        rnat(
            "the instance's own traffic (no tracked flow): untouched",
            from_instance()
                .tcp(HTTP_TARGET, cp)
                .flags(TcpFlags::ACK)
                .build(),
        )
        .effects(stat(SDN_LB_STAT_PASS)),
    );
    rows.push(
        rnat(
            "icmp from the instance: untouched",
            from_instance().icmp_echo_request(1, 1).build(),
        )
        .effects(stat(SDN_LB_STAT_PASS)),
    );
    rows
}

/// The UDP checksum of `frame`'s first fragment once its destination is the instance: the
/// checksum covers the whole datagram, so only the changed words move it (RFC 1624), computed
/// here in plain integers.
fn udp_checksum_after_dnat(frame: &[u8]) -> u16 {
    let ip = Ipv4Packet::new(&frame[14..]).unwrap();
    let udp = UdpPacket::new(ip.payload()).unwrap();
    let mut sum = u32::from(!udp.get_checksum());
    let words = |a: Ipv4Addr| {
        let o = a.octets();
        [
            u16::from_be_bytes([o[0], o[1]]),
            u16::from_be_bytes([o[2], o[3]]),
        ]
    };
    for w in words(vip()) {
        sum += u32::from(!w);
    }
    for w in words(inst1()) {
        sum += u32::from(w);
    }
    sum += u32::from(!53u16);
    sum += u32::from(DNS_TARGET);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// ---- the tests ---------------------------------------------------------------------------------

#[test]
fn lb_node_fixtures() {
    if !privilege::gate("lb node fixtures", privilege::bpf_available()) {
        return;
    }
    let rows = lb_rows();
    run_all(&LbSuite::new(Side::Lb), &rows);
}

#[test]
fn lb_hypervisor_fixtures() {
    if !privilege::gate("lb hypervisor fixtures", privilege::bpf_available()) {
        return;
    }
    let rows = hv_rows();
    run_all(&LbSuite::new(Side::Hv), &rows);
}

/// Recomputes, with pnet_packet, every checksum of what the programs really output: the outer and
/// inner IPv4 headers and the TCP/UDP/ICMP checksums.
fn verify_checksums(frame: &[u8]) -> Result<(), String> {
    let ip = Ipv4Packet::new(&frame[14..]).ok_or("no ipv4 header")?;
    if ip.get_checksum() != pipv4::checksum(&ip) {
        return Err(format!("ipv4 header checksum {:#06x}", ip.get_checksum()));
    }
    let (src, dst) = (ip.get_source(), ip.get_destination());
    let l4 = ip.payload();
    match ip.get_next_level_protocol().0 {
        ip_proto::UDP => {
            let udp = UdpPacket::new(l4).ok_or("cut udp")?;
            if udp.get_destination() == 6081 {
                if udp.get_checksum() != 0 {
                    return Err("outer udp checksum not 0".into());
                }
                let mut inner = vec![0u8; 14];
                inner[12..14].copy_from_slice(&[0x08, 0x00]);
                inner.extend_from_slice(&udp.payload()[8..]);
                return verify_checksums(&inner);
            }
            if udp.get_checksum() != 0
                && udp.get_checksum() != pudp::ipv4_checksum(&udp, &src, &dst)
            {
                return Err(format!("udp checksum {:#06x}", udp.get_checksum()));
            }
        }
        ip_proto::TCP => {
            let tcp = TcpPacket::new(l4).ok_or("cut tcp")?;
            if tcp.get_checksum() != ptcp::ipv4_checksum(&tcp, &src, &dst) {
                return Err(format!("tcp checksum {:#06x}", tcp.get_checksum()));
            }
        }
        ip_proto::ICMP => {
            let icmp = IcmpPacket::new(l4).ok_or("cut icmp")?;
            if icmp.get_checksum() != picmp::checksum(&icmp) {
                return Err(format!("icmp checksum {:#06x}", icmp.get_checksum()));
            }
        }
        _ => {}
    }
    Ok(())
}

#[test]
fn checksums_of_outputs_verify_independently() {
    if !privilege::gate("lb checksum checks", privilege::bpf_available()) {
        return;
    }
    let load = |suite: &LbSuite, programs: &[&str], setup: &Setup| {
        let mut loader = aya::EbpfLoader::new();
        for (map, size) in suite.max_entries() {
            loader.map_max_entries(map, size);
        }
        let mut ebpf = loader.load(suite.object().bytes).unwrap();
        for name in programs {
            match ebpf.program_mut(name).unwrap() {
                aya::programs::Program::Xdp(p) => p.load().unwrap(),
                aya::programs::Program::SchedClassifier(p) => p.load().unwrap(),
                _ => unreachable!(),
            }
        }
        suite.setup(&mut ebpf, setup).unwrap();
        ebpf
    };
    let lb_suite = LbSuite::new(Side::Lb);
    let hv_suite = LbSuite::new(Side::Hv);
    let lbx = load(&lb_suite, &[names::LB_XDP], &Setup::default());
    let hvx = load(
        &hv_suite,
        &[names::LBHV_DECAP, names::LBHV_RNAT],
        &hv_setup(),
    );
    let mut checked = 0;
    for (i, (cport, payload)) in [
        (40200u16, &b""[..]),
        (40201, b"x"),
        (40202, b"odd length payload!"),
    ]
    .into_iter()
    .enumerate()
    {
        let tcp = from_client()
            .ipv4(client(), vip())
            .ttl(33 + i as u8)
            .id(1000 + i as u16)
            .tcp(cport, 80)
            .flags(TcpFlags::PSH | TcpFlags::ACK)
            .payload(payload)
            .build();
        let udp = from_client()
            .ipv4(client(), vip())
            .udp(cport, 53)
            .payload(payload)
            .build();
        for frame in [tcp, udp] {
            let out = run_once(&lbx, names::LB_XDP, &frame).unwrap();
            assert_eq!(out.code, Verdict::XdpTx.code());
            verify_checksums(&out.output).unwrap_or_else(|e| panic!("encap: {e}"));
            // The LB node's output, re-addressed to HV1's backend 1, through the hypervisor.
            let inner = &out.output[14 + 36..];
            let at_hv = geneve_to(hv(1), 6081, &geneve_header(1), inner);
            let dec = run_once(&hvx, names::LBHV_DECAP, &at_hv).unwrap();
            assert_eq!(dec.code, Verdict::XdpPass.code());
            verify_checksums(&dec.output).unwrap_or_else(|e| panic!("decap: {e}"));
            assert_eq!(&dec.output[30..34], &inst1().octets());
            // The instance's answer: addresses and ports swapped.
            let mut reply = dec.output.clone();
            let ip = 14;
            let ihl = usize::from(reply[ip] & 0x0f) * 4;
            let (s, d) = (
                reply[ip + 12..ip + 16].to_vec(),
                reply[ip + 16..ip + 20].to_vec(),
            );
            reply[ip + 12..ip + 16].copy_from_slice(&d);
            reply[ip + 16..ip + 20].copy_from_slice(&s);
            let l4 = ip + ihl;
            let (sp, dp) = (reply[l4..l4 + 2].to_vec(), reply[l4 + 2..l4 + 4].to_vec());
            reply[l4..l4 + 2].copy_from_slice(&dp);
            reply[l4 + 2..l4 + 4].copy_from_slice(&sp);
            let rn = run_once(&hvx, names::LBHV_RNAT, &reply).unwrap();
            assert_eq!(rn.code, Verdict::TcNext.code());
            verify_checksums(&rn.output).unwrap_or_else(|e| panic!("reverse nat: {e}"));
            assert_eq!(&rn.output[26..30], &vip().octets());
            checked += 3;
        }
    }
    let echo = from_client()
        .ipv4(client(), vip())
        .ttl(7)
        .icmp_echo_request(0xffff, 0xfffe)
        .payload(b"\xff\xff\xff")
        .build();
    let out = run_once(&lbx, names::LB_XDP, &echo).unwrap();
    assert_eq!(out.code, Verdict::XdpTx.code());
    verify_checksums(&out.output).unwrap_or_else(|e| panic!("echo: {e}"));
    checked += 1;
    println!("checksums verified on {checked} outputs");
}
