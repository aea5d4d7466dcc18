//! Table-driven tests of validation: each case breaks one field of a valid request and expects the
//! gRPC code and the field path.

use std::time::SystemTime;

use sdn_proto::v1 as pb;
use tonic::Code;

use super::*;

const NOW: SystemTime = SystemTime::UNIX_EPOCH;
const GROUP: &str = "00000000-0000-0000-0000-0000000000aa";

fn meta(name: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        name: name.into(),
        ..Default::default()
    })
}

fn network() -> pb::PrivateNetwork {
    pb::PrivateNetwork {
        meta: meta("net-a"),
        ipv4_cidr: "198.18.10.0/24".into(),
        ipv6_prefix: "2001:db8:10::/64".into(),
        mode: pb::NetworkMode::Managed as i32,
        ..Default::default()
    }
}

fn port() -> pb::Port {
    pb::Port {
        meta: meta("port-a"),
        instance_id: "vm-1".into(),
        node_id: "00000000-0000-0000-0000-000000000001".into(),
        network_id: "00000000-0000-0000-0000-000000000002".into(),
        security_group_ids: vec![GROUP.into()],
        ..Default::default()
    }
}

fn rule() -> pb::SecurityRule {
    pb::SecurityRule {
        direction: pb::Direction::Ingress as i32,
        protocol: Some(pb::security_rule::Protocol::ProtocolName(
            pb::ProtocolName::Tcp as i32,
        )),
        port_from: 22,
        port_to: 22,
        remote: Some(pb::security_rule::Remote::RemoteCidr(
            "198.18.0.0/15".into(),
        )),
        ..Default::default()
    }
}

fn group() -> pb::SecurityGroup {
    pb::SecurityGroup {
        meta: meta("web"),
        rules: vec![rule()],
        ..Default::default()
    }
}

fn lb() -> pb::LoadBalancer {
    pb::LoadBalancer {
        meta: meta("lb-a"),
        vip: "198.19.0.10".into(),
        services: vec![pb::LbService {
            name: "http".into(),
            protocol: pb::LbProtocol::Tcp as i32,
            port: 80,
            target_port: 8080,
            backends: vec![pb::LbBackend {
                port_id: "00000000-0000-0000-0000-000000000003".into(),
                weight: 10,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn node() -> pb::Node {
    pb::Node {
        meta: meta("hv-1"),
        underlay_ip: "198.18.0.1".into(),
        roles: vec![pb::NodeRole::Compute as i32],
        ..Default::default()
    }
}

#[test]
fn valid_requests_parse() {
    let n = parse_network(&network(), NOW).unwrap();
    assert_eq!(n.range_v4.unwrap().start.to_string(), "198.18.10.1");
    assert_eq!(n.range_v4.unwrap().end.to_string(), "198.18.10.254");
    assert_eq!(n.mode, NetworkMode::Managed);
    parse_port(&port(), NOW).unwrap();
    let g = parse_security_group(&group(), NOW).unwrap();
    assert_eq!(g.rules[0].ports, Some(PortRange { from: 22, to: 22 }));
    let l = parse_load_balancer(&lb(), NOW).unwrap();
    assert_eq!(
        l.services[0].health_check.port, 8080,
        "health check defaults to the target port"
    );
    parse_node(&node(), NOW).unwrap();
}

#[test]
fn protocol_numbers_with_a_name_are_named() {
    let mut r = rule();
    r.protocol = Some(pb::security_rule::Protocol::ProtocolNumber(6));
    assert_eq!(parse_rule("r", &r).unwrap().protocol, Protocol::Tcp);
    r.protocol = Some(pb::security_rule::Protocol::ProtocolNumber(50));
    r.port_from = 0;
    r.port_to = 0;
    assert_eq!(parse_rule("r", &r).unwrap().protocol, Protocol::Number(50));
}

#[test]
fn mac_parsing() {
    assert_eq!(
        parse_mac("m", "02:AB:cd:00:00:01").unwrap().to_string(),
        "02:ab:cd:00:00:01"
    );
    for bad in [
        "02:00:00:00:00",
        "02:00:00:00:00:01:02",
        "02-00-00-00-00-01",
        "0g:00:00:00:00:01",
        "2:0:0:0:0:1",
    ] {
        assert!(
            matches!(parse_mac("m", bad), Err(Error::Malformed { .. })),
            "{bad}"
        );
    }
    assert!(matches!(
        parse_mac("m", "01:00:5e:00:00:01"),
        Err(Error::Inconsistent { .. })
    ));
    assert!(matches!(
        parse_mac("m", "00:00:00:00:00:00"),
        Err(Error::Inconsistent { .. })
    ));
}

type Case<T> = (&'static str, fn(&mut T), Code, &'static str);

fn check<T: Clone>(base: T, cases: &[Case<T>], parse: impl Fn(&T) -> Result<()>) {
    for (name, mutate, code, field) in cases {
        let mut req = base.clone();
        mutate(&mut req);
        let err = parse(&req).expect_err(name);
        assert_eq!(err.code(), *code, "{name}: {err}");
        assert_eq!(err.field(), Some(*field), "{name}: {err}");
        let msg = err.to_string();
        assert_eq!(
            msg.chars().next().map(char::is_uppercase),
            Some(false),
            "{name}: {msg}"
        );
    }
}

#[test]
fn invalid_networks() {
    let cases: &[Case<pb::PrivateNetwork>] = &[
        (
            "no meta",
            |n| n.meta = None,
            Code::InvalidArgument,
            "network.meta",
        ),
        (
            "empty name",
            |n| n.meta = meta(""),
            Code::InvalidArgument,
            "network.meta.name",
        ),
        (
            "bad name",
            |n| n.meta = meta("a b"),
            Code::InvalidArgument,
            "network.meta.name",
        ),
        (
            "long name",
            |n| n.meta = meta(&"a".repeat(64)),
            Code::ResourceExhausted,
            "network.meta.name",
        ),
        (
            "long description",
            |n| n.description = "d".repeat(256),
            Code::ResourceExhausted,
            "network.description",
        ),
        (
            "no cidr",
            |n| n.ipv4_cidr.clear(),
            Code::InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "bad cidr",
            |n| n.ipv4_cidr = "198.18.300.0/24".into(),
            Code::InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "cidr without length",
            |n| n.ipv4_cidr = "198.18.10.0".into(),
            Code::InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "cidr host bits",
            |n| n.ipv4_cidr = "198.18.10.1/24".into(),
            Code::InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "cidr too small",
            |n| n.ipv4_cidr = "198.18.10.0/31".into(),
            Code::InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "v6 in v4 field",
            |n| n.ipv4_cidr = "2001:db8::/64".into(),
            Code::InvalidArgument,
            "network.ipv4_cidr",
        ),
        (
            "bad v6 prefix",
            |n| n.ipv6_prefix = "2001:db8::/129".into(),
            Code::InvalidArgument,
            "network.ipv6_prefix",
        ),
        (
            "v6 prefix too long",
            |n| n.ipv6_prefix = "2001:db8::/124".into(),
            Code::InvalidArgument,
            "network.ipv6_prefix",
        ),
        (
            "vni too big",
            |n| n.vni = 1 << 24,
            Code::InvalidArgument,
            "network.vni",
        ),
        (
            "unknown mode",
            |n| n.mode = 9,
            Code::InvalidArgument,
            "network.mode",
        ),
        (
            "start outside",
            |n| n.start_ipv4 = "198.18.11.1".into(),
            Code::InvalidArgument,
            "network.start_ipv4",
        ),
        (
            "start is network address",
            |n| n.start_ipv4 = "198.18.10.0".into(),
            Code::InvalidArgument,
            "network.start_ipv4",
        ),
        (
            "end is broadcast",
            |n| n.end_ipv4 = "198.18.10.255".into(),
            Code::InvalidArgument,
            "network.end_ipv4",
        ),
        (
            "inverted range",
            |n| {
                n.start_ipv4 = "198.18.10.100".into();
                n.end_ipv4 = "198.18.10.50".into();
            },
            Code::InvalidArgument,
            "network.end_ipv4",
        ),
        (
            "v6 start outside",
            |n| n.start_ipv6 = "2001:db8:11::1".into(),
            Code::InvalidArgument,
            "network.start_ipv6",
        ),
        (
            "v6 range without prefix",
            |n| {
                n.ipv6_prefix.clear();
                n.start_ipv6 = "2001:db8:10::1".into();
            },
            Code::InvalidArgument,
            "network.start_ipv6",
        ),
        (
            "range on unmanaged",
            |n| {
                n.mode = pb::NetworkMode::Unmanaged as i32;
                n.start_ipv4 = "198.18.10.5".into();
            },
            Code::InvalidArgument,
            "network.start_ipv4",
        ),
        (
            "lease bad mac",
            |n| {
                n.static_leases = vec![pb::StaticLease {
                    mac: "zz".into(),
                    ipv4: "198.18.10.5".into(),
                    ..Default::default()
                }]
            },
            Code::InvalidArgument,
            "network.static_leases[0].mac",
        ),
        (
            "lease outside range",
            |n| {
                n.end_ipv4 = "198.18.10.10".into();
                n.static_leases = vec![pb::StaticLease {
                    mac: "02:00:00:00:00:01".into(),
                    ipv4: "198.18.10.20".into(),
                    ..Default::default()
                }];
            },
            Code::InvalidArgument,
            "network.static_leases[0].ipv4",
        ),
        (
            "lease duplicate address",
            |n| {
                n.static_leases = vec![
                    pb::StaticLease {
                        mac: "02:00:00:00:00:01".into(),
                        ipv4: "198.18.10.5".into(),
                        ..Default::default()
                    },
                    pb::StaticLease {
                        mac: "02:00:00:00:00:02".into(),
                        ipv4: "198.18.10.5".into(),
                        ..Default::default()
                    },
                ]
            },
            Code::InvalidArgument,
            "network.static_leases[1].ipv4",
        ),
        (
            "lease duplicate mac",
            |n| {
                n.static_leases = vec![
                    pb::StaticLease {
                        mac: "02:00:00:00:00:01".into(),
                        ipv4: "198.18.10.5".into(),
                        ..Default::default()
                    },
                    pb::StaticLease {
                        mac: "02:00:00:00:00:01".into(),
                        ipv4: "198.18.10.6".into(),
                        ..Default::default()
                    },
                ]
            },
            Code::InvalidArgument,
            "network.static_leases[1].mac",
        ),
        (
            "lease without address",
            |n| {
                n.static_leases = vec![pb::StaticLease {
                    mac: "02:00:00:00:00:01".into(),
                    ..Default::default()
                }]
            },
            Code::InvalidArgument,
            "network.static_leases[0].ipv4",
        ),
        (
            "leases on unmanaged",
            |n| {
                n.mode = pb::NetworkMode::Unmanaged as i32;
                n.static_leases = vec![pb::StaticLease {
                    mac: "02:00:00:00:00:01".into(),
                    ipv4: "198.18.10.5".into(),
                    ..Default::default()
                }];
            },
            Code::InvalidArgument,
            "network.static_leases",
        ),
    ];
    check(network(), cases, |n| parse_network(n, NOW).map(drop));
}

#[test]
fn invalid_ports() {
    let cases: &[Case<pb::Port>] = &[
        (
            "no instance",
            |p| p.instance_id.clear(),
            Code::InvalidArgument,
            "port.instance_id",
        ),
        (
            "long instance",
            |p| p.instance_id = "i".repeat(129),
            Code::ResourceExhausted,
            "port.instance_id",
        ),
        (
            "no node",
            |p| p.node_id.clear(),
            Code::InvalidArgument,
            "port.node_id",
        ),
        (
            "bad node id",
            |p| p.node_id = "node-1".into(),
            Code::InvalidArgument,
            "port.node_id",
        ),
        (
            "bad network id",
            |p| p.network_id = "x".into(),
            Code::InvalidArgument,
            "port.network_id",
        ),
        (
            "bad mac",
            |p| p.mac = "02:00:00:00:00".into(),
            Code::InvalidArgument,
            "port.mac",
        ),
        (
            "multicast mac",
            |p| p.mac = "03:00:00:00:00:01".into(),
            Code::InvalidArgument,
            "port.mac",
        ),
        (
            "bad ipv4",
            |p| p.ipv4 = "198.18.10.256".into(),
            Code::InvalidArgument,
            "port.ipv4",
        ),
        (
            "v6 in ipv4",
            |p| p.ipv4 = "2001:db8::1".into(),
            Code::InvalidArgument,
            "port.ipv4",
        ),
        (
            "bad ipv6",
            |p| p.ipv6 = "2001:db8::g".into(),
            Code::InvalidArgument,
            "port.ipv6",
        ),
        (
            "duplicate group",
            |p| p.security_group_ids = vec![GROUP.into(), GROUP.into()],
            Code::InvalidArgument,
            "port.security_group_ids[1]",
        ),
        (
            "bad group id",
            |p| p.security_group_ids = vec!["web".into()],
            Code::InvalidArgument,
            "port.security_group_ids[0]",
        ),
        (
            "too many groups",
            |p| {
                p.security_group_ids = (0..17)
                    .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
                    .collect()
            },
            Code::ResourceExhausted,
            "port.security_group_ids",
        ),
    ];
    check(port(), cases, |p| parse_port(p, NOW).map(drop));
}

#[test]
fn invalid_security_groups() {
    use pb::security_rule::{Protocol as P, Remote as R};
    fn name(p: pb::ProtocolName) -> Option<P> {
        Some(P::ProtocolName(p as i32))
    }
    let cases: &[Case<pb::SecurityGroup>] = &[
        (
            "no name",
            |g| g.meta = meta(""),
            Code::InvalidArgument,
            "group.meta.name",
        ),
        (
            "no direction",
            |g| g.rules[0].direction = 0,
            Code::InvalidArgument,
            "group.rules[0].direction",
        ),
        (
            "unknown direction",
            |g| g.rules[0].direction = 7,
            Code::InvalidArgument,
            "group.rules[0].direction",
        ),
        (
            "no protocol",
            |g| g.rules[0].protocol = None,
            Code::InvalidArgument,
            "group.rules[0].protocol",
        ),
        (
            "unspecified protocol",
            |g| g.rules[0].protocol = name(pb::ProtocolName::Unspecified),
            Code::InvalidArgument,
            "group.rules[0].protocol_name",
        ),
        (
            "protocol number too big",
            |g| g.rules[0].protocol = Some(P::ProtocolNumber(256)),
            Code::InvalidArgument,
            "group.rules[0].protocol_number",
        ),
        (
            "inverted port range",
            |g| {
                g.rules[0].port_from = 100;
                g.rules[0].port_to = 99;
            },
            Code::InvalidArgument,
            "group.rules[0].port_to",
        ),
        (
            "port too big",
            |g| g.rules[0].port_to = 65536,
            Code::InvalidArgument,
            "group.rules[0].port_to",
        ),
        (
            "port_to without port_from",
            |g| g.rules[0].port_from = 0,
            Code::InvalidArgument,
            "group.rules[0].port_from",
        ),
        (
            "ports on icmp",
            |g| g.rules[0].protocol = name(pb::ProtocolName::Icmp),
            Code::InvalidArgument,
            "group.rules[0].port_from",
        ),
        (
            "ports on all",
            |g| g.rules[0].protocol = name(pb::ProtocolName::All),
            Code::InvalidArgument,
            "group.rules[0].port_from",
        ),
        (
            "ports on gre",
            |g| g.rules[0].protocol = Some(P::ProtocolNumber(47)),
            Code::InvalidArgument,
            "group.rules[0].port_from",
        ),
        (
            "icmp code without type",
            |g| {
                g.rules[0].protocol = name(pb::ProtocolName::Icmp);
                g.rules[0].port_from = 0;
                g.rules[0].port_to = 0;
                g.rules[0].icmp_code = Some(0);
            },
            Code::InvalidArgument,
            "group.rules[0].icmp_code",
        ),
        (
            "icmp type on tcp",
            |g| g.rules[0].icmp_type = Some(8),
            Code::InvalidArgument,
            "group.rules[0].icmp_type",
        ),
        (
            "icmp type too big",
            |g| {
                g.rules[0].protocol = name(pb::ProtocolName::Icmp);
                g.rules[0].port_from = 0;
                g.rules[0].port_to = 0;
                g.rules[0].icmp_type = Some(256);
            },
            Code::InvalidArgument,
            "group.rules[0].icmp_type",
        ),
        (
            "icmp with v6 remote",
            |g| {
                g.rules[0].protocol = name(pb::ProtocolName::Icmp);
                g.rules[0].port_from = 0;
                g.rules[0].port_to = 0;
                g.rules[0].remote = Some(R::RemoteCidr("2001:db8::/32".into()));
            },
            Code::InvalidArgument,
            "group.rules[0].remote_cidr",
        ),
        (
            "bad remote cidr",
            |g| g.rules[0].remote = Some(R::RemoteCidr("198.18.0.0/33".into())),
            Code::InvalidArgument,
            "group.rules[0].remote_cidr",
        ),
        (
            "remote cidr host bits",
            |g| g.rules[0].remote = Some(R::RemoteCidr("198.18.0.1/16".into())),
            Code::InvalidArgument,
            "group.rules[0].remote_cidr",
        ),
        (
            "bad remote group",
            |g| g.rules[0].remote = Some(R::RemoteGroupId("web".into())),
            Code::InvalidArgument,
            "group.rules[0].remote_group_id",
        ),
        (
            "bad rule id",
            |g| g.rules[0].id = "r1".into(),
            Code::InvalidArgument,
            "group.rules[0].id",
        ),
        (
            "duplicate rule id",
            |g| {
                g.rules[0].id = GROUP.into();
                let r = g.rules[0].clone();
                g.rules.push(r);
            },
            Code::InvalidArgument,
            "group.rules[1].id",
        ),
        (
            "too many rules",
            |g| g.rules = vec![rule(); 1025],
            Code::ResourceExhausted,
            "group.rules",
        ),
    ];
    check(group(), cases, |g| parse_security_group(g, NOW).map(drop));
}

#[test]
fn invalid_load_balancers() {
    let cases: &[Case<pb::LoadBalancer>] = &[
        (
            "no vip",
            |l| l.vip.clear(),
            Code::InvalidArgument,
            "load_balancer.vip",
        ),
        (
            "v6 vip",
            |l| l.vip = "2001:db8::1".into(),
            Code::InvalidArgument,
            "load_balancer.vip",
        ),
        (
            "multicast vip",
            |l| l.vip = "224.0.0.1".into(),
            Code::InvalidArgument,
            "load_balancer.vip",
        ),
        (
            "no service name",
            |l| l.services[0].name.clear(),
            Code::InvalidArgument,
            "load_balancer.services[0].name",
        ),
        (
            "port zero",
            |l| l.services[0].port = 0,
            Code::InvalidArgument,
            "load_balancer.services[0].port",
        ),
        (
            "target port too big",
            |l| l.services[0].target_port = 70000,
            Code::InvalidArgument,
            "load_balancer.services[0].target_port",
        ),
        (
            "duplicate listener",
            |l| {
                let mut s = l.services[0].clone();
                s.name = "other".into();
                l.services.push(s);
            },
            Code::InvalidArgument,
            "load_balancer.services[1].port",
        ),
        (
            "duplicate service name",
            |l| {
                let mut s = l.services[0].clone();
                s.port = 81;
                l.services.push(s);
            },
            Code::InvalidArgument,
            "load_balancer.services[1].name",
        ),
        (
            "weight too big",
            |l| l.services[0].backends[0].weight = 1001,
            Code::InvalidArgument,
            "load_balancer.services[0].backends[0].weight",
        ),
        (
            "duplicate backend",
            |l| {
                let b = l.services[0].backends[0].clone();
                l.services[0].backends.push(b);
            },
            Code::InvalidArgument,
            "load_balancer.services[0].backends[1].port_id",
        ),
        (
            "bad backend id",
            |l| l.services[0].backends[0].port_id = "p".into(),
            Code::InvalidArgument,
            "load_balancer.services[0].backends[0].port_id",
        ),
        (
            "too many backends",
            |l| {
                l.services[0].backends = (0..513)
                    .map(|i| pb::LbBackend {
                        port_id: format!("00000000-0000-0000-0000-{i:012}"),
                        weight: 1,
                        ..Default::default()
                    })
                    .collect()
            },
            Code::ResourceExhausted,
            "load_balancer.services[0].backends",
        ),
        (
            "too many services",
            |l| {
                l.services = (0..65)
                    .map(|i| pb::LbService {
                        name: format!("s{i}"),
                        port: 1000 + i,
                        target_port: 80,
                        ..Default::default()
                    })
                    .collect()
            },
            Code::ResourceExhausted,
            "load_balancer.services",
        ),
        (
            "interval too short",
            |l| {
                l.services[0].health_check = Some(pb::HealthCheck {
                    interval_ms: 10,
                    ..Default::default()
                })
            },
            Code::InvalidArgument,
            "load_balancer.services[0].health_check.interval_ms",
        ),
        (
            "timeout above interval",
            |l| {
                l.services[0].health_check = Some(pb::HealthCheck {
                    interval_ms: 2000,
                    timeout_ms: 3000,
                    ..Default::default()
                })
            },
            Code::InvalidArgument,
            "load_balancer.services[0].health_check.timeout_ms",
        ),
        (
            "http path on tcp check",
            |l| {
                l.services[0].health_check = Some(pb::HealthCheck {
                    http_path: "/x".into(),
                    ..Default::default()
                })
            },
            Code::InvalidArgument,
            "load_balancer.services[0].health_check.http_path",
        ),
        (
            "bad http path",
            |l| {
                l.services[0].health_check = Some(pb::HealthCheck {
                    mode: pb::HealthCheckMode::Http as i32,
                    http_path: "health".into(),
                    ..Default::default()
                })
            },
            Code::InvalidArgument,
            "load_balancer.services[0].health_check.http_path",
        ),
        (
            "bad http status",
            |l| {
                l.services[0].health_check = Some(pb::HealthCheck {
                    mode: pb::HealthCheckMode::Http as i32,
                    http_expected_status: 99,
                    ..Default::default()
                })
            },
            Code::InvalidArgument,
            "load_balancer.services[0].health_check.http_expected_status",
        ),
        (
            "retries too many",
            |l| {
                l.services[0].health_check = Some(pb::HealthCheck {
                    retries_down: 21,
                    ..Default::default()
                })
            },
            Code::InvalidArgument,
            "load_balancer.services[0].health_check.retries_down",
        ),
    ];
    check(lb(), cases, |l| parse_load_balancer(l, NOW).map(drop));
}

#[test]
fn invalid_nodes() {
    let cases: &[Case<pb::Node>] = &[
        (
            "no underlay",
            |n| n.underlay_ip.clear(),
            Code::InvalidArgument,
            "node.underlay_ip",
        ),
        (
            "bad underlay",
            |n| n.underlay_ip = "hv1".into(),
            Code::InvalidArgument,
            "node.underlay_ip",
        ),
        (
            "multicast underlay",
            |n| n.underlay_ip = "239.0.0.1".into(),
            Code::InvalidArgument,
            "node.underlay_ip",
        ),
        (
            "no roles",
            |n| n.roles.clear(),
            Code::InvalidArgument,
            "node.roles",
        ),
        (
            "unknown role",
            |n| n.roles = vec![9],
            Code::InvalidArgument,
            "node.roles[0]",
        ),
        (
            "duplicate role",
            |n| n.roles = vec![1, 1],
            Code::InvalidArgument,
            "node.roles[1]",
        ),
        (
            "bad id",
            |n| n.meta.as_mut().unwrap().id = "hv-1".into(),
            Code::InvalidArgument,
            "node.meta.id",
        ),
    ];
    check(node(), cases, |n| parse_node(n, NOW).map(drop));
}

#[test]
fn wait_timeouts() {
    assert_eq!(parse_wait("wait", None).unwrap(), None);
    let ok = pb::Wait {
        timeout: Some(prost_types::Duration {
            seconds: 2,
            nanos: 0,
        }),
    };
    assert_eq!(
        parse_wait("wait", Some(&ok)).unwrap(),
        Some(std::time::Duration::from_secs(2))
    );
    let long = pb::Wait {
        timeout: Some(prost_types::Duration {
            seconds: 601,
            nanos: 0,
        }),
    };
    let err = parse_wait("wait", Some(&long)).unwrap_err();
    assert_eq!(err.field(), Some("wait.timeout"));
    assert!(parse_wait("wait", Some(&pb::Wait { timeout: None })).is_err());
}
