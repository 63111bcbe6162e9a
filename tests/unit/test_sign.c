/* tests/unit/test_sign.c - the decisions of hmac-auth and body-crypto
 * (userspace/sign.h): the signing string, good signatures with both
 * algorithms, and each refusal (unknown key, algorithm, unsigned or missing
 * header, skewed or malformed date, bad signature, replayed nonce, body
 * digest), the replay table under a clock the test moves, AES-256-GCM
 * round trips and each failure (truncated, tampered, unknown key, another
 * consumer's key), key rotation, and the settings each plugin refuses.
 *
 * Signatures and ciphertexts to check against are made here with OpenSSL
 * directly over literal signing strings, not with the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "userspace/core.h"
#include "userspace/plugin.h"
#include "userspace/sign.h"

#define NOW 1800000000		/* the tests' clock: 2027-01-15 08:00:00 UTC */
#define SECRET "0123456789abcdef-secret"
/* 32 bytes each, base64 */
#define K_OLD "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K_NEW "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

static void *mk(const char *plugin, const char *json)
{
	const struct weir_plugin *p;
	json_error_t je;
	json_t *conf = json_loads(json, 0, &je);
	char err[256] = "";
	void *inst = NULL;

	weir_plugins_builtin();
	p = weir_plugin_find(plugin);
	assert_non_null(p);
	assert_non_null(conf);
	if (p->configure(conf, NULL, &inst, err, sizeof(err)) < 0)
		fail_msg("%s: %s", plugin, err);
	json_decref(conf);
	return inst;
}

/* The reason a plugin refuses settings with, or "" when it takes them. */
static const char *refuses(const char *plugin, const char *json)
{
	static char err[256];
	const struct weir_plugin *p;
	json_t *conf = json_loads(json, 0, NULL);
	void *inst = NULL;

	weir_plugins_builtin();
	p = weir_plugin_find(plugin);
	assert_non_null(conf);
	err[0] = 0;
	if (p->configure(conf, NULL, &inst, err, sizeof(err)) == 0)
		p->destroy(inst);
	json_decref(conf);
	return err;
}

static void destroy(const char *plugin, void *inst)
{
	weir_plugin_find(plugin)->destroy(inst);
}

/* ---- a signed request ---------------------------------------------------- */

struct sreq {
	struct weir_hdr h[12];
	size_t n;
	char date[64], auth[512], digest[160];
	struct weir_sig_req q;
};

static void hdr(struct sreq *s, const char *name, const char *value)
{
	s->h[s->n++] = (struct weir_hdr){ name, (uint32_t)strlen(name), value,
					  (uint32_t)strlen(value) };
}

static void imf(char *out, size_t n, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Signs `signing` with SECRET and writes the Authorization header. */
static void sign(struct sreq *s, const char *key_id, const char *alg, const char *elems,
		 const char *signing)
{
	unsigned char mac[64];
	unsigned int len = 0;
	char b64[128];

	HMAC(strcmp(alg, "hmac-sha512") ? EVP_sha256() : EVP_sha512(), SECRET, strlen(SECRET),
	     (const unsigned char *)signing, strlen(signing), mac, &len);
	EVP_EncodeBlock((unsigned char *)b64, mac, (int)len);
	snprintf(s->auth, sizeof(s->auth),
		 "Signature keyId=\"%s\",algorithm=\"%s\",headers=\"%s\",signature=\"%s\"",
		 key_id, alg, elems, b64);
	hdr(s, "authorization", s->auth);
}

/* POST /orders?id=7 with host, x-date (at t), x-nonce and a content digest
 * of body, signed over the default elements plus content-digest. */
#define ELEMS "@method @path @query host x-date x-nonce content-digest"
static void build(struct sreq *s, const char *alg, const char *nonce, time_t t,
		  const char *body)
{
	unsigned char md[32];
	char b64[64], signing[1024];

	memset(s, 0, sizeof(*s));
	imf(s->date, sizeof(s->date), t);
	EVP_Digest(body, strlen(body), md, NULL, EVP_sha256(), NULL);
	EVP_EncodeBlock((unsigned char *)b64, md, 32);
	snprintf(s->digest, sizeof(s->digest), "sha-256=:%s:", b64);
	hdr(s, "host", "api.test");
	hdr(s, "x-date", s->date);
	hdr(s, "x-nonce", nonce);
	hdr(s, "content-digest", s->digest);
	snprintf(signing, sizeof(signing),
		 "@method: POST\n@path: /orders\n@query: id=7\nhost: api.test\n"
		 "x-date: %s\nx-nonce: %s\ncontent-digest: %s", s->date, nonce, s->digest);
	sign(s, "k1", alg, ELEMS, signing);
	s->q = (struct weir_sig_req){ "POST", "/orders", 7, "id=7", 4, s->h, s->n };
}

static const char *HMAC_CONF =
	"{\"keys\": {\"k1\": {\"secret\": \"" SECRET "\", \"consumer\": \"alice\"},"
	" \"k2\": {\"secret\": \"another-secret-of-16\"}},"
	" \"validate_body\": true, \"clock_skew\": \"300s\"}";

static int check(void *h, struct sreq *s, int64_t now, const char **why)
{
	const char *consumer = "unset";
	int st = weir_hmac_check(h, &s->q, now, &consumer, why);

	if (st)
		assert_null(consumer);
	return st;
}

static void test_signing_string(void **state)
{
	struct sreq s;
	char out[1024];
	long n;

	build(&s, "hmac-sha256", "n-ss", NOW, "{}");
	n = weir_hmac_signing_string(&s.q, "@method  @path @query host x-date", 33, out,
				     sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	char want[256];
	snprintf(want, sizeof(want), "@method: POST\n@path: /orders\n@query: id=7\n"
		 "host: api.test\nx-date: %s", s.date);
	assert_string_equal(out, want);
	/* a listed header the request lacks */
	assert_int_equal(weir_hmac_signing_string(&s.q, "host x-missing", 14, out, sizeof(out)), -1);
	/* too small a buffer */
	assert_int_equal(weir_hmac_signing_string(&s.q, "host", 4, out, 5), -1);
}

static void test_good_signatures(void **state)
{
	void *h = mk("hmac-auth", HMAC_CONF);
	const char *why = NULL, *consumer = NULL;
	struct sreq s;

	build(&s, "hmac-sha256", "n-good-256", NOW, "{\"a\":1}");
	assert_int_equal(weir_hmac_check(h, &s.q, NOW, &consumer, &why), 0);
	assert_string_equal(consumer, "alice");
	assert_int_equal(weir_hmac_check_body(h, &s.q, "{\"a\":1}", 7, &why), 0);

	build(&s, "hmac-sha512", "n-good-512", NOW - 299, "{\"a\":1}");
	assert_int_equal(weir_hmac_check(h, &s.q, NOW, &consumer, &why), 0);
	destroy("hmac-auth", h);
}

static void test_refusals(void **state)
{
	void *h = mk("hmac-auth", HMAC_CONF);
	const char *why = NULL;
	struct sreq s;

	/* skewed, either way */
	build(&s, "hmac-sha256", "n-skew", NOW - 301, "{}");
	assert_int_equal(check(h, &s, NOW, &why), 401);
	assert_string_equal(why, "X-Date outside the allowed clock skew");
	build(&s, "hmac-sha256", "n-skew2", NOW + 301, "{}");
	assert_int_equal(check(h, &s, NOW, &why), 401);
	/* malformed date */
	build(&s, "hmac-sha256", "n-date", NOW, "{}");
	s.h[1].value = "yesterday";
	s.h[1].value_len = 9;
	assert_int_equal(check(h, &s, NOW, &why), 401);
	assert_string_equal(why, "missing or malformed X-Date");

	/* bad signature: one byte of a signed header changed after signing */
	build(&s, "hmac-sha256", "n-bad", NOW, "{}");
	s.h[0].value = "api.tesT";
	assert_int_equal(check(h, &s, NOW, &why), 401);
	assert_string_equal(why, "bad signature");

	/* unknown key id */
	build(&s, "hmac-sha256", "n-kid", NOW, "{}");
	char *k = strstr(s.auth, "keyId=\"k1\"");
	k[8] = '9';
	assert_int_equal(check(h, &s, NOW, &why), 401);
	assert_string_equal(why, "unknown key id");

	/* an algorithm that is not offered */
	build(&s, "hmac-md5", "n-alg", NOW, "{}");
	assert_int_equal(check(h, &s, NOW, &why), 401);
	assert_string_equal(why, "algorithm not allowed");

	/* a required element not signed */
	struct sreq t;
	memset(&t, 0, sizeof(t));
	imf(t.date, sizeof(t.date), NOW);
	hdr(&t, "host", "api.test");
	hdr(&t, "x-date", t.date);
	hdr(&t, "x-nonce", "n-unsigned");
	char signing[256];
	snprintf(signing, sizeof(signing), "@method: POST\n@path: /orders\n@query: id=7\n"
		 "host: api.test\nx-date: %s", t.date);
	sign(&t, "k1", "hmac-sha256", "@method @path @query host x-date", signing);
	t.q = (struct weir_sig_req){ "POST", "/orders", 7, "id=7", 4, t.h, t.n };
	assert_int_equal(check(h, &t, NOW, &why), 401);
	assert_string_equal(why, "a required header is not signed");

	/* a signed header missing from the request */
	build(&s, "hmac-sha256", "n-missing", NOW, "{}");
	s.h[3].name = "content-digesx";	/* listed as signed, now absent */
	assert_int_equal(check(h, &s, NOW, &why), 401);
	assert_string_equal(why, "a signed header is missing from the request");

	/* no Authorization, another scheme, a malformed parameter list */
	build(&s, "hmac-sha256", "n-auth", NOW, "{}");
	s.q.n_hdrs--;
	assert_int_equal(check(h, &s, NOW, &why), 401);
	assert_string_equal(why, "missing Authorization");
	s.q.n_hdrs++;
	s.h[4].value = "Bearer abc";
	s.h[4].value_len = 10;
	assert_int_equal(check(h, &s, NOW, &why), 401);
	s.h[4].value = "Signature keyId=k1,signature=\"x\"";
	s.h[4].value_len = (uint32_t)strlen(s.h[4].value);
	assert_int_equal(check(h, &s, NOW, &why), 400);
	s.h[4].value = "Signature keyId=\"k1\"";
	s.h[4].value_len = (uint32_t)strlen(s.h[4].value);
	assert_int_equal(check(h, &s, NOW, &why), 400);
	destroy("hmac-auth", h);
}

static void test_replay(void **state)
{
	void *h = mk("hmac-auth", HMAC_CONF);
	const char *why = NULL;
	struct sreq s;

	build(&s, "hmac-sha256", "n-replay", NOW, "{}");
	assert_int_equal(check(h, &s, NOW, &why), 0);
	assert_int_equal(check(h, &s, NOW + 10, &why), 401);
	assert_string_equal(why, "replayed nonce");
	/* the same nonce under another key is another pair */
	struct weir_nonces *t = weir_nonces_new(1024);
	assert_int_equal(weir_nonces_check(t, "k1", 2, "abc", 3, 100, 400), 0);
	assert_int_equal(weir_nonces_check(t, "k1", 2, "abc", 3, 200, 400), 1);
	assert_int_equal(weir_nonces_check(t, "k2", 2, "abc", 3, 200, 500), 0);
	/* after its window the pair is forgotten, and accepted again */
	assert_int_equal(weir_nonces_check(t, "k1", 2, "abc", 3, 400, 700), 0);
	assert_int_equal(weir_nonces_check(t, "k1", 2, "abc", 3, 401, 700), 1);
	weir_nonces_free(t);
	destroy("hmac-auth", h);
}

static void test_replay_table_bounded(void **state)
{
	/* 64 shards of 16 slots: fill them, then nothing fits until time
	 * passes; expired entries are reused. */
	struct weir_nonces *t = weir_nonces_new(1);
	char nonce[32];
	int full = 0, accepted = 0;

	for (int i = 0; i < 4000; i++) {
		int n = snprintf(nonce, sizeof(nonce), "n%d", i);
		int rc = weir_nonces_check(t, "k", 1, nonce, (size_t)n, 10, 100);
		accepted += rc == 0;
		full += rc < 0;
	}
	assert_true(accepted <= 64 * 16);
	assert_true(accepted >= 64 * 12);
	assert_true(full > 0);
	int again = 0;
	for (int i = 0; i < 4000; i++) {
		int n = snprintf(nonce, sizeof(nonce), "m%d", i);
		again += weir_nonces_check(t, "k", 1, nonce, (size_t)n, 100, 200) == 0;
	}
	assert_true(again >= 64 * 12);
	weir_nonces_free(t);
}

static void test_body_digest(void **state)
{
	void *h = mk("hmac-auth", HMAC_CONF);
	const char *why = NULL;
	struct sreq s;

	build(&s, "hmac-sha256", "n-body", NOW, "{\"a\":1}");
	assert_int_equal(weir_hmac_check_body(h, &s.q, "{\"a\":1}", 7, &why), 0);
	assert_int_equal(weir_hmac_check_body(h, &s.q, "{\"a\":2}", 7, &why), 401);
	assert_string_equal(why, "body does not match its Content-Digest");
	assert_int_equal(weir_hmac_check_body(h, &s.q, "{\"a\":1", 6, &why), 401);
	/* other algorithms are skipped, none known is a refusal */
	s.h[3].value = "md5=:AAAA:";
	s.h[3].value_len = 10;
	assert_int_equal(weir_hmac_check_body(h, &s.q, "", 0, &why), 401);
	s.h[3].value = "sha-256=AAAA";
	s.h[3].value_len = 12;
	assert_int_equal(weir_hmac_check_body(h, &s.q, "", 0, &why), 400);
	s.q.n_hdrs = 0;
	assert_int_equal(weir_hmac_check_body(h, &s.q, "", 0, &why), 401);
	destroy("hmac-auth", h);
}

static void test_hmac_settings(void **state)
{
	assert_string_equal(refuses("hmac-auth", "{\"keys\": {\"k\": {\"secret\": \"short\"}}}"),
			    "keys.k.secret: required, a string of at least 16 bytes");
	assert_string_equal(refuses("hmac-auth", "{\"keys\": {}}"),
			    "keys: required, a map of key ids to {secret, consumer}");
	assert_string_equal(refuses("hmac-auth", "{\"keys\": {\"k\": {\"secret\": \"" SECRET
				    "\"}}, \"clock_skew\": \"2h\"}"),
			    "clock_skew: expected a duration from 1s to 1h");
	assert_string_equal(refuses("hmac-auth", "{\"keys\": {\"k\": {\"secret\": \"" SECRET
				    "\"}}, \"algorithms\": [\"hmac-md5\"]}"),
			    "algorithms[0]: must be hmac-sha256 or hmac-sha512");
	assert_string_equal(refuses("hmac-auth", "{\"keys\": {\"k\": {\"secret\": \"" SECRET
				    "\"}}, \"signed_headers\": [\"bad name\"]}"),
			    "signed_headers[0]: must be @method, @path, @query or a header name");
	assert_string_equal(refuses("hmac-auth", "{\"keys\": {\"k\": {\"secret\": \"" SECRET
				    "\"}}, \"nonce\": 1}"), "nonce: unknown field");
	assert_string_equal(refuses("hmac-auth", "{\"keys\": {\"k\": {\"secret\": \"" SECRET
				    "\"}}}"), "");
}

/* ---- body-crypto ----------------------------------------------------------- */

static const char *BC_CONF =
	"{\"keys\": {\"old\": \"" K_OLD "\", \"new\": \"" K_NEW "\"},"
	" \"encrypt_with\": \"new\", \"consumer_keys\": {\"bob\": \"old\"}}";

/* nonce || AES-256-GCM(key, plaintext) || tag, made with OpenSSL here. */
static void seal_with(const char *key_b64, const char *pt, struct weir_body *b)
{
	unsigned char key[48], *p;
	int n = 0, len = (int)strlen(pt);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	assert_int_equal(EVP_DecodeBlock(key, (const unsigned char *)key_b64, 44), 33);
	assert_int_equal(weir_body_reserve(b, (size_t)len + 28), 0);
	p = (unsigned char *)b->data;
	RAND_bytes(p, 12);
	assert_true(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, p));
	assert_true(EVP_EncryptUpdate(ctx, p + 12, &n, (const unsigned char *)pt, len));
	assert_true(EVP_EncryptFinal_ex(ctx, p + 12 + n, &n));
	assert_true(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, p + 12 + len));
	EVP_CIPHER_CTX_free(ctx);
	b->len = (size_t)len + 28;
}

static int open_(void *bc, const char *kid, const char *consumer, struct weir_body *b,
		 const char **why)
{
	return weir_bodycrypto_open(bc, kid, strlen(kid), consumer, b, why);
}

static void test_gcm_round_trip(void **state)
{
	void *bc = mk("body-crypto", BC_CONF);
	struct weir_body b = { 0 };
	const char *why = NULL, *kid = NULL;
	static const char pt[] = "{\"card\":\"4111 1111 1111 1111\"}";

	assert_int_equal(weir_body_reserve(&b, sizeof(pt)), 0);
	memcpy(b.data, pt, sizeof(pt) - 1);
	b.len = sizeof(pt) - 1;
	assert_int_equal(weir_bodycrypto_seal(bc, NULL, &b, &kid, &why), 0);
	assert_string_equal(kid, "new");
	assert_int_equal(b.len, sizeof(pt) - 1 + 28);
	assert_null(memmem(b.data, b.len, "4111", 4));
	assert_int_equal(open_(bc, kid, NULL, &b, &why), 0);
	assert_int_equal(b.len, sizeof(pt) - 1);
	assert_memory_equal(b.data, pt, b.len);

	/* an empty body seals to nonce and tag alone, and opens */
	b.len = 0;
	assert_int_equal(weir_bodycrypto_seal(bc, NULL, &b, &kid, &why), 0);
	assert_int_equal(b.len, 28);
	assert_int_equal(open_(bc, kid, NULL, &b, &why), 0);
	assert_int_equal(b.len, 0);
	weir_body_free(&b);
	destroy("body-crypto", bc);
}

static void test_gcm_failures(void **state)
{
	void *bc = mk("body-crypto", BC_CONF);
	struct weir_body b = { 0 };
	const char *why = NULL;

	/* truncated: the tag cut short, and shorter than nonce + tag */
	seal_with(K_NEW, "hello, upstream", &b);
	b.len--;
	assert_int_equal(open_(bc, "new", NULL, &b, &why), 400);
	assert_string_equal(why, "encrypted body failed authentication");
	assert_int_equal(b.len, 0);
	seal_with(K_NEW, "", &b);
	b.len = 27;
	assert_int_equal(open_(bc, "new", NULL, &b, &why), 400);
	assert_string_equal(why, "encrypted body too short");

	/* one byte changed: in the nonce, the ciphertext, the tag */
	for (size_t at = 0; at < 3; at++) {
		seal_with(K_NEW, "hello, upstream", &b);
		size_t pos = at == 0 ? 3 : at == 1 ? 15 : b.len - 1;
		b.data[pos] ^= 0x40;
		assert_int_equal(open_(bc, "new", NULL, &b, &why), 400);
	}

	/* the right ciphertext under the wrong key id, an unknown key id */
	seal_with(K_NEW, "hello, upstream", &b);
	assert_int_equal(open_(bc, "old", NULL, &b, &why), 400);
	seal_with(K_NEW, "hello, upstream", &b);
	assert_int_equal(open_(bc, "nope", NULL, &b, &why), 400);
	assert_string_equal(why, "unknown encryption key id");

	/* a consumer pinned to a key: another key is refused though valid */
	seal_with(K_NEW, "hello, upstream", &b);
	assert_int_equal(open_(bc, "new", "bob", &b, &why), 400);
	assert_string_equal(why, "not this consumer's encryption key");
	seal_with(K_OLD, "hello, upstream", &b);
	assert_int_equal(open_(bc, "old", "bob", &b, &why), 0);
	weir_body_free(&b);
	destroy("body-crypto", bc);
}

static void test_gcm_rotation(void **state)
{
	void *bc = mk("body-crypto", BC_CONF);
	struct weir_body b = { 0 };
	const char *why = NULL, *kid = NULL;

	/* the old key still decrypts what clients sealed with it */
	seal_with(K_OLD, "sealed before the rotation", &b);
	assert_int_equal(open_(bc, "old", NULL, &b, &why), 0);
	assert_memory_equal(b.data, "sealed before the rotation", b.len);
	/* responses go out under encrypt_with, and a pinned consumer's key */
	assert_int_equal(weir_bodycrypto_seal(bc, NULL, &b, &kid, &why), 0);
	assert_string_equal(kid, "new");
	assert_int_equal(open_(bc, "old", NULL, &b, &why), 400);
	b.len = 3;
	assert_int_equal(weir_bodycrypto_seal(bc, "bob", &b, &kid, &why), 0);
	assert_string_equal(kid, "old");
	assert_int_equal(open_(bc, "old", NULL, &b, &why), 0);
	/* two seals of one plaintext differ (fresh nonces) */
	struct weir_body c = { 0 };
	b.len = 0;
	weir_body_append(&b, "same", 4, 100);
	weir_body_append(&c, "same", 4, 100);
	weir_bodycrypto_seal(bc, NULL, &b, &kid, &why);
	weir_bodycrypto_seal(bc, NULL, &c, &kid, &why);
	assert_int_not_equal(memcmp(b.data, c.data, b.len), 0);
	weir_body_free(&b);
	weir_body_free(&c);
	destroy("body-crypto", bc);
}

static void test_bodycrypto_settings(void **state)
{
	assert_string_equal(refuses("body-crypto", "{\"keys\": {\"k\": \"AAAA\"}}"),
			    "keys.k: must be the base64 of 32 bytes");
	assert_string_equal(refuses("body-crypto", "{\"keys\": {\"a\": \"" K_OLD "\", \"b\": \""
				    K_NEW "\"}}"), "encrypt_with: required with more than one key");
	assert_string_equal(refuses("body-crypto", "{\"keys\": {\"a\": \"" K_OLD "\"},"
				    " \"encrypt_with\": \"b\"}"),
			    "encrypt_with: must name a key of `keys`");
	assert_string_equal(refuses("body-crypto", "{\"keys\": {\"a\": \"" K_OLD "\"},"
				    " \"consumer_keys\": {\"bob\": \"z\"}}"),
			    "consumer_keys.bob: must name a key of `keys`");
	assert_string_equal(refuses("body-crypto", "{\"keys\": {\"a\": \"" K_OLD "\"},"
				    " \"max_body\": \"2g\"}"), "max_body: expected a size from 1 to 1g");
	assert_string_equal(refuses("body-crypto", "{\"keys\": {\"a\": \"" K_OLD "\"}}"), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signing_string),
		cmocka_unit_test(test_good_signatures),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_table_bounded),
		cmocka_unit_test(test_body_digest),
		cmocka_unit_test(test_hmac_settings),
		cmocka_unit_test(test_gcm_round_trip),
		cmocka_unit_test(test_gcm_failures),
		cmocka_unit_test(test_gcm_rotation),
		cmocka_unit_test(test_bodycrypto_settings),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
