/* userspace/config.c - reads weir's YAML configuration into the plain structs
 * of config.h and validates it whole: the sections of the format and the
 * file as a whole. The generic walk of the YAML document it stands on (key
 * tables, scalars, units, error messages) is config_yaml.c.
 *
 * Each mapping of the format is a table of keys (struct ckey): the key's
 * name, its type, its bounds, its default and where it lands in the struct.
 * The same tables fill the defaults (weir_config_defaults) and drive the
 * parsing, so a key's rules live in one place; what a table cannot say
 * (shorthands, either-or keys, cross references) is written out in the
 * handlers next to it.
 *
 * The walk stops at the first error. Whatever was built so far hangs off
 * the config being built and is freed with it, so no error path owns
 * anything of its own. Routes are read after everything else, since they
 * name upstreams.
 */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/config-int.h"
#include "userspace/auth.h"

#define MAX_FILE (64u << 20)
#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* ---- names ------------------------------------------------------------ */

static void lower(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* Upstream names, route ids and plugin names end up in admin API URLs, logs
 * and metrics, so they are kept to a plain alphabet. */
int weir__config_check_name(struct pctx *x, yaml_node_t *n, const char *path, const char *s)
{
	size_t len = strspn(s, ALNUM "._-");

	if (len == 0 || len > MAX_NAME || s[len])
		return weir__config_fail(x, n, path,
					 "'%s': use 1 to %d letters, digits, '.', '_' or '-'",
					 s, MAX_NAME);
	return 0;
}

/* ---- plugins: their names and settings -------------------------------- */

struct pluginargs {
	struct weir_plugin_conf *p;
	size_t *n;
};

static int plugin_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		       size_t i, const char *path, void *arg)
{
	struct pluginargs *a = arg;
	struct weir_plugin_conf *p = &a->p[(*a->n)++];

	p->line = weir__config_line_of(k);
	if (weir__config_check_name(x, k, path, name) ||
	    !(p->name = weir__config_dup(x, k, path, name)))
		return -1;
	if (weir__config_is_null(v))	/* "cors:" alone: the plugin's defaults */
		p->conf = json_object();
	else if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path, "plugin settings must be a mapping");
	else
		p->conf = weir__config_to_json(x, v, path, 0);
	return p->conf ? 0 : weir__config_fail(x, v, path, "out of memory");
}

static int parse_plugins(struct pctx *x, yaml_node_t *v, const char *path,
			 struct weir_plugin_conf **arr, size_t *n)
{
	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path,
					 "expected a mapping of plugin names to settings");
	if (!(*arr = weir__config_alloc(x, v, path, weir__config_n_pairs(v), sizeof(**arr))))
		return -1;
	return weir__config_each_pair(x, v, path, plugin_pair, &(struct pluginargs){ *arr, n });
}

/* ---- TLS: a listener's termination, an upstream's origination --------- */

/* ALPN protocols weir serves; a row here is all "h2" will need. */
static const char *const alpn_names[] = { "http/1.1", NULL };
static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const verify_names[] = { "off", "optional", "require", NULL };

static const struct ckey tls_cert_keys[] = {
	STR("cert", struct weir_tls_cert_conf, cert, true),
	STR("key", struct weir_tls_cert_conf, key, true),
	END
};

static int tls_cert_item(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *it,
			 size_t i, const char *path, void *arg)
{
	struct weir_tls_conf *t = arg;
	struct weir_tls_cert_conf *cc = &t->certs[t->n_certs++];

	cc->line = weir__config_line_of(it);
	if (it->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, it, path, "expected a mapping: {cert: FILE, key: FILE}");
	return weir__config_parse_map(x, it, tls_cert_keys, cc, path);
}

static int tls_certificates(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path)
{
	struct weir_tls_conf *t = base;

	if (v->type != YAML_SEQUENCE_NODE || !weir__config_n_items(v))
		return weir__config_fail(x, v, path,
					 "expected a list of {cert: FILE, key: FILE}, at least one");
	if (!(t->certs = weir__config_alloc(x, v, path, weir__config_n_items(v), sizeof(*t->certs))))
		return -1;
	return weir__config_each_item(x, v, path, tls_cert_item, t);
}

static int check_alpn(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	for (int i = 0; alpn_names[i]; i++)
		if (!strcmp(s, alpn_names[i]))
			return 0;
	return weir__config_fail(x, n, path, "'%s': weir serves only http/1.1", s);
}

static int tls_alpn(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		    const char *path)
{
	struct weir_tls_conf *t = base;
	char **arr = NULL;
	size_t n = 0;
	int rc;

	if (v->type == YAML_SEQUENCE_NODE && weir__config_n_items(v) > WEIR_TLS_MAX_ALPN)
		return weir__config_fail(x, v, path, "at most %d protocols", WEIR_TLS_MAX_ALPN);
	rc = weir__config_strlist(x, v, path, ONE | LIST, &arr, &n, check_alpn);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i && !rc; j++)
			if (!strcmp(arr[i], arr[j]))
				rc = weir__config_fail(x, v, path, "'%s' is listed twice", arr[i]);
		if (i < WEIR_TLS_MAX_ALPN)
			t->alpn[t->n_alpn++] = arr[i];
		else
			free(arr[i]);
	}
	free(arr);
	return rc;
}

#define TLS struct weir_tls_conf
static const struct ckey tls_keys[] = {
	FN("certificates", tls_certificates, 0, false),	/* or top-level ones: tls.c */
	ENUM("min_version", TLS, min_version, tls_versions, WEIR_TLS_1_2),
	ENUM("max_version", TLS, max_version, tls_versions, WEIR_TLS_1_3),
	STR("ciphers", TLS, ciphers, false),
	STR("ciphersuites", TLS, ciphersuites, false),
	FN("alpn", tls_alpn, 0, false),
	MS("handshake_timeout", TLS, handshake_timeout_ms, 1, DAY_MS, 10000),
	U32("session_cache", TLS, session_cache, 0, 10000000, 20480),	/* 0: no cache */
	MS("session_timeout", TLS, session_timeout_ms, 1000, 7 * DAY_MS, 3600000),
	BOOL("session_tickets", TLS, session_tickets, true),
	MS("ticket_key_rotate", TLS, ticket_key_rotate_ms, 1000, 7 * DAY_MS, 3600000),
	STR("client_ca", TLS, client_ca, false),
	ENUM("verify_client", TLS, verify_client, verify_names, WEIR_VERIFY_OFF),
	U32("verify_depth", TLS, verify_depth, 1, 16, 4),
	STR("client_id_header", TLS, client_id_header, false),
	END
};
#undef TLS

/* The rules between keys: versions in order, a CA exactly when client
 * certificates are asked for, an identity header only when there can be an
 * identity, and a header name that is a token. */
static int listener_tls(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			const char *path)
{
	struct weir_tls_conf *t = &((struct weir_listener_conf *)base)->tls;
	char fp[PATHLEN];
	char *h;

	weir__config_set_defaults(tls_keys, t);
	t->line = weir__config_line_of(v);
	if (weir__config_parse_map(x, v, tls_keys, t, path))
		return -1;
	t->enabled = true;
	if (t->min_version > t->max_version)
		return weir__config_fail(x, weir__config_map_get(x, v, "min_version"),
					 weir__config_pjoin(fp, path, "min_version"),
					 "%s is above max_version %s", tls_versions[t->min_version],
					 tls_versions[t->max_version]);
	if (t->verify_client != WEIR_VERIFY_OFF && !t->client_ca)
		return weir__config_fail(x, weir__config_map_get(x, v, "verify_client"),
					 weir__config_pjoin(fp, path, "client_ca"),
					 "required with verify_client: %s",
					 verify_names[t->verify_client]);
	if (t->verify_client == WEIR_VERIFY_OFF && t->client_ca)
		return weir__config_fail(x, weir__config_map_get(x, v, "client_ca"),
					 weir__config_pjoin(fp, path, "client_ca"),
					 "only used with verify_client: optional or require");
	if ((h = t->client_id_header)) {
		if (t->verify_client == WEIR_VERIFY_OFF)
			return weir__config_fail(x, weir__config_map_get(x, v, "client_id_header"),
						 weir__config_pjoin(fp, path, "client_id_header"),
						 "only used with verify_client: optional or require");
		lower(h);
		if (h[strspn(h, ALNUM "!#$%&'*+-.^_`|~")])
			return weir__config_fail(x, weir__config_map_get(x, v, "client_id_header"),
						 weir__config_pjoin(fp, path, "client_id_header"),
						 "'%s' is not a header name", h);
	}
	if (!t->n_alpn && !(t->alpn[t->n_alpn++] = weir__config_dup(x, v, path, "http/1.1")))
		return -1;
	return 0;
}

#define UTLS struct weir_upstream_tls_conf
static const struct ckey upstream_tls_keys[] = {
	BOOL("verify", UTLS, verify, true),
	STR("ca", UTLS, ca, false),
	STR("sni", UTLS, sni, false),
	END
};
#undef UTLS

/* "tls:" alone (v NULL or null): verified against the system's CAs, the
 * peer's IP checked. */
int weir__config_client_tls(struct pctx *x, yaml_node_t *v, struct weir_upstream_tls_conf *t,
			    const char *path)
{
	char fp[PATHLEN];

	weir__config_set_defaults(upstream_tls_keys, t);
	t->line = weir__config_line_of(v);
	if (v && !weir__config_is_null(v) && weir__config_parse_map(x, v, upstream_tls_keys, t, path))
		return -1;
	t->enabled = true;
	if (t->ca && !t->verify)
		return weir__config_fail(x, weir__config_map_get(x, v, "ca"),
					 weir__config_pjoin(fp, path, "ca"), "only used with verify: true");
	if (t->sni && (t->sni[strspn(t->sni, ALNUM ".-")] || t->sni[0] == '.'))
		return weir__config_fail(x, weir__config_map_get(x, v, "sni"),
					 weir__config_pjoin(fp, path, "sni"),
					 "'%s' is not a host name", t->sni);
	if (t->sni)
		lower(t->sni);
	return 0;
}

static int upstream_tls(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			const char *path)
{
	return weir__config_client_tls(x, v, &((struct weir_upstream_conf *)base)->tls, path);
}

/* ---- listeners and nodes: an address, or a mapping with one ------------ */

static const struct ckey listener_keys[] = {
	ADDR("listen", struct weir_listener_conf, addr, 1),
	U32("backlog", struct weir_listener_conf, backlog, 1, 65535, 4096),
	FN("tls", listener_tls, 0, false),
	END
};

static const struct ckey node_keys[] = {
	ADDR("addr", struct weir_node_conf, addr, 0),
	U32("weight", struct weir_node_conf, weight, 0, 1000000, 1),
	END
};

_Static_assert(offsetof(struct weir_listener_conf, addr) == 0 &&
	       offsetof(struct weir_node_conf, addr) == 0, "addr_item() relies on it");

struct addrlist {
	const struct ckey *keys;	/* keys[0] is the address */
	char *arr;			/* elements of `size` bytes, address first */
	size_t size, *n;
	const char *what;
};

/* "- 127.0.0.1:9002" is short for the mapping with only the address; an
 * address may appear once in its list. */
static int addr_item(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *it,
		     size_t i, const char *path, void *arg)
{
	struct addrlist *l = arg;
	struct weir_addr *a = (struct weir_addr *)(l->arr + (*l->n)++ * l->size);
	char ap[PATHLEN];

	weir__config_set_defaults(l->keys, a);
	if (it->type == YAML_SCALAR_NODE) {
		if (weir__config_parse_addr(x, it, l->keys[0].min, a, path))
			return -1;
	} else {
		if (weir__config_parse_map(x, it, l->keys, a, path))
			return -1;
		it = weir__config_map_get(x, it, l->keys[0].name);
		path = weir__config_pjoin(ap, path, l->keys[0].name);
	}
	for (size_t j = 0; j < i; j++)
		if (!strcmp(((struct weir_addr *)(l->arr + j * l->size))->text, a->text))
			return weir__config_fail(x, it, path, "duplicate %s address %s (%ss[%zu])",
						 l->what, a->text, l->what, j);
	return 0;
}

static int config_listeners(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path)
{
	struct weir_config *c = base;
	struct addrlist l = { listener_keys, NULL, sizeof(*c->listeners), &c->n_listeners,
			      "listener" };

	if (v->type != YAML_SEQUENCE_NODE)
		return weir__config_fail(x, v, path, "expected a list");
	if (!weir__config_n_items(v))
		return weir__config_fail(x, v, path, "at least one listener is required");
	c->listeners = weir__config_alloc(x, v, path, weir__config_n_items(v), l.size);
	if (!(l.arr = (char *)c->listeners))
		return -1;
	return weir__config_each_item(x, v, path, addr_item, &l);
}

static int upstream_nodes(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			  const char *path)
{
	struct weir_upstream_conf *u = base;
	struct addrlist l = { node_keys, NULL, sizeof(*u->nodes), &u->n_nodes, "node" };

	if (v->type != YAML_SEQUENCE_NODE)
		return weir__config_fail(x, v, path, "expected a list of nodes");
	if (!weir__config_n_items(v))
		return weir__config_fail(x, v, path, "an upstream needs at least one node");
	u->nodes = weir__config_alloc(x, v, path, weir__config_n_items(v), l.size);
	if (!(l.arr = (char *)u->nodes))
		return -1;
	return weir__config_each_item(x, v, path, addr_item, &l);
}

/* ---- upstreams -------------------------------------------------------- */

static const char *const lb_names[] = { "roundrobin", "leastconn", "chash", NULL };
static const char *const hash_names[] = { "ip", "header", "cookie", "param", NULL };

#define UP struct weir_upstream_conf
static const struct ckey up_keepalive_keys[] = {
	U32("size", UP, keepalive, 0, 10000, 256),		/* 0: no pool */
	MS("timeout", UP, keepalive_timeout_ms, 1, DAY_MS, 60000),
	U32("requests", UP, keepalive_requests, 1, 1000000000, 10000),
	END
};

static const struct ckey up_timeout_keys[] = {
	MS("connect", UP, connect_timeout_ms, 1, DAY_MS, 5000),
	MS("send", UP, send_timeout_ms, 1, DAY_MS, 60000),
	MS("read", UP, read_timeout_ms, 1, DAY_MS, 60000),
	END
};

static const struct ckey up_health_keys[] = {
	U32("max_fails", UP, max_fails, 0, 1000, 3),		/* 0: never eject */
	MS("window", UP, fail_window_ms, 1, DAY_MS, 10000),
	MS("eject", UP, eject_ms, 1, DAY_MS, 10000),
	END
};

/* ---- active health checks ------------------------------------------- */

static const char *const hc_names[] = { "http", "tcp", NULL };

/* One expected status: "200" or a range "200-399", both ends included. */
static int hc_status(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		     size_t i, const char *path, void *arg)
{
	struct weir_health_check_conf *h = arg;
	const char *s = weir__config_str(x, v, path), *dash;
	unsigned long lo, hi;

	if (!s)
		return -1;
	dash = strchr(s, '-');
	if (!isdigit((unsigned char)s[0]) || s[strspn(s, "0123456789-")] ||
	    (dash && (!isdigit((unsigned char)dash[1]) || strchr(dash + 1, '-'))))
		return weir__config_fail(x, v, path,
					 "'%s': expected a status such as 200 or a range such as 200-399",
					 s);
	lo = strtoul(s, NULL, 10);
	hi = dash ? strtoul(dash + 1, NULL, 10) : lo;
	if (lo < 100 || hi > WEIR_HC_STATUS_MAX || lo > hi)
		return weir__config_fail(x, v, path,
					 "'%s': statuses run from 100 to %d, a range low to high",
					 s, WEIR_HC_STATUS_MAX);
	for (unsigned long c = lo; c <= hi; c++)
		h->expect[c / 64] |= 1ull << (c % 64);
	return 0;
}

/* A status, a range, or a list of them; replaces the default 200-399. */
static int hc_expect(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		     const char *path)
{
	struct weir_health_check_conf *h = base;

	memset(h->expect, 0, sizeof(h->expect));
	if (v->type == YAML_SEQUENCE_NODE && !weir__config_n_items(v))
		return weir__config_fail(x, v, path, "must not be an empty list");
	if (v->type == YAML_SEQUENCE_NODE)
		return weir__config_each_item(x, v, path, hc_status, h);
	return hc_status(x, NULL, NULL, v, 0, path, h);
}

#define HC struct weir_health_check_conf
static const struct ckey hc_keys[] = {
	ENUM("type", HC, type, hc_names, WEIR_HC_HTTP),
	MS("interval", HC, interval_ms, 100, DAY_MS, 5000),
	MS("timeout", HC, timeout_ms, 1, DAY_MS, 2000),
	U32("healthy_threshold", HC, healthy_threshold, 1, 100, 2),
	U32("unhealthy_threshold", HC, unhealthy_threshold, 1, 100, 3),
	STR("path", HC, path, false),
	STR("host", HC, host, false),
	FN("expect_status", hc_expect, 0, false),
	END
};
#undef HC

/* The path and Host go into a request line and a header as they are, so
 * they may hold no space or control character. */
static int upstream_health_check(struct pctx *x, const struct ckey *k, yaml_node_t *v,
				 void *base, const char *path)
{
	struct weir_health_check_conf *h = &((struct weir_upstream_conf *)base)->hc;
	static const char *const http_only[] = { "path", "host", "expect_status" };
	yaml_node_t *n;
	char fp[PATHLEN];

	weir__config_set_defaults(hc_keys, h);
	for (unsigned c = 200; c <= 399; c++)
		h->expect[c / 64] |= 1ull << (c % 64);
	if (weir__config_parse_map(x, v, hc_keys, h, path))
		return -1;
	h->enabled = true;
	if (h->timeout_ms > h->interval_ms)
		return weir__config_fail(x, weir__config_map_get(x, v, "timeout"),
					 weir__config_pjoin(fp, path, "timeout"),
					 "must not exceed interval (%ums)", h->interval_ms);
	for (size_t i = 0; h->type != WEIR_HC_HTTP && i < 3; i++)
		if ((n = weir__config_map_get(x, v, http_only[i])))
			return weir__config_fail(x, n, weir__config_pjoin(fp, path, http_only[i]),
						 "only used with type: http");
	for (const char *c = h->path; c && *c; c++)
		if (h->path[0] != '/' || (unsigned char)*c <= ' ' || *c == 0x7f)
			return weir__config_fail(x, weir__config_map_get(x, v, "path"),
						 weir__config_pjoin(fp, path, "path"),
						 "'%s': expected a path starting with '/', without "
						 "spaces or control characters", h->path);
	for (const char *c = h->host; c && *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '/')
			return weir__config_fail(x, weir__config_map_get(x, v, "host"),
						 weir__config_pjoin(fp, path, "host"),
						 "'%s': expected a host name, without spaces, '/' or "
						 "control characters", h->host);
	if (h->type == WEIR_HC_HTTP && !h->path && !(h->path = weir__config_dup(x, v, path, "/")))
		return -1;
	return 0;
}

static const struct ckey upstream_keys[] = {
	FN("nodes", upstream_nodes, 0, true),
	ENUM("balance", UP, lb, lb_names, WEIR_LB_ROUNDROBIN),
	ENUM("hash_on", UP, hash_on, hash_names, WEIR_HASH_IP),
	STR("hash_key", UP, hash_key, false),
	MAP("keepalive", up_keepalive_keys),
	MAP("timeouts", up_timeout_keys),
	MAP("health", up_health_keys),
	FN("health_check", upstream_health_check, 0, false),
	FN("tls", upstream_tls, 0, false),
	U32("retries", UP, retries, 0, 16, 1),
	MS("retry_timeout", UP, retry_timeout_ms, 0, DAY_MS, 0),	/* 0: no limit */
	END
};
#undef UP

static int upstream_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
			 size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_upstream_conf *u = &c->upstreams[c->n_upstreams++];
	yaml_node_t *on, *key;
	char fp[PATHLEN];

	weir_upstream_defaults(u);
	u->line = weir__config_line_of(k);
	if (weir__config_check_name(x, k, path, name) ||
	    !(u->name = weir__config_dup(x, k, path, name)) ||
	    weir__config_parse_map(x, v, upstream_keys, u, path))
		return -1;
	on = weir__config_map_get(x, v, "hash_on");
	key = weir__config_map_get(x, v, "hash_key");
	if (on && u->lb != WEIR_LB_CHASH)
		return weir__config_fail(x, on, weir__config_pjoin(fp, path, "hash_on"),
					 "only used with balance: chash");
	if (on && u->hash_on != WEIR_HASH_IP && !key)
		return weir__config_fail(x, on, weir__config_pjoin(fp, path, "hash_key"),
					 "required with hash_on: %s", hash_names[u->hash_on]);
	if (key && (u->lb != WEIR_LB_CHASH || u->hash_on == WEIR_HASH_IP))
		return weir__config_fail(x, key, weir__config_pjoin(fp, path, "hash_key"),
					 "only used with hash_on: header, cookie or param");
	if (u->hash_on == WEIR_HASH_HEADER)
		lower(u->hash_key);
	return 0;
}

static int config_upstreams(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path)
{
	struct weir_config *c = base;

	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path, "expected a mapping of names to upstreams");
	if (!(c->upstreams = weir__config_alloc(x, v, path, weir__config_n_pairs(v),
						sizeof(*c->upstreams))))
		return -1;
	return weir__config_each_pair(x, v, path, upstream_pair, c);
}

/* ---- routes ----------------------------------------------------------- */

static const char *const method_names[] = {	/* in WEIR_M_* bit order */
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", NULL
};

static int check_host(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	lower(s);
	if (s[0] == '[' ? s[strlen(s) - 1] != ']' : strchr(s, ':') != NULL)
		return weir__config_fail(x, n, path, "'%s': a host is matched without its port", s);
	return 0;
}

static int check_path(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	return s[0] == '/' ? 0 : weir__config_fail(x, n, path, "'%s' must start with '/'", s);
}

static int check_method(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	for (char *p = s; *p; p++)
		*p = toupper((unsigned char)*p);
	for (int i = 0; method_names[i]; i++)
		if (!strcmp(s, method_names[i]))
			return 0;
	return weir__config_fail(x, n, path, "unknown method '%s'", s);
}

/* host/hosts (and path/paths) fill the same array: one form, once. The
 * row's min says which form. */
static int route_hosts(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		       const char *path)
{
	struct weir_route_conf *r = base;

	if (r->hosts)
		return weir__config_fail(x, v, path, "give host or hosts, not both");
	return weir__config_strlist(x, v, path, k->min, &r->hosts, &r->n_hosts, check_host);
}

static int route_paths(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		       const char *path)
{
	struct weir_route_conf *r = base;

	if (r->paths)
		return weir__config_fail(x, v, path, "give path or paths, not both");
	return weir__config_strlist(x, v, path, k->min, &r->paths, &r->n_paths, check_path);
}

/* Checked as strings first, then folded into bits. */
static int route_methods(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	struct weir_route_conf *r = base;
	char **m = NULL;
	size_t n = 0;
	int rc = weir__config_strlist(x, v, path, ONE | LIST, &m, &n, check_method);

	for (size_t j = 0; j < n; j++) {
		for (int i = 0; !rc && method_names[i]; i++)
			if (!strcmp(m[j], method_names[i]))
				r->methods |= 1u << i;
		free(m[j]);
	}
	free(m);
	return rc;
}

static int header_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		       size_t i, const char *path, void *arg)
{
	struct weir_route_conf *r = arg;
	struct weir_header_match_conf *h = &r->headers[r->n_headers++];

	if (!*name || strspn(name, ALNUM "!#$%&'*+-.^_`|~") != strlen(name))	/* a token */
		return weir__config_fail(x, k, path, "'%s' is not a header name", name);
	if (!(h->name = weir__config_dup(x, k, path, name)))
		return -1;
	lower(h->name);
	for (size_t j = 0; j < i; j++)
		if (!strcmp(r->headers[j].name, h->name))
			return weir__config_fail(x, k, path, "the same header as '%s'",
						 r->headers[j].name);
	return weir__config_strlist(x, v, path, ONE | LIST, &h->values, &h->n_values, NULL);
}

static int route_headers(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	struct weir_route_conf *r = base;

	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path,
					 "expected a mapping of header names to values");
	if (!(r->headers = weir__config_alloc(x, v, path, weir__config_n_pairs(v),
					      sizeof(*r->headers))))
		return -1;
	return weir__config_each_pair(x, v, path, header_pair, r);
}

static int rewrite_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
			size_t i, const char *path, void *arg)
{
	struct weir_route_conf *r = arg;
	const char *s;

	if (strcmp(name, "strip_prefix") && strcmp(name, "template"))
		return weir__config_fail(x, k, path, "unknown field");
	if (r->rewrite != WEIR_REWRITE_NONE)
		return weir__config_fail(x, k, path, "give strip_prefix or template, not both");
	r->rewrite = name[0] == 's' ? WEIR_REWRITE_STRIP : WEIR_REWRITE_TEMPLATE;
	if (!(s = weir__config_str(x, v, path)))
		return -1;
	if (s[0] != '/')
		return weir__config_fail(x, v, path, "'%s' must start with '/'", s);
	return (r->rewrite_value = weir__config_dup(x, v, path, s)) ? 0 : -1;
}

static int route_rewrite(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	struct weir_route_conf *r = base;

	if (weir__config_each_pair(x, v, path, rewrite_pair, r))
		return -1;
	return r->rewrite ? 0 : weir__config_fail(x, v, path, "needs strip_prefix or template");
}

static int route_plugins(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	struct weir_route_conf *r = base;

	return parse_plugins(x, v, path, &r->plugins, &r->n_plugins);
}

#define RT struct weir_route_conf
static const struct ckey route_timeout_keys[] = {	/* 0: the upstream's */
	MS("connect", RT, connect_timeout_ms, 0, DAY_MS, 0),
	MS("send", RT, send_timeout_ms, 0, DAY_MS, 0),
	MS("read", RT, read_timeout_ms, 0, DAY_MS, 0),
	END
};

static const struct ckey route_keys[] = {
	STR("id", RT, id, false),
	FN("host", route_hosts, ONE, false),
	FN("hosts", route_hosts, LIST, false),
	FN("path", route_paths, ONE, false),
	FN("paths", route_paths, LIST, false),
	FN("methods", route_methods, 0, false),
	FN("headers", route_headers, 0, false),
	I32("priority", RT, priority, INT32_MIN, INT32_MAX, 0),
	STR("upstream", RT, upstream, false),	/* absent: a plugin answers (snapshot.c) */
	FN("rewrite", route_rewrite, 0, false),
	MAP("timeouts", route_timeout_keys),
	FN("plugins", route_plugins, 0, false),
	END
};
#undef RT

/* Does path hold the segment ":name"? */
static bool has_param(const char *path, const char *name, size_t len)
{
	for (const char *p = path; (p = strstr(p, "/:")); p++)
		if (!strncmp(p + 2, name, len) && (p[2 + len] == '/' || !p[2 + len]))
			return true;
	return false;
}

/* Every ":param" of a template must be bound by each of the route's paths,
 * or some request would leave it unfilled. */
static int check_template(struct pctx *x, yaml_node_t *at, const struct weir_route_conf *r,
			  const char *path)
{
	for (const char *p = strchr(r->rewrite_value, ':'); p; p = strchr(p + 1, ':')) {
		size_t len = strspn(p + 1, ALNUM "_");

		for (size_t i = 0; len && i < r->n_paths; i++)
			if (!has_param(r->paths[i], p + 1, len))
				return weir__config_fail(x, at, path,
							 ":%.*s is not a parameter of path '%s'",
							 (int)len, p + 1, r->paths[i]);
	}
	return 0;
}

static int route_item(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *it,
		      size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_route_conf *r = &c->routes[c->n_routes++], *first;
	yaml_node_t *at;
	char fp[PATHLEN];

	r->line = weir__config_line_of(it);
	if (weir__config_parse_map(x, it, route_keys, r, path))
		return -1;
	at = weir__config_map_get(x, it, "id");
	if (r->id && weir__config_check_name(x, at, weir__config_pjoin(fp, path, "id"), r->id))
		return -1;
	if (!r->id && asprintf(&r->id, "route-%zu", i) < 0) {
		r->id = NULL;
		return weir__config_fail(x, it, path, "out of memory");
	}
	if (!(first = weir__config_seen(&x->ids, r->id, r, ENTER)))
		return weir__config_fail(x, it, path, "out of memory");
	if (first != r)
		return weir__config_fail(x, at ? at : it, weir__config_pjoin(fp, path, "id"),
					 "duplicate route id '%s' (first at line %u)", r->id,
					 first->line);
	if (!r->n_paths)
		return weir__config_fail(x, it, weir__config_pjoin(fp, path, "paths"),
					 "a route needs at least one path (path or paths)");
	if (r->upstream && !weir__config_seen(&x->ups, r->upstream, NULL, FIND))
		return weir__config_fail(x, weir__config_map_get(x, it, "upstream"),
					 weir__config_pjoin(fp, path, "upstream"),
					 "no upstream named '%s'", r->upstream);
	if (r->rewrite != WEIR_REWRITE_TEMPLATE)
		return 0;
	at = weir__config_map_get(x, weir__config_map_get(x, it, "rewrite"), "template");
	return check_template(x, at, r, weir__config_pjoin(fp, path, "rewrite.template"));
}

static int config_routes(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	x->routes = v;
	return 0;
}

/* ---- consumers and their credentials ---------------------------------- */

/* One consumer's credentials for one authentication plugin, read through
 * the plugin's key table to check their shape; the plugin itself gets them
 * as JSON (struct weir_consumer_conf). */
struct cred {
	char *key, *username, *password_hash, *secret, *public_key, *jwks_file;
	int algorithm;			/* enum weir_jwt_alg */
};

#define CR struct cred
static const struct ckey key_auth_cred_keys[] = {
	STR("key", CR, key, true),
	END
};

static const struct ckey basic_auth_cred_keys[] = {
	STR("username", CR, username, true),
	STR("password_hash", CR, password_hash, true),
	END
};

static const struct ckey jwt_auth_cred_keys[] = {
	STR("key", CR, key, true),
	ENUM("algorithm", CR, algorithm, weir_jwt_alg_names, WEIR_JWT_HS256),
	STR("secret", CR, secret, false),
	STR("public_key", CR, public_key, false),
	STR("jwks_file", CR, jwks_file, false),
	END
};
#undef CR

static void cred_free(struct cred *c)
{
	free(c->key);
	free(c->username);
	free(c->password_hash);
	free(c->secret);
	free(c->public_key);
	free(c->jwks_file);
}

/* What a table cannot say about jwt-auth: the key material fits the
 * algorithm (a secret for HS*, a public key or a JWKS file otherwise, never
 * both), and it parses. A JWKS file is read here, once per load, and its
 * keys travel in the JSON as "jwks". */
static int jwt_cred_check(struct pctx *x, yaml_node_t *v, const struct cred *c, json_t *j,
			  const char *path)
{
	bool hs = weir_jwt_alg_is_hmac(c->algorithm);
	const char *f = NULL, *why = NULL;
	char fp[PATHLEN], reason[200];
	json_error_t je;
	json_t *jwks;

	if (hs && (c->public_key || c->jwks_file)) {
		f = c->public_key ? "public_key" : "jwks_file";
		why = "not used with an HS* algorithm (give secret)";
	} else if (hs && !c->secret) {
		f = "secret";
		why = "required with an HS* algorithm";
	} else if (!hs && c->secret) {
		f = "secret";
		why = "only used with HS* algorithms (give public_key or jwks_file)";
	} else if (!hs && !c->public_key == !c->jwks_file) {
		f = "public_key";
		why = "give one of public_key or jwks_file";
	}
	if (f)
		return weir__config_fail(x, weir__config_map_get(x, v, f) ?: v,
					 weir__config_pjoin(fp, path, f), "%s", why);
	if (c->public_key) {
		EVP_PKEY *k = weir_auth_pem_key(c->public_key, c->algorithm, reason,
						sizeof(reason));
		if (!k)
			return weir__config_fail(x, weir__config_map_get(x, v, "public_key"),
						 weir__config_pjoin(fp, path, "public_key"), "%s",
						 reason);
		EVP_PKEY_free(k);
	}
	if (!c->jwks_file)
		return 0;
	weir__config_pjoin(fp, path, "jwks_file");
	if (!(jwks = json_load_file(c->jwks_file, JSON_REJECT_DUPLICATES, &je)))
		return weir__config_fail(x, weir__config_map_get(x, v, "jwks_file"), fp,
					 "'%s': %s", c->jwks_file, je.text);
	if (weir_auth_jwks_check(jwks, c->algorithm, reason, sizeof(reason)) < 0) {
		json_decref(jwks);
		return weir__config_fail(x, weir__config_map_get(x, v, "jwks_file"), fp,
					 "'%s': %s", c->jwks_file, reason);
	}
	if (json_object_set_new(j, "jwks", jwks))
		return weir__config_fail(x, v, fp, "out of memory");
	return 0;
}

static int basic_cred_check(struct pctx *x, yaml_node_t *v, const struct cred *c, json_t *j,
			    const char *path)
{
	char fp[PATHLEN], why[200];

	if (weir_auth_hash_check(c->password_hash, why, sizeof(why)) == 0)
		return 0;
	return weir__config_fail(x, weir__config_map_get(x, v, "password_hash"),
				 weir__config_pjoin(fp, path, "password_hash"), "%s", why);
}

/* The authentication plugins whose credentials are checked here: their
 * table, what the table cannot say, and the one field that must be unique
 * across consumers. Other plugins named under a consumer are refused when
 * the snapshot is built. */
typedef int cred_check(struct pctx *x, yaml_node_t *v, const struct cred *c, json_t *j,
		       const char *path);

static const struct cred_kind {
	const char *plugin;
	const struct ckey *keys;
	cred_check *check;
	const char *unique;
} cred_kinds[] = {
	{ "key-auth", key_auth_cred_keys, NULL, "key" },
	{ "basic-auth", basic_auth_cred_keys, basic_cred_check, "username" },
	{ "jwt-auth", jwt_auth_cred_keys, jwt_cred_check, "key" },
};
#define N_CRED_KINDS (sizeof(cred_kinds) / sizeof(cred_kinds[0]))
_Static_assert(N_CRED_KINDS == sizeof(((struct pctx *)0)->creds) /
	       sizeof(((struct pctx *)0)->creds[0]), "one table of unique values per kind");

/* One entry of a consumer's plugins: credentials checked by the plugin's
 * table when it is one of cred_kinds, unique where they must be. */
static int consumer_plugin(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
			   size_t i, const char *path, void *arg)
{
	struct weir_consumer_conf *cc = arg;
	struct weir_plugin_conf *p = &cc->plugins[cc->n_plugins++];
	const struct cred_kind *ck = NULL;
	struct cred c = { 0 };
	char fp[PATHLEN];
	const char *u;
	int rc = -1;

	p->line = weir__config_line_of(k);
	if (weir__config_check_name(x, k, path, name) ||
	    !(p->name = weir__config_dup(x, k, path, name)))
		return -1;
	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path, "credentials must be a mapping");
	if (!(p->conf = weir__config_to_json(x, v, path, 0)))
		return -1;
	for (size_t kind = 0; kind < N_CRED_KINDS && !ck; kind++)
		if (!strcmp(name, cred_kinds[kind].plugin))
			ck = &cred_kinds[kind];
	if (!ck)
		return 0;
	weir__config_set_defaults(ck->keys, &c);
	if (weir__config_parse_map(x, v, ck->keys, &c, path))
		goto out;
	/* YAML reads `key: 12345` as a number: the plugin gets the string. */
	for (const struct ckey *f = ck->keys; f->name; f++) {
		const char *sv = f->kind == CK_STR ? *(char **)((char *)&c + f->off) : NULL;
		if (sv && json_object_set_new(p->conf, f->name, json_string(sv))) {
			weir__config_fail(x, v, path, "out of memory or not valid UTF-8");
			goto out;
		}
	}
	if (ck->check && ck->check(x, v, &c, p->conf, path))
		goto out;
	u = json_string_value(json_object_get(p->conf, ck->unique));
	if (!u || !(u = weir__config_seen(&x->creds[ck - cred_kinds], u, cc->username, ENTER))) {
		weir__config_fail(x, v, path, "out of memory");
		goto out;
	}
	if (u != cc->username) {
		weir__config_fail(x, weir__config_map_get(x, v, ck->unique),
				  weir__config_pjoin(fp, path, ck->unique),
				  "the same as consumer '%s' has", u);
		goto out;
	}
	rc = 0;
out:
	cred_free(&c);
	return rc;
}

static int consumer_plugins(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path)
{
	struct weir_consumer_conf *cc = base;

	if (v->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, v, path, "expected a mapping of authentication "
					 "plugin names to credentials");
	if (!(cc->plugins = weir__config_alloc(x, v, path, weir__config_n_pairs(v),
					       sizeof(*cc->plugins))))
		return -1;
	return weir__config_each_pair(x, v, path, consumer_plugin, cc);
}

/* The username is read before the rest of the mapping, whatever the order
 * in the file, since the credentials' duplicate checks name it. */
static int consumer_username(struct pctx *x, struct weir_consumer_conf *cc, yaml_node_t *it,
			     const char *path)
{
	yaml_node_t *v = weir__config_map_get(x, it, "username");
	struct weir_consumer_conf *first;
	char fp[PATHLEN];
	const char *s;

	weir__config_pjoin(fp, path, "username");
	if (!v)
		return weir__config_fail(x, it, fp, "required field missing");
	if (!(s = weir__config_str(x, v, fp)) || weir__config_check_name(x, v, fp, s) ||
	    !(cc->username = weir__config_dup(x, v, fp, s)))
		return -1;
	if (!(first = weir__config_seen(&x->users, cc->username, cc, ENTER)))
		return weir__config_fail(x, v, fp, "out of memory");
	if (first != cc)
		return weir__config_fail(x, v, fp, "duplicate consumer '%s' (first at line %u)",
					 s, first->line);
	return 0;
}

static int consumer_read(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	return 0;	/* consumer_username() has read it */
}

static const struct ckey consumer_keys[] = {
	FN("username", consumer_read, 0, true),
	FN("plugins", consumer_plugins, 0, true),
	END
};

static int consumer_item(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *it,
			 size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_consumer_conf *cc = &c->consumers[c->n_consumers++];

	cc->line = weir__config_line_of(it);
	if (it->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, it, path, "expected a mapping with username and plugins");
	if (consumer_username(x, cc, it, path))
		return -1;
	return weir__config_parse_map(x, it, consumer_keys, cc, path);
}

static int config_consumers(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path)
{
	struct weir_config *c = base;
	size_t n;

	if (v->type != YAML_SEQUENCE_NODE)
		return weir__config_fail(x, v, path, "expected a list of consumers");
	if (!(n = weir__config_n_items(v)))
		return 0;
	if (!(c->consumers = weir__config_alloc(x, v, path, n, sizeof(*c->consumers))) ||
	    !hcreate_r(2 * n + 1, &x->users))
		return weir__config_fail(x, v, path, "out of memory");
	for (size_t i = 0; i < N_CRED_KINDS; i++)
		if (!hcreate_r(2 * n + 1, &x->creds[i]))
			return weir__config_fail(x, v, path, "out of memory");
	return weir__config_each_item(x, v, path, consumer_item, c);
}

/* ---- the whole file --------------------------------------------------- */

static const char *const steering_names[] = { "bpf", "kernel", NULL };	/* enum weir_steering */

#define CF struct weir_config
static const struct ckey limits_keys[] = {
	SZ32("max_header_size", CF, max_header_size, 1 * KiB, 1 * MiB, 16 * KiB),
	U32("max_headers", CF, max_headers, 1, 1000, 100),
	SZ32("max_uri", CF, max_uri, 256, 1 * MiB, 8 * KiB),
	SZ64("max_body", CF, max_body, 0, 1024 * GiB, 16 * MiB),	/* 0: unlimited */
	END
};

static const struct ckey timeout_keys[] = {
	MS("client_header", CF, client_header_timeout_ms, 1, DAY_MS, 10000),
	MS("client_body", CF, client_body_timeout_ms, 1, DAY_MS, 60000),
	MS("keepalive", CF, keepalive_timeout_ms, 0, DAY_MS, 75000),	/* 0: no keepalive */
	MS("send", CF, send_timeout_ms, 1, DAY_MS, 60000),
	MS("shutdown", CF, shutdown_timeout_ms, 0, DAY_MS, 10000),	/* 0: stop at once */
	END
};

static const struct ckey metrics_keys[] = {
	ADDR("listen", CF, metrics_listen, 1),
	STR("path", CF, metrics_path, false),
	STR("xdp_pin_dir", CF, metrics_pin_dir, false),
	END
};

/* No metrics: no metrics listener. A path is an origin-form path without a
 * query; the pin directory is absolute. */
static int config_metrics(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			  const char *path)
{
	struct weir_config *c = base;
	char kp[PATHLEN];

	if (weir__config_parse_map(x, v, metrics_keys, c, path))
		return -1;
	c->metrics = true;
	if (!c->metrics_path && !(c->metrics_path = weir__config_dup(x, v, path, "/metrics")))
		return -1;
	if (c->metrics_path[0] != '/' || c->metrics_path[strcspn(c->metrics_path, "?# \t")])
		return weir__config_fail(x, weir__config_map_get(x, v, "path"),
					 weir__config_pjoin(kp, path, "path"),
					 "expected a path starting with '/', without a query");
	if (c->metrics_pin_dir && c->metrics_pin_dir[0] != '/')
		return weir__config_fail(x, weir__config_map_get(x, v, "xdp_pin_dir"),
					 weir__config_pjoin(kp, path, "xdp_pin_dir"),
					 "expected an absolute path");
	return 0;
}

static ckey_fn ban_on;

static const struct ckey ban_keys[] = {
	U32("threshold", CF, ban_threshold, 1, 1000000, 10),
	MS("window", CF, ban_window_ms, 1000, DAY_MS, 60000),
	MS("ttl", CF, ban_ttl_ms, 1000, 30 * DAY_MS, 600000),
	FN("on", ban_on, 0, false),
	STR("pin_dir", CF, ban_pin_dir, false),
	END
};

/* on: [auth, limit] - the refusals that count (enum weir_ban_kind). */
static int ban_on_item(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *it,
		       size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	const char *s = weir__config_str(x, it, path);

	if (!s)
		return -1;
	if (!strcmp(s, "auth"))
		c->ban_on |= 1;		/* WEIR_BAN_AUTH */
	else if (!strcmp(s, "limit"))
		c->ban_on |= 2;		/* WEIR_BAN_LIMIT */
	else
		return weir__config_fail(x, it, path, "'%s': expected auth or limit", s);
	return 0;
}

static int ban_on(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		  const char *path)
{
	struct weir_config *c = base;

	if (v->type != YAML_SEQUENCE_NODE || !weir__config_n_items(v))
		return weir__config_fail(x, v, path, "expected a list of auth and/or limit");
	c->ban_on = 0;
	return weir__config_each_item(x, v, path, ban_on_item, c);
}

/* No ban: nothing is counted. A ban: section (even empty) turns it on. */
static int config_ban(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		      const char *path)
{
	struct weir_config *c = base;
	char kp[PATHLEN];

	c->ban = true;
	c->ban_on = 3;
	weir__config_set_defaults(ban_keys, c);
	if (!weir__config_is_null(v) && weir__config_parse_map(x, v, ban_keys, c, path))
		return -1;
	if (c->ban_pin_dir && c->ban_pin_dir[0] != '/')
		return weir__config_fail(x, weir__config_map_get(x, v, "pin_dir"),
					 weir__config_pjoin(kp, path, "pin_dir"),
					 "expected an absolute path");
	return 0;
}

static const struct ckey admin_keys[] = {
	{ "listen", CK_ADDR, FIELD(CF, admin_listen, sizeof(struct weir_addr)), 1, 0, 0, NULL, NULL,
	  NULL, false },
	STR("token", CF, admin_token, false),
	STR("token_file", CF, admin_token_file, false),
	STR("state", CF, admin_state, true),
	END
};

/* No admin: no admin API. Its listener is loopback unless it says otherwise,
 * and it never runs without a token. */
static int config_admin(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			const char *path)
{
	struct weir_config *c = base;
	char why[160];

	if (weir_addr_parse("127.0.0.1:9180", true, &c->admin_listen, why, sizeof(why)))
		return weir__config_fail(x, v, path, "%s", why);
	if (weir__config_parse_map(x, v, admin_keys, c, path))
		return -1;
	c->admin = true;
	if (!c->admin_token == !c->admin_token_file)
		return weir__config_fail(x, v, path, "exactly one of token and token_file is "
					 "required");
	return 0;
}

static int config_plugins(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			  const char *path)
{
	struct weir_config *c = base;

	return parse_plugins(x, v, path, &c->plugins, &c->n_plugins);
}

/* cpus: {workers: [N...], control: [N...]}: CPU numbers, each listed once
 * (CPU_SETSIZE bounds them; whether this host has them is checked at
 * start, weir_cpus_start). */
static int cpu_item(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v, size_t i,
		    const char *path, void *arg)
{
	uint16_t *cpus = arg;
	uint32_t cpu;

	if (weir__config_u32(x, v, path, 0, CPU_SETSIZE - 1, &cpu))
		return -1;
	for (size_t j = 0; j < i; j++)
		if (cpus[j] == cpu)
			return weir__config_fail(x, v, path, "CPU %u is listed twice", cpu);
	cpus[i] = (uint16_t)cpu;
	return 0;
}

static int config_cpus(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		       const char *path)
{
	struct weir_config *c = base;
	uint16_t **cpus = k->min ? &c->cpus_control : &c->cpus_workers;
	size_t *n = k->min ? &c->n_cpus_control : &c->n_cpus_workers;

	if (v->type != YAML_SEQUENCE_NODE || !weir__config_n_items(v))
		return weir__config_fail(x, v, path, "expected a list of CPU numbers");
	if (!(*cpus = weir__config_alloc(x, v, path, weir__config_n_items(v), sizeof(**cpus))))
		return -1;
	*n = weir__config_n_items(v);
	return weir__config_each_item(x, v, path, cpu_item, *cpus);
}

static const struct ckey cpus_keys[] = {
	FN("workers", config_cpus, 0, false),
	FN("control", config_cpus, 1, false),
	END
};

static const struct ckey config_keys[] = {
	U32("workers", CF, workers, 0, 256, 0),			/* 0: one per CPU */
	MAP("cpus", cpus_keys),
	MAP("limits", limits_keys),
	MAP("timeouts", timeout_keys),
	U32("max_connections", CF, max_connections, 1, 1000000, 65536),
	ENUM("steering", CF, steering, steering_names, WEIR_STEERING_BPF),
	FN("access_log", weir__config_access_log, 0, false),
	MAP("tracing", weir__config_tracing_keys),
	FN("metrics", config_metrics, 0, false),
	FN("ban", config_ban, 0, false),
	FN("listeners", config_listeners, 0, false),
	FN("upstreams", config_upstreams, 0, false),
	FN("routes", config_routes, 0, false),
	FN("plugins", config_plugins, 0, false),
	FN("consumers", config_consumers, 0, false),
	FN("certificates", weir__config_certificates, 0, false),
	FN("admin", config_admin, 0, false),
	END
};
#undef CF

void weir_config_defaults(struct weir_config *c)
{
	weir__config_set_defaults(config_keys, c);
	c->log_format = WEIR_LOG_OFF;
}

void weir_upstream_defaults(struct weir_upstream_conf *u)
{
	weir__config_set_defaults(upstream_keys, u);
}

/* The sections the admin API owns, as JSON, each present with its type;
 * routes get their ids written in, so that each can be addressed. */
static const struct { const char *key; json_type type; } resource_keys[] = {
	{ "routes", JSON_ARRAY }, { "upstreams", JSON_OBJECT }, { "plugins", JSON_OBJECT },
	{ "consumers", JSON_ARRAY }, { "certificates", JSON_OBJECT },
};

static int resources_json(struct pctx *x, yaml_node_t *root)
{
	json_t *res = json_object(), *j;

	if (!(x->c->resources = res))
		return weir__config_fail(x, root, "document", "out of memory");
	for (size_t i = 0; i < sizeof(resource_keys) / sizeof(resource_keys[0]); i++) {
		yaml_node_t *n = weir__config_map_get(x, root, resource_keys[i].key);
		j = n && !weir__config_is_null(n) ?
			weir__config_to_json(x, n, resource_keys[i].key, 0) :
			resource_keys[i].type == JSON_ARRAY ? json_array() : json_object();
		if (!j || json_object_set_new(res, resource_keys[i].key, j))
			return weir__config_fail(x, n, resource_keys[i].key, "out of memory");
	}
	j = json_object_get(res, "routes");
	for (size_t i = 0; i < json_array_size(j) && i < x->c->n_routes; i++) {
		json_t *r = json_array_get(j, i), *withid;
		if (!json_is_object(r) || json_object_get(r, "id"))
			continue;
		/* the id first, where the admin API writes it too */
		if (!(withid = json_pack("{s:s}", "id", x->c->routes[i].id)) ||
		    json_object_update(withid, r) || json_array_set_new(j, i, withid))
			return weir__config_fail(x, root, "routes", "out of memory");
	}
	return 0;
}

static int parse_routes(struct pctx *x);

static int parse_root(struct pctx *x, yaml_node_t *root)
{
	if (root->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, root, "document",
					 "expected a mapping at the top level");
	if (weir__config_parse_map(x, root, config_keys, x->c, ""))
		return -1;
	if (!x->c->n_listeners)
		return weir__config_fail(x, root, "listeners", "at least one listener is required");
	for (size_t i = 0; x->c->metrics && i < x->c->n_listeners; i++)
		if (!strcmp(x->c->listeners[i].addr.text, x->c->metrics_listen.text))
			return weir__config_fail(x, weir__config_map_get(x, weir__config_map_get(
							 x, root, "metrics"), "listen"),
						 "metrics.listen", "%s is also listeners[%zu]",
						 x->c->metrics_listen.text, i);
	for (size_t i = 0; x->c->admin && i < x->c->n_listeners; i++)
		if (!strcmp(x->c->listeners[i].addr.text, x->c->admin_listen.text))
			return weir__config_fail(x, weir__config_map_get(x, root, "admin"),
						 "admin.listen", "%s is also listeners[%zu]",
						 x->c->admin_listen.text, i);
	if (x->c->admin && x->c->metrics &&
	    !strcmp(x->c->admin_listen.text, x->c->metrics_listen.text))
		return weir__config_fail(x, weir__config_map_get(x, root, "admin"),
					 "admin.listen", "%s is also metrics.listen",
					 x->c->admin_listen.text);
	if (parse_routes(x) < 0)
		return -1;
	return x->c->admin ? resources_json(x, root) : 0;
}

static int parse_routes(struct pctx *x)
{
	if (!x->routes)
		return 0;
	if (x->routes->type != YAML_SEQUENCE_NODE)
		return weir__config_fail(x, x->routes, "routes", "expected a list");
	if (!(x->c->routes = weir__config_alloc(x, x->routes, "routes",
						weir__config_n_items(x->routes),
						sizeof(*x->c->routes))) ||
	    !hcreate_r(2 * weir__config_n_items(x->routes) + 1, &x->ids) ||
	    !hcreate_r(2 * x->c->n_upstreams + 1, &x->ups))
		return weir__config_fail(x, x->routes, "routes", "out of memory");
	for (size_t i = 0; i < x->c->n_upstreams; i++)
		if (!weir__config_seen(&x->ups, x->c->upstreams[i].name, &x->c->upstreams[i],
				       ENTER))
			return weir__config_fail(x, x->routes, "routes", "out of memory");
	return weir__config_each_item(x, x->routes, "routes", route_item, x->c);
}

static void syntax_error(struct pctx *x, yaml_parser_t *p, const char *text, size_t len)
{
	size_t line = p->problem_mark.line + 1;
	char ctx[96] = "";

	if (p->error == YAML_READER_ERROR)	/* an offset, not a mark */
		for (size_t i = line = 1; i <= p->problem_offset && i <= len; i++)
			line += text[i - 1] == '\n';
	if (p->context)
		snprintf(ctx, sizeof(ctx), " (%s at line %zu)", p->context,
			 p->context_mark.line + 1);
	snprintf(x->err, x->errlen, "%s:%zu: syntax: %s%s", x->file, line,
		 p->problem ? p->problem : "out of memory", ctx);
	x->failed = true;
}

int weir_config_parse(const char *name, const char *text, size_t len,
		      struct weir_config **out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, more;
	yaml_node_t *root;
	struct pctx x = { .file = name ? name : "config", .doc = &doc, .err = err,
			  .errlen = errlen };
	int rc = -1;

	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return weir__config_fail(&x, NULL, "syntax", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&x, &parser, text, len);
		goto out_parser;
	}
	if (!(root = yaml_document_get_root_node(&doc))) {
		weir__config_fail(&x, NULL, "document", "the configuration is empty");
		goto out_doc;
	}
	if (!yaml_parser_load(&parser, &more)) {
		syntax_error(&x, &parser, text, len);
		goto out_doc;
	}
	if (yaml_document_get_root_node(&more))
		weir__config_fail(&x, yaml_document_get_root_node(&more), "document",
				  "only one YAML document is allowed");
	yaml_document_delete(&more);
	if (x.failed)
		goto out_doc;
	x.budget = 1000000 + 8 * (size_t)(doc.nodes.top - doc.nodes.start);
	if (!(x.c = calloc(1, sizeof(*x.c)))) {
		weir__config_fail(&x, NULL, "document", "out of memory");
		goto out_doc;
	}
	weir_config_defaults(x.c);
	rc = parse_root(&x, root);
	hdestroy_r(&x.ids);	/* never created is fine: the table is NULL */
	hdestroy_r(&x.ups);
	hdestroy_r(&x.users);
	for (size_t i = 0; i < N_CRED_KINDS; i++)
		hdestroy_r(&x.creds[i]);
	if (rc)
		weir_config_free(x.c);
	else
		*out = x.c;
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	return rc;
}

int weir_config_read(const char *file, char **text, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(file, "re");
	char *buf = NULL, *nb;
	size_t cap = 0, n;
	const char *why = NULL;

	*text = NULL;
	*len = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (;;) {
		if (*len + 1 >= cap) {
			if (cap >= MAX_FILE) {
				why = "larger than 64 MiB";
				goto out;
			}
			cap = cap ? 2 * cap : 65536;
			if (!(nb = realloc(buf, cap))) {
				why = strerror(ENOMEM);
				goto out;
			}
			buf = nb;
		}
		if (!(n = fread(buf + *len, 1, cap - *len - 1, f)))
			break;
		*len += n;
	}
	if (ferror(f))
		why = "read error";
out:
	fclose(f);
	if (why) {
		snprintf(err, errlen, "%s: %s", file, why);
		free(buf);
		return -1;
	}
	buf[*len] = 0;
	*text = buf;
	return 0;
}

int weir_config_load(const char *file, struct weir_config **out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	*out = NULL;
	if (weir_config_read(file, &buf, &len, err, errlen) < 0)
		return -1;
	rc = weir_config_parse(file, buf, len, out, err, errlen);
	if (!rc && !((*out)->file = strdup(file))) {
		snprintf(err, errlen, "%s: %s", file, strerror(ENOMEM));
		weir_config_free(*out);
		*out = NULL;
		rc = -1;
	}
	free(buf);
	return rc;
}

/* The characters YAML reads differently from JSON, as \u escapes: those it
 * calls non-printable (DEL, C1 controls, U+FEFF, U+FFFE/F), which its reader
 * refuses raw, and those it takes for line breaks (U+0085 of the C1 range,
 * U+2028, U+2029), which a double-quoted scalar would fold into a space.
 * They can only stand inside strings: JSON's structure is ASCII. Returns a
 * new text, or NULL when out of memory. */
static char *yaml_escape(const char *t)
{
	const unsigned char *p;
	size_t extra = 0;
	char *out = NULL, *o = NULL;

	for (int pass = 0; pass < 2; pass++) {
		if (pass && !(o = out = malloc(strlen(t) + extra + 1)))
			return NULL;
		for (p = (const unsigned char *)t; *p;) {
			unsigned c = 0, n = 1;

			if (*p == 0x7f)
				c = 0x7f;
			else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
				c = p[1], n = 2;
			else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
				c = 0x2000 | (p[2] - 0x80), n = 3;
			else if (p[0] == 0xef && ((p[1] == 0xbb && p[2] == 0xbf) ||
						  (p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))))
				c = 0xf000 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f), n = 3;
			if (!pass) {
				extra += c ? 6 - n : 0;
			} else if (c) {
				o += sprintf(o, "\\u%04X", c);
			} else {
				memcpy(o, p, n);
				o += n;
			}
			p += n;
		}
	}
	*o = 0;
	return out;
}

/* The admin API's document goes through the same parser as a file: JSON text
 * is YAML in flow style, so one reader validates both and no second set of
 * rules can drift from the first. It is safe because jansson writes every
 * string double-quoted with JSON's escapes, which YAML's double-quoted
 * scalars share (\" \\ \b \f \n \r \t \uXXXX; jansson never writes \/),
 * so no string can end early or turn into a key, an anchor, a tag or a
 * comment; numbers, true, false and null come out plain and are typed by
 * YAML as JSON typed them. Non-ASCII is written as UTF-8, not as \u escapes
 * (YAML refuses escaped surrogate pairs), except the characters YAML reads
 * differently (yaml_escape). tests/fuzz/fuzz_admin.c checks that any string
 * arrives unchanged. What JSON allows and a C string cannot carry, NUL, the
 * admin API refuses itself (jansson's reader does already). */
int weir_config_from_resources(const json_t *res, struct weir_config **out, char *err,
			       size_t errlen)
{
	json_t *doc = json_copy((json_t *)res);
	char *text = NULL, *yaml = NULL;
	int rc = -1;

	*out = NULL;
	if (!doc || !json_is_object(doc) ||
	    json_object_set_new(doc, "listeners", json_pack("[s]", "127.0.0.1:1")) ||
	    !(text = json_dumps(doc, JSON_COMPACT)) || !(yaml = yaml_escape(text))) {
		snprintf(err, errlen, "admin:1: document: out of memory or not an object");
		goto out;
	}
	rc = weir_config_parse("admin", yaml, strlen(yaml), out, err, errlen);
out:
	free(yaml);
	free(text);
	json_decref(doc);
	return rc;
}

int weir_route_conf_rank(const struct weir_route_conf *a, const struct weir_route_conf *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->n_headers != b->n_headers)
		return a->n_headers > b->n_headers ? -1 : 1;
	if (!a->methods != !b->methods)
		return a->methods ? -1 : 1;
	return 0;
}

#define SWAP(T, a, b) do { T t_ = (a); (a) = (b); (b) = t_; } while (0)
void weir_config_swap_resources(struct weir_config *a, struct weir_config *b)
{
	SWAP(struct weir_route_conf *, a->routes, b->routes);
	SWAP(size_t, a->n_routes, b->n_routes);
	SWAP(struct weir_upstream_conf *, a->upstreams, b->upstreams);
	SWAP(size_t, a->n_upstreams, b->n_upstreams);
	SWAP(struct weir_plugin_conf *, a->plugins, b->plugins);
	SWAP(size_t, a->n_plugins, b->n_plugins);
	SWAP(struct weir_consumer_conf *, a->consumers, b->consumers);
	SWAP(size_t, a->n_consumers, b->n_consumers);
	SWAP(struct weir_cert_conf *, a->certificates, b->certificates);
	SWAP(size_t, a->n_certificates, b->n_certificates);
}
#undef SWAP

/* Quick mode goes through the parser like a file would: the addresses are
 * checked first, and their canonical text cannot break the YAML around it. */
int weir_config_quick(const char *from, const char *to, uint32_t workers,
		      struct weir_config **out, char *err, size_t errlen)
{
	struct weir_addr l, u;
	char why[160], yaml[512];

	*out = NULL;
	if (weir_addr_parse(from, true, &l, why, sizeof(why))) {
		snprintf(err, errlen, "listen address: %s", why);
		return -1;
	}
	if (weir_addr_parse(to, false, &u, why, sizeof(why))) {
		snprintf(err, errlen, "upstream address: %s", why);
		return -1;
	}
	snprintf(yaml, sizeof(yaml),
		 "workers: %u\n"
		 "listeners: [\"%s\"]\n"
		 "upstreams: {default: {nodes: [\"%s\"]}}\n"
		 "routes: [{id: default, path: \"/*\", upstream: default}]\n",
		 workers, l.text, u.text);
	if (weir_config_parse("quick", yaml, strlen(yaml), out, err, errlen) == 0)
		return 0;
	if (workers > 256)	/* the only other way to fail, but for memory */
		snprintf(err, errlen, "workers: %u is out of range: 0 to 256", workers);
	return -1;
}

static void free_strs_in(char **s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i]);
}

static void free_strs(char **s, size_t n)
{
	free_strs_in(s, n);
	free(s);
}

static void free_plugins(struct weir_plugin_conf *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		json_decref(p[i].conf);
	}
	free(p);
}

void weir_config_free(struct weir_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct weir_tls_conf *t = &c->listeners[i].tls;

		for (size_t j = 0; j < t->n_certs; j++) {
			free(t->certs[j].cert);
			free(t->certs[j].key);
		}
		free(t->certs);
		free(t->ciphers);
		free(t->ciphersuites);
		free_strs_in(t->alpn, t->n_alpn);
		free(t->client_ca);
		free(t->client_id_header);
	}
	for (size_t i = 0; i < c->n_upstreams; i++) {
		free(c->upstreams[i].tls.ca);
		free(c->upstreams[i].tls.sni);
		free(c->upstreams[i].name);
		free(c->upstreams[i].nodes);
		free(c->upstreams[i].hash_key);
		free(c->upstreams[i].hc.path);
		free(c->upstreams[i].hc.host);
	}
	for (size_t i = 0; i < c->n_routes; i++) {
		struct weir_route_conf *r = &c->routes[i];

		free(r->id);
		free_strs(r->hosts, r->n_hosts);
		free_strs(r->paths, r->n_paths);
		for (size_t j = 0; j < r->n_headers; j++) {
			free(r->headers[j].name);
			free_strs(r->headers[j].values, r->headers[j].n_values);
		}
		free(r->headers);
		free(r->upstream);
		free(r->rewrite_value);
		free_plugins(r->plugins, r->n_plugins);
	}
	for (size_t i = 0; i < c->n_consumers; i++) {
		free(c->consumers[i].username);
		free_plugins(c->consumers[i].plugins, c->consumers[i].n_plugins);
	}
	free(c->consumers);
	weir__config_free_certs(c);
	free(c->file);
	free(c->listeners);
	free(c->cpus_workers);
	free(c->cpus_control);
	free(c->upstreams);
	free(c->routes);
	weir__config_free_log(c);
	free(c->metrics_path);
	free(c->metrics_pin_dir);
	free(c->ban_pin_dir);
	free(c->admin_token);
	free(c->admin_token_file);
	free(c->admin_state);
	json_decref(c->resources);
	free_plugins(c->plugins, c->n_plugins);
	free(c);
}
