/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The load balancer on a backend's hypervisor:
 *  - XDP on the underlay uplink: GENEVE packets from LB nodes are decapsulated, their inner
 *    destination (VIP:port) is DNATed to the instance's (address, target port) found by
 *    (VIP, port, proto, backend), the flow is tracked, and the packet goes up the stack (XDP_PASS)
 *    to be routed to the instance's port, where its security groups see the client's address;
 *  - TC (TCX ingress) on the instance port's receive side, after the port's XDP security-group
 *    program: replies of tracked flows get their source back to VIP:port and leave for the client
 *    directly (DSR).
 * Packet walk and formats: docs/nlb.md.
 */
#ifndef SDN_LB_BACKEND_H
#define SDN_LB_BACKEND_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sdn_abi.h"
#include "flow.h"
#include "lb_csum.h"
#include "lb_conntrack.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sdn_lb_config);
} sdn_lbhv_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SDN_LB_MAX_DNAT);
	__type(key, struct sdn_lb_dnat_key);
	__type(value, struct sdn_lb_dnat_value);
} sdn_lbhv_dnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SDN_LB_CT_MAX);
	__type(key, struct sdn_lb_nat_key);
	__type(value, struct sdn_lb_nat_value);
} sdn_lbhv_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SDN_LB_FRAG_MAX);
	__type(key, struct sdn_lb_frag_key);
	__type(value, struct sdn_lb_frag_value);
} sdn_lbhv_frag SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_LB_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct sdn_counter);
} sdn_lbhv_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_LB_DROP_COUNT);
	__type(key, __u32);
	__type(value, struct sdn_counter);
} sdn_lbhv_drops SEC(".maps");

static __always_inline void sdn_lbhv_count(void *map, __u32 index, __u64 len)
{
	struct sdn_counter *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline int sdn_lbhv_drop(__u32 reason, __u64 len)
{
	sdn_lbhv_count(&sdn_lbhv_drops, reason, len);
	return XDP_DROP;
}

static __always_inline int sdn_lbhv_pass(__u64 len)
{
	sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_PASS, len);
	return XDP_PASS;
}

#define SDN_GENEVE_MAX_OPT_BYTES 252 /* 6-bit option length, in 4-byte words */

static __always_inline int sdn_lbhv_decapsulate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct ethhdr *eth = data;
	struct iphdr *outer = data + ETH_HLEN;

	/* Only GENEVE to this hypervisor's VTEP is ours; everything else passes untouched. */
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return sdn_lbhv_pass(len);
	if ((void *)(outer + 1) > data_end || outer->version != 4 || outer->ihl < 5 ||
	    outer->protocol != IPPROTO_UDP)
		return sdn_lbhv_pass(len);
	__u32 ohlen = (outer->ihl * 4) & 0x3f;
	__u8 *udp = data + ETH_HLEN + ohlen;
	if ((void *)(udp + 8) > data_end || *(__be16 *)(udp + 2) != bpf_htons(SDN_LB_GENEVE_PORT))
		return sdn_lbhv_pass(len);
	__u32 zero = 0;
	struct sdn_lb_config *cfg = bpf_map_lookup_elem(&sdn_lbhv_config, &zero);
	if (!cfg || cfg->underlay == 0 || outer->daddr != cfg->underlay)
		return sdn_lbhv_pass(len);

	/* Ours from here on: whatever is wrong is dropped and counted. */
	if (bpf_ntohs(outer->frag_off) & 0x3fff)
		return sdn_lbhv_drop(SDN_LB_DROP_BAD_ENCAP, len); /* LB nodes send DF */
	__u8 *geneve = udp + 8;
	if ((void *)(geneve + 8) > data_end)
		return sdn_lbhv_drop(SDN_LB_DROP_BAD_ENCAP, len);
	if ((geneve[0] >> 6) != 0 ||
	    *(__be16 *)(geneve + 2) != bpf_htons(SDN_LB_GENEVE_PROTO_IPV4))
		return sdn_lbhv_drop(SDN_LB_DROP_BAD_ENCAP, len);
	__u32 opt = (geneve[0] & 0x3f) * 4;
	__u32 strip = (ohlen + 8 + 8 + opt) & 0x1ff;
	__u32 backend = ((__u32)geneve[4] << 16) | ((__u32)geneve[5] << 8) | geneve[6];

	struct iphdr *ip = data + ETH_HLEN + strip;
	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
		return sdn_lbhv_drop(SDN_LB_DROP_BAD_ENCAP, len);
	__u32 hlen = (ip->ihl * 4) & 0x3f;
	__u16 tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || (void *)ip + tot > data_end)
		return sdn_lbhv_drop(SDN_LB_DROP_BAD_ENCAP, len);
	__u16 frag = bpf_ntohs(ip->frag_off);
	int later_fragment = (frag & 0x1fff) != 0;
	int first_fragment = !later_fragment && (frag & 0x2000);
	__u8 proto = ip->protocol;
	__be32 vip = ip->daddr;
	__be32 addr;
	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 inner_len = tot;

	if (later_fragment) {
		struct sdn_lb_frag_key fk = {
			.src = ip->saddr, .dst = vip, .id = bpf_ntohs(ip->id), .proto = proto};
		struct sdn_lb_frag_value *fv = bpf_map_lookup_elem(&sdn_lbhv_frag, &fk);
		if (!fv || now > fv->expires_ns)
			return sdn_lbhv_drop(SDN_LB_DROP_FRAG_UNTRACKED, len);
		addr = fv->addr;
		sdn_csum_replace4(&ip->check, vip, addr);
		ip->daddr = addr;
		sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_FRAGMENT, inner_len);
	} else {
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
			return sdn_lbhv_drop(SDN_LB_DROP_BAD_ENCAP, len);
		__u8 *l4 = (void *)ip + hlen;
		__u32 need = proto == IPPROTO_TCP ? 20 : 8;
		if ((void *)l4 + need > data_end || hlen + need > tot)
			return sdn_lbhv_drop(SDN_LB_DROP_BAD_ENCAP, len);
		struct sdn_lb_dnat_key dk = {.vip = vip, .proto = proto, .backend = backend};
		__builtin_memcpy(&dk.port, l4 + 2, 2);
		struct sdn_lb_dnat_value *dv = bpf_map_lookup_elem(&sdn_lbhv_dnat, &dk);
		if (!dv)
			return sdn_lbhv_drop(SDN_LB_DROP_NO_DNAT, len);
		addr = dv->addr;
		__be16 target = dv->port;
		__u8 flags = proto == IPPROTO_TCP ? l4[13] : 0;

		struct sdn_lb_nat_key nk = {
			.client = ip->saddr, .instance = addr, .instance_port = target, .proto = proto};
		__builtin_memcpy(&nk.client_port, l4, 2);
		struct sdn_lb_nat_value *nv = bpf_map_lookup_elem(&sdn_lbhv_ct, &nk);
		if (nv && nv->vip == vip && nv->vip_port == dk.port &&
		    now - nv->last_seen_ns <= sdn_lb_ct_timeout_ns(proto, nv->state) &&
		    !(nv->state == SDN_CT_CLOSED && (flags & SDN_TCP_SYN))) {
			nv->backend = backend;
			sdn_lb_nat_advance(nv, SDN_DIR_INGRESS, proto, flags, inner_len, now);
		} else {
			struct sdn_lb_nat_value fresh = {
				.created_ns = now,
				.vip = vip,
				.vip_port = dk.port,
				.state = SDN_CT_NEW,
				.backend = backend,
			};
			sdn_lb_nat_advance(&fresh, SDN_DIR_INGRESS, proto, flags, inner_len, now);
			bpf_map_update_elem(&sdn_lbhv_ct, &nk, &fresh, BPF_ANY);
		}
		if (first_fragment) {
			struct sdn_lb_frag_key fk = {
				.src = ip->saddr, .dst = vip, .id = bpf_ntohs(ip->id), .proto = proto};
			struct sdn_lb_frag_value fv = {
				.expires_ns = now + SDN_FRAG_TIMEOUT * SDN_NS_PER_SEC_LB,
				.backend = backend,
				.addr = addr,
			};
			bpf_map_update_elem(&sdn_lbhv_frag, &fk, &fv, BPF_ANY);
		}
		/* DNAT: the destination address (IP header and the L4 pseudo-header) and port. */
		__u16 *l4sum = (__u16 *)(l4 + (proto == IPPROTO_TCP ? 16 : 6));
		__be16 vport = dk.port;
		if (proto == IPPROTO_TCP) {
			sdn_csum_replace4(l4sum, vip, addr);
			sdn_csum_replace2(l4sum, vport, target);
		} else {
			sdn_udp_csum_replace4(l4sum, vip, addr);
			sdn_udp_csum_replace2(l4sum, vport, target);
		}
		__builtin_memcpy(l4 + 2, &target, 2);
		sdn_csum_replace4(&ip->check, vip, addr);
		ip->daddr = addr;
		sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_DECAP, inner_len);
	}

	/* Strip the outer headers; the outer Ethernet addresses stay (this host is the dest). */
	__u8 macs[2 * ETH_ALEN];
	__builtin_memcpy(macs, eth, 2 * ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return sdn_lbhv_drop(SDN_LB_DROP_ADJUST, len);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return sdn_lbhv_drop(SDN_LB_DROP_ADJUST, len);
	__builtin_memcpy(eth, macs, 2 * ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return XDP_PASS;
}

/* TC on the instance port's receive side: replies of DNATed flows leave as VIP:port. */
static __always_inline int sdn_lbhv_reverse_nat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u64 len = skb->len;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    (void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5) {
		sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_PASS, len);
		return TC_ACT_UNSPEC;
	}
	__u32 hlen = (ip->ihl * 4) & 0x3f;
	__u16 frag = bpf_ntohs(ip->frag_off);
	int later_fragment = (frag & 0x1fff) != 0;
	int first_fragment = !later_fragment && (frag & 0x2000);
	__u8 proto = ip->protocol;
	__be32 instance = ip->saddr;
	__be32 client = ip->daddr;
	__u64 now = bpf_ktime_get_coarse_ns();
	__be32 vip;
	__be16 vport = 0;
	__be16 target = 0;
	__u32 ip_off = ETH_HLEN;

	if (later_fragment) {
		struct sdn_lb_frag_key fk = {
			.src = instance, .dst = client, .id = bpf_ntohs(ip->id), .proto = proto};
		struct sdn_lb_frag_value *fv = bpf_map_lookup_elem(&sdn_lbhv_frag, &fk);
		if (!fv || now > fv->expires_ns) {
			sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_PASS, len);
			return TC_ACT_UNSPEC;
		}
		vip = fv->addr;
	} else {
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
			sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_PASS, len);
			return TC_ACT_UNSPEC;
		}
		__u8 *l4 = (void *)ip + hlen;
		if ((void *)l4 + (proto == IPPROTO_TCP ? 20 : 8) > data_end) {
			sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_PASS, len);
			return TC_ACT_UNSPEC; /* the port's own programs judge malformed frames */
		}
		struct sdn_lb_nat_key nk = {.client = client, .instance = instance, .proto = proto};
		__builtin_memcpy(&nk.client_port, l4 + 2, 2);
		__builtin_memcpy(&nk.instance_port, l4, 2);
		struct sdn_lb_nat_value *nv = bpf_map_lookup_elem(&sdn_lbhv_ct, &nk);
		if (!nv || now - nv->last_seen_ns > sdn_lb_ct_timeout_ns(proto, nv->state)) {
			sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_PASS, len);
			return TC_ACT_UNSPEC; /* the instance's own traffic */
		}
		sdn_lb_nat_advance(nv, SDN_DIR_EGRESS, proto, proto == IPPROTO_TCP ? l4[13] : 0,
				   len, now);
		vip = nv->vip;
		vport = nv->vip_port;
		target = nk.instance_port;
		if (first_fragment) {
			struct sdn_lb_frag_key fk = {
				.src = instance, .dst = client, .id = bpf_ntohs(ip->id), .proto = proto};
			struct sdn_lb_frag_value fv = {
				.expires_ns = now + SDN_FRAG_TIMEOUT * SDN_NS_PER_SEC_LB,
				.backend = nv->backend,
				.addr = vip,
			};
			bpf_map_update_elem(&sdn_lbhv_frag, &fk, &fv, BPF_ANY);
		}
	}

	/* The helpers keep the checksums right whatever the skb's checksum state (offloads). */
	__u32 csum_ip = ip_off + __builtin_offsetof(struct iphdr, check);
	__u32 saddr_off = ip_off + __builtin_offsetof(struct iphdr, saddr);
	if (!later_fragment) {
		__u32 l4_off = ip_off + hlen;
		__u32 l4_csum = l4_off + (proto == IPPROTO_TCP ? 16 : 6);
		__u64 mangled = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
		bpf_l4_csum_replace(skb, l4_csum, instance, vip,
				    BPF_F_PSEUDO_HDR | mangled | sizeof(vip));
		bpf_l4_csum_replace(skb, l4_csum, target, vport, mangled | sizeof(vport));
		bpf_skb_store_bytes(skb, l4_off, &vport, sizeof(vport), 0);
	}
	bpf_l3_csum_replace(skb, csum_ip, instance, vip, sizeof(vip));
	bpf_skb_store_bytes(skb, saddr_off, &vip, sizeof(vip), 0);
	sdn_lbhv_count(&sdn_lbhv_stats, SDN_LB_STAT_RNAT, len);
	return TC_ACT_UNSPEC;
}

#endif /* SDN_LB_BACKEND_H */
