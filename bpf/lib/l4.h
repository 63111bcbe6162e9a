/* l4.h - steering by service: the service table, the backend of an l4 flow
 * (flow tracking over a Maglev ring), and sending a packet on to it.
 *
 * The way Katran does it. A flow's first packet is hashed over its source
 * (address, port, protocol) into the service's Maglev table, and the backend
 * found there is remembered in the weir_flow LRU; later packets of the flow
 * go to the remembered backend even after the ring changed, so adding,
 * removing or draining a backend never moves an established flow. Above
 * flow_track_rate new flows per second on a CPU, new flows are no longer
 * remembered, so a flood of connection attempts costs ring lookups and
 * cannot push the established flows out of the LRU.
 *
 * A packet goes on either encapsulated (IPv4 in IPv4, IPv6 in IPv6, from
 * the backend's `src` to its address; the backend decapsulates and answers
 * the client directly) or, for WEIR_SVC_F_DSR services, with only its MAC
 * addresses rewritten (the backend shares the link and holds the service
 * address on its loopback). Either way it leaves by XDP_TX when the backend
 * is reached through the interface it came in on, else by XDP_REDIRECT.
 */
#ifndef WEIR_BPF_L4_H
#define WEIR_BPF_L4_H

#include "parse.h"
#include "maps.h"
#include "clock.h"
#include "../../maps/weir_table.h"

#define WEIR_L4_NO_VERDICT (-1)

_Static_assert(__builtin_offsetof(struct weir_svc_slot, key) == 8 &&
	       __builtin_offsetof(struct weir_svc_slot, svc) == 32,
	       "weir_svc_find reads a slot's seq and state as one word, its key as words");

/* Copies the service the packet is addressed to into *out; 0 when there is
 * none. A slot that changes while it is read (its seq moves) counts as a
 * miss: that one packet goes on as if to no service.
 *
 * Per probe: one 8-byte load gives seq and state together (the seqlock's
 * first read), the key is compared as two 8-byte words and one 4-byte word,
 * and only a match copies the service and reads seq again. The compiler
 * barriers keep the key and service reads between the two reads of seq;
 * the JIT keeps the order of loads as written, and x86 does not reorder
 * loads with loads. */
static __always_inline int weir_svc_find(const struct weir_pkt *p, struct weir_svc *out)
{
	union weir_svc_kw kw = { .w = { 0, 0, 0 } };
	__u32 h;

	/* A fragment has port 0 here (parse.h): no service has it. */
	if (!p->has_l4 || (p->l4proto != IPPROTO_TCP && p->l4proto != IPPROTO_UDP))
		return 0;
	kw.k.family = p->family;
	kw.k.proto = p->l4proto;
	kw.k.port = p->dport;
	__builtin_memcpy(kw.k.addr, p->daddr, 16);
	h = weir_svc_hash_kw(&kw);
	for (__u32 n = 0; n < WEIR_SVC_PROBES; n++) {
		__u32 i = weir_probe(h, n, WEIR_SVC_SLOTS - 1);
		struct weir_svc_slot *s = bpf_map_lookup_elem(&weir_svc_tab, &i);
		const __u64 *sk;
		__u64 hdr;
		__u32 seq;

		if (!s)
			return 0;
		hdr = *(volatile __u64 *)s;
		asm volatile("" ::: "memory");
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		seq = (__u32)hdr;
		hdr >>= 32;
#else
		seq = (__u32)(hdr >> 32);
		hdr &= 0xffffffffu;
#endif
		if (hdr == WEIR_SVC_EMPTY)
			return 0;
		/* the key at offset 8 of a 48-byte element: 8-byte aligned */
		sk = (const __u64 *)&s->key;
		if (hdr != WEIR_SVC_LIVE || sk[0] != kw.w[0] || sk[1] != kw.w[1] ||
		    *(const __u32 *)&sk[2] != ((const __u32 *)kw.w)[4])
			continue;
		__builtin_memcpy(out, &s->svc, sizeof(*out));
		/* the copy before the second read of seq */
		asm volatile("" ::: "memory");
		return !(seq & 1) && seq == *(volatile __u32 *)&s->seq;
	}
	return 0;
}

/* The flow's position on a ring: its source address, port and protocol.
 * The destination is the service's, the same for every flow of the ring. */
static __always_inline __u32 weir_flow_hash(const struct weir_pkt *p)
{
	__u32 w[4];

	__builtin_memcpy(w, p->saddr, 16);
	return weir_mix32(weir_mix32(weir_mix32(weir_mix32(
		w[0] ^ ((__u32)p->sport << 16 | p->l4proto)) ^ w[1]) ^ w[2]) ^ w[3]);
}

/* May this CPU remember one more new flow in the current second? */
static __always_inline int weir_flow_budget(__u32 track_rate)
{
	struct weir_flow_rate *r;
	__u32 k = 0;
	__u64 now;

	if (!track_rate)
		return 1;
	now = weir_now(); /* only here: a clock read costs 5-10% of a packet */
	r = bpf_map_lookup_elem(&weir_flow_rate, &k);
	if (!r)
		return 0;
	if (now - r->window_ns >= 1000000000ull) {
		r->window_ns = now;
		r->count = 0;
	}
	return r->count++ < track_rate;
}

static __always_inline struct weir_backend *
weir_backend_live(__u32 idx, __u16 svc_id)
{
	struct weir_backend *be = bpf_map_lookup_elem(&weir_backend, &idx);

	if (!be || be->state != WEIR_BE_LIVE || be->svc != svc_id)
		return NULL;
	return be;
}

/* The flow's remembered backend while it lives and still belongs to svc. */
static __always_inline struct weir_backend *
weir_flow_backend(const struct weir_flow *f, const struct weir_svc *svc)
{
	struct weir_backend *be = weir_backend_live(f->backend, svc->id);

	return be && be->gen == f->gen ? be : NULL;
}

static __always_inline int weir_flow_key_eq(const struct weir_flow_key *a,
					    const struct weir_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) |
		 (x[4] ^ y[4]));
}

static __always_inline void weir_flow_cache_put(struct weir_flow_cached *c,
						const struct weir_flow_key *fk,
						__u32 backend, __u32 gen)
{
	if (!c)
		return;
	__builtin_memcpy(&c->key, fk, sizeof(*fk));
	c->flow.backend = backend;
	c->flow.gen = gen;
}

/* The backend of the packet's flow: the remembered one while it lives,
 * else the ring's choice (remembered, within the budget). NULL when the
 * service has no backend. The CPU's flow cache answers first; the LRU is
 * asked on a miss, and what it answers (or what is inserted) is copied
 * into the cache. */
static __always_inline struct weir_backend *
weir_l4_pick(const struct weir_pkt *p, const struct weir_svc *svc,
	     __u32 track_rate)
{
	struct weir_flow_key fk = {
		.family = p->family,
		.proto = p->l4proto,
		.sport = p->sport,
		.dport = p->dport,
	};
	struct weir_flow_cached *c;
	struct weir_backend *be;
	struct weir_flow *f, nf;
	__u32 slot, h = weir_flow_hash(p);
	__u64 *idx;

	__builtin_memcpy(fk.saddr, p->saddr, 16);
	__builtin_memcpy(fk.daddr, p->daddr, 16);
	/* h spreads the sources; the destination is mixed in by one multiply,
	 * its top bits the slot (Fibonacci hashing). */
	slot = ((h ^ fk.dport ^ ((const __u32 *)fk.daddr)[0] ^ ((const __u32 *)fk.daddr)[3]) *
		0x9e3779b1u) >> (32 - __builtin_ctz(WEIR_FLOW_CACHE_SLOTS));
	c = bpf_map_lookup_elem(&weir_flow_cache, &slot);
	if (c && weir_flow_key_eq(&c->key, &fk) && (be = weir_flow_backend(&c->flow, svc)))
		return be;
	f = bpf_map_lookup_elem(&weir_flow, &fk);
	if (f && (be = weir_flow_backend(f, svc))) {
		weir_flow_cache_put(c, &fk, f->backend, f->gen);
		return be;
	}
	if (svc->ring >= WEIR_RING_MAX)
		return NULL;
	slot = (__u32)svc->ring * WEIR_RING_SIZE + h % WEIR_RING_SIZE;
	idx = bpf_map_lookup_elem(&weir_ring, &slot);
	if (!idx || *idx == WEIR_RING_EMPTY)
		return NULL;
	be = weir_backend_live((__u32)*idx, svc->id);
	if (!be)
		return NULL;
	/* A RST ends a flow: nothing to remember it for. Past the budget
	 * nothing is remembered either, in the cache no more than in the LRU:
	 * a flood must not push the established flows out of it. */
	if (!(p->tcp_flags & WEIR_TCP_RST) && weir_flow_budget(track_rate)) {
		nf.backend = (__u32)*idx;
		nf.gen = be->gen;
		if (!bpf_map_update_elem(&weir_flow, &fk, &nf, BPF_ANY))
			weir_flow_cache_put(c, &fk, nf.backend, nf.gen);
	}
	return be;
}

/* The one's-complement checksum of a 20-byte IPv4 header. */
static __always_inline __u16 weir_ip_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Makes room for an outer header of `grow` bytes: the frame starts `grow`
 * bytes earlier and the L2 header (l2 is 14, 18 or 22 bytes) moves there,
 * its MACs set anew and its EtherType and VLAN tags copied. Returns where
 * the outer header goes, with the inner IP header (at least `grow` bytes
 * too, as the families match) checked to follow it; NULL on failure. */
static __always_inline void *weir_encap_room(struct xdp_md *ctx,
					     const struct weir_backend *be,
					     __u32 l2, __u32 grow)
{
	void *data, *end;
	__u16 *dst, *src;

	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return NULL;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + l2 + 2 * grow > end)
		return NULL;
	dst = data + 12;
	src = data + grow + 12;
	/* Ascending: each word is read before anything overwrites it. */
#pragma unroll
	for (__u32 i = 0; i < (l2 - 12) / 2; i++)
		dst[i] = src[i];
	__builtin_memcpy(data, be->dmac, 6);
	__builtin_memcpy(data + 6, be->smac, 6);
	return data + l2;
}

static __always_inline int weir_encap4(struct xdp_md *ctx, const struct weir_pkt *p,
				       const struct weir_backend *be, __u32 l2)
{
	struct iphdr *outer = weir_encap_room(ctx, be, l2, sizeof(*outer)), *inner;

	if (!outer)
		return -1;
	inner = outer + 1;
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = inner->tos;
	outer->tot_len = bpf_htons(p->l3_len + sizeof(struct iphdr));
	/* DF as the inner packet has it: id 0 is only for unfragmentable
	 * packets (RFC 6864), and without DF nothing needs one here. */
	outer->id = 0;
	outer->frag_off = inner->frag_off & bpf_htons(0x4000);
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	__builtin_memcpy(&outer->saddr, be->src, 4);
	__builtin_memcpy(&outer->daddr, be->addr, 4);
	outer->check = weir_ip_csum(outer);
	return 0;
}

static __always_inline int weir_encap6(struct xdp_md *ctx, const struct weir_pkt *p,
				       const struct weir_backend *be, __u32 l2)
{
	struct ipv6hdr *outer = weir_encap_room(ctx, be, l2, sizeof(*outer)), *inner;

	if (!outer)
		return -1;
	inner = outer + 1;
	/* version, traffic class and flow label as the inner packet has them */
	__builtin_memcpy(outer, inner, 4);
	outer->payload_len = bpf_htons(p->l3_len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = 64;
	__builtin_memcpy(&outer->saddr, be->src, 16);
	__builtin_memcpy(&outer->daddr, be->addr, 16);
	return 0;
}

/* Encapsulates or rewrites the frame for be; the L2 header's length is
 * made a constant at each call so that the verifier sees fixed offsets. */
static __always_inline int weir_l4_rewrite(struct xdp_md *ctx, const struct weir_pkt *p,
					   const struct weir_svc *svc,
					   const struct weir_backend *be)
{
	if (svc->flags & WEIR_SVC_F_DSR) {
		void *data = (void *)(long)ctx->data;

		if (data + 12 > (void *)(long)ctx->data_end)
			return -1;
		__builtin_memcpy(data, be->dmac, 6);
		__builtin_memcpy(data + 6, be->smac, 6);
		return 0;
	}
	if (p->family == 4) {
		switch (p->l3_off) {
		case 14: return weir_encap4(ctx, p, be, 14);
		case 18: return weir_encap4(ctx, p, be, 18);
		case 22: return weir_encap4(ctx, p, be, 22);
		}
		return -1;
	}
	switch (p->l3_off) {
	case 14: return weir_encap6(ctx, p, be, 14);
	case 18: return weir_encap6(ctx, p, be, 18);
	case 22: return weir_encap6(ctx, p, be, 22);
	}
	return -1;
}

/* Sends a packet of an l4 service on to its backend. Returns the XDP
 * action and sets *reason. */
static __always_inline int weir_l4_forward(struct xdp_md *ctx, const struct weir_pkt *p,
					   const struct weir_svc *svc,
					   __u32 track_rate,
					   __u32 *reason)
{
	struct weir_backend *be = weir_l4_pick(p, svc, track_rate);

	if (!be) {
		*reason = WEIR_R_L4_NO_BACKEND;
		return XDP_DROP;
	}
	if (be->family != p->family || weir_l4_rewrite(ctx, p, svc, be)) {
		*reason = WEIR_R_L4_ERROR;
		return XDP_DROP;
	}
	*reason = WEIR_R_L4_FWD;
	if (be->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	if (bpf_redirect(be->ifindex, 0) != XDP_REDIRECT) {
		*reason = WEIR_R_L4_ERROR;
		return XDP_DROP;
	}
	return XDP_REDIRECT;
}

#endif /* WEIR_BPF_L4_H */
