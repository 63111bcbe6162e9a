/* tests/unit/test_limits.c - the decisions of the limit plugins and of
 * ip-restriction, alone: the leaky bucket, fixed and sliding windows,
 * concurrent counts, the shared table's eviction and registry, request keys,
 * CIDR matching at its edges, the headers limit-count writes, and the error
 * of every bad setting.
 *
 * Plugins are driven through their registered callbacks with a request made
 * up here (a client address, headers, a consumer, a one-plugin route) and
 * the worker clock set by hand, so no time passes unless a test says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "userspace/core.h"
#include "userspace/limits.h"
#include "userspace/plugin.h"
#include "userspace/snapshot.h"

/* ---- a made-up request -------------------------------------------------- */

struct fx {
	struct weir_worker w;
	struct weir_client c;
	struct weir_req r;
	struct weir_route rt;
	struct weir_plugin_inst pi;
	struct weir_hdr hdrs[4];
	const struct weir_plugin *p;
	char err[256];
};

static struct fx F;

static void peer(const char *addr)
{
	struct in_addr a4;

	memset(&F.c.peer, 0, sizeof(F.c.peer));
	F.c.peer.sin6_family = AF_INET6;
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		F.c.peer.sin6_addr.s6_addr[10] = 0xff;
		F.c.peer.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&F.c.peer.sin6_addr.s6_addr[12], &a4, 4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &F.c.peer.sin6_addr), 1);
	}
}

/* A fresh request from addr, with one header (name lower case) or none. */
static void req(const char *addr, const char *hname, const char *hvalue)
{
	memset(&F.r, 0, sizeof(F.r));
	peer(addr);
	F.r.client = &F.c;
	F.c.w = &F.w;
	F.r.route = &F.rt;
	F.r.hdrs = F.hdrs;
	if (hname) {
		F.hdrs[0] = (struct weir_hdr){ hname, (uint32_t)strlen(hname), hvalue,
					       (uint32_t)strlen(hvalue) };
		F.r.head.n_fields = 1;
	}
}

/* Configures plugin `name` on route `route` with JSON settings; returns the
 * instance (NULL with F.err set on an error). */
static void *conf(const char *name, const char *route, const char *json)
{
	json_error_t je;
	json_t *j = json_loads(json, 0, &je);
	void *inst = NULL;
	int rc;

	assert_non_null(j);
	weir_plugins_builtin();
	F.p = weir_plugin_find(name);
	assert_non_null(F.p);
	F.err[0] = 0;
	weir_plugin_configuring(route);
	rc = F.p->configure(j, NULL, &inst, F.err, sizeof(F.err));
	weir_plugin_configuring(NULL);
	json_decref(j);
	if (rc < 0)
		return NULL;
	F.pi = (struct weir_plugin_inst){ F.p, inst };
	F.rt.plugins = &F.pi;
	F.rt.n_plugins = 1;
	F.rt.id = route;
	return inst;
}

static int access_(void *inst)
{
	return F.p->access(&F.r, inst);
}

static void end(void *inst)
{
	if (F.p->log)
		F.p->log(&F.r, inst);
}

/* ---- decisions ---------------------------------------------------------- */

static void test_leaky_bucket(void **state)
{
	uint64_t v[4] = { 0 }, retry;

	/* 1/s, burst 2: three at once (each behind the ones before it), then
	 * the fourth waits a second */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(weir_leaky_take(v, 10000, 1000, 2, &retry), 1);
		assert_int_equal(retry, 1000 * i);
	}
	assert_int_equal(weir_leaky_take(v, 10000, 1000, 2, &retry), 0);
	assert_int_equal(retry, 1000);
	/* half a second drains half a request: still full */
	assert_int_equal(weir_leaky_take(v, 10500, 1000, 2, &retry), 0);
	assert_int_equal(retry, 500);
	/* a second later one more fits, and only one */
	assert_int_equal(weir_leaky_take(v, 11000, 1000, 2, &retry), 1);
	assert_int_equal(weir_leaky_take(v, 11000, 1000, 2, &retry), 0);
	/* drained empty: the whole burst again */
	for (int i = 0; i < 3; i++)
		assert_int_equal(weir_leaky_take(v, 20000, 1000, 2, &retry), 1);
	assert_int_equal(weir_leaky_take(v, 20000, 1000, 2, &retry), 0);

	/* burst 0 at 10/s: one per 100 ms */
	uint64_t b[4] = { 0 };
	int admitted = 0;
	for (uint64_t t = 0; t < 1000; t += 10)
		admitted += weir_leaky_take(b, 5000 + t, 10000, 0, &retry);
	assert_int_equal(admitted, 10);
	/* a fractional rate: 0.5/s */
	uint64_t h[4] = { 0 };
	assert_int_equal(weir_leaky_take(h, 1000, 500, 0, &retry), 1);
	assert_int_equal(weir_leaky_take(h, 2000, 500, 0, &retry), 0);
	assert_int_equal(retry, 1000);
	assert_int_equal(weir_leaky_take(h, 3000, 500, 0, &retry), 1);
}

static void test_count_fixed(void **state)
{
	uint64_t v[4] = { 0 };
	struct weir_count_res res;

	for (uint64_t i = 0; i < 3; i++) {
		assert_int_equal(weir_count_take(v, 5200, 3, 1000, false, &res), 1);
		assert_int_equal(res.remaining, 2 - i);
		assert_int_equal(res.reset_ms, 800);
	}
	assert_int_equal(weir_count_take(v, 5999, 3, 1000, false, &res), 0);
	assert_int_equal(res.remaining, 0);
	assert_int_equal(res.reset_ms, 1);
	/* the next window starts from nothing (fixed ignores the last one) */
	assert_int_equal(weir_count_take(v, 6000, 3, 1000, false, &res), 1);
	assert_int_equal(res.remaining, 2);
	assert_int_equal(res.reset_ms, 1000);
	/* windows later: still fresh */
	assert_int_equal(weir_count_take(v, 60000, 3, 1000, false, &res), 1);
	assert_int_equal(res.remaining, 2);
}

static void test_count_sliding(void **state)
{
	uint64_t v[4] = { 0 };
	struct weir_count_res res;

	for (int i = 0; i < 4; i++)
		assert_int_equal(weir_count_take(v, 10900, 4, 1000, true, &res), 1);
	assert_int_equal(weir_count_take(v, 10900, 4, 1000, true, &res), 0);
	/* the window turns: the last one still weighs in full */
	assert_int_equal(weir_count_take(v, 11000, 4, 1000, true, &res), 0);
	/* halfway, half of it: two fit */
	assert_int_equal(weir_count_take(v, 11500, 4, 1000, true, &res), 1);
	assert_int_equal(res.remaining, 1);
	assert_int_equal(weir_count_take(v, 11500, 4, 1000, true, &res), 1);
	assert_int_equal(res.remaining, 0);
	assert_int_equal(weir_count_take(v, 11500, 4, 1000, true, &res), 0);
	/* one more fits once 4 * (1000 - t) / 1000 <= 1: t = 750 */
	assert_int_equal(res.reset_ms, 250);
	assert_int_equal(weir_count_take(v, 11749, 4, 1000, true, &res), 0);
	assert_int_equal(weir_count_take(v, 11750, 4, 1000, true, &res), 1);
	/* two windows on, nothing weighs */
	for (int i = 0; i < 4; i++)
		assert_int_equal(weir_count_take(v, 13000, 4, 1000, true, &res), 1);
}

static void test_conn(void **state)
{
	uint64_t v[4] = { 0 };

	assert_int_equal(weir_conn_acquire(v, 2), 1);
	assert_int_equal(weir_conn_acquire(v, 2), 1);
	assert_int_equal(weir_conn_acquire(v, 2), 0);
	weir_conn_release(v);
	assert_int_equal(weir_conn_acquire(v, 2), 1);
	weir_conn_release(v);
	weir_conn_release(v);
	weir_conn_release(v);
	weir_conn_release(v);		/* never below zero */
	assert_int_equal(v[0], 0);
}

/* ---- the table ---------------------------------------------------------- */

static enum weir_ltab_keep keep_live(const uint64_t v[4], uint64_t now, uint64_t arg)
{
	return v[0] ? WEIR_LTAB_PINNED : WEIR_LTAB_LIVE;
}

static int bump(uint64_t v[4], uint64_t now, void *arg)
{
	v[1]++;
	if (arg)
		v[0] = 1;
	return (int)v[1];
}

static void test_table_bounded(void **state)
{
	struct weir_ltab *t = weir_ltab_new(256, keep_live, 0);
	char key[32];
	int n = 0;

	assert_non_null(t);
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(weir_ltab_run(t, key, strlen(key), i, bump, NULL, NULL), 1);
	}
	assert_true(weir_ltab_used(t) <= 256);
	/* a key touched again keeps its count */
	assert_int_equal(weir_ltab_run(t, "k99999", 6, 0, bump, NULL, NULL), 2);
	/* pinned entries are never taken: fill every slot pinned */
	for (int i = 0; i < 100000 && n != -ENOSPC; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		n = weir_ltab_run(t, key, strlen(key), 0, bump, (void *)1, NULL);
	}
	assert_int_equal(n, -ENOSPC);
	assert_int_equal(weir_ltab_used(t), 256);
	assert_int_equal(weir_ltab_run(t, "p0", 2, 0, bump, NULL, NULL), 2);
	weir_ltab_free(t);
}

static void test_table_registry(void **state)
{
	struct weir_ltab *a = weir_ltab_acquire("r\x1fp\x1f{}", 64, keep_live, 0);
	struct weir_ltab *b = weir_ltab_acquire("r\x1fp\x1f{}", 64, keep_live, 0);
	struct weir_ltab *c = weir_ltab_acquire("r\x1fp\x1f{\"x\":1}", 64, keep_live, 0);
	uint32_t ref;

	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_int_equal(weir_ltab_run(a, "x", 1, 0, bump, NULL, &ref), 1);
	weir_ltab_release(a);
	/* still held by b: the state is there */
	assert_int_equal(weir_ltab_run(b, "x", 1, 0, bump, NULL, NULL), 2);
	assert_int_equal(weir_ltab_run_ref(b, ref, 0, bump, NULL), 3);
	weir_ltab_release(b);
	weir_ltab_release(c);
	/* gone with its last holder: a new one starts empty */
	a = weir_ltab_acquire("r\x1fp\x1f{}", 64, keep_live, 0);
	assert_int_equal(weir_ltab_run(a, "x", 1, 0, bump, NULL, NULL), 1);
	weir_ltab_release(a);
}

/* ---- plugins: keys, reloads, headers ------------------------------------- */

static void test_key_types(void **state)
{
	void *i;

	/* remote_addr: two sources apart, v4 and v6 */
	i = conf("limit-count", "keys", "{\"count\": 1, \"time_window\": 60}");
	assert_non_null(i);
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	assert_int_equal(access_(i), 429);
	assert_int_equal(F.r.answer->status, 429);
	req("10.0.0.2", NULL, NULL);
	assert_int_equal(access_(i), 0);
	req("2001:db8::1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	F.p->destroy(i);

	/* header: values apart, names without regard to case, missing -> 401 */
	i = conf("limit-count", "keys", "{\"count\": 1, \"time_window\": 60, "
		 "\"key_type\": \"header:X-Key\", \"missing_key\": 401}");
	assert_non_null(i);
	req("10.0.0.1", "x-key", "a");
	assert_int_equal(access_(i), 0);
	assert_int_equal(access_(i), 429);
	req("10.0.0.1", "x-key", "b");
	assert_int_equal(access_(i), 0);
	req("10.0.0.1", "x-other", "a");
	assert_int_equal(access_(i), 401);
	assert_int_equal(F.r.answer->status, 401);
	F.p->destroy(i);

	/* consumer: absent -> allowed by default; present -> counted by name */
	i = conf("limit-count", "keys", "{\"count\": 1, \"time_window\": 60, "
		 "\"key_type\": \"consumer\"}");
	assert_non_null(i);
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	assert_int_equal(access_(i), 0);
	F.r.consumer = "alice";
	assert_int_equal(access_(i), 0);
	assert_int_equal(access_(i), 429);
	req("10.0.0.9", NULL, NULL);
	F.r.consumer = "alice";		/* another address, the same consumer */
	assert_int_equal(access_(i), 429);
	F.r.consumer = "bob";
	assert_int_equal(access_(i), 0);
	F.p->destroy(i);

	/* route: every source shares one count */
	i = conf("limit-count", "keys", "{\"count\": 2, \"time_window\": 60, "
		 "\"key_type\": \"route\"}");
	assert_non_null(i);
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	req("10.0.0.2", NULL, NULL);
	assert_int_equal(access_(i), 0);
	req("10.0.0.3", NULL, NULL);
	assert_int_equal(access_(i), 429);
	F.p->destroy(i);
}

static void test_state_across_reloads(void **state)
{
	const char *s = "{\"count\": 2, \"time_window\": 60}";
	void *old = conf("limit-count", "keep", s), *new;

	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(old), 0);
	/* the new snapshot is built while the old one still serves */
	new = conf("limit-count", "keep", "{\"time_window\": 60, \"count\": 2}");
	F.p->destroy(old);
	assert_int_equal(access_(new), 0);
	assert_int_equal(access_(new), 429);
	/* another route, the same settings: its own count */
	old = conf("limit-count", "keep-2", s);
	assert_int_equal(access_(old), 0);
	F.p->destroy(old);
	/* a changed setting: a fresh count */
	old = conf("limit-count", "keep", "{\"count\": 3, \"time_window\": 60}");
	F.p->destroy(new);
	req("10.0.0.1", NULL, NULL);
	for (int k = 0; k < 3; k++)
		assert_int_equal(access_(old), 0);
	assert_int_equal(access_(old), 429);
	F.p->destroy(old);
}

static void test_count_headers(void **state)
{
	struct weir_buf *b = calloc(1, sizeof(*b) + 1024);
	void *i = conf("limit-count", "hdr", "{\"count\": 2, \"time_window\": \"1m\"}");

	b->cap = 1024;
	F.w.now = 120000 + 15000;		/* 45 s left in the minute */
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	F.p->response_headers(&F.r, i, b);
	b->data[b->end] = 0;
	assert_string_equal(b->data, "RateLimit-Limit: 2\r\nRateLimit-Remaining: 1\r\n"
			    "RateLimit-Reset: 45\r\n");
	b->end = 0;
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 429);
	F.p->response_headers(&F.r, i, b);
	b->data[b->end] = 0;
	assert_string_equal(b->data, "RateLimit-Limit: 2\r\nRateLimit-Remaining: 0\r\n"
			    "RateLimit-Reset: 45\r\nRetry-After: 45\r\n");
	/* a request the plugin did not see gets nothing */
	b->end = 0;
	req("10.0.0.1", NULL, NULL);
	F.p->response_headers(&F.r, i, b);
	assert_int_equal(b->end, 0);
	F.p->destroy(i);
	F.w.now = 0;
	free(b);
}

static void test_req_delay(void **state)
{
	void *i = conf("limit-req", "delay", "{\"rate\": 2, \"burst\": 2}");

	/* within the burst: each waits for those ahead of it, at 2/s */
	F.w.now = 70000;
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	assert_int_equal(F.r.delay_ms, 0);
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	assert_int_equal(F.r.delay_ms, 500);
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	assert_int_equal(F.r.delay_ms, 1000);
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 429);
	/* 250 ms on, half a request has drained: still full; 500 ms on, one
	 * has: the next fits, behind two (1 s) */
	F.w.now += 250;
	assert_int_equal(access_(i), 429);
	F.w.now += 250;
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	assert_int_equal(F.r.delay_ms, 1000);
	F.p->destroy(i);

	/* nodelay: the same admissions, none delayed */
	i = conf("limit-req", "delay", "{\"rate\": 2, \"burst\": 2, \"nodelay\": true}");
	for (int k = 0; k < 3; k++) {
		req("10.0.0.1", NULL, NULL);
		assert_int_equal(access_(i), 0);
		assert_int_equal(F.r.delay_ms, 0);
	}
	assert_int_equal(access_(i), 429);
	F.p->destroy(i);
	F.w.now = 0;
}

static void test_req_plugin(void **state)
{
	void *i = conf("limit-req", "req", "{\"rate\": 1, \"burst\": 1, \"nodelay\": true}");

	F.w.now = 50000;
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	assert_int_equal(access_(i), 0);
	assert_int_equal(access_(i), 429);
	F.w.now += 1000;
	assert_int_equal(access_(i), 0);
	assert_int_equal(access_(i), 429);
	F.p->destroy(i);
	F.w.now = 0;
}

static void test_conn_plugin(void **state)
{
	void *i = conf("limit-conn", "conn", "{\"conn\": 1, \"rejected_code\": 503}");

	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	struct weir_req held = F.r;
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 503);
	end(i);				/* a refused request gives nothing back */
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 503);
	F.r = held;
	end(i);				/* the held one ends */
	end(i);				/* twice is once */
	req("10.0.0.1", NULL, NULL);
	assert_int_equal(access_(i), 0);
	req("10.0.0.2", NULL, NULL);
	assert_int_equal(access_(i), 0);	/* another source */
	F.p->destroy(i);
}

/* ---- ip-restriction ------------------------------------------------------ */

static int ip_access(void *inst, const char *addr)
{
	req(addr, NULL, NULL);
	return access_(inst);
}

static void test_ip_allow(void **state)
{
	void *i = conf("ip-restriction", "ip", "{\"allowlist\": [\"10.0.0.0/8\", "
		       "\"192.168.1.7\", \"172.16.0.0/25\", \"172.16.0.128/25\", "
		       "\"2001:db8::/32\", \"::1\"]}");

	assert_non_null(i);
	assert_int_equal(ip_access(i, "10.0.0.0"), 0);
	assert_int_equal(ip_access(i, "10.255.255.255"), 0);
	assert_int_equal(ip_access(i, "11.0.0.0"), 403);
	assert_int_equal(ip_access(i, "9.255.255.255"), 403);
	assert_string_equal(F.r.local_why, "your address is not allowed");
	assert_int_equal(ip_access(i, "192.168.1.7"), 0);		/* a host: /32 */
	assert_int_equal(ip_access(i, "192.168.1.6"), 403);
	assert_int_equal(ip_access(i, "192.168.1.8"), 403);
	assert_int_equal(ip_access(i, "172.16.0.127"), 0);		/* merged halves */
	assert_int_equal(ip_access(i, "172.16.0.128"), 0);
	assert_int_equal(ip_access(i, "172.16.1.0"), 403);
	assert_int_equal(ip_access(i, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), 0);
	assert_int_equal(ip_access(i, "2001:db9::"), 403);
	assert_int_equal(ip_access(i, "::1"), 0);			/* /128 */
	assert_int_equal(ip_access(i, "::2"), 403);
	/* an IPv4 prefix is not an IPv6 one: ::a00:1 is not 10.0.0.1 */
	assert_int_equal(ip_access(i, "::a00:1"), 403);
	F.p->destroy(i);
}

static void test_ip_edges(void **state)
{
	void *i = conf("ip-restriction", "ip", "{\"denylist\": [\"0.0.0.0/0\"], "
		       "\"message\": \"no v4\"}");

	assert_int_equal(ip_access(i, "0.0.0.0"), 403);
	assert_int_equal(ip_access(i, "255.255.255.255"), 403);
	assert_string_equal(F.r.local_why, "no v4");
	assert_int_equal(ip_access(i, "2001:db8::1"), 0);		/* v4 /0 is not v6 */
	F.p->destroy(i);

	i = conf("ip-restriction", "ip", "{\"whitelist\": [\"::/0\"]}");
	assert_int_equal(ip_access(i, "::"), 0);
	assert_int_equal(ip_access(i, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 0);
	assert_int_equal(ip_access(i, "1.2.3.4"), 403);
	F.p->destroy(i);

	/* the top of the space, overlapping and nested prefixes merged */
	i = conf("ip-restriction", "ip", "{\"blacklist\": [\"ffff:ffff:ffff:ffff:ffff:ffff:"
		 "ffff:ffff/128\", \"ff00::/8\", \"ff80::/9\", \"255.255.255.255/32\", "
		 "\"255.0.0.0/8\", \"128.0.0.0/1\"]}");
	assert_int_equal(ip_access(i, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 403);
	assert_int_equal(ip_access(i, "ff00::"), 403);
	assert_int_equal(ip_access(i, "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 0);
	assert_int_equal(ip_access(i, "255.255.255.255"), 403);
	assert_int_equal(ip_access(i, "128.0.0.0"), 403);
	assert_int_equal(ip_access(i, "127.255.255.255"), 0);
	F.p->destroy(i);
}

static void test_ip_many(void **state)
{
	/* 5000 /32s, every other address of 10.0.0.0/16: a search, not a scan */
	size_t cap = 5000 * 20 + 64, len;
	char *json = malloc(cap), addr[32];

	len = (size_t)snprintf(json, cap, "{\"allowlist\": [");
	for (int k = 0; k < 5000; k++)
		len += (size_t)snprintf(json + len, cap - len, "%s\"10.0.%d.%d\"", k ? "," : "",
					(2 * k) / 256, (2 * k) % 256);
	snprintf(json + len, cap - len, "]}");
	void *i = conf("ip-restriction", "ip", json);
	assert_non_null(i);
	for (int k = 0; k < 10000; k++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", k / 256, k % 256);
		assert_int_equal(ip_access(i, addr), k % 2 ? 403 : 0);
	}
	F.p->destroy(i);
	free(json);
}

/* ---- errors -------------------------------------------------------------- */

static void test_errors(void **state)
{
	static const struct { const char *plugin, *json, *err; } bad[] = {
		{ "ip-restriction", "{}", "allowlist or denylist: required" },
		{ "ip-restriction", "{\"allowlist\": [\"1.2.3.4\"], \"denylist\": [\"1.2.3.5\"]}",
		  "denylist: give one list (allowlist is given)" },
		{ "ip-restriction", "{\"allowlist\": []}", "allowlist: expected a non-empty list" },
		{ "ip-restriction", "{\"allowlist\": \"1.2.3.4\"}",
		  "allowlist: expected a non-empty list" },
		{ "ip-restriction", "{\"allowlist\": [7]}",
		  "allowlist[0]: expected an address or CIDR string" },
		{ "ip-restriction", "{\"allowlist\": [\"1.2.3.4/33\"]}",
		  "allowlist[0]: '1.2.3.4/33': prefix length must be 0..32" },
		{ "ip-restriction", "{\"allowlist\": [\"::1/129\"]}",
		  "allowlist[0]: '::1/129': prefix length must be 0..128" },
		{ "ip-restriction", "{\"denylist\": [\"10.0.0.1/8\"]}", "denylist[0]: '10.0.0.1/8'" },
		{ "ip-restriction", "{\"denylist\": [\"example.com\"]}",
		  "denylist[0]: 'example.com': not an IPv4 or IPv6 address" },
		{ "ip-restriction", "{\"denylist\": [\"1.2.3.4\"], \"message\": 5}",
		  "message: expected one line of text" },
		{ "ip-restriction", "{\"denylist\": [\"1.2.3.4\"], \"mesage\": \"x\"}",
		  "mesage: unknown field" },
		{ "limit-count", "{\"time_window\": 60}", "count: required" },
		{ "limit-count", "{\"count\": 0, \"time_window\": 60}",
		  "count: expected a whole number from 1 to 1000000000" },
		{ "limit-count", "{\"count\": 1.5, \"time_window\": 60}", "count: expected a whole" },
		{ "limit-count", "{\"count\": 1}", "time_window: required" },
		{ "limit-count", "{\"count\": 1, \"time_window\": \"1y\"}",
		  "time_window: expected a duration" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 0}",
		  "time_window: expected a duration" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"policy\": \"redis\"}",
		  "policy: expected fixed or sliding" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"show_limit_headers\": 1}",
		  "show_limit_headers: expected true or false" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"key_type\": \"cookie\"}",
		  "key_type: expected remote_addr, consumer, route or header:NAME" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"key_type\": \"header:\"}",
		  "key_type: expected" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"key_type\": \"header:a b\"}",
		  "key_type: expected" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"rejected_code\": 600}",
		  "rejected_code: expected a whole number from 200 to 599" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"rejected_msg\": \"a\\nb\"}",
		  "rejected_msg: expected one line of text" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"missing_key\": 200}",
		  "missing_key: expected `allow` or a status from 400 to 599" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"max_keys\": 1}",
		  "max_keys: expected a whole number from 64" },
		{ "limit-count", "{\"count\": 1, \"time_window\": 1, \"rate\": 1}",
		  "rate: unknown field" },
		{ "limit-count", "[]", "settings must be a map" },
		{ "limit-req", "{}", "rate: required" },
		{ "limit-req", "{\"rate\": 0}", "rate: expected a number from 0.001" },
		{ "limit-req", "{\"rate\": \"fast\"}", "rate: expected a number" },
		{ "limit-req", "{\"rate\": 1, \"burst\": -1}", "burst: expected a whole number" },
		{ "limit-req", "{\"rate\": 1, \"nodelay\": \"yes\"}", "nodelay: expected true or false" },
		{ "limit-conn", "{}", "conn: required" },
		{ "limit-conn", "{\"conn\": 0}", "conn: expected a whole number from 1" },
		{ "limit-conn", "{\"conn\": 1, \"burst\": 1}", "burst: unknown field" },
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		void *i = conf(bad[k].plugin, "err", bad[k].json);
		if (i || !strstr(F.err, bad[k].err))
			fail_msg("%s %s: got '%s', want '%s'", bad[k].plugin, bad[k].json,
				 i ? "(accepted)" : F.err, bad[k].err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaky_bucket),
		cmocka_unit_test(test_count_fixed),
		cmocka_unit_test(test_count_sliding),
		cmocka_unit_test(test_conn),
		cmocka_unit_test(test_table_bounded),
		cmocka_unit_test(test_table_registry),
		cmocka_unit_test(test_key_types),
		cmocka_unit_test(test_state_across_reloads),
		cmocka_unit_test(test_count_headers),
		cmocka_unit_test(test_req_delay),
		cmocka_unit_test(test_req_plugin),
		cmocka_unit_test(test_conn_plugin),
		cmocka_unit_test(test_ip_allow),
		cmocka_unit_test(test_ip_edges),
		cmocka_unit_test(test_ip_many),
		cmocka_unit_test(test_errors),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
