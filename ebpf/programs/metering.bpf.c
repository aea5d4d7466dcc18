// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-port metering. XDP on the port's receive side (what the instance sends), TC on its transmit
 * side (what is delivered to it). Counts packets and bytes per port and frame class; never drops.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h> /* TC_ACT_UNSPEC, which TCX calls TCX_NEXT */
#include <bpf/bpf_helpers.h>

#include "meter.h"

SEC("xdp")
int sdn_meter_rx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	sdn_meter_count(ctx->ingress_ifindex, SDN_DIR_EGRESS, sdn_meter_class(data, data_end),
			data_end - data);
	return XDP_PASS;
}

SEC("classifier")
int sdn_meter_tx(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	/* skb->len counts the whole frame, including any part not in the linear area. */
	sdn_meter_count(skb->ifindex, SDN_DIR_INGRESS, sdn_meter_class(data, data_end), skb->len);
	/* TC_ACT_UNSPEC is TCX_NEXT: later programs on this hook decide; metering only observes. */
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "GPL";
