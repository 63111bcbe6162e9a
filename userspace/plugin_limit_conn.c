/* userspace/plugin_limit_conn.c - the `limit-conn` plugin: at most `conn`
 * requests per key in flight at once, across all workers; one more gets 429
 * (rejected_code):
 *
 *   plugins:
 *     limit-conn: {conn: 10, key_type: consumer, missing_key: allow}
 *
 * A request holds its place from the access phase until its exchange ends,
 * however it ends: answered, refused by a later plugin, upstream failure,
 * timeout, client gone. weir_req_finish runs the log phase on every one of
 * those paths, and the log phase gives the place back. The entry of a key
 * with requests in flight is pinned in the table (never reused), so the
 * request keeps a handle to it rather than its key. The shared settings are
 * limits.h's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "limits.h"
#include "plugin.h"
#include "ban.h"

struct lconn_inst {
	struct weir_limit_common lc;
	uint64_t conn;
};

static enum weir_ltab_keep lconn_keep(const uint64_t v[4], uint64_t now, uint64_t unused)
{
	return v[0] ? WEIR_LTAB_PINNED : WEIR_LTAB_STALE;
}

static int lconn_acquire(uint64_t v[4], uint64_t now, void *arg)
{
	return weir_conn_acquire(v, *(const uint64_t *)arg);
}

static int lconn_release(uint64_t v[4], uint64_t now, void *arg)
{
	weir_conn_release(v);
	return 0;
}

static const char *const lconn_keys[] = { "conn", NULL };

static int lconn_configure(const json_t *conf, const json_t *global, void **inst,
			   char *err, size_t errlen)
{
	struct lconn_inst *l = calloc(1, sizeof(*l));
	int64_t conn;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map with `conn`");
		goto fail;
	}
	if (weir_limit_int(conf, "conn", true, 1, 1000000000, 0, &conn, err, errlen) < 0)
		goto fail;
	l->conn = (uint64_t)conn;
	if (weir_limit_common_configure(&l->lc, "limit-conn", conf, lconn_keys, lconn_keep, 0,
					err, errlen) < 0)
		goto fail;
	*inst = l;
	return 0;
fail:
	free(l);
	return -1;
}

static int lconn_access(struct weir_req *r, void *inst)
{
	const struct lconn_inst *l = inst;
	void **slot = weir_limit_slot(r, inst);
	const void *key;
	uint32_t ref = 0;
	size_t len;
	int rc;

	if ((rc = weir_limit_request_key(&l->lc, r, &key, &len)) >= 0)
		return rc;
	if (!slot)
		return 0;
	rc = weir_ltab_run(l->lc.tab, key, len, r->client->w->now, lconn_acquire,
			   (void *)&l->conn, &ref);
	if (rc < 0)
		return 0;	/* every entry pinned: let it pass, uncounted */
	if (rc) {
		*slot = (void *)(uintptr_t)ref;
		return 0;
	}
	r->answer = l->lc.reject;
	return l->lc.rejected_code;
}

static void lconn_log(struct weir_req *r, void *inst)
{
	const struct lconn_inst *l = inst;
	void **slot = weir_limit_slot(r, inst);

	if (!slot || !*slot)
		return;
	weir_ltab_run_ref(l->lc.tab, (uint32_t)(uintptr_t)*slot, r->client->w->now,
			  lconn_release, NULL);
	*slot = NULL;
}

const struct weir_plugin weir_plugin_limit_conn = {
	.name = "limit-conn",
	.priority = 1003,
	.refusal = WEIR_BAN_LIMIT,
	.configure = lconn_configure,
	.destroy = weir_limit_destroy,
	.access = lconn_access,
	.log = lconn_log,
};
