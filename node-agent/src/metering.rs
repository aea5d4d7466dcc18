//! Per-port metering with the metering-only programs, and traffic counters as typed values (what
//! billing reads). Ports with security groups are metered by [`crate::port_dataplane`] instead.

use std::path::Path;

use aya::maps::{PerCpuArray, PerCpuHashMap, PerCpuValues};
use sdn_ebpf::abi::{self, Counter, MeterKey, MeterValue};
use sdn_ebpf::object::names;

use crate::loader::{self, AttachedPort, LoaderError, PortPrograms, Result, map_err};

/// The metering programs of one node: loaded once, attached to any number of ports.
#[derive(Debug)]
pub struct PortMetering {
    programs: PortPrograms,
}

fn possible_cpus() -> Result<usize> {
    aya::util::nr_cpus().map_err(|(path, source)| LoaderError::Io {
        path: path.into(),
        source,
    })
}

impl PortMetering {
    /// Loads the metering programs for the node whose namespace is `netns`, pinning (or adopting)
    /// their maps under `pin_dir`.
    pub fn load(netns: &Path, pin_dir: &Path) -> Result<Self> {
        Ok(Self {
            programs: PortPrograms::load(loader::METERING, netns, pin_dir)?,
        })
    }

    /// Attaches metering to `port` (an interface in the node's namespace), registering zeroed
    /// counters first so no frame is missed.
    pub fn attach(&mut self, port: &str) -> Result<AttachedPort> {
        self.programs.attach(port, |ebpf, ifindex| {
            let mut meter = meter_map(ebpf)?;
            for direction in [abi::SDN_DIR_EGRESS, abi::SDN_DIR_INGRESS] {
                let zero = PerCpuValues::try_from(vec![MeterValue::default(); possible_cpus()?])
                    .map_err(loader::io(Path::new("per-cpu values")))?;
                meter
                    .insert(MeterKey { ifindex, direction }, zero, 0)
                    .map_err(map_err(names::METER_MAP))?;
            }
            Ok(())
        })
    }

    /// Detaches metering from `port` and forgets its counters (read them first if they matter).
    pub fn detach(&mut self, port: &str) -> Result<()> {
        self.programs.detach(port, forget_counters)
    }

    /// The ports metered.
    pub fn ports(&self) -> impl Iterator<Item = &AttachedPort> {
        self.programs.ports()
    }

    /// The counters of an attached port, summed over CPUs.
    pub fn counters(&self, port: &str) -> Result<PortCounters> {
        let ifindex = self.programs.port(port)?.ifindex;
        let meter: PerCpuHashMap<_, MeterKey, MeterValue> =
            PerCpuHashMap::try_from(self.programs.map(names::METER_MAP)?)
                .map_err(map_err(names::METER_MAP))?;
        let side = |direction| -> Result<TrafficCounters> {
            let per_cpu = meter
                .get(&MeterKey { ifindex, direction }, 0)
                .map_err(map_err(names::METER_MAP))?;
            Ok(TrafficCounters::sum(per_cpu.iter()))
        };
        Ok(PortCounters {
            egress: side(abi::SDN_DIR_EGRESS)?,
            ingress: side(abi::SDN_DIR_INGRESS)?,
        })
    }

    /// Frames seen on ports that had no counter entry (should stay zero), summed over CPUs.
    pub fn missed(&self) -> Result<Counter> {
        let missed: PerCpuArray<_, Counter> =
            PerCpuArray::try_from(self.programs.map(names::METER_MISSED_MAP)?)
                .map_err(map_err(names::METER_MISSED_MAP))?;
        let per_cpu = missed
            .get(&0, 0)
            .map_err(map_err(names::METER_MISSED_MAP))?;
        Ok(per_cpu.iter().fold(Counter::default(), |a, c| Counter {
            packets: a.packets + c.packets,
            bytes: a.bytes + c.bytes,
        }))
    }

    /// Detaches every port and removes the pins.
    pub fn unload(self) -> Result<()> {
        self.programs.unload(forget_counters)
    }
}

fn meter_map(
    ebpf: &mut aya::Ebpf,
) -> Result<PerCpuHashMap<&mut aya::maps::MapData, MeterKey, MeterValue>> {
    let map = ebpf.map_mut(names::METER_MAP).ok_or(LoaderError::Missing {
        object: sdn_ebpf::object::METERING.name,
        what: "map",
        name: names::METER_MAP,
    })?;
    PerCpuHashMap::try_from(map).map_err(map_err(names::METER_MAP))
}

fn forget_counters(ebpf: &mut aya::Ebpf, ifindex: u32) -> Result<()> {
    let mut meter = meter_map(ebpf)?;
    for direction in [abi::SDN_DIR_EGRESS, abi::SDN_DIR_INGRESS] {
        match meter.remove(&MeterKey { ifindex, direction }) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
            Err(e) => return Err(map_err(names::METER_MAP)(e)),
        }
    }
    Ok(())
}

/// One side of a port, by frame class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounters {
    /// IPv4 frames.
    pub ipv4: Counter,
    /// IPv6 frames.
    pub ipv6: Counter,
    /// ARP frames.
    pub arp: Counter,
    /// Any other ethertype.
    pub other: Counter,
    /// Frames too short for their own headers (still billed).
    pub malformed: Counter,
}

impl TrafficCounters {
    /// Sums per-CPU values.
    pub fn sum<'a>(per_cpu: impl Iterator<Item = &'a MeterValue>) -> Self {
        let mut total = MeterValue::default();
        for value in per_cpu {
            for (t, v) in total.by_class.iter_mut().zip(value.by_class.iter()) {
                t.packets += v.packets;
                t.bytes += v.bytes;
            }
        }
        Self::from(total)
    }

    /// All classes together: the billed figure.
    pub fn total(&self) -> Counter {
        [self.ipv4, self.ipv6, self.arp, self.other, self.malformed]
            .iter()
            .fold(Counter::default(), |a, c| Counter {
                packets: a.packets + c.packets,
                bytes: a.bytes + c.bytes,
            })
    }
}

impl From<MeterValue> for TrafficCounters {
    fn from(v: MeterValue) -> Self {
        let c = |class: u32| v.by_class[class as usize];
        Self {
            ipv4: c(abi::SDN_CLASS_IPV4),
            ipv6: c(abi::SDN_CLASS_IPV6),
            arp: c(abi::SDN_CLASS_ARP),
            other: c(abi::SDN_CLASS_OTHER),
            malformed: c(abi::SDN_CLASS_MALFORMED),
        }
    }
}

/// Both directions of a port, from the instance's point of view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// What the instance sent (the port's receive side, XDP).
    pub egress: TrafficCounters,
    /// What was delivered to the instance (the port's transmit side, TC).
    pub ingress: TrafficCounters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cpus_and_classes() {
        let mut a = MeterValue::default();
        a.by_class[abi::SDN_CLASS_IPV4 as usize] = Counter {
            packets: 2,
            bytes: 200,
        };
        let mut b = MeterValue::default();
        b.by_class[abi::SDN_CLASS_IPV4 as usize] = Counter {
            packets: 1,
            bytes: 100,
        };
        b.by_class[abi::SDN_CLASS_MALFORMED as usize] = Counter {
            packets: 1,
            bytes: 10,
        };
        let t = TrafficCounters::sum([a, b].iter());
        assert_eq!(
            t.ipv4,
            Counter {
                packets: 3,
                bytes: 300
            }
        );
        assert_eq!(
            t.malformed,
            Counter {
                packets: 1,
                bytes: 10
            }
        );
        assert_eq!(
            t.total(),
            Counter {
                packets: 4,
                bytes: 310
            }
        );
    }
}
