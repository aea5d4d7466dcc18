//! The thin rtnetlink shell: reads a namespace's links, FDB and neighbours into a
//! [`KernelState`] and applies [`NetlinkOp`]s.
//!
//! Every call runs on a fresh thread inside the node's namespace ([`crate::netns::run_in`]) with
//! a current-thread tokio runtime made on that thread, so the netlink socket belongs to the
//! namespace and no tokio worker of the caller ever switches namespace.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use futures_util::TryStreamExt;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage,
    NetlinkPayload,
};
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoBridgePort, InfoData, InfoKind, InfoPortData,
    InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVxlan};

use super::error::{NetworkError, OpFailure, OpFailureReason, Result};
use super::intent::{DeviceKind, DeviceNames, MacAddr, NodeNetworks};
use super::plan::{NetlinkOp, VXLAN_PORT_SETTINGS, plan};
use super::state::{
    BridgePortState, FdbEntry, FdbTarget, KernelState, LinkKind, LinkState, NeighbourEntry,
    VxlanState,
};

/// Programs the private networks of one node's namespace.
#[derive(Debug, Clone)]
pub struct NetworkDriver {
    netns: PathBuf,
    names: DeviceNames,
}

impl NetworkDriver {
    /// A driver for the namespace whose file is `netns` (e.g. `/run/netns/NAME`, or
    /// `/proc/self/ns/net` for the caller's own), owning the devices named by `names`.
    pub fn new(netns: impl Into<PathBuf>, names: DeviceNames) -> Self {
        NetworkDriver {
            netns: netns.into(),
            names,
        }
    }

    /// The namespace file.
    pub fn netns(&self) -> &Path {
        &self.netns
    }

    /// The device names it owns.
    pub fn names(&self) -> &DeviceNames {
        &self.names
    }

    /// Reads what the namespace holds.
    pub fn read_state(&self) -> Result<KernelState> {
        self.run(|handle| async move { read_state(&handle, &self.names).await })
    }

    /// What applying `intent` would do now.
    pub fn plan(&self, intent: &NodeNetworks) -> Result<Vec<NetlinkOp>> {
        Ok(plan(&self.read_state()?, intent, &self.names)?)
    }

    /// Reads the namespace, plans and applies; returns the operations applied (empty when the
    /// kernel already held the intent). When some fail, the others are still applied and the
    /// error lists the failures; applying again retries them.
    pub fn apply(&self, intent: &NodeNetworks) -> Result<Vec<NetlinkOp>> {
        intent.validate()?;
        self.run(|handle| async move {
            let state = read_state(&handle, &self.names).await?;
            let ops = plan(&state, intent, &self.names)?;
            apply_ops(&handle, &ops).await?;
            Ok(ops)
        })
    }

    /// Applies `ops` as they are (tests use it to make drift; the agent uses [`Self::apply`]).
    pub fn apply_ops(&self, ops: &[NetlinkOp]) -> Result<()> {
        self.run(|handle| async move { apply_ops(&handle, ops).await })
    }

    fn run<R, F, Fut>(&self, work: F) -> Result<R>
    where
        R: Send,
        F: FnOnce(Handle) -> Fut + Send,
        Fut: Future<Output = Result<R>>,
    {
        let netns = &self.netns;
        crate::netns::run_in(netns, move || {
            let connect = |source| NetworkError::Connect {
                netns: netns.clone(),
                source,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(connect)?;
            runtime.block_on(async move {
                let (connection, handle, _) = rtnetlink::new_connection().map_err(connect)?;
                let task = tokio::spawn(connection);
                let result = work(handle).await;
                task.abort();
                result
            })
        })?
    }
}

/// Reads links, the FDB of owned VXLAN devices and the permanent neighbours of owned bridges.
async fn read_state(handle: &Handle, names: &DeviceNames) -> Result<KernelState> {
    let read = |what| move |source| NetworkError::Read { what, source };
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(read("links"))?;
    let by_index: BTreeMap<u32, String> = links
        .iter()
        .filter_map(|l| Some((l.header.index, link_name(l)?.to_owned())))
        .collect();
    let mut state = KernelState::default();
    for link in &links {
        let Some(name) = link_name(link) else {
            continue;
        };
        state
            .links
            .insert(name.to_owned(), link_state(link, &by_index));
    }
    let owned = |index: u32, kind: DeviceKind| {
        let name = by_index.get(&index)?;
        (names.parse(name)?.kind == kind).then(|| name.clone())
    };

    let fdb: Vec<NeighbourMessage> = handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute()
        .try_collect()
        .await
        .map_err(read("the FDB"))?;
    for entry in &fdb {
        let Some(dev) = owned(entry.header.ifindex, DeviceKind::Vxlan) else {
            continue;
        };
        let Some(mac) = lladdr(entry) else { continue };
        let on_bridge = entry
            .attributes
            .iter()
            .any(|a| matches!(a, NeighbourAttribute::Controller(_)));
        let target = if on_bridge {
            match entry.header.state {
                NeighbourState::Noarp => FdbTarget::Port,
                NeighbourState::Permanent => continue, // the device's own address
                _ => FdbTarget::Learned,
            }
        } else {
            match destination(entry) {
                Some(dst) => FdbTarget::Remote(dst),
                None => continue,
            }
        };
        state.fdb.insert(FdbEntry { dev, mac, target });
    }

    let neighbours: Vec<NeighbourMessage> = handle
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(read("neighbours"))?;
    for entry in &neighbours {
        let Some(dev) = owned(entry.header.ifindex, DeviceKind::Bridge) else {
            continue;
        };
        if entry.header.state != NeighbourState::Permanent {
            continue;
        }
        if let (Some(ip), Some(mac)) = (destination(entry), lladdr(entry)) {
            state.neighbours.insert(NeighbourEntry { dev, ip, mac });
        }
    }
    Ok(state)
}

fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

fn link_state(link: &LinkMessage, by_index: &BTreeMap<u32, String>) -> LinkState {
    let mut kind = LinkKind::Other;
    let mut master = None;
    let mut bridge_port = None;
    for attr in &link.attributes {
        match attr {
            LinkAttribute::Controller(index) => master = by_index.get(index).cloned(),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(InfoKind::Bridge) => kind = LinkKind::Bridge,
                        LinkInfo::Data(InfoData::Vxlan(data)) => {
                            kind = LinkKind::Vxlan(vxlan_state(data));
                        }
                        LinkInfo::PortData(InfoPortData::BridgePort(port)) => {
                            bridge_port = Some(bridge_port_state(port));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    LinkState {
        kind,
        up: link.header.flags.contains(LinkFlags::Up),
        master,
        bridge_port,
    }
}

fn vxlan_state(data: &[InfoVxlan]) -> VxlanState {
    let mut state = VxlanState {
        vni: 0,
        local: None,
        dstport: 0,
        learning: true,
    };
    for attr in data {
        match attr {
            InfoVxlan::Id(vni) => state.vni = *vni,
            InfoVxlan::Local(ip) => state.local = Some(IpAddr::V4(*ip)),
            InfoVxlan::Local6(ip) => state.local = Some(IpAddr::V6(*ip)),
            InfoVxlan::Port(port) => state.dstport = *port,
            InfoVxlan::Learning(on) => state.learning = *on,
            _ => {}
        }
    }
    state
}

fn bridge_port_state(data: &[InfoBridgePort]) -> BridgePortState {
    let mut state = BridgePortState {
        learning: true,
        neigh_suppress: false,
    };
    for attr in data {
        match attr {
            InfoBridgePort::Learning(on) => state.learning = *on,
            InfoBridgePort::NeighSupress(on) => state.neigh_suppress = *on,
            _ => {}
        }
    }
    state
}

fn lladdr(entry: &NeighbourMessage) -> Option<MacAddr> {
    entry.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(bytes) => {
            Some(MacAddr(<[u8; 6]>::try_from(bytes.as_slice()).ok()?))
        }
        _ => None,
    })
}

fn destination(entry: &NeighbourMessage) -> Option<IpAddr> {
    entry.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        // In AF_BRIDGE (FDB) messages the destination comes undecoded; its length says which.
        NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => match bytes.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes.as_slice()).ok()?)),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes.as_slice()).ok()?)),
            _ => None,
        },
        _ => None,
    })
}

/// Applies every op in order; failures are collected, not fatal.
async fn apply_ops(handle: &Handle, ops: &[NetlinkOp]) -> Result<()> {
    let mut indexes = Indexes::default();
    let mut failed = Vec::new();
    for op in ops {
        if let Err(reason) = apply_op(handle, &mut indexes, op).await {
            tracing::warn!(%op, %reason, "netlink operation failed");
            failed.push(OpFailure {
                op: op.clone(),
                reason,
            });
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(NetworkError::Apply {
            total: ops.len(),
            failed,
        })
    }
}

/// Interface indexes by name, looked up once and forgotten when a link is deleted.
#[derive(Default)]
struct Indexes(BTreeMap<String, u32>);

impl Indexes {
    async fn get(&mut self, handle: &Handle, name: &str) -> Result<u32, OpFailureReason> {
        if let Some(&index) = self.0.get(name) {
            return Ok(index);
        }
        let found = handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await;
        let index = match found {
            Ok(Some(link)) => link.header.index,
            Ok(None) => return Err(OpFailureReason::NoSuchDevice(name.to_owned())),
            Err(rtnetlink::Error::NetlinkError(e))
                if e.code.is_some_and(|c| c.get() == -libc::ENODEV) =>
            {
                return Err(OpFailureReason::NoSuchDevice(name.to_owned()));
            }
            Err(e) => return Err(OpFailureReason::Kernel(e)),
        };
        self.0.insert(name.to_owned(), index);
        Ok(index)
    }
}

async fn apply_op(
    handle: &Handle,
    indexes: &mut Indexes,
    op: &NetlinkOp,
) -> Result<(), OpFailureReason> {
    let kernel = OpFailureReason::Kernel;
    match op {
        NetlinkOp::DeleteLink { name } => {
            let index = indexes.get(handle, name).await?;
            indexes.0.remove(name);
            handle.link().del(index).execute().await.map_err(kernel)
        }
        NetlinkOp::CreateBridge { name } => {
            let message = LinkMessageBuilder::<LinkBridge>::new(name).build();
            handle.link().add(message).execute().await.map_err(kernel)?;
            no_ipv6_addresses(handle, indexes.get(handle, name).await?).await
        }
        NetlinkOp::CreateVxlan {
            name,
            vni,
            local,
            dstport,
        } => {
            let builder = LinkVxlan::new(name, *vni).port(*dstport).learning(false);
            let builder = match local {
                IpAddr::V4(ip) => builder.local(*ip),
                IpAddr::V6(ip) => builder.local6(*ip),
            };
            handle
                .link()
                .add(builder.build())
                .execute()
                .await
                .map_err(kernel)?;
            no_ipv6_addresses(handle, indexes.get(handle, name).await?).await
        }
        NetlinkOp::SetMaster { dev, master } => {
            let (index, master) = (
                indexes.get(handle, dev).await?,
                indexes.get(handle, master).await?,
            );
            let message = LinkUnspec::new_with_index(index).controller(master).build();
            handle.link().set(message).execute().await.map_err(kernel)
        }
        NetlinkOp::Release { dev } => {
            let message = LinkUnspec::new_with_index(indexes.get(handle, dev).await?)
                .nocontroller()
                .build();
            handle.link().set(message).execute().await.map_err(kernel)
        }
        NetlinkOp::ConfigureVxlanPort { dev } => {
            let message = LinkBridgePort::new(indexes.get(handle, dev).await?)
                .learning(VXLAN_PORT_SETTINGS.learning)
                .neigh_suppress(VXLAN_PORT_SETTINGS.neigh_suppress)
                .build();
            handle
                .link()
                .set_port(message)
                .execute()
                .await
                .map_err(kernel)
        }
        NetlinkOp::SetUp { dev } => {
            let message = LinkUnspec::new_with_index(indexes.get(handle, dev).await?)
                .up()
                .build();
            handle.link().set(message).execute().await.map_err(kernel)
        }
        NetlinkOp::AddFdb(entry) => {
            let message = fdb_message(entry, indexes.get(handle, &entry.dev).await?);
            // A flood list is several all-zero entries: append. A MAC has one place: replace.
            let how = if entry.mac.is_zero() {
                NLM_F_APPEND
            } else {
                NLM_F_REPLACE
            };
            let message = RouteNetlinkMessage::NewNeighbour(message);
            request(handle, message, NLM_F_CREATE | how).await
        }
        NetlinkOp::DelFdb(entry) => {
            let message = fdb_message(entry, indexes.get(handle, &entry.dev).await?);
            request(handle, RouteNetlinkMessage::DelNeighbour(message), 0).await
        }
        NetlinkOp::SetNeighbour(n) => {
            let message = neighbour_message(n, indexes.get(handle, &n.dev).await?);
            let message = RouteNetlinkMessage::NewNeighbour(message);
            request(handle, message, NLM_F_CREATE | NLM_F_REPLACE).await
        }
        NetlinkOp::DelNeighbour(n) => {
            let message = neighbour_message(n, indexes.get(handle, &n.dev).await?);
            request(handle, RouteNetlinkMessage::DelNeighbour(message), 0).await
        }
    }
}

/// Turns IPv6 address generation off: the agent's devices have no address and send nothing of
/// their own (no router or neighbour solicitations, no MLD reports) into a tenant network.
async fn no_ipv6_addresses(handle: &Handle, index: u32) -> Result<(), OpFailureReason> {
    let mode = AfSpecInet6::AddrGenMode(In6AddrGenMode::None);
    let message = LinkUnspec::new_with_index(index)
        .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
            vec![mode],
        )]))
        .build();
    handle
        .link()
        .set(message)
        .execute()
        .await
        .map_err(OpFailureReason::Kernel)
}

fn fdb_message(entry: &FdbEntry, index: u32) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Bridge;
    message.header.ifindex = index;
    message
        .attributes
        .push(NeighbourAttribute::LinkLayerAddress(entry.mac.0.to_vec()));
    match entry.target {
        FdbTarget::Remote(dst) => {
            message.header.flags = NeighbourFlags::Own;
            message.header.state = NeighbourState::Permanent;
            message
                .attributes
                .push(NeighbourAttribute::Destination(address(dst)));
        }
        FdbTarget::Port | FdbTarget::Learned => {
            message.header.flags = NeighbourFlags::Controller;
            message.header.state = NeighbourState::Noarp;
        }
    }
    message
}

fn neighbour_message(n: &NeighbourEntry, index: u32) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = match n.ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    message.header.ifindex = index;
    message.header.state = NeighbourState::Permanent;
    message
        .attributes
        .push(NeighbourAttribute::Destination(address(n.ip)));
    message
        .attributes
        .push(NeighbourAttribute::LinkLayerAddress(n.mac.0.to_vec()));
    message
}

fn address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(ip) => NeighbourAddress::Inet(ip),
        IpAddr::V6(ip) => NeighbourAddress::Inet6(ip),
    }
}

/// Sends one request and waits for its acknowledgement.
async fn request(
    handle: &Handle,
    message: RouteNetlinkMessage,
    flags: u16,
) -> Result<(), OpFailureReason> {
    let mut request = NetlinkMessage::from(message);
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut responses = handle
        .clone()
        .request(request)
        .map_err(OpFailureReason::Kernel)?;
    while let Some(response) = responses.next().await {
        if let NetlinkPayload::Error(e) = response.payload
            && e.code.is_some()
        {
            return Err(OpFailureReason::Kernel(rtnetlink::Error::NetlinkError(e)));
        }
    }
    Ok(())
}
