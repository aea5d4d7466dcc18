//! Private networks on real traffic: three hypervisors, two networks with the same address range,
//! the node's bridges, VXLAN devices, FDB and neighbour entries programmed through the agent's
//! netlink driver (`node_agent::network`).
//!
//! ```text
//!   hv1 (198.18.0.1)          hv2 (198.18.0.2)          hv3 (198.18.0.3)
//!   a1 A 198.18.10.1          a2 A 198.18.10.2
//!   b1 B 198.18.10.1          b2 B 198.18.10.3          b3 B 198.18.10.4
//! ```
//! Network A (VNI 100) spans hv1 and hv2; network B (VNI 200) spans all three. a1 and b1 share an
//! address; b2's address is free in A, so "a1 cannot reach b2" is about isolation, not a clash.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use node_agent::network::{
    DeviceNames, FdbEntry, FdbTarget, MacAddr, NetlinkOp, NetworkDriver, NetworkIntent,
    NodeNetworks, RemotePort,
};
use sdn_ebpf::privilege::gate;
use sdn_tests::{InstanceSpec, Lab, LabError, probe};

const VNI_A: u32 = 100;
const VNI_B: u32 = 200;

/// (instance, hypervisor, VNI, last byte of its addresses).
const INSTANCES: [(&str, &str, u32, u8); 5] = [
    ("a1", "hv1", VNI_A, 1),
    ("a2", "hv2", VNI_A, 2),
    ("b1", "hv1", VNI_B, 1),
    ("b2", "hv2", VNI_B, 3),
    ("b3", "hv3", VNI_B, 4),
];
const HYPERVISORS: [&str; 3] = ["hv1", "hv2", "hv3"];

fn ipv4(last: u8) -> String {
    format!("198.18.10.{last}")
}

/// The lab and what each hypervisor should hold, computed as the controller does: per network
/// on a node, its local ports, its ports elsewhere (with their node's VTEP) and the flood list
/// (the other nodes hosting it).
struct Cloud {
    lab: Lab,
    intents: BTreeMap<&'static str, NodeNetworks>,
}

impl Cloud {
    fn new(name: &str) -> Cloud {
        let mut lab = Lab::new(name);
        for hv in HYPERVISORS {
            lab.add_hypervisor(hv);
        }
        for (name, hv, _, last) in INSTANCES {
            let spec = InstanceSpec::new()
                .ipv4(&format!("{}/24", ipv4(last)))
                .ipv6(&format!("2001:db8:a::{last}/64"));
            lab.add_instance(name, hv, spec);
        }
        let vtep = |hv: &str| lab.hypervisor(hv).underlay_ipv4.addr();
        let mut intents = BTreeMap::new();
        for hv in HYPERVISORS {
            let mut node = NodeNetworks::new(vtep(hv));
            for vni in [VNI_A, VNI_B] {
                let members: Vec<_> = INSTANCES.iter().filter(|i| i.2 == vni).collect();
                if !members.iter().any(|i| i.1 == hv) {
                    continue;
                }
                let mut net = NetworkIntent::new(format!("net-{vni}"), vni);
                for &&(name, host, _, _) in &members {
                    let instance = lab.instance(name);
                    if host == hv {
                        net.local_ports.insert(instance.port.clone());
                        continue;
                    }
                    let v4 = instance.ipv4.as_ref().map(|c| c.addr());
                    let v6 = instance.ipv6.as_ref().map(|c| c.addr());
                    net.remote_ports.push(RemotePort {
                        mac: MacAddr(instance.mac.0),
                        ipv4: v4.and_then(|a| match a {
                            IpAddr::V4(a) => Some(a),
                            IpAddr::V6(_) => None,
                        }),
                        ipv6: v6.and_then(|a| match a {
                            IpAddr::V6(a) => Some(a),
                            IpAddr::V4(_) => None,
                        }),
                        vtep: vtep(host),
                    });
                    net.flood.insert(vtep(host));
                }
                node.networks.push(net);
            }
            intents.insert(hv, node);
        }
        Cloud { lab, intents }
    }

    fn driver(&self, hv: &str) -> NetworkDriver {
        NetworkDriver::new(self.lab.netns_path(hv), DeviceNames::default())
    }

    /// Applies every hypervisor's intent; returns how many operations each took.
    fn apply_all(&self) -> BTreeMap<&'static str, usize> {
        self.intents
            .iter()
            .map(|(hv, intent)| {
                let ops = self
                    .driver(hv)
                    .apply(intent)
                    .unwrap_or_else(|e| panic!("{hv}: {e}"));
                (*hv, ops.len())
            })
            .collect()
    }

    fn ping_ok(&self, from: &str, to: &str) {
        self.lab
            .exec(from, &["ping", "-c", "2", "-i", "0.2", "-W", "2", to]);
    }

    fn ping_fails(&self, from: &str, to: &str) {
        match self
            .lab
            .try_exec(from, &["ping", "-c", "2", "-i", "0.2", "-W", "1", to])
        {
            Err(LabError::Exit { .. }) => {}
            other => panic!("{from} reached {to} across networks: {other:?}"),
        }
    }

    /// rx/tx packet counters of `dev` in `node`'s namespace, from `/proc/net/dev` read by a
    /// process inside the namespace (`/sys/class/net` would show the root namespace's devices,
    /// as `nsenter` does not remount `/sys`).
    fn packets(&self, node: &str, dev: &str) -> (u64, u64) {
        let out = self.lab.exec(node, &["cat", "/proc/net/dev"]);
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let Some((name, fields)) = line.split_once(':') else {
                continue;
            };
            if name.trim() == dev {
                let f: Vec<u64> = fields
                    .split_whitespace()
                    .map(|v| v.parse().unwrap())
                    .collect();
                return (f[1], f[9]);
            }
        }
        panic!("no {dev} in {node}'s /proc/net/dev:\n{text}");
    }

    /// Sends `count` ARP requests for addresses nobody in the network holds (so no node answers
    /// them and the bridges flood them) from `instance`'s NIC, through a packet socket.
    fn arp_storm(&self, instance: &str, count: usize) {
        let i = self.lab.instance(instance);
        let (mac, ip) = (i.mac.0, i.ipv4.as_ref().unwrap().addr());
        let IpAddr::V4(ip) = ip else { unreachable!() };
        let frames: Vec<Vec<u8>> = (0..count)
            .map(|n| arp_request(mac, ip, Ipv4Addr::new(198, 18, 10, 100 + (n % 100) as u8)))
            .collect();
        let sent = self
            .lab
            .run_in(instance, move || send_frames("eth0", &frames));
        assert_eq!(sent, count, "frames sent from {instance}");
    }
}

/// A packet socket capturing every frame on one device of a lab node (opened inside the node's
/// namespace; read from anywhere).
struct Sniffer(OwnedFd);

impl Sniffer {
    fn open(lab: &Lab, node: &str, dev: &str) -> Sniffer {
        let dev = std::ffi::CString::new(dev).unwrap();
        // SAFETY: plain libc calls; the fd is owned by the returned `OwnedFd`.
        let fd = lab.run_in(node, move || unsafe {
            let ifindex = libc::if_nametoindex(dev.as_ptr());
            assert_ne!(ifindex, 0, "no {dev:?}");
            let all = (libc::ETH_P_ALL as u16).to_be();
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(all));
            assert!(
                fd >= 0,
                "packet socket: {}",
                std::io::Error::last_os_error()
            );
            let fd = OwnedFd::from_raw_fd(fd);
            let size: libc::c_int = 8 << 20;
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&raw const size).cast(),
                size_of::<libc::c_int>() as u32,
            );
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = all;
            addr.sll_ifindex = ifindex as i32;
            let rc = libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            fd
        });
        Sniffer(fd)
    }

    /// Every frame captured since the last call.
    fn drain(&self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            // SAFETY: `buf` is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                return frames;
            }
            frames.push(buf[..n as usize].to_vec());
        }
    }
}

/// The VNI of a VXLAN-in-IPv4 frame (UDP to port 4789), if it is one.
fn vxlan_vni(frame: &[u8]) -> Option<u32> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 17 {
        return None;
    }
    let udp = 14 + usize::from(frame[14] & 0x0f) * 4;
    if frame.get(udp + 2..udp + 4)? != 4789u16.to_be_bytes() {
        return None;
    }
    let vni = frame.get(udp + 12..udp + 15)?;
    Some(u32::from_be_bytes([0, vni[0], vni[1], vni[2]]))
}

fn arp_request(mac: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

/// Sends raw Ethernet frames on `dev` of the calling thread's namespace; returns how many went.
fn send_frames(dev: &str, frames: &[Vec<u8>]) -> usize {
    let name = std::ffi::CString::new(dev).unwrap();
    // SAFETY: plain libc calls on a socket this function owns and closes; the address and the
    // frames outlive the calls that read them.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        assert_ne!(ifindex, 0, "no {dev}");
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        addr.sll_halen = 6;
        let mut sent = 0;
        for frame in frames {
            let n = libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            );
            if n == frame.len() as isize {
                sent += 1;
            }
        }
        libc::close(fd);
        sent
    }
}

#[test]
fn networks_with_one_range_are_isolated_and_arp_is_answered_locally() {
    if !gate("private_networks_isolated", probe()) {
        return;
    }
    let cloud = Cloud::new("private-networks-isolated");
    cloud.apply_all();

    cloud.ping_ok("a1", &ipv4(2));
    cloud.ping_ok("a2", &ipv4(1));
    cloud.ping_ok("b1", &ipv4(3));
    cloud.ping_ok("b3", &ipv4(1));
    cloud.ping_ok("b2", &ipv4(4));
    cloud.ping_ok("a1", "2001:db8:a::2");
    cloud.ping_ok("b1", "2001:db8:a::3");

    // b2's address is free in A and a2's is free in B: nothing crosses.
    cloud.ping_fails("a1", &ipv4(3));
    cloud.ping_fails("b1", &ipv4(2));
    cloud.ping_fails("a2", &ipv4(4));
    // Even knowing b2's MAC, a1 cannot send it anything: A's bridge does not know that MAC, and
    // what it floods leaves with VNI 100, which only A's devices take.
    let b2 = cloud.lab.instance("b2").mac.0;
    let b2_mac = MacAddr(b2).to_string();
    #[rustfmt::skip]
    cloud.lab.exec("a1", &["ip", "neigh", "replace", &ipv4(3), "lladdr", &b2_mac, "dev", "eth0", "nud", "permanent"]);
    let sniffer = Sniffer::open(&cloud.lab, "b2", "eth0");
    cloud.ping_fails("a1", &ipv4(3));
    let a1_mac = cloud.lab.instance("a1").mac.0;
    let from_a1 = sniffer
        .drain()
        .iter()
        .filter(|f| f[6..12] == a1_mac)
        .count();
    assert_eq!(from_a1, 0, "b2 received frames from a1 (network A)");

    // A broadcast ARP request for a remote port is answered by hv1's bridge and goes no further
    // (`-b`: busybox arping would otherwise switch to unicast requests after the first reply,
    // and unicast ARP, like the kernel's reachability probes, is rightly forwarded to its owner).
    cloud
        .lab
        .exec("a1", &["ip", "neigh", "flush", "dev", "eth0"]);
    let vxlan = Sniffer::open(&cloud.lab, "hv1", "sdnvx100");
    #[rustfmt::skip]
    let out = cloud.lab.exec("a1", &["busybox", "arping", "-b", "-c", "2", "-w", "3", "-I", "eth0", &ipv4(2)]);
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let a2_mac = MacAddr(cloud.lab.instance("a2").mac.0).to_string();
    assert!(
        text.contains(&a2_mac),
        "arping did not see a2's MAC: {text}"
    );
    let a2_ip = Ipv4Addr::new(198, 18, 10, 2).octets();
    let arp_for_a2 =
        |f: &Vec<u8>| f.get(12..14) == Some(&[0x08, 0x06]) && f.get(38..42) == Some(&a2_ip);
    let crossed = vxlan.drain().iter().filter(|f| arp_for_a2(f)).count();
    assert_eq!(
        crossed, 0,
        "ARP requests for a2 went out through hv1's VXLAN device"
    );
}

#[test]
fn broadcast_reaches_only_the_nodes_hosting_the_network() {
    if !gate("private_networks_broadcast", probe()) {
        return;
    }
    const STORM: usize = 400;
    let cloud = Cloud::new("private-networks-broadcast");
    cloud.apply_all();
    // Resolve the underlay (and let the fabric bridge learn every hypervisor's MAC), so what
    // follows is unicast VXLAN to the nodes of the flood list and nothing else.
    cloud.ping_ok("a1", &ipv4(2));
    cloud.ping_ok("b1", &ipv4(4));
    cloud.ping_ok("b2", &ipv4(4));
    let uplink = cloud.lab.hypervisor("hv1").uplink.clone();

    let sniffers: Vec<Sniffer> = HYPERVISORS
        .iter()
        .map(|hv| Sniffer::open(&cloud.lab, hv, &uplink))
        .collect();
    let before: Vec<u64> = HYPERVISORS
        .iter()
        .map(|hv| cloud.packets(hv, &uplink).0)
        .collect();
    cloud.arp_storm("a1", STORM);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after: Vec<u64> = HYPERVISORS
        .iter()
        .map(|hv| cloud.packets(hv, &uplink).0)
        .collect();
    let grew = |i: usize| after[i] - before[i];
    let vni_a = |i: usize| {
        let frames = sniffers[i].drain();
        frames
            .iter()
            .filter(|f| vxlan_vni(f) == Some(VNI_A))
            .count()
    };
    // hv2 hosts A: every broadcast arrives, once.
    assert!(
        grew(1) >= STORM as u64,
        "hv2 hosts A and got {} of {STORM}",
        grew(1)
    );
    let reached = vni_a(1);
    assert!(
        reached >= STORM,
        "{reached} VNI {VNI_A} packets on hv2's uplink, {STORM} sent"
    );
    // hv3 hosts only B: not one packet of A reaches its uplink. Its counter moves by the nodes'
    // own chatter only (router solicitations and MLD reports of the fresh instances of B, flooded
    // to B's nodes), far from the storm.
    assert_eq!(vni_a(2), 0, "VNI {VNI_A} packets on hv3's uplink");
    assert!(
        grew(2) < STORM as u64 / 20,
        "hv3 does not host A but received {} packets",
        grew(2)
    );

    // The same storm in B reaches hv3 (and hv2).
    let before: Vec<u64> = HYPERVISORS
        .iter()
        .map(|hv| cloud.packets(hv, &uplink).0)
        .collect();
    cloud.arp_storm("b1", STORM);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after: Vec<u64> = HYPERVISORS
        .iter()
        .map(|hv| cloud.packets(hv, &uplink).0)
        .collect();
    for (i, hv) in HYPERVISORS.iter().enumerate().skip(1) {
        let grew = after[i] - before[i];
        assert!(
            grew >= STORM as u64,
            "{hv} hosts B and got {grew} of {STORM}"
        );
    }
}

#[test]
fn reapplying_is_a_no_op_and_repairs_a_deleted_fdb_entry() {
    if !gate("private_networks_reapply", probe()) {
        return;
    }
    let cloud = Cloud::new("private-networks-reapply");
    let first = cloud.apply_all();
    assert!(first.values().all(|&n| n > 0), "{first:?}");
    let again = cloud.apply_all();
    assert!(
        again.values().all(|&n| n == 0),
        "re-applying changed something: {again:?}"
    );

    // What the adapter reads back is what the intent says: hv1's flood entries for B name hv2
    // and hv3, for A only hv2.
    let state = cloud.driver("hv1").read_state().unwrap();
    let flood = |vni: u32| -> Vec<String> {
        let dev = DeviceNames::default().vxlan(vni);
        state
            .fdb
            .iter()
            .filter(|e| e.dev == dev && e.mac.is_zero())
            .map(|e| format!("{:?}", e.target))
            .collect()
    };
    assert_eq!(flood(VNI_A), ["Remote(198.18.0.2)"]);
    assert_eq!(flood(VNI_B), ["Remote(198.18.0.2)", "Remote(198.18.0.3)"]);

    // Drift: a2's FDB entry on hv1 deleted by hand.
    let a2 = cloud.lab.instance("a2");
    let a2_mac = MacAddr(a2.mac.0);
    #[rustfmt::skip]
    cloud.lab.exec("hv1", &["bridge", "fdb", "del", &a2_mac.to_string(), "dev", "sdnvx100", "dst", "198.18.0.2", "self"]);
    let driver = cloud.driver("hv1");
    let intent = &cloud.intents["hv1"];
    let lost = FdbEntry {
        dev: "sdnvx100".into(),
        mac: a2_mac,
        target: FdbTarget::Remote(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))),
    };
    assert_eq!(
        driver.plan(intent).unwrap(),
        [NetlinkOp::AddFdb(lost.clone())]
    );
    assert_eq!(driver.apply(intent).unwrap(), [NetlinkOp::AddFdb(lost)]);
    assert_eq!(driver.plan(intent).unwrap(), []);
    cloud.ping_ok("a1", &ipv4(2));

    // A flood entry deleted by hand comes back too, without touching its sibling.
    #[rustfmt::skip]
    cloud.lab.exec("hv1", &["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "sdnvx200", "dst", "198.18.0.3", "self"]);
    let repaired = driver.apply(intent).unwrap();
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert_eq!(driver.plan(intent).unwrap(), []);

    // A network leaving hv3 takes its devices with it.
    let empty = NodeNetworks::new(cloud.intents["hv3"].underlay);
    let removed = cloud.driver("hv3").apply(&empty).unwrap();
    assert_eq!(
        removed,
        [
            NetlinkOp::DeleteLink {
                name: "sdnvx200".into()
            },
            NetlinkOp::DeleteLink {
                name: "sdnbr200".into()
            },
        ]
    );
    assert!(cloud.driver("hv3").plan(&empty).unwrap().is_empty());
}
