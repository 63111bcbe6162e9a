/* userspace/sign.h - the decisions of the anti-tampering plugins, apart from
 * the request path so they can be tested alone: request signatures
 * (hmac-auth, plugin_hmac.c), the replay table behind them (sign.c), and body
 * encryption (body-crypto, plugin_bodycrypto.c). The plugins' phases are thin
 * wrappers that gather a request's pieces into a struct weir_sig_req and
 * call these.
 *
 * Every function that decides returns 0 (accepted) or the HTTP status to
 * answer with, and sets *why to a short static reason. Time is a parameter
 * (unix seconds), never read inside, so tests move the clock themselves.
 */
#ifndef WEIR_SIGN_H
#define WEIR_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router.h"

struct weir_body;

/* ---- base64 (OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock) ---------------- */

/* Decodes standard base64 with its padding. Returns the length, or -1 when
 * the text is not base64 or does not fit in cap bytes. */
long weir_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Encodes len bytes; out needs 4 * ((len + 2) / 3) + 1 bytes. Returns the
 * length written (NUL not counted). */
size_t weir_b64_encode(const unsigned char *in, size_t len, char *out);

/* ---- the replay table ---------------------------------------------------- */

/* (key id, nonce) pairs seen, each until its expiry, shared by every worker:
 * 64 shards, a mutex each, open addressing over a fixed number of slots
 * (expired entries are reused as the probes meet them, and swept from a
 * shard once it is three quarters used, at most once a second). A pair is
 * kept as the first 128 bits of SHA-256(key id, NUL, nonce), so an entry is
 * 24 bytes whatever the nonce's length and no two pairs collide in practice. */
struct weir_nonces;

struct weir_nonces *weir_nonces_new(size_t slots);
void weir_nonces_free(struct weir_nonces *t);
/* The table the hmac-auth instances share, made on first use with `slots`
 * (later calls get the same table, whatever they ask): it outlives every
 * configuration snapshot, so a reload does not forget the nonces seen. */
struct weir_nonces *weir_nonces_shared(size_t slots);
/* Remembers (key, nonce) until `expires` unless it is already remembered.
 * Returns 0 when new, 1 when seen before (a replay), -1 when the pair's
 * shard has no free or expired slot left (the request is refused). */
int weir_nonces_check(struct weir_nonces *t, const char *key, size_t key_len,
		      const char *nonce, size_t nonce_len, int64_t now, int64_t expires);

/* ---- hmac-auth ----------------------------------------------------------- */

/* What a signature check sees of a request. */
struct weir_sig_req {
	const char *method;
	const char *path;		/* as the client sent it, without the query */
	size_t path_len;
	const char *query;		/* after '?', or "" */
	size_t query_len;
	const struct weir_hdr *hdrs;	/* names lower case */
	size_t n_hdrs;
};

/* Checks a request's Authorization signature, timestamp and nonce against
 * an hmac-auth instance (void *inst, as the plugin registry holds it). On
 * success returns 0 with the key's consumer name (NULL when the key has
 * none) in *consumer; it lives as long as the instance. */
int weir_hmac_check(void *inst, const struct weir_sig_req *q, int64_t now,
		    const char **consumer, const char **why);
/* Checks the body against the request's Content-Digest. */
int weir_hmac_check_body(void *inst, const struct weir_sig_req *q, const void *body,
			 size_t len, const char **why);
/* The signing string of a request for the given `headers` parameter, as
 * client and gateway both build it (the README's "Request signatures").
 * Returns its length, or -1 when an element is missing from the request or
 * the string does not fit in cap bytes. */
long weir_hmac_signing_string(const struct weir_sig_req *q, const char *elems,
			      size_t elems_len, char *out, size_t cap);

/* ---- body-crypto --------------------------------------------------------- */

#define WEIR_GCM_NONCE 12
#define WEIR_GCM_TAG 16

/* Decrypts body in place: nonce(12) || ciphertext || tag(16) under key
 * `kid` becomes the plaintext. `consumer` (NULL: none) pins the key when the
 * instance maps that consumer to one. */
int weir_bodycrypto_open(void *inst, const char *kid, size_t kid_len, const char *consumer,
			 struct weir_body *body, const char **why);
/* Encrypts body in place (it grows by 28 bytes) under the consumer's key, or
 * the instance's encrypt_with; *kid names the key used. */
int weir_bodycrypto_seal(void *inst, const char *consumer, struct weir_body *body,
			 const char **kid, const char **why);

#endif
