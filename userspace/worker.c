/* userspace/worker.c - worker threads: one epoll loop each, its own
 * SO_REUSEPORT listening sockets, buffers, timers and free lists.
 *
 * Workers share nothing on the request path. They meet the main thread in
 * three places only: the current snapshot (an atomic pointer read when the
 * eventfd says it changed), the acknowledged version (so the main thread
 * knows when an old snapshot's listeners may close), and the stop flag.
 * The same eventfd brings back the results of work a worker handed to the
 * offload pool's threads (offload.h), drained when it fires. Each
 * also tells the steering program (steer.c) when it drains or is overloaded.
 * Worker 0 also runs the active health checks of every upstream (health.c),
 * whose verdicts all workers' balancers read.
 *
 * Objects closed while a batch of epoll events is being handled are parked
 * (fd -1) until the batch ends, so a later event in the same batch never
 * touches freed memory.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "core.h"
#include "cpus.h"
#include "offload.h"
#include "server.h"
#include "snapshot.h"
#include "steer.h"
#include "accesslog.h"
#include "metrics.h"
#include "health.h"
#include "tls.h"
#include "plugin.h"

#define MAX_EVENTS 256
#define ACCEPTS_PER_TURN 64
/* Free lists keep what a busy moment needs again soon (up to FREE_BUFS_KEPT),
 * and shrink to FREE_KEPT_IDLE once a second, handing the memory back to
 * the kernel (malloc_trim), so a burst does not stay resident for good. */
#define FREE_BUFS_KEPT 256
#define FREE_KEPT_IDLE 16

struct weir_server weir_server;

uint64_t weir_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t weir_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- buffers ------------------------------------------------------------- */

struct weir_buf *weir_buf_get(struct weir_worker *w)
{
	struct weir_buf *b = w->free_bufs;

	if (b) {
		w->free_bufs = b->next;
		w->n_free_bufs--;
	} else if (!(b = malloc(sizeof(*b) + w->buf_size))) {
		return NULL;
	}
	b->next = NULL;
	b->start = b->end = 0;
	b->cap = w->buf_size;
	return b;
}

void weir_buf_put(struct weir_worker *w, struct weir_buf *b)
{
	if (w->n_free_bufs >= FREE_BUFS_KEPT) {
		free(b);
		return;
	}
	b->next = w->free_bufs;
	w->free_bufs = b;
	w->n_free_bufs++;
}

/* Frees recycled buffers past `keep`; returns bytes freed. */
static size_t bufs_shrink(struct weir_worker *w, uint32_t keep)
{
	size_t freed = 0;

	while (w->n_free_bufs > keep) {
		struct weir_buf *b = w->free_bufs;
		w->free_bufs = b->next;
		w->n_free_bufs--;
		freed += b->cap;
		free(b);
	}
	return freed;
}

uint32_t weir_buf_compact(struct weir_buf *b)
{
	uint32_t d = b->start;

	if (!d)
		return 0;
	memmove(b->data, b->data + d, b->end - d);
	b->end -= d;
	b->start = 0;
	return d;
}

int weir_buf_status_line(struct weir_buf *b, unsigned status, const char *reason,
			 size_t reason_len)
{
	char line[13] = "HTTP/1.1 000 ";

	line[9] = (char)('0' + status / 100 % 10);
	line[10] = (char)('0' + status / 10 % 10);
	line[11] = (char)('0' + status % 10);
	weir_buf_append(b, line, sizeof(line));
	weir_buf_append(b, reason, reason_len);
	return weir_buf_append(b, "\r\n", 2);
}

int weir_buf_field_u64(struct weir_buf *b, const char *name, size_t name_len, uint64_t v)
{
	char num[24], *d = num + sizeof(num);

	*--d = '\n';
	*--d = '\r';
	do
		*--d = (char)('0' + v % 10);
	while (v /= 10);
	*--d = ' ';
	*--d = ':';
	weir_buf_append(b, name, name_len);
	return weir_buf_append(b, d, (size_t)(num + sizeof(num) - d));
}

int weir_buf_printf(struct weir_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->data + b->end, b->cap - b->end, fmt, ap);
	va_end(ap);
	if (n < 0 || (uint32_t)n >= b->cap - b->end) {
		b->end = b->cap;
		return -1;
	}
	b->end += (uint32_t)n;
	return 0;
}

/* ---- timers ---------------------------------------------------------------- */

static void heap_swap(struct weir_worker *w, uint32_t a, uint32_t b)
{
	struct weir_timer *t = w->heap[a];

	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->heap[a]->slot = a + 1;
	w->heap[b]->slot = b + 1;
}

static void heap_up(struct weir_worker *w, uint32_t i)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (w->heap[p]->key <= w->heap[i]->key)
			break;
		heap_swap(w, p, i);
		i = p;
	}
}

static void heap_down(struct weir_worker *w, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->heap_len && w->heap[l]->key < w->heap[m]->key)
			m = l;
		if (r < w->heap_len && w->heap[r]->key < w->heap[m]->key)
			m = r;
		if (m == i)
			break;
		heap_swap(w, i, m);
		i = m;
	}
}

static void heap_remove(struct weir_worker *w, struct weir_timer *t)
{
	uint32_t i = t->slot - 1;

	t->slot = 0;
	w->heap_len--;
	if (i == w->heap_len)
		return;
	w->heap[i] = w->heap[w->heap_len];
	w->heap[i]->slot = i + 1;
	heap_up(w, i);
	heap_down(w, w->heap[i]->slot - 1);
}

void weir_timer_set(struct weir_worker *w, struct weir_timer *t, uint64_t due)
{
	t->due = due;
	if (t->slot) {
		if (due >= t->key)
			return;		/* re-filed lazily when the old key comes up */
		t->key = due;
		heap_up(w, t->slot - 1);
		return;
	}
	if (w->heap_len == w->heap_cap) {
		uint32_t cap = w->heap_cap ? w->heap_cap * 2 : 1024;
		struct weir_timer **h = realloc(w->heap, cap * sizeof(*h));
		if (!h)
			return;		/* the object then lives without a deadline */
		w->heap = h;
		w->heap_cap = cap;
	}
	t->key = due;
	w->heap[w->heap_len] = t;
	t->slot = ++w->heap_len;
	heap_up(w, t->slot - 1);
}

void weir_timer_stop(struct weir_worker *w, struct weir_timer *t)
{
	t->due = 0;
	if (t->slot)
		heap_remove(w, t);
}

int weir_timers_run(struct weir_worker *w)
{
	while (w->heap_len) {
		struct weir_timer *t = w->heap[0];
		if (t->key > w->now) {
			uint64_t d = t->key - w->now;
			return d > 1000 ? 1000 : (int)d;
		}
		if (t->due > w->now) {
			t->key = t->due;
			heap_down(w, 0);
			continue;
		}
		heap_remove(w, t);
		t->due = 0;
		t->fire(w, t);
	}
	return 1000;
}

/* ---- epoll ------------------------------------------------------------------ */

int weir_io_add(struct weir_worker *w, struct weir_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

/* ---- snapshots ---------------------------------------------------------------- */

void weir_worker_snap_hold(struct weir_worker *w, struct weir_snapshot *s)
{
	for (uint32_t i = 0; i < w->n_refs; i++)
		if (w->refs[i].snap == s) {
			w->refs[i].inflight++;
			return;
		}
	if (w->n_refs == sizeof(w->refs) / sizeof(w->refs[0])) {
		/* Many reloads while one request lingers: count it globally. */
		weir_snapshot_hold(s);
		return;
	}
	weir_snapshot_hold(s);
	w->refs[w->n_refs++] = (struct weir_snap_ref){ s, 1 };
}

void weir_worker_snap_release(struct weir_worker *w, struct weir_snapshot *s)
{
	for (uint32_t i = 0; i < w->n_refs; i++)
		if (w->refs[i].snap == s) {
			if (--w->refs[i].inflight == 0) {
				w->refs[i] = w->refs[--w->n_refs];
				weir_snapshot_put(s);
			}
			return;
		}
	weir_snapshot_put(s);
}

/* Registers the listening sockets of w->snap that are not yet in epoll, and
 * drops those it no longer has (the main thread closes them later). Events
 * of this batch may still point at the old entries: they are marked dead
 * (fd -1) and the old array is freed after the batch (weir_worker_reap). */
static void listeners_sync(struct weir_worker *w, bool none)
{
	struct weir_snapshot *s = w->snap;
	uint32_t n = none ? 0 : s->n_listen, same = 0;
	struct weir_listen_fd *keep;

	/* a snapshot derived by a route change has the same sockets */
	while (same < n && n == w->n_listen &&
	       w->listen[same].io.fd == s->listen_fds[same * s->n_workers + w->id])
		same++;
	if (n && same == n)
		return;
	if (!(keep = calloc(n ? n : 1, sizeof(*keep))))
		return;
	for (uint32_t k = 0; k < w->n_listen; k++) {
		if (w->listen[k].io.fd >= 0)
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen[k].io.fd, NULL);
		w->listen[k].io.fd = -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		keep[i].io.kind = WEIR_IO_LISTENER;
		keep[i].io.fd = s->listen_fds[i * s->n_workers + w->id];
		keep[i].index = i;
		weir_io_add(w, &keep[i].io, EPOLLIN);
	}
	free(w->old_listen);
	w->old_listen = w->listen;
	w->listen = keep;
	w->n_listen = n;
}

/* Passive health outlives a reload: each worker copies its own state of an
 * upstream that keeps its name, matching nodes by address. */
static void health_carry(struct weir_worker *w, struct weir_snapshot *to,
			 const struct weir_snapshot *from)
{
	for (size_t i = 0; i < to->n_upstreams; i++)
		for (size_t k = 0; k < from->n_upstreams; k++) {
			const struct weir_upstream *a = &to->upstreams[i], *b = &from->upstreams[k];
			if (strcmp(a->conf->name, b->conf->name))
				continue;
			weir_lb_state_carry(a->lb, a->states[w->id], b->lb, b->states[w->id]);
			break;
		}
}

static void snapshot_switch(struct weir_worker *w)
{
	uint64_t v = atomic_load_explicit(&weir_server.version, memory_order_acquire);

	if (v == w->seen_version)
		return;
	struct weir_snapshot *s = atomic_load_explicit(&weir_server.snap, memory_order_acquire);
	if (s != w->snap) {
		struct weir_snapshot *old = w->snap;
		/* a snapshot derived by a route change shares the upstreams */
		bool same = old && old->upstreams == s->upstreams;
		if (old && !same)
			health_carry(w, s, old);
		/* worker 0 runs the active health checks of all workers */
		if (w->id == 0 && !w->stopping && !same && weir_health_switch(w, s, old) < 0)
			fprintf(stderr, "weir: health checks: out of memory, probes stopped\n");
		weir_worker_snap_hold(w, s);
		w->snap = s;
		if (old)
			weir_worker_snap_release(w, old);
		if (!w->stopping)
			listeners_sync(w, false);
	}
	w->seen_version = v;
	atomic_store_explicit(&w->acked_version, v, memory_order_release);
}

/* ---- steering ---------------------------------------------------------------- */

/* A worker is overloaded from 7/8 of max_connections on: the steering
 * program then gives new connections to workers with room, before this one
 * reaches the limit where it would have to refuse them. It is ready again
 * under 3/4, so a worker near the line does not write the map (a cache line
 * it shares with other workers' states) at each accept and close. `clients`
 * counts the connection being accepted, so the state is in the map before
 * that connection can be answered. */
static void steer_update(struct weir_worker *w, uint32_t clients)
{
	uint32_t max = w->snap->conf->max_connections;
	uint8_t s;

	if (w->stopping)
		return;		/* draining is for good */
	if (w->steer == WEIR_STEER_OVERLOADED)
		s = clients < max - max / 4 ? WEIR_STEER_READY : WEIR_STEER_OVERLOADED;
	else
		s = clients >= max - max / 8 ? WEIR_STEER_OVERLOADED : WEIR_STEER_READY;
	if (s != w->steer) {
		w->steer = s;
		weir_steer_worker_set(w->id, s);
	}
}

/* ---- the loop ------------------------------------------------------------------ */

static void accept_some(struct weir_worker *w, struct weir_listen_fd *l)
{
	for (int i = 0; i < ACCEPTS_PER_TURN; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;		/* EAGAIN, or a transient error: next event */
		if (w->n_clients >= w->snap->conf->max_connections) {
			close(fd);
			continue;
		}
		steer_update(w, w->n_clients + 1);
		weir_client_accept(w, fd, (struct sockaddr *)&ss, l->index);
	}
}

/* The steering program stops picking this worker first; connections already
 * in its accept queue are moved to the listeners that stay when the main
 * thread closes the sockets (see bpf/weir_steer.bpf.c). A connection
 * accepted but not yet answered is served (with Connection: close): its
 * client has sent, or is about to send, a request it expects an answer to. */
static void begin_stop(struct weir_worker *w, uint64_t deadline)
{
	w->stopping = true;
	w->stop_deadline = deadline;
	w->steer = WEIR_STEER_DRAINING;
	weir_steer_worker_set(w->id, WEIR_STEER_DRAINING);
	listeners_sync(w, true);
	weir_health_stop(w);
	atomic_store(&w->accept_stopped, true);
	weir_pools_close(w);
	/* Idle keepalive connections go now; busy and fresh ones after their
	 * answer (a fresh one that never sends is closed by client_header). */
	for (struct weir_client *c = w->clients, *next; c; c = next) {
		next = c->next;
		c->draining = 1;
		if (c->state == WEIR_CLIENT_IDLE && !c->fresh &&
		    (!c->in || c->in->end == c->in->start))
			weir_client_close(c);
	}
}

static void free_lists_shrink(struct weir_worker *w)
{
	size_t freed = 0;

	w->next_shrink = w->now + 1000;
	freed += bufs_shrink(w, FREE_KEPT_IDLE);
	freed += weir_req_pool_shrink(w, FREE_KEPT_IDLE);
	if (freed >= 1 << 20)
		malloc_trim(0);
}

static void *worker_main(void *arg)
{
	struct weir_worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	w->now_us = weir_now_us();
	w->now = w->now_us / 1000;
	snapshot_switch(w);
	for (;;) {
		int timeout = weir_log_wait(w, weir_timers_run(w));
		int n = epoll_wait(w->epfd, evs, MAX_EVENTS, w->again ? 0 : timeout);
		w->now_us = weir_now_us();
		w->now = w->now_us / 1000;
		for (int i = 0; i < n; i++) {
			struct weir_io *io = evs[i].data.ptr;
			uint32_t e = evs[i].events;

			if (io->fd < 0)
				continue;
			if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				io->readable = 1;
			if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				io->rdhup = 1;
			if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
				io->writable = 1;
			if (io->tls_rw)
				weir_tls_cross(io, io->readable, io->writable);
			switch (io->kind) {
			case WEIR_IO_LISTENER:
				if (!w->stopping)
					accept_some(w, (struct weir_listen_fd *)io);
				break;
			case WEIR_IO_CLIENT:
				weir_client_event((struct weir_client *)io, e);
				break;
			case WEIR_IO_UPSTREAM:
				weir_upconn_event((struct weir_upconn *)io, e);
				break;
			case WEIR_IO_PROBE:
				weir_probe_event((struct weir_probe *)io, e);
				break;
			case WEIR_IO_HANDLER:
				((struct weir_io_handler *)io)->event((struct weir_io_handler *)io, e);
				break;
			case WEIR_IO_EVENT: {
				uint64_t v;
				if (read(io->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					break;
				weir_offload_drain(w);	/* results of offloaded work */
				snapshot_switch(w);
				if (atomic_load(&weir_server.stop) && !w->stopping)
					begin_stop(w, w->now + w->snap->conf->shutdown_timeout_ms);
				break;
			}
			}
		}
		/* Clients that used up their share last turn (before the reap:
		 * one closed since is parked, fd -1, not yet reused). */
		struct weir_client *again = w->again;
		w->again = NULL;
		for (struct weir_client *c = again, *next; c; c = next) {
			next = c->again_next;
			c->again = 0;
			if (c->io.fd >= 0)
				weir_client_event(c, 0);
		}
		weir_worker_reap(w);
		if (w->steer == WEIR_STEER_OVERLOADED)
			steer_update(w, w->n_clients);
		weir_log_flush(w, false);
		if (w->now >= w->next_shrink)
			free_lists_shrink(w);
		if (w->stopping) {
			if (!w->n_clients)
				break;
			if (w->now >= w->stop_deadline) {
				while (w->clients)
					weir_client_close(w->clients);
				weir_worker_reap(w);
				break;
			}
		}
	}
	weir_pools_close(w);
	weir_health_stop(w);
	weir_offload_worker_end(w);	/* every client is gone: its jobs are cancelled */
	weir_plugins_worker_end(w);	/* plugins' per-worker state (plugin.h) */
	weir_worker_reap(w);
	weir_log_flush(w, true);
	return NULL;
}

/* Frees what was closed during the last batch of events. */
void weir_worker_reap(struct weir_worker *w)
{
	free(w->old_listen);
	w->old_listen = NULL;
	weir_health_reap(w);
	weir_plugins_worker_reap(w);
	while (w->dead_ups) {
		struct weir_upconn *u = w->dead_ups;
		w->dead_ups = u->next;
		free(u);
	}
	while (w->dead_clients) {
		struct weir_client *c = w->dead_clients;
		w->dead_clients = c->next;
		c->next = w->free_clients;
		w->free_clients = c;
	}
}

int weir_workers_start(uint32_t n, struct weir_snapshot *first, uint32_t buf_size)
{
	weir_server.n_workers = n;
	weir_server.buf_size = buf_size;
	weir_server.workers = calloc(n, sizeof(struct weir_worker));
	if (!weir_server.workers)
		return -ENOMEM;
	atomic_store(&weir_server.snap, first);
	atomic_store(&weir_server.version, 1);
	for (uint32_t i = 0; i < n; i++) {
		struct weir_worker *w = &weir_server.workers[i];
		w->id = i;
		w->buf_size = buf_size;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->event.kind = WEIR_IO_EVENT;
		w->event.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		w->log = weir_log_worker_new();
		if (w->epfd < 0 || w->event.fd < 0 || !w->log)
			return -errno;
		if (weir_io_add(w, &w->event, EPOLLIN) < 0)
			return -errno;
	}
	for (uint32_t i = 0; i < n; i++) {
		pthread_attr_t attr;
		char name[16];
		int err = pthread_attr_init(&attr);

		if (err)
			return -err;
		if (!(err = weir_cpus_worker_attr(i, &attr)))
			err = pthread_create(&weir_server.workers[i].thread, &attr, worker_main,
					     &weir_server.workers[i]);
		pthread_attr_destroy(&attr);
		if (err)
			return -err;
		snprintf(name, sizeof(name), "weir-w%u", (uint16_t)i);
		pthread_setname_np(weir_server.workers[i].thread, name);
	}
	return 0;
}

static void poke_all(void)
{
	uint64_t one = 1;

	for (uint32_t i = 0; i < weir_server.n_workers; i++)
		if (write(weir_server.workers[i].event.fd, &one, sizeof(one)) < 0)
			perror("weir: eventfd");
}

struct weir_snapshot *weir_workers_publish(struct weir_snapshot *s, bool wait)
{
	struct weir_snapshot *old = atomic_exchange(&weir_server.snap, s);
	uint64_t v = atomic_fetch_add(&weir_server.version, 1) + 1;

	poke_all();
	for (uint32_t i = 0; wait && i < weir_server.n_workers; i++)
		while (atomic_load_explicit(&weir_server.workers[i].acked_version,
					    memory_order_acquire) < v)
			usleep(1000);
	return old;
}

void weir_workers_stop(uint32_t deadline_ms)
{
	atomic_store(&weir_server.stop, true);
	poke_all();
}

void weir_workers_join(void)
{
	for (uint32_t i = 0; i < weir_server.n_workers; i++) {
		struct weir_worker *w = &weir_server.workers[i];
		pthread_join(w->thread, NULL);
		if (w->snap)
			weir_worker_snap_release(w, w->snap);
		bufs_shrink(w, 0);
		weir_req_pool_shrink(w, 0);
		while (w->free_clients) {
			struct weir_client *c = w->free_clients;
			w->free_clients = c->next;
			free(c);
		}
		free(w->pools);
		free(w->heap);
		free(w->listen);
		weir_log_worker_free(w->log);
		close(w->epfd);
		close(w->event.fd);
	}
	free(weir_server.workers);
	weir_server.workers = NULL;
}
