/* userspace/router.h - the L7 router: which route a request goes to, chosen
 * by host, path, method and headers.
 *
 * A router is filled with weir_router_add(), frozen with weir_router_build(),
 * then only read: weir_router_match() takes no lock and allocates nothing, so
 * every worker of a configuration snapshot may call it at once. A change of
 * routes builds a new router next to the old one (snapshot.c swaps them).
 *
 * Precedence, in order:
 *   1. host: the exact host, then wildcard hosts from the longest suffix to
 *      the shortest, then routes with no host; the first level holding a
 *      route that accepts the request wins.
 *   2. path, within one host level: a depth-first walk that tries, at each
 *      position, the static continuation, then the ":param" segment, then
 *      the "prefix*" routes ending there, backtracking when a branch finds
 *      no acceptable route.  Hence static over param over prefix, segment by
 *      segment, and a longer prefix over a shorter one.
 *   3. routes of one pattern: those whose methods and header conditions
 *      accept the request, by priority (high first), then more header
 *      conditions, then a method list before any method, then insertion order.
 */
#ifndef WEIR_ROUTER_H
#define WEIR_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define WEIR_ROUTER_MAX_PARAMS 8
#define WEIR_ROUTER_MAX_PATH 4096	/* bytes in a path pattern */
#define WEIR_ROUTER_MAX_HOST 255	/* bytes in a host, "*." included */

struct weir_router;

/* One request header; name already lower case. */
struct weir_hdr {
	const char *name;
	uint32_t name_len;
	const char *value;
	uint32_t value_len;
};

struct weir_route_req {
	const char *host;		/* lower case, port removed; may be empty */
	size_t host_len;
	const char *path;		/* no query string; raw as received */
	size_t path_len;
	uint32_t method;		/* one WEIR_M_* bit */
	const struct weir_hdr *headers;
	size_t n_headers;
};

/* name is the pattern's ":name" (owned by the router); value points into
 * req->path and is not NUL-terminated. */
struct weir_route_param {
	const char *name;
	const char *value;
	uint32_t len;
};

struct weir_route_match {
	void *route;
	unsigned n_params;
	struct weir_route_param params[WEIR_ROUTER_MAX_PARAMS];
};

/* NULL when out of memory. */
struct weir_router *weir_router_new(void);

/* Adds one host/path pair of a route.
 *   host:    NULL = any host; "api.example.com" exact (case-insensitive, one
 *            trailing dot ignored); "*.example.com" any host below it, never
 *            example.com itself.
 *   path:    "/exact"; "/prefix*", where a prefix ending in '/' also takes
 *            the path without that '/' ("/api/" + '*' takes "/api");
 *            "/users/:id" (one whole segment, one byte or more); both, as
 *            in "/users/:id/files/" + '*'. At most WEIR_ROUTER_MAX_PARAMS
 *            params, names unique.
 *   methods: WEIR_M_* mask, 0 = any.
 *   headers: conditions that must all hold: the header is present with one
 *            of the listed values (exact, case-sensitive). Copied.
 *   route:   opaque payload handed back by match; the same payload may be
 *            added under several host/path pairs.
 *   id:      names the route in error messages. Copied.
 * Returns 0, or -1 with one line in err (bad host or pattern, duplicate of
 * an earlier route with the same host/path/methods/headers/priority, too many
 * params, more than 65535 routes with one pattern, called after build, out
 * of memory). A failed add leaves the router as it was for matching
 * purposes. */
int weir_router_add(struct weir_router *r, const char *id, const char *host,
		    const char *path, uint32_t methods,
		    const struct weir_header_match_conf *headers, size_t n_headers,
		    int32_t priority, void *route, char *err, size_t errlen);

/* Freezes the router into its compact read-only form and releases what only
 * adding needed. Returns 0, or -1 with a reason in err (called twice, out of
 * memory). Adding after a build fails. */
int weir_router_build(struct weir_router *r, char *err, size_t errlen);

/* True and *m filled when a route accepts req; false otherwise (or before
 * the build). Read-only on r: safe from many threads at once. */
bool weir_router_match(const struct weir_router *r, const struct weir_route_req *req,
		       struct weir_route_match *m);

/* ---- layers: a large router and a small one of the changes since ----
 *
 * A change to one route of many must not rebuild them all (DESIGN.md,
 * principle 3). So a set of routes can be served by two routers: a large
 * base, built once, some of whose routes are gone (removed or replaced: the
 * caller's `dead` predicate names them and the match walks past them), and
 * a small delta holding the routes added or replaced since, rebuilt whole
 * on each change at a cost that grows with the delta only. The answer is
 * the one a single router holding the live routes of both would give; the
 * caller folds the delta into a new base when it has grown (off the request
 * path), and starts a new delta.
 *
 * What makes two routers' answers comparable is the rank of a match: where
 * it stands in the precedence order above. Two matches of the same request
 * compare by host level first, then by the points where their patterns
 * leave the literal path (later is better; at the same point a param beats
 * a prefix), then by how the entry ends (exact, the bare form of "X/" + '*',
 * prefix). Equal ranks mean the same pattern (up to param names) and leave
 * the order of its routes (3. above) to the caller.
 *
 * Two walks and the ranking cost about twice one plain match (bench_router
 * -c), so a caller matches through the layers only while it has a delta or
 * dead routes, and folds them into a new base soon after changes stop. */

struct weir_route_rank {
	uint16_t host;			/* 0 any host, 1 + suffix bytes for "*.suffix", 0xffff exact */
	uint8_t end;			/* 0 exact, 1 bare, 2 prefix */
	uint8_t n_dev;
	/* where the pattern leaves the literal path, in path order:
	 * position << 1, | 1 for a prefix (it ends there), | 0 for a param */
	uint16_t dev[WEIR_ROUTER_MAX_PARAMS + 1];
};

struct weir_router_skip {
	/* True for a route that is gone: the match goes on as without it. */
	bool (*dead)(const void *route, const void *arg);
	const void *arg;
};

/* weir_router_match() walking past the routes skip names (skip may be
 * NULL), and filling *rank when it matches. */
bool weir_router_match_ranked(const struct weir_router *r, const struct weir_route_req *req,
			      const struct weir_router_skip *skip, struct weir_route_match *m,
			      struct weir_route_rank *rank);

/* Negative when a goes first, positive when b does, 0 for the same
 * pattern. */
int weir_route_rank_cmp(const struct weir_route_rank *a, const struct weir_route_rank *b);

/* The match over a base router less the routes skip names and a delta
 * router (either may be NULL). `order` ranks two routes of the same
 * pattern, one from each router: negative when a (base) goes first. */
bool weir_router_match_layered(const struct weir_router *base,
			       const struct weir_router_skip *skip,
			       const struct weir_router *delta,
			       int (*order)(const void *a, const void *b),
			       const struct weir_route_req *req, struct weir_route_match *m);

/* Host/path pairs added so far. */
size_t weir_router_count(const struct weir_router *r);

/* Bytes held by the router. */
size_t weir_router_memory(const struct weir_router *r);

void weir_router_free(struct weir_router *r);

#endif
