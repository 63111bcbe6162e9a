/* userspace/admin_openapi.c - GET /admin/openapi.json (README: Admin API):
 * an OpenAPI 3.0 document of the routes a configuration serves.
 *
 * It is built from the parsed configuration (the live snapshot's), not from
 * the admin document: the parsed routes hold every route with its id and
 * its paths, methods and header conditions already checked and normalised
 * (path or paths, methods as bits, header names lower case), the same
 * whether they came from the file or the API, and the snapshot's version
 * names the configuration the document describes.
 *
 * What OpenAPI cannot say goes in x-weir-* extensions: a prefix route
 * ("/api/" + '*') is "/api/{path}" with x-weir-match: prefix (OpenAPI has no
 * wildcard), the hosts in x-weir-hosts (servers cannot be wildcards), and
 * the routes that share a path and a method with a route of higher
 * precedence (router.h, 3.) are named in its x-weir-also.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "router.h"

#define MAX_PATH (WEIR_ROUTER_MAX_PATH + 64)	/* "{name}" is 1 byte more than ":name" */

/* OpenAPI's methods, in the order of WEIR_M_* bits; CONNECT and other
 * methods have no place in a path item. */
static const struct {
	uint32_t bit;
	const char *name;
} methods[] = {
	{ WEIR_M_GET, "get" }, { WEIR_M_HEAD, "head" }, { WEIR_M_POST, "post" },
	{ WEIR_M_PUT, "put" }, { WEIR_M_DELETE, "delete" }, { WEIR_M_PATCH, "patch" },
	{ WEIR_M_OPTIONS, "options" }, { WEIR_M_TRACE, "trace" },
};
/* What a route of any method is listed under. */
#define ANY_METHODS (WEIR_M_GET | WEIR_M_POST | WEIR_M_PUT | WEIR_M_PATCH | WEIR_M_DELETE | \
		     WEIR_M_HEAD | WEIR_M_OPTIONS)

static json_t *str_param(const char *name, const char *in, const char *desc)
{
	json_t *p = json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in", in, "required", 1,
			      "schema", "type", "string");
	if (p && desc)
		json_object_set_new(p, "description", json_string(desc));
	return p;
}

/* Writes pattern's OpenAPI path into out ("/users/:id" -> "/users/{id}",
 * "/api/" + '*' -> "/api/{path}") and appends its path parameters to params.
 * Returns whether it is a prefix pattern, -1 when out is too small. */
static int oa_path(const char *pat, char *out, size_t cap, json_t *params)
{
	size_t o = 0, n = strlen(pat);
	bool prefix = n && pat[n - 1] == '*';
	const char *rest = "path";

	if (prefix)
		n--;
	for (size_t i = 0; i < n; i++) {
		if (pat[i] == ':' && i && pat[i - 1] == '/') {
			size_t e = i + 1;
			while (e < n && pat[e] != '/')
				e++;
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)(e - i - 1), pat + i + 1);
			if (!strcmp(name, "path"))
				rest = "rest";
			json_array_append_new(params, str_param(name, "path", NULL));
			int w = snprintf(out + o, cap - o, "{%s}", name);
			if (w < 0 || (size_t)w >= cap - o)
				return -1;
			o += (size_t)w;
			i = e - 1;
			continue;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = pat[i];
	}
	out[o] = 0;
	if (prefix) {
		int w = snprintf(out + o, cap - o, "{%s}", rest);
		if (w < 0 || (size_t)w >= cap - o)
			return -1;
		json_array_append_new(params, str_param(rest, "path", "the rest of the path"));
	}
	return prefix;
}

/* A setting of plugin `name`: the route's, else the global one. */
static const json_t *setting(const struct weir_config *c, const json_t *conf, const char *name,
			     const char *key)
{
	const json_t *v = json_object_get(conf, key);

	for (size_t i = 0; !v && i < c->n_plugins; i++)
		if (!strcmp(c->plugins[i].name, name))
			v = json_object_get(c->plugins[i].conf, key);
	return v;
}

/* Adds scheme `sname` to schemes (once) and a requirement of it to sec. */
static void require(json_t *schemes, json_t *sec, const char *sname, json_t *scheme)
{
	if (!json_object_get(schemes, sname))
		json_object_set(schemes, sname, scheme);
	json_decref(scheme);
	json_array_append_new(sec, json_pack("{s:[]}", sname));
}

/* The security requirements of route r (alternatives, any one admits),
 * its schemes added to schemes; an empty list when no authentication
 * plugin guards it. */
static json_t *security(const struct weir_config *c, const struct weir_route_conf *r,
			json_t *schemes)
{
	json_t *sec = json_array();
	char sname[160];

	for (size_t i = 0; sec && i < r->n_plugins; i++) {
		const char *p = r->plugins[i].name;
		const json_t *conf = r->plugins[i].conf;

		if (!strcmp(p, "key-auth")) {
			const char *h = json_string_value(setting(c, conf, p, "header"));
			const char *q = json_string_value(setting(c, conf, p, "query"));
			h = h ? h : "apikey";
			q = q ? q : "apikey";
			snprintf(sname, sizeof(sname), "key-auth%s%s", strcmp(h, "apikey") ? "-" : "",
				 strcmp(h, "apikey") ? h : "");
			require(schemes, sec, sname, json_pack("{s:s, s:s, s:s}", "type", "apiKey",
							       "in", "header", "name", h));
			snprintf(sname, sizeof(sname), "key-auth-query%s%s",
				 strcmp(q, "apikey") ? "-" : "", strcmp(q, "apikey") ? q : "");
			require(schemes, sec, sname, json_pack("{s:s, s:s, s:s}", "type", "apiKey",
							       "in", "query", "name", q));
		} else if (!strcmp(p, "basic-auth")) {
			require(schemes, sec, p, json_pack("{s:s, s:s}", "type", "http", "scheme",
							   "basic"));
		} else if (!strcmp(p, "jwt-auth")) {
			require(schemes, sec, p, json_pack("{s:s, s:s, s:s}", "type", "http", "scheme",
							   "bearer", "bearerFormat", "JWT"));
		} else if (!strcmp(p, "hmac-auth")) {
			require(schemes, sec, p, json_pack("{s:s, s:s, s:s, s:s}", "type", "apiKey",
							   "in", "header", "name", "Authorization",
							   "description", "an HMAC signature of the "
							   "request: Authorization: Signature "
							   "keyId=...,algorithm=...,headers=...,"
							   "signature=..."));
		}
	}
	return sec;
}

/* The order of router.h's precedence among routes of one pattern: priority
 * (high first), more header conditions, a method list before any method,
 * then the configuration's order. */
static int by_precedence(const void *a, const void *b, void *arg)
{
	const struct weir_route_conf *const *routes = arg;
	const struct weir_route_conf *x = routes[*(const size_t *)a];
	const struct weir_route_conf *y = routes[*(const size_t *)b];
	int k = weir_route_conf_rank(x, y);

	return k ? k : *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* One operation of route r on one of its paths (the n-th: operationIds stay
 * unique when a route has several). */
static json_t *operation(const struct weir_route_conf *r, size_t n, const char *method,
			 const json_t *pparams, bool prefix, const json_t *sec)
{
	char opid[160];
	json_t *op, *params = json_deep_copy(pparams);

	if (n)
		snprintf(opid, sizeof(opid), "%s_%s_%zu", r->id, method, n + 1);
	else
		snprintf(opid, sizeof(opid), "%s_%s", r->id, method);
	for (size_t h = 0; params && h < r->n_headers; h++) {
		json_t *p = str_param(r->headers[h].name, "header", NULL), *vals = json_array();
		for (size_t v = 0; vals && v < r->headers[h].n_values; v++)
			json_array_append_new(vals, json_string(r->headers[h].values[v]));
		json_object_set_new(json_object_get(p, "schema"), "enum", vals);
		json_array_append_new(params, p);
	}
	op = json_pack("{s:s, s:s, s:o, s:{s:{s:s}}, s:s}", "operationId", opid, "summary", r->id,
		       "parameters", params, "responses", "default", "description",
		       "the upstream's answer, or a plugin's", "x-weir-route", r->id);
	if (op && prefix)
		json_object_set_new(op, "x-weir-match", json_string("prefix"));
	if (op && json_array_size(sec))
		json_object_set_new(op, "security", json_deep_copy(sec));
	return op;
}

/* Adds r's hosts to the path item's x-weir-hosts, or marks it as any
 * host's (no hosts: the member goes at the end). */
static void add_hosts(json_t *item, const struct weir_route_conf *r)
{
	json_t *hosts = json_object_get(item, "x-weir-hosts"), *v;
	size_t i;

	if (!r->n_hosts) {
		json_object_set_new(item, "x-weir-any-host", json_true());
		return;
	}
	for (size_t h = 0; hosts && h < r->n_hosts; h++) {
		bool seen = false;
		json_array_foreach(hosts, i, v)
			seen |= !strcmp(json_string_value(v), r->hosts[h]);
		if (!seen)
			json_array_append_new(hosts, json_string(r->hosts[h]));
	}
}

json_t *weir_openapi_build(const struct weir_config *c, uint64_t version)
{
	const struct weir_route_conf **routes = calloc(c->n_routes + 1, sizeof(*routes));
	json_t *doc;

	if (!routes)
		return NULL;
	for (size_t i = 0; i < c->n_routes; i++)
		routes[i] = &c->routes[i];
	doc = weir_openapi_build_routes(c, routes, c->n_routes, version);
	free(routes);
	return doc;
}

json_t *weir_openapi_build_routes(const struct weir_config *c,
				  const struct weir_route_conf *const *routes, size_t n_routes,
				  uint64_t version)
{
	char ver[32], path[MAX_PATH];
	json_t *doc, *paths = json_object(), *schemes = json_object(), *item, *v;
	size_t *order = calloc(n_routes + 1, sizeof(*order));
	const char *key;
	void *tmp;

	snprintf(ver, sizeof(ver), "%llu", (unsigned long long)version);
	doc = json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.3", "info",
			"title", "weir", "version", ver, "description",
			"the routes weir serves, from its running configuration", "paths", paths,
			"components", "securitySchemes", schemes);
	if (!doc || !order) {
		free(order);
		json_decref(doc);
		return NULL;
	}
	for (size_t i = 0; i < n_routes; i++)
		order[i] = i;
	qsort_r(order, n_routes, sizeof(*order), by_precedence, (void *)routes);
	for (size_t k = 0; k < n_routes; k++) {
		const struct weir_route_conf *r = routes[order[k]];
		json_t *sec = security(c, r, schemes);

		for (size_t p = 0; p < r->n_paths; p++) {
			json_t *params = json_array();
			int prefix = oa_path(r->paths[p], path, sizeof(path), params);

			if (prefix < 0 || !params) {
				json_decref(params);
				continue;	/* the router takes no such path */
			}
			if (!(item = json_object_get(paths, path))) {
				item = json_pack("{s:[]}", "x-weir-hosts");
				json_object_set_new(paths, path, item);
			}
			add_hosts(item, r);
			for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
				json_t *op;
				if (!((r->methods ? r->methods : ANY_METHODS) & methods[m].bit))
					continue;
				if ((op = json_object_get(item, methods[m].name))) {
					const char *by = json_string_value(
						json_object_get(op, "x-weir-route"));
					if (by && !strcmp(by, r->id))
						continue;	/* two of its paths, one template */
					json_t *also = json_object_get(op, "x-weir-also");
					if (!also)
						json_object_set_new(op, "x-weir-also", also = json_array());
					json_array_append_new(also, json_string(r->id));
					continue;
				}
				json_object_set_new(item, methods[m].name,
						    operation(r, p, methods[m].name, params, prefix, sec));
			}
			json_decref(params);
		}
		json_decref(sec);
	}
	free(order);
	/* A path that a route takes on any host has no host list. */
	json_object_foreach_safe(paths, tmp, key, item) {
		v = json_object_get(item, "x-weir-any-host");
		if (v || !json_array_size(json_object_get(item, "x-weir-hosts")))
			json_object_del(item, "x-weir-hosts");
		json_object_del(item, "x-weir-any-host");
	}
	if (!json_object_size(schemes))
		json_object_del(doc, "components");
	return doc;
}
