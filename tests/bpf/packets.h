/* packets.h - hand-built test frames for tests/bpf/test_xdp.c.
 *
 * pkt_build() writes one Ethernet frame described by a struct pkt_opts with
 * the uapi header structs and records where each header starts and ends, so
 * that the truncation tests can cut the frame at every boundary. No checksum
 * is computed: the XDP program never looks at one. Below the builders are
 * the frame tables: the frames the truncation tests cut, and the fixtures
 * (frame, expected verdict and reason) of the parser and of the lists.
 */
#ifndef WEIR_TEST_PACKETS_H
#define WEIR_TEST_PACKETS_H

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/icmp.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "maps/weir_maps.h"

#define PKT_MAX 1024

/* TCP flag bits of byte 13 of the header. */
#define TF_FIN 0x01
#define TF_SYN 0x02
#define TF_RST 0x04
#define TF_PSH 0x08
#define TF_ACK 0x10

#define PK_ARP 0 /* family: an ARP request */
#define PK_V4 4
#define PK_V6 6

struct pkt_opts {
	int family;	 /* PK_ARP, PK_V4 or PK_V6 */
	const char *src; /* source address; NULL: 198.18.0.1 / 2001:db8:f::1 */
	uint8_t proto;	 /* L4 protocol; 0 means TCP */
	uint8_t tcp_flags;
	uint8_t doff;	 /* TCP data offset in words; 0 means 5, 16 means 0 */
	uint8_t ihl;	 /* IPv4 header words; 0 means 5, more adds NOP options */
	uint8_t version; /* IP version field; 0 means the family's */
	uint8_t vlans;	 /* tags: 1 802.1Q, 2 802.1ad+802.1Q, 3 one more 802.1Q */
	uint16_t frag;	 /* IPv4 frag_off (flags | offset), host order */
	uint8_t n_ext;	 /* IPv6 extension headers before L4, in order */
	uint8_t ext[10];
	uint16_t frag6;	 /* frag_off of an IPv6 fragment header, host order */
	int l4len;	 /* >0: only this many bytes of the L4 header are sent */
	size_t payload;	 /* L4 payload bytes after the header */
	size_t pad;	 /* Ethernet padding after the IP packet */
	int len_adj;	 /* added to IPv4 tot_len / IPv6 payload_len */
};

struct pkt {
	uint8_t b[PKT_MAX];
	size_t len;   /* frame length */
	size_t l3;    /* offset of the IPv4/IPv6 header (or ARP) */
	size_t l4;    /* offset of the L4 header, after IPv6 extensions */
	size_t l4end; /* end of the L4 header the parser must see */
	size_t ipend; /* end of the IP packet, where padding starts */
};

static void pkt_addr(int family, const char *s, void *out)
{
	if (inet_pton(family == PK_V4 ? AF_INET : AF_INET6, s, out) != 1) {
		fprintf(stderr, "test_xdp: bad test address '%s'\n", s);
		exit(2);
	}
}

static size_t ext_len(uint8_t type)
{
	switch (type) {
	case IPPROTO_HOPOPTS: return 8;
	case IPPROTO_DSTOPTS: return 16;
	case IPPROTO_ROUTING: return 24;
	case IPPROTO_AH: return 24;
	default: return 8; /* IPPROTO_FRAGMENT */
	}
}

/* Writes an extension header of `type` at q, pointing to `next`. */
static void ext_write(uint8_t *q, uint8_t type, uint8_t next, uint16_t frag6)
{
	size_t len = ext_len(type);

	memset(q, 0, len);
	q[0] = next;
	if (type == IPPROTO_AH)
		q[1] = (uint8_t)(len / 4 - 2);
	else if (type == IPPROTO_FRAGMENT) {
		uint16_t fo = htons(frag6);

		memcpy(q + 2, &fo, 2);
		memcpy(q + 4, "\x12\x34\x56\x78", 4);
	} else
		q[1] = (uint8_t)(len / 8 - 1);
}

/* Writes the L4 header at q; returns its length. */
static size_t l4_write(uint8_t *q, int family, const struct pkt_opts *o,
		       uint8_t proto)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr th = {};
		size_t doff = (o->doff ? o->doff : 5) & 0xf;

		th.source = htons(40000);
		th.dest = htons(443);
		th.seq = htonl(1000);
		th.ack_seq = htonl(o->tcp_flags & TF_ACK ? 2000 : 0);
		th.doff = (uint16_t)(doff & 0xf);
		th.window = htons(65535);
		memcpy(q, &th, sizeof(th));
		q[13] = o->tcp_flags;
		/* options: MSS 1460, then NOPs up to the data offset */
		if (doff > 5) {
			memset(q + 20, 1, (doff - 5) * 4);
			memcpy(q + 20, "\x02\x04\x05\xb4", 4);
		}
		return doff < 5 ? 20 : doff * 4;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr uh = { .source = htons(5353), .dest = htons(53) };

		uh.len = htons((uint16_t)(8 + o->payload));
		memcpy(q, &uh, sizeof(uh));
		return 8;
	}
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		struct icmphdr ih = { .type = family == PK_V4 ? ICMP_ECHO : 128 };

		ih.un.echo.id = htons(7);
		ih.un.echo.sequence = htons(1);
		memcpy(q, &ih, sizeof(ih));
		return 8;
	}
	return 0; /* another protocol: no header the parser checks */
}

static void pkt_build(struct pkt *p, const struct pkt_opts *o)
{
	static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	uint8_t proto = o->proto ? o->proto : IPPROTO_TCP;
	uint16_t et = o->family == PK_V4 ? ETH_P_IP
		      : o->family == PK_V6 ? ETH_P_IPV6 : ETH_P_ARP;
	static const uint16_t tags[3] = { 0x88A8, 0x8100, 0x8100 };
	struct ethhdr eth = {};
	size_t off, l4hdr;
	uint16_t be;

	memset(p, 0, sizeof(*p));
	memcpy(eth.h_dest, dst_mac, 6);
	memcpy(eth.h_source, src_mac, 6);
	off = sizeof(eth);
	/* one tag is a plain 802.1Q; two or more start with 802.1ad */
	for (int i = 0; i < o->vlans; i++) {
		uint16_t tpid = o->vlans == 1 ? 0x8100 : tags[i];
		uint16_t next = i + 1 < o->vlans ? tags[i + 1] : et;

		if (i == 0)
			eth.h_proto = htons(tpid);
		be = htons((uint16_t)(100 + i)); /* TCI: VLAN id */
		memcpy(p->b + off, &be, 2);
		be = htons(next);
		memcpy(p->b + off + 2, &be, 2);
		off += 4;
	}
	if (!o->vlans)
		eth.h_proto = htons(et);
	memcpy(p->b, &eth, sizeof(eth));
	p->l3 = off;

	if (o->family == PK_ARP) {
		static const uint8_t arp[28] = {
			0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 198, 18, 0, 1,
			0, 0, 0, 0, 0, 0, 198, 18, 0, 2,
		};
		memcpy(p->b + off, arp, sizeof(arp));
		p->l4 = p->l4end = p->ipend = off + sizeof(arp);
		p->len = p->ipend + o->pad;
		return;
	}

	if (o->family == PK_V4) {
		struct iphdr ip = {};
		size_t ihl = o->ihl ? o->ihl : 5, hlen = ihl < 5 ? 20 : ihl * 4;

		ip.version = o->version ? o->version : 4;
		ip.ihl = ihl & 0xf;
		ip.ttl = 64;
		ip.protocol = proto;
		ip.id = htons(1);
		ip.frag_off = htons(o->frag);
		pkt_addr(PK_V4, o->src ? o->src : "198.18.0.1", &ip.saddr);
		pkt_addr(PK_V4, "192.0.2.200", &ip.daddr);
		memcpy(p->b + off, &ip, sizeof(ip));
		memset(p->b + off + 20, 1, hlen - 20); /* NOP options */
		p->l4 = off + hlen;
	} else {
		struct ipv6hdr ip6 = {};
		uint8_t *q;

		ip6.version = o->version ? o->version : 6;
		ip6.nexthdr = o->n_ext ? o->ext[0] : proto;
		ip6.hop_limit = 64;
		pkt_addr(PK_V6, o->src ? o->src : "2001:db8:f::1", &ip6.saddr);
		pkt_addr(PK_V6, "2001:db8:ffff::200", &ip6.daddr);
		memcpy(p->b + off, &ip6, sizeof(ip6));
		q = p->b + off + sizeof(ip6);
		for (int i = 0; i < o->n_ext; i++) {
			ext_write(q, o->ext[i], i + 1 < o->n_ext ? o->ext[i + 1] : proto,
				  o->frag6);
			q += ext_len(o->ext[i]);
		}
		p->l4 = (size_t)(q - p->b);
	}
	l4hdr = l4_write(p->b + p->l4, o->family, o, proto);
	p->l4end = p->l4 + l4hdr;
	if (o->l4len > 0) {
		/* a short header: the IP lengths agree with what is sent */
		p->ipend = p->l4 + (size_t)o->l4len;
	} else {
		memset(p->b + p->l4end, 0xab, o->payload);
		p->ipend = p->l4end + o->payload;
	}
	memset(p->b + p->ipend, 0, o->pad);
	p->len = p->ipend + o->pad;

	if (o->family == PK_V4)
		be = htons((uint16_t)((int)(p->ipend - p->l3) + o->len_adj));
	else
		be = htons((uint16_t)((int)(p->ipend - p->l3 - 40) + o->len_adj));
	memcpy(p->b + p->l3 + (o->family == PK_V4 ? 2 : 4), &be, 2);
}

/* The frame cut to n bytes; with fix, the IP length field agrees with the
 * cut (where the field itself survives), else it still claims the full size. */
static void pkt_cut(const struct pkt *full, struct pkt *out, size_t n, bool fix,
		    int family)
{
	*out = *full;
	out->len = n;
	if (fix && family == PK_V4 && n >= full->l3 + 4) {
		uint16_t be = htons((uint16_t)(n - full->l3));

		memcpy(out->b + full->l3 + 2, &be, 2);
	} else if (fix && family == PK_V6 && n >= full->l3 + 40) {
		uint16_t be = htons((uint16_t)(n - full->l3 - 40));

		memcpy(out->b + full->l3 + 4, &be, 2);
	}
}

/* Shorthands for struct pkt_opts initializers. */
#define V4 .family = PK_V4
#define V6 .family = PK_V6
#define UDP .proto = IPPROTO_UDP
#define ICMP .proto = IPPROTO_ICMP
#define SYN .tcp_flags = TF_SYN
#define ACK .tcp_flags = TF_ACK
#define EXT(n, ...) .n_ext = n, .ext = { __VA_ARGS__ }
#define FRAG4 .frag = 185, .l4len = 4 /* offset 1480, 4 bytes: no L4 header */
#define FRAG6 EXT(1, IPPROTO_FRAGMENT), .frag6 = 185 << 3, .l4len = 4

/* Frames cut at every length by the truncation tests. */
static const struct {
	const char *desc;
	struct pkt_opts pkt;
} trunc_frames[] = {
	{ "IPv4 TCP SYN (MSS option)", { V4, SYN, .doff = 6 } },
	{ "IPv4 UDP", { V4, UDP, .payload = 12 } },
	{ "IPv4 ICMP echo", { V4, ICMP, .payload = 8 } },
	{ "IPv4 TCP with IP options (ihl 7)", { V4, ACK, .ihl = 7, .payload = 4 } },
	{ "IPv6 TCP SYN (MSS option)", { V6, SYN, .doff = 6 } },
	{ "IPv6 UDP", { V6, UDP, .payload = 12 } },
	{ "IPv6 ICMPv6 echo", { V6, .proto = IPPROTO_ICMPV6, .payload = 8 } },
	{ "802.1Q IPv4 UDP", { V4, UDP, .vlans = 1, .payload = 6 } },
	{ "QinQ IPv6 TCP", { V6, ACK, .vlans = 2, .payload = 6 } },
	{ "IPv6 hop-by-hop+fragment+TCP", { V6, SYN, EXT(2, 0, 44), .frag6 = 1 } },
};

/* ---- fixtures: a frame, the verdict and reason expected ---- */

/* A frame, the verdict and reason expected, and what to do before sending
 * it: setup changes maps through the weir_maps API and returns false when
 * that did not take. The shorthands below are verdict, reason, no setup. */
struct fixture {
	const char *desc;
	struct pkt_opts pkt;
	__u32 verdict;
	int reason;
	bool (*setup)(void);
};

#define PASS XDP_PASS, WEIR_R_PASS, NULL
#define ALLOW XDP_PASS, WEIR_R_ALLOW, NULL
#define NONIP XDP_PASS, WEIR_R_PASS_NONIP, NULL
#define DROP(r) XDP_DROP, WEIR_R_##r, NULL

/* Parsing, with every list empty and no limit. */
static const struct fixture parse_fixtures[] = {
	{ "IPv4 TCP SYN passes", { V4, SYN, .doff = 6 }, PASS },
	{ "IPv4 TCP ACK with payload passes", { V4, ACK, .payload = 100 }, PASS },
	{ "IPv4 UDP passes", { V4, UDP, .payload = 32 }, PASS },
	{ "IPv4 ICMP echo passes", { V4, ICMP, .payload = 56 }, PASS },
	{ "IPv4 GRE (no L4 header checked) passes", { V4, .proto = 47, .payload = 4 }, PASS },
	{ "IPv6 TCP SYN passes", { V6, SYN, .doff = 6 }, PASS },
	{ "IPv6 UDP passes", { V6, UDP, .payload = 32 }, PASS },
	{ "IPv6 ICMPv6 echo passes", { V6, .proto = IPPROTO_ICMPV6, .payload = 56 }, PASS },
	{ "IPv6 no-next-header passes", { V6, .proto = IPPROTO_NONE }, PASS },
	{ "ARP passes unexamined", { .family = PK_ARP }, NONIP },
	{ "ARP with Ethernet padding passes unexamined", { .family = PK_ARP, .pad = 18 }, NONIP },
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
	{ "IPv4 EtherType, IP version 6: malformed", { V4, UDP, .version = 6 }, DROP(MALFORMED) },
	{ "IPv6 EtherType, IP version 4: malformed", { V6, UDP, .version = 4 }, DROP(MALFORMED) },
	{ "IPv4 tot_len 22 < ihl*4 24: malformed", { V4, UDP, .ihl = 6, .len_adj = -10 },
	  DROP(MALFORMED) },
	{ "IPv4 tot_len 0: malformed", { V4, UDP, .len_adj = -28 }, DROP(MALFORMED) },
	{ "IPv4 tot_len 1 past the frame: malformed", { V4, UDP, .len_adj = 1 }, DROP(MALFORMED) },
	{ "IPv4 tot_len past the frame despite padding: malformed",
	  { V4, UDP, .pad = 4, .len_adj = 5 }, DROP(MALFORMED) },
	{ "IPv6 payload_len 1 past the frame: malformed", { V6, UDP, .len_adj = 1 },
	  DROP(MALFORMED) },
	{ "TCP doff 4: malformed", { V4, ACK, .doff = 4 }, DROP(MALFORMED) },
	{ "TCP doff 0: malformed", { V6, ACK, .doff = 16 }, DROP(MALFORMED) },
	{ "TCP doff 8, options past the end: malformed", { V4, SYN, .doff = 8, .l4len = 24 },
	  DROP(MALFORMED) },
	{ "TCP doff 15, no options present: malformed", { V6, SYN, .doff = 15, .l4len = 20 },
	  DROP(MALFORMED) },
	{ "UDP header of 7 bytes: malformed", { V4, UDP, .l4len = 7 }, DROP(MALFORMED) },
	{ "ICMP header of 4 bytes: malformed", { V4, ICMP, .l4len = 4 }, DROP(MALFORMED) },
	{ "IPv4 UDP header cut by tot_len, frame padded: malformed",
	  { V4, UDP, .l4len = 4, .pad = 26 }, DROP(MALFORMED) },
	{ "IPv4 TCP header cut by tot_len, frame padded: malformed",
	  { V4, SYN, .l4len = 12, .pad = 30 }, DROP(MALFORMED) },
	{ "IPv6 UDP header cut by payload_len, frame padded: malformed",
	  { V6, UDP, .l4len = 4, .pad = 20 }, DROP(MALFORMED) },
	{ "IPv6 dstopts running past payload_len into padding: malformed",
	  { V6, .proto = IPPROTO_NONE, EXT(1, IPPROTO_DSTOPTS), .len_adj = -8, .pad = 8 },
	  DROP(MALFORMED) },
	{ "IPv4 first fragment (MF) too short for TCP: malformed",
	  { V4, SYN, .frag = 0x2000, .l4len = 12 }, DROP(MALFORMED) },
	{ "IPv4 first fragment (MF) with a whole TCP header passes",
	  { V4, SYN, .frag = 0x2000, .payload = 8 }, PASS },
	{ "IPv4 non-first fragment, no L4 header, passes", { V4, SYN, FRAG4 }, PASS },
	{ "IPv4 middle fragment (MF, offset 8) with garbage doff passes",
	  { V4, SYN, .frag = 0x2000 | 1, .doff = 1 }, PASS },
	{ "IPv6 fragment header offset != 0, no L4 header, passes", { V6, SYN, FRAG6 }, PASS },
	{ "IPv6 first fragment (offset 0, M) with TCP passes",
	  { V6, SYN, EXT(1, IPPROTO_FRAGMENT), .frag6 = 1 }, PASS },
	{ "IPv6 first fragment too short for TCP: malformed",
	  { V6, SYN, EXT(1, IPPROTO_FRAGMENT), .frag6 = 1, .l4len = 12 }, DROP(MALFORMED) },
	{ "IPv6 hop-by-hop+dstopts+routing then TCP passes", { V6, SYN, EXT(3, 0, 60, 43) }, PASS },
	{ "IPv6 AH then TCP passes", { V6, SYN, EXT(1, IPPROTO_AH) }, PASS },
	{ "IPv6 5 extension headers then TCP doff 4: malformed (L4 still parsed)",
	  { V6, ACK, .doff = 4, EXT(5, 0, 60, 43, 51, 60) }, DROP(MALFORMED) },
	{ "IPv6 chain of WEIR_IPV6_EXT_MAX (6) headers then TCP passes",
	  { V6, SYN, EXT(6, 0, 60, 43, 51, 44, 60), .frag6 = 1 }, PASS },
	{ "IPv6 chain of 7 extension headers then TCP: malformed",
	  { V6, SYN, EXT(7, 0, 60, 43, 51, 44, 60, 60), .frag6 = 1 }, DROP(MALFORMED) },
	{ "IPv6 chain of 7 ending in no-next-header: malformed",
	  { V6, .proto = IPPROTO_NONE, EXT(7, 0, 60, 60, 60, 60, 60, 60) }, DROP(MALFORMED) },
};

/* Allow- and blocklist fixtures, run with these prefixes loaded. */
static const char *const block_set[] = {
	"192.0.2.1/32", "198.51.100.0/24", "203.0.113.128/25", "10.0.0.0/8",
	"2001:db8:bad::1/128", "2001:db8:dead::/48",
};
static const char *const allow_set[] = {
	"10.1.2.0/24", "198.18.7.7/32", "2001:db8:dead:beef::/64", "2001:db8:a11::/48",
};

static const struct fixture list_fixtures[] = {
	{ "blocklisted /32 dropped", { V4, SYN, .src = "192.0.2.1" }, DROP(BLOCK) },
	{ "address after a blocked /32 passes", { V4, SYN, .src = "192.0.2.2" }, PASS },
	{ "address before a blocked /32 passes", { V4, UDP, .src = "192.0.2.0" }, PASS },
	{ "first address of a blocked /24 dropped", { V4, UDP, .src = "198.51.100.0" },
	  DROP(BLOCK) },
	{ "last address of a blocked /24 dropped", { V4, ACK, .src = "198.51.100.255" },
	  DROP(BLOCK) },
	{ "address just below a blocked /24 passes", { V4, ACK, .src = "198.51.99.255" }, PASS },
	{ "address just above a blocked /24 passes", { V4, ACK, .src = "198.51.101.0" }, PASS },
	{ "first address of a blocked /25 dropped", { V4, UDP, .src = "203.0.113.128" },
	  DROP(BLOCK) },
	{ "address just below a blocked /25 passes", { V4, UDP, .src = "203.0.113.127" }, PASS },
	{ "address inside a blocked /8 dropped", { V4, ICMP, .src = "10.200.3.4" }, DROP(BLOCK) },
	{ "address just above a blocked /8 passes", { V4, UDP, .src = "11.0.0.0" }, PASS },
	{ "allowlisted /32 passes as allowlisted", { V4, SYN, .src = "198.18.7.7" }, ALLOW },
	{ "address next to an allowlisted /32 passes", { V4, SYN, .src = "198.18.7.8" }, PASS },
	{ "allowlist /24 beats blocklist /8", { V4, UDP, .src = "10.1.2.3" }, ALLOW },
	{ "just outside the allowlisted /24: blocked by the /8", { V4, UDP, .src = "10.1.3.0" },
	  DROP(BLOCK) },
	{ "IPv6 blocklisted /128 dropped", { V6, SYN, .src = "2001:db8:bad::1" }, DROP(BLOCK) },
	{ "IPv6 address after a blocked /128 passes", { V6, SYN, .src = "2001:db8:bad::2" }, PASS },
	{ "IPv6 address before a blocked /128 passes", { V6, SYN, .src = "2001:db8:bad::" }, PASS },
	{ "IPv6 address inside a blocked /48 dropped", { V6, UDP, .src = "2001:db8:dead:1::5" },
	  DROP(BLOCK) },
	{ "IPv6 last address of a blocked /48 dropped",
	  { V6, UDP, .src = "2001:db8:dead:ffff:ffff:ffff:ffff:ffff" }, DROP(BLOCK) },
	{ "IPv6 address just above a blocked /48 passes", { V6, UDP, .src = "2001:db8:deae::" },
	  PASS },
	{ "IPv6 address just below a blocked /48 passes",
	  { V6, UDP, .src = "2001:db8:deac:ffff:ffff:ffff:ffff:ffff" }, PASS },
	{ "IPv6 allowlist /64 beats blocklist /48",
	  { V6, .proto = IPPROTO_ICMPV6, .src = "2001:db8:dead:beef::1" }, ALLOW },
	{ "IPv6 just outside the allowlisted /64: blocked",
	  { V6, UDP, .src = "2001:db8:dead:bef0::" }, DROP(BLOCK) },
	{ "IPv6 allowlisted /48 passes as allowlisted", { V6, UDP, .src = "2001:db8:a11:7::1" },
	  ALLOW },
	{ "802.1Q frame from a blocked source dropped",
	  { V4, SYN, .vlans = 1, .src = "198.51.100.7" }, DROP(BLOCK) },
	{ "QinQ IPv4 frame from a blocked source dropped",
	  { V4, UDP, .vlans = 2, .src = "10.9.9.9" }, DROP(BLOCK) },
	{ "QinQ IPv6 frame from a blocked source dropped",
	  { V6, UDP, .vlans = 2, .src = "2001:db8:dead::9" }, DROP(BLOCK) },
	{ "three tags from a blocked source: malformed first",
	  { V4, UDP, .vlans = 3, .src = "192.0.2.1" }, DROP(MALFORMED) },
	{ "malformed frame from an allowlisted source: malformed first",
	  { V4, ACK, .doff = 4, .src = "198.18.7.7" }, DROP(MALFORMED) },
	{ "IPv4 non-first fragment from a blocked source dropped",
	  { V4, SYN, FRAG4, .src = "198.51.100.9" }, DROP(BLOCK) },
	{ "IPv4 non-first fragment from an allowlisted source allowlisted",
	  { V4, SYN, FRAG4, .src = "10.1.2.9" }, ALLOW },
	{ "IPv4 non-first fragment from an unlisted source passes",
	  { V4, SYN, FRAG4, .src = "198.51.101.9" }, PASS },
	{ "IPv6 non-first fragment from a blocked source dropped",
	  { V6, SYN, FRAG6, .src = "2001:db8:dead::77" }, DROP(BLOCK) },
	{ "IPv6 non-first fragment from an unlisted source passes",
	  { V6, SYN, FRAG6, .src = "2001:db8:beef::77" }, PASS },
	{ "IPv6 extension header chain from a blocked source dropped",
	  { V6, SYN, EXT(3, 0, 60, 43), .src = "2001:db8:bad::1" }, DROP(BLOCK) },
	{ "ARP passes unexamined with lists loaded", { .family = PK_ARP }, NONIP },
};

/* A frame in a small ring of static buffers, for one-line use in tests. */
static const struct pkt *pkt_make(int family, const char *src, uint8_t proto,
				  uint8_t tcp_flags, int n_ext, const uint8_t *ext)
{
	static struct pkt ring[8];
	static unsigned slot;
	struct pkt *p = &ring[slot++ % 8];
	struct pkt_opts o = { .family = family, .src = src, .proto = proto,
			      .tcp_flags = tcp_flags, .n_ext = (uint8_t)n_ext, .frag6 = 1 };

	if (n_ext)
		memcpy(o.ext, ext, (size_t)n_ext);
	pkt_build(p, &o);
	return p;
}

/* Prefix i of the bulk-import set - v4 /32, v4 /24, v6 /128 and v6 /48 in
 * turn, none overlapping - and, in probe, an address inside it. */
static void import_prefix(size_t i, struct weir_cidr *c, char *probe, size_t len)
{
	uint8_t a[16] = {};
	uint32_t v4;

	memset(c, 0, sizeof(*c));
	if (i % 4 < 2) {
		v4 = htonl(i % 4 ? 0xac200000u + ((uint32_t)i << 8) : 0xac100000u + (uint32_t)i);
		c->family = 4;
		c->prefixlen = i % 4 ? 24 : 32;
		memcpy(c->addr, &v4, 4);
		memcpy(a, c->addr, 4);
		a[3] |= (uint8_t)(i % 4); /* .1 inside the /24 */
		inet_ntop(AF_INET, a, probe, (socklen_t)len);
		return;
	}
	if (i % 4 == 2) { /* 2001:db8:100::i/128 */
		memcpy(c->addr, "\x20\x01\x0d\xb8\x01\x00", 6);
		c->addr[14] = (uint8_t)(i >> 8);
		c->addr[15] = (uint8_t)i;
		c->prefixlen = 128;
	} else { /* 3fff:i::/48 */
		c->addr[0] = 0x3f;
		c->addr[1] = 0xff;
		c->addr[2] = (uint8_t)(i >> 8);
		c->addr[3] = (uint8_t)i;
		c->prefixlen = 48;
	}
	c->family = 6;
	memcpy(a, c->addr, 16);
	a[15] |= c->prefixlen == 48; /* ::1 inside the /48 */
	inet_ntop(AF_INET6, a, probe, (socklen_t)len);
}

#endif /* WEIR_TEST_PACKETS_H */
