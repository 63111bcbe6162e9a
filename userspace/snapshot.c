/* userspace/snapshot.c - builds the immutable snapshot the workers serve
 * from (see snapshot.h), keeps the table of stable pool ids, and frees what
 * snapshots leave behind.
 *
 * A full build makes a frame (the configuration, its upstreams, plugin
 * globals and TLS contexts), one object per route, and a base router over
 * them. Snapshots derived by route changes (snapshot_change.c) share the
 * frame, the base and the routes they did not change, so routes and frames
 * are not owned by one snapshot: a frame is reference-counted (by its
 * snapshots and its routes), and a route is retired with the version of the
 * first snapshot that no longer holds it and freed once every snapshot
 * older than that version is gone. The live snapshots are kept in version
 * order for that, under a lock taken only when a snapshot is born or dies.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot-int.h"
#include "plugin.h"
#include "metrics.h"
#include "tls.h"

/* ---- pool ids -------------------------------------------------------------- */

/* Addresses seen by any snapshot, in order, each with the TLS settings its
 * connections were made under (a pooled TLS connection was verified against
 * one upstream's CA and name: another upstream with other settings on the
 * same address must not reuse it). An entry's index is its pool id for as
 * long as the process runs. Snapshots are built by one thread at a time,
 * but the lock keeps that an implementation detail. */
struct pool_key {
	struct weir_addr addr;
	char *tls;			/* NULL: plaintext */
};

static struct pool_key *pool_keys;
static uint32_t n_pool_keys, cap_pool_keys;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

uint32_t weir_pool_id(const struct weir_addr *a, const char *tls)
{
	uint32_t id;

	pthread_mutex_lock(&pool_lock);
	for (id = 0; id < n_pool_keys; id++) {
		const struct pool_key *k = &pool_keys[id];
		if (k->addr.len == a->len && !memcmp(&k->addr.sa, &a->sa, a->len) &&
		    (k->tls && tls ? !strcmp(k->tls, tls) : k->tls == tls))
			goto out;
	}
	if (n_pool_keys == cap_pool_keys) {
		uint32_t cap = cap_pool_keys ? cap_pool_keys * 2 : 64;
		struct pool_key *p = realloc(pool_keys, cap * sizeof(*p));
		if (!p) {
			id = 0;
			goto out;
		}
		pool_keys = p;
		cap_pool_keys = cap;
	}
	pool_keys[n_pool_keys].addr = *a;
	pool_keys[n_pool_keys].tls = tls ? strdup(tls) : NULL;
	if (tls && !pool_keys[n_pool_keys].tls) {
		id = 0;
		goto out;
	}
	id = n_pool_keys++;
out:
	pthread_mutex_unlock(&pool_lock);
	return id;
}

/* ---- frames ---------------------------------------------------------------- */

static void frame_free(struct weir_frame *f)
{
	for (size_t i = 0; f->upstreams && i < f->n_upstreams; i++) {
		struct weir_upstream *u = &f->upstreams[i];
		for (uint32_t k = 0; u->states && k < f->n_workers; k++)
			weir_lb_state_free(u->states[k]);
		free(u->states);
		weir_tls_client_free(u->tls);
		weir_lb_free(u->lb);
		free(u->nodes);
	}
	free(f->upstreams);
	for (size_t i = 0; f->globals && i < f->n_globals; i++)
		json_decref(f->globals[i].conf);
	free(f->globals);
	for (size_t i = 0; f->listen_tls && i < f->conf->n_listeners; i++)
		weir_tls_server_put(f->listen_tls[i]);
	free(f->listen_tls);
	weir_config_free(f->conf);
	free(f);
}

struct weir_frame *weir__frame_hold(struct weir_frame *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return f;
}

void weir__frame_put(struct weir_frame *f)
{
	if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		frame_free(f);
}

void weir_base_put(struct weir_base *b)
{
	if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		if (b->router)
			weir_router_free(b->router);
		for (size_t i = 0; i < b->n_routes; i++)
			weir__route_put(b->routes[i]);
		free(b->routes);
		free(b);
	}
}

/* ---- live snapshots, retired routes ------------------------------------------ */

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weir_snapshot *live_first, *live_last;	/* in version order */
static uint64_t versions;
static struct weir_route **retired;
static size_t n_retired, cap_retired;

static void route_free(struct weir_route *rt)
{
	free(rt->drop_request);
	free(rt->drop_response);
	free(rt->drop_query);
	weir_plugin_chain_free(rt->plugins, rt->n_plugins);
	weir_config_free(rt->own);
	weir__frame_put(rt->frame);
	free(rt);
}

void weir__route_put(struct weir_route *rt)
{
	if (rt && atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) == 1)
		route_free(rt);
}

/* Gives s the next version and puts it at the end of the live list. */
static void live_enter(struct weir_snapshot *s)
{
	pthread_mutex_lock(&live_lock);
	s->version = ++versions;
	s->live_prev = live_last;
	*(live_last ? &live_last->live_next : &live_first) = s;
	live_last = s;
	pthread_mutex_unlock(&live_lock);
}

/* Takes s out of the live list, then frees the retired routes that no live
 * snapshot holds: those dead from a version no later than the oldest live
 * snapshot's. */
static void live_leave(struct weir_snapshot *s)
{
	struct weir_route **done = NULL;
	size_t n_done = 0;

	pthread_mutex_lock(&live_lock);
	*(s->live_prev ? &s->live_prev->live_next : &live_first) = s->live_next;
	*(s->live_next ? &s->live_next->live_prev : &live_last) = s->live_prev;
	uint64_t oldest = live_first ? live_first->version : UINT64_MAX;
	size_t keep = n_retired;
	for (size_t i = 0; i < keep;) {
		if (atomic_load_explicit(&retired[i]->dead_from, memory_order_relaxed) > oldest) {
			i++;
			continue;
		}
		struct weir_route *t = retired[i];
		retired[i] = retired[--keep];
		retired[keep] = t;
	}
	if (keep < n_retired && (done = malloc((n_retired - keep) * sizeof(*done)))) {
		n_done = n_retired - keep;
		memcpy(done, retired + keep, n_done * sizeof(*done));
		n_retired = keep;
	}
	pthread_mutex_unlock(&live_lock);
	for (size_t i = 0; i < n_done; i++)
		weir__route_put(done[i]);
	free(done);
}

int weir__route_retire(struct weir_route *rt, uint64_t version)
{
	int rc = 0;

	pthread_mutex_lock(&live_lock);
	if (n_retired == cap_retired) {
		size_t cap = cap_retired ? 2 * cap_retired : 256;
		struct weir_route **r = realloc(retired, cap * sizeof(*r));
		if (!r) {
			rc = -1;	/* it stays: a leak, not a use after free */
			goto out;
		}
		retired = r;
		cap_retired = cap;
	}
	atomic_store_explicit(&rt->dead_from, version, memory_order_release);
	retired[n_retired++] = rt;
out:
	pthread_mutex_unlock(&live_lock);
	return rc;
}

/* ---- arrays of routes ---------------------------------------------------------
 *
 * Each snapshot has its array of route pointers, 800 kB at 100k routes, and
 * a change makes one and lets one go. Kept for the next one instead of given
 * back: a fresh mapping would fault its pages in and the freed one shoot down
 * the workers' TLBs, at every change. */

#define ARRAYS_KEPT 8	/* twice the batch main.c's fold thread frees (REAP_BATCH) */

static pthread_mutex_t arrays_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { struct weir_route **v; size_t cap; } arrays[ARRAYS_KEPT];

/* Room for n routes (not zeroed: a snapshot fills what it counts); *cap
 * what it holds. NULL when out of memory. */
static struct weir_route **routes_array_get(size_t n, size_t *cap)
{
	struct weir_route **v = NULL;

	n = n ? n : 1;
	pthread_mutex_lock(&arrays_lock);
	for (size_t i = 0; i < ARRAYS_KEPT && !v; i++)
		if (arrays[i].v && arrays[i].cap >= n && arrays[i].cap <= 2 * n + 64) {
			v = arrays[i].v;
			*cap = arrays[i].cap;
			arrays[i].v = NULL;
		}
	pthread_mutex_unlock(&arrays_lock);
	if (v)
		return v;
	*cap = n + n / 16;	/* room for the routes a few changes add */
	return malloc(*cap * sizeof(*v));
}

static void routes_array_put(struct weir_route **v, size_t cap)
{
	pthread_mutex_lock(&arrays_lock);
	for (size_t i = 0; v && i < ARRAYS_KEPT; i++)
		if (!arrays[i].v) {
			arrays[i].v = v;
			arrays[i].cap = cap;
			v = NULL;
		}
	pthread_mutex_unlock(&arrays_lock);
	free(v);
}

/* ---- building -------------------------------------------------------------- */

static void snapshot_free(struct weir_snapshot *s)
{
	if (!s)
		return;
	/* No later snapshot took its routes over: those only it holds go with
	 * it (all of them for the last one published; for one never
	 * published, those it was built with). */
	for (size_t i = 0; s->version && !s->superseded && i < s->n_routes; i++) {
		struct weir_route *rt = s->routes[i];
		if ((s->published || rt->born == s->version) &&
		    atomic_load_explicit(&rt->dead_from, memory_order_relaxed) == UINT64_MAX)
			weir__route_retire(rt, s->version + 1);
	}
	if (s->version)
		live_leave(s);
	routes_array_put(s->routes, s->routes_cap);
	free(s->delta_routes);
	if (s->delta)
		weir_router_free(s->delta);
	weir_base_put(s->base);
	free(s->listen_fds);
	weir__frame_put(s->frame);
	free(s);
}

struct weir_snapshot *weir__snapshot_new(struct weir_frame *f, size_t n_routes)
{
	struct weir_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refs = 1;
	s->frame = weir__frame_hold(f);
	s->conf = f->conf;
	s->upstreams = f->upstreams;
	s->n_upstreams = f->n_upstreams;
	s->n_workers = f->n_workers;
	s->globals = f->globals;
	s->n_globals = f->n_globals;
	s->listen_tls = f->listen_tls;
	if (!(s->routes = routes_array_get(n_routes, &s->routes_cap))) {
		snapshot_free(s);
		return NULL;
	}
	return s;
}

void weir__snapshot_enter(struct weir_snapshot *s)
{
	live_enter(s);
}

static const char *file_of(const struct weir_config *c)
{
	return c->file ? c->file : "config";
}

static int build_upstream(struct weir_frame *f, struct weir_upstream *u,
			  const struct weir_upstream_conf *uc, char *err, size_t errlen)
{
	uint32_t weights[WEIR_LB_MAX_NODES];
	uint64_t ids[WEIR_LB_MAX_NODES];
	char why[200];

	u->conf = uc;
	u->n_nodes = uc->n_nodes;
	if (uc->n_nodes > WEIR_LB_MAX_NODES) {
		snprintf(err, errlen, "%s:%u: upstreams.%s.nodes: at most %u nodes",
			 file_of(f->conf), uc->line, uc->name, WEIR_LB_MAX_NODES);
		return -1;
	}
	u->nodes = calloc(uc->n_nodes, sizeof(*u->nodes));
	u->states = calloc(f->n_workers, sizeof(*u->states));
	if (!u->nodes || !u->states)
		goto oom;
	char tls[600];

	if (uc->tls.enabled)
		snprintf(tls, sizeof(tls), "verify=%d ca=%s sni=%s", uc->tls.verify,
			 uc->tls.ca ? uc->tls.ca : "", uc->tls.sni ? uc->tls.sni : "");
	for (size_t i = 0; i < uc->n_nodes; i++) {
		u->nodes[i].addr = uc->nodes[i].addr;
		u->nodes[i].weight = uc->nodes[i].weight;
		u->nodes[i].pool = weir_pool_id(&uc->nodes[i].addr, uc->tls.enabled ? tls : NULL);
		weights[i] = uc->nodes[i].weight;
		ids[i] = weir_hash64(uc->nodes[i].addr.text, strlen(uc->nodes[i].addr.text), 0);
	}
	u->lb = weir_lb_new(uc->lb, weights, ids, uc->n_nodes, why, sizeof(why));
	if (!u->lb) {
		snprintf(err, errlen, "%s:%u: upstreams.%s: %s", file_of(f->conf), uc->line,
			 uc->name, why);
		return -1;
	}
	for (uint32_t k = 0; k < f->n_workers; k++)
		if (!(u->states[k] = weir_lb_state_new(u->lb)))
			goto oom;
	if (uc->tls.enabled &&
	    !(u->tls = weir_tls_client_new(f->conf, (size_t)(uc - f->conf->upstreams), err, errlen)))
		return -1;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static struct weir_upstream *find_upstream(struct weir_frame *f, const char *name)
{
	for (size_t i = 0; i < f->n_upstreams; i++)
		if (!strcmp(f->upstreams[i].conf->name, name))
			return &f->upstreams[i];
	return NULL;
}

struct weir_route *weir__route_build(struct weir_frame *f, const struct weir_route_conf *rc,
				     const char *file, size_t index, char *err, size_t errlen)
{
	struct weir_route *rt = calloc(1, sizeof(*rt));
	char why[256];

	if (!rt) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rt->frame = weir__frame_hold(f);
	rt->refs = 1;
	rt->dead_from = UINT64_MAX;
	rt->conf = rc;
	rt->id = rc->id;
	rt->stats = weir_metrics_route(rc->id);
	rt->upstream = rc->upstream ? find_upstream(f, rc->upstream) : NULL;
	if (!rt->upstream && rc->upstream) {
		snprintf(err, errlen, "%s:%u: routes[%zu].upstream: no upstream named '%s'",
			 file, rc->line, index, rc->upstream ? rc->upstream : "");
		goto fail;
	}
	rt->rewrite = rc->rewrite;
	rt->rewrite_value = rc->rewrite_value;
	rt->rewrite_len = rc->rewrite_value ? strlen(rc->rewrite_value) : 0;
	rt->connect_timeout_ms = rc->connect_timeout_ms;
	rt->send_timeout_ms = rc->send_timeout_ms;
	rt->read_timeout_ms = rc->read_timeout_ms;
	size_t bad = 0;
	for (size_t i = 0, auth = SIZE_MAX; i < rc->n_plugins; i++) {
		const struct weir_plugin *p = weir_plugin_find(rc->plugins[i].name);
		if (!p || !p->consumers)
			continue;
		if (auth != SIZE_MAX) {
			snprintf(err, errlen, "%s:%u: routes[%zu].plugins.%s: a route runs one "
				 "authentication plugin (it has %s already)", file,
				 rc->plugins[i].line, index, p->name, rc->plugins[auth].name);
			goto fail;
		}
		auth = i;
	}
	int rc_chain;
	weir_plugin_configuring(rc->id);
	rc_chain = weir_plugin_chain(rc->plugins, rc->n_plugins, f->globals, f->n_globals,
				     &rt->plugins, &rt->n_plugins, &bad, why, sizeof(why));
	weir_plugin_configuring(NULL);
	if (rc_chain < 0) {
		snprintf(err, errlen, "%s:%u: routes[%zu].plugins.%s", file,
			 bad < rc->n_plugins ? rc->plugins[bad].line : rc->line, index, why);
		goto fail;
	}
	rt->rewrites_status = weir_plugin_chain_rewrites_status(rt->plugins, rt->n_plugins);
	/* No upstream is fine for a route that never goes to one. */
	if (!rt->upstream && !weir_plugin_chain_answers(rt->plugins, rt->n_plugins)) {
		snprintf(err, errlen, "%s:%u: routes[%zu].upstream: required unless a plugin "
			 "answers the route (mock)", file, rc->line, index);
		goto fail;
	}
	if (weir_plugin_chain_removes(rt->plugins, rt->n_plugins, false, &rt->drop_request) < 0 ||
	    weir_plugin_chain_removes(rt->plugins, rt->n_plugins, true, &rt->drop_response) < 0 ||
	    weir_plugin_chain_removes_query(rt->plugins, rt->n_plugins, &rt->drop_query) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rt->hold_request = weir_plugin_chain_holds(rt->plugins, rt->n_plugins, false);
	rt->hold_response = weir_plugin_chain_holds(rt->plugins, rt->n_plugins, true);
	return rt;
fail:
	weir__route_put(rt);
	return NULL;
}

int weir__route_add(struct weir_router *r, const struct weir_route *rt, const char *file,
		    size_t index, char *err, size_t errlen)
{
	const struct weir_route_conf *rc = rt->conf;
	char why[256];

	for (size_t h = 0; h < (rc->n_hosts ? rc->n_hosts : 1); h++)
		for (size_t p = 0; p < rc->n_paths; p++) {
			const char *host = rc->n_hosts ? rc->hosts[h] : NULL;
			if (weir_router_add(r, rc->id, host, rc->paths[p], rc->methods,
					    rc->headers, rc->n_headers, rc->priority,
					    (void *)rt, why, sizeof(why)) < 0) {
				snprintf(err, errlen, "%s:%u: routes[%zu]: %s", file, rc->line,
					 index, why);
				return -1;
			}
		}
	return 0;
}

struct weir_base *weir__base_build(struct weir_route *const *routes, size_t n,
				   uint64_t version, const char *file, char *err, size_t errlen)
{
	struct weir_base *b = calloc(1, sizeof(*b));
	char why[256];

	if (!b || !(b->router = weir_router_new()) ||
	    !(b->routes = malloc((n ? n : 1) * sizeof(*b->routes)))) {
		if (b && b->router)
			weir_router_free(b->router);
		free(b);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->refs = 1;
	b->version = version;
	for (size_t i = 0; i < n; i++) {
		if (weir__route_add(b->router, routes[i], file, i, err, errlen) < 0)
			goto fail;
		atomic_fetch_add_explicit(&routes[i]->refs, 1, memory_order_relaxed);
		b->routes[b->n_routes++] = routes[i];
	}
	if (weir_router_build(b->router, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: routes: %s", file, why);
		goto fail;
	}
	return b;
fail:
	weir_base_put(b);
	return NULL;
}

/* The global settings each plugin's configure sees (f->globals): the
 * config's own, and for every plugin that authenticates consumers, a
 * "consumers" list of {username, credential} added to a copy of them
 * (plugin.h). Consumers' plugin names are checked here, where the registry
 * is known. */
static int build_globals(struct weir_frame *f, char *err, size_t errlen)
{
	const struct weir_config *c = f->conf;
	size_t cap = c->n_plugins;

	for (size_t i = 0; i < c->n_consumers; i++)
		cap += c->consumers[i].n_plugins;
	if (!(f->globals = calloc(cap ? cap : 1, sizeof(*f->globals))))
		goto oom;
	for (size_t i = 0; i < c->n_plugins; i++) {
		const struct weir_plugin *p = weir_plugin_find(c->plugins[i].name);
		f->globals[i] = c->plugins[i];
		f->globals[i].conf = json_incref(c->plugins[i].conf);
		f->n_globals = i + 1;
		if (p && p->consumers && json_object_get(c->plugins[i].conf, "consumers")) {
			snprintf(err, errlen, "%s:%u: plugins.%s.consumers: reserved: "
				 "consumers are given in the top-level consumers list",
				 file_of(c), c->plugins[i].line, c->plugins[i].name);
			return -1;
		}
	}
	for (size_t i = 0; i < c->n_consumers; i++) {
		const struct weir_consumer_conf *cc = &c->consumers[i];
		for (size_t j = 0; j < cc->n_plugins; j++) {
			const struct weir_plugin *p = weir_plugin_find(cc->plugins[j].name);
			struct weir_plugin_conf *g = NULL;
			json_t *list, *entry;

			if (!p || !p->consumers) {
				snprintf(err, errlen, "%s:%u: consumers[%zu].plugins.%s: %s",
					 file_of(c), cc->plugins[j].line, i, cc->plugins[j].name,
					 p ? "not an authentication plugin" : "no such plugin");
				return -1;
			}
			for (size_t k = 0; k < f->n_globals && !g; k++)
				if (!strcmp(f->globals[k].name, p->name))
					g = &f->globals[k];
			if (!g) {
				g = &f->globals[f->n_globals++];
				g->name = cc->plugins[j].name;
				g->line = cc->plugins[j].line;
				if (!(g->conf = json_object()))
					goto oom;
			}
			if (!(list = json_object_get(g->conf, "consumers"))) {
				json_t *copy = json_copy(g->conf);	/* the config's stays as it is */
				if (!copy || json_object_set_new(copy, "consumers", json_array())) {
					json_decref(copy);
					goto oom;
				}
				json_decref(g->conf);
				g->conf = copy;
				list = json_object_get(g->conf, "consumers");
			}
			entry = json_pack("{s:s, s:O}", "username", cc->username, "credential",
					  cc->plugins[j].conf);
			if (!entry || json_array_append_new(list, entry))
				goto oom;
		}
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* The frame of conf (taken, also on failure): NULL with err. */
static struct weir_frame *frame_build(struct weir_config *conf, uint32_t n_workers, char *err,
				      size_t errlen)
{
	struct weir_frame *f = calloc(1, sizeof(*f));
	struct weir_tls_certs *top = NULL;

	if (!f) {
		weir_config_free(conf);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->refs = 1;
	f->conf = conf;
	f->n_workers = n_workers ? n_workers : 1;
	if (!(f->upstreams = calloc(conf->n_upstreams ? conf->n_upstreams : 1,
				    sizeof(*f->upstreams)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < conf->n_plugins; i++)
		if (!weir_plugin_find(conf->plugins[i].name)) {
			snprintf(err, errlen, "%s:%u: plugins.%s: no such plugin", file_of(conf),
				 conf->plugins[i].line, conf->plugins[i].name);
			goto fail;
		}
	if (build_globals(f, err, errlen) < 0)
		goto fail;
	/* The top-level certificates are checked whether a listener serves
	 * them or not; each listener's contexts take their own references. */
	if (!(top = weir_tls_certs_load(conf, err, errlen)))
		goto fail;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		if (!conf->listeners[i].tls.enabled)
			continue;
		if (!f->listen_tls &&
		    !(f->listen_tls = calloc(conf->n_listeners, sizeof(*f->listen_tls)))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (!(f->listen_tls[i] = weir_tls_server_new(conf, i, top, err, errlen)))
			goto fail;
	}
	weir_tls_certs_free(top);
	top = NULL;
	for (size_t i = 0; i < conf->n_upstreams; i++) {
		f->n_upstreams = i + 1;
		if (build_upstream(f, &f->upstreams[i], &conf->upstreams[i], err, errlen) < 0)
			goto fail;
	}
	return f;
fail:
	weir_tls_certs_free(top);
	weir__frame_put(f);
	return NULL;
}

int weir_snapshot_build(struct weir_config *conf, uint32_t n_workers,
			struct weir_snapshot **out, char *err, size_t errlen)
{
	struct weir_snapshot *s = NULL;
	struct weir_frame *f;

	*out = NULL;
	weir_plugins_builtin();
	if (!(f = frame_build(conf, n_workers, err, errlen)))
		return -1;
	if (!(s = weir__snapshot_new(f, conf->n_routes))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < conf->n_routes; i++) {
		if (!(s->routes[i] = weir__route_build(f, &conf->routes[i], file_of(conf), i, err,
						       errlen)))
			goto fail;
		s->routes[i]->ord = i;
		s->n_routes = i + 1;
	}
	if (!(s->base = weir__base_build(s->routes, s->n_routes, 0, file_of(conf), err, errlen)))
		goto fail;
	live_enter(s);
	s->base->version = s->version;
	for (size_t i = 0; i < s->n_routes; i++)
		s->routes[i]->born = s->version;
	weir__frame_put(f);
	*out = s;
	return 0;
fail:
	/* routes no snapshot ever held go at once */
	for (size_t i = 0; s && i < s->n_routes; i++)
		weir__route_put(s->routes[i]);
	snapshot_free(s);
	weir__frame_put(f);
	return -1;
}

void weir_snapshot_hold(struct weir_snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void (*_Atomic reaper)(struct weir_snapshot *s);

void weir_snapshot_reaper(void (*fn)(struct weir_snapshot *s))
{
	atomic_store(&reaper, fn);
}

void weir_snapshot_free(struct weir_snapshot *s)
{
	snapshot_free(s);
}

void weir_snapshot_put(struct weir_snapshot *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
		void (*fn)(struct weir_snapshot *) = atomic_load(&reaper);
		if (fn)
			fn(s);
		else
			snapshot_free(s);
	}
}

/* A base route that a later change took out: dead in every snapshot from
 * the one that took it out on. */
static bool route_dead(const void *route, const void *arg)
{
	const struct weir_route *rt = route;
	const struct weir_snapshot *s = arg;

	return atomic_load_explicit(&rt->dead_from, memory_order_relaxed) <= s->version;
}

/* Routes of one pattern from the two layers, in the router's order
 * (router.h, 3.), the list order last. */
static int route_order(const void *a, const void *b)
{
	const struct weir_route *x = a, *y = b;
	int k = weir_route_conf_rank(x->conf, y->conf);

	return k ? k : x->ord < y->ord ? -1 : 1;
}

bool weir_snapshot_match(const struct weir_snapshot *s, const struct weir_route_req *req,
			 struct weir_route_match *m)
{
	if (!s->layered)
		return weir_router_match(s->base->router, req, m);
	struct weir_router_skip skip = { route_dead, s };
	return weir_router_match_layered(s->base->router, &skip, s->delta, route_order, req, m);
}
