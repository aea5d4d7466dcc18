// SPDX-License-Identifier: GPL-2.0-only
/*
 * Load balancer on a backend's hypervisor: `sdn_lbhv_decap` (XDP on the underlay uplink:
 * decapsulate, DNAT to the instance, track) and `sdn_lbhv_rnat` (TC/TCX ingress on the instance
 * port: replies leave as VIP:port, straight to the client).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lb_backend.h"

/* Headers the TC side wants in the linear part of the skb before parsing. */
#define SDN_LB_PULL_BYTES 128

SEC("xdp")
int sdn_lbhv_decap(struct xdp_md *ctx)
{
	return sdn_lbhv_decapsulate(ctx);
}

SEC("classifier")
int sdn_lbhv_rnat(struct __sk_buff *skb)
{
	__u32 linear = skb->data_end - skb->data;

	if (linear < skb->len && linear < SDN_LB_PULL_BYTES)
		bpf_skb_pull_data(skb, skb->len < SDN_LB_PULL_BYTES ? skb->len : SDN_LB_PULL_BYTES);
	return sdn_lbhv_reverse_nat(skb);
}

char _license[] SEC("license") = "GPL";
