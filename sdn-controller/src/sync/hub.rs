//! The sync engine of one replica: a mirror of the store's objects driven by its watch, the sessions
//! of the agents connected here, their acks, and the receipts and waits built on them.
//!
//! For each committed revision the engine applies the changes to its [`World`], asks the index which
//! nodes they concern, recomputes only those nodes' desired state (pure [`desired_for`]), diffs it with
//! what each was last sent and pushes the delta into the node's bounded [`Outbox`], never waiting.
//!
//! **Architecture Invariant**: the state lock is never held across an `.await`; no agent, however slow,
//! can hold up the engine, the API or another agent.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use sdn_proto::v1 as pb;
use tokio::sync::watch;
use uuid::Uuid;

use super::outbox::{Outbox, Pushed};
use super::progress::{Progress, Receipt};
use crate::codec;
use crate::desired::{DesiredState, desired_for, diff};
use crate::error::{Error, Result};
use crate::fanout::{Change, World};
use crate::lifecycle::NodeEvent;
use crate::metrics::Metrics;
use crate::model::*;
use crate::registry::Registry;
use crate::store::{Event, EventKind, Store, keys};

/// Tunables of the sync engine.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Messages an agent may have waiting before it is switched to a fresh snapshot.
    pub queue_capacity: usize,
    /// How long a disconnected node's last acknowledged state is kept to resume it by delta.
    pub retain: Duration,
    /// Revisions whose commit time and affected nodes are remembered (receipts, waits, latencies).
    pub history: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            queue_capacity: 64,
            retain: Duration::from_secs(600),
            history: 100_000,
        }
    }
}

/// An agent connected to this replica.
#[derive(Debug)]
struct Session {
    epoch: u64,
    /// What the node was last sent (the base of its next delta).
    cache: DesiredState,
    /// Revision of the last message sent or owed.
    sent: Revision,
    /// Revision the agent last acknowledged on this stream.
    acked: Revision,
    outbox: Arc<Outbox>,
}

/// A disconnected node's last acknowledged state, to resume it by delta.
#[derive(Debug)]
struct Retained {
    revision: Revision,
    state: DesiredState,
    since: Instant,
}

#[derive(Debug)]
struct State {
    world: World,
    loaded: bool,
    sessions: HashMap<Uuid, Session>,
    retained: HashMap<Uuid, Retained>,
    progress: Progress,
    next_epoch: u64,
    inflight: HashSet<Uuid>,
}

struct Inner<S> {
    registry: Registry<S>,
    config: HubConfig,
    metrics: Metrics,
    state: Mutex<State>,
    /// The revision the world reflects; waiters watch it.
    revision: watch::Sender<Revision>,
    /// Bumped on every ack and revision; waiters re-check on it.
    tick: watch::Sender<u64>,
}

/// The sync engine; clones share it.
pub struct Hub<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Hub<S> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Hub<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// A session handle for the stream that owns it.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// The node.
    pub node_id: Uuid,
    /// Which session of the node (a newer stream replaces an older one).
    pub epoch: u64,
    /// The node's outbox.
    pub outbox: Arc<Outbox>,
}

/// Where a connected node stands, for metrics and `sdnctl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The node.
    pub node_id: Uuid,
    /// Last revision sent or owed.
    pub sent: Revision,
    /// Last revision acknowledged.
    pub acked: Revision,
    /// Messages waiting in its outbox.
    pub queued: usize,
    /// true while it waits for a fresh snapshot.
    pub resyncing: bool,
}

impl<S: Store> Hub<S> {
    /// A hub over `registry`'s store; call [`Hub::run`] (or [`Hub::start`]) to follow the store.
    pub fn new(registry: Registry<S>, config: HubConfig, metrics: Metrics) -> Hub<S> {
        Hub {
            inner: Arc::new(Inner {
                registry,
                state: Mutex::new(State {
                    world: World::new(0),
                    loaded: false,
                    sessions: HashMap::new(),
                    retained: HashMap::new(),
                    progress: Progress::new(config.history),
                    next_epoch: 1,
                    inflight: HashSet::new(),
                }),
                config,
                metrics,
                revision: watch::channel(0).0,
                tick: watch::channel(0).0,
            }),
        }
    }

    /// A hub following the store in a background task.
    pub fn start(registry: Registry<S>, config: HubConfig, metrics: Metrics) -> Hub<S> {
        let hub = Hub::new(registry, config, metrics);
        tokio::spawn(hub.clone().run());
        hub
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The registry the hub writes agent-driven steps through.
    pub fn registry(&self) -> &Registry<S> {
        &self.inner.registry
    }

    /// The revision the hub's world reflects (0 before the first load).
    pub fn revision(&self) -> Revision {
        *self.inner.revision.borrow()
    }

    /// Follows the store for ever: load, then apply the watch; reload on any watch failure
    /// (compaction, etcd restart), reconciling every connected node by delta.
    pub async fn run(self) {
        loop {
            match self.follow().await {
                Ok(()) => tracing::warn!("store watch ended; reloading"),
                Err(err) => tracing::warn!(error = %err, "store watch failed; reloading"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Lists every object kind at one revision (retrying while writes land between the lists).
    async fn load(&self) -> Result<World> {
        let store = self.inner.registry.store();
        let mut last = None;
        for _ in 0..20 {
            let mut world = World::new(0);
            let mut revisions = Vec::new();
            for kind in keys::OBJECT_KINDS {
                let listing = store.list(&keys::objects(kind), "", 0).await?;
                revisions.push(listing.revision);
                for kv in &listing.kvs {
                    let Some((kind, _)) = keys::parse_object(&kv.key) else {
                        continue;
                    };
                    match codec::decode_stored(kind, &kv.key, &kv.value, kv.mod_revision) {
                        Ok(obj) => {
                            world.apply(Change::Put(obj));
                        }
                        Err(err) => tracing::error!(key = %kv.key, error = %err, "skipping object"),
                    }
                }
            }
            let max = revisions.iter().copied().max().unwrap_or(0);
            world.set_revision(max);
            if revisions.iter().all(|r| *r == max) {
                return Ok(world);
            }
            last = Some(world);
        }
        // Writers never paused between two lists: take the last load; the watch replays from it.
        Ok(last.unwrap_or_default())
    }

    async fn follow(&self) -> Result<()> {
        let world = self.load().await?;
        let from = world.revision() + 1;
        let mut watch = self.inner.registry.store().watch(keys::ROOT, from).await?;
        self.install(world);
        while let Some(batch) = watch.next().await {
            self.apply(batch?);
        }
        Ok(())
    }

    /// Replaces the world (first load or reload) and brings every connected node to it.
    fn install(&self, world: World) {
        let mut st = self.lock();
        let st = &mut *st;
        let revision = world.revision();
        st.world = world;
        st.loaded = true;
        let nodes: Vec<Uuid> = st.sessions.keys().copied().collect();
        for node in nodes {
            push_delta(st, &self.inner.metrics, node, revision);
        }
        self.inner.revision.send_replace(revision);
        self.inner.tick.send_modify(|t| *t += 1);
        tracing::info!(revision, "world loaded");
    }

    /// Applies one committed revision's events.
    fn apply(&self, batch: Vec<Event>) {
        let Some(revision) = batch.first().map(|e| e.revision) else {
            return;
        };
        let now = SystemTime::now();
        let mut st = self.lock();
        let st = &mut *st;
        if revision <= st.world.revision() {
            return;
        }
        let mut affected = BTreeSet::new();
        for e in &batch {
            let Some((kind, id)) = keys::parse_object(&e.key) else {
                continue;
            };
            let change = match e.kind {
                EventKind::Delete => Change::Delete(kind, id),
                EventKind::Put => match codec::decode_stored(kind, &e.key, &e.value, e.revision) {
                    Ok(obj) => Change::Put(obj),
                    Err(err) => {
                        tracing::error!(key = %e.key, error = %err, "skipping object");
                        continue;
                    }
                },
            };
            affected.extend(st.world.apply(change));
        }
        st.world.set_revision(revision);
        for node in &affected {
            if st.sessions.contains_key(node) {
                push_delta(st, &self.inner.metrics, *node, revision);
            }
        }
        st.progress
            .committed(revision, now, affected.into_iter().collect());
        self.inner.revision.send_replace(revision);
        self.inner.tick.send_modify(|t| *t += 1);
    }

    /// Waits until the world reflects `revision`, up to `deadline`.
    async fn reach(&self, revision: Revision, deadline: tokio::time::Instant) -> bool {
        let mut rx = self.inner.revision.subscribe();
        tokio::time::timeout_at(deadline, rx.wait_for(|r| *r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Opens a node's session after its hello: registers the node, then queues either a delta from
    /// the state it last acknowledged here (when this replica still holds it) or a snapshot.
    pub async fn open(&self, node_id: Uuid, hello: &pb::Hello) -> Result<SessionHandle> {
        let node = self.inner.registry.register_node(node_id, hello).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        if !self.reach(node.meta.revision, deadline).await {
            return Err(Error::SyncBehind {
                revision: node.meta.revision,
            });
        }
        let outbox = Arc::new(Outbox::new(self.inner.config.queue_capacity));
        let mut st = self.lock();
        let st = &mut *st;
        let revision = st.world.revision();
        if let Some(old) = st.sessions.remove(&node_id) {
            old.outbox.close();
        }
        let epoch = st.next_epoch;
        st.next_epoch += 1;
        let retain = self.inner.config.retain;
        st.retained.retain(|_, r| r.since.elapsed() < retain);
        let last = hello.last_applied_revision;
        let mut session = Session {
            epoch,
            cache: DesiredState::default(),
            sent: revision,
            acked: last.min(revision),
            outbox: outbox.clone(),
        };
        match st.retained.remove(&node_id) {
            Some(r) if last > 0 && r.revision == last => {
                let current = desired_for(st.world.snapshot(), node_id);
                let change = diff(&r.state, &current);
                outbox.push(codec::delta_message(last, revision, &current, &change));
                session.cache = current;
                self.inner.metrics.deltas.inc();
                tracing::info!(node = %node_id, from = last, to = revision, "agent resumes by delta");
            }
            _ => {
                outbox.request_snapshot();
                tracing::info!(node = %node_id, last_applied = last, revision, "agent gets a snapshot");
            }
        }
        st.sessions.insert(node_id, session);
        self.inner.metrics.agents.set(st.sessions.len() as i64);
        Ok(SessionHandle {
            node_id,
            epoch,
            outbox,
        })
    }

    /// Builds the snapshot a session owes, at the world's revision; None when the session ended.
    pub fn snapshot(&self, handle: &SessionHandle) -> Option<pb::ControllerMessage> {
        let mut st = self.lock();
        let st = &mut *st;
        let revision = st.world.revision();
        let state = desired_for(st.world.snapshot(), handle.node_id);
        let session = st.sessions.get_mut(&handle.node_id)?;
        if session.epoch != handle.epoch {
            return None;
        }
        session.outbox.begin_snapshot();
        let msg = codec::snapshot_message(revision, &state);
        session.cache = state;
        session.sent = revision;
        self.inner.metrics.snapshots.inc();
        Some(msg)
    }

    /// Records an ack; refused when it names a revision this stream was never sent.
    pub fn ack(&self, handle: &SessionHandle, ack: &pb::Ack) -> Result<()> {
        let now = SystemTime::now();
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(session) = st.sessions.get_mut(&handle.node_id) else {
            return Ok(());
        };
        if session.epoch != handle.epoch {
            return Ok(());
        }
        if ack.revision > session.sent {
            return Err(Error::Inconsistent {
                field: "ack.revision".into(),
                rule: "acknowledge only a revision the controller sent on this stream",
            });
        }
        if ack.revision <= session.acked {
            return Ok(());
        }
        session.acked = ack.revision;
        let lag = session.sent - session.acked;
        for e in &ack.errors {
            tracing::warn!(node = %handle.node_id, id = %e.id, reason = %e.reason, "agent could not apply an object");
        }
        if let Some(latency) = st.progress.acked(handle.node_id, ack.revision, now) {
            self.inner
                .metrics
                .propagation
                .observe(latency.as_secs_f64());
        }
        self.inner
            .metrics
            .node_lag
            .with_label_values(&[&handle.node_id.to_string()])
            .set(lag);
        // Steps the ack unlocks: the node's state, its pending and deleting ports.
        let mut ports = Vec::new();
        for p in st.world.snapshot().ports_of_node(handle.node_id) {
            if p.state != PortState::Programmed
                && p.meta.revision <= ack.revision
                && st.inflight.insert(p.meta.id)
            {
                ports.push(p.meta.id);
            }
        }
        let node_step = st
            .world
            .snapshot()
            .node(handle.node_id)
            .is_some_and(|n| matches!(n.state, NodeState::Pending | NodeState::Unreachable))
            && st.inflight.insert(handle.node_id);
        drop(guard);
        self.inner.tick.send_modify(|t| *t += 1);
        if node_step || !ports.is_empty() {
            let hub = self.clone();
            let (node, revision) = (handle.node_id, ack.revision);
            tokio::spawn(async move {
                let reg = hub.registry();
                if node_step {
                    if let Err(err) = reg.node_event(node, NodeEvent::Applied, revision).await {
                        tracing::warn!(%node, error = %err, "node state step failed");
                    }
                    hub.lock().inflight.remove(&node);
                }
                for port in ports {
                    if let Err(err) = reg.port_applied(port, revision).await {
                        tracing::warn!(%port, error = %err, "port step failed");
                    }
                    hub.lock().inflight.remove(&port);
                }
            });
        }
        Ok(())
    }

    /// Ends a session (stream closed); keeps its state for a resume when it was fully acknowledged.
    pub fn close(&self, handle: &SessionHandle) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(session) = st.sessions.get(&handle.node_id) else {
            return;
        };
        if session.epoch != handle.epoch {
            return;
        }
        let Some(session) = st.sessions.remove(&handle.node_id) else {
            return;
        };
        session.outbox.close();
        let acked = session.acked;
        if session.acked == session.sent && !session.outbox.resyncing() {
            st.retained.insert(
                handle.node_id,
                Retained {
                    revision: session.sent,
                    state: session.cache,
                    since: Instant::now(),
                },
            );
        }
        self.inner.metrics.agents.set(st.sessions.len() as i64);
        let _ = self
            .inner
            .metrics
            .node_lag
            .remove_label_values(&[&handle.node_id.to_string()]);
        drop(guard);
        self.inner.tick.send_modify(|t| *t += 1);
        let hub = self.clone();
        let node = handle.node_id;
        tokio::spawn(async move {
            if hub.lock().sessions.contains_key(&node) {
                return;
            }
            if let Err(err) = hub
                .registry()
                .node_event(node, NodeEvent::Lost, acked)
                .await
            {
                tracing::warn!(%node, error = %err, "node state step failed");
            }
        });
        tracing::info!(node = %handle.node_id, acked, "agent disconnected");
    }

    /// Where each connected node stands.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let st = self.lock();
        let mut out: Vec<SessionInfo> = st
            .sessions
            .iter()
            .map(|(id, s)| SessionInfo {
                node_id: *id,
                sent: s.sent,
                acked: s.acked,
                queued: s.outbox.len(),
                resyncing: s.outbox.resyncing(),
            })
            .collect();
        out.sort_by_key(|s| s.node_id);
        out
    }

    /// The kind and revision of an object the world holds.
    fn find(st: &State, id: Uuid) -> Option<(Kind, Revision)> {
        let s = st.world.snapshot();
        s.node(id)
            .map(|o| (Kind::Node, o.meta.revision))
            .or_else(|| s.network(id).map(|o| (Kind::Network, o.meta.revision)))
            .or_else(|| s.port(id).map(|o| (Kind::Port, o.meta.revision)))
            .or_else(|| s.group(id).map(|o| (Kind::SecurityGroup, o.meta.revision)))
            .or_else(|| {
                s.load_balancer(id)
                    .map(|o| (Kind::LoadBalancer, o.meta.revision))
            })
    }

    /// The convergence receipt of any object at its current revision.
    pub fn receipt(&self, id: Uuid) -> Result<Receipt> {
        let st = self.lock();
        let (kind, revision) = Self::find(&st, id).ok_or_else(|| Error::NotFound {
            field: "id".into(),
            kind: Kind::Node,
            id: id.to_string(),
        })?;
        let must = st.world.concerned(kind, id);
        Ok(receipt_of(&st, id, revision, &must))
    }

    /// Waits until every node concerned by `id`'s change at `revision` applied it, or fails with
    /// `WaitTimeout` naming the laggards after `timeout`. The change itself stays committed.
    pub async fn wait(
        &self,
        kind: Kind,
        id: Uuid,
        revision: Revision,
        timeout: Duration,
    ) -> Result<Receipt> {
        let deadline = tokio::time::Instant::now() + timeout;
        let reached = self.reach(revision, deadline).await;
        let must: BTreeSet<Uuid> = {
            let st = self.lock();
            let mut must = st.world.concerned(kind, id);
            must.extend(st.progress.affected(revision).unwrap_or_default());
            must
        };
        let mut tick = self.inner.tick.subscribe();
        loop {
            tick.borrow_and_update();
            let receipt = receipt_of(&self.lock(), id, revision, &must);
            if reached && receipt.converged() {
                return Ok(receipt);
            }
            let timed_out = tokio::time::timeout_at(deadline, tick.changed())
                .await
                .is_err();
            if timed_out || !reached {
                let mut lagging: Vec<String> = receipt
                    .lagging
                    .iter()
                    .map(|m| format!("{} ({})", m.name, m.node_id))
                    .collect();
                if !reached {
                    lagging.push("this controller replica (its store watch is behind)".into());
                }
                return Err(Error::WaitTimeout {
                    kind,
                    id,
                    revision,
                    lagging,
                });
            }
        }
    }
}

/// Where a node stands: a connected node with nothing unacknowledged is at the world's revision.
fn stands_at(st: &State, node: Uuid) -> Revision {
    match st.sessions.get(&node) {
        Some(s) if s.acked >= s.sent && !s.outbox.resyncing() => st.world.revision(),
        Some(s) => s.acked,
        None => st.progress.acked_revision(node).max(
            st.world
                .snapshot()
                .node(node)
                .map_or(0, |n| n.applied_revision),
        ),
    }
}

fn receipt_of(st: &State, id: Uuid, revision: Revision, must: &BTreeSet<Uuid>) -> Receipt {
    st.progress.receipt(id, revision, must, |node| {
        let name = st
            .world
            .snapshot()
            .node(node)
            .map_or_else(|| node.to_string(), |n| n.meta.name.clone());
        (name, stands_at(st, node))
    })
}

/// Recomputes a connected node's desired state and queues the delta since what it was last sent.
fn push_delta(st: &mut State, metrics: &Metrics, node: Uuid, revision: Revision) {
    let Some(session) = st.sessions.get_mut(&node) else {
        return;
    };
    if session.outbox.resyncing() {
        session.sent = revision;
        return;
    }
    let current = desired_for(st.world.snapshot(), node);
    let change = diff(&session.cache, &current);
    if change.is_empty() {
        return;
    }
    let msg = codec::delta_message(session.sent, revision, &current, &change);
    session.cache = current;
    session.sent = revision;
    match session.outbox.push(msg) {
        Pushed::Queued => metrics.deltas.inc(),
        Pushed::Overflowed => {
            metrics.overflows.inc();
            tracing::warn!(%node, "agent too slow: its backlog is replaced by a snapshot");
        }
        Pushed::Resyncing => {}
    }
    metrics
        .node_lag
        .with_label_values(&[&node.to_string()])
        .set(session.sent - session.acked);
}
