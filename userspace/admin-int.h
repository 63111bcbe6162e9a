/* userspace/admin-int.h - what the two halves of the admin API share:
 * admin_http.c reads a request and checks its token, admin.c does what it
 * asks to the resources. Private to those two files.
 */
#ifndef WEIR_ADMIN_INT_H
#define WEIR_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* ---- the journal of changes (admin_journal.c) ---- */

struct weir_journal {
	int fd;
	char *path;
	uint64_t seq;			/* of the last record, or the state file's */
	size_t records;			/* since the state file was last written whole */
	off_t end;			/* where the next record goes */
	off_t size;			/* of the file: zeros from end on */
};

/* Applies one record to doc: value NULL removes kind's id. 0, or -1 with
 * the reason in why. */
typedef int weir_journal_apply_fn(json_t *doc, const char *kind, const char *id, json_t *value,
				  char *why, size_t whylen);

/* Opens STATE.journal, creating it. With `replay`, applies its records
 * numbered above j->seq (set by the caller to the state file's) to doc in
 * order, and cuts off a half-written last one; without, empties it (there
 * is no state file it could follow). Returns 0, or -1 with "state journal
 * FILE[:LINE]: REASON" in err. */
int weir__journal_open(struct weir_journal *j, const char *state, bool replay, json_t *doc,
		       weir_journal_apply_fn *apply, char *err, size_t errlen);
/* Appends a record (value NULL: a removal) and syncs it. -1 with err, and
 * nothing of it left in the file. */
int weir__journal_append(struct weir_journal *j, const char *kind, const char *id,
			 const json_t *value, char *err, size_t errlen);
/* Empties it: the state file now holds everything up to j->seq. */
int weir__journal_reset(struct weir_journal *j, char *err, size_t errlen);
void weir__journal_close(struct weir_journal *j);

#endif
