/* userspace/steer.c - worker steering: loads bpf/weir_steer.bpf.c through
 * its skeleton, fills its maps and attaches it to each listener's
 * SO_REUSEPORT group; the workers write their state into it.
 *
 * The maps are the process's own, never pinned: a second weir sharing a
 * port (a binary upgrade) loads its own program, and the program attached
 * last steers the whole group. Attaching comes after every socket of the
 * listener is in weir_socks, so the program never runs on a half-filled
 * group; and a socket that closes leaves weir_socks by itself (the kernel
 * takes it out), which is why nothing here deletes socket entries. The
 * workers' states live in a map weir keeps mapped into its memory: a worker
 * changes its own with one store.
 *
 * Nothing here can stop weir from serving: a program that does not load, a
 * listener that cannot be attached, are each one line on stderr, and those
 * connections are spread by the kernel's hash as without steering.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.h"
#include "weir_steer.skel.h"

static struct weir_steer_bpf *skel;	/* NULL: steering is off */
static uint32_t n_workers;
static int fd_listeners, fd_socks;
static struct weir_steer_workers *workers;	/* weir_workers, mapped */

/* The listeners in the program's slots, by their bound address. */
static struct {
	bool used;
	struct weir_steer_listen_key key;
} slots[WEIR_STEER_MAX_LISTENERS];

/* libbpf's own messages (a verifier log runs to pages) would bury the one
 * line that says what happened and what weir does instead. */
static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

bool weir_steer_init(enum weir_steering mode, uint32_t n)
{
	libbpf_print_fn_t old;
	int err;

	if (mode != WEIR_STEERING_BPF)
		return false;
	if (n > WEIR_STEER_MAX_WORKERS) {
		fprintf(stderr, "weir: steering: more than %u workers; the kernel's hash spreads "
			"connections\n", WEIR_STEER_MAX_WORKERS);
		return false;
	}
	old = libbpf_set_print(libbpf_quiet);
	skel = weir_steer_bpf__open();
	if (!skel) {
		err = -errno;
		goto fail;
	}
	skel->rodata->weir_steer_workers = n;
	err = weir_steer_bpf__load(skel);	/* 0, or a negative errno */
	if (err)
		goto fail;
	libbpf_set_print(old);
	workers = mmap(NULL, sizeof(*workers), PROT_READ | PROT_WRITE, MAP_SHARED,
		       bpf_map__fd(skel->maps.weir_workers), 0);
	if (workers == MAP_FAILED) {
		err = -errno;
		workers = NULL;
		goto fail_loaded;
	}
	n_workers = n;
	fd_listeners = bpf_map__fd(skel->maps.weir_listeners);
	fd_socks = bpf_map__fd(skel->maps.weir_socks);
	return true;
fail:
	libbpf_set_print(old);
fail_loaded:
	weir_steer_bpf__destroy(skel);
	skel = NULL;
	fprintf(stderr, "weir: steering: BPF program not loaded (%s); the kernel's hash spreads "
		"connections\n", strerror(-err));
	return false;
}

static void listen_key(const struct weir_addr *a, struct weir_steer_listen_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = a->sa.ss_family;
	if (a->sa.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
		k->port = ntohs(s4->sin_port);
		k->addr[0] = s4->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
		k->port = ntohs(s6->sin6_port);
		memcpy(k->addr, &s6->sin6_addr, sizeof(k->addr));
	}
}

int weir_steer_listener_add(const struct weir_addr *a, const int *fds)
{
	struct weir_steer_listen_key key;
	const char *what;
	uint32_t slot, k = 0;
	int prog, err;

	if (!skel)
		return -1;
	for (slot = 0; slot < WEIR_STEER_MAX_LISTENERS && slots[slot].used; slot++)
		;
	if (slot == WEIR_STEER_MAX_LISTENERS) {
		what = "no free slot";
		err = -ENOSPC;
		goto fail;
	}
	listen_key(a, &key);
	what = "listener map";
	if (bpf_map_update_elem(fd_listeners, &key, &slot, BPF_ANY) < 0) {
		err = -errno;
		goto fail;
	}
	what = "socket array";
	for (k = 0; k < n_workers; k++) {
		__u32 idx = slot * WEIR_STEER_MAX_WORKERS + k;
		__u64 fd = (__u64)fds[k];
		if (bpf_map_update_elem(fd_socks, &idx, &fd, BPF_ANY) < 0) {
			err = -errno;
			goto undo;
		}
	}
	what = "SO_ATTACH_REUSEPORT_EBPF";
	prog = bpf_program__fd(skel->progs.weir_steer);
	if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog, sizeof(prog)) < 0) {
		err = -errno;
		goto undo;
	}
	slots[slot].used = true;
	slots[slot].key = key;
	return (int)slot;
undo:
	while (k-- > 0) {
		__u32 idx = slot * WEIR_STEER_MAX_WORKERS + k;
		bpf_map_delete_elem(fd_socks, &idx);
	}
	bpf_map_delete_elem(fd_listeners, &key);
fail:
	fprintf(stderr, "weir: steering: %s: %s: %s; the kernel's hash spreads its connections\n",
		a->text, what, strerror(-err));
	return -1;
}

void weir_steer_listener_del(int slot)
{
	if (!skel || slot < 0 || (uint32_t)slot >= WEIR_STEER_MAX_LISTENERS || !slots[slot].used)
		return;
	if (bpf_map_delete_elem(fd_listeners, &slots[slot].key) < 0) {
		int err = -errno;
		fprintf(stderr, "weir: steering: forgetting listener slot %d: %s\n", slot,
			strerror(-err));
	}
	slots[slot].used = false;
}

void weir_steer_worker_set(uint32_t worker, enum weir_steer_state s)
{
	/* Each worker writes only its own element; the program reads them all
	 * on each new connection, so no order with other memory is needed. */
	if (workers && worker < WEIR_STEER_MAX_WORKERS)
		__atomic_store_n(&workers->state[worker], (__u32)s, __ATOMIC_RELAXED);
}

void weir_steer_fini(void)
{
	if (workers)
		munmap(workers, sizeof(*workers));
	workers = NULL;
	weir_steer_bpf__destroy(skel);
	skel = NULL;
	memset(slots, 0, sizeof(slots));
}
