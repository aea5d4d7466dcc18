//! The loop closed with real processes: a throwaway etcd and the real `sdn-controller` in the root
//! namespace on loopback, and two real `node-agent`s (also in the root namespace, so their gRPC
//! stream reaches 127.0.0.1) each programming its hypervisor's namespace (`--netns`).
//!
//! ```text
//!   etcd <- sdn-controller (127.0.0.1) <- node-agent hv1 --netns-> hv1 (198.18.0.1): vm1 198.18.10.1
//!                                      <- node-agent hv2 --netns-> hv2 (198.18.0.2): vm2 198.18.10.2
//! ```
//! Through the gRPC API only: a private network, a security group (icmp and tcp 8080 from the
//! network's CIDR) and one port per hypervisor. The instances' host-side veths are renamed to the
//! device names the agent expects (`sdn` + 12 hex digits of the port id). Then: ping over VXLAN,
//! tcp 8080 allowed and 9090 denied, convergence receipts naming both nodes, a stopped agent named
//! as lagging, drift repaired, the controller killed with traffic still enforced (fail-static),
//! and, once it is back, a change applied; finally one agent SIGKILLed under 100 pings/s and a TCP
//! stream, and restarted without losing a ping or stalling the stream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sdn_controller::etcd_server::EtcdServer;
use sdn_ebpf::privilege::gate;
use sdn_proto::v1 as pb;
use sdn_tests::cloud::{
    Agent, Api, Controller, adopt_device, build_binaries, device, eventually, free_port, from_cidr,
    id_of, ingress_rule, metric, wait,
};
use sdn_tests::{InstanceSpec, Lab, probe};

const NODE1: &str = "0a000000-0000-4000-8000-000000000001";
const NODE2: &str = "0a000000-0000-4000-8000-000000000002";
const VM1: &str = "198.18.10.1";
const VM2: &str = "198.18.10.2";
const CIDR: &str = "198.18.10.0/24";

fn rule(proto: pb::ProtocolName, port: u32) -> pb::SecurityRule {
    ingress_rule(proto, port, from_cidr(CIDR))
}

fn controller(lab: &Lab, etcd: &str, port: u16) -> Controller {
    Controller::start(lab, etcd, port).expect("start sdn-controller")
}

fn agent(lab: &Lab, hv: &str, node: &str, underlay: &str, controller_port: u16) -> Agent {
    Agent::start(lab, hv, node, underlay, controller_port).expect("start node-agent")
}

/// A TCP connect from vm1 to vm2:`port`, with a short timeout.
fn connect(lab: &Lab, port: u16) -> std::io::Result<TcpStream> {
    let addr: SocketAddr = format!("{VM2}:{port}").parse().unwrap();
    lab.run_in("vm1", move || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(1500))
    })
}

fn pings(lab: &Lab) -> bool {
    lab.try_exec("vm1", &["ping", "-c", "1", "-W", "1", VM2])
        .is_ok()
}

/// Echoes a message over an established connection (client side writes, server side reads and
/// writes back).
fn echo(client: &mut TcpStream, server: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    client.write_all(msg)?;
    let mut buf = vec![0u8; msg.len()];
    server.read_exact(&mut buf)?;
    server.write_all(&buf)?;
    client.read_exact(&mut buf)?;
    assert_eq!(buf, msg);
    Ok(())
}

#[test]
fn agents_close_the_loop_and_fail_static() {
    if !gate("agent lab", probe()) {
        return;
    }
    build_binaries(&["node-agent", "sdn-controller"]).expect("build the binaries");
    let etcd = EtcdServer::start();
    let mut lab = Lab::new("agent-closes-the-loop");
    let api_port = free_port();
    let mut ctl = controller(&lab, etcd.endpoint(), api_port);
    let url = ctl.url();
    let hv1 = lab.add_hypervisor("hv1");
    let hv2 = lab.add_hypervisor("hv2");
    let vm1 = lab.add_instance(
        "vm1",
        "hv1",
        InstanceSpec::new()
            .ipv4(&format!("{VM1}/24"))
            .without_ipv6(),
    );
    let vm2 = lab.add_instance(
        "vm2",
        "hv2",
        InstanceSpec::new()
            .ipv4(&format!("{VM2}/24"))
            .without_ipv6(),
    );
    let underlay1 = hv1.underlay_ipv4.addr().to_string();
    let underlay2 = hv2.underlay_ipv4.addr().to_string();
    let a1 = agent(&lab, "hv1", NODE1, &underlay1, api_port);
    let a2 = agent(&lab, "hv2", NODE2, &underlay2, api_port);
    let started = Instant::now();

    let mut api = Api::connect(&url).unwrap();
    // The agents register their nodes with their first hello.
    api.wait_for_nodes(&[NODE1, NODE2], Duration::from_secs(15))
        .expect("the agents to register");
    let net = api.create_network("lab-net", CIDR).unwrap();
    let vni = net.vni;
    let group = api
        .create_group(
            "web",
            vec![
                rule(pb::ProtocolName::Icmp, 0),
                rule(pb::ProtocolName::Tcp, 8080),
            ],
        )
        .unwrap();
    let group_id = id_of(&group.meta);
    let mut ports = Vec::new();
    for (vm, node, ip) in [(&vm1, NODE1, VM1), (&vm2, NODE2, VM2)] {
        let port = api
            .create_port(
                &lab,
                &vm.name,
                node,
                &id_of(&net.meta),
                ip,
                std::slice::from_ref(&group_id),
            )
            .unwrap();
        // The orchestrator's side of the contract: the instance's device carries the port's name.
        adopt_device(&lab, &vm.name, &id_of(&port.meta));
        ports.push(port);
    }

    // Instances on two hypervisors reach each other over VXLAN.
    eventually(
        "vm1 to ping vm2 over VXLAN",
        Duration::from_secs(20),
        || pings(&lab),
    );
    eprintln!("converged: ping after {:?}", started.elapsed());
    let fdb = lab.exec(
        "hv1",
        &["bridge", "fdb", "show", "dev", &format!("sdnvx{vni}")],
    );
    let fdb = String::from_utf8_lossy(&fdb.stdout).into_owned();
    assert!(
        fdb.contains(&format!("{} dst {underlay2}", vm2.mac)),
        "hv1's VXLAN FDB names vm2's MAC at hv2: {fdb}"
    );

    // tcp 8080 allowed, 9090 denied (dropped: a timeout, not a refusal).
    let (l8080, l9090) = lab.run_in("vm2", || {
        (
            TcpListener::bind((VM2, 8080)).unwrap(),
            TcpListener::bind((VM2, 9090)).unwrap(),
        )
    });
    let mut client = connect(&lab, 8080).expect("tcp 8080 is allowed");
    let (mut server, _) = l8080.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    echo(&mut client, &mut server, b"hello").unwrap();
    let denied = connect(&lab, 9090).expect_err("tcp 9090 is denied");
    assert_eq!(denied.kind(), std::io::ErrorKind::TimedOut, "{denied}");

    // Convergence receipts name both nodes as applied.
    let receipt = |api: &mut Api| api.receipt(&group_id).unwrap();
    eventually(
        "the group's receipt to converge",
        Duration::from_secs(10),
        || {
            let r = receipt(&mut api);
            r.converged && r.applied.len() == 2
        },
    );
    let metrics1 = a1.scrape();
    assert!(
        metric(&metrics1, "sdn_agent_applied_revision").unwrap_or(0.0) > 0.0,
        "{metrics1}"
    );
    assert!(
        metric(&metrics1, "sdn_agent_sync_connected").unwrap_or(0.0) == 1.0,
        "{metrics1}"
    );

    // Drift: vm2's FDB entry deleted by hand on hv1 comes back, counted.
    lab.exec(
        "hv1",
        &[
            "bridge",
            "fdb",
            "del",
            &vm2.mac.to_string(),
            "dev",
            &format!("sdnvx{vni}"),
            "dst",
            &underlay2,
            "self",
        ],
    );
    eventually(
        "the FDB entry to be repaired",
        Duration::from_secs(5),
        || {
            let m = a1.scrape();
            metric(&m, "sdn_agent_repairs_total{what=\"network\"}").unwrap_or(0.0) >= 1.0
        },
    );
    let fdb = lab.exec(
        "hv1",
        &["bridge", "fdb", "show", "dev", &format!("sdnvx{vni}")],
    );
    assert!(String::from_utf8_lossy(&fdb.stdout).contains(&vm2.mac.to_string()));

    // Drift: vm1's sdn_port entry deleted by hand (the port's traffic is dropped as `no-port`)
    // is put back by re-attaching the port.
    let dev1 = device(&id_of(&ports[0].meta));
    let ifindex = lab.run_in("hv1", move || {
        nix::net::if_::if_nametoindex(dev1.as_str()).expect("vm1's device")
    });
    let map = lab.pin_dir("hv1").join("port/maps/sdn_port");
    let key: Vec<String> = ifindex
        .to_ne_bytes()
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect();
    let bpftool = |op: &str| {
        Command::new("bpftool")
            .args(["map", op, "pinned"])
            .arg(&map)
            .arg("key")
            .args(&key)
            .output()
            .expect("run bpftool")
    };
    let port_repairs =
        || metric(&a1.scrape(), "sdn_agent_repairs_total{what=\"port\"}").unwrap_or(0.0);
    let before = port_repairs();
    let out = bpftool("delete");
    assert!(
        out.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(
        "the port entry to be repaired",
        Duration::from_secs(5),
        || port_repairs() > before,
    );
    assert!(
        bpftool("lookup").status.success(),
        "vm1's sdn_port entry is back"
    );
    eventually(
        "ping after the port's repair",
        Duration::from_secs(5),
        || pings(&lab),
    );

    // One agent stopped: a group change's receipt names it as lagging.
    a2.proc.signal(nix::sys::signal::Signal::SIGSTOP);
    let current = api.get_group(&group_id).unwrap();
    let changed = api
        .add_rules(
            &group_id,
            current.meta.as_ref().unwrap().revision,
            vec![rule(pb::ProtocolName::Tcp, 9090)],
            wait(2),
        )
        .expect_err("the wait times out while hv2's agent is stopped");
    assert_eq!(changed.code(), tonic::Code::DeadlineExceeded);
    assert!(changed.message().contains("hv2"), "{}", changed.message());
    let r = receipt(&mut api);
    assert!(!r.converged);
    assert!(
        r.lagging.iter().any(|n| n.node_id == NODE2),
        "hv2 lags: {r:?}"
    );
    assert!(
        r.applied.iter().any(|n| n.node_id == NODE1),
        "hv1 applied: {r:?}"
    );
    // vm2's port lives on hv2: 9090 stays denied until its agent applies the change.
    assert!(connect(&lab, 9090).is_err());
    a2.proc.signal(nix::sys::signal::Signal::SIGCONT);
    eventually("hv2 to catch up", Duration::from_secs(15), || {
        receipt(&mut api).converged
    });
    eventually("tcp 9090 to be allowed", Duration::from_secs(5), || {
        connect(&lab, 9090).is_ok()
    });

    // The controller killed: traffic keeps being enforced as before (fail-static).
    ctl.kill();
    eventually(
        "the agents to see the controller gone",
        Duration::from_secs(10),
        || {
            let m = a1.scrape();
            metric(&m, "sdn_agent_sync_connected") == Some(0.0)
        },
    );
    assert!(pings(&lab), "ping keeps working without the controller");
    echo(&mut client, &mut server, b"still here").expect("the established flow keeps going");
    assert!(connect(&lab, 8080).is_ok(), "new allowed flows still open");
    let denied = connect(&lab, 7070).expect_err("tcp 7070 stays denied");
    assert_eq!(denied.kind(), std::io::ErrorKind::TimedOut);
    drop(l9090);

    // The controller back: the agents resume and a change applies everywhere.
    let _ctl = controller(&lab, etcd.endpoint(), api_port);
    let mut api = Api::connect(&url).unwrap();
    let current = api.get_group(&group_id).unwrap();
    let l7070 = lab.run_in("vm2", || TcpListener::bind((VM2, 7070)).unwrap());
    // The agents reconnect within their backoff (at most 1 s here).
    let done = api.add_rules(
        &group_id,
        current.meta.as_ref().unwrap().revision,
        vec![rule(pb::ProtocolName::Tcp, 7070)],
        wait(15),
    );
    if let Err(e) = done {
        panic!("add a rule after the controller's return: {e}");
    }
    assert!(receipt(&mut api).converged);
    eventually("tcp 7070 to be allowed", Duration::from_secs(5), || {
        connect(&lab, 7070).is_ok()
    });
    drop(l7070);
    echo(&mut client, &mut server, b"and after").expect("the established flow survived");
    let metrics1 = a1.scrape();
    assert!(
        metric(&metrics1, "sdn_agent_reconnects_total").unwrap_or(0.0) >= 1.0,
        "{metrics1}"
    );
    assert!(
        metrics1.contains("sdn_agent_port_packets_total{direction=\"egress\""),
        "{metrics1}"
    );
    let metrics2 = a2.scrape();
    assert!(
        metrics2.contains("verdict=\"rule\"") && metrics2.contains("sdn_agent_drops_total"),
        "{metrics2}"
    );

    // hv1's agent killed (SIGKILL) under 100 pings/s and started again: pinned programs keep
    // enforcing, the new process adopts the ports and resumes from a snapshot; no ping is lost.
    // A TCP stream runs through the restart too: a lost segment would stall it for at least one
    // retransmission timeout (200 ms), so the largest gap between received chunks tells.
    let mut stream_tx = connect(&lab, 8080).expect("a stream for the restart");
    // (Earlier checks left connections in the backlog: take ours.)
    let ours = stream_tx.local_addr().unwrap();
    let mut stream_rx = loop {
        let (conn, peer) = l8080.accept().unwrap();
        if peer == ours {
            break conn;
        }
    };
    stream_rx
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let streaming = Arc::new(AtomicBool::new(true));
    let keep_sending = streaming.clone();
    let sender = std::thread::spawn(move || {
        let mut sent = 0u64;
        while keep_sending.load(Ordering::SeqCst) {
            stream_tx
                .write_all(&sent.to_be_bytes())
                .expect("stream write");
            sent += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        sent
    });
    let receiver = std::thread::spawn(move || {
        let (mut received, mut longest_gap) = (0u64, Duration::ZERO);
        let mut last = Instant::now();
        let mut buf = [0u8; 8];
        while stream_rx.read_exact(&mut buf).is_ok() {
            assert_eq!(
                u64::from_be_bytes(buf),
                received,
                "the stream lost or reordered data"
            );
            received += 1;
            longest_gap = longest_gap.max(last.elapsed());
            last = Instant::now();
        }
        (received, longest_gap)
    });
    let netns = lab.netns_path("vm1");
    let pinger = std::thread::spawn(move || {
        Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["ping", "-q", "-c", "400", "-i", "0.01", "-W", "1", VM2])
            .output()
            .expect("run ping")
    });
    std::thread::sleep(Duration::from_millis(500));
    drop(a1);
    let a1 = agent(&lab, "hv1", NODE1, &underlay1, api_port);
    eventually(
        "the restarted agent to apply",
        Duration::from_secs(10),
        || {
            let m = a1.scrape();
            metric(&m, "sdn_agent_applied_revision").unwrap_or(0.0) > 0.0
        },
    );
    let ping = pinger.join().unwrap();
    let summary = String::from_utf8_lossy(&ping.stdout).into_owned();
    assert!(
        summary.contains("400 received"),
        "no ping lost across the agent's restart: {summary}"
    );
    streaming.store(false, Ordering::SeqCst);
    let sent = sender.join().unwrap();
    let (received, longest_gap) = receiver.join().unwrap();
    assert_eq!(received, sent, "every chunk of the stream arrived");
    assert!(
        longest_gap < Duration::from_millis(200),
        "the stream stalled {longest_gap:?} across the restart (a lost segment)"
    );
    echo(&mut client, &mut server, b"after restart").expect("the established flow survived");
    eventually(
        "the receipt after the restart",
        Duration::from_secs(10),
        || receipt(&mut api).converged,
    );
    eprintln!("agent lab done in {:?}", started.elapsed());
    drop(a1);
    drop(a2);
}
