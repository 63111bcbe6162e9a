/* userspace/limits.h - what the limit plugins (limit-req, limit-count,
 * limit-conn) and the L7 ban share: the table of per-key state that every
 * worker thread reads and writes, the registry that carries a table across
 * reloads, the request keys, and the decisions themselves as pure functions
 * of (state, now, settings), so that they can be tested alone.
 *
 * The table (struct weir_ltab) is a fixed-capacity hash table cut into
 * shards, each behind its own mutex: a request locks one shard for a few
 * dozen instructions. An entry is four 64-bit words of state under a 128-bit
 * hash of its key (the key itself is not kept: two keys that share 128 bits
 * of hash share a counter, which is not going to happen). When a shard is
 * full, a clock hand looks for an entry to reuse: a stale one (its state is
 * back to "nothing to remember") at once, a live one if it has not been
 * touched since the hand last passed, a pinned one (limit-conn with requests
 * in flight) never. The table never grows: a flood of new keys costs old
 * keys their memory of the past, never the process its memory.
 *
 * Tables are found through a registry keyed by the route, the plugin and
 * its settings (canonical JSON): a reload that keeps a plugin's settings
 * gets the same table back, counters and all; a changed setting starts a
 * fresh one. Tables are refcounted by the instances that hold them.
 */
#ifndef WEIR_LIMITS_H
#define WEIR_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct weir_req;
struct weir_answer;

/* ---- the shared table ------------------------------------------------- */

enum weir_ltab_keep {
	WEIR_LTAB_STALE,	/* nothing worth keeping: reuse at once */
	WEIR_LTAB_LIVE,		/* reuse under pressure (loses the state) */
	WEIR_LTAB_PINNED,	/* never reuse (it is referenced from requests) */
};

/* What an entry's state is worth at `now`; arg is the table's keep_arg. */
typedef enum weir_ltab_keep weir_ltab_keep_fn(const uint64_t v[4], uint64_t now, uint64_t arg);
/* Reads and changes an entry's state under its shard's lock; returns >= 0. */
typedef int weir_ltab_fn(uint64_t v[4], uint64_t now, void *arg);

struct weir_ltab;

struct weir_ltab *weir_ltab_new(uint32_t capacity, weir_ltab_keep_fn *keep, uint64_t keep_arg);
void weir_ltab_free(struct weir_ltab *t);
/* Runs fn on key's entry (a new one starts zeroed). Returns fn's result, or
 * -ENOSPC when the key has no entry and none can be reused. *ref, when not
 * NULL, gets a handle of the entry for weir_ltab_run_ref, valid for as long
 * as keep() says the entry is pinned. */
int weir_ltab_run(struct weir_ltab *t, const void *key, size_t len, uint64_t now,
		  weir_ltab_fn *fn, void *arg, uint32_t *ref);
int weir_ltab_run_ref(struct weir_ltab *t, uint32_t ref, uint64_t now, weir_ltab_fn *fn,
		      void *arg);
/* Entries in use (for tests). */
uint32_t weir_ltab_used(struct weir_ltab *t);

/* The registry: the table for `id` (made with the other arguments when
 * there is none), with a reference taken; NULL when out of memory. */
struct weir_ltab *weir_ltab_acquire(const char *id, uint32_t capacity, weir_ltab_keep_fn *keep,
				    uint64_t keep_arg);
void weir_ltab_release(struct weir_ltab *t);

/* ---- keys ------------------------------------------------------------- */

enum weir_limit_key_type {
	WEIR_LKEY_ADDR,		/* remote_addr: the client's address */
	WEIR_LKEY_CONSUMER,	/* consumer: r->consumer, set by an auth plugin */
	WEIR_LKEY_ROUTE,	/* route: one counter for the route */
	WEIR_LKEY_HEADER,	/* header:NAME: the value of a request header */
};

/* The settings every limit plugin shares. */
struct weir_limit_common {
	enum weir_limit_key_type key_type;
	char *header;			/* WEIR_LKEY_HEADER: lower case */
	uint32_t header_len;
	uint16_t rejected_code;		/* default 429 */
	uint16_t missing_code;		/* no key: 0 = let the request pass */
	uint32_t max_keys;		/* table capacity; default 65536 */
	struct weir_ltab *tab;
	struct weir_answer *reject;	/* rejected_code, "Too Many Requests" body */
	struct weir_answer *missing;	/* missing_code, its text */
};

/* Reads key_type, rejected_code, missing_key (`allow` or a status code) and
 * max_keys from conf, ignoring the keys listed in `own` (the plugin's: every
 * other key is an error), then acquires the table under the id
 * "ROUTE/PLUGIN/SETTINGS". Returns 0 or -1 with "FIELD: REASON" in err. */
int weir_limit_common_configure(struct weir_limit_common *lc, const char *plugin,
				const json_t *conf, const char *const *own,
				weir_ltab_keep_fn *keep, uint64_t keep_arg,
				char *err, size_t errlen);
void weir_limit_common_destroy(struct weir_limit_common *lc);

/* The destroy of a plugin whose instance begins with its struct
 * weir_limit_common and holds nothing else to free. */
void weir_limit_destroy(void *inst);

/* The request's key for the access phase: -1 with *key and *len set; else
 * the plugin returns what this returns: 0 to let a request without a key
 * pass, or missing_key's status (with r->answer set). */
int weir_limit_request_key(const struct weir_limit_common *lc, struct weir_req *r,
			   const void **key, size_t *len);

/* The request's key: 1 with *key and *len set, 0 when the request has none. */
int weir_limit_key(const struct weir_limit_common *lc, struct weir_req *r,
		   const void **key, size_t *len);

/* Reads a positive number (`rate`), an integer in [lo, hi] or a duration
 * ("60s", "1m", or a number of seconds) of conf; absent: def (or an error
 * when req). Return 0 or -1 with "NAME: REASON" in err. */
int weir_limit_num(const json_t *conf, const char *name, bool req, double lo, double hi,
		   double def, double *out, char *err, size_t errlen);
int weir_limit_int(const json_t *conf, const char *name, bool req, int64_t lo, int64_t hi,
		   int64_t def, int64_t *out, char *err, size_t errlen);
int weir_limit_duration(const json_t *conf, const char *name, bool req, uint64_t lo_ms,
			uint64_t hi_ms, uint64_t def_ms, uint64_t *out_ms, char *err,
			size_t errlen);
int weir_limit_bool(const json_t *conf, const char *name, bool def, bool *out, char *err,
		    size_t errlen);

/* The slot of plugin instance `inst` in r->plugin_ctx. */
void **weir_limit_slot(struct weir_req *r, const void *inst);

/* ---- decisions -------------------------------------------------------- */

/* Leaky bucket (limit-req), nginx's: v[0] the level in thousandths of a
 * request, v[1] when it was last filled. The level drains at rate_milli
 * thousandths per second; a request adds 1000 and is admitted when the
 * level stays at most (burst + 1) * 1000. Returns 1 admitted, with
 * *retry_ms the time until what was in the bucket before it has drained (its
 * delay, when requests within the burst are delayed); 0 rejected, with
 * *retry_ms until one would be admitted. */
int weir_leaky_take(uint64_t v[4], uint64_t now, uint64_t rate_milli, uint64_t burst,
		    uint64_t *retry_ms);

/* Count in a window (limit-count): windows are aligned on multiples of
 * window_ms; v[0] the current window's start, v[1] its count, v[2] the
 * previous window's count. Sliding weighs the previous window by the part
 * of it still inside the last window_ms. On return *remaining is what is
 * left and *reset_ms the time until the current window ends (rejected: the
 * time until one would be admitted). Returns 1 admitted, 0 rejected. */
struct weir_count_res {
	uint64_t remaining;
	uint64_t reset_ms;
};
int weir_count_take(uint64_t v[4], uint64_t now, uint64_t count, uint64_t window_ms,
		    bool sliding, struct weir_count_res *res);

/* Concurrent requests (limit-conn): v[0] in flight. acquire returns 1 and
 * counts one, or 0 at the limit; release takes one back. */
int weir_conn_acquire(uint64_t v[4], uint64_t limit);
void weir_conn_release(uint64_t v[4]);

#endif
