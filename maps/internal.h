/* internal.h - what the maps library's files share and nobody else sees:
 * the parts a list is made of (weir_maps.c), and the helpers that import.c
 * needs from weir_maps.c. Not installed, not included outside maps/; the
 * weir__ prefix keeps these names out of the way of code that links the
 * library. */
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

void weir__list_parts(const struct weir_maps *m, enum weir_list l,
		struct list_part p[N_PARTS]);
int weir__part_of(const struct weir_cidr *c);
void weir__part_key(const struct list_part *p, const struct weir_cidr *c, void *key);
void weir__part_cidr(const struct list_part *p, const void *key, struct weir_cidr *c);
int weir__part_tab(const struct weir_maps *m, const struct list_part *part,
	     struct weir_tab *t);
int weir__part_del(const struct weir_maps *m, const struct list_part *part,
	     const void *key);
/* The entry of exactly the prefix `key` (struct weir_lpm4/6) in a trie:
 * a lookup answers the longest match, which may be a shorter prefix.
 * 0, or -ENOENT when the trie does not hold that very prefix. */
int weir__trie_get(int fd, const void *key, struct weir_entry *e);
/* Collects every key of a map; the caller frees *keys. */
long weir__map_keys(int fd, size_t ksz, void **keys);
void weir__maps_lock(const struct weir_maps *m, int op);
int weir__summary_add(const struct list_part *part, const char *keys, size_t n);
int weir__summary_rebuild(const struct list_part *part);
int weir__list_bits_sync(const struct weir_maps *m, enum weir_list l);

#endif /* WEIR_MAPS_INTERNAL_H */
