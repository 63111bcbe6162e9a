/* syncookie.c - BPF tests of the SYN-cookie defence of l7 services
 * (bpf/lib/syncookie.h). Included by test_xdp.c, whose harness it uses.
 *
 * The services are written straight into weir_svc and weir_svc_state (ids
 * near the top of the table, out of the way of the maps library's), with
 * WEIR_F_SVC set; everything is removed again at the end. SYNs are built
 * with pkt_build and their fields patched (ports, sequence numbers, TCP
 * options); a SYN-ACK that comes back is checked field by field, with its
 * checksums recomputed here, and its cookie is then sent back in an ACK.
 * Cookies are the kernel's (its secret, its minute counter): they hold in
 * a test run as on the wire, whatever the test clock says.
 */
#include <linux/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define SC_HOLD (10 * SEC_NS) /* WEIR_SYNCOOKIE_HOLD_NS */
#define SC_WSCALE 7	      /* WEIR_SYNCOOKIE_WSCALE */
#define SC_SPORT 40000
#define SC_SEQ 0x7ffffff0u

/* A Linux SYN's options: MSS 1460, SACK permitted, timestamp, NOP, wscale 9. */
static const uint8_t sc_opt_linux[20] = {
	2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 1, 3, 3, 9,
};
/* Timestamp only, after two NOPs. */
static const uint8_t sc_opt_ts[12] = { 1, 1, 8, 10, 0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0 };
/* Garbage: an option whose length runs past the header; then a timestamp
 * that must not be read. */
static const uint8_t sc_opt_bad[16] = { 2, 4, 5, 0xb4, 8, 40, 0, 0, 8, 10, 1, 2, 3, 4, 0, 0 };
/* A window scale option of the wrong length, zero-length option after it. */
static const uint8_t sc_opt_bad2[8] = { 3, 4, 9, 9, 4, 0, 0, 0 };

/* A TCP frame from pkt_build with its ports, numbers and options patched. */
struct sc_frame {
	int family;
	uint8_t flags, vlans, ihl, n_ext;
	const char *src;
	uint16_t sport;
	uint32_t seq, ack;
	const uint8_t *opt;
	size_t optlen; /* a multiple of 4 */
	size_t payload, pad;
	uint16_t frag;
};

static void sc_put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t sc_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static uint16_t sc_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void sc_build(struct pkt *p, const struct sc_frame *f)
{
	struct pkt_opts o = {
		.family = f->family, .src = f->src, .tcp_flags = f->flags,
		.doff = (uint8_t)(5 + f->optlen / 4), .vlans = f->vlans, .ihl = f->ihl,
		.n_ext = f->n_ext, .ext = { IPPROTO_HOPOPTS }, .payload = f->payload,
		.pad = f->pad, .frag = f->frag,
	};
	uint16_t sport = htons(f->sport ? f->sport : SC_SPORT);

	pkt_build(p, &o);
	memcpy(p->b + p->l4, &sport, 2);
	sc_put32(p->b + p->l4 + 4, f->seq);
	sc_put32(p->b + p->l4 + 8, f->ack);
	if (f->optlen)
		memcpy(p->b + p->l4 + 20, f->opt, f->optlen);
}

/* Rewrites the destination of a built IPv4 frame. */
static void sc_set_dst4(struct pkt *p, const char *addr, uint16_t port)
{
	uint16_t be = htons(port);

	pkt_addr(PK_V4, addr, p->b + p->l3 + 16);
	memcpy(p->b + p->l4 + 2, &be, 2);
}

/* Runs a frame; true when the verdict, the one reason counted and its byte
 * count (the frame that leaves, for XDP_TX) are as expected. */
static bool sc_run(const struct pkt *p, __u32 verdict, int reason, uint8_t *out,
		   uint32_t *outlen, char *why, size_t wl)
{
	static uint8_t scratch[PKT_MAX + 128];
	struct weir_stat a[WEIR_R_MAX], b[WEIR_R_MAX];
	uint64_t want[WEIR_R_MAX] = {}, wbytes[WEIR_R_MAX] = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (__u32)p->len,
		    .data_out = out ? out : scratch, .data_size_out = sizeof(scratch),
		    .repeat = 1);

	stats(a);
	if (bpf_prog_test_run_opts(prog_fd, &o)) {
		snprintf(why, wl, "test run: %s", strerror(errno));
		return false;
	}
	stats(b);
	if (outlen)
		*outlen = o.data_size_out;
	want[reason] = 1;
	wbytes[reason] = verdict == XDP_TX ? o.data_size_out : p->len;
	if (!delta_ok(a, b, want, wbytes, why, wl))
		return false;
	if (o.retval != verdict)
		snprintf(why, wl, "verdict %u, want %u", o.retval, verdict);
	return o.retval == verdict;
}

static void sc_expect(const char *desc, const struct sc_frame *f, __u32 verdict, int reason)
{
	char why[256] = "";
	struct pkt p;

	sc_build(&p, f);
	checkf(sc_run(&p, verdict, reason, NULL, NULL, why, sizeof(why)), desc, "%s", why);
}

/* One's-complement sum of n bytes, as 16-bit big-endian words. */
static uint32_t sc_sum(const uint8_t *d, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)d[i] << 8 | (i + 1 < n ? d[i + 1] : 0);
	return sum;
}

static uint16_t sc_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* What the SYN-ACK to a SYN must say. */
struct sc_want {
	bool ts, sack, ecn;
	int wscale;	/* the client's; -1 when it sent none */
	uint32_t tsval; /* the client's */
};

static int sc_lo_mtu(void)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), mtu = -1;

	if (fd < 0)
		return -1;
	strcpy(ifr.ifr_name, "lo");
	if (!ioctl(fd, SIOCGIFMTU, &ifr))
		mtu = ifr.ifr_mtu;
	close(fd);
	return mtu;
}

static uint64_t sc_clock;

/* Checks the SYN-ACK `out` sent in answer to SYN `in`; returns its cookie
 * in *cookie. */
static bool sc_synack_ok(const struct pkt *in, const struct sc_frame *f,
			 const uint8_t *out, uint32_t outlen, const struct sc_want *w,
			 uint32_t *cookie, char *why, size_t wl)
{
	size_t l3 = in->l3, iplen = f->family == PK_V4 ? 20 : 40, l4 = l3 + iplen;
	size_t optlen = w->ts ? (w->wscale >= 0 ? 20 : 16) : 4, tlen = 20 + optlen;
	const uint8_t *ip = out + l3, *th = out + l4, *opt = th + 20;
	int mss = sc_lo_mtu() - (int)iplen - 20;
	uint8_t proto[2] = { 0, IPPROTO_TCP }, lenb[2] = { 0, (uint8_t)tlen };
	uint32_t sum;

#define SC_FAIL(...) do { snprintf(why, wl, __VA_ARGS__); return false; } while (0)
	if (outlen != l4 + tlen)
		SC_FAIL("length %u, want %zu", outlen, l4 + tlen);
	if (memcmp(out, in->b + 6, 6) || memcmp(out + 6, in->b, 6))
		SC_FAIL("MAC addresses not swapped");
	if (memcmp(out + 12, in->b + 12, l3 - 12))
		SC_FAIL("VLAN tags or EtherType changed");
	if (f->family == PK_V4) {
		if (ip[0] != 0x45 || sc_get16(ip + 2) != 20 + tlen || ip[8] != 64 ||
		    ip[9] != IPPROTO_TCP || sc_get16(ip + 6) != 0x4000)
			SC_FAIL("IPv4 header %02x len %u ttl %u proto %u frag %04x", ip[0],
				sc_get16(ip + 2), ip[8], ip[9], sc_get16(ip + 6));
		if (memcmp(ip + 12, in->b + l3 + 16, 4) || memcmp(ip + 16, in->b + l3 + 12, 4))
			SC_FAIL("IPv4 addresses not swapped");
		if (sc_fold(sc_sum(ip, 20, 0)) != 0xffff)
			SC_FAIL("bad IPv4 header checksum %04x", sc_get16(ip + 10));
		sum = sc_sum(ip + 12, 8, 0);
	} else {
		if (sc_get32(ip) != 0x60000000 || sc_get16(ip + 4) != tlen ||
		    ip[6] != IPPROTO_TCP || ip[7] != 64)
			SC_FAIL("IPv6 header %08x plen %u next %u hops %u", sc_get32(ip),
				sc_get16(ip + 4), ip[6], ip[7]);
		if (memcmp(ip + 8, in->b + l3 + 24, 16) || memcmp(ip + 24, in->b + l3 + 8, 16))
			SC_FAIL("IPv6 addresses not swapped");
		sum = sc_sum(ip + 8, 32, 0);
	}
	sum = sc_sum(th, tlen, sc_sum(lenb, 2, sc_sum(proto, 2, sum)));
	if (sc_fold(sum) != 0xffff)
		SC_FAIL("bad TCP checksum %04x", sc_get16(th + 16));
	if (sc_get16(th) != 443 || sc_get16(th + 2) != (f->sport ? f->sport : SC_SPORT))
		SC_FAIL("ports %u -> %u not swapped", sc_get16(th), sc_get16(th + 2));
	if (sc_get32(th + 8) != f->seq + 1)
		SC_FAIL("ack %u, want client seq + 1 = %u", sc_get32(th + 8), f->seq + 1);
	if (th[12] >> 4 != tlen / 4 || th[13] != (TF_SYN | TF_ACK | (w->ecn ? 0x40 : 0)))
		SC_FAIL("doff %u flags %02x", th[12] >> 4, th[13]);
	if (sc_get16(th + 14) != 0)
		SC_FAIL("window %u, want 0 (opened by SYNPROXY)", sc_get16(th + 14));
	if (opt[0] != 2 || opt[1] != 4 || sc_get16(opt + 2) != mss)
		SC_FAIL("MSS option %u %u %u, want %d", opt[0], opt[1], sc_get16(opt + 2), mss);
	if (w->ts) {
		uint32_t tsv = ((uint32_t)(sc_clock / 1000000) & ~63u) |
			       (uint32_t)(w->wscale >= 0 ? w->wscale : 15) |
			       (w->sack ? 16u : 0) | (w->ecn ? 32u : 0);

		if (w->sack ? (opt[4] != 4 || opt[5] != 2) : (opt[4] != 1 || opt[5] != 1))
			SC_FAIL("SACK-permitted/NOPs %u %u", opt[4], opt[5]);
		if (opt[6] != 8 || opt[7] != 10 || sc_get32(opt + 12) != w->tsval)
			SC_FAIL("timestamp option %u %u echo %08x, want %08x", opt[6], opt[7],
				sc_get32(opt + 12), w->tsval);
		if (sc_get32(opt + 8) != tsv)
			SC_FAIL("timestamp %08x, want %08x", sc_get32(opt + 8), tsv);
		if (w->wscale >= 0 && memcmp(opt + 16, "\x01\x03\x03\x07", 4))
			SC_FAIL("window scale option %u %u %u %u", opt[16], opt[17], opt[18],
				opt[19]);
	}
#undef SC_FAIL
	*cookie = sc_get32(th + 4);
	return true;
}

/* Sends SYN f, expects a SYN-ACK as w says, and returns its cookie (0 on
 * failure: a cookie of 0 is possible, but then the ACK check fails loudly). */
static uint32_t sc_synack(const char *desc, const struct sc_frame *f, const struct sc_want *w)
{
	static uint8_t out[PKT_MAX + 128];
	char why[256] = "";
	uint32_t outlen = 0, cookie = 0;
	struct pkt p;

	sc_build(&p, f);
	checkf(sc_run(&p, XDP_TX, WEIR_R_SYNCOOKIE_SENT, out, &outlen, why, sizeof(why)) &&
	       sc_synack_ok(&p, f, out, outlen, w, &cookie, why, sizeof(why)), desc, "%s", why);
	return cookie;
}

/* An l7 service with SYN cookies, through the maps library; *id gets the
 * id its state lives at. 0, or a negative errno. */
static int sc_svc_put(int family, const char *addr, uint16_t port, uint16_t *id,
		      uint32_t rate, uint32_t burst)
{
	struct weir_svc_key k = { .family = (uint8_t)family, .proto = IPPROTO_TCP,
				  .port = htons(port) };
	struct weir_svc v = { .mode = WEIR_SVC_L7, .flags = WEIR_SVC_F_SYNCOOKIE,
			      .syn = { .rate = rate, .burst = burst } };
	int err;

	pkt_addr(family, addr, k.addr);
	err = weir_svc_add(&M, &k, &v);
	*id = v.id;
	return err;
}

static int sc_svc_del(int family, const char *addr, uint16_t port)
{
	struct weir_svc_key k = { .family = (uint8_t)family, .proto = IPPROTO_TCP,
				  .port = htons(port) };

	pkt_addr(family, addr, k.addr);
	return weir_svc_del(&M, &k);
}

static struct weir_svc_state sc_state(uint16_t id)
{
	struct weir_svc_state s = {};
	__u32 idx = id;

	if (bpf_map_lookup_elem(M.svc_state, &idx, &s))
		die("weir_svc_state lookup", errno);
	return s;
}

/* SYN-ACKs for SYNs of every shape, in both families, with and without
 * tags; each cookie then opens its connection. */
static void sc_shapes(int family, const char *fam)
{
	static const struct {
		const char *what;
		uint8_t vlans, ihl, n_ext;
		const uint8_t *opt;
		size_t optlen, pad;
		uint16_t frag;
		struct sc_want w;
	} shapes[] = {
		{ "Linux options", 0, 0, 0, sc_opt_linux, 20, 0, 0,
		  { .ts = true, .sack = true, .wscale = 9, .tsval = 0x11223344 } },
		{ "Linux options, 802.1Q", 1, 0, 0, sc_opt_linux, 20, 0, 0,
		  { .ts = true, .sack = true, .wscale = 9, .tsval = 0x11223344 } },
		{ "Linux options, QinQ", 2, 0, 0, sc_opt_linux, 20, 0, 0,
		  { .ts = true, .sack = true, .wscale = 9, .tsval = 0x11223344 } },
		{ "no options (MSS only back)", 0, 0, 0, NULL, 0, 0, 0, { .wscale = -1 } },
		{ "timestamp only", 1, 0, 0, sc_opt_ts, 12, 0, 0,
		  { .ts = true, .wscale = -1, .tsval = 0xa1b2c3d4 } },
		{ "an option running past the header (rest ignored)", 0, 0, 0, sc_opt_bad, 16, 0,
		  0, { .wscale = -1 } },
		{ "bad window scale length, zero-length option", 0, 0, 0, sc_opt_bad2, 8, 0, 0,
		  { .wscale = -1 } },
		{ "Ethernet padding after it (frame shrinks)", 0, 0, 0, NULL, 0, 40, 0,
		  { .wscale = -1 } },
	};
	char desc[200];

	for (size_t i = 0; i < N_OF(shapes); i++) {
		struct sc_frame syn = { .family = family, .flags = TF_SYN, .vlans = shapes[i].vlans,
					.seq = SC_SEQ + (uint32_t)i, .opt = shapes[i].opt,
					.optlen = shapes[i].optlen, .pad = shapes[i].pad,
					.sport = (uint16_t)(SC_SPORT + i) };
		struct sc_frame ack = syn;
		uint32_t cookie;

		snprintf(desc, sizeof(desc), "syncookie %s: SYN over the rate, %s: SYN-ACK", fam,
			 shapes[i].what);
		cookie = sc_synack(desc, &syn, &shapes[i].w);
		ack.flags = TF_ACK;
		ack.seq = syn.seq + 1;
		ack.ack = cookie + 1;
		ack.opt = NULL;
		ack.optlen = 0;
		ack.pad = 0;
		snprintf(desc, sizeof(desc), "syncookie %s: the ACK with that cookie passes (%s)",
			 fam, shapes[i].what);
		sc_expect(desc, &ack, XDP_PASS, WEIR_R_SVC_L7);
	}
}

/* The loopback: an ACK of an established connection passes without a
 * cookie; one to the listener from another port does not. */
static void sc_sockets(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s = -1;
	uint16_t lport, cport, idlo;
	struct pkt p;
	char why[256] = "";
	struct sc_frame ack = { .family = PK_V4, .flags = TF_ACK, .src = "127.0.0.1",
				.seq = 1, .ack = 12345 };

	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&a, &al) || connect(c, (struct sockaddr *)&a, al) ||
	    (s = accept(l, NULL, NULL)) < 0)
		die("loopback connection", errno);
	lport = ntohs(a.sin_port);
	al = sizeof(a);
	if (getsockname(c, (struct sockaddr *)&a, &al))
		die("getsockname", errno);
	cport = ntohs(a.sin_port);
	if (sc_svc_put(PK_V4, "127.0.0.1", lport, &idlo, 1, 1))
		die("loopback service", errno);

	/* open the window: a SYN within the rate, then one over it */
	ack.flags = TF_SYN;
	ack.sport = 1;
	sc_build(&p, &ack);
	sc_set_dst4(&p, "127.0.0.1", lport);
	checkf(sc_run(&p, XDP_PASS, WEIR_R_SVC_L7, NULL, NULL, why, sizeof(why)),
	       "syncookie loopback: first SYN within the rate passes", "%s", why);
	checkf(sc_run(&p, XDP_TX, WEIR_R_SYNCOOKIE_SENT, NULL, NULL, why, sizeof(why)),
	       "syncookie loopback: second SYN answered: ACKs are checked now", "%s", why);

	ack.flags = TF_ACK;
	ack.sport = cport;
	sc_build(&p, &ack);
	sc_set_dst4(&p, "127.0.0.1", lport);
	checkf(sc_run(&p, XDP_PASS, WEIR_R_SVC_L7, NULL, NULL, why, sizeof(why)),
	       "syncookie: ACK of an established connection passes without a cookie", "%s", why);
	ack.sport = cport == 65535 ? 1024 : cport + 1;
	sc_build(&p, &ack);
	sc_set_dst4(&p, "127.0.0.1", lport);
	checkf(sc_run(&p, XDP_DROP, WEIR_R_SYNCOOKIE_BAD, NULL, NULL, why, sizeof(why)),
	       "syncookie: ACK to the listener with no connection and no cookie dropped", "%s",
	       why);

	if (sc_svc_del(PK_V4, "127.0.0.1", lport))
		die("delete the loopback service", errno);
	close(s);
	close(c);
	close(l);
}

/* The SYN cut at every length: malformed every time, never answered. */
static void sc_cuts(int family, uint8_t vlans)
{
	struct sc_frame syn = { .family = family, .flags = TF_SYN, .seq = SC_SEQ,
				.opt = sc_opt_linux, .optlen = 20, .vlans = vlans };
	struct weir_stat a[WEIR_R_MAX], b[WEIR_R_MAX];
	uint64_t want[WEIR_R_MAX] = {}, wbytes[WEIR_R_MAX] = {};
	struct pkt full, cut;
	int ndrop = 0, n = 0;
	char why[256] = "", desc[160];

	sc_build(&full, &syn);
	stats(a);
	for (size_t len = full.l3; len < full.len; len++, n++) {
		__u32 rv = 0;

		pkt_cut(&full, &cut, len, true, family);
		if (xdp_run(cut.b, cut.len, &rv))
			die("test run", EINVAL);
		ndrop += rv == XDP_DROP;
		want[WEIR_R_MALFORMED]++;
		wbytes[WEIR_R_MALFORMED] += len;
	}
	stats(b);
	snprintf(desc, sizeof(desc), "syncookie IPv%d%s: a SYN cut at each of %d lengths is "
		 "malformed, never answered", family, vlans ? " 802.1Q" : "", n);
	checkf(delta_ok(a, b, want, wbytes, why, sizeof(why)) && ndrop == n, desc,
	       "%s; %d of %d dropped", why, ndrop, n);
}

/* One case of a table: "syncookie FAM: WHAT", either dropped as a bad
 * cookie or passed to the l7 service. */
static void sc_case(const char *fam, const char *what, const struct sc_frame *f, bool dropped)
{
	char desc[200];

	snprintf(desc, sizeof(desc), "syncookie %s: %s", fam, what);
	sc_expect(desc, f, dropped ? XDP_DROP : XDP_PASS,
		  dropped ? WEIR_R_SYNCOOKIE_BAD : WEIR_R_SVC_L7);
}

/* ACKs after the SYN-ACK that carried cookie: the one that completes the
 * handshake passes, tagged or not; a cookie, port or client sequence number
 * that is off is dropped. ack is the caller's ACK of that SYN, with a wrong
 * cookie; each case runs a copy with its own fields. */
static void sc_acks(const char *fam, const struct sc_frame *ack, uint32_t cookie)
{
	static const struct {
		const char *what;
		bool right; /* cookie + 1 + cookie_off, else ack's wrong one */
		uint32_t cookie_off, seq_off;
		uint16_t sport; /* 0: ack's, the SYN's */
		uint8_t vlans;
		bool dropped;
	} cases[] = {
		{ "ACK with the right cookie passes", true, 0, 0, 0, 0, false },
		{ "... and QinQ-tagged", true, 0, 0, 0, 2, false },
		/* Not off by one: a cookie keeps 2 bits of data (the MSS index)
		 * in its low 24, so a few neighbours of a cookie are valid. */
		{ "ACK with the cookie 1000 off dropped", true, 1000, 0, 0, 0, true },
		{ "right cookie from another port dropped", true, 0, 0, SC_SPORT + 100, 0, true },
		{ "right cookie, client seq 1000 off dropped", true, 0, 1000, 0, 0, true },
		{ "ACK with a wrong cookie dropped", false, 0, 0, 0, 0, true },
		{ "... and 802.1Q-tagged", false, 0, 0, 0, 1, true },
	};

	for (size_t i = 0; i < N_OF(cases); i++) {
		struct sc_frame f = *ack;

		if (cases[i].right)
			f.ack = cookie + 1 + cases[i].cookie_off;
		f.seq += cases[i].seq_off;
		if (cases[i].sport)
			f.sport = cases[i].sport;
		f.vlans = cases[i].vlans;
		sc_case(fam, cases[i].what, &f, cases[i].dropped);
	}
}

/* While ACKs are checked: what is not a pure ACK is not looked at (a pure
 * ACK may carry PSH), and a SYN with FIN or RST is left to the kernel. syn
 * and ack are the caller's frames, ack with a wrong cookie; each case runs
 * a copy with its own flags and payload. */
static void sc_flags(const char *fam, const struct sc_frame *syn, const struct sc_frame *ack)
{
	static const struct {
		const char *what;
		bool syn, dropped;
		uint8_t flags;
		size_t payload;
	} cases[] = {
		{ "pure ACK with PSH is checked too", false, true, TF_ACK | TF_PSH, 0 },
		{ "data with a wrong cookie is not checked", false, false, TF_ACK | TF_PSH, 100 },
		{ "RST is not checked", false, false, TF_RST, 0 },
		{ "RST+ACK is not checked", false, false, TF_RST | TF_ACK, 0 },
		{ "FIN+ACK is not checked", false, false, TF_FIN | TF_ACK, 0 },
		{ "SYN+FIN is left to the kernel", true, false, TF_SYN | TF_FIN, 0 },
		{ "SYN+RST is left to the kernel", true, false, TF_SYN | TF_RST, 0 },
	};

	for (size_t i = 0; i < N_OF(cases); i++) {
		struct sc_frame f = cases[i].syn ? *syn : *ack;

		f.flags = cases[i].flags;
		f.payload = cases[i].payload;
		sc_case(fam, cases[i].what, &f, cases[i].dropped);
	}
}

static void sc_family(int family)
{
	const char *fam = family == PK_V4 ? "IPv4" : "IPv6";
	const char *svc = family == PK_V4 ? "192.0.2.200" : "2001:db8:ffff::200";
	uint16_t id;
	struct sc_frame syn = { .family = family, .flags = TF_SYN, .seq = SC_SEQ,
				.opt = sc_opt_linux, .optlen = 20 };
	struct sc_frame ack = { .family = family, .flags = TF_ACK, .seq = SC_SEQ + 1,
				.ack = 0x5eed };
	struct sc_want w = { .ts = true, .sack = true, .wscale = 9, .tsval = 0x11223344 };
	struct weir_svc_state st;
	struct weir_cidr allow;
	char desc[200];
	uint32_t cookie;

	if (sc_svc_put(family, svc, 443, &id, 10, 2))
		die("add a syncookie service", errno);

	/* Before any cookie: ACKs are not looked at. */
	snprintf(desc, sizeof(desc), "syncookie %s: before any cookie, a bad ACK passes", fam);
	sc_expect(desc, &ack, XDP_PASS, WEIR_R_SVC_L7);

	/* rate 10/s, burst 2, at one instant: two SYNs are within it */
	snprintf(desc, sizeof(desc), "syncookie %s: first SYN within the rate passes", fam);
	sc_expect(desc, &syn, XDP_PASS, WEIR_R_SVC_L7);
	snprintf(desc, sizeof(desc), "syncookie %s: second SYN within the burst passes", fam);
	sc_expect(desc, &syn, XDP_PASS, WEIR_R_SVC_L7);
	snprintf(desc, sizeof(desc), "syncookie %s: third SYN over the rate gets a SYN-ACK", fam);
	cookie = sc_synack(desc, &syn, &w);
	st = sc_state(id);
	snprintf(desc, sizeof(desc), "syncookie %s: ACKs are checked for %llu s from then", fam,
		 (unsigned long long)(SC_HOLD / SEC_NS));
	checkf(st.cookies_until_ns == sc_clock + SC_HOLD, desc, "cookies_until %llu, want %llu",
	       (unsigned long long)st.cookies_until_ns,
	       (unsigned long long)(sc_clock + SC_HOLD));

	sc_acks(fam, &ack, cookie);
	sc_flags(fam, &syn, &ack);

	/* ECN asked for with ECE+CWR: granted through the timestamp */
	syn.flags = TF_SYN | 0x40 | 0x80;
	w.ecn = true;
	snprintf(desc, sizeof(desc), "syncookie %s: SYN with ECE+CWR: SYN-ACK with ECE", fam);
	cookie = sc_synack(desc, &syn, &w);
	syn.flags = TF_SYN;
	w.ecn = false;

	/* a sequence number that wraps */
	syn.seq = 0xffffffffu;
	syn.sport = SC_SPORT + 7;
	snprintf(desc, sizeof(desc), "syncookie %s: client seq 0xffffffff: ack wraps to 0", fam);
	cookie = sc_synack(desc, &syn, &w);
	ack.seq = 0;
	ack.sport = SC_SPORT + 7;
	ack.ack = cookie + 1;
	snprintf(desc, sizeof(desc), "syncookie %s: ... and its ACK passes", fam);
	sc_expect(desc, &ack, XDP_PASS, WEIR_R_SVC_L7);
	syn.seq = SC_SEQ;
	syn.sport = 0;
	ack.seq = SC_SEQ + 1;
	ack.sport = 0;

	sc_shapes(family, fam);
	if (family == PK_V4) {
		syn.ihl = 8;
		sc_synack("syncookie IPv4: SYN with IP options: SYN-ACK without", &syn, &w);
		syn.ihl = 0;
		syn.frag = 0x2000;
		syn.payload = 16;
		sc_expect("syncookie IPv4: first fragment of a SYN: no service packet, passed",
			  &syn, XDP_PASS, WEIR_R_PASS);
		syn.frag = 0;
		syn.payload = 0;
	} else {
		syn.n_ext = 1;
		sc_synack("syncookie IPv6: SYN after a hop-by-hop header: SYN-ACK without it", &syn,
			  &w);
		syn.n_ext = 0;
	}
	sc_cuts(family, 0);
	sc_cuts(family, 1);

	/* allowlisted: never challenged, never charged */
	syn.src = ack.src = family == PK_V4 ? "198.18.7.7" : "2001:db8:a11::7";
	list_add(WEIR_LIST_ALLOW, family == PK_V4 ? "198.18.7.7/32" : "2001:db8:a11::7/128", 0);
	snprintf(desc, sizeof(desc), "syncookie %s: allowlisted source's SYN over the rate passes",
		 fam);
	sc_expect(desc, &syn, XDP_PASS, WEIR_R_SVC_L7);
	ack.ack = 0x5eed;
	snprintf(desc, sizeof(desc), "syncookie %s: allowlisted source's bad ACK passes", fam);
	sc_expect(desc, &ack, XDP_PASS, WEIR_R_SVC_L7);
	allow = cidr(family == PK_V4 ? "198.18.7.7/32" : "2001:db8:a11::7/128");
	if (weir_list_del(&M, WEIR_LIST_ALLOW, &allow))
		die("weir_list_del", EINVAL);
	syn.src = ack.src = NULL;

	/* the window closes WEIR_SYNCOOKIE_HOLD_NS after the last cookie */
	st = sc_state(id);
	clock_set(st.cookies_until_ns - 1);
	snprintf(desc, sizeof(desc), "syncookie %s: 1 ns before the window closes, bad ACK "
		 "dropped", fam);
	sc_expect(desc, &ack, XDP_DROP, WEIR_R_SYNCOOKIE_BAD);
	clock_set(st.cookies_until_ns);
	snprintf(desc, sizeof(desc), "syncookie %s: after the window, a bad ACK passes", fam);
	sc_expect(desc, &ack, XDP_PASS, WEIR_R_SVC_L7);
	snprintf(desc, sizeof(desc), "syncookie %s: rate refilled: SYN passes again", fam);
	sc_expect(desc, &syn, XDP_PASS, WEIR_R_SVC_L7);
	clock_set(sc_clock);

	if (sc_svc_del(family, svc, 443))
		die("delete a syncookie service", errno);
}

static void test_syncookie(void)
{
	uint32_t f0 = features();
	uint16_t id0;
	int err;

	sc_clock = weir_mono_ns() + 1000 * SEC_NS;
	clock_set(sc_clock);
	err = weir_features_update(&M, WEIR_F_SVC, 0);
	if (err)
		die("weir_features_update", err);

	sc_family(PK_V4);
	clock_set(sc_clock);
	sc_family(PK_V6);
	sc_sockets();

	/* syn.rate 0: no SYN is within the rate, every one is answered */
	clock_set(sc_clock);
	if (sc_svc_put(PK_V4, "192.0.2.200", 443, &id0, 0, 0))
		die("add a syncookie service", errno);
	{
		struct sc_frame syn = { .family = PK_V4, .flags = TF_SYN, .seq = SC_SEQ };
		struct sc_want w = { .wscale = -1 };

		sc_synack("syncookie: SYN rate 0: the first SYN already gets a cookie", &syn, &w);
	}
	if (sc_svc_del(PK_V4, "192.0.2.200", 443))
		die("delete a syncookie service", errno);

	if (!(f0 & WEIR_F_SVC)) {
		err = weir_features_update(&M, 0, WEIR_F_SVC);
		if (err)
			die("weir_features_update", err);
	}
	clock_set(weir_mono_ns());
	CHECK(features() == f0, "syncookie: feature bits as before the tests");
}
