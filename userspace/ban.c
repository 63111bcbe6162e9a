/* userspace/ban.c - L7 refusals counted per source, and the thread that
 * writes bans into the XDP blocklist (see ban.h).
 *
 * Per source, in the shared table: v[0] the start of its counting window,
 * v[1] refusals in it, v[2] until when it is banned (ms, the workers'
 * clock), v[3] the window length it was counted with. A ban is queued by
 * the worker that counts the threshold-th refusal; while v[2] lies ahead
 * the source is not counted again, so one ban is one map write.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ban.h"
#include "config.h"
#include "core.h"
#include "limits.h"
#include "snapshot.h"
#include "maps/weir_maps.h"

#define QUEUE 1024
#define TABLE_KEYS 65536
#define RETRY_S 5		/* looks for the pinned maps this often */

struct ban_item {
	struct weir_cidr cidr;
	uint64_t ttl_ns;
	char note[WEIR_NOTE_LEN];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	char *pin_dir;			/* wanted; changed by weir_ban_apply */
	struct ban_item q[QUEUE];
	uint32_t head, len;
	struct weir_ltab *tab;		/* set before ready */
	_Atomic bool ready;		/* maps open: count */
} ban = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static enum weir_ltab_keep ban_keep(const uint64_t v[4], uint64_t now, uint64_t arg)
{
	if (v[2] > now || now - v[0] < v[3])
		return WEIR_LTAB_LIVE;
	return WEIR_LTAB_STALE;
}

struct count_arg {
	const struct weir_config *c;
};

/* Returns the count that tipped the source over, or 0. */
static int count_one(uint64_t v[4], uint64_t now, void *arg)
{
	const struct weir_config *c = ((struct count_arg *)arg)->c;
	int n;

	if (v[2] > now)
		return 0;		/* banned already; the XDP layer has it */
	if (now - v[0] >= c->ban_window_ms || !v[1]) {
		v[0] = now;
		v[1] = 0;
	}
	v[3] = c->ban_window_ms;
	if (++v[1] < c->ban_threshold)
		return 0;
	n = (int)v[1];
	v[1] = 0;
	v[2] = now + c->ban_ttl_ms;
	return n;
}

static void window_text(uint32_t ms, char *buf, size_t len)
{
	if (ms % 60000 == 0)
		snprintf(buf, len, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%us", ms / 1000);
	else
		snprintf(buf, len, "%ums", ms);
}

void weir_ban_note(struct weir_req *r, enum weir_ban_kind kind)
{
	const struct weir_config *c = r->snap ? r->snap->conf : NULL;
	const struct in6_addr *a = &r->client->peer.sin6_addr;
	struct ban_item it = { 0 };
	char win[16];
	int n;

	if (!c || !c->ban || !(c->ban_on & kind) ||
	    !atomic_load_explicit(&ban.ready, memory_order_acquire))
		return;
	n = weir_ltab_run(ban.tab, a, sizeof(*a), r->client->w->now, count_one,
			  &(struct count_arg){ c }, NULL);
	if (n <= 0)
		return;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		it.cidr.family = 4;
		it.cidr.prefixlen = 32;
		memcpy(it.cidr.addr, &a->s6_addr[12], 4);
	} else {
		it.cidr.family = 6;
		it.cidr.prefixlen = 128;
		memcpy(it.cidr.addr, a, 16);
	}
	it.ttl_ns = (uint64_t)c->ban_ttl_ms * 1000000;
	window_text(c->ban_window_ms, win, sizeof(win));
	snprintf(it.note, sizeof(it.note), "weir: %d %s in %s", n,
		 kind == WEIR_BAN_AUTH ? "auth failures" : "limit violations", win);
	pthread_mutex_lock(&ban.lock);
	if (ban.len < QUEUE) {
		ban.q[(ban.head + ban.len++) % QUEUE] = it;
		pthread_cond_signal(&ban.cond);
	}
	pthread_mutex_unlock(&ban.lock);
}

/* ---- the writer -------------------------------------------------------- */

static void *ban_thread(void *unused)
{
	struct weir_maps m;
	char *dir = NULL;		/* the maps' directory while open */
	bool said_missing = false;

	(void)unused;
	pthread_mutex_lock(&ban.lock);
	while (!ban.stop) {
		if (dir && strcmp(dir, ban.pin_dir)) {
			atomic_store(&ban.ready, false);
			weir_maps_close(&m);
			free(dir);
			dir = NULL;
			said_missing = false;
		}
		if (!dir) {
			char *want = strdup(ban.pin_dir);
			int err;
			pthread_mutex_unlock(&ban.lock);
			err = want ? weir_maps_open(&m, want) : -ENOMEM;
			pthread_mutex_lock(&ban.lock);
			if (!err) {
				dir = want;
				fprintf(stderr, "weir: ban: writing L7 bans to the XDP blocklist "
					"under %s\n", dir);
				atomic_store(&ban.ready, true);
			} else {
				if (!said_missing)
					fprintf(stderr, "weir: ban: no XDP maps under %s (%s): "
						"nothing is counted until they appear\n",
						want ? want : ban.pin_dir, strerror(-err));
				said_missing = true;
				free(want);
			}
		}
		if (!ban.len) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += RETRY_S;
			pthread_cond_timedwait(&ban.cond, &ban.lock, &ts);
			continue;
		}
		struct ban_item it = ban.q[ban.head];
		ban.head = (ban.head + 1) % QUEUE;
		ban.len--;
		if (!dir)
			continue;
		pthread_mutex_unlock(&ban.lock);
		char text[WEIR_CIDR_STRLEN];
		int err = weir_list_add(&m, WEIR_LIST_BLOCK, &it.cidr, it.ttl_ns, it.note);
		weir_cidr_format(&it.cidr, text, sizeof(text));
		if (err)
			fprintf(stderr, "weir: ban: blocking %s: %s\n", text, strerror(-err));
		else
			fprintf(stderr, "weir: ban: blocked %s for %llus (%s)\n", text,
				(unsigned long long)(it.ttl_ns / 1000000000), it.note);
		pthread_mutex_lock(&ban.lock);
	}
	pthread_mutex_unlock(&ban.lock);
	atomic_store(&ban.ready, false);
	if (dir) {
		weir_maps_close(&m);
		free(dir);
	}
	return NULL;
}

int weir_ban_apply(const struct weir_config *c)
{
	const char *want = c->ban_pin_dir ? c->ban_pin_dir : WEIR_PIN_DIR;
	char *copy;
	int err = 0;

	if (!c->ban)
		return 0;
	if (!(copy = strdup(want)))
		return -ENOMEM;
	pthread_mutex_lock(&ban.lock);
	free(ban.pin_dir);
	ban.pin_dir = copy;
	if (!ban.tab && !(ban.tab = weir_ltab_new(TABLE_KEYS, ban_keep, 0)))
		err = -ENOMEM;
	if (!err && !ban.running) {
		ban.stop = false;
		err = -pthread_create(&ban.thread, NULL, ban_thread, NULL);
		ban.running = !err;
		if (ban.running)
			pthread_setname_np(ban.thread, "weir-ban");
	}
	pthread_cond_signal(&ban.cond);
	pthread_mutex_unlock(&ban.lock);
	return err;
}

void weir_ban_stop(void)
{
	pthread_mutex_lock(&ban.lock);
	ban.stop = true;
	pthread_cond_signal(&ban.cond);
	pthread_mutex_unlock(&ban.lock);
	if (ban.running)
		pthread_join(ban.thread, NULL);
	ban.running = false;
	weir_ltab_free(ban.tab);
	ban.tab = NULL;
	free(ban.pin_dir);
	ban.pin_dir = NULL;
}
