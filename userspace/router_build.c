/* userspace/router_build.c - making a router: weir_router_new(), adding
 * routes, and freezing them into the compact block that router.c matches
 * against; weir_router_free() too, which releases both forms.
 *
 * Adding grows pointer trees of compressed edges (struct bnode): one host
 * tree keyed by the host read backwards, so that "*.example.com" and
 * "api.example.com" share the node of ".example.com" and every wildcard that
 * covers a host lies on the walk to it; and one path tree per host level (an
 * exact host, a wildcard host, no host). A path tree has static edges, at
 * most one ":param" child per node (param names live in the route entries,
 * so "/u/:id" and "/u/:uid" share it), and three entry lists per node: the
 * routes that end there exactly, the prefix routes of "X/" that also take
 * "X" ("bare"), and the prefix routes "X" + '*'.
 *
 * weir_router_build() writes every tree depth first as the variable-size
 * records of router-int.h (struct pn, struct hn) addressed by 32-bit
 * offsets: children's first bytes side by side and compared 16 at a time,
 * entries sorted by precedence inside their node, the nodes of one route's
 * chain on adjacent cache lines, the block in huge pages once large. Static
 * patterns are also indexed by a hash table of their full path. The pointer
 * trees are then freed: a frozen router takes no more routes.
 */
#include "router-int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define WEIR_M_ALL ((WEIR_M_OTHER << 1) - 1)

/* ---- while adding ---- */

struct bvec {
	uint32_t *v;
	uint32_t n, cap;
};

struct bnode {
	uint32_t len;
	uint32_t n_kids, cap_kids;
	struct bnode **kids;		/* static children, distinct first bytes */
	struct bnode *param;		/* path trees: the ":name" segment */
	struct bnode *paths, *wpaths;	/* host tree: trees of host and "*.host" */
	struct bvec lists[L_KINDS];	/* indices in weir_router.bents */
	char label[];			/* edge from the parent */
};

struct bent {
	void *route;
	const char *id;
	const struct raux *aux;
	const struct rhdr *hdr;		/* sorted by hdr_cmp */
	uint32_t n_hdr, methods;
	int32_t priority;
	uint32_t seq;
};

/* The arena: ids, param names and header conditions, freed with the
 * router. */
struct chunk {
	struct chunk *next;
	size_t size, used;
	max_align_t data[];
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void *arena_alloc(struct weir_router *r, size_t n)
{
	struct chunk *c = r->chunks;
	size_t sz;

	n = (n + 15) & ~(size_t)15;
	if (!c || c->size - c->used < n) {
		sz = n > 16384 ? n : 16384;
		c = malloc(sizeof(*c) + sz);
		if (!c)
			return NULL;
		c->size = sz;
		c->used = 0;
		c->next = r->chunks;
		r->chunks = c;
		r->chunk_bytes += sizeof(*c) + sz;
	}
	c->used += n;
	return (char *)c->data + c->used - n;
}

static char *arena_strndup(struct weir_router *r, const char *s, size_t n)
{
	char *d = arena_alloc(r, n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int grow(void **v, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t n = *cap ? *cap : 4;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, (size_t)n * size);
	if (!p)
		return -1;
	*v = p;
	*cap = n;
	return 0;
}

static int bvec_push(struct bvec *v, uint32_t x)
{
	if (grow((void **)&v->v, &v->cap, v->n + 1, sizeof(*v->v)))
		return -1;
	v->v[v->n++] = x;
	return 0;
}

static struct bnode *bnode_new(const char *label, size_t len)
{
	struct bnode *n = calloc(1, sizeof(*n) + len + 1);

	if (n) {
		memcpy(n->label, label, len);
		n->len = len;
	}
	return n;
}

/* The node at the end of s below n, made by adding or splitting edges as
 * needed; NULL when out of memory (the tree stays valid). */
static struct bnode *bnode_descend(struct bnode *n, const char *s, size_t len)
{
	struct bnode *k, *mid;
	uint32_t i, c;

	while (len) {
		for (i = 0; i < n->n_kids && n->kids[i]->label[0] != s[0]; i++)
			;
		if (i == n->n_kids) {
			if (grow((void **)&n->kids, &n->cap_kids, n->n_kids + 1,
				 sizeof(*n->kids)))
				return NULL;
			k = bnode_new(s, len);
			if (k)
				n->kids[n->n_kids++] = k;
			return k;
		}
		k = n->kids[i];
		for (c = 1; c < k->len && c < len && k->label[c] == s[c]; c++)
			;
		if (c < k->len) {
			mid = bnode_new(s, c);
			if (!mid || !(mid->kids = malloc(sizeof(*mid->kids)))) {
				free(mid);
				return NULL;
			}
			mid->kids[0] = k;
			mid->n_kids = mid->cap_kids = 1;
			memmove(k->label, k->label + c, k->len - c + 1);
			k->len -= c;
			n->kids[i] = mid;
			k = mid;
		}
		n = k;
		s += c;
		len -= c;
	}
	return n;
}

/* Frees the tree below n; the depth is bounded by the longest pattern. */
static void bnode_free(struct bnode *n)
{
	uint32_t i;

	if (!n)
		return;
	for (i = 0; i < n->n_kids; i++)
		bnode_free(n->kids[i]);
	bnode_free(n->param);
	bnode_free(n->paths);
	bnode_free(n->wpaths);
	for (i = 0; i < L_KINDS; i++)
		free(n->lists[i].v);
	free(n->kids);
	free(n);
}

struct weir_router *weir_router_new(void)
{
	struct weir_router *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->hroot = bnode_new("", 0);
	r->aroot = bnode_new("", 0);
	if (!r->hroot || !r->aroot) {
		weir_router_free(r);
		return NULL;
	}
	return r;
}

/* ---- hosts ---- */

static bool host_label_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* Writes the lower-cased host, last byte first, to key: ".example.com" for
 * "*.example.com" (a wildcard then needs one more byte than its key).
 * Returns its length, or 0 with the reason in *why. */
static size_t host_key(const char *host, char *key, bool *wild, const char **why)
{
	size_t n = strlen(host), i;
	bool dot = true;

	*wild = n > 2 && host[0] == '*' && host[1] == '.';
	if (n && host[n - 1] == '.')
		n--;
	if (n == 0 || n > WEIR_ROUTER_MAX_HOST) {
		*why = n ? "longer than 255 bytes" : "empty";
		return 0;
	}
	if (host[0] == '[') {
		for (i = 1; i < n - 1 && (isxdigit((unsigned char)host[i]) ||
					  host[i] == ':' || host[i] == '.'); i++)
			;
		if (n < 3 || i != n - 1 || host[i] != ']') {
			*why = "bad IPv6 literal";
			return 0;
		}
	} else {
		for (i = *wild ? 2 : 0; i < n; i++) {
			if (host[i] == '.') {
				if (dot) {
					*why = "empty label";
					return 0;
				}
			} else if (host[i] == '*') {
				*why = "'*' only as a whole first label, as in *.example.com";
				return 0;
			} else if (host[i] == ':') {
				*why = "must not hold a port";
				return 0;
			} else if (!host_label_char(host[i])) {
				*why = "bad character";
				return 0;
			}
			dot = host[i] == '.';
		}
		if (dot) {
			*why = "empty label";
			return 0;
		}
	}
	for (i = *wild; i < n; i++)
		key[n - 1 - i] = tolower((unsigned char)host[i]);
	return n - *wild;
}

/* ---- path patterns ---- */

static bool param_char(unsigned char c)
{
	return isalnum(c) || c == '_';
}

static bool path_char(unsigned char c)
{
	return c > ' ' && c != 0x7f && c != '?' && c != '#';
}

struct pattern {
	struct bnode *node, *bare;	/* bare: "X" of "X/" + '*', or NULL */
	int kind;
	unsigned n_names;
	const char *names[WEIR_ROUTER_MAX_PARAMS];
	uint32_t name_lens[WEIR_ROUTER_MAX_PARAMS];
};

/* Walks (and grows) the path tree below root along pattern p. Returns 0, or
 * -1 with the reason in why: a static constant string, or NULL when out of
 * memory. */
static int pattern_walk(struct bnode *root, const char *p, struct pattern *pt,
			const char **why)
{
	size_t len = strlen(p), i = 0, j, k;
	struct bnode *n = root;

	pt->kind = L_EXACT;
	pt->bare = NULL;
	pt->n_names = 0;
	if (p[0] != '/') {
		*why = "must start with '/'";
		return -1;
	}
	if (len > WEIR_ROUTER_MAX_PATH) {
		*why = "longer than 4096 bytes";
		return -1;
	}
	while (i < len) {
		for (j = i; j < len && p[j] != '*' && !(p[j] == ':' && p[j - 1] == '/'); j++) {
			if (!path_char(p[j])) {
				*why = "bad character (control, space, '?' or '#')";
				return -1;
			}
		}
		if (j < len && p[j] == '*') {
			if (j != len - 1) {
				*why = "'*' is only allowed as the last character";
				return -1;
			}
			pt->kind = L_PREFIX;
			if (p[j - 1] == '/') {
				if (!(n = bnode_descend(n, p + i, j - 1 - i)))
					goto nomem;
				pt->bare = n;
				i = j - 1;
			}
		}
		if (!(n = bnode_descend(n, p + i, j - i)))
			goto nomem;
		if (j >= len - (pt->kind == L_PREFIX))
			break;
		for (k = j + 1; k < len && param_char(p[k]); k++)
			;
		if (k == j + 1) {
			*why = "empty parameter name";
			return -1;
		}
		if (k < len && p[k] != '/') {
			*why = "a parameter is a whole segment: its name (letters, digits, '_') runs to the next '/'";
			return -1;
		}
		if (pt->n_names == WEIR_ROUTER_MAX_PARAMS) {
			*why = "more than 8 parameters";
			return -1;
		}
		for (i = 0; i < pt->n_names; i++) {
			if (pt->name_lens[i] == k - j - 1 && !memcmp(pt->names[i], p + j + 1, k - j - 1)) {
				*why = "duplicate parameter name";
				return -1;
			}
		}
		pt->names[pt->n_names] = p + j + 1;
		pt->name_lens[pt->n_names++] = k - j - 1;
		if (!n->param && !(n->param = bnode_new("", 0)))
			goto nomem;
		n = n->param;
		i = k;
	}
	pt->node = n;
	return 0;
nomem:
	*why = NULL;
	return -1;
}

/* ---- header conditions ---- */

static int rstr_cmp(const void *a, const void *b)
{
	const struct rstr *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->s, y->s, x->len);
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct rhdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	uint32_t i;

	if (c)
		return c;
	if (x->n_values != y->n_values)
		return x->n_values < y->n_values ? -1 : 1;
	for (i = 0; i < x->n_values; i++)
		if ((c = rstr_cmp(&x->values[i], &y->values[i])))
			return c;
	return 0;
}

/* Copies conf into the arena in canonical form so that equal condition sets
 * compare equal. Returns the count, or -1 with the reason in why (NULL when
 * out of memory). */
static int hdr_copy(struct weir_router *r, const struct weir_header_match_conf *conf,
		    size_t n, struct rhdr **out, const char **why)
{
	struct rhdr *h = n ? arena_alloc(r, n * sizeof(*h)) : NULL;
	struct rstr *v;
	size_t i, j, k, m = 0;
	char *name;

	if (n && !h)
		goto nomem;
	for (i = 0; i < n; i++) {
		if (!conf[i].name || !conf[i].name[0] || !conf[i].n_values || !conf[i].values) {
			*why = "header condition without a name or values";
			return -1;
		}
		if (!(name = arena_strndup(r, conf[i].name, strlen(conf[i].name))) ||
		    !(v = arena_alloc(r, conf[i].n_values * sizeof(*v))))
			goto nomem;
		for (k = 0; name[k]; k++)
			name[k] = tolower((unsigned char)name[k]);
		for (j = 0; j < conf[i].n_values; j++) {
			v[j].len = strlen(conf[i].values[j]);
			if (!(v[j].s = arena_strndup(r, conf[i].values[j], v[j].len)))
				goto nomem;
		}
		qsort(v, conf[i].n_values, sizeof(*v), rstr_cmp);
		for (j = k = 1; j < conf[i].n_values; j++)
			if (rstr_cmp(&v[j], &v[k - 1]))
				v[k++] = v[j];
		h[i] = (struct rhdr){ name, strlen(name), k, v };
	}
	if (n)
		qsort(h, n, sizeof(*h), hdr_cmp);
	for (i = 0; i < n; i++)
		if (!m || hdr_cmp(&h[i], &h[m - 1]))
			h[m++] = h[i];
	*out = h;
	return m;
nomem:
	*why = NULL;
	return -1;
}

/* ---- adding ---- */

/* What a match reads of a route beyond its payload, or NULL for a route
 * with no param, method list or header condition. Routes without header
 * conditions share it with one of the last few alike routes, so that a
 * table of many such routes keeps a few of these hot. */
static const struct raux *aux_intern(struct weir_router *r, const struct pattern *pt,
				     const struct rhdr *hdr, uint32_t n_hdr, uint32_t methods)
{
	struct raux *a;
	const char **v;
	unsigned i, j;

	if (!pt->n_names && !n_hdr && !methods)
		return NULL;
	for (i = 0; !n_hdr && i < AUX_RECENT && (a = r->recent[i]); i++) {
		for (v = a->names, j = 0; j < pt->n_names && v[j] &&
		     !strncmp(v[j], pt->names[j], pt->name_lens[j]) && !v[j][pt->name_lens[j]]; j++)
			;
		if (a->methods == methods && j == pt->n_names && !v[j])
			return a;
	}
	if (!(a = arena_alloc(r, sizeof(*a))) ||
	    !(v = arena_alloc(r, (pt->n_names + 1) * sizeof(*v))))
		return NULL;
	for (j = 0; j < pt->n_names; j++)
		if (!(v[j] = arena_strndup(r, pt->names[j], pt->name_lens[j])))
			return NULL;
	v[j] = NULL;
	*a = (struct raux){ v, hdr, n_hdr, methods };
	if (!n_hdr)
		r->recent[r->n_recent++ % AUX_RECENT] = a;
	return a;
}

int weir_router_add(struct weir_router *r, const char *id, const char *host,
		    const char *path, uint32_t methods,
		    const struct weir_header_match_conf *headers, size_t n_headers,
		    int32_t priority, void *route, char *err, size_t errlen)
{
	char key[WEIR_ROUTER_MAX_HOST + 1];
	struct bnode *root = r->aroot, *h;
	const char *why = NULL;
	struct pattern pt;
	struct rhdr *hdr = NULL;
	struct bent *e, *o;
	struct bvec *list;
	int n_hdr;
	bool wild;
	size_t kl;
	uint32_t i;

	id = id ? id : "?";
	if (r->built)
		return fail(err, errlen, "route %s: the router is already built", id);
	if (!path)
		return fail(err, errlen, "route %s: no path", id);
	if (methods & ~(uint32_t)WEIR_M_ALL)
		return fail(err, errlen, "route %s: unknown method bits 0x%x", id,
			    methods & ~(uint32_t)WEIR_M_ALL);
	if (host) {
		if (!(kl = host_key(host, key, &wild, &why)))
			return fail(err, errlen, "route %s: host '%s': %s", id, host, why);
		if (!(h = bnode_descend(r->hroot, key, kl)))
			goto nomem;
		root = wild ? h->wpaths : h->paths;
		if (!root && !(root = bnode_new("", 0)))
			goto nomem;
		*(wild ? &h->wpaths : &h->paths) = root;
	}
	if (pattern_walk(root, path, &pt, &why))
		goto bad;
	if ((n_hdr = hdr_copy(r, headers, n_headers, &hdr, &why)) < 0) {
		if (why)
			return fail(err, errlen, "route %s: headers: %s", id, why);
		goto nomem;
	}
	list = &pt.node->lists[pt.kind];
	if (list->n == UINT16_MAX)
		return fail(err, errlen, "route %s: more than 65535 routes with path '%s'", id, path);
	for (i = 0; i < list->n; i++) {
		o = &r->bents[list->v[i]];
		if (o->methods == methods && o->priority == priority &&
		    o->n_hdr == (uint32_t)n_hdr) {
			int k;

			for (k = 0; k < n_hdr && !hdr_cmp(&o->hdr[k], &hdr[k]); k++)
				;
			if (k == n_hdr)
				return fail(err, errlen, "route %s: duplicate of route %s (same host, "
					    "path, methods, headers and priority)", id, o->id);
		}
	}
	if (grow((void **)&r->bents, &r->cap_bents, r->n_bents + 1, sizeof(*r->bents)))
		goto nomem;
	e = &r->bents[r->n_bents];
	*e = (struct bent){ .route = route, .hdr = hdr, .n_hdr = n_hdr, .methods = methods,
			    .priority = priority, .seq = r->n_bents };
	if (!(e->id = arena_strndup(r, id, strlen(id))))
		goto nomem;
	if (!(e->aux = aux_intern(r, &pt, hdr, n_hdr, methods)) &&
	    (pt.n_names || n_hdr || methods))
		goto nomem;
	if (pt.bare && bvec_push(&pt.bare->lists[L_BARE], r->n_bents))
		goto nomem;
	if (bvec_push(list, r->n_bents)) {
		if (pt.bare)
			pt.bare->lists[L_BARE].n--;
		goto nomem;
	}
	r->n_bents++;
	r->n_static += pt.kind == L_EXACT && !pt.n_names;
	r->count++;
	return 0;
bad:
	if (why)
		return fail(err, errlen, "route %s: path '%s': %s", id, path, why);
nomem:
	return fail(err, errlen, "route %s: out of memory", id);
}

/* ---- building ---- */

struct buf {
	char *p;
	size_t len, cap;
};

/* Room for n bytes at an offset aligned to a, zeroed; 0 when out of memory. */
static uint32_t buf_take(struct buf *b, size_t n, size_t a)
{
	size_t off = ALIGN(b->len, a), cap = b->cap;
	char *p;

	while (off + n > cap)
		cap *= 2;
	if (cap > UINT32_MAX)
		return 0;
	if (cap != b->cap) {
		if (!(p = realloc(b->p, cap)))
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memset(b->p + b->len, 0, off + n - b->len);
	b->len = off + n;
	return off;
}

static int kid_cmp(const void *a, const void *b)
{
	const struct bnode *x = *(struct bnode *const *)a, *y = *(struct bnode *const *)b;

	return (unsigned char)x->label[0] - (unsigned char)y->label[0];
}

static int bent_cmp(const void *a, const void *b, void *arg)
{
	const struct bent *bents = arg, *x = &bents[*(const uint32_t *)a],
		*y = &bents[*(const uint32_t *)b];

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->n_hdr != y->n_hdr)
		return x->n_hdr > y->n_hdr ? -1 : 1;
	if (!x->methods != !y->methods)
		return x->methods ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes the children's first bytes and the label of a record at off. */
static void put_label(struct buf *b, size_t at, const struct bnode *n)
{
	uint32_t k;

	for (k = 0; k < n->n_kids; k++)
		b->p[at + k] = n->kids[k]->label[0];
	memcpy(b->p + at + n->n_kids, n->label, n->len);
}

struct emit {
	struct weir_router *r;
	struct buf b;
	uint32_t root;			/* path tree being laid out */
	char key[WEIR_ROUTER_MAX_PATH + 1];	/* static path to the node */
};

/* Lays out the path tree of n depth first: the node, the node's key record
 * if it ends a static pattern, its static children's subtrees in byte
 * order, then the param's. klen is the length of the static path to n, -1
 * below a param. Returns the node's offset, or 0 when out of memory. The
 * depth is bounded by the longest pattern. */
static uint32_t emit_path(struct emit *x, struct bnode *n, int klen)
{
	size_t total = 0, kids, ents;
	uint32_t off, k, j, sub;
	struct rentry *re;
	struct skey *sk;
	bool many = false;

	for (k = 0; k < L_KINDS; k++) {
		total += n->lists[k].n;
		many |= n->lists[k].n > 1;
	}
	if (n->n_kids > 1)
		qsort(n->kids, n->n_kids, sizeof(*n->kids), kid_cmp);
	kids = KIDS_AT(offsetof(struct pn, first), n->len, n->n_kids);
	ents = ALIGN(kids + 4 * (size_t)n->n_kids + (n->param ? 4 : 0), 8);
	if (!(off = buf_take(&x->b, total ? ents + many * sizeof(struct pents) +
			     total * sizeof(*re) : ents, total ? 8 : 4)))
		return 0;
	if (!x->root)
		x->root = off;
	*AT(x->b.p, off, struct pn *) = (struct pn){ n->len, n->n_kids,
		(n->param ? PN_PARAM : 0) | (n->lists[L_PREFIX].n ? PN_PREFIX : 0) |
		(many ? PN_MANY : (n->lists[L_EXACT].n ? PN_E : 0) | (n->lists[L_BARE].n ? PN_B : 0)) };
	put_label(&x->b, off + offsetof(struct pn, first), n);
	re = AT(x->b.p, off + ents + many * sizeof(struct pents), struct rentry *);
	for (k = 0; k < L_KINDS; k++) {
		if (many)
			AT(x->b.p, off + ents, struct pents *)->n[k] = n->lists[k].n;
		if (n->lists[k].n > 1)
			qsort_r(n->lists[k].v, n->lists[k].n, sizeof(uint32_t), bent_cmp, x->r->bents);
		for (j = 0; j < n->lists[k].n; j++) {
			const struct bent *e = &x->r->bents[n->lists[k].v[j]];

			*re++ = (struct rentry){ e->route, e->aux };
		}
	}
	if (klen >= 0) {
		memcpy(x->key + klen, n->label, n->len);
		klen += n->len;
	}
	if (klen >= 0 && n->lists[L_EXACT].n) {
		uint64_t h = weir__router_path_hash(x->root, x->key, klen);
		struct slot *t;

		if (!(j = buf_take(&x->b, sizeof(*sk) + klen, 4)))
			return 0;
		sk = AT(x->b.p, j, struct skey *);
		*sk = (struct skey){ x->root, off, klen };
		memcpy(sk->key, x->key, klen);
		t = AT(x->b.p, x->r->slots_off, struct slot *);
		for (k = h & x->r->slot_mask; t[k].off; k = (k + 1) & x->r->slot_mask)
			;
		t[k] = (struct slot){ h >> 32, j };
		AT(x->b.p, x->root, struct pn *)->flags |= PN_KEYS;
	}
	for (k = 0; k < n->n_kids; k++) {
		if (!(sub = emit_path(x, n->kids[k], klen)))
			return 0;
		AT(x->b.p, off + kids, uint32_t *)[k] = sub;
	}
	if (n->param) {
		if (!(sub = emit_path(x, n->param, -1)))
			return 0;
		AT(x->b.p, off + kids + 4 * (size_t)n->n_kids, uint32_t *)[0] = sub;
	}
	return off;
}

static uint32_t emit_tree(struct emit *x, struct bnode *root)
{
	x->root = 0;
	return root ? emit_path(x, root, 0) : 0;
}

/* Lays out the host tree depth first, each node followed by its path trees;
 * wnext is the nearest ancestor holding wildcard routes. */
static uint32_t emit_host(struct emit *x, struct bnode *n, uint32_t wnext, uint16_t depth)
{
	size_t kids = KIDS_AT(offsetof(struct hn, first), n->len, n->n_kids);
	uint32_t off, k, sub, paths, wpaths;
	struct hn *h;

	if (n->n_kids > 1)
		qsort(n->kids, n->n_kids, sizeof(*n->kids), kid_cmp);
	if (!(off = buf_take(&x->b, kids + 4 * (size_t)n->n_kids, 4)))
		return 0;
	put_label(&x->b, off + offsetof(struct hn, first), n);
	paths = emit_tree(x, n->paths);
	wpaths = emit_tree(x, n->wpaths);
	if ((n->paths && !paths) || (n->wpaths && !wpaths))
		return 0;
	h = AT(x->b.p, off, struct hn *);
	*h = (struct hn){ paths, wpaths, wnext, n->len, n->n_kids, depth };
	for (k = 0; k < n->n_kids; k++) {
		if (!(sub = emit_host(x, n->kids[k], wpaths ? off : wnext,
				      depth + n->kids[k]->len)))
			return 0;
		AT(x->b.p, off + kids, uint32_t *)[k] = sub;
	}
	return off;
}

/* Moves the records to their final block: mapped on 2 MiB boundaries and
 * advised into huge pages once large, where a lookup's cost is mostly TLB
 * and cache misses. */
static int place(struct weir_router *r, struct buf *b)
{
	const size_t huge = 2u << 20;
	size_t len;
	char *p;

	if (b->len < 2 * huge) {
		r->mem = realloc(b->p, b->len);
		r->mem_len = b->len;
		b->p = r->mem ? NULL : b->p;
		return r->mem ? 0 : -1;
	}
	len = ALIGN(b->len, huge);
	p = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	r->mem = (char *)ALIGN((uintptr_t)p, huge);
	if (r->mem != p)
		munmap(p, r->mem - p);
	munmap(r->mem + len, p + huge - r->mem);
	madvise(r->mem, len, MADV_HUGEPAGE);
	memcpy(r->mem, b->p, b->len);
	r->mem_len = len;
	r->mapped = true;
	return 0;
}

int weir_router_build(struct weir_router *r, char *err, size_t errlen)
{
	uint32_t slots = 16;
	struct emit *x;
	int ret = -1;

	if (r->built)
		return fail(err, errlen, "router: already built");
	if (!(x = calloc(1, sizeof(*x))) || !(x->b.p = calloc(1, 4096)))
		goto out;
	x->r = r;
	x->b.len = 8;			/* offset 0 means "none" */
	x->b.cap = 4096;
	/* the static table, open addressing, at most half full */
	while (slots < 2 * r->n_static)
		slots *= 2;
	r->slot_mask = slots - 1;
	if (!(r->slots_off = buf_take(&x->b, slots * sizeof(struct slot), 8)) ||
	    !(r->aroot_off = emit_tree(x, r->aroot)) ||
	    !(r->hroot_off = emit_host(x, r->hroot, 0, 0)) || !buf_take(&x->b, 16, 8) ||
	    place(r, &x->b))
		goto out;
	bnode_free(r->hroot);
	bnode_free(r->aroot);
	r->hroot = r->aroot = NULL;
	free(r->bents);
	r->bents = NULL;
	r->built = true;
	ret = 0;
out:
	if (x)
		free(x->b.p);
	free(x);
	return ret ? fail(err, errlen, "router: out of memory") : 0;
}

void weir_router_free(struct weir_router *r)
{
	struct chunk *c, *next;

	if (!r)
		return;
	bnode_free(r->hroot);
	bnode_free(r->aroot);
	for (c = r->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(r->bents);
	if (r->mapped)
		munmap(r->mem, r->mem_len);
	else
		free(r->mem);
	free(r);
}
