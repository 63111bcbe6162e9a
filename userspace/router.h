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

/* Host/path pairs added so far. */
size_t weir_router_count(const struct weir_router *r);

/* Bytes held by the router. */
size_t weir_router_memory(const struct weir_router *r);

void weir_router_free(struct weir_router *r);

#endif
