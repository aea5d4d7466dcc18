//! What a node must hold for its private networks: plain data, as the controller sends it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::error::IntentError;

/// The largest VNI (24 bits).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `00:00:00:00:00:00`: in a VXLAN device's FDB, the default (flood) destination.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Whether this is the all-zero address.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// Whether this is a unicast address (group bit clear) other than zero: the only kind a port
    /// may have.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && !self.is_zero()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A MAC that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a MAC address; write six hex bytes separated by colons, e.g. 02:00:c6:12:00:01"
)]
pub struct ParseMacError(pub String);

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacError(s.to_owned());
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(bytes: [u8; 6]) -> Self {
        MacAddr(bytes)
    }
}

/// A port of the network on another node: where its MAC lives, and its addresses (answered
/// locally for ARP and ND).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RemotePort {
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv4 address, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// Its IPv6 address, if any.
    pub ipv6: Option<Ipv6Addr>,
    /// The underlay (VTEP) address of the node that hosts it.
    pub vtep: IpAddr,
}

/// One private network as this node needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkIntent {
    /// The network's id (the controller's UUID); for logs and reports only.
    pub id: String,
    /// Its VXLAN network identifier, 1 to [`MAX_VNI`].
    pub vni: u32,
    /// The local ports that belong to it: interface names in the node's namespace.
    pub local_ports: BTreeSet<String>,
    /// Its ports on other nodes.
    pub remote_ports: Vec<RemotePort>,
    /// The flood list: underlay addresses of the other nodes that host the network, and no
    /// other. Broadcast, unknown unicast and multicast go there.
    pub flood: BTreeSet<IpAddr>,
}

impl NetworkIntent {
    /// A network with no port yet.
    pub fn new(id: impl Into<String>, vni: u32) -> Self {
        NetworkIntent {
            id: id.into(),
            vni,
            local_ports: BTreeSet::new(),
            remote_ports: Vec::new(),
            flood: BTreeSet::new(),
        }
    }
}

/// Everything about private networks one node must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNetworks {
    /// This node's underlay address: the local end of every VXLAN device.
    pub underlay: IpAddr,
    /// The networks with at least one port on this node.
    pub networks: Vec<NetworkIntent>,
}

impl NodeNetworks {
    /// No network yet.
    pub fn new(underlay: IpAddr) -> Self {
        NodeNetworks {
            underlay,
            networks: Vec::new(),
        }
    }

    /// Checks what the planner relies on: VNIs in range and unique, a local port in one network
    /// only, VTEPs of the underlay's family, and per network one VTEP per MAC and one MAC per
    /// address.
    pub fn validate(&self) -> Result<(), IntentError> {
        let mut vnis = BTreeSet::new();
        let mut ports: BTreeMap<&str, u32> = BTreeMap::new();
        for net in &self.networks {
            if net.vni == 0 || net.vni > MAX_VNI {
                return Err(IntentError::VniOutOfRange { vni: net.vni });
            }
            if !vnis.insert(net.vni) {
                return Err(IntentError::DuplicateVni { vni: net.vni });
            }
            for port in &net.local_ports {
                if let Some(first) = ports.insert(port, net.vni) {
                    return Err(IntentError::PortInTwoNetworks {
                        port: port.clone(),
                        first,
                        second: net.vni,
                    });
                }
            }
            let vteps = net
                .remote_ports
                .iter()
                .map(|p| p.vtep)
                .chain(net.flood.iter().copied());
            for vtep in vteps {
                if vtep.is_ipv4() != self.underlay.is_ipv4() || vtep.is_unspecified() {
                    return Err(IntentError::VtepFamily {
                        vni: net.vni,
                        vtep,
                        underlay: self.underlay,
                    });
                }
            }
            let mut macs: BTreeMap<MacAddr, IpAddr> = BTreeMap::new();
            let mut addrs: BTreeMap<IpAddr, MacAddr> = BTreeMap::new();
            for port in &net.remote_ports {
                if !port.mac.is_unicast() {
                    return Err(IntentError::BadRemoteMac {
                        vni: net.vni,
                        mac: port.mac,
                    });
                }
                if let Some(other) = macs.insert(port.mac, port.vtep)
                    && other != port.vtep
                {
                    return Err(IntentError::MacOnTwoVteps {
                        vni: net.vni,
                        mac: port.mac,
                    });
                }
                let ips = port
                    .ipv4
                    .map(IpAddr::V4)
                    .into_iter()
                    .chain(port.ipv6.map(IpAddr::V6));
                for ip in ips {
                    if let Some(other) = addrs.insert(ip, port.mac)
                        && other != port.mac
                    {
                        return Err(IntentError::AddressOnTwoMacs { vni: net.vni, ip });
                    }
                }
            }
        }
        Ok(())
    }
}

/// How the agent names the devices it owns: `<prefix>br<vni>` for a network's bridge and
/// `<prefix>vx<vni>` for its VXLAN device. With a VNI of up to 8 digits and a prefix of up to
/// [`DeviceNames::MAX_PREFIX`] characters the names stay within the kernel's 15.
///
/// **The agent owns exactly the devices whose names parse**: the planner deletes those it no
/// longer needs and never touches any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNames {
    prefix: String,
}

impl DeviceNames {
    /// Longest prefix: 15 - 2 (`br`/`vx`) - 8 (digits of the largest VNI).
    pub const MAX_PREFIX: usize = 5;
    /// The prefix agents use unless told otherwise.
    pub const DEFAULT_PREFIX: &'static str = "sdn";

    /// Names with `prefix`: 1 to [`Self::MAX_PREFIX`] lower-case ASCII letters or digits.
    pub fn new(prefix: &str) -> Result<Self, IntentError> {
        let ok = !prefix.is_empty()
            && prefix.len() <= Self::MAX_PREFIX
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return Err(IntentError::BadDevicePrefix {
                prefix: prefix.to_owned(),
            });
        }
        Ok(DeviceNames {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bridge of network `vni`.
    pub fn bridge(&self, vni: u32) -> String {
        format!("{}br{vni}", self.prefix)
    }

    /// The VXLAN device of network `vni`.
    pub fn vxlan(&self, vni: u32) -> String {
        format!("{}vx{vni}", self.prefix)
    }

    /// Whether `name` is one of ours, and which.
    pub fn parse(&self, name: &str) -> Option<OwnedDevice> {
        let rest = name.strip_prefix(&self.prefix)?;
        let (kind, digits) = if let Some(d) = rest.strip_prefix("br") {
            (DeviceKind::Bridge, d)
        } else {
            (DeviceKind::Vxlan, rest.strip_prefix("vx")?)
        };
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        let vni = digits.parse().ok().filter(|v| canonical && *v <= MAX_VNI)?;
        Some(OwnedDevice { kind, vni })
    }
}

impl Default for DeviceNames {
    fn default() -> Self {
        DeviceNames {
            prefix: Self::DEFAULT_PREFIX.to_owned(),
        }
    }
}

/// Which of a network's two devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceKind {
    /// The bridge.
    Bridge,
    /// The VXLAN device.
    Vxlan,
}

/// A device name that [`DeviceNames`] owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnedDevice {
    /// Bridge or VXLAN device.
    pub kind: DeviceKind,
    /// The network's VNI.
    pub vni: u32,
}
