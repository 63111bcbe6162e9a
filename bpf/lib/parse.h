/* parse.h - cursor parsing of Ethernet, VLAN, IPv4, IPv6 and L4 headers.
 *
 * A struct weir_cursor moves forward through the packet; every parse_*
 * helper bounds-checks what it reads against data_end itself and returns a
 * negative WEIR_PARSE_* code on failure, so the caller cannot forget a check.
 * "Truncated" and "invalid" both mean the frame is dropped as malformed;
 * they are kept apart only to make the helpers' contracts explicit.
 */
#ifndef WEIR_BPF_PARSE_H
#define WEIR_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef WEIR_VLAN_MAX
#define WEIR_VLAN_MAX 2 /* 802.1Q and 802.1ad: outer and inner tag */
#endif
#ifndef WEIR_IPV6_EXT_MAX
#define WEIR_IPV6_EXT_MAX 6 /* extension headers walked before giving up */
#endif

#define WEIR_PARSE_TRUNCATED (-1)
#define WEIR_PARSE_INVALID (-2)

#define WEIR_ETH_P_8021Q 0x8100
#define WEIR_ETH_P_8021AD 0x88A8

struct weir_cursor {
	void *pos;
	void *end;
};

/* What the pipeline needs to know about a packet. Offsets are from the
 * start of the frame; ports are in network byte order and set only for TCP
 * and UDP with has_l4, and not for a fragment (0 there). */
struct weir_pkt {
	__u8 family; /* 0 (not IP), 4 or 6 */
	__u8 l4proto;
	__u8 has_l4; /* 0 for non-first fragments and unknown protocols */
	__u8 tcp_syn; /* SYN set, ACK clear: a new connection */
	__u8 tcp_flags; /* byte 13 of the TCP header (FIN 0x01 ... CWR 0x80) */
	__u8 frag; /* a fragment, first or not */
	__u16 l3_off; /* of the IP header */
	__u16 l4_off; /* of the L4 header */
	__u16 l3_len; /* the IP packet's length: header(s) and payload */
	__be16 sport;
	__be16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
} __attribute__((aligned(8))); /* the addresses at 16 and 32: read as words */

#define WEIR_TCP_FIN 0x01
#define WEIR_TCP_SYN 0x02
#define WEIR_TCP_RST 0x04
#define WEIR_TCP_ACK 0x10

struct weir_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* Returns the EtherType after up to WEIR_VLAN_MAX tags, in host order. */
static __always_inline int weir_parse_eth(struct weir_cursor *c)
{
	struct ethhdr *eth = c->pos;
	struct weir_vlan_hdr *vh;
	__u16 proto;

	if ((void *)(eth + 1) > c->end)
		return WEIR_PARSE_TRUNCATED;
	c->pos = eth + 1;
	proto = bpf_ntohs(eth->h_proto);

#pragma unroll
	for (int i = 0; i < WEIR_VLAN_MAX; i++) {
		if (proto != WEIR_ETH_P_8021Q && proto != WEIR_ETH_P_8021AD)
			break;
		vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return WEIR_PARSE_TRUNCATED;
		c->pos = vh + 1;
		proto = bpf_ntohs(vh->proto);
	}
	/* A third tag is not something weir will look beneath. */
	if (proto == WEIR_ETH_P_8021Q || proto == WEIR_ETH_P_8021AD)
		return WEIR_PARSE_INVALID;
	return proto;
}

/* Checks the minimum L4 header of p->l4proto at the cursor. len is what the
 * IP header says is left of the packet there: a header that runs past it
 * into Ethernet padding is truncated, even though the frame has the bytes. */
static __always_inline int weir_parse_l4(struct weir_cursor *c,
					 struct weir_pkt *p, __u32 len)
{
	/* A first fragment's ports are not the datagram's to steer by: the
	 * other fragments have none. 0 is no service's port. Branch-free, so
	 * that the verifier does not walk the rest of the program twice. */
	__u16 keep = (__u16)(p->frag - 1);

	switch (p->l4proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = c->pos;

		if ((void *)(th + 1) > c->end || sizeof(*th) > len)
			return WEIR_PARSE_TRUNCATED;
		if (th->doff < 5)
			return WEIR_PARSE_INVALID;
		if (c->pos + th->doff * 4 > c->end || th->doff * 4 > len)
			return WEIR_PARSE_TRUNCATED;
		p->tcp_syn = th->syn && !th->ack;
		p->tcp_flags = ((__u8 *)th)[13];
		p->sport = th->source & keep;
		p->dport = th->dest & keep;
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = c->pos;

		if ((void *)(uh + 1) > c->end || sizeof(*uh) > len)
			return WEIR_PARSE_TRUNCATED;
		p->sport = uh->source & keep;
		p->dport = uh->dest & keep;
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* type, code, checksum and the 4-byte rest of header */
		if (c->pos + 8 > c->end || 8 > len)
			return WEIR_PARSE_TRUNCATED;
		break;
	default:
		return 0;
	}
	p->has_l4 = 1;
	return 0;
}

/* Where the cursor is, as an offset from the frame's start. */
static __always_inline __u16 weir_cursor_off(const struct weir_cursor *c,
					     const void *start)
{
	return (__u16)(c->pos - start);
}

static __always_inline int weir_parse_ipv4(struct weir_cursor *c,
					   struct weir_pkt *p, const void *start)
{
	struct iphdr *iph = c->pos;
	__u32 hlen, tot;

	if ((void *)(iph + 1) > c->end)
		return WEIR_PARSE_TRUNCATED;
	if (iph->version != 4 || iph->ihl < 5)
		return WEIR_PARSE_INVALID;
	hlen = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if (tot < hlen)
		return WEIR_PARSE_INVALID;
	if (c->pos + tot > c->end) /* trailing padding is fine, a short packet not */
		return WEIR_PARSE_TRUNCATED;
	if (c->pos + hlen > c->end)
		return WEIR_PARSE_TRUNCATED;

	p->family = 4;
	p->l4proto = iph->protocol;
	p->l3_off = weir_cursor_off(c, start);
	p->l3_len = (__u16)tot;
	__builtin_memcpy(p->saddr, &iph->saddr, 4);
	__builtin_memcpy(p->daddr, &iph->daddr, 4);
	c->pos += hlen;
	p->l4_off = weir_cursor_off(c, start);
	p->frag = !!(iph->frag_off & bpf_htons(0x3fff)); /* MF or an offset */
	/* A non-first fragment carries no L4 header: judged by address only. */
	if (iph->frag_off & bpf_htons(0x1fff))
		return 0;
	return weir_parse_l4(c, p, tot - hlen);
}

struct weir_ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct weir_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

static __always_inline int weir_parse_ipv6(struct weir_cursor *c,
					   struct weir_pkt *p, const void *start)
{
	struct ipv6hdr *ip6 = c->pos;
	__u32 plen, used = 0; /* payload_len, extension header bytes walked */
	__u8 nh;

	if ((void *)(ip6 + 1) > c->end)
		return WEIR_PARSE_TRUNCATED;
	if (ip6->version != 6)
		return WEIR_PARSE_INVALID;
	plen = bpf_ntohs(ip6->payload_len);
	if ((void *)(ip6 + 1) + plen > c->end)
		return WEIR_PARSE_TRUNCATED;

	p->family = 6;
	p->l3_off = weir_cursor_off(c, start);
	p->l3_len = (__u16)(sizeof(*ip6) + plen);
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	c->pos = ip6 + 1;
	nh = ip6->nexthdr;

	/* WEIR_IPV6_EXT_MAX extension headers, then one more round for L4 */
	for (int i = 0; i <= WEIR_IPV6_EXT_MAX; i++) {
		if (used > plen)
			return WEIR_PARSE_TRUNCATED;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS: {
			struct weir_ipv6_opt *o = c->pos;

			if ((void *)(o + 1) > c->end)
				return WEIR_PARSE_TRUNCATED;
			nh = o->nexthdr;
			c->pos += (o->hdrlen + 1) * 8;
			used += (o->hdrlen + 1) * 8;
			break;
		}
		case IPPROTO_AH: {
			struct weir_ipv6_opt *o = c->pos;

			if ((void *)(o + 1) > c->end)
				return WEIR_PARSE_TRUNCATED;
			nh = o->nexthdr;
			c->pos += (o->hdrlen + 2) * 4;
			used += (o->hdrlen + 2) * 4;
			break;
		}
		case IPPROTO_FRAGMENT: {
			struct weir_ipv6_frag *f = c->pos;

			if ((void *)(f + 1) > c->end || used + sizeof(*f) > plen)
				return WEIR_PARSE_TRUNCATED;
			c->pos = f + 1;
			used += sizeof(*f);
			p->frag = 1;
			if (f->frag_off & bpf_htons(0xfff8)) {
				p->l4proto = f->nexthdr;
				return 0; /* non-first fragment */
			}
			nh = f->nexthdr;
			break;
		}
		default:
			p->l4proto = nh;
			if (c->pos > c->end)
				return WEIR_PARSE_TRUNCATED;
			p->l4_off = weir_cursor_off(c, start);
			return weir_parse_l4(c, p, plen - used);
		}
	}
	/* Deeper chains than any legitimate sender uses: refuse to guess. */
	return WEIR_PARSE_INVALID;
}

#endif /* WEIR_BPF_PARSE_H */
