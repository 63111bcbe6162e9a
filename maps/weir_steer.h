/* weir_steer.h - the ABI between bpf/weir_steer.bpf.c (the SO_REUSEPORT
 * program that picks a proxy worker for each new connection) and the weir
 * daemon that loads it (userspace/steer.c).
 *
 * Types only: map names, capacities, the worker states and the key/value
 * structs, each with a size check, compiled into both sides. The maps are
 * private to one weir process (never pinned): a second weir on the same port
 * loads its own.
 *
 *   weir_listeners  a listener's bound address (family, address, port) ->
 *                   its slot, 0..WEIR_STEER_MAX_LISTENERS-1. Every socket of
 *                   a reuseport group is bound to the same address, so the
 *                   program finds the slot from whichever socket of the group
 *                   the kernel hands it, including another process's.
 *   weir_socks      REUSEPORT_SOCKARRAY: slot * WEIR_STEER_MAX_WORKERS +
 *                   worker -> that worker's listening socket.
 *   weir_workers    ARRAY of one struct weir_steer_workers, BPF_F_MMAPABLE:
 *                   each worker stores its own state in it through weir's
 *                   shared mapping of the map (an aligned 4-byte store: no
 *                   system call, no lock, no lost update between workers).
 */
#ifndef WEIR_STEER_H
#define WEIR_STEER_H

#include <linux/types.h>

/* workers: and --workers allow 256 (one per CPU on a larger machine runs
 * without steering); main.c opens at most 64 listeners. */
#define WEIR_STEER_MAX_WORKERS 256u
#define WEIR_STEER_MAX_LISTENERS 64u

#define WEIR_STEER_PROG_NAME "weir_steer"
#define WEIR_STEER_MAP_LISTENERS "weir_listeners"
#define WEIR_STEER_MAP_SOCKS "weir_socks"
#define WEIR_STEER_MAP_WORKERS "weir_workers"

/* What a worker says of itself. Only READY workers are picked; when none
 * is, the program leaves the choice to the kernel's hash. */
enum weir_steer_state {
	WEIR_STEER_READY = 0,
	WEIR_STEER_OVERLOADED = 1,	/* near its max_connections */
	WEIR_STEER_DRAINING = 2,	/* graceful stop: takes nothing new */
};

struct weir_steer_workers {
	__u32 state[WEIR_STEER_MAX_WORKERS];	/* enum weir_steer_state, by worker id */
};
_Static_assert(sizeof(struct weir_steer_workers) == 4 * WEIR_STEER_MAX_WORKERS,
	       "weir_steer_workers ABI");

/* A listener's bound address as the program reads it from struct bpf_sock:
 * addr in network byte order (IPv4 in addr[0], the rest zero), port in host
 * byte order. */
struct weir_steer_listen_key {
	__u16 family;			/* AF_INET or AF_INET6 */
	__u16 port;
	__u32 addr[4];
};
_Static_assert(sizeof(struct weir_steer_listen_key) == 20, "weir_steer_listen_key ABI");

#endif
