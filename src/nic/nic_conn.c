/* SPDX-License-Identifier: MIT */
/* Connection setup: listening, accepting, connecting, and the HELLO
 * handshake of docs/protocol.md §1. Runs without the engine lock: the
 * socket joins the engine only once the handshake succeeded. */
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

static int recv_hello(int fd, struct san_wire_hello *h, uint64_t deadline)
{
	uint8_t buf[sizeof(*h)];
	int rc = io_full(fd, buf, sizeof(buf), 0, deadline);

	if (rc)
		return rc;
	rc = san__wire_hello_decode(buf, sizeof(buf), h);
	return rc == -EPROTONOSUPPORT ? -EPROTO : rc;
}

/* Runs the handshake on a connected fd and makes it an ep. Closes fd on
 * failure. The connecting side speaks first (protocol.md §1). */
static int handshake(struct uring_nic *nic, int fd, int connecting, struct san_nic_ep **ep_out)
{
	uint64_t deadline = san__now_ns() + (uint64_t)URING_HANDSHAKE_MS * 1000000;
	struct san_wire_hello peer;
	struct uring_ep *ep;
	uint64_t nonce;
	int rc, one = 1;

	rc = san__random64(&nonce);
	if (rc)
		goto out_close;
	if (connecting) {
		rc = send_hello(nic, fd, nonce, deadline);
		if (!rc)
			rc = recv_hello(fd, &peer, deadline);
	} else {
		rc = recv_hello(fd, &peer, deadline);
		if (!rc)
			rc = send_hello(nic, fd, nonce, deadline);
	}
	if (rc)
		goto out_close;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on Unix */
	if (nic->tcp_timeout_ms) { /* a dead path fails the connection (fails harmlessly on Unix) */
		unsigned ms = nic->tcp_timeout_ms;

		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	}
	ep = san__uring_ep_new(nic, fd, nonce, peer.max_msg);
	if (!ep) {
		rc = -ENOMEM;
		goto out_close;
	}
	*ep_out = (struct san_nic_ep *)ep;
	return 0;

out_close:
	close(fd);
	return rc;
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

int san__uring_accept(struct san_nic_listener *ln, int timeout_ms, struct san_nic_ep **ep_out)
{
	struct uring_listener *l = (struct uring_listener *)ln;
	uint64_t deadline = timeout_ms < 0 ? 0 : san__now_ns() + (uint64_t)timeout_ms * 1000000 + 1;
	int fd, rc;

	for (;;) {
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(l->fd, POLLIN, deadline);
		if (rc)
			return rc;
	}
	return handshake(l->nic, fd, 0, ep_out);
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
	close(l->fd);
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
	return handshake(NIC(n), fd, 1, ep_out);
}
