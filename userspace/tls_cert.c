/* userspace/tls_cert.c - server certificates as weir reads them: a
 * certificate with its chain and its private key, each given as PEM text
 * or as the name of a PEM file, parsed with OpenSSL and checked to belong
 * together (README: TLS). tls.c puts them into its contexts; the top-level
 * certificates: of a configuration (the admin API's resources) are loaded
 * here once per snapshot, whether or not a listener serves them yet, so a
 * bad one is refused the same way with or without TLS listeners.
 *
 * A value is PEM text when it holds "-----BEGIN" or a line break, a file
 * name otherwise. Text is never quoted back in a message (it may be a private
 * key); a file is named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define PEM_START "-----BEGIN"

/* Text: PEM's start line or a line break anywhere, so that what was meant
 * as a key is never taken for a file name and quoted back. */
static bool is_text(const char *v)
{
	return strstr(v, PEM_START) || strchr(v, '\n');
}

const char *weir_tls_ssl_why(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r ? r : "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

/* A BIO over v's PEM: the text itself, or the file it names. NULL with the
 * reason in why. */
static BIO *pem_open(const char *v, char *why, size_t len)
{
	BIO *b;
	FILE *f;

	if (is_text(v)) {
		if (!(b = BIO_new_mem_buf(v, -1)))
			snprintf(why, len, "out of memory");
		return b;
	}
	/* OpenSSL's own message for a missing file is "system lib". */
	if (!(f = fopen(v, "re"))) {
		snprintf(why, len, "'%s': %s", v, strerror(errno));
		return NULL;
	}
	if (!(b = BIO_new_fp(f, BIO_CLOSE))) {
		fclose(f);
		snprintf(why, len, "out of memory");
	}
	return b;
}

/* "'FILE': " or "" for text, before a reason. */
static const char *named(const char *v, char *buf, size_t len)
{
	if (is_text(v))
		buf[0] = 0;
	else
		snprintf(buf, len, "'%s': ", v);
	return buf;
}

void weir_tls_cert_clear(struct weir_tls_cert *c)
{
	X509_free(c->x);
	sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->pk);
	memset(c, 0, sizeof(*c));
}

int weir_tls_cert_load(struct weir_tls_cert *c, const char *cert, const char *key,
		       const char **field, char *why, size_t len)
{
	char r[160], n[300];
	X509 *extra;
	BIO *b;

	memset(c, 0, sizeof(*c));
	*field = "cert";
	if (!(b = pem_open(cert, why, len)))
		return -1;
	c->x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
	if (!c->x || !(c->chain = sk_X509_new_null())) {
		snprintf(why, len, "%snot a PEM certificate (%s)", named(cert, n, sizeof(n)),
			 weir_tls_ssl_why(r, sizeof(r)));
		goto fail;
	}
	/* The chain: every certificate after the first, up to the end. */
	while ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		if (!sk_X509_push(c->chain, extra)) {
			X509_free(extra);
			snprintf(why, len, "out of memory");
			goto fail;
		}
	unsigned long e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		snprintf(why, len, "%sa certificate of the chain is not PEM (%s)",
			 named(cert, n, sizeof(n)), weir_tls_ssl_why(r, sizeof(r)));
		goto fail;
	}
	ERR_clear_error();
	BIO_free(b);
	*field = "key";
	if (!(b = pem_open(key, why, len)))
		goto fail;
	if (!(c->pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL))) {
		snprintf(why, len, "%snot a PEM private key (%s)", named(key, n, sizeof(n)),
			 weir_tls_ssl_why(r, sizeof(r)));
		goto fail;
	}
	BIO_free(b);
	b = NULL;
	if (!X509_check_private_key(c->x, c->pk)) {
		if (is_text(key) || is_text(cert))
			snprintf(why, len, "does not match the certificate");
		else
			snprintf(why, len, "'%s' does not match the certificate '%s'", key, cert);
		ERR_clear_error();
		goto fail;
	}
	return 0;
fail:
	BIO_free(b);
	weir_tls_cert_clear(c);
	return -1;
}

bool weir_tls_cert_expired(const struct weir_tls_cert *c)
{
	return X509_cmp_current_time(X509_get0_notAfter(c->x)) < 0;
}

/* ---- the top-level certificates of a configuration ---------------------- */

struct weir_tls_certs *weir_tls_certs_load(const struct weir_config *conf, char *err,
					   size_t errlen)
{
	struct weir_tls_certs *s = calloc(1, sizeof(*s));
	const char *field = "cert";
	char why[400];

	if (!s || !(s->v = calloc(conf->n_certificates + 1, sizeof(*s->v)))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < conf->n_certificates; i++) {
		const struct weir_cert_conf *cc = &conf->certificates[i];

		if (weir_tls_cert_load(&s->v[i], cc->cert, cc->key, &field, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%u: certificates.%s.%s: %s",
				 conf->file ? conf->file : "config", cc->line, cc->id, field, why);
			weir_tls_certs_free(s);
			return NULL;
		}
		s->n = i + 1;
		if (weir_tls_cert_expired(&s->v[i]))
			fprintf(stderr, "weir: warning: %s:%u: certificates.%s: the certificate has "
				"expired\n", conf->file ? conf->file : "config", cc->line, cc->id);
	}
	return s;
}

void weir_tls_certs_free(struct weir_tls_certs *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		weir_tls_cert_clear(&s->v[i]);
	free(s->v);
	free(s);
}

/* ---- what the admin API shows of one ------------------------------------ */

static json_t *name_text(const X509_NAME *nm)
{
	char *t = X509_NAME_oneline(nm, NULL, 0);
	json_t *j = json_string(t ? t : "");

	OPENSSL_free(t);
	return j;
}

static json_t *time_text(const ASN1_TIME *a)
{
	struct tm tm;
	char t[32];

	if (!ASN1_TIME_to_tm(a, &tm))
		return json_null();
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(t);
}

json_t *weir_tls_cert_json(const char *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char why[300];
	json_t *out, *names = json_array();
	BIO *b = pem_open(cert, why, sizeof(why));
	X509 *x = b ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;

	if (b && !x)
		snprintf(why, sizeof(why), "not a PEM certificate");
	BIO_free(b);
	ERR_clear_error();
	if (!x) {
		json_decref(names);
		return json_pack("{s:s}", "error", why);
	}
	/* As `openssl x509 -fingerprint -sha256` prints it: AB:CD:... */
	char hex[3 * EVP_MAX_MD_SIZE + 1] = "";
	size_t o = 0;
	if (X509_digest(x, EVP_sha256(), md, &mdlen))
		for (unsigned i = 0; i < mdlen; i++)
			o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%s%02X", i ? ":" : "", md[i]);
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; san && i < sk_GENERAL_NAME_num(san); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
		if (g->type == GEN_DNS)
			json_array_append_new(names, json_stringn(
				(const char *)ASN1_STRING_get0_data(g->d.dNSName),
				(size_t)ASN1_STRING_length(g->d.dNSName)));
	}
	GENERAL_NAMES_free(san);
	out = json_pack("{s:o, s:o, s:o, s:o, s:s, s:o, s:b}", "subject",
			name_text(X509_get_subject_name(x)), "issuer",
			name_text(X509_get_issuer_name(x)), "not_before",
			time_text(X509_get0_notBefore(x)), "not_after",
			time_text(X509_get0_notAfter(x)), "sha256", hex, "names", names, "expired",
			X509_cmp_current_time(X509_get0_notAfter(x)) < 0);
	X509_free(x);
	ERR_clear_error();
	return out;
}
