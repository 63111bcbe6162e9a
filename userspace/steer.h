/* userspace/steer.h - worker steering: weir's SO_REUSEPORT program
 * (bpf/weir_steer.bpf.c) picks the worker of each new connection by its flow
 * hash, skipping workers that drain or are overloaded, and moves the accept
 * queue of a listening socket that closes to the sockets that stay.
 *
 * The main thread loads it (weir_steer_init), hands it each listener it opens
 * (weir_steer_listener_add) and forgets those it closes; each worker reports
 * its own state (weir_steer_worker_set). Without the program (steering:
 * kernel, or it could not be loaded) every call is a no-op and the kernel's
 * hash spreads connections, as before.
 */
#ifndef WEIR_STEER_USER_H
#define WEIR_STEER_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "maps/weir_steer.h"

/* Loads the program for n_workers workers when mode is WEIR_STEERING_BPF.
 * Never fails weir: a program that cannot be loaded (no CAP_BPF, an old
 * kernel) is reported in one line on stderr. Returns true when steering is
 * on. Call once, before the workers start. */
bool weir_steer_init(enum weir_steering mode, uint32_t n_workers);

/* Puts a listener's sockets (fds[0..n_workers), listening) into the
 * program's socket array and attaches the program to their group. Returns
 * the listener's slot for weir_steer_listener_del, or -1 when this listener
 * is left to the kernel's hash (steering off, or a failure said on stderr). */
int weir_steer_listener_add(const struct weir_addr *a, const int *fds);

/* Forgets a slot (-1: nothing), once its sockets are closed: closing took
 * them out of the socket array already. */
void weir_steer_listener_del(int slot);

/* Called by a worker on its own thread when its state changes. */
void weir_steer_worker_set(uint32_t worker, enum weir_steer_state s);

/* Unloads, after the workers are joined and the listeners closed. */
void weir_steer_fini(void);

#endif
