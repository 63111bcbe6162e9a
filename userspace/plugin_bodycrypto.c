/* userspace/plugin_bodycrypto.c - the `body-crypto` plugin: bodies
 * encrypted between the client and the gateway with AES-256-GCM, so the
 * upstream reads and writes plaintext while nothing in between can read or
 * change a body:
 *
 *   plugins:
 *     body-crypto:
 *       keys: {k1: BASE64_OF_32_BYTES, k2: BASE64_OF_32_BYTES}
 *       encrypt_with: k2            # responses; optional with a single key
 *       consumer_keys: {alice: k1}  # optional: a consumer's own key
 *       max_body: 1m                # each direction is held whole up to this
 *       encrypt_responses: true
 *
 * The format, each direction: the body is nonce (12 random bytes) ||
 * ciphertext || tag (16 bytes), binary, no associated data; the header
 * X-Enc-Key-Id names the key, and X-Enc-Content-Type carries the
 * plaintext's Content-Type (the message's own Content-Type is then
 * application/octet-stream).
 *
 * Requests: a body with X-Enc-Key-Id is decrypted before anything goes
 * upstream, which gets the plaintext with its Content-Length, the
 * X-Enc-Content-Type as Content-Type, and neither X-Enc-* field. A body
 * that fails (unknown key id, a key other than the consumer's, shorter than
 * 28 bytes, a bad tag) is answered 400 and nothing is forwarded; a body
 * without X-Enc-Key-Id is 400 too. A request without a body passes as it
 * is. Responses (encrypt_responses): the upstream's body is held, encrypted
 * under the consumer's key when consumer_keys maps r->consumer, else under
 * encrypt_with, with a fresh random nonce (RAND_bytes), and sent with its
 * Content-Length, X-Enc-Key-Id and X-Enc-Content-Type. Responses without a
 * body (HEAD, 204, 304) and weir's own answers pass in clear. Every key of
 * `keys` decrypts, so keys rotate: add the new one, point encrypt_with at
 * it, drop the old once no client uses it.
 *
 * Over max_body: 413 for a request, 502 for a response. The plugin runs
 * after the authentication plugins (priority 2400 < hmac-auth's 2530), so a
 * signed request's Content-Digest covers the encrypted body as sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core.h"
#include "plugin.h"
#include "sign.h"

#define KEY_LEN 32
#define MAX_KID 64

struct bc_key {
	char *id;
	unsigned char *key;		/* KEY_LEN bytes */
};

struct bc_consumer {
	char *name;
	const struct bc_key *key;
};

struct bc_inst {
	struct bc_key *keys;
	size_t n_keys;
	struct bc_consumer *consumers;
	size_t n_consumers;
	const struct bc_key *encrypt_with;
	uint64_t max_body;
	bool encrypt_responses;
	EVP_CIPHER *cipher;		/* AES-256-GCM, fetched once */
};

static const struct weir_hdr_names removes_request = {
	.n = 3, .v = { { "x-enc-key-id", 12 }, { "x-enc-content-type", 18 },
		       { "content-type", 12 } },
};
static const struct weir_hdr_names removes_response = {
	.n = 1, .v = { { "content-type", 12 } },
};

static void bc_destroy(void *p)
{
	struct bc_inst *b = p;

	if (!b)
		return;
	for (size_t i = 0; i < b->n_keys; i++) {
		free(b->keys[i].id);
		if (b->keys[i].key)
			OPENSSL_clear_free(b->keys[i].key, KEY_LEN);
	}
	for (size_t i = 0; i < b->n_consumers; i++)
		free(b->consumers[i].name);
	free(b->keys);
	free(b->consumers);
	EVP_CIPHER_free(b->cipher);
	free(b);
}

static const struct bc_key *key_find(const struct bc_inst *b, const char *id, size_t len)
{
	for (size_t i = 0; i < b->n_keys; i++)
		if (strlen(b->keys[i].id) == len && !memcmp(b->keys[i].id, id, len))
			return &b->keys[i];
	return NULL;
}

/* The key a consumer is pinned to, or NULL. */
static const struct bc_key *consumer_key(const struct bc_inst *b, const char *consumer)
{
	for (size_t i = 0; consumer && i < b->n_consumers; i++)
		if (!strcmp(b->consumers[i].name, consumer))
			return b->consumers[i].key;
	return NULL;
}

static int keys_configure(struct bc_inst *b, const json_t *keys, char *err, size_t errlen)
{
	const char *id;
	json_t *v;

	if (!json_is_object(keys) || !json_object_size(keys)) {
		snprintf(err, errlen, "keys: required, a map of key ids to base64 of 32 bytes");
		return -1;
	}
	if (!(b->keys = calloc(json_object_size(keys), sizeof(*b->keys)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_object_foreach((json_t *)keys, id, v) {
		struct bc_key *k = &b->keys[b->n_keys];
		const char *text = json_string_value(v);
		unsigned char raw[KEY_LEN + 3];

		if (!*id || strlen(id) > MAX_KID) {
			snprintf(err, errlen, "keys.%s: a key id is 1 to %d characters", id, MAX_KID);
			return -1;
		}
		for (const char *p = id; *p; p++)
			if (*p <= ' ' || *p >= 127) {
				snprintf(err, errlen, "keys.%s: a key id is visible ASCII", id);
				return -1;
			}
		if (!text || weir_b64_decode(text, strlen(text), raw, sizeof(raw)) != KEY_LEN) {
			OPENSSL_cleanse(raw, sizeof(raw));
			snprintf(err, errlen, "keys.%s: must be the base64 of 32 bytes", id);
			return -1;
		}
		k->id = strdup(id);
		k->key = OPENSSL_malloc(KEY_LEN);
		b->n_keys++;
		if (!k->id || !k->key) {
			OPENSSL_cleanse(raw, sizeof(raw));
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(k->key, raw, KEY_LEN);
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	return 0;
}

static int bc_configure(const json_t *conf, const json_t *global, void **inst,
			char *err, size_t errlen)
{
	static const char *const known[] = {
		"keys", "encrypt_with", "consumer_keys", "max_body", "encrypt_responses", NULL,
	};
	struct bc_inst *b;
	const json_t *v;
	const char *key;
	json_t *val;
	int64_t n;

	if (weir_plugin_fields(conf, known, err, errlen) < 0)
		return -1;
	if (!(b = calloc(1, sizeof(*b)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->max_body = 1024 * 1024;
	b->encrypt_responses = true;
	if (keys_configure(b, json_object_get(conf, "keys"), err, errlen) < 0)
		goto fail;
	if ((v = json_object_get(conf, "encrypt_with"))) {
		const char *s = json_string_value(v);
		if (!s || !(b->encrypt_with = key_find(b, s, strlen(s)))) {
			snprintf(err, errlen, "encrypt_with: must name a key of `keys`");
			goto fail;
		}
	} else if (b->n_keys == 1) {
		b->encrypt_with = &b->keys[0];
	}
	if ((v = json_object_get(conf, "encrypt_responses"))) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "encrypt_responses: must be true or false");
			goto fail;
		}
		b->encrypt_responses = json_is_true(v);
	}
	if (b->encrypt_responses && !b->encrypt_with) {
		snprintf(err, errlen, "encrypt_with: required with more than one key");
		goto fail;
	}
	if ((v = json_object_get(conf, "max_body"))) {
		if (weir_plugin_scaled(v, false, &n) < 0 || n < 1 || n > 1024 * 1024 * 1024) {
			snprintf(err, errlen, "max_body: expected a size from 1 to 1g");
			goto fail;
		}
		b->max_body = (uint64_t)n;
	}
	if ((v = json_object_get(conf, "consumer_keys"))) {
		if (!json_is_object(v)) {
			snprintf(err, errlen, "consumer_keys: must be a map of consumer names to key ids");
			goto fail;
		}
		if (!(b->consumers = calloc(json_object_size(v) + 1, sizeof(*b->consumers)))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		json_object_foreach((json_t *)v, key, val) {
			const char *s = json_string_value(val);
			struct bc_consumer *c = &b->consumers[b->n_consumers];
			if (!s || !(c->key = key_find(b, s, strlen(s)))) {
				snprintf(err, errlen, "consumer_keys.%s: must name a key of `keys`", key);
				goto fail;
			}
			if (!(c->name = strdup(key))) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			b->n_consumers++;
		}
	}
	if (!(b->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL))) {
		snprintf(err, errlen, "AES-256-GCM is not available from OpenSSL");
		goto fail;
	}
	*inst = b;
	return 0;
fail:
	bc_destroy(b);
	return -1;
}

/* ---- sealing and opening ------------------------------------------------- */

int weir_bodycrypto_open(void *inst, const char *kid, size_t kid_len, const char *consumer,
			 struct weir_body *body, const char **why)
{
	const struct bc_inst *b = inst;
	const struct bc_key *k = key_find(b, kid, kid_len), *pinned = consumer_key(b, consumer);
	unsigned char *p = (unsigned char *)body->data;
	EVP_CIPHER_CTX *ctx;
	int n = 0, fin = 0, ok;

	if (!k) {
		*why = "unknown encryption key id";
		return 400;
	}
	if (pinned && pinned != k) {
		*why = "not this consumer's encryption key";
		return 400;
	}
	if (body->len < WEIR_GCM_NONCE + WEIR_GCM_TAG) {
		*why = "encrypted body too short";
		return 400;
	}
	size_t ct_len = body->len - WEIR_GCM_NONCE - WEIR_GCM_TAG;
	if (ct_len > INT32_MAX || !(ctx = EVP_CIPHER_CTX_new())) {
		*why = "cannot decrypt";
		return 500;
	}
	/* In place: the plaintext overwrites the ciphertext, then moves down
	 * over the nonce. */
	ok = EVP_DecryptInit_ex2(ctx, b->cipher, k->key, p, NULL) &&
	     EVP_DecryptUpdate(ctx, p + WEIR_GCM_NONCE, &n, p + WEIR_GCM_NONCE, (int)ct_len) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WEIR_GCM_TAG,
				 p + WEIR_GCM_NONCE + ct_len) &&
	     EVP_DecryptFinal_ex(ctx, p + WEIR_GCM_NONCE + n, &fin) > 0;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		/* Nothing of a body that failed may be read as plaintext. */
		OPENSSL_cleanse(p, body->len);
		body->len = 0;
		*why = "encrypted body failed authentication";
		return 400;
	}
	memmove(p, p + WEIR_GCM_NONCE, ct_len);
	body->len = ct_len;
	return 0;
}

/* The key a response is sealed with. */
static const struct bc_key *seal_key(const struct bc_inst *b, const char *consumer)
{
	const struct bc_key *k = consumer_key(b, consumer);

	return k ? k : b->encrypt_with;
}

int weir_bodycrypto_seal(void *inst, const char *consumer, struct weir_body *body,
			 const char **kid, const char **why)
{
	const struct bc_inst *b = inst;
	const struct bc_key *k = seal_key(b, consumer);
	size_t len = body->len;
	EVP_CIPHER_CTX *ctx;
	unsigned char *p;
	int n = 0, fin = 0, ok;

	if (!k || len > INT32_MAX) {
		*why = "cannot encrypt the response";
		return 500;
	}
	if (weir_body_reserve(body, len + WEIR_GCM_NONCE + WEIR_GCM_TAG) < 0) {
		*why = "out of memory to encrypt the response";
		return 503;
	}
	p = (unsigned char *)body->data;
	if (len)
		memmove(p + WEIR_GCM_NONCE, p, len);
	if (RAND_bytes(p, WEIR_GCM_NONCE) != 1 || !(ctx = EVP_CIPHER_CTX_new())) {
		*why = "cannot encrypt the response";
		return 500;
	}
	ok = EVP_EncryptInit_ex2(ctx, b->cipher, k->key, p, NULL) &&
	     EVP_EncryptUpdate(ctx, p + WEIR_GCM_NONCE, &n, p + WEIR_GCM_NONCE, (int)len) &&
	     EVP_EncryptFinal_ex(ctx, p + WEIR_GCM_NONCE + n, &fin) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WEIR_GCM_TAG,
				 p + WEIR_GCM_NONCE + len);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		*why = "cannot encrypt the response";
		return 500;
	}
	body->len = len + WEIR_GCM_NONCE + WEIR_GCM_TAG;
	*kid = k->id;
	return 0;
}

/* ---- phases -------------------------------------------------------------- */

static const struct weir_hdr *req_hdr(const struct weir_req *r, const char *name, size_t len)
{
	for (uint32_t i = 0; i < r->head.n_fields; i++)
		if (r->hdrs[i].name_len == len && !memcmp(r->hdrs[i].name, name, len))
			return &r->hdrs[i];
	return NULL;
}

static int bc_request_body(struct weir_req *r, void *inst, struct weir_body *body)
{
	const struct weir_hdr *kid = req_hdr(r, "x-enc-key-id", 12);

	if (!kid) {
		if (!body->len)
			return 0;
		r->local_why = "body not encrypted (no X-Enc-Key-Id)";
		return 400;
	}
	return weir_bodycrypto_open(inst, kid->value, kid->value_len, r->consumer, body,
				    &r->local_why);
}

/* The request's Content-Type going upstream: the plaintext's when the body
 * was encrypted, else the client's own (taken out with the X-Enc-* fields,
 * see `removes`). */
static void bc_before_upstream(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct weir_hdr *ct = req_hdr(r, "x-enc-key-id", 12) ?
				    req_hdr(r, "x-enc-content-type", 18) :
				    req_hdr(r, "content-type", 12);

	if (!ct)
		return;
	weir_buf_append(head, "content-type: ", 14);
	weir_buf_append(head, ct->value, ct->value_len);
	weir_buf_append(head, "\r\n", 2);
}

/* A held response (see proxy.c) is to be sealed: say with which key, and
 * move the upstream's Content-Type to X-Enc-Content-Type. A response that
 * is not held passes in clear with its Content-Type. */
static void bc_response_headers(struct weir_req *r, void *inst, struct weir_buf *head)
{
	const struct bc_inst *b = inst;
	const struct weir_buf *in = r->up ? r->up->in : NULL;
	const char *ct = NULL;
	uint32_t ct_len = 0;

	for (uint32_t i = 0; in && i < r->rhead.n_fields; i++) {
		const struct weir_field *f = &r->rhead.fields[i];
		if (f->name.off != UINT32_MAX && f->name.len == 12 &&
		    !strncasecmp(in->data + f->name.off, "content-type", 12) &&
		    f->value.off != UINT32_MAX) {
			ct = in->data + f->value.off;
			ct_len = f->value.len;
			break;
		}
	}
	if (!r->resp_holding || !b->encrypt_responses) {
		if (ct) {
			weir_buf_append(head, "Content-Type: ", 14);
			weir_buf_append(head, ct, ct_len);
			weir_buf_append(head, "\r\n", 2);
		}
		return;
	}
	const struct bc_key *k = seal_key(b, r->consumer);
	weir_buf_printf(head, "X-Enc-Key-Id: %s\r\nContent-Type: application/octet-stream\r\n",
			k->id);
	if (ct) {
		weir_buf_append(head, "X-Enc-Content-Type: ", 20);
		weir_buf_append(head, ct, ct_len);
		weir_buf_append(head, "\r\n", 2);
	}
}

static int bc_response_held(struct weir_req *r, void *inst, struct weir_body *body)
{
	const struct bc_inst *b = inst;
	const char *kid;

	if (!b->encrypt_responses)
		return 0;
	return weir_bodycrypto_seal(inst, r->consumer, body, &kid, &r->local_why);
}

static uint64_t bc_holds(void *inst, bool response)
{
	const struct bc_inst *b = inst;

	return response && !b->encrypt_responses ? 0 : b->max_body;
}

static const struct weir_hdr_names *bc_removes(void *inst, bool response)
{
	return response ? &removes_response : &removes_request;
}

const struct weir_plugin weir_plugin_bodycrypto = {
	.name = "body-crypto",
	.priority = 2400,
	.configure = bc_configure,
	.destroy = bc_destroy,
	.request_body = bc_request_body,
	.before_upstream = bc_before_upstream,
	.response_headers = bc_response_headers,
	.response_held = bc_response_held,
	.removes = bc_removes,
	.holds = bc_holds,
};
