//! The server: a packet socket on a network's bridge inside the node's namespace, and a thread
//! that answers through [`respond`].
//!
//! **Why a packet socket** (`AF_PACKET`, `SOCK_RAW`, bound to the bridge) and not a UDP socket
//! with `SO_BINDTODEVICE`: the bridge has no IP address, and must not get one (two networks may
//! use the same range, and the node must not become reachable from tenants). A UDP socket there
//! would send from whatever address the kernel picks (the underlay's), could not send from the
//! network's server address without `IP_TRANSPARENT`, and would reach a client without an
//! address only by broadcast, which floods every port and every node of the network. With a
//! packet socket the server writes the whole frame: source = the network's server address and
//! the bridge's MAC, Ethernet destination = the client's MAC, so the bridge delivers the reply to
//! that client's port only.
//!
//! The server also answers ARP requests for the network's server address (from the bridge's
//! MAC), so that clients can reach it by unicast: renewals at T1 and RELEASE go there.
//!
//! **Each node serves its own ports only**: DHCP requests and ARP requests are answered only for
//! MACs with a lease on this node. A client's broadcasts also cross the overlay to the other
//! nodes of its network (the bridge cannot tell their server which port a frame came in on:
//! a frame passed up by a bridge carries the bridge as its device, `PACKET_ORIGDEV` included);
//! those nodes hold no lease for it and stay silent, so exactly one server answers.
//!
//! The bridge device receives only what it floods (broadcast, multicast, unknown unicast) and
//! what is addressed to its MAC, so the socket (bound to every protocol) sees little beyond
//! DHCP and ARP; everything else is skipped in user space.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use dhcproto::v4::MessageType;

use super::error::{DhcpError, Result};
use super::frame::{self, FrameError};
use super::responder::{DhcpConfig, Dropped, Leases, NoReply, Outcome, respond};
use crate::network::MacAddr;

/// How often the serving thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(200);

/// What the server did, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhcpStats {
    /// OFFERs sent.
    pub offers: u64,
    /// ACKs sent (leases and INFORM answers).
    pub acks: u64,
    /// NAKs sent.
    pub naks: u64,
    /// RELEASEs received.
    pub released: u64,
    /// DECLINEs received (address conflicts reported by clients).
    pub declined: u64,
    /// Requests from a MAC without a lease on this node (a port without lease, or another
    /// node's port whose broadcast crossed the overlay): not answered.
    pub unknown_mac: u64,
    /// Requests whose Ethernet source differs from their `chaddr`: not answered.
    pub spoofed: u64,
    /// Frames to port 67 that did not decode, and requests the responder refused
    /// ([`Dropped`] other than an unknown MAC).
    pub malformed: u64,
    /// ARP requests for the server address answered.
    pub arp_replies: u64,
    /// Replies the socket refused to send.
    pub send_errors: u64,
}

#[derive(Default)]
struct Counters {
    offers: AtomicU64,
    acks: AtomicU64,
    naks: AtomicU64,
    released: AtomicU64,
    declined: AtomicU64,
    unknown_mac: AtomicU64,
    spoofed: AtomicU64,
    malformed: AtomicU64,
    arp_replies: AtomicU64,
    send_errors: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DhcpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DhcpStats {
            offers: get(&self.offers),
            acks: get(&self.acks),
            naks: get(&self.naks),
            released: get(&self.released),
            declined: get(&self.declined),
            unknown_mac: get(&self.unknown_mac),
            spoofed: get(&self.spoofed),
            malformed: get(&self.malformed),
            arp_replies: get(&self.arp_replies),
            send_errors: get(&self.send_errors),
        }
    }
}

struct Shared {
    stop: AtomicBool,
    table: RwLock<(DhcpConfig, Leases)>,
    counters: Counters,
}

/// A running DHCPv4 server for one network on one node. Stops when dropped.
pub struct DhcpServer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl DhcpServer {
    /// Opens the packet socket on `bridge` inside the namespace `netns` and serves `leases`
    /// with `config` on a thread of its own.
    pub fn start(
        netns: &Path,
        bridge: &str,
        config: DhcpConfig,
        leases: Leases,
    ) -> Result<DhcpServer> {
        let socket = crate::netns::run_in(netns, || Socket::open(bridge))??;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            table: RwLock::new((config, leases)),
            counters: Counters::default(),
        });
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("dhcp-{bridge}"))
            .spawn(move || serve(&socket, &serving))
            .map_err(|source| DhcpError::Socket {
                action: "start a thread for",
                device: bridge.to_owned(),
                source,
            })?;
        Ok(DhcpServer {
            shared,
            thread: Some(thread),
        })
    }

    /// Replaces the leases (the controller's view of the network's local ports changed).
    pub fn set_leases(&self, leases: Leases) {
        self.shared
            .table
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .1 = leases;
    }

    /// Replaces the network's options.
    pub fn set_config(&self, config: DhcpConfig) {
        self.shared
            .table
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .0 = config;
    }

    /// What it did so far.
    pub fn stats(&self) -> DhcpStats {
        self.shared.counters.snapshot()
    }

    /// Stops serving and waits for the thread (at most about 200 ms).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for DhcpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(socket: &Socket, shared: &Shared) {
    let c = &shared.counters;
    let mut buf = vec![0u8; 2048];
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(len) = socket.recv(&mut buf) else {
            continue;
        };
        let arp = {
            let table = shared.table.read().unwrap_or_else(PoisonError::into_inner);
            let (config, leases) = &*table;
            socket.mac().ok().and_then(|mac| {
                let reply = frame::arp_reply(&buf[..len], config.server_id, mac)?;
                // The requester (the reply's destination) must be one of this node's ports.
                let mut requester = [0u8; 6];
                requester.copy_from_slice(&reply[..6]);
                Some((reply, leases.contains_key(&MacAddr(requester))))
            })
        };
        if let Some((reply, ours)) = arp {
            if ours {
                match socket.send(&reply) {
                    Ok(()) => Counters::bump(&c.arp_replies),
                    Err(_) => Counters::bump(&c.send_errors),
                }
            }
            continue;
        }
        let incoming = match frame::parse(&buf[..len]) {
            Ok(incoming) => incoming,
            Err(FrameError::NotDhcp) => continue,
            Err(FrameError::Malformed) => {
                Counters::bump(&c.malformed);
                continue;
            }
        };
        if incoming.message.chaddr().get(..6) != Some(&incoming.src.0[..]) {
            Counters::bump(&c.spoofed);
            continue;
        }
        let outcome = {
            let table = shared.table.read().unwrap_or_else(PoisonError::into_inner);
            let outcome = respond(&table.0, &table.1, &incoming.message);
            (outcome, table.0.server_id)
        };
        match outcome {
            (Outcome::Reply(reply), server_ip) => {
                let counter = match reply.kind {
                    MessageType::Offer => &c.offers,
                    MessageType::Nak => &c.naks,
                    _ => &c.acks,
                };
                let sent = socket
                    .mac()
                    .and_then(|mac| socket.send(&frame::build(&reply, mac, server_ip)));
                match sent {
                    Ok(()) => Counters::bump(counter),
                    Err(e) => {
                        tracing::warn!(error = %e, bridge = %socket.device, "cannot send a DHCP reply");
                        Counters::bump(&c.send_errors);
                    }
                }
            }
            (Outcome::NoReply(NoReply::Released), _) => Counters::bump(&c.released),
            (Outcome::NoReply(NoReply::Declined), _) => {
                tracing::warn!(client = %incoming.src, bridge = %socket.device, "DHCP decline: the client reports its address in use");
                Counters::bump(&c.declined);
            }
            (Outcome::Dropped(Dropped::UnknownMac), _) => Counters::bump(&c.unknown_mac),
            (Outcome::Dropped(why), _) => {
                tracing::debug!(?why, client = %incoming.src, "DHCP request not answered");
                Counters::bump(&c.malformed);
            }
        }
    }
}

/// The packet socket, bound to the bridge.
struct Socket {
    fd: OwnedFd,
    device: String,
    ifindex: i32,
}

impl Socket {
    /// Opens it; runs inside the node's namespace.
    fn open(bridge: &str) -> Result<Socket> {
        let err = |action| {
            let source = std::io::Error::last_os_error();
            move || DhcpError::Socket {
                action,
                device: bridge.to_owned(),
                source,
            }
        };
        let ifindex = index(bridge)?;
        // Every protocol: DHCP requests, and ARP requests for the server's address.
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket(2) with constant arguments; the fd is owned at once.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(protocol),
            )
        };
        if raw < 0 {
            return Err(err("create")());
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: POLL.as_micros() as libc::suseconds_t,
        };
        // SAFETY: the option values outlive the calls and their sizes are given.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        if rc != 0 {
            return Err(err("configure")());
        }
        let addr = link_address(ifindex, protocol, None);
        // SAFETY: `addr` is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(err("bind")());
        }
        Ok(Socket {
            fd,
            device: bridge.to_owned(),
            ifindex,
        })
    }

    /// One frame's length; `None` on timeout, on our own outgoing frames, or on error.
    fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: sockaddr_ll is plain old data.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` and `from` are valid for the sizes given.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&raw mut from).cast(),
                &raw mut len,
            )
        };
        if n <= 0 || from.sll_pkttype == libc::PACKET_OUTGOING {
            return None;
        }
        Some(n as usize)
    }

    /// The bridge's MAC now (a bridge's MAC may follow its ports unless set).
    fn mac(&self) -> std::io::Result<MacAddr> {
        // SAFETY: ifreq is plain old data; the name fits (IFNAMSIZ, NUL included).
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(self.device.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: SIOCGIFHWADDR fills `req`, which is valid.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut req) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: SIOCGIFHWADDR wrote the hardware address union member.
        let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
        let mut mac = [0u8; 6];
        for (m, d) in mac.iter_mut().zip(data) {
            *m = d as u8;
        }
        Ok(MacAddr(mac))
    }

    fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame[..6]);
        let addr = link_address(self.ifindex, 0, Some(dst));
        // SAFETY: `frame` and `addr` are valid for the sizes given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

fn link_address(ifindex: i32, protocol: u16, dst: Option<[u8; 6]>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol;
    addr.sll_ifindex = ifindex;
    if let Some(mac) = dst {
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&mac);
    }
    addr
}

fn index(name: &str) -> Result<i32> {
    nix::net::if_::if_nametoindex(name)
        .ok()
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| DhcpError::NoSuchDevice(name.to_owned()))
}

/// The server address for a network: its gateway when it has one, else the last usable address
/// of its range (which IPAM should then keep out of its pool).
pub fn server_address(subnet: ipnetwork::Ipv4Network, gateway: Option<Ipv4Addr>) -> Ipv4Addr {
    gateway.unwrap_or_else(|| {
        let last = u32::from(subnet.broadcast()).saturating_sub(1);
        Ipv4Addr::from(last)
    })
}
