//! Invalid requests through the gRPC service: each case asserts the gRPC code, the field named in the
//! `sdn-field` metadata, and that the store revision did not move. Run on memory and on a real etcd.

use sdn_controller::api::ApiService;
use sdn_controller::error::FIELD_METADATA_KEY;
use sdn_controller::etcd_server::EtcdServer;
use sdn_controller::store::Store;
use sdn_controller::store::etcd::EtcdStore;
use sdn_controller::store::memory::MemoryStore;
use sdn_proto::v1 as pb;
use sdn_proto::v1::controller_server::Controller;
use tonic::{Code, Request};

const UNKNOWN: &str = "00000000-0000-0000-0000-00000000dead";

fn meta(name: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        name: name.into(),
        ..Default::default()
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

struct World {
    node: pb::Node,
    net: pb::PrivateNetwork,
    tiny: pb::PrivateNetwork,
    group: pb::SecurityGroup,
    port: pb::Port,
    lb: pb::LoadBalancer,
}

async fn world<S: Store>(svc: &ApiService<S>) -> World {
    let node = svc
        .create_node(Request::new(pb::CreateNodeRequest {
            node: Some(pb::Node {
                meta: meta("hv-1"),
                underlay_ip: "198.18.0.1".into(),
                roles: vec![pb::NodeRole::Compute as i32],
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .node
        .unwrap();
    let network = |name: &str, cidr: &str, end: &str| pb::CreateNetworkRequest {
        network: Some(pb::PrivateNetwork {
            meta: meta(name),
            ipv4_cidr: cidr.into(),
            end_ipv4: end.into(),
            ..Default::default()
        }),
    };
    let net = svc
        .create_network(Request::new(network(
            "net",
            "198.18.64.0/26",
            "198.18.64.50",
        )))
        .await
        .unwrap()
        .into_inner()
        .network
        .unwrap();
    let tiny = svc
        .create_network(Request::new(network("tiny", "198.18.65.0/30", "")))
        .await
        .unwrap()
        .into_inner()
        .network
        .unwrap();
    let group = svc
        .create_security_group(Request::new(pb::CreateSecurityGroupRequest {
            group: Some(pb::SecurityGroup {
                meta: meta("web"),
                rules: vec![tcp(443)],
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    let new_port = |network: &pb::PrivateNetwork, groups: Vec<String>| pb::CreatePortRequest {
        port: Some(pb::Port {
            meta: meta("p"),
            instance_id: "vm-1".into(),
            node_id: node.meta.as_ref().unwrap().id.clone(),
            network_id: network.meta.as_ref().unwrap().id.clone(),
            security_group_ids: groups,
            ..Default::default()
        }),
        wait: None,
    };
    let port = svc
        .create_port(Request::new(new_port(
            &net,
            vec![group.meta.as_ref().unwrap().id.clone()],
        )))
        .await
        .unwrap()
        .into_inner()
        .port
        .unwrap();
    for _ in 0..2 {
        svc.create_port(Request::new(new_port(&tiny, vec![])))
            .await
            .unwrap();
    }
    let lb = svc
        .create_load_balancer(Request::new(pb::CreateLoadBalancerRequest {
            load_balancer: Some(pb::LoadBalancer {
                meta: meta("lb"),
                vip: "198.19.0.1".into(),
                services: vec![pb::LbService {
                    name: "http".into(),
                    port: 80,
                    target_port: 8080,
                    backends: vec![pb::LbBackend {
                        port_id: port.meta.as_ref().unwrap().id.clone(),
                        weight: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            wait: None,
        }))
        .await
        .unwrap()
        .into_inner()
        .load_balancer
        .unwrap();
    World {
        node,
        net,
        tiny,
        group,
        port,
        lb,
    }
}

fn id_of(m: &Option<pb::ObjectMeta>) -> String {
    m.as_ref().unwrap().id.clone()
}

fn rev_of(m: &Option<pb::ObjectMeta>) -> i64 {
    m.as_ref().unwrap().revision
}

/// One invalid call.
enum Call {
    CreateNode(pb::CreateNodeRequest),
    UpdateNode(pb::UpdateNodeRequest),
    DeleteNode(pb::DeleteRequest),
    CreateNetwork(pb::CreateNetworkRequest),
    UpdateNetwork(pb::UpdateNetworkRequest),
    DeleteNetwork(pb::DeleteRequest),
    CreatePort(pb::CreatePortRequest),
    UpdatePort(pb::UpdatePortRequest),
    DeletePort(pb::DeleteRequest),
    GetPort(pb::GetRequest),
    ListNodes(pb::ListRequest),
    CreateGroup(pb::CreateSecurityGroupRequest),
    UpdateGroup(pb::UpdateSecurityGroupRequest),
    AddRules(pb::AddSecurityRulesRequest),
    RemoveRules(pb::RemoveSecurityRulesRequest),
    DeleteGroup(pb::DeleteRequest),
    CreateLb(pb::CreateLoadBalancerRequest),
    UpdateLb(pb::UpdateLoadBalancerRequest),
}

async fn run<S: Store>(svc: &ApiService<S>, call: Call) -> Result<(), tonic::Status> {
    match call {
        Call::CreateNode(r) => svc.create_node(Request::new(r)).await.map(drop),
        Call::UpdateNode(r) => svc.update_node(Request::new(r)).await.map(drop),
        Call::DeleteNode(r) => svc.delete_node(Request::new(r)).await.map(drop),
        Call::CreateNetwork(r) => svc.create_network(Request::new(r)).await.map(drop),
        Call::UpdateNetwork(r) => svc.update_network(Request::new(r)).await.map(drop),
        Call::DeleteNetwork(r) => svc.delete_network(Request::new(r)).await.map(drop),
        Call::CreatePort(r) => svc.create_port(Request::new(r)).await.map(drop),
        Call::UpdatePort(r) => svc.update_port(Request::new(r)).await.map(drop),
        Call::DeletePort(r) => svc.delete_port(Request::new(r)).await.map(drop),
        Call::GetPort(r) => svc.get_port(Request::new(r)).await.map(drop),
        Call::ListNodes(r) => svc.list_nodes(Request::new(r)).await.map(drop),
        Call::CreateGroup(r) => svc.create_security_group(Request::new(r)).await.map(drop),
        Call::UpdateGroup(r) => svc.update_security_group(Request::new(r)).await.map(drop),
        Call::AddRules(r) => svc.add_security_rules(Request::new(r)).await.map(drop),
        Call::RemoveRules(r) => svc.remove_security_rules(Request::new(r)).await.map(drop),
        Call::DeleteGroup(r) => svc.delete_security_group(Request::new(r)).await.map(drop),
        Call::CreateLb(r) => svc.create_load_balancer(Request::new(r)).await.map(drop),
        Call::UpdateLb(r) => svc.update_load_balancer(Request::new(r)).await.map(drop),
    }
}

fn cases(w: &World) -> Vec<(&'static str, Call, Code, &'static str)> {
    use Code::*;
    let node_id = id_of(&w.node.meta);
    let net_id = id_of(&w.net.meta);
    let group_id = id_of(&w.group.meta);
    let port_id = id_of(&w.port.meta);
    let net_req = |f: &dyn Fn(&mut pb::PrivateNetwork)| {
        let mut n = pb::PrivateNetwork {
            meta: meta("n2"),
            ipv4_cidr: "198.18.128.0/24".into(),
            ..Default::default()
        };
        f(&mut n);
        Call::CreateNetwork(pb::CreateNetworkRequest { network: Some(n) })
    };
    let port_req = |f: &dyn Fn(&mut pb::CreatePortRequest)| {
        let mut r = pb::CreatePortRequest {
            port: Some(pb::Port {
                meta: meta("p2"),
                instance_id: "vm-2".into(),
                node_id: node_id.clone(),
                network_id: net_id.clone(),
                security_group_ids: vec![group_id.clone()],
                ..Default::default()
            }),
            wait: None,
        };
        f(&mut r);
        Call::CreatePort(r)
    };
    let group_req = |f: &dyn Fn(&mut pb::SecurityGroup)| {
        let mut g = pb::SecurityGroup {
            meta: meta("g2"),
            rules: vec![tcp(22)],
            ..Default::default()
        };
        f(&mut g);
        Call::CreateGroup(pb::CreateSecurityGroupRequest { group: Some(g) })
    };
    let update_group = |f: &dyn Fn(&mut pb::UpdateSecurityGroupRequest)| {
        let mut r = pb::UpdateSecurityGroupRequest {
            group: Some(w.group.clone()),
            existing_flows: 0,
            wait: None,
        };
        f(&mut r);
        Call::UpdateGroup(r)
    };
    let lb_req = |f: &dyn Fn(&mut pb::LoadBalancer)| {
        let mut lb = w.lb.clone();
        lb.meta = meta("lb2");
        lb.vip = "198.19.0.2".into();
        for s in &mut lb.services {
            s.id.clear();
        }
        f(&mut lb);
        Call::CreateLb(pb::CreateLoadBalancerRequest {
            load_balancer: Some(lb),
            wait: None,
        })
    };
    let icmp = |r: &mut pb::SecurityRule| {
        r.protocol = Some(pb::security_rule::Protocol::ProtocolName(
            pb::ProtocolName::Icmp as i32,
        ));
        r.port_from = 0;
    };
    let del = |id: &str, revision: i64| pb::DeleteRequest {
        id: id.into(),
        revision,
        wait: None,
    };
    vec![
        // Networks
        (
            "network missing",
            Call::CreateNetwork(pb::CreateNetworkRequest { network: None }),
            InvalidArgument,
            "network",
        ),
        (
            "network bad name",
            net_req(&|n| n.meta = meta("bad name")),
            InvalidArgument,
            "network.meta.name",
        ),
        (
            "network bad cidr",
            net_req(&|n| n.ipv4_cidr = "198.18.0.0/40".into()),
            InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "network cidr host bits",
            net_req(&|n| n.ipv4_cidr = "198.18.128.7/24".into()),
            InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "network bad ipv6 prefix",
            net_req(&|n| n.ipv6_prefix = "2001:db8::/200".into()),
            InvalidArgument,
            "network.ipv6_prefix",
        ),
        (
            "network vni clash",
            net_req(&|n| n.vni = w.net.vni),
            AlreadyExists,
            "network.vni",
        ),
        (
            "network vni too big",
            net_req(&|n| n.vni = 1 << 24),
            InvalidArgument,
            "network.vni",
        ),
        (
            "network start outside",
            net_req(&|n| n.start_ipv4 = "198.18.129.1".into()),
            InvalidArgument,
            "network.start_ipv4",
        ),
        (
            "network inverted range",
            net_req(&|n| {
                n.start_ipv4 = "198.18.128.200".into();
                n.end_ipv4 = "198.18.128.100".into();
            }),
            InvalidArgument,
            "network.end_ipv4",
        ),
        (
            "network lease bad mac",
            net_req(&|n| {
                n.static_leases = vec![pb::StaticLease {
                    mac: "02:00:00:00:00:0".into(),
                    ipv4: "198.18.128.9".into(),
                    ..Default::default()
                }]
            }),
            InvalidArgument,
            "network.static_leases[0].mac",
        ),
        (
            "network update changes cidr",
            Call::UpdateNetwork(pb::UpdateNetworkRequest {
                network: Some(pb::PrivateNetwork {
                    ipv4_cidr: "198.18.66.0/24".into(),
                    ..w.net.clone()
                }),
                wait: None,
            }),
            InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "network update stale",
            Call::UpdateNetwork(pb::UpdateNetworkRequest {
                network: Some(pb::PrivateNetwork {
                    meta: Some(pb::ObjectMeta {
                        revision: rev_of(&w.net.meta) - 1,
                        ..w.net.meta.clone().unwrap()
                    }),
                    ..w.net.clone()
                }),
                wait: None,
            }),
            Aborted,
            "revision",
        ),
        (
            "network delete in use",
            Call::DeleteNetwork(del(&net_id, 0)),
            FailedPrecondition,
            "id",
        ),
        // Ports
        (
            "port unknown network",
            port_req(&|r| r.port.as_mut().unwrap().network_id = UNKNOWN.into()),
            NotFound,
            "port.network_id",
        ),
        (
            "port unknown node",
            port_req(&|r| r.port.as_mut().unwrap().node_id = UNKNOWN.into()),
            NotFound,
            "port.node_id",
        ),
        (
            "port unknown group",
            port_req(&|r| r.port.as_mut().unwrap().security_group_ids = vec![UNKNOWN.into()]),
            NotFound,
            "port.security_group_ids[0]",
        ),
        (
            "port bad mac",
            port_req(&|r| r.port.as_mut().unwrap().mac = "02:00:00:00:00:zz".into()),
            InvalidArgument,
            "port.mac",
        ),
        (
            "port multicast mac",
            port_req(&|r| r.port.as_mut().unwrap().mac = "01:00:00:00:00:01".into()),
            InvalidArgument,
            "port.mac",
        ),
        (
            "port mac taken",
            port_req(&|r| r.port.as_mut().unwrap().mac = w.port.mac.clone()),
            AlreadyExists,
            "port.mac",
        ),
        (
            "port address outside network",
            port_req(&|r| r.port.as_mut().unwrap().ipv4 = "198.18.99.1".into()),
            InvalidArgument,
            "port.ipv4",
        ),
        (
            "port address outside range",
            port_req(&|r| r.port.as_mut().unwrap().ipv4 = "198.18.64.60".into()),
            InvalidArgument,
            "port.ipv4",
        ),
        (
            "port address taken",
            port_req(&|r| r.port.as_mut().unwrap().ipv4 = w.port.ipv4.clone()),
            AlreadyExists,
            "port.ipv4",
        ),
        (
            "port ipv6 on v4 network",
            port_req(&|r| r.port.as_mut().unwrap().ipv6 = "2001:db8::5".into()),
            InvalidArgument,
            "port.ipv6",
        ),
        (
            "port ipam exhausted",
            port_req(&|r| r.port.as_mut().unwrap().network_id = id_of(&w.tiny.meta)),
            ResourceExhausted,
            "port.ipv4",
        ),
        (
            "port too many groups",
            port_req(&|r| {
                r.port.as_mut().unwrap().security_group_ids = (0..17)
                    .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
                    .collect()
            }),
            ResourceExhausted,
            "port.security_group_ids",
        ),
        (
            "port duplicate group",
            port_req(&|r| {
                let p = r.port.as_mut().unwrap();
                let g = p.security_group_ids[0].clone();
                p.security_group_ids.push(g);
            }),
            InvalidArgument,
            "port.security_group_ids[1]",
        ),
        (
            "port no instance",
            port_req(&|r| r.port.as_mut().unwrap().instance_id.clear()),
            InvalidArgument,
            "port.instance_id",
        ),
        (
            "port bad wait",
            port_req(&|r| {
                r.wait = Some(pb::Wait {
                    timeout: Some(prost_types::Duration {
                        seconds: 3600,
                        nanos: 0,
                    }),
                })
            }),
            InvalidArgument,
            "wait.timeout",
        ),
        (
            "port update unknown group",
            Call::UpdatePort(pb::UpdatePortRequest {
                id: port_id.clone(),
                revision: rev_of(&w.port.meta),
                security_group_ids: vec![UNKNOWN.into()],
                ..Default::default()
            }),
            NotFound,
            "security_group_ids[0]",
        ),
        (
            "port update stale",
            Call::UpdatePort(pb::UpdatePortRequest {
                id: port_id.clone(),
                revision: 1,
                ..Default::default()
            }),
            Aborted,
            "revision",
        ),
        (
            "port delete used by lb",
            Call::DeletePort(del(&port_id, 0)),
            FailedPrecondition,
            "id",
        ),
        (
            "port get unknown",
            Call::GetPort(pb::GetRequest { id: UNKNOWN.into() }),
            NotFound,
            "id",
        ),
        (
            "port get bad id",
            Call::GetPort(pb::GetRequest { id: "p1".into() }),
            InvalidArgument,
            "id",
        ),
        // Security groups
        (
            "rule inverted port range",
            group_req(&|g| {
                g.rules[0].port_from = 90;
                g.rules[0].port_to = 80;
            }),
            InvalidArgument,
            "group.rules[0].port_to",
        ),
        (
            "rule icmp code without type",
            group_req(&|g| {
                icmp(&mut g.rules[0]);
                g.rules[0].icmp_code = Some(1);
            }),
            InvalidArgument,
            "group.rules[0].icmp_code",
        ),
        (
            "rule ports on icmp",
            group_req(&|g| {
                icmp(&mut g.rules[0]);
                g.rules[0].port_from = 5;
            }),
            InvalidArgument,
            "group.rules[0].port_from",
        ),
        (
            "rule ports on gre",
            group_req(&|g| {
                g.rules[0].protocol = Some(pb::security_rule::Protocol::ProtocolNumber(47))
            }),
            InvalidArgument,
            "group.rules[0].port_from",
        ),
        (
            "rule protocol 300",
            group_req(&|g| {
                g.rules[0].protocol = Some(pb::security_rule::Protocol::ProtocolNumber(300))
            }),
            InvalidArgument,
            "group.rules[0].protocol_number",
        ),
        (
            "rule no direction",
            group_req(&|g| g.rules[0].direction = 0),
            InvalidArgument,
            "group.rules[0].direction",
        ),
        (
            "rule bad remote cidr",
            group_req(&|g| {
                g.rules[0].remote = Some(pb::security_rule::Remote::RemoteCidr(
                    "198.18.0.0/99".into(),
                ))
            }),
            InvalidArgument,
            "group.rules[0].remote_cidr",
        ),
        (
            "rule unknown remote group",
            group_req(&|g| {
                g.rules[0].remote = Some(pb::security_rule::Remote::RemoteGroupId(UNKNOWN.into()))
            }),
            NotFound,
            "group.rules[0].remote_group_id",
        ),
        (
            "group too many rules",
            group_req(&|g| g.rules = vec![tcp(1); 1025]),
            ResourceExhausted,
            "group.rules",
        ),
        (
            "group update stale",
            update_group(&|r| r.group.as_mut().unwrap().meta.as_mut().unwrap().revision -= 1),
            Aborted,
            "revision",
        ),
        (
            "group update no revision",
            update_group(&|r| r.group.as_mut().unwrap().meta.as_mut().unwrap().revision = 0),
            InvalidArgument,
            "group.meta.revision",
        ),
        (
            "group update unknown",
            update_group(&|r| r.group.as_mut().unwrap().meta.as_mut().unwrap().id = UNKNOWN.into()),
            NotFound,
            "group.meta.id",
        ),
        (
            "group update unknown rule id",
            update_group(&|r| r.group.as_mut().unwrap().rules[0].id = UNKNOWN.into()),
            NotFound,
            "group.rules[0].id",
        ),
        (
            "group update bad existing_flows",
            update_group(&|r| r.existing_flows = 9),
            InvalidArgument,
            "existing_flows",
        ),
        (
            "add rules with id",
            Call::AddRules(pb::AddSecurityRulesRequest {
                group_id: group_id.clone(),
                revision: rev_of(&w.group.meta),
                rules: vec![pb::SecurityRule {
                    id: UNKNOWN.into(),
                    ..tcp(1)
                }],
                wait: None,
            }),
            InvalidArgument,
            "rules[0].id",
        ),
        (
            "add no rules",
            Call::AddRules(pb::AddSecurityRulesRequest {
                group_id: group_id.clone(),
                revision: rev_of(&w.group.meta),
                rules: vec![],
                wait: None,
            }),
            InvalidArgument,
            "rules",
        ),
        (
            "remove unknown rule",
            Call::RemoveRules(pb::RemoveSecurityRulesRequest {
                group_id: group_id.clone(),
                revision: rev_of(&w.group.meta),
                rule_ids: vec![UNKNOWN.into()],
                ..Default::default()
            }),
            NotFound,
            "rule_ids[0]",
        ),
        (
            "group delete in use",
            Call::DeleteGroup(del(&group_id, 0)),
            FailedPrecondition,
            "id",
        ),
        // Load balancers
        (
            "lb bad vip",
            lb_req(&|l| l.vip = "198.19.0".into()),
            InvalidArgument,
            "load_balancer.vip",
        ),
        (
            "lb vip taken",
            lb_req(&|l| l.vip = w.lb.vip.clone()),
            AlreadyExists,
            "load_balancer.vip",
        ),
        (
            "lb unknown backend",
            lb_req(&|l| l.services[0].backends[0].port_id = UNKNOWN.into()),
            NotFound,
            "load_balancer.services[0].backends[0].port_id",
        ),
        (
            "lb too many backends",
            lb_req(&|l| {
                l.services[0].backends = (0..513)
                    .map(|i| pb::LbBackend {
                        port_id: format!("00000000-0000-0000-0000-{i:012}"),
                        weight: 1,
                        ..Default::default()
                    })
                    .collect()
            }),
            ResourceExhausted,
            "load_balancer.services[0].backends",
        ),
        (
            "lb too many services",
            lb_req(&|l| {
                l.services = (0..65)
                    .map(|i| pb::LbService {
                        name: format!("s{i}"),
                        port: 1000 + i,
                        target_port: 80,
                        ..Default::default()
                    })
                    .collect()
            }),
            ResourceExhausted,
            "load_balancer.services",
        ),
        (
            "lb duplicate listener",
            lb_req(&|l| {
                let mut s = l.services[0].clone();
                s.name = "again".into();
                l.services.push(s);
            }),
            InvalidArgument,
            "load_balancer.services[1].port",
        ),
        (
            "lb weight too big",
            lb_req(&|l| l.services[0].backends[0].weight = 5000),
            InvalidArgument,
            "load_balancer.services[0].backends[0].weight",
        ),
        (
            "lb update changes vip",
            Call::UpdateLb(pb::UpdateLoadBalancerRequest {
                load_balancer: Some(pb::LoadBalancer {
                    vip: "198.19.0.9".into(),
                    ..w.lb.clone()
                }),
                wait: None,
            }),
            InvalidArgument,
            "load_balancer.vip",
        ),
        // Nodes and lists
        (
            "node no roles",
            Call::CreateNode(pb::CreateNodeRequest {
                node: Some(pb::Node {
                    meta: meta("hv-2"),
                    underlay_ip: "198.18.0.2".into(),
                    ..Default::default()
                }),
            }),
            InvalidArgument,
            "node.roles",
        ),
        (
            "node bad underlay",
            Call::CreateNode(pb::CreateNodeRequest {
                node: Some(pb::Node {
                    meta: meta("hv-2"),
                    underlay_ip: "198.18.0.256".into(),
                    roles: vec![1],
                    ..Default::default()
                }),
            }),
            InvalidArgument,
            "node.underlay_ip",
        ),
        (
            "node id taken",
            Call::CreateNode(pb::CreateNodeRequest {
                node: Some(pb::Node {
                    meta: Some(pb::ObjectMeta {
                        id: node_id.clone(),
                        name: "hv-2".into(),
                        ..Default::default()
                    }),
                    underlay_ip: "198.18.0.2".into(),
                    roles: vec![1],
                    ..Default::default()
                }),
            }),
            AlreadyExists,
            "node.meta.id",
        ),
        (
            "node update stale",
            Call::UpdateNode(pb::UpdateNodeRequest {
                id: node_id.clone(),
                revision: 1,
                ..Default::default()
            }),
            Aborted,
            "revision",
        ),
        (
            "node delete in use",
            Call::DeleteNode(del(&node_id, 0)),
            FailedPrecondition,
            "id",
        ),
        (
            "list page too big",
            Call::ListNodes(pb::ListRequest {
                page_size: 5000,
                ..Default::default()
            }),
            InvalidArgument,
            "page_size",
        ),
        (
            "list nodes by node",
            Call::ListNodes(pb::ListRequest {
                node_id: node_id.clone(),
                ..Default::default()
            }),
            InvalidArgument,
            "node_id",
        ),
    ]
}

async fn invalid_requests<S: Store>(store: S) -> usize {
    let svc = ApiService::new(store);
    let w = world(&svc).await;
    let cases = cases(&w);
    let count = cases.len();
    for (name, call, code, field) in cases {
        let before = svc.registry().store().revision().await.unwrap();
        let status = run(&svc, call).await.expect_err(name);
        assert_eq!(status.code(), code, "{name}: {status:?}");
        let named = status
            .metadata()
            .get(FIELD_METADATA_KEY)
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(named.as_deref(), Some(field), "{name}: {status:?}");
        assert!(!status.message().is_empty());
        assert!(
            !status.message().starts_with(char::is_uppercase),
            "{name}: messages are lower-case: {}",
            status.message()
        );
        let after = svc.registry().store().revision().await.unwrap();
        assert_eq!(after, before, "{name}: the store revision moved");
    }
    count
}

#[tokio::test]
async fn invalid_requests_memory() {
    let n = invalid_requests(MemoryStore::new()).await;
    assert!(n >= 40, "at least 40 invalid-request cases, have {n}");
}

#[tokio::test]
async fn invalid_requests_etcd() {
    let server = EtcdServer::start();
    let store = EtcdStore::connect(&[server.endpoint().to_string()])
        .await
        .unwrap();
    invalid_requests(store).await;
}
