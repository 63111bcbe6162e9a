/* userspace/plugin_key_auth.c - the `key-auth` plugin: a request is admitted
 * as the consumer whose key it carries, in a header (default `apikey`) or
 * else in a query parameter (default `apikey`):
 *
 *   consumers:
 *     - {username: alice, plugins: {key-auth: {key: "..."}}}
 *   routes:
 *     - {path: /api, upstream: api, plugins: {key-auth: {header: x-api-key}}}
 *
 * A missing or unknown key gets 401 with a short body and never reaches the
 * upstream. The key is found through the consumer table (auth.h), which
 * looks up SHA-256(key): neither the probe nor the comparison touches the
 * stored keys' bytes, so response times say nothing about them. Admitted:
 * r->consumer is set, the upstream gets the consumer header, and (with
 * hide_credentials, the default) not the key, whether it came in the header
 * or the query. A key in the query is matched raw (not percent-decoded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "core.h"
#include "plugin.h"

struct key_auth {
	struct weir_auth_common common;	/* first: auth.h callbacks read it */
	char *header, *query;
	struct weir_auth_table table;
};

static void key_auth_destroy(void *p)
{
	struct key_auth *k = p;

	if (!k)
		return;
	weir_auth_common_free(&k->common);
	weir_auth_table_free(&k->table);
	free(k->header);
	free(k->query);
	free(k);
}

static int key_auth_configure(const json_t *conf, const json_t *global, void **inst,
			      char *err, size_t errlen)
{
	static const char *const known[] = { "header", "query", NULL };
	struct key_auth *k;
	const json_t *list;
	size_t i;
	json_t *c;

	if (weir_auth_known(conf, global, known, err, errlen) < 0)
		return -1;
	if (!(k = calloc(1, sizeof(*k)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (weir_auth_string(conf, global, "header", "apikey", true, &k->header, err, errlen) ||
	    weir_auth_string(conf, global, "query", "apikey", false, &k->query, err, errlen) ||
	    weir_auth_common_configure(&k->common, conf, global, k->header, k->query, err,
				       errlen))
		goto fail;
	list = k->common.consumers;
	if (weir_auth_table_init(&k->table, json_array_size(list)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* config.c has checked each key and that no two consumers share one. */
	json_array_foreach(list, i, c) {
		const char *key = json_string_value(json_object_get(json_object_get(c, "credential"),
								    "key"));
		if (key && weir_auth_table_add(&k->table, key, strlen(key),
					       json_string_value(json_object_get(c, "username")),
					       NULL) < 0) {
			snprintf(err, errlen, "consumers: two consumers have the same key");
			goto fail;
		}
	}
	*inst = k;
	return 0;
fail:
	key_auth_destroy(k);
	return -1;
}

static int key_auth_access(struct weir_req *r, void *inst)
{
	const struct key_auth *k = inst;
	const struct weir_auth_entry *e;
	const char *key;
	size_t len = 0;

	if (!(key = weir_auth_header(r, k->header, &len)))
		key = weir_auth_query(r, k->query, &len);
	if (!key || !len) {
		r->local_why = "missing API key";
		return 401;
	}
	if (!(e = weir_auth_table_find(&k->table, key, len))) {
		r->local_why = "invalid API key";
		return 401;
	}
	r->consumer = e->consumer;
	return 0;
}

const struct weir_plugin weir_plugin_key_auth = {
	.name = "key-auth",
	.priority = 2500,
	.consumers = true,
	.configure = key_auth_configure,
	.destroy = key_auth_destroy,
	.access = key_auth_access,
	.before_upstream = weir_auth_before_upstream,
	.removes = weir_auth_removes,
	.removes_query = weir_auth_removes_query,
};
