/* tests/unit/test_fwdauth.c - the forward-auth verdict cache (fwdauth.c):
 * lookups by whole key within the age a caller accepts (ttl, or stale_ttl
 * when the service fails), replacement of a key's verdict, eviction of the
 * oldest entry of a full set, and keys whose hashes would collide never
 * sharing a verdict; the shared cache: a hit copied into a worker's cache
 * with its age, the registry handing one table to the same service, threads
 * filling and reading it at once; and its settings (fwdauth_conf.c):
 * defaults, and one row per error, each naming its field.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "userspace/fwdauth.h"

static int put(struct weir_fa_cache *c, const char *key, uint64_t now, uint16_t status,
	       const char *lines, const char *body)
{
	return weir_fa_cache_put(c, key, strlen(key), now, status, lines, strlen(lines), body,
				 strlen(body));
}

static const struct weir_fa_entry *get(const struct weir_fa_cache *c, const char *key,
				       uint64_t now, uint64_t max_age)
{
	return weir_fa_cache_get(c, key, strlen(key), now, max_age);
}

static void test_hit_within_age(void **state)
{
	struct weir_fa_cache *c = weir_fa_cache_new(16);
	const struct weir_fa_entry *e;

	assert_non_null(c);
	assert_int_equal(put(c, "k1", 1000, 200, "X-User-Id: a\r\n", ""), 0);
	e = get(c, "k1", 1500, 1000);
	assert_non_null(e);
	assert_int_equal(e->status, 200);
	assert_int_equal(e->lines_len, 14);
	assert_memory_equal(weir_fa_entry_lines(e), "X-User-Id: a\r\n", 14);
	assert_int_equal(e->body_len, 0);
	/* exactly max_age old still counts; a ms more does not */
	assert_non_null(get(c, "k1", 2000, 1000));
	assert_null(get(c, "k1", 2001, 1000));
	/* ... but a caller accepting stale verdicts still finds it */
	assert_non_null(get(c, "k1", 2001, 60000));
	assert_null(get(c, "k2", 1500, 1000));
	weir_fa_cache_free(c);
}

static void test_replace_same_key(void **state)
{
	struct weir_fa_cache *c = weir_fa_cache_new(16);
	const struct weir_fa_entry *e;

	put(c, "tok", 1000, 200, "X-User-Id: a\r\n", "");
	put(c, "tok", 2000, 401, "WWW-Authenticate: Bearer\r\n", "denied\n");
	e = get(c, "tok", 2000, 10);
	assert_non_null(e);
	assert_int_equal(e->status, 401);
	assert_int_equal(e->body_len, 7);
	assert_memory_equal(weir_fa_entry_body(e), "denied\n", 7);
	/* one slot per key: the other ways of the set are still empty */
	int used = 0;
	for (uint32_t i = 0; i < c->n_sets * WEIR_FA_WAYS; i++)
		used += c->e[i].at != 0;
	assert_int_equal(used, 1);
	weir_fa_cache_free(c);
}

static void test_evicts_oldest(void **state)
{
	/* one set: WEIR_FA_WAYS keys fit, the next replaces the oldest */
	struct weir_fa_cache *c = weir_fa_cache_new(1);
	char key[16];

	assert_int_equal(c->n_sets, 1);
	for (int i = 0; i < WEIR_FA_WAYS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(c, key, 100 + (uint64_t)i, 200, "", "");
	}
	for (int i = 0; i < WEIR_FA_WAYS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_non_null(get(c, key, 200, 1000));
	}
	put(c, "new", 300, 200, "", "");
	assert_null(get(c, "k0", 300, 1000));
	assert_non_null(get(c, "k1", 300, 1000));
	assert_non_null(get(c, "new", 300, 1000));
	weir_fa_cache_free(c);
}

static void test_whole_key_compared(void **state)
{
	struct weir_fa_cache *c = weir_fa_cache_new(1);

	/* Forge a hash match: the first slot holds another key under the
	 * probe's hash; it must not answer (keys are compared byte for byte). */
	put(c, "Bearer good", 100, 200, "X-User-Id: a\r\n", "");
	put(c, "Bearer evil", 100, 401, "", "");
	assert_int_equal(c->e[0].status, 200);
	assert_int_equal(c->e[1].status, 401);
	c->e[0].hash = c->e[1].hash;
	const struct weir_fa_entry *e = get(c, "Bearer evil", 100, 1000);
	assert_non_null(e);
	assert_int_equal(e->status, 401);
	/* a prefix of a key is another key */
	assert_null(get(c, "Bearer goo", 100, 1000));
	weir_fa_cache_free(c);
}

static void test_sizes(void **state)
{
	struct weir_fa_cache *c = weir_fa_cache_new(4096);

	assert_int_equal(c->n_sets * WEIR_FA_WAYS, 4096);
	weir_fa_cache_free(c);
	c = weir_fa_cache_new(5);
	assert_int_equal(c->n_sets, 2);
	weir_fa_cache_free(c);
	weir_fa_cache_free(NULL);
}

static void test_shared_hit_keeps_age(void **state)
{
	struct weir_fa_shared *s = weir_fa_shared_acquire("t1", 64);
	struct weir_fa_cache *mine = weir_fa_cache_new(16);
	const struct weir_fa_entry *e;

	assert_non_null(s);
	assert_non_null(mine);
	assert_null(weir_fa_shared_get(s, "k1", 2, 1000, 1000, mine));
	assert_int_equal(weir_fa_shared_put(s, "k1", 2, 1000, 403, "X-A: 1\r\n", 8, "no", 2), 0);
	e = weir_fa_shared_get(s, "k1", 2, 1500, 1000, mine);
	assert_non_null(e);
	assert_int_equal(e->status, 403);
	assert_int_equal(e->at, 1000);		/* the age it had, not a new one */
	assert_memory_equal(weir_fa_entry_lines(e), "X-A: 1\r\n", 8);
	assert_memory_equal(weir_fa_entry_body(e), "no", 2);
	/* now the worker's own: found there, and aged from 1000 */
	assert_non_null(get(mine, "k1", 1500, 600));
	assert_null(get(mine, "k1", 1500, 400));
	/* too old for the shared TTL: none, and nothing copied */
	assert_null(weir_fa_shared_get(s, "k1", 2, 2001, 1000, mine));
	/* a verdict stored by a worker whose clock is a turn ahead: age 0 */
	assert_int_equal(weir_fa_shared_put(s, "k2", 2, 5000, 200, "", 0, "", 0), 0);
	assert_non_null(weir_fa_shared_get(s, "k2", 2, 4999, 10, mine));
	weir_fa_cache_free(mine);
	weir_fa_shared_release(s);
}

static void test_shared_registry(void **state)
{
	struct weir_fa_shared *a = weir_fa_shared_acquire("svc 64", 64);
	struct weir_fa_shared *b = weir_fa_shared_acquire("svc 64", 64);
	struct weir_fa_shared *c = weir_fa_shared_acquire("svc 128", 128);
	struct weir_fa_cache *mine = weir_fa_cache_new(16);

	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_int_equal(weir_fa_shared_put(a, "k", 1, 10, 200, "", 0, "", 0), 0);
	weir_fa_shared_release(a);
	/* b still holds the table: the verdict is there */
	assert_non_null(weir_fa_shared_get(b, "k", 1, 10, 5, mine));
	assert_null(weir_fa_shared_get(c, "k", 1, 10, 5, mine));
	weir_fa_shared_release(b);
	weir_fa_shared_release(c);
	/* all released: a new one starts empty */
	a = weir_fa_shared_acquire("svc 64", 64);
	weir_fa_cache_free(mine);
	mine = weir_fa_cache_new(16);
	assert_null(weir_fa_shared_get(a, "k", 1, 10, 5, mine));
	weir_fa_shared_release(a);
	weir_fa_shared_release(NULL);
	weir_fa_cache_free(mine);
}

struct thread_arg {
	struct weir_fa_shared *s;
	int id, found;
};

/* Each thread fills keys of its own and reads everyone's. */
static void *shared_thread(void *p)
{
	struct thread_arg *a = p;
	struct weir_fa_cache *mine = weir_fa_cache_new(64);
	char key[32];

	for (int round = 0; round < 2000; round++) {
		snprintf(key, sizeof(key), "t%d-k%d", a->id, round % 50);
		weir_fa_shared_put(a->s, key, strlen(key), 100, 200, "L: v\r\n", 6, "", 0);
		snprintf(key, sizeof(key), "t%d-k%d", (a->id + 1) % 4, round % 50);
		const struct weir_fa_entry *e =
			weir_fa_shared_get(a->s, key, strlen(key), 100, 1000, mine);
		if (e) {
			a->found++;
			if (e->status != 200 || e->lines_len != 6)
				a->found = -1000000;
		}
	}
	weir_fa_cache_free(mine);
	return NULL;
}

static void test_shared_threads(void **state)
{
	struct weir_fa_shared *s = weir_fa_shared_acquire("threads", 4096);
	struct thread_arg args[4];
	pthread_t t[4];
	int found = 0;

	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .s = s, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, shared_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_true(args[i].found >= 0);	/* what was found was whole */
	}
	/* every thread's verdicts are there for anyone */
	struct weir_fa_cache *mine = weir_fa_cache_new(256);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 50; k++) {
			char key[32];
			snprintf(key, sizeof(key), "t%d-k%d", i, k);
			found += weir_fa_shared_get(s, key, strlen(key), 100, 1000, mine) != NULL;
		}
	assert_int_equal(found, 200);
	weir_fa_cache_free(mine);
	weir_fa_shared_release(s);
}

static void test_conf_shared(void **state)
{
	json_t *j = json_loads("{\"uri\": \"http://127.0.0.1:9000/a\", \"stale_ttl\": \"5m\","
			       " \"cache\": {\"ttl\": \"10s\", \"key\": [\"Authorization\"],"
			       " \"shared\": {}}}", 0, NULL);
	json_t *j2 = json_loads("{\"uri\": \"http://127.0.0.1:9000/a\","
				" \"cache\": {\"key\": [\"a\"],"
				" \"shared\": {\"ttl\": \"1m\", \"size\": 100}}}", 0, NULL);
	struct weir_fa_conf *fa = NULL, *fa2 = NULL, *fa3 = NULL;
	char err[200] = "";

	assert_int_equal(weir_fa_configure(j, &fa, err, sizeof(err)), 0);
	assert_non_null(fa->shared);
	assert_int_equal(fa->shared_ttl_ms, 10000);		/* cache.ttl's */
	assert_int_equal(fa->shared_size, WEIR_FA_SHARED_SIZE);
	assert_int_equal(weir_fa_configure(j2, &fa2, err, sizeof(err)), 0);
	assert_int_equal(fa2->shared_ttl_ms, 60000);
	assert_int_equal(fa2->shared_size, 100);
	assert_ptr_not_equal(fa->shared, fa2->shared);		/* another size */
	/* the same settings again (a reload): the same table */
	assert_int_equal(weir_fa_configure(j, &fa3, err, sizeof(err)), 0);
	assert_ptr_equal(fa->shared, fa3->shared);
	weir_fa_conf_free(fa);
	weir_fa_conf_free(fa2);
	weir_fa_conf_free(fa3);
	json_decref(j);
	json_decref(j2);
	/* without cache.shared: no table */
	j = json_loads("{\"uri\": \"http://127.0.0.1:9000/a\", \"cache\": {\"key\": [\"a\"]}}",
		       0, NULL);
	assert_int_equal(weir_fa_configure(j, &fa, err, sizeof(err)), 0);
	assert_null(fa->shared);
	weir_fa_conf_free(fa);
	json_decref(j);
}

static void test_conf_defaults(void **state)
{
	json_t *j = json_loads("{\"uri\": \"http://127.0.0.1:9000/a?x=1\","
			       " \"upstream_headers\": [\"X-User-Id\"],"
			       " \"cache\": {\"key\": [\"Authorization\"]}}", 0, NULL);
	struct weir_fa_conf *fa = NULL;
	char err[200] = "";

	assert_int_equal(weir_fa_configure(j, &fa, err, sizeof(err)), 0);
	assert_string_equal(fa->addr.text, "127.0.0.1:9000");
	assert_string_equal(fa->path, "/a?x=1");
	assert_false(fa->post);
	assert_false(fa->allow);
	assert_int_equal(fa->timeout_ms, 3000);
	assert_int_equal(fa->keepalive, 8);
	assert_true(fa->cache);
	assert_int_equal(fa->ttl_ms, 30000);
	assert_int_equal(fa->stale_ms, 0);
	assert_string_equal(fa->up_hdrs->v[0].name, "x-user-id");	/* lower-cased */
	assert_string_equal(fa->key_hdrs->v[0].name, "authorization");
	assert_null(fa->req_hdrs);
	weir_fa_conf_free(fa);
	json_decref(j);
}

struct conf_case {
	const char *json, *err;		/* the start of the error */
};

static const struct conf_case conf_cases[] = {
	{ "[]", "settings must be a map" },
	{ "{}", "uri: required" },
	{ "{\"uri\": \"ftp://1.2.3.4:1/\"}", "uri: must start with http://" },
	{ "{\"uri\": \"http://auth:80/\"}", "uri: 'auth:80': not an IP address" },
	{ "{\"uri\": \"http://1.2.3.4:1/a b\"}", "uri: the path has" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"request_method\": \"PUT\"}", "request_method:" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"request_headers\": \"a\"}", "request_headers: must be a list" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"client_headers\": [\"ok\", 3]}", "client_headers[1]:" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"timeout\": \"x\"}", "timeout: must be a duration" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"timeout\": 0}", "timeout: must be more than 0" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"keepalive\": 1.5}", "keepalive:" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"on_failure\": \"open\"}", "on_failure:" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"key\": []}}", "cache.key: required" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"tll\": 1}}", "cache.tll: unknown field" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"stale_ttl\": 60}", "stale_ttl: needs `cache`" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"ttl\": 60, \"key\": [\"a\"]},"
	  " \"stale_ttl\": 10}", "stale_ttl: must be at least cache.ttl" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"urI\": 1}", "urI: unknown field" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"key\": [\"a\"], \"shared\": 1}}",
	  "cache.shared: must be a map" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"key\": [\"a\"], \"shared\": {\"tll\": 1}}}",
	  "cache.shared.tll: unknown field" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"key\": [\"a\"], \"shared\": {\"ttl\": \"x\"}}}",
	  "cache.shared.ttl: must be a duration" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"key\": [\"a\"], \"shared\": {\"ttl\": 0}}}",
	  "cache.shared.ttl: must be more than 0" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"key\": [\"a\"], \"shared\": {\"size\": 8}}}",
	  "cache.shared.size: must be an integer from 16 to 16777216" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"cache\": {\"key\": [\"a\"], \"shared\": {\"size\": \"1k\"}}}",
	  "cache.shared.size: must be an integer" },
	{ "{\"uri\": \"http://1.2.3.4:1\", \"stale_ttl\": 60, \"cache\": {\"ttl\": 30, \"key\": [\"a\"],"
	  " \"shared\": {\"ttl\": 120}}}", "stale_ttl: must be at least cache.shared.ttl" },
};

static void test_conf_error(void **state)
{
	const struct conf_case *t = *state;
	json_t *j = json_loads(t->json, JSON_DECODE_ANY, NULL);
	struct weir_fa_conf *fa = NULL;
	char err[200] = "";

	assert_non_null(j);
	assert_int_equal(weir_fa_configure(j, &fa, err, sizeof(err)), -1);
	assert_null(fa);
	if (strncmp(err, t->err, strlen(t->err)))
		fail_msg("%s: got '%s', want '%s...'", t->json, err, t->err);
	json_decref(j);
}

int main(void)
{
	enum { N_CONF = sizeof(conf_cases) / sizeof(conf_cases[0]) };
	enum { N_FIXED = 10 };
	struct CMUnitTest tests[N_FIXED + N_CONF] = {
		cmocka_unit_test(test_hit_within_age),
		cmocka_unit_test(test_replace_same_key),
		cmocka_unit_test(test_evicts_oldest),
		cmocka_unit_test(test_whole_key_compared),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_conf_defaults),
		cmocka_unit_test(test_shared_hit_keeps_age),
		cmocka_unit_test(test_shared_registry),
		cmocka_unit_test(test_shared_threads),
		cmocka_unit_test(test_conf_shared),
	};
	char names[N_CONF][16];

	for (size_t i = 0; i < N_CONF; i++) {
		snprintf(names[i], sizeof(names[i]), "conf_error_%zu", i);
		tests[N_FIXED + i] = (struct CMUnitTest){ .name = names[i], .test_func = test_conf_error,
						    .initial_state = (void *)&conf_cases[i] };
	}

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("fwdauth", tests, NULL, NULL);
}
