/* userspace/admin.c - the admin API: its thread, its listener, its
 * resources and the state file (README: Admin API).
 *
 * Like the metrics listener, one thread with a socket of its own answers one
 * connection at a time, one request per connection (Connection: close); the
 * workers' loops never see it. Reading a request and checking its token is
 * admin_http.c; what the request does to the resources is here.
 *
 * The thread owns `doc`, the resources that are live, in the shape of the
 * configuration file's sections ({"routes": [...], "upstreams": {...},
 * "plugins": {...}, "consumers": [...], "certificates": {...}}). A change
 * is made on a copy of it, and under main.c's apply lock: the copy goes
 * live through hooks->apply (the reload path: build, validate, publish),
 * then is written to the state file (tmp file, fsync, rename, fsync of the
 * directory), and only then is it the new `doc` and the answer sent. A
 * copy that does not validate is answered 400 with the field and the
 * reason, and nothing changes; a state file that cannot be written puts
 * the old resources back live and answers 500.
 *
 * Resource kinds are rows of `kinds`: the URL segment, which is also the
 * document's key, whether the section is a list of objects with an id (the
 * routes) or a mapping by id, and the hooks a kind may need (what refuses a
 * DELETE, the live state a GET shows). A kind the configuration reader knows
 * is served by adding its row; a member that must never be shown (a
 * certificate's private key) is the row's `secret`: it is kept, and
 * persisted, but no answer carries it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <llhttp.h>
#include <openssl/crypto.h>

#include "admin.h"
#include "admin-int.h"
#include "cache.h"
#include "config.h"
#include "core.h"
#include "metrics.h"
#include "server.h"
#include "sidesrv.h"
#include "snapshot.h"
#include "tls.h"

#define MAX_DEPTH 64			/* of a body's JSON */
#define COMPACT_MIN 4096		/* journal records before a compaction */

/* ---- resource kinds ---------------------------------------------------- */

struct kind {
	const char *name;		/* URL segment and the document's key */
	bool listed;			/* a list of objects named by idkey; else a mapping by id */
	bool object;			/* a resource is an object (idkey may be in it) */
	const char *idkey;		/* the member that names an object: "id", "username" */
	const char *status;		/* a member GET adds and PUT/PATCH ignore, or NULL */
	const char *secret;		/* a member GET never shows (a private key), or NULL */
	/* The reason a DELETE of id is refused (409), or NULL. */
	const char *(*in_use)(const json_t *doc, const char *id, char *why, size_t len);
	/* Adds the live state to the GET form of a resource. */
	void (*show)(json_t *out, const char *id, struct weir_snapshot *s);
};

static const char *upstream_in_use(const json_t *doc, const char *id, char *why, size_t len);
static void upstream_show(json_t *out, const char *id, struct weir_snapshot *s);
static void cert_show(json_t *out, const char *id, struct weir_snapshot *s);

static const struct kind kinds[] = {
	{ "routes", true, true, "id", NULL, NULL, NULL, NULL },
	{ "upstreams", false, true, "id", "status", NULL, upstream_in_use, upstream_show },
	{ "plugins", false, false, "id", NULL, NULL, NULL, NULL },
	{ "consumers", true, true, "username", NULL, NULL, NULL, NULL },
	{ "certificates", false, true, "id", "info", "key", NULL, cert_show },
	/* A kind more is a row here, once config.c reads its section and lists
	 * it in resource_keys and the resource swap. */
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* "routes, upstreams, plugins": the kinds, for messages. */
static const char *kind_names(void)
{
	static char names[256];

	if (!names[0])
		for (size_t i = 0; i < N_KINDS; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", kinds[i].name);
	return names;
}

static json_t *section(const json_t *doc, const struct kind *k)
{
	return json_object_get(doc, k->name);
}

/* The live document's routes by id (the objects in its list), so that a
 * route is found without a walk of the list; NULL until built. */
static json_t *route_ix;
static const json_t *route_ix_doc;	/* the document it indexes */

static void route_ix_build(const json_t *doc)
{
	json_t *v;
	size_t i;

	json_decref(route_ix);
	route_ix_doc = NULL;
	if (!(route_ix = json_object()))
		return;
	json_array_foreach(json_object_get(doc, "routes"), i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		if (id && json_object_set(route_ix, id, v)) {
			json_decref(route_ix);
			route_ix = NULL;
			return;
		}
	}
	route_ix_doc = doc;
}

/* The stored resource id of kind k in doc, and its index for a list. */
static json_t *find(const json_t *doc, const struct kind *k, const char *id, size_t *at)
{
	json_t *sec = section(doc, k), *v;
	size_t i;

	if (!k->listed)
		return json_object_get(sec, id);
	if (!at && doc == route_ix_doc && !strcmp(k->name, "routes"))
		return json_object_get(route_ix, id);
	json_array_foreach(sec, i, v) {
		const char *vid = json_string_value(json_object_get(v, k->idkey));
		if (vid && !strcmp(vid, id)) {
			if (at)
				*at = i;
			return v;
		}
	}
	return NULL;
}

static bool indexed(const json_t *doc, const struct kind *k)
{
	return doc == route_ix_doc && !strcmp(k->name, "routes");
}

/* Where the object v is in the list sec. */
static size_t place_of(const json_t *sec, const json_t *v)
{
	size_t i, n = json_array_size(sec);

	for (i = 0; i < n && json_array_get(sec, i) != v; i++)
		;
	return i;
}

/* Stores v (taking it) as id; returns 1 when it is new, 0 replaced, -1. In
 * an indexed list, a replaced object keeps its identity (its contents
 * change), so that the index stays right. */
static int store(json_t *doc, const struct kind *k, const char *id, json_t *v)
{
	json_t *sec = section(doc, k), *cur;
	size_t at;

	if (!k->listed) {
		bool is_new = !json_object_get(sec, id);
		return json_object_set_new(sec, id, v) ? -1 : is_new;
	}
	if (indexed(doc, k)) {
		int rc = 1;
		if ((cur = json_object_get(route_ix, id)))
			rc = json_object_clear(cur) || json_object_update(cur, v) ? -1 : 0;
		else if (json_array_append(sec, v) || json_object_set(route_ix, id, v))
			rc = -1;
		json_decref(v);
		return rc;
	}
	if (find(doc, k, id, &at))
		return json_array_set_new(sec, at, v) ? -1 : 0;
	return json_array_append_new(sec, v) ? -1 : 1;
}

static void drop(json_t *doc, const struct kind *k, const char *id)
{
	size_t at;

	if (!k->listed) {
		json_object_del(section(doc, k), id);
	} else if (indexed(doc, k)) {
		json_t *cur = json_object_get(route_ix, id);
		if (cur) {
			json_array_remove(section(doc, k), place_of(section(doc, k), cur));
			json_object_del(route_ix, id);
		}
	} else if (find(doc, k, id, &at)) {
		json_array_remove(section(doc, k), at);
	}
}

static const char *upstream_in_use(const json_t *doc, const char *id, char *why, size_t len)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(doc, "routes"), i, r) {
		const char *u = json_string_value(json_object_get(r, "upstream"));
		if (u && !strcmp(u, id)) {
			snprintf(why, len, "route '%s' uses it",
				 json_string_value(json_object_get(r, "id")));
			return why;
		}
	}
	return NULL;
}

/* Node health as the metrics show it: up unless a worker has the node
 * ejected (passive) or the active checks have it down. */
static void upstream_show(json_t *out, const char *id, struct weir_snapshot *s)
{
	uint64_t now = weir_now_ms();
	json_t *nodes = json_array();

	for (size_t i = 0; s && nodes && i < s->n_upstreams; i++) {
		const struct weir_upstream *u = &s->upstreams[i];

		if (strcmp(u->conf->name, id))
			continue;
		for (size_t n = 0; n < u->n_nodes; n++) {
			bool down = weir_lb_active_down(u->lb, (int)n);
			uint32_t ej = 0;

			for (uint32_t k = 0; k < s->n_workers; k++)
				ej += weir_lb_ejected_peek(u->states[k], (int)n, now);
			json_t *nj = json_pack("{s:s, s:i, s:b, s:i}", "addr", u->nodes[n].addr.text,
					       "weight", (json_int_t)u->nodes[n].weight,
					       "up", !ej && !down, "ejected_workers", (json_int_t)ej);
			if (nj && u->conf->hc.enabled)
				json_object_set_new(nj, "healthy", json_boolean(!down));
			json_array_append_new(nodes, nj);
		}
		json_object_set_new(out, "status", json_pack("{s:b, s:o}", "health_check",
							     u->conf->hc.enabled, "nodes", nodes));
		return;
	}
	json_decref(nodes);
}

/* What a certificate is, from its PEM (tls_cert.c), in place of its key,
 * which GET never shows. */
static void cert_show(json_t *out, const char *id, struct weir_snapshot *s)
{
	const char *cert = json_string_value(json_object_get(out, "cert"));

	if (cert)
		json_object_set_new(out, "info", weir_tls_cert_json(cert));
}

/* ---- the thread's state ------------------------------------------------ */

static struct {
	struct weir_side side;
	struct weir_addr addr;
	unsigned char token[32];	/* SHA-256 of the token */
	char *state, *tmp, *dir;	/* the state file, its tmp file, its directory */
	const struct weir_admin_hooks *hooks;
	json_t *doc;			/* the live resources */
	bool saved;			/* doc is the state file's */
	struct weir_journal journal;	/* the changes since it was written whole */
} adm = { .side = WEIR_SIDE_INIT, .journal = { .fd = -1 } };

/* In one piece: json_dumpfd() would make a write(2) per token. The
 * journal's sequence number goes with the resources (admin_journal.c). */
static int write_doc(int fd, const json_t *doc)
{
	json_t *top = json_copy((json_t *)doc);	/* shallow: the sections are shared */
	char *text = NULL;
	size_t len, off = 0;

	if (top && !json_object_set_new(top, "_seq", json_integer((json_int_t)adm.journal.seq)))
		text = json_dumps(top, JSON_INDENT(1));
	json_decref(top);
	if (!text) {
		errno = ENOMEM;
		return -1;
	}
	len = strlen(text);
	text[len++] = '\n';	/* over the NUL: the length is known */
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(text);
			return -1;
		}
		off += (size_t)n;
	}
	free(text);
	return 0;
}

/* Writes doc to the state file so that a crash at any point leaves the old
 * file or the new one whole: a tmp file, synced, renamed over it, and the
 * directory synced so that the rename itself is durable. Returns 0, or -1
 * with the step and its reason in err; *renamed says whether the state file
 * already is the new one (only its directory's sync failed). */
static int persist(const json_t *doc, bool *renamed, char *err, size_t errlen)
{
	int fd = open(adm.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), dfd, e;
	const char *what = "open", *file = adm.tmp;

	*renamed = false;
	if (fd < 0)
		goto fail;
	what = "write";
	if (write_doc(fd, doc) < 0 || (what = "fsync", fsync(fd) < 0)) {
		e = errno;
		close(fd);
		errno = e;
		goto fail;
	}
	what = "close";
	if (close(fd) < 0)
		goto fail;
	what = "rename";
	if (rename(adm.tmp, adm.state) < 0)
		goto fail;
	*renamed = true;
	what = "fsync of its directory";
	file = adm.state;
	if ((dfd = open(adm.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		goto fail;
	if (fsync(dfd) < 0) {
		e = errno;
		close(dfd);
		errno = e;
		goto fail;
	}
	close(dfd);
	return 0;
fail:
	e = errno ? errno : EIO;
	snprintf(err, errlen, "%s: %s: %s", file, what, strerror(e));
	return -1;
}

/* A document of resources: an object of the kinds' sections alone, each of
 * its type; missing sections are added empty. */
static int check_doc(json_t *doc, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(doc)) {
		snprintf(err, errlen, "document: expected an object");
		return -1;
	}
	json_object_foreach(doc, key, v) {
		for (i = 0; i < N_KINDS && strcmp(key, kinds[i].name); i++)
			;
		if (i == N_KINDS) {
			snprintf(err, errlen, "%s: not a resource (the state file holds %s)", key,
				 kind_names());
			return -1;
		}
		if (kinds[i].listed ? !json_is_array(v) : !json_is_object(v)) {
			snprintf(err, errlen, "%s: expected %s", key,
				 kinds[i].listed ? "a list" : "a mapping");
			return -1;
		}
	}
	for (i = 0; i < N_KINDS; i++)
		if (!section(doc, &kinds[i]) &&
		    json_object_set_new(doc, kinds[i].name,
					kinds[i].listed ? json_array() : json_object())) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	char field[256], why[128];
	if (weir_admin_check_text(doc, "", MAX_DEPTH + 4, field, sizeof(field), why,
				  sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", field + (field[0] == '.'), why);
		return -1;
	}
	return 0;
}

/* A journal record (admin_journal.c) applied to the document being read at
 * start, as the change it records was. */
static int replay_one(json_t *doc, const char *kind, const char *id, json_t *value, char *why,
		      size_t whylen)
{
	const struct kind *k = NULL;

	for (size_t i = 0; i < N_KINDS; i++)
		if (!strcmp(kinds[i].name, kind))
			k = &kinds[i];
	if (!k || !weir_admin_id_ok(id)) {
		snprintf(why, whylen, "%s '%s': not a resource", kind, id);
		return -1;
	}
	if (!value) {
		drop(doc, k, id);
		return 0;
	}
	return store(doc, k, id, json_incref(value)) < 0 ? (snprintf(why, whylen, "out of memory"), -1)
							 : 0;
}

int weir_admin_start(const struct weir_config *c, json_t **res, char *err, size_t errlen)
{
	json_error_t je;
	char *tok = NULL, *d = NULL;
	size_t len;

	*res = NULL;
	if (!c->admin)
		return 0;
	if (c->admin_token_file) {
		if (weir_config_read(c->admin_token_file, &tok, &len, err, errlen) < 0)
			return -1;
		while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r'))
			tok[--len] = 0;
		if (!len || strlen(tok) != len) {
			snprintf(err, errlen, "admin.token_file %s: %s", c->admin_token_file,
				 len ? "holds a NUL byte" : "is empty");
			free(tok);
			return -1;
		}
		weir__admin_digest(tok, len, adm.token);
		OPENSSL_cleanse(tok, len);
		free(tok);
	} else {
		weir__admin_digest(c->admin_token, strlen(c->admin_token), adm.token);
	}
	adm.state = strdup(c->admin_state);
	d = strdup(c->admin_state);
	if (!adm.state || !d || asprintf(&adm.tmp, "%s.tmp", c->admin_state) < 0 ||
	    !(adm.dir = strdup(dirname(d)))) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(d);
	if (access(adm.state, F_OK) == 0) {
		if (!(*res = json_load_file(adm.state, JSON_REJECT_DUPLICATES, &je))) {
			snprintf(err, errlen, "state file %s:%d:%d: %s", adm.state, je.line,
				 je.column, je.text);
			return -1;
		}
		char why[384];
		json_t *seq = json_object_get(*res, "_seq");
		adm.journal.seq = json_is_integer(seq) && json_integer_value(seq) > 0 ?
			(uint64_t)json_integer_value(seq) : 0;
		if (json_is_object(*res))
			json_object_del(*res, "_seq");
		if (check_doc(*res, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "state file %s: %s", adm.state, why);
			json_decref(*res);
			*res = NULL;
			return -1;
		}
		route_ix_build(*res);
		if (weir__journal_open(&adm.journal, adm.state, true, *res, replay_one, err,
				       errlen) < 0) {
			json_decref(*res);
			*res = NULL;
			return -1;
		}
		adm.saved = true;
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "state file %s: %s", adm.state, strerror(errno));
		return -1;
	} else if (weir__journal_open(&adm.journal, adm.state, false, NULL, NULL, err,
				      errlen) < 0) {
		return -1;
	}
	adm.addr = c->admin_listen;
	if (weir_side_listen(&adm.side, &adm.addr, "admin.listen", err, errlen) < 0) {
		json_decref(*res);
		*res = NULL;
		return -1;
	}
	return 0;
}

const json_t *weir_admin_resources(void)
{
	return adm.saved ? adm.doc : NULL;
}

void weir_admin_reseed(const json_t *res)
{
	json_t *d;

	if (adm.side.running && !adm.saved && res && (d = json_deep_copy(res))) {
		json_decref(adm.doc);
		adm.doc = d;
		route_ix_build(adm.doc);
	}
}

const char *weir_admin_state_file(void)
{
	return adm.state;
}

bool weir_admin_changed(const struct weir_config *c)
{
	if (c->admin != (adm.side.fd >= 0))
		return true;
	if (!c->admin)
		return false;
	unsigned char md[32];
	if (c->admin_token)
		weir__admin_digest(c->admin_token, strlen(c->admin_token), md);
	return c->admin_listen.len != adm.addr.len ||
	       memcmp(&c->admin_listen.sa, &adm.addr.sa, adm.addr.len) ||
	       strcmp(c->admin_state, adm.state) ||
	       (c->admin_token && CRYPTO_memcmp(md, adm.token, 32));
}

/* The GET form of a resource (a new reference). */
static json_t *show(const struct kind *k, const char *id, const json_t *v,
		    struct weir_snapshot *s)
{
	json_t *out;

	if (!k->object)
		return json_deep_copy(v);
	if (k->listed)
		out = json_deep_copy(v);
	else if ((out = json_pack("{s:s}", "id", id)))
		json_object_update(out, (json_t *)v);
	if (out && k->secret)
		json_object_del(out, k->secret);
	if (out && k->show)
		k->show(out, id, s);
	return out;
}

static struct weir_snapshot *snapshot_hold(void)
{
	struct weir_snapshot *s;

	weir_metrics_lock();
	s = atomic_load(&weir_server.snap);
	weir_snapshot_hold(s);
	weir_metrics_unlock();
	return s;
}

static void get_collection(int fd, const struct kind *k, const char *query)
{
	json_t *sec = section(adm.doc, k), *items = json_array(), *v;
	size_t off, lim, total = k->listed ? json_array_size(sec) : json_object_size(sec), i = 0;
	const char *field, *id;
	char why[160];
	struct weir_snapshot *s;

	if (weir_admin_page(query, &off, &lim, &field, why, sizeof(why)) < 0) {
		json_decref(items);
		weir__admin_answer(fd, 400, weir__admin_error("bad query", field, why), NULL);
		return;
	}
	s = snapshot_hold();
	if (k->listed) {
		for (i = off; i < total && i - off < lim; i++)
			json_array_append_new(items, show(k, NULL, json_array_get(sec, i), s));
	} else {
		json_object_foreach(sec, id, v) {
			if (i >= off && i - off < lim)
				json_array_append_new(items, k->object ? show(k, id, v, s) :
					json_pack("{s:s, s:O}", "id", id, "settings", v));
			i++;
		}
	}
	weir_snapshot_put(s);
	weir__admin_answer(fd, 200, json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total, "offset",
				  (json_int_t)off, "limit", (json_int_t)lim, "items", items), NULL);
}

/* Makes the body of a PUT (or the result of a PATCH) the stored form of id:
 * an "id" in it must be id (the URL names the resource); a mapping's members
 * do not keep it, a list's always have it; the read-only status goes. */
static int normalize(const struct kind *k, const char *id, json_t *v, char *field, size_t flen,
		     char *why, size_t wlen)
{
	json_t *bid;

	if (!k->object)
		return 0;
	if (!json_is_object(v)) {
		snprintf(field, flen, "%s.%s", k->name, id);
		snprintf(why, wlen, "expected an object");
		return -1;
	}
	if ((bid = json_object_get(v, k->idkey)) &&
	    (!json_is_string(bid) || strcmp(json_string_value(bid), id))) {
		snprintf(field, flen, "%s.%s.%s", k->name, id, k->idkey);
		snprintf(why, wlen, "the body's %s must be the URL's ('%s')", k->idkey, id);
		return -1;
	}
	if (k->status)
		json_object_del(v, k->status);
	json_object_del(v, k->idkey);
	if (k->listed) {	/* the id first, as a reader expects it */
		json_t *rest = json_copy(v);
		json_object_clear(v);
		if (!rest || json_object_set_new(v, k->idkey, json_string(id)) ||
		    json_object_update(v, rest)) {
			json_decref(rest);
			return -1;
		}
		json_decref(rest);
	}
	return 0;
}

/* The last change's cost, as a Server-Timing header line for its answer:
 * "apply" went live, "save" made it durable (microseconds, shown in ms). */
static char timing[96];

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void timing_set(uint64_t t0, uint64_t t1, uint64_t t2)
{
	snprintf(timing, sizeof(timing), "Server-Timing: apply;dur=%.3f, save;dur=%.3f\r\n",
		 (double)(t1 - t0) / 1000, (double)(t2 - t1) / 1000);
}

/* Makes `next` live and durable, or answers why not; with the apply lock
 * held. Returns 0 when it is the new doc (taken), -1 when answered (next
 * freed). */
static int commit(int fd, json_t *next)
{
	char err[512], field[256], reason[384];
	uint64_t t0 = now_us(), t1;
	int rc;

	rc = adm.hooks->apply(next, err, sizeof(err));
	t1 = now_us();
	if (rc < 0) {
		weir_admin_field(err, next, field, sizeof(field), reason, sizeof(reason));
		json_decref(next);
		weir__admin_answer(fd, 400, weir__admin_error("invalid configuration", field, reason), NULL);
		return -1;
	}
	bool renamed;
	if (persist(next, &renamed, err, sizeof(err)) < 0) {
		char back[512];
		/* The previous resources go back live, and into the file when it
		 * holds the new ones already. */
		if (adm.hooks->apply(adm.doc, back, sizeof(back)) < 0)
			fprintf(stderr, "weir: admin: putting the saved resources back: %s\n", back);
		if (renamed && persist(adm.doc, &renamed, back, sizeof(back)) < 0)
			fprintf(stderr, "weir: admin: writing the saved resources back: %s\n", back);
		fprintf(stderr, "weir: admin: change not saved, undone: %s\n", err);
		json_decref(next);
		weir__admin_answer(fd, 500, weir__admin_error("state not saved, change undone", "state", err), NULL);
		return -1;
	}
	json_decref(adm.doc);
	adm.doc = next;
	adm.saved = true;
	timing_set(t0, t1, now_us());
	route_ix_build(adm.doc);
	if (weir__journal_reset(&adm.journal, err, sizeof(err)) < 0)
		fprintf(stderr, "weir: admin: %s (its records are older than the state file: "
			"replay skips them)\n", err);
	return 0;
}

/* The document the route hook takes: the route, and the upstream it names
 * when there is one (a new reference; NULL when out of memory). */
static json_t *route_alone(const json_t *v)
{
	const char *up = json_string_value(json_object_get(v, "upstream"));
	json_t *uc = up ? json_object_get(json_object_get(adm.doc, "upstreams"), up) : NULL;
	json_t *one = json_pack("{s:[O]}", "routes", v);

	if (one && uc && json_object_set_new(one, "upstreams", json_pack("{s:O}", up, uc))) {
		json_decref(one);
		return NULL;
	}
	return one;
}

/* Writes the whole document when the journal has grown as large as it
 * (admin_journal.c), so that replay at start stays short. */
static void compact(void)
{
	size_t n = json_array_size(json_object_get(adm.doc, "routes"));
	char err[512];
	bool renamed;

	if (adm.journal.records < COMPACT_MIN || adm.journal.records < n)
		return;
	if (persist(adm.doc, &renamed, err, sizeof(err)) < 0 ||
	    weir__journal_reset(&adm.journal, err, sizeof(err)) < 0)
		fprintf(stderr, "weir: admin: compacting the journal: %s (it goes on)\n", err);
}

/* A route PUT, PATCH (v, taken) or DELETE (v NULL) of the route cur (NULL:
 * a new one): made live through the route hook, without a full build, and
 * durable through the journal, before the answer. Returns 1 created, 0
 * done, -1 when answered already. */
static int route_commit(int fd, const char *id, json_t *cur, json_t *v)
{
	char err[512], field[256], reason[384];
	const struct kind *k = &kinds[0];
	json_t *one = v ? route_alone(v) : NULL, *old = NULL, *sec = section(adm.doc, k);
	size_t at = 0;
	int rc;

	if ((v && !one) || (cur && !(old = json_deep_copy(cur)))) {
		json_decref(one);
		json_decref(v);
		weir__admin_answer(fd, 500, weir__admin_error("out of memory", "", ""), NULL);
		return -1;
	}
	uint64_t t0 = now_us(), t1;
	/* 1: the route to remove is not live; the document follows */
	if ((rc = adm.hooks->route(id, one, err, sizeof(err))) < 0) {
		weir_admin_field(err, one, field, sizeof(field), reason, sizeof(reason));
		json_decref(one);
		json_decref(v);
		json_decref(old);
		weir__admin_answer(fd, 400, weir__admin_error("invalid configuration", field, reason),
				   NULL);
		return -1;
	}
	json_decref(one);
	rc = 0;
	t1 = now_us();
	if (cur && !v)
		at = place_of(sec, cur);
	json_incref(cur);	/* a DELETE may need it back */
	if (v)
		rc = store(adm.doc, k, id, json_incref(v)) < 0 ? -1 : 0;
	else
		drop(adm.doc, k, id);
	bool renamed = false;
	if (rc == 0 && !adm.saved) {
		if ((rc = persist(adm.doc, &renamed, err, sizeof(err))) == 0)
			adm.saved = true;
	} else if (rc == 0) {
		rc = weir__journal_append(&adm.journal, k->name, id, v, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "out of memory");
	}
	if (rc < 0) {
		/* undone: the route as it was, live and in the document */
		json_t *back = old ? route_alone(old) : NULL;
		char why[512];
		if ((old && !back) || adm.hooks->route(id, back, why, sizeof(why)) < 0)
			fprintf(stderr, "weir: admin: putting route %s back: %s\n", id,
				old && !back ? "out of memory" : why);
		json_decref(back);
		if (!cur)
			drop(adm.doc, k, id);
		else if (v)
			json_object_clear(cur), json_object_update(cur, old);
		else if (!json_array_insert(sec, at, cur))
			json_object_set(route_ix, id, cur);
		if (renamed && persist(adm.doc, &renamed, why, sizeof(why)) < 0)
			fprintf(stderr, "weir: admin: writing the saved resources back: %s\n", why);
		fprintf(stderr, "weir: admin: change not saved, undone: %s\n", err);
		weir__admin_answer(fd, 500, weir__admin_error("state not saved, change undone", "state",
							      err), NULL);
	}
	json_decref(cur);
	json_decref(old);
	json_decref(v);
	if (rc < 0)
		return -1;
	timing_set(t0, t1, now_us());
	compact();
	return !cur;
}

static void handle_one(int fd, const struct kind *k, const char *id, int method,
		       const struct weir_admin_req *q)
{
	char field[256], why[256];
	json_t *cur = find(adm.doc, k, id, NULL), *body = NULL, *next, *v;
	json_error_t je;
	struct weir_snapshot *s;

	if (method == HTTP_GET || method == HTTP_DELETE) {
		if (!cur) {
			snprintf(why, sizeof(why), "'%s' is not in %s", id, k->name);
			weir__admin_answer(fd, 404, weir__admin_error("not found", "id", why), NULL);
		} else if (method == HTTP_GET) {
			s = snapshot_hold();
			weir__admin_answer(fd, 200, show(k, id, cur, s), NULL);
			weir_snapshot_put(s);
		} else if (k->in_use && k->in_use(adm.doc, id, why, sizeof(why))) {
			snprintf(field, sizeof(field), "%s.%s", k->name, id);
			weir__admin_answer(fd, 409, weir__admin_error("in use", field, why), NULL);
		} else if (k == &kinds[0] && adm.hooks->route) {
			if (route_commit(fd, id, cur, NULL) >= 0)
				weir__admin_answer(fd, 204, NULL, timing);
		} else if ((next = json_deep_copy(adm.doc))) {
			drop(next, k, id);
			if (commit(fd, next) == 0)
				weir__admin_answer(fd, 204, NULL, timing);
		} else {
			weir__admin_answer(fd, 500, weir__admin_error("out of memory", "", ""), NULL);
		}
		return;
	}
	if (method == HTTP_PATCH && !cur) {
		snprintf(why, sizeof(why), "'%s' is not in %s (PUT creates)", id, k->name);
		weir__admin_answer(fd, 404, weir__admin_error("not found", "id", why), NULL);
		return;
	}
	if (!(body = json_loadb(q->body ? q->body : "", q->body_len,
				JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je))) {
		char *near = strstr(je.text, " near '");

		/* jansson quotes the token it stopped in, which may be a piece
		 * of a private key */
		if (k->secret && near)
			*near = 0;
		snprintf(why, sizeof(why), "not valid JSON: line %d column %d: %s", je.line,
			 je.column, je.text);
		weir__admin_answer(fd, 400, weir__admin_error("bad JSON", "body", why), NULL);
		return;
	}
	snprintf(field, sizeof(field), "%s.%s", k->name, id);
	if (weir_admin_check_text(body, field, MAX_DEPTH, field, sizeof(field), why,
				  sizeof(why)) < 0) {
		json_decref(body);
		weir__admin_answer(fd, 400, weir__admin_error("bad value", field, why), NULL);
		return;
	}
	if (method == HTTP_PATCH) {
		json_t *bid = json_object_get(body, "id");
		if (k->object && bid && !json_is_null(bid) &&
		    (!json_is_string(bid) || strcmp(json_string_value(bid), id))) {
			json_decref(body);
			snprintf(field, sizeof(field), "%s.%s.id", k->name, id);
			snprintf(why, sizeof(why), "the body's id must be the URL's ('%s')", id);
			weir__admin_answer(fd, 400, weir__admin_error("bad value", field, why), NULL);
			return;
		}
		v = weir_json_merge_patch(cur, body);
		json_decref(body);
		if (!v) {
			weir__admin_answer(fd, 500, weir__admin_error("out of memory", "", ""), NULL);
			return;
		}
	} else {
		v = body;
	}
	if (normalize(k, id, v, field, sizeof(field), why, sizeof(why)) < 0) {
		json_decref(v);
		weir__admin_answer(fd, 400, weir__admin_error("bad value", field, why), NULL);
		return;
	}
	int created;
	if (k == &kinds[0] && adm.hooks->route) {
		if ((created = route_commit(fd, id, cur, v)) < 0)
			return;
		s = snapshot_hold();
		weir__admin_answer(fd, created ? 201 : 200, show(k, id, find(adm.doc, k, id, NULL), s),
				   timing);
		weir_snapshot_put(s);
		return;
	}
	if (!(next = json_deep_copy(adm.doc)) || (created = store(next, k, id, v)) < 0) {
		json_decref(next);
		weir__admin_answer(fd, 500, weir__admin_error("out of memory", "", ""), NULL);
		return;
	}
	if (commit(fd, next) < 0)
		return;
	s = snapshot_hold();
	weir__admin_answer(fd, created ? 201 : 200, show(k, id, find(adm.doc, k, id, NULL), s),
			   timing);
	weir_snapshot_put(s);
}

/* GET /admin/openapi.json: the live snapshot's routes (admin_openapi.c). */
static void get_openapi(int fd)
{
	struct weir_snapshot *s = snapshot_hold();
	const struct weir_route_conf **rc = s ? calloc(s->n_routes + 1, sizeof(*rc)) : NULL;
	json_t *doc = NULL;

	for (size_t i = 0; rc && i < s->n_routes; i++)
		rc[i] = s->routes[i]->conf;
	if (rc)
		doc = weir_openapi_build_routes(s->conf, rc, s->n_routes, s->version);
	free(rc);
	weir_snapshot_put(s);
	if (!doc)
		weir__admin_answer(fd, 500, weir__admin_error("out of memory", "", ""), NULL);
	else
		weir__admin_answer(fd, 200, doc, NULL);
}

/* POST /admin/cache/purge {"zone": Z, "key": K | "prefix": P | "all": true}:
 * removes entries of the proxy-cache zone Z (cache.h: weir_cache_purge),
 * answers {"purged": N}. Nothing of the resources changes. */
static void cache_purge(int fd, const struct weir_admin_req *q)
{
	static const char *const what[] = { "key", "prefix", "all" };
	json_error_t je;
	json_t *body, *v, *sel = NULL;
	const char *zone, *name, *pick = NULL;
	char why[256];
	long n;

	if (!(body = json_loadb(q->body ? q->body : "", q->body_len, JSON_REJECT_DUPLICATES, &je))) {
		snprintf(why, sizeof(why), "not a JSON object: line %d column %d: %s", je.line,
			 je.column, je.text);
		weir__admin_answer(fd, 400, weir__admin_error("bad JSON", "body", why), NULL);
		return;
	}
	name = "body";
	snprintf(why, sizeof(why), "expected an object");
	if (!json_is_object(body))
		goto bad;
	json_object_foreach(body, name, v) {
		size_t i;
		for (i = 0; i < 3 && strcmp(name, what[i]); i++)
			;
		if (i == 3 && strcmp(name, "zone")) {
			snprintf(why, sizeof(why), "unknown field (zone, and one of key, prefix, all)");
			goto bad;
		}
		if (i < 3 && sel) {
			snprintf(why, sizeof(why), "give one of key, prefix, all (also '%s')", pick);
			goto bad;
		}
		if (i < 3)
			sel = v, pick = name;
	}
	name = "zone";
	if (!(zone = json_string_value(json_object_get(body, "zone")))) {
		snprintf(why, sizeof(why), "%s", json_object_get(body, "zone") ?
			 "must be a string" : "required: the proxy-cache zone");
		goto bad;
	}
	if (!sel) {
		name = "key";
		snprintf(why, sizeof(why), "give one of key, prefix, all");
		goto bad;
	}
	name = pick;
	if (!strcmp(pick, "all") ? !json_is_true(sel) :
	    !json_is_string(sel) || !json_string_length(sel)) {
		snprintf(why, sizeof(why), "%s", !strcmp(pick, "all") ? "must be true" :
			 "must be a non-empty string");
		goto bad;
	}
	if (!strcmp(pick, "all"))
		n = weir_cache_purge(zone, NULL, 0, false);
	else
		n = weir_cache_purge(zone, json_string_value(sel), json_string_length(sel),
				     !strcmp(pick, "prefix"));
	if (n < 0) {
		snprintf(why, sizeof(why), "no proxy-cache zone '%.64s'", zone);
		json_decref(body);
		weir__admin_answer(fd, 404, weir__admin_error("not found", "zone", why), NULL);
		return;
	}
	json_decref(body);
	weir__admin_answer(fd, 200, json_pack("{s:I}", "purged", (json_int_t)n), NULL);
	return;
bad:	/* name may be a member of body's */
	v = weir__admin_error("bad request", name, why);
	json_decref(body);
	weir__admin_answer(fd, 400, v, NULL);
}

/* The paths that are not resources: GET openapi.json, POST cache/purge.
 * Returns whether path is one of them (answered). */
static bool special(int fd, int method, const char *path, const struct weir_admin_req *q)
{
	const char *allow;

	if (!strcmp(path, "openapi.json")) {
		if (method == HTTP_GET) {
			get_openapi(fd);
			return true;
		}
		allow = "GET";
	} else if (!strcmp(path, "cache/purge")) {
		if (method == HTTP_POST) {
			cache_purge(fd, q);
			return true;
		}
		allow = "POST";
	} else {
		return false;
	}
	char why[64], hdr[64];
	snprintf(why, sizeof(why), "/admin/%.16s takes %s", path, allow);
	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	weir__admin_answer(fd, 405, weir__admin_error("method not allowed", "method", why), hdr);
	return true;
}

/* Authenticated: routes the request to a collection or a resource. */
static void dispatch(int fd, int method, const struct weir_admin_req *q)
{
	char path[WEIR_ADMIN_MAX_URL], why[256], *query, *kname, *id;
	const struct kind *k = NULL;

	snprintf(path, sizeof(path), "%s", q->url);
	if ((query = strchr(path, '?')))
		*query++ = 0;
	if (strncmp(path, "/admin/", 7)) {
		weir__admin_answer(fd, 404, weir__admin_error("not found", "path", "the API is under /admin/"), NULL);
		return;
	}
	kname = path + 7;
	if (special(fd, method, kname, q))
		return;
	if ((id = strchr(kname, '/')))
		*id++ = 0;
	for (size_t i = 0; i < N_KINDS; i++)
		if (!strcmp(kinds[i].name, kname))
			k = &kinds[i];
	if (!k) {
		snprintf(why, sizeof(why), "no resource '%.64s' (%.150s)", kname, kind_names());
		weir__admin_answer(fd, 404, weir__admin_error("not found", "path", why), NULL);
		return;
	}
	if (!id || !*id) {
		if (method != HTTP_GET)
			weir__admin_answer(fd, 405, weir__admin_error("method not allowed", "method",
						   "a collection takes GET"), "Allow: GET\r\n");
		else
			get_collection(fd, k, query);
		return;
	}
	if (method != HTTP_GET && method != HTTP_PUT && method != HTTP_PATCH &&
	    method != HTTP_DELETE) {
		weir__admin_answer(fd, 405, weir__admin_error("method not allowed", "method",
					   "a resource takes GET, PUT, PATCH, DELETE"),
		       "Allow: GET, PUT, PATCH, DELETE\r\n");
		return;
	}
	if (!weir_admin_id_ok(id)) {
		weir__admin_answer(fd, 400, weir__admin_error("bad id", "id", "use 1 to 64 letters, digits, '.', "
					   "'_' or '-'"), NULL);
		return;
	}
	handle_one(fd, k, id, method, q);
}

/* One connection, one request: read and checked by admin_http.c, then
 * dispatched. */
static void serve(int fd)
{
	struct weir_admin_req *q = calloc(1, sizeof(*q));
	int method;

	if (!q)
		return;
	if ((method = weir__admin_read(fd, adm.token, q)) >= 0) {
		/* Under the apply lock: a SIGHUP may replace doc (weir_admin_reseed)
		 * and reads it (weir_admin_resources). A reload waits for this
		 * request at most, never a worker. */
		adm.hooks->lock();
		dispatch(fd, method, q);
		adm.hooks->unlock();
	}
	weir__admin_req_free(q);
}

int weir_admin_serve(const struct weir_admin_hooks *hooks, const json_t *live)
{
	char err[384];

	if (adm.side.fd < 0)
		return 0;
	adm.hooks = hooks;
	if (!(adm.doc = json_deep_copy(live)) || check_doc(adm.doc, err, sizeof(err)) < 0)
		return -ENOMEM;
	route_ix_build(adm.doc);
	return weir_side_start(&adm.side, serve, "weir-admin");
}

void weir_admin_stop(void)
{
	weir_side_stop(&adm.side);
	json_decref(adm.doc);
	adm.doc = NULL;
	json_decref(route_ix);
	route_ix = NULL;
	route_ix_doc = NULL;
	weir__journal_close(&adm.journal);
	free(adm.state);
	free(adm.tmp);
	free(adm.dir);
	adm.state = adm.tmp = adm.dir = NULL;
}
