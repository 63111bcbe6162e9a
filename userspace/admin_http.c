/* userspace/admin_http.c - the admin API's side of HTTP: one request read
 * from a connection through llhttp (never by hand), its token checked, and
 * the JSON answers written. admin.c decides what a request does.
 *
 * The token is checked as soon as the head is read, in constant time on
 * SHA-256 digests (so that its length does not show either): a client
 * without it gets 401 before it sends a body, and none of its body is read;
 * one with it and `Expect: 100-continue` gets its 100. A body is at most
 * WEIR_ADMIN_MAX_BODY bytes (declared or counted, chunked too), else 413; a
 * request must be whole within REQUEST_TIMEOUT_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "admin-int.h"
#include "core.h"
#include "sidesrv.h"

#define REQUEST_TIMEOUT_MS 10000	/* for the whole request */

void weir__admin_digest(const void *p, size_t n, unsigned char md[32])
{
	unsigned int len = 32;

	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL))
		memset(md, 0xff, 32);	/* matches no token's digest but by chance */
}

static int append(char *dst, size_t cap, size_t *len, bool *over, const char *at, size_t n)
{
	if (n >= cap - *len) {
		*over = true;
		return 0;
	}
	memcpy(dst + *len, at, n);
	*len += n;
	dst[*len] = 0;
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct weir_admin_req *q = p->data;
	return append(q->url, sizeof(q->url), &q->url_len, &q->long_url, at, n);
}

static int on_hname(llhttp_t *p, const char *at, size_t n)
{
	struct weir_admin_req *q = p->data;
	return append(q->hname, sizeof(q->hname), &q->hname_len, &q->hname_long, at, n);
}

static int on_hval(llhttp_t *p, const char *at, size_t n)
{
	struct weir_admin_req *q = p->data;
	return append(q->hval, sizeof(q->hval), &q->hval_len, &q->hval_long, at, n);
}

/* X-API-Key wins over Authorization: Bearer when both are given. */
static int on_hval_done(llhttp_t *p)
{
	struct weir_admin_req *q = p->data;
	const char *v = NULL;
	bool x = !q->hname_long && !strcasecmp(q->hname, "x-api-key");

	if (x)
		v = q->hval;
	else if (!q->hname_long && !strcasecmp(q->hname, "authorization") && !q->key_given &&
		 !strncasecmp(q->hval, "bearer ", 7))
		v = q->hval + 7 + strspn(q->hval + 7, " ");
	if (!q->hname_long && !strcasecmp(q->hname, "expect") &&
	    !strcasecmp(q->hval, "100-continue"))
		q->expect = true;
	if (v && (x || !q->key_given)) {
		snprintf(q->key, sizeof(q->key), "%s", v);
		q->key_given = true;
		q->key_long = q->hval_long;
	}
	q->hname_len = q->hval_len = 0;
	q->hname[0] = q->hval[0] = 0;
	q->hname_long = q->hval_long = false;
	return 0;
}

/* The token is checked once the head is read: a client without the right
 * one gets its 401 before it sends a body, and none of it is read. */
static int on_headers_done(llhttp_t *p)
{
	struct weir_admin_req *q = p->data;
	unsigned char md[32];

	q->head_done = true;
	weir__admin_digest(q->key, strlen(q->key), md);
	q->authorized = q->key_given && !q->key_long && !CRYPTO_memcmp(md, q->token, sizeof(md));
	if (!q->authorized)
		return -1;
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > WEIR_ADMIN_MAX_BODY) {
		q->too_large = true;
		return -1;
	}
	if (q->expect) {	/* the client waits for this before its body */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		weir_side_send(q->fd, cont, sizeof(cont) - 1, NULL, 0);
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct weir_admin_req *q = p->data;
	char *nb;

	if (q->body_len + n > WEIR_ADMIN_MAX_BODY) {
		q->too_large = true;
		return -1;
	}
	if (!(nb = realloc(q->body, q->body_len + n + 1)))
		return -1;
	q->body = nb;
	memcpy(q->body + q->body_len, at, n);
	q->body_len += n;
	q->body[q->body_len] = 0;
	return 0;
}

static int on_done(llhttp_t *p)
{
	((struct weir_admin_req *)p->data)->done = true;
	return HPE_PAUSED;
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	default: return "Internal Server Error";
	}
}

void weir__admin_answer(int fd, int status, json_t *body, const char *extra)
{
	char head[512], *text = NULL;
	size_t len = 0;
	int n;

	if (body && (text = json_dumps(body, JSON_INDENT(2))))
		len = strlen(text);
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, reason_of(status), extra ? extra : "",
		     text ? "Content-Type: application/json\r\n" : "", len + (text ? 1 : 0));
	if (text)
		text[len] = '\n';	/* json_dumps leaves the NUL: room for it */
	weir_side_send(fd, head, (size_t)n, text, len + 1);
	free(text);
	json_decref(body);
}

json_t *weir__admin_error(const char *error, const char *field, const char *reason)
{
	return json_pack("{s:s, s:s, s:s}", "error", error, "field", field, "reason", reason);
}

int weir__admin_read(int fd, const unsigned char token[32], struct weir_admin_req *q)
{
	static const llhttp_settings_t settings = {
		.on_url = on_url, .on_header_field = on_hname, .on_header_value = on_hval,
		.on_header_value_complete = on_hval_done, .on_headers_complete = on_headers_done,
		.on_body = on_body, .on_message_complete = on_done,
	};
	char buf[16384];
	uint64_t deadline = weir_now_ms() + REQUEST_TIMEOUT_MS;
	llhttp_t p;

	q->fd = fd;
	q->token = token;
	llhttp_init(&p, HTTP_REQUEST, &settings);
	p.data = q;
	while (!q->done && !q->too_large && !(q->head_done && !q->authorized) &&
	       weir_now_ms() < deadline) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return -1;
		llhttp_errno_t e = llhttp_execute(&p, buf, (size_t)n);
		if (e != HPE_OK && e != HPE_PAUSED)
			break;
	}
	if (!q->head_done || (q->authorized && !q->done && !q->too_large)) {
		weir__admin_answer(fd, 400, weir__admin_error("bad request", "",
				   "not a complete HTTP/1.1 request"), NULL);
		return -1;
	}
	if (!q->authorized) {
		weir__admin_answer(fd, 401, weir__admin_error("unauthorized", "X-API-Key",
				   q->key_given ? "wrong token" :
				   "a token is required (X-API-Key or Authorization: Bearer)"),
				   "WWW-Authenticate: Bearer\r\n");
		return -1;
	}
	if (q->too_large) {
		char why[64];
		snprintf(why, sizeof(why), "at most %u bytes", WEIR_ADMIN_MAX_BODY);
		weir__admin_answer(fd, 413, weir__admin_error("body too large", "body", why), NULL);
		return -1;
	}
	if (q->long_url) {
		weir__admin_answer(fd, 404, weir__admin_error("not found", "path", "too long"), NULL);
		return -1;
	}
	return llhttp_get_method(&p);
}

void weir__admin_req_free(struct weir_admin_req *q)
{
	OPENSSL_cleanse(q->key, sizeof(q->key));
	free(q->body);
	free(q);
}
