/* userspace/snapshot-int.h - what snapshot.c (full builds, lifetimes) and
 * snapshot_change.c (one route at a time) share, and nothing else needs.
 */
#ifndef WEIR_SNAPSHOT_INT_H
#define WEIR_SNAPSHOT_INT_H

#include "snapshot.h"

/* What every snapshot derived from one full build shares: the
 * configuration it was built from, its upstreams and balancers, the plugin
 * globals and the listeners' TLS contexts. Held by those snapshots and by
 * the routes built against it. */
struct weir_frame {
	_Atomic uint32_t refs;
	struct weir_config *conf;	/* owned */
	struct weir_upstream *upstreams;
	size_t n_upstreams;
	uint32_t n_workers;
	struct weir_plugin_conf *globals;
	size_t n_globals;
	struct weir_tls_server **listen_tls;
};

struct weir_frame *weir__frame_hold(struct weir_frame *f);
void weir__frame_put(struct weir_frame *f);

/* A snapshot of frame f (held) with room for n_routes routes and nothing
 * else: not yet live, no version. NULL when out of memory. */
struct weir_snapshot *weir__snapshot_new(struct weir_frame *f, size_t n_routes);
/* Gives it its version: from now on, routes retired at a later version
 * stay until it is gone. */
void weir__snapshot_enter(struct weir_snapshot *s);

/* The route rc (which must outlive it) built against f; `file` and `index`
 * name it in errors ("FILE:LINE: routes[INDEX].FIELD: REASON"). NULL with
 * err. */
struct weir_route *weir__route_build(struct weir_frame *f, const struct weir_route_conf *rc,
				     const char *file, size_t index, char *err, size_t errlen);
/* Adds its host/path pairs to r. */
int weir__route_add(struct weir_router *r, const struct weir_route *rt, const char *file,
		    size_t index, char *err, size_t errlen);
/* Lets go of a reference: the builder's or a base's. */
void weir__route_put(struct weir_route *rt);
/* No snapshot from `version` on holds rt: it is freed once every older
 * snapshot is gone. -1 (and rt kept forever) when out of memory. */
int weir__route_retire(struct weir_route *rt, uint64_t version);

/* A built router over routes[0..n), in that order. */
struct weir_base *weir__base_build(struct weir_route *const *routes, size_t n,
				   uint64_t version, const char *file, char *err, size_t errlen);

#endif
