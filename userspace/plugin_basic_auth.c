/* userspace/plugin_basic_auth.c - the `basic-auth` plugin: HTTP Basic
 * authentication (RFC 7617) against the consumers' password hashes:
 *
 *   consumers:
 *     - username: alice
 *       plugins: {basic-auth: {username: alice, password_hash: "$2y$10$..."}}
 *   routes:
 *     - {path: /admin, upstream: api, plugins: {basic-auth: {realm: admin}}}
 *
 * Passwords are stored only as hashes (auth.h: weir_auth_hash_check lists
 * the formats). A missing or malformed Authorization header (not Basic, bad
 * base64, no colon), an unknown user or a wrong password gets 401 with
 * `WWW-Authenticate: Basic realm="..."`; the answers are built when the
 * snapshot is.
 *
 * Slow hashes (bcrypt, yescrypt, PBKDF2 with many iterations) cost tens of
 * milliseconds, so a verified password is remembered: each worker thread
 * keeps a small direct-mapped cache of SHA-256(stored hash, username,
 * password) -> expiry, for cache_ttl seconds (default 60; 0 turns it off).
 * Only passwords that matched enter it, a changed hash changes the key, and
 * the cache holds digests, never passwords.
 *
 * A miss never runs the hash on the worker's loop: the request is
 * suspended (WEIR_ACCESS_PENDING) while a thread of the offload pool
 * (offload.h) computes it over copies of the hash and the password, and is
 * resumed on its worker when the result is back (and cached there). A
 * request that ends first (its client hung up) clears the job's `r` in its
 * log phase and cancels it (a job still queued is not hashed); the job,
 * back later, then only frees itself. When the
 * pool's queue is full the request is answered 503 with Retry-After: 1:
 * running the hash inline instead would stall every connection of the
 * worker exactly when hashing is what the host has too much of.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "auth.h"
#include "core.h"
#include "offload.h"
#include "plugin.h"

#define CACHE_SLOTS 256			/* per worker thread */
#define MAX_DECODED 1024		/* user:password, decoded */
#define MAX_HASH 512			/* a stored password hash, as used in the cache key */

struct verified {
	unsigned char digest[32];
	uint64_t expires;		/* ms, the worker's clock; 0: empty */
};

static __thread struct verified cache[CACHE_SLOTS];

enum { ANS_MISSING, ANS_BAD, ANS_INVALID, N_ANS };

static const char *const answer_body[N_ANS] = {
	"401 Unauthorized: missing credentials\n",
	"401 Unauthorized: malformed Basic credentials\n",
	"401 Unauthorized: invalid username or password\n",
};

static const char busy_head[] = "Retry-After: 1\r\nContent-Type: text/plain\r\n";
static const char busy_body[] = "503 Service Unavailable: too many password checks queued\n";
static const struct weir_answer busy = {
	.status = 503, .head = busy_head, .head_len = sizeof(busy_head) - 1,
	.body = busy_body, .body_len = sizeof(busy_body) - 1,
};

struct basic_auth {
	struct weir_auth_common common;	/* first: auth.h callbacks read it */
	struct weir_auth_table table;	/* username -> password hash */
	uint64_t ttl_ms;
	char *head;
	struct weir_answer answers[N_ANS];
};

static void basic_auth_destroy(void *p)
{
	struct basic_auth *b = p;

	if (!b)
		return;
	weir_auth_common_free(&b->common);
	weir_auth_table_free(&b->table);
	free(b->head);
	free(b);
}

static int basic_auth_configure(const json_t *conf, const json_t *global, void **inst,
				char *err, size_t errlen)
{
	static const char *const known[] = { "realm", "cache_ttl", NULL };
	const json_t *ttl = weir_auth_setting(conf, global, "cache_ttl");
	struct basic_auth *b;
	char *realm = NULL;
	size_t i;
	json_t *c;

	if (weir_auth_known(conf, global, known, err, errlen) < 0)
		return -1;
	if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
		    json_integer_value(ttl) > 86400)) {
		snprintf(err, errlen, "cache_ttl: expected seconds from 0 to 86400");
		return -1;
	}
	if (!(b = calloc(1, sizeof(*b)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->ttl_ms = ttl ? (uint64_t)json_integer_value(ttl) * 1000 : 60000;
	if (weir_auth_string(conf, global, "realm", "weir", false, &realm, err, errlen) ||
	    weir_auth_common_configure(&b->common, conf, global, "authorization", NULL, err,
				       errlen))
		goto fail;
	for (const char *p = realm; *p; p++)
		if ((unsigned char)*p < ' ' || *p == '"' || *p == '\\' || *p == 0x7f) {
			snprintf(err, errlen, "realm: no quotes, backslashes or control characters");
			goto fail;
		}
	if (asprintf(&b->head, "WWW-Authenticate: Basic realm=\"%s\"\r\n"
		     "Content-Type: text/plain\r\n", realm) < 0) {
		b->head = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int a = 0; a < N_ANS; a++)
		b->answers[a] = (struct weir_answer){
			.status = 401, .head = b->head, .head_len = strlen(b->head),
			.body = answer_body[a], .body_len = strlen(answer_body[a]),
		};
	if (weir_auth_table_init(&b->table, json_array_size(b->common.consumers)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach(b->common.consumers, i, c) {
		const json_t *cred = json_object_get(c, "credential");
		const char *user = json_string_value(json_object_get(cred, "username"));
		const char *hash = json_string_value(json_object_get(cred, "password_hash"));

		if (user && hash && weir_auth_table_add(&b->table, user, strlen(user),
						json_string_value(json_object_get(c, "username")),
						(void *)hash) < 0) {
			snprintf(err, errlen, "consumers: two consumers have the username '%s'",
				 user);
			goto fail;
		}
	}
	free(realm);
	*inst = b;
	return 0;
fail:
	free(realm);
	basic_auth_destroy(b);
	return -1;
}

/* SHA-256 of what a verification depended on: the stored hash, the user
 * name and the password presented (each at most MAX_DECODED bytes, the hash
 * at most MAX_HASH: config.c's formats are shorter). */
static void cache_key(const char *hash, const char *user, size_t ulen, const char *pw,
		      size_t plen, unsigned char out[32])
{
	unsigned char buf[MAX_HASH + 2 + MAX_DECODED];
	size_t hl = strnlen(hash, MAX_HASH), n = 0;

	memcpy(buf, hash, hl);
	n += hl;
	buf[n++] = 0;
	memcpy(buf + n, user, ulen);
	n += ulen;
	buf[n++] = 0;
	memcpy(buf + n, pw, plen);
	n += plen;
	weir_sha256(buf, n, out);
	OPENSSL_cleanse(buf, n);
}

/* The cache slot of a verification's key. */
static struct verified *cache_slot(const unsigned char key[32])
{
	return &cache[(key[0] | (unsigned)key[1] << 8) % CACHE_SLOTS];
}

/* A password check on the offload pool: inputs copied in (the snapshot
 * that holds the hash may go while it runs), the verdict written back. */
struct hash_job {
	struct weir_job job;		/* first */
	struct weir_req *r;		/* the cancel token: NULL once the request ended */
	const struct basic_auth *b;	/* valid while r is (r holds the snapshot) */
	const char *consumer;		/* ... the same */
	unsigned char key[32];		/* cache key */
	bool ok;
	size_t plen;
	char hash[MAX_HASH + 1];
	char pw[MAX_DECODED];
};

static void hash_job_free(struct hash_job *h)
{
	OPENSSL_cleanse(h->pw, sizeof(h->pw));
	free(h);
}

static void hash_run(struct weir_job *j)
{
	struct hash_job *h = (struct hash_job *)j;

	h->ok = weir_auth_hash_verify(h->hash, h->pw, h->plen) == 1;
	OPENSSL_cleanse(h->pw, sizeof(h->pw));
}

/* On the request's worker: the verdict resumes the request, unless it
 * ended meanwhile. */
static void hash_done(struct weir_job *j)
{
	struct hash_job *h = (struct hash_job *)j;
	struct weir_req *r = h->r;
	void **slot;

	if (!r) {
		hash_job_free(h);
		return;
	}
	if ((slot = weir_plugin_ctx(r, h->b)))
		*slot = NULL;
	if (h->ok && j->ran && h->b->ttl_ms) {
		struct verified *v = cache_slot(h->key);
		memcpy(v->digest, h->key, 32);
		v->expires = r->client->w->now + h->b->ttl_ms;
	}
	if (h->ok && j->ran) {
		r->consumer = h->consumer;
		hash_job_free(h);
		weir_req_resume(r, 0);
		return;
	}
	r->answer = &h->b->answers[ANS_INVALID];
	hash_job_free(h);
	weir_req_resume(r, 401);
}

/* Whether pw is user's password, from the cache while fresh: 0 yes, 401
 * no, or WEIR_ACCESS_PENDING while the pool checks it (hash_done resumes
 * the request), 503 when the pool's queue is full. */
static int password_check(struct weir_req *r, const struct basic_auth *b,
			  const struct weir_auth_entry *e, const char *user, size_t ulen,
			  const char *pw, size_t plen)
{
	const char *hash = e->data;
	struct hash_job *h;
	unsigned char key[32] = { 0 };
	size_t hl = strnlen(hash, MAX_HASH + 1);
	void **slot;

	if (b->ttl_ms) {
		struct verified *v;

		cache_key(hash, user, ulen, pw, plen, key);
		v = cache_slot(key);
		if (v->expires > r->client->w->now && !CRYPTO_memcmp(v->digest, key, 32))
			return 0;
	}
	if (hl > MAX_HASH || plen > sizeof(h->pw))
		return 401;
	if (!(h = calloc(1, sizeof(*h))) || !(slot = weir_plugin_ctx(r, b))) {
		free(h);
		return 503;
	}
	h->job.run = hash_run;
	h->job.done = hash_done;
	h->r = r;
	h->b = b;
	h->consumer = e->consumer;
	memcpy(h->key, key, sizeof(key));
	memcpy(h->hash, hash, hl);
	memcpy(h->pw, pw, plen);
	h->plen = plen;
	if (weir_offload_submit(r->client->w, &h->job) < 0) {
		hash_job_free(h);
		return 503;
	}
	*slot = h;
	return WEIR_ACCESS_PENDING;
}

static int basic_auth_access(struct weir_req *r, void *inst)
{
	const struct basic_auth *b = inst;
	const struct weir_auth_entry *e;
	unsigned char dec[MAX_DECODED + 4];
	const char *v, *colon;
	size_t len = 0, ulen;
	int n, rc;

	if (!(v = weir_auth_header(r, "authorization", &len)) || !len) {
		r->answer = &b->answers[ANS_MISSING];
		return 401;
	}
	if (len < 6 || strncasecmp(v, "basic ", 6)) {
		r->answer = &b->answers[ANS_BAD];
		return 401;
	}
	for (v += 6, len -= 6; len && *v == ' '; v++, len--)
		;
	if (len > MAX_DECODED / 3 * 4 ||
	    (n = weir_auth_b64_decode(v, len, false, dec, sizeof(dec))) < 0 ||
	    !(colon = memchr(dec, ':', (size_t)n))) {
		r->answer = &b->answers[ANS_BAD];
		return 401;
	}
	ulen = (size_t)(colon - (char *)dec);
	e = weir_auth_table_find(&b->table, (const char *)dec, ulen);
	rc = e ? password_check(r, b, e, (const char *)dec, ulen, colon + 1,
				(size_t)n - ulen - 1) : 401;
	OPENSSL_cleanse(dec, sizeof(dec));
	if (rc == 401)
		r->answer = &b->answers[ANS_INVALID];
	else if (rc == 503)
		r->answer = &busy;
	else if (rc == 0)
		r->consumer = e->consumer;
	return rc;
}

/* The request ended while its password was being checked: the job finds
 * no request when it is back. */
static void basic_auth_log(struct weir_req *r, void *inst)
{
	void **slot = weir_plugin_ctx(r, inst);

	if (slot && *slot) {
		struct hash_job *h = *slot;

		h->r = NULL;
		weir_offload_cancel(&h->job);
		*slot = NULL;
	}
}

const struct weir_plugin weir_plugin_basic_auth = {
	.name = "basic-auth",
	.priority = 2520,
	.consumers = true,
	.configure = basic_auth_configure,
	.destroy = basic_auth_destroy,
	.access = basic_auth_access,
	.log = basic_auth_log,
	.before_upstream = weir_auth_before_upstream,
	.removes = weir_auth_removes,
};
