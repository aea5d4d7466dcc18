//! The compiled eBPF objects, built from `ebpf/programs/*.bpf.c` by `build.rs` and embedded.

/// One compiled object: its name (the source file without `.bpf.c`) and its ELF bytes.
#[derive(Debug, Clone, Copy)]
pub struct Object {
    /// `metering` for `programs/metering.bpf.c`.
    pub name: &'static str,
    /// The ELF object, aligned as aya requires.
    pub bytes: &'static [u8],
}

/// Per-port metering: `sdn_meter_rx` (XDP) and `sdn_meter_tx` (TC).
pub const METERING: Object = Object {
    name: "metering",
    bytes: aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/metering.bpf.o")),
};

/// Instance port programs: security groups, anti-spoofing, conntrack, attribution, metering:
/// `sdn_port_egress` (XDP) and `sdn_port_ingress` (TC).
pub const PORT: Object = Object {
    name: "port",
    bytes: aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/port.bpf.o")),
};

/// An XDP program that does nothing: the baseline of benchmarks (`sdn_empty`).
pub const EMPTY: Object = Object {
    name: "empty",
    bytes: aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/empty.bpf.o")),
};

/// Load balancer on `lb` nodes: `sdn_lb_xdp` (XDP on the uplink: service lookup, conntrack,
/// Maglev, GENEVE encapsulation toward the backend's hypervisor, echo replies for VIPs).
pub const LB: Object = Object {
    name: "lb",
    bytes: aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lb.bpf.o")),
};

/// Load balancer on a backend's hypervisor: `sdn_lbhv_decap` (XDP on the uplink: decapsulate,
/// DNAT, track) and `sdn_lbhv_rnat` (TC on the instance port's receive side: reverse NAT).
pub const LB_BACKEND: Object = Object {
    name: "lb_backend",
    bytes: aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lb_backend.bpf.o")),
};

/// Every object this crate builds.
pub const ALL: &[Object] = &[METERING, PORT, EMPTY, LB, LB_BACKEND];

/// Program and map names, the same strings as in the C sources.
pub mod names {
    /// XDP metering on a port's receive side.
    pub const METER_RX: &str = "sdn_meter_rx";
    /// TC metering on a port's transmit side.
    pub const METER_TX: &str = "sdn_meter_tx";
    /// Per-port, per-direction, per-class counters.
    pub const METER_MAP: &str = "sdn_meter";
    /// Frames seen on ports without a `sdn_meter` entry.
    pub const METER_MISSED_MAP: &str = "sdn_meter_missed";
    /// The empty XDP program of [`super::EMPTY`].
    pub const EMPTY: &str = "sdn_empty";
    /// XDP security-group filter on a port's receive side (instance egress).
    pub const PORT_EGRESS: &str = "sdn_port_egress";
    /// TC security-group filter on a port's transmit side (instance ingress).
    pub const PORT_INGRESS: &str = "sdn_port_ingress";
    /// ifindex -> port config.
    pub const PORT_MAP: &str = "sdn_port";
    /// Allowed source addresses per port.
    pub const PORT_ADDR_MAP: &str = "sdn_port_addr";
    /// Remote address -> remote class (LPM).
    pub const REMOTE_MAP: &str = "sdn_remote";
    /// (class, proto, port) -> rule (LPM).
    pub const RULE_MATCH_MAP: &str = "sdn_rule_match";
    /// /32 and /128 remote address -> remote class (exact, looked up before the LPM).
    pub const REMOTE_HOST_MAP: &str = "sdn_remote_host";
    /// (class, proto, single port) -> rule (exact, looked up before the LPM).
    pub const RULE_EXACT_MAP: &str = "sdn_rule_exact";
    /// Per-rule counters.
    pub const RULE_STATS_MAP: &str = "sdn_rule_stats";
    /// Per-port metering and verdict counters.
    pub const PORT_STATS_MAP: &str = "sdn_port_stats";
    /// Drops by reason.
    pub const DROPS_MAP: &str = "sdn_drops";
    /// Conntrack.
    pub const CT_MAP: &str = "sdn_ct";
    /// Conntrack fill.
    pub const CT_COUNT_MAP: &str = "sdn_ct_count";
    /// Admitted fragmented datagrams.
    pub const FRAG_MAP: &str = "sdn_frag";
    /// Flow events ring buffer.
    pub const EVENTS_MAP: &str = "sdn_events";
    /// Denied-event budgets.
    pub const EVENT_BUDGET_MAP: &str = "sdn_event_budget";

    // ---- Load balancer (docs/nlb.md)
    /// XDP on the uplink of `lb` nodes.
    pub const LB_XDP: &str = "sdn_lb_xdp";
    /// The LB node's underlay (`[0]`).
    pub const LB_CONFIG_MAP: &str = "sdn_lb_config";
    /// (VIP, port, proto) -> service.
    pub const LB_SVC_MAP: &str = "sdn_lb_svc";
    /// VIP -> what the node does for the VIP itself (echo).
    pub const LB_VIP_MAP: &str = "sdn_lb_vip";
    /// Every service's Maglev table: slot -> backend index.
    pub const LB_MAGLEV_MAP: &str = "sdn_lb_maglev";
    /// Backend index -> VTEP and state.
    pub const LB_BACKEND_MAP: &str = "sdn_lb_backend";
    /// Backend index -> packets, bytes, new flows (per CPU).
    pub const LB_BACKEND_STATS_MAP: &str = "sdn_lb_backend_stats";
    /// LB node conntrack.
    pub const LB_CT_MAP: &str = "sdn_lb_ct";
    /// LB node fragment tracking.
    pub const LB_FRAG_MAP: &str = "sdn_lb_frag";
    /// LB node outcomes (`SDN_LB_STAT_*`).
    pub const LB_STATS_MAP: &str = "sdn_lb_stats";
    /// LB node drops (`SDN_LB_DROP_*`).
    pub const LB_DROPS_MAP: &str = "sdn_lb_drops";
    /// XDP on a hypervisor's uplink: decapsulation and DNAT.
    pub const LBHV_DECAP: &str = "sdn_lbhv_decap";
    /// TC on an instance port's receive side: reverse NAT of replies.
    pub const LBHV_RNAT: &str = "sdn_lbhv_rnat";
    /// The hypervisor's VTEP (`[0]`).
    pub const LBHV_CONFIG_MAP: &str = "sdn_lbhv_config";
    /// (VIP, port, proto, backend) -> (instance address, target port).
    pub const LBHV_DNAT_MAP: &str = "sdn_lbhv_dnat";
    /// Hypervisor conntrack of DNATed flows.
    pub const LBHV_CT_MAP: &str = "sdn_lbhv_ct";
    /// Hypervisor fragment tracking (both directions).
    pub const LBHV_FRAG_MAP: &str = "sdn_lbhv_frag";
    /// Hypervisor outcomes (`SDN_LB_STAT_*`).
    pub const LBHV_STATS_MAP: &str = "sdn_lbhv_stats";
    /// Hypervisor drops (`SDN_LB_DROP_*`).
    pub const LBHV_DROPS_MAP: &str = "sdn_lbhv_drops";
}
