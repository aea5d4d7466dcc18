//! `sdn-lab demo`: the end-to-end story. A throwaway etcd, the real `sdn-controller` and two real
//! `node-agent`s (hypervisors hv1 and hv2 of a lab); one private network, two security groups and
//! four ports created through the gRPC API; real TCP and ping traffic between the instances, some
//! of it allowed and some denied; every second a live table of what the kernel decided, per port.
//!
//! ```text
//!   hv1: web1 198.18.10.11 [web]    db1    198.18.10.21 [db]
//!   hv2: web2 198.18.10.12 [web]    client 198.18.10.31 [no group]
//!   web: ingress tcp 8080 and icmp from 198.18.10.0/24
//!   db:  ingress tcp 5432 from group web
//! ```
//!
//! Counters come from the agents' `/metrics` (`sdn_agent_port_packets_total` by port, direction and
//! verdict; `sdn_agent_rule_packets_total` by rule); the last denied flow of each port comes from
//! the dataplane's flow events, read from each node's pinned `sdn_events` ring buffer (the agent
//! does not consume it). Ctrl-C, SIGTERM, SIGHUP, `--seconds N` or a panic end it; then the
//! traffic stops, the agents, the controller and etcd are killed and the lab (namespaces, links,
//! pins, logs) is deleted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use node_agent::attribution::{Attribution, Builtin};
use node_agent::port_dataplane::{FlowEvent, FlowEventKind, monotonic_ns};
use sdn_controller::etcd_server::EtcdServer;
use sdn_proto::v1 as pb;
use sdn_tests::cloud::{
    Agent, Api, Controller, adopt_device, bin_dir, build_binaries, free_port, from_cidr,
    from_group, id_of, ingress_rule, samples,
};
use sdn_tests::{InstanceSpec, Lab, Remnants};

const NET: &str = "198.18.10.0/24";

/// The hypervisors: name and node id.
const NODES: [(&str, &str); 2] = [
    ("hv1", "de000000-0000-4000-8000-000000000001"),
    ("hv2", "de000000-0000-4000-8000-000000000002"),
];

/// The instances: name, hypervisor, address, security group ("" = none).
const VMS: [(&str, &str, &str, &str); 4] = [
    ("web1", "hv1", "198.18.10.11", "web"),
    ("db1", "hv1", "198.18.10.21", "db"),
    ("web2", "hv2", "198.18.10.12", "web"),
    ("client", "hv2", "198.18.10.31", ""),
];

/// A TCP flow the demo opens once a second: from, to, port, what the policy says, and why.
struct Flow {
    from: &'static str,
    to: &'static str,
    port: u16,
    allowed: bool,
    why: &'static str,
}

const FLOWS: [Flow; 7] = [
    Flow {
        from: "client",
        to: "web1",
        port: 8080,
        allowed: true,
        why: "web: tcp 8080 from the network (over VXLAN)",
    },
    Flow {
        from: "client",
        to: "web2",
        port: 8080,
        allowed: true,
        why: "web: tcp 8080 from the network",
    },
    Flow {
        from: "web1",
        to: "db1",
        port: 5432,
        allowed: true,
        why: "db: tcp 5432 from group web",
    },
    Flow {
        from: "web2",
        to: "db1",
        port: 5432,
        allowed: true,
        why: "db: tcp 5432 from group web (over VXLAN)",
    },
    Flow {
        from: "client",
        to: "db1",
        port: 5432,
        allowed: false,
        why: "client is not in group web",
    },
    Flow {
        from: "web1",
        to: "web2",
        port: 22,
        allowed: false,
        why: "web opens only tcp 8080 and icmp",
    },
    Flow {
        from: "web2",
        to: "client",
        port: 8080,
        allowed: false,
        why: "client has no group: nothing gets in",
    },
];

/// Pings, twice a second: from, to, what the policy says.
const PINGS: [(&str, &str, bool); 2] = [("client", "web1", true), ("client", "db1", false)];

fn ip_of(vm: &str) -> &'static str {
    VMS.iter()
        .find(|v| v.0 == vm)
        .map(|v| v.2)
        .expect("a demo instance")
}

fn name_of(ip: IpAddr) -> String {
    VMS.iter()
        .find(|v| v.2.parse::<IpAddr>().ok() == Some(ip))
        .map_or_else(|| ip.to_string(), |v| v.0.to_owned())
}

pub fn run(seconds: Option<u64>) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the demo builds network namespaces and loads eBPF: run `sudo -E cargo xtask demo`");
    }
    sdn_tests::probe().map_err(|e| anyhow!("this machine cannot run a lab: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    ctrlc::set_handler(move || on_signal.store(true, Ordering::SeqCst))
        .context("install the Ctrl-C/SIGTERM handler")?;
    let interrupted = || -> Result<()> {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted during set-up; everything made so far is removed");
        }
        Ok(())
    };

    println!("building sdn-controller, node-agent and sdnctl (a no-op when current) ...");
    build_binaries(&["sdn-controller", "node-agent", "sdnctl"])?;
    interrupted()?;

    // Declared in this order so that they are dropped in the reverse one: traffic, agents,
    // controller, lab (namespaces, pins, logs, stray processes), etcd.
    let etcd = EtcdServer::start();
    let mut lab = Lab::new("demo");
    let prefix = lab.prefix().to_owned();
    let controller = Controller::start(&lab, etcd.endpoint(), free_port())?;
    println!(
        "etcd {} and sdn-controller {} (plaintext gRPC) are up; lab {prefix}",
        etcd.endpoint(),
        controller.addr()
    );
    let mut underlay = BTreeMap::new();
    for (hv, _) in NODES {
        let h = lab.add_hypervisor(hv);
        underlay.insert(hv, h.underlay_ipv4.addr().to_string());
    }
    for (vm, hv, ip, _) in VMS {
        lab.add_instance(
            vm,
            hv,
            InstanceSpec::new().ipv4(&format!("{ip}/24")).without_ipv6(),
        );
    }
    let mut agents = Vec::new();
    for (hv, node) in NODES {
        agents.push(Agent::start(
            &lab,
            hv,
            node,
            &underlay[hv],
            controller.port,
        )?);
    }
    let mut api = Api::connect(&controller.url())?;
    api.wait_for_nodes(&NODES.map(|n| n.1), Duration::from_secs(20))
        .context("the agents did not register")?;
    println!(
        "node-agents registered: {}",
        NODES
            .iter()
            .zip(&agents)
            .map(|((hv, _), a)| format!("{hv} (underlay {}, {})", underlay[hv], a.metrics_url()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    interrupted()?;

    // Everything below goes through the controller's gRPC API, as an orchestrator would.
    let net = api.create_network("demo-net", NET)?;
    let web = api.create_group(
        "web",
        vec![
            ingress_rule(pb::ProtocolName::Tcp, 8080, from_cidr(NET)),
            ingress_rule(pb::ProtocolName::Icmp, 0, from_cidr(NET)),
        ],
    )?;
    let web_id = id_of(&web.meta);
    let db = api.create_group(
        "db",
        vec![ingress_rule(
            pb::ProtocolName::Tcp,
            5432,
            from_group(&web_id),
        )],
    )?;
    let db_id = id_of(&db.meta);
    println!(
        "API: network demo-net {NET} (VNI {}); group web: tcp 8080 and icmp from {NET}; group db: tcp 5432 from group web",
        net.vni
    );
    let mut rule_names = Vec::new();
    for (group, names) in [
        (&web, ["web tcp/8080", "web icmp"].as_slice()),
        (&db, ["db tcp/5432 from web"].as_slice()),
    ] {
        for (rule, name) in group.rules.iter().zip(names) {
            rule_names.push((rule.id.clone(), *name));
        }
    }
    let mut ports: Vec<Port> = Vec::new();
    for (vm, hv, ip, group) in VMS {
        let node = NODES.iter().find(|n| n.0 == hv).map(|n| n.1).unwrap_or("");
        let groups = match group {
            "web" => vec![web_id.clone()],
            "db" => vec![db_id.clone()],
            _ => Vec::new(),
        };
        let port = api.create_port(&lab, vm, node, &id_of(&net.meta), ip, &groups)?;
        let id = id_of(&port.meta);
        // The orchestrator's side of the contract: the instance's device carries the port's name.
        let dev = adopt_device(&lab, vm, &id);
        let d = dev.clone();
        let ifindex = lab.run_in(hv, move || nix::net::if_::if_nametoindex(d.as_str()))?;
        ports.push(Port {
            vm,
            hv,
            group,
            id,
            dev,
            ifindex,
        });
    }
    println!(
        "API: ports {}",
        ports
            .iter()
            .map(|p| format!(
                "{} on {} [{}] -> device {}",
                p.vm,
                p.hv,
                if p.group.is_empty() { "-" } else { p.group },
                p.dev
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for p in &ports {
        let id = p.id.clone();
        wait_or_stop(&stop, &format!("port {} to be programmed", p.vm), || {
            api.receipt(&id).is_ok_and(|r| r.converged)
        })?;
    }
    wait_or_stop(&stop, "client to ping web1 over VXLAN", || {
        lab.try_exec("client", &["ping", "-c", "1", "-W", "1", ip_of("web1")])
            .is_ok()
    })?;
    println!("\nconvergence receipts (GetConvergence; latency = object commit to node ack):");
    for (kind, name, id) in [
        ("network", "demo-net", id_of(&net.meta)),
        ("group", "web", web_id.clone()),
        ("group", "db", db_id.clone()),
    ] {
        let r = api.receipt(&id)?;
        println!("  {kind} {name:<8} {}", receipt_line(&r));
    }

    let traffic = Traffic::start(&lab, stop.clone())?;
    for (from, to, _) in PINGS {
        lab.spawn(from, &["ping", "-q", "-i", "0.5", ip_of(to)]);
    }
    let mut events = EventReader::open(&lab, &ports)?;
    print_intro(&prefix, &controller, &web_id, &agents);

    let started = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let mut last_lines = 0;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_secs(1));
        events.drain();
        let frame = render(
            started.elapsed(),
            &ports,
            &agents,
            &rule_names,
            &events,
            &traffic,
        );
        let mut out = std::io::stdout().lock();
        if tty && last_lines > 0 {
            // Redraw in place.
            let _ = write!(out, "\x1b[{last_lines}A\x1b[J");
        }
        let _ = write!(out, "{frame}");
        let _ = out.flush();
        last_lines = frame.lines().count();
        if seconds.is_some_and(|s| started.elapsed() >= Duration::from_secs(s)) {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    println!("\nstopping: traffic, agents, controller and etcd, then the lab ...");
    drop(events);
    drop(traffic);
    drop(api);
    drop(agents);
    drop(controller);
    drop(lab);
    drop(etcd);
    let left = Remnants::find(&prefix);
    if left.is_empty() {
        println!(
            "done: nothing of lab {prefix} is left (namespaces, links, pins, processes, logs); `cargo xtask lab-clean` would find nothing"
        );
        Ok(())
    } else {
        bail!("lab {prefix} left {left:?}; run `cargo xtask lab-clean`")
    }
}

/// One instance's port.
struct Port {
    vm: &'static str,
    hv: &'static str,
    group: &'static str,
    id: String,
    dev: String,
    ifindex: u32,
}

/// Polls `check` every 100 ms for up to 30 s, giving up early on Ctrl-C.
fn wait_or_stop(stop: &AtomicBool, what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted while waiting for {what}; everything made so far is removed");
        }
        if check() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out after 30 s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn receipt_line(r: &pb::ConvergenceReceipt) -> String {
    let node = |n: &pb::NodeProgress| {
        let latency = n.apply_latency.as_ref().map_or(String::new(), |d| {
            format!(", {} ms", d.seconds * 1000 + i64::from(d.nanos) / 1_000_000)
        });
        format!("{} (rev {}{latency})", n.node_name, n.applied_revision)
    };
    let applied: Vec<String> = r.applied.iter().map(node).collect();
    let lagging: Vec<String> = r.lagging.iter().map(node).collect();
    format!(
        "rev {}: {}; applied by {}{}",
        r.revision,
        if r.converged {
            "converged"
        } else {
            "NOT converged"
        },
        if applied.is_empty() {
            "no node".to_owned()
        } else {
            applied.join(", ")
        },
        if lagging.is_empty() {
            String::new()
        } else {
            format!("; lagging: {}", lagging.join(", "))
        }
    )
}

fn print_intro(prefix: &str, controller: &Controller, web_id: &str, agents: &[Agent]) {
    let sdnctl = bin_dir().join("sdnctl");
    let sdnctl = sdnctl.display();
    println!(
        "
traffic, once a second: {}
pings, twice a second: {}

try, in another terminal while this runs:
  export SDNCTL_CONTROLLER={addr} SDNCTL_INSECURE=1
  {sdnctl} groups list
  {sdnctl} ports list
  {sdnctl} status group {web_id}
  {sdnctl} groups add-rule {web_id} 'ingress tcp 22 from {NET}' --wait 10s
      -> web1 -> web2:22 turns allowed below
  curl -s {metrics} | grep sdn_agent_port_packets_total
  nsenter --net=/run/netns/{prefix}-client ping -c 3 {db1}     (denied: db admits only tcp 5432 from web)
Ctrl-C stops the demo and removes everything it made.
",
        FLOWS
            .iter()
            .map(|f| format!("{}->{}:{}", f.from, f.to, f.port))
            .collect::<Vec<_>>()
            .join(", "),
        PINGS
            .iter()
            .map(|(from, to, _)| format!("{from}->{to}"))
            .collect::<Vec<_>>()
            .join(", "),
        addr = controller.addr(),
        metrics = agents.first().map_or(String::new(), Agent::metrics_url),
        db1 = ip_of("db1"),
    );
}

/// Per port and direction, packets by verdict, from the agents' `/metrics`.
fn port_verdicts(agents: &[Agent]) -> BTreeMap<(String, String, String), u64> {
    let mut out = BTreeMap::new();
    for a in agents {
        for s in samples(&a.scrape()) {
            if s.name == "sdn_agent_port_packets_total" {
                out.insert(
                    (
                        s.label("port").to_owned(),
                        s.label("direction").to_owned(),
                        s.label("verdict").to_owned(),
                    ),
                    s.value as u64,
                );
            }
        }
    }
    out
}

/// Flows opened per rule (API rule id), summed over the agents.
fn rule_packets(agents: &[Agent]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for a in agents {
        for s in samples(&a.scrape()) {
            if s.name == "sdn_agent_rule_packets_total" {
                *out.entry(s.label("rule").to_owned()).or_default() += s.value as u64;
            }
        }
    }
    out
}

fn render(
    elapsed: Duration,
    ports: &[Port],
    agents: &[Agent],
    rule_names: &[(String, &str)],
    events: &EventReader,
    traffic: &Traffic,
) -> String {
    let v = port_verdicts(agents);
    let get = |port: &str, dir: &str, verdict: &str| {
        v.get(&(port.to_owned(), dir.to_owned(), verdict.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let mut f = String::new();
    let _ = writeln!(
        f,
        "\nt={:>3}s  packets per port, from the agents' /metrics   (in = delivered to the instance, out = sent by it)",
        elapsed.as_secs()
    );
    let _ = writeln!(
        f,
        "  port    hv   group  in:rule in:estab in:DENIED  out:open out:estab  last denied (flow event, sdn_events)"
    );
    let now = monotonic_ns();
    for p in ports {
        let denied = get(&p.id, "ingress", Builtin::DefaultDenyIngress.name())
            + get(&p.id, "egress", Builtin::DefaultDenyEgress.name());
        let last = events.last_denied.get(&(p.hv, p.ifindex)).map_or_else(
            || "-".to_owned(),
            |e| {
                let age = Duration::from_nanos(now.saturating_sub(e.ts_ns));
                format!("{}  {:.1}s ago", describe(e), age.as_secs_f64())
            },
        );
        let _ = writeln!(
            f,
            "  {:<7} {:<4} {:<5} {:>8} {:>8} {:>10} {:>9} {:>9}  {last}",
            p.vm,
            p.hv,
            if p.group.is_empty() { "-" } else { p.group },
            get(&p.id, "ingress", "rule"),
            get(&p.id, "ingress", Builtin::Established.name()),
            denied,
            get(&p.id, "egress", Builtin::EgressOpen.name()) + get(&p.id, "egress", "rule"),
            get(&p.id, "egress", Builtin::Established.name()),
        );
    }
    let rules = rule_packets(agents);
    let _ = writeln!(
        f,
        "  flows opened per rule: {}",
        rule_names
            .iter()
            .map(|(id, name)| format!("{name} {}", rules.get(id).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        f,
        "  tcp flows, once a second (connected/tried, seen by the connecting instance; the policy as the demo set it up):"
    );
    for (i, flow) in FLOWS.iter().enumerate() {
        let (ok, tried, last) = traffic.counts(i);
        let _ = writeln!(
            f,
            "    {:<22} {:>4}/{:<4} last: {:<9}  set up as {}: {}",
            format!("{} -> {}:{}", flow.from, flow.to, flow.port),
            ok,
            tried,
            if last { "connected" } else { "timed out" },
            if flow.allowed { "allowed" } else { "denied" },
            flow.why
        );
    }
    let _ = writeln!(
        f,
        "  pings, twice a second: {}",
        PINGS
            .iter()
            .map(|(from, to, ok)| format!(
                "{from} -> {to} {}",
                if *ok {
                    "(set up as allowed: web admits icmp)"
                } else {
                    "(set up as denied: db has no icmp rule)"
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    f
}

fn describe(e: &FlowEvent) -> String {
    let proto = match e.proto {
        1 => "icmp".to_owned(),
        2 => "igmp".to_owned(),
        6 => "tcp".to_owned(),
        17 => "udp".to_owned(),
        58 => "icmpv6".to_owned(),
        132 => "sctp".to_owned(),
        n => format!("proto {n}"),
    };
    let (src, dst) = (name_of(e.src), name_of(e.dst));
    let flow = match e.proto {
        1 | 58 => format!("{src} -> {dst} {proto} type {}", e.dport >> 8),
        6 | 17 | 132 => format!("{src}:{} -> {dst}:{} {proto}", e.sport, e.dport),
        _ => format!("{src} -> {dst} {proto}"),
    };
    let by = match e.attribution {
        Attribution::Builtin(b) => b.name().to_owned(),
        other => other.to_string(),
    };
    format!("{flow}: {by}")
}

/// The flow events of every node, read from the pinned `sdn_events` ring buffers.
struct EventReader {
    rings: Vec<(&'static str, aya::maps::RingBuf<aya::maps::MapData>)>,
    /// The last denied event per (hypervisor, ifindex).
    last_denied: BTreeMap<(&'static str, u32), FlowEvent>,
}

impl EventReader {
    fn open(lab: &Lab, ports: &[Port]) -> Result<EventReader> {
        let mut rings = Vec::new();
        let mut hvs: Vec<&'static str> = ports.iter().map(|p| p.hv).collect();
        hvs.dedup();
        for hv in hvs {
            let path = lab.pin_dir(hv).join("port/maps/sdn_events");
            let data = aya::maps::MapData::from_pin(&path)
                .with_context(|| format!("open {}", path.display()))?;
            let map = aya::maps::Map::from_map_data(data)?;
            rings.push((hv, aya::maps::RingBuf::try_from(map)?));
        }
        Ok(EventReader {
            rings,
            last_denied: BTreeMap::new(),
        })
    }

    fn drain(&mut self) {
        for (hv, ring) in &mut self.rings {
            while let Some(item) = ring.next() {
                if let Some(e) = FlowEvent::decode(&item)
                    && e.kind == FlowEventKind::Denied
                {
                    self.last_denied.insert((*hv, e.ifindex), e);
                }
            }
        }
    }
}

/// The TCP servers and the flows of [`FLOWS`], each on its own thread; stopped and joined on drop.
struct Traffic {
    stop: Arc<AtomicBool>,
    /// (connected, tried, whether the last try connected) per flow.
    counts: Arc<Vec<(AtomicU64, AtomicU64, AtomicBool)>>,
    threads: Vec<JoinHandle<()>>,
}

impl Traffic {
    fn start(lab: &Lab, stop: Arc<AtomicBool>) -> Result<Traffic> {
        let mut threads = Vec::new();
        let mut listening: Vec<(&str, u16)> = Vec::new();
        for flow in &FLOWS {
            if listening.contains(&(flow.to, flow.port)) {
                continue;
            }
            listening.push((flow.to, flow.port));
            let addr = SocketAddr::new(ip_of(flow.to).parse()?, flow.port);
            let listener = lab.run_in(flow.to, move || TcpListener::bind(addr))?;
            listener.set_nonblocking(true)?;
            let (stop, name) = (stop.clone(), flow.to);
            threads.push(std::thread::spawn(move || serve(&listener, name, &stop)));
        }
        let counts: Arc<Vec<(AtomicU64, AtomicU64, AtomicBool)>> = Arc::new(
            FLOWS
                .iter()
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false)))
                .collect(),
        );
        for (i, flow) in FLOWS.iter().enumerate() {
            let netns = lab.netns_path(flow.from);
            let addr = SocketAddr::new(ip_of(flow.to).parse()?, flow.port);
            let (stop, counts) = (stop.clone(), counts.clone());
            threads.push(std::thread::spawn(move || {
                let run = node_agent::netns::run_in(&netns, || {
                    while !stop.load(Ordering::SeqCst) {
                        let started = Instant::now();
                        counts[i].1.fetch_add(1, Ordering::Relaxed);
                        let connected = request(addr).is_ok();
                        if connected {
                            counts[i].0.fetch_add(1, Ordering::Relaxed);
                        }
                        counts[i].2.store(connected, Ordering::Relaxed);
                        let rest = Duration::from_secs(1).saturating_sub(started.elapsed());
                        std::thread::sleep(rest);
                    }
                });
                if let Err(e) = run {
                    eprintln!("traffic from {}: {e}", netns.display());
                }
            }));
        }
        Ok(Traffic {
            stop,
            counts,
            threads,
        })
    }

    /// (connected, tried, whether the last try connected).
    fn counts(&self, flow: usize) -> (u64, u64, bool) {
        let (ok, tried, last) = &self.counts[flow];
        (
            ok.load(Ordering::Relaxed),
            tried.load(Ordering::Relaxed),
            last.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One request: connect (a denied SYN is dropped, so this times out), send a line, read the reply.
fn request(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(700))?;
    s.set_read_timeout(Some(Duration::from_millis(700)))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    if reply.is_empty() {
        return Err(std::io::Error::other("empty reply"));
    }
    Ok(())
}

/// Answers every connection with a one-line HTTP reply naming the instance.
fn serve(listener: &TcpListener, name: &str, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf);
                let _ = write!(s, "HTTP/1.0 200 OK\r\n\r\nhello from {name}\n");
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
