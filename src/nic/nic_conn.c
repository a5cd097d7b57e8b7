/* SPDX-License-Identifier: MIT */
/* Connection setup: listening, accepting, connecting, and the HELLO
 * handshake of docs/protocol.md §1. Runs without the engine lock: the
 * socket joins the engine only once the handshake succeeded.
 *
 * Accepting never waits on one peer: connections whose HELLO has not fully
 * come yet wait in the listener (up to URING_ACCEPT_PENDING of them, each
 * for URING_HANDSHAKE_MS), and every san_accept call reads what has come
 * on all of them, so a peer that connects and stays silent delays neither
 * the honest peers behind it nor a caller's timeout. */
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Waits for events on fd until deadline (ns; 0 = none). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { fd, events, 0 };
		int ms = -1, rc;

		if (deadline) {
			uint64_t now = san__now_ns();

			if (now >= deadline)
				return -ETIMEDOUT;
			ms = (int)((deadline - now + 999999) / 1000000);
		}
		rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

static int io_full(int fd, void *buf, size_t len, int writing, uint64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = writing ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT)
				    : recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE ? -ECONNRESET : -errno;
		n = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline);
		if (n)
			return (int)n;
	}
	return 0;
}

static int send_hello(struct uring_nic *nic, int fd, uint64_t nonce, uint64_t deadline)
{
	struct san_wire_hello h = {
		.magic = SAN_WIRE_MAGIC,
		.version = SAN_WIRE_VERSION,
		.hdr_size = sizeof(struct san_wire_hdr),
		.max_msg = nic->max_msg,
		.nonce = nonce,
	};
	uint8_t buf[sizeof(h)];

	san__wire_hello_encode(&h, buf);
	return io_full(fd, buf, sizeof(buf), 1, deadline);
}

static int hello_decode(const uint8_t *buf, struct san_wire_hello *h)
{
	int rc = san__wire_hello_decode(buf, sizeof(*h), h);

	return rc == -EPROTONOSUPPORT ? -EPROTO : rc;
}

static uint64_t handshake_deadline(uint64_t now)
{
	return now + (uint64_t)URING_HANDSHAKE_MS * 1000000;
}

/* The end of a handshake, both sides: the connection becomes an ep.
 * Closes fd on failure. */
static int ep_make(struct uring_nic *nic, int fd, uint64_t nonce, const struct san_wire_hello *peer,
		   struct san_nic_ep **ep_out)
{
	struct uring_ep *ep;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on Unix */
	if (nic->tcp_timeout_ms) { /* a dead path fails the connection (fails harmlessly on Unix) */
		unsigned ms = nic->tcp_timeout_ms;

		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	}
	ep = san__uring_ep_new(nic, fd, nonce, peer->max_msg);
	if (!ep) {
		close(fd);
		return -ENOMEM;
	}
	*ep_out = (struct san_nic_ep *)ep;
	return 0;
}

/* The connecting side speaks first (protocol.md §1). Closes fd on
 * failure. */
static int handshake_connect(struct uring_nic *nic, int fd, struct san_nic_ep **ep_out)
{
	uint64_t deadline = handshake_deadline(san__now_ns()), nonce;
	struct san_wire_hello peer;
	uint8_t buf[sizeof(peer)];
	int rc;

	rc = san__random64(&nonce);
	if (!rc)
		rc = send_hello(nic, fd, nonce, deadline);
	if (!rc)
		rc = io_full(fd, buf, sizeof(buf), 0, deadline);
	if (!rc)
		rc = hello_decode(buf, &peer);
	if (rc) {
		close(fd);
		return rc;
	}
	return ep_make(nic, fd, nonce, &peer, ep_out);
}

/* The accepting side: the peer's HELLO has fully come (in p->buf); check
 * it, answer, make the ep. Closes the fd on failure. Our HELLO goes into
 * the empty send buffer of a new connection: it does not wait. */
static int handshake_accept(struct uring_nic *nic, const struct uring_pending *p,
			    struct san_nic_ep **ep_out)
{
	struct san_wire_hello peer;
	uint64_t nonce;
	int rc;

	rc = hello_decode(p->buf, &peer);
	if (!rc)
		rc = san__random64(&nonce);
	if (!rc)
		rc = send_hello(nic, p->fd, nonce, handshake_deadline(san__now_ns()));
	if (rc) {
		close(p->fd);
		return rc;
	}
	return ep_make(nic, p->fd, nonce, &peer, ep_out);
}

int san__uring_listen(struct san_nic *n, const char *addr, struct san_nic_listener **l_out)
{
	struct uring_listener *l;
	struct san_addr a;
	int fd, rc, one = 1;

	rc = san__addr_parse(addr, &a);
	if (rc)
		return rc;
	fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (a.family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &a.u.sa, a.len) || listen(fd, 128)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->nic = NIC(n);
	l->fd = fd;
	pthread_mutex_init(&l->lock, NULL);
	*l_out = (struct san_nic_listener *)l;
	return 0;
}

int san__uring_listener_addr(struct san_nic_listener *ln, char *buf, size_t len)
{
	struct uring_listener *l = (struct uring_listener *)ln;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	return san__addr_format((struct sockaddr *)&ss, sl, buf, len);
}

static void pending_drop(struct uring_listener *l, int i, bool close_fd)
{
	if (close_fd)
		close(l->pend[i].fd);
	l->pend[i] = l->pend[--l->npend];
}

/* Reads what came of a pending HELLO: > 0 once all of it is there, else
 * the last recv()'s result (-1 with errno EAGAIN: more to come). */
static ssize_t pending_read(struct uring_pending *p)
{
	for (;;) {
		ssize_t r = recv(p->fd, p->buf + p->got, sizeof(p->buf) - p->got, MSG_DONTWAIT);

		if (r > 0 && (p->got += (size_t)r) < sizeof(p->buf))
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

/* Lock held, never blocks: takes the new connections in (as many as there
 * is room for), then reads what came on every pending one. Returns 1 with
 * *ep_out when a handshake finished, 0 when none did, or the error of one
 * that failed (the peer's HELLO was bad, it hung up or it was silent for
 * URING_HANDSHAKE_MS), which is then gone. */
static int accept_step(struct uring_listener *l, struct san_nic_ep **ep_out)
{
	uint64_t now = san__now_ns();

	while (l->npend < URING_ACCEPT_PENDING) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		l->pend[l->npend++] = (struct uring_pending){ .fd = fd,
							      .deadline = handshake_deadline(now) };
	}
	for (int i = 0; i < l->npend; i++) {
		struct uring_pending *p = &l->pend[i];
		ssize_t r = pending_read(p);
		int rc;

		if (r > 0) {
			struct uring_pending done = *p;

			pending_drop(l, i, false);
			rc = handshake_accept(l->nic, &done, ep_out);
			return rc ? rc : 1;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (now < p->deadline)
				continue;
			rc = -ETIMEDOUT;
		} else {
			rc = r ? -errno : -ECONNRESET;
		}
		pending_drop(l, i, true);
		return rc;
	}
	return 0;
}

int san__uring_accept(struct san_nic_listener *ln, int timeout_ms, struct san_nic_ep **ep_out)
{
	struct uring_listener *l = (struct uring_listener *)ln;
	uint64_t deadline = timeout_ms < 0 ? 0 : san__now_ns() + (uint64_t)timeout_ms * 1000000 + 1;

	for (;;) {
		struct pollfd pfd[URING_ACCEPT_PENDING + 1];
		uint64_t wake = deadline, now;
		nfds_t n = 0;
		int rc;

		pthread_mutex_lock(&l->lock);
		rc = accept_step(l, ep_out);
		if (!rc) {
			if (l->npend < URING_ACCEPT_PENDING)
				pfd[n++] = (struct pollfd){ l->fd, POLLIN, 0 };
			for (int i = 0; i < l->npend; i++) {
				pfd[n++] = (struct pollfd){ l->pend[i].fd, POLLIN, 0 };
				if (!wake || l->pend[i].deadline < wake)
					wake = l->pend[i].deadline;
			}
		}
		pthread_mutex_unlock(&l->lock);
		if (rc)
			return rc > 0 ? 0 : rc;
		now = san__now_ns();
		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		/* Poll without the lock (another thread may accept meanwhile),
		 * a slice at a time: the fds are a snapshot. */
		if (!wake || wake - now > URING_ACCEPT_SLICE_NS)
			wake = now + URING_ACCEPT_SLICE_NS;
		if (wake > now)
			poll(pfd, n, (int)((wake - now + 999999) / 1000000));
	}
}

void san__uring_listener_close(struct san_nic_listener *ln)
{
	struct uring_listener *l = (struct uring_listener *)ln;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	/* A filesystem Unix socket of ours: remove its path. */
	if (!getsockname(l->fd, (struct sockaddr *)&ss, &sl) && ss.ss_family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		if (sl > offsetof(struct sockaddr_un, sun_path) && un->sun_path[0])
			unlink(un->sun_path);
	}
	for (int i = 0; i < l->npend; i++)
		close(l->pend[i].fd);
	close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int san__uring_connect(struct san_nic *n, const char *addr, struct san_nic_ep **ep_out)
{
	uint64_t deadline = san__now_ns() + (uint64_t)URING_HANDSHAKE_MS * 1000000;
	struct san_addr a;
	int fd, rc, err;
	socklen_t el = sizeof(err);

	rc = san__addr_parse(addr, &a);
	if (rc)
		return rc;
	/* Unix sockets connect at once or never (EAGAIN: backlog full), so
	 * they connect blocking; TCP connects in the background. */
	fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC | (a.family == AF_UNIX ? 0 : SOCK_NONBLOCK), 0);
	if (fd < 0)
		return -errno;
	if (a.family == AF_UNIX) {
		while ((rc = connect(fd, &a.u.sa, a.len)) && errno == EINTR)
			;
		if (rc || fcntl(fd, F_SETFL, O_NONBLOCK)) {
			rc = -errno;
			close(fd);
			return rc;
		}
	} else if (connect(fd, &a.u.sa, a.len)) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			rc = -errno;
			close(fd);
			return rc;
		}
		rc = wait_fd(fd, POLLOUT, deadline);
		if (!rc && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el))
			rc = -errno;
		else if (!rc && err)
			rc = -err;
		if (rc) {
			close(fd);
			return rc;
		}
	}
	return handshake_connect(NIC(n), fd, ep_out);
}
