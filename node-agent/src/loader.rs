//! Loads a set of port programs, attaches them to ports inside a node's network namespace, pins
//! what must outlive the agent process, and detaches cleanly. Used by [`crate::metering`] (the
//! metering-only programs) and [`crate::port_dataplane`] (security groups, which meter too).
//!
//! Pin layout under the node's pin directory (`/sys/fs/bpf/<prefix>/<node>/` in a lab), per
//! object (`metering`, `port`):
//! ```text
//! <object>/maps/<map>          every map of the object (sdn_meter, sdn_ct, ...)
//! <object>/links/<ifname>-rx   XDP link on the port's receive side (instance egress)
//! <object>/links/<ifname>-tx   TCX egress link on the port's transmit side (instance ingress)
//! ```
//! bpffs refuses dots in names: a `.` in an interface name is written `%2E`.
//!
//! Maps are created pinned, or adopted when the pin already exists (a restarted agent keeps every
//! counter and conntrack entry). Links are pinned so that the programs stay attached while no
//! agent runs, and a restarted agent moves them to its new programs with `bpf_link_update`
//! (hitless: there is no moment without a program).
//!
//! **Architecture Invariant:** the agent's own thread never changes namespace; attach and ifindex
//! lookups happen on a scoped thread inside the node's namespace ([`crate::netns::run_in`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::tc::{SchedClassifier, SchedClassifierLink, TcAttachType};
use aya::programs::xdp::{Xdp, XdpLink, XdpMode};
use aya::{Ebpf, EbpfLoader};
use sdn_ebpf::object::{self, Object, names};

use crate::netns::{self, NetnsError};

/// An object's two port programs and the maps to pin.
#[derive(Debug, Clone, Copy)]
pub struct ProgramSet {
    /// The object.
    pub object: Object,
    /// XDP program for the port's receive side (instance egress).
    pub egress: &'static str,
    /// TC program for the port's transmit side (instance ingress).
    pub ingress: &'static str,
    /// Maps pinned (and adopted) under `<object>/maps/`.
    pub pinned_maps: &'static [&'static str],
}

/// Metering only.
pub const METERING: ProgramSet = ProgramSet {
    object: object::METERING,
    egress: names::METER_RX,
    ingress: names::METER_TX,
    pinned_maps: &[names::METER_MAP, names::METER_MISSED_MAP],
};

/// Security groups, conntrack, attribution and metering.
pub const PORT: ProgramSet = ProgramSet {
    object: object::PORT,
    egress: names::PORT_EGRESS,
    ingress: names::PORT_INGRESS,
    pinned_maps: &[
        names::PORT_MAP,
        names::PORT_ADDR_MAP,
        names::REMOTE_MAP,
        names::RULE_MATCH_MAP,
        names::REMOTE_HOST_MAP,
        names::RULE_EXACT_MAP,
        names::RULE_STATS_MAP,
        names::PORT_STATS_MAP,
        names::DROPS_MAP,
        names::CT_MAP,
        names::CT_COUNT_MAP,
        names::FRAG_MAP,
        names::EVENTS_MAP,
        names::EVENT_BUDGET_MAP,
    ],
};

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

/// A port the programs are attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPort {
    /// Interface name in the node's namespace.
    pub name: String,
    /// Its ifindex there (the maps' key).
    pub ifindex: u32,
}

/// One program set of one node: loaded once, attached to any number of ports.
pub struct PortPrograms {
    set: ProgramSet,
    ebpf: Ebpf,
    netns: PathBuf,
    dir: PathBuf,
    ports: BTreeMap<String, AttachedPort>,
}

impl std::fmt::Debug for PortPrograms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortPrograms")
            .field("object", &self.set.object.name)
            .field("netns", &self.netns)
            .field("dir", &self.dir)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoaderError + '_ {
    move |source| LoaderError::Io {
        path: path.to_owned(),
        source,
    }
}

impl PortPrograms {
    /// Loads `set` for the node whose namespace is `netns`, pinning (or adopting) its maps under
    /// `pin_dir/<object>/maps/`.
    pub fn load(set: ProgramSet, netns: &Path, pin_dir: &Path) -> Result<Self> {
        let dir = pin_dir.join(set.object.name);
        let maps_dir = dir.join("maps");
        std::fs::create_dir_all(&maps_dir).map_err(io(&maps_dir))?;
        std::fs::create_dir_all(dir.join("links")).map_err(io(&dir))?;
        let pins: Vec<PathBuf> = set.pinned_maps.iter().map(|m| maps_dir.join(m)).collect();
        let mut loader = EbpfLoader::new();
        for (map, pin) in set.pinned_maps.iter().zip(&pins) {
            loader.map_pin_path(map, pin.as_path());
        }
        let mut ebpf = loader
            .load(set.object.bytes)
            .map_err(|source| LoaderError::Load {
                object: set.object.name,
                source,
            })?;
        program_mut::<Xdp>(&mut ebpf, set.object, set.egress)?
            .load()
            .map_err(program_err(set.egress, "-"))?;
        program_mut::<SchedClassifier>(&mut ebpf, set.object, set.ingress)?
            .load()
            .map_err(program_err(set.ingress, "-"))?;
        Ok(Self {
            set,
            ebpf,
            netns: netns.to_owned(),
            dir,
            ports: BTreeMap::new(),
        })
    }

    fn link_pin(&self, port: &str, side: &str) -> PathBuf {
        // bpffs refuses names with a dot; interface names may have one (`eth0.100`).
        let port = port.replace('%', "%25").replace('.', "%2E");
        self.dir.join("links").join(format!("{port}-{side}"))
    }

    /// The ifindex of `port` in the node's namespace.
    pub fn ifindex(&self, port: &str) -> Result<u32> {
        netns::run_in(&self.netns, || nix::net::if_::if_nametoindex(port).ok())?.ok_or_else(|| {
            LoaderError::NoSuchPort {
                port: port.to_owned(),
                netns: self.netns.clone(),
            }
        })
    }

    /// Attaches the set to `port`: XDP on its receive side, TCX egress on its transmit side.
    /// `prepare` runs first with the port's ifindex, so that its map entries exist before the
    /// first frame.
    pub fn attach(
        &mut self,
        port: &str,
        prepare: impl FnOnce(&mut Ebpf, u32) -> Result<()>,
    ) -> Result<AttachedPort> {
        if self.ports.contains_key(port) {
            return Err(LoaderError::AlreadyAttached(port.to_owned()));
        }
        let ifindex = self.ifindex(port)?;
        prepare(&mut self.ebpf, ifindex)?;
        let rx_pin = self.link_pin(port, "rx");
        let tx_pin = self.link_pin(port, "tx");
        // A restarted agent finds its predecessor's links pinned: it moves them to its own
        // programs (bpf_link_update), so the port is never without a program.
        if rx_pin.exists() && tx_pin.exists() {
            match self.adopt_links(&rx_pin, &tx_pin) {
                Ok(()) => {
                    let attached = AttachedPort {
                        name: port.to_owned(),
                        ifindex,
                    };
                    self.ports.insert(port.to_owned(), attached.clone());
                    return Ok(attached);
                }
                Err(e) => {
                    // The links died with their device (it was recreated): attach afresh.
                    tracing::warn!(port, error = %e, "pinned links not adoptable; attaching anew");
                    unpin_link(&rx_pin)?;
                    unpin_link(&tx_pin)?;
                }
            }
        }
        let (set, netns, ebpf) = (self.set, self.netns.clone(), &mut self.ebpf);
        // Attach inside the namespace (ifindex and bpf_link_create resolve there); pin from here.
        let (rx_link, tx_link) =
            netns::run_in(&netns, || -> Result<(XdpLink, SchedClassifierLink)> {
                let xdp: &mut Xdp = program_mut(ebpf, set.object, set.egress)?;
                let id = xdp
                    .attach_to_if_index(ifindex, XdpMode::default())
                    .map_err(program_err(set.egress, port))?;
                let rx = xdp.take_link(id).map_err(program_err(set.egress, port))?;
                let tc: &mut SchedClassifier = program_mut(ebpf, set.object, set.ingress)?;
                let id = tc
                    .attach(port, TcAttachType::Egress)
                    .map_err(program_err(set.ingress, port))?;
                let tx = tc.take_link(id).map_err(program_err(set.ingress, port))?;
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

    /// Points the pinned links at this loader's programs. The pins stay; our descriptors close.
    fn adopt_links(&mut self, rx_pin: &Path, tx_pin: &Path) -> Result<()> {
        let open = |path: &Path| -> Result<FdLink> {
            PinnedLink::from_pin(path)
                .map(FdLink::from)
                .map_err(|source| LoaderError::PinnedLink {
                    path: path.to_owned(),
                    source,
                })
        };
        let link_err = |path: &Path| {
            let path = path.to_owned();
            move |source| LoaderError::PinnedLink { path, source }
        };
        let rx = XdpLink::try_from(open(rx_pin)?).map_err(link_err(rx_pin))?;
        let tx = SchedClassifierLink::try_from(open(tx_pin)?).map_err(link_err(tx_pin))?;
        let set = self.set;
        let xdp: &mut Xdp = program_mut(&mut self.ebpf, set.object, set.egress)?;
        let id = xdp
            .attach_to_link(rx)
            .map_err(program_err(set.egress, "adopted link"))?;
        drop(
            xdp.take_link(id)
                .map_err(program_err(set.egress, "adopted link"))?,
        );
        let tc: &mut SchedClassifier = program_mut(&mut self.ebpf, set.object, set.ingress)?;
        let id = tc
            .attach_to_link(tx)
            .map_err(program_err(set.ingress, "adopted link"))?;
        drop(
            tc.take_link(id)
                .map_err(program_err(set.ingress, "adopted link"))?,
        );
        Ok(())
    }

    /// Detaches the set from `port` (unpins and closes its links, which detaches the programs);
    /// `forget` then removes the port's map entries.
    pub fn detach(
        &mut self,
        port: &str,
        forget: impl FnOnce(&mut Ebpf, u32) -> Result<()>,
    ) -> Result<()> {
        let attached = self
            .ports
            .remove(port)
            .ok_or_else(|| LoaderError::NotAttached(port.to_owned()))?;
        for side in ["rx", "tx"] {
            unpin_link(&self.link_pin(port, side))?;
        }
        forget(&mut self.ebpf, attached.ifindex)
    }

    /// The attached port named `port`.
    pub fn port(&self, port: &str) -> Result<&AttachedPort> {
        self.ports
            .get(port)
            .ok_or_else(|| LoaderError::NotAttached(port.to_owned()))
    }

    /// The ports attached by this loader.
    pub fn ports(&self) -> impl Iterator<Item = &AttachedPort> {
        self.ports.values()
    }

    /// A map of the object, by name.
    pub fn map(&self, name: &'static str) -> Result<&aya::maps::Map> {
        self.ebpf.map(name).ok_or(LoaderError::Missing {
            object: self.set.object.name,
            what: "map",
            name,
        })
    }

    /// A map of the object, by name, for writing.
    pub fn map_mut(&mut self, name: &'static str) -> Result<&mut aya::maps::Map> {
        let object = self.set.object.name;
        self.ebpf.map_mut(name).ok_or(LoaderError::Missing {
            object,
            what: "map",
            name,
        })
    }

    /// The loaded object, for the adapters that write its maps.
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Takes a map out of the object (a ring buffer read by a task of its own).
    pub fn take_map(&mut self, name: &'static str) -> Result<aya::maps::Map> {
        let object = self.set.object.name;
        self.ebpf.take_map(name).ok_or(LoaderError::Missing {
            object,
            what: "map",
            name,
        })
    }

    /// Detaches every port (with `forget` for each) and removes the object's pins: maps, links,
    /// their directories, and the node's pin directory when nothing else is left in it.
    pub fn unload(mut self, mut forget: impl FnMut(&mut Ebpf, u32) -> Result<()>) -> Result<()> {
        let ports: Vec<String> = self.ports.keys().cloned().collect();
        for port in ports {
            self.detach(&port, &mut forget)?;
        }
        let maps_dir = self.dir.join("maps");
        for name in self.set.pinned_maps {
            let path = maps_dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        let node_dir = self.dir.parent().map(Path::to_owned);
        for dir in [maps_dir, self.dir.join("links"), self.dir.clone()] {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&dir)(e)),
            }
        }
        if let Some(node_dir) = node_dir {
            // Only when empty: another object of the same node may still be pinned there.
            let _ = std::fs::remove_dir(node_dir);
        }
        Ok(())
    }
}

pub(crate) fn map_err(map: &'static str) -> impl FnOnce(aya::maps::MapError) -> LoaderError {
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

fn program_mut<'a, P>(ebpf: &'a mut Ebpf, object: Object, name: &'static str) -> Result<&'a mut P>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let program = ebpf.program_mut(name).ok_or(LoaderError::Missing {
        object: object.name,
        what: "program",
        name,
    })?;
    program.try_into().map_err(program_err(name, "-"))
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
