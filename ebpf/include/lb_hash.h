/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The flow hash that picks a Maglev slot: a documented function of the 5-tuple, so that the
 * controller, the agents and `sdnctl trace` can say which backend a flow gets (nlb::flow_hash is
 * the same function in Rust, with the same test vectors; docs/nlb.md).
 *
 *   5-tuple strategy ("maglev", default):
 *     h = MurmurHash3_x86_32(key = client address (4 bytes) || VIP (4) || client port (2) ||
 *                            VIP port (2), all in network order, seed = IP protocol number)
 *   source-ip strategy:
 *     h = MurmurHash3_x86_32(key = client address (4 bytes, network order), seed = 0)
 *   slot = table_base + h % table_size
 *
 * MurmurHash3_x86_32 reads the key in little-endian 32-bit blocks; every key here is a whole number
 * of blocks, so there is no tail. The outer UDP source port of the encapsulation is
 * SDN_LB_ENCAP_SPORT_BASE | (h & SDN_LB_ENCAP_SPORT_MASK): the fabric's ECMP sees the flow's
 * entropy.
 */
#ifndef SDN_LB_HASH_H
#define SDN_LB_HASH_H

#include <linux/types.h>

static __always_inline __u32 sdn_rotl32(__u32 x, __u32 r)
{
	return (x << r) | (x >> (32 - r));
}

/* A little-endian load of 4 bytes in memory order, whatever the host's byte order. */
static __always_inline __u32 sdn_le32_of(__u32 native)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap32(native);
#else
	return native;
#endif
}

static __always_inline __u32 sdn_murmur3_block(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = sdn_rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = sdn_rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 sdn_murmur3_fmix(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* The 5-tuple hash. Arguments are as they lie in the packet (network order). */
static __always_inline __u32 sdn_lb_flow_hash(__be32 client, __be32 vip, __be16 client_port,
					      __be16 vip_port, __u8 proto)
{
	__u32 ports = (__u32)client_port | ((__u32)vip_port << 16); /* memory order on LE */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	ports = ((__u32)client_port << 16) | (__u32)vip_port;
#endif
	__u32 h = proto;

	h = sdn_murmur3_block(h, sdn_le32_of(client));
	h = sdn_murmur3_block(h, sdn_le32_of(vip));
	h = sdn_murmur3_block(h, sdn_le32_of(ports));
	return sdn_murmur3_fmix(h, 12);
}

/* The source-ip affinity hash. */
static __always_inline __u32 sdn_lb_source_hash(__be32 client)
{
	return sdn_murmur3_fmix(sdn_murmur3_block(0, sdn_le32_of(client)), 4);
}

#endif /* SDN_LB_HASH_H */
