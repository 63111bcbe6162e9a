/* userspace/plugin.c - the plugin registry, chains, the phase runners, and
 * the one plugin built into the core: `headers`, which adds header lines to
 * the request going upstream and to the response going out:
 *
 *   plugins:
 *     headers: {request: {x-tenant: acme}, response: {cache-control: no-store}}
 *
 * The other built-in plugins live in files of their own (plugin_mock.c,
 * plugin_rewrite.c, plugin_cache.c, plugin_key_auth.c, plugin_basic_auth.c,
 * plugin_jwt_auth.c, plugin_hmac.c, plugin_bodycrypto.c, plugin_forward_auth.c,
 * ...) and are
 * registered here, in weir_plugins_builtin().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "plugin.h"
#include "snapshot.h"
#include "ban.h"

#define MAX_REGISTERED 64

static const struct weir_plugin *registry[MAX_REGISTERED];
static size_t n_registered;
static _Thread_local const char *configuring;

void weir_plugin_configuring(const char *route_id)
{
	configuring = route_id;
}

const char *weir_plugin_route_id(void)
{
	return configuring ? configuring : "";
}

int weir_plugin_register(const struct weir_plugin *p)
{
	if (n_registered == MAX_REGISTERED || weir_plugin_find(p->name))
		return -1;
	registry[n_registered++] = p;
	return 0;
}

const struct weir_plugin *weir_plugin_find(const char *name)
{
	for (size_t i = 0; i < n_registered; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

static int inst_cmp(const void *a, const void *b)
{
	const struct weir_plugin_inst *x = a, *y = b;

	return (y->plugin->priority > x->plugin->priority) -
	       (y->plugin->priority < x->plugin->priority);
}

int weir_plugin_chain(const struct weir_plugin_conf *confs, size_t n,
		      const struct weir_plugin_conf *globals, size_t n_globals,
		      struct weir_plugin_inst **out, size_t *n_out, size_t *bad,
		      char *err, size_t errlen)
{
	struct weir_plugin_inst *chain;

	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return 0;
	if (n > WEIR_MAX_PLUGINS) {
		snprintf(err, errlen, "at most %d plugins per route", WEIR_MAX_PLUGINS);
		return -1;
	}
	chain = calloc(n, sizeof(*chain));
	if (!chain) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct weir_plugin *p = weir_plugin_find(confs[i].name);
		const json_t *global = NULL;
		char why[200] = "";

		*bad = i;
		if (!p) {
			snprintf(err, errlen, "%s: no such plugin", confs[i].name);
			goto fail;
		}
		for (size_t g = 0; g < n_globals; g++)
			if (!strcmp(globals[g].name, confs[i].name))
				global = globals[g].conf;
		chain[i].plugin = p;
		if (p->configure && p->configure(confs[i].conf, global, &chain[i].inst,
						 why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: %s", confs[i].name, why);
			chain[i].plugin = NULL;
			goto fail;
		}
		*n_out = i + 1;
	}
	qsort(chain, n, sizeof(*chain), inst_cmp);
	*out = chain;
	return 0;
fail:
	weir_plugin_chain_free(chain, n);
	*n_out = 0;
	return -1;
}

void weir_plugin_chain_free(struct weir_plugin_inst *chain, size_t n)
{
	for (size_t i = 0; chain && i < n; i++)
		if (chain[i].plugin && chain[i].plugin->destroy)
			chain[i].plugin->destroy(chain[i].inst);
	free(chain);
}

bool weir_plugin_chain_answers(const struct weir_plugin_inst *chain, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (chain[i].plugin->answers)
			return true;
	return false;
}

bool weir_plugin_chain_rewrites_status(const struct weir_plugin_inst *chain, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (chain[i].plugin->response_status)
			return true;
	return false;
}

/* Merges the name sets of a chain's instances (sets[i] for chain[i]). */
static int merge_names(const struct weir_hdr_names *const *sets, size_t n,
		       struct weir_hdr_names **out)
{
	size_t total = 0, k = 0;
	struct weir_hdr_names *m;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		total += sets[i] ? sets[i]->n : 0;
	if (!total)
		return 0;
	m = malloc(sizeof(*m) + total * sizeof(m->v[0]));
	if (!m)
		return -1;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; sets[i] && j < sets[i]->n; j++)
			m->v[k++] = sets[i]->v[j];
	m->n = k;
	*out = m;
	return 0;
}

void **weir_plugin_ctx(struct weir_req *r, const void *inst)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; rt && i < rt->n_plugins && i < WEIR_MAX_PLUGINS; i++)
		if (rt->plugins[i].inst == inst)
			return &r->plugin_ctx[i];
	return NULL;
}

int weir_plugin_chain_removes(const struct weir_plugin_inst *chain, size_t n, bool response,
			      struct weir_hdr_names **out)
{
	const struct weir_hdr_names *sets[WEIR_MAX_PLUGINS];

	n = n < WEIR_MAX_PLUGINS ? n : WEIR_MAX_PLUGINS;
	for (size_t i = 0; i < n; i++)
		sets[i] = chain[i].plugin->removes ?
			  chain[i].plugin->removes(chain[i].inst, response) : NULL;
	return merge_names(sets, n, out);
}

int weir_plugin_chain_removes_query(const struct weir_plugin_inst *chain, size_t n,
				    struct weir_hdr_names **out)
{
	const struct weir_hdr_names *sets[WEIR_MAX_PLUGINS];

	n = n < WEIR_MAX_PLUGINS ? n : WEIR_MAX_PLUGINS;
	for (size_t i = 0; i < n; i++)
		sets[i] = chain[i].plugin->removes_query ?
			  chain[i].plugin->removes_query(chain[i].inst) : NULL;
	return merge_names(sets, n, out);
}

uint64_t weir_plugin_chain_holds(const struct weir_plugin_inst *chain, size_t n, bool response)
{
	uint64_t min = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t h = chain[i].plugin->holds ? chain[i].plugin->holds(chain[i].inst, response) : 0;
		if (h && (!min || h < min))
			min = h;
	}
	return min;
}

int weir_body_reserve(struct weir_body *b, size_t need)
{
	size_t cap = b->cap ? b->cap * 2 : 4096;
	char *p;

	if (need <= b->cap)
		return 0;
	/* The first reservation is exact (a declared length); growth doubles. */
	if (!b->cap && need > cap)
		cap = need;
	while (cap < need)
		cap *= 2;
	if (!(p = realloc(b->data, cap)))
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int weir_body_append(struct weir_body *b, const char *p, size_t len, uint64_t max)
{
	if (b->len + len > max)
		return -1;
	if (weir_body_reserve(b, b->len + len) < 0)
		return -2;
	memcpy(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

void weir_body_free(struct weir_body *b)
{
	free(b->data);
	*b = (struct weir_body){ 0 };
}

/* Refusals count towards a ban of the source (ban.h). */
static void note_refusal(struct weir_req *r, const struct weir_plugin *p, int status)
{
	if (status && p->refusal)
		weir_ban_note(r, p->refusal);
	else if (status == 401 || status == 403)
		weir_ban_note(r, WEIR_BAN_AUTH);
}

int weir_plugins_access(struct weir_req *r)
{
	const struct weir_route *rt = r->route;

	for (size_t i = r->access_next; i < rt->n_plugins; i++) {
		const struct weir_plugin_inst *pi = &rt->plugins[i];
		if (pi->plugin->access) {
			int status = pi->plugin->access(r, pi->inst);
			if (status == WEIR_ACCESS_PENDING) {
				r->access_next = (uint8_t)(i + 1);
				return status;
			}
			note_refusal(r, pi->plugin, status);
			if (status)
				return status;
		}
	}
	/* All passed: resuming (after a delay) runs none again. */
	r->access_next = (uint8_t)rt->n_plugins;
	return 0;
}

int weir_plugins_access_resume(struct weir_req *r, int status)
{
	if (status) {
		note_refusal(r, r->route->plugins[r->access_next - 1].plugin, status);
		return status;
	}
	return weir_plugins_access(r);
}

void weir_plugins_worker_reap(struct weir_worker *w)
{
	for (size_t i = 0; i < n_registered; i++)
		if (registry[i]->worker_reap)
			registry[i]->worker_reap(w);
}

void weir_plugins_worker_end(struct weir_worker *w)
{
	for (size_t i = 0; i < n_registered; i++)
		if (registry[i]->worker_end)
			registry[i]->worker_end(w);
}

void weir_plugins_before_upstream(struct weir_req *r, struct weir_buf *head)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; i < rt->n_plugins; i++)
		if (rt->plugins[i].plugin->before_upstream)
			rt->plugins[i].plugin->before_upstream(r, rt->plugins[i].inst, head);
}

void weir_plugins_response_headers(struct weir_req *r, struct weir_buf *head)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; rt && i < rt->n_plugins; i++)
		if (rt->plugins[i].plugin->response_headers)
			rt->plugins[i].plugin->response_headers(r, rt->plugins[i].inst, head);
}

int weir_plugins_request_body(struct weir_req *r, struct weir_body *body)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; i < rt->n_plugins; i++) {
		const struct weir_plugin_inst *pi = &rt->plugins[i];
		if (pi->plugin->request_body) {
			int status = pi->plugin->request_body(r, pi->inst, body);
			if (status)
				return status;
		}
	}
	return 0;
}

int weir_plugins_response_held(struct weir_req *r, struct weir_body *body)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; i < rt->n_plugins; i++) {
		const struct weir_plugin_inst *pi = &rt->plugins[i];
		if (pi->plugin->response_held) {
			int status = pi->plugin->response_held(r, pi->inst, body);
			if (status)
				return status;
		}
	}
	return 0;
}

void weir_plugins_response_body(struct weir_req *r, const char *data, size_t len)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; rt && i < rt->n_plugins; i++)
		if (rt->plugins[i].plugin->response_body)
			rt->plugins[i].plugin->response_body(r, rt->plugins[i].inst, data, len);
}

uint16_t weir_plugins_response_status(struct weir_req *r, uint16_t status)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; rt && i < rt->n_plugins; i++)
		if (rt->plugins[i].plugin->response_status)
			status = rt->plugins[i].plugin->response_status(r, rt->plugins[i].inst,
									 status);
	return status;
}

void weir_plugins_log(struct weir_req *r)
{
	const struct weir_route *rt = r->route;

	for (size_t i = 0; rt && i < rt->n_plugins; i++)
		if (rt->plugins[i].plugin->log)
			rt->plugins[i].plugin->log(r, rt->plugins[i].inst);
}

int weir_plugin_fields(const json_t *conf, const char *const *known, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		size_t i = 0;
		while (known[i] && strcmp(known[i], key))
			i++;
		if (!known[i]) {
			snprintf(err, errlen, "%s: unknown field", key);
			return -1;
		}
	}
	return 0;
}

int weir_plugin_scaled(const json_t *v, bool duration, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v) * (duration ? 1000 : 1);
		return json_integer_value(v) < 0 ? -1 : 0;
	}
	if (!json_is_string(v))
		return -1;
	return weir_config_scaled(json_string_value(v), duration, out);
}

/* ---- headers ------------------------------------------------------------- */

/* Header lines, preformatted "name: value\r\n", for each direction. */
struct headers_inst {
	char *request, *response;
	size_t request_len, response_len;
};

bool weir_plugin_is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?={}", *s))
			return false;
	return true;
}

int weir_plugin_header_lines(const json_t *obj, const char *dir, char **out, size_t *len,
			     char *err, size_t errlen)
{
	const char *name;
	json_t *val;
	char *buf;
	size_t size;
	FILE *f;

	*out = NULL;
	*len = 0;
	if (!obj)
		return 0;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "%s: must be a map of header names to values", dir);
		return -1;
	}
	f = open_memstream(&buf, &size);
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_object_foreach((json_t *)obj, name, val) {
		const char *v = json_string_value(val);
		bool ok = weir_plugin_is_token(name) && v;
		for (const char *p = v; ok && *p; p++)
			ok = (unsigned char)*p >= ' ' || *p == '\t';
		if (!ok) {
			fclose(f);
			free(buf);
			snprintf(err, errlen, "%s.%s: a header needs a token name and a string "
				 "value without control characters", dir, name);
			return -1;
		}
		fprintf(f, "%s: %s\r\n", name, v);
	}
	fclose(f);
	*out = buf;
	*len = size;
	return 0;
}

static void headers_destroy(void *p)
{
	struct headers_inst *h = p;

	if (!h)
		return;
	free(h->request);
	free(h->response);
	free(h);
}

static int headers_configure(const json_t *conf, const json_t *global, void **inst,
			     char *err, size_t errlen)
{
	struct headers_inst *h;
	const char *key;
	json_t *val;

	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map with `request` and/or `response`");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		if (strcmp(key, "request") && strcmp(key, "response")) {
			snprintf(err, errlen, "%s: unknown field", key);
			return -1;
		}
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (weir_plugin_header_lines(json_object_get(conf, "request"), "request", &h->request,
				     &h->request_len, err, errlen) < 0 ||
	    weir_plugin_header_lines(json_object_get(conf, "response"), "response",
				     &h->response, &h->response_len, err, errlen) < 0) {
		headers_destroy(h);
		return -1;
	}
	*inst = h;
	return 0;
}

static void headers_request(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct headers_inst *h = inst;

	if (h->request_len)
		weir_buf_append(head, h->request, h->request_len);
}

static void headers_response(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct headers_inst *h = inst;

	if (h->response_len)
		weir_buf_append(head, h->response, h->response_len);
}

static const struct weir_plugin headers_plugin = {
	.name = "headers",
	.priority = 0,
	.configure = headers_configure,
	.destroy = headers_destroy,
	.before_upstream = headers_request,
	.response_headers = headers_response,
};

void weir_plugins_builtin(void)
{
	const struct weir_plugin *builtin[] = {
		&headers_plugin, &weir_plugin_mock, &weir_plugin_rewrite, &weir_plugin_cache,
		&weir_plugin_ip_restriction, &weir_plugin_limit_req, &weir_plugin_limit_count,
		&weir_plugin_limit_conn, &weir_plugin_key_auth, &weir_plugin_basic_auth,
		&weir_plugin_jwt_auth, &weir_plugin_hmac, &weir_plugin_bodycrypto,
		&weir_plugin_forward_auth,
	};

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (!weir_plugin_find(builtin[i]->name))
			weir_plugin_register(builtin[i]);
}
