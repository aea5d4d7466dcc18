/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Packet parsing shared by every program: Ethernet, up to SDN_MAX_VLAN_TAGS VLAN tags, IPv4 (with
 * options), IPv6 (with an extension-header chain of at most SDN_MAX_IPV6_EXT_HDRS headers), down to
 * the L4 header. Every bound is checked against data_end; anything that does not fit is reported as
 * SDN_PARSE_MALFORMED so that callers count it, never pass it unexamined.
 */
#ifndef SDN_PARSE_H
#define SDN_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sdn_abi.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

enum sdn_parse_result {
	SDN_PARSE_OK = 0,
	SDN_PARSE_MALFORMED = 1,
};

struct sdn_vlan_hdr {
	__be16 tci;
	__be16 inner_proto;
};

struct sdn_ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct sdn_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3 | M flag */
	__be32 id;
};

/* What the parser learnt about a frame. Offsets are from the start of the frame. */
struct sdn_pkt {
	__u16 eth_proto;  /* host order, after VLAN tags */
	__u16 vlan_id;    /* innermost tag, 0 when untagged */
	__u8 vlan_tags;
	__u8 l4_proto;    /* IPPROTO_*, valid for IPv4/IPv6 */
	__u8 is_fragment; /* any fragment (first or not) */
	__u8 is_later_fragment; /* a fragment with offset > 0: it carries no L4 header */
	__u16 l3_off;
	__u16 l4_off;
	__u32 frag_id; /* IPv4 identification or IPv6 fragment id, host order */
};

static __always_inline int sdn_parse_l2(void *data, void *data_end, struct sdn_pkt *pkt)
{
	struct ethhdr *eth = data;
	__u16 off = sizeof(*eth);

	if ((void *)(eth + 1) > data_end)
		return SDN_PARSE_MALFORMED;
	pkt->eth_proto = bpf_ntohs(eth->h_proto);
	pkt->vlan_tags = 0;
	pkt->vlan_id = 0;

#pragma unroll
	for (int i = 0; i < SDN_MAX_VLAN_TAGS; i++) {
		if (pkt->eth_proto != ETH_P_8021Q && pkt->eth_proto != ETH_P_8021AD)
			break;
		struct sdn_vlan_hdr *vh = data + off;
		if ((void *)(vh + 1) > data_end)
			return SDN_PARSE_MALFORMED;
		pkt->vlan_id = bpf_ntohs(vh->tci) & 0x0fff;
		pkt->eth_proto = bpf_ntohs(vh->inner_proto);
		pkt->vlan_tags++;
		off += sizeof(*vh);
	}
	if (pkt->eth_proto == ETH_P_8021Q || pkt->eth_proto == ETH_P_8021AD)
		return SDN_PARSE_MALFORMED; /* more tags than we accept */
	pkt->l3_off = off;
	return SDN_PARSE_OK;
}

static __always_inline int sdn_parse_ipv4(void *data, void *data_end, struct sdn_pkt *pkt)
{
	struct iphdr *ip = data + pkt->l3_off;

	if ((void *)(ip + 1) > data_end)
		return SDN_PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return SDN_PARSE_MALFORMED;
	__u16 hlen = ip->ihl * 4;
	__u16 tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || data + pkt->l3_off + hlen > data_end ||
	    data + pkt->l3_off + tot > data_end)
		return SDN_PARSE_MALFORMED;
	__u16 frag = bpf_ntohs(ip->frag_off);
	pkt->is_fragment = (frag & 0x3fff) != 0; /* MF or offset */
	pkt->is_later_fragment = (frag & 0x1fff) != 0;
	pkt->frag_id = bpf_ntohs(ip->id);
	pkt->l4_proto = ip->protocol;
	pkt->l4_off = pkt->l3_off + hlen;
	return SDN_PARSE_OK;
}

static __always_inline int sdn_parse_ipv6(void *data, void *data_end, struct sdn_pkt *pkt)
{
	struct ipv6hdr *ip6 = data + pkt->l3_off;

	if ((void *)(ip6 + 1) > data_end)
		return SDN_PARSE_MALFORMED;
	if (ip6->version != 6)
		return SDN_PARSE_MALFORMED;
	if (data + pkt->l3_off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > data_end)
		return SDN_PARSE_MALFORMED;

	__u8 next = ip6->nexthdr;
	__u16 off = pkt->l3_off + sizeof(*ip6);
	pkt->is_fragment = 0;
	pkt->is_later_fragment = 0;

#pragma unroll
	for (int i = 0; i < SDN_MAX_IPV6_EXT_HDRS; i++) {
		struct sdn_ipv6_ext *ext = data + off;
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(ext + 1) > data_end)
				return SDN_PARSE_MALFORMED;
			next = ext->nexthdr;
			off += (ext->hdrlen + 1) * 8;
			break;
		case IPPROTO_AH:
			if ((void *)(ext + 1) > data_end)
				return SDN_PARSE_MALFORMED;
			next = ext->nexthdr;
			off += (ext->hdrlen + 2) * 4;
			break;
		case IPPROTO_FRAGMENT: {
			struct sdn_ipv6_frag *fh = data + off;
			if ((void *)(fh + 1) > data_end)
				return SDN_PARSE_MALFORMED;
			__u16 fo = bpf_ntohs(fh->frag_off);
			pkt->is_fragment = 1;
			pkt->is_later_fragment = (fo & 0xfff8) != 0;
			pkt->frag_id = bpf_ntohl(fh->id);
			next = fh->nexthdr;
			off += sizeof(*fh);
			break;
		}
		default:
			goto done;
		}
		if (data + off > data_end)
			return SDN_PARSE_MALFORMED;
	}
	/* The chain did not end within SDN_MAX_IPV6_EXT_HDRS headers. */
	switch (next) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		return SDN_PARSE_MALFORMED;
	}
done:
	pkt->l4_proto = next;
	pkt->l4_off = off;
	return SDN_PARSE_OK;
}

/* Parses L2 and, for IPv4/IPv6, L3 down to the L4 offset. */
static __always_inline int sdn_parse(void *data, void *data_end, struct sdn_pkt *pkt)
{
	if (sdn_parse_l2(data, data_end, pkt) != SDN_PARSE_OK)
		return SDN_PARSE_MALFORMED;
	switch (pkt->eth_proto) {
	case ETH_P_IP:
		return sdn_parse_ipv4(data, data_end, pkt);
	case ETH_P_IPV6:
		return sdn_parse_ipv6(data, data_end, pkt);
	case ETH_P_ARP:
		/* an ARP body for IPv4 over Ethernet is 28 bytes */
		if (data + pkt->l3_off + 28 > data_end)
			return SDN_PARSE_MALFORMED;
		return SDN_PARSE_OK;
	default:
		return SDN_PARSE_OK;
	}
}

#endif /* SDN_PARSE_H */
