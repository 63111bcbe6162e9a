/* userspace/limits.c - the shared state of the limit plugins and the L7
 * ban: the sharded table, its registry across reloads, request keys, the
 * settings every limit plugin shares, and the decisions (see limits.h).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "core.h"
#include "limits.h"
#include "plugin.h"
#include "snapshot.h"

#define SHARDS 64			/* a power of two */
#define NIL 0				/* links are index + 1: zeroed memory is empty */

/* ---- the table -------------------------------------------------------- */

struct lent {
	uint64_t h1, h2;		/* the key's hash; h1 picks shard and bucket */
	uint64_t v[4];
	uint32_t next;			/* the next in the bucket's chain, + 1 */
	uint8_t used, ref;		/* ref: touched since the clock hand passed */
};

struct lshard {
	pthread_mutex_t lock;
	uint32_t *buckets;		/* heads of chains: indices in ents + 1 */
	struct lent *ents;
	uint32_t cap, mask, hand, used;
	uint32_t top;			/* ents[top..cap) have never been used */
} __attribute__((aligned(64)));

struct weir_ltab {
	struct lshard shards[SHARDS];
	weir_ltab_keep_fn *keep;
	uint64_t keep_arg;
	/* registry */
	char *id;
	uint32_t refs;
	struct weir_ltab *next;
};

struct weir_ltab *weir_ltab_new(uint32_t capacity, weir_ltab_keep_fn *keep, uint64_t keep_arg)
{
	struct weir_ltab *t = aligned_alloc(64, sizeof(*t));
	uint32_t per = (capacity + SHARDS - 1) / SHARDS, nb = 1;

	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->keep = keep;
	t->keep_arg = keep_arg;
	if (per < 4)
		per = 4;
	while (nb < per)
		nb <<= 1;
	for (int s = 0; s < SHARDS; s++) {
		struct lshard *sh = &t->shards[s];
		pthread_mutex_init(&sh->lock, NULL);
		sh->cap = per;
		sh->mask = nb - 1;
		/* calloc: pages are touched only as keys arrive, so a table
		 * costs memory for the keys it has seen, up to its capacity */
		sh->ents = calloc(per, sizeof(*sh->ents));
		sh->buckets = calloc(nb, sizeof(*sh->buckets));
		if (!sh->ents || !sh->buckets) {
			weir_ltab_free(t);
			return NULL;
		}
	}
	return t;
}

void weir_ltab_free(struct weir_ltab *t)
{
	if (!t)
		return;
	for (int s = 0; s < SHARDS; s++) {
		free(t->shards[s].ents);
		free(t->shards[s].buckets);
		if (t->shards[s].cap)
			pthread_mutex_destroy(&t->shards[s].lock);
	}
	free(t->id);
	free(t);
}

static void unlink_ent(struct lshard *sh, uint32_t i)
{
	uint32_t *p = &sh->buckets[sh->ents[i].h1 >> 6 & sh->mask];

	while (*p != i + 1)
		p = &sh->ents[*p - 1].next;
	*p = sh->ents[i].next;
	sh->ents[i].used = 0;
	sh->used--;
}

/* An entry to reuse, by the clock: stale at once, live when not touched
 * since the last pass, pinned never. Two turns at most; UINT32_MAX when all
 * are pinned. */
static uint32_t evict(struct weir_ltab *t, struct lshard *sh, uint64_t now)
{
	for (uint32_t n = 0; n < 2 * sh->cap; n++) {
		uint32_t i = sh->hand;
		struct lent *e = &sh->ents[i];
		enum weir_ltab_keep k = t->keep(e->v, now, t->keep_arg);

		sh->hand = i + 1 == sh->cap ? 0 : i + 1;
		if (k == WEIR_LTAB_PINNED)
			continue;
		if (k == WEIR_LTAB_LIVE && e->ref) {
			e->ref = 0;
			continue;
		}
		unlink_ent(sh, i);
		return i;
	}
	return UINT32_MAX;
}

static uint32_t find_or_add(struct weir_ltab *t, struct lshard *sh, uint64_t h1, uint64_t h2,
			    uint64_t now)
{
	uint32_t b = h1 >> 6 & sh->mask, i;

	for (i = sh->buckets[b]; i != NIL; i = sh->ents[i - 1].next)
		if (sh->ents[i - 1].h1 == h1 && sh->ents[i - 1].h2 == h2)
			return i - 1;
	if (sh->top < sh->cap)
		i = sh->top++;
	else if ((i = evict(t, sh, now)) == UINT32_MAX)
		return UINT32_MAX;
	sh->ents[i] = (struct lent){ .h1 = h1, .h2 = h2, .next = sh->buckets[b], .used = 1 };
	sh->buckets[b] = i + 1;
	sh->used++;
	return i;
}

int weir_ltab_run(struct weir_ltab *t, const void *key, size_t len, uint64_t now,
		  weir_ltab_fn *fn, void *arg, uint32_t *ref)
{
	uint64_t h1 = weir_hash64(key, len, 0x6c696d6974730001ULL);
	uint64_t h2 = weir_hash64(key, len, 0x6c696d6974730002ULL);
	struct lshard *sh = &t->shards[h1 & (SHARDS - 1)];
	uint32_t i;
	int rc;

	pthread_mutex_lock(&sh->lock);
	i = find_or_add(t, sh, h1, h2, now);
	if (i == UINT32_MAX) {
		pthread_mutex_unlock(&sh->lock);
		return -ENOSPC;
	}
	sh->ents[i].ref = 1;
	rc = fn(sh->ents[i].v, now, arg);
	pthread_mutex_unlock(&sh->lock);
	if (ref)
		*ref = (uint32_t)(h1 & (SHARDS - 1)) * sh->cap + i + 1;
	return rc;
}

int weir_ltab_run_ref(struct weir_ltab *t, uint32_t ref, uint64_t now, weir_ltab_fn *fn,
		      void *arg)
{
	uint32_t per = t->shards[0].cap, s = (ref - 1) / per, i = (ref - 1) % per;
	struct lshard *sh;
	int rc;

	if (!ref || s >= SHARDS)
		return -EINVAL;
	sh = &t->shards[s];
	pthread_mutex_lock(&sh->lock);
	rc = sh->ents[i].used ? fn(sh->ents[i].v, now, arg) : -ENOENT;
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

uint32_t weir_ltab_used(struct weir_ltab *t)
{
	uint32_t n = 0;

	for (int s = 0; s < SHARDS; s++) {
		pthread_mutex_lock(&t->shards[s].lock);
		n += t->shards[s].used;
		pthread_mutex_unlock(&t->shards[s].lock);
	}
	return n;
}

/* ---- the registry ----------------------------------------------------- */

/* Snapshots are built by one thread at a time and dropped by any: a plain
 * list under a mutex, touched only when snapshots come and go. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weir_ltab *registry;

struct weir_ltab *weir_ltab_acquire(const char *id, uint32_t capacity, weir_ltab_keep_fn *keep,
				    uint64_t keep_arg)
{
	struct weir_ltab *t;

	pthread_mutex_lock(&reg_lock);
	for (t = registry; t; t = t->next)
		if (!strcmp(t->id, id)) {
			t->refs++;
			goto out;
		}
	t = weir_ltab_new(capacity, keep, keep_arg);
	if (t && !(t->id = strdup(id))) {
		weir_ltab_free(t);
		t = NULL;
	}
	if (t) {
		t->refs = 1;
		t->next = registry;
		registry = t;
	}
out:
	pthread_mutex_unlock(&reg_lock);
	return t;
}

void weir_ltab_release(struct weir_ltab *t)
{
	struct weir_ltab **p;

	if (!t)
		return;
	pthread_mutex_lock(&reg_lock);
	if (--t->refs) {
		pthread_mutex_unlock(&reg_lock);
		return;
	}
	for (p = &registry; *p && *p != t; p = &(*p)->next)
		;
	if (*p)
		*p = t->next;
	pthread_mutex_unlock(&reg_lock);
	weir_ltab_free(t);
}

/* ---- settings --------------------------------------------------------- */

int weir_limit_num(const json_t *conf, const char *name, bool req, double lo, double hi,
		   double def, double *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(conf, name);

	*out = def;
	if (!v) {
		if (req)
			snprintf(err, errlen, "%s: required", name);
		return req ? -1 : 0;
	}
	if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
		snprintf(err, errlen, "%s: expected a number from %g to %g", name, lo, hi);
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

int weir_limit_int(const json_t *conf, const char *name, bool req, int64_t lo, int64_t hi,
		   int64_t def, int64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(conf, name);

	*out = def;
	if (!v) {
		if (req)
			snprintf(err, errlen, "%s: required", name);
		return req ? -1 : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(err, errlen, "%s: expected a whole number from %lld to %lld", name,
			 (long long)lo, (long long)hi);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

int weir_limit_duration(const json_t *conf, const char *name, bool req, uint64_t lo_ms,
			uint64_t hi_ms, uint64_t def_ms, uint64_t *out_ms, char *err,
			size_t errlen)
{
	const json_t *v = json_object_get(conf, name);
	double ms = -1;

	*out_ms = def_ms;
	if (!v) {
		if (req)
			snprintf(err, errlen, "%s: required", name);
		return req ? -1 : 0;
	}
	if (json_is_number(v)) {
		ms = json_number_value(v) * 1000;
	} else if (json_is_string(v)) {
		static const struct { const char *unit; double ms; } units[] = {
			{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
			{ "d", 86400000 },
		};
		const char *s = json_string_value(v);
		char *end;
		double n = strtod(s, &end);
		if (end != s && n >= 0)
			for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
				if (!strcmp(end, units[i].unit))
					ms = n * units[i].ms;
	}
	if (!(ms >= (double)lo_ms && ms <= (double)hi_ms)) {
		snprintf(err, errlen, "%s: expected a duration from %llums to %llus "
			 "(\"500ms\", \"60s\", \"1m\", or seconds)", name,
			 (unsigned long long)lo_ms, (unsigned long long)(hi_ms / 1000));
		return -1;
	}
	*out_ms = (uint64_t)ms;
	return 0;
}

int weir_limit_bool(const json_t *conf, const char *name, bool def, bool *out, char *err,
		    size_t errlen)
{
	const json_t *v = json_object_get(conf, name);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s: expected true or false", name);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static const char *const common_keys[] = {
	"key_type", "rejected_code", "rejected_msg", "missing_key", "max_keys", NULL,
};

static bool listed(const char *const *l, const char *k)
{
	for (; l && *l; l++)
		if (!strcmp(*l, k))
			return true;
	return false;
}

/* A prepared answer: status, a text body, no header lines of its own (the
 * plugins add theirs in the response_headers phase). */
static struct weir_answer *answer_new(uint16_t status, const char *msg)
{
	struct weir_answer *a = calloc(1, sizeof(*a));
	static const char head[] = "Content-Type: text/plain\r\n";
	char *body;

	if (!a)
		return NULL;
	if (asprintf(&body, "%u %s: %s\n", status, weir_status_text(status), msg) < 0) {
		free(a);
		return NULL;
	}
	a->status = status;
	a->head = head;
	a->head_len = sizeof(head) - 1;
	a->body = body;
	a->body_len = strlen(body);
	return a;
}

static void answer_free(struct weir_answer *a)
{
	if (a)
		free((char *)a->body);
	free(a);
}

static int key_type_configure(struct weir_limit_common *lc, const json_t *conf, char *err,
			      size_t errlen)
{
	const json_t *v = json_object_get(conf, "key_type");
	const char *s = v ? json_string_value(v) : "remote_addr";

	if (!s)
		goto bad;
	if (!strcmp(s, "remote_addr")) {
		lc->key_type = WEIR_LKEY_ADDR;
	} else if (!strcmp(s, "consumer")) {
		lc->key_type = WEIR_LKEY_CONSUMER;
	} else if (!strcmp(s, "route")) {
		lc->key_type = WEIR_LKEY_ROUTE;
	} else if (!strncmp(s, "header:", 7) && weir_plugin_is_token(s + 7)) {
		lc->key_type = WEIR_LKEY_HEADER;
		if (!(lc->header = strdup(s + 7))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (char *p = lc->header; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p += 32;
		lc->header_len = (uint32_t)strlen(lc->header);
	} else {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "key_type: expected remote_addr, consumer, route or header:NAME");
	return -1;
}

int weir_limit_common_configure(struct weir_limit_common *lc, const char *plugin,
				const json_t *conf, const char *const *own,
				weir_ltab_keep_fn *keep, uint64_t keep_arg,
				char *err, size_t errlen)
{
	const json_t *mk, *msg;
	const char *key;
	json_t *val;
	int64_t n;
	char *id, *settings;
	int rc;

	memset(lc, 0, sizeof(*lc));
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		if (!listed(common_keys, key) && !listed(own, key)) {
			snprintf(err, errlen, "%s: unknown field", key);
			return -1;
		}
	}
	if (key_type_configure(lc, conf, err, errlen) < 0)
		return -1;
	if (weir_limit_int(conf, "rejected_code", false, 200, 599, 429, &n, err, errlen) < 0)
		goto fail;
	lc->rejected_code = (uint16_t)n;
	msg = json_object_get(conf, "rejected_msg");
	if (msg && (!json_is_string(msg) || json_string_length(msg) > 200 ||
		    strpbrk(json_string_value(msg), "\r\n"))) {
		snprintf(err, errlen, "rejected_msg: expected one line of text, at most 200 bytes");
		goto fail;
	}
	mk = json_object_get(conf, "missing_key");
	if (!mk) {
		lc->missing_code = 0;
	} else if (json_is_string(mk) && !strcmp(json_string_value(mk), "allow")) {
		lc->missing_code = 0;
	} else if (json_is_integer(mk) && json_integer_value(mk) >= 400 &&
		   json_integer_value(mk) <= 599) {
		lc->missing_code = (uint16_t)json_integer_value(mk);
	} else {
		snprintf(err, errlen, "missing_key: expected `allow` or a status from 400 to 599");
		goto fail;
	}
	if (weir_limit_int(conf, "max_keys", false, 64, 1 << 24, 65536, &n, err, errlen) < 0)
		goto fail;
	lc->max_keys = (uint32_t)n;
	lc->reject = answer_new(lc->rejected_code,
				msg ? json_string_value(msg) : "rate limited");
	lc->missing = lc->missing_code ? answer_new(lc->missing_code, "no key to limit on")
				       : NULL;
	settings = json_dumps(conf, JSON_COMPACT | JSON_SORT_KEYS);
	rc = settings ? asprintf(&id, "%s\x1f%s\x1f%s", weir_plugin_route_id(), plugin,
				 settings) : -1;
	free(settings);
	if (!lc->reject || (lc->missing_code && !lc->missing) || rc < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	lc->tab = weir_ltab_acquire(id, lc->max_keys, keep, keep_arg);
	free(id);
	if (!lc->tab) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	weir_limit_common_destroy(lc);
	return -1;
}

void weir_limit_common_destroy(struct weir_limit_common *lc)
{
	weir_ltab_release(lc->tab);
	answer_free(lc->reject);
	answer_free(lc->missing);
	free(lc->header);
	memset(lc, 0, sizeof(*lc));
}

void weir_limit_destroy(void *inst)
{
	if (!inst)
		return;
	weir_limit_common_destroy(inst);
	free(inst);
}

int weir_limit_request_key(const struct weir_limit_common *lc, struct weir_req *r,
			   const void **key, size_t *len)
{
	if (weir_limit_key(lc, r, key, len))
		return -1;
	if (lc->missing_code)
		r->answer = lc->missing;
	return lc->missing_code;
}

int weir_limit_key(const struct weir_limit_common *lc, struct weir_req *r,
		   const void **key, size_t *len)
{
	switch (lc->key_type) {
	case WEIR_LKEY_ADDR:
		*key = &r->client->peer.sin6_addr;
		*len = sizeof(r->client->peer.sin6_addr);
		return 1;
	case WEIR_LKEY_CONSUMER:
		if (!r->consumer)
			return 0;
		*key = r->consumer;
		*len = strlen(r->consumer);
		return 1;
	case WEIR_LKEY_ROUTE:
		*key = r->route && r->route->id ? r->route->id : "";
		*len = strlen(*key);
		return 1;
	case WEIR_LKEY_HEADER:
		for (uint32_t i = 0; i < r->head.n_fields; i++) {
			const struct weir_hdr *h = &r->hdrs[i];
			if (h->name_len == lc->header_len &&
			    !memcmp(h->name, lc->header, lc->header_len) && h->value_len) {
				*key = h->value;
				*len = h->value_len;
				return 1;
			}
		}
		return 0;
	}
	return 0;
}

void **weir_limit_slot(struct weir_req *r, const void *inst)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; rt && i < rt->n_plugins && i < WEIR_MAX_PLUGINS; i++)
		if (rt->plugins[i].inst == inst)
			return &r->plugin_ctx[i];
	return NULL;
}

/* ---- decisions -------------------------------------------------------- */

int weir_leaky_take(uint64_t v[4], uint64_t now, uint64_t rate_milli, uint64_t burst,
		    uint64_t *retry_ms)
{
	uint64_t level = v[0], elapsed = now > v[1] ? now - v[1] : 0;
	uint64_t drained = elapsed >= UINT64_MAX / (rate_milli ? rate_milli : 1)
			   ? UINT64_MAX : elapsed * rate_milli / 1000;
	uint64_t cap = (burst + 1) * 1000;

	level = level > drained ? level - drained : 0;
	if (level + 1000 > cap) {
		/* time for level to drain to cap - 1000, rounded up */
		uint64_t over = level + 1000 - cap;
		*retry_ms = (over * 1000 + rate_milli - 1) / rate_milli;
		return 0;
	}
	v[0] = level + 1000;
	v[1] = now;
	/* what is ahead of it in the bucket drains first */
	*retry_ms = level * 1000 / rate_milli;
	return 1;
}

int weir_count_take(uint64_t v[4], uint64_t now, uint64_t count, uint64_t window_ms,
		    bool sliding, struct weir_count_res *res)
{
	uint64_t start = now - now % window_ms, into = now - start, used;

	if (v[0] != start) {
		v[2] = v[0] + window_ms == start ? v[1] : 0;
		v[1] = 0;
		v[0] = start;
	}
	/* the previous window's weight, in its count times the part left */
	used = v[1];
	if (sliding && v[2])
		used += (v[2] * (window_ms - into) + window_ms - 1) / window_ms;
	if (used < count) {
		v[1]++;
		res->remaining = count - used - 1;
		res->reset_ms = window_ms - into;
		return 1;
	}
	res->remaining = 0;
	if (!sliding || v[1] >= count) {
		res->reset_ms = window_ms - into;
	} else {
		/* until prev * (window - t) / window + cur <= count - 1 */
		uint64_t need = count - 1 - v[1];
		uint64_t t = window_ms - need * window_ms / v[2];
		res->reset_ms = t > into ? t - into : 1;
	}
	return 0;
}

int weir_conn_acquire(uint64_t v[4], uint64_t limit)
{
	if (v[0] >= limit)
		return 0;
	v[0]++;
	return 1;
}

void weir_conn_release(uint64_t v[4])
{
	if (v[0])
		v[0]--;
}
