//! Private networks and DHCP through the real controller and agents (not the drivers directly):
//! a throwaway etcd, the real `sdn-controller` and two real `node-agent`s, everything created
//! through the gRPC API.
//!
//! ```text
//!   hv1 (198.18.0.1): a1 198.18.30.1 (A)   b1 198.18.30.1 (B)   d1 DHCP (C)
//!   hv2 (198.18.0.2): a2 198.18.30.2 (A)   b2 198.18.30.3 (B)   d2 DHCP (C)
//! ```
//! Networks A and B share 198.18.30.0/24 (VNIs from the controller). a1 reaches a2 over VXLAN and
//! b1 reaches b2, but a1 never reaches 198.18.30.3 (b2's address, which no instance of A holds) and
//! b1 never reaches 198.18.30.2 (a2's): the security group admits icmp from the range, so what
//! stops those pings is the networks' isolation. Network C is managed with an IPAM range of
//! 198.18.31.100-110: ports created without an address get one from the controller, and busybox
//! `udhcpc` in instances whose NIC starts without IPv4 gets exactly that address from the agent's
//! DHCP server; the two then ping each other.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sdn_controller::etcd_server::EtcdServer;
use sdn_ebpf::privilege::gate;
use sdn_proto::v1 as pb;
use sdn_tests::cloud::{
    Agent, Api, Controller, adopt_device, build_binaries, eventually, free_port, from_cidr, id_of,
    ingress_rule, meta,
};
use sdn_tests::{InstanceSpec, Lab, probe};

const NODE1: &str = "0a000000-0000-4000-8000-000000000011";
const NODE2: &str = "0a000000-0000-4000-8000-000000000012";
const SHARED: &str = "198.18.30.0/24";
const A1: &str = "198.18.30.1";
const A2: &str = "198.18.30.2";
const B1: &str = "198.18.30.1";
const B2: &str = "198.18.30.3";
const MANAGED: &str = "198.18.31.0/24";
const RANGE: (&str, &str) = ("198.18.31.100", "198.18.31.110");
const SERVER: &str = "198.18.31.254";

/// A directory for the udhcpc script and what it records, removed on drop (also on panic).
struct Scratch(PathBuf);

impl Scratch {
    fn new(prefix: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("{prefix}-agent-dhcp"));
        std::fs::create_dir_all(&dir).unwrap();
        // On "bound": configure the address and record what the server sent.
        let script = r#"#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/$mask" dev "$interface"
{
  echo "ip=$ip"; echo "mask=$mask"; echo "serverid=$serverid"; echo "lease=$lease"
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

    /// The variables recorded by the script since the last call (the files are removed).
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

fn pings(lab: &Lab, from: &str, to: &str) -> bool {
    lab.try_exec(from, &["ping", "-c", "1", "-W", "1", to])
        .is_ok()
}

fn ipv4_addresses(lab: &Lab, instance: &str) -> String {
    let out = lab.exec(instance, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs udhcpc in `instance` until it binds (the agent may not serve the lease yet) and returns
/// what the script recorded.
fn dhcp(lab: &Lab, instance: &str, scratch: &Scratch) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // -n: give up when no lease; -q: quit once bound; -f: foreground; 3 discovers, 1 s apart.
        #[rustfmt::skip]
        let argv = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", &scratch.script()];
        let run = lab.try_exec(instance, &argv);
        let got = scratch.recorded();
        if run.is_ok() && !got.is_empty() {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "udhcpc in {instance} got no lease: {run:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn overlapping_networks_stay_apart_and_dhcp_serves_ipam_addresses() {
    if !gate("agent networks lab", probe()) {
        return;
    }
    build_binaries(&["node-agent", "sdn-controller"]).expect("build the binaries");
    let etcd = EtcdServer::start();
    let mut lab = Lab::new("agent-networks");
    let api_port = free_port();
    let ctl = Controller::start(&lab, etcd.endpoint(), api_port).expect("start sdn-controller");
    let hv1 = lab.add_hypervisor("hv1");
    let hv2 = lab.add_hypervisor("hv2");
    let fixed = |ip: &str| InstanceSpec::new().ipv4(&format!("{ip}/24")).without_ipv6();
    let bare = || InstanceSpec::new().without_ipv4().without_ipv6();
    lab.add_instance("a1", "hv1", fixed(A1));
    lab.add_instance("a2", "hv2", fixed(A2));
    lab.add_instance("b1", "hv1", fixed(B1));
    lab.add_instance("b2", "hv2", fixed(B2));
    lab.add_instance("d1", "hv1", bare());
    lab.add_instance("d2", "hv2", bare());
    let underlay1 = hv1.underlay_ipv4.addr().to_string();
    let underlay2 = hv2.underlay_ipv4.addr().to_string();
    let agent1 = Agent::start(&lab, "hv1", NODE1, &underlay1, api_port).expect("start hv1's agent");
    let agent2 = Agent::start(&lab, "hv2", NODE2, &underlay2, api_port).expect("start hv2's agent");
    let started = Instant::now();

    let mut api = Api::connect(&ctl.url()).unwrap();
    api.wait_for_nodes(&[NODE1, NODE2], Duration::from_secs(15))
        .expect("the agents to register");

    // Two networks on the same range; the controller picks distinct VNIs.
    let net_a = api.create_network("net-a", SHARED).unwrap();
    let net_b = api.create_network("net-b", SHARED).unwrap();
    assert_ne!(net_a.vni, net_b.vni, "distinct VNIs");
    assert!(net_a.vni > 0 && net_b.vni > 0);
    // Network C: managed, with an explicit IPAM range.
    let req = pb::CreateNetworkRequest {
        network: Some(pb::PrivateNetwork {
            meta: meta("net-c"),
            ipv4_cidr: MANAGED.into(),
            mode: pb::NetworkMode::Managed as i32,
            start_ipv4: RANGE.0.into(),
            end_ipv4: RANGE.1.into(),
            ..Default::default()
        }),
    };
    let net_c = api
        .call(|mut c| async move { c.create_network(req).await })
        .expect("create the managed network")
        .into_inner()
        .network
        .expect("a network in the response");

    // icmp from both ranges: a ping that fails is stopped by isolation, not by default-deny.
    let group = api
        .create_group(
            "icmp",
            vec![
                ingress_rule(pb::ProtocolName::Icmp, 0, from_cidr(SHARED)),
                ingress_rule(pb::ProtocolName::Icmp, 0, from_cidr(MANAGED)),
            ],
        )
        .unwrap();
    let groups = [id_of(&group.meta)];

    let mut ports = BTreeMap::new();
    for (vm, node, net, ip) in [
        ("a1", NODE1, &net_a, A1),
        ("a2", NODE2, &net_a, A2),
        ("b1", NODE1, &net_b, B1),
        ("b2", NODE2, &net_b, B2),
        ("d1", NODE1, &net_c, ""),
        ("d2", NODE2, &net_c, ""),
    ] {
        let port = api
            .create_port(&lab, vm, node, &id_of(&net.meta), ip, &groups)
            .unwrap();
        adopt_device(&lab, vm, &id_of(&port.meta));
        ports.insert(vm, port);
    }

    // Within each network, instances on two hypervisors reach each other over VXLAN.
    eventually("a1 to ping a2 in A", Duration::from_secs(20), || {
        pings(&lab, "a1", A2)
    });
    eventually("b1 to ping b2 in B", Duration::from_secs(20), || {
        pings(&lab, "b1", B2)
    });
    eprintln!("A and B converged after {:?}", started.elapsed());
    // Each network has its own VXLAN device (its own VNI) on both nodes.
    for hv in ["hv1", "hv2"] {
        for vni in [net_a.vni, net_b.vni] {
            lab.exec(hv, &["ip", "link", "show", "dev", &format!("sdnvx{vni}")]);
        }
    }
    // The same pings across networks: B2 is held in B only, A2 in A only.
    for (from, to) in [("a1", B2), ("b1", A2)] {
        let out = lab.try_exec(from, &["ping", "-c", "3", "-i", "0.2", "-W", "1", to]);
        assert!(
            out.is_err(),
            "{from} must not reach {to} of the other network: {out:?}"
        );
    }
    // And the networks still work afterwards (the failures were not a transient outage).
    assert!(pings(&lab, "a1", A2), "a1 still reaches a2");
    assert!(pings(&lab, "b1", B2), "b1 still reaches b2");

    // DHCP: each instance of C gets exactly its port's IPAM address from its node's agent.
    let scratch = Scratch::new(lab.prefix());
    let mut leased = Vec::new();
    for vm in ["d1", "d2"] {
        let ip = ports[vm].ipv4.clone();
        let addr: std::net::Ipv4Addr = ip
            .parse()
            .unwrap_or_else(|e| panic!("{vm}'s IPAM address {ip:?}: {e}"));
        let (start, end): (std::net::Ipv4Addr, std::net::Ipv4Addr) =
            (RANGE.0.parse().unwrap(), RANGE.1.parse().unwrap());
        assert!(
            (start..=end).contains(&addr),
            "{vm}'s address {addr} is in the IPAM range"
        );
        assert_eq!(
            ipv4_addresses(&lab, vm).trim(),
            "",
            "{vm} starts without IPv4"
        );
        let got = dhcp(&lab, vm, &scratch);
        assert_eq!(
            got.get("ip").map(String::as_str),
            Some(ip.as_str()),
            "{vm}: {got:?}"
        );
        assert_eq!(got.get("mask").map(String::as_str), Some("24"), "{got:?}");
        // The agent's server: the last usable address of the range (the network has no gateway).
        assert_eq!(
            got.get("serverid").map(String::as_str),
            Some(SERVER),
            "{got:?}"
        );
        assert!(
            ipv4_addresses(&lab, vm).contains(&format!("{ip}/24")),
            "{vm} holds its lease"
        );
        leased.push(ip);
    }
    assert_ne!(leased[0], leased[1]);
    eventually(
        "d1 to ping d2 at its lease",
        Duration::from_secs(10),
        || pings(&lab, "d1", &leased[1]),
    );
    eprintln!("agent networks lab done in {:?}", started.elapsed());
    drop(agent1);
    drop(agent2);
}
