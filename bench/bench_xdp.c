/* bench_xdp.c - per-packet cost of weir's XDP program.
 *
 *   bench_xdp [--out FILE] [--rounds N] [--repeat N] [--max-prefixes N]
 *             [--import-rounds N] [--seed N] [--cpu N] [--drop-obj FILE]
 *             [--tx-obj FILE] [--only verdicts,curve,import,l4] [--quick]
 *   bench_xdp gen --family 4|6 --count N [--seed N] --out FILE
 *             [--ipset-out FILE [--ipset-name NAME]] [--hosts FILE]
 *             [--net-hosts FILE] [--hosts-count K]
 *
 * The first form loads bpf/weir_xdp.bpf.c from its skeleton with private,
 * unpinned maps and runs crafted 64-byte frames through it with
 * bpf_prog_test_run_opts() and a large repeat, then writes one JSON document:
 *
 *   verdicts  ns/packet of one case per verdict reason (passed, passed non-IP,
 *             allowlisted, blocklisted host and network, conn-limited,
 *             pkt-limited, malformed) in a full configuration: allowlist, a
 *             1k blocklist and rate limits all enabled, so that a passed
 *             packet walks every check;
 *   curve     ns/packet of a blocklisted host (/32, /128: weir's single-address table),
 *             of an address inside a blocklisted network (the LPM trie) and
 *             of a passed source, with 0, 1, 1k, 10k, 100k and 1M prefixes
 *             loaded, IPv4 and IPv6, blocklist only;
 *   import    seconds for weir_list_import() of 1M prefixes per family into
 *             empty maps;
 *   l4        ns/packet of weir's l4 path (a service with 3 backends, the
 *             frame sent back by XDP_TX): IPv4 encapsulated as a new flow
 *             (every run another source: flow table miss, Maglev ring, LRU
 *             insert), the same with flow tracking off (flow-limit: miss and
 *             ring, no insert), a tracked IPv4 flow, a tracked IPv6 flow and
 *             a tracked IPv4 flow of an L2 DSR service; each beside a trivial
 *             XDP_TX program (bench/xdp_tx.bpf.c) on the same frames.
 *
 * Beside every figure is the same measurement of a trivial XDP_DROP program
 * (bench/xdp_drop.bpf.c), run alternately with weir's cases in every round:
 * the floor of the harness, and the peer of each ratio; the l4 cases have
 * the trivial XDP_TX program as their peer instead. The l4 path changes the
 * frame (it prepends a header), and a test run with repeat never restores
 * it, so both sides of an l4 case run under bench/reframe.bpf.c, which puts
 * the frame back (and gives it a new source when the case asks) before it
 * tail-calls the program under test. --only picks sections. Each figure is the
 * median of --rounds rounds; a round times `repeat` runs of one frame by the
 * thread's CPU time around the syscall, less the fixed cost of the call (with
 * repeat > 1 the kernel swaps its XDP dispatcher before and after the loop,
 * which costs ~0.3 ms of CPU and some ms of sleep: measured once at start
 * with repeat = 2 and subtracted). That gives sub-ns resolution; the kernel's
 * own per-run duration, an integer in ns, is kept beside it. The same frame is
 * run again and again, so the caches are hot: this is the program's cost,
 * not the memory system's (the live bench rotates sources for that).
 *
 * Each case checks that it got the verdict it names (retval and the stats
 * counter of its reason), so a figure cannot silently measure another path.
 *
 * The prefix lists are random but seeded: 90% hosts (/32, /128), 10%
 * networks (/16../24, /48../64), unique, none overlapping the benchmarking
 * ranges 198.18.0.0/15 and 2001:2::/48 that passed sources come from. The
 * `gen` form writes the same lists for weirctl, ipset and livegen.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "maps/weir_maps.h"
#include "reframe.skel.h"
#include "weir_xdp.skel.h"

#define FRAME_LEN 64
#define NSAMPLE 4	  /* sources per curve point, each run repeat/2 times */
#define MAX_ROUNDS 99

static const size_t curve_sizes[] = { 0, 1, 1000, 10000, 100000, 1000000 };
#define NSIZES (sizeof(curve_sizes) / sizeof(curve_sizes[0]))

/* Sections of the output, for --only. */
enum { S_VERDICTS = 1, S_CURVE = 2, S_IMPORT = 4, S_L4 = 8, S_ALL = 15 };

struct cfg {
	const char *out, *drop_obj, *tx_obj;
	unsigned int only;
	int rounds, repeat, cpu, import_rounds;
	size_t max_prefixes;
	uint64_t seed;
};

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of one BPF_PROG_TEST_RUN call beyond its runs (see the top). */
static double call_overhead_ns;

/* The command line, for the output. */
static char cmdline[1024];

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_xdp: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* splitmix64: small, seeded, good enough for address generation. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rng_range(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static void progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

/* ---- prefix generation ---- */

static void mask_prefix(struct weir_cidr *c)
{
	int bits = c->family == 4 ? 32 : 128;

	for (int i = 0; i < bits / 8; i++) {
		int keep = c->prefixlen - i * 8;

		c->addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff00 >> keep);
	}
}

/* Does prefix c overlap the family's benchmarking range (the passed sources)? */
static int overlaps_bench_range(const struct weir_cidr *c)
{
	if (c->family == 4) {
		/* 198.18.0.0/15 */
		int plen = c->prefixlen < 15 ? c->prefixlen : 15;
		uint32_t a = (uint32_t)c->addr[0] << 24 | (uint32_t)c->addr[1] << 16;
		uint32_t m = plen ? ~0u << (32 - plen) : 0;

		return (a & m) == ((198u << 24 | 18u << 16) & m);
	}
	/* 2001:2::/48 */
	static const uint8_t r6[6] = { 0x20, 0x01, 0x00, 0x02, 0x00, 0x00 };
	int plen = c->prefixlen < 48 ? c->prefixlen : 48;

	for (int i = 0; i < 6; i++) {
		int keep = plen - i * 8;
		uint8_t m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff00 >> keep);

		if ((c->addr[i] & m) != (r6[i] & m))
			return 0;
	}
	return 1;
}

static void random_prefix(uint64_t *s, int family, struct weir_cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = (uint8_t)family;
	do {
		int host = rng_next(s) % 10 != 0; /* 90% hosts */

		if (family == 4) {
			/* unicast: 1.0.0.0 .. 223.255.255.255 */
			uint32_t a = rng_range(s, 1u << 24, (224u << 24) - 1);

			c->addr[0] = (uint8_t)(a >> 24);
			c->addr[1] = (uint8_t)(a >> 16);
			c->addr[2] = (uint8_t)(a >> 8);
			c->addr[3] = (uint8_t)a;
			c->prefixlen = host ? 32 : (uint8_t)rng_range(s, 16, 24);
		} else {
			/* global unicast 2000::/3 */
			uint64_t hi = rng_next(s), lo = rng_next(s);

			for (int i = 0; i < 8; i++) {
				c->addr[i] = (uint8_t)(hi >> (56 - 8 * i));
				c->addr[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
			}
			c->addr[0] = (uint8_t)(0x20 | (c->addr[0] & 0x1f));
			c->prefixlen = host ? 128 : (uint8_t)rng_range(s, 48, 64);
		}
		mask_prefix(c);
	} while (overlaps_bench_range(c));
}

static uint64_t cidr_hash(const struct weir_cidr *c)
{
	uint64_t h = 0xcbf29ce484222325ull ^ c->prefixlen;

	for (int i = 0; i < 16; i++)
		h = (h ^ c->addr[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/* n unique prefixes of one family, deterministic in (family, seed). The
 * first k of them are the same for every n >= k, so curve sizes nest. */
static struct weir_cidr *gen_prefixes(int family, size_t n, uint64_t seed)
{
	size_t cap = 16;
	struct weir_cidr *v = calloc(n ? n : 1, sizeof(*v));
	uint32_t *tab;
	uint64_t s = seed * 2654435761u + (uint64_t)family;

	while (cap < 2 * n)
		cap <<= 1;
	tab = calloc(cap, sizeof(*tab));
	if (!v || !tab)
		die("out of memory");
	for (size_t i = 0; i < n;) {
		struct weir_cidr c;
		size_t slot;
		int dup = 0;

		random_prefix(&s, family, &c);
		for (slot = cidr_hash(&c) & (cap - 1); tab[slot];
		     slot = (slot + 1) & (cap - 1)) {
			if (!memcmp(&v[tab[slot] - 1], &c, sizeof(c))) {
				dup = 1;
				break;
			}
		}
		if (dup)
			continue;
		v[i] = c;
		tab[slot] = (uint32_t)(i + 1);
		i++;
	}
	free(tab);
	return v;
}

/* An address inside prefix c (random host bits): a source it blocks. */
static void addr_in(uint64_t *s, const struct weir_cidr *c, uint8_t out[16])
{
	int bits = c->family == 4 ? 32 : 128;

	memcpy(out, c->addr, 16);
	for (int i = 0; i < bits / 8; i++) {
		int keep = c->prefixlen - i * 8;
		uint8_t m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff00 >> keep);

		out[i] = (uint8_t)((c->addr[i] & m) | ((uint8_t)rng_next(s) & ~m));
	}
}

/* A source in the benchmarking range: never in a generated list. */
static void passed_addr(uint64_t *s, int family, uint8_t out[16])
{
	memset(out, 0, 16);
	if (family == 4) {
		out[0] = 198;
		out[1] = (uint8_t)(18 + (rng_next(s) & 1));
		out[2] = (uint8_t)rng_next(s);
		out[3] = (uint8_t)(1 + rng_next(s) % 254);
	} else {
		out[0] = 0x20; out[1] = 0x01; out[2] = 0x00; out[3] = 0x02;
		for (int i = 6; i < 16; i++)
			out[i] = (uint8_t)rng_next(s);
	}
}

/* ---- frames ---- */

struct frame {
	uint8_t b[FRAME_LEN];
	uint32_t len;
};

static uint16_t csum16(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Ethernet + IPv4/IPv6 + UDP or TCP (SYN when syn), zero padded to 64 bytes. */
static void build_ip(struct frame *f, int family, const uint8_t src[16], int tcp,
		     int syn)
{
	struct ethhdr *eth = (struct ethhdr *)f->b;
	size_t l4len = tcp ? sizeof(struct tcphdr) : sizeof(struct udphdr);
	uint8_t *l4;

	memset(f, 0, sizeof(*f));
	f->len = FRAME_LEN;
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	if (family == 4) {
		struct iphdr *ip = (struct iphdr *)(eth + 1);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = tcp ? IPPROTO_TCP : IPPROTO_UDP;
		ip->tot_len = htons((uint16_t)(FRAME_LEN - sizeof(*eth)));
		memcpy(&ip->saddr, src, 4);
		memcpy(&ip->daddr, "\xc6\x13\x00\x01", 4); /* 198.19.0.1 */
		ip->check = csum16(ip, sizeof(*ip));
		l4 = (uint8_t *)(ip + 1);
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(eth + 1);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->hop_limit = 64;
		ip6->nexthdr = tcp ? IPPROTO_TCP : IPPROTO_UDP;
		ip6->payload_len = htons((uint16_t)(FRAME_LEN - sizeof(*eth) - sizeof(*ip6)));
		memcpy(&ip6->saddr, src, 16);
		memcpy(&ip6->daddr, "\x20\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
		l4 = (uint8_t *)(ip6 + 1);
	}
	if (tcp) {
		struct tcphdr *th = (struct tcphdr *)l4;

		th->source = htons(40000);
		th->dest = htons(80);
		th->doff = 5;
		th->syn = (uint16_t)(syn ? 1 : 0);
		th->ack = (uint16_t)(syn ? 0 : 1);
		th->window = htons(64240);
	} else {
		struct udphdr *uh = (struct udphdr *)l4;
		size_t used = (size_t)(l4 - f->b);

		uh->source = htons(40000);
		uh->dest = htons(53);
		uh->len = htons((uint16_t)(FRAME_LEN - used));
	}
	(void)l4len;
}

static void build_arp(struct frame *f)
{
	struct ethhdr *eth = (struct ethhdr *)f->b;

	memset(f, 0, sizeof(*f));
	f->len = FRAME_LEN;
	memset(eth->h_dest, 0xff, ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	eth->h_proto = htons(ETH_P_ARP);
	/* htype 1, ptype IPv4, hlen 6, plen 4, op request */
	memcpy(eth + 1, "\x00\x01\x08\x00\x06\x04\x00\x01", 8);
}

/* IPv4 whose total length claims more than the frame holds. */
static void build_malformed(struct frame *f, const uint8_t src[16])
{
	struct iphdr *ip;

	build_ip(f, 4, src, 0, 0);
	ip = (struct iphdr *)(f->b + sizeof(struct ethhdr));
	ip->tot_len = htons(1500);
	ip->check = 0;
	ip->check = csum16(ip, sizeof(*ip));
}

/* ---- running ---- */

struct run {
	double ns;	  /* CPU time per run, call overhead subtracted */
	uint32_t kernel;  /* the kernel's per-run duration, ns */
	uint32_t retval;
};

static struct run test_run(int prog_fd, const struct frame *f, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len,
		    .repeat = repeat);
	struct run r = {};
	uint64_t t0 = cpu_ns(), t1;

	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("BPF_PROG_TEST_RUN: %s", strerror(errno));
	t1 = cpu_ns();
	r.ns = ((double)(t1 - t0) - call_overhead_ns) / repeat;
	r.kernel = o.duration;
	r.retval = o.retval;
	return r;
}

struct weir {
	struct weir_xdp_bpf *skel;
	struct weir_maps m;
	int fd;
};

static void weir_open(struct weir *w)
{
	int err;

	w->skel = weir_xdp_bpf__open();
	if (!w->skel)
		die("open weir_xdp: %s", strerror(errno));
	w->skel->rodata->weir_test_clock = 0; /* the production clock */
	if ((err = weir_xdp_bpf__load(w->skel)))
		die("load weir_xdp: %s", strerror(-err));
	if ((err = weir_maps_from_obj(&w->m, w->skel->obj)))
		die("weir maps: %s", strerror(-err));
	w->fd = bpf_program__fd(w->skel->progs.weir_xdp);
}

static void weir_close(struct weir *w)
{
	weir_maps_close(&w->m);
	weir_xdp_bpf__destroy(w->skel);
	w->skel = NULL;
}

/* Loads the object at path and returns the fd of its program `name`. */
static int obj_prog_open(const char *path, const char *name, struct bpf_object **obj)
{
	struct bpf_program *p;
	int err;

	*obj = bpf_object__open_file(path, NULL);
	if (!*obj)
		die("open %s: %s", path, strerror(errno));
	if ((err = bpf_object__load(*obj)))
		die("load %s: %s", path, strerror(-err));
	p = bpf_object__find_program_by_name(*obj, name);
	if (!p)
		die("%s: no program %s", path, name);
	return bpf_program__fd(p);
}

static void cidr_of(int family, const uint8_t *addr, int plen, struct weir_cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = (uint8_t)family;
	c->prefixlen = (uint8_t)plen;
	memcpy(c->addr, addr, family == 4 ? 4 : 16);
	mask_prefix(c);
}

/* ---- JSON output ---- */

static FILE *out;

static void json_rounds(const char *key, const double *v, int n)
{
	fprintf(out, "\"%s\": [", key);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%.3f", i ? ", " : "", v[i]);
	fprintf(out, "]");
}

static int is_host(const struct weir_cidr *c)
{
	return c->prefixlen == (c->family == 4 ? 32 : 128);
}

/* Index of the first host (host = 1) or network (host = 0) entry of v[0..n)
 * at or after from, wrapping around. */
static size_t first_of(const struct weir_cidr *v, size_t n, size_t from, int host)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = (from + i) % n;

		if (is_host(&v[j]) == host)
			return j;
	}
	die("no %s in the list", host ? "host" : "network");
	return 0;
}

/* ---- verdict cases ---- */

struct vcase {
	const char *name, *desc;
	int family;
	enum weir_reason reason;
	int action;
	struct frame f;
	double ns[MAX_ROUNDS];
	double kns[MAX_ROUNDS];
};

static const char *action_name(int a)
{
	return a == XDP_DROP ? "XDP_DROP" : a == XDP_PASS ? "XDP_PASS" :
	       a == XDP_TX ? "XDP_TX" : "?";
}

static void bench_verdicts(const struct cfg *c, int drop_fd)
{
	static const struct weir_limit strict_conn = { .conn = { 1, 1 } };
	static const struct weir_limit strict_pkt = { .pkt = { 1, 1 } };
	/* Default limits never reached at test speed, so a passed packet walks
	 * the whole limiter (override lookup, LRU state, GCRA CAS). */
	static const struct weir_limit loose = {
		.conn = { 1000000000u, 1000000000u },
		.pkt = { 1000000000u, 1000000000u },
	};
	const uint8_t allow4[16] = { 198, 19, 1, 1 }, conn4[16] = { 198, 19, 2, 1 },
		      pkt4[16] = { 198, 19, 3, 1 }, pass4[16] = { 198, 18, 0, 1 };
	uint8_t pass6[16] = { 0x20, 0x01, 0x00, 0x02, [15] = 1 };
	uint8_t block4[16], block6[16], block4n[16], block6n[16];
	struct weir_stat before[WEIR_R_MAX], after[WEIR_R_MAX];
	struct weir_cidr *l4, *l6, cidr;
	double drop_ns[MAX_ROUNDS], drop_kns[MAX_ROUNDS];
	struct vcase cs[12];
	uint64_t s = c->seed;
	struct frame dropf;
	struct weir w;
	int n = 0, err;

	weir_open(&w);
	/* The full configuration: allowlist, a 1k+1k blocklist, limits. */
	cidr_of(4, allow4, 24, &cidr);
	if ((err = weir_list_add(&w.m, WEIR_LIST_ALLOW, &cidr, 0, NULL)))
		die("allow add: %s", strerror(-err));
	for (int i = 0; i < 15; i++) { /* a few more allowlist entries */
		struct weir_cidr a;

		random_prefix(&s, i % 2 ? 6 : 4, &a);
		if ((err = weir_list_add(&w.m, WEIR_LIST_ALLOW, &a, 0, NULL)))
			die("allow add: %s", strerror(-err));
	}
	l4 = gen_prefixes(4, 1000, c->seed);
	l6 = gen_prefixes(6, 1000, c->seed);
	if ((err = weir_list_import(&w.m, WEIR_LIST_BLOCK, l4, 1000, NULL, NULL)) ||
	    (err = weir_list_import(&w.m, WEIR_LIST_BLOCK, l6, 1000, NULL, NULL)))
		die("block import: %s", strerror(-err));
	/* A blocklisted host (the table) and a member of a blocklisted network
	 * (the trie), per family. */
	addr_in(&s, &l4[first_of(l4, 1000, 500, 1)], block4);
	addr_in(&s, &l6[first_of(l6, 1000, 500, 1)], block6);
	addr_in(&s, &l4[first_of(l4, 1000, 500, 0)], block4n);
	addr_in(&s, &l6[first_of(l6, 1000, 500, 0)], block6n);
	if ((err = weir_limit_set(&w.m, NULL, &loose)))
		die("limit default: %s", strerror(-err));
	cidr_of(4, conn4, 24, &cidr);
	if ((err = weir_limit_set(&w.m, &cidr, &strict_conn)))
		die("limit conn: %s", strerror(-err));
	cidr_of(4, pkt4, 24, &cidr);
	if ((err = weir_limit_set(&w.m, &cidr, &strict_pkt)))
		die("limit pkt: %s", strerror(-err));

#define CASE(nm, fam, rsn, act, dsc) \
	(cs[n] = (struct vcase){ .name = nm, .family = fam, .reason = rsn, \
				 .action = act, .desc = dsc }, &cs[n++].f)
	build_ip(CASE("passed", 4, WEIR_R_PASS, XDP_PASS,
		      "UDP from a source in no list, under its limits: every check runs"),
		 4, pass4, 0, 0);
	build_ip(CASE("passed_v6", 6, WEIR_R_PASS, XDP_PASS,
		      "the same over IPv6"), 6, pass6, 0, 0);
	build_arp(CASE("passed_nonip", 0, WEIR_R_PASS_NONIP, XDP_PASS,
		       "ARP request: passed unexamined"));
	build_ip(CASE("allowlisted", 4, WEIR_R_ALLOW, XDP_PASS,
		      "UDP from an allowlisted /24: later checks skipped"),
		 4, allow4, 0, 0);
	build_ip(CASE("blocklisted", 4, WEIR_R_BLOCK, XDP_DROP,
		      "UDP from a blocklisted host /32 (after the allowlist lookups)"),
		 4, block4, 0, 0);
	build_ip(CASE("blocklisted_net", 4, WEIR_R_BLOCK, XDP_DROP,
		      "UDP from inside a blocklisted /16../24 network"), 4, block4n, 0, 0);
	build_ip(CASE("blocklisted_v6", 6, WEIR_R_BLOCK, XDP_DROP,
		      "UDP from a blocklisted host /128"), 6, block6, 0, 0);
	build_ip(CASE("blocklisted_v6_net", 6, WEIR_R_BLOCK, XDP_DROP,
		      "UDP from inside a blocklisted /48../64 network"), 6, block6n, 0, 0);
	build_ip(CASE("conn_limited", 4, WEIR_R_CONN_LIMIT, XDP_DROP,
		      "TCP SYN from a /24 limited to 1 new connection/s"),
		 4, conn4, 1, 1);
	build_ip(CASE("pkt_limited", 4, WEIR_R_PKT_LIMIT, XDP_DROP,
		      "UDP from a /24 limited to 1 packet/s"), 4, pkt4, 0, 0);
	build_malformed(CASE("malformed", 4, WEIR_R_MALFORMED, XDP_DROP,
			     "IPv4 whose total length exceeds the frame"), pass4);
#undef CASE
	build_ip(&dropf, 4, pass4, 0, 0);

	/* Warm up: fills LRU state, exhausts the strict limiters. */
	for (int i = 0; i < n; i++)
		test_run(w.fd, &cs[i].f, 1000);
	test_run(drop_fd, &dropf, 1000);

	progress("verdicts:");
	for (int r = 0; r < c->rounds; r++) {
		struct run d = test_run(drop_fd, &dropf, c->repeat);

		drop_ns[r] = d.ns;
		drop_kns[r] = d.kernel;
		for (int i = 0; i < n; i++) {
			struct run x;
			uint64_t got;

			if ((err = weir_stats_read(&w.m, before)))
				die("stats: %s", strerror(-err));
			x = test_run(w.fd, &cs[i].f, c->repeat);
			if ((err = weir_stats_read(&w.m, after)))
				die("stats: %s", strerror(-err));
			got = after[cs[i].reason].packets - before[cs[i].reason].packets;
			if ((int)x.retval != cs[i].action ||
			    got < (uint64_t)c->repeat * 999 / 1000)
				die("case %s: retval %u (want %s), %llu of %d runs counted as %s",
				    cs[i].name, x.retval, action_name(cs[i].action),
				    (unsigned long long)got, c->repeat,
				    weir_reason_names[cs[i].reason]);
			cs[i].ns[r] = x.ns;
			cs[i].kns[r] = x.kernel;
		}
		progress(" %d", r + 1);
	}
	progress("\n");

	double dmed = median(drop_ns, c->rounds);

	fprintf(out, "  \"verdict_config\": \"allowlist 16 prefixes; blocklist 1000 IPv4 + "
		     "1000 IPv6 prefixes; default limits conn and pkt 1e9/s (never reached, so "
		     "the limiter runs in full); overrides 198.19.2.0/24 conn 1/s burst 1, "
		     "198.19.3.0/24 pkt 1/s burst 1\",\n");
	fprintf(out, "  \"floor\": {\"name\": \"xdp_drop\", \"desc\": \"trivial XDP_DROP program, "
		     "the same harness\", \"ns_per_pkt\": %.3f, \"kernel_ns\": %.1f, ",
		dmed, median(drop_kns, c->rounds));
	json_rounds("rounds", drop_ns, c->rounds);
	fprintf(out, "},\n  \"verdicts\": [\n");
	for (int i = 0; i < n; i++) {
		double m = median(cs[i].ns, c->rounds);

		fprintf(out, "    {\"case\": \"%s\", \"family\": %d, \"reason\": \"%s\", "
			     "\"action\": \"%s\", \"frame_bytes\": %d, \"desc\": \"%s\", "
			     "\"ns_per_pkt\": %.3f, \"kernel_ns\": %.1f, \"above_floor_ns\": %.3f, "
			     "\"ratio_vs_drop\": %.3f, ",
			cs[i].name, cs[i].family, weir_reason_names[cs[i].reason],
			action_name(cs[i].action), FRAME_LEN, cs[i].desc, m,
			median(cs[i].kns, c->rounds), m - dmed, m / dmed);
		json_rounds("rounds", cs[i].ns, c->rounds);
		fprintf(out, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(out, "  ],\n");
	free(l4);
	free(l6);
	weir_close(&w);
}

/* ---- blocklist curve ---- */

/* Sources of a curve point: blocked hosts (the table), members of blocked
 * networks (the trie) and passed sources (a miss in both). */
enum { K_HOST, K_NET, K_PASS, NKIND };
static const char *const kind_key[NKIND] = { "blocked", "blocked_net", "passed" };

struct point {
	size_t size;
	int have[2][NKIND];
	double ns[2][NKIND][MAX_ROUNDS], drop[MAX_ROUNDS];
	double import_s[2];
};

/* ns/packet over NSAMPLE sources, each run repeat/2 times. */
static double run_sources(int fd, struct frame *fs, int repeat, int want)
{
	double total = 0;
	int per = repeat / 2;

	for (int i = 0; i < NSAMPLE; i++) {
		struct run x = test_run(fd, &fs[i], per);

		if ((int)x.retval != want)
			die("curve: source %d: retval %u, want %s", i, x.retval,
			    action_name(want));
		total += x.ns;
	}
	return total / NSAMPLE;
}

/* Is addr in the blocklist, in its single-address table or its trie? */
static int block_has(const struct weir_maps *m, int family, const uint8_t addr[16])
{
	struct weir_cidr c = { .family = (uint8_t)family,
			       .prefixlen = family == 4 ? 32 : 128 };
	struct weir_entry e;

	memcpy(c.addr, addr, 16);
	if (!weir_list_get(m, WEIR_LIST_BLOCK, &c, &e))
		return 1;
	if (family == 4) {
		struct weir_lpm4 k = { .prefixlen = 32 };

		memcpy(k.addr, addr, 4);
		return !bpf_map_lookup_elem(m->block4, &k, &e);
	}
	struct weir_lpm6 k = { .prefixlen = 128 };

	memcpy(k.addr, addr, 16);
	return !bpf_map_lookup_elem(m->block6, &k, &e);
}

/* Picks NSAMPLE random entries of the wanted kind among v[0..size) into
 * frames; returns 0 when there is none of that kind. */
static int pick_sources(uint64_t *s, const struct weir_cidr *v, size_t size,
			int host, int family, struct frame *fs)
{
	size_t n = 0;
	uint8_t a[16];

	for (size_t i = 0; i < size; i++)
		n += is_host(&v[i]) == host;
	if (!n)
		return 0;
	for (int k = 0; k < NSAMPLE; k++) {
		size_t want = rng_next(s) % n, seen = 0, i;

		for (i = 0; i < size; i++)
			if (is_host(&v[i]) == host && seen++ == want)
				break;
		addr_in(s, &v[i], a);
		build_ip(&fs[k], family, a, 0, 0);
	}
	return 1;
}

static void bench_curve(const struct cfg *c, int drop_fd)
{
	static const int want[NKIND] = { XDP_DROP, XDP_DROP, XDP_PASS };
	struct point pts[NSIZES];
	struct weir_cidr *lists[2];
	struct frame dropf, fs[2][NKIND][NSAMPLE];
	size_t loaded = 0, np = 0;
	uint64_t s = c->seed ^ 0x5eed;
	uint8_t a[16];
	struct weir w;
	int err;

	lists[0] = gen_prefixes(4, c->max_prefixes, c->seed);
	lists[1] = gen_prefixes(6, c->max_prefixes, c->seed);
	passed_addr(&s, 4, a);
	build_ip(&dropf, 4, a, 0, 0);
	weir_open(&w);

	progress("curve:");
	for (size_t si = 0; si < NSIZES && curve_sizes[si] <= c->max_prefixes; si++) {
		struct point *p = &pts[np++];
		size_t size = curve_sizes[si];

		memset(p, 0, sizeof(*p));
		p->size = size;
		for (int f = 0; f < 2; f++) {
			uint64_t t0 = now_ns();

			if (size > loaded &&
			    (err = weir_list_import(&w.m, WEIR_LIST_BLOCK,
						    lists[f] + loaded, size - loaded,
						    NULL, NULL)))
				die("import %zu IPv%d prefixes: %s", size - loaded,
				    f ? 6 : 4, strerror(-err));
			p->import_s[f] = (double)(now_ns() - t0) / 1e9;
		}
		loaded = size;
		for (int f = 0; f < 2; f++) {
			int fam = f ? 6 : 4;

			p->have[f][K_HOST] = pick_sources(&s, lists[f], size, 1, fam,
							  fs[f][K_HOST]);
			p->have[f][K_NET] = pick_sources(&s, lists[f], size, 0, fam,
							 fs[f][K_NET]);
			p->have[f][K_PASS] = 1;
			for (int i = 0; i < NSAMPLE; i++) {
				do
					passed_addr(&s, fam, a);
				while (block_has(&w.m, fam, a));
				build_ip(&fs[f][K_PASS][i], fam, a, 0, 0);
			}
		}
		for (int r = 0; r < c->rounds; r++) {
			p->drop[r] = test_run(drop_fd, &dropf, c->repeat).ns;
			for (int f = 0; f < 2; f++)
				for (int k = 0; k < NKIND; k++)
					if (p->have[f][k])
						p->ns[f][k][r] = run_sources(w.fd, fs[f][k],
									     c->repeat, want[k]);
		}
		progress(" %zu", size);
	}
	progress("\n");

	fprintf(out, "  \"curve_config\": \"blocklist only (no allowlist, no limits); "
		     "%d sources per point and kind, each run repeat/2 times: blocked = "
		     "random host entries of the loaded list (/32, /128: the table), "
		     "blocked_net = random addresses inside its network entries (the trie), "
		     "passed = addresses of 198.18.0.0/15 or 2001:2::/48, in neither; "
		     "size 0 = blocklist features off\",\n", NSAMPLE);
	fprintf(out, "  \"curve\": [\n");
	for (size_t i = 0; i < np; i++) {
		struct point *p = &pts[i];
		double dm = median(p->drop, c->rounds);

		for (int f = 0; f < 2; f++) {
			fprintf(out, "    {\"family\": %d, \"prefixes\": %zu, \"drop_ns\": %.3f, "
				     "\"import_increment_s\": %.3f", f ? 6 : 4, p->size, dm,
				p->import_s[f]);
			for (int k = 0; k < NKIND; k++) {
				char key[64];

				if (!p->have[f][k]) {
					fprintf(out, ", \"%s_ns\": null", kind_key[k]);
					continue;
				}
				double m = median(p->ns[f][k], c->rounds);

				fprintf(out, ", \"%s_ns\": %.3f, \"%s_ratio_vs_drop\": %.3f, ",
					kind_key[k], m, kind_key[k], m / dm);
				snprintf(key, sizeof(key), "%s_rounds", kind_key[k]);
				json_rounds(key, p->ns[f][k], c->rounds);
			}
			fprintf(out, "}%s\n", i + 1 < np || f == 0 ? "," : "");
		}
	}
	fprintf(out, "  ],\n");
	weir_close(&w);
	free(lists[0]);
	free(lists[1]);
}

/* ---- import timing ---- */

static void bench_import(const struct cfg *c)
{
	double t[2][MAX_ROUNDS];
	size_t n = c->max_prefixes;

	progress("import:");
	for (int f = 0; f < 2; f++) {
		struct weir_cidr *v = gen_prefixes(f ? 6 : 4, n, c->seed);

		for (int r = 0; r < c->import_rounds; r++) {
			struct weir w;
			uint64_t t0;
			long fill;
			int err;

			weir_open(&w);
			t0 = now_ns();
			err = weir_list_import(&w.m, WEIR_LIST_BLOCK, v, n, NULL, NULL);
			t[f][r] = (double)(now_ns() - t0) / 1e9;
			if (err)
				die("import: %s", strerror(-err));
			if (r == 0 && (fill = weir_list_count(&w.m, WEIR_LIST_BLOCK, NULL)) !=
					      (long)n)
				die("import: %ld entries in the map, want %zu", fill, n);
			weir_close(&w);
			progress(" v%d:%.2fs", f ? 6 : 4, t[f][r]);
		}
		free(v);
	}
	progress("\n");
	fprintf(out, "  \"import\": [\n");
	for (int f = 0; f < 2; f++) {
		double m = median(t[f], c->import_rounds);

		fprintf(out, "    {\"family\": %d, \"prefixes\": %zu, \"what\": \"weir_list_import() "
			     "into empty maps (batched BPF_MAP_UPDATE_BATCH)\", \"seconds\": %.3f, "
			     "\"prefixes_per_sec\": %.0f, ", f ? 6 : 4, n, m, (double)n / m);
		json_rounds("rounds", t[f], c->import_rounds);
		fprintf(out, "}%s\n", f ? "" : ",");
	}
	fprintf(out, "  ],\n");
}

/* ---- l4 forwarding ---- */

#define L4_WARMUP 1000

/* The harness of the l4 cases (bench/reframe.bpf.c): restores the frame
 * before every run and tail-calls the program in its slot 0. */
struct harness {
	struct reframe_bpf *skel;
	int fd, target;
};

static void harness_open(struct harness *h)
{
	h->skel = reframe_bpf__open_and_load();
	if (!h->skel)
		die("load reframe: %s", strerror(errno));
	h->fd = bpf_program__fd(h->skel->progs.reframe);
	h->target = bpf_map__fd(h->skel->maps.reframe_target);
}

/* Runs prog_fd under the harness from now on. */
static void harness_target(struct harness *h, int prog_fd)
{
	uint32_t k = 0;

	if (bpf_map_update_elem(h->target, &k, &prog_fd, BPF_ANY))
		die("reframe: tail-call target: %s", strerror(errno));
}

/* The frame the harness restores; rotate: the offset of the last 4 bytes
 * of the source address, to make every run a new flow (0: the same frame
 * every run). The rotation goes on from where it was, so no source comes
 * twice in a run of the bench. */
static void harness_frame(struct harness *h, const struct frame *f, uint32_t rotate)
{
	memcpy(h->skel->bss->reframe_head, f->b, sizeof(h->skel->bss->reframe_head));
	h->skel->bss->reframe_len = f->len;
	h->skel->bss->reframe_rotate = rotate;
	h->skel->bss->reframe_base = 10u << 24; /* 10.0.0.0 onwards */
}

static struct weir_svc_key l4_key(const char *spec)
{
	struct weir_svc_key k;
	char err[160];

	if (weir_svc_key_parse(spec, &k, err, sizeof(err)))
		die("%s", err);
	return k;
}

/* An l4 service at spec with the 3 backends be[], encapsulated from src,
 * each reached through interface 1: the loopback, which is a test run's
 * ingress, so the frame leaves by XDP_TX. */
static void l4_service(struct weir *w, const char *spec, uint8_t flags,
		       const char *const be[3], const char *src)
{
	struct weir_svc_key k = l4_key(spec);
	struct weir_svc v = { .mode = WEIR_SVC_L4, .flags = flags };
	int err;

	if ((err = weir_svc_add(&w->m, &k, &v)))
		die("service %s: %s", spec, strerror(-err));
	for (int i = 0; i < 3; i++) {
		struct weir_backend b = { .weight = 1, .ifindex = 1 };
		uint8_t fam;

		if (weir_ip_parse(be[i], &b.family, b.addr) ||
		    weir_ip_parse(src, &fam, b.src))
			die("backend %s: bad address", be[i]);
		memcpy(b.dmac, "\x02\xbe\x00\x00\x00\x01", 6);
		memcpy(b.smac, "\x02\x00\x00\x00\x00\x02", 6);
		b.dmac[5] = (uint8_t)(i + 1);
		if ((err = weir_backend_add(&w->m, &k, &b)) < 0)
			die("backend %s of %s: %s", be[i], spec, strerror(-err));
	}
}

static void set_udp_dport(struct frame *f, int family, uint16_t port)
{
	size_t l4 = sizeof(struct ethhdr) +
		    (family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));
	struct udphdr *uh = (struct udphdr *)(f->b + l4);

	uh->dest = htons(port);
}

struct l4case {
	const char *name, *desc;
	int family;
	uint32_t rotate;     /* harness_frame()'s rotate */
	uint32_t flow_limit; /* weir_flow_track_set() for the case */
	int new_flows;	     /* the warm-up must add (1) or not add (0) flows */
	struct frame f;
	double ns[MAX_ROUNDS], tx[MAX_ROUNDS];
};

static uint64_t l4_forwarded(const struct weir *w)
{
	struct weir_stat st[WEIR_R_MAX];
	int err;

	if ((err = weir_stats_read(&w->m, st)))
		die("stats: %s", strerror(-err));
	return st[WEIR_R_L4_FWD].packets;
}

/* Times one side of an l4 case under the harness; checks the verdict (and,
 * for weir, that every run was counted as l4_forwarded). */
static double l4_run(struct harness *h, const struct weir *w, int prog_fd,
		     const struct l4case *lc, int repeat, const char *side)
{
	uint64_t before = w ? l4_forwarded(w) : 0, got;
	struct run x;

	harness_target(h, prog_fd);
	x = test_run(h->fd, &lc->f, repeat);
	if ((int)x.retval != XDP_TX)
		die("l4 case %s (%s): retval %u, want XDP_TX", lc->name, side, x.retval);
	if (w && (got = l4_forwarded(w) - before) < (uint64_t)repeat * 999 / 1000)
		die("l4 case %s: %llu of %d runs counted as l4_forwarded", lc->name,
		    (unsigned long long)got, repeat);
	return x.ns;
}

static void bench_l4(const struct cfg *c, int drop_fd, int tx_fd)
{
	static const char *const be4[3] = { "10.9.0.11", "10.9.0.12", "10.9.0.13" };
	static const char *const be6[3] = { "2001:db8:9::11", "2001:db8:9::12",
					    "2001:db8:9::13" };
	static const char *const dsr4[3] = { "10.9.0.21", "10.9.0.22", "10.9.0.23" };
	const uint8_t src4[16] = { 198, 18, 0, 1 };
	const uint8_t src6[16] = { 0x20, 0x01, 0x00, 0x02, 0, 0, 0, 1, [15] = 1 };
	const uint32_t rot4 = sizeof(struct ethhdr) + offsetof(struct iphdr, saddr);
	double harness_ns[MAX_ROUNDS], direct_ns[MAX_ROUNDS];
	struct l4case cs[5];
	struct harness h;
	struct frame arp;
	struct weir w;
	int n = 0, err;

	weir_open(&w);
	harness_open(&h);
	l4_service(&w, "198.19.0.1:53/udp", 0, be4, "10.9.0.1");
	l4_service(&w, "[2001:2::1]:53/udp", 0, be6, "2001:db8:9::1");
	l4_service(&w, "198.19.0.1:54/udp", WEIR_SVC_F_DSR, dsr4, "10.9.0.1");

#define CASE(nm, fam, rot, lim, nf, dsc) \
	(cs[n] = (struct l4case){ .name = nm, .family = fam, .rotate = rot, \
				  .flow_limit = lim, .new_flows = nf, .desc = dsc }, \
	 &cs[n++].f)
	build_ip(CASE("v4_encap_new", 4, rot4, 0, 1,
		      "IPv4 UDP, every run a new source: flow table miss, Maglev ring, "
		      "flow inserted (once the LRU is full, each insert evicts), "
		      "IPv4-in-IPv4"), 4, src4, 0, 0);
	build_ip(CASE("v4_encap_new_untracked", 4, rot4, 1, 0,
		      "the same with `service flow-limit 1`: miss and ring, no insert"),
		 4, src4, 0, 0);
	build_ip(CASE("v4_encap_tracked", 4, 0, 0, -1,
		      "IPv4 UDP, the same frame every run: a tracked flow, IPv4-in-IPv4"),
		 4, src4, 0, 0);
	build_ip(CASE("v6_encap_tracked", 6, 0, 0, -1,
		      "IPv6 UDP, a tracked flow, IPv6-in-IPv6"), 6, src6, 0, 0);
	build_ip(CASE("v4_dsr_tracked", 4, 0, 0, -1,
		      "IPv4 UDP to a --dsr service, a tracked flow: MACs rewritten"),
		 4, src4, 0, 0);
#undef CASE
	set_udp_dport(&cs[4].f, 4, 54);
	build_arp(&arp);

	/* Warm up every case, and check that the flow table does what the
	 * case says: a new flow per run, or none. */
	for (int i = 0; i < n; i++) {
		struct l4case *lc = &cs[i];
		long f0, f1;

		if ((err = weir_flow_track_set(&w.m, lc->flow_limit)))
			die("flow-limit: %s", strerror(-err));
		harness_frame(&h, &lc->f, lc->rotate);
		f0 = weir_map_fill(w.m.flow);
		l4_run(&h, &w, w.fd, lc, L4_WARMUP, "weir");
		f1 = weir_map_fill(w.m.flow);
		l4_run(&h, NULL, tx_fd, lc, L4_WARMUP, "xdp_tx");
		if ((lc->new_flows == 1 && f1 - f0 < L4_WARMUP * 99 / 100) ||
		    (lc->new_flows == 0 && f1 - f0 > 2))
			die("l4 case %s: %ld new flows tracked in %d runs", lc->name,
			    f1 - f0, L4_WARMUP);
	}

	progress("l4:");
	for (int r = 0; r < c->rounds; r++) {
		/* The harness alone (into XDP_DROP), and XDP_TX without it. */
		harness_frame(&h, &arp, 0);
		harness_target(&h, drop_fd);
		harness_ns[r] = test_run(h.fd, &arp, c->repeat).ns;
		direct_ns[r] = test_run(tx_fd, &cs[2].f, c->repeat).ns;
		for (int i = 0; i < n; i++) {
			struct l4case *lc = &cs[i];

			weir_flow_track_set(&w.m, lc->flow_limit);
			harness_frame(&h, &lc->f, lc->rotate);
			/* A B, then B A the next round. */
			if (r % 2 == 0) {
				lc->tx[r] = l4_run(&h, NULL, tx_fd, lc, c->repeat, "xdp_tx");
				lc->ns[r] = l4_run(&h, &w, w.fd, lc, c->repeat, "weir");
			} else {
				lc->ns[r] = l4_run(&h, &w, w.fd, lc, c->repeat, "weir");
				lc->tx[r] = l4_run(&h, NULL, tx_fd, lc, c->repeat, "xdp_tx");
			}
		}
		progress(" %d", r + 1);
	}
	progress("\n");

	fprintf(out, "  \"l4\": {\n    \"command\": \"%s\",\n    \"rounds\": %d,\n"
		     "    \"repeat\": %d,\n    \"frame_bytes\": %d,\n    \"cpu\": %d,\n",
		cmdline, c->rounds, c->repeat, FRAME_LEN, c->cpu);
	fprintf(out, "    \"config\": \"services only (no lists, no limits): "
		     "198.19.0.1:53/udp and [2001:2::1]:53/udp encapsulating, "
		     "198.19.0.1:54/udp --dsr, each an l4 service with 3 backends of "
		     "weight 1 reached through the test run's ingress (so XDP_TX); flow "
		     "table %u entries, per-CPU LRU lists\",\n", WEIR_FLOW_MAX);
	fprintf(out, "    \"method\": \"both sides run under bench/reframe.bpf.c, which "
		     "restores the frame's start and Ethernet header before each run (and "
		     "writes a new IPv4 source for the new-flow cases), then tail-calls "
		     "weir or the trivial XDP_TX program; each case checks its verdict "
		     "(XDP_TX) and, for weir, the l4_forwarded counter; the new-flow "
		     "cases check in their warm-up that %d runs added at least %d flows "
		     "(or none, under flow-limit); weir and XDP_TX alternated in every "
		     "round (A B, then B A); median of rounds\",\n", L4_WARMUP,
		L4_WARMUP * 99 / 100);
	fprintf(out, "    \"harness\": {\"reframe_into_xdp_drop_ns\": %.3f, "
		     "\"xdp_tx_direct_ns\": %.3f, \"desc\": \"the harness's own cost "
		     "(bench/reframe.bpf.c tail-calling XDP_DROP) and XDP_TX run without "
		     "it: each l4 figure includes the harness, on both sides\"},\n",
		median(harness_ns, c->rounds), median(direct_ns, c->rounds));
	fprintf(out, "    \"cases\": [\n");
	for (int i = 0; i < n; i++) {
		double m = median(cs[i].ns, c->rounds), t = median(cs[i].tx, c->rounds);

		fprintf(out, "      {\"case\": \"%s\", \"family\": %d, \"desc\": \"%s\", "
			     "\"action\": \"XDP_TX\", \"reason\": \"l4_forwarded\", "
			     "\"ns_per_pkt\": %.3f, \"xdp_tx_ns\": %.3f, "
			     "\"ratio_vs_xdp_tx\": %.3f, ",
			cs[i].name, cs[i].family, cs[i].desc, m, t, m / t);
		json_rounds("rounds", cs[i].ns, c->rounds);
		fprintf(out, ", ");
		json_rounds("xdp_tx_rounds", cs[i].tx, c->rounds);
		fprintf(out, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(out, "    ]\n  },\n");
	reframe_bpf__destroy(h.skel);
	weir_close(&w);
}

/* ---- gen: write a prefix list for weirctl, ipset and livegen ---- */

static int cmd_gen(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "family", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "ipset-name", required_argument, NULL, 'i' },
		{ "ipset-out", required_argument, NULL, 'I' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "hosts-count", required_argument, NULL, 'k' },
		{ "net-hosts", required_argument, NULL, 'N' },
		{},
	};
	const char *path = NULL, *ipset_name = "weir_bench", *ipset_out = NULL;
	const char *hosts = NULL, *net_hosts = NULL;
	int family = 4, c;
	size_t n = 1000000, k = 4096;
	uint64_t seed = 1;
	struct weir_cidr *v;
	char buf[WEIR_CIDR_STRLEN];
	FILE *f;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': family = atoi(optarg); break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'o': path = optarg; break;
		case 'i': ipset_name = optarg; break;
		case 'I': ipset_out = optarg; break;
		case 'H': hosts = optarg; break;
		case 'k': k = strtoull(optarg, NULL, 10); break;
		case 'N': net_hosts = optarg; break;
		default: return 2;
		}
	}
	if ((family != 4 && family != 6) || !path || n < 1)
		die("usage: bench_xdp gen --family 4|6 --count N [--seed N] --out FILE "
		    "[--ipset-out FILE [--ipset-name NAME]] [--hosts FILE] [--net-hosts FILE] [--hosts-count K]");
	v = gen_prefixes(family, n, seed);
	if (!(f = fopen(path, "w")))
		die("%s: %s", path, strerror(errno));
	fprintf(f, "# bench_xdp gen: %zu IPv%d prefixes, seed %llu\n", n, family,
		(unsigned long long)seed);
	for (size_t i = 0; i < n; i++) {
		weir_cidr_format(&v[i], buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
	}
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
	if (ipset_out) {
		/* The same list as `ipset restore` input: one hash:net set. */
		if (!(f = fopen(ipset_out, "w")))
			die("%s: %s", ipset_out, strerror(errno));
		fprintf(f, "create %s hash:net family %s hashsize %zu maxelem %zu\n",
			ipset_name, family == 4 ? "inet" : "inet6", n, 2 * n);
		for (size_t i = 0; i < n; i++) {
			weir_cidr_format(&v[i], buf, sizeof(buf));
			fprintf(f, "add %s %s\n", ipset_name, buf);
		}
		if (fclose(f))
			die("%s: %s", ipset_out, strerror(errno));
	}
	/* Blocked sources: the first k host entries (exact /32 or /128), and
	 * random addresses inside the first k network entries. */
	for (int want_host = 1; want_host >= 0; want_host--) {
		const char *path2 = want_host ? hosts : net_hosts;
		uint64_t s = seed ^ 0x4057;
		size_t got = 0;

		if (!path2)
			continue;
		if (!(f = fopen(path2, "w")))
			die("%s: %s", path2, strerror(errno));
		for (size_t i = 0; i < n && got < k; i++) {
			uint8_t a[16];
			char as[INET6_ADDRSTRLEN];

			if (is_host(&v[i]) != want_host)
				continue;
			addr_in(&s, &v[i], a);
			inet_ntop(family == 4 ? AF_INET : AF_INET6, a, as, sizeof(as));
			fprintf(f, "%s\n", as);
			got++;
		}
		if (fclose(f))
			die("%s: %s", path2, strerror(errno));
	}
	free(v);
	return 0;
}

/* ---- main ---- */

/* libbpf's warnings, less the one every load of weir's object gives: libxdp's
 * .xdp_run_config section is libxdp's business, not libbpf's. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || strstr(fmt, "skipping unrecognized data section"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* path of `name` in the directory of this binary ($(BUILD)/), into buf. */
static const char *beside_exe(const char *name, char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 64);
	char *slash;

	if (n < 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	snprintf(slash ? slash + 1 : buf, 64, "%s", name);
	return buf;
}

/* "verdicts,curve,import,l4" (any of them) into S_* bits; -1 on a bad word. */
static int parse_only(const char *arg, unsigned int *only)
{
	static const char *const names[] = { "verdicts", "curve", "import", "l4" };
	const char *p = arg;

	*only = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		unsigned int i;

		for (i = 0; i < 4; i++)
			if (strlen(names[i]) == len && !strncmp(p, names[i], len))
				break;
		if (i == 4)
			return -1;
		*only |= 1u << i;
		p += len + (p[len] == ',');
	}
	return *only ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_xdp [--out FILE] [--rounds N] [--repeat N] [--max-prefixes N]\n"
		"                 [--import-rounds N] [--seed N] [--cpu N] [--drop-obj FILE]\n"
		"                 [--tx-obj FILE] [--only verdicts,curve,import,l4] [--quick]\n"
		"       bench_xdp gen --family 4|6 --count N [--seed N] --out FILE\n"
		"                 [--ipset-out FILE [--ipset-name NAME]] [--hosts FILE] [--net-hosts FILE]\n"
		"                 [--hosts-count K]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "max-prefixes", required_argument, NULL, 'm' },
		{ "import-rounds", required_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 's' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "drop-obj", required_argument, NULL, 'd' },
		{ "tx-obj", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'O' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct cfg c = {
		.rounds = 7, .repeat = 1 << 20, .cpu = 0, .import_rounds = 3,
		.max_prefixes = 1000000, .seed = 1, .only = S_ALL,
	};
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	char drop_path[4096], tx_path[4096];
	struct bpf_object *drop_obj, *tx_obj;
	struct utsname u;
	cpu_set_t set;
	uint64_t t0;
	int opt, drop_fd, tx_fd;
	size_t used = 0;

	if (argc > 1 && !strcmp(argv[1], "gen"))
		return cmd_gen(argc - 1, argv + 1);
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'o': c.out = optarg; break;
		case 'r': c.rounds = atoi(optarg); break;
		case 'R': c.repeat = atoi(optarg); break;
		case 'm': c.max_prefixes = strtoull(optarg, NULL, 10); break;
		case 'i': c.import_rounds = atoi(optarg); break;
		case 's': c.seed = strtoull(optarg, NULL, 10); break;
		case 'c': c.cpu = atoi(optarg); break;
		case 'd': c.drop_obj = optarg; break;
		case 't': c.tx_obj = optarg; break;
		case 'O':
			if (parse_only(optarg, &c.only))
				die("--only: expected a list of verdicts, curve, import, l4");
			break;
		case 'q':
			c.rounds = 3;
			c.repeat = 1 << 18;
			c.max_prefixes = 10000;
			c.import_rounds = 1;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || c.rounds < 1 || c.rounds > MAX_ROUNDS ||
	    c.import_rounds < 1 || c.import_rounds > MAX_ROUNDS ||
	    c.repeat < NSAMPLE || c.max_prefixes < 1) {
		usage(stderr);
		return 2;
	}
	if (!c.drop_obj)
		c.drop_obj = beside_exe("xdp_drop.bpf.o", drop_path, sizeof(drop_path));
	if (!c.tx_obj)
		c.tx_obj = beside_exe("xdp_tx.bpf.o", tx_path, sizeof(tx_path));
	setrlimit(RLIMIT_MEMLOCK, &rl);
	libbpf_set_print(libbpf_print);
	CPU_ZERO(&set);
	CPU_SET(c.cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("pin to CPU %d: %s", c.cpu, strerror(errno));
	out = stdout;
	if (c.out && !(out = fopen(c.out, "w")))
		die("%s: %s", c.out, strerror(errno));

	drop_fd = obj_prog_open(c.drop_obj, "xdp_drop", &drop_obj);
	tx_fd = obj_prog_open(c.tx_obj, "xdp_tx", &tx_obj);
	for (int i = 0; i < argc && used + 2 < sizeof(cmdline); i++) {
		const char *a = i ? argv[i] : strrchr(argv[0], '/');

		a = a && !i ? a + 1 : argv[i];
		used += (size_t)snprintf(cmdline + used, sizeof(cmdline) - used, "%s%s",
					 i ? " " : "", a);
	}
	uname(&u);
	t0 = now_ns();
	{
		/* The fixed cost of a call: median of calls with repeat = 2. */
		double v[21];
		struct frame f;

		build_arp(&f);
		for (int i = 0; i < 21; i++) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.b,
				    .data_size_in = f.len, .repeat = 2);
			uint64_t a = cpu_ns();

			if (bpf_prog_test_run_opts(drop_fd, &o))
				die("BPF_PROG_TEST_RUN: %s", strerror(errno));
			v[i] = (double)(cpu_ns() - a);
		}
		call_overhead_ns = median(v, 21);
	}
	fprintf(out, "{\n  \"tool\": \"bench_xdp\",\n  \"method\": \"bpf_prog_test_run_opts, "
		     "repeat runs of one frame, thread CPU time around the syscall less the "
		     "call's fixed cost, / repeat; median of rounds; trivial XDP_DROP "
		     "alternated in every round\",\n  \"call_overhead_us\": %.1f,\n",
		call_overhead_ns / 1e3);
	fprintf(out, "  \"command\": \"%s\",\n", cmdline);
	fprintf(out, "  \"kernel\": \"%s %s\",\n  \"cpu\": %d,\n  \"rounds\": %d,\n"
		     "  \"repeat\": %d,\n  \"frame_bytes\": %d,\n  \"seed\": %llu,\n"
		     "  \"max_prefixes\": %zu,\n  \"prefix_mix\": \"90%% hosts (/32, /128), "
		     "10%% networks (/16../24, /48../64), unique, seeded\",\n",
		u.sysname, u.release, c.cpu, c.rounds, c.repeat, FRAME_LEN,
		(unsigned long long)c.seed, c.max_prefixes);
	if (c.only & S_VERDICTS)
		bench_verdicts(&c, drop_fd);
	if (c.only & S_CURVE)
		bench_curve(&c, drop_fd);
	if (c.only & S_IMPORT)
		bench_import(&c);
	if (c.only & S_L4)
		bench_l4(&c, drop_fd, tx_fd);
	fprintf(out, "  \"elapsed_s\": %.1f\n}\n", (double)(now_ns() - t0) / 1e9);
	bpf_object__close(tx_obj);
	bpf_object__close(drop_obj);
	if (out != stdout && fclose(out))
		die("%s: %s", c.out, strerror(errno));
	return 0;
}
