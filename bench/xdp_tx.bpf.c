// SPDX-License-Identifier: GPL-2.0
/* xdp_tx.bpf.c - the ceiling of the l4 forwarding bench: send every frame
 * back out of the interface it came in on (XDP_TX) with its MAC addresses
 * swapped, touching nothing else. It is the least any XDP forwarder does
 * per frame, so weir's l4 path is measured beside it: by bench_xdp through
 * BPF_PROG_TEST_RUN, and attached directly (no libxdp dispatcher) to the
 * receiving veth by bench/run.sh for the live rate.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int xdp_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac[ETH_ALEN];

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	return XDP_TX;
}
