// SPDX-License-Identifier: GPL-2.0
/* reframe.bpf.c - bench_xdp's harness for programs that change the frame.
 *
 * BPF_PROG_TEST_RUN with repeat runs a program again and again on one
 * buffer and never restores it: after weir's l4 path has prepended an outer
 * IP header, the next run would see that encapsulated packet, not the frame
 * under test. This program runs first in every repetition: it moves the
 * start of the frame back to where it was (bpf_xdp_adjust_head by the
 * growth, 0 when there was none, so that the call costs the same whatever
 * the program under test did), writes the template's first 16 bytes (the
 * Ethernet header, which an encapsulation or a MAC rewrite leaves changed;
 * everything after it stays where it was), optionally gives the frame a
 * new source address, then tail-calls the program under test, slot 0 of
 * reframe_target. The verdict is the callee's.
 *
 * With reframe_rotate set, repetition n carries source base + n (IPv4:
 * the address as a 32-bit number; IPv6: its last 32 bits), so every run is
 * a new flow. The IPv4 header checksum is not updated: weir does not check
 * it. bench_xdp runs weir and its peer (bench/xdp_tx.bpf.c) through this same
 * program, so the harness's cost is on both sides of each ratio.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* Set by bench_xdp before each case (the .bss is mapped). */
__u8 reframe_head[16];	   /* the frame's first 16 bytes */
__u32 reframe_len;	   /* the frame's length */
__u32 reframe_rotate;	   /* 0, or the offset of the source's last 4 bytes */
__u32 reframe_base;	   /* host order: first source of the rotation */
__u32 reframe_seq;	   /* repetitions so far */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} reframe_target SEC(".maps");

SEC("xdp")
int reframe(struct xdp_md *ctx)
{
	long grow = (long)ctx->data_end - (long)ctx->data - (long)reframe_len;
	void *data, *end;
	__u32 off;

	if (grow < 0 || grow > 128 || bpf_xdp_adjust_head(ctx, (int)grow))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + 16 > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, reframe_head, 16);
	off = reframe_rotate;
	if (off) {
		__u32 src = bpf_htonl(reframe_base + reframe_seq++);

		if (off > 64 || data + off + 4 > end)
			return XDP_ABORTED;
		__builtin_memcpy(data + off, &src, 4);
	}
	bpf_tail_call(ctx, &reframe_target, 0);
	return XDP_ABORTED;
}
