/* tests/unit/test_admin_openapi.c - weir_openapi_build alone, on
 * configurations read from YAML text: how path patterns become templates
 * and parameters (a prefix without '/', a pattern that has a :path of its
 * own), operationIds of a route of several paths, the methods of a route of
 * any method and of CONNECT, hosts merged on a path item, the precedence
 * that decides which route of one path and method keeps the operation, and
 * key-auth's schemes from the global settings.
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

static const char yaml[] =
	"listeners: [127.0.0.1:9]\n"
	"upstreams: {u: {nodes: [127.0.0.1:9]}}\n"
	"plugins: {key-auth: {query: token}}\n"
	"routes:\n"
	"  - {id: pre, path: /api*, upstream: u, methods: [GET]}\n"
	"  - {id: both, path: /f/:path/*, upstream: u, methods: [GET]}\n"
	"  - {id: two, paths: [/a, /b], upstream: u, methods: [GET]}\n"
	"  - {id: any, path: /any, upstream: u}\n"
	"  - {id: conn, path: /conn, upstream: u, methods: [CONNECT]}\n"
	"  - {id: h1, path: /h, host: a.example.com, upstream: u, methods: [GET]}\n"
	"  - {id: h2, path: /h, host: '*.example.org', upstream: u, methods: [POST]}\n"
	"  - {id: low, path: /p, upstream: u, methods: [GET]}\n"
	"  - {id: high, path: /p, upstream: u, methods: [GET], priority: 5}\n"
	"  - {id: k, path: /k, upstream: u, methods: [GET], plugins: {key-auth: {}}}\n"
	"  - {id: sig, path: /sig, upstream: u, methods: [POST],\n"
	"     plugins: {hmac-auth: {keys: {k1: {secret: s3cr3t-s3cr3t-s3cr3t, consumer: c}}}}}\n";

static json_t *doc;

static const char *at(const char *p, const char *m, const char *member)
{
	json_t *v = json_object_get(json_object_get(json_object_get(json_object_get(doc, "paths"),
									p), m), member);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *param(const char *p, const char *m, size_t i, const char *member)
{
	json_t *ps = json_object_get(json_object_get(json_object_get(json_object_get(doc, "paths"),
									 p), m), "parameters");
	return json_string_value(json_object_get(json_array_get(ps, i), member));
}

static void test_paths(void **state)
{
	assert_string_equal(at("/api{path}", "get", "operationId"), "pre_get");
	assert_string_equal(at("/api{path}", "get", "x-weir-match"), "prefix");
	assert_string_equal(param("/api{path}", "get", 0, "name"), "path");
	assert_string_equal(at("/f/{path}/{rest}", "get", "operationId"), "both_get");
	assert_string_equal(param("/f/{path}/{rest}", "get", 0, "name"), "path");
	assert_string_equal(param("/f/{path}/{rest}", "get", 1, "name"), "rest");
	assert_string_equal(param("/f/{path}/{rest}", "get", 1, "description"),
			    "the rest of the path");
	assert_null(at("/a", "get", "x-weir-match"));
}

static void test_operations(void **state)
{
	json_t *paths = json_object_get(doc, "paths");

	assert_string_equal(at("/a", "get", "operationId"), "two_get");
	assert_string_equal(at("/b", "get", "operationId"), "two_get_2");
	assert_int_equal(json_object_size(json_object_get(paths, "/any")), 7);
	assert_null(json_object_get(json_object_get(paths, "/any"), "trace"));
	assert_int_equal(json_object_size(json_object_get(paths, "/conn")), 0);
}

static void test_hosts_precedence(void **state)
{
	json_t *h = json_object_get(json_object_get(json_object_get(doc, "paths"), "/h"),
				    "x-weir-hosts");
	json_t *also = json_object_get(json_object_get(json_object_get(json_object_get(doc,
		"paths"), "/p"), "get"), "x-weir-also");

	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(json_string_value(json_array_get(h, 1)), "*.example.org");
	assert_string_equal(at("/h", "post", "operationId"), "h2_post");
	assert_string_equal(at("/p", "get", "operationId"), "high_get");
	assert_int_equal(json_array_size(also), 1);
	assert_string_equal(json_string_value(json_array_get(also, 0)), "low");
}

static void test_security(void **state)
{
	json_t *s = json_object_get(json_object_get(doc, "components"), "securitySchemes");
	json_t *q = json_object_get(s, "key-auth-query-token");

	assert_non_null(json_object_get(s, "key-auth"));
	assert_non_null(q);
	assert_string_equal(json_string_value(json_object_get(q, "name")), "token");
	assert_string_equal(json_string_value(json_object_get(q, "in")), "query");
	assert_int_equal(json_array_size(json_object_get(json_object_get(json_object_get(
		json_object_get(doc, "paths"), "/k"), "get"), "security")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "info"),
							      "version")), "42");
	/* hmac-auth: an apiKey in Authorization, required by its route */
	assert_string_equal(json_string_value(json_object_get(json_object_get(s, "hmac-auth"),
							      "name")), "Authorization");
	assert_int_equal(json_array_size(json_object_get(json_object_get(json_object_get(
		json_object_get(doc, "paths"), "/sig"), "post"), "security")), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_operations),
		cmocka_unit_test(test_hosts_precedence),
		cmocka_unit_test(test_security),
	};
	struct weir_config *c = NULL;
	char err[512] = "";
	int rc;

	if (weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	doc = weir_openapi_build(c, 42);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	rc = doc ? cmocka_run_group_tests(tests, NULL, NULL) : 1;
	json_decref(doc);
	weir_config_free(c);
	return rc;
}
