//! The security-group dataplane of one node: the port programs attached to instance ports, their
//! policies written into the classifier maps, and what they report — counters by attribution,
//! drops by reason, conntrack, and flow events.
//!
//! Applying a policy (product.md, "Rule changes"):
//! 1. compile it ([`crate::policy`]) under the port's current policy ids, keeping class ids;
//! 2. when the diff shows packets at most one change ([`PolicyDiff::is_atomic`]), apply it in
//!    place: the minimal diff (a remote-group member added is one LPM insert);
//! 3. otherwise recompile under fresh ids, write every new entry (unreachable until step 4),
//!    switch `sdn_port` in one update, then delete the old ids' entries. At no moment is a port
//!    unprotected or half-updated: each packet sees the old policy or the new one.
//!
//! With [`ExistingFlows::Revoke`], conntrack entries admitted by a rule the new policy no longer
//! has are deleted, so their flows are cut; [`ExistingFlows::Keep`] (the default) lets them run.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use aya::Ebpf;
use aya::maps::lpm_trie::LpmTrie;
use aya::maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, PerCpuValues, RingBuf};

use sdn_ebpf::abi::{self, Counter, CtKey, CtValue, PortAddrKey, PortConfig, PortStats};
use sdn_ebpf::object::names;
use tokio::io::unix::AsyncFd;

use crate::attribution::{Attribution, Builtin, DropReason};
use crate::loader::{self, AttachedPort, LoaderError, PortPrograms, Result, map_err};
use crate::metering::TrafficCounters;
use crate::policy::{self, CompileOptions, CompiledPolicy, Direction, PolicyDiff, PortPolicy};

/// An instance port as the dataplane needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The host-side interface in the node's namespace.
    pub name: String,
    /// The instance's MAC: the only source MAC the port may send from.
    pub mac: [u8; 6],
    /// The instance's addresses (IPv4, IPv6, and its IPv6 link-local): the only sources it may use.
    pub addrs: Vec<IpAddr>,
}

/// What happens to established flows whose admitting rule a policy change removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExistingFlows {
    /// They keep going (as AWS does).
    #[default]
    Keep,
    /// They are cut: their conntrack entries are deleted.
    Revoke,
}

/// What applying a policy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Map operations written.
    pub operations: usize,
    /// Whether the policy was swapped under fresh ids (otherwise applied in place).
    pub swapped: bool,
    /// Conntrack entries deleted because their rule went away (revoke).
    pub revoked_flows: usize,
    /// Sizes of the new policy.
    pub stats: policy::PolicyStats,
}

/// Errors of the policy layer.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// Loading, attaching or a map operation failed.
    #[error(transparent)]
    Loader(Box<LoaderError>),
    /// The policy does not compile (limits, unknown group).
    #[error("policy of port {port}: {source}")]
    Policy {
        /// The port.
        port: String,
        /// Why.
        #[source]
        source: policy::PolicyError,
    },
}

impl From<LoaderError> for DataplaneError {
    fn from(e: LoaderError) -> Self {
        DataplaneError::Loader(Box::new(e))
    }
}

struct Installed {
    spec: PortSpec,
    ifindex: u32,
    slot: u32,
    compiled: Option<CompiledPolicy>,
}

/// The security-group programs of one node and the policies of its ports.
pub struct PortDataplane {
    programs: PortPrograms,
    ports: BTreeMap<String, Installed>,
    next_policy_id: u32,
    /// Slots of the per-port arrays in use (also those of adopted ports).
    slots: BTreeSet<u32>,
}

impl std::fmt::Debug for PortDataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortDataplane")
            .field("programs", &self.programs)
            .field("ports", &self.ports.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn mapped(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

fn unmapped(bytes: [u8; 16], family: u8) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    match (family as u32, v6.to_ipv4_mapped()) {
        (abi::SDN_FAMILY_IPV4, Some(v4)) => IpAddr::V4(v4),
        _ => IpAddr::V6(v6),
    }
}

fn possible_cpus() -> Result<usize> {
    aya::util::nr_cpus().map_err(|(path, source)| LoaderError::Io {
        path: path.into(),
        source,
    })
}

fn map_mut<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut aya::maps::Map> {
    ebpf.map_mut(name).ok_or(LoaderError::Missing {
        object: sdn_ebpf::object::PORT.name,
        what: "map",
        name,
    })
}

/// Nanoseconds of CLOCK_MONOTONIC, the programs' clock (`bpf_ktime_get_ns`).
pub fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// A conntrack entry's idle timeout, as the programs compute it.
pub fn ct_timeout(proto: u8, state: u8) -> Duration {
    let s = match (proto, u32::from(state)) {
        (6, abi::SDN_CT_NEW) => abi::SDN_CT_TIMEOUT_TCP_NEW,
        (6, abi::SDN_CT_ESTABLISHED) => abi::SDN_CT_TIMEOUT_TCP_ESTABLISHED,
        (6, abi::SDN_CT_CLOSING) => abi::SDN_CT_TIMEOUT_TCP_CLOSING,
        (6, _) => abi::SDN_CT_TIMEOUT_TCP_CLOSED,
        (17, abi::SDN_CT_NEW) => abi::SDN_CT_TIMEOUT_UDP_NEW,
        (17, _) => abi::SDN_CT_TIMEOUT_UDP_ESTABLISHED,
        _ => abi::SDN_CT_TIMEOUT_OTHER,
    };
    Duration::from_secs(u64::from(s))
}

impl PortDataplane {
    /// Loads the port programs for the node whose namespace is `netns`, pinning (or adopting)
    /// their maps under `pin_dir`.
    pub fn load(netns: &Path, pin_dir: &Path) -> Result<Self> {
        let programs = PortPrograms::load(loader::PORT, netns, pin_dir)?;
        // Adopted maps may hold policies of an earlier agent: allocate ids above theirs.
        let ports: HashMap<_, u32, PortConfig> =
            HashMap::try_from(programs.map(names::PORT_MAP)?).map_err(map_err(names::PORT_MAP))?;
        let adopted: Vec<PortConfig> = ports
            .iter()
            .filter_map(|e| e.ok())
            .map(|(_, c)| c)
            .collect();
        let highest = adopted.iter().flat_map(|cfg| cfg.policy).max().unwrap_or(0);
        let slots = adopted.iter().map(|cfg| cfg.slot).collect();
        Ok(Self {
            programs,
            ports: BTreeMap::new(),
            next_policy_id: highest + 1,
            slots,
        })
    }

    fn allocate_slot(&mut self) -> Result<u32> {
        // The last slot belongs to frames on ports without config (their denied-event budget).
        let slot = (0..abi::SDN_MAX_PORTS - 1)
            .find(|s| !self.slots.contains(s))
            .ok_or_else(|| LoaderError::Io {
                path: "sdn_port_stats".into(),
                source: std::io::Error::other(format!(
                    "all {} port slots of this node are in use",
                    abi::SDN_MAX_PORTS - 1
                )),
            })?;
        self.slots.insert(slot);
        Ok(slot)
    }

    fn allocate_policy_ids(&mut self) -> (u32, u32) {
        let ids = (self.next_policy_id, self.next_policy_id + 1);
        self.next_policy_id += 2;
        ids
    }

    /// Attaches the programs to a port with no security group yet: ingress is denied, egress open,
    /// anti-spoofing on. Its config, addresses and counters are written before the first frame.
    ///
    /// A port an earlier agent left programmed (pinned config with the same MAC) is adopted as it
    /// is: its policy keeps being enforced, its counters and flows continue, and its links move to
    /// this agent's programs. The next [`PortDataplane::apply_policy`] takes it from there.
    pub fn attach(&mut self, spec: &PortSpec) -> Result<AttachedPort> {
        let ifindex = self.programs.ifindex(&spec.name)?;
        let existing = {
            let ports: HashMap<_, u32, PortConfig> =
                HashMap::try_from(self.programs.map(names::PORT_MAP)?)
                    .map_err(map_err(names::PORT_MAP))?;
            ports
                .get(&ifindex, 0)
                .ok()
                .filter(|cfg| cfg.mac == spec.mac)
        };
        let (slot, adopted) = match existing {
            Some(cfg) => {
                self.slots.insert(cfg.slot);
                (cfg.slot, true)
            }
            None => (self.allocate_slot()?, false),
        };
        let attached = match self.programs.attach(&spec.name, |ebpf, ifindex| {
            if adopted {
                write_port_addrs(ebpf, ifindex, spec)
            } else {
                program_port(ebpf, ifindex, slot, spec)
            }
        }) {
            Ok(a) => a,
            Err(e) => {
                if !adopted {
                    self.slots.remove(&slot);
                }
                return Err(e);
            }
        };
        self.ports.insert(
            spec.name.clone(),
            Installed {
                spec: spec.clone(),
                ifindex: attached.ifindex,
                slot,
                compiled: None,
            },
        );
        Ok(attached)
    }

    fn installed(&self, port: &str) -> Result<&Installed> {
        self.ports
            .get(port)
            .ok_or_else(|| LoaderError::NotAttached(port.to_owned()))
    }

    /// Applies `policy` to `port` atomically (see the module docs).
    pub fn apply_policy(
        &mut self,
        port: &str,
        policy: &PortPolicy,
        existing: ExistingFlows,
    ) -> std::result::Result<ApplyReport, DataplaneError> {
        let compile_err = |source| DataplaneError::Policy {
            port: port.to_owned(),
            source,
        };
        let (ifindex, slot, mac, previous) = {
            let i = self.installed(port)?;
            (i.ifindex, i.slot, i.spec.mac, i.compiled.clone())
        };
        let empty = CompiledPolicy {
            ingress: policy::DirectionTables {
                direction: Direction::Ingress,
                policy_id: 0,
                remote_entries: vec![],
                rule_entries: vec![],
            },
            egress: policy::DirectionTables {
                direction: Direction::Egress,
                policy_id: 0,
                remote_entries: vec![],
                rule_entries: vec![],
            },
            egress_default_deny: false,
        };
        let old = previous.clone().unwrap_or(empty);
        // In place when the change shows packets at most one step.
        let mut plan: Option<(CompiledPolicy, PolicyDiff)> = None;
        if let Some(prev) = &previous {
            let options = CompileOptions {
                previous: Some(prev),
                ..CompileOptions::default()
            };
            let new = policy::compile_with(
                policy,
                prev.ingress.policy_id,
                prev.egress.policy_id,
                &options,
            )
            .map_err(compile_err)?;
            let d = policy::diff(prev, &new);
            if d.is_atomic() {
                plan = Some((new, d));
            }
        }
        let swapped = plan.is_none();
        let (new, d) = match plan {
            Some(p) => p,
            None => {
                let (ingress_id, egress_id) = self.allocate_policy_ids();
                let new = policy::compile(policy, ingress_id, egress_id).map_err(compile_err)?;
                let d = policy::diff(&old, &new);
                (new, d)
            }
        };
        let ebpf = self.programs_ebpf();
        write_policy_diff(ebpf, &d)?;
        if d.port_changed || swapped {
            write_port_config(
                ebpf,
                ifindex,
                PortConfigFields {
                    slot,
                    mac,
                    policy: (new.egress.port_policy_id(), new.ingress.port_policy_id()),
                    egress_default_deny: new.egress_default_deny,
                },
            )?;
        }
        // A packet that read the old state (port config, remote class) may still be between its
        // lookups: only after a grace period are the old entries unreachable.
        if !d.remote_deletes.is_empty() || !d.rule_deletes.is_empty() {
            wait_for_readers();
        }
        delete_policy_entries(ebpf, &d)?;
        let revoked_flows = match existing {
            ExistingFlows::Keep => 0,
            ExistingFlows::Revoke => {
                let rules = |c: &CompiledPolicy| -> BTreeSet<u32> {
                    c.rule_entries().map(|e| e.rule_id).collect()
                };
                let removed: BTreeSet<u32> =
                    rules(&old).difference(&rules(&new)).copied().collect();
                revoke_flows(ebpf, ifindex, &removed)?
            }
        };
        let report = ApplyReport {
            operations: d.operations(),
            swapped,
            revoked_flows,
            stats: new.stats(),
        };
        if let Some(installed) = self.ports.get_mut(port) {
            installed.compiled = Some(new);
        }
        Ok(report)
    }

    fn programs_ebpf(&mut self) -> &mut Ebpf {
        self.programs.ebpf_mut()
    }

    /// Detaches the programs from `port` and removes everything of it: config, addresses,
    /// policy entries, counters and conntrack entries.
    pub fn detach(&mut self, port: &str) -> Result<()> {
        let installed = self
            .ports
            .remove(port)
            .ok_or_else(|| LoaderError::NotAttached(port.to_owned()))?;
        self.programs
            .detach(port, |ebpf, ifindex| forget_port(ebpf, ifindex, &installed))?;
        self.slots.remove(&installed.slot);
        Ok(())
    }

    /// Deletes classifier entries whose policy id no port uses any more: what an earlier agent
    /// (crashed mid-swap, or replaced by this one) left behind. Call it once every port has its
    /// policy applied (after the first snapshot). Returns how many entries it deleted.
    pub fn collect_orphaned_policies(&mut self) -> Result<usize> {
        let in_use: BTreeSet<u32> = {
            let ports: HashMap<_, u32, PortConfig> =
                HashMap::try_from(self.programs.map(names::PORT_MAP)?)
                    .map_err(map_err(names::PORT_MAP))?;
            let mut ids: BTreeSet<u32> = ports
                .iter()
                .filter_map(|e| e.ok())
                .flat_map(|(_, cfg)| cfg.policy)
                .collect();
            // Ids a port of ours is compiled under but does not show (no rule entries) stay too.
            for installed in self.ports.values() {
                if let Some(c) = &installed.compiled {
                    ids.insert(c.ingress.policy_id);
                    ids.insert(c.egress.policy_id);
                }
            }
            ids
        };
        let ebpf = self.programs.ebpf_mut();
        // Every classifier key starts with its policy id (host byte order).
        let lpm_policy = |data: &[u8]| u32::from_ne_bytes(data[..4].try_into().expect("4 bytes"));
        let deleted = delete_unused!(ebpf, names::REMOTE_MAP, LpmTrie<_, [u8; 20], abi::RemoteValue>,
            |k: &aya::maps::lpm_trie::Key<[u8; 20]>| lpm_policy(&k.data()), in_use)
            + delete_unused!(ebpf, names::RULE_MATCH_MAP, LpmTrie<_, [u8; 12], abi::RuleValue>,
                |k: &aya::maps::lpm_trie::Key<[u8; 12]>| lpm_policy(&k.data()), in_use)
            + delete_unused!(ebpf, names::REMOTE_HOST_MAP, HashMap<_, abi::RemoteHostKey, abi::RemoteValue>,
                |k: &abi::RemoteHostKey| k.policy, in_use)
            + delete_unused!(ebpf, names::RULE_EXACT_MAP, HashMap<_, abi::RuleExactKey, abi::RuleValue>,
                |k: &abi::RuleExactKey| k.policy, in_use);
        Ok(deleted)
    }

    /// Classifier entries currently in the maps: (remote, rule), exact and prefix together.
    pub fn policy_entries(&self) -> Result<(usize, usize)> {
        let remotes: LpmTrie<_, [u8; 20], abi::RemoteValue> =
            LpmTrie::try_from(self.programs.map(names::REMOTE_MAP)?)
                .map_err(map_err(names::REMOTE_MAP))?;
        let rules: LpmTrie<_, [u8; 12], abi::RuleValue> =
            LpmTrie::try_from(self.programs.map(names::RULE_MATCH_MAP)?)
                .map_err(map_err(names::RULE_MATCH_MAP))?;
        let hosts: HashMap<_, abi::RemoteHostKey, abi::RemoteValue> =
            HashMap::try_from(self.programs.map(names::REMOTE_HOST_MAP)?)
                .map_err(map_err(names::REMOTE_HOST_MAP))?;
        let exact: HashMap<_, abi::RuleExactKey, abi::RuleValue> =
            HashMap::try_from(self.programs.map(names::RULE_EXACT_MAP)?)
                .map_err(map_err(names::RULE_EXACT_MAP))?;
        Ok((
            remotes.keys().count() + hosts.keys().count(),
            rules.keys().count() + exact.keys().count(),
        ))
    }

    /// The attached ports.
    pub fn ports(&self) -> impl Iterator<Item = &AttachedPort> {
        self.programs.ports()
    }

    /// Detaches every port and removes the pins.
    pub fn unload(mut self) -> Result<()> {
        let ports: Vec<String> = self.ports.keys().cloned().collect();
        for port in ports {
            self.detach(&port)?;
        }
        self.programs.unload(|_, _| Ok(()))
    }

    /// A port's counters: metering by frame class, and verdicts by attribution.
    pub fn port_counters(&self, port: &str) -> Result<PortVerdicts> {
        let slot = self.installed(port)?.slot;
        let stats: PerCpuArray<_, PortStats> =
            PerCpuArray::try_from(self.programs.map(names::PORT_STATS_MAP)?)
                .map_err(map_err(names::PORT_STATS_MAP))?;
        let side = |direction: u32| -> Result<DirectionVerdicts> {
            let per_cpu = stats
                .get(&(slot * abi::SDN_DIR_COUNT + direction), 0)
                .map_err(map_err(names::PORT_STATS_MAP))?;
            let mut total = PortStats::default();
            for v in per_cpu.iter() {
                for (t, c) in total.by_class.iter_mut().zip(v.by_class.iter()) {
                    t.packets += c.packets;
                    t.bytes += c.bytes;
                }
                for (t, c) in total.by_builtin.iter_mut().zip(v.by_builtin.iter()) {
                    t.packets += c.packets;
                    t.bytes += c.bytes;
                }
            }
            let mut by_builtin = BTreeMap::new();
            for b in Builtin::ALL {
                by_builtin.insert(b, total.by_builtin[b.id() as usize]);
            }
            Ok(DirectionVerdicts {
                traffic: TrafficCounters::from(abi::MeterValue {
                    by_class: total.by_class,
                }),
                by_rule: total.by_builtin[0],
                by_builtin,
            })
        };
        Ok(PortVerdicts {
            egress: side(abi::SDN_DIR_EGRESS)?,
            ingress: side(abi::SDN_DIR_INGRESS)?,
        })
    }

    /// Per-rule counters (what each rule decided), summed over CPUs.
    pub fn rule_counters(&self) -> Result<BTreeMap<u32, RuleCounters>> {
        let stats: PerCpuHashMap<_, u32, abi::RuleStats> =
            PerCpuHashMap::try_from(self.programs.map(names::RULE_STATS_MAP)?)
                .map_err(map_err(names::RULE_STATS_MAP))?;
        let mut out = BTreeMap::new();
        for entry in stats.iter() {
            let (rule, per_cpu) = entry.map_err(map_err(names::RULE_STATS_MAP))?;
            let mut c = RuleCounters::default();
            for v in per_cpu.iter() {
                c.packets += v.packets;
                c.bytes += v.bytes;
                c.last_hit_ns = c.last_hit_ns.max(v.last_hit_ns);
            }
            out.insert(rule, c);
        }
        Ok(out)
    }

    /// Drops by reason on this node, summed over CPUs.
    pub fn drops(&self) -> Result<BTreeMap<DropReason, Counter>> {
        let drops: PerCpuArray<_, Counter> =
            PerCpuArray::try_from(self.programs.map(names::DROPS_MAP)?)
                .map_err(map_err(names::DROPS_MAP))?;
        let mut out = BTreeMap::new();
        for reason in DropReason::ALL {
            let per_cpu = drops
                .get(&reason.id(), 0)
                .map_err(map_err(names::DROPS_MAP))?;
            let total = per_cpu.iter().fold(Counter::default(), |a, c| Counter {
                packets: a.packets + c.packets,
                bytes: a.bytes + c.bytes,
            });
            out.insert(reason, total);
        }
        Ok(out)
    }

    /// Every conntrack entry (live or expired but not yet swept).
    pub fn flows(&self) -> Result<Vec<Flow>> {
        let ct: HashMap<_, CtKey, CtValue> =
            HashMap::try_from(self.programs.map(names::CT_MAP)?).map_err(map_err(names::CT_MAP))?;
        let now = monotonic_ns();
        let mut out = Vec::new();
        for entry in ct.iter() {
            let (k, v) = entry.map_err(map_err(names::CT_MAP))?;
            out.push(Flow::from_raw(&k, &v, now));
        }
        Ok(out)
    }

    /// Deletes expired conntrack entries and rewrites the fill counter exactly. Returns the flows
    /// that ended by timeout (for flow-ended events) and how many remain.
    pub fn sweep_conntrack(&mut self) -> Result<SweepReport> {
        let now = monotonic_ns();
        let ebpf = self.programs_ebpf();
        let mut ct: HashMap<_, CtKey, CtValue> =
            HashMap::try_from(map_mut(ebpf, names::CT_MAP)?).map_err(map_err(names::CT_MAP))?;
        let mut expired = Vec::new();
        let mut live = 0u64;
        let entries: Vec<(CtKey, CtValue)> = ct.iter().filter_map(|e| e.ok()).collect();
        for (k, v) in entries {
            let idle = now.saturating_sub(v.last_seen_ns);
            if u128::from(idle) > ct_timeout(k.proto, v.state).as_nanos() {
                match ct.remove(&k) {
                    Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                    Err(e) => return Err(map_err(names::CT_MAP)(e)),
                }
                expired.push(Flow::from_raw(&k, &v, now));
            } else {
                live += 1;
            }
        }
        let mut count: Array<_, u64> = Array::try_from(map_mut(ebpf, names::CT_COUNT_MAP)?)
            .map_err(map_err(names::CT_COUNT_MAP))?;
        count
            .set(0, live, 0)
            .map_err(map_err(names::CT_COUNT_MAP))?;
        Ok(SweepReport { live, expired })
    }

    /// The flow-event stream. The ring buffer is taken out of the object: call this once, inside
    /// a tokio runtime.
    pub fn events(&mut self) -> Result<FlowEvents> {
        let map = self.programs.take_map(names::EVENTS_MAP)?;
        let ring = RingBuf::try_from(map).map_err(map_err(names::EVENTS_MAP))?;
        // SAFETY: the ring buffer owns its map's descriptor and keeps it open, unchanged, for as
        // long as it lives, which is as long as the AsyncFd that owns it.
        let fd = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
            .map_err(|e| {
                loader::io(Path::new("sdn_events ring buffer"))(std::io::Error::other(
                    e.to_string(),
                ))
            })?;
        Ok(FlowEvents { ring: fd })
    }
}

/// Writes a port into a loaded port object without attaching anything: its config (no policy yet:
/// ingress denied, egress open) under per-port array slot `slot`, its allowed addresses, and
/// zeroed counters. The driver calls it before attaching; benchmarks and traces call it on an
/// object of their own.
pub fn program_port(ebpf: &mut Ebpf, ifindex: u32, slot: u32, spec: &PortSpec) -> Result<()> {
    let cpus = possible_cpus()?;
    write_port_config(
        ebpf,
        ifindex,
        PortConfigFields {
            slot,
            mac: spec.mac,
            policy: (0, 0),
            egress_default_deny: false,
        },
    )?;
    write_port_addrs(ebpf, ifindex, spec)?;
    // A slot may have served a port before: its counters start again from zero.
    let mut stats: PerCpuArray<_, PortStats> =
        PerCpuArray::try_from(map_mut(ebpf, names::PORT_STATS_MAP)?)
            .map_err(map_err(names::PORT_STATS_MAP))?;
    for direction in [abi::SDN_DIR_EGRESS, abi::SDN_DIR_INGRESS] {
        let zero = PerCpuValues::try_from(vec![PortStats::default(); cpus])
            .map_err(loader::io(Path::new("per-cpu values")))?;
        stats
            .set(slot * abi::SDN_DIR_COUNT + direction, zero, 0)
            .map_err(map_err(names::PORT_STATS_MAP))?;
    }
    Ok(())
}

fn write_port_addrs(ebpf: &mut Ebpf, ifindex: u32, spec: &PortSpec) -> Result<()> {
    let mut addrs: HashMap<_, PortAddrKey, u32> =
        HashMap::try_from(map_mut(ebpf, names::PORT_ADDR_MAP)?)
            .map_err(map_err(names::PORT_ADDR_MAP))?;
    for addr in &spec.addrs {
        let key = PortAddrKey {
            ifindex,
            addr: mapped(*addr),
        };
        addrs
            .insert(key, 1, 0)
            .map_err(map_err(names::PORT_ADDR_MAP))?;
    }
    Ok(())
}

/// Writes a whole compiled policy for a port programmed with [`program_port`] and switches the
/// port to it (for a port that had no policy; the driver's [`PortDataplane::apply_policy`] handles
/// changes).
pub fn install_policy(
    ebpf: &mut Ebpf,
    ifindex: u32,
    slot: u32,
    mac: [u8; 6],
    compiled: &CompiledPolicy,
) -> Result<()> {
    let all = PolicyDiff {
        rule_upserts: compiled.rule_entries().copied().collect(),
        remote_upserts: compiled.remote_entries().copied().collect(),
        ..PolicyDiff::default()
    };
    write_policy_diff(ebpf, &all)?;
    write_port_config(
        ebpf,
        ifindex,
        PortConfigFields {
            slot,
            mac,
            policy: (
                compiled.egress.port_policy_id(),
                compiled.ingress.port_policy_id(),
            ),
            egress_default_deny: compiled.egress_default_deny,
        },
    )
}

/// Waits until every program run that started before now has finished (an RCU grace period:
/// XDP and TC programs run inside RCU read-side sections, and `membarrier(MEMBARRIER_CMD_GLOBAL)`
/// is `synchronize_rcu()`).
fn wait_for_readers() {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            MEMBARRIER_CMD_GLOBAL,
            0 as libc::c_long,
        )
    };
    if r != 0 {
        // Refused (nohz_full CPUs): a program run lasts microseconds; wait far longer.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Deletes the entries of classifier map `$name` (typed `$ty`) whose key's policy id (`$policy`)
/// is not in `$in_use`; evaluates to how many it deleted.
macro_rules! delete_unused {
    ($ebpf:expr, $name:expr, $ty:ty, $policy:expr, $in_use:expr) => {{
        let mut map: $ty = <$ty>::try_from(map_mut($ebpf, $name)?).map_err(map_err($name))?;
        let doomed: Vec<_> = map
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| !$in_use.contains(&$policy(k)))
            .collect();
        for k in &doomed {
            let _ = map.remove(k);
        }
        doomed.len()
    }};
}
use delete_unused;

/// What `sdn_port` holds for a port, in domain terms.
struct PortConfigFields {
    slot: u32,
    mac: [u8; 6],
    /// (egress, ingress) policy ids.
    policy: (u32, u32),
    egress_default_deny: bool,
}

fn write_port_config(ebpf: &mut Ebpf, ifindex: u32, fields: PortConfigFields) -> Result<()> {
    let mut ports: HashMap<_, u32, PortConfig> =
        HashMap::try_from(map_mut(ebpf, names::PORT_MAP)?).map_err(map_err(names::PORT_MAP))?;
    let mut policy = [0u32; abi::SDN_DIR_COUNT as usize];
    policy[abi::SDN_DIR_EGRESS as usize] = fields.policy.0;
    policy[abi::SDN_DIR_INGRESS as usize] = fields.policy.1;
    let cfg = PortConfig {
        policy,
        flags: if fields.egress_default_deny {
            abi::SDN_PORT_EGRESS_DEFAULT_DENY
        } else {
            0
        },
        denied_events_per_sec: 0,
        mac: fields.mac,
        pad: [0; 2],
        slot: fields.slot,
        pad2: 0,
    };
    ports
        .insert(ifindex, cfg, 0)
        .map_err(map_err(names::PORT_MAP))
}

fn write_policy_diff(ebpf: &mut Ebpf, d: &PolicyDiff) -> Result<()> {
    // Rules before remotes: a class becomes reachable only once its rules are in place.
    for e in &d.rule_upserts {
        write_rule_entry(ebpf, e, true)?;
    }
    for e in &d.remote_upserts {
        write_remote_entry(ebpf, e, true)?;
    }
    Ok(())
}

fn delete_policy_entries(ebpf: &mut Ebpf, d: &PolicyDiff) -> Result<()> {
    for e in &d.remote_deletes {
        write_remote_entry(ebpf, e, false)?;
    }
    for e in &d.rule_deletes {
        write_rule_entry(ebpf, e, false)?;
    }
    Ok(())
}

fn ignore_missing(
    r: std::result::Result<(), aya::maps::MapError>,
    map: &'static str,
) -> Result<()> {
    match r {
        Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        Err(e) => Err(map_err(map)(e)),
    }
}

/// Inserts (or removes) one remote entry: host remotes go to the exact map, prefixes to the trie.
fn write_remote_entry(ebpf: &mut Ebpf, e: &policy::RemoteEntry, insert: bool) -> Result<()> {
    let value = abi::RemoteValue { class: e.class };
    if abi::remote_is_host(e.prefix_len) {
        let map = names::REMOTE_HOST_MAP;
        let mut hosts: HashMap<_, abi::RemoteHostKey, abi::RemoteValue> =
            HashMap::try_from(map_mut(ebpf, map)?).map_err(map_err(map))?;
        let key = abi::remote_host_key(e.policy, e.addr.octets());
        if insert {
            hosts.insert(key, value, 0).map_err(map_err(map))
        } else {
            ignore_missing(hosts.remove(&key), map)
        }
    } else {
        let map = names::REMOTE_MAP;
        let mut trie: LpmTrie<_, [u8; 20], abi::RemoteValue> =
            LpmTrie::try_from(map_mut(ebpf, map)?).map_err(map_err(map))?;
        let key = abi::remote_lpm_key(e.policy, e.addr.octets(), e.prefix_len);
        if insert {
            trie.insert(&key, value, 0).map_err(map_err(map))
        } else {
            ignore_missing(trie.remove(&key), map)
        }
    }
}

/// Inserts (or removes) one rule entry: single ports go to the exact map, the rest to the trie.
fn write_rule_entry(ebpf: &mut Ebpf, e: &policy::RuleEntry, insert: bool) -> Result<()> {
    let value = abi::RuleValue {
        rule_id: e.rule_id,
        pad: 0,
    };
    match (e.proto, e.port_prefix) {
        (Some(proto), Some((port, _))) if abi::rule_is_exact(e.proto, e.port_prefix) => {
            let map = names::RULE_EXACT_MAP;
            let mut exact: HashMap<_, abi::RuleExactKey, abi::RuleValue> =
                HashMap::try_from(map_mut(ebpf, map)?).map_err(map_err(map))?;
            let key = abi::rule_exact_key(e.policy, e.class, proto, port);
            if insert {
                exact.insert(key, value, 0).map_err(map_err(map))
            } else {
                ignore_missing(exact.remove(&key), map)
            }
        }
        _ => {
            let map = names::RULE_MATCH_MAP;
            let mut trie: LpmTrie<_, [u8; 12], abi::RuleValue> =
                LpmTrie::try_from(map_mut(ebpf, map)?).map_err(map_err(map))?;
            let key = abi::rule_lpm_key(e.policy, e.class, e.proto, e.port_prefix);
            if insert {
                trie.insert(&key, value, 0).map_err(map_err(map))
            } else {
                ignore_missing(trie.remove(&key), map)
            }
        }
    }
}

fn revoke_flows(ebpf: &mut Ebpf, ifindex: u32, removed: &BTreeSet<u32>) -> Result<usize> {
    if removed.is_empty() {
        return Ok(0);
    }
    remove_flows(ebpf, |k, v| {
        k.ifindex == ifindex && removed.contains(&v.rule_id)
    })
}

fn remove_flows(ebpf: &mut Ebpf, doomed: impl Fn(&CtKey, &CtValue) -> bool) -> Result<usize> {
    let mut ct: HashMap<_, CtKey, CtValue> =
        HashMap::try_from(map_mut(ebpf, names::CT_MAP)?).map_err(map_err(names::CT_MAP))?;
    let keys: Vec<CtKey> = ct
        .iter()
        .filter_map(|e| e.ok())
        .filter(|(k, v)| doomed(k, v))
        .map(|(k, _)| k)
        .collect();
    for k in &keys {
        match ct.remove(k) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
            Err(e) => return Err(map_err(names::CT_MAP)(e)),
        }
    }
    Ok(keys.len())
}

fn forget_port(ebpf: &mut Ebpf, ifindex: u32, installed: &Installed) -> Result<()> {
    let ignore_missing = |r: std::result::Result<(), aya::maps::MapError>, map| match r {
        Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        Err(e) => Err(map_err(map)(e)),
    };
    {
        let mut ports: HashMap<_, u32, PortConfig> =
            HashMap::try_from(map_mut(ebpf, names::PORT_MAP)?).map_err(map_err(names::PORT_MAP))?;
        ignore_missing(ports.remove(&ifindex), names::PORT_MAP)?;
    }
    {
        let mut addrs: HashMap<_, PortAddrKey, u32> =
            HashMap::try_from(map_mut(ebpf, names::PORT_ADDR_MAP)?)
                .map_err(map_err(names::PORT_ADDR_MAP))?;
        for addr in &installed.spec.addrs {
            let key = PortAddrKey {
                ifindex,
                addr: mapped(*addr),
            };
            ignore_missing(addrs.remove(&key), names::PORT_ADDR_MAP)?;
        }
    }
    if let Some(compiled) = &installed.compiled {
        let all = PolicyDiff {
            remote_deletes: compiled.remote_entries().copied().collect(),
            rule_deletes: compiled.rule_entries().copied().collect(),
            ..PolicyDiff::default()
        };
        delete_policy_entries(ebpf, &all)?;
    }
    remove_flows(ebpf, |k, _| k.ifindex == ifindex)?;
    Ok(())
}

/// CLOCK_MONOTONIC_COARSE in ns: what `bpf_ktime_get_coarse_ns` returns.
pub fn coarse_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC_COARSE)
        .expect("CLOCK_MONOTONIC_COARSE is always available");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// One direction of a port: traffic by class, and verdicts by who decided them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectionVerdicts {
    /// Metering (what billing reads).
    pub traffic: TrafficCounters,
    /// Frames decided by a user rule (per-rule detail in [`PortDataplane::rule_counters`]).
    pub by_rule: Counter,
    /// Frames decided by each built-in.
    pub by_builtin: BTreeMap<Builtin, Counter>,
}

/// Both directions of a port, from the instance's side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortVerdicts {
    /// What the instance sent.
    pub egress: DirectionVerdicts,
    /// What was delivered to it.
    pub ingress: DirectionVerdicts,
}

/// What one rule decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounters {
    /// Packets (the opening packets of the flows it admitted).
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// CLOCK_MONOTONIC of the last hit, ns (0 = never).
    pub last_hit_ns: u64,
}

/// A tracked flow, in the port's orientation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The port.
    pub ifindex: u32,
    /// IP protocol number.
    pub proto: u8,
    /// The instance's address.
    pub local: IpAddr,
    /// The peer's address.
    pub remote: IpAddr,
    /// The instance's port (ICMP echo: identifier).
    pub local_port: u16,
    /// The peer's port.
    pub remote_port: u16,
    /// `SDN_CT_*`.
    pub state: u8,
    /// Who opened it.
    pub origin: Direction,
    /// The rule or built-in that admitted it.
    pub admitted_by: Attribution,
    /// Packets (egress, ingress).
    pub packets: (u64, u64),
    /// Bytes (egress, ingress).
    pub bytes: (u64, u64),
    /// Since the last packet.
    pub idle: Duration,
}

impl Flow {
    fn from_raw(k: &CtKey, v: &CtValue, now: u64) -> Flow {
        let e = abi::SDN_DIR_EGRESS as usize;
        let i = abi::SDN_DIR_INGRESS as usize;
        Flow {
            ifindex: k.ifindex,
            proto: k.proto,
            local: unmapped(k.local, k.family),
            remote: unmapped(k.remote, k.family),
            local_port: u16::from_be(k.local_port),
            remote_port: u16::from_be(k.remote_port),
            state: v.state,
            origin: if u32::from(v.origin) == abi::SDN_DIR_EGRESS {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            admitted_by: Attribution::from_id(v.rule_id),
            packets: (v.packets[e], v.packets[i]),
            bytes: (v.bytes[e], v.bytes[i]),
            idle: Duration::from_nanos(now.saturating_sub(v.last_seen_ns)),
        }
    }
}

/// What a conntrack sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Entries left.
    pub live: u64,
    /// Flows that ended by timeout (deleted).
    pub expired: Vec<Flow>,
}

/// What a flow event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEventKind {
    /// A new flow was admitted (by a rule or egress-open).
    Admitted,
    /// A packet was denied (rate-limited per port).
    Denied,
    /// A flow ended (TCP RST or FINs both ways).
    Ended,
}

/// A flow event from the dataplane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEvent {
    /// What happened.
    pub kind: FlowEventKind,
    /// CLOCK_MONOTONIC, ns.
    pub ts_ns: u64,
    /// The port.
    pub ifindex: u32,
    /// Which way the packet went.
    pub direction: Direction,
    /// IP protocol number.
    pub proto: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (ICMP echo: identifier).
    pub sport: u16,
    /// Destination port (ICMP: type << 8 | code).
    pub dport: u16,
    /// Who decided.
    pub attribution: Attribution,
    /// Why it was dropped (denied events).
    pub drop_reason: Option<DropReason>,
    /// Denied events suppressed by the rate limit before this one.
    pub suppressed: u32,
}

impl FlowEvent {
    /// Decodes a ring-buffer record; `None` when it is not a `struct sdn_flow_event`.
    pub fn decode(record: &[u8]) -> Option<FlowEvent> {
        if record.len() != size_of::<abi::FlowEvent>() {
            return None;
        }
        // SAFETY: the length matches and `abi::FlowEvent` is plain data valid for any bytes.
        let e: abi::FlowEvent = unsafe { std::ptr::read_unaligned(record.as_ptr().cast()) };
        let kind = match u32::from(e.kind) {
            abi::SDN_EVENT_FLOW_ADMITTED => FlowEventKind::Admitted,
            abi::SDN_EVENT_FLOW_DENIED => FlowEventKind::Denied,
            abi::SDN_EVENT_FLOW_ENDED => FlowEventKind::Ended,
            _ => return None,
        };
        Some(FlowEvent {
            kind,
            ts_ns: e.ts_ns,
            ifindex: e.ifindex,
            direction: if u32::from(e.direction) == abi::SDN_DIR_EGRESS {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            proto: e.proto,
            src: unmapped(e.src, e.family),
            dst: unmapped(e.dst, e.family),
            sport: u16::from_be(e.sport),
            dport: u16::from_be(e.dport),
            attribution: Attribution::from_id(e.rule_id),
            drop_reason: (kind == FlowEventKind::Denied)
                .then(|| DropReason::from_id(u32::from(e.drop_reason)))
                .flatten(),
            suppressed: e.suppressed,
        })
    }
}

/// The flow events of a node, as an async stream of typed values.
pub struct FlowEvents {
    ring: AsyncFd<RingBuf<aya::maps::MapData>>,
}

impl std::fmt::Debug for FlowEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowEvents").finish_non_exhaustive()
    }
}

impl FlowEvents {
    /// Every event already in the ring, without waiting.
    pub fn drain(&mut self) -> Vec<FlowEvent> {
        let ring = self.ring.get_mut();
        let mut out = Vec::new();
        while let Some(item) = ring.next() {
            if let Some(e) = FlowEvent::decode(&item) {
                out.push(e);
            }
        }
        out
    }

    /// Waits for the next events (at least one).
    pub async fn next_batch(&mut self) -> std::io::Result<Vec<FlowEvent>> {
        loop {
            let mut guard = self.ring.readable_mut().await?;
            let ring = guard.get_inner_mut();
            let mut out = Vec::new();
            while let Some(item) = ring.next() {
                if let Some(e) = FlowEvent::decode(&item) {
                    out.push(e);
                }
            }
            guard.clear_ready();
            if !out.is_empty() {
                return Ok(out);
            }
        }
    }
}
