/* userspace/offload.c - the threads that run work off the workers' loops
 * (see offload.h).
 *
 * The queue is a FIFO list under one mutex with a condition variable, as
 * ban.c and accesslog.c hand work to their threads. Results go back on a
 * lock-free stack per worker (w->jobs_done): a thread pushes with a
 * compare-and-swap and writes the worker's eventfd only when the stack was
 * empty, since a non-empty one has a wake-up on its way already; the worker
 * takes the whole stack at once (exchange with NULL), so the stack has a
 * single consumer and no ABA problem. w->jobs_out counts the worker's jobs
 * the pool holds, queued or running, for weir_offload_worker_end.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "cpus.h"
#include "offload.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t threads[WEIR_OFFLOAD_THREADS];
	uint32_t n_threads;		/* running */
	uint32_t want_threads, cap;	/* limits of the next start; 0: defaults */
	bool stop;
	struct weir_job *head, **tail;
	uint32_t len;
} P = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* Hands a job back to its worker (any thread). */
static void give_back(struct weir_job *j)
{
	struct weir_worker *w = j->w;
	struct weir_job *top = atomic_load_explicit(&w->jobs_done, memory_order_relaxed);
	uint64_t one = 1;

	do
		j->next = top;
	while (!atomic_compare_exchange_weak_explicit(&w->jobs_done, &top, j,
						      memory_order_release, memory_order_relaxed));
	if (!top && write(w->event.fd, &one, sizeof(one)) < 0)
		(void)0;	/* an eventfd write fails only on overflow: woken anyway */
	/* Last: once it reads 0, a stopping worker may close its eventfd. */
	atomic_fetch_sub_explicit(&w->jobs_out, 1, memory_order_release);
}

/* Under P.lock: takes the job *pp points at off the queue, unrun, and
 * hands it back to its worker. */
static void unqueue_locked(struct weir_job **pp)
{
	struct weir_job *j = *pp;

	if (!(*pp = j->next))
		P.tail = pp;
	P.len--;
	give_back(j);
}

static void *pool_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&P.lock);
	for (;;) {
		struct weir_job *j;

		while (!P.head && !P.stop)
			pthread_cond_wait(&P.cond, &P.lock);
		if (P.stop)
			break;
		j = P.head;
		if (!(P.head = j->next))
			P.tail = &P.head;
		P.len--;
		pthread_mutex_unlock(&P.lock);
		if (!atomic_load_explicit(&j->cancelled, memory_order_relaxed)) {
			j->run(j);
			j->ran = 1;
		}
		give_back(j);
		pthread_mutex_lock(&P.lock);
	}
	pthread_mutex_unlock(&P.lock);
	return NULL;
}

/* Under P.lock: starts the threads if none runs. Returns 0 or -1. */
static int start_locked(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t n = P.want_threads;

	if (P.n_threads)
		return 0;
	if (!n)
		n = cores < 1 ? 1 : cores > WEIR_OFFLOAD_THREADS ? WEIR_OFFLOAD_THREADS :
			(uint32_t)cores;
	if (!P.cap)
		P.cap = WEIR_OFFLOAD_QUEUE;
	P.stop = false;
	P.tail = &P.head;
	/* Started from a worker: on the control CPUs, not on the worker's. */
	pthread_attr_t attr;
	if (pthread_attr_init(&attr))
		return -1;
	if (weir_cpus_control_attr(&attr)) {
		pthread_attr_destroy(&attr);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		int err = pthread_create(&P.threads[P.n_threads], &attr, pool_main, NULL);
		if (err) {
			fprintf(stderr, "weir: offload thread: %s\n", strerror(err));
			break;
		}
		pthread_setname_np(P.threads[P.n_threads], "weir-offload");
		P.n_threads++;
	}
	pthread_attr_destroy(&attr);
	return P.n_threads ? 0 : -1;
}

int weir_offload_submit(struct weir_worker *w, struct weir_job *j)
{
	int rc = -1;

	pthread_mutex_lock(&P.lock);
	if (start_locked() == 0 && P.len < P.cap) {
		j->w = w;
		j->next = NULL;
		j->ran = 0;
		atomic_init(&j->cancelled, false);
		*P.tail = j;
		P.tail = &j->next;
		P.len++;
		atomic_fetch_add_explicit(&w->jobs_out, 1, memory_order_relaxed);
		pthread_cond_signal(&P.cond);
		rc = 0;
	}
	pthread_mutex_unlock(&P.lock);
	return rc;
}

void weir_offload_cancel(struct weir_job *j)
{
	atomic_store_explicit(&j->cancelled, true, memory_order_relaxed);
	/* Still queued: out at once, so that it holds no room there. */
	pthread_mutex_lock(&P.lock);
	for (struct weir_job **pp = &P.head; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			unqueue_locked(pp);
			break;
		}
	pthread_mutex_unlock(&P.lock);
}

void weir_offload_drain(struct weir_worker *w)
{
	struct weir_job *j = atomic_exchange_explicit(&w->jobs_done, NULL, memory_order_acquire);

	while (j) {
		struct weir_job *next = j->next;
		j->done(j);	/* may free j */
		j = next;
	}
}

void weir_offload_worker_end(struct weir_worker *w)
{
	pthread_mutex_lock(&P.lock);
	for (struct weir_job **pp = &P.head; *pp;) {
		struct weir_job *j = *pp;
		if (j->w != w) {
			pp = &j->next;
			continue;
		}
		unqueue_locked(pp);
	}
	pthread_mutex_unlock(&P.lock);
	/* What runs now is one job's work per thread: bounded, and short. */
	while (atomic_load_explicit(&w->jobs_out, memory_order_acquire))
		usleep(1000);
	weir_offload_drain(w);
}

void weir_offload_stop(void)
{
	pthread_mutex_lock(&P.lock);
	P.stop = true;
	pthread_cond_broadcast(&P.cond);
	pthread_mutex_unlock(&P.lock);
	for (uint32_t i = 0; i < P.n_threads; i++)
		pthread_join(P.threads[i], NULL);
	pthread_mutex_lock(&P.lock);
	P.n_threads = 0;
	P.head = NULL;
	P.tail = &P.head;
	P.len = 0;
	pthread_mutex_unlock(&P.lock);
}

void weir_offload_limits(uint32_t threads, uint32_t queue)
{
	pthread_mutex_lock(&P.lock);
	P.want_threads = threads > WEIR_OFFLOAD_THREADS ? WEIR_OFFLOAD_THREADS : threads;
	P.cap = queue;
	pthread_mutex_unlock(&P.lock);
}
