/* userspace/sidesrv.c - the thread and listener of weir's side ports
 * (metrics, admin API): see sidesrv.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "sidesrv.h"

int weir_side_listen(struct weir_side *s, const struct weir_addr *a, const char *what,
		     char *err, size_t errlen)
{
	int one = 1;

	s->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s->stop = eventfd(0, EFD_CLOEXEC);
	if (s->fd < 0 || s->stop < 0)
		goto fail;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->sa.ss_family == AF_INET6)
		setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(s->fd, (const struct sockaddr *)&a->sa, a->len) < 0 || listen(s->fd, 64) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s %s: %s", what, a->text, strerror(errno));
	weir_side_stop(s);
	return -1;
}

void weir_side_send(int fd, const char *head, size_t head_n, const char *body, size_t body_n)
{
	struct iovec iov[2] = { { (void *)head, head_n }, { (void *)body, body ? body_n : 0 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	while (iov[0].iov_len || iov[1].iov_len) {
		ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (k <= 0)
			return;
		for (int i = 0; i < 2; i++) {
			size_t d = (size_t)k < iov[i].iov_len ? (size_t)k : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + d;
			iov[i].iov_len -= d;
			k -= (ssize_t)d;
		}
		if (!iov[0].iov_len) {	/* the head is out: send from the body */
			m.msg_iov = &iov[1];
			m.msg_iovlen = 1;
		}
	}
}

static void *side_main(void *arg)
{
	struct weir_side *s = arg;
	struct timeval tv = { WEIR_SIDE_IO_TIMEOUT_S, 0 };
	char sink[4096];

	for (;;) {
		struct pollfd pf[2] = { { s->fd, POLLIN, 0 }, { s->stop, POLLIN, 0 } };
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		s->serve(fd);
		/* The answer has a Content-Length, so the client closes once it
		 * has read it. Until then read whatever it still sends (a body
		 * refused early), boundedly: closing with unread bytes would
		 * reset the connection and could lose the answer. */
		shutdown(fd, SHUT_WR);
		for (int i = 0; i < 4096 && recv(fd, sink, sizeof(sink), 0) > 0; i++)
			;
		close(fd);
	}
	return NULL;
}

int weir_side_start(struct weir_side *s, void (*serve)(int fd), const char *name)
{
	int rc;

	if (s->fd < 0)
		return 0;
	s->serve = serve;
	if ((rc = pthread_create(&s->thread, NULL, side_main, s)))
		return -rc;
	pthread_setname_np(s->thread, name);
	s->running = true;
	return 0;
}

void weir_side_stop(struct weir_side *s)
{
	uint64_t one = 1;

	if (s->running) {
		if (write(s->stop, &one, sizeof(one)) < 0)
			perror("weir: stopping a side listener");
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop >= 0)
		close(s->stop);
	s->fd = s->stop = -1;
}
