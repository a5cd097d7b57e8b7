/* SPDX-License-Identifier: MIT */
/*
 * san_socket_event_fd (issue 6): an eventfd that epoll reports readable when
 * a completion waits, with the "read, then drain" protocol of san.h:
 * quiet with nothing completed; readable after a receive completes while
 * the application sleeps in epoll (the progress thread moved the data);
 * quiet again after read + drain; signalled again by the next completion;
 * the same fd on every call; closed by san_close (the fd leak check).
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *buf = xt_map(4096);
	san_handle h = xt_reg(s, buf, 4096, SAN_MEM_READ);

	for (int i = 0; i < 2; i++) {
		san_test_sync(ctl, "go");
		san_test_fill(buf, 100, 70 + (uint32_t)i);
		xt_send(s, buf, 100, h, XT_CTX(1));
		xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, 100);
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(buf, 4096);
	return 0;
}

/* epoll_wait, restarted on EINTR (io_uring task work may interrupt it). */
static int readable(int ep, int ms)
{
	struct epoll_event ev;
	long long end = xt_now_ms() + ms;
	int n;

	for (;;) {
		n = epoll_wait(ep, &ev, 1, ms);
		if (n >= 0 || errno != EINTR)
			break;
		ms = (int)(end - xt_now_ms());
		if (ms < 0)
			ms = 0;
	}
	if (n < 0)
		fprintf(stderr, "epoll_wait: %s\n", strerror(errno));
	return n;
}

int main(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct san_completion c;
	san_provider *p;
	san_socket *s;
	uint8_t *buf;
	san_handle h;
	eventfd_t v;
	int ctl, fd, ep;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	buf = xt_map(4096);
	h = xt_reg(s, buf, 4096, SAN_MEM_WRITE);
	CHECK_RC(san_socket_event_fd(NULL), -EINVAL);
	fd = san_socket_event_fd(s);
	CHECK(fd >= 0);
	CHECK(san_socket_event_fd(s) == fd);
	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	CHECK(readable(ep, 50) == 0);

	for (int i = 0; i < 2; i++) {
		xt_recv(s, buf, 4096, h, XT_CTX(10 + i));
		CHECK(readable(ep, 0) == 0);
		san_test_sync(ctl, "go");
		CHECK(readable(ep, 5000) == 1); /* asleep in epoll: the NIC's thread moved it */
		CHECK(eventfd_read(fd, &v) == 0 && v >= 1);
		CHECK_RC(san_poll(s, &c, 1, 0), 1);
		CHECK(c.ctx == XT_CTX(10 + i) && c.status == 0 && c.bytes == 100);
		CHECK(xt_same_fill("message", buf, 100, 70 + (uint32_t)i));
		CHECK_RC(san_poll(s, &c, 1, 0), 0);
		CHECK(readable(ep, 20) == 0);
	}

	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0);
	close(ep);
	CHECK_OK(san_close(s));
	san_test_sync(ctl, "end");
	san_provider_close(p);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, 4096);
	return 0;
}
