// SPDX-License-Identifier: GPL-2.0
/* weir_steer.bpf.c - picks the proxy worker of each new connection: the
 * SO_REUSEPORT program of every listener of one weir process.
 *
 *   listener   the slot of the group's bound address (weir_listeners);
 *              unknown address                      -> the kernel's choice
 *   workers    those whose state (weir_workers) is READY; none -> the kernel's
 *   pick       the (hash mod ready)-th ready worker, so a worker that drains
 *              or is overloaded has its share spread evenly over the others
 *              rather than doubling its neighbour's. Both passes over the
 *              workers are free of branches: the verifier then walks each
 *              iteration once instead of every path through it, which for
 *              256 workers would exceed its budget.
 *   select     its socket weir_socks[slot * WEIR_STEER_MAX_WORKERS + worker];
 *              a socket that is gone (closed, not yet added) -> the kernel's
 *
 * The same program decides migrations (BPF_SK_REUSEPORT_SELECT_OR_MIGRATE):
 * when a listening socket closes, each connection in its accept queue (and
 * each handshake still in progress on it) is handed here with migrating_sk
 * set and the connection's own hash, and goes to another listener of the
 * group instead of being reset. The closing socket has already left
 * weir_socks, and its worker is DRAINING, so it is never picked again; when
 * no worker of this process is left, the kernel picks among the group's other
 * listeners (another weir process on the same port). Being attached with this
 * attach type turns migration on for the group whatever
 * net.ipv4.tcp_migrate_req says.
 *
 * The program never returns SK_DROP: not choosing is always safe.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../maps/weir_steer.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

char LICENSE[] SEC("license") = "GPL";

/* The process's worker count, set before load (it does not change while
 * weir runs: a reload keeps the workers). */
const volatile __u32 weir_steer_workers = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEIR_STEER_MAX_LISTENERS);
	__type(key, struct weir_steer_listen_key);
	__type(value, __u32);
} weir_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, WEIR_STEER_MAX_LISTENERS * WEIR_STEER_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
} weir_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weir_steer_workers);
} weir_workers SEC(".maps");

/* 1 when x is 0 (WEIR_STEER_READY), else 0, without a branch: the empty asm
 * hides that y is -x, or clang would turn this back into a compare and a
 * jump. */
static __always_inline __u32 is_zero(__u32 x)
{
	__u32 y = -x;

	asm volatile("" : "+r"(y));
	return ((x | y) >> 31) ^ 1;
}

SEC("sk_reuseport/migrate")
int weir_steer(struct sk_reuseport_md *md)
{
	struct weir_steer_listen_key key = {};
	const struct weir_steer_workers *ws;
	struct bpf_sock *sk = md->sk;
	__u32 n = weir_steer_workers, ready = 0, chosen = 0, zero = 0, pick, idx, r, i;
	__u32 *slot;

	key.family = (__u16)sk->family;
	key.port = (__u16)sk->src_port;
	if (sk->family == AF_INET6) {
		key.addr[0] = sk->src_ip6[0];
		key.addr[1] = sk->src_ip6[1];
		key.addr[2] = sk->src_ip6[2];
		key.addr[3] = sk->src_ip6[3];
	} else {
		key.addr[0] = sk->src_ip4;
	}
	slot = bpf_map_lookup_elem(&weir_listeners, &key);
	ws = bpf_map_lookup_elem(&weir_workers, &zero);
	if (!slot || *slot >= WEIR_STEER_MAX_LISTENERS || !ws)
		return SK_PASS;

	for (i = 0; i < WEIR_STEER_MAX_WORKERS && i < n; i++)
		ready += is_zero(ws->state[i]);
	if (!ready)
		return SK_PASS;
	/* The ready worker met when pick is down to 0 is the one; pick then
	 * wraps around and never meets 0 again. */
	pick = md->hash % ready;
	for (i = 0; i < WEIR_STEER_MAX_WORKERS && i < n; i++) {
		r = is_zero(ws->state[i]);
		chosen |= (i + 1) & -(r & is_zero(pick));
		pick -= r;
	}
	if (!chosen)
		return SK_PASS;	/* a worker's state changed between the passes */
	idx = *slot * WEIR_STEER_MAX_WORKERS + chosen - 1;
	/* On failure nothing is selected and the kernel chooses. */
	bpf_sk_select_reuseport(md, &weir_socks, &idx, 0);
	return SK_PASS;
}
