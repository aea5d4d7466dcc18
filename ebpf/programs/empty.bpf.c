// SPDX-License-Identifier: GPL-2.0-only
/* The baseline of benchmarks: an XDP program that does nothing (`cargo xtask bench dataplane`). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int sdn_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
