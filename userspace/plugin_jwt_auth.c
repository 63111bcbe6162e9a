/* userspace/plugin_jwt_auth.c - the `jwt-auth` plugin: a request is admitted
 * as the consumer a signed JSON Web Token (RFC 7519, JWS compact form)
 * names:
 *
 *   consumers:
 *     - username: alice
 *       plugins: {jwt-auth: {key: alice-key, algorithm: HS256, secret: "..."}}
 *     - username: bob
 *       plugins: {jwt-auth: {key: bob-key, algorithm: ES256,
 *                            public_key: "-----BEGIN PUBLIC KEY-----\n..."}}
 *     - username: carol
 *       plugins: {jwt-auth: {key: carol, algorithm: RS256, jwks_file: /etc/weir/carol.jwks}}
 *   routes:
 *     - {path: /api, upstream: api,
 *        plugins: {jwt-auth: {leeway: 30, issuer: https://id.example.com}}}
 *
 * The token comes from `Authorization: Bearer` (the header is settable),
 * else the query parameter `jwt`, else the cookie `jwt`. The consumer is
 * the one whose `key` equals the token's key_claim (default `key`, as
 * APISIX; `iss` or `sub` are common choices). Each consumer's algorithm is
 * fixed in the config and a token whose `alg` differs is refused, so a
 * token cannot pick how it is checked: `none` never passes, and an HS256
 * token signed with an RSA public key's PEM as its secret is refused by a
 * consumer set up for RS256. Then, in order: the signature (HMAC through
 * EVP_MAC; RSA, ECDSA and Ed25519 through EVP_DigestVerify, ES* signatures
 * turned from JOSE's r||s into DER first), `exp` and `nbf` with `leeway`
 * seconds of slack, `iss` and `aud` when the route sets issuer/audience.
 * Every failure gets 401 with its reason as the body and WWW-Authenticate:
 * Bearer.
 *
 * Keys are parsed when the snapshot is built (PEM, or the JWKS file's keys
 * by kid, read at config load) and shared, read-only, by all workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "auth.h"
#include "core.h"
#include "plugin.h"

#define MAX_TOKEN 8192
#define MAX_PART (MAX_TOKEN / 4 * 3 + 4)

struct jwt_key {
	const char *kid;		/* NULL: the only key */
	EVP_PKEY *pkey;
};

struct jwt_consumer {
	int alg;
	const char *secret;		/* HS*: into the consumers' JSON */
	size_t secret_len;
	struct jwt_key *keys;		/* RS/ES/EdDSA: public_key, or the JWKS */
	size_t n_keys;
};

struct jwt_auth {
	struct weir_auth_common common;	/* first: auth.h callbacks read it */
	char *header, *query, *cookie, *claim, *issuer, *audience;
	int64_t leeway;
	EVP_MAC *hmac;
	struct jwt_consumer *consumers;
	size_t n_consumers;
	struct weir_auth_table table;	/* key claim value -> struct jwt_consumer */
};

static void jwt_auth_destroy(void *p)
{
	struct jwt_auth *j = p;

	if (!j)
		return;
	for (size_t i = 0; j->consumers && i < j->n_consumers; i++) {
		for (size_t k = 0; k < j->consumers[i].n_keys; k++)
			EVP_PKEY_free(j->consumers[i].keys[k].pkey);
		free(j->consumers[i].keys);
	}
	free(j->consumers);
	weir_auth_table_free(&j->table);
	weir_auth_common_free(&j->common);
	EVP_MAC_free(j->hmac);
	free(j->header);
	free(j->query);
	free(j->cookie);
	free(j->claim);
	free(j->issuer);
	free(j->audience);
	free(j);
}

/* A consumer's key material from its credential (checked by config.c). */
static int consumer_keys(struct jwt_consumer *c, const json_t *cred, char *err, size_t errlen)
{
	const char *alg = json_string_value(json_object_get(cred, "algorithm"));
	const char *pem = json_string_value(json_object_get(cred, "public_key"));
	const json_t *jwks = json_object_get(json_object_get(cred, "jwks"), "keys");
	char why[160];
	size_t i;
	json_t *jwk;

	c->alg = WEIR_JWT_HS256;
	for (int a = 0; alg && weir_jwt_alg_names[a]; a++)
		if (!strcmp(alg, weir_jwt_alg_names[a]))
			c->alg = a;
	if (weir_jwt_alg_is_hmac(c->alg)) {
		c->secret = json_string_value(json_object_get(cred, "secret"));
		c->secret_len = c->secret ? strlen(c->secret) : 0;
		if (!c->secret_len) {
			snprintf(err, errlen, "a secret is required for %s", weir_jwt_alg_names[c->alg]);
			return -1;
		}
		return 0;
	}
	c->n_keys = pem ? 1 : json_array_size(jwks);
	if (!c->n_keys || !(c->keys = calloc(c->n_keys, sizeof(*c->keys)))) {
		snprintf(err, errlen, c->n_keys ? "out of memory" : "no public key");
		return -1;
	}
	if (pem && !(c->keys[0].pkey = weir_auth_pem_key(pem, c->alg, why, sizeof(why)))) {
		snprintf(err, errlen, "public_key: %s", why);
		return -1;
	}
	json_array_foreach(pem ? NULL : jwks, i, jwk) {
		c->keys[i].kid = json_string_value(json_object_get(jwk, "kid"));
		if (!(c->keys[i].pkey = weir_auth_jwk_key(jwk, c->alg, why, sizeof(why)))) {
			snprintf(err, errlen, "jwks_file: keys[%zu]: %s", i, why);
			return -1;
		}
	}
	return 0;
}

static int jwt_auth_configure(const json_t *conf, const json_t *global, void **inst,
			      char *err, size_t errlen)
{
	static const char *const known[] = { "header", "query", "cookie", "key_claim", "leeway",
					     "issuer", "audience", NULL };
	const json_t *leeway = weir_auth_setting(conf, global, "leeway");
	struct jwt_auth *j;
	char why[200];
	size_t i;
	json_t *c;

	if (weir_auth_known(conf, global, known, err, errlen) < 0)
		return -1;
	if (leeway && (!json_is_integer(leeway) || json_integer_value(leeway) < 0 ||
		       json_integer_value(leeway) > 86400)) {
		snprintf(err, errlen, "leeway: expected seconds from 0 to 86400");
		return -1;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	j->leeway = leeway ? json_integer_value(leeway) : 0;
	if (weir_auth_string(conf, global, "header", "authorization", true, &j->header, err,
			     errlen) ||
	    weir_auth_string(conf, global, "query", "jwt", false, &j->query, err, errlen) ||
	    weir_auth_string(conf, global, "cookie", "jwt", false, &j->cookie, err, errlen) ||
	    weir_auth_string(conf, global, "key_claim", "key", false, &j->claim, err, errlen) ||
	    (weir_auth_setting(conf, global, "issuer") &&
	     weir_auth_string(conf, global, "issuer", NULL, false, &j->issuer, err, errlen)) ||
	    (weir_auth_setting(conf, global, "audience") &&
	     weir_auth_string(conf, global, "audience", NULL, false, &j->audience, err, errlen)) ||
	    weir_auth_common_configure(&j->common, conf, global, j->header, j->query, err,
				       errlen))
		goto fail;
	if (!(j->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL))) {
		snprintf(err, errlen, "OpenSSL has no HMAC");
		goto fail;
	}
	j->n_consumers = json_array_size(j->common.consumers);
	if (!(j->consumers = calloc(j->n_consumers + 1, sizeof(*j->consumers))) ||
	    weir_auth_table_init(&j->table, j->n_consumers) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach(j->common.consumers, i, c) {
		const json_t *cred = json_object_get(c, "credential");
		const char *name = json_string_value(json_object_get(c, "username"));
		const char *key = json_string_value(json_object_get(cred, "key"));

		if (!key || consumer_keys(&j->consumers[i], cred, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "consumer '%s': %s", name, key ? why : "no key");
			goto fail;
		}
		if (weir_auth_table_add(&j->table, key, strlen(key), name, &j->consumers[i]) < 0) {
			snprintf(err, errlen, "consumer '%s': key '%s' is another's", name, key);
			goto fail;
		}
	}
	*inst = j;
	return 0;
fail:
	jwt_auth_destroy(j);
	return -1;
}

/* ---- refusals --------------------------------------------------------------- */

/* Every refusal is a 401 with its reason as the body and, as RFC 6750 asks
 * of a resource server, WWW-Authenticate: Bearer (with error="invalid_token"
 * when a token came but did not pass). All of it is fixed text. */
#define JWT_REASONS(X)							\
	X(MISSING, "missing JWT")					\
	X(TOO_LONG, "token too long")					\
	X(MALFORMED, "malformed token")					\
	X(ALG_NONE, "unsigned token (alg none) refused")		\
	X(NO_CONSUMER, "no consumer for this token")			\
	X(ALG, "algorithm not allowed for this consumer")		\
	X(UNKNOWN_KID, "unknown key id (kid)")				\
	X(NEED_KID, "a key id (kid) is required")			\
	X(BAD_SIG, "bad signature")					\
	X(EXPIRED, "token expired")					\
	X(NOT_YET, "token not valid yet")				\
	X(ISSUER, "wrong issuer")					\
	X(AUDIENCE, "wrong audience")

#define REASON_ENUM(name, text) R_##name,
enum jwt_reason { R_OK = -1, JWT_REASONS(REASON_ENUM) N_REASONS };
#undef REASON_ENUM

#define HEAD_MISSING "WWW-Authenticate: Bearer\r\nContent-Type: text/plain\r\n"
#define HEAD_INVALID "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n" \
		     "Content-Type: text/plain\r\n"
#define REASON_ANSWER(name, text)						\
	[R_##name] = { .status = 401,						\
		       .head = R_##name == R_MISSING ? HEAD_MISSING : HEAD_INVALID,	\
		       .head_len = R_##name == R_MISSING ? sizeof(HEAD_MISSING) - 1	\
							 : sizeof(HEAD_INVALID) - 1,	\
		       .body = "401 Unauthorized: " text "\n",				\
		       .body_len = sizeof("401 Unauthorized: " text "\n") - 1 },
static const struct weir_answer refusals[N_REASONS] = { JWT_REASONS(REASON_ANSWER) };
#undef REASON_ANSWER

/* ---- verification --------------------------------------------------------- */

static bool verify_hmac(const struct jwt_auth *j, const struct jwt_consumer *c,
			const char *data, size_t len, const unsigned char *sig, size_t siglen)
{
	const EVP_MD *md = weir_jwt_alg_md(c->alg);
	unsigned char mac[EVP_MAX_MD_SIZE];
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	size_t n = 0;
	bool ok;

	if (siglen != (size_t)EVP_MD_get_size(md) || !(ctx = EVP_MAC_CTX_new(j->hmac)))
		return false;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, (const unsigned char *)c->secret, c->secret_len, params) &&
	     EVP_MAC_update(ctx, (const unsigned char *)data, len) &&
	     EVP_MAC_final(ctx, mac, &n, sizeof(mac)) && n == siglen &&
	     !CRYPTO_memcmp(mac, sig, n);
	EVP_MAC_CTX_free(ctx);
	return ok;
}

/* JOSE writes an ECDSA signature as r||s, each as long as the curve's
 * order; EVP_DigestVerify wants the DER of ECDSA-Sig-Value. */
static int es_to_der(int alg, const unsigned char *sig, size_t siglen, unsigned char **der)
{
	size_t half = alg == WEIR_JWT_ES256 ? 32 : 48;
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	int n;

	*der = NULL;
	if (siglen != 2 * half || !(es = ECDSA_SIG_new()))
		return -1;
	r = BN_bin2bn(sig, (int)half, NULL);
	s = BN_bin2bn(sig + half, (int)half, NULL);
	if (!r || !s || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	return n;
}

static bool verify_pkey(const struct jwt_consumer *c, EVP_PKEY *pkey, const char *data,
			size_t len, const unsigned char *sig, size_t siglen)
{
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx;
	bool ok = false;
	int n;

	if (c->alg == WEIR_JWT_ES256 || c->alg == WEIR_JWT_ES384) {
		if ((n = es_to_der(c->alg, sig, siglen, &der)) <= 0)
			return false;
		sig = der;
		siglen = (size_t)n;
	}
	if ((ctx = EVP_MD_CTX_new()) &&
	    EVP_DigestVerifyInit(ctx, NULL, weir_jwt_alg_md(c->alg), NULL, pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)data, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

/* A JSON object from one base64url part of the token, or NULL. */
static json_t *part_json(const char *s, size_t len)
{
	unsigned char buf[MAX_PART];
	int n = weir_auth_b64_decode(s, len, true, buf, sizeof(buf));
	json_t *j;

	if (n < 0)
		return NULL;
	j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool aud_has(const json_t *aud, const char *want)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return !strcmp(json_string_value(aud), want);
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), want))
			return true;
	return false;
}

/* The token of a request, or NULL. */
static const char *find_token(const struct jwt_auth *j, const struct weir_req *r, size_t *len)
{
	const char *t = weir_auth_header(r, j->header, len);

	if (t) {
		if (*len >= 7 && !strncasecmp(t, "bearer ", 7)) {
			t += 7;
			*len -= 7;
			while (*len && *t == ' ')
				t++, (*len)--;
		}
		return t;
	}
	if ((t = weir_auth_query(r, j->query, len)))
		return t;
	return weir_auth_cookie(r, j->cookie, len);
}

/* Checks a token: R_OK when it admits consumer *who, else the reason. */
static enum jwt_reason check_token(const struct jwt_auth *j, const char *t, size_t len,
				   int64_t now, const char **who)
{
	enum jwt_reason why = R_OK;
	const char *d1, *d2, *alg, *kid, *claim;
	const struct jwt_consumer *c;
	const struct weir_auth_entry *e;
	unsigned char sig[MAX_PART];
	json_t *head = NULL, *body = NULL, *v;
	EVP_PKEY *pkey = NULL;
	int siglen;

	if (len > MAX_TOKEN)
		return R_TOO_LONG;
	if (!(d1 = memchr(t, '.', len)) || !(d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - t))) ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - t)))
		return R_MALFORMED;
	if (!(head = part_json(t, (size_t)(d1 - t))) ||
	    !(body = part_json(d1 + 1, (size_t)(d2 - d1 - 1)))) {
		why = R_MALFORMED;
		goto out;
	}
	alg = json_string_value(json_object_get(head, "alg"));
	if (!alg || !strcasecmp(alg, "none")) {
		why = R_ALG_NONE;
		goto out;
	}
	claim = json_string_value(json_object_get(body, j->claim));
	if (!claim || !(e = weir_auth_table_find(&j->table, claim, strlen(claim)))) {
		why = R_NO_CONSUMER;
		goto out;
	}
	c = e->data;
	if (strcmp(alg, weir_jwt_alg_names[c->alg])) {
		why = R_ALG;
		goto out;
	}
	if ((siglen = weir_auth_b64_decode(d2 + 1, len - (size_t)(d2 + 1 - t), true, sig,
					   sizeof(sig))) < 0) {
		why = R_MALFORMED;
		goto out;
	}
	if (c->n_keys) {
		kid = json_string_value(json_object_get(head, "kid"));
		/* A key without a kid (a PEM, a JWKS of one) takes any token;
		 * among several, the token's kid picks. */
		for (size_t k = 0; k < c->n_keys && !pkey; k++)
			if (!c->keys[k].kid || (kid ? !strcmp(kid, c->keys[k].kid) : c->n_keys == 1))
				pkey = c->keys[k].pkey;
		if (!pkey) {
			why = kid ? R_UNKNOWN_KID : R_NEED_KID;
			goto out;
		}
	}
	if (!(pkey ? verify_pkey(c, pkey, t, (size_t)(d2 - t), sig, (size_t)siglen) :
		     verify_hmac(j, c, t, (size_t)(d2 - t), sig, (size_t)siglen))) {
		why = R_BAD_SIG;
		goto out;
	}
	if ((v = json_object_get(body, "exp")) &&
	    (!json_is_number(v) || now > (int64_t)json_number_value(v) + j->leeway)) {
		why = R_EXPIRED;
		goto out;
	}
	if ((v = json_object_get(body, "nbf")) &&
	    (!json_is_number(v) || now + j->leeway < (int64_t)json_number_value(v))) {
		why = R_NOT_YET;
		goto out;
	}
	if (j->issuer && (!(v = json_object_get(body, "iss")) || !json_is_string(v) ||
			  strcmp(json_string_value(v), j->issuer))) {
		why = R_ISSUER;
		goto out;
	}
	if (j->audience && !aud_has(json_object_get(body, "aud"), j->audience)) {
		why = R_AUDIENCE;
		goto out;
	}
	*who = e->consumer;
out:
	json_decref(head);
	json_decref(body);
	return why;
}

static int jwt_auth_access(struct weir_req *r, void *inst)
{
	const struct jwt_auth *j = inst;
	const char *t, *who = NULL;
	size_t len = 0;

	enum jwt_reason why = R_MISSING;

	if ((t = find_token(j, r, &len)) && len)
		why = check_token(j, t, len, (int64_t)time(NULL), &who);
	if (why != R_OK) {
		r->answer = &refusals[why];
		return 401;
	}
	r->consumer = who;
	return 0;
}

const struct weir_plugin weir_plugin_jwt_auth = {
	.name = "jwt-auth",
	.priority = 2510,
	.consumers = true,
	.configure = jwt_auth_configure,
	.destroy = jwt_auth_destroy,
	.access = jwt_auth_access,
	.before_upstream = weir_auth_before_upstream,
	.removes = weir_auth_removes,
	.removes_query = weir_auth_removes_query,
};
