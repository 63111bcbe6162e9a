/* userspace/plugin_limit_req.c - the `limit-req` plugin: a leaky bucket per
 * key, as nginx's limit_req: requests drain at `rate` per second, up to
 * `burst` more may wait in the bucket, and what overflows it gets 429
 * (rejected_code) with Retry-After:
 *
 *   plugins:
 *     limit-req: {rate: 10, burst: 20, key_type: remote_addr}
 *
 * Requests within the burst are delayed so that they go upstream at `rate`
 * (the default, as APISIX's and nginx's), or served at once with
 * `nodelay: true`. A delayed request is suspended as one waiting for a
 * plugin's verdict is (plugin.h, WEIR_ACCESS_PENDING), resumed by a timer
 * of its own in the worker's loop (r->delay_ms, http.c), never in the
 * worker: nothing its client sends meanwhile (a body, a pipelined request)
 * moves it on early. Its place in the bucket is taken when it is admitted,
 * so a client that leaves while waiting has still spent it (the request
 * ends at once, 499, without going upstream). `rate` may be fractional (0.5: one request
 * every 2 s). The shared settings are limits.h's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "limits.h"
#include "plugin.h"
#include "ban.h"

struct lreq_inst {
	struct weir_limit_common lc;
	uint64_t rate_milli;		/* requests per 1000 s */
	uint64_t burst;
	bool nodelay;
};

#define SLOT_SET (1ULL << 63)

/* A bucket is stale once it has drained empty; keep_arg is the rate. */
static enum weir_ltab_keep lreq_keep(const uint64_t v[4], uint64_t now, uint64_t rate_milli)
{
	uint64_t elapsed = now > v[1] ? now - v[1] : 0;

	return elapsed >= (v[0] * 1000 + rate_milli - 1) / rate_milli ? WEIR_LTAB_STALE
								       : WEIR_LTAB_LIVE;
}

struct take_arg {
	const struct lreq_inst *l;
	uint64_t retry_ms;
};

static int lreq_take(uint64_t v[4], uint64_t now, void *arg)
{
	struct take_arg *a = arg;

	return weir_leaky_take(v, now, a->l->rate_milli, a->l->burst, &a->retry_ms);
}

static const char *const lreq_keys[] = { "rate", "burst", "nodelay", NULL };

static int lreq_configure(const json_t *conf, const json_t *global, void **inst,
			  char *err, size_t errlen)
{
	struct lreq_inst *l = calloc(1, sizeof(*l));
	double rate;
	int64_t burst;
	bool nodelay;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map with `rate`");
		goto fail;
	}
	if (weir_limit_num(conf, "rate", true, 0.001, 1e7, 0, &rate, err, errlen) < 0 ||
	    weir_limit_int(conf, "burst", false, 0, 1000000000, 0, &burst, err, errlen) < 0 ||
	    weir_limit_bool(conf, "nodelay", false, &nodelay, err, errlen) < 0)
		goto fail;
	l->nodelay = nodelay;
	l->rate_milli = (uint64_t)(rate * 1000 + 0.5);
	l->burst = (uint64_t)burst;
	if (weir_limit_common_configure(&l->lc, "limit-req", conf, lreq_keys, lreq_keep,
					l->rate_milli, err, errlen) < 0)
		goto fail;
	*inst = l;
	return 0;
fail:
	free(l);
	return -1;
}

static int lreq_access(struct weir_req *r, void *inst)
{
	const struct lreq_inst *l = inst;
	struct take_arg a = { .l = l };
	void **slot;
	const void *key;
	size_t len;
	int rc;

	if ((rc = weir_limit_request_key(&l->lc, r, &key, &len)) >= 0)
		return rc;
	rc = weir_ltab_run(l->lc.tab, key, len, r->client->w->now, lreq_take, &a, NULL);
	if (rc < 0)
		return 0;	/* no room to count the key: let it pass */
	if (rc) {
		if (!l->nodelay && a.retry_ms > r->delay_ms)
			r->delay_ms = (uint32_t)(a.retry_ms < UINT32_MAX ? a.retry_ms : UINT32_MAX);
		return 0;
	}
	if ((slot = weir_limit_slot(r, inst)))
		*slot = (void *)(uintptr_t)(SLOT_SET | ((a.retry_ms + 999) / 1000));
	r->answer = l->lc.reject;
	return l->lc.rejected_code;
}

static void lreq_headers(struct weir_req *r, void *inst, struct weir_buf *head)
{
	void **slot = weir_limit_slot(r, inst);
	uint64_t s = slot ? (uint64_t)(uintptr_t)*slot : 0;

	if (s & SLOT_SET)
		weir_buf_field_u64(head, "Retry-After", 11, (s & ~SLOT_SET) ? s & ~SLOT_SET : 1);
}

const struct weir_plugin weir_plugin_limit_req = {
	.name = "limit-req",
	.priority = 1001,
	.refusal = WEIR_BAN_LIMIT,
	.configure = lreq_configure,
	.destroy = weir_limit_destroy,
	.access = lreq_access,
	.response_headers = lreq_headers,
};
