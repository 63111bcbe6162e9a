/* lists.c - weirctl's map commands: allowlist and blocklist entries, rate
 * limits, and the per-reason counters. Input is validated completely before
 * any map is touched, so a rejected command changes nothing.
 */
#include "weirctl.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum weir_list ctx_list(const struct weirctl_ctx *ctx)
{
	return strcmp(ctx->cmd->group, "block") ? WEIR_LIST_ALLOW : WEIR_LIST_BLOCK;
}

static const char *list_name(enum weir_list l)
{
	return l == WEIR_LIST_BLOCK ? "blocklist" : "allowlist";
}

static int parse_cidr_arg(struct weirctl_ctx *ctx, const char *s,
			  struct weir_cidr *c)
{
	char err[160];

	if (weir_cidr_parse(s, c, err, sizeof(err)))
		return weirctl_err(ctx, "%s", err);
	return 0;
}


int weirctl_list_add(struct weirctl_ctx *ctx)
{
	const char *ttl_s = weirctl_opt(ctx, "ttl");
	const char *note = weirctl_opt(ctx, "comment");
	enum weir_list l = ctx_list(ctx);
	struct weir_cidr c;
	struct weir_maps m;
	char buf[WEIR_CIDR_STRLEN];
	uint64_t ttl = 0;
	int err;

	if (parse_cidr_arg(ctx, ctx->argv[0], &c))
		return 1;
	if (ttl_s && weir_duration_parse(ttl_s, &ttl))
		return weirctl_err(ctx, "--ttl '%s': expected a positive duration "
					"such as 90s, 15m, 2h or 7d", ttl_s);
	if (ttl && ttl > UINT64_MAX - weir_mono_ns())
		return weirctl_err(ctx, "--ttl '%s': too long", ttl_s);
	if (note && l == WEIR_LIST_ALLOW)
		return weirctl_err(ctx, "--comment applies to the blocklist only");
	if (note && strlen(note) >= WEIR_NOTE_LEN)
		return weirctl_err(ctx, "--comment: at most %d bytes",
				   WEIR_NOTE_LEN - 1);
	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_list_add(&m, l, &c, ttl, note);
	weir_maps_close(&m);
	if (err == -EMLINK)
		return weirctl_err(ctx, "--comment: the comment table is full (%u)",
				   WEIR_NOTE_MAX);
	if (err == -ENOSPC || err == -E2BIG)
		return weirctl_err(ctx, "the %s is full", list_name(l));
	if (err)
		return weirctl_err(ctx, "%s: %s", ctx->argv[0], strerror(-err));
	weir_cidr_format(&c, buf, sizeof(buf));
	printf("%s %s%s%s\n", l == WEIR_LIST_BLOCK ? "blocked" : "allowed", buf,
	       ttl_s ? " for " : "", ttl_s ? ttl_s : "");
	return 0;
}

int weirctl_list_del(struct weirctl_ctx *ctx)
{
	enum weir_list l = ctx_list(ctx);
	struct weir_cidr c;
	struct weir_maps m;
	int err;

	if (parse_cidr_arg(ctx, ctx->argv[0], &c))
		return 1;
	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_list_del(&m, l, &c);
	weir_maps_close(&m);
	if (err == -ENOENT)
		return weirctl_err(ctx, "%s is not in the %s", ctx->argv[0],
				   list_name(l));
	if (err)
		return weirctl_err(ctx, "%s: %s", ctx->argv[0], strerror(-err));
	return 0;
}

struct show_ctx {
	json_t *arr;
	uint64_t now;
};

static int show_item(const struct weir_list_item *it, void *data)
{
	struct show_ctx *sc = data;
	char cidr[WEIR_CIDR_STRLEN], added[32], expires[32];
	time_t t = (time_t)(it->entry.added_ns / 1000000000ull);
	int64_t left = it->entry.expires_ns
		? (int64_t)((it->entry.expires_ns - sc->now) / 1000000000ull) : -1;
	struct tm tm;

	weir_cidr_format(&it->cidr, cidr, sizeof(cidr));
	strftime(added, sizeof(added), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	if (sc->arr) {
		json_t *o = json_pack("{s:s, s:I, s:s}", "cidr", cidr, "hits",
				      (json_int_t)it->entry.hits, "added", added);

		json_object_set_new(o, "expires_in_s",
				    left >= 0 ? json_integer(left) : json_null());
		json_object_set_new(o, "comment", it->note[0] ? json_string(it->note)
							    : json_null());
		json_array_append_new(sc->arr, o);
		return 0;
	}
	if (left >= 0)
		snprintf(expires, sizeof(expires), "%" PRId64 "s", left);
	else
		snprintf(expires, sizeof(expires), "never");
	printf("%-44s %-10s %12" PRIu64 "  %s  %s\n", cidr, expires,
	       (uint64_t)it->entry.hits, added, it->note);
	return 0;
}

int weirctl_list_show(struct weirctl_ctx *ctx)
{
	struct show_ctx sc = { .now = weir_mono_ns() };
	struct weir_maps m;
	int n;

	if (weirctl_open_maps(ctx, &m))
		return 1;
	if (weirctl_flag(ctx, "json"))
		sc.arr = json_array();
	else
		printf("%-44s %-10s %12s  %-20s  %s\n", "CIDR", "EXPIRES",
		       "HITS", "ADDED", "COMMENT");
	n = weir_list_walk(&m, ctx_list(ctx), show_item, &sc);
	weir_maps_close(&m);
	if (n < 0) {
		json_decref(sc.arr);
		return weirctl_err(ctx, "%s", strerror(-n));
	}
	return sc.arr ? weirctl_print_json(sc.arr) : 0;
}

static void import_progress(size_t done, size_t total, void *data)
{
	fprintf(stderr, "\r  %zu / %zu prefixes", done, total);
	if (done == total)
		fputc('\n', stderr);
}

/* Parses every line first: one bad line rejects the whole file. */
int weirctl_list_import(struct weirctl_ctx *ctx)
{
	enum weir_list l = ctx_list(ctx);
	const char *path = ctx->argv[0];
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	struct weir_cidr *v = NULL;
	size_t n = 0, cap = 0, lineno = 0, len = 0;
	char *line = NULL, err[160];
	struct weir_maps m;
	int ret = 1, e;

	if (!f)
		return weirctl_err(ctx, "%s: %s", path, strerror(errno));
	while (getline(&line, &len, f) >= 0) {
		const char *s;

		lineno++;
		if (!weir_list_line(line, &s))
			continue;
		if (n == cap) {
			struct weir_cidr *nv;

			cap = cap ? 2 * cap : 4096;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				weirctl_err(ctx, "out of memory");
				goto out;
			}
			v = nv;
		}
		if (weir_cidr_parse(s, &v[n], err, sizeof(err))) {
			weirctl_err(ctx, "%s:%zu: %s; nothing imported", path,
				    lineno, err);
			goto out;
		}
		n++;
	}
	if (ferror(f)) {
		weirctl_err(ctx, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (weirctl_open_maps(ctx, &m))
		goto out;
	e = weir_list_import(&m, l, v, n,
			     isatty(STDERR_FILENO) ? import_progress : NULL, NULL);
	weir_maps_close(&m);
	if (e == -ENOSPC || e == -E2BIG)
		weirctl_err(ctx, "the %s cannot hold %zu more prefixes; nothing "
				 "imported", list_name(l), n);
	else if (e)
		weirctl_err(ctx, "%s; nothing imported", strerror(-e));
	else {
		printf("imported %zu prefixes into the %s\n", n, list_name(l));
		ret = 0;
	}
out:
	free(line);
	free(v);
	if (f != stdin)
		fclose(f);
	return ret;
}

int weirctl_list_flush(struct weirctl_ctx *ctx)
{
	struct weir_maps m;
	int n;

	if (weirctl_open_maps(ctx, &m))
		return 1;
	n = weir_list_flush(&m, ctx_list(ctx));
	weir_maps_close(&m);
	if (n < 0)
		return weirctl_err(ctx, "%s", strerror(-n));
	printf("removed %d entries from the %s\n", n, list_name(ctx_list(ctx)));
	return 0;
}

int weirctl_list_reap(struct weirctl_ctx *ctx)
{
	enum weir_list l = ctx_list(ctx);
	struct weir_maps m;
	long live;
	int reaped;

	if (weirctl_open_maps(ctx, &m))
		return 1;
	reaped = weir_list_reap(&m, l);
	live = weir_list_count(&m, l, NULL);
	weir_maps_close(&m);
	if (reaped < 0 || live < 0)
		return weirctl_err(ctx, "%s", strerror(-(reaped < 0 ? reaped : (int)live)));
	printf("removed %d expired entries from the %s; %ld left\n", reaped,
	       list_name(l), live);
	return 0;
}

/* ---- limits ---- */

static int parse_u32(struct weirctl_ctx *ctx, const char *opt, uint32_t max,
		     uint32_t *out)
{
	const char *s = weirctl_opt(ctx, opt);
	char what[40];

	if (!s)
		return 0;
	snprintf(what, sizeof(what), "--%s", opt);
	return weirctl_u32(ctx, what, s, max, out);
}

#define WEIR_RATE_MAX 100000000u /* 100M/s: GCRA's 1 ns resolution stays exact */
#define WEIR_BURST_MAX 100000000u

static int apply_rate(struct weirctl_ctx *ctx, const char *rate_opt,
		      const char *burst_opt, struct weir_rate *r)
{
	uint32_t rate = r->rate, burst = r->burst;
	bool rate_given = weirctl_opt(ctx, rate_opt) != NULL;

	if (parse_u32(ctx, rate_opt, WEIR_RATE_MAX, &rate) ||
	    parse_u32(ctx, burst_opt, WEIR_BURST_MAX, &burst))
		return 1;
	if (rate_given && !weirctl_opt(ctx, burst_opt))
		burst = rate;
	if (rate && !burst)
		return weirctl_err(ctx, "--%s must be at least 1", burst_opt);
	if (!rate && weirctl_opt(ctx, burst_opt))
		return weirctl_err(ctx, "--%s needs a rate (--%s)", burst_opt, rate_opt);
	r->rate = rate;
	r->burst = rate ? burst : 0;
	return 0;
}

/* The change of `limit set`, applied by the library under its lock. An
 * error is printed here and returned as -ECANCELED (nothing written). */
static int limit_change(struct weir_limit *lim, void *data)
{
	struct weirctl_ctx *ctx = data;

	if (apply_rate(ctx, "conn", "conn-burst", &lim->conn) ||
	    apply_rate(ctx, "pkt", "pkt-burst", &lim->pkt))
		return -ECANCELED;
	return 0;
}

int weirctl_limit_set(struct weirctl_ctx *ctx)
{
	const char *target = ctx->argc ? ctx->argv[0] : "default";
	bool is_default = !strcmp(target, "default");
	struct weir_limit probe = {};
	struct weir_cidr c;
	struct weir_maps m;
	int err;

	if (!weirctl_opt(ctx, "conn") && !weirctl_opt(ctx, "pkt") &&
	    !weirctl_opt(ctx, "conn-burst") && !weirctl_opt(ctx, "pkt-burst"))
		return weirctl_err(ctx, "nothing to set: give --conn and/or --pkt");
	if (!is_default && parse_cidr_arg(ctx, target, &c))
		return 1;
	/* The values themselves are checked once before any map is opened
	 * (against zeros), and applied to the current ones under the lock. */
	probe.conn.rate = probe.pkt.rate = 1;
	probe.conn.burst = probe.pkt.burst = 1;
	if (limit_change(&probe, ctx))
		return 1;
	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_limit_update(&m, is_default ? NULL : &c, limit_change, ctx);
	weir_maps_close(&m);
	if (err == -ECANCELED)
		return 1; /* limit_change said why */
	if (err == -ENOSPC || err == -E2BIG)
		return weirctl_err(ctx, "the override table is full");
	if (err)
		return weirctl_err(ctx, "%s", strerror(-err));
	return 0;
}

int weirctl_limit_del(struct weirctl_ctx *ctx)
{
	struct weir_cidr c;
	struct weir_maps m;
	int err;

	if (parse_cidr_arg(ctx, ctx->argv[0], &c))
		return 1;
	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_limit_del(&m, &c);
	weir_maps_close(&m);
	if (err == -ENOENT)
		return weirctl_err(ctx, "no override for %s", ctx->argv[0]);
	if (err)
		return weirctl_err(ctx, "%s", strerror(-err));
	return 0;
}

static json_t *limit_json(const char *target, const struct weir_limit *l)
{
	return json_pack("{s:s, s:{s:I, s:I}, s:{s:I, s:I}}", "cidr", target,
			 "conn", "rate", (json_int_t)l->conn.rate, "burst",
			 (json_int_t)l->conn.burst, "pkt", "rate",
			 (json_int_t)l->pkt.rate, "burst", (json_int_t)l->pkt.burst);
}

static void limit_text(const char *target, const struct weir_limit *l)
{
	printf("%-44s conn %u/s burst %u   pkt %u/s burst %u\n", target,
	       l->conn.rate, l->conn.burst, l->pkt.rate, l->pkt.burst);
}

static int show_override(const struct weir_cidr *c, const struct weir_limit *l,
			 void *data)
{
	char buf[WEIR_CIDR_STRLEN];

	weir_cidr_format(c, buf, sizeof(buf));
	if (data)
		json_array_append_new(data, limit_json(buf, l));
	else
		limit_text(buf, l);
	return 0;
}

int weirctl_limit_show(struct weirctl_ctx *ctx)
{
	json_t *arr = weirctl_flag(ctx, "json") ? json_array() : NULL;
	struct weir_xdp_config cfg;
	struct weir_maps m;
	int err;

	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_xdp_config_read(&m, &cfg);
	if (!err) {
		if (arr)
			json_array_append_new(arr, limit_json("default", &cfg.limit));
		else
			limit_text("default", &cfg.limit);
		err = weir_limit_walk(&m, show_override, arr);
	}
	weir_maps_close(&m);
	if (err < 0) {
		json_decref(arr);
		return weirctl_err(ctx, "%s", strerror(-err));
	}
	return arr ? weirctl_print_json(arr) : 0;
}

/* ---- stats ---- */

static volatile sig_atomic_t stop;
static void on_signal(int sig) { stop = 1; }

static void print_stats(bool json, const struct weir_stat *s,
			const struct weir_stat *prev, double secs)
{
	json_t *o = json ? json_object() : NULL;

	if (!json)
		printf(prev ? "%-18s %14s %14s\n" : "%-18s %14s %16s\n", "REASON",
		       prev ? "PKT/S" : "PACKETS", prev ? "BIT/S" : "BYTES");
	for (int r = 0; r < WEIR_R_MAX; r++) {
		if (prev) {
			double pps = (double)(s[r].packets - prev[r].packets) / secs;
			double bps = 8.0 * (double)(s[r].bytes - prev[r].bytes) / secs;

			if (o)
				json_object_set_new(o, weir_reason_names[r],
						    json_pack("{s:f, s:f}", "pps", pps,
							      "bps", bps));
			else
				printf("%-18s %14.0f %14.0f\n", weir_reason_names[r],
				       pps, bps);
		} else if (o) {
			json_object_set_new(o, weir_reason_names[r],
					    json_pack("{s:I, s:I}", "packets",
						      (json_int_t)s[r].packets, "bytes",
						      (json_int_t)s[r].bytes));
		} else {
			printf("%-18s %14" PRIu64 " %16" PRIu64 "\n",
			       weir_reason_names[r], (uint64_t)s[r].packets,
			       (uint64_t)s[r].bytes);
		}
	}
	if (o)
		weirctl_print_json(o);
	fflush(stdout);
}

int weirctl_stats(struct weirctl_ctx *ctx)
{
	struct weir_stat cur[WEIR_R_MAX], prev[WEIR_R_MAX];
	bool json = weirctl_flag(ctx, "json");
	const char *count_s = weirctl_opt(ctx, "count");
	unsigned long count = 0;
	struct weir_maps m;
	uint64_t t0, t1;
	int err;

	if (count_s) {
		char *end;

		count = strtoul(count_s, &end, 10);
		if (*count_s < '1' || *count_s > '9' || *end)
			return weirctl_err(ctx, "--count '%s': expected a positive "
						"integer", count_s);
	}
	if (weirctl_open_maps(ctx, &m))
		return 1;
	err = weir_stats_read(&m, cur);
	if (err)
		goto fail;
	if (!weirctl_flag(ctx, "watch")) {
		print_stats(json, cur, NULL, 0);
		weir_maps_close(&m);
		return 0;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	t0 = weir_mono_ns();
	for (unsigned long i = 0; !stop && (!count || i < count); i++) {
		memcpy(prev, cur, sizeof(cur));
		sleep(1);
		err = weir_stats_read(&m, cur);
		if (err)
			goto fail;
		t1 = weir_mono_ns();
		print_stats(json, cur, prev, (double)(t1 - t0) / 1e9);
		t0 = t1;
	}
	weir_maps_close(&m);
	return 0;
fail:
	weir_maps_close(&m);
	return weirctl_err(ctx, "reading %s: %s", WEIR_MAP_STATS, strerror(-err));
}
