/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Internet checksums for the XDP load-balancer paths: a full IPv4 header checksum (the outer header
 * the LB node builds) and incremental updates (RFC 1624: HC' = ~(~HC + ~m + m')) for fields
 * rewritten in place. Words are summed as they lie in memory (network order); one's-complement
 * sums do not depend on the byte order as long as every word is read the same way.
 */
#ifndef SDN_LB_CSUM_H
#define SDN_LB_CSUM_H

#include <linux/types.h>

static __always_inline __u16 sdn_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The checksum of a 20-byte IPv4 header (no options) whose checksum field is zero. */
static __always_inline __u16 sdn_ipv4_hdr_csum20(const void *hdr)
{
	const __u16 *w = hdr;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	return ~sdn_csum_fold(sum);
}

/* *csum covers a 16-bit word that changes from `from` to `to`. */
static __always_inline void sdn_csum_replace2(__u16 *csum, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~*csum;

	sum += (__u16)~from;
	sum += to;
	*csum = ~sdn_csum_fold(sum);
}

/* *csum covers a 32-bit field that changes from `from` to `to` (an address). */
static __always_inline void sdn_csum_replace4(__u16 *csum, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~*csum;

	sum += (__u16)~(__u16)from;
	sum += (__u16)~(__u16)(from >> 16);
	sum += (__u16)to;
	sum += (__u16)(to >> 16);
	*csum = ~sdn_csum_fold(sum);
}

/* UDP over IPv4: 0 means "no checksum" and stays so; a computed 0 is sent as 0xffff. */
static __always_inline void sdn_udp_csum_replace4(__u16 *csum, __u32 from, __u32 to)
{
	if (*csum == 0)
		return;
	sdn_csum_replace4(csum, from, to);
	if (*csum == 0)
		*csum = 0xffff;
}

static __always_inline void sdn_udp_csum_replace2(__u16 *csum, __u16 from, __u16 to)
{
	if (*csum == 0)
		return;
	sdn_csum_replace2(csum, from, to);
	if (*csum == 0)
		*csum = 0xffff;
}

#endif /* SDN_LB_CSUM_H */
