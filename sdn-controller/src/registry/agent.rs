//! Registry steps driven by agents rather than orchestrators: registration at hello, node state on
//! ack and loss, ports becoming `programmed` and finally removed once their node acknowledged them,
//! and the orchestrator's port delete that starts the removal.
//!
//! Every step is idempotent and resumable: it re-reads the object, decides with the lifecycle
//! machines, and commits one guarded transaction (or nothing when there is nothing left to do), so a
//! replica that dies between an ack and its step leaves the next ack to finish the job.

use std::time::SystemTime;

use sdn_proto::v1 as pb;
use uuid::Uuid;

use super::{MAX_ATTEMPTS, Registry, check_revision};
use crate::error::{Error, Result};
use crate::lifecycle::{self, NodeEvent, PortEvent, PortNext};
use crate::model::*;
use crate::store::{Store, Txn, keys};
use crate::validation as v;

impl<S: Store> Registry<S> {
    /// Registers the node of a hello, or refreshes what the agent reports about it (version,
    /// capabilities, VTEP); roles are set at registration and then belong to orchestrators.
    pub async fn register_node(&self, id: Uuid, hello: &pb::Hello) -> Result<Node> {
        let wire = pb::Node {
            meta: Some(pb::ObjectMeta {
                id: id.to_string(),
                name: if hello.node_name.is_empty() {
                    id.to_string()[..8].to_string()
                } else {
                    hello.node_name.clone()
                },
                ..Default::default()
            }),
            underlay_ip: hello.underlay_ip.clone(),
            roles: if hello.roles.is_empty() {
                vec![pb::NodeRole::Compute as i32]
            } else {
                hello.roles.clone()
            },
            agent_version: hello.agent_version.clone(),
            capabilities: hello.capabilities.clone(),
            ..Default::default()
        };
        let reported = v::parse_node(&wire, SystemTime::now())?;
        for _ in 0..MAX_ATTEMPTS {
            let old: Node = match self.load(id, "hello.node_id").await {
                Ok(node) => node,
                Err(Error::NotFound { .. }) => {
                    let mut node = reported.clone();
                    node.last_seen = Some(SystemTime::now());
                    if self.create_simple(&mut node, &[]).await?.is_some() {
                        return Ok(node);
                    }
                    continue;
                }
                Err(err) => return Err(err),
            };
            if old.agent_version == reported.agent_version
                && old.capabilities == reported.capabilities
                && old.underlay_ip == reported.underlay_ip
            {
                return Ok(old);
            }
            let mut node = old.clone();
            node.agent_version = reported.agent_version.clone();
            node.capabilities = reported.capabilities.clone();
            node.underlay_ip = reported.underlay_ip;
            node.last_seen = Some(SystemTime::now());
            if self.replace(&old, &mut node, &[]).await?.is_some() {
                return Ok(node);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Moves a node's state on an agent event and records the revision it applied; writes nothing
    /// when neither changes.
    pub async fn node_event(&self, id: Uuid, event: NodeEvent, applied: Revision) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            let old: Node = match self.load(id, "id").await {
                Ok(node) => node,
                Err(Error::NotFound { .. }) => return Ok(()),
                Err(err) => return Err(err),
            };
            let state = lifecycle::node_next(old.state, event)?;
            let applied = applied.max(old.applied_revision);
            if state == old.state && applied == old.applied_revision {
                return Ok(());
            }
            let mut node = old.clone();
            node.state = state;
            node.applied_revision = applied;
            node.last_seen = Some(SystemTime::now());
            if self.replace(&old, &mut node, &[]).await?.is_some() {
                return Ok(());
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The port's node acknowledged `acked`: a pending port at or before it becomes programmed, a
    /// deleting one is removed with its addresses. Returns true when it wrote.
    pub async fn port_applied(&self, id: Uuid, acked: Revision) -> Result<bool> {
        for _ in 0..MAX_ATTEMPTS {
            let old: Port = match self.load(id, "id").await {
                Ok(port) => port,
                Err(Error::NotFound { .. }) => return Ok(false),
                Err(err) => return Err(err),
            };
            if old.meta.revision > acked || old.state == PortState::Programmed {
                return Ok(false);
            }
            match lifecycle::port_next(old.state, PortEvent::Applied)? {
                PortNext::Removed => {
                    return match self
                        .delete::<Port>(&id.to_string(), old.meta.revision)
                        .await
                    {
                        Ok(_) => Ok(true),
                        Err(Error::StaleRevision { .. } | Error::NotFound { .. }) => Ok(false),
                        Err(err) => Err(err),
                    };
                }
                PortNext::State(state) => {
                    let mut port = old.clone();
                    port.state = state;
                    if self.replace(&old, &mut port, &[]).await?.is_some() {
                        return Ok(true);
                    }
                }
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The orchestrator's delete of a port: refused while a load balancer uses it; otherwise the port
    /// goes to `deleting` and leaves its node, and is removed (addresses released) once the node
    /// acknowledges. A port on a node that never applied anything (`pending`) is removed at once.
    pub async fn delete_port(&self, id: &str, revision: i64) -> Result<Revision> {
        let id = v::parse_id("id", id)?;
        let revision = v::parse_revision("revision", revision)?;
        for _ in 0..MAX_ATTEMPTS {
            let old: Port = self.load(id, "id").await?;
            check_revision(Kind::Port, id, revision, old.meta.revision)?;
            let node: Option<Node> = self.load(old.node_id, "port.node_id").await.ok();
            if node.is_none_or(|n| n.state == NodeState::Pending) {
                return self
                    .delete::<Port>(&id.to_string(), old.meta.revision)
                    .await;
            }
            if old.state == PortState::Deleting {
                return Ok(old.meta.revision);
            }
            let (users, read_at) = self.users(Kind::Port, id).await?;
            if !users.is_empty() {
                return Err(Error::InUse {
                    kind: Kind::Port,
                    id,
                    users,
                });
            }
            let mut port = old.clone();
            if let PortNext::State(s) = lifecycle::port_next(old.state, PortEvent::Delete)? {
                port.state = s;
            }
            let mut txn = Txn::default();
            let key = keys::object(Kind::Port, id);
            txn.expect(key.clone(), old.meta.revision)
                .expect_prefix_unchanged(keys::refs(Kind::Port, id), read_at);
            port.meta.updated_at = SystemTime::now();
            txn.put(key, crate::codec::encode(&port));
            if let Some(r) = self.commit(txn).await? {
                return Ok(r);
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}
