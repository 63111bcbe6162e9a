/* userspace/tls.h - TLS with OpenSSL: the server side of a TLS listener
 * (certificates chosen by SNI, ALPN, session cache and rotating ticket
 * keys, client certificates), the client side towards an upstream (tls.c),
 * and the thin I/O layer that puts SSL_read/SSL_write under the same
 * read/write contracts as the plaintext sockets (tls_io.c, under core.h's
 * weir_io_read and weir_io_writev), so that HTTP parsing and proxying do
 * not know which one they run on.
 *
 * Lifetimes: a snapshot owns one struct weir_tls_server per TLS listener
 * and one client SSL_CTX per TLS upstream. A connection holds what it needs
 * past a reload: a client connection a reference on its listener's
 * weir_tls_server (weir_tls_server_hold/put), every SSL object a reference on
 * its SSL_CTX (OpenSSL's own count). So a reload changes the certificates of
 * new connections only, and the old contexts go with their last connection.
 */
#ifndef WEIR_TLS_H
#define WEIR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <jansson.h>

#include "config.h"

struct weir_io;
struct weir_buf;
struct weir_pool;
struct ssl_ctx_st;

struct weir_tls_server;
struct x509_st;
struct evp_pkey_st;
struct stack_st_X509;

/* ---- server certificates (tls_cert.c) ---- */

/* The last error OpenSSL queued, as text in buf, and the thread's queue
 * emptied; returns buf. */
const char *weir_tls_ssl_why(char *buf, size_t len);

/* One certificate as loaded: the leaf, the rest of its chain, its key. */
struct weir_tls_cert {
	struct x509_st *x;
	struct stack_st_X509 *chain;
	struct evp_pkey_st *pk;
};

/* Loads cert (the certificate then its chain) and key, each PEM text (it
 * holds "-----BEGIN" or a line break) or a PEM file's name, and checks that the key
 * is the certificate's. 0, or -1 with the field ("cert" or "key") in
 * *field and the reason in why (a file named, text never quoted). */
int weir_tls_cert_load(struct weir_tls_cert *c, const char *cert, const char *key,
		       const char **field, char *why, size_t len);
void weir_tls_cert_clear(struct weir_tls_cert *c);
bool weir_tls_cert_expired(const struct weir_tls_cert *c);

/* The top-level certificates of a configuration, loaded in its order. */
struct weir_tls_certs {
	struct weir_tls_cert *v;
	size_t n;
};

/* Loads conf->certificates; NULL with "FILE:LINE: certificates.ID.FIELD:
 * REASON" in err. An expired one is a warning on stderr, not an error. */
struct weir_tls_certs *weir_tls_certs_load(const struct weir_config *conf, char *err,
					   size_t errlen);
void weir_tls_certs_free(struct weir_tls_certs *s);

/* What the admin API shows of a certificate (PEM text or file), never its
 * key: {"subject", "issuer", "not_before", "not_after" (ISO 8601, UTC),
 * "sha256" (the fingerprint, AB:CD:...), "names" (its SAN DNS names),
 * "expired"}, or {"error": REASON} when it cannot be read now. A new
 * reference, NULL when out of memory. */
json_t *weir_tls_cert_json(const char *cert);

/* ---- a TLS listener (tls.c) ---- */

/* Builds the contexts of listener `index` of c (c->listeners[index].tls),
 * with its own certificates and the top-level ones (`top`, loaded by
 * weir_tls_certs_load; the contexts take their own references): reads and
 * checks the listener's certificates and keys, the client CA, the cipher
 * lists. Returns NULL with "FILE:LINE: FIELD: REASON" in err; a listener
 * with no certificate at all is one. An expired certificate is a warning
 * on stderr, not an error. */
struct weir_tls_server *weir_tls_server_new(const struct weir_config *c, size_t index,
					    const struct weir_tls_certs *top, char *err,
					    size_t errlen);
void weir_tls_server_hold(struct weir_tls_server *t);
void weir_tls_server_put(struct weir_tls_server *t);
uint32_t weir_tls_server_handshake_ms(const struct weir_tls_server *t);
/* The certificate a server name selects, or -1 for the default: an exact
 * name first (any case), then a "*." wildcard for the name less its first
 * label; among certificates with the same name, a top-level one before the
 * listener's own, then in order. The index counts the listener's own
 * certificates first, then the top-level ones. */
int weir_tls_server_pick(const struct weir_tls_server *t, const char *name);
/* The header the client's identity goes upstream in (lower case), or NULL. */
const char *weir_tls_server_id_header(const struct weir_tls_server *t, size_t *len);

/* The client context of upstream `index` of c; NULL with the error in err. */
struct ssl_ctx_st *weir_tls_client_new(const struct weir_config *c, size_t index,
				       char *err, size_t errlen);
void weir_tls_client_free(struct ssl_ctx_st *ctx);
/* A client context as conf says (verified against conf->ca or the
 * system's store unless verify is off; TLS 1.2 and up; ALPN http/1.1),
 * without a session cache: what an upstream's context is built on, and
 * what the access log's https sinks use alone. NULL with the reason in why
 * (of the field ca). */
struct ssl_ctx_st *weir_tls_client_ctx(const struct weir_upstream_tls_conf *conf, char *why,
				       size_t len);
/* Starts the client side of a handshake on io->fd (io->ssl is set): SNI
 * and the name or address to verify as conf says. -1 when out of memory. */
int weir_tls_client_start(struct weir_io *io, struct ssl_ctx_st *ctx,
			  const struct weir_upstream_tls_conf *conf, const struct weir_addr *node);

/* Starts the server side of a handshake on io->fd: io->ssl is set. -1 when
 * out of memory. */
int weir_tls_accept(struct weir_io *io, struct weir_tls_server *t);
/* Starts the client side towards a node: SNI and the name or address to
 * verify as the upstream's settings say, resuming the session kept in
 * `from` if there is one. io must be the first member of a struct
 * weir_upconn: the sessions the node gives it are kept in its pool for the
 * next connection. -1 when out of memory. */
int weir_tls_connect(struct weir_io *io, struct ssl_ctx_st *ctx,
		     const struct weir_upstream_tls_conf *conf, const struct weir_addr *node,
		     struct weir_pool *from);
/* Frees the session a pool keeps. */
void weir_tls_session_drop(struct weir_pool *p);
/* Moves a handshake on. 1 done, 0 waiting for the socket (io's readable or
 * writable cleared), -1 failed (why says how, for a log or a 502). */
int weir_tls_handshake(struct weir_io *io, const char **why);
/* The verified client certificate's identity after the handshake: its
 * subject CN, else its first SAN DNS name or email; control characters
 * replaced by '?'. A malloc'd string, or NULL when there is none. */
char *weir_tls_peer_id(struct weir_io *io);

/* The I/O layer, with the contracts of weir_io_read and weir_io_writev. */
ssize_t weir_tls_read(struct weir_io *io, struct weir_buf *b);
ssize_t weir_tls_writev(struct weir_io *io, const struct iovec *iov, int n_iov, size_t total);
/* A pooled upstream connection reported readable: true when it is still
 * good (only TLS records with no data, such as session tickets, came). */
bool weir_tls_idle_ok(struct weir_io *io);
/* Sends close_notify (best effort, never blocks) when `clean`; frees
 * io->ssl. */
void weir_tls_close(struct weir_io *io, bool clean);
/* The socket became ready in the direction a TLS read or write waits for
 * (io->tls_rw); makes the waiting side try again. */
void weir_tls_cross(struct weir_io *io, bool readable, bool writable);

/* Frees what the process keeps across snapshots (ticket keys). At exit. */
void weir_tls_cleanup(void);

/* tls_io.c, for tls.c: puts a new SSL on io's socket through weir's BIO
 * (-1 when out of memory), and frees the BIO method at exit. */
struct ssl_st;
int weir_tls_attach(struct ssl_st *s, struct weir_io *io);
void weir_tls_io_cleanup(void);

#endif
