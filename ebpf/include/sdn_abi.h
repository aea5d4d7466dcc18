/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one definition of everything shared between the eBPF programs and user space: map keys and
 * values, event records, and constants.
 *
 * Rules (see docs/ebpf.md):
 *  - fixed-width types only, explicit padding, a _Static_assert on every struct size;
 *  - every constant user space needs is an integer `#define SDN_...` on one line: build.rs turns each
 *    into a Rust `pub const` (ebpf/src/abi.rs includes them), so they cannot drift;
 *  - every struct is mirrored once in ebpf/src/abi.rs; a test compares sizes and field offsets with
 *    the BTF of the compiled objects, so a field changed here without the Rust side fails the tests.
 */
#ifndef SDN_ABI_H
#define SDN_ABI_H

#include <linux/types.h>

/* ---- Metering (billing counters per port) ---------------------------------------------------- */

/* Directions, always from the instance's point of view. */
#define SDN_DIR_EGRESS 0  /* what the instance sends: the port's receive side (XDP) */
#define SDN_DIR_INGRESS 1 /* what is delivered to the instance: the port's transmit side (TC) */
#define SDN_DIR_COUNT 2

/* What kind of frame was counted. Malformed frames are counted too: billing never loses bytes. */
#define SDN_CLASS_IPV4 0
#define SDN_CLASS_IPV6 1
#define SDN_CLASS_ARP 2
#define SDN_CLASS_OTHER 3     /* any other ethertype */
#define SDN_CLASS_MALFORMED 4 /* too short for its own headers */
#define SDN_CLASS_COUNT 5

/* Upper bound of metered ports (x2 directions) per node; -DSDN_MAX_PORTS=N overrides it. */
#ifndef SDN_MAX_PORTS
#define SDN_MAX_PORTS 4096
#endif

/* Parsing limits. */
#define SDN_MAX_VLAN_TAGS 2 /* 802.1ad outer + 802.1Q inner; a third tag is malformed */
#define SDN_MAX_IPV6_EXT_HDRS 8

/* Key of sdn_meter: a port (its ifindex in the node's namespace) and a direction. */
struct sdn_meter_key {
	__u32 ifindex;
	__u32 direction; /* SDN_DIR_EGRESS or SDN_DIR_INGRESS */
};
_Static_assert(sizeof(struct sdn_meter_key) == 8, "sdn_meter_key size");

struct sdn_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct sdn_counter) == 16, "sdn_counter size");

/* Value of sdn_meter (per CPU: user space sums the CPUs). */
struct sdn_meter_value {
	struct sdn_counter by_class[SDN_CLASS_COUNT]; /* indexed by SDN_CLASS_* */
};
_Static_assert(sizeof(struct sdn_meter_value) == 16 * SDN_CLASS_COUNT, "sdn_meter_value size");

/* Slots of sdn_meter_missed: frames seen on a port the agent has not registered in sdn_meter. */
#define SDN_MISSED_SLOTS 1

/* ---- Security groups -------------------------------------------------------------------------
 *
 * Classification through maps, not loops (ARCHITECTURE.md, "Security-group classification"):
 *  1. sdn_port: ifindex -> the port's config, including one policy id per direction;
 *  2. sdn_remote (LPM): (policy id, remote address) -> remote class: the set of rule remotes
 *     (CIDRs, group members) that contain the address, numbered by user space;
 *  3. sdn_rule_match (LPM): (policy id, remote class, protocol, port prefix) -> rule id.
 * Addresses are 16 bytes; IPv4 is written v4-mapped (::ffff:a.b.c.d). Policy ids are allocated by
 * user space per (port policy, generation, direction): a change writes a new id's entries, flips
 * sdn_port in one update, then deletes the old id's entries.
 */

/* Verdict attribution: a user rule id (>= SDN_RULE_ID_FIRST) or one of these built-ins. */
#define SDN_BUILTIN_NONE 0
#define SDN_BUILTIN_DEFAULT_DENY_INGRESS 1
#define SDN_BUILTIN_DEFAULT_DENY_EGRESS 2
#define SDN_BUILTIN_EGRESS_OPEN 3
#define SDN_BUILTIN_ANTI_SPOOF 4
#define SDN_BUILTIN_ESTABLISHED 5 /* a packet of a tracked flow, or an ICMP error related to one */
#define SDN_BUILTIN_FRAGMENT 6    /* a non-first fragment: follows its first fragment's verdict */
#define SDN_BUILTIN_INVALID 7     /* malformed, or not allowed on a port at all */
#define SDN_BUILTIN_CONNTRACK_FULL 8
#define SDN_BUILTIN_ARP_ND 9      /* ARP and IPv6 neighbour discovery that passed anti-spoofing */
#define SDN_BUILTIN_DHCP 10       /* DHCPv4 client requests and server replies to the client */
#define SDN_BUILTIN_NO_PORT 11    /* a frame on a port without config: dropped */
#define SDN_BUILTIN_COUNT 12
#define SDN_RULE_ID_FIRST 1024

/* Why a frame was dropped (sdn_drops index). */
#define SDN_DROP_DEFAULT_DENY_INGRESS 0
#define SDN_DROP_DEFAULT_DENY_EGRESS 1
#define SDN_DROP_SPOOF_MAC 2
#define SDN_DROP_SPOOF_IP 3
#define SDN_DROP_SPOOF_ARP 4
#define SDN_DROP_SPOOF_ND 5
#define SDN_DROP_SPOOF_DHCP_SERVER 6
#define SDN_DROP_SPOOF_ROUTER_ADVERT 7
#define SDN_DROP_FRAGMENT_UNTRACKED 8
#define SDN_DROP_MALFORMED 9
#define SDN_DROP_VLAN_TAGGED 10
#define SDN_DROP_ETHERTYPE 11
#define SDN_DROP_TCP_FLAGS 12      /* impossible flag combinations, or no SYN to open a flow */
#define SDN_DROP_CONNTRACK_FULL 13
#define SDN_DROP_NO_PORT 14
#define SDN_DROP_COUNT 15

/* sdn_port_config.flags */
#define SDN_PORT_EGRESS_DEFAULT_DENY 0x1 /* the port's groups hold at least one egress rule */

/* Conntrack states. */
#define SDN_CT_NEW 1         /* one direction seen (TCP: SYN sent) */
#define SDN_CT_ESTABLISHED 2 /* both directions seen (TCP: the SYN was answered) */
#define SDN_CT_CLOSING 3     /* TCP: a FIN was seen */
#define SDN_CT_CLOSED 4      /* TCP: RST, or FINs from both sides */

/* Conntrack idle timeouts, seconds (user-space GC uses the same). */
#define SDN_CT_TIMEOUT_TCP_NEW 60
#define SDN_CT_TIMEOUT_TCP_ESTABLISHED 7200
#define SDN_CT_TIMEOUT_TCP_CLOSING 120
#define SDN_CT_TIMEOUT_TCP_CLOSED 10
#define SDN_CT_TIMEOUT_UDP_NEW 30
#define SDN_CT_TIMEOUT_UDP_ESTABLISHED 180
#define SDN_CT_TIMEOUT_OTHER 60 /* ICMP echo and other protocols */
#define SDN_FRAG_TIMEOUT 30

/* Conntrack capacity: entries, and the fill above which new flows are refused (permille). */
#ifndef SDN_CT_MAX
#define SDN_CT_MAX 262144
#endif
#define SDN_CT_HIGH_WATER_PERMILLE 950

/* Other capacities. */
#ifndef SDN_MAX_POLICY_ENTRIES
#define SDN_MAX_POLICY_ENTRIES 1048576 /* sdn_remote and sdn_rule_match entries, each */
#endif
#ifndef SDN_MAX_RULES
#define SDN_MAX_RULES 262144
#endif
#define SDN_MAX_PORT_ADDRS 16 /* allowed source addresses per port (anti-spoofing) */

/* Flow events (ring buffer). */
#define SDN_EVENT_FLOW_ADMITTED 1
#define SDN_EVENT_FLOW_DENIED 2
#define SDN_EVENT_FLOW_ENDED 3
#define SDN_EVENTS_RING_BYTES 1048576
#define SDN_DENIED_EVENTS_PER_SEC 100 /* per port and CPU, default when the port sets 0 */

/* Address families in keys. */
#define SDN_FAMILY_IPV4 4
#define SDN_FAMILY_IPV6 6

/* sdn_port: ifindex -> config. Written by user space; one update switches a whole policy. */
struct sdn_port_config {
	__u32 policy[SDN_DIR_COUNT]; /* policy id per direction; 0 = no rules */
	__u32 flags;                 /* SDN_PORT_* */
	__u32 denied_events_per_sec; /* 0 = SDN_DENIED_EVENTS_PER_SEC */
	__u8 mac[6];                 /* the only source MAC the port may send from */
	__u8 pad[2];
	__u32 slot;                  /* the port's index in the per-port arrays, < SDN_MAX_PORTS */
	__u32 pad2;
};
_Static_assert(sizeof(struct sdn_port_config) == 32, "sdn_port_config size");

/* sdn_port_addr: (ifindex, address) -> 1 for every source address the port may use. */
struct sdn_port_addr_key {
	__u32 ifindex;
	__u8 addr[16]; /* IPv4 v4-mapped */
};
_Static_assert(sizeof(struct sdn_port_addr_key) == 20, "sdn_port_addr_key size");

/* sdn_remote (LPM trie): prefixlen counts the 32 policy bits plus the address prefix. */
struct sdn_remote_key {
	__u32 prefixlen;
	__u32 policy;
	__u8 addr[16];
};
_Static_assert(sizeof(struct sdn_remote_key) == 24, "sdn_remote_key size");

struct sdn_remote_value {
	__u32 class; /* remote class id, > 0 */
};
_Static_assert(sizeof(struct sdn_remote_value) == 4, "sdn_remote_value size");

/* sdn_rule_match (LPM trie): prefixlen = 64 (policy, class) [+ 8 proto + 8 pad [+ 0..16 port]].
 * `port` is the opening packet's destination port (the instance's for ingress, the remote's for
 * egress); for ICMP and ICMPv6 it is type << 8 | code.
 * A 64-bit prefix matches every protocol ("all"); 80 bits one protocol without ports. */
struct sdn_rule_key {
	__u32 prefixlen;
	__u32 policy;
	__u32 class;
	__u8 proto;
	__u8 pad;
	__be16 port;
};
_Static_assert(sizeof(struct sdn_rule_key) == 16, "sdn_rule_key size");

struct sdn_rule_value {
	__u32 rule_id; /* >= SDN_RULE_ID_FIRST */
	__u32 pad;
};
_Static_assert(sizeof(struct sdn_rule_value) == 8, "sdn_rule_value size");

/* Exact companions of the two LPM tries, looked up first: an entry of full length is the longest
 * prefix there is, so a hit is the answer the trie would give, at the cost of a hash lookup
 * whatever the trie's size. User space writes /32 and /128 remotes into sdn_remote_host and
 * single-port (and ICMP type+code) rule entries into sdn_rule_exact, everything else into the
 * tries. Values are struct sdn_remote_value and struct sdn_rule_value. */
struct sdn_remote_host_key {
	__u32 policy;
	__u8 addr[16]; /* IPv4 v4-mapped */
};
_Static_assert(sizeof(struct sdn_remote_host_key) == 20, "sdn_remote_host_key size");

struct sdn_rule_exact_key {
	__u32 policy;
	__u32 class;
	__u8 proto;
	__u8 pad;
	__be16 port; /* ICMP: type << 8 | code */
};
_Static_assert(sizeof(struct sdn_rule_exact_key) == 12, "sdn_rule_exact_key size");

/* sdn_rule_stats (per CPU): rule id -> what the rule decided (new flows it admitted). */
struct sdn_rule_stats {
	__u64 packets;
	__u64 bytes;
	__u64 last_hit_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
};
_Static_assert(sizeof(struct sdn_rule_stats) == 24, "sdn_rule_stats size");

/* sdn_port_stats (per-CPU array): index slot * SDN_DIR_COUNT + direction -> billing classes and
 * verdict attribution. An array, so the lookup is inlined: it sits on every packet's path. */
struct sdn_port_stats {
	struct sdn_counter by_class[SDN_CLASS_COUNT];     /* metering, indexed by SDN_CLASS_* */
	struct sdn_counter by_builtin[SDN_BUILTIN_COUNT]; /* [0] = decided by a user rule */
};
_Static_assert(sizeof(struct sdn_port_stats) == 16 * (SDN_CLASS_COUNT + SDN_BUILTIN_COUNT),
	       "sdn_port_stats size");

/* sdn_ct (LRU): a flow in the port's orientation, so both directions find the same entry. */
struct sdn_ct_key {
	__u32 ifindex;
	__u8 proto;
	__u8 family; /* SDN_FAMILY_* */
	__u16 pad;
	__u8 local[16];  /* the instance's address */
	__u8 remote[16]; /* the peer's address */
	__be16 local_port;  /* ICMP echo: the identifier */
	__be16 remote_port; /* ICMP echo: 0 */
};
_Static_assert(sizeof(struct sdn_ct_key) == 44, "sdn_ct_key size");

struct sdn_ct_value {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 packets[SDN_DIR_COUNT];
	__u64 bytes[SDN_DIR_COUNT];
	__u32 rule_id;  /* the rule (or built-in) that admitted the flow */
	__u8 state;     /* SDN_CT_* */
	__u8 origin;    /* SDN_DIR_* of the packet that opened the flow */
	__u8 fin_seen;  /* bit per direction */
	__u8 pad;
	/* The port as it was when the flow opened, so a tracked packet needs no sdn_port lookup:
	 * its counter slot and the only source MAC it may send from. */
	__u32 slot;
	__u32 pad2;
	__u8 mac[6];
	__u8 pad3[2];
};
_Static_assert(sizeof(struct sdn_ct_value) == 72, "sdn_ct_value size");

/* sdn_frag (LRU): a fragmented datagram whose first fragment was admitted. */
struct sdn_frag_key {
	__u32 ifindex;
	__u32 id; /* IPv4 identification, or IPv6 fragment id */
	__u8 proto;
	__u8 family;
	__u8 direction;
	__u8 pad;
	__u8 src[16];
	__u8 dst[16];
};
_Static_assert(sizeof(struct sdn_frag_key) == 44, "sdn_frag_key size");

struct sdn_frag_value {
	__u64 expires_ns;
	__u32 rule_id;
	__u32 pad;
};
_Static_assert(sizeof(struct sdn_frag_value) == 16, "sdn_frag_value size");

/* sdn_events records. */
struct sdn_flow_event {
	__u64 ts_ns;
	__u64 packets; /* FLOW_ENDED: both directions */
	__u64 bytes;
	__u32 ifindex;
	__u32 rule_id; /* rule or built-in */
	__u8 kind;     /* SDN_EVENT_* */
	__u8 direction;
	__u8 proto;
	__u8 family;
	__u16 drop_reason; /* FLOW_DENIED: SDN_DROP_* */
	__u16 pad;
	__u8 src[16];
	__u8 dst[16];
	__be16 sport; /* ICMP: type << 8 | code */
	__be16 dport;
	__u32 suppressed; /* denied events not sent since the last one (rate limit) */
};
_Static_assert(sizeof(struct sdn_flow_event) == 80, "sdn_flow_event size");

/* sdn_event_budget (per-CPU array): slot -> token bucket for denied-flow events. */
struct sdn_event_budget {
	__u64 last_refill_ns;
	__u32 tokens;
	__u32 suppressed;
};
_Static_assert(sizeof(struct sdn_event_budget) == 16, "sdn_event_budget size");

/* ---- Load balancer ----------------------------------------------------------------------------
 *
 * Two objects (docs/nlb.md):
 *  - lb.bpf.c, XDP on the uplink of `lb` nodes: (VIP, port, proto) -> service (sdn_lb_svc); a flow
 *    found in sdn_lb_ct keeps its backend while the backend is up; a new flow takes the backend of
 *    slot `sdn_lb_flow_hash() % table_size` of the service's Maglev table (a range of the flat
 *    array sdn_lb_maglev); the frame leaves again (XDP_TX) encapsulated in GENEVE (outer IPv4 + UDP
 *    port SDN_LB_GENEVE_PORT, VNI = the backend's index) toward the backend's hypervisor (VTEP).
 *  - lb_backend.bpf.c, on a hypervisor: XDP on the uplink decapsulates, DNATs (VIP, port) to the
 *    instance's (address, target port) by (VIP, port, proto, backend) and tracks the flow
 *    (sdn_lbhv_ct); TC on the instance port's receive side reverse-NATs the replies (source back to
 *    VIP:port), which then leave for the client directly (DSR).
 * Addresses and ports in keys are in network order (as on the wire). IPv4 only for now.
 */

/* GENEVE (RFC 8926) as the LB encapsulation: the VNI carries the backend index. */
#define SDN_LB_GENEVE_PORT 6081
#define SDN_LB_GENEVE_PROTO_IPV4 0x0800   /* GENEVE protocol type of an inner IPv4 packet */
#define SDN_LB_ENCAP_OVERHEAD 36          /* outer IPv4 (20) + UDP (8) + GENEVE (8) */
#define SDN_LB_ENCAP_SPORT_BASE 0xc000    /* outer UDP source = base | (flow hash & mask) */
#define SDN_LB_ENCAP_SPORT_MASK 0x3fff
#define SDN_LB_DEFAULT_MTU 1500           /* sdn_lb_config.mtu when 0 */
#define SDN_LB_NO_BACKEND 0xffffffff      /* a Maglev slot that points nowhere */
#define SDN_LB_MAX_BACKEND_INDEX 0xffffff /* backend indices fit the 24-bit VNI */

/* sdn_lb_svc_value.flags */
#define SDN_LB_SVC_SOURCE_IP 0x1 /* hash the client address only ("source-ip" affinity) */

/* sdn_lb_vip_value.flags */
#define SDN_LB_VIP_ECHO 0x1 /* answer ICMP echo requests to the VIP */

/* sdn_lb_backend.flags */
#define SDN_LB_BACKEND_UP 0x1 /* may keep its flows (draining backends are up, without slots) */

/* Capacities; -D overrides them. */
#ifndef SDN_LB_MAX_SERVICES
#define SDN_LB_MAX_SERVICES 4096
#endif
#ifndef SDN_LB_MAX_VIPS
#define SDN_LB_MAX_VIPS 4096
#endif
#ifndef SDN_LB_MAX_BACKENDS
#define SDN_LB_MAX_BACKENDS 65536
#endif
#ifndef SDN_LB_MAGLEV_SLOTS
#define SDN_LB_MAGLEV_SLOTS 4194304 /* all services' tables, 64 x 65537 and some */
#endif
#ifndef SDN_LB_CT_MAX
#define SDN_LB_CT_MAX 262144
#endif
#ifndef SDN_LB_MAX_DNAT
#define SDN_LB_MAX_DNAT 65536
#endif
#define SDN_LB_FRAG_MAX 65536

/* What the LB programs did (sdn_lb_stats and sdn_lbhv_stats index; per CPU). */
#define SDN_LB_STAT_NEW_FLOW 0     /* LB node: a new flow took a backend from the Maglev table */
#define SDN_LB_STAT_TRACKED 1      /* LB node: a flow found in conntrack kept its backend */
#define SDN_LB_STAT_REPICKED 2     /* LB node: a tracked flow's backend was down: picked anew */
#define SDN_LB_STAT_FRAGMENT 3     /* a later fragment followed its first fragment */
#define SDN_LB_STAT_ECHO_REPLY 4   /* LB node: an echo request to a VIP answered */
#define SDN_LB_STAT_PASS 5         /* not load-balanced traffic, passed untouched */
#define SDN_LB_STAT_DECAP 6        /* hypervisor: decapsulated and DNATed */
#define SDN_LB_STAT_RNAT 7         /* hypervisor: a reply reverse-NATed to VIP:port */
#define SDN_LB_STAT_COUNT 8

/* Why an LB program dropped a frame (sdn_lb_drops and sdn_lbhv_drops index; per CPU). */
#define SDN_LB_DROP_MALFORMED 0      /* a cut or inconsistent header, addressed to a VIP */
#define SDN_LB_DROP_NO_BACKEND 1     /* the Maglev slot points to no backend, or to one down */
#define SDN_LB_DROP_FRAG_UNTRACKED 2 /* a later fragment to a VIP whose first was not seen */
#define SDN_LB_DROP_TOO_BIG 3        /* encapsulated, the packet would exceed the underlay MTU */
#define SDN_LB_DROP_ADJUST 4         /* bpf_xdp_adjust_head refused */
#define SDN_LB_DROP_NO_CONFIG 5      /* the node's underlay address is not configured */
#define SDN_LB_DROP_NO_DNAT 6        /* hypervisor: no (VIP, port, proto, backend) entry */
#define SDN_LB_DROP_BAD_ENCAP 7      /* hypervisor: GENEVE with another version/protocol, cut */
#define SDN_LB_DROP_FRAG_ECHO 8      /* a fragmented echo request to a VIP (never answered) */
#define SDN_LB_DROP_COUNT 9

/* sdn_lb_config / sdn_lbhv_config [0]: this node's underlay. */
struct sdn_lb_config {
	__be32 underlay; /* LB node: the outer source; hypervisor: the VTEP it decapsulates for */
	__u16 mtu;       /* underlay IP MTU; 0 = SDN_LB_DEFAULT_MTU */
	__u16 pad;
};
_Static_assert(sizeof(struct sdn_lb_config) == 8, "sdn_lb_config size");

/* sdn_lb_svc (hash): a service. */
struct sdn_lb_svc_key {
	__be32 vip;
	__be16 port;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};
_Static_assert(sizeof(struct sdn_lb_svc_key) == 8, "sdn_lb_svc_key size");

struct sdn_lb_svc_value {
	__u32 id;         /* user space's service number; a conntrack entry of another id is stale */
	__u32 table_base; /* first slot of the service's Maglev table in sdn_lb_maglev */
	__u32 table_size; /* M, prime; 0 = no table (every new flow is dropped as no-backend) */
	__u32 flags;      /* SDN_LB_SVC_* */
};
_Static_assert(sizeof(struct sdn_lb_svc_value) == 16, "sdn_lb_svc_value size");

/* sdn_lb_vip (hash): VIP address (__be32) -> what the node does for the VIP itself. */
struct sdn_lb_vip_value {
	__u32 flags; /* SDN_LB_VIP_* */
	__u32 pad;
};
_Static_assert(sizeof(struct sdn_lb_vip_value) == 8, "sdn_lb_vip_value size");

/* sdn_lb_maglev (array of __u32): slot -> backend index, or SDN_LB_NO_BACKEND. */

/* sdn_lb_backend (array): backend index -> where it lives. */
struct sdn_lb_backend {
	__be32 vtep;        /* the underlay address of the backend's hypervisor */
	__u32 flags;        /* SDN_LB_BACKEND_* */
	__u8 nexthop_mac[6]; /* the MAC toward the VTEP (the VTEP's, or the gateway's) */
	__u8 pad[2];
};
_Static_assert(sizeof(struct sdn_lb_backend) == 16, "sdn_lb_backend size");

/* sdn_lb_backend_stats (per-CPU array): backend index -> what the LB node sent it. */
struct sdn_lb_backend_stats {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};
_Static_assert(sizeof(struct sdn_lb_backend_stats) == 24, "sdn_lb_backend_stats size");

/* sdn_lb_ct (LRU) on LB nodes: a client flow to a VIP (the inbound direction only). */
struct sdn_lb_ct_key {
	__be32 client;
	__be32 vip;
	__be16 client_port;
	__be16 vip_port;
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct sdn_lb_ct_key) == 16, "sdn_lb_ct_key size");

struct sdn_lb_ct_value {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 packets;
	__u64 bytes;
	__u32 backend; /* backend index */
	__u32 svc_id;  /* sdn_lb_svc_value.id when the flow was opened */
	__u8 state;    /* SDN_CT_* as far as one direction tells (SYN, FIN, RST) */
	__u8 pad[7];
};
_Static_assert(sizeof(struct sdn_lb_ct_value) == 48, "sdn_lb_ct_value size");

/* sdn_lb_frag / sdn_lbhv_frag (LRU): a fragmented datagram whose first fragment was seen. */
struct sdn_lb_frag_key {
	__be32 src;
	__be32 dst;
	__u32 id; /* IPv4 identification, host order */
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct sdn_lb_frag_key) == 16, "sdn_lb_frag_key size");

struct sdn_lb_frag_value {
	__u64 expires_ns;
	__u32 backend; /* backend index */
	__u32 hash;    /* LB node: the first fragment's flow hash (the outer UDP source port) */
	__be32 addr;   /* hypervisor: the instance address the datagram is DNATed to */
	__u32 pad;
};
_Static_assert(sizeof(struct sdn_lb_frag_value) == 24, "sdn_lb_frag_value size");

/* sdn_lbhv_dnat (hash) on hypervisors: which instance address and port a backend stands for. */
struct sdn_lb_dnat_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
	__u32 backend; /* backend index, as carried in the GENEVE VNI */
};
_Static_assert(sizeof(struct sdn_lb_dnat_key) == 12, "sdn_lb_dnat_key size");

struct sdn_lb_dnat_value {
	__be32 addr; /* the instance's address */
	__be16 port; /* the service's target port */
	__u16 pad;
};
_Static_assert(sizeof(struct sdn_lb_dnat_value) == 8, "sdn_lb_dnat_value size");

/* sdn_lbhv_ct (LRU) on hypervisors: a DNATed flow, keyed as the instance sees it. */
struct sdn_lb_nat_key {
	__be32 client;
	__be32 instance;
	__be16 client_port;
	__be16 instance_port; /* the target port */
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct sdn_lb_nat_key) == 16, "sdn_lb_nat_key size");

struct sdn_lb_nat_value {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 packets[SDN_DIR_COUNT]; /* [SDN_DIR_INGRESS] toward the instance, [EGRESS] replies */
	__u64 bytes[SDN_DIR_COUNT];
	__be32 vip;
	__be16 vip_port;
	__u8 state;    /* SDN_CT_* */
	__u8 fin_seen; /* bit per direction */
	__u32 backend;
	__u32 pad;
};
_Static_assert(sizeof(struct sdn_lb_nat_value) == 64, "sdn_lb_nat_value size");

#endif /* SDN_ABI_H */
