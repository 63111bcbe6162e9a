/* internal.h - what the maps library's files share and nobody else sees:
 * the parts a list is made of (weir_maps.c), and the helpers that import.c
 * needs from weir_maps.c. Not installed, not included outside maps/.
 */
#ifndef WEIR_MAPS_INTERNAL_H
#define WEIR_MAPS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include "weir_maps.h"
#include "table.h"

/* A list has four parts: per family, a table of single addresses
 * (weir_table.h) and an LPM trie of shorter prefixes with its summary
 * (weir_abi.h). A part's keys are the address bytes for a table, a struct
 * weir_lpm4/6 for a trie. */
struct list_part {
	int fd; /* the trie, or the table's slots */
	uint8_t family;
	bool host;
	size_t ksz;
	uint32_t bit;
	int sum; /* the trie's summary; -1 for tables */
	int ents; /* the table's entries; -1 for tries */
};

#define N_PARTS WEIR_LIST_PARTS

#define WEIR_KEY_MAX sizeof(struct weir_lpm6)

void list_parts(const struct weir_maps *m, enum weir_list l,
		struct list_part p[N_PARTS]);
int part_of(const struct weir_cidr *c);
void part_key(const struct list_part *p, const struct weir_cidr *c, void *key);
void part_cidr(const struct list_part *p, const void *key, struct weir_cidr *c);
int part_tab(const struct weir_maps *m, const struct list_part *part,
	     struct weir_tab *t);
int part_del(const struct weir_maps *m, const struct list_part *part,
	     const void *key);
/* Collects every key of a map; the caller frees *keys. */
long map_keys(int fd, size_t ksz, void **keys);
void maps_lock(const struct weir_maps *m, int op);
int summary_add(const struct list_part *part, const char *keys, size_t n);
int summary_rebuild(const struct list_part *part);
int list_bits_sync(const struct weir_maps *m, enum weir_list l);

#endif /* WEIR_MAPS_INTERNAL_H */
