/* userspace/accesslog.h - the access log: one line per exchange (JSON or
 * combined format), buffered per worker and handed in batches to a shipper
 * thread that copies them into each sink's bounded buffer (logsink.h), so
 * the request path only formats into memory and never waits for a sink.
 */
#ifndef WEIR_ACCESSLOG_H
#define WEIR_ACCESSLOG_H

#include <stdint.h>

#include "config.h"

struct weir_worker;
struct weir_req;
struct weir_client;
struct weir_log;

/* Switches to the sinks of the configuration: a sink whose settings did
 * not change is kept (its buffer, its connection), new ones start, the others
 * stop at once. Returns 0, or -1 with the reason in err and the old sinks
 * kept (a file sink's file is opened here). */
int weir_log_configure(const struct weir_config *c, char *err, size_t errlen);
/* File sinks reopen their files (after rotation). */
int weir_log_reopen(void);
/* After the workers have handed their last batches: every sink delivers
 * what it holds (one attempt each), then stops. */
void weir_log_shutdown(void);

/* One sink's counters for the metrics; the first entry is the hand-off
 * from the workers (name and type ""), whose only count is dropped. */
struct weir_log_stats {
	const char *name, *type;
	uint64_t lines, dropped, batches, errors, buffered;
};
/* Calls fn for each; the strings live until fn returns. */
void weir_log_stats(void (*fn)(const struct weir_log_stats *st, void *arg), void *arg);

struct weir_log *weir_log_worker_new(void);
void weir_log_worker_free(struct weir_log *l);
void weir_log_request(struct weir_worker *w, struct weir_req *r, struct weir_client *c);
/* Hands the worker's batch to the writer when it is old or large enough;
 * `force` hands any non-empty batch. */
void weir_log_flush(struct weir_worker *w, bool force);
/* The worker's epoll timeout, shortened so that its batch is handed off
 * within a second of its first line even when no event comes. */
int weir_log_wait(struct weir_worker *w, int timeout);

#endif
