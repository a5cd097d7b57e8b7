/* SPDX-License-Identifier: MIT */
/*
 * R1.2: san_deregister_memory releases a handle. Afterwards the handle is
 * dead (deregistering it again or posting with it: -EINVAL), the range
 * is no longer covered for handle-0 buffers (-EFAULT), other registrations
 * keep working, and the range can be registered again and used.
 * SAN_TEST_TRANSPORTS
 */
#include "xtest.h"

#define LEN (64 * 1024)

static int peer(void *arg, int ctl)
{
	san_provider *p;
	san_socket *s = xt_client(&p, ctl);
	uint8_t *in = xt_map(LEN);
	san_handle h = xt_reg(s, in, LEN, SAN_MEM_WRITE);

	for (int i = 1; i <= 3; i++) {
		memset(in, 0, LEN);
		xt_recv(s, in, LEN, h, XT_CTX(i));
		san_test_sync(ctl, "b-recv-posted");
		xt_expect(s, XT_CTX(i), SAN_OP_RECV, 0, 1000 * i);
		CHECK(san_test_verify(in, 1000 * (size_t)i, 30 + i));
	}
	san_test_sync(ctl, "end");
	CHECK_OK(san_deregister_memory(s, h));
	xt_teardown(p, s);
	xt_unmap(in, LEN);
	return 0;
}

int main(void)
{
	san_provider *p;
	san_socket *s;
	uint8_t *buf, *other;
	san_handle h, h2, h3;
	struct san_buf b;
	int ctl;
	pid_t pid;

	san_test_start(60);
	pid = xt_fork(peer, NULL, &ctl);
	s = xt_server(&p, ctl);
	buf = xt_map(LEN);
	other = xt_map(LEN);

	h = xt_reg(s, buf, LEN, SAN_MEM_READWRITE);
	h2 = xt_reg(s, other, LEN, SAN_MEM_READWRITE);
	san_test_fill(buf, 1000, 31);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, buf, 1000, h, XT_CTX(1));
	xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, 1000);

	CHECK_OK(san_deregister_memory(s, h));
	CHECK_RC(san_deregister_memory(s, h), -EINVAL);

	/* The dead handle is refused at post time, no completion follows. */
	b = xt_buf(buf, 100, h);
	CHECK_RC(san_send(s, &b, 1, XT_CTX(90)), -EINVAL);
	CHECK_RC(san_recv(s, &b, 1, XT_CTX(91)), -EINVAL);
	/* Nothing covers the range any more (a cached registration is not live). */
	b = xt_buf(buf, 100, 0);
	CHECK_RC(san_send(s, &b, 1, XT_CTX(92)), -EFAULT);
	CHECK_RC(san_recv(s, &b, 1, XT_CTX(93)), -EFAULT);
	xt_expect_idle(s);

	/* Other registrations are unaffected. */
	san_test_fill(other, 2000, 32);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, other, 2000, h2, XT_CTX(2));
	xt_expect(s, XT_CTX(2), SAN_OP_SEND, 0, 2000);

	/* The range can be registered and used again. */
	h3 = xt_reg(s, buf, LEN, SAN_MEM_READ);
	san_test_fill(buf, 3000, 33);
	san_test_sync(ctl, "b-recv-posted");
	xt_send(s, buf, 3000, h3, XT_CTX(3));
	xt_expect(s, XT_CTX(3), SAN_OP_SEND, 0, 3000);
	CHECK_OK(san_deregister_memory(s, h3));
	CHECK_OK(san_deregister_memory(s, h2));
	CHECK_RC(san_deregister_memory(s, h2), -EINVAL);

	san_test_sync(ctl, "end");
	xt_expect_idle(s);
	xt_teardown(p, s);
	san_test_wait(pid, ctl);
	san_test_check_leaks();
	xt_unmap(buf, LEN);
	xt_unmap(other, LEN);
	return 0;
}
