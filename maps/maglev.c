/* maglev.c - Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and
 * Reliable Software Network Load Balancer", NSDI '16), with weights.
 *
 * Each backend has a permutation of the table's slots, given by an offset
 * and a skip derived from two hashes of its identity (its address); the
 * backends take turns claiming the next free slot of their permutation
 * until the table is full. A backend's turns come at a rate proportional to
 * its weight (the heaviest takes one every round, as Katran's weighted
 * variant does). Because a permutation depends only on the backend, a change
 * to the set moves few slots: removing one of N backends moves about 1/N of
 * them, adding one about 1/(N+1). The table size is prime, so every skip in
 * 1..size-1 visits every slot.
 */
#include "weir_maps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 64-bit FNV-1a, finished with a murmur3 mixer: permutations of similar
 * addresses (10.0.0.1, 10.0.0.2, ...) must be unrelated. */
static uint64_t maglev_hash(const uint8_t *key, size_t len, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= key[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

int weir_maglev_build(const struct weir_maglev_node *nodes, size_t n,
		      uint32_t *ring, uint32_t size)
{
	uint64_t *offset, *skip, *next, *credit;
	uint32_t max_w = 0, filled = 0;

	for (uint32_t s = 0; s < size; s++)
		ring[s] = WEIR_RING_EMPTY;
	for (size_t i = 0; i < n; i++)
		if (nodes[i].weight > max_w)
			max_w = nodes[i].weight;
	if (!max_w)
		return 0;
	if (size < 2)
		return -EINVAL;
	offset = calloc(n * 4, sizeof(uint64_t));
	if (!offset)
		return -ENOMEM;
	skip = offset + n;
	next = skip + n;
	credit = next + n;
	for (size_t i = 0; i < n; i++) {
		offset[i] = maglev_hash(nodes[i].key, sizeof(nodes[i].key), 0) % size;
		skip[i] = maglev_hash(nodes[i].key, sizeof(nodes[i].key),
				      0x9e3779b97f4a7c15ull) % (size - 1) + 1;
	}
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			uint64_t slot;

			if (!nodes[i].weight)
				continue;
			credit[i] += nodes[i].weight;
			if (credit[i] < max_w)
				continue;
			credit[i] -= max_w;
			do {
				slot = (offset[i] + next[i] * skip[i]) % size;
				next[i]++;
			} while (ring[slot] != WEIR_RING_EMPTY);
			ring[slot] = nodes[i].value;
			if (++filled == size) {
				free(offset);
				return 0;
			}
		}
	}
}
