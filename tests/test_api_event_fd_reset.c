/* SPDX-License-Identifier: MIT */
/*
 * san_socket_event_fd tells an event loop that the connection is gone even
 * when nothing is outstanding: the peer closes both of its sockets; the
 * event fd made before becomes readable while we sleep in poll() (the
 * progress thread saw the end of the stream), and san_poll then returns
 * -ECONNRESET; an event fd made after the failure is readable at once.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#include <poll.h>

static int peer(void *arg, int ctl)
{
	san_provider *p = san_test_provider();
	san_socket *s1 = san_test_connect_peer(p, ctl);
	san_socket *s2 = san_test_connect_peer(p, ctl);

	(void)arg;
	san_test_sync(ctl, "efd-made");
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_test_sync(ctl, "end");
	san_provider_close(p);
	return 0;
}

/* Waits up to ms for fd to be readable; returns whether it is. */
static int readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n;

	do
		n = poll(&pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	CHECK(n >= 0);
	return n == 1 && (pfd.revents & POLLIN);
}

int main(void)
{
	struct san_completion c;
	san_provider *p;
	san_socket *s1, *s2;
	uint64_t v;
	long long t0;
	int ctl, efd1, efd2, rc;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	p = san_test_provider();
	s1 = san_test_accept_peer(p, ctl);
	s2 = san_test_accept_peer(p, ctl);
	efd1 = san_socket_event_fd(s1);
	CHECK(efd1 >= 0);
	CHECK(!readable(efd1, 0)); /* nothing happened yet */
	san_test_sync(ctl, "efd-made");

	/* Nothing outstanding, nobody polling the socket: only the progress
	 * thread sees the peer go. */
	t0 = xt_now_ms();
	if (!readable(efd1, 10000)) {
		fprintf(stderr, "event fd not signalled %lld ms after the peer closed\n",
			xt_now_ms() - t0);
		exit(1);
	}
	CHECK(read(efd1, &v, sizeof(v)) == (ssize_t)sizeof(v));
	CHECK_RC(san_poll(s1, &c, 1, 0), -ECONNRESET);

	/* The second socket failed too; an event fd made now is readable. */
	t0 = xt_now_ms();
	while ((rc = san_poll(s2, &c, 1, 0)) == 0 && xt_now_ms() - t0 < 10000)
		xt_sleep_ms(1);
	CHECK_RC(rc, -ECONNRESET);
	efd2 = san_socket_event_fd(s2);
	CHECK(efd2 >= 0 && efd2 != efd1);
	CHECK(readable(efd2, 0));

	san_test_sync(ctl, "end");
	CHECK_OK(san_close(s1));
	CHECK_OK(san_close(s2));
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	return 0;
}
