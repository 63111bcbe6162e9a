/* userspace/plugin_cache.c - the `proxy-cache` plugin: responses of a
 * route stored in memory and answered from there while fresh, as a shared
 * cache under RFC 9111:
 *
 *   plugins:                      # global: the zones and their sizes
 *     proxy-cache: {zones: {default: {max_size: 64m}}}
 *   routes:
 *     - paths: [/static/]
 *       upstream: web
 *       plugins:
 *         proxy-cache: {default_ttl: 60s, max_object_size: 1m,
 *                       key: [method, host, uri, "header:accept-language"]}
 *
 * The store is cache.c's (zones, shards, LRU, reference counts); this file
 * is the HTTP side. Per request:
 *   access            PURGE (allow_purge, loopback only) answers 200/404;
 *                     GET/HEAD looks the key up; a fresh entry answers the
 *                     request through r->answer (http.c writes it from the
 *                     entry, which stays held until the log phase);
 *                     otherwise the request goes upstream
 *   response_headers  X-Cache-Status on every answer of the route (and Age
 *                     on a hit); for a storable response, a new entry with
 *                     the response head as stored
 *   response_body     the raw body bytes (framing included) appended to it,
 *                     abandoned past max_object_size (a body de-chunked for
 *                     an HTTP/1.0 client is not stored at all)
 *   log               a response that ended whole is inserted; anything
 *                     else (upstream error, client gone) is dropped
 * The stored head is the upstream's fields after the route's removals,
 * without hop-by-hop fields, Age and X-Request-Id; other plugins' header
 * lines are added again on every hit, as on every miss.
 *
 * r->plugin_ctx[i] holds, by contract: NULL (not decided), a small number
 * (enum cstate: what X-Cache-Status says), an entry being filled (a
 * pointer), or a held entry answering the request (a pointer with its low
 * bit set). Nothing is allocated for a hit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache.h"
#include "core.h"
#include "plugin.h"
#include "snapshot.h"

#define DEFAULT_ZONE_SIZE (64 * 1024 * 1024)
#define DEFAULT_OBJECT_SIZE (1024 * 1024)
#define MAX_KEY 8192
#define MAX_VARY 4096
#define MAX_KEY_PARTS 16
#define ZONE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

enum cstate { CS_MISS = 1, CS_EXPIRED, CS_BYPASS, CS_BYPASS_STORE, CS_LAST = 15 };

static const char *const cstate_text[CS_LAST + 1] = {
	[CS_MISS] = "MISS", [CS_EXPIRED] = "EXPIRED", [CS_BYPASS] = "BYPASS",
	[CS_BYPASS_STORE] = "BYPASS",
};

struct cache_inst {
	struct weir_cache_zone *zone;
	char *zone_name;
	struct weir_cache_key_part key[MAX_KEY_PARTS];
	size_t n_key;
	bool get, head;			/* methods */
	uint64_t statuses[10];		/* bit per status, 0-639 */
	int64_t default_ttl;		/* seconds */
	uint64_t max_object_size;
	bool honor_request_no_cache;
	bool allow_purge;
};

/* ---- settings ------------------------------------------------------------ */

static const char *const route_keys[] = {
	"zone", "key", "methods", "statuses", "default_ttl", "max_object_size",
	"honor_request_no_cache", "allow_purge", NULL,
};

static const json_t *setting(const json_t *conf, const json_t *global, const char *name)
{
	const json_t *v = json_object_get(conf, name);

	return v ? v : json_object_get(global, name);
}

/* A size or duration: an integer (bytes, seconds) or a string with a unit. */
static int check_keys(const json_t *conf, bool global, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)conf, k, v) {
		bool known = global && !strcmp(k, "zones");
		for (size_t i = 0; !known && route_keys[i]; i++)
			known = !strcmp(k, route_keys[i]);
		if (!known) {
			snprintf(err, errlen, "%s: unknown field%s", k,
				 !strcmp(k, "zones") ? " (zones are set in the global plugins map)" : "");
			return -1;
		}
	}
	return 0;
}

static int parse_key(struct cache_inst *c, const json_t *v, char *err, size_t errlen)
{
	static const struct { const char *name; uint8_t kind; } plain[] = {
		{ "method", WEIR_CKEY_METHOD }, { "host", WEIR_CKEY_HOST },
		{ "uri", WEIR_CKEY_URI }, { "path", WEIR_CKEY_PATH },
	};
	static const struct { const char *prefix; uint8_t kind; } named[] = {
		{ "header:", WEIR_CKEY_HEADER }, { "cookie:", WEIR_CKEY_COOKIE },
		{ "arg:", WEIR_CKEY_ARG },
	};
	size_t i;
	json_t *e;

	if (!v) {
		c->key[0].kind = WEIR_CKEY_METHOD;
		c->key[1].kind = WEIR_CKEY_HOST;
		c->key[2].kind = WEIR_CKEY_URI;
		c->n_key = 3;
		return 0;
	}
	if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > MAX_KEY_PARTS) {
		snprintf(err, errlen, "key: expected a list of 1 to %d parts", MAX_KEY_PARTS);
		return -1;
	}
	json_array_foreach(v, i, e) {
		struct weir_cache_key_part *k = &c->key[i];
		const char *s = json_string_value(e);
		bool ok = false;

		for (size_t j = 0; s && !ok && j < sizeof(plain) / sizeof(plain[0]); j++)
			if (!strcmp(s, plain[j].name)) {
				k->kind = plain[j].kind;
				ok = true;
			}
		for (size_t j = 0; s && !ok && j < sizeof(named) / sizeof(named[0]); j++) {
			size_t pl = strlen(named[j].prefix), nl = strlen(s) - pl;
			if (strncmp(s, named[j].prefix, pl) || !nl || nl >= sizeof(k->name))
				continue;
			k->kind = named[j].kind;
			k->name_len = (uint32_t)nl;
			for (size_t n = 0; n < nl; n++) {
				char ch = s[pl + n];
				if (ch <= ' ' || ch >= 127 || ch == ':')
					break;
				/* header names are matched lower case */
				k->name[n] = named[j].kind == WEIR_CKEY_HEADER && ch >= 'A' && ch <= 'Z' ?
					     (char)(ch + 32) : ch;
				ok = n + 1 == nl;
			}
		}
		if (!ok) {
			snprintf(err, errlen, "key[%zu]: expected method, host, uri, path, "
				 "header:NAME, cookie:NAME or arg:NAME", i);
			return -1;
		}
	}
	c->n_key = json_array_size(v);
	return 0;
}

static int parse_lists(struct cache_inst *c, const json_t *methods, const json_t *statuses,
		       char *err, size_t errlen)
{
	size_t i;
	json_t *e;

	c->get = c->head = !methods;
	if (methods && (!json_is_array(methods) || !json_array_size(methods))) {
		snprintf(err, errlen, "methods: expected a list of GET and/or HEAD");
		return -1;
	}
	json_array_foreach(methods, i, e) {
		const char *s = json_string_value(e);
		if (s && !strcmp(s, "GET")) {
			c->get = true;
		} else if (s && !strcmp(s, "HEAD")) {
			c->head = true;
		} else {
			snprintf(err, errlen, "methods[%zu]: only GET and HEAD are cached", i);
			return -1;
		}
	}
	if (!statuses) {
		for (int s = 0; s < 3; s++) {
			int code = (int[]){ 200, 301, 404 }[s];
			c->statuses[code / 64] |= 1ull << (code % 64);
		}
		return 0;
	}
	if (!json_is_array(statuses) || !json_array_size(statuses)) {
		snprintf(err, errlen, "statuses: expected a list of status codes");
		return -1;
	}
	json_array_foreach(statuses, i, e) {
		json_int_t code = json_integer_value(e);
		if (!json_is_integer(e) || code < 200 || code > 599 || code == 206 || code == 304) {
			snprintf(err, errlen, "statuses[%zu]: expected a final status from 200 to 599, "
				 "not 206 or 304", i);
			return -1;
		}
		c->statuses[code / 64] |= 1ull << (code % 64);
	}
	return 0;
}

/* The zone's size: zones.NAME.max_size in the global map, else the
 * default for "default"; another name must be declared there. */
static int zone_size(const json_t *global, const char *name, uint64_t *size, char *err,
		     size_t errlen)
{
	const json_t *zones = json_object_get(global, "zones"), *z, *ms;
	const char *k;
	json_t *v;
	int64_t n;

	if (zones && !json_is_object(zones)) {
		snprintf(err, errlen, "zones: expected a map of zone names to {max_size: SIZE}");
		return -1;
	}
	json_object_foreach((json_t *)zones, k, v) {
		const char *f;
		json_t *fv;
		if (strlen(k) > 63 || k[strspn(k, ZONE_CHARS)]) {
			snprintf(err, errlen, "zones.%s: a zone name is 1 to 63 of A-Z a-z 0-9 . _ -",
				 k);
			return -1;
		}
		if (!json_is_object(v)) {
			snprintf(err, errlen, "zones.%s: expected a map with max_size", k);
			return -1;
		}
		json_object_foreach(v, f, fv)
			if (strcmp(f, "max_size")) {
				snprintf(err, errlen, "zones.%s.%s: unknown field", k, f);
				return -1;
			}
		ms = json_object_get(v, "max_size");
		if (!ms || weir_plugin_scaled(ms, false, &n) < 0 || n < 4096) {
			snprintf(err, errlen, "zones.%s.max_size: expected a size of at least 4k", k);
			return -1;
		}
	}
	z = json_object_get(zones, name);
	if (!z && strcmp(name, "default")) {
		snprintf(err, errlen, "zone: '%s' is not declared in the global "
			 "plugins.proxy-cache.zones", name);
		return -1;
	}
	*size = DEFAULT_ZONE_SIZE;
	if (z && weir_plugin_scaled(json_object_get(z, "max_size"), false, &n) == 0)
		*size = (uint64_t)n;
	return 0;
}

static void cache_destroy(void *p)
{
	struct cache_inst *c = p;

	if (!c)
		return;
	weir_cache_zone_put(c->zone);
	free(c->zone_name);
	free(c);
}

static int cache_configure(const json_t *conf, const json_t *global, void **inst,
			   char *err, size_t errlen)
{
	const json_t *v;
	struct cache_inst *c;
	const char *zone = "default";
	uint64_t zsize;
	int64_t n;

	if (conf && !json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map (zone, key, methods, statuses, "
			 "default_ttl, max_object_size, honor_request_no_cache, allow_purge)");
		return -1;
	}
	if (global && !json_is_object(global)) {
		snprintf(err, errlen, "the global settings must be a map");
		return -1;
	}
	if ((conf && check_keys(conf, false, err, errlen) < 0) ||
	    (global && check_keys(global, true, err, errlen) < 0))
		return -1;
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((v = setting(conf, global, "zone"))) {
		zone = json_string_value(v);
		if (!zone || !*zone || strlen(zone) > 63 ||
		    zone[strspn(zone, ZONE_CHARS)]) {
			snprintf(err, errlen, "zone: expected a name of 1 to 63 of A-Z a-z 0-9 . _ -");
			goto fail;
		}
	}
	if (zone_size(global, zone, &zsize, err, errlen) < 0 ||
	    parse_key(c, setting(conf, global, "key"), err, errlen) < 0 ||
	    parse_lists(c, setting(conf, global, "methods"), setting(conf, global, "statuses"),
			err, errlen) < 0)
		goto fail;
	c->default_ttl = 0;
	if ((v = setting(conf, global, "default_ttl"))) {
		if (weir_plugin_scaled(v, true, &n) < 0 || n > 365LL * 86400 * 1000) {
			snprintf(err, errlen, "default_ttl: expected a duration (10s, 5m, 1h; "
				 "0: store nothing without freshness information) up to 365 days");
			goto fail;
		}
		c->default_ttl = n / 1000;
	}
	c->max_object_size = DEFAULT_OBJECT_SIZE;
	if (c->max_object_size > weir_cache_object_max(zsize))
		c->max_object_size = weir_cache_object_max(zsize);
	if ((v = setting(conf, global, "max_object_size"))) {
		if (weir_plugin_scaled(v, false, &n) < 0 || n < 1) {
			snprintf(err, errlen, "max_object_size: expected a size (bytes, or k, m, g)");
			goto fail;
		}
		c->max_object_size = (uint64_t)n;
	}
	if (c->max_object_size > weir_cache_object_max(zsize)) {
		snprintf(err, errlen, "max_object_size: larger than what zone '%s' can hold "
			 "(%llu bytes: its max_size over its shards, less bookkeeping)", zone,
			 (unsigned long long)weir_cache_object_max(zsize));
		goto fail;
	}
	c->honor_request_no_cache = true;
	if ((v = setting(conf, global, "honor_request_no_cache"))) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "honor_request_no_cache: expected true or false");
			goto fail;
		}
		c->honor_request_no_cache = json_is_true(v);
	}
	if ((v = setting(conf, global, "allow_purge"))) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "allow_purge: expected true or false");
			goto fail;
		}
		c->allow_purge = json_is_true(v);
	}
	c->zone_name = strdup(zone);
	c->zone = c->zone_name ? weir_cache_zone_get(zone, zsize) : NULL;
	if (!c->zone) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*inst = c;
	return 0;
fail:
	cache_destroy(c);
	return -1;
}

/* ---- per request ---------------------------------------------------------- */

static inline uintptr_t ctx_get(struct weir_req *r, void *inst, void ***slot)
{
	*slot = weir_plugin_ctx(r, inst);
	return *slot ? (uintptr_t)**slot : 0;
}

static ssize_t req_key(const struct cache_inst *c, const struct weir_req *r, char *out,
		       size_t cap)
{
	struct weir_cache_key_req rq = {
		.method = "GET",	/* HEAD is answered from GET's entry; PURGE names it */
		.host = r->host, .host_len = r->host_len,
		.uri = r->client->in->data + r->path.off,
		.uri_len = r->path.len, .path_len = r->path_len,
		.hdrs = r->hdrs, .n_hdrs = r->head.n_fields,
	};

	return weir_cache_key(c->key, c->n_key, &rq, out, cap);
}

static bool from_loopback(const struct weir_req *r)
{
	const struct in6_addr *a = &r->client->peer.sin6_addr;

	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* What the request says about the cache: Authorization, and its own
 * Cache-Control / Pragma directives. */
static bool req_directives(const struct weir_req *r, struct weir_cc *cc)
{
	bool auth = false;

	weir_cc_init(cc);
	for (uint32_t i = 0; i < r->head.n_fields; i++) {
		const struct weir_hdr *h = &r->hdrs[i];
		if (h->name_len == 13 && !memcmp(h->name, "authorization", 13))
			auth = true;
		else if ((h->name_len == 13 && !memcmp(h->name, "cache-control", 13)) ||
			 (h->name_len == 6 && !memcmp(h->name, "pragma", 6)))
			weir_cc_parse(cc, h->value, h->value_len);
	}
	return auth;
}

static int cache_access(struct weir_req *r, void *inst)
{
	struct cache_inst *c = inst;
	void **slot = weir_plugin_ctx(r, inst);
	char key[MAX_KEY];
	struct weir_cc cc;
	enum weir_cache_found found;
	ssize_t klen;
	bool auth;

	if (!slot)
		return 0;
	if (r->method == HTTP_PURGE && c->allow_purge) {
		if (!from_loopback(r)) {
			r->local_why = "PURGE is only accepted from loopback";
			return 403;
		}
		klen = req_key(c, r, key, sizeof(key));
		long n = klen < 0 ? 0 : weir_cache_purge(c->zone_name, key, (size_t)klen, false);
		r->local_why = n > 0 ? "purged" : "not in the cache";
		return n > 0 ? 200 : 404;
	}
	*slot = (void *)(uintptr_t)CS_BYPASS;
	if (!((r->method == HTTP_GET && c->get) || (r->method == HTTP_HEAD && c->head)))
		return 0;
	auth = req_directives(r, &cc);
	if (c->honor_request_no_cache && (cc.no_store || cc.no_cache)) {
		if (!cc.no_store)
			*slot = (void *)(uintptr_t)CS_BYPASS_STORE;
		return 0;
	}
	klen = req_key(c, r, key, sizeof(key));
	if (klen < 0)
		return 0;
	struct weir_cache_entry *e = weir_cache_lookup(c->zone, key, (size_t)klen, r->hdrs,
						       r->head.n_fields, (int64_t)time(NULL),
						       &found);
	if (auth)
		*slot = (void *)(uintptr_t)CS_BYPASS_STORE;	/* stored if public */
	if (e && auth && !e->auth_ok) {
		weir_cache_release(e);
		return 0;
	}
	if (e && e->chunked && !r->http_minor) {
		weir_cache_release(e);	/* an HTTP/1.0 client cannot take chunks */
		return 0;
	}
	if (e) {
		*slot = (void *)((uintptr_t)e | 1);
		r->answer = &e->answer;
		return e->answer.status;
	}
	if (!auth)
		*slot = (void *)(uintptr_t)(found == WEIR_CACHE_STALE ? CS_EXPIRED : CS_MISS);
	return 0;
}

/* Fields never stored: hop-by-hop ones, and those each answer has its own
 * of. */
static bool not_stored(const char *n, uint32_t len)
{
	static const char *const names[] = {
		"connection", "keep-alive", "te", "upgrade", "proxy-connection",
		"age", "x-request-id", "x-cache-status", NULL,
	};

	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == len && !strncasecmp(n, names[i], len))
			return true;
	return false;
}

static bool field_is(const char *n, uint32_t len, const char *name)
{
	return strlen(name) == len && !strncasecmp(n, name, len);
}

/* The response is in r->rhead (spans in r->up->in): a new entry for it
 * when the route stores it, else NULL. */
static struct weir_cache_entry *fill_start(struct cache_inst *c, struct weir_req *r,
					   bool auth)
{
	const llhttp_t *p = &r->up->parser;
	const struct weir_buf *b = r->up->in;
	const struct weir_hdr_names *drop = r->route->drop_response;
	struct weir_cache_times t = { .now = (int64_t)time(NULL) };
	const char *vary = NULL;
	size_t vary_len = 0;
	bool chunked = (p->flags & F_CHUNKED) != 0;
	struct weir_cc cc;
	char key[MAX_KEY], rec[MAX_VARY];
	ssize_t klen, rlen = 0;

	/* A chunked body going de-chunked to an HTTP/1.0 client reaches
	 * response_body without its framing: not one to store as it came. */
	if (r->method != HTTP_GET || r->dechunk || r->status >= 640 ||
	    !(c->statuses[r->status / 64] & (1ull << (r->status % 64))) ||
	    (!chunked && !(p->flags & F_CONTENT_LENGTH)) ||
	    llhttp_message_needs_eof(p) ||
	    (!chunked && p->content_length > c->max_object_size))
		return NULL;
	weir_cc_init(&cc);
	for (uint32_t i = 0; i < r->rhead.n_fields; i++) {
		const struct weir_field *f = &r->rhead.fields[i];
		const char *n = b->data + f->name.off, *v = b->data + f->value.off;
		uint32_t nl = f->name.len, vl = f->value.off == UINT32_MAX ? 0 : f->value.len;

		if (f->name.off == UINT32_MAX)
			continue;
		if (field_is(n, nl, "cache-control"))
			weir_cc_parse(&cc, v, vl);
		else if (field_is(n, nl, "set-cookie"))
			return NULL;	/* one client's cookie is not for all */
		else if (field_is(n, nl, "vary") && vl) {
			if (vary)
				return NULL;	/* several Vary fields: keep it simple */
			vary = v;
			vary_len = vl;
		} else if (field_is(n, nl, "date"))
			t.has_date = !weir_http_date(v, vl, &t.date);
		else if (field_is(n, nl, "expires")) {
			t.has_expires = true;
			t.expires_ok = !weir_http_date(v, vl, &t.expires);
		} else if (field_is(n, nl, "age")) {
			for (uint32_t k = 0; k < vl && v[k] >= '0' && v[k] <= '9'; k++)
				t.age = t.age < INT32_MAX ? t.age * 10 + (v[k] - '0') : INT32_MAX;
		}
	}
	if (cc.no_store || cc.private_ || cc.no_cache ||
	    (auth && !cc.public_ && cc.s_maxage < 0))
		return NULL;
	int64_t life = weir_cache_lifetime(&cc, &t, c->default_ttl);
	int64_t age = weir_cache_initial_age(&t);
	if (life - age <= 0)
		return NULL;
	if (vary && (rlen = weir_cache_vary_record(vary, vary_len, r->hdrs, r->head.n_fields,
						   rec, sizeof(rec))) < 0)
		return NULL;	/* Vary: *, or values too long */
	if ((klen = req_key(c, r, key, sizeof(key))) < 0)
		return NULL;

	/* The stored head: the upstream's fields as the client gets them. */
	struct weir_buf *h = weir_buf_get(r->client->w);
	if (!h)
		return NULL;
	h->start = h->end = 0;
	int lost = 0;		/* a field that did not fit: not stored at all */
	for (uint32_t i = 0; i < r->rhead.n_fields; i++) {
		const struct weir_field *f = &r->rhead.fields[i];
		const char *n = b->data + f->name.off;
		if (f->name.off == UINT32_MAX || not_stored(n, f->name.len) ||
		    (drop && weir_hdr_names_has(drop, n, f->name.len)))
			continue;
		lost |= weir_buf_append(h, n, f->name.len);
		lost |= weir_buf_append(h, ": ", 2);
		if (f->value.off != UINT32_MAX)
			lost |= weir_buf_append(h, b->data + f->value.off, f->value.len);
		lost |= weir_buf_append(h, "\r\n", 2);
	}
	struct weir_cache_entry *e = NULL;
	/* A hit's head is this plus the status line and other plugins' lines,
	 * in one buffer (weir_client_answer_with): keep room for them. */
	if (!lost && h->end <= h->cap / 2)
		e = weir_cache_entry_new(key, (size_t)klen, rec, (size_t)rlen, h->data, h->end,
					 chunked ? 0 : p->content_length);
	weir_buf_put(r->client->w, h);
	if (!e)
		return NULL;
	e->answer.status = r->status;
	e->stored_at = t.now;
	e->initial_age = age;
	e->expires_at = t.now + life - age;
	e->auth_ok = cc.public_ || cc.s_maxage >= 0;
	e->chunked = chunked;
	e->body_cap = chunked ? 0 : p->content_length;
	e->body_want = chunked ? UINT64_MAX : p->content_length;
	return e;
}

static void cache_response_headers(struct weir_req *r, void *inst, struct weir_buf *head)
{
	struct cache_inst *c = inst;
	void **slot;
	uintptr_t v = ctx_get(r, inst, &slot);

	if (!v)
		return;
	if (v > CS_LAST && (v & 1)) {
		const struct weir_cache_entry *e = (const void *)(v & ~(uintptr_t)1);
		int64_t age = e->initial_age + ((int64_t)time(NULL) - e->stored_at);
		weir_buf_append(head, "X-Cache-Status: HIT\r\n", 21);
		weir_buf_field_u64(head, "Age", 3, age > 0 ? (uint64_t)age : 0);
		return;
	}
	if (v > CS_LAST || !cstate_text[v])
		return;		/* a fill already (cannot happen twice) */
	weir_buf_printf(head, "X-Cache-Status: %s\r\n", cstate_text[v]);
	if (v == CS_BYPASS || !r->up || !r->up->in)
		return;
	struct weir_cc cc;
	struct weir_cache_entry *e = fill_start(c, r, req_directives(r, &cc));
	if (e)
		*slot = e;
}

static void cache_response_body(struct weir_req *r, void *inst, const char *data, size_t len)
{
	struct cache_inst *c = inst;
	void **slot;
	uintptr_t v = ctx_get(r, inst, &slot);

	if (v <= CS_LAST || (v & 1))
		return;
	struct weir_cache_entry *e = (void *)v;
	size_t need = e->answer.body_len + len;
	if (need > c->max_object_size || need > e->body_want ||
	    weir_cache_entry_reserve(e, need, &e->body_cap) < 0) {
		weir_cache_entry_free(e);	/* too large: abandoned */
		*slot = (void *)(uintptr_t)CS_MISS;
		return;
	}
	memcpy(e->body + e->answer.body_len, data, len);
	e->answer.body_len = need;
}

static void cache_log(struct weir_req *r, void *inst)
{
	struct cache_inst *c = inst;
	void **slot;
	uintptr_t v = ctx_get(r, inst, &slot);

	if (v <= CS_LAST)
		return;
	*slot = NULL;
	if (v & 1) {
		weir_cache_release((struct weir_cache_entry *)(v & ~(uintptr_t)1));
		return;
	}
	struct weir_cache_entry *e = (void *)v;
	/* Only a response that reached the client whole is stored. */
	bool whole = r->resp_done && r->ufwd == r->umsg_end &&
		     (e->chunked || e->answer.body_len == e->body_want);
	if (whole)
		weir_cache_insert(c->zone, e);
	else
		weir_cache_entry_free(e);
}

const struct weir_plugin weir_plugin_cache = {
	.name = "proxy-cache",
	/* after authentication and limits, before mock */
	.priority = 1085,
	.configure = cache_configure,
	.destroy = cache_destroy,
	.access = cache_access,
	.response_headers = cache_response_headers,
	.response_body = cache_response_body,
	.log = cache_log,
};
