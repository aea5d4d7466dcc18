//! A fluent builder for the Ethernet frames that dataplane fixtures feed to BPF_PROG_TEST_RUN.
//!
//! A frame is built in one chain, outermost header first, and ends in [`build`](Tcp::build), which
//! returns the bytes of the whole frame:
//!
//! ```
//! use sdn_ebpf::packet::{Frame, Mac, TcpFlags, ip4};
//!
//! let (a, b) = (Mac::local(1), Mac::local(2));
//! let syn = Frame::eth(a, b).vlan(100).ipv4(ip4("198.18.0.1"), ip4("198.18.0.2"))
//!     .tcp(40000, 80).flags(TcpFlags::SYN).payload(b"hi").build();
//! assert_eq!(syn.len(), 14 + 4 + 20 + 20 + 2);
//! ```
//!
//! More shapes, each one line:
//!
//! ```
//! use sdn_ebpf::packet::{Frame, Mac, icmp, ip4, ip6};
//!
//! let (a, b) = (Mac::local(1), Mac::local(2));
//! let (x, y) = (ip6("2001:db8::1"), ip6("2001:db8::2"));
//! // A first IPv6 fragment behind a hop-by-hop header: offset 0 (8-byte units), more, id 7.
//! let frag = Frame::eth(a, b).ipv6(x, y).hop_by_hop().fragment(0, true, 7).udp(53, 5353).build();
//! // A port unreachable quoting the invoking packet's IP header and its first 8 payload bytes.
//! let probe = Frame::eth(a, b).ipv4(ip4("198.18.0.1"), ip4("198.18.0.2")).udp(40000, 33434).build_ip();
//! let err = Frame::eth(b, a).ipv4(ip4("198.18.0.2"), ip4("198.18.0.1"))
//!     .icmp_dest_unreachable(icmp::PORT_UNREACH, &probe).build();
//! // A negative fixture: a correct UDP datagram whose checksum is wrong, cut after 40 bytes.
//! let bad = Frame::eth(a, b).ipv6(x, y).udp(1, 2).fill(64).bad_checksum().truncate_to(40).build();
//! assert_eq!((frag.len(), err.len(), bad.len()), (14 + 40 + 8 + 8 + 8, 14 + 20 + 8 + 28, 40));
//! ```
//!
//! Each call moves to the stage of the next header: [`Frame`] (Ethernet and VLAN tags) leads to
//! [`Arp`], [`Ipv4`] or [`Ipv6`]; the IP stages take their own fields and extension headers, then
//! lead to [`Tcp`], [`Udp`], [`Icmp`], [`Icmpv6`], [`Sctp`] or [`Raw`]. A setter is only offered
//! on the stage whose header it changes, so `.flags()` after `.udp()` does not compile.
//!
//! **Defaults are correct frames**: the source comes before the destination everywhere (MACs,
//! addresses, ports), every length field and next-header field is computed, the IPv4 header
//! checksum and the TCP/UDP/ICMPv6 pseudo-header checksums (over IPv6 with extension headers too,
//! using the final destination of a routing header) are filled in, and SCTP carries its CRC32c.
//! Writing the headers is left to `pnet_packet`'s `Mutable*Packet` types and checksum functions.
//!
//! **Damage is explicit** and applied last, so a negative fixture reads as "a correct frame,
//! except": [`truncate_to`](Tcp::truncate_to), [`bad_checksum`](Tcp::bad_checksum),
//! [`bad_ip_checksum`](Tcp::bad_ip_checksum), [`ip_len`](Tcp::ip_len), [`Udp::len`],
//! [`Ipv4::ihl`], [`Tcp::data_offset`], [`Ipv4::protocol`], [`Frame::ethertype`].
//!
//! Fixtures use only addresses from 198.18.0.0/15 and 2001:db8::/32, and locally administered
//! MACs ([`Mac::local`]).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

mod emit;

/// Ethernet frame types (the EtherType field and VLAN TPIDs).
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag (customer tag, the inner tag of a QinQ pair).
    pub const VLAN: u16 = 0x8100;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// IEEE 802.1ad service tag (the outer tag of a QinQ pair).
    pub const QINQ: u16 = 0x88a8;
    /// IEEE local experimental EtherType 1; the type of a frame built with neither a network
    /// header nor [`Frame::ethertype`](super::Frame::ethertype).
    pub const LOCAL_EXPERIMENTAL: u16 = 0x88b5;
}

/// IP protocol numbers, which are also the IPv6 next-header values.
pub mod ip_proto {
    /// IPv6 hop-by-hop options extension header.
    pub const HOPOPT: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated in IP.
    pub const IPV6: u8 = 41;
    /// IPv6 routing extension header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment extension header.
    pub const FRAGMENT: u8 = 44;
    /// Generic Routing Encapsulation.
    pub const GRE: u8 = 47;
    /// IPsec Encapsulating Security Payload.
    pub const ESP: u8 = 50;
    /// IPsec Authentication Header.
    pub const AH: u8 = 51;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NO_NEXT: u8 = 59;
    /// IPv6 destination options extension header.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// Reserved; the protocol of an IPv4 packet built without a transport header.
    pub const RESERVED: u8 = 255;
}

/// ICMP (IPv4) message types and codes.
pub mod icmp {
    /// Echo reply (type).
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable (type).
    pub const DEST_UNREACH: u8 = 3;
    /// Echo request (type).
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded (type).
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem (type).
    pub const PARAM_PROBLEM: u8 = 12;
    /// Destination unreachable: network unreachable (code).
    pub const NET_UNREACH: u8 = 0;
    /// Destination unreachable: host unreachable (code).
    pub const HOST_UNREACH: u8 = 1;
    /// Destination unreachable: protocol unreachable (code).
    pub const PROTO_UNREACH: u8 = 2;
    /// Destination unreachable: port unreachable (code).
    pub const PORT_UNREACH: u8 = 3;
    /// Destination unreachable: fragmentation needed and DF set (code).
    pub const FRAG_NEEDED: u8 = 4;
    /// Destination unreachable: administratively prohibited (code).
    pub const ADMIN_PROHIBITED: u8 = 13;
    /// Time exceeded: TTL exceeded in transit (code).
    pub const TTL_EXCEEDED: u8 = 0;
    /// Time exceeded: fragment reassembly time exceeded (code).
    pub const REASSEMBLY_EXCEEDED: u8 = 1;
}

/// ICMPv6 message types and codes, NDP option types and NDP flags.
pub mod icmpv6 {
    /// Destination unreachable (type).
    pub const DEST_UNREACH: u8 = 1;
    /// Packet too big (type).
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded (type).
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem (type).
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request (type).
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply (type).
    pub const ECHO_REPLY: u8 = 129;
    /// NDP router solicitation (type).
    pub const ROUTER_SOLICIT: u8 = 133;
    /// NDP router advertisement (type).
    pub const ROUTER_ADVERT: u8 = 134;
    /// NDP neighbour solicitation (type).
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// NDP neighbour advertisement (type).
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Destination unreachable: no route to destination (code).
    pub const NO_ROUTE: u8 = 0;
    /// Destination unreachable: administratively prohibited (code).
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Destination unreachable: address unreachable (code).
    pub const ADDR_UNREACH: u8 = 3;
    /// Destination unreachable: port unreachable (code).
    pub const PORT_UNREACH: u8 = 4;
    /// Time exceeded: hop limit exceeded in transit (code).
    pub const HOP_LIMIT_EXCEEDED: u8 = 0;
    /// Time exceeded: fragment reassembly time exceeded (code).
    pub const REASSEMBLY_EXCEEDED: u8 = 1;
    /// NDP option: source link-layer address.
    pub const OPT_SOURCE_LLA: u8 = 1;
    /// NDP option: target link-layer address.
    pub const OPT_TARGET_LLA: u8 = 2;
    /// NDP option: prefix information.
    pub const OPT_PREFIX_INFO: u8 = 3;
    /// NDP option: MTU.
    pub const OPT_MTU: u8 = 5;
    /// Neighbour advertisement flag: the sender is a router.
    pub const NA_ROUTER: u8 = 0x80;
    /// Neighbour advertisement flag: sent in response to a solicitation.
    pub const NA_SOLICITED: u8 = 0x40;
    /// Neighbour advertisement flag: override an existing cache entry.
    pub const NA_OVERRIDE: u8 = 0x20;
    /// Router advertisement flag: managed address configuration (DHCPv6).
    pub const RA_MANAGED: u8 = 0x80;
    /// Router advertisement flag: other configuration (DHCPv6).
    pub const RA_OTHER: u8 = 0x40;
    /// Prefix information flag: on-link.
    pub const PREFIX_ON_LINK: u8 = 0x80;
    /// Prefix information flag: usable for autonomous address configuration (SLAAC).
    pub const PREFIX_AUTONOMOUS: u8 = 0x40;
}

/// A MAC address; `Debug` and `Display` print it as `02:00:00:00:00:01`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The broadcast address, ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// The all-zero address (the unknown target MAC of an ARP request).
    pub const ZERO: Mac = Mac([0; 6]);

    /// The locally administered unicast address `02:00:` followed by `n` in big-endian order.
    pub const fn local(n: u32) -> Mac {
        let b = n.to_be_bytes();
        Mac([0x02, 0x00, b[0], b[1], b[2], b[3]])
    }

    /// The Ethernet multicast address an IPv6 multicast group maps to (`33:33:` + low 32 bits).
    pub const fn ipv6_multicast(group: Ipv6Addr) -> Mac {
        let o = group.octets();
        Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    /// Parses `xx:xx:xx:xx:xx:xx` (or with `-` separators); `None` when malformed.
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next()?;
            if part.len() != 2 {
                return None;
            }
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(out))
    }

    /// The six octets.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl From<[u8; 6]> for Mac {
    fn from(octets: [u8; 6]) -> Mac {
        Mac(octets)
    }
}

impl From<Mac> for [u8; 6] {
    fn from(mac: Mac) -> [u8; 6] {
        mac.0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses a MAC address literal in a fixture; panics when it is malformed.
pub fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap_or_else(|| panic!("malformed MAC address literal {s:?}"))
}

/// Parses an IPv4 address literal in a fixture; panics when it is malformed.
pub fn ip4(s: &str) -> Ipv4Addr {
    s.parse()
        .unwrap_or_else(|_| panic!("malformed IPv4 address literal {s:?}"))
}

/// Parses an IPv6 address literal in a fixture; panics when it is malformed.
pub fn ip6(s: &str) -> Ipv6Addr {
    s.parse()
        .unwrap_or_else(|_| panic!("malformed IPv6 address literal {s:?}"))
}

/// The solicited-node multicast group of `addr` (ff02::1:ffXX:XXXX), where NS messages go.
pub const fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        (o[14] as u16) << 8 | o[15] as u16,
    )
}

/// The offset of the network header in an Ethernet frame, after any VLAN tags (0x8100, 0x88a8).
///
/// Returns the frame length when the frame ends inside the link-layer headers.
pub fn l3_offset(frame: &[u8]) -> usize {
    let mut off = 12;
    while let Some(&[hi, lo]) = frame.get(off..off + 2) {
        match u16::from_be_bytes([hi, lo]) {
            ethertype::VLAN | ethertype::QINQ => off += 4,
            _ => return off + 2,
        }
    }
    frame.len()
}

/// A set of TCP flags; combine them with `|`, e.g. `TcpFlags::SYN | TcpFlags::ACK`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN: no more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN: synchronise sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH: push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG: the urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE: ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR: congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let set: Vec<&str> = (0..8)
            .filter(|i| self.0 >> i & 1 == 1)
            .map(|i| NAMES[i])
            .collect();
        write!(f, "TcpFlags({})", set.join("|"))
    }
}

// ---------------------------------------------------------------------------------------------
// The description a chain accumulates; `emit` turns it into bytes.

#[derive(Clone, Debug)]
struct Spec {
    src: Mac,
    dst: Mac,
    /// VLAN tags, outermost first: (TPID, PCP, VID).
    tags: Vec<(u16, u8, u16)>,
    ethertype: Option<u16>,
    l3: L3,
    l4: L4,
    payload: Vec<u8>,
    damage: Damage,
}

#[derive(Clone, Debug)]
enum L3 {
    None,
    Arp(ArpSpec),
    V4(V4Spec),
    V6(V6Spec),
}

#[derive(Clone, Debug)]
struct ArpSpec {
    op: u16,
    sha: Mac,
    spa: Ipv4Addr,
    tha: Mac,
    tpa: Ipv4Addr,
}

#[derive(Clone, Debug)]
struct V4Spec {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    id: u16,
    dscp: u8,
    ecn: u8,
    dont_fragment: bool,
    more_fragments: bool,
    frag_offset: u16,
    options: Vec<u8>,
    protocol: Option<u8>,
    ihl: Option<u8>,
}

#[derive(Clone, Debug)]
struct V6Spec {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: Option<u8>,
    exts: Vec<Ext>,
    protocol: Option<u8>,
}

#[derive(Clone, Debug)]
enum Ext {
    /// Hop-by-hop (0) or destination options (60): raw option TLVs, padded with Pad1/PadN.
    Options {
        code: u8,
        options: Vec<u8>,
    },
    Routing {
        routing_type: u8,
        segments_left: u8,
        data: Vec<u8>,
        final_dst: Option<Ipv6Addr>,
    },
    Fragment {
        offset: u16,
        more: bool,
        id: u32,
    },
    /// Any header in the common (next header, length in 8-octet units) format.
    Generic {
        code: u8,
        body: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
enum L4 {
    None,
    Tcp(TcpSpec),
    Udp {
        sport: u16,
        dport: u16,
        len: Option<u16>,
        no_checksum: bool,
    },
    Sctp {
        sport: u16,
        dport: u16,
        vtag: u32,
    },
    Raw {
        proto: u8,
    },
    Icmp(IcmpMsg),
    Icmpv6 {
        msg: Icmpv6Msg,
        options: Vec<(u8, Vec<u8>)>,
    },
}

#[derive(Clone, Debug)]
struct TcpSpec {
    sport: u16,
    dport: u16,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    window: u16,
    urgent: u16,
    options: Vec<u8>,
    data_offset: Option<u8>,
}

#[derive(Clone, Debug)]
enum IcmpMsg {
    Echo { reply: bool, id: u16, seq: u16 },
    DestUnreach { code: u8, mtu: u16, inner: Vec<u8> },
    TimeExceeded { code: u8, inner: Vec<u8> },
    Other { ty: u8, code: u8, rest: u32 },
}

#[derive(Clone, Debug)]
enum Icmpv6Msg {
    Echo {
        reply: bool,
        id: u16,
        seq: u16,
    },
    NeighborSolicit {
        target: Ipv6Addr,
    },
    NeighborAdvert {
        flags: u8,
        target: Ipv6Addr,
    },
    RouterSolicit,
    RouterAdvert {
        hop_limit: u8,
        flags: u8,
        lifetime: u16,
        reachable: u32,
        retrans: u32,
    },
    Error {
        ty: u8,
        code: u8,
        param: u32,
        inner: Vec<u8>,
    },
    Other {
        ty: u8,
        code: u8,
        rest: u32,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Checksum {
    #[default]
    Correct,
    Bad,
    Exact(u16),
}

#[derive(Clone, Debug, Default)]
struct Damage {
    truncate_to: Option<usize>,
    pad_to: Option<usize>,
    ip_checksum: Checksum,
    l4_checksum: Checksum,
    ip_len: Option<u16>,
}

impl Spec {
    fn v4(&mut self) -> &mut V4Spec {
        match &mut self.l3 {
            L3::V4(v4) => v4,
            _ => unreachable!("the Ipv4 stage always holds an IPv4 header"),
        }
    }

    fn v6(&mut self) -> &mut V6Spec {
        match &mut self.l3 {
            L3::V6(v6) => v6,
            _ => unreachable!("the Ipv6 stage always holds an IPv6 header"),
        }
    }

    fn tcp(&mut self) -> &mut TcpSpec {
        match &mut self.l4 {
            L4::Tcp(tcp) => tcp,
            _ => unreachable!("the Tcp stage always holds a TCP header"),
        }
    }

    fn with_l4(mut self, l4: L4) -> Spec {
        self.l4 = l4;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Stages.

macro_rules! stage {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        #[must_use = "a packet stage does nothing until `.build()`"]
        pub struct $name(Spec);

        impl $name {
            /// Appends bytes after the last header (may be called several times).
            pub fn payload(mut self, bytes: impl AsRef<[u8]>) -> Self {
                self.0.payload.extend_from_slice(bytes.as_ref());
                self
            }

            /// Appends `n` filler bytes (0, 1, 2, ... wrapping at 256) after the last header.
            pub fn fill(mut self, n: usize) -> Self {
                self.0.payload.extend((0..n).map(|i| i as u8));
                self
            }

            /// Damage: cuts the final frame to `len` bytes (after every length and checksum is set).
            pub fn truncate_to(mut self, len: usize) -> Self {
                self.0.damage.truncate_to = Some(len);
                self
            }

            /// Appends zero bytes to the final frame up to `len` bytes (e.g. 60, the Ethernet
            /// minimum), without changing any length field; nothing happens when it is longer.
            pub fn pad_to(mut self, len: usize) -> Self {
                self.0.damage.pad_to = Some(len);
                self
            }

            /// The Ethernet frame.
            pub fn build(self) -> Vec<u8> {
                emit::frame(&self.0)
            }
        }
    };
}

macro_rules! ip_stage_methods {
    ($name:ident) => {
        impl $name {
            /// The packet from its IP header on, without the link-layer headers (damage applied to
            /// the frame first), e.g. the invoking packet of an ICMP error.
            pub fn build_ip(self) -> Vec<u8> {
                let frame = emit::frame(&self.0);
                let off = emit::l2_len(&self.0).min(frame.len());
                frame[off..].to_vec()
            }

            /// Damage: an IPv4 header checksum that does not verify.
            pub fn bad_ip_checksum(mut self) -> Self {
                self.0.damage.ip_checksum = Checksum::Bad;
                self
            }

            /// Damage: this exact IPv4 header checksum.
            pub fn ip_checksum(mut self, value: u16) -> Self {
                self.0.damage.ip_checksum = Checksum::Exact(value);
                self
            }

            /// Damage: this IPv4 total length or IPv6 payload length instead of the computed one.
            pub fn ip_len(mut self, len: u16) -> Self {
                self.0.damage.ip_len = Some(len);
                self
            }
        }
    };
}

macro_rules! l4_checksum_methods {
    ($name:ident) => {
        impl $name {
            /// Damage: a transport checksum (TCP, UDP, ICMP, ICMPv6, SCTP) that does not verify.
            pub fn bad_checksum(mut self) -> Self {
                self.0.damage.l4_checksum = Checksum::Bad;
                self
            }

            /// Damage: this exact transport checksum (the low 16 bits for SCTP's CRC32c).
            pub fn checksum(mut self, value: u16) -> Self {
                self.0.damage.l4_checksum = Checksum::Exact(value);
                self
            }
        }
    };
}

macro_rules! transport_starters {
    ($name:ident) => {
        impl $name {
            /// Starts a TCP header (flags none, seq 0, ack 0, window 65535).
            pub fn tcp(self, sport: u16, dport: u16) -> Tcp {
                Tcp(self.0.with_l4(L4::Tcp(TcpSpec {
                    sport,
                    dport,
                    flags: TcpFlags::NONE,
                    seq: 0,
                    ack: 0,
                    window: 65535,
                    urgent: 0,
                    options: Vec::new(),
                    data_offset: None,
                })))
            }

            /// Starts a UDP header.
            pub fn udp(self, sport: u16, dport: u16) -> Udp {
                Udp(self.0.with_l4(L4::Udp {
                    sport,
                    dport,
                    len: None,
                    no_checksum: false,
                }))
            }

            /// Starts an SCTP common header (12 bytes, verification tag 0, CRC32c computed) to
            /// which chunks are appended as payload.
            pub fn sctp(self, sport: u16, dport: u16) -> Sctp {
                Sctp(self.0.with_l4(L4::Sctp {
                    sport,
                    dport,
                    vtag: 0,
                }))
            }

            /// Any IP protocol (e.g. [`ip_proto::GRE`], [`ip_proto::ESP`]) whose bytes come from
            /// `.payload()`; also the shape of a non-first fragment.
            pub fn raw(self, proto: u8) -> Raw {
                Raw(self.0.with_l4(L4::Raw { proto }))
            }
        }
    };
}

stage!(
    /// The link layer: Ethernet and VLAN tags. Start here with [`Frame::eth`].
    Frame
);
stage!(
    /// An ARP packet over Ethernet.
    Arp
);
stage!(
    /// An IPv4 header (TTL 64, id 0, no options) whose transport comes next.
    Ipv4
);
stage!(
    /// An IPv6 header (hop limit 64, or 255 for NDP) and its extension headers, in the order added.
    Ipv6
);
stage!(
    /// A TCP segment.
    Tcp
);
stage!(
    /// A UDP datagram.
    Udp
);
stage!(
    /// An ICMP message for IPv4.
    Icmp
);
stage!(
    /// An ICMPv6 message, including NDP; NDP options are added on this stage.
    Icmpv6
);
stage!(
    /// An SCTP packet: the common header, followed by chunks given as payload.
    Sctp
);
stage!(
    /// An IP payload of any protocol number, given entirely as payload bytes.
    Raw
);

ip_stage_methods!(Ipv4);
ip_stage_methods!(Ipv6);
ip_stage_methods!(Tcp);
ip_stage_methods!(Udp);
ip_stage_methods!(Icmp);
ip_stage_methods!(Icmpv6);
ip_stage_methods!(Sctp);
ip_stage_methods!(Raw);
l4_checksum_methods!(Tcp);
l4_checksum_methods!(Udp);
l4_checksum_methods!(Icmp);
l4_checksum_methods!(Icmpv6);
l4_checksum_methods!(Sctp);
transport_starters!(Ipv4);
transport_starters!(Ipv6);

impl Frame {
    /// An Ethernet frame from `src` to `dst` (the header itself is written destination first).
    pub fn eth(src: impl Into<Mac>, dst: impl Into<Mac>) -> Frame {
        Frame(Spec {
            src: src.into(),
            dst: dst.into(),
            tags: Vec::new(),
            ethertype: None,
            l3: L3::None,
            l4: L4::None,
            payload: Vec::new(),
            damage: Damage::default(),
        })
    }

    /// Adds an 802.1Q tag (TPID 0x8100, priority 0) inside the tags already added.
    pub fn vlan(self, vid: u16) -> Frame {
        self.tag(ethertype::VLAN, 0, vid)
    }

    /// Adds a QinQ pair: an 802.1ad service tag (0x88a8) around an 802.1Q customer tag (0x8100).
    pub fn qinq(self, outer_vid: u16, inner_vid: u16) -> Frame {
        self.tag(ethertype::QINQ, 0, outer_vid)
            .tag(ethertype::VLAN, 0, inner_vid)
    }

    /// Adds a tag with any TPID, priority code point (0..=7) and VLAN id (0..=4095).
    pub fn tag(mut self, tpid: u16, pcp: u8, vid: u16) -> Frame {
        assert!(
            pcp < 8 && vid < 4096,
            "VLAN priority {pcp} or id {vid} out of range"
        );
        self.0.tags.push((tpid, pcp, vid));
        self
    }

    /// Sets the (innermost) EtherType, for a frame whose payload is given raw, or as damage
    /// before `.ipv4()`/`.ipv6()`/`.arp_*()`, which otherwise set it.
    pub fn ethertype(mut self, ethertype: u16) -> Frame {
        self.0.ethertype = Some(ethertype);
        self
    }

    /// An ARP request: who has `target_ip`? tell `sender_ip` at `sender_mac`.
    pub fn arp_request(
        self,
        sender_mac: impl Into<Mac>,
        sender_ip: Ipv4Addr,
        target_ip: Ipv4Addr,
    ) -> Arp {
        self.arp(1, sender_mac, sender_ip, Mac::ZERO, target_ip)
    }

    /// An ARP reply: `sender_ip` is at `sender_mac`, sent to `target_mac`/`target_ip`.
    pub fn arp_reply(
        self,
        sender_mac: impl Into<Mac>,
        sender_ip: Ipv4Addr,
        target_mac: impl Into<Mac>,
        target_ip: Ipv4Addr,
    ) -> Arp {
        self.arp(2, sender_mac, sender_ip, target_mac, target_ip)
    }

    /// An ARP packet with any operation (1 request, 2 reply) for Ethernet and IPv4.
    pub fn arp(
        mut self,
        op: u16,
        sender_mac: impl Into<Mac>,
        sender_ip: Ipv4Addr,
        target_mac: impl Into<Mac>,
        target_ip: Ipv4Addr,
    ) -> Arp {
        self.0.l3 = L3::Arp(ArpSpec {
            op,
            sha: sender_mac.into(),
            spa: sender_ip,
            tha: target_mac.into(),
            tpa: target_ip,
        });
        Arp(self.0)
    }

    /// Starts an IPv4 header.
    pub fn ipv4(mut self, src: impl Into<Ipv4Addr>, dst: impl Into<Ipv4Addr>) -> Ipv4 {
        self.0.l3 = L3::V4(V4Spec {
            src: src.into(),
            dst: dst.into(),
            ttl: 64,
            id: 0,
            dscp: 0,
            ecn: 0,
            dont_fragment: false,
            more_fragments: false,
            frag_offset: 0,
            options: Vec::new(),
            protocol: None,
            ihl: None,
        });
        Ipv4(self.0)
    }

    /// Starts an IPv6 header.
    pub fn ipv6(mut self, src: impl Into<Ipv6Addr>, dst: impl Into<Ipv6Addr>) -> Ipv6 {
        self.0.l3 = L3::V6(V6Spec {
            src: src.into(),
            dst: dst.into(),
            traffic_class: 0,
            flow_label: 0,
            hop_limit: None,
            exts: Vec::new(),
            protocol: None,
        });
        Ipv6(self.0)
    }
}

impl Ipv4 {
    /// Time to live (default 64).
    pub fn ttl(mut self, ttl: u8) -> Ipv4 {
        self.0.v4().ttl = ttl;
        self
    }

    /// Identification (default 0).
    pub fn id(mut self, id: u16) -> Ipv4 {
        self.0.v4().id = id;
        self
    }

    /// DSCP, the upper six bits of the former TOS byte (0..=63).
    pub fn dscp(mut self, dscp: u8) -> Ipv4 {
        assert!(dscp < 64, "DSCP {dscp} out of range 0..=63");
        self.0.v4().dscp = dscp;
        self
    }

    /// ECN, the lower two bits of the former TOS byte (0..=3).
    pub fn ecn(mut self, ecn: u8) -> Ipv4 {
        assert!(ecn < 4, "ECN {ecn} out of range 0..=3");
        self.0.v4().ecn = ecn;
        self
    }

    /// Sets the don't-fragment flag.
    pub fn dont_fragment(mut self) -> Ipv4 {
        self.0.v4().dont_fragment = true;
        self
    }

    /// Makes this a fragment: `offset` in 8-byte units (0..8192), `more` sets the MF flag.
    ///
    /// The transport header is only built when asked for, so a non-first fragment is
    /// `.fragment(n, more).raw(ip_proto::UDP).payload(..)`.
    pub fn fragment(mut self, offset: u16, more: bool) -> Ipv4 {
        assert!(
            offset < 8192,
            "fragment offset {offset} does not fit 13 bits"
        );
        let v4 = self.0.v4();
        v4.frag_offset = offset;
        v4.more_fragments = more;
        self
    }

    /// Raw option bytes; zero (end of option list) bytes pad them to 4-byte words and IHL counts
    /// them (at most 40 bytes).
    pub fn options(mut self, options: impl AsRef<[u8]>) -> Ipv4 {
        let options = options.as_ref();
        assert!(
            options.len() <= 40,
            "IPv4 options are at most 40 bytes, got {}",
            options.len()
        );
        self.0.v4().options = options.to_vec();
        self
    }

    /// Overrides the protocol field, whatever transport follows.
    pub fn protocol(mut self, proto: u8) -> Ipv4 {
        self.0.v4().protocol = Some(proto);
        self
    }

    /// Damage: this IHL (header length in 4-byte words, 0..=15) instead of the computed one.
    pub fn ihl(mut self, ihl: u8) -> Ipv4 {
        assert!(ihl < 16, "IHL {ihl} does not fit 4 bits");
        self.0.v4().ihl = Some(ihl);
        self
    }

    /// An ICMP echo request.
    pub fn icmp_echo_request(self, id: u16, seq: u16) -> Icmp {
        self.icmp_msg(IcmpMsg::Echo {
            reply: false,
            id,
            seq,
        })
    }

    /// An ICMP echo reply.
    pub fn icmp_echo_reply(self, id: u16, seq: u16) -> Icmp {
        self.icmp_msg(IcmpMsg::Echo {
            reply: true,
            id,
            seq,
        })
    }

    /// A destination unreachable error (codes in [`icmp`]) quoting the IP header and first
    /// 8 payload bytes of `invoking`, an IP packet (see [`Tcp::build_ip`]).
    pub fn icmp_dest_unreachable(self, code: u8, invoking: &[u8]) -> Icmp {
        self.icmp_msg(IcmpMsg::DestUnreach {
            code,
            mtu: 0,
            inner: icmp_quote(invoking),
        })
    }

    /// A "fragmentation needed" error announcing `mtu`, quoting `invoking` like
    /// [`icmp_dest_unreachable`](Ipv4::icmp_dest_unreachable).
    pub fn icmp_frag_needed(self, mtu: u16, invoking: &[u8]) -> Icmp {
        let inner = icmp_quote(invoking);
        self.icmp_msg(IcmpMsg::DestUnreach {
            code: icmp::FRAG_NEEDED,
            mtu,
            inner,
        })
    }

    /// A time exceeded error (codes in [`icmp`]) quoting `invoking` like
    /// [`icmp_dest_unreachable`](Ipv4::icmp_dest_unreachable).
    pub fn icmp_time_exceeded(self, code: u8, invoking: &[u8]) -> Icmp {
        self.icmp_msg(IcmpMsg::TimeExceeded {
            code,
            inner: icmp_quote(invoking),
        })
    }

    /// Any ICMP message: type, code and the 4 bytes after the checksum; the rest is payload.
    pub fn icmp(self, ty: u8, code: u8, rest_of_header: u32) -> Icmp {
        self.icmp_msg(IcmpMsg::Other {
            ty,
            code,
            rest: rest_of_header,
        })
    }

    fn icmp_msg(self, msg: IcmpMsg) -> Icmp {
        Icmp(self.0.with_l4(L4::Icmp(msg)))
    }
}

/// The part of an invoking IPv4 packet an ICMP error quotes: its header and 8 more bytes.
fn icmp_quote(invoking: &[u8]) -> Vec<u8> {
    let ihl = invoking.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    invoking[..(ihl + 8).min(invoking.len())].to_vec()
}

impl Ipv6 {
    /// Traffic class (DSCP << 2 | ECN).
    pub fn traffic_class(mut self, tc: u8) -> Ipv6 {
        self.0.v6().traffic_class = tc;
        self
    }

    /// Flow label (20 bits).
    pub fn flow_label(mut self, label: u32) -> Ipv6 {
        assert!(
            label < 1 << 20,
            "flow label {label:#x} does not fit 20 bits"
        );
        self.0.v6().flow_label = label;
        self
    }

    /// Hop limit (default 64, or 255 for NDP messages as RFC 4861 requires).
    pub fn hop_limit(mut self, hop_limit: u8) -> Ipv6 {
        self.0.v6().hop_limit = Some(hop_limit);
        self
    }

    /// Adds an empty hop-by-hop options header (8 bytes of padding).
    pub fn hop_by_hop(self) -> Ipv6 {
        self.hop_by_hop_options([])
    }

    /// Adds a hop-by-hop options header with raw option TLVs, padded with Pad1/PadN.
    pub fn hop_by_hop_options(mut self, options: impl AsRef<[u8]>) -> Ipv6 {
        let options = options.as_ref().to_vec();
        self.0.v6().exts.push(Ext::Options {
            code: ip_proto::HOPOPT,
            options,
        });
        self
    }

    /// Adds an empty destination options header (8 bytes of padding).
    pub fn dest_opts(self) -> Ipv6 {
        self.dest_opts_options([])
    }

    /// Adds a destination options header with raw option TLVs, padded with Pad1/PadN.
    pub fn dest_opts_options(mut self, options: impl AsRef<[u8]>) -> Ipv6 {
        let options = options.as_ref().to_vec();
        self.0.v6().exts.push(Ext::Options {
            code: ip_proto::DSTOPTS,
            options,
        });
        self
    }

    /// Adds a routing header listing `addrs` after 4 reserved bytes (types 0 and 2), or a segment
    /// routing header (type 4, RFC 8754) whose last-entry byte is filled in.
    ///
    /// With `segments_left > 0`, transport checksums use the final destination as RFC 8200
    /// requires: the last address (type 0/2) or the first segment (type 4).
    pub fn routing(mut self, routing_type: u8, segments_left: u8, addrs: &[Ipv6Addr]) -> Ipv6 {
        let mut data = vec![0u8; 4];
        if routing_type == 4 {
            data[0] = u8::try_from(addrs.len().saturating_sub(1)).expect("at most 256 segments");
        }
        data.extend(addrs.iter().flat_map(|a| a.octets()));
        let final_dst = match (segments_left, routing_type) {
            (0, _) => None,
            (_, 4) => addrs.first().copied(),
            _ => addrs.last().copied(),
        };
        self.0.v6().exts.push(Ext::Routing {
            routing_type,
            segments_left,
            data,
            final_dst,
        });
        self
    }

    /// Adds a routing header with raw type-specific data (zero-padded to 8n-4 bytes); checksums
    /// use the IPv6 destination.
    pub fn routing_raw(
        mut self,
        routing_type: u8,
        segments_left: u8,
        data: impl AsRef<[u8]>,
    ) -> Ipv6 {
        let data = data.as_ref().to_vec();
        self.0.v6().exts.push(Ext::Routing {
            routing_type,
            segments_left,
            data,
            final_dst: None,
        });
        self
    }

    /// Adds a fragment header: `offset` in 8-byte units (0..8192), `more` the M flag.
    ///
    /// As with IPv4, a non-first fragment is `.fragment(n, more, id).raw(ip_proto::UDP)`.
    pub fn fragment(mut self, offset: u16, more: bool, id: u32) -> Ipv6 {
        assert!(
            offset < 8192,
            "fragment offset {offset} does not fit 13 bits"
        );
        self.0.v6().exts.push(Ext::Fragment { offset, more, id });
        self
    }

    /// Adds any extension header in the generic format: next header and length bytes, then
    /// `body` zero-padded to 8n-2 bytes; `code` is the value the previous header points with.
    /// (Not for AH, whose length counts 4-byte units: give AH as `.raw(ip_proto::AH)` bytes.)
    pub fn ext(mut self, code: u8, body: impl AsRef<[u8]>) -> Ipv6 {
        let body = body.as_ref().to_vec();
        self.0.v6().exts.push(Ext::Generic { code, body });
        self
    }

    /// Overrides the last next-header field (of the last extension header, or of the IPv6
    /// header), whatever transport follows.
    pub fn protocol(mut self, proto: u8) -> Ipv6 {
        self.0.v6().protocol = Some(proto);
        self
    }

    /// An ICMPv6 echo request.
    pub fn icmpv6_echo_request(self, id: u16, seq: u16) -> Icmpv6 {
        self.icmpv6_msg(Icmpv6Msg::Echo {
            reply: false,
            id,
            seq,
        })
    }

    /// An ICMPv6 echo reply.
    pub fn icmpv6_echo_reply(self, id: u16, seq: u16) -> Icmpv6 {
        self.icmpv6_msg(Icmpv6Msg::Echo {
            reply: true,
            id,
            seq,
        })
    }

    /// A neighbour solicitation for `target`; add [`Icmpv6::source_lla`] for the usual option.
    pub fn ndp_neighbor_solicit(self, target: Ipv6Addr) -> Icmpv6 {
        self.icmpv6_msg(Icmpv6Msg::NeighborSolicit { target })
    }

    /// A neighbour advertisement for `target` with flags from [`icmpv6`] (`NA_ROUTER`,
    /// `NA_SOLICITED`, `NA_OVERRIDE`); add [`Icmpv6::target_lla`] for the usual option.
    pub fn ndp_neighbor_advert(self, flags: u8, target: Ipv6Addr) -> Icmpv6 {
        self.icmpv6_msg(Icmpv6Msg::NeighborAdvert { flags, target })
    }

    /// A router solicitation.
    pub fn ndp_router_solicit(self) -> Icmpv6 {
        self.icmpv6_msg(Icmpv6Msg::RouterSolicit)
    }

    /// A router advertisement: current hop limit, flags from [`icmpv6`] (`RA_MANAGED`,
    /// `RA_OTHER`) and router lifetime in seconds; reachable and retransmit timers are 0.
    pub fn ndp_router_advert(self, cur_hop_limit: u8, flags: u8, lifetime: u16) -> Icmpv6 {
        let (hop_limit, reachable, retrans) = (cur_hop_limit, 0, 0);
        self.icmpv6_msg(Icmpv6Msg::RouterAdvert {
            hop_limit,
            flags,
            lifetime,
            reachable,
            retrans,
        })
    }

    /// A destination unreachable error (codes in [`icmpv6`]) quoting as much of `invoking`, an
    /// IPv6 packet (see [`Udp::build_ip`]), as fits with the error in 1280 bytes (RFC 4443).
    pub fn icmpv6_dest_unreachable(self, code: u8, invoking: &[u8]) -> Icmpv6 {
        self.icmpv6_error(icmpv6::DEST_UNREACH, code, 0, invoking)
    }

    /// A packet too big error announcing `mtu`, quoting `invoking`.
    pub fn icmpv6_packet_too_big(self, mtu: u32, invoking: &[u8]) -> Icmpv6 {
        self.icmpv6_error(icmpv6::PACKET_TOO_BIG, 0, mtu, invoking)
    }

    /// A time exceeded error (codes in [`icmpv6`]), quoting `invoking`.
    pub fn icmpv6_time_exceeded(self, code: u8, invoking: &[u8]) -> Icmpv6 {
        self.icmpv6_error(icmpv6::TIME_EXCEEDED, code, 0, invoking)
    }

    /// A parameter problem error pointing at byte `pointer` of `invoking`, which it quotes.
    pub fn icmpv6_param_problem(self, code: u8, pointer: u32, invoking: &[u8]) -> Icmpv6 {
        self.icmpv6_error(icmpv6::PARAM_PROBLEM, code, pointer, invoking)
    }

    /// Any ICMPv6 message: type, code and the 4 bytes after the checksum; the rest is payload.
    pub fn icmpv6(self, ty: u8, code: u8, rest_of_header: u32) -> Icmpv6 {
        self.icmpv6_msg(Icmpv6Msg::Other {
            ty,
            code,
            rest: rest_of_header,
        })
    }

    fn icmpv6_error(self, ty: u8, code: u8, param: u32, invoking: &[u8]) -> Icmpv6 {
        let inner = invoking.to_vec();
        self.icmpv6_msg(Icmpv6Msg::Error {
            ty,
            code,
            param,
            inner,
        })
    }

    fn icmpv6_msg(self, msg: Icmpv6Msg) -> Icmpv6 {
        Icmpv6(self.0.with_l4(L4::Icmpv6 {
            msg,
            options: Vec::new(),
        }))
    }
}

impl Tcp {
    /// The flags, e.g. `TcpFlags::SYN | TcpFlags::ACK` (default none).
    pub fn flags(mut self, flags: TcpFlags) -> Tcp {
        self.0.tcp().flags = flags;
        self
    }

    /// Sequence number.
    pub fn seq(mut self, seq: u32) -> Tcp {
        self.0.tcp().seq = seq;
        self
    }

    /// Acknowledgment number (set `TcpFlags::ACK` too for it to count).
    pub fn ack(mut self, ack: u32) -> Tcp {
        self.0.tcp().ack = ack;
        self
    }

    /// Receive window (default 65535).
    pub fn window(mut self, window: u16) -> Tcp {
        self.0.tcp().window = window;
        self
    }

    /// Urgent pointer.
    pub fn urgent(mut self, urgent: u16) -> Tcp {
        self.0.tcp().urgent = urgent;
        self
    }

    /// Raw option bytes, zero-padded to 4-byte words and counted in the data offset (at most 40).
    pub fn options(mut self, options: impl AsRef<[u8]>) -> Tcp {
        let options = options.as_ref();
        assert!(
            options.len() <= 40,
            "TCP options are at most 40 bytes, got {}",
            options.len()
        );
        self.0.tcp().options = options.to_vec();
        self
    }

    /// Damage: this data offset (header length in 4-byte words, 0..=15) instead of the computed one.
    pub fn data_offset(mut self, words: u8) -> Tcp {
        assert!(words < 16, "data offset {words} does not fit 4 bits");
        self.0.tcp().data_offset = Some(words);
        self
    }
}

impl Udp {
    /// Damage: this UDP length field instead of the computed one.
    pub fn len(mut self, len: u16) -> Udp {
        if let L4::Udp { len: l, .. } = &mut self.0.l4 {
            *l = Some(len);
        }
        self
    }

    /// A zero checksum field, meaning "no checksum" over IPv4 (and invalid over IPv6).
    pub fn no_checksum(mut self) -> Udp {
        if let L4::Udp { no_checksum, .. } = &mut self.0.l4 {
            *no_checksum = true;
        }
        self
    }
}

impl Sctp {
    /// The verification tag (default 0, as in an INIT chunk's packet).
    pub fn vtag(mut self, vtag: u32) -> Sctp {
        if let L4::Sctp { vtag: v, .. } = &mut self.0.l4 {
            *v = vtag;
        }
        self
    }
}

impl Icmpv6 {
    /// Adds an NDP source link-layer address option.
    pub fn source_lla(self, mac: impl Into<Mac>) -> Icmpv6 {
        self.ndp_option(icmpv6::OPT_SOURCE_LLA, mac.into().0)
    }

    /// Adds an NDP target link-layer address option.
    pub fn target_lla(self, mac: impl Into<Mac>) -> Icmpv6 {
        self.ndp_option(icmpv6::OPT_TARGET_LLA, mac.into().0)
    }

    /// Adds an NDP prefix information option (flags `PREFIX_ON_LINK`, `PREFIX_AUTONOMOUS`;
    /// lifetimes in seconds).
    pub fn prefix_info(
        self,
        prefix: Ipv6Addr,
        len: u8,
        flags: u8,
        valid: u32,
        preferred: u32,
    ) -> Icmpv6 {
        let mut data = vec![len, flags];
        data.extend(valid.to_be_bytes());
        data.extend(preferred.to_be_bytes());
        data.extend([0; 4]);
        data.extend(prefix.octets());
        self.ndp_option(icmpv6::OPT_PREFIX_INFO, data)
    }

    /// Adds an NDP MTU option.
    pub fn mtu_option(self, mtu: u32) -> Icmpv6 {
        let mut data = vec![0, 0];
        data.extend(mtu.to_be_bytes());
        self.ndp_option(icmpv6::OPT_MTU, data)
    }

    /// Adds any NDP option: type, then `data` zero-padded so the option fills 8-byte units.
    pub fn ndp_option(mut self, ty: u8, data: impl AsRef<[u8]>) -> Icmpv6 {
        if let L4::Icmpv6 { options, .. } = &mut self.0.l4 {
            options.push((ty, data.as_ref().to_vec()));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    //! Every frame is parsed back with `pnet_packet` and its checksums recomputed with pnet's
    //! checksum functions, independently of how the builder wrote them.

    use super::*;
    use pnet_packet::Packet;
    use pnet_packet::arp::ArpPacket;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::icmp::{self as picmp, IcmpPacket};
    use pnet_packet::icmpv6::{self as picmpv6, Icmpv6Packet, ndp};
    use pnet_packet::ipv4::{self as pipv4, Ipv4Packet};
    use pnet_packet::ipv6::{ExtensionPacket, FragmentPacket, Ipv6Packet, RoutingPacket};
    use pnet_packet::tcp::{self as ptcp, TcpPacket};
    use pnet_packet::udp::{self as pudp, UdpPacket};
    use pnet_packet::vlan::VlanPacket;

    const A: Mac = Mac::local(1);
    const B: Mac = Mac::local(2);

    fn a4() -> Ipv4Addr {
        ip4("198.18.0.1")
    }
    fn b4() -> Ipv4Addr {
        ip4("198.19.255.2")
    }
    fn a6() -> Ipv6Addr {
        ip6("2001:db8::1")
    }
    fn b6() -> Ipv6Addr {
        ip6("2001:db8:1::2")
    }

    /// The IPv4 packet of a frame, checked: total length matches the bytes, header checksum
    /// verifies.
    fn ipv4_of(frame: &[u8]) -> Ipv4Packet<'_> {
        let ip = Ipv4Packet::new(&frame[l3_offset(frame)..]).expect("an IPv4 header");
        assert_eq!(ip.get_version(), 4);
        assert_eq!(
            usize::from(ip.get_total_length()),
            ip.packet().len(),
            "IPv4 total length"
        );
        assert_eq!(
            ip.get_checksum(),
            pipv4::checksum(&ip),
            "IPv4 header checksum"
        );
        ip
    }

    /// The transport bytes of an IPv4 packet (after IHL).
    fn l4_of_v4<'a>(ip: &'a Ipv4Packet<'_>) -> &'a [u8] {
        &ip.packet()[usize::from(ip.get_header_length()) * 4..]
    }

    /// Walks an IPv6 packet's extension headers: the next-header values met in order (the last
    /// one is the transport protocol) and the transport bytes; checks the payload length.
    fn ipv6_chain(frame: &[u8]) -> (Ipv6Packet<'_>, Vec<u8>, &[u8]) {
        let bytes = &frame[l3_offset(frame)..];
        let ip = Ipv6Packet::new(bytes).expect("an IPv6 header");
        assert_eq!(ip.get_version(), 6);
        assert_eq!(
            usize::from(ip.get_payload_length()),
            bytes.len() - 40,
            "IPv6 payload length"
        );
        let mut chain = vec![ip.get_next_header().0];
        let mut off = 40;
        loop {
            let next = *chain.last().unwrap();
            let rest = &bytes[off..];
            let (len, nh) = match next {
                ip_proto::FRAGMENT => {
                    let f = FragmentPacket::new(rest).unwrap();
                    (8, f.get_next_header().0)
                }
                ip_proto::ROUTING => {
                    let r = RoutingPacket::new(rest).unwrap();
                    (
                        usize::from(r.get_hdr_ext_len()) * 8 + 8,
                        r.get_next_header().0,
                    )
                }
                ip_proto::HOPOPT | ip_proto::DSTOPTS | 253 => {
                    let e = ExtensionPacket::new(rest).unwrap();
                    (
                        usize::from(e.get_hdr_ext_len()) * 8 + 8,
                        e.get_next_header().0,
                    )
                }
                _ => break,
            };
            off += len;
            chain.push(nh);
        }
        (ip, chain, &bytes[off..])
    }

    fn tcp_v4_ok(frame: &[u8]) -> Vec<u8> {
        let ip = ipv4_of(frame);
        assert_eq!(ip.get_next_level_protocol().0, ip_proto::TCP);
        let tcp = TcpPacket::new(l4_of_v4(&ip)).unwrap();
        let want = ptcp::ipv4_checksum(&tcp, &ip.get_source(), &ip.get_destination());
        assert_eq!(tcp.get_checksum(), want, "TCP checksum");
        tcp.packet().to_vec()
    }

    #[test]
    fn tcp_syn_over_vlan_parses_back_with_correct_lengths_and_checksums() {
        let frame = Frame::eth(A, B)
            .vlan(100)
            .ipv4(a4(), b4())
            .tcp(40000, 80)
            .flags(TcpFlags::SYN | TcpFlags::ECE)
            .seq(7)
            .ack(9)
            .window(1024)
            .payload(b"hi")
            .build();
        assert_eq!(frame.len(), 14 + 4 + 20 + 20 + 2);
        let eth = EthernetPacket::new(&frame).unwrap();
        assert_eq!(<[u8; 6]>::from(eth.get_source()), A.0);
        assert_eq!(<[u8; 6]>::from(eth.get_destination()), B.0);
        assert_eq!(eth.get_ethertype().0, ethertype::VLAN);
        let tag = VlanPacket::new(eth.payload()).unwrap();
        assert_eq!(tag.get_vlan_identifier(), 100);
        assert_eq!(tag.get_ethertype().0, ethertype::IPV4);
        assert_eq!(l3_offset(&frame), 18);

        let ip = ipv4_of(&frame);
        assert_eq!((ip.get_source(), ip.get_destination()), (a4(), b4()));
        assert_eq!(ip.get_ttl(), 64);
        let tcp = tcp_v4_ok(&frame);
        let tcp = TcpPacket::new(&tcp).unwrap();
        assert_eq!((tcp.get_source(), tcp.get_destination()), (40000, 80));
        assert_eq!(tcp.get_flags(), (TcpFlags::SYN | TcpFlags::ECE).0);
        assert_eq!(
            (
                tcp.get_sequence(),
                tcp.get_acknowledgement(),
                tcp.get_window()
            ),
            (7, 9, 1024)
        );
        assert_eq!(tcp.get_data_offset(), 5);
        assert_eq!(tcp.payload(), b"hi");
    }

    #[test]
    fn tcp_options_are_padded_and_counted_in_the_data_offset() {
        let mss = [2, 4, 0x05, 0xb4, 1, 3, 3]; // MSS 1460, NOP, window scale 3 (7 bytes)
        let frame = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .tcp(1, 2)
            .options(mss)
            .fill(5)
            .build();
        let tcp = tcp_v4_ok(&frame);
        let tcp = TcpPacket::new(&tcp).unwrap();
        assert_eq!(tcp.get_data_offset(), 7);
        assert_eq!(&tcp.get_options_raw()[..7], &mss);
        assert_eq!(tcp.payload(), &[0, 1, 2, 3, 4]);
    }

    #[test]
    fn qinq_puts_the_service_tag_outside_the_customer_tag() {
        let frame = Frame::eth(A, B)
            .qinq(10, 20)
            .ipv6(a6(), b6())
            .udp(53, 5353)
            .build();
        let eth = EthernetPacket::new(&frame).unwrap();
        assert_eq!(eth.get_ethertype().0, ethertype::QINQ);
        let outer = VlanPacket::new(eth.payload()).unwrap();
        assert_eq!(
            (outer.get_vlan_identifier(), outer.get_ethertype().0),
            (10, ethertype::VLAN)
        );
        let inner = VlanPacket::new(outer.payload()).unwrap();
        assert_eq!(
            (inner.get_vlan_identifier(), inner.get_ethertype().0),
            (20, ethertype::IPV6)
        );
        assert_eq!(l3_offset(&frame), 22);
        let (ip, chain, l4) = ipv6_chain(&frame);
        assert_eq!(chain, [ip_proto::UDP]);
        let udp = UdpPacket::new(l4).unwrap();
        assert_eq!(
            udp.get_checksum(),
            pudp::ipv6_checksum(&udp, &ip.get_source(), &ip.get_destination())
        );

        let tagged = Frame::eth(A, B)
            .tag(ethertype::VLAN, 5, 4095)
            .ipv4(a4(), b4())
            .raw(99)
            .build();
        let tag = VlanPacket::new(&tagged[14..]).unwrap();
        assert_eq!(
            (tag.get_priority_code_point().0, tag.get_vlan_identifier()),
            (5, 4095)
        );
    }

    #[test]
    fn arp_request_and_reply_carry_the_given_addresses() {
        let request = Frame::eth(A, Mac::BROADCAST)
            .arp_request(A, a4(), b4())
            .build();
        let eth = EthernetPacket::new(&request).unwrap();
        assert_eq!(eth.get_ethertype().0, ethertype::ARP);
        let arp = ArpPacket::new(eth.payload()).unwrap();
        assert_eq!(arp.get_operation().0, 1);
        assert_eq!((arp.get_hw_addr_len(), arp.get_proto_addr_len()), (6, 4));
        assert_eq!(arp.get_protocol_type().0, ethertype::IPV4);
        assert_eq!(<[u8; 6]>::from(arp.get_sender_hw_addr()), A.0);
        assert_eq!(<[u8; 6]>::from(arp.get_target_hw_addr()), Mac::ZERO.0);
        assert_eq!(
            (arp.get_sender_proto_addr(), arp.get_target_proto_addr()),
            (a4(), b4())
        );
        assert_eq!(request.len(), 42);

        let reply = Frame::eth(B, A)
            .arp_reply(B, b4(), A, a4())
            .pad_to(60)
            .build();
        assert_eq!(reply.len(), 60);
        let arp = ArpPacket::new(&reply[14..]).unwrap();
        assert_eq!(arp.get_operation().0, 2);
        assert_eq!(<[u8; 6]>::from(arp.get_target_hw_addr()), A.0);
    }

    #[test]
    fn ipv4_options_fragments_and_header_fields() {
        let router_alert = [0x94, 0x04, 0, 0];
        let frame = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .ttl(1)
            .id(0xbeef)
            .dscp(46)
            .ecn(1)
            .options([1, 1, 1, 0x94, 0x04, 0, 0]) // 3 NOPs and a router alert: padded to 8
            .fragment(185, true)
            .udp(5000, 53)
            .fill(100)
            .build();
        let ip = ipv4_of(&frame);
        assert_eq!(ip.get_header_length(), 7);
        assert_eq!(&ip.get_options_raw()[3..7], &router_alert);
        assert_eq!(ip.get_options_raw()[7], 0);
        assert_eq!((ip.get_ttl(), ip.get_identification()), (1, 0xbeef));
        assert_eq!((ip.get_dscp(), ip.get_ecn()), (46, 1));
        assert_eq!(ip.get_flags(), pipv4::Ipv4Flags::MoreFragments);
        assert_eq!(ip.get_fragment_offset(), 185);
        let udp = UdpPacket::new(l4_of_v4(&ip)).unwrap();
        assert_eq!(udp.get_length(), 108);
        assert_eq!(udp.get_checksum(), pudp::ipv4_checksum(&udp, &a4(), &b4()));

        let df = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .dont_fragment()
            .raw(ip_proto::UDP)
            .build();
        let ip = ipv4_of(&df);
        assert_eq!(
            (ip.get_flags(), ip.get_fragment_offset()),
            (pipv4::Ipv4Flags::DontFragment, 0)
        );

        let last = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .fragment(8191, false)
            .raw(ip_proto::UDP)
            .fill(3)
            .build();
        let ip = ipv4_of(&last);
        assert_eq!((ip.get_flags(), ip.get_fragment_offset()), (0, 8191));
        assert_eq!(ip.payload(), &[0, 1, 2]);
    }

    #[test]
    fn ipv6_extension_headers_chain_in_any_order_and_count() {
        let via = ip6("2001:db8:2::9");
        let cases: Vec<(Ipv6, Vec<u8>)> = vec![
            (Frame::eth(A, B).ipv6(a6(), b6()).hop_by_hop(), vec![0]),
            (
                Frame::eth(A, B)
                    .ipv6(a6(), b6())
                    .hop_by_hop()
                    .routing(2, 0, &[via])
                    .dest_opts()
                    .fragment(3, true, 77),
                vec![0, 43, 60, 44],
            ),
            (
                Frame::eth(A, B)
                    .ipv6(a6(), b6())
                    .fragment(0, true, 1)
                    .dest_opts()
                    .dest_opts_options([0x1e, 1, 0]),
                vec![44, 60, 60],
            ),
            (
                Frame::eth(A, B)
                    .ipv6(a6(), b6())
                    .hop_by_hop_options([5, 2, 0, 0])
                    .ext(253, [1, 2, 3, 4, 5, 6, 7]),
                vec![0, 253],
            ),
        ];
        for (stage, exts) in cases {
            for (frame, proto) in [
                (
                    stage.clone().udp(1000, 53).payload(b"query").build(),
                    ip_proto::UDP,
                ),
                (
                    stage.clone().tcp(1000, 443).flags(TcpFlags::SYN).build(),
                    ip_proto::TCP,
                ),
                (
                    stage.clone().icmpv6_echo_request(1, 2).fill(11).build(),
                    ip_proto::ICMPV6,
                ),
            ] {
                let (ip, chain, l4) = ipv6_chain(&frame);
                assert_eq!(
                    chain,
                    [exts.clone(), vec![proto]].concat(),
                    "next-header chain"
                );
                let (s, d) = (ip.get_source(), ip.get_destination());
                let (got, want) = match proto {
                    ip_proto::UDP => {
                        let udp = UdpPacket::new(l4).unwrap();
                        assert_eq!(usize::from(udp.get_length()), l4.len());
                        (udp.get_checksum(), pudp::ipv6_checksum(&udp, &s, &d))
                    }
                    ip_proto::TCP => {
                        let tcp = TcpPacket::new(l4).unwrap();
                        (tcp.get_checksum(), ptcp::ipv6_checksum(&tcp, &s, &d))
                    }
                    _ => {
                        let icmp = Icmpv6Packet::new(l4).unwrap();
                        (icmp.get_checksum(), picmpv6::checksum(&icmp, &s, &d))
                    }
                };
                assert_eq!(got, want, "transport checksum over {chain:?}");
            }
        }
    }

    #[test]
    fn ipv6_fragment_header_fields_and_padding() {
        let frame = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .hop_by_hop()
            .fragment(185, true, 0xdead_beef)
            .udp(1, 2)
            .build();
        let bytes = &frame[14..];
        let hbh = ExtensionPacket::new(&bytes[40..]).unwrap();
        assert_eq!(
            (hbh.get_hdr_ext_len(), hbh.payload()),
            (0, &[1u8, 4, 0, 0, 0, 0][..])
        ); // PadN
        let frag = FragmentPacket::new(&bytes[48..]).unwrap();
        assert_eq!(frag.get_next_header().0, ip_proto::UDP);
        assert_eq!(frag.get_fragment_offset() >> 3, 185);
        assert!(!frag.is_last_fragment());
        assert_eq!(frag.get_id(), 0xdead_beef);

        let pad1 = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .dest_opts_options([0x1e, 3, 0, 0, 0])
            .build();
        let ext = ExtensionPacket::new(&pad1[54..]).unwrap();
        assert_eq!(ext.payload(), &[0x1e, 3, 0, 0, 0, 0]); // Pad1
        let (_, chain, rest) = ipv6_chain(&pad1);
        assert_eq!((chain, rest.len()), (vec![60, ip_proto::NO_NEXT], 0));
    }

    #[test]
    fn routing_header_checksums_use_the_final_destination() {
        let (seg1, fin) = (ip6("2001:db8:2::1"), ip6("2001:db8:3::1"));
        let frame = Frame::eth(A, B)
            .ipv6(a6(), seg1)
            .routing(0, 2, &[ip6("2001:db8:2::2"), fin])
            .udp(1, 2)
            .build();
        let (_, chain, l4) = ipv6_chain(&frame);
        assert_eq!(chain, [ip_proto::ROUTING, ip_proto::UDP]);
        let udp = UdpPacket::new(l4).unwrap();
        assert_eq!(udp.get_checksum(), pudp::ipv6_checksum(&udp, &a6(), &fin));

        // Segment routing lists segments in reverse: the final destination comes first.
        let srh = Frame::eth(A, B)
            .ipv6(a6(), seg1)
            .routing(4, 1, &[fin, seg1])
            .tcp(1, 2)
            .build();
        let (_, _, l4) = ipv6_chain(&srh);
        let rh = RoutingPacket::new(&srh[54..]).unwrap();
        assert_eq!(
            (
                rh.get_routing_type(),
                rh.get_segments_left(),
                rh.get_hdr_ext_len()
            ),
            (4, 1, 4)
        );
        assert_eq!(rh.payload()[0], 1, "SRH last entry");
        let tcp = TcpPacket::new(l4).unwrap();
        assert_eq!(tcp.get_checksum(), ptcp::ipv6_checksum(&tcp, &a6(), &fin));

        let done = Frame::eth(A, B)
            .ipv6(a6(), fin)
            .routing(0, 0, &[seg1, fin])
            .udp(1, 2)
            .build();
        let (_, _, l4) = ipv6_chain(&done);
        let udp = UdpPacket::new(l4).unwrap();
        assert_eq!(udp.get_checksum(), pudp::ipv6_checksum(&udp, &a6(), &fin));
    }

    #[test]
    fn icmp_echo_and_errors_quoting_the_invoking_header_plus_8_bytes() {
        let echo = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .icmp_echo_request(0x1234, 7)
            .fill(56)
            .build();
        let ip = ipv4_of(&echo);
        assert_eq!(ip.get_next_level_protocol().0, ip_proto::ICMP);
        let icmp = IcmpPacket::new(ip.payload()).unwrap();
        assert_eq!(icmp.get_checksum(), picmp::checksum(&icmp));
        let req = picmp::echo_request::EchoRequestPacket::new(ip.payload()).unwrap();
        assert_eq!(
            (
                req.get_icmp_type().0,
                req.get_identifier(),
                req.get_sequence_number()
            ),
            (8, 0x1234, 7)
        );
        assert_eq!(req.payload().len(), 56);

        let reply = Frame::eth(B, A)
            .ipv4(b4(), a4())
            .icmp_echo_reply(0x1234, 7)
            .build();
        let ip = ipv4_of(&reply);
        let rep = picmp::echo_reply::EchoReplyPacket::new(ip.payload()).unwrap();
        assert_eq!((rep.get_icmp_type().0, rep.get_identifier()), (0, 0x1234));

        let invoking = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .options([1, 1, 1, 1])
            .udp(4000, 33434)
            .fill(40)
            .build_ip();
        assert_eq!(invoking.len(), 24 + 8 + 40);
        let router = ip4("198.18.1.1");
        for (frame, ty, code) in [
            (
                Frame::eth(B, A)
                    .ipv4(router, a4())
                    .icmp_time_exceeded(icmp::TTL_EXCEEDED, &invoking)
                    .build(),
                11,
                0,
            ),
            (
                Frame::eth(B, A)
                    .ipv4(b4(), a4())
                    .icmp_dest_unreachable(icmp::PORT_UNREACH, &invoking)
                    .build(),
                3,
                3,
            ),
            (
                Frame::eth(B, A)
                    .ipv4(router, a4())
                    .icmp_frag_needed(1400, &invoking)
                    .build(),
                3,
                4,
            ),
        ] {
            let ip = ipv4_of(&frame);
            let icmp = IcmpPacket::new(ip.payload()).unwrap();
            assert_eq!((icmp.get_icmp_type().0, icmp.get_icmp_code().0), (ty, code));
            assert_eq!(icmp.get_checksum(), picmp::checksum(&icmp));
            assert_eq!(
                &icmp.payload()[4..],
                &invoking[..24 + 8],
                "quotes header with options + 8"
            );
            let quoted = Ipv4Packet::new(&icmp.payload()[4..]).unwrap();
            assert_eq!(quoted.get_destination(), b4());
        }
        let frag = Frame::eth(B, A)
            .ipv4(router, a4())
            .icmp_frag_needed(1400, &invoking)
            .build();
        let unreach =
            picmp::destination_unreachable::DestinationUnreachablePacket::new(&frag[34..]).unwrap();
        assert_eq!(unreach.get_next_hop_mtu(), 1400);

        let other = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .icmp(icmp::PARAM_PROBLEM, 0, 0x1400_0000)
            .build();
        let ip = ipv4_of(&other);
        let icmp = IcmpPacket::new(ip.payload()).unwrap();
        assert_eq!(
            (icmp.payload(), icmp.get_checksum()),
            (&[0x14, 0, 0, 0][..], picmp::checksum(&icmp))
        );
    }

    #[test]
    fn icmpv6_echo_and_ndp_with_link_layer_options() {
        let echo = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .icmpv6_echo_reply(9, 10)
            .payload(b"ping")
            .build();
        let (ip, _, l4) = ipv6_chain(&echo);
        assert_eq!(ip.get_hop_limit(), 64);
        let rep = picmpv6::echo_reply::EchoReplyPacket::new(l4).unwrap();
        assert_eq!(
            (
                rep.get_icmpv6_type().0,
                rep.get_identifier(),
                rep.get_sequence_number()
            ),
            (129, 9, 10)
        );
        assert_eq!(rep.payload(), b"ping");

        let group = solicited_node(b6());
        let ns = Frame::eth(A, Mac::ipv6_multicast(group))
            .ipv6(a6(), group)
            .ndp_neighbor_solicit(b6())
            .source_lla(A)
            .build();
        let (ip, chain, l4) = ipv6_chain(&ns);
        assert_eq!((chain, ip.get_hop_limit()), (vec![ip_proto::ICMPV6], 255));
        let icmp = Icmpv6Packet::new(l4).unwrap();
        assert_eq!(icmp.get_checksum(), picmpv6::checksum(&icmp, &a6(), &group));
        let ns = ndp::NeighborSolicitPacket::new(l4).unwrap();
        assert_eq!((ns.get_icmpv6_type().0, ns.get_target_addr()), (135, b6()));
        let opts = ns.get_options();
        assert_eq!(opts.len(), 1);
        assert_eq!(
            (
                opts[0].option_type.0,
                opts[0].length,
                opts[0].data.as_slice()
            ),
            (1, 1, &A.0[..])
        );

        let flags = icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE;
        let na = Frame::eth(B, A)
            .ipv6(b6(), a6())
            .ndp_neighbor_advert(flags, b6())
            .target_lla(B)
            .build();
        let (_, _, l4) = ipv6_chain(&na);
        let icmp = Icmpv6Packet::new(l4).unwrap();
        assert_eq!(icmp.get_checksum(), picmpv6::checksum(&icmp, &b6(), &a6()));
        let na = ndp::NeighborAdvertPacket::new(l4).unwrap();
        assert_eq!((na.get_flags(), na.get_target_addr()), (0x60, b6()));
        assert_eq!(na.get_options()[0].option_type.0, icmpv6::OPT_TARGET_LLA);
        assert_eq!(na.get_options()[0].data, B.0);

        let all_nodes = ip6("ff02::1");
        let prefix = ip6("2001:db8:5::");
        let pio = icmpv6::PREFIX_ON_LINK | icmpv6::PREFIX_AUTONOMOUS;
        let ra = Frame::eth(B, Mac::ipv6_multicast(all_nodes))
            .ipv6(ip6("2001:db8::fe"), all_nodes)
            .ndp_router_advert(64, icmpv6::RA_OTHER, 1800)
            .source_lla(B)
            .mtu_option(1500)
            .prefix_info(prefix, 64, pio, 86400, 14400)
            .build();
        let (ip, _, l4) = ipv6_chain(&ra);
        assert_eq!(ip.get_hop_limit(), 255);
        let icmp = Icmpv6Packet::new(l4).unwrap();
        assert_eq!(
            icmp.get_checksum(),
            picmpv6::checksum(&icmp, &ip.get_source(), &all_nodes)
        );
        let ra = ndp::RouterAdvertPacket::new(l4).unwrap();
        assert_eq!(
            (ra.get_hop_limit(), ra.get_flags(), ra.get_lifetime()),
            (64, 0x40, 1800)
        );
        let opts = ra.get_options();
        let kinds: Vec<(u8, u8)> = opts.iter().map(|o| (o.option_type.0, o.length)).collect();
        assert_eq!(kinds, [(1, 1), (5, 1), (3, 4)]);
        assert_eq!(&opts[1].data[2..], &1500u32.to_be_bytes());
        assert_eq!(&opts[2].data[..2], &[64, 0xc0]);
        assert_eq!(&opts[2].data[14..], &prefix.octets());

        let rs = Frame::eth(A, B)
            .ipv6(a6(), ip6("ff02::2"))
            .ndp_router_solicit()
            .source_lla(A)
            .build();
        let (_, _, l4) = ipv6_chain(&rs);
        assert_eq!((l4[0], l4.len()), (icmpv6::ROUTER_SOLICIT, 16));
    }

    #[test]
    fn icmpv6_errors_quote_the_invoking_packet() {
        let invoking = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .hop_by_hop()
            .udp(4000, 33434)
            .fill(20)
            .build_ip();
        let router = ip6("2001:db8::fe");
        for (frame, ty, code, param) in [
            (
                Frame::eth(B, A)
                    .ipv6(router, a6())
                    .icmpv6_time_exceeded(0, &invoking)
                    .build(),
                3,
                0,
                0,
            ),
            (
                Frame::eth(B, A)
                    .ipv6(b6(), a6())
                    .icmpv6_dest_unreachable(4, &invoking)
                    .build(),
                1,
                4,
                0,
            ),
            (
                Frame::eth(B, A)
                    .ipv6(router, a6())
                    .icmpv6_packet_too_big(1280, &invoking)
                    .build(),
                2,
                0,
                1280,
            ),
            (
                Frame::eth(B, A)
                    .ipv6(router, a6())
                    .icmpv6_param_problem(1, 40, &invoking)
                    .build(),
                4,
                1,
                40,
            ),
        ] {
            let (ip, _, l4) = ipv6_chain(&frame);
            let icmp = Icmpv6Packet::new(l4).unwrap();
            assert_eq!(
                (icmp.get_icmpv6_type().0, icmp.get_icmpv6_code().0),
                (ty, code)
            );
            assert_eq!(
                icmp.get_checksum(),
                picmpv6::checksum(&icmp, &ip.get_source(), &a6())
            );
            assert_eq!(&icmp.payload()[..4], &u32::to_be_bytes(param));
            assert_eq!(&icmp.payload()[4..], &invoking[..]);
        }
        let big = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .udp(1, 2)
            .fill(1400)
            .build_ip();
        let err = Frame::eth(B, A)
            .ipv6(router, a6())
            .icmpv6_packet_too_big(1280, &big)
            .build();
        assert_eq!(err.len() - 14, 1280, "an ICMPv6 error fits the minimum MTU");
    }

    #[test]
    fn raw_protocols_and_sctp_ports() {
        let gre = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .raw(ip_proto::GRE)
            .payload([0, 0, 0x08, 0])
            .build();
        let ip = ipv4_of(&gre);
        assert_eq!(
            (ip.get_next_level_protocol().0, ip.payload()),
            (47, &[0, 0, 8, 0][..])
        );
        let esp = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .dest_opts()
            .raw(ip_proto::ESP)
            .fill(16)
            .build();
        let (_, chain, l4) = ipv6_chain(&esp);
        assert_eq!((chain, l4.len()), (vec![60, 50], 16));

        let init_chunk = [
            1, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0x10, 0, 0, 1, 0, 1, 0, 0, 0, 9,
        ];
        let sctp = Frame::eth(A, B)
            .ipv4(a4(), b4())
            .sctp(3868, 3868)
            .vtag(0xabcd)
            .payload(init_chunk)
            .build();
        let ip = ipv4_of(&sctp);
        assert_eq!(ip.get_next_level_protocol().0, ip_proto::SCTP);
        let l4 = ip.payload();
        assert_eq!(&l4[..8], &[0x0f, 0x1c, 0x0f, 0x1c, 0, 0, 0xab, 0xcd]);
        let mut zeroed = l4.to_vec();
        zeroed[8..12].fill(0);
        assert_eq!(&l4[8..12], &emit::crc32c(&zeroed).to_le_bytes());
        assert_eq!(
            emit::crc32c(b"123456789"),
            0xe306_9283,
            "the CRC-32C check value"
        );

        let over6 = Frame::eth(A, B).ipv6(a6(), b6()).sctp(1, 2).build();
        assert_eq!(ipv6_chain(&over6).1, [ip_proto::SCTP]);
    }

    #[test]
    fn damage_is_applied_on_request_only() {
        let base = || Frame::eth(A, B).ipv4(a4(), b4());
        let good = base().tcp(1, 2).payload(b"data").build();

        let cut = base().tcp(1, 2).payload(b"data").truncate_to(40).build();
        assert_eq!(cut, good[..40]);
        assert_eq!(
            Ipv4Packet::new(&cut[14..]).unwrap().get_total_length(),
            44,
            "lengths describe the whole"
        );

        let bad = base().tcp(1, 2).payload(b"data").bad_checksum().build();
        let (tg, tb) = (
            TcpPacket::new(&good[34..]).unwrap(),
            TcpPacket::new(&bad[34..]).unwrap(),
        );
        assert_ne!(tb.get_checksum(), ptcp::ipv4_checksum(&tb, &a4(), &b4()));
        assert_eq!(bad[..50], good[..50], "only the TCP checksum differs");
        assert_eq!(bad[52..], good[52..]);
        assert_eq!(tg.get_checksum(), ptcp::ipv4_checksum(&tg, &a4(), &b4()));

        let exact = base().udp(1, 2).checksum(0x1234).build();
        assert_eq!(UdpPacket::new(&exact[34..]).unwrap().get_checksum(), 0x1234);
        let none = base().udp(1, 2).no_checksum().build();
        assert_eq!(UdpPacket::new(&none[34..]).unwrap().get_checksum(), 0);
        let long = base().udp(1, 2).fill(4).len(100).build();
        let udp = UdpPacket::new(&long[34..]).unwrap();
        assert_eq!(udp.get_length(), 100);
        assert_eq!(
            udp.get_checksum(),
            pudp::ipv4_checksum(&udp, &a4(), &b4()),
            "only the length is wrong"
        );

        let icmp = base().icmp_echo_request(1, 1).bad_checksum().build();
        let p = IcmpPacket::new(&icmp[34..]).unwrap();
        assert_ne!(p.get_checksum(), picmp::checksum(&p));
        let udp = base().udp(1, 2).bad_checksum().build();
        let p = UdpPacket::new(&udp[34..]).unwrap();
        assert_ne!(p.get_checksum(), pudp::ipv4_checksum(&p, &a4(), &b4()));
        assert_ne!(p.get_checksum(), 0);
        let v6 = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .icmpv6_echo_request(1, 1)
            .bad_checksum()
            .build();
        let p = Icmpv6Packet::new(&v6[54..]).unwrap();
        assert_ne!(p.get_checksum(), picmpv6::checksum(&p, &a6(), &b6()));
        let sctp = base().sctp(1, 2).bad_checksum().build();
        let mut zeroed = sctp[34..].to_vec();
        zeroed[8..12].fill(0);
        assert_ne!(&sctp[42..46], &emit::crc32c(&zeroed).to_le_bytes());

        let ipbad = base().tcp(1, 2).bad_ip_checksum().build();
        let ip = Ipv4Packet::new(&ipbad[14..]).unwrap();
        assert_ne!(ip.get_checksum(), pipv4::checksum(&ip));
        let tcp = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(
            tcp.get_checksum(),
            ptcp::ipv4_checksum(&tcp, &a4(), &b4()),
            "the TCP checksum stays right"
        );
        let ip_exact = base().raw(99).ip_checksum(0).build();
        assert_eq!(Ipv4Packet::new(&ip_exact[14..]).unwrap().get_checksum(), 0);

        let wrong_len = base().udp(1, 2).ip_len(1000).build();
        let ip = Ipv4Packet::new(&wrong_len[14..]).unwrap();
        assert_eq!(
            (ip.get_total_length(), ip.get_checksum()),
            (1000, pipv4::checksum(&ip))
        );
        let wrong_len6 = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .udp(1, 2)
            .ip_len(3)
            .build();
        assert_eq!(
            Ipv6Packet::new(&wrong_len6[14..])
                .unwrap()
                .get_payload_length(),
            3
        );

        let ihl = base().ihl(4).tcp(1, 2).build();
        let ip = Ipv4Packet::new(&ihl[14..]).unwrap();
        assert_eq!(
            (ip.get_header_length(), ip.get_checksum()),
            (4, pipv4::checksum(&ip))
        );
        let doff = base().tcp(1, 2).data_offset(15).build();
        let tcp = TcpPacket::new(&doff[34..]).unwrap();
        assert_eq!(tcp.get_data_offset(), 15);
        assert_eq!(
            tcp.get_checksum(),
            ptcp::ipv4_checksum(&tcp, &a4(), &b4()),
            "only the offset is wrong"
        );

        let proto = base().protocol(ip_proto::UDP).tcp(1, 2).build();
        let ip = ipv4_of(&proto);
        assert_eq!(ip.get_next_level_protocol().0, ip_proto::UDP);
        let tcp = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(tcp.get_checksum(), ptcp::ipv4_checksum(&tcp, &a4(), &b4()));
        let proto6 = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .hop_by_hop()
            .protocol(ip_proto::NO_NEXT)
            .udp(1, 2)
            .build();
        assert_eq!(ipv6_chain(&proto6).1, [0, ip_proto::NO_NEXT]);

        let ethertype = Frame::eth(A, B)
            .ethertype(ethertype::IPV6)
            .ipv4(a4(), b4())
            .raw(1)
            .build();
        assert_eq!(
            EthernetPacket::new(&ethertype).unwrap().get_ethertype().0,
            ethertype::IPV6
        );
        let raw_l2 = Frame::eth(A, B).payload([1, 2, 3]).pad_to(60).build();
        assert_eq!(
            (raw_l2.len(), &raw_l2[12..17]),
            (60, &[0x88, 0xb5, 1, 2, 3][..])
        );
        assert_eq!(
            good.len(),
            base().tcp(1, 2).payload(b"data").pad_to(10).build().len()
        );
    }

    #[test]
    #[should_panic(expected = "IPv6 has no header checksum")]
    fn ipv6_header_checksum_damage_is_refused() {
        let _ = Frame::eth(A, B)
            .ipv6(a6(), b6())
            .udp(1, 2)
            .bad_ip_checksum()
            .build();
    }

    #[test]
    fn corrupted_checksums_never_verify() {
        for c in [0u16, 0x0100, 0xfeff, 0xffff, 0x1234] {
            let bad = emit::corrupt(c);
            assert_ne!(bad, c);
            assert_ne!(bad, 0);
            assert!(!matches!((bad, c), (0, 0xffff) | (0xffff, 0)));
        }
    }

    #[test]
    fn helpers_parse_and_derive_addresses() {
        assert_eq!(mac("02:00:00:00:00:01"), Mac::local(1));
        assert_eq!(
            mac("02-00-0a-0B-0c-0d"),
            Mac([2, 0, 0x0a, 0x0b, 0x0c, 0x0d])
        );
        assert_eq!(Mac::local(0x0102_0304).to_string(), "02:00:01:02:03:04");
        assert_eq!(format!("{:?}", Mac::BROADCAST), "ff:ff:ff:ff:ff:ff");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:00:00:00:00:01",
            "zz:00:00:00:00:01",
        ] {
            assert_eq!(Mac::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            <[u8; 6]>::from(Mac::from([2, 1, 2, 3, 4, 5])),
            [2, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            solicited_node(ip6("2001:db8::12:3456")),
            ip6("ff02::1:ff12:3456")
        );
        assert_eq!(
            Mac::ipv6_multicast(ip6("ff02::1:ff12:3456")),
            mac("33:33:ff:12:34:56")
        );
        assert_eq!(l3_offset(&[0; 10]), 10);
        assert_eq!(
            format!("{:?}", TcpFlags::SYN | TcpFlags::ACK),
            "TcpFlags(SYN|ACK)"
        );
        assert!((TcpFlags::SYN | TcpFlags::ACK).contains(TcpFlags::ACK));
        assert!(!TcpFlags::SYN.contains(TcpFlags::ACK));
    }

    #[test]
    #[should_panic(expected = "malformed MAC address literal")]
    fn malformed_mac_literal_panics() {
        let _ = mac("02:00:00:00:00");
    }
}
