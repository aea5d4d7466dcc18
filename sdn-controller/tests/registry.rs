//! Registry scenarios run against both stores: the in-memory one and a real etcd started by the test.
//!
//! Covers the concurrency acceptance of issue 3 (50 concurrent port creations on a /26; 20 concurrent
//! updates of one group from the same revision) and cross-object refusals, each asserting the gRPC
//! code, the named field and that the store revision did not move.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use sdn_controller::Error;
use sdn_controller::error::FIELD_METADATA_KEY;
use sdn_controller::etcd_server::EtcdServer;
use sdn_controller::model::*;
use sdn_controller::registry::Registry;
use sdn_controller::store::Store;
use sdn_controller::store::etcd::EtcdStore;
use sdn_controller::store::memory::MemoryStore;
use sdn_proto::v1 as pb;
use tonic::Code;

fn meta(name: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        name: name.into(),
        ..Default::default()
    })
}

struct Fixture<S> {
    reg: Arc<Registry<S>>,
    node: Node,
    net: Network,
    group: SecurityGroup,
}

async fn fixture<S: Store>(store: S) -> Fixture<S> {
    let reg = Arc::new(Registry::new(store));
    let node = reg
        .create_node(&pb::CreateNodeRequest {
            node: Some(pb::Node {
                meta: meta("hv-1"),
                underlay_ip: "198.18.0.1".into(),
                roles: vec![pb::NodeRole::Compute as i32],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let net = reg
        .create_network(&pb::CreateNetworkRequest {
            network: Some(pb::PrivateNetwork {
                meta: meta("net-a"),
                ipv4_cidr: "198.18.64.0/26".into(),
                start_ipv4: "198.18.64.1".into(),
                end_ipv4: "198.18.64.50".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let group = reg
        .create_security_group(&pb::CreateSecurityGroupRequest {
            group: Some(pb::SecurityGroup {
                meta: meta("web"),
                rules: vec![pb::SecurityRule {
                    direction: pb::Direction::Ingress as i32,
                    protocol: Some(pb::security_rule::Protocol::ProtocolName(
                        pb::ProtocolName::Tcp as i32,
                    )),
                    port_from: 443,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    Fixture {
        reg,
        node,
        net,
        group,
    }
}

fn port_req<S>(f: &Fixture<S>, name: &str) -> pb::CreatePortRequest {
    pb::CreatePortRequest {
        port: Some(pb::Port {
            meta: meta(name),
            instance_id: format!("vm-{name}"),
            node_id: f.node.meta.id.to_string(),
            network_id: f.net.meta.id.to_string(),
            security_group_ids: vec![f.group.meta.id.to_string()],
            ..Default::default()
        }),
        wait: None,
    }
}

/// Runs a refused call and checks code, field and that nothing was written.
async fn refused<S: Store, T: std::fmt::Debug>(
    reg: &Registry<S>,
    code: Code,
    field: &str,
    call: impl Future<Output = Result<T, Error>>,
) -> tonic::Status {
    let before = reg.store().revision().await.unwrap();
    let err = call.await.expect_err("refused");
    assert_eq!(err.code(), code, "{err}");
    assert_eq!(err.field(), Some(field), "{err}");
    assert_eq!(
        reg.store().revision().await.unwrap(),
        before,
        "revision moved: {err}"
    );
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), code);
    assert_eq!(
        status
            .metadata()
            .get(FIELD_METADATA_KEY)
            .map(|v| v.to_str().unwrap()),
        Some(field)
    );
    status
}

async fn fifty_concurrent_ports_on_a_26<S: Store>(store: S) {
    let f = fixture(store).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let reg = f.reg.clone();
        let req = port_req(&f, &format!("p{i}"));
        tasks.push(tokio::spawn(async move { reg.create_port(&req).await }));
    }
    let mut addrs = BTreeSet::new();
    let mut macs = BTreeSet::new();
    for t in tasks {
        let port = t
            .await
            .unwrap()
            .expect("every one of the 50 creations succeeds");
        let a = port.ipv4.expect("an address");
        assert!(validation_in(&f.net, a), "{a} inside the range");
        assert!(addrs.insert(a), "address {a} handed out twice");
        assert!(macs.insert(port.mac.unwrap()), "MAC handed out twice");
    }
    assert_eq!(addrs.len(), 50);
    let err = refused(
        &f.reg,
        Code::ResourceExhausted,
        "port.ipv4",
        f.reg.create_port(&port_req(&f, "p50")),
    )
    .await;
    assert!(err.message().contains("no free address left"), "{err:?}");
}

fn validation_in(net: &Network, a: std::net::Ipv4Addr) -> bool {
    let r = net.range_v4.unwrap();
    r.start <= a && a <= r.end
}

async fn twenty_concurrent_group_updates<S: Store>(store: S) {
    let f = fixture(store).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let reg = f.reg.clone();
        let mut wire = sdn_controller::codec::Object::to_wire(&f.group);
        wire.description = format!("writer {i}");
        tasks.push(tokio::spawn(async move {
            reg.update_security_group(&pb::UpdateSecurityGroupRequest {
                group: Some(wire),
                existing_flows: 0,
                wait: None,
            })
            .await
        }));
    }
    let (mut wins, mut stale) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::Aborted, "{e}");
                assert!(matches!(e, Error::StaleRevision { .. }), "{e}");
                stale += 1;
            }
        }
    }
    assert_eq!((wins, stale), (1, 19));
    let group: SecurityGroup = f.reg.get(&f.group.meta.id.to_string()).await.unwrap();
    assert!(group.description.starts_with("writer "));
    assert!(group.meta.revision > f.group.meta.revision);
}

async fn cross_object_refusals<S: Store>(store: S) {
    let f = fixture(store).await;
    let reg = &*f.reg;
    let unknown = "00000000-0000-0000-0000-00000000dead";
    let port = reg.create_port(&port_req(&f, "a")).await.unwrap();

    let mut r = port_req(&f, "x");
    r.port.as_mut().unwrap().network_id = unknown.into();
    refused(reg, Code::NotFound, "port.network_id", reg.create_port(&r)).await;

    let mut r = port_req(&f, "x");
    r.port.as_mut().unwrap().node_id = unknown.into();
    refused(reg, Code::NotFound, "port.node_id", reg.create_port(&r)).await;

    let mut r = port_req(&f, "x");
    r.port
        .as_mut()
        .unwrap()
        .security_group_ids
        .push(unknown.into());
    refused(
        reg,
        Code::NotFound,
        "port.security_group_ids[1]",
        reg.create_port(&r),
    )
    .await;

    let mut r = port_req(&f, "x");
    r.port.as_mut().unwrap().ipv4 = port.ipv4.unwrap().to_string();
    refused(reg, Code::AlreadyExists, "port.ipv4", reg.create_port(&r)).await;

    let mut r = port_req(&f, "x");
    r.port.as_mut().unwrap().ipv4 = "198.18.64.51".into();
    refused(reg, Code::InvalidArgument, "port.ipv4", reg.create_port(&r)).await;

    let mut r = port_req(&f, "x");
    r.port.as_mut().unwrap().ipv4 = "198.18.65.1".into();
    refused(reg, Code::InvalidArgument, "port.ipv4", reg.create_port(&r)).await;

    let mut r = port_req(&f, "x");
    r.port.as_mut().unwrap().ipv6 = "2001:db8::1".into();
    refused(reg, Code::InvalidArgument, "port.ipv6", reg.create_port(&r)).await;

    let mut r = port_req(&f, "x");
    r.port.as_mut().unwrap().mac = port.mac.unwrap().to_string();
    refused(reg, Code::AlreadyExists, "port.mac", reg.create_port(&r)).await;

    let clash = pb::CreateNetworkRequest {
        network: Some(pb::PrivateNetwork {
            meta: meta("net-b"),
            ipv4_cidr: "198.18.128.0/24".into(),
            vni: f.net.vni,
            ..Default::default()
        }),
    };
    refused(
        reg,
        Code::AlreadyExists,
        "network.vni",
        reg.create_network(&clash),
    )
    .await;

    let rule_to_unknown = pb::CreateSecurityGroupRequest {
        group: Some(pb::SecurityGroup {
            meta: meta("db"),
            rules: vec![pb::SecurityRule {
                direction: pb::Direction::Ingress as i32,
                protocol: Some(pb::security_rule::Protocol::ProtocolName(
                    pb::ProtocolName::All as i32,
                )),
                remote: Some(pb::security_rule::Remote::RemoteGroupId(unknown.into())),
                ..Default::default()
            }],
            ..Default::default()
        }),
    };
    refused(
        reg,
        Code::NotFound,
        "group.rules[0].remote_group_id",
        reg.create_security_group(&rule_to_unknown),
    )
    .await;

    // A group used by a port and by another group's rule cannot be deleted; the error names them.
    let mut user = rule_to_unknown.clone();
    if let Some(pb::security_rule::Remote::RemoteGroupId(g)) =
        &mut user.group.as_mut().unwrap().rules[0].remote
    {
        *g = f.group.meta.id.to_string();
    }
    let db = reg.create_security_group(&user).await.unwrap();
    let err = refused_no_field(
        reg,
        Code::FailedPrecondition,
        reg.delete::<SecurityGroup>(&f.group.meta.id.to_string(), 0),
    )
    .await;
    let msg = err.to_string();
    assert!(msg.contains(&port.meta.id.to_string()), "{msg}");
    assert!(msg.contains(&db.meta.id.to_string()), "{msg}");

    refused_no_field(
        reg,
        Code::FailedPrecondition,
        reg.delete::<Network>(&f.net.meta.id.to_string(), 0),
    )
    .await;
    refused_no_field(
        reg,
        Code::FailedPrecondition,
        reg.delete::<Node>(&f.node.meta.id.to_string(), 0),
    )
    .await;
    refused(
        reg,
        Code::Aborted,
        "revision",
        reg.delete::<Port>(&port.meta.id.to_string(), port.meta.revision - 1),
    )
    .await;
    refused(reg, Code::NotFound, "id", reg.delete::<Port>(unknown, 0)).await;

    // Remove the users, then the group goes; the port's address is released and handed out again.
    reg.delete::<SecurityGroup>(&db.meta.id.to_string(), db.meta.revision)
        .await
        .unwrap();
    reg.delete::<Port>(&port.meta.id.to_string(), port.meta.revision)
        .await
        .unwrap();
    reg.delete::<SecurityGroup>(&f.group.meta.id.to_string(), 0)
        .await
        .unwrap();
    let mut r = port_req(&f, "again");
    r.port.as_mut().unwrap().security_group_ids.clear();
    let again = reg.create_port(&r).await.unwrap();
    assert_eq!(again.ipv4, port.ipv4, "released address reused");
}

async fn refused_no_field<S: Store, T: std::fmt::Debug>(
    reg: &Registry<S>,
    code: Code,
    call: impl Future<Output = Result<T, Error>>,
) -> Error {
    let before = reg.store().revision().await.unwrap();
    let err = call.await.expect_err("refused");
    assert_eq!(err.code(), code, "{err}");
    assert_eq!(
        reg.store().revision().await.unwrap(),
        before,
        "revision moved: {err}"
    );
    err
}

async fn etcd(server: &EtcdServer) -> EtcdStore {
    EtcdStore::connect(&[server.endpoint().to_string()])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_ports_memory() {
    fifty_concurrent_ports_on_a_26(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_ports_etcd() {
    let server = EtcdServer::start();
    fifty_concurrent_ports_on_a_26(etcd(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_group_updates_memory() {
    twenty_concurrent_group_updates(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_group_updates_etcd() {
    let server = EtcdServer::start();
    twenty_concurrent_group_updates(etcd(&server).await).await;
}

#[tokio::test]
async fn cross_object_refusals_memory() {
    cross_object_refusals(MemoryStore::new()).await;
}

#[tokio::test]
async fn cross_object_refusals_etcd() {
    let server = EtcdServer::start();
    cross_object_refusals(etcd(&server).await).await;
}
