//! Registry unit tests over the in-memory store (the cross-store scenarios are in
//! `tests/registry.rs`).

use sdn_proto::v1 as pb;
use tonic::Code;

use super::*;
use crate::store::memory::MemoryStore;

fn meta(name: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        name: name.into(),
        ..Default::default()
    })
}

fn tcp_rule(port: u32) -> pb::SecurityRule {
    pb::SecurityRule {
        direction: pb::Direction::Ingress as i32,
        protocol: Some(pb::security_rule::Protocol::ProtocolName(
            pb::ProtocolName::Tcp as i32,
        )),
        port_from: port,
        ..Default::default()
    }
}

async fn group(reg: &Registry<MemoryStore>, rules: Vec<pb::SecurityRule>) -> SecurityGroup {
    reg.create_security_group(&pb::CreateSecurityGroupRequest {
        group: Some(pb::SecurityGroup {
            meta: meta("g"),
            rules,
            ..Default::default()
        }),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn rule_ids_are_stable_and_revoke_is_recorded() {
    let reg = Registry::new(MemoryStore::new());
    let g = group(&reg, vec![tcp_rule(22), tcp_rule(80)]).await;
    assert!(g.rules.iter().all(|r| !r.id.is_nil()));
    let added = reg
        .add_security_rules(&pb::AddSecurityRulesRequest {
            group_id: g.meta.id.to_string(),
            revision: g.meta.revision,
            rules: vec![tcp_rule(443)],
            wait: None,
        })
        .await
        .unwrap();
    assert_eq!(added.rules.len(), 3);
    assert_eq!(
        added.rules[..2],
        g.rules[..],
        "existing rules keep their ids"
    );
    let removed = reg
        .remove_security_rules(&pb::RemoveSecurityRulesRequest {
            group_id: g.meta.id.to_string(),
            revision: added.meta.revision,
            rule_ids: vec![g.rules[0].id.to_string()],
            existing_flows: pb::ExistingFlows::Revoke as i32,
            wait: None,
        })
        .await
        .unwrap();
    assert_eq!(removed.revoked_rule_ids, vec![g.rules[0].id]);
    assert_eq!(removed.rules.len(), 2);
    // Replace: a rule given with its id keeps it; the others are new; unknown ids are refused.
    let mut wire = removed.to_wire();
    wire.rules.truncate(1);
    wire.rules.push(tcp_rule(8080));
    let replaced = reg
        .update_security_group(&pb::UpdateSecurityGroupRequest {
            group: Some(wire.clone()),
            existing_flows: 0,
            wait: None,
        })
        .await
        .unwrap();
    assert_eq!(replaced.rules[0].id, removed.rules[0].id);
    assert!(replaced.revoked_rule_ids.is_empty(), "keep is the default");
    let mut bad = replaced.to_wire();
    bad.rules[0].id = Uuid::from_u128(9).to_string();
    let err = reg
        .update_security_group(&pb::UpdateSecurityGroupRequest {
            group: Some(bad),
            existing_flows: 0,
            wait: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        (Code::NotFound, Some("group.rules[0].id"))
    );
    // The stale revision of the earlier read is refused.
    let err = reg
        .update_security_group(&pb::UpdateSecurityGroupRequest {
            group: Some(wire),
            existing_flows: 0,
            wait: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
}

#[tokio::test]
async fn rule_limit_applies_to_additions() {
    let reg = Registry::new(MemoryStore::new());
    let g = group(&reg, vec![tcp_rule(1); limits::MAX_RULES_PER_GROUP]).await;
    let err = reg
        .add_security_rules(&pb::AddSecurityRulesRequest {
            group_id: g.meta.id.to_string(),
            revision: g.meta.revision,
            rules: vec![tcp_rule(2)],
            wait: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        (Code::ResourceExhausted, Some("rules"))
    );
}

#[tokio::test]
async fn nodes_cordon_and_refuse_new_ports() {
    let reg = Registry::new(MemoryStore::new());
    let node = reg
        .create_node(&pb::CreateNodeRequest {
            node: Some(pb::Node {
                meta: meta("hv"),
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
                meta: meta("n"),
                ipv4_cidr: "198.18.1.0/24".into(),
                ipv6_prefix: "2001:db8:1::/64".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    assert_eq!(net.vni, 1);
    let cordoned = reg
        .update_node(&pb::UpdateNodeRequest {
            id: node.meta.id.to_string(),
            revision: node.meta.revision,
            cordoned: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cordoned.state, NodeState::Cordoned);
    let err = reg
        .create_port(&pb::CreatePortRequest {
            port: Some(pb::Port {
                meta: meta("p"),
                instance_id: "vm".into(),
                node_id: node.meta.id.to_string(),
                network_id: net.meta.id.to_string(),
                ..Default::default()
            }),
            wait: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let uncordoned = reg
        .update_node(&pb::UpdateNodeRequest {
            id: node.meta.id.to_string(),
            revision: cordoned.meta.revision,
            cordoned: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    let port = reg
        .create_port(&pb::CreatePortRequest {
            port: Some(pb::Port {
                meta: meta("p"),
                instance_id: "vm".into(),
                node_id: uncordoned.meta.id.to_string(),
                network_id: net.meta.id.to_string(),
                ..Default::default()
            }),
            wait: None,
        })
        .await
        .unwrap();
    assert_eq!(port.ipv4, Some("198.18.1.1".parse().unwrap()));
    assert_eq!(port.ipv6, Some("2001:db8:1::1".parse().unwrap()));
    assert_eq!(port.state, PortState::Pending);
    let page = reg
        .list_ports(&pb::ListRequest {
            node_id: node.meta.id.to_string(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items, vec![port]);
}

#[tokio::test]
async fn load_balancers_claim_their_vip_and_pin_backends() {
    let reg = Registry::new(MemoryStore::new());
    let node = reg
        .create_node(&pb::CreateNodeRequest {
            node: Some(pb::Node {
                meta: meta("hv"),
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
                meta: meta("n"),
                ipv4_cidr: "198.18.1.0/24".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let port = reg
        .create_port(&pb::CreatePortRequest {
            port: Some(pb::Port {
                meta: meta("p"),
                instance_id: "vm".into(),
                node_id: node.meta.id.to_string(),
                network_id: net.meta.id.to_string(),
                ..Default::default()
            }),
            wait: None,
        })
        .await
        .unwrap();
    let req = pb::CreateLoadBalancerRequest {
        load_balancer: Some(pb::LoadBalancer {
            meta: meta("lb"),
            vip: "198.19.0.1".into(),
            services: vec![pb::LbService {
                name: "http".into(),
                port: 80,
                target_port: 8080,
                backends: vec![pb::LbBackend {
                    port_id: port.meta.id.to_string(),
                    weight: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        wait: None,
    };
    let lb = reg.create_load_balancer(&req).await.unwrap();
    assert_eq!(lb.state, LoadBalancerState::Creating);
    let err = reg.create_load_balancer(&req).await.unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        (Code::AlreadyExists, Some("load_balancer.vip"))
    );
    let err = reg
        .delete::<Port>(&port.meta.id.to_string(), 0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.to_string().contains(&lb.meta.id.to_string()));
    let mut wire = lb.to_wire();
    wire.services[0].backends.clear();
    let updated = reg
        .update_load_balancer(&pb::UpdateLoadBalancerRequest {
            load_balancer: Some(wire),
            wait: None,
        })
        .await
        .unwrap();
    assert_eq!(updated.services[0].id, lb.services[0].id);
    reg.delete::<Port>(&port.meta.id.to_string(), 0)
        .await
        .unwrap();
    reg.delete::<LoadBalancer>(&lb.meta.id.to_string(), 0)
        .await
        .unwrap();
    assert_eq!(
        reg.create_load_balancer(&req).await.unwrap_err().code(),
        Code::NotFound
    );
}
