/* userspace/metrics.h - counters of the L7 proxy and their exposition in
 * Prometheus text format on a listener of their own (README: Metrics).
 *
 * The request path only adds to counters its worker alone writes: each route
 * has one block of counters per worker, on cache lines of its own, bumped
 * with relaxed loads and stores (no lock, no read-modify-write shared between
 * workers). A scrape sums the blocks. Routes are keyed by their id, so a
 * route that survives a reload keeps counting; the registry of ids lives as
 * long as the process, and a scrape shows only the routes of the current
 * configuration.
 *
 * Nothing is counted until weir_metrics_init() has run (weir does when its
 * configuration has `metrics:`; --check and the unit tests do not):
 * weir_metrics_route() then returns NULL and weir_metrics_request() returns
 * at its first test, so metrics that are off cost a branch per exchange.
 */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct weir_config;
struct weir_req;
struct weir_worker;

/* Latency buckets, upper bounds in microseconds: 0.5 ms .. 10 s, then +Inf. */
#define WEIR_METRICS_BOUNDS 14
#define WEIR_METRICS_BUCKETS (WEIR_METRICS_BOUNDS + 1)
/* Distinct route ids counted over the life of the process. */
#define WEIR_METRICS_MAX_ROUTES 65536

/* One worker's counters of one route. Histogram buckets are not cumulative
 * here (the scrape accumulates them). */
struct weir_route_counters {
	_Atomic uint64_t code[5];		/* answers 1xx .. 5xx */
	_Atomic uint64_t bytes_in, bytes_out;
	_Atomic uint64_t total[WEIR_METRICS_BUCKETS], total_sum_us;
	_Atomic uint64_t up[WEIR_METRICS_BUCKETS], up_sum_us;
} __attribute__((aligned(64)));

struct weir_route_stats;

/* Once, before the workers start. Returns 0 or -ENOMEM. */
int weir_metrics_init(uint32_t n_workers);

/* The counters of route `id` (the same object for the same id, across
 * snapshots); NULL when metrics are not initialised, the registry is full, or
 * memory is short: the route is then not counted. Called by snapshot.c. */
struct weir_route_stats *weir_metrics_route(const char *id);

/* Counts a finished exchange in its worker's block: the route's (or the
 * unmatched requests' when r->route is NULL), its status class, bytes and
 * latencies. Exchanges that got no status (the client left) are not counted. */
void weir_metrics_request(struct weir_worker *w, const struct weir_req *r);

/* Configuration history, from the main thread. */
void weir_metrics_reloaded(bool ok);

/* Binds conf's metrics listener (before the workers start, so that a port in
 * use stops weir early); 0 also when metrics are off in conf. Returns -1 with
 * the reason in err. The listener and its settings are the ones of the
 * configuration weir started with (a reload that changes them says they take
 * effect at restart). */
int weir_metrics_start(const struct weir_config *conf, char *err, size_t errlen);
/* Starts the thread that answers scrapes, once the workers run. 0 or -errno. */
int weir_metrics_serve(void);
/* True when conf's metrics settings differ from the running ones. */
bool weir_metrics_changed(const struct weir_config *conf);
void weir_metrics_stop(void);

/* The main thread takes it around publishing a snapshot, so that a scrape
 * never holds a snapshot that is being let go. */
void weir_metrics_lock(void);
void weir_metrics_unlock(void);

#endif
