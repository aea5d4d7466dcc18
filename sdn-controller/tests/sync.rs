//! The agent sync service against a real etcd, with in-process agents speaking the real protocol:
//! snapshot then deltas, only a node's own objects, overflow into a snapshot for a stuck agent while
//! the others keep converging, resume by delta, receipts and waits naming laggards, and ports that go
//! through `deleting` until their node acknowledges.

use std::collections::BTreeMap;
use std::time::Duration;

use sdn_controller::api::ApiService;
use sdn_controller::etcd_server::EtcdServer;
use sdn_controller::metrics::Metrics;
use sdn_controller::registry::Registry;
use sdn_controller::store::etcd::EtcdStore;
use sdn_controller::sync::{Hub, HubConfig, SyncService};
use sdn_proto::v1 as pb;
use sdn_proto::v1::agent_sync_client::AgentSyncClient;
use sdn_proto::v1::controller_client::ControllerClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::{Channel, Endpoint};

struct Controller {
    _etcd: EtcdServer,
    url: String,
    metrics: Metrics,
}

async fn controller(queue_capacity: usize) -> Controller {
    let etcd = EtcdServer::start();
    let store = EtcdStore::connect(&[etcd.endpoint().to_string()])
        .await
        .unwrap();
    let metrics = Metrics::new();
    let config = HubConfig {
        queue_capacity,
        ..HubConfig::default()
    };
    let hub = Hub::start(Registry::new(store), config, metrics.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let api = ApiService::with_sync(hub.clone(), metrics.clone(), false);
    let sync = SyncService::new(hub, false);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(api.into_server())
            .add_service(sync.into_server())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Controller {
        _etcd: etcd,
        url,
        metrics,
    }
}

/// An agent: the real stream, an in-memory "dataplane" of desired objects keyed by (kind, id).
struct Agent {
    node_id: String,
    tx: mpsc::Sender<pb::AgentMessage>,
    rx: tonic::Streaming<pb::ControllerMessage>,
    objects: BTreeMap<(i32, String), pb::DesiredObject>,
    revision: i64,
}

fn key(o: &pb::DesiredObject) -> (i32, String) {
    use pb::desired_object::Object as O;
    match o.object.as_ref().unwrap() {
        O::Port(p) => (
            pb::ObjectKind::Port as i32,
            p.meta.as_ref().unwrap().id.clone(),
        ),
        O::Network(n) => (
            pb::ObjectKind::Network as i32,
            n.network
                .as_ref()
                .unwrap()
                .meta
                .as_ref()
                .unwrap()
                .id
                .clone(),
        ),
        O::SecurityGroup(g) => (
            pb::ObjectKind::SecurityGroup as i32,
            g.meta.as_ref().unwrap().id.clone(),
        ),
        O::AddressSet(a) => (pb::ObjectKind::AddressSet as i32, a.group_id.clone()),
        O::LoadBalancer(l) => (
            pb::ObjectKind::LoadBalancer as i32,
            l.load_balancer
                .as_ref()
                .unwrap()
                .meta
                .as_ref()
                .unwrap()
                .id
                .clone(),
        ),
        O::Node(n) => (
            pb::ObjectKind::Node as i32,
            n.meta.as_ref().unwrap().id.clone(),
        ),
    }
}

impl Agent {
    async fn connect(url: &str, n: u8, last_applied: i64) -> Agent {
        Self::connect_with(
            n,
            last_applied,
            Endpoint::from_shared(url.to_string()).unwrap(),
        )
        .await
    }

    async fn connect_with(n: u8, last_applied: i64, endpoint: Endpoint) -> Agent {
        let channel = endpoint.connect().await.unwrap();
        let mut client = AgentSyncClient::new(channel);
        let (tx, out) = mpsc::channel(16);
        let node_id = format!("00000000-0000-0000-0000-0000000000{n:02x}");
        tx.send(pb::AgentMessage {
            message: Some(pb::agent_message::Message::Hello(pb::Hello {
                node_id: node_id.clone(),
                node_name: format!("hv-{n}"),
                last_applied_revision: last_applied,
                agent_version: "test".into(),
                underlay_ip: format!("198.18.0.{n}"),
                roles: vec![pb::NodeRole::Compute as i32],
                ..Default::default()
            })),
        })
        .await
        .unwrap();
        let rx = client
            .sync(ReceiverStream::new(out))
            .await
            .unwrap()
            .into_inner();
        Agent {
            node_id,
            tx,
            rx,
            objects: BTreeMap::new(),
            revision: last_applied,
        }
    }

    /// Receives and applies one message; returns it.
    async fn step(&mut self) -> pb::ControllerMessage {
        let msg = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("a message within 10 s")
            .unwrap()
            .expect("stream open");
        self.apply(msg.clone());
        msg
    }

    async fn ack(&self) {
        self.tx
            .send(pb::AgentMessage {
                message: Some(pb::agent_message::Message::Ack(pb::Ack {
                    revision: self.revision,
                    ..Default::default()
                })),
            })
            .await
            .unwrap();
    }

    /// Applies and acks messages until none comes for `quiet`.
    async fn drain(&mut self, quiet: Duration) -> usize {
        let mut n = 0;
        while let Ok(Some(Ok(msg))) =
            tokio::time::timeout(quiet, futures_util::StreamExt::next(&mut self.rx)).await
        {
            self.apply(msg);
            self.ack().await;
            n += 1;
        }
        n
    }

    fn apply(&mut self, msg: pb::ControllerMessage) {
        match msg.message.unwrap() {
            pb::controller_message::Message::Snapshot(s) => {
                self.objects = s.objects.iter().map(|o| (key(o), o.clone())).collect();
                self.revision = s.revision;
            }
            pb::controller_message::Message::Delta(d) => {
                assert_eq!(d.base_revision, self.revision, "delta applies on our state");
                for o in &d.upserts {
                    self.objects.insert(key(o), o.clone());
                }
                for r in &d.removals {
                    self.objects.remove(&(r.kind, r.id.clone()));
                }
                self.revision = d.revision;
            }
        }
    }

    fn has(&self, kind: pb::ObjectKind, id: &str) -> bool {
        self.objects.contains_key(&(kind as i32, id.to_string()))
    }

    /// Runs the agent in the background: apply and ack everything.
    fn spawn(mut self) -> tokio::task::JoinHandle<Agent> {
        tokio::spawn(async move {
            while let Some(Ok(msg)) = futures_util::StreamExt::next(&mut self.rx).await {
                self.apply(msg);
                self.ack().await;
            }
            self
        })
    }
}

fn is_snapshot(m: &pb::ControllerMessage) -> bool {
    matches!(
        m.message,
        Some(pb::controller_message::Message::Snapshot(_))
    )
}

async fn api(url: &str) -> ControllerClient<Channel> {
    ControllerClient::connect(url.to_string()).await.unwrap()
}

fn wait(ms: u64) -> Option<pb::Wait> {
    Some(pb::Wait {
        timeout: Some(Duration::from_millis(ms).try_into().unwrap()),
    })
}

fn tcp(port: u32) -> pb::SecurityRule {
    pb::SecurityRule {
        direction: pb::Direction::Ingress as i32,
        protocol: Some(pb::security_rule::Protocol::ProtocolName(
            pb::ProtocolName::Tcp as i32,
        )),
        port_from: port,
        ..Default::default()
    }
}

async fn network(api: &mut ControllerClient<Channel>) -> pb::PrivateNetwork {
    api.create_network(pb::CreateNetworkRequest {
        network: Some(pb::PrivateNetwork {
            meta: Some(pb::ObjectMeta {
                name: "net".into(),
                ..Default::default()
            }),
            ipv4_cidr: "198.18.10.0/24".into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap()
    .into_inner()
    .network
    .unwrap()
}

async fn group(api: &mut ControllerClient<Channel>, name: &str) -> pb::SecurityGroup {
    api.create_security_group(pb::CreateSecurityGroupRequest {
        group: Some(pb::SecurityGroup {
            meta: Some(pb::ObjectMeta {
                name: name.into(),
                ..Default::default()
            }),
            rules: vec![tcp(22)],
            ..Default::default()
        }),
    })
    .await
    .unwrap()
    .into_inner()
    .group
    .unwrap()
}

fn port_req(node: &str, net: &pb::PrivateNetwork, groups: &[&pb::SecurityGroup]) -> pb::Port {
    pb::Port {
        meta: Some(pb::ObjectMeta {
            name: "p".into(),
            ..Default::default()
        }),
        instance_id: "vm".into(),
        node_id: node.into(),
        network_id: net.meta.as_ref().unwrap().id.clone(),
        security_group_ids: groups
            .iter()
            .map(|g| g.meta.as_ref().unwrap().id.clone())
            .collect(),
        ..Default::default()
    }
}

fn id_of(meta: &Option<pb::ObjectMeta>) -> String {
    meta.as_ref().unwrap().id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_deltas_only_own_objects_receipts_and_waits() {
    let c = controller(64).await;
    let mut api = api(&c.url).await;
    let net = network(&mut api).await;
    let web = group(&mut api, "web").await;

    // Two agents register through their hello and get an empty snapshot.
    let mut a = Agent::connect(&c.url, 1, 0).await;
    let mut b = Agent::connect(&c.url, 2, 0).await;
    for agent in [&mut a, &mut b] {
        assert!(is_snapshot(&agent.step().await));
        assert!(agent.objects.is_empty());
        agent.ack().await;
    }

    // A port on hv-1: a delta to hv-1 only (its port, network, group); hv-2 hears nothing.
    let pa = api
        .create_port(pb::CreatePortRequest {
            port: Some(port_req(&a.node_id, &net, &[&web])),
            wait: None,
        })
        .await
        .unwrap()
        .into_inner()
        .port
        .unwrap();
    let msg = a.step().await;
    assert!(!is_snapshot(&msg));
    let pa_id = id_of(&pa.meta);
    assert!(a.has(pb::ObjectKind::Port, &pa_id));
    assert!(a.has(pb::ObjectKind::Network, &id_of(&net.meta)));
    assert!(a.has(pb::ObjectKind::SecurityGroup, &id_of(&web.meta)));
    a.ack().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.rx.message())
            .await
            .is_err(),
        "hv-2 gets nothing about hv-1's port"
    );

    // From now on both agents apply and ack in the background.
    let (a, b) = (a.spawn(), b.spawn());

    // A port on hv-2 in the same network, waiting for convergence: hv-2 hosts it, hv-1 neighbours it.
    let resp = api
        .create_port(pb::CreatePortRequest {
            port: Some(port_req("00000000-0000-0000-0000-000000000002", &net, &[])),
            wait: wait(5000),
        })
        .await
        .unwrap()
        .into_inner();
    let pb_port = resp.port.unwrap();
    let receipt = resp.receipt.expect("a waited call carries its receipt");
    assert!(receipt.converged);
    let mut applied: Vec<&str> = receipt
        .applied
        .iter()
        .map(|m| m.node_name.as_str())
        .collect();
    applied.sort();
    assert_eq!(applied, ["hv-1", "hv-2"]);
    assert!(receipt.applied.iter().all(|m| m.apply_latency.is_some()));

    // A group change waits for the one node using it.
    let mut g = web.clone();
    g.rules.push(tcp(443));
    let resp = api
        .update_security_group(pb::UpdateSecurityGroupRequest {
            group: Some(g),
            wait: wait(5000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let receipt = resp.receipt.unwrap();
    assert_eq!(receipt.applied.len(), 1);
    assert_eq!(receipt.applied[0].node_name, "hv-1");

    // GetConvergence of the port on hv-2 (it became programmed once hv-2 acked).
    let pb_id = id_of(&pb_port.meta);
    let mut port_state = 0;
    for _ in 0..100 {
        let p = api
            .get_port(pb::GetRequest { id: pb_id.clone() })
            .await
            .unwrap()
            .into_inner()
            .port
            .unwrap();
        port_state = p.state;
        if port_state == pb::PortState::Programmed as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(port_state, pb::PortState::Programmed as i32);
    let r = api
        .get_convergence(pb::GetConvergenceRequest { id: pb_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(r.converged, "{r:?}");
    assert_eq!(r.applied.len(), 2);

    // Deleting hv-1's port: it goes to deleting, leaves hv-1, and is removed once hv-1 acks.
    let del = api
        .delete_port(pb::DeleteRequest {
            id: pa_id.clone(),
            revision: 0,
            wait: wait(5000),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        del.receipt
            .unwrap()
            .applied
            .iter()
            .any(|m| m.node_name == "hv-1")
    );
    let mut gone = false;
    for _ in 0..100 {
        if let Err(e) = api.get_port(pb::GetRequest { id: pa_id.clone() }).await {
            assert_eq!(e.code(), tonic::Code::NotFound);
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the port is removed after its node acked");
    // hv-2's agent goes away: a change of its port's network waits and names it.
    b.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut n = net.clone();
    n.meta.as_mut().unwrap().revision = api
        .get_network(pb::GetRequest {
            id: id_of(&net.meta),
        })
        .await
        .unwrap()
        .into_inner()
        .network
        .unwrap()
        .meta
        .unwrap()
        .revision;
    n.description = "changed".into();
    let err = api
        .update_network(pb::UpdateNetworkRequest {
            network: Some(n),
            wait: wait(300),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded);
    assert!(err.message().contains("hv-2"), "{}", err.message());
    assert!(!err.message().contains("hv-1"), "{}", err.message());

    a.abort();
    assert!(c.metrics.render().contains("sdn_propagation_seconds_count"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_agent_gets_a_snapshot_and_slows_nobody() {
    let c = controller(4).await;
    let mut api = api(&c.url).await;
    let net = network(&mut api).await;
    let slow_group = group(&mut api, "slow").await;
    let fast_group = group(&mut api, "fast").await;

    // The slow agent reads through a tiny HTTP/2 window, so unread deltas pile up in its outbox.
    let tiny = Endpoint::from_shared(c.url.clone())
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024));
    let mut slow = Agent::connect_with(3, 0, tiny).await;
    assert!(is_snapshot(&slow.step().await));
    slow.ack().await;
    let fast = Agent::connect(&c.url, 4, 0).await;
    let fast = fast.spawn();
    for (node, g) in [(3, &slow_group), (4, &fast_group)] {
        api.create_port(pb::CreatePortRequest {
            port: Some(port_req(
                &format!("00000000-0000-0000-0000-0000000000{node:02x}"),
                &net,
                &[g],
            )),
            wait: None,
        })
        .await
        .unwrap();
    }

    // Many changes of the slow agent's group, each one with many rules (large deltas).
    let mut g = slow_group.clone();
    for i in 0..40 {
        g.meta.as_mut().unwrap().revision = api
            .get_security_group(pb::GetRequest { id: id_of(&g.meta) })
            .await
            .unwrap()
            .into_inner()
            .group
            .unwrap()
            .meta
            .unwrap()
            .revision;
        g.rules = (1..=60).map(|p| tcp(1000 * (i % 7 + 1) + p)).collect();
        g.description = format!("change {i}");
        api.update_security_group(pb::UpdateSecurityGroupRequest {
            group: Some(g.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    }

    // Meanwhile the fast agent converges on its own changes without delay.
    let mut f = fast_group.clone();
    f.rules.push(tcp(8080));
    let started = std::time::Instant::now();
    let resp = api
        .update_security_group(pb::UpdateSecurityGroupRequest {
            group: Some(f),
            wait: wait(2000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.receipt.unwrap().converged);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        c.metrics.overflows.get() >= 1,
        "the slow agent's outbox overflowed"
    );

    // The slow agent now reads: somewhere a fresh snapshot replaced the backlog, and it ends current.
    let mut snapshots = 0;
    let mut received = 0;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(
        Duration::from_millis(500),
        futures_util::StreamExt::next(&mut slow.rx),
    )
    .await
    {
        snapshots += usize::from(is_snapshot(&msg));
        received += 1;
        slow.apply(msg);
        slow.ack().await;
    }
    assert!(snapshots >= 1, "a snapshot replaced the backlog");
    assert!(received < 40, "not every delta was queued: {received}");
    let sg = slow
        .objects
        .get(&(pb::ObjectKind::SecurityGroup as i32, id_of(&g.meta)))
        .unwrap();
    let Some(pb::desired_object::Object::SecurityGroup(sg)) = &sg.object else {
        panic!()
    };
    assert_eq!(
        sg.description, "change 39",
        "the slow agent ends with the latest state"
    );
    fast.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_agent_resumes_by_delta() {
    let c = controller(64).await;
    let mut api = api(&c.url).await;
    let net = network(&mut api).await;
    let web = group(&mut api, "web").await;
    let mut a = Agent::connect(&c.url, 5, 0).await;
    assert!(is_snapshot(&a.step().await));
    a.ack().await;
    api.create_port(pb::CreatePortRequest {
        port: Some(port_req(&a.node_id, &net, &[&web])),
        wait: None,
    })
    .await
    .unwrap();
    a.step().await;
    a.ack().await;
    a.drain(Duration::from_millis(300)).await;
    let (objects, last) = (a.objects.clone(), a.revision);
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // While it is away its group changes.
    let mut g = web.clone();
    g.meta.as_mut().unwrap().revision = api
        .get_security_group(pb::GetRequest {
            id: id_of(&web.meta),
        })
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap()
        .meta
        .unwrap()
        .revision;
    g.rules.push(tcp(443));
    api.update_security_group(pb::UpdateSecurityGroupRequest {
        group: Some(g),
        ..Default::default()
    })
    .await
    .unwrap();

    let mut back = Agent::connect(&c.url, 5, last).await;
    back.objects = objects;
    let msg = back.step().await;
    let Some(pb::controller_message::Message::Delta(d)) = &msg.message else {
        panic!("a returning agent resumes by delta, got {msg:?}");
    };
    assert_eq!(d.base_revision, last);
    assert_eq!(d.upserts.len(), 1, "only the changed group: {d:?}");

    // An agent that lost its state asks with 0 and gets a snapshot.
    drop(back);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fresh = Agent::connect(&c.url, 5, 0).await;
    assert!(is_snapshot(&fresh.step().await));
    assert_eq!(fresh.objects.len(), 3, "port, network, group");
}
