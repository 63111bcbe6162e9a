/* syncookie.h - the SYN-flood defence of l7 services: above a service's
 * SYN rate, XDP answers SYNs itself with SYN cookies and checks the cookie
 * of the ACKs that come back, so a spoofed flood allocates no kernel state.
 *
 * weir_syncookie() returns WEIR_SYNCOOKIE_PASS when the packet goes on to
 * the kernel as usual, or the XDP action to take with *reason set.
 *
 *   SYN (SYN set; ACK, RST, FIN clear), charged to the service's SYN rate
 *   (GCRA on weir_svc_state.syn_tat; rate 0: no SYN is within it):
 *     within the rate    -> the kernel, as usual
 *     over it            -> SYN-ACK built in place, XDP_TX (syncookie_sent);
 *                           ACKs are checked for the next
 *                           WEIR_SYNCOOKIE_HOLD_NS (cookies_until_ns)
 *   pure ACK (ACK set; SYN, RST, FIN clear; no payload), in that window:
 *     a socket exists (established, request, time-wait)  -> the kernel
 *     no socket but a valid cookie                       -> the kernel
 *     else                          -> XDP_DROP (syncookie_bad_ack)
 *   anything else, or outside the window: not looked at.
 *
 * The cookie is the kernel's own (bpf_tcp_raw_gen_syncookie_ipv4/6, the
 * secret and the minute counter of net/ipv4/syncookies.c): the kernel's
 * checks accept what XDP issued. The kernel never saw the SYN, so no
 * listener takes the ACK on its own; netfilter's SYNPROXY does (weirctl
 * keeps a synproxy rule for every such service, loader/synproxy.c): it
 * checks the cookie again, opens the connection to the listener and
 * splices the two with sequence adjustment.
 *
 * The SYN-ACK is the one netfilter's SYNPROXY sends, so that SYNPROXY can
 * complete it: the MSS of the interface's MTU; when the client sent a
 * timestamp, its options (window scale, SACK, ECN) encoded in the low 6 bits
 * of our timestamp as the kernel encodes them for its own cookies
 * (cookie_init_timestamp), our window scale WEIR_SYNCOOKIE_WSCALE, and the
 * timestamp echoed; and a zero window, so that the client sends no data
 * before SYNPROXY has connected to the listener and opened the window.
 * Without a timestamp, the client gets neither window scaling nor SACK.
 */
#ifndef WEIR_BPF_SYNCOOKIE_H
#define WEIR_BPF_SYNCOOKIE_H

#include "parse.h"
#include "maps.h"
#include "ratelimit.h"

#define WEIR_SYNCOOKIE_PASS (-1)

/* How long after the last SYN answered with a cookie the ACKs are checked.
 * Past it, ACKs reach the kernel unchecked, where SYNPROXY still drops
 * those without a valid cookie, at the cost of an skb each: a flood of bad
 * ACKs that outlasts the SYN flood by more than this costs the kernel, not
 * a real client. Meanwhile every pure ACK to the service costs a socket
 * lookup. */
#ifndef WEIR_SYNCOOKIE_HOLD_NS
#define WEIR_SYNCOOKIE_HOLD_NS (10 * 1000000000ull)
#endif
/* The window scale the SYN-ACK announces for the listener. SYNPROXY does
 * not pass on the one the listener chooses, so it must not exceed it:
 * Linux chooses 7 or more unless both tcp_rmem[2] and rmem_max are 4 MiB or
 * less (default 6 MiB; a small SO_RCVBUF lowers it too). The value of the
 * kernel selftest and of nftables' documentation. */
#ifndef WEIR_SYNCOOKIE_WSCALE
#define WEIR_SYNCOOKIE_WSCALE 7
#endif
#define WEIR_SYNCOOKIE_TTL 64
#define WEIR_SYNCOOKIE_MSS_MIN 536

/* The deepest L2 header parse.h accepts: Ethernet and two VLAN tags. */
#define WEIR_L2_MAX 22

#define WEIR_TCPOPT_EOL 0
#define WEIR_TCPOPT_NOP 1
#define WEIR_TCPOPT_MSS 2
#define WEIR_TCPOPT_WSCALE 3
#define WEIR_TCPOPT_SACK_PERM 4
#define WEIR_TCPOPT_TS 8
#define WEIR_TCP_MAX_WSCALE 14
#define WEIR_TCP_ECE 0x40
#define WEIR_TCP_CWR 0x80

/* Low bits of the timestamp of a cookie SYN-ACK (cookie_init_timestamp in
 * net/ipv4/syncookies.c; SYNPROXY's synproxy_check_timestamp_cookie). */
#define WEIR_TS_WSCALE_NONE 0xf
#define WEIR_TS_SACK (1u << 4)
#define WEIR_TS_ECN (1u << 5)
#define WEIR_TS_BITS 6

/* Helpers newer than the bpf_helper_defs.h of Debian 12's libbpf (1.1). */
static __s64 (*weir_gen_syncookie4)(struct iphdr *iph, struct tcphdr *th, __u32 th_len) =
	(void *)BPF_FUNC_tcp_raw_gen_syncookie_ipv4;
static __s64 (*weir_gen_syncookie6)(struct ipv6hdr *iph, struct tcphdr *th, __u32 th_len) =
	(void *)BPF_FUNC_tcp_raw_gen_syncookie_ipv6;
static long (*weir_check_syncookie4)(struct iphdr *iph, struct tcphdr *th) =
	(void *)BPF_FUNC_tcp_raw_check_syncookie_ipv4;
static long (*weir_check_syncookie6)(struct ipv6hdr *iph, struct tcphdr *th) =
	(void *)BPF_FUNC_tcp_raw_check_syncookie_ipv6;
static long (*weir_xdp_load_bytes)(struct xdp_md *ctx, __u32 off, void *buf, __u32 len) =
	(void *)BPF_FUNC_xdp_load_bytes;
static long (*weir_xdp_store_bytes)(struct xdp_md *ctx, __u32 off, void *buf, __u32 len) =
	(void *)BPF_FUNC_xdp_store_bytes;

/* The client's SYN, copied off the packet: the helpers take the header and
 * its options from the stack, where their length needs no packet bound. */
struct weir_syn_in {
	struct tcphdr th;
	__u8 opt[40];
};

/* What the option walk (a bpf_loop callback) reads from a SYN's options. */
struct weir_tcpopt {
	__u8 opt[40];
	__u32 off;
	__u32 end;	/* option bytes in the header */
	__be32 tsval;	/* the client's, as sent */
	__u8 wscale;	/* the client's, WEIR_TS_WSCALE_NONE when absent */
	__u8 sack;
	__u8 ts;
	__u8 _pad;
};

/* Our SYN-ACK's TCP header: MSS, then [SACK-permitted or two NOPs,
 * timestamp], then [NOP, window scale]; 4, 16 or 20 option bytes. */
struct weir_synack_tcp {
	struct tcphdr th;
	__u8 opt[20];
};

struct weir_synack4 {
	struct iphdr ip;
	struct weir_synack_tcp t;
};

struct weir_synack6 {
	struct ipv6hdr ip;
	struct weir_synack_tcp t;
};

/* One step of the walk of the SYN's options: returns 1 to stop. Malformed
 * options end the walk with what was read so far: the cookie is still
 * good, the client just gets fewer options. */
static long weir_tcpopt_step(__u64 i, void *arg)
{
	struct weir_tcpopt *o = arg;
	__u32 off = o->off;
	__u8 kind, len;

	if (off >= o->end || off >= sizeof(o->opt) - 1)
		return 1;
	kind = o->opt[off];
	if (kind == WEIR_TCPOPT_EOL)
		return 1;
	if (kind == WEIR_TCPOPT_NOP) {
		o->off = off + 1;
		return 0;
	}
	len = o->opt[off + 1];
	if (len < 2 || off + len > o->end)
		return 1;
	if (kind == WEIR_TCPOPT_WSCALE && len == 3) {
		__u8 ws = o->opt[off + 2];

		o->wscale = ws < WEIR_TCP_MAX_WSCALE ? ws : WEIR_TCP_MAX_WSCALE;
	} else if (kind == WEIR_TCPOPT_SACK_PERM && len == 2) {
		o->sack = 1;
	} else if (kind == WEIR_TCPOPT_TS && len == 10 && off <= sizeof(o->opt) - 10) {
		__builtin_memcpy(&o->tsval, &o->opt[off + 2], 4);
		o->ts = 1;
	}
	o->off = off + len;
	return 0;
}

/* Sum of n 16-bit words, as they are in memory. */
static __always_inline __u32 weir_csum_words(const void *p, int n)
{
	const __u16 *w = p;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u16 weir_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Fills t with the SYN-ACK's TCP header for the SYN `in` (thlen bytes)
 * from p, without checksum; returns its length (24, 36 or 40). */
static __always_inline __u32 weir_synack_tcp(struct weir_synack_tcp *t,
					     const struct weir_syn_in *in, __u32 thlen,
					     const struct weir_pkt *p, __u32 cookie,
					     __u16 mss, __u64 now)
{
	struct weir_tcpopt o = { .end = thlen - sizeof(struct tcphdr),
				 .wscale = WEIR_TS_WSCALE_NONE };
	__u8 flags = WEIR_TCP_SYN | WEIR_TCP_ACK;
	__u32 len = 4;

	__builtin_memcpy(o.opt, in->opt, sizeof(o.opt));
	bpf_loop(sizeof(o.opt), weir_tcpopt_step, &o, 0);

	t->th.source = p->dport;
	t->th.dest = p->sport;
	t->th.seq = bpf_htonl(cookie);
	t->th.ack_seq = bpf_htonl(bpf_ntohl(in->th.seq) + 1);
	t->opt[0] = WEIR_TCPOPT_MSS;
	t->opt[1] = 4;
	t->opt[2] = mss >> 8;
	t->opt[3] = mss & 0xff;
	if (o.ts) {
		/* The milliseconds of the clock above the low bits, as the
		 * kernel's own timestamps count. */
		__u32 ts = (__u32)(now / 1000000) & ~((1u << WEIR_TS_BITS) - 1);
		__be32 tsval;

		ts |= o.wscale;
		if (o.sack)
			ts |= WEIR_TS_SACK;
		if ((((__u8 *)&in->th)[13] & (WEIR_TCP_ECE | WEIR_TCP_CWR)) ==
		    (WEIR_TCP_ECE | WEIR_TCP_CWR)) {
			ts |= WEIR_TS_ECN;
			flags |= WEIR_TCP_ECE;
		}
		tsval = bpf_htonl(ts);
		t->opt[4] = o.sack ? WEIR_TCPOPT_SACK_PERM : WEIR_TCPOPT_NOP;
		t->opt[5] = o.sack ? 2 : WEIR_TCPOPT_NOP;
		t->opt[6] = WEIR_TCPOPT_TS;
		t->opt[7] = 10;
		__builtin_memcpy(&t->opt[8], &tsval, 4);
		__builtin_memcpy(&t->opt[12], &o.tsval, 4);
		len = 16;
		if (o.wscale != WEIR_TS_WSCALE_NONE) {
			t->opt[16] = WEIR_TCPOPT_NOP;
			t->opt[17] = WEIR_TCPOPT_WSCALE;
			t->opt[18] = 3;
			t->opt[19] = WEIR_SYNCOOKIE_WSCALE;
			len = 20;
		}
	}
	len += sizeof(struct tcphdr);
	t->th.doff = len / 4;
	((__u8 *)&t->th)[13] = flags;
	t->th.window = 0;
	return len;
}

/* The MSS to announce: the interface's MTU less the headers. */
static __always_inline __u16 weir_synack_mss(struct xdp_md *ctx, __u32 iplen)
{
	__u32 mtu = 0;

	if (bpf_check_mtu(ctx, 0, &mtu, 0, 0) < 0 ||
	    mtu < iplen + sizeof(struct tcphdr) + WEIR_SYNCOOKIE_MSS_MIN)
		return WEIR_SYNCOOKIE_MSS_MIN;
	mtu -= iplen + sizeof(struct tcphdr);
	return mtu > 0xffff ? 0xffff : (__u16)mtu;
}

/* Makes the frame `len` bytes long (L2 header + reply) and writes the
 * reply r (rlen bytes) at l3, the L2 header and its tags kept. Returns 0,
 * or -1 with the frame unchanged, but maybe longer: the IP header still
 * says where the packet ends. */
static __always_inline int weir_synack_write(struct xdp_md *ctx, __u32 l3, void *r,
					     __u32 rlen, __u32 rmax)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	int have = end - data, want = l3 + rlen;

	if (want > have && bpf_xdp_adjust_tail(ctx, want - have))
		return -1;
	if (rlen > rmax || weir_xdp_store_bytes(ctx, l3, r, rlen))
		return -1;
	/* Failing to shrink leaves bytes past the IP packet: padding. */
	if (want < have)
		bpf_xdp_adjust_tail(ctx, want - have);
	return 0;
}

/* Swaps the Ethernet addresses: the reply goes back where the SYN came from. */
static __always_inline int weir_swap_macs(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	__u8 tmp[ETH_ALEN];

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return 0;
}

/* Turns the SYN into a SYN-ACK carrying a cookie. Returns 0, or -1 when it
 * could not (the SYN then goes on to the kernel: it is whole, as long as
 * the IP header says). IP options and IPv6 extension headers of the SYN are
 * not carried over: the reply starts its TCP header right after a bare IP
 * header. */
static __always_inline int weir_synack(struct xdp_md *ctx, const struct weir_pkt *p,
				       __u64 now)
{
	struct weir_syn_in in = {};
	__u32 l3 = p->l3_off, thlen;
	__s64 cookie;

	if (l3 > WEIR_L2_MAX)
		return -1;
	if (weir_xdp_load_bytes(ctx, p->l4_off, &in.th, sizeof(in.th)))
		return -1;
	thlen = in.th.doff * 4;
	if (thlen < sizeof(in.th) || thlen > sizeof(in))
		return -1;
	if (weir_xdp_load_bytes(ctx, p->l4_off, &in, thlen))
		return -1;

	if (p->family == 4) {
		struct weir_synack4 r = {};
		__u32 tlen, sum;

		__builtin_memcpy(&r.ip.saddr, p->saddr, 4);
		__builtin_memcpy(&r.ip.daddr, p->daddr, 4);
		cookie = weir_gen_syncookie4(&r.ip, &in.th, thlen);
		if (cookie < 0)
			return -1;
		tlen = weir_synack_tcp(&r.t, &in, thlen, p, (__u32)cookie,
				       weir_synack_mss(ctx, sizeof(r.ip)), now);
		__builtin_memcpy(&r.ip.saddr, p->daddr, 4);
		__builtin_memcpy(&r.ip.daddr, p->saddr, 4);
		r.ip.version = 4;
		r.ip.ihl = 5;
		r.ip.tot_len = bpf_htons(sizeof(r.ip) + tlen);
		r.ip.frag_off = bpf_htons(0x4000); /* DF, as Linux sends it */
		r.ip.ttl = WEIR_SYNCOOKIE_TTL;
		r.ip.protocol = IPPROTO_TCP;
		r.ip.check = weir_csum_fold(weir_csum_words(&r.ip, sizeof(r.ip) / 2));
		/* The unused option bytes are zero: summing all of t is summing
		 * the tlen bytes sent. */
		sum = weir_csum_words(&r.ip.saddr, 4) + bpf_htons(IPPROTO_TCP) +
		      bpf_htons(tlen) + weir_csum_words(&r.t, sizeof(r.t) / 2);
		r.t.th.check = weir_csum_fold(sum);
		if (weir_synack_write(ctx, l3, &r, sizeof(r.ip) + tlen, sizeof(r)))
			return -1;
	} else {
		struct weir_synack6 r = {};
		__u32 tlen, sum;

		__builtin_memcpy(&r.ip.saddr, p->saddr, 16);
		__builtin_memcpy(&r.ip.daddr, p->daddr, 16);
		cookie = weir_gen_syncookie6(&r.ip, &in.th, thlen);
		if (cookie < 0)
			return -1;
		tlen = weir_synack_tcp(&r.t, &in, thlen, p, (__u32)cookie,
				       weir_synack_mss(ctx, sizeof(r.ip)), now);
		__builtin_memcpy(&r.ip.saddr, p->daddr, 16);
		__builtin_memcpy(&r.ip.daddr, p->saddr, 16);
		*(__be32 *)&r.ip = bpf_htonl(0x60000000); /* version, no class or label */
		r.ip.payload_len = bpf_htons(tlen);
		r.ip.nexthdr = IPPROTO_TCP;
		r.ip.hop_limit = WEIR_SYNCOOKIE_TTL;
		sum = weir_csum_words(&r.ip.saddr, 16) + bpf_htons(IPPROTO_TCP) +
		      bpf_htons(tlen) + weir_csum_words(&r.t, sizeof(r.t) / 2);
		r.t.th.check = weir_csum_fold(sum);
		if (weir_synack_write(ctx, l3, &r, sizeof(r.ip) + tlen, sizeof(r)))
			return -1;
	}
	return weir_swap_macs(ctx);
}

/* Is the pure ACK p part of a connection the kernel knows, or does it carry
 * a valid cookie? */
static __always_inline int weir_ack_known(struct xdp_md *ctx, const struct weir_pkt *p,
					  const struct tcphdr *th)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 tlen;

	if (p->family == 4) {
		__builtin_memcpy(&t.ipv4.saddr, p->saddr, 4);
		__builtin_memcpy(&t.ipv4.daddr, p->daddr, 4);
		t.ipv4.sport = p->sport;
		t.ipv4.dport = p->dport;
		tlen = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, p->daddr, 16);
		t.ipv6.sport = p->sport;
		t.ipv6.dport = p->dport;
		tlen = sizeof(t.ipv6);
	}
	sk = bpf_skc_lookup_tcp(ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		__u32 state = sk->state;

		bpf_sk_release(sk);
		/* A listener is what every ACK finds when nothing else does. */
		if (state != BPF_TCP_LISTEN)
			return 1;
	}
	if (p->family == 4) {
		struct iphdr ip = {};

		__builtin_memcpy(&ip.saddr, p->saddr, 4);
		__builtin_memcpy(&ip.daddr, p->daddr, 4);
		return weir_check_syncookie4(&ip, (struct tcphdr *)th) == 0;
	} else {
		struct ipv6hdr ip6 = {};

		__builtin_memcpy(&ip6.saddr, p->saddr, 16);
		__builtin_memcpy(&ip6.daddr, p->daddr, 16);
		return weir_check_syncookie6(&ip6, (struct tcphdr *)th) == 0;
	}
}

static __always_inline int weir_syncookie(struct xdp_md *ctx, const struct weir_pkt *p,
					  const struct weir_svc *svc, __u64 now,
					  __u32 *reason)
{
	__u8 f = p->tcp_flags & (WEIR_TCP_SYN | WEIR_TCP_ACK | WEIR_TCP_RST | WEIR_TCP_FIN);
	struct weir_svc_state *st;
	__u32 id = svc->id;
	struct tcphdr th;
	__u64 until;

	if (p->l4proto != IPPROTO_TCP)
		return WEIR_SYNCOOKIE_PASS;
	st = bpf_map_lookup_elem(&weir_svc_state, &id);
	if (!st)
		return WEIR_SYNCOOKIE_PASS;

	if (f == WEIR_TCP_SYN) {
		if (svc->syn.rate && weir_gcra_admit(&st->syn_tat, now, &svc->syn))
			return WEIR_SYNCOOKIE_PASS;
		if (weir_synack(ctx, p, now))
			return WEIR_SYNCOOKIE_PASS; /* fail open: the kernel copes */
		/* One write per 1/16 of the hold, not one per SYN: every CPU
		 * shares the word. */
		until = now + WEIR_SYNCOOKIE_HOLD_NS;
		if (st->cookies_until_ns < until - WEIR_SYNCOOKIE_HOLD_NS / 16)
			st->cookies_until_ns = until;
		*reason = WEIR_R_SYNCOOKIE_SENT;
		return XDP_TX;
	}

	if (f != WEIR_TCP_ACK || now >= st->cookies_until_ns)
		return WEIR_SYNCOOKIE_PASS;
	if (weir_xdp_load_bytes(ctx, p->l4_off, &th, sizeof(th)))
		return WEIR_SYNCOOKIE_PASS;
	/* Data packets are not looked at: a handshake's ACK carries none (our
	 * SYN-ACK opened no window). */
	if (p->l3_len != p->l4_off - p->l3_off + th.doff * 4)
		return WEIR_SYNCOOKIE_PASS;
	if (weir_ack_known(ctx, p, &th))
		return WEIR_SYNCOOKIE_PASS;
	*reason = WEIR_R_SYNCOOKIE_BAD;
	return XDP_DROP;
}

#endif /* WEIR_BPF_SYNCOOKIE_H */
