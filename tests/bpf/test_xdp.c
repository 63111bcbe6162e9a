/* test_xdp.c - the BPF tests of weir.
 *
 * Loads bpf/weir_xdp.bpf.c through its skeleton with private, unpinned maps
 * and the test clock on (time is read from weir_clock[0], so every test
 * controls it exactly), drives the maps only through the maps/weir_maps.h
 * API, and runs hand-built frames (tests/bpf/packets.h) through
 * BPF_PROG_TEST_RUN. Every packet check asserts the XDP verdict and that
 * exactly one reason counter of weir_stats went up, by one packet and by the
 * frame's length. Fixture tables in the style of Katran's testing/fixtures
 * (tests/bpf/packets.h, tests/bpf/fixtures.h). The trie summaries are also
 * read directly, mapped read-only, as the program reads them.
 *
 * Output: "ok N - what" / "not ok N - what: why" per check, then
 * "test_xdp: N passed, M failed"; exit status 0 only when nothing failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "maps/weir_maps.h"
#include "maps/weir_table.h"
#include "weir_xdp.skel.h"
#include "tests/bpf/packets.h"
#include "tests/bpf/fixtures.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static struct weir_xdp_bpf *skel;
static struct weir_maps M;
static int prog_fd, clock_fd, n_pass, n_fail;
static const char *const reason_name[WEIR_R_MAX] = WEIR_REASON_NAMES;

/* ---- reporting ---- */

__attribute__((format(printf, 3, 4)))
static bool checkf(bool ok, const char *desc, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (ok) {
		printf("ok %d - %s\n", ++n_pass + n_fail, desc);
	} else {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		printf("not ok %d - %s: %s\n", n_pass + ++n_fail, desc, why);
	}
	fflush(stdout);
	return ok;
}

#define CHECK(cond, desc) checkf((cond), (desc), "%s", #cond)

static void die(const char *what, int err)
{
	fprintf(stderr, "test_xdp: %s: %s\n", what, strerror(err < 0 ? -err : err));
	printf("test_xdp: %d passed, %d failed\n", n_pass, n_fail + 1);
	exit(1);
}

/* ---- the program, the clock and the counters ---- */

static void clock_set(uint64_t ns)
{
	__u32 k = 0;

	if (bpf_map_update_elem(clock_fd, &k, &ns, BPF_ANY))
		die("weir_clock update", errno);
}

static int xdp_run(const uint8_t *data, size_t len, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = (__u32)len,
		    .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	*retval = o.retval;
	return 0;
}

static void stats(struct weir_stat s[WEIR_R_MAX])
{
	int err = weir_stats_read(&M, s);

	if (err)
		die("weir_stats_read", err);
}

/* True when every counter moved from a to b by exactly want[r] packets and
 * wbytes[r] bytes; else says which did not. */
static bool delta_ok(const struct weir_stat a[], const struct weir_stat b[],
		     const uint64_t want[], const uint64_t wbytes[], char *why, size_t wl)
{
	for (int r = 0; r < WEIR_R_MAX; r++) {
		uint64_t dp = b[r].packets - a[r].packets, db = b[r].bytes - a[r].bytes;

		if (dp != want[r] || db != wbytes[r]) {
			snprintf(why, wl, "%s +%" PRIu64 " pkts +%" PRIu64 " bytes, want +%"
				 PRIu64 " +%" PRIu64, reason_name[r], dp, db, want[r], wbytes[r]);
			return false;
		}
	}
	return true;
}

/* Runs one frame: true when the verdict and the counters are as expected. */
static bool run_expect(const uint8_t *d, size_t len, __u32 verdict, int reason,
		       char *why, size_t wl)
{
	struct weir_stat a[WEIR_R_MAX], b[WEIR_R_MAX];
	uint64_t want[WEIR_R_MAX] = {}, wbytes[WEIR_R_MAX] = {};
	__u32 rv = 0;
	int err;

	stats(a);
	err = xdp_run(d, len, &rv);
	if (err) {
		snprintf(why, wl, "test run: %s", strerror(-err));
		return false;
	}
	stats(b);
	want[reason] = 1;
	wbytes[reason] = len;
	if (!delta_ok(a, b, want, wbytes, why, wl))
		return false;
	if (rv != verdict)
		snprintf(why, wl, "verdict %u, want %u", rv, verdict);
	return rv == verdict;
}

/* Runs setup (when given; false means the change did not take) and then
 * the frame built from o, expecting verdict and reason. */
static bool expect_pkt(const char *desc, const struct pkt_opts *o, __u32 verdict, int reason,
		       bool (*setup)(void))
{
	char why[256] = "setup failed";
	struct pkt p;

	pkt_build(&p, o);
	return checkf((!setup || setup()) &&
		      run_expect(p.b, p.len, verdict, reason, why, sizeof(why)), desc, "%s", why);
}

/* Sends n copies of p at the current clock; checks that n1 ended under r1
 * and n2 under r2 (nothing else), that the verdicts agree with the reasons
 * (PASS, PASS_NONIP and ALLOW pass, the rest drop) and the byte counts. */
static void expect_counts(const char *desc, const struct pkt *p, int n,
			  int r1, uint64_t n1, int r2, uint64_t n2)
{
	struct weir_stat a[WEIR_R_MAX], b[WEIR_R_MAX];
	uint64_t want[WEIR_R_MAX] = {}, wbytes[WEIR_R_MAX] = {}, npass = 0, wpass;
	char why[256] = "";
	bool ok;

	stats(a);
	for (int i = 0; i < n; i++) {
		__u32 rv;
		int err = xdp_run(p->b, p->len, &rv);

		if (err)
			die("test run", err);
		npass += rv == XDP_PASS;
	}
	stats(b);
	want[r1] += n1;
	want[r2] += n2;
	for (int r = 0; r < WEIR_R_MAX; r++)
		wbytes[r] = want[r] * p->len;
	wpass = want[WEIR_R_PASS] + want[WEIR_R_PASS_NONIP] + want[WEIR_R_ALLOW];
	ok = delta_ok(a, b, want, wbytes, why, sizeof(why));
	checkf(ok && npass == wpass, desc, "%s; %" PRIu64 " XDP_PASS verdicts, want %" PRIu64,
	       why, npass, wpass);
}

/* ---- helpers over the weir_maps API ---- */

static struct weir_cidr cidr(const char *s)
{
	struct weir_cidr c;
	char err[128];

	if (weir_cidr_parse(s, &c, err, sizeof(err)))
		die(err, EINVAL);
	return c;
}

static void list_add(enum weir_list l, const char *s, uint64_t ttl)
{
	struct weir_cidr c = cidr(s);
	int err = weir_list_add(&M, l, &c, ttl, l == WEIR_LIST_BLOCK ? s : NULL);

	if (err)
		die("weir_list_add", err);
}

static void limit_set(const char *s, struct weir_limit lim)
{
	struct weir_cidr c;
	int err;

	if (s)
		c = cidr(s);
	err = weir_limit_set(&M, s ? &c : NULL, &lim);
	if (err)
		die("weir_limit_set", err);
}

struct find_ctx {
	struct weir_cidr want;
	struct weir_list_item it;
	bool found;
};

static int find_cb(const struct weir_list_item *it, void *ctx)
{
	struct find_ctx *f = ctx;

	if (it->cidr.family == f->want.family && it->cidr.prefixlen == f->want.prefixlen &&
	    !memcmp(it->cidr.addr, f->want.addr, 16)) {
		f->it = *it;
		f->found = true;
	}
	return 0;
}

/* Walks list l (reaping as weir_list_walk does) looking for prefix s; *out
 * is zeroed when it is not there. */
static bool list_find(enum weir_list l, const char *s, struct weir_list_item *out, int *live)
{
	struct find_ctx f = { .want = cidr(s) };
	int n = weir_list_walk(&M, l, find_cb, &f);

	if (n < 0)
		die("weir_list_walk", n);
	if (live)
		*live = n;
	if (out)
		*out = f.it;
	return f.found;
}

static uint32_t features(void)
{
	struct weir_xdp_config cfg;
	int err = weir_xdp_config_read(&M, &cfg);

	if (err)
		die("weir_xdp_config_read", err);
	return cfg.features;
}

static long fill(enum weir_list l)
{
	return weir_list_count(&M, l, NULL);
}

/* The entry of exactly prefix s in list l, as weir_list_get reads it (no
 * reaping, unlike list_find); returns what weir_list_get returned. */
static int list_get(enum weir_list l, const char *s, struct weir_entry *e)
{
	struct weir_cidr c = cidr(s);

	memset(e, 0, sizeof(*e));
	return weir_list_get(&M, l, &c, e);
}

/* The trie of list l for a family. */
static int trie_fd(enum weir_list l, int family)
{
	if (l == WEIR_LIST_BLOCK)
		return family == 4 ? M.block4 : M.block6;
	return family == 4 ? M.allow4 : M.allow6;
}

/* Does prefix in lie inside prefix out (or equal it)? */
static bool cidr_within(const struct weir_cidr *in, const struct weir_cidr *out)
{
	if (in->family != out->family || in->prefixlen < out->prefixlen)
		return false;
	for (int b = 0; b < out->prefixlen; b++)
		if ((in->addr[b / 8] ^ out->addr[b / 8]) & (0x80 >> (b % 8)))
			return false;
	return true;
}

/* The summaries, mapped read-only as the program reads them. */
static const uint64_t *sum_view[2][2];

static const uint64_t *summary(enum weir_list l, int family)
{
	bool b = l == WEIR_LIST_BLOCK;
	int fd = family == 4 ? (b ? M.block4s : M.allow4s) : (b ? M.block6s : M.allow6s);
	const uint64_t **v = &sum_view[b][family == 6];
	void *p;

	if (!*v) {
		p = mmap(NULL, WEIR_SUMMARY_WORDS * sizeof(uint64_t), PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap a summary", errno);
		*v = p;
	}
	return *v;
}

/* Bits set in the whole summary of list l, family. */
static long sum_total(enum weir_list l, int family)
{
	const uint64_t *w = summary(l, family);
	long n = 0;

	for (size_t i = 0; i < WEIR_SUMMARY_WORDS; i++)
		n += __builtin_popcountll(w[i]);
	return n;
}

/* The bit of the address's first 24 bits, as weir_summary_hit reads it. */
static bool sum_bit(enum weir_list l, int family, const uint8_t *a)
{
	uint32_t top = (uint32_t)a[0] << 16 | (uint32_t)a[1] << 8 | a[2];

	return summary(l, family)[top / 64] & 1ull << (top % 64);
}

/* How many /24s (summary bits) prefix c spans. */
static uint32_t sum_span(const struct weir_cidr *c)
{
	return c->prefixlen >= 24 ? 1 : 1u << (24 - c->prefixlen);
}

/* Bits set in list l's summary among the /24s that prefix s spans,
 * counted bit by bit. */
static long sum_bits(enum weir_list l, const char *s)
{
	struct weir_cidr c = cidr(s);
	uint32_t first = (uint32_t)c.addr[0] << 16 | (uint32_t)c.addr[1] << 8 | c.addr[2];
	uint32_t span = sum_span(&c);
	long n = 0;

	for (uint32_t top = first; top - first < span; top++) {
		uint8_t a[3] = { (uint8_t)(top >> 16), (uint8_t)(top >> 8), (uint8_t)top };

		n += sum_bit(l, c.family, a);
	}
	return n;
}

/* Fixture tables (tests/bpf/packets.h and below), one check per row. */
static void run_fixtures(const struct fixture *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_pkt(f[i].desc, &f[i].pkt, f[i].verdict, f[i].reason, f[i].setup);
}

/* ---- truncation at every header boundary ---- */

/* The IP length still claims the whole frame; it agrees with the cut; it
 * agrees with the cut and the frame is padded to the 60-byte minimum. */
static const char *const trunc_modes[] = {
	"IP length claims the full frame", "IP length fixed to the cut",
	"IP length fixed to the cut, padded to 60 bytes",
};

static void test_truncation(void)
{
	struct weir_stat a[WEIR_R_MAX], b[WEIR_R_MAX];
	uint64_t zero[WEIR_R_MAX] = {};
	char why[256] = "";
	int refused = 0;
	struct pkt full, cut;
	__u32 rv;

	/* The kernel never runs XDP on less than an Ethernet header: test
	 * runs of 1..13 bytes are refused, so weir_parse_eth's own check of a
	 * cut Ethernet header cannot be reached from here. */
	pkt_build(&full, &trunc_frames[0].pkt);
	stats(a);
	for (size_t n = 1; n < ETH_HLEN; n++)
		refused += xdp_run(full.b, n, &rv) == -EINVAL;
	stats(b);
	checkf(refused == ETH_HLEN - 1 && delta_ok(a, b, zero, zero, why, sizeof(why)),
	       "truncation: frames of 1..13 bytes are refused by the kernel before XDP",
	       "%d of 13 refused; %s", refused, why);

	for (size_t f = 0; f < N_OF(trunc_frames); f++) {
		pkt_build(&full, &trunc_frames[f].pkt);
		for (int mode = 0; mode < 3; mode++) {
			/* padding would complete a cut L2 header: pad IP cuts only */
			size_t first = mode == 2 ? full.l3 : ETH_HLEN;
			char desc[200], fails[400] = "";
			int nbad = 0;

			for (size_t n = first; n < full.len; n++) {
				bool bad = mode == 0 || n < full.l4end;
				size_t len = n, fl = strlen(fails);

				pkt_cut(&full, &cut, n, mode > 0, trunc_frames[f].pkt.family);
				if (mode == 2 && len < 60) {
					memset(cut.b + n, 0, 60 - n);
					len = 60;
				}
				if (!run_expect(cut.b, len, bad ? XDP_DROP : XDP_PASS,
						bad ? WEIR_R_MALFORMED : WEIR_R_PASS,
						why, sizeof(why)) && nbad++ < 3)
					snprintf(fails + fl, sizeof(fails) - fl, "%scut %zu: %s",
						 fl ? "; " : "", n, why);
			}
			if (mode == 0 || full.l4end == full.len)
				snprintf(desc, sizeof(desc), "truncation: %s, %s: "
					 "every cut %zu..%zu malformed", trunc_frames[f].desc,
					 trunc_modes[mode], first, full.len - 1);
			else
				snprintf(desc, sizeof(desc), "truncation: %s, %s: "
					 "cuts %zu..%zu malformed, %zu..%zu pass",
					 trunc_frames[f].desc, trunc_modes[mode], first,
					 full.l4end - 1, full.l4end, full.len - 1);
			checkf(!nbad, desc, "%d wrong cuts: %s", nbad, fails);
		}
	}
}

/* ---- prefix and duration parsing ---- */

static void test_parse_api(void)
{
	static const struct { const char *s, *fmt; } good[] = {
		{ "10.0.0.0/8", "10.0.0.0/8" }, { "192.0.2.1", "192.0.2.1/32" },
		{ "0.0.0.0/0", "0.0.0.0/0" }, { "198.51.100.128/25", "198.51.100.128/25" },
		{ "2001:db8::/32", "2001:db8::/32" }, { "::1", "::1/128" }, { "::/0", "::/0" },
		{ "2001:db8:dead:beef::/64", "2001:db8:dead:beef::/64" },
	};
	static const char *const bad[] = {
		"", "1.2.3.4/33", "::/129", "10.0.0.1/24", "10.0.0.0/", "10.0.0.0/x", "abc",
		"1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/ 8", "1.2.3.4/8x", "2001:db8::1/64",
		"1.2.3/24", "/24", "10.0.0.0/99999999999999999999",
	};
	static const struct { const char *s; uint64_t ns; } dgood[] = {
		{ "90", 90 * SEC_NS }, { "90s", 90 * SEC_NS }, { "15m", 900 * SEC_NS },
		{ "2h", 7200 * SEC_NS }, { "7d", 604800 * SEC_NS }, { "1", SEC_NS },
	};
	static const char *const dbad[] = {
		"", "0", "0s", "-5", "5x", "5ss", "s", "1.5h", " 5", "5 ", "+5",
		"18446744073709551615", "99999999999999999999", "213503982335d",
	};
	char desc[160], buf[WEIR_CIDR_STRLEN], err[128];
	struct weir_cidr c;
	uint64_t ns;
	int rc;

	for (size_t i = 0; i < N_OF(good) + N_OF(bad); i++) {
		const char *in = i < N_OF(good) ? good[i].s : bad[i - N_OF(good)];
		const char *want = i < N_OF(good) ? good[i].fmt : NULL;

		buf[0] = err[0] = '\0';
		rc = weir_cidr_parse(in, &c, err, sizeof(err));
		if (!rc)
			weir_cidr_format(&c, buf, sizeof(buf));
		if (want)
			snprintf(desc, sizeof(desc), "weir_cidr_parse('%s') = %s", in, want);
		else
			snprintf(desc, sizeof(desc),
				 "weir_cidr_parse('%s') rejected with a message", in);
		checkf(want ? !rc && !strcmp(buf, want) && c.family == (strchr(buf, ':') ? 6 : 4)
			    : rc == -EINVAL && err[0], desc, "rc %d '%s' err '%s'", rc, buf, err);
	}
	for (size_t i = 0; i < N_OF(dgood) + N_OF(dbad); i++) {
		const char *in = i < N_OF(dgood) ? dgood[i].s : dbad[i - N_OF(dgood)];
		uint64_t want = i < N_OF(dgood) ? dgood[i].ns : 0;

		ns = 12345;
		rc = weir_duration_parse(in, &ns);
		if (want)
			snprintf(desc, sizeof(desc), "weir_duration_parse('%s') = %" PRIu64 " ns",
				 in, want);
		else
			snprintf(desc, sizeof(desc), "weir_duration_parse('%s') rejected", in);
		checkf(want ? !rc && ns == want : rc < 0 && ns == 12345, desc, "rc %d ns %" PRIu64,
		       rc, ns);
	}
}

/* ---- allowlist and blocklist ---- */

/* Changes made before a fixture, each checking that it took. */
static bool block_off(void)
{
	return !weir_features_update(&M, 0, WEIR_F_BLOCK) && features() == WEIR_F_ALLOW;
}

static bool block_on(void)
{
	return !weir_features_update(&M, WEIR_F_BLOCK, 0) &&
	       features() == (WEIR_F_ALLOW | WEIR_F_BLOCK);
}

static bool allow_off(void)
{
	return !weir_features_update(&M, 0, WEIR_F_ALLOW) && features() == WEIR_F_BLOCK;
}

static bool allow_on(void)
{
	return !weir_features_update(&M, WEIR_F_ALLOW, 0) &&
	       features() == (WEIR_F_ALLOW | WEIR_F_BLOCK);
}

static bool del_block_32(void)
{
	struct weir_cidr c = cidr("192.0.2.1/32");

	return !weir_list_del(&M, WEIR_LIST_BLOCK, &c) &&
	       weir_list_del(&M, WEIR_LIST_BLOCK, &c) == -ENOENT;
}

static bool flush_allow(void)
{
	return weir_list_flush(&M, WEIR_LIST_ALLOW) == 4 && !fill(WEIR_LIST_ALLOW) &&
	       features() == WEIR_F_BLOCK;
}

static bool flush_block(void)
{
	return weir_list_flush(&M, WEIR_LIST_BLOCK) == 5 && !fill(WEIR_LIST_BLOCK) &&
	       !weir_map_fill(M.note) && !features();
}

static const struct fixture feature_fixtures[] = {
	{ "WEIR_F_BLOCK cleared: blocklisted /32 passes", { V4, SYN, .src = "192.0.2.1" },
	  XDP_PASS, WEIR_R_PASS, block_off },
	{ "WEIR_F_BLOCK clear: blocklisted IPv6 /48 passes", { V6, UDP, .src = "2001:db8:dead::1" },
	  PASS },
	{ "WEIR_F_BLOCK clear: the allowlist still applies", { V4, UDP, .src = "10.1.2.3" },
	  ALLOW },
	{ "WEIR_F_BLOCK set again: blocklisted /32 dropped", { V4, SYN, .src = "192.0.2.1" },
	  XDP_DROP, WEIR_R_BLOCK, block_on },
	{ "WEIR_F_ALLOW cleared: allowlisted source under a block dropped",
	  { V4, UDP, .src = "10.1.2.3" }, XDP_DROP, WEIR_R_BLOCK, allow_off },
	{ "WEIR_F_ALLOW clear: allowlisted-only source passes normally",
	  { V4, UDP, .src = "198.18.7.7" }, PASS },
	{ "WEIR_F_ALLOW set again: allowlisted", { V4, UDP, .src = "10.1.2.3" },
	  XDP_PASS, WEIR_R_ALLOW, allow_on },
	{ "weir_list_del of the /32 (then -ENOENT): it passes", { V4, SYN, .src = "192.0.2.1" },
	  XDP_PASS, WEIR_R_PASS, del_block_32 },
	{ "weir_list_flush(allow) = 4 clears WEIR_F_ALLOW: the /8 blocks 10.1.2.3",
	  { V4, UDP, .src = "10.1.2.3" }, XDP_DROP, WEIR_R_BLOCK, flush_allow },
	{ "weir_list_flush(block) = 5, notes gone, WEIR_F_BLOCK clear: the /8 passes",
	  { V4, UDP, .src = "10.1.2.3" }, XDP_PASS, WEIR_R_PASS, flush_block },
};

static void test_lists(void)
{
	struct weir_list_item it;
	uint64_t hits0;
	bool found;
	int live;

	for (size_t i = 0; i < N_OF(block_set); i++)
		list_add(WEIR_LIST_BLOCK, block_set[i], 0);
	for (size_t i = 0; i < N_OF(allow_set); i++)
		list_add(WEIR_LIST_ALLOW, allow_set[i], 0);
	CHECK(features() == (WEIR_F_BLOCK | WEIR_F_ALLOW),
	      "weir_list_add sets WEIR_F_BLOCK and WEIR_F_ALLOW");
	run_fixtures(list_fixtures, N_OF(list_fixtures));

	/* walk: notes, the hits of the fixtures above, hits counting exactly */
	found = list_find(WEIR_LIST_BLOCK, "198.51.100.0/24", &it, &live);
	checkf(found && live == 6 && !strcmp(it.note, "198.51.100.0/24") && it.entry.hits == 4 &&
	       it.entry.prefixlen == 24 && !it.entry.expires_ns,
	       "weir_list_walk: 6 live, the /24 has its note, 4 hits, no expiry",
	       "live=%d note '%s' hits %" PRIu64, live, it.note, (uint64_t)it.entry.hits);
	found = list_find(WEIR_LIST_ALLOW, "10.1.2.0/24", &it, &live);
	checkf(found && live == 4 && it.entry.hits == 2 && !it.note[0],
	       "allowlist walk: 4 live, 10.1.2.0/24 has 2 hits",
	       "live=%d hits %" PRIu64, live, (uint64_t)it.entry.hits);
	hits0 = it.entry.hits;
	for (int i = 0; i < 5; i++) {
		char src[32];

		snprintf(src, sizeof(src), "10.1.2.%d", 100 + i);
		expect_pkt("allowlisted /24 member passes as allowlisted",
			   &(struct pkt_opts){ V4, UDP, .src = src }, ALLOW);
	}
	list_find(WEIR_LIST_ALLOW, "10.1.2.0/24", &it, NULL);
	checkf(it.entry.hits == hits0 + 5, "hits of 10.1.2.0/24 went up by exactly 5",
	       "%" PRIu64 " -> %" PRIu64, hits0, (uint64_t)it.entry.hits);
	list_find(WEIR_LIST_BLOCK, "10.0.0.0/8", &it, NULL);
	hits0 = it.entry.hits;
	expect_pkt("blocked by the /8", &(struct pkt_opts){ V4, UDP, .src = "10.1.3.1" },
		   DROP(BLOCK));
	list_find(WEIR_LIST_BLOCK, "10.0.0.0/8", &it, NULL);
	checkf(it.entry.hits == hits0 + 1, "hits of 10.0.0.0/8 went up by exactly 1",
	       "%" PRIu64 " -> %" PRIu64, hits0, (uint64_t)it.entry.hits);

	run_fixtures(feature_fixtures, N_OF(feature_fixtures));
}

/* ---- expiry, on the test clock ---- */

/* The program judges expiry on the test clock; weir_list_walk reaps on
 * CLOCK_MONOTONIC. An entry that a walk must reap gets a 1 ns ttl (it has
 * expired on CLOCK_MONOTONIC by the time the walk looks) and the test clock
 * puts the packets before and after its expires_ns. The program never
 * deletes an expired prefix: it looks past it, to a live prefix covering it
 * if there is one, and leaves it in the trie for weir_list_walk. */
static void test_expiry(void)
{
	const enum weir_list B = WEIR_LIST_BLOCK;
	struct pkt_opts o = { V4, UDP, .src = "100.80.1.5" };
	uint64_t t1, t2, exp;
	struct weir_entry e, e16;
	int rc, rc16, live;
	bool found;
	long n;

	/* a ttl /24 inside a live /16 */
	list_add(B, "100.80.1.0/24", 1);
	list_add(B, "100.80.0.0/16", 0);
	list_get(B, "100.80.1.0/24", &e);
	exp = e.expires_ns;
	clock_set(exp - 10 * SEC_NS);
	expect_pkt("ttl entry drops 10 s before expiry", &o, DROP(BLOCK));
	clock_set(exp - 5 * SEC_NS);
	expect_pkt("ttl entry drops 5 s before expiry", &o, DROP(BLOCK));
	rc = list_get(B, "100.80.1.0/24", &e);
	checkf(!rc && e.hits == 2, "the live ttl /24 matched both packets",
	       "rc %d hits %" PRIu64, rc, (uint64_t)e.hits);
	rc = list_get(B, "100.80.0.0/16", &e16);
	checkf(!rc && e16.hits == 0, "the covering /16 not hit while the /24 is live",
	       "rc %d hits %" PRIu64, rc, (uint64_t)e16.hits);
	n = weir_map_fill(M.block4);
	clock_set(exp + SEC_NS);
	expect_pkt("after expiry the covering live /16 still drops", &o, DROP(BLOCK));
	o.src = "100.80.1.6";
	expect_pkt("next packet from the expired /24 dropped by the /16", &o, DROP(BLOCK));
	rc = list_get(B, "100.80.1.0/24", &e);
	rc16 = list_get(B, "100.80.0.0/16", &e16);
	checkf(weir_map_fill(M.block4) == n && !rc && e.hits == 2 && !rc16 && e16.hits == 2,
	       "the expired /24 is left in the trie with no new hit; the /16 took both",
	       "fill %ld -> %ld, /24 rc %d hits %" PRIu64 ", /16 rc %d hits %" PRIu64, n,
	       weir_map_fill(M.block4), rc, (uint64_t)e.hits, rc16, (uint64_t)e16.hits);
	found = list_find(B, "100.80.1.0/24", NULL, &live);
	checkf(!found && live == 1 && weir_map_fill(M.block4) == n - 1 &&
	       list_get(B, "100.80.1.0/24", &e) == -ENOENT,
	       "weir_list_walk reaps the expired /24: 1 live, fill down by one",
	       "found %d live %d fill %ld -> %ld", found, live, n, weir_map_fill(M.block4));
	o.src = "100.80.1.7";
	expect_pkt("after the walk the /16 drops the /24's sources", &o, DROP(BLOCK));

	/* a lone ttl entry: drops until expires_ns - 1, passes at expires_ns */
	o.src = "100.81.3.4";
	t1 = weir_mono_ns();
	list_add(B, "100.81.0.0/16", 10 * SEC_NS);
	t2 = weir_mono_ns();
	list_get(B, "100.81.0.0/16", &e);
	exp = e.expires_ns;
	checkf(exp >= t1 + 10 * SEC_NS && exp <= t2 + 10 * SEC_NS,
	       "weir_list_add: expires_ns = weir_mono_ns() + ttl", "expires %" PRIu64
	       " not in [%" PRIu64 ", %" PRIu64 "] + 10 s", exp, t1, t2);
	clock_set(exp - 1);
	expect_pkt("lone ttl entry drops 1 ns before expires_ns", &o, DROP(BLOCK));
	n = weir_map_fill(M.block4);
	clock_set(exp);
	expect_pkt("lone ttl entry expired at expires_ns: passes", &o, PASS);
	rc = list_get(B, "100.81.0.0/16", &e);
	checkf(weir_map_fill(M.block4) == n && !rc && e.hits == 1,
	       "the expired lone /16 is left in the trie, no hit for the packet that passed",
	       "fill %ld -> %ld, rc %d hits %" PRIu64, n, weir_map_fill(M.block4), rc,
	       (uint64_t)e.hits);
	clock_set(exp - 1);
	expect_pkt("the program deleted nothing: at an earlier clock the /16 drops again", &o,
		   DROP(BLOCK));
	found = list_find(B, "100.81.0.0/16", NULL, &live);
	checkf(found && live == 2 && weir_map_fill(M.block4) == n,
	       "weir_list_walk keeps it: expired on the test clock, not on CLOCK_MONOTONIC",
	       "found %d live %d fill %ld -> %ld", found, live, n, weir_map_fill(M.block4));

	/* IPv6: expired, left in the trie, reaped by the walk with its summary bit */
	list_add(B, "2001:db8:e::/48", 1);
	list_get(B, "2001:db8:e::/48", &e);
	exp = e.expires_ns;
	o = (struct pkt_opts){ V6, SYN, .src = "2001:db8:e:1::1" };
	clock_set(exp - SEC_NS);
	expect_pkt("IPv6 ttl entry drops before expiry", &o, DROP(BLOCK));
	n = weir_map_fill(M.block6);
	clock_set(exp + SEC_NS);
	expect_pkt("IPv6 ttl entry passes after expiry", &o, PASS);
	rc = list_get(B, "2001:db8:e::/48", &e);
	checkf(weir_map_fill(M.block6) == n && !rc && e.hits == 1 &&
	       sum_bits(B, "2001:db8:e::/48") == 1,
	       "the expired IPv6 /48 is left in the trie with its summary bit, no new hit",
	       "fill %ld -> %ld, rc %d hits %" PRIu64, n, weir_map_fill(M.block6), rc,
	       (uint64_t)e.hits);
	found = list_find(B, "2001:db8:e::/48", NULL, &live);
	checkf(!found && live == 2 && weir_map_fill(M.block6) == n - 1 &&
	       !sum_bits(B, "2001:db8:e::/48") && !sum_total(B, 6),
	       "weir_list_walk reaps the IPv6 /48: fill down by one, its summary bit clear",
	       "found %d live %d fill %ld -> %ld, %ld bits", found, live, n,
	       weir_map_fill(M.block6), sum_total(B, 6));
	clock_set(exp - SEC_NS);
	expect_pkt("the reaped IPv6 /48 no longer matches, even at an earlier clock", &o, PASS);

	/* weir_list_walk reaps what has expired on CLOCK_MONOTONIC */
	o = (struct pkt_opts){ V4, UDP, .src = "100.82.0.1" };
	clock_set(weir_mono_ns() - SEC_NS);
	list_add(B, "100.82.0.0/16", 1);
	expect_pkt("1 ns ttl entry is live on an earlier test clock", &o, DROP(BLOCK));
	n = weir_map_fill(M.block4);
	found = list_find(B, "100.82.0.0/16", NULL, &live);
	checkf(!found && live == 2 && weir_map_fill(M.block4) == n - 1 &&
	       !sum_bits(B, "100.82.0.0/16"),
	       "weir_list_walk skips and deletes the expired entry, its summary bits clear",
	       "found %d live %d fill %ld -> %ld, %ld bits", found, live, n,
	       weir_map_fill(M.block4), sum_bits(B, "100.82.0.0/16"));
	expect_pkt("the entry reaped by the walk no longer matches", &o, PASS);
	CHECK(weir_list_flush(&M, B) == 2 && !features(),
	      "flush after the expiry tests: 2 left (the /16s), no bit");
}

/* ---- expired prefixes nested over live ones ---- */

/* Each case of nest_cases: its live prefixes, then its expired ones (1 ns
 * ttl, so expired on CLOCK_MONOTONIC too, for the walk), the packet 1 s
 * later on the test clock. Then the expired prefixes are still in the trie
 * with no hit, the live ones have their hits, and weir_list_walk reaps
 * exactly the expired ones and rebuilds the summary to the live ones' bits. */
static void test_nested_expiry(void)
{
	char desc[300];

	for (size_t i = 0; i < N_OF(nest_cases); i++) {
		const struct nest_case *nc = &nest_cases[i];
		enum weir_list l = nc->list;
		int fam = nc->f.pkt.family == PK_V6 ? 6 : 4, fd = trie_fd(l, fam), nlive = 0,
		    nexp = 0, bad = 0, live;
		long bits_live, n;
		struct weir_entry e;
		char why[200] = "";

		for (; nlive < 2 && nc->live[nlive]; nlive++)
			list_add(l, nc->live[nlive], 0);
		bits_live = sum_total(l, fam);
		for (; nc->expired[nexp]; nexp++)
			list_add(l, nc->expired[nexp], 1);
		clock_set(weir_mono_ns() + SEC_NS);
		n = weir_map_fill(fd);
		expect_pkt(nc->f.desc, &nc->f.pkt, nc->f.verdict, nc->f.reason, NULL);

		for (int k = 0; k < nexp; k++) {
			int rc = list_get(l, nc->expired[k], &e);

			if (rc || e.hits) {
				bad++;
				snprintf(why, sizeof(why), "%s: rc %d hits %" PRIu64, nc->expired[k],
					 rc, rc ? 0 : (uint64_t)e.hits);
			}
		}
		snprintf(desc, sizeof(desc), "%s: the expired prefixes (%d) left in the "
			 "trie, no hit", nc->f.desc, nexp);
		checkf(!bad && weir_map_fill(fd) == n, desc, "fill %ld -> %ld; %d bad, %s", n,
		       weir_map_fill(fd), bad, why);
		for (int k = 0; k < nlive; k++) {
			int rc = list_get(l, nc->live[k], &e);

			snprintf(desc, sizeof(desc), "%s: the live %s has %" PRIu64 " hit(s)",
				 nc->f.desc, nc->live[k], nc->hits[k]);
			checkf(!rc && e.hits == nc->hits[k], desc, "rc %d hits %" PRIu64, rc,
			       (uint64_t)e.hits);
		}

		live = weir_list_walk(&M, l, NULL, NULL);
		bad = 0;
		for (int k = 0; k < nexp; k++)
			bad += list_get(l, nc->expired[k], &e) != -ENOENT;
		snprintf(desc, sizeof(desc), "%s: weir_list_walk reaps the %d, the summary "
			 "back to the live prefixes' %ld bits", nc->f.desc, nexp, bits_live);
		checkf(live == nlive && !bad && weir_map_fill(fd) == n - nexp &&
		       sum_total(l, fam) == bits_live, desc, "live %d, %d not reaped, fill %ld "
		       "-> %ld, %ld bits", live, bad, n, weir_map_fill(fd), sum_total(l, fam));
		weir_list_flush(&M, l);
	}
	CHECK(!fill(WEIR_LIST_BLOCK) && !fill(WEIR_LIST_ALLOW) && !features(),
	      "nested expiry: lists flushed, no bit");
}

/* ---- generations of the single-address tables ---- */

/* Scans the blocklist table of a's family, mapped read-only, for the slots
 * that hold address a and are not EMPTY: returns how many, with the index
 * and the state word of the last in *at and *word. */
static int block_slots(const char *a, long *at, uint32_t *word)
{
	struct weir_cidr c = cidr(a);
	bool v4 = c.family == 4;
	size_t ssz = v4 ? sizeof(struct weir_slot4) : sizeof(struct weir_slot6);
	size_t off = v4 ? offsetof(struct weir_slot4, addr) : offsetof(struct weir_slot6, addr);
	size_t len = (size_t)WEIR_BLOCK_SLOTS * ssz;
	const char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, v4 ? M.block4h : M.block6h, 0);
	int n = 0;

	if (p == MAP_FAILED)
		die("mmap a table", errno);
	*at = -1;
	*word = 0;
	for (uint32_t i = 0; i < WEIR_BLOCK_SLOTS; i++) {
		const char *s = p + (size_t)i * ssz;
		uint32_t w = __atomic_load_n((const uint32_t *)s, __ATOMIC_ACQUIRE);

		if ((w & WEIR_SLOT_STATE) != WEIR_SLOT_EMPTY &&
		    !memcmp(s + off, c.addr, v4 ? 4 : 16)) {
			n++;
			*at = i;
			*word = w;
		}
	}
	munmap((void *)p, len);
	return n;
}

/* "generations: ADDR WHAT" */
static const char *gen_desc(const char *a, const char *what)
{
	static char buf[240];

	snprintf(buf, sizeof(buf), "generations: %s %s", a, what);
	return buf;
}

#define GEN(w) ((w) & ~WEIR_SLOT_STATE)
#define STATE(w) ((w) & WEIR_SLOT_STATE)

/* A slot's word is its state and a generation that userspace moves on at
 * every publish and rewrite; the program retires an expired entry by a
 * compare-and-swap of the word it read, so that a re-add wins. Each step
 * through weir_list_add, weir_list_get, weir_list_count and packets, and
 * the slot read as the program reads it. */
static void test_table_generations(void)
{
	const enum weir_list B = WEIR_LIST_BLOCK;

	for (size_t k = 0; k < N_OF(gen_srcs); k++) {
		const char *a = gen_srcs[k];
		struct weir_cidr c = cidr(a);
		struct pkt_opts o = { .family = c.family == 4 ? PK_V4 : PK_V6, UDP, .src = a };
		uint32_t w0, w1, w2, w3;
		long n0 = fill(B), i0, i1, i2, i3;
		struct weir_entry e1, e2, e;
		uint64_t t1, t2;
		int rc, ns;

		rc = weir_list_add(&M, B, &c, 10 * SEC_NS, NULL);
		list_get(B, a, &e1);
		ns = block_slots(a, &i0, &w0);
		checkf(!rc && fill(B) == n0 + 1 && ns == 1 && STATE(w0) == WEIR_SLOT_LIVE,
		       gen_desc(a, "added with a 10 s ttl: one LIVE slot"),
		       "rc %d count %ld -> %ld, %d slots, word 0x%x", rc, n0, fill(B), ns, w0);

		/* expired on the test clock; no packet has met it yet */
		clock_set(e1.expires_ns + SEC_NS);
		t1 = weir_mono_ns();
		rc = weir_list_add(&M, B, &c, 60 * SEC_NS, NULL);
		t2 = weir_mono_ns();
		list_get(B, a, &e2);
		ns = block_slots(a, &i1, &w1);
		checkf(!rc && e2.expires_ns >= t1 + 60 * SEC_NS && e2.expires_ns <= t2 + 60 * SEC_NS &&
		       fill(B) == n0 + 1 && ns == 1 && i1 == i0 && w1 == w0 + WEIR_SLOT_GEN1,
		       gen_desc(a, "expired, re-added with a 60 s ttl before any packet: rewritten in "
			    "place, the new expiry, the next generation"),
		       "rc %d expires %" PRIu64 " (was %" PRIu64 "), count %ld, %d slots, slot "
		       "%ld -> %ld, word 0x%x -> 0x%x", rc, (uint64_t)e2.expires_ns,
		       (uint64_t)e1.expires_ns, fill(B), ns, i0, i1, w0, w1);
		expect_pkt(gen_desc(a, "re-added: the next packet drops"), &o, DROP(BLOCK));
		rc = list_get(B, a, &e);
		ns = block_slots(a, &i1, &w1);
		checkf(!rc && e.expires_ns == e2.expires_ns && e.hits == 1 && ns == 1 &&
		       w1 == w0 + WEIR_SLOT_GEN1,
		       gen_desc(a, "weir_list_get shows the new expiry and the hit, the slot LIVE"),
		       "rc %d expires %" PRIu64 " hits %" PRIu64 ", word 0x%x", rc, (uint64_t)e.expires_ns,
		       (uint64_t)e.hits, w1);

		/* expired again: the packet that meets it retires it */
		clock_set(e2.expires_ns);
		expect_pkt(gen_desc(a, "at its new expires_ns: passes"), &o, PASS);
		rc = list_get(B, a, &e);
		ns = block_slots(a, &i2, &w2);
		checkf(rc == -ENOENT && fill(B) == n0 && ns == 1 && i2 == i0 &&
		       STATE(w2) == WEIR_SLOT_DEAD && GEN(w2) == GEN(w1),
		       gen_desc(a, "retired by the program: weir_list_get -ENOENT, weir_list_count "
			    "down by one, the slot DEAD in the same generation"),
		       "rc %d count %ld (want %ld), %d slots, slot %ld, word 0x%x (was 0x%x)", rc,
		       fill(B), n0, ns, i2, w2, w1);
		clock_set(e2.expires_ns - SEC_NS);
		expect_pkt(gen_desc(a, "retired: passes even at an earlier clock"), &o, PASS);

		/* added again: into the DEAD slot, the next generation */
		rc = weir_list_add(&M, B, &c, 0, NULL);
		ns = block_slots(a, &i3, &w3);
		checkf(!rc && fill(B) == n0 + 1 && !list_get(B, a, &e) && !e.expires_ns &&
		       ns == 1 && i3 == i0 && STATE(w3) == WEIR_SLOT_LIVE &&
		       GEN(w3) == GEN(w2) + WEIR_SLOT_GEN1,
		       gen_desc(a, "added again: the DEAD slot reused, LIVE in the next generation"),
		       "rc %d count %ld, %d slots, slot %ld (was %ld), word 0x%x (was 0x%x)", rc,
		       fill(B), ns, i3, i0, w3, w2);
		expect_pkt(gen_desc(a, "added again: drops"), &o, DROP(BLOCK));
		if (weir_list_del(&M, B, &c))
			die("weir_list_del", ENOENT);
	}
	CHECK(!fill(B) && !features(), "generations: lists empty, no bit");
}

#undef GEN
#undef STATE

/* ---- bulk import ---- */

#define IMPORT_N 10000

struct progress {
	size_t calls, last, total;
};

static void progress_cb(size_t done, size_t total, void *ctx)
{
	struct progress *p = ctx;

	p->calls++;
	p->last = done;
	p->total = total;
}

static void test_import(void)
{
	static struct weir_cidr v[IMPORT_N];
	static char probe[IMPORT_N][INET6_ADDRSTRLEN];
	char why[256], first[600] = "", s[WEIR_CIDR_STRLEN];
	struct progress prog = {};
	struct weir_list_item it;
	int err, nbad = 0, live;
	struct pkt p;
	bool ok;

	for (size_t i = 0; i < IMPORT_N; i++)
		import_prefix(i, &v[i], probe[i], sizeof(probe[i]));
	err = weir_list_import(&M, WEIR_LIST_BLOCK, v, IMPORT_N / 2, NULL, NULL);
	checkf(!err && fill(WEIR_LIST_BLOCK) == IMPORT_N / 2 && features() == WEIR_F_BLOCK,
	       "weir_list_import of 5000 mixed v4/v6 prefixes, sets WEIR_F_BLOCK",
	       "rc %d fill %ld", err, fill(WEIR_LIST_BLOCK));
	for (size_t i = 0; i < 4; i++)
		expect_pkt("imported prefix blocks (one hit before the re-import)",
			   &(struct pkt_opts){ .family = v[i].family, UDP, .src = probe[i] },
			   DROP(BLOCK));
	err = weir_list_import(&M, WEIR_LIST_BLOCK, v, IMPORT_N, progress_cb, &prog);
	checkf(!err && fill(WEIR_LIST_BLOCK) == IMPORT_N,
	       "re-import of 10000 over 5000 existing succeeds: 10000 entries",
	       "rc %d fill %ld", err, fill(WEIR_LIST_BLOCK));
	checkf(prog.calls > 0 && prog.last == IMPORT_N && prog.total == IMPORT_N,
	       "import progress reaches done == total", "calls %zu last %zu total %zu",
	       prog.calls, prog.last, prog.total);
	for (size_t i = 0; i < 4; i++) {
		weir_cidr_format(&v[i], s, sizeof(s));
		ok = list_find(WEIR_LIST_BLOCK, s, &it, &live);
		checkf(ok && live == IMPORT_N && it.entry.hits == 1 && !it.entry.expires_ns &&
		       it.entry.prefixlen == v[i].prefixlen,
		       "the re-import kept an existing entry (hits 1) with its prefixlen",
		       "%s: hits %" PRIu64 " prefixlen %u live %d", s, (uint64_t)it.entry.hits,
		       it.entry.prefixlen, live);
	}
	for (size_t i = 0; i < IMPORT_N; i++) {
		size_t fl = strlen(first);

		pkt_build(&p, &(struct pkt_opts){ .family = v[i].family, UDP, .src = probe[i] });
		if (!run_expect(p.b, p.len, XDP_DROP, WEIR_R_BLOCK, why, sizeof(why)) && nbad++ < 2)
			snprintf(first + fl, sizeof(first) - fl, "%.46s: %.200s; ", probe[i], why);
	}
	checkf(!nbad, "all 10000 imported prefixes block their addresses", "%d failed: %s",
	       nbad, first);
	expect_pkt("an address outside every imported prefix passes",
		   &(struct pkt_opts){ V4, UDP, .src = "172.15.255.255" }, PASS);
	err = weir_list_flush(&M, WEIR_LIST_BLOCK);
	checkf(err == IMPORT_N && fill(WEIR_LIST_BLOCK) == 0 && features() == 0,
	       "weir_list_flush returns 10000 and empties", "rc %d", err);
	expect_pkt("a formerly imported prefix passes after the flush",
		   &(struct pkt_opts){ V6, UDP, .src = probe[3] }, PASS);
	CHECK(weir_list_import(&M, WEIR_LIST_BLOCK, v, 0, NULL, NULL) == 0 && features() == 0,
	      "import of nothing succeeds and sets no feature bit");
}

/* ---- rate limits ---- */

static void run_limit_steps(uint64_t base)
{
	for (size_t i = 0; i < N_OF(limit_steps); i++) {
		const struct limit_step *s = &limit_steps[i];
		struct pkt p;

		if (s->limit)
			limit_set(strcmp(s->limit, "default") ? s->limit : NULL, s->lim);
		clock_set(base + s->at);
		pkt_build(&p, &s->pkt);
		expect_counts(s->desc, &p, s->n, WEIR_R_PASS, s->npass, s->drop, s->ndrop);
	}
}

/* Steady offered load on one source: per_step copies of p every step_ns
 * for steps steps, plus one each of extra[] per step, which must all pass.
 * Checks the admitted count against rate * duration + burst (within 5%) and
 * against the exact GCRA count, and the counters against the verdicts. */
static void rate_accuracy(const char *what, uint64_t t, const struct pkt *p, int limited,
			  uint32_t rate, uint32_t burst, uint64_t step_ns, int per_step,
			  int steps, const struct pkt *const *extra, int n_extra)
{
	struct weir_stat a[WEIR_R_MAX], b[WEIR_R_MAX];
	uint64_t want[WEIR_R_MAX] = {}, wbytes[WEIR_R_MAX] = {};
	uint64_t admitted = 0, extra_dropped = 0, offered = (uint64_t)per_step * (uint64_t)steps;
	double ideal = (double)rate * (double)(step_ns * (uint64_t)steps) / 1e9 + burst;
	uint64_t exact = burst + (uint64_t)(steps - 1) * step_ns / (SEC_NS / rate);
	char desc[200], why[256] = "";
	__u32 rv;

	stats(a);
	for (int s = 0; s < steps; s++, t += step_ns) {
		clock_set(t);
		for (int i = 0; i < per_step; i++) {
			if (xdp_run(p->b, p->len, &rv))
				die("test run", errno);
			admitted += rv == XDP_PASS;
		}
		for (int i = 0; i < n_extra; i++) {
			if (xdp_run(extra[i]->b, extra[i]->len, &rv))
				die("test run", errno);
			extra_dropped += rv != XDP_PASS;
			want[WEIR_R_PASS]++;
			wbytes[WEIR_R_PASS] += extra[i]->len;
		}
	}
	stats(b);
	snprintf(desc, sizeof(desc), "%s: %" PRIu64 " of %" PRIu64 " admitted, within 5%% of "
		 "rate*duration+burst = %.0f", what, admitted, offered, ideal);
	checkf(admitted >= ideal * 0.95 && admitted <= ideal * 1.05, desc, "off by %.2f%%",
	       100.0 * ((double)admitted - ideal) / ideal);
	snprintf(desc, sizeof(desc), "%s: exactly the GCRA count %" PRIu64, what, exact);
	checkf(admitted == exact, desc, "admitted %" PRIu64, admitted);
	want[WEIR_R_PASS] += admitted;
	wbytes[WEIR_R_PASS] += admitted * p->len;
	want[limited] += offered - admitted;
	wbytes[limited] += (offered - admitted) * p->len;
	snprintf(desc, sizeof(desc), "%s: counters match the verdicts", what);
	checkf(delta_ok(a, b, want, wbytes, why, sizeof(why)) && !extra_dropped, desc,
	       "%s; %" PRIu64 " non-SYN packets dropped", why, extra_dropped);
}

struct collect {
	struct weir_cidr c[32];
	int n;
};

static int collect_cb(const struct weir_cidr *c, const struct weir_limit *l, void *ctx)
{
	struct collect *col = ctx;

	if (col->n < 32)
		col->c[col->n++] = *c;
	return 0;
}

static void test_limits(void)
{
	uint64_t base = weir_mono_ns() + 1000 * SEC_NS;
	const struct pkt *p, *extra[3];
	struct collect col = {};
	struct weir_cidr c;
	int err = 0;

	CHECK(!(features() & WEIR_F_LIMIT), "no limit configured: WEIR_F_LIMIT clear");
	run_limit_steps(base);
	CHECK(features() & WEIR_F_LIMIT, "default back to 0 with overrides left: WEIR_F_LIMIT set");

	/* allowlisted sources skip the limits */
	limit_set("100.103.0.0/16", (struct weir_limit)LIM(1, 1, 1, 1));
	list_add(WEIR_LIST_ALLOW, "100.103.0.0/16", 0);
	p = pkt_make(PK_V4, "100.103.0.1", IPPROTO_UDP, 0, 0, NULL);
	expect_counts("allowlisted source skips the pkt limit", p, 20, WEIR_R_ALLOW, 20,
		      WEIR_R_PKT_LIMIT, 0);
	p = pkt_make(PK_V4, "100.103.0.1", IPPROTO_TCP, TF_SYN, 0, NULL);
	expect_counts("allowlisted source skips the conn limit", p, 10, WEIR_R_ALLOW, 10,
		      WEIR_R_CONN_LIMIT, 0);
	weir_list_flush(&M, WEIR_LIST_ALLOW);
	expect_counts("the same source, no longer allowlisted, is limited", p, 3, WEIR_R_PASS, 1,
		      WEIR_R_PKT_LIMIT, 2);

	/* accuracy over 100k packets with controlled time */
	base += 100 * SEC_NS;
	limit_set("100.100.1.1/32", (struct weir_limit)LIM(0, 0, 1000, 10));
	p = pkt_make(PK_V4, "100.100.1.1", IPPROTO_UDP, 0, 0, NULL);
	rate_accuracy("IPv4 pkt 1000/s burst 10, 10 pkts/ms for 10 s", base, p, WEIR_R_PKT_LIMIT,
		      1000, 10, MS_NS, 10, 10000, NULL, 0);
	limit_set("2001:db8:5::11/128", (struct weir_limit)LIM(0, 0, 3000, 5));
	p = pkt_make(PK_V6, "2001:db8:5::11", IPPROTO_TCP, TF_ACK, 0, NULL);
	rate_accuracy("IPv6 pkt 3000/s burst 5, 1 pkt/100us for 10 s", base, p, WEIR_R_PKT_LIMIT,
		      3000, 5, 100000, 1, 100000, NULL, 0);
	limit_set("100.100.1.2/32", (struct weir_limit)LIM(1000, 10, 0, 0));
	p = pkt_make(PK_V4, "100.100.1.2", IPPROTO_TCP, TF_SYN, 0, NULL);
	extra[0] = pkt_make(PK_V4, "100.100.1.2", IPPROTO_TCP, TF_ACK, 0, NULL);
	extra[1] = pkt_make(PK_V4, "100.100.1.2", IPPROTO_TCP, TF_SYN | TF_ACK, 0, NULL);
	extra[2] = pkt_make(PK_V4, "100.100.1.2", IPPROTO_UDP, 0, 0, NULL);
	rate_accuracy("IPv4 conn 1000/s burst 10, 10 SYN/ms + ACK, SYN-ACK, UDP", base, p,
		      WEIR_R_CONN_LIMIT, 1000, 10, MS_NS, 10, 10000, extra, 3);
	limit_set("2001:db8:5::12/128", (struct weir_limit)LIM(50, 1, 0, 0));
	p = pkt_make(PK_V6, "2001:db8:5::12", IPPROTO_TCP, TF_SYN, 0, NULL);
	extra[0] = pkt_make(PK_V6, "2001:db8:5::12", IPPROTO_TCP, TF_ACK, 0, NULL);
	rate_accuracy("IPv6 conn 50/s burst 1, 1 SYN/ms + ACK for 60 s", base, p,
		      WEIR_R_CONN_LIMIT, 50, 1, MS_NS, 1, 60000, extra, 1);

	/* delete every override: WEIR_F_LIMIT follows */
	c = cidr("100.200.0.0/16");
	CHECK(weir_limit_del(&M, &c) == -ENOENT, "weir_limit_del of a missing prefix: -ENOENT");
	checkf(weir_limit_walk(&M, collect_cb, &col) == 14 && col.n == 14,
	       "weir_limit_walk lists the 14 overrides", "n %d", col.n);
	for (int i = 0; i < col.n; i++)
		err |= weir_limit_del(&M, &col.c[i]);
	CHECK(!err && weir_limit_walk(&M, collect_cb, &col) == 0 && !(features() & WEIR_F_LIMIT),
	      "deleting every override (weir_limit_del) clears WEIR_F_LIMIT");
	p = pkt_make(PK_V4, "100.100.0.1", IPPROTO_UDP, 0, 0, NULL);
	expect_counts("WEIR_F_LIMIT clear: no limit applies", p, 30, WEIR_R_PASS, 30,
		      WEIR_R_PKT_LIMIT, 0);
}

/* ---- the split lists: a change through the API, then what must hold ---- */

/* Runs one change of a fixtures.h table; returns what the API returned. */
static int step_op(enum step_op op, enum weir_list l, const char *arg)
{
	struct weir_limit on = LIM(0, 0, 1000, 100), off = {};
	struct weir_cidr c = {}, v[16];
	char buf[256], *tok, *save = NULL;
	static uint64_t base;
	size_t n = 0;

	if (arg && op != OP_IMPORT && op != OP_CLOCK && strcmp(arg, "default"))
		c = cidr(arg);
	switch (op) {
	case OP_NONE: return 0;
	case OP_CLOCK:
		if (!base)
			base = weir_mono_ns();
		clock_set((uint64_t)((int64_t)base + strtoll(arg, NULL, 10) * (int64_t)SEC_NS));
		return 0;
	case OP_ADD: return weir_list_add(&M, l, &c, 0, NULL);
	case OP_ADD_TTL: return weir_list_add(&M, l, &c, 10 * SEC_NS, NULL);
	case OP_ADD_EXPIRED: return weir_list_add(&M, l, &c, 1, NULL);
	case OP_DEL: return weir_list_del(&M, l, &c);
	case OP_FLUSH: return weir_list_flush(&M, l);
	case OP_WALK: return weir_list_walk(&M, l, NULL, NULL);
	case OP_IMPORT:
		snprintf(buf, sizeof(buf), "%s", arg);
		for (tok = strtok_r(buf, " ", &save); tok && n < N_OF(v);
		     tok = strtok_r(NULL, " ", &save))
			v[n++] = cidr(tok);
		return weir_list_import(&M, l, v, n, NULL, NULL);
	case OP_LIMIT:
	case OP_LIMIT_OFF:
		return weir_limit_set(&M, strcmp(arg, "default") ? &c : NULL,
				      op == OP_LIMIT ? &on : &off);
	case OP_LIMIT_DEL: return weir_limit_del(&M, &c);
	}
	return -EINVAL;
}

static void test_feature_bits(void)
{
	for (size_t i = 0; i < N_OF(bits_steps); i++) {
		const struct bits_step *s = &bits_steps[i];
		int rc = step_op(s->op, s->list, s->arg);
		uint32_t f = features();
		char desc[200];

		snprintf(desc, sizeof(desc), "feature bits: %s", s->desc);
		checkf(rc == s->rc && f == s->want, desc, "rc %d (want %d), features 0x%x "
		       "(want 0x%x)", rc, s->rc, f, s->want);
	}
}

/* "D addr": dropped as blocklisted; "A addr": allowlisted; "P addr": passed. */
static void expect_src(const char *what, const char *spec)
{
	const char *src = spec + 2;
	struct pkt_opts o = { .family = strchr(src, ':') ? PK_V6 : PK_V4,
			      .proto = IPPROTO_UDP, .src = src };
	char desc[240];

	snprintf(desc, sizeof(desc), "%s: %s %s", what, src, spec[0] == 'D' ? "dropped"
		 : spec[0] == 'A' ? "allowlisted" : "passes");
	if (spec[0] == 'D')
		expect_pkt(desc, &o, DROP(BLOCK));
	else if (spec[0] == 'A')
		expect_pkt(desc, &o, ALLOW);
	else
		expect_pkt(desc, &o, PASS);
}

/* A comment outlives its entry when the program retires the entry; the
 * next walk of the blocklist sweeps it. */
static void test_note_sweep(void)
{
	long notes = weir_map_fill(M.note);
	int live;

	list_add(WEIR_LIST_BLOCK, "192.0.2.77/32", SEC_NS);
	list_add(WEIR_LIST_BLOCK, "192.0.2.78/32", 0);
	CHECK(weir_map_fill(M.note) == notes + 2, "note sweep: two comments stored");
	clock_set(weir_mono_ns() + 2 * SEC_NS);
	expect_src("note sweep: expired on the test clock", "P 192.0.2.77");
	expect_src("note sweep: the other stays", "D 192.0.2.78");
	CHECK(weir_map_fill(M.note) == notes + 2,
	      "note sweep: the retired entry's comment is still there");
	live = weir_list_walk(&M, WEIR_LIST_BLOCK, NULL, NULL);
	checkf(weir_map_fill(M.note) == notes + 1 && live >= 1,
	       "note sweep: a walk removes the comment of the retired entry only",
	       "%ld comments (had %ld), %d live", weir_map_fill(M.note), notes + 2, live);
	clock_set(weir_mono_ns());
	weir_list_flush(&M, WEIR_LIST_BLOCK);
	CHECK(weir_map_fill(M.note) == 0, "note sweep: flush removes every comment");
}

static void test_summary_steps(void)
{
	for (size_t i = 0; i < N_OF(sum_steps); i++) {
		const struct sum_step *s = &sum_steps[i];
		int rc = step_op(s->op, s->list, s->arg), fam = cidr(s->range).family;
		long in = sum_bits(s->list, s->range), tot = sum_total(s->list, fam);
		char desc[240], what[200];

		snprintf(what, sizeof(what), "summary: %s", s->desc);
		snprintf(desc, sizeof(desc), "%s (%s: %ld bits, %ld in all)", what, s->range,
			 s->in_range, s->total);
		checkf(rc >= 0 && in == s->in_range && tot == s->total, desc,
		       "rc %d, %ld bits, %ld in all", rc, in, tot);
		for (int j = 0; j < 3 && s->pkts[j]; j++)
			expect_src(what, s->pkts[j]);
	}
}

/* ---- precedence of single addresses over prefixes ---- */

/* Is prefix j of case pc inside a live prefix of its list in that case? */
static bool prec_covered(const struct prec_case *pc, int j)
{
	struct weir_cidr in = cidr(pc->e[j].cidr);

	for (int k = 0; k < 3 && pc->e[k].cidr; k++) {
		struct weir_cidr out = cidr(pc->e[k].cidr);

		if (k != j && !pc->e[k].expired && pc->e[k].list == pc->e[j].list &&
		    cidr_within(&in, &out))
			return true;
	}
	return false;
}

/* After the packet of case pc, with n entries in both lists of which
 * nstale are expired prefixes: weir_list_walk must reap exactly those and
 * rebuild the summaries without their bits. */
static void prec_walk(const struct prec_case *pc, long n, int nstale)
{
	char desc[240], why[200] = "";
	struct weir_entry ent;
	int bad = 0, rc;
	long n2;

	weir_list_walk(&M, WEIR_LIST_BLOCK, NULL, NULL);
	weir_list_walk(&M, WEIR_LIST_ALLOW, NULL, NULL);
	n2 = fill(WEIR_LIST_BLOCK) + fill(WEIR_LIST_ALLOW);
	for (int j = 0; j < 3 && pc->e[j].cidr; j++) {
		const struct prec_entry *e = &pc->e[j];
		struct weir_cidr c = cidr(e->cidr);
		long bits = prec_covered(pc, j) ? (long)sum_span(&c) : 0;

		if (!e->expired || e->retired)
			continue;
		rc = list_get(e->list, e->cidr, &ent);
		if (rc != -ENOENT || sum_bits(e->list, e->cidr) != bits) {
			bad++;
			snprintf(why, sizeof(why), "%s: rc %d, %ld summary bits, want %ld", e->cidr,
				 rc, sum_bits(e->list, e->cidr), bits);
		}
	}
	snprintf(desc, sizeof(desc), "%s: weir_list_walk reaps the expired prefixes (%d), "
		 "their summary bits clear unless a live prefix covers them", pc->f.desc, nstale);
	checkf(n2 == n - nstale && !bad, desc, "count %ld -> %ld; %s", n, n2, why);
}

static void test_precedence(void)
{
	struct weir_entry ent;
	char desc[240];

	for (size_t i = 0; i < N_OF(prec_cases); i++) {
		const struct prec_case *pc = &prec_cases[i];
		uint64_t t = weir_mono_ns();
		int nretired = 0, nstale = 0, rc;
		long n0, n1;

		for (int j = 0; j < 3 && pc->e[j].cidr; j++) {
			list_add(pc->e[j].list, pc->e[j].cidr, pc->e[j].expired ? 1 : 0);
			nretired += pc->e[j].retired;
			nstale += pc->e[j].expired && !pc->e[j].retired;
		}
		n0 = fill(WEIR_LIST_BLOCK) + fill(WEIR_LIST_ALLOW);
		clock_set(t + 20 * SEC_NS);
		expect_pkt(pc->f.desc, &pc->f.pkt, pc->f.verdict, pc->f.reason, NULL);
		for (int j = 0; j < 3 && pc->e[j].cidr; j++) {
			const struct prec_entry *e = &pc->e[j];
			const char *what = e->list ? "allowlisted" : "blocked";

			rc = list_get(e->list, e->cidr, &ent);
			if (e->retired)
				snprintf(desc, sizeof(desc), "%s: %s %s retired by the program",
					 pc->f.desc, what, e->cidr);
			else
				snprintf(desc, sizeof(desc), "%s: %s %s kept%s, %" PRIu64 " hits",
					 pc->f.desc, what, e->cidr,
					 e->expired ? " (expired: left for weir_list_walk)" : "", e->hits);
			checkf(e->retired ? rc == -ENOENT : !rc && ent.hits == e->hits, desc,
			       "rc %d hits %" PRIu64, rc, !rc ? (uint64_t)ent.hits : 0);
		}
		n1 = fill(WEIR_LIST_BLOCK) + fill(WEIR_LIST_ALLOW);
		snprintf(desc, sizeof(desc), "%s: the packet retired exactly %d entr%s",
			 pc->f.desc, nretired, nretired == 1 ? "y" : "ies");
		checkf(n1 == n0 - nretired, desc, "count %ld -> %ld", n0, n1);
		if (nstale)
			prec_walk(pc, n1, nstale);
		weir_list_flush(&M, WEIR_LIST_BLOCK);
		weir_list_flush(&M, WEIR_LIST_ALLOW);
	}
	CHECK(!weir_list_walk(&M, WEIR_LIST_BLOCK, NULL, NULL) &&
	      !weir_list_walk(&M, WEIR_LIST_ALLOW, NULL, NULL) && !features(),
	      "precedence: lists flushed, no bit");
}

/* ---- a large import, on every CPU ---- */

static struct weir_cidr big_v[BIG_HOSTS + BIG_NETS];

struct big_progress {
	pthread_t main;
	size_t calls, last, total, from_workers, backwards;
};

static void big_progress_cb(size_t done, size_t total, void *ctx)
{
	struct big_progress *p = ctx;

	__atomic_add_fetch(&p->calls, 1, __ATOMIC_RELAXED);
	if (done < __atomic_load_n(&p->last, __ATOMIC_RELAXED))
		__atomic_add_fetch(&p->backwards, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->last, done, __ATOMIC_RELAXED);
	__atomic_store_n(&p->total, total, __ATOMIC_RELAXED);
	if (!pthread_equal(pthread_self(), p->main))
		__atomic_add_fetch(&p->from_workers, 1, __ATOMIC_RELAXED);
}

/* Sends n sources, expecting each to drop as blocklisted (drop) or pass. */
static void big_probe(const char *desc, const uint32_t *src, size_t n, bool drop)
{
	char why[256], first[400] = "", a[INET_ADDRSTRLEN];
	size_t nbad = 0;
	struct pkt p;

	for (size_t i = 0; i < n; i++) {
		big_addr(src[i], a, sizeof(a));
		pkt_build(&p, &(struct pkt_opts){ V4, UDP, .src = a });
		if (!run_expect(p.b, p.len, drop ? XDP_DROP : XDP_PASS,
				drop ? WEIR_R_BLOCK : WEIR_R_PASS, why, sizeof(why)) && !nbad++)
			snprintf(first, sizeof(first), "%s: %.200s", a, why);
	}
	checkf(!nbad, desc, "%zu wrong, first %s", nbad, first);
}

/* What weir_list_walk shows of the large import: each /32 of 11/8 and /24
 * of 12/8 marked in a bitmap (seen twice: dup), anything else or an entry
 * with an expiry or the wrong prefixlen (bad), and the hits. */
struct big_seen {
	uint8_t hosts[1 << 21], nets[1 << 13];
	size_t n, dup, bad, hit1, hits;
};

static int big_seen_cb(const struct weir_list_item *it, void *ctx)
{
	struct big_seen *s = ctx;
	bool host = it->cidr.prefixlen == 32;
	uint32_t a, i;
	uint8_t *bm;

	memcpy(&a, it->cidr.addr, 4);
	a = ntohl(a);
	s->n++;
	s->hits += it->entry.hits;
	s->hit1 += it->entry.hits == 1;
	if (it->cidr.family != 4 || a >> 24 != (host ? 11u : 12u) ||
	    (!host && (it->cidr.prefixlen != 24 || (a & 0xff))) || it->entry.expires_ns ||
	    it->entry.prefixlen != it->cidr.prefixlen) {
		s->bad++;
		return 0;
	}
	i = host ? a & 0xffffff : a >> 8 & 0xffff;
	bm = host ? s->hosts : s->nets;
	s->dup += (bm[i / 8] >> (i % 8)) & 1;
	bm[i / 8] |= (uint8_t)(1u << (i % 8));
	return 0;
}

static int big_walk(struct big_seen *s)
{
	int live;

	memset(s, 0, sizeof(*s));
	live = weir_list_walk(&M, WEIR_LIST_BLOCK, big_seen_cb, s);
	if (live < 0)
		die("weir_list_walk", live);
	return live;
}

static void test_big_import(void)
{
	const size_t n = BIG_HOSTS + BIG_NETS;
	static uint32_t in[1000], out[1000];
	static struct big_seen seen;
	struct big_progress prog = { .main = pthread_self() };
	size_t h = 0, k = 0, missing = 0, bits = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char desc[200];
	int rc, live;

	/* a /24 after every 15 /32s */
	for (size_t i = 0; i < n; i++)
		if (i % 16 == 15)
			big_cidr(big_net((uint32_t)k++), 24, &big_v[i]);
		else
			big_cidr(big_host((uint32_t)h++), 32, &big_v[i]);
	rc = weir_list_import(&M, WEIR_LIST_BLOCK, big_v, n, big_progress_cb, &prog);
	live = big_walk(&seen);
	for (uint32_t i = 0; i < BIG_HOSTS; i++) {
		uint32_t a = big_host(i) & 0xffffff;

		missing += !((seen.hosts[a / 8] >> (a % 8)) & 1);
	}
	for (uint32_t i = 0; i < BIG_NETS; i++) {
		uint32_t a = big_net(i) >> 8 & 0xffff, be = htonl(big_net(i));

		missing += !((seen.nets[a / 8] >> (a % 8)) & 1);
		bits += sum_bit(WEIR_LIST_BLOCK, 4, (const uint8_t *)&be);
	}
	checkf(!rc && features() == WEIR_F_BLOCK, "large import: 300007 /32s and 20000 /24s "
	       "imported, BLOCK_HOST|BLOCK_NET", "rc %d features 0x%x", rc, features());
	checkf(live == (int)n && seen.n == n && !seen.dup && !seen.bad && !missing && !seen.hits,
	       "large import: weir_list_walk shows every prefix exactly once, no expiry, "
	       "no hit", "live %d walked %zu dup %zu bad %zu missing %zu hits %zu", live,
	       seen.n, seen.dup, seen.bad, missing, seen.hits);
	checkf(bits == BIG_NETS && sum_total(WEIR_LIST_BLOCK, 4) == BIG_NETS,
	       "large import: the summary has exactly the bits of the 20000 /24s",
	       "%zu of the /24s' bits set, %ld in all", bits, sum_total(WEIR_LIST_BLOCK, 4));
	checkf(prog.calls > 1 && !prog.backwards && prog.last == n && prog.total == n,
	       "large import: progress never goes back and ends at done == total == 320007",
	       "calls %zu backwards %zu last %zu total %zu", prog.calls, prog.backwards,
	       prog.last, prog.total);
	snprintf(desc, sizeof(desc), "large import: %s", cpus > 1
		 ? "the /24s took the threaded path (progress reported from a worker)"
		 : "one CPU online: the single-threaded path");
	checkf(cpus > 1 ? prog.from_workers > 0 : prog.from_workers == 0, desc,
	       "%zu reports from workers, %ld CPUs", prog.from_workers, cpus);

	/* 900 listed /32s and 100 addresses in listed /24s; as many not listed */
	for (uint32_t i = 0; i < 1000; i++) {
		in[i] = i < 900 ? big_host(i * 333) : big_net((i - 900) * 199) | 77;
		out[i] = i < 900 ? big_host(BIG_HOSTS + i * 9001) : big_net(BIG_NETS + i * 41) | 77;
	}
	big_probe("large import: 1000 sources from the list dropped", in, 1000, true);
	big_probe("large import: 1000 sources not in the list pass", out, 1000, false);
	live = big_walk(&seen);
	checkf(live == (int)n && seen.hit1 == 1000 && seen.hits == 1000,
	       "large import: the 1000 probed entries have one hit each, the rest none",
	       "live %d, %zu with one hit, %zu hits", live, seen.hit1, seen.hits);
	memset(&prog, 0, sizeof(prog));
	prog.main = pthread_self();
	rc = weir_list_import(&M, WEIR_LIST_BLOCK, big_v, n, big_progress_cb, &prog);
	live = big_walk(&seen);
	checkf(!rc && prog.last == n && live == (int)n && seen.hit1 == 1000 && !seen.dup,
	       "large import: the same import again adds nothing and keeps the hits",
	       "rc %d last %zu live %d, %zu with one hit", rc, prog.last, live, seen.hit1);
	rc = weir_list_flush(&M, WEIR_LIST_BLOCK);
	checkf(rc == (int)n && !weir_list_walk(&M, WEIR_LIST_BLOCK, NULL, NULL) &&
	       !sum_total(WEIR_LIST_BLOCK, 4) && !features(),
	       "large import: weir_list_flush = 320007, no bit", "rc %d", rc);
}

/* Live entries of list l by part: IPv4 prefixes, IPv4 addresses, IPv6
 * prefixes, IPv6 addresses. */
static int count_cb(const struct weir_list_item *it, void *ctx)
{
	int *n = ctx;

	n[(it->cidr.family == 6) * 2 + (it->cidr.prefixlen == (it->cidr.family == 4 ? 32 : 128))]++;
	return 0;
}

/* weir_list_import undoes what it added when a part fills up (the allowlist
 * table has WEIR_ALLOW_SLOTS slots per family, never all fillable): once where the last part (IPv6
 * single addresses) fails after three parts added entries, once where the
 * IPv4 single addresses fail in the table. */
static void test_import_rollback(void)
{
	enum weir_list A = WEIR_LIST_ALLOW;
	struct weir_list_item it;
	int rc, live, cnt[4];
	char desc[200];
	bool found;

	list_add(A, "10.90.0.0/16", 0);
	list_add(A, "10.91.0.1/32", 0);
	list_add(A, "2001:db8:90::/48", 0);
	expect_src("import rollback: before", "A 10.90.0.1");
	for (int t = 0; t < 2; t++) {
		const char *what = t ? "import rollback, 270001 new /32s fail"
				     : "import rollback, a table's worth of /128s fail after 3 parts";
		size_t n = 0, extra = t ? 270000 : WEIR_ALLOW_SLOTS;

		for (size_t i = 0; i < N_OF(rollback_head); i++)
			big_v[n++] = cidr(rollback_head[i]);
		for (uint32_t i = 0; i < extra; i++, n++) {
			uint32_t be = htonl(t ? 0xac100000u + i : i);

			big_v[n] = t ? cidr("172.16.0.0/32") : cidr("2001:db8:ffff::/128");
			memcpy(big_v[n].addr + (t ? 0 : 12), &be, 4);
		}
		rc = weir_list_import(&M, A, big_v, n, NULL, NULL);
		memset(cnt, 0, sizeof(cnt));
		live = weir_list_walk(&M, A, count_cb, cnt);
		found = list_find(A, "10.90.0.0/16", &it, NULL);
		snprintf(desc, sizeof(desc), "%s: an error, only the 3 entries from before, "
			 "bits unchanged, the kept /16 has its hit", what);
		checkf(rc < 0 && live == 3 && cnt[0] == 1 && cnt[1] == 1 && cnt[2] == 1 &&
		       features() == (WEIR_F_ALLOW_HOST | WEIR_F_ALLOW_NET) && found &&
		       it.entry.hits == 1, desc, "rc %d live %d (%d %d %d %d) features 0x%x "
		       "hits %" PRIu64, rc, live, cnt[0], cnt[1], cnt[2], cnt[3], features(),
		       (uint64_t)it.entry.hits);
		snprintf(desc, sizeof(desc), "%s: summaries rebuilt to the kept prefixes", what);
		checkf(sum_total(A, 4) == 256 && sum_bits(A, "10.90.0.0/16") == 256 &&
		       sum_total(A, 6) == 1 && !sum_bits(A, "2400::/24"), desc,
		       "%ld IPv4 bits, %ld IPv6 bits", sum_total(A, 4), sum_total(A, 6));
		for (size_t i = 0; i < N_OF(rollback_after); i++)
			expect_src(what, rollback_after[i]);
		expect_src(what, t ? "P 172.16.0.5" : "P 2001:db8:ffff::5");
	}
	CHECK(weir_list_flush(&M, A) == 3 && !sum_total(A, 4) && !sum_total(A, 6) && !features(),
	      "import rollback: flush = 3, no bit");
}

/* ---- main ---- */

#include "tests/bpf/services.c"
#include "tests/bpf/syncookie.c"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf does not know libxdp's .xdp_run_config section: not news */
	if (level == LIBBPF_DEBUG || strstr(fmt, "skipping unrecognized data section"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(void)
{
	struct weir_stat total[WEIR_R_MAX];
	int err;

	libbpf_set_print(libbpf_print);
	skel = weir_xdp_bpf__open();
	if (!skel)
		die("open the skeleton", errno);
	skel->rodata->weir_test_clock = 1;
	err = weir_xdp_bpf__load(skel);
	if (err)
		die("load the skeleton", err);
	prog_fd = bpf_program__fd(skel->progs.weir_xdp);
	clock_fd = bpf_map__fd(skel->maps.weir_clock);
	err = weir_maps_from_obj(&M, skel->obj);
	if (err)
		die("weir_maps_from_obj", err);
	CHECK(fill(WEIR_LIST_BLOCK) == 0 && weir_map_fill(M.src) == 0 && features() == 0,
	      "weir_maps_from_obj: private, empty maps, no feature bit");
	clock_set(weir_mono_ns());

	test_parse_api();
	run_fixtures(parse_fixtures, N_OF(parse_fixtures));
	test_truncation();
	test_lists();
	test_expiry();
	test_nested_expiry();
	test_table_generations();
	test_import();
	test_limits();
	test_feature_bits();
	test_summary_steps();
	test_precedence();
	test_big_import();
	test_import_rollback();
	test_note_sweep();
	test_services();
	test_syncookie();

	stats(total);
	for (int r = 0; r < WEIR_R_MAX; r++) {
		char desc[80];

		snprintf(desc, sizeof(desc), "reason %s was exercised", reason_name[r]);
		checkf(total[r].packets > 0, desc, "no packet counted");
	}
	for (int l = 0; l < 2; l++)
		for (int f = 0; f < 2; f++)
			if (sum_view[l][f])
				munmap((void *)sum_view[l][f], WEIR_SUMMARY_WORDS * sizeof(uint64_t));
	weir_maps_close(&M);
	weir_xdp_bpf__destroy(skel);
	printf("test_xdp: %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
