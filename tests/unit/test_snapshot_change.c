/* tests/unit/test_snapshot_change.c - snapshots derived one route at a time
 * (userspace/snapshot_change.c) answer as full builds of the same routes.
 *
 * A random walk of route changes (add, replace, remove) over a vocabulary
 * small enough that routes share patterns, tie on precedence and collide as
 * duplicates, with folds in between. After each step, every request of a
 * fixed set is matched by the derived snapshot and by a snapshot built whole
 * from the same list; the route ids must agree. A change the derived path
 * refuses as a duplicate must fail the full build too, and one it accepts
 * must build. Older snapshots are kept for a while and matched again later
 * against their own full builds: routes they hold must outlive the changes
 * that retired them (the sanitizer build catches a route freed too early).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "userspace/config.h"
#include "userspace/snapshot.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const hosts[] = { NULL, "h.com", "*.h.com", "H.com." };
static const char *const paths[] = { "/a", "/a/*", "/a/:x", "/a/b", "/a/:y/c", "/*", "/b/*",
				     "/a/" };

/* A random route named id: {"id", "path", "upstream" or a mock, ...}. */
static json_t *random_route(const char *id)
{
	json_t *r = json_pack("{s:s, s:s}", "id", id, "path", paths[rnd(8)]);
	const char *h = hosts[rnd(4)];

	if (h)
		json_object_set_new(r, "host", json_string(h));
	switch (rnd(5)) {	/* method lists that overlap: ties broken by list order */
	case 0: json_object_set_new(r, "methods", json_pack("[s]", "GET")); break;
	case 1: json_object_set_new(r, "methods", json_pack("[s]", "POST")); break;
	case 2: json_object_set_new(r, "methods", json_pack("[s,s]", "GET", "POST")); break;
	}
	if (rnd(4) == 0)
		json_object_set_new(r, "priority", json_integer(1));
	switch (rnd(6)) {
	case 0: json_object_set_new(r, "headers", json_pack("{s:[s]}", "x-v", "1")); break;
	case 1: json_object_set_new(r, "headers", json_pack("{s:[s]}", "x-v", "2")); break;
	case 2: json_object_set_new(r, "headers", json_pack("{s:[s,s]}", "x-v", "2", "1")); break;
	}
	if (rnd(2))
		json_object_set_new(r, "upstream", json_string("u"));
	else
		json_object_set_new(r, "plugins", json_pack("{s:{}}", "mock"));
	return r;
}

static const json_t *upstreams(void)
{
	static json_t *u;

	if (!u)
		u = json_pack("{s:{s:[s]}}", "u", "nodes", "127.0.0.1:1");
	return u;
}

/* A whole build of the list; NULL when it does not build. */
static struct weir_snapshot *full(const json_t *list)
{
	json_t *doc = json_pack("{s:O, s:O}", "routes", list, "upstreams", upstreams());
	struct weir_config *c;
	struct weir_snapshot *s = NULL;
	char err[512];

	if (weir_config_from_resources(doc, &c, err, sizeof(err)) == 0)
		weir_snapshot_build(c, 1, &s, err, sizeof(err));
	json_decref(doc);
	return s;
}

struct probe {
	const char *host, *path;
	uint32_t method;
	bool hdr;
};

static const char *matched(const struct weir_snapshot *s, const struct probe *p)
{
	struct weir_hdr h = { "x-v", 3, "1", 1 };
	struct weir_route_req q = { p->host, strlen(p->host), p->path, strlen(p->path), p->method,
				    p->hdr ? &h : NULL, p->hdr };
	struct weir_route_match m;

	return weir_snapshot_match(s, &q, &m) ? ((const struct weir_route *)m.route)->id : "-";
}

static void same_answers(const struct weir_snapshot *s, const struct weir_snapshot *ref)
{
	static const char *const qh[] = { "", "h.com", "x.h.com", "a.x.h.com", "other" };
	static const char *const qp[] = { "/a", "/a/", "/a/b", "/a/zz", "/a/zz/c", "/b/q", "/c",
					  "/" };

	for (size_t h = 0; h < 5; h++)
		for (size_t p = 0; p < 8; p++)
			for (unsigned k = 0; k < 4; k++) {
				struct probe pr = { qh[h], qp[p], k & 1 ? WEIR_M_POST : WEIR_M_GET,
						    k & 2 };
				const char *a = matched(s, &pr), *b = matched(ref, &pr);
				if (strcmp(a, b))
					fail_msg("v%llu: %s%s %s hdr=%d: derived %s, full build %s",
						 (unsigned long long)s->version, pr.host, pr.path,
						 k & 1 ? "POST" : "GET", pr.hdr, a, b);
			}
}

/* The index of id in list, or -1. */
static int find(const json_t *list, const char *id)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "id")), id))
			return (int)i;
	return -1;
}

#define KEEP 4

static void walk(unsigned steps, unsigned ids, unsigned fold_every)
{
	json_t *list = json_array();

	/* a full build to start from, of every other id */
	for (unsigned i = 0; i < ids; i += 2) {
		char id[16];
		snprintf(id, sizeof(id), "r%u", i);
		json_array_append_new(list, random_route(id));
		struct weir_snapshot *t = full(list);
		if (!t)
			json_array_remove(list, json_array_size(list) - 1);	/* a duplicate */
		weir_snapshot_put(t);
	}
	struct weir_snapshot *cur = full(list), *cur_ref = full(list);
	struct weir_snapshot *kept[KEEP] = { 0 }, *kept_ref[KEEP] = { 0 }, *from = NULL;
	struct weir_base *b = NULL;
	unsigned accepted = 0, refused = 0, folds = 0;
	char err[512];

	assert_non_null(cur);
	for (unsigned step = 0; step < steps; step++) {
		char id[16];
		snprintf(id, sizeof(id), "r%u", rnd(ids));
		int at = find(list, id);
		json_t *next = json_copy(list), *route = NULL;
		struct weir_config *one = NULL;

		if (at >= 0 && rnd(3) == 0) {
			json_array_remove(next, (size_t)at);
		} else {
			route = random_route(id);
			if (at >= 0)
				json_array_set(next, (size_t)at, route);
			else
				json_array_append(next, route);
			json_t *doc = json_pack("{s:[O], s:O}", "routes", route, "upstreams",
						upstreams());
			assert_int_equal(weir_config_from_resources(doc, &one, err, sizeof(err)), 0);
			json_decref(doc);
		}
		json_decref(route);
		struct weir_snapshot *s = NULL, *ref = full(next);
		int rc = weir_snapshot_change(cur, id, one, &s, err, sizeof(err));
		if (rc != 0) {
			/* refused: only as a duplicate, which the full build refuses too */
			assert_int_equal(rc, -1);
			if (!strstr(err, "duplicate"))
				fail_msg("step %u: %s refused: %s", step, id, err);
			assert_null(ref);
			refused++;
			json_decref(next);
			continue;
		}
		if (!ref)
			fail_msg("step %u: %s accepted, but the full build refuses it", step, id);
		weir_snapshot_commit(s, cur);
		accepted++;
		json_decref(list);
		list = next;
		same_answers(s, ref);
		/* an older snapshot stays for a while, as a request in flight keeps it */
		unsigned k = rnd(KEEP);
		if (kept[k]) {
			same_answers(kept[k], kept_ref[k]);
			weir_snapshot_put(kept[k]);
			weir_snapshot_put(kept_ref[k]);
		}
		kept[k] = cur;
		kept_ref[k] = cur_ref;
		cur = s;
		cur_ref = ref;
		/* a fold built from an earlier snapshot lands after more changes */
		if (b) {
			struct weir_snapshot *f;
			assert_int_equal(weir_snapshot_refold(cur, from, b, &f, err, sizeof(err)), 0);
			weir_snapshot_commit(f, cur);
			same_answers(f, cur_ref);
			weir_snapshot_put(cur);
			weir_snapshot_put(from);
			cur = f;
			b = NULL;
			folds++;
		}
		if (fold_every && step % fold_every == fold_every - 1 && weir_snapshot_foldable(cur)) {
			assert_non_null(b = weir_snapshot_fold_base(cur, err, sizeof(err)));
			weir_snapshot_hold(from = cur);
		}
	}
	if (b) {
		weir_base_put(b);
		weir_snapshot_put(from);
	}
	for (unsigned k = 0; k < KEEP; k++) {
		weir_snapshot_put(kept[k]);
		weir_snapshot_put(kept_ref[k]);
	}
	weir_snapshot_put(cur);
	weir_snapshot_put(cur_ref);
	json_decref(list);
	assert_true(accepted > steps / 2);
	assert_true(refused > 0);
	assert_true(!fold_every || folds > 0);
}

static void test_changes_alone(void **state)
{
	(void)state;
	walk(400, 24, 0);
}

static void test_changes_and_folds(void **state)
{
	(void)state;
	walk(600, 40, 7);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changes_alone),
		cmocka_unit_test(test_changes_and_folds),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
