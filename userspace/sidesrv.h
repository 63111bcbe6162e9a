/* userspace/sidesrv.h - a listener served by a thread of its own, one
 * connection at a time, one request per connection: what the metrics and
 * admin listeners share. It keeps the workers' loops untouched and a slow
 * client of these ports away from requests; the price is one client at a
 * time, each cut off after a few seconds of silence.
 */
#ifndef WEIR_SIDESRV_H
#define WEIR_SIDESRV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define WEIR_SIDE_IO_TIMEOUT_S 2	/* per read or write of a client */

struct weir_side {
	int fd, stop;			/* listening socket, eventfd; -1 when closed */
	pthread_t thread;
	bool running;
	void (*serve)(int fd);		/* reads one request from fd and answers it */
};

#define WEIR_SIDE_INIT { .fd = -1, .stop = -1 }

/* Binds a (before the workers start, so that a port in use stops weir
 * early). Returns 0, or -1 with "WHAT ADDR: REASON" in err. */
int weir_side_listen(struct weir_side *s, const struct weir_addr *a, const char *what,
		     char *err, size_t errlen);
/* Starts the thread, called name: each client connection goes to serve(),
 * with I/O timeouts set, and is closed once the client has read the answer.
 * 0 or -errno; 0 when s is not listening. */
int weir_side_start(struct weir_side *s, void (*serve)(int fd), const char *name);
/* Stops the thread (after the client it serves) and closes the listener. */
void weir_side_stop(struct weir_side *s);

/* Writes all of head and then of body (NULL for none) in as few sends as the
 * socket takes: an answer is one segment, not a head and a body. Gives up on
 * the first error or timeout. */
void weir_side_send(int fd, const char *head, size_t head_n, const char *body, size_t body_n);

#endif
