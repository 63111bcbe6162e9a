/* fuzz_auth.c - libFuzzer target over the credentials the authentication
 * plugins read off a request: an API key (header or query), an
 * `Authorization: Basic` value, a JWT (header, query or cookie), through
 * each plugin's access callback on a snapshot built from a real config with
 * consumers.
 *
 * The first byte of an input picks the plugin and where the credential
 * goes; the rest is the credential, copied into a buffer of exactly its
 * length (header values are not NUL-terminated on the request path), so a
 * read past it is an ASan report. Properties, besides the sanitizers':
 *   - access answers 0 (admitted, with a consumer) or 401 (with a reason),
 *     or, for basic-auth with a known user, suspends the request while
 *     the offload pool hashes the password (the job is then cancelled);
 *   - an admitted request's consumer is one of the configured ones.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "userspace/core.h"
#include "userspace/offload.h"
#include "userspace/plugin.h"
#include "userspace/snapshot.h"
#include "tests/fuzz/fuzz.h"

/* The password is PBKDF2 at the fewest iterations weir takes, so a run
 * stays cheap; the cache of verified passwords is on (its default). */
static const char config_yaml[] =
	"listeners: [127.0.0.1:1]\n"
	"upstreams: {u: {nodes: [127.0.0.1:1]}}\n"
	"consumers:\n"
	"  - username: alice\n"
	"    plugins:\n"
	"      key-auth: {key: alice-key}\n"
	"      basic-auth: {username: alice, password_hash: "
	"'$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$Mqp8wAsrOsjVEIymTD0kATxTpTf4f.0ZMgQPDlukk/w'}\n"
	"      jwt-auth: {key: alice, secret: fuzz-secret}\n"
	"  - username: bob\n"
	"    plugins:\n"
	"      jwt-auth:\n"
	"        key: bob\n"
	"        algorithm: ES256\n"
	"        public_key: |\n"
	"          -----BEGIN PUBLIC KEY-----\n"
	"          MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEv5FQJfKCXmBhdJNc5cfgo2CNHP/D\n"
	"          6tRjgLaYvTP8dRL+QsWTpjnBa/cHePZWsxJFWh1nj23+cGQilSQhgtle/Q==\n"
	"          -----END PUBLIC KEY-----\n"
	"routes:\n"
	"  - {id: key, path: /key, upstream: u, plugins: {key-auth: {}}}\n"
	"  - {id: basic, path: /basic, upstream: u, plugins: {basic-auth: {}}}\n"
	"  - {id: jwt, path: /jwt, upstream: u, plugins: {jwt-auth: {leeway: 10, audience: api}}}\n";

static struct weir_snapshot *snap;
static struct weir_worker W;

static void setup(void)
{
	struct weir_config *conf;
	char err[512];

	if (weir_config_parse("fuzz.yaml", config_yaml, sizeof(config_yaml) - 1, &conf, err,
			      sizeof(err)) < 0 ||
	    weir_snapshot_build(conf, 1, &snap, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_auth: %s\n", err);
		abort();
	}
	W.now = 1000;
	W.event.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	FUZZ_CHECK(W.event.fd >= 0, "eventfd");
}

enum { KEY, BASIC, JWT };		/* the routes, in config order */
enum { HEADER, QUERY, COOKIE };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "apikey", "authorization", "authorization" };
	struct weir_client c = { .w = &W };
	struct weir_req r = { .client = &c };
	struct weir_hdr h;
	struct weir_buf *in;
	const char *target;
	char *value = NULL;
	size_t len, tlen;
	int route, where, status;

	if (!snap)
		setup();
	if (size < 1)
		return 0;
	route = data[0] % 3;
	where = data[0] / 3 % 3;
	if (route == BASIC || (route == KEY && where == COOKIE))
		where = HEADER;
	target = where != QUERY ? "/x" : route == KEY ? "/x?a=1&apikey=" : "/x?jwt=";
	len = size - 1;
	tlen = strlen(target) + (where == QUERY ? len : 0);
	FUZZ_CHECK((in = malloc(sizeof(*in) + tlen)), "out of memory");
	memcpy(in->data, target, strlen(target));
	if (where == QUERY)
		memcpy(in->data + strlen(target), data + 1, len);
	in->start = 0;
	in->end = in->cap = (uint32_t)tlen;
	c.in = in;
	r.path = (struct weir_span){ 0, (uint32_t)tlen };
	r.path_len = 2;
	r.hdrs = &h;
	if (where != QUERY && len) {
		FUZZ_CHECK((value = malloc(len)), "out of memory");
		memcpy(value, data + 1, len);
		h = (struct weir_hdr){ where == COOKIE ? "cookie" : names[route],
				       where == COOKIE ? 6 : (uint32_t)strlen(names[route]),
				       value, (uint32_t)len };
		r.head.n_fields = 1;
	}
	r.route = snap->routes[route];
	status = weir_plugins_access(&r);
	if (status == WEIR_ACCESS_PENDING) {
		/* A known user's password goes to the offload pool: the
		 * request ends there (its log phase cancels the job), and the
		 * job is waited for and freed. */
		FUZZ_CHECK(route == BASIC, "route %d suspended", route);
		weir_plugins_log(&r);
		weir_offload_worker_end(&W);
		free(value);
		free(in);
		return 0;
	}
	FUZZ_CHECK(status == 0 || status == 401, "status %d", status);
	if (status == 0)
		FUZZ_CHECK(r.consumer && (!strcmp(r.consumer, "alice") || !strcmp(r.consumer, "bob")),
			   "admitted as '%s'", r.consumer ? r.consumer : "(none)");
	else
		FUZZ_CHECK(!r.consumer && (r.local_why || r.answer), "a 401 without a reason");
	free(value);
	free(in);
	return 0;
}
