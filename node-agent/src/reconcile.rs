//! The kernel shell of the agent: brings one node's kernel to a [`NodeIntent`] and checks that it
//! stays there (drift).
//!
//! [`Kernel::apply`] runs, in this order, so that no port is ever bridged without its programs:
//! 1. ports: attach the programs to new ports (re-attach when MAC or addresses changed), write
//!    each port's policy when it changed (cutting flows of removed rules when its group asked
//!    for `revoke`);
//! 2. networks: the network driver's plan/apply, with only the ports whose programs are
//!    attached as local ports;
//! 3. ports no longer intended: detached, after step 2 took them off their bridge;
//! 4. DHCP: one server per managed network bridge, its leases and options kept current.
//!
//! Failures are collected per object ([`Problem`]) and the rest still applies; the sync client
//! acks the revision with them, and the next apply or drift check retries.
//!
//! [`Kernel::check_drift`] compares the kernel with the last intent and repairs: ports whose
//! device disappeared or came back, whose pinned links were removed or whose `sdn_port` entry is
//! gone are re-attached (with their policy); the network plan against the live kernel (an FDB,
//! neighbour or device change made by hand) is applied. Each repair is returned, named, for the
//! repair metric and the log.
//!
//! **Architecture Invariant: namespaces.** Everything here is blocking and enters the node's
//! namespace only through [`crate::netns::run_in`] (scoped threads); callers run it on a blocking
//! thread (`tokio::task::spawn_blocking`), never on an async worker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sdn_proto::v1 as pb;

use crate::attribution::DropReason;
use crate::desired::{DhcpIntent, LocalPort, NodeIntent, Problem};
use crate::dhcp::DhcpServer;
use crate::loader::LoaderError;
use crate::network::{DeviceNames, NetworkDriver, NodeNetworks};
use crate::policy::PortPolicy;
use crate::port_dataplane::{
    DataplaneError, ExistingFlows, PortDataplane, PortSpec, PortVerdicts, RuleCounters,
};

/// Something a drift check repaired.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repair {
    /// `port` (programs or port entry re-attached) or `network` (a netlink operation).
    pub what: &'static str,
    /// Which object and what was done, for the log.
    pub detail: String,
}

struct AppliedPort {
    id: String,
    spec: PortSpec,
    policy: PortPolicy,
    ifindex: u32,
}

/// A port's counters, for metrics.
#[derive(Debug, Clone)]
pub struct PortReading {
    /// The port's id.
    pub id: String,
    /// Its device.
    pub device: String,
    /// Its counters.
    pub verdicts: PortVerdicts,
}

/// What the dataplane reports, for metrics.
#[derive(Debug, Clone, Default)]
pub struct KernelReading {
    /// Per port.
    pub ports: Vec<PortReading>,
    /// Drops by reason (packets).
    pub drops: BTreeMap<DropReason, u64>,
    /// Per dataplane rule id.
    pub rules: BTreeMap<u32, RuleCounters>,
    /// DHCP replies (offers + acks) per network id.
    pub dhcp_replies: BTreeMap<String, u64>,
}

/// One node's kernel: port programs, private networks, DHCP servers.
pub struct Kernel {
    netns: PathBuf,
    pin_dir: PathBuf,
    dataplane: PortDataplane,
    networks: NetworkDriver,
    ports: BTreeMap<String, AppliedPort>,
    dhcp: BTreeMap<String, (DhcpIntent, DhcpServer)>,
    /// Whether the classifier entries of earlier agents were collected (once, after the first
    /// complete apply).
    orphans_collected: bool,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("netns", &self.netns)
            .field("ports", &self.ports.keys().collect::<Vec<_>>())
            .field("dhcp", &self.dhcp.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn port_problem(id: &str, reason: impl std::fmt::Display) -> Problem {
    Problem {
        kind: pb::ObjectKind::Port,
        id: id.to_owned(),
        reason: reason.to_string(),
    }
}

impl Kernel {
    /// Loads (or adopts) the port programs for the namespace `netns` with pins under `pin_dir`.
    pub fn open(netns: &Path, pin_dir: &Path, devices: DeviceNames) -> Result<Kernel, LoaderError> {
        let dataplane = PortDataplane::load(netns, pin_dir)?;
        Ok(Kernel {
            netns: netns.to_owned(),
            pin_dir: pin_dir.to_owned(),
            dataplane,
            networks: NetworkDriver::new(netns, devices),
            ports: BTreeMap::new(),
            dhcp: BTreeMap::new(),
            orphans_collected: false,
        })
    }

    /// The port dataplane (flows, counters).
    pub fn dataplane(&mut self) -> &mut PortDataplane {
        &mut self.dataplane
    }

    fn attach(&mut self, port: &LocalPort) -> Result<(), Problem> {
        let attached = self
            .dataplane
            .attach(&port.spec)
            .map_err(|e| port_problem(&port.id, format!("attach {}: {e}", port.spec.name)))?;
        self.ports.insert(
            port.spec.name.clone(),
            AppliedPort {
                id: port.id.clone(),
                spec: port.spec.clone(),
                policy: PortPolicy::default(),
                ifindex: attached.ifindex,
            },
        );
        // A new attachment starts with no policy: write it whatever it is.
        self.write_policy(port, ExistingFlows::Keep, true)
    }

    fn write_policy(
        &mut self,
        port: &LocalPort,
        existing: ExistingFlows,
        force: bool,
    ) -> Result<(), Problem> {
        let device = &port.spec.name;
        let Some(applied) = self.ports.get(device) else {
            return Ok(());
        };
        if !force && applied.policy == port.policy && existing == ExistingFlows::Keep {
            return Ok(());
        }
        match self.dataplane.apply_policy(device, &port.policy, existing) {
            Ok(report) => {
                if report.revoked_flows > 0 {
                    tracing::info!(port = %port.id, flows = report.revoked_flows, "revoked flows of removed rules");
                }
                if let Some(a) = self.ports.get_mut(device) {
                    a.policy = port.policy.clone();
                }
                Ok(())
            }
            Err(e @ DataplaneError::Policy { .. }) => Err(Problem {
                kind: pb::ObjectKind::SecurityGroup,
                id: port.groups.join(","),
                reason: format!("port {}: {e}", port.id),
            }),
            Err(e) => Err(port_problem(&port.id, e)),
        }
    }

    fn detach(&mut self, device: &str) -> Result<(), Problem> {
        let Some(applied) = self.ports.remove(device) else {
            return Ok(());
        };
        self.dataplane
            .detach(device)
            .map_err(|e| port_problem(&applied.id, format!("detach {device}: {e}")))
    }

    /// The networks with only attached ports as local ports.
    fn effective_networks(&self, intent: &NodeIntent) -> NodeNetworks {
        let mut networks = intent.networks.clone();
        for n in &mut networks.networks {
            n.local_ports.retain(|p| self.ports.contains_key(p));
        }
        networks
    }

    /// Brings the kernel to `intent`; `revoke` names the ports whose removed rules' flows are
    /// cut. Returns what failed (the rest is applied).
    pub fn apply(&mut self, intent: &NodeIntent, revoke: &BTreeSet<String>) -> Vec<Problem> {
        let mut problems = Vec::new();
        // 1. Ports and policies.
        for (device, port) in &intent.ports {
            let changed = self.ports.get(device).is_some_and(|a| a.spec != port.spec);
            if changed && let Err(p) = self.detach(device) {
                problems.push(p);
            }
            if !self.ports.contains_key(device) {
                if let Err(p) = self.attach(port) {
                    problems.push(p);
                }
                continue;
            }
            let existing = if revoke.contains(&port.id) {
                ExistingFlows::Revoke
            } else {
                ExistingFlows::Keep
            };
            if let Err(p) = self.write_policy(port, existing, false) {
                problems.push(p);
            }
        }
        // 2. Networks.
        let networks = self.effective_networks(intent);
        match self.networks.apply(&networks) {
            Ok(ops) => {
                for op in &ops {
                    tracing::debug!(%op, "netlink");
                }
            }
            Err(e) => problems.push(Problem {
                kind: pb::ObjectKind::Network,
                id: String::new(),
                reason: e.to_string(),
            }),
        }
        // 3. Ports no longer intended.
        let gone: Vec<String> = self
            .ports
            .keys()
            .filter(|d| !intent.ports.contains_key(*d))
            .cloned()
            .collect();
        for device in gone {
            if let Err(p) = self.detach(&device) {
                problems.push(p);
            }
        }
        // 4. DHCP.
        problems.extend(self.apply_dhcp(intent));
        // 5. Once the first complete state is in place: classifier entries an earlier agent left
        //    under policy ids no port uses any more (it crashed mid-swap, or was replaced).
        if !self.orphans_collected && problems.is_empty() {
            match self.dataplane.collect_orphaned_policies() {
                Ok(deleted) => {
                    if deleted > 0 {
                        tracing::info!(deleted, "collected classifier entries of an earlier agent");
                    }
                    self.orphans_collected = true;
                }
                Err(e) => problems.push(Problem {
                    kind: pb::ObjectKind::SecurityGroup,
                    id: String::new(),
                    reason: format!("collecting orphaned classifier entries: {e}"),
                }),
            }
        }
        problems
    }

    fn apply_dhcp(&mut self, intent: &NodeIntent) -> Vec<Problem> {
        let mut problems = Vec::new();
        let gone: Vec<String> = self
            .dhcp
            .keys()
            .filter(|n| !intent.dhcp.contains_key(*n))
            .cloned()
            .collect();
        for net in gone {
            if let Some((_, server)) = self.dhcp.remove(&net) {
                server.stop();
            }
        }
        for (net, want) in &intent.dhcp {
            match self.dhcp.get_mut(net) {
                Some((have, server)) if have.bridge == want.bridge => {
                    if have.config != want.config {
                        server.set_config(want.config.clone());
                    }
                    if have.leases != want.leases {
                        server.set_leases(want.leases.clone());
                    }
                    *have = want.clone();
                }
                _ => {
                    if let Some((_, old)) = self.dhcp.remove(net) {
                        old.stop();
                    }
                    match DhcpServer::start(
                        &self.netns,
                        &want.bridge,
                        want.config.clone(),
                        want.leases.clone(),
                    ) {
                        Ok(server) => {
                            self.dhcp.insert(net.clone(), (want.clone(), server));
                        }
                        Err(e) => problems.push(Problem {
                            kind: pb::ObjectKind::Network,
                            id: net.clone(),
                            reason: format!("dhcp on {}: {e}", want.bridge),
                        }),
                    }
                }
            }
        }
        problems
    }

    fn link_pinned(&self, device: &str) -> bool {
        let dir = self.pin_dir.join(sdn_ebpf::object::PORT.name).join("links");
        let name = device.replace('%', "%25").replace('.', "%2E");
        ["rx", "tx"]
            .iter()
            .all(|side| dir.join(format!("{name}-{side}")).exists())
    }

    fn port_entry_present(&self, ifindex: u32) -> bool {
        let path = self
            .pin_dir
            .join(sdn_ebpf::object::PORT.name)
            .join("maps")
            .join(sdn_ebpf::object::names::PORT_MAP);
        let Ok(data) = aya::maps::MapData::from_pin(&path) else {
            return false;
        };
        let Ok(map) = aya::maps::HashMap::<_, u32, sdn_ebpf::abi::PortConfig>::try_from(
            aya::maps::Map::HashMap(data),
        ) else {
            return false;
        };
        map.get(&ifindex, 0).is_ok()
    }

    /// Compares the kernel with `intent` and repairs what differs; returns the repairs made and
    /// what could not be repaired.
    pub fn check_drift(&mut self, intent: &NodeIntent) -> (Vec<Repair>, Vec<Problem>) {
        let mut repairs = Vec::new();
        let mut problems = Vec::new();
        let devices: Vec<String> = intent.ports.keys().cloned().collect();
        let indexes: BTreeMap<String, Option<u32>> = crate::netns::run_in(&self.netns, || {
            devices
                .iter()
                .map(|d| (d.clone(), nix::net::if_::if_nametoindex(d.as_str()).ok()))
                .collect()
        })
        .unwrap_or_default();
        for (device, port) in &intent.ports {
            let live = indexes.get(device).copied().flatten();
            let why = match (self.ports.get(device).map(|a| a.ifindex), live) {
                (None, Some(_)) => Some("programs attached (device present)"),
                (None, None) => None,
                (Some(_), None) => Some("device gone: programs released"),
                (Some(had), Some(now)) if had != now => {
                    Some("device replaced: programs re-attached")
                }
                (Some(_), Some(_)) if !self.link_pinned(device) => {
                    Some("pinned links missing: programs re-attached")
                }
                (Some(i), Some(_)) if !self.port_entry_present(i) => {
                    Some("sdn_port entry missing: port re-programmed")
                }
                _ => None,
            };
            let Some(why) = why else { continue };
            if self.ports.contains_key(device)
                && let Err(p) = self.detach(device)
            {
                problems.push(p);
            }
            if live.is_some()
                && let Err(p) = self.attach(port)
            {
                problems.push(p);
                continue;
            }
            repairs.push(Repair {
                what: "port",
                detail: format!("port {} ({device}): {why}", port.id),
            });
        }
        let networks = self.effective_networks(intent);
        match self.networks.plan(&networks) {
            Ok(ops) if !ops.is_empty() => match self.networks.apply(&networks) {
                Ok(applied) => repairs.extend(applied.iter().map(|op| Repair {
                    what: "network",
                    detail: op.to_string(),
                })),
                Err(e) => problems.push(Problem {
                    kind: pb::ObjectKind::Network,
                    id: String::new(),
                    reason: e.to_string(),
                }),
            },
            Ok(_) => {}
            Err(e) => problems.push(Problem {
                kind: pb::ObjectKind::Network,
                id: String::new(),
                reason: e.to_string(),
            }),
        }
        problems.extend(self.apply_dhcp(intent));
        (repairs, problems)
    }

    /// Deletes expired conntrack entries; returns how many remain.
    pub fn sweep_conntrack(&mut self) -> Result<u64, LoaderError> {
        Ok(self.dataplane.sweep_conntrack()?.live)
    }

    /// Reads every counter the metrics report.
    pub fn read(&self) -> KernelReading {
        let mut reading = KernelReading::default();
        for (device, applied) in &self.ports {
            match self.dataplane.port_counters(device) {
                Ok(verdicts) => reading.ports.push(PortReading {
                    id: applied.id.clone(),
                    device: device.clone(),
                    verdicts,
                }),
                Err(e) => tracing::warn!(port = %applied.id, "read counters: {e}"),
            }
        }
        match self.dataplane.drops() {
            Ok(drops) => {
                reading.drops = drops.into_iter().map(|(r, c)| (r, c.packets)).collect();
            }
            Err(e) => tracing::warn!("read drops: {e}"),
        }
        match self.dataplane.rule_counters() {
            Ok(rules) => reading.rules = rules,
            Err(e) => tracing::warn!("read rule counters: {e}"),
        }
        for (net, (_, server)) in &self.dhcp {
            let s = server.stats();
            reading.dhcp_replies.insert(net.clone(), s.offers + s.acks);
        }
        reading
    }
}
