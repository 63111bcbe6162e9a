/* tests/unit/test_tls.c - the parts of TLS that are logic rather than
 * OpenSSL: session ticket keys rotating with the time they are asked at
 * (tls_ticket.h), and the certificate a server name selects from the names
 * in the certificates themselves (weir_tls_server_pick), the listener's own
 * beside the top-level ones, certificates as files or PEM text and what is
 * refused of them (tls_cert.c), against files made by certs.h. The
 * handshakes themselves are tested end to end (tests/proxy/test_tls.sh,
 * tests/proxy/test_admin_certs.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "userspace/config.h"
#include "userspace/tls.h"
#include "userspace/tls_ticket.h"
#include "certs.h"

static void test_ticket_rotation(void **state)
{
	struct weir_ticket_ring *r = weir_ticket_ring_get("test:1", 1000);
	struct weir_ticket_key k1, k2, k3, k;

	assert_non_null(r);
	assert_ptr_equal(weir_ticket_ring_get("test:1", 1000), r);
	assert_ptr_not_equal(weir_ticket_ring_get("test:2", 1000), r);
	/* first use at t=10000: the period runs to 11000 */
	assert_int_equal(weir_ticket_key(r, 10000, NULL, &k1), 1);
	assert_int_equal(weir_ticket_key(r, 10999, k1.name, &k), 1);
	assert_memory_equal(&k, &k1, sizeof(k));
	/* rotated: new tickets get a new key, old ones open with the old key (2: renew) */
	assert_int_equal(weir_ticket_key(r, 11000, NULL, &k2), 1);
	assert_memory_not_equal(k2.name, k1.name, 16);
	assert_int_equal(weir_ticket_key(r, 11500, k1.name, &k), 2);
	assert_memory_equal(&k, &k1, sizeof(k));
	assert_int_equal(weir_ticket_key(r, 11500, k2.name, &k), 1);
	/* rotated again: k1 is gone, k2 is the previous */
	assert_int_equal(weir_ticket_key(r, 12000, NULL, &k3), 1);
	assert_int_equal(weir_ticket_key(r, 12000, k1.name, &k), 0);
	assert_int_equal(weir_ticket_key(r, 12000, k2.name, &k), 2);
	/* idle for more than a whole period past the rotation: nothing old opens */
	assert_int_equal(weir_ticket_key(r, 15000, k3.name, &k), 0);
	assert_int_equal(weir_ticket_key(r, 15000, k2.name, &k), 0);
	/* an unknown name */
	memset(k.name, 0xab, 16);
	assert_int_equal(weir_ticket_key(r, 15001, k.name, &k), 0);
	/* a reload that changes the period: from the next rotation on */
	assert_ptr_equal(weir_ticket_ring_get("test:1", 60000), r);
	assert_int_equal(weir_ticket_key(r, 16000, NULL, &k1), 1);	/* rotates (due 16000) */
	assert_int_equal(weir_ticket_key(r, 75999, k1.name, &k), 1);	/* next due 76000 */
	assert_int_equal(weir_ticket_key(r, 76000, k1.name, &k), 2);
	weir_ticket_rings_free();
}

static void test_sni_pick(void **state)
{
	char dir[] = "/tmp/weir-unit-sni.XXXXXX", yaml[2048], err[512], path[600];
	struct weir_config *c = NULL;
	struct weir_tls_server *t;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(test_cert(dir, "dflt", "default.test", "DNS:default.test", 30), 0);
	assert_int_equal(test_cert(dir, "a", "a.test", "DNS:a.test,DNS:alias.test", 30), 0);
	assert_int_equal(test_cert(dir, "w", "wild", "DNS:*.w.test,IP:127.0.0.1", 30), 0);
	assert_int_equal(test_cert(dir, "cn", "cn-only.test", NULL, 30), 0);
	assert_int_equal(test_cert(dir, "x", "x.w.test", "DNS:x.w.test,DNS:f*.odd.test", 30), 0);
	assert_int_equal(test_cert(dir, "a2", "a.test", "DNS:a.test", 30), 0);
	snprintf(yaml, sizeof(yaml),
		 "listeners:\n  - listen: 8443\n    tls:\n      certificates:\n"
		 "        - {cert: %1$s/dflt.pem, key: %1$s/dflt.key}\n"
		 "        - {cert: %1$s/a.pem, key: %1$s/a.key}\n"
		 "        - {cert: %1$s/w.pem, key: %1$s/w.key}\n"
		 "        - {cert: %1$s/cn.pem, key: %1$s/cn.key}\n"
		 "        - {cert: %1$s/x.pem, key: %1$s/x.key}\n"
		 "        - {cert: %1$s/a2.pem, key: %1$s/a2.key}\n", dir);
	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	t = weir_tls_server_new(c, 0, NULL, err, sizeof(err));
	if (!t)
		fail_msg("%s", err);
	assert_int_equal(weir_tls_server_pick(t, "default.test"), 0);
	assert_int_equal(weir_tls_server_pick(t, "a.test"), 1);	/* first listed wins */
	assert_int_equal(weir_tls_server_pick(t, "ALIAS.Test"), 1);
	assert_int_equal(weir_tls_server_pick(t, "b.w.test"), 2);
	assert_int_equal(weir_tls_server_pick(t, "x.w.test"), 4);	/* exact beats wildcard */
	assert_int_equal(weir_tls_server_pick(t, "a.b.w.test"), -1);	/* one label only */
	assert_int_equal(weir_tls_server_pick(t, "w.test"), -1);
	assert_int_equal(weir_tls_server_pick(t, ".w.test"), -1);
	assert_int_equal(weir_tls_server_pick(t, "cn-only.test"), 3);	/* no SAN: the CN */
	assert_int_equal(weir_tls_server_pick(t, "wild"), -1);	/* a CN beside SANs is not a name */
	assert_int_equal(weir_tls_server_pick(t, "fo.odd.test"), -1);	/* partial wildcards unused */
	assert_int_equal(weir_tls_server_pick(t, "127.0.0.1"), -1);
	assert_int_equal(weir_tls_server_pick(t, "unknown.test"), -1);
	assert_int_equal(weir_tls_server_pick(t, ""), -1);
	weir_tls_server_put(t);
	weir_config_free(c);
	weir_tls_cleanup();
	for (const char *n = "dflt\0a\0w\0cn\0x\0a2\0"; *n; n += strlen(n) + 1) {
		snprintf(path, sizeof(path), "%s/%s.pem", dir, n);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.key", dir, n);
		unlink(path);
	}
	rmdir(dir);
}

/* "    KEY: |\n" and the PEM of FILE indented under it, appended to y. */
static void pem_block(char *y, size_t len, const char *key, const char *file)
{
	char line[256];
	FILE *f = fopen(file, "r");

	assert_non_null(f);
	snprintf(y + strlen(y), len - strlen(y), "    %s: |\n", key);
	while (fgets(line, sizeof(line), f))
		snprintf(y + strlen(y), len - strlen(y), "      %s", line);
	fclose(f);
}

/* The top-level certificates beside a listener's own: they come after them
 * in the index, they win a name both hold, snis replace a certificate's
 * names, PEM text loads as files do, and a listener without certificates
 * of its own starts on the first of them. */
static void test_sni_pick_top(void **state)
{
	char dir[] = "/tmp/weir-unit-top.XXXXXX", yaml[16384], err[512], p[600], k[600];
	struct weir_config *c = NULL;
	struct weir_tls_certs *top;
	struct weir_tls_server *t;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(test_cert(dir, "dflt", "default.test", "DNS:default.test", 30), 0);
	assert_int_equal(test_cert(dir, "a", "a.test", "DNS:a.test", 30), 0);
	assert_int_equal(test_cert(dir, "a2", "a.test", "DNS:a.test", 30), 0);
	assert_int_equal(test_cert(dir, "cn", "cn-only.test", NULL, 30), 0);
	assert_int_equal(test_cert(dir, "x", "x.w.test", "DNS:x.w.test", 30), 0);
	snprintf(yaml, sizeof(yaml),
		 "listeners:\n  - listen: 8443\n    tls:\n      certificates:\n"
		 "        - {cert: %1$s/dflt.pem, key: %1$s/dflt.key}\n"
		 "        - {cert: %1$s/a.pem, key: %1$s/a.key}\n"
		 "  - {listen: 8444, tls: {}}\n"
		 "certificates:\n"
		 "  t1: {cert: %1$s/a2.pem, key: %1$s/a2.key}\n"
		 "  t2: {cert: %1$s/cn.pem, key: %1$s/cn.key, snis: [API.test, '*.api.test']}\n"
		 "  t3:\n", dir);
	snprintf(p, sizeof(p), "%s/x.pem", dir);
	snprintf(k, sizeof(k), "%s/x.key", dir);
	pem_block(yaml, sizeof(yaml), "cert", p);
	pem_block(yaml, sizeof(yaml), "key", k);
	if (weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(c->n_certificates, 3);
	assert_string_equal(c->certificates[1].snis[0], "api.test");
	top = weir_tls_certs_load(c, err, sizeof(err));
	if (!top)
		fail_msg("%s", err);
	assert_int_equal(top->n, 3);
	t = weir_tls_server_new(c, 0, top, err, sizeof(err));
	if (!t)
		fail_msg("%s", err);
	assert_int_equal(weir_tls_server_pick(t, "default.test"), 0);
	assert_int_equal(weir_tls_server_pick(t, "a.test"), 2);	/* the top-level t1 wins */
	assert_int_equal(weir_tls_server_pick(t, "api.test"), 3);	/* t2's snis */
	assert_int_equal(weir_tls_server_pick(t, "v1.api.test"), 3);
	assert_int_equal(weir_tls_server_pick(t, "cn-only.test"), -1);	/* snis replace its names */
	assert_int_equal(weir_tls_server_pick(t, "x.w.test"), 4);	/* t3, from PEM text */
	weir_tls_server_put(t);
	t = weir_tls_server_new(c, 1, top, err, sizeof(err));
	if (!t)
		fail_msg("%s", err);
	assert_int_equal(weir_tls_server_pick(t, "a.test"), 0);	/* t1 is this one's first */
	assert_int_equal(weir_tls_server_pick(t, "x.w.test"), 2);
	weir_tls_server_put(t);
	weir_tls_certs_free(top);
	weir_config_free(c);

	/* what is refused, naming the field */
	static const struct {
		const char *cert, *key, *err;
	} bad[] = {
		{ "x.pem", "a.key", "certificates.b.key: '%1$s/a.key' does not match the certificate "
		  "'%1$s/x.pem'" },
		{ "x.pem", "nope.key", "certificates.b.key: '%1$s/nope.key': No such file or directory" },
		{ "x.key", "x.key", "certificates.b.cert: '%1$s/x.key': not a PEM certificate (" },
		{ "x.pem", "x.pem", "certificates.b.key: '%1$s/x.pem': not a PEM private key (" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[1024], full[1100];

		snprintf(yaml, sizeof(yaml), "listeners: [8080]\ncertificates:\n"
			 "  b: {cert: %1$s/%2$s, key: %1$s/%3$s}\n", dir, bad[i].cert, bad[i].key);
		assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err,
						   sizeof(err)), 0);
		assert_null(weir_tls_certs_load(c, err, sizeof(err)));
		snprintf(want, sizeof(want), bad[i].err, dir);
		snprintf(full, sizeof(full), "config:3: %s", want);
		if (strncmp(err, full, strlen(full)))	/* OpenSSL's reason may follow */
			fail_msg("%s != %s", err, full);
		weir_config_free(c);
	}
	/* PEM text is never quoted back */
	snprintf(yaml, sizeof(yaml), "listeners: [8080]\ncertificates:\n  b:\n");
	snprintf(p, sizeof(p), "%s/x.pem", dir);
	snprintf(k, sizeof(k), "%s/a.key", dir);
	pem_block(yaml, sizeof(yaml), "cert", p);
	pem_block(yaml, sizeof(yaml), "key", k);
	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_null(weir_tls_certs_load(c, err, sizeof(err)));
	assert_string_equal(err, "config:3: certificates.b.key: does not match the certificate");
	weir_config_free(c);
	snprintf(yaml, sizeof(yaml), "listeners: [8080]\ncertificates:\n  b:\n"
		 "    cert: \"-----BEGIN CERTIFICATE-----\\nnot base64\\n-----END CERTIFICATE-----\\n\"\n");
	pem_block(yaml, sizeof(yaml), "key", k);
	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_null(weir_tls_certs_load(c, err, sizeof(err)));
	assert_non_null(strstr(err, "config:3: certificates.b.cert: not a PEM certificate ("));
	weir_config_free(c);
	/* a TLS listener with no certificate anywhere */
	snprintf(yaml, sizeof(yaml), "listeners:\n  - {listen: 8443, tls: {}}\n");
	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_null(weir_tls_server_new(c, 0, NULL, err, sizeof(err)));
	assert_string_equal(err, "config:2: listeners[0].tls.certificates: required: the listener "
			    "has none of its own and there is no top-level certificate");
	weir_config_free(c);
	for (const char *n = "dflt\0a\0a2\0cn\0x\0"; *n; n += strlen(n) + 1) {
		snprintf(p, sizeof(p), "%s/%s.pem", dir, n);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s.key", dir, n);
		unlink(p);
	}
	rmdir(dir);
}

/* An expired certificate loads (a warning, not an error); what the admin
 * API shows of it says so, with its names and a fingerprint, and no key. */
static void test_cert_json(void **state)
{
	char dir[] = "/tmp/weir-unit-json.XXXXXX", yaml[1024], err[512], p[600];
	struct weir_config *c = NULL;
	struct weir_tls_certs *top;
	json_t *j;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(test_cert(dir, "old", "old.test", "DNS:old.test,DNS:*.old.test", -2), 0);
	snprintf(yaml, sizeof(yaml), "listeners: [8080]\ncertificates:\n"
		 "  old: {cert: %1$s/old.pem, key: %1$s/old.key}\n", dir);
	assert_int_equal(weir_config_parse("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	top = weir_tls_certs_load(c, err, sizeof(err));
	if (!top)
		fail_msg("%s", err);
	assert_true(weir_tls_cert_expired(&top->v[0]));
	weir_tls_certs_free(top);
	weir_config_free(c);
	snprintf(p, sizeof(p), "%s/old.pem", dir);
	j = weir_tls_cert_json(p);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "expired")));
	assert_string_equal(json_string_value(json_object_get(j, "subject")), "/CN=old.test");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "names"), 1)),
			    "*.old.test");
	assert_int_equal(strlen(json_string_value(json_object_get(j, "sha256"))), 32 * 3 - 1);
	assert_non_null(strstr(json_string_value(json_object_get(j, "not_after")), "T"));
	assert_null(json_object_get(j, "key"));
	json_decref(j);
	snprintf(p, sizeof(p), "%s/old.key", dir);
	j = weir_tls_cert_json(p);	/* a key is not a certificate, and is not shown */
	assert_string_equal(json_string_value(json_object_get(j, "error")), "not a PEM certificate");
	json_decref(j);
	unlink(p);
	snprintf(p, sizeof(p), "%s/old.pem", dir);
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticket_rotation),
		cmocka_unit_test(test_sni_pick_top),	/* before weir_tls_cleanup() */
		cmocka_unit_test(test_cert_json),
		cmocka_unit_test(test_sni_pick),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
