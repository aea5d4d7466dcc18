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
//! and, once it is back, a change applied; finally one agent SIGKILLed under 100 pings/s and
//! restarted without losing a ping.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sdn_controller::etcd_server::EtcdServer;
use sdn_ebpf::privilege::gate;
use sdn_proto::v1 as pb;
use sdn_proto::v1::controller_client::ControllerClient;
use sdn_tests::{InstanceSpec, Lab, PREFIX_ENV, probe};
use tonic::transport::Channel;

const NODE1: &str = "0a000000-0000-4000-8000-000000000001";
const NODE2: &str = "0a000000-0000-4000-8000-000000000002";
const VM1: &str = "198.18.10.1";
const VM2: &str = "198.18.10.2";
const CIDR: &str = "198.18.10.0/24";

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The directory holding the workspace's binaries (next to this test's `deps/`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// Builds the two binaries the lab runs (a no-op when they are current).
fn build_binaries() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&workspace).args([
        "build",
        "-p",
        "node-agent",
        "--bin",
        "node-agent",
        "-p",
        "sdn-controller",
        "--bin",
        "sdn-controller",
    ]);
    if bin_dir().file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build of node-agent and sdn-controller failed"
    );
}

/// A process of the test in the root namespace; killed (SIGKILL) and reaped on drop, its log
/// printed when the test is failing.
struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn start(name: &str, prefix: &str, program: &str, args: &[String]) -> Proc {
        let log = std::env::temp_dir().join(format!("{prefix}-{name}.log"));
        let out = std::fs::File::create(&log).expect("create log file");
        let child = Command::new(bin_dir().join(program))
            .args(args)
            // The lab's cleanup also kills whatever carries its prefix.
            .env(PREFIX_ENV, prefix)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).expect("signal");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of {} ---", self.name);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn controller(prefix: &str, etcd: &str, port: u16) -> Proc {
    let p = Proc::start(
        "sdn-controller",
        prefix,
        "sdn-controller",
        &[
            format!("--etcd-endpoints={etcd}"),
            "--insecure".into(),
            format!("--listen=127.0.0.1:{port}"),
            format!("--metrics-listen=127.0.0.1:{}", free_port()),
        ],
    );
    wait_listening(port);
    p
}

struct Agent {
    proc: Proc,
    metrics_port: u16,
}

fn agent(lab: &Lab, hv: &str, node: &str, underlay: &str, controller_port: u16) -> Agent {
    let metrics_port = free_port();
    let proc = Proc::start(
        &format!("node-agent {hv}"),
        lab.prefix(),
        "node-agent",
        &[
            format!("--controller=http://127.0.0.1:{controller_port}"),
            "--insecure".into(),
            format!("--node-id={node}"),
            format!("--node-name={hv}"),
            format!("--underlay-ip={underlay}"),
            format!("--netns={}", lab.netns_path(hv).display()),
            format!("--pin-dir={}", lab.pin_dir(hv).display()),
            format!("--metrics-listen=127.0.0.1:{metrics_port}"),
            "--drift-interval=1".into(),
            "--sweep-interval=2".into(),
            "--backoff-max=1".into(),
        ],
    );
    Agent { proc, metrics_port }
}

fn scrape(port: u16) -> String {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return String::new();
    };
    let _ = write!(s, "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of a metric line starting with `series` (name and labels), if present.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn meta(name: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        name: name.into(),
        ..Default::default()
    })
}

fn rule(proto: pb::ProtocolName, port: u32) -> pb::SecurityRule {
    pb::SecurityRule {
        direction: pb::Direction::Ingress as i32,
        protocol: Some(pb::security_rule::Protocol::ProtocolName(proto as i32)),
        port_from: port,
        remote: Some(pb::security_rule::Remote::RemoteCidr(CIDR.into())),
        ..Default::default()
    }
}

fn wait(secs: u64) -> Option<pb::Wait> {
    Some(pb::Wait {
        timeout: Some(Duration::from_secs(secs).try_into().unwrap()),
    })
}

fn id_of(meta: &Option<pb::ObjectMeta>) -> String {
    meta.as_ref().unwrap().id.clone()
}

fn device(port_id: &str) -> String {
    node_agent::desired::port_device(port_id).expect("port ids are uuids")
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
    build_binaries();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let etcd = EtcdServer::start();
    let mut lab = Lab::new("agent-closes-the-loop");
    let api_port = free_port();
    let mut ctl = controller(lab.prefix(), etcd.endpoint(), api_port);
    let url = format!("http://127.0.0.1:{api_port}");
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

    let mut api: ControllerClient<Channel> =
        rt.block_on(ControllerClient::connect(url.clone())).unwrap();
    // The agents register their nodes with their first hello.
    for node in [NODE1, NODE2] {
        eventually("the agents to register", Duration::from_secs(15), || {
            rt.block_on(api.get_node(pb::GetRequest { id: node.into() }))
                .is_ok()
        });
    }
    let net = rt
        .block_on(api.create_network(pb::CreateNetworkRequest {
            network: Some(pb::PrivateNetwork {
                meta: meta("lab-net"),
                ipv4_cidr: CIDR.into(),
                ..Default::default()
            }),
        }))
        .unwrap()
        .into_inner()
        .network
        .unwrap();
    let vni = net.vni;
    let group = rt
        .block_on(api.create_security_group(pb::CreateSecurityGroupRequest {
            group: Some(pb::SecurityGroup {
                meta: meta("web"),
                rules: vec![
                    rule(pb::ProtocolName::Icmp, 0),
                    rule(pb::ProtocolName::Tcp, 8080),
                ],
                ..Default::default()
            }),
        }))
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    let group_id = id_of(&group.meta);
    let mut ports = Vec::new();
    for (vm, node, ip) in [(&vm1, NODE1, VM1), (&vm2, NODE2, VM2)] {
        let port = rt
            .block_on(api.create_port(pb::CreatePortRequest {
                port: Some(pb::Port {
                    meta: meta(&vm.name),
                    instance_id: vm.name.clone(),
                    node_id: node.into(),
                    network_id: id_of(&net.meta),
                    mac: vm.mac.to_string(),
                    ipv4: ip.into(),
                    security_group_ids: vec![group_id.clone()],
                    ..Default::default()
                }),
                wait: None,
            }))
            .unwrap()
            .into_inner()
            .port
            .unwrap();
        // The orchestrator's side of the contract: the instance's device carries the port's name.
        let dev = device(&id_of(&port.meta));
        for args in [
            vec!["ip", "link", "set", "dev", &vm.port, "down"],
            vec!["ip", "link", "set", "dev", &vm.port, "name", &dev],
            vec!["ip", "link", "set", "dev", &dev, "up"],
        ] {
            lab.exec(&vm.hypervisor, &args);
        }
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
    let receipt = |api: &mut ControllerClient<Channel>| {
        rt.block_on(api.get_convergence(pb::GetConvergenceRequest {
            id: group_id.clone(),
        }))
        .unwrap()
        .into_inner()
    };
    eventually(
        "the group's receipt to converge",
        Duration::from_secs(10),
        || {
            let r = receipt(&mut api);
            r.converged && r.applied.len() == 2
        },
    );
    let metrics1 = scrape(a1.metrics_port);
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
            let m = scrape(a1.metrics_port);
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
    let port_repairs = || {
        metric(
            &scrape(a1.metrics_port),
            "sdn_agent_repairs_total{what=\"port\"}",
        )
        .unwrap_or(0.0)
    };
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
    let current = rt
        .block_on(api.get_security_group(pb::GetRequest {
            id: group_id.clone(),
        }))
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    let changed = rt
        .block_on(api.add_security_rules(pb::AddSecurityRulesRequest {
            group_id: group_id.clone(),
            revision: current.meta.as_ref().unwrap().revision,
            rules: vec![rule(pb::ProtocolName::Tcp, 9090)],
            wait: wait(2),
        }))
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
            let m = scrape(a1.metrics_port);
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
    let _ctl = controller(lab.prefix(), etcd.endpoint(), api_port);
    let mut api: ControllerClient<Channel> = rt.block_on(ControllerClient::connect(url)).unwrap();
    let current = rt
        .block_on(api.get_security_group(pb::GetRequest {
            id: group_id.clone(),
        }))
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    let l7070 = lab.run_in("vm2", || TcpListener::bind((VM2, 7070)).unwrap());
    // The agents reconnect within their backoff (at most 1 s here).
    let done = rt.block_on(api.add_security_rules(pb::AddSecurityRulesRequest {
        group_id: group_id.clone(),
        revision: current.meta.as_ref().unwrap().revision,
        rules: vec![rule(pb::ProtocolName::Tcp, 7070)],
        wait: wait(15),
    }));
    if let Err(e) = done {
        panic!("add a rule after the controller's return: {e}");
    }
    assert!(receipt(&mut api).converged);
    eventually("tcp 7070 to be allowed", Duration::from_secs(5), || {
        connect(&lab, 7070).is_ok()
    });
    drop(l7070);
    echo(&mut client, &mut server, b"and after").expect("the established flow survived");
    let metrics1 = scrape(a1.metrics_port);
    assert!(
        metric(&metrics1, "sdn_agent_reconnects_total").unwrap_or(0.0) >= 1.0,
        "{metrics1}"
    );
    assert!(
        metrics1.contains("sdn_agent_port_packets_total{direction=\"egress\""),
        "{metrics1}"
    );
    let metrics2 = scrape(a2.metrics_port);
    assert!(
        metrics2.contains("verdict=\"rule\"") && metrics2.contains("sdn_agent_drops_total"),
        "{metrics2}"
    );

    // hv1's agent killed (SIGKILL) under 100 pings/s and started again: pinned programs keep
    // enforcing, the new process adopts the ports and resumes from a snapshot; no ping is lost.
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
            let m = scrape(a1.metrics_port);
            metric(&m, "sdn_agent_applied_revision").unwrap_or(0.0) > 0.0
        },
    );
    let ping = pinger.join().unwrap();
    let summary = String::from_utf8_lossy(&ping.stdout).into_owned();
    assert!(
        summary.contains("400 received"),
        "no ping lost across the agent's restart: {summary}"
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
