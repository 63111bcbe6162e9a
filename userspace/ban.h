/* userspace/ban.h - abuse seen at L7 becomes a drop at L4: a source that
 * earns `threshold` refusals (401/403 from an access-phase plugin, or
 * rejections by a limit plugin) within `window` is written into the XDP
 * layer's blocklist with a TTL and a comment that says why
 * (README: Limits and access control).
 *
 * Counting per source uses the sharded table of limits.h, shared by all
 * workers. A worker that tips a source over the threshold marks it banned
 * in the table (so it is written once, not once per request) and queues it;
 * the map write (a flock on the pin directory and a few bpf syscalls) is
 * done by a thread of its own, so no worker waits on it. While the XDP
 * layer's maps are not pinned, nothing is counted; the thread looks for
 * them again every few seconds and says once when they are missing.
 */
#ifndef WEIR_BAN_H
#define WEIR_BAN_H

#include <stdint.h>

struct weir_req;
struct weir_config;

enum weir_ban_kind {
	WEIR_BAN_AUTH = 1,		/* 401/403 from the access phase */
	WEIR_BAN_LIMIT = 2,		/* a limit plugin's rejection */
};

/* Counts one refusal of r's source; from a worker, any time. */
void weir_ban_note(struct weir_req *r, enum weir_ban_kind kind);
/* The main thread, after a configuration is published: starts the writer
 * on the first config with a ban: section, follows a changed pin_dir.
 * Returns 0 or a negative errno. */
int weir_ban_apply(const struct weir_config *c);
/* Stops the writer (after the workers are gone). */
void weir_ban_stop(void);

#endif
