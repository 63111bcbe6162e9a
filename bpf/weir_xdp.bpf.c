// SPDX-License-Identifier: GPL-2.0
/* weir_xdp.bpf.c - the XDP pipeline of weir's kernel layer.
 *
 *   parse (eth, VLAN, IPv4/IPv6, TCP/UDP/ICMP)  malformed -> counted drop
 *   allowlist (LPM)                             -> pass, skipping the rest
 *   blocklist (LPM, expiry)                     -> drop
 *   per-source rate limits (GCRA)               -> drop
 *   service table (destination, port, protocol):
 *     l7    SYN cookies above a SYN rate, else  -> pass to the local proxy
 *     l4    Maglev + flow tracking              -> encapsulate, TX / redirect
 *     drop                                      -> drop
 *   pass
 *
 * An allowlisted source skips the blocklist and the limits, not the service
 * table: its packets to an l4 service are still forwarded.
 *
 * Every path ends in weir_verdict(), which counts the packet and its bytes
 * under exactly one reason in the per-CPU stats map. Features whose bit in
 * weir_config.features is clear are skipped without touching their maps.
 */
#include "lib/parse.h"
#include "lib/clock.h"
#include "lib/maps.h"
#include "lib/ratelimit.h"
#include "lib/table.h"
#include "lib/l4.h"
#include "lib/syncookie.h"
#include <xdp/xdp_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* Run early in libxdp's dispatcher; let the next program see what we pass. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(weir_xdp);

static __always_inline int weir_verdict(struct xdp_md *ctx, __u32 reason,
					int action)
{
	struct weir_stat *s = bpf_map_lookup_elem(&weir_stats, &reason);

	if (s) {
		s->packets++;
		s->bytes += ctx->data_end - ctx->data;
	}
	return action;
}

/* Returns 1 when entry e is live (counting its hit), 0 when it has expired.
 * The hit count is a plain increment, not an atomic add: exact from one CPU,
 * while two CPUs hitting the same entry in the same instant can lose one.
 * A locked add cost 2.5 ns per dropped packet here (4% of the drop rate);
 * the count is for people reading `weirctl block list`, not for decisions. */
static __always_inline int weir_entry_live(struct weir_entry *e)
{
	if (e->expires_ns && e->expires_ns <= weir_now())
		return 0;
	e->hits++;
	return 1;
}

#ifndef WEIR_EXPIRED_NEST_MAX
#define WEIR_EXPIRED_NEST_MAX 8
#endif

/* Looks a source up in the LPM trie of a list. An expired entry no longer
 * matches: the lookup goes on with a key one bit shorter than the expired
 * prefix (a trie lookup answers the longest prefix no longer than the key),
 * so a live prefix that also covers the source still applies, through up to
 * WEIR_EXPIRED_NEST_MAX nested expired ones. The program never deletes from
 * a trie: a delete by key could remove a prefix re-added an instant ago;
 * weirctl reaps expired prefixes. */
static __always_inline int weir_net_match(void *map, void *key, __u32 *plen)
{
	struct weir_entry *e;

	for (int i = 0; i <= WEIR_EXPIRED_NEST_MAX; i++) {
		e = bpf_map_lookup_elem(map, key);
		if (!e)
			return 0;
		if (weir_entry_live(e))
			return 1;
		if (!e->prefixlen || e->prefixlen > *plen)
			return 0;
		*plen = e->prefixlen - 1;
	}
	return 0;
}

/* Is the summary bit of the address's first 24 bits set? */
static __always_inline int weir_summary_hit(void *map, const __u8 *addr)
{
	__u32 top = (__u32)addr[0] << 16 | (__u32)addr[1] << 8 | addr[2];
	__u32 idx = top >> 6;
	__u64 *w = bpf_map_lookup_elem(map, &idx);

	return w && ((*w >> (top & 63)) & 1);
}

/* Entry at index i of a single-address table, if live; an expired one is
 * retired by swapping the state word read with it (`word`) for DEAD, which
 * fails if userspace rewrote the slot since (weir_table.h). */
static __always_inline int weir_tab_hit(void *slots, void *ents, int i, __u32 word)
{
	__u32 idx = (__u32)i;
	struct weir_entry *e = bpf_map_lookup_elem(ents, &idx);
	__u32 *state;

	if (!e)
		return 0;
	/* A rewrite of this address's entry (a re-add, a new TTL) moves the
	 * word but keeps the address: the entry read is still the one to judge
	 * by. Only a delete and reuse for another address in the same instant
	 * could lend this packet another entry's verdict; one packet, once. */
	if (weir_entry_live(e))
		return 1;
	state = bpf_map_lookup_elem(slots, &idx); /* the slot's first word */
	if (state)
		__sync_val_compare_and_swap(state, word,
					    (word & ~WEIR_SLOT_STATE) | WEIR_SLOT_DEAD);
	return 0;
}

/* Looks a source up in one list of one family: its single-address table
 * first, then its trie of shorter prefixes when the trie's summary says a
 * prefix may cover the source; each only while its feature bit says it has
 * entries. Returns 1 on a live match. The maps and the mask are constants at
 * each call site. */
static __always_inline int weir_match4(const __u8 *addr, const struct weir_xdp_config *cfg,
				       __u32 host_bit, __u32 net_bit, void *slots,
				       void *ents, __u32 mask, void *trie, void *sum)
{
	struct weir_lpm4 k = { .prefixlen = 32 };
	__u32 word = 0;
	int i;

	if (cfg->features & host_bit) {
		i = weir_tab_find4(slots, mask, addr, cfg->seed, &word);
		if (i >= 0 && weir_tab_hit(slots, ents, i, word))
			return 1;
	}
	if (!(cfg->features & net_bit) || !weir_summary_hit(sum, addr))
		return 0;
	__builtin_memcpy(k.addr, addr, 4);
	return weir_net_match(trie, &k, &k.prefixlen);
}

static __always_inline int weir_match6(const __u8 *addr, const struct weir_xdp_config *cfg,
				       __u32 host_bit, __u32 net_bit, void *slots,
				       void *ents, __u32 mask, void *trie, void *sum)
{
	struct weir_lpm6 k = { .prefixlen = 128 };
	__u32 word = 0;
	int i;

	if (cfg->features & host_bit) {
		i = weir_tab_find6(slots, mask, addr, cfg->seed, &word);
		if (i >= 0 && weir_tab_hit(slots, ents, i, word))
			return 1;
	}
	if (!(cfg->features & net_bit) || !weir_summary_hit(sum, addr))
		return 0;
	__builtin_memcpy(k.addr, addr, 16);
	return weir_net_match(trie, &k, &k.prefixlen);
}

static __always_inline int weir_allowed(const struct weir_pkt *p,
					const struct weir_xdp_config *cfg)
{
	if (p->family == 4)
		return weir_match4(p->saddr, cfg, WEIR_F_ALLOW_HOST, WEIR_F_ALLOW_NET,
				   &weir_allow4h, &weir_allow4e, WEIR_ALLOW_SLOTS - 1,
				   &weir_allow4, &weir_allow4s);
	return weir_match6(p->saddr, cfg, WEIR_F_ALLOW_HOST, WEIR_F_ALLOW_NET,
			   &weir_allow6h, &weir_allow6e, WEIR_ALLOW_SLOTS - 1,
			   &weir_allow6, &weir_allow6s);
}

static __always_inline int weir_blocked(const struct weir_pkt *p,
					const struct weir_xdp_config *cfg)
{
	if (p->family == 4)
		return weir_match4(p->saddr, cfg, WEIR_F_BLOCK_HOST, WEIR_F_BLOCK_NET,
				   &weir_block4h, &weir_block4e, WEIR_BLOCK_SLOTS - 1,
				   &weir_block4, &weir_block4s);
	return weir_match6(p->saddr, cfg, WEIR_F_BLOCK_HOST, WEIR_F_BLOCK_NET,
			   &weir_block6h, &weir_block6e, WEIR_BLOCK_SLOTS - 1,
			   &weir_block6, &weir_block6s);
}

static __always_inline struct weir_limit *
weir_limit_for(const struct weir_pkt *p, struct weir_xdp_config *cfg)
{
	struct weir_limit *l;

	if (!(cfg->features & WEIR_F_LIMIT_CIDR))
		return &cfg->limit;
	if (p->family == 4) {
		struct weir_lpm4 k = { .prefixlen = 32 };

		__builtin_memcpy(k.addr, p->saddr, 4);
		l = bpf_map_lookup_elem(&weir_limit4, &k);
	} else {
		struct weir_lpm6 k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, p->saddr, 16);
		l = bpf_map_lookup_elem(&weir_limit6, &k);
	}
	return l ? l : &cfg->limit;
}

/* Returns WEIR_R_PASS when the packet is within its source's limits, or the
 * reason it is over them. */
static __always_inline __u32 weir_rate_check(const struct weir_pkt *p,
					     struct weir_xdp_config *cfg)
{
	struct weir_limit *l = weir_limit_for(p, cfg);
	struct weir_src_key k = { .family = p->family };
	struct weir_src_state *st, zero = {};
	__u64 now;

	if (!l->conn.rate && !l->pkt.rate)
		return WEIR_R_PASS;
	if (!l->pkt.rate && !p->tcp_syn)
		return WEIR_R_PASS;

	__builtin_memcpy(k.addr, p->saddr, 16);
	st = bpf_map_lookup_elem(&weir_src, &k);
	if (!st) {
		bpf_map_update_elem(&weir_src, &k, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&weir_src, &k);
		if (!st)
			return WEIR_R_PASS; /* evicted at once: fail open */
	}
	now = weir_now();
	if (l->pkt.rate && !weir_gcra_admit(&st->pkt_tat, now, &l->pkt))
		return WEIR_R_PKT_LIMIT;
	if (p->tcp_syn && l->conn.rate &&
	    !weir_gcra_admit(&st->conn_tat, now, &l->conn))
		return WEIR_R_CONN_LIMIT;
	return WEIR_R_PASS;
}

#define WEIR_NO_SERVICE (-1)

/* The verdict for a packet to a service, or WEIR_NO_SERVICE. An allowlisted
 * source is not subject to the SYN-cookie defence. A global function: the
 * verifier checks it once, apart from the paths of the pipeline before it,
 * instead of once per path that reaches it. */
__attribute__((noinline)) int weir_steer(struct xdp_md *ctx, const struct weir_pkt *p,
					 __u32 track_rate, __u32 allowed)
{
	struct weir_svc sv, *svc = &sv;
	__u32 reason;
	int act;

	if (!p || !weir_svc_find(p, &sv))
		return WEIR_NO_SERVICE;
	switch (svc->mode) {
	case WEIR_SVC_L7:
		if ((svc->flags & WEIR_SVC_F_SYNCOOKIE) && !allowed) {
			act = weir_syncookie(ctx, p, svc, weir_now(), &reason);
			if (act != WEIR_SYNCOOKIE_PASS)
				return weir_verdict(ctx, reason, act);
		}
		return weir_verdict(ctx, WEIR_R_SVC_L7, XDP_PASS);
	case WEIR_SVC_L4:
		act = weir_l4_forward(ctx, p, svc, track_rate, &reason);
		return weir_verdict(ctx, reason, act);
	default:
		return weir_verdict(ctx, WEIR_R_SVC_DROP, XDP_DROP);
	}
}

SEC("xdp")
int weir_xdp(struct xdp_md *ctx)
{
	struct weir_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct weir_pkt p = {};
	struct weir_xdp_config *cfg;
	__u32 k = 0, reason, feats;
	int proto, ret;

	proto = weir_parse_eth(&c);
	if (proto < 0)
		return weir_verdict(ctx, WEIR_R_MALFORMED, XDP_DROP);
	if (proto == ETH_P_IP)
		ret = weir_parse_ipv4(&c, &p, (void *)(long)ctx->data);
	else if (proto == ETH_P_IPV6)
		ret = weir_parse_ipv6(&c, &p, (void *)(long)ctx->data);
	else
		return weir_verdict(ctx, WEIR_R_PASS_NONIP, XDP_PASS);
	if (ret < 0)
		return weir_verdict(ctx, WEIR_R_MALFORMED, XDP_DROP);

	cfg = bpf_map_lookup_elem(&weir_config, &k);
	if (!cfg)
		return weir_verdict(ctx, WEIR_R_PASS, XDP_PASS);

	feats = cfg->features;
	reason = WEIR_R_PASS;
	if ((feats & WEIR_F_ALLOW) && weir_allowed(&p, cfg)) {
		reason = WEIR_R_ALLOW;
	} else {
		if ((feats & WEIR_F_BLOCK) && weir_blocked(&p, cfg))
			return weir_verdict(ctx, WEIR_R_BLOCK, XDP_DROP);
		if (feats & WEIR_F_LIMIT) {
			reason = weir_rate_check(&p, cfg);
			if (reason != WEIR_R_PASS)
				return weir_verdict(ctx, reason, XDP_DROP);
		}
	}
	if (feats & WEIR_F_SVC) {
		ret = weir_steer(ctx, &p, cfg->flow_track_rate, reason == WEIR_R_ALLOW);
		if (ret != WEIR_NO_SERVICE)
			return ret;
	}
	return weir_verdict(ctx, reason, XDP_PASS);
}
