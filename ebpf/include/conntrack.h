/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Connection tracking per port. Entries are keyed in the port's orientation (local = the instance),
 * so both directions of a flow find the same entry. Expired entries count as absent here and are
 * deleted by the agent's sweep, which also rewrites sdn_ct_count exactly.
 */
#ifndef SDN_CONNTRACK_H
#define SDN_CONNTRACK_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "flow.h"
#include "port_maps.h"

#define SDN_NS_PER_SEC 1000000000ULL

/* Room for a new entry's value, off the 512-byte stack (one per CPU; never read back). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sdn_ct_value);
} sdn_ct_scratch SEC(".maps");

static __always_inline void sdn_ct_key_of(struct sdn_ct_key *k, __u32 ifindex, __u32 dir,
					  struct sdn_flow *f)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->ifindex = ifindex;
	k->proto = f->proto;
	k->family = f->family;
	if (dir == SDN_DIR_EGRESS) {
		__builtin_memcpy(k->local, f->src, 16);
		__builtin_memcpy(k->remote, f->dst, 16);
		k->local_port = f->sport;
		k->remote_port = f->dport;
	} else {
		__builtin_memcpy(k->local, f->dst, 16);
		__builtin_memcpy(k->remote, f->src, 16);
		k->local_port = f->dport;
		k->remote_port = f->sport;
	}
	if (f->proto == IPPROTO_ICMP || f->proto == IPPROTO_ICMPV6) {
		/* An echo and its reply share the identifier; other ICMP has no flow identity. */
		k->local_port = f->is_echo ? f->sport : 0;
		k->remote_port = 0;
	}
}

static __always_inline __u64 sdn_ct_timeout_ns(__u8 proto, __u8 state)
{
	__u64 s;

	if (proto == IPPROTO_TCP) {
		switch (state) {
		case SDN_CT_NEW:
			s = SDN_CT_TIMEOUT_TCP_NEW;
			break;
		case SDN_CT_ESTABLISHED:
			s = SDN_CT_TIMEOUT_TCP_ESTABLISHED;
			break;
		case SDN_CT_CLOSING:
			s = SDN_CT_TIMEOUT_TCP_CLOSING;
			break;
		default:
			s = SDN_CT_TIMEOUT_TCP_CLOSED;
		}
	} else if (proto == IPPROTO_UDP) {
		s = state == SDN_CT_NEW ? SDN_CT_TIMEOUT_UDP_NEW : SDN_CT_TIMEOUT_UDP_ESTABLISHED;
	} else {
		s = SDN_CT_TIMEOUT_OTHER;
	}
	return s * SDN_NS_PER_SEC;
}

/* The live entry for `k`, or NULL when absent or expired. */
static __always_inline struct sdn_ct_value *sdn_ct_lookup(struct sdn_ct_key *k, __u64 now)
{
	struct sdn_ct_value *v = bpf_map_lookup_elem(&sdn_ct, k);

	if (!v)
		return NULL;
	/* (A last packet "after" now is fresh: clocks of different programs may disagree a little.) */
	if (now > v->last_seen_ns && now - v->last_seen_ns > sdn_ct_timeout_ns(k->proto, v->state))
		return NULL;
	return v;
}

/* Advances an entry with one packet. Returns 1 when this packet ended the flow. */
static __always_inline int sdn_ct_advance(struct sdn_ct_value *v, __u32 dir, struct sdn_flow *f,
					  __u64 len, __u64 now)
{
	__u32 d = dir & 1;

	v->last_seen_ns = now;
	__sync_fetch_and_add(&v->packets[d], 1);
	__sync_fetch_and_add(&v->bytes[d], len);
	if (f->proto != IPPROTO_TCP) {
		if (v->state == SDN_CT_NEW && d != v->origin)
			v->state = SDN_CT_ESTABLISHED;
		return 0;
	}
	if (v->state == SDN_CT_CLOSED)
		return 0;
	if (f->tcp_flags & SDN_TCP_RST) {
		v->state = SDN_CT_CLOSED;
		return 1;
	}
	if (f->tcp_flags & SDN_TCP_FIN) {
		v->fin_seen |= 1 << d;
		if (v->fin_seen == 3) {
			v->state = SDN_CT_CLOSED;
			return 1;
		}
		v->state = SDN_CT_CLOSING;
		return 0;
	}
	if (v->state == SDN_CT_NEW && d != v->origin && (f->tcp_flags & SDN_TCP_ACK))
		v->state = SDN_CT_ESTABLISHED;
	return 0;
}

/* Creates the entry for a flow just admitted. Returns -1 when the table is at its high-water mark
 * (the new flow must be dropped; established flows keep their entries). */
static __always_inline int sdn_ct_create(struct sdn_ct_key *k, __u32 dir, __u32 admitted_by,
					 __u64 len, __u64 now, __u32 slot, const __u8 *mac)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&sdn_ct_count, &zero);
	struct sdn_ct_value *v = bpf_map_lookup_elem(&sdn_ct_scratch, &zero);

	if (count && *count >= (__u64)SDN_CT_MAX * SDN_CT_HIGH_WATER_PERMILLE / 1000)
		return -1;
	if (!v)
		return -1;
	__builtin_memset(v, 0, sizeof(*v));
	v->created_ns = now;
	v->last_seen_ns = now;
	v->packets[dir & 1] = 1;
	v->bytes[dir & 1] = len;
	v->rule_id = admitted_by;
	v->state = SDN_CT_NEW;
	v->origin = dir & 1;
	v->slot = slot;
	__builtin_memcpy(v->mac, mac, 6);
	if (bpf_map_update_elem(&sdn_ct, k, v, BPF_NOEXIST) == 0) {
		if (count)
			__sync_fetch_and_add(count, 1);
	} else {
		/* An expired or closed entry for the same tuple: reuse its slot. */
		bpf_map_update_elem(&sdn_ct, k, v, BPF_ANY);
	}
	return 0;
}

#endif /* SDN_CONNTRACK_H */
