/* userspace/config-int.h - what the two halves of the config reader share:
 * the walk's state (struct pctx), the key tables (struct ckey and the macros
 * that write their rows), and the generic YAML helpers of config_yaml.c that
 * config.c calls to read weir's sections. Private to those two files;
 * everything else sees only config.h.
 *
 * Every helper that takes a struct pctx reports its error through
 * weir__config_fail(): it returns -1 (or NULL) with x->err set to
 * "FILE:LINE: FIELD: REASON", the first error of the walk, and the walk
 * stops there.
 */
#ifndef WEIR_CONFIG_INT_H
#define WEIR_CONFIG_INT_H

#include <search.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>
#include <jansson.h>

#include "userspace/config.h"

#define PATHLEN 256			/* a field path in messages; longer ones are cut */
#define MAX_NAME 64			/* upstream names, route ids, plugin names */
#define DAY_MS ((int64_t)86400000)
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
	struct hsearch_data ids, ups;	/* route ids seen, upstreams by name */
	/* consumers: usernames, then the credentials that must be unique
	 * across consumers (key-auth keys, basic-auth usernames, jwt-auth keys) */
	struct hsearch_data users, creds[3];
};

static inline unsigned weir__config_line_of(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 1;
}

static inline size_t weir__config_n_pairs(const yaml_node_t *n)
{
	return n->data.mapping.pairs.top - n->data.mapping.pairs.start;
}

static inline size_t weir__config_n_items(const yaml_node_t *n)
{
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

/* Sets the walk's error, unless one is set already; returns -1. */
int weir__config_fail(struct pctx *x, const yaml_node_t *n, const char *path,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "parent.key" in buf (PATHLEN bytes); returns buf. */
const char *weir__config_pjoin(char *buf, const char *parent, const char *key);

/* ---- scalars ---------------------------------------------------------- */

/* A plain null: empty, "~" or null. */
bool weir__config_is_null(const yaml_node_t *n);

/* A non-empty string, or NULL with the error set. */
const char *weir__config_str(struct pctx *x, yaml_node_t *n, const char *path);

/* strdup(s), or NULL with the error set. */
char *weir__config_dup(struct pctx *x, const yaml_node_t *n, const char *path, const char *s);

/* n (at least one) zeroed elements of sz bytes, or NULL with the error set. */
void *weir__config_alloc(struct pctx *x, const yaml_node_t *at, const char *path, size_t n,
			 size_t sz);

/* Parses v as an integer in [lo, hi] into *out. */
int weir__config_u32(struct pctx *x, yaml_node_t *v, const char *path, uint32_t lo, uint32_t hi,
		     uint32_t *out);

/* Parses v as an address (weir_addr_parse) into a. */
int weir__config_parse_addr(struct pctx *x, yaml_node_t *v, bool listen, struct weir_addr *a,
			    const char *path);

/* ---- walking mappings and lists --------------------------------------- */

void *weir__config_seen(struct hsearch_data *h, const char *key, void *data, ACTION act);

/* Called for each child of a mapping (k and name set) or a list (k NULL),
 * i its index, path the child's path. */
typedef int child_fn(struct pctx *x, yaml_node_t *k, const char *name, yaml_node_t *v,
		     size_t i, const char *path, void *arg);

int weir__config_each_pair(struct pctx *x, yaml_node_t *n, const char *path, child_fn *fn,
			   void *arg);
int weir__config_each_item(struct pctx *x, yaml_node_t *n, const char *path, child_fn *fn,
			   void *arg);

yaml_node_t *weir__config_map_get(struct pctx *x, yaml_node_t *n, const char *key);

enum { ONE = 1, LIST = 2 };

typedef int str_check(struct pctx *x, yaml_node_t *n, char *s, const char *path);

int weir__config_strlist(struct pctx *x, yaml_node_t *v, const char *path, int forms,
			 char ***arr, size_t *n, str_check *check);

/* ---- key tables ------------------------------------------------------- */

enum ckind {
	CK_U32,		/* uint32_t in [min, max] */
	CK_I32,		/* int32_t in [min, max] */
	CK_MS,		/* uint32_t milliseconds from a duration */
	CK_SIZE32,	/* uint32_t bytes from a size */
	CK_SIZE64,	/* uint64_t bytes from a size */
	CK_BOOL,	/* bool: true or false */
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
#define BOOL(n, T, f, d)	{ n, CK_BOOL, FIELD(T, f, sizeof(bool)), 0, 0, d, NULL, NULL, NULL, false }
#define STR(n, T, f, req)	{ n, CK_STR, FIELD(T, f, sizeof(char *)), 0, 0, 0, NULL, NULL, NULL, req }
#define ENUM(n, T, f, nm, d)	{ n, CK_ENUM, FIELD(T, f, sizeof(int)), 0, 0, d, nm, NULL, NULL, false }
#define ADDR(n, T, f, lst)	{ n, CK_ADDR, FIELD(T, f, sizeof(struct weir_addr)), lst, 0, 0, NULL, NULL, NULL, true }
#define MAP(n, k)		{ n, CK_MAP, 0, 0, 0, 0, NULL, k, NULL, false }
#define FN(n, h, arg, req)	{ n, CK_FN, 0, arg, 0, 0, NULL, NULL, h, req }
#define END			{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, false }

/* Writes the defaults of keys (nested maps too) into the struct at base. */
void weir__config_set_defaults(const struct ckey *keys, void *base);

/* Reads mapping n by the table keys into the struct at base: unknown keys
 * (with a "did you mean"), duplicate and missing required keys are errors. */
int weir__config_parse_map(struct pctx *x, yaml_node_t *n, const struct ckey *keys, void *base,
			   const char *path);

/* s is a name (an upstream, a route id, a certificate id): 1 to MAX_NAME
 * of A-Z a-z 0-9 . _ - */
int weir__config_check_name(struct pctx *x, yaml_node_t *n, const char *path, const char *s);

/* A client's tls: mapping (verify, ca, sni) into t, defaults first; v NULL
 * or null: the defaults alone. An upstream's, and an https log sink's. */
int weir__config_client_tls(struct pctx *x, yaml_node_t *v, struct weir_upstream_tls_conf *t,
			    const char *path);

/* ---- sections of their own (config_log.c) ------------------------------ */

int weir__config_access_log(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			    const char *path);
extern const struct ckey weir__config_tracing_keys[];
void weir__config_free_log(struct weir_config *c);

/* The top-level certificates: (config_certs.c). */
int weir__config_certificates(struct pctx *x, const struct ckey *k, yaml_node_t *v, void *base,
			      const char *path);
void weir__config_free_certs(struct weir_config *c);

/* ---- plugin settings: YAML to JSON ------------------------------------ */

/* The JSON value of n, or NULL with the error set. */
json_t *weir__config_to_json(struct pctx *x, yaml_node_t *n, const char *path, int depth);

#endif
