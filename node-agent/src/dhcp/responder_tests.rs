//! Responder tests: one row per request kind and client state.

use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};

use super::*;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 1);
const LEASE: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 10);
const OTHER: Ipv4Addr = Ipv4Addr::new(198, 18, 20, 11);
const KNOWN: MacAddr = MacAddr([0x02, 0, 0xc6, 0x12, 0, 1]);
const STRANGER: MacAddr = MacAddr([0x02, 0, 0xc6, 0x12, 0, 9]);

fn config() -> DhcpConfig {
    DhcpConfig {
        server_id: SERVER,
        subnet: "198.18.20.0/24".parse().unwrap(),
        router: Some(SERVER),
        dns: vec![Ipv4Addr::new(198, 18, 20, 2)],
        lease_time: Duration::from_secs(3600),
        mtu: Some(1450),
    }
}

fn leases() -> Leases {
    [(KNOWN, LEASE)].into()
}

/// A client's request: `kind` from `mac`, with `ciaddr` and options.
fn request(kind: MessageType, mac: MacAddr, ciaddr: Ipv4Addr, opts: &[DhcpOption]) -> Message {
    let u = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(0x1234_5678, ciaddr, u, u, u, &mac.0);
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in opts {
        m.opts_mut().insert(o.clone());
    }
    m
}

fn reply(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Reply(r) => *r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn answer(req: &Message) -> Outcome {
    respond(&config(), &leases(), req)
}

fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

#[test]
fn discover_gets_an_offer_of_the_lease_with_every_option() {
    let u = Ipv4Addr::UNSPECIFIED;
    let req = request(
        MessageType::Discover,
        KNOWN,
        u,
        &[DhcpOption::ClientIdentifier(vec![
            1, 2, 0, 0xc6, 0x12, 0, 1,
        ])],
    );
    let r = reply(answer(&req));
    assert_eq!(r.kind, MessageType::Offer);
    assert_eq!(r.client, KNOWN);
    assert_eq!(
        r.to,
        Destination::Unicast(LEASE),
        "no broadcast flag: unicast to the offer"
    );
    let m = &r.message;
    assert_eq!(m.opcode(), Opcode::BootReply);
    assert_eq!(m.htype(), HType::Eth);
    assert_eq!(m.xid(), 0x1234_5678);
    assert_eq!(m.yiaddr(), LEASE);
    assert_eq!(&m.chaddr()[..6], &KNOWN.0);
    assert_eq!(m.opts().msg_type(), Some(MessageType::Offer));
    let expected = [
        DhcpOption::ServerIdentifier(SERVER),
        DhcpOption::AddressLeaseTime(3600),
        DhcpOption::Renewal(1800),
        DhcpOption::Rebinding(3150),
        DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
        DhcpOption::BroadcastAddr(Ipv4Addr::new(198, 18, 20, 255)),
        DhcpOption::Router(vec![SERVER]),
        DhcpOption::DomainNameServer(vec![Ipv4Addr::new(198, 18, 20, 2)]),
        DhcpOption::InterfaceMtu(1450),
        DhcpOption::ClientIdentifier(vec![1, 2, 0, 0xc6, 0x12, 0, 1]),
    ];
    for o in expected {
        assert_eq!(opt(m, OptionCode::from(&o)), Some(&o));
    }
}

#[test]
fn the_broadcast_flag_makes_the_reply_broadcast() {
    let mut req = request(MessageType::Discover, KNOWN, Ipv4Addr::UNSPECIFIED, &[]);
    req.set_flags(Flags::default().set_broadcast());
    let r = reply(answer(&req));
    assert_eq!(r.to, Destination::Broadcast);
    assert!(r.message.flags().broadcast());
}

#[test]
fn request_selecting_this_server_for_the_lease_is_acked() {
    let u = Ipv4Addr::UNSPECIFIED;
    let req = request(
        MessageType::Request,
        KNOWN,
        u,
        &[
            DhcpOption::ServerIdentifier(SERVER),
            DhcpOption::RequestedIpAddress(LEASE),
        ],
    );
    let r = reply(answer(&req));
    assert_eq!(r.kind, MessageType::Ack);
    assert_eq!(r.message.yiaddr(), LEASE);
    assert_eq!(
        opt(&r.message, OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(3600))
    );
}

#[test]
fn request_for_another_address_is_nakked_by_broadcast() {
    let u = Ipv4Addr::UNSPECIFIED;
    for opts in [
        vec![
            DhcpOption::ServerIdentifier(SERVER),
            DhcpOption::RequestedIpAddress(OTHER),
        ],
        vec![DhcpOption::RequestedIpAddress(OTHER)], // INIT-REBOOT with a stale address
    ] {
        let r = reply(answer(&request(MessageType::Request, KNOWN, u, &opts)));
        assert_eq!(r.kind, MessageType::Nak);
        assert_eq!(r.to, Destination::Broadcast);
        assert_eq!(r.message.yiaddr(), u);
        assert_eq!(opt(&r.message, OptionCode::AddressLeaseTime), None);
        assert_eq!(
            opt(&r.message, OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(SERVER))
        );
    }
}

#[test]
fn renewal_by_ciaddr_is_acked_by_unicast_or_nakked() {
    let r = reply(answer(&request(MessageType::Request, KNOWN, LEASE, &[])));
    assert_eq!(r.kind, MessageType::Ack);
    assert_eq!(r.to, Destination::Unicast(LEASE));
    assert_eq!(r.message.ciaddr(), LEASE);
    let r = reply(answer(&request(MessageType::Request, KNOWN, OTHER, &[])));
    assert_eq!(r.kind, MessageType::Nak);
}

#[test]
fn init_reboot_with_the_lease_is_acked() {
    let u = Ipv4Addr::UNSPECIFIED;
    let req = request(
        MessageType::Request,
        KNOWN,
        u,
        &[DhcpOption::RequestedIpAddress(LEASE)],
    );
    assert_eq!(reply(answer(&req)).kind, MessageType::Ack);
}

#[test]
fn request_selecting_another_server_is_ignored() {
    let u = Ipv4Addr::UNSPECIFIED;
    let req = request(
        MessageType::Request,
        KNOWN,
        u,
        &[
            DhcpOption::ServerIdentifier(Ipv4Addr::new(198, 18, 20, 99)),
            DhcpOption::RequestedIpAddress(LEASE),
        ],
    );
    assert_eq!(answer(&req), Outcome::Dropped(Dropped::OtherServer));
}

#[test]
fn inform_gets_options_without_a_lease() {
    let r = reply(answer(&request(MessageType::Inform, KNOWN, LEASE, &[])));
    assert_eq!(r.kind, MessageType::Ack);
    assert_eq!(r.to, Destination::Unicast(LEASE));
    assert_eq!(r.message.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(opt(&r.message, OptionCode::AddressLeaseTime), None);
    assert!(opt(&r.message, OptionCode::SubnetMask).is_some());
    assert!(opt(&r.message, OptionCode::Router).is_some());
}

#[test]
fn release_and_decline_need_no_reply() {
    let req = request(
        MessageType::Release,
        KNOWN,
        LEASE,
        &[DhcpOption::ServerIdentifier(SERVER)],
    );
    assert_eq!(answer(&req), Outcome::NoReply(NoReply::Released));
    let u = Ipv4Addr::UNSPECIFIED;
    let req = request(
        MessageType::Decline,
        KNOWN,
        u,
        &[DhcpOption::RequestedIpAddress(LEASE)],
    );
    assert_eq!(answer(&req), Outcome::NoReply(NoReply::Declined));
}

#[test]
fn what_is_not_answered_says_why() {
    let u = Ipv4Addr::UNSPECIFIED;
    let cases: Vec<(&str, Message, Dropped)> = vec![
        (
            "unknown mac",
            request(MessageType::Discover, STRANGER, u, &[]),
            Dropped::UnknownMac,
        ),
        (
            "unknown mac request",
            request(
                MessageType::Request,
                STRANGER,
                u,
                &[DhcpOption::RequestedIpAddress(LEASE)],
            ),
            Dropped::UnknownMac,
        ),
        (
            "offer from a client",
            request(MessageType::Offer, KNOWN, u, &[]),
            Dropped::NotARequest,
        ),
        (
            "request without address",
            request(MessageType::Request, KNOWN, u, &[]),
            Dropped::Malformed,
        ),
        (
            "boot reply",
            {
                let mut m = request(MessageType::Discover, KNOWN, u, &[]);
                m.set_opcode(Opcode::BootReply);
                m
            },
            Dropped::NotARequest,
        ),
        (
            "relayed",
            {
                let mut m = request(MessageType::Discover, KNOWN, u, &[]);
                m.set_giaddr(Ipv4Addr::new(198, 18, 30, 1));
                m
            },
            Dropped::Relayed,
        ),
        (
            "no message type",
            {
                let mut m = request(MessageType::Discover, KNOWN, u, &[]);
                m.opts_mut().remove(OptionCode::MessageType);
                m
            },
            Dropped::NoMessageType,
        ),
        (
            "not ethernet",
            {
                let mut m = request(MessageType::Discover, KNOWN, u, &[]);
                m.set_htype(HType::ExperimentalEth);
                m
            },
            Dropped::NotEthernet,
        ),
    ];
    for (name, req, why) in cases {
        assert_eq!(answer(&req), Outcome::Dropped(why), "{name}");
    }
}

#[test]
fn a_network_without_router_dns_or_mtu_sends_none() {
    let mut config = config();
    config.router = None;
    config.dns.clear();
    config.mtu = None;
    let req = request(MessageType::Discover, KNOWN, Ipv4Addr::UNSPECIFIED, &[]);
    let r = reply(respond(&config, &leases(), &req));
    for code in [
        OptionCode::Router,
        OptionCode::DomainNameServer,
        OptionCode::InterfaceMtu,
    ] {
        assert_eq!(opt(&r.message, code), None, "{code:?}");
    }
}
