//! Per-port traffic counters as typed values (what billing reads).

use sdn_ebpf::abi::{self, Counter, MeterValue};

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
