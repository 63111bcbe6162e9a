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
struct weir_frame;
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

	/* A route outlives the snapshot that built it: the snapshots derived
	 * from that one by changes of other routes share it (snapshot.c).
	 * It is freed once no snapshot older than dead_from is left and no
	 * base router holds it. */
	uint64_t ord;			/* its place in the routes list */
	uint64_t born;			/* version of the first snapshot holding it */
	_Atomic uint64_t dead_from;	/* of the first without it; UINT64_MAX until then */
	/* one for the snapshots' lists (let go when the last snapshot older
	 * than dead_from goes), one per base router holding it */
	_Atomic uint32_t refs;
	struct weir_frame *frame;	/* what it was built against (held) */
	struct weir_config *own;	/* a route changed alone owns its parsed form */
};

/* A router built over the routes of one snapshot, shared by the snapshots
 * derived from it. */
struct weir_base {
	_Atomic uint32_t refs;
	struct weir_router *router;
	uint64_t version;		/* of the snapshot whose routes it holds */
	struct weir_route **routes;	/* those routes (held) */
	size_t n_routes;
};

struct weir_snapshot {
	_Atomic uint32_t refs;
	uint64_t version;
	/* The configuration the frame was built from: its settings and
	 * listeners hold; its routes are those of the last full build, while
	 * `routes` below are the live ones. */
	struct weir_config *conf;
	struct weir_route **routes;	/* in list order; the array is this snapshot's */
	size_t n_routes, routes_cap;
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

	/* What the fields above point into, shared with derived snapshots. */
	struct weir_frame *frame;
	/* Matching (weir_snapshot_match): the base router less the routes
	 * dead in this version, and a router of the routes born since the
	 * base (router.h, layers). Without a delta or dead routes, the base
	 * alone. */
	struct weir_base *base;
	struct weir_router *delta;
	struct weir_route **delta_routes;	/* in list order */
	size_t n_delta;
	bool layered;
	/* the routes this snapshot's change took out and put in, for
	 * weir_snapshot_commit */
	struct weir_route *gone, *added;
	bool published, superseded;	/* set by weir_snapshot_commit */
	struct weir_snapshot *live_prev, *live_next;	/* snapshot.c's live list */
	struct weir_snapshot *reap_next;	/* the reaper's list */
};

/* Builds a snapshot that takes ownership of conf (also on failure, when it
 * frees it). Returns 0, or -1 with "FILE:LINE: FIELD: REASON" in err. */
int weir_snapshot_build(struct weir_config *conf, uint32_t n_workers,
			struct weir_snapshot **out, char *err, size_t errlen);
void weir_snapshot_hold(struct weir_snapshot *s);
/* Lets go of s; the last holder frees it, or hands it to the reaper. */
void weir_snapshot_put(struct weir_snapshot *s);
/* Sets (fn) or clears (NULL) the function the last holder hands a
 * snapshot to, which must call weir_snapshot_free on it later, off the
 * workers' loops. The caller makes sure no put runs while it changes. */
void weir_snapshot_reaper(void (*fn)(struct weir_snapshot *s));
void weir_snapshot_free(struct weir_snapshot *s);

/* The route that takes req, as weir_router_match() (router.h) would over
 * the snapshot's routes. Read-only on s. */
bool weir_snapshot_match(const struct weir_snapshot *s, const struct weir_route_req *req,
			 struct weir_route_match *m);

/* ---- one route at a time (snapshot_change.c) -------------------------------
 *
 * A change of one route derives the next snapshot from the current one in
 * time that grows with the change, not with the routes (DESIGN.md,
 * principle 3): the frame (settings, upstreams, consumers), the base router
 * and every other route are shared; the route is built alone, and a small
 * delta router is rebuilt over the routes changed since the base. A
 * background fold (weir_snapshot_fold) builds a new base over them all
 * when the delta grows or changes stop.
 *
 * Snapshots are derived and published by one thread at a time (main.c's
 * apply lock): weir_snapshot_change, then, once the snapshot is the
 * workers', weir_snapshot_commit. */

/* The snapshot cur would be with the route `id` replaced, added (at the
 * end of the list) or, when one is NULL, removed. one holds that route
 * alone, as weir_config_from_resources() parses it, and is taken (also on
 * failure). Returns 0, 1 when id names no route to remove (nothing
 * built), or -1 with "FIELD: REASON" in err: a route whose upstream is
 * unknown, whose plugins do not configure, or that duplicates another
 * (same host, path, methods, headers and priority). */
int weir_snapshot_change(struct weir_snapshot *cur, const char *id, struct weir_config *one,
			 struct weir_snapshot **out, char *err, size_t errlen);

/* next has replaced prev (NULL for the first) as the workers' snapshot:
 * retires the routes prev had and next has not, and keeps the index of ids
 * for the next change. */
void weir_snapshot_commit(struct weir_snapshot *next, struct weir_snapshot *prev);

/* Builds that index (ids, and what each route matches) for s, the
 * workers' snapshot, now rather than at the next change: O(routes), for
 * the paths that cost that already (a start, a reload, a change that is not
 * a route's), so that a route change always costs O(change). With the
 * apply lock held; out of memory, the next change builds it. */
void weir_snapshot_index_warm(const struct weir_snapshot *s);

/* True when matching s walks two layers: a fold would make it one. */
bool weir_snapshot_foldable(const struct weir_snapshot *s);

/* A base router over all of s's routes: the slow part of a fold, run off
 * the apply lock. NULL when out of memory. */
struct weir_base *weir_snapshot_fold_base(struct weir_snapshot *s, char *err, size_t errlen);

/* cur, matched through base b (built by weir_snapshot_fold_base from
 * `from`, an earlier snapshot) and a delta of the routes born since: the
 * quick part of a fold. Takes b. Returns 0, 1 when b does not fit cur (a
 * full build came between), or -1 with err. */
int weir_snapshot_refold(struct weir_snapshot *cur, const struct weir_snapshot *from,
			 struct weir_base *b, struct weir_snapshot **out, char *err,
			 size_t errlen);

void weir_base_put(struct weir_base *b);

/* Pool ids of node addresses: the same address (and TLS settings, a text
 * that names them, NULL for plaintext) gets the same id in every snapshot,
 * so keepalive connections outlive reloads. */
uint32_t weir_pool_id(const struct weir_addr *a, const char *tls);

#endif
