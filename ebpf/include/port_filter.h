/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The security-group filter of an instance port, shared by the XDP (egress: what the instance
 * sends) and TC (ingress: what is delivered to it) entry points. One decision per frame, always
 * attributed (a rule id or an SDN_BUILTIN_*), always counted; drops also by reason.
 *
 * Order: parse -> port config -> L2 rules (VLAN, ethertype, anti-spoofing, ARP) -> L3/L4 ->
 * anti-spoofing (egress) -> built-ins (ND, DHCP) -> fragments -> conntrack (and ICMP errors
 * related to a tracked flow) -> policy (two LPM lookups) -> conntrack entry, counters, events.
 */
#ifndef SDN_PORT_FILTER_H
#define SDN_PORT_FILTER_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "sdn_abi.h"
#include "parse.h"
#include "flow.h"
#include "conntrack.h"
#include "port_maps.h"

/* Room for flows, off the 512-byte stack (per CPU): [0] the packet's, [1] the one an ICMP error
 * quotes. In memory the compiler keeps them there instead of spilling their fields. */
#define SDN_FLOW_PACKET 0
#define SDN_FLOW_QUOTED 1
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct sdn_flow);
} sdn_flow_scratch SEC(".maps");

struct sdn_decision {
	__u32 attribution; /* rule id, or SDN_BUILTIN_* */
	__u16 drop_reason; /* SDN_DROP_*, when !pass */
	__u8 pass;
	__u8 event; /* SDN_EVENT_* to emit, or 0 */
};

static __always_inline struct sdn_decision sdn_allow(__u32 attribution)
{
	struct sdn_decision d = { .pass = 1, .attribution = attribution };
	return d;
}

static __always_inline struct sdn_decision sdn_deny(__u32 attribution, __u32 reason)
{
	struct sdn_decision d = { .pass = 0, .attribution = attribution, .drop_reason = reason };
	return d;
}

static __always_inline int sdn_addr_allowed(__u32 ifindex, __u8 *addr)
{
	struct sdn_port_addr_key k = { .ifindex = ifindex };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&sdn_port_addr, &k) != NULL;
}

/* :: (IPv6) or ::ffff:0.0.0.0 (IPv4, v4-mapped). */
static __always_inline int sdn_addr_unspecified(__u8 *a)
{
	__u64 hi;
	__u32 mid, lo;

	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	__builtin_memcpy(&lo, a + 12, 4);
	return hi == 0 && lo == 0 && (mid == 0 || mid == bpf_htonl(0x0000ffff));
}

static __always_inline int sdn_mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

/* ARP from the instance: its own MAC, one of its IPv4 addresses (or 0.0.0.0 for a probe). */
static __always_inline struct sdn_decision sdn_arp_egress(void *data, void *data_end, __u32 off,
							  __u32 ifindex,
							  struct sdn_port_config *cfg)
{
	__u8 *arp = data + (off & SDN_OFF_MASK);
	__u8 spa[16];

	if ((void *)(arp + 28) > data_end)
		return sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_MALFORMED);
	/* htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4 */
	if (arp[0] != 0 || arp[1] != 1 || arp[2] != 0x08 || arp[3] != 0 || arp[4] != 6 || arp[5] != 4)
		return sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_MALFORMED);
	if (!sdn_mac_eq(arp + 8, cfg->mac))
		return sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_ARP);
	__be32 sender;
	__builtin_memcpy(&sender, arp + 14, 4);
	sdn_v4_mapped(spa, sender);
	if (sender != 0 && !sdn_addr_allowed(ifindex, spa))
		return sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_ARP);
	return sdn_allow(SDN_BUILTIN_ARP_ND);
}

/* ICMPv6 neighbour discovery and MLD: 130-132 MLD, 133 RS, 134 RA, 135 NS, 136 NA, 137 redirect,
 * 143 MLDv2 report. */
static __always_inline int sdn_is_nd(struct sdn_flow *f)
{
	if (f->proto != IPPROTO_ICMPV6 || !f->has_l4)
		return 0;
	return (f->icmp_type >= 130 && f->icmp_type <= 137) || f->icmp_type == 143;
}

/* Anti-spoofing of an IP packet from the instance. Returns a decision when it settles the frame
 * (drop, or a built-in pass), otherwise sets *cont. */
static __always_inline struct sdn_decision sdn_ip_egress_checks(void *data, void *data_end,
								struct sdn_pkt *pkt,
								struct sdn_flow *f, __u32 ifindex,
								int *cont)
{
	int unspecified = sdn_addr_unspecified(f->src);
	__be16 sport = bpf_ntohs(f->sport), dport = bpf_ntohs(f->dport);
	int udp = f->proto == IPPROTO_UDP && f->has_l4;

	*cont = 0;
	/* DHCP server replies from an instance are spoofing, whatever the source address. */
	if (udp && (sport == 67 || sport == 547))
		return sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_DHCP_SERVER);
	if (unspecified) {
		/* Only a DHCP discover/request (IPv4) or DAD/MLD (IPv6) may come from nowhere. */
		if (f->family == SDN_FAMILY_IPV4 && udp && sport == 68 && dport == 67)
			return sdn_allow(SDN_BUILTIN_DHCP);
		if (f->family == SDN_FAMILY_IPV6 && sdn_is_nd(f) &&
		    (f->icmp_type == 135 || f->icmp_type == 143))
			return sdn_allow(SDN_BUILTIN_ARP_ND);
		return sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_IP);
	}
	if (!sdn_addr_allowed(ifindex, f->src))
		return sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_IP);
	if (sdn_is_nd(f)) {
		if (f->icmp_type == 134 || f->icmp_type == 137)
			return sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_ROUTER_ADVERT);
		if (f->icmp_type == 136) {
			/* A neighbour advertisement may only claim the port's own addresses. */
			__u8 *target = data + ((pkt->l4_off + 8) & SDN_OFF_MASK);
			__u8 t[16];
			if ((void *)(target + 16) > data_end)
				return sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_MALFORMED);
			__builtin_memcpy(t, target, 16);
			if (!sdn_addr_allowed(ifindex, t))
				return sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_ND);
		}
		return sdn_allow(SDN_BUILTIN_ARP_ND);
	}
	if (udp && sport == 68 && dport == 67)
		return sdn_allow(SDN_BUILTIN_DHCP);
	if (udp && sport == 546 && dport == 547)
		return sdn_allow(SDN_BUILTIN_DHCP);
	*cont = 1;
	return sdn_allow(SDN_BUILTIN_NONE);
}

/* Ingress built-ins: neighbour discovery, DHCP replies to the client. */
static __always_inline int sdn_ingress_builtin(struct sdn_flow *f, __u32 *attribution)
{
	if (sdn_is_nd(f)) {
		*attribution = SDN_BUILTIN_ARP_ND;
		return 1;
	}
	if (f->proto == IPPROTO_UDP && f->has_l4) {
		__u16 sport = bpf_ntohs(f->sport), dport = bpf_ntohs(f->dport);
		if ((sport == 67 && dport == 68) || (sport == 547 && dport == 546)) {
			*attribution = SDN_BUILTIN_DHCP;
			return 1;
		}
	}
	return 0;
}

/* Whether the packet belongs to a flow conntrack follows: anything with its L4 header except ICMP
 * that is not an echo (ND, errors and the like have no flow identity and are always checked). */
static __always_inline int sdn_ct_trackable(struct sdn_flow *f)
{
	if (!f->has_l4)
		return 0;
	if (f->proto == IPPROTO_ICMP || f->proto == IPPROTO_ICMPV6)
		return f->is_echo;
	return 1;
}

/* TCP flag combinations no real stack sends (SYN+FIN, SYN+RST, none of SYN/ACK/RST/FIN). */
static __always_inline int sdn_tcp_flags_sane(struct sdn_flow *f)
{
	__u8 fl = f->tcp_flags;

	if (f->proto != IPPROTO_TCP || !f->has_l4)
		return 1;
	return !((fl & (SDN_TCP_SYN | SDN_TCP_FIN)) == (SDN_TCP_SYN | SDN_TCP_FIN) ||
		 (fl & (SDN_TCP_SYN | SDN_TCP_RST)) == (SDN_TCP_SYN | SDN_TCP_RST) ||
		 (fl & (SDN_TCP_SYN | SDN_TCP_ACK | SDN_TCP_RST | SDN_TCP_FIN)) == 0);
}

/* A SYN on a closed flow's tuple opens a new flow: it goes through policy again. */
static __always_inline int sdn_ct_reopens(struct sdn_ct_value *ct, struct sdn_flow *f)
{
	return f->proto == IPPROTO_TCP && ct->state == SDN_CT_CLOSED &&
	       (f->tcp_flags & (SDN_TCP_SYN | SDN_TCP_ACK)) == SDN_TCP_SYN;
}

/* The two lookups of the classifier; 0 when no rule allows. */
static __always_inline __u32 sdn_policy_match(__u32 policy, __u32 dir, struct sdn_flow *f)
{
	struct sdn_remote_host_key hk = { .policy = policy };
	struct sdn_rule_exact_key ek = { .policy = policy };
	struct sdn_remote_value *remote;
	struct sdn_rule_value *rule;
	__u8 *addr = dir == SDN_DIR_EGRESS ? f->dst : f->src;

	if (!policy)
		return 0;
	/* The remote's class: an exact host entry, else the longest prefix. */
	__builtin_memcpy(hk.addr, addr, 16);
	remote = bpf_map_lookup_elem(&sdn_remote_host, &hk);
	if (!remote) {
		struct sdn_remote_key rk = { .prefixlen = 32 + 128, .policy = policy };
		__builtin_memcpy(rk.addr, addr, 16);
		remote = bpf_map_lookup_elem(&sdn_remote, &rk);
		if (!remote)
			return 0;
	}
	ek.class = remote->class;
	ek.proto = f->proto;
	switch (f->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		ek.port = f->dport;
		break;
	default:
		ek.port = 0;
	}
	/* The rule: an exact single-port entry, else the longest port prefix (or protocol, or all). */
	rule = bpf_map_lookup_elem(&sdn_rule_exact, &ek);
	if (!rule) {
		struct sdn_rule_key k = { .prefixlen = 96, .policy = policy, .class = ek.class,
					  .proto = ek.proto, .port = ek.port };
		rule = bpf_map_lookup_elem(&sdn_rule_match, &k);
	}
	return rule ? rule->rule_id : 0;
}

static __always_inline void sdn_frag_key_of(struct sdn_frag_key *k, __u32 ifindex, __u32 dir,
					    struct sdn_flow *f)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->ifindex = ifindex;
	k->id = f->frag_id;
	k->proto = f->proto;
	k->family = f->family;
	k->direction = dir;
	__builtin_memcpy(k->src, f->src, 16);
	__builtin_memcpy(k->dst, f->dst, 16);
}

/* The decision for an IP packet past the L2 checks. */
static __always_inline struct sdn_decision sdn_ip_decide(void *data, void *data_end,
							 struct sdn_pkt *pkt, struct sdn_flow *f,
							 __u32 ifindex, __u32 dir,
							 struct sdn_port_config *cfg, __u64 len,
							 __u64 now, struct sdn_ct_key *key)
{
	struct sdn_ct_value *ct;
	struct sdn_decision d;
	__u32 builtin = 0;

	if (!sdn_tcp_flags_sane(f))
		return sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_TCP_FLAGS);

	/* Tracked flows first: the entry was created after the anti-spoofing and policy checks of
	 * its opening packet, and its key holds the instance's (checked) address, so a hit needs
	 * neither again. Only flows with an identity (ports, echo id) take this path: ND, ICMP
	 * errors and fragments always get their checks. */
	sdn_ct_key_of(key, ifindex, dir, f);
	if (sdn_ct_trackable(f)) {
		ct = sdn_ct_lookup(key, now);
		if (ct && !sdn_ct_reopens(ct, f)) {
			d = sdn_allow(SDN_BUILTIN_ESTABLISHED);
			if (sdn_ct_advance(ct, dir, f, len, now))
				d.event = SDN_EVENT_FLOW_ENDED;
			return d;
		}
	}

	if (dir == SDN_DIR_EGRESS) {
		int cont;
		d = sdn_ip_egress_checks(data, data_end, pkt, f, ifindex, &cont);
		if (!cont)
			return d;
	} else if (sdn_ingress_builtin(f, &builtin)) {
		return sdn_allow(builtin);
	}

	/* A later fragment follows its first fragment's verdict, or is dropped. */
	if (pkt->is_later_fragment) {
		struct sdn_frag_key fk;
		sdn_frag_key_of(&fk, ifindex, dir, f);
		struct sdn_frag_value *fv = bpf_map_lookup_elem(&sdn_frag, &fk);
		if (fv && fv->expires_ns > now)
			return sdn_allow(SDN_BUILTIN_FRAGMENT);
		return sdn_deny(SDN_BUILTIN_FRAGMENT, SDN_DROP_FRAGMENT_UNTRACKED);
	}

	/* An ICMP error about a tracked flow passes as part of it. */
	if (f->is_icmp_error) {
		__u32 quoted = SDN_FLOW_QUOTED;
		struct sdn_flow *inner = bpf_map_lookup_elem(&sdn_flow_scratch, &quoted);
		if (!inner)
			return sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_MALFORMED);
		__builtin_memset(inner, 0, sizeof(*inner));
		if (sdn_flow_of_icmp_quote(data, data_end, pkt->l4_off, f->family, inner) ==
		    SDN_PARSE_OK) {
			sdn_ct_key_of(key, ifindex, dir == SDN_DIR_EGRESS ? SDN_DIR_INGRESS : SDN_DIR_EGRESS,
				      inner);
			if (sdn_ct_lookup(key, now))
				return sdn_allow(SDN_BUILTIN_ESTABLISHED);
			sdn_ct_key_of(key, ifindex, dir, f); /* restore for the new-flow path */
		}
	}

	__u32 rule = sdn_policy_match(cfg->policy[dir & 1], dir, f);
	if (!rule) {
		if (dir == SDN_DIR_EGRESS && !(cfg->flags & SDN_PORT_EGRESS_DEFAULT_DENY))
			rule = SDN_BUILTIN_EGRESS_OPEN;
		else if (dir == SDN_DIR_EGRESS)
			return sdn_deny(SDN_BUILTIN_DEFAULT_DENY_EGRESS, SDN_DROP_DEFAULT_DENY_EGRESS);
		else
			return sdn_deny(SDN_BUILTIN_DEFAULT_DENY_INGRESS, SDN_DROP_DEFAULT_DENY_INGRESS);
	}
	/* A TCP flow opens with a SYN; anything else without an entry is not a flow we know. */
	if (f->proto == IPPROTO_TCP && (f->tcp_flags & (SDN_TCP_SYN | SDN_TCP_ACK)) != SDN_TCP_SYN)
		return sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_TCP_FLAGS);
	/* ICMP other than echo (errors unrelated to a flow, timestamps, ...) is decided by policy
	 * packet by packet, without state. */
	if (sdn_ct_trackable(f) && sdn_ct_create(key, dir, rule, len, now, cfg->slot, cfg->mac) < 0)
		return sdn_deny(SDN_BUILTIN_CONNTRACK_FULL, SDN_DROP_CONNTRACK_FULL);
	if (pkt->is_fragment) {
		struct sdn_frag_key fk;
		struct sdn_frag_value fv = { .rule_id = rule };
		sdn_frag_key_of(&fk, ifindex, dir, f);
		fv.expires_ns = now + SDN_FRAG_TIMEOUT * SDN_NS_PER_SEC;
		bpf_map_update_elem(&sdn_frag, &fk, &fv, BPF_ANY);
	}
	d = sdn_allow(rule);
	d.event = SDN_EVENT_FLOW_ADMITTED;
	return d;
}

static __always_inline void sdn_emit(__u8 kind, __u32 ifindex, __u32 dir, struct sdn_flow *f,
				     struct sdn_decision *d, __u64 len, __u64 now, __u32 suppressed)
{
	struct sdn_flow_event *e = bpf_ringbuf_reserve(&sdn_events, sizeof(*e), 0);

	if (!e)
		return; /* ring full: events are best effort, counters are not */
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->packets = 1;
	e->bytes = len;
	e->ifindex = ifindex;
	e->rule_id = d->attribution;
	e->kind = kind;
	e->direction = dir;
	e->proto = f->proto;
	e->family = f->family;
	e->drop_reason = d->pass ? 0 : d->drop_reason;
	__builtin_memcpy(e->src, f->src, 16);
	__builtin_memcpy(e->dst, f->dst, 16);
	e->sport = f->sport;
	e->dport = f->dport;
	e->suppressed = suppressed;
	bpf_ringbuf_submit(e, 0);
}

/* A denied-flow event may be sent: per port and CPU, at most `rate` a second. */
static __always_inline int sdn_denied_event_budget(struct sdn_port_config *cfg, __u64 now,
						   __u32 *suppressed)
{
	__u32 slot = cfg ? cfg->slot : SDN_MAX_PORTS - 1; /* ports without config share the last */
	__u32 rate = cfg ? cfg->denied_events_per_sec : 0;
	struct sdn_event_budget *b = bpf_map_lookup_elem(&sdn_event_budget, &slot);

	if (!b)
		return 0;
	if (!rate)
		rate = SDN_DENIED_EVENTS_PER_SEC;
	/* (A refill time ahead of `now` — user space writing a finer clock — is not elapsed.) */
	if (now > b->last_refill_ns && now - b->last_refill_ns >= SDN_NS_PER_SEC) {
		b->tokens = rate;
		b->last_refill_ns = now;
	}
	if (b->tokens == 0) {
		b->suppressed++;
		return 0;
	}
	b->tokens--;
	*suppressed = b->suppressed;
	b->suppressed = 0;
	return 1;
}

/* Counts a frame on the port in counter slot `slot` (none when `has_slot` is 0: a port without
 * config has no counters; its drops are still counted by reason). */
static __always_inline void sdn_count(int has_slot, __u32 port_slot, __u32 dir, __u32 class,
				      struct sdn_decision *d, __u64 len, __u64 now)
{
	struct sdn_port_stats *s = NULL;
	if (has_slot) {
		__u32 index = port_slot * SDN_DIR_COUNT + (dir & 1);
		s = bpf_map_lookup_elem(&sdn_port_stats, &index);
	}
	__u32 slot = d->attribution >= SDN_RULE_ID_FIRST ? 0 : d->attribution;

	if (s) {
		if (class >= SDN_CLASS_COUNT)
			class = SDN_CLASS_MALFORMED;
		if (slot >= SDN_BUILTIN_COUNT)
			slot = SDN_BUILTIN_INVALID;
		s->by_class[class].packets++;
		s->by_class[class].bytes += len;
		s->by_builtin[slot].packets++;
		s->by_builtin[slot].bytes += len;
	}
	if (!d->pass) {
		__u32 reason = d->drop_reason;
		struct sdn_counter *c = bpf_map_lookup_elem(&sdn_drops, &reason);
		if (c) {
			c->packets++;
			c->bytes += len;
		}
	}
	if (d->attribution >= SDN_RULE_ID_FIRST) {
		__u32 rule = d->attribution;
		struct sdn_rule_stats *r = bpf_map_lookup_elem(&sdn_rule_stats, &rule);
		if (r) {
			r->packets++;
			r->bytes += len;
			r->last_hit_ns = now;
		} else {
			struct sdn_rule_stats fresh = { .packets = 1, .bytes = len, .last_hit_ns = now };
			bpf_map_update_elem(&sdn_rule_stats, &rule, &fresh, BPF_NOEXIST);
		}
	}
}

/* Now, in ns of CLOCK_MONOTONIC_COARSE: timeouts are seconds. (An agent-kept clock in a map was
 * tried to save the helper call; a killed agent leaves it frozen, and packets on programs of
 * different ages then disagree about the time, which lost a segment in the lab.) */
static __always_inline __u64 sdn_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

/* Decides, counts and reports one frame. Returns 1 to pass it, 0 to drop it. */
static __always_inline int sdn_port_filter(void *data, void *data_end, __u32 ifindex, __u32 dir,
					   __u64 len)
{
	struct sdn_pkt pkt = {};
	__u32 flow_slot = SDN_FLOW_PACKET;
	struct sdn_flow *flow = bpf_map_lookup_elem(&sdn_flow_scratch, &flow_slot);
	struct sdn_decision d;
	__u32 class = SDN_CLASS_MALFORMED;
	__u64 now = sdn_now();

	if (!flow)
		return 0; /* cannot happen: a one-entry-per-CPU array always has its entry */
	__builtin_memset(flow, 0, sizeof(*flow));
	struct sdn_port_config *cfg = NULL;
	struct sdn_ct_key ck;
	int flow_parsed = 0;

	if (sdn_parse(data, data_end, &pkt) != SDN_PARSE_OK) {
		cfg = bpf_map_lookup_elem(&sdn_port, &ifindex);
		d = sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_MALFORMED);
		goto out;
	}
	switch (pkt.eth_proto) {
	case ETH_P_IP:
		class = SDN_CLASS_IPV4;
		break;
	case ETH_P_IPV6:
		class = SDN_CLASS_IPV6;
		break;
	case ETH_P_ARP:
		class = SDN_CLASS_ARP;
		break;
	default:
		class = SDN_CLASS_OTHER;
	}

	/* The fast path: a packet of a tracked flow needs only its conntrack entry, which carries
	 * the port's counter slot and MAC from when the flow opened. Everything else (and a tracked
	 * packet with another source MAC, or a SYN reopening a closed flow) takes the full path. */
	if (!pkt.vlan_tags && (class == SDN_CLASS_IPV4 || class == SDN_CLASS_IPV6)) {
		if (sdn_flow_from_pkt(data, data_end, &pkt, flow) == SDN_PARSE_OK) {
			flow_parsed = 1;
			struct sdn_ct_value *ct = NULL;
			if (sdn_ct_trackable(flow) && sdn_tcp_flags_sane(flow)) {
				sdn_ct_key_of(&ck, ifindex, dir, flow);
				ct = sdn_ct_lookup(&ck, now);
			}
			struct ethhdr *eth = data;
			if (ct && (void *)(eth + 1) <= data_end &&
			    (dir != SDN_DIR_EGRESS || sdn_mac_eq(eth->h_source, ct->mac)) &&
			    !sdn_ct_reopens(ct, flow)) {
				d = sdn_allow(SDN_BUILTIN_ESTABLISHED);
				if (sdn_ct_advance(ct, dir, flow, len, now))
					d.event = SDN_EVENT_FLOW_ENDED;
				sdn_count(1, ct->slot, dir, class, &d, len, now);
				if (d.event)
					sdn_emit(d.event, ifindex, dir, flow, &d, len, now, 0);
				return 1;
			}
		}
	}

	cfg = bpf_map_lookup_elem(&sdn_port, &ifindex);
	if (!cfg) {
		d = sdn_deny(SDN_BUILTIN_NO_PORT, SDN_DROP_NO_PORT);
		goto out;
	}
	if (pkt.vlan_tags) {
		d = sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_VLAN_TAGGED);
		goto out;
	}
	if (dir == SDN_DIR_EGRESS) {
		struct ethhdr *eth = data;
		if ((void *)(eth + 1) > data_end || !sdn_mac_eq(eth->h_source, cfg->mac)) {
			d = sdn_deny(SDN_BUILTIN_ANTI_SPOOF, SDN_DROP_SPOOF_MAC);
			goto out;
		}
	}
	if (class == SDN_CLASS_ARP) {
		d = dir == SDN_DIR_EGRESS ? sdn_arp_egress(data, data_end, pkt.l3_off, ifindex, cfg)
					  : sdn_allow(SDN_BUILTIN_ARP_ND);
		goto out;
	}
	if (class == SDN_CLASS_OTHER) {
		d = sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_ETHERTYPE);
		goto out;
	}
	if (!flow_parsed && sdn_flow_from_pkt(data, data_end, &pkt, flow) != SDN_PARSE_OK) {
		d = sdn_deny(SDN_BUILTIN_INVALID, SDN_DROP_MALFORMED);
		goto out;
	}
	d = sdn_ip_decide(data, data_end, &pkt, flow, ifindex, dir, cfg, len, now, &ck);
out:
	sdn_count(cfg != NULL, cfg ? cfg->slot : 0, dir, class, &d, len, now);
	if (d.event) {
		sdn_emit(d.event, ifindex, dir, flow, &d, len, now, 0);
	} else if (!d.pass && class != SDN_CLASS_MALFORMED) {
		__u32 suppressed;
		if (sdn_denied_event_budget(cfg, now, &suppressed))
			sdn_emit(SDN_EVENT_FLOW_DENIED, ifindex, dir, flow, &d, len, now, suppressed);
	}
	return d.pass;
}

#endif /* SDN_PORT_FILTER_H */
