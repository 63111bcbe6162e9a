/* userspace/fwdauth.h - the settings and the verdict cache of the
 * forward-auth plugin (plugin_forward_auth.c), apart from its client so
 * they can be tested alone: fwdauth_conf.c reads the settings, fwdauth.c
 * holds the cache.
 *
 * The cache:
 * One cache per worker, touched by that worker alone (no locks). A verdict
 * is stored under the key the plugin builds from the auth service's
 * address and the values of the configured request headers, and is
 * compared on the whole key, never on its hash alone: two credentials whose
 * hashes collide never share a verdict. The table is set-associative
 * (WEIR_FA_WAYS entries per set, chosen by the key's hash); a new verdict
 * takes the slot of the same key, else an empty one, else the set's oldest.
 * An entry keeps its age; the caller says how old a verdict it accepts (the
 * TTL normally, stale_ttl when the service fails), so nothing expires by
 * itself: old entries are the first replaced.
 *
 * The shared cache (cache.shared in the settings):
 * Behind the per-worker caches, a cache all workers read and fill, so that
 * a credential the service judged on one worker is not asked about again
 * from another. It is the same table cut into WEIR_FA_SHARDS shards by the
 * key's hash, each behind its own mutex (lock striping, as the limit
 * table's shards in limits.h): a lookup locks one shard for one set's
 * compare and a copy. Bounded like the per-worker one: `size` entries, the
 * oldest of a set replaced. A hit is copied into the worker's own cache
 * with its age kept, so a verdict is never younger in a worker than it
 * was when the service gave it; the TTLs (cache.ttl for the worker's,
 * cache.shared.ttl for the shared) and stale_ttl are applied to that age.
 * Instances with the same service and size share one table, found through
 * a registry (as the limit tables are): a reload that keeps them keeps its
 * verdicts.
 */
#ifndef WEIR_FWDAUTH_H
#define WEIR_FWDAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "plugin.h"

/* A forward-auth instance's settings, immutable once read. */
struct weir_fa_conf {
	struct weir_addr addr;		/* of the service */
	char *path;			/* origin form, query included */
	bool post, allow;		/* request_method POST; on_failure: allow */
	/* header names, lower case; NULL for none */
	struct weir_hdr_names *req_hdrs, *up_hdrs, *cli_hdrs, *key_hdrs;
	uint64_t timeout_ms, ttl_ms, stale_ms;
	uint32_t keepalive;		/* idle connections per worker */
	bool cache;
	/* cache.shared: its TTL and size; shared NULL when not asked for */
	uint64_t shared_ttl_ms;
	uint32_t shared_size;
	struct weir_fa_shared *shared;
};

/* Reads the plugin's settings map: 0 and *out, or -1 with "FIELD: reason"
 * in err. */
int weir_fa_configure(const json_t *conf, struct weir_fa_conf **out, char *err, size_t errlen);
void weir_fa_conf_free(struct weir_fa_conf *fa);

#define WEIR_FA_WAYS 4

/* A verdict: the service's status, the header lines "name: value\r\n"
 * that go with it (upstream_headers after a 2xx, client_headers else) and
 * the body answered to the client (none after a 2xx). */
struct weir_fa_entry {
	uint64_t hash;
	uint64_t at;			/* ms when stored; 0: empty slot */
	uint16_t status;
	uint32_t key_len, lines_len, body_len;
	char *mem;			/* key, lines, body, one after the other */
};

struct weir_fa_cache {
	uint32_t n_sets;		/* a power of two */
	struct weir_fa_entry e[];	/* n_sets * WEIR_FA_WAYS */
};

static inline const char *weir_fa_entry_lines(const struct weir_fa_entry *e)
{
	return e->mem + e->key_len;
}

static inline const char *weir_fa_entry_body(const struct weir_fa_entry *e)
{
	return e->mem + e->key_len + e->lines_len;
}

/* A cache of at least `entries` slots (rounded up to whole sets of a power
 * of two); NULL when out of memory. */
struct weir_fa_cache *weir_fa_cache_new(uint32_t entries);
void weir_fa_cache_free(struct weir_fa_cache *c);
/* The verdict stored under key, if it is at most max_age ms old at `now`;
 * NULL else. The entry stays valid until the next weir_fa_cache_put. */
const struct weir_fa_entry *weir_fa_cache_get(const struct weir_fa_cache *c, const char *key,
					      size_t key_len, uint64_t now, uint64_t max_age);
/* Stores a verdict (replacing the key's previous one). Returns 0, or -1
 * when out of memory (the cache is unchanged then). */
int weir_fa_cache_put(struct weir_fa_cache *c, const char *key, size_t key_len, uint64_t now,
		      uint16_t status, const char *lines, size_t lines_len, const char *body,
		      size_t body_len);

#define WEIR_FA_SHARDS 16
#define WEIR_FA_SHARED_SIZE 16384	/* entries, by default */

struct weir_fa_shared;

/* The shared table for `id` (the service and size; made with `entries`
 * slots when there is none), with a reference taken; NULL when out of
 * memory. Thread-safe. */
struct weir_fa_shared *weir_fa_shared_acquire(const char *id, uint32_t entries);
void weir_fa_shared_release(struct weir_fa_shared *s);
/* The verdict stored under key if at most max_age ms old at `now`, copied
 * into the worker's cache `into` with its age (so the result is into's
 * entry, valid until its next put); NULL when there is none, or no memory
 * to copy it. Any thread. */
const struct weir_fa_entry *weir_fa_shared_get(struct weir_fa_shared *s, const char *key,
					       size_t key_len, uint64_t now, uint64_t max_age,
					       struct weir_fa_cache *into);
/* Stores a verdict, as weir_fa_cache_put. Any thread. */
int weir_fa_shared_put(struct weir_fa_shared *s, const char *key, size_t key_len, uint64_t now,
		       uint16_t status, const char *lines, size_t lines_len, const char *body,
		       size_t body_len);

#endif
