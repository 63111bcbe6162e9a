/* userspace/tls_io.c - the TLS I/O layer under weir_io_read and
 * weir_io_writev (core.h): handshakes, reads and writes of a connection
 * whose io->ssl is set, with the contracts of the plaintext calls, so that
 * HTTP parsing and proxying do not know which one they run on. The
 * contexts the SSL objects come from are tls.c's.
 *
 * OpenSSL reads and writes the socket through weir's own BIO, which knows
 * the edge-triggered contract of struct weir_io: a read shorter than asked
 * drained the socket (the next byte brings a new edge), so a second read in
 * the same SSL call answers "would block" without a system call, and the
 * connection is marked drained once OpenSSL holds no more bytes
 * (SSL_has_pending), which saves the read() that returns EAGAIN after each
 * request, as the plaintext path does. Records are read with read-ahead
 * (set on the contexts), so one read() takes whatever the socket holds.
 * A read is otherwise "drained" only at SSL_ERROR_WANT_READ: decrypted
 * bytes may wait in OpenSSL with nothing left in the socket to raise an
 * edge.
 *
 * Writes run with partial writes and moving buffers: a write that would
 * block is retried later with the same bytes at its front, which is what
 * the callers (http.c, proxy.c) do anyway. Small vectored writes (a
 * response head and its body) are gathered into one record, as writev
 * gathers them into one segment.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "core.h"

#define RECORD_MAX 16384		/* the largest TLS record's plaintext */

/* SSL_get_error reads the thread's error queue, so nothing stale may be in
 * it before an SSL call; peeking is cheaper than clearing 16 slots. */
static inline void err_reset(void)
{
	if (ERR_peek_error())
		ERR_clear_error();
}

/* The socket BIO of every TLS connection, its data the struct weir_io. */
static int bio_read(BIO *b, char *buf, int len)
{
	struct weir_io *io = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (io->tls_drained) {
		BIO_set_retry_read(b);
		return -1;
	}
	do
		n = read(io->fd, buf, (size_t)len);
	while (n < 0 && errno == EINTR);
	if (n > 0 && n < len && !io->rdhup)
		io->tls_drained = 1;
	if (n < 0 && errno == EAGAIN) {
		io->tls_drained = 1;
		BIO_set_retry_read(b);
	}
	return (int)n;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	struct weir_io *io = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = write(io->fd, buf, (size_t)len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		BIO_set_retry_write(b);
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weir socket");

	if (m && BIO_meth_set_read(m, bio_read) && BIO_meth_set_write(m, bio_write) &&
	    BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
		bio_method = m;
	else
		BIO_meth_free(m);
}

int weir_tls_attach(SSL *s, struct weir_io *io)
{
	BIO *b;

	pthread_once(&bio_once, bio_init);
	if (!s || !bio_method || !(b = BIO_new(bio_method)))
		return -1;
	BIO_set_data(b, io);
	SSL_set_bio(s, b, b);
	io->tls_drained = 0;
	return 0;
}

/* After a successful SSL call: the socket is drained when a read found it
 * so and OpenSSL holds no byte that a read would return. */
static void after_read(struct weir_io *io)
{
	if (io->tls_drained && !SSL_has_pending(io->ssl))
		io->readable = 0;
	io->tls_drained = 0;
}

int weir_tls_handshake(struct weir_io *io, const char **why)
{
	SSL *s = io->ssl;
	int rc;

	err_reset();
	io->tls_drained = 0;
	rc = SSL_do_handshake(s);

	if (rc == 1) {
		io->readable = 1;	/* application data may have come with it */
		after_read(io);
		return 1;
	}
	io->tls_drained = 0;
	switch (SSL_get_error(s, rc)) {
	case SSL_ERROR_WANT_READ:
		io->readable = 0;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		io->writable = 0;
		return 0;
	default:
		break;
	}
	long v = SSL_get_verify_result(s);
	unsigned long e = ERR_peek_last_error();
	if (v != X509_V_OK)
		*why = X509_verify_cert_error_string(v);
	else
		*why = e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		       "connection closed";
	ERR_clear_error();
	return -1;
}

char *weir_tls_peer_id(struct weir_io *io)
{
	X509 *x = SSL_get0_peer_certificate(io->ssl);
	unsigned char *u = NULL;
	char *id = NULL;
	int len = -1;

	if (!x || SSL_get_verify_result(io->ssl) != X509_V_OK)
		return NULL;
	X509_NAME *subj = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i >= 0)
		len = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
	if (len <= 0) {
		GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		for (int k = 0; san && k < sk_GENERAL_NAME_num(san) && len <= 0; k++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(san, k);
			if (g->type == GEN_DNS || g->type == GEN_EMAIL) {
				OPENSSL_free(u);
				u = NULL;
				len = ASN1_STRING_to_UTF8(&u, g->d.ia5);
			}
		}
		GENERAL_NAMES_free(san);
	}
	if (len > 0 && (id = strndup((const char *)u, (size_t)len)))
		for (char *p = id; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	OPENSSL_free(u);
	ERR_clear_error();
	return id;
}

/* An SSL_read/SSL_write that did not complete: what the socket must do
 * before it is tried again. Returns -1 to wait, 0 at the peer's
 * close_notify, -2 on an error. */
static ssize_t io_wait(struct weir_io *io, int rc, bool reading)
{
	switch (SSL_get_error(io->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		io->readable = 0;
		if (!reading) {
			io->writable = 0;
			io->tls_rw |= WEIR_TLS_WRITE_ON_READ;
		}
		return -1;
	case SSL_ERROR_WANT_WRITE:
		io->writable = 0;
		if (reading) {
			io->readable = 0;
			io->tls_rw |= WEIR_TLS_READ_ON_WRITE;
		}
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (reading) {
			io->eof = 1;
			return 0;
		}
		return -2;
	default:
		ERR_clear_error();
		return -2;
	}
}

ssize_t weir_tls_read(struct weir_io *io, struct weir_buf *b)
{
	size_t n;
	int rc;

	err_reset();
	io->tls_drained = 0;
	rc = SSL_read_ex(io->ssl, b->data + b->end, b->cap - b->end, &n);

	if (rc == 1) {
		b->end += (uint32_t)n;
		after_read(io);
		return (ssize_t)n;
	}
	io->tls_drained = 0;
	return io_wait(io, rc, true);
}

ssize_t weir_tls_writev(struct weir_io *io, const struct iovec *iov, int n_iov, size_t total)
{
	char gather[RECORD_MAX];
	size_t done = 0, off = 0;
	int i = 0;

	err_reset();
	io->tls_drained = 0;	/* a write may read (a key update): no shortcut */
	while (i < n_iov) {
		const char *p = (const char *)iov[i].iov_base + off;
		size_t len = iov[i].iov_len - off, w;

		if (!len) {
			i++, off = 0;
			continue;
		}
		if (len < RECORD_MAX && i + 1 < n_iov) {
			/* One record for what fits of this piece and the next ones;
			 * a retry gathers the same bytes again. */
			size_t fill = 0, o = off;
			for (int k = i; k < n_iov && fill < RECORD_MAX; k++, o = 0) {
				size_t take = iov[k].iov_len - o;
				if (take > RECORD_MAX - fill)
					take = RECORD_MAX - fill;
				memcpy(gather + fill, (const char *)iov[k].iov_base + o, take);
				fill += take;
			}
			p = gather;
			len = fill;
		}
		int rc = SSL_write_ex(io->ssl, p, len, &w);
		if (rc != 1) {
			ssize_t e = io_wait(io, rc, false);
			return e == -1 ? (ssize_t)done : -2;
		}
		done += w;
		while (w && i < n_iov) {
			size_t left = iov[i].iov_len - off;
			if (w < left) {
				off += w;
				w = 0;
			} else {
				w -= left;
				i++, off = 0;
			}
		}
	}
	if (done < total)
		io->writable = 0;
	return (ssize_t)done;
}

bool weir_tls_idle_ok(struct weir_io *io)
{
	char ch;
	size_t n;
	int rc;

	err_reset();
	io->tls_drained = 0;
	rc = SSL_peek_ex(io->ssl, &ch, 1, &n);
	io->tls_drained = 0;

	if (rc == 1)
		return false;	/* bytes nobody asked for */
	if (SSL_get_error(io->ssl, rc) == SSL_ERROR_WANT_READ) {
		io->readable = 0;
		return true;
	}
	ERR_clear_error();
	return false;
}

void weir_tls_close(struct weir_io *io, bool clean)
{
	if (!io->ssl)
		return;
	/* A peer that closed first gets no close_notify (the write would only
	 * fail); the session is marked shut down all the same, so it stays in
	 * the cache. */
	if (clean && (io->eof || io->rdhup || (SSL_get_shutdown(io->ssl) & SSL_RECEIVED_SHUTDOWN)))
		SSL_set_shutdown(io->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	else if (clean && SSL_is_init_finished(io->ssl))
		SSL_shutdown(io->ssl);
	SSL_free(io->ssl);
	ERR_clear_error();
	io->ssl = NULL;
	io->tls_rw = 0;
}

void weir_tls_cross(struct weir_io *io, bool readable, bool writable)
{
	if (writable && (io->tls_rw & WEIR_TLS_READ_ON_WRITE)) {
		io->tls_rw &= ~WEIR_TLS_READ_ON_WRITE;
		io->readable = 1;
	}
	if (readable && (io->tls_rw & WEIR_TLS_WRITE_ON_READ)) {
		io->tls_rw &= ~WEIR_TLS_WRITE_ON_READ;
		io->writable = 1;
	}
}

void weir_tls_io_cleanup(void)
{
	BIO_meth_free(bio_method);
	bio_method = NULL;
}
