/* userspace/main.c - the weir daemon's entry point: the command line, the
 * listener table, and the main thread's signal loop (reload on SIGHUP,
 * graceful stop on SIGTERM/SIGINT/SIGQUIT, log reopen on SIGUSR1).
 *
 *   weir -c FILE [--workers N]     serve with a configuration file
 *   weir --check FILE              validate a configuration, start nothing
 *   weir proxy --from ADDR:PORT --to ADDR:PORT [--workers N] [--access-log PATH]
 *
 * Reload is the same path as start: read the file, validate it, build a
 * snapshot, bind any new listeners; only when all of that worked is the
 * snapshot published. A failure leaves the running configuration in place
 * and says why on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "config.h"
#include "core.h"
#include "cpus.h"
#include "server.h"
#include "tls.h"
#include "snapshot.h"
#include "steer.h"
#include "accesslog.h"
#include "metrics.h"
#include "health.h"
#include "ban.h"
#include "offload.h"
#include "admin.h"

#define MAX_LISTENERS 64
_Static_assert(MAX_LISTENERS <= WEIR_STEER_MAX_LISTENERS, "a steering slot per listener");

/* Listening sockets by address, one per worker, kept across reloads so a
 * listener that stays never stops accepting. */
struct listener {
	struct weir_addr addr;
	int *fds;
	int steer_slot;			/* in the steering program, or -1 */
	bool used;			/* by the snapshot being prepared */
};

static struct listener listeners[MAX_LISTENERS];
static uint32_t n_listeners;
static uint32_t n_workers;
static enum weir_steering steering;	/* as started: a reload does not change it */

/* Taken around every build-and-publish: a SIGHUP here and a change through
 * the admin API on its thread go live one at a time, each on top of the
 * other. `base` is the text of the configuration file that went live last:
 * the admin API's changes are built on its server settings. */
static pthread_mutex_t apply_lock = PTHREAD_MUTEX_INITIALIZER;
static bool admin_on;			/* the admin API runs (read at start) */
static char *base_text;
static size_t base_len;
static const char *base_file;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: weir -c FILE [--workers N]\n"
		"       weir --check FILE\n"
		"       weir proxy --from ADDR:PORT --to ADDR:PORT [--workers N] [--access-log PATH|-]\n"
		"\n"
		"  -c, --config FILE    serve with this configuration (YAML)\n"
		"      --check FILE     validate FILE and exit: 0 when good\n"
		"  -w, --workers N      worker threads (default: the config's, else one per CPU)\n"
		"\n"
		"Signals: HUP reloads FILE, TERM/INT/QUIT stop gracefully, USR1 reopens the log.\n");
}

static int listener_open(const struct weir_addr *a, int backlog, int *fds, char *err,
			 size_t errlen)
{
	int one = 1;

	for (uint32_t k = 0; k < n_workers; k++) {
		int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		fds[k] = fd;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
			goto fail;
		if (a->sa.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0 ||
		    listen(fd, backlog) < 0)
			goto fail;
		continue;
fail:
		snprintf(err, errlen, "listen %s: %s", a->text, strerror(errno));
		for (uint32_t j = 0; j <= k; j++)
			if (fds[j] > 0)
				close(fds[j]);
		return -1;
	}
	return 0;
}

/* Gives the snapshot its listening sockets, opening those it adds. On
 * failure the sockets opened here are closed and nothing else changes. */
static int listeners_prepare(struct weir_snapshot *s, char *err, size_t errlen)
{
	const struct weir_config *c = s->conf;
	uint32_t first_new = n_listeners;

	if (c->n_listeners > MAX_LISTENERS) {
		snprintf(err, errlen, "at most %d listeners", MAX_LISTENERS);
		return -1;
	}
	s->listen_fds = calloc(c->n_listeners * n_workers + 1, sizeof(int));
	if (!s->listen_fds) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->n_listen = (uint32_t)c->n_listeners;
	for (uint32_t i = 0; i < n_listeners; i++)
		listeners[i].used = false;
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct weir_addr *a = &c->listeners[i].addr;
		struct listener *l = NULL;
		for (uint32_t k = 0; k < n_listeners; k++)
			if (listeners[k].addr.len == a->len &&
			    !memcmp(&listeners[k].addr.sa, &a->sa, a->len))
				l = &listeners[k];
		if (!l) {
			if (n_listeners == MAX_LISTENERS) {
				snprintf(err, errlen, "at most %d listeners", MAX_LISTENERS);
				goto fail;
			}
			l = &listeners[n_listeners];
			l->fds = calloc(n_workers, sizeof(int));
			if (!l->fds) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			if (listener_open(a, c->listeners[i].backlog, l->fds, err, errlen) < 0) {
				free(l->fds);
				l->fds = NULL;
				goto fail;
			}
			l->addr = *a;
			l->steer_slot = weir_steer_listener_add(a, l->fds);
			n_listeners++;
		}
		l->used = true;
		memcpy(&s->listen_fds[i * n_workers], l->fds, n_workers * sizeof(int));
	}
	return 0;
fail:
	while (n_listeners > first_new) {
		struct listener *l = &listeners[--n_listeners];
		for (uint32_t k = 0; k < n_workers; k++)
			close(l->fds[k]);
		weir_steer_listener_del(l->steer_slot);
		free(l->fds);
	}
	return -1;
}

/* Closes the listeners the published snapshot no longer has (the workers
 * have dropped them from their epoll sets by now). */
static void listeners_retire(bool all)
{
	uint32_t keep = 0;

	for (uint32_t i = 0; i < n_listeners; i++) {
		if (listeners[i].used && !all) {
			listeners[keep++] = listeners[i];
			continue;
		}
		for (uint32_t k = 0; k < n_workers; k++)
			close(listeners[i].fds[k]);
		weir_steer_listener_del(listeners[i].steer_slot);
		free(listeners[i].fds);
	}
	n_listeners = keep;
}

static int load(const char *file, const char *from, const char *to, uint32_t workers,
		struct weir_config **out, char *err, size_t errlen)
{
	if (file)
		return weir_config_load(file, out, err, errlen);
	return weir_config_quick(from, to, workers, out, err, errlen);
}

static uint32_t buf_size_for(const struct weir_config *c)
{
	/* The head, and room behind it for a body window: a head that filled
	 * the buffer would leave the body nowhere to go. */
	uint32_t need = c->max_header_size + 4096;

	if (need < 16384)
		need = 16384;
	return (need + 4095) & ~4095u;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A configuration from the file's text, with the resources of `res` (the
 * admin API's document) in place of the file's when res is given. */
static int build_conf(const char *file, const char *text, size_t len, const json_t *res,
		      struct weir_config **out, char *err, size_t errlen)
{
	struct weir_config *c, *r;

	if (weir_config_parse(file, text, len, &c, err, errlen) < 0)
		return -1;
	if (res) {
		if (weir_config_from_resources(res, &r, err, errlen) < 0) {
			weir_config_free(c);
			return -1;
		}
		weir_config_swap_resources(c, r);
		weir_config_free(r);
	}
	if (!(c->file = strdup(file))) {
		snprintf(err, errlen, "out of memory");
		weir_config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

/* Publishes a built snapshot (taking it): its listeners, its access log
 * (with `log`: a reload's; the admin API's changes keep the file's), the
 * health verdicts carried over, one atomic store. On failure nothing
 * changed. */
static int publish(struct weir_snapshot *s, bool log, char *err, size_t errlen)
{
	char why[512];

	if (listeners_prepare(s, err, errlen) < 0) {
		weir_snapshot_put(s);
		return -1;
	}
	if (log && weir_log_configure(s->conf, why, sizeof(why)) < 0)
		fprintf(stderr, "weir: reload: %s (the log stays where it was)\n", why);
	weir_health_carry(s, atomic_load(&weir_server.snap));
	weir_snapshot_commit(s, atomic_load(&weir_server.snap));
	weir_metrics_lock();
	struct weir_snapshot *old = weir_workers_publish(s, true);
	weir_metrics_unlock();
	listeners_retire(false);
	weir_snapshot_put(old);
	return 0;
}

/* The admin API's apply hook (admin.h), called with apply_lock held. */
static int admin_apply(const json_t *res, char *err, size_t errlen)
{
	struct weir_config *conf;
	struct weir_snapshot *s;

	if (build_conf(base_file, base_text, base_len, res, &conf, err, errlen) < 0 ||
	    weir_snapshot_build(conf, n_workers, &s, err, errlen) < 0 ||
	    publish(s, false, err, errlen) < 0) {
		weir_metrics_reloaded(false);
		return -1;
	}
	weir_metrics_reloaded(true);
	weir_snapshot_index_warm(atomic_load(&weir_server.snap));
	return 0;
}

/* ---- one route at a time ----------------------------------------------------
 *
 * A route changed through the admin API derives the next snapshot from the
 * current one (snapshot.h): no full build, and no wait for the workers,
 * whose listeners do not change. The fold thread makes the layers one
 * router again, off the apply lock, once changes pause for FOLD_QUIET_MS or
 * the delta reaches FOLD_DELTA routes, and takes at most a tenth of a core
 * for it (a fold at 100k routes is a few hundred ms).
 *
 * A change wakes no thread but the workers. The fold thread, once it has a
 * change to wait on, sleeps until FOLD_QUIET_MS after the change it knows
 * of and then looks again; it is woken early only for a delta at
 * FOLD_DELTA. The snapshots the workers let go wait for it in batches of
 * REAP_BATCH (or until its next wake: FOLD_QUIET_MS after the last change,
 * later only while a fold at 100k routes is throttled), so that
 * a stream of changes does not wake it, on a core a worker may be using,
 * once per change and once per release. */

#define FOLD_QUIET_MS 200
#define FOLD_DELTA 128
#define REAP_BATCH 4

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop, stopped, pending;
	size_t delta;
	struct timespec last;		/* of the last change (CLOCK_MONOTONIC) */
	struct weir_snapshot *reap;	/* to free */
	unsigned n_reap;
} fold = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Publishes s, derived from the current snapshot, with apply_lock held. */
static int publish_derived(struct weir_snapshot *s, char *err, size_t errlen)
{
	struct weir_snapshot *cur = atomic_load(&weir_server.snap), *old;

	if (!(s->listen_fds = malloc((cur->n_listen * n_workers + 1) * sizeof(int)))) {
		weir_snapshot_put(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(s->listen_fds, cur->listen_fds, cur->n_listen * n_workers * sizeof(int));
	s->n_listen = cur->n_listen;
	weir_snapshot_commit(s, cur);
	weir_metrics_lock();
	old = weir_workers_publish(s, false);
	weir_metrics_unlock();
	weir_snapshot_put(old);
	return 0;
}

static void fold_kick(size_t delta)
{
	pthread_mutex_lock(&fold.lock);
	/* pending: it is asleep until a time it will look again at */
	bool wake = !fold.pending || (delta >= FOLD_DELTA && fold.delta < FOLD_DELTA);
	fold.pending = true;
	fold.delta = delta;
	clock_gettime(CLOCK_MONOTONIC, &fold.last);
	if (wake)
		pthread_cond_signal(&fold.cond);
	pthread_mutex_unlock(&fold.lock);
}

static void fold_once(void)
{
	struct weir_snapshot *from, *cur, *s;
	struct weir_base *b;
	char err[512];
	int rc;

	pthread_mutex_lock(&apply_lock);
	from = atomic_load(&weir_server.snap);
	bool worth = weir_snapshot_foldable(from);
	if (worth)
		weir_snapshot_hold(from);
	pthread_mutex_unlock(&apply_lock);
	if (!worth)
		return;
	b = weir_snapshot_fold_base(from, err, sizeof(err));
	if (b) {
		pthread_mutex_lock(&apply_lock);
		cur = atomic_load(&weir_server.snap);
		rc = weir_snapshot_refold(cur, from, b, &s, err, sizeof(err));
		if (rc == 0)
			rc = publish_derived(s, err, sizeof(err));
		pthread_mutex_unlock(&apply_lock);
	}
	if (!b || rc < 0)
		fprintf(stderr, "weir: folding route changes: %s (matching stays layered)\n", err);
	weir_snapshot_put(from);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The fold thread is also where snapshots are freed (weir_snapshot_put
 * hands them over): a worker never pays for freeing a snapshot, a base
 * router of 100k routes, or the routes a change retired. */
static void fold_reap(struct weir_snapshot *s)
{
	pthread_mutex_lock(&fold.lock);
	if (fold.stopped) {	/* a put that raced fold_stop */
		pthread_mutex_unlock(&fold.lock);
		weir_snapshot_free(s);
		return;
	}
	s->reap_next = fold.reap;
	fold.reap = s;
	/* with nothing pending it sleeps until woken: wake it now */
	if (++fold.n_reap >= REAP_BATCH || !fold.pending)
		pthread_cond_signal(&fold.cond);
	pthread_mutex_unlock(&fold.lock);
}

/* Frees the reaper's list, with fold.lock held (and let go meanwhile). */
static void reap_all(void)
{
	while (fold.reap) {
		struct weir_snapshot *r = fold.reap;
		fold.reap = NULL;
		fold.n_reap = 0;
		pthread_mutex_unlock(&fold.lock);
		while (r) {
			struct weir_snapshot *n = r->reap_next;
			weir_snapshot_free(r);
			r = n;
		}
		pthread_mutex_lock(&fold.lock);
	}
}

static void *fold_main(void *arg)
{
	uint64_t next_ok = 0;	/* no fold before: a tenth of a core at most */

	(void)arg;
	pthread_mutex_lock(&fold.lock);
	for (;;) {
		reap_all();
		if (fold.stop)
			break;
		/* when changes pause, or at once when the delta has grown */
		uint64_t now = mono_ns(), at = (uint64_t)fold.last.tv_sec * 1000000000u +
			(uint64_t)fold.last.tv_nsec + FOLD_QUIET_MS * 1000000u;
		if (fold.delta >= FOLD_DELTA)
			at = now;
		if (at < next_ok)
			at = next_ok;
		if (fold.pending && now >= at) {
			fold.pending = false;
			pthread_mutex_unlock(&fold.lock);
			fold_once();
			uint64_t done = mono_ns();
			next_ok = done + 9 * (done - now);
			pthread_mutex_lock(&fold.lock);
			continue;
		}
		if (!fold.pending) {
			pthread_cond_wait(&fold.cond, &fold.lock);
		} else {
			struct timespec until = { (time_t)(at / 1000000000u), (long)(at % 1000000000u) };
			pthread_cond_timedwait(&fold.cond, &fold.lock, &until);
		}
	}
	pthread_mutex_unlock(&fold.lock);
	return NULL;
}

static int fold_start(void)
{
	pthread_condattr_t a;
	int rc;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&fold.cond, &a);
	pthread_condattr_destroy(&a);
	if (rc || (rc = pthread_create(&fold.thread, NULL, fold_main, NULL)))
		return -rc;
	pthread_setname_np(fold.thread, "weir-fold");
	fold.started = true;
	weir_snapshot_reaper(fold_reap);
	return 0;
}

static void fold_stop(void)
{
	if (!fold.started)
		return;
	weir_snapshot_reaper(NULL);	/* from now on the last holder frees */
	pthread_mutex_lock(&fold.lock);
	fold.stop = true;
	pthread_cond_signal(&fold.cond);
	pthread_mutex_unlock(&fold.lock);
	pthread_join(fold.thread, NULL);
	fold.started = false;
	pthread_mutex_lock(&fold.lock);
	fold.stopped = true;
	reap_all();
	pthread_mutex_unlock(&fold.lock);
}

/* The admin API's hook for one route (admin.h), with apply_lock held. */
static int admin_route(const char *id, const json_t *one, char *err, size_t errlen)
{
	struct weir_config *c = NULL;
	struct weir_snapshot *s;
	int rc;

	if (one && weir_config_from_resources(one, &c, err, errlen) < 0) {
		weir_metrics_reloaded(false);
		return -1;
	}
	rc = weir_snapshot_change(atomic_load(&weir_server.snap), id, c, &s, err, errlen);
	if (rc == 0)
		rc = publish_derived(s, err, errlen);
	if (rc < 0) {
		weir_metrics_reloaded(false);
		return -1;
	}
	if (rc == 0) {
		weir_metrics_reloaded(true);
		fold_kick(s->n_delta);
	}
	return rc;
}

static void apply_lock_take(void)
{
	pthread_mutex_lock(&apply_lock);
}

static void apply_lock_drop(void)
{
	pthread_mutex_unlock(&apply_lock);
}

static const struct weir_admin_hooks admin_hooks = {
	admin_apply, admin_route, apply_lock_take, apply_lock_drop
};

/* SIGHUP: the file again, for everything but the resources the admin API
 * has saved (README: Admin API, Persistence). */
static int reload_locked(const char *file, const char *from, const char *to,
			 uint32_t workers_opt)
{
	struct weir_config *conf;
	struct weir_snapshot *s;
	const json_t *res = file ? weir_admin_resources() : NULL;
	char err[512], *text = NULL;
	size_t len = 0;

	if ((file ? weir_config_read(file, &text, &len, err, sizeof(err)) < 0 ||
		    build_conf(file, text, len, res, &conf, err, sizeof(err)) < 0 :
		    load(file, from, to, workers_opt, &conf, err, sizeof(err)) < 0) ||
	    weir_snapshot_build(conf, n_workers, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir: reload failed, configuration unchanged: %s\n", err);
		weir_metrics_reloaded(false);
		free(text);
		return -1;
	}
	if (buf_size_for(s->conf) > weir_server.buf_size)
		fprintf(stderr, "weir: limits.max_header_size above %u takes effect at restart\n",
			weir_server.buf_size - 4096);
	if (s->conf->steering != steering)
		fprintf(stderr, "weir: steering takes effect at restart\n");
	if (weir_metrics_changed(s->conf))
		fprintf(stderr, "weir: metrics settings take effect at restart\n");
	if (weir_admin_changed(s->conf))
		fprintf(stderr, "weir: admin settings take effect at restart\n");
	if (weir_cpus_changed(s->conf)) {
		char why[256];
		if (weir_cpus_check(s->conf, why, sizeof(why)) < 0)
			fprintf(stderr, "weir: cpus take effect at restart, where these would stop "
				"weir: %s\n", why);
		else
			fprintf(stderr, "weir: cpus take effect at restart\n");
	}
	json_t *seed = res ? NULL : json_incref(s->conf->resources);
	size_t n_routes = s->n_routes, n_ups = s->n_upstreams, n_lst = s->conf->n_listeners;
	if (publish(s, true, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir: reload failed, configuration unchanged: %s\n", err);
		weir_metrics_reloaded(false);
		json_decref(seed);
		free(text);
		return -1;
	}
	weir_metrics_reloaded(true);
	if (admin_on)		/* as at start: admin: changes at restart */
		weir_snapshot_index_warm(s);
	if (weir_ban_apply(s->conf) < 0)
		fprintf(stderr, "weir: reload: ban: cannot start the writer\n");
	if (text) {
		free(base_text);
		base_text = text;
		base_len = len;
	}
	weir_admin_reseed(seed);
	json_decref(seed);
	fprintf(stderr, "weir: reloaded %s%s: %zu routes, %zu upstreams, %zu listeners\n",
		file ? file : "(quick mode)",
		res ? " (routes, upstreams and plugins from the admin state file)" : "",
		n_routes, n_ups, n_lst);
	return 0;
}

static int reload(const char *file, const char *from, const char *to, uint32_t workers_opt)
{
	pthread_mutex_lock(&apply_lock);
	int rc = reload_locked(file, from, to, workers_opt);
	pthread_mutex_unlock(&apply_lock);
	return rc;
}

/* A state file whose resources do not validate stops weir, saying which
 * field of which file is wrong; conf (when given) and state are let go.
 * Returns main's exit status. */
static int state_error(struct weir_config *conf, json_t *state, const char *err)
{
	char field[256], reason[384];

	weir_admin_field(err, state, field, sizeof(field), reason, sizeof(reason));
	fprintf(stderr, "weir: state file %s: %s%s%s (fix or remove it)\n",
		weir_admin_state_file(), field, field[0] ? ": " : "", reason);
	weir_config_free(conf);
	json_decref(state);
	weir_admin_stop();
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", required_argument, NULL, 'C' },
		{ "workers", required_argument, NULL, 'w' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "access-log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *file = NULL, *check = NULL, *from = NULL, *to = NULL, *log_path = NULL;
	uint32_t workers_opt = 0;
	bool quick = false;
	int opt;

	if (argc > 1 && !strcmp(argv[1], "proxy")) {
		quick = true;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	while ((opt = getopt_long(argc, argv, "c:w:h", opts, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'c': file = optarg; break;
		case 'C': check = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'l': log_path = optarg; break;
		case 'w':
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 256) {
				fprintf(stderr, "weir: --workers: expected 1..256, got '%s'\n", optarg);
				return 2;
			}
			workers_opt = (uint32_t)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "weir: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	struct weir_config *conf;
	struct weir_snapshot *s;
	char err[512];

	if (check) {
		if (weir_config_load(check, &conf, err, sizeof(err)) < 0 ||
		    weir_snapshot_build(conf, 1, &s, err, sizeof(err)) < 0) {
			fprintf(stderr, "weir: %s\n", err);
			return 1;
		}
		printf("%s: ok (%zu routes, %zu upstreams, %zu listeners)\n", check,
		       s->n_routes, s->n_upstreams, s->conf->n_listeners);
		weir_snapshot_put(s);
		return 0;
	}
	if (quick ? (!from || !to || file) : (!file || from || to)) {
		fprintf(stderr, quick ? "weir proxy: --from and --to are required\n"
				      : "weir: -c FILE is required (or `weir proxy --from --to`)\n");
		usage(stderr);
		return 2;
	}
	json_t *state = NULL;		/* the admin state file's resources */

	if (file) {
		base_file = file;
		if (weir_config_read(file, &base_text, &base_len, err, sizeof(err)) < 0 ||
		    build_conf(file, base_text, base_len, NULL, &conf, err, sizeof(err)) < 0) {
			fprintf(stderr, "weir: %s\n", err);
			return 1;
		}
	} else if (load(file, from, to, workers_opt, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir: %s\n", err);
		return 1;
	}
	/* Before any thread: each inherits this one's CPUs. */
	if (weir_cpus_start(conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir: %s%s%s\n", file ? file : "", file ? ": " : "", err);
		weir_config_free(conf);
		return 1;
	}
	/* A state file of the admin API provides the resources, the file the
	 * rest; one that does not validate stops weir, never goes unused. */
	if (weir_admin_start(conf, &state, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir: %s\n", err);
		weir_admin_stop();
		weir_config_free(conf);
		return 1;
	}
	if (state) {
		struct weir_config *r;
		if (weir_config_from_resources(state, &r, err, sizeof(err)) < 0)
			return state_error(conf, state, err);
		weir_config_swap_resources(conf, r);
		weir_config_free(r);
		fprintf(stderr, "weir: routes, upstreams, plugins, consumers and certificates from the "
			"state file %s\n",
			conf->admin_state);
	}
	if (log_path) {
		free(conf->log_path);
		conf->log_path = strdup(log_path);
		conf->log_format = WEIR_LOG_JSON;
	}
	n_workers = workers_opt ? workers_opt : conf->workers;
	if (!n_workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		n_workers = n > 0 ? (uint32_t)n : 1;
	}
	uint32_t bufsz = buf_size_for(conf);
	if (conf->metrics && weir_metrics_init(n_workers) < 0) {
		fprintf(stderr, "weir: %s\n", strerror(ENOMEM));
		return 1;
	}
	if (weir_snapshot_build(conf, n_workers, &s, err, sizeof(err)) < 0) {
		if (state)
			return state_error(NULL, state, err);
		fprintf(stderr, "weir: %s\n", err);
		return 1;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	steering = s->conf->steering;
	weir_steer_init(steering, n_workers);
	if (listeners_prepare(s, err, sizeof(err)) < 0 ||
	    weir_log_configure(s->conf, err, sizeof(err)) < 0 ||
	    weir_metrics_start(s->conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir: %s\n", err);
		weir_snapshot_put(s);
		return 1;
	}
	weir_snapshot_commit(s, NULL);
	int rc = weir_workers_start(n_workers, s, bufsz);
	if (rc < 0) {
		fprintf(stderr, "weir: starting workers: %s\n", strerror(-rc));
		return 1;
	}
	if ((rc = weir_ban_apply(s->conf)) < 0) {
		fprintf(stderr, "weir: starting the ban writer: %s\n", strerror(-rc));
		return 1;
	}
	if (s->conf->admin && (rc = fold_start()) < 0) {
		fprintf(stderr, "weir: starting the fold thread: %s\n", strerror(-rc));
		return 1;
	}
	if (s->conf->admin) {		/* before the API takes its first change */
		admin_on = true;
		pthread_mutex_lock(&apply_lock);
		weir_snapshot_index_warm(s);
		pthread_mutex_unlock(&apply_lock);
	}
	if ((rc = weir_admin_serve(&admin_hooks, state ? state : s->conf->resources)) < 0) {
		fprintf(stderr, "weir: starting the admin thread: %s\n", strerror(-rc));
		return 1;
	}
	if (s->conf->admin)
		fprintf(stderr, "weir: admin API on http://%s/admin/\n", s->conf->admin_listen.text);
	json_decref(state);
	if ((rc = weir_metrics_serve()) < 0) {
		fprintf(stderr, "weir: starting the metrics thread: %s\n", strerror(-rc));
		return 1;
	}
	if (s->conf->metrics)
		fprintf(stderr, "weir: metrics on http://%s%s\n", s->conf->metrics_listen.text,
			s->conf->metrics_path);
	for (size_t i = 0; i < s->conf->n_listeners; i++)
		fprintf(stderr, "weir: listening on %s\n", s->conf->listeners[i].addr.text);
	fprintf(stderr, "weir: %u workers, %zu routes, %zu upstreams\n", n_workers,
		s->n_routes, s->n_upstreams);

	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig == SIGHUP) {
			reload(file, from, to, workers_opt);
		} else if (sig == SIGUSR1) {
			weir_log_reopen();
		} else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
			fprintf(stderr, "weir: stopping: finishing requests in flight\n");
			break;
		}
	}
	weir_admin_stop();	/* first: a change it is applying finishes */
	fold_stop();
	struct weir_snapshot *cur = atomic_load(&weir_server.snap);
	weir_workers_stop(cur->conf->shutdown_timeout_ms);
	for (uint32_t i = 0; i < n_workers; i++)
		while (!atomic_load(&weir_server.workers[i].accept_stopped))
			usleep(1000);
	listeners_retire(true);
	weir_metrics_stop();
	weir_workers_join();
	weir_offload_stop();
	weir_ban_stop();
	weir_steer_fini();
	weir_snapshot_put(cur);
	weir_tls_cleanup();
	weir_log_shutdown();
	free(base_text);
	fprintf(stderr, "weir: stopped\n");
	return 0;
}
