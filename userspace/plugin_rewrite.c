/* userspace/plugin_rewrite.c - the `rewrite` plugin: sets and removes header
 * fields of the request going upstream and of the response going out:
 *
 *   plugins:
 *     rewrite:
 *       request_headers:  {set: {x-tenant: acme}, remove: [x-debug]}
 *       response_headers: {set: {x-served-by: weir}, remove: [server]}
 *       status: {"404": 200, "502": 503}
 *
 * `set` replaces: every field of that name the client (or upstream) sent is
 * dropped and the one given is added. `remove` drops every field of the
 * name. Names are matched without regard to case. Removal works through the
 * head rebuild in proxy.c (plugin.h: `removes`), so routes without this
 * plugin pay nothing for it. Framing and hop-by-hop fields, Host, and those
 * weir writes itself (X-Forwarded-*, X-Request-Id) are not rewritable: a
 * change to them would break the exchange or be overwritten.
 *
 * `status` maps the upstream's final status to the one the client gets
 * (the reason phrase becomes weir's for the new code); the body and its
 * framing are the upstream's, so neither side of a pair may be 204 or 304
 * (bodyless by definition) or below 200.
 *
 * The route's own `rewrite:` (strip_prefix, template) rewrites the path;
 * this plugin touches header fields and the status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "plugin.h"

static const char *const managed_request[] = {
	"host", "content-length", "transfer-encoding", "connection", "keep-alive",
	"upgrade", "te", "proxy-connection", "expect", "x-forwarded-for",
	"x-forwarded-proto", "x-forwarded-host", "x-request-id", "traceparent", NULL,
};

static const char *const managed_response[] = {
	"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
	"te", "proxy-connection", "x-request-id", NULL,
};

/* One direction: the lines to add, the names to take out. */
struct rewrite_dir {
	char *set;
	size_t set_len;
	struct weir_hdr_names *drop;	/* NULL: none */
};

#define MAX_STATUS_MAP 32

struct rewrite_inst {
	struct rewrite_dir dir[2];	/* request, response */
	size_t n_status;
	uint16_t status[MAX_STATUS_MAP][2];	/* from, to */
};

static void dir_free(struct rewrite_dir *d)
{
	free(d->set);
	for (size_t i = 0; d->drop && i < d->drop->n; i++)
		free((char *)d->drop->v[i].name);
	free(d->drop);
}

static void rewrite_destroy(void *p)
{
	struct rewrite_inst *rw = p;

	if (!rw)
		return;
	dir_free(&rw->dir[0]);
	dir_free(&rw->dir[1]);
	free(rw);
}

static bool is_managed(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcasecmp(list[i], name))
			return true;
	return false;
}

static int drop_add(struct rewrite_dir *d, const char *name)
{
	char *copy = strdup(name);

	if (!copy)
		return -1;
	for (char *p = copy; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 32;
	d->drop->v[d->drop->n].name = copy;
	d->drop->v[d->drop->n].len = (uint32_t)strlen(copy);
	d->drop->n++;
	return 0;
}

/* Reads one of request_headers / response_headers into d. */
static int dir_configure(const json_t *conf, const char *what, const char *const *managed,
			 struct rewrite_dir *d, char *err, size_t errlen)
{
	const json_t *set, *remove;
	const char *key;
	json_t *val;
	size_t i, n;
	char path[64];

	if (!conf)
		return 0;
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "%s: must be a map with `set` and/or `remove`", what);
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		if (strcmp(key, "set") && strcmp(key, "remove")) {
			snprintf(err, errlen, "%s.%s: unknown field", what, key);
			return -1;
		}
	}
	set = json_object_get(conf, "set");
	remove = json_object_get(conf, "remove");
	snprintf(path, sizeof(path), "%s.set", what);
	if (weir_plugin_header_lines(set, path, &d->set, &d->set_len, err, errlen) < 0)
		return -1;
	if (remove && !json_is_array(remove)) {
		snprintf(err, errlen, "%s.remove: must be a list of header names", what);
		return -1;
	}
	json_object_foreach((json_t *)set, key, val) {
		if (is_managed(managed, key)) {
			snprintf(err, errlen, "%s.set.%s: managed by weir, not rewritable",
				 what, key);
			return -1;
		}
	}
	json_array_foreach(remove, i, val) {
		const char *name = json_string_value(val);
		if (!name || !weir_plugin_is_token(name)) {
			snprintf(err, errlen, "%s.remove[%zu]: expected a header name", what, i);
			return -1;
		}
		if (is_managed(managed, name)) {
			snprintf(err, errlen, "%s.remove[%zu]: '%s' is managed by weir, "
				 "not rewritable", what, i, name);
			return -1;
		}
		json_object_foreach((json_t *)set, key, val) {
			if (!strcasecmp(key, name)) {
				snprintf(err, errlen, "%s.remove[%zu]: '%s' is also set "
					 "(set replaces it already)", what, i, name);
				return -1;
			}
		}
	}
	n = json_object_size(set) + json_array_size(remove);
	if (!n)
		return 0;
	d->drop = calloc(1, sizeof(*d->drop) + n * sizeof(d->drop->v[0]));
	if (!d->drop)
		goto oom;
	/* `set` replaces what came in: its names are dropped as well. */
	json_object_foreach((json_t *)set, key, val)
		if (drop_add(d, key) < 0)
			goto oom;
	json_array_foreach(remove, i, val)
		if (drop_add(d, json_string_value(val)) < 0)
			goto oom;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* A status a response may have and be given: 200-599, with a body. */
static bool status_ok(long v)
{
	return v >= 200 && v <= 599 && v != 204 && v != 304;
}

/* Reads `status: {"FROM": TO, ...}` into rw. */
static int status_configure(const json_t *conf, struct rewrite_inst *rw, char *err,
			    size_t errlen)
{
	const char *key;
	json_t *val;
	char *end;

	if (!conf)
		return 0;
	if (!json_is_object(conf) || !json_object_size(conf)) {
		snprintf(err, errlen, "status: must be a map of upstream status to the one sent");
		return -1;
	}
	if (json_object_size(conf) > MAX_STATUS_MAP) {
		snprintf(err, errlen, "status: at most %d statuses", MAX_STATUS_MAP);
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		long from = strtol(key, &end, 10);

		if (*end || end - key != 3 || !status_ok(from)) {
			snprintf(err, errlen, "status.%s: expected a status 200-599 with a body "
				 "(not 204 or 304)", key);
			return -1;
		}
		if (!json_is_integer(val) || !status_ok(json_integer_value(val))) {
			snprintf(err, errlen, "status.%s: the status sent must be 200-599 with a "
				 "body (not 204 or 304)", key);
			return -1;
		}
		rw->status[rw->n_status][0] = (uint16_t)from;
		rw->status[rw->n_status][1] = (uint16_t)json_integer_value(val);
		rw->n_status++;
	}
	return 0;
}

static int rewrite_configure(const json_t *conf, const json_t *global, void **inst,
			     char *err, size_t errlen)
{
	struct rewrite_inst *rw;
	const char *key;
	json_t *val;

	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map with `request_headers`, "
			 "`response_headers` and/or `status`");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		if (strcmp(key, "request_headers") && strcmp(key, "response_headers") &&
		    strcmp(key, "status")) {
			snprintf(err, errlen, "%s: unknown field", key);
			return -1;
		}
	}
	rw = calloc(1, sizeof(*rw));
	if (!rw) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (dir_configure(json_object_get(conf, "request_headers"), "request_headers",
			  managed_request, &rw->dir[0], err, errlen) < 0 ||
	    dir_configure(json_object_get(conf, "response_headers"), "response_headers",
			  managed_response, &rw->dir[1], err, errlen) < 0 ||
	    status_configure(json_object_get(conf, "status"), rw, err, errlen) < 0) {
		rewrite_destroy(rw);
		return -1;
	}
	*inst = rw;
	return 0;
}

static void rewrite_request(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct rewrite_inst *rw = inst;

	if (rw->dir[0].set_len)
		weir_buf_append(head, rw->dir[0].set, rw->dir[0].set_len);
}

static void rewrite_response(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct rewrite_inst *rw = inst;

	if (rw->dir[1].set_len)
		weir_buf_append(head, rw->dir[1].set, rw->dir[1].set_len);
}

static uint16_t rewrite_status(struct weir_req *r, void *inst, uint16_t status)
{
	const struct rewrite_inst *rw = inst;

	for (size_t i = 0; i < rw->n_status; i++)
		if (rw->status[i][0] == status)
			return rw->status[i][1];
	return status;
}

static const struct weir_hdr_names *rewrite_removes(void *inst, bool response)
{
	const struct rewrite_inst *rw = inst;

	return rw->dir[response].drop;
}

const struct weir_plugin weir_plugin_rewrite = {
	.name = "rewrite",
	.priority = 0,
	.configure = rewrite_configure,
	.destroy = rewrite_destroy,
	.before_upstream = rewrite_request,
	.response_headers = rewrite_response,
	.removes = rewrite_removes,
	/* asked on every response of its routes: a scan of an empty map when
	 * the instance has none */
	.response_status = rewrite_status,
};

