/* packets.h - hand-built test frames for tests/bpf/test_xdp.c.
 *
 * pkt_build() writes one Ethernet frame described by a struct pkt_opts with
 * the uapi header structs and records where each header starts and ends, so
 * that the truncation tests can cut the frame at every boundary. No checksum
 * is computed: the XDP program never looks at one.
 */
#ifndef WEIR_TEST_PACKETS_H
#define WEIR_TEST_PACKETS_H

#include <arpa/inet.h>
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

#endif /* WEIR_TEST_PACKETS_H */
