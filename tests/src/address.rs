//! Lab addresses: interface addresses confined to the lab ranges, and MAC addresses.
//!
//! **Invariant**: every [`Cidr`] lies inside 198.18.0.0/15 or 2001:db8::/32 (the benchmarking and the
//! documentation ranges), with a prefix no shorter than the range itself, so no route or address a lab
//! installs can cover anything else.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{LabError, Result};

/// Whether `addr` lies in 198.18.0.0/15 or 2001:db8::/32, the only addresses a lab may use.
pub fn is_lab_address(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 198 && b & 0xfe == 18
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[0] == 0x2001 && s[1] == 0x0db8
        }
    }
}

/// An interface address with its prefix length, e.g. `198.18.1.1/24`, always inside the lab ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// Makes an interface address, refusing anything outside the lab ranges.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self> {
        let (max, min) = if addr.is_ipv4() { (32, 15) } else { (128, 32) };
        if prefix_len > max {
            return Err(LabError::BadCidr {
                input: format!("{addr}/{prefix_len}"),
            });
        }
        if !is_lab_address(addr) || prefix_len < min {
            return Err(LabError::OutsideLab {
                address: format!("{addr}/{prefix_len}"),
            });
        }
        Ok(Cidr { addr, prefix_len })
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether this is an IPv4 address.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl FromStr for Cidr {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || LabError::BadCidr {
            input: s.to_owned(),
        };
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Cidr::new(addr, len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// A unicast Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The lab's default MAC for instance number `n`: locally administered, `02:00:c6:12:HI:LO`.
    pub(crate) fn for_instance(n: u32) -> Mac {
        let [.., hi, lo] = n.to_be_bytes();
        Mac([0x02, 0x00, 0xc6, 0x12, hi, lo])
    }
}

impl FromStr for Mac {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || LabError::BadMac {
            input: s.to_owned(),
        };
        let mut bytes = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() || bytes[0] & 1 != 0 {
            return Err(bad());
        }
        Ok(Mac(bytes))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_inside_the_lab_ranges_parse() {
        for ok in [
            "198.18.0.1/24",
            "198.19.255.254/32",
            "198.18.0.0/15",
            "2001:db8::1/64",
            "2001:db8:ffff::1/128",
            "2001:db8::/32",
        ] {
            let cidr: Cidr = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(cidr.to_string(), ok);
        }
    }

    #[test]
    fn cidrs_outside_the_lab_ranges_are_refused() {
        for outside in [
            "10.0.0.1/24",
            "198.17.0.1/24",
            "198.20.0.1/24",
            "198.18.0.1/8",
            "2001:db9::1/64",
            "2001:db8::1/16",
            "fe80::1/64",
            "::1/128",
        ] {
            let err = outside.parse::<Cidr>().unwrap_err();
            assert!(
                matches!(err, LabError::OutsideLab { .. }),
                "{outside}: {err}"
            );
        }
        for bad in ["198.18.0.1", "198.18.0.1/33", "2001:db8::1/129", "x/24"] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(matches!(err, LabError::BadCidr { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn macs_round_trip_and_refuse_multicast() {
        let mac: Mac = "02:00:c6:12:01:0a".parse().unwrap();
        assert_eq!(mac.to_string(), "02:00:c6:12:01:0a");
        assert_eq!(Mac::for_instance(0x10a), mac);
        for bad in [
            "01:00:5e:00:00:01",
            "02:00:c6:12:01",
            "02:00:c6:12:01:0a:0b",
            "2:0:c6:12:1:a",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }
}
