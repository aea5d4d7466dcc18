/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Conntrack of the load-balancer paths: idle timeouts (the port conntrack's figures) and state
 * advance. The LB node sees only the client's direction (DSR), so its TCP states come from the
 * client's flags alone; the backend's hypervisor sees both directions.
 */
#ifndef SDN_LB_CONNTRACK_H
#define SDN_LB_CONNTRACK_H

#include <linux/types.h>
#include <linux/in.h>

#include "sdn_abi.h"
#include "flow.h"

#define SDN_NS_PER_SEC_LB 1000000000ULL

static __always_inline __u64 sdn_lb_ct_timeout_ns(__u8 proto, __u8 state)
{
	__u64 s;

	if (proto == IPPROTO_TCP) {
		if (state == SDN_CT_ESTABLISHED)
			s = SDN_CT_TIMEOUT_TCP_ESTABLISHED;
		else if (state == SDN_CT_CLOSING)
			s = SDN_CT_TIMEOUT_TCP_CLOSING;
		else if (state == SDN_CT_CLOSED)
			s = SDN_CT_TIMEOUT_TCP_CLOSED;
		else
			s = SDN_CT_TIMEOUT_TCP_NEW;
	} else {
		s = state == SDN_CT_NEW ? SDN_CT_TIMEOUT_UDP_NEW : SDN_CT_TIMEOUT_UDP_ESTABLISHED;
	}
	return s * SDN_NS_PER_SEC_LB;
}

/* LB node: one more client packet of a flow. */
static __always_inline void sdn_lb_ct_advance(struct sdn_lb_ct_value *v, __u8 proto, __u8 flags,
					      __u64 len, __u64 now)
{
	v->last_seen_ns = now;
	v->packets++;
	v->bytes += len;
	if (proto != IPPROTO_TCP) {
		if (v->packets > 1)
			v->state = SDN_CT_ESTABLISHED; /* UDP: a flow that goes on */
		return;
	}
	if (flags & SDN_TCP_RST)
		v->state = SDN_CT_CLOSED;
	else if (flags & SDN_TCP_FIN)
		v->state = v->state == SDN_CT_CLOSED ? SDN_CT_CLOSED : SDN_CT_CLOSING;
	else if (v->state == SDN_CT_NEW && (flags & SDN_TCP_ACK) && !(flags & SDN_TCP_SYN))
		v->state = SDN_CT_ESTABLISHED; /* the client acknowledged the backend's SYN-ACK */
}

/* Hypervisor: one more packet of a DNATed flow, in direction `dir` (SDN_DIR_INGRESS toward the
 * instance, SDN_DIR_EGRESS a reply). */
static __always_inline void sdn_lb_nat_advance(struct sdn_lb_nat_value *v, __u32 dir, __u8 proto,
					       __u8 flags, __u64 len, __u64 now)
{
	__u32 d = dir & 1;

	v->last_seen_ns = now;
	v->packets[d]++;
	v->bytes[d] += len;
	if (proto != IPPROTO_TCP) {
		if (d == SDN_DIR_EGRESS)
			v->state = SDN_CT_ESTABLISHED;
		return;
	}
	if (flags & SDN_TCP_RST) {
		v->state = SDN_CT_CLOSED;
	} else if (flags & SDN_TCP_FIN) {
		v->fin_seen |= 1 << d;
		v->state = v->fin_seen == 3 ? SDN_CT_CLOSED : SDN_CT_CLOSING;
	} else if (v->state == SDN_CT_NEW && d == SDN_DIR_EGRESS && (flags & SDN_TCP_ACK)) {
		v->state = SDN_CT_ESTABLISHED; /* the instance answered */
	}
}

#endif /* SDN_LB_CONNTRACK_H */
