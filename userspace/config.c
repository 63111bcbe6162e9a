/* userspace/config.c - reads weir's YAML configuration into the plain structs
 * of config.h and validates it whole.
 *
 * libyaml loads the file as a document (a node graph with a line for every
 * node, aliases already resolved); this file only walks it. Each mapping of
 * the format is a table of keys (struct ckey): the key's name, its type, its
 * bounds, its default and where it lands in the struct. The same tables fill
 * the defaults (weir_config_defaults) and drive the parsing, so a key's rules
 * live in one place; what a table cannot say (shorthands, either-or keys,
 * cross references) is written out in the handlers next to it.
 *
 * The walk stops at the first error and reports it as "FILE:LINE: FIELD:
 * REASON", FIELD being the path to the offending value ("routes[2].upstream").
 * Whatever was built so far hangs off the config being built and is freed
 * with it, so no error path owns anything of its own. Routes are read after
 * everything else, since they name upstreams.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <search.h>
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
#define DAY_MS ((int64_t)86400000)
#define KiB ((int64_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

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
	struct hsearch_data ids, ups;	/* route ids seen, upstreams by name */
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
	const char *s = sval(n);

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
		!strcmp(s, "NULL"));
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

/* Allocates n (at least one) zeroed elements; the caller counts them in as
 * they are filled, so a half-read array frees cleanly. */
static void *alloc(struct pctx *x, const yaml_node_t *at, const char *path, size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		fail(x, at, path, "out of memory");
	return p;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* Upstream names, route ids and plugin names end up in admin API URLs, logs
 * and metrics, so they are kept to a plain alphabet. */
static int check_name(struct pctx *x, yaml_node_t *n, const char *path, const char *s)
{
	size_t len = strspn(s, ALNUM "._-");

	if (len == 0 || len > MAX_NAME || s[len])
		return fail(x, n, path, "'%s': use 1 to %d letters, digits, '.', '_' or '-'",
			    s, MAX_NAME);
	return 0;
}

/* Decimal with an optional '-'. Beyond int64 it saturates (errno ERANGE), so
 * that range checks still report it. */
static int int_of(const char *s, int64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)s[*s == '-']))
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return *end ? -1 : 0;
}

struct unit {
	const char *suffix;
	int64_t scale;
};

static const struct unit ms_units[] = {
	{ "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 }, { NULL, 0 }
};
static const struct unit size_units[] = {
	{ "g", GiB }, { "m", MiB }, { "k", KiB }, { "", 1 },
	{ "G", GiB }, { "M", MiB }, { "K", KiB }, { NULL, 0 }
};

/* A non-negative integer with one of the units' suffixes; saturates like
 * int_of. A bare 0 is taken whatever the units. */
static int scaled(const char *s, const struct unit *u, int64_t *v)
{
	uint64_t n;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		n = UINT64_MAX;
	*v = 0;
	if (!*end && !n)
		return 0;
	for (; u->suffix; u++)
		if (!strcmp(end, u->suffix)) {
			*v = n > (uint64_t)(INT64_MAX / u->scale) ? INT64_MAX : (int64_t)n * u->scale;
			return 0;
		}
	return -1;
}

/* The largest unit that divides v: 86400000 -> "24h", 1048576 -> "1m". */
static void fmt_scaled(char *b, size_t n, const struct unit *u, int64_t v)
{
	while (u && u->suffix && v % u->scale)
		u++;
	if (!u || !u->suffix || !v)
		snprintf(b, n, "%" PRId64, v);
	else
		snprintf(b, n, "%" PRId64 "%s", v / u->scale, u->suffix);
}

/* ---- walking mappings and lists --------------------------------------- */

/* Duplicate checks go through hash tables (glibc's hsearch_r, which keeps
 * the key pointers, not copies): a file with 100k routes is checked in
 * linear time. Returns the data of key's first entry (data itself if key is
 * new), or NULL when the table is out of room or memory. */
static void *seen(struct hsearch_data *h, const char *key, void *data, ACTION act)
{
	ENTRY e = { (char *)key, data }, *found;

	return hsearch_r(e, act, &found, h) ? found->data : NULL;
}

/* Called for each child of a mapping (k and name set) or a list (k NULL),
 * i its index, path the child's path. */
typedef int child_fn(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		     size_t i, const char *path, void *arg);

static size_t n_pairs(const yaml_node_t *n)
{
	return n->data.mapping.pairs.top - n->data.mapping.pairs.start;
}

static size_t n_items(const yaml_node_t *n)
{
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

/* Keys must be strings and unique: libyaml keeps both pairs of a duplicate
 * key, and a silently ignored one is how a config file lies to its reader. */
static int each_pair(struct pctx *x, yaml_node_t *n, const char *path, child_fn *fn, void *arg)
{
	struct hsearch_data keys = { 0 };
	yaml_node_t *k, *first;
	const char *name;
	char kp[PATHLEN];
	int rc = -1;

	if (n->type != YAML_MAPPING_NODE)
		return fail(x, n, path, "expected a mapping");
	if (!hcreate_r(2 * n_pairs(n) + 1, &keys))
		return fail(x, n, path, "out of memory");
	for (size_t i = 0; i < n_pairs(n); i++) {
		k = node(x, n->data.mapping.pairs.start[i].key);
		if (spend(x, k, path))
			goto out;
		if (k->type != YAML_SCALAR_NODE) {
			fail(x, k, path, "keys must be strings");
			goto out;
		}
		if (!(name = text(x, k, path, "a key")))
			goto out;
		pjoin(kp, path, name);
		if (!strcmp(name, "<<") && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			fail(x, k, kp, "merge keys are not supported; alias the whole value");
			goto out;
		}
		if (!(first = seen(&keys, name, k, ENTER))) {
			fail(x, k, kp, "out of memory");
			goto out;
		}
		if (first != k) {
			fail(x, k, kp, "duplicate key (first at line %u)", line_of(first));
			goto out;
		}
		if (fn(x, k, name, node(x, n->data.mapping.pairs.start[i].value), i, kp, arg))
			goto out;
	}
	rc = 0;
out:
	hdestroy_r(&keys);
	return rc;
}

static int each_item(struct pctx *x, yaml_node_t *n, const char *path, child_fn *fn, void *arg)
{
	char ip[PATHLEN];

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(x, n, path, "expected a list");
	for (size_t i = 0; i < n_items(n); i++) {
		yaml_node_t *it = node(x, n->data.sequence.items.start[i]);

		snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
		if (spend(x, it, path) || fn(x, NULL, NULL, it, i, ip, arg))
			return -1;
	}
	return 0;
}

/* The value of key in mapping n, or NULL. */
static yaml_node_t *map_get(struct pctx *x, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (node(x, p->key)->type == YAML_SCALAR_NODE && !strcmp(sval(node(x, p->key)), key))
			return node(x, p->value);
	return NULL;
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

struct ckey;
typedef int ckey_fn(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		    const char *path);

struct ckey {
	const char *name;
	enum ckind kind;
	size_t off;
	int64_t min, max, def;		/* CK_FN: min is the handler's own */
	const char *const *names;	/* CK_ENUM */
	const struct ckey *keys;	/* CK_MAP */
	ckey_fn *fn;			/* CK_FN */
	bool req;			/* the key must be present */
};

/* A row pointing at a field of the wrong width does not compile. */
#define FIELD(T, f, size) (offsetof(T, f) + 0 * sizeof(char[sizeof(((T *)0)->f) == (size) ? 1 : -1]))
#define NUM(n, kind, T, f, w, lo, hi, d) { n, kind, FIELD(T, f, w), lo, hi, d, NULL, NULL, NULL, false }
#define U32(n, T, f, lo, hi, d)	NUM(n, CK_U32, T, f, 4, lo, hi, d)
#define I32(n, T, f, lo, hi, d)	NUM(n, CK_I32, T, f, 4, lo, hi, d)
#define MS(n, T, f, lo, hi, d)	NUM(n, CK_MS, T, f, 4, lo, hi, d)
#define SZ32(n, T, f, lo, hi, d) NUM(n, CK_SIZE32, T, f, 4, lo, hi, d)
#define SZ64(n, T, f, lo, hi, d) NUM(n, CK_SIZE64, T, f, 8, lo, hi, d)
#define STR(n, T, f, req)	{ n, CK_STR, FIELD(T, f, sizeof(char *)), 0, 0, 0, NULL, NULL, NULL, req }
#define ENUM(n, T, f, nm, d)	{ n, CK_ENUM, FIELD(T, f, sizeof(int)), 0, 0, d, nm, NULL, NULL, false }
#define ADDR(n, T, f, lst)	{ n, CK_ADDR, FIELD(T, f, sizeof(struct weir_addr)), lst, 0, 0, NULL, NULL, NULL, true }
#define MAP(n, k)		{ n, CK_MAP, 0, 0, 0, 0, NULL, k, NULL, false }
#define FN(n, h, arg, req)	{ n, CK_FN, 0, arg, 0, 0, NULL, NULL, h, req }
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

static int parse_number(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *f,
			const char *path)
{
	const struct unit *u = k->kind == CK_MS ? ms_units :
			       k->kind == CK_SIZE32 || k->kind == CK_SIZE64 ? size_units : NULL;
	const char *what = u == ms_units ? "a duration" : u ? "a size" : "an integer";
	const char *s = text(x, v, path, what);
	char lo[32], hi[32];
	int64_t n;

	if (!s)
		return -1;
	if (u == ms_units && scaled(s, u, &n) && !int_of(s, &n) && n > 0)
		return fail(x, v, path, "a duration needs a unit: ms, s, m or h");
	if (u == ms_units && scaled(s, u, &n))
		return fail(x, v, path, "expected a duration such as 500ms, 10s, 5m or 1h");
	if (u == size_units && scaled(s, u, &n))
		return fail(x, v, path, "expected a size: bytes, or a number with k, m or g");
	if (!u && int_of(s, &n))
		return fail(x, v, path, "expected an integer");
	if (n < k->min || n > k->max) {
		fmt_scaled(lo, sizeof(lo), u, k->min);
		fmt_scaled(hi, sizeof(hi), u, k->max);
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

	for (int i = 0; s && k->names[i]; i++) {
		if (!strcmp(s, k->names[i]))
			return *f = i, 0;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? ", " : "", k->names[i]);
	}
	return s ? fail(x, v, path, "'%s' is not one of: %s", s, list) : -1;
}

static int parse_addr(struct pctx *x, yaml_node_t *v, bool listen, struct weir_addr *a,
		      const char *path)
{
	char why[160];
	const char *s;

	if (v->type == YAML_SEQUENCE_NODE)	/* [::1]:80 unquoted reads as a list */
		return fail(x, v, path, "expected an address; quote IPv6 ones: \"[::1]:80\"");
	if (!(s = str(x, v, path)))
		return -1;
	return weir_addr_parse(s, listen, a, why, sizeof(why)) ? fail(x, v, path, "%s", why) : 0;
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
		    size_t i, const char *path, void *arg)
{
	const struct mapargs *m = arg;
	const struct ckey *k, *near = NULL;
	size_t best = 3;
	void *f;

	for (k = m->keys; k->name && strcmp(k->name, name); k++) {
		size_t d = distance(name, k->name);

		if (d < best && d < strlen(name))
			best = d, near = k;
	}
	if (!k->name && near)
		return fail(x, kn, path, "unknown field (did you mean '%s'?)", near->name);
	if (!k->name)
		return fail(x, kn, path, "unknown field");
	f = (char *)m->base + k->off;
	switch (k->kind) {
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
		return k->fn(x, k, v, m->base, path);
	default:
		return parse_number(x, k, v, f, path);
	}
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

/* ---- plugin settings: YAML to JSON ------------------------------------ */

static json_t *to_json(struct pctx *x, yaml_node_t *n, const char *path, int depth);

struct jsonargs {
	json_t *j;
	int depth;
};

static int json_child(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		      size_t i, const char *path, void *arg)
{
	struct jsonargs *a = arg;
	json_t *j = to_json(x, v, path, a->depth + 1);

	if (!j)
		return -1;
	/* Both steal j, also when they fail. */
	if (name ? json_object_set_new(a->j, name, j) : json_array_append_new(a->j, j))
		return fail(x, v, path, "out of memory or not valid UTF-8");
	return 0;
}

/* Plain scalars are typed the way a YAML reader expects (true, 3, 2.5, null);
 * quoted ones stay strings. */
static json_t *scalar_json(struct pctx *x, yaml_node_t *n, const char *path)
{
	const char *s = sval(n);
	size_t len = n->data.scalar.length;
	json_t *j;
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
	else if (strspn(s, "0123456789+-.eE") == len && strpbrk(s, "0123456789") &&
		 (d = strtod(s, &end), !*end) && isfinite(d))
		j = json_real(d);
	else
		j = json_stringn(s, len);
	if (!j)
		fail(x, n, path, "out of memory or not valid UTF-8");
	return j;
}

static json_t *to_json(struct pctx *x, yaml_node_t *n, const char *path, int depth)
{
	struct jsonargs a = { NULL, depth };

	if (depth > MAX_JSON_DEPTH) {
		fail(x, n, path, "nested more than %d deep", MAX_JSON_DEPTH);
		return NULL;
	}
	if (n->type == YAML_SCALAR_NODE)
		return scalar_json(x, n, path);
	if (!(a.j = n->type == YAML_MAPPING_NODE ? json_object() : json_array())) {
		fail(x, n, path, "out of memory");
		return NULL;
	}
	if (n->type == YAML_MAPPING_NODE ? each_pair(x, n, path, json_child, &a) :
					   each_item(x, n, path, json_child, &a)) {
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
		       size_t i, const char *path, void *arg)
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
	if (!(*arr = alloc(x, v, path, n_pairs(v), sizeof(**arr))))
		return -1;
	return each_pair(x, v, path, plugin_pair, &(struct pluginargs){ *arr, n });
}

/* ---- listeners and nodes: an address, or a mapping with one ------------ */

static const struct ckey listener_keys[] = {
	ADDR("listen", struct weir_listener_conf, addr, 1),
	U32("backlog", struct weir_listener_conf, backlog, 1, 65535, 4096),
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

	set_defaults(l->keys, a);
	if (it->type == YAML_SCALAR_NODE) {
		if (parse_addr(x, it, l->keys[0].min, a, path))
			return -1;
	} else {
		if (parse_map(x, it, l->keys, a, path))
			return -1;
		it = map_get(x, it, l->keys[0].name);
		path = pjoin(ap, path, l->keys[0].name);
	}
	for (size_t j = 0; j < i; j++)
		if (!strcmp(((struct weir_addr *)(l->arr + j * l->size))->text, a->text))
			return fail(x, it, path, "duplicate %s address %s (%ss[%zu])",
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
		return fail(x, v, path, "expected a list");
	if (!n_items(v))
		return fail(x, v, path, "at least one listener is required");
	if (!(l.arr = (char *)(c->listeners = alloc(x, v, path, n_items(v), l.size))))
		return -1;
	return each_item(x, v, path, addr_item, &l);
}

static int upstream_nodes(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			  const char *path)
{
	struct weir_upstream_conf *u = base;
	struct addrlist l = { node_keys, NULL, sizeof(*u->nodes), &u->n_nodes, "node" };

	if (v->type != YAML_SEQUENCE_NODE)
		return fail(x, v, path, "expected a list of nodes");
	if (!n_items(v))
		return fail(x, v, path, "an upstream needs at least one node");
	if (!(l.arr = (char *)(u->nodes = alloc(x, v, path, n_items(v), l.size))))
		return -1;
	return each_item(x, v, path, addr_item, &l);
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

static const struct ckey upstream_keys[] = {
	FN("nodes", upstream_nodes, 0, true),
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
			 size_t i, const char *path, void *arg)
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
	if (u->hash_on == WEIR_HASH_HEADER)
		lower(u->hash_key);
	return 0;
}

static int config_upstreams(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path)
{
	struct weir_config *c = base;

	if (v->type != YAML_MAPPING_NODE)
		return fail(x, v, path, "expected a mapping of names to upstreams");
	if (!(c->upstreams = alloc(x, v, path, n_pairs(v), sizeof(*c->upstreams))))
		return -1;
	return each_pair(x, v, path, upstream_pair, c);
}

/* ---- routes ----------------------------------------------------------- */

static const char *const method_names[] = {	/* in WEIR_M_* bit order */
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", NULL
};

enum { ONE = 1, LIST = 2 };

typedef int str_check(struct pctx *x, yaml_node_t *n, char *s, const char *path);

/* A string (ONE) or a list of strings (LIST), each copied into a new array
 * and checked (and possibly normalised in place) by check. */
static int strlist(struct pctx *x, yaml_node_t *v, const char *path, int forms,
		   char ***arr, size_t *n, str_check *check)
{
	bool list = v->type == YAML_SEQUENCE_NODE && (forms & LIST);
	size_t cnt = list ? n_items(v) : 1;
	char ip[PATHLEN];

	if (!list && (v->type != YAML_SCALAR_NODE || !(forms & ONE)))
		return fail(x, v, path, forms & ONE ? "expected a string" : "expected a list");
	if (!cnt)
		return fail(x, v, path, "must not be an empty list");
	if (!(*arr = alloc(x, v, path, cnt, sizeof(char *))))
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *it = list ? node(x, v->data.sequence.items.start[i]) : v;
		const char *p = list ? (snprintf(ip, sizeof(ip), "%s[%zu]", path, i), ip) : path;
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

static int check_method(struct pctx *x, yaml_node_t *n, char *s, const char *path)
{
	for (char *p = s; *p; p++)
		*p = toupper((unsigned char)*p);
	for (int i = 0; method_names[i]; i++)
		if (!strcmp(s, method_names[i]))
			return 0;
	return fail(x, n, path, "unknown method '%s'", s);
}

/* host/hosts (and path/paths) fill the same array: one form, once. The
 * row's min says which form. */
static int route_hosts(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		       const char *path)
{
	struct weir_route_conf *r = base;

	if (r->hosts)
		return fail(x, v, path, "give host or hosts, not both");
	return strlist(x, v, path, k->min, &r->hosts, &r->n_hosts, check_host);
}

static int route_paths(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
		       const char *path)
{
	struct weir_route_conf *r = base;

	if (r->paths)
		return fail(x, v, path, "give path or paths, not both");
	return strlist(x, v, path, k->min, &r->paths, &r->n_paths, check_path);
}

/* Checked as strings first, then folded into bits. */
static int route_methods(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	struct weir_route_conf *r = base;
	char **m = NULL;
	size_t n = 0;
	int rc = strlist(x, v, path, ONE | LIST, &m, &n, check_method);

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
		return fail(x, k, path, "'%s' is not a header name", name);
	if (!(h->name = dup(x, k, path, name)))
		return -1;
	lower(h->name);
	for (size_t j = 0; j < i; j++)
		if (!strcmp(r->headers[j].name, h->name))
			return fail(x, k, path, "the same header as '%s'", r->headers[j].name);
	return strlist(x, v, path, ONE | LIST, &h->values, &h->n_values, NULL);
}

static int route_headers(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	struct weir_route_conf *r = base;

	if (v->type != YAML_MAPPING_NODE)
		return fail(x, v, path, "expected a mapping of header names to values");
	if (!(r->headers = alloc(x, v, path, n_pairs(v), sizeof(*r->headers))))
		return -1;
	return each_pair(x, v, path, header_pair, r);
}

static int rewrite_pair(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
			size_t i, const char *path, void *arg)
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

static int route_rewrite(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
{
	struct weir_route_conf *r = base;

	if (each_pair(x, v, path, rewrite_pair, r))
		return -1;
	return r->rewrite ? 0 : fail(x, v, path, "needs strip_prefix or template");
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
	STR("upstream", RT, upstream, true),
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
				return fail(x, at, path, ":%.*s is not a parameter of path '%s'",
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
	if (!(first = seen(&x->ids, r->id, r, ENTER)))
		return fail(x, it, path, "out of memory");
	if (first != r)
		return fail(x, at ? at : it, pjoin(fp, path, "id"),
			    "duplicate route id '%s' (first at line %u)", r->id, first->line);
	if (!r->n_paths)
		return fail(x, it, pjoin(fp, path, "paths"),
			    "a route needs at least one path (path or paths)");
	if (!seen(&x->ups, r->upstream, NULL, FIND))
		return fail(x, map_get(x, it, "upstream"), pjoin(fp, path, "upstream"),
			    "no upstream named '%s'", r->upstream);
	if (r->rewrite != WEIR_REWRITE_TEMPLATE)
		return 0;
	at = map_get(x, map_get(x, it, "rewrite"), "template");
	return check_template(x, at, r, pjoin(fp, path, "rewrite.template"));
}

static int config_routes(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			 const char *path)
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
static int config_access_log(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			     const char *path)
{
	struct weir_config *c = base;

	set_defaults(access_log_keys, c);
	if (parse_map(x, v, access_log_keys, c, path))
		return -1;
	if (!c->log_path && c->log_format != WEIR_LOG_OFF && !(c->log_path = dup(x, v, path, "-")))
		return -1;
	return 0;
}

static int config_plugins(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			  const char *path)
{
	struct weir_config *c = base;

	return parse_plugins(x, v, path, &c->plugins, &c->n_plugins);
}

static const struct ckey config_keys[] = {
	U32("workers", CF, workers, 0, 256, 0),			/* 0: one per CPU */
	MAP("limits", limits_keys),
	MAP("timeouts", timeout_keys),
	U32("max_connections", CF, max_connections, 1, 1000000, 65536),
	FN("access_log", config_access_log, 0, false),
	FN("listeners", config_listeners, 0, false),
	FN("upstreams", config_upstreams, 0, false),
	FN("routes", config_routes, 0, false),
	FN("plugins", config_plugins, 0, false),
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
	if (!(x->c->routes = alloc(x, x->routes, "routes", n_items(x->routes),
				   sizeof(*x->c->routes))) ||
	    !hcreate_r(2 * n_items(x->routes) + 1, &x->ids) ||
	    !hcreate_r(2 * x->c->n_upstreams + 1, &x->ups))
		return fail(x, x->routes, "routes", "out of memory");
	for (size_t i = 0; i < x->c->n_upstreams; i++)
		if (!seen(&x->ups, x->c->upstreams[i].name, &x->c->upstreams[i], ENTER))
			return fail(x, x->routes, "routes", "out of memory");
	return each_item(x, x->routes, "routes", route_item, x->c);
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
		return fail(&x, NULL, "syntax", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&x, &parser, text, len);
		goto out_parser;
	}
	if (!(root = yaml_document_get_root_node(&doc))) {
		fail(&x, NULL, "document", "the configuration is empty");
		goto out_doc;
	}
	if (!yaml_parser_load(&parser, &more)) {
		syntax_error(&x, &parser, text, len);
		goto out_doc;
	}
	if (yaml_document_get_root_node(&more))
		fail(&x, yaml_document_get_root_node(&more), "document",
		     "only one YAML document is allowed");
	yaml_document_delete(&more);
	if (x.failed)
		goto out_doc;
	x.budget = 1000000 + 8 * (size_t)(doc.nodes.top - doc.nodes.start);
	if (!(x.c = calloc(1, sizeof(*x.c)))) {
		fail(&x, NULL, "document", "out of memory");
		goto out_doc;
	}
	weir_config_defaults(x.c);
	rc = parse_root(&x, root);
	hdestroy_r(&x.ids);	/* never created is fine: the table is NULL */
	hdestroy_r(&x.ups);
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

int weir_config_load(const char *file, struct weir_config **out, char *err, size_t errlen)
{
	FILE *f = fopen(file, "re");
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	const char *why = NULL;
	int rc = -1;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
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
		if (!(n = fread(buf + len, 1, cap - len, f)))
			break;
		len += n;
	}
	if (ferror(f)) {
		why = "read error";
		goto out;
	}
	rc = weir_config_parse(file, buf, len, out, err, errlen);
	if (!rc && !((*out)->file = strdup(file))) {
		why = strerror(ENOMEM);
		weir_config_free(*out);
		*out = NULL;
		rc = -1;
	}
out:
	if (why)
		snprintf(err, errlen, "%s: %s", file, why);
	free(buf);
	fclose(f);
	return rc;
}

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
