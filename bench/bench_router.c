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
 *   bench_router [-n MATCHES_PER_ROUND] [-k KIND] [-s ROUTES]
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
static void route_of(enum kind k, unsigned i, char *host, char *pat, char *rhost, char *rpath)
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

static void make_reqs(enum kind k, unsigned n, struct reqs *q)
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
		route_of(k, x, host, pat, rh, rp);
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

static double time_matches(const struct weir_router *r, const struct reqs *q, unsigned iters)
{
	struct weir_route_match m;
	double t[ROUNDS], t0;
	uintptr_t sink = 0;
	unsigned round, i;

	for (round = 0; round < ROUNDS; round++) {
		t0 = now_ns();
		for (i = 0; i < iters; i++) {
			if (weir_router_match(r, &q->req[i & (N_REQ - 1)], &m))
				sink += (uintptr_t)m.route;
		}
		t[round] = (now_ns() - t0) / iters;
	}
	if (sink == 1)
		fprintf(stderr, " ");
	qsort(t, ROUNDS, sizeof(*t), cmp_double);
	return t[ROUNDS / 2];
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
	char *js;

	while ((opt = getopt(argc, argv, "n:k:s:")) != -1) {
		if (opt == 'k')
			only_kind = optarg;
		else if (opt == 's')
			only_size = strtoul(optarg, NULL, 10);
		else if (opt != 'n' || !(iters = strtoul(optarg, NULL, 10))) {
			fprintf(stderr, "usage: %s [-n MATCHES_PER_ROUND] [-k KIND] [-s ROUTES]\n",
				argv[0]);
			return 2;
		}
	}
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
			free(q.req);
			free(q.want);
			free(q.buf);
		}
	}
	js = json_dumps(out, JSON_INDENT(1) | JSON_REAL_PRECISION(4));
	if (!js)
		return 1;
	printf("%s\n", js);
	free(js);
	json_decref(out);
	return 0;
}
