/* userspace/admin.h - the admin API (README: Admin API): a thread with a
 * listener of its own that reads and changes the resources of the
 * configuration (routes, upstreams, global plugin settings, consumers, TLS
 * certificates) over HTTP+JSON, and the state file that keeps them across
 * restarts.
 *
 * The admin thread owns the desired state: one JSON document of every
 * resource, in the shape of the configuration file's sections. A change is
 * made on a copy, which goes live through the same path as a reload (the
 * apply hook main.c gives, which builds, validates and publishes a snapshot);
 * only when that succeeded is the copy written to the state file, and only
 * then does the API answer. The hook runs under main.c's apply lock, which
 * SIGHUP takes too, so that a reload and a change never interleave.
 */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct weir_config;
struct weir_route_conf;

struct weir_admin_hooks {
	/* Builds a configuration from the running server settings and `res`
	 * (weir_config.resources' shape), validates it and publishes it.
	 * Called with the lock held. Returns 0, or -1 with
	 * "FILE:LINE: FIELD: REASON" in err and nothing changed. */
	int (*apply)(const json_t *res, char *err, size_t errlen);
	/* Replaces, adds or (one NULL) removes the route `id` alone, in time
	 * that does not grow with the routes: one is {"routes": [ROUTE],
	 * "upstreams": {the one ROUTE names, when it exists}}. Returns 0, 1
	 * when there is no such route to remove, or -1 with
	 * "FILE:LINE: FIELD: REASON" (about one) in err and nothing changed.
	 * Called with the lock held. */
	int (*route)(const char *id, const json_t *one, char *err, size_t errlen);
	void (*lock)(void);
	void (*unlock)(void);
};

/* Reads conf's token (token_file) and state file and binds the listener.
 * When the state file exists, *res is its document (a new reference): the
 * caller must start with those resources in place of conf's; NULL when there
 * is none (or conf has no admin:). Returns 0, or -1 with the reason in err
 * (a state file that cannot be read or is not a document of resources is
 * an error, never ignored). */
int weir_admin_start(const struct weir_config *conf, json_t **res, char *err, size_t errlen);

/* Starts the thread, once the workers run and with the resources that went
 * live (a new reference is taken). 0 or -errno; 0 when admin is off. */
int weir_admin_serve(const struct weir_admin_hooks *hooks, const json_t *live);

/* Under the apply lock, at a reload: the resources the new configuration
 * must have, a borrowed reference; NULL when the file's own stand (admin is
 * off, or no change was ever saved to the state file). */
const json_t *weir_admin_resources(void);
/* Under the apply lock, after a reload went live with the file's resources
 * (no state file yet): they become the admin's document. */
void weir_admin_reseed(const json_t *res);
/* The state file's path, as started. */
const char *weir_admin_state_file(void);
/* True when conf's admin settings differ from the running ones. */
bool weir_admin_changed(const struct weir_config *conf);
void weir_admin_stop(void);

/* ---- helpers (admin_util.c), apart so that they can be tested alone ---- */

/* RFC 7396: applies `patch` to `target` (both borrowed); returns the result,
 * a new reference (NULL when out of memory). */
json_t *weir_json_merge_patch(const json_t *target, const json_t *patch);

/* Reads a collection's query: page=&page_size= (page from 1) or
 * offset=&limit=, default the first 100, at most 1000 a page. Returns 0 with
 * the window in *off and *lim, or -1 with the parameter in *field and the
 * reason in why. */
int weir_admin_page(const char *query, size_t *off, size_t *lim, const char **field,
		    char *why, size_t whylen);

/* Splits a configuration error "FILE:LINE: FIELD: REASON" (or "FILE: FIELD:
 * REASON") into field and reason, writing routes[N] as routes.ID and
 * consumers[N] as consumers.USERNAME, the names taken from doc (the
 * resources document). */
void weir_admin_field(const char *err, const json_t *doc, char *field, size_t flen,
		      char *reason, size_t rlen);

/* Finds what the configuration cannot carry in v: a string with a NUL (C
 * strings would end there), a member name over 128 bytes (YAML's keys end
 * within 1024 characters, escapes included) or a nesting deeper than
 * max_depth; returns 0, or
 * -1 with its path (under `path`) in field and the reason in why. */
int weir_admin_check_text(const json_t *v, const char *path, int max_depth, char *field,
			  size_t flen, char *why, size_t whylen);

/* The OpenAPI 3.0 document of conf's routes (admin_openapi.c; README:
 * Admin API), info.version the configuration's version. A new reference,
 * NULL when out of memory. */
json_t *weir_openapi_build(const struct weir_config *conf, uint64_t version);
/* The same over the given routes (a snapshot's live ones), in list order;
 * conf gives the rest (the consumers' schemes). */
json_t *weir_openapi_build_routes(const struct weir_config *conf,
				  const struct weir_route_conf *const *routes, size_t n_routes,
				  uint64_t version);

/* True when s is a valid id: 1 to 64 of A-Z a-z 0-9 . _ - */
bool weir_admin_id_ok(const char *s);

#endif
