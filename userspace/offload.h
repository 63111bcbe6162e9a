/* userspace/offload.h - a small pool of threads shared by the workers for
 * CPU work that must not run on a worker's loop (a slow password hash:
 * basic-auth), and the way each result comes back to the worker that asked.
 *
 * A job is an object of the caller's, with a weir_job first: `run` is the
 * work, on a pool thread, and touches nothing but the job (inputs copied
 * into it, its result written into it); `done` runs later on the worker's
 * own thread, in its loop, where it may touch the worker's objects. The
 * pool hands a finished job back on a list of the worker's and wakes the
 * worker through its eventfd (w->event, the one a reload uses), whose
 * handler drains that list (weir_offload_drain). A job belongs to the pool
 * from weir_offload_submit until its `done` runs, which owns it then.
 *
 * The request a job works for may end before the job does (its client
 * hangs up): the job must not point at the request then. The caller keeps
 * a cancel token for that: a pointer in the job to the request, cleared by
 * the request's end (a plugin's log phase), read only by `done` — both on
 * the worker's thread, so no lock is needed — and `done` of a job whose
 * request is gone just frees it. The request's end also calls
 * weir_offload_cancel, so a job still queued leaves the queue unrun (a
 * client that sends and hangs up costs no hash, nor room in the queue);
 * its `done` still comes.
 *
 * The queue is bounded (WEIR_OFFLOAD_QUEUE jobs waiting): a submit past it
 * fails, and the caller decides (basic-auth answers 503). The threads
 * (WEIR_OFFLOAD_THREADS at most, one per core up to that) start with the
 * first submit, so a configuration that offloads nothing runs none.
 */
#ifndef WEIR_OFFLOAD_H
#define WEIR_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#define WEIR_OFFLOAD_THREADS 4
#define WEIR_OFFLOAD_QUEUE 256

struct weir_worker;

struct weir_job {
	struct weir_job *next;
	struct weir_worker *w;			/* set by weir_offload_submit */
	uint8_t ran;				/* run ran (else cancelled, or the worker ended) */
	_Atomic bool cancelled;			/* weir_offload_cancel */
	void (*run)(struct weir_job *j);	/* on a pool thread */
	void (*done)(struct weir_job *j);	/* on w's thread, in its loop */
};

/* Queues j for a pool thread. Returns 0, or -1 when the queue is full or
 * no thread could be started (j is untouched, still the caller's). */
int weir_offload_submit(struct weir_worker *w, struct weir_job *j);
/* Any thread: j's `run` is skipped if it has not started, and a queued j
 * leaves the queue at once (its `done` still comes, through the drain). */
void weir_offload_cancel(struct weir_job *j);
/* On w's thread: runs `done` of w's finished jobs, in no set order. */
void weir_offload_drain(struct weir_worker *w);
/* On w's thread, as it stops: takes w's jobs not yet started off the
 * queue (their `done` runs without `run` having run), waits for those
 * running, and drains. */
void weir_offload_worker_end(struct weir_worker *w);
/* Stops and joins the threads (jobs left in the queue are not run: every
 * worker has ended first). For the end of the process, and tests. */
void weir_offload_stop(void);
/* Tests: the limits the next start uses (0: the defaults above). */
void weir_offload_limits(uint32_t threads, uint32_t queue);

#endif
