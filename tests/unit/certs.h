/* tests/unit/certs.h - certificates for the unit tests that need real
 * files (test_tls.c, test_config.c): self-signed P-256 certificates made
 * with OpenSSL in a temporary directory. Static functions, included by
 * each test that uses them.
 */
#ifndef WEIR_TEST_CERTS_H
#define WEIR_TEST_CERTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* Writes DIR/NAME.pem and DIR/NAME.key: a certificate for CN with the SAN
 * extension san ("DNS:a.test,DNS:*.w.test", or NULL for none), valid from
 * now for `days` (negative: expired that many days ago). 0 or -1. */
static int test_cert(const char *dir, const char *name, const char *cn, const char *san,
		     int days)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;
	char path[512];
	FILE *f;
	int rc = -1;

	if (!k || !x)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), days < 0 ? (long)days * 2 * 86400 : 0);
	X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (san) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		if (!e)
			goto out;
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (!X509_sign(x, k, EVP_sha256()))
		goto out;
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if (!(f = fopen(path, "w")))
		goto out;
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if (!(f = fopen(path, "w")))
		goto out;
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

#endif
