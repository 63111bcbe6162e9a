/* userspace/plugin_mock.c - the `mock` plugin: a route answers every request
 * itself with a fixed status, header lines and body, and never goes to an
 * upstream (for an API whose backend does not exist yet):
 *
 *   plugins:
 *     mock: {status: 200, headers: {content-type: application/json},
 *            body: '{"ok":true}'}
 *
 * The whole answer is prepared when the snapshot is built; per request the
 * plugin only points r->answer at it, and http.c writes it
 * (weir_client_answer_with: Content-Length, X-Request-Id, keepalive, no body
 * for HEAD). A route that runs `mock` needs no `upstream:`.
 *
 * The answer goes out of one connection buffer, so a body is at most
 * MOCK_MAX_BODY bytes and the header lines at most MOCK_MAX_HEAD.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "plugin.h"

#define MOCK_MAX_BODY 8192
#define MOCK_MAX_HEAD 2048

struct mock_inst {
	struct weir_answer answer;
	char *head, *body;
};

static void mock_destroy(void *p)
{
	struct mock_inst *m = p;

	if (!m)
		return;
	free(m->head);
	free(m->body);
	free(m);
}

/* Reads a body file whole, refusing one longer than MOCK_MAX_BODY. */
static int read_body_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "body_file: '%s': %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(MOCK_MAX_BODY + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = fread(buf, 1, MOCK_MAX_BODY + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "body_file: '%s': read error", path);
		goto fail;
	}
	if (n > MOCK_MAX_BODY) {
		snprintf(err, errlen, "body_file: '%s': longer than %d bytes", path, MOCK_MAX_BODY);
		goto fail;
	}
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
fail:
	fclose(f);
	free(buf);
	return -1;
}

/* Header names weir writes itself, so an answer may not carry its own. */
static const char *const managed[] = {
	"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
	"x-request-id", NULL,
};

static int mock_configure(const json_t *conf, const json_t *global, void **inst,
			  char *err, size_t errlen)
{
	const json_t *status, *headers, *body, *body_file;
	struct mock_inst *m;
	const char *key;
	json_t *val;

	if (!json_is_object(conf)) {
		snprintf(err, errlen, "settings must be a map with `status`, `headers`, "
			 "`body` or `body_file`");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val) {
		if (strcmp(key, "status") && strcmp(key, "headers") && strcmp(key, "body") &&
		    strcmp(key, "body_file")) {
			snprintf(err, errlen, "%s: unknown field", key);
			return -1;
		}
	}
	status = json_object_get(conf, "status");
	headers = json_object_get(conf, "headers");
	body = json_object_get(conf, "body");
	body_file = json_object_get(conf, "body_file");
	if (status && (!json_is_integer(status) || json_integer_value(status) < 200 ||
		       json_integer_value(status) > 599)) {
		snprintf(err, errlen, "status: expected an integer from 200 to 599");
		return -1;
	}
	if (json_is_object(headers)) {
		json_object_foreach((json_t *)headers, key, val) {
			for (size_t i = 0; managed[i]; i++)
				if (!strcasecmp(key, managed[i])) {
					snprintf(err, errlen, "headers.%s: written by weir, "
						 "not settable", key);
					return -1;
				}
		}
	}
	if (body && !json_is_string(body)) {
		snprintf(err, errlen, "body: must be a string");
		return -1;
	}
	if (body_file && !json_is_string(body_file)) {
		snprintf(err, errlen, "body_file: must be a string (a file path)");
		return -1;
	}
	if (body && body_file) {
		snprintf(err, errlen, "body_file: give body or body_file, not both");
		return -1;
	}
	if (body && json_string_length(body) > MOCK_MAX_BODY) {
		snprintf(err, errlen, "body: longer than %d bytes", MOCK_MAX_BODY);
		return -1;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->answer.status = status ? (uint16_t)json_integer_value(status) : 200;
	if (weir_plugin_header_lines(headers, "headers", &m->head, &m->answer.head_len,
				     err, errlen) < 0)
		goto fail;
	if (m->answer.head_len > MOCK_MAX_HEAD) {
		snprintf(err, errlen, "headers: longer than %d bytes", MOCK_MAX_HEAD);
		goto fail;
	}
	if (body) {
		m->answer.body_len = json_string_length(body);
		m->body = malloc(m->answer.body_len + 1);
		if (!m->body) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(m->body, json_string_value(body), m->answer.body_len + 1);
	} else if (body_file && read_body_file(json_string_value(body_file), &m->body,
					       &m->answer.body_len, err, errlen) < 0) {
		goto fail;
	}
	if (m->answer.body_len && (m->answer.status == 204 || m->answer.status == 304)) {
		snprintf(err, errlen, "%s: a %u answer has no body", body ? "body" : "body_file",
			 m->answer.status);
		goto fail;
	}
	m->answer.head = m->head ? m->head : "";
	m->answer.body = m->body ? m->body : "";
	*inst = m;
	return 0;
fail:
	mock_destroy(m);
	return -1;
}

static int mock_access(struct weir_req *r, void *inst)
{
	const struct mock_inst *m = inst;

	r->answer = &m->answer;
	return m->answer.status;
}

const struct weir_plugin weir_plugin_mock = {
	.name = "mock",
	/* after whatever guards the route (auth, limits), which run first */
	.priority = -1000,
	.answers = true,
	.configure = mock_configure,
	.destroy = mock_destroy,
	.access = mock_access,
};
