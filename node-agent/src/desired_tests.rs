use super::*;

const NET: &str = "11111111-1111-4111-8111-111111111111";
const GROUP: &str = "22222222-2222-4222-8222-222222222222";
const OTHER_GROUP: &str = "33333333-3333-4333-8333-333333333333";
const PORT: &str = "6f1c2b8e-4a5d-4e6f-8a9b-0c1d2e3f4a5b";
const PORT2: &str = "7f1c2b8e-4a5d-4e6f-8a9b-0c1d2e3f4a5b";
const R_ICMP: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const R_TCP: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const R_ANY: &str = "aaaaaaaa-0000-4000-8000-000000000003";
const R_GROUP: &str = "aaaaaaaa-0000-4000-8000-000000000004";

fn meta(id: &str) -> Option<pb::ObjectMeta> {
    Some(pb::ObjectMeta {
        id: id.into(),
        name: "x".into(),
        ..Default::default()
    })
}

fn obj(o: Object) -> pb::DesiredObject {
    pb::DesiredObject { object: Some(o) }
}

fn port(id: &str, mac: &str, ipv4: &str, groups: &[&str]) -> Object {
    Object::Port(pb::Port {
        meta: meta(id),
        network_id: NET.into(),
        mac: mac.into(),
        ipv4: ipv4.into(),
        security_group_ids: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    })
}

fn rule(id: &str, proto: pb::ProtocolName, port: u32, remote: Option<&str>) -> pb::SecurityRule {
    use pb::security_rule::{Protocol as P, Remote as R};
    pb::SecurityRule {
        id: id.into(),
        direction: pb::Direction::Ingress as i32,
        protocol: Some(P::ProtocolName(proto as i32)),
        port_from: port,
        remote: remote.map(|r| {
            if r.contains('/') {
                R::RemoteCidr(r.into())
            } else {
                R::RemoteGroupId(r.into())
            }
        }),
        ..Default::default()
    }
}

fn group(rules: Vec<pb::SecurityRule>) -> Object {
    Object::SecurityGroup(pb::SecurityGroup {
        meta: meta(GROUP),
        rules,
        ..Default::default()
    })
}

fn network(managed: bool) -> Object {
    Object::Network(pb::NetworkConfig {
        network: Some(pb::PrivateNetwork {
            meta: meta(NET),
            ipv4_cidr: "198.18.10.0/24".into(),
            vni: 100,
            mode: if managed {
                pb::NetworkMode::Managed
            } else {
                pb::NetworkMode::Unmanaged
            } as i32,
            ..Default::default()
        }),
        neighbors: vec![pb::Neighbor {
            port_id: "remote".into(),
            mac: "02:00:00:00:00:99".into(),
            ipv4: "198.18.10.99".into(),
            ipv6: String::new(),
            vtep: "198.18.0.2".into(),
        }],
        flood_vteps: vec!["198.18.0.2".into()],
    })
}

fn snapshot(revision: i64, objects: Vec<Object>) -> pb::Snapshot {
    pb::Snapshot {
        revision,
        objects: objects.into_iter().map(obj).collect(),
    }
}

fn settings() -> NodeSettings {
    NodeSettings::new("198.18.0.1".parse().unwrap())
}

fn base_store() -> DesiredStore {
    let mut s = DesiredStore::new();
    s.apply_snapshot(&snapshot(
        10,
        vec![
            port(PORT, "02:00:c6:12:00:01", "198.18.10.1", &[GROUP]),
            network(true),
            group(vec![
                rule(R_ICMP, pb::ProtocolName::Icmp, 0, Some("198.18.10.0/24")),
                rule(R_TCP, pb::ProtocolName::Tcp, 8080, Some("198.18.10.0/24")),
            ]),
        ],
    ));
    s
}

#[test]
fn device_names_follow_the_convention() {
    assert_eq!(port_device(PORT).as_deref(), Some("sdn6f1c2b8e4a5d"));
    assert_eq!(port_device(PORT).unwrap().len(), 15);
    assert_eq!(
        port_device("6F1C2B8E-4A5D-4E6F-8A9B-0C1D2E3F4A5B").as_deref(),
        Some("sdn6f1c2b8e4a5d")
    );
    assert_eq!(port_device("not-a-uuid"), None);
    assert_eq!(port_device("6f1c2b8e4a5d4e6f8a9b0c1d2e3f4a5b"), None);
    // Never one of the network devices' names.
    assert!(DeviceNames::default().parse("sdn6f1c2b8e4a5d").is_none());
}

#[test]
fn link_local_is_eui64() {
    let mac = MacAddr::from_str("02:00:c6:12:00:01").unwrap();
    assert_eq!(
        link_local(mac),
        Ipv6Addr::from_str("fe80::c6ff:fe12:1").unwrap()
    );
    let mac = MacAddr::from_str("52:54:00:12:34:56").unwrap();
    assert_eq!(link_local(mac).to_string(), "fe80::5054:ff:fe12:3456");
}

#[test]
fn snapshot_then_deltas_by_kind_and_id() {
    let mut s = base_store();
    assert_eq!(s.revision(), 10);
    assert_eq!(s.len(), 3);
    // A delta from another base is refused and changes nothing.
    let wrong = pb::Delta {
        revision: 12,
        base_revision: 11,
        ..Default::default()
    };
    assert!(matches!(
        s.apply_delta(&wrong),
        Err(StoreError::BaseMismatch { held: 10, .. })
    ));
    assert_eq!(s.revision(), 10);
    let delta = pb::Delta {
        revision: 11,
        base_revision: 10,
        upserts: vec![obj(port(PORT2, "02:00:c6:12:00:02", "198.18.10.2", &[]))],
        removals: vec![pb::ObjectRef {
            kind: pb::ObjectKind::Port as i32,
            id: PORT.into(),
        }],
    };
    let applied = s.apply_delta(&delta).unwrap();
    assert_eq!(applied.revision, 11);
    assert!(!applied.unchanged);
    let ids: Vec<String> = s.ports().map(|p| meta_id(&p.meta)).collect();
    assert_eq!(ids, vec![PORT2.to_string()]);
    // The same delta again is a no-op (idempotent).
    let again = s.apply_delta(&delta).unwrap();
    assert!(again.unchanged);
    assert_eq!(s.ports().count(), 1);
    // A snapshot replaces everything.
    s.apply_snapshot(&snapshot(20, vec![network(false)]));
    assert_eq!(s.revision(), 20);
    assert_eq!(s.len(), 1);
    assert_eq!(s.ports().count(), 0);
}

#[test]
fn revoking_groups_are_reported() {
    let mut s = base_store();
    let mut g = pb::SecurityGroup {
        meta: meta(GROUP),
        ..Default::default()
    };
    g.revoked_rule_ids = vec![R_TCP.into()];
    let applied = s
        .apply_delta(&pb::Delta {
            revision: 11,
            base_revision: 10,
            upserts: vec![obj(Object::SecurityGroup(g))],
            removals: vec![],
        })
        .unwrap();
    assert_eq!(applied.revoking_groups, BTreeSet::from([GROUP.to_string()]));
}

#[test]
fn port_spec_policy_networks_and_leases() {
    let s = base_store();
    let mut ids = RuleIds::new();
    let intent = node_intent(&s, &settings(), &mut ids);
    assert_eq!(intent.problems, vec![]);
    let p = &intent.ports["sdn6f1c2b8e4a5d"];
    assert_eq!(p.id, PORT);
    assert_eq!(p.spec.mac, [2, 0, 0xc6, 0x12, 0, 1]);
    assert_eq!(
        p.spec.addrs,
        vec![
            "fe80::c6ff:fe12:1".parse::<IpAddr>().unwrap(),
            "198.18.10.1".parse().unwrap()
        ]
    );
    assert_eq!(p.policy.rules.len(), 2);
    let tcp = p
        .policy
        .rules
        .iter()
        .find(|r| r.protocol == Protocol::Tcp)
        .unwrap();
    assert_eq!(tcp.ports, Some(8080..=8080));
    assert_eq!(tcp.id, ids.id(&RuleKey::whole(R_TCP)).unwrap());
    assert!(
        p.policy
            .rules
            .iter()
            .all(|r| r.id >= crate::policy::FIRST_RULE_ID)
    );
    // It compiles.
    crate::policy::compile(&p.policy, 1, 2).unwrap();

    assert_eq!(intent.networks.networks.len(), 1);
    let n = &intent.networks.networks[0];
    assert_eq!(n.vni, 100);
    assert_eq!(
        n.local_ports,
        BTreeSet::from(["sdn6f1c2b8e4a5d".to_string()])
    );
    assert_eq!(n.remote_ports.len(), 1);
    assert_eq!(
        n.remote_ports[0].vtep,
        "198.18.0.2".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        n.flood,
        BTreeSet::from(["198.18.0.2".parse::<IpAddr>().unwrap()])
    );
    intent.networks.validate().unwrap();

    let d = &intent.dhcp[NET];
    assert_eq!(d.bridge, "sdnbr100");
    assert_eq!(d.config.server_id, Ipv4Addr::new(198, 18, 10, 254));
    assert_eq!(
        d.leases,
        Leases::from([(
            MacAddr([2, 0, 0xc6, 0x12, 0, 1]),
            Ipv4Addr::new(198, 18, 10, 1)
        )])
    );
}

#[test]
fn unmanaged_networks_get_no_dhcp() {
    let mut s = base_store();
    s.apply_delta(&pb::Delta {
        revision: 11,
        base_revision: 10,
        upserts: vec![obj(network(false))],
        removals: vec![],
    })
    .unwrap();
    let intent = node_intent(&s, &settings(), &mut RuleIds::new());
    assert!(intent.dhcp.is_empty());
    assert_eq!(intent.networks.networks.len(), 1);
}

#[test]
fn rules_without_remote_split_by_family_and_groups_use_address_sets() {
    let mut s = DesiredStore::new();
    let members = pb::AddressSet {
        group_id: OTHER_GROUP.into(),
        addresses: vec!["198.18.10.7".into(), "2001:db8:10::7".into()],
    };
    s.apply_snapshot(&snapshot(
        5,
        vec![
            port(PORT, "02:00:c6:12:00:01", "198.18.10.1", &[GROUP]),
            network(true),
            group(vec![
                rule(R_ANY, pb::ProtocolName::Tcp, 22, None),
                rule(R_ICMP, pb::ProtocolName::Icmp, 0, None),
                rule(R_GROUP, pb::ProtocolName::Udp, 53, Some(OTHER_GROUP)),
            ]),
            Object::AddressSet(members),
        ],
    ));
    let mut ids = RuleIds::new();
    let intent = node_intent(&s, &settings(), &mut ids);
    assert_eq!(intent.problems, vec![]);
    let p = &intent.ports["sdn6f1c2b8e4a5d"];
    // tcp from anywhere: two rules; icmp from anywhere: IPv4 only; the group rule: one.
    assert_eq!(p.policy.rules.len(), 4);
    assert!(ids.id(&RuleKey::v4(R_ANY)).is_some());
    assert!(ids.id(&RuleKey::v6(R_ANY)).is_some());
    assert!(ids.id(&RuleKey::v4(R_ICMP)).is_some());
    assert!(ids.id(&RuleKey::v6(R_ICMP)).is_none());
    let members = &p.policy.group_members[&GroupId(OTHER_GROUP.into())];
    assert_eq!(members.len(), 2);
    crate::policy::compile(&p.policy, 1, 2).unwrap();
    // Recomputing keeps every id.
    let before = ids.clone();
    let again = node_intent(&s, &settings(), &mut ids);
    assert_eq!(again, intent);
    assert_eq!(ids, before);
}

#[test]
fn missing_pieces_are_problems_not_failures() {
    let mut s = DesiredStore::new();
    s.apply_snapshot(&snapshot(
        5,
        vec![
            port(PORT, "02:00:c6:12:00:01", "198.18.10.1", &[GROUP]),
            port(PORT2, "", "198.18.10.2", &[]),
            port("bad", "02:00:c6:12:00:03", "", &[]),
        ],
    ));
    let intent = node_intent(&s, &settings(), &mut RuleIds::new());
    let reasons: Vec<(pb::ObjectKind, &str)> = intent
        .problems
        .iter()
        .map(|p| (p.kind, p.id.as_str()))
        .collect();
    assert!(reasons.contains(&(pb::ObjectKind::SecurityGroup, GROUP)));
    assert!(reasons.contains(&(pb::ObjectKind::Port, PORT2)));
    assert!(reasons.contains(&(pb::ObjectKind::Port, "bad")));
    // The network was not sent: named, and the port still gets its programs.
    assert!(reasons.contains(&(pb::ObjectKind::Port, PORT)));
    assert_eq!(intent.ports.len(), 1);
    assert!(intent.networks.networks.is_empty());
}
