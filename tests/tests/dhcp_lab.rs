//! DHCPv4 on real clients: busybox udhcpc in instance namespaces, the agent's DHCP server
//! (`node_agent::dhcp`) on the network's bridge in each hypervisor's namespace, the network
//! itself programmed by the agent's netlink driver.
//!
//! ```text
//!   hv1 (198.18.0.1): c1 (lease 198.18.20.10), c2 (no lease), s1 (static 198.18.20.20)
//!   hv2 (198.18.0.2): c3 (lease 198.18.20.11)
//! ```
//! One managed network, VNI 300, 198.18.20.0/24, gateway and server address 198.18.20.1.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use node_agent::dhcp::{DhcpConfig, DhcpServer, DhcpStats, Leases};
use node_agent::network::{
    DeviceNames, MacAddr, NetworkDriver, NetworkIntent, NodeNetworks, RemotePort,
};
use sdn_ebpf::privilege::gate;
use sdn_tests::{InstanceSpec, Lab, LabError, probe};

const VNI: u32 = 300;
const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 1);
const DNS: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 2);
const C1: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 10);
const C3: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 11);

/// A directory for the udhcpc script and what it records, removed on drop (also on panic).
struct Scratch(PathBuf);

impl Scratch {
    fn new(prefix: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("{prefix}-dhcp"));
        std::fs::create_dir_all(&dir).unwrap();
        // On "bound": configure the address (and MTU) and record what the server sent.
        let script = r#"#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/$mask" dev "$interface"
[ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
{
  echo "ip=$ip"; echo "mask=$mask"; echo "router=$router"; echo "dns=$dns"
  echo "lease=$lease"; echo "mtu=$mtu"; echo "serverid=$serverid"
} > "$(dirname "$0")/$interface-$$.env"
"#;
        let path = dir.join("udhcpc.sh");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Scratch(dir)
    }

    fn script(&self) -> String {
        self.0.join("udhcpc.sh").display().to_string()
    }

    /// The variables recorded by the script's last run (there is one per test client run;
    /// the caller clears them between runs).
    fn recorded(&self) -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        for entry in std::fs::read_dir(&self.0).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "env") {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        found.insert(k.to_owned(), v.to_owned());
                    }
                }
                std::fs::remove_file(&path).unwrap();
            }
        }
        found
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn udhcpc(lab: &Lab, instance: &str, script: &str) -> sdn_tests::Result<std::process::Output> {
    // -n: give up when no lease; -q: quit once bound; -f: foreground; 3 discovers, 1 s apart.
    #[rustfmt::skip]
    let argv = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", script];
    lab.try_exec(instance, &argv)
}

fn ipv4_addresses(lab: &Lab, instance: &str) -> String {
    let out = lab.exec(instance, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server's stats once `done` holds (the server thread runs on its own), or after 2 s.
fn wait_for(server: &DhcpServer, done: impl Fn(&DhcpStats) -> bool) -> DhcpStats {
    for _ in 0..100 {
        let stats = server.stats();
        if done(&stats) {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = server.stats();
    assert!(done(&stats), "the DHCP server did not get there: {stats:?}");
    stats
}

fn config() -> DhcpConfig {
    DhcpConfig {
        server_id: GATEWAY,
        subnet: "198.18.20.0/24".parse().unwrap(),
        router: Some(GATEWAY),
        dns: vec![DNS],
        lease_time: Duration::from_secs(600),
        mtu: Some(1450),
    }
}

fn start_server(lab: &Lab, hv: &str, leases: Leases) -> DhcpServer {
    let names = DeviceNames::default();
    DhcpServer::start(&lab.netns_path(hv), &names.bridge(VNI), config(), leases)
        .unwrap_or_else(|e| panic!("{hv}: {e}"))
}

#[test]
fn udhcpc_gets_its_ports_address_and_a_port_without_lease_gets_nothing() {
    if !gate("dhcp_lab", probe()) {
        return;
    }
    let mut lab = Lab::new("dhcp");
    let hv1 = lab.add_hypervisor("hv1");
    let hv2 = lab.add_hypervisor("hv2");
    let bare = || InstanceSpec::new().without_ipv4().without_ipv6();
    let c1 = lab.add_instance("c1", "hv1", bare());
    let c2 = lab.add_instance("c2", "hv1", bare());
    let s1 = lab.add_instance("s1", "hv1", bare().ipv4("198.18.20.20/24"));
    let c3 = lab.add_instance("c3", "hv2", bare());

    // The network on both nodes, as the controller would send it.
    let (vtep1, vtep2) = (hv1.underlay_ipv4.addr(), hv2.underlay_ipv4.addr());
    let remote = |mac: [u8; 6], ip: Option<Ipv4Addr>, vtep: IpAddr| RemotePort {
        mac: MacAddr(mac),
        ipv4: ip,
        ipv6: None,
        vtep,
    };
    let mut on_hv1 = NetworkIntent::new("managed", VNI);
    on_hv1.local_ports = [&c1.port, &c2.port, &s1.port].map(String::clone).into();
    on_hv1.remote_ports = vec![remote(c3.mac.0, Some(C3), vtep2)];
    on_hv1.flood.insert(vtep2);
    let mut on_hv2 = NetworkIntent::new("managed", VNI);
    on_hv2.local_ports.insert(c3.port.clone());
    on_hv2.remote_ports = vec![
        remote(c1.mac.0, Some(C1), vtep1),
        remote(c2.mac.0, None, vtep1),
        remote(s1.mac.0, Some(Ipv4Addr::new(198, 18, 20, 20)), vtep1),
    ];
    on_hv2.flood.insert(vtep1);
    for (hv, vtep, net) in [("hv1", vtep1, on_hv1), ("hv2", vtep2, on_hv2)] {
        let intent = NodeNetworks {
            underlay: vtep,
            networks: vec![net],
        };
        let driver = NetworkDriver::new(lab.netns_path(hv), DeviceNames::default());
        driver
            .apply(&intent)
            .unwrap_or_else(|e| panic!("{hv}: {e}"));
    }

    // Each node serves the leases of its own ports only.
    let server1 = start_server(&lab, "hv1", [(MacAddr(c1.mac.0), C1)].into());
    let server2 = start_server(&lab, "hv2", [(MacAddr(c3.mac.0), C3)].into());
    let scratch = Scratch::new(lab.prefix());

    // c1 gets its port's address, with the network's options, and can use it. Its client keeps
    // running, as on a VM.
    #[rustfmt::skip]
    let client = lab.spawn("c1", &["busybox", "udhcpc", "-i", "eth0", "-f", "-t", "3", "-T", "1", "-s", &scratch.script()]);
    let mut got = BTreeMap::new();
    for _ in 0..100 {
        got = scratch.recorded();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let expect = [
        ("ip", "198.18.20.10"),
        ("mask", "24"),
        ("router", "198.18.20.1"),
        ("dns", "198.18.20.2"),
        ("lease", "600"),
        ("mtu", "1450"),
        ("serverid", "198.18.20.1"),
    ];
    for (key, value) in expect {
        let log = client.log();
        assert_eq!(
            got.get(key).map(String::as_str),
            Some(value),
            "{key}; udhcpc said: {log}"
        );
    }
    assert!(ipv4_addresses(&lab, "c1").contains("198.18.20.10/24"));
    lab.exec(
        "c1",
        &["ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.20.20"],
    );
    let stats = server1.stats();
    assert_eq!((stats.offers, stats.acks), (1, 1), "{stats:?}");

    // A renewal (SIGUSR1) goes by unicast to the server's address, which the server answers ARP
    // for; the ACK comes back by unicast. A release (SIGUSR2) goes the same way.
    let signal = |s| kill(Pid::from_raw(client.pid() as i32), s).expect("signal udhcpc");
    signal(Signal::SIGUSR1);
    let stats = wait_for(&server1, |s| s.acks == 2);
    assert!(stats.arp_replies >= 1, "{stats:?}");
    signal(Signal::SIGUSR2);
    wait_for(&server1, |s| s.released == 1);
    lab.kill(&client);

    // c2 has no lease: no answer, no address; the server counts it.
    let before = server1.stats();
    match udhcpc(&lab, "c2", &scratch.script()) {
        Err(LabError::Exit { .. }) => {}
        other => panic!("udhcpc on c2 (no lease) should fail: {other:?}"),
    }
    assert!(scratch.recorded().is_empty());
    assert_eq!(ipv4_addresses(&lab, "c2").trim(), "");
    let after = wait_for(&server1, |s| s.unknown_mac > before.unknown_mac);
    assert_eq!(after.offers, before.offers);
    assert_eq!(after.acks, before.acks);

    // c3 on hv2 is served by hv2 alone: its broadcasts also reach hv1 over VXLAN, where no
    // lease is held for it, so hv1 sees them and stays silent.
    let quiet = server1.stats();
    udhcpc(&lab, "c3", &scratch.script()).expect("udhcpc on c3 gets a lease");
    let got = scratch.recorded();
    assert_eq!(got.get("ip").map(String::as_str), Some("198.18.20.11"));
    assert!(ipv4_addresses(&lab, "c3").contains("198.18.20.11/24"));
    let stats2 = server2.stats();
    assert_eq!((stats2.offers, stats2.acks), (1, 1), "{stats2:?}");
    let stats1 = wait_for(&server1, |s| s.unknown_mac > quiet.unknown_mac);
    assert_eq!(
        (stats1.offers, stats1.acks),
        (quiet.offers, quiet.acks),
        "hv1 answered c3"
    );
    lab.exec(
        "c3",
        &["ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.20.10"],
    );

    server1.stop();
    server2.stop();
}
