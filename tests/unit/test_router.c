/* tests/unit/test_router.c - the router: pattern syntax and its errors,
 * host levels, the precedence of paths and of routes sharing a pattern,
 * params, header and method conditions, and a 100k-route table.
 *
 * Route payloads are string literals naming the route, so a failed check
 * prints which route won instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "userspace/router.h"

struct fx {
	struct weir_router *r;
	struct weir_route_match m;
	char err[256];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || !(f->r = weir_router_new()))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	weir_router_free(f->r);
	free(f);
	return 0;
}

/* Adds route `name` (also its payload); the add must succeed. */
static void add_full(struct fx *f, const char *host, const char *path, uint32_t methods,
		     const struct weir_header_match_conf *h, size_t n_h, int32_t prio,
		     const char *name)
{
	int rc = weir_router_add(f->r, name, host, path, methods, h, n_h, prio,
				 (void *)name, f->err, sizeof(f->err));

	if (rc)
		fail_msg("add %s %s: %s", name, path, f->err);
}

static void add(struct fx *f, const char *host, const char *path, const char *name)
{
	add_full(f, host, path, 0, NULL, 0, 0, name);
}

/* Adding must fail with an error naming the route and holding `why`. */
static void add_bad(struct fx *f, const char *host, const char *path, const char *why)
{
	f->err[0] = '\0';
	assert_int_equal(weir_router_add(f->r, "bad", host, path, 0, NULL, 0, 0, "bad",
					 f->err, sizeof(f->err)), -1);
	if (!strstr(f->err, "route bad") || !strstr(f->err, why))
		fail_msg("host %s path %s: error '%s' lacks '%s'", host ? host : "-", path,
			 f->err, why);
}

static void build(struct fx *f)
{
	if (weir_router_build(f->r, f->err, sizeof(f->err)))
		fail_msg("build: %s", f->err);
}

/* The name of the route matched, or NULL. */
static const char *route_h(struct fx *f, const char *host, const char *path, uint32_t method,
			   const struct weir_hdr *h, size_t n_h)
{
	struct weir_route_req req = {
		.host = host, .host_len = strlen(host), .path = path, .path_len = strlen(path),
		.method = method, .headers = h, .n_headers = n_h,
	};

	memset(&f->m, 0xa5, sizeof(f->m));
	return weir_router_match(f->r, &req, &f->m) ? f->m.route : NULL;
}

static const char *route(struct fx *f, const char *host, const char *path)
{
	return route_h(f, host, path, WEIR_M_GET, NULL, 0);
}

static void expect(struct fx *f, const char *host, const char *path, const char *want)
{
	const char *got = route(f, host, path);

	if (!want && got)
		fail_msg("%s%s: matched %s, wanted no match", host, path, got);
	if (want && (!got || strcmp(got, want)))
		fail_msg("%s%s: matched %s, wanted %s", host, path, got ? got : "nothing", want);
}

static void expect_param(struct fx *f, unsigned i, const char *name, const char *value)
{
	assert_true(i < f->m.n_params);
	assert_string_equal(f->m.params[i].name, name);
	assert_int_equal(f->m.params[i].len, strlen(value));
	assert_memory_equal(f->m.params[i].value, value, strlen(value));
}

static void test_static(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/a/b", "ab");
	add(f, NULL, "/a/bc", "abc");
	add(f, NULL, "/", "root");
	build(f);
	expect(f, "", "/a/b", "ab");
	expect(f, "", "/a/bc", "abc");
	expect(f, "", "/", "root");
	expect(f, "", "/a/b/", NULL);
	expect(f, "", "/a", NULL);
	expect(f, "", "/a/bcd", NULL);
	expect(f, "", "/A/B", NULL);
	expect(f, "", "", NULL);
}

static void test_no_match_empty(void **state)
{
	struct fx *f = *state;

	build(f);
	expect(f, "", "/", NULL);
	expect(f, "example.com", "/x", NULL);
}

static void test_static_over_param(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/users/:id", "param");
	add(f, NULL, "/users/new", "static");
	build(f);
	expect(f, "", "/users/new", "static");
	expect(f, "", "/users/42", "param");
	expect_param(f, 0, "id", "42");
	expect(f, "", "/users/newer", "param");
	expect(f, "", "/users/", NULL);
	expect(f, "", "/users/4/2", NULL);
}

static void test_param_over_prefix(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/users/*", "prefix");
	add(f, NULL, "/users/:id", "param");
	build(f);
	expect(f, "", "/users/42", "param");
	expect(f, "", "/users/42/x", "prefix");
	expect(f, "", "/users/", "prefix");
	expect(f, "", "/users", "prefix");
}

/* Static before param at the same segment, and back to the param when the
 * static branch fails further down. */
static void test_backtracking(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/a/b/c", "static");
	add(f, NULL, "/a/:x/d", "param");
	add(f, NULL, "/a/:x/c", "param-c");
	add(f, NULL, "/:p/:q/:r/e", "params");
	build(f);
	expect(f, "", "/a/b/c", "static");
	expect(f, "", "/a/b/d", "param");
	expect_param(f, 0, "x", "b");
	expect(f, "", "/a/z/c", "param-c");
	expect(f, "", "/a/b/c/e", "params");
	assert_int_equal(f->m.n_params, 3);
	expect_param(f, 0, "p", "a");
	expect_param(f, 1, "q", "b");
	expect_param(f, 2, "r", "c");
	expect(f, "", "/a/b/e", NULL);
}

static void test_prefix(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/api/*", "api");
	add(f, NULL, "/api/v1/*", "v1");
	add(f, NULL, "/st*", "st");
	add(f, NULL, "/static", "static");
	add(f, NULL, "/api", "api-exact");
	build(f);
	expect(f, "", "/api", "api-exact");
	expect(f, "", "/api/", "api");
	expect(f, "", "/api/x/y", "api");
	expect(f, "", "/apix", NULL);
	expect(f, "", "/api/v1/x", "v1");
	expect(f, "", "/api/v1", "v1");
	expect(f, "", "/api/v1/", "v1");
	expect(f, "", "/api/v2", "api");
	expect(f, "", "/api/v10", "api");
	expect(f, "", "/st", "st");
	expect(f, "", "/static", "static");
	expect(f, "", "/statics", "st");
	expect(f, "", "/s", NULL);
}

/* At one position the static continuation is tried first, even when it
 * ends in a prefix route within the segment ("/a/b*" over "/a/:x"). */
static void test_mid_segment_prefix(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/a/:x", "param");
	add(f, NULL, "/a/b*", "prefix-b");
	add(f, NULL, "/*", "all");
	build(f);
	expect(f, "", "/a/bc", "prefix-b");
	expect(f, "", "/a/cc", "param");
	expect(f, "", "/a/cc/d", "all");
	expect(f, "", "/", "all");
}

static void test_params(void **state)
{
	struct fx *f = *state;
	const char *path = "/users/u-17/orders/o.9";

	add(f, NULL, "/users/:id/orders/:oid", "order");
	add(f, NULL, "/users/:id/files/*", "files");
	add(f, NULL, "/v1/things:batch", "colon");
	add(f, NULL, "/v1/:name", "name");
	build(f);
	assert_string_equal(route(f, "", path), "order");
	assert_int_equal(f->m.n_params, 2);
	expect_param(f, 0, "id", "u-17");
	expect_param(f, 1, "oid", "o.9");
	assert_ptr_equal(f->m.params[0].value, path + 7);
	assert_ptr_equal(f->m.params[1].value, path + 19);
	expect(f, "", "/users//orders/1", NULL);
	expect(f, "", "/users/7/files/a/b", "files");
	expect_param(f, 0, "id", "7");
	assert_int_equal(f->m.n_params, 1);
	expect(f, "", "/users/7/files", "files");
	expect(f, "", "/users/7/filesx", NULL);
	expect(f, "", "/v1/things:batch", "colon");
	expect(f, "", "/v1/things:other", "name");
	expect_param(f, 0, "name", "things:other");
}

static void test_max_params(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/:a/:b/:c/:d/:e/:f/:g/:h", "eight");
	add_bad(f, NULL, "/:a/:b/:c/:d/:e/:f/:g/:h/:i", "more than 8 parameters");
	build(f);
	expect(f, "", "/1/2/3/4/5/6/7/8", "eight");
	assert_int_equal(f->m.n_params, 8);
	expect_param(f, 7, "h", "8");
	expect(f, "", "/1/2/3/4/5/6/7/8/9", NULL);
}

static void test_wildcard_hosts(void **state)
{
	struct fx *f = *state;

	add(f, "*.example.com", "/*", "wild");
	add(f, "*.b.example.com", "/*", "wild-b");
	add(f, "API.Example.com", "/*", "exact");
	build(f);
	expect(f, "a.example.com", "/", "wild");
	expect(f, "a.b.example.com", "/x", "wild-b");
	expect(f, "x.a.b.example.com", "/x", "wild-b");
	expect(f, "b.example.com", "/x", "wild");
	expect(f, "example.com", "/", NULL);
	expect(f, ".example.com", "/", NULL);
	expect(f, "xexample.com", "/", NULL);
	expect(f, "a.example.org", "/", NULL);
	expect(f, "api.example.com", "/", "exact");
	expect(f, "api.example.com.", "/", "exact");
	expect(f, "x.api.example.com", "/", "wild");
	expect(f, "", "/", NULL);
}

/* The first host level with an acceptable route wins; otherwise the next. */
static void test_host_fallthrough(void **state)
{
	struct fx *f = *state;

	add(f, "a.example.com", "/x", "exact-x");
	add(f, "*.example.com", "/y", "wild-y");
	add(f, "*.example.com", "/x", "wild-x");
	add(f, "*.b.example.com", "/b", "wild-b");
	add(f, NULL, "/z", "any-z");
	add(f, NULL, "/*", "any");
	add_full(f, "a.example.com", "/get", WEIR_M_GET, NULL, 0, 0, "exact-get");
	add(f, NULL, "/get", "any-get");
	build(f);
	expect(f, "a.example.com", "/x", "exact-x");
	expect(f, "a.example.com", "/y", "wild-y");
	expect(f, "a.example.com", "/z", "any-z");
	expect(f, "a.example.com", "/w", "any");
	expect(f, "b.example.com", "/x", "wild-x");
	expect(f, "a.b.example.com", "/b", "wild-b");
	expect(f, "a.b.example.com", "/x", "wild-x");
	expect(f, "a.b.example.com", "/w", "any");
	expect(f, "other.org", "/x", "any");
	expect(f, "", "/z", "any-z");
	assert_string_equal(route_h(f, "a.example.com", "/get", WEIR_M_GET, NULL, 0), "exact-get");
	assert_string_equal(route_h(f, "a.example.com", "/get", WEIR_M_POST, NULL, 0), "any-get");
}

static void test_methods(void **state)
{
	struct fx *f = *state;

	add_full(f, NULL, "/r", WEIR_M_GET | WEIR_M_HEAD, NULL, 0, 0, "read");
	add_full(f, NULL, "/r", WEIR_M_POST, NULL, 0, 0, "write");
	add(f, NULL, "/m", "any");
	add_full(f, NULL, "/m", WEIR_M_DELETE, NULL, 0, 0, "delete");
	build(f);
	assert_string_equal(route_h(f, "", "/r", WEIR_M_GET, NULL, 0), "read");
	assert_string_equal(route_h(f, "", "/r", WEIR_M_HEAD, NULL, 0), "read");
	assert_string_equal(route_h(f, "", "/r", WEIR_M_POST, NULL, 0), "write");
	assert_null(route_h(f, "", "/r", WEIR_M_DELETE, NULL, 0));
	assert_null(route_h(f, "", "/r", WEIR_M_OTHER, NULL, 0));
	/* a method list before any method, although added later */
	assert_string_equal(route_h(f, "", "/m", WEIR_M_DELETE, NULL, 0), "delete");
	assert_string_equal(route_h(f, "", "/m", WEIR_M_PUT, NULL, 0), "any");
}

/* When no route of the best pattern accepts the method or the headers, the
 * next-best pattern is tried: the param, then the prefix. */
static void test_condition_fallthrough(void **state)
{
	struct fx *f = *state;
	static char *v1[] = { "1" };
	struct weir_header_match_conf h = { "x-v", v1, 1 };
	struct weir_hdr ok = { "x-v", 3, "1", 1 };

	add_full(f, NULL, "/users/new", WEIR_M_POST, NULL, 0, 0, "static-post");
	add_full(f, NULL, "/users/:id", WEIR_M_GET, NULL, 0, 0, "param-get");
	add_full(f, NULL, "/users/*", 0, &h, 1, 0, "prefix-hdr");
	build(f);
	assert_string_equal(route_h(f, "", "/users/new", WEIR_M_POST, NULL, 0), "static-post");
	assert_string_equal(route_h(f, "", "/users/new", WEIR_M_GET, NULL, 0), "param-get");
	expect_param(f, 0, "id", "new");
	assert_string_equal(route_h(f, "", "/users/new", WEIR_M_PUT, &ok, 1), "prefix-hdr");
	assert_int_equal(f->m.n_params, 0);
	assert_null(route_h(f, "", "/users/new", WEIR_M_PUT, NULL, 0));
}

static void test_headers(void **state)
{
	struct fx *f = *state;
	static char *beta[] = { "beta" };
	static char *set[] = { "b", "a", "c" };
	static char *en[] = { "en" };
	struct weir_header_match_conf one = { "x-canary", beta, 1 };
	struct weir_header_match_conf any[] = { { "x-tier", set, 3 } };
	struct weir_header_match_conf two[] = { { "x-canary", beta, 1 }, { "accept-language", en, 1 } };
	struct weir_hdr canary = { "x-canary", 8, "beta", 4 };
	struct weir_hdr canary_uc = { "x-canary", 8, "Beta", 4 };
	struct weir_hdr tier_c = { "x-tier", 6, "c", 1 };
	struct weir_hdr tier_d = { "x-tier", 6, "d", 1 };
	struct weir_hdr both[] = { { "host", 4, "x", 1 }, { "accept-language", 15, "en", 2 },
				   { "x-canary", 8, "beta", 4 } };
	struct weir_hdr dup[] = { { "x-tier", 6, "zz", 2 }, { "x-tier", 6, "a", 1 } };

	add(f, NULL, "/h", "plain");
	add_full(f, NULL, "/h", 0, &one, 1, 0, "canary");
	add_full(f, NULL, "/h", 0, two, 2, 0, "canary-en");
	add_full(f, NULL, "/t", 0, any, 1, 0, "tier");
	build(f);
	assert_string_equal(route_h(f, "", "/h", WEIR_M_GET, NULL, 0), "plain");
	assert_string_equal(route_h(f, "", "/h", WEIR_M_GET, &canary, 1), "canary");
	assert_string_equal(route_h(f, "", "/h", WEIR_M_GET, &canary_uc, 1), "plain");
	/* more header conditions first */
	assert_string_equal(route_h(f, "", "/h", WEIR_M_GET, both, 3), "canary-en");
	assert_string_equal(route_h(f, "", "/h", WEIR_M_GET, both, 2), "plain");
	assert_string_equal(route_h(f, "", "/t", WEIR_M_GET, &tier_c, 1), "tier");
	assert_null(route_h(f, "", "/t", WEIR_M_GET, &tier_d, 1));
	assert_null(route_h(f, "", "/t", WEIR_M_GET, NULL, 0));
	assert_string_equal(route_h(f, "", "/t", WEIR_M_GET, dup, 2), "tier");
}

static void test_priority(void **state)
{
	struct fx *f = *state;
	static char *beta[] = { "beta" };
	struct weir_header_match_conf one = { "x-canary", beta, 1 };
	struct weir_hdr canary = { "x-canary", 8, "beta", 4 };

	add_full(f, NULL, "/p", 0, &one, 1, 0, "headers");
	add_full(f, NULL, "/p", 0, NULL, 0, 5, "high");
	add_full(f, NULL, "/p", 0, NULL, 0, -1, "low");
	/* ties: same priority, conditions and kind of method list */
	add_full(f, NULL, "/t", WEIR_M_GET | WEIR_M_POST, NULL, 0, 0, "first");
	add_full(f, NULL, "/t", WEIR_M_GET, NULL, 0, 0, "second");
	add_full(f, NULL, "/u", WEIR_M_GET, NULL, 0, 0, "u-first");
	add_full(f, NULL, "/u", WEIR_M_GET | WEIR_M_POST, NULL, 0, 0, "u-second");
	build(f);
	assert_string_equal(route_h(f, "", "/p", WEIR_M_GET, &canary, 1), "high");
	assert_string_equal(route_h(f, "", "/t", WEIR_M_GET, NULL, 0), "first");
	assert_string_equal(route_h(f, "", "/t", WEIR_M_POST, NULL, 0), "first");
	assert_string_equal(route_h(f, "", "/u", WEIR_M_GET, NULL, 0), "u-first");
	assert_string_equal(route_h(f, "", "/u", WEIR_M_POST, NULL, 0), "u-second");
}

static void test_priority_over_headers(void **state)
{
	struct fx *f = *state;
	static char *beta[] = { "beta" };
	struct weir_header_match_conf one = { "x-canary", beta, 1 };
	struct weir_hdr canary = { "x-canary", 8, "beta", 4 };

	add_full(f, NULL, "/p", 0, NULL, 0, -1, "low");
	add_full(f, NULL, "/p", 0, &one, 1, -2, "headers");
	build(f);
	assert_string_equal(route_h(f, "", "/p", WEIR_M_GET, &canary, 1), "low");
}

static void test_duplicate(void **state)
{
	struct fx *f = *state;
	static char *ab[] = { "a", "b" }, *ba[] = { "b", "a" }, *one[] = { "1" };
	struct weir_header_match_conf h1[] = { { "x-a", ab, 2 }, { "x-b", one, 1 } };
	struct weir_header_match_conf h2[] = { { "x-b", one, 1 }, { "X-A", ba, 2 } };

	add_full(f, "a.com", "/users/:id", WEIR_M_GET, h1, 2, 3, "orig");
	assert_int_equal(weir_router_add(f->r, "copy", "A.com", "/users/:uid", WEIR_M_GET, h2, 2,
					 3, "copy", f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "route copy: duplicate of route orig"));
	add_full(f, "a.com", "/users/:id", WEIR_M_GET, h1, 2, 4, "other-priority");
	add_full(f, "a.com", "/users/:id", WEIR_M_POST, h1, 2, 3, "other-method");
	add_full(f, "a.com", "/users/:id", WEIR_M_GET, h1, 1, 3, "other-headers");
	add_full(f, "*.a.com", "/users/:id", WEIR_M_GET, h1, 2, 3, "other-host");
	add_full(f, "a.com", "/users/:id/*", WEIR_M_GET, h1, 2, 3, "other-path");
	add(f, NULL, "/x", "x");
	assert_int_equal(weir_router_add(f->r, "x2", NULL, "/x", 0, NULL, 0, 0, "x2",
					 f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "duplicate of route x "));
	/* a condition written twice is one condition */
	assert_int_equal(weir_router_add(f->r, "twice", "a.com", "/users/:id", WEIR_M_GET,
					 (struct weir_header_match_conf[]){ h1[0], h1[0] }, 2,
					 3, "twice", f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "duplicate of route other-headers"));
	/* the same payload under several paths is fine */
	assert_int_equal(weir_router_add(f->r, "x", NULL, "/y", 0, NULL, 0, 0, "x",
					 f->err, sizeof(f->err)), 0);
	assert_int_equal(weir_router_count(f->r), 8);
	build(f);
	expect(f, "", "/x", "x");
	expect(f, "", "/y", "x");
}

static void test_bad_patterns(void **state)
{
	struct fx *f = *state;

	add_bad(f, NULL, "/a/*/b", "'*' is only allowed as the last character");
	add_bad(f, NULL, "/a**", "'*' is only allowed as the last character");
	add_bad(f, NULL, "/a/:", "empty parameter name");
	add_bad(f, NULL, "/a/:/b", "empty parameter name");
	add_bad(f, NULL, "/a/:x/:x", "duplicate parameter name");
	add_bad(f, NULL, "/a/:x/b/:x/*", "duplicate parameter name");
	add_bad(f, NULL, "a/b", "must start with '/'");
	add_bad(f, NULL, "", "must start with '/'");
	add_bad(f, NULL, "*", "must start with '/'");
	add_bad(f, NULL, "/users/:id*", "a parameter is a whole segment");
	add_bad(f, NULL, "/users/:id.json", "a parameter is a whole segment");
	add_bad(f, NULL, "/a b", "bad character");
	add_bad(f, NULL, "/a?b=1", "bad character");
	add_bad(f, "*foo.com", "/", "'*' only as a whole first label");
	add_bad(f, "a.*.com", "/", "'*' only as a whole first label");
	add_bad(f, "*", "/", "'*' only as a whole first label");
	add_bad(f, "*.", "/", "'*' only as a whole first label");
	add_bad(f, "", "/", "empty");
	add_bad(f, "a..com", "/", "empty label");
	add_bad(f, ".a.com", "/", "empty label");
	add_bad(f, "*..a.com", "/", "empty label");
	add_bad(f, "example.com:80", "/", "must not hold a port");
	add_bad(f, "exa mple.com", "/", "bad character");
	add_bad(f, "[::1", "/", "bad IPv6 literal");
	assert_int_equal(weir_router_add(f->r, "m", NULL, "/", 1u << 20, NULL, 0, 0, "m",
					 f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "unknown method bits"));
	assert_int_equal(weir_router_count(f->r), 0);
	add(f, "[::1]", "/", "v6");
	add(f, "127.0.0.1", "/", "v4");
	build(f);
	expect(f, "[::1]", "/", "v6");
	expect(f, "127.0.0.1", "/", "v4");
	/* failed adds left nothing behind */
	expect(f, "", "/a/x/b", NULL);
	expect(f, "", "/users/1", NULL);
}

static void test_lifecycle(void **state)
{
	struct fx *f = *state;

	add(f, NULL, "/", "root");
	expect(f, "", "/", NULL);	/* not built yet */
	build(f);
	expect(f, "", "/", "root");
	assert_int_equal(weir_router_build(f->r, f->err, sizeof(f->err)), -1);
	assert_int_equal(weir_router_add(f->r, "late", NULL, "/late", 0, NULL, 0, 0, "late",
					 f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "already built"));
	assert_true(weir_router_memory(f->r) > 0);
}

#define SCALE 100000

/* 100k routes of every kind across host levels; every one is found, and
 * near misses are not. */
static void test_scale(void **state)
{
	struct fx *f = *state;
	static char names[SCALE][48];
	char path[96], host[64];
	int i;

	for (i = 0; i < SCALE; i++) {
		switch (i % 4) {
		case 0:
			snprintf(names[i], sizeof(names[i]), "/v1/svc%d/items/res%d", i / 97, i);
			add(f, NULL, names[i], names[i]);
			break;
		case 1:
			snprintf(names[i], sizeof(names[i]), "/api/svc%d/*", i);
			add(f, NULL, names[i], names[i]);
			break;
		case 2:
			snprintf(names[i], sizeof(names[i]), "/u%d/:id/orders/:oid", i);
			add(f, NULL, names[i], names[i]);
			break;
		default:
			snprintf(host, sizeof(host), "*.tenant%d.example.com", i);
			snprintf(names[i], sizeof(names[i]), "/t%d", i);
			add(f, host, names[i], names[i]);
		}
	}
	build(f);
	for (i = 0; i < SCALE; i++) {
		switch (i % 4) {
		case 0:
			expect(f, "", names[i], names[i]);
			snprintf(path, sizeof(path), "%sx", names[i]);
			expect(f, "", path, NULL);
			break;
		case 1:
			snprintf(path, sizeof(path), "/api/svc%d/x/y", i);
			expect(f, "", path, names[i]);
			snprintf(path, sizeof(path), "/api/svc%d", i);
			expect(f, "", path, names[i]);
			snprintf(path, sizeof(path), "/api/svc%dx", i);
			expect(f, "", path, NULL);
			break;
		case 2:
			snprintf(path, sizeof(path), "/u%d/ab%d/orders/%d", i, i, i * 3);
			expect(f, "", path, names[i]);
			assert_int_equal(f->m.n_params, 2);
			assert_int_equal(f->m.params[1].len, snprintf(host, sizeof(host), "%d", i * 3));
			break;
		default:
			snprintf(host, sizeof(host), "w.tenant%d.example.com", i);
			expect(f, host, names[i], names[i]);
			expect(f, host + 2, names[i], NULL);
			expect(f, "", names[i], NULL);
		}
	}
	assert_int_equal(weir_router_count(f->r), SCALE);
}

/* ---- layers: a base less its dead routes, plus a delta ---------------- */

/* A route of the layered tests: its payload carries what orders routes of
 * one pattern (router.h, 3.). */
struct lroute {
	char name[16];
	const char *host;
	char path[48];
	uint32_t methods;
	int32_t prio;
	struct weir_header_match_conf hdr;
	size_t n_hdr;
	uint32_t seq;
	int where;			/* 0 base, 1 base but dead, 2 delta */
};

static int lroute_order(const void *a, const void *b)
{
	const struct lroute *x = a, *y = b;

	if (x->prio != y->prio)
		return x->prio > y->prio ? -1 : 1;
	if (x->n_hdr != y->n_hdr)
		return x->n_hdr > y->n_hdr ? -1 : 1;
	if (!x->methods != !y->methods)
		return x->methods ? -1 : 1;
	return x->seq < y->seq ? -1 : 1;
}

static bool lroute_dead(const void *route, const void *arg)
{
	(void)arg;
	return ((const struct lroute *)route)->where == 1;
}

static uint64_t lrng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	lrng ^= lrng << 13;
	lrng ^= lrng >> 7;
	lrng ^= lrng << 17;
	return (unsigned)(lrng % n);
}

static int ladd(struct weir_router *r, const struct lroute *l)
{
	char err[256];

	return weir_router_add(r, l->name, l->host, l->path, l->methods, &l->hdr, l->n_hdr,
			       l->prio, (void *)l, err, sizeof(err));
}

#define L_ROUTES 48

/* Random route sets full of precedence conflicts (the same few segments,
 * params, prefixes in and after segments, wildcard and exact hosts, methods,
 * priorities, a header), split at random into a base, dead routes of the
 * base and a delta: for every request the layered match must give the route
 * and params a single router of the live routes gives. */
static void test_layered_equivalence(void **state)
{
	static const char *const hosts[] = { NULL, NULL, "a.x", "*.x", "*.a.x", "b.a.x" };
	static const char *const segs[] = { "a", "b", "ab", ":p", ":q" };
	static const char *const rhosts[] = { "", "a.x", "b.a.x", "c.a.x", "x", "q.x" };
	static const char *const rsegs[] = { "a", "b", "ab", "abc", "z" };
	static const char *const vals[] = { "v1", "v2" };
	static struct lroute ls[L_ROUTES];
	unsigned checked = 0, from_delta = 0;

	(void)state;
	for (int round = 0; round < 300; round++) {
		struct weir_router *all = weir_router_new(), *ref = weir_router_new();
		struct weir_router *base = weir_router_new(), *delta = weir_router_new();
		struct weir_router_skip skip = { lroute_dead, NULL };
		char err[256];
		unsigned n = 0;

		assert_true(all && ref && base && delta);
		for (unsigned i = 0; i < L_ROUTES; i++) {
			struct lroute *l = &ls[n];
			size_t len = 0;
			unsigned nseg = 1 + rnd(3);

			memset(l, 0, sizeof(*l));
			snprintf(l->name, sizeof(l->name), "r%u", i);
			l->host = hosts[rnd(6)];
			for (unsigned k = 0; k < nseg; k++)
				len += snprintf(l->path + len, sizeof(l->path) - len, "/%s", segs[rnd(5)]);
			switch (rnd(5)) {
			case 0: strcat(l->path, "*"); break;
			case 1: strcat(l->path, "/*"); break;
			case 2: if (rnd(2)) strcat(l->path, "/"); break;
			}
			l->methods = rnd(3) == 0 ? WEIR_M_POST : rnd(3) == 0 ? WEIR_M_GET : 0;
			l->prio = (int32_t)rnd(2);
			if (rnd(4) == 0) {
				l->hdr.name = "x-v";
				l->hdr.values = (char **)&vals[rnd(2)];
				l->hdr.n_values = 1;
				l->n_hdr = 1;
			}
			l->seq = i;
			l->where = rnd(3);
			/* A pattern the router refuses, or a duplicate of one
			 * already drawn, is left out of every router. */
			if (ladd(all, l) == 0)
				n++;
		}
		for (unsigned i = 0; i < n; i++) {
			if (ls[i].where != 1)
				assert_int_equal(ladd(ref, &ls[i]), 0);
			assert_int_equal(ladd(ls[i].where == 2 ? delta : base, &ls[i]), 0);
		}
		assert_int_equal(weir_router_build(ref, err, sizeof(err)), 0);
		assert_int_equal(weir_router_build(base, err, sizeof(err)), 0);
		assert_int_equal(weir_router_build(delta, err, sizeof(err)), 0);
		for (int q = 0; q < 400; q++) {
			char path[64], host[16];
			size_t len = 0;
			unsigned nseg = 1 + rnd(3);
			struct weir_hdr h = { "x-v", 3, vals[rnd(2)], 2 };
			struct weir_route_match mr, ml;
			bool hr, hl;

			for (unsigned k = 0; k < nseg; k++)
				len += snprintf(path + len, sizeof(path) - len, "/%s", rsegs[rnd(5)]);
			if (rnd(4) == 0)
				strcat(path, "/");
			snprintf(host, sizeof(host), "%s", rhosts[rnd(6)]);
			struct weir_route_req req = {
				.host = host, .host_len = strlen(host), .path = path,
				.path_len = strlen(path), .method = rnd(2) ? WEIR_M_GET : WEIR_M_POST,
				.headers = &h, .n_headers = rnd(2),
			};
			hr = weir_router_match(ref, &req, &mr);
			hl = weir_router_match_layered(base, &skip, delta, lroute_order, &req, &ml);
			if (hr != hl || (hr && mr.route != ml.route))
				fail_msg("round %d: %s%s: single router %s, layers %s", round, host,
					 path, hr ? ((struct lroute *)mr.route)->path : "nothing",
					 hl ? ((struct lroute *)ml.route)->path : "nothing");
			if (!hr)
				continue;
			assert_int_equal(mr.n_params, ml.n_params);
			for (unsigned k = 0; k < mr.n_params; k++) {
				assert_string_equal(mr.params[k].name, ml.params[k].name);
				assert_ptr_equal(mr.params[k].value, ml.params[k].value);
				assert_int_equal(mr.params[k].len, ml.params[k].len);
			}
			checked++;
			from_delta += ((struct lroute *)ml.route)->where == 2;
		}
		weir_router_free(all);
		weir_router_free(ref);
		weir_router_free(base);
		weir_router_free(delta);
	}
	/* The draw must have exercised both layers. */
	assert_true(checked > 10000);
	assert_true(from_delta > 2000 && from_delta < checked - 2000);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_static),
		T(test_no_match_empty),
		T(test_static_over_param),
		T(test_param_over_prefix),
		T(test_backtracking),
		T(test_prefix),
		T(test_mid_segment_prefix),
		T(test_params),
		T(test_max_params),
		T(test_wildcard_hosts),
		T(test_host_fallthrough),
		T(test_methods),
		T(test_condition_fallthrough),
		T(test_headers),
		T(test_priority),
		T(test_priority_over_headers),
		T(test_duplicate),
		T(test_bad_patterns),
		T(test_lifecycle),
		T(test_scale),
		T(test_layered_equivalence),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
