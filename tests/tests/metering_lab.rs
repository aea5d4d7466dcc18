//! Per-port metering on real traffic: two instances on one hypervisor, the metering programs on
//! their host-side ports, real ping and UDP traffic, and counters equal to what was sent.

use std::net::IpAddr;

use sdn_ebpf::privilege::gate;
use sdn_tests::probe;
use sdn_tests::scenario::MeteredPair;

const PINGS: u64 = 20;
const DATAGRAMS: u64 = 50;
const PAYLOAD: usize = 100;
/// Ethernet 14 + IPv4 20 + ICMP 8 + `ping`'s default 56 bytes of data.
const PING_FRAME: u64 = 98;
/// Ethernet 14 + IPv4 20 + UDP 8 + payload.
const UDP_FRAME: u64 = 14 + 20 + 8 + PAYLOAD as u64;

#[test]
fn counters_equal_what_was_sent() {
    if !gate("counters_equal_what_was_sent", probe()) {
        return;
    }
    let mut pair = MeteredPair::new("metering");
    let [ip1, ip2] = MeteredPair::VM_IPV4;
    // Resolve neighbours first, so the measured window holds only the traffic below (ARP and
    // IPv6 chatter are counted in their own classes; the checks are on IPv4).
    pair.lab.exec("vm1", &["ping", "-c", "1", "-W", "2", ip2]);
    let before = [pair.counters("vm1"), pair.counters("vm2")];

    let out = pair.lab.exec(
        "vm1",
        &[
            "ping",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.02",
            "-W",
            "2",
            ip2,
        ],
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(&format!("{PINGS} packets transmitted, {PINGS} received")),
        "ping lost packets: {summary}"
    );

    let receiver = pair.udp_socket("vm2", ip2.parse::<IpAddr>().unwrap(), 9999);
    let sender = pair.udp_socket("vm1", ip1.parse::<IpAddr>().unwrap(), 0);
    let mut buf = [0u8; 2048];
    for i in 0..DATAGRAMS {
        let payload = [i as u8; PAYLOAD];
        sender.send_to(&payload, (ip2, 9999)).expect("send");
        let (n, _) = receiver.recv_from(&mut buf).expect("receive the datagram");
        assert_eq!(n, PAYLOAD);
    }

    let after = [pair.counters("vm1"), pair.counters("vm2")];
    let delta = |vm: usize, egress: bool| {
        let (b, a) = if egress {
            (before[vm].egress.ipv4, after[vm].egress.ipv4)
        } else {
            (before[vm].ingress.ipv4, after[vm].ingress.ipv4)
        };
        (a.packets - b.packets, a.bytes - b.bytes)
    };
    // What an instance sent is counted exactly on its port's egress side. The receiving side
    // counts the same frames, plus what the hypervisor's own stack floods now and then (a 54-byte
    // IPv4 frame, an IGMPv3 report, shows up in some runs): a frame or two more, never fewer.
    let sent = (
        PINGS + DATAGRAMS,
        PINGS * PING_FRAME + DATAGRAMS * UDP_FRAME,
    );
    assert_eq!(delta(0, true), sent, "vm1 egress");
    let replies = (PINGS, PINGS * PING_FRAME);
    assert_eq!(delta(1, true), replies, "vm2 egress");
    for (vm, expected) in [(1, sent), (0, replies)] {
        let received = delta(vm, false);
        assert!(
            received.0 >= expected.0 && received.0 <= expected.0 + 2 && received.1 >= expected.1,
            "vm{} ingress {received:?}, the peer sent {expected:?}",
            vm + 1
        );
    }
    // Nothing malformed, nothing missed.
    for c in &after {
        assert_eq!(c.egress.malformed.packets + c.ingress.malformed.packets, 0);
    }
    let missed = pair
        .metering
        .as_ref()
        .unwrap()
        .missed()
        .expect("missed counter");
    assert_eq!(missed.packets, 0, "frames on unregistered ports");

    // Detaching removes the links and pins; the programs are gone from the ports.
    let pin_dir = pair.lab.pin_dir("hv1");
    pair.detach();
    assert!(!pin_dir.join("metering").exists());
    let port = pair.port("vm1").to_owned();
    let link = pair
        .lab
        .exec("hv1", &["ip", "-d", "link", "show", "dev", &port]);
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(
        !link.contains("xdp"),
        "XDP still attached after detach: {link}"
    );
    // Traffic still flows without the programs.
    pair.lab.exec("vm1", &["ping", "-c", "1", "-W", "2", ip2]);
}
