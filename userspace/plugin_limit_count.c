/* userspace/plugin_limit_count.c - the `limit-count` plugin: at most `count`
 * requests per key in each `time_window`; the rest get 429 (rejected_code):
 *
 *   plugins:
 *     limit-count: {count: 100, time_window: 60s, policy: sliding,
 *                   key_type: "header:x-api-key", missing_key: 401}
 *
 * policy `fixed` (the default) counts in windows aligned on multiples of
 * time_window; `sliding` also weighs the previous window by how much of it
 * lies within the last time_window, so a client cannot pass 2 x count
 * across a window's edge. The shared settings (key_type, rejected_code,
 * rejected_msg, missing_key, max_keys) are limits.h's.
 *
 * Every response of the route, admitted or limited, carries the IETF draft
 * headers RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds
 * to the window's end); a limited one also Retry-After (seconds until a
 * request would pass). show_limit_headers: false leaves them out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "limits.h"
#include "plugin.h"
#include "ban.h"

struct lcount_inst {
	struct weir_limit_common lc;
	uint64_t count, window_ms;
	bool sliding, headers;
};

/* What a request learnt, in its plugin slot: set, rejected, remaining,
 * seconds to reset. */
#define SLOT_SET (1ULL << 63)
#define SLOT_REJECTED (1ULL << 62)
#define SLOT_SECS(s) ((s) & 0xffffffULL)
#define SLOT_LEFT(s) ((s) >> 24 & 0xffffffffULL)

static enum weir_ltab_keep lcount_keep(const uint64_t v[4], uint64_t now, uint64_t window_ms)
{
	return now - v[0] >= 2 * window_ms ? WEIR_LTAB_STALE : WEIR_LTAB_LIVE;
}

struct take_arg {
	const struct lcount_inst *lc;
	struct weir_count_res res;
};

static int lcount_take(uint64_t v[4], uint64_t now, void *arg)
{
	struct take_arg *a = arg;

	return weir_count_take(v, now, a->lc->count, a->lc->window_ms, a->lc->sliding, &a->res);
}

static const char *const lcount_keys[] = {
	"count", "time_window", "policy", "show_limit_headers", NULL,
};

static int lcount_configure(const json_t *conf, const json_t *global, void **inst,
			    char *err, size_t errlen)
{
	struct lcount_inst *l = calloc(1, sizeof(*l));
	const json_t *policy;
	int64_t count;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map with `count` and `time_window`");
		goto fail;
	}
	if (weir_limit_int(conf, "count", true, 1, 1000000000, 0, &count, err, errlen) < 0 ||
	    weir_limit_duration(conf, "time_window", true, 1, 30 * 86400000ULL, 0,
				&l->window_ms, err, errlen) < 0 ||
	    weir_limit_bool(conf, "show_limit_headers", true, &l->headers, err, errlen) < 0)
		goto fail;
	l->count = (uint64_t)count;
	policy = json_object_get(conf, "policy");
	if (policy && !(json_is_string(policy) &&
			(!strcmp(json_string_value(policy), "fixed") ||
			 !strcmp(json_string_value(policy), "sliding")))) {
		snprintf(err, errlen, "policy: expected fixed or sliding");
		goto fail;
	}
	l->sliding = policy && !strcmp(json_string_value(policy), "sliding");
	if (weir_limit_common_configure(&l->lc, "limit-count", conf, lcount_keys, lcount_keep,
					l->window_ms, err, errlen) < 0)
		goto fail;
	*inst = l;
	return 0;
fail:
	free(l);
	return -1;
}

static int lcount_access(struct weir_req *r, void *inst)
{
	const struct lcount_inst *l = inst;
	struct take_arg a = { .lc = l };
	void **slot = weir_limit_slot(r, inst);
	const void *key;
	size_t len;
	uint64_t secs;
	int rc;

	if ((rc = weir_limit_request_key(&l->lc, r, &key, &len)) >= 0)
		return rc;
	rc = weir_ltab_run(l->lc.tab, key, len, r->client->w->now, lcount_take, &a, NULL);
	if (rc < 0)
		return 0;	/* no room to count this key: let it pass */
	secs = (a.res.reset_ms + 999) / 1000;
	if (slot && l->headers)
		*slot = (void *)(uintptr_t)(SLOT_SET | (rc ? 0 : SLOT_REJECTED) |
					    (a.res.remaining > 0xffffffffULL ? 0xffffffffULL
									     : a.res.remaining) << 24 |
					    (secs > 0xffffff ? 0xffffff : secs));
	if (rc)
		return 0;
	r->answer = l->lc.reject;
	return l->lc.rejected_code;
}

static void lcount_headers(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct lcount_inst *l = inst;
	void **slot = weir_limit_slot(r, inst);
	uint64_t s = slot ? (uint64_t)(uintptr_t)*slot : 0;

	if (!(s & SLOT_SET))
		return;
	weir_buf_field_u64(head, "RateLimit-Limit", 15, l->count);
	weir_buf_field_u64(head, "RateLimit-Remaining", 19, SLOT_LEFT(s));
	weir_buf_field_u64(head, "RateLimit-Reset", 15, SLOT_SECS(s));
	if (s & SLOT_REJECTED)
		weir_buf_field_u64(head, "Retry-After", 11, SLOT_SECS(s) ? SLOT_SECS(s) : 1);
}

const struct weir_plugin weir_plugin_limit_count = {
	.name = "limit-count",
	.priority = 1002,
	.refusal = WEIR_BAN_LIMIT,
	.configure = lcount_configure,
	.destroy = weir_limit_destroy,
	.access = lcount_access,
	.response_headers = lcount_headers,
};
