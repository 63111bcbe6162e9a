/* bench/bench_sign.c - what hmac-auth and body-crypto cost per request, set
 * beside the copy a held body costs anyway.
 *
 * For bodies of 1 KiB and 64 KiB: memcpy of the body (the peer: holding a
 * body whole is at least one copy), weir_bodycrypto_open (AES-256-GCM
 * decryption in place of a request body), weir_bodycrypto_seal (encryption
 * of a response with a fresh nonce), and weir_hmac_check_body (SHA-256 of
 * the body against its Content-Digest). Then one weir_hmac_check (parse the
 * Authorization, HMAC-SHA256 over the signing string, the replay table),
 * each call with a new nonce. Rounds are timed on the thread's CPU clock;
 * the median of 5 rounds is reported as ns per call and MB/s, a table on
 * stderr and a JSON list on stdout.
 *
 *   bench_sign [-n CALLS_PER_ROUND]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "userspace/core.h"
#include "userspace/plugin.h"
#include "userspace/sign.h"

#define ROUNDS 5
#define SECRET "0123456789abcdef-secret"
#define KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void *mk(const char *plugin, const char *json)
{
	json_t *conf = json_loads(json, 0, NULL);
	char err[256];
	void *inst = NULL;

	weir_plugins_builtin();
	if (!conf || weir_plugin_find(plugin)->configure(conf, NULL, &inst, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", plugin, err);
		exit(1);
	}
	json_decref(conf);
	return inst;
}

enum op { OP_MEMCPY, OP_OPEN, OP_SEAL, OP_DIGEST, OP_SIGNATURE, OP_COUNT };
static const char *const op_names[OP_COUNT] = {
	"memcpy", "decrypt (open)", "encrypt (seal)", "content-digest", "signature check",
};

struct ctx {
	void *bc, *hm;
	size_t size;
	char *plain, *copy;
	struct weir_body sealed, work;
	struct weir_sig_req q;
	struct weir_hdr h[4];
	char date[64], nonce[32], auth[256], digest[128];
	long seq;
};

/* A signed request head for the next nonce. */
static void next_signed(struct ctx *c)
{
	unsigned char mac[32];
	unsigned int len = 0;
	char signing[256], b64[64];

	snprintf(c->nonce, sizeof(c->nonce), "bench-%ld", c->seq++);
	int n = snprintf(signing, sizeof(signing), "@method: POST\n@path: /x\n@query: \n"
			 "host: h\nx-date: %s\nx-nonce: %s", c->date, c->nonce);
	HMAC(EVP_sha256(), SECRET, strlen(SECRET), (unsigned char *)signing, (size_t)n, mac, &len);
	EVP_EncodeBlock((unsigned char *)b64, mac, 32);
	snprintf(c->auth, sizeof(c->auth), "Signature keyId=\"k1\",algorithm=\"hmac-sha256\","
		 "headers=\"@method @path @query host x-date x-nonce\",signature=\"%s\"", b64);
	c->h[2] = (struct weir_hdr){ "x-nonce", 7, c->nonce, (uint32_t)strlen(c->nonce) };
	c->h[3] = (struct weir_hdr){ "authorization", 13, c->auth, (uint32_t)strlen(c->auth) };
}

static int run(struct ctx *c, enum op op)
{
	const char *why, *kid, *consumer;

	switch (op) {
	case OP_MEMCPY:
		memcpy(c->copy, c->plain, c->size);
		__asm__ volatile("" : : "r"(c->copy) : "memory");
		return 0;
	case OP_OPEN:
		memcpy(c->work.data, c->sealed.data, c->sealed.len);
		c->work.len = c->sealed.len;
		return weir_bodycrypto_open(c->bc, "k", 1, NULL, &c->work, &why);
	case OP_SEAL:
		c->work.len = c->size;
		return weir_bodycrypto_seal(c->bc, NULL, &c->work, &kid, &why);
	case OP_DIGEST:
		return weir_hmac_check_body(c->hm, &c->q, c->plain, c->size, &why);
	case OP_SIGNATURE:
		next_signed(c);
		return weir_hmac_check(c->hm, &c->q, time(NULL), &consumer, &why);
	default:
		return -1;
	}
}

int main(int argc, char **argv)
{
	long calls = 20000;
	static const size_t sizes[] = { 1024, 65536 };
	json_t *out = json_array();
	struct ctx c = { 0 };
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1)
		if (opt == 'n')
			calls = atol(optarg);
	c.bc = mk("body-crypto", "{\"keys\": {\"k\": \"" KEY "\"}, \"max_body\": \"1m\"}");
	c.hm = mk("hmac-auth", "{\"keys\": {\"k1\": {\"secret\": \"" SECRET "\"}},"
		  " \"signed_headers\": [\"@method\", \"@path\", \"@query\", \"host\"]}");
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(c.date, sizeof(c.date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	c.h[0] = (struct weir_hdr){ "host", 4, "h", 1 };
	c.h[1] = (struct weir_hdr){ "x-date", 6, c.date, (uint32_t)strlen(c.date) };
	c.q = (struct weir_sig_req){ "POST", "/x", 2, "", 0, c.h, 4 };
	next_signed(&c);

	fprintf(stderr, "%-18s %8s %12s %10s %14s\n", "operation", "bytes", "ns/call", "MB/s",
		"x memcpy");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double memcpy_ns = 0;
		const char *kid, *why;

		c.size = sizes[s];
		c.plain = malloc(c.size);
		c.copy = malloc(c.size);
		for (size_t i = 0; i < c.size; i++)
			c.plain[i] = (char)(i * 31);
		c.sealed = (struct weir_body){ 0 };
		weir_body_append(&c.sealed, c.plain, c.size, c.size);
		weir_hmac_check_body(c.hm, &c.q, c.plain, c.size, &why);
		if (weir_bodycrypto_seal(c.bc, NULL, &c.sealed, &kid, &why)) {
			fprintf(stderr, "seal: %s\n", why);
			return 1;
		}
		c.work = (struct weir_body){ 0 };
		weir_body_reserve(&c.work, c.size + 64);
		/* The digest the body must match. */
		unsigned char md[32];
		char b64[64];
		EVP_Digest(c.plain, c.size, md, NULL, EVP_sha256(), NULL);
		EVP_EncodeBlock((unsigned char *)b64, md, 32);
		snprintf(c.digest, sizeof(c.digest), "sha-256=:%s:", b64);
		c.h[2] = (struct weir_hdr){ "content-digest", 14, c.digest, (uint32_t)strlen(c.digest) };
		c.q.n_hdrs = 3;
		for (enum op op = 0; op < OP_COUNT; op++) {
			double r[ROUNDS];
			if (op == OP_SIGNATURE && s > 0)
				continue;	/* does not depend on the body */
			c.q.n_hdrs = op == OP_SIGNATURE ? 4 : 3;
			if (run(&c, op)) {
				fprintf(stderr, "%s failed before timing\n", op_names[op]);
				return 1;
			}
			for (int k = 0; k < ROUNDS; k++) {
				double t0 = now_ns();
				for (long i = 0; i < calls; i++)
					run(&c, op);
				r[k] = (now_ns() - t0) / calls;
			}
			qsort(r, ROUNDS, sizeof(r[0]), cmp_d);
			double ns = r[ROUNDS / 2];
			if (op == OP_MEMCPY)
				memcpy_ns = ns;
			double mbs = op == OP_SIGNATURE ? 0 : c.size / ns * 1e3;
			fprintf(stderr, "%-18s %8zu %12.0f %10.0f %14.1f\n", op_names[op],
				op == OP_SIGNATURE ? 0 : c.size, ns, mbs, ns / memcpy_ns);
			json_array_append_new(out, json_pack("{s:s, s:I, s:f, s:f, s:f}", "op",
				op_names[op], "bytes", (json_int_t)(op == OP_SIGNATURE ? 0 : c.size),
				"ns_per_call", ns, "mb_per_s", mbs, "memcpy_ns", memcpy_ns));
		}
		free(c.plain);
		free(c.copy);
		weir_body_free(&c.sealed);
		weir_body_free(&c.work);
	}
	char *text = json_dumps(out, JSON_INDENT(1));
	puts(text);
	free(text);
	json_decref(out);
	weir_plugin_find("body-crypto")->destroy(c.bc);
	weir_plugin_find("hmac-auth")->destroy(c.hm);
	return 0;
}
