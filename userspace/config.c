/* userspace/config.c - reads weir's YAML configuration into the plain structs
 * of config.h and validates it whole.
 *
 * libyaml loads the file as a document (a node graph with a line for every
 * node, aliases already resolved); this file only walks it. Each mapping of
 * the format is a table of keys (struct ckey): the key's name, its type, its
 * bounds, its default and where it lands in the struct. The same tables fill
 * the defaults (weir_config_defaults) and drive the parsing, so a key's rules
 * live in one place; what a table cannot say (shorthands, either-or keys,
 * cross references) is written out in the handlers below them.
 *
 * The walk stops at the first error and reports it as "FILE:LINE: FIELD:
 * REASON", FIELD being the path to the offending value ("routes[2].upstream").
 * Whatever was built so far belongs to the config being built and is freed
 * with it, so no error path owns anything of its own. Routes are read after
 * everything else, since they name upstreams.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "userspace/config.h"

#define PATHLEN 256			/* a field path in messages; longer ones are cut */
#define MAX_NAME 64			/* upstream names, route ids, plugin names */
#define MAX_JSON_DEPTH 64		/* plugin settings nesting */
#define MAX_FILE (64u << 20)
#define DAY_MS 86400000LL
#define KiB ((int64_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

/* ---- the walk's state and its errors --------------------------------- */

struct pctx {
	const char *file;
	yaml_document_t *doc;
	struct weir_config *c;
	char *err;
	size_t errlen;
	bool failed;
	/* Nodes the walk may still visit. Aliases let a small file name the same
	 * subtree many times over ("billion laughs"); the walk visits each use,
	 * so it is bounded by a budget proportional to the file instead. */
	size_t budget;
	yaml_node_t *routes;		/* deferred: read once upstreams are known */
};

static unsigned line_of(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 1;
}

static int __attribute__((format(printf, 4, 5)))
fail(struct pctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (x->failed)
		return -1;
	x->failed = true;
	k = snprintf(x->err, x->errlen, "%s:%u: %s: ", x->file, line_of(n), path);
	if (k >= 0 && (size_t)k < x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err + k, x->errlen - k, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *pjoin(char *buf, const char *parent, const char *key)
{
	snprintf(buf, PATHLEN, "%s%s%s", parent, *parent ? "." : "", key);
	return buf;
}

static const char *pindex(char *buf, const char *parent, size_t i)
{
	snprintf(buf, PATHLEN, "%s[%zu]", parent, i);
	return buf;
}

static yaml_node_t *node(struct pctx *x, int i)
{
	return yaml_document_get_node(x->doc, i);
}

static int spend(struct pctx *x, const yaml_node_t *n, const char *path)
{
	if (x->budget == 0)
		return fail(x, n, path, "too many nodes once aliases are expanded");
	x->budget--;
	return 0;
}

/* ---- scalars ---------------------------------------------------------- */

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* A scalar's text, or NULL with the error set. */
static const char *text(struct pctx *x, yaml_node_t *n, const char *path, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		fail(x, n, path, "expected %s, not a %s", what,
		     n->type == YAML_MAPPING_NODE ? "mapping" : "list");
		return NULL;
	}
	if (strlen(sval(n)) != n->data.scalar.length) {
		fail(x, n, path, "contains a NUL byte");
		return NULL;
	}
	return sval(n);
}

/* A non-empty string. */
static const char *str(struct pctx *x, yaml_node_t *n, const char *path)
{
	const char *s = text(x, n, path, "a string");

	if (s && (!*s || is_null(n))) {
		fail(x, n, path, "must not be empty");
		return NULL;
	}
	return s;
}

static char *dup(struct pctx *x, const yaml_node_t *n, const char *path, const char *s)
{
	char *d = strdup(s);

	if (!d)
		fail(x, n, path, "out of memory");
	return d;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* Names that end up in URLs of the admin API, logs and metrics. */
static bool name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789._-");

	return n > 0 && n <= MAX_NAME && !s[n];
}

static int check_name(struct pctx *x, yaml_node_t *n, const char *path, const char *s)
{
	if (!name_ok(s))
		return fail(x, n, path, "'%s': use 1 to %d letters, digits, '.', '_' or '-'",
			    s, MAX_NAME);
	return 0;
}

/* Decimal, optional '-'. Values beyond int64 saturate, so that the range
 * check reports them. */
static int int_of(const char *s, int64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)s[*s == '-']))
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return *end ? -1 : 0;
}

/* "500ms", "10s", "5m", "1h" or a bare 0, in milliseconds. */
static int ms_of(const char *s, int64_t *v, const char **why)
{
	static const struct { const char *u; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	uint64_t n;
	char *end;

	*why = "expected a duration such as 500ms, 10s, 5m or 1h";
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		n = UINT64_MAX;
	if (!*end) {
		*v = 0;
		if (n == 0)
			return 0;
		*why = "a duration needs a unit: ms, s, m or h";
		return -1;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].u))
			continue;
		*v = n > (uint64_t)INT64_MAX / units[i].ms ? INT64_MAX : (int64_t)n * units[i].ms;
		return 0;
	}
	return -1;
}

/* Bytes, or a number with k, m or g (powers of 1024). */
static int size_of(const char *s, int64_t *v)
{
	uint64_t n, mul = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		n = UINT64_MAX;
	if (*end && end[1])
		return -1;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': mul = KiB; break;
	case 'm': case 'M': mul = MiB; break;
	case 'g': case 'G': mul = GiB; break;
	default: return -1;
	}
	*v = n > (uint64_t)INT64_MAX / mul ? INT64_MAX : (int64_t)(n * mul);
	return 0;
}

/* ---- walking mappings and lists --------------------------------------- */

typedef int pair_fn(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		    const char *path, void *arg);
typedef int item_fn(struct pctx *x, yaml_node_t *it, size_t i, const char *path, void *arg);

/* Calls fn for each pair of mapping n with the key's path. Keys must be
 * strings and unique: libyaml keeps both pairs of a duplicate key, and a
 * silently ignored one is how a config file lies to its reader. */
static int each_pair(struct pctx *x, yaml_node_t *n, const char *path, pair_fn *fn, void *arg)
{
	yaml_node_pair_t *p, *q;
	char kp[PATHLEN];

	if (n->type != YAML_MAPPING_NODE)
		return fail(x, n, path, "expected a mapping");
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
		const char *name;

		if (spend(x, k, path))
			return -1;
		if (k->type != YAML_SCALAR_NODE)
			return fail(x, k, path, "keys must be strings");
		name = text(x, k, path, "a key");
		if (!name)
			return -1;
		pjoin(kp, path, name);
		for (q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = node(x, q->key);

			if (k2->type == YAML_SCALAR_NODE && !strcmp(sval(k2), name))
				return fail(x, k, kp, "duplicate key (first at line %u)",
					    line_of(k2));
		}
		if (fn(x, k, name, v, kp, arg))
			return -1;
	}
	return 0;
}

static size_t n_pairs(const yaml_node_t *n)
{
	return n->data.mapping.pairs.top - n->data.mapping.pairs.start;
}

static size_t n_items(const yaml_node_t *n)
{
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

static int each_item(struct pctx *x, yaml_node_t *n, const char *path, item_fn *fn, void *arg)
{
	char ip[PATHLEN];

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(x, n, path, "expected a list");
	for (size_t i = 0; i < n_items(n); i++) {
		yaml_node_t *it = node(x, n->data.sequence.items.start[i]);

		if (spend(x, it, path) || fn(x, it, i, pindex(ip, path, i), arg))
			return -1;
	}
	return 0;
}

/* The value of key in mapping n, or NULL. */
static yaml_node_t *map_get(struct pctx *x, yaml_node_t *n, const char *key)
{
	if (n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(x, p->key);

		if (k->type == YAML_SCALAR_NODE && !strcmp(sval(k), key))
			return node(x, p->value);
	}
	return NULL;
}

/* Allocates n (at least one) zeroed elements; the caller counts them in as
 * they are filled, so a half-read array frees cleanly. */
static void *alloc(struct pctx *x, const yaml_node_t *at, const char *path, size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		fail(x, at, path, "out of memory");
	return p;
}

/* ---- key tables ------------------------------------------------------- */

enum ckind {
	CK_U32,		/* uint32_t in [min, max] */
	CK_I32,		/* int32_t in [min, max] */
	CK_MS,		/* uint32_t milliseconds from a duration */
	CK_SIZE32,	/* uint32_t bytes from a size */
	CK_SIZE64,	/* uint64_t bytes from a size */
	CK_STR,		/* char *, non-empty */
	CK_ENUM,	/* int, the index of the value in names */
	CK_ADDR,	/* struct weir_addr; min = 1 for a listening address */
	CK_MAP,		/* a nested mapping whose keys land in the same struct */
	CK_FN,		/* anything else: its own handler */
};

typedef int ckey_fn(struct pctx *x, yaml_node_t *v, void *base, const char *path);

struct ckey {
	const char *name;
	enum ckind kind;
	size_t off;
	int64_t min, max, def;
	const char *const *names;	/* CK_ENUM */
	const struct ckey *keys;	/* CK_MAP */
	ckey_fn *fn;			/* CK_FN */
	bool req;			/* the key must be present */
};

/* A row pointing at a field of the wrong width does not compile. */
#define FIELD(T, f, size) (offsetof(T, f) + 0 * sizeof(char[sizeof(((T *)0)->f) == (size) ? 1 : -1]))
#define U32(n, T, f, lo, hi, d)	{ n, CK_U32, FIELD(T, f, 4), lo, hi, d, NULL, NULL, NULL, false }
#define I32(n, T, f, lo, hi, d)	{ n, CK_I32, FIELD(T, f, 4), lo, hi, d, NULL, NULL, NULL, false }
#define MS(n, T, f, lo, hi, d)	{ n, CK_MS, FIELD(T, f, 4), lo, hi, d, NULL, NULL, NULL, false }
#define SZ32(n, T, f, lo, hi, d) { n, CK_SIZE32, FIELD(T, f, 4), lo, hi, d, NULL, NULL, NULL, false }
#define SZ64(n, T, f, lo, hi, d) { n, CK_SIZE64, FIELD(T, f, 8), lo, hi, d, NULL, NULL, NULL, false }
#define STR(n, T, f, req)	{ n, CK_STR, FIELD(T, f, sizeof(char *)), 0, 0, 0, NULL, NULL, NULL, req }
#define ENUM(n, T, f, nm, d)	{ n, CK_ENUM, FIELD(T, f, sizeof(int)), 0, 0, d, nm, NULL, NULL, false }
#define ADDR(n, T, f, lst)	{ n, CK_ADDR, FIELD(T, f, sizeof(struct weir_addr)), lst, 0, 0, NULL, NULL, NULL, true }
#define MAP(n, k)		{ n, CK_MAP, 0, 0, 0, 0, NULL, k, NULL, false }
#define FN(n, h, req)		{ n, CK_FN, 0, 0, 0, 0, NULL, NULL, h, req }
#define END			{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, false }

static void set_defaults(const struct ckey *keys, void *base)
{
	for (const struct ckey *k = keys; k->name; k++) {
		void *f = (char *)base + k->off;

		switch (k->kind) {
		case CK_U32: case CK_MS: case CK_SIZE32: *(uint32_t *)f = k->def; break;
		case CK_I32: *(int32_t *)f = k->def; break;
		case CK_SIZE64: *(uint64_t *)f = k->def; break;
		case CK_ENUM: *(int *)f = k->def; break;
		case CK_MAP: set_defaults(k->keys, base); break;
		default: break;
		}
	}
}

static void fmt_num(char *b, size_t n, enum ckind kind, int64_t v)
{
	if (kind == CK_MS && v && v % 3600000 == 0)
		snprintf(b, n, "%" PRId64 "h", v / 3600000);
	else if (kind == CK_MS && v && v % 1000 == 0)
		snprintf(b, n, "%" PRId64 "s", v / 1000);
	else if (kind == CK_MS && v)
		snprintf(b, n, "%" PRId64 "ms", v);
	else if ((kind == CK_SIZE32 || kind == CK_SIZE64) && v && v % GiB == 0)
		snprintf(b, n, "%" PRId64 "g", v / GiB);
	else if ((kind == CK_SIZE32 || kind == CK_SIZE64) && v && v % MiB == 0)
		snprintf(b, n, "%" PRId64 "m", v / MiB);
	else if ((kind == CK_SIZE32 || kind == CK_SIZE64) && v && v % KiB == 0)
		snprintf(b, n, "%" PRId64 "k", v / KiB);
	else
		snprintf(b, n, "%" PRId64, v);
}

static int parse_number(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *f,
			const char *path)
{
	const char *s = text(x, v, path, k->kind == CK_MS ? "a duration" :
			     k->kind == CK_SIZE32 || k->kind == CK_SIZE64 ? "a size" :
			     "an integer"), *why = NULL;
	char lo[32], hi[32];
	int64_t n;

	if (!s)
		return -1;
	switch (k->kind) {
	case CK_MS:
		if (ms_of(s, &n, &why))
			return fail(x, v, path, "%s", why);
		break;
	case CK_SIZE32: case CK_SIZE64:
		if (size_of(s, &n))
			return fail(x, v, path, "expected a size: bytes, or a number with k, m or g");
		break;
	default:
		if (int_of(s, &n))
			return fail(x, v, path, "expected an integer");
		break;
	}
	if (n < k->min || n > k->max) {
		fmt_num(lo, sizeof(lo), k->kind, k->min);
		fmt_num(hi, sizeof(hi), k->kind, k->max);
		return fail(x, v, path, "%s is out of range: %s to %s", s, lo, hi);
	}
	if (k->kind == CK_SIZE64)
		*(uint64_t *)f = n;
	else if (k->kind == CK_I32)
		*(int32_t *)f = n;
	else
		*(uint32_t *)f = n;
	return 0;
}

static int parse_enum(struct pctx *x, const struct ckey *k, yaml_node_t *v, int *f,
		      const char *path)
{
	const char *s = text(x, v, path, "a string");
	char list[128] = "";

	if (!s)
		return -1;
	for (int i = 0; k->names[i]; i++) {
		if (!strcmp(s, k->names[i])) {
			*f = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? ", " : "", k->names[i]);
	}
	return fail(x, v, path, "'%s' is not one of: %s", s, list);
}

static int parse_addr(struct pctx *x, yaml_node_t *v, bool listen, struct weir_addr *a,
		      const char *path)
{
	char why[128];
	const char *s;

	if (v->type == YAML_SEQUENCE_NODE)	/* [::1]:80 unquoted reads as a list */
		return fail(x, v, path, "expected an address; quote IPv6 ones: \"[::1]:80\"");
	s = str(x, v, path);
	if (!s)
		return -1;
	if (weir_addr_parse(s, listen, a, why, sizeof(why)))
		return fail(x, v, path, "%s", why);
	return 0;
}

/* Levenshtein distance, for "did you mean" on unknown keys. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[MAX_NAME + 1];

	if (la > MAX_NAME || lb > MAX_NAME)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

struct mapargs {
	const struct ckey *keys;
	void *base;
};

static int parse_map(struct pctx *x, yaml_node_t *n, const struct ckey *keys, void *base,
		     const char *path);

static int map_pair(struct pctx *x, yaml_node_t *kn, const char *name, yaml_node_t *v,
		    const char *path, void *arg)
{
	const struct mapargs *m = arg;
	const struct ckey *k, *near = NULL;
	size_t best = 3;
	void *f;

	for (k = m->keys; k->name && strcmp(k->name, name); k++) {
		size_t d = distance(name, k->name);

		if (d < best && d < strlen(name)) {
			best = d;
			near = k;
		}
	}
	if (!k->name) {
		if (near)
			return fail(x, kn, path, "unknown field (did you mean '%s'?)", near->name);
		return fail(x, kn, path, "unknown field");
	}
	f = (char *)m->base + k->off;
	switch (k->kind) {
	case CK_U32: case CK_I32: case CK_MS: case CK_SIZE32: case CK_SIZE64:
		return parse_number(x, k, v, f, path);
	case CK_STR: {
		const char *s = str(x, v, path);

		return s && (*(char **)f = dup(x, v, path, s)) ? 0 : -1;
	}
	case CK_ENUM:
		return parse_enum(x, k, v, f, path);
	case CK_ADDR:
		return parse_addr(x, v, k->min, f, path);
	case CK_MAP:
		return parse_map(x, v, k->keys, m->base, path);
	case CK_FN:
		return k->fn(x, v, m->base, path);
	}
	return -1;
}

static int parse_map(struct pctx *x, yaml_node_t *n, const struct ckey *keys, void *base,
		     const char *path)
{
	struct mapargs m = { keys, base };
	char kp[PATHLEN];

	if (each_pair(x, n, path, map_pair, &m))
		return -1;
	for (const struct ckey *k = keys; k->name; k++)
		if (k->req && !map_get(x, n, k->name))
			return fail(x, n, pjoin(kp, path, k->name), "required field missing");
	return 0;
}

/* ---- addresses -------------------------------------------------------- */

int weir_addr_parse(const char *text, bool listen, struct weir_addr *out,
		    char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	const char *port, *end;
	unsigned long p;
	size_t hl;
	bool v6 = false;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		end = strchr(text, ']');
		if (!end)
			goto bad_bracket;
		hl = end - text - 1;
		memcpy(host, text + 1, hl < sizeof(host) ? hl : 0);
		if (end[1] != ':')
			goto no_port;
		port = end + 2;
		v6 = true;
	} else if ((end = strrchr(text, ':'))) {
		hl = end - text;
		memcpy(host, text, hl < sizeof(host) ? hl : 0);
		port = end + 1;
		if (memchr(text, ':', hl)) {
			snprintf(err, errlen, "'%s': write an IPv6 address in brackets: [ADDR]:PORT",
				 text);
			return -1;
		}
	} else if (listen && text[0] && strspn(text, "0123456789") == strlen(text)) {
		hl = 1;
		host[0] = '*';
		port = text;
	} else {
		goto no_port;
	}
	if (hl >= sizeof(host) || hl == 0) {
		snprintf(err, errlen, "'%s': bad address", text);
		return -1;
	}
	host[hl] = 0;
	p = strtoul(port, NULL, 10);
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    p < 1 || p > 65535) {
		snprintf(err, errlen, "'%s': the port must be 1 to 65535", text);
		return -1;
	}
	if (!v6 && !strcmp(host, "*")) {
		if (!listen) {
			snprintf(err, errlen, "'%s': '*' is only for listeners", text);
			return -1;
		}
		strcpy(host, "0.0.0.0");
	}
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			snprintf(err, errlen, "'%s' is not an IPv6 address", host);
			return -1;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p);
		out->len = sizeof(*s6);
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out->text, sizeof(out->text), "[%s]:%lu", host, p);
		if (!listen && IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			goto unspecified;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->sa;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			if (strpbrk(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
				snprintf(err, errlen, "'%s' is not an IP address "
					 "(DNS names are not resolved)", host);
			else
				snprintf(err, errlen, "'%s' is not an IPv4 address", host);
			return -1;
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p);
		out->len = sizeof(*s4);
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out->text, sizeof(out->text), "%s:%lu", host, p);
		if (!listen && s4->sin_addr.s_addr == htonl(INADDR_ANY))
			goto unspecified;
	}
	return 0;
bad_bracket:
	snprintf(err, errlen, "'%s': missing ']'", text);
	return -1;
no_port:
	snprintf(err, errlen, "'%s': expected %s", text,
		 listen ? "IP:PORT, [IPv6]:PORT, *:PORT or PORT" : "IP:PORT or [IPv6]:PORT");
	return -1;
unspecified:
	snprintf(err, errlen, "'%s': an upstream needs a specific address", out->text);
	memset(out, 0, sizeof(*out));
	return -1;
}

/* ---- plugin settings: YAML to JSON ------------------------------------ */

static json_t *to_json(struct pctx *x, yaml_node_t *n, const char *path, int depth);

struct jsonargs {
	json_t *j;
	int depth;
};

static int json_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		     const char *path, void *arg)
{
	struct jsonargs *a = arg;
	json_t *j = to_json(x, v, path, a->depth + 1);

	if (!j)
		return -1;
	if (json_object_set_new(a->j, name, j))
		return fail(x, k, path, "the key is not valid UTF-8");
	return 0;
}

static int json_item(struct pctx *x, yaml_node_t *it, size_t i, const char *path, void *arg)
{
	struct jsonargs *a = arg;
	json_t *j = to_json(x, it, path, a->depth + 1);

	if (!j)
		return -1;
	if (json_array_append_new(a->j, j))
		return fail(x, it, path, "out of memory");
	return 0;
}

/* Plain scalars are typed the way a YAML reader expects (true, 3, 2.5, null);
 * quoted ones stay strings. */
static json_t *scalar_json(struct pctx *x, yaml_node_t *n, const char *path)
{
	const char *s = sval(n);
	size_t len = n->data.scalar.length;
	json_t *j = NULL;
	int64_t i;
	double d;
	char *end;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		j = json_stringn(s, len);
	else if (is_null(n))
		j = json_null();
	else if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		j = json_true();
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		j = json_false();
	else if (!int_of(s, &i) && errno != ERANGE)
		j = json_integer(i);
	else if (strspn(s, "0123456789+-.eE") == len && (d = strtod(s, &end), !*end) &&
		 isfinite(d) && strpbrk(s, "0123456789"))
		j = json_real(d);
	else
		j = json_stringn(s, len);
	if (!j)
		fail(x, n, path, "not valid UTF-8");
	return j;
}

static json_t *to_json(struct pctx *x, yaml_node_t *n, const char *path, int depth)
{
	struct jsonargs a = { NULL, depth };
	int rc;

	if (depth > MAX_JSON_DEPTH) {
		fail(x, n, path, "nested more than %d deep", MAX_JSON_DEPTH);
		return NULL;
	}
	if (n->type == YAML_SCALAR_NODE)
		return scalar_json(x, n, path);
	a.j = n->type == YAML_MAPPING_NODE ? json_object() : json_array();
	if (!a.j) {
		fail(x, n, path, "out of memory");
		return NULL;
	}
	if (n->type == YAML_MAPPING_NODE)
		rc = each_pair(x, n, path, json_pair, &a);
	else
		rc = each_item(x, n, path, json_item, &a);
	if (rc) {
		json_decref(a.j);
		return NULL;
	}
	return a.j;
}

struct pluginargs {
	struct weir_plugin_conf *p;
	size_t *n;
};

static int plugin_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		       const char *path, void *arg)
{
	struct pluginargs *a = arg;
	struct weir_plugin_conf *p = &a->p[(*a->n)++];

	p->line = line_of(k);
	if (check_name(x, k, path, name) || !(p->name = dup(x, k, path, name)))
		return -1;
	if (is_null(v))			/* "cors:" alone: the plugin's defaults */
		p->conf = json_object();
	else if (v->type != YAML_MAPPING_NODE)
		return fail(x, v, path, "plugin settings must be a mapping");
	else
		p->conf = to_json(x, v, path, 0);
	return p->conf ? 0 : fail(x, v, path, "out of memory");
}

static int parse_plugins(struct pctx *x, yaml_node_t *v, const char *path,
			 struct weir_plugin_conf **arr, size_t *n)
{
	if (v->type != YAML_MAPPING_NODE)
		return fail(x, v, path, "expected a mapping of plugin names to settings");
	*arr = alloc(x, v, path, n_pairs(v), sizeof(**arr));
	if (!*arr)
		return -1;
	return each_pair(x, v, path, plugin_pair, &(struct pluginargs){ *arr, n });
}

/* ---- listeners -------------------------------------------------------- */

static const struct ckey listener_keys[] = {
	ADDR("listen", struct weir_listener_conf, addr, 1),
	U32("backlog", struct weir_listener_conf, backlog, 1, 65535, 4096),
	END
};

static int listener_item(struct pctx *x, yaml_node_t *it, size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_listener_conf *l = &c->listeners[c->n_listeners++];
	yaml_node_t *at = it;
	char lp[PATHLEN];

	set_defaults(listener_keys, l);
	if (it->type == YAML_SCALAR_NODE) {	/* "- 0.0.0.0:8080" */
		if (parse_addr(x, it, true, &l->addr, path))
			return -1;
	} else {
		if (parse_map(x, it, listener_keys, l, path))
			return -1;
		at = map_get(x, it, "listen");
		path = pjoin(lp, path, "listen");
	}
	for (size_t j = 0; j < i; j++)
		if (!strcmp(c->listeners[j].addr.text, l->addr.text))
			return fail(x, at, path, "duplicate listener address %s (listeners[%zu])",
				    l->addr.text, j);
	return 0;
}

static int config_listeners(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_config *c = base;

	if (v->type == YAML_SEQUENCE_NODE && !n_items(v))
		return fail(x, v, path, "at least one listener is required");
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(x, v, path, "expected a list");
	if (!(c->listeners = alloc(x, v, path, n_items(v), sizeof(*c->listeners))))
		return -1;
	return each_item(x, v, path, listener_item, c);
}

/* ---- upstreams -------------------------------------------------------- */

static const char *const lb_names[] = { "roundrobin", "leastconn", "chash", NULL };
static const char *const hash_names[] = { "ip", "header", "cookie", "param", NULL };

static const struct ckey node_keys[] = {
	ADDR("addr", struct weir_node_conf, addr, 0),
	U32("weight", struct weir_node_conf, weight, 0, 1000000, 1),
	END
};

static int node_item(struct pctx *x, yaml_node_t *it, size_t i, const char *path, void *arg)
{
	struct weir_upstream_conf *u = arg;
	struct weir_node_conf *nd = &u->nodes[u->n_nodes++];
	yaml_node_t *at = it;
	char np[PATHLEN];

	set_defaults(node_keys, nd);
	if (it->type == YAML_SCALAR_NODE) {	/* "- 127.0.0.1:9002", weight 1 */
		if (parse_addr(x, it, false, &nd->addr, path))
			return -1;
	} else {
		if (parse_map(x, it, node_keys, nd, path))
			return -1;
		at = map_get(x, it, "addr");
		path = pjoin(np, path, "addr");
	}
	for (size_t j = 0; j < i; j++)
		if (!strcmp(u->nodes[j].addr.text, nd->addr.text))
			return fail(x, at, path, "duplicate node address %s (nodes[%zu])",
				    nd->addr.text, j);
	return 0;
}

static int upstream_nodes(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_upstream_conf *u = base;

	if (v->type != YAML_SEQUENCE_NODE)
		return fail(x, v, path, "expected a list of nodes");
	if (!n_items(v))
		return fail(x, v, path, "an upstream needs at least one node");
	if (!(u->nodes = alloc(x, v, path, n_items(v), sizeof(*u->nodes))))
		return -1;
	return each_item(x, v, path, node_item, u);
}

#define UP struct weir_upstream_conf
static const struct ckey up_keepalive_keys[] = {
	U32("size", UP, keepalive, 0, 10000, 64),		/* 0: no pool */
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

static const struct ckey upstream_keys[] = {
	FN("nodes", upstream_nodes, true),
	ENUM("balance", UP, lb, lb_names, WEIR_LB_ROUNDROBIN),
	ENUM("hash_on", UP, hash_on, hash_names, WEIR_HASH_IP),
	STR("hash_key", UP, hash_key, false),
	MAP("keepalive", up_keepalive_keys),
	MAP("timeouts", up_timeout_keys),
	MAP("health", up_health_keys),
	U32("retries", UP, retries, 0, 16, 1),
	MS("retry_timeout", UP, retry_timeout_ms, 0, DAY_MS, 0),	/* 0: no limit */
	END
};
#undef UP

static int upstream_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
			 const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_upstream_conf *u = &c->upstreams[c->n_upstreams++];
	yaml_node_t *on, *key;
	char fp[PATHLEN];

	weir_upstream_defaults(u);
	u->line = line_of(k);
	if (check_name(x, k, path, name) || !(u->name = dup(x, k, path, name)) ||
	    parse_map(x, v, upstream_keys, u, path))
		return -1;
	on = map_get(x, v, "hash_on");
	key = map_get(x, v, "hash_key");
	if (on && u->lb != WEIR_LB_CHASH)
		return fail(x, on, pjoin(fp, path, "hash_on"), "only used with balance: chash");
	if (on && u->hash_on != WEIR_HASH_IP && !key)
		return fail(x, on, pjoin(fp, path, "hash_key"), "required with hash_on: %s",
			    hash_names[u->hash_on]);
	if (key && (u->lb != WEIR_LB_CHASH || u->hash_on == WEIR_HASH_IP))
		return fail(x, key, pjoin(fp, path, "hash_key"),
			    "only used with hash_on: header, cookie or param");
	if (u->hash_key && u->hash_on == WEIR_HASH_HEADER)
		lower(u->hash_key);
	return 0;
}

static int config_upstreams(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_config *c = base;

	if (v->type != YAML_MAPPING_NODE)
		return fail(x, v, path, "expected a mapping of names to upstreams");
	if (!(c->upstreams = alloc(x, v, path, n_pairs(v), sizeof(*c->upstreams))))
		return -1;
	return each_pair(x, v, path, upstream_pair, c);
}

/* ---- routes ----------------------------------------------------------- */

static const char *const method_names[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", NULL
};

enum { ONE = 1, LIST = 2 };

typedef int str_check(struct pctx *x, yaml_node_t *n, char *s, const char *path);

/* A string (ONE) or a list of strings (LIST), each copied into a new array
 * and checked (and possibly normalised in place) by check. */
static int strlist(struct pctx *x, yaml_node_t *v, const char *path, int forms,
		   char ***arr, size_t *n, str_check *check)
{
	yaml_node_t *one = v;
	char ip[PATHLEN];
	size_t cnt = 1;

	if (v->type == YAML_SEQUENCE_NODE && (forms & LIST)) {
		cnt = n_items(v);
		if (!cnt)
			return fail(x, v, path, "must not be an empty list");
		one = NULL;
	} else if (v->type != YAML_SCALAR_NODE || !(forms & ONE)) {
		return fail(x, v, path, forms & ONE ? "expected a string" : "expected a list");
	}
	if (!(*arr = alloc(x, v, path, cnt, sizeof(char *))))
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *it = one ? one : node(x, v->data.sequence.items.start[i]);
		const char *p = one ? path : pindex(ip, path, i);
		const char *s = str(x, it, p);

		if (spend(x, it, p) || !s || !((*arr)[(*n)++] = dup(x, it, p, s)) ||
		    (check && check(x, it, (*arr)[*n - 1], p)))
			return -1;
	}
	return 0;
}

static int check_host(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	lower(s);
	if (s[0] == '[' ? s[strlen(s) - 1] != ']' : strchr(s, ':') != NULL)
		return fail(x, n, path, "'%s': a host is matched without its port", s);
	return 0;
}

static int check_path(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	return s[0] == '/' ? 0 : fail(x, n, path, "'%s' must start with '/'", s);
}

/* host/hosts and path/paths fill the same array; either form, once. */
static int route_strs(struct pctx *x, yaml_node_t *v, const char *path, int forms,
		      char ***arr, size_t *n, str_check *check, const char *what)
{
	if (*arr)
		return fail(x, v, path, "give %s or %ss, not both", what, what);
	return strlist(x, v, path, forms, arr, n, check);
}

static int route_host(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_route_conf *r = base;

	return route_strs(x, v, path, ONE, &r->hosts, &r->n_hosts, check_host, "host");
}

static int route_hosts(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_route_conf *r = base;

	return route_strs(x, v, path, LIST, &r->hosts, &r->n_hosts, check_host, "host");
}

static int route_path(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_route_conf *r = base;

	return route_strs(x, v, path, ONE, &r->paths, &r->n_paths, check_path, "path");
}

static int route_paths(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_route_conf *r = base;

	return route_strs(x, v, path, LIST, &r->paths, &r->n_paths, check_path, "path");
}

static int check_method(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	for (char *p = s; *p; p++)
		*p = toupper((unsigned char)*p);
	for (int i = 0; method_names[i]; i++)
		if (!strcmp(s, method_names[i]))
			return 0;
	return fail(x, n, path, "unknown method '%s'", s);
}

/* Checked as strings first, then folded into bits. */
static int route_methods(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_route_conf *r = base;
	char **m = NULL;
	size_t n = 0;
	int rc;

	rc = strlist(x, v, path, ONE | LIST, &m, &n, check_method);
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
		       const char *path, void *arg)
{
	struct weir_route_conf *r = arg;
	struct weir_header_match_conf *h = &r->headers[r->n_headers++];

	/* A header name is an RFC 9110 token. */
	if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789!#$%&'*+-.^_`|~") != strlen(name) || !*name)
		return fail(x, k, path, "'%s' is not a header name", name);
	if (!(h->name = dup(x, k, path, name)))
		return -1;
	lower(h->name);
	for (size_t i = 0; i + 1 < r->n_headers; i++)
		if (!strcmp(r->headers[i].name, h->name))
			return fail(x, k, path, "the same header as '%s'", r->headers[i].name);
	return strlist(x, v, path, ONE | LIST, &h->values, &h->n_values, NULL);
}

static int route_headers(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_route_conf *r = base;

	if (v->type != YAML_MAPPING_NODE)
		return fail(x, v, path, "expected a mapping of header names to values");
	if (!(r->headers = alloc(x, v, path, n_pairs(v), sizeof(*r->headers))))
		return -1;
	return each_pair(x, v, path, header_pair, r);
}

static int rewrite_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
			const char *path, void *arg)
{
	struct weir_route_conf *r = arg;
	const char *s;

	if (strcmp(name, "strip_prefix") && strcmp(name, "template"))
		return fail(x, k, path, "unknown field");
	if (r->rewrite != WEIR_REWRITE_NONE)
		return fail(x, k, path, "give strip_prefix or template, not both");
	r->rewrite = name[0] == 's' ? WEIR_REWRITE_STRIP : WEIR_REWRITE_TEMPLATE;
	if (!(s = str(x, v, path)))
		return -1;
	if (s[0] != '/')
		return fail(x, v, path, "'%s' must start with '/'", s);
	return (r->rewrite_value = dup(x, v, path, s)) ? 0 : -1;
}

static int route_rewrite(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_route_conf *r = base;

	if (each_pair(x, v, path, rewrite_pair, r))
		return -1;
	if (r->rewrite == WEIR_REWRITE_NONE)
		return fail(x, v, path, "needs strip_prefix or template");
	return 0;
}

static int route_plugins(struct pctx *x, yaml_node_t *v, void *base, const char *path)
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
	FN("host", route_host, false),
	FN("hosts", route_hosts, false),
	FN("path", route_path, false),
	FN("paths", route_paths, false),
	FN("methods", route_methods, false),
	FN("headers", route_headers, false),
	I32("priority", RT, priority, INT32_MIN, INT32_MAX, 0),
	STR("upstream", RT, upstream, true),
	FN("rewrite", route_rewrite, false),
	MAP("timeouts", route_timeout_keys),
	FN("plugins", route_plugins, false),
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
	const char *t = r->rewrite_value;

	for (const char *p = strchr(t, ':'); p; p = strchr(p + 1, ':')) {
		size_t len = strspn(p + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789_");

		if (!len)
			continue;
		for (size_t i = 0; i < r->n_paths; i++)
			if (!has_param(r->paths[i], p + 1, len))
				return fail(x, at, path, ":%.*s is not a parameter of path '%s'",
					    (int)len, p + 1, r->paths[i]);
	}
	return 0;
}

static int route_item(struct pctx *x, yaml_node_t *it, size_t i, const char *path, void *arg)
{
	struct weir_config *c = arg;
	struct weir_route_conf *r = &c->routes[c->n_routes++];
	yaml_node_t *at;
	char fp[PATHLEN];
	size_t j;

	r->line = line_of(it);
	if (parse_map(x, it, route_keys, r, path))
		return -1;
	at = map_get(x, it, "id");
	if (r->id && check_name(x, at, pjoin(fp, path, "id"), r->id))
		return -1;
	if (!r->id && asprintf(&r->id, "route-%zu", i) < 0) {
		r->id = NULL;
		return fail(x, it, path, "out of memory");
	}
	for (j = 0; j < i; j++)
		if (!strcmp(c->routes[j].id, r->id))
			return fail(x, at ? at : it, pjoin(fp, path, "id"),
				    "duplicate route id '%s' (first at line %u)",
				    r->id, c->routes[j].line);
	if (!r->n_paths)
		return fail(x, it, pjoin(fp, path, "paths"),
			    "a route needs at least one path (path or paths)");
	for (j = 0; j < c->n_upstreams && strcmp(c->upstreams[j].name, r->upstream); j++)
		;
	if (j == c->n_upstreams)
		return fail(x, map_get(x, it, "upstream"), pjoin(fp, path, "upstream"),
			    "no upstream named '%s'", r->upstream);
	if (r->rewrite == WEIR_REWRITE_TEMPLATE) {
		at = map_get(x, map_get(x, it, "rewrite"), "template");
		return check_template(x, at, r, pjoin(fp, path, "rewrite.template"));
	}
	return 0;
}

static int config_routes(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	x->routes = v;
	return 0;
}

/* ---- the whole file --------------------------------------------------- */

static const char *const log_formats[] = { "off", "json", "combined", NULL };

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

static const struct ckey access_log_keys[] = {
	STR("path", CF, log_path, false),
	ENUM("format", CF, log_format, log_formats, WEIR_LOG_JSON),
	END
};

/* No access_log: no log. An access_log mapping: JSON to stdout unless it
 * says otherwise. */
static int config_access_log(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_config *c = base;

	set_defaults(access_log_keys, c);
	if (parse_map(x, v, access_log_keys, c, path))
		return -1;
	if (!c->log_path && c->log_format != WEIR_LOG_OFF)
		c->log_path = dup(x, v, path, "-");
	return c->log_path || c->log_format == WEIR_LOG_OFF ? 0 : -1;
}

static int config_plugins(struct pctx *x, yaml_node_t *v, void *base, const char *path)
{
	struct weir_config *c = base;

	return parse_plugins(x, v, path, &c->plugins, &c->n_plugins);
}

static const struct ckey config_keys[] = {
	U32("workers", CF, workers, 0, 256, 0),			/* 0: one per CPU */
	MAP("limits", limits_keys),
	MAP("timeouts", timeout_keys),
	U32("max_connections", CF, max_connections, 1, 1000000, 65536),
	FN("access_log", config_access_log, false),
	FN("listeners", config_listeners, false),
	FN("upstreams", config_upstreams, false),
	FN("routes", config_routes, false),
	FN("plugins", config_plugins, false),
	END
};
#undef CF

void weir_config_defaults(struct weir_config *c)
{
	set_defaults(config_keys, c);
	c->log_format = WEIR_LOG_OFF;
}

void weir_upstream_defaults(struct weir_upstream_conf *u)
{
	set_defaults(upstream_keys, u);
}

static int parse_root(struct pctx *x, yaml_node_t *root)
{
	if (root->type != YAML_MAPPING_NODE)
		return fail(x, root, "document", "expected a mapping at the top level");
	if (parse_map(x, root, config_keys, x->c, ""))
		return -1;
	if (!x->c->n_listeners)
		return fail(x, root, "listeners", "at least one listener is required");
	if (!x->routes)
		return 0;
	if (x->routes->type != YAML_SEQUENCE_NODE)
		return fail(x, x->routes, "routes", "expected a list");
	x->c->routes = alloc(x, x->routes, "routes", n_items(x->routes), sizeof(*x->c->routes));
	if (!x->c->routes)
		return -1;
	return each_item(x, x->routes, "routes", route_item, x->c);
}

static int syntax_error(struct pctx *x, yaml_parser_t *p, const char *text, size_t len)
{
	size_t line = p->problem_mark.line + 1;
	char ctx[96] = "";

	if (p->error == YAML_MEMORY_ERROR)
		return fail(x, NULL, "syntax", "out of memory");
	if (p->error == YAML_READER_ERROR) {	/* has an offset, not a mark */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += text[i] == '\n';
	}
	if (p->context)
		snprintf(ctx, sizeof(ctx), " (%s at line %zu)", p->context,
			 p->context_mark.line + 1);
	snprintf(x->err, x->errlen, "%s:%zu: syntax: %s%s", x->file, line,
		 p->problem ? p->problem : "malformed YAML", ctx);
	x->failed = true;
	return -1;
}

int weir_config_parse(const char *name, const char *text, size_t len,
		      struct weir_config **out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, more;
	yaml_node_t *root;
	struct pctx x = { .file = name, .doc = &doc, .err = err, .errlen = errlen };
	int rc = -1;

	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return fail(&x, NULL, "syntax", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&x, &parser, text, len);
		goto out_parser;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		fail(&x, NULL, "document", "the configuration is empty");
		goto out_doc;
	}
	if (!yaml_parser_load(&parser, &more)) {
		syntax_error(&x, &parser, text, len);
		goto out_doc;
	}
	if (yaml_document_get_root_node(&more)) {
		fail(&x, yaml_document_get_root_node(&more), "document",
		     "only one YAML document is allowed");
		yaml_document_delete(&more);
		goto out_doc;
	}
	yaml_document_delete(&more);
	x.budget = 1000000 + 8 * (size_t)(doc.nodes.top - doc.nodes.start);
	x.c = calloc(1, sizeof(*x.c));
	if (!x.c) {
		fail(&x, NULL, "document", "out of memory");
		goto out_doc;
	}
	weir_config_defaults(x.c);
	rc = parse_root(&x, root);
	if (rc) {
		weir_config_free(x.c);
		x.c = NULL;
	}
	*out = x.c;
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	return rc;
}

int weir_config_load(const char *file, struct weir_config **out, char *err, size_t errlen)
{
	FILE *f = fopen(file, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc = -1;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	do {
		if (len == cap) {
			char *nb = cap < MAX_FILE ? realloc(buf, cap = cap ? 2 * cap : 65536) : NULL;

			if (!nb) {
				snprintf(err, errlen, "%s: %s", file, cap > MAX_FILE ?
					 "larger than 64 MiB" : strerror(ENOMEM));
				goto out;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", file);
		goto out;
	}
	rc = weir_config_parse(file, buf, len, out, err, errlen);
	if (!rc && !((*out)->file = strdup(file))) {
		snprintf(err, errlen, "%s: %s", file, strerror(ENOMEM));
		weir_config_free(*out);
		*out = NULL;
		rc = -1;
	}
out:
	free(buf);
	fclose(f);
	return rc;
}

int weir_config_quick(const char *from, const char *to, uint32_t workers,
		      struct weir_config **out, char *err, size_t errlen)
{
	struct weir_config *c = calloc(1, sizeof(*c));
	struct weir_upstream_conf *u;
	struct weir_route_conf *r;
	char why[128];

	*out = NULL;
	if (!c)
		goto oom;
	weir_config_defaults(c);
	if (workers > 256) {
		snprintf(err, errlen, "workers: %u is out of range: 0 to 256", workers);
		goto fail;
	}
	c->workers = workers;
	c->listeners = calloc(1, sizeof(*c->listeners));
	c->upstreams = u = calloc(1, sizeof(*u));
	c->routes = r = calloc(1, sizeof(*r));
	if (!c->listeners || !u || !r)
		goto oom;
	c->n_listeners = c->n_upstreams = c->n_routes = 1;
	set_defaults(listener_keys, c->listeners);
	if (weir_addr_parse(from, true, &c->listeners->addr, why, sizeof(why))) {
		snprintf(err, errlen, "listen address: %s", why);
		goto fail;
	}
	weir_upstream_defaults(u);
	if (!(u->name = strdup("default")) || !(u->nodes = calloc(1, sizeof(*u->nodes))))
		goto oom;
	u->n_nodes = 1;
	set_defaults(node_keys, u->nodes);
	if (weir_addr_parse(to, false, &u->nodes->addr, why, sizeof(why))) {
		snprintf(err, errlen, "upstream address: %s", why);
		goto fail;
	}
	if (!(r->id = strdup("default")) || !(r->upstream = strdup("default")) ||
	    !(r->paths = calloc(1, sizeof(char *))) || !(r->paths[0] = strdup("/*")))
		goto oom;
	r->n_paths = 1;
	*out = c;
	return 0;
oom:
	snprintf(err, errlen, "%s", strerror(ENOMEM));
fail:
	weir_config_free(c);
	return -1;
}

static void free_strs(char **s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i]);
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
	for (size_t i = 0; i < c->n_upstreams; i++) {
		free(c->upstreams[i].name);
		free(c->upstreams[i].nodes);
		free(c->upstreams[i].hash_key);
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
	free(c->file);
	free(c->listeners);
	free(c->upstreams);
	free(c->routes);
	free(c->log_path);
	free_plugins(c->plugins, c->n_plugins);
	free(c);
}
