/* userspace/plugin.h - the plugin chain: what a plugin is, the phases it can
 * hook, and how the request path runs them.
 *
 * A plugin is a table of callbacks registered by name. A route's `plugins:`
 * map names the plugins it runs and gives each its settings (JSON, the same
 * shape the admin API will take); the global `plugins:` map gives defaults
 * that `configure` sees beside the route's. Instances are built with the
 * snapshot, so a bad setting fails the whole configuration with the plugin's
 * reason, and they are immutable while requests use them; per-request state
 * goes in r->plugin_ctx[i] (i = the instance's place in the chain).
 *
 * Phases, in the order a request meets them:
 *   access            after routing, before any upstream work; return an
 *                     HTTP status to answer the request here (auth, limits)
 *   before_upstream   append header lines to the request head going upstream
 *   response_headers  append header lines to the response head going out
 *   response_body     see the response body bytes as they pass (raw message
 *                     bytes, framing included)
 *   log               the exchange is over (status, bytes, timings known)
 * A chain runs in descending `priority` order, as APISIX runs its plugins.
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"

struct weir_req;
struct weir_buf;

struct weir_plugin {
	const char *name;
	int priority;
	int (*configure)(const json_t *conf, const json_t *global, void **inst,
			 char *err, size_t errlen);
	void (*destroy)(void *inst);
	int (*access)(struct weir_req *r, void *inst);
	void (*before_upstream)(struct weir_req *r, void *inst, struct weir_buf *head);
	void (*response_headers)(struct weir_req *r, void *inst, struct weir_buf *head);
	void (*response_body)(struct weir_req *r, void *inst, const char *data, size_t len);
	void (*log)(struct weir_req *r, void *inst);
};

struct weir_plugin_inst {
	const struct weir_plugin *plugin;
	void *inst;
};

/* Adds a plugin to the registry (before the first snapshot is built).
 * Returns -1 if the name is taken or the registry is full. */
int weir_plugin_register(const struct weir_plugin *p);
const struct weir_plugin *weir_plugin_find(const char *name);
/* Registers the plugins built into weir. */
void weir_plugins_builtin(void);

/* The chain of a route, sorted; settings checked by each plugin. Returns 0,
 * or -1 with the plugin's reason in err and its index in confs in *bad. */
int weir_plugin_chain(const struct weir_plugin_conf *confs, size_t n,
		      const struct weir_plugin_conf *globals, size_t n_globals,
		      struct weir_plugin_inst **out, size_t *n_out, size_t *bad,
		      char *err, size_t errlen);
void weir_plugin_chain_free(struct weir_plugin_inst *chain, size_t n);

int weir_plugins_access(struct weir_req *r);
void weir_plugins_before_upstream(struct weir_req *r, struct weir_buf *head);
void weir_plugins_response_headers(struct weir_req *r, struct weir_buf *head);
void weir_plugins_response_body(struct weir_req *r, const char *data, size_t len);
void weir_plugins_log(struct weir_req *r);

#endif
