// SPDX-License-Identifier: GPL-2.0
/* livegen.bpf.c - weir's packet generator, the in-kernel half.
 *
 * bench/livegen runs this program through BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES: for every repetition the kernel builds a real
 * xdp_frame from the template packet and acts on the verdict, which here is
 * always a redirect to the veth whose ifindex userspace sets before load. The
 * frame then arrives at the veth's peer like any received frame, into the XDP
 * program (or the stack hook) under test there. This is the technique of
 * xdp-trafficgen, without its tracepoint dependency.
 *
 * With livegen_nsrc > 1 the source address of each frame is rewritten from
 * the livegen_srcs table in round-robin order, so that a receiver's lookups
 * walk many paths of its tables instead of one cache-hot path. The IPv4
 * header checksum is not updated: none of the receivers under test looks at
 * it before its verdict (XDP programs and the netdev ingress hook run first).
 *
 * With livegen_restore set, the template's first 64 bytes are written into
 * every frame before it leaves. The kernel builds each live frame in a page
 * of the test run's page pool and reinitialises only the frame's bounds
 * when a page comes back, not its bytes; a receiver that forwards the frame
 * in place (XDP_TX with a rewritten or prepended header) returns a changed
 * page, which the next frame would carry.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define LIVEGEN_SRC_MAX 65536

const volatile __u32 livegen_ifindex = 0;
const volatile __u32 livegen_nsrc = 0;	  /* 0 or 1: frames go out as built */
const volatile __u32 livegen_src_off = 0; /* offset of the source address */
const volatile __u32 livegen_src_len = 4; /* 4 or 16 */
const volatile __u32 livegen_restore = 0; /* write livegen_head first */
__u8 livegen_head[64]; /* the template's first 64 bytes, set after load */

struct livegen_addr {
	__u8 a[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LIVEGEN_SRC_MAX);
	__type(key, __u32);
	__type(value, struct livegen_addr);
} livegen_srcs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} livegen_seq SEC(".maps");

static __always_inline void livegen_rewrite(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct livegen_addr *src;
	__u32 k = 0, *seq, idx;
	__u8 *p;

	seq = bpf_map_lookup_elem(&livegen_seq, &k);
	if (!seq)
		return;
	idx = *seq;
	*seq = idx + 1 >= livegen_nsrc ? 0 : idx + 1;
	src = bpf_map_lookup_elem(&livegen_srcs, &idx);
	if (!src)
		return;
	if (livegen_src_off > 64)
		return;
	p = data + livegen_src_off;
	if (livegen_src_len == 16) {
		if ((void *)(p + 16) > end)
			return;
		__builtin_memcpy(p, src->a, 16);
	} else {
		if ((void *)(p + 4) > end)
			return;
		__builtin_memcpy(p, src->a, 4);
	}
}

static __always_inline void livegen_restore_head(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	if (data + 64 > (void *)(long)ctx->data_end)
		return;
	__builtin_memcpy(data, livegen_head, 64);
}

SEC("xdp")
int livegen(struct xdp_md *ctx)
{
	if (livegen_restore)
		livegen_restore_head(ctx);
	if (livegen_nsrc > 1)
		livegen_rewrite(ctx);
	return bpf_redirect(livegen_ifindex, 0);
}
