/* fuzz_admin.c - libFuzzer target over the admin API's road from JSON to a
 * configuration: a document is written out as JSON text and read back by the
 * YAML configuration reader (weir_config_from_resources). That is only safe
 * if no string can turn into YAML syntax, so the input is used as a string
 * (a header value, a plugin setting's key and value, inside a list) in a
 * document that is otherwise valid.
 *
 * Properties, besides the sanitizers':
 *   - a string the admin API lets through (weir_admin_check_text) never
 *     makes the YAML reader fail ("syntax") and never makes the document
 *     fail anywhere else than at the field that holds it;
 *   - when the route is accepted, its header value is the input byte for
 *     byte, and the plugin settings are the JSON that was sent (json_equal):
 *     nothing was reinterpreted on the way.
 * Input that is not UTF-8 is skipped: jansson refuses it before the API
 * would get that far.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/admin.h"
#include "userspace/config.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *s = json_stringn((const char *)data, size), *settings, *doc;
	struct weir_config *c = NULL;
	char err[512] = "", field[256], why[128];

	if (!s)
		return 0;
	settings = json_pack("{s:O, s:[O, i, b, n, f], s:{s:O}}", "v", s, "list", s, 1, 1, 2.5,
			     "nested", "k", s);
	if (settings && size && !memchr(data, 0, size))
		json_object_set(settings, json_string_value(s), s);
	doc = json_pack("{s:[{s:s, s:s, s:s, s:{s:[O]}, s:{s:O}}], s:{s:{s:[s]}}, s:{}}",
			"routes", "id", "r", "path", "/x", "upstream", "u", "headers", "x-h", s,
			"plugins", "mock", settings,
			"upstreams", "u", "nodes", "127.0.0.1:9", "plugins");
	FUZZ_CHECK(doc != NULL, "out of memory");
	if (weir_admin_check_text(doc, "", 64, field, sizeof(field), why, sizeof(why)) < 0)
		goto out;
	if (weir_config_from_resources(doc, &c, err, sizeof(err)) < 0) {
		FUZZ_CHECK(!strstr(err, ": syntax:"), "%s", err);
		FUZZ_CHECK(strstr(err, "admin:1: routes[0].headers"), "%s", err);
		goto out;
	}
	FUZZ_CHECK(c->n_routes == 1 && c->routes[0].n_headers == 1, "one route, one header");
	/* C strings: a value with a NUL would end there, and is refused above */
	FUZZ_CHECK(strlen(c->routes[0].headers[0].values[0]) == size &&
		   !memcmp(c->routes[0].headers[0].values[0], data, size),
		   "header value changed on the way");
	FUZZ_CHECK(c->routes[0].n_plugins == 1 && json_equal(c->routes[0].plugins[0].conf, settings),
		   "plugin settings changed on the way");
	weir_config_free(c);
out:
	json_decref(settings);
	json_decref(s);
	json_decref(doc);
	return 0;
}
