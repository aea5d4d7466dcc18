//! Turns a [`Spec`] into bytes, innermost layer first so each layer knows the length and the
//! checksum input of what it carries. Headers are written with `pnet_packet`'s mutable packet
//! types and checksummed with its checksum functions; only SCTP, which pnet does not know, is
//! written by hand.

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_packet::MutablePacket;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, MutableEthernetPacket};
use pnet_packet::icmp::{self as picmp, IcmpCode, IcmpPacket, IcmpType, MutableIcmpPacket};
use pnet_packet::icmpv6::{
    self as picmpv6, Icmpv6Code, Icmpv6Packet, Icmpv6Type, MutableIcmpv6Packet, ndp,
};
use pnet_packet::ip::IpNextHeaderProtocol;
use pnet_packet::ipv4::{self as pipv4, MutableIpv4Packet};
use pnet_packet::ipv6::{
    MutableExtensionPacket, MutableFragmentPacket, MutableIpv6Packet, MutableRoutingPacket,
};
use pnet_packet::tcp::{self as ptcp, MutableTcpPacket};
use pnet_packet::udp::{self as pudp, MutableUdpPacket};
use pnet_packet::vlan::{ClassOfService, MutableVlanPacket};

use super::{
    ArpSpec, Checksum, Ext, IcmpMsg, Icmpv6Msg, L3, L4, Spec, TcpSpec, V4Spec, V6Spec, ethertype,
    ip_proto,
};

/// The addresses of a transport pseudo-header.
enum Pseudo {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

/// The whole Ethernet frame, damage applied.
pub(super) fn frame(spec: &Spec) -> Vec<u8> {
    let network = network(spec);
    let inner_type = spec.ethertype.unwrap_or(match spec.l3 {
        L3::None => ethertype::LOCAL_EXPERIMENTAL,
        L3::Arp(_) => ethertype::ARP,
        L3::V4(_) => ethertype::IPV4,
        L3::V6(_) => ethertype::IPV6,
    });
    let l2_len = l2_len(spec);
    let mut out = vec![0u8; l2_len];
    let mut eth = MutableEthernetPacket::new(&mut out).expect("room for an Ethernet header");
    eth.set_destination(spec.dst.0.into());
    eth.set_source(spec.src.0.into());
    eth.set_ethertype(EtherType::new(
        spec.tags.first().map_or(inner_type, |t| t.0),
    ));
    for (i, &(_, pcp, vid)) in spec.tags.iter().enumerate() {
        let next = spec.tags.get(i + 1).map_or(inner_type, |t| t.0);
        let mut tag = MutableVlanPacket::new(&mut out[14 + 4 * i..]).expect("room for a VLAN tag");
        tag.set_priority_code_point(ClassOfService::new(pcp));
        tag.set_drop_eligible_indicator(0);
        tag.set_vlan_identifier(vid);
        tag.set_ethertype(EtherType::new(next));
    }
    out.extend_from_slice(&network);
    if let Some(len) = spec.damage.pad_to {
        out.resize(out.len().max(len), 0);
    }
    if let Some(len) = spec.damage.truncate_to {
        out.truncate(len);
    }
    out
}

/// The length of the Ethernet header and VLAN tags.
pub(super) fn l2_len(spec: &Spec) -> usize {
    14 + 4 * spec.tags.len()
}

fn network(spec: &Spec) -> Vec<u8> {
    match &spec.l3 {
        L3::None => spec.payload.clone(),
        L3::Arp(arp) => arp_packet(arp, &spec.payload),
        L3::V4(v4) => ipv4_packet(spec, v4),
        L3::V6(v6) => ipv6_packet(spec, v6),
    }
}

fn arp_packet(a: &ArpSpec, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; MutableArpPacket::minimum_packet_size()];
    let mut arp = MutableArpPacket::new(&mut out).expect("room for ARP");
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherType::new(ethertype::IPV4));
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperation::new(a.op));
    arp.set_sender_hw_addr(a.sha.0.into());
    arp.set_sender_proto_addr(a.spa);
    arp.set_target_hw_addr(a.tha.0.into());
    arp.set_target_proto_addr(a.tpa);
    out.extend_from_slice(payload);
    out
}

fn ipv4_packet(spec: &Spec, v4: &V4Spec) -> Vec<u8> {
    let (proto, l4) = transport(spec, &Pseudo::V4(v4.src, v4.dst), 0);
    let header_len = 20 + v4.options.len().div_ceil(4) * 4;
    let mut out = vec![0u8; header_len];
    out.extend_from_slice(&l4);
    let total = u16::try_from(out.len()).expect("an IPv4 packet is at most 65535 bytes");
    let mut ip = MutableIpv4Packet::new(&mut out).expect("room for IPv4");
    ip.set_version(4);
    ip.set_header_length((header_len / 4) as u8);
    ip.set_dscp(v4.dscp);
    ip.set_ecn(v4.ecn);
    ip.set_total_length(spec.damage.ip_len.unwrap_or(total));
    ip.set_identification(v4.id);
    let flags = if v4.dont_fragment {
        pipv4::Ipv4Flags::DontFragment
    } else {
        0
    } | if v4.more_fragments {
        pipv4::Ipv4Flags::MoreFragments
    } else {
        0
    };
    ip.set_flags(flags);
    ip.set_fragment_offset(v4.frag_offset);
    ip.set_ttl(v4.ttl);
    ip.set_next_level_protocol(IpNextHeaderProtocol::new(v4.protocol.unwrap_or(proto)));
    ip.set_source(v4.src);
    ip.set_destination(v4.dst);
    ip.get_options_raw_mut()[..v4.options.len()].copy_from_slice(&v4.options);
    if let Some(ihl) = v4.ihl {
        ip.set_header_length(ihl);
    }
    let checksum = pipv4::checksum(&ip.to_immutable());
    ip.set_checksum(apply(spec.damage.ip_checksum, checksum));
    out
}

fn ipv6_packet(spec: &Spec, v6: &V6Spec) -> Vec<u8> {
    assert!(
        spec.damage.ip_checksum == Checksum::Correct,
        "IPv6 has no header checksum; damage the transport checksum with .bad_checksum() instead"
    );
    let final_dst = v6
        .exts
        .iter()
        .rev()
        .find_map(|e| match e {
            Ext::Routing { final_dst, .. } => *final_dst,
            _ => None,
        })
        .unwrap_or(v6.dst);
    // An ICMPv6 error quotes as much of the invoking packet as fits in the minimum MTU.
    let ext_len: usize = v6.exts.iter().map(|e| ext_bytes(e, 0).len()).sum();
    let quote_room = MIN_MTU_V6.saturating_sub(40 + ext_len + 8);
    let (proto, l4) = transport(spec, &Pseudo::V6(v6.src, final_dst), quote_room);
    let last = v6.protocol.unwrap_or(proto);
    let codes: Vec<u8> = v6.exts.iter().map(ext_code).collect();
    let mut exts = Vec::new();
    for (i, ext) in v6.exts.iter().enumerate() {
        exts.extend(ext_bytes(ext, codes.get(i + 1).copied().unwrap_or(last)));
    }
    let payload_len =
        u16::try_from(exts.len() + l4.len()).expect("an IPv6 payload is at most 65535 bytes");
    let hop_limit = v6.hop_limit.unwrap_or(match &spec.l4 {
        L4::Icmpv6 {
            msg:
                Icmpv6Msg::NeighborSolicit { .. }
                | Icmpv6Msg::NeighborAdvert { .. }
                | Icmpv6Msg::RouterSolicit
                | Icmpv6Msg::RouterAdvert { .. },
            ..
        } => 255,
        _ => 64,
    });
    let mut out = vec![0u8; 40];
    let mut ip = MutableIpv6Packet::new(&mut out).expect("room for IPv6");
    ip.set_version(6);
    ip.set_traffic_class(v6.traffic_class);
    ip.set_flow_label(v6.flow_label);
    ip.set_payload_length(spec.damage.ip_len.unwrap_or(payload_len));
    ip.set_next_header(IpNextHeaderProtocol::new(
        codes.first().copied().unwrap_or(last),
    ));
    ip.set_hop_limit(hop_limit);
    ip.set_source(v6.src);
    ip.set_destination(v6.dst);
    out.extend(exts);
    out.extend(l4);
    out
}

fn ext_code(ext: &Ext) -> u8 {
    match ext {
        Ext::Options { code, .. } | Ext::Generic { code, .. } => *code,
        Ext::Routing { .. } => ip_proto::ROUTING,
        Ext::Fragment { .. } => ip_proto::FRAGMENT,
    }
}

/// One extension header pointing at `next`, padded to a multiple of 8 bytes.
fn ext_bytes(ext: &Ext, next: u8) -> Vec<u8> {
    let next = IpNextHeaderProtocol::new(next);
    match ext {
        Ext::Options { options, .. } => {
            let mut body = options.clone();
            match (8 - (2 + body.len()) % 8) % 8 {
                0 => {}
                1 => body.push(0), // Pad1
                n => body.extend([&[1, (n - 2) as u8][..], &vec![0; n - 2]].concat()), // PadN
            }
            generic_ext(next, &body)
        }
        Ext::Generic { body, .. } => {
            let mut body = body.clone();
            body.resize(body.len() + (8 - (2 + body.len()) % 8) % 8, 0);
            generic_ext(next, &body)
        }
        Ext::Routing {
            routing_type,
            segments_left,
            data,
            ..
        } => {
            let data_len = data.len() + (8 - (4 + data.len()) % 8) % 8;
            let mut out = vec![0u8; 4 + data_len];
            let mut rh = MutableRoutingPacket::new(&mut out).expect("room for a routing header");
            rh.set_next_header(next);
            rh.set_hdr_ext_len(ext_len_units(4 + data_len));
            rh.set_routing_type(*routing_type);
            rh.set_segments_left(*segments_left);
            rh.set_data(data);
            out
        }
        Ext::Fragment { offset, more, id } => {
            let mut out = vec![0u8; 8];
            let mut fh = MutableFragmentPacket::new(&mut out).expect("room for a fragment header");
            fh.set_next_header(next);
            fh.set_reserved(0);
            fh.set_fragment_offset_with_flags(offset << 3 | u16::from(*more));
            fh.set_id(*id);
            out
        }
    }
}

fn generic_ext(next: IpNextHeaderProtocol, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2 + body.len()];
    let mut ext = MutableExtensionPacket::new(&mut out).expect("room for an extension header");
    ext.set_next_header(next);
    ext.set_hdr_ext_len(ext_len_units(2 + body.len()));
    ext.set_options(body);
    out
}

/// The Hdr Ext Len of an extension header of `len` bytes: 8-octet units beyond the first.
fn ext_len_units(len: usize) -> u8 {
    u8::try_from(len / 8 - 1).expect("an extension header is at most 2048 bytes")
}

/// The IPv6 minimum link MTU, the size an ICMPv6 error must fit (RFC 4443 2.4 c).
const MIN_MTU_V6: usize = 1280;

/// The transport bytes (payload included, checksum set) and the protocol number they carry;
/// `quote_room` bounds the invoking packet an ICMPv6 error quotes.
fn transport(spec: &Spec, pseudo: &Pseudo, quote_room: usize) -> (u8, Vec<u8>) {
    let payload = &spec.payload;
    let damage = spec.damage.l4_checksum;
    match &spec.l4 {
        L4::None => match pseudo {
            Pseudo::V4(..) => (ip_proto::RESERVED, payload.clone()),
            Pseudo::V6(..) => (ip_proto::NO_NEXT, payload.clone()),
        },
        L4::Raw { proto } => (*proto, payload.clone()),
        L4::Tcp(tcp) => (ip_proto::TCP, tcp_segment(tcp, payload, pseudo, damage)),
        L4::Udp {
            sport,
            dport,
            len,
            no_checksum,
        } => {
            let mut out = vec![0u8; 8 + payload.len()];
            let total = u16::try_from(out.len()).expect("a UDP datagram is at most 65535 bytes");
            let mut udp = MutableUdpPacket::new(&mut out).expect("room for UDP");
            udp.set_source(*sport);
            udp.set_destination(*dport);
            udp.set_payload(payload);
            udp.set_length(len.unwrap_or(total));
            let checksum = match (*no_checksum, pseudo) {
                (true, _) => 0,
                (false, Pseudo::V4(s, d)) => pudp::ipv4_checksum(&udp.to_immutable(), s, d),
                (false, Pseudo::V6(s, d)) => pudp::ipv6_checksum(&udp.to_immutable(), s, d),
            };
            // RFC 768: a computed zero is sent as all ones, zero meaning "no checksum".
            let checksum = if checksum == 0 && !no_checksum {
                0xffff
            } else {
                checksum
            };
            udp.set_checksum(apply(damage, checksum));
            (ip_proto::UDP, out)
        }
        L4::Sctp { sport, dport, vtag } => {
            let mut out = Vec::with_capacity(12 + payload.len());
            out.extend(sport.to_be_bytes());
            out.extend(dport.to_be_bytes());
            out.extend(vtag.to_be_bytes());
            out.extend([0; 4]);
            out.extend_from_slice(payload);
            let crc = crc32c(&out);
            let crc = match damage {
                Checksum::Correct => crc,
                Checksum::Bad => crc ^ 1,
                Checksum::Exact(v) => crc & 0xffff_0000 | u32::from(v),
            };
            // Stored little-endian, as Linux's sctp_compute_cksum and RFC 9260 appendix A do.
            out[8..12].copy_from_slice(&crc.to_le_bytes());
            (ip_proto::SCTP, out)
        }
        L4::Icmp(msg) => (ip_proto::ICMP, icmp_message(msg, payload, damage)),
        L4::Icmpv6 { msg, options } => {
            let Pseudo::V6(src, dst) = pseudo else {
                unreachable!("ICMPv6 is only offered on the Ipv6 stage")
            };
            (
                ip_proto::ICMPV6,
                icmpv6_message(msg, options, payload, (*src, *dst), quote_room, damage),
            )
        }
    }
}

fn tcp_segment(t: &TcpSpec, payload: &[u8], pseudo: &Pseudo, damage: Checksum) -> Vec<u8> {
    let header_len = 20 + t.options.len().div_ceil(4) * 4;
    let mut out = vec![0u8; header_len + payload.len()];
    let mut tcp = MutableTcpPacket::new(&mut out).expect("room for TCP");
    tcp.set_source(t.sport);
    tcp.set_destination(t.dport);
    tcp.set_sequence(t.seq);
    tcp.set_acknowledgement(t.ack);
    tcp.set_data_offset((header_len / 4) as u8);
    tcp.set_flags(t.flags.0);
    tcp.set_window(t.window);
    tcp.set_urgent_ptr(t.urgent);
    tcp.get_options_raw_mut()[..t.options.len()].copy_from_slice(&t.options);
    tcp.set_payload(payload);
    if let Some(words) = t.data_offset {
        tcp.set_data_offset(words);
    }
    let checksum = match pseudo {
        Pseudo::V4(s, d) => ptcp::ipv4_checksum(&tcp.to_immutable(), s, d),
        Pseudo::V6(s, d) => ptcp::ipv6_checksum(&tcp.to_immutable(), s, d),
    };
    tcp.set_checksum(apply(damage, checksum));
    out
}

fn icmp_message(msg: &IcmpMsg, payload: &[u8], damage: Checksum) -> Vec<u8> {
    let body: &[u8] = match msg {
        IcmpMsg::DestUnreach { inner, .. } | IcmpMsg::TimeExceeded { inner, .. } => inner,
        IcmpMsg::Echo { .. } | IcmpMsg::Other { .. } => &[],
    };
    let mut out = vec![0u8; 8];
    out.extend_from_slice(body);
    out.extend_from_slice(payload);
    match *msg {
        IcmpMsg::Echo {
            reply: false,
            id,
            seq,
        } => {
            let mut p = picmp::echo_request::MutableEchoRequestPacket::new(&mut out)
                .expect("room for ICMP");
            p.set_icmp_type(picmp::IcmpTypes::EchoRequest);
            p.set_icmp_code(IcmpCode::new(0));
            p.set_identifier(id);
            p.set_sequence_number(seq);
        }
        IcmpMsg::Echo {
            reply: true,
            id,
            seq,
        } => {
            let mut p =
                picmp::echo_reply::MutableEchoReplyPacket::new(&mut out).expect("room for ICMP");
            p.set_icmp_type(picmp::IcmpTypes::EchoReply);
            p.set_icmp_code(IcmpCode::new(0));
            p.set_identifier(id);
            p.set_sequence_number(seq);
        }
        IcmpMsg::DestUnreach { code, mtu, .. } => {
            let mut p =
                picmp::destination_unreachable::MutableDestinationUnreachablePacket::new(&mut out)
                    .expect("room for ICMP");
            p.set_icmp_type(picmp::IcmpTypes::DestinationUnreachable);
            p.set_icmp_code(IcmpCode::new(code));
            p.set_unused(0);
            p.set_next_hop_mtu(mtu);
        }
        IcmpMsg::TimeExceeded { code, .. } => {
            let mut p = picmp::time_exceeded::MutableTimeExceededPacket::new(&mut out)
                .expect("room for ICMP");
            p.set_icmp_type(picmp::IcmpTypes::TimeExceeded);
            p.set_icmp_code(IcmpCode::new(code));
            p.set_unused(0);
        }
        IcmpMsg::Other { ty, code, rest } => {
            let mut p = MutableIcmpPacket::new(&mut out).expect("room for ICMP");
            p.set_icmp_type(IcmpType::new(ty));
            p.set_icmp_code(IcmpCode::new(code));
            p.payload_mut()[..4].copy_from_slice(&rest.to_be_bytes());
        }
    }
    let checksum = picmp::checksum(&IcmpPacket::new(&out).expect("room for ICMP"));
    MutableIcmpPacket::new(&mut out)
        .expect("room for ICMP")
        .set_checksum(apply(damage, checksum));
    out
}

fn icmpv6_message(
    msg: &Icmpv6Msg,
    options: &[(u8, Vec<u8>)],
    payload: &[u8],
    (src, dst): (Ipv6Addr, Ipv6Addr),
    quote_room: usize,
    damage: Checksum,
) -> Vec<u8> {
    let quote = match msg {
        Icmpv6Msg::Error { inner, .. } => &inner[..inner.len().min(quote_room)],
        _ => &[],
    };
    let fixed = match msg {
        Icmpv6Msg::NeighborSolicit { .. } | Icmpv6Msg::NeighborAdvert { .. } => 24,
        Icmpv6Msg::RouterAdvert { .. } => 16,
        Icmpv6Msg::Error { .. } => 8 + quote.len(),
        Icmpv6Msg::Echo { .. } | Icmpv6Msg::RouterSolicit | Icmpv6Msg::Other { .. } => 8,
    };
    let mut out = vec![0u8; fixed];
    for (ty, data) in options {
        let len = (2 + data.len()).div_ceil(8) * 8;
        let mut opt = vec![0u8; len];
        let mut p = ndp::MutableNdpOptionPacket::new(&mut opt).expect("room for an NDP option");
        p.set_option_type(ndp::NdpOptionType::new(*ty));
        p.set_length(u8::try_from(len / 8).expect("an NDP option is at most 2040 bytes"));
        p.set_data(data);
        out.extend(opt);
    }
    out.extend_from_slice(payload);
    let head = &mut out[..fixed];
    match msg {
        Icmpv6Msg::Echo {
            reply: false,
            id,
            seq,
        } => {
            let mut p = picmpv6::echo_request::MutableEchoRequestPacket::new(head)
                .expect("room for ICMPv6");
            p.set_icmpv6_type(picmpv6::Icmpv6Types::EchoRequest);
            p.set_icmpv6_code(Icmpv6Code::new(0));
            p.set_identifier(*id);
            p.set_sequence_number(*seq);
        }
        Icmpv6Msg::Echo {
            reply: true,
            id,
            seq,
        } => {
            let mut p =
                picmpv6::echo_reply::MutableEchoReplyPacket::new(head).expect("room for ICMPv6");
            p.set_icmpv6_type(picmpv6::Icmpv6Types::EchoReply);
            p.set_icmpv6_code(Icmpv6Code::new(0));
            p.set_identifier(*id);
            p.set_sequence_number(*seq);
        }
        Icmpv6Msg::NeighborSolicit { target } => {
            let mut p = ndp::MutableNeighborSolicitPacket::new(head).expect("room for NS");
            p.set_icmpv6_type(picmpv6::Icmpv6Types::NeighborSolicit);
            p.set_icmpv6_code(Icmpv6Code::new(0));
            p.set_reserved(0);
            p.set_target_addr(*target);
        }
        Icmpv6Msg::NeighborAdvert { flags, target } => {
            let mut p = ndp::MutableNeighborAdvertPacket::new(head).expect("room for NA");
            p.set_icmpv6_type(picmpv6::Icmpv6Types::NeighborAdvert);
            p.set_icmpv6_code(Icmpv6Code::new(0));
            p.set_flags(*flags);
            p.set_reserved(0);
            p.set_target_addr(*target);
        }
        Icmpv6Msg::RouterSolicit => {
            let mut p = ndp::MutableRouterSolicitPacket::new(head).expect("room for RS");
            p.set_icmpv6_type(picmpv6::Icmpv6Types::RouterSolicit);
            p.set_icmpv6_code(Icmpv6Code::new(0));
            p.set_reserved(0);
        }
        Icmpv6Msg::RouterAdvert {
            hop_limit,
            flags,
            lifetime,
            reachable,
            retrans,
        } => {
            let mut p = ndp::MutableRouterAdvertPacket::new(head).expect("room for RA");
            p.set_icmpv6_type(picmpv6::Icmpv6Types::RouterAdvert);
            p.set_icmpv6_code(Icmpv6Code::new(0));
            p.set_hop_limit(*hop_limit);
            p.set_flags(*flags);
            p.set_lifetime(*lifetime);
            p.set_reachable_time(*reachable);
            p.set_retrans_time(*retrans);
        }
        Icmpv6Msg::Error {
            ty, code, param, ..
        } => {
            let mut p = MutableIcmpv6Packet::new(head).expect("room for ICMPv6");
            p.set_icmpv6_type(Icmpv6Type::new(*ty));
            p.set_icmpv6_code(Icmpv6Code::new(*code));
            p.payload_mut()[..4].copy_from_slice(&param.to_be_bytes());
            p.payload_mut()[4..].copy_from_slice(quote);
        }
        Icmpv6Msg::Other { ty, code, rest } => {
            let mut p = MutableIcmpv6Packet::new(head).expect("room for ICMPv6");
            p.set_icmpv6_type(Icmpv6Type::new(*ty));
            p.set_icmpv6_code(Icmpv6Code::new(*code));
            p.payload_mut()[..4].copy_from_slice(&rest.to_be_bytes());
        }
    }
    let checksum = picmpv6::checksum(
        &Icmpv6Packet::new(&out).expect("room for ICMPv6"),
        &src,
        &dst,
    );
    MutableIcmpv6Packet::new(&mut out)
        .expect("room for ICMPv6")
        .set_checksum(apply(damage, checksum));
    out
}

/// The checksum to write: the correct one, or the damage asked for.
fn apply(damage: Checksum, correct: u16) -> u16 {
    match damage {
        Checksum::Correct => correct,
        Checksum::Bad => corrupt(correct),
        Checksum::Exact(value) => value,
    }
}

/// A checksum that does not verify: never the one's-complement twin of `correct` (0 and 0xffff
/// are the same sum), and never 0, which UDP reads as "no checksum".
pub(super) fn corrupt(correct: u16) -> u16 {
    match correct ^ 0x0100 {
        0 => 0x0200,
        bad => bad,
    }
}

/// CRC-32C (Castagnoli), as SCTP uses it: reflected, initial value and final XOR all ones.
pub(super) fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                crc >> 1 ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
