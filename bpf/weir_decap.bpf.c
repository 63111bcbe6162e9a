// SPDX-License-Identifier: GPL-2.0
/* weir_decap.bpf.c - the backends' side of weir's l4 forwarding: strips the
 * outer header of IPv4-in-IPv4 and IPv6-in-IPv6 packets in XDP, for backend
 * hosts whose kernel has no ipip / ip6tnl device (or that would rather not
 * run one). The inner packet, addressed to the service address the backend
 * holds on its loopback, then goes up the stack as if it had arrived plain,
 * and the answer goes straight back to the client (direct server return).
 *
 * Everything else passes untouched. Like the kernel's fallback tunnel
 * devices, it takes tunnel packets from any sender: attach it where only
 * the gateway can send them, or filter outer sources before it.
 */
#include "lib/parse.h"
#include <xdp/xdp_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(priority, 20);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(weir_decap);

/* Removes `outer` bytes after an L2 header of l2 bytes (14, 18 or 22; a
 * constant at each call): the L2 header is copied forward over the outer IP
 * header, from its end down, and the frame's start moves past the rest. */
static __always_inline int weir_strip(struct xdp_md *ctx, __u32 l2, __u32 outer)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u16 *src = data, *dst = data + outer;

	if (data + outer + l2 > end)
		return XDP_PASS;
	/* Descending: each word is read before anything overwrites it. */
#pragma unroll
	for (int i = (int)(l2 / 2) - 1; i >= 0; i--)
		dst[i] = src[i];
	if (bpf_xdp_adjust_head(ctx, (int)outer))
		return XDP_DROP;
	return XDP_PASS;
}

static __always_inline int weir_strip_at(struct xdp_md *ctx, __u32 l2, __u32 outer)
{
	switch (l2) {
	case 14: return weir_strip(ctx, 14, outer);
	case 18: return weir_strip(ctx, 18, outer);
	case 22: return weir_strip(ctx, 22, outer);
	}
	return XDP_PASS;
}

SEC("xdp")
int weir_decap(struct xdp_md *ctx)
{
	void *start = (void *)(long)ctx->data;
	struct weir_cursor c = { .pos = start, .end = (void *)(long)ctx->data_end };
	int proto = weir_parse_eth(&c);
	__u32 l2 = (__u32)(c.pos - start);

	if (proto == ETH_P_IP) {
		struct iphdr *ip = c.pos;

		if ((void *)(ip + 1) > c.end || ip->ihl != 5 || ip->protocol != IPPROTO_IPIP ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return XDP_PASS;
		return weir_strip_at(ctx, l2, sizeof(*ip));
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = c.pos;

		if ((void *)(ip6 + 1) > c.end || ip6->nexthdr != IPPROTO_IPV6)
			return XDP_PASS;
		return weir_strip_at(ctx, l2, sizeof(*ip6));
	}
	return XDP_PASS;
}
