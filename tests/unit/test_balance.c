/* tests/unit/test_balance.c - the upstream balancer (userspace/balance.c):
 * nginx's smooth WRR sequence and exact shares, least connections by load,
 * weight and rotation, the consistent-hash ring's stability, spread and
 * bounded key movement, passive health windows, probation and panic mode,
 * active health thresholds, verdicts and their carry over a reload, input
 * validation, and weir_hash64's avalanche.
 *
 * Every test is deterministic: keys come from a fixed-seed splitmix64 and
 * time is a number the test moves. Tolerances on the ring are several
 * standard deviations wide for the fixed node ids used here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "userspace/balance.h"

#define MAX_FAILS	3
#define WINDOW		10000
#define EJECT		30000

static const enum weir_lb_kind kinds[] = { WEIR_LB_ROUNDROBIN, WEIR_LB_LEASTCONN, WEIR_LB_CHASH };
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The identity the daemon gives node "10.0.0.<i+1>:8080". */
static uint64_t node_id(unsigned i)
{
	char text[32];
	int len = snprintf(text, sizeof(text), "10.0.0.%u:8080", i + 1);

	return weir_hash64(text, (size_t)len, 0);
}

static struct weir_lb *mk(enum weir_lb_kind kind, const uint32_t *w, size_t n)
{
	uint64_t ids[WEIR_LB_MAX_NODES];
	char err[128] = "";
	struct weir_lb *lb;

	for (size_t i = 0; i < n; i++)
		ids[i] = node_id((unsigned)i);
	lb = weir_lb_new(kind, w, ids, n, err, sizeof(err));
	if (!lb)
		fail_msg("weir_lb_new: %s", err);
	return lb;
}

static void eject(struct weir_lb_state *st, int node, uint64_t now)
{
	for (int k = 0; k < MAX_FAILS; k++)
		weir_lb_report(st, node, true, now, MAX_FAILS, WINDOW, EJECT);
	assert_true(weir_lb_ejected(st, node, now));
}

/* ---- weir_hash64 ---- */

static void test_hash(void **state)
{
	uint64_t s = 1, flips = 0, trials = 0;
	unsigned char b[40];

	/* Pinned: the ring of every gateway depends on it, so a change would
	 * move keys between gateways running different versions. */
	assert_int_equal(weir_hash64("10.0.0.1:8080", 13, 0), 0xcc57c5abd4041c54ull);
	assert_int_equal(weir_hash64("abc", 3, 0), weir_hash64("abc", 3, 0));
	assert_int_not_equal(weir_hash64("abc", 3, 0), weir_hash64("abc", 3, 1));
	assert_int_not_equal(weir_hash64("a", 1, 0), weir_hash64("a\0", 2, 0));
	assert_int_not_equal(weir_hash64("", 0, 0), weir_hash64("", 0, 1));

	/* Avalanche: one flipped input bit flips half the output bits. */
	for (size_t len = 1; len <= sizeof(b); len++) {
		for (int t = 0; t < 50; t++) {
			for (size_t i = 0; i < sizeof(b); i++)
				b[i] = (unsigned char)rnd(&s);
			uint64_t h = weir_hash64(b, len, 7);

			for (size_t bit = 0; bit < len * 8; bit++) {
				b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
				flips += (uint64_t)__builtin_popcountll(h ^ weir_hash64(b, len, 7));
				b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
				trials++;
			}
		}
	}
	assert_in_range(flips * 1000 / trials, 31800, 32200);
}

/* ---- construction ---- */

static void test_new_rejects(void **state)
{
	uint32_t w[WEIR_LB_MAX_NODES + 1];
	uint64_t ids[WEIR_LB_MAX_NODES + 1];
	char err[128];

	for (unsigned i = 0; i <= WEIR_LB_MAX_NODES; i++) {
		w[i] = 1;
		ids[i] = node_id(i);
	}
	for (size_t k = 0; k < N_KINDS; k++) {
		err[0] = 0;
		assert_null(weir_lb_new(kinds[k], w, ids, 0, err, sizeof(err)));
		assert_non_null(strstr(err, "no nodes"));

		err[0] = 0;
		assert_null(weir_lb_new(kinds[k], w, ids, WEIR_LB_MAX_NODES + 1, err, sizeof(err)));
		assert_non_null(strstr(err, "1025 nodes, at most 1024"));

		w[2] = WEIR_LB_WEIGHT_MAX + 1;
		err[0] = 0;
		assert_null(weir_lb_new(kinds[k], w, ids, 4, err, sizeof(err)));
		assert_non_null(strstr(err, "node 2: weight 1000001 above 1000000"));
		w[2] = 1;

		ids[3] = ids[1];
		err[0] = 0;
		assert_null(weir_lb_new(kinds[k], w, ids, 4, err, sizeof(err)));
		assert_non_null(strstr(err, "nodes 1 and 3 have the same id"));
		ids[3] = node_id(3);

		err[0] = 0;
		assert_null(weir_lb_new(kinds[k], NULL, ids, 4, err, sizeof(err)));
		assert_non_null(strstr(err, "weights"));
		err[0] = 0;
		assert_null(weir_lb_new(kinds[k], w, NULL, 4, err, sizeof(err)));
		assert_non_null(strstr(err, "ids"));
	}
	err[0] = 0;
	assert_null(weir_lb_new((enum weir_lb_kind)7, w, ids, 4, err, sizeof(err)));
	assert_non_null(strstr(err, "unknown balancing method"));
	/* no error buffer: still rejected, nothing written */
	assert_null(weir_lb_new(WEIR_LB_CHASH, w, ids, 0, NULL, 0));

	/* the limits themselves are accepted */
	w[0] = WEIR_LB_WEIGHT_MAX;
	for (size_t k = 0; k < N_KINDS; k++) {
		struct weir_lb *lb = weir_lb_new(kinds[k], w, ids, WEIR_LB_MAX_NODES, err, sizeof(err));

		assert_non_null(lb);
		assert_int_equal(weir_lb_nodes(lb), WEIR_LB_MAX_NODES);
		weir_lb_free(lb);
	}
}

/* Every node drained is a valid state of an upstream: nothing to pick. */
static void test_all_drained(void **state)
{
	const uint32_t w[3] = { 0, 0, 0 };

	for (size_t k = 0; k < N_KINDS; k++) {
		struct weir_lb *lb = mk(kinds[k], w, 3);
		struct weir_lb_state *st = weir_lb_state_new(lb);

		assert_int_equal(weir_lb_ring_points(lb), 0);
		for (uint64_t key = 0; key < 100; key++)
			assert_int_equal(weir_lb_pick(lb, st, key, 0, NULL, 0), -1);
		weir_lb_state_free(st);
		weir_lb_free(lb);
	}
}

/* ---- round robin ---- */

/* nginx's documented sequence for weights 5/1/1 (ngx_http_upstream_round_robin.c). */
static void test_rr_nginx_sequence(void **state)
{
	const uint32_t w[3] = { 5, 1, 1 };
	const char *want = "aabacaaaabacaa";
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 3);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	char got[15] = "";

	for (int i = 0; i < 14; i++)
		got[i] = (char)('a' + weir_lb_pick(lb, st, 0, 0, NULL, 0));
	assert_string_equal(got, want);
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* Any run of total-weight picks gives each node exactly its weight. */
static void test_rr_exact_shares(void **state)
{
	const uint32_t w[5] = { 3, 2, 1, 0, 4 };
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 5);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	unsigned cnt[5] = { 0 };

	for (int cycle = 0; cycle < 1000; cycle++) {
		unsigned c[5] = { 0 };

		for (int i = 0; i < 10; i++)
			c[weir_lb_pick(lb, st, 0, 0, NULL, 0)]++;
		for (int i = 0; i < 5; i++) {
			assert_int_equal(c[i], w[i]);
			cnt[i] += c[i];
		}
	}
	assert_int_equal(cnt[0], 3000);
	assert_int_equal(cnt[3], 0);
	assert_int_equal(cnt[4], 4000);
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* Weight 0 is never picked by any kind, whatever the key, even when every
 * other node is ejected (panic mode does not undrain). */
static void test_weight_zero_never_picked(void **state)
{
	const uint32_t w[4] = { 0, 1, 0, 2 };
	uint64_t s = 2;

	for (size_t k = 0; k < N_KINDS; k++) {
		struct weir_lb *lb = mk(kinds[k], w, 4);
		struct weir_lb_state *st = weir_lb_state_new(lb);

		for (int i = 0; i < 10000; i++) {
			int n = weir_lb_pick(lb, st, rnd(&s), 0, NULL, 0);

			assert_true(n == 1 || n == 3);
		}
		eject(st, 1, 0);
		eject(st, 3, 0);
		for (int i = 0; i < 1000; i++) {
			int n = weir_lb_pick(lb, st, rnd(&s), 1, NULL, 0);

			assert_true(n == 1 || n == 3);
		}
		weir_lb_state_free(st);
		weir_lb_free(lb);
	}
}

/* A retry never goes to a node already tried; out-of-range entries are
 * ignored; with every live node tried there is nothing to pick. */
static void test_avoid(void **state)
{
	const uint32_t w[4] = { 1, 1, 1, 1 };
	const uint16_t av1[] = { 1, 5000 }, av02[] = { 0, 2 }, all[] = { 3, 2, 1, 0 };
	uint64_t s = 3;

	for (size_t k = 0; k < N_KINDS; k++) {
		struct weir_lb *lb = mk(kinds[k], w, 4);
		struct weir_lb_state *st = weir_lb_state_new(lb);
		unsigned cnt[4] = { 0 };

		for (int i = 0; i < 3000; i++)
			cnt[weir_lb_pick(lb, st, rnd(&s), 0, av1, 2)]++;
		assert_int_equal(cnt[1], 0);
		for (int i = 0; i < 4; i++)
			if (i != 1)
				assert_in_range(cnt[i], 700, 1300);
		for (uint64_t key = 0; key < 1000; key++)
			assert_int_equal(weir_lb_pick(lb, st, key, 0, all, 4), -1);
		weir_lb_state_free(st);
		weir_lb_free(lb);
	}

	/* round robin alternates over what is left */
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 4);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	int prev = -1;

	for (int i = 0; i < 20; i++) {
		int n = weir_lb_pick(lb, st, 0, 0, av02, 2);

		assert_true(n == 1 || n == 3);
		assert_int_not_equal(n, prev);
		prev = n;
	}
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* ---- least connections ---- */

static void test_lc_least_loaded(void **state)
{
	const uint32_t w[4] = { 1, 1, 1, 1 };
	const unsigned active[4] = { 3, 1, 2, 5 };
	struct weir_lb *lb = mk(WEIR_LB_LEASTCONN, w, 4);
	struct weir_lb_state *st = weir_lb_state_new(lb);

	for (int i = 0; i < 4; i++)
		for (unsigned c = 0; c < active[i]; c++)
			weir_lb_conn_start(st, i);
	for (int i = 0; i < 5; i++)
		assert_int_equal(weir_lb_pick(lb, st, 0, 0, NULL, 0), 1);
	weir_lb_conn_start(st, 1);
	weir_lb_conn_start(st, 1);		/* 3 3 2 5 */
	assert_int_equal(weir_lb_pick(lb, st, 0, 0, NULL, 0), 2);
	for (int c = 0; c < 3; c++)
		weir_lb_conn_end(st, 0);	/* 0 3 2 5 */
	assert_int_equal(weir_lb_pick(lb, st, 0, 0, NULL, 0), 0);
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* Equal load: smooth WRR among the tied nodes, so they still take turns. */
static void test_lc_rotates_ties(void **state)
{
	const uint32_t w4[4] = { 1, 1, 1, 1 }, w2[3] = { 2, 1, 1 };
	struct weir_lb *lb = mk(WEIR_LB_LEASTCONN, w4, 4);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	char got[13] = "";

	for (int i = 0; i < 12; i++)
		got[i] = (char)('a' + weir_lb_pick(lb, st, 0, 0, NULL, 0));
	assert_string_equal(got, "abcdabcdabcd");

	/* b and c tie at one connection each, a has two: b and c alternate */
	weir_lb_conn_start(st, 0);
	weir_lb_conn_start(st, 0);
	weir_lb_conn_start(st, 1);
	weir_lb_conn_start(st, 2);
	weir_lb_conn_start(st, 3);
	weir_lb_conn_start(st, 3);
	memset(got, 0, sizeof(got));
	for (int i = 0; i < 6; i++)
		got[i] = (char)('a' + weir_lb_pick(lb, st, 0, 0, NULL, 0));
	assert_true(!strcmp(got, "bcbcbc") || !strcmp(got, "cbcbcb"));
	weir_lb_state_free(st);
	weir_lb_free(lb);

	/* ties rotate by weight: 2/1/1 with no load is smooth WRR */
	lb = mk(WEIR_LB_LEASTCONN, w2, 3);
	st = weir_lb_state_new(lb);
	memset(got, 0, sizeof(got));
	for (int i = 0; i < 8; i++)
		got[i] = (char)('a' + weir_lb_pick(lb, st, 0, 0, NULL, 0));
	assert_string_equal(got, "abcaabca");
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* Long-lived connections settle in proportion to weight; the relative load
 * (connections / weight) decides, not the count. */
static void test_lc_weights(void **state)
{
	const uint32_t w[3] = { 1, 3, 0 };
	struct weir_lb *lb = mk(WEIR_LB_LEASTCONN, w, 3);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	unsigned cnt[3] = { 0 };

	for (int i = 0; i < 400; i++) {
		int n = weir_lb_pick(lb, st, 0, 0, NULL, 0);

		weir_lb_conn_start(st, n);
		cnt[n]++;
	}
	assert_int_equal(cnt[0], 100);
	assert_int_equal(cnt[1], 300);
	assert_int_equal(cnt[2], 0);
	/* 100/1 vs 300/3 tie; ending b's connections makes b the lighter */
	weir_lb_conn_end(st, 1);
	assert_int_equal(weir_lb_pick(lb, st, 0, 0, NULL, 0), 1);
	/* 2 connections on weight 3 beat 1 on weight 1 */
	for (int i = 0; i < 99; i++)
		weir_lb_conn_end(st, 0);
	for (int i = 0; i < 297; i++)
		weir_lb_conn_end(st, 1);
	assert_int_equal(weir_lb_pick(lb, st, 0, 0, NULL, 0), 1);
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* ---- consistent hash ---- */

#define KEYS 100000

static void test_chash_same_key(void **state)
{
	uint32_t w[10];
	uint64_t ids[10], rev[10], s = 4;
	char err[128];

	for (unsigned i = 0; i < 10; i++) {
		w[i] = 1;
		ids[i] = node_id(i);
		rev[9 - i] = ids[i];
	}
	struct weir_lb *a = weir_lb_new(WEIR_LB_CHASH, w, ids, 10, err, sizeof(err));
	struct weir_lb *b = weir_lb_new(WEIR_LB_CHASH, w, rev, 10, err, sizeof(err));
	struct weir_lb_state *sa = weir_lb_state_new(a), *sa2 = weir_lb_state_new(a);
	struct weir_lb_state *sb = weir_lb_state_new(b);

	assert_int_equal(weir_lb_ring_points(a), 10 * WEIR_LB_RING_POINTS);
	for (int i = 0; i < 10000; i++) {
		uint64_t key = rnd(&s);
		int n = weir_lb_pick(a, sa, key, 0, NULL, 0);

		assert_int_equal(weir_lb_pick(a, sa, key, 0, NULL, 0), n);
		assert_int_equal(weir_lb_pick(a, sa2, key, 0, NULL, 0), n);
		/* the node list's order does not matter: same node by identity */
		assert_int_equal(weir_lb_pick(b, sb, key, 0, NULL, 0), 9 - n);
	}
	weir_lb_state_free(sb);
	weir_lb_state_free(sa2);
	weir_lb_state_free(sa);
	weir_lb_free(b);
	weir_lb_free(a);
}

static void test_chash_distribution(void **state)
{
	uint32_t w[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct weir_lb *lb = mk(WEIR_LB_CHASH, w, 10);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	unsigned cnt[10] = { 0 };

	/* keys are sequential numbers: weak key hashes must spread too */
	for (uint64_t key = 0; key < KEYS; key++)
		cnt[weir_lb_pick(lb, st, key, 0, NULL, 0)]++;
	for (int i = 0; i < 10; i++)
		assert_in_range(cnt[i], KEYS / 10 * 85 / 100, KEYS / 10 * 115 / 100);
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* Removing node 3 of 10 (or draining it) moves its keys and no others. */
static void test_chash_remove(void **state)
{
	uint32_t w[10], wd[10];
	uint64_t ids[10], ids9[9], s = 5;
	unsigned on3 = 0, moved = 0;
	char err[128];

	for (unsigned i = 0; i < 10; i++) {
		w[i] = wd[i] = 1;
		ids[i] = node_id(i);
		if (i != 3)
			ids9[i < 3 ? i : i - 1] = ids[i];
	}
	wd[3] = 0;
	struct weir_lb *a = weir_lb_new(WEIR_LB_CHASH, w, ids, 10, err, sizeof(err));
	struct weir_lb *b = weir_lb_new(WEIR_LB_CHASH, w, ids9, 9, err, sizeof(err));
	struct weir_lb *d = weir_lb_new(WEIR_LB_CHASH, wd, ids, 10, err, sizeof(err));
	struct weir_lb_state *sa = weir_lb_state_new(a), *sb = weir_lb_state_new(b);
	struct weir_lb_state *sd = weir_lb_state_new(d);

	for (int i = 0; i < KEYS; i++) {
		uint64_t key = rnd(&s);
		int na = weir_lb_pick(a, sa, key, 0, NULL, 0);
		int nb = weir_lb_pick(b, sb, key, 0, NULL, 0);
		int nd = weir_lb_pick(d, sd, key, 0, NULL, 0);

		on3 += na == 3;
		if (ids[na] != ids9[nb]) {
			assert_int_equal(na, 3);
			moved++;
		}
		assert_int_equal(ids[nd], ids9[nb]);
	}
	assert_int_equal(moved, on3);
	assert_in_range(moved, KEYS * 7 / 100, KEYS * 13 / 100);
	weir_lb_state_free(sd);
	weir_lb_state_free(sb);
	weir_lb_state_free(sa);
	weir_lb_free(d);
	weir_lb_free(b);
	weir_lb_free(a);
}

/* Adding an 11th node moves about 1/11 of the keys, all of them to it. */
static void test_chash_add(void **state)
{
	uint32_t w[11] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct weir_lb *a = mk(WEIR_LB_CHASH, w, 10), *b = mk(WEIR_LB_CHASH, w, 11);
	struct weir_lb_state *sa = weir_lb_state_new(a), *sb = weir_lb_state_new(b);
	unsigned moved = 0;
	uint64_t s = 6;

	for (int i = 0; i < KEYS; i++) {
		uint64_t key = rnd(&s);
		int na = weir_lb_pick(a, sa, key, 0, NULL, 0);
		int nb = weir_lb_pick(b, sb, key, 0, NULL, 0);

		if (na != nb) {
			assert_int_equal(nb, 10);
			moved++;
		} else {
			assert_int_not_equal(nb, 10);
		}
	}
	assert_in_range(moved, KEYS * 6 / 100, KEYS * 13 / 100);
	weir_lb_state_free(sb);
	weir_lb_state_free(sa);
	weir_lb_free(b);
	weir_lb_free(a);
}

/* Weights 1/2/3/4 (and the same scaled by 1000: the gcd keeps the ring
 * small) take 10/20/30/40% of the keys, each within ±15% of its share. */
static void test_chash_weights(void **state)
{
	const uint32_t w[2][4] = { { 1, 2, 3, 4 }, { 1000, 2000, 3000, 4000 } };

	for (int v = 0; v < 2; v++) {
		struct weir_lb *lb = mk(WEIR_LB_CHASH, w[v], 4);
		struct weir_lb_state *st = weir_lb_state_new(lb);
		unsigned cnt[4] = { 0 };
		uint64_t s = 7;

		assert_int_equal(weir_lb_ring_points(lb), 10 * WEIR_LB_RING_POINTS);
		for (int i = 0; i < KEYS; i++)
			cnt[weir_lb_pick(lb, st, rnd(&s), 0, NULL, 0)]++;
		for (int i = 0; i < 4; i++) {
			unsigned share = KEYS / 10 * (unsigned)(i + 1);

			assert_in_range(cnt[i], share * 85 / 100, share * 115 / 100);
		}
		weir_lb_state_free(st);
		weir_lb_free(lb);
	}
}

/* A node that cannot be used (tried, or ejected) hands its keys to the next
 * nodes on the ring: the same one each time for a key, spread over many
 * nodes, and the other keys stay where they are. */
static void test_chash_failover(void **state)
{
	uint32_t w[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct weir_lb *lb = mk(WEIR_LB_CHASH, w, 10);
	struct weir_lb_state *st = weir_lb_state_new(lb), *se = weir_lb_state_new(lb);
	const uint16_t av[] = { 4 };
	unsigned heirs[10] = { 0 }, n_heirs = 0;
	uint64_t s = 8;

	eject(se, 4, 0);
	for (int i = 0; i < 20000; i++) {
		uint64_t key = rnd(&s);
		int n = weir_lb_pick(lb, st, key, 0, NULL, 0);
		int na = weir_lb_pick(lb, st, key, 0, av, 1);
		int ne = weir_lb_pick(lb, se, key, 1, NULL, 0);

		assert_int_not_equal(na, 4);
		assert_int_equal(ne, na);
		assert_int_equal(weir_lb_pick(lb, st, key, 0, av, 1), na);
		if (n != 4)
			assert_int_equal(na, n);
		else
			heirs[na]++;
		/* after the ejection the node has its keys back */
		assert_int_equal(weir_lb_pick(lb, se, key, EJECT, NULL, 0), n);
	}
	for (int i = 0; i < 10; i++)
		n_heirs += heirs[i] > 0;
	assert_true(n_heirs >= 7);
	weir_lb_state_free(se);
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* The ring stays bounded whatever the weights, and every live node is on it. */
static void test_chash_ring_size(void **state)
{
	static uint32_t w[WEIR_LB_MAX_NODES];
	struct weir_lb *lb;
	struct weir_lb_state *st;
	size_t pts;

	for (unsigned i = 0; i < WEIR_LB_MAX_NODES; i++)
		w[i] = WEIR_LB_WEIGHT_MAX;
	lb = mk(WEIR_LB_CHASH, w, WEIR_LB_MAX_NODES);
	assert_int_equal(weir_lb_ring_points(lb), WEIR_LB_MAX_NODES * WEIR_LB_RING_POINTS);
	weir_lb_free(lb);

	/* coprime weights up to the maximum: scaled down, each node keeps a point */
	for (unsigned i = 0; i < WEIR_LB_MAX_NODES; i++)
		w[i] = i == 0 ? 1 : WEIR_LB_WEIGHT_MAX - i;
	lb = mk(WEIR_LB_CHASH, w, WEIR_LB_MAX_NODES);
	pts = weir_lb_ring_points(lb);
	assert_true(pts <= WEIR_LB_RING_MAX + WEIR_LB_MAX_NODES);
	assert_true(pts >= WEIR_LB_RING_MAX / 2);
	st = weir_lb_state_new(lb);
	/* node 0 has the least weight and one point; avoiding everything else
	 * must still find it */
	static uint16_t av[WEIR_LB_MAX_NODES - 1];

	for (unsigned i = 1; i < WEIR_LB_MAX_NODES; i++)
		av[i - 1] = (uint16_t)i;
	assert_int_equal(weir_lb_pick(lb, st, 12345, 0, av, WEIR_LB_MAX_NODES - 1), 0);
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* ---- passive health ---- */

static void test_health_window_ejects(void **state)
{
	const uint32_t w[2] = { 1, 1 };
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 2);
	struct weir_lb_state *st = weir_lb_state_new(lb);

	weir_lb_report(st, 0, true, 1000, MAX_FAILS, WINDOW, EJECT);
	weir_lb_report(st, 0, true, 2000, MAX_FAILS, WINDOW, EJECT);
	assert_false(weir_lb_ejected(st, 0, 2000));
	weir_lb_report(st, 0, true, 10999, MAX_FAILS, WINDOW, EJECT);	/* last ms of the window */
	assert_true(weir_lb_ejected(st, 0, 10999));
	assert_true(weir_lb_ejected(st, 0, 10999 + EJECT - 1));
	assert_false(weir_lb_ejected(st, 0, 10999 + EJECT));	/* ejection ends */
	assert_false(weir_lb_ejected(st, 1, 10999));
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* Failures further apart than the window never add up; the window rolls
 * on to the next failure after it closes. */
static void test_health_outside_window(void **state)
{
	const uint32_t w[1] = { 1 };
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 1);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	uint64_t t;

	for (t = 0; t < 10 * WINDOW; t += WINDOW / 2 + 1) {
		weir_lb_report(st, 0, true, t, MAX_FAILS, WINDOW, EJECT);
		assert_false(weir_lb_ejected(st, 0, t));
	}
	/* three inside one window eject */
	for (uint64_t u = t; u < t + 3; u++)
		weir_lb_report(st, 0, true, u, MAX_FAILS, WINDOW, EJECT);
	assert_true(weir_lb_ejected(st, 0, t + 2));
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

static void test_health_success_keeps_failures(void **state)
{
	const uint32_t w[1] = { 1 };
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 1);
	struct weir_lb_state *st = weir_lb_state_new(lb);

	for (uint64_t t = 100; t < 600; t += 100) {
		weir_lb_report(st, 0, !(t % 200 == 0), t, MAX_FAILS, WINDOW, EJECT);
		weir_lb_report(st, 0, false, t + 1, MAX_FAILS, WINDOW, EJECT);
	}
	assert_true(weir_lb_ejected(st, 0, 500));
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* After an ejection the first outcome decides: a failure ejects again at
 * once, a success restores the node and the count starts over. Outcomes
 * during the ejection change nothing. */
static void test_health_probation(void **state)
{
	const uint32_t w[1] = { 1 };
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 1);
	struct weir_lb_state *st = weir_lb_state_new(lb);
	uint64_t t = 1000;

	eject(st, 0, t);
	weir_lb_report(st, 0, false, t + 10, MAX_FAILS, WINDOW, EJECT);
	assert_true(weir_lb_ejected(st, 0, t + 10));
	for (int i = 0; i < 10; i++)
		weir_lb_report(st, 0, true, t + 20, MAX_FAILS, WINDOW, EJECT);
	assert_false(weir_lb_ejected(st, 0, t + EJECT));	/* not extended */

	t += EJECT;
	weir_lb_report(st, 0, true, t, MAX_FAILS, WINDOW, EJECT);
	assert_true(weir_lb_ejected(st, 0, t));
	assert_false(weir_lb_ejected(st, 0, t + EJECT));

	t += EJECT;
	weir_lb_report(st, 0, false, t, MAX_FAILS, WINDOW, EJECT);
	weir_lb_report(st, 0, true, t + 1, MAX_FAILS, WINDOW, EJECT);
	weir_lb_report(st, 0, true, t + 2, MAX_FAILS, WINDOW, EJECT);
	assert_false(weir_lb_ejected(st, 0, t + 2));
	weir_lb_report(st, 0, true, t + 3, MAX_FAILS, WINDOW, EJECT);
	assert_true(weir_lb_ejected(st, 0, t + 3));
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

static void test_health_max_fails_zero(void **state)
{
	const uint32_t w[1] = { 1 };
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 1);
	struct weir_lb_state *st = weir_lb_state_new(lb);

	for (uint64_t t = 0; t < 1000; t++)
		weir_lb_report(st, 0, true, t, 0, WINDOW, EJECT);
	assert_false(weir_lb_ejected(st, 0, 999));
	weir_lb_state_free(st);
	weir_lb_free(lb);
}

/* Every kind skips an ejected node while healthy ones remain, and takes it
 * back when the ejection ends. */
static void test_ejected_skipped(void **state)
{
	const uint32_t w[4] = { 1, 1, 1, 1 };
	uint64_t s = 9;

	for (size_t k = 0; k < N_KINDS; k++) {
		struct weir_lb *lb = mk(kinds[k], w, 4);
		struct weir_lb_state *st = weir_lb_state_new(lb);
		unsigned cnt[4] = { 0 };

		eject(st, 2, 0);
		for (int i = 0; i < 3000; i++)
			cnt[weir_lb_pick(lb, st, rnd(&s), EJECT - 1, NULL, 0)]++;
		assert_int_equal(cnt[2], 0);
		for (int i = 0; i < 4; i++)
			if (i != 2)
				assert_in_range(cnt[i], 700, 1300);
		memset(cnt, 0, sizeof(cnt));
		for (int i = 0; i < 4000; i++)
			cnt[weir_lb_pick(lb, st, rnd(&s), EJECT, NULL, 0)]++;
		assert_in_range(cnt[2], 700, 1300);
		weir_lb_state_free(st);
		weir_lb_free(lb);
	}
}

/* When every node left is ejected, traffic still flows to them (spread as
 * usual), never to a node the request already tried. */
static void test_panic(void **state)
{
	const uint32_t w[3] = { 1, 1, 1 };
	const uint16_t av0[] = { 0 };
	uint64_t s = 10;

	for (size_t k = 0; k < N_KINDS; k++) {
		struct weir_lb *lb = mk(kinds[k], w, 3);
		struct weir_lb_state *st = weir_lb_state_new(lb);
		unsigned cnt[3] = { 0 };

		for (int i = 0; i < 3; i++)
			eject(st, i, 0);
		for (int i = 0; i < 3000; i++)
			cnt[weir_lb_pick(lb, st, rnd(&s), 1, NULL, 0)]++;
		for (int i = 0; i < 3; i++)
			assert_in_range(cnt[i], 800, 1200);

		/* 0 tried, 1 and 2 ejected: panic among 1 and 2 */
		for (int i = 0; i < 1000; i++) {
			int n = weir_lb_pick(lb, st, rnd(&s), 1, av0, 1);

			assert_true(n == 1 || n == 2);
		}
		weir_lb_state_free(st);

		/* 0 tried, 1 ejected, 2 healthy: no panic, always 2 */
		st = weir_lb_state_new(lb);
		eject(st, 1, 0);
		for (int i = 0; i < 1000; i++)
			assert_int_equal(weir_lb_pick(lb, st, rnd(&s), 1, av0, 1), 2);
		weir_lb_state_free(st);
		weir_lb_free(lb);
	}
}

/* ---- state ---- */

/* A reload keeps what the worker learned about nodes that stay. */
static void test_state_carry(void **state)
{
	const uint32_t w[3] = { 1, 1, 1 };
	uint64_t old_ids[3] = { node_id(0), node_id(1), node_id(2) };
	uint64_t new_ids[3] = { node_id(2), node_id(1), node_id(7) };
	char err[128];
	struct weir_lb *a = weir_lb_new(WEIR_LB_ROUNDROBIN, w, old_ids, 3, err, sizeof(err));
	struct weir_lb *b = weir_lb_new(WEIR_LB_CHASH, w, new_ids, 3, err, sizeof(err));
	struct weir_lb_state *sa = weir_lb_state_new(a), *sb = weir_lb_state_new(b);

	eject(sa, 1, 100);
	weir_lb_report(sa, 2, true, 200, MAX_FAILS, WINDOW, EJECT);
	weir_lb_report(sa, 2, true, 300, MAX_FAILS, WINDOW, EJECT);
	weir_lb_conn_start(sa, 2);
	weir_lb_state_carry(b, sb, a, sa);

	assert_true(weir_lb_ejected(sb, 1, 400));
	assert_false(weir_lb_ejected(sb, 1, 100 + EJECT));
	assert_false(weir_lb_ejected(sb, 0, 400));
	weir_lb_report(sb, 0, true, 400, MAX_FAILS, WINDOW, EJECT);	/* third in the window */
	assert_true(weir_lb_ejected(sb, 0, 400));
	weir_lb_report(sb, 2, true, 400, MAX_FAILS, WINDOW, EJECT);	/* new node: a fresh count */
	assert_false(weir_lb_ejected(sb, 2, 400));
	weir_lb_state_free(sb);
	weir_lb_state_free(sa);
	weir_lb_free(b);
	weir_lb_free(a);
}

/* ---- active health ---- */

#define RISE 2
#define FALL 3

/* unhealthy_threshold failures in a row take a node down, healthy_threshold
 * successes in a row bring it back; a run broken by the other outcome
 * starts over. Only a change of verdict is reported as one. */
static void test_active_thresholds(void **state)
{
	const uint32_t w[2] = { 1, 1 };
	struct weir_lb *lb = mk(WEIR_LB_ROUNDROBIN, w, 2);

	assert_false(weir_lb_active_down(lb, 0));	/* nodes start up */
	assert_false(weir_lb_active_report(lb, 0, false, RISE, FALL));
	assert_false(weir_lb_active_report(lb, 0, false, RISE, FALL));
	assert_false(weir_lb_active_report(lb, 0, true, RISE, FALL));	/* breaks the run */
	assert_false(weir_lb_active_report(lb, 0, false, RISE, FALL));
	assert_false(weir_lb_active_report(lb, 0, false, RISE, FALL));
	assert_false(weir_lb_active_down(lb, 0));
	assert_true(weir_lb_active_report(lb, 0, false, RISE, FALL));	/* third in a row */
	assert_true(weir_lb_active_down(lb, 0));
	assert_false(weir_lb_active_down(lb, 1));
	assert_false(weir_lb_active_report(lb, 0, false, RISE, FALL));	/* still down */
	assert_false(weir_lb_active_report(lb, 0, true, RISE, FALL));
	assert_false(weir_lb_active_report(lb, 0, false, RISE, FALL));	/* breaks it */
	assert_false(weir_lb_active_report(lb, 0, true, RISE, FALL));
	assert_true(weir_lb_active_down(lb, 0));
	assert_true(weir_lb_active_report(lb, 0, true, RISE, FALL));	/* second in a row */
	assert_false(weir_lb_active_down(lb, 0));
	assert_false(weir_lb_active_report(lb, 0, true, RISE, FALL));

	/* thresholds of 1: every outcome decides */
	assert_true(weir_lb_active_report(lb, 1, false, 1, 1));
	assert_true(weir_lb_active_down(lb, 1));
	assert_true(weir_lb_active_report(lb, 1, true, 1, 1));
	assert_false(weir_lb_active_down(lb, 1));

	/* out of range: ignored */
	assert_false(weir_lb_active_report(lb, 2, false, 1, 1));
	assert_false(weir_lb_active_report(lb, -1, false, 1, 1));
	assert_false(weir_lb_active_down(lb, 2));
	assert_false(weir_lb_active_down(lb, -1));
	weir_lb_free(lb);
}

static void active_fail(struct weir_lb *lb, int node)
{
	for (int k = 0; k < FALL; k++)
		weir_lb_active_report(lb, node, false, RISE, FALL);
	assert_true(weir_lb_active_down(lb, node));
}

/* A node down by active checks is skipped by every kind, in every worker's
 * state; when every usable node is down or ejected, panic mode picks one. */
static void test_active_down_skipped(void **state)
{
	const uint32_t w[3] = { 1, 1, 1 };
	uint64_t s = 7;

	for (size_t k = 0; k < N_KINDS; k++) {
		struct weir_lb *lb = mk(kinds[k], w, 3);
		struct weir_lb_state *s1 = weir_lb_state_new(lb), *s2 = weir_lb_state_new(lb);
		unsigned hits[3] = { 0 };

		active_fail(lb, 1);
		for (int i = 0; i < 300; i++) {
			hits[weir_lb_pick(lb, s1, rnd(&s), 0, NULL, 0)]++;
			assert_int_not_equal(weir_lb_pick(lb, s2, rnd(&s), 0, NULL, 0), 1);
		}
		assert_int_equal(hits[1], 0);
		assert_true(hits[0] > 0 && hits[2] > 0);

		/* down by active checks, ejected by passive health: panic */
		active_fail(lb, 0);
		eject(s1, 2, 0);
		for (int i = 0; i < 30; i++) {
			int n = weir_lb_pick(lb, s1, rnd(&s), 1, NULL, 0);

			assert_true(n >= 0 && n < 3);
		}
		/* ... but the healthy node of another worker's view is preferred */
		for (int i = 0; i < 30; i++)
			assert_int_equal(weir_lb_pick(lb, s2, rnd(&s), 1, NULL, 0), 2);

		/* back up after healthy_threshold successes */
		for (int r = 0; r < RISE; r++)
			weir_lb_active_report(lb, 1, true, RISE, FALL);
		for (int i = 0; i < 30; i++)
			assert_int_equal(weir_lb_pick(lb, s1, rnd(&s), 1, NULL, 0), 1);
		weir_lb_state_free(s2);
		weir_lb_state_free(s1);
		weir_lb_free(lb);
	}
}

/* A reload keeps the verdicts and runs of nodes that stay (matched by id,
 * whatever their position), and new nodes start up. */
static void test_active_carry(void **state)
{
	const uint32_t w[3] = { 1, 1, 1 };
	uint64_t old_ids[3] = { node_id(0), node_id(1), node_id(2) };
	uint64_t new_ids[3] = { node_id(2), node_id(1), node_id(7) };
	char err[128];
	struct weir_lb *a = weir_lb_new(WEIR_LB_ROUNDROBIN, w, old_ids, 3, err, sizeof(err));
	struct weir_lb *b = weir_lb_new(WEIR_LB_LEASTCONN, w, new_ids, 3, err, sizeof(err));

	active_fail(a, 2);
	weir_lb_active_report(a, 1, false, RISE, FALL);
	weir_lb_active_report(a, 1, false, RISE, FALL);
	weir_lb_active_carry(b, a);
	assert_true(weir_lb_active_down(b, 0));		/* node 2 of a */
	assert_false(weir_lb_active_down(b, 1));
	assert_false(weir_lb_active_down(b, 2));	/* new */
	assert_true(weir_lb_active_report(b, 1, false, RISE, FALL));	/* its run went on */
	assert_true(weir_lb_active_report(b, 0, true, 1, FALL));
	weir_lb_free(b);
	weir_lb_free(a);
}

/* Workers' states never share a cache line; misuse is harmless. */
static void test_state_layout_and_misuse(void **state)
{
	const uint32_t w[3] = { 1, 1, 1 };
	struct weir_lb *lb = mk(WEIR_LB_LEASTCONN, w, 3);
	struct weir_lb_state *s1 = weir_lb_state_new(lb), *s2 = weir_lb_state_new(lb);

	assert_int_equal((uintptr_t)s1 % 64, 0);
	assert_int_equal((uintptr_t)s2 % 64, 0);

	/* an unmatched end does not wrap the count and starve the node */
	weir_lb_conn_end(s1, 0);
	weir_lb_conn_start(s1, 1);
	weir_lb_conn_start(s1, 2);
	assert_int_equal(weir_lb_pick(lb, s1, 0, 0, NULL, 0), 0);
	/* out-of-range nodes are ignored */
	weir_lb_conn_start(s1, -1);
	weir_lb_conn_start(s1, 3);
	weir_lb_conn_end(s1, 99);
	weir_lb_report(s1, 3, true, 0, 1, WINDOW, EJECT);
	weir_lb_report(s1, -1, true, 0, 1, WINDOW, EJECT);
	assert_false(weir_lb_ejected(s1, 3, 0));
	assert_false(weir_lb_ejected(s1, -1, 0));
	/* one worker's state is not another's */
	weir_lb_report(s1, 0, true, 0, 1, WINDOW, EJECT);
	assert_true(weir_lb_ejected(s1, 0, 0));
	assert_false(weir_lb_ejected(s2, 0, 0));
	weir_lb_state_free(s2);
	weir_lb_state_free(s1);
	weir_lb_free(lb);
	weir_lb_free(NULL);
	weir_lb_state_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_new_rejects),
		cmocka_unit_test(test_all_drained),
		cmocka_unit_test(test_rr_nginx_sequence),
		cmocka_unit_test(test_rr_exact_shares),
		cmocka_unit_test(test_weight_zero_never_picked),
		cmocka_unit_test(test_avoid),
		cmocka_unit_test(test_lc_least_loaded),
		cmocka_unit_test(test_lc_rotates_ties),
		cmocka_unit_test(test_lc_weights),
		cmocka_unit_test(test_chash_same_key),
		cmocka_unit_test(test_chash_distribution),
		cmocka_unit_test(test_chash_remove),
		cmocka_unit_test(test_chash_add),
		cmocka_unit_test(test_chash_weights),
		cmocka_unit_test(test_chash_failover),
		cmocka_unit_test(test_chash_ring_size),
		cmocka_unit_test(test_health_window_ejects),
		cmocka_unit_test(test_health_outside_window),
		cmocka_unit_test(test_health_success_keeps_failures),
		cmocka_unit_test(test_health_probation),
		cmocka_unit_test(test_health_max_fails_zero),
		cmocka_unit_test(test_ejected_skipped),
		cmocka_unit_test(test_panic),
		cmocka_unit_test(test_state_carry),
		cmocka_unit_test(test_active_thresholds),
		cmocka_unit_test(test_active_down_skipped),
		cmocka_unit_test(test_active_carry),
		cmocka_unit_test(test_state_layout_and_misuse),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
