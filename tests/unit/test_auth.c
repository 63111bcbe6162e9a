/* tests/unit/test_auth.c - the authentication plugins' decisions, each
 * admission and each refusal, through the plugins' own callbacks
 * (configure, access, before_upstream) on requests built here; and the
 * pieces of auth.h they stand on: base64, password hashes, JWKs.
 *
 * Password hashes are fixed vectors written by other tools (htpasswd -B,
 * mkpasswd, Python's hashlib for PBKDF2), so a hash weir accepts is one a
 * user's tool wrote. Keys are generated per run with OpenSSL
 * (EVP_PKEY_Q_keygen) and tokens signed here with EVP_DigestSign and
 * EVP_Q_mac, independently of the plugin's verification path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "userspace/auth.h"
#include "userspace/core.h"
#include "userspace/offload.h"
#include "userspace/plugin.h"
#include "userspace/snapshot.h"

/* ---- requests built by hand --------------------------------------------- */

struct fake {
	struct weir_worker w;
	struct weir_client c;
	struct weir_req r;
	struct weir_hdr hdrs[8];
	struct weir_buf *in;
	struct weir_buf *out;		/* the head going upstream */
};

/* A request for target with the given header lines ("name", "value", ...,
 * NULL); names in lower case as http.c leaves them. */
static struct fake *fake_req(const char *target, ...)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *name;
	va_list ap;

	assert_non_null(f);
	f->in = calloc(1, sizeof(*f->in) + 4096);
	f->out = calloc(1, sizeof(*f->out) + 4096);
	assert_non_null(f->in);
	assert_non_null(f->out);
	f->in->cap = f->out->cap = 4096;
	f->w.now = 1000000;
	f->c.w = &f->w;
	f->c.in = f->in;
	f->r.client = &f->c;
	f->r.hdrs = f->hdrs;
	memcpy(f->in->data, target, strlen(target));
	f->in->end = (uint32_t)strlen(target);
	f->r.path = (struct weir_span){ 0, (uint32_t)strlen(target) };
	f->r.path_len = (uint32_t)strcspn(target, "?");
	va_start(ap, target);
	while ((name = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);
		f->hdrs[f->r.head.n_fields++] = (struct weir_hdr){ name, (uint32_t)strlen(name),
								  value, (uint32_t)strlen(value) };
	}
	va_end(ap);
	return f;
}

static void fake_free(struct fake *f)
{
	free(f->in);
	free(f->out);
	free(f);
}

/* An instance of plugin p with settings conf (JSON text) and consumers
 * (JSON text of the "consumers" list the snapshot would add). */
static void *instance(const struct weir_plugin *p, const char *conf, const char *consumers)
{
	json_t *c = json_loads(conf, 0, NULL), *g = json_object();
	char err[256] = "";
	void *inst = NULL;

	assert_non_null(c);
	json_object_set_new(g, "consumers", json_loads(consumers, 0, NULL));
	if (p->configure(c, g, &inst, err, sizeof(err)) < 0)
		print_message("# configure: %s\n", err);
	assert_non_null(inst);
	json_decref(c);
	json_decref(g);
	return inst;
}

/* The configure error for these settings. */
static void configure_fails(const struct weir_plugin *p, const char *conf, const char *consumers,
			    const char *want)
{
	json_t *c = json_loads(conf, 0, NULL), *g = json_object();
	char err[256] = "";
	void *inst = NULL;

	json_object_set_new(g, "consumers", json_loads(consumers, 0, NULL));
	assert_int_equal(p->configure(c, g, &inst, err, sizeof(err)), -1);
	assert_null(inst);
	if (!strstr(err, want))
		print_message("# error '%s', wanted '%s'\n", err, want);
	assert_non_null(strstr(err, want));
	json_decref(c);
	json_decref(g);
}

/* Runs access: the status, and the consumer or the reason. */
static int run(const struct weir_plugin *p, void *inst, struct fake *f)
{
	return p->access(&f->r, inst);
}

/* ---- base64 --------------------------------------------------------------- */

static void test_base64(void **state)
{
	unsigned char out[64];

	assert_int_equal(weir_auth_b64_decode("YWxpY2U6cHc=", 12, false, out, sizeof(out)), 8);
	assert_memory_equal(out, "alice:pw", 8);
	assert_int_equal(weir_auth_b64_decode("YQ==", 4, false, out, sizeof(out)), 1);
	assert_int_equal(weir_auth_b64_decode("YWI=", 4, false, out, sizeof(out)), 2);
	assert_int_equal(weir_auth_b64_decode("", 0, false, out, sizeof(out)), 0);
	/* bad: length, characters, padding in the middle, url alphabet */
	assert_int_equal(weir_auth_b64_decode("YWJ", 3, false, out, sizeof(out)), -1);
	assert_int_equal(weir_auth_b64_decode("YW!j", 4, false, out, sizeof(out)), -1);
	assert_int_equal(weir_auth_b64_decode("YQ==YQ==", 8, false, out, sizeof(out)), -1);
	assert_int_equal(weir_auth_b64_decode("a-_b", 4, false, out, sizeof(out)), -1);
	assert_int_equal(weir_auth_b64_decode("Y W=", 4, false, out, sizeof(out)), -1);
	/* base64url: no padding, - and _ */
	assert_int_equal(weir_auth_b64_decode("-_8", 3, true, out, sizeof(out)), 2);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(weir_auth_b64_decode("YQ", 2, true, out, sizeof(out)), 1);
	assert_int_equal(weir_auth_b64_decode("YQ==", 4, true, out, sizeof(out)), -1);
	assert_int_equal(weir_auth_b64_decode("YWJjZ", 5, true, out, sizeof(out)), -1);
	assert_int_equal(weir_auth_b64_decode("a+bc", 4, true, out, sizeof(out)), -1);
	/* too small an output */
	assert_int_equal(weir_auth_b64_decode("YWJjZGVm", 8, false, out, 5), -1);
}

/* ---- password hashes ------------------------------------------------------ */

static const char *const good_hashes[] = {
	/* python3 hashlib.pbkdf2_hmac, passlib's encoding */
	"$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$Mqp8wAsrOsjVEIymTD0kATxTpTf4f.0ZMgQPDlukk/w",
	"$pbkdf2-sha512$1000$MDEyMzQ1Njc4OWFiY2RlZg$ef9jS8Lo7u8/BC2JthM17s79IAFuTySyROeiQ0cMMqhl"
	"p7MlL/lHHWTMlAtw8MC2P75e1ATWK4jX3NgfiUbhOQ",
	/* htpasswd -nbB -C 4 */
	"$2y$04$fEnkLkN.t1N1eT0bmyWHmOKw4F43TbPRrzVBAYTLiyMNImjFst8fK",
	/* mkpasswd -m yescrypt, sha-512 */
	"$y$j9T$Crld/G5wqfIP83KF2Uu0s1$xXU7MfzBqBYypyPQhpakX2hrTxv0YvvN3hRL2QolylC",
	"$6$g5krFrcAIM2dQGlu$e9FmmLs9NgWCZQW1tI0/rThwQsqMVaHsQ79cdZCzVdwcdS6H2QWVmVi088Di8t20yAHS"
	"671bnFjXDJNI3fgh90",
	NULL,
};

static void test_hashes(void **state)
{
	char why[200];

	for (int i = 0; good_hashes[i]; i++) {
		assert_int_equal(weir_auth_hash_check(good_hashes[i], why, sizeof(why)), 0);
		assert_int_equal(weir_auth_hash_verify(good_hashes[i], "open sesame", 11), 1);
		assert_int_equal(weir_auth_hash_verify(good_hashes[i], "open sesamE", 11), 0);
		assert_int_equal(weir_auth_hash_verify(good_hashes[i], "open sesame", 10), 0);
		assert_int_equal(weir_auth_hash_verify(good_hashes[i], "open\0sesame", 11), 0);
	}
	assert_int_equal(weir_auth_hash_check("hunter2", why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a password hash"));
	assert_int_equal(weir_auth_hash_check("$1$abcdefgh$0123456789012345678901", why,
					      sizeof(why)), -1);
	assert_non_null(strstr(why, "legacy"));
	/* mkpasswd -m sha-256: libxcrypt calls SHA-256 crypt legacy too */
	assert_int_equal(weir_auth_hash_check("$5$cWbFGqWHaPaqdeFs$UvnAvSNcaGa5SLOSeB98QaikWAT/Dyn2"
					      "OqJnUxF5/K0", why, sizeof(why)), -1);
	assert_non_null(strstr(why, "legacy"));
	assert_int_equal(weir_auth_hash_check("$pbkdf2-sha256$10$MDEyMzQ1Njc4OWFiY2RlZg$AAAA",
					      why, sizeof(why)), -1);	/* too few iterations */
	assert_int_equal(weir_auth_hash_check("$pbkdf2-sha256$1000$MDEy$Mqp8wAsrOsjVEIymTD0k",
					      why, sizeof(why)), -1);	/* short salt */
	assert_int_equal(weir_auth_hash_check("$pbkdf2-md5$1000$MDEyMzQ1Njc4OWFiY2RlZg$AAAA",
					      why, sizeof(why)), -1);
	assert_int_equal(weir_auth_hash_check("$zz$nope", why, sizeof(why)), -1);
}

/* ---- key-auth ------------------------------------------------------------- */

static const char key_consumers[] =
	"[{\"username\": \"alice\", \"credential\": {\"key\": \"k-alice\"}},"
	" {\"username\": \"bob\", \"credential\": {\"key\": \"k-bob\"}}]";

static void test_key_auth(void **state)
{
	const struct weir_plugin *p = &weir_plugin_key_auth;
	void *inst = instance(p, "{}", key_consumers);
	struct fake *f;

	f = fake_req("/x", "apikey", "k-bob", NULL);
	assert_int_equal(run(p, inst, f), 0);
	assert_string_equal(f->r.consumer, "bob");
	p->before_upstream(&f->r, inst, f->out);
	assert_memory_equal(f->out->data, "x-consumer-username: bob\r\n", f->out->end);
	fake_free(f);

	f = fake_req("/x?a=1&apikey=k-alice", NULL);
	assert_int_equal(run(p, inst, f), 0);
	assert_string_equal(f->r.consumer, "alice");
	fake_free(f);

	f = fake_req("/x", NULL);
	assert_int_equal(run(p, inst, f), 401);
	assert_string_equal(f->r.local_why, "missing API key");
	assert_null(f->r.consumer);
	fake_free(f);

	const char *unknown[] = { "k-bo", "k-bobb", "K-BOB", "k-alice ", NULL };
	for (int i = 0; unknown[i]; i++) {
		f = fake_req("/x", "apikey", unknown[i], NULL);
		assert_int_equal(run(p, inst, f), 401);
		assert_string_equal(f->r.local_why, "invalid API key");
		fake_free(f);
	}
	f = fake_req("/x?apikey=", NULL);
	assert_int_equal(run(p, inst, f), 401);
	fake_free(f);

	/* the key header and the consumer header leave the upstream head */
	const struct weir_hdr_names *rm = p->removes(inst, false);
	assert_true(weir_hdr_names_has(rm, "apikey", 6));
	assert_true(weir_hdr_names_has(rm, "x-consumer-username", 19));
	assert_null(p->removes(inst, true));
	rm = p->removes_query(inst);
	assert_int_equal(rm->n, 1);
	assert_memory_equal(rm->v[0].name, "apikey", 6);
	p->destroy(inst);

	inst = instance(p, "{\"header\": \"X-Key\", \"hide_credentials\": false}", key_consumers);
	assert_false(weir_hdr_names_has(p->removes(inst, false), "x-key", 5));
	assert_null(p->removes_query(inst));
	f = fake_req("/x", "x-key", "k-alice", NULL);
	assert_int_equal(run(p, inst, f), 0);
	fake_free(f);
	p->destroy(inst);

	configure_fails(p, "{\"headr\": \"x\"}", key_consumers, "headr: unknown field");
	configure_fails(p, "{\"header\": \"a b\"}", key_consumers, "header: must be");
	configure_fails(p, "{\"hide_credentials\": 1}", key_consumers, "hide_credentials");
	configure_fails(p, "{}", "[{\"username\": \"a\", \"credential\": {\"key\": \"k\"}},"
			"{\"username\": \"b\", \"credential\": {\"key\": \"k\"}}]", "same key");
}

/* ---- basic-auth ----------------------------------------------------------- */

/* A request whose password goes to the offload pool: access suspends it
 * with a job in its slot; the request then ends (the log phase cancels the
 * job) and the worker's end waits for the job and frees it. What the job
 * decides, and the resumed request, are tests/proxy/test_auth.sh's: a
 * resume needs the real loop. */
static void basic_pending(const struct weir_plugin *p, void *inst, struct fake *f)
{
	struct weir_plugin_inst pi = { p, inst };
	struct weir_route rt = { .plugins = &pi, .n_plugins = 1 };
	void **slot;

	f->r.route = &rt;
	f->w.event.fd = eventfd(0, EFD_CLOEXEC);
	assert_true(f->w.event.fd >= 0);
	assert_int_equal(run(p, inst, f), WEIR_ACCESS_PENDING);
	assert_null(f->r.consumer);
	slot = weir_plugin_ctx(&f->r, inst);
	assert_non_null(slot);
	assert_non_null(*slot);
	p->log(&f->r, inst);
	assert_null(*slot);
	weir_offload_worker_end(&f->w);
	assert_int_equal(atomic_load(&f->w.jobs_out), 0);
	assert_null(atomic_load(&f->w.jobs_done));
	close(f->w.event.fd);
	f->r.route = NULL;
}

static void test_basic_auth(void **state)
{
	const struct weir_plugin *p = &weir_plugin_basic_auth;
	char consumers[2048], *w = consumers, hdr[160], b64[128];
	const char *users[] = { "pb256", "pb512", "bcrypt", "yes", "sha512" };
	struct fake *f;
	void *inst;

	w += sprintf(w, "[");
	for (int i = 0; good_hashes[i]; i++)
		w += sprintf(w, "%s{\"username\": \"c-%s\", \"credential\": {\"username\": \"%s\", "
			     "\"password_hash\": \"%s\"}}", i ? "," : "", users[i], users[i],
			     good_hashes[i]);
	sprintf(w, "]");
	inst = instance(p, "{\"realm\": \"zone\"}", consumers);

	/* A known user's password is checked off the loop, right or wrong. */
	for (int i = 0; good_hashes[i]; i++) {
		char cred[64];
		snprintf(cred, sizeof(cred), "%s:open sesame", users[i]);
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)cred, (int)strlen(cred));
		snprintf(hdr, sizeof(hdr), "Basic %s", b64);
		f = fake_req("/", "authorization", hdr, NULL);
		basic_pending(p, inst, f);
		fake_free(f);
	}
	const char *checked[] = {
		"Basic YmNyeXB0Om9wZW4gc2VzYW0=",	/* bcrypt:open sesam */
		"Basic YmNyeXB0Om9wZW4gc2VzYW1F",	/* bcrypt:open sesamE */
		"Basic YmNyeXB0Og==",			/* bcrypt: (empty) */
	};
	for (size_t i = 0; i < sizeof(checked) / sizeof(checked[0]); i++) {
		f = fake_req("/", "authorization", checked[i], NULL);
		basic_pending(p, inst, f);
		fake_free(f);
	}

	/* What needs no hash is answered at once. */
	struct { const char *hdr, *body; } bad[] = {
		{ NULL, "missing credentials" },
		{ "Bearer abc", "malformed" },
		{ "Basic !!!!", "malformed" },
		{ "Basic YmNyeXB0", "malformed" },			/* "bcrypt", no colon */
		{ "Basic YQ=a", "malformed" },				/* bad padding */
		{ "Basic bm9ib2R5Om9wZW4gc2VzYW1l", "invalid" },	/* nobody:open sesame */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = bad[i].hdr ? fake_req("/", "authorization", bad[i].hdr, NULL) : fake_req("/", NULL);
		assert_int_equal(run(p, inst, f), 401);
		assert_non_null(f->r.answer);
		assert_int_equal(f->r.answer->status, 401);
		assert_non_null(strstr(f->r.answer->body, bad[i].body));
		assert_non_null(strstr(f->r.answer->head, "WWW-Authenticate: Basic realm=\"zone\""));
		assert_null(f->r.consumer);
		fake_free(f);
	}
	assert_true(weir_hdr_names_has(p->removes(inst, false), "authorization", 13));
	p->destroy(inst);
	configure_fails(p, "{\"realm\": \"a\\\"b\"}", "[]", "realm");
	configure_fails(p, "{\"cache_ttl\": -1}", "[]", "cache_ttl");
}

/* ---- jwt-auth: keys and tokens -------------------------------------------- */

static void b64url(const unsigned char *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);

	for (int i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	while (n && out[n - 1] == '=')
		out[--n] = 0;
}

/* alg's signature over data with key (a private EVP_PKEY, or the secret). */
static size_t sign(const char *alg, EVP_PKEY *key, const char *secret, const char *data,
		   unsigned char *sig)
{
	const char *md = strstr(alg, "256") ? "SHA256" : strstr(alg, "384") ? "SHA384" :
			 strstr(alg, "512") ? "SHA512" : NULL;
	size_t n = 1024;

	if (alg[0] == 'H') {
		assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, secret, strlen(secret),
					  (const unsigned char *)data, strlen(data), sig, 1024, &n));
		return n;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, key, NULL), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const unsigned char *)data, strlen(data)), 1);
	EVP_MD_CTX_free(ctx);
	if (alg[0] == 'E' && alg[1] == 'S') {	/* DER to JOSE's r||s */
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		int half = strstr(alg, "256") ? 32 : 48;
		assert_non_null(es);
		BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, half);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, half);
		ECDSA_SIG_free(es);
		n = 2 * (size_t)half;
	}
	return n;
}

/* A token: header {"alg": alg(, "kid")}, the payload JSON, signed as
 * sign_alg with key or secret. */
static char *token(const char *alg, const char *kid, const char *payload, const char *sign_alg,
		   EVP_PKEY *key, const char *secret)
{
	char head[128], *t = malloc(8192);
	unsigned char sig[1024];
	size_t n;

	if (kid)
		snprintf(head, sizeof(head), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
	else
		snprintf(head, sizeof(head), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	b64url((const unsigned char *)head, strlen(head), t);
	strcat(t, ".");
	b64url((const unsigned char *)payload, strlen(payload), t + strlen(t));
	n = sign_alg ? sign(sign_alg, key, secret, t, sig) : 0;
	strcat(t, ".");
	b64url(sig, n, t + strlen(t));
	return t;
}

static char *pem_of(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

struct keys {
	EVP_PKEY *rsa, *ec256, *ec384, *ed, *rsa2;
	char *rsa_pem, *ec256_pem, *ec384_pem, *ed_pem;
};

static struct keys K;

static int keys_setup(void **state)
{
	K.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K.rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K.ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	K.ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	K.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!K.rsa || !K.rsa2 || !K.ec256 || !K.ec384 || !K.ed)
		return -1;
	K.rsa_pem = pem_of(K.rsa);
	K.ec256_pem = pem_of(K.ec256);
	K.ec384_pem = pem_of(K.ec384);
	K.ed_pem = pem_of(K.ed);
	return 0;
}

static int keys_teardown(void **state)
{
	EVP_PKEY_free(K.rsa);
	EVP_PKEY_free(K.rsa2);
	EVP_PKEY_free(K.ec256);
	EVP_PKEY_free(K.ec384);
	EVP_PKEY_free(K.ed);
	free(K.rsa_pem);
	free(K.ec256_pem);
	free(K.ec384_pem);
	free(K.ed_pem);
	return 0;
}

/* A JWKS document (JSON) of one public key, as an identity provider writes it. */
static json_t *jwk_of(EVP_PKEY *k, const char *kid)
{
	unsigned char buf[600];
	char a[900], b[900];
	json_t *j;

	if (EVP_PKEY_is_a(k, "RSA")) {
		BIGNUM *n = NULL, *e = NULL;
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
		b64url(buf, (size_t)BN_bn2bin(n, buf), a);
		b64url(buf, (size_t)BN_bn2bin(e, buf), b);
		BN_free(n);
		BN_free(e);
		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "n", a, "e", b);
	} else if (EVP_PKEY_is_a(k, "EC")) {
		size_t len = 0, half;
		EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
						sizeof(buf), &len);
		half = (len - 1) / 2;
		b64url(buf + 1, half, a);
		b64url(buf + 1 + half, half, b);
		j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "kid", kid, "crv",
			      half == 32 ? "P-256" : "P-384", "x", a, "y", b);
	} else {
		size_t len = 32;
		EVP_PKEY_get_raw_public_key(k, buf, &len);
		b64url(buf, len, a);
		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "kid", kid, "crv", "Ed25519",
			      "x", a);
	}
	return j;
}

static void test_jwk(void **state)
{
	char why[200];
	EVP_PKEY *k;
	json_t *j;

	struct { EVP_PKEY *key; int alg; } ok[] = {
		{ K.rsa, WEIR_JWT_RS256 }, { K.ec256, WEIR_JWT_ES256 },
		{ K.ec384, WEIR_JWT_ES384 }, { K.ed, WEIR_JWT_EDDSA },
	};
	for (size_t i = 0; i < 4; i++) {
		j = jwk_of(ok[i].key, "k");
		assert_non_null(k = weir_auth_jwk_key(j, ok[i].alg, why, sizeof(why)));
		assert_int_equal(EVP_PKEY_eq(k, ok[i].key), 1);
		EVP_PKEY_free(k);
		json_decref(j);
	}
	/* the wrong kind of key for the algorithm */
	j = jwk_of(K.ec256, "k");
	assert_null(weir_auth_jwk_key(j, WEIR_JWT_ES384, why, sizeof(why)));
	assert_null(weir_auth_jwk_key(j, WEIR_JWT_RS256, why, sizeof(why)));
	json_object_set_new(j, "x", json_string("AAAA"));
	assert_null(weir_auth_jwk_key(j, WEIR_JWT_ES256, why, sizeof(why)));
	json_decref(j);
	j = json_pack("{s:s}", "kty", "oct");
	assert_null(weir_auth_jwk_key(j, WEIR_JWT_HS256, why, sizeof(why)));
	json_decref(j);
	/* JWKS: several keys need kids, unique */
	j = json_pack("{s:[o,o]}", "keys", jwk_of(K.rsa, "a"), jwk_of(K.rsa2, "a"));
	assert_int_equal(weir_auth_jwks_check(j, WEIR_JWT_RS256, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "kid 'a'"));
	json_decref(j);
	j = json_pack("{s:[]}", "keys");
	assert_int_equal(weir_auth_jwks_check(j, WEIR_JWT_RS256, why, sizeof(why)), -1);
	json_decref(j);
	/* PEM: type and curve checked */
	assert_null(weir_auth_pem_key(K.ec256_pem, WEIR_JWT_ES384, why, sizeof(why)));
	assert_null(weir_auth_pem_key(K.rsa_pem, WEIR_JWT_EDDSA, why, sizeof(why)));
	assert_null(weir_auth_pem_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
				      WEIR_JWT_RS256, why, sizeof(why)));
}

/* The consumers of the JWT tests: one per algorithm, plus a JWKS one. */
static char *jwt_consumers(void)
{
	json_t *l = json_array(), *jwks;
	struct { const char *user, *alg, *pem; } c[] = {
		{ "rs256", "RS256", K.rsa_pem }, { "rs384", "RS384", K.rsa_pem },
		{ "rs512", "RS512", K.rsa_pem }, { "es256", "ES256", K.ec256_pem },
		{ "es384", "ES384", K.ec384_pem }, { "eddsa", "EdDSA", K.ed_pem },
	};
	char *out;

	for (int i = 0; i < 3; i++) {
		const char *alg[] = { "HS256", "HS384", "HS512" }, *user[] = { "hs256", "hs384", "hs512" };
		json_array_append_new(l, json_pack("{s:s, s:{s:s, s:s, s:s}}", "username", user[i],
						   "credential", "key", user[i], "algorithm", alg[i],
						   "secret", "s3cret"));
	}
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		json_array_append_new(l, json_pack("{s:s, s:{s:s, s:s, s:s}}", "username", c[i].user,
						   "credential", "key", c[i].user, "algorithm",
						   c[i].alg, "public_key", c[i].pem));
	jwks = json_pack("{s:[o,o]}", "keys", jwk_of(K.rsa, "one"), jwk_of(K.rsa2, "two"));
	json_array_append_new(l, json_pack("{s:s, s:{s:s, s:s, s:o}}", "username", "jwks",
					   "credential", "key", "jwks", "algorithm", "RS256",
					   "jwks", jwks));
	out = json_dumps(l, 0);
	json_decref(l);
	return out;
}

/* The verdict on a token: 0 admitted (as *who), else 401 and the reason. */
static int verdict(void *inst, const char *t, const char **why, const char **who)
{
	char hdr[8300];
	struct fake *f;
	int st;

	snprintf(hdr, sizeof(hdr), "Bearer %s", t);
	f = fake_req("/", "authorization", hdr, NULL);
	st = run(&weir_plugin_jwt_auth, inst, f);
	*why = f->r.answer ? f->r.answer->body : NULL;
	if (f->r.answer)	/* RFC 6750: a refused token is an invalid_token */
		assert_non_null(strstr(f->r.answer->head, "WWW-Authenticate: Bearer error="
				       "\"invalid_token\"\r\n"));
	*who = f->r.consumer;
	fake_free(f);
	return st;
}

static void expect(void *inst, char *t, const char *want_who, const char *want_why)
{
	const char *why = NULL, *who = NULL;
	int st = verdict(inst, t, &why, &who);

	if (want_who && (st || !who || strcmp(who, want_who)))
		print_message("# wanted %s, got %d %s\n", want_who, st, why ? why : "");
	if (!want_who && (st != 401 || !why || !strstr(why, want_why)))
		print_message("# wanted 401 '%s', got %d '%s'\n", want_why, st, why ? why : "");
	if (want_who) {
		assert_int_equal(st, 0);
		assert_string_equal(who, want_who);
	} else {
		assert_int_equal(st, 401);
		assert_non_null(strstr(why, want_why));
		assert_null(who);
	}
	free(t);
}

static void test_jwt_algorithms(void **state)
{
	char *consumers = jwt_consumers(), payload[256];
	void *inst = instance(&weir_plugin_jwt_auth, "{}", consumers);
	struct { const char *user, *alg; EVP_PKEY *key; } c[] = {
		{ "hs256", "HS256", NULL }, { "hs384", "HS384", NULL }, { "hs512", "HS512", NULL },
		{ "rs256", "RS256", K.rsa }, { "rs384", "RS384", K.rsa }, { "rs512", "RS512", K.rsa },
		{ "es256", "ES256", K.ec256 }, { "es384", "ES384", K.ec384 },
		{ "eddsa", "EdDSA", K.ed },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(payload, sizeof(payload), "{\"key\":\"%s\",\"exp\":%lld}", c[i].user,
			 (long long)time(NULL) + 60);
		expect(inst, token(c[i].alg, NULL, payload, c[i].alg, c[i].key, "s3cret"),
		       c[i].user, NULL);
		/* a signature with bits changed in the middle */
		char *t = token(c[i].alg, NULL, payload, c[i].alg, c[i].key, "s3cret");
		char *s = strrchr(t, '.') + 6;
		*s = *s == 'A' ? 'B' : 'A';
		expect(inst, t, NULL, "bad signature");
	}
	/* JWKS by kid; an unknown kid; no kid with two keys */
	expect(inst, token("RS256", "two", "{\"key\":\"jwks\"}", "RS256", K.rsa2, NULL), "jwks", NULL);
	expect(inst, token("RS256", "one", "{\"key\":\"jwks\"}", "RS256", K.rsa, NULL), "jwks", NULL);
	expect(inst, token("RS256", "one", "{\"key\":\"jwks\"}", "RS256", K.rsa2, NULL), NULL,
	       "bad signature");
	expect(inst, token("RS256", "three", "{\"key\":\"jwks\"}", "RS256", K.rsa, NULL), NULL,
	       "unknown key id");
	expect(inst, token("RS256", NULL, "{\"key\":\"jwks\"}", "RS256", K.rsa, NULL), NULL,
	       "kid");
	/* a PEM key takes a token with any kid, or none */
	expect(inst, token("ES256", "any", "{\"key\":\"es256\"}", "ES256", K.ec256, NULL),
	       "es256", NULL);
	weir_plugin_jwt_auth.destroy(inst);
	free(consumers);
}

static void test_jwt_refusals(void **state)
{
	char *consumers = jwt_consumers(), p[256], *t;
	void *inst = instance(&weir_plugin_jwt_auth, "{\"issuer\": \"idp\", \"audience\": \"api\", "
			      "\"leeway\": 10}", consumers);
	long long now = (long long)time(NULL);

#define CLAIMS(...) (snprintf(p, sizeof(p), __VA_ARGS__), p)
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\"}"),
			   "HS256", NULL, "s3cret"), "hs256", NULL);
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\","
						 "\"aud\":[\"web\",\"api\"]}"),
			   "HS256", NULL, "s3cret"), "hs256", NULL);
	/* exp and nbf, with and past the leeway */
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\","
						 "\"exp\":%lld}", now - 5), "HS256", NULL, "s3cret"),
	       "hs256", NULL);
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\","
						 "\"exp\":%lld}", now - 60), "HS256", NULL, "s3cret"),
	       NULL, "expired");
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\","
						 "\"exp\":\"soon\"}"), "HS256", NULL, "s3cret"),
	       NULL, "expired");
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\","
						 "\"nbf\":%lld}", now + 5), "HS256", NULL, "s3cret"),
	       "hs256", NULL);
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\","
						 "\"nbf\":%lld}", now + 60), "HS256", NULL, "s3cret"),
	       NULL, "not valid yet");
	/* issuer, audience */
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"other\",\"aud\":\"api\"}"),
			   "HS256", NULL, "s3cret"), NULL, "wrong issuer");
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"aud\":\"api\"}"),
			   "HS256", NULL, "s3cret"), NULL, "wrong issuer");
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"web\"}"),
			   "HS256", NULL, "s3cret"), NULL, "wrong audience");
	expect(inst, token("HS256", NULL, CLAIMS("{\"key\":\"hs256\",\"iss\":\"idp\"}"),
			   "HS256", NULL, "s3cret"), NULL, "wrong audience");
	/* alg none, in any case, signed or not */
	strcpy(p, "{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\"}");
	expect(inst, token("none", NULL, p, NULL, NULL, NULL), NULL, "alg none");
	expect(inst, token("NONE", NULL, p, "HS256", NULL, "s3cret"), NULL, "alg none");
	/* the algorithm is the consumer's: HS256 with the RSA public key PEM
	 * as the secret, for an RS256 consumer */
	strcpy(p, "{\"key\":\"rs256\",\"iss\":\"idp\",\"aud\":\"api\"}");
	expect(inst, token("HS256", NULL, p, "HS256", NULL, K.rsa_pem), NULL, "algorithm not allowed");
	expect(inst, token("RS384", NULL, p, "RS384", K.rsa, NULL), NULL, "algorithm not allowed");
	/* a bad signature, a wrong secret */
	strcpy(p, "{\"key\":\"hs256\",\"iss\":\"idp\",\"aud\":\"api\"}");
	expect(inst, token("HS256", NULL, p, "HS256", NULL, "s3cre"), NULL, "bad signature");
	expect(inst, token("HS256", NULL, p, NULL, NULL, NULL), NULL, "bad signature");
	/* truncated, extra parts, bad base64url, not JSON */
	t = token("HS256", NULL, p, "HS256", NULL, "s3cret");
	*strrchr(t, '.') = 0;
	expect(inst, t, NULL, "malformed");
	t = token("HS256", NULL, p, "HS256", NULL, "s3cret");
	strcat(t, ".x");
	expect(inst, t, NULL, "malformed");
	t = token("HS256", NULL, p, "HS256", NULL, "s3cret");
	strchr(t, '.')[3] = '*';
	expect(inst, t, NULL, "malformed");
	t = token("HS256", NULL, p, "HS256", NULL, "s3cret");
	strcat(t, "AA");		/* a signature of 4k+1 characters */
	expect(inst, t, NULL, "malformed");
	t = malloc(64);
	strcpy(t, "bm90IGpzb24.bm90IGpzb24.AAAA");
	expect(inst, t, NULL, "malformed");
	/* unknown consumer, no key claim */
	expect(inst, token("HS256", NULL, "{\"key\":\"nobody\"}", "HS256", NULL, "s3cret"), NULL,
	       "no consumer");
	expect(inst, token("HS256", NULL, "{\"sub\":\"hs256\"}", "HS256", NULL, "s3cret"), NULL,
	       "no consumer");
	/* ES256 with a signature of the wrong length (DER, as a careless
	 * signer writes it, or cut short) */
	strcpy(p, "{\"key\":\"es256\",\"iss\":\"idp\",\"aud\":\"api\"}");
	t = token("ES256", NULL, p, "ES256", K.ec256, NULL);
	t[strlen(t) - 3] = 0;
	expect(inst, t, NULL, "bad signature");
	t = token("ES256", NULL, p, "RS256" /* not ES: DER kept */, K.ec256, NULL);
	expect(inst, t, NULL, "bad signature");
#undef CLAIMS
	weir_plugin_jwt_auth.destroy(inst);
	free(consumers);
}

static void test_jwt_sources(void **state)
{
	char *consumers = jwt_consumers(), *t, buf[1024];
	void *inst = instance(&weir_plugin_jwt_auth, "{\"key_claim\": \"sub\", \"header\": \"x-jwt\"}",
			      consumers);
	struct fake *f;

	t = token("HS256", NULL, "{\"sub\":\"hs256\"}", "HS256", NULL, "s3cret");
	f = fake_req("/", "x-jwt", t, NULL);
	assert_int_equal(run(&weir_plugin_jwt_auth, inst, f), 0);
	assert_string_equal(f->r.consumer, "hs256");
	assert_true(weir_hdr_names_has(weir_plugin_jwt_auth.removes(inst, false), "x-jwt", 5));
	fake_free(f);
	snprintf(buf, sizeof(buf), "/p?x=1&jwt=%s", t);
	f = fake_req(buf, NULL);
	assert_int_equal(run(&weir_plugin_jwt_auth, inst, f), 0);
	fake_free(f);
	snprintf(buf, sizeof(buf), "a=b; jwt=%s; c=d", t);
	f = fake_req("/", "cookie", buf, NULL);
	assert_int_equal(run(&weir_plugin_jwt_auth, inst, f), 0);
	fake_free(f);
	f = fake_req("/", "authorization", "Bearer x", NULL);	/* not the route's header */
	assert_int_equal(run(&weir_plugin_jwt_auth, inst, f), 401);
	assert_string_equal(f->r.answer->body, "401 Unauthorized: missing JWT\n");
	assert_memory_equal(f->r.answer->head, "WWW-Authenticate: Bearer\r\n", 26);
	assert_int_equal(f->r.answer->head_len, strlen(f->r.answer->head));
	fake_free(f);
	free(t);
	weir_plugin_jwt_auth.destroy(inst);

	configure_fails(&weir_plugin_jwt_auth, "{\"leeway\": -1}", "[]", "leeway");
	configure_fails(&weir_plugin_jwt_auth, "{\"issuer\": 3}", "[]", "issuer");
	free(consumers);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_hashes),
		cmocka_unit_test(test_key_auth),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_jwk),
		cmocka_unit_test(test_jwt_algorithms),
		cmocka_unit_test(test_jwt_refusals),
		cmocka_unit_test(test_jwt_sources),
	};

	int rc;

	cmocka_set_message_output(CM_OUTPUT_TAP);
	rc = cmocka_run_group_tests_name("auth", tests, keys_setup, keys_teardown);
	weir_offload_stop();
	return rc;
}
