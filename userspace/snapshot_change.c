/* userspace/snapshot_change.c - the next snapshot from the current one when
 * one route changes, and the fold that makes the layers one again (see
 * snapshot.h, "one route at a time").
 *
 * A change costs the route's own build, a copy of the array of route
 * pointers (a memcpy: the order of the list is the order of precedence
 * among routes of one pattern), and a rebuild of the delta router over the
 * routes changed since the base. Finding the route to replace, and whether
 * the new one duplicates another, takes an index of the current routes by
 * id and by what the router calls a duplicate: it describes the newest
 * snapshot only, is kept by the one thread that derives snapshots, and is
 * rebuilt whole after a full build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "snapshot.h"
#include "snapshot-int.h"

/* ---- a string-keyed table ---------------------------------------------------
 *
 * Open addressing with linear probing and backward-shift deletion; keys are
 * copied. Values are pointers or counts. */
struct smap_ent {
	char *key;
	uint64_t hash;
	void *val;
};

struct smap {
	struct smap_ent *e;
	size_t cap, n;			/* cap: a power of two, or 0 */
};

static uint64_t smap_hash(const char *k)
{
	return weir_hash64(k, strlen(k), 0x9e3779b97f4a7c15ull);
}

static struct smap_ent *smap_slot(const struct smap *m, const char *k, uint64_t h)
{
	size_t i = h & (m->cap - 1);

	for (;; i = (i + 1) & (m->cap - 1))
		if (!m->e[i].key || (m->e[i].hash == h && !strcmp(m->e[i].key, k)))
			return &m->e[i];
}

static void *smap_get(const struct smap *m, const char *k)
{
	const struct smap_ent *e = m->cap ? smap_slot(m, k, smap_hash(k)) : NULL;

	return e && e->key ? e->val : NULL;
}

static int smap_grow(struct smap *m)
{
	struct smap old = *m;

	m->cap = old.cap ? 2 * old.cap : 64;
	if (!(m->e = calloc(m->cap, sizeof(*m->e)))) {
		*m = old;
		return -1;
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.e[i].key)
			*smap_slot(m, old.e[i].key, old.e[i].hash) = old.e[i];
	free(old.e);
	return 0;
}

/* Sets k to val; val NULL removes k. */
static int smap_set(struct smap *m, const char *k, void *val)
{
	uint64_t h = smap_hash(k);
	struct smap_ent *e;

	if (!val) {
		if (!m->cap || !(e = smap_slot(m, k, h))->key)
			return 0;
		free(e->key);
		size_t i = (size_t)(e - m->e), j = i;
		m->n--;
		for (;;) {
			m->e[i].key = NULL;
			for (;;) {
				j = (j + 1) & (m->cap - 1);
				if (!m->e[j].key)
					return 0;
				size_t home = m->e[j].hash & (m->cap - 1);
				/* j's entry may move to i when its home is not in (i, j] */
				if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
					break;
			}
			m->e[i] = m->e[j];
			i = j;
		}
	}
	if ((m->n + 1) * 2 > m->cap && smap_grow(m) < 0)
		return -1;
	if ((e = smap_slot(m, k, h))->key) {
		e->val = val;
		return 0;
	}
	if (!(e->key = strdup(k)))
		return -1;
	e->hash = h;
	e->val = val;
	m->n++;
	return 0;
}

static void smap_clear(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->e[i].key);
	free(m->e);
	*m = (struct smap){ 0 };
}

/* ---- the index of the newest snapshot's routes ------------------------------ */

static struct {
	uint64_t version;		/* of the snapshot it describes; 0: none */
	struct smap ids;		/* id -> route */
	struct smap keys;		/* duplicate key -> how many routes have it */
} ix;

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The key under which two host/path pairs of routes are duplicates for the
 * router (router.h, weir_router_add): the host as the router folds it, the
 * path with parameter names left out, the methods, the priority and the
 * header conditions as sets. Malloc'd; NULL when out of memory. */
static char *dup_key(const struct weir_route_conf *rc, const char *host, const char *path)
{
	char *out = NULL, *vals[64];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (host) {
		size_t hl = strlen(host);
		hl -= hl > 1 && host[hl - 1] == '.';
		for (size_t i = 0; i < hl; i++)
			fputc(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i], f);
	}
	fputc('\n', f);
	for (const char *p = path; *p; p++) {
		fputc(*p, f);
		if (*p == ':' && p > path && p[-1] == '/')
			while (p[1] && p[1] != '/' && p[1] != '*')
				p++;
	}
	fprintf(f, "\n%x %d", rc->methods, rc->priority);
	const char **names = calloc(rc->n_headers + 1, sizeof(*names));
	for (size_t i = 0; names && i < rc->n_headers; i++)
		names[i] = rc->headers[i].name;
	if (names)
		qsort(names, rc->n_headers, sizeof(*names), str_cmp);
	for (size_t i = 0; names && i < rc->n_headers; i++) {
		const struct weir_header_match_conf *h = NULL;
		for (size_t k = 0; k < rc->n_headers && !h; k++)
			if (rc->headers[k].name == names[i])
				h = &rc->headers[k];
		size_t nv = h->n_values < 64 ? h->n_values : 64;
		memcpy(vals, h->values, nv * sizeof(*vals));
		qsort(vals, nv, sizeof(*vals), str_cmp);
		fprintf(f, "\n%s:", h->name);
		for (size_t k = 0; k < nv; k++)
			if (!k || strcmp(vals[k], vals[k - 1]))
				fprintf(f, "%s\x1f", vals[k]);
	}
	free(names);
	if (fclose(f) || !names) {
		free(out);
		return NULL;
	}
	return out;
}

/* Calls fn on each of the route's duplicate keys; stops at a non-zero. */
static int each_key(const struct weir_route *rt, int (*fn)(const char *key, void *arg),
		    void *arg)
{
	const struct weir_route_conf *rc = rt->conf;

	for (size_t h = 0; h < (rc->n_hosts ? rc->n_hosts : 1); h++)
		for (size_t p = 0; p < rc->n_paths; p++) {
			char *k = dup_key(rc, rc->n_hosts ? rc->hosts[h] : NULL, rc->paths[p]);
			int rc_fn = k ? fn(k, arg) : -1;
			free(k);
			if (rc_fn)
				return rc_fn;
		}
	return 0;
}

static int key_count(const char *k, void *arg)
{
	intptr_t d = *(const intptr_t *)arg, n = (intptr_t)smap_get(&ix.keys, k) + d;

	return smap_set(&ix.keys, k, n > 0 ? (void *)n : NULL);
}

static int index_add(struct weir_route *rt)
{
	intptr_t one = 1;

	return smap_set(&ix.ids, rt->id, rt) < 0 || each_key(rt, key_count, &one) ? -1 : 0;
}

static int index_del(struct weir_route *rt)
{
	intptr_t minus = -1;

	return smap_set(&ix.ids, rt->id, NULL) < 0 || each_key(rt, key_count, &minus) ? -1 : 0;
}

static void index_drop(void)
{
	smap_clear(&ix.ids);
	smap_clear(&ix.keys);
	ix.version = 0;
}

/* Makes the index describe s. */
static int index_sync(const struct weir_snapshot *s)
{
	if (ix.version == s->version)
		return 0;
	index_drop();
	for (size_t i = 0; i < s->n_routes; i++)
		if (index_add(s->routes[i]) < 0) {
			index_drop();
			return -1;
		}
	ix.version = s->version;
	return 0;
}

struct dup_arg {
	const struct weir_route *old;	/* being replaced: its keys are its own */
	char *err;
	size_t errlen;
};

static int old_has(const char *k, void *arg)
{
	return !strcmp(k, (const char *)arg);
}

static int dup_one(const char *k, void *arg)
{
	struct dup_arg *d = arg;
	intptr_t n = (intptr_t)smap_get(&ix.keys, k);

	if (n && d->old && each_key(d->old, old_has, (void *)k) == 1)
		n--;
	if (!n)
		return 0;
	snprintf(d->err, d->errlen, "admin:1: routes[0]: a duplicate of another route (same "
		 "host, path, methods, headers and priority)");
	return 1;
}

/* ---- deriving ------------------------------------------------------------------ */

/* Where rt stands in s's list, which is in ord order. */
static size_t position(const struct weir_snapshot *s, const struct weir_route *rt)
{
	size_t lo = 0, hi = s->n_routes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->routes[mid]->ord < rt->ord)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* s's delta: the routes of `from` born after base version bv, less gone,
 * with added in its place in the list; then its router, and whether
 * matching needs the layers. */
static int set_delta(struct weir_snapshot *s, struct weir_route *const *from, size_t n,
		     uint64_t bv, const struct weir_route *gone, struct weir_route *added,
		     char *err, size_t errlen)
{
	size_t k = 0;

	if (!(s->delta_routes = calloc(n + 1, sizeof(*s->delta_routes))))
		goto oom;
	for (size_t i = 0; i <= n; i++) {
		struct weir_route *rt = i < n ? from[i] : NULL;

		if (added && (!rt || rt->ord >= added->ord)) {
			s->delta_routes[k++] = added;
			added = NULL;
		}
		if (rt && rt != gone && rt->born > bv)
			s->delta_routes[k++] = rt;
	}
	s->n_delta = k;
	if (k) {
		char why[256];
		if (!(s->delta = weir_router_new()))
			goto oom;
		for (size_t i = 0; i < k; i++)
			if (weir__route_add(s->delta, s->delta_routes[i], "admin", 0, err, errlen) < 0)
				return -1;
		if (weir_router_build(s->delta, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "admin:1: routes: %s", why);
			return -1;
		}
	}
	s->layered = k || s->n_routes - k != s->base->n_routes;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

void weir_snapshot_index_warm(const struct weir_snapshot *s)
{
	(void)index_sync(s);
}

int weir_snapshot_change(struct weir_snapshot *cur, const char *id, struct weir_config *one,
			 struct weir_snapshot **out, char *err, size_t errlen)
{
	struct weir_route *old, *rt = NULL;
	struct weir_snapshot *s = NULL;

	*out = NULL;
	if (index_sync(cur) < 0)
		goto oom;
	old = smap_get(&ix.ids, id);
	if (!one && !old)
		return 1;
	if (one) {
		if (one->n_routes != 1 || strcmp(one->routes[0].id, id)) {
			snprintf(err, errlen, "admin:1: routes: expected route '%s' alone", id);
			weir_config_free(one);
			return -1;
		}
		if (!(rt = weir__route_build(cur->frame, &one->routes[0], "admin", 0, err, errlen))) {
			weir_config_free(one);
			return -1;
		}
		rt->own = one;
		struct dup_arg d = { old, err, errlen };
		if (each_key(rt, dup_one, &d))
			goto fail;
		rt->ord = old ? old->ord : cur->n_routes ? cur->routes[cur->n_routes - 1]->ord + 1 : 0;
	}
	size_t n = cur->n_routes - (old && !rt) + (!old && rt);
	size_t at = old ? position(cur, old) : cur->n_routes, tail = cur->n_routes - at - !!old;
	if (!(s = weir__snapshot_new(cur->frame, n)))
		goto oom;
	memcpy(s->routes, cur->routes, at * sizeof(*s->routes));
	if (rt)
		s->routes[at] = rt;
	memcpy(s->routes + at + !!rt, cur->routes + at + !!old, tail * sizeof(*s->routes));
	s->n_routes = n;
	atomic_fetch_add_explicit(&cur->base->refs, 1, memory_order_relaxed);
	s->base = cur->base;
	if (set_delta(s, cur->delta_routes, cur->n_delta, s->base->version, old, rt, err,
		      errlen) < 0)
		goto fail;
	weir__snapshot_enter(s);
	if (rt)
		rt->born = s->version;
	s->gone = old;
	s->added = rt;
	*out = s;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	weir_snapshot_free(s);	/* never published: no one else holds it */
	weir__route_put(rt);
	return -1;
}

void weir_snapshot_commit(struct weir_snapshot *next, struct weir_snapshot *prev)
{
	next->published = true;
	if (!prev)
		return;
	prev->superseded = true;
	if (next->frame != prev->frame) {
		/* a full build: every route is new */
		index_drop();
		for (size_t i = 0; i < prev->n_routes; i++)
			weir__route_retire(prev->routes[i], next->version);
		return;
	}
	if (next->gone)
		weir__route_retire(next->gone, next->version);
	if (ix.version != prev->version)
		return;
	if ((next->gone && index_del(next->gone) < 0) ||
	    (next->added && index_add(next->added) < 0)) {
		index_drop();
		return;
	}
	ix.version = next->version;
}

/* ---- folding ------------------------------------------------------------------- */

bool weir_snapshot_foldable(const struct weir_snapshot *s)
{
	return s->layered;
}

struct weir_base *weir_snapshot_fold_base(struct weir_snapshot *s, char *err, size_t errlen)
{
	return weir__base_build(s->routes, s->n_routes, s->version, "admin", err, errlen);
}

int weir_snapshot_refold(struct weir_snapshot *cur, const struct weir_snapshot *from,
			 struct weir_base *b, struct weir_snapshot **out, char *err,
			 size_t errlen)
{
	struct weir_snapshot *s;

	*out = NULL;
	if (from->frame != cur->frame || b->version < cur->base->version) {
		weir_base_put(b);
		return 1;
	}
	if (!(s = weir__snapshot_new(cur->frame, cur->n_routes))) {
		weir_base_put(b);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(s->routes, cur->routes, cur->n_routes * sizeof(*s->routes));
	s->n_routes = cur->n_routes;
	s->base = b;
	if (set_delta(s, cur->delta_routes, cur->n_delta, b->version, NULL, NULL, err,
		      errlen) < 0) {
		weir_snapshot_free(s);	/* never published: no one else holds it */
		return -1;
	}
	weir__snapshot_enter(s);
	*out = s;
	return 0;
}
