//! Pins the `-o json` (and one `-o yaml`) schema: fixed wire objects rendered through the views must
//! equal the files in `tests/golden/`, byte for byte. The same files are documented in
//! `docs/sdnctl.md`, and the subprocess test checks that real output has exactly their keys.
//!
//! A deliberate schema change (adding a field) is made by running with `UPDATE_GOLDEN=1` and
//! updating `docs/sdnctl.md` in the same commit; renaming or removing a field is a breaking change.

use prost_types::{Duration, Timestamp};
use sdn_proto::v1 as pb;
use sdn_proto::v1::security_rule::{Protocol, Remote};
use sdnctl::output::{Format, Show, render};
use sdnctl::view::*;

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn meta(id: &str, name: &str, revision: i64) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        id: id.into(),
        name: name.into(),
        revision,
        created_at: ts(1_767_225_600),
        updated_at: ts(1_767_229_200),
    })
}

const NODE: &str = "5a2e4c1e-0000-4000-8000-000000000001";
const NET: &str = "0b1c7f3a-0000-4000-8000-000000000002";
const PORT: &str = "3f0c8a8e-0000-4000-8000-000000000003";
const GROUP: &str = "9d1e5b77-0000-4000-8000-000000000004";
const LB: &str = "61aa0c2d-0000-4000-8000-000000000005";

fn node() -> pb::Node {
    pb::Node {
        meta: meta(NODE, "hv-1", 12),
        underlay_ip: "198.18.0.1".into(),
        roles: vec![pb::NodeRole::Compute as i32, pb::NodeRole::Lb as i32],
        agent_version: "0.1.0".into(),
        capabilities: vec!["xdp-native".into(), "tcx".into()],
        last_seen: ts(1_767_229_260),
        applied_revision: 41,
        state: pb::NodeState::Ready as i32,
    }
}

fn network() -> pb::PrivateNetwork {
    pb::PrivateNetwork {
        meta: meta(NET, "web", 20),
        description: "web tier".into(),
        ipv4_cidr: "198.18.10.0/24".into(),
        ipv6_prefix: String::new(),
        vni: 4242,
        mode: pb::NetworkMode::Managed as i32,
        start_ipv4: "198.18.10.1".into(),
        end_ipv4: "198.18.10.200".into(),
        start_ipv6: String::new(),
        end_ipv6: String::new(),
        static_leases: vec![pb::StaticLease {
            mac: "02:00:00:00:00:10".into(),
            ipv4: "198.18.10.10".into(),
            ipv6: String::new(),
        }],
        state: pb::NetworkState::Active as i32,
    }
}

fn port() -> pb::Port {
    pb::Port {
        meta: meta(PORT, "vm1-eth0", 33),
        instance_id: "vm-1".into(),
        node_id: NODE.into(),
        network_id: NET.into(),
        mac: "02:5e:00:00:00:01".into(),
        ipv4: "198.18.10.1".into(),
        ipv6: String::new(),
        security_group_ids: vec![GROUP.into()],
        state: pb::PortState::Programmed as i32,
    }
}

fn group() -> pb::SecurityGroup {
    let named = |n: pb::ProtocolName| Some(Protocol::ProtocolName(n as i32));
    pb::SecurityGroup {
        meta: meta(GROUP, "web", 37),
        description: "public web".into(),
        rules: vec![
            pb::SecurityRule {
                id: "c0000000-0000-4000-8000-000000000001".into(),
                description: "http".into(),
                direction: pb::Direction::Ingress as i32,
                protocol: named(pb::ProtocolName::Tcp),
                port_from: 80,
                port_to: 0,
                remote: Some(Remote::RemoteCidr("0.0.0.0/0".into())),
                ..Default::default()
            },
            pb::SecurityRule {
                id: "c0000000-0000-4000-8000-000000000002".into(),
                direction: pb::Direction::Ingress as i32,
                protocol: named(pb::ProtocolName::Icmp),
                icmp_type: Some(8),
                icmp_code: Some(0),
                remote: Some(Remote::RemoteGroupId(GROUP.into())),
                ..Default::default()
            },
            pb::SecurityRule {
                id: "c0000000-0000-4000-8000-000000000003".into(),
                direction: pb::Direction::Egress as i32,
                protocol: Some(Protocol::ProtocolNumber(50)),
                ..Default::default()
            },
            pb::SecurityRule {
                id: "c0000000-0000-4000-8000-000000000004".into(),
                direction: pb::Direction::Egress as i32,
                protocol: named(pb::ProtocolName::Udp),
                port_from: 8000,
                port_to: 8100,
                remote: Some(Remote::RemoteCidr("2001:db8::/32".into())),
                ..Default::default()
            },
        ],
        state: pb::SecurityGroupState::Active as i32,
        revoked_rule_ids: vec!["c0000000-0000-4000-8000-000000000009".into()],
    }
}

fn lb() -> pb::LoadBalancer {
    pb::LoadBalancer {
        meta: meta(LB, "www", 45),
        description: String::new(),
        vip: "203.0.113.10".into(),
        state: pb::LoadBalancerState::Running as i32,
        error_reason: String::new(),
        services: vec![
            pb::LbService {
                id: "d0000000-0000-4000-8000-000000000001".into(),
                name: "web".into(),
                protocol: pb::LbProtocol::Tcp as i32,
                port: 80,
                target_port: 8080,
                strategy: pb::LbStrategy::Maglev as i32,
                backends: vec![
                    pb::LbBackend {
                        port_id: PORT.into(),
                        weight: 100,
                        health: pb::BackendHealth::Healthy as i32,
                        health_reason: "http 200".into(),
                        health_changed_at: ts(1_767_229_100),
                    },
                    pb::LbBackend {
                        port_id: "3f0c8a8e-0000-4000-8000-000000000006".into(),
                        weight: 0,
                        health: pb::BackendHealth::Draining as i32,
                        health_reason: String::new(),
                        health_changed_at: None,
                    },
                ],
                health_check: Some(pb::HealthCheck {
                    mode: pb::HealthCheckMode::Http as i32,
                    http_path: "/healthz".into(),
                    ..Default::default()
                }),
            },
            pb::LbService {
                id: "d0000000-0000-4000-8000-000000000002".into(),
                name: "dns".into(),
                protocol: pb::LbProtocol::Udp as i32,
                port: 53,
                target_port: 53,
                strategy: pb::LbStrategy::SourceIp as i32,
                backends: vec![pb::LbBackend {
                    port_id: PORT.into(),
                    weight: 10,
                    health: pb::BackendHealth::Unhealthy as i32,
                    health_reason: "tcp connect refused".into(),
                    health_changed_at: ts(1_767_229_150),
                }],
                health_check: None,
            },
        ],
    }
}

fn receipt() -> pb::ConvergenceReceipt {
    pb::ConvergenceReceipt {
        object_id: PORT.into(),
        revision: 33,
        applied: vec![pb::NodeProgress {
            node_id: NODE.into(),
            node_name: "hv-1".into(),
            applied_revision: 41,
            apply_latency: Some(Duration {
                seconds: 0,
                nanos: 12_345_678,
            }),
        }],
        lagging: vec![pb::NodeProgress {
            node_id: "5a2e4c1e-0000-4000-8000-000000000007".into(),
            node_name: "hv-2".into(),
            applied_revision: 30,
            apply_latency: None,
        }],
        converged: false,
    }
}

/// Compares `value` rendered in `format` with `tests/golden/<name>`, or rewrites it.
fn check<T: Show>(name: &str, format: Format, value: &T) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let got = render(format, value).unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; run with UPDATE_GOLDEN=1 to create it"));
    assert_eq!(
        got, want,
        "{name} changed; if deliberate, run with UPDATE_GOLDEN=1 and update docs/sdnctl.md"
    );
}

#[test]
fn json_schema_is_stable() {
    check("node.json", Format::Json, &NodeView::from(&node()));
    check("network.json", Format::Json, &NetworkView::from(&network()));
    check("port.json", Format::Json, &PortView::from(&port()));
    check("group.json", Format::Json, &GroupView::from(&group()));
    check("lb.json", Format::Json, &LoadBalancerView::from(&lb()));
    check(
        "network_list.json",
        Format::Json,
        &ListView {
            kind: "networks",
            revision: 50,
            items: vec![NetworkView::from(&network())],
        },
    );
    check(
        "receipt.json",
        Format::Json,
        &ReceiptView::of("port", "vm1-eth0", &receipt()),
    );
    check(
        "deleted.json",
        Format::Json,
        &DeletedView {
            kind: "port",
            id: PORT.into(),
            revision: 51,
        },
    );
}

#[test]
fn yaml_is_the_same_schema() {
    check("group.yaml", Format::Yaml, &GroupView::from(&group()));
}

#[test]
fn tables_are_stable() {
    check("lb.txt", Format::Table, &LoadBalancerView::from(&lb()));
    check("group.txt", Format::Table, &GroupView::from(&group()));
    check(
        "receipt.txt",
        Format::Table,
        &ReceiptView::of("port", "vm1-eth0", &receipt()),
    );
    check(
        "port_list.txt",
        Format::Table,
        &ListView {
            kind: "ports",
            revision: 50,
            items: vec![PortView::from(&port())],
        },
    );
}
