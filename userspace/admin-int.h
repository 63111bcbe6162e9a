/* userspace/admin-int.h - what the two halves of the admin API share:
 * admin_http.c reads a request and checks its token, admin.c does what it
 * asks to the resources. Private to those two files.
 */
#ifndef WEIR_ADMIN_INT_H
#define WEIR_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define WEIR_ADMIN_MAX_BODY (1u << 20)	/* a request body, else 413 */
#define WEIR_ADMIN_MAX_URL 4096

/* One request as read: the target, the body, and what its head said. */
struct weir_admin_req {
	char url[WEIR_ADMIN_MAX_URL];
	size_t url_len;
	char *body;			/* NUL-terminated, or NULL without one */
	size_t body_len;
	/* the reading's state */
	char hname[32], hval[512];
	size_t hname_len, hval_len;
	bool hname_long, hval_long;
	char key[512];			/* the token given, "" if none */
	bool key_given, key_long;
	bool long_url, too_large, done;
	bool expect;			/* Expect: 100-continue */
	bool head_done, authorized;	/* the head is read, and its token is right */
	const unsigned char *token;	/* SHA-256 of the token it must carry */
	int fd;
};

/* SHA-256 of p. */
void weir__admin_digest(const void *p, size_t n, unsigned char md[32]);

/* Reads one request from fd into q, and checks its token (the SHA-256 given)
 * as soon as its head is read. Returns its method (enum llhttp_method), or
 * -1 when it has been answered already (400, 401, 413, 404 for a target too
 * long) or the client went away. */
int weir__admin_read(int fd, const unsigned char token[32], struct weir_admin_req *q);
void weir__admin_req_free(struct weir_admin_req *q);

/* Sends status with body (taken; NULL for none) and extra header lines. */
void weir__admin_answer(int fd, int status, json_t *body, const char *extra);
/* {"error": error, "field": field, "reason": reason} */
json_t *weir__admin_error(const char *error, const char *field, const char *reason);

#endif
