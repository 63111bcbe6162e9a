/* userspace/tls.c - TLS with OpenSSL 3.0 (see tls.h): the contexts a
 * snapshot builds for its TLS listeners and upstreams, the callbacks of a
 * handshake (SNI, ALPN, session tickets, upstream sessions), and the SSL
 * objects of new connections. Their I/O is tls_io.c's.
 *
 * A TLS listener is one SSL_CTX per certificate, all set up alike: its own
 * certificates, then the configuration's top-level ones (loaded once per
 * snapshot by tls_cert.c, shared by reference). The first is the default
 * and the one every connection starts on, so it is also where the session
 * cache and the ticket callback live (OpenSSL keeps both on the SSL's
 * initial context, its session_ctx). The servername
 * callback moves a connection to the context of the certificate whose
 * names (SAN DNS names, else the CN) match the SNI: exactly, or by a
 * "*.example.com" wildcard covering one label (RFC 6125 6.4.3).
 *
 * One set of contexts serves every worker thread: OpenSSL locks its session
 * cache and reference counts internally, and nothing else in a context
 * changes once it is built, so sharing it gives all workers one session
 * cache (a session resumed on another worker is found) at the cost of a
 * lock per cache lookup or insert, taken once per handshake, never per
 * record.
 *
 * Ticket keys are per listener address and outlive snapshots (tls_ticket.c),
 * so tickets issued before a reload still resume after it.
 * */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "core.h"
#include "tls_ticket.h"

/* TLS 1.2: forward secrecy and AEAD only (Mozilla's "intermediate" list
 * without DHE). TLS 1.3 suites are all AEAD; OpenSSL's defaults stand. */
#define DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };	/* enum weir_tls_version */

/* ---- a listener's contexts ------------------------------------------------ */

struct sni_name {
	char *name;			/* lower case; a wildcard's without its "*" */
	size_t len;
	uint32_t ctx;
	bool wild;
};

struct weir_tls_server {
	_Atomic uint32_t refs;
	SSL_CTX **ctxs;			/* one per certificate; [0]: the default */
	size_t n_ctxs;
	struct sni_name *names;
	size_t n_names;
	unsigned char alpn[64];		/* wire format */
	unsigned alpn_len;
	struct weir_ticket_ring *ring;
	uint32_t handshake_ms;
	uint32_t session_timeout_s;
	char *id_header;
	size_t id_header_len;
};

static int server_idx = -1;		/* SSL_CTX ex_data: its weir_tls_server */
static EVP_CIPHER *ticket_cipher;	/* fetched once, not by name per ticket */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void idx_init(void)
{
	server_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

static const char *file_of(const struct weir_config *c)
{
	return c->file ? c->file : "config";
}

static int add_name(struct weir_tls_server *t, const char *name, size_t len, uint32_t ctx)
{
	struct sni_name *n;
	bool wild = len > 2 && name[0] == '*' && name[1] == '.';

	if (!len || (name[0] == '*' && !wild) || memchr(name + wild, '*', len - wild))
		return 0;	/* other wildcard forms are not matched (RFC 6125) */
	if (!(n = realloc(t->names, (t->n_names + 1) * sizeof(*n))))
		return -1;
	t->names = n;
	n = &t->names[t->n_names];
	n->wild = wild;
	n->len = len - wild;
	n->ctx = ctx;
	if (!(n->name = strndup(name + wild, len - wild)))
		return -1;
	for (char *p = n->name; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	t->n_names++;
	return 0;
}

/* The names a certificate serves: its SAN DNS names, or its CN when it has
 * none (RFC 6125 6.4.4). */
static int cert_names(struct weir_tls_server *t, X509 *x, uint32_t ctx)
{
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int found = 0, rc = 0;

	for (int i = 0; san && i < sk_GENERAL_NAME_num(san) && !rc; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);

		if (g->type != GEN_DNS)
			continue;
		found = 1;
		rc = add_name(t, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			      (size_t)ASN1_STRING_length(g->d.dNSName), ctx);
	}
	GENERAL_NAMES_free(san);
	if (!found && !rc) {
		X509_NAME *subj = X509_get_subject_name(x);
		int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		unsigned char *cn = NULL;
		int len = i < 0 ? -1 :
			  ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));

		if (len > 0)
			rc = add_name(t, (const char *)cn, (size_t)len, ctx);
		OPENSSL_free(cn);
	}
	return rc;
}

/* The context for a server name: an exact name first, then a wildcard for
 * the name less its first label; the first certificate listed wins a tie. */
int weir_tls_server_pick(const struct weir_tls_server *t, const char *name)
{
	size_t len = strlen(name);
	const char *dot = memchr(name, '.', len);

	for (size_t i = 0; i < t->n_names; i++)
		if (!t->names[i].wild && t->names[i].len == len &&
		    !strncasecmp(t->names[i].name, name, len))
			return (int)t->names[i].ctx;
	if (!dot || dot == name)
		return -1;
	for (size_t i = 0; i < t->n_names; i++)
		if (t->names[i].wild && t->names[i].len == len - (size_t)(dot - name) &&
		    !strncasecmp(t->names[i].name, dot, t->names[i].len))
			return (int)t->names[i].ctx;
	return -1;
}

static int on_servername(SSL *s, int *al, void *arg)
{
	struct weir_tls_server *t = arg;
	const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	int i = name ? weir_tls_server_pick(t, name) : -1;

	if (i > 0 && !SSL_set_SSL_CTX(s, t->ctxs[i])) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return i < 0 ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_OK;
}

/* Our preference among the client's offers; no offer in common (or none at
 * all) is no ALPN, not a refusal: HTTP/1.1 is served anyway. */
static int on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	struct weir_tls_server *t = arg;
	unsigned char *o;

	if (SSL_select_next_proto(&o, outlen, t->alpn, t->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

static int ticket_init(EVP_MAC_CTX *hctx, const struct weir_ticket_key *k)
{
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						  sizeof(k->hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	return EVP_MAC_CTX_set_params(hctx, p) == 1 ? 0 : -1;
}

/* OpenSSL's ticket key callback: enc 1 seals a new ticket with the current
 * key; enc 0 opens one: 1 with the current key, 2 with the previous one
 * (renew it), 0 unknown (a full handshake), -1 error. */
static int on_ticket(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct weir_tls_server *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), server_idx);
	struct weir_ticket_key k;
	int rc = weir_ticket_key(t->ring, weir_now_ms(), enc ? NULL : name, &k);

	if (rc <= 0)
		return rc;
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    !EVP_EncryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv))
			rc = -1;
	} else if (!EVP_DecryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv)) {
		rc = -1;
	}
	if (rc > 0 && ticket_init(hctx, &k) < 0)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* Whether a file can be opened, with the reason when it cannot: OpenSSL's
 * own message for a missing file is "system lib". */
static int readable_file(const char *path, char *why, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(why, len, "'%s': %s", path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* Settings every context of a listener shares. */
static int ctx_setup(SSL_CTX *ctx, struct weir_tls_server *t, const struct weir_tls_conf *tc,
		     const char *sid, const char **field, char *why, size_t len)
{
	long opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
		    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF;

	if (!tc->session_tickets)
		opts |= SSL_OP_NO_TICKET;
	SSL_CTX_set_options(ctx, opts);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (!SSL_CTX_set_min_proto_version(ctx, versions[tc->min_version]) ||
	    !SSL_CTX_set_max_proto_version(ctx, versions[tc->max_version])) {
		*field = "min_version";
		weir_tls_ssl_why(why, len);
		return -1;
	}
	if (!SSL_CTX_set_cipher_list(ctx, tc->ciphers ? tc->ciphers : DEFAULT_CIPHERS)) {
		*field = "ciphers";
		snprintf(why, len, "'%s': no cipher OpenSSL knows", tc->ciphers ? tc->ciphers : "");
		ERR_clear_error();
		return -1;
	}
	if (tc->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, tc->ciphersuites)) {
		*field = "ciphersuites";
		snprintf(why, len, "'%s': no TLS 1.3 suite OpenSSL knows", tc->ciphersuites);
		ERR_clear_error();
		return -1;
	}
	/* A session resumes only on the listener that made it (its client
	 * certificate settings); OpenSSL takes at most 32 bytes: a digest of
	 * the address, which may be longer. */
	unsigned char sid_ctx[SHA256_DIGEST_LENGTH];
	if (!EVP_Digest(sid, strlen(sid), sid_ctx, NULL, EVP_sha256(), NULL) ||
	    !SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx))) {
		*field = "certificates";
		weir_tls_ssl_why(why, len);
		return -1;
	}
	SSL_CTX_set_timeout(ctx, t->session_timeout_s);
	if (tc->session_cache) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, tc->session_cache);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, t);
	SSL_CTX_set_ex_data(ctx, server_idx, t);
	if (tc->session_tickets)
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
	if (tc->verify_client != WEIR_VERIFY_OFF) {
		STACK_OF(X509_NAME) *names;

		*field = "client_ca";
		if (readable_file(tc->client_ca, why, len) < 0)
			return -1;
		if (!SSL_CTX_load_verify_locations(ctx, tc->client_ca, NULL) ||
		    !(names = SSL_load_client_CA_file(tc->client_ca))) {
			snprintf(why, len, "'%s': no CA certificate in it", tc->client_ca);
			ERR_clear_error();
			return -1;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (tc->verify_client == WEIR_VERIFY_REQUIRE ?
							   SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
				   NULL);
		SSL_CTX_set_verify_depth(ctx, (int)tc->verify_depth);
	}
	return 0;
}

/* Puts a loaded certificate, its chain and key into ctx (which takes its
 * own references). */
static int ctx_cert(SSL_CTX *ctx, const struct weir_tls_cert *lc, const char **field, char *why,
		    size_t len)
{
	char r[160];

	if (SSL_CTX_use_cert_and_key(ctx, lc->x, lc->pk, lc->chain, 1) == 1)
		return 0;
	*field = "cert";
	snprintf(why, len, "not usable (%s)", weir_tls_ssl_why(r, sizeof(r)));
	return -1;
}

/* A listener's contexts: its own certificates first (the first is the
 * default and where every handshake starts), then the top-level ones. The
 * names are listed the top-level certificates' first, so that a name they
 * share with one of the listener's goes to them: what the admin API puts
 * takes effect without editing the file. A top-level certificate with
 * snis serves those names instead of its own. */
struct weir_tls_server *weir_tls_server_new(const struct weir_config *c, size_t index,
					    const struct weir_tls_certs *top, char *err,
					    size_t errlen)
{
	const struct weir_listener_conf *l = &c->listeners[index];
	const struct weir_tls_conf *tc = &l->tls;
	struct weir_tls_server *t = calloc(1, sizeof(*t));
	size_t n_top = top ? top->n : 0, n = tc->n_certs + n_top, k = 0;
	const char *field = "tls";
	char why[400], where[96];
	unsigned line = tc->line;

	pthread_once(&idx_once, idx_init);
	snprintf(where, sizeof(where), "listeners[%zu].tls", index);
	if (!t || server_idx < 0 || !ticket_cipher)
		goto oom;
	t->refs = 1;
	if (!n) {
		field = "certificates";
		snprintf(why, sizeof(why), "required: the listener has none of its own and there "
			 "is no top-level certificate");
		goto fail;
	}
	t->handshake_ms = tc->handshake_timeout_ms;
	t->session_timeout_s = (tc->session_timeout_ms + 999) / 1000;
	for (size_t i = 0; i < tc->n_alpn; i++) {
		size_t len = strlen(tc->alpn[i]);
		if (t->alpn_len + 1 + len > sizeof(t->alpn))
			break;
		t->alpn[t->alpn_len++] = (unsigned char)len;
		memcpy(t->alpn + t->alpn_len, tc->alpn[i], len);
		t->alpn_len += (unsigned)len;
	}
	if (tc->client_id_header) {
		if (!(t->id_header = strdup(tc->client_id_header)))
			goto oom;
		t->id_header_len = strlen(t->id_header);
	}
	if (tc->session_tickets &&
	    !(t->ring = weir_ticket_ring_get(l->addr.text, tc->ticket_key_rotate_ms)))
		goto oom;
	if (!(t->ctxs = calloc(n, sizeof(*t->ctxs))))
		goto oom;
	for (k = 0; k < n; k++) {
		struct weir_tls_cert own = { 0 };
		const struct weir_tls_cert *lc = k < tc->n_certs ? &own : &top->v[k - tc->n_certs];
		int rc;

		if (!(t->ctxs[k] = SSL_CTX_new(TLS_server_method())))
			goto oom;
		t->n_ctxs = k + 1;
		if (ctx_setup(t->ctxs[k], t, tc, l->addr.text, &field, why, sizeof(why)) < 0)
			goto fail;
		if (k < tc->n_certs) {
			const struct weir_tls_cert_conf *cc = &tc->certs[k];

			line = cc->line;
			snprintf(where, sizeof(where), "listeners[%zu].tls.certificates[%zu]", index, k);
			if (weir_tls_cert_load(&own, cc->cert, cc->key, &field, why, sizeof(why)) < 0)
				goto fail;
			if (weir_tls_cert_expired(&own))
				fprintf(stderr, "weir: warning: %s:%u: %s: certificate '%s' has expired\n",
					file_of(c), line, where, cc->cert);
		} else {
			const struct weir_cert_conf *cc = &c->certificates[k - tc->n_certs];

			line = cc->line;
			snprintf(where, sizeof(where), "certificates.%s", cc->id);
		}
		rc = ctx_cert(t->ctxs[k], lc, &field, why, sizeof(why));
		weir_tls_cert_clear(&own);
		if (rc < 0)
			goto fail;
		line = tc->line;
		snprintf(where, sizeof(where), "listeners[%zu].tls", index);
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t at = (uint32_t)((i + tc->n_certs) % n);	/* the top-level ones first */
		const struct weir_cert_conf *cc = at >= tc->n_certs ?
						  &c->certificates[at - tc->n_certs] : NULL;
		int rc = 0;

		for (size_t j = 0; cc && j < cc->n_snis && !rc; j++)
			rc = add_name(t, cc->snis[j], strlen(cc->snis[j]), at);
		if (!cc || !cc->n_snis)
			rc = cert_names(t, SSL_CTX_get0_certificate(t->ctxs[at]), at);
		if (rc < 0)
			goto oom;
	}
	SSL_CTX_set_tlsext_servername_callback(t->ctxs[0], on_servername);
	SSL_CTX_set_tlsext_servername_arg(t->ctxs[0], t);
	return t;
oom:
	snprintf(why, sizeof(why), "out of memory");
	ERR_clear_error();
fail:
	snprintf(err, errlen, "%s:%u: %s.%s: %s", file_of(c), line, where, field, why);
	weir_tls_server_put(t);
	return NULL;
}

void weir_tls_server_hold(struct weir_tls_server *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void weir_tls_server_put(struct weir_tls_server *t)
{
	if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < t->n_ctxs; i++)
		SSL_CTX_free(t->ctxs[i]);
	for (size_t i = 0; i < t->n_names; i++)
		free(t->names[i].name);
	free(t->names);
	free(t->ctxs);
	free(t->id_header);
	free(t);
}

uint32_t weir_tls_server_handshake_ms(const struct weir_tls_server *t)
{
	return t->handshake_ms;
}

const char *weir_tls_server_id_header(const struct weir_tls_server *t, size_t *len)
{
	*len = t->id_header_len;
	return t->id_header;
}

/* ---- an upstream's context ------------------------------------------------- */

/* A node gave a connection a session (or a TLS 1.3 ticket): the pool keeps
 * the latest for its next new connection; we take OpenSSL's reference. */
_Static_assert(offsetof(struct weir_upconn, io) == 0, "SSL_get_app_data is the upconn");

static int on_client_session(SSL *s, SSL_SESSION *sess)
{
	struct weir_upconn *u = SSL_get_app_data(s);
	struct weir_pool *p = &u->w->pools[u->pool];

	SSL_SESSION_free(p->tls_session);
	p->tls_session = sess;
	return 1;
}


SSL_CTX *weir_tls_client_ctx(const struct weir_upstream_tls_conf *tc, char *why, size_t len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		snprintf(why, len, "out of memory");
		ERR_clear_error();
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Many servers close without close_notify; a body that ends at the
	 * close is taken as ended, as it is over plaintext. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
	if (tc->verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (tc->ca && readable_file(tc->ca, why, len) < 0)
			goto fail;
		if (tc->ca ? !SSL_CTX_load_verify_locations(ctx, tc->ca, NULL) :
			     !SSL_CTX_set_default_verify_paths(ctx)) {
			snprintf(why, len, "'%s': no CA certificate in it",
				 tc->ca ? tc->ca : "the system's store");
			goto fail;
		}
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *weir_tls_client_new(const struct weir_config *c, size_t index, char *err,
			     size_t errlen)
{
	const struct weir_upstream_conf *u = &c->upstreams[index];
	const struct weir_upstream_tls_conf *tc = &u->tls;
	char why[300];
	SSL_CTX *ctx = weir_tls_client_ctx(tc, why, sizeof(why));

	if (!ctx) {
		snprintf(err, errlen, "%s:%u: upstreams.%s.tls.ca: %s", file_of(c), tc->line,
			 u->name, why);
		return NULL;
	}
	/* Sessions are kept per pool (node and settings) by the worker that
	 * owns it, not in a cache of OpenSSL's. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_client_session);
	return ctx;
}

void weir_tls_client_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* ---- connections -------------------------------------------------------------- */

int weir_tls_accept(struct weir_io *io, struct weir_tls_server *t)
{
	SSL *s = SSL_new(t->ctxs[0]);

	if (weir_tls_attach(s, io) < 0) {
		SSL_free(s);
		ERR_clear_error();
		return -1;
	}
	SSL_set_accept_state(s);
	io->ssl = s;
	return 0;
}

void weir_tls_session_drop(struct weir_pool *p)
{
	SSL_SESSION_free(p->tls_session);
	p->tls_session = NULL;
}

int weir_tls_client_start(struct weir_io *io, SSL_CTX *ctx,
			  const struct weir_upstream_tls_conf *conf, const struct weir_addr *node)
{
	SSL *s = SSL_new(ctx);
	char ip[INET6_ADDRSTRLEN];
	const void *a = node->sa.ss_family == AF_INET ?
			(const void *)&((const struct sockaddr_in *)&node->sa)->sin_addr :
			(const void *)&((const struct sockaddr_in6 *)&node->sa)->sin6_addr;

	if (weir_tls_attach(s, io) < 0)
		goto fail;
	if (conf->sni && !SSL_set_tlsext_host_name(s, conf->sni))
		goto fail;
	if (conf->verify && conf->sni && !SSL_set1_host(s, conf->sni))
		goto fail;
	if (conf->verify && !conf->sni &&
	    (!inet_ntop(node->sa.ss_family, a, ip, sizeof(ip)) ||
	     !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), ip)))
		goto fail;
	SSL_set_connect_state(s);
	io->ssl = s;
	return 0;
fail:
	SSL_free(s);
	ERR_clear_error();
	return -1;
}

int weir_tls_connect(struct weir_io *io, SSL_CTX *ctx, const struct weir_upstream_tls_conf *conf,
		     const struct weir_addr *node, struct weir_pool *from)
{
	if (weir_tls_client_start(io, ctx, conf, node) < 0)
		return -1;
	if (from && from->tls_session && !SSL_set_session(io->ssl, from->tls_session))
		ERR_clear_error();	/* then a full handshake */
	SSL_set_app_data(io->ssl, io);	/* the upconn: io is its first member */
	return 0;
}

void weir_tls_cleanup(void)
{
	weir_ticket_rings_free();
	weir_tls_io_cleanup();
	EVP_CIPHER_free(ticket_cipher);
	ticket_cipher = NULL;
}
