//! Loads the port programs, attaches them to ports inside a node's network namespace, pins what must
//! outlive the agent process, reads the counters, and detaches cleanly.
//!
//! Pin layout under the node's pin directory (`/sys/fs/bpf/<prefix>/<node>/` in a lab):
//! ```text
//! maps/sdn_meter            per-port, per-direction, per-class counters
//! maps/sdn_meter_missed     frames on ports without a counter entry
//! links/<ifname>-rx         XDP link on the port's receive side
//! links/<ifname>-tx         TCX egress link on the port's transmit side
//! ```
//! (bpffs refuses dots in names: a `.` in an interface name is written `%2E`.)
//! ```text
//! ```
//! Maps are created pinned, or adopted when the pin already exists (a restarted agent keeps every
//! counter). Links are pinned so that the programs stay attached while no agent runs.
//!
//! **Architecture Invariant:** the agent's own thread never changes namespace; attach and ifindex
//! lookups happen on a scoped thread inside the node's namespace ([`crate::netns::run_in`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aya::maps::{PerCpuArray, PerCpuHashMap};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::tc::{SchedClassifier, SchedClassifierLink, TcAttachType};
use aya::programs::xdp::{Xdp, XdpLink, XdpMode};
use aya::{Ebpf, EbpfLoader};
use sdn_ebpf::abi::{self, MeterKey, MeterValue};
use sdn_ebpf::object::{self, names};

use crate::metering::{PortCounters, TrafficCounters};
use crate::netns::{self, NetnsError};

/// What can go wrong loading, attaching or reading the port programs.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The object could not be loaded (verifier, missing BTF, no privileges).
    #[error("cannot load the {object} eBPF object: {source}")]
    Load {
        /// Which object.
        object: &'static str,
        /// aya's error, with the verifier log when there is one.
        #[source]
        source: aya::EbpfError,
    },
    /// A program of the object failed to load or attach.
    #[error("program {program} on {port}: {source}")]
    Program {
        /// The program name.
        program: &'static str,
        /// The port (interface name), or `-` when loading.
        port: String,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("map {map}: {source}")]
    Map {
        /// The map name.
        map: &'static str,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
    /// The object lacks a program or map this code expects (the C and Rust names drifted).
    #[error("the {object} object has no {what} named {name}")]
    Missing {
        /// Which object.
        object: &'static str,
        /// `program` or `map`.
        what: &'static str,
        /// The expected name.
        name: &'static str,
    },
    /// Pinning or unpinning failed.
    #[error("pin {path}: {source}")]
    Pin {
        /// The pin path.
        path: PathBuf,
        /// aya's error.
        #[source]
        source: aya::pin::PinError,
    },
    /// A pinned link could not be opened.
    #[error("pinned link {path}: {source}")]
    PinnedLink {
        /// The pin path.
        path: PathBuf,
        /// aya's error.
        #[source]
        source: aya::programs::links::LinkError,
    },
    /// A filesystem operation on the pin directory failed.
    #[error("{path}: {source}; is bpffs mounted (`cargo xtask deps` mounts it)?")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The port does not exist in the node's namespace.
    #[error("no interface {port} in network namespace {netns}")]
    NoSuchPort {
        /// The interface name.
        port: String,
        /// The namespace file.
        netns: PathBuf,
    },
    /// The port is already attached by this loader.
    #[error("port {0} is already attached")]
    AlreadyAttached(String),
    /// The port is not attached by this loader.
    #[error("port {0} is not attached")]
    NotAttached(String),
    /// Entering the namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

/// `Result` with [`LoaderError`].
pub type Result<T, E = LoaderError> = std::result::Result<T, E>;

/// A port the metering programs are attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPort {
    /// Interface name in the node's namespace.
    pub name: String,
    /// Its ifindex there (the counters' key).
    pub ifindex: u32,
}

/// The metering programs of one node: loaded once, attached to any number of ports.
pub struct PortMetering {
    ebpf: Ebpf,
    netns: PathBuf,
    pin_dir: PathBuf,
    ports: BTreeMap<String, AttachedPort>,
}

impl std::fmt::Debug for PortMetering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortMetering")
            .field("netns", &self.netns)
            .field("pin_dir", &self.pin_dir)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoaderError + '_ {
    move |source| LoaderError::Io {
        path: path.to_owned(),
        source,
    }
}

impl PortMetering {
    /// Loads the metering object for the node whose namespace is `netns`, pinning (or adopting) its
    /// maps under `pin_dir/maps/`.
    pub fn load(netns: &Path, pin_dir: &Path) -> Result<Self> {
        let maps_dir = pin_dir.join("maps");
        std::fs::create_dir_all(&maps_dir).map_err(io(&maps_dir))?;
        std::fs::create_dir_all(pin_dir.join("links")).map_err(io(pin_dir))?;
        let meter_pin = maps_dir.join(names::METER_MAP);
        let missed_pin = maps_dir.join(names::METER_MISSED_MAP);
        let mut ebpf = EbpfLoader::new()
            .map_pin_path(names::METER_MAP, meter_pin.as_path())
            .map_pin_path(names::METER_MISSED_MAP, missed_pin.as_path())
            .load(object::METERING.bytes)
            .map_err(|source| LoaderError::Load {
                object: object::METERING.name,
                source,
            })?;
        load_program::<Xdp>(&mut ebpf, names::METER_RX)?;
        load_program::<SchedClassifier>(&mut ebpf, names::METER_TX)?;
        Ok(Self {
            ebpf,
            netns: netns.to_owned(),
            pin_dir: pin_dir.to_owned(),
            ports: BTreeMap::new(),
        })
    }

    fn link_pin(&self, port: &str, side: &str) -> PathBuf {
        // bpffs refuses names with a dot; interface names may have one (`eth0.100`).
        let port = port.replace('%', "%25").replace('.', "%2E");
        self.pin_dir.join("links").join(format!("{port}-{side}"))
    }

    /// Attaches metering to `port` (an interface in the node's namespace): XDP on its receive side,
    /// TCX egress on its transmit side. Registers zeroed counters first so no frame is missed.
    pub fn attach(&mut self, port: &str) -> Result<AttachedPort> {
        if self.ports.contains_key(port) {
            return Err(LoaderError::AlreadyAttached(port.to_owned()));
        }
        let ifindex = netns::run_in(&self.netns, || nix::net::if_::if_nametoindex(port).ok())?
            .ok_or_else(|| LoaderError::NoSuchPort {
                port: port.to_owned(),
                netns: self.netns.clone(),
            })?;
        {
            let mut meter = self.meter_map_mut()?;
            for direction in [abi::SDN_DIR_EGRESS, abi::SDN_DIR_INGRESS] {
                let key = MeterKey { ifindex, direction };
                let zero = aya::maps::PerCpuValues::try_from(vec![
                    MeterValue::default();
                    aya::util::nr_cpus().map_err(
                        |(_, e)| LoaderError::Io {
                            path: "/sys/devices/system/cpu/possible".into(),
                            source: e,
                        }
                    )?
                ])
                .map_err(|source| LoaderError::Io {
                    path: "per-cpu values".into(),
                    source,
                })?;
                meter
                    .insert(key, zero, 0)
                    .map_err(|source| LoaderError::Map {
                        map: names::METER_MAP,
                        source,
                    })?;
            }
        }
        let rx_pin = self.link_pin(port, "rx");
        let tx_pin = self.link_pin(port, "tx");
        let netns = self.netns.clone();
        let ebpf = &mut self.ebpf;
        // Attach inside the namespace (ifindex and bpf_link_create resolve there); pin from here.
        let (rx_link, tx_link) =
            netns::run_in(&netns, || -> Result<(XdpLink, SchedClassifierLink)> {
                let xdp: &mut Xdp = program_mut(ebpf, names::METER_RX)?;
                let id = xdp
                    .attach_to_if_index(ifindex, XdpMode::default())
                    .map_err(program_err(names::METER_RX, port))?;
                let rx = xdp
                    .take_link(id)
                    .map_err(program_err(names::METER_RX, port))?;
                let tc: &mut SchedClassifier = program_mut(ebpf, names::METER_TX)?;
                let id = tc
                    .attach(port, TcAttachType::Egress)
                    .map_err(program_err(names::METER_TX, port))?;
                let tx = tc
                    .take_link(id)
                    .map_err(program_err(names::METER_TX, port))?;
                Ok((rx, tx))
            })??;
        pin_link(FdLink::try_from(rx_link), &rx_pin)?;
        pin_link(FdLink::try_from(tx_link), &tx_pin)?;
        let attached = AttachedPort {
            name: port.to_owned(),
            ifindex,
        };
        self.ports.insert(port.to_owned(), attached.clone());
        Ok(attached)
    }

    /// Detaches metering from `port`: unpins and closes its links (which detaches the programs) and
    /// forgets its counters. Read them first if they matter.
    pub fn detach(&mut self, port: &str) -> Result<()> {
        let attached = self
            .ports
            .remove(port)
            .ok_or_else(|| LoaderError::NotAttached(port.to_owned()))?;
        for side in ["rx", "tx"] {
            unpin_link(&self.link_pin(port, side))?;
        }
        let mut meter = self.meter_map_mut()?;
        for direction in [abi::SDN_DIR_EGRESS, abi::SDN_DIR_INGRESS] {
            let key = MeterKey {
                ifindex: attached.ifindex,
                direction,
            };
            match meter.remove(&key) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(source) => {
                    return Err(LoaderError::Map {
                        map: names::METER_MAP,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// The ports attached by this loader.
    pub fn ports(&self) -> impl Iterator<Item = &AttachedPort> {
        self.ports.values()
    }

    /// The counters of an attached port, summed over CPUs.
    pub fn counters(&self, port: &str) -> Result<PortCounters> {
        let attached = self
            .ports
            .get(port)
            .ok_or_else(|| LoaderError::NotAttached(port.to_owned()))?;
        let map = self
            .ebpf
            .map(names::METER_MAP)
            .ok_or(LoaderError::Missing {
                object: object::METERING.name,
                what: "map",
                name: names::METER_MAP,
            })?;
        let meter: PerCpuHashMap<_, MeterKey, MeterValue> =
            PerCpuHashMap::try_from(map).map_err(map_err(names::METER_MAP))?;
        let side = |direction| -> Result<TrafficCounters> {
            let key = MeterKey {
                ifindex: attached.ifindex,
                direction,
            };
            let per_cpu = meter.get(&key, 0).map_err(map_err(names::METER_MAP))?;
            Ok(TrafficCounters::sum(per_cpu.iter()))
        };
        Ok(PortCounters {
            egress: side(abi::SDN_DIR_EGRESS)?,
            ingress: side(abi::SDN_DIR_INGRESS)?,
        })
    }

    /// Frames seen on ports that had no counter entry (should stay zero), summed over CPUs.
    pub fn missed(&self) -> Result<abi::Counter> {
        let map = self
            .ebpf
            .map(names::METER_MISSED_MAP)
            .ok_or(LoaderError::Missing {
                object: object::METERING.name,
                what: "map",
                name: names::METER_MISSED_MAP,
            })?;
        let missed: PerCpuArray<_, abi::Counter> =
            PerCpuArray::try_from(map).map_err(map_err(names::METER_MISSED_MAP))?;
        let per_cpu = missed
            .get(&0, 0)
            .map_err(map_err(names::METER_MISSED_MAP))?;
        Ok(per_cpu
            .iter()
            .fold(abi::Counter::default(), |a, c| abi::Counter {
                packets: a.packets + c.packets,
                bytes: a.bytes + c.bytes,
            }))
    }

    /// Detaches every port and removes the node's pins (maps, links, and the directory itself).
    pub fn unload(mut self) -> Result<()> {
        let ports: Vec<String> = self.ports.keys().cloned().collect();
        for port in ports {
            self.detach(&port)?;
        }
        let maps_dir = self.pin_dir.join("maps");
        for name in [names::METER_MAP, names::METER_MISSED_MAP] {
            let path = maps_dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        for dir in [maps_dir, self.pin_dir.join("links"), self.pin_dir.clone()] {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&dir)(e)),
            }
        }
        Ok(())
    }

    fn meter_map_mut(
        &mut self,
    ) -> Result<PerCpuHashMap<&mut aya::maps::MapData, MeterKey, MeterValue>> {
        let map = self
            .ebpf
            .map_mut(names::METER_MAP)
            .ok_or(LoaderError::Missing {
                object: object::METERING.name,
                what: "map",
                name: names::METER_MAP,
            })?;
        PerCpuHashMap::try_from(map).map_err(map_err(names::METER_MAP))
    }
}

fn map_err(map: &'static str) -> impl FnOnce(aya::maps::MapError) -> LoaderError {
    move |source| LoaderError::Map { map, source }
}

fn program_err(
    program: &'static str,
    port: &str,
) -> impl FnOnce(aya::programs::ProgramError) -> LoaderError {
    let port = port.to_owned();
    move |source| LoaderError::Program {
        program,
        port,
        source,
    }
}

fn program_mut<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let program = ebpf.program_mut(name).ok_or(LoaderError::Missing {
        object: object::METERING.name,
        what: "program",
        name,
    })?;
    program.try_into().map_err(program_err(name, "-"))
}

fn load_program<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<()>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
    P: Loadable + 'a,
{
    program_mut::<P>(ebpf, name)?
        .load_it()
        .map_err(program_err(name, "-"))
}

/// The one difference between program kinds that loading cares about.
trait Loadable {
    fn load_it(&mut self) -> std::result::Result<(), aya::programs::ProgramError>;
}

impl Loadable for Xdp {
    fn load_it(&mut self) -> std::result::Result<(), aya::programs::ProgramError> {
        self.load()
    }
}

impl Loadable for SchedClassifier {
    fn load_it(&mut self) -> std::result::Result<(), aya::programs::ProgramError> {
        self.load()
    }
}

fn pin_link(
    link: std::result::Result<FdLink, aya::programs::links::LinkError>,
    path: &Path,
) -> Result<()> {
    let link = link.map_err(|source| LoaderError::PinnedLink {
        path: path.to_owned(),
        source,
    })?;
    // A pin left by a crashed agent for this port is replaced: the new link is the intent.
    if path.exists() {
        unpin_link(path)?;
    }
    link.pin(path).map_err(|source| LoaderError::Pin {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}

fn unpin_link(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let pinned = PinnedLink::from_pin(path).map_err(|source| LoaderError::PinnedLink {
        path: path.to_owned(),
        source,
    })?;
    // Unpinning removes the bpffs file; dropping the returned FdLink closes the last reference,
    // which detaches the program.
    let link = pinned.unpin().map_err(io(path))?;
    drop(link);
    Ok(())
}
