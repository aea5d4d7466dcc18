/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one definition of everything shared between the eBPF programs and user space: map keys and
 * values, event records, and constants.
 *
 * Rules (see docs/ebpf.md):
 *  - fixed-width types only, explicit padding, a _Static_assert on every struct size;
 *  - every constant user space needs is an integer `#define SDN_...` on one line: build.rs turns each
 *    into a Rust `pub const` (ebpf/src/abi.rs includes them), so they cannot drift;
 *  - every struct is mirrored once in ebpf/src/abi.rs; a test compares sizes and field offsets with
 *    the BTF of the compiled objects, so a field changed here without the Rust side fails the tests.
 */
#ifndef SDN_ABI_H
#define SDN_ABI_H

#include <linux/types.h>

/* ---- Metering (billing counters per port) ---------------------------------------------------- */

/* Directions, always from the instance's point of view. */
#define SDN_DIR_EGRESS 0  /* what the instance sends: the port's receive side (XDP) */
#define SDN_DIR_INGRESS 1 /* what is delivered to the instance: the port's transmit side (TC) */
#define SDN_DIR_COUNT 2

/* What kind of frame was counted. Malformed frames are counted too: billing never loses bytes. */
#define SDN_CLASS_IPV4 0
#define SDN_CLASS_IPV6 1
#define SDN_CLASS_ARP 2
#define SDN_CLASS_OTHER 3     /* any other ethertype */
#define SDN_CLASS_MALFORMED 4 /* too short for its own headers */
#define SDN_CLASS_COUNT 5

/* Upper bound of metered ports (x2 directions) per node; -DSDN_MAX_PORTS=N overrides it. */
#ifndef SDN_MAX_PORTS
#define SDN_MAX_PORTS 4096
#endif

/* Parsing limits. */
#define SDN_MAX_VLAN_TAGS 2 /* 802.1ad outer + 802.1Q inner; a third tag is malformed */
#define SDN_MAX_IPV6_EXT_HDRS 8

/* Key of sdn_meter: a port (its ifindex in the node's namespace) and a direction. */
struct sdn_meter_key {
	__u32 ifindex;
	__u32 direction; /* SDN_DIR_EGRESS or SDN_DIR_INGRESS */
};
_Static_assert(sizeof(struct sdn_meter_key) == 8, "sdn_meter_key size");

struct sdn_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct sdn_counter) == 16, "sdn_counter size");

/* Value of sdn_meter (per CPU: user space sums the CPUs). */
struct sdn_meter_value {
	struct sdn_counter by_class[SDN_CLASS_COUNT]; /* indexed by SDN_CLASS_* */
};
_Static_assert(sizeof(struct sdn_meter_value) == 16 * SDN_CLASS_COUNT, "sdn_meter_value size");

/* Slots of sdn_meter_missed: frames seen on a port the agent has not registered in sdn_meter. */
#define SDN_MISSED_SLOTS 1

#endif /* SDN_ABI_H */
