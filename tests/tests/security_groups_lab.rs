//! Security groups on real traffic: two instances on one hypervisor, the port programs on their
//! host-side ports, policies written through the agent's dataplane driver.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipnetwork::IpNetwork;
use node_agent::attribution::{Builtin, DropReason};
use node_agent::policy::{Direction, PortPolicy, Protocol, Remote, Rule};
use node_agent::port_dataplane::{ExistingFlows, PortDataplane, PortSpec};
use sdn_ebpf::privilege::gate;
use sdn_tests::{Instance, InstanceSpec, Lab, probe};

const VM1: &str = "198.18.1.1";
const VM2: &str = "198.18.1.2";
const R_APP: u32 = 2001; // tcp 8080 from vm1
const R_PING: u32 = 2002; // icmp echo from anywhere
const R_UDP: u32 = 2003; // udp 5353 from vm1
const R_EXTRA: u32 = 2100; // rules that come and go during the update test

/// The EUI-64 link-local address Linux gives a NIC with this MAC.
fn link_local(mac: [u8; 6]) -> IpAddr {
    let mut b = [0u8; 16];
    b[0] = 0xfe;
    b[1] = 0x80;
    b[8] = mac[0] ^ 0x02;
    b[9] = mac[1];
    b[10] = mac[2];
    b[11] = 0xff;
    b[12] = 0xfe;
    b[13] = mac[3];
    b[14] = mac[4];
    b[15] = mac[5];
    IpAddr::V6(Ipv6Addr::from(b))
}

fn spec(vm: &Instance) -> PortSpec {
    let mut addrs = vec![link_local(vm.mac.0)];
    addrs.extend(vm.ipv4.iter().map(|c| c.addr()));
    addrs.extend(vm.ipv6.iter().map(|c| c.addr()));
    PortSpec {
        name: vm.port.clone(),
        mac: vm.mac.0,
        addrs,
    }
}

fn rule(id: u32, protocol: Protocol, ports: Option<(u16, u16)>, remote: &str) -> Rule {
    Rule {
        id,
        direction: Direction::Ingress,
        protocol,
        ports: ports.map(|(a, b)| a..=b),
        icmp: None,
        remote: Remote::Cidr(IpNetwork::from_str(remote).unwrap()),
    }
}

fn server_policy(extra: &[u32]) -> PortPolicy {
    server_policy_with(extra, &format!("{VM1}/32"))
}

/// The server's policy; `udp_from` is the remote of the udp 5353 rule (it must contain vm1).
fn server_policy_with(extra: &[u32], udp_from: &str) -> PortPolicy {
    let mut rules = vec![
        rule(
            R_APP,
            Protocol::Tcp,
            Some((8080, 8080)),
            &format!("{VM1}/32"),
        ),
        rule(R_PING, Protocol::Icmp, None, "0.0.0.0/0"),
        rule(R_UDP, Protocol::Udp, Some((5353, 5353)), udp_from),
    ];
    for (i, id) in extra.iter().enumerate() {
        rules.push(rule(
            *id,
            Protocol::Tcp,
            Some((9000 + i as u16, 9000 + i as u16)),
            "198.18.200.0/24",
        ));
    }
    PortPolicy {
        rules,
        group_members: BTreeMap::new(),
    }
}

struct Setup {
    dataplane: Option<PortDataplane>,
    lab: Lab,
    server_port: String,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(dp) = self.dataplane.take()
            && let Err(e) = dp.unload()
        {
            eprintln!("unload: {e}");
        }
    }
}

fn setup(name: &str) -> Setup {
    let mut lab = Lab::new(name);
    lab.add_hypervisor("hv1");
    let vm1 = lab.add_instance("vm1", "hv1", InstanceSpec::new().ipv4(&format!("{VM1}/24")));
    let vm2 = lab.add_instance("vm2", "hv1", InstanceSpec::new().ipv4(&format!("{VM2}/24")));
    lab.add_bridge("hv1", &[&vm1.port, &vm2.port]);
    let mut dp = PortDataplane::load(&lab.netns_path("hv1"), &lab.pin_dir("hv1"))
        .expect("load port programs");
    dp.attach(&spec(&vm1)).expect("attach vm1");
    dp.attach(&spec(&vm2)).expect("attach vm2");
    dp.apply_policy(&vm2.port, &server_policy(&[]), ExistingFlows::Keep)
        .expect("server policy");
    // vm1 keeps no security group: ingress denied (replies pass), egress open.
    Setup {
        dataplane: Some(dp),
        lab,
        server_port: vm2.port.clone(),
    }
}

fn listen(lab: &Lab, vm: &str, port: u16) -> TcpListener {
    let addr: SocketAddr = format!("{VM2}:{port}").parse().unwrap();
    lab.run_in(vm, move || TcpListener::bind(addr))
        .expect("listen")
}

fn connect(lab: &Lab, port: u16) -> std::io::Result<TcpStream> {
    let addr: SocketAddr = format!("{VM2}:{port}").parse().unwrap();
    let s = lab.run_in("vm1", move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(2))
    })?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(s)
}

fn echo_once(client: &mut TcpStream, server: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    client.write_all(msg)?;
    let mut buf = vec![0u8; msg.len()];
    server.read_exact(&mut buf)?;
    server.write_all(&buf)?;
    client.read_exact(&mut buf)?;
    assert_eq!(buf, msg);
    Ok(())
}

#[test]
fn allowed_connects_denied_is_counted_replies_pass() {
    if !gate("allowed_connects_denied_is_counted_replies_pass", probe()) {
        return;
    }
    let mut s = setup("sg-basic");
    let dp = s.dataplane.as_mut().unwrap();
    let mut events = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        (dp.events().expect("events"), rt)
    };

    // Allowed: tcp 8080 from vm1; the reply crosses vm1's port, which denies unsolicited ingress.
    let listener = listen(&s.lab, "vm2", 8080);
    let mut client = connect(&s.lab, 8080).expect("allowed connect");
    let (mut server, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip().to_string(), VM1);
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    echo_once(&mut client, &mut server, b"hello").expect("data both ways");

    // Denied: nothing allows 9090; the SYN dies on vm2's port.
    let _closed = listen(&s.lab, "vm2", 9090);
    let denied = connect(&s.lab, 9090);
    assert!(denied.is_err(), "connect to 9090 must fail");

    let dp = s.dataplane.as_ref().unwrap();
    let rules = dp.rule_counters().unwrap();
    assert!(
        rules
            .get(&R_APP)
            .is_some_and(|r| r.packets >= 1 && r.last_hit_ns > 0),
        "{rules:?}"
    );
    let server_counters = dp.port_counters(&s.server_port).unwrap();
    let denied_in = server_counters.ingress.by_builtin[&Builtin::DefaultDenyIngress];
    assert!(denied_in.packets >= 1, "{server_counters:?}");
    assert!(server_counters.ingress.by_builtin[&Builtin::Established].packets >= 3);
    let drops = dp.drops().unwrap();
    assert!(drops[&DropReason::DefaultDenyIngress].packets >= 1);
    // Nothing was dropped as spoofed or malformed: the lab's own traffic is clean.
    for reason in [
        DropReason::SpoofMac,
        DropReason::SpoofIp,
        DropReason::Malformed,
    ] {
        assert_eq!(drops[&reason].packets, 0, "{reason:?}: {drops:?}");
    }
    // The flow is tracked on both ports, attributed to the rule on the server's.
    let flows = dp.flows().unwrap();
    assert!(flows.iter().any(|f| f.local_port == 8080
        && f.admitted_by == node_agent::attribution::Attribution::Rule(R_APP)));

    // Events: the admitted flow and the denied attempt, with their attribution.
    let got = events.0.drain();
    assert!(
        got.iter().any(
            |e| e.kind == node_agent::port_dataplane::FlowEventKind::Admitted
                && e.attribution == node_agent::attribution::Attribution::Rule(R_APP)
        ),
        "{got:?}"
    );
    assert!(
        got.iter().any(
            |e| e.kind == node_agent::port_dataplane::FlowEventKind::Denied
                && e.dport == 9090
                && e.drop_reason == Some(DropReason::DefaultDenyIngress)
        ),
        "{got:?}"
    );
}

#[test]
fn revoke_cuts_established_flows_and_keep_does_not() {
    if !gate("revoke_cuts_established_flows_and_keep_does_not", probe()) {
        return;
    }
    let mut s = setup("sg-revoke");
    let listener = listen(&s.lab, "vm2", 8080);
    let without_app = |dp: &mut PortDataplane, port: &str, how| {
        let mut p = server_policy(&[]);
        p.rules.retain(|r| r.id != R_APP);
        dp.apply_policy(port, &p, how).expect("apply")
    };

    // keep: the rule goes, the established connection goes on.
    let mut client = connect(&s.lab, 8080).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    echo_once(&mut client, &mut server, b"before").unwrap();
    let port = s.server_port.clone();
    let report = without_app(s.dataplane.as_mut().unwrap(), &port, ExistingFlows::Keep);
    assert_eq!(report.revoked_flows, 0);
    echo_once(&mut client, &mut server, b"kept").expect("keep leaves the flow alone");
    assert!(
        connect(&s.lab, 8080).is_err(),
        "new connections are refused without the rule"
    );

    // revoke: the rule comes back, a new connection, then the rule goes with revoke.
    s.dataplane
        .as_mut()
        .unwrap()
        .apply_policy(&port, &server_policy(&[]), ExistingFlows::Keep)
        .unwrap();
    let mut client2 = connect(&s.lab, 8080).unwrap();
    let (mut server2, _) = listener.accept().unwrap();
    server2
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    echo_once(&mut client2, &mut server2, b"before").unwrap();
    let report = without_app(s.dataplane.as_mut().unwrap(), &port, ExistingFlows::Revoke);
    assert!(report.revoked_flows >= 1, "{report:?}");
    assert!(
        echo_once(&mut client2, &mut server2, b"revoked").is_err(),
        "revoke must cut the flow"
    );
}

#[test]
fn updates_under_traffic_drop_no_allowed_packet() {
    if !gate("updates_under_traffic_drop_no_allowed_packet", probe()) {
        return;
    }
    let mut s = setup("sg-update");
    let receiver = s
        .lab
        .run_in("vm2", || UdpSocket::bind(format!("{VM2}:5353")))
        .expect("bind");
    receiver
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    // Read while they arrive: a socket buffer holds only a couple of hundred datagrams.
    let reader = std::thread::spawn(move || {
        let mut seen = BTreeSet::new();
        let mut buf = [0u8; 16];
        while seen.len() < DATAGRAMS {
            match receiver.recv_from(&mut buf) {
                Ok((4, _)) => {
                    seen.insert(u32::from_be_bytes(buf[..4].try_into().unwrap()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        seen.len()
    });
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let lab_vm1 = s.lab.netns_path("vm1");
    const DATAGRAMS: usize = 400;
    // Every datagram from a fresh socket: a new flow, so every one goes through the policy.
    let sender = std::thread::spawn(move || {
        for i in 0..DATAGRAMS {
            let sock = node_agent::netns::run_in(&lab_vm1, || UdpSocket::bind(format!("{VM1}:0")))
                .unwrap()
                .unwrap();
            sock.send_to(&(i as u32).to_be_bytes(), format!("{VM2}:5353"))
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::SeqCst);
    });
    // Meanwhile the policy changes again and again, both in place and by swapping ids.
    let port = s.server_port.clone();
    let mut updates = 0;
    let mut swaps = 0;
    while !done.load(Ordering::SeqCst) {
        // Extra rules come and go (applied in place); the udp rule's remote flips between two
        // networks that both hold vm1 (a change of classes: applied by swapping policy ids).
        let extra: Vec<u32> = (0..(updates % 5)).map(|i| R_EXTRA + i).collect();
        let udp_from = if updates % 3 == 0 {
            "198.18.1.0/30".to_owned()
        } else {
            format!("{VM1}/32")
        };
        let report = s
            .dataplane
            .as_mut()
            .unwrap()
            .apply_policy(
                &port,
                &server_policy_with(&extra, &udp_from),
                ExistingFlows::Keep,
            )
            .unwrap();
        swaps += usize::from(report.swapped);
        updates += 1;
    }
    sender.join().unwrap();
    let received = reader.join().unwrap();
    let dp = s.dataplane.as_ref().unwrap();
    let drops: Vec<_> = dp
        .drops()
        .unwrap()
        .into_iter()
        .filter(|(_, c)| c.packets > 0)
        .collect();
    assert_eq!(
        received, DATAGRAMS,
        "lost datagrams during {updates} updates ({swaps} swaps); drops {drops:?}"
    );
    assert!(
        updates >= 10,
        "only {updates} policy updates happened during the traffic"
    );
    assert!(swaps >= 1, "no update swapped policy ids");
    // (Drops may show the instances' own multicast, an IGMP report that vm2's policy does not
    // allow; what matters is that every allowed datagram arrived.)
}

#[test]
fn a_new_agent_adopts_the_pinned_programs_without_losing_a_packet() {
    if !gate(
        "a_new_agent_adopts_the_pinned_programs_without_losing_a_packet",
        probe(),
    ) {
        return;
    }
    let mut s = setup("sg-restart");
    const PINGS: usize = 300;
    let ping = s.lab.spawn(
        "vm1",
        &[
            "ping",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.01",
            "-W",
            "1",
            VM2,
        ],
    );
    std::thread::sleep(Duration::from_millis(800));
    let before = s
        .dataplane
        .as_ref()
        .unwrap()
        .port_counters(&s.server_port)
        .unwrap();

    // The agent dies without cleaning up (its descriptors leak as a killed process's would
    // close): pinned maps and links keep the ports enforced.
    std::mem::forget(s.dataplane.take());

    // A new agent loads, adopts the ports as they are, then re-applies their policies.
    let vm1 = s.lab.instance("vm1").clone();
    let vm2 = s.lab.instance("vm2").clone();
    let mut dp = PortDataplane::load(&s.lab.netns_path("hv1"), &s.lab.pin_dir("hv1")).unwrap();
    dp.attach(&spec(&vm1)).expect("adopt vm1");
    dp.attach(&spec(&vm2)).expect("adopt vm2");
    let after_adopt = dp.port_counters(&s.server_port).unwrap();
    assert!(
        after_adopt.ingress.traffic.ipv4.packets >= before.ingress.traffic.ipv4.packets,
        "the adopted port's counters must continue, not restart"
    );
    dp.apply_policy(&vm2.port, &server_policy(&[]), ExistingFlows::Keep)
        .unwrap();
    let orphans = dp.collect_orphaned_policies().unwrap();
    assert!(
        orphans > 0,
        "the old agent's policy entries must be collected"
    );
    s.dataplane = Some(dp);

    let status = loop {
        if let Some(status) = s.lab.try_wait(&ping) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = ping.log();
    assert!(
        status.success() && log.contains(&format!("{PINGS} packets transmitted, {PINGS} received")),
        "ping lost packets across the restart:\n{log}"
    );
}
