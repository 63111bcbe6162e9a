/* userspace/auth.h - what the authentication plugins (plugin_key_auth.c,
 * plugin_basic_auth.c, plugin_jwt_auth.c) share, and what config.c uses to
 * check consumers' credentials when a file is loaded:
 *
 *   - the consumer table: credential text -> entry, looked up by the SHA-256
 *     of the text (see weir_auth_table_find for why that is timing-safe);
 *   - the settings every auth plugin takes (consumer_header,
 *     hide_credentials) and the consumers' credentials handed to configure
 *     (plugin.h: the "consumers" list in `global`);
 *   - reading a credential off a request: a header, a query parameter, a
 *     cookie;
 *   - base64 and base64url through EVP_DecodeBlock, password hashes
 *     (PBKDF2 through PKCS5_PBKDF2_HMAC, crypt(3) formats through libxcrypt's
 *     crypt_rn), and public keys from PEM or JWK (EVP_PKEY_fromdata).
 *
 * Nothing here keeps state between calls; tables and keys are built when a
 * snapshot is, immutable after, and shared by every worker.
 */
#ifndef WEIR_AUTH_H
#define WEIR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>

struct weir_req;
struct weir_buf;
struct weir_hdr_names;

/* ---- JWT algorithms (jwt-auth; config.c checks the names) --------------- */

enum weir_jwt_alg {
	WEIR_JWT_HS256, WEIR_JWT_HS384, WEIR_JWT_HS512,
	WEIR_JWT_RS256, WEIR_JWT_RS384, WEIR_JWT_RS512,
	WEIR_JWT_ES256, WEIR_JWT_ES384,
	WEIR_JWT_EDDSA,
	WEIR_JWT_N_ALGS
};

/* The JOSE names, in enum order, NULL-terminated. */
extern const char *const weir_jwt_alg_names[];

static inline bool weir_jwt_alg_is_hmac(int alg)
{
	return alg <= WEIR_JWT_HS512;
}

/* The digest of an algorithm; NULL for EdDSA (which hashes itself). */
const EVP_MD *weir_jwt_alg_md(int alg);

/* A public key for alg from PEM text (SubjectPublicKeyInfo), or NULL with
 * the reason in why: not PEM, or a key of the wrong type or curve. */
EVP_PKEY *weir_auth_pem_key(const char *pem, int alg, char *why, size_t whylen);

/* A public key for alg from one JWK (RSA n/e, EC crv/x/y, OKP Ed25519 x), or
 * NULL with the reason in why. */
EVP_PKEY *weir_auth_jwk_key(const json_t *jwk, int alg, char *why, size_t whylen);

/* Checks a JWKS document ({"keys": [...]}): at least one key, every key a
 * usable public key for alg, kids unique (and present when there are
 * several). Returns 0, or -1 with the reason naming keys[i]. */
int weir_auth_jwks_check(const json_t *jwks, int alg, char *why, size_t whylen);

/* ---- password hashes (basic-auth) ------------------------------------- */

/* Whether hash is a password hash weir can verify:
 *   $pbkdf2-sha256$ITERATIONS$SALT$KEY (also -sha512; SALT and KEY in
 *   base64 without padding, '.' allowed for '+' as passlib writes them),
 *   or a crypt(3) hash libxcrypt accepts and does not call legacy:
 *   $2y$/$2b$ bcrypt, $y$ yescrypt, $gy$, $7$ scrypt, $6$ SHA-512-crypt
 *   (libxcrypt calls $5$ SHA-256-crypt, $1$ MD5 and DES legacy: refused).
 * Returns 0, or -1 with the reason in why. */
int weir_auth_hash_check(const char *hash, char *why, size_t whylen);

/* Whether pw (len bytes) matches hash: 1 yes, 0 no. Compares in constant
 * time. Slow by design (the hash's cost): callers cache the answer. */
int weir_auth_hash_verify(const char *hash, const char *pw, size_t len);

/* ---- base64 ----------------------------------------------------------- */

/* Decodes len bytes of base64 (url: base64url without padding, as JWS uses)
 * into out (cap bytes, at least 3 * ((len + 3) / 4)). Returns the decoded
 * length, or -1 for a character outside the alphabet, bad padding or a
 * length no encoder writes. */
int weir_auth_b64_decode(const char *in, size_t len, bool url, unsigned char *out, size_t cap);

/* SHA-256 or SHA-512 of n bytes at p into out (32 or 64 bytes, returned),
 * for the request path: the algorithms fetched once, a digest context kept
 * per thread (freed when the thread ends), where OpenSSL's one-shot
 * SHA256() or EVP_Digest(EVP_sha256()) fetch and allocate each time. */
enum weir_sha { WEIR_SHA256, WEIR_SHA512 };
unsigned weir_sha(enum weir_sha which, const void *p, size_t n, unsigned char *out);
void weir_sha256(const void *p, size_t n, unsigned char out[32]);

/* ---- the consumer table ----------------------------------------------- */

struct weir_auth_entry {
	unsigned char digest[32];	/* SHA-256 of the credential text */
	const char *consumer;		/* NULL: an empty slot */
	void *data;			/* the plugin's own, per consumer */
};

struct weir_auth_table {
	struct weir_auth_entry *slots;
	size_t mask;			/* slots - 1, a power of two minus one */
};

/* A table for n entries; returns 0 or -1 (out of memory). */
int weir_auth_table_init(struct weir_auth_table *t, size_t n);
/* Adds text -> (consumer, data); returns 0, or -1 for a duplicate. */
int weir_auth_table_add(struct weir_auth_table *t, const char *text, size_t len,
			const char *consumer, void *data);
/* The entry of text, or NULL. Timing: the probe sequence and the
 * comparisons depend only on SHA-256(text) and the stored digests, never on
 * the stored credentials' bytes, and digests are compared with
 * CRYPTO_memcmp; what timing could leak is bits of a SHA-256 digest, which
 * do not help anyone find a preimage. */
const struct weir_auth_entry *weir_auth_table_find(const struct weir_auth_table *t,
						    const char *text, size_t len);
void weir_auth_table_free(struct weir_auth_table *t);

/* ---- settings shared by the auth plugins ------------------------------ */

/* What every auth plugin instance has: the header that tells the upstream
 * who the consumer is, and the names its head loses (that header as the
 * client sent it, so nobody can claim an identity, and the credential's
 * header when hide_credentials is on). */
struct weir_auth_common {
	char *consumer_header;		/* lower case */
	size_t consumer_header_len;
	struct weir_hdr_names *removes;
	struct weir_hdr_names *removes_query;	/* the credential's query parameter */
	json_t *consumers;		/* the "consumers" list of `global`, held */
};

/* A setting: conf's, else the global one of the same plugin, else NULL. */
const json_t *weir_auth_setting(const json_t *conf, const json_t *global, const char *key);

/* Refuses keys of conf and global that are not in known (NULL-terminated;
 * "consumer_header" and "hide_credentials" are always known, and
 * "consumers" in global). Returns 0 or -1 with "KEY: unknown field". */
int weir_auth_known(const json_t *conf, const json_t *global, const char *const *known,
		    char *err, size_t errlen);

/* A string setting (a copy of dflt when absent), lower-cased when it names
 * a header. Returns 0 or -1 with "KEY: must be a non-empty string". */
int weir_auth_string(const json_t *conf, const json_t *global, const char *key,
		     const char *dflt, bool header, char **out, char *err, size_t errlen);

/* Reads consumer_header and hide_credentials; cred_header and cred_query
 * are the header and the query parameter the credential comes in (hidden
 * when hide_credentials is on), NULL for none; they must outlive a.
 * Returns 0 or -1 with the reason. */
int weir_auth_common_configure(struct weir_auth_common *a, const json_t *conf,
			       const json_t *global, const char *cred_header,
			       const char *cred_query, char *err, size_t errlen);
void weir_auth_common_free(struct weir_auth_common *a);
/* The before_upstream and removes callbacks of every auth plugin, whose
 * instance begins with its struct weir_auth_common: the first appends
 * "consumer_header: NAME" for an authenticated request, the second gives
 * the request head's names to drop, the third the query's. */
void weir_auth_before_upstream(struct weir_req *r, void *inst, struct weir_buf *head);
const struct weir_hdr_names *weir_auth_removes(void *inst, bool response);
const struct weir_hdr_names *weir_auth_removes_query(void *inst);

/* ---- credentials on a request ----------------------------------------- */

/* The value of the first header named lname (lower case), or NULL. */
const char *weir_auth_header(const struct weir_req *r, const char *lname, size_t *len);
/* The raw (not percent-decoded) value of query parameter name, or NULL. */
const char *weir_auth_query(const struct weir_req *r, const char *name, size_t *len);
/* The value of cookie name, or NULL. */
const char *weir_auth_cookie(const struct weir_req *r, const char *name, size_t *len);

#endif
