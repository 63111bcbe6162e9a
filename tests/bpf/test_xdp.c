/* test_xdp.c - the BPF tests of weir.
 *
 * Loads bpf/weir_xdp.bpf.c through its skeleton with private, unpinned maps
 * and the test clock on (time is read from weir_clock[0], so every test
 * controls it exactly), drives the maps only through the maps/weir_maps.h
 * API, and runs hand-built frames (tests/bpf/packets.h) through
 * BPF_PROG_TEST_RUN. Every packet check asserts the XDP verdict and that
 * exactly one reason counter of weir_stats went up, by one packet and by the
 * frame's length.
 *
 * Output: "ok N - what" / "not ok N - what: why" per check, then
 * "test_xdp: N passed, M failed"; exit status 0 only when nothing failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "maps/weir_maps.h"
#include "weir_xdp.skel.h"
#include "tests/bpf/packets.h"

#define SEC_NS 1000000000ull
#define MS_NS 1000000ull

static struct weir_xdp_bpf *skel;
static struct weir_maps M;
static int prog_fd, clock_fd;
static int n_pass, n_fail;

static const char *const reason_name[WEIR_R_MAX] = WEIR_REASON_NAMES;

/* ---- reporting ---- */

static void report(bool ok, const char *desc, const char *why)
{
	if (ok) {
		n_pass++;
		printf("ok %d - %s\n", n_pass + n_fail, desc);
	} else {
		n_fail++;
		printf("not ok %d - %s: %s\n", n_pass + n_fail, desc, why);
	}
	fflush(stdout);
}

__attribute__((format(printf, 3, 4)))
static bool checkf(bool ok, const char *desc, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	report(ok, desc, why);
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

/* BPF_PROG_TEST_RUN refuses input shorter than an Ethernet header, so a
 * shorter frame is passed behind 16 bytes of XDP metadata: the program then
 * sees exactly len bytes between data and data_end. */
static int xdp_run(const uint8_t *data, size_t len, __u32 *retval)
{
	uint8_t buf[16 + ETH_HLEN];
	struct xdp_md ctx = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .repeat = 1);

	if (len >= ETH_HLEN) {
		o.data_in = data;
		o.data_size_in = (__u32)len;
	} else {
		memset(buf, 0, 16);
		memcpy(buf + 16, data, len);
		ctx.data = 16;
		ctx.data_end = (__u32)(16 + len);
		o.data_in = buf;
		o.data_size_in = ctx.data_end;
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
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

static const char *verdict_name(__u32 v)
{
	return v == XDP_PASS ? "XDP_PASS" : v == XDP_DROP ? "XDP_DROP" : "XDP_?";
}

/* Checks that the counters moved from a to b by exactly want[r] packets of
 * `len` bytes each (len 0: the bytes are checked against wbytes). */
static bool delta_ok(const struct weir_stat a[], const struct weir_stat b[],
		     const uint64_t want[], const uint64_t wbytes[], char *why,
		     size_t wl)
{
	for (int r = 0; r < WEIR_R_MAX; r++) {
		uint64_t dp = b[r].packets - a[r].packets, db = b[r].bytes - a[r].bytes;

		if (dp != want[r] || db != wbytes[r]) {
			snprintf(why, wl, "%s +%" PRIu64 " pkts +%" PRIu64
				 " bytes, want +%" PRIu64 " +%" PRIu64,
				 reason_name[r], dp, db, want[r], wbytes[r]);
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
	if (rv != verdict) {
		snprintf(why, wl, "verdict %s, want %s", verdict_name(rv),
			 verdict_name(verdict));
		return false;
	}
	return true;
}

static bool expect_pkt(const char *desc, const struct pkt_opts *o,
		       __u32 verdict, int reason)
{
	char why[256];
	struct pkt p;

	pkt_build(&p, o);
	return checkf(run_expect(p.b, p.len, verdict, reason, why, sizeof(why)),
		      desc, "%s", why);
}

/* Sends p n times at the current clock and adds the outcome to counts[]. */
static void send_n(const struct pkt *p, int n, uint64_t counts[WEIR_R_MAX],
		   int *bad_verdicts)
{
	struct weir_stat a[WEIR_R_MAX], b[WEIR_R_MAX];
	int npass = 0;

	stats(a);
	for (int i = 0; i < n; i++) {
		__u32 rv;
		int err = xdp_run(p->b, p->len, &rv);

		if (err)
			die("test run", err);
		npass += rv == XDP_PASS;
	}
	stats(b);
	for (int r = 0; r < WEIR_R_MAX; r++)
		counts[r] += b[r].packets - a[r].packets;
	/* PASS, PASS_NONIP and ALLOW pass; every other reason drops. */
	if ((uint64_t)npass != (b[WEIR_R_PASS].packets - a[WEIR_R_PASS].packets) +
				   (b[WEIR_R_PASS_NONIP].packets - a[WEIR_R_PASS_NONIP].packets) +
				   (b[WEIR_R_ALLOW].packets - a[WEIR_R_ALLOW].packets))
		(*bad_verdicts)++;
	for (int r = 0; r < WEIR_R_MAX; r++)
		if (b[r].bytes - a[r].bytes != (b[r].packets - a[r].packets) * p->len)
			(*bad_verdicts)++;
}

/* Sends n copies of p and checks how many ended under each listed reason. */
static void expect_counts(const char *desc, const struct pkt *p, int n,
			  int r1, uint64_t n1, int r2, uint64_t n2)
{
	uint64_t c[WEIR_R_MAX] = {}, want[WEIR_R_MAX] = {};
	int bad = 0;
	bool ok = true;

	send_n(p, n, c, &bad);
	want[r1] += n1;
	want[r2] += n2;
	for (int r = 0; r < WEIR_R_MAX; r++)
		ok = ok && c[r] == want[r];
	checkf(ok && !bad, desc,
	       "got %s=%" PRIu64 " %s=%" PRIu64 " (want %" PRIu64 ", %" PRIu64
	       "), %d verdict/byte mismatches", reason_name[r1], c[r1],
	       reason_name[r2], c[r2], n1, n2, bad);
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

static void limit_set(const char *s, uint32_t crate, uint32_t cburst,
		      uint32_t prate, uint32_t pburst)
{
	struct weir_limit lim = { { crate, cburst }, { prate, pburst } };
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

	if (it->cidr.family == f->want.family &&
	    it->cidr.prefixlen == f->want.prefixlen &&
	    !memcmp(it->cidr.addr, f->want.addr, 16)) {
		f->it = *it;
		f->found = true;
	}
	return 0;
}

/* Walks list l (reaping as weir_list_walk does) looking for prefix s. */
static bool list_find(enum weir_list l, const char *s, struct weir_list_item *out,
		      int *live)
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
	struct weir_config cfg;
	int err = weir_config_read(&M, &cfg);

	if (err)
		die("weir_config_read", err);
	return cfg.features;
}

/* Sources never used before, so that rate-limit state starts fresh. */
static const char *fresh_src(int family)
{
	static char ring[8][64];
	static unsigned n, slot;
	char *s = ring[slot++ % 8];

	n++;
	if (family == PK_V4)
		snprintf(s, 64, "100.100.%u.%u", n / 250, n % 250 + 1);
	else
		snprintf(s, 64, "2001:db8:5::%x", n);
	return s;
}

#define V4 .family = PK_V4
#define V6 .family = PK_V6
#define UDP .proto = IPPROTO_UDP
#define SYN .tcp_flags = TF_SYN
#define ACK .tcp_flags = TF_ACK
#define PASS XDP_PASS, WEIR_R_PASS
#define DROP(r) XDP_DROP, WEIR_R_##r

struct fixture {
	const char *desc;
	struct pkt_opts pkt;
	__u32 verdict;
	int reason;
};

static void run_fixtures(const struct fixture *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_pkt(f[i].desc, &f[i].pkt, f[i].verdict, f[i].reason);
}

#define RUN_FIXTURES(a) run_fixtures(a, sizeof(a) / sizeof(a[0]))

/* ---- parsing, with every list empty ---- */

static const struct fixture parse_fixtures[] = {
	{ "IPv4 TCP SYN passes", { V4, SYN, .doff = 6 }, PASS },
	{ "IPv4 TCP ACK with payload passes", { V4, ACK, .payload = 100 }, PASS },
	{ "IPv4 UDP passes", { V4, UDP, .payload = 32 }, PASS },
	{ "IPv4 ICMP echo passes", { V4, .proto = IPPROTO_ICMP, .payload = 56 }, PASS },
	{ "IPv4 GRE (no L4 header checked) passes", { V4, .proto = 47, .payload = 4 }, PASS },
	{ "IPv6 TCP SYN passes", { V6, SYN, .doff = 6 }, PASS },
	{ "IPv6 UDP passes", { V6, UDP, .payload = 32 }, PASS },
	{ "IPv6 ICMPv6 echo passes", { V6, .proto = IPPROTO_ICMPV6, .payload = 56 }, PASS },
	{ "IPv6 no-next-header passes", { V6, .proto = IPPROTO_NONE }, PASS },
	{ "ARP passes unexamined", { .family = PK_ARP }, XDP_PASS, WEIR_R_PASS_NONIP },
	{ "ARP with Ethernet padding passes unexamined", { .family = PK_ARP, .pad = 18 },
	  XDP_PASS, WEIR_R_PASS_NONIP },
	{ "IPv4 with options (ihl 8) passes", { V4, SYN, .ihl = 8 }, PASS },
	{ "IPv4 with 40 bytes of options (ihl 15) passes", { V4, UDP, .ihl = 15 }, PASS },
	{ "IPv4 UDP with Ethernet padding past tot_len passes", { V4, UDP, .pad = 20 }, PASS },
	{ "IPv6 UDP with Ethernet padding past payload_len passes", { V6, UDP, .pad = 20 }, PASS },
	{ "TCP with 40 bytes of options (doff 15) passes", { V4, SYN, .doff = 15 }, PASS },
	{ "802.1Q tagged IPv4 TCP passes", { V4, SYN, .vlans = 1 }, PASS },
	{ "802.1ad+802.1Q (QinQ) tagged IPv6 UDP passes", { V6, UDP, .vlans = 2 }, PASS },
	{ "three VLAN tags: malformed", { V4, UDP, .vlans = 3 }, DROP(MALFORMED) },
	{ "IPv4 ihl 4: malformed", { V4, UDP, .ihl = 4 }, DROP(MALFORMED) },
	{ "IPv4 ihl 1: malformed", { V4, UDP, .ihl = 1 }, DROP(MALFORMED) },
	{ "IPv4 EtherType with IP version 6: malformed", { V4, UDP, .version = 6 }, DROP(MALFORMED) },
	{ "IPv6 EtherType with IP version 4: malformed", { V6, UDP, .version = 4 }, DROP(MALFORMED) },
	{ "IPv4 tot_len 22 < ihl*4 24: malformed", { V4, UDP, .ihl = 6, .len_adj = -10 },
	  DROP(MALFORMED) },
	{ "IPv4 tot_len 0: malformed", { V4, UDP, .len_adj = -28 }, DROP(MALFORMED) },
	{ "IPv4 tot_len one byte past the frame: malformed", { V4, UDP, .len_adj = 1 },
	  DROP(MALFORMED) },
	{ "IPv4 tot_len past the frame despite padding: malformed",
	  { V4, UDP, .pad = 4, .len_adj = 5 }, DROP(MALFORMED) },
	{ "IPv6 payload_len one byte past the frame: malformed", { V6, UDP, .len_adj = 1 },
	  DROP(MALFORMED) },
	{ "TCP doff 4: malformed", { V4, ACK, .doff = 4 }, DROP(MALFORMED) },
	{ "TCP doff 0: malformed", { V6, ACK, .doff = 16 }, DROP(MALFORMED) },
	{ "TCP doff 8 with options past the end: malformed", { V4, SYN, .doff = 8, .l4len = 24 },
	  DROP(MALFORMED) },
	{ "TCP doff 15 with no options present: malformed", { V6, SYN, .doff = 15, .l4len = 20 },
	  DROP(MALFORMED) },
	{ "UDP header of 7 bytes: malformed", { V4, UDP, .l4len = 7 }, DROP(MALFORMED) },
	{ "ICMP header of 4 bytes: malformed", { V4, .proto = IPPROTO_ICMP, .l4len = 4 },
	  DROP(MALFORMED) },
	{ "IPv4 first fragment (MF) too short for TCP: malformed",
	  { V4, SYN, .frag = 0x2000, .l4len = 12 }, DROP(MALFORMED) },
	{ "IPv4 first fragment (MF) with a whole TCP header passes",
	  { V4, SYN, .frag = 0x2000, .payload = 8 }, PASS },
	{ "IPv4 non-first fragment, 4 bytes, no L4 header: passes",
	  { V4, SYN, .frag = 185, .l4len = 4 }, PASS },
	{ "IPv4 middle fragment (MF, offset) with garbage doff passes",
	  { V4, SYN, .frag = 0x2000 | 1, .doff = 1 }, PASS },
	{ "IPv6 fragment header offset != 0, no L4 header: passes",
	  { V6, SYN, .n_ext = 1, .ext = { IPPROTO_FRAGMENT }, .frag6 = 185 << 3, .l4len = 4 }, PASS },
	{ "IPv6 first fragment (offset 0, M) with TCP passes",
	  { V6, SYN, .n_ext = 1, .ext = { IPPROTO_FRAGMENT }, .frag6 = 1 }, PASS },
	{ "IPv6 first fragment too short for TCP: malformed",
	  { V6, SYN, .n_ext = 1, .ext = { IPPROTO_FRAGMENT }, .frag6 = 1, .l4len = 12 },
	  DROP(MALFORMED) },
	{ "IPv6 hop-by-hop+dstopts+routing then TCP passes",
	  { V6, SYN, .n_ext = 3, .ext = { 0, 60, 43 } }, PASS },
	{ "IPv6 AH then TCP passes", { V6, SYN, .n_ext = 1, .ext = { IPPROTO_AH } }, PASS },
	{ "IPv6 5 extension headers then TCP doff 4: malformed (L4 parsed)",
	  { V6, ACK, .doff = 4, .n_ext = 5, .ext = { 0, 60, 43, 51, 60 } }, DROP(MALFORMED) },
	{ "IPv6 chain of WEIR_IPV6_EXT_MAX (6) headers then TCP passes",
	  { V6, SYN, .n_ext = 6, .ext = { 0, 60, 43, 51, 44, 60 }, .frag6 = 1 }, PASS },
	{ "IPv6 chain of 7 extension headers: malformed",
	  { V6, SYN, .n_ext = 7, .ext = { 0, 60, 43, 51, 44, 60, 60 }, .frag6 = 1 },
	  DROP(MALFORMED) },
	{ "IPv6 chain of 7 ending in no-next-header: malformed",
	  { V6, .proto = IPPROTO_NONE, .n_ext = 7, .ext = { 0, 60, 60, 60, 60, 60, 60 } },
	  DROP(MALFORMED) },
};

/* ---- truncation at every header boundary ---- */

struct trunc_frame {
	const char *desc;
	struct pkt_opts pkt;
};

static const struct trunc_frame trunc_frames[] = {
	{ "IPv4 TCP SYN (MSS option)", { V4, SYN, .doff = 6 } },
	{ "IPv4 UDP", { V4, UDP, .payload = 12 } },
	{ "IPv4 ICMP echo", { V4, .proto = IPPROTO_ICMP, .payload = 8 } },
	{ "IPv4 TCP with IP options (ihl 7)", { V4, ACK, .ihl = 7, .payload = 4 } },
	{ "IPv6 TCP SYN (MSS option)", { V6, SYN, .doff = 6 } },
	{ "IPv6 UDP", { V6, UDP, .payload = 12 } },
	{ "IPv6 ICMPv6 echo", { V6, .proto = IPPROTO_ICMPV6, .payload = 8 } },
	{ "802.1Q IPv4 UDP", { V4, UDP, .vlans = 1, .payload = 6 } },
	{ "QinQ IPv6 TCP", { V6, ACK, .vlans = 2, .payload = 6 } },
	{ "IPv6 hop-by-hop+fragment+TCP", { V6, SYN, .n_ext = 2, .ext = { 0, 44 }, .frag6 = 1 } },
};

/* Modes: the IP length still claims the whole frame; it agrees with the cut;
 * it agrees with the cut and the frame is padded to the 60-byte minimum. */
static const char *const trunc_modes[] = {
	"IP length claims the full frame", "IP length fixed to the cut",
	"IP length fixed to the cut, padded to 60 bytes",
};

static void test_truncation(void)
{
	for (size_t f = 0; f < sizeof(trunc_frames) / sizeof(trunc_frames[0]); f++) {
		const struct trunc_frame *tf = &trunc_frames[f];
		struct pkt full, cut;

		pkt_build(&full, &tf->pkt);
		for (int mode = 0; mode < 3; mode++) {
			char desc[200], why[256], fails[400] = "";
			int nbad = 0;

			for (size_t n = 1; n < full.len; n++) {
				bool bad_cut = mode == 0 || n < full.l4end;
				size_t len = n;

				pkt_cut(&full, &cut, n, mode > 0, tf->pkt.family);
				if (mode == 2 && len < 60) {
					memset(cut.b + n, 0, 60 - n);
					len = 60;
				}
				if (run_expect(cut.b, len, bad_cut ? XDP_DROP : XDP_PASS,
					       bad_cut ? WEIR_R_MALFORMED : WEIR_R_PASS,
					       why, sizeof(why)))
					continue;
				if (nbad++ < 3) {
					size_t fl = strlen(fails);

					snprintf(fails + fl, sizeof(fails) - fl, "%scut %zu: %s",
						 fl ? "; " : "", n, why);
				}
			}
			snprintf(desc, sizeof(desc),
				 "truncation: %s, %s: cuts 1..%zu malformed, %zu..%zu pass",
				 tf->desc, trunc_modes[mode],
				 mode ? full.l4end - 1 : full.len - 1,
				 mode ? full.l4end : full.len, full.len - 1);
			checkf(!nbad, desc, "%d wrong cuts: %s", nbad, fails);
		}
	}
}

/* ---- prefix and duration parsing ---- */

static void test_parse_api(void)
{
	static const struct { const char *s; int family, plen; const char *fmt; } good[] = {
		{ "10.0.0.0/8", 4, 8, "10.0.0.0/8" },
		{ "192.0.2.1", 4, 32, "192.0.2.1/32" },
		{ "0.0.0.0/0", 4, 0, "0.0.0.0/0" },
		{ "198.51.100.128/25", 4, 25, "198.51.100.128/25" },
		{ "2001:db8::/32", 6, 32, "2001:db8::/32" },
		{ "::1", 6, 128, "::1/128" },
		{ "::/0", 6, 0, "::/0" },
		{ "2001:db8:dead:beef::/64", 6, 64, "2001:db8:dead:beef::/64" },
	};
	static const char *const bad[] = {
		"", "1.2.3.4/33", "::/129", "10.0.0.1/24", "10.0.0.0/", "10.0.0.0/x",
		"abc", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/ 8", "1.2.3.4/8x",
		"2001:db8::1/64", "1.2.3/24", "/24", "10.0.0.0/99999999999999999999",
	};
	static const struct { const char *s; uint64_t ns; } dgood[] = {
		{ "90", 90 * SEC_NS }, { "90s", 90 * SEC_NS }, { "15m", 900 * SEC_NS },
		{ "2h", 7200 * SEC_NS }, { "7d", 604800 * SEC_NS }, { "1", SEC_NS },
	};
	static const char *const dbad[] = {
		"", "0", "0s", "-5", "5x", "5ss", "s", "1.5h", " 5", "5 ", "+5",
		"18446744073709551615", "99999999999999999999", "213503982335d",
	};
	char desc[160], buf[WEIR_CIDR_STRLEN];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct weir_cidr c;
		char err[128] = "";
		int rc = weir_cidr_parse(good[i].s, &c, err, sizeof(err));

		if (!rc)
			weir_cidr_format(&c, buf, sizeof(buf));
		snprintf(desc, sizeof(desc), "weir_cidr_parse('%s') = v%d /%d, formats back",
			 good[i].s, good[i].family, good[i].plen);
		checkf(!rc && c.family == good[i].family && c.prefixlen == good[i].plen &&
		       !strcmp(buf, good[i].fmt), desc, "rc %d family %d /%d '%s' err '%s'",
		       rc, c.family, c.prefixlen, rc ? "" : buf, err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct weir_cidr c;
		char err[128] = "";
		int rc = weir_cidr_parse(bad[i], &c, err, sizeof(err));

		snprintf(desc, sizeof(desc), "weir_cidr_parse('%s') rejected with a message",
			 bad[i]);
		checkf(rc == -EINVAL && err[0], desc, "rc %d err '%s'", rc, err);
	}
	for (size_t i = 0; i < sizeof(dgood) / sizeof(dgood[0]); i++) {
		uint64_t ns = 0;
		int rc = weir_duration_parse(dgood[i].s, &ns);

		snprintf(desc, sizeof(desc), "weir_duration_parse('%s') = %" PRIu64 " ns",
			 dgood[i].s, dgood[i].ns);
		checkf(!rc && ns == dgood[i].ns, desc, "rc %d ns %" PRIu64, rc, ns);
	}
	for (size_t i = 0; i < sizeof(dbad) / sizeof(dbad[0]); i++) {
		uint64_t ns = 12345;
		int rc = weir_duration_parse(dbad[i], &ns);

		snprintf(desc, sizeof(desc), "weir_duration_parse('%s') rejected", dbad[i]);
		checkf(rc < 0 && ns == 12345, desc, "rc %d ns %" PRIu64, rc, ns);
	}
}

/* ---- allowlist and blocklist ---- */

static const char *const block_set[] = {
	"192.0.2.1/32", "198.51.100.0/24", "203.0.113.128/25", "10.0.0.0/8",
	"2001:db8:bad::1/128", "2001:db8:dead::/48",
};
static const char *const allow_set[] = {
	"10.1.2.0/24", "198.18.7.7/32", "2001:db8:dead:beef::/64", "2001:db8:a11::/48",
};

#define FRAG4 .frag = 185, .l4len = 4
#define FRAG6 .n_ext = 1, .ext = { IPPROTO_FRAGMENT }, .frag6 = 185 << 3, .l4len = 4

static const struct fixture list_fixtures[] = {
	{ "blocklisted /32 source dropped", { V4, SYN, .src = "192.0.2.1" }, DROP(BLOCK) },
	{ "address after a blocked /32 passes", { V4, SYN, .src = "192.0.2.2" }, PASS },
	{ "address before a blocked /32 passes", { V4, UDP, .src = "192.0.2.0" }, PASS },
	{ "first address of a blocked /24 dropped", { V4, UDP, .src = "198.51.100.0" }, DROP(BLOCK) },
	{ "last address of a blocked /24 dropped", { V4, ACK, .src = "198.51.100.255" }, DROP(BLOCK) },
	{ "address just below a blocked /24 passes", { V4, ACK, .src = "198.51.99.255" }, PASS },
	{ "address just above a blocked /24 passes", { V4, ACK, .src = "198.51.101.0" }, PASS },
	{ "first address of a blocked /25 dropped", { V4, UDP, .src = "203.0.113.128" }, DROP(BLOCK) },
	{ "address just below a blocked /25 passes", { V4, UDP, .src = "203.0.113.127" }, PASS },
	{ "address inside a blocked /8 dropped", { V4, .proto = IPPROTO_ICMP, .src = "10.200.3.4" },
	  DROP(BLOCK) },
	{ "address just above a blocked /8 passes", { V4, UDP, .src = "11.0.0.0" }, PASS },
	{ "allowlisted /32 passes as allowlisted", { V4, SYN, .src = "198.18.7.7" },
	  XDP_PASS, WEIR_R_ALLOW },
	{ "address next to an allowlisted /32 passes", { V4, SYN, .src = "198.18.7.8" }, PASS },
	{ "allowlist /24 beats blocklist /8", { V4, UDP, .src = "10.1.2.3" }, XDP_PASS, WEIR_R_ALLOW },
	{ "address just outside the allowlisted /24 blocked by the /8",
	  { V4, UDP, .src = "10.1.3.0" }, DROP(BLOCK) },
	{ "IPv6 blocklisted /128 dropped", { V6, SYN, .src = "2001:db8:bad::1" }, DROP(BLOCK) },
	{ "IPv6 address after a blocked /128 passes", { V6, SYN, .src = "2001:db8:bad::2" }, PASS },
	{ "IPv6 address before a blocked /128 passes", { V6, SYN, .src = "2001:db8:bad::" }, PASS },
	{ "IPv6 address inside a blocked /48 dropped", { V6, UDP, .src = "2001:db8:dead:1::5" },
	  DROP(BLOCK) },
	{ "IPv6 last address of a blocked /48 dropped",
	  { V6, UDP, .src = "2001:db8:dead:ffff:ffff:ffff:ffff:ffff" }, DROP(BLOCK) },
	{ "IPv6 address just above a blocked /48 passes", { V6, UDP, .src = "2001:db8:deae::" }, PASS },
	{ "IPv6 address just below a blocked /48 passes",
	  { V6, UDP, .src = "2001:db8:deac:ffff:ffff:ffff:ffff:ffff" }, PASS },
	{ "IPv6 allowlist /64 beats blocklist /48", { V6, .proto = IPPROTO_ICMPV6,
	  .src = "2001:db8:dead:beef::1" }, XDP_PASS, WEIR_R_ALLOW },
	{ "IPv6 address just outside the allowlisted /64 blocked",
	  { V6, UDP, .src = "2001:db8:dead:bef0::" }, DROP(BLOCK) },
	{ "IPv6 allowlisted /48 passes as allowlisted", { V6, UDP, .src = "2001:db8:a11:7::1" },
	  XDP_PASS, WEIR_R_ALLOW },
	{ "802.1Q tagged frame from a blocked source dropped",
	  { V4, SYN, .vlans = 1, .src = "198.51.100.7" }, DROP(BLOCK) },
	{ "QinQ tagged IPv4 frame from a blocked source dropped",
	  { V4, UDP, .vlans = 2, .src = "10.9.9.9" }, DROP(BLOCK) },
	{ "QinQ tagged IPv6 frame from a blocked source dropped",
	  { V6, UDP, .vlans = 2, .src = "2001:db8:dead::9" }, DROP(BLOCK) },
	{ "three tags from a blocked source: malformed first",
	  { V4, UDP, .vlans = 3, .src = "192.0.2.1" }, DROP(MALFORMED) },
	{ "malformed frame from an allowlisted source: malformed first",
	  { V4, ACK, .doff = 4, .src = "198.18.7.7" }, DROP(MALFORMED) },
	{ "IPv4 non-first fragment from a blocked source dropped",
	  { V4, SYN, FRAG4, .src = "198.51.100.9" }, DROP(BLOCK) },
	{ "IPv4 non-first fragment from an allowlisted source allowlisted",
	  { V4, SYN, FRAG4, .src = "10.1.2.9" }, XDP_PASS, WEIR_R_ALLOW },
	{ "IPv4 non-first fragment from an unlisted source passes",
	  { V4, SYN, FRAG4, .src = "198.51.101.9" }, PASS },
	{ "IPv6 non-first fragment from a blocked source dropped",
	  { V6, SYN, FRAG6, .src = "2001:db8:dead::77" }, DROP(BLOCK) },
	{ "IPv6 non-first fragment from an unlisted source passes",
	  { V6, SYN, FRAG6, .src = "2001:db8:beef::77" }, PASS },
	{ "IPv6 ext header chain from a blocked source dropped",
	  { V6, SYN, .n_ext = 3, .ext = { 0, 60, 43 }, .src = "2001:db8:bad::1" }, DROP(BLOCK) },
	{ "ARP passes unexamined with lists loaded", { .family = PK_ARP },
	  XDP_PASS, WEIR_R_PASS_NONIP },
};

static void test_lists(void)
{
	struct weir_list_item it;
	struct weir_cidr c;
	int live, err;
	uint64_t hits0;

	for (size_t i = 0; i < sizeof(block_set) / sizeof(block_set[0]); i++)
		list_add(WEIR_LIST_BLOCK, block_set[i], 0);
	for (size_t i = 0; i < sizeof(allow_set) / sizeof(allow_set[0]); i++)
		list_add(WEIR_LIST_ALLOW, allow_set[i], 0);
	CHECK((features() & (WEIR_F_BLOCK | WEIR_F_ALLOW)) == (WEIR_F_BLOCK | WEIR_F_ALLOW),
	      "weir_list_add sets WEIR_F_BLOCK and WEIR_F_ALLOW");
	RUN_FIXTURES(list_fixtures);

	/* walk: notes, hits of the fixtures above, and hits counting exactly */
	checkf(list_find(WEIR_LIST_BLOCK, "198.51.100.0/24", &it, &live) && live == 6 &&
	       !strcmp(it.note, "198.51.100.0/24") && it.entry.hits == 4 &&
	       it.entry.prefixlen == 24 && !it.entry.expires_ns,
	       "weir_list_walk: 6 live, /24 has its note, 4 hits, no expiry",
	       "found live=%d note '%s' hits %" PRIu64, live, it.note, it.entry.hits);
	checkf(list_find(WEIR_LIST_ALLOW, "10.1.2.0/24", &it, &live) && live == 4 &&
	       it.entry.hits == 2 && !it.note[0], "allowlist walk: 4 live, 10.1.2.0/24 has 2 hits",
	       "live=%d hits %" PRIu64, live, it.entry.hits);
	hits0 = it.entry.hits;
	for (int i = 0; i < 5; i++) {
		char src[32];

		snprintf(src, sizeof(src), "10.1.2.%d", 100 + i);
		expect_pkt("allowlisted /24 member passes as allowlisted",
			   &(struct pkt_opts){ V4, UDP, .src = src }, XDP_PASS, WEIR_R_ALLOW);
	}
	list_find(WEIR_LIST_ALLOW, "10.1.2.0/24", &it, NULL);
	checkf(it.entry.hits == hits0 + 5, "hits of 10.1.2.0/24 went up by exactly 5",
	       "%" PRIu64 " -> %" PRIu64, hits0, it.entry.hits);
	list_find(WEIR_LIST_BLOCK, "10.0.0.0/8", &it, NULL);
	hits0 = it.entry.hits;
	expect_pkt("blocked by the /8 (hits)", &(struct pkt_opts){ V4, UDP, .src = "10.1.3.1" },
		   DROP(BLOCK));
	list_find(WEIR_LIST_BLOCK, "10.0.0.0/8", &it, NULL);
	checkf(it.entry.hits == hits0 + 1, "hits of 10.0.0.0/8 went up by exactly 1",
	       "%" PRIu64 " -> %" PRIu64, hits0, it.entry.hits);

	/* feature bits: a list whose bit is clear is not consulted */
	err = weir_features_update(&M, 0, WEIR_F_BLOCK);
	CHECK(!err && !(features() & WEIR_F_BLOCK) && (features() & WEIR_F_ALLOW),
	      "weir_features_update clears WEIR_F_BLOCK only");
	expect_pkt("WEIR_F_BLOCK clear: blocklisted /32 passes",
		   &(struct pkt_opts){ V4, SYN, .src = "192.0.2.1" }, PASS);
	expect_pkt("WEIR_F_BLOCK clear: blocklisted IPv6 /48 passes",
		   &(struct pkt_opts){ V6, UDP, .src = "2001:db8:dead::1" }, PASS);
	expect_pkt("WEIR_F_BLOCK clear: allowlist still applies",
		   &(struct pkt_opts){ V4, UDP, .src = "10.1.2.3" }, XDP_PASS, WEIR_R_ALLOW);
	CHECK(!weir_features_update(&M, WEIR_F_BLOCK, 0) && (features() & WEIR_F_BLOCK),
	      "weir_features_update sets WEIR_F_BLOCK again");
	expect_pkt("WEIR_F_BLOCK set again: blocklisted /32 dropped",
		   &(struct pkt_opts){ V4, SYN, .src = "192.0.2.1" }, DROP(BLOCK));
	CHECK(!weir_features_update(&M, 0, WEIR_F_ALLOW), "weir_features_update clears WEIR_F_ALLOW");
	expect_pkt("WEIR_F_ALLOW clear: allowlisted source under a block dropped",
		   &(struct pkt_opts){ V4, UDP, .src = "10.1.2.3" }, DROP(BLOCK));
	expect_pkt("WEIR_F_ALLOW clear: allowlisted-only source passes normally",
		   &(struct pkt_opts){ V4, UDP, .src = "198.18.7.7" }, PASS);
	weir_features_update(&M, WEIR_F_ALLOW, 0);

	/* delete */
	c = cidr("192.0.2.1/32");
	CHECK(weir_list_del(&M, WEIR_LIST_BLOCK, &c) == 0, "weir_list_del 192.0.2.1/32");
	expect_pkt("deleted /32 passes", &(struct pkt_opts){ V4, SYN, .src = "192.0.2.1" }, PASS);
	CHECK(weir_list_del(&M, WEIR_LIST_BLOCK, &c) == -ENOENT,
	      "weir_list_del of a missing prefix is -ENOENT");

	/* flush: returns the count, empties, clears the feature bit */
	err = weir_list_flush(&M, WEIR_LIST_ALLOW);
	checkf(err == 4 && weir_map_fill(M.allow4) == 0 && weir_map_fill(M.allow6) == 0 &&
	       !(features() & WEIR_F_ALLOW), "weir_list_flush(allow) = 4, empties, clears WEIR_F_ALLOW",
	       "returned %d, features %#x", err, features());
	expect_pkt("after the allowlist flush the /8 blocks 10.1.2.3",
		   &(struct pkt_opts){ V4, UDP, .src = "10.1.2.3" }, DROP(BLOCK));
	err = weir_list_flush(&M, WEIR_LIST_BLOCK);
	checkf(err == 5 && weir_map_fill(M.block4) == 0 && weir_map_fill(M.block6) == 0 &&
	       weir_map_fill(M.note) == 0 && !(features() & WEIR_F_BLOCK),
	       "weir_list_flush(block) = 5, empties lists and notes, clears WEIR_F_BLOCK",
	       "returned %d, features %#x", err, features());
	expect_pkt("after the blocklist flush the /8 passes",
		   &(struct pkt_opts){ V4, UDP, .src = "10.1.2.3" }, PASS);
}

/* ---- expiry, on the test clock ---- */

static void test_expiry(void)
{
	struct pkt_opts o = { V4, UDP, .src = "100.80.1.5" };
	struct weir_list_item it;
	uint64_t t0 = weir_mono_ns(), exp;
	long fill;

	clock_set(t0);
	list_add(WEIR_LIST_BLOCK, "100.80.1.0/24", 10 * SEC_NS);
	list_add(WEIR_LIST_BLOCK, "100.80.0.0/16", 0);
	expect_pkt("ttl entry drops before expiry", &o, DROP(BLOCK));
	clock_set(t0 + 5 * SEC_NS);
	expect_pkt("ttl entry drops halfway to expiry", &o, DROP(BLOCK));
	checkf(list_find(WEIR_LIST_BLOCK, "100.80.1.0/24", &it, NULL) && it.entry.hits == 2,
	       "live ttl entry matched both packets (hits 2)", "hits %" PRIu64, it.entry.hits);
	checkf(list_find(WEIR_LIST_BLOCK, "100.80.0.0/16", &it, NULL) && it.entry.hits == 0,
	       "covering /16 not hit while the /24 is live", "hits %" PRIu64, it.entry.hits);
	fill = weir_map_fill(M.block4);
	clock_set(t0 + 11 * SEC_NS);
	expect_pkt("after expiry the covering live /16 still drops", &o, DROP(BLOCK));
	CHECK(weir_map_fill(M.block4) == fill - 1, "expired /24 reaped by the packet that met it");
	checkf(!list_find(WEIR_LIST_BLOCK, "100.80.1.0/24", NULL, NULL) &&
	       list_find(WEIR_LIST_BLOCK, "100.80.0.0/16", &it, NULL) && it.entry.hits == 1,
	       "walk: /24 gone, /16 took the hit", "/16 hits %" PRIu64, it.entry.hits);
	o.src = "100.80.1.6";
	expect_pkt("next packet from the expired /24 dropped by the /16", &o, DROP(BLOCK));

	/* a lone ttl entry: drops up to expires_ns - 1, passes at expires_ns */
	o.src = "100.81.3.4";
	list_add(WEIR_LIST_BLOCK, "100.81.0.0/16", 10 * SEC_NS);
	list_find(WEIR_LIST_BLOCK, "100.81.0.0/16", &it, NULL);
	exp = it.entry.expires_ns;
	checkf(exp >= t0 + 10 * SEC_NS && exp <= weir_mono_ns() + 10 * SEC_NS,
	       "weir_list_add: expires_ns = weir_mono_ns() + ttl",
	       "expires %" PRIu64 " t0 %" PRIu64, exp, t0);
	clock_set(exp - 1);
	expect_pkt("lone ttl entry drops 1 ns before expires_ns", &o, DROP(BLOCK));
	fill = weir_map_fill(M.block4);
	clock_set(exp);
	expect_pkt("lone ttl entry expired at expires_ns: passes", &o, PASS);
	CHECK(weir_map_fill(M.block4) == fill - 1, "expired lone entry reaped in BPF");
	clock_set(exp - 1);
	expect_pkt("reaped entry no longer matches even at an earlier clock", &o, PASS);

	/* IPv6 */
	list_add(WEIR_LIST_BLOCK, "2001:db8:e::/48", 10 * SEC_NS);
	o = (struct pkt_opts){ V6, SYN, .src = "2001:db8:e:1::1" };
	clock_set(weir_mono_ns());
	expect_pkt("IPv6 ttl entry drops before expiry", &o, DROP(BLOCK));
	fill = weir_map_fill(M.block6);
	clock_set(weir_mono_ns() + 11 * SEC_NS);
	expect_pkt("IPv6 ttl entry passes after expiry", &o, PASS);
	CHECK(weir_map_fill(M.block6) == fill - 1, "expired IPv6 entry reaped in BPF");

	/* weir_list_walk reaps what has expired on CLOCK_MONOTONIC */
	o = (struct pkt_opts){ V4, UDP, .src = "100.82.0.1" };
	clock_set(weir_mono_ns() - SEC_NS);
	list_add(WEIR_LIST_BLOCK, "100.82.0.0/16", 1);
	expect_pkt("1 ns ttl entry live on an earlier test clock", &o, DROP(BLOCK));
	fill = weir_map_fill(M.block4);
	{
		int live;
		bool found = list_find(WEIR_LIST_BLOCK, "100.82.0.0/16", NULL, &live);

		checkf(!found && live == 1 && weir_map_fill(M.block4) == fill - 1,
		       "weir_list_walk skips and deletes the expired entry",
		       "found %d live %d fill %ld -> %ld", found, live, fill,
		       weir_map_fill(M.block4));
	}
	expect_pkt("entry reaped by the walk no longer matches", &o, PASS);
	CHECK(weir_list_flush(&M, WEIR_LIST_BLOCK) == 1, "flush after the expiry tests: 1 left");
}
