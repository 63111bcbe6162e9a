/* tests/unit/test_tls.c - the parts of TLS that are logic rather than
 * OpenSSL: session ticket keys rotating with the time they are asked at
 * (tls_ticket.h), and the certificate a server name selects from the names
 * in the certificates themselves (weir_tls_server_pick), against files made
 * by certs.h. The handshakes themselves are tested end to end
 * (tests/proxy/test_tls.sh).
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
	t = weir_tls_server_new(c, 0, err, sizeof(err));
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

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticket_rotation),
		cmocka_unit_test(test_sni_pick),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
