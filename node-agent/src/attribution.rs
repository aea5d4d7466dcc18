//! What decided a verdict — a rule or a named built-in — and why a frame was dropped, as typed
//! values with the names the API, metrics and `sdnctl` use.

use std::fmt;

use sdn_ebpf::abi;

/// A verdict decided by the dataplane itself rather than by a user rule (product.md, "Every
/// verdict is attributed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Builtin {
    /// Ingress with no matching rule.
    DefaultDenyIngress,
    /// Egress with no matching rule, once the port's groups hold an egress rule.
    DefaultDenyEgress,
    /// Egress while the port's groups hold no egress rule.
    EgressOpen,
    /// A frame claiming a MAC or address that is not the port's.
    AntiSpoof,
    /// A packet of a tracked flow, or an ICMP error related to one.
    Established,
    /// A non-first fragment: it follows its first fragment's verdict.
    Fragment,
    /// Malformed, or not allowed on an instance port at all (VLAN tags, odd ethertypes).
    Invalid,
    /// A new flow while the conntrack table is at its high-water mark.
    ConntrackFull,
    /// ARP and IPv6 neighbour discovery that passed anti-spoofing.
    ArpNd,
    /// DHCP between the instance and the agent's server.
    Dhcp,
    /// A frame on a port the agent has no config for.
    NoPort,
}

impl Builtin {
    /// Every built-in.
    pub const ALL: [Builtin; 11] = [
        Builtin::DefaultDenyIngress,
        Builtin::DefaultDenyEgress,
        Builtin::EgressOpen,
        Builtin::AntiSpoof,
        Builtin::Established,
        Builtin::Fragment,
        Builtin::Invalid,
        Builtin::ConntrackFull,
        Builtin::ArpNd,
        Builtin::Dhcp,
        Builtin::NoPort,
    ];

    /// The ABI number (`SDN_BUILTIN_*`).
    pub fn id(self) -> u32 {
        match self {
            Builtin::DefaultDenyIngress => abi::SDN_BUILTIN_DEFAULT_DENY_INGRESS,
            Builtin::DefaultDenyEgress => abi::SDN_BUILTIN_DEFAULT_DENY_EGRESS,
            Builtin::EgressOpen => abi::SDN_BUILTIN_EGRESS_OPEN,
            Builtin::AntiSpoof => abi::SDN_BUILTIN_ANTI_SPOOF,
            Builtin::Established => abi::SDN_BUILTIN_ESTABLISHED,
            Builtin::Fragment => abi::SDN_BUILTIN_FRAGMENT,
            Builtin::Invalid => abi::SDN_BUILTIN_INVALID,
            Builtin::ConntrackFull => abi::SDN_BUILTIN_CONNTRACK_FULL,
            Builtin::ArpNd => abi::SDN_BUILTIN_ARP_ND,
            Builtin::Dhcp => abi::SDN_BUILTIN_DHCP,
            Builtin::NoPort => abi::SDN_BUILTIN_NO_PORT,
        }
    }

    /// The built-in with ABI number `id`.
    pub fn from_id(id: u32) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.id() == id)
    }

    /// The name shown to people (`default-deny-ingress`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Builtin::DefaultDenyIngress => "default-deny-ingress",
            Builtin::DefaultDenyEgress => "default-deny-egress",
            Builtin::EgressOpen => "egress-open",
            Builtin::AntiSpoof => "anti-spoof",
            Builtin::Established => "established",
            Builtin::Fragment => "fragment",
            Builtin::Invalid => "invalid",
            Builtin::ConntrackFull => "conntrack-full",
            Builtin::ArpNd => "arp-nd",
            Builtin::Dhcp => "dhcp",
            Builtin::NoPort => "no-port",
        }
    }
}

/// Who decided a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attribution {
    /// A user rule, by its dataplane number.
    Rule(u32),
    /// A built-in.
    Builtin(Builtin),
    /// A number the ABI does not know (a newer program than this agent).
    Unknown(u32),
}

impl Attribution {
    /// From the number a program reports.
    pub fn from_id(id: u32) -> Attribution {
        if id >= abi::SDN_RULE_ID_FIRST {
            Attribution::Rule(id)
        } else {
            Builtin::from_id(id).map_or(Attribution::Unknown(id), Attribution::Builtin)
        }
    }
}

impl fmt::Display for Attribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribution::Rule(id) => write!(f, "rule {id}"),
            Attribution::Builtin(b) => f.write_str(b.name()),
            Attribution::Unknown(id) => write!(f, "unknown {id}"),
        }
    }
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Ingress with no matching rule.
    DefaultDenyIngress,
    /// Egress with no matching rule.
    DefaultDenyEgress,
    /// Another source MAC.
    SpoofMac,
    /// Another source address.
    SpoofIp,
    /// ARP claiming another MAC or address.
    SpoofArp,
    /// A neighbour advertisement for another address.
    SpoofNd,
    /// A DHCP server reply from an instance.
    SpoofDhcpServer,
    /// A router advertisement or redirect from an instance.
    SpoofRouterAdvert,
    /// A non-first fragment whose datagram was not admitted.
    FragmentUntracked,
    /// Cut short, or inconsistent headers.
    Malformed,
    /// A VLAN tag on an untagged instance port.
    VlanTagged,
    /// An ethertype other than IPv4, IPv6 and ARP.
    Ethertype,
    /// Impossible TCP flags, or a flow not opened by a SYN.
    TcpFlags,
    /// The conntrack table is at its high-water mark.
    ConntrackFull,
    /// No config for the port.
    NoPort,
}

impl DropReason {
    /// Every reason, in ABI order (`SDN_DROP_*`).
    pub const ALL: [DropReason; 15] = [
        DropReason::DefaultDenyIngress,
        DropReason::DefaultDenyEgress,
        DropReason::SpoofMac,
        DropReason::SpoofIp,
        DropReason::SpoofArp,
        DropReason::SpoofNd,
        DropReason::SpoofDhcpServer,
        DropReason::SpoofRouterAdvert,
        DropReason::FragmentUntracked,
        DropReason::Malformed,
        DropReason::VlanTagged,
        DropReason::Ethertype,
        DropReason::TcpFlags,
        DropReason::ConntrackFull,
        DropReason::NoPort,
    ];

    /// The ABI number.
    pub fn id(self) -> u32 {
        match self {
            DropReason::DefaultDenyIngress => abi::SDN_DROP_DEFAULT_DENY_INGRESS,
            DropReason::DefaultDenyEgress => abi::SDN_DROP_DEFAULT_DENY_EGRESS,
            DropReason::SpoofMac => abi::SDN_DROP_SPOOF_MAC,
            DropReason::SpoofIp => abi::SDN_DROP_SPOOF_IP,
            DropReason::SpoofArp => abi::SDN_DROP_SPOOF_ARP,
            DropReason::SpoofNd => abi::SDN_DROP_SPOOF_ND,
            DropReason::SpoofDhcpServer => abi::SDN_DROP_SPOOF_DHCP_SERVER,
            DropReason::SpoofRouterAdvert => abi::SDN_DROP_SPOOF_ROUTER_ADVERT,
            DropReason::FragmentUntracked => abi::SDN_DROP_FRAGMENT_UNTRACKED,
            DropReason::Malformed => abi::SDN_DROP_MALFORMED,
            DropReason::VlanTagged => abi::SDN_DROP_VLAN_TAGGED,
            DropReason::Ethertype => abi::SDN_DROP_ETHERTYPE,
            DropReason::TcpFlags => abi::SDN_DROP_TCP_FLAGS,
            DropReason::ConntrackFull => abi::SDN_DROP_CONNTRACK_FULL,
            DropReason::NoPort => abi::SDN_DROP_NO_PORT,
        }
    }

    /// The reason with ABI number `id`.
    pub fn from_id(id: u32) -> Option<DropReason> {
        DropReason::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The metric label (`default_deny_ingress`, ...).
    pub fn label(self) -> &'static str {
        match self {
            DropReason::DefaultDenyIngress => "default_deny_ingress",
            DropReason::DefaultDenyEgress => "default_deny_egress",
            DropReason::SpoofMac => "spoof_mac",
            DropReason::SpoofIp => "spoof_ip",
            DropReason::SpoofArp => "spoof_arp",
            DropReason::SpoofNd => "spoof_nd",
            DropReason::SpoofDhcpServer => "spoof_dhcp_server",
            DropReason::SpoofRouterAdvert => "spoof_router_advert",
            DropReason::FragmentUntracked => "fragment_untracked",
            DropReason::Malformed => "malformed",
            DropReason::VlanTagged => "vlan_tagged",
            DropReason::Ethertype => "ethertype",
            DropReason::TcpFlags => "tcp_flags",
            DropReason::ConntrackFull => "conntrack_full",
            DropReason::NoPort => "no_port",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_abi_number_has_a_name_and_back() {
        for id in 1..abi::SDN_BUILTIN_COUNT {
            let b = Builtin::from_id(id).unwrap_or_else(|| panic!("SDN_BUILTIN {id} has no name"));
            assert_eq!(b.id(), id);
        }
        assert_eq!(Builtin::ALL.len() as u32, abi::SDN_BUILTIN_COUNT - 1);
        for id in 0..abi::SDN_DROP_COUNT {
            let r = DropReason::from_id(id).unwrap_or_else(|| panic!("SDN_DROP {id} has no name"));
            assert_eq!(r.id(), id);
        }
        assert_eq!(DropReason::ALL.len() as u32, abi::SDN_DROP_COUNT);
    }

    #[test]
    fn attribution_splits_rules_from_builtins() {
        assert_eq!(
            Attribution::from_id(abi::SDN_RULE_ID_FIRST),
            Attribution::Rule(abi::SDN_RULE_ID_FIRST)
        );
        assert_eq!(
            Attribution::from_id(abi::SDN_BUILTIN_ESTABLISHED).to_string(),
            "established"
        );
        assert_eq!(Attribution::from_id(900), Attribution::Unknown(900));
    }
}
