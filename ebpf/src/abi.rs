//! The Rust mirror of `include/sdn_abi.h`, the one definition of the kernel/user ABI.
//!
//! Constants are generated from the header by `build.rs`, so they cannot drift. Structs are mirrored
//! here by hand, each naming the C struct it mirrors, and [`mirrors`] lists them with their layout:
//! a test compares every entry with the BTF of the compiled objects (sizes, field offsets and field
//! sizes) and fails on any difference, and on any struct of the header without a mirror.
//!
//! **API Boundary:** this is the only module that touches raw ABI types; the rest of the workspace
//! sees typed domain values built from them.

include!(concat!(env!("OUT_DIR"), "/abi_consts.rs"));

/// Mirrors `struct sdn_meter_key`: a port and a direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterKey {
    /// The port's ifindex in the node's namespace.
    pub ifindex: u32,
    /// [`SDN_DIR_EGRESS`] or [`SDN_DIR_INGRESS`] (from the instance's point of view).
    pub direction: u32,
}

/// Mirrors `struct sdn_counter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted (whole frames, Ethernet header included).
    pub bytes: u64,
}

/// Mirrors `struct sdn_meter_value`: one counter per frame class.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeterValue {
    /// Indexed by `SDN_CLASS_*`.
    pub by_class: [Counter; SDN_CLASS_COUNT as usize],
}

/// Mirrors `struct sdn_port_config`: a port's security-group and anti-spoofing settings.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortConfig {
    /// Policy id per direction (`SDN_DIR_*`); 0 = no rules.
    pub policy: [u32; SDN_DIR_COUNT as usize],
    /// `SDN_PORT_*` flags.
    pub flags: u32,
    /// Denied-flow events per second per CPU; 0 = `SDN_DENIED_EVENTS_PER_SEC`.
    pub denied_events_per_sec: u32,
    /// The only source MAC the port may send from.
    pub mac: [u8; 6],
    /// Padding.
    pub pad: [u8; 2],
    /// The port's index in the per-port arrays (`sdn_port_stats`, `sdn_event_budget`).
    pub slot: u32,
    /// Padding.
    pub pad2: u32,
}

/// Mirrors `struct sdn_port_addr_key`: a source address a port may use.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortAddrKey {
    /// The port.
    pub ifindex: u32,
    /// The address (IPv4 v4-mapped).
    pub addr: [u8; 16],
}

/// Mirrors `struct sdn_remote_key` (LPM trie key; `prefixlen` counts the 32 policy bits).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RemoteKey {
    /// 32 + the address prefix length.
    pub prefixlen: u32,
    /// The policy id.
    pub policy: u32,
    /// The address (IPv4 v4-mapped).
    pub addr: [u8; 16],
}

/// Mirrors `struct sdn_remote_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteValue {
    /// The remote class id.
    pub class: u32,
}

/// Mirrors `struct sdn_rule_key` (LPM trie key over policy, class, proto, pad, port).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleKey {
    /// 64 + 8 (proto) + 8 (pad) + port prefix bits; 64 = every protocol.
    pub prefixlen: u32,
    /// The policy id.
    pub policy: u32,
    /// The remote class id.
    pub class: u32,
    /// The IP protocol number.
    pub proto: u8,
    /// Zero.
    pub pad: u8,
    /// The destination port (ICMP: type << 8 | code), big-endian.
    pub port: u16,
}

/// Mirrors `struct sdn_remote_host_key`: a /32 or /128 remote, looked up exactly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RemoteHostKey {
    /// The policy id.
    pub policy: u32,
    /// The address (IPv4 v4-mapped).
    pub addr: [u8; 16],
}

/// Mirrors `struct sdn_rule_exact_key`: a single-port rule entry, looked up exactly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleExactKey {
    /// The policy id.
    pub policy: u32,
    /// The remote class id.
    pub class: u32,
    /// The IP protocol number.
    pub proto: u8,
    /// Zero.
    pub pad: u8,
    /// The destination port (ICMP: type << 8 | code), big-endian.
    pub port: u16,
}

/// Mirrors `struct sdn_rule_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleValue {
    /// The allowing rule's numeric id (>= `SDN_RULE_ID_FIRST`).
    pub rule_id: u32,
    /// Zero.
    pub pad: u32,
}

/// Mirrors `struct sdn_rule_stats` (per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Packets the rule decided.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// CLOCK_MONOTONIC of the last one, ns.
    pub last_hit_ns: u64,
}

/// Mirrors `struct sdn_port_stats` (per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Metering, by `SDN_CLASS_*`.
    pub by_class: [Counter; SDN_CLASS_COUNT as usize],
    /// Verdicts by attribution: `[0]` a user rule, else `SDN_BUILTIN_*`.
    pub by_builtin: [Counter; SDN_BUILTIN_COUNT as usize],
}

/// Mirrors `struct sdn_ct_key`: a flow in the port's orientation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtKey {
    /// The port.
    pub ifindex: u32,
    /// IP protocol number.
    pub proto: u8,
    /// `SDN_FAMILY_*`.
    pub family: u8,
    /// Zero.
    pub pad: u16,
    /// The instance's address.
    pub local: [u8; 16],
    /// The peer's address.
    pub remote: [u8; 16],
    /// The instance's port, big-endian (ICMP echo: the identifier).
    pub local_port: u16,
    /// The peer's port, big-endian.
    pub remote_port: u16,
}

/// Mirrors `struct sdn_ct_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtValue {
    /// CLOCK_MONOTONIC at creation, ns.
    pub created_ns: u64,
    /// CLOCK_MONOTONIC of the last packet, ns.
    pub last_seen_ns: u64,
    /// Packets by direction (`SDN_DIR_*`).
    pub packets: [u64; SDN_DIR_COUNT as usize],
    /// Bytes by direction.
    pub bytes: [u64; SDN_DIR_COUNT as usize],
    /// The rule or built-in that admitted the flow.
    pub rule_id: u32,
    /// `SDN_CT_*`.
    pub state: u8,
    /// Direction of the opening packet.
    pub origin: u8,
    /// FIN seen, a bit per direction.
    pub fin_seen: u8,
    /// Zero.
    pub pad: u8,
    /// The port's counter slot when the flow opened.
    pub slot: u32,
    /// Zero.
    pub pad2: u32,
    /// The port's MAC when the flow opened.
    pub mac: [u8; 6],
    /// Zero.
    pub pad3: [u8; 2],
}

/// Mirrors `struct sdn_frag_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// The port.
    pub ifindex: u32,
    /// IPv4 identification or IPv6 fragment id.
    pub id: u32,
    /// IP protocol number.
    pub proto: u8,
    /// `SDN_FAMILY_*`.
    pub family: u8,
    /// `SDN_DIR_*`.
    pub direction: u8,
    /// Zero.
    pub pad: u8,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}

/// Mirrors `struct sdn_frag_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragValue {
    /// CLOCK_MONOTONIC after which later fragments are no longer admitted, ns.
    pub expires_ns: u64,
    /// The rule that admitted the first fragment.
    pub rule_id: u32,
    /// Zero.
    pub pad: u32,
}

/// Mirrors `struct sdn_flow_event` (ring-buffer record).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowEvent {
    /// CLOCK_MONOTONIC, ns.
    pub ts_ns: u64,
    /// Packets (flow ended: both directions).
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// The port.
    pub ifindex: u32,
    /// Rule id or built-in.
    pub rule_id: u32,
    /// `SDN_EVENT_*`.
    pub kind: u8,
    /// `SDN_DIR_*`.
    pub direction: u8,
    /// IP protocol number.
    pub proto: u8,
    /// `SDN_FAMILY_*`.
    pub family: u8,
    /// `SDN_DROP_*` for denied flows.
    pub drop_reason: u16,
    /// Zero.
    pub pad: u16,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Source port, big-endian (ICMP echo: identifier).
    pub sport: u16,
    /// Destination port, big-endian (ICMP: type << 8 | code).
    pub dport: u16,
    /// Denied events not sent since the previous one.
    pub suppressed: u32,
}

/// Mirrors `struct sdn_event_budget` (per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventBudget {
    /// CLOCK_MONOTONIC of the last refill, ns.
    pub last_refill_ns: u64,
    /// Events left in this second.
    pub tokens: u32,
    /// Events suppressed since the last one sent.
    pub suppressed: u32,
}

// ---- Load balancer (`lb.bpf.c`, `lb_backend.bpf.c`) ------------------------------------------

/// Mirrors `struct sdn_lb_config`: a node's underlay, for `sdn_lb_config` and `sdn_lbhv_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbConfig {
    /// LB node: the outer source address; hypervisor: the VTEP it decapsulates for. Network order.
    pub underlay: [u8; 4],
    /// Underlay IP MTU; 0 = `SDN_LB_DEFAULT_MTU`.
    pub mtu: u16,
    /// Zero.
    pub pad: u16,
}

/// Mirrors `struct sdn_lb_svc_key`: (VIP, port, protocol) of a service.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LbSvcKey {
    /// The VIP, network order.
    pub vip: [u8; 4],
    /// The service port, big-endian.
    pub port: u16,
    /// IP protocol number (TCP or UDP).
    pub proto: u8,
    /// Zero.
    pub pad: u8,
}

/// Mirrors `struct sdn_lb_svc_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbSvcValue {
    /// User space's service number; conntrack entries of another number are stale.
    pub id: u32,
    /// First slot of the service's Maglev table in `sdn_lb_maglev`.
    pub table_base: u32,
    /// The table's size (prime); 0 = no table.
    pub table_size: u32,
    /// `SDN_LB_SVC_*`.
    pub flags: u32,
}

/// Mirrors `struct sdn_lb_vip_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbVipValue {
    /// `SDN_LB_VIP_*`.
    pub flags: u32,
    /// Zero.
    pub pad: u32,
}

/// Mirrors `struct sdn_lb_backend`: where a backend lives.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbBackend {
    /// The underlay address of the backend's hypervisor, network order.
    pub vtep: [u8; 4],
    /// `SDN_LB_BACKEND_*`.
    pub flags: u32,
    /// The MAC toward the VTEP.
    pub nexthop_mac: [u8; 6],
    /// Zero.
    pub pad: [u8; 2],
}

/// Mirrors `struct sdn_lb_backend_stats` (per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbBackendStats {
    /// Packets sent to the backend.
    pub packets: u64,
    /// Their bytes (as received).
    pub bytes: u64,
    /// Flows the backend was picked for.
    pub new_flows: u64,
}

/// Mirrors `struct sdn_lb_ct_key`: a client flow to a VIP.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LbCtKey {
    /// Client address, network order.
    pub client: [u8; 4],
    /// VIP, network order.
    pub vip: [u8; 4],
    /// Client port, big-endian.
    pub client_port: u16,
    /// VIP port, big-endian.
    pub vip_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Zero.
    pub pad: [u8; 3],
}

/// Mirrors `struct sdn_lb_ct_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbCtValue {
    /// CLOCK_MONOTONIC at creation, ns.
    pub created_ns: u64,
    /// CLOCK_MONOTONIC of the last packet, ns.
    pub last_seen_ns: u64,
    /// Packets seen.
    pub packets: u64,
    /// Bytes seen.
    pub bytes: u64,
    /// Backend index.
    pub backend: u32,
    /// Service number when the flow was opened.
    pub svc_id: u32,
    /// `SDN_CT_*`.
    pub state: u8,
    /// Zero.
    pub pad: [u8; 7],
}

/// Mirrors `struct sdn_lb_frag_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LbFragKey {
    /// Source address, network order.
    pub src: [u8; 4],
    /// Destination address, network order.
    pub dst: [u8; 4],
    /// IPv4 identification, host order.
    pub id: u32,
    /// IP protocol number.
    pub proto: u8,
    /// Zero.
    pub pad: [u8; 3],
}

/// Mirrors `struct sdn_lb_frag_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbFragValue {
    /// CLOCK_MONOTONIC after which later fragments no longer follow, ns.
    pub expires_ns: u64,
    /// Backend index.
    pub backend: u32,
    /// LB node: the first fragment's flow hash.
    pub hash: u32,
    /// Hypervisor: the address the datagram is translated to, network order.
    pub addr: [u8; 4],
    /// Zero.
    pub pad: u32,
}

/// Mirrors `struct sdn_lb_dnat_key`: (VIP, port, protocol, backend index).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LbDnatKey {
    /// VIP, network order.
    pub vip: [u8; 4],
    /// Service port, big-endian.
    pub port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Zero.
    pub pad: u8,
    /// Backend index (the GENEVE VNI).
    pub backend: u32,
}

/// Mirrors `struct sdn_lb_dnat_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbDnatValue {
    /// The instance's address, network order.
    pub addr: [u8; 4],
    /// The target port, big-endian.
    pub port: u16,
    /// Zero.
    pub pad: u16,
}

/// Mirrors `struct sdn_lb_nat_key`: a DNATed flow as the instance sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LbNatKey {
    /// Client address, network order.
    pub client: [u8; 4],
    /// Instance address, network order.
    pub instance: [u8; 4],
    /// Client port, big-endian.
    pub client_port: u16,
    /// Target port, big-endian.
    pub instance_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Zero.
    pub pad: [u8; 3],
}

/// Mirrors `struct sdn_lb_nat_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbNatValue {
    /// CLOCK_MONOTONIC at creation, ns.
    pub created_ns: u64,
    /// CLOCK_MONOTONIC of the last packet, ns.
    pub last_seen_ns: u64,
    /// Packets by direction (`SDN_DIR_INGRESS` toward the instance).
    pub packets: [u64; SDN_DIR_COUNT as usize],
    /// Bytes by direction.
    pub bytes: [u64; SDN_DIR_COUNT as usize],
    /// The VIP, network order.
    pub vip: [u8; 4],
    /// The VIP port, big-endian.
    pub vip_port: u16,
    /// `SDN_CT_*`.
    pub state: u8,
    /// FIN seen, a bit per direction.
    pub fin_seen: u8,
    /// Backend index.
    pub backend: u32,
    /// Zero.
    pub pad: u32,
}

/// The LPM-trie key of `sdn_remote`: `struct sdn_remote_key` as aya spells LPM keys (prefix
/// length, then the key's data: the policy id in host order and the 16-byte address).
pub fn remote_lpm_key(
    policy: u32,
    addr: [u8; 16],
    addr_prefix_len: u8,
) -> aya::maps::lpm_trie::Key<[u8; 20]> {
    let mut data = [0u8; 20];
    data[..4].copy_from_slice(&policy.to_ne_bytes());
    data[4..].copy_from_slice(&addr);
    aya::maps::lpm_trie::Key::new(32 + u32::from(addr_prefix_len), data)
}

/// The LPM-trie key of `sdn_rule_match`: `struct sdn_rule_key` as aya spells LPM keys. `proto`
/// `None` is every protocol (64 bits); `port_prefix` `None` every port (80 bits); otherwise
/// `(port, bits)` with the port big-endian in the key (80 + bits).
pub fn rule_lpm_key(
    policy: u32,
    class: u32,
    proto: Option<u8>,
    port_prefix: Option<(u16, u8)>,
) -> aya::maps::lpm_trie::Key<[u8; 12]> {
    let mut data = [0u8; 12];
    data[..4].copy_from_slice(&policy.to_ne_bytes());
    data[4..8].copy_from_slice(&class.to_ne_bytes());
    let bits = match (proto, port_prefix) {
        (None, _) => 64,
        (Some(p), None) => {
            data[8] = p;
            80
        }
        (Some(p), Some((port, bits))) => {
            data[8] = p;
            data[10..12].copy_from_slice(&port.to_be_bytes());
            80 + u32::from(bits)
        }
    };
    aya::maps::lpm_trie::Key::new(bits, data)
}

/// Whether a remote entry of this address prefix length (0..=128, IPv4 v4-mapped) belongs in the
/// exact `sdn_remote_host` map rather than the `sdn_remote` trie.
pub fn remote_is_host(addr_prefix_len: u8) -> bool {
    addr_prefix_len == 128
}

/// Whether a rule entry belongs in the exact `sdn_rule_exact` map: a protocol and a full 16-bit
/// port (or ICMP type and code).
pub fn rule_is_exact(proto: Option<u8>, port_prefix: Option<(u16, u8)>) -> bool {
    proto.is_some() && matches!(port_prefix, Some((_, 16)))
}

/// The `sdn_remote_host` key of a host remote.
pub fn remote_host_key(policy: u32, addr: [u8; 16]) -> RemoteHostKey {
    RemoteHostKey { policy, addr }
}

/// The `sdn_rule_exact` key of a single-port rule entry.
pub fn rule_exact_key(policy: u32, class: u32, proto: u8, port: u16) -> RuleExactKey {
    RuleExactKey {
        policy,
        class,
        proto,
        pad: 0,
        port: port.to_be(),
    }
}

/// The layout the LPM helpers above assume, checked against the mirrored key structs.
const _: () = {
    assert!(size_of::<RemoteKey>() == 4 + 20);
    assert!(size_of::<RuleKey>() == 4 + 12);
};

macro_rules! pod {
    ($($ty:ty),+ $(,)?) => {
        // SAFETY: `#[repr(C)]` structs of integers and integer arrays with explicit padding
        // fields (checked against the C layout by the drift test), valid for any bit pattern.
        $(unsafe impl aya::Pod for $ty {})+
    };
}

pod!(
    MeterKey,
    Counter,
    MeterValue,
    PortConfig,
    PortAddrKey,
    RemoteKey,
    RemoteValue,
    RemoteHostKey,
    RuleExactKey,
    RuleKey,
    RuleValue,
    RuleStats,
    PortStats,
    CtKey,
    CtValue,
    FragKey,
    FragValue,
    FlowEvent,
    EventBudget,
    LbConfig,
    LbSvcKey,
    LbSvcValue,
    LbVipValue,
    LbBackend,
    LbBackendStats,
    LbCtKey,
    LbCtValue,
    LbFragKey,
    LbFragValue,
    LbDnatKey,
    LbDnatValue,
    LbNatKey,
    LbNatValue,
);

/// The layout of one mirrored struct, as the Rust compiler lays it out.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// The C struct's name without `struct `.
    pub c_name: &'static str,
    /// `size_of` the Rust type.
    pub size: usize,
    /// `(field, offset, size)` for every field, in declaration order.
    pub fields: Vec<(&'static str, usize, usize)>,
}

fn field_size<T, F>(_: impl Fn(&T) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! mirror {
    ($ty:ty, $c:literal, $($field:ident),+ $(,)?) => {
        Mirror {
            c_name: $c,
            size: size_of::<$ty>(),
            fields: vec![$((
                stringify!($field),
                std::mem::offset_of!($ty, $field),
                field_size(|s: &$ty| &s.$field),
            )),+],
        }
    };
}

/// Every mirrored struct with its Rust layout, for the drift check.
pub fn mirrors() -> Vec<Mirror> {
    vec![
        mirror!(MeterKey, "sdn_meter_key", ifindex, direction),
        mirror!(Counter, "sdn_counter", packets, bytes),
        mirror!(MeterValue, "sdn_meter_value", by_class),
        mirror!(
            PortConfig,
            "sdn_port_config",
            policy,
            flags,
            denied_events_per_sec,
            mac,
            pad,
            slot,
            pad2
        ),
        mirror!(PortAddrKey, "sdn_port_addr_key", ifindex, addr),
        mirror!(RemoteKey, "sdn_remote_key", prefixlen, policy, addr),
        mirror!(RemoteValue, "sdn_remote_value", class),
        mirror!(RemoteHostKey, "sdn_remote_host_key", policy, addr),
        mirror!(
            RuleExactKey,
            "sdn_rule_exact_key",
            policy,
            class,
            proto,
            pad,
            port
        ),
        mirror!(
            RuleKey,
            "sdn_rule_key",
            prefixlen,
            policy,
            class,
            proto,
            pad,
            port
        ),
        mirror!(RuleValue, "sdn_rule_value", rule_id, pad),
        mirror!(RuleStats, "sdn_rule_stats", packets, bytes, last_hit_ns),
        mirror!(PortStats, "sdn_port_stats", by_class, by_builtin),
        mirror!(
            CtKey,
            "sdn_ct_key",
            ifindex,
            proto,
            family,
            pad,
            local,
            remote,
            local_port,
            remote_port
        ),
        mirror!(
            CtValue,
            "sdn_ct_value",
            created_ns,
            last_seen_ns,
            packets,
            bytes,
            rule_id,
            state,
            origin,
            fin_seen,
            pad,
            slot,
            pad2,
            mac,
            pad3
        ),
        mirror!(
            FragKey,
            "sdn_frag_key",
            ifindex,
            id,
            proto,
            family,
            direction,
            pad,
            src,
            dst
        ),
        mirror!(FragValue, "sdn_frag_value", expires_ns, rule_id, pad),
        mirror!(
            FlowEvent,
            "sdn_flow_event",
            ts_ns,
            packets,
            bytes,
            ifindex,
            rule_id,
            kind,
            direction,
            proto,
            family,
            drop_reason,
            pad,
            src,
            dst,
            sport,
            dport,
            suppressed
        ),
        mirror!(
            EventBudget,
            "sdn_event_budget",
            last_refill_ns,
            tokens,
            suppressed
        ),
        // ---- Load balancer
        mirror!(LbConfig, "sdn_lb_config", underlay, mtu, pad),
        mirror!(LbSvcKey, "sdn_lb_svc_key", vip, port, proto, pad),
        mirror!(
            LbSvcValue,
            "sdn_lb_svc_value",
            id,
            table_base,
            table_size,
            flags
        ),
        mirror!(LbVipValue, "sdn_lb_vip_value", flags, pad),
        mirror!(LbBackend, "sdn_lb_backend", vtep, flags, nexthop_mac, pad),
        mirror!(
            LbBackendStats,
            "sdn_lb_backend_stats",
            packets,
            bytes,
            new_flows
        ),
        mirror!(
            LbCtKey,
            "sdn_lb_ct_key",
            client,
            vip,
            client_port,
            vip_port,
            proto,
            pad
        ),
        mirror!(
            LbCtValue,
            "sdn_lb_ct_value",
            created_ns,
            last_seen_ns,
            packets,
            bytes,
            backend,
            svc_id,
            state,
            pad
        ),
        mirror!(LbFragKey, "sdn_lb_frag_key", src, dst, id, proto, pad),
        mirror!(
            LbFragValue,
            "sdn_lb_frag_value",
            expires_ns,
            backend,
            hash,
            addr,
            pad
        ),
        mirror!(LbDnatKey, "sdn_lb_dnat_key", vip, port, proto, pad, backend),
        mirror!(LbDnatValue, "sdn_lb_dnat_value", addr, port, pad),
        mirror!(
            LbNatKey,
            "sdn_lb_nat_key",
            client,
            instance,
            client_port,
            instance_port,
            proto,
            pad
        ),
        mirror!(
            LbNatValue,
            "sdn_lb_nat_value",
            created_ns,
            last_seen_ns,
            packets,
            bytes,
            vip,
            vip_port,
            state,
            fin_seen,
            backend,
            pad
        ),
    ]
}
