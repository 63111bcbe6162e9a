/* fixtures.h - tables of tests/bpf/test_xdp.c: the rate-limit scenario,
 * and for the split lists (hash of single addresses, trie of prefixes and
 * its summary) the feature bits, the trie summaries, host-versus-network
 * precedence, expired prefixes nested over live ones, the generations of
 * the tables, the import rollback and the generator of the large import.
 * Each row is a change made through the weir_maps API and what must hold
 * after it; test_xdp.c runs them.
 */
#ifndef WEIR_TEST_FIXTURES_H
#define WEIR_TEST_FIXTURES_H

#include "tests/bpf/packets.h"

#define SEC_NS 1000000000ull
#define MS_NS 1000000ull

/* ---- rate limits ---- */

#define LIM(cr, cb, pr, pb) { { cr, cb }, { pr, pb } }

/* One step of a limit scenario: optionally set a limit (prefix "default":
 * the global one), move the clock to base + at, send n copies and expect
 * npass of them passed and ndrop dropped under reason drop. */
static const struct limit_step {
	const char *desc, *limit;
	struct weir_limit lim;
	uint64_t at;
	struct pkt_opts pkt;
	int n;
	uint64_t npass, ndrop;
	int drop;
} limit_steps[] = {
	{ "pkt 1000/s burst 10: 15 at once, 10 pass, 5 pkt_limited", "100.100.0.1/32",
	  LIM(0, 0, 1000, 10), 0, { V4, UDP, .src = "100.100.0.1" }, 15, 10, 5, WEIR_R_PKT_LIMIT },
	{ "1 ns before the next 1 ms interval: pkt_limited", NULL, {}, MS_NS - 1,
	  { V4, UDP, .src = "100.100.0.1" }, 1, 0, 1, WEIR_R_PKT_LIMIT },
	{ "one interval (1 ms) later: exactly 1 passes", NULL, {}, MS_NS,
	  { V4, UDP, .src = "100.100.0.1" }, 2, 1, 1, WEIR_R_PKT_LIMIT },
	{ "5 ms later: exactly 5 pass", NULL, {}, 6 * MS_NS,
	  { V4, UDP, .src = "100.100.0.1" }, 6, 5, 1, WEIR_R_PKT_LIMIT },
	{ "10 s idle: the burst refills to 10, not more", NULL, {}, 10 * SEC_NS,
	  { V4, UDP, .src = "100.100.0.1" }, 12, 10, 2, WEIR_R_PKT_LIMIT },
	{ "conn 1/s burst 1: 3 SYNs, 1 passes, 2 conn_limited", "100.100.0.2/32",
	  LIM(1, 1, 0, 0), 20 * SEC_NS, { V4, SYN, .src = "100.100.0.2" }, 3, 1, 2,
	  WEIR_R_CONN_LIMIT },
	{ "conn limit spent: ACKs pass", NULL, {}, 20 * SEC_NS,
	  { V4, ACK, .src = "100.100.0.2" }, 5, 5, 0, WEIR_R_CONN_LIMIT },
	{ "conn limit spent: SYN-ACKs pass", NULL, {}, 20 * SEC_NS,
	  { V4, .tcp_flags = TF_SYN | TF_ACK, .src = "100.100.0.2" }, 5, 5, 0, WEIR_R_CONN_LIMIT },
	{ "conn limit spent: RSTs pass", NULL, {}, 20 * SEC_NS,
	  { V4, .tcp_flags = TF_RST, .src = "100.100.0.2" }, 3, 3, 0, WEIR_R_CONN_LIMIT },
	{ "conn limit spent: UDP passes", NULL, {}, 20 * SEC_NS,
	  { V4, UDP, .src = "100.100.0.2" }, 3, 3, 0, WEIR_R_CONN_LIMIT },
	{ "1 s later: one more SYN", NULL, {}, 21 * SEC_NS,
	  { V4, SYN, .src = "100.100.0.2" }, 2, 1, 1, WEIR_R_CONN_LIMIT },
	{ "IPv6 SYN behind hop-by-hop+dstopts+routing counts toward the conn limit",
	  "2001:db8:5::1/128", LIM(1, 1, 0, 0), 30 * SEC_NS,
	  { V6, SYN, EXT(3, 0, 60, 43), .src = "2001:db8:5::1" }, 2, 1, 1, WEIR_R_CONN_LIMIT },
	{ "IPv6 SYN in a first fragment counts toward the conn limit", NULL, {}, 30 * SEC_NS,
	  { V6, SYN, EXT(1, IPPROTO_FRAGMENT), .frag6 = 1, .src = "2001:db8:5::1" }, 1, 0, 1,
	  WEIR_R_CONN_LIMIT },
	{ "IPv6 non-first fragment is no SYN: passes", NULL, {}, 30 * SEC_NS,
	  { V6, SYN, FRAG6, .src = "2001:db8:5::1" }, 3, 3, 0, WEIR_R_CONN_LIMIT },
	{ "pkt 1/s with conn 1000/s: the second SYN pkt_limited", "100.100.0.3/32",
	  LIM(1000, 100, 1, 1), 40 * SEC_NS, { V4, SYN, .src = "100.100.0.3" }, 2, 1, 1,
	  WEIR_R_PKT_LIMIT },
	{ "conn 1/s with pkt 1000/s: ACKs do not draw on the conn limit", "100.100.0.7/32",
	  LIM(1, 1, 1000, 100), 40 * SEC_NS, { V4, ACK, .src = "100.100.0.7" }, 5, 5, 0,
	  WEIR_R_CONN_LIMIT },
	{ "conn 1/s with pkt 1000/s: then 1 of 2 SYNs passes", NULL, {}, 40 * SEC_NS,
	  { V4, SYN, .src = "100.100.0.7" }, 2, 1, 1, WEIR_R_CONN_LIMIT },
	{ "default pkt 1/s burst 2: 2 of 5 pass", "default", LIM(1, 1, 1, 2), 50 * SEC_NS,
	  { V4, UDP, .src = "100.100.0.4" }, 5, 2, 3, WEIR_R_PKT_LIMIT },
	{ "a second source has its own budget", NULL, {}, 50 * SEC_NS,
	  { V4, UDP, .src = "100.100.0.5" }, 5, 2, 3, WEIR_R_PKT_LIMIT },
	{ "an IPv6 source has its own budget", NULL, {}, 50 * SEC_NS,
	  { V6, UDP, .src = "2001:db8:5::2" }, 5, 2, 3, WEIR_R_PKT_LIMIT },
	{ "default conn 1/s burst 1: the second SYN conn_limited", NULL, {}, 50 * SEC_NS,
	  { V4, SYN, .src = "100.100.0.6" }, 2, 1, 1, WEIR_R_CONN_LIMIT },
	{ "per-CIDR override (burst 4) beats the default", "100.101.0.0/16", LIM(0, 0, 1, 4),
	  50 * SEC_NS, { V4, UDP, .src = "100.101.0.9" }, 6, 4, 2, WEIR_R_PKT_LIMIT },
	{ "the longest overriding prefix wins", "100.101.5.0/24", LIM(0, 0, 1, 1), 50 * SEC_NS,
	  { V4, UDP, .src = "100.101.5.1" }, 3, 1, 2, WEIR_R_PKT_LIMIT },
	{ "override with rate 0: unlimited packets", "100.102.0.0/16", LIM(0, 0, 0, 0),
	  50 * SEC_NS, { V4, UDP, .src = "100.102.0.1" }, 50, 50, 0, WEIR_R_PKT_LIMIT },
	{ "override with rate 0: unlimited SYNs", NULL, {}, 50 * SEC_NS,
	  { V4, SYN, .src = "100.102.0.1" }, 20, 20, 0, WEIR_R_CONN_LIMIT },
	{ "IPv6 override with rate 0: unlimited", "2001:db8:6::/64", LIM(0, 0, 0, 0), 50 * SEC_NS,
	  { V6, UDP, .src = "2001:db8:6::1" }, 50, 50, 0, WEIR_R_PKT_LIMIT },
	{ "default back to rate 0: unlimited", "default", LIM(0, 0, 0, 0), 50 * SEC_NS,
	  { V4, UDP, .src = "100.100.0.4" }, 10, 10, 0, WEIR_R_PKT_LIMIT },
};

/* A change through the weir_maps API (test_xdp.c: step_op). */
enum step_op {
	OP_NONE,
	OP_CLOCK,	/* the test clock to arg seconds from the first OP_CLOCK */
	OP_ADD,		/* weir_list_add, no expiry */
	OP_ADD_TTL,	/* weir_list_add, ttl 10 s */
	OP_ADD_EXPIRED, /* weir_list_add, ttl 1 ns: expired on CLOCK_MONOTONIC */
	OP_DEL,		/* weir_list_del */
	OP_FLUSH,	/* weir_list_flush */
	OP_IMPORT,	/* weir_list_import of the space-separated prefixes in arg */
	OP_WALK,	/* weir_list_walk, which reaps what has expired */
	OP_LIMIT,	/* weir_limit_set of pkt 1000/s burst 100; arg "default" or a prefix */
	OP_LIMIT_OFF,	/* weir_limit_set of rate 0 */
	OP_LIMIT_DEL,	/* weir_limit_del */
};

#define B WEIR_LIST_BLOCK
#define A WEIR_LIST_ALLOW
#define BH WEIR_F_BLOCK_HOST
#define BN WEIR_F_BLOCK_NET
#define AH WEIR_F_ALLOW_HOST
#define AN WEIR_F_ALLOW_NET
#define LI WEIR_F_LIMIT
#define LC WEIR_F_LIMIT_CIDR

/* ---- feature bits follow the maps ---- */

/* The op, the return it must give (0, an errno, or the count of a flush
 * or a walk) and the whole features word after it. Starts and ends with
 * every list and limit empty. */
static const struct bits_step {
	const char *desc;
	enum step_op op;
	enum weir_list list;
	const char *arg;
	int rc;
	uint32_t want;
} bits_steps[] = {
	{ "start: lists and limits empty, no bit", OP_NONE, B, NULL, 0, 0 },
	{ "block add a /32: exactly BLOCK_HOST", OP_ADD, B, "192.0.2.10/32", 0, BH },
	{ "block add a /24: BLOCK_NET too", OP_ADD, B, "198.51.100.0/24", 0, BH | BN },
	{ "block del the /24: BLOCK_NET clear, BLOCK_HOST kept", OP_DEL, B, "198.51.100.0/24",
	  0, BH },
	{ "block del the /24 again: -ENOENT, bits unchanged", OP_DEL, B, "198.51.100.0/24",
	  -ENOENT, BH },
	{ "block del the /32: no bit", OP_DEL, B, "192.0.2.10/32", 0, 0 },
	{ "block add a /24 alone: exactly BLOCK_NET", OP_ADD, B, "198.51.100.0/24", 0, BN },
	{ "block add a /32 beside it", OP_ADD, B, "192.0.2.10/32", 0, BH | BN },
	{ "block del the /32: BLOCK_HOST clear, BLOCK_NET kept", OP_DEL, B, "192.0.2.10/32",
	  0, BN },
	{ "block del the /24: no bit", OP_DEL, B, "198.51.100.0/24", 0, 0 },
	{ "block add a /128: exactly BLOCK_HOST", OP_ADD, B, "2001:db8:1::1/128", 0, BH },
	{ "block add a /64: BLOCK_NET too", OP_ADD, B, "2001:db8:2::/64", 0, BH | BN },
	{ "block del the /64: BLOCK_HOST kept", OP_DEL, B, "2001:db8:2::/64", 0, BH },
	{ "block add the /64 again", OP_ADD, B, "2001:db8:2::/64", 0, BH | BN },
	{ "block del the /128: BLOCK_NET kept", OP_DEL, B, "2001:db8:1::1/128", 0, BN },
	{ "block del the /64: no bit", OP_DEL, B, "2001:db8:2::/64", 0, 0 },
	{ "block add an IPv4 /32", OP_ADD, B, "192.0.2.11/32", 0, BH },
	{ "block add an IPv6 /128", OP_ADD, B, "2001:db8:1::2/128", 0, BH },
	{ "block del the IPv4 /32: the IPv6 /128 keeps BLOCK_HOST", OP_DEL, B, "192.0.2.11/32",
	  0, BH },
	{ "block del the IPv6 /128: no bit", OP_DEL, B, "2001:db8:1::2/128", 0, 0 },
	{ "block add an IPv6 /48", OP_ADD, B, "2001:db8:3::/48", 0, BN },
	{ "block add an IPv4 /16", OP_ADD, B, "198.18.0.0/16", 0, BN },
	{ "block del the IPv6 /48: the IPv4 /16 keeps BLOCK_NET", OP_DEL, B, "2001:db8:3::/48",
	  0, BN },
	{ "block del the IPv4 /16: no bit", OP_DEL, B, "198.18.0.0/16", 0, 0 },
	{ "allow add a /32: exactly ALLOW_HOST", OP_ADD, A, "198.18.0.5/32", 0, AH },
	{ "allow add a /24: ALLOW_NET too", OP_ADD, A, "198.18.1.0/24", 0, AH | AN },
	{ "allow del the /24: ALLOW_NET clear, ALLOW_HOST kept", OP_DEL, A, "198.18.1.0/24",
	  0, AH },
	{ "allow add an IPv6 /64", OP_ADD, A, "2001:db8:a::/64", 0, AH | AN },
	{ "allow del the /32: ALLOW_HOST clear, ALLOW_NET kept", OP_DEL, A, "198.18.0.5/32",
	  0, AN },
	{ "allow add an IPv6 /128", OP_ADD, A, "2001:db8:a::5/128", 0, AH | AN },
	{ "block add a /32: the allow bits untouched", OP_ADD, B, "192.0.2.10/32", 0,
	  AH | AN | BH },
	{ "allow del the /64: ALLOW_NET clear, block bit untouched", OP_DEL, A,
	  "2001:db8:a::/64", 0, AH | BH },
	{ "allow del the /128: only BLOCK_HOST", OP_DEL, A, "2001:db8:a::5/128", 0, BH },
	{ "block add a /24", OP_ADD, B, "198.51.100.0/24", 0, BH | BN },
	{ "allow add a /32", OP_ADD, A, "198.18.0.5/32", 0, BH | BN | AH },
	{ "allow add a /64", OP_ADD, A, "2001:db8:a::/64", 0, BH | BN | AH | AN },
	{ "weir_list_flush(block) = 2: block bits clear, allow bits kept", OP_FLUSH, B, NULL,
	  2, AH | AN },
	{ "weir_list_flush(block) of an empty list = 0", OP_FLUSH, B, NULL, 0, AH | AN },
	{ "weir_list_flush(allow) = 2: no bit", OP_FLUSH, A, NULL, 2, 0 },
	{ "block import of /32s and a /128 only: exactly BLOCK_HOST", OP_IMPORT, B,
	  "192.0.2.20 192.0.2.21 2001:db8:1::20", 0, BH },
	{ "block import of a mix: BLOCK_HOST|BLOCK_NET", OP_IMPORT, B,
	  "192.0.2.22 198.51.100.0/24 2001:db8:3::/48 2001:db8:1::21", 0, BH | BN },
	{ "weir_list_flush(block) = 7: no bit", OP_FLUSH, B, NULL, 7, 0 },
	{ "block import of prefixes only: exactly BLOCK_NET", OP_IMPORT, B,
	  "10.0.0.0/8 2001:db8:4::/64", 0, BN },
	{ "block import of only what is there: bits unchanged", OP_IMPORT, B, "10.0.0.0/8", 0,
	  BN },
	{ "weir_list_flush(block) = 2", OP_FLUSH, B, NULL, 2, 0 },
	{ "allow import of a mix: ALLOW_HOST|ALLOW_NET", OP_IMPORT, A,
	  "198.18.0.5 198.18.2.0/24 2001:db8:a::/64", 0, AH | AN },
	{ "allow import of nothing new: bits unchanged", OP_IMPORT, A, "198.18.0.5", 0,
	  AH | AN },
	{ "weir_list_flush(allow) = 3", OP_FLUSH, A, NULL, 3, 0 },
	{ "block add an expired /32: BLOCK_HOST (the add does not check)", OP_ADD_EXPIRED, B,
	  "192.0.2.30/32", 0, BH },
	{ "block add a live /24", OP_ADD, B, "198.51.100.0/24", 0, BH | BN },
	{ "weir_list_walk = 1 live: reaps the last /32, BLOCK_HOST clear", OP_WALK, B, NULL, 1,
	  BN },
	{ "block add an expired /128", OP_ADD_EXPIRED, B, "2001:db8:1::30/128", 0, BH | BN },
	{ "block add a live /32", OP_ADD, B, "192.0.2.31/32", 0, BH | BN },
	{ "weir_list_walk = 2 reaps the /128: the live /32 keeps BLOCK_HOST", OP_WALK, B, NULL,
	  2, BH | BN },
	{ "block add an expired /48", OP_ADD_EXPIRED, B, "2001:db8:5::/48", 0, BH | BN },
	{ "weir_list_walk = 2 reaps the /48: the live /24 keeps BLOCK_NET", OP_WALK, B, NULL, 2,
	  BH | BN },
	{ "block del the /24", OP_DEL, B, "198.51.100.0/24", 0, BH },
	{ "block add an expired /16", OP_ADD_EXPIRED, B, "10.9.0.0/16", 0, BH | BN },
	{ "weir_list_walk = 1 reaps the last prefix: BLOCK_NET clear", OP_WALK, B, NULL, 1,
	  BH },
	{ "allow add an expired /32", OP_ADD_EXPIRED, A, "198.18.0.9/32", 0, BH | AH },
	{ "weir_list_walk(allow) = 0 reaps it: ALLOW_HOST clear", OP_WALK, A, NULL, 0, BH },
	{ "block del the last /32: no bit", OP_DEL, B, "192.0.2.31/32", 0, 0 },
	{ "weir_list_walk of empty lists = 0: no bit", OP_WALK, B, NULL, 0, 0 },
	{ "a default limit: exactly LIMIT", OP_LIMIT, B, "default", 0, LI },
	{ "an IPv4 override: LIMIT|LIMIT_CIDR", OP_LIMIT, B, "100.64.0.0/10", 0, LI | LC },
	{ "an IPv6 override", OP_LIMIT, B, "2001:db8:7::/48", 0, LI | LC },
	{ "del the IPv4 override: the IPv6 one keeps LIMIT_CIDR", OP_LIMIT_DEL, B,
	  "100.64.0.0/10", 0, LI | LC },
	{ "del the IPv6 override: LIMIT_CIDR clear, the default keeps LIMIT", OP_LIMIT_DEL, B,
	  "2001:db8:7::/48", 0, LI },
	{ "del a missing override: -ENOENT, bits unchanged", OP_LIMIT_DEL, B, "2001:db8:7::/48",
	  -ENOENT, LI },
	{ "default back to rate 0: no bit", OP_LIMIT_OFF, B, "default", 0, 0 },
	{ "an override of rate 0 alone: LIMIT|LIMIT_CIDR (an override exists)", OP_LIMIT_OFF,
	  B, "100.64.0.0/10", 0, LI | LC },
	{ "a second override", OP_LIMIT, B, "100.64.5.0/24", 0, LI | LC },
	{ "block add a /32: list and limit bits side by side", OP_ADD, B, "192.0.2.10/32", 0,
	  BH | LI | LC },
	{ "del the /10 override: the /24 keeps LIMIT_CIDR", OP_LIMIT_DEL, B, "100.64.0.0/10", 0,
	  BH | LI | LC },
	{ "del the last override with default 0: LIMIT and LIMIT_CIDR clear", OP_LIMIT_DEL, B,
	  "100.64.5.0/24", 0, BH },
	{ "block del the /32: no bit", OP_DEL, B, "192.0.2.10/32", 0, 0 },
};

/* ---- trie summaries ---- */

/* The op on a list, then: the bits set in that list's summary among the
 * /24s that prefix `range` spans (its family's summary), the bits set in the
 * whole summary, and frames whose source is "D addr" dropped (blocklisted),
 * "A addr" allowlisted or "P addr" passed. */
static const struct sum_step {
	const char *desc;
	enum step_op op;
	enum weir_list list;
	const char *arg, *range;
	long in_range, total;
	const char *pkts[3];
} sum_steps[] = {
	{ "add 10.20.0.0/16: its 256 bits set", OP_ADD, B, "10.20.0.0/16", "10.20.0.0/16", 256,
	  256, { "D 10.20.77.1", "D 10.20.0.0", "P 10.21.0.1" } },
	{ "the neighbour /24 above is clear", OP_NONE, B, NULL, "10.21.0.0/24", 0, 256,
	  { "D 10.20.255.255" } },
	{ "the neighbour /24 below is clear", OP_NONE, B, NULL, "10.19.255.0/24", 0, 256,
	  { "P 10.19.255.255" } },
	{ "add 10.20.5.128/25 inside it: no new bit", OP_ADD, B, "10.20.5.128/25",
	  "10.20.5.0/24", 1, 256, { "D 10.20.5.200" } },
	{ "del the /16: only the /25's bit left", OP_DEL, B, "10.20.0.0/16", "10.20.0.0/16", 1, 1,
	  { "D 10.20.5.200", "P 10.20.6.1", "P 10.20.4.255" } },
	{ "the /25's /24 keeps its bit; below the /25 the trie misses", OP_NONE, B, NULL,
	  "10.20.5.0/24", 1, 1, { "P 10.20.5.127", "D 10.20.5.128", "D 10.20.5.255" } },
	{ "del the /25: no bit", OP_DEL, B, "10.20.5.128/25", "10.20.0.0/16", 0, 0,
	  { "P 10.20.5.200" } },
	{ "add a /21 (bits 8..15 of a word)", OP_ADD, B, "10.40.8.0/21", "10.40.8.0/21", 8, 8,
	  { "D 10.40.15.255", "P 10.40.16.0", "P 10.40.7.255" } },
	{ "no bit of its /16 outside the /21", OP_NONE, B, NULL, "10.40.0.0/16", 8, 8,
	  { "D 10.40.8.0" } },
	{ "add a /18 (one whole word)", OP_ADD, B, "10.44.64.0/18", "10.44.64.0/18", 64, 72,
	  { "D 10.44.127.1", "P 10.44.128.1", "P 10.44.63.255" } },
	{ "add a /14 (16 words)", OP_ADD, B, "10.48.0.0/14", "10.48.0.0/14", 1024, 1096,
	  { "D 10.51.255.1", "P 10.52.0.1", "P 10.47.255.255" } },
	{ "add a /30: one bit", OP_ADD, B, "10.30.40.4/30", "10.30.40.0/24", 1, 1097,
	  { "D 10.30.40.7", "P 10.30.40.8", "P 10.30.40.3" } },
	{ "add a /32: in the hash, no summary bit", OP_ADD, B, "192.0.2.1/32", "192.0.2.0/24", 0,
	  1097, { "D 192.0.2.1", "P 192.0.2.2" } },
	{ "add 10.0.0.0/8: its 65536 bits set", OP_ADD, B, "10.0.0.0/8", "10.0.0.0/8", 65536,
	  65536, { "D 10.255.255.255", "D 10.0.0.0", "P 11.0.0.0" } },
	{ "the /24 above the /8 is clear", OP_NONE, B, NULL, "11.0.0.0/24", 0, 65536,
	  { "P 9.255.255.255" } },
	{ "the /24 below the /8 is clear", OP_NONE, B, NULL, "9.255.255.0/24", 0, 65536,
	  { "D 10.128.0.1" } },
	{ "add 0.0.0.0/0: every bit set", OP_ADD, B, "0.0.0.0/0", "0.0.0.0/0", 1 << 24, 1 << 24,
	  { "D 1.2.3.4", "D 255.255.255.255", "D 0.0.0.0" } },
	{ "with /0 a packet from anywhere drops", OP_NONE, B, NULL, "172.16.0.0/12", 4096,
	  1 << 24, { "D 172.16.0.1", "D 203.0.113.9", "D 10.1.2.3" } },
	{ "del 0.0.0.0/0: only the /8's bits", OP_DEL, B, "0.0.0.0/0", "11.0.0.0/8", 0, 65536,
	  { "P 1.2.3.4", "D 10.1.1.1", "P 255.255.255.255" } },
	{ "del the /8: the bits of the /21, /18, /14 and /30 left", OP_DEL, B, "10.0.0.0/8",
	  "10.0.0.0/8", 1097, 1097, { "D 10.44.64.1", "P 10.1.1.1", "D 10.30.40.5" } },
	{ "flush: no bit", OP_FLUSH, B, NULL, "10.0.0.0/8", 0, 0,
	  { "P 10.44.64.1", "P 192.0.2.1" } },
	{ "IPv6 add 2001::/16: its 256 bits set", OP_ADD, B, "2001::/16", "2001::/16", 256, 256,
	  { "D 2001:ff::1", "D 2001:db8::1", "P 2002::1" } },
	{ "IPv6 the /24 above the /16 is clear", OP_NONE, B, NULL, "2002::/24", 0, 256,
	  { "D 2001:ffff:ffff::1" } },
	{ "IPv6 the /24 below the /16 is clear", OP_NONE, B, NULL, "2000:ff00::/24", 0, 256,
	  { "P 2000:ffff::1" } },
	{ "IPv6 add a /24: one bit", OP_ADD, B, "2400:cb00::/24", "2400:cb00::/24", 1, 257,
	  { "D 2400:cb00:1::1", "D 2400:cbff:ffff::1", "P 2400:cc00::1" } },
	{ "IPv6 add a /48: one bit", OP_ADD, B, "2a00:1450:4001::/48", "2a00:1400::/24", 1, 258,
	  { "D 2a00:1450:4001::5", "P 2a00:1450:4002::1", "P 2a00:1500::1" } },
	{ "IPv6 add a /128: in the hash, no summary bit", OP_ADD, B, "3fff::1/128", "3fff::/24",
	  0, 258, { "D 3fff::1", "P 3fff::2" } },
	{ "IPv6 del 2001::/16: its bits clear", OP_DEL, B, "2001::/16", "2001::/16", 0, 2,
	  { "P 2001:ff::1", "D 2400:cb00::1" } },
	{ "IPv6 add ::/0: every bit set", OP_ADD, B, "::/0", "::/0", 1 << 24, 1 << 24,
	  { "D 2002::1", "D fe80::1", "D ffff:ffff::1" } },
	{ "IPv6 del ::/0: the /24's and the /48's bits left", OP_DEL, B, "::/0", "::/0", 2, 2,
	  { "P 2002::1", "D 2400:cb00::1", "D 3fff::1" } },
	{ "IPv6 del the /24: the /48's bit left", OP_DEL, B, "2400:cb00::/24", "2400:cb00::/24",
	  0, 1, { "P 2400:cb00::1", "D 2a00:1450:4001::1" } },
	{ "IPv6 flush: no bit", OP_FLUSH, B, NULL, "::/0", 0, 0, { "P 2a00:1450:4001::1" } },
	{ "block 10.0.0.0/8 under the allowlist tests", OP_ADD, B, "10.0.0.0/8", "10.0.0.0/8",
	  65536, 65536, { "D 10.50.1.1" } },
	{ "allow add 10.50.0.0/16: its 256 allowlist bits set", OP_ADD, A, "10.50.0.0/16",
	  "10.50.0.0/16", 256, 256, { "A 10.50.1.1", "D 10.51.0.1", "P 11.50.1.1" } },
	{ "allow add a /32: no allowlist bit", OP_ADD, A, "10.60.0.1/32", "10.60.0.0/24", 0, 256,
	  { "A 10.60.0.1", "D 10.60.0.2" } },
	{ "allow add an IPv6 /48: one allowlist bit", OP_ADD, A, "2001:db8:a11::/48",
	  "2001:d00::/24", 1, 1, { "A 2001:db8:a11::1", "P 2001:db8:a12::1" } },
	{ "allow del 10.50.0.0/16: allowlist bits clear, the block /8 drops", OP_DEL, A,
	  "10.50.0.0/16", "10.0.0.0/8", 0, 0, { "D 10.50.1.1", "A 10.60.0.1" } },
	{ "allow flush: no IPv6 allowlist bit", OP_FLUSH, A, NULL, "::/0", 0, 0,
	  { "P 2001:db8:a11::1", "D 10.60.0.1" } },
	{ "block flush", OP_FLUSH, B, NULL, "0.0.0.0/0", 0, 0, { "P 10.50.1.1" } },
	{ "allow add 10.50.0.0/16, nothing blocked: the allowlist's own bits", OP_ADD, A,
	  "10.50.0.0/16", "10.50.0.0/16", 256, 256, { "A 10.50.1.1", "P 10.51.1.1" } },
	{ "no block bit for the allowlisted /16", OP_NONE, B, NULL, "10.50.0.0/16", 0, 0,
	  { "A 10.50.255.255" } },
	{ "allow add an IPv6 /16, nothing blocked", OP_ADD, A, "2001::/16", "2001::/16", 256,
	  256, { "A 2001:db8::1", "P 2002::1" } },
	{ "no IPv6 block bit for it", OP_NONE, B, NULL, "2001::/16", 0, 0, { "A 2001:ff::1" } },
	{ "allow flush", OP_FLUSH, A, NULL, "0.0.0.0/0", 0, 0, { "P 10.50.1.1", "P 2001:db8::1" } },
	/* the program looks past an expired prefix but never deletes it: the
	 * prefix keeps its bit until a delete or weir_list_walk (which reaps on
	 * CLOCK_MONOTONIC; these 10 s entries have expired on the test clock only) */
	{ "test clock at 1 s", OP_CLOCK, B, "1", "10.60.1.0/24", 0, 0, { "P 10.60.1.1" } },
	{ "a 10 s /24: one bit", OP_ADD_TTL, B, "10.60.1.0/24", "10.60.1.0/24", 1, 1,
	  { "D 10.60.1.1" } },
	{ "a 10 s IPv6 /48: one bit", OP_ADD_TTL, B, "2001:db8:60::/48", "2001:d00::/24", 1, 1,
	  { "D 2001:db8:60::1" } },
	{ "at 30 s the /24 has expired: it passes, stays in the trie, its bit stays set",
	  OP_CLOCK, B, "30", "10.60.1.0/24", 1, 1, { "P 10.60.1.1", "P 10.60.1.2" } },
	{ "at 30 s the /48 has expired: it passes, stays in the trie, its bit stays set",
	  OP_NONE, B, NULL, "2001:d00::/24", 1, 1, { "P 2001:db8:60::1", "P 2001:db8:60:1::2" } },
	{ "a /16 over the expired /24: the program looks past the /24, the /16 drops", OP_ADD,
	  B, "10.60.0.0/16", "10.60.0.0/16", 256, 256, { "D 10.60.1.3", "D 10.60.2.1" } },
	{ "del the /16: the rebuild keeps the bit of the expired /24, still in the trie",
	  OP_DEL, B, "10.60.0.0/16", "0.0.0.0/0", 1, 1, { "P 10.60.1.3", "P 10.60.2.1" } },
	{ "an IPv6 /48 beside the expired one", OP_ADD, B, "2a00::/48", "2a00::/24", 1, 2,
	  { "D 2a00::1" } },
	{ "del it: the rebuild keeps the bit of the expired /48", OP_DEL, B, "2a00::/48", "::/0",
	  1, 1, { "P 2001:db8:60::1", "P 2a00::1" } },
	{ "weir_list_walk leaves both: not expired on CLOCK_MONOTONIC", OP_WALK, B, NULL,
	  "10.60.1.0/24", 1, 1, { "P 10.60.1.1" } },
	{ "del the expired /24: its bit clear", OP_DEL, B, "10.60.1.0/24", "0.0.0.0/0", 0, 0,
	  { "P 10.60.1.1" } },
	{ "del the expired /48: its bit clear", OP_DEL, B, "2001:db8:60::/48", "::/0", 0, 0,
	  { "P 2001:db8:60::1" } },
	/* weir_list_walk reaps what expired on CLOCK_MONOTONIC and rebuilds */
	{ "test clock at -1 s", OP_CLOCK, B, "-1", "0.0.0.0/0", 0, 0, { NULL } },
	{ "an expired /16, live on the test clock", OP_ADD_EXPIRED, B, "10.70.0.0/16",
	  "10.70.0.0/16", 256, 256, { "D 10.70.1.1" } },
	{ "an expired IPv6 /48, live on the test clock", OP_ADD_EXPIRED, B, "2001:db8:70::/48",
	  "2001:d00::/24", 1, 1, { "D 2001:db8:70::1" } },
	{ "a live /24", OP_ADD, B, "10.71.0.0/24", "10.71.0.0/24", 1, 257, { "D 10.71.0.9" } },
	{ "weir_list_walk reaps the /16: its bits clear", OP_WALK, B, NULL, "10.70.0.0/16", 0, 1,
	  { "P 10.70.1.1", "D 10.71.0.9" } },
	{ "weir_list_walk reaped the /48: its bit clear", OP_NONE, B, NULL, "::/0", 0, 0,
	  { "P 2001:db8:70::1" } },
	{ "block flush", OP_FLUSH, B, NULL, "0.0.0.0/0", 0, 0, { "P 10.71.0.9" } },
	/* an import into parts that hold entries covers the old and the new */
	{ "a /16 before the import", OP_ADD, B, "10.80.0.0/16", "10.80.0.0/16", 256, 256,
	  { "D 10.80.0.1" } },
	{ "import of a /16, the same /16, a /24 and a /48", OP_IMPORT, B,
	  "10.81.0.0/16 10.80.0.0/16 10.82.3.0/24 2001:db8:80::/48", "10.81.0.0/16", 256, 513,
	  { "D 10.80.200.1", "D 10.81.0.1", "D 10.82.3.9" } },
	{ "the imported /24 has its bit", OP_NONE, B, NULL, "10.82.3.0/24", 1, 513,
	  { "P 10.82.4.1", "D 10.80.0.2" } },
	{ "the imported /48 has its bit", OP_NONE, B, NULL, "2001:d00::/24", 1, 1,
	  { "D 2001:db8:80::1", "P 2001:db8:81::1" } },
	{ "block flush", OP_FLUSH, B, NULL, "0.0.0.0/0", 0, 0, { "P 10.80.0.1" } },
	/* an expired entry no longer counts: an import replaces it */
	{ "test clock at 30 s", OP_CLOCK, B, "30", "0.0.0.0/0", 0, 0, { NULL } },
	{ "an expired /16, expired on the test clock too (not yet reaped)", OP_ADD_EXPIRED, B,
	  "10.83.0.0/16", "10.83.0.0/16", 256, 256, { NULL } },
	{ "an expired /32 (not yet reaped)", OP_ADD_EXPIRED, B, "10.84.0.1/32", "10.84.0.0/24", 0,
	  256, { NULL } },
	{ "import of both replaces the expired entries", OP_IMPORT, B, "10.83.0.0/16 10.84.0.1",
	  "10.83.0.0/16", 256, 256, { "D 10.83.1.1", "D 10.84.0.1" } },
	{ "block flush", OP_FLUSH, B, NULL, "0.0.0.0/0", 0, 0, { "P 10.83.1.1", "P 10.84.0.1" } },
};

/* ---- host entries versus network entries ---- */

/* One entry of a precedence case: live, or expired (added with a 1 ns ttl,
 * so expired on CLOCK_MONOTONIC at once, and met by a packet 20 s later on
 * the test clock). After the packet it has `hits` hits, or it is retired: the
 * program retires an expired single address (/32, /128) that a packet meets,
 * but leaves an expired prefix in its trie (with no hit) for weir_list_walk. */
struct prec_entry {
	enum weir_list list;
	const char *cidr;
	bool expired;
	uint64_t hits;
	bool retired;
};

static const struct prec_case {
	struct fixture f;
	struct prec_entry e[3];
} prec_cases[] = {
	{ { "expired /32 under a live /24: dropped by the /24",
	    { V4, UDP, .src = "100.90.1.1" }, DROP(BLOCK) },
	  { { B, "100.90.1.1/32", true, 0, true }, { B, "100.90.1.0/24", false, 1, false } } },
	{ { "live /32 inside an expired /24: dropped by the /32, the /24 not met",
	    { V4, UDP, .src = "100.90.2.1" }, DROP(BLOCK) },
	  { { B, "100.90.2.1/32", false, 1, false }, { B, "100.90.2.0/24", true, 0, false } } },
	{ { "expired /32, no prefix: passes and the /32 is retired",
	    { V4, UDP, .src = "100.90.3.1" }, PASS },
	  { { B, "100.90.3.1/32", true, 0, true } } },
	{ { "expired /32 and /24 under a live /16: dropped by the /16",
	    { V4, SYN, .src = "100.90.4.1" }, DROP(BLOCK) },
	  { { B, "100.90.4.1/32", true, 0, true }, { B, "100.90.4.0/24", true, 0, false },
	    { B, "100.90.0.0/16", false, 1, false } } },
	{ { "expired /32 and expired /24, no more: passes, the /32 retired",
	    { V4, SYN, .src = "100.90.5.1" }, PASS },
	  { { B, "100.90.5.1/32", true, 0, true }, { B, "100.90.5.0/24", true, 0, false } } },
	{ { "allowlisted /32 skips a blocked /24", { V4, UDP, .src = "100.91.1.1" }, ALLOW },
	  { { A, "100.91.1.1/32", false, 1, false }, { B, "100.91.1.0/24", false, 0, false } } },
	{ { "expired allowlisted /32 under an allowlisted /24: allowlisted by the /24",
	    { V4, UDP, .src = "100.91.2.1" }, ALLOW },
	  { { A, "100.91.2.1/32", true, 0, true }, { A, "100.91.2.0/24", false, 1, false },
	    { B, "100.91.0.0/16", false, 0, false } } },
	{ { "expired allowlisted /32 under a blocked /24: dropped, the /32 retired",
	    { V4, UDP, .src = "100.91.3.1" }, DROP(BLOCK) },
	  { { A, "100.91.3.1/32", true, 0, true }, { B, "100.91.3.0/24", false, 1, false } } },
	{ { "live allowlisted /32 in an expired allowlisted /24 under a block: allowlisted",
	    { V4, UDP, .src = "100.91.4.1" }, ALLOW },
	  { { A, "100.91.4.1/32", false, 1, false }, { A, "100.91.4.0/24", true, 0, false },
	    { B, "100.91.0.0/16", false, 0, false } } },
	{ { "blocked /32 inside an allowlisted /24: allowlisted (the allowlist first)",
	    { V4, UDP, .src = "100.91.5.1" }, ALLOW },
	  { { B, "100.91.5.1/32", false, 0, false }, { A, "100.91.5.0/24", false, 1, false } } },
	{ { "IPv6 expired /128 under a live /64: dropped by the /64",
	    { V6, UDP, .src = "2001:db8:90::1" }, DROP(BLOCK) },
	  { { B, "2001:db8:90::1/128", true, 0, true }, { B, "2001:db8:90::/64", false, 1, false } } },
	{ { "IPv6 live /128 inside an expired /48: dropped by the /128",
	    { V6, UDP, .src = "2001:db8:91::1" }, DROP(BLOCK) },
	  { { B, "2001:db8:91::1/128", false, 1, false }, { B, "2001:db8:91::/48", true, 0, false } } },
	{ { "IPv6 expired /128, no prefix: passes and the /128 is retired",
	    { V6, SYN, .src = "2001:db8:92::1" }, PASS },
	  { { B, "2001:db8:92::1/128", true, 0, true } } },
	{ { "IPv6 allowlisted /128 skips a blocked /48", { V6, UDP, .src = "2001:db8:93::1" },
	    ALLOW },
	  { { A, "2001:db8:93::1/128", false, 1, false }, { B, "2001:db8:93::/48", false, 0, false } } },
	{ { "IPv6 expired allowlisted /128 under a blocked /48: dropped, the /128 retired",
	    { V6, UDP, .src = "2001:db8:94::1" }, DROP(BLOCK) },
	  { { A, "2001:db8:94::1/128", true, 0, true }, { B, "2001:db8:94::/48", false, 1, false } } },
};

/* ---- nested expired prefixes ---- */

/* An expired prefix no longer matches: weir_net_match looks again with a key
 * one bit shorter than the expired prefix, so that a live prefix covering
 * it still applies, through up to WEIR_EXPIRED_NEST_MAX (8) nested expired
 * prefixes (WEIR_EXPIRED_NEST_MAX + 1 lookups in all). Each case: the list, up
 * to two live prefixes and the hits each must take, the expired prefixes
 * (1 ns ttl), the packet. Expired prefixes stay in the trie, with no hit,
 * until weir_list_walk reaps them. */
struct nest_case {
	struct fixture f;
	enum weir_list list;
	const char *live[2];
	uint64_t hits[2];
	const char *expired[10];
};

static const struct nest_case nest_cases[] = {
	{ { "expired /24 in an expired /20 in an expired /16 over a live /8: dropped by the /8",
	    { V4, UDP, .src = "10.77.2.9" }, DROP(BLOCK) }, B, { "10.0.0.0/8" }, { 1 },
	  { "10.77.2.0/24", "10.77.0.0/20", "10.77.0.0/16" } },
	{ { "expired /24 over a live /20 over a live /8: dropped by the /20, the longest live",
	    { V4, UDP, .src = "10.78.2.9" }, DROP(BLOCK) }, B, { "10.78.0.0/20", "10.0.0.0/8" },
	  { 1, 0 }, { "10.78.2.0/24" } },
	{ { "7 nested expired prefixes (/24 to /18) over a live /8: dropped by the /8",
	    { V4, SYN, .src = "10.79.2.9" }, DROP(BLOCK) },
	  B, { "10.0.0.0/8" }, { 1 },
	  { "10.79.2.0/24", "10.79.2.0/23", "10.79.0.0/22", "10.79.0.0/21", "10.79.0.0/20",
	    "10.79.0.0/19", "10.79.0.0/18" } },
	{ { "8 nested expired prefixes (/24 to /17) over a live /8: dropped by the /8, "
	    "found by the 9th and last lookup (WEIR_EXPIRED_NEST_MAX = 8)",
	    { V4, SYN, .src = "10.76.2.9" }, DROP(BLOCK) }, B, { "10.0.0.0/8" }, { 1 },
	  { "10.76.2.0/24", "10.76.2.0/23", "10.76.0.0/22", "10.76.0.0/21", "10.76.0.0/20",
	    "10.76.0.0/19", "10.76.0.0/18", "10.76.0.0/17" } },
	{ { "9 nested expired prefixes (/30 to /12) over a live /8: passes, more than "
	    "WEIR_EXPIRED_NEST_MAX = 8 are not seen through", { V4, UDP, .src = "10.75.2.9" },
	    PASS }, B, { "10.0.0.0/8" }, { 0 },
	  { "10.75.2.8/30", "10.75.2.0/28", "10.75.2.0/26", "10.75.2.0/24", "10.75.0.0/22",
	    "10.75.0.0/20", "10.75.0.0/18", "10.75.0.0/16", "10.64.0.0/12" } },
	{ { "expired 0.0.0.0/0 alone: passes", { V4, UDP, .src = "203.0.113.7" }, PASS }, B,
	  { NULL }, { 0 }, { "0.0.0.0/0" } },
	{ { "expired /8 over a live 0.0.0.0/0: dropped by the /0",
	    { V4, UDP, .src = "10.1.1.1" }, DROP(BLOCK) }, B, { "0.0.0.0/0" }, { 1 },
	  { "10.0.0.0/8" } },
	{ { "allowlist: expired /24 in an expired /16 over a live /8: allowlisted by the /8",
	    { V4, UDP, .src = "10.74.2.9" }, ALLOW }, A, { "10.0.0.0/8" }, { 1 },
	  { "10.74.2.0/24", "10.74.0.0/16" } },
	{ { "IPv6 expired /64 in /56 in /48 in /32, all expired, over a live /16: dropped by "
	    "the /16", { V6, UDP, .src = "2001:db8:77:1::9" }, DROP(BLOCK) }, B, { "2001::/16" },
	  { 1 }, { "2001:db8:77:1::/64", "2001:db8:77::/56", "2001:db8:77::/48", "2001:db8::/32" } },
	{ { "IPv6 expired /127 in an expired /64 over a live ::/0: dropped by the /0",
	    { V6, SYN, .src = "2001:db8:78::1" }, DROP(BLOCK) }, B, { "::/0" }, { 1 },
	  { "2001:db8:78::/127", "2001:db8:78::/64" } },
	{ { "IPv6 7 nested expired prefixes (/120 to /32) over a live /16: dropped by the /16",
	    { V6, UDP, .src = "2001:db8:79::9" }, DROP(BLOCK) }, B, { "2001::/16" }, { 1 },
	  { "2001:db8:79::/120", "2001:db8:79::/112", "2001:db8:79::/96", "2001:db8:79::/80",
	    "2001:db8:79::/64", "2001:db8:79::/48", "2001:db8::/32" } },
	{ { "IPv6 8 nested expired prefixes (/120 to /24) over a live /16: dropped by the "
	    "/16 (WEIR_EXPIRED_NEST_MAX = 8)", { V6, UDP, .src = "2001:db8:7a::9" },
	    DROP(BLOCK) }, B, { "2001::/16" }, { 1 },
	  { "2001:db8:7a::/120", "2001:db8:7a::/112", "2001:db8:7a::/96", "2001:db8:7a::/80",
	    "2001:db8:7a::/64", "2001:db8:7a::/48", "2001:db8::/32", "2001:d00::/24" } },
	{ { "IPv6 expired ::/0 alone: passes", { V6, UDP, .src = "2001:db8:7b::1" }, PASS }, B,
	  { NULL }, { 0 }, { "::/0" } },
};

/* ---- generations of the single-address tables ---- */

/* Each is added with a ttl, re-added after it expired on the test clock but
 * before a packet met it, retired by a packet, added again. */
static const char *const gen_srcs[] = { "100.95.0.1", "2001:db8:95::1" };

/* ---- import rollback ---- */

/* Imported ahead of the entries that overflow a part: a new /16, the kept
 * /16 and /32, a new /32 and /48, the kept /48; then the frames that must
 * see exactly the entries from before. */
static const char *const rollback_head[] = {
	"10.92.0.0/16", "10.90.0.0/16", "10.91.0.1/32", "10.93.0.1/32",
	"2400:92::/48", "2001:db8:90::/48",
};
static const char *const rollback_after[] = {
	"P 10.92.0.1", "A 10.91.0.1", "P 10.93.0.1", "P 2400:92::1", "A 2001:db8:90::1",
};

#undef B
#undef A
#undef BH
#undef BN
#undef AH
#undef AN
#undef LI
#undef LC

/* ---- the large import ---- */

/* 300007 IPv4 /32s in 11.0.0.0/8 and 20000 /24s in 12.0.0.0/8: index i of
 * either maps to an address by an odd multiplier modulo 2^24 (/32s) or 2^16
 * (/24s), a bijection, so no two collide and index n and up give addresses
 * that are not in the list. */
#define BIG_HOSTS 300007u /* prime: uneven thread shares */
#define BIG_NETS 20000u

static uint32_t big_host(uint32_t i)
{
	return 11u << 24 | ((i * 0x9e3779b1u) & 0xffffffu);
}

static uint32_t big_net(uint32_t i)
{
	return 12u << 24 | ((i * 0x9e37u + 0x79u) & 0xffffu) << 8;
}

static void big_cidr(uint32_t a, uint8_t plen, struct weir_cidr *c)
{
	uint32_t be = htonl(a);

	memset(c, 0, sizeof(*c));
	c->family = 4;
	c->prefixlen = plen;
	memcpy(c->addr, &be, 4);
}

static void big_addr(uint32_t a, char *buf, size_t len)
{
	uint32_t be = htonl(a);

	inet_ntop(AF_INET, &be, buf, (socklen_t)len);
}

#endif /* WEIR_TEST_FIXTURES_H */
