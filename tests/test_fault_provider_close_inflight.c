/* SPDX-License-Identifier: MIT */
/*
 * Fault: san_provider_close with operations in flight on several sockets.
 *
 * Each round the survivor opens a provider, a listener (left open) and
 * four sockets to the peer. On every socket both sides have large
 * operations in flight: the survivor's 32 MiB RDMA write, RDMA read, send
 * and receive (posted by four threads, one per socket, which then exit),
 * and the peer's 32 MiB RDMA writes into the survivor, an RDMA read of it
 * and a send. Then the main thread calls san_provider_close().
 *
 * Checked: san_provider_close returns promptly (under 5 s); afterwards the
 * survivor's VmPin, fds and heap are back where they were before the
 * provider was opened; the peer's operations all complete with 0 or
 * -ECONNRESET and its san_poll then says -ECONNRESET on every socket; a
 * fresh provider of the survivor then transfers intact data. Three rounds.
 * SAN_TEST_TRANSPORTS
 */
#include "fault.h"

#define NSOCK 4
#define ROUNDS 3
#define LEN (32 * MIB)

static int peer(void *arg, int ctl)
{
	uint8_t *tgt = xt_map(LEN), *in = xt_map(LEN), *out = xt_map(LEN), *sink = xt_map(LEN);

	fault_fill(tgt, LEN, 21);
	fault_fill(out, LEN, 22);
	for (int r = 0; r < ROUNDS; r++) {
		san_provider *p = san_test_provider();
		san_socket *s[NSOCK];
		struct san_rdma_desc dt[NSOCK];
		int cut = 0;

		for (int i = 0; i < NSOCK; i++) {
			struct san_rdma_desc ds;

			s[i] = san_test_connect_peer(p, ctl);
			dt[i] = xt_rreg(s[i], tgt, LEN, SAN_MEM_READWRITE);
			xt_reg(s[i], in, LEN, SAN_MEM_WRITE);
			xt_reg(s[i], out, LEN, SAN_MEM_READ);
			xt_reg(s[i], sink, LEN, SAN_MEM_WRITE);
			xt_send_desc(ctl, &dt[i]);
			ds = xt_recv_desc(ctl);
			xt_recv(s[i], in, LEN, 0, XT_CTX(1));
			CHECK_OK(kill_post(s[i], SAN_OP_RDMA_WRITE, out, LEN, 0, &ds, 0, XT_CTX(2)));
			CHECK_OK(kill_post(s[i], SAN_OP_RDMA_READ, sink, LEN, 0, &ds, 0, XT_CTX(3)));
			CHECK_OK(kill_post(s[i], SAN_OP_SEND, out, LEN, 0, NULL, 0, XT_CTX(4)));
		}
		san_test_sync(ctl, "peer-posted");
		for (int i = 0; i < NSOCK; i++) {
			struct san_completion c[4];

			fault_collect(s[i], c, 4, XT_TIMEOUT_MS);
			for (int k = 0; k < 4; k++) {
				if (c[k].status == -ECONNRESET) {
					cut++;
					continue;
				}
				CHECK_RC(c[k].status, 0);
				CHECK(c[k].bytes == LEN);
				if (c[k].op == SAN_OP_RECV)
					CHECK(fault_verify("peer: the survivor's message", in, LEN, 23));
			}
			fault_expect_reset(s[i], XT_TIMEOUT_MS);
		}
		san_test_ctl_send(ctl, &cut, sizeof(cut));
		/* Registrations go with the provider (san_provider_close). */
		san_provider_close(p);
		san_test_sync(ctl, "peer-round");
	}
	/* The survivor's fresh provider. */
	{
		san_provider *p = san_test_provider();
		san_socket *s = san_test_connect_peer(p, ctl);
		san_handle h = xt_reg(s, in, LEN, SAN_MEM_WRITE);

		xt_recv(s, in, LEN, h, XT_CTX(1));
		xt_expect(s, XT_CTX(1), SAN_OP_RECV, 0, LEN);
		CHECK(fault_verify("peer: message after the close", in, LEN, 24));
		san_test_sync(ctl, "end");
		CHECK_OK(san_deregister_memory(s, h));
		xt_teardown(p, s);
	}
	xt_unmap(tgt, LEN);
	xt_unmap(in, LEN);
	xt_unmap(out, LEN);
	xt_unmap(sink, LEN);
	return 0;
}

struct poster {
	pthread_t t;
	san_socket *s;
	struct san_rdma_desc d;
	uint8_t *out, *sink, *in;
};

static void *post_main(void *arg)
{
	struct poster *q = arg;

	xt_reg(q->s, q->out, LEN, SAN_MEM_READ);
	xt_reg(q->s, q->sink, LEN, SAN_MEM_WRITE);
	xt_reg(q->s, q->in, LEN, SAN_MEM_WRITE);
	xt_recv(q->s, q->in, LEN, 0, XT_CTX(1));
	CHECK_OK(kill_post(q->s, SAN_OP_RDMA_WRITE, q->out, LEN, 0, &q->d, 0, XT_CTX(2)));
	CHECK_OK(kill_post(q->s, SAN_OP_RDMA_READ, q->sink, LEN, 0, &q->d, 0, XT_CTX(3)));
	CHECK_OK(kill_post(q->s, SAN_OP_SEND, q->out, LEN, 0, NULL, 0, XT_CTX(4)));
	return NULL;
}

int main(void)
{
	uint8_t *out, *sink[NSOCK], *in[NSOCK], *tgt;
	struct fault_snap base;
	int ctl;
	pid_t pid;

	san_test_start(100);
	pid = xt_fork(peer, NULL, &ctl);
	out = xt_map(LEN);
	tgt = xt_map(LEN);
	fault_fill(out, LEN, 23);
	for (int i = 0; i < NSOCK; i++) {
		sink[i] = xt_map(LEN);
		in[i] = xt_map(LEN);
	}
	/* Warm-up: what a first provider allocates once per process (stdio,
	 * the allocator's arenas) is not a leak of the next one. */
	san_provider_close(san_test_provider());
	base = fault_snap(NULL);

	for (int r = 0; r < ROUNDS; r++) {
		san_provider *p = san_test_provider();
		struct poster q[NSOCK];
		san_listener *l;
		char addr[256];
		long long t0, ms;
		int cut;

		CHECK_OK(san_listen(p, san_test_listen_addr(addr, sizeof(addr)), &l));
		for (int i = 0; i < NSOCK; i++) {
			struct san_rdma_desc dt;

			q[i].s = san_test_accept_peer(p, ctl);
			q[i].d = xt_recv_desc(ctl);
			q[i].out = out;
			q[i].sink = sink[i];
			q[i].in = in[i];
			/* One target for the peer's writes and reads on all four. */
			dt = xt_rreg(q[i].s, tgt, LEN, SAN_MEM_READWRITE);
			xt_send_desc(ctl, &dt);
		}
		san_test_sync(ctl, "peer-posted");
		for (int i = 0; i < NSOCK; i++)
			CHECK(pthread_create(&q[i].t, NULL, post_main, &q[i]) == 0);
		for (int i = 0; i < NSOCK; i++)
			CHECK(pthread_join(q[i].t, NULL) == 0);

		t0 = xt_now_ms();
		san_provider_close(p);
		ms = xt_now_ms() - t0;
		if (ms > 5000) {
			fprintf(stderr, "san_provider_close took %lld ms\n", ms);
			return 1;
		}
		fault_expect_snap("san_provider_close with operations in flight", NULL, &base);
		CHECK(san_test_ctl_recv(ctl, &cut, sizeof(cut)) == sizeof(cut));
		printf("round %d: san_provider_close took %lld ms; %d of the peer's %d operations "
		       "cut\n",
		       r, ms, cut, 4 * NSOCK);
		san_test_sync(ctl, "peer-round");
	}

	/* A fresh provider works. */
	{
		san_provider *p = san_test_provider();
		san_socket *s = san_test_accept_peer(p, ctl);
		san_handle h = xt_reg(s, out, LEN, SAN_MEM_READ);

		fault_fill(out, LEN, 24);
		xt_send(s, out, LEN, h, XT_CTX(1));
		xt_expect(s, XT_CTX(1), SAN_OP_SEND, 0, LEN);
		san_test_sync(ctl, "end");
		CHECK_OK(san_deregister_memory(s, h));
		xt_teardown(p, s);
	}
	san_test_wait(pid, ctl);
	xt_unmap(out, LEN);
	xt_unmap(tgt, LEN);
	for (int i = 0; i < NSOCK; i++) {
		xt_unmap(sink[i], LEN);
		xt_unmap(in[i], LEN);
	}
	san_test_check_leaks();
	return 0;
}
