/* userspace/config_yaml.c - the generic half of the config reader: walking
 * a libyaml document on behalf of config.c, which knows weir's sections.
 *
 * libyaml loads the file as a document (a node graph with a line for every
 * node, aliases already resolved); this file only walks it. It reads
 * scalars (strings, integers, durations and sizes with their units),
 * walks mappings (keys unique, merge keys refused) and lists under a budget
 * of nodes, and reads a mapping by a table of keys (struct ckey in
 * config-int.h): the key's name, its type, its bounds, its default and
 * where it lands in the struct. The same tables fill the defaults and drive
 * the parsing, so a key's rules live in one place. Plugin settings, which
 * weir does not interpret, are turned from YAML into JSON here.
 *
 * The walk stops at the first error and reports it as "FILE:LINE: FIELD:
 * REASON", FIELD being the path to the offending value ("routes[2].upstream").
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "userspace/config-int.h"

#define MAX_JSON_DEPTH 64		/* plugin settings nesting */

/* ---- the walk's state and its errors --------------------------------- */

int weir__config_fail(struct pctx *x, const yaml_node_t *n, const char *path,
		      const char *fmt, ...)
{
	va_list ap;
	int k;

	if (x->failed)
		return -1;
	x->failed = true;
	k = snprintf(x->err, x->errlen, "%s:%u: %s: ", x->file, weir__config_line_of(n), path);
	if (k >= 0 && (size_t)k < x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err + k, x->errlen - k, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *weir__config_pjoin(char *buf, const char *parent, const char *key)
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
		return weir__config_fail(x, n, path, "too many nodes once aliases are expanded");
	x->budget--;
	return 0;
}

/* ---- scalars ---------------------------------------------------------- */

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

bool weir__config_is_null(const yaml_node_t *n)
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
		weir__config_fail(x, n, path, "expected %s, not a %s", what,
				  n->type == YAML_MAPPING_NODE ? "mapping" : "list");
		return NULL;
	}
	if (strlen(sval(n)) != n->data.scalar.length) {
		weir__config_fail(x, n, path, "contains a NUL byte");
		return NULL;
	}
	return sval(n);
}

/* A non-empty string. */
const char *weir__config_str(struct pctx *x, yaml_node_t *n, const char *path)
{
	const char *s = text(x, n, path, "a string");

	if (s && (!*s || weir__config_is_null(n))) {
		weir__config_fail(x, n, path, "must not be empty");
		return NULL;
	}
	return s;
}

char *weir__config_dup(struct pctx *x, const yaml_node_t *n, const char *path, const char *s)
{
	char *d = strdup(s);

	if (!d)
		weir__config_fail(x, n, path, "out of memory");
	return d;
}

/* Allocates n (at least one) zeroed elements; the caller counts them in as
 * they are filled, so a half-read array frees cleanly. */
void *weir__config_alloc(struct pctx *x, const yaml_node_t *at, const char *path, size_t n,
			 size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		weir__config_fail(x, at, path, "out of memory");
	return p;
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

int weir_config_scaled(const char *s, bool duration, int64_t *v)
{
	return scaled(s, duration ? ms_units : size_units, v);
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
void *weir__config_seen(struct hsearch_data *h, const char *key, void *data, ACTION act)
{
	ENTRY e = { (char *)key, data }, *found;

	return hsearch_r(e, act, &found, h) ? found->data : NULL;
}

/* Keys must be strings and unique: libyaml keeps both pairs of a duplicate
 * key, and a silently ignored one is how a config file lies to its reader. */
int weir__config_each_pair(struct pctx *x, yaml_node_t *n, const char *path, child_fn *fn,
			   void *arg)
{
	struct hsearch_data keys = { 0 };
	yaml_node_t *k, *first;
	const char *name;
	char kp[PATHLEN];
	int rc = -1;

	if (n->type != YAML_MAPPING_NODE)
		return weir__config_fail(x, n, path, "expected a mapping");
	if (!hcreate_r(2 * weir__config_n_pairs(n) + 1, &keys))
		return weir__config_fail(x, n, path, "out of memory");
	for (size_t i = 0; i < weir__config_n_pairs(n); i++) {
		k = node(x, n->data.mapping.pairs.start[i].key);
		if (spend(x, k, path))
			goto out;
		if (k->type != YAML_SCALAR_NODE) {
			weir__config_fail(x, k, path, "keys must be strings");
			goto out;
		}
		if (!(name = text(x, k, path, "a key")))
			goto out;
		weir__config_pjoin(kp, path, name);
		if (!strcmp(name, "<<") && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			weir__config_fail(x, k, kp,
					  "merge keys are not supported; alias the whole value");
			goto out;
		}
		if (!(first = weir__config_seen(&keys, name, k, ENTER))) {
			weir__config_fail(x, k, kp, "out of memory");
			goto out;
		}
		if (first != k) {
			weir__config_fail(x, k, kp, "duplicate key (first at line %u)",
					  weir__config_line_of(first));
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

int weir__config_each_item(struct pctx *x, yaml_node_t *n, const char *path, child_fn *fn,
			   void *arg)
{
	char ip[PATHLEN];

	if (n->type != YAML_SEQUENCE_NODE)
		return weir__config_fail(x, n, path, "expected a list");
	for (size_t i = 0; i < weir__config_n_items(n); i++) {
		yaml_node_t *it = node(x, n->data.sequence.items.start[i]);

		snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
		if (spend(x, it, path) || fn(x, NULL, NULL, it, i, ip, arg))
			return -1;
	}
	return 0;
}

/* The value of key in mapping n, or NULL. */
yaml_node_t *weir__config_map_get(struct pctx *x, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (node(x, p->key)->type == YAML_SCALAR_NODE && !strcmp(sval(node(x, p->key)), key))
			return node(x, p->value);
	return NULL;
}

/* A string (ONE) or a list of strings (LIST), each copied into a new array
 * and checked (and possibly normalised in place) by check. */
int weir__config_strlist(struct pctx *x, yaml_node_t *v, const char *path, int forms,
			 char ***arr, size_t *n, str_check *check)
{
	bool list = v->type == YAML_SEQUENCE_NODE && (forms & LIST);
	size_t cnt = list ? weir__config_n_items(v) : 1;
	char ip[PATHLEN];

	if (!list && (v->type != YAML_SCALAR_NODE || !(forms & ONE)))
		return weir__config_fail(x, v, path,
					 forms & ONE ? "expected a string" : "expected a list");
	if (!cnt)
		return weir__config_fail(x, v, path, "must not be an empty list");
	if (!(*arr = weir__config_alloc(x, v, path, cnt, sizeof(char *))))
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *it = list ? node(x, v->data.sequence.items.start[i]) : v;
		const char *p = list ? (snprintf(ip, sizeof(ip), "%s[%zu]", path, i), ip) : path;
		const char *s = weir__config_str(x, it, p);

		if (spend(x, it, p) || !s || !((*arr)[(*n)++] = weir__config_dup(x, it, p, s)) ||
		    (check && check(x, it, (*arr)[*n - 1], p)))
			return -1;
	}
	return 0;
}

/* ---- key tables ------------------------------------------------------- */

void weir__config_set_defaults(const struct ckey *keys, void *base)
{
	for (const struct ckey *k = keys; k->name; k++) {
		void *f = (char *)base + k->off;

		switch (k->kind) {
		case CK_U32: case CK_MS: case CK_SIZE32: *(uint32_t *)f = k->def; break;
		case CK_I32: *(int32_t *)f = k->def; break;
		case CK_SIZE64: *(uint64_t *)f = k->def; break;
		case CK_ENUM: *(int *)f = k->def; break;
		case CK_BOOL: *(bool *)f = k->def; break;
		case CK_MAP: weir__config_set_defaults(k->keys, base); break;
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
		return weir__config_fail(x, v, path, "a duration needs a unit: ms, s, m or h");
	if (u == ms_units && scaled(s, u, &n))
		return weir__config_fail(x, v, path,
					 "expected a duration such as 500ms, 10s, 5m or 1h");
	if (u == size_units && scaled(s, u, &n))
		return weir__config_fail(x, v, path,
					 "expected a size: bytes, or a number with k, m or g");
	if (!u && int_of(s, &n))
		return weir__config_fail(x, v, path, "expected an integer");
	if (n < k->min || n > k->max) {
		fmt_scaled(lo, sizeof(lo), u, k->min);
		fmt_scaled(hi, sizeof(hi), u, k->max);
		return weir__config_fail(x, v, path, "%s is out of range: %s to %s", s, lo, hi);
	}
	if (k->kind == CK_SIZE64)
		*(uint64_t *)f = n;
	else if (k->kind == CK_I32)
		*(int32_t *)f = n;
	else
		*(uint32_t *)f = n;
	return 0;
}

int weir__config_u32(struct pctx *x, yaml_node_t *v, const char *path, uint32_t lo, uint32_t hi,
		     uint32_t *out)
{
	const struct ckey k = U32("", struct weir_config, workers, lo, hi, 0);

	return parse_number(x, &k, v, out, path);
}

static int parse_enum(struct pctx *x, const struct ckey *k, yaml_node_t *v, int *f,
		      const char *path)
{
	const char *s = text(x, v, path, "a string");
	char list[256] = "";

	for (int i = 0; s && k->names[i]; i++) {
		if (!strcmp(s, k->names[i]))
			return *f = i, 0;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? ", " : "", k->names[i]);
	}
	return s ? weir__config_fail(x, v, path, "'%s' is not one of: %s", s, list) : -1;
}

int weir__config_parse_addr(struct pctx *x, yaml_node_t *v, bool listen, struct weir_addr *a,
			    const char *path)
{
	char why[160];
	const char *s;

	if (v->type == YAML_SEQUENCE_NODE)	/* [::1]:80 unquoted reads as a list */
		return weir__config_fail(x, v, path,
					 "expected an address; quote IPv6 ones: \"[::1]:80\"");
	if (!(s = weir__config_str(x, v, path)))
		return -1;
	if (weir_addr_parse(s, listen, a, why, sizeof(why)))
		return weir__config_fail(x, v, path, "%s", why);
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

static int map_pair(struct pctx *x, yaml_node_t *kn, const char *name, yaml_node_t *v,
		    size_t i, const char *path, void *arg)
{
	const struct mapargs *m = arg;
	const struct ckey *k, *near = NULL;
	size_t best = 3;
	void *f;

	for (k = m->keys; k->name && strcmp(k->name, name); k++)
		;
	/* Only an unknown key pays for the distances. */
	for (const struct ckey *c = m->keys; !k->name && c->name; c++) {
		size_t d = distance(name, c->name);

		if (d < best && d < strlen(name))
			best = d, near = c;
	}
	if (!k->name && near)
		return weir__config_fail(x, kn, path, "unknown field (did you mean '%s'?)",
					 near->name);
	if (!k->name)
		return weir__config_fail(x, kn, path, "unknown field");
	f = (char *)m->base + k->off;
	switch (k->kind) {
	case CK_STR: {
		const char *s = weir__config_str(x, v, path);

		return s && (*(char **)f = weir__config_dup(x, v, path, s)) ? 0 : -1;
	}
	case CK_ENUM:
		return parse_enum(x, k, v, f, path);
	case CK_BOOL: {
		const char *s = text(x, v, path, "true or false");

		if (s && (!strcmp(s, "true") || !strcmp(s, "false")))
			return *(bool *)f = s[0] == 't', 0;
		return s ? weir__config_fail(x, v, path, "'%s': expected true or false", s) : -1;
	}
	case CK_ADDR:
		return weir__config_parse_addr(x, v, k->min, f, path);
	case CK_MAP:
		return weir__config_parse_map(x, v, k->keys, m->base, path);
	case CK_FN:
		return k->fn(x, k, v, m->base, path);
	default:
		return parse_number(x, k, v, f, path);
	}
}

int weir__config_parse_map(struct pctx *x, yaml_node_t *n, const struct ckey *keys, void *base,
			   const char *path)
{
	struct mapargs m = { keys, base };
	char kp[PATHLEN];

	if (weir__config_each_pair(x, n, path, map_pair, &m))
		return -1;
	for (const struct ckey *k = keys; k->name; k++)
		if (k->req && !weir__config_map_get(x, n, k->name))
			return weir__config_fail(x, n, weir__config_pjoin(kp, path, k->name),
						 "required field missing");
	return 0;
}

/* ---- plugin settings: YAML to JSON ------------------------------------ */

struct jsonargs {
	json_t *j;
	int depth;
};

static int json_child(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		      size_t i, const char *path, void *arg)
{
	struct jsonargs *a = arg;
	json_t *j = weir__config_to_json(x, v, path, a->depth + 1);

	if (!j)
		return -1;
	/* Both steal j, also when they fail. */
	if (name ? json_object_set_new(a->j, name, j) : json_array_append_new(a->j, j))
		return weir__config_fail(x, v, path, "out of memory or not valid UTF-8");
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
	else if (weir__config_is_null(n))
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
		weir__config_fail(x, n, path, "out of memory or not valid UTF-8");
	return j;
}

json_t *weir__config_to_json(struct pctx *x, yaml_node_t *n, const char *path, int depth)
{
	struct jsonargs a = { NULL, depth };

	if (depth > MAX_JSON_DEPTH) {
		weir__config_fail(x, n, path, "nested more than %d deep", MAX_JSON_DEPTH);
		return NULL;
	}
	if (n->type == YAML_SCALAR_NODE)
		return scalar_json(x, n, path);
	if (!(a.j = n->type == YAML_MAPPING_NODE ? json_object() : json_array())) {
		weir__config_fail(x, n, path, "out of memory");
		return NULL;
	}
	if (n->type == YAML_MAPPING_NODE ? weir__config_each_pair(x, n, path, json_child, &a) :
					   weir__config_each_item(x, n, path, json_child, &a)) {
		json_decref(a.j);
		return NULL;
	}
	return a.j;
}

