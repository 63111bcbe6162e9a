/* userspace/router-int.h - what the two halves of the router share: the
 * compact records a built router is made of, and struct weir_router itself.
 * Private to router.c (the match walk, which reads the records) and
 * router_build.c (which adds routes and lays the records out); everything
 * else sees only router.h.
 *
 * A built router is one block of memory (weir_router.mem) holding records
 * addressed by 32-bit offsets from its start, 0 meaning none: path nodes
 * (struct pn) with their entries (struct rentry), host nodes (struct hn),
 * and the static table (struct slot, struct skey). Header conditions, param
 * names and ids (struct rhdr, struct raux) live in the router's arena and
 * are pointed to directly.
 */
#ifndef WEIR_ROUTER_INT_H
#define WEIR_ROUTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "router.h"

enum { L_EXACT, L_BARE, L_PREFIX, L_KINDS };

/* ---- in the arena: what a match reads of a route beyond its payload ---- */

struct rstr {
	const char *s;
	uint32_t len;
};

/* One header condition, canonical: values sorted, no duplicates. */
struct rhdr {
	const char *name;
	uint32_t name_len, n_values;
	const struct rstr *values;
};

/* What a match reads of a route beyond its payload; shared by alike routes. */
struct raux {
	const char **names;		/* the pattern's params, NULL-terminated */
	const struct rhdr *hdr;
	uint32_t n_hdr, methods;
};

/* ---- frozen: records in one block, addressed by offset (0 = none) ---- */

struct rentry {
	void *route;
	const struct raux *aux;		/* NULL: takes any request */
};

/* A path node: this header; the children's first bytes, sorted, at a fixed
 * place so that a lookup's critical path does not wait for len; the label;
 * the children's offsets (4-aligned); the param child's offset if
 * PN_PARAM; then, 8-aligned, its entries: the exact ones, then the bare
 * ones, then the prefix ones, each run in precedence order. With at most
 * one of each kind the flags tell which are there; otherwise PN_MANY, and a
 * struct pents counts them. */
struct pn {
	uint16_t len, n_kids;
	uint8_t flags;
	uint8_t first[];
};

#define PN_PARAM 1
#define PN_PREFIX 2			/* some prefix entries */
#define PN_KEYS 4			/* on a root: the static table has its paths */
#define PN_MANY 8
#define PN_E 16				/* one exact entry, without PN_MANY */
#define PN_B 32				/* one bare entry, without PN_MANY */
#define PN_ANY (PN_PREFIX | PN_MANY | PN_E | PN_B)

struct pents {
	uint16_t n[L_KINDS], pad;
	struct rentry e[];
};

/* A host node: the host's bytes last first, then as in struct pn. */
struct hn {
	uint32_t paths, wpaths;		/* path trees of the host and "*.host" */
	uint32_t wnext;			/* the nearest ancestor with wpaths */
	uint16_t len, n_kids;
	uint16_t depth;			/* bytes of host key from the root to here */
	uint8_t first[];
};

/* Static patterns ending at a node with exact entries are also found
 * through a hash table of their full path: one probe replaces the walk
 * down the tree for the most common kind of route. The depth-first walk
 * would reach the same node first, so the order of precedence is kept. */
struct skey {
	uint32_t root, node, len;
	char key[];
};

struct slot {
	uint32_t tag;			/* high half of the hash */
	uint32_t off;			/* of a struct skey, 0 = empty */
};

#define ALIGN(x, a) (((x) + (a) - 1) & ~(size_t)((a) - 1))
#define KIDS_AT(hdr, len, n) ALIGN((hdr) + (len) + (n), 4)
#define PN_KIDS(n) KIDS_AT(offsetof(struct pn, first), (n)->len, (n)->n_kids)
#define PN_PARAM_AT(n) (PN_KIDS(n) + 4 * (size_t)(n)->n_kids)
#define PN_ENTS_AT(n) ALIGN(PN_PARAM_AT(n) + ((n)->flags & PN_PARAM ? 4 : 0), 8)
#define LABEL(n) ((const char *)(n)->first + (n)->n_kids)
#define HN_KIDS(n) KIDS_AT(offsetof(struct hn, first), (n)->len, (n)->n_kids)
#define AT(base, off, type) ((type)((base) + (off)))

#define AUX_RECENT 32

struct bnode;				/* router_build.c: the trees while adding */
struct bent;
struct chunk;

/* The fields from hroot to n_recent serve adding and the build only; the
 * build frees the trees and the entries. The arena (chunks) lives as long as
 * the router: the records point into it. */
struct weir_router {
	bool built;
	size_t count;
	struct chunk *chunks;		/* ids, names, header conditions */
	size_t chunk_bytes;

	struct bnode *hroot, *aroot;	/* host tree; paths of no-host routes */
	struct bent *bents;
	uint32_t n_bents, cap_bents;
	uint32_t n_static;		/* exact patterns without params */
	struct raux *recent[AUX_RECENT];	/* see aux_intern() */
	unsigned n_recent;

	char *mem;			/* the frozen records */
	size_t mem_len;
	bool mapped;			/* mem from mmap(), else malloc() */
	uint32_t hroot_off, aroot_off;
	uint32_t slots_off, slot_mask;
};

/* A hash of the path, seeded with its tree's root; the same function serves
 * the table's build and its lookups. */
static inline uint64_t weir__router_path_hash(uint32_t seed, const char *s, size_t n)
{
	uint64_t h = (seed + 0x9e3779b97f4a7c15ull) ^ (n * 0xff51afd7ed558ccdull), x;
	size_t i;

	for (; n >= 8; n -= 8, s += 8) {
		memcpy(&x, s, 8);
		h = (h ^ x) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	for (x = 0, i = 0; i < n; i++)
		x |= (uint64_t)(uint8_t)s[i] << (8 * i);
	h = (h ^ x) * 0x94d049bb133111ebull;
	return h ^ (h >> 29);
}

#endif
