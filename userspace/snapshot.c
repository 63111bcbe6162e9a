/* userspace/snapshot.c - builds the immutable snapshot the workers serve
 * from (see snapshot.h), and keeps the table of stable pool ids.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
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

/* ---- building -------------------------------------------------------------- */

static void snapshot_free(struct weir_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->upstreams && i < s->n_upstreams; i++) {
		struct weir_upstream *u = &s->upstreams[i];
		for (uint32_t k = 0; u->states && k < s->n_workers; k++)
			weir_lb_state_free(u->states[k]);
		free(u->states);
		weir_tls_client_free(u->tls);
		weir_lb_free(u->lb);
		free(u->nodes);
	}
	free(s->upstreams);
	for (size_t i = 0; s->routes && i < s->n_routes; i++) {
		free(s->routes[i].drop_request);
		free(s->routes[i].drop_response);
		free(s->routes[i].drop_query);
		weir_plugin_chain_free(s->routes[i].plugins, s->routes[i].n_plugins);
	}
	free(s->routes);
	for (size_t i = 0; s->globals && i < s->n_globals; i++)
		json_decref(s->globals[i].conf);
	free(s->globals);
	for (size_t i = 0; s->listen_tls && i < s->conf->n_listeners; i++)
		weir_tls_server_put(s->listen_tls[i]);
	free(s->listen_tls);
	free(s->listen_fds);
	if (s->router)
		weir_router_free(s->router);
	weir_config_free(s->conf);
	free(s);
}

static const char *file_of(const struct weir_config *c)
{
	return c->file ? c->file : "config";
}

static int build_upstream(struct weir_snapshot *s, struct weir_upstream *u,
			  const struct weir_upstream_conf *uc, char *err, size_t errlen)
{
	uint32_t weights[WEIR_LB_MAX_NODES];
	uint64_t ids[WEIR_LB_MAX_NODES];
	char why[200];

	u->conf = uc;
	u->n_nodes = uc->n_nodes;
	if (uc->n_nodes > WEIR_LB_MAX_NODES) {
		snprintf(err, errlen, "%s:%u: upstreams.%s.nodes: at most %u nodes",
			 file_of(s->conf), uc->line, uc->name, WEIR_LB_MAX_NODES);
		return -1;
	}
	u->nodes = calloc(uc->n_nodes, sizeof(*u->nodes));
	u->states = calloc(s->n_workers, sizeof(*u->states));
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
		snprintf(err, errlen, "%s:%u: upstreams.%s: %s", file_of(s->conf), uc->line,
			 uc->name, why);
		return -1;
	}
	for (uint32_t k = 0; k < s->n_workers; k++)
		if (!(u->states[k] = weir_lb_state_new(u->lb)))
			goto oom;
	if (uc->tls.enabled &&
	    !(u->tls = weir_tls_client_new(s->conf, (size_t)(uc - s->conf->upstreams), err, errlen)))
		return -1;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static struct weir_upstream *find_upstream(struct weir_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->n_upstreams; i++)
		if (!strcmp(s->upstreams[i].conf->name, name))
			return &s->upstreams[i];
	return NULL;
}

static int build_route(struct weir_snapshot *s, struct weir_route *rt, uint32_t index,
		       char *err, size_t errlen)
{
	const struct weir_route_conf *rc = &s->conf->routes[index];
	const struct weir_config *c = s->conf;
	char why[256];

	rt->conf = rc;
	rt->id = rc->id;
	rt->index = index;
	rt->stats = weir_metrics_route(rc->id);
	rt->upstream = rc->upstream ? find_upstream(s, rc->upstream) : NULL;
	if (!rt->upstream && rc->upstream) {
		snprintf(err, errlen, "%s:%u: routes[%u].upstream: no upstream named '%s'",
			 file_of(c), rc->line, index, rc->upstream ? rc->upstream : "");
		return -1;
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
			snprintf(err, errlen, "%s:%u: routes[%u].plugins.%s: a route runs one "
				 "authentication plugin (it has %s already)", file_of(c),
				 rc->plugins[i].line, index, p->name, rc->plugins[auth].name);
			return -1;
		}
		auth = i;
	}
	int rc_chain;
	weir_plugin_configuring(rc->id);
	rc_chain = weir_plugin_chain(rc->plugins, rc->n_plugins, s->globals, s->n_globals,
				     &rt->plugins, &rt->n_plugins, &bad, why, sizeof(why));
	weir_plugin_configuring(NULL);
	if (rc_chain < 0) {
		snprintf(err, errlen, "%s:%u: routes[%u].plugins.%s", file_of(c),
			 bad < rc->n_plugins ? rc->plugins[bad].line : rc->line, index, why);
		return -1;
	}
	rt->rewrites_status = weir_plugin_chain_rewrites_status(rt->plugins, rt->n_plugins);
	/* No upstream is fine for a route that never goes to one. */
	if (!rt->upstream && !weir_plugin_chain_answers(rt->plugins, rt->n_plugins)) {
		snprintf(err, errlen, "%s:%u: routes[%u].upstream: required unless a plugin "
			 "answers the route (mock)", file_of(c), rc->line, index);
		return -1;
	}
	if (weir_plugin_chain_removes(rt->plugins, rt->n_plugins, false, &rt->drop_request) < 0 ||
	    weir_plugin_chain_removes(rt->plugins, rt->n_plugins, true, &rt->drop_response) < 0 ||
	    weir_plugin_chain_removes_query(rt->plugins, rt->n_plugins, &rt->drop_query) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rt->hold_request = weir_plugin_chain_holds(rt->plugins, rt->n_plugins, false);
	rt->hold_response = weir_plugin_chain_holds(rt->plugins, rt->n_plugins, true);
	for (size_t h = 0; h < (rc->n_hosts ? rc->n_hosts : 1); h++)
		for (size_t p = 0; p < rc->n_paths; p++) {
			const char *host = rc->n_hosts ? rc->hosts[h] : NULL;
			if (weir_router_add(s->router, rc->id, host, rc->paths[p], rc->methods,
					    rc->headers, rc->n_headers, rc->priority, rt,
					    why, sizeof(why)) < 0) {
				snprintf(err, errlen, "%s:%u: routes[%u]: %s", file_of(c),
					 rc->line, index, why);
				return -1;
			}
		}
	return 0;
}

/* The global settings each plugin's configure sees (s->globals): the
 * config's own, and for every plugin that authenticates consumers, a
 * "consumers" list of {username, credential} added to a copy of them
 * (plugin.h). Consumers' plugin names are checked here, where the registry
 * is known. */
static int build_globals(struct weir_snapshot *s, char *err, size_t errlen)
{
	const struct weir_config *c = s->conf;
	size_t cap = c->n_plugins;

	for (size_t i = 0; i < c->n_consumers; i++)
		cap += c->consumers[i].n_plugins;
	if (!(s->globals = calloc(cap ? cap : 1, sizeof(*s->globals))))
		goto oom;
	for (size_t i = 0; i < c->n_plugins; i++) {
		const struct weir_plugin *p = weir_plugin_find(c->plugins[i].name);
		s->globals[i] = c->plugins[i];
		s->globals[i].conf = json_incref(c->plugins[i].conf);
		s->n_globals = i + 1;
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
			for (size_t k = 0; k < s->n_globals && !g; k++)
				if (!strcmp(s->globals[k].name, p->name))
					g = &s->globals[k];
			if (!g) {
				g = &s->globals[s->n_globals++];
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

int weir_snapshot_build(struct weir_config *conf, uint32_t n_workers,
			struct weir_snapshot **out, char *err, size_t errlen)
{
	static _Atomic uint64_t versions;
	struct weir_snapshot *s = calloc(1, sizeof(*s));
	struct weir_tls_certs *top = NULL;
	char why[256];

	*out = NULL;
	weir_plugins_builtin();
	if (!s) {
		weir_config_free(conf);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->conf = conf;
	s->n_workers = n_workers ? n_workers : 1;
	s->refs = 1;
	s->version = ++versions;
	s->upstreams = calloc(conf->n_upstreams ? conf->n_upstreams : 1, sizeof(*s->upstreams));
	s->routes = calloc(conf->n_routes ? conf->n_routes : 1, sizeof(*s->routes));
	s->router = weir_router_new();
	if (!s->upstreams || !s->routes || !s->router) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < conf->n_plugins; i++)
		if (!weir_plugin_find(conf->plugins[i].name)) {
			snprintf(err, errlen, "%s:%u: plugins.%s: no such plugin", file_of(conf),
				 conf->plugins[i].line, conf->plugins[i].name);
			goto fail;
		}
	if (build_globals(s, err, errlen) < 0)
		goto fail;
	/* The top-level certificates are checked whether a listener serves
	 * them or not; each listener's contexts take their own references. */
	if (!(top = weir_tls_certs_load(conf, err, errlen)))
		goto fail;
	for (size_t i = 0; i < conf->n_listeners; i++) {
		if (!conf->listeners[i].tls.enabled)
			continue;
		if (!s->listen_tls &&
		    !(s->listen_tls = calloc(conf->n_listeners, sizeof(*s->listen_tls)))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (!(s->listen_tls[i] = weir_tls_server_new(conf, i, top, err, errlen)))
			goto fail;
	}
	weir_tls_certs_free(top);
	top = NULL;
	for (size_t i = 0; i < conf->n_upstreams; i++) {
		s->n_upstreams = i + 1;
		if (build_upstream(s, &s->upstreams[i], &conf->upstreams[i], err, errlen) < 0)
			goto fail;
	}
	for (size_t i = 0; i < conf->n_routes; i++) {
		s->n_routes = i + 1;
		if (build_route(s, &s->routes[i], (uint32_t)i, err, errlen) < 0)
			goto fail;
	}
	if (weir_router_build(s->router, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: routes: %s", file_of(conf), why);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	weir_tls_certs_free(top);
	snapshot_free(s);
	return -1;
}

void weir_snapshot_hold(struct weir_snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void weir_snapshot_put(struct weir_snapshot *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		snapshot_free(s);
}
