//! DHCP in Ethernet frames: what the packet socket receives and sends (Ethernet II, IPv4 without
//! options on the way out, UDP 67 -> 68). Pure: bytes in, bytes out.

use std::net::Ipv4Addr;

use dhcproto::v4::Message;
use dhcproto::{Decodable, Encodable};

use super::responder::{Destination, Reply};
use crate::network::MacAddr;

/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;
/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;
const ETH_HEADER: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const UDP: u8 = 17;

/// A DHCP request taken out of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The frame's source MAC.
    pub src: MacAddr,
    /// The DHCP message.
    pub message: Message,
}

/// Why a frame yielded no request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Not IPv4/UDP to port 67 (not for this server; not counted).
    NotDhcp,
    /// Addressed to port 67 but cut, fragmented or undecodable.
    Malformed,
}

/// The ARP reply to a request for `server_ip`, from `server_mac`; `None` for any other frame.
/// The server answers ARP for its own address so that clients can unicast to it (renewals at
/// T1, RELEASE), as a DHCP server on a host would.
pub fn arp_reply(frame: &[u8], server_ip: Ipv4Addr, server_mac: MacAddr) -> Option<Vec<u8>> {
    let arp = frame.get(ETH_HEADER..ETH_HEADER + 28)?;
    let request = frame[12..14] == [0x08, 0x06]
        && arp[..8] == [0, 1, 0x08, 0x00, 6, 4, 0, 1]
        && arp[24..28] == server_ip.octets()
        && arp[14..18] != arp[24..28];
    if !request {
        return None;
    }
    let (sha, spa) = (&arp[8..14], &arp[14..18]);
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(sha);
    f.extend_from_slice(&server_mac.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    f.extend_from_slice(&server_mac.0);
    f.extend_from_slice(&server_ip.octets());
    f.extend_from_slice(sha);
    f.extend_from_slice(spa);
    Some(f)
}

/// Takes the DHCP request out of an Ethernet frame.
pub fn parse(frame: &[u8]) -> Result<Incoming, FrameError> {
    use FrameError::{Malformed, NotDhcp};
    if frame.len() < ETH_HEADER + 20 || frame[12..14] != ETHERTYPE_IPV4 {
        return Err(NotDhcp);
    }
    let ip = &frame[ETH_HEADER..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ip[9] != UDP || ihl < 20 || ip.len() < ihl + 8 {
        return Err(NotDhcp);
    }
    let udp = &ip[ihl..];
    if u16::from_be_bytes([udp[2], udp[3]]) != SERVER_PORT {
        return Err(NotDhcp);
    }
    let fragmented = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if fragmented || total > ip.len() || udp_len < 8 || ihl + udp_len > total {
        return Err(Malformed);
    }
    let message = Message::from_bytes(&udp[8..udp_len]).map_err(|_| Malformed)?;
    let mut src = [0u8; 6];
    src.copy_from_slice(&frame[6..12]);
    Ok(Incoming {
        src: MacAddr(src),
        message,
    })
}

/// The frame carrying `reply` from `server_mac`/`server_ip`: Ethernet to the client's MAC, IP to
/// the reply's destination, UDP 67 -> 68, checksums filled in.
pub fn build(reply: &Reply, server_mac: MacAddr, server_ip: Ipv4Addr) -> Vec<u8> {
    let payload = reply
        .message
        .to_vec()
        .expect("a reply built from plain options always encodes");
    let dst = match reply.to {
        Destination::Broadcast => Ipv4Addr::BROADCAST,
        Destination::Unicast(ip) => ip,
    };
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut f = Vec::with_capacity(ETH_HEADER + total);
    f.extend_from_slice(&reply.client.0);
    f.extend_from_slice(&server_mac.0);
    f.extend_from_slice(&ETHERTYPE_IPV4);
    // IPv4: version 4, IHL 5, DSCP 0, total length, id 0, DF, TTL 64, UDP.
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, UDP, 0, 0]);
    f.extend_from_slice(&server_ip.octets());
    f.extend_from_slice(&dst.octets());
    let sum = checksum(&[&f[ip_start..ip_start + 20]]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
    // UDP.
    let udp_start = f.len();
    f.extend_from_slice(&SERVER_PORT.to_be_bytes());
    f.extend_from_slice(&CLIENT_PORT.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&server_ip.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, UDP]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let sum = match checksum(&[&pseudo, &f[udp_start..]]) {
        0 => 0xffff, // zero means "no checksum" in UDP
        s => s,
    };
    f[udp_start + 6..udp_start + 8].copy_from_slice(&sum.to_be_bytes());
    f
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts` (each of even length but
/// the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use dhcproto::v4::{DhcpOption, Message, MessageType};

    use super::*;

    const CLIENT: MacAddr = MacAddr([0x02, 0, 0xc6, 0x12, 0, 1]);
    const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 1);

    fn reply(to: Destination) -> Reply {
        let u = Ipv4Addr::UNSPECIFIED;
        let mut message =
            Message::new_with_id(7, u, Ipv4Addr::new(198, 18, 20, 10), u, u, &CLIENT.0);
        message
            .opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Offer));
        Reply {
            kind: MessageType::Offer,
            message,
            to,
            client: CLIENT,
        }
    }

    /// Sums a header with its checksum in place: a correct one sums to zero.
    fn verify(parts: &[&[u8]]) {
        assert_eq!(checksum(parts), 0);
    }

    #[test]
    fn a_built_frame_has_correct_headers_and_checksums() {
        let frame = build(
            &reply(Destination::Unicast(Ipv4Addr::new(198, 18, 20, 10))),
            SERVER_MAC,
            SERVER,
        );
        assert_eq!(&frame[0..6], &CLIENT.0);
        assert_eq!(&frame[6..12], &SERVER_MAC.0);
        let ip = &frame[14..34];
        verify(&[ip]);
        assert_eq!(&ip[12..16], &SERVER.octets());
        assert_eq!(&ip[16..20], &[198, 18, 20, 10]);
        assert_eq!(
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            frame.len() - 14
        );
        let udp = &frame[34..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip[12..20]);
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
        verify(&[&pseudo, udp]);
        assert_eq!(&udp[0..4], &[0, 67, 0, 68]);
        let back = Message::from_bytes(&udp[8..]).unwrap();
        assert_eq!(back.xid(), 7);
        assert_eq!(back.yiaddr(), Ipv4Addr::new(198, 18, 20, 10));
    }

    #[test]
    fn broadcast_goes_to_the_clients_mac_and_the_limited_broadcast_address() {
        let frame = build(&reply(Destination::Broadcast), SERVER_MAC, SERVER);
        assert_eq!(&frame[0..6], &CLIENT.0);
        assert_eq!(&frame[30..34], &[255, 255, 255, 255]);
    }

    /// A client's DISCOVER as a frame: broadcast from 0.0.0.0:68 to 255.255.255.255:67.
    fn discover_frame() -> Vec<u8> {
        let u = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(9, u, u, u, u, &CLIENT.0);
        m.opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Discover));
        let payload = m.to_vec().unwrap();
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&CLIENT.0);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
        f.extend_from_slice(&[0, 68, 0, 67]);
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&payload);
        f
    }

    #[test]
    fn arp_for_the_server_address_is_answered_and_nothing_else() {
        let request = |tpa: [u8; 4], op: u8| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&CLIENT.0);
            f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, op]);
            f.extend_from_slice(&CLIENT.0);
            f.extend_from_slice(&[198, 18, 20, 10]);
            f.extend_from_slice(&[0; 6]);
            f.extend_from_slice(&tpa);
            f
        };
        let reply = arp_reply(&request(SERVER.octets(), 1), SERVER, SERVER_MAC).unwrap();
        assert_eq!(&reply[0..6], &CLIENT.0);
        assert_eq!(&reply[6..12], &SERVER_MAC.0);
        assert_eq!(&reply[20..22], &[0, 2], "a reply");
        assert_eq!(&reply[22..28], &SERVER_MAC.0);
        assert_eq!(&reply[28..32], &SERVER.octets());
        assert_eq!(&reply[32..38], &CLIENT.0);
        assert_eq!(&reply[38..42], &[198, 18, 20, 10]);
        assert_eq!(
            arp_reply(&request([198, 18, 20, 11], 1), SERVER, SERVER_MAC),
            None
        );
        assert_eq!(
            arp_reply(&request(SERVER.octets(), 2), SERVER, SERVER_MAC),
            None
        );
        assert_eq!(arp_reply(&discover_frame(), SERVER, SERVER_MAC), None);
        assert_eq!(
            arp_reply(&request(SERVER.octets(), 1)[..30], SERVER, SERVER_MAC),
            None
        );
    }

    #[test]
    fn a_discover_frame_parses() {
        let incoming = parse(&discover_frame()).unwrap();
        assert_eq!(incoming.src, CLIENT);
        assert_eq!(incoming.message.xid(), 9);
        assert_eq!(
            incoming.message.opts().msg_type(),
            Some(MessageType::Discover)
        );
    }

    #[test]
    fn other_frames_are_not_dhcp_and_broken_ones_are_malformed() {
        let good = discover_frame();
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse(&arp), Err(FrameError::NotDhcp));
        let mut to_68 = good.clone();
        to_68[36..38].copy_from_slice(&68u16.to_be_bytes());
        assert_eq!(parse(&to_68), Err(FrameError::NotDhcp));
        let mut tcp = good.clone();
        tcp[23] = 6;
        assert_eq!(parse(&tcp), Err(FrameError::NotDhcp));
        assert_eq!(parse(&good[..60]), Err(FrameError::Malformed), "cut");
        let mut fragment = good.clone();
        fragment[20] = 0x20; // more fragments
        assert_eq!(parse(&fragment), Err(FrameError::Malformed));
        let mut garbage = good.clone();
        garbage.truncate(42 + 20);
        let len = (garbage.len() - 14) as u16;
        garbage[16..18].copy_from_slice(&len.to_be_bytes());
        garbage[38..40].copy_from_slice(&(len - 20).to_be_bytes());
        assert_eq!(
            parse(&garbage),
            Err(FrameError::Malformed),
            "not a DHCP message"
        );
        assert_eq!(parse(&[]), Err(FrameError::NotDhcp));
    }
}
