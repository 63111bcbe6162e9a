/* tests/unit/test_cache.c - the response cache's decisions and store
 * (userspace/cache.c): Cache-Control directives, HTTP dates in their three
 * forms, the freshness lifetime (s-maxage over max-age over Expires - Date
 * over default_ttl) and initial age, Vary records and their matching, key
 * building, LRU eviction order and the size bound, variants per key,
 * reference counts across eviction and purge, and the zone registry.
 *
 * Every test is deterministic: times are numbers the test picks, and each
 * test uses a zone of its own name (the registry is process-wide).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "userspace/cache.h"

#define H(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }

static const struct weir_cache_times no_times = { .now = 1000 };

/* ---- Cache-Control -------------------------------------------------------- */

static struct weir_cc cc_of(const char *v)
{
	struct weir_cc cc;

	weir_cc_init(&cc);
	weir_cc_parse(&cc, v, strlen(v));
	return cc;
}

static void test_cc_directives(void **state)
{
	struct weir_cc cc = cc_of("no-store");
	assert_true(cc.no_store);
	assert_false(cc.private_ || cc.no_cache || cc.public_);
	assert_int_equal(cc.max_age, -1);
	assert_int_equal(cc.s_maxage, -1);

	cc = cc_of("Private=\"Set-Cookie\", max-age=60");
	assert_true(cc.private_);
	assert_int_equal(cc.max_age, 60);

	cc = cc_of("public,s-maxage=\"30\" , MAX-AGE = 10, no-cache=\"x, y\"");
	assert_true(cc.public_);
	assert_true(cc.no_cache);
	assert_int_equal(cc.s_maxage, 30);
	assert_int_equal(cc.max_age, 10);

	/* a bad value, or two different ones, is stale (0) */
	assert_int_equal(cc_of("max-age=abc").max_age, 0);
	assert_int_equal(cc_of("max-age=10, max-age=20").max_age, 0);
	assert_int_equal(cc_of("max-age=10, max-age=10").max_age, 10);
	/* names only as whole tokens */
	cc = cc_of("no-stored, xprivate, max-ages=5");
	assert_false(cc.no_store || cc.private_);
	assert_int_equal(cc.max_age, -1);

	/* several fields add up */
	weir_cc_parse(&cc, "no-store", 8);
	assert_true(cc.no_store);
}

/* ---- dates ------------------------------------------------------------------- */

static void test_http_date(void **state)
{
	int64_t t = 0;

	assert_int_equal(weir_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
	assert_int_equal(t, 784111777);
	t = 0;
	assert_int_equal(weir_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), 0);
	assert_int_equal(t, 784111777);
	t = 0;
	assert_int_equal(weir_http_date("Sun Nov  6 08:49:37 1994", 24, &t), 0);
	assert_int_equal(t, 784111777);

	assert_int_equal(weir_http_date("0", 1, &t), -1);
	assert_int_equal(weir_http_date("", 0, &t), -1);
	assert_int_equal(weir_http_date("Sun, 06 Nov 1994 08:49:37 GMT junk", 34, &t), -1);
	assert_int_equal(weir_http_date("Sun, 06 Nov 1994 08:49:37 PST", 29, &t), -1);
	assert_int_equal(weir_http_date("Sun, 32 Nov 1994 08:49:37 GMT", 29, &t), -1);
	/* the length bounds the text: no read past it */
	assert_int_equal(weir_http_date("Sun, 06 Nov 1994 08:49:37 GMTXYZ", 29, &t), 0);
}

/* ---- freshness ---------------------------------------------------------------- */

static void test_lifetime(void **state)
{
	struct weir_cc cc = cc_of("max-age=60, s-maxage=600");
	struct weir_cache_times t = { .now = 1000, .has_date = true, .date = 1000,
				      .has_expires = true, .expires_ok = true, .expires = 1100 };

	assert_int_equal(weir_cache_lifetime(&cc, &t, 5), 600);	/* s-maxage wins */
	cc = cc_of("max-age=60");
	assert_int_equal(weir_cache_lifetime(&cc, &t, 5), 60);	/* over Expires */
	cc = cc_of("public");
	assert_int_equal(weir_cache_lifetime(&cc, &t, 5), 100);	/* Expires - Date */
	t.date = 900;
	assert_int_equal(weir_cache_lifetime(&cc, &t, 5), 200);	/* from Date, not now */
	t.has_date = false;
	assert_int_equal(weir_cache_lifetime(&cc, &t, 5), 100);	/* no Date: now */
	t.expires_ok = false;
	assert_int_equal(weir_cache_lifetime(&cc, &t, 5), 0);	/* a bad Expires: expired */
	t.has_expires = false;
	assert_int_equal(weir_cache_lifetime(&cc, &t, 5), 5);	/* default_ttl */
	assert_int_equal(weir_cache_lifetime(&cc, &t, 0), 0);
	cc = cc_of("s-maxage=0, max-age=60");
	assert_int_equal(weir_cache_lifetime(&cc, &no_times, 5), 0);
}

static void test_initial_age(void **state)
{
	struct weir_cache_times t = { .now = 1000 };

	assert_int_equal(weir_cache_initial_age(&t), 0);
	t.age = 30;
	assert_int_equal(weir_cache_initial_age(&t), 30);
	t.has_date = true;
	t.date = 900;				/* apparent age 100 wins */
	assert_int_equal(weir_cache_initial_age(&t), 100);
	t.date = 2000;				/* a Date in the future: no negative age */
	assert_int_equal(weir_cache_initial_age(&t), 30);
}

/* ---- Vary ------------------------------------------------------------------------ */

static void test_vary(void **state)
{
	const struct weir_hdr en[] = { H("accept-language", "en"), H("accept-encoding", "gzip") };
	const struct weir_hdr fr[] = { H("accept-language", "fr"), H("accept-encoding", "gzip") };
	const struct weir_hdr two[] = { H("accept-language", "en"), H("accept-language", "fr") };
	const struct weir_hdr none[] = { H("host", "x") };
	const struct weir_hdr empty[] = { H("accept-language", "") };
	char rec[256];
	ssize_t n;

	n = weir_cache_vary_record("Accept-Language, accept-encoding", 32, en, 2, rec, sizeof(rec));
	assert_true(n > 0);
	assert_memory_equal(rec, "accept-language\0en\0accept-encoding\0gzip\0", (size_t)n);
	assert_true(weir_cache_vary_match(rec, (size_t)n, en, 2));
	assert_false(weir_cache_vary_match(rec, (size_t)n, fr, 2));
	assert_false(weir_cache_vary_match(rec, (size_t)n, none, 1));

	/* an absent field is not an empty one */
	n = weir_cache_vary_record("accept-language", 15, none, 1, rec, sizeof(rec));
	assert_true(weir_cache_vary_match(rec, (size_t)n, none, 1));
	assert_false(weir_cache_vary_match(rec, (size_t)n, empty, 1));
	n = weir_cache_vary_record("accept-language", 15, empty, 1, rec, sizeof(rec));
	assert_true(weir_cache_vary_match(rec, (size_t)n, empty, 1));
	assert_false(weir_cache_vary_match(rec, (size_t)n, none, 1));

	/* repeated fields count as one joined value */
	n = weir_cache_vary_record("accept-language", 15, two, 2, rec, sizeof(rec));
	assert_memory_equal(rec, "accept-language\0en, fr\0", (size_t)n);
	assert_true(weir_cache_vary_match(rec, (size_t)n, two, 2));
	assert_false(weir_cache_vary_match(rec, (size_t)n, en, 2));

	assert_int_equal(weir_cache_vary_record("*", 1, en, 2, rec, sizeof(rec)), -1);
	assert_int_equal(weir_cache_vary_record("accept, *", 9, en, 2, rec, sizeof(rec)), -1);
	assert_int_equal(weir_cache_vary_record("accept-language", 15, en, 2, rec, 8), -2);
	/* no Vary: matches anything */
	assert_int_equal(weir_cache_vary_record("", 0, en, 2, rec, sizeof(rec)), 0);
	assert_true(weir_cache_vary_match(rec, 0, fr, 2));
}

/* ---- keys --------------------------------------------------------------------------- */

static void test_key(void **state)
{
	const struct weir_hdr hdrs[] = {
		H("x-tenant", "acme corp"), H("cookie", "a=1; sid=xyz%; b=2"),
	};
	struct weir_cache_key_req rq = {
		.method = "GET", .host = "example.com", .host_len = 11,
		.uri = "/a/b?x=1&v=7&y", .uri_len = 14, .path_len = 4,
		.hdrs = hdrs, .n_hdrs = 2,
	};
	struct weir_cache_key_part def[] = {
		{ .kind = WEIR_CKEY_METHOD }, { .kind = WEIR_CKEY_HOST }, { .kind = WEIR_CKEY_URI },
	};
	struct weir_cache_key_part custom[] = {
		{ .kind = WEIR_CKEY_PATH },
		{ .kind = WEIR_CKEY_HEADER, .name = "x-tenant", .name_len = 8 },
		{ .kind = WEIR_CKEY_COOKIE, .name = "sid", .name_len = 3 },
		{ .kind = WEIR_CKEY_ARG, .name = "v", .name_len = 1 },
		{ .kind = WEIR_CKEY_ARG, .name = "y", .name_len = 1 },
		{ .kind = WEIR_CKEY_ARG, .name = "z", .name_len = 1 },
		{ .kind = WEIR_CKEY_HEADER, .name = "x-none", .name_len = 6 },
	};
	char out[256];
	ssize_t n;

	n = weir_cache_key(def, 3, &rq, out, sizeof(out));
	assert_int_equal(n, strlen("GET example.com /a/b?x=1&v=7&y"));
	assert_memory_equal(out, "GET example.com /a/b?x=1&v=7&y", (size_t)n);

	/* values from the request are encoded: a space cannot fake a part */
	n = weir_cache_key(custom, 7, &rq, out, sizeof(out));
	assert_memory_equal(out, "/a/b acme%20corp xyz%25 7   ", (size_t)n);

	assert_int_equal(weir_cache_key(def, 3, &rq, out, 10), -1);
	rq.uri_len = rq.path_len = 4;	/* no query: the args are empty */
	n = weir_cache_key(custom + 3, 1, &rq, out, sizeof(out));
	assert_int_equal(n, 0);
}

/* ---- the store ------------------------------------------------------------------------- */

/* An entry of `body` bytes under key, fresh until `until`. */
static struct weir_cache_entry *mk(const char *key, const char *vary, size_t vary_len,
				   size_t body, int64_t until)
{
	struct weir_cache_entry *e = weir_cache_entry_new(key, strlen(key), vary, vary_len,
							  "content-length: 1\r\n", 19, body);
	assert_non_null(e);
	memset(e->body, 'x', body);
	e->answer.status = 200;
	e->answer.body_len = body;
	e->expires_at = until;
	return e;
}

static bool has(struct weir_cache_zone *z, const char *key, int64_t now)
{
	enum weir_cache_found f;
	struct weir_cache_entry *e = weir_cache_lookup(z, key, strlen(key), NULL, 0, now, &f);

	weir_cache_release(e);
	return e != NULL;
}

static void test_lru(void **state)
{
	struct weir_cache_zone *z = weir_cache_zone_get("t-lru", 64 * 1024);
	struct weir_cache_usage u;
	char key[16];

	assert_non_null(z);
	/* 10 kB entries: six fit in 64 kB */
	for (int i = 1; i <= 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(weir_cache_insert(z, mk(key, "", 0, 10000, 100)), 0);
	}
	weir_cache_zone_usage(z, &u);
	assert_int_equal(u.entries, 6);
	assert_true(u.bytes <= u.max_bytes);
	assert_true(has(z, "k1", 10));		/* k1 used: k2 is the oldest now */
	assert_int_equal(weir_cache_insert(z, mk("k7", "", 0, 10000, 100)), 0);
	assert_false(has(z, "k2", 10));
	assert_true(has(z, "k1", 10));
	assert_true(has(z, "k7", 10));
	assert_int_equal(weir_cache_insert(z, mk("k8", "", 0, 10000, 100)), 0);
	assert_false(has(z, "k3", 10));		/* then k3 */
	assert_true(has(z, "k4", 10));

	/* a big entry pushes out as many as it needs, oldest first */
	assert_int_equal(weir_cache_insert(z, mk("big", "", 0, 35000, 100)), 0);
	weir_cache_zone_usage(z, &u);
	assert_true(u.bytes <= u.max_bytes);
	assert_false(has(z, "k5", 10));
	assert_false(has(z, "k6", 10));
	assert_false(has(z, "k1", 10));
	assert_true(has(z, "k4", 10));
	assert_true(has(z, "big", 10));

	/* larger than the zone: refused, nothing evicted */
	assert_int_equal(weir_cache_insert(z, mk("huge", "", 0, 70000, 100)), -1);
	assert_true(has(z, "k4", 10));

	/* stale: not answered, and removed */
	enum weir_cache_found f;
	assert_null(weir_cache_lookup(z, "k4", 2, NULL, 0, 100, &f));
	assert_int_equal(f, WEIR_CACHE_STALE);
	assert_null(weir_cache_lookup(z, "k4", 2, NULL, 0, 10, &f));
	assert_int_equal(f, WEIR_CACHE_NONE);
	weir_cache_zone_put(z);
}

static void test_variants(void **state)
{
	struct weir_cache_zone *z = weir_cache_zone_get("t-variants", 1024 * 1024);
	const struct weir_hdr en[] = { H("accept-language", "en") };
	const struct weir_hdr fr[] = { H("accept-language", "fr") };
	struct weir_cache_usage u;
	enum weir_cache_found f;
	char rec[64], val[8];
	ssize_t n;

	n = weir_cache_vary_record("accept-language", 15, en, 1, rec, sizeof(rec));
	assert_int_equal(weir_cache_insert(z, mk("k", rec, (size_t)n, 10, 100)), 0);
	n = weir_cache_vary_record("accept-language", 15, fr, 1, rec, sizeof(rec));
	assert_int_equal(weir_cache_insert(z, mk("k", rec, (size_t)n, 20, 100)), 0);
	struct weir_cache_entry *e = weir_cache_lookup(z, "k", 1, en, 1, 10, &f);
	assert_non_null(e);
	assert_int_equal(e->answer.body_len, 10);
	weir_cache_release(e);
	e = weir_cache_lookup(z, "k", 1, fr, 1, 10, &f);
	assert_non_null(e);
	assert_int_equal(e->answer.body_len, 20);
	weir_cache_release(e);

	/* the same values again replace their variant */
	assert_int_equal(weir_cache_insert(z, mk("k", rec, (size_t)n, 30, 100)), 0);
	weir_cache_zone_usage(z, &u);
	assert_int_equal(u.entries, 2);
	e = weir_cache_lookup(z, "k", 1, fr, 1, 10, &f);
	assert_int_equal(e->answer.body_len, 30);
	weir_cache_release(e);

	/* at most 8 variants of a key: the least recently used goes */
	for (int i = 0; i < 10; i++) {
		struct weir_hdr h = { "accept-language", 15, val, 0 };
		h.value_len = (uint32_t)snprintf(val, sizeof(val), "l%d", i);
		n = weir_cache_vary_record("accept-language", 15, &h, 1, rec, sizeof(rec));
		assert_int_equal(weir_cache_insert(z, mk("k", rec, (size_t)n, 10, 100)), 0);
	}
	weir_cache_zone_usage(z, &u);
	assert_int_equal(u.entries, 8);
	assert_null(weir_cache_lookup(z, "k", 1, en, 1, 10, &f));
	weir_cache_zone_put(z);
}

static void test_refs_and_purge(void **state)
{
	struct weir_cache_zone *z = weir_cache_zone_get("t-purge", 1024 * 1024);
	enum weir_cache_found f;

	assert_int_equal(weir_cache_insert(z, mk("GET h /a/1", "", 0, 100, 100)), 0);
	assert_int_equal(weir_cache_insert(z, mk("GET h /a/2", "", 0, 100, 100)), 0);
	assert_int_equal(weir_cache_insert(z, mk("GET h /b/1", "", 0, 100, 100)), 0);

	/* an entry being served outlives its purge (ASan checks the reads) */
	struct weir_cache_entry *held = weir_cache_lookup(z, "GET h /a/1", 10, NULL, 0, 10, &f);
	assert_non_null(held);
	assert_int_equal(weir_cache_purge("t-purge", "GET h /a/1", 10, false), 1);
	assert_false(has(z, "GET h /a/1", 10));
	assert_int_equal(held->body[99], 'x');
	assert_int_equal(held->answer.body_len, 100);
	weir_cache_release(held);

	assert_int_equal(weir_cache_purge("t-purge", "GET h /a/1", 10, false), 0);
	assert_int_equal(weir_cache_purge("t-purge", "GET h /", 7, true), 2);
	assert_int_equal(weir_cache_purge("no-such-zone", NULL, 0, false), -1);
	assert_int_equal(weir_cache_insert(z, mk("x", "", 0, 1, 100)), 0);
	assert_int_equal(weir_cache_purge("t-purge", NULL, 0, false), 1);
	weir_cache_zone_put(z);
}

static void test_registry(void **state)
{
	struct weir_cache_zone *a = weir_cache_zone_get("t-reg", 1024 * 1024);
	struct weir_cache_zone *b = weir_cache_zone_get("t-reg", 1024 * 1024);
	struct weir_cache_zone *c = weir_cache_zone_get("t-reg", 2048 * 1024);

	/* a reload with the same settings gets the same store */
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_int_equal(weir_cache_insert(a, mk("k", "", 0, 1, 100)), 0);
	weir_cache_zone_put(a);
	assert_true(has(b, "k", 10));
	weir_cache_zone_put(b);
	/* the last holder gone, the zone and its entries are freed (ASan) */
	b = weir_cache_zone_get("t-reg", 1024 * 1024);
	assert_false(has(b, "k", 10));
	weir_cache_zone_put(b);
	weir_cache_zone_put(c);

	/* shards: one under 8 MiB, so the whole zone is one LRU */
	assert_int_equal(weir_cache_object_max(64 * 1024) + sizeof(struct weir_cache_entry) + 3,
			 64 * 1024);
	assert_int_equal(weir_cache_object_max(64ull << 20) + sizeof(struct weir_cache_entry) + 3,
			 4ull << 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cc_directives),
		cmocka_unit_test(test_http_date),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_initial_age),
		cmocka_unit_test(test_vary),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_refs_and_purge),
		cmocka_unit_test(test_registry),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
