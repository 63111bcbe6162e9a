/* services.c - BPF tests of steering by service (bpf/lib/l4.h): l7, l4 and
 * drop services, the Maglev rings weirctl builds (maps/service.c,
 * maps/maglev.c), flow tracking, draining, the flow-tracking budget, and the
 * frames that leave: IP-in-IP and IPv6-in-IPv6 headers checked field by
 * field, VLAN tags kept, L2 DSR. Included by test_xdp.c, whose harness it
 * uses; every service it makes is deleted again at the end.
 */

static const uint8_t be_dmac[6] = { 0x02, 0xbe, 0, 0, 0, 0x01 };
static const uint8_t be_smac[6] = { 0x02, 0x5e, 0, 0, 0, 0x01 };

static struct weir_svc_key svc_key(const char *spec)
{
	struct weir_svc_key k;
	char err[160];

	if (weir_svc_key_parse(spec, &k, err, sizeof(err)))
		die(err, EINVAL);
	return k;
}

static int svc_add(const char *spec, uint8_t mode, uint8_t flags)
{
	struct weir_svc_key k = svc_key(spec);
	struct weir_svc v = { .mode = mode, .flags = flags };

	return weir_svc_add(&M, &k, &v);
}

/* A backend of service spec at addr, leaving by interface 1 (lo: a test
 * run's ingress, so XDP_TX), from the encapsulation source src. */
static int be_add(const char *spec, const char *addr, const char *src, uint32_t weight)
{
	struct weir_svc_key k = svc_key(spec);
	struct weir_backend b = { .weight = weight, .ifindex = 1 };
	uint8_t fam;

	if (weir_ip_parse(addr, &b.family, b.addr) || weir_ip_parse(src, &fam, b.src))
		die("test backend address", EINVAL);
	memcpy(b.dmac, be_dmac, 6);
	memcpy(b.smac, be_smac, 6);
	return weir_backend_add(&M, &k, &b);
}

static int svc_nop(const struct weir_svc_key *k, const struct weir_svc *v, void *ctx)
{
	return 0;
}

static int be_addr(const char *addr, uint8_t *fam, uint8_t a[16])
{
	if (weir_ip_parse(addr, fam, a))
		die("test backend address", EINVAL);
	return 0;
}

/* Runs a frame and returns the verdict, with the frame that leaves in out. */
static __u32 run_out(const struct pkt *p, uint8_t *out, __u32 *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (__u32)p->len,
		    .data_out = out, .data_size_out = PKT_MAX + 64, .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("test run", errno);
	*out_len = o.data_size_out;
	return o.retval;
}

static uint16_t csum16(const uint8_t *d, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)d[i] << 8 | d[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The backend address a forwarded frame is going to (outer destination),
 * as text; "" when the frame was not encapsulated as expected. */
static void outer_dst(const uint8_t *f, size_t l3, int family, char *buf, size_t len)
{
	*buf = '\0';
	if (family == PK_V4)
		inet_ntop(AF_INET, f + l3 + 16, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, f + l3 + 24, buf, (socklen_t)len);
}

/* Sends one TCP packet from src to the test service address and returns
 * the backend it went to ("" when not forwarded). */
static void flow_to(int family, const char *src, uint8_t flags, char *be, size_t len)
{
	struct pkt_opts o = { .family = family, .src = src, .tcp_flags = flags };
	uint8_t out[PKT_MAX + 64];
	struct pkt p;
	__u32 n;

	pkt_build(&p, &o);
	if (run_out(&p, out, &n) != XDP_TX) {
		*be = '\0';
		return;
	}
	outer_dst(out, p.l3, family, be, len);
}

static void test_svc_modes(void)
{
	struct weir_svc_key k;
	struct weir_svc v;

	CHECK(!(features() & WEIR_F_SVC), "services: no service, no feature bit");
	CHECK(svc_add("192.0.2.200:443", WEIR_SVC_L7, 0) == 0 &&
	      (features() & WEIR_F_SVC), "services: adding one sets the feature bit");
	CHECK(svc_add("192.0.2.200:443/tcp", WEIR_SVC_L4, 0) == -EEXIST,
	      "services: a second add of the same key is refused");
	expect_pkt("l7 service: TCP to it passes as service_l7", &(struct pkt_opts){ V4, SYN },
		   XDP_PASS, WEIR_R_SVC_L7, NULL);
	expect_pkt("l7 service: UDP to another port passes as before",
		   &(struct pkt_opts){ V4, UDP }, XDP_PASS, WEIR_R_PASS, NULL);
	CHECK(svc_add("192.0.2.200:53/udp", WEIR_SVC_DROP, 0) == 0, "services: add a udp drop service");
	expect_pkt("drop service: UDP to it is dropped", &(struct pkt_opts){ V4, UDP },
		   XDP_DROP, WEIR_R_SVC_DROP, NULL);
	expect_pkt("drop service: ICMP to the address is not a service packet",
		   &(struct pkt_opts){ V4, ICMP }, XDP_PASS, WEIR_R_PASS, NULL);
	expect_pkt("drop service: a non-first fragment carries no port: passed",
		   &(struct pkt_opts){ V4, UDP, FRAG4 }, XDP_PASS, WEIR_R_PASS, NULL);
	expect_pkt("drop service: nor is the first fragment steered (MF set)",
		   &(struct pkt_opts){ V4, UDP, .frag = 0x2000 }, XDP_PASS, WEIR_R_PASS, NULL);

	list_add(WEIR_LIST_BLOCK, "198.18.0.1", 0);
	expect_pkt("blocklist before services: a blocked source meets no service",
		   &(struct pkt_opts){ V4, SYN }, XDP_DROP, WEIR_R_BLOCK, NULL);
	CHECK(weir_list_flush(&M, WEIR_LIST_BLOCK) == 1, "services: blocklist flushed");
	list_add(WEIR_LIST_ALLOW, "198.18.0.1", 0);
	expect_pkt("an allowlisted source still meets the drop service",
		   &(struct pkt_opts){ V4, UDP }, XDP_DROP, WEIR_R_SVC_DROP, NULL);
	CHECK(weir_list_flush(&M, WEIR_LIST_ALLOW) == 1, "services: allowlist flushed");
	k = svc_key("192.0.2.200:53/udp");
	CHECK(weir_svc_del(&M, &k) == 0 && weir_svc_get(&M, &k, &v) == -ENOENT,
	      "services: delete the drop service");
	CHECK(weir_svc_del(&M, &k) == -ENOENT, "services: deleting it again: ENOENT");
	expect_pkt("deleted service: UDP passes again", &(struct pkt_opts){ V4, UDP },
		   XDP_PASS, WEIR_R_PASS, NULL);
	k = svc_key("192.0.2.200:443/tcp");
	CHECK(weir_svc_del(&M, &k) == 0 && !(features() & WEIR_F_SVC),
	      "services: deleting the last one clears the feature bit");
}

static void test_svc_parse(void)
{
	static const struct { const char *s; int ok; const char *norm; } cases[] = {
		{ "10.0.0.1:80", 1, "10.0.0.1:80/tcp" },
		{ "10.0.0.1:53/udp", 1, "10.0.0.1:53/udp" },
		{ "[2001:db8::1]:443/tcp", 1, "[2001:db8::1]:443/tcp" },
		{ "10.0.0.1", 0, NULL },	  { "10.0.0.1:0", 0, NULL },
		{ "10.0.0.1:65536", 0, NULL },	  { "10.0.0.1:80/sctp", 0, NULL },
		{ "2001:db8::1:443", 0, NULL },	  { "[2001:db8::1]443", 0, NULL },
		{ "10.0.0.256:80", 0, NULL },	  { ":80", 0, NULL },
		{ "10.0.0.1:80x", 0, NULL },	  { "10.0.0.1:-1", 0, NULL },
		{ "10.0.0.1:+80", 0, NULL },	  { "[10.0.0.1]:80", 1, "10.0.0.1:80/tcp" },
	};
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct weir_svc_key k;
		char err[160] = "", out[WEIR_SVC_STRLEN] = "", desc[120];
		int r = weir_svc_key_parse(cases[i].s, &k, err, sizeof(err));

		if (!r)
			weir_svc_key_format(&k, out, sizeof(out));
		snprintf(desc, sizeof(desc), "service key '%s' %s", cases[i].s,
			 cases[i].ok ? "parses" : "is refused with a reason");
		checkf(cases[i].ok ? !r && !strcmp(out, cases[i].norm) : r == -EINVAL && *err,
		       desc, "r=%d out='%s' err='%s'", r, out, err);
	}
}

/* Ring slots per backend index of the service at spec. */
static void ring_shares(const char *spec, uint32_t *count)
{
	static uint32_t ring[WEIR_RING_SIZE];
	struct weir_svc_key k = svc_key(spec);
	struct weir_svc v;

	memset(count, 0, WEIR_BACKEND_MAX * sizeof(*count));
	if (weir_svc_get(&M, &k, &v) || weir_ring_read(&M, v.ring, ring))
		die("reading a ring", EIO);
	for (uint32_t s = 0; s < WEIR_RING_SIZE; s++)
		if (ring[s] < WEIR_BACKEND_MAX)
			count[ring[s]]++;
}

/* The frame leaves encapsulated to the backend, from 10.9.0.1 or
 * 2001:db8:9::1: MACs set, VLAN tags kept, the outer header right field by
 * field (IPv4: to the checksum, DF copied), the inner packet untouched. */
static void check_encap(const char *desc, const struct pkt_opts *o, const char *be)
{
	bool v4 = o->family == PK_V4;
	size_t outer = v4 ? 20 : 40;
	uint8_t out[PKT_MAX + 64], want_dst[16], want_src[16];
	struct pkt p;
	__u32 n, rv;
	const uint8_t *ip;
	bool ok;

	pkt_build(&p, o);
	rv = run_out(&p, out, &n);
	ip = out + p.l3;
	inet_pton(v4 ? AF_INET : AF_INET6, be, want_dst);
	inet_pton(v4 ? AF_INET : AF_INET6, v4 ? "10.9.0.1" : "2001:db8:9::1", want_src);
	ok = rv == XDP_TX && n == p.len + outer && !memcmp(out, be_dmac, 6) &&
	     !memcmp(out + 6, be_smac, 6) && !memcmp(out + 12, p.b + 12, p.l3 - 12) &&
	     !memcmp(ip + outer, p.b + p.l3, p.len - p.l3);
	if (v4)
		ok = ok && ip[0] == 0x45 && ip[9] == IPPROTO_IPIP && ip[8] == 64 &&
		     (size_t)(ip[2] << 8 | ip[3]) == p.ipend - p.l3 + 20 &&
		     csum16(ip, 20) == 0 && !memcmp(ip + 12, want_src, 4) &&
		     !memcmp(ip + 16, want_dst, 4) && ip[1] == p.b[p.l3 + 1] &&
		     ip[6] == (p.b[p.l3 + 6] & 0x40) && ip[7] == 0;
	else
		ok = ok && (ip[0] >> 4) == 6 && ip[6] == IPPROTO_IPV6 && ip[7] == 64 &&
		     (size_t)(ip[4] << 8 | ip[5]) == p.ipend - p.l3 &&
		     !memcmp(ip + 8, want_src, 16) && !memcmp(ip + 24, want_dst, 16);
	checkf(ok, desc, "verdict %u, %u bytes out of %zu, protocol %u", rv, n, p.len,
	       ip[v4 ? 9 : 6]);
}

#define SVC4 "192.0.2.200:443"
#define N_FLOWS 600

static char flow_be[N_FLOWS][INET6_ADDRSTRLEN];

static const char *flow_src(int i)
{
	static char s[32];

	snprintf(s, sizeof(s), "198.51.%d.%d", i / 250, i % 250 + 1);
	return s;
}

/* How many of the N_FLOWS flows go somewhere else than recorded; records
 * where they go now when record is set. */
static int flows_moved(uint8_t flags, bool record)
{
	char be[INET6_ADDRSTRLEN];
	int moved = 0;

	for (int i = 0; i < N_FLOWS; i++) {
		flow_to(PK_V4, flow_src(i), flags, be, sizeof(be));
		moved += strcmp(be, flow_be[i]) != 0;
		if (record)
			snprintf(flow_be[i], sizeof(flow_be[i]), "%s", be);
	}
	return moved;
}

/* Empties this CPU's (every CPU's) flow cache. */
static void flow_cache_clear(void)
{
	int fd = bpf_map__fd(skel->maps.weir_flow_cache), ncpu = libbpf_num_possible_cpus();
	struct weir_flow_cached *zero = calloc(ncpu, sizeof(*zero));

	for (__u32 i = 0; zero && i < WEIR_FLOW_CACHE_SLOTS; i++)
		bpf_map_update_elem(fd, &i, zero, BPF_ANY);
	free(zero);
}

/* Flows of the test service in the flow cache of one CPU. */
static int flow_cache_count(int cpu)
{
	int fd = bpf_map__fd(skel->maps.weir_flow_cache), ncpu = libbpf_num_possible_cpus();
	struct weir_flow_cached *v = calloc(ncpu, sizeof(*v));
	int n = 0;

	for (__u32 i = 0; v && i < WEIR_FLOW_CACHE_SLOTS; i++)
		if (!bpf_map_lookup_elem(fd, &i, v) && v[cpu].key.family == 4 &&
		    v[cpu].key.dport == htons(443))
			n++;
	free(v);
	return n;
}

/* Deletes every tracked flow, as LRU eviction would; returns how many. */
static int flows_evict(void)
{
	struct weir_flow_key k, next;
	int n = 0;

	while (!bpf_map_get_next_key(M.flow, NULL, &next)) {
		k = next;
		if (bpf_map_delete_elem(M.flow, &k))
			break;
		n++;
	}
	return n;
}

static long flows_tracked(void)
{
	static uint32_t counts[WEIR_BACKEND_MAX];

	return weir_flow_counts(&M, counts);
}

static void test_l4(void)
{
	static uint32_t count[WEIR_BACKEND_MAX];
	struct weir_svc_key k = svc_key(SVC4);
	uint8_t fam, a[16];
	int idx[4], moved, to_b2 = 0;
	long tracked;
	char be[INET6_ADDRSTRLEN];
	struct weir_svc v;

	CHECK(svc_add(SVC4, WEIR_SVC_L4, 0) == 0, "l4: add a service");
	expect_pkt("l4 service without backends: dropped as l4_no_backend",
		   &(struct pkt_opts){ V4, SYN }, XDP_DROP, WEIR_R_L4_NO_BACKEND, NULL);
	CHECK(be_add("192.0.2.200:80", "10.9.0.11", "10.9.0.1", 1) == -ENOENT,
	      "l4: a backend of a missing service: ENOENT");
	CHECK(svc_add("192.0.2.200:8080", WEIR_SVC_L7, 0) == 0 &&
	      be_add("192.0.2.200:8080", "10.9.0.11", "10.9.0.1", 1) == -EINVAL,
	      "l4: a backend of an l7 service: EINVAL");
	CHECK(be_add(SVC4, "2001:db8:9::11", "2001:db8:9::1", 1) == -EINVAL,
	      "l4: an IPv6 backend of an IPv4 service: EINVAL");
	idx[0] = be_add(SVC4, "10.9.0.11", "10.9.0.1", 1);
	CHECK(idx[0] >= 0, "l4: first backend added");
	CHECK(be_add(SVC4, "10.9.0.11", "10.9.0.1", 5) == -EEXIST,
	      "l4: the same backend twice: EEXIST");
	ring_shares(SVC4, count);
	CHECK(count[idx[0]] == WEIR_RING_SIZE, "l4: one backend owns every ring slot");
	check_encap("l4: a SYN leaves IPv4-in-IPv4 to the backend, XDP_TX",
		     &(struct pkt_opts){ V4, SYN, .payload = 100 }, "10.9.0.11");
	check_encap("l4: a tagged frame keeps its 802.1Q tag",
		     &(struct pkt_opts){ V4, ACK, .vlans = 1, .payload = 10 }, "10.9.0.11");
	check_encap("l4: a QinQ frame keeps both tags",
		     &(struct pkt_opts){ V4, ACK, .vlans = 2, .payload = 7 }, "10.9.0.11");
	check_encap("l4: IPv4 options are carried inside",
		     &(struct pkt_opts){ V4, ACK, .ihl = 7 }, "10.9.0.11");
	check_encap("l4: the outer header has DF when the inner one has",
		     &(struct pkt_opts){ V4, ACK, .frag = 0x4000 }, "10.9.0.11");

	idx[1] = be_add(SVC4, "10.9.0.12", "10.9.0.1", 1);
	idx[2] = be_add(SVC4, "10.9.0.13", "10.9.0.1", 2);
	ring_shares(SVC4, count);
	checkf(idx[1] >= 0 && idx[2] >= 0 && count[idx[0]] + count[idx[1]] + count[idx[2]] ==
	       WEIR_RING_SIZE && count[idx[0]] > 15500 && count[idx[0]] < 17300 &&
	       count[idx[1]] > 15500 && count[idx[1]] < 17300,
	       "l4: weights 1:1:2 take a quarter, a quarter and a half of the ring",
	       "slots %u %u %u", count[idx[0]], count[idx[1]], count[idx[2]]);

	weir_flow_track_set(&M, 0);
	tracked = flows_tracked();
	moved = flows_moved(TF_SYN, true);
	CHECK(moved == N_FLOWS && flows_tracked() - tracked == N_FLOWS,
	      "l4: 600 new flows forwarded and tracked");
	for (int i = 0; i < N_FLOWS; i++)
		to_b2 += !strcmp(flow_be[i], "10.9.0.13");
	checkf(to_b2 > N_FLOWS * 4 / 10 && to_b2 < N_FLOWS * 6 / 10,
	       "l4: the weight-2 backend gets about half of the flows", "%d of %d", to_b2,
	       N_FLOWS);
	CHECK(flows_moved(TF_ACK, false) == 0, "l4: every flow's next packets go the same way");

	idx[3] = be_add(SVC4, "10.9.0.14", "10.9.0.1", 1);
	CHECK(idx[3] >= 0 && flows_moved(TF_ACK, false) == 0,
	      "l4: adding a backend moves no tracked flow");
	/* Each of the two memories of a flow holds on its own. The cache is
	 * per CPU: the runs stay on one. */
	int evicted, cached, cpu = sched_getcpu();
	cpu_set_t all, one;

	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
	flow_cache_clear();
	CHECK(flows_moved(TF_ACK, false) == 0,
	      "l4: with the CPU's flow cache emptied, the LRU keeps every flow on its backend");
	cached = flow_cache_count(cpu);
	checkf(cached >= N_FLOWS * 9 / 10 && cached <= N_FLOWS,
	       "l4: the flows' packets filled the CPU's flow cache (direct-mapped: a few collide)",
	       "%d of %d cached", cached, N_FLOWS);
	evicted = flows_evict();
	checkf(evicted >= N_FLOWS && flows_tracked() == 0, "l4: every tracked flow evicted",
	       "%d evicted, %ld left", evicted, flows_tracked());
	moved = flows_moved(TF_ACK, false);
	checkf(moved <= N_FLOWS - cached,
	       "l4: with their LRU entries evicted, every cached flow stays on its backend",
	       "%d moved, %d not cached", moved, N_FLOWS - cached);
	flow_cache_clear();
	moved = flows_moved(TF_ACK, false);
	checkf(moved > N_FLOWS - cached,
	       "l4: (with both gone, the ring that changed since moves more: the memories count)",
	       "%d moved", moved);
	sched_setaffinity(0, sizeof(all), &all);
	flows_moved(TF_SYN, true);	/* tracked again, where the ring sends them now */
	be_addr("10.9.0.12", &fam, a);
	CHECK(weir_backend_weight(&M, &k, fam, a, 0) == 0, "l4: drain a backend (weight 0)");
	ring_shares(SVC4, count);
	CHECK(count[idx[1]] == 0, "l4: a draining backend has no ring slot");
	CHECK(flows_moved(TF_ACK, false) == 0, "l4: the draining backend's flows stay on it");
	CHECK(weir_backend_del(&M, &k, fam, a) == 0, "l4: remove the drained backend");
	moved = 0;
	for (int i = 0; i < N_FLOWS; i++) {
		bool was = !strcmp(flow_be[i], "10.9.0.12");

		flow_to(PK_V4, flow_src(i), TF_ACK, be, sizeof(be));
		if (was ? !strcmp(be, "10.9.0.12") || !*be : strcmp(be, flow_be[i]) != 0)
			moved++;
	}
	CHECK(moved == 0, "l4: after the removal its flows go to others, the rest stay");
	CHECK(weir_backend_del(&M, &k, fam, a) == -ENOENT, "l4: removing it again: ENOENT");
	CHECK(weir_backend_weight(&M, &k, fam, a, 3) == -ENOENT,
	      "l4: re-weighting a removed backend: ENOENT");

	/* A new backend at a freed index must not inherit the old flows. */
	CHECK(be_add(SVC4, "10.9.0.15", "10.9.0.1", 1) == idx[1],
	      "l4: a new backend reuses the freed index");
	moved = 0;
	for (int i = 0; i < N_FLOWS; i++) {
		flow_to(PK_V4, flow_src(i), TF_ACK, be, sizeof(be));
		moved += !strcmp(be, "10.9.0.12");
	}
	CHECK(moved == 0, "l4: no flow goes to the removed address");

	/* The flow budget: past it new flows are balanced but not tracked. */
	CHECK(weir_flow_track_set(&M, 5) == 0, "l4: flow-limit 5 per second per CPU");
	{
		long before = flows_tracked();

		clock_set(weir_mono_ns() + 10000000000ull);
		for (int i = 0; i < 20; i++)
			flow_to(PK_V4, flow_src(N_FLOWS + i), TF_SYN, be, sizeof(be));
		checkf(flows_tracked() - before == 5 && *be,
		       "l4: over the budget, new flows are forwarded but not tracked",
		       "%ld new tracked", flows_tracked() - before);
		clock_set(weir_mono_ns() + 12000000000ull);
		flow_to(PK_V4, flow_src(N_FLOWS + 30), TF_SYN, be, sizeof(be));
		CHECK(flows_tracked() - before == 6, "l4: a second later the budget is back");
	}
	weir_flow_track_set(&M, 0);
	clock_set(weir_mono_ns());

	/* L2 direct server return: MACs rewritten, nothing else. */
	CHECK(svc_add("192.0.2.200:53/udp", WEIR_SVC_L4, WEIR_SVC_F_DSR) == 0 &&
	      be_add("192.0.2.200:53/udp", "10.9.0.21", "10.9.0.1", 1) >= 0,
	      "dsr: a UDP service with one backend");
	{
		struct pkt_opts o = { V4, UDP, .payload = 30 };
		uint8_t out[PKT_MAX + 64];
		struct pkt p;
		__u32 n, rv;

		pkt_build(&p, &o);
		rv = run_out(&p, out, &n);
		CHECK(rv == XDP_TX && n == p.len && !memcmp(out, be_dmac, 6) &&
		      !memcmp(out + 6, be_smac, 6) && !memcmp(out + 12, p.b + 12, p.len - 12),
		      "dsr: only the MAC addresses change");
	}
	k = svc_key("192.0.2.200:53/udp");
	CHECK(weir_svc_del(&M, &k) == 0, "dsr: service deleted");

	/* IPv6 in IPv6. */
	CHECK(svc_add("[2001:db8:ffff::200]:443", WEIR_SVC_L4, 0) == 0 &&
	      be_add("[2001:db8:ffff::200]:443", "2001:db8:9::11", "2001:db8:9::1", 1) >= 0,
	      "l4 IPv6: a service with one backend");
	check_encap("l4 IPv6: a SYN leaves IPv6-in-IPv6 to the backend",
		     &(struct pkt_opts){ V6, SYN, .payload = 64 }, "2001:db8:9::11");
	check_encap("l4 IPv6: extension headers are carried inside",
		     &(struct pkt_opts){ V6, ACK, EXT(2, IPPROTO_HOPOPTS, IPPROTO_DSTOPTS) },
		     "2001:db8:9::11");
	check_encap("l4 IPv6: a tagged frame keeps its tag",
		     &(struct pkt_opts){ V6, ACK, .vlans = 1 }, "2001:db8:9::11");
	expect_pkt("l4 IPv6: a first fragment is not steered",
		   &(struct pkt_opts){ V6, SYN, EXT(1, IPPROTO_FRAGMENT), .frag6 = 1 }, XDP_PASS,
		   WEIR_R_PASS, NULL);

	/* An unencapsulable frame (no headroom is never the case in a test
	 * run; a backend of the other family is refused by the API, so write
	 * one directly) is dropped and counted. */
	{
		struct weir_backend b;
		uint32_t i = (uint32_t)idx[0];

		bpf_map_lookup_elem(M.backend, &i, &b);
		b.family = 6;
		bpf_map_update_elem(M.backend, &i, &b, BPF_ANY);
		for (int j = 0; j < N_FLOWS; j++)
			if (!strcmp(flow_be[j], "10.9.0.11")) {
				struct pkt_opts o = { .family = PK_V4, .src = flow_src(j),
						      .tcp_flags = TF_ACK };
				struct pkt p;
				char why[256];

				pkt_build(&p, &o);
				checkf(run_expect(p.b, p.len, XDP_DROP, WEIR_R_L4_ERROR, why,
						  sizeof(why)),
				       "l4: a backend that cannot take the frame: dropped as l4_error",
				       "%s", why);
				break;
			}
		b.family = 4;
		bpf_map_update_elem(M.backend, &i, &b, BPF_ANY);
	}

	k = svc_key("[2001:db8:ffff::200]:443");
	CHECK(weir_svc_del(&M, &k) == 0, "l4 IPv6: service deleted");
	k = svc_key("192.0.2.200:8080");
	weir_svc_del(&M, &k);
	k = svc_key(SVC4);
	CHECK(weir_svc_del(&M, &k) == 0 && weir_svc_get(&M, &k, &v) == -ENOENT,
	      "l4: service deleted with its backends");
	{
		struct weir_backend b;
		int live = 0;

		for (uint32_t i = 0; i < WEIR_BACKEND_MAX; i++)
			if (!bpf_map_lookup_elem(M.backend, &i, &b))
				live += b.state == WEIR_BE_LIVE;
		CHECK(live == 0 && !(features() & WEIR_F_SVC),
		      "l4: no live backend and no feature bit left");
	}
	expect_pkt("l4: once deleted, packets to the address pass again",
		   &(struct pkt_opts){ V4, SYN }, XDP_PASS, WEIR_R_PASS, NULL);
}

/* The Maglev property, on the builder itself: removing 1 of N backends
 * moves about 1/N of the slots, adding one about 1/(N+1). */
static void test_maglev(void)
{
	static uint32_t a[WEIR_RING_SIZE], b[WEIR_RING_SIZE];
	struct weir_maglev_node n[11] = {};
	uint32_t moved = 0, per[11] = {};

	for (int i = 0; i < 11; i++) {
		n[i].key[0] = 4;
		n[i].key[1] = 10;
		n[i].key[4] = (uint8_t)(i + 1);
		n[i].weight = 1;
		n[i].value = (uint32_t)i;
	}
	CHECK(weir_maglev_build(n, 10, a, WEIR_RING_SIZE) == 0, "maglev: 10 backends");
	for (uint32_t s = 0; s < WEIR_RING_SIZE; s++)
		per[a[s]]++;
	{
		uint32_t lo = UINT32_MAX, hi = 0;

		for (int i = 0; i < 10; i++) {
			lo = per[i] < lo ? per[i] : lo;
			hi = per[i] > hi ? per[i] : hi;
		}
		checkf(hi - lo <= 1, "maglev: equal weights, shares within one slot",
		       "%u..%u", lo, hi);
	}
	/* remove backend 3 */
	n[3].weight = 0;
	CHECK(weir_maglev_build(n, 10, b, WEIR_RING_SIZE) == 0, "maglev: 9 backends");
	for (uint32_t s = 0; s < WEIR_RING_SIZE; s++)
		moved += a[s] != b[s];
	checkf(moved >= WEIR_RING_SIZE / 10 && moved < WEIR_RING_SIZE * 13 / 100,
	       "maglev: removing 1 of 10 moves about 1/10 of the slots", "%.2f%%",
	       100.0 * moved / WEIR_RING_SIZE);
	printf("# maglev: removing 1 of 10 backends moved %.2f%% of the slots\n",
	       100.0 * moved / WEIR_RING_SIZE);
	n[3].weight = 1;
	CHECK(weir_maglev_build(n, 11, b, WEIR_RING_SIZE) == 0, "maglev: 11 backends");
	moved = 0;
	for (uint32_t s = 0; s < WEIR_RING_SIZE; s++)
		moved += a[s] != b[s];
	checkf(moved >= WEIR_RING_SIZE / 11 && moved < WEIR_RING_SIZE * 12 / 100,
	       "maglev: adding an 11th moves about 1/11 of the slots", "%.2f%%",
	       100.0 * moved / WEIR_RING_SIZE);
	printf("# maglev: adding an 11th backend moved %.2f%% of the slots\n",
	       100.0 * moved / WEIR_RING_SIZE);
	for (int i = 0; i < 11; i++)
		n[i].weight = 0;
	CHECK(weir_maglev_build(n, 11, b, WEIR_RING_SIZE) == 0 && b[0] == WEIR_RING_EMPTY &&
	      b[WEIR_RING_SIZE - 1] == WEIR_RING_EMPTY,
	      "maglev: no weight anywhere: an empty ring");
}

/* The open-addressing table: many services resolve through their chains,
 * deletes leave tombstones that do not cut a chain, and a slot being
 * written (odd seq) is a miss, never a half-read match. */
static void test_svc_table(void)
{
	struct weir_svc_slot *t;
	struct weir_svc_key k;
	struct weir_svc v;
	char spec[40];
	int ok = 0, gone = 0;

	for (int i = 0; i < 600; i++) {
		snprintf(spec, sizeof(spec), "10.%d.%d.1:%d/udp", i / 200, i % 200, 1000 + i);
		ok += svc_add(spec, WEIR_SVC_DROP, 0) == 0;
	}
	CHECK(ok == 600, "service table: 600 services added");
	for (int i = 0; i < 600; i += 2) {
		snprintf(spec, sizeof(spec), "10.%d.%d.1:%d/udp", i / 200, i % 200, 1000 + i);
		k = svc_key(spec);
		gone += weir_svc_del(&M, &k) == 0;
	}
	ok = 0;
	for (int i = 0; i < 600; i++) {
		snprintf(spec, sizeof(spec), "10.%d.%d.1:%d/udp", i / 200, i % 200, 1000 + i);
		k = svc_key(spec);
		ok += (weir_svc_get(&M, &k, &v) == 0) == (i % 2 == 1);
	}
	CHECK(gone == 300 && ok == 600,
	      "service table: after deleting every other one, the rest are all found");
	CHECK(weir_svc_walk(&M, svc_nop, NULL) == 300,
	      "service table: a walk sees the 300 left");
	CHECK(weir_svc_flush(&M) == 300 && weir_svc_walk(&M, svc_nop, NULL) == 0 &&
	      !(features() & WEIR_F_SVC), "service table: flush empties it");

	CHECK(svc_add("192.0.2.200:53/udp", WEIR_SVC_DROP, 0) == 0, "service table: one service");
	expect_pkt("service table: found by the program", &(struct pkt_opts){ V4, UDP },
		   XDP_DROP, WEIR_R_SVC_DROP, NULL);
	t = mmap(NULL, WEIR_SVC_SLOTS * sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, M.svc, 0);
	if (t == MAP_FAILED)
		die("mmap weir_svc_tab", errno);
	k = svc_key("192.0.2.200:53/udp");
	for (uint32_t i = 0; i < WEIR_SVC_SLOTS; i++)
		if (t[i].state == WEIR_SVC_LIVE && !memcmp(&t[i].key, &k, sizeof(k))) {
			t[i].seq++;
			expect_pkt("service table: a slot being written (odd seq) is a miss",
				   &(struct pkt_opts){ V4, UDP }, XDP_PASS, WEIR_R_PASS, NULL);
			t[i].seq++;
		}
	munmap(t, WEIR_SVC_SLOTS * sizeof(*t));
	expect_pkt("service table: written (even seq): found again", &(struct pkt_opts){ V4, UDP },
		   XDP_DROP, WEIR_R_SVC_DROP, NULL);
	CHECK(weir_svc_del(&M, &k) == 0, "service table: deleted");
}

/* ---- many services, and a table of an older layout ---- */

/* The frame of a UDP/TCP packet to the service k (the test frame with its
 * destination and port rewritten). */
static void svc_frame(struct pkt *p, const struct weir_svc_key *k)
{
	struct pkt_opts o = { .family = k->family == 4 ? PK_V4 : PK_V6,
			      .proto = k->proto };

	pkt_build(p, &o);
	memcpy(p->b + p->l3 + (k->family == 4 ? 16 : 24), k->addr, k->family == 4 ? 4 : 16);
	memcpy(p->b + p->l4 + 2, &k->port, 2);
}

/* How many of the n services keys[] the program with prog_fd drops as
 * service_dropped (their mode). */
static int svc_dropped(int fd, const struct weir_svc_key *keys, int n)
{
	int found = 0;

	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .repeat = 1);
		struct pkt p;

		svc_frame(&p, &keys[i]);
		o.data_in = p.b;
		o.data_size_in = (__u32)p.len;
		if (bpf_prog_test_run_opts(fd, &o))
			die("test run", errno);
		found += o.retval == XDP_DROP;
	}
	return found;
}

/* The i-th key of a family's run of consecutive addresses and ports: the
 * keys an operator writes, and the ones a weak hash piles up. */
static struct weir_svc_key svc_seq_key(int family, int i)
{
	struct weir_svc_key k = { .family = (uint8_t)family };

	if (family == 4) {
		k.proto = IPPROTO_UDP;
		k.addr[0] = 10;
		k.addr[1] = 128;
		k.addr[2] = (uint8_t)(i >> 8);
		k.addr[3] = (uint8_t)i;
		k.port = htons((uint16_t)(2000 + i));
	} else {
		k.proto = IPPROTO_TCP;
		pkt_addr(PK_V6, "2001:db8:5::", k.addr);
		k.addr[14] = (uint8_t)(i >> 8);
		k.addr[15] = (uint8_t)i;
		k.port = htons((uint16_t)(3000 + i));
	}
	return k;
}

/* Probes each live service of the table takes to find (1 = its home slot):
 * the longest, and the mean. */
static void svc_probe_lengths(int fd, int *max, double *mean)
{
	struct weir_svc_slot *t = mmap(NULL, WEIR_SVC_SLOTS * sizeof(*t), PROT_READ,
				       MAP_SHARED, fd, 0);
	long sum = 0, n = 0;

	if (t == MAP_FAILED)
		die("mmap weir_svc_tab", errno);
	*max = 0;
	for (uint32_t i = 0; i < WEIR_SVC_SLOTS; i++) {
		uint32_t h, p;

		if (t[i].state != WEIR_SVC_LIVE)
			continue;
		h = weir_svc_hash(&t[i].key);
		for (p = 0; p < WEIR_SVC_PROBES && weir_probe(h, p, WEIR_SVC_SLOTS - 1) != i; p++)
			;
		sum += p + 1;
		n++;
		if ((int)p + 1 > *max)
			*max = (int)p + 1;
	}
	munmap(t, WEIR_SVC_SLOTS * sizeof(*t));
	*mean = n ? (double)sum / (double)n : 0;
}

/* A full table (WEIR_SVC_MAX services, half the slots) of consecutive
 * addresses and ports, per family: every one is added, found by the
 * library and by the program, within a few probes of its home slot. */
static void test_svc_many(void)
{
	static struct weir_svc_key keys[WEIR_SVC_MAX];
	char desc[160];

	for (int fam = 4; fam <= 6; fam += 2) {
		struct weir_svc_key extra = svc_seq_key(fam, WEIR_SVC_MAX);
		struct weir_svc v = { .mode = WEIR_SVC_DROP };
		int added = 0, got = 0, max;
		double mean;

		for (int i = 0; i < (int)WEIR_SVC_MAX; i++) {
			keys[i] = svc_seq_key(fam, i);
			v = (struct weir_svc){ .mode = WEIR_SVC_DROP };
			added += weir_svc_add(&M, &keys[i], &v) == 0;
		}
		v = (struct weir_svc){ .mode = WEIR_SVC_DROP };
		snprintf(desc, sizeof(desc), "many services, IPv%d: %u with consecutive "
			 "addresses and ports added, one more refused", fam, WEIR_SVC_MAX);
		checkf(added == (int)WEIR_SVC_MAX && weir_svc_add(&M, &extra, &v) == -ENOSPC,
		       desc, "%d added", added);
		for (int i = 0; i < (int)WEIR_SVC_MAX; i++)
			got += weir_svc_get(&M, &keys[i], &v) == 0;
		snprintf(desc, sizeof(desc), "many services, IPv%d: all found by weirctl", fam);
		checkf(got == (int)WEIR_SVC_MAX, desc, "%d found", got);
		got = svc_dropped(prog_fd, keys, WEIR_SVC_MAX);
		snprintf(desc, sizeof(desc), "many services, IPv%d: all found by the program", fam);
		checkf(got == (int)WEIR_SVC_MAX, desc, "%d found", got);
		snprintf(desc, sizeof(desc), "many services, IPv%d: the next key is no service",
			 fam);
		checkf(svc_dropped(prog_fd, &extra, 1) == 0, desc, "dropped");
		/* A random function gives ~1.39 probes on average at half load,
		 * and a longest chain of ~10 here. */
		svc_probe_lengths(M.svc, &max, &mean);
		printf("# IPv%d, %u services in %u slots: %.2f probes on average, "
		       "at most %d\n", fam, WEIR_SVC_MAX, WEIR_SVC_SLOTS, mean, max);
		snprintf(desc, sizeof(desc), "many services, IPv%d: probing stays short "
			 "(mean <= 1.6, longest <= 16 of %d)", fam, WEIR_SVC_PROBES);
		checkf(mean <= 1.6 && max <= 16, desc, "mean %.2f, longest %d", mean, max);
		CHECK(weir_svc_flush(&M) == (int)WEIR_SVC_MAX && !(features() & WEIR_F_SVC),
		      "many services: flushed");
	}
}

/* The hash of the first builds (layout 0): five chained finalizers. Only
 * here, to write a table as they did. */
static uint32_t svc_hash_layout0(const struct weir_svc_key *k)
{
	uint32_t w[5];

	memcpy(w, k, 20);
	return weir_mix32(weir_mix32(weir_mix32(weir_mix32(weir_mix32(w[0]) ^ w[1]) ^
						w[2]) ^ w[3]) ^ w[4]);
}

static void svc_layout_set(uint32_t layout)
{
	struct weir_xdp_config cfg;

	if (weir_xdp_config_read(&M, &cfg))
		die("weir_xdp_config_read", EIO);
	cfg.svc_layout = layout;
	if (weir_xdp_config_write(&M, &cfg))
		die("weir_xdp_config_write", EIO);
}

/* A table written by the first builds (layout 0): weirctl still reads and
 * deletes in it but adds nothing; weir_svc_relayout (what attach runs)
 * copies it into a table where a program of this build finds every
 * service, loaded here as attach loads it, with the rebuilt map. */
static void test_svc_relayout(void)
{
	enum { N = 600 };
	static struct weir_svc_key keys[N];
	struct weir_svc_slot *t;
	struct weir_xdp_bpf *s2;
	struct weir_maps m2;
	struct weir_svc v;
	int placed = 0, got = 0, nfd, n;

	t = mmap(NULL, WEIR_SVC_SLOTS * sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED,
		 M.svc, 0);
	if (t == MAP_FAILED)
		die("mmap weir_svc_tab", errno);
	for (int i = 0; i < N; i++) {
		uint32_t h;

		keys[i] = svc_seq_key(i % 2 ? 6 : 4, i);
		h = svc_hash_layout0(&keys[i]);
		for (uint32_t p = 0; p < WEIR_SVC_PROBES; p++) {
			uint32_t j = weir_probe(h, p, WEIR_SVC_SLOTS - 1);

			if (t[j].state == WEIR_SVC_LIVE)
				continue;
			t[j].key = keys[i];
			t[j].svc = (struct weir_svc){ .mode = WEIR_SVC_DROP, .id = (uint16_t)i };
			t[j].state = WEIR_SVC_LIVE;
			placed++;
			break;
		}
	}
	munmap(t, WEIR_SVC_SLOTS * sizeof(*t));
	svc_layout_set(0);
	weir_features_update(&M, WEIR_F_SVC, 0);
	CHECK(placed == N, "old layout: 600 services placed by the first builds' hash");
	n = svc_dropped(prog_fd, keys, N);
	checkf(n < N / 10, "old layout: this build's program misses them (why attach "
	       "rebuilds the table)", "%d of %d found", n, N);
	for (int i = 0; i < N; i++)
		got += weir_svc_get(&M, &keys[i], &v) == 0 && v.id == i;
	checkf(got == N, "old layout: weirctl still finds every one", "%d found", got);
	v = (struct weir_svc){ .mode = WEIR_SVC_DROP };
	CHECK(svc_add("192.0.2.201:80", WEIR_SVC_DROP, 0) == -ESTALE &&
	      weir_svc_walk(&M, svc_nop, NULL) == N,
	      "old layout: an add is refused (-ESTALE), nothing changes");
	CHECK(weir_svc_del(&M, &keys[0]) == 0 && weir_svc_walk(&M, svc_nop, NULL) == N - 1 &&
	      weir_svc_get(&M, &keys[0], &v) == -ENOENT,
	      "old layout: a delete finds its service");

	n = weir_svc_relayout(M.svc, &nfd);
	CHECK(n == N - 1, "relayout: every live service copied");
	m2 = M;
	m2.svc = nfd;
	svc_layout_set(WEIR_SVC_LAYOUT);
	got = 0;
	for (int i = 1; i < N; i++)
		got += weir_svc_get(&m2, &keys[i], &v) == 0 && v.id == i;
	checkf(got == N - 1, "relayout: each one where this build's hash puts it",
	       "%d found", got);

	/* A second program on the same maps but the rebuilt table, as attach
	 * loads the new build beside the old. */
	s2 = weir_xdp_bpf__open();
	if (!s2)
		die("open a second skeleton", errno);
	s2->rodata->weir_test_clock = 1;
	if (bpf_map__reuse_fd(s2->maps.weir_svc_tab, nfd) ||
	    bpf_map__reuse_fd(s2->maps.weir_config, M.config) ||
	    bpf_map__reuse_fd(s2->maps.weir_stats, M.stats) ||
	    bpf_map__reuse_fd(s2->maps.weir_clock, clock_fd))
		die("reuse the maps", errno);
	if ((n = weir_xdp_bpf__load(s2)))
		die("load the second skeleton", n);
	n = svc_dropped(bpf_program__fd(s2->progs.weir_xdp), keys + 1, N - 1);
	checkf(n == N - 1, "relayout: a program with the rebuilt table finds all of them",
	       "%d of %d found", n, N - 1);
	CHECK(svc_dropped(bpf_program__fd(s2->progs.weir_xdp), keys, 1) == 0,
	      "relayout: and not the deleted one");
	weir_xdp_bpf__destroy(s2);

	CHECK(weir_svc_relayout(M.config, &n) == -EINVAL,
	      "relayout: a map that is no service table is refused");
	CHECK(weir_svc_flush(&m2) == N - 1, "relayout: the rebuilt table flushes");
	close(nfd);
	t = mmap(NULL, WEIR_SVC_SLOTS * sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED,
		 M.svc, 0);
	if (t == MAP_FAILED)
		die("mmap weir_svc_tab", errno);
	memset(t, 0, WEIR_SVC_SLOTS * sizeof(*t));
	munmap(t, WEIR_SVC_SLOTS * sizeof(*t));
	CHECK(!(features() & WEIR_F_SVC) && weir_svc_walk(&M, svc_nop, NULL) == 0,
	      "relayout: tables empty again");
}

static void test_services(void)
{
	test_svc_parse();
	test_svc_table();
	test_svc_many();
	test_svc_relayout();
	test_svc_modes();
	test_maglev();
	test_l4();
}
