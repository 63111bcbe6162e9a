/* table.h - userspace side of the single-address tables (weir_table.h):
 * both arrays mapped into memory, and the probing that the XDP program does,
 * done the same way. Internal to the maps library.
 *
 * Contract: weir_tab_put() returns 1 when it created the entry, 0 when the
 * address was present (updated, or kept when `keep`), -ENOSPC when no slot is
 * free within WEIR_PROBE_MAX of the address's hash. Callers serialize writers
 * (the pin directory's flock); the XDP program reads concurrently.
 */
#ifndef WEIR_MAPS_TABLE_H
#define WEIR_MAPS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weir_abi.h"
#include "weir_table.h"

struct weir_tab {
	uint8_t family;
	uint32_t mask; /* slots - 1 */
	uint32_t seed;
	size_t slot_sz, alen;
	char *slots;
	struct weir_entry *ents;
};

int weir_tab_open(struct weir_tab *t, int slots_fd, int ents_fd, int family,
		  uint32_t seed);
void weir_tab_close(struct weir_tab *t);

uint32_t weir_tab_state(const struct weir_tab *t, uint32_t i);
const uint8_t *weir_tab_addr(const struct weir_tab *t, uint32_t i);
static inline uint32_t weir_tab_size(const struct weir_tab *t) { return t->mask + 1; }

/* Index of the live slot holding addr, or -1. */
long weir_tab_find(const struct weir_tab *t, const void *addr);
int weir_tab_put(struct weir_tab *t, const void *addr,
		 const struct weir_entry *e, bool keep, uint32_t *idx);
/* Retires slot i (LIVE -> DEAD); returns whether this call retired it. */
bool weir_tab_retire(struct weir_tab *t, uint32_t i);
void weir_tab_clear(struct weir_tab *t);
size_t weir_tab_count(const struct weir_tab *t);

#endif /* WEIR_MAPS_TABLE_H */
