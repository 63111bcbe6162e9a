/* weirctl.c - the command line of weir's kernel layer.
 *
 * Every command lives in one table, weirctl_cmds[], with its arguments,
 * options and help text; the parser, `weirctl --help` and each command's
 * help are all generated from it. weirctl is stateless: each invocation
 * opens the pinned maps (or attaches the program), changes what it was asked
 * to, and exits. Exit status: 0 success, 1 failure, 2 usage error.
 */
#include "weirctl.h"

#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_OPTS_ADD                                                          \
	{ { "ttl", "DURATION", "expire after DURATION (90s, 15m, 2h, 7d)" },   \
	  { "comment", "TEXT", "note shown by list (blocklist only)" } }
#define JSON_OPT { { "json", NULL, "print JSON" } }
#define API_ADDR { "addr", "ADDR", "the admin API (default $WEIR_ADMIN, else 127.0.0.1:9180)" }
#define API_TOKEN { "token", "TOKEN", "its token (default $WEIR_ADMIN_TOKEN)" }
/* The five verbs of an admin API resource kind (KIND: its URL segment). */
#define API_CMDS(KIND, WHAT)                                                   \
	{ "api " KIND, "list", "", 0, 0,                                       \
	  { API_ADDR, API_TOKEN,                                               \
	    { "page", "N", "only page N (from 1)" },                           \
	    { "page-size", "N", "entries a page (1..1000, default 100)" } },   \
	  weirctl_api_list, "list the " WHAT ": every page, unless --page" },  \
	{ "api " KIND, "get", "ID", 1, 1, { API_ADDR, API_TOKEN },             \
	  weirctl_api_get, "show one of the " WHAT },                          \
	{ "api " KIND, "put", "ID FILE", 2, 2, { API_ADDR, API_TOKEN },        \
	  weirctl_api_put, "create or replace ID with FILE's JSON (- for stdin)" }, \
	{ "api " KIND, "patch", "ID FILE", 2, 2, { API_ADDR, API_TOKEN },      \
	  weirctl_api_patch, "merge FILE's JSON into ID (RFC 7396; null removes)" }, \
	{ "api " KIND, "del", "ID", 1, 1, { API_ADDR, API_TOKEN },             \
	  weirctl_api_del, "delete ID" }

static const struct weirctl_cmd weirctl_cmds[] = {
	{ NULL, "attach", "IFACE", 1, 1,
	  { { "mode", "native|generic", "XDP mode (default native)" } },
	  weirctl_attach,
	  "attach the XDP program (or replace a running one atomically); "
	  "pinned maps are created or reused" },
	{ NULL, "detach", "IFACE", 1, 1,
	  { { "purge", NULL, "also remove the pinned maps and their entries" } },
	  weirctl_detach, "detach the XDP program; the maps stay pinned" },
	{ NULL, "status", "", 0, 0, JSON_OPT, weirctl_status,
	  "interfaces with XDP programs, modes, program ids, map fill" },
	{ "block", "add", "CIDR", 1, 1, LIST_OPTS_ADD, weirctl_list_add,
	  "drop packets from CIDR" },
	{ "block", "del", "CIDR", 1, 1, {}, weirctl_list_del,
	  "remove CIDR from the blocklist" },
	{ "block", "list", "", 0, 0, JSON_OPT, weirctl_list_show,
	  "show blocklist entries with expiry, hits and comment" },
	{ "block", "import", "FILE", 1, 1, {}, weirctl_list_import,
	  "add one CIDR per line of FILE ('#' comments); all or nothing" },
	{ "block", "flush", "", 0, 0, {}, weirctl_list_flush,
	  "remove every blocklist entry" },
	{ "block", "reap", "", 0, 0, {}, weirctl_list_reap,
	  "remove expired entries now (list does it too; run it from cron or a timer)" },
	{ "allow", "add", "CIDR", 1, 1, LIST_OPTS_ADD, weirctl_list_add,
	  "let CIDR skip the blocklist and rate limits" },
	{ "allow", "del", "CIDR", 1, 1, {}, weirctl_list_del,
	  "remove CIDR from the allowlist" },
	{ "allow", "list", "", 0, 0, JSON_OPT, weirctl_list_show,
	  "show allowlist entries" },
	{ "allow", "import", "FILE", 1, 1, {}, weirctl_list_import,
	  "add one CIDR per line of FILE; all or nothing" },
	{ "allow", "flush", "", 0, 0, {}, weirctl_list_flush,
	  "remove every allowlist entry" },
	{ "allow", "reap", "", 0, 0, {}, weirctl_list_reap,
	  "remove expired entries now" },
	{ "limit", "set", "[CIDR|default]", 0, 1,
	  { { "conn", "RATE", "new TCP connections per second per source (0: off)" },
	    { "conn-burst", "N", "connections admitted at once (default RATE)" },
	    { "pkt", "RATE", "packets per second per source (0: off)" },
	    { "pkt-burst", "N", "packets admitted at once (default RATE)" } },
	  weirctl_limit_set,
	  "set the default per-source limits, or an override for CIDR" },
	{ "limit", "del", "CIDR", 1, 1, {}, weirctl_limit_del,
	  "remove the override for CIDR" },
	{ "limit", "show", "", 0, 0, JSON_OPT, weirctl_limit_show,
	  "show the default limits and the overrides" },
	{ "service", "add", "ADDR:PORT[/tcp|/udp]", 1, 1,
	  { { "mode", "l7|l4|drop", "pass to the local proxy, balance to "
				    "backends in XDP, or drop" },
	    { "dsr", NULL, "l4: rewrite MACs only (backends on this link, the "
			   "address on their loopback) instead of IP-in-IP" },
	    { "syn-cookies", "RATE[/BURST]", "l7 TCP: above RATE SYNs/s, XDP "
					     "answers SYNs with SYN cookies" } },
	  weirctl_service_add,
	  "steer packets to ADDR:PORT ([ADDR]:PORT for IPv6; tcp by default)" },
	{ "service", "del", "ADDR:PORT[/tcp|/udp]", 1, 1, {}, weirctl_service_del,
	  "remove a service and its backends" },
	{ "service", "list", "", 0, 0, JSON_OPT, weirctl_service_list,
	  "services, their backends, ring slots and tracked flows" },
	{ "service", "flow-limit", "RATE", 1, 1, {}, weirctl_service_track,
	  "track at most RATE new l4 flows per second per CPU (0: all; 65536 "
	  "after the first attach); above "
	  "it new flows are balanced by the ring alone, and a flood cannot push "
	  "established flows out of the flow table" },
	{ "service backend", "add", "SERVICE ADDR", 2, 2,
	  { { "weight", "N", "share of new flows (default 1; 0 drains)" },
	    { "mac", "MAC", "next hop's MAC (default: from the neighbour table)" } },
	  weirctl_backend_add,
	  "add a backend to an l4 service; its route and next hop are resolved now" },
	{ "service backend", "del", "SERVICE ADDR", 2, 2, {}, weirctl_backend_del,
	  "remove a backend: its flows move to the others" },
	{ "service backend", "set-weight", "SERVICE ADDR WEIGHT", 3, 3, {},
	  weirctl_backend_weight,
	  "change a backend's weight; 0 drains it (no new flows, tracked flows go on)" },
	{ NULL, "stats", "", 0, 0,
	  { { "json", NULL, "print JSON" },
	    { "watch", NULL, "print per-second rates until interrupted" },
	    { "count", "N", "with --watch: stop after N intervals" } },
	  weirctl_stats, "packets and bytes per verdict reason" },
	API_CMDS("routes", "proxy's routes"),
	API_CMDS("upstreams", "proxy's upstreams"),
	API_CMDS("plugins", "proxy's global plugin settings"),
	API_CMDS("consumers", "proxy's consumers (identities and their credentials)"),
	API_CMDS("certificates", "proxy's TLS certificates"),
	{ "api cache", "purge", "", 0, 0,
	  { API_ADDR, API_TOKEN, { "zone", "ZONE", "the proxy-cache zone (required)" },
	    { "key", "KEY", "the entries of this key (\"GET HOST TARGET\" by default)" },
	    { "prefix", "PREFIX", "the entries of every key that starts with PREFIX" },
	    { "all", NULL, "every entry of the zone" } },
	  weirctl_api_cache_purge, "remove stored responses from the proxy's cache; "
	  "prints {\"purged\": N}" },
};
#define N_CMDS (sizeof(weirctl_cmds) / sizeof(weirctl_cmds[0]))

static void cmd_usage(FILE *f, const struct weirctl_cmd *c)
{
	fprintf(f, "  weirctl %s%s%s%s%s", c->group ? c->group : "",
		c->group ? " " : "", c->verb, *c->args ? " " : "", c->args);
	for (int i = 0; i < WEIRCTL_MAX_OPTS && c->opts[i].name; i++)
		fprintf(f, " [--%s%s%s]", c->opts[i].name,
			c->opts[i].metavar ? " " : "",
			c->opts[i].metavar ? c->opts[i].metavar : "");
	fprintf(f, "\n      %s\n", c->help);
}

static void usage(FILE *f, const char *group)
{
	fprintf(f, "usage: weirctl [--pin-dir DIR] COMMAND ...\n\n");
	size_t glen = group ? strlen(group) : 0;

	/* a group's help shows its two-word subgroups too */
	for (size_t i = 0; i < N_CMDS; i++) {
		const char *g = weirctl_cmds[i].group;

		if (!group || (g && !strncmp(g, group, glen) &&
			       (!g[glen] || g[glen] == ' ')))
			cmd_usage(f, &weirctl_cmds[i]);
	}
	if (!group)
		fprintf(f, "\nMaps are pinned under %s unless --pin-dir "
			   "(or WEIR_PIN_DIR) says otherwise.\n"
			   "'weirctl COMMAND --help' shows one command.\n",
			WEIR_PIN_DIR);
}

const char *weirctl_opt(const struct weirctl_ctx *ctx, const char *name)
{
	for (int i = 0; i < WEIRCTL_MAX_OPTS && ctx->cmd->opts[i].name; i++)
		if (!strcmp(ctx->cmd->opts[i].name, name))
			return ctx->optval[i];
	return NULL;
}

bool weirctl_flag(const struct weirctl_ctx *ctx, const char *name)
{
	return weirctl_opt(ctx, name) != NULL;
}

int weirctl_err(const struct weirctl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weirctl: ");
	if (ctx && ctx->cmd)
		fprintf(stderr, "%s%s%s: ", ctx->cmd->group ? ctx->cmd->group : "",
			ctx->cmd->group ? " " : "", ctx->cmd->verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int weirctl_u32(struct weirctl_ctx *ctx, const char *what, const char *s,
		uint32_t max, uint32_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v > max)
		return weirctl_err(ctx, "%s '%s': expected an integer 0..%u",
				   what, s, max);
	*out = (uint32_t)v;
	return 0;
}

int weirctl_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	json_decref(v);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

int weirctl_open_maps(struct weirctl_ctx *ctx, struct weir_maps *m)
{
	int err = weir_maps_open(m, ctx->pin_dir);

	if (err == -ENOENT)
		return weirctl_err(ctx, "no weir maps pinned under %s: attach "
					"first (weirctl attach IFACE)", ctx->pin_dir);
	if (err == -EPERM || err == -EACCES)
		return weirctl_err(ctx, "%s: permission denied (weirctl needs "
					"root: CAP_BPF and CAP_NET_ADMIN)", ctx->pin_dir);
	if (err)
		return weirctl_err(ctx, "opening maps under %s: %s",
				   ctx->pin_dir, strerror(-err));
	return 0;
}

int weirctl_ifindex(struct weirctl_ctx *ctx, const char *name)
{
	unsigned int idx = if_nametoindex(name);

	if (!idx)
		weirctl_err(ctx, "unknown interface '%s'", name);
	return (int)idx;
}

static const struct weirctl_cmd *find_cmd(const char *group, const char *verb,
					  bool *group_known)
{
	*group_known = false;
	for (size_t i = 0; i < N_CMDS; i++) {
		const struct weirctl_cmd *c = &weirctl_cmds[i];

		if (c->group && group && !strcmp(c->group, group)) {
			*group_known = true;
			if (verb && !strcmp(c->verb, verb))
				return c;
		} else if (!c->group && !group && verb && !strcmp(c->verb, verb)) {
			return c;
		}
	}
	return NULL;
}

/* A group, or the first word of two-word groups ("api" of "api routes"). */
static bool is_group(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < N_CMDS; i++) {
		const char *g = weirctl_cmds[i].group;
		if (g && !strncmp(g, s, len) && (!g[len] || g[len] == ' '))
			return true;
	}
	return false;
}

#define OPT_BASE 1000 /* getopt values of table options; 0 means unknown */

/* Parses the command's options and arguments from the table entry. */
static int parse_cmd(struct weirctl_ctx *ctx, int argc, char **argv)
{
	const struct weirctl_cmd *c = ctx->cmd;
	struct option lo[WEIRCTL_MAX_OPTS + 2] = {};
	int n = 0, opt, idx;

	for (; n < WEIRCTL_MAX_OPTS && c->opts[n].name; n++)
		lo[n] = (struct option){ c->opts[n].name,
					 c->opts[n].metavar ? required_argument
							    : no_argument,
					 NULL, OPT_BASE + n };
	lo[n] = (struct option){ "help", no_argument, NULL, 'h' };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", lo, &idx)) != -1) {
		if (opt == 'h') {
			fprintf(stdout, "usage:\n");
			cmd_usage(stdout, c);
			exit(0);
		}
		if (opt == '?' || opt == ':') {
			if (opt == ':' && optopt >= OPT_BASE && optopt < OPT_BASE + n)
				weirctl_err(ctx, "--%s needs a value",
					    c->opts[optopt - OPT_BASE].name);
			else
				weirctl_err(ctx, "unknown option '%s'",
					    argv[optind - 1]);
			goto bad;
		}
		ctx->optval[opt - OPT_BASE] = optarg ? optarg : "";
	}
	ctx->argc = argc - optind;
	if (ctx->argc < c->min_args || ctx->argc > c->max_args) {
		weirctl_err(ctx, ctx->argc < c->min_args ? "missing %s"
							 : "too many arguments (expected %s)",
			    *c->args ? c->args : "nothing");
		goto bad;
	}
	for (int i = 0; i < ctx->argc; i++)
		ctx->argv[i] = argv[optind + i];
	return 0;
bad:
	fprintf(stderr, "usage:\n");
	cmd_usage(stderr, c);
	return 2;
}

int main(int argc, char **argv)
{
	struct weirctl_ctx ctx = { .pin_dir = getenv("WEIR_PIN_DIR") };
	const char *group = NULL;
	char group2[64];
	bool group_known;
	int i = 1, ret;

	if (!ctx.pin_dir || !*ctx.pin_dir)
		ctx.pin_dir = WEIR_PIN_DIR;
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout, NULL);
			return 0;
		}
		if (!strcmp(argv[i], "--pin-dir") && i + 1 < argc) {
			ctx.pin_dir = argv[i + 1];
			i += 2;
			continue;
		}
		if (!strncmp(argv[i], "--pin-dir=", 10)) {
			ctx.pin_dir = argv[i] + 10;
			i++;
			continue;
		}
		fprintf(stderr, "weirctl: unknown option '%s' (see 'weirctl "
				"--help')\n", argv[i]);
		return 2;
	}
	if (i >= argc) {
		usage(stderr, NULL);
		return 2;
	}
	/* Map paths are built as PIN_DIR/weir_xxxxxxx in fixed buffers. */
	if (!*ctx.pin_dir || strlen(ctx.pin_dir) > WEIRCTL_PIN_DIR_MAX) {
		fprintf(stderr, "weirctl: --pin-dir: a path of 1..%d characters\n",
			WEIRCTL_PIN_DIR_MAX);
		return 2;
	}
	if (is_group(argv[i]))
		group = argv[i++];
	/* two-word groups: "service backend" */
	if (group && i < argc) {
		snprintf(group2, sizeof(group2), "%s %s", group, argv[i]);
		if (is_group(group2)) {
			group = group2;
			i++;
		}
	}
	if (group && (i >= argc || !strcmp(argv[i], "--help") ||
		      !strcmp(argv[i], "-h"))) {
		usage(i >= argc ? stderr : stdout, group);
		return i >= argc ? 2 : 0;
	}
	ctx.cmd = find_cmd(group, argv[i], &group_known);
	if (!ctx.cmd) {
		if (group)
			fprintf(stderr, "weirctl: %s: unknown command '%s' (see "
					"'weirctl %s --help')\n", group, argv[i], group);
		else
			fprintf(stderr, "weirctl: unknown command '%s' (see "
					"'weirctl --help')\n", argv[i]);
		return 2;
	}
	ret = parse_cmd(&ctx, argc - i, argv + i);
	if (ret)
		return ret;
	return ctx.cmd->run(&ctx);
}
