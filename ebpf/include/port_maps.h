/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* The maps of the port programs (security groups, conntrack, counters, events). */
#ifndef SDN_PORT_MAPS_H
#define SDN_PORT_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sdn_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SDN_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct sdn_port_config);
} sdn_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SDN_MAX_PORTS * SDN_MAX_PORT_ADDRS);
	__type(key, struct sdn_port_addr_key);
	__type(value, __u32);
} sdn_port_addr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SDN_MAX_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sdn_remote_key);
	__type(value, struct sdn_remote_value);
} sdn_remote SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SDN_MAX_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sdn_rule_key);
	__type(value, struct sdn_rule_value);
} sdn_rule_match SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SDN_MAX_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sdn_remote_host_key);
	__type(value, struct sdn_remote_value);
} sdn_remote_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SDN_MAX_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sdn_rule_exact_key);
	__type(value, struct sdn_rule_value);
} sdn_rule_exact SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SDN_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sdn_rule_stats);
} sdn_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_MAX_PORTS * SDN_DIR_COUNT);
	__type(key, __u32);
	__type(value, struct sdn_port_stats);
} sdn_port_stats SEC(".maps");


struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_DROP_COUNT);
	__type(key, __u32);
	__type(value, struct sdn_counter);
} sdn_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SDN_CT_MAX);
	__type(key, struct sdn_ct_key);
	__type(value, struct sdn_ct_value);
} sdn_ct SEC(".maps");

/* Live conntrack entries (approximate between GC sweeps, which rewrite it exactly). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sdn_ct_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sdn_frag_key);
	__type(value, struct sdn_frag_value);
} sdn_frag SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SDN_EVENTS_RING_BYTES);
} sdn_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SDN_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct sdn_event_budget);
} sdn_event_budget SEC(".maps");

/* Ring-buffer records have no map type to carry them into BTF; this never-read constant keeps
 * struct sdn_flow_event there, for user space and the ABI drift check. */
const volatile struct sdn_flow_event sdn_btf_flow_event __attribute__((used)) = {};

#endif /* SDN_PORT_MAPS_H */
