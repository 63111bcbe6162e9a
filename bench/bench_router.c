/* bench/bench_router.c - cost of weir_router_match() and memory per route,
 * by kind of route and table size.
 *
 * For each kind (static paths, prefixes, params, wildcard hosts) and each
 * size (1k, 10k, 100k routes of that kind), builds one router, then matches
 * requests for existing routes picked at random, with the request strings
 * laid out in the order they are used so that the cost measured is the
 * router's, not the benchmark's. Every answer is checked once before timing.
 * Rounds are timed on the thread's CPU clock, so that time spent preempted
 * on a busy machine is not counted (its cache pollution still is). Reports
 * the median of 5 rounds: a table on stderr, a JSON list on stdout; bytes
 * per route are weir_router_memory() over the routes.
 *
 * With -c, the cost of changing routes instead (router.h: layers): over a
 * table of 1k / 10k / 100k routes of the four kinds mixed, a stream of
 * CHANGES replacements of random routes, each applied as weir_router.h
 * describes it: the old route marked dead in the base, the delta rebuilt
 * with the new one, and at DELTA_MAX routes in the delta, the whole set
 * folded into a new base (timed apart: that work happens off the change's
 * path). Reports per change the median and p99, the full rebuild a change
 * would cost without layers, and the match cost over the layers against
 * the single router of the same routes.
 *
 *   bench_router [-n MATCHES_PER_ROUND] [-k KIND] [-s ROUTES]
 *   bench_router -c [-s ROUTES]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "userspace/router.h"

#define N_REQ 65536			/* requests cycled through; a power of 2 */
#define ROUNDS 5
#define CHANGES 2000			/* per table size, with -c */
#define DELTA_MAX 256			/* routes in a delta before it is folded */

enum kind { K_STATIC, K_PREFIX, K_PARAM, K_WILDCARD, K_COUNT };

static const char *const kind_names[K_COUNT] = { "static", "prefix", "param", "wildcard_host" };
static const char *const resources[] = { "items", "orders", "users", "invoices", "events" };

struct reqs {
	struct weir_route_req *req;
	uintptr_t *want;		/* route payload expected */
	char *buf;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* The host and path pattern of route i of a kind, and a request for it. */
static void route_of(unsigned k, unsigned i, char *host, char *pat, char *rhost, char *rpath)
{
	const char *res = resources[i % 5];

	host[0] = rhost[0] = '\0';
	switch (k) {
	case K_STATIC:
		sprintf(pat, "/v1/svc%u/%s/res%u", i / 100, res, i);
		strcpy(rpath, pat);
		break;
	case K_PREFIX:
		sprintf(pat, "/api/svc%u/*", i);
		sprintf(rpath, "/api/svc%u/%s/%u/detail", i, res, i * 7919 % 100000);
		break;
	case K_PARAM:
		sprintf(pat, "/svc%u/users/:id/%s/:oid", i, res);
		sprintf(rpath, "/svc%u/users/%u/%s/ord-%u", i, i * 7919 % 1000003, res, i % 977);
		break;
	default:
		sprintf(host, "*.tenant%u.example.com", i);
		sprintf(rhost, "app.tenant%u.example.com", i);
		strcpy(pat, "/*");
		strcpy(rpath, "/index.html");
	}
}

static struct weir_router *make(enum kind k, unsigned n)
{
	struct weir_router *r = weir_router_new();
	char host[96], pat[128], rh[96], rp[128], id[32], err[256];
	unsigned i;

	if (!r)
		exit(1);
	for (i = 0; i < n; i++) {
		route_of(k, i, host, pat, rh, rp);
		snprintf(id, sizeof(id), "r%u", i);
		if (weir_router_add(r, id, host[0] ? host : NULL, pat, 0, NULL, 0, 0,
				    (void *)(uintptr_t)(i + 1), err, sizeof(err))) {
			fprintf(stderr, "add: %s\n", err);
			exit(1);
		}
	}
	if (weir_router_build(r, err, sizeof(err))) {
		fprintf(stderr, "build: %s\n", err);
		exit(1);
	}
	return r;
}

/* Requests for routes picked at random, of kind k, or of the kinds mixed
 * as add_mixed() makes them (k < 0); want[i] is the payload of the route. */
static void make_reqs(int k, unsigned n, struct reqs *q)
{
	char host[96], pat[128], rh[96], rp[128];
	size_t off = 0, hl, pl;
	unsigned i, x;

	q->req = calloc(N_REQ, sizeof(*q->req));
	q->want = calloc(N_REQ, sizeof(*q->want));
	q->buf = malloc((size_t)N_REQ * 256);
	if (!q->req || !q->want || !q->buf)
		exit(1);
	for (i = 0; i < N_REQ; i++) {
		x = rng() % n;
		route_of(k < 0 ? x % 4 : (unsigned)k, x, host, pat, rh, rp);
		hl = strlen(rh);
		pl = strlen(rp);
		memcpy(q->buf + off, rh, hl);
		memcpy(q->buf + off + hl, rp, pl);
		q->req[i] = (struct weir_route_req){
			.host = q->buf + off, .host_len = hl,
			.path = q->buf + off + hl, .path_len = pl, .method = WEIR_M_GET,
		};
		q->want[i] = x + 1;
		off += hl + pl;
	}
}

static void reqs_free(struct reqs *q)
{
	free(q->req);
	free(q->want);
	free(q->buf);
}

/* Prints the results on stdout and frees them. */
static int print_json(json_t *out)
{
	char *js = json_dumps(out, JSON_INDENT(1) | JSON_REAL_PRECISION(4));

	json_decref(out);
	if (!js)
		return 1;
	printf("%s\n", js);
	free(js);
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct layers {
	unsigned n;
	uint8_t *dead;			/* by route, in the base */
	uint8_t *in_delta;		/* replaced: its replacement is in the delta */
	unsigned *delta_ids, n_delta;
	struct weir_router *base, *delta;
};

static bool layer_dead(const void *route, const void *arg)
{
	const struct layers *l = arg;
	uintptr_t p = (uintptr_t)route;

	return p <= l->n && l->dead[p - 1];
}

static int layer_order(const void *a, const void *b)
{
	(void)a, (void)b;
	return 1;			/* a replacement comes after the one it replaced */
}

/* The median over ROUNDS of ns per match: with the router r, or (r NULL)
 * with the layers l. Inlined into both callers, so that neither pays for the
 * other's branch. */
static inline __attribute__((always_inline)) double
time_rounds(const struct weir_router *r, const struct layers *l, const struct reqs *q,
	    unsigned iters)
{
	struct weir_router_skip skip = { layer_dead, l };
	struct weir_route_match m;
	double t[ROUNDS], t0;
	uintptr_t sink = 0;
	unsigned round, i;
	bool hit;

	for (round = 0; round < ROUNDS; round++) {
		t0 = now_ns();
		for (i = 0; i < iters; i++) {
			const struct weir_route_req *req = &q->req[i & (N_REQ - 1)];

			hit = r ? weir_router_match(r, req, &m)
				: weir_router_match_layered(l->base, &skip, l->delta, layer_order,
							    req, &m);
			if (hit)
				sink += (uintptr_t)m.route;
		}
		t[round] = (now_ns() - t0) / iters;
	}
	if (sink == 1)
		fprintf(stderr, " ");
	qsort(t, ROUNDS, sizeof(*t), cmp_double);
	return t[ROUNDS / 2];
}

static double time_matches(const struct weir_router *r, const struct reqs *q, unsigned iters)
{
	return time_rounds(r, NULL, q, iters);
}

static double time_layered(const struct layers *l, const struct reqs *q, unsigned iters)
{
	return time_rounds(NULL, l, q, iters);
}

/* ---- -c: changes --------------------------------------------------------- */

/* Route i of the mixed table: kind i % 4, payload i + 1; the replacement of
 * route i (same host and pattern, another payload) is payload n + i + 1. */
static int add_mixed(struct weir_router *r, unsigned n, unsigned i, bool replacement)
{
	char host[96], pat[128], rh[96], rp[128], id[32], err[256];

	route_of(i % 4, i, host, pat, rh, rp);
	snprintf(id, sizeof(id), "r%u", i);
	if (weir_router_add(r, id, host[0] ? host : NULL, pat, 0, NULL, 0, 0,
			    (void *)(uintptr_t)(i + 1 + (replacement ? n : 0)), err, sizeof(err))) {
		fprintf(stderr, "add: %s\n", err);
		exit(1);
	}
	return 0;
}

static struct weir_router *build_set(const struct layers *l, bool whole)
{
	struct weir_router *r = weir_router_new();
	char err[256];

	if (!r)
		exit(1);
	if (whole) {
		for (unsigned i = 0; i < l->n; i++)
			add_mixed(r, l->n, i, l->in_delta[i]);
	} else {
		for (unsigned k = 0; k < l->n_delta; k++)
			add_mixed(r, l->n, l->delta_ids[k], true);
	}
	if (weir_router_build(r, err, sizeof(err))) {
		fprintf(stderr, "build: %s\n", err);
		exit(1);
	}
	return r;
}

static double wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int bench_changes(unsigned only_size, unsigned iters)
{
	static const unsigned sizes[] = { 1000, 10000, 100000 };
	static double t[CHANGES];
	json_t *out = json_array();

	fprintf(stderr, "%8s %12s %12s %12s %12s %12s %12s\n", "routes", "change p50",
		"change p99", "fold (bg)", "full rebuild", "ns/match 1", "ns/match 2");
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned n = sizes[s], folds = 0;
		struct layers l = { .n = n };
		struct weir_router *single;
		struct weir_route_match m;
		struct weir_router_skip skip = { layer_dead, &l };
		double t0, fold = 0, full, ns1, ns2;
		struct reqs q;

		if (only_size && only_size != n)
			continue;
		l.dead = calloc(n, 1);
		l.in_delta = calloc(n, 1);
		l.delta_ids = calloc(DELTA_MAX, sizeof(*l.delta_ids));
		if (!l.dead || !l.in_delta || !l.delta_ids)
			return 1;
		t0 = wall_ns();
		l.base = build_set(&l, true);
		full = wall_ns() - t0;
		l.delta = NULL;
		for (unsigned c = 0; c < CHANGES; c++) {
			unsigned i = rng() % n;

			/* One change: a route replaced. A route already in the
			 * delta is replaced there (its old payload was dead). */
			t0 = wall_ns();
			if (!l.in_delta[i]) {
				l.dead[i] = 1;
				l.in_delta[i] = 1;
				l.delta_ids[l.n_delta++] = i;
			}
			struct weir_router *d = build_set(&l, false);
			weir_router_free(l.delta);
			l.delta = d;
			t[c] = wall_ns() - t0;
			if (l.n_delta == DELTA_MAX) {
				/* Fold: a new base of every live route. */
				t0 = wall_ns();
				struct weir_router *b = build_set(&l, true);
				fold += wall_ns() - t0;
				folds++;
				weir_router_free(l.base);
				weir_router_free(l.delta);
				l.base = b;
				l.delta = NULL;
				memset(l.dead, 0, n);
				/* The new base holds the replacements: none is
				 * in a delta any more, and a later change of the
				 * same route must mark it dead again. */
				l.n_delta = 0;
				for (unsigned k = 0; k < n; k++)
					l.in_delta[k] = 0;
				/* (payloads n + i + 1 stay live in the base) */
			}
		}
		qsort(t, CHANGES, sizeof(*t), cmp_double);
		/* Matches: the layers as the stream left them (a delta of some
		 * routes) beside a single router of the same live routes. */
		if (!l.delta || l.n_delta < DELTA_MAX / 2) {
			while (l.n_delta < DELTA_MAX / 2) {
				unsigned i = rng() % n;

				if (!l.in_delta[i]) {
					l.dead[i] = 1;
					l.in_delta[i] = 1;
					l.delta_ids[l.n_delta++] = i;
				}
			}
			weir_router_free(l.delta);
			l.delta = build_set(&l, false);
		}
		single = build_set(&l, true);
		make_reqs(-1, n, &q);
		for (unsigned i = 0; i < N_REQ; i++) {
			uintptr_t x = q.want[i] - 1;
			bool ok1 = weir_router_match(single, &q.req[i], &m) &&
				   (uintptr_t)m.route == x + 1 + (l.in_delta[x] ? n : 0);
			bool ok2 = weir_router_match_layered(l.base, &skip, l.delta, layer_order,
							     &q.req[i], &m) &&
				   ((uintptr_t)m.route == x + 1 + n ||
				    ((uintptr_t)m.route == x + 1 && !l.in_delta[x]));

			if (!ok1 || !ok2) {
				fprintf(stderr, "request %u matched wrongly (%s)\n", i,
					ok1 ? "layers" : "single");
				return 1;
			}
		}
		ns1 = time_matches(single, &q, iters);
		ns2 = time_layered(&l, &q, iters);
		fprintf(stderr, "%8u %10.1fus %10.1fus %10.1fms %10.1fms %12.1f %12.1f\n", n,
			t[CHANGES / 2] / 1e3, t[CHANGES * 99 / 100] / 1e3,
			folds ? fold / folds / 1e6 : 0, full / 1e6, ns1, ns2);
		json_array_append_new(out, json_pack(
			"{s:i,s:i,s:i,s:f,s:f,s:f,s:i,s:f,s:f,s:f}", "routes", (json_int_t)n,
			"changes", (json_int_t)CHANGES, "delta_max", (json_int_t)DELTA_MAX,
			"change_p50_us", t[CHANGES / 2] / 1e3,
			"change_p99_us", t[CHANGES * 99 / 100] / 1e3,
			"fold_ms", folds ? fold / folds / 1e6 : 0.0, "folds", (json_int_t)folds,
			"full_rebuild_ms", full / 1e6, "ns_per_match_single", ns1,
			"ns_per_match_layers", ns2));
		weir_router_free(single);
		weir_router_free(l.base);
		weir_router_free(l.delta);
		free(l.dead);
		free(l.in_delta);
		free(l.delta_ids);
		reqs_free(&q);
	}
	return print_json(out);
}

int main(int argc, char **argv)
{
	static const unsigned sizes[] = { 1000, 10000, 100000 };
	unsigned iters = 2000000, only_size = 0, s, i;
	const char *only_kind = NULL;
	json_t *out = json_array();
	struct weir_route_match m;
	struct weir_router *r;
	struct reqs q;
	double ns, bpr;
	int opt, k;

	bool changes = false;

	while ((opt = getopt(argc, argv, "cn:k:s:")) != -1) {
		if (opt == 'c')
			changes = true;
		else if (opt == 'k')
			only_kind = optarg;
		else if (opt == 's')
			only_size = strtoul(optarg, NULL, 10);
		else if (opt != 'n' || !(iters = strtoul(optarg, NULL, 10))) {
			fprintf(stderr, "usage: %s [-n MATCHES_PER_ROUND] [-k KIND] [-s ROUTES]\n"
				"       %s -c [-n MATCHES_PER_ROUND] [-s ROUTES]\n", argv[0], argv[0]);
			return 2;
		}
	}
	if (changes)
		return bench_changes(only_size, iters);
	fprintf(stderr, "%-14s %8s %12s %14s\n", "kind", "routes", "ns/match", "bytes/route");
	for (k = 0; k < K_COUNT; k++) {
		if (only_kind && strcmp(only_kind, kind_names[k]))
			continue;
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			if (only_size && only_size != sizes[s])
				continue;
			r = make(k, sizes[s]);
			make_reqs(k, sizes[s], &q);
			for (i = 0; i < N_REQ; i++) {
				if (!weir_router_match(r, &q.req[i], &m) ||
				    (uintptr_t)m.route != q.want[i]) {
					fprintf(stderr, "%s: request %u matched wrongly\n",
						kind_names[k], i);
					return 1;
				}
			}
			ns = time_matches(r, &q, iters);
			bpr = (double)weir_router_memory(r) / sizes[s];
			fprintf(stderr, "%-14s %8u %12.1f %14.1f\n", kind_names[k], sizes[s], ns, bpr);
			json_array_append_new(out, json_pack("{s:s,s:i,s:f,s:f}", "kind", kind_names[k],
							     "routes", (json_int_t)sizes[s],
							     "ns_per_match", ns, "bytes_per_route", bpr));
			weir_router_free(r);
			reqs_free(&q);
		}
	}
	return print_json(out);
}
