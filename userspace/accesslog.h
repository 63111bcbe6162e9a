/* userspace/accesslog.h - the access log: one line per exchange (JSON or
 * combined format), buffered per worker and written in batches by a writer
 * thread, so the request path only formats into memory.
 */
#ifndef WEIR_ACCESSLOG_H
#define WEIR_ACCESSLOG_H

#include "config.h"

struct weir_worker;
struct weir_req;
struct weir_client;
struct weir_log;

/* Opens (or switches to) the sink named by the configuration; "-" is
 * stdout. Returns 0, or -1 with the reason in err and the old sink kept. */
int weir_log_configure(const struct weir_config *c, char *err, size_t errlen);
/* Reopens the file (after rotation). */
int weir_log_reopen(void);
void weir_log_shutdown(void);

struct weir_log *weir_log_worker_new(void);
void weir_log_worker_free(struct weir_log *l);
void weir_log_request(struct weir_worker *w, struct weir_req *r, struct weir_client *c);
/* Hands the worker's batch to the writer when it is old or large enough;
 * `force` hands any non-empty batch. */
void weir_log_flush(struct weir_worker *w, bool force);

#endif
