/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * From a parsed frame to a flow: addresses (16 bytes, IPv4 v4-mapped), protocol, ports or ICMP
 * fields, TCP flags; and, for ICMP errors, the flow of the packet the error is about.
 */
#ifndef SDN_FLOW_H
#define SDN_FLOW_H

#include <linux/types.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>

#include "parse.h"

#define SDN_TCP_FIN 0x01
#define SDN_TCP_SYN 0x02
#define SDN_TCP_RST 0x04
#define SDN_TCP_PSH 0x08
#define SDN_TCP_ACK 0x10

/* Offsets are bounded so the verifier can follow pointer arithmetic on them. */
#define SDN_OFF_MASK 0xfff

struct sdn_flow {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport;   /* ICMP echo: the identifier */
	__be16 dport;   /* ICMP: type << 8 | code; the port rules match */
	__u8 proto;
	__u8 family;
	__u8 tcp_flags;
	__u8 has_l4;    /* the L4 header is in this frame (not a later fragment) */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 is_icmp_error;
	__u8 is_echo;   /* ICMP(v6) echo request or reply */
	__u32 frag_id;
};

static __always_inline void sdn_v4_mapped(__u8 *dst16, __be32 addr)
{
	__builtin_memset(dst16, 0, 10);
	dst16[10] = 0xff;
	dst16[11] = 0xff;
	__builtin_memcpy(dst16 + 12, &addr, 4);
}

static __always_inline int sdn_icmp_is_error(__u8 family, __u8 type)
{
	if (family == SDN_FAMILY_IPV4)
		return type == 3 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

static __always_inline int sdn_icmp_is_echo(__u8 family, __u8 type)
{
	if (family == SDN_FAMILY_IPV4)
		return type == 8 || type == 0;
	return type == 128 || type == 129;
}

/* Reads the L4 header at `off` (ports, flags, ICMP fields). Returns SDN_PARSE_MALFORMED when it is
 * cut short. Protocols without ports keep zero ports. */
static __always_inline int sdn_parse_l4(void *data, void *data_end, __u32 off, struct sdn_flow *f)
{
	off &= SDN_OFF_MASK;
	void *l4 = data + off;

	switch (f->proto) {
	case IPPROTO_TCP: {
		__u8 *tcp = l4;
		if (l4 + 20 > data_end)
			return SDN_PARSE_MALFORMED;
		if ((tcp[12] >> 4) < 5)
			return SDN_PARSE_MALFORMED;
		__builtin_memcpy(&f->sport, tcp, 2);
		__builtin_memcpy(&f->dport, tcp + 2, 2);
		f->tcp_flags = tcp[13];
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (l4 + (f->proto == IPPROTO_UDP ? 8 : 12) > data_end)
			return SDN_PARSE_MALFORMED;
		__builtin_memcpy(&f->sport, l4, 2);
		__builtin_memcpy(&f->dport, l4 + 2, 2);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *icmp = l4;
		if ((f->proto == IPPROTO_ICMP) != (f->family == SDN_FAMILY_IPV4))
			return SDN_PARSE_MALFORMED; /* ICMP over IPv6 or ICMPv6 over IPv4 */
		if (l4 + 8 > data_end)
			return SDN_PARSE_MALFORMED;
		f->icmp_type = icmp[0];
		f->icmp_code = icmp[1];
		f->dport = bpf_htons(((__u16)icmp[0] << 8) | icmp[1]);
		f->is_icmp_error = sdn_icmp_is_error(f->family, icmp[0]);
		f->is_echo = sdn_icmp_is_echo(f->family, icmp[0]);
		if (f->is_echo)
			__builtin_memcpy(&f->sport, icmp + 4, 2);
		break;
	}
	default:
		break;
	}
	f->has_l4 = 1;
	return SDN_PARSE_OK;
}

/* Fills `f` from a frame that sdn_parse() accepted as IPv4 or IPv6. */
static __always_inline int sdn_flow_from_pkt(void *data, void *data_end, struct sdn_pkt *pkt,
					     struct sdn_flow *f)
{
	__u32 l3 = pkt->l3_off & SDN_OFF_MASK;

	if (pkt->eth_proto == ETH_P_IP) {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end)
			return SDN_PARSE_MALFORMED;
		f->family = SDN_FAMILY_IPV4;
		sdn_v4_mapped(f->src, ip->saddr);
		sdn_v4_mapped(f->dst, ip->daddr);
	} else {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end)
			return SDN_PARSE_MALFORMED;
		f->family = SDN_FAMILY_IPV6;
		__builtin_memcpy(f->src, &ip6->saddr, 16);
		__builtin_memcpy(f->dst, &ip6->daddr, 16);
	}
	f->proto = pkt->l4_proto;
	f->frag_id = pkt->frag_id;
	if (pkt->is_later_fragment)
		return SDN_PARSE_OK; /* no L4 header: only the first fragment carries one */
	return sdn_parse_l4(data, data_end, pkt->l4_off, f);
}

/* For an ICMP error at `icmp_off`: the flow of the quoted packet (its IP header and the first 8
 * bytes of its L4 header). Returns SDN_PARSE_MALFORMED when the quote is cut short. */
static __always_inline int sdn_flow_of_icmp_quote(void *data, void *data_end, __u32 icmp_off,
						  __u8 family, struct sdn_flow *inner)
{
	__u32 off = (icmp_off + 8) & SDN_OFF_MASK;

	inner->family = family;
	if (family == SDN_FAMILY_IPV4) {
		struct iphdr *ip = data + off;
		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return SDN_PARSE_MALFORMED;
		sdn_v4_mapped(inner->src, ip->saddr);
		sdn_v4_mapped(inner->dst, ip->daddr);
		inner->proto = ip->protocol;
		off += ip->ihl * 4;
	} else {
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > data_end)
			return SDN_PARSE_MALFORMED;
		__builtin_memcpy(inner->src, &ip6->saddr, 16);
		__builtin_memcpy(inner->dst, &ip6->daddr, 16);
		inner->proto = ip6->nexthdr; /* quoted extension headers are not followed */
		off += sizeof(*ip6);
	}
	off &= SDN_OFF_MASK;
	void *l4 = data + off;
	if (l4 + 8 > data_end)
		return SDN_PARSE_MALFORMED;
	switch (inner->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		__builtin_memcpy(&inner->sport, l4, 2);
		__builtin_memcpy(&inner->dport, l4 + 2, 2);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *icmp = l4;
		inner->is_echo = sdn_icmp_is_echo(family, icmp[0]);
		if (inner->is_echo)
			__builtin_memcpy(&inner->sport, icmp + 4, 2);
		break;
	}
	default:
		break;
	}
	inner->has_l4 = 1;
	return SDN_PARSE_OK;
}

#endif /* SDN_FLOW_H */
