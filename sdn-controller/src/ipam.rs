//! IPAM: address assignment per private network, and VNI allocation for the zone.
//!
//! Pure and deterministic: given a network, its current leases and a request, the answer is always the
//! same (the lowest free address of the range, skipping static reservations). The registry persists the
//! result as lease keys in the same transaction as the port, guarded so that two concurrent creates can
//! never commit the same address; the loser re-reads and gets the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

use crate::error::{Error, Reference, Result};
use crate::model::{AddrRange, Kind, Mac, Network, NetworkMode, Vni};
use crate::validation::{default_range_v4, default_range_v6, in_range, limits};

/// The addresses of one network that ports hold: address -> port id.
pub type Leases = BTreeMap<IpAddr, Uuid>;

/// The addresses a port receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Assignment {
    /// IPv4 address, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address, if any.
    pub ipv6: Option<Ipv6Addr>,
}

/// The lowest value in `start..=end` not in `taken`.
fn first_free(start: u128, end: u128, taken: &BTreeSet<u128>) -> Option<u128> {
    let mut candidate = start;
    for &t in taken.range(start..=end) {
        if t > candidate {
            break;
        }
        if t == candidate {
            if candidate == end {
                return None;
            }
            candidate += 1;
        }
    }
    (candidate <= end).then_some(candidate)
}

fn holder(leases: &Leases, addr: IpAddr) -> Option<Reference> {
    leases.get(&addr).map(|&id| Reference {
        kind: Kind::Port,
        id,
    })
}

/// Decides a port's addresses on `network`.
///
/// - Managed: a requested address must lie in the range and be free (not leased, not reserved for
///   another MAC); without one, the MAC's static lease is used, else the lowest free address.
///   IPv6 is assigned when the network has a prefix. An empty range fails with `AddressesExhausted`.
/// - Unmanaged: requested addresses must be host addresses of the prefix and free; nothing is allocated.
pub fn assign(
    network: &Network,
    mac: Mac,
    want_v4: Option<Ipv4Addr>,
    want_v6: Option<Ipv6Addr>,
    leases: &Leases,
) -> Result<Assignment> {
    if want_v6.is_some() && network.ipv6.is_none() {
        return Err(Error::Inconsistent {
            field: "port.ipv6".into(),
            rule: "the network has no IPv6 prefix; leave ipv6 empty",
        });
    }
    match network.mode {
        NetworkMode::Unmanaged => {
            if let Some(a) = want_v4 {
                let r = default_range_v4(network.ipv4);
                check_free(
                    "port.ipv4",
                    a.into(),
                    in_range(&r, &a),
                    network.ipv4.to_string(),
                    leases,
                )?;
            }
            if let (Some(a), Some(net)) = (want_v6, network.ipv6) {
                let r = default_range_v6(net);
                check_free(
                    "port.ipv6",
                    a.into(),
                    in_range(&r, &a),
                    net.to_string(),
                    leases,
                )?;
            }
            Ok(Assignment {
                ipv4: want_v4,
                ipv6: want_v6,
            })
        }
        NetworkMode::Managed => {
            let lease = network.static_leases.iter().find(|l| l.mac == mac);
            let reserved_v4: BTreeSet<u128> = network
                .static_leases
                .iter()
                .filter(|l| l.mac != mac)
                .filter_map(|l| l.ipv4)
                .map(|a| u128::from(u32::from(a)))
                .collect();
            let reserved_v6: BTreeSet<u128> = network
                .static_leases
                .iter()
                .filter(|l| l.mac != mac)
                .filter_map(|l| l.ipv6)
                .map(u128::from)
                .collect();
            let range_v4 = network
                .range_v4
                .expect("managed networks have an IPv4 range");
            let ipv4 = pick(
                "port.ipv4",
                network,
                want_v4.map(IpAddr::V4),
                lease.and_then(|l| l.ipv4).map(IpAddr::V4),
                to_u128_range(range_v4.start.into(), range_v4.end.into()),
                &reserved_v4,
                leases,
                false,
            )?
            .map(|a| match a {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => unreachable!("an IPv4 range yields IPv4 addresses"),
            });
            let ipv6 = match network.range_v6 {
                None => None,
                Some(r) => pick(
                    "port.ipv6",
                    network,
                    want_v6.map(IpAddr::V6),
                    lease.and_then(|l| l.ipv6).map(IpAddr::V6),
                    to_u128_range(r.start.into(), r.end.into()),
                    &reserved_v6,
                    leases,
                    true,
                )?
                .map(|a| match a {
                    IpAddr::V6(a) => a,
                    IpAddr::V4(_) => unreachable!("an IPv6 range yields IPv6 addresses"),
                }),
            };
            Ok(Assignment { ipv4, ipv6 })
        }
    }
}

fn check_free(
    field: &str,
    addr: IpAddr,
    inside: bool,
    within: String,
    leases: &Leases,
) -> Result<()> {
    if !inside {
        return Err(Error::AddressOutside {
            field: field.into(),
            address: addr,
            within,
        });
    }
    if let Some(holder) = holder(leases, addr) {
        return Err(Error::AlreadyExists {
            field: field.into(),
            value: addr.to_string(),
            holder,
        });
    }
    Ok(())
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => a.into(),
    }
}

fn to_u128_range(start: IpAddr, end: IpAddr) -> AddrRange<u128> {
    AddrRange {
        start: to_u128(start),
        end: to_u128(end),
    }
}

#[allow(clippy::too_many_arguments)]
fn pick(
    field: &str,
    network: &Network,
    wanted: Option<IpAddr>,
    static_lease: Option<IpAddr>,
    range: AddrRange<u128>,
    reserved: &BTreeSet<u128>,
    leases: &Leases,
    v6: bool,
) -> Result<Option<IpAddr>> {
    let from_u128 = |v: u128| -> IpAddr {
        if v6 {
            IpAddr::V6(v.into())
        } else {
            IpAddr::V4((v as u32).into())
        }
    };
    let range_text = format!(
        "the range {}-{}",
        from_u128(range.start),
        from_u128(range.end)
    );
    if let Some(a) = wanted {
        let v = to_u128(a);
        check_free(field, a, in_range(&range, &v), range_text, leases)?;
        if reserved.contains(&v) {
            return Err(Error::AlreadyExists {
                field: field.into(),
                value: a.to_string(),
                holder: Reference {
                    kind: Kind::Network,
                    id: network.meta.id,
                },
            });
        }
        return Ok(Some(a));
    }
    if let Some(a) = static_lease {
        if let Some(holder) = holder(leases, a) {
            return Err(Error::AlreadyExists {
                field: "port.mac".into(),
                value: a.to_string(),
                holder,
            });
        }
        return Ok(Some(a));
    }
    let mut taken: BTreeSet<u128> = reserved.clone();
    taken.extend(
        leases
            .keys()
            .filter(|a| a.is_ipv6() == v6)
            .map(|&a| to_u128(a)),
    );
    match first_free(range.start, range.end, &taken) {
        Some(v) => Ok(Some(from_u128(v))),
        None => Err(Error::AddressesExhausted {
            field: field.into(),
            network_id: network.meta.id,
            range: range_text,
        }),
    }
}

/// The lowest VNI not in `used` (1 to 2^24 - 1), or `VnisExhausted`.
pub fn allocate_vni(used: &BTreeSet<Vni>) -> Result<Vni> {
    let taken: BTreeSet<u128> = used.iter().map(|&v| u128::from(v)).collect();
    first_free(1, limits::MAX_VNI.into(), &taken)
        .map(|v| v as Vni)
        .ok_or_else(|| Error::VnisExhausted {
            field: "network.vni".into(),
        })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::model::{Meta, NetworkState, StaticLease};

    fn net(cidr: &str, v6: Option<&str>, mode: NetworkMode) -> Network {
        let ipv4 = cidr.parse().unwrap();
        let ipv6 = v6.map(|p| p.parse().unwrap());
        Network {
            meta: Meta {
                id: Uuid::from_u128(7),
                name: "n".into(),
                revision: 1,
                created_at: SystemTime::UNIX_EPOCH,
                updated_at: SystemTime::UNIX_EPOCH,
            },
            description: String::new(),
            ipv4,
            ipv6,
            vni: 1,
            mode,
            range_v4: (mode == NetworkMode::Managed).then(|| default_range_v4(ipv4)),
            range_v6: ipv6
                .filter(|_| mode == NetworkMode::Managed)
                .map(default_range_v6),
            static_leases: vec![],
            state: NetworkState::Active,
        }
    }

    fn mac(n: u8) -> Mac {
        Mac([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn first_free_skips_taken_and_stops_at_end() {
        let taken: BTreeSet<u128> = [10, 11, 13].into();
        assert_eq!(first_free(10, 20, &taken), Some(12));
        assert_eq!(first_free(14, 20, &taken), Some(14));
        assert_eq!(first_free(10, 11, &taken), None);
        assert_eq!(first_free(5, 5, &BTreeSet::new()), Some(5));
    }

    #[test]
    fn allocates_lowest_free_address_deterministically() {
        let n = net("198.18.0.0/29", None, NetworkMode::Managed);
        let mut leases = Leases::new();
        for expected in 1..=6u8 {
            let a = assign(&n, mac(expected), None, None, &leases).unwrap();
            assert_eq!(a.ipv4, Some(Ipv4Addr::new(198, 18, 0, expected)));
            leases.insert(a.ipv4.unwrap().into(), Uuid::from_u128(expected.into()));
        }
        let err = assign(&n, mac(9), None, None, &leases).unwrap_err();
        assert!(matches!(err, Error::AddressesExhausted { ref field, .. } if field == "port.ipv4"));
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        // Release one: it is handed out again.
        leases.remove(&IpAddr::from([198, 18, 0, 3]));
        let a = assign(&n, mac(9), None, None, &leases).unwrap();
        assert_eq!(a.ipv4, Some(Ipv4Addr::new(198, 18, 0, 3)));
    }

    #[test]
    fn assigns_ipv6_when_the_network_has_a_prefix() {
        let n = net(
            "198.18.0.0/24",
            Some("2001:db8:1::/64"),
            NetworkMode::Managed,
        );
        let a = assign(&n, mac(1), None, None, &Leases::new()).unwrap();
        assert_eq!(a.ipv6, Some("2001:db8:1::1".parse().unwrap()));
        let mut leases = Leases::new();
        leases.insert("2001:db8:1::1".parse().unwrap(), Uuid::from_u128(1));
        leases.insert("198.18.0.1".parse().unwrap(), Uuid::from_u128(1));
        let b = assign(&n, mac(2), None, None, &leases).unwrap();
        assert_eq!(b.ipv4, Some("198.18.0.2".parse().unwrap()));
        assert_eq!(b.ipv6, Some("2001:db8:1::2".parse().unwrap()));
    }

    #[test]
    fn static_addresses_must_be_in_range_and_free() {
        let mut n = net("198.18.0.0/24", None, NetworkMode::Managed);
        n.range_v4 = Some(AddrRange {
            start: "198.18.0.100".parse().unwrap(),
            end: "198.18.0.199".parse().unwrap(),
        });
        let err = assign(
            &n,
            mac(1),
            Some("198.18.0.5".parse().unwrap()),
            None,
            &Leases::new(),
        );
        assert!(matches!(err, Err(Error::AddressOutside { .. })));
        let mut leases = Leases::new();
        leases.insert("198.18.0.150".parse().unwrap(), Uuid::from_u128(1));
        let err = assign(
            &n,
            mac(1),
            Some("198.18.0.150".parse().unwrap()),
            None,
            &leases,
        );
        assert!(matches!(err, Err(Error::AlreadyExists { .. })));
        let ok = assign(
            &n,
            mac(1),
            Some("198.18.0.151".parse().unwrap()),
            None,
            &leases,
        );
        assert_eq!(ok.unwrap().ipv4, Some("198.18.0.151".parse().unwrap()));
    }

    #[test]
    fn static_leases_are_reserved_for_their_mac() {
        let mut n = net("198.18.0.0/29", None, NetworkMode::Managed);
        n.static_leases.push(StaticLease {
            mac: mac(5),
            ipv4: Some("198.18.0.1".parse().unwrap()),
            ipv6: None,
        });
        let other = assign(&n, mac(1), None, None, &Leases::new()).unwrap();
        assert_eq!(other.ipv4, Some("198.18.0.2".parse().unwrap()));
        let owner = assign(&n, mac(5), None, None, &Leases::new()).unwrap();
        assert_eq!(owner.ipv4, Some("198.18.0.1".parse().unwrap()));
        let stolen = assign(
            &n,
            mac(1),
            Some("198.18.0.1".parse().unwrap()),
            None,
            &Leases::new(),
        );
        assert!(matches!(stolen, Err(Error::AlreadyExists { .. })));
    }

    #[test]
    fn unmanaged_networks_allocate_nothing_but_check_addresses() {
        let n = net("198.18.0.0/24", None, NetworkMode::Unmanaged);
        let a = assign(&n, mac(1), None, None, &Leases::new()).unwrap();
        assert_eq!(a, Assignment::default());
        let err = assign(
            &n,
            mac(1),
            Some("198.18.1.1".parse().unwrap()),
            None,
            &Leases::new(),
        );
        assert!(
            matches!(err, Err(Error::AddressOutside { ref field, .. }) if field == "port.ipv4")
        );
        let err = assign(
            &n,
            mac(1),
            Some("198.18.0.255".parse().unwrap()),
            None,
            &Leases::new(),
        );
        assert!(
            matches!(err, Err(Error::AddressOutside { .. })),
            "broadcast refused"
        );
        let err = assign(
            &n,
            mac(1),
            None,
            Some("2001:db8::1".parse().unwrap()),
            &Leases::new(),
        );
        assert!(matches!(err, Err(Error::Inconsistent { ref field, .. }) if field == "port.ipv6"));
    }

    #[test]
    fn vni_allocation_takes_the_lowest_free() {
        assert_eq!(allocate_vni(&BTreeSet::new()).unwrap(), 1);
        assert_eq!(allocate_vni(&[1, 2, 4].into()).unwrap(), 3);
    }
}
