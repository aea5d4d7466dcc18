/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Per-port metering: the counters billing reads. Shared by every program attached to a port. */
#ifndef SDN_METER_H
#define SDN_METER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sdn_abi.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SDN_MAX_PORTS * 2);
	__type(key, struct sdn_meter_key);
	__type(value, struct sdn_meter_value);
} sdn_meter SEC(".maps");

/* Frames on ports that have no sdn_meter entry (an agent bug: counted, never silent). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_MISSED_SLOTS);
	__type(key, __u32);
	__type(value, struct sdn_counter);
} sdn_meter_missed SEC(".maps");

static __always_inline __u32 sdn_meter_class(void *data, void *data_end)
{
	struct sdn_pkt pkt = {};

	if (sdn_parse(data, data_end, &pkt) != SDN_PARSE_OK)
		return SDN_CLASS_MALFORMED;
	switch (pkt.eth_proto) {
	case ETH_P_IP:
		return SDN_CLASS_IPV4;
	case ETH_P_IPV6:
		return SDN_CLASS_IPV6;
	case ETH_P_ARP:
		return SDN_CLASS_ARP;
	default:
		return SDN_CLASS_OTHER;
	}
}

/* Adds one frame of `len` bytes to the port's counter for its class. */
static __always_inline void sdn_meter_count(__u32 ifindex, __u32 direction, __u32 class, __u64 len)
{
	struct sdn_meter_key key = { .ifindex = ifindex, .direction = direction };
	struct sdn_counter *c;
	struct sdn_meter_value *v = bpf_map_lookup_elem(&sdn_meter, &key);

	if (v) {
		if (class >= SDN_CLASS_COUNT)
			class = SDN_CLASS_MALFORMED;
		c = &v->by_class[class];
	} else {
		__u32 slot = 0;
		c = bpf_map_lookup_elem(&sdn_meter_missed, &slot);
		if (!c)
			return;
	}
	/* Per-CPU values: no atomics needed. */
	c->packets += 1;
	c->bytes += len;
}

#endif /* SDN_METER_H */
