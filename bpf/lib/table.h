/* table.h - lookups in the single-address tables (maps/weir_table.h) from
 * the XDP program: probe at most WEIR_PROBE_MAX slots from the address's
 * hash; an EMPTY slot ends the chain, a DEAD one does not.
 */
#ifndef WEIR_BPF_TABLE_H
#define WEIR_BPF_TABLE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../../maps/weir_table.h"

/* Returns the index of the live slot holding the IPv4 address, or -1, with
 * the slot's state word as it was read (for weir_tab_hit). The table has
 * `mask + 1` slots; mask is a constant at each call site. */
static __always_inline int weir_tab_find4(void *slots, __u32 mask,
					  const __u8 *addr, __u32 seed, __u32 *word)
{
	__u32 h = weir_hash4(addr, seed), w;

	__builtin_memcpy(&w, addr, 4);
	for (__u32 p = 0; p < WEIR_PROBE_MAX; p++) {
		__u32 i = weir_probe(h, p, mask);
		struct weir_slot4 *s = bpf_map_lookup_elem(slots, &i);
		__u32 sw, st;

		if (!s)
			return -1;
		/* volatile loads keep their order: the state before the address */
		st = *(volatile __u32 *)&s->state;
		if ((st & WEIR_SLOT_STATE) == WEIR_SLOT_EMPTY)
			return -1;
		sw = *(volatile __u32 *)s->addr;
		if ((st & WEIR_SLOT_STATE) == WEIR_SLOT_LIVE && sw == w) {
			*word = st;
			return (int)i;
		}
	}
	return -1;
}

static __always_inline int weir_tab_find6(void *slots, __u32 mask,
					  const __u8 *addr, __u32 seed, __u32 *word)
{
	__u32 h = weir_hash6(addr, seed);
	__u64 a[2];

	__builtin_memcpy(a, addr, 16);
	for (__u32 p = 0; p < WEIR_PROBE_MAX; p++) {
		__u32 i = weir_probe(h, p, mask);
		struct weir_slot6 *s = bpf_map_lookup_elem(slots, &i);
		__u64 b[2];
		__u32 st;

		if (!s)
			return -1;
		st = *(volatile __u32 *)&s->state;
		if ((st & WEIR_SLOT_STATE) == WEIR_SLOT_EMPTY)
			return -1;
		b[0] = ((volatile __u64 *)s->addr)[0];
		b[1] = ((volatile __u64 *)s->addr)[1];
		if ((st & WEIR_SLOT_STATE) == WEIR_SLOT_LIVE && b[0] == a[0] &&
		    b[1] == a[1]) {
			*word = st;
			return (int)i;
		}
	}
	return -1;
}

#endif /* WEIR_BPF_TABLE_H */
