//! The lab: a topology of network namespaces built by a test, torn down when it is dropped.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::address::{Cidr, Mac};
use crate::command::{Place, display};
use crate::error::{LabError, Result};
use crate::naming::{lock_path, log_dir, netns_name, new_prefix, pin_root, valid_node_name};
use crate::owner::OwnerLock;
use crate::remnants::teardown;

/// The name of the NIC inside instance and client namespaces, as inside a VM.
pub const GUEST_NIC: &str = "eth0";

/// Most hypervisors a lab holds (underlay 198.18.0.1 to .99).
const MAX_HYPERVISORS: u32 = 99;
/// Most clients a lab holds (underlay 198.18.0.101 to .199).
const MAX_CLIENTS: u32 = 99;
/// Most instances a lab holds (host-side port `<prefix>p9999` is the longest name that fits).
const MAX_INSTANCES: u32 = 9999;
/// Most instances that can take a default IPv4 address in 198.18.1.0/24.
const MAX_DEFAULT_V4: u32 = 254;
/// How long `exec` lets a command run unless told otherwise.
const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the harness's own plumbing commands (`ip`, `ethtool`, `sysctl`) may take.
const PLUMBING_TIMEOUT: Duration = Duration::from_secs(20);

/// The fabric: a namespace holding the bridge that every hypervisor's and client's underlay joins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fabric {
    /// Its namespace, `<prefix>-fabric`.
    pub netns: String,
    /// The bridge, `<prefix>br`.
    pub bridge: String,
}

/// A hypervisor: a namespace with an underlay veth to the fabric bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hypervisor {
    /// The node name given by the test.
    pub name: String,
    /// Its namespace, `<prefix>-<name>`.
    pub netns: String,
    /// The underlay interface in the hypervisor's namespace, `<prefix>up`.
    pub uplink: String,
    /// The uplink's ifindex in the hypervisor's namespace.
    pub uplink_ifindex: u32,
    /// The peer of the uplink on the fabric bridge, `<prefix>f<n>`.
    pub fabric_port: String,
    /// Underlay IPv4 address, 198.18.0.N/24 for the N-th hypervisor.
    pub underlay_ipv4: Cidr,
    /// Underlay IPv6 address, 2001:db8::N/64.
    pub underlay_ipv6: Cidr,
}

/// An instance: a namespace with one NIC whose veth peer (the host-side port) lives in its hypervisor's
/// namespace, where a node agent attaches to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The node name given by the test.
    pub name: String,
    /// The hypervisor it runs on.
    pub hypervisor: String,
    /// Its namespace, `<prefix>-<name>`.
    pub netns: String,
    /// The NIC inside the instance, [`GUEST_NIC`].
    pub nic: String,
    /// The host-side port in the hypervisor's namespace, `<prefix>p<n>`.
    pub port: String,
    /// The host-side port's ifindex in the hypervisor's namespace.
    pub port_ifindex: u32,
    /// The NIC's MAC.
    pub mac: Mac,
    /// The NIC's IPv4 address, if any.
    pub ipv4: Option<Cidr>,
    /// The NIC's IPv6 address, if any (added without duplicate address detection).
    pub ipv6: Option<Cidr>,
}

/// A client: a namespace on the fabric for traffic from outside the cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The node name given by the test.
    pub name: String,
    /// Its namespace, `<prefix>-<name>`.
    pub netns: String,
    /// Its NIC, [`GUEST_NIC`].
    pub nic: String,
    /// The NIC's peer on the fabric bridge, `<prefix>f<n>`.
    pub fabric_port: String,
    /// IPv4 address on the underlay, 198.18.0.(100+N)/24 for the N-th client.
    pub ipv4: Cidr,
    /// IPv6 address on the underlay, 2001:db8::(100+N)/64.
    pub ipv6: Cidr,
}

#[derive(Clone, Copy, Debug, Default)]
enum Choice<T> {
    #[default]
    Default,
    Given(T),
    Without,
}

/// How to build an instance: addresses and MAC, each defaulting to the lab's plan.
///
/// Defaults for the N-th instance of a lab: IPv4 198.18.1.N/24, IPv6 2001:db8:1::N/64, MAC
/// `02:00:c6:12:HI:LO`.
#[derive(Clone, Debug, Default)]
pub struct InstanceSpec {
    ipv4: Choice<Cidr>,
    ipv6: Choice<Cidr>,
    mac: Option<Mac>,
}

impl InstanceSpec {
    /// The default spec.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the IPv4 address, e.g. `"198.18.1.5/24"`.
    ///
    /// # Panics
    /// When `cidr` is not an IPv4 address inside 198.18.0.0/15.
    pub fn ipv4(mut self, cidr: &str) -> Self {
        let cidr = parse(cidr);
        assert!(cidr.is_ipv4(), "{cidr} is not an IPv4 address");
        self.ipv4 = Choice::Given(cidr);
        self
    }

    /// Sets the IPv6 address, e.g. `"2001:db8:1::5/64"`.
    ///
    /// # Panics
    /// When `cidr` is not an IPv6 address inside 2001:db8::/32.
    pub fn ipv6(mut self, cidr: &str) -> Self {
        let cidr = parse(cidr);
        assert!(!cidr.is_ipv4(), "{cidr} is not an IPv6 address");
        self.ipv6 = Choice::Given(cidr);
        self
    }

    /// Leaves the NIC without an IPv4 address.
    pub fn without_ipv4(mut self) -> Self {
        self.ipv4 = Choice::Without;
        self
    }

    /// Leaves the NIC without a global IPv6 address (it keeps its link-local one).
    pub fn without_ipv6(mut self) -> Self {
        self.ipv6 = Choice::Without;
        self
    }

    /// Sets the MAC, e.g. `"02:00:00:00:00:01"`.
    ///
    /// # Panics
    /// When `mac` is not a unicast MAC address.
    pub fn mac(mut self, mac: &str) -> Self {
        self.mac = Some(mac.parse().unwrap_or_else(|e| panic!("{e}")));
        self
    }
}

fn parse(cidr: &str) -> Cidr {
    cidr.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A process started by [`Lab::spawn`]. The lab owns the process and kills it at cleanup; this handle
/// names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabProcess {
    index: usize,
    pid: u32,
    node: String,
    command: String,
    log: PathBuf,
}

impl LabProcess {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The node it runs in.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The file that receives its stdout and stderr.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// What it has printed so far (stdout and stderr interleaved; lossy UTF-8).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

struct Tracked {
    handle: LabProcess,
    child: Child,
    exited: Option<ExitStatus>,
}

/// A lab: network namespaces, veths, bridges, pin directories and processes made by one test, all
/// carrying one prefix unique to this run, all removed when the `Lab` is dropped (also while a panic
/// unwinds).
///
/// Builder and query methods panic with a message naming the command and its stderr when something
/// fails: a lab that cannot be built is a failed test. Node names are the test's (`hv1`, `vm1`,
/// `client`); the fabric is the node `fabric`.
pub struct Lab {
    name: String,
    prefix: String,
    fabric: Fabric,
    nodes: Vec<String>,
    hypervisors: Vec<Hypervisor>,
    instances: Vec<Instance>,
    clients: Vec<Client>,
    fabric_ports: u32,
    bridges: u32,
    processes: Mutex<Vec<Tracked>>,
    exec_timeout: Duration,
    owner: Option<OwnerLock>,
}

impl Lab {
    /// Creates a lab with a fresh prefix and its fabric (namespace `<prefix>-fabric` holding the bridge
    /// `<prefix>br`). `name` is for humans: it shows in messages and in the lab's lock file.
    ///
    /// Call the privilege gate first (`sdn_ebpf::privilege::gate("lab", sdn_tests::probe())`).
    ///
    /// # Panics
    /// When the lab cannot be created (not root, `ip` missing, ...).
    pub fn new(name: &str) -> Lab {
        let mut prefix = new_prefix();
        while lock_path(&prefix).exists() || pin_root(&prefix).exists() {
            prefix = new_prefix();
        }
        let owner = OwnerLock::create(&prefix, name)
            .unwrap_or_else(|e| panic!("lab {name}: cannot take its lock: {e}"));
        let lab = Lab {
            name: name.to_owned(),
            fabric: Fabric {
                netns: netns_name(&prefix, "fabric"),
                bridge: format!("{prefix}br"),
            },
            prefix,
            nodes: vec!["fabric".to_owned()],
            hypervisors: Vec::new(),
            instances: Vec::new(),
            clients: Vec::new(),
            fabric_ports: 0,
            bridges: 0,
            processes: Mutex::new(Vec::new()),
            exec_timeout: DEFAULT_EXEC_TIMEOUT,
            owner: Some(owner),
        };
        eprintln!("lab {name}: prefix {}", lab.prefix);
        let (netns, bridge) = (lab.fabric.netns.clone(), lab.fabric.bridge.clone());
        lab.or_panic(lab.create_netns(&netns));
        lab.or_panic(lab.ip(&["-n", &netns, "link", "add", &bridge, "type", "bridge"]));
        lab.or_panic(lab.ip(&["-n", &netns, "link", "set", &bridge, "up"]));
        lab
    }

    /// The unique prefix every resource of this lab carries, e.g. `sdnt3k9x0a`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The human name given to [`Lab::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fabric.
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// Sets how long [`Lab::exec`] and [`Lab::try_exec`] let a command run before killing it (60 s by
    /// default).
    pub fn set_exec_timeout(&mut self, timeout: Duration) {
        self.exec_timeout = timeout;
    }

    /// Adds a hypervisor: namespace `<prefix>-<name>` and an underlay veth (`<prefix>up` inside,
    /// `<prefix>f<n>` on the fabric bridge) addressed 198.18.0.N/24 and 2001:db8::N/64.
    ///
    /// # Panics
    /// When `name` is invalid or taken, after 99 hypervisors, or when a command fails.
    pub fn add_hypervisor(&mut self, name: &str) -> Hypervisor {
        let n = self.hypervisors.len() as u32 + 1;
        let created = self
            .claim_node(name, "hypervisor", n, MAX_HYPERVISORS)
            .and_then(|netns| {
                let uplink = format!("{}up", self.prefix);
                let (fabric_port, underlay_ipv4, underlay_ipv6) =
                    self.attach_to_fabric(&netns, &uplink, n)?;
                Ok(Hypervisor {
                    name: name.to_owned(),
                    uplink_ifindex: self.ifindex(name, &uplink)?,
                    netns,
                    uplink,
                    fabric_port,
                    underlay_ipv4,
                    underlay_ipv6,
                })
            });
        let hypervisor = self.or_panic(created);
        self.hypervisors.push(hypervisor.clone());
        hypervisor
    }

    /// Adds a client on the fabric: namespace `<prefix>-<name>` whose NIC `eth0` is addressed
    /// 198.18.0.(100+N)/24 and 2001:db8::(100+N)/64.
    ///
    /// # Panics
    /// When `name` is invalid or taken, after 99 clients, or when a command fails.
    pub fn add_client(&mut self, name: &str) -> Client {
        let n = self.clients.len() as u32 + 1;
        let created = self
            .claim_node(name, "client", n, MAX_CLIENTS)
            .and_then(|netns| {
                let (fabric_port, ipv4, ipv6) =
                    self.attach_to_fabric(&netns, GUEST_NIC, 100 + n)?;
                Ok(Client {
                    name: name.to_owned(),
                    netns,
                    nic: GUEST_NIC.to_owned(),
                    fabric_port,
                    ipv4,
                    ipv6,
                })
            });
        let client = self.or_panic(created);
        self.clients.push(client.clone());
        client
    }

    /// Adds an instance on `hypervisor`: namespace `<prefix>-<name>` whose NIC `eth0` is a veth whose
    /// peer, the host-side port `<prefix>p<n>`, is in the hypervisor's namespace (up, attached to
    /// nothing: connecting it is the node agent's job, or the test's through [`Lab::add_bridge`]).
    ///
    /// # Panics
    /// When `name` is invalid or taken, `hypervisor` unknown, addresses are exhausted, or a command
    /// fails.
    pub fn add_instance(&mut self, name: &str, hypervisor: &str, spec: InstanceSpec) -> Instance {
        let n = self.instances.len() as u32 + 1;
        let created = self.hypervisor_checked(hypervisor).map(|h| h.netns.clone()).and_then(|hv| {
            let ipv4 = match spec.ipv4 {
                Choice::Given(cidr) => Some(cidr),
                Choice::Without => None,
                Choice::Default if n > MAX_DEFAULT_V4 => {
                    return Err(self.too_many("instance with a default IPv4 address", MAX_DEFAULT_V4));
                }
                Choice::Default => Some(parse(&format!("198.18.1.{n}/24"))),
            };
            let ipv6 = match spec.ipv6 {
                Choice::Given(cidr) => Some(cidr),
                Choice::Without => None,
                Choice::Default => Some(parse(&format!("2001:db8:1::{n}/64"))),
            };
            let mac = spec.mac.unwrap_or_else(|| Mac::for_instance(n));
            let netns = self.claim_node(name, "instance", n, MAX_INSTANCES)?;
            let port = format!("{}p{n}", self.prefix);
            #[rustfmt::skip]
            self.ip(&["-n", &hv, "link", "add", &port, "type", "veth", "peer", "name", GUEST_NIC, "netns", &netns])?;
            self.ip(&["-n", &netns, "link", "set", GUEST_NIC, "address", &mac.to_string()])?;
            for cidr in ipv4.iter().chain(&ipv6) {
                self.add_address(&netns, GUEST_NIC, cidr)?;
            }
            self.ip(&["-n", &netns, "link", "set", GUEST_NIC, "up"])?;
            self.ip(&["-n", &hv, "link", "set", &port, "up"])?;
            Ok(Instance {
                name: name.to_owned(),
                hypervisor: hypervisor.to_owned(),
                port_ifindex: self.ifindex(hypervisor, &port)?,
                netns,
                nic: GUEST_NIC.to_owned(),
                port,
                mac,
                ipv4,
                ipv6,
            })
        });
        let instance = self.or_panic(created);
        self.instances.push(instance.clone());
        instance
    }

    /// Makes a plain Linux bridge `<prefix>b<n>` in `node`'s namespace, enslaves `ports` to it and
    /// brings it up; returns its name. For tests that need L2 between ports without an agent.
    ///
    /// # Panics
    /// When `node` is unknown or a command fails.
    pub fn add_bridge(&mut self, node: &str, ports: &[&str]) -> String {
        self.bridges += 1;
        let bridge = format!("{}b{}", self.prefix, self.bridges);
        let made = self.netns_checked(node).and_then(|netns| {
            self.ip(&["-n", &netns, "link", "add", &bridge, "type", "bridge"])?;
            for port in ports {
                self.ip(&["-n", &netns, "link", "set", port, "master", &bridge])?;
            }
            self.ip(&["-n", &netns, "link", "set", &bridge, "up"])
        });
        self.or_panic(made);
        bridge
    }

    /// The hypervisor called `name`.
    ///
    /// # Panics
    /// When there is none.
    pub fn hypervisor(&self, name: &str) -> &Hypervisor {
        self.or_panic(self.hypervisor_checked(name))
    }

    /// The instance called `name`.
    ///
    /// # Panics
    /// When there is none.
    pub fn instance(&self, name: &str) -> &Instance {
        let found = self.instances.iter().find(|i| i.name == name);
        self.or_panic(found.ok_or_else(|| self.no_such("instance", name)))
    }

    /// The client called `name`.
    ///
    /// # Panics
    /// When there is none.
    pub fn client(&self, name: &str) -> &Client {
        let found = self.clients.iter().find(|c| c.name == name);
        self.or_panic(found.ok_or_else(|| self.no_such("client", name)))
    }

    /// The name of `instance`'s host-side port (in its hypervisor's namespace).
    pub fn port_name(&self, instance: &str) -> &str {
        &self.instance(instance).port
    }

    /// The ifindex of `instance`'s host-side port (in its hypervisor's namespace).
    pub fn port_ifindex(&self, instance: &str) -> u32 {
        self.instance(instance).port_ifindex
    }

    /// The namespace name of `node` (`<prefix>-<node>`).
    ///
    /// # Panics
    /// When the lab has no such node.
    pub fn netns(&self, node: &str) -> String {
        self.or_panic(self.netns_checked(node))
    }

    /// The namespace file of `node` (`/run/netns/<prefix>-<node>`), for `setns(2)` or
    /// `node_agent::netns::run_in`.
    pub fn netns_path(&self, node: &str) -> PathBuf {
        node_agent::netns::named(&self.netns(node))
    }

    /// Runs `work` on a fresh thread inside `node`'s namespace (through
    /// `node_agent::netns::run_in`) and returns its result.
    ///
    /// # Panics
    /// When the namespace cannot be entered or `work` panics.
    pub fn run_in<R, F>(&self, node: &str, work: F) -> R
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let path = self.netns_path(node);
        self.or_panic(node_agent::netns::run_in(&path, work).map_err(LabError::from))
    }

    /// The pin directory of `node`, `/sys/fs/bpf/<prefix>/<node>/`, created if needed and removed at
    /// cleanup. Give it to that node's agent.
    ///
    /// # Panics
    /// When the node is unknown or the directory cannot be made (is bpffs mounted? see [`crate::probe`]).
    pub fn pin_dir(&self, node: &str) -> PathBuf {
        let made = self.netns_checked(node).and_then(|_| {
            let dir = pin_root(&self.prefix).join(node);
            std::fs::create_dir_all(&dir).map_err(|source| LabError::Io {
                action: "create pin directory",
                path: dir.clone(),
                source,
            })?;
            Ok(dir)
        });
        self.or_panic(made)
    }

    /// Runs `argv` inside `node`'s namespace and waits for it.
    ///
    /// # Panics
    /// When it cannot start, exits unsuccessfully or outlives the exec timeout; the message holds the
    /// command, the namespace, the exit status, stdout and stderr.
    pub fn exec<S: AsRef<OsStr>>(&self, node: &str, argv: &[S]) -> Output {
        self.or_panic(self.try_exec(node, argv))
    }

    /// Runs `argv` inside `node`'s namespace and waits for it; for commands that are expected to fail
    /// (match on [`LabError::Exit`]).
    pub fn try_exec<S: AsRef<OsStr>>(&self, node: &str, argv: &[S]) -> Result<Output> {
        let netns = self.netns_checked(node)?;
        self.place(node, &netns).run(argv, self.exec_timeout)
    }

    /// Starts `argv` inside `node`'s namespace in the background, its stdout and stderr going to a log
    /// file, and returns once it runs inside the namespace. The lab kills it (and its process group) at
    /// cleanup; a test may [`Lab::kill`] it earlier.
    ///
    /// # Panics
    /// When it cannot be started.
    pub fn spawn<S: AsRef<OsStr>>(&self, node: &str, argv: &[S]) -> LabProcess {
        let started = self.netns_checked(node).and_then(|netns| {
            let mut processes = self.processes();
            let index = processes.len();
            let dir = log_dir(&self.prefix);
            std::fs::create_dir_all(&dir).map_err(|source| LabError::Io {
                action: "create log directory",
                path: dir.clone(),
                source,
            })?;
            let program = argv
                .first()
                .and_then(|p| std::path::Path::new(p.as_ref()).file_name())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let log = dir.join(format!("{index}-{node}-{program}.log"));
            let mut child = self.place(node, &netns).spawn_logged(argv, &log)?;
            wait_entered(&mut child, &netns);
            let handle = LabProcess {
                index,
                pid: child.id(),
                node: node.to_owned(),
                command: display(argv),
                log,
            };
            processes.push(Tracked {
                handle: handle.clone(),
                child,
                exited: None,
            });
            Ok(handle)
        });
        self.or_panic(started)
    }

    /// Whether `process` has exited, and how (without waiting).
    pub fn try_wait(&self, process: &LabProcess) -> Option<ExitStatus> {
        let mut processes = self.processes();
        let tracked = &mut processes[process.index];
        if tracked.exited.is_none() {
            tracked.exited = tracked.child.try_wait().ok().flatten();
        }
        tracked.exited
    }

    /// Kills `process` and its process group with SIGKILL and reaps it; returns how it ended (which
    /// may be an earlier exit of its own).
    pub fn kill(&self, process: &LabProcess) -> ExitStatus {
        let mut processes = self.processes();
        let tracked = &mut processes[process.index];
        stop(tracked)
    }

    /// Sets a sysctl inside `node`'s namespace, e.g. `("net.ipv4.ip_forward", "1")`.
    ///
    /// # Panics
    /// When `sysctl` fails.
    pub fn sysctl(&self, node: &str, key: &str, value: &str) {
        let netns = self.netns(node);
        let set = self.place(node, &netns).run(
            &["sysctl", "-qw", &format!("{key}={value}")],
            PLUMBING_TIMEOUT,
        );
        self.or_panic(set);
    }

    /// Turns offloads of `dev` in `node`'s namespace on or off with `ethtool -K`, e.g.
    /// `&[("tso", false), ("gro", true)]`.
    ///
    /// # Panics
    /// When `ethtool` fails.
    pub fn set_offloads(&self, node: &str, dev: &str, features: &[(&str, bool)]) {
        let netns = self.netns(node);
        let mut argv = vec!["ethtool", "-K", dev];
        for (feature, on) in features {
            argv.extend([*feature, if *on { "on" } else { "off" }]);
        }
        let set = self.place(node, &netns).run(&argv, PLUMBING_TIMEOUT);
        self.or_panic(set);
    }

    /// Prepares `dev` in `node`'s namespace so that XDP sees every packet (testing.md): TSO off, so
    /// locally generated TCP takes the veth's NAPI path, and GRO on, so frames that XDP transmits or
    /// redirects into the veth are taken by the receiving end.
    pub fn tune_for_xdp(&self, node: &str, dev: &str) {
        self.set_offloads(node, dev, &[("tso", false), ("gro", true)]);
    }

    // ---- internals ----

    fn processes(&self) -> MutexGuard<'_, Vec<Tracked>> {
        self.processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn place<'a>(&'a self, node: &'a str, netns: &'a str) -> Place<'a> {
        Place {
            node,
            netns: Some(netns),
            prefix: &self.prefix,
        }
    }

    fn or_panic<T>(&self, result: Result<T>) -> T {
        result.unwrap_or_else(|e| panic!("lab {} ({}): {e}", self.name, self.prefix))
    }

    fn no_such(&self, role: &'static str, name: &str) -> LabError {
        LabError::NoSuchNode {
            prefix: self.prefix.clone(),
            role,
            name: name.to_owned(),
        }
    }

    fn too_many(&self, role: &'static str, max: u32) -> LabError {
        LabError::TooMany {
            prefix: self.prefix.clone(),
            role,
            max,
        }
    }

    fn netns_checked(&self, node: &str) -> Result<String> {
        if self.nodes.iter().any(|n| n == node) {
            Ok(netns_name(&self.prefix, node))
        } else {
            Err(self.no_such("node", node))
        }
    }

    fn hypervisor_checked(&self, name: &str) -> Result<&Hypervisor> {
        self.hypervisors
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| self.no_such("hypervisor", name))
    }

    /// Checks a new node's name and number, records it and creates its namespace.
    fn claim_node(&mut self, name: &str, role: &'static str, n: u32, max: u32) -> Result<String> {
        if !valid_node_name(name) || self.nodes.iter().any(|n| n == name) {
            return Err(LabError::BadNodeName {
                name: name.to_owned(),
            });
        }
        if n > max {
            return Err(self.too_many(role, max));
        }
        let netns = netns_name(&self.prefix, name);
        self.nodes.push(name.to_owned());
        self.create_netns(&netns)?;
        Ok(netns)
    }

    fn create_netns(&self, netns: &str) -> Result<()> {
        self.ip(&["netns", "add", netns])?;
        self.ip(&["-n", netns, "link", "set", "lo", "up"])
    }

    /// Connects `netns` to the fabric bridge through a veth whose inner end is `inner`, addressed
    /// 198.18.0.`host`/24 and 2001:db8::`host`/64.
    fn attach_to_fabric(
        &mut self,
        netns: &str,
        inner: &str,
        host: u32,
    ) -> Result<(String, Cidr, Cidr)> {
        self.fabric_ports += 1;
        let fabric_port = format!("{}f{}", self.prefix, self.fabric_ports);
        let fabric = &self.fabric.netns;
        #[rustfmt::skip]
        self.ip(&["-n", fabric, "link", "add", &fabric_port, "type", "veth", "peer", "name", inner, "netns", netns])?;
        #[rustfmt::skip]
        self.ip(&["-n", fabric, "link", "set", &fabric_port, "master", &self.fabric.bridge, "up"])?;
        let ipv4 = parse(&format!("198.18.0.{host}/24"));
        // The decimal digits read as hex, so 198.18.0.101 pairs with 2001:db8::101.
        let ipv6 = parse(&format!("2001:db8::{host}/64"));
        self.add_address(netns, inner, &ipv4)?;
        self.add_address(netns, inner, &ipv6)?;
        self.ip(&["-n", netns, "link", "set", inner, "up"])?;
        Ok((fabric_port, ipv4, ipv6))
    }

    fn add_address(&self, netns: &str, dev: &str, cidr: &Cidr) -> Result<()> {
        let cidr = cidr.to_string();
        let mut argv = vec!["-n", netns, "addr", "add", &cidr, "dev", dev];
        if cidr.contains(':') {
            // Usable at once: no duplicate address detection in a lab we built ourselves.
            argv.push("nodad");
        }
        self.ip(&argv)
    }

    fn ifindex(&self, node: &str, dev: &str) -> Result<u32> {
        let path = node_agent::netns::named(&self.netns_checked(node)?);
        let name = std::ffi::CString::new(dev).expect("interface names have no NUL");
        // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
        let index = node_agent::netns::run_in(&path, move || unsafe {
            libc::if_nametoindex(name.as_ptr())
        })?;
        if index == 0 {
            return Err(LabError::Io {
                action: "find the ifindex of",
                path: PathBuf::from(format!("{}/{dev}", path.display())),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        Ok(index)
    }

    /// Runs `ip ARGS` from the root namespace (with `-n NETNS` to act inside a lab namespace).
    fn ip(&self, args: &[&str]) -> Result<()> {
        let place = Place {
            node: "root",
            netns: None,
            prefix: &self.prefix,
        };
        let argv: Vec<&str> = std::iter::once("ip").chain(args.iter().copied()).collect();
        place.run(&argv, PLUMBING_TIMEOUT).map(drop)
    }

    /// Kills processes, removes namespaces, links, pins and logs, releases the lock. Never panics.
    fn cleanup(&mut self) {
        let panicking = std::thread::panicking();
        let mut report = String::new();
        for tracked in self.processes().iter_mut() {
            stop(tracked);
            if panicking {
                let _ = writeln!(
                    report,
                    "--- {} in {}: `{}` (pid {}), last lines of {} ---\n{}",
                    self.name,
                    tracked.handle.node,
                    tracked.handle.command,
                    tracked.handle.pid,
                    tracked.handle.log.display(),
                    tail(&tracked.handle.log(), 30),
                );
            }
        }
        if !report.is_empty() {
            eprint!("{report}");
        }
        let mut failures = Vec::new();
        teardown(&self.prefix, &mut failures);
        if let Some(owner) = self.owner.take()
            && let Err(e) = owner.release()
        {
            failures.push(e);
        }
        for failure in failures {
            eprintln!(
                "lab {} ({}): cleanup: {failure}; run `cargo xtask lab-clean` to retry",
                self.name, self.prefix
            );
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Cleanup is written not to panic (a panic while unwinding aborts the process); outside an
        // unwind, a bug in it still only logs.
        let cleaned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.cleanup()));
        if cleaned.is_err() {
            eprintln!(
                "lab {}: cleanup panicked; run `cargo xtask lab-clean`",
                self.prefix
            );
        }
    }
}

/// Waits (up to a second) until `child`, just started through `nsenter`, has entered `netns` or exited.
fn wait_entered(child: &mut Child, netns: &str) {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = std::fs::metadata(node_agent::netns::named(netns)) else {
        return;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let inside = std::fs::metadata(format!("/proc/{}/ns/net", child.id()))
            .is_ok_and(|m| m.ino() == target.ino());
        if inside || !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// SIGKILLs a tracked process's group and reaps it.
fn stop(tracked: &mut Tracked) -> ExitStatus {
    if let Some(status) = tracked.exited {
        return status;
    }
    // Only while it is not reaped is its pid (and process group id) certainly still its own.
    if let Ok(Some(status)) = tracked.child.try_wait() {
        tracked.exited = Some(status);
        return status;
    }
    let _ = killpg(Pid::from_raw(tracked.handle.pid as i32), Signal::SIGKILL);
    let status = tracked
        .child
        .wait()
        .unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(9));
    tracked.exited = Some(status);
    status
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "outside the lab ranges")]
    fn instances_refuse_addresses_outside_the_lab() {
        let _ = InstanceSpec::new().ipv4("192.168.1.1/24");
    }

    #[test]
    #[should_panic(expected = "is not an IPv6 address")]
    fn instances_refuse_an_ipv4_address_as_ipv6() {
        let _ = InstanceSpec::new().ipv6("198.18.1.1/24");
    }

    #[test]
    fn tails_keep_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
