/* userspace/balance.c - the upstream balancer: smooth weighted round robin
 * (nginx's), weighted least connections with round robin among ties
 * (nginx's least_conn), a consistent-hash ring (ketama-like, nodes placed by
 * identity), passive health with probation, panic mode, and weir_hash64().
 *
 * The immutable struct weir_lb is shared by all workers; everything a pick
 * or a report changes lives in the calling worker's struct weir_lb_state.
 * Nothing here allocates, locks or logs on the pick path.
 */
#include "balance.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LB_CACHELINE	64u
#define LB_WORDS	(WEIR_LB_MAX_NODES / 64u)	/* of a node bitmap */

/* Odd constants with well-mixed bits: the golden ratio and the two
 * multipliers of the splitmix64 finalizer (Stafford's mix 13). */
#define LB_K0	0x9e3779b97f4a7c15ull
#define LB_K1	0xbf58476d1ce4e5b9ull
#define LB_K2	0x94d049bb133111ebull

/* A node of a worker's state, 32 bytes: two to a cache line. The pick path
 * reads current, active and eject_until; the rest is read by reports. */
struct weir_lb_peer {
	int64_t current;	/* smooth WRR: grows by weight, drops by the total when picked */
	uint64_t eject_until;	/* ejected while now < eject_until; 0: never ejected or
				 * probation over; expired: on probation */
	uint64_t window_start;	/* when the open failure window began */
	uint32_t fails;		/* failures in the open window; 0: no window open */
	uint32_t active;	/* connections in flight (least connections) */
};
_Static_assert(sizeof(struct weir_lb_peer) == 32, "two peers per cache line");

/* The header takes a whole cache line and the allocation is rounded up to
 * whole lines, so the states of two workers never share one. */
struct weir_lb_state {
	uint32_t n;
	struct weir_lb_peer peer[] __attribute__((aligned(LB_CACHELINE)));
};
_Static_assert(sizeof(struct weir_lb_state) == LB_CACHELINE, "a header line of its own");

struct lb_id {
	uint64_t id;
	uint32_t node;
};

/* Active health of a node: written by the probing worker (and the carry of
 * a reload), read by every worker, always through relaxed atomics. */
struct lb_active {
	uint8_t down;		/* the verdict */
	uint8_t pad[3];
	uint32_t run;		/* outcomes in a row that go against the verdict */
};

struct weir_lb {
	enum weir_lb_kind kind;
	uint32_t n;
	uint32_t n_live;	/* nodes with weight > 0 */
	uint32_t ring_len;
	uint32_t *weight;
	uint64_t *id;
	struct lb_id *by_id;	/* ids sorted, for duplicates and carrying state */
	struct lb_active *act;	/* active health, per node */
	uint64_t *ring_hash;	/* sorted points ... */
	uint16_t *ring_node;	/* ... and the node each belongs to */
};

/* ---- hashing ---- */

/* splitmix64's finalizer: a bijection in which every input bit flips every
 * output bit with probability close to 1/2. */
static inline uint64_t lb_fmix(uint64_t x)
{
	x ^= x >> 30;
	x *= LB_K1;
	x ^= x >> 27;
	x *= LB_K2;
	x ^= x >> 31;
	return x;
}

static inline uint64_t lb_get64le(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* Each 8-byte word goes through x -> (x * K1) ^ ((x * K1) >> 32) after being
 * folded into the state. For a given state that step is a bijection, so two
 * inputs of the same length that differ in one word never collide before the
 * next word; the length goes into the first state, so "a" and "a\0" differ;
 * the final lb_fmix() gives the avalanche the cheap step lacks. */
uint64_t weir_hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = lb_fmix(seed ^ ((uint64_t)len * LB_K0));

	for (; len >= 8; p += 8, len -= 8) {
		h = (h ^ lb_get64le(p)) * LB_K1;
		h ^= h >> 32;
	}
	if (len) {
		unsigned char tail[8] = { 0 };

		memcpy(tail, p, len);
		h = (h ^ lb_get64le(tail)) * LB_K1;
		h ^= h >> 32;
	}
	return lb_fmix(h);
}

/* ---- the immutable part ---- */

static uint32_t lb_gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static int lb_id_cmp(const void *a, const void *b)
{
	const struct lb_id *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

struct lb_point {
	uint64_t hash;
	uint32_t node;
};

/* Sorts the points by hash, equal hashes (a 2^-64 event per pair) by node
 * id, so the ring never depends on the order the nodes were listed in.
 * The hashes are uniform, so a counting sort on their top bits into about
 * total/4 buckets and an insertion sort of each bucket is linear: a
 * million points sort in tens of milliseconds where qsort() takes ten
 * times that. Returns -1 when out of memory. */
static int lb_ring_sort(struct weir_lb *lb, const struct lb_point *in, uint32_t total)
{
	unsigned bits = 1;
	uint32_t *start, nb;
	struct lb_point *out;

	while (bits < 24 && (1u << bits) * 4u < total)
		bits++;
	nb = 1u << bits;
	start = calloc(nb + 1, sizeof(*start));
	out = malloc(total * sizeof(*out));
	if (!start || !out) {
		free(start);
		free(out);
		return -1;
	}
	for (uint32_t k = 0; k < total; k++)
		start[(in[k].hash >> (64 - bits)) + 1]++;
	for (uint32_t b = 0; b < nb; b++)
		start[b + 1] += start[b];
	/* start[b] is now the first slot of bucket b; it advances as the bucket
	 * fills, ending at the first slot of bucket b + 1 */
	for (uint32_t k = 0; k < total; k++)
		out[start[in[k].hash >> (64 - bits)]++] = in[k];

	for (uint32_t b = 0, lo = 0; b < nb; lo = start[b++]) {
		for (uint32_t k = lo + 1; k < start[b]; k++) {
			struct lb_point x = out[k];
			uint32_t j = k;

			while (j > lo && (out[j - 1].hash > x.hash ||
					  (out[j - 1].hash == x.hash &&
					   lb->id[out[j - 1].node] > lb->id[x.node]))) {
				out[j] = out[j - 1];
				j--;
			}
			out[j] = x;
		}
	}
	for (uint32_t k = 0; k < total; k++) {
		lb->ring_hash[k] = out[k].hash;
		lb->ring_node[k] = (uint16_t)out[k].node;
	}
	free(out);
	free(start);
	return 0;
}

/* Point r of a node is weir_hash64(id, r): where a node's points fall
 * depends on nothing but the node. How many it has is WEIR_LB_RING_POINTS
 * per unit of weight, the unit being the gcd of the weights in use (so
 * weights 100/200 cost what 1/2 costs); past WEIR_LB_RING_MAX all counts
 * shrink by the same factor. Points r < k are the same whatever the count,
 * so a node whose count changes gains or loses only the points at its end.
 *
 * Keys move only when points change: removing or draining a node moves its
 * keys alone, adding one moves only the keys it takes. That holds as long as
 * the unit does not change; when it does (weights 2/2 becoming 2/2/3), every
 * node's count changes and more keys move. */
static int lb_ring_build(struct weir_lb *lb)
{
	uint64_t units = 0, total = 0, pts[WEIR_LB_MAX_NODES];
	struct lb_point *tmp;
	uint32_t g = 0, i, k = 0;
	bool scale;
	int err;

	for (i = 0; i < lb->n; i++)
		if (lb->weight[i])
			g = lb_gcd(lb->weight[i], g);
	if (!g)
		return 0;	/* all drained: an empty ring */
	for (i = 0; i < lb->n; i++)
		units += lb->weight[i] / g;
	scale = units * WEIR_LB_RING_POINTS > WEIR_LB_RING_MAX;
	for (i = 0; i < lb->n; i++) {
		uint64_t u = lb->weight[i] / g;

		if (!u)
			pts[i] = 0;
		else if (!scale)
			pts[i] = u * WEIR_LB_RING_POINTS;
		else if (!(pts[i] = u * WEIR_LB_RING_MAX / units))
			pts[i] = 1;
		total += pts[i];
	}

	tmp = malloc(total * sizeof(*tmp));
	lb->ring_hash = malloc(total * sizeof(*lb->ring_hash));
	lb->ring_node = malloc(total * sizeof(*lb->ring_node));
	if (!tmp || !lb->ring_hash || !lb->ring_node) {
		free(tmp);
		return -1;
	}
	for (i = 0; i < lb->n; i++) {
		unsigned char buf[16];
		uint64_t le = htole64(lb->id[i]);

		memcpy(buf, &le, 8);
		for (uint64_t r = 0; r < pts[i]; r++) {
			le = htole64(r);
			memcpy(buf + 8, &le, 8);
			tmp[k].hash = weir_hash64(buf, sizeof(buf), WEIR_LB_RING_SEED);
			tmp[k].node = i;
			k++;
		}
	}
	err = lb_ring_sort(lb, tmp, (uint32_t)total);
	if (!err)
		lb->ring_len = (uint32_t)total;
	free(tmp);
	return err;
}

struct weir_lb *weir_lb_new(enum weir_lb_kind kind, const uint32_t *weights,
			    const uint64_t *ids, size_t n, char *err, size_t errlen)
{
	struct weir_lb *lb = NULL;
	size_t i;

#define LB_FAIL(...) do { \
		if (err && errlen) \
			snprintf(err, errlen, __VA_ARGS__); \
		goto fail; \
	} while (0)

	if (kind != WEIR_LB_ROUNDROBIN && kind != WEIR_LB_LEASTCONN && kind != WEIR_LB_CHASH)
		LB_FAIL("unknown balancing method %d", (int)kind);
	if (!n)
		LB_FAIL("no nodes");
	if (n > WEIR_LB_MAX_NODES)
		LB_FAIL("%zu nodes, at most %u", n, WEIR_LB_MAX_NODES);
	if (!weights || !ids)
		LB_FAIL("no %s given", !weights ? "weights" : "node ids");
	for (i = 0; i < n; i++)
		if (weights[i] > WEIR_LB_WEIGHT_MAX)
			LB_FAIL("node %zu: weight %u above %u", i, weights[i], WEIR_LB_WEIGHT_MAX);

	lb = calloc(1, sizeof(*lb));
	if (!lb)
		LB_FAIL("out of memory");
	lb->kind = kind;
	lb->n = (uint32_t)n;
	lb->weight = malloc(n * sizeof(*lb->weight));
	lb->id = malloc(n * sizeof(*lb->id));
	lb->by_id = malloc(n * sizeof(*lb->by_id));
	lb->act = calloc(n, sizeof(*lb->act));
	if (!lb->weight || !lb->id || !lb->by_id || !lb->act)
		LB_FAIL("out of memory");
	memcpy(lb->weight, weights, n * sizeof(*lb->weight));
	memcpy(lb->id, ids, n * sizeof(*lb->id));
	for (i = 0; i < n; i++) {
		lb->by_id[i] = (struct lb_id){ .id = ids[i], .node = (uint32_t)i };
		lb->n_live += weights[i] > 0;
	}
	qsort(lb->by_id, n, sizeof(*lb->by_id), lb_id_cmp);
	for (i = 1; i < n; i++)
		if (lb->by_id[i].id == lb->by_id[i - 1].id)
			LB_FAIL("nodes %u and %u have the same id (one address listed twice?)",
				lb->by_id[i - 1].node, lb->by_id[i].node);
	if (kind == WEIR_LB_CHASH && lb_ring_build(lb))
		LB_FAIL("out of memory for the hash ring");
	return lb;
fail:
	weir_lb_free(lb);
	return NULL;
#undef LB_FAIL
}

void weir_lb_free(struct weir_lb *lb)
{
	if (!lb)
		return;
	free(lb->ring_node);
	free(lb->ring_hash);
	free(lb->act);
	free(lb->by_id);
	free(lb->id);
	free(lb->weight);
	free(lb);
}

size_t weir_lb_nodes(const struct weir_lb *lb)
{
	return lb->n;
}

size_t weir_lb_ring_points(const struct weir_lb *lb)
{
	return lb->ring_len;
}

/* ---- per-worker state ---- */

struct weir_lb_state *weir_lb_state_new(const struct weir_lb *lb)
{
	size_t size = sizeof(struct weir_lb_state) + lb->n * sizeof(struct weir_lb_peer);
	struct weir_lb_state *st;

	size = (size + LB_CACHELINE - 1) & ~(size_t)(LB_CACHELINE - 1);
	st = aligned_alloc(LB_CACHELINE, size);
	if (!st)
		return NULL;
	memset(st, 0, size);
	st->n = lb->n;
	return st;
}

void weir_lb_state_free(struct weir_lb_state *st)
{
	free(st);
}

/* The node of lb with this id, or -1. */
static int lb_find_id(const struct weir_lb *lb, uint64_t id)
{
	size_t lo = 0, hi = lb->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (lb->by_id[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < lb->n && lb->by_id[lo].id == id ? (int)lb->by_id[lo].node : -1;
}

void weir_lb_state_carry(const struct weir_lb *to_lb, struct weir_lb_state *to,
			 const struct weir_lb *from_lb, const struct weir_lb_state *from)
{
	if (to->n != to_lb->n || from->n != from_lb->n)
		return;
	for (uint32_t i = 0; i < to_lb->n; i++) {
		int k = lb_find_id(from_lb, to_lb->id[i]);

		if (k >= 0) {
			const struct weir_lb_peer *f = &from->peer[k];
			struct weir_lb_peer *t = &to->peer[i];

			t->eject_until = f->eject_until;
			t->window_start = f->window_start;
			t->fails = f->fails;
		}
	}
}

static inline bool lb_bit(const uint64_t *map, unsigned i)
{
	return map && (map[i >> 6] >> (i & 63)) & 1;
}

static inline bool lb_ejected(const struct weir_lb_peer *p, uint64_t now)
{
	return now < p->eject_until;
}

static inline bool lb_active_down(const struct weir_lb *lb, uint32_t i)
{
	return __atomic_load_n(&lb->act[i].down, __ATOMIC_RELAXED);
}

/* Not to be picked but in panic mode: ejected, or down by active checks. */
static inline bool lb_out(const struct weir_lb *lb, const struct weir_lb_state *st, uint32_t i,
			  uint64_t now)
{
	return lb_ejected(&st->peer[i], now) || lb_active_down(lb, i);
}

/* ---- round robin ---- */

/* nginx's ngx_http_upstream_get_peer(): every usable node's current weight
 * grows by its weight, the largest (the first of equals) is picked and
 * drops by the sum of what was added. Over any run of total-weight picks
 * with the same usable nodes each node is picked exactly weight times, and
 * heavy nodes are interleaved with light ones rather than picked in bursts.
 * Sets *ejected when a node was passed over only for being ejected. */
static int lb_swrr(const struct weir_lb *lb, struct weir_lb_state *st, const uint64_t *avoid,
		   uint64_t now, bool panic, bool *ejected)
{
	int64_t total = 0;
	int best = -1;

	for (uint32_t i = 0; i < lb->n; i++) {
		struct weir_lb_peer *p = &st->peer[i];
		uint32_t w = lb->weight[i];

		if (!w || lb_bit(avoid, i))
			continue;
		if (!panic && lb_out(lb, st, i, now)) {
			*ejected = true;
			continue;
		}
		p->current += w;
		total += w;
		if (best < 0 || p->current > st->peer[best].current)
			best = (int)i;
	}
	if (best >= 0)
		st->peer[best].current -= total;
	return best;
}

/* ---- least connections ---- */

/* nginx's least_conn: the fewest connections per unit of weight
 * (a/wa < b/wb compared as a*wb < b*wa, exact in 64 bits), and smooth WRR
 * among the nodes tied for it so that equally loaded nodes still rotate. */
static int lb_leastconn(const struct weir_lb *lb, struct weir_lb_state *st, const uint64_t *avoid,
			uint64_t now, bool panic, bool *ejected)
{
	uint64_t ba = 0, bw = 0;
	int64_t total = 0;
	bool many = false;
	int best = -1, pick = -1;
	uint32_t i;

	for (i = 0; i < lb->n; i++) {
		const struct weir_lb_peer *p = &st->peer[i];
		uint64_t w = lb->weight[i];

		if (!w || lb_bit(avoid, i))
			continue;
		if (!panic && lb_out(lb, st, i, now)) {
			*ejected = true;
			continue;
		}
		if (best < 0 || p->active * bw < ba * w) {
			best = (int)i;
			ba = p->active;
			bw = w;
			many = false;
		} else if (p->active * bw == ba * w) {
			many = true;
		}
	}
	if (!many)
		return best;
	for (i = (uint32_t)best; i < lb->n; i++) {
		struct weir_lb_peer *p = &st->peer[i];
		uint64_t w = lb->weight[i];

		if (!w || lb_bit(avoid, i) || (!panic && lb_out(lb, st, i, now)))
			continue;
		if (p->active * bw != ba * w)
			continue;
		p->current += (int64_t)w;
		total += (int64_t)w;
		if (pick < 0 || p->current > st->peer[pick].current)
			pick = (int)i;
	}
	st->peer[pick].current -= total;
	return pick;
}

/* ---- consistent hash ---- */

/* The first point >= h, wrapping to 0 past the last; branch-free halving. */
static uint32_t lb_ring_find(const struct weir_lb *lb, uint64_t h)
{
	const uint64_t *base = lb->ring_hash;
	uint32_t n = lb->ring_len, pos;

	while (n > 1) {
		uint32_t half = n / 2;

		base = base[half] < h ? base + half : base;
		n -= half;
	}
	pos = (uint32_t)(base - lb->ring_hash) + (*base < h);
	return pos == lb->ring_len ? 0 : pos;
}

/* The key's node, or when it is avoided or ejected the next distinct usable
 * node clockwise. Because a node's points are scattered, the keys of an
 * unusable node spread over the others instead of all landing on one
 * neighbour. Stops once every live node was seen; then returns the first
 * non-avoided one met (panic mode), or -1. */
static int lb_chash(const struct weir_lb *lb, struct weir_lb_state *st, uint64_t key,
		    const uint64_t *avoid, uint64_t now)
{
	uint64_t seen[LB_WORDS];
	uint32_t pos, distinct = 0;
	int panic = -1;
	unsigned i;

	if (!lb->ring_len)
		return -1;
	pos = lb_ring_find(lb, lb_fmix(key ^ LB_K0));
	i = lb->ring_node[pos];
	if (!lb_bit(avoid, i) && !lb_out(lb, st, i, now))
		return (int)i;

	memset(seen, 0, ((lb->n + 63) / 64) * sizeof(seen[0]));
	for (uint32_t k = 0; k < lb->ring_len; k++) {
		i = lb->ring_node[pos];
		if (++pos == lb->ring_len)
			pos = 0;
		if (lb_bit(seen, i))
			continue;
		seen[i >> 6] |= 1ull << (i & 63);
		if (!lb_bit(avoid, i)) {
			if (!lb_out(lb, st, i, now))
				return (int)i;
			if (panic < 0)
				panic = (int)i;
		}
		if (++distinct == lb->n_live)
			break;
	}
	return panic;
}

/* ---- picking ---- */

int weir_lb_pick(const struct weir_lb *lb, struct weir_lb_state *st, uint64_t key,
		 uint64_t now_ms, const uint16_t *avoid, size_t n_avoid)
{
	uint64_t map[LB_WORDS];
	const uint64_t *av = NULL;
	bool ejected = false;
	int node = -1;

	if (n_avoid) {
		memset(map, 0, ((lb->n + 63) / 64) * sizeof(map[0]));
		for (size_t k = 0; k < n_avoid; k++)
			if (avoid[k] < lb->n)
				map[avoid[k] >> 6] |= 1ull << (avoid[k] & 63);
		av = map;
	}

	switch (lb->kind) {
	case WEIR_LB_ROUNDROBIN:
		node = lb_swrr(lb, st, av, now_ms, false, &ejected);
		if (node < 0 && ejected)
			node = lb_swrr(lb, st, av, now_ms, true, &ejected);
		break;
	case WEIR_LB_LEASTCONN:
		node = lb_leastconn(lb, st, av, now_ms, false, &ejected);
		if (node < 0 && ejected)
			node = lb_leastconn(lb, st, av, now_ms, true, &ejected);
		break;
	case WEIR_LB_CHASH:
		node = lb_chash(lb, st, key, av, now_ms);
		break;
	}
	return node;
}

void weir_lb_conn_start(struct weir_lb_state *st, int node)
{
	if (node >= 0 && (uint32_t)node < st->n)
		st->peer[node].active++;
}

/* An unmatched end is a caller's bug; it must not wrap the count to 2^32
 * and keep the node from being picked. */
void weir_lb_conn_end(struct weir_lb_state *st, int node)
{
	if (node >= 0 && (uint32_t)node < st->n && st->peer[node].active)
		st->peer[node].active--;
}

/* ---- passive health ---- */

void weir_lb_report(struct weir_lb_state *st, int node, bool failed, uint64_t now_ms,
		    uint32_t max_fails, uint32_t window_ms, uint32_t eject_ms)
{
	struct weir_lb_peer *p;

	if (node < 0 || (uint32_t)node >= st->n)
		return;
	p = &st->peer[node];
	if (p->eject_until) {
		if (lb_ejected(p, now_ms))
			return;
		/* probation: this outcome decides */
		p->eject_until = 0;
		p->fails = 0;
		if (failed && max_fails)
			p->eject_until = now_ms + eject_ms;
		return;
	}
	if (!failed || !max_fails)
		return;
	if (!p->fails || now_ms - p->window_start >= window_ms) {
		p->window_start = now_ms;
		p->fails = 0;
	}
	if (++p->fails >= max_fails) {
		p->eject_until = now_ms + eject_ms;
		p->fails = 0;
	}
}

bool weir_lb_ejected(const struct weir_lb_state *st, int node, uint64_t now_ms)
{
	return node >= 0 && (uint32_t)node < st->n && lb_ejected(&st->peer[node], now_ms);
}

bool weir_lb_ejected_peek(const struct weir_lb_state *st, int node, uint64_t now_ms)
{
	return node >= 0 && (uint32_t)node < st->n &&
	       now_ms < __atomic_load_n(&st->peer[node].eject_until, __ATOMIC_RELAXED);
}

/* ---- active health ---- */

bool weir_lb_active_report(struct weir_lb *lb, int node, bool ok, uint32_t rise, uint32_t fall)
{
	struct lb_active *a;
	uint8_t down;
	uint32_t run;

	if (node < 0 || (uint32_t)node >= lb->n)
		return false;
	a = &lb->act[node];
	down = __atomic_load_n(&a->down, __ATOMIC_RELAXED);
	if (ok != (bool)down) {
		/* the outcome agrees with the verdict: any run against it ends
		 * (written only when there is one: every worker reads this line) */
		if (__atomic_load_n(&a->run, __ATOMIC_RELAXED))
			__atomic_store_n(&a->run, 0, __ATOMIC_RELAXED);
		return false;
	}
	run = __atomic_load_n(&a->run, __ATOMIC_RELAXED) + 1;
	if (run < (down ? rise : fall)) {
		__atomic_store_n(&a->run, run, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_store_n(&a->run, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&a->down, (uint8_t)!down, __ATOMIC_RELAXED);
	return true;
}

bool weir_lb_active_down(const struct weir_lb *lb, int node)
{
	return node >= 0 && (uint32_t)node < lb->n && lb_active_down(lb, (uint32_t)node);
}

void weir_lb_active_carry(struct weir_lb *to, const struct weir_lb *from)
{
	for (uint32_t i = 0; i < to->n; i++) {
		int k = lb_find_id(from, to->id[i]);

		if (k < 0)
			continue;
		__atomic_store_n(&to->act[i].run,
				 __atomic_load_n(&from->act[k].run, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		__atomic_store_n(&to->act[i].down,
				 __atomic_load_n(&from->act[k].down, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	}
}
