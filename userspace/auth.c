/* userspace/auth.c - the pieces the authentication plugins share (auth.h):
 * the consumer table, the common settings, reading credentials off a
 * request, base64, password hashes and public keys. Every primitive is
 * OpenSSL's (EVP_DecodeBlock, SHA-256, PKCS5_PBKDF2_HMAC, EVP_PKEY_fromdata)
 * or libxcrypt's (crypt_rn); this file only arranges them.
 */
#include <crypt.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "auth.h"
#include "core.h"
#include "plugin.h"

/* ---- JWT algorithms ------------------------------------------------------ */

const char *const weir_jwt_alg_names[] = {
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", NULL,
};

const EVP_MD *weir_jwt_alg_md(int alg)
{
	switch (alg) {
	case WEIR_JWT_HS256: case WEIR_JWT_RS256: case WEIR_JWT_ES256:
		return EVP_sha256();
	case WEIR_JWT_HS384: case WEIR_JWT_RS384: case WEIR_JWT_ES384:
		return EVP_sha384();
	case WEIR_JWT_HS512: case WEIR_JWT_RS512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* Whether k is the kind of key alg verifies with. */
static int key_fits(EVP_PKEY *k, int alg, char *why, size_t whylen)
{
	char group[64] = "";
	const char *want = NULL;

	switch (alg) {
	case WEIR_JWT_RS256: case WEIR_JWT_RS384: case WEIR_JWT_RS512:
		if (EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048)
			return 0;
		snprintf(why, whylen, "%s needs an RSA key of 2048 bits or more",
			 weir_jwt_alg_names[alg]);
		return -1;
	case WEIR_JWT_ES256:
		want = "prime256v1";
		break;
	case WEIR_JWT_ES384:
		want = "secp384r1";
		break;
	case WEIR_JWT_EDDSA:
		if (EVP_PKEY_is_a(k, "ED25519"))
			return 0;
		snprintf(why, whylen, "EdDSA needs an Ed25519 key");
		return -1;
	default:
		snprintf(why, whylen, "%s takes a secret, not a key", weir_jwt_alg_names[alg]);
		return -1;
	}
	if (EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) && !strcmp(group, want))
		return 0;
	snprintf(why, whylen, "%s needs an EC key on %s", weir_jwt_alg_names[alg],
		 alg == WEIR_JWT_ES256 ? "P-256" : "P-384");
	return -1;
}

EVP_PKEY *weir_auth_pem_key(const char *pem, int alg, char *why, size_t whylen)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	if (!k) {
		snprintf(why, whylen, "not a PEM public key (-----BEGIN PUBLIC KEY-----)");
		return NULL;
	}
	if (key_fits(k, alg, why, whylen) < 0) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

/* A base64url member of a JWK, decoded into out; returns its length or -1. */
static int jwk_bytes(const json_t *jwk, const char *name, unsigned char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(jwk, name));

	if (!s || strlen(s) > cap * 4 / 3)
		return -1;
	return weir_auth_b64_decode(s, strlen(s), true, out, cap);
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *k = NULL;

	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return k;
}

EVP_PKEY *weir_auth_jwk_key(const json_t *jwk, int alg, char *why, size_t whylen)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	const char *jalg = json_string_value(json_object_get(jwk, "alg"));
	unsigned char a[1024], b[1024], pub[1 + 2 * 66];
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *k = NULL;
	int la, lb;

	if (!json_is_object(jwk) || !kty) {
		snprintf(why, whylen, "not a JWK (no kty)");
		return NULL;
	}
	if (jalg && strcmp(jalg, weir_jwt_alg_names[alg])) {
		snprintf(why, whylen, "alg %s, but the consumer's algorithm is %s", jalg,
			 weir_jwt_alg_names[alg]);
		return NULL;
	}
	if (!strcmp(kty, "RSA")) {
		la = jwk_bytes(jwk, "n", a, sizeof(a));
		lb = jwk_bytes(jwk, "e", b, sizeof(b));
		if (la <= 0 || lb <= 0)
			goto bad;
		n = BN_bin2bn(a, la, NULL);
		e = BN_bin2bn(b, lb, NULL);
		if (!n || !e || !(bld = OSSL_PARAM_BLD_new()) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto bad;
		k = from_params("RSA", bld);
	} else if (!strcmp(kty, "EC") && crv &&
		   (!strcmp(crv, "P-256") || !strcmp(crv, "P-384"))) {
		size_t sz = crv[2] == '2' ? 32 : 48;
		la = jwk_bytes(jwk, "x", a, sizeof(a));
		lb = jwk_bytes(jwk, "y", b, sizeof(b));
		if (la != (int)sz || lb != (int)sz)
			goto bad;
		pub[0] = 4;	/* uncompressed point */
		memcpy(pub + 1, a, sz);
		memcpy(pub + 1 + sz, b, sz);
		if (!(bld = OSSL_PARAM_BLD_new()) ||
		    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						     sz == 32 ? "prime256v1" : "secp384r1", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
						      1 + 2 * sz))
			goto bad;
		k = from_params("EC", bld);
	} else if (!strcmp(kty, "OKP") && crv && !strcmp(crv, "Ed25519")) {
		if (jwk_bytes(jwk, "x", a, sizeof(a)) != 32)
			goto bad;
		k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, 32);
	} else {
		snprintf(why, whylen, "kty %s%s%s: weir reads RSA, EC (P-256, P-384) and OKP "
			 "(Ed25519) keys", kty, crv ? " crv " : "", crv ? crv : "");
		return NULL;
	}
	if (!k)
		goto bad;
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	if (key_fits(k, alg, why, whylen) < 0) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
bad:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	snprintf(why, whylen, "%s key with missing or bad members", kty);
	return NULL;
}

int weir_auth_jwks_check(const json_t *jwks, int alg, char *why, size_t whylen)
{
	const json_t *keys = json_object_get(jwks, "keys");
	char reason[160];
	size_t i, j;
	json_t *jwk;

	if (!json_is_array(keys) || !json_array_size(keys)) {
		snprintf(why, whylen, "expected a JWKS: {\"keys\": [at least one JWK]}");
		return -1;
	}
	json_array_foreach(keys, i, jwk) {
		const char *kid = json_string_value(json_object_get(jwk, "kid"));
		EVP_PKEY *k = weir_auth_jwk_key(jwk, alg, reason, sizeof(reason));

		if (!k) {
			snprintf(why, whylen, "keys[%zu]: %s", i, reason);
			return -1;
		}
		EVP_PKEY_free(k);
		if (!kid && json_array_size(keys) > 1) {
			snprintf(why, whylen, "keys[%zu]: a kid is required when there are "
				 "several keys", i);
			return -1;
		}
		for (j = 0; kid && j < i; j++) {
			const char *o = json_string_value(json_object_get(
				json_array_get(keys, j), "kid"));
			if (o && !strcmp(o, kid)) {
				snprintf(why, whylen, "keys[%zu]: kid '%s' is also keys[%zu]'s",
					 i, kid, j);
				return -1;
			}
		}
	}
	return 0;
}

/* ---- base64 ------------------------------------------------------------- */

int weir_auth_b64_decode(const char *in, size_t len, bool url, unsigned char *out, size_t cap)
{
	static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char tmp[4];
	size_t pad = 0, full, n = 0;
	int got;

	if (!url)
		while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
			pad++;
	if ((url && len % 4 == 1) || (!url && (len % 4 || (pad && len < 4))))
		return -1;
	for (size_t i = 0; i < len - pad; i++) {
		char ch = in[i];
		if (!ch || (!strchr(std, ch) && ch != (url ? '-' : '+') && ch != (url ? '_' : '/')))
			return -1;
	}
	if (3 * ((len + 3) / 4) > cap)
		return -1;
	/* Whole groups go straight through EVP_DecodeBlock; the last, short
	 * or padded one through a translated copy of four characters. */
	full = len / 4 - (pad ? 1 : 0);
	if (url) {
		for (size_t g = 0; g < full; g++) {
			for (int i = 0; i < 4; i++) {
				tmp[i] = in[4 * g + i];
				tmp[i] = tmp[i] == '-' ? '+' : tmp[i] == '_' ? '/' : tmp[i];
			}
			if (EVP_DecodeBlock(out + 3 * g, (const unsigned char *)tmp, 4) != 3)
				return -1;
		}
	} else if (full && EVP_DecodeBlock(out, (const unsigned char *)in, (int)(4 * full)) !=
			    (int)(3 * full)) {
		return -1;
	}
	n = 3 * full;
	if (4 * full == len)
		return (int)n;
	/* the tail: 2 or 3 characters of data, padded to four */
	size_t rest = url ? len - 4 * full : 4 - pad;
	for (size_t i = 0; i < 4; i++) {
		char ch = i < rest ? in[4 * full + i] : '=';
		tmp[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
	}
	got = EVP_DecodeBlock(out + n, (const unsigned char *)tmp, 4);
	if (got != 3)
		return -1;
	return (int)(n + rest - 1);
}

/* ---- password hashes ------------------------------------------------------ */

struct pbkdf2 {
	const EVP_MD *md;
	unsigned long iter;
	unsigned char salt[256], key[128];
	int salt_len, key_len;
};

/* passlib's "adapted base64" writes '.' for '+' and no padding. */
static int ab64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	char tmp[512];
	size_t n = 0;

	if (len + 3 > sizeof(tmp))
		return -1;
	for (size_t i = 0; i < len; i++)
		tmp[n++] = s[i] == '.' ? '+' : s[i];
	while (n % 4)
		tmp[n++] = '=';
	return weir_auth_b64_decode(tmp, n, false, out, cap);
}

static int pbkdf2_parse(const char *h, struct pbkdf2 *p)
{
	const char *it, *salt, *key;
	char *end;

	if (!strncmp(h, "$pbkdf2-sha256$", 15))
		p->md = EVP_sha256();
	else if (!strncmp(h, "$pbkdf2-sha512$", 15))
		p->md = EVP_sha512();
	else
		return -1;
	it = h + 15;
	p->iter = strtoul(it, &end, 10);
	if (end == it || *end != '$' || p->iter < 1000 || p->iter > 100000000)
		return -1;
	salt = end + 1;
	if (!(key = strchr(salt, '$')) || strchr(key + 1, '$'))
		return -1;
	p->salt_len = ab64_decode(salt, (size_t)(key - salt), p->salt, sizeof(p->salt));
	p->key_len = ab64_decode(key + 1, strlen(key + 1), p->key, sizeof(p->key));
	return p->salt_len >= 8 && p->key_len >= 16 ? 0 : -1;
}

int weir_auth_hash_check(const char *hash, char *why, size_t whylen)
{
	struct pbkdf2 p;

	if (!strncmp(hash, "$pbkdf2-", 8)) {
		if (pbkdf2_parse(hash, &p) == 0)
			return 0;
		snprintf(why, whylen, "expected $pbkdf2-sha256$ITERATIONS$SALT$KEY (iterations "
			 "1000 or more, a salt of 8 bytes or more, base64)");
		return -1;
	}
	if (hash[0] != '$') {
		snprintf(why, whylen, "not a password hash (weir stores no plaintext): use "
			 "$pbkdf2-sha256$, bcrypt ($2y$), yescrypt ($y$) or SHA-crypt ($6$)");
		return -1;
	}
	switch (crypt_checksalt(hash)) {
	case CRYPT_SALT_OK:
		return 0;
	case CRYPT_SALT_METHOD_LEGACY:
		snprintf(why, whylen, "a legacy crypt(3) method: use $pbkdf2-sha256$, bcrypt "
			 "($2y$), yescrypt ($y$) or SHA-crypt ($6$)");
		return -1;
	default:
		snprintf(why, whylen, "not a password hash libcrypt knows");
		return -1;
	}
}

int weir_auth_hash_verify(const char *hash, const char *pw, size_t len)
{
	struct crypt_data *cd;
	unsigned char dk[128];
	struct pbkdf2 p;
	char pwz[1024];
	const char *out;
	int ok;

	if (!strncmp(hash, "$pbkdf2-", 8)) {
		if (pbkdf2_parse(hash, &p) < 0 || len > INT32_MAX ||
		    !PKCS5_PBKDF2_HMAC(pw, (int)len, p.salt, p.salt_len, (int)p.iter, p.md,
				       p.key_len, dk))
			return 0;
		return CRYPTO_memcmp(dk, p.key, (size_t)p.key_len) == 0;
	}
	/* crypt(3) takes a C string: a password with a NUL in it cannot match. */
	if (len >= sizeof(pwz) || memchr(pw, 0, len))
		return 0;
	memcpy(pwz, pw, len);
	pwz[len] = 0;
	if (!(cd = calloc(1, sizeof(*cd))))	/* 32 KiB: not for a worker's stack */
		return 0;
	out = crypt_rn(pwz, hash, cd, sizeof(*cd));
	ok = out && out[0] != '*' && strlen(out) == strlen(hash) &&
	     CRYPTO_memcmp(out, hash, strlen(hash)) == 0;
	OPENSSL_cleanse(pwz, sizeof(pwz));
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* ---- SHA-256 on the request path --------------------------------------
 *
 * OpenSSL 3's SHA256() fetches the algorithm from its provider (a name
 * copied, a read lock taken) and allocates a digest context at every call:
 * three allocations and a lock for each key-auth request. Here the
 * algorithm is fetched once and each thread keeps its context; what is left
 * is the one allocation OpenSSL 3.0 makes for the digest's state at each
 * init. */

static EVP_MD *sha_md[2];		/* enum weir_sha */
static pthread_key_t sha_ctx_key;
static bool sha_ready;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void sha_init(void)
{
	sha_md[WEIR_SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha_md[WEIR_SHA512] = EVP_MD_fetch(NULL, "SHA512", NULL);
	sha_ready = sha_md[WEIR_SHA256] && sha_md[WEIR_SHA512] &&
		    !pthread_key_create(&sha_ctx_key, sha_ctx_free);
}

unsigned weir_sha(enum weir_sha which, const void *p, size_t n, unsigned char *out)
{
	EVP_MD_CTX *ctx = NULL;

	pthread_once(&sha_once, sha_init);
	if (sha_ready && !(ctx = pthread_getspecific(sha_ctx_key)) &&
	    (ctx = EVP_MD_CTX_new()) && pthread_setspecific(sha_ctx_key, ctx)) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	if (!ctx || !EVP_DigestInit_ex2(ctx, sha_md[which], NULL) ||
	    !EVP_DigestUpdate(ctx, p, n) || !EVP_DigestFinal_ex(ctx, out, NULL)) {
		/* out of memory: the slow way */
		if (which == WEIR_SHA512)
			SHA512(p, n, out);
		else
			SHA256(p, n, out);
	}
	return which == WEIR_SHA512 ? 64 : 32;
}

void weir_sha256(const void *p, size_t n, unsigned char out[32])
{
	weir_sha(WEIR_SHA256, p, n, out);
}

/* ---- the consumer table --------------------------------------------------- */

int weir_auth_table_init(struct weir_auth_table *t, size_t n)
{
	size_t size = 8;

	while (size < 2 * n)
		size *= 2;
	t->slots = calloc(size, sizeof(*t->slots));
	t->mask = size - 1;
	return t->slots ? 0 : -1;
}

static size_t slot_of(const unsigned char d[32])
{
	size_t s;

	memcpy(&s, d, sizeof(s));
	return s;
}

int weir_auth_table_add(struct weir_auth_table *t, const char *text, size_t len,
			const char *consumer, void *data)
{
	unsigned char d[32];
	size_t i;

	SHA256((const unsigned char *)text, len, d);
	for (i = slot_of(d) & t->mask; t->slots[i].consumer; i = (i + 1) & t->mask)
		if (!memcmp(t->slots[i].digest, d, 32))
			return -1;
	memcpy(t->slots[i].digest, d, 32);
	t->slots[i].consumer = consumer;
	t->slots[i].data = data;
	return 0;
}

const struct weir_auth_entry *weir_auth_table_find(const struct weir_auth_table *t,
						    const char *text, size_t len)
{
	unsigned char d[32];

	if (!t->slots)
		return NULL;
	weir_sha256(text, len, d);
	for (size_t i = slot_of(d) & t->mask; t->slots[i].consumer; i = (i + 1) & t->mask)
		if (!CRYPTO_memcmp(t->slots[i].digest, d, 32))
			return &t->slots[i];
	return NULL;
}

void weir_auth_table_free(struct weir_auth_table *t)
{
	free(t->slots);
	t->slots = NULL;
}

/* ---- settings ------------------------------------------------------------- */

const json_t *weir_auth_setting(const json_t *conf, const json_t *global, const char *key)
{
	const json_t *v = json_object_get(conf, key);

	return v ? v : json_object_get(global, key);
}

static bool in_list(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (!strcmp(*list, key))
			return true;
	return false;
}

int weir_auth_known(const json_t *conf, const json_t *global, const char *const *known,
		    char *err, size_t errlen)
{
	static const char *const common[] = { "consumer_header", "hide_credentials", NULL };
	const json_t *objs[2] = { conf, global };
	const char *key;
	json_t *v;

	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a mapping");
		return -1;
	}
	for (int i = 0; i < 2; i++)
		json_object_foreach((json_t *)objs[i], key, v)
			if (!in_list(common, key) && !in_list(known, key) &&
			    !(i == 1 && !strcmp(key, "consumers"))) {
				snprintf(err, errlen, "%s: unknown field", key);
				return -1;
			}
	return 0;
}

int weir_auth_string(const json_t *conf, const json_t *global, const char *key,
		     const char *dflt, bool header, char **out, char *err, size_t errlen)
{
	const json_t *v = weir_auth_setting(conf, global, key);
	const char *s = v ? json_string_value(v) : dflt;

	*out = NULL;
	if (!s || !*s || (header && !weir_plugin_is_token(s))) {
		snprintf(err, errlen, "%s: must be a non-empty string%s", key,
			 header ? " (a header name)" : "");
		return -1;
	}
	if (!(*out = strdup(s))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *p = *out; header && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

int weir_auth_common_configure(struct weir_auth_common *a, const json_t *conf,
			       const json_t *global, const char *cred_header,
			       const char *cred_query, char *err, size_t errlen)
{
	const json_t *hide = weir_auth_setting(conf, global, "hide_credentials");
	const json_t *consumers = json_object_get(global, "consumers");
	size_t n = 0;

	if (hide && !json_is_boolean(hide)) {
		snprintf(err, errlen, "hide_credentials: must be true or false");
		return -1;
	}
	if (weir_auth_string(conf, global, "consumer_header", "x-consumer-username", true,
			     &a->consumer_header, err, errlen) < 0)
		return -1;
	a->consumer_header_len = strlen(a->consumer_header);
	a->consumers = json_incref(json_is_array(consumers) ? (json_t *)consumers : NULL);
	a->removes = calloc(1, sizeof(*a->removes) + 2 * sizeof(a->removes->v[0]));
	if (!a->removes) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->removes->v[n++] = (struct weir_hdr_name){ a->consumer_header,
						     (uint32_t)a->consumer_header_len };
	if (cred_header && (!hide || json_is_true(hide)) && strcmp(cred_header, a->consumer_header))
		a->removes->v[n++] = (struct weir_hdr_name){ cred_header,
							     (uint32_t)strlen(cred_header) };
	a->removes->n = n;
	if (!cred_query || (hide && !json_is_true(hide)))
		return 0;
	if (!(a->removes_query = malloc(sizeof(*a->removes_query) +
					sizeof(a->removes_query->v[0])))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->removes_query->n = 1;
	a->removes_query->v[0] = (struct weir_hdr_name){ cred_query, (uint32_t)strlen(cred_query) };
	return 0;
}

void weir_auth_common_free(struct weir_auth_common *a)
{
	free(a->consumer_header);
	free(a->removes);
	free(a->removes_query);
	json_decref(a->consumers);
}

void weir_auth_before_upstream(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct weir_auth_common *a = inst;

	if (!r->consumer)
		return;
	weir_buf_append(head, a->consumer_header, a->consumer_header_len);
	weir_buf_append(head, ": ", 2);
	weir_buf_append(head, r->consumer, strlen(r->consumer));
	weir_buf_append(head, "\r\n", 2);
}

const struct weir_hdr_names *weir_auth_removes(void *inst, bool response)
{
	return response ? NULL : ((struct weir_auth_common *)inst)->removes;
}

const struct weir_hdr_names *weir_auth_removes_query(void *inst)
{
	return ((struct weir_auth_common *)inst)->removes_query;
}

/* ---- credentials on a request --------------------------------------------- */

const char *weir_auth_header(const struct weir_req *r, const char *lname, size_t *len)
{
	size_t nl = strlen(lname);

	for (uint32_t i = 0; i < r->head.n_fields; i++)
		if (r->hdrs[i].name_len == nl && !memcmp(r->hdrs[i].name, lname, nl)) {
			*len = r->hdrs[i].value_len;
			return r->hdrs[i].value;
		}
	return NULL;
}

/* The value of name in a list of name=value pairs split by sep (and the
 * spaces after it, for cookies). */
static const char *pair_value(const char *s, size_t n, char sep, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	const char *end = s + n;

	while (s < end) {
		const char *e = memchr(s, sep, (size_t)(end - s));
		if (!e)
			e = end;
		while (sep == ';' && s < e && *s == ' ')
			s++;
		if ((size_t)(e - s) > nl && s[nl] == '=' && !memcmp(s, name, nl)) {
			*len = (size_t)(e - s) - nl - 1;
			return s + nl + 1;
		}
		s = e + 1;
	}
	return NULL;
}

const char *weir_auth_query(const struct weir_req *r, const char *name, size_t *len)
{
	const char *path = r->client->in->data + r->path.off;

	if (r->path_len >= r->path.len)
		return NULL;
	return pair_value(path + r->path_len + 1, r->path.len - r->path_len - 1, '&', name, len);
}

const char *weir_auth_cookie(const struct weir_req *r, const char *name, size_t *len)
{
	for (uint32_t i = 0; i < r->head.n_fields; i++) {
		const struct weir_hdr *h = &r->hdrs[i];
		const char *v;
		if (h->name_len == 6 && !memcmp(h->name, "cookie", 6) &&
		    (v = pair_value(h->value, h->value_len, ';', name, len)))
			return v;
	}
	return NULL;
}
