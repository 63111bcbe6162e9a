/* userspace/logsink.h - one access log sink: a bounded buffer of lines and
 * the thread that delivers them (a file, syslog over UDP, TCP or a unix
 * socket, an HTTP collector). Used by accesslog.c alone.
 *
 * The buffer is the sink's only memory of lines: weir_logsink_push() copies
 * whole lines in while they fit in buffer_size bytes (the batch in flight
 * included) and counts the others as dropped, so a slow or dead sink costs
 * lines, never time or memory. The thread takes batches from the front and
 * removes a batch only once it is delivered (or refused for good): a batch
 * that fails is retried whole, after a backoff of 100 ms doubling to 5 s.
 */
#ifndef WEIR_LOGSINK_H
#define WEIR_LOGSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "accesslog.h"

struct weir_logsink;

/* A sink for c (sinks[index] of the configuration read from file), its
 * thread started; a file sink opens its file here, and an https sink loads
 * its CAs, so a bad path fails the configuration. NULL with the reason in
 * err. */
struct weir_logsink *weir_logsink_new(const struct weir_log_sink_conf *c, const char *file,
				      size_t index, char *err, size_t errlen);
/* True when c describes s exactly (a reload keeps s, its buffer and its
 * connection). */
bool weir_logsink_same(const struct weir_logsink *s, const struct weir_log_sink_conf *c);
/* Copies the whole lines of data[0..len) (`lines` of them, each ending in
 * '\n') into the buffer, as many as fit; the rest are counted dropped. */
void weir_logsink_push(struct weir_logsink *s, const char *data, size_t len, uint32_t lines);
/* Files: reopen (after rotation) before the next write. */
void weir_logsink_reopen(struct weir_logsink *s);
/* Ends the thread: `drain` delivers what is buffered first (one attempt,
 * within the sink's timeout); otherwise at once, the buffer dropped. Then
 * frees s. */
void weir_logsink_close(struct weir_logsink *s, bool drain);
/* Several at once: all are told first, then each is joined. */
void weir_logsink_close_all(struct weir_logsink **s, size_t n, bool drain);
void weir_logsink_stats(struct weir_logsink *s, struct weir_log_stats *st);

#endif
