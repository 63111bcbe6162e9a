/* maps.h - the maps of the XDP pipeline, with the types of maps/weir_abi.h.
 *
 * No map here declares pinning: the loader (weirctl attach) pins them under
 * WEIR_PIN_DIR and reuses existing pins, while the BPF tests load the same
 * object with private, unpinned maps.
 */
#ifndef WEIR_BPF_MAPS_H
#define WEIR_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../../maps/weir_abi.h"
#include "../../maps/weir_table.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weir_xdp_config);
} weir_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WEIR_R_MAX);
	__type(key, __u32);
	__type(value, struct weir_stat);
} weir_stats SEC(".maps");

#define WEIR_LPM_MAP(name, keytype, valtype, max)                              \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                           \
		__uint(max_entries, max);                                      \
		__uint(map_flags, BPF_F_NO_PREALLOC);                          \
		__type(key, keytype);                                          \
		__type(value, valtype);                                        \
	} name SEC(".maps")

WEIR_LPM_MAP(weir_block4, struct weir_lpm4, struct weir_entry, WEIR_BLOCK_MAX);
WEIR_LPM_MAP(weir_block6, struct weir_lpm6, struct weir_entry, WEIR_BLOCK_MAX);
WEIR_LPM_MAP(weir_allow4, struct weir_lpm4, struct weir_entry, WEIR_ALLOW_MAX);
WEIR_LPM_MAP(weir_allow6, struct weir_lpm6, struct weir_entry, WEIR_ALLOW_MAX);
/* Single-address tables: slots and entries, same index (weir_table.h). */
#define WEIR_ARRAY_MAP(name, valtype, n)                                       \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_ARRAY);                              \
		__uint(max_entries, n);                                        \
		__uint(map_flags, BPF_F_MMAPABLE);                             \
		__type(key, __u32);                                            \
		__type(value, valtype);                                        \
	} name SEC(".maps")

WEIR_ARRAY_MAP(weir_block4h, struct weir_slot4, WEIR_BLOCK_SLOTS);
WEIR_ARRAY_MAP(weir_block4e, struct weir_entry, WEIR_BLOCK_SLOTS);
WEIR_ARRAY_MAP(weir_block6h, struct weir_slot6, WEIR_BLOCK_SLOTS);
WEIR_ARRAY_MAP(weir_block6e, struct weir_entry, WEIR_BLOCK_SLOTS);
WEIR_ARRAY_MAP(weir_allow4h, struct weir_slot4, WEIR_ALLOW_SLOTS);
WEIR_ARRAY_MAP(weir_allow4e, struct weir_entry, WEIR_ALLOW_SLOTS);
WEIR_ARRAY_MAP(weir_allow6h, struct weir_slot6, WEIR_ALLOW_SLOTS);
WEIR_ARRAY_MAP(weir_allow6e, struct weir_entry, WEIR_ALLOW_SLOTS);

#define WEIR_SUMMARY_MAP(name)                                                 \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_ARRAY);                              \
		__uint(max_entries, WEIR_SUMMARY_WORDS);                       \
		__uint(map_flags, BPF_F_MMAPABLE);                             \
		__type(key, __u32);                                            \
		__type(value, __u64);                                          \
	} name SEC(".maps")

WEIR_SUMMARY_MAP(weir_block4s);
WEIR_SUMMARY_MAP(weir_block6s);
WEIR_SUMMARY_MAP(weir_allow4s);
WEIR_SUMMARY_MAP(weir_allow6s);
WEIR_LPM_MAP(weir_limit4, struct weir_lpm4, struct weir_limit, WEIR_LIMIT_MAX);
WEIR_LPM_MAP(weir_limit6, struct weir_lpm6, struct weir_limit, WEIR_LIMIT_MAX);

/* LRU, so that a flood of spoofed sources evicts old state instead of
 * exhausting memory or failing inserts. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEIR_SRC_MAX);
	__type(key, struct weir_src_key);
	__type(value, struct weir_src_state);
} weir_src SEC(".maps");

/* Userspace-only: comments on blocklist entries. Lives in the object so
 * that the loader creates and pins it with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_NOTE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct weir_note_key);
	__type(value, struct weir_note);
} weir_note SEC(".maps");

/* ---- services ---- */

WEIR_ARRAY_MAP(weir_svc_tab, struct weir_svc_slot, WEIR_SVC_SLOTS);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WEIR_SVC_MAX);
	__type(key, __u32);
	__type(value, struct weir_svc_state);
} weir_svc_state SEC(".maps");

/* Written whole by weirctl through a mapping: a ring rebuilt after a change
 * is copied over the old one in one go, and a packet that reads a slot in
 * between gets the old backend or the new one, both live. */
WEIR_ARRAY_MAP(weir_ring, __u64, WEIR_RING_MAX * WEIR_RING_SIZE);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WEIR_BACKEND_MAX);
	__type(key, __u32);
	__type(value, struct weir_backend);
} weir_backend SEC(".maps");

/* Per-CPU LRU lists (BPF_F_NO_COMMON_LRU): no lock shared between CPUs
 * on the insert of a new flow. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEIR_FLOW_MAX);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct weir_flow_key);
	__type(value, struct weir_flow);
} weir_flow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weir_flow_rate);
} weir_flow_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WEIR_FLOW_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct weir_flow_cached);
} weir_flow_cache SEC(".maps");

/* Test clock: read instead of bpf_ktime_get_ns() when the read-only
 * weir_test_clock is set before load. Never set by the loader, so the
 * verifier prunes every use of it in production. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} weir_clock SEC(".maps");

#endif /* WEIR_BPF_MAPS_H */
