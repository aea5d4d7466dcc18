// SPDX-License-Identifier: GPL-2.0-only
/*
 * Load balancer on `lb` nodes: XDP on the uplink. VIP traffic of a service is encapsulated toward
 * its backend's hypervisor (XDP_TX); echo requests to a VIP are answered; the rest passes.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lb_node.h"

SEC("xdp")
int sdn_lb_xdp(struct xdp_md *ctx)
{
	return sdn_lb_node(ctx);
}

char _license[] SEC("license") = "GPL";
