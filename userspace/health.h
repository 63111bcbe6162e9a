/* userspace/health.h - active health checks: probes of every node of the
 * upstreams that have a health_check, run by one worker, worker 0, on its
 * own event loop (README: Active health checks).
 *
 * Each probe is a non-blocking TCP connect and, for type http, a GET whose
 * response status is read with llhttp; the outcome goes to the balancer
 * (weir_lb_active_report), whose per-node verdicts every worker reads. The
 * probes belong to the snapshot worker 0 runs on: when it switches, the old
 * probes stop (a node removed is probed no more) and the new ones start,
 * the verdicts of nodes that stay carried over.
 */
#ifndef WEIR_HEALTH_H
#define WEIR_HEALTH_H

#include <stdint.h>

struct weir_worker;
struct weir_snapshot;
struct weir_probe;

/* Copies the active verdicts of upstreams that keep their name and have a
 * health_check in `to`, node by node (by address). The main thread calls it
 * on a snapshot before publishing it, so that no worker sees a failing node
 * as new and healthy; worker 0 calls it again when it switches, since it
 * may have reported outcomes on `from` in between. */
void weir_health_carry(struct weir_snapshot *to, const struct weir_snapshot *from);

/* Worker 0, on switching to `to` (from `from`, NULL at start): stops the old
 * probes and starts those of `to`. Returns -1 when out of memory (no probes
 * then: every node keeps its verdict). */
int weir_health_switch(struct weir_worker *w, struct weir_snapshot *to,
		       struct weir_snapshot *from);
/* Stops every probe (the worker is stopping). */
void weir_health_stop(struct weir_worker *w);
/* Frees probes stopped during the last batch of events (weir_worker_reap). */
void weir_health_reap(struct weir_worker *w);
void weir_probe_event(struct weir_probe *p, uint32_t events);

#endif
