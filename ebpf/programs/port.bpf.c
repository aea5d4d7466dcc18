// SPDX-License-Identifier: GPL-2.0-only
/*
 * Instance port programs: security groups, anti-spoofing, conntrack, attribution, metering.
 * XDP on the port's receive side (what the instance sends: egress), TC on its transmit side (what
 * is delivered to the instance: ingress).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h> /* TC_ACT_*; TC_ACT_UNSPEC is what TCX calls TCX_NEXT */
#include <bpf/bpf_helpers.h>

#include "port_filter.h"

/* Headers the TC side wants in the linear part of the skb before parsing. */
#define SDN_PULL_BYTES 256

SEC("xdp")
int sdn_port_egress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	return sdn_port_filter(data, data_end, ctx->ingress_ifindex, SDN_DIR_EGRESS,
			       data_end - data)
		       ? XDP_PASS
		       : XDP_DROP;
}

SEC("classifier")
int sdn_port_ingress(struct __sk_buff *skb)
{
	__u32 linear = skb->data_end - skb->data;

	if (linear < skb->len && linear < SDN_PULL_BYTES)
		bpf_skb_pull_data(skb, skb->len < SDN_PULL_BYTES ? skb->len : SDN_PULL_BYTES);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	return sdn_port_filter(data, data_end, skb->ifindex, SDN_DIR_INGRESS, skb->len)
		       ? TC_ACT_UNSPEC
		       : TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";
