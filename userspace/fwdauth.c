/* userspace/fwdauth.c - the verdict cache of the forward-auth plugin (see
 * fwdauth.h): a set-associative table of verdicts, compared on whole keys.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fwdauth.h"

/* FNV-1a, 64 bits: spreads keys over the sets; equality is on the bytes. */
static uint64_t key_hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	return h | 1;		/* never 0 */
}

struct weir_fa_cache *weir_fa_cache_new(uint32_t entries)
{
	uint32_t sets = 1;
	struct weir_fa_cache *c;

	while ((uint64_t)sets * WEIR_FA_WAYS < entries && sets < (1u << 24))
		sets <<= 1;
	c = calloc(1, sizeof(*c) + (size_t)sets * WEIR_FA_WAYS * sizeof(c->e[0]));
	if (c)
		c->n_sets = sets;
	return c;
}

void weir_fa_cache_free(struct weir_fa_cache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n_sets * WEIR_FA_WAYS; i++)
		free(c->e[i].mem);
	free(c);
}

static bool same_key(const struct weir_fa_entry *e, uint64_t h, const char *key, size_t n)
{
	return e->at && e->hash == h && e->key_len == n && !memcmp(e->mem, key, n);
}

const struct weir_fa_entry *weir_fa_cache_get(const struct weir_fa_cache *c, const char *key,
					      size_t key_len, uint64_t now, uint64_t max_age)
{
	uint64_t h = key_hash(key, key_len);
	const struct weir_fa_entry *set = &c->e[(h & (c->n_sets - 1)) * WEIR_FA_WAYS];

	for (int i = 0; i < WEIR_FA_WAYS; i++)
		if (same_key(&set[i], h, key, key_len))
			return now - set[i].at <= max_age ? &set[i] : NULL;
	return NULL;
}

int weir_fa_cache_put(struct weir_fa_cache *c, const char *key, size_t key_len, uint64_t now,
		      uint16_t status, const char *lines, size_t lines_len, const char *body,
		      size_t body_len)
{
	uint64_t h = key_hash(key, key_len);
	struct weir_fa_entry *set = &c->e[(h & (c->n_sets - 1)) * WEIR_FA_WAYS], *e = NULL;
	char *mem;

	for (int i = 0; i < WEIR_FA_WAYS && !e; i++)
		if (same_key(&set[i], h, key, key_len))
			e = &set[i];
	for (int i = 0; i < WEIR_FA_WAYS && !e; i++)
		if (!set[i].at)
			e = &set[i];
	if (!e) {
		e = &set[0];
		for (int i = 1; i < WEIR_FA_WAYS; i++)
			if (set[i].at < e->at)
				e = &set[i];
	}
	mem = malloc(key_len + lines_len + body_len + 1);
	if (!mem)
		return -1;
	memcpy(mem, key, key_len);
	if (lines_len)
		memcpy(mem + key_len, lines, lines_len);
	if (body_len)
		memcpy(mem + key_len + lines_len, body, body_len);
	free(e->mem);
	*e = (struct weir_fa_entry){
		.hash = h, .at = now ? now : 1, .status = status, .key_len = (uint32_t)key_len,
		.lines_len = (uint32_t)lines_len, .body_len = (uint32_t)body_len, .mem = mem,
	};
	return 0;
}
