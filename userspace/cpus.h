/* userspace/cpus.h - CPU affinity (the config's `cpus:`; README: CPUs):
 * each worker pinned to a CPU of its own, every other thread of weir (the
 * admin API, configuration folds, metrics, log shipping, bans, offloaded
 * hashing) on a control set, as nginx's worker_cpu_affinity and HAProxy's
 * cpu-map place theirs. With the control plane, its disk syncs and the
 * interrupts that come with them kept off the workers' CPUs, a stream of
 * configuration changes costs the requests nothing they can see.
 *
 * Read at start: the main thread takes the control set before it starts
 * any other, so every thread it starts (and those they start) inherits it;
 * the workers are started with their own; the threads started from a
 * worker (the offload pool) are given the control set explicitly.
 */
#ifndef WEIR_CPUS_H
#define WEIR_CPUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct weir_config;

/* At start, before any thread: checks every CPU named against those this
 * process may run on, and pins the calling thread to the control set. 0,
 * or -1 with the field and the reason in err. Without `cpus:`, nothing. */
int weir_cpus_start(const struct weir_config *c, char *err, size_t errlen);
/* The check alone (for a reloaded config, which a restart would apply):
 * 0, or -1 with the field and the reason in err. */
int weir_cpus_check(const struct weir_config *c, char *err, size_t errlen);
/* Set attr for worker i's thread (its CPU; the process's CPUs when only
 * the control set is given), or for a thread started from a worker (the
 * control set, or the process's CPUs when only the workers are pinned; not
 * its starter's). 0, or an error number: the thread must not start then,
 * as it would run where it was not meant to. */
int weir_cpus_worker_attr(uint32_t i, pthread_attr_t *attr);
int weir_cpus_control_attr(pthread_attr_t *attr);
/* Whether c's `cpus:` differs from the one in force (it takes effect at
 * restart). */
bool weir_cpus_changed(const struct weir_config *c);

#endif
