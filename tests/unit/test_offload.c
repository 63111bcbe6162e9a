/* tests/unit/test_offload.c - the offload pool (offload.c) with its real
 * threads: jobs run off the submitting thread and come back to it through
 * its eventfd and drain; the bounded queue refuses a job past its size; a
 * worker that ends takes its queued jobs back unrun (another worker's stay
 * queued) and waits for its running ones; a cancelled job is not run but
 * still comes back.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <cmocka.h>

#include "userspace/core.h"
#include "userspace/offload.h"

struct tjob {
	struct weir_job job;		/* first */
	uint64_t in, out;
	pthread_t ran_on, done_on;
	bool done;
	_Atomic bool started;
	_Atomic bool *gate;		/* run waits while it is false; NULL: no wait */
};

static void tjob_run(struct weir_job *j)
{
	struct tjob *t = (struct tjob *)j;

	atomic_store(&t->started, true);
	while (t->gate && !atomic_load(t->gate))
		usleep(1000);
	t->out = t->in * t->in;
	t->ran_on = pthread_self();
}

static void tjob_done(struct weir_job *j)
{
	struct tjob *t = (struct tjob *)j;

	t->done = true;
	t->done_on = pthread_self();
}

static void worker_init(struct weir_worker *w)
{
	memset(w, 0, sizeof(*w));
	w->event.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(w->event.fd >= 0);
}

static void tjob_init(struct tjob *t, uint64_t in, _Atomic bool *gate)
{
	memset(t, 0, sizeof(*t));
	t->job.run = tjob_run;
	t->job.done = tjob_done;
	t->in = in;
	t->gate = gate;
}

/* Waits for the worker's eventfd (bounded), reads it and drains. */
static void wake_and_drain(struct weir_worker *w)
{
	struct pollfd p = { .fd = w->event.fd, .events = POLLIN };
	uint64_t v;

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(read(w->event.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	weir_offload_drain(w);
}

static int count_done(const struct tjob *t, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += t[i].done;
	return k;
}

static void test_round_trip(void **state)
{
	struct weir_worker w;
	struct tjob t[40];

	weir_offload_limits(2, 64);
	worker_init(&w);
	for (int i = 0; i < 40; i++) {
		tjob_init(&t[i], (uint64_t)i + 1, NULL);
		assert_int_equal(weir_offload_submit(&w, &t[i].job), 0);
	}
	while (count_done(t, 40) < 40)
		wake_and_drain(&w);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(t[i].out, (uint64_t)(i + 1) * (uint64_t)(i + 1));
		assert_true(t[i].job.ran);
		assert_false(pthread_equal(t[i].ran_on, pthread_self()));
		assert_true(pthread_equal(t[i].done_on, pthread_self()));
	}
	/* A thread gives the count back after its push, so a job's done may
	 * run a moment before the pool lets go of it: wait (bounded). */
	for (int i = 0; i < 10000 && atomic_load(&w.jobs_out); i++)
		usleep(1000);
	assert_int_equal(atomic_load(&w.jobs_out), 0);
	weir_offload_worker_end(&w);
	close(w.event.fd);
	weir_offload_stop();
}

static void test_queue_full(void **state)
{
	_Atomic bool gate = false;
	struct weir_worker w;
	struct tjob t[4];

	weir_offload_limits(1, 2);
	worker_init(&w);
	for (int i = 0; i < 4; i++)
		tjob_init(&t[i], 3, &gate);
	assert_int_equal(weir_offload_submit(&w, &t[0].job), 0);
	/* the one thread takes t[0] and waits at the gate; 2 more fit */
	for (int i = 0; i < 10000 && !atomic_load(&t[0].started); i++)
		usleep(1000);
	assert_true(atomic_load(&t[0].started));
	assert_int_equal(weir_offload_submit(&w, &t[1].job), 0);
	assert_int_equal(weir_offload_submit(&w, &t[2].job), 0);
	assert_int_equal(weir_offload_submit(&w, &t[3].job), -1);
	assert_false(t[3].done);
	atomic_store(&gate, true);
	while (count_done(t, 3) < 3)
		wake_and_drain(&w);
	assert_int_equal(t[2].out, 9);
	/* room again */
	tjob_init(&t[3], 4, NULL);
	assert_int_equal(weir_offload_submit(&w, &t[3].job), 0);
	while (!t[3].done)
		wake_and_drain(&w);
	assert_int_equal(t[3].out, 16);
	weir_offload_worker_end(&w);
	close(w.event.fd);
	weir_offload_stop();
}

static void test_worker_end(void **state)
{
	_Atomic bool gate = false;
	struct weir_worker a, b;
	struct tjob ta, tb[3];

	weir_offload_limits(1, 8);
	worker_init(&a);
	worker_init(&b);
	tjob_init(&ta, 5, &gate);
	assert_int_equal(weir_offload_submit(&a, &ta.job), 0);
	for (int i = 0; i < 10000 && !atomic_load(&ta.started); i++)
		usleep(1000);
	assert_true(atomic_load(&ta.started));
	for (int i = 0; i < 3; i++) {
		tjob_init(&tb[i], 7, NULL);
		assert_int_equal(weir_offload_submit(&b, &tb[i].job), 0);
	}
	/* a's job holds the only thread: b's wait in the queue; b ends and
	 * gets them back unrun, without waiting for a's */
	weir_offload_worker_end(&b);
	assert_int_equal(count_done(tb, 3), 3);
	for (int i = 0; i < 3; i++) {
		assert_false(tb[i].job.ran);
		assert_int_equal(tb[i].out, 0);
	}
	assert_false(ta.done);
	atomic_store(&gate, true);
	weir_offload_worker_end(&a);	/* waits for the running one */
	assert_true(ta.done);
	assert_true(ta.job.ran);
	assert_int_equal(ta.out, 25);
	close(a.event.fd);
	close(b.event.fd);
	weir_offload_stop();
	weir_offload_limits(0, 0);
}

/* A job cancelled before it starts leaves the queue at once, unrun, and
 * comes back. */
static void test_cancel(void **state)
{
	_Atomic bool gate = false;
	struct weir_worker w;
	struct tjob t[3];

	weir_offload_limits(1, 1);
	worker_init(&w);
	tjob_init(&t[0], 2, &gate);
	tjob_init(&t[1], 3, NULL);
	tjob_init(&t[2], 4, NULL);
	assert_int_equal(weir_offload_submit(&w, &t[0].job), 0);
	for (int i = 0; i < 10000 && !atomic_load(&t[0].started); i++)
		usleep(1000);
	assert_true(atomic_load(&t[0].started));
	assert_int_equal(weir_offload_submit(&w, &t[1].job), 0);
	assert_int_equal(weir_offload_submit(&w, &t[2].job), -1);	/* full */
	weir_offload_cancel(&t[1].job);
	/* out of the queue at once, back to its worker, unrun */
	wake_and_drain(&w);
	assert_true(t[1].done);
	assert_int_equal(weir_offload_submit(&w, &t[2].job), 0);	/* room again */
	atomic_store(&gate, true);
	while (count_done(t, 3) < 3)
		wake_and_drain(&w);
	assert_int_equal(t[2].out, 16);
	assert_true(t[0].job.ran);
	assert_int_equal(t[0].out, 4);
	assert_false(t[1].job.ran);
	assert_int_equal(t[1].out, 0);
	weir_offload_worker_end(&w);
	close(w.event.fd);
	weir_offload_stop();
	weir_offload_limits(0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_worker_end),
		cmocka_unit_test(test_cancel),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("offload", tests, NULL, NULL);
}
