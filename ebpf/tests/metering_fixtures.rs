//! Fixtures for the per-port metering programs (`programs/metering.bpf.c`) through
//! BPF_PROG_TEST_RUN. Privileged: needs BPF (root); see `sdn_ebpf::privilege`.

use aya::Ebpf;
use aya::maps::{PerCpuArray, PerCpuHashMap, PerCpuValues};
use sdn_ebpf::abi::{
    Counter, MeterKey, MeterValue, SDN_CLASS_ARP, SDN_CLASS_IPV4, SDN_CLASS_IPV6,
    SDN_CLASS_MALFORMED, SDN_CLASS_OTHER, SDN_DIR_EGRESS, SDN_DIR_INGRESS,
};
use sdn_ebpf::fixture::{Fixture, Output, Suite, TEST_IFINDEX, Verdict, run_all};
use sdn_ebpf::object::{self, Object, names};
use sdn_ebpf::packet::{Frame, Mac, TcpFlags, ip4, ip6};
use sdn_ebpf::privilege;

struct Metering;

/// Whether the test port (ifindex 1) has counter entries, as the agent creates them on attach.
#[derive(Debug)]
struct Port {
    registered: bool,
}

impl Default for Port {
    fn default() -> Self {
        Port { registered: true }
    }
}

/// The one counter the frame must land in; every other counter must stay zero.
#[derive(Debug, Default)]
enum Counted {
    #[default]
    Nothing,
    /// (direction, class, bytes)
    Port(u32, u32, u64),
    /// Frames on an unregistered port (bytes).
    Missed(u64),
}

fn nr_cpus() -> usize {
    aya::util::nr_cpus().expect("possible CPUs")
}

impl Suite for Metering {
    type Setup = Port;
    type Effects = Counted;

    fn object(&self) -> Object {
        object::METERING
    }

    fn setup(&self, ebpf: &mut Ebpf, port: &Port) -> Result<(), String> {
        if !port.registered {
            return Ok(());
        }
        let mut meter: PerCpuHashMap<_, MeterKey, MeterValue> =
            PerCpuHashMap::try_from(ebpf.map_mut(names::METER_MAP).unwrap())
                .map_err(|e| e.to_string())?;
        for direction in [SDN_DIR_EGRESS, SDN_DIR_INGRESS] {
            let zero = PerCpuValues::try_from(vec![MeterValue::default(); nr_cpus()]).unwrap();
            let key = MeterKey {
                ifindex: TEST_IFINDEX,
                direction,
            };
            meter.insert(key, zero, 0).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn check(&self, ebpf: &mut Ebpf, expected: &Counted) -> Result<(), String> {
        let meter: PerCpuHashMap<_, MeterKey, MeterValue> =
            PerCpuHashMap::try_from(ebpf.map(names::METER_MAP).unwrap())
                .map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        for entry in meter.iter() {
            let (key, per_cpu) = entry.map_err(|e| e.to_string())?;
            for value in per_cpu.iter() {
                for (class, c) in value.by_class.iter().enumerate() {
                    if c.packets != 0 || c.bytes != 0 {
                        got.push(format!("port dir {} class {class}: {c:?}", key.direction));
                    }
                }
            }
        }
        let missed: PerCpuArray<_, Counter> =
            PerCpuArray::try_from(ebpf.map(names::METER_MISSED_MAP).unwrap())
                .map_err(|e| e.to_string())?;
        for c in missed.get(&0, 0).map_err(|e| e.to_string())?.iter() {
            if c.packets != 0 || c.bytes != 0 {
                got.push(format!("missed: {c:?}"));
            }
        }
        let want = match expected {
            Counted::Nothing => vec![],
            Counted::Port(dir, class, bytes) => vec![format!(
                "port dir {dir} class {class}: {:?}",
                Counter {
                    packets: 1,
                    bytes: *bytes
                }
            )],
            Counted::Missed(bytes) => vec![format!(
                "missed: {:?}",
                Counter {
                    packets: 1,
                    bytes: *bytes
                }
            )],
        };
        if got == want {
            Ok(())
        } else {
            Err(format!("counters {got:?}, expected {want:?}"))
        }
    }
}

const A: Mac = Mac::local(1);
const B: Mac = Mac::local(2);

/// A receive-side (XDP) row: the frame passes and lands in `class` with its full length.
fn rx(name: &str, frame: Vec<u8>, class: u32) -> Fixture<Metering> {
    let bytes = frame.len() as u64;
    Fixture::new(name, names::METER_RX, frame).effects(Counted::Port(SDN_DIR_EGRESS, class, bytes))
}

/// A transmit-side (TC) row: the frame goes on to the next program and lands in `class`.
fn tx(name: &str, frame: Vec<u8>, class: u32) -> Fixture<Metering> {
    let bytes = frame.len() as u64;
    Fixture::new(name, names::METER_TX, frame)
        .verdict(Verdict::TcNext)
        .effects(Counted::Port(SDN_DIR_INGRESS, class, bytes))
}

/// A frame the kernel refuses to run any program on: nothing may be counted.
fn refused(name: &str, program: &'static str, frame: Vec<u8>) -> Fixture<Metering> {
    Fixture::new(name, program, frame).verdict(Verdict::Refused)
}

fn v4() -> (std::net::Ipv4Addr, std::net::Ipv4Addr) {
    (ip4("198.18.0.1"), ip4("198.18.0.2"))
}

fn v6() -> (std::net::Ipv6Addr, std::net::Ipv6Addr) {
    (ip6("2001:db8::1"), ip6("2001:db8::2"))
}

/// `frame` with its EtherType replaced (the body stays as it was).
fn with_ethertype(mut frame: Vec<u8>, ethertype: u16) -> Vec<u8> {
    frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
    frame
}

fn rows() -> Vec<Fixture<Metering>> {
    let (s4, d4) = v4();
    let (s6, d6) = v6();
    let udp4 = || {
        Frame::eth(A, B)
            .ipv4(s4, d4)
            .udp(40000, 53)
            .payload(b"query")
    };
    let mut nine_ext = Frame::eth(A, B).ipv6(s6, d6);
    for _ in 0..9 {
        nine_ext = nine_ext.dest_opts();
    }
    vec![
        rx("ipv4 udp", udp4().build(), SDN_CLASS_IPV4),
        rx(
            "ipv4 padded to the ethernet minimum",
            udp4().pad_to(60).build(),
            SDN_CLASS_IPV4,
        ),
        rx(
            "ipv4 with options, tcp syn",
            Frame::eth(A, B)
                .ipv4(s4, d4)
                .options([1, 1, 1, 0])
                .tcp(40000, 80)
                .flags(TcpFlags::SYN)
                .build(),
            SDN_CLASS_IPV4,
        ),
        rx(
            "ipv4 over vlan",
            Frame::eth(A, B).vlan(100).ipv4(s4, d4).udp(1, 2).build(),
            SDN_CLASS_IPV4,
        ),
        rx(
            "ipv4 over qinq",
            Frame::eth(A, B).qinq(10, 20).ipv4(s4, d4).udp(1, 2).build(),
            SDN_CLASS_IPV4,
        ),
        rx(
            "three vlan tags are malformed",
            Frame::eth(A, B)
                .qinq(10, 20)
                .vlan(30)
                .ipv4(s4, d4)
                .udp(1, 2)
                .build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "vlan tag cut short",
            Frame::eth(A, B)
                .vlan(100)
                .ipv4(s4, d4)
                .udp(1, 2)
                .truncate_to(16)
                .build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "ipv4 header cut short",
            udp4().truncate_to(14 + 10).build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "ipv4 total length beyond the frame",
            udp4().ip_len(200).build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "ipv4 ihl below 5",
            Frame::eth(A, B).ipv4(s4, d4).ihl(4).udp(1, 2).build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "ipv4 fragment",
            Frame::eth(A, B)
                .ipv4(s4, d4)
                .fragment(185, false)
                .udp(1, 2)
                .build(),
            SDN_CLASS_IPV4,
        ),
        rx(
            "ipv6 icmpv6 echo",
            Frame::eth(A, B)
                .ipv6(s6, d6)
                .icmpv6_echo_request(1, 1)
                .build(),
            SDN_CLASS_IPV6,
        ),
        rx(
            "ipv6 hop-by-hop, routing, destination options, udp",
            Frame::eth(A, B)
                .ipv6(s6, d6)
                .hop_by_hop()
                .routing(0, 0, &[d6])
                .dest_opts()
                .udp(1, 2)
                .build(),
            SDN_CLASS_IPV6,
        ),
        rx(
            "ipv6 fragment header",
            Frame::eth(A, B)
                .ipv6(s6, d6)
                .fragment(0, true, 7)
                .udp(1, 2)
                .payload([0; 16])
                .build(),
            SDN_CLASS_IPV6,
        ),
        rx(
            "ipv6 chain of nine extension headers is malformed",
            nine_ext.udp(1, 2).build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "ipv6 extension header cut short",
            Frame::eth(A, B)
                .ipv6(s6, d6)
                .hop_by_hop()
                .udp(1, 2)
                .truncate_to(14 + 40 + 1)
                .build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "ipv6 header cut short",
            Frame::eth(A, B)
                .ipv6(s6, d6)
                .udp(1, 2)
                .truncate_to(14 + 39)
                .build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "arp request",
            Frame::eth(A, Mac::BROADCAST).arp_request(A, s4, d4).build(),
            SDN_CLASS_ARP,
        ),
        rx(
            "arp cut short",
            Frame::eth(A, Mac::BROADCAST)
                .arp_request(A, s4, d4)
                .truncate_to(14 + 10)
                .build(),
            SDN_CLASS_MALFORMED,
        ),
        rx(
            "lldp is other",
            with_ethertype(udp4().build(), 0x88cc),
            SDN_CLASS_OTHER,
        ),
        rx(
            "ethernet header alone, ipv4 type",
            udp4().truncate_to(14).build(),
            SDN_CLASS_MALFORMED,
        ),
        refused(
            "frame shorter than an ethernet header never reaches xdp",
            names::METER_RX,
            vec![0x02; 10],
        ),
        refused("empty frame never reaches xdp", names::METER_RX, vec![]),
        refused(
            "frame shorter than an ethernet header never reaches tc",
            names::METER_TX,
            vec![0x02; 13],
        ),
        Fixture::new(
            "unregistered port is counted as missed",
            names::METER_RX,
            udp4().build(),
        )
        .setup(Port { registered: false })
        .effects(Counted::Missed(udp4().build().len() as u64)),
        tx(
            "tc: ipv4 tcp",
            Frame::eth(B, A)
                .ipv4(d4, s4)
                .tcp(80, 40000)
                .flags(TcpFlags::SYN | TcpFlags::ACK)
                .build(),
            SDN_CLASS_IPV4,
        ),
        tx(
            "tc: ipv6 over vlan",
            Frame::eth(B, A).vlan(7).ipv6(d6, s6).udp(2, 1).build(),
            SDN_CLASS_IPV6,
        ),
        refused(
            "tc: ipv4 header cut short is refused by skb test runs",
            names::METER_TX,
            udp4().truncate_to(14 + 12).build(),
        ),
        tx(
            "tc: ipv4 total length beyond the frame",
            udp4().ip_len(300).build(),
            SDN_CLASS_MALFORMED,
        ),
        tx(
            "tc: ipv6 extension header cut short",
            Frame::eth(B, A)
                .ipv6(d6, s6)
                .hop_by_hop()
                .udp(2, 1)
                .truncate_to(14 + 40 + 1)
                .build(),
            SDN_CLASS_MALFORMED,
        ),
        tx(
            "tc: arp reply",
            Frame::eth(B, A).arp_reply(B, d4, A, s4).build(),
            SDN_CLASS_ARP,
        ),
        Fixture::new(
            "tc: unregistered port is counted as missed",
            names::METER_TX,
            udp4().build(),
        )
        .verdict(Verdict::TcNext)
        .setup(Port { registered: false })
        .effects(Counted::Missed(udp4().build().len() as u64)),
        Fixture::new(
            "metering never rewrites a frame",
            names::METER_RX,
            udp4().build(),
        )
        .output(Output::Unchanged)
        .effects(Counted::Port(
            SDN_DIR_EGRESS,
            SDN_CLASS_IPV4,
            udp4().build().len() as u64,
        )),
    ]
}

#[test]
fn metering_fixtures() {
    if !privilege::gate("metering_fixtures", privilege::bpf_available()) {
        return;
    }
    let ran = run_all(&Metering, &rows());
    assert!(ran >= 15);
}
