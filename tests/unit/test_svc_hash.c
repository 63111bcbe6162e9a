/* tests/unit/test_svc_hash.c - weir_svc_hash (maps/weir_table.h), the hash
 * that places services in weir_svc_tab, judged as the table uses it: keys
 * placed by triangular probing (weir_probe) into a power-of-two array,
 * as weirctl places them and the XDP program finds them.
 *
 * The key sets are what an operator writes, and what a weak hash piles up:
 * consecutive addresses, consecutive ports, both at once, /24s times a few
 * ports and both protocols, IPv6 addresses differing in one word, IPv6
 * prefixes; thousands of each, in tables larger than weirctl's (the
 * function does not know the table's size), at half load (the service
 * table's most) and at two thirds. A random function gives ~1.4 probes
 * per hit and ~2.1 per miss at half load, ~1.75 and ~3.3 at two thirds
 * (triangular probing, measured); the bounds here leave room above those,
 * and every key must fit within WEIR_SVC_PROBES. Deterministic: the keys are fixed, random ones
 * come from a fixed-seed splitmix64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "maps/weir_table.h"

#define SLOTS_LOG 13
#define SLOTS (1u << SLOTS_LOG)

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct weir_svc_key key4(uint32_t addr, uint16_t port, uint8_t proto)
{
	struct weir_svc_key k = { .family = 4, .proto = proto, .port = htons(port) };

	addr = htonl(addr);
	memcpy(k.addr, &addr, 4);
	return k;
}

/* 2001:db8:HI::LO (HI in bytes 4..7, LO in bytes 8..15), network order. */
static struct weir_svc_key key6(uint32_t hi, uint64_t lo, uint16_t port)
{
	struct weir_svc_key k = { .family = 6, .proto = IPPROTO_TCP, .port = htons(port) };
	static const uint8_t pre[4] = { 0x20, 0x01, 0x0d, 0xb8 };

	memcpy(k.addr, pre, 4);
	for (int b = 0; b < 4; b++)
		k.addr[4 + b] = (uint8_t)(hi >> (24 - 8 * b));
	for (int b = 0; b < 8; b++)
		k.addr[8 + b] = (uint8_t)(lo >> (56 - 8 * b));
	return k;
}

enum pattern {
	P_ADDRS, P_PORTS, P_BOTH, P_NETS_PORTS, P_STRIDE, P_V6_LOW, P_V6_WORD,
	P_V6_PREFIX, P_RANDOM, P_COUNT
};

static const char *const pattern_name[P_COUNT] = {
	"v4 consecutive addresses, one port", "v4 one address, consecutive ports",
	"v4 consecutive addresses and ports", "v4 /24s x {80,443} x {tcp,udp}",
	"v4 addresses 256 apart", "v6 consecutive ::N", "v6 2^32 apart, consecutive ports",
	"v6 consecutive /48 prefixes", "random v4 and v6",
};

static struct weir_svc_key pattern_key(enum pattern p, uint32_t i, uint64_t *seed)
{
	switch (p) {
	case P_ADDRS: return key4(0x0a000001u + i, 80, IPPROTO_TCP);
	case P_PORTS: return key4(0xc0000201u, (uint16_t)(1000 + i), IPPROTO_TCP);
	case P_BOTH: return key4(0x0a000001u + i, (uint16_t)(1000 + i), IPPROTO_UDP);
	case P_NETS_PORTS:
		return key4(0x0a000001u + ((i / 4) << 8), (i & 1) ? 443 : 80,
			    (i & 2) ? IPPROTO_UDP : IPPROTO_TCP);
	case P_STRIDE: return key4(0x0a000001u + (i << 8), 443, IPPROTO_TCP);
	case P_V6_LOW: return key6(0, i + 1, 443);
	case P_V6_WORD: return key6(0, (uint64_t)i << 32 | 1, (uint16_t)(1000 + i));
	case P_V6_PREFIX: return key6(i << 16, 1, 443);
	default: {
		uint64_t r = rnd(seed);

		if (r & 1)
			return key4((uint32_t)(r >> 32), (uint16_t)(r >> 8), IPPROTO_TCP);
		return key6((uint32_t)(r >> 32), rnd(seed), (uint16_t)(r >> 8));
	}
	}
}

struct probe_stats {
	uint32_t placed, failed, longest;
	double hit_mean, miss_mean;
};

/* Places n keys of pattern p into a table of SLOTS slots, then looks up
 * as many absent keys (another range of the same pattern). */
static struct probe_stats place(enum pattern p, uint32_t n)
{
	uint8_t *used = calloc(SLOTS, 1);
	struct probe_stats st = { 0 };
	uint64_t seed = 1, hits = 0, misses = 0;

	assert_non_null(used);
	for (uint32_t i = 0; i < n; i++) {
		struct weir_svc_key k = pattern_key(p, i, &seed);
		uint32_t h = weir_svc_hash(&k), q;

		for (q = 0; q < WEIR_SVC_PROBES; q++) {
			uint32_t s = weir_probe(h, q, SLOTS - 1);

			if (!used[s]) {
				used[s] = 1;
				break;
			}
		}
		if (q == WEIR_SVC_PROBES) {
			st.failed++;
			continue;
		}
		st.placed++;
		hits += q + 1;
		if (q + 1 > st.longest)
			st.longest = q + 1;
	}
	for (uint32_t i = n; i < 2 * n; i++) {
		struct weir_svc_key k = pattern_key(p, i, &seed);
		uint32_t h = weir_svc_hash(&k), q;

		for (q = 0; q < WEIR_SVC_PROBES && used[weir_probe(h, q, SLOTS - 1)]; q++)
			;
		misses += q + 1;
	}
	free(used);
	st.hit_mean = st.placed ? (double)hits / st.placed : 0;
	st.miss_mean = (double)misses / n;
	return st;
}

static void check_load(uint32_t n, double hit_max, double miss_max, uint32_t longest_max)
{
	for (int p = 0; p < P_COUNT; p++) {
		struct probe_stats st = place((enum pattern)p, n);

		printf("# %-36s %u in %u: hit %.2f, miss %.2f, longest %u\n",
		       pattern_name[p], n, SLOTS, st.hit_mean, st.miss_mean, st.longest);
		if (st.failed || st.hit_mean > hit_max || st.miss_mean > miss_max ||
		    st.longest > longest_max)
			fail_msg("%s, %u keys in %u slots: %u not placed, %.2f probes per hit "
				 "(at most %.2f), %.2f per miss (at most %.2f), longest %u "
				 "(at most %u)", pattern_name[p], n, SLOTS, st.failed,
				 st.hit_mean, hit_max, st.miss_mean, miss_max, st.longest,
				 longest_max);
	}
}

static void test_half_load(void **state)
{
	check_load(SLOTS / 2, 1.6, 2.5, 16);
}

/* Beyond what the service table ever holds (WEIR_SVC_SLOTS is twice
 * WEIR_SVC_MAX): still every key within WEIR_SVC_PROBES. (At three
 * quarters a random function's longest chains reach 32 too.) */
static void test_two_thirds(void **state)
{
	check_load(SLOTS / 3 * 2, 2.0, 4.0, WEIR_SVC_PROBES);
}

/* Every bit of the key moves the slot: for each of the 160 key bits,
 * flipping it moves a random key's home slot (of SLOTS) nearly always. */
static void test_every_bit_counts(void **state)
{
	uint64_t seed = 7;

	for (int bit = 0; bit < 160; bit++) {
		int moved = 0;

		for (int t = 0; t < 1000; t++) {
			struct weir_svc_key k = pattern_key(P_RANDOM, 0, &seed), f;

			f = k;
			((uint8_t *)&f)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			moved += (weir_svc_hash(&k) & (SLOTS - 1)) !=
				 (weir_svc_hash(&f) & (SLOTS - 1));
		}
		if (moved < 990)
			fail_msg("flipping key bit %d moved the home slot of only %d of "
				 "1000 keys", bit, moved);
	}
}

/* The hash is of the key's 20 bytes only: whatever the padding of the
 * words it reads, the same key hashes the same. */
static void test_key_bytes_only(void **state)
{
	struct weir_svc_key k = key4(0xc0000201u, 443, IPPROTO_TCP);
	union weir_svc_kw kw;

	memset(&kw, 0xff, sizeof(kw));
	memcpy(&kw.k, &k, sizeof(k));
	kw.w[2] &= 0xffffffffull << (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 32);
	assert_int_equal(weir_svc_hash(&k), weir_svc_hash_kw(&kw));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_half_load),
		cmocka_unit_test(test_two_thirds),
		cmocka_unit_test(test_every_bit_counts),
		cmocka_unit_test(test_key_bytes_only),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
