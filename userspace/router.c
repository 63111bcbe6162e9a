/* userspace/router.c - matching a request against a built router: the
 * read-only walk over the compact records of router-int.h, and the other
 * queries on a router. Making one (new, add, build) and freeing it are in
 * router_build.c.
 *
 * A match first walks the host tree, the host read last byte first, to the
 * exact host's node and the wildcard nodes that cover it; then, host level
 * by host level (exact, wildcards from the longest suffix, no host), probes
 * the static table for the whole path if the level has static patterns and,
 * failing that, walks the level's path tree depth first: static child, then
 * param, then prefix routes, backtracking only where a later alternative
 * exists. Within a node the entries are already in precedence order, so
 * the first one whose methods and header conditions accept the request
 * wins. Nothing is written but the caller's struct weir_route_match: any
 * number of threads may match at once.
 */
#include "router-int.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The functions a match runs through start on a cache line each: their cost
 * then does not depend on where the linker happens to put this file, which
 * moves with every change to the files linked before it (a few percent of
 * a lookup among 1k static routes, measured with bench/bench_router.c). */
#define MATCH_FN __attribute__((aligned(64)))

/* The index of the child whose label starts with c, or -1. first[] is
 * sorted; reading up to 15 bytes past its end is safe (records are followed
 * by others or by the block's padding). */
static inline int kid_find(const uint8_t *first, unsigned n, uint8_t c)
{
#ifdef __SSE2__
	const __m128i want = _mm_set1_epi8(c);
	unsigned i, mask;

	if (n == 1)
		return first[0] == c ? 0 : -1;

	for (i = 0; i < n; i += 16) {
		mask = _mm_movemask_epi8(_mm_cmpeq_epi8(
			_mm_loadu_si128((const __m128i *)(first + i)), want));
		if (n - i < 16)
			mask &= (1u << (n - i)) - 1;
		if (mask)
			return i + __builtin_ctz(mask);
	}
	return -1;
#else
	unsigned i;

	for (i = 0; i < n && first[i] < c; i++)
		;
	return i < n && first[i] == c ? (int)i : -1;
#endif
}

/* Whether n bytes at a and b are equal. a is in the block, readable 8
 * bytes on; b is readable for room >= n bytes. A short label costs one
 * word compare and one branch. */
static inline bool same(const char *a, const char *b, size_t n, size_t room)
{
	uint64_t x, y;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (n < 8 && room >= 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		return !((x ^ y) & ((1ull << (8 * n)) - 1));
	}
#endif

	for (; n >= 8; n -= 8, a += 8, b += 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return false;
	}
	for (; n; n--)
		if (*a++ != *b++)
			return false;
	return true;
}

static bool hdr_holds(const struct rhdr *c, const struct weir_route_req *req)
{
	const struct weir_hdr *h;
	size_t i;
	uint32_t j;

	for (i = 0; i < req->n_headers; i++) {
		h = &req->headers[i];
		if (h->name_len != c->name_len || memcmp(h->name, c->name, c->name_len))
			continue;
		for (j = 0; j < c->n_values; j++)
			if (h->value_len == c->values[j].len &&
			    !memcmp(h->value, c->values[j].s, h->value_len))
				return true;
	}
	return false;
}

struct walk {
	const char *mem;
	const struct weir_route_req *req;
	const char *end;
	struct weir_route_param *params;
	unsigned n_params;
	const struct weir_router_skip *skip;	/* NULL: every route is live */
	/* where the route was found: its node and the path position there */
	const struct pn *node;
	const char *at;
};

/* The first of n entries that accepts the request's method and headers. */
MATCH_FN
static const struct rentry *pick(const struct rentry *e, uint32_t n, const struct walk *w)
{
	const struct weir_route_req *req = w->req;
	const struct raux *a;
	uint32_t i;

	for (; n; n--, e++) {
		if (w->skip && w->skip->dead(e->route, w->skip->arg))
			continue;
		if (!(a = e->aux))
			return e;
		if (a->methods && !(a->methods & req->method))
			continue;
		for (i = 0; i < a->n_hdr && hdr_holds(&a->hdr[i], req); i++)
			;
		if (i == a->n_hdr)
			return e;
	}
	return NULL;
}

/* A node's entries, their counts by kind in c. */
static inline const struct rentry *pn_ents(const struct pn *n, unsigned c[L_KINDS])
{
	const char *at = (const char *)n + PN_ENTS_AT(n);
	const struct pents *pe = (const struct pents *)at;

	if (n->flags & PN_MANY) {
		c[L_EXACT] = pe->n[L_EXACT];
		c[L_BARE] = pe->n[L_BARE];
		c[L_PREFIX] = pe->n[L_PREFIX];
		return pe->e;
	}
	c[L_EXACT] = !!(n->flags & PN_E);
	c[L_BARE] = !!(n->flags & PN_B);
	c[L_PREFIX] = !!(n->flags & PN_PREFIX);
	return (const struct rentry *)at;
}

/* Depth first from the node at off, at path position p with np params
 * taken: static child, then param, then the node's prefix routes. Recursion
 * happens only where a later alternative exists, and its depth is bounded by
 * the deepest pattern, not by the request. */
MATCH_FN
static const struct rentry *path_walk(struct walk *w, uint32_t off, const char *p, unsigned np)
{
	const struct rentry *e;
	unsigned cnt[L_KINDS];
	uint32_t koff;
	const struct pn *n, *k;
	const char *q;
	int c;

	for (;;) {
		n = AT(w->mem, off, const struct pn *);
		if (p == w->end) {
			if (!(n->flags & PN_ANY))
				return NULL;
			e = pn_ents(n, cnt);
			e = pick(e, cnt[L_EXACT] + cnt[L_BARE] + cnt[L_PREFIX], w);
			goto found;
		}
		if ((c = kid_find(n->first, n->n_kids, *p)) >= 0) {
			koff = AT((const char *)n, PN_KIDS(n), const uint32_t *)[c];

			k = AT(w->mem, koff, const struct pn *);
			/* k's first subtree follows it: in a cold table, fetch
			 * the rest of the route's chain while k is read */
			__builtin_prefetch((const char *)k + 64);
			__builtin_prefetch((const char *)k + 128);
			if (k->len <= w->end - p && same(LABEL(k) + 1, p + 1, k->len - 1, w->end - p - 1)) {
				if (!(n->flags & (PN_PARAM | PN_PREFIX))) {
					off = koff;
					p += k->len;
					continue;
				}
				if ((e = path_walk(w, koff, p + k->len, np)))
					return e;
			}
		}
		if ((n->flags & PN_PARAM) && np < WEIR_ROUTER_MAX_PARAMS) {
			for (q = p; q < w->end && *q != '/'; q++)
				;
			if (q > p) {
				w->params[np].value = p;
				w->params[np].len = q - p;
				koff = AT((const char *)n, PN_PARAM_AT(n), const uint32_t *)[0];
				if (!(n->flags & PN_PREFIX)) {
					off = koff;
					p = q;
					np++;
					continue;
				}
				if ((e = path_walk(w, koff, q, np + 1)))
					return e;
			}
		}
		if (!(n->flags & PN_PREFIX))
			return NULL;
		e = pn_ents(n, cnt);
		e = pick(e + cnt[L_EXACT] + cnt[L_BARE], cnt[L_PREFIX], w);
		goto found;
	}
found:
	if (e) {
		w->n_params = np;
		w->node = n;
		w->at = p;
	}
	return e;
}

/* The routes of one host level: the static table, then the walk. */
MATCH_FN
static const struct rentry *level_walk(struct walk *w, const struct weir_router *r, uint32_t root)
{
	const char *path = w->req->path;
	size_t len = w->req->path_len;
	unsigned cnt[L_KINDS];
	const struct rentry *e;
	const struct skey *sk;
	const struct slot *t;
	const struct pn *n;
	uint64_t h;
	uint32_t i;

	if (!(AT(r->mem, root, const struct pn *)->flags & PN_KEYS))
		return path_walk(w, root, path, 0);
	h = weir__router_path_hash(root, path, len);
	t = AT(r->mem, r->slots_off, const struct slot *);
	for (i = h & r->slot_mask; t[i].off; i = (i + 1) & r->slot_mask) {
		sk = AT(r->mem, t[i].off, const struct skey *);
		if (t[i].tag != (uint32_t)(h >> 32) || sk->root != root || sk->len != len ||
		    !same(sk->key, path, len, len))
			continue;
		n = AT(r->mem, sk->node, const struct pn *);
		e = pn_ents(n, cnt);
		if ((e = pick(e, cnt[L_EXACT], w))) {
			w->n_params = 0;
			w->node = n;
			w->at = w->end;
			return e;
		}
		break;
	}
	return path_walk(w, root, path, 0);
}

/* Walks the host tree, the host read last byte first. Returns the exact
 * host's node (0 = none) and in *wild the deepest node whose "*.suffix"
 * covers the host. */
static const struct hn *host_walk(const char *mem, uint32_t off, const char *h, size_t hl,
				  const struct hn **wild)
{
	const struct hn *n, *k;
	size_t done = 0;
	uint32_t i;
	int c;

	*wild = NULL;
	for (;;) {
		n = AT(mem, off, const struct hn *);
		if (done == hl)
			return n;
		if (n->wpaths)
			*wild = n;
		if ((c = kid_find(n->first, n->n_kids, h[hl - 1 - done])) < 0)
			return NULL;
		off = AT((const char *)n, HN_KIDS(n), const uint32_t *)[c];
		k = AT(mem, off, const struct hn *);
		__builtin_prefetch((const char *)k + 64);	/* as in path_walk() */
		if (k->len > hl - done)
			return NULL;
		for (i = 1; i < k->len; i++)
			if (LABEL(k)[i] != h[hl - 1 - done - i])
				return NULL;
		done += k->len;
	}
}

/* The match of weir_router_match(), walking past the routes w->skip names;
 * *host is the host level it was found at, as struct weir_route_rank has it. */
static inline __attribute__((always_inline)) const struct rentry *
match(const struct weir_router *r, struct walk *w, uint16_t *host)
{
	const struct weir_route_req *req = w->req;
	const struct rentry *e = NULL;
	const struct hn *h, *wild;
	size_t hl = req->host_len;

	if (!r->built)
		return NULL;
	if (hl && req->host[hl - 1] == '.')
		hl--;
	if (hl) {
		h = host_walk(r->mem, r->hroot_off, req->host, hl, &wild);
		if (h && h->paths && (e = level_walk(w, r, h->paths))) {
			*host = 0xffff;
			return e;
		}
		for (; wild; wild = wild->wnext ? AT(r->mem, wild->wnext, const struct hn *) : NULL)
			if ((e = level_walk(w, r, wild->wpaths))) {
				*host = 1 + wild->depth;
				return e;
			}
	}
	*host = 0;
	return level_walk(w, r, r->aroot_off);
}

static void fill(struct weir_route_match *m, const struct rentry *e, const struct walk *w)
{
	m->route = e->route;
	m->n_params = w->n_params;
	for (unsigned i = 0; i < w->n_params; i++)
		m->params[i].name = e->aux->names[i];
}

MATCH_FN
bool weir_router_match(const struct weir_router *r, const struct weir_route_req *req,
		       struct weir_route_match *m)
{
	struct walk w = { r->mem, req, req->path + req->path_len, m->params, 0, NULL, NULL, NULL };
	const struct rentry *e;
	uint16_t host;

	if (!(e = match(r, &w, &host)))
		return false;
	fill(m, e, &w);
	return true;
}

bool weir_router_match_ranked(const struct weir_router *r, const struct weir_route_req *req,
			      const struct weir_router_skip *skip, struct weir_route_match *m,
			      struct weir_route_rank *rank)
{
	struct walk w = { r->mem, req, req->path + req->path_len, m->params, 0, skip, NULL, NULL };
	const struct rentry *e, *first;
	unsigned cnt[L_KINDS], i;
	ptrdiff_t k;

	if (!(e = match(r, &w, &rank->host)))
		return false;
	fill(m, e, &w);
	first = pn_ents(w.node, cnt);
	k = e - first;
	rank->end = k < cnt[L_EXACT] ? 0 : k < cnt[L_EXACT] + cnt[L_BARE] ? 1 : 2;
	for (i = 0; i < w.n_params; i++)
		rank->dev[i] = (uint16_t)((m->params[i].value - req->path) << 1);
	if (rank->end == 2)
		rank->dev[i++] = (uint16_t)((w.at - req->path) << 1 | 1);
	rank->n_dev = i;
	return true;
}

int weir_route_rank_cmp(const struct weir_route_rank *a, const struct weir_route_rank *b)
{
	unsigned i;

	if (a->host != b->host)
		return a->host > b->host ? -1 : 1;
	for (i = 0; i < a->n_dev && i < b->n_dev; i++) {
		if (a->dev[i] == b->dev[i])
			continue;
		/* The one still on the literal path at the other's point goes
		 * first; at the same point a param (0) before a prefix (1). */
		if (a->dev[i] >> 1 != b->dev[i] >> 1)
			return a->dev[i] >> 1 > b->dev[i] >> 1 ? -1 : 1;
		return (a->dev[i] & 1) ? 1 : -1;
	}
	if (a->n_dev != b->n_dev)
		return a->n_dev < b->n_dev ? -1 : 1;
	return (int)a->end - (int)b->end;
}

bool weir_router_match_layered(const struct weir_router *base,
			       const struct weir_router_skip *skip,
			       const struct weir_router *delta,
			       int (*order)(const void *a, const void *b),
			       const struct weir_route_req *req, struct weir_route_match *m)
{
	struct weir_route_rank rb, rd;
	struct weir_route_match md;
	bool hb, c;

	hb = base && weir_router_match_ranked(base, req, skip, m, &rb);
	if (!delta || !weir_router_match_ranked(delta, req, NULL, &md, &rd))
		return hb;
	if (hb) {
		int k = weir_route_rank_cmp(&rb, &rd);

		c = k < 0 || (k == 0 && order(m->route, md.route) < 0);
		if (c)
			return true;
	}
	m->route = md.route;
	m->n_params = md.n_params;
	memcpy(m->params, md.params, md.n_params * sizeof(md.params[0]));
	return true;
}

size_t weir_router_count(const struct weir_router *r)
{
	return r->count;
}

size_t weir_router_memory(const struct weir_router *r)
{
	return sizeof(*r) + r->chunk_bytes + r->mem_len;
}
