/* api.c - `weirctl api KIND VERB`: the admin API of the weir proxy from the
 * command line (README: Admin API).
 *
 * A plain blocking client: one connection per request, a request written in
 * full (method, target, Host, the token, Content-Length, Connection: close),
 * the response read through llhttp, the same parser weir itself uses. The
 * kind (routes, upstreams, plugins, consumers, certificates) is the command's
 * group after "api ".
 * Address and token come from --addr/--token or WEIR_ADMIN/WEIR_ADMIN_TOKEN.
 * A 2xx answer prints its JSON body on stdout; any other prints
 * "STATUS: FIELD: REASON" from the error body and exits 1.
 */
#include "weirctl.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <llhttp.h>

#define IO_TIMEOUT_S 30
#define MAX_RESPONSE (256u << 20)
#define PAGE 1000

struct resp {
	char *body;
	size_t len;
	bool done, too_large;
};

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct resp *r = p->data;
	char *nb;

	if (r->len + n > MAX_RESPONSE || !(nb = realloc(r->body, r->len + n + 1))) {
		r->too_large = true;
		return -1;
	}
	r->body = nb;
	memcpy(r->body + r->len, at, n);
	r->len += n;
	r->body[r->len] = 0;
	return 0;
}

static int on_done(llhttp_t *p)
{
	((struct resp *)p->data)->done = true;
	return HPE_PAUSED;
}

/* "HOST:PORT" or "[V6]:PORT", numeric only. */
static int dial(struct weirctl_ctx *ctx, const char *addr)
{
	char host[128], *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST },
			*ai;
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd, rc;

	snprintf(host, sizeof(host), "%s", addr);
	if (!(port = strrchr(host, ':')) || port == host || !port[1]) {
		weirctl_err(ctx, "address '%s': expected HOST:PORT", addr);
		return -1;
	}
	*port++ = 0;
	if (host[0] == '[' && port[-2] == ']') {
		port[-2] = 0;
		memmove(host, host + 1, strlen(host));
	}
	if ((rc = getaddrinfo(host, port, &hints, &ai))) {
		weirctl_err(ctx, "address '%s': %s (an IP address and a port)", addr,
			    gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		weirctl_err(ctx, "connecting to the admin API at %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Sends one request; returns the status with the body in *body (malloc'd,
 * may be NULL), or -1 after printing why. */
static int request(struct weirctl_ctx *ctx, const char *method, const char *target,
		   const char *data, char **body)
{
	static const llhttp_settings_t settings = { .on_body = on_body,
						     .on_message_complete = on_done };
	const char *addr = weirctl_opt(ctx, "addr"), *token = weirctl_opt(ctx, "token");
	struct resp r = { 0 };
	char head[1024], buf[16384];
	llhttp_t p;
	int fd, n;

	*body = NULL;
	if (!addr && !(addr = getenv("WEIR_ADMIN")))
		addr = "127.0.0.1:9180";
	if (!token && !(token = getenv("WEIR_ADMIN_TOKEN"))) {
		weirctl_err(ctx, "no token: give --token or set WEIR_ADMIN_TOKEN");
		return -1;
	}
	if (strpbrk(token, "\r\n") || strlen(token) > 500) {
		weirctl_err(ctx, "the token must be one line of at most 500 bytes");
		return -1;
	}
	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n%sContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", method, target, addr, token,
		     data ? "Content-Type: application/json\r\n" : "", data ? strlen(data) : 0);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		weirctl_err(ctx, "request too long");
		return -1;
	}
	if ((fd = dial(ctx, addr)) < 0)
		return -1;
	if (send_all(fd, head, (size_t)n) < 0 || (data && send_all(fd, data, strlen(data)) < 0)) {
		weirctl_err(ctx, "sending to %s: %s", addr, strerror(errno));
		goto fail;
	}
	llhttp_init(&p, HTTP_RESPONSE, &settings);
	p.data = &r;
	while (!r.done) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		llhttp_errno_t e;

		if (k < 0) {
			weirctl_err(ctx, "reading from %s: %s", addr, strerror(errno));
			goto fail;
		}
		e = k ? llhttp_execute(&p, buf, (size_t)k) : llhttp_finish(&p);
		if ((e != HPE_OK && e != HPE_PAUSED) || (!k && !r.done)) {
			weirctl_err(ctx, "%s: not a valid HTTP answer%s", addr,
				    r.too_large ? " (too large)" : "");
			goto fail;
		}
	}
	close(fd);
	*body = r.body;
	return p.status_code;
fail:
	close(fd);
	free(r.body);
	return -1;
}

/* Prints a 2xx body, or the error an answer names; the exit status. */
static int report(struct weirctl_ctx *ctx, int status, char *body)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	int rc = 0;

	if (status < 0) {
		rc = 1;
	} else if (status >= 200 && status < 300) {
		if (j) {
			char *s = json_dumps(j, JSON_INDENT(2));
			if (s)
				puts(s);
			free(s);
		}
	} else {
		const char *f = json_string_value(json_object_get(j, "field"));
		const char *why = json_string_value(json_object_get(j, "reason"));
		const char *e = json_string_value(json_object_get(j, "error"));
		rc = weirctl_err(ctx, "%d: %s%s%s", status, f && *f ? f : "", f && *f ? ": " : "",
				 why && *why ? why : e ? e : "(no reason given)");
	}
	json_decref(j);
	free(body);
	return rc;
}

static const char *kind(const struct weirctl_ctx *ctx)
{
	return ctx->cmd->group + 4;	/* "api routes" */
}

/* An id goes into the URL as it is: the API's alphabet needs no escaping. */
static int target(struct weirctl_ctx *ctx, char *buf, size_t len, const char *id)
{
	if (id && (!*id || strlen(id) > 64 ||
		   id[strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789._-")])) {
		weirctl_err(ctx, "id '%s': use 1 to 64 letters, digits, '.', '_' or '-'", id);
		return -1;
	}
	snprintf(buf, len, "/admin/%s%s%s", kind(ctx), id ? "/" : "", id ? id : "");
	return 0;
}

int weirctl_api_list(struct weirctl_ctx *ctx)
{
	const char *page = weirctl_opt(ctx, "page"), *size = weirctl_opt(ctx, "page-size");
	uint32_t pg = 0, ps = 100;
	char t[160], *body = NULL;
	json_t *all = json_array();
	size_t total = 0;

	if ((page && weirctl_u32(ctx, "--page", page, 1u << 30, &pg)) ||
	    (size && weirctl_u32(ctx, "--page-size", size, 1000, &ps)))
		return 1;
	if (page || size) {	/* one page, as the API answers it */
		target(ctx, t, sizeof(t), NULL);
		snprintf(t + strlen(t), sizeof(t) - strlen(t), "?page=%u&page_size=%u",
			 pg ? pg : 1, ps);
		json_decref(all);
		int st = request(ctx, "GET", t, NULL, &body);
		return report(ctx, st, body);
	}
	for (size_t off = 0;; off += PAGE) {	/* every page */
		target(ctx, t, sizeof(t), NULL);
		snprintf(t + strlen(t), sizeof(t) - strlen(t), "?offset=%zu&limit=%d", off, PAGE);
		int st = request(ctx, "GET", t, NULL, &body);
		if (st != 200) {
			json_decref(all);
			return report(ctx, st, body);
		}
		json_t *j = json_loads(body, 0, NULL), *items = json_object_get(j, "items");
		free(body);
		total = (size_t)json_integer_value(json_object_get(j, "total"));
		json_array_extend(all, items);
		size_t got = json_array_size(items);
		json_decref(j);
		if (!got || off + got >= total)
			break;
	}
	json_t *out = json_pack("{s:I, s:o}", "total", (json_int_t)total, "items", all);
	char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
	json_decref(out);
	if (!s)
		return weirctl_err(ctx, "out of memory");
	puts(s);
	free(s);
	return 0;
}

int weirctl_api_get(struct weirctl_ctx *ctx)
{
	char t[160], *body = NULL;

	if (target(ctx, t, sizeof(t), ctx->argv[0]) < 0)
		return 1;
	int st = request(ctx, "GET", t, NULL, &body);
	return report(ctx, st, body);
}

int weirctl_api_del(struct weirctl_ctx *ctx)
{
	char t[160], *body = NULL;

	if (target(ctx, t, sizeof(t), ctx->argv[0]) < 0)
		return 1;
	int st = request(ctx, "DELETE", t, NULL, &body);
	return report(ctx, st, body);
}

/* put and patch: the body is FILE's JSON ("-": stdin), checked here first
 * so that a bad file is reported with its line and column. */
static int send_file(struct weirctl_ctx *ctx, const char *method)
{
	const char *file = ctx->argv[1];
	json_error_t je;
	json_t *j;
	char t[160], *text, *body = NULL;

	if (target(ctx, t, sizeof(t), ctx->argv[0]) < 0)
		return 1;
	j = strcmp(file, "-") ? json_load_file(file, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je)
			      : json_loadf(stdin, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		return weirctl_err(ctx, "%s:%d:%d: %s", file, je.line, je.column, je.text);
	text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	if (!text)
		return weirctl_err(ctx, "out of memory");
	int st = request(ctx, method, t, text, &body);
	free(text);
	return report(ctx, st, body);
}

int weirctl_api_put(struct weirctl_ctx *ctx)
{
	return send_file(ctx, "PUT");
}

int weirctl_api_patch(struct weirctl_ctx *ctx)
{
	return send_file(ctx, "PATCH");
}

/* `api cache purge --zone Z (--key K | --prefix P | --all)`: POST
 * /admin/cache/purge; the API checks the body again and names a field. */
int weirctl_api_cache_purge(struct weirctl_ctx *ctx)
{
	const char *zone = weirctl_opt(ctx, "zone"), *key = weirctl_opt(ctx, "key"),
		   *prefix = weirctl_opt(ctx, "prefix");
	bool all = weirctl_flag(ctx, "all");
	char *text, *body = NULL;
	json_t *j;

	if (!zone)
		return weirctl_err(ctx, "--zone is required");
	if ((key != NULL) + (prefix != NULL) + all != 1)
		return weirctl_err(ctx, "give one of --key, --prefix and --all");
	j = all ? json_pack("{s:s, s:b}", "zone", zone, "all", 1)
		: json_pack("{s:s, s:s}", "zone", zone, key ? "key" : "prefix", key ? key : prefix);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return weirctl_err(ctx, "out of memory");
	int st = request(ctx, "POST", "/admin/cache/purge", text, &body);
	free(text);
	return report(ctx, st, body);
}
