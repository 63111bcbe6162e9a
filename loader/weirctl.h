/* weirctl.h - the shared parts of weirctl: the command table's types, the
 * parsed invocation handed to each command, and the commands themselves.
 */
#ifndef WEIRCTL_H
#define WEIRCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "maps/weir_maps.h"

#define WEIRCTL_MAX_OPTS 8
#define WEIRCTL_PIN_DIR_MAX 400
#define WEIRCTL_MAX_ARGS 4

struct weirctl_opt {
	const char *name;    /* long option, without "--" */
	const char *metavar; /* NULL for a flag */
	const char *help;
};

struct weirctl_ctx;

struct weirctl_cmd {
	const char *group; /* "block", "limit", ... or NULL for top-level verbs */
	const char *verb;
	const char *args;  /* usage of the positional arguments */
	int min_args, max_args;
	struct weirctl_opt opts[WEIRCTL_MAX_OPTS];
	int (*run)(struct weirctl_ctx *ctx);
	const char *help;
};

struct weirctl_ctx {
	const struct weirctl_cmd *cmd;
	const char *pin_dir;
	int argc;
	char *argv[WEIRCTL_MAX_ARGS];
	const char *optval[WEIRCTL_MAX_OPTS]; /* "" for a flag given, NULL absent */
};

/* The value of option `name`, or NULL when it was not given. */
const char *weirctl_opt(const struct weirctl_ctx *ctx, const char *name);
bool weirctl_flag(const struct weirctl_ctx *ctx, const char *name);

/* Prints "weirctl: <group> <verb>: <message>" on stderr; returns 1 (the exit
 * status of a failed command). */
int weirctl_err(const struct weirctl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses a decimal integer 0..max; prints "WHAT 'S': expected ..." and
 * returns 1 when it is not one. */
int weirctl_u32(struct weirctl_ctx *ctx, const char *what, const char *s,
		uint32_t max, uint32_t *out);
/* Prints v compactly on one line and releases it; 1 on failure. */
int weirctl_print_json(json_t *v);

/* Opens the pinned maps, printing why when they cannot be opened. */
int weirctl_open_maps(struct weirctl_ctx *ctx, struct weir_maps *m);

/* Interface name -> ifindex, printing an error for an unknown one (0). */
int weirctl_ifindex(struct weirctl_ctx *ctx, const char *name);

/* xdp.c */
int weirctl_attach(struct weirctl_ctx *ctx);
int weirctl_detach(struct weirctl_ctx *ctx);
int weirctl_status(struct weirctl_ctx *ctx);

/* lists.c */
int weirctl_list_add(struct weirctl_ctx *ctx);
int weirctl_list_del(struct weirctl_ctx *ctx);
int weirctl_list_show(struct weirctl_ctx *ctx);
int weirctl_list_import(struct weirctl_ctx *ctx);
int weirctl_list_flush(struct weirctl_ctx *ctx);
int weirctl_list_reap(struct weirctl_ctx *ctx);
int weirctl_limit_set(struct weirctl_ctx *ctx);
int weirctl_limit_del(struct weirctl_ctx *ctx);
int weirctl_limit_show(struct weirctl_ctx *ctx);
int weirctl_stats(struct weirctl_ctx *ctx);

/* nexthop.c: how frames reach an l4 backend. With mac given, the
 * neighbour table is not asked. 0, or 1 after printing why. */
struct weirctl_nexthop {
	uint32_t ifindex;
	bool onlink;	  /* the backend itself is the next hop */
	uint8_t dmac[6];  /* the next hop's */
	uint8_t smac[6];  /* ifindex's */
	uint8_t src[16];  /* the route's preferred source */
};
int weirctl_nexthop(struct weirctl_ctx *ctx, uint8_t family, const uint8_t addr[16],
		    const uint8_t *mac, struct weirctl_nexthop *nh);

/* service.c */
int weirctl_service_add(struct weirctl_ctx *ctx);
int weirctl_service_del(struct weirctl_ctx *ctx);
int weirctl_service_list(struct weirctl_ctx *ctx);
int weirctl_service_track(struct weirctl_ctx *ctx);
int weirctl_backend_add(struct weirctl_ctx *ctx);
int weirctl_backend_del(struct weirctl_ctx *ctx);
int weirctl_backend_weight(struct weirctl_ctx *ctx);

/* api.c: `weirctl api KIND VERB`, the weir proxy's admin API */
int weirctl_api_list(struct weirctl_ctx *ctx);
int weirctl_api_get(struct weirctl_ctx *ctx);
int weirctl_api_put(struct weirctl_ctx *ctx);
int weirctl_api_patch(struct weirctl_ctx *ctx);
int weirctl_api_cache_purge(struct weirctl_ctx *ctx);
int weirctl_api_del(struct weirctl_ctx *ctx);

/* synproxy.c: makes the kernel's side of the SYN-cookie defence match the
 * services that have WEIR_SVC_F_SYNCOOKIE; called after every change to
 * the service table. 0, or 1 after printing why. */
int weirctl_synproxy_sync(struct weirctl_ctx *ctx, const struct weir_maps *m);

#endif /* WEIRCTL_H */
