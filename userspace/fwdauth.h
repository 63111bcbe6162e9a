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

#endif
