/* userspace/server.h - the process: its workers, the snapshot they serve,
 * and the listener table, driven by main.c (start, reload, stop).
 */
#ifndef WEIR_SERVER_H
#define WEIR_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct weir_snapshot;
struct weir_worker;

struct weir_server {
	uint32_t n_workers;
	struct weir_worker *workers;
	_Atomic(struct weir_snapshot *) snap;	/* current; the server holds a ref */
	_Atomic uint64_t version;		/* bumped with each publish */
	_Atomic bool stop;
	uint32_t buf_size;
};

extern struct weir_server weir_server;

int weir_workers_start(uint32_t n, struct weir_snapshot *first, uint32_t buf_size);
/* Publishes a snapshot (taking the caller's ref) and, with `wait`, waits
 * until every worker runs new requests on it (before listeners it dropped
 * may close); returns the old one, still referenced. */
struct weir_snapshot *weir_workers_publish(struct weir_snapshot *s, bool wait);
void weir_workers_stop(uint32_t deadline_ms);
void weir_workers_join(void);

#endif
