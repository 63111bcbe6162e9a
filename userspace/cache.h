/* userspace/cache.h - the response cache's store and its decisions: zones
 * of stored responses shared by every worker thread (cache.c), and the pure
 * functions that decide what HTTP caching semantics (RFC 9111, a shared
 * cache) allow (cache_rules.c).
 * The `proxy-cache` plugin (plugin_cache.c) is the only user on the request
 * path; weir_cache_purge() is the entry point for an admin API.
 *
 * A zone is a named, size-bounded store (the total of its entries' keys,
 * heads and bodies, plus their bookkeeping). It is split into shards by key
 * hash, each with its own mutex, hash table and LRU list; the size bound is
 * divided evenly between the shards, so eviction is least-recently-used
 * within a shard (exact in a zone of one shard: zones under 8 MiB have one;
 * a shard per 4 MiB, up to 16).
 *
 * Entries are reference counted. A lookup returns an entry held for the
 * caller, who writes it to a socket with no lock held and releases it after;
 * an entry evicted, replaced or purged meanwhile leaves the table at once
 * and is freed by the last release. Entries are immutable once inserted.
 *
 * Zones live in a registry keyed by name, each held by the plugin
 * instances that use it. A reload whose instances name the same zone with
 * the same max_size gets the same zone back, so the stored responses survive
 * it; a changed max_size makes a new, empty zone under the name, and the old
 * one goes with the last snapshot that uses it.
 */
#ifndef WEIR_CACHE_H
#define WEIR_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "core.h"
#include "router.h"

/* ---- the store --------------------------------------------------------- */

struct weir_cache_zone;

/* A stored response. The answer's head holds the stored header lines,
 * framing (Content-Length or Transfer-Encoding: chunked) included, and its
 * body the raw message body bytes as the upstream framed them (`framed`). */
struct weir_cache_entry {
	struct weir_answer answer;
	int64_t stored_at;		/* unix seconds, when it was received */
	int64_t initial_age;		/* its age then (Age, Date), seconds */
	int64_t expires_at;		/* unix seconds: fresh while now < this */
	bool auth_ok;			/* may answer a request with Authorization */
	bool chunked;			/* the body is chunked (not for HTTP/1.0) */

	/* the store's own */
	struct weir_cache_entry *hnext;	/* hash chain */
	struct weir_cache_entry *lprev, *lnext;	/* LRU: most recent at the head */
	_Atomic uint32_t refs;
	bool linked;			/* in a table (under the shard lock) */
	uint64_t hash;
	uint64_t used;			/* the shard's clock when last stored or hit */
	size_t body_cap;		/* while filling: bytes allocated for the body */
	uint64_t body_want;		/* ... and its Content-Length (chunked: max) */
	size_t size;			/* accounted bytes */
	char *key, *vary, *head, *body;
	uint32_t key_len, vary_len;
};

/* The zone `name` of max_size bytes, held for the caller: the registry's
 * if one of that name and size exists, else a new one. NULL when out of
 * memory. */
struct weir_cache_zone *weir_cache_zone_get(const char *name, uint64_t max_size);
void weir_cache_zone_put(struct weir_cache_zone *z);
/* The largest entry (key, Vary record, head and body) a zone of max_size
 * bytes can hold: its share per shard, less the bookkeeping. */
uint64_t weir_cache_object_max(uint64_t max_size);

enum weir_cache_found { WEIR_CACHE_NONE, WEIR_CACHE_FRESH, WEIR_CACHE_STALE };

/* The entry stored under key whose Vary values match the request's headers,
 * held for the caller (weir_cache_release), with FRESH or STALE at `now`
 * (unix seconds) in *found; NULL and NONE when there is none. A fresh hit
 * moves to the head of its shard's LRU list. */
struct weir_cache_entry *weir_cache_lookup(struct weir_cache_zone *z, const char *key,
					   size_t key_len, const struct weir_hdr *hdrs,
					   size_t n_hdrs, int64_t now,
					   enum weir_cache_found *found);
void weir_cache_release(struct weir_cache_entry *e);

/* A new entry, not yet stored: its key, Vary record and head copied in one
 * allocation; the body, body_cap bytes, allocated apart and filled by the
 * caller (answer.body_len bytes of it are stored). NULL when out of memory. */
struct weir_cache_entry *weir_cache_entry_new(const char *key, size_t key_len,
					      const char *vary, size_t vary_len,
					      const char *head, size_t head_len,
					      size_t body_cap);
/* Frees an entry that was never inserted. */
void weir_cache_entry_free(struct weir_cache_entry *e);
/* Grows an entry's body so it holds `need` bytes; 0 or -1. */
int weir_cache_entry_reserve(struct weir_cache_entry *e, size_t need, size_t *cap);

/* Stores e (the store takes the caller's reference), replacing an entry
 * with the same key and Vary values, evicting least-recently-used entries
 * until the shard's share of max_size holds it. Returns 0, or -1 when e is
 * larger than a shard's share (e is freed). */
int weir_cache_insert(struct weir_cache_zone *z, struct weir_cache_entry *e);

/* Removes the entries of zone `zone` (every zone of the name; NULL: every
 * zone) whose key is `key` (prefix false) or starts with it (prefix true);
 * key NULL removes them all. Returns how many went, or -1 when no zone has
 * the name. Entries being served stay alive until their last release. */
long weir_cache_purge(const char *zone, const char *key, size_t key_len, bool prefix);

/* What a zone holds now. */
struct weir_cache_usage {
	uint64_t bytes, max_bytes, entries;
};
void weir_cache_zone_usage(struct weir_cache_zone *z, struct weir_cache_usage *u);

/* Writes the zones' counters and sizes in Prometheus text format (the
 * weir_cache_* families; nothing when there is no zone). Called by a scrape
 * (metrics.c); takes the registry lock and each shard's in turn. */
void weir_cache_metrics(FILE *f);

/* ---- decisions (RFC 9111) --------------------------------------------- */

/* The Cache-Control directives a shared cache acts on; -1 for an absent
 * max-age or s-maxage. Qualified no-cache="f" and private="f" count as the
 * plain directives. */
struct weir_cc {
	bool no_store, no_cache, private_, public_;
	int64_t max_age, s_maxage;
};

void weir_cc_init(struct weir_cc *cc);
/* Adds the directives of one Cache-Control (or Pragma) field value. */
void weir_cc_parse(struct weir_cc *cc, const char *v, size_t len);

/* An HTTP date: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), or either
 * obsolete form RFC 9110 says a recipient must accept (RFC 850 "Sunday,
 * 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"), all in
 * GMT. Returns 0 with unix seconds in *t, or -1 when it is none of them. */
int weir_http_date(const char *s, size_t len, int64_t *t);

/* The inputs of the freshness lifetime of a response. expires_ok false
 * with has_expires means an Expires that did not parse (already expired). */
struct weir_cache_times {
	bool has_date, has_expires, expires_ok;
	int64_t date, expires;
	int64_t age;			/* Age field, seconds; 0 when absent */
	int64_t now;			/* when the response arrived */
};

/* The freshness lifetime of a response for a shared cache, in seconds:
 * s-maxage, else max-age, else Expires - Date (Date defaults to now), else
 * default_ttl. 0 or less: not fresh, not worth storing. */
int64_t weir_cache_lifetime(const struct weir_cc *cc, const struct weir_cache_times *t,
			    int64_t default_ttl);
/* The response's age when it arrived (RFC 9111 4.2.3, response delay 0). */
int64_t weir_cache_initial_age(const struct weir_cache_times *t);

/* ---- keys and Vary --------------------------------------------------------- */

enum weir_cache_key_kind {
	WEIR_CKEY_METHOD, WEIR_CKEY_HOST, WEIR_CKEY_URI, WEIR_CKEY_PATH,
	WEIR_CKEY_HEADER, WEIR_CKEY_COOKIE, WEIR_CKEY_ARG,
};

struct weir_cache_key_part {
	uint8_t kind;
	uint32_t name_len;
	char name[64];			/* header (lower case), cookie or arg name */
};

/* The parts of a request a key is built from. */
struct weir_cache_key_req {
	const char *method;		/* HEAD is keyed as GET */
	const char *host;
	size_t host_len;
	const char *uri;		/* origin-form, query included */
	size_t uri_len, path_len;	/* path_len: without the query */
	const struct weir_hdr *hdrs;	/* names lower case */
	size_t n_hdrs;
};

/* Builds the key: the parts' values in order, one space apart; a value
 * from a header, cookie or argument has its spaces, controls and '%'
 * percent-encoded, so a key reads as "GET example.com /a?b=1" and two
 * requests never share one by accident. Returns its length, or -1 when it
 * does not fit in cap bytes. */
ssize_t weir_cache_key(const struct weir_cache_key_part *parts, size_t n,
		       const struct weir_cache_key_req *rq, char *out, size_t cap);

/* The Vary record of a response: for each name in the Vary value (lower
 * case), the name and the request's value of that field ("name\0value\0",
 * a missing field as "\1"). Returns its length, -1 for Vary: *, or -2 when
 * it does not fit in cap bytes. */
ssize_t weir_cache_vary_record(const char *vary, size_t vary_len,
			       const struct weir_hdr *hdrs, size_t n_hdrs,
			       char *out, size_t cap);
/* Whether a request's headers have the values a Vary record holds. */
bool weir_cache_vary_match(const char *rec, size_t rec_len, const struct weir_hdr *hdrs,
			   size_t n_hdrs);

#endif
