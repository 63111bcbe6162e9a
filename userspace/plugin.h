/* userspace/plugin.h - the plugin chain: what a plugin is, the phases it can
 * hook, and how the request path runs them.
 *
 * A plugin is a table of callbacks registered by name. A route's `plugins:`
 * map names the plugins it runs and gives each its settings (JSON, the same
 * shape the admin API will take); the global `plugins:` map gives defaults
 * that `configure` sees beside the route's. Instances are built with the
 * snapshot, so a bad setting fails the whole configuration with the plugin's
 * reason, and they are immutable while requests use them; per-request state
 * goes in r->plugin_ctx[i] (i = the instance's place in the chain).
 *
 * Phases, in the order a request meets them:
 *   access            after routing, before any upstream work; return an
 *                     HTTP status to answer the request here (auth, limits),
 *                     with r->local_why as the short text body, or with
 *                     r->answer set for a whole response of its own (mock);
 *                     or WEIR_ACCESS_PENDING to suspend the request while
 *                     the plugin waits for something in the worker's loop
 *                     (forward-auth's call to its service), and resume it
 *                     later with weir_req_resume (core.h), which runs the
 *                     access phases after it. While suspended, nothing is
 *                     read from the client and no client timer runs: the
 *                     plugin bounds the wait itself. A client that hangs
 *                     up ends the request; a plugin that suspends cancels
 *                     what it waits for in its log phase, which runs when
 *                     the request ends before it was resumed. Work that
 *                     would block the loop (a slow hash) goes to the
 *                     offload pool (offload.h), whose result comes back
 *                     on the loop to resume the request. A request that
 *                     passes with r->delay_ms set (limit-req) is
 *                     suspended the same way until a timer resumes it.
 *   before_upstream   append header lines to the request head going upstream
 *   response_headers  append header lines to the response head going out
 *                     (also to a plugin's own answer)
 *   request_body      the whole request body, once it is read and before
 *                     any of it goes upstream (see "Holding bodies" below);
 *                     return an HTTP status to refuse it, or rewrite it
 *   response_body     see the response body bytes as they pass (raw message
 *                     bytes, framing included; de-chunked when r->dechunk:
 *                     a chunked body going to an HTTP/1.0 client)
 *   response_held     the whole response body, before any of it goes to the
 *                     client, to rewrite (see below)
 *   log               the exchange is over (status, bytes, timings known)
 * A chain runs in descending `priority` order, as APISIX runs its plugins.
 *
 * Taking header fields out of a head is not a phase: a plugin says once,
 * through `removes`, which names it takes out, the snapshot merges them per
 * route (struct weir_route's drop_request, drop_response), and the head
 * rebuild in proxy.c skips those fields. A route that removes nothing has
 * NULL there and pays one pointer test per head. Query parameters go the
 * same way (`removes_query`, struct weir_route's drop_query): an auth
 * plugin hides a credential that came in the query.
 *
 * Holding bodies. Bodies stream (DESIGN.md, principle 5) unless a plugin
 * must see one whole: a signature over the body, a decryption. Such a
 * plugin says, through `holds`, the largest body it takes in each
 * direction; the snapshot keeps the smallest per route (struct weir_route's
 * hold_request, hold_response; 0 for a route that streams, which is then the
 * only test it pays). On a holding route, http.c reads the whole decoded
 * request body (no framing) into r->hold after the access phase, answers 413
 * past the limit, runs request_body, and only then does proxy.c connect
 * upstream and send the held body with a Content-Length of its own. The
 * response is held the same way (decoded, 502 past the limit), handed to
 * response_held, and sent with a Content-Length. A held body lives in
 * memory allocated for the exchange, freed when it ends.
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>
#include <jansson.h>

#include "config.h"

struct weir_req;
struct weir_buf;
struct weir_body;		/* core.h */

/* Header names, compared without regard to case. */
struct weir_hdr_name {
	const char *name;
	uint32_t len;
};

struct weir_hdr_names {
	size_t n;
	struct weir_hdr_name v[];
};

static inline bool weir_hdr_names_has(const struct weir_hdr_names *s, const char *name,
				      uint32_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].len == len && !strncasecmp(s->v[i].name, name, len))
			return true;
	return false;
}

/* An access result: the request waits; the plugin resumes it (above). */
#define WEIR_ACCESS_PENDING (-1)

struct weir_worker;

struct weir_plugin {
	const char *name;
	int priority;
	/* Its access phase answers every request, so a route that runs it
	 * needs no upstream. */
	bool answers;
	/* What its refusals (non-zero access results) count as towards a ban
	 * of the source (ban.h: enum weir_ban_kind); 0: 401 and 403 count as
	 * auth failures, other statuses do not count. */
	uint8_t refusal;
	/* It authenticates consumers: `global` carries "consumers" (above). */
	bool consumers;
	int (*configure)(const json_t *conf, const json_t *global, void **inst,
			 char *err, size_t errlen);
	void (*destroy)(void *inst);
	int (*access)(struct weir_req *r, void *inst);
	void (*before_upstream)(struct weir_req *r, void *inst, struct weir_buf *head);
	void (*response_headers)(struct weir_req *r, void *inst, struct weir_buf *head);
	/* 0 to go on, or a status to answer with (reason in r->local_why). */
	int (*request_body)(struct weir_req *r, void *inst, struct weir_body *body);
	void (*response_body)(struct weir_req *r, void *inst, const char *data, size_t len);
	/* 0, or a status that replaces the upstream's response (5xx). */
	int (*response_held)(struct weir_req *r, void *inst, struct weir_body *body);
	void (*log)(struct weir_req *r, void *inst);
	/* The header names this instance takes out of the request head going
	 * upstream (response false) or the response head going out; NULL or
	 * an empty set for none. Asked once, when the snapshot is built. */
	const struct weir_hdr_names *(*removes)(void *inst, bool response);
	/* The status to send the client instead of the upstream's final one
	 * (the same to keep it). Never asked for 1xx and 101, nor for weir's
	 * own answers; the framing stays the upstream's. A route whose chain
	 * has no such plugin pays one flag test (weir_route.rewrites_status). */
	uint16_t (*response_status)(struct weir_req *r, void *inst, uint16_t status);
	/* The query parameter names this instance takes out of the target
	 * going upstream (compared exactly, not as header names are); NULL
	 * for none. Asked once. */
	const struct weir_hdr_names *(*removes_query)(void *inst);
	/* The largest request (response true: response) body this instance
	 * must see whole, in bytes; 0 when it does not hold that direction.
	 * Asked once, when the snapshot is built. */
	uint64_t (*holds)(void *inst, bool response);
	/* Per-worker state of the plugin (connections, caches kept in
	 * thread-local storage, since a worker is a thread): worker_reap runs
	 * on the worker's thread after each batch of events, to free objects
	 * closed during it; worker_end once as the worker stops, to release
	 * everything. Either may be NULL. */
	void (*worker_reap)(struct weir_worker *w);
	void (*worker_end)(struct weir_worker *w);
};

struct weir_plugin_inst {
	const struct weir_plugin *plugin;
	void *inst;
};

/* Adds a plugin to the registry (before the first snapshot is built).
 * Returns -1 if the name is taken or the registry is full. */
int weir_plugin_register(const struct weir_plugin *p);
const struct weir_plugin *weir_plugin_find(const char *name);
/* Registers the plugins built into weir. */
void weir_plugins_builtin(void);
extern const struct weir_plugin weir_plugin_mock;	/* plugin_mock.c */
extern const struct weir_plugin weir_plugin_rewrite;	/* plugin_rewrite.c */
extern const struct weir_plugin weir_plugin_cache;	/* plugin_cache.c */

/* The request's per-request slot of the instance `inst` of its route's
 * chain (r->plugin_ctx[i]), NULL when the chain does not hold it. */
void **weir_plugin_ctx(struct weir_req *r, const void *inst);
extern const struct weir_plugin weir_plugin_ip_restriction;	/* plugin_ip_restriction.c */
extern const struct weir_plugin weir_plugin_limit_req;	/* plugin_limit_req.c */
extern const struct weir_plugin weir_plugin_limit_count;	/* plugin_limit_count.c */
extern const struct weir_plugin weir_plugin_limit_conn;	/* plugin_limit_conn.c */

/* The id of the route whose chain is being configured (snapshot.c sets it
 * around weir_plugin_chain; NULL when done), for plugins whose state lives
 * across snapshots (limits.h). weir_plugin_route_id() is "" outside. */
void weir_plugin_configuring(const char *route_id);
const char *weir_plugin_route_id(void);

extern const struct weir_plugin weir_plugin_key_auth;	/* plugin_key_auth.c */
extern const struct weir_plugin weir_plugin_basic_auth;	/* plugin_basic_auth.c */
extern const struct weir_plugin weir_plugin_jwt_auth;	/* plugin_jwt_auth.c */

/* Whether s is an HTTP token (RFC 9110), as a header name must be. */
bool weir_plugin_is_token(const char *s);
extern const struct weir_plugin weir_plugin_hmac;	/* plugin_hmac.c */
extern const struct weir_plugin weir_plugin_bodycrypto;	/* plugin_bodycrypto.c */
extern const struct weir_plugin weir_plugin_forward_auth;	/* plugin_forward_auth.c */

/* Preformats a map of header names to string values as "name: value\r\n"
 * lines (malloc'd; NULL and 0 for an absent map). `dir` names the map in
 * the error: "DIR.NAME: reason" or "DIR: reason". Returns 0 or -1. */
int weir_plugin_header_lines(const json_t *obj, const char *dir, char **out, size_t *len,
			     char *err, size_t errlen);

/* Settings helpers for configure: that conf is a map whose fields are all
 * in `known` (NULL-ended), else "FIELD: unknown field" or "settings must be
 * a map" in err; and a duration (milliseconds) or size (bytes) written as
 * in the config file ("300s", "1m"), or as a plain integer of seconds or
 * bytes. Each returns 0 or -1. */
int weir_plugin_fields(const json_t *conf, const char *const *known, char *err, size_t errlen);
int weir_plugin_scaled(const json_t *v, bool duration, int64_t *out);

/* The chain of a route, sorted; settings checked by each plugin. Returns 0,
 * or -1 with the plugin's reason in err and its index in confs in *bad. */
int weir_plugin_chain(const struct weir_plugin_conf *confs, size_t n,
		      const struct weir_plugin_conf *globals, size_t n_globals,
		      struct weir_plugin_inst **out, size_t *n_out, size_t *bad,
		      char *err, size_t errlen);
void weir_plugin_chain_free(struct weir_plugin_inst *chain, size_t n);
/* Whether a chain has a plugin that answers every request itself. */
bool weir_plugin_chain_answers(const struct weir_plugin_inst *chain, size_t n);
/* The names a chain removes from one direction's head, merged into one set
 * (freed with free(); it points into the instances, so it lives no longer
 * than the chain). *out is NULL when the chain removes nothing. Returns 0,
 * or -1 when out of memory. */
int weir_plugin_chain_removes(const struct weir_plugin_inst *chain, size_t n, bool response,
			      struct weir_hdr_names **out);
/* The same for the query parameters the chain removes (removes_query). */
int weir_plugin_chain_removes_query(const struct weir_plugin_inst *chain, size_t n,
				    struct weir_hdr_names **out);

/* The smallest body limit the chain's plugins hold one direction within;
 * 0 when none holds it. */
uint64_t weir_plugin_chain_holds(const struct weir_plugin_inst *chain, size_t n, bool response);

/* Runs the access phases from r->access_next on: 0 passed, a status to
 * answer with, or WEIR_ACCESS_PENDING (r->access_next then names the next
 * plugin to run). */
int weir_plugins_access(struct weir_req *r);
/* The suspending plugin's verdict (0 or a status): counted as its refusal
 * would have been, then the rest of the chain; returns as above. */
int weir_plugins_access_resume(struct weir_req *r, int status);
/* The registered plugins' worker_reap and worker_end (struct weir_plugin). */
void weir_plugins_worker_reap(struct weir_worker *w);
void weir_plugins_worker_end(struct weir_worker *w);
void weir_plugins_before_upstream(struct weir_req *r, struct weir_buf *head);
void weir_plugins_response_headers(struct weir_req *r, struct weir_buf *head);
int weir_plugins_request_body(struct weir_req *r, struct weir_body *body);
void weir_plugins_response_body(struct weir_req *r, const char *data, size_t len);
/* The status the chain sends instead of `status` (response_status). */
uint16_t weir_plugins_response_status(struct weir_req *r, uint16_t status);
/* Whether a chain has a plugin that may change the response status. */
bool weir_plugin_chain_rewrites_status(const struct weir_plugin_inst *chain, size_t n);
int weir_plugins_response_held(struct weir_req *r, struct weir_body *body);
void weir_plugins_log(struct weir_req *r);

#endif
