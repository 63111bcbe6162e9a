// SPDX-License-Identifier: GPL-2.0
/* xdp_drop.bpf.c - the ceiling of the live-rate bench: drop every frame,
 * touching nothing. Attached directly (no libxdp dispatcher) to the
 * receiving veth, it measures what the path generator -> veth -> XDP costs
 * before any program does any work.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}
