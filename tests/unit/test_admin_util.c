/* tests/unit/test_admin_util.c - the admin API's helpers alone: JSON merge
 * patch against the examples of RFC 7396 (appendix A), the pagination
 * query, the split of a configuration error into field and reason, the
 * check of text YAML cannot carry, and the road of a resource document
 * through the configuration reader (weir_config_from_resources): every
 * string arrives as it was sent, whatever YAML syntax it holds, and the
 * file's resources come out as a document with every route's id.
 *
 * The merge patch and page cases are tables, one TAP test per row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "userspace/admin.h"
#include "userspace/config.h"

/* ---- merge patch: RFC 7396 appendix A -------------------------------- */

struct patch_case {
	const char *name, *target, *patch, *result;
};

static const struct patch_case patch_cases[] = {
	{ "patch: replace a member", "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "patch: add a member", "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "patch: null removes", "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "patch: null removes one of two", "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}",
	  "{\"b\":\"c\"}" },
	{ "patch: an array replaces", "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "patch: replaced by an array", "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "patch: nested merge", "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	  "{\"a\":{\"b\":\"d\"}}" },
	{ "patch: arrays are not merged", "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}",
	  "{\"a\":[1]}" },
	{ "patch: a non-object patch replaces", "[\"a\",\"b\"]", "[\"c\",\"d\"]",
	  "[\"c\",\"d\"]" },
	{ "patch: an object onto an array", "[\"a\"]", "{\"a\":\"b\"}", "{\"a\":\"b\"}" },
	{ "patch: onto an object, a string", "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "patch: null onto a string", "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "patch: an array onto a string", "\"a\"", "[1]", "[1]" },
	{ "patch: deep null onto nothing", "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}",
	  "{\"a\":{\"bb\":{}}}" },
};

static json_t *j(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &e);

	if (!v)
		print_message("# bad JSON in the test: %s: %s\n", s, e.text);
	assert_non_null(v);
	return v;
}

static void test_patch(void **state)
{
	const struct patch_case *c = *state;
	json_t *t = j(c->target), *p = j(c->patch), *want = j(c->result);
	json_t *got = weir_json_merge_patch(t, p);

	assert_non_null(got);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
		print_message("# got %s, want %s\n", s, c->result);
		free(s);
		fail();
	}
	/* the target is not changed: the API patches a copy */
	json_t *t2 = j(c->target);
	assert_true(json_equal(t, t2));
	json_decref(t2);
	json_decref(t);
	json_decref(p);
	json_decref(want);
	json_decref(got);
}

/* ---- pagination ---------------------------------------------------------- */

struct page_case {
	const char *name, *query;
	int rc;
	size_t off, lim;
	const char *field;
};

static const struct page_case page_cases[] = {
	{ "page: none", NULL, 0, 0, 100, "" },
	{ "page: empty", "", 0, 0, 100, "" },
	{ "page: page 3 of 10", "page=3&page_size=10", 0, 20, 10, "" },
	{ "page: page alone", "page=2", 0, 100, 100, "" },
	{ "page: offset and limit", "offset=7&limit=5", 0, 7, 5, "" },
	{ "page: limit alone", "limit=1000", 0, 0, 1000, "" },
	{ "page: stray &", "&offset=1&&", 0, 1, 100, "" },
	{ "page: page 0", "page=0", -1, 0, 0, "page" },
	{ "page: page_size 0", "page_size=0", -1, 0, 0, "page_size" },
	{ "page: page_size 1001", "page_size=1001", -1, 0, 0, "page_size" },
	{ "page: limit not a number", "limit=ten", -1, 0, 0, "limit" },
	{ "page: negative offset", "offset=-1", -1, 0, 0, "offset" },
	{ "page: empty value", "offset=", -1, 0, 0, "offset" },
	{ "page: twice", "limit=1&limit=2", -1, 0, 0, "limit" },
	{ "page: both forms", "page=1&limit=2", -1, 0, 0, "limit" },
	{ "page: unknown", "size=3", -1, 0, 0, "query" },
	{ "page: huge", "offset=99999999999999999999", -1, 0, 0, "offset" },
};

static void test_page(void **state)
{
	const struct page_case *c = *state;
	size_t off = 99, lim = 99;
	const char *field = NULL;
	char why[160] = "";

	assert_int_equal(weir_admin_page(c->query, &off, &lim, &field, why, sizeof(why)), c->rc);
	assert_string_equal(field, c->field);
	if (c->rc == 0) {
		assert_int_equal(off, c->off);
		assert_int_equal(lim, c->lim);
	} else {
		assert_true(why[0] != 0);
	}
}

/* ---- errors: field and reason -------------------------------------------- */

static void test_field(void **state)
{
	json_t *routes = j("{\"routes\": [{\"id\":\"api\"},{\"id\":\"web\"}],"
			   " \"consumers\": [{\"username\":\"ann\"}]}");
	char f[128], r[256];

	weir_admin_field("admin:1: routes[1].upstream: no upstream named 'x'", routes, f,
			 sizeof(f), r, sizeof(r));
	assert_string_equal(f, "routes.web.upstream");
	assert_string_equal(r, "no upstream named 'x'");
	weir_admin_field("weir.yaml:3: routes[0]: path '/a*b': bad", routes, f, sizeof(f), r,
			 sizeof(r));
	assert_string_equal(f, "routes.api");
	assert_string_equal(r, "path '/a*b': bad");
	weir_admin_field("admin:1: upstreams.u.nodes[1]: 'x': not an IP address", routes, f,
			 sizeof(f), r, sizeof(r));
	assert_string_equal(f, "upstreams.u.nodes[1]");
	assert_string_equal(r, "'x': not an IP address");
	weir_admin_field("admin:1: routes[7].path: beyond the list", routes, f, sizeof(f), r,
			 sizeof(r));
	assert_string_equal(f, "routes[7].path");
	weir_admin_field("admin:1: consumers[0].plugins.key-auth.key: must be a string", routes,
			 f, sizeof(f), r, sizeof(r));
	assert_string_equal(f, "consumers.ann.plugins.key-auth.key");
	assert_string_equal(r, "must be a string");
	weir_admin_field("out of memory", routes, f, sizeof(f), r, sizeof(r));
	assert_string_equal(f, "");
	assert_string_equal(r, "out of memory");
	json_decref(routes);
}

/* ---- text YAML cannot carry --------------------------------------------- */

static void test_check_text(void **state)
{
	char f[128], why[128];
	json_t *v = json_pack("{s:[s, s%]}", "a", "ok", "x\0y", (size_t)3);

	/* NUL: jansson's reader refuses it already; built here by hand */
	assert_int_equal(weir_admin_check_text(v, "routes.r", 8, f, sizeof(f), why, sizeof(why)),
			 -1);
	assert_string_equal(f, "routes.r.a[1]");
	assert_string_equal(why, "character U+0000 is not allowed");
	json_decref(v);
	/* everything else goes through, YAML's troublemakers included */
	v = j("{\"\\u0085 \\u007f é \\n\\t\\ufeff\":\"ü \\u2028 \\u0090 \\uffff 😀\"}");
	assert_int_equal(weir_admin_check_text(v, "x", 8, f, sizeof(f), why, sizeof(why)), 0);
	json_decref(v);
	char key[130];
	memset(key, 'k', 129);
	key[129] = 0;
	v = json_pack("{s:{s:i}}", "a", key, 1);
	assert_int_equal(weir_admin_check_text(v, "x", 8, f, sizeof(f), why, sizeof(why)), -1);
	assert_string_equal(why, "a name longer than 128 bytes");
	json_decref(v);
	key[128] = 0;
	v = json_pack("{s:{s:i}}", "a", key, 1);
	assert_int_equal(weir_admin_check_text(v, "x", 8, f, sizeof(f), why, sizeof(why)), 0);
	json_decref(v);
	v = j("[[[[1]]]]");
	assert_int_equal(weir_admin_check_text(v, "x", 3, f, sizeof(f), why, sizeof(why)), -1);
	assert_string_equal(why, "nested more than 3 deep");
	assert_int_equal(weir_admin_check_text(v, "x", 4, f, sizeof(f), why, sizeof(why)), 0);
	json_decref(v);
}

static void test_id(void **state)
{
	assert_true(weir_admin_id_ok("api-v2_x.1"));
	assert_false(weir_admin_id_ok(""));
	assert_false(weir_admin_id_ok("a b"));
	assert_false(weir_admin_id_ok("a/b"));
	assert_false(weir_admin_id_ok("%41"));
	char long_id[66];
	memset(long_id, 'a', 65);
	long_id[65] = 0;
	assert_false(weir_admin_id_ok(long_id));
	long_id[64] = 0;
	assert_true(weir_admin_id_ok(long_id));
}

/* ---- the document through the configuration reader ------------------------ */

static void test_from_resources(void **state)
{
	static const char *const tricky[] = {
		"a: b", "- c", "# d", "&e *f !g", "{h} [i]", "\"j\" 'k'", "%l @m `n", "~",
		"null", "true", "1.5", "0x1F", "é ü 😀", "line\nbreak\ttab", "back\\slash",
		"---", "...", "? q", "| lit", "> fold", "\\u0041",
		/* what YAML refuses raw or reads as a line break: escaped */
		"del \x7f", "nel \xc2\x85", "c1 \xc2\x90", "ls \xe2\x80\xa8 ps \xe2\x80\xa9",
		"bom \xef\xbb\xbf", "nonchars \xef\xbf\xbe\xef\xbf\xbf",
	};
	json_t *res = j("{\"routes\": [], \"upstreams\": {\"u\": {\"nodes\": "
			"[\"127.0.0.1:9\"]}}, \"plugins\": {}}");
	json_t *routes = json_object_get(res, "routes");
	size_t n = sizeof(tricky) / sizeof(tricky[0]);
	struct weir_config *c = NULL;
	char err[512] = "";

	for (size_t i = 0; i < n; i++) {
		char id[16];
		snprintf(id, sizeof(id), "r%zu", i);
		/* header values are exact strings: each must arrive unchanged */
		json_array_append_new(routes, json_pack(
			"{s:s, s:[s], s:s, s:{s:[s]}}", "id", id, "paths", "/x", "upstream", "u",
			"headers", "x-h", tricky[i]));
	}
	if (weir_config_from_resources(res, &c, err, sizeof(err)))
		print_message("# %s\n", err);
	assert_non_null(c);
	assert_int_equal(c->n_routes, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(c->routes[i].n_headers, 1);
		assert_string_equal(c->routes[i].headers[0].values[0], tricky[i]);
	}
	weir_config_free(c);

	/* errors name the field the config reader would */
	json_object_set_new(json_array_get(routes, 3), "upstream", json_string("nope"));
	assert_int_equal(weir_config_from_resources(res, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "admin:1: routes[3].upstream: no upstream named 'nope'");
	json_decref(res);
}

static void test_file_resources(void **state)
{
	static const char yaml[] =
		"listeners: [127.0.0.1:1]\n"
		"admin: {token: t, state: /tmp/s.json}\n"
		"upstreams: {u: {nodes: [127.0.0.1:9], retries: 2}}\n"
		"routes:\n"
		"  - {path: /a, upstream: u}\n"
		"  - {id: named, path: /b, upstream: u, plugins: {mock: {body: '1', status: 201}}}\n";
	struct weir_config *c = NULL, *r = NULL;
	char err[512] = "";

	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_non_null(c->resources);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(c->resources, "routes"), 0), "id")), "route-0");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(c->resources, "routes"), 1), "id")), "named");
	/* quoted '1' stays a string, plain 201 an integer, as for the file */
	json_t *mock = json_object_get(json_object_get(json_array_get(
		json_object_get(c->resources, "routes"), 1), "plugins"), "mock");
	assert_true(json_is_string(json_object_get(mock, "body")));
	assert_true(json_is_integer(json_object_get(mock, "status")));
	assert_true(json_is_object(json_object_get(c->resources, "plugins")));
	/* and the document reads back into the same resources */
	assert_int_equal(weir_config_from_resources(c->resources, &r, err, sizeof(err)), 0);
	assert_int_equal(r->n_routes, 2);
	assert_string_equal(r->routes[0].id, "route-0");
	assert_int_equal(r->upstreams[0].retries, 2);
	assert_string_equal(c->admin_listen.text, "127.0.0.1:9180");
	weir_config_swap_resources(c, r);
	assert_int_equal(r->n_routes, 2);
	assert_int_equal(c->n_routes, 2);
	weir_config_free(r);
	weir_config_free(c);
}

/* Every setting of the example file survives the road YAML -> the API's
 * JSON -> the reader again: the state file written from a file's resources
 * is the same configuration. */
static void test_example_roundtrip(void **state)
{
	struct weir_config *c = NULL, *r = NULL;
	char err[512] = "";

	if (weir_config_load("examples/weir.yaml", &c, err, sizeof(err)))
		print_message("# %s\n", err);
	assert_non_null(c);
	assert_non_null(c->resources);
	if (weir_config_from_resources(c->resources, &r, err, sizeof(err)))
		print_message("# %s\n", err);
	assert_non_null(r);
	assert_int_equal(r->n_routes, c->n_routes);
	assert_int_equal(r->n_upstreams, c->n_upstreams);
	assert_int_equal(r->n_plugins, c->n_plugins);
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct weir_route_conf *a = &c->routes[i], *b = &r->routes[i];
		assert_string_equal(a->id, b->id);
		assert_int_equal(a->n_paths, b->n_paths);
		assert_string_equal(a->paths[0], b->paths[0]);
		assert_int_equal(a->n_hosts, b->n_hosts);
		assert_int_equal(a->methods, b->methods);
		assert_int_equal(a->priority, b->priority);
		assert_int_equal(a->n_headers, b->n_headers);
		assert_int_equal(a->rewrite, b->rewrite);
		assert_int_equal(a->read_timeout_ms, b->read_timeout_ms);
		assert_int_equal(a->n_plugins, b->n_plugins);
		for (size_t p = 0; p < a->n_plugins; p++)
			assert_true(json_equal(a->plugins[p].conf, b->plugins[p].conf));
	}
	for (size_t i = 0; i < c->n_upstreams; i++) {
		const struct weir_upstream_conf *a = &c->upstreams[i], *b = &r->upstreams[i];
		assert_string_equal(a->name, b->name);
		assert_int_equal(a->n_nodes, b->n_nodes);
		assert_int_equal(a->lb, b->lb);
		assert_int_equal(a->keepalive_timeout_ms, b->keepalive_timeout_ms);
		assert_int_equal(a->connect_timeout_ms, b->connect_timeout_ms);
		assert_int_equal(a->max_fails, b->max_fails);
		assert_int_equal(a->hc.enabled, b->hc.enabled);
		assert_int_equal(a->hc.interval_ms, b->hc.interval_ms);
		assert_memory_equal(a->hc.expect, b->hc.expect, sizeof(a->hc.expect));
		for (size_t n = 0; n < a->n_nodes; n++) {
			assert_string_equal(a->nodes[n].addr.text, b->nodes[n].addr.text);
			assert_int_equal(a->nodes[n].weight, b->nodes[n].weight);
		}
	}
	weir_config_free(r);
	weir_config_free(c);
}

int main(void)
{
	size_t np = sizeof(patch_cases) / sizeof(patch_cases[0]);
	size_t ng = sizeof(page_cases) / sizeof(page_cases[0]);
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_field),
		cmocka_unit_test(test_check_text),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_from_resources),
		cmocka_unit_test(test_file_resources),
		cmocka_unit_test(test_example_roundtrip),
	};
	size_t nf = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests = calloc(np + ng + nf, sizeof(*tests));

	for (size_t i = 0; i < np; i++)
		tests[i] = (struct CMUnitTest){ .name = patch_cases[i].name,
						.test_func = test_patch,
						.initial_state = (void *)&patch_cases[i] };
	for (size_t i = 0; i < ng; i++)
		tests[np + i] = (struct CMUnitTest){ .name = page_cases[i].name,
						     .test_func = test_page,
						     .initial_state = (void *)&page_cases[i] };
	memcpy(tests + np + ng, fixed, sizeof(fixed));
	cmocka_set_message_output(CM_OUTPUT_TAP);
	int rc = _cmocka_run_group_tests("admin_util", tests, np + ng + nf, NULL, NULL);
	free(tests);
	return rc;
}
