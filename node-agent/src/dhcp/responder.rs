//! The pure core: from the node's leases and one DHCPv4 request, the reply (or why there is none).
//!
//! Leases are static: the controller's IPAM has already chosen each port's address, so the server
//! never allocates, never holds state of its own and answers the same on every node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, HType, Message, MessageType, Opcode, OptionCode};
use ipnetwork::Ipv4Network;

use crate::network::MacAddr;

/// A network's leases on this node: the MAC of each local port and its address.
pub type Leases = BTreeMap<MacAddr, Ipv4Addr>;

/// What the server hands out on one network besides the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpConfig {
    /// The server's address (option 54, and the source of replies). The network's gateway when
    /// it has one; the server answers ARP for it only through the frames it sends.
    pub server_id: Ipv4Addr,
    /// The network's IPv4 CIDR (subnet mask and broadcast address).
    pub subnet: Ipv4Network,
    /// The default gateway (option 3), if the network has one.
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6); none when empty.
    pub dns: Vec<Ipv4Addr>,
    /// The lease time (option 51); T1 is half of it, T2 seven eighths.
    pub lease_time: Duration,
    /// The interface MTU (option 26): below 1500 when the overlay's encapsulation needs it.
    pub mtu: Option<u16>,
}

/// Where the reply goes at the IP layer. At the Ethernet layer it always goes to the client's
/// MAC (the request's `chaddr`), so it reaches that client only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255: the client has no usable address yet and asked for broadcast, or the
    /// reply is a NAK.
    Broadcast,
    /// The client's address (its `ciaddr` when it has one, else the address offered).
    Unicast(Ipv4Addr),
}

/// A reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// OFFER, ACK or NAK.
    pub kind: MessageType,
    /// The message.
    pub message: Message,
    /// Its IP destination.
    pub to: Destination,
    /// The client's MAC: the Ethernet destination.
    pub client: MacAddr,
}

/// Requests that are handled but need no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReply {
    /// DHCPRELEASE: the lease stays the port's (the controller owns addresses); noted only.
    Released,
    /// DHCPDECLINE: the client found its address in use; noted (an address conflict to log).
    Declined,
}

/// Why a frame got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dropped {
    /// The client's MAC has no lease on this node.
    UnknownMac,
    /// A BOOTREPLY, or a DHCP message a client does not send (OFFER, ACK, NAK...).
    NotARequest,
    /// No message type option, or one this server does not handle.
    NoMessageType,
    /// Not Ethernet (`htype`/`hlen`).
    NotEthernet,
    /// Relayed (`giaddr` set): this server serves its own segment only.
    Relayed,
    /// A REQUEST that selects another server.
    OtherServer,
    /// A REQUEST with neither a requested address nor `ciaddr`.
    Malformed,
}

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this.
    Reply(Box<Reply>),
    /// Handled; nothing to send.
    NoReply(NoReply),
    /// Not answered, and why.
    Dropped(Dropped),
}

/// Answers `request` from `leases` and `config` (RFC 2131 §4.3).
///
/// - DISCOVER: OFFER of the MAC's lease.
/// - REQUEST: ACK when the address it asks for (option 50 when selecting or rebooting, `ciaddr`
///   when renewing or rebinding) is the MAC's lease, NAK otherwise; ignored when it selects
///   another server.
/// - INFORM: ACK with the options and no lease.
/// - RELEASE, DECLINE: noted, no reply.
/// - A MAC without a lease: no reply at all, so that another server (or none) answers.
pub fn respond(config: &DhcpConfig, leases: &Leases, request: &Message) -> Outcome {
    use Outcome::Dropped as Drop;
    if request.opcode() != Opcode::BootRequest {
        return Drop(Dropped::NotARequest);
    }
    if request.htype() != HType::Eth || request.hlen() != 6 {
        return Drop(Dropped::NotEthernet);
    }
    if !request.giaddr().is_unspecified() {
        return Drop(Dropped::Relayed);
    }
    let Some(kind) = request.opts().msg_type() else {
        return Drop(Dropped::NoMessageType);
    };
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&request.chaddr()[..6]);
    let client = MacAddr(mac);
    let Some(&lease) = leases.get(&client) else {
        return Drop(Dropped::UnknownMac);
    };
    let requested = match request.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
        _ => None,
    };
    let server = match request.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    };
    let reply = |kind| Reply {
        kind,
        message: base_reply(config, request, kind),
        to: Destination::Broadcast,
        client,
    };
    match kind {
        MessageType::Discover => Outcome::Reply(Box::new(grant(
            config,
            reply(MessageType::Offer),
            request,
            lease,
        ))),
        MessageType::Request => {
            if server.is_some_and(|s| s != config.server_id) {
                return Drop(Dropped::OtherServer);
            }
            let asked = requested.or_else(|| {
                let ciaddr = request.ciaddr();
                (!ciaddr.is_unspecified()).then_some(ciaddr)
            });
            match asked {
                None => Drop(Dropped::Malformed),
                Some(ip) if ip == lease => Outcome::Reply(Box::new(grant(
                    config,
                    reply(MessageType::Ack),
                    request,
                    lease,
                ))),
                Some(_) => Outcome::Reply(Box::new(reply(MessageType::Nak))),
            }
        }
        MessageType::Inform => {
            let mut ack = reply(MessageType::Ack);
            add_options(config, &mut ack.message);
            let ciaddr = request.ciaddr();
            ack.message.set_ciaddr(ciaddr);
            if !ciaddr.is_unspecified() {
                ack.to = Destination::Unicast(ciaddr);
            }
            Outcome::Reply(Box::new(ack))
        }
        MessageType::Release => Outcome::NoReply(NoReply::Released),
        MessageType::Decline => Outcome::NoReply(NoReply::Declined),
        MessageType::Offer | MessageType::Ack | MessageType::Nak => Drop(Dropped::NotARequest),
        _ => Drop(Dropped::NoMessageType),
    }
}

/// An empty reply to `request`: same transaction, flags and client, our server id.
fn base_reply(config: &DhcpConfig, request: &Message, kind: MessageType) -> Message {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut message = Message::new_with_id(
        request.xid(),
        unspecified,
        unspecified,
        unspecified,
        unspecified,
        &request.chaddr()[..6],
    );
    message.set_opcode(Opcode::BootReply);
    message.set_htype(HType::Eth);
    message.set_flags(request.flags());
    let opts = message.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ServerIdentifier(config.server_id));
    // RFC 6842: a client identifier is echoed.
    if let Some(id @ DhcpOption::ClientIdentifier(_)) =
        request.opts().get(OptionCode::ClientIdentifier)
    {
        opts.insert(id.clone());
    }
    message
}

/// Fills an OFFER or ACK: the address, the lease times and the network's options; decides the
/// destination.
fn grant(config: &DhcpConfig, mut reply: Reply, request: &Message, lease: Ipv4Addr) -> Reply {
    reply.message.set_yiaddr(lease);
    reply.message.set_ciaddr(request.ciaddr());
    let secs = u32::try_from(config.lease_time.as_secs()).unwrap_or(u32::MAX);
    let opts = reply.message.opts_mut();
    opts.insert(DhcpOption::AddressLeaseTime(secs));
    opts.insert(DhcpOption::Renewal(secs / 2));
    opts.insert(DhcpOption::Rebinding((u64::from(secs) * 7 / 8) as u32));
    add_options(config, &mut reply.message);
    let ciaddr = request.ciaddr();
    reply.to = if !ciaddr.is_unspecified() {
        Destination::Unicast(ciaddr)
    } else if request.flags().broadcast() {
        Destination::Broadcast
    } else {
        Destination::Unicast(lease)
    };
    reply
}

fn add_options(config: &DhcpConfig, message: &mut Message) {
    let opts = message.opts_mut();
    opts.insert(DhcpOption::SubnetMask(config.subnet.mask()));
    opts.insert(DhcpOption::BroadcastAddr(config.subnet.broadcast()));
    if let Some(router) = config.router {
        opts.insert(DhcpOption::Router(vec![router]));
    }
    if !config.dns.is_empty() {
        opts.insert(DhcpOption::DomainNameServer(config.dns.clone()));
    }
    if let Some(mtu) = config.mtu {
        opts.insert(DhcpOption::InterfaceMtu(mtu));
    }
}

#[cfg(test)]
#[path = "responder_tests.rs"]
mod tests;
