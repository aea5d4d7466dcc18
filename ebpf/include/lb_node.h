/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The load balancer on `lb` nodes (XDP on the uplink): service lookup, conntrack, Maglev pick,
 * GENEVE encapsulation toward the backend's hypervisor, ICMP echo for VIPs, fragments.
 * Packet walk and formats: docs/nlb.md.
 */
#ifndef SDN_LB_NODE_H
#define SDN_LB_NODE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sdn_abi.h"
#include "flow.h"
#include "lb_csum.h"
#include "lb_hash.h"
#include "lb_conntrack.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sdn_lb_config);
} sdn_lb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SDN_LB_MAX_SERVICES);
	__type(key, struct sdn_lb_svc_key);
	__type(value, struct sdn_lb_svc_value);
} sdn_lb_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SDN_LB_MAX_VIPS);
	__type(key, __be32);
	__type(value, struct sdn_lb_vip_value);
} sdn_lb_vip SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SDN_LB_MAGLEV_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sdn_lb_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SDN_LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct sdn_lb_backend);
} sdn_lb_backend SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct sdn_lb_backend_stats);
} sdn_lb_backend_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SDN_LB_CT_MAX);
	__type(key, struct sdn_lb_ct_key);
	__type(value, struct sdn_lb_ct_value);
} sdn_lb_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SDN_LB_FRAG_MAX);
	__type(key, struct sdn_lb_frag_key);
	__type(value, struct sdn_lb_frag_value);
} sdn_lb_frag SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_LB_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct sdn_counter);
} sdn_lb_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_LB_DROP_COUNT);
	__type(key, __u32);
	__type(value, struct sdn_counter);
} sdn_lb_drops SEC(".maps");

static __always_inline void sdn_lb_count(void *map, __u32 index, __u64 len)
{
	struct sdn_counter *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline int sdn_lb_drop(__u32 reason, __u64 len)
{
	sdn_lb_count(&sdn_lb_drops, reason, len);
	return XDP_DROP;
}

static __always_inline int sdn_lb_pass(__u64 len)
{
	sdn_lb_count(&sdn_lb_stats, SDN_LB_STAT_PASS, len);
	return XDP_PASS;
}

/* The backend a usable entry names, or NULL when the backend is gone or down. */
static __always_inline struct sdn_lb_backend *sdn_lb_backend_up(__u32 index)
{
	struct sdn_lb_backend *b = bpf_map_lookup_elem(&sdn_lb_backend, &index);

	if (!b || !(b->flags & SDN_LB_BACKEND_UP) || b->vtep == 0)
		return NULL;
	return b;
}

/* Answers an ICMP echo request to a VIP in place: MACs and addresses swapped, type 0, TTL 64. */
static __always_inline int sdn_lb_echo_reply(void *data, void *data_end, struct iphdr *ip,
					     __u32 l4_off, __u64 len)
{
	struct ethhdr *eth = data;
	__u8 *icmp = data + (l4_off & SDN_OFF_MASK);
	__u8 mac[ETH_ALEN];

	if ((void *)(icmp + 8) > data_end)
		return sdn_lb_drop(SDN_LB_DROP_MALFORMED, len);
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);

	__be32 client = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = client; /* a swap leaves the header checksum as it was */
	__u16 old_ttl = *(__u16 *)&ip->ttl;
	ip->ttl = 64;
	sdn_csum_replace2(&ip->check, old_ttl, *(__u16 *)&ip->ttl);

	__u16 old_type = *(__u16 *)icmp;
	icmp[0] = 0; /* echo reply, code 0 */
	icmp[1] = 0;
	sdn_csum_replace2((__u16 *)(icmp + 2), old_type, *(__u16 *)icmp);
	sdn_lb_count(&sdn_lb_stats, SDN_LB_STAT_ECHO_REPLY, len);
	return XDP_TX;
}

/* Whether `inner_len` bytes of IPv4 still fit the underlay MTU once encapsulated. */
static __always_inline int sdn_lb_fits(struct sdn_lb_config *cfg, __u16 inner_len)
{
	__u32 mtu = cfg->mtu ? cfg->mtu : SDN_LB_DEFAULT_MTU;

	return (__u32)inner_len + SDN_LB_ENCAP_OVERHEAD <= mtu;
}

/* Encapsulates the IPv4 packet at offset ETH_HLEN in GENEVE toward `b` and returns XDP_TX. */
static __always_inline int sdn_lb_encap(struct xdp_md *ctx, struct sdn_lb_config *cfg,
					struct sdn_lb_backend *b, __u32 backend, __u32 hash,
					__u16 inner_len, __u64 len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	/* Ethernet padding after the inner packet would end up inside the outer one: trim it. */
	__u32 frame = ETH_HLEN + (__u32)inner_len;
	if (data + frame < data_end) {
		if (bpf_xdp_adjust_tail(ctx, (int)frame - (int)(data_end - data)))
			return sdn_lb_drop(SDN_LB_DROP_ADJUST, len);
	}
	/* Our own MAC is the one the frame was sent to. */
	struct ethhdr *old_eth = (void *)(long)ctx->data;
	if ((void *)(old_eth + 1) > (void *)(long)ctx->data_end)
		return sdn_lb_drop(SDN_LB_DROP_MALFORMED, len);
	__u8 own_mac[ETH_ALEN];
	__builtin_memcpy(own_mac, old_eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, -(int)SDN_LB_ENCAP_OVERHEAD))
		return sdn_lb_drop(SDN_LB_DROP_ADJUST, len);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;

	struct ethhdr *eth = data;
	struct iphdr *outer = data + ETH_HLEN;
	__u8 *udp = (__u8 *)(outer + 1);
	__u8 *geneve = udp + 8;
	struct iphdr *inner = (void *)(geneve + 8);
	if ((void *)(inner + 1) > data_end)
		return sdn_lb_drop(SDN_LB_DROP_ADJUST, len);

	__builtin_memcpy(eth->h_dest, b->nexthop_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, own_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	outer->version = 4;
	outer->ihl = 5;
	outer->tos = inner->tos; /* DSCP and ECN travel with the packet */
	outer->tot_len = bpf_htons(inner_len + SDN_LB_ENCAP_OVERHEAD);
	outer->id = 0;
	outer->frag_off = bpf_htons(0x4000); /* DF: the underlay never fragments */
	outer->ttl = 64;
	outer->protocol = IPPROTO_UDP;
	outer->check = 0;
	outer->saddr = cfg->underlay;
	outer->daddr = b->vtep;
	outer->check = sdn_ipv4_hdr_csum20(outer);

	__u16 sport = SDN_LB_ENCAP_SPORT_BASE | (hash & SDN_LB_ENCAP_SPORT_MASK);
	*(__be16 *)udp = bpf_htons(sport);
	*(__be16 *)(udp + 2) = bpf_htons(SDN_LB_GENEVE_PORT);
	*(__be16 *)(udp + 4) = bpf_htons(inner_len + 16);
	*(__be16 *)(udp + 6) = 0; /* allowed for GENEVE over IPv4 (RFC 8926, 3.3) */

	geneve[0] = 0; /* version 0, no options */
	geneve[1] = 0; /* O and C clear */
	*(__be16 *)(geneve + 2) = bpf_htons(SDN_LB_GENEVE_PROTO_IPV4);
	geneve[4] = backend >> 16;
	geneve[5] = backend >> 8;
	geneve[6] = backend;
	geneve[7] = 0;

	__u32 bi = backend;
	struct sdn_lb_backend_stats *bs = bpf_map_lookup_elem(&sdn_lb_backend_stats, &bi);
	if (bs) {
		bs->packets++;
		bs->bytes += len;
	}
	return XDP_TX;
}

/* Picks a new flow's backend from the service's Maglev table; SDN_LB_NO_BACKEND when none. */
static __always_inline __u32 sdn_lb_maglev_pick(struct sdn_lb_svc_value *svc, __u32 hash)
{
	if (svc->table_size == 0)
		return SDN_LB_NO_BACKEND;
	__u32 slot = svc->table_base + hash % svc->table_size;
	__u32 *backend = bpf_map_lookup_elem(&sdn_lb_maglev, &slot);

	return backend ? *backend : SDN_LB_NO_BACKEND;
}

static __always_inline int sdn_lb_node(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;

	/* Only untagged IPv4 is load-balanced; anything else is not ours to look at. */
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return sdn_lb_pass(len);
	if ((void *)(ip + 1) > data_end)
		return sdn_lb_pass(len);

	__be32 client = ip->saddr;
	__be32 vip = ip->daddr;
	__u16 frag = bpf_ntohs(ip->frag_off);
	int later_fragment = (frag & 0x1fff) != 0;
	int first_fragment = !later_fragment && (frag & 0x2000);
	__u32 hlen = ip->ihl * 4;
	__u16 tot = bpf_ntohs(ip->tot_len);
	int malformed = ip->version != 4 || hlen < 20 || tot < hlen ||
			(void *)ip + tot > data_end;
	__u32 l4_off = (ETH_HLEN + hlen) & SDN_OFF_MASK;
	__u8 *l4 = data + l4_off;
	__u8 proto = ip->protocol;

	struct sdn_lb_svc_key sk = {.vip = vip, .proto = proto};
	__be16 client_port = 0;
	__u8 tcp_flags = 0;

	if (!malformed && !later_fragment && (proto == IPPROTO_TCP || proto == IPPROTO_UDP)) {
		__u32 need = proto == IPPROTO_TCP ? 20 : 8;
		if ((void *)l4 + need > data_end || l4_off + need > ETH_HLEN + (__u32)tot) {
			malformed = 1;
		} else {
			__builtin_memcpy(&client_port, l4, 2);
			__builtin_memcpy(&sk.port, l4 + 2, 2);
			if (proto == IPPROTO_TCP)
				tcp_flags = l4[13];
		}
	}

	struct sdn_lb_svc_value *svc = NULL;
	if (!malformed && !later_fragment && sk.port)
		svc = bpf_map_lookup_elem(&sdn_lb_svc, &sk);

	if (!svc) {
		/* Not a service: the VIP itself (echo), a later fragment, or not ours at all. */
		struct sdn_lb_vip_value *vv = bpf_map_lookup_elem(&sdn_lb_vip, &vip);
		if (!vv)
			return sdn_lb_pass(len);
		if (malformed)
			return sdn_lb_drop(SDN_LB_DROP_MALFORMED, len);
		if (later_fragment) {
			struct sdn_lb_frag_key fk = {
				.src = client, .dst = vip, .id = bpf_ntohs(ip->id), .proto = proto};
			struct sdn_lb_frag_value *fv = bpf_map_lookup_elem(&sdn_lb_frag, &fk);
			__u64 now = bpf_ktime_get_coarse_ns();
			if (!fv || now > fv->expires_ns)
				return sdn_lb_drop(SDN_LB_DROP_FRAG_UNTRACKED, len);
			struct sdn_lb_backend *b = sdn_lb_backend_up(fv->backend);
			if (!b)
				return sdn_lb_drop(SDN_LB_DROP_NO_BACKEND, len);
			__u32 zero = 0;
			struct sdn_lb_config *cfg = bpf_map_lookup_elem(&sdn_lb_config, &zero);
			if (!cfg || cfg->underlay == 0)
				return sdn_lb_drop(SDN_LB_DROP_NO_CONFIG, len);
			if (!sdn_lb_fits(cfg, tot))
				return sdn_lb_drop(SDN_LB_DROP_TOO_BIG, len);
			sdn_lb_count(&sdn_lb_stats, SDN_LB_STAT_FRAGMENT, len);
			/* The same backend and outer source port as the first fragment. */
			return sdn_lb_encap(ctx, cfg, b, fv->backend, fv->hash, tot, len);
		}
		if (proto == IPPROTO_ICMP && (vv->flags & SDN_LB_VIP_ECHO)) {
			if ((void *)l4 + 8 > data_end)
				return sdn_lb_drop(SDN_LB_DROP_MALFORMED, len);
			if (l4[0] == 8) {
				if (first_fragment)
					return sdn_lb_drop(SDN_LB_DROP_FRAG_ECHO, len);
				return sdn_lb_echo_reply(data, data_end, ip, l4_off, len);
			}
		}
		return sdn_lb_pass(len); /* another protocol or port of a VIP: untouched */
	}

	__u32 zero = 0;
	struct sdn_lb_config *cfg = bpf_map_lookup_elem(&sdn_lb_config, &zero);
	if (!cfg || cfg->underlay == 0)
		return sdn_lb_drop(SDN_LB_DROP_NO_CONFIG, len);
	if (!sdn_lb_fits(cfg, tot))
		return sdn_lb_drop(SDN_LB_DROP_TOO_BIG, len); /* before any state is written */

	__u32 hash = (svc->flags & SDN_LB_SVC_SOURCE_IP)
			     ? sdn_lb_source_hash(client)
			     : sdn_lb_flow_hash(client, vip, client_port, sk.port, proto);
	__u64 now = bpf_ktime_get_coarse_ns();
	struct sdn_lb_ct_key ck = {
		.client = client,
		.vip = vip,
		.client_port = client_port,
		.vip_port = sk.port,
		.proto = proto,
	};
	struct sdn_lb_ct_value *ct = bpf_map_lookup_elem(&sdn_lb_ct, &ck);
	struct sdn_lb_backend *b = NULL;
	__u32 backend = SDN_LB_NO_BACKEND;
	int repick = 0;

	if (ct && ct->svc_id == svc->id &&
	    now - ct->last_seen_ns <= sdn_lb_ct_timeout_ns(proto, ct->state) &&
	    !(ct->state == SDN_CT_CLOSED && (tcp_flags & SDN_TCP_SYN))) {
		backend = ct->backend;
		b = sdn_lb_backend_up(backend);
		if (b) {
			sdn_lb_ct_advance(ct, proto, tcp_flags, len, now);
			sdn_lb_count(&sdn_lb_stats, SDN_LB_STAT_TRACKED, len);
		} else {
			repick = 1; /* its backend died: the flow moves to a live one */
		}
	}
	if (!b) {
		backend = sdn_lb_maglev_pick(svc, hash);
		if (backend > SDN_LB_MAX_BACKEND_INDEX)
			return sdn_lb_drop(SDN_LB_DROP_NO_BACKEND, len);
		b = sdn_lb_backend_up(backend);
		if (!b)
			return sdn_lb_drop(SDN_LB_DROP_NO_BACKEND, len);
		struct sdn_lb_ct_value nv = {
			.created_ns = now,
			.backend = backend,
			.svc_id = svc->id,
			.state = SDN_CT_NEW,
		};
		sdn_lb_ct_advance(&nv, proto, tcp_flags, len, now);
		bpf_map_update_elem(&sdn_lb_ct, &ck, &nv, BPF_ANY);
		sdn_lb_count(&sdn_lb_stats, repick ? SDN_LB_STAT_REPICKED : SDN_LB_STAT_NEW_FLOW,
			     len);
		__u32 bi = backend;
		struct sdn_lb_backend_stats *bs = bpf_map_lookup_elem(&sdn_lb_backend_stats, &bi);
		if (bs)
			bs->new_flows++;
	}
	if (first_fragment) {
		struct sdn_lb_frag_key fk = {
			.src = client, .dst = vip, .id = bpf_ntohs(ip->id), .proto = proto};
		struct sdn_lb_frag_value fv = {
			.expires_ns = now + SDN_FRAG_TIMEOUT * SDN_NS_PER_SEC_LB,
			.backend = backend,
			.hash = hash,
		};
		bpf_map_update_elem(&sdn_lb_frag, &fk, &fv, BPF_ANY);
	}
	return sdn_lb_encap(ctx, cfg, b, backend, hash, tot, len);
}

#endif /* SDN_LB_NODE_H */
