/* userspace/plugin_hmac.c - the `hmac-auth` plugin: requests signed with a
 * shared secret, so that what reaches the upstream is what the key's holder
 * sent (method, path, query, chosen header fields and, with validate_body,
 * the body), sent recently, and sent once:
 *
 *   plugins:
 *     hmac-auth:
 *       keys:
 *         k1: {secret: "a-secret-of-16-bytes-or-more", consumer: alice}
 *       algorithms: [hmac-sha256, hmac-sha512]   # the default: both
 *       signed_headers: [@method, @path, @query, host, x-date, x-nonce]
 *       clock_skew: 300s
 *       validate_body: true       # Content-Digest (RFC 9530) required, checked
 *       max_body: 1m              # the body is held whole up to this: 413 above
 *       hide_credentials: false   # true: Authorization is not forwarded
 *
 * The request carries
 *
 *   Authorization: Signature keyId="k1",algorithm="hmac-sha256",
 *       headers="@method @path @query host x-date x-nonce",signature="BASE64"
 *
 * and the signature is the HMAC, keyed by the secret, of the signing string:
 * one line "NAME: VALUE" per element of `headers`, in that order, joined by
 * "\n" (no newline after the last). @method is the method in capitals,
 * @path the path as sent (not decoded, no query), @query what follows '?'
 * (empty without one), and a header name the field's value without leading
 * or trailing whitespace, fields of one name joined by ", ". The elements of
 * signed_headers must all be signed; x-date and x-nonce always are, and
 * content-digest too with validate_body. X-Date is an IMF-fixdate
 * ("Mon, 07 Dec 2026 15:40:00 GMT") within clock_skew of the gateway's
 * clock; X-Nonce (1 to 128 visible characters) is accepted once per key
 * within that window, across all workers and reloads (sign.h: the replay
 * table).
 *
 * Answers: 400 for an Authorization that is not a well-formed parameter list
 * or lacks keyId, headers or signature, and for a malformed Content-Digest;
 * 401 for a missing Authorization, another scheme, an unknown key id, an
 * algorithm not allowed, a required element not signed, a signed header
 * missing from the request, a bad or skewed X-Date, a bad nonce, a bad
 * signature, a replayed nonce, a Content-Digest without sha-256/sha-512,
 * and a body that does not match it; 413 for a body over max_body; 503 when
 * the replay table is full. The nonce is spent once the signature is good,
 * before the body is checked.
 *
 * On success r->consumer is the key's consumer. Keys live in the plugin's
 * settings for now; hmac_key_find() is the one place that looks one up, so
 * that it can read the top-level consumers' hmac-auth credentials instead
 * when they exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "auth.h"
#include "core.h"
#include "plugin.h"
#include "sign.h"

#define HMAC_MIN_SECRET 16
#define HMAC_MAX_ELEMS 32
#define HMAC_MAX_NONCE 128
#define HMAC_NONCE_SLOTS (1u << 20)	/* the shared replay table: 24 MiB at most */
#define HMAC_MAX_SIGNING (64 * 1024)	/* bytes in a signing string */

/* ---- settings ------------------------------------------------------------ */

struct hmac_key {
	char *id;
	unsigned char *secret;
	size_t secret_len;
	char *consumer;			/* NULL: none */
	/* HMAC keyed with the secret, one per algorithm, made once: a request
	 * duplicates one (cheap) instead of fetching and keying anew. */
	EVP_MAC_CTX *mac[2];		/* sha256, sha512 */
};

struct hmac_inst {
	struct hmac_key *keys;
	size_t n_keys;
	bool sha256, sha512;
	char *required[HMAC_MAX_ELEMS];	/* elements that must be signed */
	size_t n_required;
	int64_t skew;			/* seconds */
	bool validate_body;
	uint64_t max_body;
	struct weir_hdr_names *hide;	/* Authorization, with hide_credentials */
	struct weir_nonces *nonces;
};

static const struct weir_hdr_names hide_authorization = {
	.n = 1, .v = { { "authorization", 13 } },
};

static void hmac_destroy(void *p)
{
	struct hmac_inst *h = p;

	if (!h)
		return;
	for (size_t i = 0; i < h->n_keys; i++) {
		free(h->keys[i].id);
		if (h->keys[i].secret)
			OPENSSL_clear_free(h->keys[i].secret, h->keys[i].secret_len);
		free(h->keys[i].consumer);
		EVP_MAC_CTX_free(h->keys[i].mac[0]);
		EVP_MAC_CTX_free(h->keys[i].mac[1]);
	}
	free(h->keys);
	for (size_t i = 0; i < h->n_required; i++)
		free(h->required[i]);
	free(h);
}

/* The key of an id, or NULL. The one place keys are looked up: when the
 * top-level consumers exist, this reads their hmac-auth credentials. */
static const struct hmac_key *hmac_key_find(const struct hmac_inst *h, const char *id,
					    size_t len)
{
	for (size_t i = 0; i < h->n_keys; i++)
		if (strlen(h->keys[i].id) == len && !memcmp(h->keys[i].id, id, len))
			return &h->keys[i];
	return NULL;
}

static bool is_tchar(unsigned char ch)
{
	return ch > ' ' && ch < 127 && !strchr("()<>@,;:\\\"/[]?={}", ch);
}

/* An element of a `headers` list: @method, @path, @query or a field name. */
static bool elem_ok(const char *s, size_t len)
{
	if (len == 7 && (!memcmp(s, "@method", 7)))
		return true;
	if (len == 5 && !memcmp(s, "@path", 5))
		return true;
	if (len == 6 && !memcmp(s, "@query", 6))
		return true;
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

static int require(struct hmac_inst *h, const char *elem, char *err, size_t errlen)
{
	char *copy;

	for (size_t i = 0; i < h->n_required; i++)
		if (!strcasecmp(h->required[i], elem))
			return 0;
	if (h->n_required == HMAC_MAX_ELEMS) {
		snprintf(err, errlen, "signed_headers: at most %d elements", HMAC_MAX_ELEMS);
		return -1;
	}
	if (!(copy = strdup(elem))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *p = copy; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 32;
	h->required[h->n_required++] = copy;
	return 0;
}

/* Keys the key's two HMAC contexts. 0 or -1. */
static int mac_keyed(struct hmac_key *key)
{
	static const char *const digests[2] = { "SHA256", "SHA512" };
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	int rc = 0;

	for (int i = 0; mac && i < 2; i++) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digests[i], 0),
			OSSL_PARAM_construct_end(),
		};
		key->mac[i] = EVP_MAC_CTX_new(mac);
		if (!key->mac[i] || !EVP_MAC_init(key->mac[i], key->secret, key->secret_len, params))
			rc = -1;
	}
	EVP_MAC_free(mac);
	return mac ? rc : -1;
}

static int keys_configure(struct hmac_inst *h, const json_t *keys, char *err, size_t errlen)
{
	const char *id;
	json_t *k;

	if (!json_is_object(keys) || !json_object_size(keys)) {
		snprintf(err, errlen, "keys: required, a map of key ids to {secret, consumer}");
		return -1;
	}
	if (!(h->keys = calloc(json_object_size(keys), sizeof(*h->keys)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_object_foreach((json_t *)keys, id, k) {
		struct hmac_key *key = &h->keys[h->n_keys];
		const char *field, *secret, *consumer;
		json_t *v;

		if (!json_is_object(k)) {
			snprintf(err, errlen, "keys.%s: must be a map with `secret` and `consumer`", id);
			return -1;
		}
		json_object_foreach(k, field, v) {
			if (strcmp(field, "secret") && strcmp(field, "consumer")) {
				snprintf(err, errlen, "keys.%s.%s: unknown field", id, field);
				return -1;
			}
		}
		secret = json_string_value(json_object_get(k, "secret"));
		consumer = json_string_value(json_object_get(k, "consumer"));
		if (!*id || strlen(id) > 128 || strchr(id, '"')) {
			snprintf(err, errlen, "keys.%s: a key id is 1 to 128 characters, no '\"'", id);
			return -1;
		}
		if (!secret || strlen(secret) < HMAC_MIN_SECRET) {
			snprintf(err, errlen, "keys.%s.secret: required, a string of at least %d bytes",
				 id, HMAC_MIN_SECRET);
			return -1;
		}
		if (json_object_get(k, "consumer") && (!consumer || !*consumer)) {
			snprintf(err, errlen, "keys.%s.consumer: must be a non-empty string", id);
			return -1;
		}
		key->id = strdup(id);
		key->secret_len = strlen(secret);
		key->secret = OPENSSL_malloc(key->secret_len);
		key->consumer = consumer ? strdup(consumer) : NULL;
		h->n_keys++;
		if (!key->id || !key->secret || (consumer && !key->consumer)) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(key->secret, secret, key->secret_len);
		if (mac_keyed(key) < 0) {
			snprintf(err, errlen, "keys.%s: HMAC is not available from OpenSSL", id);
			return -1;
		}
	}
	return 0;
}

static int algorithms_configure(struct hmac_inst *h, const json_t *a, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!a) {
		h->sha256 = h->sha512 = true;
		return 0;
	}
	if (!json_is_array(a) || !json_array_size(a)) {
		snprintf(err, errlen, "algorithms: must be a list of hmac-sha256 and/or hmac-sha512");
		return -1;
	}
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		if (s && !strcmp(s, "hmac-sha256"))
			h->sha256 = true;
		else if (s && !strcmp(s, "hmac-sha512"))
			h->sha512 = true;
		else {
			snprintf(err, errlen, "algorithms[%zu]: must be hmac-sha256 or hmac-sha512", i);
			return -1;
		}
	}
	return 0;
}

static int hmac_configure(const json_t *conf, const json_t *global, void **inst,
			  char *err, size_t errlen)
{
	static const char *const known[] = {
		"keys", "algorithms", "signed_headers", "clock_skew", "validate_body",
		"max_body", "hide_credentials", NULL,
	};
	static const char *const default_signed[] = {
		"@method", "@path", "@query", "host", "x-date", "x-nonce", NULL,
	};
	struct hmac_inst *h;
	const json_t *v;
	json_t *val;
	int64_t n;

	if (weir_plugin_fields(conf, known, err, errlen) < 0)
		return -1;
	if (!(h = calloc(1, sizeof(*h)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->skew = 300;
	h->max_body = 1024 * 1024;
	if (keys_configure(h, json_object_get(conf, "keys"), err, errlen) < 0 ||
	    algorithms_configure(h, json_object_get(conf, "algorithms"), err, errlen) < 0)
		goto fail;

	if ((v = json_object_get(conf, "clock_skew"))) {
		if (weir_plugin_scaled(v, true, &n) < 0 || n < 1000 || n > 3600 * 1000) {
			snprintf(err, errlen, "clock_skew: expected a duration from 1s to 1h");
			goto fail;
		}
		h->skew = n / 1000;
	}
	if ((v = json_object_get(conf, "validate_body"))) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "validate_body: must be true or false");
			goto fail;
		}
		h->validate_body = json_is_true(v);
	}
	if ((v = json_object_get(conf, "max_body"))) {
		if (weir_plugin_scaled(v, false, &n) < 0 || n < 1 || n > 1024 * 1024 * 1024) {
			snprintf(err, errlen, "max_body: expected a size from 1 to 1g");
			goto fail;
		}
		h->max_body = (uint64_t)n;
	}
	if ((v = json_object_get(conf, "hide_credentials"))) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "hide_credentials: must be true or false");
			goto fail;
		}
		h->hide = json_is_true(v) ? (struct weir_hdr_names *)&hide_authorization : NULL;
	}
	if ((v = json_object_get(conf, "signed_headers"))) {
		size_t i;
		if (!json_is_array(v)) {
			snprintf(err, errlen, "signed_headers: must be a list of @method, @path, "
				 "@query and header names");
			goto fail;
		}
		json_array_foreach(v, i, val) {
			const char *s = json_string_value(val);
			if (!s || !elem_ok(s, strlen(s))) {
				snprintf(err, errlen, "signed_headers[%zu]: must be @method, @path, "
					 "@query or a header name", i);
				goto fail;
			}
			if (require(h, s, err, errlen) < 0)
				goto fail;
		}
	} else {
		for (size_t i = 0; default_signed[i]; i++)
			if (require(h, default_signed[i], err, errlen) < 0)
				goto fail;
	}
	/* Without these, a signature could be replayed or the body swapped. */
	if (require(h, "x-date", err, errlen) < 0 || require(h, "x-nonce", err, errlen) < 0 ||
	    (h->validate_body && require(h, "content-digest", err, errlen) < 0))
		goto fail;
	if (!(h->nonces = weir_nonces_shared(HMAC_NONCE_SLOTS))) {
		snprintf(err, errlen, "out of memory for the replay table");
		goto fail;
	}
	*inst = h;
	return 0;
fail:
	hmac_destroy(h);
	return -1;
}

/* ---- the signature ------------------------------------------------------- */

/* The Authorization parameters this plugin reads. */
struct sig_params {
	const char *key_id, *algorithm, *headers, *signature;
	size_t key_id_len, algorithm_len, headers_len, signature_len;
};

/* Parses `Signature k="v",k="v",...` (values quoted, without escapes).
 * Returns 0, 1 when the scheme is not Signature, -1 when malformed. */
static int sig_params_parse(const char *v, size_t len, struct sig_params *sp)
{
	size_t i = 9;

	memset(sp, 0, sizeof(*sp));
	if (len < 10 || strncasecmp(v, "Signature", 9) || (v[9] != ' ' && v[9] != '\t'))
		return 1;
	for (;;) {
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i == len)
			break;
		size_t ns = i;
		while (i < len && is_tchar((unsigned char)v[i]))
			i++;
		size_t nl = i - ns;
		if (!nl || i + 1 >= len || v[i] != '=' || v[i + 1] != '"')
			return -1;
		i += 2;
		size_t vs = i;
		while (i < len && v[i] != '"' && v[i] != '\\')
			i++;
		if (i == len || v[i] != '"')
			return -1;
		size_t vl = i - vs;
		i++;
		const char *name = v + ns, *val = v + vs;
		if (nl == 5 && !strncasecmp(name, "keyId", 5))
			sp->key_id = val, sp->key_id_len = vl;
		else if (nl == 9 && !strncasecmp(name, "algorithm", 9))
			sp->algorithm = val, sp->algorithm_len = vl;
		else if (nl == 7 && !strncasecmp(name, "headers", 7))
			sp->headers = val, sp->headers_len = vl;
		else if (nl == 9 && !strncasecmp(name, "signature", 9))
			sp->signature = val, sp->signature_len = vl;
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (v[i] != ',')
			return -1;
		i++;
	}
	return sp->key_id && sp->headers && sp->signature ? 0 : -1;
}

/* The first field of a name (lower case), or NULL. */
static const struct weir_hdr *hdr_find(const struct weir_sig_req *q, const char *name,
				       size_t len)
{
	for (size_t i = 0; i < q->n_hdrs; i++)
		if (q->hdrs[i].name_len == len && !strncasecmp(q->hdrs[i].name, name, len))
			return &q->hdrs[i];
	return NULL;
}

static bool put(char *out, size_t cap, size_t *at, const char *s, size_t len)
{
	if (*at + len > cap)
		return false;
	memcpy(out + *at, s, len);
	*at += len;
	return true;
}

long weir_hmac_signing_string(const struct weir_sig_req *q, const char *elems,
			      size_t elems_len, char *out, size_t cap)
{
	size_t i = 0, at = 0;
	bool first = true;

	while (i < elems_len) {
		while (i < elems_len && elems[i] == ' ')
			i++;
		size_t s = i;
		while (i < elems_len && elems[i] != ' ')
			i++;
		const char *e = elems + s;
		size_t el = i - s;
		if (!el)
			break;
		if ((!first && !put(out, cap, &at, "\n", 1)))
			return -1;
		first = false;
		/* the element's name, lower case, then ": " */
		if (at + el + 2 > cap)
			return -1;
		for (size_t k = 0; k < el; k++)
			out[at + k] = (e[k] >= 'A' && e[k] <= 'Z') ? (char)(e[k] + 32) : e[k];
		at += el;
		put(out, cap, &at, ": ", 2);
		if (el == 7 && !memcmp(e, "@method", 7)) {
			if (!put(out, cap, &at, q->method, strlen(q->method)))
				return -1;
		} else if (el == 5 && !memcmp(e, "@path", 5)) {
			if (!put(out, cap, &at, q->path, q->path_len))
				return -1;
		} else if (el == 6 && !memcmp(e, "@query", 6)) {
			if (!put(out, cap, &at, q->query, q->query_len))
				return -1;
		} else {
			bool found = false;
			for (size_t k = 0; k < q->n_hdrs; k++) {
				const struct weir_hdr *h = &q->hdrs[k];
				if (h->name_len != el || strncasecmp(h->name, e, el))
					continue;
				const char *v = h->value;
				size_t vl = h->value_len;
				while (vl && (*v == ' ' || *v == '\t'))
					v++, vl--;
				if ((found && !put(out, cap, &at, ", ", 2)) ||
				    !put(out, cap, &at, v, vl))
					return -1;
				found = true;
			}
			if (!found)
				return -1;
		}
	}
	return (long)at;
}

/* Whether `elem` is in the space-separated list. */
static bool elems_has(const char *list, size_t len, const char *elem)
{
	size_t el = strlen(elem), i = 0;

	while (i < len) {
		while (i < len && list[i] == ' ')
			i++;
		size_t s = i;
		while (i < len && list[i] != ' ')
			i++;
		if (i - s == el && !strncasecmp(list + s, elem, el))
			return true;
	}
	return false;
}

/* An IMF-fixdate as unix seconds; -1 when it is not one. */
static int64_t imf_fixdate(const char *v, size_t len)
{
	char text[40];
	struct tm tm;
	const char *end;

	if (len < 29 || len >= sizeof(text))
		return -1;
	memcpy(text, v, len);
	text[len] = 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	return (int64_t)timegm(&tm);
}

/* Each worker thread's room for signing strings (a signing string holds
 * header values, so it is as long as a head at most; past this: refused). */
static _Thread_local char signing_buf[HMAC_MAX_SIGNING];

int weir_hmac_check(void *inst, const struct weir_sig_req *q, int64_t now,
		    const char **consumer, const char **why)
{
	const struct hmac_inst *h = inst;
	const struct weir_hdr *auth = hdr_find(q, "authorization", 13), *f;
	const struct hmac_key *key;
	EVP_MAC_CTX *ctx;
	int alg;
	struct sig_params sp;
	unsigned char mac[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE + 3];
	size_t mac_len = 0;
	long sig_len, slen;
	int64_t ts;

	*consumer = NULL;
	if (!auth) {
		*why = "missing Authorization";
		return 401;
	}
	int rc = sig_params_parse(auth->value, auth->value_len, &sp);
	if (rc > 0) {
		*why = "Authorization is not a Signature";
		return 401;
	}
	if (rc < 0) {
		*why = "malformed Signature parameters (keyId, headers, signature required)";
		return 400;
	}
	if (!(key = hmac_key_find(h, sp.key_id, sp.key_id_len))) {
		*why = "unknown key id";
		return 401;
	}
	if ((!sp.algorithm || (sp.algorithm_len == 11 && !memcmp(sp.algorithm, "hmac-sha256", 11)))
	    && h->sha256) {
		alg = 0;
	} else if (sp.algorithm && sp.algorithm_len == 11 &&
		   !memcmp(sp.algorithm, "hmac-sha512", 11) && h->sha512) {
		alg = 1;
	} else {
		*why = "algorithm not allowed";
		return 401;
	}
	for (size_t i = 0; i < h->n_required; i++)
		if (!elems_has(sp.headers, sp.headers_len, h->required[i])) {
			*why = "a required header is not signed";
			return 401;
		}
	if (!(f = hdr_find(q, "x-date", 6)) || (ts = imf_fixdate(f->value, f->value_len)) < 0) {
		*why = "missing or malformed X-Date";
		return 401;
	}
	if (ts > now + h->skew || ts < now - h->skew) {
		*why = "X-Date outside the allowed clock skew";
		return 401;
	}
	f = hdr_find(q, "x-nonce", 7);
	if (!f || !f->value_len || f->value_len > HMAC_MAX_NONCE) {
		*why = "missing or malformed X-Nonce";
		return 401;
	}
	for (size_t i = 0; i < f->value_len; i++)
		if ((unsigned char)f->value[i] <= ' ' || (unsigned char)f->value[i] >= 127) {
			*why = "missing or malformed X-Nonce";
			return 401;
		}
	slen = weir_hmac_signing_string(q, sp.headers, sp.headers_len, signing_buf,
					sizeof(signing_buf));
	if (slen < 0) {
		*why = "a signed header is missing from the request";
		return 401;
	}
	sig_len = weir_b64_decode(sp.signature, sp.signature_len, sig, sizeof(sig));
	ctx = EVP_MAC_CTX_dup(key->mac[alg]);
	rc = ctx && EVP_MAC_update(ctx, (const unsigned char *)signing_buf, (size_t)slen) &&
	     EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac));
	EVP_MAC_CTX_free(ctx);
	if (!rc || sig_len != (long)mac_len || CRYPTO_memcmp(sig, mac, mac_len)) {
		*why = "bad signature";
		return 401;
	}
	rc = weir_nonces_check(h->nonces, key->id, strlen(key->id), f->value, f->value_len,
			       now, ts + h->skew + 1);
	if (rc > 0) {
		*why = "replayed nonce";
		return 401;
	}
	if (rc < 0) {
		*why = "replay table full";
		return 503;
	}
	*consumer = key->consumer;
	return 0;
}

int weir_hmac_check_body(void *inst, const struct weir_sig_req *q, const void *body,
			 size_t len, const char **why)
{
	const struct weir_hdr *f = hdr_find(q, "content-digest", 14);
	bool checked = false;

	(void)inst;
	if (!f) {
		*why = "missing Content-Digest";
		return 401;
	}
	/* sha-256=:B64:, sha-512=:B64: (RFC 9530: a structured-field dictionary
	 * of byte sequences); other algorithms are ignored. */
	const char *v = f->value, *end = f->value + f->value_len;
	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		if (v == end)
			break;
		const char *eq = memchr(v, '=', (size_t)(end - v));
		if (!eq || eq + 1 >= end || eq[1] != ':') {
			*why = "malformed Content-Digest";
			return 400;
		}
		const char *b = eq + 2, *close = memchr(b, ':', (size_t)(end - b));
		if (!close) {
			*why = "malformed Content-Digest";
			return 400;
		}
		size_t alen = (size_t)(eq - v);
		int which = alen != 7 ? -1 : !strncasecmp(v, "sha-256", 7) ? WEIR_SHA256 :
			    !strncasecmp(v, "sha-512", 7) ? WEIR_SHA512 : -1;
		if (which >= 0) {
			unsigned char want[EVP_MAX_MD_SIZE + 3], got[EVP_MAX_MD_SIZE];
			long want_len = weir_b64_decode(b, (size_t)(close - b), want, sizeof(want));
			if (want_len < 0) {
				*why = "malformed Content-Digest";
				return 400;
			}
			unsigned got_len = weir_sha(which, body, len, got);
			if (want_len != (long)got_len || CRYPTO_memcmp(want, got, got_len)) {
				*why = "body does not match its Content-Digest";
				return 401;
			}
			checked = true;
		}
		v = close + 1;
	}
	if (!checked) {
		*why = "Content-Digest has no sha-256 or sha-512";
		return 401;
	}
	return 0;
}

/* ---- phases -------------------------------------------------------------- */

static void sig_req_of(struct weir_req *r, struct weir_sig_req *q)
{
	const char *path = r->client->in->data + r->path.off;

	q->method = llhttp_method_name(r->method);
	q->path = path;
	q->path_len = r->path_len;
	q->query = r->path.len > r->path_len ? path + r->path_len + 1 : "";
	q->query_len = r->path.len > r->path_len ? r->path.len - r->path_len - 1 : 0;
	q->hdrs = r->hdrs;
	q->n_hdrs = r->head.n_fields;
}

static int hmac_access(struct weir_req *r, void *inst)
{
	struct weir_sig_req q;
	const char *consumer;
	int status;

	sig_req_of(r, &q);
	status = weir_hmac_check(inst, &q, (int64_t)time(NULL), &consumer, &r->local_why);
	/* An upgrade is never held (http.c), so request_body does not run for
	 * it: it has no body, and its digest must say so. */
	if (!status && r->upgrade && ((const struct hmac_inst *)inst)->validate_body)
		status = weir_hmac_check_body(inst, &q, "", 0, &r->local_why);
	if (!status)
		r->consumer = consumer;
	return status;
}

static int hmac_request_body(struct weir_req *r, void *inst, struct weir_body *body)
{
	const struct hmac_inst *h = inst;
	struct weir_sig_req q;

	if (!h->validate_body)
		return 0;
	sig_req_of(r, &q);
	return weir_hmac_check_body(inst, &q, body->data ? body->data : "", body->len,
				    &r->local_why);
}

static uint64_t hmac_holds(void *inst, bool response)
{
	const struct hmac_inst *h = inst;

	return !response && h->validate_body ? h->max_body : 0;
}

static const struct weir_hdr_names *hmac_removes(void *inst, bool response)
{
	const struct hmac_inst *h = inst;

	return response ? NULL : h->hide;
}

const struct weir_plugin weir_plugin_hmac = {
	.name = "hmac-auth",
	.priority = 2530,
	.configure = hmac_configure,
	.destroy = hmac_destroy,
	.access = hmac_access,
	.request_body = hmac_request_body,
	.removes = hmac_removes,
	.holds = hmac_holds,
};
