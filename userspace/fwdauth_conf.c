/* userspace/fwdauth_conf.c - the settings of the forward-auth plugin
 * (plugin_forward_auth.c; README: Forward authentication), read into a
 * struct weir_fa_conf (fwdauth.h). Each error names its field and why:
 * "uri: must start with http://", "cache.key: required, ...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwdauth.h"

void weir_fa_conf_free(struct weir_fa_conf *fa)
{
	if (!fa)
		return;
	weir_fa_shared_release(fa->shared);
	free(fa->path);
	struct weir_hdr_names *sets[] = { fa->req_hdrs, fa->up_hdrs, fa->cli_hdrs, fa->key_hdrs };
	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; sets[i] && j < sets[i]->n; j++)
			free((char *)sets[i]->v[j].name);
		free(sets[i]);
	}
	free(fa);
}

/* A list of header names (lower-cased), or NULL and 0 for an absent one. */
static int names_of(const json_t *v, const char *field, struct weir_hdr_names **out,
		    char *err, size_t errlen)
{
	size_t i;
	json_t *e;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v)) {
		snprintf(err, errlen, "%s: must be a list of header names", field);
		return -1;
	}
	if (!(*out = calloc(1, sizeof(**out) + json_array_size(v) * sizeof((*out)->v[0])))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);
		char *l;

		if (!s || !weir_plugin_is_token(s)) {
			snprintf(err, errlen, "%s[%zu]: must be a header name", field, i);
			return -1;
		}
		if (!(l = strdup(s))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (char *p = l; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		(*out)->v[(*out)->n++] = (struct weir_hdr_name){ l, (uint32_t)strlen(l) };
	}
	return 0;
}

static int duration_of(const json_t *conf, const char *field, uint64_t def, uint64_t *out,
		       char *err, size_t errlen)
{
	const json_t *v = json_object_get(conf, field);
	int64_t ms;

	*out = def;
	if (!v)
		return 0;
	if (weir_plugin_scaled(v, true, &ms) < 0) {
		snprintf(err, errlen, "%s: must be a duration (\"3s\", \"500ms\", \"1m\")", field);
		return -1;
	}
	*out = (uint64_t)ms;
	return 0;
}

/* uri: http://IP:PORT/path, the address a literal as upstream nodes are. */
static int uri_of(struct weir_fa_conf *fa, const char *uri, char *err, size_t errlen)
{
	char hostport[80], why[160];
	const char *p, *slash;

	if (strncmp(uri, "http://", 7)) {
		snprintf(err, errlen, "uri: must start with http://");
		return -1;
	}
	p = uri + 7;
	slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	if (n >= sizeof(hostport)) {
		snprintf(err, errlen, "uri: address too long");
		return -1;
	}
	memcpy(hostport, p, n);
	hostport[n] = 0;
	if (weir_addr_parse(hostport, false, &fa->addr, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "uri: %s", why);
		return -1;
	}
	for (const char *q = slash; q && *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 127 || *q == '#') {
			snprintf(err, errlen, "uri: the path has a character not allowed there");
			return -1;
		}
	if (!(fa->path = strdup(slash ? slash : "/"))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* cache.shared: {ttl, size}; ttl defaults to cache.ttl. */
static int shared_of(struct weir_fa_conf *fa, const json_t *v, char *err, size_t errlen)
{
	static const char *const known[] = { "ttl", "size", NULL };
	const json_t *size = json_object_get(v, "size");
	char why[200];

	if (!json_is_object(v)) {
		snprintf(err, errlen, "cache.shared: must be a map (ttl, size)");
		return -1;
	}
	if (weir_plugin_fields(v, known, why, sizeof(why)) < 0 ||
	    duration_of(v, "ttl", fa->ttl_ms, &fa->shared_ttl_ms, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cache.shared.%s", why);
		return -1;
	}
	if (!fa->shared_ttl_ms) {
		snprintf(err, errlen, "cache.shared.ttl: must be more than 0");
		return -1;
	}
	fa->shared_size = WEIR_FA_SHARED_SIZE;
	if (size) {
		if (!json_is_integer(size) || json_integer_value(size) < WEIR_FA_SHARDS ||
		    json_integer_value(size) > 1 << 24) {
			snprintf(err, errlen, "cache.shared.size: must be an integer from %d to %d "
				 "(entries)", WEIR_FA_SHARDS, 1 << 24);
			return -1;
		}
		fa->shared_size = (uint32_t)json_integer_value(size);
	}
	return 0;
}

/* The shared table of the service at that size (fwdauth.h, registry). */
static struct weir_fa_shared *shared_table(const struct weir_fa_conf *fa)
{
	char id[512];

	snprintf(id, sizeof(id), "%s %u %s", fa->addr.text, fa->shared_size, fa->path);
	return weir_fa_shared_acquire(id, fa->shared_size);
}

int weir_fa_configure(const json_t *conf, struct weir_fa_conf **inst, char *err, size_t errlen)
{
	static const char *const known[] = {
		"uri", "request_method", "request_headers", "upstream_headers",
		"client_headers", "timeout", "keepalive", "cache", "stale_ttl", "on_failure", NULL,
	};
	static const char *const cache_known[] = { "ttl", "key", "shared", NULL };
	const json_t *v, *cache = json_object_get(conf, "cache");
	struct weir_fa_conf *fa;
	const char *s;

	if (weir_plugin_fields(conf, known, err, errlen) < 0)
		return -1;
	if (!(fa = calloc(1, sizeof(*fa)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!(s = json_string_value(json_object_get(conf, "uri")))) {
		snprintf(err, errlen, "uri: required, a string http://IP:PORT/path");
		goto fail;
	}
	if (uri_of(fa, s, err, errlen) < 0)
		goto fail;
	if ((v = json_object_get(conf, "request_method"))) {
		s = json_string_value(v);
		if (!s || (strcmp(s, "GET") && strcmp(s, "POST"))) {
			snprintf(err, errlen, "request_method: must be GET or POST");
			goto fail;
		}
		fa->post = !strcmp(s, "POST");
	}
	if (names_of(json_object_get(conf, "request_headers"), "request_headers",
		     &fa->req_hdrs, err, errlen) < 0 ||
	    names_of(json_object_get(conf, "upstream_headers"), "upstream_headers",
		     &fa->up_hdrs, err, errlen) < 0 ||
	    names_of(json_object_get(conf, "client_headers"), "client_headers",
		     &fa->cli_hdrs, err, errlen) < 0 ||
	    duration_of(conf, "timeout", 3000, &fa->timeout_ms, err, errlen) < 0 ||
	    duration_of(conf, "stale_ttl", 0, &fa->stale_ms, err, errlen) < 0)
		goto fail;
	if (!fa->timeout_ms) {
		snprintf(err, errlen, "timeout: must be more than 0");
		goto fail;
	}
	fa->keepalive = 8;
	if ((v = json_object_get(conf, "keepalive"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 10000) {
			snprintf(err, errlen, "keepalive: must be an integer from 0 to 10000");
			goto fail;
		}
		fa->keepalive = (uint32_t)json_integer_value(v);
	}
	if ((v = json_object_get(conf, "on_failure"))) {
		s = json_string_value(v);
		if (!s || (strcmp(s, "deny") && strcmp(s, "allow"))) {
			snprintf(err, errlen, "on_failure: must be deny or allow");
			goto fail;
		}
		fa->allow = !strcmp(s, "allow");
	}
	if (cache) {
		char why[200];

		if (weir_plugin_fields(cache, cache_known, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "cache.%s", why);
			goto fail;
		}
		if (duration_of(cache, "ttl", 30000, &fa->ttl_ms, why, sizeof(why)) < 0 ||
		    names_of(json_object_get(cache, "key"), "key", &fa->key_hdrs,
			     why, sizeof(why)) < 0) {
			snprintf(err, errlen, "cache.%s", why);
			goto fail;
		}
		if (!fa->key_hdrs || !fa->key_hdrs->n) {
			snprintf(err, errlen, "cache.key: required, a list of header names");
			goto fail;
		}
		fa->cache = true;
		if ((v = json_object_get(cache, "shared")) && shared_of(fa, v, err, errlen) < 0)
			goto fail;
	}
	if (fa->stale_ms && !fa->cache) {
		snprintf(err, errlen, "stale_ttl: needs `cache` (a stale verdict is a cached one)");
		goto fail;
	}
	if (fa->stale_ms && fa->stale_ms < fa->ttl_ms) {
		snprintf(err, errlen, "stale_ttl: must be at least cache.ttl");
		goto fail;
	}
	if (fa->stale_ms && fa->stale_ms < fa->shared_ttl_ms) {
		snprintf(err, errlen, "stale_ttl: must be at least cache.shared.ttl");
		goto fail;
	}
	if (fa->shared_size && !(fa->shared = shared_table(fa))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*inst = fa;
	return 0;
fail:
	weir_fa_conf_free(fa);
	return -1;
}
