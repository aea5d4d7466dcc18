//! The registry: every API mutation as one guarded store transaction.
//!
//! Each operation reads what it needs, decides with the pure core ([`crate::validation`],
//! [`crate::ipam`], [`crate::lifecycle`]), then commits one transaction whose guards are the mod
//! revisions of everything it read (and `0` for every unique index key it claims). When a guard fails
//! because someone else wrote first, the operation re-reads and decides again; when the failed guard is
//! the caller's own revision, it is refused with `StaleRevision` (ABORTED): no lost update.
//!
//! A refused request writes nothing: the store revision does not move.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::SystemTime;

use sdn_proto::v1 as pb;
use uuid::Uuid;

use crate::codec::{self, Object};
use crate::error::{Error, Reference, Result};
use crate::ipam::{self, Leases};
use crate::lifecycle::{self, NodeEvent};
use crate::model::*;
use crate::store::{Store, Txn, TxnOutcome, keys};
use crate::validation::{self as v, limits};

/// How many times an operation re-reads and retries after losing a race to concurrent writers.
pub const MAX_ATTEMPTS: u32 = 512;

/// Most users named in an `InUse` error.
const MAX_USERS_NAMED: usize = 20;

/// The resource operations over a store.
#[derive(Debug, Clone)]
pub struct Registry<S> {
    store: S,
}

/// A page of objects.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The objects.
    pub items: Vec<T>,
    /// Token of the next page; empty on the last.
    pub next_page_token: String,
    /// Store revision of the read.
    pub revision: Revision,
}

/// Objects that own keys besides their own: unique index keys (claimed with a `== 0` guard) and
/// references to other objects, written, moved and deleted in the same transaction as the object.
pub trait Footprint {
    /// Index and reference keys with their values.
    fn footprint(&self) -> Vec<(String, Vec<u8>)>;
}

fn reference_key(target: (Kind, Uuid), user: (Kind, Uuid)) -> (String, Vec<u8>) {
    (keys::reference(target, user), Vec::new())
}

impl Footprint for Node {
    fn footprint(&self) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }
}

impl Footprint for Network {
    fn footprint(&self) -> Vec<(String, Vec<u8>)> {
        vec![(keys::vni(self.vni), self.meta.id.to_string().into_bytes())]
    }
}

impl Footprint for Port {
    fn footprint(&self) -> Vec<(String, Vec<u8>)> {
        let me = (Kind::Port, self.meta.id);
        let id = self.meta.id.to_string().into_bytes();
        let mut out = Vec::new();
        if let Some(mac) = self.mac {
            out.push((keys::mac(self.network_id, mac), id.clone()));
        }
        for a in self.addresses() {
            out.push((keys::lease(self.network_id, a), id.clone()));
        }
        out.push(reference_key((Kind::Node, self.node_id), me));
        out.push(reference_key((Kind::Network, self.network_id), me));
        for g in &self.security_group_ids {
            out.push(reference_key((Kind::SecurityGroup, *g), me));
        }
        out
    }
}

impl Footprint for SecurityGroup {
    fn footprint(&self) -> Vec<(String, Vec<u8>)> {
        let me = (Kind::SecurityGroup, self.meta.id);
        self.remote_groups()
            .into_iter()
            .filter(|g| *g != self.meta.id)
            .map(|g| reference_key((Kind::SecurityGroup, g), me))
            .collect()
    }
}

impl Footprint for LoadBalancer {
    fn footprint(&self) -> Vec<(String, Vec<u8>)> {
        let me = (Kind::LoadBalancer, self.meta.id);
        let mut out = vec![(
            keys::vip(IpAddr::V4(self.vip)),
            self.meta.id.to_string().into_bytes(),
        )];
        out.extend(
            self.backend_ports()
                .into_iter()
                .map(|p| reference_key((Kind::Port, p), me)),
        );
        out
    }
}

/// Adds to `txn` the writes that move an object's footprint from `old` to `new`: keys only in `new`
/// are claimed (`== 0` guard) and written; keys only in `old` are deleted.
fn move_footprint(txn: &mut Txn, old: &[(String, Vec<u8>)], new: &[(String, Vec<u8>)]) {
    for (k, _) in old {
        if !new.iter().any(|(n, _)| n == k) {
            txn.delete(k.clone());
        }
    }
    for (k, val) in new {
        if !old.iter().any(|(o, _)| o == k) {
            txn.expect(k.clone(), 0).put(k.clone(), val.clone());
        }
    }
}

fn check_revision(kind: Kind, id: Uuid, given: Revision, current: Revision) -> Result<()> {
    if given != 0 && given != current {
        return Err(Error::StaleRevision {
            kind,
            id,
            given,
            current,
        });
    }
    Ok(())
}

fn require_revision(field: &str, revision: i64) -> Result<Revision> {
    let r = v::parse_revision(field, revision)?;
    if r == 0 {
        return Err(Error::Missing {
            field: field.into(),
        });
    }
    Ok(r)
}

fn page_size(size: u32) -> Result<usize> {
    match size {
        0 => Ok(100),
        1..=1000 => Ok(size as usize),
        _ => Err(Error::OutOfRange {
            field: "page_size".into(),
            value: size.into(),
            min: 1,
            max: 1000,
        }),
    }
}

impl<S: Store> Registry<S> {
    /// A registry over `store`.
    pub fn new(store: S) -> Registry<S> {
        Registry { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Reads an object; `NotFound` names `field`.
    pub async fn load<T: Object>(&self, id: Uuid, field: &str) -> Result<T> {
        let key = keys::object(T::KIND, id);
        match self.store.get(&key).await? {
            Some(kv) => codec::decode(&key, &kv.value, kv.mod_revision),
            None => Err(Error::NotFound {
                field: field.into(),
                kind: T::KIND,
                id: id.to_string(),
            }),
        }
    }

    /// Reads an object by textual id (the `Get*` calls).
    pub async fn get<T: Object>(&self, id: &str) -> Result<T> {
        let id = v::parse_id("id", id)?;
        self.load(id, "id").await
    }

    /// A page of objects of one kind, in id order (node/network filters are for ports only).
    pub async fn list<T: Object>(&self, req: &pb::ListRequest) -> Result<Page<T>> {
        if !req.node_id.is_empty() || !req.network_id.is_empty() {
            return Err(Error::Inconsistent {
                field: if req.node_id.is_empty() {
                    "network_id"
                } else {
                    "node_id"
                }
                .into(),
                rule: "only ports can be filtered by node or network; leave it empty",
            });
        }
        self.list_filtered(req, |_: &T| true).await
    }

    /// A page of ports, optionally only those of a node and/or a network (pages may come out short).
    pub async fn list_ports(&self, req: &pb::ListRequest) -> Result<Page<Port>> {
        let node = v::parse_optional_id("node_id", &req.node_id)?;
        let network = v::parse_optional_id("network_id", &req.network_id)?;
        self.list_filtered(req, |p: &Port| {
            node.is_none_or(|n| p.node_id == n) && network.is_none_or(|n| p.network_id == n)
        })
        .await
    }

    async fn list_filtered<T: Object>(
        &self,
        req: &pb::ListRequest,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Page<T>> {
        let limit = page_size(req.page_size)?;
        if !req.page_token.is_empty() {
            v::parse_id("page_token", &req.page_token)?;
        }
        let prefix = keys::objects(T::KIND);
        let listing = self.store.list(&prefix, &req.page_token, limit).await?;
        let mut items = Vec::with_capacity(listing.kvs.len());
        let mut last = String::new();
        for kv in &listing.kvs {
            let obj: T = codec::decode(&kv.key, &kv.value, kv.mod_revision)?;
            last = obj.meta().id.to_string();
            if keep(&obj) {
                items.push(obj);
            }
        }
        Ok(Page {
            items,
            next_page_token: if listing.more { last } else { String::new() },
            revision: listing.revision,
        })
    }

    async fn commit(&self, txn: Txn) -> Result<Option<Revision>> {
        Ok(match self.store.txn(txn).await? {
            TxnOutcome::Committed(r) => Some(r),
            TxnOutcome::Conflict(_) => None,
        })
    }

    /// The users of an object (its `refs/` prefix) and the revision they were read at.
    async fn users(&self, kind: Kind, id: Uuid) -> Result<(Vec<Reference>, Revision)> {
        let prefix = keys::refs(kind, id);
        let listing = self.store.list(&prefix, "", MAX_USERS_NAMED).await?;
        let users = listing
            .kvs
            .iter()
            .filter_map(|kv| keys::parse_reference(&prefix, &kv.key))
            .map(|(kind, id)| Reference { kind, id })
            .collect();
        Ok((users, listing.revision))
    }

    /// Writes a new object and claims its footprint, guarded by `guards`; `None` when a guard failed
    /// (the caller re-reads and decides again).
    async fn create_simple<T: Object + Footprint>(
        &self,
        obj: &mut T,
        guards: &[(String, Revision)],
    ) -> Result<Option<Revision>> {
        let mut txn = Txn::default();
        let key = keys::object(T::KIND, obj.meta().id);
        txn.expect(key.clone(), 0);
        for (k, r) in guards {
            txn.expect(k.clone(), *r);
        }
        move_footprint(&mut txn, &[], &obj.footprint());
        txn.put(key, codec::encode(obj));
        let committed = self.commit(txn).await?;
        if let Some(r) = committed {
            obj.meta_mut().revision = r;
        }
        Ok(committed)
    }

    /// Replaces a stored object, guarded by `old`'s mod revision and `guards`; `None` on conflict.
    async fn replace<T: Object + Footprint>(
        &self,
        old: &T,
        new: &mut T,
        guards: &[(String, Revision)],
    ) -> Result<Option<Revision>> {
        let mut txn = Txn::default();
        let key = keys::object(T::KIND, new.meta().id);
        txn.expect(key.clone(), old.meta().revision);
        for (k, r) in guards {
            txn.expect(k.clone(), *r);
        }
        move_footprint(&mut txn, &old.footprint(), &new.footprint());
        new.meta_mut().updated_at = SystemTime::now();
        txn.put(key, codec::encode(new));
        let committed = self.commit(txn).await?;
        if let Some(r) = committed {
            new.meta_mut().revision = r;
        }
        Ok(committed)
    }

    /// Deletes an object once nothing refers to it; `revision` 0 deletes the current revision.
    pub async fn delete<T: Object + Footprint>(&self, id: &str, revision: i64) -> Result<Revision> {
        let id = v::parse_id("id", id)?;
        let revision = v::parse_revision("revision", revision)?;
        for _ in 0..MAX_ATTEMPTS {
            let obj: T = self.load(id, "id").await?;
            check_revision(T::KIND, id, revision, obj.meta().revision)?;
            let (users, read_at) = self.users(T::KIND, id).await?;
            if !users.is_empty() {
                return Err(Error::InUse {
                    kind: T::KIND,
                    id,
                    users,
                });
            }
            let mut txn = Txn::default();
            let key = keys::object(T::KIND, id);
            txn.expect(key.clone(), obj.meta().revision)
                .expect_prefix_unchanged(keys::refs(T::KIND, id), read_at);
            move_footprint(&mut txn, &obj.footprint(), &[]);
            txn.delete(key);
            if let Some(r) = self.commit(txn).await? {
                return Ok(r);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    // ----------------------------------------------------------------------------------------------
    // Nodes

    /// Registers a node.
    pub async fn create_node(&self, req: &pb::CreateNodeRequest) -> Result<Node> {
        let wire = req.node.as_ref().ok_or_else(|| Error::Missing {
            field: "node".into(),
        })?;
        let mut node = v::parse_node(wire, SystemTime::now())?;
        if node.meta.id.is_nil() {
            node.meta.id = Uuid::new_v4();
        }
        match self.create_simple(&mut node, &[]).await? {
            Some(_) => Ok(node),
            None => Err(Error::AlreadyExists {
                field: "node.meta.id".into(),
                value: node.meta.id.to_string(),
                holder: Reference {
                    kind: Kind::Node,
                    id: node.meta.id,
                },
            }),
        }
    }

    /// Renames, changes roles, cordons or uncordons a node.
    pub async fn update_node(&self, req: &pb::UpdateNodeRequest) -> Result<Node> {
        let id = v::parse_id("id", &req.id)?;
        let revision = require_revision("revision", req.revision)?;
        let name = (!req.name.is_empty())
            .then(|| v::parse_name("name", &req.name))
            .transpose()?;
        let roles = (!req.roles.is_empty())
            .then(|| v::parse_roles("roles", &req.roles))
            .transpose()?;
        for _ in 0..MAX_ATTEMPTS {
            let old: Node = self.load(id, "id").await?;
            check_revision(Kind::Node, id, revision, old.meta.revision)?;
            let mut node = old.clone();
            if let Some(name) = &name {
                node.meta.name = name.clone();
            }
            if let Some(roles) = &roles {
                node.roles = roles.clone();
            }
            match req.cordoned {
                Some(true) => node.state = lifecycle::node_next(node.state, NodeEvent::Cordon)?,
                Some(false) => node.state = lifecycle::node_next(node.state, NodeEvent::Uncordon)?,
                None => {}
            }
            if self.replace(&old, &mut node, &[]).await?.is_some() {
                return Ok(node);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    // ----------------------------------------------------------------------------------------------
    // Networks

    /// Creates a network, allocating its VNI when none is asked for.
    pub async fn create_network(&self, req: &pb::CreateNetworkRequest) -> Result<Network> {
        let wire = req.network.as_ref().ok_or_else(|| Error::Missing {
            field: "network".into(),
        })?;
        let mut net = v::parse_network(wire, SystemTime::now())?;
        net.meta.id = Uuid::new_v4();
        let requested = net.vni;
        for _ in 0..MAX_ATTEMPTS {
            if requested == 0 {
                let used = self.store.list(&keys::vnis(), "", 0).await?;
                let used: BTreeSet<Vni> = used
                    .kvs
                    .iter()
                    .filter_map(|kv| kv.key.strip_prefix(&keys::vnis())?.parse().ok())
                    .collect();
                net.vni = ipam::allocate_vni(&used)?;
            } else if let Some(kv) = self.store.get(&keys::vni(requested)).await? {
                return Err(Error::AlreadyExists {
                    field: "network.vni".into(),
                    value: requested.to_string(),
                    holder: Reference {
                        kind: Kind::Network,
                        id: Uuid::try_parse_ascii(&kv.value).unwrap_or_default(),
                    },
                });
            }
            if self.create_simple(&mut net, &[]).await?.is_some() {
                return Ok(net);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Changes a network's name, description, range and static leases.
    pub async fn update_network(&self, req: &pb::UpdateNetworkRequest) -> Result<Network> {
        let wire = req.network.as_ref().ok_or_else(|| Error::Missing {
            field: "network".into(),
        })?;
        let meta = wire.meta.as_ref().ok_or_else(|| Error::Missing {
            field: "network.meta".into(),
        })?;
        let id = v::parse_id("network.meta.id", &meta.id)?;
        let revision = require_revision("network.meta.revision", meta.revision)?;
        let name = v::parse_name("network.meta.name", &meta.name)?;
        let description = v::parse_description("network.description", &wire.description)?;
        for _ in 0..MAX_ATTEMPTS {
            let old: Network = self.load(id, "network.meta.id").await?;
            check_revision(Kind::Network, id, revision, old.meta.revision)?;
            for (field, given, current) in [
                (
                    "network.ipv4_cidr",
                    wire.ipv4_cidr.clone(),
                    old.ipv4.to_string(),
                ),
                (
                    "network.ipv6_prefix",
                    wire.ipv6_prefix.clone(),
                    old.ipv6.map(|p| p.to_string()).unwrap_or_default(),
                ),
            ] {
                if !given.is_empty() && given != current {
                    return Err(Error::Inconsistent {
                        field: field.into(),
                        rule: "a network's prefixes cannot change; create a new network",
                    });
                }
            }
            if wire.vni != 0 && wire.vni != old.vni {
                return Err(Error::Inconsistent {
                    field: "network.vni".into(),
                    rule: "a network's VNI cannot change; leave it 0 or as it is",
                });
            }
            let mut net = old.clone();
            net.meta.name = name.clone();
            net.description = description.clone();
            v::apply_network_addressing(&mut net, wire)?;
            if self.replace(&old, &mut net, &[]).await?.is_some() {
                return Ok(net);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    // ----------------------------------------------------------------------------------------------
    // Ports

    async fn leases(&self, network: Uuid) -> Result<Leases> {
        let prefix = keys::leases(network);
        let listing = self.store.list(&prefix, "", 0).await?;
        Ok(listing
            .kvs
            .iter()
            .filter_map(|kv| {
                let ip: IpAddr = kv.key.strip_prefix(&prefix)?.parse().ok()?;
                let port = Uuid::try_parse_ascii(&kv.value).ok()?;
                Some((ip, port))
            })
            .collect())
    }

    /// Loads the groups of a port (each must exist) and returns their guards.
    async fn group_guards(&self, field: &str, ids: &[Uuid]) -> Result<Vec<(String, Revision)>> {
        let mut guards = Vec::with_capacity(ids.len());
        for (i, g) in ids.iter().enumerate() {
            let group: SecurityGroup = self.load(*g, &format!("{field}[{i}]")).await?;
            if group.state == SecurityGroupState::Deleting {
                return Err(Error::WrongState {
                    kind: Kind::SecurityGroup,
                    id: *g,
                    state: "deleting",
                    advice: "pick another group",
                });
            }
            guards.push((keys::object(Kind::SecurityGroup, *g), group.meta.revision));
        }
        Ok(guards)
    }

    /// Creates a port: checks node, network and groups, allocates MAC and addresses, commits.
    pub async fn create_port(&self, req: &pb::CreatePortRequest) -> Result<Port> {
        let wire = req.port.as_ref().ok_or_else(|| Error::Missing {
            field: "port".into(),
        })?;
        let mut port = v::parse_port(wire, SystemTime::now())?;
        port.meta.id = Uuid::new_v4();
        let (want_mac, want_v4, want_v6) = (port.mac, port.ipv4, port.ipv6);
        for _ in 0..MAX_ATTEMPTS {
            let node: Node = self.load(port.node_id, "port.node_id").await?;
            if node.state == NodeState::Cordoned {
                return Err(Error::WrongState {
                    kind: Kind::Node,
                    id: node.meta.id,
                    state: "cordoned",
                    advice: "place the port on another node or uncordon this one",
                });
            }
            if !node.has_role(NodeRole::Compute) {
                return Err(Error::Inconsistent {
                    field: "port.node_id".into(),
                    rule: "ports go on nodes with the compute role; pick a compute node",
                });
            }
            let network: Network = self.load(port.network_id, "port.network_id").await?;
            if network.state == NetworkState::Deleting {
                return Err(Error::WrongState {
                    kind: Kind::Network,
                    id: network.meta.id,
                    state: "deleting",
                    advice: "attach the port to another network",
                });
            }
            let mut guards = self
                .group_guards("port.security_group_ids", &port.security_group_ids)
                .await?;
            guards.push((keys::object(Kind::Node, node.meta.id), node.meta.revision));
            guards.push((
                keys::object(Kind::Network, network.meta.id),
                network.meta.revision,
            ));
            let mac = match want_mac {
                Some(mac) => {
                    if let Some(kv) = self.store.get(&keys::mac(network.meta.id, mac)).await? {
                        return Err(Error::AlreadyExists {
                            field: "port.mac".into(),
                            value: mac.to_string(),
                            holder: Reference {
                                kind: Kind::Port,
                                id: Uuid::try_parse_ascii(&kv.value).unwrap_or_default(),
                            },
                        });
                    }
                    mac
                }
                None => Mac::from_port_id(Uuid::new_v4()),
            };
            let leases = self.leases(network.meta.id).await?;
            let assigned = ipam::assign(&network, mac, want_v4, want_v6, &leases)?;
            port.mac = Some(mac);
            port.ipv4 = assigned.ipv4;
            port.ipv6 = assigned.ipv6;
            if self.create_simple(&mut port, &guards).await?.is_some() {
                return Ok(port);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Renames a port or replaces its security groups.
    pub async fn update_port(&self, req: &pb::UpdatePortRequest) -> Result<Port> {
        let id = v::parse_id("id", &req.id)?;
        let revision = require_revision("revision", req.revision)?;
        let name = (!req.name.is_empty())
            .then(|| v::parse_name("name", &req.name))
            .transpose()?;
        let groups = v::parse_group_ids("security_group_ids", &req.security_group_ids)?;
        for _ in 0..MAX_ATTEMPTS {
            let old: Port = self.load(id, "id").await?;
            check_revision(Kind::Port, id, revision, old.meta.revision)?;
            if old.state == PortState::Deleting {
                return Err(Error::WrongState {
                    kind: Kind::Port,
                    id,
                    state: "deleting",
                    advice: "it is going away; create a new port",
                });
            }
            let guards = self.group_guards("security_group_ids", &groups).await?;
            let mut port = old.clone();
            if let Some(name) = &name {
                port.meta.name = name.clone();
            }
            port.security_group_ids = groups.clone();
            if let lifecycle::PortNext::State(s) =
                lifecycle::port_next(port.state, lifecycle::PortEvent::Changed)?
            {
                port.state = s;
            }
            if self.replace(&old, &mut port, &guards).await?.is_some() {
                return Ok(port);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    // ----------------------------------------------------------------------------------------------
    // Security groups

    /// Checks that the remote groups named by `rules` exist (except `own`), returning guards.
    async fn remote_group_guards(
        &self,
        prefix: &str,
        rules: &[Rule],
        offset: usize,
        own: Uuid,
    ) -> Result<Vec<(String, Revision)>> {
        let mut guards: Vec<(String, Revision)> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if let Remote::Group(g) = r.remote {
                let key = keys::object(Kind::SecurityGroup, g);
                if g == own || guards.iter().any(|(k, _)| *k == key) {
                    continue;
                }
                let field = format!("{prefix}[{}].remote_group_id", i + offset);
                let group: SecurityGroup = self.load(g, &field).await?;
                guards.push((key, group.meta.revision));
            }
        }
        Ok(guards)
    }

    /// Creates a security group, assigning rule ids.
    pub async fn create_security_group(
        &self,
        req: &pb::CreateSecurityGroupRequest,
    ) -> Result<SecurityGroup> {
        let wire = req.group.as_ref().ok_or_else(|| Error::Missing {
            field: "group".into(),
        })?;
        let mut group = v::parse_security_group(wire, SystemTime::now())?;
        group.meta.id = Uuid::new_v4();
        for r in &mut group.rules {
            r.id = Uuid::new_v4();
        }
        for _ in 0..MAX_ATTEMPTS {
            let guards = self
                .remote_group_guards("group.rules", &group.rules, 0, group.meta.id)
                .await?;
            if self.create_simple(&mut group, &guards).await?.is_some() {
                return Ok(group);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Applies `change` to a group read at `revision` and commits it; the shared path of update, add
    /// and remove. `change` returns the rules removed.
    async fn change_group(
        &self,
        id: Uuid,
        revision: Revision,
        field: &str,
        existing_flows: ExistingFlows,
        change: impl Fn(&mut SecurityGroup) -> Result<Vec<Uuid>>,
    ) -> Result<SecurityGroup> {
        for _ in 0..MAX_ATTEMPTS {
            let old: SecurityGroup = self.load(id, field).await?;
            check_revision(Kind::SecurityGroup, id, revision, old.meta.revision)?;
            if old.state == SecurityGroupState::Deleting {
                return Err(Error::WrongState {
                    kind: Kind::SecurityGroup,
                    id,
                    state: "deleting",
                    advice: "it is going away; create a new group",
                });
            }
            let mut group = old.clone();
            let removed = change(&mut group)?;
            group.revoked_rule_ids = match existing_flows {
                ExistingFlows::Keep => Vec::new(),
                ExistingFlows::Revoke => removed,
            };
            let guards = self
                .remote_group_guards("rules", &group.rules, 0, id)
                .await?;
            if self.replace(&old, &mut group, &guards).await?.is_some() {
                return Ok(group);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Replaces a group's name, description and rules.
    pub async fn update_security_group(
        &self,
        req: &pb::UpdateSecurityGroupRequest,
    ) -> Result<SecurityGroup> {
        let wire = req.group.as_ref().ok_or_else(|| Error::Missing {
            field: "group".into(),
        })?;
        let meta = wire.meta.as_ref().ok_or_else(|| Error::Missing {
            field: "group.meta".into(),
        })?;
        let id = v::parse_id("group.meta.id", &meta.id)?;
        let revision = require_revision("group.meta.revision", meta.revision)?;
        let name = v::parse_name("group.meta.name", &meta.name)?;
        let description = v::parse_description("group.description", &wire.description)?;
        let rules = v::parse_rules("group.rules", &wire.rules)?;
        let flows = v::parse_existing_flows("existing_flows", req.existing_flows)?;
        self.change_group(id, revision, "group.meta.id", flows, |g| {
            for (i, r) in rules.iter().enumerate() {
                if !r.id.is_nil() && !g.rules.iter().any(|o| o.id == r.id) {
                    return Err(Error::NotFound {
                        field: format!("group.rules[{i}].id"),
                        kind: Kind::SecurityRule,
                        id: r.id.to_string(),
                    });
                }
            }
            let mut new = rules.clone();
            for r in &mut new {
                if r.id.is_nil() {
                    r.id = Uuid::new_v4();
                }
            }
            let removed = g
                .rules
                .iter()
                .filter(|o| !new.iter().any(|n| n.id == o.id))
                .map(|o| o.id)
                .collect();
            g.meta.name = name.clone();
            g.description = description.clone();
            g.rules = new;
            Ok(removed)
        })
        .await
    }

    /// Adds rules to a group.
    pub async fn add_security_rules(
        &self,
        req: &pb::AddSecurityRulesRequest,
    ) -> Result<SecurityGroup> {
        let id = v::parse_id("group_id", &req.group_id)?;
        let revision = require_revision("revision", req.revision)?;
        if req.rules.is_empty() {
            return Err(Error::Missing {
                field: "rules".into(),
            });
        }
        let rules = v::parse_rules("rules", &req.rules)?;
        if let Some((i, _)) = rules.iter().enumerate().find(|(_, r)| !r.id.is_nil()) {
            return Err(Error::Inconsistent {
                field: format!("rules[{i}].id"),
                rule: "new rules get their id from the controller; leave id empty",
            });
        }
        self.change_group(id, revision, "group_id", ExistingFlows::Keep, |g| {
            let count = g.rules.len() + rules.len();
            if count > limits::MAX_RULES_PER_GROUP {
                return Err(Error::LimitExceeded {
                    field: "rules".into(),
                    count,
                    limit: limits::MAX_RULES_PER_GROUP,
                });
            }
            g.rules.extend(rules.iter().cloned().map(|mut r| {
                r.id = Uuid::new_v4();
                r
            }));
            Ok(Vec::new())
        })
        .await
    }

    /// Removes rules from a group by id.
    pub async fn remove_security_rules(
        &self,
        req: &pb::RemoveSecurityRulesRequest,
    ) -> Result<SecurityGroup> {
        let id = v::parse_id("group_id", &req.group_id)?;
        let revision = require_revision("revision", req.revision)?;
        if req.rule_ids.is_empty() {
            return Err(Error::Missing {
                field: "rule_ids".into(),
            });
        }
        let mut ids: Vec<Uuid> = Vec::with_capacity(req.rule_ids.len());
        for (i, r) in req.rule_ids.iter().enumerate() {
            let rid = v::parse_id(&format!("rule_ids[{i}]"), r)?;
            if ids.contains(&rid) {
                return Err(Error::Duplicate {
                    field: format!("rule_ids[{i}]"),
                    value: rid.to_string(),
                });
            }
            ids.push(rid);
        }
        let flows = v::parse_existing_flows("existing_flows", req.existing_flows)?;
        self.change_group(id, revision, "group_id", flows, |g| {
            for (i, rid) in ids.iter().enumerate() {
                if !g.rules.iter().any(|r| r.id == *rid) {
                    return Err(Error::NotFound {
                        field: format!("rule_ids[{i}]"),
                        kind: Kind::SecurityRule,
                        id: rid.to_string(),
                    });
                }
            }
            g.rules.retain(|r| !ids.contains(&r.id));
            Ok(ids.clone())
        })
        .await
    }

    // ----------------------------------------------------------------------------------------------
    // Load balancers

    async fn backend_guards(
        &self,
        prefix: &str,
        services: &[LbService],
    ) -> Result<Vec<(String, Revision)>> {
        let mut guards: Vec<(String, Revision)> = Vec::new();
        for (i, s) in services.iter().enumerate() {
            for (j, b) in s.backends.iter().enumerate() {
                let key = keys::object(Kind::Port, b.port_id);
                if guards.iter().any(|(k, _)| *k == key) {
                    continue;
                }
                let field = format!("{prefix}[{i}].backends[{j}].port_id");
                let port: Port = self.load(b.port_id, &field).await?;
                if port.state == PortState::Deleting {
                    return Err(Error::WrongState {
                        kind: Kind::Port,
                        id: port.meta.id,
                        state: "deleting",
                        advice: "pick another backend",
                    });
                }
                if port.ipv4.is_none() {
                    return Err(Error::Inconsistent {
                        field,
                        rule: "a backend port needs an IPv4 address",
                    });
                }
                guards.push((key, port.meta.revision));
            }
        }
        Ok(guards)
    }

    /// Creates a load balancer; its VIP must be free.
    pub async fn create_load_balancer(
        &self,
        req: &pb::CreateLoadBalancerRequest,
    ) -> Result<LoadBalancer> {
        let wire = req.load_balancer.as_ref().ok_or_else(|| Error::Missing {
            field: "load_balancer".into(),
        })?;
        let mut lb = v::parse_load_balancer(wire, SystemTime::now())?;
        lb.meta.id = Uuid::new_v4();
        for s in &mut lb.services {
            s.id = Uuid::new_v4();
        }
        for _ in 0..MAX_ATTEMPTS {
            if let Some(kv) = self.store.get(&keys::vip(IpAddr::V4(lb.vip))).await? {
                return Err(Error::AlreadyExists {
                    field: "load_balancer.vip".into(),
                    value: lb.vip.to_string(),
                    holder: Reference {
                        kind: Kind::LoadBalancer,
                        id: Uuid::try_parse_ascii(&kv.value).unwrap_or_default(),
                    },
                });
            }
            let guards = self
                .backend_guards("load_balancer.services", &lb.services)
                .await?;
            if self.create_simple(&mut lb, &guards).await?.is_some() {
                return Ok(lb);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Replaces a load balancer's name, description and services.
    pub async fn update_load_balancer(
        &self,
        req: &pb::UpdateLoadBalancerRequest,
    ) -> Result<LoadBalancer> {
        let wire = req.load_balancer.as_ref().ok_or_else(|| Error::Missing {
            field: "load_balancer".into(),
        })?;
        let meta = wire.meta.as_ref().ok_or_else(|| Error::Missing {
            field: "load_balancer.meta".into(),
        })?;
        let id = v::parse_id("load_balancer.meta.id", &meta.id)?;
        let revision = require_revision("load_balancer.meta.revision", meta.revision)?;
        let name = v::parse_name("load_balancer.meta.name", &meta.name)?;
        let description = v::parse_description("load_balancer.description", &wire.description)?;
        let services = v::parse_services("load_balancer.services", &wire.services)?;
        for _ in 0..MAX_ATTEMPTS {
            let old: LoadBalancer = self.load(id, "load_balancer.meta.id").await?;
            check_revision(Kind::LoadBalancer, id, revision, old.meta.revision)?;
            if !wire.vip.is_empty() && wire.vip != old.vip.to_string() {
                return Err(Error::Inconsistent {
                    field: "load_balancer.vip".into(),
                    rule: "a load balancer's VIP cannot change; create a new load balancer",
                });
            }
            let mut lb = old.clone();
            lb.meta.name = name.clone();
            lb.description = description.clone();
            lb.services = services.clone();
            for (i, s) in lb.services.iter_mut().enumerate() {
                if s.id.is_nil() {
                    s.id = Uuid::new_v4();
                } else if !old.services.iter().any(|o| o.id == s.id) {
                    return Err(Error::NotFound {
                        field: format!("load_balancer.services[{i}].id"),
                        kind: Kind::LoadBalancer,
                        id: s.id.to_string(),
                    });
                }
                // Keep the reported health of backends that stay.
                if let Some(o) = old.services.iter().find(|o| o.id == s.id) {
                    for b in &mut s.backends {
                        if let Some(ob) = o.backends.iter().find(|ob| ob.port_id == b.port_id)
                            && b.weight > 0
                        {
                            b.health = ob.health;
                            b.health_reason = ob.health_reason.clone();
                            b.health_changed_at = ob.health_changed_at;
                        }
                    }
                }
            }
            if let lifecycle::LoadBalancerNext::State(s) =
                lifecycle::load_balancer_next(lb.state, lifecycle::LoadBalancerEvent::Changed)?
            {
                lb.state = s;
            }
            let guards = self
                .backend_guards("load_balancer.services", &lb.services)
                .await?;
            if self.replace(&old, &mut lb, &guards).await?.is_some() {
                return Ok(lb);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

mod agent;

#[cfg(test)]
mod tests;
