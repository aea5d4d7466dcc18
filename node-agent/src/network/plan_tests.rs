//! Planner tests: fixtures on hand-written kernel states, and a small model of the kernel that
//! applies a plan, to check that planning again yields nothing.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::network::intent::{MAX_VNI, RemotePort};
use crate::network::state::LinkState;

const HV1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const HV2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
const HV3: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3));

fn mac(last: u8) -> MacAddr {
    MacAddr([0x02, 0, 0xc6, 0x12, 0, last])
}

fn remote(last: u8, vtep: IpAddr) -> RemotePort {
    RemotePort {
        mac: mac(last),
        ipv4: Some(Ipv4Addr::new(198, 18, 10, last)),
        ipv6: Some(Ipv6Addr::new(
            0x2001,
            0xdb8,
            10,
            0,
            0,
            0,
            0,
            u16::from(last),
        )),
        vtep,
    }
}

fn network(vni: u32, ports: &[&str], remotes: Vec<RemotePort>, flood: &[IpAddr]) -> NetworkIntent {
    NetworkIntent {
        id: format!("net-{vni}"),
        vni,
        local_ports: ports.iter().map(|p| (*p).to_owned()).collect(),
        remote_ports: remotes,
        flood: flood.iter().copied().collect(),
    }
}

fn node(networks: Vec<NetworkIntent>) -> NodeNetworks {
    NodeNetworks {
        underlay: HV1,
        networks,
    }
}

/// Two local ports, two remote ports on hv2 and hv3, both in the flood list.
fn net_a() -> NetworkIntent {
    network(
        100,
        &["p1", "p2"],
        vec![remote(2, HV2), remote(3, HV3)],
        &[HV2, HV3],
    )
}

/// A kernel with the ports `ports` (veths, up, no master).
fn kernel(ports: &[&str]) -> KernelState {
    let mut state = KernelState::default();
    for p in ports {
        let mut link = LinkState::new(LinkKind::Other);
        link.up = true;
        state.links.insert((*p).to_owned(), link);
    }
    state
}

/// What the kernel does with each operation, as far as the planner can see.
fn simulate(state: &mut KernelState, ops: &[NetlinkOp]) {
    for op in ops {
        match op {
            NetlinkOp::DeleteLink { name } => {
                assert!(state.links.remove(name).is_some(), "{op}: no such link");
                state.fdb.retain(|e| e.dev != *name);
                state.neighbours.retain(|n| n.dev != *name);
                for link in state.links.values_mut() {
                    if link.master.as_deref() == Some(name) {
                        link.master = None;
                        link.bridge_port = None;
                    }
                }
            }
            NetlinkOp::CreateBridge { name } => {
                let old = state
                    .links
                    .insert(name.clone(), LinkState::new(LinkKind::Bridge));
                assert!(old.is_none(), "{op}: exists");
            }
            NetlinkOp::CreateVxlan {
                name,
                vni,
                local,
                dstport,
            } => {
                let kind = LinkKind::Vxlan(VxlanState {
                    vni: *vni,
                    local: Some(*local),
                    dstport: *dstport,
                    learning: false,
                });
                assert!(
                    state
                        .links
                        .insert(name.clone(), LinkState::new(kind))
                        .is_none()
                );
            }
            NetlinkOp::SetMaster { dev, master } => {
                assert_eq!(state.links[master].kind, LinkKind::Bridge, "{op}");
                let link = state.links.get_mut(dev).expect("port exists");
                if link.master.as_deref() != Some(master) {
                    link.master = Some(master.clone());
                    link.bridge_port = Some(BridgePortState {
                        learning: true,
                        neigh_suppress: false,
                    });
                }
            }
            NetlinkOp::Release { dev } => {
                let link = state.links.get_mut(dev).expect("port exists");
                link.master = None;
                link.bridge_port = None;
            }
            NetlinkOp::ConfigureVxlanPort { dev } => {
                let link = state.links.get_mut(dev).expect("vxlan exists");
                assert!(link.master.is_some(), "{op}: not a bridge port");
                link.bridge_port = Some(VXLAN_PORT_SETTINGS);
            }
            NetlinkOp::SetUp { dev } => state.links.get_mut(dev).expect("link exists").up = true,
            NetlinkOp::AddFdb(entry) => {
                assert!(state.links.contains_key(&entry.dev), "{op}");
                if !entry.mac.is_zero() {
                    state.fdb.retain(|e| {
                        !(e.dev == entry.dev
                            && e.mac == entry.mac
                            && (matches!(e.target, FdbTarget::Remote(_))
                                == matches!(entry.target, FdbTarget::Remote(_))))
                    });
                }
                state.fdb.insert(entry.clone());
            }
            NetlinkOp::DelFdb(entry) => assert!(state.fdb.remove(entry), "{op}: absent"),
            NetlinkOp::SetNeighbour(n) => {
                state
                    .neighbours
                    .retain(|m| !(m.dev == n.dev && m.ip == n.ip));
                state.neighbours.insert(n.clone());
            }
            NetlinkOp::DelNeighbour(n) => assert!(state.neighbours.remove(n), "{op}: absent"),
        }
    }
}

/// Plans, applies the plan to the model, and checks that planning again yields nothing.
fn converge(state: &mut KernelState, intent: &NodeNetworks) -> Vec<NetlinkOp> {
    let names = DeviceNames::default();
    let ops = plan(state, intent, &names).expect("valid intent");
    simulate(state, &ops);
    let again = plan(state, intent, &names).expect("valid intent");
    assert!(again.is_empty(), "not idempotent; second plan: {again:#?}");
    ops
}

fn texts(ops: &[NetlinkOp]) -> Vec<String> {
    ops.iter().map(ToString::to_string).collect()
}

#[test]
fn a_new_network_is_built_in_order() {
    let mut state = kernel(&["p1", "p2"]);
    let ops = converge(&mut state, &node(vec![net_a()]));
    assert_eq!(
        texts(&ops),
        [
            "create bridge sdnbr100",
            "create vxlan sdnvx100 id 100 local 198.18.0.1 dstport 4789 nolearning",
            "set sdnvx100 master sdnbr100",
            "set bridge port sdnvx100 learning off neigh_suppress on",
            "set sdnvx100 up",
            "set p1 master sdnbr100",
            "set p2 master sdnbr100",
            "set sdnbr100 up",
            "fdb add 00:00:00:00:00:00 dev sdnvx100 dst 198.18.0.2 self permanent",
            "fdb add 00:00:00:00:00:00 dev sdnvx100 dst 198.18.0.3 self permanent",
            "fdb add 02:00:c6:12:00:02 dev sdnvx100 dst 198.18.0.2 self permanent",
            "fdb add 02:00:c6:12:00:02 dev sdnvx100 master static",
            "fdb add 02:00:c6:12:00:03 dev sdnvx100 dst 198.18.0.3 self permanent",
            "fdb add 02:00:c6:12:00:03 dev sdnvx100 master static",
            "neigh replace 198.18.10.2 lladdr 02:00:c6:12:00:02 dev sdnbr100 permanent",
            "neigh replace 198.18.10.3 lladdr 02:00:c6:12:00:03 dev sdnbr100 permanent",
            "neigh replace 2001:db8:a::2 lladdr 02:00:c6:12:00:02 dev sdnbr100 permanent",
            "neigh replace 2001:db8:a::3 lladdr 02:00:c6:12:00:03 dev sdnbr100 permanent",
        ]
    );
}

#[test]
fn the_intended_state_plans_nothing() {
    let mut state = kernel(&["p1", "p2", "p3"]);
    let intent = node(vec![net_a(), network(200, &["p3"], vec![], &[HV3])]);
    converge(&mut state, &intent);
    let ops = plan(&state, &intent, &DeviceNames::default()).unwrap();
    assert_eq!(ops, []);
}

#[test]
fn a_deleted_fdb_entry_is_the_only_repair() {
    let mut state = kernel(&["p1", "p2"]);
    let intent = node(vec![net_a()]);
    converge(&mut state, &intent);
    let lost = FdbEntry {
        dev: "sdnvx100".into(),
        mac: mac(2),
        target: FdbTarget::Remote(HV2),
    };
    assert!(state.fdb.remove(&lost));
    let flood = FdbEntry {
        dev: "sdnvx100".into(),
        mac: MacAddr::ZERO,
        target: FdbTarget::Remote(HV3),
    };
    assert!(state.fdb.remove(&flood));
    let ops = converge(&mut state, &intent);
    assert_eq!(ops, [NetlinkOp::AddFdb(flood), NetlinkOp::AddFdb(lost)]);
}

#[test]
fn a_node_leaving_the_flood_list_loses_only_its_flood_entry() {
    let mut state = kernel(&["p1", "p2"]);
    converge(&mut state, &node(vec![net_a()]));
    let mut net = net_a();
    net.flood.remove(&HV3);
    let ops = converge(&mut state, &node(vec![net]));
    assert_eq!(
        texts(&ops),
        ["fdb del 00:00:00:00:00:00 dev sdnvx100 dst 198.18.0.3 self permanent"]
    );
}

#[test]
fn a_remote_port_moving_to_another_node_moves_its_fdb_entry() {
    let mut state = kernel(&["p1", "p2"]);
    converge(&mut state, &node(vec![net_a()]));
    let mut net = net_a();
    net.remote_ports[0].vtep = HV3;
    let ops = converge(&mut state, &node(vec![net]));
    assert_eq!(
        texts(&ops),
        [
            "fdb del 02:00:c6:12:00:02 dev sdnvx100 dst 198.18.0.2 self permanent",
            "fdb add 02:00:c6:12:00:02 dev sdnvx100 dst 198.18.0.3 self permanent",
        ]
    );
}

#[test]
fn a_removed_remote_port_takes_its_entries_and_a_changed_mac_replaces_the_neighbour() {
    let mut state = kernel(&["p1", "p2"]);
    converge(&mut state, &node(vec![net_a()]));
    let mut net = net_a();
    net.remote_ports.remove(1);
    net.remote_ports[0].mac = mac(9);
    let ops = converge(&mut state, &node(vec![net]));
    assert_eq!(
        texts(&ops),
        [
            "fdb del 02:00:c6:12:00:02 dev sdnvx100 dst 198.18.0.2 self permanent",
            "fdb del 02:00:c6:12:00:02 dev sdnvx100 master static",
            "fdb del 02:00:c6:12:00:03 dev sdnvx100 dst 198.18.0.3 self permanent",
            "fdb del 02:00:c6:12:00:03 dev sdnvx100 master static",
            "fdb add 02:00:c6:12:00:09 dev sdnvx100 dst 198.18.0.2 self permanent",
            "fdb add 02:00:c6:12:00:09 dev sdnvx100 master static",
            "neigh del 198.18.10.3 dev sdnbr100",
            "neigh del 2001:db8:a::3 dev sdnbr100",
            "neigh replace 198.18.10.2 lladdr 02:00:c6:12:00:09 dev sdnbr100 permanent",
            "neigh replace 2001:db8:a::2 lladdr 02:00:c6:12:00:09 dev sdnbr100 permanent",
        ]
    );
}

#[test]
fn a_network_no_longer_hosted_is_deleted_and_foreign_devices_are_left_alone() {
    let mut state = kernel(&[
        "p1",
        "p2",
        "p3",
        "otherbr100",
        "sdnbr0100",
        "sdnbrx",
        "eth0",
    ]);
    converge(
        &mut state,
        &node(vec![net_a(), network(200, &["p3"], vec![], &[HV2])]),
    );
    let ops = converge(&mut state, &node(vec![net_a()]));
    assert_eq!(
        texts(&ops),
        ["delete link sdnvx200", "delete link sdnbr200"]
    );
    assert_eq!(state.links["p3"].master, None);
    for foreign in ["otherbr100", "sdnbr0100", "sdnbrx", "eth0"] {
        assert!(state.links.contains_key(foreign), "{foreign} was touched");
    }
    let ops = converge(&mut state, &node(vec![]));
    assert_eq!(
        texts(&ops),
        ["delete link sdnvx100", "delete link sdnbr100"]
    );
}

#[test]
fn ports_join_leave_and_move_between_networks() {
    let mut state = kernel(&["p1", "p2", "p3"]);
    let b = |ports: &[&str]| network(200, ports, vec![], &[HV2]);
    converge(&mut state, &node(vec![net_a(), b(&["p3"])]));
    // p2 moves from A to B, p3 leaves B for nothing.
    let mut a = net_a();
    a.local_ports.remove("p2");
    let ops = converge(&mut state, &node(vec![a, b(&["p2"])]));
    assert_eq!(texts(&ops), ["set p2 master sdnbr200", "set p3 nomaster"]);
    assert_eq!(state.links["p2"].master.as_deref(), Some("sdnbr200"));
    assert_eq!(state.links["p3"].master, None);
}

#[test]
fn a_vxlan_device_with_wrong_settings_is_rebuilt_with_its_entries() {
    let mut state = kernel(&["p1", "p2"]);
    let intent = node(vec![net_a()]);
    converge(&mut state, &intent);
    let LinkKind::Vxlan(vx) = &mut state.links.get_mut("sdnvx100").unwrap().kind else {
        panic!("not a vxlan")
    };
    vx.learning = true;
    let ops = converge(&mut state, &intent);
    let ops = texts(&ops);
    assert_eq!(ops[0], "delete link sdnvx100");
    assert!(ops[1].starts_with("create vxlan sdnvx100"));
    assert_eq!(ops[2], "set sdnvx100 master sdnbr100");
    assert_eq!(ops.iter().filter(|o| o.starts_with("fdb add")).count(), 6);
    assert!(!ops.iter().any(|o| o.starts_with("neigh")), "{ops:?}");
}

#[test]
fn vxlan_port_settings_and_link_state_are_repaired() {
    let mut state = kernel(&["p1", "p2"]);
    let intent = node(vec![net_a()]);
    converge(&mut state, &intent);
    state.links.get_mut("sdnvx100").unwrap().bridge_port = Some(BridgePortState {
        learning: true,
        neigh_suppress: false,
    });
    state.links.get_mut("sdnbr100").unwrap().up = false;
    state.links.get_mut("p1").unwrap().master = None;
    state.fdb.insert(FdbEntry {
        dev: "sdnvx100".into(),
        mac: mac(7),
        target: FdbTarget::Learned,
    });
    let ops = converge(&mut state, &intent);
    assert_eq!(
        texts(&ops),
        [
            "set bridge port sdnvx100 learning off neigh_suppress on",
            "set p1 master sdnbr100",
            "set sdnbr100 up",
            "fdb del 02:00:c6:12:00:07 dev sdnvx100 master (learned)",
        ]
    );
}

#[test]
fn a_foreign_device_squatting_a_name_is_replaced() {
    let mut state = kernel(&["p1", "p2", "sdnbr100"]);
    let ops = converge(&mut state, &node(vec![net_a()]));
    assert_eq!(
        texts(&ops[..2]),
        ["delete link sdnbr100", "create bridge sdnbr100"]
    );
}

#[test]
fn the_local_vtep_is_never_a_destination() {
    let mut state = kernel(&["p1"]);
    let net = network(100, &["p1"], vec![remote(2, HV1)], &[HV1, HV2]);
    let ops = converge(&mut state, &node(vec![net]));
    let fdb: Vec<_> = texts(&ops)
        .into_iter()
        .filter(|o| o.starts_with("fdb"))
        .collect();
    assert_eq!(
        fdb,
        ["fdb add 00:00:00:00:00:00 dev sdnvx100 dst 198.18.0.2 self permanent"]
    );
}

#[test]
fn invalid_intents_are_refused() {
    let names = DeviceNames::default();
    let state = KernelState::default();
    let refused = |networks: Vec<NetworkIntent>| plan(&state, &node(networks), &names).unwrap_err();
    assert_eq!(
        refused(vec![network(0, &[], vec![], &[])]),
        IntentError::VniOutOfRange { vni: 0 }
    );
    assert_eq!(
        refused(vec![network(MAX_VNI + 1, &[], vec![], &[])]),
        IntentError::VniOutOfRange { vni: MAX_VNI + 1 }
    );
    assert_eq!(
        refused(vec![
            network(7, &[], vec![], &[]),
            network(7, &[], vec![], &[])
        ]),
        IntentError::DuplicateVni { vni: 7 }
    );
    assert!(matches!(
        refused(vec![
            network(7, &["p1"], vec![], &[]),
            network(8, &["p1"], vec![], &[])
        ]),
        IntentError::PortInTwoNetworks {
            first: 7,
            second: 8,
            ..
        }
    ));
    let v6: IpAddr = "2001:db8::2".parse().unwrap();
    assert!(matches!(
        refused(vec![network(7, &[], vec![], &[v6])]),
        IntentError::VtepFamily { vni: 7, .. }
    ));
    let mut twice = remote(2, HV3);
    twice.ipv4 = None;
    twice.ipv6 = None;
    assert!(matches!(
        refused(vec![network(7, &[], vec![remote(2, HV2), twice], &[])]),
        IntentError::MacOnTwoVteps { vni: 7, .. }
    ));
    let mut same_ip = remote(3, HV2);
    same_ip.ipv4 = Some(Ipv4Addr::new(198, 18, 10, 2));
    assert!(matches!(
        refused(vec![network(7, &[], vec![remote(2, HV2), same_ip], &[])]),
        IntentError::AddressOnTwoMacs { vni: 7, .. }
    ));
    let mut multicast = remote(2, HV2);
    multicast.mac = MacAddr([1, 0, 0x5e, 0, 0, 1]);
    assert!(matches!(
        refused(vec![network(7, &[], vec![multicast], &[])]),
        IntentError::BadRemoteMac { vni: 7, .. }
    ));
}

#[test]
fn device_names_fit_and_parse_back() {
    let names = DeviceNames::new("abcde").unwrap();
    assert_eq!(names.bridge(MAX_VNI), "abcdebr16777215");
    assert!(names.bridge(MAX_VNI).len() <= 15 && names.vxlan(MAX_VNI).len() <= 15);
    for vni in [1, 100, MAX_VNI] {
        let br = names.parse(&names.bridge(vni)).unwrap();
        assert_eq!((br.kind, br.vni), (DeviceKind::Bridge, vni));
        let vx = names.parse(&names.vxlan(vni)).unwrap();
        assert_eq!((vx.kind, vx.vni), (DeviceKind::Vxlan, vni));
    }
    for foreign in [
        "abcdebr",
        "abcdebr0",
        "abcdebr01",
        "abcdebr16777216",
        "abcdebrx",
        "abcdvx1",
        "eth0",
    ] {
        assert!(names.parse(foreign).is_none(), "{foreign}");
    }
    for bad in ["", "abcdef", "Sdn", "s-n"] {
        assert!(DeviceNames::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn macs_print_and_parse() {
    let m: MacAddr = "02:00:c6:12:0a:ff".parse().unwrap();
    assert_eq!(m, MacAddr([2, 0, 0xc6, 0x12, 0x0a, 0xff]));
    assert_eq!(m.to_string(), "02:00:c6:12:0a:ff");
    for bad in [
        "",
        "02:00:c6:12:0a",
        "02:00:c6:12:0a:ff:00",
        "2:00:c6:12:0a:ff",
        "zz:00:c6:12:0a:ff",
    ] {
        assert!(bad.parse::<MacAddr>().is_err(), "{bad:?}");
    }
    assert!(!MacAddr::ZERO.is_unicast());
    assert!(m.is_unicast());
    let set: BTreeSet<MacAddr> = [m, MacAddr::ZERO].into();
    assert_eq!(set.first(), Some(&MacAddr::ZERO));
}
