/* userspace/snapshot.h - an immutable configuration as the workers use it:
 * the router, the routes with their plugin chains, the upstreams with their
 * balancers, built from a validated struct weir_config.
 *
 * A snapshot is built whole off the request path (weir_snapshot_build),
 * published by the main thread with one atomic store, and freed when the
 * last holder lets go: the main thread holds the current one, each worker
 * holds the one it runs new requests on and any older one that a request in
 * flight still uses (see worker.c). Nothing in it changes after it is built,
 * except the per-worker balancer states, each written by its own worker.
 */
#ifndef WEIR_SNAPSHOT_H
#define WEIR_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "router.h"
#include "balance.h"

struct weir_plugin_inst;
struct weir_hdr_names;
struct weir_route_stats;
struct weir_tls_server;
struct ssl_ctx_st;

struct weir_node {
	struct weir_addr addr;
	uint32_t weight;
	uint32_t pool;			/* stable id of the address: the workers' pool index */
};

struct weir_upstream {
	const struct weir_upstream_conf *conf;
	struct weir_node *nodes;
	size_t n_nodes;
	struct weir_lb *lb;
	struct weir_lb_state **states;	/* one per worker */
	struct ssl_ctx_st *tls;		/* NULL: plaintext to the nodes */
};

struct weir_route {
	const struct weir_route_conf *conf;
	const char *id;
	uint32_t index;
	struct weir_route_stats *stats;	/* metrics.h; NULL: not counted */
	struct weir_upstream *upstream;	/* NULL: a plugin answers every request */
	enum weir_rewrite_kind rewrite;
	const char *rewrite_value;
	size_t rewrite_len;
	uint32_t connect_timeout_ms, send_timeout_ms, read_timeout_ms;
	struct weir_plugin_inst *plugins;	/* in phase order */
	size_t n_plugins;
	bool rewrites_status;		/* a plugin may change the response status */
	/* header names the plugins take out of each head; NULL: none */
	struct weir_hdr_names *drop_request, *drop_response;
	/* query parameter names they take out of the target; NULL: none */
	struct weir_hdr_names *drop_query;
	/* body limits of the plugins that hold bodies whole (plugin.h); 0:
	 * that direction streams */
	uint64_t hold_request, hold_response;
};

struct weir_snapshot {
	_Atomic uint32_t refs;
	uint64_t version;
	struct weir_config *conf;	/* owned */
	struct weir_router *router;
	struct weir_route *routes;
	size_t n_routes;
	struct weir_upstream *upstreams;
	size_t n_upstreams;
	uint32_t n_workers;
	/* the global plugin settings configure sees: the config's, with the
	 * consumers' credentials added for the auth plugins (plugin.h) */
	struct weir_plugin_conf *globals;
	size_t n_globals;
	/* listening sockets, one per listener per worker (fds[l * n_workers + k]),
	 * owned by the main thread's listener table, not by the snapshot */
	int *listen_fds;
	uint32_t n_listen;
	/* per listener, its TLS contexts (NULL: plaintext); the array itself
	 * is NULL when no listener has TLS */
	struct weir_tls_server **listen_tls;
};

/* Builds a snapshot that takes ownership of conf (also on failure, when it
 * frees it). Returns 0, or -1 with "FILE:LINE: FIELD: REASON" in err. */
int weir_snapshot_build(struct weir_config *conf, uint32_t n_workers,
			struct weir_snapshot **out, char *err, size_t errlen);
void weir_snapshot_hold(struct weir_snapshot *s);
void weir_snapshot_put(struct weir_snapshot *s);

/* Pool ids of node addresses: the same address (and TLS settings, a text
 * that names them, NULL for plaintext) gets the same id in every snapshot,
 * so keepalive connections outlive reloads. */
uint32_t weir_pool_id(const struct weir_addr *a, const char *tls);

#endif
